//! # sansraft-multi
//!
//! A host for many [`sansraft`] Raft groups in one process, itself sans-IO and deterministic:
//! no clock, no threads, no I/O, no hash-order iteration. Databases run thousands of groups
//! per process, most of them idle; the host makes what is per node (network batches, the
//! failure detector, the fsync) cost once per node instead of once per group.
//!
//! One [`Host`] per process. Each group's replica on it is a [`sansraft::Node`] whose engine
//! id is the host's id, so a peer *node* is a peer in every group it shares with this one.
//!
//! ## The driving loop
//!
//! ```text
//! loop {
//!     input = next of: a tick of your timer, a Batch from a peer node, a storage
//!             acknowledgement, a group's create or delete, an input for one group
//!     for action in host.step(input)?:              // in order
//!         Group { group, action } → carry out the engine action for that group, as
//!                                   sansraft::Action documents (apply, answer, snapshot I/O)
//!         Persist(host_write)     → write every group's writes in order, record the
//!                                   tombstones, one fsync; when durable, feed
//!                                   HostInput::Persisted(host_write.token)
//!         Send(batch)             → encode (sansraft::Codec) and send to batch.to
//!         UnknownGroup { group, from } → a peer talks about a group not hosted here:
//!                                   create it if this node should hold a replica
//! }
//! ```
//!
//! The same loop as a program, for one host holding one single-voter group:
//!
//! ```
//! use sansraft::{Action, Codec, Config, DurableState, Input, Membership, Role};
//! use sansraft_multi::{Host, HostAction, HostConfig, HostInput, HostStart};
//!
//! let mut host = Host::new(HostConfig::new(1), HostStart::default())?;
//! let mut config = Config::new(1, 7);
//! config.quiesce = true;
//! let state = DurableState::bootstrap(Membership::with_voters([1]));
//! let mut inputs = vec![HostInput::CreateGroup { group: 10, config: Box::new(config), state }];
//! inputs.extend((0..40).map(|_| HostInput::Tick));
//! inputs.push(HostInput::Group { group: 10, input: Input::Propose("x".into()) });
//! let (mut applied, mut network) = (Vec::new(), Vec::new());
//! while !inputs.is_empty() {
//!     let input = inputs.remove(0);
//!     for action in host.step(input)? {
//!         match action {
//!             // Write every group's writes, sync once, then acknowledge (at once, here).
//!             HostAction::Persist(write) => inputs.insert(0, HostInput::Persisted(write.token)),
//!             // Encode and send to batch.to (a single-voter group has no peer to send to).
//!             HostAction::Send(batch) => network.push((batch.to, batch.encode())),
//!             HostAction::Group { group, action: Action::Apply(entries) } => {
//!                 let last = entries.iter().last().map(|e| e.index).unwrap_or(0);
//!                 applied.extend(entries.iter().map(|e| e.data.clone()));
//!                 inputs.insert(0, HostInput::Group { group, input: Input::Applied(last) });
//!             }
//!             // Every other engine action, as sansraft::Action documents.
//!             HostAction::Group { .. } => {}
//!             HostAction::UnknownGroup { .. } => {}
//!         }
//!     }
//! }
//! assert_eq!(host.group(10).map(|n| n.role()), Some(Role::Leader));
//! assert!(applied.iter().any(|data| &data[..] == b"x"));
//! assert!(network.is_empty());
//! # Ok::<(), sansraft_multi::HostError>(())
//! ```
//!
//! Host writes must become durable in the order issued: an acknowledgement vouches for every
//! earlier host write. Batches may be dropped, duplicated and reordered. On restart, build
//! the host with [`Host::new`] from every group's durable state, the tombstones and a new
//! incarnation. See `docs/multi-group.md` for the design.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod canary;
mod config;
mod counters;
mod detector;
mod engine;
mod error;
mod groups;
mod host;
mod io;
mod outbox;
mod unknown;
mod wire;
mod writes;

pub use canary::HostCanary;
pub use config::{GroupStart, HostConfig, HostConfigError, HostStart};
pub use counters::HostCounters;
pub use detector::FailureDetector;
pub use error::HostError;
pub use host::Host;
pub use io::{HostAction, HostInput, HostToken, HostWrite};
pub use wire::{Batch, Envelope, GroupId};
