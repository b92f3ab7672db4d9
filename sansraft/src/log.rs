//! The in-memory log: entries after the latest snapshot, and the commit index.
//!
//! The entries are kept as the shared runs ([`Entries`]) they arrived in: a leader's batch of
//! proposals, a follower's append. Handing a part of one run to a write, an append or an
//! apply therefore shares it instead of cloning entries. Terms along the log never decrease,
//! so term lookups by value are binary searches.

use crate::entries::Entries;
use crate::types::{Entry, Index, Term};

/// One run of the log and the bytes its entries account for (so that slicing a whole run never
/// re-sums its entries).
#[derive(Clone, Debug)]
struct Run {
    /// The index of the run's first entry (kept here: lookups compare it often).
    first: Index,
    entries: Entries,
    /// The sum of `accounted_bytes` over `entries`.
    bytes: u64,
}

impl Run {
    /// A run of at least one entry.
    fn new(entries: Entries) -> Self {
        let bytes = accounted(&entries);
        Run {
            first: entries[0].index,
            entries,
            bytes,
        }
    }

    /// Keeps the first `len` entries.
    fn truncate(&mut self, len: usize) {
        self.entries.truncate(len);
        self.bytes = accounted(&self.entries);
    }

    /// Drops the first `n` entries.
    fn advance(&mut self, n: usize) {
        self.entries.advance(n);
        self.first += n as Index;
        self.bytes = accounted(&self.entries);
    }
}

/// Runs of at most this many entries are small: a follower's append or a leader's proposal at
/// low load. Up to [`MERGE_RUNS`] adjacent small runs that nothing else shares are merged into
/// one, so that a log built one entry at a time does not keep an allocation and an index slot
/// per entry.
const SMALL_RUN: usize = 8;

/// The most runs merged into one at a time; merging starts once twice as many runs lie beyond
/// the last merge, so that the newest runs, which writes, appends and applies in flight may
/// still share, are left alone.
const MERGE_RUNS: usize = 64;

fn accounted(entries: &[Entry]) -> u64 {
    entries.iter().map(Entry::accounted_bytes).sum()
}

#[derive(Clone, Debug)]
pub(crate) struct Log {
    /// The index of the last entry covered by the snapshot (0: none).
    snapshot_index: Index,
    snapshot_term: Term,
    /// Non-empty runs, one after the other: the first starts at `snapshot_index + 1`, each
    /// next one right after the previous one's last entry; terms non-decreasing throughout.
    runs: Vec<Run>,
    /// Entries in all runs.
    len: u64,
    /// Runs before this position were merged or passed over; merging looks at the runs from
    /// here on.
    unmerged: usize,
    /// Invariant: `snapshot_index ≤ committed ≤ last_index()`. Never decreases.
    committed: Index,
}

impl Log {
    /// Gives back spare capacity (an idle group's memory).
    pub(crate) fn shrink(&mut self) {
        self.runs.shrink_to_fit();
    }

    pub(crate) fn new(
        snapshot_index: Index,
        snapshot_term: Term,
        entries: Vec<Entry>,
        committed: Index,
    ) -> Self {
        let len = entries.len() as u64;
        let mut runs = Vec::new();
        if !entries.is_empty() {
            runs.push(Run::new(Entries::from(entries)));
        }
        Log {
            snapshot_index,
            snapshot_term,
            unmerged: runs.len(),
            runs,
            len,
            committed,
        }
    }

    pub(crate) fn first_index(&self) -> Index {
        self.snapshot_index + 1
    }

    pub(crate) fn last_index(&self) -> Index {
        self.snapshot_index + self.len
    }

    pub(crate) fn last_term(&self) -> Term {
        self.runs
            .last()
            .and_then(|run| run.entries.last())
            .map_or(self.snapshot_term, |e| e.term)
    }

    pub(crate) fn committed(&self) -> Index {
        self.committed
    }

    pub(crate) fn snapshot_index(&self) -> Index {
        self.snapshot_index
    }

