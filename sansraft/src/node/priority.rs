//! Leader priorities (`Membership::priorities`): elections favour higher priorities by timing
//! alone, and a leader of lower priority hands leadership to a caught-up voter of higher
//! priority through an ordinary leadership transfer (thesis §3.10).
//!
//! Neither rule touches a vote or a quorum: nobody refuses a vote for priority reasons, so
//! safety is Raft's, and a cluster whose preferred member is down elects another after a
//! longer timeout (docs/design.md, "Leader priorities").

use super::Node;
use crate::config::Config;
use crate::types::{Membership, NodeId};

/// Back-off after automatic transfers that aborted, so that a preferred member that cannot
/// win does not make the cluster flap.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct HandOver {
    /// No automatic transfer starts before this tick.
    not_before: u64,
    /// Automatic transfers aborted since the last one that completed.
    aborts: u32,
}

/// The most consecutive aborts that lengthen the back-off: it stops growing at 2^3 = 8
/// election timeouts.
const MAX_BACKOFF_DOUBLINGS: u32 = 3;

/// The highest priority among the members of `m` that may lead (voters of either half that
/// are not witnesses); 0 if none has one.
pub(crate) fn top_priority(m: &Membership) -> u32 {
    (m.priorities.iter())
        .filter(|p| m.may_lead(p.id))
        .map(|p| p.priority)
        .max()
        .unwrap_or(0)
}

/// How much later than the §5.2 range `[T, 2T)` node `id` times out in configuration `m`: one
/// election timeout T if some member that may lead has a higher priority, else nothing. So the
/// preferred members usually campaign first; the others still campaign, in `[2T, 3T)`, when
/// none of them does (they may be down).
pub(crate) fn election_delay(m: &Membership, id: NodeId, config: &Config) -> u32 {
    if m.priority(id) < top_priority(m) && !canary!(config, PriorityIgnored) {
        config.election_timeout_ticks
    } else {
        0
    }
}

impl Node {
    /// Every leader tick: hand leadership to the member of highest priority above this
    /// leader's that may lead, holds every committed entry and was heard from within an
    /// election timeout (ties: the lowest id). Only once the leader committed an entry of its
    /// term (its log is then known complete, §5.4.2), with no membership change or transfer
    /// under way, and never during the back-off after an automatic transfer aborted.
    pub(super) fn maybe_hand_over(&mut self) {
        let Some(leading) = self.role.leading() else {
            return;
        };
        let m = self.log.membership();
        let (me, now) = (self.config.id, self.ticks);
        let mine = m.priority(me);
        // Hysteresis: only a strictly higher priority moves leadership, so equal priorities
        // never ping-pong.
        if m.priorities.iter().all(|p| p.priority <= mine)
            || self.transfer.is_some()
            || now < self.hand_over.not_before
            || canary!(self.config, PriorityIgnored)
        {
            return;
        }
        let committed = self.log.committed();
        // Ongaro 2015 / thesis §3.10: the leader knows its log holds every committed entry only
        // once it committed one of its own term; one change at a time (thesis §4.1).
        if self.log.term(committed) != Some(self.term)
            || m.is_joint()
            || self.log.configs().latest_index() > committed
        {
            return;
        }
        let window = u64::from(self.config.election_timeout_ticks);
        let target = (leading.progress.iter())
            .filter(|p| {
                m.may_lead(p.id)
                    && m.priority(p.id) > mine
                    && p.match_index >= committed
                    && now.saturating_sub(p.last_contact_tick) <= window
            })
            .max_by_key(|p| (m.priority(p.id), core::cmp::Reverse(p.id)))
            .map(|p| p.id);
        if let Some(target) = target {
            self.counters.priority_transfers += 1;
            self.start_transfer(target, true);
        }
    }

    /// True if a hand-over is due or will be: a member of higher priority that may lead is not
    /// known unreachable. Such a group stays awake (its leader ticks on until it hands over).
    pub(super) fn hand_over_wanted(&self) -> bool {
        let Some(leading) = self.role.leading() else {
            return false;
        };
        let m = self.log.membership();
        let mine = m.priority(self.config.id);
        !canary!(self.config, PriorityIgnored)
            && (m.priorities.iter()).any(|p| {
                p.priority > mine
                    && m.may_lead(p.id)
                    && leading.peer(p.id).is_some_and(|pr| !pr.unreachable)
            })
    }

    /// An automatic transfer ended: a completed one resets the back-off, an aborted one
    /// doubles it (two election timeouts after the first abort, at most eight).
    pub(super) fn priority_transfer_ended(&mut self, done: bool) {
        if done {
            self.hand_over = HandOver::default();
            return;
        }
        let h = &mut self.hand_over;
        h.aborts = h.aborts.saturating_add(1);
        let doublings = h.aborts.min(MAX_BACKOFF_DOUBLINGS);
        let backoff = u64::from(self.config.election_timeout_ticks) << doublings;
        h.not_before = self.ticks + backoff;
    }

    /// Ticks before this node may start another automatic transfer (0 if it may now).
    pub fn hand_over_backoff_ticks(&self) -> u64 {
        self.hand_over.not_before.saturating_sub(self.ticks)
    }
}
