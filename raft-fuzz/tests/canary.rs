//! The `cluster` target must find real bugs: with raft-core's earlier-term-commit canary
//! switched on (§5.4.2, Figure 8: a leader commits an entry of an earlier term by counting
//! replicas), the schedule libFuzzer found (`fuzz/corpus/cluster-canary/earlier-term-commit`)
//! trips the simulator's checker; the same schedule is safe with the correct engine.

use raft_core::Canary;
use raft_fuzz::{cluster, corpus};
use raft_sim::ViolationKind;

#[test]
fn the_cluster_target_catches_an_earlier_term_commit() {
    let data = corpus::input("cluster-canary", "earlier-term-commit");
    let (setup, ops) = cluster::decode(&data).expect("the input holds a setup");
    let violation = cluster::check(setup, &ops, Some(Canary::EarlierTermCommit))
        .expect_err("the checker must catch the canary");
    assert!(
        matches!(
            violation.failure.kind,
            ViolationKind::LeaderCompleteness
                | ViolationKind::StateMachineSafety
                | ViolationKind::LogMatching
        ),
        "caught as a lost or conflicting commit: {violation}"
    );
    if let Err(v) = cluster::check(setup, &ops, None) {
        panic!("the correct engine must be safe on the same schedule: {v}");
    }
}
