//! The primitives of postcard's format, by hand: LEB128 varints, bools, options, byte strings
//! and sequences, written to a `Vec<u8>` and read from a slice, with postcard's exact rules for
//! what is valid and which error an invalid input gives.
//!
//! A [`Reader`] over a shared frame hands byte strings out as slices of the frame, without a
//! copy. Sequence reads reserve no more elements than the remaining input can hold.

use super::DecodeError;
use bytes::Bytes;

/// A value with a hand-written postcard encoding.
pub(super) trait Wire: Sized {
    /// The length of the encoding, computed without encoding.
    fn wire_len(&self) -> usize;
    /// Appends the encoding (exactly [`Wire::wire_len`] bytes).
    fn write(&self, buf: &mut Vec<u8>);
    /// Reads one value.
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Reads one value that must take all of the remaining input. A type may check the end
    /// before it builds the value, saving a move of it.
    #[inline]
    fn read_whole(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let value = Self::read(r)?;
        r.end()?;
        Ok(value)
    }

    /// Whether [`Wire::write_into`] writes in one pass, without [`Wire::wire_len`], and never
    /// grows a buffer that has room for the encoding: then `Codec::encode` uses it too.
    const ONE_PASS: bool = false;

    /// Appends the encoding to a buffer that may already hold other values: by default,
    /// reserves [`Wire::wire_len`] once (amortised, so appending many values to one buffer
    /// stays linear), then writes. A type may write in one pass instead, without the length.
    #[inline]
    fn write_into(&self, buf: &mut Vec<u8>) {
        let len = self.wire_len();
        buf.reserve(len);
        let start = buf.len();
        self.write(buf);
        debug_assert_eq!(buf.len() - start, len, "wire_len disagrees with write");
    }
}

/// The most bytes a varint of a `u64` takes.
pub(super) const MAX_VARINT_LEN: usize = 10;

/// A [`Head`] holding at most this many bytes is copied out as this many (and cut back).
const SHORT_FLUSH: usize = 32;

/// A small buffer on the stack that fixed-size fields are written to before they go into the
/// output in one copy: one capacity check per flush rather than one per field.
///
/// Writing past its end panics; callers check [`Head::room`] before writing what may not fit.
pub(super) struct Head<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Head<N> {
    #[inline]
    pub(super) fn new() -> Self {
        Head {
            bytes: [0; N],
            len: 0,
        }
    }

    /// The bytes that can still be written before a flush.
    #[inline]
    pub(super) fn room(&self) -> usize {
        N - self.len
    }

    #[inline]
    pub(super) fn byte(&mut self, byte: u8) {
        self.bytes[self.len] = byte;
        self.len += 1;
    }

