//! Linearizable reads (thesis §6.4): ReadIndex at the leader, follower reads forwarded to the
//! leader, and lease reads (thesis §6.4.1) when [`crate::Config::lease_reads`] is on.

use super::Node;
use crate::error::ReadError;
use crate::io::Action;
use crate::message::{Body, ReadIndexRequest, ReadIndexResponse};
use crate::read_index::{Forwarded, Origin, PendingRead};
use crate::types::{Index, NodeId};

impl Node {
    /// The embedder asks for a linearizable read with its own request id.
    pub(super) fn read_index(&mut self, id: u64) {
        if self.is_witness() {
            // A witness has no state machine to read.
            self.counters.unexpected += 1;
            self.effects.push(Action::ReadFailed {
                id,
                error: ReadError::Witness,
            });
            return;
        }
        if self.pending_reads() >= self.config.max_pending_reads {
            let limit = self.config.max_pending_reads;
            self.effects.push(Action::ReadFailed {
                id,
                error: ReadError::TooManyPending { limit },
            });
            return;
        }
        if let Some(leading) = self.role.leading_mut() {
            leading.reads.pending.push_back(PendingRead {
                origin: Origin::Local(id),
                index: None,
                round: None,
            });
            return;
        }
        match self.leader() {
            // Thesis §6.4: a follower asks the leader for a read index, then waits until its
            // own state machine has applied it.
            Some(leader) => {
                self.reads.forwarded.push_back(Forwarded {
                    id,
                    leader,
                    term: self.term,
                    since_tick: self.ticks,
                });
                // Figure 2: what a follower says leaves once its term is durable.
                self.send(leader, Body::ReadIndex(ReadIndexRequest { id }));
            }
            None => self.effects.push(Action::ReadFailed {
                id,
                error: ReadError::NotLeader { leader: None },
            }),
        }
    }

    /// A follower forwarded a read.
    pub(super) fn on_read_index_request(&mut self, from: NodeId, request: ReadIndexRequest) {
        let full = self.pending_reads() >= self.config.max_pending_reads;
        let Some(leading) = self.role.leading_mut().filter(|_| !full) else {
            let refusal = ReadIndexResponse {
                id: request.id,
                index: None,
            };
            self.send(from, Body::ReadIndexResponse(refusal));
            return;
        };
        leading.reads.pending.push_back(PendingRead {
            origin: Origin::Remote {
                from,
                id: request.id,
            },
            index: None,
            round: None,
        });
    }

    /// The leader answered a forwarded read.
    pub(super) fn on_read_index_response(&mut self, from: NodeId, response: ReadIndexResponse) {
        let term = self.term;
        let at = self
            .reads
            .forwarded
            .iter()
            .position(|f| f.id == response.id && f.leader == from && f.term == term);
        let Some(at) = at else {
            self.counters.unexpected += 1;
            return;
        };
        self.reads.forwarded.remove(at);
        match response.index {
            Some(index) => self.push_ready(response.id, index),
            None => self.effects.push(Action::ReadFailed {
                id: response.id,
                error: ReadError::LeadershipLost,
            }),
        }
    }

    /// Keeps `ready` sorted by index, so reads are released in order.
    fn push_ready(&mut self, id: u64, index: Index) {
        let ready = &mut self.reads.ready;
        let at = ready
            .iter()
            .rposition(|&(_, i)| i <= index)
            .map_or(0, |p| p + 1);
        ready.insert(at, (id, index));
    }

    /// Reads in progress of every kind, for the limit on them.
    fn pending_reads(&self) -> usize {
        self.reads.len() + self.role.leading().map_or(0, |l| l.reads.pending.len())
    }

    /// The ticks a round is remembered for: as long as a lease may rest on it.
    pub(super) fn round_keep_ticks(&self) -> u64 {
        if self.config.lease_reads {
            u64::from(self.config.lease_ticks())
        } else {
            0
        }
    }

