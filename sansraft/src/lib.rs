//! # sansraft
//!
//! A deterministic, sans-IO Raft consensus engine. The engine performs no I/O, reads no clock,
//! spawns no threads and uses no global randomness: the same inputs (and the seed in [`Config`])
//! give the same actions, bit for bit.
//!
//! ## The driving loop
//!
//! ```text
//! loop {
//!     input = next of: a tick of your timer, a message from the network,
//!             a client proposal, a storage acknowledgement, application progress
//!     for action in node.step(input):          // in order
//!         Persist(write)   → write it after all earlier writes; when durable,
//!                            feed Input::Persisted(write.token)  (any later step)
//!         Send(message)    → hand to the network (may be lost; no retry needed)
//!         Apply(entries)   → apply in order; feed Input::Applied(last index)
//!         Proposed(result) → answer the client: (term, index) or a refusal
//!         MembershipProposed(result) → answer an Input::ChangeMembership
//!         ReadReady { id } → serve read id from the state machine as it is
//!         ReadFailed { id }→ the read must not be served: retry it
//!         LearnerCaughtUp  → optional: the learner may be promoted
//!         CompactLog(i)    → may delete log entries ≤ i (after Input::SnapshotTaken)
//!         ReadSnapshotChunk / WriteSnapshotChunk / DropPartialSnapshot
//!                          → snapshot transfer I/O (leader reads, follower writes a partial)
//!         Transfer(outcome)→ answer an Input::TransferLeadership
//! }
//! ```
//!
//! The crate's README has the same loop as a program that compiles (a doc test here), with a
//! `match` over every [`Action`].
//!
//! The one rule the embedder must keep: **writes become durable in the order issued** (an
//! acknowledgement vouches for every earlier write). Everything else is enforced by the engine:
//! a vote or an append acknowledgement is *held inside the node* until the state it depends on
//! is acknowledged durable, so it cannot be sent early. Messages may be dropped, duplicated and
//! reordered freely. Storage may be synchronous (acknowledge right after the write) or
//! asynchronous (acknowledge later, from another task); see `docs/design.md`.
//!
//! ## Restart
//!
//! Rebuild the node with [`Node::new`] from what was persisted ([`DurableState`]) and a new
//! incarnation number. Acknowledgements of writes from an earlier incarnation are ignored.
//!
//! ```
//! use sansraft::{Action, Config, DurableState, Input, Membership, Node};
//!
//! let config = Config::new(1, 42);
//! let state = DurableState::bootstrap(Membership::with_voters([1]));
//! let mut node = Node::new(config, state, 0).unwrap();
//! let mut acks = Vec::new();
//! // A single-node cluster elects itself once its election timeout passes and its vote is durable.
//! for _ in 0..40 {
//!     for input in std::iter::once(Input::Tick).chain(acks.drain(..).collect::<Vec<_>>()) {
//!         for action in node.step(input) {
//!             if let Action::Persist(write) = action {
//!                 acks.push(Input::Persisted(write.token)); // "durable" at once
//!             }
//!         }
//!     }
//! }
//! assert_eq!(node.role(), sansraft::Role::Leader);
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// The embedding program of the crate's README (also the repository README's), compiled as a
/// doc test so it cannot drift from the API: it must handle every [`Action`].
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[macro_use]
mod canary;
pub mod codec;
mod confchange;
mod config;
mod config_history;
mod counters;
mod durability;
mod entries;
mod error;
mod freshness;
mod inflights;
mod io;
mod log;
pub mod message;
mod node;
mod progress;
pub mod quorum;
mod raft_log;
mod read_index;
mod rng;
pub mod snapshot_transfer;
mod types;

pub use canary::Canary;
pub use codec::{Codec, DecodeError};
pub use confchange::{ConfChange, ConfChangeError, ConfChangeStep};
pub use config::{Config, ConfigError, Io};
pub use counters::Counters;
pub use entries::Entries;
pub use error::{CampaignError, ProposeError, ReadError, StartError};
pub use io::{Action, Input, RoleChange, Write, WriteToken};
pub use message::{Body, FreshnessProof, Message, Stamp};
pub use node::{
    DurableState, InvariantViolation, Node, Role, Status, TransferOutcome, TransferRefusal,
};
pub use progress::{PeerProgress, ProgressState, SnapshotProgress};
pub use snapshot_transfer::{ChunkRead, ChunkRequest, ChunkWrite, SnapshotInstall};
pub use types::{
    Entry, EntryKind, HardState, Index, LogPosition, Membership, NodeId, Priority, SnapshotMeta,
    Term, MAX_INDEX,
};
