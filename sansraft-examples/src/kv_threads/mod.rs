//! A replicated key-value server with no async runtime: every node is a plain thread with a
//! plain loop, and sansraft needs nothing more.
//!
//! Per node, two threads and one inbox ([`std::sync::mpsc`]):
//!
//! ```text
//!  peers ──bytes──┐                        ┌──▶ storage thread: writes in issue order,
//!  clients ───────┼──▶ inbox ──▶ node thread│      syncs, then Event::Persisted(token)
//!  storage acks ──┘   (recv_timeout         └──▶ router: Message encoded to bytes
//!                      = the tick deadline)
//! ```
//!
//! The node thread owns the [`sansraft::Node`] and the state machine ([`Kv`]): it steps every input
//! and carries out every action (see `server.rs`). The storage thread owns the [`MemStore`]
//! "disk" and hands it back when the node crashes, holding at least what it acknowledged;
//! [`Cluster::restart`] rebuilds the node from it. Clients ([`Client`]) send requests to the
//! node they believe leads and follow redirects.
//!
//! [`Kv`]: crate::Kv
//! [`MemStore`]: crate::MemStore

mod client;
mod cluster;
mod net;
mod server;
mod storage;

pub use client::{Client, Error};
pub use cluster::{Cluster, Crash};

use bytes::Bytes;
use sansraft::{
    ChunkRead, Config, Index, NodeId, SnapshotMeta, Status, TransferOutcome, WriteToken,
};
use sansraft_kv::Output;
use std::collections::BTreeMap;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

/// One tick of every node's clock. With the default election timeout of 10 ticks, a leader is
/// suspected after 100–200 ms of silence.
pub const TICK: Duration = Duration::from_millis(10);

/// A node's configuration: small snapshot chunks and a short compaction tail, so that the
/// demo's lagging node catches up through a chunked snapshot transfer.
fn config(id: NodeId) -> Config {
    let mut config = Config::new(id, 0x5eed ^ id);
    config.compaction_keep_entries = 16;
    config.snapshot_chunk_bytes = 1024;
    config
}

/// The wall clock is the embedder's business: the engine only ever sees ticks.
#[expect(
    clippy::disallowed_methods,
    reason = "the embedder owns the clock; sansraft sees only ticks"
)]
fn now() -> Instant {
    Instant::now()
}

/// What a node thread reacts to.
#[derive(Debug)]
enum Event {
    /// A peer's message in its wire encoding.
    Peer(Bytes),
    /// The storage thread made this write, and every earlier one, durable.
    Persisted(WriteToken),
    /// The storage thread holds this snapshot of ours durably.
    SnapshotSaved(Box<SnapshotMeta>),
    /// The storage thread read a snapshot chunk for a follower.
    ChunkRead(ChunkRead),
    /// A client's encoded [`sansraft_kv::Command`].
    Write(Bytes, WriteReply),
    /// A client's linearizable read of a key.
    Read(String, ReadReply),
    /// Hand leadership to this node.
    Transfer(NodeId, Sender<TransferOutcome>),
    /// Describe yourself.
    Report(Sender<NodeReport>),
}

/// Where a write's outcome goes.
type WriteReply = Sender<Reply<Output<String>>>;
/// Where a read's value goes.
type ReadReply = Sender<Reply<Option<String>>>;

/// A node's answer to a client.
#[derive(Debug)]
enum Reply<T> {
    Done(T),
    /// Not the leader; try this one, if known.
    Redirect(Option<NodeId>),
    /// Refused for now (back-pressure, a transfer, a lost entry or read): try again.
    Retry,
}

/// A node's state, for monitoring and tests.
#[derive(Clone, Debug)]
pub struct NodeReport {
    /// The engine's summary.
    pub status: Status,
    /// The first index still in the log.
    pub first_index: Index,
    /// The latest snapshot's index (taken here or installed from a leader).
    pub snapshot_index: Index,
    /// Snapshots received from a leader and installed since this node started.
    pub snapshots_installed: u64,
    /// Peer messages that did not decode.
    pub undecodable_messages: u64,
    /// Received snapshots that were whole and checksummed yet not a state machine (discarded).
    pub undecodable_snapshots: u64,
    /// Committed commands that were not commands (skipped on every replica).
    pub malformed_commands: u64,
    /// The state machine's map.
    pub kv: BTreeMap<String, String>,
}
