//! Snapshots (Raft §7): compaction behind the application's snapshots, chunked transfer to
//! followers whose next entry was compacted away, and installation on the follower.

use super::role::Following;
use super::Node;
use crate::config::Config;
use crate::io::Action;
use crate::message::{Body, SnapshotChunk, SnapshotResponse};
use crate::progress::{Progress, ProgressState};
use crate::snapshot_transfer::{Ack, ChunkRead, ChunkRequest, ChunkWrite, Inbound, Outbound};
use crate::types::{Index, NodeId, SnapshotMeta, Term, MAX_INDEX};

impl Node {
    /// The application took a snapshot: remember it and compact the log behind it.
    pub(super) fn on_snapshot_taken(&mut self, meta: SnapshotMeta) {
        // §7: a snapshot replaces only committed, applied entries; its last entry's term is
        // the one the log holds there.
        if meta.index <= self.log.snapshot().index
            || meta.index > self.log.applied()
            || self.log.term(meta.index) != Some(meta.term)
            || !meta.membership.is_well_formed()
            // Thesis §4.1 / §7: the snapshot carries the configuration in force at its index.
            || meta.membership != *self.log.configs().at(meta.index)
        {
            self.counters.bogus_snapshot += 1;
            return;
        }
        if let Some(upto) = self
            .log
            .snapshot_taken(meta, self.config.compaction_keep_entries)
        {
            self.effects.push(Action::CompactLog(upto));
        }
        // Rule 6: a newer snapshot replaces the one being sent; the embedder may have deleted
        // the old one.
        let snapshot = self.log.snapshot();
        let (index, term, now) = (snapshot.index, snapshot.term, self.ticks);
        if let Some(leading) = self.role.leading_mut() {
            for pr in &mut leading.progress {
                if pr.state == ProgressState::Snapshot {
                    pr.become_snapshot(Outbound::new(index, term, now));
                }
            }
        }
    }

    /// Leader: the embedder read a chunk; send it on.
    pub(super) fn on_chunk_read(&mut self, read: ChunkRead) {
        let chunk_bytes = self.config.snapshot_chunk_bytes;
        let ok = (read.done || !read.data.is_empty()) && read.data.len() as u64 <= chunk_bytes;
        let transfer = match self.role.leading_mut() {
            Some(leading) if ok => leading
                .peer_mut(read.peer)
                .and_then(|pr| pr.transfer.as_mut()),
            _ => None,
        };
        let crc = transfer
            .filter(|t| (t.index, t.term) == (read.index, read.term))
            .and_then(|t| t.on_read(read.offset, &read.data, read.done));
        let Some(crc32c) = crc else {
            self.counters.stale_chunk_read += 1;
            return;
        };
        let membership = (read.offset == 0).then(|| self.log.snapshot().membership.clone());
        self.send(
            read.peer,
            Body::SnapshotChunk(Box::new(SnapshotChunk {
                index: read.index,
                term: read.term,
                offset: read.offset,
                data: read.data,
                done: read.done,
                membership,
                crc32c,
            })),
        );
    }

