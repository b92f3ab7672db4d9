//! The embedder's side of the contract: what goes into [`crate::Node::step`] and what comes out.

use crate::confchange::{ConfChange, ConfChangeError};
use crate::entries::Entries;
use crate::error::{CampaignError, ProposeError, ReadError};
use crate::message::Message;
use crate::node::TransferOutcome;
use crate::snapshot_transfer::{ChunkRead, ChunkRequest, ChunkWrite, SnapshotInstall};
use crate::types::{HardState, Index, LogPosition, NodeId, SnapshotMeta, Term};
use bytes::Bytes;

/// Something that happened to the node.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Input {
    /// One unit of logical time passed. All timeouts are counted in ticks.
    Tick,
    /// A message from a peer arrived. Misaddressed, unknown-peer, stale or malformed messages are
    /// ignored and counted.
    Message(Message),
    /// A client proposes a command. Answered by [`Action::Proposed`] in the same step.
    Propose(Bytes),
    /// Several commands at once: they are appended together and replicated in one append per
    /// follower. Answered by one [`Action::Proposed`] per command, in order.
    ProposeBatch(Vec<Bytes>),
    /// The write with this token, and every write issued before it, is durable.
    Persisted(WriteToken),
    /// The application has applied every entry up to and including this index.
    Applied(Index),
    /// Change the cluster's membership (thesis §4.3). Answered by [`Action::MembershipProposed`]
    /// in the same step; the change takes effect on each node when its entry is appended, and
    /// the application sees it when the entry of kind [`crate::EntryKind::Membership`] is applied.
    ChangeMembership(ConfChange),
    /// A linearizable read with an id of the embedder's choosing (thesis §6.4). Answered, in a
    /// later step or this one, by [`Action::ReadReady`] or [`Action::ReadFailed`] with the same
    /// id. A leader confirms it with a heartbeat round (or its lease); a follower forwards it
    /// to its leader. The read itself is the embedder's: it runs it against its state machine
    /// when told the read is ready.
    ReadIndex(u64),
    /// A bounded-staleness read, with an id of the embedder's choosing: served from this
    /// node's state machine as it is, without a round trip, if the node can prove that it
    /// holds every entry committed anywhere before its own clock read `now −
    /// max_staleness_ticks` (its ticks). Answered in the same step: [`Action::ReadReady`] with
    /// the applied index, or [`Action::ReadFailed`] with [`crate::ReadError::TooStale`]
    /// (counted in `Counters::stale_read_refused`). Not linearizable: a write acknowledged
    /// less than the bound ago may be missing, and two such reads at different nodes may see
    /// the state go back.
    ///
    /// The proof comes with the leader's heartbeats (followers and learners) or from the
    /// leader's own confirmed rounds (a leader); it takes about two heartbeat intervals after
    /// a node starts or joins, and survives changes of leader and term. It needs neither
    /// leases nor bounded clock drift: the bound is in this node's own ticks. It does need
    /// **an incarnation unique for the node's life** ([`crate::Node::new`]; a persisted boot
    /// counter): the tick counter restarts at 0 with each incarnation, and a proof about an
    /// earlier incarnation's stamp must never be taken for this one's. A bound of 0 is served
    /// only in the tick the proof's stamp was taken (in practice: a single-voter leader).
    ReadStale {
        /// The embedder's request id.
        id: u64,
        /// How far behind the leader the state may be, in this node's ticks.
        max_staleness_ticks: u32,
    },
    /// The application has taken a snapshot of its state machine at `meta.index` (at most the
    /// applied index; `meta.term` is that entry's term and `meta.membership` the configuration
    /// in force there) and stored it durably together with `meta`. The node answers with
    /// [`Action::CompactLog`] and from now on sends this snapshot to followers that need it.
    /// A report not newer than the previous snapshot, beyond the applied index or with the wrong
    /// term is ignored and counted (`Counters::bogus_snapshot`). Boxed: it is large and rare,
    /// and every input is as large as its largest kind.
    SnapshotTaken(Box<SnapshotMeta>),
    /// The bytes asked for by an [`Action::ReadSnapshotChunk`]. Answers that match no
    /// outstanding request are ignored and counted.
    SnapshotChunkRead(ChunkRead),
    /// Asks the leader to hand leadership to the voter `target` (thesis §3.10). Answered by
    /// [`Action::Transfer`], at once if refused, else when the transfer completes or aborts.
    TransferLeadership(NodeId),
    /// Start an election now, as if the election timeout had run out (an operator's or a
    /// test's request). With [`crate::Config::pre_vote`] the node polls first, unless
    /// `skip_pre_vote`: then it moves to the next term and asks for votes at once, which can
    /// disrupt a live leader. Followers that heard from a leader within the election timeout
    /// still ignore it ([`crate::Config::leader_stickiness`]). Answered by
    /// [`Action::Campaigned`] in the same step.
    Campaign {
        /// Ask for votes at once, without a pre-vote poll.
        skip_pre_vote: bool,
    },
    /// Follower: the embedder will not take the snapshot `(index, term)` (it would pass the
    /// embedder's size cap, or it cannot be used): the one being received, or one whose chunk
    /// the embedder kept from the node. The node abandons the transfer
    /// ([`Action::DropPartialSnapshot`]), answers that snapshot's chunks with a refusal for the
    /// rest of the term and tells the leader, which offers it again only after
    /// `100 × snapshot_retry_ticks`, or a newer one at once. Ignored and counted
    /// (`Counters::unexpected`) at a node that follows no leader.
    RefuseSnapshot {
        /// The snapshot's last index.
        index: Index,
        /// The snapshot's last term.
        term: Term,
    },
    /// The embedder's failure detector says the node `id` is unreachable (one detector per
    /// pair of nodes, shared by every group they hold; [`crate::Config::quiesce`]). A follower
    /// of `id` wakes and, unless it backs a lease ([`crate::Config::lease_reads`]: it waits
    /// out the election timeout it promised), counts that timeout as run out: it campaigns
    /// within its randomised timeout's excess over T. A leader marks `id` unreachable until it
    /// hears from it: a quiet group need not wait for it, and a quiet leader wakes to check
    /// its quorum. Never unsafe, whatever the detector says: a wrong signal costs at most an
    /// election. Ignored and counted (`Counters::unknown_peer`) for a node outside the
    /// configuration.
    PeerUnreachable(NodeId),
    /// The embedder's failure detector hears from node `id` again after it reported it
    /// unreachable. A leader that marked `id` unreachable and went quiet (or is going quiet)
    /// wakes, so that `id` is brought up to date: nothing else would reach a quiet group. Any
    /// other node ignores it (a node outside the configuration is counted in
    /// `Counters::unknown_peer`).
    PeerReachable(NodeId),
}

