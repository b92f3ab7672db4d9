//! The replicated service: a key-value store with put, get and compare-and-swap, applied from
//! committed log entries, with per-client deduplication so that retried requests take effect
//! exactly once.
//!
//! Commands use a fixed 42-byte little-endian layout:
//! `client u64 | seq u64 | tag u8 | key u64 | a u64 | b u64 | flag u8`, where put stores `a`,
//! and compare-and-swap expects `a` (if `flag` is 1, else expects the key absent) and stores `b`.

use crate::linearizability::{Key, KvOp, KvOutput, Value};
use bytes::Bytes;
use sansraft::{Entry, EntryKind};
use std::collections::BTreeMap;

/// A request as it travels in a log entry: who sent it, its per-client sequence number (the
/// same on every retry) and the operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Command {
    pub(crate) client: u64,
    pub(crate) seq: u64,
    pub(crate) op: KvOp,
}

const COMMAND_LEN: usize = 42;

impl Command {
    pub(crate) fn encode(&self) -> Bytes {
        let (tag, key, a, b, flag) = match self.op {
            KvOp::Put { key, value } => (0u8, key, value, 0, false),
            KvOp::Get { key } => (1, key, 0, 0, false),
            KvOp::Cas { key, expected, new } => {
                (2, key, expected.unwrap_or(0), new, expected.is_some())
            }
        };
        let mut buf = Vec::with_capacity(COMMAND_LEN);
        buf.extend_from_slice(&self.client.to_le_bytes());
        buf.extend_from_slice(&self.seq.to_le_bytes());
        buf.push(tag);
        buf.extend_from_slice(&key.to_le_bytes());
        buf.extend_from_slice(&a.to_le_bytes());
        buf.extend_from_slice(&b.to_le_bytes());
        buf.push(u8::from(flag));
        Bytes::from(buf)
    }

    pub(crate) fn decode(data: &[u8]) -> Option<Command> {
        if data.len() != COMMAND_LEN {
            return None;
        }
        let word = |at: usize| u64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"));
        let (client, seq, tag, key, a, b, flag) = (
            word(0),
            word(8),
            data[16],
            word(17),
            word(25),
            word(33),
            data[41],
        );
        let op = match (tag, flag) {
            (0, 0) => KvOp::Put { key, value: a },
            (1, 0) => KvOp::Get { key },
            (2, 0 | 1) => KvOp::Cas {
                key,
                expected: (flag == 1).then_some(a),
                new: b,
            },
            _ => return None,
        };
        Some(Command { client, seq, op })
    }
}

/// The outcome of applying one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Not a client command (an empty or membership entry).
    Skipped,
    /// Applied for the first time.
    Fresh(KvOutput),
    /// A retry of the client's latest request: no effect, the first outcome again.
    Duplicate(KvOutput),
    /// A late copy of a request older than the client's latest: no effect.
    Stale,
}

/// The key-value state machine of one node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KvStore {
    data: BTreeMap<Key, Value>,
    /// Per client: the latest sequence number applied and its outcome.
    sessions: BTreeMap<u64, (u64, KvOutput)>,
}

impl KvStore {
    /// Applies one committed entry.
    pub(crate) fn apply(&mut self, entry: &Entry) -> Applied {
        if entry.kind != EntryKind::Normal {
            return Applied::Skipped;
        }
        let Some(cmd) = Command::decode(&entry.data) else {
            return Applied::Skipped;
        };
        match self.sessions.get(&cmd.client) {
            Some(&(seq, out)) if seq == cmd.seq => return Applied::Duplicate(out),
            Some(&(seq, _)) if seq > cmd.seq => return Applied::Stale,
            _ => {}
        }
        let out = self.execute(cmd.op);
        self.sessions.insert(cmd.client, (cmd.seq, out));
        Applied::Fresh(out)
    }

    /// The state machine as snapshot bytes: the data and the client sessions (so retries stay
    /// exactly-once across an install), little-endian, in key order.
    pub(crate) fn encode(&self) -> Bytes {
        let mut out = Vec::with_capacity(16 + self.data.len() * 16 + self.sessions.len() * 26);
        out.extend_from_slice(&(self.data.len() as u64).to_le_bytes());
        for (k, v) in &self.data {
            out.extend_from_slice(&k.to_le_bytes());
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(self.sessions.len() as u64).to_le_bytes());
        for (client, (seq, output)) in &self.sessions {
            out.extend_from_slice(&client.to_le_bytes());
            out.extend_from_slice(&seq.to_le_bytes());
            let (tag, value) = match *output {
                KvOutput::Written => (0u8, 0),
                KvOutput::Read(None) => (1, 0),
                KvOutput::Read(Some(v)) => (2, v),
                KvOutput::CasResult { swapped: false } => (3, 0),
                KvOutput::CasResult { swapped: true } => (4, 0),
            };
            out.push(tag);
            out.extend_from_slice(&value.to_le_bytes());
        }
        Bytes::from(out)
    }

