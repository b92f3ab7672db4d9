//! Containers of messages on the wire: the pieces a crate built on sansraft needs to give its
//! own container of [`Message`]s (a multi-group host's batch, say) a codec in postcard's format
//! as fast as the message's own, with payloads shared with the received frame.
//!
//! A container's serde derive with postcard encodes its integer fields and sequence lengths as
//! varints and each message as the message's encoding, so a hand-written codec writes them with
//! [`write_varint`] and [`Codec::encode_into`], sizes them with [`varint_len`] and
//! [`Codec::encoded_len`], and reads them back with a [`FrameReader`]. Differential tests (the
//! `decode` fuzz target among them) can then hold it to the derive's bytes.

use super::wire::{Head, Reader, Wire};
use super::DecodeError;
use crate::message::Message;
use bytes::Bytes;

/// The number of bytes of `v`'s varint encoding (postcard's: 7 bits a byte, low bits first).
pub fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros()).div_ceil(7) as usize
}

/// Appends `v`'s varint encoding to `buf`.
pub fn write_varint(buf: &mut Vec<u8>, v: u64) {
    let mut head = Head::<10>::new();
    head.varint(v);
    head.flush(buf);
}

/// Reads the fields of a container encoded in postcard's format from a received frame. A
/// message read from it hands out its payloads as slices of the frame, as
/// [`Codec::decode_shared`] does; with [`FrameReader::copying`] they are copies, as
/// [`Codec::decode`] makes. Never panics, and never believes a length field for more than the
/// input can hold.
#[derive(Debug)]
pub struct FrameReader<'a> {
    reader: Reader<'a>,
}

impl<'a> FrameReader<'a> {
    /// Reads `frame`, sharing payloads with it.
    pub fn new(frame: &'a Bytes) -> Self {
        FrameReader {
            reader: Reader::shared(frame),
        }
    }

    /// Reads `bytes`, copying payloads out.
    pub fn copying(bytes: &'a [u8]) -> Self {
        FrameReader {
            reader: Reader::new(bytes),
        }
    }

    /// A `u64` varint.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        self.reader.u64()
    }

    /// A sequence's length, and how many elements of at least `min_element_len` bytes (at
    /// least 1) the rest of the input can hold: the capacity to reserve, whatever the length
    /// claims.
    pub fn seq_len(&mut self, min_element_len: usize) -> Result<(usize, usize), DecodeError> {
        self.reader.seq_len(min_element_len.max(1))
    }

    /// One message.
    pub fn message(&mut self) -> Result<Message, DecodeError> {
        Message::read(&mut self.reader)
    }

    /// Succeeds if every byte was read: [`DecodeError::TrailingBytes`] otherwise.
    pub fn end(self) -> Result<(), DecodeError> {
        self.reader.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_the_reference() {
        for v in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut buf = Vec::new();
            write_varint(&mut buf, v);
            let mut reference = Vec::new();
            super::super::serde_encode_into(&v, &mut reference);
            assert_eq!(buf, reference, "{v}");
            assert_eq!(varint_len(v), buf.len(), "{v}");
            let frame = Bytes::from(buf);
            let mut r = FrameReader::new(&frame);
            assert_eq!(r.u64(), Ok(v));
            assert_eq!(r.end(), Ok(()));
        }
    }
}
