//! Durable storage on disk: the write-ahead log plus snapshot files, written by one thread in
//! the order the engine issued its writes, synced, then acknowledged.
//!
//! The data directory holds `wal` (see [`crate::wal`]), shared by every Raft group of the node,
//! and a directory `group-G` per group holding `snapshot-INDEX-TERM`, the latest snapshot of the
//! group's key-value map (and `partial-INDEX-TERM`, a snapshot being received). A snapshot file
//! is written and synced before the log record that names it, so a record never points at a
//! missing file. The storage thread keeps a mirror of every group's durable state (hard state,
//! latest snapshot, log) so that a compaction can rewrite the log as a checkpoint holding only
//! what is still needed.
//!
//! The number of groups is fixed when the data directory is created: it is the log's first
//! record, and opening the directory with another number is refused
//! ([`StorageError::GroupCount`]), since every key would then belong to another group.
//!
//! The application's own snapshots are encoded and written by a second thread, the snapshot
//! thread ([`crate::snapshot_writer`]): the node loop hands over a clone of the map (O(1): the
//! map is persistent), the snapshot thread encodes it, writes and syncs the file, and the
//! storage thread then appends the small record naming it. Neither the node loop's ticks nor the storage thread's
//! acknowledgements wait for a map of millions of keys to be encoded and written.

use crate::kv::Kv;
use crate::snapshot_writer::{written_snapshot, SnapshotWriter, Written};
use crate::wal::{encode_record, sync_dir, Record, SnapshotRecord, Wal, WalError};
use bytes::Bytes;
use sansraft::message::SnapshotChunk;
use sansraft::{
    Body, ChunkWrite, DurableState, Entry, HardState, Index, Membership, Message, SnapshotMeta,
};
use sansraft_multi::{GroupId, HostToken, HostWrite};
use std::io;
use std::path::{Path, PathBuf};

/// Why storage failed. Any failure stops the node: it cannot keep its durability promises.
#[derive(Debug)]
pub(crate) enum StorageError {
    Wal(WalError),
    Io {
        what: &'static str,
        path: PathBuf,
        error: io::Error,
    },
    /// The snapshot file named by the log is missing or does not match its checksum.
    BadSnapshotFile {
        path: PathBuf,
    },
    /// An install write arrived without the snapshot's bytes all received (a bug in the node
    /// loop or the engine).
    InstallWithoutData,
    /// A received snapshot, whole and checksummed by the engine's transfer, does not decode as
    /// a state machine at its index at install. Its last chunk was checked before the engine
    /// had it ([`Job::CheckLastChunk`]), and one that did not decode was refused then, so this
    /// means the partial file changed on disk in between.
    BadReceivedSnapshot {
        meta: Box<SnapshotMeta>,
        why: String,
    },
    /// The data directory was created with another number of groups than asked for now.
    GroupCount {
        created: u64,
        asked: u64,
    },
    /// The log does not start with its number of groups, or names a group beyond it.
    BadLayout,
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageError::Wal(e) => e.fmt(f),
            StorageError::Io { what, path, error } => {
                write!(f, "{what} {}: {error}", path.display())
            }
            StorageError::BadSnapshotFile { path } => write!(
                f,
                "snapshot file {} is missing or fails its checksum",
                path.display()
            ),
            StorageError::InstallWithoutData => f.write_str("install write without snapshot data"),
            StorageError::BadReceivedSnapshot { meta, why } => {
                let (index, term) = (meta.index, meta.term);
                write!(
                    f,
                    "received snapshot {index}@{term} is not a state machine: {why}"
                )
            }
            StorageError::GroupCount { created, asked } => write!(
                f,
                "the data directory was created with --groups {created}, not {asked}: the \
                 number of groups is fixed when a cluster is created (every key's group \
                 depends on it); start with --groups {created}"
            ),
            StorageError::BadLayout => f.write_str(
                "the write-ahead log does not start with its number of groups or names a group \
                 beyond it (a data directory of an older kv-tokio, or corruption)",
            ),
        }
    }
}

impl std::error::Error for StorageError {}

impl From<WalError> for StorageError {
    fn from(e: WalError) -> Self {
        StorageError::Wal(e)
    }
}

pub(crate) fn io_err<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> StorageError + 'a {
    move |error| StorageError::Io {
        what,
        path: path.to_owned(),
        error,
    }
}

/// Work for the storage thread, carried out strictly in the order sent.
#[derive(Debug)]
pub(crate) enum Job {
    /// Every group's writes of one host step, synced once (with whatever else is queued). A
    /// write that installs a received snapshot installs the partial snapshot file the chunks
    /// were written to.
    Write(HostWrite),
    /// Bytes of a snapshot being received by a group, appended to its partial file (not synced:
    /// a partial snapshot need not survive a crash).
    SnapshotChunk(GroupId, ChunkWrite),
    /// The engine gave up on the group's partial snapshot `(index, term)`, or the node loop
    /// refused it.
    DropPartialSnapshot {
        group: GroupId,
        index: Index,
        term: u64,
    },
    /// A snapshot's last chunk for a group, held back by the node loop: does it complete the
    /// partial snapshot into a map? Answered with [`Done::Checked`].
    CheckLastChunk(GroupId, Message),
    /// A group's state machine at `meta.index` (a clone sharing the live map's nodes), to be
    /// encoded and written by the snapshot thread.
    SaveSnapshot {
        group: GroupId,
        meta: SnapshotMeta,
        machine: Box<Kv>,
    },
    /// The engine allows deleting the group's log entries up to this index.
    Compact(GroupId, Index),
}

