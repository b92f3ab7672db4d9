//! A node's storage thread: it carries out writes strictly in the order the node issued them,
//! "syncs" once per batch, and only then acknowledges. This is the asynchronous side of the
//! durability contract: the node thread never waits for the disk.

use super::Event;
use crate::MemStore;
use bytes::Bytes;
use sansraft::{ChunkRequest, Index, SnapshotMeta, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

/// What the node thread asks of its storage, in issue order.
#[derive(Debug)]
pub(super) enum StorageOp {
    /// `Action::Persist`, with the bytes of the snapshot it installs, if any.
    Write(Write, Option<Bytes>),
    /// A snapshot the node took of its state machine; answered by `Event::SnapshotSaved`.
    SaveSnapshot(SnapshotMeta, Bytes),
    /// `Action::CompactLog`: no answer.
    Compact(Index),
    /// `Action::ReadSnapshotChunk`: answered by `Event::ChunkRead`.
    ReadChunk(ChunkRequest),
}

/// Runs until the node thread hangs up or the node crashes (`halt`); returns the disk, which
/// holds at least everything it acknowledged.
pub(super) fn run(
    mut disk: MemStore,
    ops: Receiver<StorageOp>,
    node: SyncSender<Event>,
    halt: Arc<AtomicBool>,
) -> MemStore {
    let mut answers = Vec::new();
    while let Ok(first) = ops.recv() {
        let mut last_write = None;
        // Everything queued is one batch: one sync, one acknowledgement for all its writes.
        for op in std::iter::once(first).chain(ops.try_iter()) {
            if halt.load(Ordering::Acquire) {
                // A crash: writes not yet carried out are lost, as unsynced writes are.
                return disk;
            }
            match op {
                StorageOp::Write(write, snapshot) => {
                    disk.apply_write_with(&write, snapshot);
                    last_write = Some(write.token);
                }
                StorageOp::SaveSnapshot(meta, data) => {
                    disk.save_snapshot(meta.clone(), data);
                    answers.push(Event::SnapshotSaved(Box::new(meta)));
                }
                StorageOp::Compact(upto) => disk.compact(upto),
                StorageOp::ReadChunk(request) => {
                    // A request for a snapshot replaced meanwhile goes unanswered; the leader
                    // retries with the newer one.
                    answers.extend(disk.read_chunk(&request).map(Event::ChunkRead));
                }
            }
        }
        // Here a real store syncs. Only then may it acknowledge: one token vouches for every
        // earlier write.
        answers.extend(last_write.map(Event::Persisted));
        for answer in answers.drain(..) {
            if node.send(answer).is_err() {
                return disk;
            }
        }
    }
    disk
}