    /// Moves reads along, before anything is sent in this flush.
    pub(super) fn drive_reads(&mut self) {
        if !self.reads.unconfirmed.is_empty() {
            self.fail_unconfirmed();
        }
        if self.role.is_leader() {
            self.revoke_lease_in_transfer();
            self.confirm_reads();
        }
        if !self.reads.forwarded.is_empty() {
            self.check_forwarded();
        }
        // A snapshot staged for the next write is not in the state machine yet, although the
        // applied index already counts it: release nothing until that write is carried out.
        if self.log.install_staged() {
            return;
        }
        while let Some(&(id, index)) = self.reads.ready.front() {
            // Thesis §6.4 step 4: serve once the state machine has applied the read index.
            if index > self.log.applied() {
                break;
            }
            self.reads.ready.pop_front();
            self.effects.push(Action::ReadReady { id, index });
        }
    }

    /// Leadership was lost: reads not yet confirmed cannot be; the embedder retries them.
    /// Confirmed reads stay: their read index was valid when confirmed.
    fn fail_unconfirmed(&mut self) {
        while let Some(read) = self.reads.unconfirmed.pop_front() {
            match read.origin {
                Origin::Local(id) => self.effects.push(Action::ReadFailed {
                    id,
                    error: ReadError::LeadershipLost,
                }),
                Origin::Remote { from, id } => {
                    let refusal = ReadIndexResponse { id, index: None };
                    self.send(from, Body::ReadIndexResponse(refusal));
                }
            }
        }
    }

    fn confirm_reads(&mut self) {
        // Called on every step: nothing to do unless a leader holds reads.
        if self
            .role
            .leading()
            .is_none_or(|l| l.reads.pending.is_empty())
        {
            return;
        }
        let lease = self.lease_holds();
        let commit = self.log.committed();
        let commit_in_term = self.log.term(commit) == Some(self.term);
        let Some(leading) = self.role.leading_mut() else {
            return;
        };
        let pending = &mut leading.reads.pending;
        // Thesis §6.4 step 1: no read index before the leader has committed an entry of its
        // term (until then its commit index may be behind); such reads wait.
        if commit_in_term {
            for read in pending.iter_mut().filter(|r| r.index.is_none()) {
                read.index = Some(commit);
            }
        }
        let unassigned = pending
            .iter()
            .any(|r| r.index.is_some() && r.round.is_none());
        if unassigned && !lease {
            // Thesis §6.4 step 2: one heartbeat round, begun after these reads were recorded,
            // shared by all of them (and by no read recorded later).
            self.broadcast_heartbeat();
            let Some(leading) = self.role.leading_mut() else {
                return;
            };
            let round = leading.reads.round;
            for read in leading.reads.pending.iter_mut() {
                if read.index.is_some() && read.round.is_none() {
                    read.round = Some(round);
                }
            }
        }
        let me = self.config.id;
        let m = self.log.membership();
        let confirmed = (self.role.leading()).map_or(0, |l| l.confirmed_round(me, m));
        while let Some(leading) = self.role.leading_mut() {
            let Some(&read) = leading.reads.pending.front() else {
                break;
            };
            let Some(index) = read.index else { break };
            // Step 3: a quorum acknowledged a round begun after the read point.
            if !lease && read.round.is_none_or(|r| r > confirmed) {
                break;
            }
            leading.reads.pending.pop_front();
            match read.origin {
                Origin::Local(id) => self.push_ready(id, index),
                Origin::Remote { from, id } => {
                    let answer = ReadIndexResponse {
                        id,
                        index: Some(index),
                    };
                    self.send(from, Body::ReadIndexResponse(answer));
                }
            }
        }
    }

    /// Forwarded reads fail if the leader changed or did not answer within an election
    /// timeout (the request or the answer was lost).
    fn check_forwarded(&mut self) {
        let timeout = u64::from(self.config.election_timeout_ticks);
        let (now, term, leader) = (self.ticks, self.term, self.leader());
        let effects = &mut self.effects;
        self.reads.forwarded.retain(|f| {
            let error = if f.term != term || Some(f.leader) != leader {
                ReadError::LeadershipLost
            } else if now - f.since_tick > timeout {
                ReadError::NoResponse
            } else {
                return true;
            };
            effects.push(Action::ReadFailed { id: f.id, error });
            false
        });
    }
}