/// Something the embedder must do. Carry out the actions of one step in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "every action carries a duty for the embedder"]
pub enum Action {
    /// Make this write durable, after every earlier write, then acknowledge it with
    /// [`Input::Persisted`] in a later step. Writes must become durable in the order issued: an
    /// acknowledgement vouches for every earlier write too. Never skip or reorder writes.
    Persist(Write),
    /// Send this message to `message.to`. Best effort: it may be dropped, delayed or duplicated.
    /// Everything it depends on is already durable.
    Send(Message),
    /// Apply these committed entries to the state machine, in order, then report progress with
    /// [`Input::Applied`]. Entries of kind [`crate::EntryKind::Empty`] carry nothing to apply.
    /// Every entry handed out here is also durable in the local log. One step may hand out
    /// several runs, in log order.
    Apply(Entries),
    /// The outcome of one proposal from this step's [`Input::Propose`] or
    /// [`Input::ProposeBatch`], in proposal order.
    Proposed(Result<LogPosition, ProposeError>),
    /// The outcome of this step's [`Input::ChangeMembership`]: the position of the membership
    /// entry, or why the change was refused. Like any proposal, the entry may still be
    /// overwritten; it took effect once an entry of that term is applied at that index.
    MembershipProposed(Result<LogPosition, ConfChangeError>),
    /// The leader saw learner `learner` come within [`crate::Config::learner_catch_up_gap`]
    /// entries of its log (reported once per learner and term). The embedder may now promote it
    /// with [`crate::ConfChange::promote`]; nothing is required.
    LearnerCaughtUp {
        /// The learner.
        learner: NodeId,
        /// Its match index when the report was made.
        match_index: Index,
    },
    /// The read `id` may be served now, from the state machine as it is: the application has
    /// applied at least `index`, and `index` covers every write committed before the read was
    /// requested (for an [`Input::ReadStale`]: every write committed before the node's clock
    /// read `now − max_staleness_ticks`; `index` is then the applied index). Serve it before
    /// applying further entries, or at any later state.
    ReadReady {
        /// The embedder's request id.
        id: u64,
        /// The read index.
        index: Index,
    },
    /// The read `id` failed and must not be served; retry it (perhaps at another node).
    ReadFailed {
        /// The embedder's request id.
        id: u64,
        /// Why.
        error: ReadError,
    },
    /// The log up to and including this index is covered by the latest snapshot: the embedder
    /// may delete those entries from storage, at any time (no acknowledgement). After a restart
    /// hand the node only the entries after the snapshot.
    CompactLog(Index),
    /// Leader: read at most `max_len` bytes of the snapshot `(index, term)` from `offset` and
    /// feed them back as [`Input::SnapshotChunkRead`] (with `done` if they reach the end). A
    /// request for a snapshot older than the latest one may be ignored.
    ReadSnapshotChunk(ChunkRequest),
    /// Follower: write these bytes into the partial snapshot `(index, term)` at `offset`;
    /// offset 0 begins a new partial snapshot. They need not be durable on their own: the write
    /// that installs the snapshot ([`Write::install`]) must make the whole of it durable.
    WriteSnapshotChunk(ChunkWrite),
    /// Follower: delete the partial snapshot `(index, term)`; its transfer was abandoned
    /// (a newer snapshot, a new term or leader, or a checksum mismatch). After a restart,
    /// delete every partial snapshot: transfers do not survive a crash.
    DropPartialSnapshot {
        /// The snapshot's last index.
        index: Index,
        /// The snapshot's last term.
        term: Term,
    },
    /// The outcome of an [`Input::TransferLeadership`]: tell whoever asked.
    Transfer(TransferOutcome),
    /// The node's role, term or known leader changed in this step: what they are at its end
    /// (reported once per step that changed any of them). For logs and metrics; nothing is
    /// required.
    RoleChanged(RoleChange),
    /// The outcome of this step's [`Input::Campaign`]: the term the node asks for votes in
    /// (for a pre-vote poll, the term it polls for; its own term is unchanged until the poll
    /// succeeds), or why it did not campaign.
    Campaigned(Result<Term, CampaignError>),
}

