//! The multi-group world's events, queued in the single-group world's `EventQueue`: ordered by
//! simulated time, then by the order in which they were scheduled.

use crate::client::Reply;
use bytes::Bytes;
use sansraft_multi::{GroupId, HostToken};

/// Something that happens at an instant. Node indices are ids − 1.
#[derive(Clone, Debug)]
pub(crate) enum Ev {
    /// A node's clock ticks (stale unless `gen` is the node's clock generation).
    Tick { node: usize, gen: u64 },
    /// An encoded batch arrives at `to`.
    Deliver {
        from: usize,
        to: usize,
        bytes: Bytes,
    },
    /// A node's disk completion timer.
    DiskDone { node: usize, gen: u64 },
    /// A host write's acknowledgement reaches the node (whatever incarnation runs).
    Ack { node: usize, token: HostToken },
    /// Fault number `index` of the schedule fires.
    Fault { index: usize },
    /// An armed crash goes off.
    Crash { node: usize, tear: bool },
    /// A node crashed by `CrashLeader` restarts.
    Restart { node: usize },
    /// The fault phase is over: everything heals.
    FaultPhaseEnd,
    /// Every group must have a leader by now.
    LeaderDeadline,
    /// A client starts its next operation.
    ClientIssue { client: usize },
    /// A client request reaches a node.
    ClientRequest {
        node: usize,
        client: usize,
        group: GroupId,
        seq: u64,
        command: Bytes,
    },
    /// An answer reaches a client.
    ClientReply {
        client: usize,
        seq: u64,
        reply: Reply,
    },
    /// A client (re)sends a request now.
    ClientSend {
        client: usize,
        node: usize,
        group: GroupId,
        seq: u64,
        attempt: u32,
        command: Bytes,
    },
    /// A request attempt timed out.
    ClientTimeout {
        client: usize,
        seq: u64,
        attempt: u32,
    },
    /// The failover bound of watch `id` (see `failover`) is reached.
    FailoverDeadline { id: u64 },
    /// The simulator asks a deposed leader of `group` for a read of its own.
    ProbeRead { node: usize, group: GroupId },
    /// The operator retries membership fault `index` in `group`.
    Change { index: usize, group: GroupId },
    /// A node deletes its replica of `group`, left out of the group for good.
    Retire { node: usize, group: GroupId },
    /// The simulator asks a random node for a bounded-staleness read of a random group.
    StaleRead,
}

impl Ev {
    /// The node whose process handles this event, if any.
    pub(crate) fn target_node(&self) -> Option<usize> {
        match self {
            Ev::Tick { node, .. }
            | Ev::Ack { node, .. }
            | Ev::ClientRequest { node, .. }
            | Ev::ProbeRead { node, .. }
            | Ev::Retire { node, .. } => Some(*node),
            Ev::Deliver { to, .. } => Some(*to),
            _ => None,
        }
    }

    /// A small tag for the trace hash.
    pub(crate) fn tag(&self) -> u8 {
        match self {
            Ev::Tick { .. } => 1,
            Ev::Deliver { .. } => 2,
            Ev::DiskDone { .. } => 3,
            Ev::Ack { .. } => 4,
            Ev::Fault { .. } => 5,
            Ev::Crash { .. } => 6,
            Ev::Restart { .. } => 7,
            Ev::FaultPhaseEnd => 8,
            Ev::LeaderDeadline => 9,
            Ev::ClientIssue { .. } => 10,
            Ev::ClientRequest { .. } => 11,
            Ev::ClientReply { .. } => 12,
            Ev::ClientSend { .. } => 13,
            Ev::ClientTimeout { .. } => 14,
            Ev::ProbeRead { .. } => 15,
            Ev::FailoverDeadline { .. } => 16,
            Ev::Change { .. } => 17,
            Ev::Retire { .. } => 18,
            Ev::StaleRead => 19,
        }
    }
}

/// The multi-group world's event queue: the single-group world's, over its own events.
pub(crate) type Queue = crate::event::EventQueue<Ev>;
