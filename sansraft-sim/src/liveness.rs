//! Liveness, checked in every healthy window ([`crate::health`]) and in the phase after the
//! faults.
//!
//! - **After the faults** (everything healed and restarted): a leader must be elected within a
//!   bounded time, and every request issued after that must complete within a bounded time.
//! - **In every healthy window**, during the faults too: the cluster is never without a leader
//!   for longer than the leader bound; every request issued while the window is open and a
//!   leader exists completes within the request bound if the window lasts that long, and so does
//!   every membership change a leader accepts (committed, and out of any joint configuration,
//!   thesis §4.3); and a
//!   leadership transfer asked for in the window to a caught-up voter is not aborted by the
//!   leader's timeout (thesis §3.10: the target campaigns at once and wins). Every transfer's
//!   outcome is classified ([`crate::outcomes`]) so a sweep shows why the others ended as they did.
//! - **Leader priorities, after the faults**: a leader of lower priority than a voter of its
//!   committed configuration that may lead hands over within the hand-over bound of that voter
//!   holding its committed prefix ([`Liveness::check_priority`]).

use crate::health::Health;
use crate::linearizability::Operation;
use crate::outcomes::{Outcomes, TransferCause};
use crate::scenario::LivenessParams;
use crate::violation::{Failure, ViolationKind};
use crate::Micros;
use sansraft::{NodeId, Role, Term, TransferOutcome};
use std::collections::VecDeque;

/// A leadership transfer asked of a leader, until its outcome.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OpenTransfer {
    /// The leader asked.
    pub(crate) leader: NodeId,
    /// The target.
    pub(crate) target: NodeId,
    /// The leader's term when asked.
    pub(crate) term: Term,
    /// When it was asked.
    pub(crate) at: Micros,
    /// The cluster must have been healthy since then (two election timeouts before `at`) for an
    /// abort to be a bug: a fault just before may still depose the leader (check-quorum counts
    /// the heartbeats it lost) after the window began.
    pub(crate) settled_from: Micros,
    /// The target ran, was a voter of the leader's configuration and held the leader's committed
    /// prefix when asked (so catching it up takes no snapshot and at most the uncommitted tail).
    pub(crate) target_ready: bool,
    /// The leader's configuration was committed when asked.
    pub(crate) membership_settled: bool,
    /// The transfer's critical path at the scenario's worst healthy latencies fits in an
    /// election timeout (see [`transfer_fits`]).
    pub(crate) fits: bool,
    /// An operator asked a node to campaign while the transfer was open: a disruption like a
    /// fault, after which an abort is no bug.
    pub(crate) disturbed: bool,
}

/// Whether a transfer can complete within the leader's election timeout when every message
/// and write takes the longest a healthy cluster allows: its critical path is five messages
/// (the last append and its acknowledgement, `TimeoutNow`, a vote request and its answer) and
/// three durable writes (the target's entries, its term and vote, the voter's vote), plus two
/// ticks of slack for the timers. A slower cluster may abort a transfer without a bug.
pub(crate) fn transfer_fits(
    max_message_us: Micros,
    max_write_us: Micros,
    tick_us: Micros,
    election_timeout_ticks: u32,
) -> bool {
    5 * max_message_us + 3 * max_write_us + 2 * tick_us
        < u64::from(election_timeout_ticks) * tick_us
}

/// What the world knows of the old leader when a transfer ends.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LeaderAfter {
    /// Its role, term and the leader it follows.
    pub(crate) role: Role,
    pub(crate) term: Term,
    pub(crate) leader: Option<NodeId>,
    /// Its configuration is committed.
    pub(crate) membership_settled: bool,
}