/// One durable write: an optional snapshot to install, an optional new hard state and entries
/// to put in the log, applied in that order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    /// Identifies the write in its acknowledgement.
    pub token: WriteToken,
    /// If set, first make the received partial snapshot `install.meta` the current snapshot
    /// (durably, with its metadata), delete the log entries it says, and restore the state
    /// machine from it: the application has then applied up to `install.meta.index`. Restore
    /// the state machine when you carry out this action, before the next input, even if the
    /// write becomes durable later: from the next step on the node counts the snapshot as
    /// applied (and may release reads at its index); entries after it are handed out for
    /// applying only once this write is acknowledged.
    pub install: Option<Box<SnapshotInstall>>,
    /// If set, replace the persisted hard state with this one.
    pub hard_state: Option<HardState>,
    /// If non-empty, delete every persisted entry with index ≥ `entries[0].index`, then append
    /// these. Entries are consecutive.
    pub entries: Entries,
}

/// The identity of a [`Write`]: the node's incarnation and a sequence number that grows by one
/// per write within the incarnation. Acknowledgements from another incarnation are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WriteToken {
    /// The incarnation the node was started with.
    pub incarnation: u64,
    /// The write's position in this incarnation's sequence of writes, from 1.
    pub seq: u64,
}

/// What [`Action::RoleChanged`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RoleChange {
    /// The role.
    pub role: crate::Role,
    /// The term.
    pub term: Term,
    /// The leader of `term` this node knows (itself when it leads), if any.
    pub leader: Option<NodeId>,
}
