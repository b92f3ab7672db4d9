//! The leader's view of one follower's log (etcd's tracker, thesis §3.5 and §10.2.1).
//!
//! A follower is probed one append at a time until its match index is known, then replicated to
//! optimistically with a bounded window of appends in flight.

use crate::freshness::PeerFreshness;
use crate::inflights::Inflights;
use crate::snapshot_transfer::Outbound;
use crate::types::{Index, NodeId, Term};

/// How the leader is sending to a follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProgressState {
    /// The match index is unknown: one append at a time, waiting for its answer.
    Probe,
    /// The follower is known to match up to `match_index`: appends are pipelined.
    Replicate,
    /// The follower needs entries the leader compacted away: it is sent a snapshot, in chunks,
    /// and no appends until it has installed it.
    Snapshot,
}

/// A read-only copy of the leader's view of one follower, for metrics and operators (see
/// [`Node::peer_progress`](crate::Node::peer_progress)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerProgress {
    /// The follower durably holds the leader's log up to here.
    pub match_index: Index,
    /// The next entry the leader will send it.
    pub next_index: Index,
    /// How the leader is sending to it.
    pub state: ProgressState,
    /// The leader's ticks since the follower last answered in the current term (since the
    /// leader was elected, if it has not answered yet).
    pub ticks_since_contact: u64,
    /// Appends sent and not yet acknowledged (replicate state; a probe in probe state shows as
    /// `probe_sent`).
    pub inflight_msgs: usize,
    /// Entry bytes of those appends.
    pub inflight_bytes: u64,
    /// In probe state: a probe was sent and its answer is awaited.
    pub probe_sent: bool,
    /// In snapshot state: the transfer under way.
    pub snapshot: Option<SnapshotProgress>,
    /// The snapshot `(index, term)` the follower refused, if the leader is holding it back.
    pub snapshot_refused: Option<(Index, Term)>,
}

/// A snapshot transfer to one follower, as the leader sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotProgress {
    /// The snapshot's last index.
    pub index: Index,
    /// The snapshot's last term.
    pub term: Term,
    /// Bytes the follower acknowledged holding.
    pub acked_bytes: u64,
    /// The leader's ticks since the transfer last made progress.
    pub ticks_since_progress: u64,
}

/// Replication progress of one peer, kept by the leader.
#[derive(Clone, Debug)]
pub(crate) struct Progress {
    pub(crate) id: NodeId,
    /// Invariant: the follower durably holds the leader's log up to here.
    pub(crate) match_index: Index,
    /// Invariant: `match_index < next_index`. The next entry to send.
    pub(crate) next_index: Index,
    pub(crate) state: ProgressState,
    /// In probe state: an append was sent and its answer is awaited.
    pub(crate) probe_sent: bool,
    pub(crate) inflight: Inflights,
    /// The leader's tick when this peer last answered in the current term.
    pub(crate) last_contact_tick: u64,
    /// The commit index last sent to the peer, so commit advances are propagated promptly.
    pub(crate) commit_sent: Index,
    /// `match_index` when the previous heartbeat was sent; unchanged for a whole heartbeat
    /// interval with appends in flight means they were lost.
    pub(crate) match_at_heartbeat: Index,
    /// In snapshot state: the transfer under way.
    pub(crate) transfer: Option<Box<Outbound>>,
    /// The snapshot `(index, term)` the follower refused, and the leader's tick then.
    pub(crate) refused: Option<(Index, Term, u64)>,
    /// The peer's stamps and the freshness proofs for them (bounded-staleness reads).
    pub(crate) freshness: PeerFreshness,
    /// The embedder's failure detector said the peer is unreachable
    /// ([`crate::Input::PeerUnreachable`]) and it has not answered since: the group may go
    /// quiet without it.
    pub(crate) unreachable: bool,
    /// The peer answered a quiescing heartbeat saying it went quiet (cleared when the leader
    /// wakes).
    pub(crate) quiet: bool,
}

