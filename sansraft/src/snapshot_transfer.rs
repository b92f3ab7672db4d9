//! Chunked snapshot transfer, sans-IO: the embedder's chunk I/O types and the bookkeeping of
//! one transfer on each side.
//!
//! The leader never holds a snapshot: it asks the embedder for one chunk at a time
//! ([`ChunkRequest`]), is handed the bytes ([`ChunkRead`]), and sends them on. The follower hands
//! every accepted chunk to the embedder ([`ChunkWrite`]) and keeps only the offset it expects
//! next and a running checksum.
//!
//! The checksum is crc32c (Castagnoli), computed incrementally over the chunks in offset order
//! on both sides: the leader as it reads them, the follower as it accepts them. The last chunk
//! carries the leader's value; the follower installs only if its own matches. It protects the
//! transfer (chunks lost, duplicated, reordered or mixed up between transfers); the integrity of
//! the embedder's own storage is the embedder's business.

use crate::types::{Index, Membership, NodeId, SnapshotMeta, Term};
use bytes::Bytes;
use std::collections::VecDeque;

/// Leader → embedder: read part of a snapshot (see [`crate::Action::ReadSnapshotChunk`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkRequest {
    /// The follower the chunk is for; echo it in the answer.
    pub peer: NodeId,
    /// The snapshot's last index.
    pub index: Index,
    /// The snapshot's last term.
    pub term: Term,
    /// Where to start reading.
    pub offset: u64,
    /// The most bytes to return.
    pub max_len: u64,
}

impl ChunkRequest {
    /// The answer to this request from `snapshot`, the whole of the snapshot it names: at most
    /// `max_len` bytes from `offset` (none if `offset` is past the end).
    pub fn answer_from(&self, snapshot: &Bytes) -> ChunkRead {
        let len = snapshot.len();
        let start = usize::try_from(self.offset).map_or(len, |o| o.min(len));
        let max_len = usize::try_from(self.max_len).unwrap_or(usize::MAX);
        let end = start.saturating_add(max_len).min(len);
        ChunkRead {
            peer: self.peer,
            index: self.index,
            term: self.term,
            offset: self.offset,
            data: snapshot.slice(start..end),
            done: end == len,
        }
    }
}

/// Embedder → leader: the answer to a [`ChunkRequest`] (see
/// [`crate::Input::SnapshotChunkRead`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkRead {
    /// The request's `peer`.
    pub peer: NodeId,
    /// The request's `index`.
    pub index: Index,
    /// The request's `term`.
    pub term: Term,
    /// The request's `offset`.
    pub offset: u64,
    /// At most `max_len` bytes from `offset`; non-empty unless `done`.
    pub data: Bytes,
    /// `data` ends at the end of the snapshot.
    pub done: bool,
}

/// Follower → embedder: bytes for a partial snapshot (see
/// [`crate::Action::WriteSnapshotChunk`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkWrite {
    /// The snapshot's last index.
    pub index: Index,
    /// The snapshot's last term.
    pub term: Term,
    /// Where the bytes go; 0 starts a new partial snapshot.
    pub offset: u64,
    /// The bytes.
    pub data: Bytes,
}

/// A received snapshot to install as part of a [`crate::Write`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotInstall {
    /// The snapshot's metadata, to persist as the latest snapshot's.
    pub meta: SnapshotMeta,
    /// Keep the log entries after `meta.index` (the log held the snapshot's last entry with the
    /// same term) and delete those up to it; if false, delete every log entry.
    pub retain_log: bool,
}

/// A chunk boundary the leader knows: the end offset, the crc32c of everything before it, and
/// whether it ends the snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Boundary {
    end: u64,
    crc: u32,
    done: bool,
}

/// The leader's side of one transfer to one follower.
#[derive(Clone, Debug)]
pub(crate) struct Outbound {
    /// The snapshot's last index.
    pub(crate) index: Index,
    /// The snapshot's last term.
    pub(crate) term: Term,
    /// Invariant: the follower acknowledged holding `[0, acked)`.
    acked: u64,
    acked_crc: u32,
    /// The next offset to read; `read_crc` covers `[0, read_at)`.
    read_at: u64,
    read_crc: u32,
    /// A read request is outstanding (at most one at a time).
    reading: bool,
    /// The last chunk has been read (since the last rewind).
    eof: bool,
    /// Boundaries of chunks read beyond `acked`, sorted; kept across rewinds so that an
    /// acknowledgement of a chunk sent before a rewind still counts.
    known: VecDeque<Boundary>,
    /// Chunks sent since the last rewind beyond `acked`.
    in_flight: usize,
    /// The follower said it holds nothing: rewind to 0, not to `acked`, on the next retry.
    restart: bool,
    /// The leader's tick of the last progress (start, acknowledgement or retry).
    last_progress_tick: u64,
}

