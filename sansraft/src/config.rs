//! Node configuration: timeouts in ticks, flow-control limits and the election seed.

use crate::types::NodeId;

/// How a node behaves. Build with [`Config::new`] and adjust fields; [`Config::validate`] runs
/// when a node starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// This node's id.
    pub id: NodeId,
    /// The election timeout T: a follower that hears from no leader for a random number of ticks
    /// in [T, 2T) starts an election (§5.2). Also the check-quorum and leader-lease window.
    pub election_timeout_ticks: u32,
    /// How often a leader sends heartbeats. Must be below the election timeout.
    pub heartbeat_interval_ticks: u32,
    /// Poll voters before campaigning so that a partitioned node cannot disrupt the cluster by
    /// inflating its term (thesis §9.6).
    pub pre_vote: bool,
    /// A leader that has not heard from a quorum of voters within an election timeout steps down
    /// (thesis §6.2).
    pub check_quorum: bool,
    /// Leader stickiness (thesis §4.2.3): a voter that heard from a leader within the election
    /// timeout ignores vote requests for newer terms (a leader with `check_quorum` too), so a
    /// partitioned or removed server cannot depose a live leader. On by default; lease reads
    /// need it. Off, voters follow the Raft paper (§5.2): any request of a newer term moves
    /// them to that term, and they may grant it.
    pub leader_stickiness: bool,
    /// This node is a witness (docs/design.md, "Witnesses"): it stores no entry payloads and
    /// keeps no state machine, never campaigns or leads, and serves no read. Declared by its
    /// embedder for the node's whole life, as its storage has no payloads: never restart a
    /// witness's storage as anything else. A configuration should name it in
    /// [`crate::Membership::witnesses`] (voters then refuse it their votes, and a leader
    /// transfers nothing to it). Off by default.
    pub witness: bool,
    /// Quiescence (docs/design.md, "Quiescence"): a leader whose members all hold its whole
    /// log, with nothing under way, tells them it goes quiet; then no member needs a
    /// [`crate::Input::Tick`] ([`crate::Node::needs_ticks`]) and no heartbeat is sent until an
    /// input wakes the group. **The embedder must then detect failures itself**: a quiet
    /// follower does not time out, and campaigns only once told its leader's node is
    /// unreachable ([`crate::Input::PeerUnreachable`], from one failure detector per pair of
    /// nodes shared by every group). Needs [`Config::leader_stickiness`]. Off by default.
    pub quiesce: bool,
    /// Upper bound on the entry bytes in one append message; one entry is always sent even if it
    /// is larger.
    pub max_append_bytes: u64,
    /// Most append messages in flight to one follower while replicating optimistically.
    pub max_inflight_msgs: usize,
    /// Most entry bytes in flight to one follower while replicating optimistically.
    pub max_inflight_bytes: u64,
    /// Largest payload of one proposal, in bytes; a larger one is refused
    /// ([`crate::ProposeError::EntryTooLarge`]). Keep it below what the transport carries in
    /// one message: an entry larger than `max_append_bytes` is sent alone. 16 MiB by default.
    pub max_entry_bytes: u64,
    /// Proposals are refused while the leader holds more than this many bytes of uncommitted
    /// entries from its own term. One proposal is always admitted when nothing is uncommitted.
    pub max_uncommitted_bytes: u64,
    /// Upper bound on the entry bytes handed out for applying in one step, over one apply
    /// action per run of the log (at least one entry).
    pub max_apply_bytes: u64,
    /// Seeds the generator of randomised election timeouts. Same seed, same timeouts.
    pub seed: u64,
    /// The leader appends C_new as soon as a joint configuration C_old,new is committed (thesis
    /// §4.3). When off, the embedder leaves it with [`crate::ConfChange::leave_joint`].
    pub auto_leave_joint: bool,
    /// A learner whose log is within this many entries of the leader's last index counts as
    /// caught up: the leader reports it with [`crate::Action::LearnerCaughtUp`].
    pub learner_catch_up_gap: u64,
    /// The leader promotes a caught-up learner to voter by itself, when no other change is in
    /// flight. Off by default: the embedder decides.
    pub auto_promote_learners: bool,
    /// Most reads waiting on this node (at the leader, forwarded, or waiting to be applied);
    /// more are refused with [`crate::ReadError::TooManyPending`].
    pub max_pending_reads: usize,
    /// Serve reads from the leader's lease instead of a heartbeat round per read (thesis
    /// §6.4.1). Requires `check_quorum` and the clock assumption of
    /// [`Config::max_clock_drift_percent`]: a clock that runs faster than that breaks
    /// linearizability. Off by default.
    pub lease_reads: bool,
    /// The most that any node's clock (its tick rate) may run faster than another's, in percent.
    /// The lease lasts [`Config::lease_ticks`] ticks, shortened by this margin.
    pub max_clock_drift_percent: u32,
    /// When the application reports a snapshot at index `i`, the log is compacted up to
    /// `i - compaction_keep_entries`: the trailing entries let slightly lagging followers catch
    /// up from the log instead of a snapshot.
    pub compaction_keep_entries: u64,
    /// Upper bound on the bytes of one snapshot chunk (the leader asks the embedder for at most
    /// this many bytes per read).
    pub snapshot_chunk_bytes: u64,
    /// Most snapshot chunks in flight to one follower.
    pub max_snapshot_chunks_in_flight: usize,
    /// A snapshot transfer that made no progress for this many ticks is resent from the last
    /// offset the follower acknowledged.
    pub snapshot_retry_ticks: u32,
    /// Whether the embedder acknowledges writes and applied entries with inputs
    /// ([`Io::Asynchronous`], the default) or carries out every action before the next input
    /// ([`Io::Synchronous`]).
    pub io: Io,
    /// A deliberate protocol bug to switch on, for testing the testers. `None` by default; any
    /// other value needs the `canary` feature ([`crate::Canary::COMPILED`]).
    pub canary: Option<crate::Canary>,
}

