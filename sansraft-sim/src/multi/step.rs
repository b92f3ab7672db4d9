//! Driving one host: feeding it an input, carrying out its actions in order (group actions,
//! the host write, the batches), and checking every group the step touched with that group's
//! checker; then the clients' side.

use super::queue::Ev;
use super::world::MultiWorld;
use crate::checker::NodeView;
use crate::client::{Attempt, ClientStep, Reply};
use crate::fault::Partition;
use crate::host::Pending;
use crate::kv::Command;
use crate::linearizability::{KvOp, KvOutput};
use crate::network::Route;
use crate::scenario::ReadMode;
use crate::violation::{Failure, ViolationKind};
use bytes::Bytes;
use sansraft::{
    Action, Body, Codec, Entries, EntryKind, Input, LogPosition, Membership, NodeId, ProposeError,
    ReadError, Role,
};
use sansraft_multi::{Batch, GroupId, HostAction, HostInput, HostWrite};

impl MultiWorld {
    pub(super) fn on_tick(&mut self, i: usize, gen: u64) {
        if gen != self.nodes[i].clock_gen {
            return;
        }
        self.stats.host_ticks += 1;
        self.step_host(i, HostInput::Tick);
        let node = &self.nodes[i];
        if node.is_up() && node.clock_gen == gen {
            let at = self.now + node.clock.tick_us;
            self.queue.push(at, Ev::Tick { node: i, gen });
        }
    }

    pub(super) fn on_deliver(&mut self, from: usize, to: usize, bytes: &Bytes) {
        if !self.network.link_open(id_of(from), id_of(to)) {
            self.stats.batches_lost += 1;
            return;
        }
        // As a network embedder would: the entries' payloads are slices of the frame.
        match Batch::decode_shared(bytes) {
            Ok(batch) => {
                let votes =
                    (batch.envelopes.iter()).any(|e| matches!(e.message.body, Body::Vote(_)));
                if votes && self.nodes[to].bounce_on_vote.is_some() {
                    if let Some(side) = self.nodes[to].bounce_on_vote.take() {
                        // The restarted node hears the leader's side no more.
                        let split = Partition::Split { side };
                        self.network.partition(&split, id_of(from));
                    }
                    self.crash(to, false);
                    self.restart(to);
                }
                self.step_host(to, HostInput::Batch(batch))
            }
            Err(e) => self.violate(Failure::new(
                ViolationKind::Panic,
                Some(id_of(to)),
                format!("a batch from n{} does not decode: {e:?}", id_of(from)),
            )),
        }
    }

    pub(super) fn on_disk_done(&mut self, i: usize, gen: u64) {
        let node = &mut self.nodes[i];
        let checkers = &mut self.checkers;
        let id = node.id;
        let mut result: Result<(), Failure> = Ok(());
        let (ack, timer) = node.disk.on_timer(gen, self.now, &mut |group, w| {
            if result.is_ok() {
                result = checkers[group as usize - 1]
                    .on_durable(i, id, w)
                    .map_err(Failure::from);
            }
        });
        self.arm_disk(i, timer);
        let node = &mut self.nodes[i];
        if let Some(token) = ack {
            let at = node
                .disk
                .ack_time(self.now, &mut self.rng_disk, &self.storage);
            self.queue.push(at, Ev::Ack { node: i, token });
            if let Some(tear) = node.crash_on_durable.take() {
                self.queue.push(self.now, Ev::Crash { node: i, tear });
            }
        }
        self.record(result);
    }

    /// Arms node `i`'s disk completion timer, if its disk asked for one.
    pub(super) fn arm_disk(&mut self, i: usize, timer: Option<crate::disk::Timer>) {
        if let Some(t) = timer {
            let ev = Ev::DiskDone {
                node: i,
                gen: t.gen,
            };
            self.queue.push(t.at, ev);
        }
    }

