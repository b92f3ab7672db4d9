//! The leader: proposals, replication with flow control, heartbeats and commit (§5.3, §5.4).

use super::role::{Leading, Quiescence, RoleState};
use super::snapshot::{pump_snapshot, start_snapshot};
use super::Node;
use crate::config::Config;
use crate::entries::Entries;
use crate::error::ProposeError;
use crate::io::Action;
use crate::message::{Append, AppendResponse, Body, Heartbeat, HeartbeatResponse};
use crate::progress::{probe_after_rejection, Progress, ProgressState};
use crate::quorum::joint_committed_index;
use crate::raft_log::RaftLog;
use crate::types::{Entry, EntryKind, Index, LogPosition, NodeId, Term};
use bytes::Bytes;

impl Node {
    /// Answers each proposal of `batch` in `out`, in order, and appends the accepted ones to
    /// the log as one run, which the write and the appends then share.
    pub(super) fn propose(&mut self, batch: Vec<Bytes>, out: &mut impl FnMut(Action)) {
        let (term, first, limits) = (
            self.term,
            self.log.last_index() + 1,
            Limits::of(&self.config),
        );
        let leading = match self.admit_proposals() {
            Ok(leading) => leading,
            Err(refusal) => {
                batch
                    .iter()
                    .for_each(|_| out(Action::Proposed(Err(refusal))));
                return;
            }
        };
        let mut run = Vec::with_capacity(batch.len());
        for data in batch {
            let index = first + run.len() as Index;
            let result = limits.admit(&mut leading.uncommitted_bytes, data.len());
            out(Action::Proposed(
                result.map(|()| LogPosition { term, index }),
            ));
            if result.is_ok() {
                run.push(Entry::normal(term, index, data));
            }
        }
        self.log.append(run.into());
    }

    /// Answers one proposal in `out` and appends it to the log if accepted.
    pub(super) fn propose_one(&mut self, data: Bytes, out: &mut impl FnMut(Action)) {
        let (term, index, limits) = (
            self.term,
            self.log.last_index() + 1,
            Limits::of(&self.config),
        );
        let result = self
            .admit_proposals()
            .and_then(|leading| limits.admit(&mut leading.uncommitted_bytes, data.len()));
        out(Action::Proposed(
            result.map(|()| LogPosition { term, index }),
        ));
        if result.is_ok() {
            self.log
                .append(Entries::one(Entry::normal(term, index, data)));
        }
    }

    /// The leader's state if it takes proposals now, else why no proposal is taken.
    fn admit_proposals(&mut self) -> Result<&mut Leading, ProposeError> {
        let leader = self.leader();
        let transfer = self
            .transferring_to()
            .filter(|_| !canary!(self.config, ProposeDuringTransfer));
        match &mut self.role {
            RoleState::Leader(leading) => match transfer {
                None => Ok(leading),
                // Thesis §3.10: the leader stops accepting proposals while it hands over, so
                // the target can catch up.
                Some(target) => Err(ProposeError::TransferInProgress { target }),
            },
            _ => Err(ProposeError::NotLeader { leader }),
        }
    }