/// Tracks liveness over the whole run.
#[derive(Clone, Debug, Default)]
pub(crate) struct Liveness {
    healed_at: Option<Micros>,
    leader_at: Option<Micros>,
    health: Health,
    /// Since when no member has led the highest term (`None` while one does).
    leaderless_since: Option<Micros>,
    /// The leader seen last (term and id), and when it took over.
    last_leader: Option<(Term, NodeId)>,
    /// After the faults: a leader of lower priority than a member it should hand over to, and
    /// since when that member held the leader's committed prefix (`None` until it did).
    priority_owed: Option<((Term, NodeId), Option<Micros>)>,
    leader_since: Micros,
    /// A healthy window began without a leader at this time: the election is timed.
    electing_since: Option<Micros>,
    transfers: Vec<OpenTransfer>,
    /// When an operator last asked a node to campaign.
    last_campaign: Option<Micros>,
    /// Requests issued in the current healthy window while a leader existed: history index and
    /// invocation time, in order.
    watched: VecDeque<(usize, Micros)>,
    /// Membership changes accepted in the current healthy window: the entry's index and when.
    changes: VecDeque<(sansraft::Index, Micros)>,
    outcomes: Outcomes,
}

impl Liveness {
    /// The fault phase ended and everything healed at `now`.
    pub(crate) fn healed(&mut self, now: Micros) {
        self.healed_at = Some(now);
    }

    /// True while waiting for the first leader after healing.
    pub(crate) fn awaiting_leader(&self) -> bool {
        self.healed_at.is_some() && self.leader_at.is_none()
    }

    /// A node is in `role` at `term`; `max_term` is the highest term of any running node.
    pub(crate) fn observe(&mut self, now: Micros, role: Role, term: Term, max_term: Term) {
        if self.awaiting_leader() && role == Role::Leader && term >= max_term {
            self.leader_at = Some(now);
        }
    }

    /// Records whether the cluster is healthy at `now`; `leader` says whether a member leads the
    /// highest term.
    pub(crate) fn set_health(&mut self, now: Micros, healthy: bool, leader: bool) {
        let was = self.health.since().is_some();
        if self.health.set(now, healthy) {
            // Requests and changes begun in the window that ended are no longer owed an answer
            // in time.
            self.watched.clear();
            self.changes.clear();
            self.electing_since = None;
        }
        if healthy && !was && !leader {
            self.electing_since = Some(now);
        }
    }

    /// True while the cluster is healthy.
    pub(crate) fn healthy(&self) -> bool {
        self.health.since().is_some()
    }

    /// After an event: whether a member leads the highest term. Fails if a healthy window has
    /// gone without a leader for longer than the leader bound.
    #[inline]
    pub(crate) fn observe_leader(
        &mut self,
        now: Micros,
        leader: Option<(Term, NodeId)>,
        params: &LivenessParams,
    ) -> Result<(), Failure> {
        if leader.is_some() {
            if leader != self.last_leader {
                self.last_leader = leader;
                self.leader_since = now;
            }
            self.leaderless_since = None;
            if let Some(since) = self.electing_since.take() {
                let e = &mut self.outcomes.elections_healthy;
                e.0 += 1;
                e.1 = e.1.max(now - since);
            }
            return Ok(());
        }
        let leaderless = *self.leaderless_since.get_or_insert(now);
        let Some(healthy) = self.health.since() else {
            return Ok(());
        };
        let from = leaderless.max(healthy);
        if now - from > params.leader_deadline_us {
            return Err(no_leader(now, from, healthy, leaderless, params));
        }
        Ok(())
    }

    /// True while `leader` owes a hand-over after the faults and no member it should hand over
    /// to has been seen caught up yet.
    pub(crate) fn awaits_preferred(&self, leader: (Term, NodeId)) -> bool {
        self.healed_at.is_some() && !matches!(self.priority_owed, Some((l, Some(_))) if l == leader)
    }

