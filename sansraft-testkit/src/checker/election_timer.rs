//! Figure 2, rules for followers: "If election timeout elapses without receiving AppendEntries
//! RPC from current leader or granting vote to candidate: convert to candidate." The oracle
//! counts each node's ticks since it last heard from a leader, granted a vote, changed role or
//! started, and fails if a follower starts a (pre-)campaign on a tick before an election
//! timeout's worth of them passed. A `TimeoutNow` (thesis §3.10) campaigns at once by design and
//! is not a tick. The embedder's failure detector (`Input::PeerUnreachable`, with quiescence)
//! stands for the timeout: after its report the node may campaign on any tick.

use super::Check;
use super::{Breach, Rule};
use sansraft::{Body, Input, NodeId, Role, Term};

/// What the oracle needs of a node before a step.
#[derive(Clone, Copy, Debug)]
pub struct Before {
    role: Role,
    term: Term,
    vote: Option<NodeId>,
    tick: bool,
    heard_leader: bool,
    detector: bool,
}

impl Before {
    /// Reads a node and the input it is about to handle.
    pub fn of(node: &sansraft::Node, input: &Input) -> Before {
        let term = node.term();
        let heard_leader = matches!(input, Input::Message(m)
        if m.term >= term && matches!(
            m.body,
            Body::Append(_) | Body::Heartbeat(_) | Body::SnapshotChunk(_) | Body::TimeoutNow
        ));
        Before {
            role: node.role(),
            term,
            vote: node.vote(),
            // A quiet node's clock stands still: a tick given anyway is not one.
            tick: matches!(input, Input::Tick) && node.needs_ticks(),
            heard_leader,
            // The engine counts the timeout as run out only at a follower told about its own
            // leader, and never while it may back a lease (it promised to wait it out).
            detector: matches!(input, &Input::PeerUnreachable(id)
                if node.role() == Role::Follower
                    && node.leader() == Some(id)
                    && !node.config().lease_reads),
        }
    }
}

impl Before {
    /// True if the step changed the node's role or term (`view` is read after it).
    pub fn role_or_term_changed(&self, view: &super::NodeView) -> bool {
        (view.role, view.term) != (self.role, self.term)
    }
}

/// Ticks since each node (by index) last had a reason to wait a full election timeout.
#[derive(Clone, Debug)]
pub struct ElectionTimers {
    quiet_ticks: Vec<u64>,
    timeout_ticks: u64,
}

impl ElectionTimers {
    /// Timers for `n` nodes whose election timeout is `timeout_ticks`.
    pub fn new(n: usize, timeout_ticks: u32) -> Self {
        ElectionTimers {
            quiet_ticks: vec![0; n],
            timeout_ticks: u64::from(timeout_ticks),
        }
    }

    /// Node `i` (re)started: its timer starts from zero.
    pub fn restart(&mut self, i: usize) {
        self.quiet_ticks[i] = 0;
    }

    /// Node `i` handled an input: `before` was read before it, `role` and `vote` after.
    #[inline]
    pub fn after_step(
        &mut self,
        i: usize,
        id: NodeId,
        before: Before,
        role: Role,
        vote: Option<NodeId>,
    ) -> Check {
        let quiet = &mut self.quiet_ticks[i];
        if before.heard_leader {
            *quiet = 0;
        }
        if before.tick {
            *quiet += 1;
        }
        if before.detector {
            *quiet = (*quiet).max(self.timeout_ticks);
        }
        let campaigned =
            before.role == Role::Follower && matches!(role, Role::PreCandidate | Role::Candidate);
        if campaigned && before.tick && *quiet < self.timeout_ticks {
            return Err(early_campaign(id, before.term, *quiet, self.timeout_ticks));
        }
        let granted = vote != before.vote && vote.is_some_and(|v| v != id);
        if role != before.role || granted {
            *quiet = 0;
        }
        Ok(())
    }
}

/// The failure of node `id` campaigning from `term` after only `quiet` ticks.
#[cold]
#[inline(never)]
fn early_campaign(id: NodeId, term: Term, quiet: u64, timeout_ticks: u64) -> Breach {
    Breach::new(
        Rule::EarlyCampaign,
        Some(id),
        format!(
            "campaigned from term {term} after {quiet} quiet ticks, less than the election \
             timeout of {timeout_ticks} (Figure 2: a follower waits a timeout after hearing from \
             its leader or granting a vote)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn before(role: Role, vote: Option<NodeId>, tick: bool) -> Before {
        Before {
            role,
            term: 1,
            vote,
            tick,
            heard_leader: false,
            detector: false,
        }
    }

    #[test]
    fn a_campaign_before_the_timeout_since_a_granted_vote_fails() {
        let mut t = ElectionTimers::new(1, 10);
        // Node 1 grants its vote to node 2, then campaigns 5 ticks later.
        let grant = before(Role::Follower, None, false);
        t.after_step(0, 1, grant, Role::Follower, Some(2)).unwrap();
        for _ in 0..4 {
            let tick = before(Role::Follower, Some(2), true);
            t.after_step(0, 1, tick, Role::Follower, Some(2)).unwrap();
        }
        let tick = before(Role::Follower, Some(2), true);
        let err = t
            .after_step(0, 1, tick, Role::PreCandidate, Some(2))
            .unwrap_err();
        assert_eq!(err.rule, Rule::EarlyCampaign);
    }

    #[test]
    fn a_campaign_after_the_timeout_passes() {
        let mut t = ElectionTimers::new(1, 10);
        for _ in 0..9 {
            let tick = before(Role::Follower, None, true);
            t.after_step(0, 1, tick, Role::Follower, None).unwrap();
        }
        let tick = before(Role::Follower, None, true);
        t.after_step(0, 1, tick, Role::Candidate, Some(1)).unwrap();
    }
}
