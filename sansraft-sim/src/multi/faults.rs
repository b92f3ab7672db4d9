//! Faults in the multi-group world: the single-group schedule's crashes (now, at the next
//! write, at the next completion; torn or not), restarts from the disk, pauses, stalled and
//! slow disks, partitions and heals, and the operator's requests (see `operator`). A fault
//! aimed at "the leader" aims at the node leading the most groups; a lease bridge is laid out
//! by the configuration of the first group it leads, and its bridge node restarts as the first
//! vote request of any group reaches it.

use super::queue::Ev;
use super::world::{group_config, MultiWorld};
use crate::fault::{Fault, LeaseBridgeLayout};
use crate::kv::KvStore;
use crate::received_snapshot;
use crate::violation::{Failure, ViolationKind};
use bytes::Bytes;
use sansraft::{DurableState, NodeId, Role};
use sansraft_multi::{GroupId, GroupStart, Host, HostStart};

impl MultiWorld {
    /// The node leading the most groups (the lowest id on a tie), if any leads one.
    pub(super) fn busiest_leader(&self) -> Option<usize> {
        let mut best: Option<(usize, usize)> = None;
        for (i, node) in self.nodes.iter().enumerate() {
            let Some(host) = node.host.as_ref() else {
                continue;
            };
            let led = host
                .groups()
                .filter(|(_, n)| n.role() == Role::Leader)
                .count();
            if led > 0 && best.is_none_or(|(_, b)| led > b) {
                best = Some((i, led));
            }
        }
        best.map(|(i, _)| i)
    }

    pub(super) fn apply_fault(&mut self, index: usize) {
        let fault = self.sc.faults[index].fault.clone();
        let node_of = |id: NodeId, n: usize| (id >= 1 && id as usize <= n).then(|| id as usize - 1);
        match fault {
            Fault::Crash {
                node,
                tear,
                on_write,
                on_durable,
            } => {
                let Some(i) = node_of(node, self.n) else {
                    return self.stats.faults_skipped += 1;
                };
                if on_write {
                    self.nodes[i].crash_on_write = Some(tear);
                } else if on_durable {
                    self.nodes[i].crash_on_durable = Some(tear);
                } else {
                    self.crash(i, tear);
                }
            }
            Fault::CrashLeader {
                tear,
                on_write,
                down_us,
            } => {
                let up = self.nodes.iter().filter(|n| n.is_up()).count();
                let Some(i) = self.busiest_leader().filter(|_| up > self.n / 2 + 1) else {
                    return;
                };
                if on_write {
                    self.nodes[i].crash_on_write = Some(tear);
                } else {
                    self.crash(i, tear);
                }
                self.queue.push(self.now + down_us, Ev::Restart { node: i });
            }
            Fault::Restart { node } => match node_of(node, self.n) {
                Some(i) => {
                    self.nodes[i].crash_on_write = None;
                    self.restart(i);
                }
                None => self.stats.faults_skipped += 1,
            },
            Fault::Pause { node } => match node_of(node, self.n) {
                Some(i) => {
                    let node = &mut self.nodes[i];
                    if node.is_up() && !node.paused {
                        node.paused = true;
                        node.paused_at = self.now;
                    }
                }
                None => self.stats.faults_skipped += 1,
            },
            Fault::Resume { node } => match node_of(node, self.n) {
                Some(i) => self.resume(i),
                None => self.stats.faults_skipped += 1,
            },
            Fault::StorageStall { node } => match node_of(node, self.n) {
                Some(i) => self.nodes[i].disk.stall(),
                None => self.stats.faults_skipped += 1,
            },
            Fault::StorageResume { node } => match node_of(node, self.n) {
                Some(i) => {
                    let timer = self.nodes[i].disk.resume(self.now);
                    self.arm_disk(i, timer);
                }
                None => self.stats.faults_skipped += 1,
            },
            Fault::StorageSlow { node, factor } => match node_of(node, self.n) {
                Some(i) => self.nodes[i].disk.set_slow(factor),
                None => self.stats.faults_skipped += 1,
            },
            Fault::Partition { shape } => {
                let leader = match self.busiest_leader() {
                    Some(i) => i,
                    None => self.rng_fault.index(self.n),
                };
                self.network.partition(&shape, leader as NodeId + 1);
            }
            Fault::Heal => self.network.heal(),
            Fault::HealAll => self.heal_all_now(),
            Fault::Roughen => {
                self.network.set_params(self.sc.network);
                self.storage = self.sc.storage;
            }
            Fault::AddLearner { .. }
            | Fault::AddWitness { .. }
            | Fault::Promote { .. }
            | Fault::RemoveMember { .. }
            | Fault::Replace { .. }
            | Fault::SetPriority { .. } => self.request_change_everywhere(index),
            Fault::SplitJoint { within_us } => self.arm_split_joint(within_us),
            Fault::TransferLeadership { to } => self.transfer_everywhere(to),
            Fault::Campaign {
                node,
                skip_pre_vote,
            } => match node_of(node, self.n) {
                Some(i) => self.campaign_everywhere(i, skip_pre_vote),
                None => self.stats.faults_skipped += 1,
            },
            Fault::LeaseBridge => self.lease_bridge(),
        }
    }

    /// Sets up [`Fault::LeaseBridge`] around the node leading the most groups.
    fn lease_bridge(&mut self) {
        let Some(leader) = self.busiest_leader() else {
            return;
        };
        let Some(host) = self.nodes[leader].host.as_ref() else {
            return;
        };
        let Some((_, led)) = host.groups().find(|(_, n)| n.role() == Role::Leader) else {
            return;
        };
        let voters = led.membership().voters.clone();
        let id = leader as NodeId + 1;
        let Some(layout) = LeaseBridgeLayout::draw(id, &voters, self.n, &mut self.rng_fault) else {
            return;
        };
        self.network.partition(&layout.partition(), id);
        let bridge = &mut self.nodes[layout.bridge as usize - 1];
        if bridge.is_up() {
            bridge.bounce_on_vote = Some(layout.left);
        }
    }