    /// Steps node `i`'s host with `input`, then with the inputs its actions call for
    /// (application progress), checking every group each step touched.
    pub(super) fn step_host(&mut self, i: usize, input: HostInput) {
        if matches!(input, HostInput::Tick) && self.nodes[i].is_up() {
            self.stale_clock_ticked(i);
        }
        let mut input = Some(input);
        while let Some(current) = input.take() {
            let Some(host) = self.nodes[i].host.as_mut() else {
                return;
            };
            let mut touched = std::mem::take(&mut self.touched);
            touched.clear();
            match &current {
                HostInput::Tick => touched.extend(
                    (host.groups())
                        .filter(|(_, n)| n.needs_ticks())
                        .map(|(g, _)| g),
                ),
                HostInput::Batch(batch) => {
                    touched.extend(batch.envelopes.iter().map(|e| e.group));
                }
                HostInput::Persisted(token) if token.incarnation == self.nodes[i].incarnation => {
                    let in_flight = &mut self.nodes[i].in_flight;
                    while in_flight.front().is_some_and(|(seq, _)| *seq <= token.seq) {
                        if let Some((_, groups)) = in_flight.pop_front() {
                            touched.extend(groups);
                        }
                    }
                }
                HostInput::Group { group, .. } => touched.push(*group),
                HostInput::Groups(inputs) => touched.extend(inputs.iter().map(|(g, _)| *g)),
                _ => {}
            }
            let Some(host) = self.nodes[i].host.as_mut() else {
                return;
            };
            let reports = host.counters().peers_unreachable;
            self.stats.host_steps += 1;
            let actions = match host.step(current) {
                Ok(actions) => actions,
                Err(e) => {
                    let id = self.nodes[i].id;
                    let detail = format!("the host refused an input: {e}");
                    return self.violate(Failure::new(ViolationKind::Panic, Some(id), detail));
                }
            };
            if host.counters().peers_unreachable != reports {
                // The detector fed every group of the silent peer.
                touched.extend(host.groups().map(|(g, _)| g));
            }
            let mut follow: Vec<(GroupId, Input)> = Vec::new();
            let mut unknown = Vec::new();
            for action in actions {
                match action {
                    HostAction::Group { group, action } => {
                        touched.push(group);
                        self.group_action(i, group, action, &mut follow);
                    }
                    HostAction::Persist(write) => self.persist(i, write, &mut touched),
                    HostAction::Send(batch) => self.send(i, batch, &mut touched),
                    HostAction::UnknownGroup { group, from } => unknown.push((group, from)),
                }
                if self.violation.is_some() {
                    return;
                }
            }
            touched.sort_unstable();
            touched.dedup();
            // Only a group that applied entries in this step can have a snapshot come due (an
            // install leaves it at its snapshot): the rest need no look.
            let mut applied: Vec<GroupId> = (follow.iter())
                .filter(|(_, input)| matches!(input, Input::Applied(_)))
                .map(|(g, _)| *g)
                .collect();
            applied.sort_unstable();
            for &group in &touched {
                if !self.check_group(i, group) {
                    break;
                }
                // After the check has seen this step's commit index, and after the `Applied`
                // input queued for what was applied.
                if applied.binary_search(&group).is_ok() {
                    if let Some(taken) = self.maybe_take_snapshot(i, group) {
                        follow.push((group, taken));
                    }
                }
            }
            self.touched = touched;
            for (group, from) in unknown {
                if self.violation.is_none() {
                    self.adopt(i, group, from);
                }
            }
            if self.violation.is_some() {
                return;
            }
            if !follow.is_empty() {
                input = Some(HostInput::Groups(follow));
            }
        }
    }

    /// The replica of `group` on node `i` as the checker sees it now.
    fn view(&self, i: usize, group: GroupId) -> Option<NodeView> {
        let host = self.nodes[i].host.as_ref()?;
        host.group(group).map(NodeView::of)
    }

