//! Membership change requests and their validation (thesis §4.3, joint consensus).
//!
//! A change is a list of steps applied together to the latest configuration in the log. If the
//! voter set changes, the result is a joint configuration C_old,new (`outgoing` = the old voters)
//! in which every decision needs a majority of both halves; a second entry, C_new, leaves it.
//! Learner-only changes take effect in one step, as they do not touch any quorum.

use crate::types::{Membership, NodeId};
use smallvec::SmallVec;

/// One step of a membership change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfChangeStep {
    /// Add a node that is not a member as a learner: it receives the log but does not vote.
    AddLearner(NodeId),
    /// Make a learner a voter. Add voters by adding them as learners first and promoting them
    /// once they have caught up ([`crate::Action::LearnerCaughtUp`]).
    Promote(NodeId),
    /// Remove a voter or a learner.
    Remove(NodeId),
}

/// A membership change: steps applied together. With no steps it is an explicit request to leave
/// a joint configuration (needed when [`crate::Config::auto_leave_joint`] is off).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConfChange {
    /// The steps, applied in order to the latest configuration.
    pub steps: SmallVec<[ConfChangeStep; 2]>,
}

impl ConfChange {
    /// A change of the given steps.
    pub fn new(steps: impl IntoIterator<Item = ConfChangeStep>) -> Self {
        ConfChange {
            steps: steps.into_iter().collect(),
        }
    }

    /// Adds `id` as a learner.
    pub fn add_learner(id: NodeId) -> Self {
        Self::new([ConfChangeStep::AddLearner(id)])
    }

    /// Promotes learner `id` to voter.
    pub fn promote(id: NodeId) -> Self {
        Self::new([ConfChangeStep::Promote(id)])
    }

    /// Removes member `id`.
    pub fn remove(id: NodeId) -> Self {
        Self::new([ConfChangeStep::Remove(id)])
    }

    /// Replaces voter `old` by learner `new` in one joint change.
    pub fn replace(new: NodeId, old: NodeId) -> Self {
        Self::new([ConfChangeStep::Promote(new), ConfChangeStep::Remove(old)])
    }

    /// Leaves the joint configuration in force.
    pub fn leave_joint() -> Self {
        Self::default()
    }
}

/// Why a membership change was refused. Nothing was appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfChangeError {
    /// This node is not the leader; `leader` is the leader it knows of, if any.
    NotLeader {
        /// The current leader, if known.
        leader: Option<NodeId>,
    },
    /// The leader has not yet committed an entry of its own term (the rule Ongaro added in 2015:
    /// a change before that may conflict with an uncommitted change of an earlier leader).
    TermNotCommitted,
    /// An earlier change is still uncommitted: one change at a time (thesis §4.1).
    ChangePending,
    /// A joint configuration is in force: leave it before starting another change.
    InJointConfig,
    /// Asked to leave a joint configuration while none is in force.
    NotJoint,
    /// The node is already a member.
    AlreadyMember(NodeId),
    /// Only learners can be promoted.
    NotALearner(NodeId),
    /// The learner's log is not yet within [`crate::Config::learner_catch_up_gap`] entries of
    /// the leader's (thesis §4.2.1: promoting it now could make the cluster unavailable until it
    /// catches up). Retry after [`crate::Action::LearnerCaughtUp`].
    LearnerNotCaughtUp(NodeId),
    /// The node is not a member.
    NotAMember(NodeId),
    /// The change would leave the cluster without voters.
    NoVotersLeft,
    /// The node id 0 is reserved.
    InvalidNodeId,
}

impl core::fmt::Display for ConfChangeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConfChangeError::NotLeader { leader: Some(id) } => {
                write!(f, "not the leader; try node {id}")
            }
            ConfChangeError::NotLeader { leader: None } => {
                f.write_str("not the leader; leader unknown")
            }
            ConfChangeError::TermNotCommitted => {
                f.write_str("the leader has not committed an entry of its term yet")
            }
            ConfChangeError::ChangePending => f.write_str("a membership change is uncommitted"),
            ConfChangeError::InJointConfig => f.write_str("a joint configuration is in force"),
            ConfChangeError::NotJoint => f.write_str("no joint configuration to leave"),
            ConfChangeError::AlreadyMember(id) => write!(f, "node {id} is already a member"),
            ConfChangeError::NotALearner(id) => write!(f, "node {id} is not a learner"),
            ConfChangeError::LearnerNotCaughtUp(id) => {
                write!(f, "learner {id} has not caught up with the leader's log")
            }
            ConfChangeError::NotAMember(id) => write!(f, "node {id} is not a member"),
            ConfChangeError::NoVotersLeft => f.write_str("the change would leave no voters"),
            ConfChangeError::InvalidNodeId => f.write_str("node id 0 is reserved"),
        }
    }
}