    /// A varint, as [`put_varint`] writes it.
    #[inline]
    pub(super) fn varint(&mut self, mut v: u64) {
        // Most fields are below 128: one byte, without the loop.
        if v < 0x80 {
            self.byte(v as u8);
            return;
        }
        while v >= 0x80 {
            self.byte(v as u8 | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }

    #[inline]
    pub(super) fn slice(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        let end = self.len + n;
        let to = &mut self.bytes[self.len..end];
        // Up to 16 bytes as two fixed-size copies that may overlap (no call to `memcpy`).
        if (8..=16).contains(&n) {
            to[..8].copy_from_slice(&bytes[..8]);
            to[n - 8..].copy_from_slice(&bytes[n - 8..]);
        } else if (4..8).contains(&n) {
            to[..4].copy_from_slice(&bytes[..4]);
            to[n - 4..].copy_from_slice(&bytes[n - 4..]);
        } else {
            to.copy_from_slice(bytes);
        }
        self.len = end;
    }

    /// Appends what was written to `buf` and empties the head.
    #[inline]
    pub(super) fn flush(&mut self, buf: &mut Vec<u8>) {
        if self.len <= SHORT_FLUSH && SHORT_FLUSH <= N && buf.capacity() - buf.len() >= SHORT_FLUSH
        {
            // A fixed-size copy (a few vector moves, no call to `memcpy`), then the bytes
            // beyond what was written are cut off again; only into spare capacity, so that a
            // buffer of exactly the encoded length never grows.
            let end = buf.len() + self.len;
            buf.extend_from_slice(&self.bytes[..SHORT_FLUSH]);
            buf.truncate(end);
        } else {
            buf.extend_from_slice(&self.bytes[..self.len]);
        }
        self.len = 0;
    }
}

/// The length of `v` as a varint: one byte per started group of 7 bits, at least one.
#[inline]
pub(super) fn varint_len(v: u64) -> usize {
    let bits = u64::BITS - (v | 1).leading_zeros();
    // ceil(bits / 7) for bits in 1..=64, without a division.
    ((bits * 9 + 64) / 64) as usize
}

/// Appends `v` as a varint: 7 bits per byte, least significant first, the high bit set on
/// every byte but the last.
#[inline]
pub(super) fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    if v < 0x80 {
        buf.push(v as u8);
        return;
    }
    let mut tmp = [0u8; 10];
    let mut n = 0;
    while v >= 0x80 {
        tmp[n] = v as u8 | 0x80;
        v >>= 7;
        n += 1;
    }
    tmp[n] = v as u8;
    buf.extend_from_slice(&tmp[..=n]);
}

/// Appends a byte string: its length as a varint, then the bytes in one copy.
pub(super) fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// The length of a byte string of `len` bytes.
pub(super) fn bytes_len(len: usize) -> usize {
    varint_len(len as u64) + len
}

/// The unread rest of an input, and the shared frame it is a part of, if any.
#[derive(Debug)]
pub(super) struct Reader<'a> {
    rest: &'a [u8],
    /// When set, `rest` lies inside it and byte strings are sliced from it.
    frame: Option<&'a Bytes>,
}

