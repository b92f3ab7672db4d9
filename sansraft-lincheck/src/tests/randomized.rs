//! Generated histories, many small ones and a few large ones, and corrupted copies of them.

use super::generate::*;
use super::*;

#[test]
fn randomized_linearizable_and_corrupted() {
    let mut rng = Rng(0x5EED);
    let (mut never_written, mut stale, mut stale_searched) = (0, 0, 0);
    for round in 0..400 {
        let distinct_values = rng.below(4) != 0;
        // With few distinct values, high contention on one key makes
        // the search space explode; keep those runs moderate.
        let max_clients = if distinct_values { 30 } else { 8 };
        let w = Workload {
            clients: 1 + rng.below(max_clients),
            ops: 1 + rng.below(300) as usize,
            keys: 1 + rng.below(5),
            max_latency: 1 + rng.below(100),
            distinct_values,
            lost_percent: rng.below(15),
        };
        let what = format!("round {round}, {w:?}");
        let h = random_history(&mut rng, w);
        assert_eq!(check(&h, STEPS), Verdict::Linearizable, "{what}: {h:?}");

        let mut bad = h.clone();
        if let Some(key) = corrupt_one_read(&mut rng, &mut bad) {
            assert_not_linearizable_at(&bad, key, &what);
            assert_eq!(search_only(&bad, key), KeyResult::NotLinearizable, "{what}");
            never_written += 1;
        }
        if distinct_values {
            let mut bad = h.clone();
            if let Some(key) = make_one_read_stale(&mut rng, &mut bad) {
                assert_not_linearizable_at(&bad, key, &what);
                stale += 1;
                // Proving a violation by search alone means exhausting
                // all linearizations before it: only under moderate
                // contention.
                if w.clients <= 10 {
                    assert_eq!(search_only(&bad, key), KeyResult::NotLinearizable, "{what}");
                    stale_searched += 1;
                }
            }
        }
    }
    assert!(
        never_written > 300 && stale > 200 && stale_searched > 50,
        "{never_written} {stale} {stale_searched}"
    );
}

/// Checks a generated history within the step budget, then two corrupted versions of it:
/// the search must decide each one (no `Inconclusive`), which bounds its work.
fn decided_within_budget(rng: &mut Rng, w: Workload) {
    let h = random_history(rng, w);
    assert_eq!(check(&h, STEPS), Verdict::Linearizable, "{w:?}");
    let mut bad = h.clone();
    let key = corrupt_one_read(rng, &mut bad).unwrap();
    assert_not_linearizable_at(&bad, key, "never written");
    let mut bad = h;
    let key = make_one_read_stale(rng, &mut bad).unwrap();
    assert_not_linearizable_at(&bad, key, "stale");
}

#[test]
fn large_history_is_decided_within_budget() {
    // 3000 operations over 20 keys from 30 concurrent clients, 5% lost.
    let w = Workload {
        clients: 30,
        ops: 3000,
        keys: 20,
        max_latency: 100,
        distinct_values: true,
        lost_percent: 5,
    };
    decided_within_budget(&mut Rng(42), w);
}

#[test]
fn heavy_contention_single_key() {
    // 2000 operations on one key from 30 concurrent clients, 10% lost.
    let w = Workload {
        clients: 30,
        ops: 2000,
        keys: 1,
        max_latency: 100,
        distinct_values: true,
        lost_percent: 10,
    };
    decided_within_budget(&mut Rng(7), w);
}
