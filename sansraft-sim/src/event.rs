//! Discrete events and the queue that orders them: by simulated time, then by the order in
//! which they were scheduled (a sequence number), so equal times never depend on heap layout.

use crate::client::{Attempt, Reply};
use crate::Micros;
use bytes::Bytes;
use sansraft::{Message, WriteToken};
use std::collections::{BinaryHeap, VecDeque};

/// Something that happens at an instant. Node indices are ids − 1.
#[derive(Clone, Debug)]
pub(crate) enum Event {
    /// A node's clock ticks. Stale if `gen` is not the node's current clock generation.
    Tick { node: usize, gen: u64 },
    /// A message arrives at `msg.to`.
    Deliver { msg: Message, sent_at: Micros },
    /// A node's disk completion timer.
    StorageDone { node: usize, gen: u64 },
    /// A storage acknowledgement reaches the node (whatever incarnation is running).
    PersistAck { node: usize, token: WriteToken },
    /// Fault number `index` of the schedule fires.
    Fault { index: usize },
    /// A crash armed by a `Crash { on_write: true }` fault goes off.
    Crash { node: usize, tear: bool },
    /// The node a `CrashLeader` fault crashed restarts (and a crash still armed is disarmed).
    Restart { node: usize },
    /// The fault phase is over: heal everything.
    FaultPhaseEnd,
    /// A leader must have been elected by now.
    LeaderDeadline,
    /// A client's think time is over: it starts its next operation.
    ClientIssue { client: usize },
    /// A client request reaches a node.
    ClientRequest {
        node: usize,
        client: usize,
        seq: u64,
        command: Bytes,
    },
    /// A node's answer reaches a client.
    ClientReply {
        client: usize,
        seq: u64,
        reply: Reply,
    },
    /// A client (re)sends its request now.
    ClientSend(Attempt),
    /// A client's request attempt timed out.
    ClientTimeout {
        client: usize,
        seq: u64,
        attempt: u32,
    },
    /// The simulator asks a node that led an older term for a read of its own, the instant a
    /// newer term's leader is first seen (see `World::on_probe_read`).
    ProbeRead { node: usize },
    /// The simulator asks a random node for a bounded-staleness read (`Input::ReadStale`) with
    /// a random bound, and schedules the next (see `World::on_stale_read`).
    StaleRead,
    /// A failure detector's ping from node `from` reaches node `to` (indices; with
    /// quiescence only).
    Ping { from: usize, to: usize },
}

impl Event {
    /// The node whose process handles this event (and so must be up and not paused), if any.
    pub(crate) fn target_node(&self) -> Option<usize> {
        match self {
            Event::Tick { node, .. }
            | Event::PersistAck { node, .. }
            | Event::ClientRequest { node, .. }
            | Event::ProbeRead { node } => Some(*node),
            Event::Ping { to, .. } => Some(*to),
            Event::Deliver { msg, .. } => Some(msg.to as usize - 1),
            _ => None,
        }
    }

    /// A stable name, for traces.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Event::Tick { .. } => "tick",
            Event::Deliver { .. } => "deliver",
            Event::StorageDone { .. } => "storage_done",
            Event::PersistAck { .. } => "persist_ack",
            Event::Fault { .. } => "fault",
            Event::Crash { .. } => "crash",
            Event::Restart { .. } => "restart",
            Event::FaultPhaseEnd => "fault_phase_end",
            Event::LeaderDeadline => "leader_deadline",
            Event::ClientIssue { .. } => "client_issue",
            Event::ClientRequest { .. } => "client_request",
            Event::ClientReply { .. } => "client_reply",
            Event::ClientSend(_) => "client_send",
            Event::ClientTimeout { .. } => "client_timeout",
            Event::ProbeRead { .. } => "probe_read",
            Event::StaleRead => "stale_read",
            Event::Ping { .. } => "ping",
        }
    }

    /// A small number per kind, for the trace hash.
    pub(crate) fn tag(&self) -> u8 {
        match self {
            Event::Tick { .. } => 1,
            Event::Deliver { .. } => 2,
            Event::StorageDone { .. } => 3,
            Event::PersistAck { .. } => 4,
            Event::Fault { .. } => 5,
            Event::FaultPhaseEnd => 6,
            Event::LeaderDeadline => 7,
            Event::ClientIssue { .. } => 8,
            Event::ClientRequest { .. } => 9,
            Event::ClientReply { .. } => 10,
            Event::ClientSend(_) => 11,
            Event::ClientTimeout { .. } => 12,
            Event::Crash { .. } => 13,
            Event::Restart { .. } => 14,
            Event::ProbeRead { .. } => 15,
            Event::StaleRead => 16,
            Event::Ping { .. } => 17,
        }
    }
}

/// Bits of a heap key below the sequence number: the slot the event waits in.
const SLOT_BITS: u32 = 24;

/// Series of events whose times rarely go down, kept in order outside the heap (see
/// [`EventQueue::push_in_order`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lane {
    /// Events scheduled before the run starts (the fault schedule, the phase ends).
    Scheduled = 0,
    /// Client request timeouts: always the same time after their push.
    Timeouts = 1,
}

