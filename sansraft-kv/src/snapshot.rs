//! Snapshots (thesis §5): the whole state machine as bytes, and back.
//!
//! # Format
//!
//! The two header bytes [`SNAPSHOT_MAGIC`] and [`SNAPSHOT_VERSION`], then the [postcard]
//! encoding of: the applied index; the map as a sequence of pairs in key order; the sessions as
//! a sequence in client order. The bytes are canonical: equal machines encode to equal bytes,
//! and restoring refuses anything [`KvMachine::snapshot`] could not have written (keys out of
//! order, a session from after the applied index, more sessions than the bound, a number
//! written with too many bytes), so a corrupt or truncated snapshot is a [`SnapshotError`],
//! never a panic. (A corruption that turns one valid snapshot into another is for a checksum
//! to catch, as sansraft's snapshot transfer does.)

use crate::command::{decode_with_header, encode_with_header, DecodeError};
use crate::machine::KvMachine;
use crate::session::{Session, Sessions, DEFAULT_MAX_SESSIONS};
use bytes::Bytes;
use sansraft::Index;
use serde::{Deserialize, Serialize, Serializer};

/// The first byte of every snapshot.
pub const SNAPSHOT_MAGIC: u8 = b'S';
/// The format version this crate writes (the second byte of every snapshot).
pub const SNAPSHOT_VERSION: u8 = 1;

/// Why snapshot bytes could not be restored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotError {
    /// The bytes do not decode.
    Decode(DecodeError),
    /// They decode to a state no machine can be in.
    Invalid(InvalidState),
}

/// A state no machine can be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidState {
    /// The keys are not in strictly increasing order.
    KeysOutOfOrder,
    /// The sessions are not in strictly increasing client order, two share an index, or there
    /// are more than the bound.
    BadSessions,
    /// A session's latest request is from after the applied index.
    SessionAfterApplied {
        /// The session's index.
        index: Index,
        /// The applied index.
        applied: Index,
    },
}

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnapshotError::Decode(e) => write!(f, "snapshot does not decode: {e}"),
            SnapshotError::Invalid(InvalidState::KeysOutOfOrder) => {
                f.write_str("snapshot keys are not in strictly increasing order")
            }
            SnapshotError::Invalid(InvalidState::BadSessions) => f.write_str(
                "snapshot sessions are out of order, share an index, or exceed the bound",
            ),
            SnapshotError::Invalid(InvalidState::SessionAfterApplied { index, applied }) => {
                write!(
                    f,
                    "snapshot session at index {index} after applied {applied}"
                )
            }
        }
    }
}

impl std::error::Error for SnapshotError {}

/// What [`KvMachine::snapshot`] writes after the header.
#[derive(Serialize)]
#[serde(bound = "K: Ord + Clone + Serialize, V: Clone + Serialize")]
struct Body<'a, K: Ord + Clone, V: Clone> {
    applied: Index,
    #[serde(serialize_with = "in_key_order")]
    data: &'a imbl::OrdMap<K, V>,
    #[serde(serialize_with = "in_client_order")]
    sessions: &'a Sessions<V>,
}

/// The map as postcard encodes a `BTreeMap`: its length, then the pairs in key order.
fn in_key_order<K: Ord + Clone + Serialize, V: Clone + Serialize, S: Serializer>(
    data: &&imbl::OrdMap<K, V>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(data.iter())
}

fn in_client_order<V: Serialize, S: Serializer>(
    sessions: &&Sessions<V>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(sessions.iter())
}

/// The same bytes as [`Body`], decoded into plain sequences to be checked.
#[derive(Deserialize)]
struct Parts<K, V> {
    applied: Index,
    data: Vec<(K, V)>,
    sessions: Vec<Session<V>>,
}

impl<K: Ord + Clone + Serialize, V: Clone + Serialize> KvMachine<K, V> {
    /// The whole state (map, sessions, applied index) as snapshot bytes, covering the log up to
    /// [`KvMachine::applied`].
    pub fn snapshot(&self) -> Bytes {
        let body = Body {
            applied: self.applied,
            data: &self.data,
            sessions: &self.sessions,
        };
        encode_with_header([SNAPSHOT_MAGIC, SNAPSHOT_VERSION], &body)
    }
}

