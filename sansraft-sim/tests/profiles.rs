//! A quick sweep of every profile: ~50 seeds each must pass every check.

use sansraft_sim::scenario::{Synchronous, Voters};
use sansraft_sim::sweep::{self, SweepConfig};
use sansraft_sim::{Profile, Timing};

fn sweep_profile(profile: Profile, nodes: usize, seeds: u64) {
    sweep_with(profile, nodes, seeds, Synchronous::None);
}

fn sweep_with(profile: Profile, nodes: usize, seeds: u64, synchronous: Synchronous) {
    let config = SweepConfig {
        start_seed: 1_000,
        seeds,
        shard: (0, 1),
        nodes: Voters::Fixed(nodes),
        profile,
        timing: Timing {
            fault_phase_us: 20_000_000,
            liveness_phase_us: 8_000_000,
        },
        canary: None,
        synchronous,
    };
    let summary = sweep::sweep(&config, |_| {});
    assert_eq!(summary.seeds_run, seeds);
    assert!(
        summary.failures.is_empty(),
        "{}",
        summary.render(&sweep::SweepTiming::UNTIMED)
    );
    assert!(
        summary.commits > 0 && summary.ops.1 > 0,
        "the cluster made progress"
    );
}

#[test]
fn calm() {
    sweep_profile(Profile::Calm, 5, 50);
}

#[test]
fn lossy() {
    sweep_profile(Profile::Lossy, 5, 50);
}

#[test]
fn partitions() {
    sweep_profile(Profile::Partitions, 5, 50);
}

#[test]
fn crashes() {
    sweep_profile(Profile::Crashes, 5, 50);
}

#[test]
fn chaos() {
    sweep_profile(Profile::Chaos, 5, 50);
}

#[test]
fn chaos_three_and_seven_nodes() {
    sweep_profile(Profile::Chaos, 3, 25);
    sweep_profile(Profile::Chaos, 7, 25);
}

// Nodes that carry out their actions synchronously (`Io::Synchronous`), alone and mixed with
// nodes that acknowledge, under every fault kind.
#[test]
fn synchronous_nodes() {
    sweep_with(Profile::Chaos, 5, 25, Synchronous::All);
    sweep_with(Profile::Crashes, 5, 25, Synchronous::Odd);
}

#[test]
fn shards_partition_the_seed_range() {
    let config = |i| SweepConfig {
        start_seed: 5,
        seeds: 10,
        shard: (i, 3),
        nodes: Voters::Fixed(3),
        profile: Profile::Calm,
        timing: Timing::default(),
        canary: None,
        synchronous: Synchronous::None,
    };
    let mut all: Vec<u64> = (0..3)
        .flat_map(|i| config(i).seeds().collect::<Vec<_>>())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (5..15).collect::<Vec<u64>>());
}

#[test]
fn crashes_hand_acknowledgements_to_later_incarnations() {
    // Crashes once a write is durable, with its acknowledgement on the way: the restarted node
    // receives it and must count it stale (the world fails the run otherwise).
    let config = SweepConfig {
        start_seed: 0,
        seeds: 20,
        shard: (0, 1),
        nodes: Voters::Fixed(3),
        profile: Profile::Crashes,
        timing: Timing {
            fault_phase_us: 20_000_000,
            liveness_phase_us: 8_000_000,
        },
        canary: None,
        synchronous: Synchronous::None,
    };
    let summary = sweep::sweep(&config, |_| {});
    assert!(summary.failures.is_empty());
    assert!(
        summary.coverage.2 >= 5,
        "only {} stale acknowledgements in 20 crash seeds",
        summary.coverage.2
    );
}
