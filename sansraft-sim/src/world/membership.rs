//! The operator's membership changes: each is proposed at the current leader; a change refused
//! for a transient reason (no leader, the leader has not committed its term yet, another change
//! is in flight, the learner has not caught up yet) is retried a little later, a bounded number of times.

use super::World;
use crate::event::Event;
use crate::fault::{Fault, Partition};
use crate::Micros;
use sansraft::{ConfChange, ConfChangeError, LogPosition, NodeId};

/// Pause before retrying a refused change.
const RETRY_US: Micros = 200_000;
/// Attempts per change.
const MAX_ATTEMPTS: u32 = 25;

impl World {
    /// Proposes the membership change of fault `index` at the current leader.
    pub(super) fn request_change(&mut self, index: usize, fault: &Fault) {
        let change = match *fault {
            Fault::AddLearner { node } => ConfChange::add_learner(node),
            Fault::AddWitness { node } => ConfChange::add_witness(node),
            Fault::Promote { node } => ConfChange::promote(node),
            Fault::RemoveMember { node } => ConfChange::remove(node),
            Fault::Replace { add, remove } => ConfChange::replace(add, remove),
            Fault::SetPriority { node, priority } => ConfChange::set_priority(node, priority),
            _ => return,
        };
        *self.change_attempts.entry(index).or_default() += 1;
        match self.current_leader() {
            (_, Some(leader)) => {
                self.changing = Some(index);
                self.step(
                    leader as usize - 1,
                    sansraft::Input::ChangeMembership(change),
                );
                self.changing = None;
                if self.now < self.split_joint_until {
                    self.split_joint(leader);
                }
            }
            _ => self.retry_change(index),
        }
    }

    /// The leader answered the operator's change of this step.
    pub(super) fn on_membership_proposed(&mut self, result: Result<LogPosition, ConfChangeError>) {
        match result {
            Ok(position) => {
                self.stats.membership_changes += 1;
                self.liveness.change_accepted(position.index, self.now);
            }
            Err(
                ConfChangeError::NotLeader { .. }
                | ConfChangeError::TermNotCommitted
                | ConfChangeError::ChangePending
                | ConfChangeError::InJointConfig
                | ConfChangeError::LearnerNotCaughtUp(_),
            ) => {
                if let Some(index) = self.changing {
                    self.retry_change(index);
                }
            }
            // Not applicable to the configuration in force (e.g. the learner was promoted
            // automatically already): the operator gives up.
            Err(_) => {}
        }
    }

    /// Carries out an armed [`Fault::SplitJoint`] if `leader` now has a joint configuration in
    /// force and the cluster can be split between its halves.
    fn split_joint(&mut self, leader: NodeId) {
        let Some(m) = self.hosts[leader as usize - 1]
            .node
            .as_ref()
            .map(|n| n.membership().clone())
        else {
            return;
        };
        if !m.is_joint() {
            return;
        }
        let majority = |side: &[NodeId], of: &[NodeId]| {
            2 * of.iter().filter(|id| side.contains(id)).count() > of.len()
        };
        let mut others: Vec<NodeId> = m.voters.iter().chain(&m.outgoing).copied().collect();
        others.sort_unstable();
        others.dedup();
        others.retain(|&id| id != leader);
        let mut splits = Vec::new();
        for mask in 0..1u32 << others.len().min(16) {
            let mut side = vec![leader];
            side.extend(
                (0..others.len())
                    .filter(|k| mask >> k & 1 == 1)
                    .map(|k| others[k]),
            );
            let rest: Vec<NodeId> = others
                .iter()
                .copied()
                .filter(|id| !side.contains(id))
                .collect();
            if majority(&side, &m.voters)
                && !majority(&side, &m.outgoing)
                && majority(&rest, &m.outgoing)
                && !majority(&rest, &m.voters)
            {
                splits.push(rest);
            }
        }
        if splits.is_empty() {
            return;
        }
        let rest = splits.swap_remove(self.rng_net.index(splits.len()));
        self.split_joint_until = 0;
        self.stats.joint_splits += 1;
        if let Some(t) = self.tracer.as_mut() {
            t.note(&format!(
                "joint split: n{leader}'s side holds a majority of {:?} only, {rest:?} of {:?} only",
                m.voters, m.outgoing
            ));
        }
        self.network
            .partition(&Partition::Split { side: rest }, leader);
        self.liveness_view = None;
    }

    fn retry_change(&mut self, index: usize) {
        if self.change_attempts.get(&index).copied().unwrap_or(0) < MAX_ATTEMPTS
            && self.now + RETRY_US < self.sc.fault_end_us
        {
            self.queue.push(self.now + RETRY_US, Event::Fault { index });
        }
    }
}
