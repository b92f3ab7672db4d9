//! Pieces every embedding needs, shared by the examples: an in-memory store that carries out
//! [`sansraft::Write`]s the way a disk must ([`MemStore`]), a tiny `set`-only state machine
//! ([`KvStore`]), a key-value state machine with client sessions and snapshots ([`kv`]), and a
//! replicated key-value server driven by plain threads ([`kv_threads`]).
//!
//! Run the examples with `cargo run -p sansraft-examples --example NAME` for `plain_loop`,
//! `tokio_cluster` and `kv_threads`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod kv;
pub mod kv_threads;
mod store;

pub use store::MemStore;

use bytes::Bytes;
use sansraft::{Entry, EntryKind, Index};
use std::collections::BTreeMap;

/// A key-value map driven by `set KEY VALUE` commands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvStore {
    map: BTreeMap<String, String>,
    applied: Index,
}

impl KvStore {
    /// Applies one committed entry; returns the index it was at.
    pub fn apply(&mut self, entry: &Entry) -> Index {
        if entry.kind == EntryKind::Normal {
            if let Some((key, value)) = parse_set(&entry.data) {
                self.map.insert(key.to_owned(), value.to_owned());
            }
        }
        self.applied = entry.index;
        entry.index
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True if no key is set.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The index of the last applied entry.
    pub fn applied(&self) -> Index {
        self.applied
    }
}

/// Encodes a `set` command.
pub fn set_command(key: &str, value: &str) -> Bytes {
    Bytes::from(format!("set {key} {value}"))
}

fn parse_set(data: &[u8]) -> Option<(&str, &str)> {
    let text = std::str::from_utf8(data).ok()?;
    let rest = text.strip_prefix("set ")?;
    rest.split_once(' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: Index, term: u64, data: &str) -> Entry {
        Entry {
            term,
            index,
            kind: EntryKind::Normal,
            data: Bytes::copy_from_slice(data.as_bytes()),
        }
    }

    #[test]
    fn kv_applies_set_commands_and_skips_others() {
        let mut kv = KvStore::default();
        kv.apply(&entry(1, 1, "set k v"));
        kv.apply(&entry(2, 1, "garbage"));
        assert_eq!(kv.get("k"), Some("v"));
        assert_eq!(kv.len(), 1);
        assert_eq!(kv.applied(), 2);
    }
}