/// What an acknowledgement meant to the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ack {
    /// The follower holds more than before.
    Advanced,
    /// Old news (duplicate or reordered); the retry timer deals with losses.
    Stale,
}

impl Outbound {
    pub(crate) fn new(index: Index, term: Term, now: u64) -> Self {
        Outbound {
            index,
            term,
            acked: 0,
            acked_crc: 0,
            read_at: 0,
            read_crc: 0,
            reading: false,
            eof: false,
            known: VecDeque::new(),
            in_flight: 0,
            restart: false,
            last_progress_tick: now,
        }
    }

    /// The offset to ask the embedder for next, if the window allows a read now.
    pub(crate) fn next_read(&mut self, max_in_flight: usize) -> Option<u64> {
        if self.reading || self.eof || self.in_flight >= max_in_flight {
            return None;
        }
        self.reading = true;
        Some(self.read_at)
    }

    /// The embedder answered a read. Returns `Some(crc)` (the whole snapshot's crc32c if
    /// `done`, else 0) if the chunk should be sent, `None` if the answer is stale.
    pub(crate) fn on_read(&mut self, offset: u64, data: &[u8], done: bool) -> Option<u32> {
        if !self.reading || offset != self.read_at {
            return None;
        }
        self.reading = false;
        let crc = crc32c::crc32c_append(self.read_crc, data);
        self.read_at += data.len() as u64;
        self.read_crc = crc;
        self.eof = done;
        self.in_flight += 1;
        let b = Boundary {
            end: self.read_at,
            crc,
            done,
        };
        if let Err(at) = self.known.binary_search_by_key(&b.end, |k| k.end) {
            self.known.insert(at, b);
            // Bounded: an embedder returning ever-different chunk sizes cannot grow this.
            if self.known.len() > 64 {
                self.known.pop_back();
            }
        }
        Some(if done { crc } else { 0 })
    }

    /// The follower expects `offset` next.
    pub(crate) fn on_next(&mut self, offset: u64, now: u64) -> Ack {
        if offset == 0 && self.acked > 0 {
            // It lost its partial snapshot (a crash, or a checksum mismatch): start over at the
            // next retry unless later answers show progress.
            self.restart = true;
            return Ack::Stale;
        }
        if offset <= self.acked {
            return Ack::Stale;
        }
        let Ok(at) = self.known.binary_search_by_key(&offset, |k| k.end) else {
            return Ack::Stale;
        };
        let b = self.known[at];
        if b.done {
            // The end of the last chunk is acknowledged by an install, never by `Next`.
            return Ack::Stale;
        }
        self.in_flight = self.in_flight.saturating_sub(at + 1);
        self.known.drain(..=at);
        self.acked = b.end;
        self.acked_crc = b.crc;
        self.restart = false;
        self.last_progress_tick = now;
        if self.read_at < self.acked {
            // The follower is ahead of a rewind: continue from what it holds.
            self.read_at = self.acked;
            self.read_crc = self.acked_crc;
            self.reading = false;
            self.eof = false;
            self.in_flight = 0;
        }
        Ack::Advanced
    }

    /// Retries after `retry_ticks` without progress, from the last acknowledged offset (or from
    /// 0 if the follower said it holds nothing). Returns true if it rewound.
    pub(crate) fn on_tick(&mut self, now: u64, retry_ticks: u32) -> bool {
        if now.saturating_sub(self.last_progress_tick) < u64::from(retry_ticks) {
            return false;
        }
        if self.restart {
            self.acked = 0;
            self.acked_crc = 0;
            self.restart = false;
        }
        self.read_at = self.acked;
        self.read_crc = self.acked_crc;
        self.reading = false;
        self.eof = false;
        self.in_flight = 0;
        self.last_progress_tick = now;
        true
    }

