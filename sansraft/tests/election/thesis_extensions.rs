//! The thesis extensions: pre-vote (§9.6), check-quorum (§6.2), leader stickiness (§4.2.3),
//! and non-voters (§4.2.1), which never campaign.

use sansraft::{Body, Config, DurableState, Input, Membership, Node, ProposeError, Role};
use sansraft_testkit::{step_durable, Cluster};

use crate::helpers::*;

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
        ..Membership::default()
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
