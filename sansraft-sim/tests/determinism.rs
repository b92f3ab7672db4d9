//! Same scenario, same run: the trace hash is a function of the seed (and options that do not
//! change behaviour, like tracing, leave it alone).

use sansraft_sim::scenario::Synchronous;
use sansraft_sim::world::{self, RunOptions};
use sansraft_sim::{Profile, Scenario, Timing};

fn timing() -> Timing {
    Timing {
        fault_phase_us: 8_000_000,
        liveness_phase_us: 6_000_000,
    }
}

#[test]
fn same_seed_same_trace_hash() {
    for profile in Profile::ALL {
        let a = Scenario::generate(7, 5, profile, timing());
        let b = Scenario::generate(7, 5, profile, timing());
        assert_eq!(a, b, "scenario generation is deterministic");
        let ra = world::run(&a, RunOptions::default()).report;
        let rb = world::run(&b, RunOptions::default()).report;
        assert_eq!(ra, rb, "{profile}: identical reports");
        let traced = world::run(
            &a,
            RunOptions {
                trace: true,
                ..RunOptions::default()
            },
        );
        assert_eq!(
            traced.report.trace_hash, ra.trace_hash,
            "tracing changes nothing"
        );
        assert_eq!(traced.trace.len() as u64, ra.stats.events);
    }
}

#[test]
fn different_seeds_differ() {
    let hashes: Vec<u64> = (0..6)
        .map(|seed| {
            let sc = Scenario::generate(seed, 3, Profile::Chaos, timing());
            world::run(&sc, RunOptions::default()).report.trace_hash
        })
        .collect();
    let mut unique = hashes.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), hashes.len(), "{hashes:x?}");
}

#[test]
fn scenarios_survive_json_and_replay_identically() {
    let sc = Scenario::generate(11, 5, Profile::Chaos, timing());
    let json = serde_json::to_string(&sc).unwrap();
    let back: Scenario = serde_json::from_str(&json).unwrap();
    assert_eq!(sc, back);
    let a = world::run(&sc, RunOptions::default()).report;
    let b = world::run(&back, RunOptions::default()).report;
    assert_eq!(a.trace_hash, b.trace_hash);
}

/// The sweep digest is the same for the whole range and for the XOR of its shards' digests, and
/// for any number of worker threads.
#[test]
fn the_sweep_digest_combines_across_shards_and_threads() {
    use sansraft_sim::scenario::Voters;
    use sansraft_sim::sweep::{self, SweepConfig};
    let config = |shard| SweepConfig {
        start_seed: 40,
        seeds: 12,
        shard,
        nodes: Voters::Range { min: 3, max: 5 },
        profile: Profile::Chaos,
        timing: timing(),
        canary: None,
        synchronous: Synchronous::None,
    };
    let whole = sweep::sweep(&config((0, 1)), |_| {}).digest;
    let parts: Vec<u64> = (0..3)
        .map(|i| sweep::sweep(&config((i, 3)), |_| {}).digest)
        .collect();
    assert_eq!(parts.iter().fold(0, |a, d| a ^ d), whole);
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a pool")
        .install(|| sweep::sweep(&config((0, 1)), |_| {}).digest);
    assert_eq!(one_thread, whole);
    assert_ne!(whole, 0);
}
