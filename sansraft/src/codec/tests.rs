//! Differential tests: the hand-written codec against the reference, the serde derives encoded
//! with postcard. Same bytes for every value; the same value or the same error class for every
//! input, valid, mutated or random; payloads decoded from a shared frame point into it.

use super::*;
use crate::message::{
    Append, AppendResponse, Body, FreshnessProof, Heartbeat, HeartbeatResponse, ReadIndexRequest,
    ReadIndexResponse, SnapshotChunk, SnapshotResponse, Stamp, VoteRequest, VoteResponse,
};
use crate::types::{EntryKind, Priority};
use proptest::prelude::*;
use std::fmt::Debug;

/// Any u64, biased to varint length boundaries (2^k - 1, 2^k, 2^k + 1) and small values.
fn num() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        0u64..300,
        (0u32..64, -1i64..=1).prop_map(|(shift, d)| (1u64 << shift).wrapping_add_signed(d)),
    ]
}

/// A payload, short or around the 128-byte boundary of its length prefix.
fn payload() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..8),
        prop::collection::vec(any::<u8>(), 120..140),
    ]
    .prop_map(Bytes::from)
}

fn entry() -> impl Strategy<Value = Entry> {
    let kind = prop_oneof![
        Just(EntryKind::Normal),
        Just(EntryKind::Empty),
        Just(EntryKind::Membership)
    ];
    (num(), num(), kind, payload()).prop_map(|(term, index, kind, data)| Entry {
        term,
        index,
        kind,
        data,
    })
}

fn membership() -> impl Strategy<Value = Membership> {
    let ids = || prop::collection::vec(num(), 0..4);
    let priorities = prop::collection::vec((num(), any::<u32>()), 0..3);
    (ids(), ids(), ids(), ids(), priorities).prop_map(
        |(voters, outgoing, learners, witnesses, priorities)| Membership {
            voters,
            outgoing,
            learners,
            witnesses,
            priorities: (priorities.into_iter())
                .map(|(id, priority)| Priority { id, priority })
                .collect(),
        },
    )
}

fn hard_state() -> impl Strategy<Value = HardState> {
    (num(), prop::option::of(num()), num()).prop_map(|(term, vote, commit)| HardState {
        term,
        vote,
        commit,
    })
}

fn snapshot_meta() -> impl Strategy<Value = SnapshotMeta> {
    (num(), num(), membership()).prop_map(|(index, term, membership)| SnapshotMeta {
        index,
        term,
        membership,
    })
}

fn stamp() -> impl Strategy<Value = Stamp> {
    (num(), num()).prop_map(|(incarnation, tick)| Stamp { incarnation, tick })
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        (num(), num(), num(), prop::collection::vec(entry(), 0..4)).prop_map(
            |(prev_index, prev_term, commit, entries)| Body::Append(Append {
                prev_index,
                prev_term,
                commit,
                entries: entries.into(),
            })
        ),
        num()
            .prop_map(|match_index| Body::AppendResponse(AppendResponse::Accepted { match_index })),
        (num(), num(), prop::option::of(num())).prop_map(
            |(reject_index, hint_index, hint_term)| Body::AppendResponse(
                AppendResponse::Rejected {
                    reject_index,
                    hint_index,
                    hint_term,
                }
            )
        ),
        (num(), num(), prop::option::of((stamp(), num()))).prop_map(|(commit, round, proof)| {
            Body::Heartbeat(Heartbeat {
                commit,
                round,
                proof: proof.map(|(stamp, commit)| FreshnessProof { stamp, commit }),
                quiesce: false,
            })
        }),
        (num(), prop::option::of(stamp())).prop_map(|(round, stamp)| Body::HeartbeatResponse(
            HeartbeatResponse {
                round,
                stamp,
                quiet: false
            }
        )),
        (any::<bool>(), num(), num(), any::<bool>(), num(), num()).prop_map(
            |(pre_vote, last_index, last_term, transfer, config_index, config_term)| {
                Body::Vote(VoteRequest {
                    pre_vote,
                    last_index,
                    last_term,
                    transfer,
                    config_index,
                    config_term,
                })
            }
        ),
        (any::<bool>(), any::<bool>())
            .prop_map(|(pre_vote, granted)| Body::VoteResponse(VoteResponse { pre_vote, granted })),
        (
            (num(), num(), num(), payload()),
            (any::<bool>(), prop::option::of(membership()), any::<u32>())
        )
            .prop_map(
                |((index, term, offset, data), (done, membership, crc32c))| {
                    Body::SnapshotChunk(Box::new(SnapshotChunk {
                        index,
                        term,
                        offset,
                        data,
                        done,
                        membership,
                        crc32c,
                    }))
                }
            ),
        (num(), num(), num()).prop_map(|(index, term, offset)| Body::SnapshotResponse(
            SnapshotResponse::Next {
                index,
                term,
                offset
            }
        )),
        num().prop_map(
            |match_index| Body::SnapshotResponse(SnapshotResponse::Installed { match_index })
        ),
        (num(), num()).prop_map(|(index, term)| Body::SnapshotResponse(
            SnapshotResponse::Refused { index, term }
        )),
        Just(Body::TimeoutNow),
        num().prop_map(|id| Body::ReadIndex(ReadIndexRequest { id })),
        (num(), prop::option::of(num()))
            .prop_map(|(id, index)| Body::ReadIndexResponse(ReadIndexResponse { id, index })),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (num(), num(), num(), body()).prop_map(|(from, to, term, body)| Message {
        from,
        to,
        term,
        body,
    })
}

