//! The `cluster` target: an arbitrary schedule driving the simulator's world step by step.
//!
//! The input is read as a [`Setup`] and then a sequence of [`Op`]s: which message in flight is
//! delivered, dropped or duplicated, which node ticks, when disks complete writes and when the
//! acknowledgements arrive, crashes (torn or not) and restarts, partitions and healing, client
//! proposals and reads, leadership transfers, and the operator's membership changes (adding
//! learners, promoting them, removing members — the leader too — simple and joint). The
//! application snapshots on its own every few entries (as [`Setup`] says), so logs are
//! compacted and lagging nodes are sent snapshots. The operations drive a [`DrivenWorld`],
//! whose checker runs every safety invariant of the simulator after every step of every node,
//! and checks every read served against what was committed when it was issued; the first
//! violation is a finding.
//!
//! Lease reads (thesis §6.4.1) are safe only under a clock assumption: every node's ticks
//! measure real time at about the same rate. With [`Setup::lease_reads`] on, ticks therefore
//! come from one clock: every tick operation ticks every node.

use crate::change::Change;
use arbitrary::{Arbitrary, Result, Unstructured};
use sansraft::{Canary, ConfChange, NodeId};
use sansraft_sim::world::DrivenWorld;
use sansraft_sim::{Partition, Profile, Scenario, Timing, Violation};

/// Most operations read from one input.
pub const MAX_OPS: usize = 3_000;

/// Most messages in flight: beyond it the network loses the oldest (as a full queue would), so
/// that a schedule of duplications and deliveries cannot grow the work per input without bound.
pub const MAX_IN_FLIGHT: usize = 256;

/// Most messages one [`Op::Settle`] round delivers.
pub const SETTLE_DELIVERIES: usize = 64;

/// The cluster: its size and engine options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setup {
    /// Voters `1..=nodes` form the initial configuration.
    pub nodes: usize,
    /// Spares `nodes + 1..=nodes + spares`, outside the configuration until the operator adds
    /// them.
    pub spares: usize,
    /// Pre-vote.
    pub pre_vote: bool,
    /// Check-quorum.
    pub check_quorum: bool,
    /// Election timeout in ticks (short, so that elections are cheap to reach).
    pub election_timeout_ticks: u32,
    /// Appends in flight per follower.
    pub max_inflight_msgs: usize,
    /// The application snapshots every this many applied entries (0: never), so that logs are
    /// compacted and lagging followers get snapshots.
    pub snapshot_interval: u64,
    /// Entries kept behind a snapshot.
    pub compaction_keep_entries: u64,
    /// Snapshot chunk size in bytes (small, so that transfers take several chunks).
    pub snapshot_chunk_bytes: u64,
    /// Synchronous storage: after every operation every pending write is made durable and
    /// acknowledged (else disks move only when the schedule says so).
    pub sync_storage: bool,
    /// Seeds election timeouts and torn writes.
    pub seed: u64,
    /// Leaders serve reads from their lease (thesis §6.4.1); implies check-quorum, and every
    /// tick operation ticks every node (the lease's clock assumption).
    pub lease_reads: bool,
    /// The clock-drift margin a lease is shortened by, in percent.
    pub max_clock_drift_percent: u32,
    /// Leaders promote caught-up learners by themselves.
    pub auto_promote_learners: bool,
}

impl Setup {
    /// Every node, voters and spares.
    pub fn all_nodes(&self) -> usize {
        self.nodes + self.spares
    }

    /// A setup of `nodes` voters with every other option off or at its smallest.
    pub fn voters(nodes: usize) -> Setup {
        Setup {
            nodes,
            spares: 0,
            pre_vote: false,
            check_quorum: false,
            election_timeout_ticks: 2,
            max_inflight_msgs: 1,
            snapshot_interval: 0,
            compaction_keep_entries: 0,
            snapshot_chunk_bytes: 4096,
            sync_storage: false,
            seed: 0,
            lease_reads: false,
            max_clock_drift_percent: 0,
            auto_promote_learners: false,
        }
    }
}

impl<'a> Arbitrary<'a> for Setup {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Setup {
            nodes: *u.choose(&[3usize, 3, 3, 5])?,
            pre_vote: u.arbitrary()?,
            check_quorum: u.arbitrary()?,
            election_timeout_ticks: u.int_in_range(2..=5)?,
            max_inflight_msgs: u.int_in_range(1..=4)?,
            snapshot_interval: *u.choose(&[0, 0, 2, 4, 8])?,
            compaction_keep_entries: *u.choose(&[0, 1, 3])?,
            snapshot_chunk_bytes: *u.choose(&[16, 64, 4096])?,
            sync_storage: u.arbitrary()?,
            seed: u64::from(u.arbitrary::<u16>()?),
            spares: *u.choose(&[0usize, 1, 1, 2])?,
            lease_reads: u.ratio(1u8, 3)?,
            max_clock_drift_percent: *u.choose(&[0, 10])?,
            auto_promote_learners: u.arbitrary()?,
        })
    }
}