/// What the storage thread reports back to the node loop.
#[derive(Debug)]
pub(crate) enum Done {
    /// This host write and every earlier one is durable.
    Persisted(HostToken),
    /// This snapshot of the group is durable; its bytes (for chunk reads).
    SnapshotSaved(GroupId, SnapshotMeta, Bytes),
    /// A received snapshot is durable and decoded: the state machine it holds, and its bytes.
    /// Comes before the acknowledgement of the write that installs it.
    Installed {
        group: GroupId,
        meta: SnapshotMeta,
        machine: Box<Kv>,
        data: Bytes,
    },
    /// The answer to [`Job::CheckLastChunk`]: the message, and why the snapshot it completes
    /// is not a map (`None`: for the engine to judge as usual).
    Checked {
        group: GroupId,
        message: Message,
        undecodable: Option<String>,
    },
    /// Storage failed; nothing more will be written.
    Failed(StorageError),
}

/// What a starting node is rebuilt from.
#[derive(Debug)]
pub(crate) struct Recovered {
    /// This start's boot counter, already durable.
    pub(crate) incarnation: u64,
    /// Every group, in id order.
    pub(crate) groups: Vec<RecoveredGroup>,
}

/// What one group's replica is rebuilt from.
#[derive(Debug)]
pub(crate) struct RecoveredGroup {
    pub(crate) group: GroupId,
    pub(crate) state: DurableState,
    /// The bytes of `state.snapshot` (empty for the initial snapshot at index 0).
    pub(crate) snapshot: Bytes,
}

/// The on-disk store and its mirror of every group's durable state.
#[derive(Debug)]
pub(crate) struct Store {
    dir: PathBuf,
    wal: Wal,
    incarnation: u64,
    /// Group `g` is `groups[g]`.
    groups: Vec<GroupStore>,
    /// Bytes of log the last rewrite (or the start) left.
    checkpoint_bytes: u64,
}

/// A compaction rewrites the log only once it holds at least this many bytes and twice what the
/// last rewrite left: the rewrite copies every group's live log, so with many groups rewriting
/// at each group's compaction would copy all of them as often as any one compacts. So a byte
/// appended costs at most about one byte rewritten, whatever the number of groups, and the log
/// stays within about twice the live log (or this size).
const MIN_REWRITE_BYTES: u64 = 4 << 20;

/// One group's part of the store: its mirror and its snapshot files.
#[derive(Debug)]
struct GroupStore {
    /// `group-G` in the data directory: the group's snapshot files.
    dir: PathBuf,
    hard_state: HardState,
    snapshot: SnapshotRecord,
    /// The log; may start at or below the snapshot index until the next compaction.
    entries: Vec<Entry>,
    /// The snapshot being received, written to `partial-INDEX-TERM` as its chunks come.
    partial: Option<Partial>,
    /// The map decoded from a snapshot whose last chunk was checked, for its install.
    checked: Option<Checked>,
    /// Snapshot files older than this one may be deleted (after a compaction): the snapshot
    /// thread does it, off the path of acknowledgements.
    stale_before: Option<SnapshotMeta>,
}

/// A received snapshot decoded when its last chunk was checked.
#[derive(Debug)]
struct Checked {
    id: (Index, u64),
    machine: Box<Kv>,
    data: Bytes,
}

/// A snapshot being received: its file, and the length and checksum of what it holds.
#[derive(Debug)]
struct Partial {
    id: (Index, u64),
    file: std::fs::File,
    len: u64,
    crc32c: u32,
}

/// Where group `group`'s snapshot files are kept in the data directory `dir`.
pub(crate) fn group_dir(dir: &Path, group: GroupId) -> PathBuf {
    dir.join(format!("group-{group}"))
}

impl Store {
    /// Times each sync of the write-ahead log with `fsync` from now on.
    pub(crate) fn time_syncs(&mut self, fsync: crate::metrics::Fsync) {
        self.wal.time_syncs(fsync);
    }

    /// Opens the store in `dir`, creating it for a new member with `groups` groups, each with
    /// `bootstrap` as its initial configuration (with its preferred leader,
    /// [`crate::kv::initial_membership`]), and records a new boot. A store created with
    /// another number of groups is refused.
    pub(crate) fn open(
        dir: &Path,
        bootstrap: Membership,
        groups: u64,
    ) -> Result<(Store, Recovered), StorageError> {
        std::fs::create_dir_all(dir).map_err(io_err("creating data directory", dir))?;
        let (wal, records) = Wal::open(&dir.join("wal"))?;
        let mut store = Store {
            dir: dir.to_owned(),
            wal,
            incarnation: 0,
            groups: Vec::new(),
            checkpoint_bytes: 0,
        };
        let mut framed = Vec::new();
        match records.first() {
            None => {
                // A new member: the number of groups and each group's initial configuration
                // are durable state from the start.
                let mut initial = vec![Record::Groups { count: groups }];
                initial.extend((0..groups).map(|group| Record::Snapshot {
                    group,
                    snapshot: SnapshotRecord {
                        meta: SnapshotMeta {
                            index: 0,
                            term: 0,
                            membership: crate::kv::initial_membership(&bootstrap, group, groups),
                        },
                        len: 0,
                        crc32c: 0,
                        retain_log: true,
                    },
                }));
                for record in &initial {
                    store.apply(record)?;
                    encode_record(record, &mut framed);
                }
            }
            // A log of a kv-tokio before groups decodes as nonsense: refused, never misread.
            Some(&Record::Groups { count: 0 }) => return Err(StorageError::BadLayout),
            Some(&Record::Groups { count }) if count != groups => {
                return Err(StorageError::GroupCount {
                    created: count,
                    asked: groups,
                });
            }
            Some(Record::Groups { .. }) => {}
            Some(_) => return Err(StorageError::BadLayout),
        }
        for record in &records {
            store.apply(record)?;
        }
        for g in &store.groups {
            std::fs::create_dir_all(&g.dir).map_err(io_err("creating", &g.dir))?;
        }
        sync_dir(dir).map_err(io_err("syncing", dir))?;
        let boot = Record::Boot {
            incarnation: store.incarnation + 1,
        };
        store.apply(&boot)?;
        encode_record(&boot, &mut framed);
        let wal_path = dir.join("wal");
        store
            .wal
            .append_synced(&framed)
            .map_err(io_err("appending to", &wal_path))?;
        store.checkpoint_bytes = store.wal.len();
        let mut recovered = Recovered {
            incarnation: store.incarnation,
            groups: Vec::new(),
        };
        for (group, g) in (0..).zip(&store.groups) {
            let snapshot = g.read_snapshot()?;
            remove_stale_files(&g.dir, &g.snapshot.meta, true)?;
            let index = g.snapshot.meta.index;
            recovered.groups.push(RecoveredGroup {
                group,
                state: DurableState {
                    hard_state: g.hard_state,
                    snapshot: g.snapshot.meta.clone(),
                    entries: g
                        .entries
                        .iter()
                        .filter(|e| e.index > index)
                        .cloned()
                        .collect(),
                    applied: index,
                },
                snapshot,
            });
        }
        Ok((store, recovered))
    }

