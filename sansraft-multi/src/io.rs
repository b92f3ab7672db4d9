//! The embedder's side of the host's contract: what goes into [`crate::Host::step`] and what
//! comes out.

use crate::wire::{Batch, GroupId};
use sansraft::{Action, Config, DurableState, Input, NodeId, Write};

/// Something that happened to the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostInput {
    /// One unit of logical time passed. Ticks the groups that need ticks, runs the failure
    /// detector and, once per [`crate::HostConfig::heartbeat_interval_ticks`], sends the
    /// periodic batch to every peer node.
    Tick,
    /// A batch arrived from a peer node. A batch not addressed to this host, or one whose
    /// envelopes claim another sender, is ignored (wholly or per envelope) and counted.
    Batch(Batch),
    /// The [`HostWrite`] with this token, and every one issued before it, is durable: each
    /// group's writes in them are acknowledged to the group.
    Persisted(HostToken),
    /// Start hosting a replica of `group`: a new group ([`DurableState::bootstrap`]) or one
    /// this node joins (e.g. after an [`HostAction::UnknownGroup`]). The configuration's id
    /// must be the host's id and its I/O [`sansraft::Io::Asynchronous`]. Refused for a
    /// hosted or tombstoned group.
    CreateGroup {
        /// The group.
        group: GroupId,
        /// The replica's configuration (boxed: it is large and the input is rare).
        config: Box<Config>,
        /// What the replica starts from; persist it before creating the group.
        state: DurableState,
    },
    /// Stop hosting `group` for good: the replica is dropped and a tombstone recorded, made
    /// durable by the next [`HostWrite`]. Messages for the group are dropped from now on and
    /// the id can never be created again. Deleting a group that is not hosted only records
    /// the tombstone; deleting a tombstoned group changes nothing.
    DeleteGroup(GroupId),
    /// An input for one group: a proposal, a read, progress of the application, a snapshot,
    /// a membership change, a transfer, a campaign. `Tick`, `Message`, `Persisted` and
    /// `PeerUnreachable` are the host's to give and are refused here
    /// ([`crate::HostError::ReservedInput`]).
    Group {
        /// The group.
        group: GroupId,
        /// The input.
        input: Input,
    },
    /// Inputs for several groups (or several for one), handled as one host input: every
    /// write they cause goes into one [`HostWrite`] and every message into one batch per
    /// destination. What an embedder gathers between two steps (the proposals of many
    /// clients, say) costs one fsync and one batch per peer instead of one each. Each input
    /// is checked as [`HostInput::Group`] checks it; if any is refused, none is taken.
    Groups(Vec<(GroupId, Input)>),
}

/// Something the embedder must do. Carry out the actions of one step in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "every action carries a duty for the embedder"]
pub enum HostAction {
    /// One group's action other than a write or a message, with the duty the engine's
    /// [`Action`] documents (apply, answer a proposal or read, snapshot I/O, ...). A group's
    /// actions come in the order the group produced them.
    Group {
        /// The group.
        group: GroupId,
        /// The action.
        action: Action,
    },
    /// Make this write durable (one fsync for every group in it), after every earlier
    /// `HostWrite`, then acknowledge it with [`HostInput::Persisted`] in a later step. At most
    /// one per step, after the step's [`HostAction::Group`] actions (snapshot chunks a write
    /// installs are written before it).
    Persist(HostWrite),
    /// Hand this batch to the network, to `batch.to`. Best effort: it may be dropped,
    /// delayed or duplicated; everything in it that depends on durable state is durable
    /// already. At most one per destination per step, after the step's write.
    Send(Batch),
    /// A peer sent a message for a group this host neither hosts nor has deleted. The
    /// message was dropped; if this node should hold a replica (e.g. one being added), create
    /// it with [`HostInput::CreateGroup`] and the sender will retry. Reported once per
    /// (group, sender) until the group is created or deleted.
    UnknownGroup {
        /// The group.
        group: GroupId,
        /// The node that sent the message.
        from: NodeId,
    },
}

/// The identity of a [`HostWrite`]: the host's incarnation and a sequence number that grows
/// by one per host write within the incarnation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostToken {
    /// The incarnation the host was started with ([`crate::HostStart::incarnation`]).
    pub incarnation: u64,
    /// The write's position in this incarnation's sequence of host writes, from 1.
    pub seq: u64,
}

/// One durable write for every group that wrote while the host handled one input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostWrite {
    /// Identifies the write in its acknowledgement.
    pub token: HostToken,
    /// Each group's writes, in the order issued: carry them out in this order (a group's
    /// writes must become durable in the order issued, as [`sansraft::Action::Persist`]
    /// says). A group may appear more than once.
    pub writes: Vec<(GroupId, Write)>,
    /// Groups deleted since the previous host write: after the writes, record a tombstone for
    /// each (hand them back in [`crate::HostStart::tombstones`]) and delete their data.
    pub tombstones: Vec<GroupId>,
}