    /// After a host step: the group's replica on node `i` against every rule.
    fn check_group(&mut self, i: usize, group: GroupId) -> bool {
        let Some(node) = self.nodes[i].host.as_ref().and_then(|h| h.group(group)) else {
            return true;
        };
        self.stats.group_checks += 1;
        let view = NodeView::of(node);
        let local = if cfg!(debug_assertions) {
            Ok(())
        } else {
            node.check_invariants()
        };
        let checker = &mut self.checkers[group as usize - 1];
        checker.set_time(self.now);
        let led = checker.led_last_step(i);
        let r = checker
            .check_membership(i, &view, node.membership(), node.membership_index())
            .and_then(|()| checker.after_step(i, &view, local))
            .map_err(|b| in_group(group, b.into()));
        if !self.record(r) {
            return false;
        }
        if view.role == Role::Leader {
            if self.now >= self.sc.fault_end_us {
                self.led_since_heal[group as usize - 1] = true;
            }
            self.failover_leader_seen(group, view.term);
        }
        if view.role == Role::Leader && !led && self.sc.reads != ReadMode::Log {
            self.probe_deposed_leaders(group, view.term);
        }
        true
    }

    /// The instant a group's new leader is seen, every node still leading an older term of it
    /// is asked for a read (only a lease that does not hold could serve it).
    fn probe_deposed_leaders(&mut self, group: GroupId, newer: sansraft::Term) {
        for (j, node) in self.nodes.iter().enumerate() {
            let deposed = (node.host.as_ref())
                .and_then(|h| h.group(group))
                .is_some_and(|n| n.role() == Role::Leader && n.term() < newer);
            if deposed {
                self.queue.push(self.now, Ev::ProbeRead { node: j, group });
            }
        }
    }

    pub(super) fn on_probe_read(&mut self, i: usize, group: GroupId) {
        // The deposed leader's replica may have been deleted since the probe was scheduled.
        let hosted = (self.nodes[i].host.as_ref()).is_some_and(|h| h.group(group).is_some());
        if !hosted {
            return;
        }
        let id = self.next_read_id;
        self.next_read_id += 1;
        self.stats.probe_reads += 1;
        let now = self.now;
        self.ck(group).on_read_issued(id, i, now);
        let input = Input::ReadIndex(id);
        self.step_host(i, HostInput::Group { group, input });
    }

    /// A host write: each group write checked as issued, then queued on the disk.
    fn persist(&mut self, i: usize, write: HostWrite, touched: &mut Vec<GroupId>) {
        let mut groups = Vec::with_capacity(write.writes.len());
        let mut installs = Vec::new();
        for (group, w) in &write.writes {
            touched.push(*group);
            groups.push(*group);
            let Some(view) = self.view(i, *group) else {
                continue;
            };
            let r = self.ck(*group).on_write(i, &view, w);
            if !self.record(r.map_err(|b| in_group(*group, b.into()))) {
                return;
            }
            if let Some(install) = &w.install {
                match self.install(i, *group, &view, &install.meta) {
                    Some(bytes) => installs.push((*group, bytes)),
                    None => return,
                }
            }
        }
        groups.sort_unstable();
        groups.dedup();
        let node = &mut self.nodes[i];
        node.in_flight.push_back((write.token.seq, groups));
        if let Some(tear) = node.crash_on_write.take() {
            self.queue.push(self.now, Ev::Crash { node: i, tear });
        }
        let timer = (node.disk).submit(
            (write, installs),
            self.now,
            &mut self.rng_disk,
            &self.storage,
        );
        self.arm_disk(i, timer);
    }

    /// A batch: each message checked as sent, then the encoded batch handed to the network.
    fn send(&mut self, i: usize, batch: Batch, touched: &mut Vec<GroupId>) {
        for envelope in &batch.envelopes {
            let group = envelope.group;
            touched.push(group);
            let Some(view) = self.view(i, group) else {
                continue;
            };
            let r = self.ck(group).on_send(i, &view, &envelope.message);
            if !self.record(r.map_err(|b| in_group(group, b.into()))) {
                return;
            }
        }
        let to = batch.to as usize - 1;
        let bytes = Bytes::from(batch.encode());
        match self.network.route(id_of(i), batch.to, &mut self.rng_net) {
            Route::Lost => self.stats.batches_lost += 1,
            Route::Once(d) => {
                let ev = Ev::Deliver { from: i, to, bytes };
                self.queue.push(self.now + d, ev);
            }
            Route::Twice(a, b) => {
                let first = Ev::Deliver {
                    from: i,
                    to,
                    bytes: bytes.clone(),
                };
                self.queue.push(self.now + a, first);
                self.queue
                    .push(self.now + b, Ev::Deliver { from: i, to, bytes });
            }
        }
    }

