//! Bad input (docs/design.md §5): messages from non-members, misaddressed messages, stale terms,
//! malformed appends, impossible acknowledgements, conflicts with committed entries, unexpected
//! responses, bogus storage acknowledgements and applied reports are ignored and counted in
//! `Node::counters()`; none panics or changes durable state. And the wire codec: decoding never
//! panics, rejects truncated and corrupted input, and every message kind round-trips.

use bytes::Bytes;
use proptest::prelude::*;
use sansraft::message::{
    Append, AppendResponse, Heartbeat, HeartbeatResponse, ReadIndexRequest, ReadIndexResponse,
    SnapshotChunk, SnapshotResponse, VoteRequest, VoteResponse,
};
use sansraft::{
    Action, Body, Codec, Config, Counters, DecodeError, DurableState, Entry, EntryKind, HardState,
    Index, Input, Membership, Message, Node, NodeId, SnapshotMeta, Status, Term, WriteToken,
    MAX_INDEX,
};
use sansraft_testkit::Cluster;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn entry(index: Index, term: Term) -> Entry {
    Entry {
        term,
        index,
        kind: EntryKind::Normal,
        data: Bytes::from(format!("{index}@{term}")),
    }
}

fn durable(term: Term, commit: Index, terms: &[Term]) -> DurableState {
    DurableState {
        hard_state: HardState {
            term,
            vote: None,
            commit,
        },
        snapshot: SnapshotMeta {
            index: 0,
            term: 0,
            membership: Membership::with_voters(1..=3),
        },
        entries: terms
            .iter()
            .enumerate()
            .map(|(i, &t)| entry(i as Index + 1, t))
            .collect(),
        applied: 0,
    }
}

/// Three nodes that start at term 4 with the log [1, 2, 4] committed; node 1 is elected for term
/// 5, three commands commit, and everyone applies them. Logs: [1, 2, 4, 5, 5, 5, 5], commit 7.
fn running_cluster() -> Cluster {
    let mut c = Cluster::new(3);
    for id in c.ids() {
        c.start_from(id, durable(4, 3, &[1, 2, 4]));
    }
    c.elect(1);
    for i in 0..3 {
        c.propose(1, &format!("cmd{i}")).unwrap();
    }
    c.deliver_all();
    c.run(2);
    for id in 1..=3 {
        let s = c.node(id).status();
        assert_eq!(
            (s.term, s.commit, s.applied, s.last_index),
            (5, 7, 7, 7),
            "node {id}"
        );
    }
    assert_eq!(c.node(2).leader(), Some(1));
    c
}

const LEADER: NodeId = 1;
const FOLLOWER: NodeId = 2;
const TERM: Term = 5;
const LAST: Index = 7;

fn node_mut(c: &mut Cluster, id: NodeId) -> &mut Node {
    c.peers[(id - 1) as usize].node.as_mut().unwrap()
}

fn msg(from: NodeId, to: NodeId, term: Term, body: Body) -> Message {
    Message {
        from,
        to,
        term,
        body,
    }
}

fn append(prev_index: Index, prev_term: Term, commit: Index, entries: Vec<Entry>) -> Body {
    Body::Append(Append {
        prev_index,
        prev_term,
        commit,
        entries: entries.into(),
    })
}

/// Everything about a node that bad input must leave alone.
#[derive(Debug, PartialEq)]
struct Fingerprint {
    status: Status,
    vote: Option<NodeId>,
    durable_hard_state: HardState,
    log: Vec<Entry>,
    held_messages: usize,
    membership: Membership,
}

fn fingerprint(node: &Node) -> Fingerprint {
    Fingerprint {
        status: node.status(),
        vote: node.vote(),
        durable_hard_state: node.durable_hard_state(),
        log: node.log_entries_from(1).cloned().collect(),
        held_messages: node.held_messages(),
        membership: node.membership().clone(),
    }
}

/// Steps `node` with bad `input` and checks that it was ignored: no write, nothing to apply, no
/// change of state, and exactly the counter `bump` increments went up. Returns the actions (a
/// stale leader, for instance, is told the newer term).
fn assert_ignored(node: &mut Node, input: Input, bump: impl FnOnce(&mut Counters)) -> Vec<Action> {
    let before = fingerprint(node);
    let mut expected = *node.counters();
    bump(&mut expected);
    let description = format!("{input:?}");
    let actions = node.step(input);
    for action in &actions {
        assert!(
            matches!(action, Action::Send(_)),
            "{description} caused {action:?}"
        );
    }
    assert_eq!(fingerprint(node), before, "{description} changed the node");
    assert_eq!(*node.counters(), expected, "{description} counted wrongly");
    node.check_invariants().unwrap();
    actions
}

