//! Errors: refusals the caller must handle, and misuse by the embedder at start-up.
//! Bad input from peers is not an error for the caller: it is dropped and counted in
//! [`crate::Counters`].

use crate::config::ConfigError;
use crate::types::{Index, NodeId, Term};

/// Why a proposal was refused. The caller should retry elsewhere or later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProposeError {
    /// This node is not the leader; `leader` is the leader it knows of, if any.
    NotLeader {
        /// The current leader, if known.
        leader: Option<NodeId>,
    },
    /// The leader holds too many uncommitted bytes; retry once commits catch up.
    UncommittedLimit {
        /// The configured limit in bytes.
        limit: u64,
    },
    /// The leader is handing leadership to `target` (thesis §3.10); retry at the new leader.
    TransferInProgress {
        /// The node leadership is being transferred to.
        target: NodeId,
    },
    /// The payload is larger than [`crate::Config::max_entry_bytes`]; it will never be taken.
    EntryTooLarge {
        /// The payload's size in bytes.
        size: u64,
        /// The configured limit in bytes.
        limit: u64,
    },
}

impl core::fmt::Display for ProposeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ProposeError::NotLeader { leader: Some(id) } => {
                write!(f, "not the leader; try node {id}")
            }
            ProposeError::NotLeader { leader: None } => {
                f.write_str("not the leader; leader unknown")
            }
            ProposeError::UncommittedLimit { limit } => {
                write!(f, "more than {limit} uncommitted bytes; retry later")
            }
            ProposeError::TransferInProgress { target } => {
                write!(f, "leadership is being transferred to node {target}")
            }
            ProposeError::EntryTooLarge { size, limit } => {
                write!(
                    f,
                    "a {size}-byte entry is larger than the {limit}-byte limit"
                )
            }
        }
    }
}

impl std::error::Error for ProposeError {}

/// Why an [`crate::Input::Campaign`] started no election.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CampaignError {
    /// This node leads the current term already.
    AlreadyLeader,
    /// This node is a learner: it has no vote and may never lead (thesis §4.2.1).
    Learner,
    /// This node is not in the configuration (and is not a removed leader's voter that still
    /// has to help elect one, thesis §4.2.2).
    NotMember,
    /// The term is `Term::MAX`: there is no term to campaign in.
    TermExhausted,
    /// With lease reads, this node heard from a live leader within the election timeout: it
    /// backs that leader's lease (thesis §6.4.1), and its own vote may not go to anyone else,
    /// itself included, until the lease can have run out.
    LeaseInForce,
    /// This node is a witness: its log holds no payloads, so it may never lead.
    Witness,
}

impl core::fmt::Display for CampaignError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            CampaignError::AlreadyLeader => "this node already leads the current term",
            CampaignError::Learner => "a learner cannot campaign",
            CampaignError::NotMember => "a node outside the configuration cannot campaign",
            CampaignError::TermExhausted => "the term cannot grow any further",
            CampaignError::Witness => "a witness cannot campaign",
            CampaignError::LeaseInForce => {
                "this node backs a live leader's read lease; campaign after an election timeout"
            }
        })
    }
}

impl std::error::Error for CampaignError {}

/// Why a linearizable read failed. Nothing was served; the caller may retry (elsewhere).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadError {
    /// This node is not the leader and knows no leader to forward the read to.
    NotLeader {
        /// The current leader, if known.
        leader: Option<NodeId>,
    },
    /// Leadership was lost (or the leader a follower forwarded to changed) before the read was
    /// confirmed: it could have been stale.
    LeadershipLost,
    /// The leader did not answer a forwarded read within an election timeout.
    NoResponse,
    /// Too many reads are waiting on this node.
    TooManyPending {
        /// The configured limit.
        limit: usize,
    },
    /// This node is a witness: it keeps no state machine to read from.
    Witness,
    /// A bounded-staleness read ([`crate::Input::ReadStale`]): this node cannot prove its
    /// state within the bound asked. Retry later (proofs arrive with the leader's heartbeats),
    /// with a looser bound, at another node, or as a linearizable read.
    TooStale {
        /// The bound asked for, in this node's ticks.
        max_staleness_ticks: u32,
        /// How stale this node can prove its state to be now, in its ticks; `None` if it
        /// cannot prove any bound (no leader's proof in this incarnation yet, or its state
        /// machine has not caught up with the proofs it has).
        provable_ticks: Option<u64>,
    },
}

