//! Driving one node: feeding it an input, carrying out its actions in order (storage, network,
//! application, client answers), and checking after every step.

use super::World;
use crate::checker::{Check, NodeView};
use crate::client::Reply;
use crate::event::Event;
use crate::host::Pending;
use crate::kv::Applied;
use crate::network::Route;
use crate::trace::{MsgRecord, SendRecord};
use crate::Micros;
use raft_core::{Action, Body, Codec, Entry, Input, LogPosition, Message, ProposeError};

/// A small number per message kind, for the trace hash.
pub(crate) fn body_tag(body: &Body) -> u8 {
    match body {
        Body::Append(_) => 1,
        Body::AppendResponse(_) => 2,
        Body::Heartbeat(_) => 3,
        Body::HeartbeatResponse(_) => 4,
        Body::Vote(v) => 5 + u8::from(v.pre_vote),
        Body::VoteResponse(v) => 7 + u8::from(v.pre_vote),
    }
}

impl World {
    pub(super) fn on_tick(&mut self, i: usize, gen: u64) {
        if gen != self.hosts[i].clock_gen {
            return;
        }
        self.step(i, Input::Tick);
        let host = &self.hosts[i];
        if host.is_up() && host.clock_gen == gen {
            self.queue
                .push(self.now + host.clock.tick_us, Event::Tick { node: i, gen });
        }
    }

    pub(super) fn on_deliver(&mut self, msg: Message, sent_at: Micros) {
        let open = self.network.link_open(msg.from, msg.to);
        if let Some(t) = self.tracer.as_mut() {
            t.current().msg = Some(MsgRecord {
                from: msg.from,
                to: msg.to,
                kind: msg.body.kind_name().to_owned(),
                term: msg.term,
                sent_at,
                dropped: !open,
            });
        }
        if !open {
            self.stats.messages_lost += 1;
            return;
        }
        let i = msg.to as usize - 1;
        self.step(i, Input::Message(msg));
    }

    pub(super) fn on_storage_done(&mut self, i: usize, gen: u64) {
        let host = &mut self.hosts[i];
        let checker = &mut self.checker;
        let id = host.id;
        let mut result: Check = Ok(());
        let (ack, timer) = host.disk.on_timer(gen, self.now, &mut |w| {
            if result.is_ok() {
                result = checker.on_durable(i, id, w);
            }
        });
        if let Some(timer) = timer {
            self.queue.push(
                timer.at,
                Event::StorageDone {
                    node: i,
                    gen: timer.gen,
                },
            );
        }
        if let Some(token) = ack {
            let at = host
                .disk
                .ack_time(self.now, &mut self.rng_disk, &self.sc.storage);
            self.queue.push(at, Event::PersistAck { node: i, token });
        }
        self.record(result);
    }

    /// Steps node `i` with `input`, then with the application-progress inputs its actions call
    /// for, checking after each step.
    pub(super) fn step(&mut self, i: usize, input: Input) {
        let mut actions = std::mem::take(&mut self.actions);
        let mut next = Some(input);
        while let Some(input) = next.take() {
            let Some(node) = self.hosts[i].node.as_mut() else {
                break;
            };
            node.step_into(input, &mut actions);
            self.stats.steps += 1;
            let view = NodeView::of(node);
            let local = node.check_invariants();
            next = self.carry_out(i, &view, &mut actions);
            actions.clear();
            if self.violation.is_some() {
                break;
            }
            if let Some(node) = self.hosts[i].node.as_ref() {
                let membership = node.membership();
                if view.role != raft_core::Role::Leader
                    && self.checker.led_last_step(i)
                    && !membership.is_voter(view.id)
                {
                    self.stats.removed_leaders += 1;
                }
                let r =
                    self.checker
                        .check_membership(i, &view, membership, node.membership_index());
                if !self.record(r) {
                    break;
                }
            }
            let r = self.checker.after_step(i, &view, local);
            if !self.record(r) {
                break;
            }
            if self.liveness.awaiting_leader() {
                let (max_term, _) = self.current_leader();
                self.liveness
                    .observe(self.now, view.role, view.term, max_term);
            }
        }
        self.actions = actions;
    }

    /// Records a failed check; returns true if it passed.
    pub(super) fn record(&mut self, result: Check) -> bool {
        match result {
            Ok(()) => true,
            Err(f) => {
                self.violate(f);
                false
            }
        }
    }

