//! The replicated state machine: a map from string keys to byte values, changed by the commands
//! in committed log entries, and encoded whole as a snapshot.

use bytes::Bytes;
use sansraft::{Entry, EntryKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A client command, as carried in a log entry (postcard-encoded).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Command {
    /// Set `key` to `value`.
    Put { key: String, value: Bytes },
    /// Remove `key` (a no-op if absent).
    Delete { key: String },
}

impl Command {
    pub(crate) fn encode(&self) -> Bytes {
        // Serialising into a Vec fails only if a Serialize impl fails; derived ones cannot.
        Bytes::from(postcard::to_allocvec(self).expect("postcard encodes a Command"))
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Command> {
        postcard::from_bytes(bytes).ok()
    }
}

/// Why snapshot bytes could not be restored.
#[derive(Debug)]
pub(crate) struct BadSnapshot(postcard::Error);

impl std::fmt::Display for BadSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "snapshot does not decode as a key-value map: {}", self.0)
    }
}

impl std::error::Error for BadSnapshot {}

/// The key-value map. Every replica applies the same committed commands in the same order, so
/// every replica holds the same map at the same applied index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Kv {
    map: BTreeMap<String, Bytes>,
    /// Entries whose command did not decode (skipped on every replica alike).
    pub(crate) undecodable: u64,
}

impl Kv {
    /// Applies one committed entry. Only normal entries carry commands.
    pub(crate) fn apply(&mut self, entry: &Entry) {
        if entry.kind != EntryKind::Normal {
            return;
        }
        match Command::decode(&entry.data) {
            Some(Command::Put { key, value }) => {
                self.map.insert(key, value);
            }
            Some(Command::Delete { key }) => {
                self.map.remove(&key);
            }
            None => self.undecodable += 1,
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Bytes> {
        self.map.get(key)
    }

    /// The pairs whose key starts with `prefix`, in key order, at most `limit` of them.
    pub(crate) fn scan(&self, prefix: &str, limit: usize) -> Vec<(&str, &Bytes)> {
        self.map
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.as_str(), v))
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The whole map, as snapshot bytes.
    pub(crate) fn encode(&self) -> Bytes {
        Bytes::from(postcard::to_allocvec(&self.map).expect("postcard encodes a map"))
    }

    /// The map a snapshot holds.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Kv, BadSnapshot> {
        let map = postcard::from_bytes(bytes).map_err(BadSnapshot)?;
        Ok(Kv {
            map,
            undecodable: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, data: Bytes) -> Entry {
        Entry {
            term: 1,
            index,
            kind: EntryKind::Normal,
            data,
        }
    }

    #[test]
    fn commands_apply_in_order_and_garbage_is_skipped() {
        let mut kv = Kv::default();
        let put = |k: &str, v: &'static str| Command::Put {
            key: k.into(),
            value: Bytes::from_static(v.as_bytes()),
        };
        kv.apply(&entry(1, put("a", "1").encode()));
        kv.apply(&entry(2, put("b", "2").encode()));
        kv.apply(&entry(3, Bytes::from_static(b"\xff\xff\xff")));
        kv.apply(&entry(4, Command::Delete { key: "a".into() }.encode()));
        assert_eq!(kv.get("a"), None);
        assert_eq!(kv.get("b").map(|v| &v[..]), Some(&b"2"[..]));
        assert_eq!(kv.undecodable, 1);
    }

    #[test]
    fn a_snapshot_restores_the_same_map() {
        let mut kv = Kv::default();
        for i in 0..100u64 {
            let cmd = Command::Put {
                key: format!("k{i:03}"),
                value: Bytes::from(i.to_string()),
            };
            kv.apply(&entry(i + 1, cmd.encode()));
        }
        let restored = Kv::decode(&kv.encode()).expect("own snapshot decodes");
        assert_eq!(restored, kv);
        assert_eq!(restored.scan("k09", 100).len(), 10);
        assert!(Kv::decode(b"\xff\xff\xff\xff\xff").is_err());
    }
}
