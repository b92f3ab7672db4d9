//! Quiescence ([`crate::Config::quiesce`], docs/design.md "Quiescence"): an idle group stops
//! heartbeating and its members stop their timers, so that a process can hold many idle
//! groups at no cost per tick.
//!
//! The leader asks at a heartbeat, once every member it can reach holds its whole log and
//! commit index and nothing is under way (proposals, reads, a transfer, a membership change, a
//! hand-over to a preferred member); members whose logs end at the commit index go quiet and
//! say so; once all reachable members said so, the leader goes quiet too. Any input but a tick
//! or a storage or application report wakes a node; a woken follower tells its leader, and a
//! woken leader heartbeats at its next tick, which wakes the followers. A quiet follower learns
//! of its leader's failure from the embedder's failure detector
//! ([`crate::Input::PeerUnreachable`]).
//!
//! A quiet node's clock stands still, so nothing that rests on elapsed ticks may survive a quiet
//! period: a leader's lease ends when it goes quiet (thesis §6.4.1), and a node forgets its
//! freshness proofs and refuses proofs of stamps taken before (bounded-staleness reads).
//! Safety never rests on quiescence: every rule it changes is a timer's.

use super::role::{Quiescence, RoleState};
use super::Node;
use crate::io::Input;
use crate::message::{Body, HeartbeatResponse, Message};
use crate::progress::ProgressState;
use crate::quorum::{joint_vote_result, VoteResult};
use crate::types::{Index, NodeId};

impl Node {
    /// Whether the node needs [`Input::Tick`]s: false while it is quiet
    /// ([`crate::Config::quiesce`]). A host may stop ticking a node that needs none until it
    /// steps it with any other input; a tick given anyway changes nothing (the node's clock
    /// stands still while quiet).
    pub fn needs_ticks(&self) -> bool {
        !self.is_quiet()
    }

    /// True while the node is quiet: a leader that went quiet with its group, or a follower
    /// its quiet leader put to rest.
    pub fn is_quiet(&self) -> bool {
        match &self.role {
            RoleState::Leader(leading) => leading.quiescence == Quiescence::Quiet,
            RoleState::Follower(following) => following.quiet,
            RoleState::PreCandidate(_) | RoleState::Candidate(_) => false,
        }
    }

    /// Before a step of a node configured to quiesce: whether it is quiet, and wakes it for
    /// the input if that input wakes it. Kept out of line: the step of a node that never
    /// quiesces pays nothing for it.
    #[inline(never)]
    pub(super) fn before_quiescent_step(&mut self, input: &Input) -> bool {
        let quiet = self.is_quiet();
        self.wake_for_input(input);
        quiet
    }

    /// Wakes the node for an input other than a message (messages are judged in dispatch),
    /// unless it is a tick or a report from the node's own storage or application.
    fn wake_for_input(&mut self, input: &Input) {
        match input {
            Input::Tick
            | Input::Persisted(_)
            | Input::Applied(_)
            | Input::SnapshotTaken(_)
            | Input::Message(_)
            | Input::PeerUnreachable(_)
            | Input::PeerReachable(_) => {}
            _ => self.wake(None),
        }
    }

    /// Whether message `m`, from a member, wakes this node: any message does, but the quiet
    /// answers to a quiescing round (at a leader), and at a follower a heartbeat answer (which
    /// means nothing to it) and what its own leader sends that says nothing new: a quiescing
    /// heartbeat, a heartbeat of a round already answered, or an append of entries it holds
    /// and a commit index it knows. A late duplicate of the leader's must not wake a follower:
    /// its timer would run while the leader, quiet, sends nothing.
    pub(super) fn woken_by(&self, m: &Message) -> bool {
        match &self.role {
            RoleState::Leader(leading) => {
                leading.quiescence != Quiescence::Awake
                    && !matches!(&m.body, Body::HeartbeatResponse(r) if r.quiet && m.term == self.term)
            }
            RoleState::Follower(following) => {
                following.quiet
                    && !matches!(&m.body, Body::HeartbeatResponse(_))
                    && !(m.term == self.term
                        && following.leader == Some(m.from)
                        && self.says_nothing_new(&m.body, following.answered_round))
            }
            RoleState::PreCandidate(_) | RoleState::Candidate(_) => false,
        }
    }

    /// True if a message of this node's leader, in its term, tells a quiet follower nothing it
    /// does not know (see [`Node::woken_by`]).
    fn says_nothing_new(&self, body: &Body, answered_round: Option<u64>) -> bool {
        match body {
            Body::Heartbeat(h) => h.quiesce || answered_round.is_some_and(|r| h.round <= r),
            Body::Append(a) => {
                let end = a.prev_index.saturating_add(a.entries.len() as u64);
                end <= self.log.last_index() && a.commit <= self.log.committed()
            }
            _ => false,
        }
    }