    /// One group action other than a write or a message.
    fn group_action(
        &mut self,
        i: usize,
        group: GroupId,
        action: Action,
        follow: &mut Vec<(GroupId, Input)>,
    ) {
        match action {
            Action::Apply(entries) => {
                if let Some(last) = self.apply(i, group, entries) {
                    follow.push((group, Input::Applied(last)));
                }
            }
            Action::Proposed(result) => self.on_proposed(i, group, result),
            Action::ReadReady { id, index } if self.stale.asked(id) => {
                self.on_stale_read_served(i, group, index)
            }
            Action::ReadFailed { id, error } if self.stale.asked(id) => {
                self.on_stale_read_refused(&error)
            }
            Action::ReadReady { id, index } => self.on_read_ready(i, group, id, index),
            Action::ReadFailed { id, error } => self.on_read_failed(i, group, id, error),
            Action::MembershipProposed(result) => self.on_membership_proposed(group, result),
            Action::Transfer(outcome) => self.on_transfer_outcome(outcome),
            Action::Campaigned(Ok(_)) => self.stats.campaigns += 1,
            Action::CompactLog(upto) => self.compact_log(i, group, upto),
            Action::ReadSnapshotChunk(req) => {
                if let Some(read) = self.read_chunk(i, group, req) {
                    follow.push((group, read));
                }
            }
            Action::WriteSnapshotChunk(w) => self.write_chunk(i, group, &w),
            Action::DropPartialSnapshot { index, term } => self.drop_partial(i, group, index, term),
            _ => {}
        }
    }

    fn apply(&mut self, i: usize, group: GroupId, entries: Entries) -> Option<sansraft::Index> {
        let view = self.view(i, group)?;
        let gi = group as usize - 1;
        for entry in &entries {
            let r = self.ck(group).on_apply(i, &view, entry);
            if !self.record(r.map_err(|b| in_group(group, b.into()))) {
                return None;
            }
            let config = &mut self.committed_configs[gi];
            if entry.kind == EntryKind::Membership && entry.index > config.0 {
                if let Ok(m) = <Membership as Codec>::decode(&entry.data) {
                    *config = (entry.index, m);
                    self.retire_removed(group);
                }
            }
            let node = &mut self.nodes[i];
            let applied = node.kvs[gi].apply(entry);
            node.applied[gi] = entry.index;
            if let Some(p) = node.pending.remove(&(group, entry.index)) {
                self.reply(p.client, p.seq, p.answer(entry, applied));
            }
        }
        entries.last().map(|e| e.index)
    }

