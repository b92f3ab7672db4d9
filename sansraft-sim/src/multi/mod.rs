//! The multi-group world: nodes each hosting many Raft groups through the real
//! [`sansraft_multi::Host`], under the same fault profiles as the single-group world.
//!
//! A seed's [`Scenario`] (drawn by [`Scenario::generate`] for the profile) gives the network,
//! disks, clocks, clients and fault schedule; [`multi_scenario`] switches quiescence on for
//! every group. Every node runs one host holding `G` groups (all nodes voters of every group);
//! batches travel encoded ([`sansraft_multi::Batch::encode`]) through the simulated network;
//! each node has one disk holding every group's durable state, and a host write becomes
//! durable in one piece (or torn, on a crash); clients' keys hash to groups. One safety
//! [`Checker`](crate::checker::Checker) per group is fed after every host step for every group
//! the step touched, and the history is checked for linearizability per key at the end.
//!
//! The scenario's initial configuration (voters, witnesses, leader priorities) is every
//! group's; spares join a group when the operator adds them, and the operator's membership
//! changes, transfers and campaigns apply to every group (see `operator`); a node left out of
//! a group for good deletes its replica (see `retire`). Bounded-staleness reads of random
//! groups are asked for as in the single-group world (`stale_reads`), and a membership change a
//! group's leader accepts in a healthy window must complete within the bound (`changes`).
//!
//! Left out, compared with the single-group world: synchronous I/O, the election-timer and
//! append-rejection oracles, the liveness oracles of transfers and priorities, and traces.

mod changes;
mod failover;
mod faults;
mod health;
mod operator;
mod queue;
mod retire;
mod snapshots;
mod stale_reads;
mod step;
mod sweep;
mod world;

pub use sweep::{multi_sweep, MultiSummary, MultiSweepConfig};

use crate::profile::Profile;
use crate::report::LinOutcome;
use crate::rng::{mix, SimRng, Stream};
use crate::scenario::{Scenario, Synchronous, Timing};
use crate::violation::Violation;
use crate::Micros;
use sansraft::Canary;
use sansraft_multi::HostCanary;
use serde::{Deserialize, Serialize};

/// How to run a multi-group scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MultiOptions {
    /// Groups per node; `None`: drawn per seed from 100–1,000.
    pub groups: Option<usize>,
    /// Most events a run may process before it is declared a runaway.
    pub max_events: u64,
    /// Step budget of the linearizability checker.
    pub lin_max_steps: u64,
    /// A deliberate host bug to switch on in every host.
    pub host_canary: Option<HostCanary>,
}

impl Default for MultiOptions {
    fn default() -> Self {
        MultiOptions {
            groups: None,
            max_events: 20_000_000,
            lin_max_steps: 2_000_000,
            host_canary: None,
        }
    }
}

impl MultiOptions {
    /// The number of groups of the run seeded with `seed`.
    pub fn groups_for(&self, seed: u64) -> usize {
        match self.groups {
            Some(g) => g.max(1),
            None => {
                let mut rng = SimRng::new(mix(seed ^ 0x6d75_6c74_6967_7270), Stream::Workload);
                rng.between(100, 1_000) as usize
            }
        }
    }
}

