//! # sansraft-testkit
//!
//! One test environment for everything that drives [`sansraft`] in-process (style point 16,
//! after etcd's `rafttest` interaction environment): the tests, the fuzz harnesses, the
//! benchmarks and the simulator stand on it, so that a fix here fixes them all.
//!
//! - [`storage`]: the reference in-memory storage. It carries out every [`sansraft::Write`]
//!   exactly (snapshot installs, truncation, compaction, partial snapshot chunks), tells written
//!   from durable (writes become durable only when the driver says, in order), and hands a
//!   restart the [`sansraft::DurableState`] a real disk would.
//! - [`mod@dispatch`]: the one exhaustive `match` over [`sansraft::Action`]; drivers implement the
//!   small [`dispatch::Effects`] trait, so a new action variant is handled in one place.
//! - [`collect`]: a single node stepped by hand, its actions collected.
//! - [`checker`]: the one safety checker (Figure 3's properties, durability before speaking,
//!   membership, snapshot and read rules), fed each node's observable state after every step;
//!   the simulator, the cluster driver and the property tests all check with it.
//! - [`cluster`]: the cluster driver: nodes, a message queue, ticks, cut links, crash and
//!   restart from storage, a replayable state machine.
//!
//! Deterministic: no clock, no OS randomness, no hash-order iteration.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod checker;
pub mod cluster;
pub mod collect;
pub mod dispatch;
pub mod fnv;
pub mod state_machine;
pub mod storage;

pub use cluster::{Cluster, Peer};
pub use collect::{step_collect, step_durable, Collected};
pub use dispatch::{dispatch, Effects};
pub use storage::MemStorage;