    fn group(&mut self, group: GroupId) -> Result<&mut GroupStore, StorageError> {
        usize::try_from(group)
            .ok()
            .and_then(|g| self.groups.get_mut(g))
            .ok_or(StorageError::BadLayout)
    }

    /// Carries out a batch of jobs in order, syncs once, and says what became durable.
    pub(crate) fn process(&mut self, jobs: Vec<Job>) -> Result<Vec<Done>, StorageError> {
        let mut framed = Vec::new();
        let mut persisted = None;
        let mut done = Vec::new();
        for job in jobs {
            match job {
                Job::Write(host_write) => {
                    for (group, write) in host_write.writes {
                        let install = match &write.install {
                            Some(install) => {
                                let (record, machine, data) =
                                    self.group(group)?.install_partial(install)?;
                                done.push(Done::Installed {
                                    group,
                                    meta: install.meta.clone(),
                                    machine,
                                    data,
                                });
                                Some(record)
                            }
                            None => None,
                        };
                        let record = Record::Write {
                            group,
                            install,
                            hard_state: write.hard_state,
                            entries: write.entries.into_vec(),
                        };
                        encode_record(&record, &mut framed);
                        self.apply(&record)?;
                    }
                    // kv-tokio never deletes a group: its host writes carry no tombstones.
                    debug_assert!(host_write.tombstones.is_empty());
                    persisted = Some(host_write.token);
                }
                Job::SaveSnapshot {
                    group,
                    meta,
                    machine,
                } => {
                    // Here, in order with the writes (the storage thread hands these to the
                    // snapshot thread instead; see `spawn`).
                    let dir = self.group(group)?.dir.clone();
                    let written = written_snapshot(&dir, group, meta, &machine)?;
                    done.extend(self.record_snapshot(written, &mut framed)?);
                }
                Job::Compact(group, upto) => {
                    self.flush(&mut framed)?;
                    self.compact(group, upto)?;
                }
                Job::SnapshotChunk(group, chunk) => self.group(group)?.write_chunk(&chunk)?,
                Job::DropPartialSnapshot { group, index, term } => {
                    let g = self.group(group)?;
                    g.checked = None;
                    if g.partial.as_ref().is_some_and(|p| p.id == (index, term)) {
                        g.drop_partial()?;
                    }
                }
                Job::CheckLastChunk(group, message) => {
                    let undecodable = match &message.body {
                        Body::SnapshotChunk(chunk) => self.group(group)?.check_last_chunk(chunk)?,
                        _ => None,
                    };
                    done.push(Done::Checked {
                        group,
                        message,
                        undecodable,
                    });
                }
            }
        }
        self.flush(&mut framed)?;
        done.extend(persisted.map(Done::Persisted));
        Ok(done)
    }

    /// Appends the record of a snapshot file written durably, unless a snapshot installed since
    /// supersedes it; says so if it was recorded.
    fn record_snapshot(
        &mut self,
        written: Written,
        framed: &mut Vec<u8>,
    ) -> Result<Option<Done>, StorageError> {
        let Written {
            group,
            record,
            data,
        } = written;
        if record.meta.index <= self.group(group)?.snapshot.meta.index {
            return Ok(None);
        }
        let meta = record.meta.clone();
        let record = Record::Snapshot {
            group,
            snapshot: record,
        };
        encode_record(&record, framed);
        self.apply(&record)?;
        Ok(Some(Done::SnapshotSaved(group, meta, data)))
    }

    fn flush(&mut self, framed: &mut Vec<u8>) -> Result<(), StorageError> {
        if !framed.is_empty() {
            let path = self.dir.join("wal");
            self.wal
                .append_synced(framed)
                .map_err(io_err("appending to", &path))?;
            framed.clear();
        }
        Ok(())
    }

    /// Replays one record onto the mirror.
    fn apply(&mut self, record: &Record) -> Result<(), StorageError> {
        match record {
            Record::Boot { incarnation } => self.incarnation = *incarnation,
            Record::Groups { count } => {
                if !self.groups.is_empty() {
                    return Err(StorageError::BadLayout);
                }
                self.groups = (0..*count)
                    .map(|group| GroupStore::new(group_dir(&self.dir, group)))
                    .collect();
            }
            Record::Snapshot { group, snapshot } => self.group(*group)?.snapshot = snapshot.clone(),
            Record::Write {
                group,
                install,
                hard_state,
                entries,
            } => {
                let g = self.group(*group)?;
                if let Some(install) = install {
                    g.snapshot = install.clone();
                    if install.retain_log {
                        g.entries.retain(|e| e.index > install.meta.index);
                    } else {
                        g.entries.clear();
                    }
                }
                if let Some(hard_state) = hard_state {
                    g.hard_state = *hard_state;
                }
                g.append(entries);
            }
        }
        Ok(())
    }

