//! The host's configuration and what it starts from.

use crate::wire::GroupId;
use sansraft::{Config, DurableState, NodeId};
use std::collections::BTreeSet;

/// How a host behaves. Build with [`HostConfig::new`] and adjust fields;
/// [`HostConfig::validate`] runs when the host starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostConfig {
    /// This node's id: the engine id of every replica the host holds.
    pub id: NodeId,
    /// Every this many host ticks, the periodic heartbeats of all groups are sent to each peer
    /// node in one batch, sent even if empty (the node-level liveness heartbeat). Keep it at
    /// most the groups' [`Config::heartbeat_interval_ticks`]: a group's heartbeat waits up to
    /// this many ticks.
    pub heartbeat_interval_ticks: u32,
    /// A peer node from which nothing was heard for this many ticks is declared unreachable
    /// to every group it is a member of (once per silence). Keep it above
    /// `heartbeat_interval_ticks` and at most the groups' election timeout.
    pub unreachable_after_ticks: u32,
    /// Most (group, sender) pairs of unknown groups remembered as reported; messages for
    /// unknown groups beyond it are dropped and counted without a report.
    pub max_unknown_group_reports: usize,
    /// A deliberate host bug to switch on, for testing the tests (`None`, the default: the
    /// host is correct). Any other value needs the `canary` feature
    /// ([`crate::HostCanary::COMPILED`]).
    pub canary: Option<crate::HostCanary>,
}

impl HostConfig {
    /// A configuration for node `id`: periodic batches every 2 ticks (the engine's default
    /// heartbeat interval), a peer unreachable after 10 silent ticks (its default election
    /// timeout), at most 4096 pending unknown-group reports.
    pub fn new(id: NodeId) -> Self {
        HostConfig {
            id,
            heartbeat_interval_ticks: 2,
            unreachable_after_ticks: 10,
            max_unknown_group_reports: 4096,
            canary: None,
        }
    }

    /// Checks the configuration's consistency.
    pub fn validate(&self) -> Result<(), HostConfigError> {
        if self.heartbeat_interval_ticks == 0 {
            return Err(HostConfigError::HeartbeatIntervalZero);
        }
        if self.unreachable_after_ticks <= self.heartbeat_interval_ticks {
            return Err(HostConfigError::UnreachableNotAboveHeartbeat);
        }
        if self.canary.is_some() && !crate::HostCanary::COMPILED {
            return Err(HostConfigError::CanaryNotCompiled);
        }
        Ok(())
    }
}

/// Why a [`HostConfig`] was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostConfigError {
    /// `heartbeat_interval_ticks` must be at least 1.
    HeartbeatIntervalZero,
    /// `unreachable_after_ticks` must be above `heartbeat_interval_ticks`, or a live peer
    /// would be declared unreachable between two of its periodic batches.
    UnreachableNotAboveHeartbeat,
    /// `canary` names a deliberate bug, but this build lacks the `canary` feature that carries
    /// the bugs' branches.
    CanaryNotCompiled,
}

impl core::fmt::Display for HostConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            HostConfigError::HeartbeatIntervalZero => "heartbeat_interval_ticks must be at least 1",
            HostConfigError::UnreachableNotAboveHeartbeat => {
                "unreachable_after_ticks must be above heartbeat_interval_ticks"
            }
            HostConfigError::CanaryNotCompiled => {
                "canary names a deliberate bug, but sansraft-multi was built without the `canary` feature"
            }
        })
    }
}

impl std::error::Error for HostConfigError {}

/// What a host starts from: a fresh host, or one restarted from its durable state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostStart {
    /// Must differ from every earlier incarnation of this host whose acknowledgements could
    /// still arrive, and, for bounded-staleness reads, from every earlier one ever (a
    /// persisted boot counter). Every group replica starts with it
    /// ([`sansraft::Node::new`]), and [`crate::HostToken`]s carry it.
    pub incarnation: u64,
    /// Every tombstone persisted by earlier incarnations ([`crate::HostWrite::tombstones`]).
    pub tombstones: BTreeSet<GroupId>,
    /// Every group replica persisted and not deleted, with what it restarts from.
    pub groups: Vec<GroupStart>,
}

/// One group replica in a [`HostStart`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupStart {
    /// The group.
    pub group: GroupId,
    /// The replica's configuration.
    pub config: Config,
    /// Its durable state.
    pub state: DurableState,
}