impl Progress {
    /// The public view of this peer's progress at the leader's tick `now`.
    pub(crate) fn view(&self, now: u64) -> PeerProgress {
        PeerProgress {
            match_index: self.match_index,
            next_index: self.next_index,
            state: self.state,
            ticks_since_contact: now.saturating_sub(self.last_contact_tick),
            inflight_msgs: self.inflight.len(),
            inflight_bytes: self.inflight.bytes(),
            probe_sent: self.probe_sent,
            snapshot: self.transfer.as_ref().map(|t| SnapshotProgress {
                index: t.index,
                term: t.term,
                acked_bytes: t.acked(),
                ticks_since_progress: now.saturating_sub(t.last_progress_tick()),
            }),
            snapshot_refused: self.refused.map(|(index, term, _)| (index, term)),
        }
    }

    pub(crate) fn new(id: NodeId, next_index: Index, now: u64, window: (usize, u64)) -> Self {
        Progress {
            id,
            match_index: 0,
            next_index,
            state: ProgressState::Probe,
            probe_sent: false,
            inflight: Inflights::new(window.0, window.1),
            last_contact_tick: now,
            commit_sent: 0,
            match_at_heartbeat: 0,
            transfer: None,
            refused: None,
            freshness: PeerFreshness::default(),
            unreachable: false,
            quiet: false,
        }
    }

    /// Starts sending the snapshot `transfer` describes; appends stop until it is installed.
    pub(crate) fn become_snapshot(&mut self, transfer: Outbound) {
        self.state = ProgressState::Snapshot;
        self.probe_sent = false;
        self.inflight.clear();
        self.transfer = Some(Box::new(transfer));
    }

    /// The peer answered at the leader's tick `now`: it is in contact, and reachable whatever
    /// the failure detector said.
    pub(crate) fn heard(&mut self, now: u64) {
        self.last_contact_tick = now;
        self.unreachable = false;
    }

    pub(crate) fn become_probe(&mut self) {
        self.transfer = None;
        self.state = ProgressState::Probe;
        self.probe_sent = false;
        self.next_index = self.match_index + 1;
        self.inflight.clear();
    }

    pub(crate) fn become_replicate(&mut self) {
        self.transfer = None;
        self.state = ProgressState::Replicate;
        self.probe_sent = false;
        self.next_index = self.match_index + 1;
        self.inflight.clear();
    }

    /// True if an append may be sent now.
    pub(crate) fn can_send(&self) -> bool {
        match self.state {
            ProgressState::Probe => !self.probe_sent,
            ProgressState::Replicate => !self.inflight.is_full(),
            ProgressState::Snapshot => false,
        }
    }

    /// Records an append sent with entries up to `last_index` (`None`: no entries).
    pub(crate) fn sent_append(&mut self, last_index: Option<Index>, bytes: u64) {
        match self.state {
            ProgressState::Probe | ProgressState::Snapshot => self.probe_sent = true,
            ProgressState::Replicate => {
                if let Some(last) = last_index {
                    self.next_index = last + 1;
                    self.inflight.add(last, bytes);
                }
            }
        }
    }

    /// An acknowledgement up to `index`. Returns false if it tells nothing new (stale).
    pub(crate) fn on_accepted(&mut self, index: Index) -> bool {
        if index <= self.match_index {
            // A duplicate or reordered acknowledgement; still proves the peer is reachable.
            self.probe_sent = false;
            if self.state == ProgressState::Probe && index + 1 == self.next_index {
                // The answer to an empty probe at the match index: the match is found (§5.3).
                // Probing again would only bring the same answer back, for ever.
                self.become_replicate();
            }
            return false;
        }
        self.match_index = index;
        match self.state {
            // Raft §5.3: once a match is found, replication proceeds from just after it.
            ProgressState::Probe => self.become_replicate(),
            // A late acknowledgement of an append sent before the snapshot: keep sending it.
            ProgressState::Snapshot => self.next_index = self.next_index.max(index + 1),
            ProgressState::Replicate => {
                self.inflight.free_to(index);
                self.next_index = self.next_index.max(index + 1);
            }
        }
        true
    }