    /// Leader: a follower answered a chunk.
    pub(super) fn on_snapshot_response(&mut self, from: NodeId, response: SnapshotResponse) {
        let Some(leading) = self.role.leading_mut() else {
            self.counters.unexpected += 1;
            return;
        };
        let Some(pr) = leading.peer_mut(from) else {
            self.counters.unknown_peer += 1;
            return;
        };
        let now = self.ticks;
        let last = self.log.last_index();
        pr.heard(now);
        match response {
            SnapshotResponse::Next {
                index,
                term,
                offset,
            } => {
                let advanced = pr
                    .transfer
                    .as_mut()
                    .filter(|t| (t.index, t.term) == (index, term))
                    .map(|t| t.on_next(offset, now));
                if advanced != Some(Ack::Advanced) {
                    self.counters.stale_response += 1;
                }
            }
            SnapshotResponse::Installed { match_index } => {
                if match_index > last {
                    self.counters.malformed += 1;
                    return;
                }
                if pr.state != ProgressState::Snapshot || match_index < pr.match_index {
                    self.counters.stale_response += 1;
                    return;
                }
                // Rule 7: after the install, ordinary replication continues from the
                // snapshot's index + 1 (or from what the follower's commit showed it holds):
                // the match is known, so appends are pipelined at once.
                pr.match_index = match_index;
                pr.become_replicate();
                self.maybe_commit();
                self.maybe_send_timeout_now();
            }
            SnapshotResponse::Refused { index, term } => {
                let refused = pr
                    .transfer
                    .as_ref()
                    .is_some_and(|t| (t.index, t.term) == (index, term));
                if !refused {
                    self.counters.stale_response += 1;
                    return;
                }
                // Offered again after a back-off (see `start_snapshot`); probing meanwhile
                // finds out whether the follower caught up some other way.
                pr.become_probe();
                pr.refused = Some((index, term, now));
            }
        }
    }

    /// Leader, every tick: retries transfers that made no progress.
    pub(super) fn tick_snapshots(&mut self) {
        let (now, retry) = (self.ticks, self.config.snapshot_retry_ticks);
        let Some(leading) = self.role.leading_mut() else {
            return;
        };
        for pr in &mut leading.progress {
            if let Some(t) = pr.transfer.as_mut() {
                t.on_tick(now, retry);
            }
        }
    }

    /// Follower: a chunk from the leader of the current term.
    pub(super) fn on_snapshot_chunk(&mut self, from: NodeId, chunk: SnapshotChunk) {
        let well_formed = chunk.term <= self.term
            && chunk.index > 0
            && chunk.index <= MAX_INDEX
            && (chunk.offset == 0) == chunk.membership.is_some()
            // A configuration a leader sends holds voters, as one in a log entry must.
            && (chunk.membership.as_ref())
                .is_none_or(|m| m.is_well_formed() && !m.voters.is_empty());
        if !well_formed {
            self.counters.malformed += 1;
            return;
        }
        let commit = self.log.committed();
        if chunk.index <= commit && !canary!(self.config, AcceptStaleSnapshot) {
            // Rule 7: a snapshot not newer than the commit index holds nothing new.
            if self.inbound().is_some_and(|t| t.index <= commit) {
                self.abort_inbound();
            }
            self.reply_snapshot(
                from,
                SnapshotResponse::Installed {
                    match_index: commit,
                },
            );
            return;
        }
        let id = (chunk.index, chunk.term);
        if self.role.following().and_then(|f| f.refused) == Some(id) {
            // The embedder refused this snapshot: say so again, whatever the offset.
            self.counters.stale_snapshot_chunk += 1;
            let (index, term) = id;
            self.reply_snapshot(from, SnapshotResponse::Refused { index, term });
            return;
        }
        let current = self.inbound().map(|t| ((t.index, t.term), t.next_offset));
        match current {
            Some((tid, next)) if tid == id => {
                if chunk.offset != next {
                    // A duplicate or a chunk after a gap: say what is expected.
                    self.counters.stale_snapshot_chunk += 1;
                    self.reply_next(from, id, next);
                    return;
                }
            }
            Some((tid, _)) if id > tid && chunk.offset == 0 => {
                // Rule 6: a newer snapshot replaces the one being received.
                self.abort_inbound();
                self.begin_inbound(from, &chunk);
            }
            Some((tid, _)) if id < tid => {
                self.counters.stale_snapshot_chunk += 1;
                return;
            }
            None if chunk.offset == 0 => self.begin_inbound(from, &chunk),
            _ => {
                // Rule 5: a chunk with offset > 0 never starts a transfer.
                self.counters.stale_snapshot_chunk += 1;
                self.reply_next(from, id, 0);
                return;
            }
        }
        self.accept_chunk(from, chunk);
    }

