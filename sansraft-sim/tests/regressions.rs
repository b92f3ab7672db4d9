//! Scenarios that once failed a sweep, saved shrunk (`sansraft-sim run --shrink FILE`) and checked
//! in under `tests/regressions/`. Each now passes every check. A replay file holds the whole
//! scenario, so these keep meaning the same run when the scenario generator changes.

use sansraft_sim::shrink::ReplayFile;
use sansraft_sim::world::{self, RunOptions};

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

/// Seed 101012, 5 voters and a spare, chaos, without pre-vote or check-quorum: no leader after
/// the heal. `crash n2 on its next write` came 0.6 ms before its paired `restart n2`, and n2
/// wrote nothing in between: the restart found n2 up and did nothing, the armed crash went off at
/// n2's next write and n2 stayed down for 29 s, until the heal. Meanwhile n1, n3 and n5 were
/// removed (they never heard of it and kept campaigning) and the leader n4 appended
/// C_old,new = {2,4,6} → {2,6}, which needs n2. At the heal n4 had just crashed; n2 came back
/// with the 5-voter configuration and log 11 of 78, granted its vote to a removed server in
/// every term, and n4 and n6, which need it, never won it. Shrunk (the shrinker also drops
/// restarts; n2's is put back). Fixed in the simulator: a restart disarms a crash that has not
/// gone off, so each crash stays inside its scheduled window.
#[test]
fn crash_on_write_after_restart() {
    passes("crash_on_write_after_restart");
}

/// Seed 101953, 5 voters and two spares, chaos, check-quorum without pre-vote: the same lost
/// restart (`crash n2 on its next write` at 25.9587 s, `restart n2` at 25.9603 s, the crash at
/// 26.0118 s) kept n2, needed by C_old,new = {1,2,4} → {1,2}, down from 26 s to the heal; it came
/// back with an old configuration and the removed servers n3 and n5 took its vote term after
/// term. Shrunk, n2's restart put back.
#[test]
fn crash_on_write_after_restart_check_quorum() {
    passes("crash_on_write_after_restart_check_quorum");
}

/// Five voters with lease reads, one transfer (the `transfer-vote-ignored-in-lease` canary, seed
/// 2 of a calm 5-node sweep, shrunk). The followers honouring the old leader's lease dropped the
/// target's vote requests, so every such transfer aborted and left the cluster leaderless for an
/// election timeout. Saved with the canary on, which is sansraft's behaviour before the fix: it
/// must still fail that way (the oracle sees it), and pass with the canary off (the fix).
#[test]
fn transfer_with_leases() {
    let path = format!(
        "{}/tests/regressions/transfer_with_leases.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let json = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut file: ReplayFile =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(
        file.scenario.raft.canary,
        Some(sansraft::Canary::TransferVoteIgnoredInLease)
    );
    let before = world::run(&file.scenario, RunOptions::default()).report;
    let kind = before.violation.map(|v| v.failure.kind);
    assert_eq!(kind, Some(sansraft_sim::ViolationKind::TransferAborted));
    file.scenario.set_canary(None);
    let after = world::run(&file.scenario, RunOptions::default()).report;
    assert!(after.passed(), "fails with the fix: {:?}", after.violation);
    assert!(after.stats.transfers.1 >= 1, "the transfer completed");
}

/// Seed 400186, 4 voters, chaos (found by the healthy-window transfer oracle, shrunk to 18
/// faults). With one append in flight per follower, the append carrying the leader's last entry
/// was lost; a heartbeat answer freed the window, so nothing looked in flight and nothing was
/// resent, and during the transfer no later entry exposed the gap: the target never caught up
/// and the transfer aborted in a healthy cluster. Fixed by judging loss by what was sent.
#[test]
fn lost_append_whole_window() {
    passes("lost_append_whole_window");
}

/// Seed 292, 6 voters and two spares, chaos (300-seed sweep while witnesses were built): not
/// linearizable. Spare n8, joining as a witness, took a client's read while it did not know yet
/// that it was one, forwarded it, and served it after it had become a witness: from a state
/// machine that applies no payloads any more. Fixed by failing every read a node holds once it
/// is a witness.
#[test]
fn read_at_new_witness() {
    passes("read_at_new_witness");
}

/// Seed 71, 5 voters and a spare, chaos (sweep while witnesses were built), shrunk to 11
/// faults: no leader after the heal. The leader sent an entry to witness n6 and crashed
/// before its own write of it was durable; with the others removed, the configuration
/// {4, 6 (witness)} needed n6's vote, which n6 refused to every voter whose log lacked that
/// entry, for good. Fixed by sending a witness only entries durable at the leader.
#[test]
fn witness_ahead_after_leader_crash() {
    passes("witness_ahead_after_leader_crash");
}

/// The same seed after that fix, shrunk to 6 faults: no leader after the heal. Leader n3
/// appended C_old,new = {2 (witness), 3, 4} → {2, 4}, then lost its quorum while n4 was down;
/// n4 came back without the entries n3 had committed, and the witness n2 refused n3's poll by
/// c5db's rule for leaving servers, so nobody could lead. Fixed by not applying that rule at a
/// witness, which cannot lead in the leaver's place.
#[test]
fn witness_refuses_leaving_leader() {
    passes("witness_refuses_leaving_leader");
}
