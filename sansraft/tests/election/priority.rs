//! Leader priorities (docs/design.md, "Leader priorities"): elections favour higher priorities
//! by timing alone, a leader of lower priority hands over to a caught-up voter of higher
//! priority (thesis §3.10), and nothing of it costs safety or liveness.

use sansraft::{
    ConfChange, Config, Input, Membership, NodeId, Priority, Role, Term, TransferOutcome,
};
use sansraft_testkit::{step_durable, Cluster};
use std::collections::BTreeMap;

use crate::helpers::*;

/// Voters 1..=n with the given priorities.
fn prioritised(n: u64, priorities: &[(NodeId, u32)]) -> Membership {
    let mut m = Membership::with_voters(1..=n);
    m.priorities = priorities
        .iter()
        .map(|&(id, priority)| Priority { id, priority })
        .collect();
    m.priorities.sort_by_key(|p| p.id);
    m
}

fn cluster(n: u64, priorities: &[(NodeId, u32)], seed: u64) -> Cluster {
    Cluster::with_membership(prioritised(n, priorities), n, |id| {
        Config::new(id, seed.wrapping_mul(31) ^ (id * 7919))
    })
    .checked()
}

/// Rounds of ticks and deliveries until every up node agrees on one leader of the highest
/// term (at most `max` rounds); the leader, or `None`.
fn settle(c: &mut Cluster, max: usize) -> Option<NodeId> {
    for _ in 0..max {
        c.run(1);
        let leaders = c.leaders();
        if leaders.len() == 1 {
            return Some(leaders[0]);
        }
    }
    None
}

/// The leader changes seen over `rounds` rounds: (term, leader) in order.
fn leaderships(c: &mut Cluster, rounds: usize) -> Vec<(Term, NodeId)> {
    let mut seen: Vec<(Term, NodeId)> = Vec::new();
    for _ in 0..rounds {
        c.run(1);
        for id in c.leaders() {
            let term = c.node(id).term();
            if !seen.contains(&(term, id)) {
                seen.push((term, id));
            }
        }
    }
    seen
}

// A member below the highest priority among the voters that may lead times out an election
// timeout later than §5.2's [T, 2T): in [2T, 3T). The preferred member keeps [T, 2T).
#[test]
fn lower_priorities_time_out_an_election_timeout_later() {
    let m = prioritised(3, &[(2, 7), (3, 1)]);
    for seed in 0..64 {
        for (id, range) in [(1, 2 * T..3 * T), (2, T..2 * T), (3, 2 * T..3 * T)] {
            let state = sansraft::DurableState::bootstrap(m.clone());
            let mut node = sansraft::Node::new(config(id, seed, true), state, 0).unwrap();
            let mut ticks = 0;
            while node.role() == Role::Follower {
                ticks += 1;
                step_durable(&mut node, Input::Tick);
                assert!(ticks < 4 * T, "seed {seed}: node {id} never campaigned");
            }
            assert!(
                range.contains(&ticks),
                "seed {seed}: node {id} campaigned after {ticks} ticks, outside {range:?}"
            );
        }
    }
}

// The preferred member wins a clean start: it times out first, and nobody else campaigns
// before its election is over.
#[test]
fn the_preferred_member_wins_a_clean_start() {
    for seed in 0..200 {
        let mut c = cluster(5, &[(1, 1), (4, 9), (5, 3)], seed);
        assert_eq!(settle(&mut c, 100), Some(4), "seed {seed}");
        assert_eq!(c.node(4).term(), 1, "seed {seed}: one election");
        assert!(c.breach.is_none(), "seed {seed}: {:?}", c.breach);
    }
}