    /// Drops the group's entries up to `upto` and, once the log is large enough (see
    /// [`MIN_REWRITE_BYTES`]), rewrites it as a checkpoint of the mirror (every group's).
    fn compact(&mut self, group: GroupId, upto: Index) -> Result<(), StorageError> {
        // Wall-clock time, outside the engine: how long the rewrite took, for the log.
        let started = tokio::time::Instant::now();
        self.group(group)?.entries.retain(|e| e.index > upto);
        if self.wal.len() < MIN_REWRITE_BYTES.max(self.checkpoint_bytes.saturating_mul(2)) {
            return Ok(());
        }
        for g in &mut self.groups {
            // The log no longer names older snapshot files.
            g.stale_before = Some(g.snapshot.meta.clone());
        }
        let mut checkpoint = vec![
            Record::Groups {
                count: self.groups.len() as u64,
            },
            Record::Boot {
                incarnation: self.incarnation,
            },
        ];
        for (group, g) in (0..).zip(&self.groups) {
            checkpoint.push(Record::Snapshot {
                group,
                snapshot: g.snapshot.clone(),
            });
            checkpoint.push(Record::Write {
                group,
                install: None,
                hard_state: Some(g.hard_state),
                entries: g.entries.clone(),
            });
        }
        let path = self.dir.join("wal");
        self.wal
            .rewrite(&checkpoint)
            .map_err(io_err("rewriting", &path))?;
        self.checkpoint_bytes = self.wal.len();
        tracing::info!(
            group,
            upto,
            bytes = self.wal.len(),
            ms = started.elapsed().as_millis() as u64,
            "log compacted"
        );
        Ok(())
    }

    /// The groups whose snapshot files before the given one are stale, if a compaction made
    /// them so since last asked.
    fn take_stale_before(&mut self) -> Vec<(GroupId, SnapshotMeta)> {
        (0..)
            .zip(&mut self.groups)
            .filter_map(|(group, g)| Some((group, g.stale_before.take()?)))
            .collect()
    }

    /// Bytes of log on disk.
    #[cfg(test)]
    pub(crate) fn wal_bytes(&self) -> u64 {
        self.wal.len()
    }
}

impl GroupStore {
    fn new(dir: PathBuf) -> GroupStore {
        GroupStore {
            dir,
            hard_state: HardState::default(),
            snapshot: SnapshotRecord::default(),
            entries: Vec::new(),
            partial: None,
            checked: None,
            stale_before: None,
        }
    }

    /// Deletes every entry at or after the first new entry's index, then appends.
    fn append(&mut self, new: &[Entry]) {
        let Some(first) = new.first() else { return };
        match self.entries.first() {
            Some(base) if first.index >= base.index => {
                self.entries.truncate((first.index - base.index) as usize);
            }
            _ => self.entries.clear(),
        }
        self.entries.extend_from_slice(new);
    }

    /// Appends a received chunk to the partial snapshot file; offset 0 starts a new one. A chunk
    /// that does not continue the partial snapshot is ignored (the engine resends from where
    /// the follower says it is).
    fn write_chunk(&mut self, chunk: &ChunkWrite) -> Result<(), StorageError> {
        use std::io::Write as _;
        let id = (chunk.index, chunk.term);
        if chunk.offset == 0 {
            self.drop_partial()?;
            let path = self.partial_path(id);
            let file = std::fs::File::create(&path).map_err(io_err("creating", &path))?;
            self.partial = Some(Partial {
                id,
                file,
                len: 0,
                crc32c: 0,
            });
        }
        let path = self.partial_path(id);
        match &mut self.partial {
            Some(p) if p.id == id && p.len == chunk.offset => {
                p.file
                    .write_all(&chunk.data)
                    .map_err(io_err("writing", &path))?;
                p.len += chunk.data.len() as u64;
                p.crc32c = crc32c::crc32c_append(p.crc32c, &chunk.data);
            }
            _ => tracing::warn!(
                index = chunk.index,
                offset = chunk.offset,
                "snapshot chunk does not continue the partial snapshot; ignored"
            ),
        }
        Ok(())
    }

    /// Checks a snapshot's last chunk before the engine sees it: if it completes the partial
    /// snapshot and matches the transfer's checksum, the whole is decoded; the map is kept for
    /// the install, or the reason it is not a map at its index returned. A chunk that does not
    /// continue the partial snapshot, or a checksum mismatch, is for the engine to judge.
    fn check_last_chunk(&mut self, chunk: &SnapshotChunk) -> Result<Option<String>, StorageError> {
        use std::io::Read as _;
        self.checked = None;
        let id = (chunk.index, chunk.term);
        let mut data = Vec::new();
        if chunk.offset > 0 {
            let Some(p) = self
                .partial
                .as_ref()
                .filter(|p| p.id == id && p.len == chunk.offset)
            else {
                return Ok(None);
            };
            if crc32c::crc32c_append(p.crc32c, &chunk.data) != chunk.crc32c {
                return Ok(None);
            }
            let path = self.partial_path(id);
            let len = usize::try_from(p.len).unwrap_or(usize::MAX);
            data.reserve_exact(len.saturating_add(chunk.data.len()));
            std::fs::File::open(&path)
                .and_then(|mut file| file.read_to_end(&mut data))
                .map_err(io_err("reading", &path))?;
            if data.len() != len {
                return Err(StorageError::Io {
                    what: "reading",
                    path,
                    error: io::Error::new(io::ErrorKind::UnexpectedEof, "partial snapshot cut"),
                });
            }
        } else if crc32c::crc32c(&chunk.data) != chunk.crc32c {
            return Ok(None);
        }
        data.extend_from_slice(&chunk.data);
        let data = Bytes::from(data);
        match decode_received(&data, chunk.index) {
            Ok(machine) => {
                self.checked = Some(Checked {
                    id,
                    machine: Box::new(machine),
                    data,
                });
                Ok(None)
            }
            Err(why) => Ok(Some(why)),
        }
    }

    /// Deletes the partial snapshot, if any.
    fn drop_partial(&mut self) -> Result<(), StorageError> {
        if let Some(p) = self.partial.take() {
            let path = self.partial_path(p.id);
            drop(p.file);
            std::fs::remove_file(&path).map_err(io_err("removing", &path))?;
        }
        Ok(())
    }

    fn partial_path(&self, (index, term): (Index, u64)) -> PathBuf {
        self.dir.join(format!("partial-{index}-{term}"))
    }

