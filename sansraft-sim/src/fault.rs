//! Faults: the explicit, serializable events of a fault schedule.
//!
//! A schedule is a list of `(time, fault)` generated up front from the seed (see
//! [`crate::schedule`]), so that it can be printed, shrunk and replayed. Every fault is
//! self-contained: dropping one from a schedule (as the shrinker does) leaves a valid schedule —
//! a `Restart` of a node that is up, or a `Resume` of a node that is not paused, does nothing.
//!
//! Membership changes are operator requests rather than failures, but they are scheduled the same
//! way so that they happen during faults; a refused change is retried a few times (see
//! `world::membership`). Engine features slot in as new variants here (leadership transfer,
//! membership changes) with their handling in `world::faults`.

use crate::Micros;
use sansraft::NodeId;
use serde::{Deserialize, Serialize};

/// One fault at one instant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// The node's process dies: in-memory state and every write not yet durable are lost. With
    /// `tear`, the oldest incomplete write may be left partially durable, cut at an entry
    /// boundary (only when that equals completing a prefix of it as a separate write).
    Crash {
        /// The node.
        node: NodeId,
        /// Allow a torn write.
        tear: bool,
        /// Crash not now but the moment the node next issues a write (before it can be
        /// durable, after the messages of that step left): the window where durability bugs hide.
        /// If the node writes nothing before its next `Restart`, it does not crash.
        #[serde(default)]
        on_write: bool,
        /// Crash not now but the moment the node's disk next makes a write durable, before the
        /// node hears of it: the acknowledgement reaches the next incarnation, which must
        /// ignore it.
        #[serde(default, skip_serializing_if = "core::ops::Not::not")]
        on_durable: bool,
    },
    /// Whoever leads the highest term when the fault fires crashes (as [`Fault::Crash`]), unless
    /// that would leave a majority of the nodes down, and restarts `down_us` later. Leaders are
    /// where the subtle bugs are: Figure 8 needs two leaders to die at the right moments.
    CrashLeader {
        /// Allow a torn write.
        tear: bool,
        /// Crash at the leader's next write rather than now.
        on_write: bool,
        /// How long it stays down.
        down_us: Micros,
    },
    /// A crashed node restarts from its durable state with a new incarnation.
    Restart {
        /// The node.
        node: NodeId,
    },
    /// The node's process stalls (a long GC pause): no ticks, and input waits until it resumes.
    Pause {
        /// The node.
        node: NodeId,
    },
    /// A paused node resumes and handles the input that queued up meanwhile.
    Resume {
        /// The node.
        node: NodeId,
    },
    /// The node's disk stops completing writes.
    StorageStall {
        /// The node.
        node: NodeId,
    },
    /// A stalled disk completes writes again.
    StorageResume {
        /// The node.
        node: NodeId,
    },
    /// Multiplies the node's storage latency by `factor` (1 restores normal speed).
    StorageSlow {
        /// The node.
        node: NodeId,
        /// The latency multiplier.
        factor: u32,
    },
    /// A network partition replaces whichever partition was in force.
    Partition {
        /// Which links are cut.
        shape: Partition,
    },
    /// Every link works again.
    Heal,
    /// A respite: everything heals at once (links, crashed nodes, paused processes, disks) and
    /// the network and disks turn reliable until [`Fault::Roughen`], so the cluster gets a healthy
    /// window in which liveness is demanded (see `sansraft_sim::liveness`).
    HealAll,
    /// The respite ends: the network and disks behave as the scenario says again.
    Roughen,
    /// A trap for leases (thesis §6.4.1), around whoever leads when it fires (nothing if no
    /// one does): a bridge with the leader on one side, one of its followers as the bridge,
    /// and the others split so that each side is a majority with the bridge (the leader's side
    /// one short with an even number of voters). The bridge node keeps backing the leader's
    /// lease while the other side, hearing no leader, campaigns; it restarts the moment their
    /// first vote request reaches it, joined to their side only, and the new incarnation
    /// handles the request. It must not vote while the lease it backed an instant before may
    /// hold.
    LeaseBridge,
    /// The operator asks the current leader to add `node` as a learner (thesis §4.2.1).
    AddLearner {
        /// The node.
        node: NodeId,
    },
    /// The operator asks the current leader to add `node` as a witness: a voter that keeps no
    /// payloads and never leads (a joint change, thesis §4.3).
    AddWitness {
        /// The node.
        node: NodeId,
    },
    /// The operator asks the current leader to promote learner `node` to voter (joint
    /// consensus, thesis §4.3).
    Promote {
        /// The node.
        node: NodeId,
    },
    /// The operator asks the current leader to remove member `node` (which may be the leader).
    RemoveMember {
        /// The node.
        node: NodeId,
    },
    /// The operator asks the current leader to promote learner `add` and remove voter `remove`
    /// in one joint change.
    Replace {
        /// The learner to promote.
        add: NodeId,
        /// The voter to remove.
        remove: NodeId,
    },
    /// Within `within_us`, the first joint configuration a leader appends for the operator
    /// splits the network at that instant, before the entry reaches anyone: the leader's side
    /// holds a majority of the incoming voters but not of the outgoing, the other side the
    /// reverse (when such a split exists, as for a replacement). Only joint consensus (thesis
    /// §4.3) keeps each side from electing a leader of its own. The split lasts until the next
    /// heal or partition.
    SplitJoint {
        /// How long the fault waits for a joint configuration.
        within_us: Micros,
    },
    /// The current leader (if any) is asked to hand leadership to `to` (thesis §3.10).
    TransferLeadership {
        /// The intended new leader.
        to: NodeId,
    },
    /// An operator asks `node` to campaign now (`Input::Campaign`), skipping its pre-vote poll
    /// if `skip_pre_vote`: a leader, learner or non-member refuses; a live leader's sticky
    /// followers ignore it.
    Campaign {
        /// The node asked.
        node: NodeId,
        /// Ask for votes at once.
        skip_pre_vote: bool,
    },
    /// The operator asks the current leader to set member `node`'s leader priority
    /// (`ConfChange::set_priority`; 0 clears it). A node outside the configuration is refused.
    SetPriority {
        /// The member.
        node: NodeId,
        /// Its new priority.
        priority: u32,
    },
}