    /// After the faults (everything healed and running): fails if `leader`, whose priority is
    /// below that of a voter of its committed configuration that may lead (`gap`: the two
    /// priorities), still leads the hand-over bound after such a voter was first seen holding
    /// its committed prefix (`ready`) in the healthy window. The leader must have handed over
    /// by then (docs/design.md, "Leader priorities"); a preferred member that never catches up
    /// (a snapshot outpaced by newer ones, say) is owed nothing.
    pub(crate) fn check_priority(
        &mut self,
        now: Micros,
        leader: Option<(Term, NodeId)>,
        gap: Option<(u32, u32)>,
        ready: bool,
        params: &LivenessParams,
    ) -> Result<(), Failure> {
        let (Some(healed), Some(healthy), Some(leader), Some((mine, top))) =
            (self.healed_at, self.health.since(), leader, gap)
        else {
            self.priority_owed = None;
            return Ok(());
        };
        let owed = match &mut self.priority_owed {
            Some((l, owed)) if *l == leader => owed,
            slot => &mut slot.insert((leader, None)).1,
        };
        if ready && owed.is_none() {
            *owed = Some(now);
        }
        let Some(ready_at) = *owed else {
            return Ok(());
        };
        let since = ready_at.max(healed).max(healthy);
        if now - since <= params.priority_deadline_us {
            return Ok(());
        }
        let (term, id) = leader;
        Err(Failure::new(
            ViolationKind::LeaderNotPreferred,
            Some(id),
            format!(
                "n{id} (priority {mine}) has led term {term} since t={:.3}s, and a voter of its \
                 configuration with priority {top} has held its committed entries since \
                 t={:.3}s (healthy since t={:.3}s; bound {} ms)",
                self.leader_since as f64 / 1e6,
                ready_at as f64 / 1e6,
                healed.max(healthy) as f64 / 1e6,
                params.priority_deadline_us / 1000
            ),
        ))
    }

    /// A client issued the request at history index `index`.
    pub(crate) fn request_issued(&mut self, index: usize, now: Micros) {
        if self.healthy() && self.leaderless_since.is_none() {
            self.watched.push_back((index, now));
        }
    }

    /// Fails if a request watched in the current healthy window is still open past its bound.
    #[inline]
    pub(crate) fn check_watched(
        &mut self,
        now: Micros,
        history: &[Operation],
        params: &LivenessParams,
    ) -> Result<(), Failure> {
        // After most events nothing is watched: no call, no loop.
        if self.watched.is_empty() {
            return Ok(());
        }
        let overdue = first_overdue(&mut self.watched, now, params.op_deadline_us, |&i| {
            history[i].completed.is_some()
        });
        match overdue {
            Some((index, at)) => Err(stuck_request(now, &history[index], at, params)),
            None => Ok(()),
        }
    }

    /// A leader accepted a membership change whose entry is at `index`.
    pub(crate) fn change_accepted(&mut self, index: sansraft::Index, now: Micros) {
        if self.healthy() {
            self.changes.push_back((index, now));
        }
    }

    /// Fails if a membership change accepted in the current healthy window has not completed
    /// within the request bound: `committed` is the index of the latest committed
    /// configuration, `joint` whether it is joint.
    #[inline]
    pub(crate) fn check_changes(
        &mut self,
        now: Micros,
        committed: sansraft::Index,
        joint: bool,
        params: &LivenessParams,
    ) -> Result<(), Failure> {
        if self.changes.is_empty() {
            return Ok(());
        }
        let done = |&index: &sansraft::Index| change_done(index, committed, joint);
        match first_overdue(&mut self.changes, now, params.op_deadline_us, done) {
            Some((index, at)) => Err(stuck_change(now, index, at, committed, joint, params)),
            None => Ok(()),
        }
    }

    /// A leader was asked to transfer leadership.
    pub(crate) fn transfer_asked(&mut self, mut transfer: OpenTransfer) {
        transfer.disturbed |= self
            .last_campaign
            .is_some_and(|at| at >= transfer.settled_from);
        self.transfers.push(transfer);
    }

    /// `leader` crashed: the transfers it was asked for never end.
    pub(crate) fn leader_crashed(&mut self, leader: NodeId) {
        let outcomes = &mut self.outcomes;
        self.transfers.retain(|t| {
            let keep = t.leader != leader;
            if !keep {
                outcomes.transfer(TransferCause::Unresolved);
            }
            keep
        });
    }

