//! What can go wrong in a run, with one process exit code per kind.

use crate::Micros;
use sansraft::NodeId;
use sansraft_testkit::checker::{Breach, Rule};
use serde::{Deserialize, Serialize};

/// The kinds of failure, each with its own exit code (see [`ViolationKind::exit_code`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    /// Two leaders in one term (§5.2).
    ElectionSafety,
    /// A leader removed or changed an entry of its own log while leading (§5.3).
    LeaderAppendOnly,
    /// Two logs hold an entry with the same index and term but different prefixes (§5.3).
    LogMatching,
    /// A leader lacks an entry committed in an earlier term (§5.4).
    LeaderCompleteness,
    /// Two nodes committed or applied different entries at one index, or a node applied out of
    /// order, an uncommitted entry, or an entry that is not in its log (§5.4.3).
    StateMachineSafety,
    /// A node's term or commit index went down (term also across restarts).
    Monotonicity,
    /// A node granted votes to two candidates in one term, also across restarts (§5.2).
    DoubleVote,
    /// `snapshot ≤ applied ≤ commit ≤ last index` does not hold.
    IndexOrder,
    /// `Node::check_invariants` failed.
    NodeInvariant,
    /// The node said something before the state it depends on was durable, applied a
    /// non-durable entry, or changed its log without issuing a write.
    Durability,
    /// The client history is not linearizable.
    Linearizability,
    /// No leader was elected in time after the faults healed.
    NoLeader,
    /// A request issued after the cluster recovered did not complete in time.
    StuckRequest,
    /// sansraft panicked or refused to start from durable state.
    Panic,
    /// The run exceeded its event budget: a livelock or message storm.
    Runaway,
    /// A membership rule broke (thesis chapter 4): an entry committed without a quorum of the
    /// leader's configuration (learners never count), or a leader outside its configuration
    /// led on after that configuration was committed.
    Membership,
    /// A leadership transfer to a caught-up voter, asked for in a healthy window, was aborted by
    /// the leader's timeout although the window stayed healthy (thesis §3.10).
    TransferAborted,
    /// A follower campaigned before an election timeout passed since it last heard from its
    /// leader or granted a vote (Figure 2, rules for followers).
    EarlyCampaign,
    /// A follower rejected an append whose previous entry it held with the append's term
    /// (Figure 2, AppendEntries rule 2), so its leader would probe the same position forever.
    AppendRejectedWrongly,
    /// A membership change accepted in a healthy window was not committed (and out of its
    /// joint configuration) in time.
    StuckChange,
    /// A read was served stale (thesis §6.4, §6.4.1): it missed an entry committed before it
    /// was issued, or a leader served it although a newer term already had a leader when it
    /// could first confirm it (a lease that did not hold).
    StaleRead,
    /// A bounded-staleness read (`Input::ReadStale`) missed an entry committed anywhere before
    /// the serving node's clock read `now − bound` (docs/design.md §11).
    StaleReadBeyondBound,
    /// After the faults healed, a leader kept leading past the hand-over bound although a
    /// voter of its configuration that may lead has a higher priority.
    LeaderNotPreferred,
    /// With quiescence, a crashed leader was not replaced within the failover bound after the
    /// failure detectors could report it, although the rest of the cluster stayed healthy
    /// with a quorum of voters.
    NoFailover,
}

impl ViolationKind {
    /// Every kind, in exit-code order.
    pub const ALL: [ViolationKind; 24] = [
        ViolationKind::ElectionSafety,
        ViolationKind::LeaderAppendOnly,
        ViolationKind::LogMatching,
        ViolationKind::LeaderCompleteness,
        ViolationKind::StateMachineSafety,
        ViolationKind::Monotonicity,
        ViolationKind::DoubleVote,
        ViolationKind::IndexOrder,
        ViolationKind::NodeInvariant,
        ViolationKind::Durability,
        ViolationKind::Linearizability,
        ViolationKind::NoLeader,
        ViolationKind::StuckRequest,
        ViolationKind::Panic,
        ViolationKind::Runaway,
        ViolationKind::Membership,
        ViolationKind::TransferAborted,
        ViolationKind::EarlyCampaign,
        ViolationKind::AppendRejectedWrongly,
        ViolationKind::StuckChange,
        ViolationKind::StaleRead,
        ViolationKind::StaleReadBeyondBound,
        ViolationKind::LeaderNotPreferred,
        ViolationKind::NoFailover,
    ];

    /// The process exit code for a run or sweep failing with this kind: 10 and up in the order
    /// of [`ViolationKind::ALL`]. (0 is success, 1 an I/O or input error, 2 a usage error.)
    pub fn exit_code(self) -> u8 {
        10 + Self::ALL
            .iter()
            .position(|&k| k == self)
            .expect("listed in ALL") as u8
    }

