//! The write-ahead log: one file of checksummed records, appended in order and synced.
//!
//! Record layout: `len: u32 LE | crc32c(payload): u32 LE | payload`, the payload a postcard
//! [`Record`]. One engine write of one group is one record, so a write is atomic: after a crash
//! it is either wholly there or wholly absent. All the groups of a node share the log: the
//! writes of one host step (one `HostWrite`, every group that wrote) are appended together and
//! synced once.
//!
//! Recovery reads records from the start and stops at the first one that is incomplete or fails
//! its checksum. If nothing but zero bytes follows it, it is a torn final write (the crash came
//! before its sync, so it was never acknowledged): it is dropped and the file truncated there.
//! A bad record followed by data is corruption of acknowledged writes, and recovery refuses.
//!
//! The log never grows without bound: after a compaction, once the log is twice what the last
//! rewrite left (and at least a few megabytes), the storage rewrites it as a short checkpoint
//! of every group ([`Wal::rewrite`]) in a temporary file renamed over the old one.

use sansraft::{Entry, HardState, SnapshotMeta};
use sansraft_multi::GroupId;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write as _};
use std::path::{Path, PathBuf};

/// Largest record accepted on recovery; a larger length field is corruption (or a torn header).
pub(crate) const MAX_RECORD_BYTES: usize = 256 << 20;
const HEADER_BYTES: usize = 8;

/// One logical change to durable state. Every record but `Boot` and `Groups` belongs to one
/// Raft group, named by its id: all the groups of a node share the one log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Record {
    /// The process started for the `incarnation`-th time (the engine's boot counter, shared by
    /// every group).
    Boot { incarnation: u64 },
    /// The number of groups the keys are sharded into, fixed when the data directory was
    /// created (`--groups`); the first record of every log.
    Groups { count: u64 },
    /// The application saved a snapshot of group `group`'s state machine (the file is already
    /// durable).
    Snapshot {
        group: GroupId,
        snapshot: SnapshotRecord,
    },
    /// One engine write of group `group`: install a received snapshot, replace the hard state,
    /// then truncate the log at the first entry's index and append the entries.
    Write {
        group: GroupId,
        install: Option<SnapshotRecord>,
        hard_state: Option<HardState>,
        entries: Vec<Entry>,
    },
}

/// A snapshot file's metadata, length and checksum.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SnapshotRecord {
    pub(crate) meta: SnapshotMeta,
    pub(crate) len: u64,
    pub(crate) crc32c: u32,
    /// Keep the log entries after `meta.index`; if false, the log is discarded.
    pub(crate) retain_log: bool,
}

/// Why the log could not be recovered or written.
#[derive(Debug)]
pub(crate) enum WalError {
    Io(io::Error),
    /// A bad record with data after it, at this byte offset.
    Corrupt {
        offset: u64,
    },
}

impl std::fmt::Display for WalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WalError::Io(e) => write!(f, "write-ahead log I/O: {e}"),
            WalError::Corrupt { offset } => write!(
                f,
                "write-ahead log corrupt at byte {offset} (a bad record followed by data)"
            ),
        }
    }
}

impl std::error::Error for WalError {}

impl From<io::Error> for WalError {
    fn from(e: io::Error) -> Self {
        WalError::Io(e)
    }
}

/// Appends the framed encoding of `record` to `out`.
pub(crate) fn encode_record(record: &Record, out: &mut Vec<u8>) {
    let payload = postcard::to_allocvec(record).expect("postcard encodes a Record");
    let len = u32::try_from(payload.len()).expect("a record fits in 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
}

/// What recovery found in a log file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Scan {
    pub(crate) records: Vec<Record>,
    /// Bytes of good records; anything after is a torn final write.
    pub(crate) valid_len: u64,
}

/// Decodes every good record of `bytes`, stopping at a torn tail.
pub(crate) fn scan(bytes: &[u8]) -> Result<Scan, WalError> {
    let mut records = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        match decode_at(&bytes[at..]) {
            Some((record, used)) => {
                records.push(record);
                at += used;
            }
            None if bytes[at..].iter().all(|&b| b == 0) || is_last_record(&bytes[at..]) => break,
            None => return Err(WalError::Corrupt { offset: at as u64 }),
        }
    }
    Ok(Scan {
        records,
        valid_len: at as u64,
    })
}

/// The record at the start of `bytes` and its framed length, if complete and intact.
fn decode_at(bytes: &[u8]) -> Option<(Record, usize)> {
    let header = bytes.get(..HEADER_BYTES)?;
    let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().ok()?);
    if len > MAX_RECORD_BYTES {
        return None;
    }
    let payload = bytes.get(HEADER_BYTES..HEADER_BYTES + len)?;
    if crc32c::crc32c(payload) != crc {
        return None;
    }
    let record = postcard::from_bytes(payload).ok()?;
    Some((record, HEADER_BYTES + len))
}

/// True if a bad record at the start of `bytes` is the file's last: its header is incomplete,
/// or its length field reaches the end of the file (or beyond).
fn is_last_record(bytes: &[u8]) -> bool {
    match bytes.get(..4) {
        None => true,
        Some(len) => {
            let len = u32::from_le_bytes(len.try_into().expect("four bytes")) as usize;
            HEADER_BYTES.saturating_add(len) >= bytes.len()
        }
    }
}

/// An open log file, positioned at its end.
#[derive(Debug)]
pub(crate) struct Wal {
    path: PathBuf,
    file: File,
    len: u64,
    /// Times each append's sync, for the metrics.
    fsync: crate::metrics::Fsync,
    /// Appends synced since opened.
    syncs: u64,
}