    /// A transfer asked of `leader` ended with `outcome`. Fails if it was aborted by the leader's
    /// timeout although the window stayed healthy and the target was ready.
    pub(crate) fn transfer_ended(
        &mut self,
        now: Micros,
        outcome: TransferOutcome,
        after: LeaderAfter,
        from: NodeId,
    ) -> Result<(), Failure> {
        let target = match outcome {
            TransferOutcome::Done { target }
            | TransferOutcome::Aborted { target }
            | TransferOutcome::Refused { target, .. } => target,
        };
        let Some(at) = self
            .transfers
            .iter()
            .position(|t| t.leader == from && t.target == target)
        else {
            return Ok(());
        };
        let t = self.transfers.remove(at);
        let cause = match outcome {
            TransferOutcome::Done { .. } => TransferCause::Done,
            TransferOutcome::Refused { .. } => TransferCause::Refused,
            TransferOutcome::Aborted { .. } => {
                let superseded = after.term > t.term
                    && (after.role == Role::Leader || after.leader.is_some_and(|l| l != t.target));
                if !self.health.covers(t.settled_from, now) || t.disturbed {
                    TransferCause::AbortedInFault
                } else if !t.target_ready {
                    TransferCause::TargetBehind
                } else if !t.membership_settled || !after.membership_settled {
                    TransferCause::MembershipInFlight
                } else if !t.fits {
                    TransferCause::SlowCluster
                } else if superseded {
                    TransferCause::Superseded
                } else {
                    TransferCause::AbortedHealthy
                }
            }
        };
        self.outcomes.transfer(cause);
        if cause == TransferCause::AbortedHealthy {
            return Err(Failure::new(
                ViolationKind::TransferAborted,
                Some(from),
                format!(
                    "the transfer from n{from} (term {}) to n{target}, asked at t={:.3}s with the \
                     target caught up, was aborted at t={:.3}s although the cluster stayed \
                     healthy (n{from} is now {:?} in term {}, following {:?})",
                    t.term,
                    t.at as f64 / 1e6,
                    now as f64 / 1e6,
                    after.role,
                    after.term,
                    after.leader
                ),
            ));
        }
        Ok(())
    }

    /// An operator asked a node to campaign at `now`: the open transfers, and those asked
    /// before the cluster settles again, may be disrupted.
    pub(crate) fn campaign_requested(&mut self, now: Micros) {
        self.last_campaign = Some(now);
        for t in &mut self.transfers {
            t.disturbed = true;
        }
    }

    /// True while some transfer is open.
    pub(crate) fn transfer_open(&self) -> bool {
        !self.transfers.is_empty()
    }

    /// Counts a failed read; `settle_us` is how long after a change of leader a failure is put
    /// down to the election.
    pub(crate) fn read_failed(
        &mut self,
        error: sansraft::ReadError,
        member: bool,
        leader_now: bool,
        now: Micros,
        settle_us: Micros,
    ) {
        let cause = if !member {
            crate::outcomes::ReadCause::NotMember
        } else if self.transfer_open() {
            crate::outcomes::ReadCause::Transfer
        } else if !leader_now
            || self.leaderless_since.is_some()
            || now - self.leader_since < settle_us
        {
            crate::outcomes::ReadCause::Election
        } else {
            crate::outcomes::ReadCause::of(error)
        };
        let healthy = self.healthy();
        self.outcomes.read_failed(cause, healthy);
    }

    /// The outcome counts of the run so far; transfers still open count as unresolved.
    pub(crate) fn outcomes(&self, now: Micros) -> Outcomes {
        let mut o = self.outcomes;
        for _ in &self.transfers {
            o.transfer(TransferCause::Unresolved);
        }
        o.healthy_us = self.health.healthy_us(now);
        o
    }

