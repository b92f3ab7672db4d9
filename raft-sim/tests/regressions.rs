//! Scenarios that once failed a sweep, saved shrunk (`raft-sim run --shrink FILE`) and checked
//! in under `tests/regressions/`. Each now passes every check. A replay file holds the whole
//! scenario, so these keep meaning the same run when the scenario generator changes.

use raft_sim::shrink::ReplayFile;
use raft_sim::world::{self, RunOptions};

fn passes(name: &str) {
    let path = format!(
        "{}/tests/regressions/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let json = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let file: ReplayFile = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(file.expected.is_some(), "{name}: saved from a failing run");
    let report = world::run(&file.scenario, RunOptions::default()).report;
    assert!(
        report.violation.is_none(),
        "{name} fails again: {:?}",
        report.violation
    );
}

/// Seed 7703, 3 nodes, chaos, without pre-vote (10,000-seed sweep at f3fb1aa): no leader after
/// the heal. A server removed from the others' configuration kept campaigning and moved a voter
/// to ever higher terms; the up-to-date candidate ignored the removed server and got no answer
/// to its stale vote requests, so it campaigned one term behind forever. Fixed by answering
/// stale vote requests with the current term (Figure 2).
#[test]
fn stale_vote_livelock() {
    passes("stale_vote_livelock");
}
