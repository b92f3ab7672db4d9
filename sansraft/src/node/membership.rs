//! Membership changes on the node: proposing them (thesis §4.3), tracking the configuration in
//! force as entries are appended and truncated (thesis §4.1), and the leader's duties — leaving a
//! joint configuration, stepping down once removed (thesis §4.2.2), and reporting caught-up
//! learners.

use super::role::RoleState;
use super::Node;
use crate::confchange::{next_membership, ConfChange, ConfChangeError, ConfChangeStep};
use crate::io::Action;
use crate::message::VoteRequest;
use crate::progress::Progress;
use crate::types::{LogPosition, NodeId};

impl Node {
    /// Validates `change` against the latest configuration in the log and appends its entry.
    pub(super) fn change_membership(
        &mut self,
        change: &ConfChange,
    ) -> Result<LogPosition, ConfChangeError> {
        let Some(leading) = self.role.leading() else {
            return Err(ConfChangeError::NotLeader {
                leader: self.leader(),
            });
        };
        // Ongaro's 2015 fix: a leader changes the configuration only after committing an entry
        // of its own term, so it cannot race an earlier leader's uncommitted change.
        if self.log.term(self.log.committed()) != Some(self.term) {
            return Err(ConfChangeError::TermNotCommitted);
        }
        // Thesis §4.1: one change at a time; the next waits until the latest one is committed.
        if self.log.configs().latest_index() > self.log.committed() {
            return Err(ConfChangeError::ChangePending);
        }
        let next = next_membership(self.log.membership(), change)?;
        // Thesis §4.2.1: a new voter must first catch up as a learner.
        let (last, gap) = (self.log.last_index(), self.config.learner_catch_up_gap);
        for step in &change.steps {
            if let ConfChangeStep::Promote(id) = *step {
                if !leading.is_caught_up(id, last, gap) {
                    return Err(ConfChangeError::LearnerNotCaughtUp(id));
                }
            }
        }
        // Thesis §4.1: the new configuration is in force from the moment it is appended.
        let index = self.log.push(self.term, Some(next));
        self.refresh_membership();
        Ok(LogPosition {
            term: self.term,
            index,
        })
    }

    pub(super) fn is_voter(&self) -> bool {
        self.log.membership().is_voter(self.config.id)
    }

    /// Voters campaign; learners and witnesses never do. Thesis §4.2.2: a server outside its
    /// own latest configuration still campaigns while that configuration is uncommitted (it may
    /// be needed to commit it), without counting its own vote.
    pub(super) fn may_campaign(&self) -> bool {
        let me = self.config.id;
        (self.is_voter()
            || (!self.log.membership().contains(me)
                && self.log.configs().latest_index() > self.log.committed()))
            // A witness's log may lack payloads: it never leads.
            && (!self.is_witness() || canary!(self.config, WitnessMayLead))
    }

    /// At a witness: true if every entry it holds that may be committed must also be on
    /// `candidate`, whatever the candidate's log, so its vote may overlook its own longer log.
    /// Without this, a witness beside one other voter whose log holds entries that voter lacks
    /// (their leader was removed, or crashed before sending them on) would refuse it forever,
    /// and no one could lead (docs/design.md, "Witnesses").
    ///
    /// Let K be where the run of configurations that end the witness's log and each have at
    /// most two (incoming) voters, the candidate among them, begins (a configuration entry, or
    /// the snapshot). An entry after K was committed by a leader whose latest configuration
    /// was the one in force at the entry (in the run), or its successor, which keeps that
    /// one's voters as its outgoing half or as its own (thesis §4.3), or a later one, which
    /// waits for that successor to commit: each time by a majority including the candidate. The candidate holds K and
    /// everything before it if K is committed (first under K itself, by a majority including
    /// the candidate), as the witness's commit index shows, or if the witness holds the
    /// candidate's latest configuration entry at or after K (Log Matching: the two logs are
    /// the same up to it).
    pub(super) fn candidate_holds_what_witness_committed(
        &self,
        candidate: NodeId,
        request: &VoteRequest,
    ) -> bool {
        if !self.is_witness() {
            return false;
        }
        let pinned =
            |m: &crate::types::Membership| m.voters.len() <= 2 && m.voters.contains(&candidate);
        let Some(since) = self.log.configs().run_since(pinned) else {
            return false;
        };
        let shares_config = request.config_index >= since
            && self.log.term(request.config_index) == Some(request.config_term);
        self.log.committed() >= since || shares_config
    }

    /// True if this node is a witness ([`crate::Config::witness`]): its log keeps no payloads, so
    /// it never leads (docs/design.md, "Witnesses").
    pub fn is_witness(&self) -> bool {
        self.config.witness
    }

    /// The configuration in force changed: a leader starts or stops tracking the members that
    /// came or went.
    pub(super) fn refresh_membership(&mut self) {
        let RoleState::Leader(leading) = &mut self.role else {
            return;
        };
        leading.quorum_changed = true;
        let me = self.config.id;
        let membership = self.log.membership();
        leading.progress.retain(|p| membership.contains(p.id));
        leading
            .caught_up
            .retain(|id| membership.learners.contains(id));
        let next = self.log.last_index() + 1;
        let window = (
            self.config.max_inflight_msgs,
            self.config.max_inflight_bytes,
        );
        let added: smallvec::SmallVec<[NodeId; 4]> = membership
            .members()
            .filter(|&id| id != me && leading.peer(id).is_none())
            .collect();
        for id in added {
            leading
                .progress
                .push(Progress::new(id, next, self.ticks, window));
        }
    }

    /// The leader's membership duties, run before it sends: step down once removed, leave a
    /// committed joint configuration, report (and maybe promote) caught-up learners.
    pub(super) fn leader_membership_duties(&mut self) {
        let committed = self.log.committed();
        let settled = self.log.configs().latest_index() <= committed;
        if settled
            && !self.log.membership().is_voter(self.config.id)
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
            && self.log.membership().is_joint()
            && self.config.auto_leave_joint
            && !canary!(self.config, JointNeverLeft)
        {
            // Thesis §4.3: once C_old,new is committed the leader appends C_new.
            let _ = self.change_membership(&ConfChange::leave_joint());
        }
        if self.log.membership().learners.is_empty() {
            return;
        }
        let (last, gap) = (self.log.last_index(), self.config.learner_catch_up_gap);
        let peers = self
            .role
            .leading()
            .map_or(0, |leading| leading.progress.len());
        for i in 0..peers {
            let Some(leading) = self.role.leading_mut() else {
                return;
            };
            let (id, matched) = (leading.progress[i].id, leading.progress[i].match_index);
            if !self.log.membership().learners.contains(&id) || !leading.is_caught_up(id, last, gap)
            {
                continue;
            }
            if !leading.caught_up.contains(&id) {
                leading.caught_up.push(id);
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