    /// The term of the entry at `index`, if this log knows it (the snapshot's last entry or a
    /// retained entry).
    pub(crate) fn term(&self, index: Index) -> Option<Term> {
        if index == self.snapshot_index {
            return Some(self.snapshot_term);
        }
        self.get(index).map(|e| e.term)
    }

    pub(crate) fn get(&self, index: Index) -> Option<&Entry> {
        let (run, offset) = self.locate(index)?;
        Some(&self.runs[run].entries[offset])
    }

    /// The run holding `index` and the entry's position in it.
    fn locate(&self, index: Index) -> Option<(usize, usize)> {
        if index < self.first_index() || index > self.last_index() {
            return None;
        }
        // Most lookups are near the end of the log: try the last two runs first.
        let last = self.runs.len() - 1;
        let back = self.runs.last()?;
        if index >= back.first {
            return Some((last, (index - back.first) as usize));
        }
        let run = if last > 0 && index >= self.runs[last - 1].first {
            last - 1
        } else {
            self.runs.partition_point(|run| run.first <= index) - 1
        };
        Some((run, (index - self.runs[run].first) as usize))
    }

    /// §5.4.1: a candidate's log is at least as up to date as ours if its last term is higher,
    /// or equal with a last index at least ours.
    pub(crate) fn is_up_to_date(&self, last_index: Index, last_term: Term) -> bool {
        last_term > self.last_term()
            || (last_term == self.last_term() && last_index >= self.last_index())
    }

