//! The trace viewers, on the shrunk replays of three canaries (tests/canaries/*.json):
//!
//! - the HTML page (`run --html`) loads in headless Chromium (`chromium --headless
//!   --dump-dom`), its script finishes without error, and the lanes, the legend (an entry per
//!   message kind) and the highlighted violation are in the rendered DOM;
//! - the Chrome trace-event export (`run --perfetto`) is JSON of the expected shape.
//!
//! Chromium is the Debian package `chromium` (`.ci/run` installs it when CI is set). Without
//! it the browser part says so and is skipped, except when `CI` is set, where it fails. Set
//! `CHROMIUM=/path/to/chrome` to use another binary.

use sansraft_sim::html::KINDS;
use sansraft_sim::shrink::ReplayFile;
use sansraft_sim::world::{self, RunOptions};
use sansraft_sim::{html, perfetto, RunReport, Scenario};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The replays drawn: name, and whether the violation is detected at a message's delivery.
const REPLAYS: [(&str, bool); 3] = [
    ("heartbeat_commit_beyond_match", true),
    ("figure_8", true),
    ("probe_below_commit", true),
];

fn traced(name: &str) -> (Scenario, RunReport, Vec<sansraft_sim::trace::TraceRecord>) {
    let path = format!("{}/tests/canaries/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let json = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let file: ReplayFile = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{path}: {e}"));
    let options = RunOptions {
        trace: true,
        ..RunOptions::default()
    };
    let out = world::run(&file.scenario, options);
    assert!(out.report.violation.is_some(), "{name}: the replay fails");
    (file.scenario, out.report, out.trace)
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The Chromium binary, if one is installed.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let names = ["chromium", "chromium-browser", "google-chrome", "chrome"];
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&dirs)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// The DOM of `page` after its scripts ran, without the scripts' own text.
fn dump_dom(chromium: &Path, page: &Path, anchor: &str) -> String {
    let profile = page.with_extension("profile");
    // The DOM goes to a file: a pipe nobody reads while waiting would fill up and block it.
    let out_path = page.with_extension(format!("{}dom", anchor.trim_start_matches('#')));
    let out = std::fs::File::create(&out_path).expect("create the DOM file");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}{anchor}", page.display()))
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", chromium.display()));
    // At most 60 s: a hung browser must fail the test, not the CI job's time limit.
    let mut waited_ms = 0;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if waited_ms >= 60_000 {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        waited_ms += 50;
    };
    assert!(status.success(), "chromium failed: {status}");
    let _ = std::fs::remove_dir_all(&profile);
    let dom = std::fs::read_to_string(&out_path).expect("the dumped DOM");
    // Drop <script>…</script>: the script's source names the elements it draws.
    let mut text = String::new();
    let mut rest = dom.as_str();
    while let Some(start) = rest.find("<script") {
        text.push_str(&rest[..start]);
        rest = rest[start..]
            .find("</script>")
            .map_or("", |end| &rest[start + end + "</script>".len()..]);
    }
    text.push_str(rest);
    text
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn pages_are_self_contained_and_carry_the_run() {
    for (name, _) in REPLAYS {
        let (sc, report, trace) = traced(name);
        let page = html::render(&trace, &report, &sc);
        for fetch in [
            "http://", "https://", "src=\"", "<link", "@import", "fetch(",
        ] {
            assert!(!page.contains(fetch), "{name}: the page fetches ({fetch})");
        }
        let v = report.violation.as_ref().expect("fails");
        let canary = sc.raft.canary.expect("a canary replay").name();
        for needle in [
            format!("seed {}", sc.seed),
            format!("canary {canary}"),
            format!("FAIL {} at event {}", v.failure.kind, v.event),
        ] {
            assert!(page.contains(&needle), "{name}: the title lacks {needle:?}");
        }
    }
}

