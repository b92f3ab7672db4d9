//! [`Entries`]: a shared, immutable run of consecutive log entries.
//!
//! Writes, appends and applies hand out runs of the log. A run shares its buffer, so cloning
//! it or taking a part of it costs one reference-count update, whatever its length: one batch
//! of proposals sits in the log, in the write that persists it, in the append to every
//! follower and in the apply action without any entry being cloned.

use crate::types::{Entry, EntryKind};
use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::ops::{Deref, Range};
use std::sync::Arc;

/// Consecutive log entries, shared: it dereferences to `[Entry]` and clones in O(1). Build one
/// from a `Vec<Entry>` with `into()`, or from one entry with [`Entries::one`]; get an owned
/// vector back with [`Entries::into_vec`] (which moves the entries if nothing else shares them).
#[derive(Clone, Default)]
pub struct Entries {
    /// `None` for an empty run, so that empty runs never allocate. One allocation holds the
    /// reference count and the entries.
    buf: Option<Arc<[Entry]>>,
    /// The run is `buf[start..end]`. 32-bit positions keep a run (and every message and action
    /// that carries one) 8 bytes smaller; no buffer holds 2^32 entries (224 GiB).
    start: u32,
    end: u32,
}

/// A position within a run's buffer.
#[inline]
fn position(n: usize) -> u32 {
    u32::try_from(n).expect("a run holds fewer than 2^32 entries")
}

impl Entries {
    /// The empty run.
    pub fn new() -> Self {
        Entries::default()
    }

    /// A run of one entry, in one allocation.
    pub fn one(entry: Entry) -> Self {
        Entries::whole(Arc::new([entry]))
    }

    /// A run of exactly `len` entries made by `next`, in one allocation; the first error
    /// `next` returns is returned instead (the entries it made are dropped).
    pub(crate) fn try_from_fn<E>(
        len: usize,
        mut next: impl FnMut() -> Result<Entry, E>,
    ) -> Result<Self, E> {
        let mut failed = None;
        // `(0..len).map(..)` has a trusted length, so the shared buffer is allocated once at
        // its final size; after a failure the rest are cheap placeholders, never read.
        let buf: Arc<[Entry]> = (0..len)
            .map(|_| match failed {
                Some(_) => Entry::placeholder(),
                None => next().unwrap_or_else(|e| {
                    failed = Some(e);
                    Entry::placeholder()
                }),
            })
            .collect();
        match failed {
            Some(e) => Err(e),
            None => Ok(Entries::whole(buf)),
        }
    }

    /// The entries, mutable, if no other run shares this one's buffer.
    pub(crate) fn unique_mut(&mut self) -> Option<&mut [Entry]> {
        let (start, end) = (self.start as usize, self.end as usize);
        Arc::get_mut(self.buf.as_mut()?).map(|buf| &mut buf[start..end])
    }

    fn whole(buf: Arc<[Entry]>) -> Self {
        let end = position(buf.len());
        if end == 0 {
            return Entries::new();
        }
        Entries {
            buf: Some(buf),
            start: 0,
            end,
        }
    }

    /// The number of entries (without going through the shared buffer).
    #[inline]
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    /// True if the run holds no entry.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// The entries, as a slice.
    pub fn as_slice(&self) -> &[Entry] {
        match &self.buf {
            Some(buf) => &buf[self.start as usize..self.end as usize],
            None => &[],
        }
    }

    /// The entries as an owned vector: moved out if no other run shares them, else cloned.
    pub fn into_vec(self) -> Vec<Entry> {
        let Entries { buf, start, end } = self;
        let (start, end) = (start as usize, end as usize);
        let Some(mut buf) = buf else {
            return Vec::new();
        };
        match Arc::get_mut(&mut buf) {
            // Unshared: the entries are moved out, placeholders left behind.
            Some(entries) => entries[start..end]
                .iter_mut()
                .map(|e| std::mem::replace(e, Entry::placeholder()))
                .collect(),
            None => buf[start..end].to_vec(),
        }
    }

    /// The entries at `range` (positions within this run), sharing the buffer.
    pub(crate) fn slice(&self, range: Range<usize>) -> Entries {
        assert!(
            range.start <= range.end && range.end <= self.len(),
            "run slice {range:?} out of bounds (length {})",
            self.len()
        );
        if range.is_empty() {
            return Entries::new();
        }
        Entries {
            buf: self.buf.clone(),
            start: self.start + position(range.start),
            end: self.start + position(range.end),
        }
    }

    /// The same entries as a witness keeps them: application payloads dropped, terms, indices,
    /// kinds and configurations kept. Shares this run when there is no payload to drop.
    pub(crate) fn without_payloads(&self) -> Entries {
        let payload = |e: &Entry| e.kind == EntryKind::Normal && !e.data.is_empty();
        if !self.iter().any(payload) {
            return self.clone();
        }
        self.iter()
            .map(|e| Entry {
                data: if payload(e) {
                    Bytes::new()
                } else {
                    e.data.clone()
                },
                ..*e
            })
            .collect()
    }