/// One step of the schedule. Node numbers are taken modulo the cluster size; message numbers
/// modulo the number in flight.
#[derive(Clone, Debug, PartialEq, Eq, Arbitrary)]
pub enum Op {
    /// Deliver message `k` in flight.
    Deliver(u16),
    /// Deliver the oldest message addressed to this node.
    DeliverTo(u8),
    /// Deliver up to this many of the oldest messages in flight (1 to 8).
    DeliverOldest(u8),
    /// Lose message `k`.
    Drop(u16),
    /// Send message `k` again.
    Duplicate(u16),
    /// Tick a node (1 to 8 times).
    Tick {
        /// Which node.
        node: u8,
        /// How many ticks, minus one, modulo 8.
        times: u8,
    },
    /// Tick every node once.
    TickAll,
    /// A node's disk makes its oldest pending write durable; the acknowledgement waits.
    Persist(u8),
    /// The oldest acknowledgement on its way to a node arrives.
    Ack(u8),
    /// Every pending write of a node becomes durable and is acknowledged.
    PersistAll(u8),
    /// Up to this many rounds (1 to 8) of: every node's writes durable and acknowledged, then
    /// every message in flight delivered, oldest first.
    Settle(u8),
    /// A node crashes, tearing its oldest pending write or not.
    Crash {
        /// Which node.
        node: u8,
        /// Whether a prefix of the oldest pending write may survive.
        tear: bool,
    },
    /// A crashed node restarts.
    Restart(u8),
    /// The nodes whose bit is set are cut off from the others, both ways.
    Split(u8),
    /// Messages from the first node to the second are lost; the reverse works.
    OneWay(u8, u8),
    /// Whoever leads is cut off.
    IsolateLeader,
    /// Every link works again.
    Heal,
    /// The operator asks a node (the leader, if the schedule picks well) to hand leadership to
    /// another.
    Transfer {
        /// Which node is asked.
        node: u8,
        /// The target.
        to: u8,
    },
    /// A client asks a node to put a value.
    Propose {
        /// Which node.
        node: u8,
        /// The key (small, so keys collide).
        key: u8,
    },
    /// The operator asks for a membership change (thesis §4.3): at the leader if `at` is even,
    /// else at node `at / 2`.
    ChangeMembership {
        /// Where the change is proposed.
        at: u8,
        /// What it changes.
        change: Change,
    },
    /// The operator removes whoever leads (thesis §4.2.2: it leads on until the configuration
    /// without it is committed, then steps down).
    RemoveLeader,
    /// Whoever leads is asked to hand leadership to this node.
    TransferLeader(u8),
    /// A client asks a node for a linearizable read (thesis §6.4): a leader confirms it with a
    /// heartbeat round or its lease, a follower forwards it to its leader.
    Read {
        /// Which node.
        node: u8,
        /// The key.
        key: u8,
    },
    /// A client asks whoever leads for a linearizable read of this key.
    ReadAtLeader(u8),
}

/// Runs the target on one input with a correct engine. Panics on a finding.
pub fn run(data: &[u8]) {
    run_with(data, None);
}

/// Runs the target on one input with `canary` switched on in every node. Panics on a finding.
pub fn run_with(data: &[u8], canary: Option<Canary>) {
    let Some((setup, ops)) = decode(data) else {
        return;
    };
    if let Err(violation) = check(setup, &ops, canary) {
        panic!("safety violation: {violation}");
    }
}