impl<'a> Reader<'a> {
    /// Reads `bytes`, copying byte strings out.
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Reader {
            rest: bytes,
            frame: None,
        }
    }

    /// Reads `frame`, handing byte strings out as slices of it.
    pub(super) fn shared(frame: &'a Bytes) -> Self {
        Reader {
            rest: frame,
            frame: Some(frame),
        }
    }

    /// Reads exactly one `T`: extra bytes are [`DecodeError::TrailingBytes`].
    pub(super) fn read_all<T: Wire>(mut self) -> Result<T, DecodeError> {
        T::read_whole(&mut self)
    }

    /// [`DecodeError::TrailingBytes`] unless every byte has been read.
    #[inline]
    pub(super) fn end(&self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }

    /// The number of unread bytes.
    pub(super) fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// The next `n` bytes.
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(taken)
    }

    /// The next byte.
    #[inline]
    pub(super) fn byte(&mut self) -> Result<u8, DecodeError> {
        let (&byte, rest) = self.rest.split_first().ok_or(DecodeError::Truncated)?;
        self.rest = rest;
        Ok(byte)
    }

    /// A varint of an integer of `bits` bits (at least 8), by postcard's rules: at most
    /// `ceil(bits / 7)` bytes, the last of them holding no more than the bits left; non-minimal
    /// encodings are accepted. Too many bytes or too large a last byte is `Malformed`; an input
    /// that ends inside the varint is `Truncated`.
    #[inline]
    fn varint(&mut self, bits: u32) -> Result<u64, DecodeError> {
        match *self.rest {
            [byte, ref rest @ ..] if byte < 0x80 => {
                self.rest = rest;
                Ok(u64::from(byte))
            }
            // Two bytes hold 14 bits, fewer than any integer read has (at least 32).
            [low, high, ref rest @ ..] if high < 0x80 && bits >= 14 => {
                self.rest = rest;
                Ok(u64::from(low & 0x7F) | u64::from(high) << 7)
            }
            _ => self.long_varint(bits),
        }
    }

    /// The next four bytes, consumed, if each is a whole varint (below 0x80): four small
    /// fields at once. Otherwise nothing is consumed.
    #[inline]
    pub(super) fn four_small(&mut self) -> Option<[u8; 4]> {
        let (&four, rest) = self.rest.split_first_chunk::<4>()?;
        if u32::from_le_bytes(four) & 0x8080_8080 != 0 {
            return None;
        }
        self.rest = rest;
        Some(four)
    }

    /// [`Reader::varint`] past its one-byte case.
    fn long_varint(&mut self, bits: u32) -> Result<u64, DecodeError> {
        let max_bytes = bits.div_ceil(7);
        let max_last_byte = (1u8 << (bits % 7)) - 1;
        let mut value = 0u64;
        for i in 0..max_bytes {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7F) << (7 * i);
            if byte & 0x80 == 0 {
                if i == max_bytes - 1 && byte > max_last_byte {
                    return Err(DecodeError::Malformed);
                }
                return Ok(value);
            }
        }
        Err(DecodeError::Malformed)
    }

    /// A `u64` varint.
    #[inline]
    pub(super) fn u64(&mut self) -> Result<u64, DecodeError> {
        self.varint(u64::BITS)
    }

    /// A `u32` varint (also an enum's variant index).
    #[inline]
    pub(super) fn u32(&mut self) -> Result<u32, DecodeError> {
        // At most 32 bits: `varint` checked the last byte.
        self.varint(u32::BITS).map(|v| v as u32)
    }

    /// A `usize` varint (a length).
    #[inline]
    pub(super) fn usize(&mut self) -> Result<usize, DecodeError> {
        // At most usize::BITS bits: `varint` checked the last byte.
        self.varint(usize::BITS).map(|v| v as usize)
    }

    /// A sequence's length, and how many elements of at least `min_element_len` bytes each
    /// the remaining input can hold: the capacity to reserve, whatever the length claims.
    #[inline]
    pub(super) fn seq_len(
        &mut self,
        min_element_len: usize,
    ) -> Result<(usize, usize), DecodeError> {
        let len = self.usize()?;
        Ok((len, len.min(self.remaining() / min_element_len)))
    }

    /// A byte string: a slice of the frame when reading one, else a copy.
    #[inline]
    pub(super) fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.usize()?;
        // The slice's offset in the frame from the unread length: `rest` is the frame's tail
        // (cheaper than `Bytes::slice_ref`, which checks the pointers).
        let start = self.frame.map(|frame| frame.len() - self.rest.len());
        let bytes = self.take(len)?;
        Ok(match (self.frame, start) {
            (Some(frame), Some(start)) => frame.slice(start..start + len),
            _ => Bytes::copy_from_slice(bytes),
        })
    }
}

impl Wire for u64 {
    #[inline]
    fn wire_len(&self) -> usize {
        varint_len(*self)
    }

    #[inline]
    fn write(&self, buf: &mut Vec<u8>) {
        put_varint(buf, *self);
    }

    #[inline]
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.u64()
    }
}

impl Wire for u32 {
    #[inline]
    fn wire_len(&self) -> usize {
        varint_len(u64::from(*self))
    }

    #[inline]
    fn write(&self, buf: &mut Vec<u8>) {
        put_varint(buf, u64::from(*self));
    }

    #[inline]
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.u32()
    }
}

/// One byte, 0 or 1.
impl Wire for bool {
    #[inline]
    fn wire_len(&self) -> usize {
        1
    }

    #[inline]
    fn write(&self, buf: &mut Vec<u8>) {
        buf.push(u8::from(*self));
    }

    #[inline]
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Malformed),
        }
    }
}

/// A tag byte, 0 or 1, then the value if 1.
impl<T: Wire> Wire for Option<T> {
    #[inline]
    fn wire_len(&self) -> usize {
        1 + self.as_ref().map_or(0, Wire::wire_len)
    }

