//! The wire codec: every message kind round-trips; truncated and corrupted input is rejected
//! and never panics.

use bytes::Bytes;
use proptest::prelude::*;
use sansraft::message::{
    AppendResponse, Heartbeat, HeartbeatResponse, ReadIndexRequest, ReadIndexResponse,
    SnapshotChunk, SnapshotResponse, VoteRequest, VoteResponse,
};
use sansraft::{
    Body, Codec, DecodeError, Entry, EntryKind, HardState, Membership, Message, SnapshotMeta,
};

use crate::helpers::*;

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
        any::<u64>().prop_map(|commit| Body::Heartbeat(Heartbeat {
            commit,
            round: 0,
            proof: None,
            quiesce: false,
        })),
        any::<u64>().prop_map(|round| Body::HeartbeatResponse(HeartbeatResponse {
            round,
            stamp: None,
            quiet: false
        })),
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
                    config_index: 0,
                    config_term: 0,
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
            proof: None,
            quiesce: false,
        }),
        Body::HeartbeatResponse(HeartbeatResponse {
            round: 0,
            stamp: None,
            quiet: false,
        }),
        Body::Vote(VoteRequest {
            pre_vote: false,
            last_index: 12,
            last_term: 4,
            transfer: false,
            config_index: 0,
            config_term: 0,
        }),
        Body::Vote(VoteRequest {
            pre_vote: true,
            last_index: 12,
            last_term: 4,
            transfer: false,
            config_index: 0,
            config_term: 0,
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
            ..Membership::default()
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