    /// Makes the partial snapshot `install` names the latest snapshot file (sync, rename,
    /// directory sync) and decodes the state machine it holds. The node loop is not held up:
    /// this runs on the storage thread, before the install write is acknowledged, and the
    /// engine applies nothing after the snapshot until then.
    fn install_partial(
        &mut self,
        install: &sansraft::SnapshotInstall,
    ) -> Result<(SnapshotRecord, Box<Kv>, Bytes), StorageError> {
        let meta = &install.meta;
        let partial = match self.partial.take() {
            Some(p) if p.id == (meta.index, meta.term) => p,
            other => {
                self.partial = other;
                return Err(StorageError::InstallWithoutData);
            }
        };
        let from = self.partial_path(partial.id);
        let to = self.snapshot_path(meta);
        let keep = || -> io::Result<()> {
            partial.file.sync_all()?;
            std::fs::rename(&from, &to)?;
            sync_dir(&self.dir)
        };
        keep().map_err(io_err("installing snapshot", &to))?;
        let checked = self
            .checked
            .take()
            .filter(|c| c.id == partial.id && c.data.len() as u64 == partial.len);
        let (machine, data) = match checked {
            // The usual case: decoded when the last chunk was checked.
            Some(c) => (c.machine, c.data),
            None => {
                let data = Bytes::from(std::fs::read(&to).map_err(io_err("reading", &to))?);
                let machine = decode_received(&data, meta.index).map_err(|why| {
                    StorageError::BadReceivedSnapshot {
                        meta: Box::new(meta.clone()),
                        why,
                    }
                })?;
                (Box::new(machine), data)
            }
        };
        tracing::info!(
            index = meta.index,
            term = meta.term,
            bytes = data.len(),
            "installing snapshot"
        );
        let record = SnapshotRecord {
            meta: meta.clone(),
            len: partial.len,
            crc32c: partial.crc32c,
            retain_log: install.retain_log,
        };
        Ok((record, machine, data))
    }

    fn snapshot_path(&self, meta: &SnapshotMeta) -> PathBuf {
        snapshot_path(&self.dir, meta)
    }

    /// The latest snapshot's bytes, checked against the log's record of them.
    fn read_snapshot(&self) -> Result<Bytes, StorageError> {
        if self.snapshot.meta.index == 0 {
            return Ok(Bytes::new());
        }
        let path = self.snapshot_path(&self.snapshot.meta);
        match std::fs::read(&path) {
            Ok(data)
                if data.len() as u64 == self.snapshot.len
                    && crc32c::crc32c(&data) == self.snapshot.crc32c =>
            {
                Ok(Bytes::from(data))
            }
            Ok(_) => Err(StorageError::BadSnapshotFile { path }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StorageError::BadSnapshotFile { path })
            }
            Err(e) => Err(io_err("reading snapshot", &path)(e)),
        }
    }
}

/// The map a received snapshot at `index` holds, or why it holds none.
fn decode_received(data: &[u8], index: Index) -> Result<Kv, String> {
    let machine = crate::kv::restore(data, index).map_err(|e| e.to_string())?;
    if machine.applied() != index {
        return Err(format!("its map is at index {}", machine.applied()));
    }
    Ok(machine)
}

/// Deletes the snapshot files in `dir` older than `current`, with their temporary files, and
/// with `newer_too` the newer ones and partial snapshots as well (see
/// [`Store::remove_stale_files`]).
pub(crate) fn remove_stale_files(
    dir: &Path,
    current: &SnapshotMeta,
    newer_too: bool,
) -> Result<(), StorageError> {
    let entries = std::fs::read_dir(dir).map_err(io_err("listing", dir))?;
    for entry in entries {
        let entry = entry.map_err(io_err("listing", dir))?;
        let name = entry.file_name();
        let text = name.to_string_lossy();
        if text.starts_with("partial-") {
            // A partial snapshot of an earlier run: never resumed.
            if newer_too {
                let path = entry.path();
                std::fs::remove_file(&path).map_err(io_err("removing", &path))?;
            }
            continue;
        }
        let Some(rest) = text.strip_prefix("snapshot-") else {
            continue;
        };
        let (position, tmp) = match rest.strip_suffix(".tmp") {
            Some(position) => (position, true),
            None => (rest, false),
        };
        let parsed = position.split_once('-').and_then(|(index, term)| {
            Some((index.parse::<Index>().ok()?, term.parse::<u64>().ok()?))
        });
        let stale = match parsed {
            Some((index, term)) => {
                let newer = index > current.index;
                let is_current = (index, term) == (current.index, current.term) && !tmp;
                !is_current && (!newer || newer_too)
            }
            None => true,
        };
        if stale {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(io_err("removing", &path))?;
        }
    }
    Ok(())
}

/// Where the snapshot `meta` is kept in `dir`.
pub(crate) fn snapshot_path(dir: &Path, meta: &SnapshotMeta) -> PathBuf {
    dir.join(format!("snapshot-{}-{}", meta.index, meta.term))
}

/// How long the storage thread waits for a job before it looks for snapshots written.
const SNAPSHOT_POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// A batch of jobs that takes this long is logged (at debug level).
const SLOW_BATCH: std::time::Duration = std::time::Duration::from_millis(50);