/// The shape of a partition: which directed links drop every message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "shape", rename_all = "snake_case")]
pub enum Partition {
    /// `side` and the other nodes cannot reach each other, in either direction.
    Split {
        /// One side of the split.
        side: Vec<NodeId>,
    },
    /// Messages from any node of `from` to any node of `to` are dropped; the reverse works.
    OneWay {
        /// Senders whose messages are lost.
        from: Vec<NodeId>,
        /// Receivers that do not hear them.
        to: Vec<NodeId>,
    },
    /// Whoever leads (in the highest term) when the fault fires is cut off from everyone; a
    /// random node if there is no leader.
    IsolateLeader,
    /// Whoever leads (in the highest term) when the fault fires hears no one, while its own
    /// messages still go out (a random node if there is no leader): it keeps believing it
    /// leads, and its followers keep hearing it.
    DeafenLeader,
    /// `left` and `right` cannot reach each other, but `bridge` reaches both.
    Bridge {
        /// The node that sees both halves.
        bridge: NodeId,
        /// One half.
        left: Vec<NodeId>,
        /// The other half.
        right: Vec<NodeId>,
    },
}

/// A fault and when it fires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledFault {
    /// Simulated time in microseconds.
    pub at_us: Micros,
    /// What happens.
    pub fault: Fault,
}

impl Fault {
    /// A short name, for summaries.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Crash { .. } => "crash",
            Fault::CrashLeader { .. } => "crash_leader",
            Fault::Restart { .. } => "restart",
            Fault::Pause { .. } => "pause",
            Fault::Resume { .. } => "resume",
            Fault::StorageStall { .. } => "storage_stall",
            Fault::StorageResume { .. } => "storage_resume",
            Fault::StorageSlow { .. } => "storage_slow",
            Fault::Partition { .. } => "partition",
            Fault::Heal => "heal",
            Fault::HealAll => "heal_all",
            Fault::Roughen => "roughen",
            Fault::LeaseBridge => "lease_bridge",
            Fault::AddLearner { .. } => "add_learner",
            Fault::AddWitness { .. } => "add_witness",
            Fault::Promote { .. } => "promote",
            Fault::RemoveMember { .. } => "remove_member",
            Fault::Replace { .. } => "replace",
            Fault::SplitJoint { .. } => "split_joint",
            Fault::TransferLeadership { .. } => "transfer_leadership",
            Fault::Campaign { .. } => "campaign",
            Fault::SetPriority { .. } => "set_priority",
        }
    }
}

