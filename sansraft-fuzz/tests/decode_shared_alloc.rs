//! `decode_shared` copies no payload: decoding an append from a frame allocates the run of
//! entries and nothing per entry, whatever the payloads' size, while `decode` allocates one
//! copy per payload. A counting allocator measures it. (This binary holds one test so that no
//! other thread allocates while it measures.)

use bytes::Bytes;
use sansraft::message::Append;
use sansraft::{Body, Codec, Entry, EntryKind, Message};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The encoding of an append of `entries` entries with payloads of `payload_len` bytes.
fn append_frame(entries: u64, payload_len: usize) -> Bytes {
    let message = Message {
        from: 1,
        to: 2,
        term: 7,
        body: Body::Append(Append {
            prev_index: 1000,
            prev_term: 7,
            commit: 990,
            entries: (1..=entries)
                .map(|k| Entry {
                    term: 7,
                    index: 1000 + k,
                    kind: EntryKind::Normal,
                    data: Bytes::from(vec![k as u8; payload_len]),
                })
                .collect(),
        }),
    };
    Bytes::from(message.encode())
}

/// (allocations, bytes allocated) by `f`, which must drop what it decodes.
fn measure(f: impl FnOnce()) -> (usize, usize) {
    let region = Region::new(GLOBAL);
    f();
    let stats = region.change();
    (
        stats.allocations + stats.reallocations,
        stats.bytes_allocated,
    )
}

#[test]
fn decode_shared_allocates_the_run_once_and_decode_one_copy_per_payload() {
    for entries in [1u64, 3, 16] {
        let small = append_frame(entries, 16);
        let large = append_frame(entries, 4096);
        // Promote the frames to shared buffers first: the first slice of a `Bytes` made from
        // a `Vec` allocates its reference count, once per frame.
        drop((small.slice(0..1), large.slice(0..1)));
        let shared_small = measure(|| drop(Message::decode_shared(&small).expect("decodes")));
        let shared_large = measure(|| drop(Message::decode_shared(&large).expect("decodes")));
        assert_eq!(
            shared_small, shared_large,
            "{entries} entries: decode_shared allocates the same for any payload size"
        );
        // One allocation holds the run: its reference count and its entries.
        assert_eq!(
            shared_small.0, 1,
            "{entries} entries: decode_shared allocations"
        );
        let copied = measure(|| drop(Message::decode(&large).expect("decodes")));
        assert_eq!(
            copied.0,
            1 + entries as usize,
            "{entries} entries: decode copies each payload"
        );
        assert!(copied.1 >= shared_large.1 + 4096 * entries as usize);
    }
}
