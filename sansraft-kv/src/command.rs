//! Commands: what a client asks the replicated map to do, and their bytes in a log entry.
//!
//! # Format
//!
//! A command is the two header bytes [`COMMAND_MAGIC`] and [`COMMAND_VERSION`], then the
//! [postcard] encoding of the [`Command`]. The format is stable: a later version of this crate
//! decodes every version it ever wrote, and bytes that are not a command are a [`DecodeError`],
//! never a panic. Every replica decodes the same bytes the same way, so a malformed entry is
//! skipped by all of them alike.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The first byte of every encoded command.
pub const COMMAND_MAGIC: u8 = b'K';
/// The format version this crate writes (the second byte of every encoded command).
pub const COMMAND_VERSION: u8 = 1;

/// Who sent a request, and which of its requests it is: the key to exactly-once retries
/// (thesis §6.3). A client issues its requests one at a time with `seq` growing, and sends every
/// retry of a request with the same `RequestId`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId {
    /// The client's id, unique in the cluster.
    pub client: u64,
    /// The request's number within the client's session.
    pub seq: u64,
}

/// An operation on the map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op<K, V> {
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: K,
        /// Its new value.
        value: V,
    },
    /// Read `key` through the log (a linearizable read that costs a log entry; a ReadIndex
    /// read served by [`crate::KvMachine::get`] is cheaper).
    Get {
        /// The key.
        key: K,
    },
    /// Remove `key`.
    Delete {
        /// The key.
        key: K,
    },
    /// Set `key` to `new` if its value is `expected` (`None`: if it is absent).
    Cas {
        /// The key.
        key: K,
        /// The value it must have.
        expected: Option<V>,
        /// Its new value.
        new: V,
    },
}

/// A command as it travels in a log entry: an operation, and the request it answers if the
/// client wants exactly-once retries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command<K, V> {
    /// The request this is, or `None` for a command applied every time it is committed (safe
    /// for puts and deletes, which are idempotent on their own).
    pub request: Option<RequestId>,
    /// What to do.
    pub op: Op<K, V>,
}

/// Why bytes are not a command (or a snapshot: see [`crate::SnapshotError`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than the header.
    Truncated,
    /// The first byte is not the format's magic byte: not bytes this crate wrote.
    BadMagic(u8),
    /// A format version this crate does not know (written by a newer one).
    UnsupportedVersion(u8),
    /// The body does not decode.
    Body(postcard::Error),
    /// The body decoded with bytes left over.
    TrailingBytes(usize),
    /// The body decoded, but is not how its value encodes (a number written with too many
    /// bytes): not bytes this crate wrote. Checked for snapshots.
    NotCanonical,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("shorter than the format header"),
            DecodeError::BadMagic(b) => write!(f, "unknown magic byte {b:#04x}"),
            DecodeError::UnsupportedVersion(v) => write!(f, "unsupported format version {v}"),
            DecodeError::Body(e) => write!(f, "body does not decode: {e}"),
            DecodeError::TrailingBytes(n) => write!(f, "{n} bytes after the body"),
            DecodeError::NotCanonical => f.write_str("not the canonical encoding of its value"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl<K: Serialize, V: Serialize> Command<K, V> {
    /// The bytes to propose.
    pub fn encode(&self) -> Bytes {
        encode_with_header([COMMAND_MAGIC, COMMAND_VERSION], self)
    }
}

impl<K: for<'de> Deserialize<'de>, V: for<'de> Deserialize<'de>> Command<K, V> {
    /// Decodes [`Command::encode`]'s bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode_with_header([COMMAND_MAGIC, COMMAND_VERSION], bytes)
    }
}

/// `header` then the postcard encoding of `value`.
pub(crate) fn encode_with_header<T: Serialize>(header: [u8; 2], value: &T) -> Bytes {
    let out = header.to_vec();
    // Serialising into a Vec fails only if a Serialize impl fails; derived ones and those of
    // the standard types cannot.
    Bytes::from(postcard::to_extend(value, out).expect("postcard encodes into a Vec"))
}

/// Checks `header` and decodes the rest of `bytes`, all of it, as a `T`.
pub(crate) fn decode_with_header<T: for<'de> Deserialize<'de>>(
    [magic, version]: [u8; 2],
    bytes: &[u8],
) -> Result<T, DecodeError> {
    let [first, second, body @ ..] = bytes else {
        return Err(DecodeError::Truncated);
    };
    if *first != magic {
        return Err(DecodeError::BadMagic(*first));
    }
    if *second != version {
        return Err(DecodeError::UnsupportedVersion(*second));
    }
    let (value, rest) = postcard::take_from_bytes(body).map_err(DecodeError::Body)?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes(rest.len()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Cmd = Command<String, Vec<u8>>;

    fn put() -> Cmd {
        Command {
            request: Some(RequestId { client: 7, seq: 3 }),
            op: Op::Put {
                key: "k".into(),
                value: b"v".to_vec(),
            },
        }
    }

    #[test]
    fn commands_round_trip() {
        let cas = Command {
            request: None,
            op: Op::Cas {
                key: "k".to_owned(),
                expected: None,
                new: b"n".to_vec(),
            },
        };
        for cmd in [put(), cas] {
            assert_eq!(Cmd::decode(&cmd.encode()), Ok(cmd));
        }
    }

    #[test]
    fn the_format_is_stable() {
        // Version 1: magic, version, request (Some, client 7, seq 3), op Put (variant 0),
        // key "k", value [b'v'].
        let bytes = [b'K', 1, 1, 7, 3, 0, 1, b'k', 1, b'v'];
        assert_eq!(put().encode(), &bytes[..]);
    }

    #[test]
    fn bad_bytes_are_errors() {
        let good = put().encode();
        assert_eq!(Cmd::decode(b""), Err(DecodeError::Truncated));
        assert_eq!(Cmd::decode(b"K"), Err(DecodeError::Truncated));
        assert_eq!(Cmd::decode(b"X\x01"), Err(DecodeError::BadMagic(b'X')));
        assert_eq!(
            Cmd::decode(b"K\x09"),
            Err(DecodeError::UnsupportedVersion(9))
        );
        assert!(matches!(
            Cmd::decode(&good[..good.len() - 1]),
            Err(DecodeError::Body(_))
        ));
        let mut long = good.to_vec();
        long.push(0);
        assert_eq!(Cmd::decode(&long), Err(DecodeError::TrailingBytes(1)));
    }
}
