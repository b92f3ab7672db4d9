//! Membership changes as fuzz inputs (thesis §4.3): every kind the engine accepts — learners
//! added and promoted, members removed, joint replacements, leaving a joint configuration —
//! with node numbers that each target maps to ids of its cluster.

use arbitrary::Arbitrary;
use sansraft::{ConfChange, ConfChangeStep, NodeId};

/// A membership change the operator asks for; node numbers are mapped to ids by the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Arbitrary)]
pub enum Change {
    /// Add a node as a learner (one step: learners are in no quorum).
    AddLearner(u8),
    /// Promote a learner to voter (through the joint configuration).
    Promote(u8),
    /// Add a node as a learner and promote it in one joint change.
    AddVoter(u8),
    /// Remove a voter (through the joint configuration) or a learner.
    Remove(u8),
    /// Promote learner `add` and remove voter `remove` in one joint change.
    Replace {
        /// The learner promoted.
        add: u8,
        /// The voter removed.
        remove: u8,
    },
    /// Leave the joint configuration in force (leaders also leave it by themselves).
    LeaveJoint,
}

impl Change {
    /// The change, with node numbers mapped by `node`.
    pub fn conf_change(self, node: impl Fn(u8) -> NodeId) -> ConfChange {
        match self {
            Change::AddLearner(n) => ConfChange::add_learner(node(n)),
            Change::Promote(n) => ConfChange::promote(node(n)),
            Change::AddVoter(n) => ConfChange::new([
                ConfChangeStep::AddLearner(node(n)),
                ConfChangeStep::Promote(node(n)),
            ]),
            Change::Remove(n) => ConfChange::remove(node(n)),
            Change::Replace { add, remove } => ConfChange::replace(node(add), node(remove)),
            Change::LeaveJoint => ConfChange::leave_joint(),
        }
    }
}
