//! Counters of input that was ignored: bad or stale messages and acknowledgements. Nothing
//! counted here changed the node's state, except the one decision counted beside them
//! (`priority_transfers`).

/// How often each kind of ignored input was seen since the node started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Messages addressed to another node.
    pub misaddressed: u64,
    /// Messages from a node outside the configuration.
    pub unknown_peer: u64,
    /// Messages from an older term that needed no answer.
    pub stale_term: u64,
    /// Messages that made no sense in the receiver's role or state (e.g. a vote response to a
    /// follower), usually late duplicates.
    pub unexpected: u64,
    /// Messages with impossible contents: non-consecutive entries, terms out of order, an
    /// acknowledgement of an index the leader never had, a conflict with committed entries.
    pub malformed: u64,
    /// Vote requests ignored because a live leader is known (leader stickiness, thesis §4.2.3).
    pub vote_ignored_in_lease: u64,
    /// Stale append rejections or acknowledgements already accounted for.
    pub stale_response: u64,
    /// Storage acknowledgements from an earlier incarnation, or repeated.
    pub stale_ack: u64,
    /// Storage acknowledgements for writes never issued.
    pub bogus_ack: u64,
    /// Applied-index reports beyond what was handed out for applying.
    pub bogus_applied: u64,
    /// Snapshot reports from the application that were refused: not newer than the latest
    /// snapshot, beyond the applied index, or with a term that does not match the log.
    pub bogus_snapshot: u64,
    /// Snapshot chunk reads from the embedder that answer no outstanding request.
    pub stale_chunk_read: u64,
    /// Snapshot chunks at an unexpected offset or of an older snapshot.
    pub stale_snapshot_chunk: u64,
    /// Received snapshots whose crc32c did not match; the transfer restarts from offset 0.
    pub corrupt_snapshot: u64,
    /// Elections not started because the term is `Term::MAX` (reached only by following a peer
    /// that sent an absurd term): the node stays a follower rather than wrap its term.
    pub term_exhausted: u64,
    /// Campaign requests refused ([`crate::Action::Campaigned`] says why).
    pub campaign_refused: u64,
    /// Bounded-staleness reads refused ([`crate::ReadError::TooStale`]).
    pub stale_read_refused: u64,
    /// Freshness proofs ignored: about another incarnation of this node (normal for a few
    /// heartbeats after a restart), or about a stamp from its future (a bad leader).
    pub freshness_proof_ignored: u64,
    /// Not ignored input but a decision: leadership transfers this node started by itself, as
    /// leader, to hand over to a member of higher priority ([`crate::Membership::priorities`]).
    pub priority_transfers: u64,
    /// Not ignored input but a decision: times this node went quiet with its group
    /// ([`crate::Config::quiesce`]).
    pub quiesced: u64,
}
