//! Carrying out faults: crashes (with torn writes), restarts, pauses, disk stalls and slowness,
//! partitions; and healing everything when the fault phase ends.

use super::World;
use crate::checker::{Check, NodeView};
use crate::event::Event;
use crate::fault::{Fault, LeaseBridgeLayout};
use crate::kv::KvStore;
use crate::liveness::OpenTransfer;
use crate::received_snapshot;
use crate::violation::{Failure, ViolationKind};
use sansraft::{Node, NodeId};

impl World {
    pub(super) fn apply_fault(&mut self, index: usize) {
        self.liveness_view = None;
        let fault = self.sc.faults[index].fault.clone();
        if !self.change_attempts.contains_key(&index) {
            self.stats.faults += 1;
        }
        if let Some(t) = self.tracer.as_mut() {
            t.note(&fault.to_string());
        }
        let idx = |node: NodeId| node as usize - 1;
        match fault {
            Fault::Crash {
                node,
                tear,
                on_write: false,
                on_durable: false,
            } => self.crash(idx(node), tear),
            Fault::Crash {
                node,
                tear,
                on_write,
                on_durable,
            } => {
                let host = &mut self.hosts[idx(node)];
                if host.is_up() && on_write {
                    host.crash_on_write = Some(tear);
                } else if host.is_up() && on_durable {
                    host.crash_on_durable = Some(tear);
                }
            }
            Fault::CrashLeader {
                tear,
                on_write,
                down_us,
            } => self.crash_leader(tear, on_write, down_us),
            Fault::Restart { node } => {
                // A crash armed for the node's next write that has not gone off by the restart
                // paired with it does not happen: the schedule keeps each crash inside its
                // window. Left armed, it went off at a later write with no restart to follow and
                // kept the node down until the heal, breaking the schedule's bounds (a minority
                // down at once, for at most 5 s; a bounce back within 2 ms).
                self.hosts[idx(node)].crash_on_write = None;
                self.restart(idx(node));
            }
            Fault::Pause { node } => {
                let i = idx(node);
                if self.hosts[i].is_up() && !self.hosts[i].paused {
                    if let (term, Some(leader)) = self.current_leader() {
                        if leader == node {
                            self.watch_failover(i, term);
                        }
                    }
                }
                let host = &mut self.hosts[i];
                if host.is_up() {
                    host.paused = true;
                    host.paused_at = self.now;
                    host.clock_gen += 1;
                }
            }
            Fault::Resume { node } => self.resume(idx(node)),
            Fault::StorageStall { node } => self.hosts[idx(node)].disk.stall(),
            Fault::StorageResume { node } => self.resume_disk(idx(node)),
            Fault::StorageSlow { node, factor } => self.hosts[idx(node)].disk.set_slow(factor),
            Fault::Partition { shape } => {
                let leader = match self.current_leader() {
                    (_, Some(leader)) => leader,
                    _ => self.rng_net.between(1, self.sc.nodes as u64),
                };
                self.network.partition(&shape, leader);
                if let Some(t) = self.tracer.as_mut() {
                    t.note(&format!("leader at the time: n{leader}"));
                }
            }
            Fault::Heal => self.network.heal(),
            Fault::HealAll => self.heal_all(),
            Fault::Roughen => {
                self.network.set_params(self.sc.network);
                self.storage = self.sc.storage;
            }
            Fault::SplitJoint { within_us } => self.split_joint_until = self.now + within_us,
            Fault::LeaseBridge => self.lease_bridge(),
            Fault::AddLearner { .. }
            | Fault::AddWitness { .. }
            | Fault::Promote { .. }
            | Fault::RemoveMember { .. }
            | Fault::Replace { .. }
            | Fault::SetPriority { .. } => self.request_change(index, &fault),
            Fault::Campaign {
                node,
                skip_pre_vote,
            } => {
                let i = idx(node);
                if self.hosts[i].is_up() {
                    self.liveness.campaign_requested(self.now);
                    self.step(i, sansraft::Input::Campaign { skip_pre_vote });
                }
            }
            Fault::TransferLeadership { to } => {
                if let (_, Some(leader)) = self.current_leader() {
                    self.stats.transfers.0 += 1;
                    let asked = self.open_transfer(leader, to);
                    self.liveness.transfer_asked(asked);
                    self.asked_transfers.push((leader, to));
                    self.step(idx(leader), sansraft::Input::TransferLeadership(to));
                }
            }
        }
    }

