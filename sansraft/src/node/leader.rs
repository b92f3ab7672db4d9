//! The leader: proposals, replication with flow control, heartbeats and commit (§5.3, §5.4).

use super::{Node, Role};
use crate::error::ProposeError;
use crate::io::Action;
use crate::message::{Append, AppendResponse, Body, Heartbeat};
use crate::progress::{probe_after_rejection, ProgressState};
use crate::quorum::joint_committed_index;
use crate::types::{Entry, EntryKind, Index, LogPosition, NodeId};
use bytes::Bytes;

impl Node {
    /// Answers each proposal in `out`, in order, and appends the accepted ones to the log as
    /// one run, which the write and the appends then share.
    pub(super) fn propose(
        &mut self,
        batch: impl ExactSizeIterator<Item = Bytes>,
        out: &mut Vec<Action>,
    ) {
        let mut run = Vec::with_capacity(if self.role == Role::Leader {
            batch.len()
        } else {
            0
        });
        for data in batch {
            out.push(Action::Proposed(self.propose_one(data, &mut run)));
        }
        self.log.append(run.into());
    }

    fn propose_one(
        &mut self,
        data: Bytes,
        run: &mut Vec<Entry>,
    ) -> Result<LogPosition, ProposeError> {
        if self.role != Role::Leader {
            return Err(ProposeError::NotLeader {
                leader: self.leader,
            });
        }
        if let Some(target) = self
            .transferring_to()
            .filter(|_| !canary!(self.config, ProposeDuringTransfer))
        {
            // Thesis §3.10: the leader stops accepting proposals while it hands over, so the
            // target can catch up.
            return Err(ProposeError::TransferInProgress { target });
        }
        let index = self.log.last_index() + 1 + run.len() as Index;
        let entry = Entry {
            term: self.term,
            index,
            kind: EntryKind::Normal,
            data,
        };
        let bytes = entry.accounted_bytes();
        // Back-pressure: refuse rather than queue without bound; one entry always fits.
        if self.uncommitted_bytes > 0
            && self.uncommitted_bytes + bytes > self.config.max_uncommitted_bytes
        {
            return Err(ProposeError::UncommittedLimit {
                limit: self.config.max_uncommitted_bytes,
            });
        }
        self.uncommitted_bytes += bytes;
        run.push(entry);
        Ok(LogPosition {
            term: self.term,
            index,
        })
    }

    /// Sends whatever each follower's window allows: pipelined appends in replicate state, one
    /// probe in probe state, and a heartbeat when only the commit index has news for it.
    pub(super) fn send_appends(&mut self) {
        for i in 0..self.progress.len() {
            if self.progress[i].state == ProgressState::Snapshot {
                // Rule 8: no appends from before the snapshot while it is sent.
                self.pump_snapshot(i);
                continue;
            }
            let mut sent_any = false;
            while self.progress[i].can_send() {
                let pr = &self.progress[i];
                let last = self.log.last_index();
                if pr.state == ProgressState::Replicate && pr.next_index > last {
                    break;
                }
                let prev_index = pr.next_index - 1;
                let Some(prev_term) = self.log.term(prev_index) else {
                    // §7: the entries the follower needs were compacted away; it is brought up
                    // to date by a snapshot before appends resume.
                    self.start_snapshot(i);
                    break;
                };
                let (entries, bytes) =
                    self.log
                        .slice(pr.next_index, last, self.config.max_append_bytes);
                let last_sent = entries.last().map(|e| e.index);
                let commit = self.log.committed();
                let to = pr.id;
                let pr = &mut self.progress[i];
                pr.sent_append(last_sent, bytes);
                pr.commit_sent = pr
                    .commit_sent
                    .max(commit.min(last_sent.unwrap_or(prev_index)));
                let probing = pr.state == ProgressState::Probe;
                self.send(
                    to,
                    Body::Append(Append {
                        prev_index,
                        prev_term,
                        commit,
                        entries,
                    }),
                );
                sent_any = true;
                if probing {
                    break;
                }
            }
            let pr = &mut self.progress[i];
            // Tell the follower about a commit advance it has not heard of, limited to the
            // prefix it is known to share with us.
            let commit = if canary!(self.config, HeartbeatCommitBeyondMatch) {
                self.log.committed()
            } else {
                pr.match_index.min(self.log.committed())
            };
            if !sent_any && commit > pr.commit_sent {
                pr.commit_sent = commit;
                let to = pr.id;
                let round = self.reads.round;
                self.send(to, Body::Heartbeat(Heartbeat { commit, round }));
            }
        }
    }

