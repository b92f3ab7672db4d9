//! The in-memory log: entries after the latest snapshot, and the commit index.
//!
//! Terms along the log never decrease, so term lookups by value are binary searches.

use crate::types::{Entry, Index, Term};
use std::collections::VecDeque;

#[derive(Clone, Debug)]
pub(crate) struct Log {
    /// The index of the last entry covered by the snapshot (0: none).
    snapshot_index: Index,
    snapshot_term: Term,
    /// Invariant: `entries[i].index == snapshot_index + 1 + i`, terms non-decreasing.
    entries: VecDeque<Entry>,
    /// Invariant: `snapshot_index ≤ committed ≤ last_index()`. Never decreases.
    committed: Index,
}

impl Log {
    pub(crate) fn new(
        snapshot_index: Index,
        snapshot_term: Term,
        entries: Vec<Entry>,
        committed: Index,
    ) -> Self {
        Log {
            snapshot_index,
            snapshot_term,
            entries: entries.into(),
            committed,
        }
    }

    pub(crate) fn first_index(&self) -> Index {
        self.snapshot_index + 1
    }

    pub(crate) fn last_index(&self) -> Index {
        self.snapshot_index + self.entries.len() as Index
    }

    pub(crate) fn last_term(&self) -> Term {
        self.entries.back().map_or(self.snapshot_term, |e| e.term)
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
        let offset = index.checked_sub(self.first_index())?;
        self.entries.get(usize::try_from(offset).ok()?)
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

    /// Appends one entry at the end. The caller guarantees index and term order.
    pub(crate) fn push(&mut self, entry: Entry) {
        debug_assert_eq!(
            entry.index,
            self.last_index() + 1,
            "log entries must be consecutive"
        );
        debug_assert!(
            entry.term >= self.last_term(),
            "log terms must not decrease"
        );
        self.entries.push_back(entry);
    }

    /// Removes every entry at or after `index`. Committed entries are never removed.
    pub(crate) fn truncate_from(&mut self, index: Index) {
        assert!(
            index > self.committed,
            "Leader Completeness: truncating at {index} would drop committed entries (commit {})",
            self.committed
        );
        let keep = index.saturating_sub(self.first_index());
        self.entries
            .truncate(usize::try_from(keep).unwrap_or(usize::MAX));
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
        let drop = (index + 1 - self.first_index()) as usize;
        self.entries.drain(..drop);
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
        self.entries.clear();
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

    /// Clones the entries in `[lo, hi]`, stopping once `max_bytes` is reached (at least one
    /// entry if any). Returns the entries and their accounted bytes.
    pub(crate) fn slice(&self, lo: Index, hi: Index, max_bytes: u64) -> (Vec<Entry>, u64) {
        let mut out = Vec::new();
        let mut bytes = 0;
        if lo > hi || lo < self.first_index() {
            return (out, 0);
        }
        let start = (lo - self.first_index()) as usize;
        let end = ((hi.min(self.last_index())) - self.first_index()) as usize;
        out.reserve(end + 1 - start);
        for entry in self.entries.range(start..=end) {
            let size = entry.accounted_bytes();
            if !out.is_empty() && bytes + size > max_bytes {
                break;
            }
            bytes += size;
            out.push(entry.clone());
        }
        (out, bytes)
    }

    /// Appends consecutive entries at the end (moved, not cloned). The caller guarantees index
    /// and term order, as for [`Log::push`].
    pub(crate) fn append(&mut self, entries: impl IntoIterator<Item = Entry>) {
        let first = self.last_index() + 1;
        let before = self.entries.len();
        self.entries.extend(entries);
        debug_assert!(
            self.entries
                .range(before..)
                .enumerate()
                .all(|(i, e)| e.index == first + i as Index),
            "log entries must be consecutive"
        );
        debug_assert!(
            before == 0
                || self.entries.len() == before
                || self.entries[before].term >= self.entries[before - 1].term,
            "log terms must not decrease"
        );
    }

    pub(crate) fn iter_from(&self, index: Index) -> impl Iterator<Item = &Entry> {
        let skip = index.saturating_sub(self.first_index());
        self.entries
            .iter()
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::EntryKind;
    use bytes::Bytes;

    fn log(terms: &[Term]) -> Log {
        let entries = terms
            .iter()
            .enumerate()
            .map(|(i, &term)| Entry {
                term,
                index: i as Index + 1,
                kind: EntryKind::Normal,
                data: Bytes::new(),
            })
            .collect();
        Log::new(0, 0, entries, 0)
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
    fn slice_clones_across_the_ring_buffer_seam() {
        // Entries 1..=6 laid out so that the deque's storage wraps around its end: fill and
        // empty it from the front first, which leaves its head near the end of the buffer.
        let entries = log(&[1, 1, 1, 1, 1, 1]).entries;
        let mut l = log(&[]);
        l.entries = VecDeque::with_capacity(8);
        for _ in 0..l.entries.capacity() - 2 {
            l.entries.push_back(entries[0].clone());
        }
        while l.entries.pop_front().is_some() {}
        l.entries.extend(entries.iter().cloned());
        assert!(
            !l.entries.as_slices().1.is_empty(),
            "the test needs a wrapped deque"
        );
        let (all, _) = l.slice(2, 6, u64::MAX);
        assert_eq!(
            all.iter().map(|e| e.index).collect::<Vec<_>>(),
            vec![2, 3, 4, 5, 6]
        );
        let (none, bytes) = l.slice(7, 9, u64::MAX);
        assert!(
            none.is_empty() && bytes == 0,
            "nothing beyond the last index"
        );
        let (clamped, _) = l.slice(5, 99, u64::MAX);
        assert_eq!(
            clamped.len(),
            2,
            "the upper bound is clamped to the last index"
        );
    }

    #[test]
    fn slice_respects_byte_limit_but_sends_one() {
        let l = log(&[1, 1, 1]);
        let (one, _) = l.slice(1, 3, 1);
        assert_eq!(one.len(), 1);
        let (all, bytes) = l.slice(1, 3, u64::MAX);
        assert_eq!(all.len(), 3);
        assert_eq!(bytes, 3 * all[0].accounted_bytes());
    }
}
