//! Each benchmark driver really replicates: every node applies every entry with its payload
//! (`measure` asserts both), for every configuration.

use sansraft_bench::ours::OursCluster;
use sansraft_bench::peer_noraft::NoraftCluster;
use sansraft_bench::raftrs::RaftRsCluster;
use sansraft_bench::workload::{measure, Workload};

#[test]
fn every_driver_applies_every_entry_everywhere() {
    for w in Workload::all() {
        let entries = 3 * w.batch as u64;
        assert_eq!(measure::<OursCluster>(w, entries).entries, entries);
        assert_eq!(measure::<RaftRsCluster>(w, entries).entries, entries);
        assert_eq!(measure::<NoraftCluster>(w, entries).entries, entries);
    }
}

#[test]
fn elections_finish_and_a_new_leader_follows_a_lost_one() {
    for seed in 0..20 {
        let run = sansraft_bench::election::run_seed(3, seed);
        // §5.2: no leader can exist before some follower's election timeout (10 ticks) passes.
        assert!(run.first.ticks >= 10, "seed {seed}: {run:?}");
        assert!(run.after_loss.ticks >= 10, "seed {seed}: {run:?}");
    }
}
