//! Random messages never break a node.

use bytes::Bytes;
use proptest::prelude::*;
use sansraft::message::{
    AppendResponse, Heartbeat, HeartbeatResponse, ReadIndexRequest, ReadIndexResponse,
    SnapshotChunk, SnapshotResponse, VoteRequest, VoteResponse,
};
use sansraft::{Body, Entry, Index, Input, Membership, Message};

use crate::helpers::*;

fn small() -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => 0u64..12,
        1 => Just(u64::MAX),
        1 => any::<u64>(),
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
        1 => small().prop_map(|commit| Body::Heartbeat(Heartbeat { commit, round: 0, proof: None, quiesce: false })),
        1 => small().prop_map(|round| Body::HeartbeatResponse(HeartbeatResponse { round, stamp: None, quiet: false })),
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
                config_index: 0,
                config_term: 0,
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
