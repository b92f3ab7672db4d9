//! Messages from older terms, stale acknowledgements, and responses the receiver's role does
//! not expect.

use sansraft::message::{AppendResponse, Heartbeat, HeartbeatResponse, VoteRequest, VoteResponse};
use sansraft::{Body, Input, Message};

use crate::helpers::*;

/// §5.1: a message from an older term is rejected. It is counted as `stale_term`; a stale leader
/// is told the current term (and a stale pre-candidate refused) so it can step down.
#[test]
fn stale_term_messages_are_ignored() {
    let mut c = running_cluster();
    let stale = TERM - 2;
    // Leader messages from a stale leader (node 3, say, in an old term).
    for body in [
        append(2, 2, 7, vec![entry(3, 3), entry(4, 3)]),
        Body::Heartbeat(Heartbeat {
            commit: 7,
            round: 0,
            proof: None,
            quiesce: false,
        }),
    ] {
        let m = msg(3, FOLLOWER, stale, body);
        let actions = assert_ignored(node_mut(&mut c, FOLLOWER), Input::Message(m), |k| {
            k.stale_term += 1
        });
        let replies = sent(&actions);
        assert_eq!(replies.len(), 1, "{actions:?}");
        assert_eq!(
            *replies[0],
            msg(
                FOLLOWER,
                3,
                TERM,
                Body::HeartbeatResponse(HeartbeatResponse {
                    round: 0,
                    stamp: None,
                    quiet: false,
                })
            )
        );
    }
    // A stale poll or vote request is refused with the current term (Figure 2: the candidate
    // updates itself from the answer).
    for pre_vote in [true, false] {
        let request = VoteRequest {
            pre_vote,
            last_index: 100,
            last_term: stale,
            transfer: false,
            config_index: 0,
            config_term: 0,
        };
        let actions = assert_ignored(
            node_mut(&mut c, FOLLOWER),
            Input::Message(msg(3, FOLLOWER, stale, Body::Vote(request))),
            |k| k.stale_term += 1,
        );
        let replies = sent(&actions);
        assert_eq!(replies.len(), 1, "pre_vote={pre_vote}: {actions:?}");
        assert_eq!(replies[0].term, TERM, "the answer carries the current term");
        assert_eq!(
            replies[0].body,
            Body::VoteResponse(VoteResponse {
                pre_vote,
                granted: false
            })
        );
    }
    let others = [
        Body::VoteResponse(VoteResponse {
            pre_vote: false,
            granted: true,
        }),
        Body::AppendResponse(AppendResponse::Accepted { match_index: 7 }),
        Body::AppendResponse(AppendResponse::Rejected {
            reject_index: 5,
            hint_index: 1,
            hint_term: Some(1),
        }),
        Body::HeartbeatResponse(HeartbeatResponse {
            round: 0,
            stamp: None,
            quiet: false,
        }),
    ];
    for id in [FOLLOWER, LEADER] {
        for term in [0, stale] {
            for body in &others {
                let from = if id == LEADER { 2 } else { 3 };
                let m = msg(from, id, term, body.clone());
                let actions = assert_ignored(node_mut(&mut c, id), Input::Message(m), |k| {
                    k.stale_term += 1
                });
                assert!(actions.is_empty(), "{actions:?}");
            }
        }
    }
}

/// Duplicated or reordered acknowledgements and rejections at or below the match index are
/// `stale_response`: they neither move the commit index nor send the follower back to probing.
#[test]
fn stale_acknowledgements_are_ignored() {
    let mut c = running_cluster();
    for from in [2, 3] {
        for body in [
            AppendResponse::Accepted { match_index: LAST },
            AppendResponse::Accepted { match_index: 2 },
            AppendResponse::Accepted { match_index: 0 },
            AppendResponse::Rejected {
                reject_index: LAST,
                hint_index: 1,
                hint_term: Some(1),
            },
            AppendResponse::Rejected {
                reject_index: 3,
                hint_index: 1,
                hint_term: None,
            },
        ] {
            let m = msg(from, LEADER, TERM, Body::AppendResponse(body));
            let actions = assert_ignored(node_mut(&mut c, LEADER), Input::Message(m), |k| {
                k.stale_response += 1
            });
            assert!(
                actions.is_empty(),
                "{body:?} made the leader send {actions:?}"
            );
        }
    }
    // Replication carries on as before: a new entry is sent to both followers at once, with no
    // probing from earlier indexes.
    let mark = c.sent_log.len();
    c.propose(LEADER, "next").unwrap();
    let appends: Vec<&Message> = c.sent_log[mark..]
        .iter()
        .filter(|m| matches!(m.body, Body::Append(_)))
        .collect();
    assert_eq!(appends.len(), 2);
    for m in appends {
        assert!(matches!(&m.body, Body::Append(a) if a.prev_index == LAST && a.entries.len() == 1));
    }
}

/// Responses that make no sense in the receiver's role are `unexpected`: vote answers to a
/// follower or a leader, append and heartbeat answers to a follower. A granted pre-vote answer
/// with a higher term must not raise the follower's term.
#[test]
fn unexpected_responses_are_ignored() {
    let mut c = running_cluster();
    let vote_answers = [
        (TERM, false, true),
        (TERM, false, false),
        (TERM, true, false),
        (TERM + 1, true, true),
    ];
    for id in [FOLLOWER, LEADER] {
        for (term, pre_vote, granted) in vote_answers {
            let m = msg(
                3,
                id,
                term,
                Body::VoteResponse(VoteResponse { pre_vote, granted }),
            );
            let actions = assert_ignored(node_mut(&mut c, id), Input::Message(m), |k| {
                k.unexpected += 1
            });
            assert!(actions.is_empty());
        }
    }
    for body in [
        Body::AppendResponse(AppendResponse::Accepted { match_index: 3 }),
        Body::AppendResponse(AppendResponse::Rejected {
            reject_index: 3,
            hint_index: 1,
            hint_term: None,
        }),
        Body::HeartbeatResponse(HeartbeatResponse {
            round: 0,
            stamp: None,
            quiet: false,
        }),
    ] {
        let m = msg(3, FOLLOWER, TERM, body);
        assert_ignored(node_mut(&mut c, FOLLOWER), Input::Message(m), |k| {
            k.unexpected += 1
        });
    }
}
