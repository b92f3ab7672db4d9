//! Encoding and decoding of wire and persisted types with postcard.
//!
//! Decoding never panics: arbitrary bytes give a value or a [`DecodeError`].

use crate::message::Message;
use crate::types::{Entry, HardState, Membership, SnapshotMeta};
use serde::{de::DeserializeOwned, Serialize};

/// Why bytes could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes end before the value does.
    Truncated,
    /// The bytes are not a valid encoding of the type.
    Malformed,
    /// A valid value is followed by extra bytes.
    TrailingBytes,
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            DecodeError::Truncated => "input ends before the value does",
            DecodeError::Malformed => "input is not a valid encoding",
            DecodeError::TrailingBytes => "extra bytes after the value",
        })
    }
}

impl std::error::Error for DecodeError {}

/// A type with a stable postcard encoding: every wire and persisted type.
pub trait Codec: Serialize + DeserializeOwned + Sized {
    /// Appends the encoding of `self` to `buf`.
    fn encode_into(&self, buf: &mut Vec<u8>) {
        // Serialising into a Vec only fails if a Serialize impl fails; ours cannot.
        let encoded = postcard::to_extend(self, core::mem::take(buf));
        *buf = encoded.expect("postcard encoding into a Vec is infallible for sansraft types");
    }

    /// The encoding of `self`.
    fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        self.encode_into(&mut buf);
        buf
    }

    /// Decodes exactly one value from `bytes`; extra bytes are an error.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        match postcard::take_from_bytes::<Self>(bytes) {
            Ok((value, [])) => Ok(value),
            Ok((_, _rest)) => Err(DecodeError::TrailingBytes),
            Err(postcard::Error::DeserializeUnexpectedEnd) => Err(DecodeError::Truncated),
            Err(_) => Err(DecodeError::Malformed),
        }
    }
}

impl Codec for Message {}
impl Codec for Entry {}
impl Codec for HardState {}
impl Codec for Membership {}
impl Codec for SnapshotMeta {}
