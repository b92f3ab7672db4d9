//! A world driven step by step by its caller — a fuzzer or a test — instead of by the event
//! clock: the caller picks which message in flight is delivered, dropped or duplicated, which
//! node ticks, when a disk completes a write and when its acknowledgement arrives, crashes,
//! restarts, partitions, proposals, membership changes, leadership transfers and reads.
//! Everything else is the seeded world's own machinery: the same hosts, disks (with torn
//! writes), network partitions, key-value state machines, and the same [`crate::checker`] run
//! after every step of every node, reads included (a read served must reflect every entry
//! committed when it was issued and must not come from a deposed leader, thesis §6.4).
//!
//! ```
//! use sansraft_sim::world::DrivenWorld;
//! use sansraft_sim::Scenario;
//!
//! let raft = Scenario::generate(0, 3, sansraft_sim::Profile::Calm, Default::default()).raft;
//! let mut world = DrivenWorld::new(3, raft, 7);
//! for _ in 0..40 {
//!     world.tick(1);
//!     world.persist_all(1);
//! }
//! while !world.in_flight().is_empty() {
//!     world.deliver(0);
//! }
//! assert!(world.violation().is_none());
//! ```

use super::{RunOptions, World};
use crate::checker::Check;
use crate::fault::Partition;
use crate::kv::Command;
use crate::linearizability::KvOp;
use crate::profile::Profile;
use crate::report::RunStats;
use crate::scenario::{RaftParams, Scenario, Timing};
use crate::violation::{Failure, Violation};
use sansraft::{ConfChange, Input, Membership, Message, Node, NodeId, WriteToken};
use std::collections::VecDeque;

/// What the caller drives instead of the clock: the messages in flight, in send order, and the
/// storage acknowledgements on their way to each node.
#[derive(Debug, Default)]
pub(crate) struct Manual {
    /// A deque: most deliveries take the oldest, and a `Vec` would move every other message.
    pub(crate) in_flight: VecDeque<Message>,
    acks: Vec<VecDeque<WriteToken>>,
    proposals: u64,
}

/// A simulated cluster that moves only when its caller says so. Node ids are `1..=nodes`;
/// calls naming another id, or a message index beyond [`DrivenWorld::in_flight`], do nothing.
pub struct DrivenWorld {
    world: World,
}

impl std::fmt::Debug for DrivenWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrivenWorld")
            .field("nodes", &self.world.hosts.len())
            .field("in_flight", &self.in_flight().len())
            .field("violation", &self.world.violation)
            .finish()
    }
}

impl DrivenWorld {
    /// `nodes` voters started from the bootstrap state with `raft`'s options (and canary, if
    /// any); `seed` drives what is still random: election timeouts and which prefix of a torn
    /// write survives a crash.
    pub fn new(nodes: usize, raft: RaftParams, seed: u64) -> DrivenWorld {
        DrivenWorld::with_voters(nodes, nodes, raft, seed)
    }

    /// Like [`DrivenWorld::new`], but only nodes `1..=voters` form the initial configuration;
    /// the others are spares outside it, as servers waiting to be added are.
    pub fn with_voters(nodes: usize, voters: usize, raft: RaftParams, seed: u64) -> DrivenWorld {
        let mut sc = Scenario::generate(seed, nodes, Profile::Calm, Timing::default());
        sc.initial_voters = voters.clamp(1, nodes);
        sc.witnesses.clear();
        sc.raft = raft;
        // Without the leader priorities the seed may draw: the `cluster` fuzz target's inputs
        // (its canary corpus among them) must run as they did before priorities existed.
        sc.priorities.clear();
        sc.faults.clear();
        sc.clients.count = 0;
        // The caller drives every input: no bounded-staleness reads of the simulator's own.
        sc.stale_reads = None;
        // Nor quiescence: it needs the simulator's failure detector, and the corpus predates it.
        sc.quiescence = None;
        sc.raft.quiesce = false;
        let mut world = World::new(sc, RunOptions::default());
        world.manual = Some(Manual {
            acks: vec![VecDeque::new(); nodes],
            ..Manual::default()
        });
        DrivenWorld { world }
    }

    /// The first safety violation, if any. Once there is one, further calls change nothing.
    pub fn violation(&self) -> Option<&Violation> {
        self.world.violation.as_ref()
    }