impl<K, V> KvMachine<K, V>
where
    K: Ord + Clone + Serialize + for<'de> Deserialize<'de>,
    V: Clone + Serialize + for<'de> Deserialize<'de>,
{
    /// The machine [`KvMachine::snapshot`]'s bytes hold, with the default session bound.
    pub fn restore(bytes: &[u8]) -> Result<Self, SnapshotError> {
        Self::restore_with_max_sessions(bytes, DEFAULT_MAX_SESSIONS)
    }

    /// The machine [`KvMachine::snapshot`]'s bytes hold, keeping at most `max_sessions`.
    pub fn restore_with_max_sessions(
        bytes: &[u8],
        max_sessions: usize,
    ) -> Result<Self, SnapshotError> {
        let parts: Parts<K, V> = decode_with_header([SNAPSHOT_MAGIC, SNAPSHOT_VERSION], bytes)
            .map_err(SnapshotError::Decode)?;
        let kv = Self::from_parts(parts.applied, parts.data, parts.sessions, max_sessions)
            .map_err(SnapshotError::Invalid)?;
        // Restores are rare and snapshots read whole anyway: one more pass proves the bytes are
        // the ones this machine writes.
        if kv.snapshot() != bytes {
            return Err(SnapshotError::Decode(DecodeError::NotCanonical));
        }
        Ok(kv)
    }
}

impl<K: Ord + Clone, V: Clone> KvMachine<K, V> {
    /// A machine from its parts, for a snapshot format of the embedder's own: the index applied,
    /// the pairs in strictly increasing key order, the sessions in strictly increasing client
    /// order at distinct indexes no higher than `applied`, at most `max_sessions` of them.
    pub fn from_parts(
        applied: Index,
        data: Vec<(K, V)>,
        sessions: Vec<Session<V>>,
        max_sessions: usize,
    ) -> Result<Self, InvalidState> {
        if !data.windows(2).all(|w| w[0].0 < w[1].0) {
            return Err(InvalidState::KeysOutOfOrder);
        }
        let sessions =
            Sessions::from_sessions(max_sessions, sessions).ok_or(InvalidState::BadSessions)?;
        if let Some(index) = sessions.last_index().filter(|&i| i > applied) {
            return Err(InvalidState::SessionAfterApplied { index, applied });
        }
        Ok(KvMachine {
            data: data.into_iter().collect(),
            sessions,
            applied,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Op;
    use crate::test_support::{command, entry};

    fn machine() -> KvMachine<String, Vec<u8>> {
        let mut kv = KvMachine::default();
        let ops = [
            (Some((1, 1)), "a", b"1"),
            (Some((2, 1)), "b", b"2"),
            (None, "c", b"3"),
            (Some((1, 2)), "a", b"4"),
        ];
        for (i, (request, key, value)) in ops.into_iter().enumerate() {
            let op = Op::Put {
                key: key.to_owned(),
                value: value.to_vec(),
            };
            kv.apply(&entry(i as u64 + 1, &command(request, op)))
                .unwrap();
        }
        kv
    }

    #[test]
    fn a_snapshot_restores_the_map_the_sessions_and_the_applied_index() {
        let kv = machine();
        let bytes = kv.snapshot();
        let back = KvMachine::restore(&bytes).expect("own snapshot restores");
        assert_eq!(back, kv);
        assert_eq!(back.snapshot(), bytes);
    }

    #[test]
    fn the_format_is_stable() {
        let kv = machine();
        #[rustfmt::skip]
        let expected = [
            b'S', 1, 4, // header, applied 4
            3, 1, b'a', 1, b'4', 1, b'b', 1, b'2', 1, b'c', 1, b'3', // 3 pairs
            2, 1, 2, 4, 0, 2, 1, 2, 0, // 2 sessions: (client 1, seq 2, index 4, Written), (2, 1, 2)
        ];
        assert_eq!(kv.snapshot(), &expected[..]);
    }

    #[test]
    fn corrupt_and_truncated_snapshots_are_errors() {
        type Kv = KvMachine<String, Vec<u8>>;
        let bytes = machine().snapshot();
        for len in 0..bytes.len() {
            assert!(Kv::restore(&bytes[..len]).is_err(), "truncated to {len}");
        }
        let mut swapped = bytes.to_vec();
        swapped.swap(5, 9); // keys "a", "b" -> "b", "a"
        assert_eq!(
            Kv::restore(&swapped),
            Err(SnapshotError::Invalid(InvalidState::KeysOutOfOrder))
        );
        let mut late = bytes.to_vec();
        late[2] = 3; // applied 3, a session at 4
        assert_eq!(
            Kv::restore(&late),
            Err(SnapshotError::Invalid(InvalidState::SessionAfterApplied {
                index: 4,
                applied: 3
            }))
        );
        assert_eq!(
            Kv::restore_with_max_sessions(&bytes, 1),
            Err(SnapshotError::Invalid(InvalidState::BadSessions))
        );
        let mut overlong = bytes.to_vec();
        overlong.splice(2..3, [0x84, 0x00]); // applied 4, in two bytes
        assert_eq!(
            Kv::restore(&overlong),
            Err(SnapshotError::Decode(DecodeError::NotCanonical))
        );
        assert_eq!(
            Kv::restore(b"K\x01"),
            Err(SnapshotError::Decode(DecodeError::BadMagic(b'K')))
        );
    }
}
