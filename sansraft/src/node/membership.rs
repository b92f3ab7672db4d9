//! Membership changes on the node: proposing them (thesis §4.3), tracking the configuration in
//! force as entries are appended and truncated (thesis §4.1), and the leader's duties — leaving a
//! joint configuration, stepping down once removed (thesis §4.2.2), and reporting caught-up
//! learners.

use super::{Node, Role};
use crate::codec::Codec;
use crate::confchange::{next_membership, ConfChange, ConfChangeError, ConfChangeStep};
use crate::config_history::decode_membership;
use crate::io::Action;
use crate::progress::{Progress, ProgressState};
use crate::types::{Entry, EntryKind, LogPosition, NodeId};
use bytes::Bytes;

impl Node {
    /// Validates `change` against the latest configuration in the log and appends its entry.
    pub(super) fn change_membership(
        &mut self,
        change: &ConfChange,
    ) -> Result<LogPosition, ConfChangeError> {
        if self.role != Role::Leader {
            return Err(ConfChangeError::NotLeader {
                leader: self.leader,
            });
        }
        // Ongaro's 2015 fix: a leader changes the configuration only after committing an entry
        // of its own term, so it cannot race an earlier leader's uncommitted change.
        if self.log.term(self.log.committed()) != Some(self.term) {
            return Err(ConfChangeError::TermNotCommitted);
        }
        // Thesis §4.1: one change at a time; the next waits until the latest one is committed.
        if self.configs.latest_index() > self.log.committed() {
            return Err(ConfChangeError::ChangePending);
        }
        let next = next_membership(&self.membership, change)?;
        // Thesis §4.2.1: a new voter must first catch up as a learner.
        for step in &change.steps {
            if let ConfChangeStep::Promote(id) = *step {
                if !self.is_caught_up(id) {
                    return Err(ConfChangeError::LearnerNotCaughtUp(id));
                }
            }
        }
        let index = self.log.last_index() + 1;
        let entry = Entry {
            term: self.term,
            index,
            kind: EntryKind::Membership,
            data: Bytes::from(next.encode()),
        };
        self.log.push(entry);
        // Thesis §4.1: the new configuration is in force from the moment it is appended.
        self.configs.push(index, next);
        self.refresh_membership();
        Ok(LogPosition {
            term: self.term,
            index,
        })
    }

    pub(super) fn is_voter(&self) -> bool {
        self.membership.is_voter(self.config.id)
    }

    /// Voters campaign; learners never do. Thesis §4.2.2: a server outside its own latest
    /// configuration still campaigns while that configuration is uncommitted (it may be needed
    /// to commit it), without counting its own vote.
    pub(super) fn may_campaign(&self) -> bool {
        let me = self.config.id;
        self.is_voter()
            || (!self.membership.contains(me) && self.configs.latest_index() > self.log.committed())
    }

    /// True if the leader knows `id`'s log to be within the catch-up gap of its own.
    fn is_caught_up(&self, id: NodeId) -> bool {
        let last = self.log.last_index();
        self.progress.iter().any(|p| {
            p.id == id
                && p.state == ProgressState::Replicate
                && p.match_index
                    .saturating_add(self.config.learner_catch_up_gap)
                    >= last
        })
    }

    /// Records the configuration an appended entry carries. The caller has checked that it
    /// decodes (a malformed one is refused with its append).
    pub(super) fn record_config(&mut self, entry: &Entry) {
        if entry.kind != EntryKind::Membership {
            return;
        }
        let membership = decode_membership(entry)
            .expect("membership entries are validated before they are appended");
        self.configs.push(entry.index, membership);
    }

    /// Makes the latest configuration in the log the one in force; a leader starts or stops
    /// tracking the members that came or went.
    pub(super) fn refresh_membership(&mut self) {
        if self.configs.latest() != &self.membership {
            self.membership = self.configs.latest().clone();
        }
        if self.role != Role::Leader {
            return;
        }
        let me = self.config.id;
        let membership = &self.membership;
        self.progress.retain(|p| membership.contains(p.id));
        self.caught_up.retain(|id| membership.learners.contains(id));
        let next = self.log.last_index() + 1;
        let window = (
            self.config.max_inflight_msgs,
            self.config.max_inflight_bytes,
        );
        let added: smallvec::SmallVec<[NodeId; 4]> = membership
            .members()
            .filter(|&id| id != me && !self.progress.iter().any(|p| p.id == id))
            .collect();
        for id in added {
            self.progress
                .push(Progress::new(id, next, self.ticks, window));
        }
    }

    /// The leader's membership duties, run before it sends: step down once removed, leave a
    /// committed joint configuration, report (and maybe promote) caught-up learners.
    pub(super) fn leader_membership_duties(&mut self) {
        let committed = self.log.committed();
        let settled = self.configs.latest_index() <= committed;
        if settled
            && !self.membership.is_voter(self.config.id)
            && !canary!(self.config, RemovedLeaderStaysLeader)
        {
            // Thesis §4.2.2: a leader not in C_new leads until C_new is committed, then steps
            // down; the remaining voters elect a leader among themselves. It first tells them
            // that C_new is committed, so they act on it without waiting for another leader.
            self.send_appends();
            self.become_follower(self.term, None);
            return;
        }
        if settled
            && self.membership.is_joint()
            && self.config.auto_leave_joint
            && !canary!(self.config, JointNeverLeft)
        {
            // Thesis §4.3: once C_old,new is committed the leader appends C_new.
            let _ = self.change_membership(&ConfChange::leave_joint());
        }
        if self.membership.learners.is_empty() {
            return;
        }
        for i in 0..self.progress.len() {
            let (id, matched) = (self.progress[i].id, self.progress[i].match_index);
            if !self.membership.learners.contains(&id) || !self.is_caught_up(id) {
                continue;
            }
            if !self.caught_up.contains(&id) {
                self.caught_up.push(id);
                self.effects.push(Action::LearnerCaughtUp {
                    learner: id,
                    match_index: matched,
                });
            }
            if self.config.auto_promote_learners {
                let change = ConfChange::new([ConfChangeStep::Promote(id)]);
                if self.change_membership(&change).is_ok() {
                    break;
                }
            }
        }
    }
}
