//! The multi-group world's events and their queue: ordered by simulated time, then by the
//! order in which they were scheduled, so equal times never depend on heap layout.

use crate::client::Reply;
use crate::Micros;
use bytes::Bytes;
use sansraft_multi::{GroupId, HostToken};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

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
}

impl Ev {
    /// The node whose process handles this event, if any.
    pub(crate) fn target_node(&self) -> Option<usize> {
        match self {
            Ev::Tick { node, .. }
            | Ev::Ack { node, .. }
            | Ev::ClientRequest { node, .. }
            | Ev::ProbeRead { node, .. } => Some(*node),
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
        }
    }
}

struct Item {
    at: Micros,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Item {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Item {}

impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Item {
    /// Reversed: the heap pops the earliest, then the first scheduled.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The event queue.
#[derive(Default)]
pub(crate) struct Queue {
    heap: BinaryHeap<Item>,
    seq: u64,
}

impl Queue {
    pub(crate) fn push(&mut self, at: Micros, ev: Ev) {
        self.seq += 1;
        self.heap.push(Item {
            at,
            seq: self.seq,
            ev,
        });
    }

    pub(crate) fn pop(&mut self) -> Option<(Micros, Ev)> {
        self.heap.pop().map(|item| (item.at, item.ev))
    }
}