impl std::error::Error for ConfChangeError {}

/// The configuration that `change` leads to from `current` (the latest in the log), or why it
/// is refused.
pub(crate) fn next_membership(
    current: &Membership,
    change: &ConfChange,
) -> Result<Membership, ConfChangeError> {
    if change.steps.is_empty() {
        // Leaving C_old,new: C_new keeps the incoming voters and the learners.
        if !current.is_joint() {
            return Err(ConfChangeError::NotJoint);
        }
        return Ok(Membership {
            voters: current.voters.clone(),
            outgoing: Vec::new(),
            learners: current.learners.clone(),
        });
    }
    if current.is_joint() {
        return Err(ConfChangeError::InJointConfig);
    }
    let mut voters = current.voters.clone();
    let mut learners = current.learners.clone();
    for step in &change.steps {
        match *step {
            ConfChangeStep::AddLearner(0)
            | ConfChangeStep::Promote(0)
            | ConfChangeStep::Remove(0) => return Err(ConfChangeError::InvalidNodeId),
            ConfChangeStep::AddLearner(id) => {
                if voters.contains(&id) || learners.contains(&id) {
                    return Err(ConfChangeError::AlreadyMember(id));
                }
                learners.push(id);
            }
            ConfChangeStep::Promote(id) => {
                let Some(at) = learners.iter().position(|&l| l == id) else {
                    return Err(ConfChangeError::NotALearner(id));
                };
                learners.remove(at);
                voters.push(id);
            }
            ConfChangeStep::Remove(id) => {
                if let Some(at) = voters.iter().position(|&v| v == id) {
                    voters.remove(at);
                } else if let Some(at) = learners.iter().position(|&l| l == id) {
                    learners.remove(at);
                } else {
                    return Err(ConfChangeError::NotAMember(id));
                }
            }
        }
    }
    if voters.is_empty() {
        return Err(ConfChangeError::NoVotersLeft);
    }
    voters.sort_unstable();
    learners.sort_unstable();
    // Thesis §4.3: a change of the voter set goes through the joint configuration C_old,new.
    let outgoing = if voters == current.voters {
        Vec::new()
    } else {
        current.voters.clone()
    };
    let next = Membership {
        voters,
        outgoing,
        learners,
    };
    debug_assert!(next.is_well_formed(), "a validated change is well formed");
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(voters: &[NodeId], learners: &[NodeId]) -> Membership {
        Membership {
            voters: voters.to_vec(),
            outgoing: Vec::new(),
            learners: learners.to_vec(),
        }
    }

    #[test]
    fn voter_changes_go_joint_and_learner_changes_do_not() {
        let c = m(&[1, 2, 3], &[]);
        let learner = next_membership(&c, &ConfChange::add_learner(4)).unwrap();
        assert_eq!(learner, m(&[1, 2, 3], &[4]));
        let joint = next_membership(&learner, &ConfChange::replace(4, 1)).unwrap();
        assert_eq!(joint.voters, vec![2, 3, 4]);
        assert_eq!(joint.outgoing, vec![1, 2, 3]);
        assert!(joint.learners.is_empty());
        assert_eq!(
            next_membership(&joint, &ConfChange::add_learner(5)),
            Err(ConfChangeError::InJointConfig)
        );
        let left = next_membership(&joint, &ConfChange::leave_joint()).unwrap();
        assert_eq!(left, m(&[2, 3, 4], &[]));
        assert_eq!(
            next_membership(&left, &ConfChange::leave_joint()),
            Err(ConfChangeError::NotJoint)
        );
    }

    #[test]
    fn refusals_are_specific() {
        let c = m(&[1, 2], &[3]);
        let err = |change| next_membership(&c, &change).unwrap_err();
        assert_eq!(
            err(ConfChange::add_learner(1)),
            ConfChangeError::AlreadyMember(1)
        );
        assert_eq!(
            err(ConfChange::add_learner(3)),
            ConfChangeError::AlreadyMember(3)
        );
        assert_eq!(err(ConfChange::promote(2)), ConfChangeError::NotALearner(2));
        assert_eq!(err(ConfChange::remove(9)), ConfChangeError::NotAMember(9));
        assert_eq!(
            err(ConfChange::add_learner(0)),
            ConfChangeError::InvalidNodeId
        );
        assert_eq!(
            err(ConfChange::new([
                ConfChangeStep::Remove(1),
                ConfChangeStep::Remove(2)
            ])),
            ConfChangeError::NoVotersLeft
        );
    }
}