    /// Crashes the current leader (now or at its next write) and restarts it `down_us` later,
    /// unless that would leave a majority of the nodes down.
    fn crash_leader(&mut self, tear: bool, on_write: bool, down_us: crate::Micros) {
        let (_, Some(leader)) = self.current_leader() else {
            return;
        };
        let down = self.hosts.iter().filter(|h| !h.is_up()).count();
        if down + 1 > (self.hosts.len() - 1) / 2 {
            return;
        }
        let i = leader as usize - 1;
        if on_write {
            self.hosts[i].crash_on_write = Some(tear);
        } else {
            self.crash(i, tear);
        }
        self.queue
            .push(self.now + down_us, Event::Restart { node: i });
    }

    /// Whether a transfer fits in an election timeout at this scenario's worst healthy latencies
    /// (a message: the slowest link's base delay plus jitter; a write: the slowest disk
    /// latency plus the acknowledgement's delay; the fastest clock's tick).
    fn transfer_fits(&self) -> bool {
        let net = self.sc.network;
        let max_message_us = net.base_delay_us * 3 / 2 + net.jitter_us;
        let max_write_us = self.storage.max_latency_us + self.storage.max_ack_delay_us;
        let tick_us = self.sc.clocks.iter().map(|c| c.tick_us).min().unwrap_or(1);
        crate::liveness::transfer_fits(
            max_message_us,
            max_write_us,
            tick_us,
            self.sc.raft.election_timeout_ticks,
        )
    }

    /// What the liveness oracle needs to know of a transfer asked of `leader` (which runs).
    fn open_transfer(&self, leader: NodeId, target: NodeId) -> OpenTransfer {
        let node = self.hosts[leader as usize - 1]
            .node
            .as_ref()
            .expect("the current leader runs");
        let commit = node.status().commit;
        let target_ready = self
            .hosts
            .get(target as usize - 1)
            .and_then(|h| h.node.as_ref())
            .is_some_and(|t| {
                node.membership().is_voter(target)
                    && t.status().last_index >= commit
                    && t.log_term(commit).is_some()
                    && t.log_term(commit) == node.log_term(commit)
            });
        OpenTransfer {
            leader,
            target,
            term: node.term(),
            at: self.now,
            settled_from: self.now.saturating_sub(
                2 * u64::from(self.sc.raft.election_timeout_ticks)
                    * crate::scenario::NOMINAL_TICK_US,
            ),
            target_ready,
            membership_settled: node.membership_index() <= commit,
            fits: self.transfer_fits(),
            disturbed: false,
        }
    }

    /// Sets up [`Fault::LeaseBridge`] around the current leader.
    fn lease_bridge(&mut self) {
        let (_, Some(leader)) = self.current_leader() else {
            return;
        };
        let Some(node) = self.hosts[leader as usize - 1].node.as_ref() else {
            return;
        };
        let voters = node.membership().voters.clone();
        let nodes = self.hosts.len();
        let Some(layout) = LeaseBridgeLayout::draw(leader, &voters, nodes, &mut self.rng_net)
        else {
            return;
        };
        if let Some(t) = self.tracer.as_mut() {
            t.note(&format!(
                "leader n{leader}, bridge n{}, left {:?}, right {:?}",
                layout.bridge, layout.left, layout.right
            ));
        }
        self.network.partition(&layout.partition(), leader);
        let host = &mut self.hosts[layout.bridge as usize - 1];
        if host.is_up() {
            host.bounce_on_vote = Some(layout.left);
        }
    }

    /// The process dies: in-memory state and incomplete writes are lost.
    pub(super) fn crash(&mut self, i: usize, tear: bool) {
        self.liveness_view = None;
        let host = &mut self.hosts[i];
        if !host.is_up() {
            return;
        }
        self.liveness.leader_crashed(host.id);
        if let (term, Some(leader)) = self.current_leader() {
            if leader == self.hosts[i].id {
                self.watch_failover(i, term);
            }
        }
        let host = &mut self.hosts[i];
        self.append_rules.crash(i);
        self.stats.crashes += 1;
        if let Some(node) = host.node.as_ref() {
            self.stats.priority_transfers += node.counters().priority_transfers;
            self.stats.quiesced += node.counters().quiesced;
        }
        host.node = None;
        host.kv = KvStore::default();
        host.pending.clear();
        host.paused = false;
        host.crash_on_write = None;
        host.crash_on_durable = None;
        host.bounce_on_vote = None;
        host.backlog.clear();
        host.reads.clear();
        // Partial snapshots do not survive a crash (the embedder deletes them on start).
        host.partial.clear();
        host.clock_gen += 1;
        let id = host.id;
        let checker = &mut self.checker;
        let mut result: Check = Ok(());
        let kept = host.disk.crash(tear, &mut self.rng_disk, &mut |_, w| {
            result = checker.on_durable(i, id, w).map_err(Failure::from);
        });
        self.checker.on_crash(i);
        if kept > 0 {
            self.stats.torn_writes += 1;
            if let Some(t) = self.tracer.as_mut() {
                t.note(&format!("torn write kept {kept} entries"));
            }
        }
        self.record(result);
    }