    /// A rejection of the append after `reject_index`. `fallback` is where to probe next, as
    /// computed by the leader from the follower's hint. Returns false if the rejection is stale.
    pub(crate) fn on_rejected(&mut self, reject_index: Index, fallback: Index) -> bool {
        match self.state {
            ProgressState::Replicate => {
                // Every append at or below the match index was accepted: this one is old news.
                if reject_index <= self.match_index {
                    return false;
                }
            }
            ProgressState::Probe => {
                // Only the answer to the latest probe moves next_index.
                if reject_index + 1 != self.next_index {
                    return false;
                }
            }
            // Rule 8: no appends while a snapshot is sent, so a rejection is from before it.
            ProgressState::Snapshot => return false,
        }
        self.become_probe();
        // Never probe at or below the match index, never beyond the rejected index.
        self.next_index =
            fallback.clamp(self.match_index + 1, reject_index.max(self.match_index + 1));
        true
    }
}

/// Where the leader probes next after a rejection: the paper's optimisation (§5.3) of skipping a
/// whole conflicting term at once. `leader_last_of_term` finds the leader's last index with the
/// given term, if the leader has any entry of that term.
pub(crate) fn probe_after_rejection(
    hint_index: Index,
    hint_term: Option<Term>,
    leader_last_of_term: impl FnOnce(Term) -> Option<Index>,
) -> Index {
    match hint_term {
        // The follower's log ends before the probe: continue right after its end.
        None => hint_index,
        // The leader has entries of the follower's conflicting term: resume after its last one
        // (both logs hold that term up to there). Otherwise skip the follower's whole term.
        Some(term) => leader_last_of_term(term).map_or(hint_index, |last| last + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pr() -> Progress {
        Progress::new(2, 11, 0, (4, 1 << 20))
    }

    #[test]
    fn probe_then_replicate() {
        let mut p = pr();
        assert!(p.can_send());
        p.sent_append(Some(12), 10);
        assert!(!p.can_send(), "probe sends one append at a time");
        assert!(p.on_accepted(12));
        assert_eq!(p.state, ProgressState::Replicate);
        assert_eq!(p.next_index, 13);
        for last in 13..17 {
            assert!(p.can_send());
            p.sent_append(Some(last), 1);
        }
        assert!(!p.can_send(), "window of four is full");
        assert!(p.on_accepted(14));
        assert!(p.can_send());
        assert!(!p.on_accepted(13), "old acknowledgement");
    }

    #[test]
    fn an_empty_probe_answered_at_the_match_index_ends_probing() {
        let mut p = pr();
        p.on_accepted(6);
        p.become_probe();
        p.sent_append(None, 0);
        assert!(!p.on_accepted(6), "nothing new: stale");
        assert_eq!(
            p.state,
            ProgressState::Replicate,
            "the match is found; probing on would ping-pong empty appends for ever"
        );
        assert_eq!(p.next_index, 7);
        let mut q = pr();
        q.on_accepted(6);
        q.become_probe();
        q.next_index = 9;
        q.sent_append(None, 0);
        assert!(!q.on_accepted(5), "an old acknowledgement");
        assert_eq!(
            q.state,
            ProgressState::Probe,
            "below the probe: keeps probing"
        );
    }

    #[test]
    fn stale_rejections_are_ignored() {
        let mut p = pr();
        p.sent_append(None, 0);
        assert!(
            !p.on_rejected(5, 3),
            "rejects a probe that was not the latest"
        );
        assert!(p.on_rejected(10, 4));
        assert_eq!(p.next_index, 4);
        p.on_accepted(6);
        p.sent_append(Some(8), 1);
        assert!(!p.on_rejected(6, 1), "at or below match");
        assert!(p.on_rejected(8, 1));
        assert_eq!(p.next_index, 7, "never probes at or below match");
    }
}