    /// Sends whatever each follower's window allows: pipelined appends in replicate state, one
    /// probe in probe state, and a heartbeat when only the commit index has news for it.
    pub(super) fn send_appends(&mut self) {
        let RoleState::Leader(leading) = &mut self.role else {
            return;
        };
        let (log, config, term) = (&self.log, &self.config, self.term);
        let beyond_match = canary!(config, HeartbeatCommitBeyondMatch);
        // Followers that are level get the same append: look it up in the log once.
        let mut last_append: Option<(Index, Term, Entries, u64)> = None;
        let witnesses = &log.membership().witnesses;
        for pr in &mut leading.progress {
            if pr.state == ProgressState::Snapshot {
                // Rule 8: no appends from before the snapshot while it is sent.
                pump_snapshot(pr, config, &mut self.effects);
                continue;
            }
            let mut sent_any = false;
            // A witness is sent only entries durable here: the leader's crash could lose
            // others, and a witness holding an entry no voter that may lead has would refuse
            // them all its vote (docs/design.md, "Witnesses").
            let witness = !witnesses.is_empty() && witnesses.contains(&pr.id);
            while pr.can_send() {
                let last = if witness {
                    log.last_index().min(log.durable())
                } else {
                    log.last_index()
                };
                if pr.state == ProgressState::Replicate && pr.next_index > last {
                    break;
                }
                let prev_index = pr.next_index - 1;
                let (prev_term, entries, bytes) = match &last_append {
                    Some((index, prev_term, entries, bytes))
                        if *index == prev_index && !witness =>
                    {
                        (*prev_term, entries.clone(), *bytes)
                    }
                    _ => {
                        let Some(prev_term) = log.term(prev_index) else {
                            // §7: the entries the follower needs were compacted away; it is
                            // brought up to date by a snapshot before appends resume.
                            start_snapshot(
                                pr,
                                log.snapshot(),
                                self.ticks,
                                config,
                                &mut self.effects,
                            );
                            break;
                        };
                        let (entries, bytes) =
                            log.slice(pr.next_index, last, config.max_append_bytes);
                        if !witness {
                            last_append = Some((prev_index, prev_term, entries.clone(), bytes));
                        }
                        (prev_term, entries, bytes)
                    }
                };
                let last_sent = entries.last().map(|e| e.index);
                let commit = log.committed();
                pr.sent_append(last_sent, bytes);
                pr.commit_sent = pr
                    .commit_sent
                    .max(commit.min(last_sent.unwrap_or(prev_index)));
                let probing = pr.state == ProgressState::Probe;
                let append = Append {
                    prev_index,
                    prev_term,
                    commit,
                    entries,
                };
                self.outbox
                    .send(config, term, true, pr.id, Body::Append(append));
                sent_any = true;
                if probing {
                    break;
                }
            }
            // Tell the follower about a commit advance it has not heard of, limited to the
            // prefix it is known to share with us.
            let commit = commit_for(log, pr, beyond_match);
            if !sent_any && commit > pr.commit_sent {
                pr.commit_sent = commit;
                let round = leading.reads.round;
                let proof = pr.freshness.proof();
                let heartbeat = Heartbeat {
                    commit,
                    round,
                    proof,
                    quiesce: false,
                };
                self.outbox
                    .send(config, term, true, pr.id, Body::Heartbeat(heartbeat));
            }
        }
    }