/// A min-queue of events by (time, sequence number), of the single-group world's events or,
/// for the multi-group world, of its own.
///
/// Every event has a `u128` key: the time in the high 64 bits, then the sequence number
/// (40 bits), then the slot the event waits in (24 bits). Sequence numbers are unique, so the
/// slot never decides the order, and comparing two keys is one integer comparison. Most keys
/// wait in a heap, stored complemented so the max-heap's maximum is the earliest event; the
/// keys of a [`Lane`] wait in arrival order, which is their order, and keep the far-off client
/// timeouts and faults out of the heap. `pop` takes the earliest of the heap's top and the
/// lanes' fronts: the order is the same as with one heap.
#[derive(Debug)]
pub(crate) struct EventQueue<E = Event> {
    heap: BinaryHeap<u128>,
    /// Keys in increasing order, per [`Lane`].
    lanes: [VecDeque<u128>; 2],
    /// The smallest of the lanes' fronts (`u128::MAX` if all are empty).
    lanes_min: u128,
    /// Events by slot; `None` for a free slot.
    slots: Vec<Option<E>>,
    /// Free slots, reused last-in first-out.
    free: Vec<u32>,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            lanes: Default::default(),
            lanes_min: u128::MAX,
            slots: Vec::new(),
            free: Vec::new(),
            next_seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    pub(crate) fn push(&mut self, at: Micros, event: E) {
        let key = self.key(at, event);
        self.heap.push(!key);
    }

    /// Pushes an event of a series whose times usually do not decrease: it waits in `lane`
    /// while it is no earlier than the lane's last event (its sequence number is larger), in
    /// the heap otherwise. Either way it pops in the same turn as with [`EventQueue::push`].
    pub(crate) fn push_in_order(&mut self, lane: Lane, at: Micros, event: E) {
        let key = self.key(at, event);
        let keys = &mut self.lanes[lane as usize];
        if keys.back().is_none_or(|&last| last < key) {
            keys.push_back(key);
            self.lanes_min = self.lanes_min.min(key);
        } else {
            self.heap.push(!key);
        }
    }

    /// Stores `event` and returns its key.
    fn key(&mut self, at: Micros, event: E) -> u128 {
        let seq = self.next_seq;
        self.next_seq += 1;
        assert!(
            seq < 1 << (64 - SLOT_BITS),
            "fewer than 2^40 events scheduled"
        );
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(event);
                slot
            }
            None => {
                let slot = self.slots.len() as u32;
                assert!(slot < 1 << SLOT_BITS, "fewer than 2^24 pending events");
                self.slots.push(Some(event));
                slot
            }
        };
        (u128::from(at) << 64) | u128::from(seq << SLOT_BITS) | u128::from(slot)
    }

    pub(crate) fn pop(&mut self) -> Option<(Micros, E)> {
        // The earliest key: the heap's top or a lane's front (keys are unique).
        let top = self.heap.peek().map_or(u128::MAX, |&k| !k);
        let key = if self.lanes_min < top {
            let key = self.lanes_min;
            for keys in &mut self.lanes {
                if keys.front() == Some(&key) {
                    keys.pop_front();
                }
            }
            self.lanes_min = self
                .lanes
                .iter()
                .filter_map(|keys| keys.front().copied())
                .min()
                .unwrap_or(u128::MAX);
            key
        } else {
            !self.heap.pop()?
        };
        let at = (key >> 64) as Micros;
        let slot = (key as u32) & ((1 << SLOT_BITS) - 1);
        let event = self.slots[slot as usize]
            .take()
            .expect("a queued key points at a filled slot");
        self.free.push(slot);
        Some((at, event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_then_fifo() {
        let mut q = EventQueue::default();
        q.push(5, Event::ClientIssue { client: 0 });
        q.push(3, Event::ClientIssue { client: 1 });
        q.push(5, Event::ClientIssue { client: 2 });
        let order: Vec<(Micros, usize)> = std::iter::from_fn(|| q.pop())
            .map(|(t, e)| match e {
                Event::ClientIssue { client } => (t, client),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(order, vec![(3, 1), (5, 0), (5, 2)]);
    }

    /// Events in lanes pop in the same order as in the heap alone, also when a lane's times
    /// go down (the event then waits in the heap).
    #[test]
    fn lanes_keep_the_order_of_one_heap() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut draw = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let (mut one, mut laned) = (EventQueue::default(), EventQueue::default());
        let (mut popped_one, mut popped_laned) = (Vec::new(), Vec::new());
        let mut now = 0;
        for client in 0..5000 {
            let at = now + draw(50);
            let event = Event::ClientIssue { client };
            one.push(at, event.clone());
            match draw(3) {
                0 => laned.push(at, event),
                1 => laned.push_in_order(Lane::Scheduled, at, event),
                _ => laned.push_in_order(Lane::Timeouts, at, event),
            }
            if draw(2) == 0 {
                let (a, b) = (one.pop(), laned.pop());
                now = a.as_ref().map_or(now, |(t, _)| *t);
                popped_one.push(a.map(|(t, e)| (t, format!("{e:?}"))));
                popped_laned.push(b.map(|(t, e)| (t, format!("{e:?}"))));
            }
        }
        while let Some((t, e)) = one.pop() {
            popped_one.push(Some((t, format!("{e:?}"))));
        }
        while let Some((t, e)) = laned.pop() {
            popped_laned.push(Some((t, format!("{e:?}"))));
        }
        assert_eq!(popped_one, popped_laned);
    }
}
