//! One group's replica as the node loop sees it: the group's key-value map, its snapshots, and
//! the clients waiting on it. The engine's side of the replica is the host's
//! (`sansraft_multi::Host::group`); the node loop ([`crate::node`]) owns both.

use crate::answer::{self, Refusal, WriteReply};
use crate::kv::{self, Kv};
use crate::node::{GroupStatus, LoopError};
use crate::roles::RoleWatch;
use bytes::Bytes;
use sansraft::{
    ChunkRead, ChunkRequest, Entry, EntryKind, Index, LogPosition, Node, NodeId, SnapshotMeta,
    Term, TransferOutcome,
};
use sansraft_kv::ApplyError;
use sansraft_multi::GroupId;
use std::collections::{BTreeMap, VecDeque};
use tokio::sync::oneshot;

/// One group's replica as the node loop sees it: its map and the clients waiting on it. The
/// engine's side is the host's (`Host::group`).
#[derive(Debug)]
pub(crate) struct Replica {
    pub(crate) group: GroupId,
    pub(crate) kv: Kv,
    /// The last applied entry's index and term.
    pub(crate) applied: (Index, Term),
    /// The latest snapshot the engine knows of, and its bytes (for chunk reads).
    pub(crate) snapshot: (SnapshotMeta, Bytes),
    /// A snapshot handed to storage and not yet reported durable.
    pub(crate) saving: Option<SnapshotMeta>,
    /// The index of the latest snapshot taken or installed (saved or not).
    pub(crate) snapshot_index: Index,
    /// A received snapshot being installed: the storage thread decodes it and reports
    /// [`Done::Installed`]; until then the map is older than `applied` says.
    pub(crate) installing: Option<SnapshotMeta>,
    /// Writes and membership changes waiting to be applied, by index: their term and client.
    pub(crate) waiting: BTreeMap<Index, (Term, oneshot::Sender<WriteReply>)>,
    /// Clients of this step's proposals, in proposal order.
    pub(crate) proposing: VecDeque<oneshot::Sender<WriteReply>>,
    /// The client of this step's membership change.
    pub(crate) changing: Option<oneshot::Sender<WriteReply>>,
    /// The client of this step's transfer request, then of the transfer under way.
    pub(crate) transfer_asked: Option<oneshot::Sender<TransferOutcome>>,
    pub(crate) transfer_running: Option<oneshot::Sender<TransferOutcome>>,
    /// Committed normal entries that were not commands (skipped on every replica alike).
    pub(crate) malformed_commands: u64,
    pub(crate) roles: RoleWatch,
    /// The last snapshot transfer refused, as (leader, index, term): its chunks are dropped
    /// before the engine sees them.
    pub(crate) refused_snapshot: Option<(NodeId, Index, Term)>,
    /// A snapshot's last chunk is with the storage thread, to be checked before the engine
    /// sees it ([`Job::CheckLastChunk`]).
    pub(crate) checking: bool,
}

impl Replica {
    /// Group `group`'s replica over `node`, from the snapshot bytes `data`.
    pub(crate) fn new(group: GroupId, node: &Node, data: Bytes) -> Result<Replica, LoopError> {
        let meta = node.snapshot().clone();
        let (kv, data) = if meta.index == 0 {
            let kv = Kv::default();
            let data = kv.snapshot();
            (kv, data)
        } else {
            (restore(&data, meta.index)?, data)
        };
        Ok(Replica {
            group,
            roles: RoleWatch::new(group, node),
            applied: (meta.index, meta.term),
            snapshot_index: meta.index,
            snapshot: (meta, data),
            kv,
            saving: None,
            installing: None,
            waiting: BTreeMap::new(),
            proposing: VecDeque::new(),
            changing: None,
            transfer_asked: None,
            transfer_running: None,
            malformed_commands: 0,
            refused_snapshot: None,
            checking: false,
        })
    }

    pub(crate) fn status(&self, node: &Node) -> GroupStatus {
        GroupStatus {
            group: self.group,
            raft: node.status(),
            membership: node.membership().clone(),
            snapshot_index: node.snapshot().index,
            first_index: node.first_index(),
            keys: self.kv.len(),
            sessions: self.kv.sessions(),
            malformed_commands: self.malformed_commands,
            quiet: !node.needs_ticks(),
        }
    }

