//! The state machine: an ordered map changed by committed commands, with the client sessions
//! that make retried requests take effect once.

use crate::command::{Command, DecodeError, Op, RequestId};
use crate::session::{Seen, Session, Sessions, DEFAULT_MAX_SESSIONS};
use sansraft::{Entry, EntryKind, Index};
use serde::{Deserialize, Serialize};
use std::ops::{Bound, RangeBounds};

/// The result of one operation, as answered to its client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Output<V> {
    /// A put set its key.
    Written,
    /// A get read this value (`None`: the key was absent).
    Value(Option<V>),
    /// A delete ran; whether the key was there.
    Deleted(bool),
    /// A compare-and-swap ran; whether the value matched and was replaced.
    Swapped(bool),
}

/// What applying a command did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied<V> {
    /// Applied now.
    Fresh(Output<V>),
    /// A retry of the client's latest request: not applied again; the first result, and the
    /// index of the entry that applied it.
    Duplicate(Output<V>, Index),
    /// A late copy of a request older than the client's latest: no effect, and its result is
    /// no longer kept.
    Stale,
}

/// Why a committed entry was not applied as a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyError<E = DecodeError> {
    /// The entry is not above the last one applied: entries apply in log order, once.
    OutOfOrder {
        /// The entry's index.
        index: Index,
        /// The index last applied.
        applied: Index,
    },
    /// A normal entry whose bytes are not a command. Every replica skips it alike (it still
    /// counts as applied).
    Malformed(E),
}

impl<E: std::fmt::Display> std::fmt::Display for ApplyError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApplyError::OutOfOrder { index, applied } => {
                write!(f, "entry {index} applied after entry {applied}")
            }
            ApplyError::Malformed(e) => write!(f, "committed entry is not a command: {e}"),
        }
    }
}

impl<E: std::error::Error> std::error::Error for ApplyError<E> {}

/// A key-value map replicated by applying committed log entries, with client sessions.
///
/// Every replica that applies the same entries in order holds the same state, and answers
/// every request the same way. Keys are kept in order (`K: Ord`), which [`KvMachine::scan`]
/// uses; nothing depends on a hash order or a clock.
///
/// The map is persistent ([`imbl::OrdMap`]): cloning a machine shares the map's nodes, so an
/// embedder can take a snapshot of millions of keys in O(1) on its node loop and encode the
/// clone ([`KvMachine::snapshot`]) on another thread while the original goes on applying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvMachine<K: Ord + Clone, V: Clone> {
    pub(crate) data: imbl::OrdMap<K, V>,
    pub(crate) sessions: Sessions<V>,
    /// The index of the last entry applied (or of the snapshot restored).
    pub(crate) applied: Index,
}

impl<K: Ord + Clone, V: Clone> Default for KvMachine<K, V> {
    fn default() -> Self {
        KvMachine::new(DEFAULT_MAX_SESSIONS)
    }
}

impl<K: Ord + Clone, V: Clone> KvMachine<K, V> {
    /// An empty machine keeping at most `max_sessions` client sessions (at least one). Every
    /// replica of a cluster must use the same bound, or they would evict differently.
    pub fn new(max_sessions: usize) -> Self {
        KvMachine {
            data: imbl::OrdMap::new(),
            sessions: Sessions::new(max_sessions),
            applied: 0,
        }
    }

    /// The index of the last entry applied (or of the snapshot restored).
    pub fn applied(&self) -> Index {
        self.applied
    }

    /// The value of `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.data.get(key)
    }

    /// At most `limit` pairs of `range`, in key order.
    pub fn scan<R: RangeBounds<K>>(&self, range: R, limit: usize) -> Vec<(&K, &V)> {
        self.data.range(range).take(limit).collect()
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The number of client sessions kept.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// The most client sessions kept.
    pub fn max_sessions(&self) -> usize {
        self.sessions.max()
    }

    /// The client sessions, in client order.
    pub fn session_records(&self) -> impl Iterator<Item = &Session<V>> {
        self.sessions.iter()
    }

    /// The whole map, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.data.iter()
    }

    /// Counts `index` as applied, after checking it comes next.
    fn advance(&mut self, index: Index) -> Result<(), (Index, Index)> {
        if index <= self.applied {
            return Err((index, self.applied));
        }
        self.applied = index;
        Ok(())
    }
}

