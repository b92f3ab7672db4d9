//! A compact mirror of a log: per index the entry's term, a hash of the entry, and a hash of the
//! whole prefix up to it. Two logs hold identical prefixes up to `i` exactly when their prefix
//! hashes at `i` agree (up to 64-bit collisions), so prefix comparisons are O(1).

use sansraft::{Entry, EntryKind, Index, Term};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    term: Term,
    entry_hash: u64,
    prefix_hash: u64,
}

/// The mirror of one log (indices from 1). Compaction does not shrink it: entries a snapshot
/// covers stay in the mirror, so every check still sees the whole log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TermLog {
    slots: Vec<Slot>,
}

impl TermLog {
    /// The last index.
    pub fn len(&self) -> Index {
        self.slots.len() as Index
    }

    /// True if the log is empty.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The term at `index` (`Some(0)` at index 0).
    pub fn term(&self, index: Index) -> Option<Term> {
        if index == 0 {
            return Some(0);
        }
        self.slots.get(index as usize - 1).map(|s| s.term)
    }

    /// The hash of the entry at `index`.
    pub fn entry_hash(&self, index: Index) -> Option<u64> {
        if index == 0 {
            return None;
        }
        self.slots.get(index as usize - 1).map(|s| s.entry_hash)
    }

    /// The hash of the prefix `1..=index` (a constant for the empty prefix).
    pub fn prefix_hash(&self, index: Index) -> Option<u64> {
        if index == 0 {
            return Some(EMPTY_PREFIX);
        }
        self.slots.get(index as usize - 1).map(|s| s.prefix_hash)
    }

    /// Keeps indices `1..=keep`.
    pub fn truncate(&mut self, keep: Index) {
        self.slots.truncate(keep as usize);
    }

    /// Appends an entry with the given term and entry hash; returns the new prefix hash.
    pub fn push(&mut self, term: Term, entry_hash: u64) -> u64 {
        let prev = self.slots.last().map_or(EMPTY_PREFIX, |s| s.prefix_hash);
        let prefix_hash = combine(prev, entry_hash);
        self.slots.push(Slot {
            term,
            entry_hash,
            prefix_hash,
        });
        prefix_hash
    }

    /// Applies a write's entries: delete from `entries[0].index`, then append. Calls `added`
    /// with `(index, term, prefix hash)` for each appended entry.
    pub fn write(&mut self, entries: &[Entry], mut added: impl FnMut(Index, Term, u64)) {
        let hashes = entries.iter().map(entry_hash);
        self.write_hashed(entries, hashes, |index, term, prefix, _| {
            added(index, term, prefix)
        });
    }

    /// [`TermLog::write`] with each entry's hash given (`hashes`, one per entry); calls
    /// `added` with `(index, term, prefix hash, entry hash)`.
    pub fn write_hashed(
        &mut self,
        entries: &[Entry],
        hashes: impl IntoIterator<Item = u64>,
        mut added: impl FnMut(Index, Term, u64, u64),
    ) {
        let Some(first) = entries.first() else {
            return;
        };
        self.truncate(first.index.saturating_sub(1).min(self.len()));
        for (e, entry) in entries.iter().zip(hashes) {
            let h = self.push(e.term, entry);
            added(self.len(), e.term, h, entry);
        }
    }

    /// Becomes a copy of `other`'s prefix `1..=keep` (a log replaced by a snapshot of it).
    pub fn copy_prefix(&mut self, other: &TermLog, keep: Index) {
        self.slots.clear();
        self.slots
            .extend_from_slice(&other.slots[..(keep as usize).min(other.slots.len())]);
    }

    /// A mirror of `entries` (consecutive from index 1).
    pub fn from_entries(entries: &[Entry]) -> TermLog {
        let mut log = TermLog::default();
        log.write(entries, |_, _, _| {});
        log
    }
}

const EMPTY_PREFIX: u64 = 0xcbf2_9ce4_8422_2325;

fn combine(prev: u64, entry_hash: u64) -> u64 {
    let mut h = prev ^ entry_hash.rotate_left(17);
    h = h.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^ (h >> 29)
}

/// A hash of one entry: term, index, kind and payload (FNV-1a).
pub fn entry_hash(e: &Entry) -> u64 {
    hash_with_payload(e, &e.data)
}

/// A hash of the entry as a witness keeps it: a normal entry's payload left out.
pub(crate) fn skeleton_hash(e: &Entry) -> u64 {
    match e.kind {
        EntryKind::Normal => hash_with_payload(e, &[]),
        EntryKind::Empty | EntryKind::Membership => entry_hash(e),
    }
}

fn hash_with_payload(e: &Entry, data: &[u8]) -> u64 {
    let mut h = crate::fnv::Fnv::default();
    h.u64(e.term);
    h.u64(e.index);
    h.u8(match e.kind {
        EntryKind::Normal => 0,
        EntryKind::Empty => 1,
        EntryKind::Membership => 2,
    });
    h.bytes(data);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn e(index: Index, term: Term, data: &'static [u8]) -> Entry {
        Entry {
            term,
            index,
            kind: EntryKind::Normal,
            data: Bytes::from_static(data),
        }
    }

    #[test]
    fn prefix_hashes_identify_prefixes() {
        let a = TermLog::from_entries(&[e(1, 1, b"x"), e(2, 1, b"y"), e(3, 2, b"z")]);
        let mut b = TermLog::from_entries(&[e(1, 1, b"x"), e(2, 1, b"y"), e(3, 3, b"w")]);
        assert_eq!(a.prefix_hash(2), b.prefix_hash(2));
        assert_ne!(a.prefix_hash(3), b.prefix_hash(3));
        b.write(&[e(3, 2, b"z")], |_, _, _| {});
        assert_eq!(a, b);
        assert_eq!(a.term(0), Some(0));
        assert_eq!(a.term(4), None);
    }
}
