//! The `decode` target: arbitrary bytes into the decoder of every wire and persisted type,
//! the multi-group host's `Batch` among them.
//!
//! For each type: decoding never panics; the hand-written decoders agree with the reference
//! (the serde derive through postcard, [`sansraft::codec::serde_decode`]): the same value or
//! the same error class, from [`Codec::decode`] and from [`Codec::decode_shared`] alike, and
//! the payloads `decode_shared` hands out are slices of the frame. Whatever decodes re-encodes
//! to the reference's bytes (of [`Codec::encoded_len`] bytes, appended exactly by
//! [`Codec::encode_into`]), which decode to the same value. The same bytes are also read as a
//! structure-aware recipe for values of every type ([`crate::node_step::gen`]), which must
//! survive the same round trip unchanged.
//!
//! Allocation is checked by the callers that can count it (the fuzz target and the
//! `decode_alloc` test install a counting allocator): decoding must allocate at most
//! [`allocation_budget`] bytes, an amount proportional to the input, never to a length field.

use crate::node_step::gen;
use arbitrary::Unstructured;
use bytes::Bytes;
use sansraft::codec::{serde_decode, serde_encode_into, serde_encoded_len};
use sansraft::{Body, Codec, Entry, HardState, Membership, Message, SnapshotMeta};
use std::fmt::Debug;

/// Runs the target on one input. Panics on a finding.
pub fn run(data: &[u8]) {
    decode_all(data);
    let mut u = Unstructured::new(data);
    if let Ok(m) = gen::message(&mut u, 3) {
        round_trip(&m);
    }
    if let Ok(e) = gen::entry(&mut u, 1, 3, 3) {
        round_trip(&e);
    }
    if let Ok(h) = gen::hard_state(&mut u) {
        round_trip(&h);
    }
    if let Ok(m) = gen::membership(&mut u) {
        round_trip(&m);
    }
    if let Ok(s) = gen::snapshot_meta(&mut u) {
        round_trip(&s);
    }
}

/// Decodes `data` as every wire and persisted type, checking the round trip of whatever decodes.
pub fn decode_all(data: &[u8]) {
    let frame = Bytes::copy_from_slice(data);
    if let Some(m) = check::<Message>(&frame) {
        assert_payloads_share(&message_payloads(&m), &frame);
    }
    if let Some(e) = check::<Entry>(&frame) {
        assert_payloads_share(&[&e.data], &frame);
    }
    check::<HardState>(&frame);
    check::<Membership>(&frame);
    check::<SnapshotMeta>(&frame);
    // The multi-group host's wire type: a batch of enveloped messages between two nodes.
    if let Some(batch) = check::<sansraft_multi::Batch>(&frame) {
        for envelope in &batch.envelopes {
            assert_payloads_share(&message_payloads(&envelope.message), &frame);
        }
    }
}

/// The most bytes [`decode_all`] may allocate for an input of `input_len` bytes: a fixed
/// allowance plus a constant factor of the input (decoded values are a few times larger than
/// their encoding, and the round trip holds two copies and an encoding).
pub fn allocation_budget(input_len: usize) -> usize {
    4096 + 512 * input_len
}

/// Decodes `frame` with the hand-written decoders and the reference, which must agree, and
/// round-trips what decodes. Returns the value `decode_shared` gave.
fn check<T: Codec + PartialEq + Debug>(frame: &Bytes) -> Option<T> {
    let reference = serde_decode::<T>(frame);
    let decoded = T::decode(frame);
    assert_eq!(
        decoded, reference,
        "decode disagrees with the reference on {frame:?}"
    );
    let shared = T::decode_shared(frame);
    assert_eq!(
        shared, reference,
        "decode_shared disagrees with the reference on {frame:?}"
    );
    let value = shared.ok()?;
    round_trip(&value);
    Some(value)
}

/// The payloads of a message: entry data and snapshot chunk data.
fn message_payloads(m: &Message) -> Vec<&Bytes> {
    match &m.body {
        Body::Append(a) => a.entries.iter().map(|e| &e.data).collect(),
        Body::SnapshotChunk(c) => vec![&c.data],
        _ => Vec::new(),
    }
}

/// Every non-empty payload lies inside `frame`'s buffer: it was sliced, not copied.
fn assert_payloads_share(payloads: &[&Bytes], frame: &Bytes) {
    let range = frame.as_ptr_range();
    for payload in payloads.iter().filter(|p| !p.is_empty()) {
        let inner = payload.as_ptr_range();
        assert!(
            range.start <= inner.start && inner.end <= range.end,
            "decode_shared copied the payload {payload:?} out of {frame:?}"
        );
    }
}

fn round_trip<T: Codec + PartialEq + Debug>(value: &T) {
    let bytes = value.encode();
    let mut reference = Vec::new();
    serde_encode_into(value, &mut reference);
    assert_eq!(
        bytes, reference,
        "encode disagrees with the reference on {value:?}"
    );
    assert_eq!(value.encoded_len(), bytes.len(), "encoded_len of {value:?}");
    assert_eq!(serde_encoded_len(value), bytes.len());
    match T::decode(&bytes) {
        Ok(again) => assert_eq!(&again, value, "decode(encode(v)) != v for {bytes:?}"),
        Err(e) => panic!("the encoding {bytes:?} of {value:?} does not decode: {e}"),
    }
    let frame = Bytes::from(bytes.clone());
    assert_eq!(
        T::decode_shared(&frame).as_ref(),
        Ok(value),
        "decode_shared(encode(v)) != v for {bytes:?}"
    );
    let mut appended = vec![0xA5];
    value.encode_into(&mut appended);
    assert_eq!(
        &appended[1..],
        &bytes[..],
        "encode_into did not append the encoding"
    );
}
