//! What a disk holds of one group: its durable state and the latest snapshot's bytes.
//!
//! What a write does to it is the reference storage's ([`sansraft_testkit::storage`]). A
//! snapshot the application takes is durable at once (the application writes it before
//! reporting it); a received snapshot becomes durable with the write that installs it, in order
//! with the other writes. Compaction deletes entries the snapshot covers; a restart hands the
//! node only the entries after the snapshot.

use super::Contents;
use crate::rng::SimRng;
use bytes::Bytes;
use sansraft::{DurableState, Index, SnapshotMeta, Write, WriteToken};
use sansraft_multi::GroupId;
use sansraft_testkit::storage::{apply_write, compact, make_durable, restart_state};

/// The group a disk of one group reports its writes as.
const GROUP: GroupId = 1;

/// One group's durable state.
#[derive(Clone, Debug)]
pub(crate) struct GroupStore {
    /// `entries` may still hold entries at or below the snapshot's index (kept after
    /// compaction), which a restart leaves out.
    durable: DurableState,
    /// The bytes of `durable.snapshot` (empty for the initial snapshot at index 0).
    snapshot_data: Bytes,
}

impl GroupStore {
    pub(crate) fn new(durable: DurableState) -> Self {
        GroupStore {
            durable,
            snapshot_data: Bytes::new(),
        }
    }

    /// What survives a crash.
    #[cfg(test)]
    pub(crate) fn durable(&self) -> &DurableState {
        &self.durable
    }

    /// What a restarted node is handed: the snapshot, the entries after it, applied up to the
    /// snapshot; and the snapshot's bytes to restore the state machine from.
    pub(crate) fn restart_state(&self) -> (DurableState, Bytes) {
        (restart_state(&self.durable), self.snapshot_data.clone())
    }

    /// The latest snapshot's metadata and bytes.
    pub(crate) fn snapshot(&self) -> (&SnapshotMeta, &Bytes) {
        (&self.durable.snapshot, &self.snapshot_data)
    }

    /// The application took a snapshot and wrote it durably.
    pub(crate) fn set_snapshot(&mut self, meta: SnapshotMeta, data: Bytes) {
        self.durable.snapshot = meta;
        self.snapshot_data = data;
    }

    /// Deletes the durable entries up to `upto` (covered by the snapshot).
    pub(crate) fn compact(&mut self, upto: Index) {
        compact(&mut self.durable, upto);
    }

    /// Carries out `write`, installing `install_data` with the snapshot it installs.
    pub(crate) fn make_durable(&mut self, write: &Write, install_data: Option<Bytes>) {
        make_durable(
            &mut self.durable,
            &mut self.snapshot_data,
            write,
            install_data,
        );
    }

    /// A crash tears `write`: a prefix of its entries may stay durable, only when that is
    /// indistinguishable from the write having been split in two and the first half completed:
    /// a pure append (no truncation, no snapshot installed) whose kept entries are not from a
    /// term above the durable one. Returns the prefix kept, as a write.
    pub(crate) fn torn_prefix(&mut self, write: &Write, rng: &mut SimRng) -> Option<Write> {
        let durable = &mut self.durable;
        let durable_last = (durable.entries.last()).map_or(durable.snapshot.index, |e| e.index);
        let appends = (write.entries.first()).is_some_and(|e| e.index == durable_last + 1);
        if !appends || write.entries.len() < 2 || write.install.is_some() {
            return None;
        }
        let cut = rng.between(1, write.entries.len() as u64 - 1) as usize;
        let term = durable.hard_state.term;
        if write.entries[..cut].iter().any(|e| e.term > term) {
            return None;
        }
        let prefix = Write {
            token: write.token,
            install: None,
            hard_state: None,
            entries: write.entries[..cut].to_vec().into(),
        };
        apply_write(durable, &prefix);
        Some(prefix)
    }
}

impl Contents for GroupStore {
    /// A write and, for one that installs a received snapshot, the snapshot's bytes.
    type Write = (Write, Option<Bytes>);
    type Token = WriteToken;

    fn apply(
        &mut self,
        (write, install_data): Self::Write,
        made_durable: &mut impl FnMut(GroupId, &Write),
    ) -> WriteToken {
        self.make_durable(&write, install_data);
        made_durable(GROUP, &write);
        write.token
    }

    /// Returns the number of entries kept.
    fn tear(
        &mut self,
        (write, _): Self::Write,
        rng: &mut SimRng,
        torn: &mut impl FnMut(GroupId, &Write),
    ) -> usize {
        let Some(prefix) = self.torn_prefix(&write, rng) else {
            return 0;
        };
        torn(GROUP, &prefix);
        prefix.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::Disk;
    use super::*;
    use crate::rng::Stream;
    use crate::scenario::StorageParams;
    use sansraft::{Entry, EntryKind, HardState, Membership};

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            term,
            index,
            kind: EntryKind::Normal,
            data: Bytes::new(),
        }
    }

    fn write(seq: u64, term: u64, entries: Vec<Entry>) -> (Write, Option<Bytes>) {
        let write = Write {
            token: WriteToken {
                incarnation: 0,
                seq,
            },
            install: None,
            hard_state: Some(HardState {
                term,
                vote: None,
                commit: 0,
            }),
            entries: entries.into(),
        };
        (write, None)
    }

    fn params() -> StorageParams {
        StorageParams {
            min_latency_us: 10,
            max_latency_us: 100,
            slow_ppm: 0,
            slow_latency_us: 0,
            max_ack_delay_us: 0,
        }
    }

    fn disk() -> Disk<GroupStore> {
        Disk::new(GroupStore::new(DurableState::bootstrap(
            Membership::with_voters([1]),
        )))
    }

    #[test]
    fn writes_become_durable_in_order_and_crashes_lose_the_rest() {
        let mut rng = SimRng::new(1, Stream::Storage);
        let mut disk = disk();
        let t = disk
            .submit(write(1, 1, vec![entry(1, 1)]), 0, &mut rng, &params())
            .expect("first write arms the timer");
        assert!(disk
            .submit(write(2, 1, vec![entry(2, 1)]), 0, &mut rng, &params())
            .is_none());
        let mut seen = Vec::new();
        let (ack, _) = disk.on_timer(t.gen, t.at, &mut |_, w: &Write| seen.push(w.token.seq));
        assert_eq!(seen.first(), Some(&1));
        assert_eq!(ack.map(|a| a.seq), seen.last().copied());
        disk.crash(false, &mut rng, &mut |_, _: &Write| {});
        assert_eq!(disk.pending(), 0);
        assert!(!disk.contents().durable().entries.is_empty());
    }

    #[test]
    fn a_torn_append_keeps_a_prefix_and_a_torn_term_change_keeps_nothing() {
        let mut rng = SimRng::new(2, Stream::Storage);
        let mut disk = disk();
        let entries = vec![entry(1, 1), entry(2, 1), entry(3, 1)];
        disk.submit(write(1, 1, entries.clone()), 0, &mut rng, &params());
        assert_eq!(
            disk.crash(true, &mut rng, &mut |_, _: &Write| {}),
            0,
            "entries of a term that is not durable cannot survive"
        );
        disk.contents_mut().durable.hard_state.term = 1;
        disk.submit(write(1, 1, entries), 0, &mut rng, &params());
        let kept = disk.crash(true, &mut rng, &mut |_, _: &Write| {});
        assert!((1..3).contains(&kept));
        assert_eq!(disk.contents().durable().entries.len(), kept);
    }
}
