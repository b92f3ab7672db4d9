//! Terms (§5.1), one vote per term (§5.2) and the election restriction (§5.4.1).

use sansraft::message::{AppendResponse, HeartbeatResponse};
use sansraft::{
    Body, DurableState, HardState, Input, Membership, Message, Node, ProposeError, Role,
    SnapshotMeta,
};
use sansraft_testkit::{step_durable, Cluster};

use crate::helpers::*;

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
            body: Body::HeartbeatResponse(HeartbeatResponse {
                round: 0,
                stamp: None,
                quiet: false,
            }),
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
                proof: None,
                quiesce: false,
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