// Liveness when the preferred member is down: nobody refuses a vote for priority reasons, so
// the others elect a leader once their longer timeouts run out, within 3T ticks and a split
// vote or two.
#[test]
fn without_the_preferred_member_the_others_elect_a_leader() {
    let mut worst = 0;
    for seed in 0..200 {
        let mut c = cluster(5, &[(2, 9)], seed);
        c.crash(2);
        let mut rounds = 0;
        while c.leaders().is_empty() {
            rounds += 1;
            c.run(1);
            assert!(
                rounds <= 6 * T,
                "seed {seed}: no leader after {rounds} rounds"
            );
        }
        worst = worst.max(rounds);
        assert!(c.breach.is_none(), "seed {seed}: {:?}", c.breach);
    }
    assert!(worst >= 2 * T, "the others wait past [T, 2T)");
}

// A leader of lower priority hands over to the preferred member once it is back and has
// caught up, through an ordinary transfer (thesis §3.10), whose outcome it reports.
#[test]
fn a_lower_priority_leader_hands_over_once_the_preferred_member_caught_up() {
    for seed in 0..50 {
        let mut c = cluster(3, &[(3, 5)], seed);
        c.crash(3);
        let leader = settle(&mut c, 100).expect("a leader without node 3");
        assert_ne!(leader, 3);
        for i in 0..5 {
            c.propose(leader, &format!("x{i}")).unwrap();
        }
        c.run(3);
        assert_eq!(
            c.leaders(),
            vec![leader],
            "seed {seed}: no hand-over while 3 is down"
        );
        c.restart(3);
        let mut rounds = 0;
        while c.leaders() != vec![3] {
            rounds += 1;
            c.run(1);
            assert!(
                rounds <= 3 * T,
                "seed {seed}: no hand-over in {rounds} rounds"
            );
        }
        assert_eq!(c.node(leader).counters().priority_transfers, 1);
        assert!(c
            .transfers
            .contains(&(leader, TransferOutcome::Done { target: 3 })));
        assert_eq!(c.applied_data(3).len(), 5, "seed {seed}: nothing lost");
        assert!(c.breach.is_none(), "seed {seed}: {:?}", c.breach);
    }
}

// The leader hands over to the highest priority above its own (ties: the lowest id), and
// from there nobody moves leadership again.
#[test]
fn leadership_climbs_to_the_highest_priority_and_stays() {
    let mut c = cluster(5, &[(2, 4), (3, 4), (5, 1)], 7);
    c.crash(2);
    c.crash(3);
    let first = settle(&mut c, 100).unwrap();
    assert!([1, 4, 5].contains(&first));
    c.restart(3);
    c.restart(2);
    let seen = leaderships(&mut c, 20 * T as usize);
    let last = seen.last().unwrap().1;
    assert_eq!(last, 2, "ties go to the lowest id: {seen:?}");
    let total: u64 = (1..=5)
        .map(|id| c.node(id).counters().priority_transfers)
        .sum();
    assert!(total <= 2, "at most one hop per priority level: {seen:?}");
}

// Hysteresis: equal priorities never move leadership, so it never ping-pongs.
#[test]
fn equal_priorities_never_ping_pong() {
    for seed in 0..20 {
        let mut c = cluster(3, &[(1, 5), (2, 5), (3, 5)], seed);
        let seen = leaderships(&mut c, 30 * T as usize);
        assert_eq!(seen.len(), 1, "seed {seed}: {seen:?}");
        for id in 1..=3 {
            assert_eq!(c.node(id).counters().priority_transfers, 0);
        }
    }
}

// A priority set at runtime (ConfChange::set_priority, a one-step change) takes effect once
// committed: the leader hands over to the member it now prefers.
#[test]
fn a_priority_set_at_runtime_takes_effect() {
    let mut c = cluster(3, &[], 3);
    let leader = settle(&mut c, 100).unwrap();
    let preferred = if leader == 2 { 3 } else { 2 };
    c.change(leader, ConfChange::set_priority(preferred, 1))
        .unwrap();
    let seen = leaderships(&mut c, 5 * T as usize);
    assert_eq!(seen.last().unwrap().1, preferred, "{seen:?}");
    assert_eq!(c.node(preferred).membership().priority(preferred), 1);
    // Back to none: nobody is preferred, and leadership stays where it is.
    c.change(preferred, ConfChange::set_priority(preferred, 0))
        .unwrap();
    let seen = leaderships(&mut c, 5 * T as usize);
    assert_eq!(seen, vec![(c.node(preferred).term(), preferred)]);
}