#[test]
fn perfetto_export_is_trace_event_json() {
    for (name, _) in REPLAYS {
        let (sc, report, trace) = traced(name);
        let json: serde_json::Value = serde_json::from_str(&perfetto::render(&trace, &report, &sc))
            .unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
        let events = json["traceEvents"].as_array().expect("traceEvents");
        let ph = |p: &str| events.iter().filter(|e| e["ph"] == p).count();
        // A process per node (and the cluster's), named.
        let processes = (events.iter())
            .filter(|e| e["ph"] == "M" && e["name"] == "process_name")
            .count();
        assert_eq!(processes, sc.nodes + 1, "{name}");
        for e in events {
            assert!(e["pid"].is_u64() && e["ph"].is_string(), "{name}: {e}");
            if e["ph"] != "M" {
                assert!(e["ts"].is_u64() && e["name"].is_string(), "{name}: {e}");
            }
            if e["ph"] == "X" {
                assert!(e["dur"].is_u64(), "{name}: {e}");
            }
        }
        // Role slices, flows in pairs, and the violation as an instant.
        let roles = (events.iter())
            .filter(|e| e["ph"] == "X" && e["cat"] == "role")
            .count();
        assert!(roles >= sc.nodes, "{name}: {roles} role slices");
        assert!(ph("s") > 0 && ph("s") == ph("f"), "{name}: flows");
        let v = report.violation.as_ref().expect("fails");
        let marked = (events.iter())
            .filter(|e| e["cat"] == "violation" && e["args"]["event"] == v.event)
            .count();
        assert!(marked >= 1, "{name}: the violation is not marked");
    }
}

#[test]
fn pages_render_in_headless_chromium() {
    let Some(chromium) = chromium() else {
        assert!(
            !ci(),
            "CI is set but chromium is not installed (.ci/run installs it)"
        );
        eprintln!(
            "SKIPPED: chromium is not installed (apt-get install chromium, or set CHROMIUM); \
             the browser test runs only where it is"
        );
        return;
    };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("viewer");
    std::fs::create_dir_all(&dir).expect("temporary directory");
    for (name, at_delivery) in REPLAYS {
        let (sc, report, trace) = traced(name);
        let path = dir.join(format!("{name}.html"));
        std::fs::write(&path, html::render(&trace, &report, &sc)).expect("write the page");
        let dom = dump_dom(&chromium, &path, "");
        assert!(
            !dom.contains("id=\"script-error\""),
            "{name}: script error: {}",
            dom.split("id=\"script-error\"").nth(1).unwrap_or("")
        );
        assert!(
            dom.contains("data-viewer=\"ready\""),
            "{name}: the script did not finish"
        );
        assert_eq!(count(&dom, "class=\"lane\""), sc.nodes, "{name}: lanes");
        assert!(
            count(&dom, "class=\"band role-") >= sc.nodes,
            "{name}: roles"
        );
        assert!(
            count(&dom, "class=\"band member-") >= 1,
            "{name}: membership"
        );
        for kind in KINDS {
            let entry = format!("data-legend=\"msg-{kind}\"");
            assert!(dom.contains(&entry), "{name}: no legend entry for {kind}");
        }
        assert!(
            dom.contains("id=\"violation-line\""),
            "{name}: no violation"
        );
        let v = report.violation.as_ref().expect("fails");
        assert!(
            dom.contains(&format!("violation at event #{}", v.event)),
            "{name}: the violation's event number is not shown"
        );
        if at_delivery {
            assert!(
                dom.contains("id=\"violation-msg\""),
                "{name}: the message the violation names is not highlighted"
            );
        }
    }
    // The whole run of the heartbeat canary (`#all`): its partitions and its pause are bands
    // over the time they last, its faults are marked with their event numbers.
    let path = dir.join(format!("{}.html", REPLAYS[0].0));
    let dom = dump_dom(&chromium, &path, "#all");
    assert!(dom.contains("data-viewer=\"ready\""), "#all: not drawn");
    for band in [
        "band cond-cut",
        "band cond-paused",
        "band member-voter",
        "band role-leader",
    ] {
        assert!(dom.contains(band), "#all: no {band}");
    }
    assert!(dom.contains("class=\"fault\""), "#all: no faults");
    assert!(
        dom.contains("partition bridge n2"),
        "#all: the partition is not named"
    );
    // The error marker works: a page whose script throws is reported as such.
    let (sc, report, trace) = traced(REPLAYS[0].0);
    let broken = html::render(&trace, &report, &sc).replace("\"use strict\";", "null.boom;");
    let path = dir.join("broken.html");
    std::fs::write(&path, broken).expect("write the page");
    let dom = dump_dom(&chromium, &path, "");
    assert!(
        dom.contains("id=\"script-error\"") && dom.contains("data-viewer=\"error\""),
        "a script error went unnoticed"
    );
}
