//! A key-value state machine for a replicated service: put, delete and compare-and-swap
//! commands tagged with a client session, so that a command retried after a lost answer is
//! applied once (thesis §6.3), and snapshots of the whole state for log compaction (§7).
//! Reads do not go through the log: they are served from [`KvMachine::get`] once a ReadIndex
//! read is ready.

use bytes::Bytes;
use sansraft::{Entry, EntryKind, Index};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A change to the map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: String,
        /// Its new value.
        value: String,
    },
    /// Remove `key`.
    Delete {
        /// The key.
        key: String,
    },
    /// Set `key` to `new` if its value is `expected` (`None`: if it is absent).
    Cas {
        /// The key.
        key: String,
        /// The value it must have.
        expected: Option<String>,
        /// Its new value.
        new: String,
    },
}

/// A command as it travels through the log: an [`Op`] and the request id that makes retries
/// safe. A client issues its requests one at a time, with `seq` growing by one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// The client's session id, unique in the cluster.
    pub client: u64,
    /// The request's number within the session.
    pub seq: u64,
    /// What to do.
    pub op: Op,
}

impl Command {
    /// The bytes to propose.
    pub fn encode(&self) -> Bytes {
        postcard::to_allocvec(self)
            .expect("encoding into a Vec cannot fail")
            .into()
    }

    /// Decodes proposed bytes; `None` if they are not a command.
    pub fn decode(bytes: &[u8]) -> Option<Command> {
        postcard::from_bytes(bytes).ok()
    }
}

/// What applying a command did, as answered to its client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The key was set.
    Put,
    /// The key was removed; whether it existed.
    Deleted(bool),
    /// Whether the compare-and-swap matched and set the key.
    Swapped(bool),
}

impl Outcome {
    /// Whether the command changed what it aimed at: always for a put; for a delete, whether
    /// the key existed; for a compare-and-swap, whether it matched.
    pub fn succeeded(&self) -> bool {
        match *self {
            Outcome::Put => true,
            Outcome::Deleted(done) | Outcome::Swapped(done) => done,
        }
    }
}

/// The last request a client had applied, and its outcome, to answer a retry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Session {
    seq: u64,
    outcome: Outcome,
}

/// The replicated state: the map and the client sessions. Every replica that applies the same
/// entries holds the same state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvMachine {
    map: BTreeMap<String, String>,
    sessions: BTreeMap<u64, Session>,
    /// The index of the last entry applied (or of the snapshot restored).
    applied: Index,
}

/// A committed entry of kind `Normal` whose bytes are not a [`Command`]. Every replica skips it
/// alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MalformedCommand;

/// Why snapshot bytes could not be restored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CorruptSnapshot;

impl KvMachine {
    /// Applies one committed entry. `Ok(None)` for entries that carry no command (a new
    /// leader's empty entry, a membership change).
    pub fn apply(&mut self, entry: &Entry) -> Result<Option<Outcome>, MalformedCommand> {
        assert!(
            entry.index > self.applied,
            "entries are applied in order, once (index {} after {})",
            entry.index,
            self.applied
        );
        self.applied = entry.index;
        if entry.kind != EntryKind::Normal {
            return Ok(None);
        }
        let command = Command::decode(&entry.data).ok_or(MalformedCommand)?;
        Ok(Some(self.execute(command)))
    }

