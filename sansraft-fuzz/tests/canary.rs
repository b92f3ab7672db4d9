//! The `cluster` target must find real bugs: with one of sansraft's canaries switched on, a
//! schedule trips the simulator's checker, and the same schedule is safe with the correct
//! engine.
//!
//! - earlier-term-commit (§5.4.2, Figure 8: a leader commits an entry of an earlier term by
//!   counting replicas): the schedule libFuzzer first found (`schedules/`), and the input it
//!   found with the current format (`fuzz/corpus/cluster-canary/earlier-term-commit`).
//! - read-without-quorum (thesis §6.4: a leader serves reads without confirming it still
//!   leads): a written schedule in which a deposed leader serves a read; the target's read
//!   check must see that the read misses a committed write.

mod schedules;

use sansraft::Canary;
use sansraft_fuzz::cluster::{self, Op, Setup};
use sansraft_fuzz::corpus;
use sansraft_sim::world::DrivenWorld;
use sansraft_sim::ViolationKind;

#[test]
fn the_cluster_target_catches_an_earlier_term_commit() {
    let data = corpus::input("cluster-canary", "earlier-term-commit");
    let found = cluster::decode(&data).expect("the input holds a setup");
    for (setup, ops) in [schedules::earlier_term_commit(), found] {
        caught_earlier_term_commit(setup, &ops);
    }
}

fn caught_earlier_term_commit(setup: Setup, ops: &[Op]) {
    let violation = cluster::check(setup, ops, Some(Canary::EarlierTermCommit))
        .expect_err("the checker must catch the canary");
    assert!(
        matches!(
            violation.failure.kind,
            ViolationKind::LeaderCompleteness
                | ViolationKind::StateMachineSafety
                | ViolationKind::LogMatching
        ),
        "caught as a lost or conflicting commit: {violation}"
    );
    if let Err(v) = cluster::check(setup, ops, None) {
        panic!("the correct engine must be safe on the same schedule: {v}");
    }
}

/// Ticks node `n` (0-based, as the target numbers them) faster than the others, and settles,
/// until a node other than `not` leads; returns it.
fn elect(world: &mut DrivenWorld, setup: &Setup, n: u8, not: Option<u64>) -> u64 {
    for _ in 0..20 {
        cluster::apply(world, setup, &Op::Tick { node: n, times: 3 });
        cluster::apply(world, setup, &Op::TickAll);
        cluster::apply(world, setup, &Op::Settle(7));
        if let Some(leader) = world.leader().filter(|&l| Some(l) != not) {
            return leader;
        }
    }
    panic!("no new leader: {:?}", world.violation());
}

/// A node leads and commits a write; it is cut off; another is elected and commits another
/// write; then a client asks the old leader to read.
fn deposed_leader_reads(canary: Option<Canary>) -> DrivenWorld {
    let setup = Setup {
        sync_storage: true,
        ..Setup::voters(3)
    };
    let mut world = cluster::world(setup, canary);
    let old = elect(&mut world, &setup, 0, None);
    let write = |world: &mut DrivenWorld, at: u64| {
        let node = (at - 1) as u8;
        cluster::apply(world, &setup, &Op::Propose { node, key: 1 });
        cluster::apply(world, &setup, &Op::Settle(7));
    };
    write(&mut world, old);
    cluster::apply(&mut world, &setup, &Op::IsolateLeader);
    let new = elect(&mut world, &setup, old as u8 % 3, Some(old));
    write(&mut world, new);
    assert_eq!(
        world.node(old).map(|n| n.role()),
        Some(sansraft::Role::Leader),
        "the old leader still believes it leads"
    );
    let node = (old - 1) as u8;
    cluster::apply(&mut world, &setup, &Op::Read { node, key: 1 });
    cluster::apply(&mut world, &setup, &Op::Settle(7));
    world
}

#[test]
fn the_cluster_target_catches_a_read_without_quorum() {
    let world = deposed_leader_reads(Some(Canary::ReadWithoutQuorum));
    let violation = world.violation().expect("the stale read must be caught");
    assert_eq!(
        violation.failure.kind,
        ViolationKind::StaleRead,
        "{violation}"
    );
    let world = deposed_leader_reads(None);
    assert!(world.violation().is_none(), "{:?}", world.violation());
    assert_eq!(world.stats().reads, 0, "a deposed leader serves no read");
}
