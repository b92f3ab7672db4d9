//! Membership change requests and their validation (thesis §4.3, joint consensus).
//!
//! A change is a list of steps applied together to the latest configuration in the log. If the
//! voter set changes, the result is a joint configuration C_old,new (`outgoing` = the old voters)
//! in which every decision needs a majority of both halves; a second entry, C_new, leaves it.
//! Learner-only changes take effect in one step, as they do not touch any quorum.

use crate::types::{Membership, NodeId, Priority};
use smallvec::SmallVec;

/// One step of a membership change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfChangeStep {
    /// Add a node that is not a member as a learner: it receives the log but does not vote.
    AddLearner(NodeId),
    /// Make a learner a voter. Add voters by adding them as learners first and promoting them
    /// once they have caught up ([`crate::Action::LearnerCaughtUp`]).
    Promote(NodeId),
    /// Remove a voter (a witness too) or a learner.
    Remove(NodeId),
    /// Add a node that is not a member as a witness: a voter that stores no entry payloads and
    /// never leads (docs/design.md, "Witnesses"). It changes the voter set, so the change goes
    /// through a joint configuration. A witness stays a witness until it is removed.
    AddWitness(NodeId),
    /// Set a member's leader priority (0: none). Touches no quorum, so it takes effect in one
    /// step.
    SetPriority(NodeId, u32),
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

    /// Adds `id` as a witness.
    pub fn add_witness(id: NodeId) -> Self {
        Self::new([ConfChangeStep::AddWitness(id)])
    }

    /// Sets member `id`'s leader priority.
    pub fn set_priority(id: NodeId, priority: u32) -> Self {
        Self::new([ConfChangeStep::SetPriority(id, priority)])
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
    /// The change would leave at least as many witnesses as other voters (beyond one witness
    /// beside one voter): the other voters could not always elect a leader among themselves.
    TooManyWitnesses,
    /// The node id 0 is reserved.
    InvalidNodeId,
    /// The change names this node in more than one step: one change gives each node at most
    /// one new role (removing a witness and adding it back as a learner, say, is two changes,
    /// and needs fresh storage, docs/design.md "Witnesses").
    NodeRepeated(NodeId),
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
            ConfChangeError::TooManyWitnesses => {
                f.write_str("the change would leave as many witnesses as other voters")
            }
            ConfChangeError::InvalidNodeId => f.write_str("node id 0 is reserved"),
            ConfChangeError::NodeRepeated(id) => {
                write!(f, "node {id} is named in more than one step of the change")
            }
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
        if current.voters.is_empty() {
            return Err(ConfChangeError::NoVotersLeft);
        }
        let voters = current.voters.clone();
        let learners = current.learners.clone();
        // The outgoing voters leave with the outgoing half, and so do their roles.
        let kept = |id: &NodeId| voters.contains(id) || learners.contains(id);
        let witnesses = (current.witnesses.iter().copied())
            .filter(|id| voters.contains(id))
            .collect();
        let priorities = (current.priorities.iter().copied())
            .filter(|p| kept(&p.id))
            .collect();
        let next = Membership {
            voters,
            learners,
            witnesses,
            priorities,
            ..Membership::default()
        };
        return Ok(next);
    }
    if current.is_joint() {
        return Err(ConfChangeError::InJointConfig);
    }
    let mut voters = current.voters.clone();
    let mut learners = current.learners.clone();
    let mut witnesses = current.witnesses.clone();
    let mut priorities = current.priorities.clone();
    let id_of = |step: &ConfChangeStep| match *step {
        ConfChangeStep::AddLearner(id)
        | ConfChangeStep::Promote(id)
        | ConfChangeStep::Remove(id)
        | ConfChangeStep::AddWitness(id)
        | ConfChangeStep::SetPriority(id, _) => id,
    };
    for (i, step) in change.steps.iter().enumerate() {
        let id = id_of(step);
        if change.steps[..i].iter().any(|earlier| id_of(earlier) == id) {
            return Err(ConfChangeError::NodeRepeated(id));
        }
    }
    for step in &change.steps {
        match *step {
            ConfChangeStep::AddLearner(0)
            | ConfChangeStep::Promote(0)
            | ConfChangeStep::Remove(0)
            | ConfChangeStep::AddWitness(0)
            | ConfChangeStep::SetPriority(0, _) => return Err(ConfChangeError::InvalidNodeId),
            ConfChangeStep::AddWitness(id) => {
                if voters.contains(&id) || learners.contains(&id) {
                    return Err(ConfChangeError::AlreadyMember(id));
                }
                voters.push(id);
                witnesses.push(id);
            }
            ConfChangeStep::SetPriority(id, priority) => {
                if !voters.contains(&id) && !learners.contains(&id) {
                    return Err(ConfChangeError::NotAMember(id));
                }
                priorities.retain(|p| p.id != id);
                if priority > 0 {
                    priorities.push(Priority { id, priority });
                }
            }
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
                // A removed witness that comes back is a new member: it starts as anything.
                witnesses.retain(|&w| w != id);
                priorities.retain(|p| p.id != id);
            }
        }
    }
    if voters.is_empty() {
        return Err(ConfChangeError::NoVotersLeft);
    }
    voters.sort_unstable();
    learners.sort_unstable();
    priorities.sort_unstable_by_key(|p| p.id);
    // Thesis §4.3: a change of the voter set goes through the joint configuration C_old,new.
    let outgoing = if voters == current.voters {
        Vec::new()
    } else {
        current.voters.clone()
    };
    // Witnesses of the outgoing half keep their role until the joint configuration is left.
    witnesses.extend(current.witnesses.iter().filter(|id| outgoing.contains(id)));
    witnesses.sort_unstable();
    witnesses.dedup();
    let next = Membership {
        voters,
        outgoing,
        learners,
        witnesses,
        priorities,
    };
    if !next.witnesses_fit(&next.voters) {
        return Err(ConfChangeError::TooManyWitnesses);
    }
    debug_assert!(next.is_well_formed(), "a validated change is well formed");
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(voters: &[NodeId], learners: &[NodeId]) -> Membership {
        Membership {
            voters: voters.to_vec(),
            learners: learners.to_vec(),
            ..Membership::default()
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

    #[test]
    fn witnesses_join_as_voters_and_leave_with_their_half() {
        let c = m(&[1, 2], &[]);
        let joint = next_membership(&c, &ConfChange::add_witness(3)).unwrap();
        assert_eq!(joint.voters, vec![1, 2, 3]);
        assert_eq!(joint.outgoing, vec![1, 2]);
        assert_eq!(joint.witnesses, vec![3]);
        let with = next_membership(&joint, &ConfChange::leave_joint()).unwrap();
        assert!(with.is_witness(3) && with.may_lead(1) && !with.may_lead(3));
        assert_eq!(
            next_membership(&with, &ConfChange::promote(3)),
            Err(ConfChangeError::NotALearner(3))
        );
        let removing = next_membership(&with, &ConfChange::remove(3)).unwrap();
        assert_eq!(removing.witnesses, vec![3], "still a witness in C_old");
        let gone = next_membership(&removing, &ConfChange::leave_joint()).unwrap();
        assert_eq!(gone, m(&[1, 2], &[]));
        let only_witnesses =
            ConfChange::new([ConfChangeStep::Remove(1), ConfChangeStep::Remove(2)]);
        assert_eq!(
            next_membership(&with, &only_witnesses),
            Err(ConfChangeError::TooManyWitnesses)
        );
        assert_eq!(
            next_membership(&with, &ConfChange::add_witness(4)),
            Err(ConfChangeError::TooManyWitnesses),
            "two voters could not elect one of themselves beside two witnesses"
        );
        let one_and_one = next_membership(&with, &ConfChange::remove(1)).unwrap();
        assert!(
            one_and_one.witnesses_fit(&one_and_one.voters),
            "{one_and_one:?}"
        );
    }

    #[test]
    fn priorities_change_in_one_step_and_go_with_their_member() {
        let c = m(&[1, 2, 3], &[4]);
        let set = next_membership(&c, &ConfChange::set_priority(3, 5)).unwrap();
        assert!(!set.is_joint());
        assert_eq!((set.priority(3), set.priority(1)), (5, 0));
        let set = next_membership(&set, &ConfChange::set_priority(1, 2)).unwrap();
        assert_eq!(
            set.priorities.iter().map(|p| p.id).collect::<Vec<_>>(),
            [1, 3]
        );
        let cleared = next_membership(&set, &ConfChange::set_priority(3, 0)).unwrap();
        assert_eq!(cleared.priority(3), 0);
        assert_eq!(
            next_membership(&set, &ConfChange::set_priority(9, 1)),
            Err(ConfChangeError::NotAMember(9))
        );
        let removed = next_membership(&set, &ConfChange::remove(4)).unwrap();
        let removed = next_membership(&removed, &ConfChange::remove(3)).unwrap();
        let left = next_membership(&removed, &ConfChange::leave_joint()).unwrap();
        assert_eq!(left.priorities.len(), 1);
        assert!(left.is_well_formed());
    }

    #[test]
    fn a_change_names_each_node_once() {
        let with = Membership {
            voters: vec![1, 2, 3],
            witnesses: vec![3],
            ..Membership::default()
        };
        let again = ConfChange::new([
            ConfChangeStep::Remove(3),
            ConfChangeStep::AddLearner(3),
            ConfChangeStep::Promote(3),
        ]);
        assert_eq!(
            next_membership(&with, &again),
            Err(ConfChangeError::NodeRepeated(3))
        );
        let demote = ConfChange::new([ConfChangeStep::Remove(1), ConfChangeStep::AddWitness(1)]);
        assert_eq!(
            next_membership(&with, &demote),
            Err(ConfChangeError::NodeRepeated(1))
        );
    }
}
