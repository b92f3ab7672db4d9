//! Leader election: the rules of Raft §5.1, §5.2 and §5.4.1, and the thesis extensions
//! pre-vote (§9.6), check-quorum (§6.2) and leader stickiness (§4.2.3).
//!
//! Each test checks one rule and names the section it comes from.

use bytes::Bytes;
use sansraft::message::{AppendResponse, HeartbeatResponse, VoteRequest, VoteResponse};
use sansraft::{
    Body, Config, DurableState, Entry, EntryKind, HardState, Index, Input, Membership, Message,
    Node, NodeId, ProposeError, Role, SnapshotMeta, Term,
};
use sansraft_testkit::{step_durable, Cluster};
use std::collections::{BTreeMap, BTreeSet};

/// The default election timeout T of [`Config::new`], in ticks.
const T: u32 = 10;

fn config(id: NodeId, seed: u64, pre_vote: bool) -> Config {
    let mut config = Config::new(id, seed);
    config.pre_vote = pre_vote;
    config
}

fn fresh_node(config: Config, voters: &[NodeId]) -> Node {
    let state = DurableState::bootstrap(Membership::with_voters(voters.iter().copied()));
    Node::new(config, state, 0).expect("valid start state")
}

fn entry(index: Index, term: Term) -> Entry {
    Entry {
        term,
        index,
        kind: EntryKind::Normal,
        data: Bytes::from(format!("e{index}")),
    }
}

fn vote_request(from: NodeId, to: NodeId, term: Term, last: (Index, Term), pre: bool) -> Message {
    Message {
        from,
        to,
        term,
        body: Body::Vote(VoteRequest {
            pre_vote: pre,
            last_index: last.0,
            last_term: last.1,
            transfer: false,
        }),
    }
}

/// The vote responses in `sent`, as (from, to, term, pre_vote, granted).
fn vote_responses(sent: &[Message]) -> Vec<(NodeId, NodeId, Term, bool, bool)> {
    sent.iter()
        .filter_map(|m| match m.body {
            Body::VoteResponse(VoteResponse { pre_vote, granted }) => {
                Some((m.from, m.to, m.term, pre_vote, granted))
            }
            _ => None,
        })
        .collect()
}

fn no_pre_vote(id: NodeId) -> Config {
    config(id, id * 7919, false)
}

/// Ticks `id` (alone) until it leaves the follower role; returns how many ticks it took.
fn tick_until_campaign(c: &mut Cluster, id: NodeId) -> u32 {
    for n in 1..=10 * T {
        c.tick(id);
        if c.node(id).role() != Role::Follower {
            return n;
        }
    }
    panic!("node {id} never campaigned");
}

/// Election Safety (§5.2): records every leader seen per term and fails on a second one.
fn check_election_safety(c: &Cluster, leaders_by_term: &mut BTreeMap<Term, NodeId>) {
    for node in c.peers.iter().filter_map(|p| p.node.as_ref()) {
        if node.role() == Role::Leader {
            let first = *leaders_by_term.entry(node.term()).or_insert(node.id());
            assert_eq!(
                first,
                node.id(),
                "two leaders in term {}: {first} and {}",
                node.term(),
                node.id()
            );
        }
    }
}

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

// ---------------------------------------------------------------------------------------------
// §5.1 Terms
// ---------------------------------------------------------------------------------------------

