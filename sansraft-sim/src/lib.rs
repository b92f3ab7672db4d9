//! # sansraft-sim
//!
//! A deterministic simulator for [`sansraft`], in the style of TigerBeetle's VOPR: one `u64`
//! seed picks a [`Scenario`] from a fault [`Profile`] — network, storage, clocks, clients and an
//! explicit fault schedule — and [`world::run`] plays it in simulated time. A run has a *safety
//! phase* (faults fire; every step is checked by the [`checker`]) and a *liveness phase*
//! (everything heals; a leader must be elected and every request served in bounded time). At the
//! end the client history is checked for linearizability.
//!
//! The same scenario always gives the same run, bit for bit: all randomness comes from seeded
//! ChaCha8 streams, simulated time is the only clock, and no output depends on hash-map order.
//! Each run's [`RunReport::trace_hash`] proves it.
//!
//! ```
//! use sansraft_sim::{world, Profile, Scenario, Timing};
//!
//! let timing = Timing { fault_phase_us: 2_000_000, liveness_phase_us: 3_000_000 };
//! let scenario = Scenario::generate(42, 3, Profile::Calm, timing);
//! let first = world::run(&scenario, world::RunOptions::default()).report;
//! let again = world::run(&scenario, world::RunOptions::default()).report;
//! assert!(first.passed(), "{:?}", first.violation);
//! assert_eq!(first.trace_hash, again.trace_hash);
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod checker;
mod client;
mod disk;
mod event;
pub mod fault;
mod health;
mod host;
pub mod html;
mod kv;
/// The linearizability checker, [`sansraft_lincheck`], under the name the simulator's modules use.
pub use sansraft_lincheck as linearizability;
mod liveness;
mod membership_schedule;
pub mod multi;
mod network;
mod operator;
pub mod outcomes;
mod panics;
pub mod perfetto;
pub mod profile;
mod received_snapshot;
pub mod report;
mod rng;
pub mod scenario;
mod schedule;
pub mod shrink;
mod stale_read;
mod succession;
pub mod sweep;
pub mod trace;
mod view;
pub mod violation;
pub mod world;

pub use fault::{Fault, Partition, ScheduledFault};
pub use profile::Profile;
pub use report::{LinOutcome, RunReport, RunStats};
pub use scenario::{Scenario, Timing};
pub use violation::{Failure, Violation, ViolationKind};

/// Simulated time, in microseconds.
pub type Micros = u64;
