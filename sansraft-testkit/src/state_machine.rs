//! The cluster driver's state machine: the list of applied entries, and its snapshot formats.

use bytes::Bytes;
use sansraft::{Entry, EntryKind};

/// How the cluster driver's state machine writes its snapshots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SnapshotFormat {
    /// Each payload length-prefixed ([`encode_applied`]): a restored state machine has the
    /// applied payloads one by one.
    #[default]
    Framed,
    /// The payloads concatenated: a restored state machine has them as one payload (the
    /// scripted tests print the state machine as one string).
    Concatenated,
}

impl SnapshotFormat {
    /// The snapshot of a state machine that applied `applied`.
    pub fn encode(self, applied: &[Entry]) -> Bytes {
        match self {
            SnapshotFormat::Framed => encode_applied(applied),
            SnapshotFormat::Concatenated => Bytes::from(
                applied
                    .iter()
                    .flat_map(|e| e.data.iter().copied())
                    .collect::<Vec<u8>>(),
            ),
        }
    }

    /// The state machine restored from `snapshot`.
    pub fn decode(self, snapshot: &[u8]) -> Vec<Entry> {
        match self {
            SnapshotFormat::Framed => decode_applied(snapshot),
            SnapshotFormat::Concatenated if snapshot.is_empty() => Vec::new(),
            SnapshotFormat::Concatenated => vec![payload(Bytes::copy_from_slice(snapshot))],
        }
    }
}

/// A restored payload: an entry at index 0.
fn payload(data: Bytes) -> Entry {
    Entry {
        term: 0,
        index: 0,
        kind: EntryKind::Normal,
        data,
    }
}

/// The snapshot of a state machine that applied `applied`: every non-empty payload,
/// length-prefixed.
pub fn encode_applied(applied: &[Entry]) -> Bytes {
    let mut out = Vec::new();
    for e in applied.iter().filter(|e| !e.data.is_empty()) {
        out.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&e.data);
    }
    Bytes::from(out)
}

/// The inverse of [`encode_applied`]: the payloads, as entries at index 0. Bytes that are not
/// such a snapshot (a forged one, in bad-input tests) end the list.
pub fn decode_applied(mut bytes: &[u8]) -> Vec<Entry> {
    let mut out = Vec::new();
    while let Some((len, rest)) = bytes.split_first_chunk::<4>() {
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len {
            break;
        }
        out.push(payload(Bytes::copy_from_slice(&rest[..len])));
        bytes = &rest[len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_round_trip_and_garbage_ends_the_list() {
        let entry = |data: &'static [u8]| payload(Bytes::from_static(data));
        let applied = [entry(b"a"), entry(b""), entry(b"bc")];
        let bytes = encode_applied(&applied);
        assert_eq!(decode_applied(&bytes), [entry(b"a"), entry(b"bc")]);
        let mut forged = bytes.to_vec();
        forged.extend_from_slice(&[9, 0, 0, 0, 1]);
        assert_eq!(decode_applied(&forged).len(), 2);
        let flat = SnapshotFormat::Concatenated;
        assert_eq!(flat.decode(&flat.encode(&applied)), [entry(b"abc")]);
        assert!(flat.decode(&[]).is_empty());
    }
}
