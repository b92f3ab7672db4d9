//! What a run reports: its outcome, trace hash and counters.

use crate::profile::Profile;
use crate::violation::Violation;
use crate::Micros;
use serde::{Deserialize, Serialize};

/// Counters of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStats {
    /// Events processed.
    pub events: u64,
    /// Node steps (inputs handled).
    pub steps: u64,
    /// Length of the committed log at the end.
    pub commits: u64,
    /// Terms that had a leader.
    pub elections: u64,
    /// Faults from the schedule that fired.
    pub faults: u64,
    /// Crashes (scheduled ones that hit a running node).
    pub crashes: u64,
    /// Torn writes left by crashes.
    pub torn_writes: u64,
    /// Writes issued.
    pub writes: u64,
    /// Messages sent between nodes.
    pub messages: u64,
    /// Messages lost (loss or cut links) or dropped (recipient down).
    pub messages_lost: u64,
    /// Client operations invoked.
    pub ops: u64,
    /// Client operations that completed.
    pub ops_completed: u64,
    /// Coverage: writes that truncated a node's log (a follower dropping conflicting entries).
    pub truncations: u64,
    /// Coverage: client proposals overwritten by another leader's entry.
    pub overwritten: u64,
    /// Coverage: storage acknowledgements delivered to a later incarnation.
    pub stale_acks: u64,
    /// Coverage: membership changes the leader accepted (the operator's and automatic ones
    /// are told apart only in traces).
    #[serde(default)]
    pub membership_changes: u64,
    /// Coverage: leaders that stepped down after removing themselves.
    #[serde(default)]
    pub removed_leaders: u64,
    /// Coverage: gets served through ReadIndex or a lease rather than the log.
    #[serde(default)]
    pub reads: u64,
    /// Coverage: reads that failed (and were retried).
    #[serde(default)]
    pub reads_failed: u64,
    /// Coverage: joint configurations split between their halves the instant they were
    /// appended (see [`crate::Fault::SplitJoint`]).
    #[serde(default)]
    pub joint_splits: u64,
    /// Reads the simulator asked of leaders of older terms the instant a newer leader was seen.
    #[serde(default)]
    pub probe_reads: u64,
    /// Bounded-staleness reads served, refused because the node could prove no bound (no
    /// proof yet in its incarnation, or none applied), and refused past a bound it could prove.
    #[serde(default)]
    pub stale_reads: (u64, u64, u64),
    /// Coverage: snapshots the applications took.
    #[serde(default)]
    pub snapshots: u64,
    /// Coverage: log compactions.
    #[serde(default)]
    pub compactions: u64,
    /// Coverage: snapshot chunks read by leaders.
    #[serde(default)]
    pub chunks_read: u64,
    /// Coverage: snapshots installed by followers.
    #[serde(default)]
    pub installs: u64,
    /// Coverage: leadership transfers asked for, and those that completed.
    #[serde(default)]
    pub transfers: (u64, u64),
    /// Coverage: leadership transfers leaders started by themselves, to hand over to a member
    /// of higher priority.
    #[serde(default)]
    pub priority_transfers: u64,
    /// Coverage: transfers that completed although nobody asked for them: leaders' own
    /// hand-overs to a member of higher priority.
    #[serde(default)]
    pub priority_transfers_done: u64,
    /// Coverage: times a node went quiet with its group (quiescence).
    #[serde(default)]
    pub quiesced: u64,
    /// Ticks the hosts skipped because the node was quiet.
    #[serde(default)]
    pub quiet_ticks: u64,
    /// Failure detectors' pings sent, and their reports of an unreachable peer.
    #[serde(default)]
    pub pings: u64,
    /// Failure detectors' reports of an unreachable peer (`Input::PeerUnreachable`).
    #[serde(default)]
    pub detector_signals: u64,
    /// Crashed leaders of quiescent runs replaced while the failover check watched.
    #[serde(default)]
    pub failovers: u64,
    /// The longest of those failovers, from the later of the first detector report (or the
    /// crash, if none came first) and the moment the rest of the cluster was last healthy, to
    /// the newer leader.
    #[serde(default)]
    pub failover_max_us: u64,
    /// Why transfers and reads ended as they did, and the healthy windows' elections.
    #[serde(default)]
    pub outcomes: crate::outcomes::Outcomes,
}

/// The linearizability verdict of a run's client history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinOutcome {
    /// Not checked (a safety check failed first, or the run was cut short).
    Skipped,
    /// The history is linearizable.
    Linearizable,
    /// The checker ran out of steps on this key: neither pass nor failure.
    Inconclusive {
        /// The key it gave up on.
        key: u64,
    },
    /// Not linearizable (also reported as a violation).
    NotLinearizable,
}

/// The result of one run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    /// The seed.
    pub seed: u64,
    /// Node count.
    pub nodes: usize,
    /// The profile.
    pub profile: Profile,
    /// FNV-1a hash of the event sequence: same scenario, same hash.
    pub trace_hash: u64,
    /// Simulated time reached.
    pub sim_time_us: Micros,
    /// The first failed check, if any.
    pub violation: Option<Violation>,
    /// The linearizability verdict.
    pub linearizability: LinOutcome,
    /// Counters.
    pub stats: RunStats,
    /// The cluster size and engine options the seed drew.
    #[serde(default)]
    pub options: RunOptionsDrawn,
}

/// The cluster size and engine options a seed drew (swarm testing), for per-option coverage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOptionsDrawn {
    /// Voters at the start.
    pub voters: usize,
    /// How gets were served.
    pub reads: crate::scenario::ReadMode,
    /// Pre-vote was on.
    pub pre_vote: bool,
    /// Check-quorum was on.
    pub check_quorum: bool,
    /// Leaders promoted caught-up learners by themselves.
    pub auto_promote: bool,
    /// Leader stickiness was on.
    #[serde(default)]
    pub stickiness: bool,
    /// Witnesses were among the voters at the start, or the operator added one.
    #[serde(default)]
    pub witnesses: bool,
    /// Leader priorities were set, at the start or by the operator.
    #[serde(default)]
    pub priorities: bool,
    /// Idle groups went quiet (`Config::quiesce`), with a failure detector.
    #[serde(default)]
    pub quiescence: bool,
}

impl RunReport {
    /// True if no check failed.
    pub fn passed(&self) -> bool {
        self.violation.is_none()
    }

    /// The process exit code for this run: 0, or the violation kind's code.
    pub fn exit_code(&self) -> u8 {
        self.violation
            .as_ref()
            .map_or(0, |v| v.failure.kind.exit_code())
    }
}
