//! The reference in-memory storage: what a correct disk does with each [`Write`], exactly.
//!
//! [`apply_write`] is the one definition of carrying out a write (install the snapshot, replace
//! the hard state, truncate and append), [`compact`] of deleting what a snapshot covers and
//! [`restart_state`] of what a restarted node is handed. [`MemStorage`] wraps them in a disk
//! that tells *written* from *durable*: writes queue in issue order and become durable only
//! when the driver says ([`MemStorage::persist_one`]), so that tests can hold writes back; a
//! crash loses every write not yet durable and the partial snapshot being received. Simulated
//! disks with latencies and torn writes (the simulator's) build on the free functions.

use bytes::Bytes;
use sansraft::{
    ChunkRead, ChunkRequest, ChunkWrite, DurableState, Index, SnapshotMeta, Term, Write, WriteToken,
};
use std::collections::VecDeque;

/// Carries out `write` on `durable`, in the order the write says: install the snapshot
/// (deleting the entries it covers, or every entry unless `retain_log`), replace the hard
/// state, then delete every entry from the first new index on and append the new entries.
/// `durable.entries` may hold entries at or below the snapshot's index (kept after
/// compaction); they stay in order.
pub fn apply_write(durable: &mut DurableState, write: &Write) {
    if let Some(install) = &write.install {
        durable.snapshot = install.meta.clone();
        if install.retain_log {
            compact(durable, install.meta.index);
        } else {
            durable.entries.clear();
        }
    }
    if let Some(hs) = write.hard_state {
        durable.hard_state = hs;
    }
    if let Some(first) = write.entries.first() {
        let base = durable.entries.first().map_or(first.index, |e| e.index);
        let keep = first.index.saturating_sub(base) as usize;
        durable.entries.truncate(keep);
        durable.entries.extend(write.entries.iter().cloned());
    }
}

/// Makes `write` durable on a disk holding `durable` and the latest snapshot's bytes
/// `snapshot_data`; a write that installs a snapshot brings the snapshot's bytes
/// (`install_data`), durable with it.
pub fn make_durable(
    durable: &mut DurableState,
    snapshot_data: &mut Bytes,
    write: &Write,
    install_data: Option<Bytes>,
) {
    if let Some(data) = install_data {
        *snapshot_data = data;
    }
    apply_write(durable, write);
}

/// Deletes the entries of `durable` up to and including `upto` (covered by a snapshot).
pub fn compact(durable: &mut DurableState, upto: Index) {
    let drop = durable
        .entries
        .iter()
        .take_while(|e| e.index <= upto)
        .count();
    durable.entries.drain(..drop);
}

/// What a node restarted from `durable` is handed: the hard state, the snapshot and the entries
/// after it, with the state machine restored to the snapshot.
pub fn restart_state(durable: &DurableState) -> DurableState {
    let snapshot = &durable.snapshot;
    let skip = durable
        .entries
        .iter()
        .take_while(|e| e.index <= snapshot.index)
        .count();
    DurableState {
        hard_state: durable.hard_state,
        snapshot: snapshot.clone(),
        entries: durable.entries[skip..].to_vec(),
        applied: snapshot.index,
    }
}

/// A write issued but not yet durable.
#[derive(Clone, Debug)]
struct Pending {
    write: Write,
    /// The received snapshot's bytes, for a write that installs one.
    install_data: Option<Bytes>,
}

/// One node's disk, in memory.
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    durable: DurableState,
    /// The bytes of `durable.snapshot` (empty for the initial snapshot at index 0).
    snapshot_data: Bytes,
    pending: VecDeque<Pending>,
    /// The partial snapshot being received: its `(index, term)` and bytes so far.
    partial: Option<((Index, Term), Vec<u8>)>,
    incarnation: u64,
    /// The disk of a witness ([`sansraft::Config::witness`]): it receives no snapshot bytes,
    /// and an install is of the metadata alone.
    witness: bool,
}

impl MemStorage {
    /// A disk holding `durable` (already durable, as a bootstrap state must be).
    pub fn new(durable: DurableState) -> Self {
        MemStorage {
            durable,
            ..MemStorage::default()
        }
    }

    /// The same disk, as a witness's if `witness` ([`sansraft::Config::witness`]): it receives
    /// no snapshot bytes, and an install is of the metadata alone.
    pub fn witness(self, witness: bool) -> Self {
        MemStorage { witness, ..self }
    }

    /// Everything durable: what survives a crash. `entries` may still hold entries at or
    /// below the snapshot's index.
    pub fn durable(&self) -> &DurableState {
        &self.durable
    }