/// What a multi-group run did: coverage counters, summed over nodes and incarnations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiStats {
    /// Groups per node.
    pub groups: u64,
    /// Events processed.
    pub events: u64,
    /// Host steps (inputs handed to hosts).
    pub host_steps: u64,
    /// Host ticks.
    pub host_ticks: u64,
    /// Engine steps over all groups.
    pub engine_steps: u64,
    /// Group ticks: engine steps of `Input::Tick`.
    pub group_ticks: u64,
    /// Group ticks skipped because the group was quiet (host ticks × groups − group ticks).
    pub quiet_ticks_skipped: u64,
    /// Batches sent.
    pub batches: u64,
    /// Envelopes sent.
    pub envelopes: u64,
    /// Batches lost (by the network, a partition or a down node).
    pub batches_lost: u64,
    /// Host writes (one fsync each).
    pub host_writes: u64,
    /// Group writes carried in them.
    pub group_writes: u64,
    /// Times a host's failure detector declared a peer node unreachable.
    pub detector_reports: u64,
    /// `PeerUnreachable` inputs fed to groups.
    pub unreachable_inputs: u64,
    /// Elections won beyond each group's first (leaders replaced).
    pub failovers: u64,
    /// Crashes of a leader of groups, in a healthy rest, whose groups all got a new leader
    /// within the failover bound.
    pub failover_watches: u64,
    /// Safety checks of a group after a host step.
    pub group_checks: u64,
    /// Crashes and restarts.
    pub crashes: u64,
    /// Restarts.
    pub restarts: u64,
    /// Host writes torn by a crash (part of them kept).
    pub torn_writes: u64,
    /// Scheduled faults of kinds this world leaves out.
    pub faults_skipped: u64,
    /// Membership and priority changes accepted by a group's leader.
    pub membership_changes: u64,
    /// Those accepted in a healthy window, so owed completion within the bound.
    pub changes_watched: u64,
    /// Joint configurations split by the network (`Fault::SplitJoint`).
    pub joint_splits: u64,
    /// Leadership transfers asked of groups' leaders, and those done.
    pub transfers_asked: u64,
    /// Leadership transfers done (a leader's own hand-overs to a higher priority included).
    pub transfers_done: u64,
    /// Campaigns the operator asked for that started.
    pub campaigns: u64,
    /// Replicas created on spares when their leader first reached them.
    pub groups_created: u64,
    /// Replicas deleted on nodes their group left out for good.
    pub groups_deleted: u64,
    /// Snapshots the groups' applications took.
    pub snapshots: u64,
    /// Log compactions behind them.
    pub compactions: u64,
    /// Snapshot chunks read for lagging followers.
    pub chunks_read: u64,
    /// Snapshots installed by followers.
    pub installs: u64,
    /// Client operations, and those completed.
    pub ops: u64,
    /// Client operations completed.
    pub ops_completed: u64,
    /// Groups clients used.
    pub groups_used: u64,
    /// Entries committed, summed over groups.
    pub commits: u64,
    /// Reads served through ReadIndex or a lease.
    pub reads: u64,
    /// Probe reads asked of deposed leaders.
    pub probe_reads: u64,
    /// Bounded-staleness reads served.
    pub stale_reads: u64,
    /// Bounded-staleness reads refused without a usable proof.
    pub stale_reads_unproven: u64,
    /// Bounded-staleness reads refused with a proof older than their bound.
    pub stale_reads_too_old: u64,
}

impl MultiStats {
    /// Adds `other` (for sweep totals); `groups` sums too.
    pub fn add(&mut self, o: &MultiStats) {
        macro_rules! sum {
            ($($f:ident),*) => { $(self.$f += o.$f;)* };
        }
        sum!(
            groups,
            events,
            host_steps,
            host_ticks,
            engine_steps,
            group_ticks,
            quiet_ticks_skipped,
            batches,
            envelopes,
            batches_lost,
            host_writes,
            group_writes,
            detector_reports,
            unreachable_inputs,
            failovers,
            failover_watches,
            group_checks,
            crashes,
            restarts,
            torn_writes,
            faults_skipped,
            membership_changes,
            changes_watched,
            joint_splits,
            transfers_asked,
            transfers_done,
            campaigns,
            groups_created,
            groups_deleted,
            snapshots,
            compactions,
            chunks_read,
            installs,
            ops,
            ops_completed,
            groups_used,
            commits,
            reads,
            probe_reads,
            stale_reads,
            stale_reads_unproven,
            stale_reads_too_old
        );
    }
}

/// The outcome of one multi-group run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiReport {
    /// The seed.
    pub seed: u64,
    /// The profile.
    pub profile: Profile,
    /// Nodes.
    pub nodes: usize,
    /// Groups per node.
    pub groups: usize,
    /// A hash of every event handled: equal for equal runs.
    pub trace_hash: u64,
    /// Simulated time at the end.
    pub sim_time_us: Micros,
    /// The first violation, if any.
    pub violation: Option<Violation>,
    /// The linearizability verdict.
    pub linearizability: LinOutcome,
    /// Coverage counters.
    pub stats: MultiStats,
}

impl MultiReport {
    /// True if no check failed.
    pub fn passed(&self) -> bool {
        self.violation.is_none()
    }
}

/// The scenario of a multi-group run: the single-group world's for the same seed and profile
/// (network, disks, clocks, clients, faults), with quiescence on and asynchronous I/O.
pub fn multi_scenario(
    seed: u64,
    nodes: usize,
    profile: Profile,
    timing: Timing,
    canary: Option<Canary>,
) -> Scenario {
    let mut sc = Scenario::generate(seed, nodes, profile, timing);
    sc.set_canary(canary);
    sc.raft.quiesce = true;
    // Quiescence needs leader stickiness (`Config::validate`).
    sc.raft.leader_stickiness = true;
    sc.raft.synchronous = Synchronous::None;
    sc
}

/// Runs a multi-group scenario to its end or its first violation. Panics inside sansraft or the
/// host are reported as [`crate::ViolationKind::Panic`].
pub fn run(sc: &Scenario, options: &MultiOptions) -> MultiReport {
    world::run(sc, options)
}
