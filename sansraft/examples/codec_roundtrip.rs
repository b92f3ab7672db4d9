//! A fixed workload for counting the codec's instructions: 100,000 encodings or decodings of
//! an append of three entries with 16-byte payloads.
//!
//! ```text
//! cargo build --release -p sansraft --example codec_roundtrip
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/codec_roundtrip encode|decode|shared
//! ```
//!
//! `encode`: `Codec::encode` into a fresh vector; `decode`: `Codec::decode` from a slice
//! (payloads copied); `shared`: `Codec::decode_shared` from a frame (payloads sliced).

use bytes::Bytes;
use sansraft::message::Append;
use sansraft::{Body, Codec, Entry, EntryKind, Message};
use std::hint::black_box;

const ROUNDS: u64 = 100_000;

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "encode".into());
    let message = Message {
        from: 1,
        to: 2,
        term: 7,
        body: Body::Append(Append {
            prev_index: 1_000_000,
            prev_term: 7,
            commit: 999_990,
            entries: (1..=3)
                .map(|k| Entry {
                    term: 7,
                    index: 1_000_000 + k,
                    kind: EntryKind::Normal,
                    data: Bytes::from(vec![k as u8; 16]),
                })
                .collect(),
        }),
    };
    let frame = Bytes::from(message.encode());
    let mut sum = 0usize;
    for _ in 0..ROUNDS {
        sum += match mode.as_str() {
            "encode" => black_box(&message).encode().len(),
            "decode" => decoded_len(Message::decode(black_box(&frame))),
            "shared" => decoded_len(Message::decode_shared(black_box(&frame))),
            _ => panic!("mode: encode, decode or shared"),
        };
    }
    println!("{mode}: {ROUNDS} rounds, {sum} bytes");
}

fn decoded_len(decoded: Result<Message, sansraft::DecodeError>) -> usize {
    match decoded.expect("decodes").body {
        Body::Append(a) => a.entries.iter().map(|e| e.data.len()).sum(),
        _ => unreachable!("an append"),
    }
}
