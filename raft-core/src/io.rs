//! The embedder's side of the contract: what goes into [`crate::Node::step`] and what comes out.

use crate::confchange::{ConfChange, ConfChangeError};
use crate::error::ProposeError;
use crate::message::Message;
use crate::types::{Entry, HardState, Index, LogPosition, NodeId};
use bytes::Bytes;

/// Something that happened to the node.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// Every entry handed out here is also durable in the local log.
    Apply(Vec<Entry>),
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
}

/// One durable write: an optional new hard state and entries to put in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    /// Identifies the write in its acknowledgement.
    pub token: WriteToken,
    /// If set, replace the persisted hard state with this one.
    pub hard_state: Option<HardState>,
    /// If non-empty, delete every persisted entry with index ≥ `entries[0].index`, then append
    /// these. Entries are consecutive.
    pub entries: Vec<Entry>,
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