    fn begin_inbound(&mut self, from: NodeId, chunk: &SnapshotChunk) {
        let inbound = Box::new(Inbound {
            leader: from,
            leader_term: self.term,
            index: chunk.index,
            term: chunk.term,
            membership: chunk.membership.clone().unwrap_or_default(),
            next_offset: 0,
            crc: 0,
        });
        self.following_mut().inbound = Some(inbound);
    }

    /// The chunk is the one expected next: hand it to the embedder; install after the last.
    fn accept_chunk(&mut self, from: NodeId, chunk: SnapshotChunk) {
        let t = (self.following_mut().inbound.as_mut()).expect("a transfer is under way");
        t.crc = crc32c::crc32c_append(t.crc, &chunk.data);
        t.next_offset = t.next_offset.saturating_add(chunk.data.len() as u64);
        let (id, next, crc) = ((t.index, t.term), t.next_offset, t.crc);
        // A witness keeps no state machine: it checks the bytes and installs the metadata.
        if !self.is_witness() {
            self.effects.push(Action::WriteSnapshotChunk(ChunkWrite {
                index: chunk.index,
                term: chunk.term,
                offset: chunk.offset,
                data: chunk.data,
            }));
        }
        if !chunk.done {
            self.reply_next(from, id, next);
            return;
        }
        if crc != chunk.crc32c {
            // Rule 4: verify before install; start over on a mismatch.
            self.counters.corrupt_snapshot += 1;
            self.abort_inbound();
            self.reply_next(from, id, 0);
            return;
        }
        let t = self.inbound().expect("a transfer is under way");
        if self.log.term(t.index) == Some(t.term) && t.membership != *self.log.configs().at(t.index)
        {
            // Log Matching (§5.3): the log holds the snapshot's last entry, so it holds the
            // same prefix and the same configuration in force there; a snapshot that says
            // otherwise cannot come from a correct leader.
            self.counters.malformed += 1;
            self.abort_inbound();
            return;
        }
        let t = *(self.following_mut().inbound.take()).expect("a transfer is under way");
        let meta = SnapshotMeta {
            index: t.index,
            term: t.term,
            membership: t.membership,
        };
        self.install_snapshot(meta);
        self.reply_snapshot(
            from,
            SnapshotResponse::Installed {
                match_index: self.log.committed(),
            },
        );
    }

    /// Follower: the embedder refuses the snapshot `(index, term)`: the one being received,
    /// or one whose first chunk it saw and kept from the node.
    pub(super) fn refuse_snapshot(&mut self, index: Index, term: Term) {
        let receiving = self
            .inbound()
            .filter(|t| (t.index, t.term) == (index, term))
            .map(|t| t.leader);
        let known_leader = self.leader().filter(|_| self.role.following().is_some());
        // A snapshot at or below the commit index is never installed (rule 7): nothing to refuse.
        let Some(leader) = receiving
            .or(known_leader)
            .filter(|_| index > self.log.committed())
        else {
            self.counters.unexpected += 1;
            return;
        };
        if receiving.is_some() {
            self.abort_inbound();
        }
        self.following_mut().refused = Some((index, term));
        self.reply_snapshot(leader, SnapshotResponse::Refused { index, term });
    }

    /// Installs a received snapshot newer than the commit index (§7, rule 7).
    fn install_snapshot(&mut self, meta: SnapshotMeta) {
        self.log.install_snapshot(meta);
        self.refresh_membership();
    }

    /// Follower: the snapshot transfer being received, if any.
    fn inbound(&self) -> Option<&Inbound> {
        self.role.following()?.inbound.as_deref()
    }

    /// Follower: its own state. Snapshot chunks reach only a follower: the dispatch made this
    /// node follow the chunk's sender.
    fn following_mut(&mut self) -> &mut Following {
        (self.role.following_mut()).expect("a snapshot chunk is handled by a follower")
    }

