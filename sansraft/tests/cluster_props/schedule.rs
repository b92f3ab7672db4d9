//! The schedules: the operations a case runs and the setup it draws.

use proptest::prelude::*;

#[derive(Clone, Debug)]
pub(crate) enum Op {
    /// One tick of node i.
    Tick(usize),
    /// One tick of every node that is up.
    TickAll,
    /// Deliver the message at this position (modulo the number in flight).
    Deliver(usize),
    /// Deliver everything in flight, oldest first, including what that sends (bounded).
    DeliverAll,
    /// Lose the message at this position.
    Drop(usize),
    /// Duplicate the message at this position.
    Duplicate(usize),
    /// Propose a fresh command at node i.
    Propose(usize),
    /// Crash node i: it loses its memory and every write not yet durable.
    Crash(usize),
    /// Restart node i from its durable state with a new incarnation.
    Restart(usize),
    /// Make the oldest pending write of node i durable and acknowledge it.
    Persist(usize),
    /// Switch between storage that acknowledges at once and storage driven by `Persist`.
    ToggleAutoPersist,
    /// Propose a fresh command at the current leader (the one of the highest term), if any.
    ProposeAtLeader,
    /// Partition node i from everyone: messages from or to it are lost when delivered.
    Isolate(usize),
    /// Partition the current leader: it may go on appending entries nobody else gets.
    IsolateLeader,
    /// Remove every partition.
    Heal,
    /// Propose a membership change at the current leader, on node indices modulo the total.
    Change(MemberOp),
    /// Ask node i for a linearizable read (thesis §6.4).
    Read(usize),
}

/// A membership change (thesis §4.3), proposed at the current leader. Most are refused in
/// whatever state the cluster is in; those that are not go through joint consensus.
#[derive(Clone, Copy, Debug)]
pub(crate) enum MemberOp {
    AddLearner(usize),
    Promote(usize),
    Remove(usize),
    /// Promote the first, remove the second, in one joint change.
    Replace(usize, usize),
    LeaveJoint,
}

/// Nodes beyond the initial voters in membership schedules: they start outside the cluster.
pub(crate) const SPARES: usize = 2;

pub(crate) fn member_op(total: usize) -> impl Strategy<Value = MemberOp> {
    prop_oneof![
        3 => (0..total).prop_map(MemberOp::AddLearner),
        3 => (0..total).prop_map(MemberOp::Promote),
        2 => (0..total).prop_map(MemberOp::Remove),
        2 => (0..total, 0..total).prop_map(|(a, b)| MemberOp::Replace(a, b)),
        1 => Just(MemberOp::LeaveJoint),
    ]
}

/// Schedules for `n` voters and [`SPARES`] spare nodes, with membership changes mixed in.
pub(crate) fn membership_schedule(
    n: usize,
    max_len: usize,
) -> impl Strategy<Value = (Setup, Vec<Op>)> {
    let total = n + SPARES;
    let ops = prop_oneof![
        20 => op(total),
        2 => member_op(total).prop_map(Op::Change),
    ];
    (setup(), prop::collection::vec(ops, 1..=max_len))
}

pub(crate) fn op(n: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        14 => (0..n).prop_map(Op::Tick),
        8 => Just(Op::TickAll),
        30 => any::<usize>().prop_map(Op::Deliver),
        6 => Just(Op::DeliverAll),
        3 => any::<usize>().prop_map(Op::Drop),
        3 => any::<usize>().prop_map(Op::Duplicate),
        12 => (0..n).prop_map(Op::Propose),
        3 => (0..n).prop_map(Op::Crash),
        4 => (0..n).prop_map(Op::Restart),
        12 => (0..n).prop_map(Op::Persist),
        1 => Just(Op::ToggleAutoPersist),
        6 => Just(Op::ProposeAtLeader),
        1 => (0..n).prop_map(Op::Isolate),
        2 => Just(Op::IsolateLeader),
        2 => Just(Op::Heal),
        4 => (0..n).prop_map(Op::Read),
    ]
}

#[derive(Clone, Debug)]
pub(crate) struct Setup {
    /// Election timeout and heartbeat interval, in ticks.
    pub(crate) timing: (u32, u32),
    pub(crate) auto_persist: bool,
    pub(crate) pre_vote: bool,
    pub(crate) check_quorum: bool,
    pub(crate) max_inflight_msgs: usize,
    pub(crate) max_append_bytes: u64,
    pub(crate) max_uncommitted_bytes: u64,
    pub(crate) seed: u64,
}

pub(crate) fn setup() -> impl Strategy<Value = Setup> {
    (
        prop_oneof![Just((2u32, 1u32)), Just((3, 1)), Just((4, 2)), Just((6, 2))],
        prop::bool::weighted(0.75),
        any::<bool>(),
        any::<bool>(),
        1usize..=4,
        prop_oneof![Just(1u64), Just(80), Just(1 << 20)],
        prop_oneof![Just(150u64), Just(64 << 20)],
        any::<u64>(),
    )
        .prop_map(
            |(
                timing,
                auto_persist,
                pre_vote,
                check_quorum,
                max_inflight_msgs,
                max_append_bytes,
                max_uncommitted_bytes,
                seed,
            )| Setup {
                timing,
                auto_persist,
                pre_vote,
                check_quorum,
                max_inflight_msgs,
                max_append_bytes,
                max_uncommitted_bytes,
                seed,
            },
        )
}

pub(crate) fn schedule(n: usize, max_len: usize) -> impl Strategy<Value = (Setup, Vec<Op>)> {
    (setup(), prop::collection::vec(op(n), 1..=max_len))
}
