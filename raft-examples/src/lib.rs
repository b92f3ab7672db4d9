//! Pieces every embedding needs, shared by the examples: an in-memory log store that applies
//! [`raft_core::Write`]s the way a disk must, and a tiny key-value state machine.
//!
//! Run the examples with `cargo run -p raft-examples --example tokio_cluster` and
//! `cargo run -p raft-examples --example plain_loop`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use bytes::Bytes;
use raft_core::{DurableState, Entry, EntryKind, Index, Membership, Write};
use std::collections::BTreeMap;

/// What a node keeps on "disk". A real store writes the same things to a file or a database,
/// in the order the writes were issued, and syncs before acknowledging.
#[derive(Clone, Debug)]
pub struct MemStore {
    state: DurableState,
}

impl MemStore {
    /// A fresh member of a new cluster with these voters.
    pub fn bootstrap(voters: impl IntoIterator<Item = u64>) -> MemStore {
        MemStore {
            state: DurableState::bootstrap(Membership::with_voters(voters)),
        }
    }

    /// Carries out one write: replace the hard state if given, drop every entry at or after the
    /// first new entry's index, append the new entries.
    pub fn apply_write(&mut self, write: &Write) {
        if let Some(hard_state) = write.hard_state {
            self.state.hard_state = hard_state;
        }
        if let Some(first) = write.entries.first() {
            let keep = first.index.saturating_sub(self.state.snapshot.index + 1) as usize;
            self.state.entries.truncate(keep);
            self.state.entries.extend(write.entries.iter().cloned());
        }
    }

    /// Records the application's progress (a real store keeps it beside its state machine).
    pub fn set_applied(&mut self, applied: Index) {
        self.state.applied = applied;
    }

    /// What a restarted node is rebuilt from.
    pub fn durable_state(&self) -> DurableState {
        self.state.clone()
    }
}

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
    use raft_core::{HardState, WriteToken};

    fn entry(index: Index, term: u64, data: &str) -> Entry {
        Entry {
            term,
            index,
            kind: EntryKind::Normal,
            data: Bytes::copy_from_slice(data.as_bytes()),
        }
    }

    #[test]
    fn a_write_truncates_the_conflicting_suffix_then_appends() {
        let mut store = MemStore::bootstrap([1, 2, 3]);
        let token = WriteToken {
            incarnation: 0,
            seq: 1,
        };
        let first = Write {
            token,
            install: None,
            hard_state: Some(HardState {
                term: 1,
                vote: Some(1),
                commit: 0,
            }),
            entries: vec![entry(1, 1, "a"), entry(2, 1, "b"), entry(3, 1, "c")].into(),
        };
        store.apply_write(&first);
        let second = Write {
            token: WriteToken { seq: 2, ..token },
            install: None,
            hard_state: None,
            entries: vec![entry(2, 2, "x")].into(),
        };
        store.apply_write(&second);
        let state = store.durable_state();
        let terms: Vec<(Index, u64)> = state.entries.iter().map(|e| (e.index, e.term)).collect();
        assert_eq!(terms, vec![(1, 1), (2, 2)]);
        assert_eq!(state.hard_state.vote, Some(1));
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
