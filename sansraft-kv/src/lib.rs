//! A replicated key-value state machine for [sansraft]: an ordered map changed by the commands
//! in committed log entries, with client sessions that make retried writes take effect exactly
//! once (thesis §6.3), snapshots for log compaction (§5), and bounded range scans.
//!
//! The embedder's side of the loop:
//!
//! - A client's write is a [`Command`]: an [`Op`] and, for exactly-once retries, a
//!   [`RequestId`] (the client's id and the request's sequence number, the same on every retry).
//!   Propose [`Command::encode`]'s bytes.
//! - Feed every committed entry, in log order, to [`KvMachine::apply`]. It answers
//!   [`Applied::Fresh`] with the result, or [`Applied::Duplicate`] with the *first* result if
//!   the request was applied before (the retry changes nothing). Bytes that are not a command
//!   are an error every replica meets alike; the entry still counts as applied.
//! - Serve reads from [`KvMachine::get`], [`KvMachine::scan`] and [`KvMachine::scan_prefix`]
//!   (both bounded by a limit) once the engine says a read is ready (ReadIndex, §6.4).
//! - Snapshot with [`KvMachine::snapshot`]; a follower that receives one calls
//!   [`KvMachine::restore`], which refuses corrupt or truncated bytes with an error.
//!
//! Sessions are bounded: see [`session`] for the eviction rule, which depends on the log alone,
//! so every replica keeps the same sessions. Nothing depends on a clock or a hash order.
//!
//! ```
//! use sansraft::{Entry, EntryKind};
//! use sansraft_kv::{Applied, Command, KvMachine, Op, Output, RequestId};
//!
//! let mut kv = KvMachine::<String, String>::default();
//! let put: Command<String, String> = Command {
//!     request: Some(RequestId { client: 1, seq: 1 }),
//!     op: Op::Put { key: "greeting".into(), value: "hello".into() },
//! };
//! // What the engine hands back once the proposal commits.
//! let committed = |index| Entry {
//!     term: 1,
//!     index,
//!     kind: EntryKind::Normal,
//!     data: put.encode(),
//! };
//! assert_eq!(kv.apply(&committed(1)), Ok(Some(Applied::Fresh(Output::Written))));
//! // The client did not hear back and retried: the retry commits again, but applies once.
//! assert_eq!(kv.apply(&committed(2)), Ok(Some(Applied::Duplicate(Output::Written, 1))));
//! assert_eq!(kv.get("greeting").map(String::as_str), Some("hello"));
//!
//! // A snapshot carries the map and the sessions.
//! let restored = KvMachine::<String, String>::restore(&kv.snapshot()).unwrap();
//! assert_eq!(restored, kv);
//! assert!(KvMachine::<String, String>::restore(b"not a snapshot").is_err());
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod command;
mod machine;
pub mod session;
mod snapshot;

pub use command::{Command, DecodeError, Op, RequestId, COMMAND_MAGIC, COMMAND_VERSION};
pub use machine::{Applied, ApplyError, KvMachine, Output};
pub use session::{Session, DEFAULT_MAX_SESSIONS};
pub use snapshot::{InvalidState, SnapshotError, SNAPSHOT_MAGIC, SNAPSHOT_VERSION};

#[cfg(test)]
mod test_support {
    use crate::{Command, Op, RequestId};
    use sansraft::{Entry, EntryKind, Index};
    use serde::Serialize;

    /// A command from `(client, seq)`, or without a request id.
    pub(crate) fn command<K, V>(request: Option<(u64, u64)>, op: Op<K, V>) -> Command<K, V> {
        let request = request.map(|(client, seq)| RequestId { client, seq });
        Command { request, op }
    }

    /// `command` committed at `index`.
    pub(crate) fn entry<K: Serialize, V: Serialize>(
        index: Index,
        command: &Command<K, V>,
    ) -> Entry {
        Entry {
            term: 1,
            index,
            kind: EntryKind::Normal,
            data: command.encode(),
        }
    }
}