    fn execute(&mut self, Command { client, seq, op }: Command) -> Outcome {
        // §6.3: a request already applied is answered from the session, not applied again.
        if let Some(session) = self.sessions.get(&client) {
            if seq <= session.seq {
                return session.outcome.clone();
            }
        }
        let outcome = match op {
            Op::Put { key, value } => {
                self.map.insert(key, value);
                Outcome::Put
            }
            Op::Delete { key } => Outcome::Deleted(self.map.remove(&key).is_some()),
            Op::Cas { key, expected, new } => {
                let matches = self.map.get(&key) == expected.as_ref();
                if matches {
                    self.map.insert(key, new);
                }
                Outcome::Swapped(matches)
            }
        };
        let session = Session {
            seq,
            outcome: outcome.clone(),
        };
        self.sessions.insert(client, session);
        outcome
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    /// The whole map.
    pub fn map(&self) -> &BTreeMap<String, String> {
        &self.map
    }

    /// The index of the last entry applied.
    pub fn applied(&self) -> Index {
        self.applied
    }

    /// The state as snapshot bytes, covering the log up to [`KvMachine::applied`].
    pub fn snapshot(&self) -> Bytes {
        postcard::to_allocvec(self)
            .expect("encoding into a Vec cannot fail")
            .into()
    }

    /// The state a snapshot holds. Empty bytes are the empty state of a new cluster.
    pub fn restore(bytes: &[u8]) -> Result<KvMachine, CorruptSnapshot> {
        if bytes.is_empty() {
            return Ok(KvMachine::default());
        }
        postcard::from_bytes(bytes).map_err(|_| CorruptSnapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: Index, command: &Command) -> Entry {
        Entry {
            term: 1,
            index,
            kind: EntryKind::Normal,
            data: command.encode(),
        }
    }

    fn command(client: u64, seq: u64, op: Op) -> Command {
        Command { client, seq, op }
    }

    fn put(key: &str, value: &str) -> Op {
        Op::Put {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn put_delete_and_cas() {
        let mut kv = KvMachine::default();
        let cas = |expected: Option<&str>, new: &str| Op::Cas {
            key: "k".into(),
            expected: expected.map(Into::into),
            new: new.into(),
        };
        let ops = [
            (put("k", "a"), Outcome::Put),
            (cas(Some("b"), "c"), Outcome::Swapped(false)),
            (cas(Some("a"), "c"), Outcome::Swapped(true)),
            (Op::Delete { key: "k".into() }, Outcome::Deleted(true)),
            (Op::Delete { key: "k".into() }, Outcome::Deleted(false)),
            (cas(None, "d"), Outcome::Swapped(true)),
        ];
        for (seq, (op, expected)) in ops.into_iter().enumerate() {
            let seq = seq as u64 + 1;
            let outcome = kv.apply(&entry(seq, &command(7, seq, op)));
            assert_eq!(outcome, Ok(Some(expected)), "request {seq}");
        }
        assert_eq!(kv.get("k"), Some("d"));
        assert_eq!(kv.applied(), 6);
    }

    #[test]
    fn a_retried_request_is_answered_from_its_session_and_not_applied_twice() {
        let mut kv = KvMachine::default();
        let delete = command(1, 1, Op::Delete { key: "k".into() });
        kv.apply(&entry(1, &command(2, 1, put("k", "v")))).unwrap();
        assert_eq!(
            kv.apply(&entry(2, &delete)),
            Ok(Some(Outcome::Deleted(true)))
        );
        kv.apply(&entry(3, &command(2, 2, put("k", "w")))).unwrap();
        // The retry of client 1's delete finds the key set again but must not remove it.
        assert_eq!(
            kv.apply(&entry(4, &delete)),
            Ok(Some(Outcome::Deleted(true)))
        );
        assert_eq!(kv.get("k"), Some("w"));
    }

    #[test]
    fn other_entries_are_skipped_and_garbage_is_refused() {
        let mut kv = KvMachine::default();
        let empty = Entry {
            term: 1,
            index: 1,
            kind: EntryKind::Empty,
            data: Bytes::new(),
        };
        assert_eq!(kv.apply(&empty), Ok(None));
        let garbage = Entry {
            index: 2,
            kind: EntryKind::Normal,
            data: Bytes::from_static(&[0xff; 3]),
            ..empty
        };
        assert_eq!(kv.apply(&garbage), Err(MalformedCommand));
        assert_eq!(kv.applied(), 2);
    }

    #[test]
    fn a_snapshot_restores_the_map_and_the_sessions() {
        let mut kv = KvMachine::default();
        kv.apply(&entry(1, &command(3, 1, put("k", "v")))).unwrap();
        let restored = KvMachine::restore(&kv.snapshot()).expect("a snapshot restores");
        assert_eq!(restored, kv);
        let mut again = restored;
        let retry = command(3, 1, put("k", "ignored"));
        assert_eq!(again.apply(&entry(2, &retry)), Ok(Some(Outcome::Put)));
        assert_eq!(again.get("k"), Some("v"));
        assert_eq!(KvMachine::restore(b"\xff\xff"), Err(CorruptSnapshot));
        assert_eq!(KvMachine::restore(b""), Ok(KvMachine::default()));
    }
}
