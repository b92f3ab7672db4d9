//! Simulated storage that tells *written* from *durable*.
//!
//! Writes queue in issue order; each becomes durable after a sampled latency, never before an
//! earlier one (in-order durability, the one rule of the embedding contract). A crash loses
//! every write not yet durable. With tearing, the oldest incomplete write may leave a prefix of
//! its entries durable — only when that is indistinguishable from the write having been split in
//! two and the first half completed: a pure append (no truncation) whose kept entries are not
//! from a term above the durable one. Otherwise a torn write is simply not durable.
//!
//! What a write does to the disk is the reference storage's ([`sansraft_testkit::storage`]);
//! this module adds time, stalls and crashes. The disk also holds the latest snapshot's bytes.
//! A snapshot the application takes is durable at once (the application writes it before
//! reporting it); a received snapshot becomes durable with the write that installs it, in order
//! with the other writes. Compaction deletes entries the snapshot covers; a restart hands the
//! node only the entries after the snapshot.

use crate::rng::SimRng;
use crate::scenario::StorageParams;
use crate::Micros;
use bytes::Bytes;
use sansraft::{DurableState, Index, SnapshotMeta, Write, WriteToken};
use sansraft_testkit::storage::{apply_write, compact, make_durable, restart_state};
use std::collections::VecDeque;

#[derive(Clone, Debug)]
struct Queued {
    write: Write,
    /// The received snapshot's bytes, for a write that installs one.
    install_data: Option<Bytes>,
    ready_at: Micros,
}

/// A completion timer to arm: deliver `StorageDone { gen }` at `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timer {
    pub(crate) gen: u64,
    pub(crate) at: Micros,
}

/// One node's disk.
#[derive(Clone, Debug)]
pub(crate) struct Disk {
    /// The durable state; `entries` may still hold entries at or below the snapshot's index
    /// (kept after compaction), which a restart leaves out.
    durable: DurableState,
    /// The bytes of `durable.snapshot` (empty for the initial snapshot at index 0).
    snapshot_data: Bytes,
    queue: VecDeque<Queued>,
    last_ready_us: Micros,
    last_ack_us: Micros,
    stalled: bool,
    slow_factor: u32,
    timer_gen: u64,
    timer_armed: bool,
}

