//! Outgoing messages, and the one rule that decides which of them wait for durable state.
//!
//! Raft Figure 2: persistent state is "updated on stable storage before responding to RPCs".
//! Which messages that covers is a property of the message's kind, decided by
//! [`Outbox::waits_for_durable_state`] when the message is queued; every message is queued by
//! [`Outbox::send`] and released by [`Outbox::release`].

use super::Node;
use crate::config::Config;
use crate::durability::Durability;
use crate::io::Action;
use crate::message::{Body, Message};
use crate::types::{NodeId, Term};

/// A message created while handling an input, and whether it must wait for durable state.
#[derive(Debug)]
struct Outgoing {
    needs_durable_state: bool,
    message: Message,
}

/// The messages created in this step, in order.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    queued: Vec<Outgoing>,
}

impl Outbox {
    /// Gives back spare capacity (an idle group's memory).
    pub(super) fn shrink(&mut self) {
        self.queued.shrink_to_fit();
    }

    /// Queues a message from `config.id` in `term`; `leading` says whether this node leads
    /// that term.
    pub(super) fn send(
        &mut self,
        config: &Config,
        term: Term,
        leading: bool,
        to: NodeId,
        body: Body,
    ) {
        let needs_durable_state = waits_for_durable_state(config, &body, leading);
        let message = Message {
            from: config.id,
            to,
            term,
            body,
        };
        self.queued.push(Outgoing {
            needs_durable_state,
            message,
        });
    }

    /// Hands the network every message that may leave now: those `durability` releases
    /// first, then this step's in the order they were queued.
    pub(super) fn release(&mut self, durability: &mut Durability, out: &mut impl FnMut(Action)) {
        if self.queued.is_empty() && durability.held_len() == 0 {
            return;
        }
        let mut send = |m: Message| out(Action::Send(m));
        durability.release(&mut send);
        for Outgoing {
            needs_durable_state,
            message,
        } in self.queued.drain(..)
        {
            if needs_durable_state {
                durability.send_after_barrier(message, &mut send);
            } else {
                send(message);
            }
        }
    }
}

/// Whether a message of this kind, said by this node now, leaves only once every write issued
/// before it is acknowledged durable.
fn waits_for_durable_state(config: &Config, body: &Body, leading: bool) -> bool {
    match body {
        // Thesis §10.2.1: the leader sends entries before writing them; it counts itself
        // in a quorum only once they are durable. Its term and vote are durable: a
        // candidate leads only once they are (Figure 2).
        Body::Append(_) | Body::Heartbeat(_) | Body::SnapshotChunk(_) | Body::TimeoutNow => false,
        // A read index vouches for the sender's term: durable at a leader (as above), not
        // yet perhaps at anyone else.
        Body::ReadIndexResponse(_) => !leading,
        // Figure 2: a vote is persisted before it is answered.
        Body::VoteResponse(_) => !canary!(config, VoteBeforeDurable),
        // Figure 2: entries are persisted before they are acknowledged.
        Body::AppendResponse(_) => !canary!(config, AckBeforeDurable),
        // Figure 2: everything else a candidate or follower says depends on its term, vote
        // or log (a candidate's own vote, a follower's acknowledgement of a heartbeat round
        // or an installed snapshot, the term a forwarded read is asked in).
        Body::Vote(_)
        | Body::HeartbeatResponse(_)
        | Body::SnapshotResponse(_)
        | Body::ReadIndex(_) => true,
    }
}

impl Node {
    /// Queues a message in the current term.
    pub(super) fn send(&mut self, to: NodeId, body: Body) {
        self.send_in_term(to, self.term, body);
    }

    /// Queues a message in `term`: a poll's term ahead of the current one (thesis §9.6), or a
    /// granted poll's answer in the poll's term.
    pub(super) fn send_in_term(&mut self, to: NodeId, term: Term, body: Body) {
        self.outbox
            .send(&self.config, term, self.role.is_leader(), to, body);
    }
}
