//! The operator's membership changes, as both worlds make them: which change a fault asks for,
//! which refusals are worth retrying, and how often; and the network split a
//! [`Fault::SplitJoint`] lays between a joint configuration's halves.

use crate::fault::Fault;
use crate::Micros;
use sansraft::{ConfChange, ConfChangeError, Membership, NodeId};

/// Pause before retrying a refused change.
pub(crate) const RETRY_US: Micros = 200_000;
/// Attempts per change.
pub(crate) const MAX_ATTEMPTS: u32 = 25;

/// The membership change `fault` asks the leader for, if it is one.
pub(crate) fn conf_change(fault: &Fault) -> Option<ConfChange> {
    Some(match *fault {
        Fault::AddLearner { node } => ConfChange::add_learner(node),
        Fault::AddWitness { node } => ConfChange::add_witness(node),
        Fault::Promote { node } => ConfChange::promote(node),
        Fault::RemoveMember { node } => ConfChange::remove(node),
        Fault::Replace { add, remove } => ConfChange::replace(add, remove),
        Fault::SetPriority { node, priority } => ConfChange::set_priority(node, priority),
        _ => return None,
    })
}

/// True if a change refused with `e` may be accepted later (no leader, the leader has not
/// committed its term yet, another change is in flight, the learner has not caught up yet);
/// the operator gives up on any other refusal (e.g. the learner was promoted automatically).
pub(crate) fn is_transient(e: &ConfChangeError) -> bool {
    matches!(
        e,
        ConfChangeError::NotLeader { .. }
            | ConfChangeError::TermNotCommitted
            | ConfChangeError::ChangePending
            | ConfChangeError::InJointConfig
            | ConfChangeError::LearnerNotCaughtUp(_)
    )
}

/// Every way to split the cluster so that `leader`'s side holds a majority of joint
/// configuration `m`'s incoming voters but not of its outgoing ones, and the other side
/// (returned) the reverse; none if `m` is not joint.
pub(crate) fn joint_splits(m: &Membership, leader: NodeId) -> Vec<Vec<NodeId>> {
    if !m.is_joint() {
        return Vec::new();
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
    splits
}
