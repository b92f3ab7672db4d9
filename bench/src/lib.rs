//! Benchmarks of sansraft against tikv's raft-rs and noraft: replication throughput, per-step
//! costs, allocations, memory per retained entry and election times. See `docs/performance.md`.

pub mod alloc_count;
pub mod cpu_clock;
pub mod election;
pub mod footprint;
pub mod ours;
pub mod peer_noraft;
pub mod raftrs;
pub mod steps;
pub mod transport;
pub mod workload;