    /// Carries out one step's actions in order. Returns the `Applied` input to feed back.
    fn carry_out(&mut self, i: usize, view: &NodeView, actions: &mut Vec<Action>) -> Option<Input> {
        let mut applied_to = None;
        for action in actions.drain(..) {
            let ok = match action {
                Action::Persist(write) => {
                    let r = self.checker.on_write(i, view, &write);
                    self.stats.writes += 1;
                    let host = &mut self.hosts[i];
                    if let Some(tear) = host.crash_on_write.take() {
                        // Before the write can be durable: storage latency is at least 1 µs.
                        self.queue.push(self.now, Event::Crash { node: i, tear });
                    }
                    let timer =
                        host.disk
                            .submit(write, self.now, &mut self.rng_disk, &self.sc.storage);
                    if let Some(timer) = timer {
                        self.queue.push(
                            timer.at,
                            Event::StorageDone {
                                node: i,
                                gen: timer.gen,
                            },
                        );
                    }
                    self.record(r)
                }
                Action::Send(msg) => {
                    let r = self.checker.on_send(i, view, &msg);
                    self.send(msg);
                    self.record(r)
                }
                Action::Apply(entries) => {
                    let mut ok = true;
                    for entry in &entries {
                        let r = self.checker.on_apply(i, view, entry);
                        ok = self.record(r);
                        if !ok {
                            break;
                        }
                        if entry.kind == raft_core::EntryKind::Membership
                            && entry.index > self.committed_config.0
                        {
                            if let Ok(m) = <raft_core::Membership as Codec>::decode(&entry.data) {
                                self.committed_config = (entry.index, m);
                            }
                        }
                        let applied = self.hosts[i].kv.apply(entry);
                        self.resolve_proposal(i, entry, applied);
                    }
                    applied_to = entries.last().map(|e| e.index);
                    ok
                }
                Action::Proposed(result) => {
                    self.on_proposed(i, result);
                    true
                }
                Action::MembershipProposed(result) => {
                    self.on_membership_proposed(result);
                    true
                }
                Action::LearnerCaughtUp {
                    learner,
                    match_index,
                } => {
                    self.note(&format!(
                        "learner n{learner} caught up (match {match_index})"
                    ));
                    true
                }
            };
            if !ok {
                return None;
            }
        }
        applied_to.map(Input::Applied)
    }

    /// Hands a message to the network.
    fn send(&mut self, msg: Message) {
        self.stats.messages += 1;
        let route = self.network.route(msg.from, msg.to, &mut self.rng_net);
        if let Some(t) = self.tracer.as_mut() {
            let deliver_at = match route {
                Route::Lost => vec![],
                Route::Once(d) => vec![self.now + d],
                Route::Twice(a, b) => vec![self.now + a, self.now + b],
            };
            t.current().sends.push(SendRecord {
                to: msg.to,
                kind: msg.body.kind_name().to_owned(),
                term: msg.term,
                deliver_at,
            });
        }
        let sent_at = self.now;
        match route {
            Route::Lost => self.stats.messages_lost += 1,
            Route::Once(d) => self
                .queue
                .push(sent_at + d, Event::Deliver { msg, sent_at }),
            Route::Twice(a, b) => {
                self.queue.push(
                    sent_at + a,
                    Event::Deliver {
                        msg: msg.clone(),
                        sent_at,
                    },
                );
                self.queue
                    .push(sent_at + b, Event::Deliver { msg, sent_at });
            }
        }
    }

    /// The node answered the client proposal of this step.
    fn on_proposed(&mut self, i: usize, result: Result<LogPosition, ProposeError>) {
        let Some((client, seq)) = self.proposing else {
            return;
        };
        match result {
            Ok(pos) => {
                let pending = Pending {
                    client,
                    seq,
                    term: pos.term,
                };
                if let Some(old) = self.hosts[i].pending.insert(pos.index, pending) {
                    self.reply(old.client, old.seq, Reply::Overwritten);
                }
            }
            Err(ProposeError::NotLeader { leader }) => {
                self.reply(client, seq, Reply::NotLeader(leader));
            }
            Err(ProposeError::UncommittedLimit { .. }) => self.reply(client, seq, Reply::Busy),
        }
    }

    /// An entry was applied: answer the client whose proposal sat at its index.
    fn resolve_proposal(&mut self, i: usize, entry: &Entry, applied: Applied) {
        let Some(p) = self.hosts[i].pending.remove(&entry.index) else {
            return;
        };
        let reply = match applied {
            Applied::Fresh(out) | Applied::Duplicate(out) if entry.term == p.term => {
                Reply::Done(out)
            }
            _ => Reply::Overwritten,
        };
        self.reply(p.client, p.seq, reply);
    }
}