impl core::fmt::Display for ReadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ReadError::NotLeader { leader: Some(id) } => write!(f, "not the leader; try node {id}"),
            ReadError::NotLeader { leader: None } => f.write_str("no leader known"),
            ReadError::LeadershipLost => {
                f.write_str("leadership lost before the read was confirmed")
            }
            ReadError::NoResponse => f.write_str("the leader did not answer the forwarded read"),
            ReadError::TooManyPending { limit } => write!(f, "more than {limit} reads pending"),
            ReadError::Witness => f.write_str("a witness has no state machine to read"),
            ReadError::TooStale {
                max_staleness_ticks,
                provable_ticks: Some(ticks),
            } => write!(
                f,
                "this node can prove its state at most {ticks} ticks stale, not within \
                 {max_staleness_ticks}"
            ),
            ReadError::TooStale {
                max_staleness_ticks,
                provable_ticks: None,
            } => write!(
                f,
                "this node cannot prove its state within {max_staleness_ticks} ticks of the \
                 leader's yet (no freshness proof since it started, or it has not applied it)"
            ),
        }
    }
}

impl std::error::Error for ReadError {}

/// Why a node could not start from the given state: the embedder passed inconsistent state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration is invalid.
    Config(ConfigError),
    /// The membership is not sorted, has duplicates, or lists a voter as a learner.
    MalformedMembership,
    /// Log entries are not consecutive starting right after the snapshot.
    LogNotContiguous {
        /// The index that was expected.
        expected: Index,
        /// The index found.
        found: Index,
    },
    /// Log entry terms decrease, or an entry's term is above the hard state's term or below the
    /// snapshot's.
    LogTermsOutOfOrder {
        /// The offending entry.
        index: Index,
    },
    /// The snapshot's term is above the hard state's term.
    SnapshotTermAboveCurrentTerm {
        /// The snapshot's term.
        snapshot_term: Term,
    },
    /// The persisted commit index is beyond the last log index.
    CommitBeyondLog {
        /// The persisted commit index.
        commit: Index,
        /// The last index of the persisted log.
        last_index: Index,
    },
    /// The log reaches beyond [`crate::MAX_INDEX`].
    IndexSpaceExhausted {
        /// The last index of the persisted log (saturated at `u64::MAX`).
        last_index: Index,
    },
    /// The applied index is outside `[snapshot index, last log index]`. (An applied index
    /// above the persisted commit index is fine: applied entries were committed.)
    AppliedOutOfRange {
        /// The applied index given.
        applied: Index,
    },
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StartError::Config(e) => write!(f, "invalid config: {e}"),
            StartError::MalformedMembership => f.write_str("membership is not well formed"),
            StartError::LogNotContiguous { expected, found } => {
                write!(
                    f,
                    "log not contiguous: expected index {expected}, found {found}"
                )
            }
            StartError::LogTermsOutOfOrder { index } => {
                write!(f, "log entry {index} has a term out of order")
            }
            StartError::SnapshotTermAboveCurrentTerm { snapshot_term } => {
                write!(f, "snapshot term {snapshot_term} is above the current term")
            }
            StartError::CommitBeyondLog { commit, last_index } => {
                write!(
                    f,
                    "commit index {commit} is beyond the last log index {last_index}"
                )
            }
            StartError::IndexSpaceExhausted { last_index } => {
                write!(f, "the log's last index {last_index} is beyond MAX_INDEX")
            }
            StartError::AppliedOutOfRange { applied } => {
                write!(
                    f,
                    "applied index {applied} is outside [snapshot index, last log index]"
                )
            }
        }
    }
}

impl std::error::Error for StartError {}

impl From<ConfigError> for StartError {
    fn from(e: ConfigError) -> Self {
        StartError::Config(e)
    }
}