fn sent(actions: &[Action]) -> Vec<&Message> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(m) => Some(m),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

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
        }),
        Body::Vote(VoteRequest {
            pre_vote: true,
            last_index: 1,
            last_term: 1,
            transfer: false,
        }),
        Body::VoteResponse(VoteResponse {
            pre_vote: false,
            granted: true,
        }),
        Body::AppendResponse(AppendResponse::Accepted { match_index: 3 }),
        Body::HeartbeatResponse(HeartbeatResponse { round: 0 }),
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
        }),
        Body::Vote(VoteRequest {
            pre_vote: false,
            last_index: 100,
            last_term: 9,
            transfer: false,
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
                Body::HeartbeatResponse(HeartbeatResponse { round: 0 })
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
        Body::HeartbeatResponse(HeartbeatResponse { round: 0 }),
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

/// Appends whose entries are not consecutive after `prev_index`, whose terms decrease, fall below
/// `prev_term` or exceed the message's term, or whose indexes overflow, are `malformed`.
#[test]
fn malformed_appends_are_ignored() {
    let mut c = running_cluster();
    let cases: Vec<(&str, Body)> = vec![
        (
            "gap between entries",
            append(LAST, TERM, LAST, vec![entry(8, TERM), entry(10, TERM)]),
        ),
        (
            "repeated index",
            append(LAST, TERM, LAST, vec![entry(8, TERM), entry(8, TERM)]),
        ),
        (
            "first entry not right after prev_index",
            append(LAST, TERM, LAST, vec![entry(9, TERM)]),
        ),
        (
            "first entry before prev_index",
            append(LAST, TERM, LAST, vec![entry(LAST, TERM)]),
        ),
        (
            "decreasing terms",
            append(LAST, TERM, LAST, vec![entry(8, TERM), entry(9, TERM - 1)]),
        ),
        (
            "entry term below prev_term",
            append(LAST, TERM, LAST, vec![entry(8, TERM - 1)]),
        ),
        (
            "entry term above the message term",
            append(LAST, TERM, LAST, vec![entry(8, TERM + 1)]),
        ),
        (
            "prev_term above the message term",
            append(LAST, TERM + 1, LAST, vec![]),
        ),
        (
            "index overflow",
            append(u64::MAX, TERM, LAST, vec![entry(0, TERM)]),
        ),
        (
            "index overflow after the first entry",
            append(
                u64::MAX - 1,
                TERM,
                LAST,
                vec![entry(u64::MAX, TERM), entry(0, TERM)],
            ),
        ),
        (
            "prev_index beyond MAX_INDEX",
            append(MAX_INDEX + 1, TERM, LAST, vec![]),
        ),
        (
            "entry beyond MAX_INDEX",
            append(MAX_INDEX, TERM, LAST, vec![entry(MAX_INDEX + 1, TERM)]),
        ),
    ];
    for (what, body) in cases {
        let m = msg(LEADER, FOLLOWER, TERM, body);
        let actions = assert_ignored(node_mut(&mut c, FOLLOWER), Input::Message(m), |k| {
            k.malformed += 1
        });
        assert!(actions.is_empty(), "{what}: {actions:?}");
    }
    // A second leader in the same term (Election Safety, §5.2 — impossible from correct peers):
    // the leader refuses it, as does a follower that already follows node 1.
    let rival = msg(
        3,
        LEADER,
        TERM,
        append(LAST, TERM, LAST, vec![entry(8, TERM)]),
    );
    assert_ignored(node_mut(&mut c, LEADER), Input::Message(rival), |k| {
        k.malformed += 1
    });
    let rival = msg(
        3,
        FOLLOWER,
        TERM,
        Body::Heartbeat(Heartbeat {
            commit: 7,
            round: 0,
        }),
    );
    assert_ignored(node_mut(&mut c, FOLLOWER), Input::Message(rival), |k| {
        k.malformed += 1
    });
}

/// An acknowledgement of an index beyond the leader's log (or a rejection of one) is `malformed`;
/// it must not move the commit index.
#[test]
fn acknowledgements_beyond_the_leaders_log_are_ignored() {
    let mut c = running_cluster();
    let bodies = [
        AppendResponse::Accepted {
            match_index: LAST + 1,
        },
        AppendResponse::Accepted {
            match_index: u64::MAX,
        },
        AppendResponse::Rejected {
            reject_index: LAST + 1,
            hint_index: 1,
            hint_term: None,
        },
        AppendResponse::Rejected {
            reject_index: u64::MAX,
            hint_index: u64::MAX,
            hint_term: Some(u64::MAX),
        },
    ];
    for from in [2, 3] {
        for body in bodies {
            let m = msg(from, LEADER, TERM, Body::AppendResponse(body));
            let actions = assert_ignored(node_mut(&mut c, LEADER), Input::Message(m), |k| {
                k.malformed += 1
            });
            assert!(actions.is_empty(), "{actions:?}");
        }
    }
    // Both followers falsely claim a new entry: it must still not commit.
    c.propose(LEADER, "pending").unwrap();
    c.network.clear();
    for from in [2, 3] {
        let m = msg(
            from,
            LEADER,
            TERM,
            Body::AppendResponse(AppendResponse::Accepted { match_index: 9 }),
        );
        assert_ignored(node_mut(&mut c, LEADER), Input::Message(m), |k| {
            k.malformed += 1
        });
    }
    assert_eq!(c.node(LEADER).status().commit, LAST);
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

/// The follower of the conflict tests: node 2 of a running cluster, whose log
/// [1, 2, 4, 5, 5, 5, 5] is committed up to 7, plus one uncommitted entry appended at 8.
fn follower_with_uncommitted_suffix() -> Cluster {
    let mut c = running_cluster();
    let m = msg(
        LEADER,
        FOLLOWER,
        TERM,
        append(LAST, TERM, LAST, vec![entry(8, TERM)]),
    );
    c.step(FOLLOWER, Input::Message(m));
    c.network.clear();
    assert_eq!(c.node(FOLLOWER).status().last_index, 8);
    assert_eq!(c.node(FOLLOWER).status().commit, LAST);
    c
}

/// Appends that contradict committed entries (by Leader Completeness, §5.4, impossible from a
/// legitimate leader).
fn conflicting_appends() -> Vec<(&'static str, Body)> {
    vec![
        (
            "rewrites committed indexes 2..=3 and ends inside the committed prefix",
            append(1, 1, LAST, vec![entry(2, 5), entry(3, 5)]),
        ),
        (
            "rewrites committed indexes 2..=7 and extends the log",
            append(1, 1, LAST, (2..=9).map(|i| entry(i, 5)).collect()),
        ),
        (
            "claims a different term for committed index 3 as prev",
            append(
                3,
                5,
                LAST,
                vec![
                    entry(4, 5),
                    entry(5, 5),
                    entry(6, 5),
                    entry(7, 5),
                    entry(8, 5),
                    entry(9, 5),
                ],
            ),
        ),
    ]
}

/// A conflict with committed entries never changes them, whatever the append says.
#[test]
fn conflicts_with_committed_entries_never_change_them() {
    for (what, body) in conflicting_appends() {
        let mut c = follower_with_uncommitted_suffix();
        let committed: Vec<Entry> = c
            .node(FOLLOWER)
            .log_entries_from(1)
            .take(LAST as usize)
            .cloned()
            .collect();
        let m = msg(LEADER, FOLLOWER, TERM, body);
        c.step(FOLLOWER, Input::Message(m));
        let after: Vec<Entry> = c
            .node(FOLLOWER)
            .log_entries_from(1)
            .take(LAST as usize)
            .cloned()
            .collect();
        assert_eq!(after, committed, "{what}");
        assert_eq!(
            c.peers[1].store.durable().entries[..LAST as usize],
            committed[..],
            "{what}"
        );
        assert!(c.node(FOLLOWER).status().commit >= LAST);
        c.node(FOLLOWER).check_invariants().unwrap();
    }
}

/// docs/design.md §5 and `Counters::malformed`: an append that conflicts with committed entries is
/// ignored (no write, no answer that vouches for it) and counted as malformed.
#[test]
fn conflicts_with_committed_entries_are_counted_as_malformed() {
    for (what, body) in conflicting_appends() {
        let mut c = follower_with_uncommitted_suffix();
        let m = msg(LEADER, FOLLOWER, TERM, body);
        let node = node_mut(&mut c, FOLLOWER);
        let before = fingerprint(node);
        let malformed = node.counters().malformed;
        let actions = node.step(Input::Message(m));
        assert_eq!(
            node.counters().malformed,
            malformed + 1,
            "{what}: {actions:?}"
        );
        assert_eq!(fingerprint(node), before, "{what}");
        assert!(
            !actions.iter().any(|a| matches!(a, Action::Persist(_))),
            "{what}: {actions:?}"
        );
        assert!(
            !sent(&actions).iter().any(|m| matches!(
                m.body,
                Body::AppendResponse(AppendResponse::Accepted { .. })
            )),
            "{what}: acknowledged: {actions:?}"
        );
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
        Body::HeartbeatResponse(HeartbeatResponse { round: 0 }),
    ] {
        let m = msg(3, FOLLOWER, TERM, body);
        assert_ignored(node_mut(&mut c, FOLLOWER), Input::Message(m), |k| {
            k.unexpected += 1
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Storage acknowledgements and applied reports
// ---------------------------------------------------------------------------------------------

/// Acknowledgements of writes never issued are `bogus_ack`; from another incarnation or repeated,
/// `stale_ack`. Neither makes anything durable.
#[test]
fn bogus_and_stale_storage_acks_are_ignored() {
    let mut c = running_cluster();
    let node = node_mut(&mut c, LEADER);
    // A write the leader issued and that has not been acknowledged yet.
    let actions = node.step(Input::Propose(Bytes::from_static(b"unacked")));
    let token = actions
        .iter()
        .find_map(|a| match a {
            Action::Persist(w) => Some(w.token),
            _ => None,
        })
        .expect("a proposal is written");
    assert_eq!(node.status().durable_index, LAST);

    let next = WriteToken {
        seq: token.seq + 1,
        ..token
    };
    let far = WriteToken {
        seq: u64::MAX,
        ..token
    };
    for bogus in [next, far] {
        assert_ignored(node, Input::Persisted(bogus), |k| k.bogus_ack += 1);
    }
    for stale in [
        WriteToken {
            incarnation: token.incarnation + 1,
            ..token
        },
        WriteToken {
            incarnation: u64::MAX,
            seq: 1,
        },
        WriteToken { seq: 0, ..token },
        WriteToken {
            seq: token.seq - 1,
            ..token
        },
    ] {
        assert_ignored(node, Input::Persisted(stale), |k| k.stale_ack += 1);
    }
    assert_eq!(node.status().durable_index, LAST, "nothing became durable");

    // The real acknowledgement works, and repeating it is stale.
    let _ = node.step(Input::Persisted(token));
    assert_eq!(node.status().durable_index, LAST + 1);
    assert_ignored(node, Input::Persisted(token), |k| k.stale_ack += 1);
}

/// A report of applied entries beyond what was handed out for applying is `bogus_applied`.
#[test]
fn applied_beyond_what_was_handed_out_is_ignored() {
    let mut c = running_cluster();
    for id in [FOLLOWER, LEADER] {
        for index in [LAST + 1, LAST + 100, u64::MAX] {
            assert_ignored(node_mut(&mut c, id), Input::Applied(index), |k| {
                k.bogus_applied += 1
            });
        }
        // An old report is harmless and not counted.
        assert_ignored(node_mut(&mut c, id), Input::Applied(3), |_| {});
        assert_eq!(c.node(id).status().applied, LAST);
    }
    // Entry 8 handed out for applying but not yet reported: a report of 9 is bogus, of 8 fine.
    let mut c = follower_with_uncommitted_suffix();
    let follower = node_mut(&mut c, FOLLOWER);
    let heartbeat = msg(
        LEADER,
        FOLLOWER,
        TERM,
        Body::Heartbeat(Heartbeat {
            commit: 8,
            round: 0,
        }),
    );
    let actions = follower.step(Input::Message(heartbeat));
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Apply(e) if e.len() == 1 && e[0].index == 8)),
        "{actions:?}"
    );
    assert_ignored(follower, Input::Applied(9), |k| k.bogus_applied += 1);
    assert_eq!(follower.status().applied, LAST);
    let _ = follower.step(Input::Applied(8));
    assert_eq!(follower.status().applied, 8);
    assert_eq!(follower.counters().bogus_applied, 1);
}

// ---------------------------------------------------------------------------------------------
// Random messages never break a node.
// ---------------------------------------------------------------------------------------------

fn small() -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => 0u64..12,
        1 => Just(u64::MAX),
        1 => any::<u64>(),
    ]
}

fn arb_kind() -> impl Strategy<Value = EntryKind> {
    prop_oneof![
        Just(EntryKind::Normal),
        Just(EntryKind::Empty),
        Just(EntryKind::Membership)
    ]
}

/// Appends that are mostly well formed (consecutive, non-decreasing terms) so that they reach the
/// consistency check, with the occasional random one.
fn arb_append() -> impl Strategy<Value = Body> {
    let structured = (
        0u64..12,
        0u64..8,
        small(),
        prop::collection::vec(0u64..2, 0..5),
    )
        .prop_map(|(prev_index, prev_term, commit, steps)| {
            let mut term = prev_term;
            let entries = steps
                .iter()
                .enumerate()
                .map(|(i, step)| {
                    term += step;
                    entry(prev_index + 1 + i as Index, term)
                })
                .collect();
            append(prev_index, prev_term, commit, entries)
        });
    let random = (
        small(),
        small(),
        small(),
        prop::collection::vec((small(), small()), 0..4),
    )
        .prop_map(|(prev_index, prev_term, commit, es)| {
            append(
                prev_index,
                prev_term,
                commit,
                es.into_iter().map(|(i, t)| entry(i, t)).collect(),
            )
        });
    prop_oneof![3 => structured, 1 => random]
}

fn arb_fuzz_body() -> impl Strategy<Value = Body> {
    prop_oneof![
        3 => arb_append(),
        1 => small().prop_map(|match_index| Body::AppendResponse(AppendResponse::Accepted { match_index })),
        1 => (small(), small(), prop::option::of(small())).prop_map(|(reject_index, hint_index, hint_term)| {
            Body::AppendResponse(AppendResponse::Rejected { reject_index, hint_index, hint_term })
        }),
        1 => small().prop_map(|commit| Body::Heartbeat(Heartbeat { commit, round: 0 })),
        1 => small().prop_map(|round| Body::HeartbeatResponse(HeartbeatResponse { round })),
        1 => small().prop_map(|id| Body::ReadIndex(ReadIndexRequest { id })),
        1 => (small(), prop::option::of(small())).prop_map(|(id, index)| {
            Body::ReadIndexResponse(ReadIndexResponse { id, index })
        }),
        1 => (any::<bool>(), small(), small(), any::<bool>()).prop_map(|(pre_vote, last_index, last_term, transfer)| {
            Body::Vote(VoteRequest {
                pre_vote,
                last_index,
                last_term,
                transfer,
            })
        }),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(pre_vote, granted)| {
            Body::VoteResponse(VoteResponse { pre_vote, granted })
        }),
        2 => arb_snapshot_chunk(),
        1 => (small(), small(), small()).prop_map(|(index, term, offset)| {
            Body::SnapshotResponse(SnapshotResponse::Next { index, term, offset })
        }),
        1 => small().prop_map(|match_index| Body::SnapshotResponse(SnapshotResponse::Installed { match_index })),
        1 => Just(Body::TimeoutNow),
    ]
}

/// Snapshot chunks, often a whole well-formed snapshot in one chunk (checksum right), sometimes
/// with a wrong checksum, an offset, or a missing configuration.
fn arb_snapshot_chunk() -> impl Strategy<Value = Body> {
    (
        small(),
        small(),
        prop_oneof![3 => Just(0u64), 1 => small()],
        prop::collection::vec(any::<u8>(), 0..8),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(index, term, offset, data, done, with_membership, right_crc)| {
                let crc32c = if right_crc { crc32c::crc32c(&data) } else { 7 };
                Body::SnapshotChunk(Box::new(SnapshotChunk {
                    index,
                    term,
                    offset,
                    data: Bytes::from(data),
                    done,
                    membership: with_membership.then(|| Membership::with_voters([1, 2, 3])),
                    crc32c,
                }))
            },
        )
}

fn arb_fuzz_message() -> impl Strategy<Value = Message> {
    (
        prop_oneof![8 => 0u64..5, 1 => Just(u64::MAX)],
        prop_oneof![8 => 1u64..4, 1 => Just(0u64)],
        prop_oneof![8 => 3u64..8, 1 => Just(0u64), 1 => Just(u64::MAX)],
        arb_fuzz_body(),
    )
        .prop_map(|(from, to, term, body)| Message {
            from,
            to,
            term,
            body,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    /// Sequences of arbitrary messages — forged, stale, absurd — sent to a leader and a follower
    /// never panic, keep local invariants, never lower the term or the commit index and never
    /// change a committed entry.
    #[test]
    fn random_messages_never_break_a_node(messages in prop::collection::vec(arb_fuzz_message(), 1..24)) {
        let mut c = running_cluster();
        for id in [LEADER, FOLLOWER] {
            let committed: Vec<Entry> = c.node(id).log_entries_from(1).take(LAST as usize).cloned().collect();
            for m in &messages {
                let mut m = m.clone();
                if m.to != 0 {
                    m.to = id;
                }
                let before = c.node(id).status();
                let vote_before = c.node(id).vote();
                c.step(id, Input::Message(m.clone()));
                let node = c.node(id);
                let after = node.status();
                prop_assert!(node.check_invariants().is_ok(), "{:?}", node.check_invariants());
                prop_assert!(after.term >= before.term, "term went down on {:?}", m);
                prop_assert!(after.commit >= before.commit, "commit went down on {:?}", m);
                if after.term == before.term && vote_before.is_some() {
                    prop_assert_eq!(node.vote(), vote_before, "second vote in a term on {:?}", m);
                }
                // A snapshot from a (forged) leader may cover committed entries: compare those
                // still in the log.
                let first = node.first_index();
                let now: Vec<Entry> = node.log_entries_from(first).take_while(|e| e.index <= LAST).cloned().collect();
                let kept: Vec<Entry> = committed.iter().filter(|e| e.index >= first).cloned().collect();
                prop_assert_eq!(&now, &kept, "committed entry changed on {:?}", m);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Codec
// ---------------------------------------------------------------------------------------------

fn arb_entry() -> impl Strategy<Value = Entry> {
    (
        any::<u64>(),
        any::<u64>(),
        arb_kind(),
        prop::collection::vec(any::<u8>(), 0..24),
    )
        .prop_map(|(term, index, kind, data)| Entry {
            term,
            index,
            kind,
            data: Bytes::from(data),
        })
}

fn arb_body() -> impl Strategy<Value = Body> {
    prop_oneof![
        (
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            prop::collection::vec(arb_entry(), 0..4)
        )
            .prop_map(|(prev_index, prev_term, commit, entries)| append(
                prev_index, prev_term, commit, entries
            )),
        any::<u64>()
            .prop_map(|match_index| Body::AppendResponse(AppendResponse::Accepted { match_index })),
        (any::<u64>(), any::<u64>(), any::<Option<u64>>()).prop_map(
            |(reject_index, hint_index, hint_term)| {
                Body::AppendResponse(AppendResponse::Rejected {
                    reject_index,
                    hint_index,
                    hint_term,
                })
            }
        ),
        any::<u64>().prop_map(|commit| Body::Heartbeat(Heartbeat { commit, round: 0 })),
        any::<u64>().prop_map(|round| Body::HeartbeatResponse(HeartbeatResponse { round })),
        any::<u64>().prop_map(|id| Body::ReadIndex(ReadIndexRequest { id })),
        (any::<u64>(), any::<Option<u64>>())
            .prop_map(|(id, index)| Body::ReadIndexResponse(ReadIndexResponse { id, index })),
        (any::<bool>(), any::<u64>(), any::<u64>()).prop_map(
            |(pre_vote, last_index, last_term)| {
                Body::Vote(VoteRequest {
                    pre_vote,
                    last_index,
                    last_term,
                    transfer: false,
                })
            }
        ),
        (any::<bool>(), any::<bool>()).prop_map(|(pre_vote, granted)| {
            Body::VoteResponse(VoteResponse { pre_vote, granted })
        }),
        (
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            prop::collection::vec(any::<u8>(), 0..16),
            any::<bool>(),
            any::<bool>(),
            any::<u32>()
        )
            .prop_map(|(index, term, offset, data, done, first, crc32c)| {
                Body::SnapshotChunk(Box::new(SnapshotChunk {
                    index,
                    term,
                    offset,
                    data: Bytes::from(data),
                    done,
                    membership: first.then(|| Membership::with_voters([1, 2])),
                    crc32c,
                }))
            }),
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(index, term, offset)| {
            Body::SnapshotResponse(SnapshotResponse::Next {
                index,
                term,
                offset,
            })
        }),
        any::<u64>().prop_map(
            |match_index| Body::SnapshotResponse(SnapshotResponse::Installed { match_index })
        ),
        Just(Body::TimeoutNow),
    ]
}

fn arb_message() -> impl Strategy<Value = Message> {
    (any::<u64>(), any::<u64>(), any::<u64>(), arb_body()).prop_map(|(from, to, term, body)| {
        Message {
            from,
            to,
            term,
            body,
        }
    })
}

/// One message of every kind (and every variant of the fields that have variants).
fn every_kind() -> Vec<Message> {
    let entries = vec![
        Entry {
            term: 3,
            index: 10,
            kind: EntryKind::Empty,
            data: Bytes::new(),
        },
        Entry {
            term: 3,
            index: 11,
            kind: EntryKind::Normal,
            data: Bytes::from_static(b"hello"),
        },
        Entry {
            term: 4,
            index: 12,
            kind: EntryKind::Membership,
            data: Bytes::from(Membership::with_voters([1, 2, 3]).encode()),
        },
    ];
    let bodies = vec![
        append(9, 3, 8, entries),
        append(0, 0, 0, vec![]),
        append(u64::MAX, u64::MAX, u64::MAX, vec![]),
        Body::AppendResponse(AppendResponse::Accepted { match_index: 12 }),
        Body::AppendResponse(AppendResponse::Rejected {
            reject_index: 9,
            hint_index: 4,
            hint_term: Some(2),
        }),
        Body::AppendResponse(AppendResponse::Rejected {
            reject_index: 9,
            hint_index: 4,
            hint_term: None,
        }),
        Body::Heartbeat(Heartbeat {
            commit: 7,
            round: 0,
        }),
        Body::HeartbeatResponse(HeartbeatResponse { round: 0 }),
        Body::Vote(VoteRequest {
            pre_vote: false,
            last_index: 12,
            last_term: 4,
            transfer: false,
        }),
        Body::Vote(VoteRequest {
            pre_vote: true,
            last_index: 12,
            last_term: 4,
            transfer: false,
        }),
        Body::VoteResponse(VoteResponse {
            pre_vote: false,
            granted: true,
        }),
        Body::VoteResponse(VoteResponse {
            pre_vote: true,
            granted: false,
        }),
    ];
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| msg(1 + i as u64 % 3, 2, 5 + i as u64, body))
        .collect()
}

/// Every message kind round-trips through encode/decode, alone and after other bytes
/// (`encode_into` appends).
#[test]
fn every_message_kind_round_trips() {
    let all = every_kind();
    let names: std::collections::BTreeSet<&str> = all.iter().map(|m| m.body.kind_name()).collect();
    assert_eq!(names.len(), 8, "all eight kinds: {names:?}");
    for m in &all {
        let bytes = m.encode();
        assert_eq!(Message::decode(&bytes), Ok(m.clone()));
        let mut buf = vec![0xAA, 0xBB];
        m.encode_into(&mut buf);
        assert_eq!(&buf[..2], &[0xAA, 0xBB]);
        assert_eq!(&buf[2..], &bytes[..]);
    }
    // The persisted types too.
    let hs = HardState {
        term: 9,
        vote: Some(3),
        commit: 7,
    };
    assert_eq!(HardState::decode(&hs.encode()), Ok(hs));
    let e = entry(5, 2);
    assert_eq!(Entry::decode(&e.encode()), Ok(e));
    let meta = SnapshotMeta {
        index: 4,
        term: 2,
        membership: Membership {
            voters: vec![1, 2],
            outgoing: vec![1, 3],
            learners: vec![4],
        },
    };
    assert_eq!(SnapshotMeta::decode(&meta.encode()), Ok(meta.clone()));
    assert_eq!(
        Membership::decode(&meta.membership.encode()),
        Ok(meta.membership)
    );
}

/// Every strict prefix of a valid encoding is `Truncated`; extra bytes are `TrailingBytes`.
#[test]
fn truncated_and_extended_messages_are_rejected() {
    for m in every_kind() {
        let bytes = m.encode();
        for len in 0..bytes.len() {
            assert_eq!(
                Message::decode(&bytes[..len]),
                Err(DecodeError::Truncated),
                "{m:?} cut to {len} of {} bytes",
                bytes.len()
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Message::decode(&longer), Err(DecodeError::TrailingBytes));
    }
}

/// Corruptions that cannot be valid: an unknown message kind, an invalid bool or option tag, an
/// over-long varint, a length prefix beyond the input.
#[test]
fn corrupted_messages_are_rejected() {
    // from=1, to=2, term=3, then the body's variant index.
    let header = [1u8, 2, 3];
    for tag in [11u8, 12, 100, 0x7f] {
        let bytes = [&header[..], &[tag]].concat();
        assert_eq!(
            Message::decode(&bytes),
            Err(DecodeError::Malformed),
            "tag {tag}"
        );
    }
    // Vote (tag 4) with pre_vote = 2.
    assert!(Message::decode(&[1, 2, 3, 4, 2, 0, 0]).is_err());
    // VoteResponse (tag 5) with granted = 7.
    assert!(Message::decode(&[1, 2, 3, 5, 0, 7]).is_err());
    // Rejected (AppendResponse tag 1, variant 1) with an option tag of 2.
    assert!(Message::decode(&[1, 2, 3, 1, 1, 9, 4, 2, 0]).is_err());
    // An eleven-byte varint for `from`.
    let mut overlong = vec![0xFF; 10];
    overlong.extend([0x01, 2, 3, 3, 0]);
    assert!(Message::decode(&overlong).is_err());
    // Append (tag 0) claiming u64::MAX entries, then nothing: must fail without allocating them.
    let mut huge = vec![1, 2, 3, 0, 9, 3, 8];
    huge.extend([0xFF; 9]);
    huge.push(0x01);
    assert_eq!(Message::decode(&huge), Err(DecodeError::Truncated));
    // An entry whose payload length runs past the end.
    let mut short_payload = vec![1, 2, 3, 0, 9, 3, 8, 1, 3, 10, 0, 0x7f, b'x'];
    assert_eq!(Message::decode(&short_payload), Err(DecodeError::Truncated));
    short_payload.truncate(4);
    assert_eq!(Message::decode(&short_payload), Err(DecodeError::Truncated));
    assert_eq!(Message::decode(&[]), Err(DecodeError::Truncated));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random bytes never panic the decoder. Whatever does decode is a real message: it
    /// re-encodes to something that decodes to the same message.
    #[test]
    fn decode_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..96)) {
        if let Ok(m) = Message::decode(&bytes) {
            prop_assert_eq!(Message::decode(&m.encode()), Ok(m));
        }
        let _ = Entry::decode(&bytes);
        let _ = HardState::decode(&bytes);
        let _ = Membership::decode(&bytes);
        let _ = SnapshotMeta::decode(&bytes);
    }

    /// Every message round-trips.
    #[test]
    fn arbitrary_messages_round_trip(m in arb_message()) {
        prop_assert_eq!(Message::decode(&m.encode()), Ok(m));
    }

    /// Truncating an arbitrary message anywhere is detected.
    #[test]
    fn truncated_arbitrary_messages_are_rejected(m in arb_message(), cut in any::<prop::sample::Index>()) {
        let bytes = m.encode();
        let len = cut.index(bytes.len());
        prop_assert_eq!(Message::decode(&bytes[..len]), Err(DecodeError::Truncated));
    }

    /// Corrupting bytes of a valid message never panics; whatever still decodes round-trips.
    #[test]
    fn corrupted_messages_never_panic(
        m in arb_message(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = m.encode();
        for (at, value) in &edits {
            let i = at.index(bytes.len());
            bytes[i] = *value;
        }
        if let Ok(decoded) = Message::decode(&bytes) {
            prop_assert_eq!(Message::decode(&decoded.encode()), Ok(decoded.clone()));
        }
    }
}

/// Arbitrary durable state, with indexes and terms small or large but (unlike
/// `arb_durable_state_near_the_top`) not at the very top of the index space.
fn arb_durable_state() -> impl Strategy<Value = DurableState> {
    let ids = prop::collection::vec(prop_oneof![0u64..6, Just(u64::MAX)], 0..4);
    let n = || prop_oneof![8 => 0u64..8, 1 => Just(1u64 << 40), 1 => Just(u64::MAX / 2)];
    (
        (n(), prop::option::of(n()), n()),
        (n(), n(), ids.clone(), ids.clone(), ids),
        prop::collection::vec((n(), n(), arb_kind()), 0..5),
        n(),
    )
        .prop_map(
            |((term, vote, commit), (s_index, s_term, voters, outgoing, learners), es, applied)| {
                DurableState {
                    hard_state: HardState { term, vote, commit },
                    snapshot: SnapshotMeta {
                        index: s_index,
                        term: s_term,
                        membership: Membership {
                            voters,
                            outgoing,
                            learners,
                        },
                    },
                    entries: es
                        .into_iter()
                        .map(|(index, term, kind)| Entry {
                            term,
                            index,
                            kind,
                            data: Bytes::new(),
                        })
                        .collect(),
                    applied,
                }
            },
        )
}

/// Durable state whose indexes sit at the very top of the index space, but is otherwise
/// consistent: a snapshot at `u64::MAX - k`, an applied index equal to it, maybe an entry after it.
fn arb_durable_state_near_the_top() -> impl Strategy<Value = DurableState> {
    (0u64..3, 0usize..2).prop_map(|(k, n)| {
        let index = u64::MAX - k;
        DurableState {
            hard_state: HardState {
                term: 2,
                vote: None,
                commit: index,
            },
            snapshot: SnapshotMeta {
                index,
                term: 1,
                membership: Membership::with_voters(1..=3),
            },
            entries: (0..n.min(k as usize))
                .map(|i| Entry {
                    term: 2,
                    index: index + 1 + i as Index,
                    kind: EntryKind::Normal,
                    data: Bytes::new(),
                })
                .collect(),
            applied: index,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// docs/design.md §6: `Node::new` refuses inconsistent durable state with a `StartError` and
    /// never panics; a node it accepts satisfies its invariants and survives a few ticks.
    #[test]
    fn arbitrary_durable_state_never_panics_at_start(state in arb_durable_state(), seed in any::<u64>()) {
        let config = Config::new(1, seed);
        if let Ok(mut node) = Node::new(config, state, 0) {
            prop_assert!(node.check_invariants().is_ok());
            for _ in 0..30 {
                let _ = node.step(Input::Tick);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, failure_persistence: None, ..ProptestConfig::default() })]

    /// docs/design.md §6, at the top of the index space: starting from such a state either fails
    /// with a `StartError` or gives a working node — never an arithmetic overflow panic.
    #[test]
    fn durable_state_at_the_top_of_the_index_space_never_panics_at_start(state in arb_durable_state_near_the_top()) {
        let config = Config::new(1, 7);
        if let Ok(mut node) = Node::new(config, state, 0) {
            prop_assert!(node.check_invariants().is_ok());
            let _ = node.step(Input::Tick);
        }
    }
}

/// The start-up path validates persisted state rather than panicking on it.
#[test]
fn inconsistent_durable_state_is_refused_at_start() {
    let config = Config::new(1, 1);
    let mut gap = durable(4, 0, &[1, 2]);
    gap.entries[1].index = 3;
    let too_new = durable(1, 0, &[1, 2]);
    let mut commit_beyond = durable(4, 0, &[1]);
    commit_beyond.hard_state.commit = 5;
    let mut applied_beyond = durable(4, 1, &[1]);
    applied_beyond.applied = 2;
    let mut unsorted = durable(4, 0, &[]);
    unsorted.snapshot.membership.voters = vec![2, 1];
    for state in [gap, too_new, commit_beyond, applied_beyond, unsorted] {
        assert!(
            Node::new(config.clone(), state.clone(), 0).is_err(),
            "{state:?}"
        );
    }
}
