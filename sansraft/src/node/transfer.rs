//! Leadership transfer (Raft thesis §3.10): the leader stops taking proposals, brings the target
//! up to date, and tells it to campaign at once with a `TimeoutNow` message.

use super::Node;
use crate::io::Action;
use crate::message::Body;
use crate::types::{NodeId, Term};

/// The outcome of a leadership transfer, reported as [`Action::Transfer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferOutcome {
    /// `target` leads a newer term: the transfer succeeded.
    Done {
        /// The new leader.
        target: NodeId,
    },
    /// The transfer did not complete within an election timeout, or another node won; this
    /// node accepts proposals again if it still leads.
    Aborted {
        /// The intended target.
        target: NodeId,
    },
    /// The request was refused; nothing changed.
    Refused {
        /// The requested target.
        target: NodeId,
        /// Why.
        reason: TransferRefusal,
    },
}

/// Why a leadership transfer was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferRefusal {
    /// Only the leader can transfer leadership; `leader` is the leader this node knows of.
    NotLeader {
        /// The current leader, if known.
        leader: Option<NodeId>,
    },
    /// The target is this node, which already leads.
    TargetIsSelf,
    /// The target is not a member of the configuration.
    UnknownTarget,
    /// The target is a learner and cannot lead.
    TargetIsLearner,
    /// The target is a witness and cannot lead.
    TargetIsWitness,
    /// A transfer is already under way.
    AlreadyTransferring {
        /// The target of the transfer under way.
        target: NodeId,
    },
}

/// A transfer this node started as leader, until its outcome is known.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LeaderTransfer {
    pub(crate) target: NodeId,
    /// The term this node led when the transfer started.
    term: Term,
    elapsed_ticks: u32,
    timeout_now_sent: bool,
    /// Started by the leader itself to hand over to a member of higher priority
    /// (`node/priority.rs`), not asked for by the embedder.
    automatic: bool,
}

impl Node {
    pub(super) fn on_transfer_request(&mut self, target: NodeId) {
        let refuse = |reason| TransferOutcome::Refused { target, reason };
        let refusal = if !self.role.is_leader() {
            Some(refuse(TransferRefusal::NotLeader {
                leader: self.leader(),
            }))
        } else if let Some(t) = self.transfer {
            Some(refuse(TransferRefusal::AlreadyTransferring {
                target: t.target,
            }))
        } else if target == self.config.id {
            Some(refuse(TransferRefusal::TargetIsSelf))
        } else if !self.log.membership().contains(target) {
            Some(refuse(TransferRefusal::UnknownTarget))
        } else if !self.log.membership().is_voter(target) {
            Some(refuse(TransferRefusal::TargetIsLearner))
        } else if self.log.membership().is_witness(target) {
            // A witness's log lacks payloads: it never leads.
            Some(refuse(TransferRefusal::TargetIsWitness))
        } else {
            None
        };
        if let Some(outcome) = refusal {
            self.effects.push(Action::Transfer(outcome));
            return;
        }
        self.start_transfer(target, false);
    }

    /// Starts handing leadership to `target` (a voter, not this leader; no transfer under way).
    pub(super) fn start_transfer(&mut self, target: NodeId, automatic: bool) {
        self.transfer = Some(LeaderTransfer {
            target,
            term: self.term,
            elapsed_ticks: 0,
            timeout_now_sent: false,
            automatic,
        });
        self.maybe_send_timeout_now();
    }

    /// True while proposals must be refused: this leader is handing over.
    pub(super) fn transferring_to(&self) -> Option<NodeId> {
        self.transfer
            .filter(|_| self.role.is_leader())
            .map(|t| t.target)
    }

    /// Thesis §3.10: once the target's log matches the leader's (durably, as its match index
    /// says), tell it to campaign at once.
    pub(super) fn maybe_send_timeout_now(&mut self) {
        let Some(target) = self.transferring_to() else {
            return;
        };
        let last = self.log.last_index();
        let caught_up = (self.role.leading())
            .and_then(|leading| leading.peer(target))
            .is_some_and(|p| p.match_index == last);
        let t = self.transfer.as_mut().expect("a transfer is under way");
        if caught_up && !t.timeout_now_sent {
            t.timeout_now_sent = true;
            self.send(target, Body::TimeoutNow);
        }
    }

    /// Every tick: a transfer not done within one election timeout is aborted (thesis §3.10).
    /// While still leading, a `TimeoutNow` is resent every heartbeat in case it was lost.
    pub(super) fn tick_transfer(&mut self, heartbeat: bool) {
        let Some(t) = self.transfer.as_mut() else {
            return;
        };
        t.elapsed_ticks += 1;
        if t.elapsed_ticks >= self.config.election_timeout_ticks {
            self.finish_transfer(false);
        } else if heartbeat {
            t.timeout_now_sent = false;
            self.maybe_send_timeout_now();
        }
    }

    /// Called when this node learns of `leader` in `term`: the transfer's outcome is known.
    pub(super) fn observe_leader_for_transfer(&mut self, leader: Option<NodeId>, term: Term) {
        match self.transfer {
            Some(t) if term > t.term => {
                if let Some(leader) = leader {
                    self.finish_transfer(leader == t.target);
                }
            }
            _ => {}
        }
    }

    /// Reports the outcome and forgets the transfer.
    pub(super) fn finish_transfer(&mut self, done: bool) {
        if let Some(t) = self.transfer.take() {
            if t.automatic {
                self.priority_transfer_ended(done);
            }
            let target = t.target;
            let outcome = if done {
                TransferOutcome::Done { target }
            } else {
                TransferOutcome::Aborted { target }
            };
            self.effects.push(Action::Transfer(outcome));
        }
    }

    /// The target: the leader said campaign now. Skips pre-vote (the leader vouches that the
    /// cluster will not be disrupted) and flags the vote requests so voters set aside
    /// stickiness.
    pub(super) fn on_timeout_now(&mut self) {
        if self.role.following().is_none()
            || !self.log.membership().is_voter(self.config.id)
            || (self.is_witness() && !canary!(self.config, WitnessMayLead))
            || self.term == Term::MAX
        {
            self.counters.unexpected += 1;
            return;
        }
        self.campaign_with(false, true);
    }
}
