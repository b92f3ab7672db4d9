//! An in-memory "disk" that carries out [`Write`]s exactly as a durable store must: the hard
//! state, the log, the latest snapshot and a boot counter.

use bytes::Bytes;
use sansraft::{
    ChunkRead, ChunkRequest, DurableState, Entry, HardState, Index, Membership, SnapshotMeta, Write,
};

/// What a node keeps on "disk". A real store writes the same things to a file or a database,
/// in the order the writes were issued, and syncs before acknowledging.
#[derive(Clone, Debug)]
pub struct MemStore {
    hard_state: HardState,
    /// The latest snapshot: its metadata and the state machine's bytes (empty at index 0).
    snapshot: SnapshotMeta,
    snapshot_data: Bytes,
    /// Consecutive entries; after a compaction that keeps some, it may start at or before
    /// the snapshot's index.
    log: Vec<Entry>,
    applied: Index,
    /// Incarnations started so far (see [`MemStore::boot`]).
    boots: u64,
}

impl MemStore {
    /// A fresh member of a new cluster with these voters.
    pub fn bootstrap(voters: impl IntoIterator<Item = u64>) -> MemStore {
        MemStore {
            hard_state: HardState::default(),
            snapshot: DurableState::bootstrap(Membership::with_voters(voters)).snapshot,
            snapshot_data: Bytes::new(),
            log: Vec::new(),
            applied: 0,
            boots: 0,
        }
    }

    /// Carries out a write that installs no snapshot.
    pub fn apply_write(&mut self, write: &Write) {
        self.apply_write_with(write, None);
    }

    /// Carries out one write, in its order: install the snapshot (whose bytes are `snapshot`),
    /// replace the hard state, drop every entry at or after the first new entry's index, append
    /// the new entries.
    pub fn apply_write_with(&mut self, write: &Write, snapshot: Option<Bytes>) {
        if let Some(install) = &write.install {
            let data = snapshot.expect("a write that installs a snapshot comes with its bytes");
            let index = install.meta.index;
            if install.retain_log {
                self.log.retain(|e| e.index > index);
            } else {
                self.log.clear();
            }
            self.snapshot = install.meta.clone();
            self.snapshot_data = data;
            self.applied = self.applied.max(index);
        }
        if let Some(hard_state) = write.hard_state {
            self.hard_state = hard_state;
        }
        if let Some(first) = write.entries.first() {
            let keep = self.log.partition_point(|e| e.index < first.index);
            self.log.truncate(keep);
            self.log.extend(write.entries.iter().cloned());
        }
    }

    /// Stores a snapshot the application took, unless a newer one is already stored (one
    /// installed from the leader meanwhile, say).
    pub fn save_snapshot(&mut self, meta: SnapshotMeta, data: Bytes) {
        if meta.index > self.snapshot.index {
            self.applied = self.applied.max(meta.index);
            self.snapshot = meta;
            self.snapshot_data = data;
        }
    }

    /// Deletes the log entries up to and including `upto` (`Action::CompactLog`).
    pub fn compact(&mut self, upto: Index) {
        let drop = self.log.partition_point(|e| e.index <= upto);
        self.log.drain(..drop);
    }

    /// Answers a leader's chunk request from the stored snapshot; `None` if it asks for a
    /// snapshot other than the stored one (an older one, replaced meanwhile).
    pub fn read_chunk(&self, request: &ChunkRequest) -> Option<ChunkRead> {
        let stored = (self.snapshot.index, self.snapshot.term);
        ((request.index, request.term) == stored).then(|| request.answer_from(&self.snapshot_data))
    }

    /// Records the application's progress (a real store keeps it beside its state machine).
    pub fn set_applied(&mut self, applied: Index) {
        self.applied = applied;
    }

    /// Counts one more start and returns it as the new incarnation number, distinct from every
    /// earlier one (persist it before starting the node).
    pub fn boot(&mut self) -> u64 {
        self.boots += 1;
        self.boots
    }

    /// The latest snapshot's bytes: the state machine to restore on a restart.
    pub fn snapshot_data(&self) -> &Bytes {
        &self.snapshot_data
    }

