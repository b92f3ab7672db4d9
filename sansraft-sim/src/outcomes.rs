//! Why leadership transfers and reads ended as they did, so a sweep can tell a legitimate
//! failure (a fault, a target that was behind, a transfer that superseded a read) from a bug.
//! A transfer aborted in a healthy window with a caught-up target is a bug and fails the run
//! (see [`crate::liveness`]); the rest are counted.

use serde::{Deserialize, Serialize};

/// How a leadership transfer ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TransferCause {
    /// The target leads a newer term.
    Done,
    /// The leader refused the request (not leader, target itself, unknown, a learner, or a
    /// transfer already under way).
    Refused,
    /// Aborted; the target was down, not a voter in the leader's configuration, or behind the
    /// leader's log when asked.
    TargetBehind,
    /// Aborted; a membership change was uncommitted when it was asked or ended.
    MembershipInFlight,
    /// Aborted because another node won an election, or the old leader won again.
    Superseded,
    /// Aborted by the leader's timeout in a healthy window, in a cluster whose message and disk
    /// latencies may make the transfer's critical path longer than an election timeout.
    SlowCluster,
    /// Aborted by the leader's timeout after a fault in the meantime.
    AbortedInFault,
    /// Aborted by the leader's timeout although the cluster was healthy throughout and the
    /// target was caught up: a liveness bug.
    AbortedHealthy,
    /// No outcome: the leader crashed or the run ended first.
    Unresolved,
}

impl TransferCause {
    /// Every cause, in report order.
    pub const ALL: [TransferCause; 9] = [
        TransferCause::Done,
        TransferCause::Refused,
        TransferCause::TargetBehind,
        TransferCause::MembershipInFlight,
        TransferCause::Superseded,
        TransferCause::SlowCluster,
        TransferCause::AbortedInFault,
        TransferCause::AbortedHealthy,
        TransferCause::Unresolved,
    ];

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            TransferCause::Done => "done",
            TransferCause::Refused => "refused",
            TransferCause::TargetBehind => "target behind",
            TransferCause::MembershipInFlight => "membership in flight",
            TransferCause::Superseded => "superseded",
            TransferCause::SlowCluster => "slow cluster",
            TransferCause::AbortedInFault => "aborted in a fault",
            TransferCause::AbortedHealthy => "aborted while healthy",
            TransferCause::Unresolved => "unresolved",
        }
    }
}

/// Why a read failed (it is retried by its client).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReadCause {
    /// A leadership transfer was under way.
    Transfer,
    /// No member led, or the leader changed within the last two election timeouts.
    Election,
    /// The node asked is outside the committed configuration (a spare, or removed).
    NotMember,
    /// The node knew no leader or did not lead (`ReadError::NotLeader`).
    NotLeader,
    /// The leader stepped down before confirming it (`ReadError::LeadershipLost`).
    LeadershipLost,
    /// A forwarded read got no answer in time (`ReadError::NoResponse`).
    NoResponse,
    /// Back-pressure (`ReadError::TooManyPending`).
    TooManyPending,
    /// The node asked is a witness, which has no state machine (`ReadError::Witness`).
    Witness,
    /// A reason this simulator does not know yet (`ReadError` is `#[non_exhaustive]`).
    Other,
}

impl ReadCause {
    /// Every cause, in report order.
    pub const ALL: [ReadCause; 9] = [
        ReadCause::Transfer,
        ReadCause::Election,
        ReadCause::NotMember,
        ReadCause::NotLeader,
        ReadCause::LeadershipLost,
        ReadCause::NoResponse,
        ReadCause::TooManyPending,
        ReadCause::Witness,
        ReadCause::Other,
    ];

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            ReadCause::Transfer => "transfer",
            ReadCause::Election => "election",
            ReadCause::NotMember => "not a member",
            ReadCause::NotLeader => "not leader",
            ReadCause::LeadershipLost => "leadership lost",
            ReadCause::NoResponse => "no response",
            ReadCause::TooManyPending => "too many pending",
            ReadCause::Witness => "witness",
            ReadCause::Other => "other",
        }
    }

    /// The cause of a failure with `error`, outside a transfer.
    pub fn of(error: sansraft::ReadError) -> ReadCause {
        match error {
            sansraft::ReadError::NotLeader { .. } => ReadCause::NotLeader,
            sansraft::ReadError::LeadershipLost => ReadCause::LeadershipLost,
            sansraft::ReadError::NoResponse => ReadCause::NoResponse,
            sansraft::ReadError::TooManyPending { .. } => ReadCause::TooManyPending,
            sansraft::ReadError::Witness => ReadCause::Witness,
            _ => ReadCause::Other,
        }
    }
}

/// Outcome counts of one run or, summed, of a sweep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcomes {
    /// Transfers per [`TransferCause`], in the order of [`TransferCause::ALL`].
    pub transfers: [u64; 9],
    /// Failed reads per [`ReadCause`] while the cluster was healthy.
    pub reads_failed_healthy: [u64; 9],
    /// Failed reads per [`ReadCause`] outside healthy windows.
    pub reads_failed_fault: [u64; 9],
    /// Healthy windows that began without a leader and elected one, and the longest time such
    /// an election took, in µs.
    pub elections_healthy: (u64, u64),
    /// Simulated time the cluster was healthy, in µs.
    pub healthy_us: u64,
}

impl Outcomes {
    /// Counts one transfer.
    pub fn transfer(&mut self, cause: TransferCause) {
        self.transfers[cause as usize] += 1;
    }

    /// Counts one failed read.
    pub fn read_failed(&mut self, cause: ReadCause, healthy: bool) {
        let row = if healthy {
            &mut self.reads_failed_healthy
        } else {
            &mut self.reads_failed_fault
        };
        row[cause as usize] += 1;
    }

    /// Adds another run's counts.
    pub fn add(&mut self, other: &Outcomes) {
        add_counts(&mut self.transfers, &other.transfers);
        add_counts(&mut self.reads_failed_healthy, &other.reads_failed_healthy);
        add_counts(&mut self.reads_failed_fault, &other.reads_failed_fault);
        self.elections_healthy.0 += other.elections_healthy.0;
        self.elections_healthy.1 = self.elections_healthy.1.max(other.elections_healthy.1);
        self.healthy_us += other.healthy_us;
    }

    /// The transfer breakdown, e.g. `done 12 · refused 3 · superseded 1` (zero counts left out).
    pub fn describe_transfers(&self) -> String {
        describe(TransferCause::ALL.iter().map(|c| c.name()), &self.transfers)
    }

    /// The breakdown of failed reads in healthy windows or outside them.
    pub fn describe_reads(&self, healthy: bool) -> String {
        let row = if healthy {
            &self.reads_failed_healthy
        } else {
            &self.reads_failed_fault
        };
        describe(ReadCause::ALL.iter().map(|c| c.name()), row)
    }
}

fn describe<'a>(names: impl Iterator<Item = &'a str>, counts: &[u64]) -> String {
    let parts: Vec<String> = names
        .zip(counts)
        .filter(|(_, &n)| n > 0)
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(" · ")
    }
}

fn add_counts(into: &mut [u64], from: &[u64]) {
    for (a, b) in into.iter_mut().zip(from) {
        *a += b;
    }
}