    #[inline]
    fn write(&self, buf: &mut Vec<u8>) {
        match self {
            None => buf.push(0),
            Some(value) => {
                buf.push(1);
                value.write(buf);
            }
        }
    }

    #[inline]
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.byte()? {
            0 => Ok(None),
            1 => T::read(r).map(Some),
            _ => Err(DecodeError::Malformed),
        }
    }
}

/// Transparent.
impl<T: Wire> Wire for Box<T> {
    #[inline]
    fn wire_len(&self) -> usize {
        (**self).wire_len()
    }

    #[inline]
    fn write(&self, buf: &mut Vec<u8>) {
        (**self).write(buf);
    }

    #[inline]
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        T::read(r).map(Box::new)
    }
}

/// A byte string.
impl Wire for Bytes {
    #[inline]
    fn wire_len(&self) -> usize {
        bytes_len(self.len())
    }

    #[inline]
    fn write(&self, buf: &mut Vec<u8>) {
        put_bytes(buf, self);
    }

    #[inline]
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.bytes()
    }
}

/// A sequence of varints.
impl Wire for Vec<u64> {
    fn wire_len(&self) -> usize {
        varint_len(self.len() as u64) + self.iter().map(|v| varint_len(*v)).sum::<usize>()
    }

    fn write(&self, buf: &mut Vec<u8>) {
        put_varint(buf, self.len() as u64);
        for v in self {
            put_varint(buf, *v);
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let (len, capacity) = r.seq_len(1)?;
        let mut out = Vec::with_capacity(capacity);
        for _ in 0..len {
            out.push(r.u64()?);
        }
        Ok(out)
    }
}

/// Implements [`Wire`] for a struct as its fields in order (list them in declaration order).
macro_rules! wire_struct {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        impl Wire for $ty {
            fn wire_len(&self) -> usize {
                0 $(+ self.$field.wire_len())*
            }

            fn write(&self, buf: &mut Vec<u8>) {
                $(self.$field.write(buf);)*
            }

            fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                // Struct expression fields are evaluated in the order written.
                Ok($ty { $($field: Wire::read(r)?),* })
            }
        }
    };
}
pub(super) use wire_struct;

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(v: u64) -> Vec<u8> {
        let mut buf = Vec::new();
        put_varint(&mut buf, v);
        buf
    }

    #[test]
    fn varint_lengths_match_the_encoding_at_every_boundary() {
        for shift in 0..64 {
            for v in [1u64 << shift, (1u64 << shift) - 1, (1u64 << shift) + 1] {
                assert_eq!(varint_len(v), encoded(v).len(), "{v}");
                assert_eq!(postcard::to_allocvec(&v).unwrap(), encoded(v), "{v}");
            }
        }
        assert_eq!(varint_len(0), 1);
        assert_eq!(varint_len(u64::MAX), 10);
    }

    #[test]
    fn varints_follow_postcards_rules() {
        let read64 = |bytes: &[u8]| Reader::new(bytes).read_all::<u64>();
        let read32 = |bytes: &[u8]| Reader::new(bytes).read_all::<u32>();
        assert_eq!(read64(&[0x80, 0x00]), Ok(0), "non-minimal is accepted");
        assert_eq!(read64(&[0x80]), Err(DecodeError::Truncated));
        assert_eq!(read64(&[]), Err(DecodeError::Truncated));
        let mut max = vec![0xFF; 9];
        max.push(0x01);
        assert_eq!(read64(&max), Ok(u64::MAX));
        max[9] = 0x02;
        assert_eq!(read64(&max), Err(DecodeError::Malformed), "overflow");
        max[9] = 0x81;
        assert_eq!(read64(&max), Err(DecodeError::Malformed), "eleven bytes");
        assert_eq!(read32(&[0xFF, 0xFF, 0xFF, 0xFF, 0x0F]), Ok(u32::MAX));
        assert_eq!(
            read32(&[0xFF, 0xFF, 0xFF, 0xFF, 0x10]),
            Err(DecodeError::Malformed)
        );
    }
}
