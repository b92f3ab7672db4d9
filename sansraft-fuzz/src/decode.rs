//! The `decode` target: arbitrary bytes into the decoder of every wire and persisted type.
//!
//! For each type: decoding never panics; whatever decodes re-encodes to bytes that decode to
//! the same value (and [`Codec::encode_into`] appends exactly those bytes). The same bytes are
//! also read as a structure-aware recipe for values of every type ([`crate::node_step::gen`]),
//! which must survive encode → decode unchanged.
//!
//! Allocation is checked by the callers that can count it (the fuzz target and the
//! `decode_alloc` test install a counting allocator): decoding must allocate at most
//! [`allocation_budget`] bytes, an amount proportional to the input, never to a length field.

use crate::node_step::gen;
use arbitrary::Unstructured;
use sansraft::{Codec, Entry, HardState, Membership, Message, SnapshotMeta};
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
    check::<Message>(data);
    check::<Entry>(data);
    check::<HardState>(data);
    check::<Membership>(data);
    check::<SnapshotMeta>(data);
}

/// The most bytes [`decode_all`] may allocate for an input of `input_len` bytes: a fixed
/// allowance plus a constant factor of the input (decoded values are a few times larger than
/// their encoding, and the round trip holds two copies and an encoding).
pub fn allocation_budget(input_len: usize) -> usize {
    4096 + 512 * input_len
}

fn check<T: Codec + PartialEq + Debug>(data: &[u8]) {
    if let Ok(value) = T::decode(data) {
        round_trip(&value);
    }
}

fn round_trip<T: Codec + PartialEq + Debug>(value: &T) {
    let bytes = value.encode();
    match T::decode(&bytes) {
        Ok(again) => assert_eq!(&again, value, "decode(encode(v)) != v for {bytes:?}"),
        Err(e) => panic!("the encoding {bytes:?} of {value:?} does not decode: {e}"),
    }
    let mut appended = vec![0xA5];
    value.encode_into(&mut appended);
    assert_eq!(
        &appended[1..],
        &bytes[..],
        "encode_into did not append the encoding"
    );
}
