//! What a client's request gets back from the node loop: what a committed write did, or why
//! the request was not carried out.

use bytes::Bytes;
use sansraft::{ConfChangeError, Index, NodeId, ProposeError, ReadError};
use sansraft_kv::{Applied, Output};

/// Why a request was not carried out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Ask the leader instead (if one is known).
    NotLeader { leader: Option<NodeId> },
    /// Nothing happened, or the outcome is unknown; retrying is safe (puts and deletes are
    /// idempotent, and a write with a client session applies once however often it is sent),
    /// but for a compare-and-swap without a session, which could apply twice.
    Retry(String),
    /// The request cannot succeed as asked (a membership change that does not apply, a
    /// request older than its client's latest).
    Invalid(String),
}

impl From<ProposeError> for Refusal {
    fn from(e: ProposeError) -> Self {
        match e {
            ProposeError::NotLeader { leader } => Refusal::NotLeader { leader },
            ProposeError::TransferInProgress { target } => Refusal::NotLeader {
                leader: Some(target),
            },
            ProposeError::EntryTooLarge { .. } => Refusal::Invalid(e.to_string()),
            e => Refusal::Retry(e.to_string()),
        }
    }
}

impl From<ReadError> for Refusal {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::NotLeader { leader } => Refusal::NotLeader { leader },
            e => Refusal::Retry(e.to_string()),
        }
    }
}

impl From<ConfChangeError> for Refusal {
    fn from(e: ConfChangeError) -> Self {
        match e {
            ConfChangeError::NotLeader { leader } => Refusal::NotLeader { leader },
            ConfChangeError::TermNotCommitted | ConfChangeError::ChangePending => {
                Refusal::Retry(e.to_string())
            }
            e => Refusal::Invalid(e.to_string()),
        }
    }
}

/// What a committed write or membership change did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Committed {
    /// The index of the entry that applied it: for a retry of a request applied before, the
    /// first one's.
    pub(crate) index: Index,
    /// The state machine's result (`None` for a membership change).
    pub(crate) output: Option<Output<Bytes>>,
    /// Whether this was a retry of a request applied before, answered with its first result.
    pub(crate) retry: bool,
}

/// The answer to a write or a membership change.
pub(crate) type WriteReply = Result<Committed, Refusal>;

/// The answer for the proposer of the entry at `index`, from what applying it did (`None`: it
/// carried no command, as a membership change).
pub(crate) fn applied(index: Index, applied: Option<Applied<Bytes>>) -> WriteReply {
    let committed = |index, output, retry| Committed {
        index,
        output,
        retry,
    };
    match applied {
        Some(Applied::Fresh(output)) => Ok(committed(index, Some(output), false)),
        Some(Applied::Duplicate(output, first)) => Ok(committed(first, Some(output), true)),
        Some(Applied::Stale) => Err(Refusal::Invalid(
            "a later request of this client was applied; this one's result is no longer kept"
                .into(),
        )),
        None => Ok(committed(index, None, false)),
    }
}