/// The payloads of a message: entry data and snapshot chunk data.
fn payloads(m: &Message) -> Vec<&Bytes> {
    match &m.body {
        Body::Append(a) => a.entries.iter().map(|e| &e.data).collect(),
        Body::SnapshotChunk(c) => vec![&c.data],
        _ => Vec::new(),
    }
}

/// `payload` is empty or lies inside `frame`'s buffer.
fn points_into(payload: &Bytes, frame: &Bytes) -> bool {
    let frame = frame.as_ptr_range();
    let inner = payload.as_ptr_range();
    payload.is_empty() || (frame.start <= inner.start && inner.end <= frame.end)
}

/// The hand-written encoding of `value` is the reference's; its length is `encoded_len`;
/// `encode_into` appends it; both decoders give `value` back.
fn same_encoding<T: Codec + PartialEq + Debug>(value: &T) -> Vec<u8> {
    let reference = postcard::to_allocvec(value).expect("encodes");
    let bytes = value.encode();
    assert_eq!(bytes, reference, "hand-written encoding of {value:?}");
    assert_eq!(value.encoded_len(), bytes.len());
    assert_eq!(bytes.capacity(), bytes.len(), "encode allocates exactly");
    let mut appended = vec![0xA5];
    value.encode_into(&mut appended);
    assert_eq!(&appended[1..], &bytes[..]);
    let mut via_serde = vec![0xA5];
    serde_encode_into(value, &mut via_serde);
    assert_eq!(via_serde, appended);
    assert_eq!(serde_encoded_len(value), bytes.len());
    assert_eq!(T::decode(&bytes).as_ref(), Ok(value));
    assert_eq!(
        T::decode_shared(&Bytes::from(bytes.clone())).as_ref(),
        Ok(value)
    );
    bytes
}

/// Both hand-written decoders give what the reference gives: the same value or the same error.
fn same_decoding<T: Codec + PartialEq + Debug>(bytes: &[u8]) {
    let reference = serde_decode::<T>(bytes);
    assert_eq!(T::decode(bytes), reference, "decode of {bytes:?}");
    let frame = Bytes::copy_from_slice(bytes);
    assert_eq!(
        T::decode_shared(&frame),
        reference,
        "decode_shared of {bytes:?}"
    );
}

fn same_decoding_all(bytes: &[u8]) {
    same_decoding::<Message>(bytes);
    same_decoding::<Entry>(bytes);
    same_decoding::<HardState>(bytes);
    same_decoding::<Membership>(bytes);
    same_decoding::<SnapshotMeta>(bytes);
}

