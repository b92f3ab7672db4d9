//! Election timeouts (§5.2): randomised, and split votes resolve.

use sansraft::{Body, Input, NodeId, Role};
use sansraft_testkit::{step_durable, Cluster};
use std::collections::{BTreeMap, BTreeSet};

use crate::helpers::*;

// ---------------------------------------------------------------------------------------------
// §5.2 Election timeouts
// ---------------------------------------------------------------------------------------------

// Raft §5.2 ("Leader election"): a follower that hears nothing for an election timeout starts an
// election, and election timeouts are chosen randomly from a fixed interval ([T, 2T) here) so
// that split votes are rare.
#[test]
fn follower_campaigns_after_a_randomised_election_timeout() {
    let mut first_timeouts = BTreeSet::new();
    let mut second_timeouts = BTreeSet::new();
    for seed in 0..64u64 {
        for pre_vote in [true, false] {
            let mut node = fresh_node(config(1, seed, pre_vote), &[1, 2, 3]);
            assert_eq!(node.config().election_timeout_ticks, T);
            let mut ticks = 0;
            let sent = loop {
                ticks += 1;
                let out = step_durable(&mut node, Input::Tick);
                if node.role() != Role::Follower {
                    break out.sent;
                }
                assert!(
                    out.sent.is_empty() && out.writes.is_empty(),
                    "seed {seed}: a follower acted before its timeout (tick {ticks})"
                );
                assert!(ticks < 2 * T, "seed {seed}: no campaign within 2T ticks");
            };
            assert!(
                (T..2 * T).contains(&ticks),
                "seed {seed}: campaigned after {ticks} ticks, outside [T, 2T)"
            );
            if pre_vote {
                assert_eq!(node.role(), Role::PreCandidate, "seed {seed}");
                assert_eq!(node.term(), 0, "a pre-candidate does not change its term");
                assert_eq!(node.vote(), None);
            } else {
                assert_eq!(node.role(), Role::Candidate, "seed {seed}");
                assert_eq!(node.term(), 1, "a candidate increments its term");
                assert_eq!(node.vote(), Some(1), "a candidate votes for itself");
            }
            // It asks every other voter, for the next term.
            let asked: BTreeSet<NodeId> = sent
                .iter()
                .filter(|m| {
                    matches!(m.body, Body::Vote(v) if v.pre_vote == pre_vote) && m.term == 1
                })
                .map(|m| m.to)
                .collect();
            assert_eq!(asked, BTreeSet::from([2, 3]), "seed {seed}: {sent:?}");
            first_timeouts.insert(ticks);

            // Nobody answers: it campaigns again after a fresh random timeout in [T, 2T).
            let mut again = 0;
            loop {
                again += 1;
                let out = step_durable(&mut node, Input::Tick);
                if out.sent.iter().any(|m| matches!(m.body, Body::Vote(_))) {
                    break;
                }
                assert!(
                    again < 2 * T,
                    "seed {seed}: no new campaign within 2T ticks"
                );
            }
            assert!(
                (T..2 * T).contains(&again),
                "seed {seed}: campaigned again after {again} ticks"
            );
            second_timeouts.insert(again);
        }
    }
    // Randomised: many different timeouts over the seeds, not one fixed value.
    assert!(
        first_timeouts.len() >= (T / 2) as usize,
        "timeouts not randomised: {first_timeouts:?}"
    );
    assert!(
        second_timeouts.len() >= (T / 2) as usize,
        "timeouts not re-randomised: {second_timeouts:?}"
    );
}

// Raft §5.2 ("Leader election", split votes): when several candidates split the vote, each times
// out with a fresh random timeout and the cluster eventually elects exactly one leader; Election
// Safety (at most one leader per term) holds at every point.
#[test]
fn split_votes_resolve_into_exactly_one_leader() {
    for n in [3u64, 5] {
        for seed in 0..8u64 {
            for pre_vote in [false, true] {
                let mut c = Cluster::with_config(n, |id| config(id, seed * 1000 + id, pre_vote));
                let mut leaders_by_term = BTreeMap::new();
                // Everyone times out before hearing from anyone.
                for id in c.ids() {
                    tick_until_campaign(&mut c, id);
                    check_election_safety(&c, &mut leaders_by_term);
                }
                if !pre_vote {
                    for id in c.ids() {
                        assert_eq!(c.node(id).role(), Role::Candidate);
                        assert_eq!(c.node(id).term(), 1);
                    }
                }
                while c.deliver_one() {
                    check_election_safety(&c, &mut leaders_by_term);
                }
                if !pre_vote {
                    // Every candidate voted for itself in term 1: a genuine split vote.
                    assert!(c.leaders().is_empty(), "n={n} seed={seed}: no split vote");
                }
                let mut converged = None;
                for _ in 0..500 {
                    for id in c.ids() {
                        c.tick(id);
                        check_election_safety(&c, &mut leaders_by_term);
                    }
                    while c.deliver_one() {
                        check_election_safety(&c, &mut leaders_by_term);
                    }
                    if let [leader] = c.leaders()[..] {
                        let term = c.node(leader).term();
                        if c.ids().iter().all(|&id| {
                            id == leader
                                || (c.node(id).role() == Role::Follower
                                    && c.node(id).leader() == Some(leader)
                                    && c.node(id).term() == term)
                        }) {
                            converged = Some((leader, term));
                            break;
                        }
                    }
                }
                let (leader, term) = converged.unwrap_or_else(|| {
                    panic!("n={n} seed={seed} pre_vote={pre_vote}: no single leader emerged")
                });
                // And it stays that way.
                for _ in 0..5 * T {
                    c.tick_all();
                    while c.deliver_one() {
                        check_election_safety(&c, &mut leaders_by_term);
                    }
                }
                assert_eq!(c.leaders(), vec![leader]);
                assert_eq!(c.node(leader).term(), term);
            }
        }
    }
}
