//! Misuse of the host by its embedder. Bad input from peers is not an error: it is dropped
//! and counted in [`crate::HostCounters`].

use crate::config::HostConfigError;
use crate::io::HostToken;
use crate::wire::GroupId;
use sansraft::{NodeId, StartError};

/// Why the host refused an input or could not start. A refused input changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostError {
    /// The host's configuration is invalid.
    Config(HostConfigError),
    /// The group is not hosted here.
    UnknownGroup(GroupId),
    /// The group was deleted: it cannot be created again or given input.
    GroupDeleted(GroupId),
    /// The group is hosted already.
    GroupExists(GroupId),
    /// The group's configuration names another node than the host.
    WrongNodeId {
        /// The group.
        group: GroupId,
        /// The id its configuration names.
        id: NodeId,
    },
    /// The group's configuration asks for [`sansraft::Io::Synchronous`]; the host batches
    /// writes and acknowledges them later, so every group must be asynchronous.
    SynchronousIo(GroupId),
    /// `Tick`, `Message`, `Persisted` and `PeerUnreachable` are fed to groups by the host
    /// (its clock, its network, its write batches, its failure detector); they cannot be
    /// given through [`crate::HostInput::Group`].
    ReservedInput(GroupId),
    /// The group's replica could not start from the given state.
    Start {
        /// The group.
        group: GroupId,
        /// Why.
        error: StartError,
    },
    /// An acknowledgement of a host write this incarnation never issued.
    UnknownToken(HostToken),
}

impl core::fmt::Display for HostError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HostError::Config(e) => write!(f, "invalid host config: {e}"),
            HostError::UnknownGroup(g) => write!(f, "group {g} is not hosted here"),
            HostError::GroupDeleted(g) => write!(f, "group {g} was deleted"),
            HostError::GroupExists(g) => write!(f, "group {g} is hosted already"),
            HostError::WrongNodeId { group, id } => {
                write!(f, "group {group}'s config names node {id}, not this host")
            }
            HostError::SynchronousIo(g) => {
                write!(
                    f,
                    "group {g} asks for synchronous I/O; the host is asynchronous"
                )
            }
            HostError::ReservedInput(g) => write!(
                f,
                "Tick, Message, Persisted and PeerUnreachable for group {g} are the host's to give"
            ),
            HostError::Start { group, error } => {
                write!(f, "group {group} could not start: {error}")
            }
            HostError::UnknownToken(t) => write!(
                f,
                "host write {} of incarnation {} was never issued",
                t.seq, t.incarnation
            ),
        }
    }
}

impl std::error::Error for HostError {}

impl From<HostConfigError> for HostError {
    fn from(e: HostConfigError) -> Self {
        HostError::Config(e)
    }
}