    /// A stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            ViolationKind::ElectionSafety => "election_safety",
            ViolationKind::LeaderAppendOnly => "leader_append_only",
            ViolationKind::LogMatching => "log_matching",
            ViolationKind::LeaderCompleteness => "leader_completeness",
            ViolationKind::StateMachineSafety => "state_machine_safety",
            ViolationKind::Monotonicity => "monotonicity",
            ViolationKind::DoubleVote => "double_vote",
            ViolationKind::IndexOrder => "index_order",
            ViolationKind::NodeInvariant => "node_invariant",
            ViolationKind::Durability => "durability",
            ViolationKind::Linearizability => "linearizability",
            ViolationKind::NoLeader => "no_leader",
            ViolationKind::StuckRequest => "stuck_request",
            ViolationKind::Panic => "panic",
            ViolationKind::Runaway => "runaway",
            ViolationKind::Membership => "membership",
            ViolationKind::TransferAborted => "transfer_aborted",
            ViolationKind::EarlyCampaign => "early_campaign",
            ViolationKind::AppendRejectedWrongly => "append_rejected_wrongly",
            ViolationKind::StuckChange => "stuck_change",
            ViolationKind::StaleRead => "stale_read",
            ViolationKind::StaleReadBeyondBound => "stale_read_beyond_bound",
            ViolationKind::LeaderNotPreferred => "leader_not_preferred",
            ViolationKind::NoFailover => "no_failover",
        }
    }

    /// The kind under which the simulator reports a breach of a test-kit checker rule.
    pub fn of_rule(rule: Rule) -> ViolationKind {
        match rule {
            Rule::ElectionSafety => ViolationKind::ElectionSafety,
            Rule::LeaderAppendOnly => ViolationKind::LeaderAppendOnly,
            Rule::LogMatching => ViolationKind::LogMatching,
            Rule::LeaderCompleteness => ViolationKind::LeaderCompleteness,
            Rule::StateMachineSafety => ViolationKind::StateMachineSafety,
            Rule::Monotonicity => ViolationKind::Monotonicity,
            Rule::DoubleVote => ViolationKind::DoubleVote,
            Rule::IndexOrder => ViolationKind::IndexOrder,
            Rule::NodeInvariant => ViolationKind::NodeInvariant,
            Rule::Durability => ViolationKind::Durability,
            Rule::Membership => ViolationKind::Membership,
            Rule::StaleRead => ViolationKind::StaleRead,
            Rule::StaleReadBeyondBound => ViolationKind::StaleReadBeyondBound,
            Rule::EarlyCampaign => ViolationKind::EarlyCampaign,
            Rule::AppendRejectedWrongly => ViolationKind::AppendRejectedWrongly,
        }
    }

    /// True for the liveness checks (and the local rules whose breach only stalls the cluster):
    /// a canary hunt for a safety bug passes over them.
    pub fn is_liveness(self) -> bool {
        matches!(
            self,
            ViolationKind::NoLeader
                | ViolationKind::StuckRequest
                | ViolationKind::TransferAborted
                | ViolationKind::EarlyCampaign
                | ViolationKind::AppendRejectedWrongly
                | ViolationKind::StuckChange
                | ViolationKind::LeaderNotPreferred
                | ViolationKind::NoFailover
        )
    }

    /// True for the checks made at the end of a run rather than after an event.
    pub fn is_end_of_run(self) -> bool {
        matches!(
            self,
            ViolationKind::Linearizability | ViolationKind::StuckRequest
        )
    }
}

impl core::fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed check, as the checker reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Which check.
    pub kind: ViolationKind,
    /// The node concerned, if one is.
    pub node: Option<NodeId>,
    /// What was seen.
    pub detail: String,
}

impl From<Breach> for Failure {
    fn from(v: Breach) -> Self {
        Failure::new(ViolationKind::of_rule(v.rule), v.node, v.detail)
    }
}

impl Failure {
    /// A failure of `kind` at `node`.
    pub fn new(kind: ViolationKind, node: Option<NodeId>, detail: String) -> Self {
        Failure { kind, node, detail }
    }

    /// A run that processed more than `max_events` events by `at` (a livelock or a storm).
    pub(crate) fn runaway(max_events: u64, at: Micros) -> Self {
        let detail = format!("more than {max_events} events by t={:.6}s", at as f64 / 1e6);
        Failure::new(ViolationKind::Runaway, None, detail)
    }
}

/// A failure located in the run: after which event, at what simulated time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// What failed.
    pub failure: Failure,
    /// The number of the event after which it was detected (from 1); end-of-run checks give
    /// the number of the last event.
    pub event: u64,
    /// Simulated time of detection.
    pub at_us: Micros,
}

impl core::fmt::Display for Violation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} at event {} (t={:.6}s)",
            self.failure.kind,
            self.event,
            self.at_us as f64 / 1e6
        )?;
        if let Some(node) = self.failure.node {
            write!(f, " on n{node}")?;
        }
        write!(f, ": {}", self.failure.detail)
    }
}