    /// Wakes the node if it is quiet or going quiet. `by` is the peer whose message or
    /// failure woke it: a woken follower tells its leader unless the leader is `by`.
    pub(super) fn wake(&mut self, by: Option<NodeId>) {
        let mut tell = None;
        match &mut self.role {
            RoleState::Leader(leading) if leading.quiescence != Quiescence::Awake => {
                let was_quiet = leading.quiescence == Quiescence::Quiet;
                leading.set_awake();
                if was_quiet {
                    // Heartbeat at the next tick: a round that asks the group to go quiet
                    // again if nothing keeps it awake, and wakes the followers if something
                    // does; the lease and the freshness proofs are rebuilt on new rounds.
                    self.heartbeat_elapsed = self.config.heartbeat_interval_ticks;
                }
            }
            RoleState::Follower(following) if following.quiet => {
                following.quiet = false;
                tell = following.leader.filter(|&l| Some(l) != by);
                following.notice_due = tell.is_some();
            }
            _ => {}
        }
        if tell.is_some() {
            // The leader is quiet and sends nothing: without word from us it would stay so
            // while this node's election timer runs.
            self.send_wake_notice();
        }
    }

    /// A follower that knows no leader greets every other voter with a notice.
    pub(super) fn hello(&mut self) {
        if !matches!(&self.role, RoleState::Follower(f) if f.leader.is_none()) {
            return;
        }
        let me = self.config.id;
        let m = self.log.membership();
        let voters: Vec<NodeId> = m
            .members()
            .filter(|&id| id != me && m.is_voter(id))
            .collect();
        for id in voters {
            let hello = HeartbeatResponse {
                round: 0,
                stamp: None,
                quiet: false,
            };
            self.send(id, Body::HeartbeatResponse(hello));
        }
    }

    /// A woken follower's notice to its leader.
    pub(super) fn send_wake_notice(&mut self) {
        let Some(following) = self.role.following() else {
            return;
        };
        let Some(leader) = following.leader else {
            return;
        };
        let notice = HeartbeatResponse {
            round: following.answered_round.unwrap_or(0),
            stamp: None,
            quiet: false,
        };
        self.send(leader, Body::HeartbeatResponse(notice));
    }

    /// Leader, at each heartbeat: ask the group to go quiet if nothing keeps it awake, or stop
    /// asking if something does.
    pub(super) fn update_quiet_intent(&mut self) {
        let may = self.may_quiesce();
        let Some(leading) = self.role.leading_mut() else {
            return;
        };
        match (leading.quiescence, may) {
            (Quiescence::Awake, true) => {
                leading.quiescence = Quiescence::Asking {
                    round: leading.reads.round + 1,
                }
            }
            (Quiescence::Asking { .. }, false) => leading.set_awake(),
            _ => {}
        }
    }

    /// True if this leader's group may go quiet: leader and every member it can reach hold
    /// the whole log, all of it committed in this term, durably; no proposal, read, transfer,
    /// membership change, snapshot or hand-over is under way; and the reachable voters are a
    /// quorum (else check-quorum must keep running).
    fn may_quiesce(&self) -> bool {
        let Some(leading) = self.role.leading() else {
            return false;
        };
        let last = self.log.last_index();
        let m = self.log.membership();
        if !self.config.quiesce
            || self.log.committed() != last
            || self.log.durable() < last
            || self.log.term(last) != Some(self.term)
            || self.transfer.is_some()
            || !leading.reads.pending.is_empty()
            || self.reads.len() > 0
            || m.is_joint()
            || self.hand_over_wanted()
            || self.freshness.wanted(self.ticks)
        {
            return false;
        }
        let level = |p: &crate::progress::Progress| {
            p.unreachable || (p.state == ProgressState::Replicate && p.match_index == last)
        };
        if !leading.progress.iter().all(level) {
            return false;
        }
        let me = self.config.id;
        let reachable =
            |id: NodeId| Some(id == me || leading.peer(id).is_some_and(|p| !p.unreachable));
        joint_vote_result(&m.voters, &m.outgoing, reachable) == VoteResult::Won
    }

    /// Leader: `from` answered round `round`, quiet or not. Once every reachable member
    /// answered a quiescing round saying it is quiet, and nothing changed meanwhile, the leader
    /// goes quiet too.
    pub(super) fn on_quiet_answer(&mut self, from: NodeId, round: u64, quiet: bool) {
        let Some(leading) = self.role.leading_mut() else {
            return;
        };
        let Quiescence::Asking { round: asked } = leading.quiescence else {
            return;
        };
        if let Some(pr) = leading.peer_mut(from).filter(|_| quiet && round >= asked) {
            pr.quiet = true;
        }
        if !leading.progress.iter().all(|p| p.quiet || p.unreachable) || !self.may_quiesce() {
            return;
        }
        let (ticks, keep_freshness) = (self.ticks, canary!(self.config, QuietFreshnessKept));
        let Some(leading) = self.role.leading_mut() else {
            return;
        };
        leading.quiescence = Quiescence::Quiet;
        // Thesis §6.4.1: the lease counts the leader's ticks, which stop while it is quiet.
        leading.reads.lease_floor = leading.reads.round;
        leading.reads.own_freshness = None;
        if !keep_freshness {
            self.freshness.go_quiet(ticks);
        }
        self.counters.quiesced += 1;
    }