    /// The latest durable snapshot's metadata and bytes.
    pub fn snapshot(&self) -> (&SnapshotMeta, &Bytes) {
        (&self.durable.snapshot, &self.snapshot_data)
    }

    /// The incarnation the node on this disk runs in (0 until the first restart).
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// Writes issued but not yet durable.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The oldest write not yet durable, the next [`MemStorage::persist_one`] carries out.
    pub fn oldest_pending(&self) -> Option<&Write> {
        self.pending.front().map(|p| &p.write)
    }

    /// True if a write not yet durable installs a snapshot.
    pub fn installing(&self) -> bool {
        self.pending.iter().any(|p| p.install_data.is_some())
    }

    /// The `(index, term)` of the partial snapshot being received, if any.
    pub fn partial(&self) -> Option<(Index, Term)> {
        self.partial.as_ref().map(|(id, _)| *id)
    }

    /// Issues `write` (durable later, in order). A write that installs a snapshot takes the
    /// received partial snapshot with it; its bytes are returned, for the state machine to be
    /// restored from.
    ///
    /// # Panics
    /// If a write installs a snapshot that was not received (a broken engine contract).
    pub fn write(&mut self, write: Write) -> Option<Bytes> {
        let witness = self.witness;
        let install_data = write.install.as_ref().map(|install| {
            if witness {
                return Bytes::new();
            }
            let (id, bytes) = self
                .partial
                .take()
                .expect("an install follows a received snapshot");
            assert_eq!(
                id,
                (install.meta.index, install.meta.term),
                "the install is of the snapshot received"
            );
            Bytes::from(bytes)
        });
        self.pending.push_back(Pending {
            write,
            install_data: install_data.clone(),
        });
        install_data
    }

    /// Makes the oldest pending write durable; returns its token to acknowledge.
    pub fn persist_one(&mut self) -> Option<WriteToken> {
        let Pending {
            write,
            install_data,
        } = self.pending.pop_front()?;
        make_durable(
            &mut self.durable,
            &mut self.snapshot_data,
            &write,
            install_data,
        );
        Some(write.token)
    }

    /// Deletes the durable entries up to `upto` ([`sansraft::Action::CompactLog`]).
    pub fn compact(&mut self, upto: Index) {
        compact(&mut self.durable, upto);
    }

    /// The application took a snapshot and wrote it durably, with its metadata.
    pub fn snapshot_taken(&mut self, meta: SnapshotMeta, data: Bytes) {
        self.durable.snapshot = meta;
        self.snapshot_data = data;
    }

    /// The answer to a chunk read of the latest snapshot.
    ///
    /// # Panics
    /// If `request` names another snapshot than the latest (a broken engine contract).
    pub fn read_chunk(&self, request: &ChunkRequest) -> ChunkRead {
        let s = &self.durable.snapshot;
        assert_eq!(
            (request.index, request.term),
            (s.index, s.term),
            "chunk reads ask for the latest snapshot"
        );
        request.answer_from(&self.snapshot_data)
    }

    /// Writes a chunk into the partial snapshot; offset 0 begins a new one.
    ///
    /// # Panics
    /// If chunks arrive out of order or mix snapshots (a broken engine contract).
    pub fn write_chunk(&mut self, chunk: &ChunkWrite) {
        if chunk.offset == 0 {
            self.partial = Some(((chunk.index, chunk.term), Vec::new()));
        }
        let (id, bytes) = self
            .partial
            .as_mut()
            .expect("a chunk at offset 0 begins every partial snapshot");
        assert_eq!(*id, (chunk.index, chunk.term), "chunks of one snapshot");
        assert_eq!(bytes.len() as u64, chunk.offset, "chunks arrive in order");
        bytes.extend_from_slice(&chunk.data);
    }

    /// Deletes the partial snapshot `(index, term)`, if it is the one being received.
    pub fn drop_partial(&mut self, index: Index, term: Term) {
        if self.partial() == Some((index, term)) {
            self.partial = None;
        }
    }

    /// The node crashed: every write not yet durable and the partial snapshot are lost.
    pub fn crash(&mut self) {
        self.pending.clear();
        self.partial = None;
    }