// Raft §5.1 ("Raft basics"): "If a candidate or leader discovers that its term is out of date, it
// immediately reverts to follower state", adopting the higher term; its vote was for the old
// term, so it has none in the new one.
#[test]
fn leader_steps_down_on_a_message_with_a_higher_term() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.deliver_all();
    let term = c.node(1).term();
    assert_eq!(c.node(1).vote(), Some(1));
    // A response from a follower that has moved on to a later term.
    c.step(
        1,
        Input::Message(Message {
            from: 2,
            to: 1,
            term: term + 3,
            body: Body::HeartbeatResponse(HeartbeatResponse { round: 0 }),
        }),
    );
    let node = c.node(1);
    assert_eq!(node.role(), Role::Follower);
    assert_eq!(node.term(), term + 3, "adopts the higher term");
    assert_eq!(node.vote(), None, "no vote in the new term");
    assert_eq!(node.leader(), None);
    assert_eq!(
        node.durable_hard_state(),
        HardState {
            term: term + 3,
            vote: None,
            commit: node.status().commit
        },
        "the new term and cleared vote are persisted"
    );
    assert_eq!(
        c.propose(1, "x"),
        Err(ProposeError::NotLeader { leader: None })
    );

    // The same for an append acknowledgement from a later term, and a candidate hearing from a
    // leader of a later term follows it.
    let mut c = Cluster::new(3);
    c.elect(2);
    c.deliver_all();
    let term = c.node(2).term();
    c.step(
        2,
        Input::Message(Message {
            from: 3,
            to: 2,
            term: term + 1,
            body: Body::AppendResponse(AppendResponse::Accepted { match_index: 0 }),
        }),
    );
    assert_eq!(c.node(2).role(), Role::Follower);
    assert_eq!(c.node(2).term(), term + 1);
    assert_eq!(c.node(2).vote(), None);

    let mut candidate = fresh_node(config(1, 3, false), &[1, 2, 3]);
    while candidate.role() != Role::Candidate {
        let _ = step_durable(&mut candidate, Input::Tick);
    }
    assert_eq!((candidate.term(), candidate.vote()), (1, Some(1)));
    let _ = step_durable(
        &mut candidate,
        Input::Message(Message {
            from: 3,
            to: 1,
            term: 4,
            body: Body::Heartbeat(sansraft::message::Heartbeat {
                commit: 0,
                round: 0,
            }),
        }),
    );
    assert_eq!(candidate.role(), Role::Follower);
    assert_eq!(candidate.term(), 4);
    assert_eq!(candidate.vote(), None);
    assert_eq!(candidate.leader(), Some(3));
}

// ---------------------------------------------------------------------------------------------
// §5.2 One vote per term
// ---------------------------------------------------------------------------------------------

// Raft §5.2 ("each server will vote for at most one candidate in a given term") and Figure 2
// (votedFor is persistent state): a vote that became durable survives a crash, so the restarted
// voter refuses a second candidate in the same term.
#[test]
fn one_vote_per_term_survives_a_restart() {
    let mut c = Cluster::with_config(3, no_pre_vote);
    tick_until_campaign(&mut c, 1);
    assert_eq!((c.node(1).role(), c.node(1).term()), (Role::Candidate, 1));
    // Only node 2 hears from candidate 1.
    c.network.retain(|m| m.to == 2);
    assert!(c.deliver_one());
    assert_eq!(c.node(2).vote(), Some(1));
    assert_eq!(
        c.node(2).durable_hard_state(),
        HardState {
            term: 1,
            vote: Some(1),
            commit: 0
        },
        "the vote is durable"
    );
    assert_eq!(vote_responses(&c.sent_log), vec![(2, 1, 1, false, true)]);
    // The answer is lost and node 2 crashes.
    c.network.clear();
    c.crash(2);
    c.restart(2);
    assert_eq!((c.node(2).term(), c.node(2).vote()), (1, Some(1)));

    // Node 3 campaigns in the same term and asks node 2.
    tick_until_campaign(&mut c, 3);
    assert_eq!((c.node(3).role(), c.node(3).term()), (Role::Candidate, 1));
    c.network.retain(|m| m.to == 2);
    c.deliver_all();
    let answers: Vec<_> = vote_responses(&c.sent_log)
        .into_iter()
        .filter(|r| r.1 == 3)
        .collect();
    assert_eq!(
        answers,
        vec![(2, 3, 1, false, false)],
        "refused: already voted"
    );
    assert_eq!(c.node(2).vote(), Some(1));
    assert_ne!(c.node(3).role(), Role::Leader);

    // Asking again for the candidate it voted for is answered yes (idempotent).
    c.step(2, Input::Message(vote_request(1, 2, 1, (0, 0), false)));
    assert_eq!(
        vote_responses(&c.sent_log).last(),
        Some(&(2, 1, 1, false, true))
    );
}