    /// Follower: its leader's quiescing heartbeat with commit index `commit` arrived. Goes
    /// quiet if its log ends there, all of it committed and durable, with no read or snapshot
    /// under way; returns whether it did.
    pub(super) fn on_quiescing_heartbeat(&mut self, commit: Index) -> bool {
        let last = self.log.last_index();
        let ready = self.config.quiesce
            && !self.freshness.wanted(self.ticks)
            && last == commit
            && self.log.committed() == last
            && self.log.durable() >= last
            && self.reads.len() == 0
            && !self.log.install_staged();
        let (ticks, keep_freshness) = (self.ticks, canary!(self.config, QuietFreshnessKept));
        let Some(following) = self.role.following_mut() else {
            return false;
        };
        if !ready || following.inbound.is_some() || following.leader.is_none() {
            return false;
        }
        if !following.quiet {
            following.quiet = true;
            if !keep_freshness {
                self.freshness.go_quiet(ticks);
            }
            self.counters.quiesced += 1;
        }
        true
    }

    /// The failure detector hears from node `id` again ([`Input::PeerReachable`]).
    pub(super) fn on_peer_reachable(&mut self, id: NodeId) {
        if id == self.config.id || id == 0 || !self.log.membership().contains(id) {
            self.counters.unknown_peer += 1;
            return;
        }
        let marked = (self.role.leading())
            .and_then(|leading| leading.peer(id))
            .is_some_and(|pr| pr.unreachable);
        if marked {
            // The group may have gone quiet without `id`, which may lag: heartbeat again, so
            // that it answers (clearing the mark) and is brought up to date.
            self.wake(Some(id));
        }
    }

    /// How long after the election timeout this node campaigns when the detector reports its
    /// leader `dead`: its rank among the members that may lead (but `dead`), by priority then
    /// id, times an equal share of T. The first in line campaigns at once; each next one, in
    /// case those before it are down too, a share later; all within T.
    fn failover_stagger(&self, dead: NodeId) -> u32 {
        let m = self.log.membership();
        let me = self.config.id;
        let key = |id: NodeId| (core::cmp::Reverse(m.priority(id)), id);
        let (mut rank, mut count) = (0u32, 0u32);
        for id in m.members().filter(|&id| id != dead && m.may_lead(id)) {
            count += 1;
            rank += u32::from(id != me && key(id) < key(me));
        }
        // At least a tick apart: T / count is 0 when T < count, which would stagger nothing.
        (self.config.election_timeout_ticks / count.max(1)).max(1) * rank
    }

    /// Gives back the spare capacity of every buffer, once the node went quiet: an idle group
    /// should cost its host as little memory as it can (thousands of them per process).
    #[inline(never)]
    pub(super) fn shrink_when_quiet(&mut self) {
        self.effects.shrink_to_fit();
        self.outbox.shrink();
        self.durability.shrink();
        self.reads.shrink();
        self.log.shrink();
        if let Some(leading) = self.role.leading_mut() {
            leading.reads.shrink();
            leading.caught_up.shrink_to_fit();
            for pr in &mut leading.progress {
                pr.inflight.shrink();
            }
        }
    }

    /// The failure detector says node `id` is unreachable ([`Input::PeerUnreachable`]).
    pub(super) fn on_peer_unreachable(&mut self, id: NodeId) {
        if id == self.config.id || id == 0 || !self.log.membership().contains(id) {
            self.counters.unknown_peer += 1;
            return;
        }
        match &mut self.role {
            RoleState::Leader(leading) => {
                if let Some(pr) = leading.peer_mut(id) {
                    pr.unreachable = true;
                }
                // Awake, the leader checks its quorum again, and goes quiet again without
                // `id` if it may.
                self.wake(Some(id));
            }
            RoleState::Follower(following) if following.leader == Some(id) => {
                if following.quiet && canary!(self.config, QuietIgnoresDetector) {
                    return;
                }
                self.wake(Some(id));
                // Figure 2's follower timeout, decided by the detector: the leader is gone.
                // Not while backing a lease (thesis §6.4.1): the voter promised to wait a
                // whole election timeout after hearing the leader, on its own clock.
                let timeout = self.config.election_timeout_ticks;
                if !self.config.lease_reads {
                    self.election_elapsed = self.election_elapsed.max(timeout);
                }
                // Campaign in turn rather than at random: every member that may lead told at
                // once would otherwise often split the vote.
                // + 1: the next tick is the first at which any of them campaigns (the
                // elapsed count is already T), so rank r campaigns r shares after rank 0.
                self.randomized_election_timeout = timeout + 1 + self.failover_stagger(id);
            }
            RoleState::Follower(_) | RoleState::PreCandidate(_) | RoleState::Candidate(_) => {}
        }
    }
}
