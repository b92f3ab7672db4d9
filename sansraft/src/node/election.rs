//! Terms, timers, elections and pre-vote (§5.1, §5.2, thesis §9.6).

use super::role::{Following, Leading, RoleState, Votes};
use super::Node;
use crate::error::CampaignError;
use crate::message::{Body, VoteRequest, VoteResponse};
use crate::progress::Progress;
use crate::quorum::{joint_vote_result, VoteResult};
use crate::types::{NodeId, Term};

impl Node {
    pub(super) fn tick(&mut self) {
        if self.config.quiesce && self.is_quiet() {
            // Quiescence: a quiet node's clock stands still; nothing times out.
            return;
        }
        self.ticks += 1;
        self.election_elapsed = self.election_elapsed.saturating_add(1);
        if self.config.quiesce && self.ticks == 1 {
            // A node just (re)started knows no leader, and a quiet leader sends nothing: say
            // hello, so that a quiet leader of this term wakes and heartbeats before this
            // node's timer runs out (else its campaign disrupts the group).
            self.hello();
        }
        if let Some(leading) = self.role.leading() {
            let (me, now) = (self.config.id, self.ticks);
            let window = u64::from(self.config.election_timeout_ticks);
            let m = self.log.membership();
            if self.config.check_quorum && !leading.quorum_recently_active(me, m, now, window) {
                // Thesis §6.2 (check-quorum): a leader cut off from a quorum steps down, so that
                // clients find the real leader and stale leaders cannot linger.
                self.become_follower(self.term, None);
                self.tick_transfer(false);
                return;
            }
            self.heartbeat_elapsed += 1;
            let heartbeat = self.heartbeat_elapsed >= self.config.heartbeat_interval_ticks;
            if heartbeat {
                self.heartbeat_elapsed = 0;
                self.detect_lost_appends();
                self.update_quiet_intent();
                self.broadcast_heartbeat();
            }
            self.tick_snapshots();
            self.tick_transfer(heartbeat);
            self.maybe_hand_over();
        } else if self.election_elapsed >= self.randomized_election_timeout && self.may_campaign() {
            // §5.2: no leader heard from within the election timeout: start an election.
            self.campaign(self.config.pre_vote);
        }
        if !self.role.is_leader() {
            self.tick_transfer(false);
        }
        if self.config.quiesce
            && self.role.following().is_some_and(|f| f.notice_due)
            && self.election_elapsed % self.config.heartbeat_interval_ticks.max(1) == 0
        {
            self.send_wake_notice();
        }
    }

    /// An embedder's request to campaign now: the term asked for, or why not.
    pub(super) fn on_campaign_request(
        &mut self,
        skip_pre_vote: bool,
    ) -> Result<Term, CampaignError> {
        let refusal = if self.role.is_leader() {
            Some(CampaignError::AlreadyLeader)
        } else if self.log.membership().learners.contains(&self.config.id) {
            // Thesis §4.2.1: learners do not vote, so they never lead.
            Some(CampaignError::Learner)
        } else if self.is_witness() && !canary!(self.config, WitnessMayLead) {
            // A witness's log lacks payloads: it never leads (docs/design.md, "Witnesses").
            Some(CampaignError::Witness)
        } else if !self.may_campaign() {
            Some(CampaignError::NotMember)
        } else if self.term == Term::MAX {
            Some(CampaignError::TermExhausted)
        } else if self.config.lease_reads
            && self.in_leader_lease()
            && !canary!(self.config, CampaignInLease)
        {
            // Thesis §6.4.1: a voter backing a lease votes for no one else until it can have
            // run out, itself included; its election timer would not fire before then either.
            Some(CampaignError::LeaseInForce)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            self.counters.campaign_refused += 1;
            return Err(refusal);
        }
        // A poll is for the next term, and so is the election (which a poll won in this very
        // step, by a lone voter, has already started).
        let term = self.term + 1;
        self.campaign(self.config.pre_vote && !skip_pre_vote);
        Ok(term)
    }

    pub(super) fn campaign(&mut self, pre_vote: bool) {
        self.campaign_with(pre_vote, false);
    }