/// A postcard varint.
fn varint(v: u64) -> Vec<u8> {
    postcard::to_allocvec(&v).expect("encodes")
}

/// One change to an encoding.
#[derive(Clone, Debug)]
enum Mutation {
    Truncate(prop::sample::Index),
    FlipBit(prop::sample::Index, u8),
    Set(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Remove(prop::sample::Index),
    /// Overwrites the bytes at the index with a large varint (a length field claiming a lot).
    LargeVarint(prop::sample::Index, u64),
    Append(u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    use prop::sample::Index;
    prop_oneof![
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit(at, bit)),
        (any::<Index>(), any::<u8>()).prop_map(|(at, v)| Mutation::Set(at, v)),
        (any::<Index>(), any::<u8>()).prop_map(|(at, v)| Mutation::Insert(at, v)),
        any::<Index>().prop_map(Mutation::Remove),
        (
            any::<Index>(),
            prop_oneof![1u64 << 20..1 << 40, Just(u64::MAX), Just(1 << 63)]
        )
            .prop_map(|(at, v)| Mutation::LargeVarint(at, v)),
        any::<u8>().prop_map(Mutation::Append),
    ]
}

fn mutate(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        bytes.push(0);
    }
    let len = bytes.len();
    match m {
        Mutation::Truncate(at) => bytes.truncate(at.index(len)),
        Mutation::FlipBit(at, bit) => bytes[at.index(len)] ^= 1 << bit,
        Mutation::Set(at, v) => bytes[at.index(len)] = *v,
        Mutation::Insert(at, v) => bytes.insert(at.index(len + 1), *v),
        Mutation::Remove(at) => {
            bytes.remove(at.index(len));
        }
        Mutation::LargeVarint(at, v) => {
            let at = at.index(len);
            let large = varint(*v);
            let end = (at + large.len()).min(len);
            bytes.splice(at..end, large);
        }
        Mutation::Append(v) => bytes.push(*v),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

    /// Messages: the same bytes as the reference, and decode_shared's payloads are slices of
    /// the frame.
    #[test]
    fn messages_encode_as_the_reference_and_decode_shared_slices_the_frame(m in message()) {
        let bytes = same_encoding(&m);
        let frame = Bytes::from(bytes);
        let shared = Message::decode_shared(&frame).expect("decodes");
        for payload in payloads(&shared) {
            prop_assert!(points_into(payload, &frame), "{payload:?} copied");
        }
        let copied = Message::decode(&frame).expect("decodes");
        for payload in payloads(&copied).into_iter().filter(|p| !p.is_empty()) {
            prop_assert!(!points_into(payload, &frame), "decode copies");
        }
    }

    /// The persisted types: the same bytes as the reference.
    #[test]
    fn persisted_types_encode_as_the_reference(
        e in entry(),
        h in hard_state(),
        mem in membership(),
        s in snapshot_meta(),
    ) {
        let bytes = same_encoding(&e);
        let frame = Bytes::from(bytes);
        prop_assert!(points_into(&Entry::decode_shared(&frame).expect("decodes").data, &frame));
        same_encoding(&h);
        same_encoding(&mem);
        same_encoding(&s);
    }

    /// Mutated encodings (cut, flipped, shifted, with large length fields, extended) decode
    /// to what the reference decodes them to, as every type.
    #[test]
    fn mutated_encodings_decode_as_the_reference(
        m in message(),
        e in entry(),
        s in snapshot_meta(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        for mut bytes in [m.encode(), e.encode(), s.encode()] {
            for mutation in &mutations {
                mutate(&mut bytes, mutation);
            }
            same_decoding_all(&bytes);
        }
    }

    /// Random bytes, mostly small so that lengths and variants often parse, decode to what
    /// the reference decodes them to, as every type.
    #[test]
    fn random_bytes_decode_as_the_reference(
        bytes in prop::collection::vec(prop_oneof![3 => 0u8..12, 1 => any::<u8>()], 0..64),
    ) {
        same_decoding_all(&bytes);
    }
}

/// Every strict prefix of every valid encoding, and every varint rule at the edges: the same
/// value or error as the reference.
#[test]
fn prefixes_and_varint_edges_decode_as_the_reference() {
    let chunk = Message {
        from: 1,
        to: 2,
        term: 3,
        body: Body::SnapshotChunk(Box::new(SnapshotChunk {
            index: 300,
            term: 2,
            offset: 1 << 40,
            data: Bytes::from_static(b"chunk"),
            done: true,
            membership: Some(Membership::with_voters([1, 2, 200])),
            crc32c: u32::MAX,
        })),
    };
    let bytes = same_encoding(&chunk);
    for len in 0..=bytes.len() {
        same_decoding_all(&bytes[..len]);
    }
    // A heartbeat with a freshness proof and an answer with a stamp: every prefix, and the
    // option tags (0, 1, then malformed) of the proof and the stamp.
    let stamp = Stamp {
        incarnation: 1 << 40,
        tick: 300,
    };
    let heartbeat = Message {
        from: 1,
        to: 2,
        term: 3,
        body: Body::Heartbeat(Heartbeat {
            commit: 9,
            round: 4,
            proof: Some(FreshnessProof { stamp, commit: 7 }),
            quiesce: true,
        }),
    };
    let answer = Message {
        from: 2,
        to: 1,
        term: 3,
        body: Body::HeartbeatResponse(HeartbeatResponse {
            round: 4,
            stamp: Some(stamp),
            quiet: true,
        }),
    };
    for message in [&heartbeat, &answer] {
        let bytes = same_encoding(message);
        for len in 0..=bytes.len() {
            same_decoding_all(&bytes[..len]);
        }
    }
    for tag in 0..4u8 {
        same_decoding_all(&[1, 2, 3, 2, 9, 4, tag, 5, 6, 7]);
        same_decoding_all(&[2, 1, 3, 3, 4, tag, 5, 6]);
        let answer: &[u8] = if tag == 0 {
            &[2, 1, 3, 3, 4, 0, 1]
        } else {
            &[2, 1, 3, 3, 4, tag, 5, 6, 0]
        };
        let decoded = Message::decode(answer);
        assert_eq!(decoded.is_err(), tag > 1, "stamp tag {tag}: {decoded:?}");
        // The quiescence flags: 0, 1, then malformed.
        same_decoding_all(&[1, 2, 3, 2, 9, 4, 0, tag]);
        same_decoding_all(&[2, 1, 3, 3, 4, 0, tag]);
        let decoded = Message::decode(&[2, 1, 3, 3, 4, 0, tag]);
        assert_eq!(decoded.is_err(), tag > 1, "quiet flag {tag}: {decoded:?}");
    }
    // `from` as 1..=11-byte varints with every interesting last byte.
    for n in 1..=11 {
        for last in [0x00, 0x01, 0x02, 0x0F, 0x10, 0x7F, 0x80] {
            let mut input = vec![0xFF; n - 1];
            input.push(last);
            input.extend([2, 3, 8]);
            same_decoding_all(&input);
        }
    }
    // Variant indexes as long u32 varints, known and unknown.
    for variant in [
        &[0x88, 0x00][..],
        &[0x88, 0x80, 0x80, 0x80, 0x00],
        &[0xFF, 0xFF, 0xFF, 0xFF, 0x0F],
        &[0xFF, 0xFF, 0xFF, 0xFF, 0x10],
    ] {
        same_decoding_all(&[&[1, 2, 3][..], variant].concat());
    }
    // Counts far beyond the input, in entries, entry data and membership vectors.
    for claimed in [1u64 << 20, 1 << 40, u64::MAX] {
        let mut append = vec![1, 2, 3, 0, 9, 3, 8];
        append.extend(varint(claimed));
        append.extend([3, 10, 0, 1, b'x', 3, 11, 9]);
        same_decoding_all(&append);
        let mut entry = vec![1, 1, 0];
        entry.extend(varint(claimed));
        entry.extend(b"xyz");
        same_decoding_all(&entry);
        let mut voters = varint(claimed);
        voters.extend([1, 2, 3]);
        same_decoding_all(&voters);
    }
}