/// Runs the storage thread until the node loop hangs up: takes every job queued, carries them
/// out in order with one sync, and reports back. The application's snapshots go to the snapshot
/// thread, which this thread starts and stops; their records are appended as they come back.
pub(crate) fn spawn(
    mut store: Store,
    jobs: std::sync::mpsc::Receiver<Job>,
    done: tokio::sync::mpsc::UnboundedSender<Done>,
) -> io::Result<std::thread::JoinHandle<()>> {
    use std::sync::mpsc::RecvTimeoutError;
    let snapshots = SnapshotWriter::spawn(store.dir.clone())?;
    std::thread::Builder::new()
        .name("storage".into())
        .spawn(move || loop {
            let mut batch = match jobs.recv_timeout(SNAPSHOT_POLL) {
                Ok(job) => vec![job],
                Err(RecvTimeoutError::Timeout) => Vec::new(),
                Err(RecvTimeoutError::Disconnected) => return,
            };
            batch.extend(jobs.try_iter().take(1023));
            let started = tokio::time::Instant::now();
            let count = batch.len();
            let (mine, theirs): (Vec<Job>, Vec<Job>) = batch
                .into_iter()
                .partition(|job| !matches!(job, Job::SaveSnapshot { .. }));
            for job in theirs {
                if let Job::SaveSnapshot {
                    group,
                    meta,
                    machine,
                } = job
                {
                    snapshots.save(group, meta, machine);
                }
            }
            let reports = store
                .process(mine)
                .and_then(|mut reports| {
                    let mut framed = Vec::new();
                    for written in snapshots.written() {
                        reports.extend(store.record_snapshot(written?, &mut framed)?);
                    }
                    store.flush(&mut framed)?;
                    Ok(reports)
                })
                .inspect(|_| {
                    for (group, current) in store.take_stale_before() {
                        snapshots.remove_stale(group, current);
                    }
                })
                .unwrap_or_else(|e| vec![Done::Failed(e)]);
            let took = started.elapsed();
            if took >= SLOW_BATCH {
                tracing::debug!(
                    jobs = count,
                    ms = took.as_millis() as u64,
                    "slow storage batch"
                );
            }
            for report in reports {
                let failed = matches!(report, Done::Failed(_));
                if done.send(report).is_err() || failed {
                    return;
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansraft::{EntryKind, Write, WriteToken};

    fn entry(index: Index, term: u64) -> Entry {
        Entry {
            term,
            index,
            kind: EntryKind::Normal,
            data: Bytes::from(format!("e{index}")),
        }
    }

    /// A host write of group writes `(group, write)`.
    fn host_write(seq: u64, writes: Vec<(GroupId, Write)>) -> Job {
        Job::Write(HostWrite {
            token: HostToken {
                incarnation: 1,
                seq,
            },
            writes,
            tombstones: Vec::new(),
        })
    }

    fn group_write(seq: u64, term: u64, entries: Vec<Entry>) -> Write {
        Write {
            token: WriteToken {
                incarnation: 1,
                seq,
            },
            install: None,
            hard_state: Some(HardState {
                term,
                vote: Some(1),
                commit: 0,
            }),
            entries: entries.into(),
        }
    }

    /// A host write holding one write of group 0.
    fn write(seq: u64, term: u64, entries: Vec<Entry>) -> Job {
        host_write(seq, vec![(0, group_write(seq, term, entries))])
    }

    fn chunk(meta: &SnapshotMeta, offset: usize, data: &[u8]) -> Job {
        Job::SnapshotChunk(
            0,
            ChunkWrite {
                index: meta.index,
                term: meta.term,
                offset: offset as u64,
                data: Bytes::copy_from_slice(data),
            },
        )
    }

    fn install(seq: u64, meta: &SnapshotMeta) -> Job {
        let write = Write {
            token: WriteToken {
                incarnation: 1,
                seq,
            },
            install: Some(Box::new(sansraft::SnapshotInstall {
                meta: meta.clone(),
                retain_log: false,
            })),
            hard_state: Some(HardState {
                term: meta.term,
                vote: None,
                commit: meta.index,
            }),
            entries: sansraft::Entries::new(),
        };
        host_write(seq, vec![(0, write)])
    }

    /// Group 0's directory in `dir`.
    fn g0(dir: &Path) -> PathBuf {
        group_dir(dir, 0)
    }

    fn voters() -> Membership {
        Membership::with_voters([1, 2, 3])
    }

    /// The snapshot a leader sends in the install tests.
    fn received() -> SnapshotMeta {
        SnapshotMeta {
            index: 50,
            term: 3,
            membership: voters(),
        }
    }

    fn positions(state: &DurableState) -> Vec<(Index, u64)> {
        state.entries.iter().map(|e| (e.index, e.term)).collect()
    }

    #[test]
    fn a_restart_recovers_term_vote_log_and_boot_count() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut store, first) = Store::open(dir.path(), voters(), 1).expect("fresh store");
        assert_eq!(first.incarnation, 1);
        assert_eq!(first.groups[0].state.snapshot.membership, voters());
        let acks = store
            .process(vec![
                write(1, 1, (1..=3).map(|i| entry(i, 1)).collect()),
                // A new leader overwrites the conflicting suffix from index 2.
                write(2, 2, vec![entry(2, 2)]),
            ])
            .expect("writes");
        assert!(matches!(acks[..], [Done::Persisted(t)] if t.seq == 2));
        drop(store);
        let (_, again) = Store::open(dir.path(), Membership::default(), 1).expect("reopens");
        assert_eq!(again.incarnation, 2);
        assert_eq!(again.groups[0].state.hard_state.term, 2);
        assert_eq!(again.groups[0].state.hard_state.vote, Some(1));
        assert_eq!(positions(&again.groups[0].state), vec![(1, 1), (2, 2)]);
        // The bootstrap configuration came from disk, not from the argument.
        assert_eq!(again.groups[0].state.snapshot.membership, voters());
    }

    #[test]
    fn a_torn_final_write_is_dropped_on_recovery() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut store, _) = Store::open(dir.path(), voters(), 1).expect("fresh store");
        store
            .process(vec![write(1, 1, vec![entry(1, 1), entry(2, 1)])])
            .expect("first write");
        store
            .process(vec![write(2, 1, vec![entry(3, 1)])])
            .expect("second write");
        drop(store);
        let wal = dir.path().join("wal");
        let len = std::fs::metadata(&wal).expect("wal").len();
        // The crash tore the last write: cut it short by a few bytes.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&wal)
            .expect("open");
        file.set_len(len - 4).expect("truncate");
        drop(file);
        let (_, recovered) = Store::open(dir.path(), voters(), 1).expect("recovers");
        assert_eq!(positions(&recovered.groups[0].state), vec![(1, 1), (2, 1)]);
    }

    #[test]
    fn snapshots_and_compaction_survive_a_restart() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut store, _) = Store::open(dir.path(), voters(), 1).expect("fresh store");
        store
            .process(vec![write(1, 1, (1..=10).map(|i| entry(i, 1)).collect())])
            .expect("write");
        let meta = SnapshotMeta {
            index: 8,
            term: 1,
            membership: voters(),
        };
        let machine = Kv::from_parts(8, vec![("k".into(), Bytes::from("v"))], Vec::new(), 16)
            .expect("a valid machine");
        let data = machine.snapshot();
        let done = store
            .process(vec![
                Job::SaveSnapshot {
                    group: 0,
                    meta: meta.clone(),
                    machine: Box::new(machine),
                },
                Job::Compact(0, 6),
                write(2, 1, vec![entry(11, 1)]),
            ])
            .expect("snapshot, compaction, write");
        assert!(matches!(&done[0], Done::SnapshotSaved(0, m, d) if *m == meta && *d == data));
        assert!(
            store.groups[0].entries.iter().all(|e| e.index > 6),
            "compacted"
        );
        let before = store.wal_bytes();
        drop(store);
        let (store, recovered) = Store::open(dir.path(), voters(), 1).expect("reopens");
        assert!(store.wal_bytes() > before, "a boot record was appended");
        assert_eq!(recovered.groups[0].state.snapshot, meta);
        assert_eq!(recovered.groups[0].snapshot, data);
        assert_eq!(recovered.groups[0].state.applied, 8);
        assert_eq!(
            positions(&recovered.groups[0].state),
            vec![(9, 1), (10, 1), (11, 1)]
        );
        drop(store);
    }

    #[test]
    fn an_installed_snapshot_replaces_the_log_and_a_bad_file_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut store, _) = Store::open(dir.path(), voters(), 1).expect("fresh store");
        store
            .process(vec![write(1, 1, vec![entry(1, 1)])])
            .expect("write");
        let meta = received();
        let machine = Kv::from_parts(
            50,
            vec![("k".into(), Bytes::from("v"))],
            Vec::new(),
            sansraft_kv::DEFAULT_MAX_SESSIONS,
        )
        .expect("a valid machine");
        let data = machine.snapshot();
        let (head, tail) = data.split_at(data.len() / 2);
        let done = store
            .process(vec![
                chunk(&meta, 0, head),
                // Does not continue the partial snapshot: ignored.
                chunk(&meta, 1, b"x"),
                chunk(&meta, head.len(), tail),
                install(2, &meta),
            ])
            .expect("install");
        assert!(matches!(
            &done[0],
            Done::Installed { meta: m, machine: k, data: d, .. } if *m == meta && **k == machine && *d == data
        ));
        assert!(matches!(done[1], Done::Persisted(t) if t.seq == 2));
        drop(store);
        let (_, recovered) = Store::open(dir.path(), voters(), 1).expect("reopens");
        assert_eq!(recovered.groups[0].state.snapshot, meta);
        assert!(recovered.groups[0].state.entries.is_empty());
        assert_eq!(recovered.groups[0].snapshot, data);

        std::fs::write(g0(dir.path()).join("snapshot-50-3"), b"leader statf").expect("corrupt");
        assert!(matches!(
            Store::open(dir.path(), voters(), 1),
            Err(StorageError::BadSnapshotFile { .. })
        ));
    }

    #[test]
    fn a_received_snapshot_that_is_not_a_map_or_was_never_received_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut store, _) = Store::open(dir.path(), voters(), 1).expect("fresh store");
        let meta = received();
        assert!(matches!(
            store.process(vec![install(1, &meta)]),
            Err(StorageError::InstallWithoutData)
        ));
        assert!(matches!(
            store.process(vec![chunk(&meta, 0, b"not a map"), install(1, &meta)]),
            Err(StorageError::BadReceivedSnapshot { .. })
        ));
    }

    #[test]
    fn a_dropped_or_interrupted_partial_snapshot_leaves_no_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut store, _) = Store::open(dir.path(), voters(), 1).expect("fresh store");
        let meta = received();
        let partial = g0(dir.path()).join("partial-50-3");
        store.process(vec![chunk(&meta, 0, b"abc")]).expect("chunk");
        assert!(partial.exists());
        store
            .process(vec![Job::DropPartialSnapshot {
                group: 0,
                index: 50,
                term: 3,
            }])
            .expect("drop");
        assert!(!partial.exists());
        store.process(vec![chunk(&meta, 0, b"abc")]).expect("chunk");
        drop(store);
        Store::open(dir.path(), voters(), 1).expect("reopens");
        assert!(
            !partial.exists(),
            "a restart removes an interrupted partial snapshot"
        );
    }

    /// A leader's last chunk of `meta` at `offset`, with the crc32c of `whole`.
    fn last_chunk(meta: &SnapshotMeta, offset: usize, whole: &[u8]) -> Message {
        Message {
            from: 2,
            to: 1,
            term: meta.term,
            body: Body::SnapshotChunk(Box::new(SnapshotChunk {
                index: meta.index,
                term: meta.term,
                offset: offset as u64,
                data: Bytes::copy_from_slice(&whole[offset..]),
                done: true,
                membership: (offset == 0).then(voters),
                crc32c: crc32c::crc32c(whole),
            })),
        }
    }

    fn checked(done: &[Done]) -> Option<&Option<String>> {
        match done {
            [Done::Checked { undecodable, .. }] => Some(undecodable),
            _ => None,
        }
    }

    #[test]
    fn a_last_chunk_that_completes_no_map_is_reported_and_a_good_one_decoded_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut store, _) = Store::open(dir.path(), voters(), 1).expect("fresh store");
        let meta = received();
        let garbage = b"checksummed, but not a map".to_vec();
        let done = store
            .process(vec![
                chunk(&meta, 0, &garbage[..5]),
                Job::CheckLastChunk(0, last_chunk(&meta, 5, &garbage)),
            ])
            .expect("checked");
        assert!(
            matches!(checked(&done), Some(Some(why)) if !why.is_empty()),
            "{done:?}"
        );
        // The node loop refuses it: the partial file goes.
        store
            .process(vec![Job::DropPartialSnapshot {
                group: 0,
                index: 50,
                term: 3,
            }])
            .expect("drop");
        assert!(!g0(dir.path()).join("partial-50-3").exists());

        // A chunk that does not continue the partial snapshot, or fails the checksum, is left
        // to the engine.
        let done = store
            .process(vec![Job::CheckLastChunk(0, last_chunk(&meta, 5, &garbage))])
            .expect("checked");
        assert!(matches!(checked(&done), Some(None)), "{done:?}");
        let mut bad_crc = last_chunk(&meta, 0, &garbage);
        if let Body::SnapshotChunk(c) = &mut bad_crc.body {
            c.crc32c ^= 1;
        }
        let done = store
            .process(vec![Job::CheckLastChunk(0, bad_crc)])
            .expect("checked");
        assert!(matches!(checked(&done), Some(None)), "{done:?}");

        // A map: checked, then installed from what the check decoded.
        let machine = Kv::from_parts(
            50,
            vec![("k".into(), Bytes::from("v"))],
            Vec::new(),
            sansraft_kv::DEFAULT_MAX_SESSIONS,
        )
        .expect("a valid machine");
        let data = machine.snapshot();
        let half = data.len() / 2;
        let done = store
            .process(vec![
                chunk(&meta, 0, &data[..half]),
                Job::CheckLastChunk(0, last_chunk(&meta, half, &data)),
            ])
            .expect("checked");
        assert!(matches!(checked(&done), Some(None)), "{done:?}");
        assert!(store.groups[0].checked.is_some(), "the decoded map is kept");
        let done = store
            .process(vec![chunk(&meta, half, &data[half..]), install(2, &meta)])
            .expect("install");
        assert!(matches!(
            &done[0],
            Done::Installed { machine: k, data: d, .. } if **k == machine && *d == data
        ));
        assert!(store.groups[0].checked.is_none());
    }

    #[test]
    fn every_groups_writes_of_a_host_write_share_one_sync_and_come_back_apart() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut store, first) = Store::open(dir.path(), voters(), 3).expect("fresh store");
        assert_eq!(first.groups.len(), 3);
        let syncs = store.wal.syncs();
        let done = store
            .process(vec![host_write(
                1,
                vec![
                    (2, group_write(1, 1, vec![entry(1, 1), entry(2, 1)])),
                    (0, group_write(1, 4, vec![entry(1, 4)])),
                    (2, group_write(2, 1, vec![entry(3, 1)])),
                ],
            )])
            .expect("one host write");
        assert!(matches!(done[..], [Done::Persisted(t)] if t.seq == 1));
        assert_eq!(store.wal.syncs(), syncs + 1, "one sync");
        store.process(vec![Job::Compact(1, 0)]).expect("compaction");
        drop(store);
        let (_, again) = Store::open(dir.path(), voters(), 3).expect("reopens");
        let logs: Vec<_> = again.groups.iter().map(|g| positions(&g.state)).collect();
        assert_eq!(logs, [vec![(1, 4)], vec![], vec![(1, 1), (2, 1), (3, 1)]]);
        assert_eq!(again.groups[0].state.hard_state.term, 4);
        assert!((0..3).all(|g| group_dir(dir.path(), g).is_dir()));
    }

    #[test]
    fn a_compaction_rewrites_the_log_only_once_it_has_doubled() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut store, _) = Store::open(dir.path(), voters(), 2).expect("fresh store");
        let big = |index: Index| Entry {
            data: Bytes::from(vec![7; 100 << 10]),
            ..entry(index, 1)
        };
        store
            .process(vec![write(1, 1, vec![entry(1, 1), entry(2, 1)])])
            .expect("write");
        let small = store.wal_bytes();
        store.process(vec![Job::Compact(0, 1)]).expect("compaction");
        assert_eq!(store.wal_bytes(), small, "a small log is not rewritten");
        assert_eq!(store.groups[0].entries.len(), 1, "the mirror is compacted");
        store
            .process(vec![write(2, 1, (3..=60).map(big).collect())])
            .expect("5.8 MB");
        store
            .process(vec![Job::Compact(0, 59)])
            .expect("compaction");
        assert!(store.wal_bytes() < 200 << 10, "{} bytes", store.wal_bytes());
        assert_eq!(
            store.take_stale_before().len(),
            2,
            "every group's old files are stale"
        );
        drop(store);
        let (_, again) = Store::open(dir.path(), voters(), 2).expect("reopens");
        assert_eq!(positions(&again.groups[0].state), vec![(60, 1)]);
    }

    #[test]
    fn a_data_directory_refuses_another_number_of_groups() {
        let dir = tempfile::tempdir().expect("temp dir");
        Store::open(dir.path(), voters(), 8).expect("fresh store");
        let refused = Store::open(dir.path(), voters(), 1).expect_err("refused");
        assert!(
            matches!(
                refused,
                StorageError::GroupCount {
                    created: 8,
                    asked: 1
                }
            ),
            "{refused:?}"
        );
        assert!(refused.to_string().contains("--groups 8"), "{refused}");
        Store::open(dir.path(), voters(), 8).expect("the same number opens");
        // A log written before groups (its first record a snapshot record of that format).
        let old = tempfile::tempdir().expect("temp dir");
        let mut framed = Vec::new();
        let legacy = (1u8, SnapshotRecord::default());
        let payload = postcard::to_allocvec(&legacy).expect("encodes");
        framed.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        framed.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        framed.extend_from_slice(&payload);
        std::fs::write(old.path().join("wal"), framed).expect("write");
        assert!(matches!(
            Store::open(old.path(), voters(), 1),
            Err(StorageError::BadLayout)
        ));
    }
}