impl Disk {
    pub(crate) fn new(durable: DurableState) -> Self {
        Disk {
            durable,
            snapshot_data: Bytes::new(),
            queue: VecDeque::new(),
            last_ready_us: 0,
            last_ack_us: 0,
            stalled: false,
            slow_factor: 1,
            timer_gen: 0,
            timer_armed: false,
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

    /// Writes issued but not yet durable.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Queues a write. Returns a timer to arm if none is armed.
    pub(crate) fn submit(
        &mut self,
        write: Write,
        install_data: Option<Bytes>,
        now: Micros,
        rng: &mut SimRng,
        params: &StorageParams,
    ) -> Option<Timer> {
        let mut latency = rng.between(params.min_latency_us, params.max_latency_us);
        if rng.chance_ppm(params.slow_ppm) {
            latency = rng.between(params.max_latency_us, params.slow_latency_us);
        }
        let ready_at = (now + latency * u64::from(self.slow_factor)).max(self.last_ready_us);
        self.last_ready_us = ready_at;
        self.queue.push_back(Queued {
            write,
            install_data,
            ready_at,
        });
        self.arm(now)
    }

    fn arm(&mut self, now: Micros) -> Option<Timer> {
        if self.timer_armed || self.stalled {
            return None;
        }
        let head = self.queue.front()?;
        self.timer_gen += 1;
        self.timer_armed = true;
        Some(Timer {
            gen: self.timer_gen,
            at: head.ready_at.max(now),
        })
    }

    /// The completion timer fired: makes every ready write durable, in order, calling
    /// `made_durable` for each. Returns the token of the last one (to acknowledge) and the next
    /// timer to arm.
    pub(crate) fn on_timer(
        &mut self,
        gen: u64,
        now: Micros,
        made_durable: &mut impl FnMut(&Write),
    ) -> (Option<WriteToken>, Option<Timer>) {
        if gen != self.timer_gen || !self.timer_armed {
            return (None, None);
        }
        self.timer_armed = false;
        if self.stalled {
            return (None, None);
        }
        let mut last = None;
        while self.queue.front().is_some_and(|q| q.ready_at <= now) {
            last = self.complete_oldest(made_durable);
        }
        (last, self.arm(now))
    }

    /// Makes the oldest queued write durable now, whatever its latency or a stall: a driven
    /// world decides itself when the disk makes progress. Returns its token to acknowledge.
    pub(crate) fn complete_oldest(
        &mut self,
        made_durable: &mut impl FnMut(&Write),
    ) -> Option<WriteToken> {
        let Queued {
            write,
            install_data,
            ..
        } = self.queue.pop_front()?;
        make_durable(
            &mut self.durable,
            &mut self.snapshot_data,
            &write,
            install_data,
        );
        made_durable(&write);
        Some(write.token)
    }

    /// Makes `write` durable at once, for a node that counts it durable as it is carried out
    /// (`Io::Synchronous`): such a node waits for its disk, so no write of its ever queues, and
    /// stalls and slowness do not reach it.
    pub(crate) fn write_now(
        &mut self,
        write: &Write,
        install_data: Option<Bytes>,
        made_durable: &mut impl FnMut(&Write),
    ) {
        debug_assert!(
            self.queue.is_empty(),
            "a synchronous node's writes never queue"
        );
        make_durable(
            &mut self.durable,
            &mut self.snapshot_data,
            write,
            install_data,
        );
        made_durable(write);
    }

    /// When the acknowledgement of a write made durable now reaches the node: after a random
    /// delay, never before an earlier acknowledgement.
    pub(crate) fn ack_time(&mut self, now: Micros, rng: &mut SimRng, p: &StorageParams) -> Micros {
        let at = (now + rng.between(0, p.max_ack_delay_us)).max(self.last_ack_us);
        self.last_ack_us = at;
        at
    }

    /// When the writes queued so far will all have completed (the disk's backlog).
    pub(crate) fn drained_at(&self) -> Micros {
        self.last_ready_us
    }

    /// True if the disk is neither stalled nor slowed down by a fault.
    pub(crate) fn is_healthy(&self) -> bool {
        !self.stalled && self.slow_factor == 1
    }

    /// The disk stops completing writes.
    pub(crate) fn stall(&mut self) {
        self.stalled = true;
    }

    /// A stalled disk completes writes again. Returns a timer to arm.
    pub(crate) fn resume(&mut self, now: Micros) -> Option<Timer> {
        self.stalled = false;
        self.arm(now)
    }

    /// The disk recovers at the end of the fault phase: no stall, normal speed, and writes
    /// delayed by earlier slowness complete within the normal latency. Returns a timer to arm.
    pub(crate) fn heal(&mut self, now: Micros, params: &StorageParams) -> Option<Timer> {
        self.stalled = false;
        self.slow_factor = 1;
        let limit = now + params.max_latency_us;
        for q in &mut self.queue {
            q.ready_at = q.ready_at.min(limit);
        }
        self.last_ready_us = self.last_ready_us.min(limit);
        self.timer_gen += 1;
        self.timer_armed = false;
        self.arm(now)
    }

    /// "stalled", "slow ×N", or empty at normal speed (for traces).
    pub(crate) fn describe_speed(&self) -> String {
        if self.stalled {
            "stalled".to_owned()
        } else if self.slow_factor > 1 {
            format!("slow ×{}", self.slow_factor)
        } else {
            String::new()
        }
    }

    /// Multiplies latencies of later writes by `factor`.
    pub(crate) fn set_slow(&mut self, factor: u32) {
        self.slow_factor = factor.max(1);
    }

    /// The node crashed: incomplete writes are lost, except perhaps a torn prefix of the oldest
    /// one (see the module docs), reported to `torn` as the write that became durable. Returns
    /// the number of entries kept from a torn write.
    pub(crate) fn crash(
        &mut self,
        tear: bool,
        rng: &mut SimRng,
        torn: &mut impl FnMut(&Write),
    ) -> usize {
        self.timer_gen += 1;
        self.timer_armed = false;
        let head = self.queue.pop_front();
        self.queue.clear();
        let (true, Some(Queued { write, .. })) = (tear, head) else {
            return 0;
        };
        let durable_last = self
            .durable
            .entries
            .last()
            .map_or(self.durable.snapshot.index, |e| e.index);
        let appends = write
            .entries
            .first()
            .is_some_and(|e| e.index == durable_last + 1);
        if !appends || write.entries.len() < 2 {
            return 0;
        }
        let cut = rng.between(1, write.entries.len() as u64 - 1) as usize;
        let term = self.durable.hard_state.term;
        if write.entries[..cut].iter().any(|e| e.term > term) {
            return 0;
        }
        let prefix = Write {
            token: write.token,
            install: None,
            hard_state: None,
            entries: write.entries[..cut].to_vec().into(),
        };
        apply_write(&mut self.durable, &prefix);
        torn(&prefix);
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;
    use bytes::Bytes;
    use sansraft::{Entry, EntryKind, HardState, Membership};

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            term,
            index,
            kind: EntryKind::Normal,
            data: Bytes::new(),
        }
    }

    fn write(seq: u64, term: u64, entries: Vec<Entry>) -> Write {
        Write {
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
        }
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

    #[test]
    fn writes_become_durable_in_order_and_crashes_lose_the_rest() {
        let mut rng = SimRng::new(1, Stream::Storage);
        let mut disk = Disk::new(DurableState::bootstrap(Membership::with_voters([1])));
        let t = disk
            .submit(write(1, 1, vec![entry(1, 1)]), None, 0, &mut rng, &params())
            .expect("first write arms the timer");
        assert!(disk
            .submit(write(2, 1, vec![entry(2, 1)]), None, 0, &mut rng, &params())
            .is_none());
        let mut seen = Vec::new();
        let (ack, _) = disk.on_timer(t.gen, t.at, &mut |w: &Write| seen.push(w.token.seq));
        assert_eq!(seen.first(), Some(&1));
        assert_eq!(ack.map(|a| a.seq), seen.last().copied());
        disk.crash(false, &mut rng, &mut |_: &Write| {});
        assert_eq!(disk.pending(), 0);
        assert!(!disk.durable().entries.is_empty());
    }

    #[test]
    fn a_torn_append_keeps_a_prefix_and_a_torn_term_change_keeps_nothing() {
        let mut rng = SimRng::new(2, Stream::Storage);
        let mut disk = Disk::new(DurableState::bootstrap(Membership::with_voters([1])));
        let entries = vec![entry(1, 1), entry(2, 1), entry(3, 1)];
        disk.submit(write(1, 1, entries.clone()), None, 0, &mut rng, &params());
        assert_eq!(
            disk.crash(true, &mut rng, &mut |_: &Write| {}),
            0,
            "entries of a term that is not durable cannot survive"
        );
        disk.durable.hard_state.term = 1;
        disk.submit(write(1, 1, entries), None, 0, &mut rng, &params());
        let kept = disk.crash(true, &mut rng, &mut |_: &Write| {});
        assert!((1..3).contains(&kept));
        assert_eq!(disk.durable().entries.len(), kept);
    }
}
