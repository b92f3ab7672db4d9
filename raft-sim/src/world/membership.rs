//! The operator's membership changes: each is proposed at the current leader; a change refused
//! for a transient reason (no leader, the leader has not committed its term yet, another change
//! is in flight, the learner has not caught up yet) is retried a little later, a bounded number of times.

use super::World;
use crate::event::Event;
use crate::fault::Fault;
use crate::Micros;
use raft_core::{ConfChange, ConfChangeError, LogPosition};

/// Pause before retrying a refused change.
const RETRY_US: Micros = 200_000;
/// Attempts per change.
const MAX_ATTEMPTS: u32 = 25;

impl World {
    /// Proposes the membership change of fault `index` at the current leader.
    pub(super) fn request_change(&mut self, index: usize, fault: &Fault) {
        let change = match *fault {
            Fault::AddLearner { node } => ConfChange::add_learner(node),
            Fault::Promote { node } => ConfChange::promote(node),
            Fault::RemoveMember { node } => ConfChange::remove(node),
            Fault::Replace { add, remove } => ConfChange::replace(add, remove),
            _ => return,
        };
        *self.change_attempts.entry(index).or_default() += 1;
        match self.current_leader() {
            (_, Some(leader)) => {
                self.changing = Some(index);
                self.step(
                    leader as usize - 1,
                    raft_core::Input::ChangeMembership(change),
                );
                self.changing = None;
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

    fn retry_change(&mut self, index: usize) {
        if self.change_attempts.get(&index).copied().unwrap_or(0) < MAX_ATTEMPTS
            && self.now + RETRY_US < self.sc.fault_end_us
        {
            self.queue.push(self.now + RETRY_US, Event::Fault { index });
        }
    }
}
