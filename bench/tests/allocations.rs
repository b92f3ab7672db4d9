//! Issue 14's allocation targets for sansraft, checked with the bench's counting allocator
//! (this test binary's own, so no other test's allocations are counted: one test only).

use sansraft_bench::alloc_count::{AllocSnapshot, CountingAlloc};
use sansraft_bench::footprint::heartbeat_allocs;
use sansraft_bench::ours::OursCluster;
use sansraft_bench::transport::Mode;
use sansraft_bench::workload::{measure, Workload};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

#[test]
fn at_most_one_allocation_per_entry_at_64_per_step_and_none_per_heartbeat() {
    for nodes in [3, 5, 7] {
        let w = Workload {
            nodes,
            payload_bytes: 16,
            batch: 64,
        };
        let run = measure::<OursCluster>(w, Mode::Wire, 64 * 50);
        // Client payload buffers included, as in the throughput table.
        assert!(
            run.allocs_per_entry() <= 1.0,
            "{}: {:.3} allocations per entry over the wire",
            w.label(),
            run.allocs_per_entry()
        );
        for mode in [Mode::Wire, Mode::InProcess] {
            let per_round = heartbeat_allocs::<OursCluster>(nodes, mode, 50);
            assert_eq!(per_round, 0.0, "{nodes} nodes, {mode}: heartbeats allocate");
        }
        // Issue 18: per-peer status and the lease read without allocating.
        let cluster = <OursCluster as sansraft_bench::workload::Cluster>::start(nodes, Mode::Wire);
        let leader = &cluster.members[cluster.leader().expect("a leader")].node;
        let before = AllocSnapshot::now();
        let mut matched = 0;
        for (_, peer) in leader.peers() {
            matched += peer.match_index + peer.inflight_bytes;
        }
        matched += leader.lease_ticks_left().unwrap_or(0);
        assert_eq!(
            AllocSnapshot::now().allocs_since(&before),
            0,
            "peer status allocates"
        );
        assert!(matched > 0);
    }
}