    /// Every heartbeat interval (the timer's, not a read's confirmation round): entries sent a
    /// whole interval ago without any acknowledgement since were probably lost, so fall back to
    /// probing from the match index (§5.3: retry until the logs match). Judged by what was
    /// sent, not by the window: a heartbeat answer may have freed the window while the entries
    /// never arrived.
    pub(super) fn detect_lost_appends(&mut self) {
        let Some(leading) = self.role.leading_mut() else {
            return;
        };
        for pr in &mut leading.progress {
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
        let (now, keep) = (self.ticks, self.round_keep_ticks());
        let beyond_match = canary!(self.config, HeartbeatCommitBeyondMatch);
        let Some(leading) = self.role.leading_mut() else {
            return;
        };
        let round = leading.reads.begin_round(now, keep);
        let quiesce = matches!(leading.quiescence, Quiescence::Asking { .. });
        // The stamps heard so far wait for this round's confirmation (bounded-staleness reads).
        self.begin_freshness_round(round);
        let RoleState::Leader(leading) = &mut self.role else {
            return;
        };
        for pr in &mut leading.progress {
            let commit = commit_for(&self.log, pr, beyond_match);
            pr.commit_sent = pr.commit_sent.max(commit);
            let heartbeat = Heartbeat {
                commit,
                round,
                proof: pr.freshness.proof(),
                quiesce,
            };
            self.outbox.send(
                &self.config,
                self.term,
                true,
                pr.id,
                Body::Heartbeat(heartbeat),
            );
        }
    }

    pub(super) fn on_append_response(&mut self, from: NodeId, response: AppendResponse) {
        let RoleState::Leader(leading) = &mut self.role else {
            self.counters.unexpected += 1;
            return;
        };
        let Some(pr) = leading.peer_mut(from) else {
            self.counters.unknown_peer += 1;
            return;
        };
        pr.heard(self.ticks);
        let last = self.log.last_index();
        match response {
            AppendResponse::Accepted { match_index } => {
                if match_index > last {
                    // An acknowledgement of entries this leader never had.
                    self.counters.malformed += 1;
                } else if pr.on_accepted(match_index) {
                    // With the same quorum, the quorum index can pass the commit index only
                    // through a member whose match passes it: at or below it, this
                    // acknowledgement commits nothing.
                    if match_index > self.log.committed() || leading.quorum_changed {
                        self.maybe_commit();
                    }
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
                if !pr.on_rejected(reject_index, fallback) {
                    self.counters.stale_response += 1;
                }
            }
        }
    }

    pub(super) fn on_heartbeat_response(&mut self, from: NodeId, response: HeartbeatResponse) {
        let round = response.round;
        let RoleState::Leader(leading) = &mut self.role else {
            self.counters.unexpected += 1;
            return;
        };
        let latest_round = leading.reads.round;
        let Some(pr) = leading.peer_mut(from) else {
            self.counters.unknown_peer += 1;
            return;
        };
        pr.heard(self.ticks);
        match pr.state {
            // The follower is reachable: the probe may be retried.
            ProgressState::Probe => pr.probe_sent = false,
            // A full window with a live follower: an acknowledgement was lost; make room.
            ProgressState::Replicate if pr.inflight.is_full() => pr.inflight.free_first(),
            ProgressState::Replicate | ProgressState::Snapshot => {}
        }
        if round > latest_round {
            // An acknowledgement of a round this leader never started.
            self.counters.malformed += 1;
            return;
        }
        if let Some(stamp) = response.stamp {
            pr.freshness.heard(stamp);
        }
        leading.reads.on_ack(from, round);
        self.prove_freshness();
        self.on_quiet_answer(from, round, response.quiet);
    }

    /// Advances the commit index to the highest index durable on a quorum.
    pub(super) fn maybe_commit(&mut self) {
        let RoleState::Leader(leading) = &mut self.role else {
            return;
        };
        leading.quorum_changed = false;
        let me = self.config.id;
        let own = self.log.durable();
        let progress = &leading.progress;
        // Voters are usually asked for in the order of `progress`: try the next one first.
        let mut next = 0;
        let matched = |id: NodeId| {
            if id == me {
                return own;
            }
            let at = match progress.get(next) {
                Some(p) if p.id == id => Some(next),
                _ => progress.iter().position(|p| p.id == id),
            };
            at.map_or(0, |at| {
                next = at + 1;
                progress[at].match_index
            })
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
        leading.uncommitted_bytes = leading.uncommitted_bytes.saturating_sub(released);
    }
}

/// The commit index a follower may be told: §5.3, only within the prefix it is known to share
/// with this leader (`beyond_match`: the heartbeat-commit-beyond-match canary).
fn commit_for(log: &RaftLog, pr: &Progress, beyond_match: bool) -> Index {
    if beyond_match {
        log.committed()
    } else {
        pr.match_index.min(log.committed())
    }
}

/// The limits a leader admits proposals within.
#[derive(Clone, Copy)]
struct Limits {
    /// `Config::max_uncommitted_bytes`.
    uncommitted: u64,
    /// `Config::max_entry_bytes`.
    entry: u64,
}

impl Limits {
    fn of(config: &Config) -> Limits {
        Limits {
            uncommitted: config.max_uncommitted_bytes,
            entry: config.max_entry_bytes,
        }
    }

    /// A proposal with a payload of `len` bytes: refused if larger than an entry may be; else
    /// back-pressure, refused rather than queued without bound once `uncommitted` would pass
    /// its limit (one entry always fits). Counted in when admitted.
    fn admit(self, uncommitted: &mut u64, len: usize) -> Result<(), ProposeError> {
        let size = len as u64;
        if size > self.entry {
            return Err(ProposeError::EntryTooLarge {
                size,
                limit: self.entry,
            });
        }
        let bytes = Entry::accounted_len(len);
        if *uncommitted > 0 && *uncommitted + bytes > self.uncommitted {
            return Err(ProposeError::UncommittedLimit {
                limit: self.uncommitted,
            });
        }
        *uncommitted += bytes;
        Ok(())
    }
}
