//! Pieces every embedding needs, shared by the examples: an in-memory store that carries out
//! [`sansraft::Write`]s the way a disk must ([`MemStore`]), the key-value state machine they
//! replicate ([`Kv`], from [`sansraft_kv`]), and a replicated key-value server driven by plain
//! threads ([`kv_threads`]).
//!
//! Run the examples with `cargo run -p sansraft-examples --example NAME` for `plain_loop`,
//! `tokio_cluster` and `kv_threads`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod kv_threads;
mod store;

pub use store::MemStore;

use bytes::Bytes;
use sansraft_kv::{Command, KvMachine, Op};

/// The examples' state machine: string keys and values, with client sessions and snapshots.
pub type Kv = KvMachine<String, String>;

/// The bytes of a command that sets `key` to `value` (without a client session: applied every
/// time it commits, which is harmless for a put).
pub fn set_command(key: &str, value: &str) -> Bytes {
    let op = Op::Put {
        key: key.to_owned(),
        value: value.to_owned(),
    };
    Command { request: None, op }.encode()
}