    /// A crashed node starts again from its durable state, with a new incarnation, replaying
    /// its log into a fresh state machine.
    pub(super) fn restart(&mut self, i: usize) {
        self.liveness_view = None;
        let host = &mut self.hosts[i];
        if host.is_up() {
            return;
        }
        host.incarnation += 1;
        let (state, snapshot_data) = host.disk.contents().restart_state();
        match Node::new(host.config.clone(), state.clone(), host.incarnation) {
            Ok(node) => {
                // The state machine restarts from the snapshot, then replays the log.
                let (id, witness) = (host.id, node.is_witness());
                match received_snapshot::restore(id, witness, &state.snapshot, &snapshot_data) {
                    Ok(kv) => host.kv = kv,
                    Err(f) => return self.violate(f),
                }
                host.applied = (state.snapshot.index, state.snapshot.term);
                let timeout = host.config.election_timeout_ticks;
                host.ticks = crate::host::TickTimes::for_reads(self.now, timeout);
                host.detector = super::detector::detector(&self.sc, i);
                let view = NodeView::of(&node);
                host.node = Some(node);
                self.timers.restart(i);
                host.clock_gen += 1;
                let (gen, tick) = (host.clock_gen, host.clock.tick_us);
                self.queue
                    .push(self.now + tick, Event::Tick { node: i, gen });
                let r = self.checker.on_restart(i, &view, &state);
                self.record(r);
                // Acknowledgements of the previous incarnation's writes, delivered late.
                let held = std::mem::take(&mut self.hosts[i].held_acks);
                for token in held {
                    let at = self.now + self.rng_disk.between(1, tick);
                    self.queue.push(at, Event::PersistAck { node: i, token });
                }
            }
            Err(e) => {
                let id = host.id;
                self.violate(Failure::new(
                    ViolationKind::Panic,
                    Some(id),
                    format!("node refused to restart from its durable state: {e}"),
                ));
            }
        }
    }

    /// A paused node resumes: its clock restarts and queued input is handled in order.
    fn resume(&mut self, i: usize) {
        self.liveness_view = None;
        let host = &mut self.hosts[i];
        if !host.paused {
            return;
        }
        host.paused = false;
        host.clock_gen += 1;
        let (gen, tick) = (host.clock_gen, host.clock.tick_us);
        let missed = (self.now - host.paused_at) / tick;
        let backlog = std::mem::take(&mut host.backlog);
        if self.sc.raft.lease_reads {
            // Leases need a clock that runs through pauses (docs/design.md §11): the node first
            // sees the ticks it missed, then the input that queued up.
            for _ in 0..missed {
                self.step(i, sansraft::Input::Tick);
            }
        }
        for event in backlog {
            self.queue.push(self.now, event);
        }
        self.queue
            .push(self.now + tick, Event::Tick { node: i, gen });
    }

    fn resume_disk(&mut self, i: usize) {
        if let Some(timer) = self.hosts[i].disk.resume(self.now) {
            self.queue.push(
                timer.at,
                Event::StorageDone {
                    node: i,
                    gen: timer.gen,
                },
            );
        }
    }

    /// Heal the network (and calm it), restart crashed nodes, resume paused ones, and restore
    /// every disk (and calm them).
    fn heal_all(&mut self) {
        self.liveness_view = None;
        self.network.heal();
        self.network.set_params(self.sc.network.calmed());
        self.storage = self.sc.storage.calmed();
        for i in 0..self.hosts.len() {
            self.hosts[i].crash_on_write = None;
            self.hosts[i].crash_on_durable = None;
            self.hosts[i].bounce_on_vote = None;
            if let Some(timer) = self.hosts[i].disk.heal(self.now, &self.storage) {
                let gen = timer.gen;
                self.queue
                    .push(timer.at, Event::StorageDone { node: i, gen });
            }
            self.restart(i);
            self.resume(i);
        }
    }

    /// The fault phase is over: everything heals for good.
    pub(super) fn end_fault_phase(&mut self) {
        self.heal_all();
        self.liveness.healed(self.now);
        let (max_term, leader) = self.current_leader();
        if let Some(id) = leader {
            let node = self.hosts[id as usize - 1]
                .node
                .as_ref()
                .expect("leader is up");
            self.liveness
                .observe(self.now, node.role(), node.term(), max_term);
        }
    }
}