/// Reads an input as the target does: a setup, then operations until the bytes run out.
pub fn decode(data: &[u8]) -> Option<(Setup, Vec<Op>)> {
    let mut u = Unstructured::new(data);
    let setup = Setup::arbitrary(&mut u).ok()?;
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < MAX_OPS {
        match Op::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    Some((setup, ops))
}

/// Plays `ops` on a fresh world; returns the first violation.
pub fn check(
    setup: Setup,
    ops: &[Op],
    canary: Option<Canary>,
) -> std::result::Result<(), Violation> {
    let mut world = world(setup, canary);
    for op in ops {
        apply(&mut world, &setup, op);
        if let Some(v) = world.violation() {
            return Err(v.clone());
        }
    }
    Ok(())
}

/// A fresh world for `setup`.
pub fn world(setup: Setup, canary: Option<Canary>) -> DrivenWorld {
    let mut raft = Scenario::generate(0, setup.nodes, Profile::Calm, Timing::default()).raft;
    raft.pre_vote = setup.pre_vote;
    raft.check_quorum = setup.check_quorum || setup.lease_reads;
    raft.election_timeout_ticks = setup.election_timeout_ticks;
    raft.heartbeat_interval_ticks = 1;
    raft.max_inflight_msgs = setup.max_inflight_msgs;
    raft.max_append_bytes = 256;
    raft.snapshot_interval = setup.snapshot_interval;
    raft.compaction_keep_entries = setup.compaction_keep_entries;
    raft.snapshot_chunk_bytes = setup.snapshot_chunk_bytes;
    raft.auto_promote_learners = setup.auto_promote_learners;
    raft.lease_reads = setup.lease_reads;
    raft.max_clock_drift_percent = setup.max_clock_drift_percent;
    // A lease shorter than one tick is refused: such a setup reads without leases.
    if raft.config(1, 0).validate().is_err() {
        raft.lease_reads = false;
    }
    raft.canary = canary;
    DrivenWorld::with_voters(setup.all_nodes(), setup.nodes, raft, setup.seed)
}

/// Carries out one operation (then, with synchronous storage, makes every write durable and
/// acknowledges it).
pub fn apply(world: &mut DrivenWorld, setup: &Setup, op: &Op) {
    let nodes = setup.all_nodes();
    let node = |n: u8| NodeId::from(n) % nodes as NodeId + 1;
    let pick = |world: &DrivenWorld, k: u16| {
        let len = world.in_flight().len();
        (len > 0).then(|| usize::from(k) % len)
    };
    // Thesis §6.4.1: leases assume clocks that run at the same rate, so under leases every tick
    // is a tick of every node.
    let tick = |world: &mut DrivenWorld, id: NodeId| {
        if setup.lease_reads {
            tick_all(world, nodes);
        } else {
            world.tick(id);
        }
    };
    match *op {
        Op::Deliver(k) => {
            if let Some(k) = pick(world, k) {
                world.deliver(k);
            }
        }
        Op::DeliverTo(n) => {
            let to = node(n);
            if let Some(k) = world.in_flight().iter().position(|m| m.to == to) {
                world.deliver(k);
            }
        }
        Op::DeliverOldest(n) => {
            for _ in 0..=(n % 8) {
                if world.in_flight().is_empty() {
                    break;
                }
                world.deliver(0);
            }
        }
        Op::Drop(k) => {
            if let Some(k) = pick(world, k) {
                world.drop_message(k);
            }
        }
        Op::Duplicate(k) => {
            if let Some(k) = pick(world, k) {
                world.duplicate(k);
            }
        }
        Op::Tick { node: n, times } => {
            for _ in 0..=(times % 8) {
                tick(world, node(n));
            }
        }
        Op::TickAll => tick_all(world, nodes),
        Op::Persist(n) => {
            world.persist(node(n));
        }
        Op::Ack(n) => world.ack(node(n)),
        Op::PersistAll(n) => world.persist_all(node(n)),
        Op::Settle(rounds) => {
            for _ in 0..=(rounds % 8) {
                persist_everywhere(world, nodes);
                let in_flight = world.in_flight().len();
                if in_flight == 0 {
                    break;
                }
                for _ in 0..in_flight.min(SETTLE_DELIVERIES) {
                    world.deliver(0);
                }
            }
        }
        Op::Crash { node: n, tear } => world.crash(node(n), tear),
        Op::Restart(n) => world.restart(node(n)),
        Op::Split(bits) => {
            let side = (1..=nodes as NodeId)
                .filter(|id| bits & (1 << ((id - 1) % 8)) != 0)
                .collect();
            world.partition(&Partition::Split { side });
        }
        Op::OneWay(a, b) => world.partition(&Partition::OneWay {
            from: vec![node(a)],
            to: vec![node(b)],
        }),
        Op::IsolateLeader => world.partition(&Partition::IsolateLeader),
        Op::Heal => world.heal(),
        Op::Transfer { node: n, to } => world.transfer(node(n), node(to)),
        Op::Propose { node: n, key } => world.propose(node(n), u64::from(key % 4), u64::from(key)),
        Op::ChangeMembership { at, change } => {
            let at = if at % 2 == 0 {
                world.leader()
            } else {
                Some(node(at / 2))
            };
            if let Some(at) = at {
                world.change_membership(at, change.conf_change(node));
            }
        }
        Op::RemoveLeader => {
            if let Some(leader) = world.leader() {
                world.change_membership(leader, ConfChange::remove(leader));
            }
        }
        Op::TransferLeader(to) => {
            if let Some(leader) = world.leader() {
                world.transfer(leader, node(to));
            }
        }
        Op::Read { node: n, key } => world.read(node(n), u64::from(key % 4)),
        Op::ReadAtLeader(key) => {
            if let Some(leader) = world.leader() {
                world.read(leader, u64::from(key % 4));
            }
        }
    }
    while world.in_flight().len() > MAX_IN_FLIGHT {
        world.drop_message(0);
    }
    if setup.sync_storage {
        persist_everywhere(world, nodes);
    }
}

/// Every node ticks once.
fn tick_all(world: &mut DrivenWorld, nodes: usize) {
    for id in 1..=nodes as NodeId {
        world.tick(id);
    }
}

/// Every node's pending writes become durable and are acknowledged.
fn persist_everywhere(world: &mut DrivenWorld, nodes: usize) {
    for id in 1..=nodes as NodeId {
        world.persist_all(id);
    }
}