impl Wal {
    /// Opens (or creates) the log at `path`, recovers its records and cuts off a torn tail.
    pub(crate) fn open(path: &Path) -> Result<(Wal, Vec<Record>), WalError> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let scan = scan(&bytes)?;
        if scan.valid_len < bytes.len() as u64 {
            tracing::warn!(
                path = %path.display(),
                dropped_bytes = bytes.len() as u64 - scan.valid_len,
                "dropping a torn final record of the write-ahead log"
            );
            file.set_len(scan.valid_len)?;
            file.sync_all()?;
        }
        if let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
        let wal = Wal {
            path: path.to_owned(),
            file,
            len: scan.valid_len,
            fsync: Default::default(),
            syncs: 0,
        };
        Ok((wal, scan.records))
    }

    /// Appends framed records (from [`encode_record`]) and syncs them to disk.
    pub(crate) fn append_synced(&mut self, framed: &[u8]) -> io::Result<()> {
        self.file.write_all(framed)?;
        self.fsync.time(|| self.file.sync_data())?;
        self.syncs += 1;
        self.len += framed.len() as u64;
        Ok(())
    }

    /// Times each append's sync with `fsync` from now on.
    pub(crate) fn time_syncs(&mut self, fsync: crate::metrics::Fsync) {
        self.fsync = fsync;
    }

    /// Appends synced since the log was opened.
    #[cfg(test)]
    pub(crate) fn syncs(&self) -> u64 {
        self.syncs
    }

    /// Bytes in the file.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Replaces the whole log by `records`, atomically: written to a temporary file, synced,
    /// renamed over the log, and the directory synced.
    pub(crate) fn rewrite(&mut self, records: &[Record]) -> io::Result<()> {
        let mut framed = Vec::new();
        for record in records {
            encode_record(record, &mut framed);
        }
        let tmp = self.path.with_extension("tmp");
        {
            let mut file = File::create(&tmp)?;
            file.write_all(&framed)?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            sync_dir(dir)?;
        }
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.len = framed.len() as u64;
        Ok(())
    }
}

/// Makes a directory's entries (created, renamed, deleted files) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use sansraft::EntryKind;

    fn write(index: u64) -> Record {
        Record::Write {
            group: index % 3,
            install: None,
            hard_state: Some(HardState {
                term: 2,
                vote: Some(1),
                commit: index.saturating_sub(1),
            }),
            entries: vec![Entry {
                term: 2,
                index,
                kind: EntryKind::Normal,
                data: Bytes::from(vec![7u8; 40]),
            }],
        }
    }

    fn framed(records: &[Record]) -> (Vec<u8>, Vec<usize>) {
        let mut out = Vec::new();
        let mut ends = Vec::new();
        for r in records {
            encode_record(r, &mut out);
            ends.push(out.len());
        }
        (out, ends)
    }

    #[test]
    fn records_round_trip() {
        let records = vec![Record::Boot { incarnation: 3 }, write(1), write(2)];
        let (bytes, _) = framed(&records);
        let scan = scan(&bytes).expect("intact log");
        assert_eq!(scan.records, records);
        assert_eq!(scan.valid_len, bytes.len() as u64);
    }

    #[test]
    fn a_truncated_final_record_is_dropped_at_every_cut() {
        let records = vec![Record::Boot { incarnation: 1 }, write(1), write(2)];
        let (bytes, ends) = framed(&records);
        for cut in ends[1] + 1..bytes.len() {
            let scan = scan(&bytes[..cut]).expect("a torn tail is not corruption");
            assert_eq!(scan.records, records[..2], "cut at {cut}");
            assert_eq!(scan.valid_len, ends[1] as u64);
        }
    }

    #[test]
    fn a_corrupt_final_record_is_dropped_but_corruption_before_data_is_refused() {
        let records = vec![Record::Boot { incarnation: 1 }, write(1), write(2)];
        let (bytes, ends) = framed(&records);
        let mut last_bad = bytes.clone();
        last_bad[ends[2] - 3] ^= 0x40;
        assert_eq!(scan(&last_bad).expect("torn").records, records[..2]);

        let mut middle_bad = bytes.clone();
        middle_bad[ends[1] - 3] ^= 0x40;
        assert!(matches!(
            scan(&middle_bad),
            Err(WalError::Corrupt { offset }) if offset == ends[0] as u64
        ));
    }

    #[test]
    fn zeroes_after_the_last_record_are_a_torn_tail() {
        let records = vec![Record::Boot { incarnation: 1 }, write(1)];
        let (mut bytes, _) = framed(&records);
        let good = bytes.len() as u64;
        bytes.extend_from_slice(&[0u8; 4096]);
        let scan = scan(&bytes).expect("zero tail");
        assert_eq!(scan.records, records);
        assert_eq!(scan.valid_len, good);
    }

    #[test]
    fn open_truncates_the_torn_tail_and_appends_after_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("wal");
        let (bytes, ends) = framed(&[Record::Boot { incarnation: 1 }, write(1), write(2)]);
        std::fs::write(&path, &bytes[..ends[2] - 5]).expect("write log");
        let (mut wal, records) = Wal::open(&path).expect("recovers");
        assert_eq!(records.len(), 2);
        assert_eq!(wal.len(), ends[1] as u64);
        let mut more = Vec::new();
        encode_record(&write(2), &mut more);
        wal.append_synced(&more).expect("append");
        drop(wal);
        let (_, records) = Wal::open(&path).expect("reopens");
        assert_eq!(records.last(), Some(&write(2)));
        assert_eq!(records.len(), 3);
    }
}
