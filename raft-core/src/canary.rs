//! Deliberate protocol bugs, for proving that the simulator and the fuzzers find real bugs.
//!
//! Only with the `canary` cargo feature. Without it [`canary!`] is the constant `false`, so a
//! production build carries no trace of these branches. With it, [`crate::Config::canary`]
//! switches on at most one bug per node; `None` (the default) leaves the protocol correct.

/// One known Raft bug that can be switched on in a node. Each names the rule it breaks.
#[cfg(feature = "canary")]
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Canary {
    /// Breaks §5.4.2 (Figure 8): the leader commits an entry of an earlier term by counting
    /// replicas.
    EarlierTermCommit,
    /// Breaks §5.2 across restarts: a restarted node forgets the vote it persisted and may vote
    /// again in the same term.
    RevoteAfterRestart,
    /// Breaks Figure 2's "persist before responding": a vote leaves before it is durable.
    VoteBeforeDurable,
    /// Breaks Figure 2's "persist before responding": an append is acknowledged before the
    /// entries are durable.
    AckBeforeDurable,
    /// Breaks §5.4.1: votes are granted without checking that the candidate's log is at least
    /// as up to date.
    VoteWithoutLogCheck,
    /// Breaks §5.3's commit rule for followers: heartbeats carry the leader's commit index
    /// instead of `min(commit, match)`, so a follower may commit entries it does not share.
    HeartbeatCommitBeyondMatch,
    /// Breaks the learner rule (thesis §4.2.1): the leader counts learners' acknowledgements
    /// toward commit, so an entry may commit without a majority of voters.
    LearnerInQuorum,
    /// Breaks thesis §4.2.2: a leader removed from the configuration keeps leading after the
    /// configuration without it is committed.
    RemovedLeaderStaysLeader,
    /// Breaks §7's install rule: a follower installs a snapshot that is not newer than its
    /// commit index, so its state machine goes back and its log may lose committed entries.
    AcceptStaleSnapshot,
}

#[cfg(feature = "canary")]
impl Canary {
    /// Every canary, in declaration order.
    pub const ALL: &'static [Canary] = &[
        Canary::EarlierTermCommit,
        Canary::RevoteAfterRestart,
        Canary::VoteBeforeDurable,
        Canary::AckBeforeDurable,
        Canary::VoteWithoutLogCheck,
        Canary::HeartbeatCommitBeyondMatch,
        Canary::LearnerInQuorum,
        Canary::RemovedLeaderStaysLeader,
        Canary::AcceptStaleSnapshot,
    ];

    /// A stable kebab-case name, for command lines and reports.
    pub fn name(self) -> &'static str {
        match self {
            Canary::EarlierTermCommit => "earlier-term-commit",
            Canary::RevoteAfterRestart => "revote-after-restart",
            Canary::VoteBeforeDurable => "vote-before-durable",
            Canary::AckBeforeDurable => "ack-before-durable",
            Canary::VoteWithoutLogCheck => "vote-without-log-check",
            Canary::HeartbeatCommitBeyondMatch => "heartbeat-commit-beyond-match",
            Canary::LearnerInQuorum => "learner-in-quorum",
            Canary::RemovedLeaderStaysLeader => "removed-leader-stays-leader",
            Canary::AcceptStaleSnapshot => "accept-stale-snapshot",
        }
    }

    /// The canary with this [`Canary::name`].
    pub fn from_name(name: &str) -> Option<Canary> {
        Canary::ALL.iter().copied().find(|c| c.name() == name)
    }
}

/// True if the node's configuration switches on this canary bug. Always `false` without the
/// `canary` feature.
#[cfg(feature = "canary")]
macro_rules! canary {
    ($config:expr, $bug:ident) => {
        $config.canary == Some($crate::Canary::$bug)
    };
}

/// True if the node's configuration switches on this canary bug. Always `false` without the
/// `canary` feature.
#[cfg(not(feature = "canary"))]
macro_rules! canary {
    ($config:expr, $bug:ident) => {
        false
    };
}
