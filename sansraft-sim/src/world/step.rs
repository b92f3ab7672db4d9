//! Driving one node: feeding it an input, having its actions carried out in order
//! (`carry_out`: storage, network, application, client answers), and checking after every step.

use super::World;
use crate::checker::{Check, NodeView};
use crate::client::Reply;
use crate::event::Event;
use crate::host::Pending;
use crate::kv::Applied;
use crate::network::Route;
use crate::trace::{MsgRecord, SendRecord};
use crate::violation::Failure;
use crate::Micros;
use sansraft::{
    Body, ChunkRead, ChunkRequest, Entry, Input, LogPosition, Message, ProposeError, SnapshotMeta,
};

impl World {
    pub(super) fn on_tick(&mut self, i: usize, gen: u64) {
        if gen != self.hosts[i].clock_gen {
            return;
        }
        let host = &mut self.hosts[i];
        if host.node.as_ref().is_some_and(|n| !n.needs_ticks()) {
            // A quiet node needs no tick: the host skips it, but its clock runs on.
            host.ticks.tick(self.now);
            self.stats.quiet_ticks += 1;
        } else {
            self.step(i, Input::Tick);
        }
        self.detect_failures(i);
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
        self.heard_from(i, msg.from as usize - 1);
        if self.hosts[i].bounce_on_vote.is_some() && matches!(msg.body, Body::Vote(_)) {
            self.note("bounce: the node restarts as the vote request arrives");
            if let Some(side) = self.hosts[i].bounce_on_vote.take() {
                // The restarted node hears the leader's side no more.
                self.network
                    .partition(&crate::fault::Partition::Split { side }, msg.from);
            }
            self.crash(i, false);
            self.restart(i);
        }
        if let Some(node) = self.hosts[i].node.as_ref() {
            self.append_rules.on_deliver(i, node, &msg);
        }
        self.step(i, Input::Message(msg));
    }

