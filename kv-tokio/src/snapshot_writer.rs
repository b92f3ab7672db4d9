//! The snapshot thread: encodes the application's state machine and writes it to a snapshot
//! file, durably, off the node loop and off the storage thread.
//!
//! The node loop hands over a clone of the map (O(1): the map is persistent); this thread
//! encodes it, writes and syncs the file in paced pieces, drops the clone (freeing the map's
//! nodes that the node loop has replaced since) and sends the written file back to the storage
//! thread, which appends the small record naming it. After a compaction it also deletes the
//! snapshot files the log no longer names.
//!
//! The thread runs at the lowest scheduling priority (nice 19, on Linux): a snapshot of a large
//! map is seconds of work that can wait, while the node loops, storage threads and clients
//! sharing the cores must not, or a node misses its election timeout. Under CFS a nice-19
//! thread gets about 1.5 % of a core that nice-0 threads want, and all of an idle one.

use crate::kv::Kv;
use crate::storage::{group_dir, io_err, remove_stale_files, snapshot_path, StorageError};
use crate::wal::{sync_dir, SnapshotRecord};
use bytes::Bytes;
use sansraft::SnapshotMeta;
use sansraft_multi::GroupId;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

/// A snapshot file the application's state machine was written to, durably, and its bytes.
#[derive(Debug)]
pub(crate) struct Written {
    pub(crate) group: GroupId,
    pub(crate) record: SnapshotRecord,
    pub(crate) data: Bytes,
}

/// The snapshot thread's work, done in the order sent.
#[derive(Debug)]
enum Task {
    /// Save a group's state machine, the state at `meta.index`.
    Save(GroupId, SnapshotMeta, Box<Kv>),
    /// Delete the group's snapshot files older than this one (the log no longer names them).
    RemoveStale(GroupId, SnapshotMeta),
}

/// The snapshot thread's handle: send it state machines, collect the files written. The thread
/// stops when this is dropped.
#[derive(Debug)]
pub(crate) struct SnapshotWriter {
    jobs: Sender<Task>,
    written: Receiver<Result<Written, StorageError>>,
}

impl SnapshotWriter {
    /// Starts the snapshot thread, writing snapshot files into the groups' directories in the
    /// data directory `dir`.
    pub(crate) fn spawn(dir: PathBuf) -> io::Result<SnapshotWriter> {
        let (jobs, queued) = mpsc::channel::<Task>();
        let (written_tx, written) = mpsc::channel();
        std::thread::Builder::new()
            .name("snapshot".into())
            .spawn(move || {
                lower_priority();
                for task in queued {
                    match task {
                        Task::Save(group, meta, machine) => {
                            if written_tx.send(save(&dir, group, meta, machine)).is_err() {
                                return;
                            }
                        }
                        Task::RemoveStale(group, current) => {
                            // Not a durability matter: a file left behind is removed at the
                            // next compaction or start.
                            let dir = group_dir(&dir, group);
                            if let Err(e) = remove_stale_files(&dir, &current, false) {
                                tracing::warn!(error = %e, "cannot remove stale snapshot files");
                            }
                        }
                    }
                }
            })?;
        Ok(SnapshotWriter { jobs, written })
    }

    /// Queues `machine`, group `group`'s state at `meta.index`, to be saved as the snapshot
    /// `meta`.
    pub(crate) fn save(&self, group: GroupId, meta: SnapshotMeta, machine: Box<Kv>) {
        // The thread lives as long as this handle; a failure comes back through `written`.
        let _ = self.jobs.send(Task::Save(group, meta, machine));
    }

    /// Queues the deletion of the group's snapshot files older than `current` (and of their
    /// temporary files); newer ones stay, being written or installed.
    pub(crate) fn remove_stale(&self, group: GroupId, current: SnapshotMeta) {
        let _ = self.jobs.send(Task::RemoveStale(group, current));
    }

    /// The snapshots written (or failed) since the last call, in the order queued.
    pub(crate) fn written(&self) -> impl Iterator<Item = Result<Written, StorageError>> + '_ {
        self.written.try_iter()
    }
}

/// The lowest scheduling priority, as a nice value.
#[cfg(target_os = "linux")]
const LOWEST_PRIORITY: i32 = 19;

/// Lowers the calling thread (only: on Linux the nice value is a thread's) to the lowest
/// scheduling priority. Elsewhere the thread keeps the process's priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let thread = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(thread), LOWEST_PRIORITY) {
            tracing::warn!(
                error = %e,
                "cannot lower the snapshot thread's priority: snapshots compete with the node loop"
            );
        }
    }
}

/// Encodes `machine`, drops it, and writes the bytes as group `group`'s snapshot `meta` in the
/// data directory `dir`.
fn save(
    dir: &Path,
    group: GroupId,
    meta: SnapshotMeta,
    machine: Box<Kv>,
) -> Result<Written, StorageError> {
    let dir = &group_dir(dir, group);
    // Wall-clock time, outside the engine: how long the snapshot took, for the log.
    let started = tokio::time::Instant::now();
    let data = machine.snapshot();
    let encoded = started.elapsed();
    // Here rather than on the node loop: frees every node the loop has replaced since the clone.
    drop(machine);
    let record = write_snapshot(dir, &meta, &data, Pace::Paced)?;
    tracing::info!(
        group,
        index = meta.index,
        bytes = data.len(),
        encoded_ms = encoded.as_millis() as u64,
        ms = started.elapsed().as_millis() as u64,
        "snapshot written"
    );
    Ok(Written {
        group,
        record,
        data,
    })
}

