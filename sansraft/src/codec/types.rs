//! The hand-written codec of the persisted types: [`Entry`] and a run of them, [`HardState`],
//! [`Membership`] and [`SnapshotMeta`].

use super::wire::{put_varint, varint_len, wire_struct, Reader, Wire};
use super::DecodeError;
use crate::entries::Entries;
use crate::types::{Entry, EntryKind, HardState, Membership, Priority, SnapshotMeta};

/// The fewest bytes an entry takes: a one-byte term, index, kind and payload length.
const MIN_ENTRY_LEN: usize = 4;

/// The variant index, as a one-byte varint.
impl Wire for EntryKind {
    fn wire_len(&self) -> usize {
        1
    }

    fn write(&self, buf: &mut Vec<u8>) {
        buf.push(entry_kind_index(*self));
    }

    #[inline]
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u32()? {
            0 => Ok(EntryKind::Normal),
            1 => Ok(EntryKind::Empty),
            2 => Ok(EntryKind::Membership),
            _ => Err(DecodeError::Malformed),
        }
    }
}

/// The variant index of `kind`.
#[inline]
pub(super) fn entry_kind_index(kind: EntryKind) -> u8 {
    match kind {
        EntryKind::Normal => 0,
        EntryKind::Empty => 1,
        EntryKind::Membership => 2,
    }
}

wire_struct!(Entry {
    term,
    index,
    kind,
    data
});

/// A sequence of entries, like a `Vec<Entry>`; the decoded vector is the run's buffer.
impl Wire for Entries {
    fn wire_len(&self) -> usize {
        varint_len(self.len() as u64) + self.iter().map(Wire::wire_len).sum::<usize>()
    }

    fn write(&self, buf: &mut Vec<u8>) {
        put_varint(buf, self.len() as u64);
        for entry in self {
            entry.write(buf);
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let (len, capacity) = r.seq_len(MIN_ENTRY_LEN)?;
        if len == 1 {
            // The most common append at low load: one entry, one plain allocation.
            return Ok(Entries::one(read_entry(r)?));
        }
        if len <= capacity {
            // Room for every entry declared: one allocation for the run, at its final size.
            return Entries::try_from_fn(len, || read_entry(r));
        }
        // More entries declared than the bytes left can hold: read as far as they go, to
        // fail as postcard does, never reserving what the length claims.
        let mut entries = Vec::with_capacity(capacity);
        for _ in 0..len {
            read_entry_into(r, &mut entries)?;
        }
        Ok(Entries::from(entries))
    }
}

/// Reads one entry.
#[inline]
fn read_entry(r: &mut Reader<'_>) -> Result<Entry, DecodeError> {
    Ok(Entry {
        term: r.u64()?,
        index: r.u64()?,
        kind: EntryKind::read(r)?,
        data: r.bytes()?,
    })
}

/// Reads an entry onto the end of `entries`, built in place rather than moved out of a
/// `Result`.
fn read_entry_into(r: &mut Reader<'_>, entries: &mut Vec<Entry>) -> Result<(), DecodeError> {
    let term = r.u64()?;
    let index = r.u64()?;
    let kind = EntryKind::read(r)?;
    let data = r.bytes()?;
    entries.push(Entry {
        term,
        index,
        kind,
        data,
    });
    Ok(())
}

wire_struct!(HardState { term, vote, commit });
wire_struct!(Membership {
    voters,
    outgoing,
    learners,
    witnesses,
    priorities
});
wire_struct!(Priority { id, priority });

/// A sequence of priorities, like a `Vec<Priority>`.
impl Wire for Vec<Priority> {
    fn wire_len(&self) -> usize {
        varint_len(self.len() as u64) + self.iter().map(Wire::wire_len).sum::<usize>()
    }

    fn write(&self, buf: &mut Vec<u8>) {
        put_varint(buf, self.len() as u64);
        for p in self {
            p.write(buf);
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        // Each priority takes at least two bytes (two varints).
        let (len, capacity) = r.seq_len(2)?;
        let mut out = Vec::with_capacity(capacity);
        for _ in 0..len {
            out.push(Priority::read(r)?);
        }
        Ok(out)
    }
}
wire_struct!(SnapshotMeta {
    index,
    term,
    membership
});
