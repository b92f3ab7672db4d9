//! The operator's membership changes: each is proposed at the current leader; a change refused
//! for a transient reason (no leader, the leader has not committed its term yet, another change
//! is in flight, the learner has not caught up yet) is retried a little later, a bounded number of times.

use super::World;
use crate::event::Event;
use crate::fault::{Fault, Partition};
use crate::operator;
use sansraft::{ConfChangeError, LogPosition, NodeId};

impl World {
    /// Proposes the membership change of fault `index` at the current leader.
    pub(super) fn request_change(&mut self, index: usize, fault: &Fault) {
        let Some(change) = operator::conf_change(fault) else {
            return;
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
            Err(e) if operator::is_transient(&e) => {
                if let Some(index) = self.changing {
                    self.retry_change(index);
                }
            }
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
        let mut splits = operator::joint_splits(&m, leader);
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
        if self.change_attempts.get(&index).copied().unwrap_or(0) < operator::MAX_ATTEMPTS
            && self.now + operator::RETRY_US < self.sc.fault_end_us
        {
            self.queue
                .push(self.now + operator::RETRY_US, Event::Fault { index });
        }
    }
}