    fn on_proposed(&mut self, i: usize, group: GroupId, result: Result<LogPosition, ProposeError>) {
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
                if let Some(old) = self.nodes[i].pending.insert((group, pos.index), pending) {
                    self.reply(old.client, old.seq, Reply::Overwritten);
                }
            }
            Err(error) => self.reply(client, seq, Reply::refused(error)),
        }
    }

    fn on_read_ready(&mut self, i: usize, group: GroupId, id: u64, index: sansraft::Index) {
        let gi = group as usize - 1;
        let applied = self.nodes[i].applied[gi];
        let r = self.ck(group).on_read_served(id, i, applied);
        if !self.record(r.map_err(|b| in_group(group, b.into()))) {
            return;
        }
        let Some((client, seq, key, _)) = self.nodes[i].reads.remove(&id) else {
            return;
        };
        if index > applied {
            let detail = format!(
                "group {group}: read {id} released at read index {index} with only {applied} applied"
            );
            let f = Failure::new(ViolationKind::StateMachineSafety, Some(id_of(i)), detail);
            return self.violate(f);
        }
        let value = self.nodes[i].kvs[gi].read(key);
        self.stats.reads += 1;
        self.reply(client, seq, Reply::Done(KvOutput::Read(value)));
    }

    fn on_read_failed(&mut self, i: usize, group: GroupId, id: u64, error: ReadError) {
        self.ck(group).on_read_failed(id);
        let Some((client, seq, _, _)) = self.nodes[i].reads.remove(&id) else {
            return;
        };
        self.reply(client, seq, Reply::read_failed(error));
    }

    pub(super) fn on_client_issue(&mut self, client: usize) {
        if let Some(attempt) = self.clients.issue(client, self.now, &mut self.rng_client) {
            self.client_send(attempt);
        }
    }

    /// Sends one attempt over the client link and arms its timeout.
    pub(super) fn client_send(&mut self, a: Attempt) {
        let timeout = Ev::ClientTimeout {
            client: a.client,
            seq: a.seq,
            attempt: a.attempt,
        };
        self.queue
            .push(self.now + self.clients.timeout_us(), timeout);
        if self.network.client_loss(&mut self.rng_client) {
            return;
        }
        let at = self.now + self.network.delay(&mut self.rng_client);
        let request = Ev::ClientRequest {
            node: a.node,
            client: a.client,
            group: a.group,
            seq: a.seq,
            command: a.command,
        };
        self.queue.push(at, request);
    }

    pub(super) fn on_client_request(
        &mut self,
        i: usize,
        client: usize,
        group: GroupId,
        seq: u64,
        command: Bytes,
    ) {
        let hosted = (self.nodes[i].host.as_ref()).is_some_and(|h| h.group(group).is_some());
        if !hosted {
            // A spare not (yet) added to the group.
            return self.reply(client, seq, Reply::NotLeader(None));
        }
        if self.sc.reads != ReadMode::Log {
            if let Some(Command {
                op: KvOp::Get { key },
                ..
            }) = Command::decode(&command)
            {
                let id = self.next_read_id;
                self.next_read_id += 1;
                self.nodes[i].reads.insert(id, (client, seq, key, group));
                let now = self.now;
                self.ck(group).on_read_issued(id, i, now);
                let input = Input::ReadIndex(id);
                return self.step_host(i, HostInput::Group { group, input });
            }
        }
        self.proposing = Some((client, seq));
        let input = Input::Propose(command);
        self.step_host(i, HostInput::Group { group, input });
        self.proposing = None;
    }

    /// Sends an answer to a client.
    pub(super) fn reply(&mut self, client: usize, seq: u64, reply: Reply) {
        if self.network.client_loss(&mut self.rng_client) {
            return;
        }
        let at = self.now + self.network.delay(&mut self.rng_client);
        self.queue.push(at, Ev::ClientReply { client, seq, reply });
    }

    pub(super) fn on_client_reply(&mut self, client: usize, seq: u64, reply: Reply) {
        let step = self
            .clients
            .on_reply(client, seq, reply, self.now, &mut self.rng_client);
        match step {
            ClientStep::Ignore => {}
            ClientStep::Completed { next_at } => {
                self.queue.push(next_at, Ev::ClientIssue { client });
            }
            ClientStep::Retry { attempt, at } => {
                let ev = Ev::ClientSend {
                    client: attempt.client,
                    node: attempt.node,
                    group: attempt.group,
                    seq: attempt.seq,
                    attempt: attempt.attempt,
                    command: attempt.command,
                };
                self.queue.push(at, ev);
            }
        }
    }

    pub(super) fn on_client_timeout(&mut self, client: usize, seq: u64, attempt: u32) {
        if let Some(a) = self.clients.on_timeout(client, seq, attempt) {
            self.client_send(a);
        }
    }
}

impl MultiWorld {
    /// The checker of `group`, set to the current time.
    fn ck(&mut self, group: GroupId) -> &mut crate::checker::Checker {
        let checker = &mut self.checkers[group as usize - 1];
        checker.set_time(self.now);
        checker
    }
}

/// A failure located in a group.
pub(super) fn in_group(group: GroupId, mut f: Failure) -> Failure {
    f.detail = format!("group {group}: {}", f.detail);
    f
}

/// A node id from an index.
fn id_of(i: usize) -> NodeId {
    i as NodeId + 1
}