    /// The first index (≥ `floor`) of the run of `term` that contains `index`: the conflict hint
    /// a follower returns.
    pub(crate) fn first_index_of_term_run(&self, index: Index, term: Term, floor: Index) -> Index {
        let lo = floor.max(self.first_index());
        // Binary search on the non-decreasing terms of [lo, index] for the first with `term`.
        let (mut lo, mut hi) = (lo, index);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.term(mid).is_some_and(|t| t < term) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The last index holding an entry of `term`, if any (the leader's side of the hint).
    pub(crate) fn last_index_of_term(&self, term: Term) -> Option<Index> {
        // Largest index whose term is ≤ `term`, by binary search over retained entries.
        let (mut lo, mut hi) = (self.first_index(), self.last_index() + 1);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.term(mid).is_some_and(|t| t <= term) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let candidate = lo - 1;
        (self.term(candidate) == Some(term)).then_some(candidate)
    }

    /// Appends one entry at the end, as a run of its own. The caller guarantees index and
    /// term order.
    pub(crate) fn push(&mut self, entry: Entry) {
        self.append(vec![entry].into());
    }

    /// Removes every entry at or after `index`. Committed entries are never removed.
    pub(crate) fn truncate_from(&mut self, index: Index) {
        assert!(
            index > self.committed,
            "Leader Completeness: truncating at {index} would drop committed entries (commit {})",
            self.committed
        );
        let Some((run, offset)) = self.locate(index) else {
            return;
        };
        self.runs.truncate(run + 1);
        if offset == 0 {
            self.runs.pop();
        } else {
            self.runs[run].truncate(offset);
        }
        self.unmerged = self.unmerged.min(self.runs.len());
        self.len = index - self.first_index();
    }

    /// Discards the entries up to and including `index`, which must be committed and held: the
    /// log then starts after it (compaction behind a snapshot).
    pub(crate) fn compact_to(&mut self, index: Index) {
        assert!(
            index <= self.committed && index <= self.last_index(),
            "compacting to {index} beyond commit {} or last index {}",
            self.committed,
            self.last_index()
        );
        if index < self.first_index() {
            return;
        }
        let term = self.term(index).expect("index is within the log");
        let (run, offset) = self.locate(index).expect("index is within the log");
        let dropped = if offset + 1 == self.runs[run].entries.len() {
            run + 1
        } else {
            self.runs[run].advance(offset + 1);
            run
        };
        self.runs.drain(..dropped);
        self.unmerged = self.unmerged.saturating_sub(dropped);
        self.len -= index + 1 - self.first_index();
        self.snapshot_index = index;
        self.snapshot_term = term;
    }

    /// Replaces the whole log by the empty log after a snapshot at `(index, term)`, committed.
    /// Only for installing a snapshot newer than the commit index (§7: the follower discards
    /// its entire log).
    pub(crate) fn reset(&mut self, index: Index, term: Term) {
        assert!(
            index > self.committed,
            "resetting the log to a snapshot at {index} at or below commit {}",
            self.committed
        );
        self.runs.clear();
        self.unmerged = 0;
        self.len = 0;
        self.snapshot_index = index;
        self.snapshot_term = term;
        self.committed = index;
    }

    /// The accept-stale-snapshot canary's reset: lowers the commit index to the snapshot's.
    #[cfg(feature = "canary")]
    pub(crate) fn reset_unchecked(&mut self, index: Index, term: Term) {
        self.committed = index - 1;
        self.snapshot_index = index - 1;
        self.snapshot_term = term;
    }

    pub(crate) fn commit_to(&mut self, index: Index) -> bool {
        debug_assert!(
            index <= self.last_index(),
            "commit {index} beyond last index {}",
            self.last_index()
        );
        if index > self.committed {
            self.committed = index;
            true
        } else {
            false
        }
    }

    /// The entries in `[lo, hi]`, stopping once `max_bytes` is reached (at least one entry if
    /// any), with their accounted bytes. Shared with the log if they lie in one run, else
    /// cloned into a new one.
    pub(crate) fn slice(&self, lo: Index, hi: Index, max_bytes: u64) -> (Entries, u64) {
        // The common case (a new write, an append to a level follower): exactly the last run.
        if let Some(back) = self.runs.last() {
            if back.first == lo && hi >= self.last_index() && back.bytes <= max_bytes {
                return (back.entries.clone(), back.bytes);
            }
        }
        let (first, bytes) = self.slice_of_run(lo, hi, max_bytes);
        let next = lo + first.len() as Index;
        if first.is_empty() || next > hi.min(self.last_index()) || bytes >= max_bytes {
            return (first, bytes);
        }
        let mut out = first.into_vec();
        let mut bytes = bytes;
        for entry in self.iter_from(next).take_while(|e| e.index <= hi) {
            let size = entry.accounted_bytes();
            if bytes + size > max_bytes {
                break;
            }
            bytes += size;
            out.push(entry.clone());
        }
        (out.into(), bytes)
    }

    /// Like [`Log::slice`], but ends at the end of the run holding `lo`: always shared.
    pub(crate) fn slice_of_run(&self, lo: Index, hi: Index, max_bytes: u64) -> (Entries, u64) {
        let Some((run, offset)) = self.locate(lo).filter(|_| lo <= hi) else {
            return (Entries::new(), 0);
        };
        let Run {
            entries: run,
            bytes,
            ..
        } = &self.runs[run];
        let wanted = (hi.min(self.last_index()) - lo) as usize + 1;
        let end = run.len().min(offset + wanted);
        if offset == 0 && end == run.len() && *bytes <= max_bytes {
            // The whole run: its byte count is known.
            return (run.clone(), *bytes);
        }
        let mut bytes = 0;
        let mut taken = 0;
        for entry in &run[offset..end] {
            let size = entry.accounted_bytes();
            if taken > 0 && bytes + size > max_bytes {
                break;
            }
            bytes += size;
            taken += 1;
        }
        (run.slice(offset..offset + taken), bytes)
    }

    /// Appends a run of consecutive entries at the end, sharing it. The caller guarantees
    /// index and term order, as for [`Log::push`].
    pub(crate) fn append(&mut self, entries: Entries) {
        if entries.is_empty() {
            return;
        }
        debug_assert!(
            entries
                .iter()
                .enumerate()
                .all(|(i, e)| e.index == self.last_index() + 1 + i as Index),
            "log entries must be consecutive"
        );
        debug_assert!(
            entries[0].term >= self.last_term(),
            "log terms must not decrease"
        );
        self.len += entries.len() as u64;
        self.runs.push(Run::new(entries));
        if self.runs.len() - self.unmerged >= 2 * MERGE_RUNS {
            self.merge_small_runs();
        }
    }

    /// Merges up to [`MERGE_RUNS`] adjacent small runs that nothing else shares, from
    /// `unmerged` on, into one run, moving their entries; passes over runs that cannot be
    /// merged (large, or shared), at most [`MERGE_RUNS`] of them per call. Runs are only the
    /// log's storage: what the log holds does not change.
    fn merge_small_runs(&mut self) {
        let mut from = self.unmerged;
        let newest = self.runs.len() - MERGE_RUNS;
        while from < newest && from < self.unmerged + MERGE_RUNS {
            let mut count = 0;
            for run in &mut self.runs[from..newest] {
                if count == MERGE_RUNS
                    || run.entries.len() > SMALL_RUN
                    || run.entries.unique_mut().is_none()
                {
                    break;
                }
                count += 1;
            }
            if count >= 2 {
                self.merge(from, count);
                from += 1;
                break;
            }
            // A large or shared run (or a lone small one before it): pass over.
            from += count + 1;
        }
        self.unmerged = from.min(newest);
    }

    /// Replaces the `count` unshared runs from position `from` by one run of their entries.
    fn merge(&mut self, from: usize, count: usize) {
        let merging = &mut self.runs[from..from + count];
        let total = merging.iter().map(|run| run.entries.len()).sum();
        let bytes = merging.iter().map(|run| run.bytes).sum();
        let first = merging[0].first;
        let mut at = (0, 0);
        let merged = Entries::try_from_fn(total, || {
            let (run, offset) = &mut at;
            loop {
                let entries = merging[*run]
                    .entries
                    .unique_mut()
                    .expect("runs being merged are unshared");
                if let Some(entry) = entries.get_mut(*offset) {
                    *offset += 1;
                    return Ok::<_, std::convert::Infallible>(std::mem::replace(
                        entry,
                        Entry::placeholder(),
                    ));
                }
                (*run, *offset) = (*run + 1, 0);
            }
        });
        let Ok(entries) = merged;
        self.runs.splice(
            from..from + count,
            [Run {
                first,
                entries,
                bytes,
            }],
        );
    }

    pub(crate) fn iter_from(&self, index: Index) -> impl Iterator<Item = &Entry> {
        let (run, offset) = self
            .locate(index.max(self.first_index()))
            .unwrap_or((self.runs.len(), 0));
        let head = self.runs.get(run).map_or(&[][..], |r| &r.entries[offset..]);
        let rest = &self.runs[(run + 1).min(self.runs.len())..];
        head.iter()
            .chain(rest.iter().flat_map(|run| run.entries.iter()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::EntryKind;
    use bytes::Bytes;

    fn entry(index: Index, term: Term) -> Entry {
        Entry {
            term,
            index,
            kind: EntryKind::Normal,
            data: Bytes::new(),
        }
    }

    fn log(terms: &[Term]) -> Log {
        let entries = terms
            .iter()
            .enumerate()
            .map(|(i, &term)| entry(i as Index + 1, term))
            .collect();
        Log::new(0, 0, entries, 0)
    }

    fn indexes(entries: &[Entry]) -> Vec<Index> {
        entries.iter().map(|e| e.index).collect()
    }

    /// A log of entries 1..=9 in term 1, held as the runs [1..=3], [4..=6] and [7..=9], each
    /// also held by the caller (so none is merged into another); the middle one is returned
    /// first.
    fn three_runs() -> (Log, Entries, [Entries; 2]) {
        let mut l = Log::new(0, 0, Vec::new(), 0);
        let runs: Vec<Entries> = [1, 4, 7]
            .iter()
            .map(|&first| (first..first + 3).map(|i| entry(i, 1)).collect())
            .collect();
        for run in &runs {
            l.append(run.clone());
        }
        assert_eq!(l.runs.len(), 3);
        let [first, shared, last] = <[Entries; 3]>::try_from(runs).expect("three runs");
        (l, shared, [first, last])
    }

    #[test]
    fn term_runs_and_last_of_term() {
        let l = log(&[1, 1, 2, 2, 2, 4, 4]);
        assert_eq!(l.first_index_of_term_run(5, 2, 0), 3);
        assert_eq!(l.first_index_of_term_run(7, 4, 0), 6);
        assert_eq!(
            l.first_index_of_term_run(7, 4, 7),
            7,
            "never below the floor"
        );
        assert_eq!(l.last_index_of_term(2), Some(5));
        assert_eq!(l.last_index_of_term(3), None);
        assert_eq!(l.last_index_of_term(4), Some(7));
        assert_eq!(l.last_index_of_term(9), None);
    }

    #[test]
    fn up_to_date_rule() {
        let l = log(&[1, 2, 2]);
        assert!(l.is_up_to_date(3, 2));
        assert!(
            l.is_up_to_date(1, 3),
            "higher last term wins regardless of length"
        );
        assert!(!l.is_up_to_date(2, 2));
        assert!(!l.is_up_to_date(9, 1));
    }

    #[test]
    fn compaction_keeps_terms_and_indices() {
        let mut l = log(&[1, 1, 2, 2, 3]);
        l.commit_to(4);
        l.compact_to(3);
        assert_eq!(l.first_index(), 4);
        assert_eq!(l.term(3), Some(2), "the compaction point's term is kept");
        assert_eq!(l.term(2), None);
        assert_eq!(l.last_index(), 5);
        l.compact_to(2);
        assert_eq!(
            l.first_index(),
            4,
            "compacting below the start changes nothing"
        );
        l.reset(9, 4);
        assert_eq!((l.first_index(), l.last_index(), l.last_term()), (10, 9, 4));
        assert_eq!(l.committed(), 9);
    }

    #[test]
    fn slices_share_one_run_and_clone_across_runs() {
        let (l, shared, _held) = three_runs();
        for i in 1..=9 {
            assert_eq!(l.get(i).map(|e| e.index), Some(i));
        }
        let (within, _) = l.slice(5, 6, u64::MAX);
        assert_eq!(indexes(&within), vec![5, 6]);
        assert!(
            std::ptr::eq(&within[0], &shared[1]),
            "a slice within one run shares it"
        );
        let (across, bytes) = l.slice(2, 8, u64::MAX);
        assert_eq!(indexes(&across), (2..=8).collect::<Vec<_>>());
        assert_eq!(bytes, 7 * entry(1, 1).accounted_bytes());
        let (run, _) = l.slice_of_run(2, 8, u64::MAX);
        assert_eq!(indexes(&run), vec![2, 3], "ends with the run");
        let (none, bytes) = l.slice(10, 12, u64::MAX);
        assert!(none.is_empty() && bytes == 0, "nothing beyond the last");
        let (clamped, _) = l.slice(8, 99, u64::MAX);
        assert_eq!(indexes(&clamped), vec![8, 9], "clamped to the last index");
        let from: Vec<Index> = l.iter_from(3).map(|e| e.index).collect();
        assert_eq!(from, (3..=9).collect::<Vec<_>>());
    }

    #[test]
    fn truncation_and_compaction_cut_runs() {
        let (mut l, shared, _held) = three_runs();
        l.truncate_from(5);
        assert_eq!((l.last_index(), l.runs.len()), (4, 2));
        assert_eq!(
            indexes(&shared),
            vec![4, 5, 6],
            "a shared run is never changed"
        );
        l.push(entry(5, 2));
        assert_eq!((l.term(5), l.runs.len()), (Some(2), 3));
        l.truncate_from(4);
        assert_eq!((l.last_index(), l.runs.len()), (3, 1));
        l.append((4..=6).map(|i| entry(i, 3)).collect());
        l.commit_to(6);
        l.compact_to(4);
        assert_eq!((l.first_index(), l.runs.len()), (5, 1));
        assert_eq!(l.term(4), Some(3));
        assert_eq!(indexes(&l.slice(5, 9, u64::MAX).0), vec![5, 6]);
        assert!(
            l.slice(4, 9, u64::MAX).0.is_empty(),
            "compacted entries are gone"
        );
        l.compact_to(6);
        assert_eq!((l.first_index(), l.last_index(), l.runs.len()), (7, 6, 0));
        assert_eq!(l.last_term(), 3);
    }

    #[test]
    fn slice_respects_byte_limit_but_sends_one() {
        let (l, _, _held) = three_runs();
        let (one, _) = l.slice(1, 3, 1);
        assert_eq!(one.len(), 1);
        let per_entry = entry(1, 1).accounted_bytes();
        let (five, bytes) = l.slice(2, 9, 5 * per_entry);
        assert_eq!(
            indexes(&five),
            vec![2, 3, 4, 5, 6],
            "across runs, within the limit"
        );
        assert_eq!(bytes, 5 * per_entry);
    }

    /// Entries appended one at a time, with data so that moving them shows.
    fn one_at_a_time(
        l: &mut Log,
        indexes: std::ops::RangeInclusive<Index>,
        held: &mut Vec<Entries>,
    ) {
        for i in indexes {
            let run = Entries::one(Entry {
                term: 1 + i / 100,
                index: i,
                kind: EntryKind::Normal,
                data: Bytes::from(i.to_le_bytes().to_vec()),
            });
            if i % 50 == 0 {
                // Another holder (a write or an append in flight): this run is never merged.
                held.push(run.clone());
            }
            l.append(run);
        }
    }

    fn check_contents(l: &Log, last: Index) {
        assert_eq!(l.last_index(), last);
        let mut expected = l.first_index();
        for e in l.iter_from(l.first_index()) {
            assert_eq!((e.index, e.term), (expected, 1 + expected / 100));
            assert_eq!(&e.data[..], &expected.to_le_bytes()[..]);
            expected += 1;
        }
        assert_eq!(expected, last + 1);
        for run in &l.runs {
            assert_eq!(run.first, run.entries[0].index);
            assert_eq!(run.bytes, accounted(&run.entries));
        }
    }

    #[test]
    fn small_unshared_runs_merge_and_the_log_is_unchanged() {
        let (mut l, mut held) = (Log::new(0, 0, Vec::new(), 0), Vec::new());
        one_at_a_time(&mut l, 1..=1000, &mut held);
        check_contents(&l, 1000);
        assert!(
            l.runs.len() < 200,
            "1,000 one-entry runs merged into a few ({} runs)",
            l.runs.len()
        );
        // Shared runs are left as they were, still holding their entries.
        assert!(held.iter().all(|run| run.len() == 1 && run[0].term > 0));
        let (run, offset) = l.locate(500).unwrap();
        assert_eq!(
            (l.runs[run].entries.len(), offset),
            (1, 0),
            "a held run stays alone"
        );
        // Every slice and lookup still finds the entries where they were.
        let (slice, _) = l.slice(95, 405, u64::MAX);
        assert_eq!(indexes(&slice), (95..=405).collect::<Vec<_>>());
        assert_eq!(l.term(999), Some(10));
        assert_eq!(l.first_index_of_term_run(999, 10, 1), 900);

        // Truncation and compaction across merged runs, then more appends.
        l.commit_to(700);
        l.truncate_from(801);
        check_contents(&l, 800);
        l.compact_to(333);
        assert_eq!(l.first_index(), 334);
        check_contents(&l, 800);
        one_at_a_time(&mut l, 801..=1500, &mut held);
        check_contents(&l, 1500);
        assert!(l.runs.len() < 200, "{} runs", l.runs.len());
    }
}