    /// The node with this id, unless it is crashed.
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.index(id)
            .and_then(|i| self.world.hosts[i].node.as_ref())
    }

    /// Counts of what happened so far (steps, commits, reads served, membership changes...).
    pub fn stats(&self) -> &RunStats {
        &self.world.stats
    }

    /// The leader of the highest term among the running members of the latest committed
    /// configuration, if that term has one.
    pub fn leader(&self) -> Option<NodeId> {
        self.world.current_leader().1
    }

    /// The latest configuration any node applied (so, committed).
    pub fn committed_membership(&self) -> &Membership {
        &self.world.committed_config.1
    }

    /// How many nodes the cluster has.
    pub fn nodes(&self) -> usize {
        self.world.hosts.len()
    }

    /// Messages sent and neither delivered nor dropped yet, oldest first.
    pub fn in_flight(&self) -> &VecDeque<Message> {
        &self.manual().in_flight
    }

    /// Delivers message `k` of [`DrivenWorld::in_flight`] (unless a partition cuts its link or
    /// its recipient is down, which loses it).
    pub fn deliver(&mut self, k: usize) {
        if let Some(msg) = self.take(k) {
            let now = self.advance();
            self.world.on_deliver(msg, now);
        }
    }

    /// Loses message `k`.
    pub fn drop_message(&mut self, k: usize) {
        if self.take(k).is_some() {
            self.world.stats.messages_lost += 1;
        }
    }

    /// Sends message `k` a second time (it stays in flight, and a copy joins the end).
    pub fn duplicate(&mut self, k: usize) {
        let manual = self.manual_mut();
        if let Some(msg) = manual.in_flight.get(k).cloned() {
            manual.in_flight.push_back(msg);
        }
    }

    /// One tick of node `id`'s clock.
    pub fn tick(&mut self, id: NodeId) {
        if let Some(i) = self.index(id) {
            self.advance();
            self.world.step(i, Input::Tick);
        }
    }

    /// Node `id`'s disk makes its oldest pending write durable; the acknowledgement is on its
    /// way (see [`DrivenWorld::ack`]). Returns false if no write was pending.
    pub fn persist(&mut self, id: NodeId) -> bool {
        let Some(i) = self.index(id) else {
            return false;
        };
        if !self.world.ok() {
            return false;
        }
        let host = &mut self.world.hosts[i];
        let checker = &mut self.world.checker;
        let mut result: Check = Ok(());
        let token = host.disk.complete_oldest(&mut |_, w| {
            result = checker.on_durable(i, id, w).map_err(Failure::from);
        });
        self.world.record(result);
        match token {
            Some(token) => {
                self.manual_mut().acks[i].push_back(token);
                true
            }
            None => false,
        }
    }

    /// The oldest acknowledgement on its way to node `id` arrives (and is lost if the node is
    /// down; one from an earlier incarnation reaches the restarted node, which must ignore it).
    pub fn ack(&mut self, id: NodeId) {
        let Some(i) = self.index(id) else {
            return;
        };
        if let Some(token) = self.manual_mut().acks[i].pop_front() {
            self.advance();
            self.world.step(i, Input::Persisted(token));
        }
    }

    /// Every pending write of node `id` becomes durable and is acknowledged.
    pub fn persist_all(&mut self, id: NodeId) {
        while self.persist(id) {}
        while self
            .index(id)
            .is_some_and(|i| !self.manual().acks[i].is_empty())
        {
            self.ack(id);
        }
    }

    /// Node `id` crashes: it loses its memory and every write not yet durable (with `tear`, the
    /// oldest may leave a prefix of its entries durable).
    pub fn crash(&mut self, id: NodeId, tear: bool) {
        if let Some(i) = self.index(id) {
            self.advance();
            self.world.crash(i, tear);
        }
    }

    /// A crashed node `id` restarts from its durable state with a new incarnation.
    pub fn restart(&mut self, id: NodeId) {
        if let Some(i) = self.index(id) {
            self.advance();
            self.world.restart(i);
        }
    }

    /// Replaces the partition in force with `shape`.
    pub fn partition(&mut self, shape: &Partition) {
        let leader = self.world.current_leader().1.unwrap_or(1);
        self.world.network.partition(shape, leader);
    }

    /// Every link works again.
    pub fn heal(&mut self) {
        self.world.network.heal();
    }

    /// The operator asks node `id` to hand its leadership to `to` (thesis §3.10); a node that
    /// does not lead refuses.
    pub fn transfer(&mut self, id: NodeId, to: NodeId) {
        if let Some(i) = self.index(id) {
            self.advance();
            self.world.asked_transfers.push((id, to));
            self.world.step(i, Input::TransferLeadership(to));
        }
    }

    /// A client asks node `id` to put `value` under `key`.
    pub fn propose(&mut self, id: NodeId, key: u64, value: u64) {
        let Some(i) = self.index(id) else {
            return;
        };
        let manual = self.manual_mut();
        manual.proposals += 1;
        let command = Command {
            client: u64::MAX,
            seq: manual.proposals,
            op: KvOp::Put { key, value },
        };
        self.advance();
        self.world.step(i, Input::Propose(command.encode()));
    }

    /// The operator asks node `id` to change the membership (thesis §4.3); a node that does not
    /// lead refuses, and so does a leader for a change not valid now.
    pub fn change_membership(&mut self, id: NodeId, change: ConfChange) {
        if let Some(i) = self.index(id) {
            self.advance();
            self.world.step(i, Input::ChangeMembership(change));
        }
    }

    /// A client asks node `id` for a linearizable read of `key` (thesis §6.4: confirmed by a
    /// heartbeat round or the leader's lease, or forwarded by a follower to its leader). When
    /// the node serves it, it must have applied every entry known committed now.
    pub fn read(&mut self, id: NodeId, key: u64) {
        let Some(i) = self.index(id) else {
            return;
        };
        if self.world.hosts[i].node.is_none() {
            return;
        }
        let read = self.world.next_read_id;
        self.world.next_read_id += 1;
        self.world.hosts[i]
            .reads
            .insert(read, (usize::MAX, read, key));
        let now = self.advance();
        self.world.checker.on_read_issued(read, i, now);
        self.world.step(i, Input::ReadIndex(read));
    }

    fn index(&self, id: NodeId) -> Option<usize> {
        let i = usize::try_from(id.checked_sub(1)?).ok()?;
        (i < self.world.hosts.len() && self.world.ok()).then_some(i)
    }

    fn take(&mut self, k: usize) -> Option<Message> {
        if !self.world.ok() {
            return None;
        }
        let in_flight = &mut self.manual_mut().in_flight;
        in_flight.remove(k)
    }

    /// Moves simulated time on by one microsecond per action, for traces and reports.
    fn advance(&mut self) -> u64 {
        self.world.now += 1;
        self.world.event_no += 1;
        self.world.now
    }

    fn manual(&self) -> &Manual {
        self.world.manual.as_ref().expect("a driven world")
    }

    fn manual_mut(&mut self) -> &mut Manual {
        self.world.manual.as_mut().expect("a driven world")
    }
}

impl World {
    /// True while no violation has been found.
    fn ok(&self) -> bool {
        self.violation.is_none()
    }
}