    /// Everything heals: links, crashed nodes, paused processes, disks; the network and disks
    /// turn reliable.
    pub(super) fn heal_all_now(&mut self) {
        self.network.heal();
        self.network.set_params(self.sc.network.calmed());
        self.storage = self.sc.storage.calmed();
        for i in 0..self.n {
            self.nodes[i].crash_on_write = None;
            self.nodes[i].crash_on_durable = None;
            self.nodes[i].bounce_on_vote = None;
            let timer = self.nodes[i].disk.heal(self.now, &self.storage);
            self.arm_disk(i, timer);
            self.restart(i);
            self.resume(i);
        }
    }

    /// The fault phase is over: everything heals for good; from now on every group must
    /// come to have a leader.
    pub(super) fn heal_all(&mut self) {
        self.heal_all_now();
        for group in 1..=self.g {
            self.led_since_heal[group as usize - 1] = self.has_leader(group);
        }
    }

    /// True if a running member of `group` leads the highest term any running member is in
    /// ([`MultiWorld::group_leader`]).
    pub(super) fn has_leader(&self, group: GroupId) -> bool {
        self.group_leader(group).1.is_some()
    }

    pub(super) fn resume(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        if !node.paused {
            return;
        }
        node.paused = false;
        node.clock_gen += 1;
        let (gen, tick_us) = (node.clock_gen, node.clock.tick_us);
        let missed = (self.now - node.paused_at) / tick_us.max(1);
        let backlog = std::mem::take(&mut node.backlog);
        if self.sc.raft.lease_reads {
            // Leases need a clock that runs through pauses (docs/design.md §11): the host first
            // sees the ticks it missed, then the input that queued up.
            for _ in 0..missed {
                self.stats.host_ticks += 1;
                self.step_host(i, sansraft_multi::HostInput::Tick);
            }
        }
        for ev in backlog {
            self.queue.push(self.now, ev);
        }
        self.queue
            .push(self.now + tick_us, Ev::Tick { node: i, gen });
    }

    /// Node `i`'s process dies: what its disk did not make durable is lost.
    pub(super) fn crash(&mut self, i: usize, tear: bool) {
        self.watch_failover(i);
        let Some(host) = self.nodes[i].host.take() else {
            return;
        };
        self.counted.push(*host.counters());
        self.stats.crashes += 1;
        let id = self.nodes[i].id;
        let node = &mut self.nodes[i];
        let checkers = &mut self.checkers;
        let mut result: Result<(), Failure> = Ok(());
        let kept = node.disk.crash(tear, &mut self.rng_disk, &mut |group, w| {
            if result.is_ok() {
                result = checkers[group as usize - 1]
                    .on_durable(i, id, w)
                    .map_err(Failure::from);
            }
        });
        if kept > 0 {
            self.stats.torn_writes += 1;
        }
        for checker in checkers.iter_mut() {
            checker.on_crash(i);
        }
        node.kvs.fill(KvStore::default());
        node.applied.fill(0);
        node.pending.clear();
        node.reads.clear();
        node.paused = false;
        node.backlog.clear();
        node.crash_on_write = None;
        node.crash_on_durable = None;
        node.bounce_on_vote = None;
        node.partials.clear();
        node.in_flight.clear();
        node.clock_gen += 1;
        self.record(result);
    }

    /// A crashed node restarts from its disk with a new incarnation.
    pub(super) fn restart(&mut self, i: usize) {
        if self.nodes[i].is_up() {
            return;
        }
        self.stats.restarts += 1;
        let id = self.nodes[i].id;
        let incarnation = self.nodes[i].incarnation + 1;
        let (states, tombstones) = self.nodes[i].disk.contents().restart_states();
        let states: Vec<(GroupId, (DurableState, Bytes))> = states.collect();
        let tombstones = tombstones.clone();
        let start = HostStart {
            incarnation,
            tombstones,
            groups: (states.iter())
                .map(|(group, (state, _))| GroupStart {
                    group: *group,
                    config: group_config(&self.sc, id, *group),
                    state: state.clone(),
                })
                .collect(),
        };
        let host = match Host::new(self.host_config(id), start) {
            Ok(host) => host,
            Err(e) => {
                let detail = format!("host refused to restart: {e}");
                return self.violate(Failure::new(ViolationKind::Panic, Some(id), detail));
            }
        };
        for (group, (state, data)) in &states {
            let Some(node) = host.group(*group) else {
                continue;
            };
            let view = crate::checker::NodeView::of(node);
            let gi = *group as usize - 1;
            let r = self.checkers[gi].on_restart(i, &view, state);
            if !self.record(r) {
                return;
            }
            // The state machine restarts from the snapshot, then replays the log.
            match received_snapshot::restore(id, view.witness, &state.snapshot, data) {
                Ok(kv) => self.nodes[i].kvs[gi] = kv,
                Err(f) => return self.violate(f),
            }
            self.nodes[i].applied[gi] = state.applied;
        }
        let node = &mut self.nodes[i];
        node.host = Some(host);
        node.incarnation = incarnation;
        node.clock_gen += 1;
        let (gen, tick_us) = (node.clock_gen, node.clock.tick_us);
        self.queue
            .push(self.now + tick_us, Ev::Tick { node: i, gen });
        self.stale_clock_restarted(i);
        // A deletion whose tombstone was lost in the crash, or that the node was down for.
        self.retire(i, None);
    }
}