// A witness never leads: whatever its priority, no leader hands over to it, and it delays
// nobody's election timeout.
#[test]
fn a_witness_priority_moves_nothing() {
    let mut m = prioritised(3, &[(3, 9)]);
    m.witnesses = vec![3];
    let mut c = Cluster::with_membership(m, 3, |id| Config::new(id, id)).checked();
    let seen = leaderships(&mut c, 10 * T as usize);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_ne!(seen[0].1, 3);
    assert_eq!(c.node(seen[0].1).counters().priority_transfers, 0);
}

// A preferred member that the leader hears but that cannot win (its vote requests reach only
// the leader, not a majority): each automatic transfer aborts, and the leader waits twice as
// long after each abort (2T, 4T, then 8T ticks) before the next, so the cluster does not flap.
#[test]
fn a_preferred_member_that_cannot_win_is_retried_with_back_off() {
    let mut c = cluster(5, &[(5, 9)], 11);
    c.crash(5);
    let leader = settle(&mut c, 100).unwrap();
    for other in 1..=4 {
        if other != leader {
            c.cut.insert((5, other));
            c.cut.insert((other, 5));
        }
    }
    c.restart(5);
    let mut leaderless = 0;
    let mut backoffs = BTreeMap::new();
    for _ in 0..60 * T {
        c.run(1);
        if c.leaders().is_empty() {
            leaderless += 1;
        }
        for id in 1..=4 {
            let b = c.node(id).hand_over_backoff_ticks();
            let max = backoffs.entry(id).or_insert(0);
            *max = (*max).max(b);
        }
    }
    let started: u64 = (1..=4)
        .map(|id| c.node(id).counters().priority_transfers)
        .sum();
    assert!(started >= 2, "the leader tried ({started})");
    // Without the back-off a transfer would start every election timeout or so.
    assert!(started <= 8, "{started} automatic transfers in 60T ticks");
    assert!(
        backoffs.values().any(|&b| b == u64::from(8 * T)),
        "{backoffs:?}"
    );
    assert!(
        leaderless < 30 * T,
        "leaderless for {leaderless} of {} rounds",
        60 * T
    );
    assert!(c.breach.is_none(), "{:?}", c.breach);
}

// Thesis §6.4.1 with §3.10: an automatic hand-over is a transfer, so it ends the leader's lease
// for the rest of its term (its target's flagged vote requests pass the followers' leases).
#[test]
fn a_hand_over_ends_the_leaders_lease() {
    let mut c = Cluster::with_membership(prioritised(3, &[]), 3, |id| {
        let mut config = Config::new(id, id);
        config.lease_reads = true;
        config
    })
    .checked();
    let leader = settle(&mut c, 100).unwrap();
    c.run(3);
    let preferred = if leader == 2 { 3 } else { 2 };
    c.change(leader, ConfChange::set_priority(preferred, 1))
        .unwrap();
    c.deliver_all();
    assert!(
        c.node(leader).lease_ticks_left().is_some(),
        "a lease to end"
    );
    // Committed: the next tick starts the hand-over.
    c.tick(leader);
    assert_eq!(c.node(leader).transfer_target(), Some(preferred));
    assert_eq!(c.node(leader).role(), Role::Leader);
    assert_eq!(c.node(leader).lease_ticks_left(), None);
    c.deliver_all();
    assert_eq!(c.leaders(), vec![preferred]);
    assert!(c.breach.is_none(), "{:?}", c.breach);
}