    /// Every heartbeat interval (the timer's, not a read's confirmation round): entries sent a
    /// whole interval ago without any acknowledgement since were probably lost, so fall back to
    /// probing from the match index (§5.3: retry until the logs match). Judged by what was
    /// sent, not by the window: a heartbeat answer may have freed the window while the entries
    /// never arrived.
    pub(super) fn detect_lost_appends(&mut self) {
        for pr in &mut self.progress {
            if pr.state == ProgressState::Replicate
                && pr.next_index > pr.match_index + 1
                && pr.match_index == pr.match_at_heartbeat
            {
                pr.become_probe();
            }
            pr.match_at_heartbeat = pr.match_index;
        }
    }

    pub(super) fn broadcast_heartbeat(&mut self) {
        // Every broadcast is a confirmation round for reads (thesis §6.4).
        let round = self.begin_round();
        for i in 0..self.progress.len() {
            let pr = &mut self.progress[i];
            let commit = if canary!(self.config, HeartbeatCommitBeyondMatch) {
                self.log.committed()
            } else {
                pr.match_index.min(self.log.committed())
            };
            pr.commit_sent = pr.commit_sent.max(commit);
            let to = pr.id;
            self.send(to, Body::Heartbeat(Heartbeat { commit, round }));
        }
    }

    fn progress_index(&mut self, from: NodeId) -> Option<usize> {
        let i = self.progress.iter().position(|p| p.id == from);
        if i.is_none() {
            self.counters.unknown_peer += 1;
        }
        i
    }

    pub(super) fn on_append_response(&mut self, from: NodeId, response: AppendResponse) {
        if self.role != Role::Leader {
            self.counters.unexpected += 1;
            return;
        }
        let Some(i) = self.progress_index(from) else {
            return;
        };
        self.progress[i].last_contact_tick = self.ticks;
        let last = self.log.last_index();
        match response {
            AppendResponse::Accepted { match_index } => {
                if match_index > last {
                    // An acknowledgement of entries this leader never had.
                    self.counters.malformed += 1;
                } else if self.progress[i].on_accepted(match_index) {
                    self.maybe_commit();
                    self.maybe_send_timeout_now();
                } else {
                    self.counters.stale_response += 1;
                }
            }
            AppendResponse::Rejected {
                reject_index,
                hint_index,
                hint_term,
            } => {
                if reject_index > last {
                    self.counters.malformed += 1;
                    return;
                }
                let log = &self.log;
                let fallback =
                    probe_after_rejection(hint_index, hint_term, |t| log.last_index_of_term(t));
                if !self.progress[i].on_rejected(reject_index, fallback) {
                    self.counters.stale_response += 1;
                }
            }
        }
    }

    pub(super) fn on_heartbeat_response(&mut self, from: NodeId, round: u64) {
        if self.role != Role::Leader {
            self.counters.unexpected += 1;
            return;
        }
        let Some(i) = self.progress_index(from) else {
            return;
        };
        self.on_round_ack(from, round);
        let pr = &mut self.progress[i];
        pr.last_contact_tick = self.ticks;
        match pr.state {
            // The follower is reachable: the probe may be retried.
            ProgressState::Probe => pr.probe_sent = false,
            // A full window with a live follower: an acknowledgement was lost; make room.
            ProgressState::Replicate if pr.inflight.is_full() => pr.inflight.free_first(),
            ProgressState::Replicate | ProgressState::Snapshot => {}
        }
    }

    /// Advances the commit index to the highest index durable on a quorum.
    pub(super) fn maybe_commit(&mut self) {
        let me = self.config.id;
        let own = self.log.durable();
        let progress = &self.progress;
        let matched = |id: NodeId| {
            if id == me {
                own
            } else {
                progress
                    .iter()
                    .find(|p| p.id == id)
                    .map_or(0, |p| p.match_index)
            }
        };
        let m = self.log.membership();
        let index = if canary!(self.config, LearnerInQuorum) {
            let mut with_learners = m.voters.clone();
            with_learners.extend_from_slice(&m.learners);
            joint_committed_index(&with_learners, &m.outgoing, matched)
        } else {
            // Thesis §4.3: in a joint configuration an entry commits only with a majority of
            // both halves; learners never count (§4.2.1).
            joint_committed_index(&m.voters, &m.outgoing, matched)
        }
        .min(self.log.last_index());
        // §5.4.2 (Figure 8): count replicas only for an entry of the leader's own term; earlier
        // entries commit indirectly with it.
        let own_term =
            self.log.term(index) == Some(self.term) || canary!(self.config, EarlierTermCommit);
        if index <= self.log.committed() || !own_term {
            return;
        }
        let old = self.log.committed();
        self.log.commit_to(index);
        let term = self.term;
        let released: u64 = self
            .log
            .iter_from(old + 1)
            .take_while(|e| e.index <= index)
            .filter(|e| e.term == term && e.kind == EntryKind::Normal)
            .map(Entry::accounted_bytes)
            .sum();
        self.uncommitted_bytes = self.uncommitted_bytes.saturating_sub(released);
    }
}
