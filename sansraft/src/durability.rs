//! The durability contract, enforced by construction (Raft Figure 2: "persistent state … updated
//! on stable storage before responding to RPCs").
//!
//! Every write gets a [`WriteToken`]; storage completes writes in order, so an acknowledgement
//! vouches for every earlier write. This module tracks the hard state each write makes durable;
//! the log's durable prefix is the log aggregate's ([`crate::raft_log::RaftLog::persisted`]).
//! Messages whose meaning depends on local state (votes, append acknowledgements, anything a
//! follower or candidate says; the kinds are listed in `node/outbox.rs`) are *held here* until
//! every write issued before them is acknowledged, so the embedder cannot send them early. The
//! leader's own appends need no such barrier (thesis §10.2.1); the leader counts itself in a
//! quorum only through the log's durable index.

use crate::io::WriteToken;
use crate::message::Message;
use crate::types::HardState;
use std::collections::VecDeque;

#[derive(Clone, Copy, Debug)]
struct PendingWrite {
    seq: u64,
    hard_state: HardState,
}

/// What an acknowledgement turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AckOutcome {
    Accepted,
    /// From another incarnation or already acknowledged.
    Stale,
    /// For a write never issued.
    Bogus,
}

#[derive(Clone, Debug)]
pub(crate) struct Durability {
    incarnation: u64,
    /// The sequence number of the next write.
    next_seq: u64,
    /// Every write with a sequence number ≤ this is durable.
    durable_seq: u64,
    pending: VecDeque<PendingWrite>,
    /// The hard state as last made durable.
    durable_hard_state: HardState,
    /// The hard state as last issued in a write (durable or not).
    issued_hard_state: HardState,
    /// Messages waiting for the write they depend on, with that write's sequence number.
    held: VecDeque<(u64, Message)>,
}

impl Durability {
    /// Gives back spare capacity (an idle group's memory).
    pub(crate) fn shrink(&mut self) {
        self.pending.shrink_to_fit();
        self.held.shrink_to_fit();
    }

    pub(crate) fn new(incarnation: u64, hard_state: HardState) -> Self {
        Durability {
            incarnation,
            next_seq: 1,
            durable_seq: 0,
            pending: VecDeque::new(),
            durable_hard_state: hard_state,
            issued_hard_state: hard_state,
            held: VecDeque::new(),
        }
    }

    pub(crate) fn durable_hard_state(&self) -> HardState {
        self.durable_hard_state
    }

    pub(crate) fn issued_hard_state(&self) -> HardState {
        self.issued_hard_state
    }

    /// Records a write about to be handed to the embedder and returns its token. Every write
    /// changes term, vote, log or snapshot (a commit-only change issues none), so later
    /// messages wait for it.
    pub(crate) fn issue(&mut self, hard_state: HardState) -> WriteToken {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.push_back(PendingWrite { seq, hard_state });
        self.issued_hard_state = hard_state;
        WriteToken {
            incarnation: self.incarnation,
            seq,
        }
    }

    /// The incarnation this node's writes are issued under.
    pub(crate) fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// An acknowledgement from the embedder.
    pub(crate) fn on_ack(&mut self, token: WriteToken) -> AckOutcome {
        if token.incarnation != self.incarnation || token.seq <= self.durable_seq {
            return AckOutcome::Stale;
        }
        if token.seq >= self.next_seq {
            return AckOutcome::Bogus;
        }
        // Writes complete in order: this acknowledges every pending write up to `token.seq`.
        while let Some(w) = self.pending.front().copied() {
            if w.seq > token.seq {
                break;
            }
            self.pending.pop_front();
            self.durable_hard_state = w.hard_state;
        }
        self.durable_seq = token.seq;
        AckOutcome::Accepted
    }

    /// Queues a message that depends on every write issued so far; `sendable` gets it at once if
    /// nothing is pending.
    pub(crate) fn send_after_barrier(&mut self, msg: Message, sendable: &mut impl FnMut(Message)) {
        // Every write changes term, vote, log or snapshot: the message waits for the latest.
        let barrier_seq = self.next_seq - 1;
        if barrier_seq <= self.durable_seq && self.held.is_empty() {
            sendable(msg);
        } else {
            self.held.push_back((barrier_seq, msg));
        }
    }

    /// Releases held messages whose writes are now durable, in the order they were created.
    pub(crate) fn release(&mut self, sendable: &mut impl FnMut(Message)) {
        while let Some((seq, _)) = self.held.front() {
            if *seq > self.durable_seq {
                break;
            }
            let (_, msg) = self.held.pop_front().expect("front exists");
            sendable(msg);
        }
    }

    pub(crate) fn held_len(&self) -> usize {
        self.held.len()
    }

    /// Internal consistency, for [`crate::Node::check_invariants`].
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if self.durable_seq >= self.next_seq {
            return Err("acknowledged a write never issued");
        }
        if self.durable_hard_state.term > self.issued_hard_state.term {
            return Err("durable term ahead of issued term");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Body, HeartbeatResponse};

    fn msg(to: u64) -> Message {
        Message {
            from: 1,
            to,
            term: 1,
            body: Body::HeartbeatResponse(HeartbeatResponse {
                round: 0,
                stamp: None,
                quiet: false,
            }),
        }
    }

    #[test]
    fn messages_wait_for_their_write_and_acks_are_checked() {
        let mut d = Durability::new(7, HardState::default());
        let hs = HardState {
            term: 2,
            vote: Some(3),
            commit: 0,
        };
        let t1 = d.issue(hs);
        let mut sent = Vec::new();
        d.send_after_barrier(msg(3), &mut |m| sent.push(m));
        assert!(
            sent.is_empty(),
            "a vote must not leave before it is durable"
        );
        assert_eq!(
            d.on_ack(WriteToken {
                incarnation: 6,
                seq: 1
            }),
            AckOutcome::Stale
        );
        assert_eq!(
            d.on_ack(WriteToken {
                incarnation: 7,
                seq: 2
            }),
            AckOutcome::Bogus
        );
        d.release(&mut |m| sent.push(m));
        assert!(sent.is_empty());
        assert_eq!(d.on_ack(t1), AckOutcome::Accepted);
        assert_eq!(d.durable_hard_state(), hs);
        d.release(&mut |m| sent.push(m));
        assert_eq!(sent.len(), 1);
        assert_eq!(d.on_ack(t1), AckOutcome::Stale, "a repeated ack");
    }
}