    /// Restores a state machine from [`KvStore::encode`]'s bytes; `None` if they are corrupt.
    pub(crate) fn decode(mut bytes: &[u8]) -> Option<KvStore> {
        fn word(bytes: &mut &[u8]) -> Option<u64> {
            let (w, rest) = bytes.split_first_chunk::<8>()?;
            *bytes = rest;
            Some(u64::from_le_bytes(*w))
        }
        let mut kv = KvStore::default();
        for _ in 0..word(&mut bytes)? {
            let k = word(&mut bytes)?;
            kv.data.insert(k, word(&mut bytes)?);
        }
        for _ in 0..word(&mut bytes)? {
            let client = word(&mut bytes)?;
            let seq = word(&mut bytes)?;
            let (&tag, rest) = bytes.split_first()?;
            bytes = rest;
            let value = word(&mut bytes)?;
            let output = match tag {
                0 => KvOutput::Written,
                1 => KvOutput::Read(None),
                2 => KvOutput::Read(Some(value)),
                3 => KvOutput::CasResult { swapped: false },
                4 => KvOutput::CasResult { swapped: true },
                _ => return None,
            };
            kv.sessions.insert(client, (seq, output));
        }
        bytes.is_empty().then_some(kv)
    }

    /// The value of `key` now (a read served outside the log).
    pub(crate) fn read(&self, key: Key) -> Option<Value> {
        self.data.get(&key).copied()
    }

    fn execute(&mut self, op: KvOp) -> KvOutput {
        match op {
            KvOp::Put { key, value } => {
                self.data.insert(key, value);
                KvOutput::Written
            }
            KvOp::Get { key } => KvOutput::Read(self.data.get(&key).copied()),
            KvOp::Cas { key, expected, new } => {
                let swapped = self.data.get(&key).copied() == expected;
                if swapped {
                    self.data.insert(key, new);
                }
                KvOutput::CasResult { swapped }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(cmd: Command) -> Entry {
        Entry {
            term: 1,
            index: 1,
            kind: EntryKind::Normal,
            data: cmd.encode(),
        }
    }

    #[test]
    fn commands_round_trip() {
        for op in [
            KvOp::Put { key: 3, value: 9 },
            KvOp::Get { key: 4 },
            KvOp::Cas {
                key: 1,
                expected: None,
                new: 2,
            },
            KvOp::Cas {
                key: 1,
                expected: Some(0),
                new: 2,
            },
        ] {
            let cmd = Command {
                client: 7,
                seq: u64::MAX,
                op,
            };
            assert_eq!(Command::decode(&cmd.encode()), Some(cmd));
        }
        assert_eq!(Command::decode(b"short"), None);
    }

    #[test]
    fn snapshots_round_trip_data_and_sessions() {
        let mut kv = KvStore::default();
        for (seq, op) in [
            KvOp::Put { key: 3, value: 9 },
            KvOp::Get { key: 3 },
            KvOp::Get { key: 4 },
            KvOp::Cas {
                key: 3,
                expected: Some(9),
                new: 1,
            },
        ]
        .into_iter()
        .enumerate()
        {
            let cmd = Command {
                client: seq as u64 % 2,
                seq: seq as u64,
                op,
            };
            kv.apply(&entry(cmd));
        }
        let bytes = kv.encode();
        let back = KvStore::decode(&bytes).expect("valid snapshot");
        assert_eq!(back.encode(), bytes);
        assert_eq!(
            back.sessions, kv.sessions,
            "dedup tables survive a snapshot"
        );
        assert_eq!(KvStore::decode(&bytes[..bytes.len() - 1]), None);
    }

    #[test]
    fn retries_apply_exactly_once() {
        let mut kv = KvStore::default();
        let cas = |seq, expected, new| Command {
            client: 1,
            seq,
            op: KvOp::Cas {
                key: 0,
                expected,
                new,
            },
        };
        let first = entry(cas(1, None, 5));
        assert_eq!(
            kv.apply(&first),
            Applied::Fresh(KvOutput::CasResult { swapped: true })
        );
        assert_eq!(
            kv.apply(&first),
            Applied::Duplicate(KvOutput::CasResult { swapped: true })
        );
        assert_eq!(
            kv.apply(&entry(cas(2, Some(5), 6))),
            Applied::Fresh(KvOutput::CasResult { swapped: true })
        );
        assert_eq!(kv.apply(&first), Applied::Stale);
        let get = Command {
            client: 2,
            seq: 1,
            op: KvOp::Get { key: 0 },
        };
        assert_eq!(
            kv.apply(&entry(get)),
            Applied::Fresh(KvOutput::Read(Some(6)))
        );
    }
}
