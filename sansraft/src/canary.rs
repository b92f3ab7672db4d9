//! Deliberate protocol bugs, for proving that the simulator and the fuzzers find real bugs.
//!
//! The bugs' branches are compiled only with the `canary` cargo feature. Without it [`canary!`]
//! is the constant `false`, so a production build carries no trace of them, and a
//! [`crate::Config`] that names a canary is refused ([`crate::ConfigError::CanaryNotCompiled`])
//! rather than run as if the bug were on. With it, [`crate::Config::canary`] switches on at
//! most one bug per node; `None` (the default) leaves the protocol correct.
//!
//! The names are always there, so that a test harness compiles the same with and without the
//! feature: the simulator and the fuzzers turn the feature on for their tests only (through
//! `[dev-dependencies]`), so building the workspace does not unify it into an embedder's binary
//! (kv-tokio's, say).

/// One known Raft bug that can be switched on in a node. Each names the rule it breaks.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[non_exhaustive]
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
    /// Breaks thesis §6.4: the leader serves reads without confirming its leadership with a
    /// quorum (as if its lease always held), so a deposed leader serves stale reads.
    ReadWithoutQuorum,
    /// A liveness bug (thesis §3.10 with §6.4.1): a follower that honours a leader's lease drops
    /// the vote requests of a transfer that leader started, so a transfer with leases on aborts
    /// and leaves the cluster leaderless until an election timeout passes.
    TransferVoteIgnoredInLease,
    /// Breaks thesis §6.4.1 with §3.10: a leader that hands over leadership keeps serving reads
    /// from its lease, although the transfer lets the target's votes through its followers'
    /// stickiness, so a new leader may commit writes the old one's reads miss.
    LeaseKeptInTransfer,
    /// Breaks thesis §6.4.1: a follower that backs a leader's lease campaigns when an operator
    /// asks it to (`Input::Campaign`), so its own vote helps elect a leader the lease's reads
    /// do not know of.
    CampaignInLease,
    /// Breaks thesis §6.4.1 across restarts: a restarted follower forgets that it may have
    /// backed a leader's lease just before it crashed, and votes for another at once.
    LeaseForgottenAfterRestart,
    /// Breaks thesis §4.3 (joint consensus): an election in a joint configuration is counted
    /// against the new voters only, so two leaders of one term can win disjoint halves.
    JointElectionOneHalf,
    /// A liveness bug (§5.2): a voter does not reset its election timer when it grants a vote,
    /// so it may time out and disrupt the leader it just elected.
    VoteKeepsElectionTimer,
    /// Breaks §5.3's commit rule: a follower commits up to the leader's commit index bounded by
    /// its own last index instead of by the last entry the append verified.
    FollowerCommitBeyondVerified,
    /// Breaks §5.3: a follower acknowledges its whole log as matching instead of the last entry
    /// the append verified.
    AckBeyondVerified,
    /// A liveness bug (§5.3): an append that starts below the follower's commit index is checked
    /// against the term of the entry after the commit index instead of at it, so an append with
    /// a term boundary exactly there is rejected forever.
    ProbeTermOffByOne,
    /// Breaks Figure 2's "persist before responding" across restarts: an acknowledgement of a
    /// write issued by an earlier incarnation is taken for this incarnation's write of the same
    /// sequence number, so the node believes state durable that is not.
    StaleAckAccepted,
    /// Breaks thesis §4.1: a configuration entry removed by a follower's log truncation stays in
    /// force instead of rolling back to the configuration before it.
    TruncatedConfigStays,
    /// Breaks thesis §9.6: a pre-vote request for a later term moves the receiver to that term.
    PreVoteMovesTerm,
    /// Breaks thesis §3.10: a leader handing over leadership keeps accepting proposals.
    ProposeDuringTransfer,
    /// A liveness bug (thesis §4.3): the leader never appends C_new once C_old,new is
    /// committed, so a membership change never completes.
    JointNeverLeft,
    /// Breaks the witness rule (docs/design.md, "Witnesses"): a witness campaigns, is voted
    /// for and takes transfers like any voter, so it can lead with a log that lacks payloads
    /// and replicate entries without their commands.
    WitnessMayLead,
    /// Breaks bounded-staleness reads (thesis §6.4's confirmation): the leader proves a peer's
    /// stamp fresh when a round begins instead of once a quorum acknowledged it, so a deposed
    /// leader in a minority keeps proving its followers fresh with an old commit index.
    StaleReadUnconfirmed,
    /// A liveness bug (leader priorities, docs/design.md): a leader never hands leadership to
    /// a caught-up member of higher priority, and election timeouts ignore priorities, so a
    /// cluster keeps whichever leader it elected while the preferred member was away.
    PriorityIgnored,
    /// Breaks thesis §6.4.1 with quiescence (docs/design.md, "Quiescence"): a leader that
    /// wakes from quiet serves reads from the lease of a round it sent before it went quiet,
    /// although its clock stood still meanwhile and its followers may have elected another.
    QuietLeaderKeepsLease,
    /// A liveness bug (quiescence): a quiet follower ignores the failure detector's word that
    /// its leader's node is unreachable, so a quiet group whose leader died never elects
    /// another.
    QuietIgnoresDetector,
    /// Breaks bounded-staleness reads with quiescence: a node keeps the freshness proofs it
    /// held when it went quiet, although its clock stood still while quiet, so it serves
    /// reads older in real time than their bound.
    QuietFreshnessKept,
}