// Raft §5.2 with Figure 2's rule that persistent state is on stable storage before responding:
// if the voter crashes before its vote is durable, the vote was never sent, so voting for another
// candidate in the same term after the restart cannot produce two votes in one term.
#[test]
fn a_vote_lost_in_a_crash_was_never_sent() {
    let mut c = Cluster::with_config(3, no_pre_vote);
    tick_until_campaign(&mut c, 1);
    c.network.retain(|m| m.to == 2);
    c.auto_persist = false;
    assert!(c.deliver_one());
    assert_eq!(c.node(2).vote(), Some(1), "voted in memory");
    assert_eq!(
        c.node(2).held_messages(),
        1,
        "the answer waits for the write"
    );
    assert!(
        vote_responses(&c.sent_log).is_empty(),
        "a vote was sent before it was durable: {:?}",
        c.sent_log
    );
    assert!(c.network.is_empty());
    c.crash(2);
    c.restart(2);
    assert_eq!(
        (c.node(2).term(), c.node(2).vote()),
        (0, None),
        "the vote was lost"
    );
    assert!(vote_responses(&c.sent_log).is_empty());

    // After the restart it may vote for node 3 in term 1: node 1 never got a vote from it.
    c.auto_persist = true;
    tick_until_campaign(&mut c, 3);
    assert_eq!(c.node(3).term(), 1);
    c.network.retain(|m| m.to == 2);
    c.deliver_all();
    let granted_by_2: Vec<_> = vote_responses(&c.sent_log)
        .into_iter()
        .filter(|r| r.0 == 2 && r.4)
        .collect();
    assert_eq!(granted_by_2, vec![(2, 3, 1, false, true)]);
    // Node 3 wins term 1 with node 2's vote; node 1 never could.
    assert_eq!(c.leaders(), vec![3]);
    assert_eq!(c.node(1).leader(), Some(3));
}

// ---------------------------------------------------------------------------------------------
// §5.4.1 Election restriction
// ---------------------------------------------------------------------------------------------

