//! The replicated service: [`sansraft_kv`]'s key-value state machine over `u64` keys and values
//! (put, get and compare-and-swap, with per-client sessions so that retried requests take effect
//! exactly once), in the simulator's own frozen byte formats.
//!
//! The formats predate the crate and stay, because the bytes are part of every run: entry
//! hashes, snapshot sizes and chunk counts go into the trace hash, so another encoding would
//! change every sweep digest. Commands use a fixed 42-byte little-endian layout:
//! `client u64 | seq u64 | tag u8 | key u64 | a u64 | b u64 | flag u8`, where put stores `a`,
//! and compare-and-swap expects `a` (if `flag` is 1, else expects the key absent) and stores `b`.
//! Snapshots are described at [`KvStore::encode`].

use crate::linearizability::{Key, KvOp, KvOutput, Value};
use bytes::Bytes;
use sansraft::{Entry, Index};
use sansraft_kv::{ApplyError, KvMachine, Op, Output, RequestId, Session};

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

    /// The crate's command for this request.
    fn to_kv(self) -> sansraft_kv::Command<Key, Value> {
        let op = match self.op {
            KvOp::Put { key, value } => Op::Put { key, value },
            KvOp::Get { key } => Op::Get { key },
            KvOp::Cas { key, expected, new } => Op::Cas { key, expected, new },
        };
        let request = Some(RequestId {
            client: self.client,
            seq: self.seq,
        });
        sansraft_kv::Command { request, op }
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

/// The simulator never deletes, so every output is one the history checker knows.
fn output(output: &Output<Value>) -> KvOutput {
    match *output {
        Output::Written => KvOutput::Written,
        Output::Value(value) => KvOutput::Read(value),
        Output::Swapped(swapped) => KvOutput::CasResult { swapped },
        Output::Deleted(_) => unreachable!("the simulator's commands never delete"),
    }
}

/// A session output's tag and value in the snapshot format.
fn output_tag(out: &Output<Value>) -> (u8, Value) {
    match output(out) {
        KvOutput::Written => (0, 0),
        KvOutput::Read(None) => (1, 0),
        KvOutput::Read(Some(v)) => (2, v),
        KvOutput::CasResult { swapped: false } => (3, 0),
        KvOutput::CasResult { swapped: true } => (4, 0),
    }
}

/// The key-value state machine of one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KvStore(KvMachine<Key, Value>);

impl Default for KvStore {
    /// Every session is kept: a run has a handful of clients, and the snapshot format does not
    /// record when a session was last active, which eviction would need.
    fn default() -> Self {
        KvStore(KvMachine::new(usize::MAX))
    }
}

impl KvStore {
    /// Applies one committed entry.
    pub(crate) fn apply(&mut self, entry: &Entry) -> Applied {
        let applied = self.0.apply_with(entry, |data| {
            Command::decode(data).map(Command::to_kv).ok_or(())
        });
        match applied {
            Ok(Some(sansraft_kv::Applied::Fresh(out))) => Applied::Fresh(output(&out)),
            Ok(Some(sansraft_kv::Applied::Duplicate(out, _))) => Applied::Duplicate(output(&out)),
            Ok(Some(sansraft_kv::Applied::Stale)) => Applied::Stale,
            // Bytes that are not a command are skipped alike everywhere; an entry out of order
            // has already failed the run's checker.
            Ok(None) | Err(ApplyError::Malformed(())) | Err(ApplyError::OutOfOrder { .. }) => {
                Applied::Skipped
            }
        }
    }

    /// The state machine as snapshot bytes: the data and the client sessions (so retries stay
    /// exactly-once across an install), little-endian: `count u64`, then `key u64 | value u64`
    /// in key order; `count u64`, then `client u64 | seq u64 | tag u8 | value u64` in client
    /// order, where the tag is the session's output (0 written, 1 read nothing, 2 read `value`,
    /// 3 not swapped, 4 swapped).
    pub(crate) fn encode(&self) -> Bytes {
        let sessions: Vec<&Session<Value>> = self.0.session_records().collect();
        let mut out = Vec::with_capacity(16 + self.0.len() * 16 + sessions.len() * 25);
        out.extend_from_slice(&(self.0.len() as u64).to_le_bytes());
        for (k, v) in self.0.iter() {
            out.extend_from_slice(&k.to_le_bytes());
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(sessions.len() as u64).to_le_bytes());
        for session in sessions {
            out.extend_from_slice(&session.client.to_le_bytes());
            out.extend_from_slice(&session.seq.to_le_bytes());
            let (tag, value) = output_tag(&session.output);
            out.push(tag);
            out.extend_from_slice(&value.to_le_bytes());
        }
        Bytes::from(out)
    }

    /// Restores the state machine of a snapshot at `applied` from [`KvStore::encode`]'s bytes;
    /// `None` if they are corrupt. The format does not say at which index each session's
    /// request was applied: they get distinct indexes below `applied` in client order, which
    /// matter only to eviction, and a simulated machine evicts nothing.
    pub(crate) fn decode(mut bytes: &[u8], applied: Index) -> Option<KvStore> {
        fn word(bytes: &mut &[u8]) -> Option<u64> {
            let (w, rest) = bytes.split_first_chunk::<8>()?;
            *bytes = rest;
            Some(u64::from_le_bytes(*w))
        }
        let mut data = Vec::new();
        for _ in 0..word(&mut bytes)? {
            let k = word(&mut bytes)?;
            data.push((k, word(&mut bytes)?));
        }
        let mut sessions = Vec::new();
        for index in 1..=word(&mut bytes)? {
            let client = word(&mut bytes)?;
            let seq = word(&mut bytes)?;
            let (&tag, rest) = bytes.split_first()?;
            bytes = rest;
            let value = word(&mut bytes)?;
            let output = match tag {
                0 => Output::Written,
                1 => Output::Value(None),
                2 => Output::Value(Some(value)),
                3 => Output::Swapped(false),
                4 => Output::Swapped(true),
                _ => return None,
            };
            let session = Session {
                client,
                seq,
                index,
                output,
            };
            sessions.push(session);
        }
        if !bytes.is_empty() {
            return None;
        }
        let machine = KvMachine::from_parts(applied, data, sessions, usize::MAX).ok()?;
        Some(KvStore(machine))
    }

    /// The value of `key` now (a read served outside the log).
    pub(crate) fn read(&self, key: Key) -> Option<Value> {
        self.0.get(&key).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansraft::EntryKind;

    fn entry(index: Index, cmd: Command) -> Entry {
        Entry {
            term: 1,
            index,
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
            kv.apply(&entry(seq as u64 + 1, cmd));
        }
        let bytes = kv.encode();
        let back = KvStore::decode(&bytes, 4).expect("valid snapshot");
        assert_eq!(back.encode(), bytes);
        let sessions = |kv: &KvStore| -> Vec<(u64, u64, KvOutput)> {
            let records = kv.0.session_records();
            records
                .map(|s| (s.client, s.seq, output(&s.output)))
                .collect()
        };
        assert_eq!(
            sessions(&back),
            sessions(&kv),
            "dedup tables survive a snapshot"
        );
        assert_eq!(KvStore::decode(&bytes[..bytes.len() - 1], 4), None);
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
        let first = cas(1, None, 5);
        assert_eq!(
            kv.apply(&entry(1, first)),
            Applied::Fresh(KvOutput::CasResult { swapped: true })
        );
        assert_eq!(
            kv.apply(&entry(2, first)),
            Applied::Duplicate(KvOutput::CasResult { swapped: true })
        );
        assert_eq!(
            kv.apply(&entry(3, cas(2, Some(5), 6))),
            Applied::Fresh(KvOutput::CasResult { swapped: true })
        );
        assert_eq!(kv.apply(&entry(4, first)), Applied::Stale);
        let get = Command {
            client: 2,
            seq: 1,
            op: KvOp::Get { key: 0 },
        };
        assert_eq!(
            kv.apply(&entry(5, get)),
            Applied::Fresh(KvOutput::Read(Some(6)))
        );
    }
}
