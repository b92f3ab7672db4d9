//! Messages wait for the state they depend on to be durable.

use sansraft::message::VoteResponse;
use sansraft::{Body, DurableState, HardState, Input, Membership, Message, Node, NodeId, Role};
use sansraft_testkit::{step_collect, step_durable, Cluster};

use crate::helpers::*;

// Raft Figure 2 / §5.2: a voter's currentTerm and votedFor are on stable storage before it
// answers RequestVote, else a crash could let it vote twice in one term.
#[test]
fn vote_response_waits_for_the_voters_hard_state() {
    let mut c = Cluster::with_config(3, no_pre_vote);
    c.auto_persist = false;
    while c.node(1).role() == Role::Follower {
        c.tick(1);
    }
    c.persist_all(1);
    assert_eq!(c.network.iter().filter(|m| is_vote_request(m)).count(), 2);
    c.deliver_all();

    for voter in [2, 3] {
        assert_eq!(c.node(voter).vote(), Some(1), "voted in memory");
        assert_eq!(c.node(voter).durable_hard_state().term, 0);
        assert_eq!(c.node(voter).held_messages(), 1);
        assert_eq!(c.peers[voter as usize - 1].store.pending(), 1);
    }
    assert!(
        c.network.iter().all(|m| !is_vote_response(m)),
        "{:?}",
        c.network
    );
    assert!(c.sent_log.iter().all(|m| !is_vote_response(m)));
    assert_eq!(c.node(1).role(), Role::Candidate);

    c.persist_all(2);
    assert_eq!(
        c.node(2).durable_hard_state(),
        HardState {
            term: 1,
            vote: Some(1),
            commit: 0
        }
    );
    let responses: Vec<&Message> = c.sent_log.iter().filter(|m| is_vote_response(m)).collect();
    assert_eq!(responses.len(), 1, "only node 2's vote is durable");
    assert_eq!(
        (responses[0].from, responses[0].to, responses[0].term),
        (2, 1, 1)
    );
    assert!(matches!(
        responses[0].body,
        Body::VoteResponse(VoteResponse { granted: true, .. })
    ));
    assert_eq!(c.node(3).held_messages(), 1, "node 3's vote is still held");
    c.deliver_all();
    assert_eq!(c.leaders(), vec![1]);
}

// Raft §5.2 / Figure 2: a candidate persists its incremented term and its vote for itself before
// asking for votes, and counts its own vote only once it is durable.
#[test]
fn candidate_asks_for_votes_only_once_its_term_and_vote_are_durable() {
    let mut c = Cluster::with_config(3, no_pre_vote);
    c.auto_persist = false;
    while c.node(1).role() == Role::Follower {
        c.tick(1);
    }
    assert_eq!((c.node(1).term(), c.node(1).vote()), (1, Some(1)));
    assert_eq!(c.node(1).durable_hard_state().term, 0);
    assert!(
        c.sent_log.iter().all(|m| !is_vote_request(m)),
        "{:?}",
        c.sent_log
    );
    assert_eq!(c.node(1).held_messages(), 2);
    // Ticks do not release them either.
    c.tick(1);
    assert!(c.sent_log.iter().all(|m| !is_vote_request(m)));

    c.persist_all(1);
    let requests: Vec<&Message> = c.sent_log.iter().filter(|m| is_vote_request(m)).collect();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|m| m.from == 1 && m.term == 1));
    assert_eq!(c.node(1).held_messages(), 0);

    // With pre-vote, the poll needs no write, but the real requests that follow it do.
    let mut c = Cluster::new(3);
    c.auto_persist = false;
    while c.node(1).role() == Role::Follower {
        c.tick(1);
    }
    assert_eq!(c.node(1).role(), Role::PreCandidate);
    c.deliver_all();
    assert_eq!(c.node(1).role(), Role::Candidate, "the poll was granted");
    assert!(
        c.sent_log.iter().all(|m| !is_vote_request(m)),
        "{:?}",
        c.sent_log
    );
    c.persist_all(1);
    assert_eq!(c.sent_log.iter().filter(|m| is_vote_request(m)).count(), 2);

    // A single voter cannot win on an own vote that is not yet durable.
    let mut node = Node::new(
        no_pre_vote(1),
        DurableState::bootstrap(Membership::with_voters([1])),
        0,
    )
    .expect("valid start state");
    let mut writes = Vec::new();
    while node.role() == Role::Follower {
        writes.extend(step_collect(&mut node, Input::Tick).writes);
    }
    assert_eq!(node.role(), Role::Candidate);
    for _ in 0..5 {
        writes.extend(step_collect(&mut node, Input::Tick).writes);
        assert_eq!(
            node.role(),
            Role::Candidate,
            "won on a vote that is not durable"
        );
    }
    let first = writes
        .first()
        .expect("the campaign wrote its term and vote");
    assert_eq!(
        first.hard_state,
        Some(HardState {
            term: 1,
            vote: Some(1),
            commit: 0
        })
    );
    let _ = step_durable(&mut node, Input::Persisted(first.token));
    assert_eq!(node.role(), Role::Leader);
}