/// Encodes `machine` (group `group`'s state at `meta.index`) and writes it as the snapshot
/// `meta` in the group's directory `dir`, on the calling thread.
pub(crate) fn written_snapshot(
    dir: &Path,
    group: GroupId,
    meta: SnapshotMeta,
    machine: &Kv,
) -> Result<Written, StorageError> {
    let data = machine.snapshot();
    let record = write_snapshot(dir, &meta, &data, Pace::Unpaced)?;
    Ok(Written {
        group,
        record,
        data,
    })
}

/// A snapshot file is written and synced this many bytes at a time, so that no more than this is
/// ever waiting to be written back: one sync of a whole snapshot of hundreds of megabytes would
/// hold the write-ahead log's next sync (same disk, same journal) for as long, and with it every
/// acknowledgement, long enough for a leader to lose its quorum's answers (check-quorum).
const SNAPSHOT_SYNC_BYTES: usize = 1 << 20;

/// The snapshot thread writes at most this many bytes a second. Unpaced, three nodes on one
/// machine writing snapshots of a hundred megabytes at once kept the disk busy enough that a
/// write-ahead log's sync took 100 to 350 ms, longer than an election timeout. At this pace a
/// snapshot of 100 MB takes under 2 s to write, against tens of seconds between snapshots.
const SNAPSHOT_WRITE_BYTES_PER_SEC: u64 = 64 << 20;

/// How a snapshot file is written: as fast as the disk goes, or paced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pace {
    Unpaced,
    /// At most [`SNAPSHOT_WRITE_BYTES_PER_SEC`].
    Paced,
}

/// Writes a snapshot file durably (temporary file, sync, rename, directory sync).
fn write_snapshot(
    dir: &Path,
    meta: &SnapshotMeta,
    data: &[u8],
    pace: Pace,
) -> Result<SnapshotRecord, StorageError> {
    let path = snapshot_path(dir, meta);
    let tmp = path.with_extension("tmp");
    let write = || -> io::Result<()> {
        use std::io::Write as _;
        // Wall-clock time, outside the engine: pacing the writes.
        let started = tokio::time::Instant::now();
        let mut file = std::fs::File::create(&tmp)?;
        let mut written = 0u64;
        for piece in data.chunks(SNAPSHOT_SYNC_BYTES) {
            file.write_all(piece)?;
            file.sync_data()?;
            written += piece.len() as u64;
            if pace == Pace::Paced {
                let due =
                    Duration::from_secs_f64(written as f64 / SNAPSHOT_WRITE_BYTES_PER_SEC as f64);
                std::thread::sleep(due.saturating_sub(started.elapsed()));
            }
        }
        file.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        sync_dir(dir)
    };
    write().map_err(io_err("writing snapshot", &path))?;
    Ok(SnapshotRecord {
        meta: meta.clone(),
        len: data.len() as u64,
        crc32c: crc32c::crc32c(data),
        retain_log: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansraft::Membership;

    fn meta(index: u64) -> SnapshotMeta {
        SnapshotMeta {
            index,
            term: 1,
            membership: Membership::with_voters([1, 2, 3]),
        }
    }

    /// What the thread sends back next, waiting for it (bounded).
    fn next_written(writer: &SnapshotWriter) -> Result<Written, StorageError> {
        for _ in 0..1000 {
            if let Some(written) = writer.written().next() {
                return written;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the snapshot thread wrote nothing in 10 s");
    }

    #[test]
    fn the_thread_writes_snapshots_and_then_deletes_the_stale_ones() {
        let dir = tempfile::tempdir().expect("temp dir");
        let writer = SnapshotWriter::spawn(dir.path().to_owned()).expect("thread");
        let group = group_dir(dir.path(), 3);
        std::fs::create_dir_all(&group).expect("group dir");
        let machine = |index| {
            Kv::from_parts(index, vec![("k".into(), Bytes::from("v"))], Vec::new(), 16)
                .expect("a valid machine")
        };
        for index in [5, 9] {
            writer.save(3, meta(index), Box::new(machine(index)));
            let written = next_written(&writer).expect("written");
            assert_eq!(written.group, 3);
            assert_eq!(written.data, machine(index).snapshot());
            assert_eq!(written.record.meta, meta(index));
            assert_eq!(written.record.crc32c, crc32c::crc32c(&written.data));
            let on_disk = std::fs::read(snapshot_path(&group, &meta(index))).expect("file");
            assert_eq!(on_disk, written.data);
        }
        writer.remove_stale(3, meta(9));
        // Tasks are done in order: once a later save is back, the deletion is done.
        writer.save(3, meta(12), Box::new(machine(12)));
        next_written(&writer).expect("written");
        let exists = |index| snapshot_path(&group, &meta(index)).exists();
        assert!(!exists(5), "older than the current snapshot: deleted");
        assert!(exists(9), "the current snapshot stays");
        assert!(exists(12), "a newer one stays");
    }
}
