//! Allocations on the steady-state heartbeat path and memory per retained log entry, measured
//! with the counting global allocator (the binary must install it).

use crate::alloc_count::AllocSnapshot;
use crate::ours::OursCluster;
use crate::peer_noraft::NoraftCluster;
use crate::raftrs::RaftRsCluster;
use crate::transport::Mode;
use crate::workload::Cluster;

/// A cluster whose heartbeat path can be exercised.
pub trait Heartbeats: Cluster {
    /// One heartbeat interval of a quiet cluster: the leader's heartbeats go out and are
    /// answered.
    fn heartbeat_round(&mut self);

    /// Retained entries summed over all nodes' logs.
    fn retained_entries(&self) -> u64;
}

impl Heartbeats for OursCluster {
    fn heartbeat_round(&mut self) {
        // The default heartbeat interval is 2 ticks.
        self.tick_all();
        self.tick_all();
    }

    fn retained_entries(&self) -> u64 {
        self.members
            .iter()
            .map(|m| m.node.status().last_index + 1 - m.node.first_index())
            .sum()
    }
}

impl Heartbeats for RaftRsCluster {
    fn heartbeat_round(&mut self) {
        // heartbeat_tick is 2, as for sansraft.
        for _ in 0..2 {
            for m in &mut self.members {
                m.node.tick();
            }
            self.pump();
        }
    }

    fn retained_entries(&self) -> u64 {
        self.members
            .iter()
            .map(|m| {
                let log = &m.node.raft.raft_log;
                log.last_index() + 1 - log.first_index()
            })
            .sum()
    }
}

impl Heartbeats for NoraftCluster {
    fn heartbeat_round(&mut self) {
        self.heartbeat();
    }

    fn retained_entries(&self) -> u64 {
        self.members
            .iter()
            .map(|m| m.node.log().entries().len() as u64)
            .sum()
    }
}

/// Allocations per heartbeat round in a quiet cluster of `nodes` whose messages travel as
/// `mode` says, after a warm-up.
pub fn heartbeat_allocs<C: Heartbeats>(nodes: usize, mode: Mode, rounds: u64) -> f64 {
    let mut cluster = C::start(nodes, mode);
    for _ in 0..100 {
        cluster.heartbeat_round();
    }
    let before = AllocSnapshot::now();
    for _ in 0..rounds {
        cluster.heartbeat_round();
    }
    AllocSnapshot::now().allocs_since(&before) as f64 / rounds as f64
}

/// Live bytes per retained entry per node after replicating `entries` entries of
/// `payload_bytes` in batches of `batch`, on a cluster of `nodes` whose messages travel as `mode`
/// says. Includes the payloads (in process shared by all nodes, so counted once per cluster;
/// over the wire each node holds its own) and the in-memory storage each driver keeps.
/// `setup` may adjust the cluster first.
pub fn bytes_per_entry<C: Heartbeats>(
    nodes: usize,
    mode: Mode,
    payload_bytes: usize,
    entries: u64,
    batch: usize,
    setup: impl FnOnce(&mut C),
) -> f64 {
    let mut cluster = C::start(nodes, mode);
    setup(&mut cluster);
    let retained_before = cluster.retained_entries();
    let before = AllocSnapshot::now();
    for _ in 0..entries.div_ceil(batch as u64) {
        cluster.round(batch, payload_bytes);
    }
    let grown = AllocSnapshot::now().live_bytes_since(&before);
    let retained = cluster.retained_entries() - retained_before;
    grown as f64 / retained as f64
}