impl Canary {
    /// Whether this build carries the bugs' branches (the `canary` feature). Without them a
    /// configuration naming a canary is refused.
    pub const COMPILED: bool = cfg!(feature = "canary");

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
        Canary::ReadWithoutQuorum,
        Canary::TransferVoteIgnoredInLease,
        Canary::LeaseKeptInTransfer,
        Canary::CampaignInLease,
        Canary::LeaseForgottenAfterRestart,
        Canary::JointElectionOneHalf,
        Canary::VoteKeepsElectionTimer,
        Canary::FollowerCommitBeyondVerified,
        Canary::AckBeyondVerified,
        Canary::ProbeTermOffByOne,
        Canary::StaleAckAccepted,
        Canary::TruncatedConfigStays,
        Canary::PreVoteMovesTerm,
        Canary::ProposeDuringTransfer,
        Canary::JointNeverLeft,
        Canary::WitnessMayLead,
        Canary::StaleReadUnconfirmed,
        Canary::PriorityIgnored,
        Canary::QuietLeaderKeepsLease,
        Canary::QuietIgnoresDetector,
        Canary::QuietFreshnessKept,
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
            Canary::ReadWithoutQuorum => "read-without-quorum",
            Canary::TransferVoteIgnoredInLease => "transfer-vote-ignored-in-lease",
            Canary::LeaseKeptInTransfer => "lease-kept-in-transfer",
            Canary::CampaignInLease => "campaign-in-lease",
            Canary::LeaseForgottenAfterRestart => "lease-forgotten-after-restart",
            Canary::JointElectionOneHalf => "joint-election-one-half",
            Canary::VoteKeepsElectionTimer => "vote-keeps-election-timer",
            Canary::FollowerCommitBeyondVerified => "follower-commit-beyond-verified",
            Canary::AckBeyondVerified => "ack-beyond-verified",
            Canary::ProbeTermOffByOne => "probe-term-off-by-one",
            Canary::StaleAckAccepted => "stale-ack-accepted",
            Canary::TruncatedConfigStays => "truncated-config-stays",
            Canary::PreVoteMovesTerm => "pre-vote-moves-term",
            Canary::ProposeDuringTransfer => "propose-during-transfer",
            Canary::JointNeverLeft => "joint-never-left",
            Canary::WitnessMayLead => "witness-may-lead",
            Canary::StaleReadUnconfirmed => "stale-read-unconfirmed",
            Canary::PriorityIgnored => "priority-ignored",
            Canary::QuietLeaderKeepsLease => "quiet-leader-keeps-lease",
            Canary::QuietIgnoresDetector => "quiet-ignores-detector",
            Canary::QuietFreshnessKept => "quiet-freshness-kept",
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
    // The configuration is still named, so that code reading it only for a canary compiles
    // without unused-variable noise; the reference costs nothing.
    ($config:expr, $bug:ident) => {{
        let _ = &$config;
        false
    }};
}
