//! The replicated state machine: [`sansraft_kv`]'s map from string keys to byte values, with
//! client sessions for exactly-once retries and its versioned formats for commands and
//! snapshots.
//!
//! Data written before kv-tokio used `sansraft_kv` (log entries holding a bare postcard
//! `Put`/`Delete`, snapshots holding a bare postcard map) is still read, so a data directory
//! upgrades in place: such bytes never start with the new formats' magic bytes, so they cannot
//! be mistaken for them. Everything is written in the new formats.

use bytes::Bytes;
use sansraft::Entry;
use sansraft_kv::{
    Applied, ApplyError, DecodeError, KvMachine, Op, SnapshotError, DEFAULT_MAX_SESSIONS,
};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The key-value map and its client sessions.
pub(crate) type Kv = KvMachine<String, Bytes>;

/// A client's command, as carried in a log entry.
pub(crate) type Command = sansraft_kv::Command<String, Bytes>;

/// A command as the first versions of kv-tokio wrote it.
#[derive(Deserialize)]
enum LegacyCommand {
    Put { key: String, value: Bytes },
    Delete { key: String },
}

/// Decodes a command in the current format or, failing that, in the legacy one.
fn decode_command(bytes: &[u8]) -> Result<Command, DecodeError> {
    Command::decode(bytes).or_else(|e| {
        let legacy: LegacyCommand = postcard::from_bytes(bytes).map_err(|_| e)?;
        let op = match legacy {
            LegacyCommand::Put { key, value } => Op::Put { key, value },
            LegacyCommand::Delete { key } => Op::Delete { key },
        };
        Ok(Command { request: None, op })
    })
}

/// Applies one committed entry (see [`KvMachine::apply`]), reading legacy commands too.
pub(crate) fn apply(kv: &mut Kv, entry: &Entry) -> Result<Option<Applied<Bytes>>, ApplyError> {
    kv.apply_with(entry, decode_command)
}

/// The machine a snapshot at `index` holds, in the current format or the legacy one (a bare
/// map, which carries no sessions).
pub(crate) fn restore(bytes: &[u8], index: sansraft::Index) -> Result<Kv, SnapshotError> {
    Kv::restore(bytes).or_else(|e| {
        let Ok(map) = postcard::from_bytes::<BTreeMap<String, Bytes>>(bytes) else {
            return Err(e);
        };
        let data = map.into_iter().collect();
        Kv::from_parts(index, data, Vec::new(), DEFAULT_MAX_SESSIONS)
            .map_err(SnapshotError::Invalid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansraft::EntryKind;
    use sansraft_kv::{Output, RequestId};
    use serde::Serialize;

    fn entry(index: u64, data: impl Into<Bytes>) -> Entry {
        Entry {
            term: 1,
            index,
            kind: EntryKind::Normal,
            data: data.into(),
        }
    }

    /// The legacy command type, as the first versions encoded it.
    #[derive(Serialize)]
    enum Old {
        Put { key: String, value: Bytes },
        Delete { key: String },
    }

    #[test]
    fn legacy_commands_and_snapshots_are_still_read() {
        let mut kv = Kv::default();
        let old = |c: &Old| postcard::to_allocvec(c).expect("encodes");
        let put = |k: &str| Old::Put {
            key: k.into(),
            value: Bytes::from_static(b"v"),
        };
        apply(&mut kv, &entry(1, old(&put("a")))).expect("a legacy put");
        apply(&mut kv, &entry(2, old(&put("b")))).expect("a legacy put");
        let delete = Old::Delete { key: "a".into() };
        let deleted = apply(&mut kv, &entry(3, old(&delete)));
        assert_eq!(deleted, Ok(Some(Applied::Fresh(Output::Deleted(true)))));
        let map: BTreeMap<_, _> = kv.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let snapshot = postcard::to_allocvec(&map).expect("encodes");
        let restored = restore(&snapshot, 3).expect("a legacy snapshot");
        assert_eq!(restored, kv);
        assert!(restore(b"\xff\xff\xff", 3).is_err());
    }

    #[test]
    fn new_commands_carry_sessions() {
        let mut kv = Kv::default();
        let put = Command {
            request: Some(RequestId { client: 9, seq: 1 }),
            op: Op::Put {
                key: "k".into(),
                value: Bytes::from_static(b"v"),
            },
        };
        apply(&mut kv, &entry(1, put.encode())).expect("applies");
        let retry = apply(&mut kv, &entry(2, put.encode()));
        assert_eq!(retry, Ok(Some(Applied::Duplicate(Output::Written, 1))));
        let restored = restore(&kv.snapshot(), 2).expect("own snapshot");
        assert_eq!(restored, kv);
        let garbage = apply(&mut kv, &entry(3, Bytes::from_static(b"\x07garbage")));
        assert!(matches!(garbage, Err(ApplyError::Malformed(_))));
    }
}