    /// Starts a (pre-)election; `transfer` flags the vote requests as sent on the leader's
    /// behalf (thesis §3.10).
    pub(super) fn campaign_with(&mut self, pre_vote: bool, transfer: bool) {
        // §5.1 terms only grow: with no term left above this one (only absurd peer input gets a
        // node there) stay put rather than wrap around to term 0.
        if self.term == Term::MAX {
            self.counters.term_exhausted += 1;
            return;
        }
        self.abort_inbound();
        self.role_may_change = true;
        self.election_elapsed = 0;
        self.reset_election_timeout();
        let poll_term = if pre_vote {
            // Thesis §9.6: poll at term + 1 without changing any state.
            self.role = RoleState::PreCandidate(Votes::new());
            self.term + 1
        } else {
            // §5.2: increment the term and vote for self; the vote counts once durable.
            self.role = RoleState::Candidate(Votes::new());
            self.term += 1;
            self.vote = Some(self.config.id);
            self.term
        };
        let config_index = self.log.configs().latest_index();
        let request = VoteRequest {
            pre_vote,
            last_index: self.log.last_index(),
            last_term: self.log.last_term(),
            transfer,
            config_index,
            config_term: self.log.term(config_index).unwrap_or_default(),
        };
        let voters: Vec<NodeId> = self
            .log
            .membership()
            .members()
            .filter(|&id| self.log.membership().is_voter(id))
            .collect();
        let me = self.config.id;
        for id in voters.into_iter().filter(|&id| id != me) {
            self.send_in_term(id, poll_term, Body::Vote(request));
        }
        self.tally_votes();
    }

    /// Counts the votes and acts on the result. A candidate's own vote counts only once its
    /// term and vote are durable, so a crash cannot let it vote twice in the term (§5.2).
    pub(super) fn tally_votes(&mut self) {
        // Figure 2: the candidate's term and self-vote must be durable before it speaks as
        // leader (its appends leave without waiting for storage), even when it wins without
        // its own vote, as a server outside its latest configuration does (thesis §4.2.2).
        let (pre_vote, votes) = match &self.role {
            RoleState::PreCandidate(votes) => (true, votes),
            RoleState::Candidate(votes) => (false, votes),
            RoleState::Follower(_) | RoleState::Leader(_) => return,
        };
        let hs = self.durability.durable_hard_state();
        let durable = pre_vote || (hs.term == self.term && hs.vote == Some(self.config.id));
        let own = durable.then_some(true);
        let id = self.config.id;
        let vote = |voter: NodeId| {
            if voter == id {
                own
            } else {
                votes
                    .iter()
                    .find(|(v, _)| *v == voter)
                    .map(|(_, granted)| *granted)
            }
        };
        let m = self.log.membership();
        // Thesis §4.3: in a joint configuration an election needs a majority of both halves.
        let outgoing: &[NodeId] = if canary!(self.config, JointElectionOneHalf) {
            &[]
        } else {
            &m.outgoing
        };
        match joint_vote_result(&m.voters, outgoing, vote) {
            VoteResult::Won if pre_vote => self.campaign(false),
            VoteResult::Won if durable => self.become_leader(),
            // Won once the write of the term is acknowledged (`on_durable` tallies again).
            VoteResult::Won => {}
            VoteResult::Lost => self.become_follower(self.term, None),
            VoteResult::Pending => {}
        }
    }

