//! Encoding and decoding of wire and persisted types, in postcard's format.
//!
//! The format is that of the types' serde derives encoded with postcard (the reference, kept in
//! [`serde_encode_into`] and [`serde_decode`]). The types sansraft defines have a hand-written
//! codec for the same bytes ([`wire`] and [`message`]): a [`Message`] is appended in one pass,
//! its fixed-size fields (and small payloads) gathered in a stack buffer and copied out a
//! buffer-full at a time; the other types compute the encoded length without encoding and
//! reserve once; and
//! [`Codec::decode_shared`] hands out payloads as slices of the received frame instead of
//! copies. Differential tests and the `decode` fuzz target hold the two paths to the same
//! bytes, values and errors.
//!
//! Decoding never panics and allocates in proportion to the input, never to a length field:
//! arbitrary bytes give a value or a [`DecodeError`].

mod frame;
mod message;
#[cfg(test)]
mod tests;
mod types;
mod wire;

use crate::message::Message;
use crate::types::{Entry, HardState, Membership, SnapshotMeta};
use bytes::Bytes;
use serde::{de::DeserializeOwned, Serialize};
use wire::{Reader, Wire};

pub use frame::{varint_len, write_varint, FrameReader};

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
///
/// The provided methods go through serde and postcard; sansraft's own types override them with
/// the hand-written codec, which gives the same bytes.
pub trait Codec: Serialize + DeserializeOwned + Sized {
    /// The length of the encoding of `self`, in bytes.
    fn encoded_len(&self) -> usize {
        serde_encoded_len(self)
    }

    /// Appends the encoding of `self` to `buf`.
    fn encode_into(&self, buf: &mut Vec<u8>) {
        serde_encode_into(self, buf);
    }

    /// The encoding of `self`, in a vector of exactly its length.
    fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut buf);
        buf
    }

    /// Decodes exactly one value from `bytes`; extra bytes are an error. Payloads are copied.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        serde_decode(bytes)
    }

    /// Decodes exactly one value from a received frame, like [`Codec::decode`] (same values,
    /// same errors). For [`Message`] and [`Entry`] the payloads (entry data, snapshot chunk
    /// data) are slices of `frame` sharing its buffer: no payload is copied or allocated.
    fn decode_shared(frame: &Bytes) -> Result<Self, DecodeError> {
        Self::decode(frame)
    }
}

/// Implements [`Codec`] with the hand-written codec of [`Wire`].
macro_rules! hand_written_codec {
    ($($ty:ty),*) => {$(
        impl Codec for $ty {
            fn encoded_len(&self) -> usize {
                self.wire_len()
            }

            fn encode_into(&self, buf: &mut Vec<u8>) {
                self.write_into(buf);
            }

            /// One allocation of exactly the encoded length.
            fn encode(&self) -> Vec<u8> {
                let mut buf = Vec::with_capacity(self.wire_len());
                if <$ty as Wire>::ONE_PASS {
                    self.write_into(&mut buf);
                } else {
                    self.write(&mut buf);
                }
                debug_assert_eq!(buf.len(), buf.capacity(), "wire_len disagrees with write");
                buf
            }

            fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
                Reader::new(bytes).read_all()
            }

            fn decode_shared(frame: &Bytes) -> Result<Self, DecodeError> {
                Reader::shared(frame).read_all()
            }
        }
    )*};
}

hand_written_codec!(Message, Entry, HardState, Membership, SnapshotMeta);

/// The reference encoder: appends `value`'s serde encoding with postcard to `buf`.
pub fn serde_encode_into<T: Serialize + ?Sized>(value: &T, buf: &mut Vec<u8>) {
    // Serialising into a Vec only fails if a Serialize impl fails; ours cannot.
    postcard::serialize_with_flavor(value, AppendTo(buf))
        .expect("postcard encoding into a Vec is infallible for sansraft types");
}

/// The length of `value`'s serde encoding with postcard.
pub fn serde_encoded_len<T: Serialize + ?Sized>(value: &T) -> usize {
    postcard::experimental::serialized_size(value)
        .expect("postcard sizing is infallible for sansraft types")
}

/// The reference decoder: exactly one value from `bytes` through its serde derive and postcard.
pub fn serde_decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, _rest)) => Err(DecodeError::TrailingBytes),
        Err(postcard::Error::DeserializeUnexpectedEnd) => Err(DecodeError::Truncated),
        Err(_) => Err(DecodeError::Malformed),
    }
}

/// A postcard flavor appending to a vector a slice at a time (postcard's own `to_extend`
/// pushes byte by byte).
struct AppendTo<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for AppendTo<'_> {
    type Output = ();

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }

    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}
