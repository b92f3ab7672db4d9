//! Impossible appends and acknowledgements: malformed entries, acknowledgements beyond the
//! leader's log, and appends that contradict committed entries.

use sansraft::message::{AppendResponse, Heartbeat};
use sansraft::{Action, Body, Entry, Input, MAX_INDEX};

use crate::helpers::*;

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
            proof: None,
            quiesce: false,
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

/// A snapshot whose configuration has no voters (here a joint one whose incoming half is empty)
/// is malformed, as a membership entry with none is: installed, it would let the leader leave
/// the joint configuration for one with no voters, which no restart accepts. (Found by the
/// node_step fuzz target.)
#[test]
fn snapshots_whose_configuration_has_no_voters_are_malformed() {
    let mut c = running_cluster();
    let chunk = sansraft::message::SnapshotChunk {
        index: LAST + 10,
        term: TERM,
        offset: 0,
        data: bytes::Bytes::from_static(b"state"),
        done: true,
        membership: Some(sansraft::Membership {
            outgoing: vec![1],
            ..sansraft::Membership::default()
        }),
        crc32c: crc32c::crc32c(b"state"),
    };
    let body = Body::SnapshotChunk(Box::new(chunk));
    assert_ignored(
        node_mut(&mut c, FOLLOWER),
        Input::Message(msg(LEADER, FOLLOWER, TERM, body)),
        |n| n.malformed += 1,
    );
}