    /// The last stored log index.
    pub fn last_index(&self) -> Index {
        self.log.last().map_or(self.snapshot.index, |e| e.index)
    }

    /// What a restarted node is rebuilt from: only the entries after the snapshot.
    pub fn durable_state(&self) -> DurableState {
        let after = self.log.partition_point(|e| e.index <= self.snapshot.index);
        DurableState {
            hard_state: self.hard_state,
            snapshot: self.snapshot.clone(),
            entries: self.log[after..].to_vec(),
            applied: self.applied.max(self.snapshot.index),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansraft::{EntryKind, SnapshotInstall, WriteToken};

    fn entry(index: Index, term: u64) -> Entry {
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
                incarnation: 1,
                seq,
            },
            install: None,
            hard_state: None,
            entries: entries.into(),
        }
    }

    fn indices_and_terms(store: &MemStore) -> Vec<(Index, u64)> {
        let state = store.durable_state();
        state.entries.iter().map(|e| (e.index, e.term)).collect()
    }

    #[test]
    fn a_write_truncates_the_conflicting_suffix_then_appends() {
        let mut store = MemStore::bootstrap([1, 2, 3]);
        let mut first = write(1, vec![entry(1, 1), entry(2, 1), entry(3, 1)]);
        first.hard_state = Some(HardState {
            term: 1,
            vote: Some(1),
            commit: 0,
        });
        store.apply_write(&first);
        store.apply_write(&write(2, vec![entry(2, 2)]));
        assert_eq!(indices_and_terms(&store), vec![(1, 1), (2, 2)]);
        assert_eq!(store.durable_state().hard_state.vote, Some(1));
    }

    #[test]
    fn a_restart_sees_only_entries_after_the_snapshot_and_compaction_deletes() {
        let mut store = MemStore::bootstrap([1]);
        store.apply_write(&write(1, (1..=6).map(|i| entry(i, 1)).collect()));
        let meta = SnapshotMeta {
            index: 4,
            term: 1,
            membership: Membership::with_voters([1]),
        };
        store.save_snapshot(meta.clone(), Bytes::from_static(b"state"));
        assert_eq!(indices_and_terms(&store), vec![(5, 1), (6, 1)]);
        assert_eq!(store.durable_state().applied, 4);
        store.compact(2);
        assert_eq!(store.log.first().map(|e| e.index), Some(3));
        store.save_snapshot(
            SnapshotMeta { index: 3, ..meta },
            Bytes::from_static(b"older"),
        );
        assert_eq!(
            &store.snapshot_data()[..],
            b"state",
            "an older one is ignored"
        );
    }

    #[test]
    fn an_install_replaces_the_snapshot_and_keeps_or_drops_the_log() {
        let mut store = MemStore::bootstrap([1, 2]);
        store.apply_write(&write(1, (1..=3).map(|i| entry(i, 1)).collect()));
        let meta = SnapshotMeta {
            index: 2,
            term: 1,
            membership: Membership::with_voters([1, 2]),
        };
        let mut install = write(2, vec![]);
        install.install = Some(Box::new(SnapshotInstall {
            meta: meta.clone(),
            retain_log: true,
        }));
        store.apply_write_with(&install, Some(Bytes::from_static(b"abcdef")));
        assert_eq!(indices_and_terms(&store), vec![(3, 1)]);
        let request = ChunkRequest {
            peer: 2,
            index: 2,
            term: 1,
            offset: 4,
            max_len: 4,
        };
        let read = store.read_chunk(&request).expect("the stored snapshot");
        assert_eq!((&read.data[..], read.done), (&b"ef"[..], true));
        let other = ChunkRequest { term: 2, ..request };
        assert_eq!(store.read_chunk(&other), None);

        install.install = Some(Box::new(SnapshotInstall {
            meta: SnapshotMeta { index: 9, ..meta },
            retain_log: false,
        }));
        store.apply_write_with(&install, Some(Bytes::new()));
        assert_eq!(indices_and_terms(&store), vec![]);
        assert_eq!(store.last_index(), 9);
    }
}
