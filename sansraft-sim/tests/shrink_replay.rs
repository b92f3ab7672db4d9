//! Shrinking keeps the failure, and a saved (shrunk) scenario replays exactly. A failure is
//! provoked by an impossible liveness bound, since the simulated sansraft passes everything
//! else.

use sansraft_sim::shrink::{self, ReplayFile};
use sansraft_sim::world::{self, RunOptions};
use sansraft_sim::{Profile, Scenario, Timing, ViolationKind};
use std::process::Command;

/// A chaos scenario whose requests must complete within 1 µs: it fails `stuck_request`.
fn failing_scenario() -> Scenario {
    let timing = Timing {
        fault_phase_us: 6_000_000,
        liveness_phase_us: 5_000_000,
    };
    let mut sc = Scenario::generate(3, 3, Profile::Chaos, timing);
    sc.liveness.op_deadline_us = 1;
    assert!(!sc.faults.is_empty());
    sc
}

#[test]
fn shrunk_schedule_fails_the_same_check_and_replays_exactly() {
    let sc = failing_scenario();
    let report = world::run(&sc, RunOptions::default()).report;
    let kind = report.violation.as_ref().map(|v| v.failure.kind);
    assert_eq!(kind, Some(ViolationKind::StuckRequest));

    let mut steps = 0;
    let shrunk = shrink::shrink(&sc, &report, 200, |_| steps += 1);
    assert!(
        shrunk.scenario.faults.len() < sc.faults.len(),
        "faults were dropped"
    );
    assert!(steps > 0);
    let file = shrunk.replay_file();
    assert_eq!(file.expected, Some(ViolationKind::StuckRequest));

    let json = serde_json::to_string_pretty(&file).unwrap();
    let back: ReplayFile = serde_json::from_str(&json).unwrap();
    let again = world::run(&back.scenario, RunOptions::default()).report;
    assert_eq!(again.violation.map(|v| v.failure.kind), back.expected);
    assert_eq!(again.trace_hash, back.trace_hash, "the replay is exact");
}

#[test]
fn cli_replays_a_saved_scenario_with_the_failure_exit_code() {
    let sc = failing_scenario();
    let report = world::run(&sc, RunOptions::default()).report;
    let file = ReplayFile {
        expected: Some(ViolationKind::StuckRequest),
        trace_hash: report.trace_hash,
        scenario: sc,
    };
    let dir = std::env::temp_dir().join(format!("sansraft-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("replay.json");
    std::fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sansraft-sim"))
        .args(["run", "--replay"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(i32::from(ViolationKind::StuckRequest.exit_code())),
        "{stdout}"
    );
    assert!(stdout.contains("reproduced exactly"), "{stdout}");
    assert!(
        stdout.contains(&format!("{:016x}", report.trace_hash)),
        "{stdout}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cli_run_and_sweep_pass_on_a_calm_cluster() {
    let bin = env!("CARGO_BIN_EXE_sansraft-sim");
    let short = [
        "--fault-ms",
        "3000",
        "--liveness-ms",
        "3000",
        "--nodes",
        "3",
    ];
    let run = Command::new(bin)
        .args(["run", "--seed", "5", "--profile", "calm"])
        .args(short)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}");
    assert!(
        stdout.contains("trace hash") && stdout.contains("result: PASS"),
        "{stdout}"
    );
    let sweep = Command::new(bin)
        .args([
            "sweep",
            "--seeds",
            "6",
            "--jobs",
            "2",
            "--profile",
            "crashes",
        ])
        .args(short)
        .env("CI", "true")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&sweep.stdout);
    assert!(sweep.status.success(), "{stdout}");
    assert!(
        stdout.contains("seeds run") && stdout.contains("events/s"),
        "{stdout}"
    );
}