// Raft §5.4.1 ("Election restriction"): a voter denies its vote if its own log is more up to date
// than the candidate's: a higher last term, or the same last term and a longer log.
#[test]
fn vote_refused_to_a_candidate_with_a_less_up_to_date_log() {
    // The voter's log: 1@1, 2@2 (index@term).
    let voter = || {
        let state = DurableState {
            hard_state: HardState {
                term: 2,
                vote: None,
                commit: 0,
            },
            snapshot: SnapshotMeta {
                index: 0,
                term: 0,
                membership: Membership::with_voters([1, 2, 3]),
            },
            entries: vec![entry(1, 1), entry(2, 2)],
            applied: 0,
        };
        Node::new(config(2, 5, false), state, 0).expect("valid state")
    };
    // (candidate's last index, last term, should be granted)
    let cases = [
        ((1, 1), false), // older last term, shorter
        ((5, 1), false), // older last term, longer
        ((1, 2), false), // same last term, shorter
        ((0, 0), false), // empty log
        ((2, 2), true),  // identical
        ((3, 2), true),  // same last term, longer
        ((1, 3), true),  // newer last term, shorter
    ];
    for (last, expect) in cases {
        for pre_vote in [false, true] {
            let mut node = voter();
            let out = step_durable(
                &mut node,
                Input::Message(vote_request(3, 2, 3, last, pre_vote)),
            );
            let answers = vote_responses(&out.sent);
            assert_eq!(answers.len(), 1, "candidate log {last:?}: {answers:?}");
            let (from, to, _, pre, granted) = answers[0];
            assert_eq!((from, to, pre), (2, 3, pre_vote));
            assert_eq!(
                granted, expect,
                "candidate log {last:?} (voter's 2@2), pre_vote={pre_vote}"
            );
            if pre_vote {
                assert_eq!(
                    (node.term(), node.vote()),
                    (2, None),
                    "a poll changes nothing"
                );
            } else {
                assert_eq!(node.term(), 3, "the higher term is adopted either way");
                assert_eq!(node.vote(), expect.then_some(3));
                assert_eq!(node.durable_hard_state().vote, expect.then_some(3));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pre-vote (thesis §9.6)
// ---------------------------------------------------------------------------------------------

// Thesis §9.6 ("Preventing disruptions when a server rejoins the cluster"): with pre-vote, a
// partitioned server keeps polling but does not increase its term, and when it rejoins it does
// not depose the leader.
#[test]
fn pre_vote_keeps_a_partitioned_node_from_disrupting_the_cluster() {
    let mut c = Cluster::new(3);
    assert!(c.node(2).config().pre_vote);
    c.elect(1);
    c.run(3);
    let term = c.node(1).term();
    assert_eq!(c.node(2).leader(), Some(1));
    c.isolate(2);
    for _ in 0..20 * T {
        c.tick_all();
        c.deliver_all();
        assert_eq!(c.node(2).term(), term, "the isolated node's term grew");
        assert_eq!(c.leaders(), vec![1]);
        assert_eq!(c.node(1).term(), term);
    }
    let polls = c
        .sent_log
        .iter()
        .filter(|m| m.from == 2 && matches!(m.body, Body::Vote(v) if v.pre_vote))
        .count();
    assert!(
        polls >= 2,
        "the isolated node should have polled (sent {polls})"
    );
    assert_ne!(c.node(2).role(), Role::Leader);

    c.heal();
    for _ in 0..20 * T {
        c.tick_all();
        c.deliver_all();
        assert_eq!(c.leaders(), vec![1], "the leader was disrupted");
        assert_eq!(c.node(1).term(), term, "the leader's term changed");
    }
    assert_eq!(c.node(2).role(), Role::Follower);
    assert_eq!(c.node(2).leader(), Some(1));
    assert_eq!(c.node(2).term(), term);
}

// Thesis §9.6, contrast: without pre-vote the partitioned server increments its term on every
// election timeout, and on rejoining forces the leader to step down.
#[test]
fn without_pre_vote_a_partitioned_node_inflates_its_term() {
    let mut c = Cluster::with_config(3, no_pre_vote);
    c.elect(1);
    c.run(3);
    let term = c.node(1).term();
    c.isolate(2);
    c.run(20 * T as usize);
    assert!(
        c.node(2).term() >= term + 5,
        "isolated node's term {} did not grow from {term}",
        c.node(2).term()
    );
    assert_eq!(c.leaders(), vec![1], "the majority side is undisturbed");
    assert_eq!(c.node(1).term(), term);

    let inflated = c.node(2).term();
    c.heal();
    c.run(20 * T as usize);
    assert_eq!(c.leaders().len(), 1);
    let leader = c.leaders()[0];
    assert!(
        c.node(leader).term() >= inflated,
        "the rejoining node's term {inflated} should have forced a new election (leader term {})",
        c.node(leader).term()
    );
}

// Thesis §9.6 (pre-vote) with §5.2: a server that starts polling has stopped believing in a
// leader, so it must not report one (clients would be redirected to a leader it gave up on).
#[test]
fn pre_candidate_forgets_its_leader() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.run(2);
    assert_eq!(c.node(2).leader(), Some(1));
    let term = c.node(2).term();
    c.isolate(2);
    tick_until_campaign(&mut c, 2);
    assert_eq!(c.node(2).role(), Role::PreCandidate);
    assert_eq!(c.node(2).leader(), None);
    assert_eq!(c.node(2).term(), term);
    assert_eq!(c.node(2).status().leader, None);
    assert_eq!(
        c.propose(2, "x"),
        Err(ProposeError::NotLeader { leader: None })
    );
}

// ---------------------------------------------------------------------------------------------
// Check-quorum (thesis §6.2)
// ---------------------------------------------------------------------------------------------

// Thesis §6.2 ("Routing requests to the leader"): a leader that fails to hear from a majority of
// the cluster for an election timeout steps down. Without check-quorum it stays leader.
#[test]
fn check_quorum_makes_an_isolated_leader_step_down() {
    // Control: a connected leader keeps leading.
    let mut c = Cluster::new(3);
    c.elect(1);
    c.run(10 * T as usize);
    assert_eq!(c.leaders(), vec![1]);

    let mut c = Cluster::new(3);
    assert!(c.node(1).config().check_quorum);
    c.elect(1);
    c.run(2);
    let term = c.node(1).term();
    c.isolate(1);
    let mut stepped_down = None;
    for k in 1..=3 * T {
        c.tick(1);
        c.deliver_all();
        if c.node(1).role() != Role::Leader {
            stepped_down = Some(k);
            break;
        }
    }
    let k = stepped_down.expect("the isolated leader never stepped down");
    assert!(
        (T..=2 * T).contains(&k),
        "stepped down after {k} ticks, expected about one election timeout ({T})"
    );
    assert_eq!(c.node(1).role(), Role::Follower);
    assert_eq!(c.node(1).leader(), None);
    assert_eq!(c.node(1).term(), term);

    // Without check-quorum the isolated leader stays leader indefinitely.
    let mut c = Cluster::with_config(3, |id| {
        let mut config = Config::new(id, id * 7919);
        config.check_quorum = false;
        config
    });
    c.elect(1);
    c.run(2);
    c.isolate(1);
    for _ in 0..20 * T {
        c.tick(1);
        c.deliver_all();
    }
    assert_eq!(c.node(1).role(), Role::Leader);
}

// ---------------------------------------------------------------------------------------------
// Leader stickiness (thesis §4.2.3)
// ---------------------------------------------------------------------------------------------

// Thesis §4.2.3 ("Disruptive servers"): a server that heard from a current leader within the
// minimum election timeout ignores RequestVote, even with a higher term: it neither adopts the
// term nor answers.
#[test]
fn follower_in_leader_lease_ignores_higher_term_vote_requests() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.run(2);
    let term = c.node(2).term();
    assert_eq!(c.node(2).leader(), Some(1));
    let before = *c.node(2).counters();
    let vote_before = c.node(2).vote();
    let sent_before = c.sent_log.len();
    let last = (c.node(2).status().last_index, term);
    for pre_vote in [false, true] {
        c.step(
            2,
            Input::Message(vote_request(3, 2, term + 1, last, pre_vote)),
        );
    }
    assert_eq!(
        c.node(2).counters().vote_ignored_in_lease,
        before.vote_ignored_in_lease + 2
    );
    assert_eq!(c.node(2).term(), term, "term unchanged");
    assert_eq!(c.node(2).vote(), vote_before, "vote unchanged");
    assert_eq!(c.node(2).leader(), Some(1));
    assert!(
        vote_responses(&c.sent_log[sent_before..]).is_empty(),
        "no answer while in the lease"
    );

    // Contrast: once no leader was heard from for an election timeout, the same request counts.
    c.isolate(2);
    for _ in 0..T {
        c.tick(2);
    }
    c.network.clear();
    c.heal();
    c.step(2, Input::Message(vote_request(3, 2, term + 1, last, false)));
    assert_eq!(
        c.node(2).counters().vote_ignored_in_lease,
        before.vote_ignored_in_lease + 2
    );
    assert_eq!(c.node(2).term(), term + 1);
    assert_eq!(c.node(2).vote(), Some(3));
}

// ---------------------------------------------------------------------------------------------
// Non-voters (thesis §4.2.1)
// ---------------------------------------------------------------------------------------------

// Thesis §4.2.1 ("Catching up new servers") and §4.3: learners (non-voting members), and servers
// not in the configuration at all, never start elections however long they hear nothing.
#[test]
fn non_voters_never_campaign() {
    let with_learner = Membership {
        voters: vec![1, 2, 3],
        outgoing: Vec::new(),
        learners: vec![4],
    };
    for (id, membership) in [
        (4, with_learner.clone()),
        (9, with_learner),
        (4, Membership::with_voters([1, 2, 3])),
    ] {
        for pre_vote in [true, false] {
            let mut node = Node::new(
                config(id, 11, pre_vote),
                DurableState::bootstrap(membership.clone()),
                0,
            )
            .expect("valid start state");
            for _ in 0..50 * T {
                let out = step_durable(&mut node, Input::Tick);
                assert!(out.sent.is_empty(), "node {id} sent {:?}", out.sent);
                assert!(out.writes.is_empty(), "node {id} wrote {:?}", out.writes);
                assert_eq!(node.role(), Role::Follower);
            }
            assert_eq!((node.term(), node.vote()), (0, None));
        }
    }
    // Control: a voter in the same position campaigns.
    let mut voter = fresh_node(config(3, 11, true), &[1, 2, 3]);
    for _ in 0..2 * T {
        let _ = step_durable(&mut voter, Input::Tick);
    }
    assert_ne!(voter.role(), Role::Follower);
}