    /// The leader deadline passed.
    pub(crate) fn check_leader(&self, params: &LivenessParams) -> Result<(), Failure> {
        match (self.healed_at, self.leader_at) {
            (Some(healed), None) => Err(Failure::new(
                ViolationKind::NoLeader,
                None,
                format!(
                    "no leader within {} ms after everything healed at t={:.3}s",
                    params.leader_deadline_us / 1000,
                    healed as f64 / 1e6
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Every request issued once a leader was elected completed within the deadline (requests
    /// still open at `end` count as taking until `end`).
    pub(crate) fn check_requests(
        &self,
        history: &[Operation],
        params: &LivenessParams,
        end: Micros,
    ) -> Result<(), Failure> {
        let Some(leader_at) = self.leader_at else {
            return Ok(());
        };
        for op in history.iter().filter(|op| op.invoked_at >= leader_at) {
            let done = op.completed.map_or(end, |(t, _)| t);
            if done - op.invoked_at > params.op_deadline_us {
                let client: NodeId = op.client;
                return Err(Failure::new(
                    ViolationKind::StuckRequest,
                    None,
                    format!(
                        "client {client}'s {:?} issued at t={:.3}s {} after {} ms (bound {} ms)",
                        op.op,
                        op.invoked_at as f64 / 1e6,
                        if op.completed.is_some() {
                            "completed only"
                        } else {
                            "still open"
                        },
                        (done - op.invoked_at) / 1000,
                        params.op_deadline_us / 1000
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The failure of a healthy window leaderless since `from` (`healthy` and `leaderless` say
/// since when each).
#[cold]
#[inline(never)]
fn no_leader(
    now: Micros,
    from: Micros,
    healthy: Micros,
    leaderless: Micros,
    params: &LivenessParams,
) -> Failure {
    Failure::new(
        ViolationKind::NoLeader,
        None,
        format!(
            "no leader for {} ms of a healthy window (healthy since t={:.3}s, leaderless since \
             t={:.3}s; bound {} ms)",
            (now - from) / 1000,
            healthy as f64 / 1e6,
            leaderless as f64 / 1e6,
            params.leader_deadline_us / 1000
        ),
    )
}

/// The failure of request `op`, issued at `at`, still open at `now`.
#[cold]
#[inline(never)]
fn stuck_request(now: Micros, op: &Operation, at: Micros, params: &LivenessParams) -> Failure {
    Failure::new(
        ViolationKind::StuckRequest,
        None,
        format!(
            "client {}'s {:?} issued at t={:.3}s in a healthy window, with a leader, is still \
             open after {} ms (bound {} ms)",
            op.client,
            op.op,
            at as f64 / 1e6,
            (now - at) / 1000,
            params.op_deadline_us / 1000
        ),
    )
}

/// True if the membership change whose entry is at `index` completed: the latest committed
/// configuration, at `committed`, is at least as new and not joint.
pub(crate) fn change_done(index: sansraft::Index, committed: sansraft::Index, joint: bool) -> bool {
    committed >= index && !joint
}

/// The failure of the membership change at `index`, accepted at `at`, not completed at `now`.
#[cold]
#[inline(never)]
pub(crate) fn stuck_change(
    now: Micros,
    index: sansraft::Index,
    at: Micros,
    committed: sansraft::Index,
    joint: bool,
    params: &LivenessParams,
) -> Failure {
    Failure::new(
        ViolationKind::StuckChange,
        None,
        format!(
            "the membership change at index {index}, accepted at t={:.3}s in a healthy window, \
             has not completed after {} ms (latest committed configuration at index \
             {committed}{}; bound {} ms)",
            at as f64 / 1e6,
            (now - at) / 1000,
            if joint { ", joint" } else { "" },
            params.op_deadline_us / 1000
        ),
    )
}

/// Drops the items at the front of `owed` (each with the time it began, in order) that are
/// `done`, and returns the first that is not if it is older than `bound`.
pub(crate) fn first_overdue<T: Copy>(
    owed: &mut VecDeque<(T, Micros)>,
    now: Micros,
    bound: Micros,
    done: impl Fn(&T) -> bool,
) -> Option<(T, Micros)> {
    while let Some(&(item, at)) = owed.front() {
        if !done(&item) {
            return (now - at > bound).then_some((item, at));
        }
        owed.pop_front();
    }
    None
}