impl<V: Clone> KvMachine<String, V> {
    /// At most `limit` pairs whose key starts with `prefix` and comes after `after` (if
    /// given), in key order: a page of a prefix scan, whose next page starts after its last key.
    pub fn scan_prefix(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Vec<(&String, &V)> {
        let start = match after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        self.data
            .range::<_, str>((start, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .collect()
    }
}

impl<K: Ord + Clone, V: Clone + PartialEq> KvMachine<K, V> {
    /// Applies one committed entry in the format of [`Command::encode`]. `Ok(None)` for an
    /// entry that carries no command (a new leader's empty entry, a membership change).
    pub fn apply(&mut self, entry: &Entry) -> Result<Option<Applied<V>>, ApplyError>
    where
        K: for<'de> Deserialize<'de>,
        V: for<'de> Deserialize<'de>,
    {
        self.apply_with(entry, Command::decode)
    }

    /// [`KvMachine::apply`] for commands in another format: `decode` turns a normal entry's
    /// bytes into a command.
    pub fn apply_with<E>(
        &mut self,
        entry: &Entry,
        decode: impl FnOnce(&[u8]) -> Result<Command<K, V>, E>,
    ) -> Result<Option<Applied<V>>, ApplyError<E>> {
        self.advance(entry.index)
            .map_err(|(index, applied)| ApplyError::OutOfOrder { index, applied })?;
        if entry.kind != EntryKind::Normal {
            return Ok(None);
        }
        let command = decode(&entry.data).map_err(ApplyError::Malformed)?;
        Ok(Some(self.execute(entry.index, command)))
    }

    /// Applies `command` as the entry at `index` does (§6.3: a request already applied is
    /// answered from its session, not applied again).
    fn execute(&mut self, index: Index, Command { request, op }: Command<K, V>) -> Applied<V> {
        let Some(RequestId { client, seq }) = request else {
            return Applied::Fresh(self.run(op));
        };
        match self.sessions.check(client, seq) {
            Seen::Latest(output, at) => return Applied::Duplicate(output.clone(), at),
            Seen::Older => return Applied::Stale,
            Seen::New => {}
        }
        let output = self.run(op);
        self.sessions.record(Session {
            client,
            seq,
            index,
            output: output.clone(),
        });
        Applied::Fresh(output)
    }

    fn run(&mut self, op: Op<K, V>) -> Output<V> {
        match op {
            Op::Put { key, value } => {
                self.data.insert(key, value);
                Output::Written
            }
            Op::Get { key } => Output::Value(self.data.get(&key).cloned()),
            Op::Delete { key } => Output::Deleted(self.data.remove(&key).is_some()),
            Op::Cas { key, expected, new } => {
                let swapped = self.data.get(&key) == expected.as_ref();
                if swapped {
                    self.data.insert(key, new);
                }
                Output::Swapped(swapped)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{command, entry};

    /// The glob import's `Op`, with the types of these tests.
    type Op = crate::command::Op<String, String>;

    #[test]
    fn put_get_delete_and_cas() {
        let mut kv = KvMachine::<String, String>::default();
        let cas = |expected: Option<&str>, new: &str| Op::Cas {
            key: "k".into(),
            expected: expected.map(Into::into),
            new: new.into(),
        };
        let ops = [
            (
                Op::Put {
                    key: "k".into(),
                    value: "a".into(),
                },
                Output::Written,
            ),
            (cas(Some("b"), "c"), Output::Swapped(false)),
            (cas(Some("a"), "c"), Output::Swapped(true)),
            (Op::Get { key: "k".into() }, Output::Value(Some("c".into()))),
            (Op::Delete { key: "k".into() }, Output::Deleted(true)),
            (Op::Delete { key: "k".into() }, Output::Deleted(false)),
            (cas(None, "d"), Output::Swapped(true)),
        ];
        for (seq, (op, expected)) in ops.into_iter().enumerate() {
            let index = seq as u64 + 1;
            let applied = kv.apply(&entry(index, &command(Some((7, index)), op)));
            assert_eq!(
                applied,
                Ok(Some(Applied::Fresh(expected))),
                "request {index}"
            );
        }
        assert_eq!(kv.get("k").map(String::as_str), Some("d"));
        assert_eq!(kv.applied(), 7);
    }

    #[test]
    fn a_retry_applies_once_and_gets_the_first_result() {
        let mut kv = KvMachine::<String, String>::default();
        let delete = command(Some((1, 1)), Op::Delete { key: "k".into() });
        let put = |client, seq, v: &str| {
            let op = Op::Put {
                key: "k".into(),
                value: v.into(),
            };
            command(Some((client, seq)), op)
        };
        kv.apply(&entry(1, &put(2, 1, "v"))).unwrap();
        assert_eq!(
            kv.apply(&entry(2, &delete)),
            Ok(Some(Applied::Fresh(Output::Deleted(true))))
        );
        kv.apply(&entry(3, &put(2, 2, "w"))).unwrap();
        // The retry finds the key set again, but must not remove it.
        assert_eq!(
            kv.apply(&entry(4, &delete)),
            Ok(Some(Applied::Duplicate(Output::Deleted(true), 2)))
        );
        assert_eq!(kv.get("k").map(String::as_str), Some("w"));
        // An older request of client 2 arriving late has no effect.
        assert_eq!(
            kv.apply(&entry(5, &put(2, 1, "old"))),
            Ok(Some(Applied::Stale))
        );
        assert_eq!(kv.get("k").map(String::as_str), Some("w"));
        // Without a request id, a command applies every time.
        let again = command(None, Op::Delete { key: "k".into() });
        kv.apply(&entry(6, &again)).unwrap();
        assert_eq!(
            kv.apply(&entry(7, &again)),
            Ok(Some(Applied::Fresh(Output::Deleted(false))))
        );
    }

    #[test]
    fn other_entries_are_skipped_and_garbage_and_reordering_refused() {
        let mut kv = KvMachine::<String, String>::default();
        let empty = Entry {
            term: 1,
            index: 1,
            kind: EntryKind::Empty,
            data: Default::default(),
        };
        assert_eq!(kv.apply(&empty), Ok(None));
        let garbage = Entry {
            index: 2,
            kind: EntryKind::Normal,
            data: vec![0xff; 3].into(),
            ..empty.clone()
        };
        assert_eq!(
            kv.apply(&garbage),
            Err(ApplyError::Malformed(DecodeError::BadMagic(0xff)))
        );
        assert_eq!(kv.applied(), 2);
        assert_eq!(
            kv.apply(&empty),
            Err(ApplyError::OutOfOrder {
                index: 1,
                applied: 2
            })
        );
    }

    #[test]
    fn sessions_are_bounded() {
        let mut kv = KvMachine::<String, String>::new(3);
        for client in 1..=10 {
            let op = Op::Put {
                key: format!("k{client}"),
                value: "v".into(),
            };
            kv.apply(&entry(client, &command(Some((client, 1)), op)))
                .unwrap();
        }
        assert_eq!(kv.sessions(), 3);
        let clients: Vec<u64> = kv.session_records().map(|s| s.client).collect();
        assert_eq!(clients, [8, 9, 10]);
    }

    #[test]
    fn scans_are_bounded_and_ordered() {
        let mut kv = KvMachine::<String, String>::default();
        for (i, key) in ["a1", "b1", "a2", "a3", "ab"].into_iter().enumerate() {
            let op = Op::Put {
                key: key.into(),
                value: i.to_string(),
            };
            kv.apply(&entry(i as u64 + 1, &command(None, op))).unwrap();
        }
        let keys = |pairs: Vec<(&String, &String)>| -> Vec<String> {
            pairs.into_iter().map(|(k, _)| k.clone()).collect()
        };
        assert_eq!(keys(kv.scan_prefix("a", None, 3)), ["a1", "a2", "a3"]);
        assert_eq!(
            keys(kv.scan_prefix("a", None, 10)),
            ["a1", "a2", "a3", "ab"]
        );
        assert_eq!(keys(kv.scan_prefix("c", None, 10)), Vec::<String>::new());
        assert_eq!(keys(kv.scan_prefix("a", Some("a2"), 10)), ["a3", "ab"]);
        assert_eq!(keys(kv.scan_prefix("a", Some(""), 1)), ["a1"]);
        assert_eq!(keys(kv.scan("a3".to_owned().., 2)), ["a3", "ab"]);
    }
}