impl core::fmt::Display for Fault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Fault::Crash {
                node,
                tear,
                on_write,
                on_durable,
            } => write!(
                f,
                "crash n{node}{}{}{}",
                if *on_write { " on its next write" } else { "" },
                if *on_durable {
                    " once its next write is durable"
                } else {
                    ""
                },
                if *tear { " (may tear)" } else { "" }
            ),
            Fault::CrashLeader {
                tear,
                on_write,
                down_us,
            } => write!(
                f,
                "crash the leader{}{} for {} ms",
                if *on_write { " on its next write" } else { "" },
                if *tear { " (may tear)" } else { "" },
                down_us / 1000
            ),
            Fault::Restart { node } => write!(f, "restart n{node}"),
            Fault::Pause { node } => write!(f, "pause n{node}"),
            Fault::Resume { node } => write!(f, "resume n{node}"),
            Fault::StorageStall { node } => write!(f, "storage stall n{node}"),
            Fault::StorageResume { node } => write!(f, "storage resume n{node}"),
            Fault::StorageSlow { node, factor } => write!(f, "storage x{factor} n{node}"),
            Fault::Partition { shape } => write!(f, "partition {shape}"),
            Fault::Heal => f.write_str("heal"),
            Fault::HealAll => f.write_str("heal everything (a respite)"),
            Fault::Roughen => f.write_str("end of the respite"),
            Fault::LeaseBridge => f.write_str("lease bridge around the leader"),
            Fault::AddLearner { node } => write!(f, "add learner n{node}"),
            Fault::AddWitness { node } => write!(f, "add witness n{node}"),
            Fault::Promote { node } => write!(f, "promote n{node}"),
            Fault::RemoveMember { node } => write!(f, "remove n{node}"),
            Fault::Replace { add, remove } => write!(f, "replace n{remove} by n{add}"),
            Fault::SplitJoint { within_us } => write!(
                f,
                "split the next joint configuration within {:.3}s",
                *within_us as f64 / 1e6
            ),
            Fault::TransferLeadership { to } => write!(f, "transfer leadership to n{to}"),
            Fault::Campaign {
                node,
                skip_pre_vote,
            } => write!(
                f,
                "n{node} asked to campaign{}",
                if *skip_pre_vote {
                    " without a poll"
                } else {
                    ""
                }
            ),
            Fault::SetPriority { node, priority } => write!(f, "priority of n{node} := {priority}"),
        }
    }
}

impl core::fmt::Display for Partition {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Partition::Split { side } => write!(f, "split {side:?} | rest"),
            Partition::OneWay { from, to } => write!(f, "one-way {from:?} -/-> {to:?}"),
            Partition::IsolateLeader => f.write_str("isolate leader"),
            Partition::DeafenLeader => f.write_str("deafen leader"),
            Partition::Bridge {
                bridge,
                left,
                right,
            } => write!(f, "bridge n{bridge} between {left:?} and {right:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_round_trip_through_json() {
        let faults = vec![
            Fault::Crash {
                node: 2,
                tear: true,
                on_write: true,
                on_durable: false,
            },
            Fault::Crash {
                node: 1,
                tear: false,
                on_write: false,
                on_durable: true,
            },
            Fault::Partition {
                shape: Partition::IsolateLeader,
            },
            Fault::Partition {
                shape: Partition::DeafenLeader,
            },
            Fault::Partition {
                shape: Partition::Bridge {
                    bridge: 1,
                    left: vec![2],
                    right: vec![3],
                },
            },
            Fault::Heal,
            Fault::HealAll,
            Fault::Roughen,
        ];
        let json = serde_json::to_string(&faults).unwrap();
        let back: Vec<Fault> = serde_json::from_str(&json).unwrap();
        assert_eq!(faults, back);
    }
}

/// The layout of a [`Fault::LeaseBridge`] around `leader`, whose configuration's voters are
/// `voters`, in a cluster of nodes `1..=nodes`: a random follower is the bridge; about half of
/// the other followers (`right`) campaign; the rest and the leader are the bridge's other side.
/// The campaigning side and the bridge are a majority; so are the leader's side and the bridge
/// with an odd number of voters. `None` with fewer than two followers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LeaseBridgeLayout {
    /// The node that sees both sides.
    pub(crate) bridge: NodeId,
    /// The leader's side.
    pub(crate) left: Vec<NodeId>,
    /// The campaigning side.
    pub(crate) right: Vec<NodeId>,
}

impl LeaseBridgeLayout {
    /// Draws the layout (see the type).
    pub(crate) fn draw(
        leader: NodeId,
        voters: &[NodeId],
        nodes: usize,
        rng: &mut crate::rng::SimRng,
    ) -> Option<LeaseBridgeLayout> {
        let mut others: Vec<NodeId> = voters.iter().copied().filter(|&id| id != leader).collect();
        if others.len() < 2 {
            return None;
        }
        rng.shuffle(&mut others);
        let bridge = others[0];
        let right_len = others.len() / 2;
        let right = others[1..1 + right_len].to_vec();
        let left: Vec<NodeId> = (1..=nodes as NodeId)
            .filter(|id| *id != bridge && !right.contains(id))
            .collect();
        Some(LeaseBridgeLayout {
            bridge,
            left,
            right,
        })
    }

    /// The partition: the two sides cut off from each other, the bridge reaching both.
    pub(crate) fn partition(&self) -> Partition {
        Partition::Bridge {
            bridge: self.bridge,
            left: self.left.clone(),
            right: self.right.clone(),
        }
    }
}
