//! Generates membership changes up front, from their own random stream: in half of the seeds
//! the cluster gets one or two spare nodes (outside the configuration at the start) and an
//! operator who adds learners, promotes them, removes voters (the leader among them) and
//! replaces one voter by another while the faults of the profile fire.
//!
//! Spares are added as witnesses now and then, and witnesses removed; a witness is never what
//! a change promotes or replaces, and the full voters never all go.
//!
//! The generator follows the configuration the changes would produce if all were accepted, so
//! that most are meaningful; the world retries a change the leader refuses for a transient
//! reason (see `world::membership`). Node ids are never reused once removed.

use crate::fault::{Fault, ScheduledFault};
use crate::rng::{SimRng, Stream};
use crate::Micros;
use sansraft::NodeId;

/// Membership-related choices for one scenario.
pub(crate) struct MembershipPlan {
    /// Nodes added after the initial voters, outside the configuration at the start.
    pub(crate) spares: usize,
    /// The operator's change requests.
    pub(crate) changes: Vec<ScheduledFault>,
    /// The leader promotes caught-up learners by itself.
    pub(crate) auto_promote: bool,
    /// Entries a learner may lag and still count as caught up.
    pub(crate) catch_up_gap: u64,
}

/// With `splits`, each replacement is accompanied by a [`Fault::SplitJoint`] (and a heal after
/// it) for the joint configuration it creates.
pub(crate) fn generate(
    seed: u64,
    voters: usize,
    witnesses: &[NodeId],
    fault_end_us: Micros,
    splits: bool,
) -> MembershipPlan {
    let mut rng = SimRng::new(seed, Stream::Membership);
    if rng.below(2) == 0 {
        return MembershipPlan {
            spares: 0,
            changes: Vec::new(),
            auto_promote: false,
            catch_up_gap: sansraft::Config::new(1, 0).learner_catch_up_gap,
        };
    }
    let spares = rng.between(1, 2) as usize;
    let auto_promote = rng.below(3) == 0;
    let catch_up_gap = rng.pick(&[0, 2, 16]);
    // Full voters only: witnesses are tracked apart.
    let mut model_voters: Vec<NodeId> = (1..=voters as NodeId)
        .filter(|id| !witnesses.contains(id))
        .collect();
    let mut model_witnesses = witnesses.to_vec();
    let mut learners: Vec<NodeId> = Vec::new();
    let mut unused: Vec<NodeId> = (voters as NodeId + 1..=(voters + spares) as NodeId).collect();
    let mut changes = Vec::new();
    let mean_gap = rng.between(500_000, 3_000_000);
    let mut t = rng.between(mean_gap / 2, mean_gap * 3 / 2);
    while t < fault_end_us {
        let mut options = Vec::new();
        if !unused.is_empty() {
            options.extend([0, 0]);
        }
        if !learners.is_empty() {
            options.extend([1, 1]);
            if model_voters.len() > 1 {
                options.push(3);
                if splits {
                    // Replacements are what a split can divide (see `Fault::SplitJoint`).
                    options.extend([3, 3]);
                }
            }
        }
        if model_voters.len() > 2 || (model_voters.len() > 1 && rng.below(4) == 0) {
            options.push(2);
        }
        if !unused.is_empty() && model_witnesses.len() < model_voters.len() / 2 + 1 {
            options.push(4);
        }
        if !model_witnesses.is_empty() {
            options.push(5);
        }
        if options.is_empty() {
            break;
        }
        let fault = match rng.pick(&options) {
            0 => {
                let node = unused.remove(0);
                learners.push(node);
                Fault::AddLearner { node }
            }
            1 => {
                let node = learners.remove(rng.index(learners.len()));
                model_voters.push(node);
                Fault::Promote { node }
            }
            2 => {
                let node = model_voters.remove(rng.index(model_voters.len()));
                Fault::RemoveMember { node }
            }
            4 => {
                let node = unused.remove(0);
                model_witnesses.push(node);
                Fault::AddWitness { node }
            }
            5 => {
                let node = model_witnesses.remove(rng.index(model_witnesses.len()));
                Fault::RemoveMember { node }
            }
            _ => {
                let add = learners.remove(rng.index(learners.len()));
                let remove = model_voters.remove(rng.index(model_voters.len()));
                model_voters.push(add);
                Fault::Replace { add, remove }
            }
        };
        let replace = matches!(fault, Fault::Replace { .. });
        if splits && replace {
            // Armed just before the request, so the split happens as the leader appends the
            // joint configuration, before the entry reaches the other side; retries are a
            // fifth of a second apart.
            let within_us = rng.between(1_000_000, 5_000_000);
            let heal = t + within_us + rng.between(300_000, 3_000_000);
            changes.push(ScheduledFault {
                at_us: t,
                fault: Fault::SplitJoint { within_us },
            });
            changes.push(ScheduledFault { at_us: t, fault });
            if heal < fault_end_us {
                changes.push(ScheduledFault {
                    at_us: heal,
                    fault: Fault::Heal,
                });
            }
        } else {
            changes.push(ScheduledFault { at_us: t, fault });
        }
        t += rng.between(mean_gap / 2, mean_gap * 3 / 2);
    }
    MembershipPlan {
        spares,
        changes,
        auto_promote,
        catch_up_gap,
    }
}