    pub(super) fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        debug_assert!(
            term >= self.term,
            "§5.1: terms never decrease ({} -> {term})",
            self.term
        );
        // A refusal stands for the rest of the term (a new leader may offer it again).
        let refused = self
            .role
            .following()
            .and_then(|f| f.refused)
            .filter(|_| term == self.term);
        self.role_may_change = true;
        if term > self.term {
            self.term = term;
            self.vote = None;
        }
        if self.role.following().is_none() || leader.is_some() {
            self.election_elapsed = 0;
            self.reset_election_timeout();
        }
        self.abort_inbound_unless_from(leader, self.term);
        self.observe_leader_for_transfer(leader, self.term);
        // A transfer from this leader in this term continues.
        let inbound = self.role.following_mut().and_then(|f| f.inbound.take());
        if let Some(leading) = self.role.leading_mut() {
            // Reads not confirmed cannot be any more: they fail with this step's actions.
            self.reads.unconfirmed.append(&mut leading.reads.pending);
        }
        self.role = RoleState::Follower(Following {
            leader,
            inbound,
            answered_round: None,
            refused,
            quiet: false,
            notice_due: false,
        });
    }

    fn become_leader(&mut self) {
        debug_assert!(
            matches!(self.role, RoleState::Candidate(_)),
            "only a candidate becomes leader"
        );
        // A transfer started in an earlier term of this node's leadership did not complete.
        self.finish_transfer(false);
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        let next = self.log.last_index() + 1;
        let window = (
            self.config.max_inflight_msgs,
            self.config.max_inflight_bytes,
        );
        let me = self.config.id;
        let now = self.ticks;
        let progress = self
            .log
            .membership()
            .members()
            .filter(|&id| id != me)
            .map(|id| Progress::new(id, next, now, window))
            .collect();
        self.role = RoleState::Leader(Box::new(Leading::new(progress)));
        self.role_may_change = true;
        // §5.4.2 / thesis §3.6.2: commit an empty entry of the new term, which commits every
        // earlier entry with it. (The earlier-term-commit canary leaves it out, as in Figure 8,
        // where the entry would otherwise hide the bug: without it the leader is still correct,
        // it just waits for a proposal before it can commit.)
        if !canary!(self.config, EarlierTermCommit) {
            self.log.push(self.term, None);
        }
        self.maybe_commit();
    }

    pub(super) fn on_vote_request(&mut self, from: NodeId, term: Term, request: VoteRequest) {
        // §5.2 one vote per term; pre-vote grants a poll for a later term without voting.
        let can_vote = self.vote == Some(from)
            || (self.vote.is_none() && self.leader().is_none())
            || (request.pre_vote && term > self.term);
        // c5db's rule: while C_old,new is in force, refuse the poll of a server that is leaving
        // (not in C_new) when its log is no longer than ours, so it cannot win a disruptive
        // election in its last moments. Not at a witness: it cannot lead in the leaver's
        // place, and the voters of C_new may all lag (docs/design.md, "Witnesses").
        let leaving = request.pre_vote
            && !self.is_witness()
            && self.log.membership().is_joint()
            && !self.log.membership().voters.contains(&from)
            && request.last_term == self.log.last_term()
            && request.last_index == self.log.last_index();
        // A witness never leads (docs/design.md, "Witnesses"): no vote or poll for one.
        let witness =
            self.log.membership().is_witness(from) && !canary!(self.config, WitnessMayLead);
        // §5.4.1: only for a log at least as up to date as ours (or, at a witness, for a
        // candidate that must hold every committed entry the witness holds).
        let granted = can_vote
            && !leaving
            && !witness
            && (self
                .log
                .is_up_to_date(request.last_index, request.last_term)
                || self.candidate_holds_what_witness_committed(from, &request)
                || canary!(self.config, VoteWithoutLogCheck));
        if granted && !request.pre_vote {
            self.vote = Some(from);
            // §5.2: a voter that granted a vote waits a full timeout for the candidate.
            if !canary!(self.config, VoteKeepsElectionTimer) {
                self.election_elapsed = 0;
            }
        }
        let response = VoteResponse {
            pre_vote: request.pre_vote,
            granted,
        };
        let reply_term = if granted { term } else { self.term };
        self.send_in_term(from, reply_term, Body::VoteResponse(response));
    }

    pub(super) fn on_vote_response(&mut self, from: NodeId, term: Term, response: VoteResponse) {
        let current = self.term;
        let is_voter = self.log.membership().is_voter(from);
        let votes = match (&mut self.role, response.pre_vote) {
            (RoleState::PreCandidate(votes), true)
                if Some(term) == current.checked_add(1)
                    || (!response.granted && term == current) =>
            {
                Some(votes)
            }
            (RoleState::Candidate(votes), false) if term == current => Some(votes),
            _ => None,
        };
        let Some(votes) = votes.filter(|_| is_voter) else {
            self.counters.unexpected += 1;
            return;
        };
        if !votes.iter().any(|(id, _)| *id == from) {
            votes.push((from, response.granted));
        }
        self.tally_votes();
    }
}