    /// Follower: abandons the transfer being received (rule 6); the embedder drops the partial.
    pub(super) fn abort_inbound(&mut self) {
        let inbound = self.role.following_mut().and_then(|f| f.inbound.take());
        if let Some(t) = inbound {
            self.effects.push(Action::DropPartialSnapshot {
                index: t.index,
                term: t.term,
            });
        }
    }

    /// Follower: abandons the transfer unless it comes from `leader` in `term`.
    pub(super) fn abort_inbound_unless_from(&mut self, leader: Option<NodeId>, term: u64) {
        if self
            .inbound()
            .is_some_and(|t| Some(t.leader) != leader || t.leader_term != term)
        {
            self.abort_inbound();
        }
    }

    fn reply_next(&mut self, to: NodeId, (index, term): (Index, u64), offset: u64) {
        self.reply_snapshot(
            to,
            SnapshotResponse::Next {
                index,
                term,
                offset,
            },
        );
    }

    fn reply_snapshot(&mut self, to: NodeId, response: SnapshotResponse) {
        self.send(to, Body::SnapshotResponse(response));
    }
}

/// A snapshot a follower refused is offered to it again after this many snapshot retry
/// intervals (a newer snapshot at once).
const REFUSED_RETRY_INTERVALS: u64 = 100;

/// Leader: `pr` needs entries that were compacted away; it is sent `snapshot`, unless it
/// refused that snapshot less than [`REFUSED_RETRY_INTERVALS`] retry intervals ago.
pub(super) fn start_snapshot(
    pr: &mut Progress,
    snapshot: &SnapshotMeta,
    now: u64,
    config: &Config,
    effects: &mut Vec<Action>,
) {
    let back_off = REFUSED_RETRY_INTERVALS * u64::from(config.snapshot_retry_ticks);
    if let Some((index, term, at)) = pr.refused {
        if (index, term) == (snapshot.index, snapshot.term) && now < at.saturating_add(back_off) {
            return;
        }
    }
    pr.refused = None;
    pr.become_snapshot(Outbound::new(snapshot.index, snapshot.term, now));
    pump_snapshot(pr, config, effects);
}

/// Leader: asks the embedder for the next chunk for `pr` if its window allows it.
pub(super) fn pump_snapshot(pr: &mut Progress, config: &Config, effects: &mut Vec<Action>) {
    let Some(t) = pr.transfer.as_mut() else {
        return;
    };
    if let Some(offset) = t.next_read(config.max_snapshot_chunks_in_flight) {
        effects.push(Action::ReadSnapshotChunk(ChunkRequest {
            peer: pr.id,
            index: t.index,
            term: t.term,
            offset,
            max_len: config.snapshot_chunk_bytes,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Membership;

    /// A refused snapshot is offered again once the back-off has passed, a newer one at once.
    #[test]
    fn a_refused_snapshot_waits_out_its_back_off() {
        let config = Config::new(1, 1);
        let back_off = REFUSED_RETRY_INTERVALS * u64::from(config.snapshot_retry_ticks);
        let snapshot = |index| SnapshotMeta {
            index,
            term: 1,
            membership: Membership::with_voters([1, 2]),
        };
        let start = |pr: &mut Progress, index, now| {
            let mut effects = Vec::new();
            start_snapshot(pr, &snapshot(index), now, &config, &mut effects);
            pr.state == ProgressState::Snapshot && !effects.is_empty()
        };
        let mut pr = Progress::new(2, 1, 0, (4, u64::MAX));
        pr.refused = Some((10, 1, 100));
        assert!(
            !start(&mut pr, 10, 100 + back_off - 1),
            "within the back-off"
        );
        assert!(start(&mut pr, 10, 100 + back_off), "after it");
        assert_eq!(pr.refused, None);

        let mut pr = Progress::new(2, 1, 0, (4, u64::MAX));
        pr.refused = Some((10, 1, 100));
        assert!(start(&mut pr, 11, 101), "a newer snapshot at once");
    }
}