/// How the embedder's storage and state machine keep up with a node's actions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Io {
    /// Writes and applying may complete after the step that asked for them: the embedder says
    /// so with [`crate::Input::Persisted`] and [`crate::Input::Applied`] in later steps.
    #[default]
    Asynchronous,
    /// The embedder carries out each step's actions in order, each to completion, before it
    /// feeds the next input: a [`crate::Action::Persist`] is durable (synced) once carried out,
    /// and the entries of a [`crate::Action::Apply`] are applied. The node counts them so as it
    /// hands them out, and the actions that depend on them follow them in the same step (an
    /// append acknowledgement after the write, a read after the entries it must see). No
    /// `Persisted` or `Applied` input is needed; one that comes is stale and changes nothing.
    Synchronous,
}

/// Why a [`Config`] was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `election_timeout_ticks` must be at least 2.
    ElectionTimeoutTooShort,
    /// `election_timeout_ticks` must be below 2^31, so that 2T ticks fit a `u32`.
    ElectionTimeoutTooLong,
    /// `heartbeat_interval_ticks` must be at least 1 and below the election timeout.
    HeartbeatNotBelowElectionTimeout,
    /// `max_inflight_msgs` must be at least 1.
    NoInflightWindow,
    /// A byte limit is zero.
    ZeroByteLimit,
    /// `max_snapshot_chunks_in_flight` and `snapshot_retry_ticks` must be at least 1.
    NoSnapshotWindow,
    /// `lease_reads` needs `check_quorum`.
    LeaseReadsNeedCheckQuorum,
    /// `lease_reads` needs `leader_stickiness`: the lease holds only while voters ignore other
    /// candidates.
    LeaseReadsNeedStickiness,
    /// `quiesce` needs `leader_stickiness`: a quiet follower must not be moved to a newer term
    /// and vote while it believes its leader alive, or one wrong failure report, or one lost
    /// wake-up notice, deposes a live leader.
    QuiesceNeedsStickiness,
    /// With this clock drift and election timeout the lease would be shorter than one tick.
    LeaseTooShort,
    /// `canary` names a deliberate bug, but this build lacks the `canary` feature that carries
    /// the bugs' branches: run as is, the test would prove nothing.
    CanaryNotCompiled,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ConfigError::ElectionTimeoutTooShort => "election_timeout_ticks must be at least 2",
            ConfigError::ElectionTimeoutTooLong => "election_timeout_ticks must be below 2^31",
            ConfigError::HeartbeatNotBelowElectionTimeout => {
                "heartbeat_interval_ticks must be at least 1 and below election_timeout_ticks"
            }
            ConfigError::NoInflightWindow => "max_inflight_msgs must be at least 1",
            ConfigError::ZeroByteLimit => "byte limits must be positive",
            ConfigError::NoSnapshotWindow => {
                "max_snapshot_chunks_in_flight and snapshot_retry_ticks must be at least 1"
            }
            ConfigError::LeaseReadsNeedCheckQuorum => "lease_reads requires check_quorum",
            ConfigError::LeaseReadsNeedStickiness => "lease_reads requires leader_stickiness",
            ConfigError::QuiesceNeedsStickiness => "quiesce requires leader_stickiness",
            ConfigError::LeaseTooShort => {
                "the lease would be shorter than one tick at this clock drift"
            }
            ConfigError::CanaryNotCompiled => {
                "canary names a deliberate bug, but sansraft was built without the `canary` feature"
            }
        })
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// A configuration with production defaults: election timeout 10 ticks, heartbeat every 2,
    /// pre-vote and check-quorum on, 1 MiB appends, 256 messages / 16 MiB in flight; 1 MiB
    /// snapshot chunks, 4 in flight, resent after 6 ticks without progress; 1024 entries kept
    /// after a compaction.
    pub fn new(id: NodeId, seed: u64) -> Self {
        Config {
            id,
            election_timeout_ticks: 10,
            heartbeat_interval_ticks: 2,
            pre_vote: true,
            check_quorum: true,
            leader_stickiness: true,
            witness: false,
            quiesce: false,
            max_append_bytes: 1 << 20,
            max_inflight_msgs: 256,
            max_inflight_bytes: 16 << 20,
            max_entry_bytes: 16 << 20,
            max_uncommitted_bytes: 64 << 20,
            max_apply_bytes: 16 << 20,
            seed,
            auto_leave_joint: true,
            learner_catch_up_gap: 64,
            auto_promote_learners: false,
            max_pending_reads: 4096,
            lease_reads: false,
            max_clock_drift_percent: 10,
            compaction_keep_entries: 1024,
            snapshot_chunk_bytes: 1 << 20,
            max_snapshot_chunks_in_flight: 4,
            snapshot_retry_ticks: 6,
            io: Io::Asynchronous,
            canary: None,
        }
    }

    /// How many ticks a lease lasts after the leader sent a heartbeat round a quorum
    /// acknowledged: `⌊(election_timeout_ticks − 1) × (100 − max_clock_drift_percent) / 100⌋`.
    ///
    /// A voter that received the round at real time h ignores vote requests until it has
    /// ticked `election_timeout_ticks` times since, which takes at least
    /// `(election_timeout_ticks − 1)` of its tick periods (the first may come at once). The
    /// leader's tick count lags real time by less than one tick. If the voter's clock runs at
    /// most `max_clock_drift_percent` faster than the leader's, a lease of this many leader ticks
    /// ends before any voter that acknowledged the round can vote for someone else.
    pub fn lease_ticks(&self) -> u32 {
        let drift = u64::from(self.max_clock_drift_percent.min(100));
        let t = u64::from(self.election_timeout_ticks.saturating_sub(1));
        (t * (100 - drift) / 100) as u32
    }

    /// Checks the configuration's internal consistency.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.election_timeout_ticks < 2 {
            return Err(ConfigError::ElectionTimeoutTooShort);
        }
        // Randomised timeouts reach 2T − 1 ticks, counted in a u32.
        if self.election_timeout_ticks > u32::MAX / 2 {
            return Err(ConfigError::ElectionTimeoutTooLong);
        }
        if self.heartbeat_interval_ticks == 0
            || self.heartbeat_interval_ticks >= self.election_timeout_ticks
        {
            return Err(ConfigError::HeartbeatNotBelowElectionTimeout);
        }
        if self.max_inflight_msgs == 0 {
            return Err(ConfigError::NoInflightWindow);
        }
        if self.max_append_bytes == 0
            || self.max_inflight_bytes == 0
            || self.max_uncommitted_bytes == 0
            || self.max_apply_bytes == 0
            || self.snapshot_chunk_bytes == 0
            || self.max_entry_bytes == 0
        {
            return Err(ConfigError::ZeroByteLimit);
        }
        if self.max_snapshot_chunks_in_flight == 0 || self.snapshot_retry_ticks == 0 {
            return Err(ConfigError::NoSnapshotWindow);
        }
        if self.canary.is_some() && !crate::Canary::COMPILED {
            return Err(ConfigError::CanaryNotCompiled);
        }
        if self.quiesce && !self.leader_stickiness {
            return Err(ConfigError::QuiesceNeedsStickiness);
        }
        if self.lease_reads {
            if !self.check_quorum {
                return Err(ConfigError::LeaseReadsNeedCheckQuorum);
            }
            if !self.leader_stickiness {
                return Err(ConfigError::LeaseReadsNeedStickiness);
            }
            if self.lease_ticks() == 0 {
                return Err(ConfigError::LeaseTooShort);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn election_timeouts_whose_double_overflows_a_u32_are_refused() {
        let mut config = Config::new(1, 0);
        config.election_timeout_ticks = u32::MAX / 2;
        assert_eq!(config.validate(), Ok(()));
        config.election_timeout_ticks = u32::MAX / 2 + 1;
        assert_eq!(config.validate(), Err(ConfigError::ElectionTimeoutTooLong));
        config.election_timeout_ticks = 1;
        assert_eq!(config.validate(), Err(ConfigError::ElectionTimeoutTooShort));
    }

    #[test]
    fn a_canary_is_refused_unless_its_branches_are_compiled() {
        let mut config = Config::new(1, 0);
        config.canary = Some(crate::Canary::EarlierTermCommit);
        let expected = if crate::Canary::COMPILED {
            Ok(())
        } else {
            Err(ConfigError::CanaryNotCompiled)
        };
        assert_eq!(config.validate(), expected);
    }
}