    /// A proposal's client waits until its index is applied; a refusal is answered at once.
    pub(crate) fn wait_for_apply<E: Into<Refusal>>(
        &mut self,
        result: Result<LogPosition, E>,
        reply: oneshot::Sender<WriteReply>,
    ) {
        match result {
            Ok(position) => {
                self.waiting.insert(position.index, (position.term, reply));
            }
            Err(e) => {
                let _ = reply.send(Err(e.into()));
            }
        }
    }

    /// A write installs the received snapshot `meta`: what waits at or below it is answered.
    pub(crate) fn installing(&mut self, meta: SnapshotMeta) {
        // A snapshot still being saved is older and will be skipped by storage.
        self.saving = None;
        self.applied = (meta.index, meta.term);
        self.snapshot_index = meta.index;
        // Writes at or below the snapshot will never be applied here: their outcome is unknown.
        let later = self.waiting.split_off(&(meta.index + 1));
        for (_, (_, reply)) in std::mem::replace(&mut self.waiting, later) {
            let _ = reply.send(Err(Refusal::Retry(
                "outcome unknown: a snapshot replaced the log; retry".into(),
            )));
        }
        self.installing = Some(meta);
    }

    /// The storage thread made a received snapshot durable and decoded its map.
    pub(crate) fn on_installed(
        &mut self,
        meta: SnapshotMeta,
        machine: Kv,
        data: Bytes,
    ) -> Result<(), LoopError> {
        if self.installing.as_ref() != Some(&meta) {
            // A later install superseded this one (its report comes next).
            return Ok(());
        }
        if machine.applied() != meta.index {
            return Err(LoopError::SnapshotIndex {
                meta: meta.index,
                applied: machine.applied(),
            });
        }
        self.kv = machine;
        self.installing = None;
        self.snapshot = (meta, data);
        Ok(())
    }

    pub(crate) fn apply(&mut self, entries: &[Entry]) {
        for entry in entries {
            let result = self.apply_entry(entry);
            self.applied = (entry.index, entry.term);
            // Anything waiting at or below this index is decided now.
            let later = self.waiting.split_off(&(entry.index + 1));
            for (index, (term, reply)) in std::mem::replace(&mut self.waiting, later) {
                // The entry at our index has our term only if our proposal is what committed.
                let result = if index == entry.index && term == entry.term {
                    result.clone()
                } else {
                    Err(Refusal::Retry(
                        "overwritten by another leader's entry; retry".into(),
                    ))
                };
                let _ = reply.send(result);
            }
        }
    }

    /// Applies one committed entry to the map; the answer for its proposer.
    fn apply_entry(&mut self, entry: &Entry) -> WriteReply {
        if entry.kind == EntryKind::Membership {
            tracing::info!(
                group = self.group,
                index = entry.index,
                "membership change applied"
            );
        }
        match kv::apply(&mut self.kv, entry) {
            Ok(applied) => answer::applied(entry.index, applied),
            Err(ApplyError::Malformed(e)) => {
                self.malformed_commands += 1;
                tracing::warn!(group = self.group, index = entry.index, error = %e, "committed entry is not a command; skipped");
                Err(Refusal::Invalid(format!("not a command: {e}")))
            }
            Err(e @ ApplyError::OutOfOrder { .. }) => {
                panic!("the engine applies in log order: {e}")
            }
        }
    }

    /// The snapshot to take now, if one is due: once enough entries were applied since the
    /// last one, about `snapshot_every`, or half as many as the map has keys if that is more,
    /// so that encoding the whole map costs each write about two keys' worth however large the
    /// map grows (the log kept between snapshots grows with the map instead). See
    /// [`snapshot_due`] for when exactly.
    pub(crate) fn snapshot_due(&self, node: &Node, every: u64, id: NodeId) -> Option<SnapshotMeta> {
        let (index, term) = self.applied;
        if every == 0
            || self.saving.is_some()
            || self.installing.is_some()
            || !snapshot_due(
                index,
                self.snapshot_index,
                every.max(self.kv.len() as u64 / 2),
                // Groups shift their grid too, so that a node's groups do not all snapshot
                // at once.
                id.wrapping_add(self.group),
            )
        {
            return None;
        }
        let meta = node.snapshot_meta_at(index)?;
        debug_assert_eq!(meta.term, term, "the applied entry's term");
        Some(meta)
    }

