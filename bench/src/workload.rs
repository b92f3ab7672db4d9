//! The replication workload every implementation runs, and the loop that times it.

use crate::alloc_count::AllocSnapshot;
use crate::cpu_clock::thread_cpu_time;
use crate::transport::{Mode, Transport};
use bytes::{BufMut, Bytes, BytesMut};
use std::time::{Duration, Instant};

/// One benchmark configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workload {
    /// Voters in the cluster.
    pub nodes: usize,
    /// Bytes per proposal.
    pub payload_bytes: usize,
    /// Proposals handed to the leader in one step.
    pub batch: usize,
}

impl Workload {
    /// Every configuration: 3, 5 and 7 nodes, 16 B, 256 B and 4 KiB, 1 and 64 per step.
    pub fn all() -> Vec<Workload> {
        let mut all = Vec::new();
        for nodes in [3, 5, 7] {
            for payload_bytes in [16, 256, 4096] {
                for batch in [1, 64] {
                    all.push(Workload {
                        nodes,
                        payload_bytes,
                        batch,
                    });
                }
            }
        }
        all
    }

    /// Entries a timed run replicates: a few thousand in a `quick` run, a few hundred thousand
    /// otherwise; fewer of 4 KiB, whose copies on every node would otherwise take gigabytes
    /// (no implementation compacts its log in the run). Always whole batches of 64.
    pub fn entries(&self, quick: bool) -> u64 {
        let big = self.payload_bytes > 1024;
        match (quick, self.batch == 1, big) {
            (true, true, false) => 2_000,
            (true, false, false) => 20_000,
            (true, true, true) => 640,
            (true, false, true) => 2_560,
            (false, true, false) => 100_000,
            (false, false, false) => 400_000,
            (false, true, true) => 10_048,
            (false, false, true) => 25_600,
        }
    }

    /// A short label, e.g. `3n/16B/x64`.
    pub fn label(&self) -> String {
        format!("{}n/{}B/x{}", self.nodes, self.payload_bytes, self.batch)
    }
}

/// A cluster of one implementation, driven in memory on one thread: messages are delivered in
/// FIFO order through the cluster's [`Transport`], every write is made "durable" (kept in an
/// in-memory store) and acknowledged at once, and every committed entry is applied (its payload
/// read) on every node.
pub trait Cluster: Sized {
    /// The implementation's name in reports.
    const NAME: &'static str;

    /// A cluster of `nodes` voters whose messages travel as `mode` says, with a leader elected
    /// and its first entry applied everywhere.
    fn start(nodes: usize, mode: Mode) -> Self;

    /// Hands `batch` proposals of `payload_bytes` each to the leader through the
    /// implementation's best API for a batch (one step where it takes a batch at once), then
    /// drives the cluster until every node has applied them.
    fn round(&mut self, batch: usize, payload_bytes: usize);

    /// The transport, with what it carried.
    fn transport(&self) -> &Transport;

    /// Normal entries applied, summed over all nodes.
    fn applied_entries(&self) -> u64;

    /// Payload bytes applied, summed over all nodes (a check that payloads really travelled).
    fn applied_bytes(&self) -> u64;
}

/// The payloads of one client batch as one buffer cut into shared slices: one buffer per batch,
/// as a client that reads requests from the network would have.
pub fn payload_batch(batch: usize, payload_bytes: usize, seq: u64) -> Vec<Bytes> {
    let mut buf = BytesMut::with_capacity(batch * payload_bytes);
    for i in 0..batch {
        let byte = (seq as usize + i) as u8;
        buf.put_bytes(byte, payload_bytes);
    }
    let mut buf = buf.freeze();
    (0..batch).map(|_| buf.split_to(payload_bytes)).collect()
}

/// The result of timing one workload on one implementation.
#[derive(Clone, Copy, Debug)]
pub struct Throughput {
    /// Entries committed and applied on every node.
    pub entries: u64,
    /// CPU time of the benchmark thread for them (wall time where CPU time is not available).
    pub cpu: Duration,
    /// Wall time for them.
    pub elapsed: Duration,
    /// Allocations in the timed region (client payload buffers included).
    pub allocs: u64,
    /// Bytes the transport put on the wire in the timed region (0 in process).
    pub wire_bytes: u64,
}

impl Throughput {
    /// Entries per second of CPU time.
    pub fn per_second(&self) -> f64 {
        self.entries as f64 / self.cpu.as_secs_f64()
    }

    /// Nanoseconds of CPU time per entry.
    pub fn ns_per_entry(&self) -> f64 {
        self.cpu.as_nanos() as f64 / self.entries as f64
    }

    /// Entries per second of wall time.
    pub fn per_wall_second(&self) -> f64 {
        self.entries as f64 / self.elapsed.as_secs_f64()
    }

    /// Allocations per entry.
    pub fn allocs_per_entry(&self) -> f64 {
        self.allocs as f64 / self.entries as f64
    }
}

/// The timed rounds, in a function of their own so that callgrind can count the instructions
/// of exactly these rounds: `valgrind --tool=callgrind --toggle-collect='*timed_rounds*'`
/// (see `bench/instructions.sh`).
#[inline(never)]
pub fn timed_rounds<C: Cluster>(cluster: &mut C, w: Workload, rounds: u64) {
    for _ in 0..rounds {
        cluster.round(w.batch, w.payload_bytes);
    }
}

/// Runs `entries` entries (rounded up to whole batches) through a fresh cluster whose messages
/// travel as `mode` says, after a warm-up, and times them.
pub fn measure<C: Cluster>(w: Workload, mode: Mode, entries: u64) -> Throughput {
    let mut cluster = C::start(w.nodes, mode);
    let rounds = entries.div_ceil(w.batch as u64);
    let warmup = (rounds / 10).max(1);
    for _ in 0..warmup {
        cluster.round(w.batch, w.payload_bytes);
    }
    let applied_before = cluster.applied_entries();
    let bytes_before = cluster.applied_bytes();
    let wire_before = cluster.transport().bytes;
    let allocs_before = AllocSnapshot::now();
    #[expect(
        clippy::disallowed_methods,
        reason = "benchmarks report wall-clock throughput, outside any simulated world"
    )]
    let start = Instant::now();
    let cpu_start = thread_cpu_time();
    timed_rounds(&mut cluster, w, rounds);
    let cpu_end = thread_cpu_time();
    let elapsed = start.elapsed();
    let cpu = match (cpu_start, cpu_end) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => elapsed,
    };
    let allocs = AllocSnapshot::now().allocs_since(&allocs_before);
    let applied = cluster.applied_entries() - applied_before;
    let expected = rounds * w.batch as u64 * w.nodes as u64;
    assert_eq!(
        applied,
        expected,
        "{}: every node must apply every entry",
        C::NAME
    );
    assert_eq!(
        cluster.applied_bytes() - bytes_before,
        expected * w.payload_bytes as u64,
        "{}: every applied entry must carry its payload",
        C::NAME
    );
    Throughput {
        entries: rounds * w.batch as u64,
        cpu,
        elapsed,
        allocs,
        wire_bytes: cluster.transport().bytes - wire_before,
    }
}