    /// The node restarts: a new incarnation, and the state it is handed with the snapshot's
    /// bytes to restore the state machine from. Crashes first if that was not done.
    pub fn restart(&mut self) -> (DurableState, Bytes, u64) {
        self.crash();
        self.incarnation += 1;
        (
            restart_state(&self.durable),
            self.snapshot_data.clone(),
            self.incarnation,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansraft::{Entry, EntryKind, HardState, Membership, SnapshotInstall};

    fn entry(index: Index, term: Term) -> Entry {
        Entry {
            term,
            index,
            kind: EntryKind::Normal,
            data: Bytes::new(),
        }
    }

    fn write(seq: u64, entries: Vec<Entry>) -> Write {
        Write {
            token: WriteToken {
                incarnation: 0,
                seq,
            },
            install: None,
            hard_state: Some(HardState {
                term: 2,
                vote: Some(1),
                commit: 0,
            }),
            entries: entries.into(),
        }
    }

    fn indexes(s: &DurableState) -> Vec<(Index, Term)> {
        s.entries.iter().map(|e| (e.index, e.term)).collect()
    }

    #[test]
    fn writes_become_durable_in_order_and_a_crash_loses_the_rest() {
        let mut disk = MemStorage::new(DurableState::bootstrap(Membership::with_voters([1])));
        disk.write(write(1, vec![entry(1, 1), entry(2, 1), entry(3, 1)]));
        disk.write(write(2, vec![entry(2, 2)]));
        disk.write(write(3, vec![entry(3, 2)]));
        assert_eq!(disk.persist_one().map(|t| t.seq), Some(1));
        assert_eq!(disk.persist_one().map(|t| t.seq), Some(2));
        // The second write truncated the log from index 2 before appending.
        assert_eq!(indexes(disk.durable()), [(1, 1), (2, 2)]);
        assert_eq!(disk.durable().hard_state.vote, Some(1));
        let (state, _, incarnation) = disk.restart();
        assert_eq!(incarnation, 1);
        assert_eq!(disk.pending(), 0, "the third write was lost");
        assert_eq!(indexes(&state), [(1, 1), (2, 2)]);
    }

    #[test]
    fn an_install_takes_the_received_snapshot_and_keeps_the_log_only_if_told() {
        let mut disk = MemStorage::new(DurableState::bootstrap(Membership::with_voters([1])));
        disk.write(write(1, (1..=4).map(|i| entry(i, 1)).collect()));
        disk.persist_one();
        for (offset, data) in [(0, &b"ab"[..]), (2, b"cd")] {
            disk.write_chunk(&ChunkWrite {
                index: 2,
                term: 1,
                offset,
                data: Bytes::from_static(data),
            });
        }
        let meta = SnapshotMeta {
            index: 2,
            term: 1,
            membership: Membership::with_voters([1]),
        };
        let install = |retain_log| Write {
            install: Some(Box::new(SnapshotInstall {
                meta: meta.clone(),
                retain_log,
            })),
            ..write(2, Vec::new())
        };
        assert_eq!(disk.write(install(true)).as_deref(), Some(&b"abcd"[..]));
        assert_eq!(disk.partial(), None);
        assert_eq!(disk.snapshot().1.len(), 0, "not durable yet");
        disk.persist_one();
        assert_eq!(disk.snapshot(), (&meta, &Bytes::from_static(b"abcd")));
        assert_eq!(indexes(disk.durable()), [(3, 1), (4, 1)]);
        let read = disk.read_chunk(&ChunkRequest {
            peer: 2,
            index: 2,
            term: 1,
            offset: 1,
            max_len: 2,
        });
        assert_eq!(&read.data[..], b"bc");

        disk.write_chunk(&ChunkWrite {
            index: 2,
            term: 1,
            offset: 0,
            data: Bytes::from_static(b"x"),
        });
        disk.write(install(false));
        disk.persist_one();
        assert!(disk.durable().entries.is_empty());
    }

    #[test]
    fn compaction_and_restart_leave_out_what_the_snapshot_covers() {
        let mut disk = MemStorage::new(DurableState::bootstrap(Membership::with_voters([1])));
        disk.write(write(1, (1..=5).map(|i| entry(i, 1)).collect()));
        disk.persist_one();
        disk.snapshot_taken(
            SnapshotMeta {
                index: 3,
                term: 1,
                membership: Membership::with_voters([1]),
            },
            Bytes::from_static(b"s"),
        );
        disk.compact(1);
        assert_eq!(disk.durable().entries.len(), 4, "entries 2 and 3 kept");
        let (state, data, _) = disk.restart();
        assert_eq!(indexes(&state), [(4, 1), (5, 1)]);
        assert_eq!((state.applied, &data[..]), (3, &b"s"[..]));
        disk.write_chunk(&ChunkWrite {
            index: 9,
            term: 1,
            offset: 0,
            data: Bytes::new(),
        });
        disk.drop_partial(9, 2);
        assert_eq!(disk.partial(), Some((9, 1)), "another snapshot's drop");
        disk.drop_partial(9, 1);
        assert_eq!(disk.partial(), None);
    }
}