    /// The offset the follower acknowledged last.
    pub(crate) fn acked(&self) -> u64 {
        self.acked
    }

    /// The leader's tick of the last progress (start, acknowledgement or retry).
    pub(crate) fn last_progress_tick(&self) -> u64 {
        self.last_progress_tick
    }
}

/// The follower's side of one transfer.
#[derive(Clone, Debug)]
pub(crate) struct Inbound {
    /// The leader sending it, in `leader_term`.
    pub(crate) leader: NodeId,
    pub(crate) leader_term: Term,
    pub(crate) index: Index,
    pub(crate) term: Term,
    pub(crate) membership: Membership,
    /// The offset expected next; `crc` covers `[0, next_offset)`.
    pub(crate) next_offset: u64,
    pub(crate) crc: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_from_reads_a_window_and_marks_the_end() {
        let snapshot = Bytes::from_static(b"abcdefg");
        let req = |offset, max_len| ChunkRequest {
            peer: 2,
            index: 10,
            term: 3,
            offset,
            max_len,
        };
        let first = req(0, 3).answer_from(&snapshot);
        assert_eq!((first.peer, first.index, first.term), (2, 10, 3));
        assert_eq!((&first.data[..], first.done), (&b"abc"[..], false));
        let last = req(4, 3).answer_from(&snapshot);
        assert_eq!((&last.data[..], last.done), (&b"efg"[..], true));
        let short = req(5, u64::MAX).answer_from(&snapshot);
        assert_eq!((&short.data[..], short.done), (&b"fg"[..], true));
        let past = req(u64::MAX, 3).answer_from(&snapshot);
        assert_eq!(
            (past.data.len(), past.done, past.offset),
            (0, true, u64::MAX)
        );
    }

    #[test]
    fn window_reads_one_at_a_time_and_bounds_chunks_in_flight() {
        let mut t = Outbound::new(10, 2, 0);
        assert_eq!(t.next_read(2), Some(0));
        assert_eq!(t.next_read(2), None, "one read outstanding at a time");
        assert_eq!(t.on_read(0, b"abc", false), Some(0));
        assert_eq!(t.next_read(2), Some(3));
        assert_eq!(t.on_read(3, b"def", false), Some(0));
        assert_eq!(
            t.next_read(2),
            None,
            "two chunks in flight fill a window of two"
        );
        assert_eq!(t.on_next(3, 1), Ack::Advanced);
        assert_eq!(t.next_read(2), Some(6));
        assert_eq!(
            t.on_read(5, b"x", true),
            None,
            "an answer at the wrong offset is stale"
        );
        let crc = t.on_read(6, b"g", true).expect("the expected offset");
        assert_eq!(crc, crc32c::crc32c(b"abcdefg"), "crc of the whole snapshot");
        assert_eq!(t.next_read(2), None, "nothing after the last chunk");
    }

    #[test]
    fn a_retry_resumes_from_the_last_acknowledged_offset() {
        let mut t = Outbound::new(10, 2, 0);
        t.next_read(4);
        t.on_read(0, b"ab", false);
        t.next_read(4);
        t.on_read(2, b"cd", false);
        assert_eq!(t.on_next(2, 1), Ack::Advanced);
        assert_eq!(t.on_next(2, 1), Ack::Stale, "a duplicate acknowledgement");
        assert!(!t.on_tick(3, 6), "not yet");
        assert!(t.on_tick(7, 6));
        assert_eq!(
            t.next_read(4),
            Some(2),
            "from the acknowledged offset, not 0"
        );
        // An acknowledgement of a chunk sent before the rewind still counts.
        assert_eq!(t.on_next(4, 8), Ack::Advanced);
        assert_eq!(t.acked(), 4);
        assert_eq!(t.next_read(4), Some(4));
    }

    #[test]
    fn a_follower_that_lost_its_partial_snapshot_restarts_from_zero() {
        let mut t = Outbound::new(10, 2, 0);
        t.next_read(4);
        t.on_read(0, b"ab", false);
        assert_eq!(t.on_next(2, 1), Ack::Advanced);
        assert_eq!(t.on_next(0, 2), Ack::Stale);
        assert!(t.on_tick(8, 6));
        assert_eq!(t.next_read(4), Some(0));
        assert_eq!(t.on_read(0, b"ab", false), Some(0));
    }
}