// Raft Figure 2 / §5.3: a follower acknowledges an append only once the entries are on stable
// storage, since the leader counts the acknowledgement towards commitment.
#[test]
fn follower_acknowledges_entries_only_once_they_are_durable() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.run(2);
    c.auto_persist = false;
    let mark = c.sent_log.len();
    c.propose(1, "a").unwrap();
    c.propose(1, "b").unwrap();
    c.deliver_all();
    for id in [2, 3] {
        assert_eq!(
            c.node(id).status().last_index,
            3,
            "node {id} has the entries in memory"
        );
        assert_eq!(c.node(id).status().durable_index, 1);
        assert!(c.node(id).held_messages() >= 1);
    }
    assert!(
        accepted(&c.sent_log[mark..], 2).is_empty(),
        "{:?}",
        &c.sent_log[mark..]
    );
    assert!(accepted(&c.sent_log[mark..], 3).is_empty());
    assert_eq!(c.node(1).status().commit, 1);

    // Making node 2's first write durable releases only what that write covers.
    let ack = c.persist_one(2).expect("a write is pending");
    c.step(2, ack);
    let acked = accepted(&c.sent_log[mark..], 2);
    assert!(
        acked.iter().all(|&i| i <= c.node(2).status().durable_index),
        "acknowledged {acked:?} with only {} durable",
        c.node(2).status().durable_index
    );
    c.persist_all(2);
    assert_eq!(c.node(2).status().durable_index, 3);
    assert_eq!(accepted(&c.sent_log[mark..], 2).iter().max(), Some(&3));
    assert!(accepted(&c.sent_log[mark..], 3).is_empty());
}

// Thesis §10.2.1 ("Writing to the leader's disk in parallel"): the leader sends entries to the
// followers before writing them itself, but counts itself towards a majority only once its own
// write is durable. With both followers durable, 2 of 3 replicas suffice to commit.
#[test]
fn leader_replicates_before_its_own_write_is_durable() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.run(2);
    c.auto_persist = false;
    let mark = c.sent_log.len();
    let pos = c.propose(1, "x").unwrap();
    assert_eq!(pos.index, 2);
    let appends: Vec<NodeId> = c.sent_log[mark..]
        .iter()
        .filter(|m| matches!(&m.body, Body::Append(a) if a.entries.iter().any(|e| e.index == 2)))
        .map(|m| m.to)
        .collect();
    assert_eq!(
        appends,
        vec![2, 3],
        "sent before the leader's write is durable"
    );
    assert_eq!(c.node(1).status().durable_index, 1);

    c.deliver_all();
    c.persist_all(2);
    c.persist_all(3);
    c.deliver_all();
    assert_eq!(
        c.node(1).status().durable_index,
        1,
        "the leader's storage never acked"
    );
    assert_eq!(
        c.node(1).status().commit,
        2,
        "two durable followers are a majority"
    );
    // The leader must not apply an entry it does not hold durably.
    assert!(c.applied_data(1).is_empty());
    c.persist_all(2);
    c.persist_all(3);
    c.run(1);
    c.persist_all(2);
    c.persist_all(3);
    assert_eq!(c.applied_data(2), vec!["x"]);
    assert_eq!(c.applied_data(3), vec!["x"]);
    assert!(c.applied_data(1).is_empty());
    c.persist_all(1);
    assert_eq!(c.applied_data(1), vec!["x"]);
}

// Thesis §10.2.1 and §5.3: with one durable follower and a leader whose own write is not yet
// durable, only 1 of 3 replicas is durable: no commit. Once the leader's write is durable, the
// leader counts itself and 2 of 3 commit.
#[test]
fn leader_counts_itself_only_once_durable() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.run(2);
    c.auto_persist = false;
    c.propose(1, "x").unwrap();
    c.deliver_all();
    c.persist_all(2); // node 3 never makes it durable
    c.deliver_all();
    assert_eq!(accepted(&c.sent_log, 2).iter().max(), Some(&2));
    assert!(accepted(&c.sent_log, 3).iter().all(|&i| i < 2));
    assert_eq!(c.node(1).status().durable_index, 1);
    assert_eq!(
        c.node(1).status().commit,
        1,
        "committed with one durable replica of three"
    );
    for _ in 0..3 {
        c.tick(1);
        c.deliver_all();
        assert_eq!(c.node(1).status().commit, 1);
    }

    c.persist_all(1);
    assert_eq!(c.node(1).status().durable_index, 2);
    assert_eq!(
        c.node(1).status().commit,
        2,
        "leader + node 2 are a majority"
    );
    assert_eq!(c.applied_data(1), vec!["x"]);
}
