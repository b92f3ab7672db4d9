//! [`Entries`]: a shared, immutable run of consecutive log entries.
//!
//! Writes, appends and applies hand out runs of the log. A run shares its buffer, so cloning
//! it or taking a part of it costs one reference-count update, whatever its length: one batch
//! of proposals sits in the log, in the write that persists it, in the append to every
//! follower and in the apply action without any entry being cloned.

use crate::types::Entry;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::ops::{Deref, Range};
use std::sync::Arc;

/// Consecutive log entries, shared: it dereferences to `[Entry]` and clones in O(1). Build one
/// from a `Vec<Entry>` with `into()`; get an owned vector back with [`Entries::into_vec`]
/// (which moves the entries if nothing else shares them).
#[derive(Clone, Default)]
pub struct Entries {
    /// `None` for an empty run, so that empty runs never allocate.
    buf: Option<Arc<Vec<Entry>>>,
    /// The run is `buf[start..end]`.
    start: usize,
    end: usize,
}

impl Entries {
    /// The empty run.
    pub fn new() -> Self {
        Entries::default()
    }

    /// The number of entries (without going through the shared buffer).
    #[inline]
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// True if the run holds no entry.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// The entries, as a slice.
    pub fn as_slice(&self) -> &[Entry] {
        match &self.buf {
            Some(buf) => &buf[self.start..self.end],
            None => &[],
        }
    }

    /// The entries as an owned vector: moved out if no other run shares them, else cloned.
    pub fn into_vec(self) -> Vec<Entry> {
        let Entries { buf, start, end } = self;
        let Some(buf) = buf else {
            return Vec::new();
        };
        match Arc::try_unwrap(buf) {
            Ok(mut vec) => {
                vec.truncate(end);
                vec.drain(..start);
                vec
            }
            Err(shared) => shared[start..end].to_vec(),
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
            start: self.start + range.start,
            end: self.start + range.end,
        }
    }

    /// Appends `more` in place if nothing else shares this run's buffer (nothing can observe
    /// the change then); returns false, changing nothing, if something does.
    pub(crate) fn try_extend(&mut self, more: &[Entry]) -> bool {
        // A plain load first: most runs are shared, and `get_mut` pays an atomic exchange.
        let Some(buf) = self.buf.as_mut().filter(|buf| Arc::strong_count(buf) == 1) else {
            return false;
        };
        let Some(vec) = Arc::get_mut(buf) else {
            return false;
        };
        // Entries past the view were cut off by `truncate`: unique, so nobody sees them.
        vec.truncate(self.end);
        vec.extend_from_slice(more);
        self.end = vec.len();
        true
    }

    /// Keeps the first `len` entries.
    pub(crate) fn truncate(&mut self, len: usize) {
        if len < self.len() {
            self.end = self.start + len;
        }
    }

    /// Drops the first `n` entries.
    pub(crate) fn advance(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
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
        if vec.is_empty() {
            return Entries::new();
        }
        let end = vec.len();
        Entries {
            buf: Some(Arc::new(vec)),
            start: 0,
            end,
        }
    }
}

impl FromIterator<Entry> for Entries {
    fn from_iter<I: IntoIterator<Item = Entry>>(iter: I) -> Self {
        Vec::from_iter(iter).into()
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
    fn only_an_unshared_run_grows_in_place() {
        let mut a = run(1..3);
        let shared = a.clone();
        assert!(!a.try_extend(&run(3..4)), "shared: left alone");
        drop(shared);
        a.truncate(1);
        assert!(a.try_extend(&run(2..4)));
        assert_eq!(indexes(&a), vec![1, 2, 3], "the cut-off tail is replaced");
        assert!(!Entries::new().try_extend(&run(1..2)), "no buffer to grow");
    }

    #[test]
    fn into_vec_moves_or_clones_the_run_only() {
        let a = run(1..6);
        let buffer = a.as_ptr();
        let mid = a.slice(1..4);
        let cloned = mid.clone().into_vec();
        assert_eq!(indexes(&cloned), vec![2, 3, 4]);
        assert_ne!(cloned.as_ptr(), buffer, "shared: cloned");
        drop(a);
        let moved = mid.into_vec();
        assert_eq!(indexes(&moved), vec![2, 3, 4]);
        assert_eq!(moved.as_ptr(), buffer, "no longer shared: moved");
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
