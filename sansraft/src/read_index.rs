//! Bookkeeping for linearizable reads (thesis §6.4): reads waiting at the leader for a read
//! index and a confirmation round, reads waiting for the application to catch up, and reads a
//! follower forwarded to its leader.
//!
//! Every heartbeat broadcast starts a new *round*; a follower echoes the round in its answer.
//! A read recorded before round `r` began is confirmed once a quorum has acknowledged a round
//! `≥ r`: at that moment a quorum still followed this leader after the read arrived, so no
//! other leader had committed anything the read could miss.

use crate::types::{Index, NodeId, Term};
use smallvec::SmallVec;
use std::collections::VecDeque;

/// Who asked for a read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The embedder of this node, with its request id.
    Local(u64),
    /// A follower that forwarded its embedder's request id.
    Remote { from: NodeId, id: u64 },
}

/// A read at the leader, not yet confirmed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PendingRead {
    pub(crate) origin: Origin,
    /// The commit index when the read was recorded; `None` until the leader has committed an
    /// entry of its term (thesis §6.4 step 1: such reads wait).
    pub(crate) index: Option<Index>,
    /// The confirmation round it waits for; `None` until one starts after its read point.
    pub(crate) round: Option<u64>,
}

/// A read forwarded to the leader, waiting for its answer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Forwarded {
    pub(crate) id: u64,
    pub(crate) leader: NodeId,
    pub(crate) term: Term,
    pub(crate) since_tick: u64,
}

/// The leader's side, for its term: confirmation rounds and the reads waiting for them.
#[derive(Clone, Debug, Default)]
pub(crate) struct LeaderReads {
    /// The latest round started in this term.
    pub(crate) round: u64,
    /// Recent rounds and the tick each was sent at, oldest first (for leases).
    pub(crate) round_sent: VecDeque<(u64, u64)>,
    /// The highest round each peer acknowledged in this term.
    pub(crate) acks: SmallVec<[(NodeId, u64); 8]>,
    /// Reads awaiting a read index or confirmation, in arrival order.
    pub(crate) pending: VecDeque<PendingRead>,
    /// A leadership transfer started in this term: no lease reads until the next term.
    pub(crate) lease_revoked: bool,
    /// The latest round sent before the leader last went quiet: no lease rests on it or on an
    /// earlier round (the leader's clock stood still while quiet).
    pub(crate) lease_floor: u64,
    /// The leader's own freshness proof in the making: a round, the tick it began at and the
    /// commit index then (of the leader's term); proved once a quorum acknowledges the round.
    pub(crate) own_freshness: Option<(u64, u64, Index)>,
}

/// The reads that outlive a role.
#[derive(Clone, Debug, Default)]
pub(crate) struct Reads {
    /// Reads forwarded to the leader, in order; they fail once the leader or term changes.
    pub(crate) forwarded: VecDeque<Forwarded>,
    /// Confirmed reads of this node's embedder, waiting for `applied ≥ index`; indices never
    /// decrease along the queue.
    pub(crate) ready: VecDeque<(u64, Index)>,
    /// Reads left unconfirmed by a leadership that ended in this step; they fail when the
    /// step's actions are emitted.
    pub(crate) unconfirmed: VecDeque<PendingRead>,
}

impl Reads {
    /// Gives back spare capacity (an idle group's memory).
    pub(crate) fn shrink(&mut self) {
        self.forwarded.shrink_to_fit();
        self.ready.shrink_to_fit();
        self.unconfirmed.shrink_to_fit();
    }

    pub(crate) fn len(&self) -> usize {
        self.forwarded.len() + self.ready.len() + self.unconfirmed.len()
    }

    /// True if a confirmed read waits for entries to be applied.
    pub(crate) fn waiting_for_apply(&self) -> bool {
        !self.ready.is_empty()
    }
}

impl LeaderReads {
    /// Gives back spare capacity (an idle group's memory).
    pub(crate) fn shrink(&mut self) {
        self.round_sent.shrink_to_fit();
        self.acks.shrink_to_fit();
        self.pending.shrink_to_fit();
    }

    /// A new round begins at `tick`; returns its number. Rounds older than `keep_ticks` are
    /// forgotten (a lease cannot rest on them any more).
    pub(crate) fn begin_round(&mut self, tick: u64, keep_ticks: u64) -> u64 {
        self.round += 1;
        self.round_sent.push_back((self.round, tick));
        while self
            .round_sent
            .front()
            .is_some_and(|&(_, t)| tick.saturating_sub(t) > keep_ticks)
        {
            self.round_sent.pop_front();
        }
        // Bounded: a burst of read rounds within one tick keeps only the latest.
        while self.round_sent.len() > 1024 {
            self.round_sent.pop_front();
        }
        self.round
    }

    /// `from` acknowledged `round`.
    pub(crate) fn on_ack(&mut self, from: NodeId, round: u64) {
        match self.acks.iter_mut().find(|(id, _)| *id == from) {
            Some((_, r)) => *r = (*r).max(round),
            None => self.acks.push((from, round)),
        }
    }

    pub(crate) fn acked(&self, id: NodeId) -> u64 {
        self.acks
            .iter()
            .find(|(p, _)| *p == id)
            .map_or(0, |(_, r)| *r)
    }

    /// The tick round `round` was sent at, if it is recent.
    pub(crate) fn sent_at(&self, round: u64) -> Option<u64> {
        self.round_sent
            .iter()
            .find(|(r, _)| *r == round)
            .map(|(_, t)| *t)
    }
}