    /// Keeps the first `len` entries.
    pub(crate) fn truncate(&mut self, len: usize) {
        if len < self.len() {
            self.end = self.start + position(len);
        }
    }

    /// Drops the first `n` entries.
    pub(crate) fn advance(&mut self, n: usize) {
        self.start = self
            .start
            .saturating_add(position(n.min(self.len())))
            .min(self.end);
    }
}

impl Deref for Entries {
    type Target = [Entry];

    fn deref(&self) -> &[Entry] {
        self.as_slice()
    }
}

impl From<Vec<Entry>> for Entries {
    fn from(vec: Vec<Entry>) -> Self {
        Entries::whole(vec.into())
    }
}

impl FromIterator<Entry> for Entries {
    fn from_iter<I: IntoIterator<Item = Entry>>(iter: I) -> Self {
        Entries::whole(iter.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a Entries {
    type Item = &'a Entry;
    type IntoIter = std::slice::Iter<'a, Entry>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

/// By value, the entries are moved out if no other run shares them, else cloned (see
/// [`Entries::into_vec`]).
impl IntoIterator for Entries {
    type Item = Entry;
    type IntoIter = std::vec::IntoIter<Entry>;

    fn into_iter(self) -> Self::IntoIter {
        self.into_vec().into_iter()
    }
}

impl PartialEq for Entries {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Entries {}

impl std::hash::Hash for Entries {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl std::fmt::Debug for Entries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// Encoded exactly as a `Vec<Entry>`.
impl Serialize for Entries {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.as_slice().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<Entry>::deserialize(deserializer).map(Entries::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{EntryKind, Index};
    use bytes::Bytes;

    fn run(indexes: Range<Index>) -> Entries {
        indexes
            .map(|index| Entry {
                term: 1,
                index,
                kind: EntryKind::Normal,
                data: Bytes::new(),
            })
            .collect()
    }

    fn indexes(entries: &[Entry]) -> Vec<Index> {
        entries.iter().map(|e| e.index).collect()
    }

    #[test]
    fn slices_share_the_buffer_and_cut_only_the_view() {
        let a = run(1..6);
        let mut b = a.slice(1..4);
        assert_eq!(indexes(&b), vec![2, 3, 4]);
        assert!(std::ptr::eq(&a[1], &b[0]), "shared, not cloned");
        b.truncate(2);
        b.advance(1);
        assert_eq!(indexes(&b), vec![3]);
        assert_eq!(
            indexes(&a),
            vec![1, 2, 3, 4, 5],
            "the other run is unchanged"
        );
        assert!(a.slice(2..2).is_empty());
    }

    #[test]
    fn one_entry_and_fallible_runs_are_whole_runs() {
        let one = Entries::one(run(7..8)[0].clone());
        assert_eq!(indexes(&one), vec![7]);
        let mut next = 1;
        let made = Entries::try_from_fn(3, || -> Result<Entry, ()> {
            next += 1;
            Ok(run(next - 1..next)[0].clone())
        });
        assert_eq!(indexes(&made.expect("no failure")), vec![1, 2, 3]);
        let mut calls = 0;
        let failed = Entries::try_from_fn(5, || {
            calls += 1;
            if calls == 2 {
                Err("bad")
            } else {
                Ok(run(1..2)[0].clone())
            }
        });
        assert_eq!(failed.err(), Some("bad"));
        assert_eq!(calls, 2, "nothing is made after the first failure");
        assert!(
            Entries::try_from_fn(0, || -> Result<Entry, ()> { unreachable!() })
                .expect("empty")
                .is_empty()
        );
    }

    #[test]
    fn into_vec_moves_or_clones_the_run_only() {
        let a = run(1..6);
        let mid = a.slice(1..4);
        let cloned = mid.clone().into_vec();
        assert_eq!(indexes(&cloned), vec![2, 3, 4]);
        assert_eq!(
            indexes(&a),
            vec![1, 2, 3, 4, 5],
            "shared: cloned, left alone"
        );
        drop(a);
        let moved = mid.into_vec();
        assert_eq!(
            indexes(&moved),
            vec![2, 3, 4],
            "no longer shared: moved out"
        );
        assert!(Entries::new().into_vec().is_empty());
    }

    #[test]
    fn equality_and_encoding_are_those_of_the_entries() {
        let a = run(1..4);
        let b: Entries = run(0..4).slice(1..4);
        assert_eq!(a, b);
        let vec: Vec<Entry> = a.as_slice().to_vec();
        assert_eq!(
            postcard::to_allocvec(&a).ok(),
            postcard::to_allocvec(&vec).ok()
        );
        let back: Entries = postcard::from_bytes(&postcard::to_allocvec(&vec).unwrap()).unwrap();
        assert_eq!(back, a);
    }
}