    pub(super) fn on_storage_done(&mut self, i: usize, gen: u64) {
        let host = &mut self.hosts[i];
        let checker = &mut self.checker;
        let id = host.id;
        let mut result: Check = Ok(());
        let (ack, timer) = host.disk.on_timer(gen, self.now, &mut |_, w| {
            if result.is_ok() {
                result = checker.on_durable(i, id, w).map_err(Failure::from);
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
                .ack_time(self.now, &mut self.rng_disk, &self.storage);
            self.queue.push(at, Event::PersistAck { node: i, token });
            if let Some(tear) = host.crash_on_durable.take() {
                self.queue.push(self.now, Event::Crash { node: i, tear });
            }
        }
        self.record(result);
    }

    /// A storage acknowledgement reaches node `i`. One of an earlier incarnation's writes must
    /// be ignored (and counted as stale): the new incarnation issued writes of its own.
    pub(super) fn on_persist_ack(&mut self, i: usize, token: sansraft::WriteToken) {
        let stale = token.incarnation != self.hosts[i].incarnation;
        let counted = |w: &World| w.hosts[i].node.as_ref().map(|n| n.counters().stale_ack);
        let before = counted(self);
        self.step(i, Input::Persisted(token));
        if stale {
            self.stats.stale_acks += 1;
            let after = counted(self);
            if after.is_some() && after <= before && self.violation.is_none() {
                let id = self.hosts[i].id;
                self.violate(Failure::new(
                    crate::violation::ViolationKind::Durability,
                    Some(id),
                    format!(
                        "the acknowledgement of write {} of incarnation {} reached incarnation {} \
                         and was not ignored as stale",
                        token.seq, token.incarnation, self.hosts[i].incarnation
                    ),
                ));
            }
        }
    }

    /// Steps node `i` with `input`, then with the inputs its actions call for (application
    /// progress, snapshots taken, chunks read), checking after each step.
    pub(super) fn step(&mut self, i: usize, input: Input) {
        let mut actions = self.actions.take().unwrap_or_default();
        let mut next = self.inputs.take().unwrap_or_default();
        debug_assert!(next.is_empty(), "inputs left over from an earlier step");
        self.checker.set_time(self.now);
        if matches!(input, Input::Tick) && self.hosts[i].is_up() {
            self.hosts[i].ticks.tick(self.now);
        }
        // The event's own input first, then those its actions call for, in order (the first
        // does not pass through the queue).
        let mut input = input;
        while let Some(node) = self.hosts[i].node.as_mut() {
            let before = crate::checker::Before::of(node, &input);
            node.step_into(input, &mut actions);
            self.stats.steps += 1;
            let view = NodeView::of(node);
            if before.role_or_term_changed(&view) {
                self.liveness_view = None;
            }
            let vote = node.vote();
            // With debug assertions `step_into` has just checked them itself (and panicked on
            // a violation): checking again would only double the cost.
            let local = if cfg!(debug_assertions) {
                Ok(())
            } else {
                node.check_invariants()
            };
            let timer = self.timers.after_step(i, view.id, before, view.role, vote);
            self.carry_out(i, &view, &mut actions, &mut next);
            actions.clear();
            if self.violation.is_some() || !self.record(timer) {
                break;
            }
            if let Some(node) = self.hosts[i].node.as_ref() {
                let membership = node.membership();
                if view.role != sansraft::Role::Leader
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
            let led = self.checker.led_last_step(i);
            let r = self.checker.after_step(i, &view, local);
            if !self.record(r) {
                break;
            }
            if view.role == sansraft::Role::Leader && !led {
                self.probe_deposed_leaders(view.term);
            }
            // After the check has seen this step's commit index, and after the `Applied` input
            // queued for what was applied.
            if let Some(meta) = self.maybe_take_snapshot(i) {
                next.push_back(Input::SnapshotTaken(Box::new(meta)));
            }
            if self.liveness.awaiting_leader() {
                let (max_term, _) = self.current_leader();
                self.liveness
                    .observe(self.now, view.role, view.term, max_term);
            }
            match next.pop_front() {
                Some(following) => input = following,
                None => break,
            }
        }
        if !next.is_empty() {
            next.clear();
        }
        self.actions = Some(actions);
        self.inputs = Some(next);
    }

    /// Records a failed check; returns true if it passed.
    pub(super) fn record(&mut self, result: Result<(), impl Into<Failure>>) -> bool {
        match result {
            Ok(()) => true,
            Err(f) => {
                self.violate(f.into());
                false
            }
        }
    }

    /// The application of node `i` takes a snapshot every `snapshot_interval` applied entries.
    fn maybe_take_snapshot(&mut self, i: usize) -> Option<SnapshotMeta> {
        let interval = self.sc.raft.snapshot_interval;
        let host = &mut self.hosts[i];
        let (index, term) = host.applied;
        let node = host.node.as_ref()?;
        // The engine's latest snapshot may be a received one whose install is not yet durable:
        // never write a snapshot over it before it is.
        let (written, _) = host.disk.contents().snapshot();
        let current = written.index.max(node.snapshot().index);
        if interval == 0 || index < current + interval {
            return None;
        }
        let meta = node.snapshot_meta_at(index)?;
        debug_assert_eq!(meta.term, term, "the applied entry's term");
        let data = host.kv.encode();
        let r = self.checker.on_snapshot(i, &meta, &data);
        let disk = self.hosts[i].disk.contents_mut();
        disk.set_snapshot(meta.clone(), data);
        self.stats.snapshots += 1;
        self.record(r).then_some(meta)
    }

    /// The leader's embedder reads a chunk of its latest snapshot.
    pub(super) fn read_chunk(&mut self, i: usize, req: ChunkRequest) -> Option<ChunkRead> {
        let (meta, data) = self.hosts[i].disk.contents().snapshot();
        if (meta.index, meta.term) != (req.index, req.term) {
            // An older snapshot than the disk holds: the engine has moved on; ignore.
            return None;
        }
        self.stats.chunks_read += 1;
        Some(req.answer_from(data))
    }

    /// A follower installs the snapshot it received: its state machine is restored from it.
    pub(super) fn install(
        &mut self,
        i: usize,
        view: &NodeView,
        meta: &SnapshotMeta,
    ) -> (Check, bytes::Bytes) {
        let host = &mut self.hosts[i];
        let (kv, bytes) = match host.partial.install(view.id, view.witness, meta) {
            Ok(restored) => restored,
            Err((f, bytes)) => return (Err(f), bytes),
        };
        host.kv = kv;
        host.applied = (meta.index, meta.term);
        // Proposals at or below the snapshot will never be applied here.
        let later = host.pending.split_off(&(meta.index + 1));
        let dropped = std::mem::replace(&mut host.pending, later);
        for p in dropped.into_values() {
            self.reply(p.client, p.seq, Reply::Overwritten);
        }
        self.stats.installs += 1;
        (
            self.checker
                .on_install(i, view, meta, &bytes)
                .map_err(Failure::from),
            bytes,
        )
    }

    /// Hands a message to the network.
    pub(super) fn send(&mut self, msg: Message) {
        self.stats.messages += 1;
        if let Some(manual) = self.manual.as_mut() {
            manual.in_flight.push_back(msg);
            return;
        }
        let route = self.network.route(msg.from, msg.to, &mut self.rng_net);
        if let Some(t) = self.tracer.as_mut() {
            let deliver_at = match route {
                Route::Lost => vec![],
                Route::Once(d) => vec![self.now + d],
                Route::Twice(a, b) => vec![self.now + a, self.now + b],
            };
            t.current().sends.push(SendRecord {
                from: msg.from,
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

    /// A read may be served: answer it from the key-value store as it is now.
    pub(super) fn on_read_ready(&mut self, i: usize, id: u64, index: sansraft::Index) -> bool {
        if let Some((_, bound)) = self.stale_read.filter(|&(read, _)| read == id) {
            return self.on_stale_read_served(i, id, index, bound);
        }
        let applied = self.hosts[i].applied.0;
        let r = self.checker.on_read_served(id, i, applied);
        if !self.record(r) {
            return false;
        }
        let host = &mut self.hosts[i];
        let Some((client, seq, key)) = host.reads.remove(&id) else {
            return true;
        };
        if index > host.applied.0 {
            let detail = format!(
                "read {id} released at read index {index} with only {} applied",
                host.applied.0
            );
            let id = host.id;
            return self.record(Err(Failure::new(
                crate::violation::ViolationKind::StateMachineSafety,
                Some(id),
                detail,
            )));
        }
        let value = host.kv.read(key);
        self.stats.reads += 1;
        self.reply(
            client,
            seq,
            Reply::Done(crate::linearizability::KvOutput::Read(value)),
        );
        true
    }

    /// A read failed: the client retries, elsewhere if the node knows no leader.
    pub(super) fn on_read_failed(&mut self, i: usize, id: u64, error: sansraft::ReadError) {
        if self.stale_read.is_some_and(|(read, _)| read == id) {
            match crate::stale_read::proof_too_old(&error) {
                true => self.stats.stale_reads.2 += 1,
                false => self.stats.stale_reads.1 += 1,
            }
            return;
        }
        self.checker.on_read_failed(id);
        let Some((client, seq, _)) = self.hosts[i].reads.remove(&id) else {
            return;
        };
        self.stats.reads_failed += 1;
        let settle_us =
            2 * u64::from(self.sc.raft.election_timeout_ticks) * crate::scenario::NOMINAL_TICK_US;
        let member = self.committed_config.1.contains(self.hosts[i].id);
        // The step that failed the read may be the one in which its leader stepped down.
        let leader_now = self.current_leader().1.is_some();
        self.liveness
            .read_failed(error, member, leader_now, self.now, settle_us);
        self.reply(client, seq, Reply::read_failed(error));
    }

    /// The node answered the client proposal of this step.
    pub(super) fn on_proposed(&mut self, i: usize, result: Result<LogPosition, ProposeError>) {
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
            Err(error) => self.reply(client, seq, Reply::refused(error)),
        }
    }

    /// An entry was applied: answer the client whose proposal sat at its index.
    pub(super) fn resolve_proposal(&mut self, i: usize, entry: &Entry, applied: Applied) {
        let Some(p) = self.hosts[i].pending.remove(&entry.index) else {
            return;
        };
        self.reply(p.client, p.seq, p.answer(entry, applied));
    }
}