    /// Leader: answers a chunk request from the latest snapshot's bytes.
    pub(crate) fn read_chunk(&mut self, request: ChunkRequest) -> Option<ChunkRead> {
        let (meta, data) = &self.snapshot;
        if (meta.index, meta.term) != (request.index, request.term) {
            // An older snapshot than the latest: the engine has moved on.
            return None;
        }
        let start = usize::try_from(request.offset).map_or(data.len(), |o| o.min(data.len()));
        let max = usize::try_from(request.max_len).unwrap_or(usize::MAX);
        let end = start.saturating_add(max).min(data.len());
        Some(ChunkRead {
            peer: request.peer,
            index: request.index,
            term: request.term,
            offset: request.offset,
            data: data.slice(start..end),
            done: end == data.len(),
        })
    }
}

/// Snapshot bytes at least this large are freed off the node loop.
const RELEASE_ELSEWHERE_BYTES: usize = 1 << 20;

/// Drops snapshot bytes the loop no longer needs; large ones on a blocking thread, since the
/// last reference to a snapshot of a hundred megabytes frees (unmaps) all of it: 17–26 ms for
/// 116 MB on the 2-core test machine, a quarter of an election timeout. A chunk still being sent
/// may hold a reference: then that is where the memory is freed.
pub(crate) fn release(data: Bytes) {
    if data.len() >= RELEASE_ELSEWHERE_BYTES {
        drop(tokio::task::spawn_blocking(move || drop(data)));
    }
}

/// Whether node `id`, whose latest snapshot is at `last`, takes one at the applied `index`,
/// snapshots being due every `every` entries.
///
/// Each node snapshots when the applied index crosses a point of its own grid, `every` apart and
/// shifted by a quarter of `every` per node id (modulo 4), and at least half of `every` after its
/// last snapshot. The nodes of a cluster apply the same indexes: without the shift they would
/// all encode and write their snapshots at the same moment, on a machine they may share, and
/// on one they share with a disk, each write-ahead log's sync would wait behind all of them.
fn snapshot_due(index: Index, last: Index, every: u64, id: NodeId) -> bool {
    let every = every.max(1);
    let shift = every / 4 * (id % 4);
    index >= last.saturating_add(every / 2)
        && index.saturating_add(shift) / every > last.saturating_add(shift) / every
}

/// The state machine a snapshot at `index` holds, checked to be at that index.
fn restore(data: &[u8], index: Index) -> Result<Kv, LoopError> {
    let kv = kv::restore(data, index).map_err(LoopError::BadSnapshot)?;
    if kv.applied() != index {
        return Err(LoopError::SnapshotIndex {
            meta: index,
            applied: kv.applied(),
        });
    }
    Ok(kv)
}

#[cfg(test)]
mod tests {
    use super::snapshot_due;

    /// The indexes in `1..=upto` at which node `id` snapshots, every `every` entries.
    fn snapshots(id: u64, every: u64, upto: u64) -> Vec<u64> {
        let mut last = 0;
        let mut taken = Vec::new();
        for index in 1..=upto {
            if snapshot_due(index, last, every, id) {
                taken.push(index);
                last = index;
            }
        }
        taken
    }

    #[test]
    fn each_node_snapshots_every_so_often_at_its_own_points() {
        assert_eq!(snapshots(4, 100, 400), [100, 200, 300, 400]);
        assert_eq!(snapshots(1, 100, 400), [75, 175, 275, 375]);
        assert_eq!(snapshots(2, 100, 400), [50, 150, 250, 350]);
        assert_eq!(snapshots(3, 100, 400), [50, 125, 225, 325]);
    }

    #[test]
    fn a_snapshot_off_the_grid_is_followed_by_one_at_least_half_a_period_later() {
        // A received snapshot at 90: node 4's next grid point, 100, is too close.
        assert!(!snapshot_due(100, 90, 100, 4));
        assert!(!snapshot_due(139, 90, 100, 4));
        assert!(snapshot_due(140, 90, 100, 4));
        // Applies come in batches: a point crossed within one is still seen.
        assert!(snapshot_due(260, 140, 100, 4));
    }

    #[test]
    fn tiny_periods_still_snapshot() {
        assert_eq!(snapshots(3, 1, 3), [1, 2, 3]);
        assert_eq!(snapshots(1, 0, 2), [1, 2]);
    }
}
