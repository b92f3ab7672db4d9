//! Messages from outside the configuration and messages addressed to someone else.

use sansraft::message::{AppendResponse, Heartbeat, HeartbeatResponse, VoteRequest, VoteResponse};
use sansraft::{Body, Input};

use crate::helpers::*;

/// Messages from outside the configuration (or from the node itself) are counted as
/// `unknown_peer`, even with a higher term — an outsider cannot make a member change term. (Vote
/// requests whose log is at least as up to date are the exception, thesis §4.1: see
/// `membership.rs`.)
#[test]
fn messages_from_unknown_peers_are_ignored() {
    let mut c = running_cluster();
    let bodies = [
        Body::Vote(VoteRequest {
            pre_vote: false,
            last_index: 1,
            last_term: 1,
            transfer: false,
            config_index: 0,
            config_term: 0,
        }),
        Body::Vote(VoteRequest {
            pre_vote: true,
            last_index: 1,
            last_term: 1,
            transfer: false,
            config_index: 0,
            config_term: 0,
        }),
        Body::VoteResponse(VoteResponse {
            pre_vote: false,
            granted: true,
        }),
        Body::AppendResponse(AppendResponse::Accepted { match_index: 3 }),
        Body::HeartbeatResponse(HeartbeatResponse {
            round: 0,
            stamp: None,
            quiet: false,
        }),
    ];
    for id in [FOLLOWER, LEADER] {
        for from in [99, 0, 4, id] {
            for term in [TERM, TERM + 3] {
                for body in &bodies {
                    let m = msg(from, id, term, body.clone());
                    let actions = assert_ignored(node_mut(&mut c, id), Input::Message(m), |k| {
                        k.unknown_peer += 1
                    });
                    assert!(actions.is_empty(), "{actions:?}");
                }
            }
        }
    }
    // Leader messages from the node itself are also refused (a node never sends to itself).
    let own = msg(
        FOLLOWER,
        FOLLOWER,
        TERM + 1,
        append(LAST, TERM, LAST, vec![]),
    );
    assert_ignored(node_mut(&mut c, FOLLOWER), Input::Message(own), |k| {
        k.unknown_peer += 1
    });
}

/// Messages addressed to someone else are counted as `misaddressed`, whatever they say.
#[test]
fn misaddressed_messages_are_ignored() {
    let mut c = running_cluster();
    let bodies = [
        append(LAST, TERM, 100, vec![entry(8, TERM + 1)]),
        Body::Heartbeat(Heartbeat {
            commit: 100,
            round: 0,
            proof: None,
            quiesce: false,
        }),
        Body::Vote(VoteRequest {
            pre_vote: false,
            last_index: 100,
            last_term: 9,
            transfer: false,
            config_index: 0,
            config_term: 0,
        }),
        Body::AppendResponse(AppendResponse::Accepted { match_index: 7 }),
    ];
    for id in [FOLLOWER, LEADER] {
        for to in [3, 0, 99, u64::MAX] {
            for body in &bodies {
                let m = msg(if id == LEADER { 2 } else { 1 }, to, TERM + 1, body.clone());
                assert_ignored(node_mut(&mut c, id), Input::Message(m), |k| {
                    k.misaddressed += 1
                });
            }
        }
    }
}
