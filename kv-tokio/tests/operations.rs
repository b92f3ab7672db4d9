//! End to end, what an operator sees: `/health` and `/metrics`, a graceful stop on SIGTERM that
//! hands leadership off, scans paged with a cursor, and errors in one JSON shape; with several
//! groups, idle groups going quiet and the host's figures.
//!
//! Every wait is a retry loop with a deadline; nothing relies on a sleep being long enough.

use std::collections::BTreeMap;
use std::time::Duration;
// Wall-clock time, outside the engine: deadlines and how fast a new leader comes.
use tokio::time::Instant;

mod common;
use common::{client, leader, scan, status, write_keys, Cluster};

/// `GET path` at `http`: its status and body, if it answered.
async fn get(client: &reqwest::Client, http: &str, path: &str) -> Option<(u16, String)> {
    let response = client
        .get(format!("http://{http}{path}"))
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

/// Polls `/health` at `http` until it answers `want`; that answer's JSON body.
async fn health_until(client: &reqwest::Client, http: &str, want: u16) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some((status, body)) = get(client, http, "/health").await {
            let body: serde_json::Value = serde_json::from_str(&body).expect("health is JSON");
            if status == want {
                return body;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{http}/health did not answer {want} within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Parses the Prometheus text format: every sample as `name{labels}` → value. Panics on a line
/// that is neither a comment nor a sample.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            assert!(
                line.is_empty() || line.starts_with("# HELP ") || line.starts_with("# TYPE "),
                "bad comment line {line:?}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "unclosed labels in {line:?}");
        }
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "{series} twice"
        );
    }
    samples
}

async fn metrics(client: &reqwest::Client, http: &str) -> BTreeMap<String, f64> {
    let (status, text) = get(client, http, "/metrics")
        .await
        .expect("/metrics answers");
    assert_eq!(status, 200, "{text}");
    parse_metrics(&text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_turns_ready_as_the_cluster_elects_and_metrics_show_the_roles() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cluster = Cluster::new(dir.path(), 3, |_| Vec::new());
    let client = client();
    // Alone, node 1 can elect no one.
    cluster.spawn(0);
    let sick = health_until(&client, &cluster.http(0), 503).await;
    assert_eq!(sick["healthy"], false);
    assert_eq!(sick["reason"], "no leader known");
    cluster.spawn(1);
    cluster.spawn(2);
    for i in 0..3 {
        let well = health_until(&client, &cluster.http(i), 200).await;
        assert_eq!(well["healthy"], true);
        assert_eq!(well["reason"], serde_json::Value::Null);
        assert!(well["leader"].is_u64(), "{well}");
    }
    let first = leader(&client, &cluster, &[0, 1, 2]).await;
    let http: Vec<String> = (0..3).map(|i| cluster.http(i)).collect();
    write_keys(&client, http, 0..50).await;

    let follower = (first + 1) % 3;
    // Only the leader tracks its peers.
    let peer = |id: usize| format!("kv_raft_peer_match_index{{peer=\"{}\"}}", id + 1);
    // The follower may not have heard of the last commit yet, nor the leader of its
    // acknowledgement (the other follower's made the commit): wait for both.
    let deadline = Instant::now() + Duration::from_secs(15);
    let (lead, follow) = loop {
        let lead = metrics(&client, &cluster.http(first)).await;
        let follow = metrics(&client, &cluster.http(follower)).await;
        if follow["kv_raft_applied_index"] >= lead["kv_raft_commit_index"]
            && lead[&peer(follower)] >= lead["kv_raft_commit_index"]
        {
            break (lead, follow);
        }
        assert!(Instant::now() < deadline, "follower not caught up in 15 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(lead["kv_raft_role{role=\"leader\"}"], 1.0);
    assert_eq!(lead["kv_raft_role{role=\"follower\"}"], 0.0);
    assert_eq!(follow["kv_raft_role{role=\"leader\"}"], 0.0);
    assert_eq!(follow["kv_raft_role{role=\"follower\"}"], 1.0);
    assert!(lead["kv_raft_term"] >= 1.0);
    assert_eq!(lead["kv_raft_term"], follow["kv_raft_term"]);
    // 50 writes and the leader's first entry, at least.
    assert!(lead["kv_raft_commit_index"] >= 51.0, "{lead:?}");
    assert!(lead["kv_raft_applied_index"] <= lead["kv_raft_commit_index"]);
    assert!(lead["kv_raft_commit_index"] <= lead["kv_raft_last_log_index"]);
    assert_eq!(lead["kv_raft_leaders_elected_total"], 1.0);
    assert_eq!(follow["kv_raft_leaders_elected_total"], 0.0);
    assert!(lead["kv_raft_proposals_total{outcome=\"accepted\"}"] >= 50.0);
    assert!(lead["kv_wal_fsync_seconds_count"] >= 1.0);
    assert!(follow["kv_wal_fsync_seconds_count"] >= 1.0);
    assert!(lead[&peer(follower)] >= 51.0, "{lead:?}");
    assert!(!follow.keys().any(|k| k.starts_with("kv_raft_peer_")));
    assert!(lead.contains_key("kv_raft_ignored_inputs_total{kind=\"stale_ack\"}"));
}

/// 8 groups on 3 nodes: every group elects a leader, writes spread over the groups cost fewer
/// syncs than group writes, every group goes quiet once idle, and a scan sees every key once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_groups_idle_groups_go_quiet_and_metrics_show_the_host() {
    const GROUPS: f64 = 8.0;
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = Cluster::start(dir.path(), 3, |_| vec!["--groups".into(), "8".into()]);
    let client = client();
    for i in 0..3 {
        health_until(&client, &cluster.http(i), 200).await;
    }
    let http: Vec<String> = (0..3).map(|i| cluster.http(i)).collect();
    let acked = write_keys(&client, http.clone(), 0..400).await;
    for h in &http {
        assert_eq!(scan(&client, h).await, acked, "{h} differs");
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let all = loop {
        let all = [
            metrics(&client, &http[0]).await,
            metrics(&client, &http[1]).await,
            metrics(&client, &http[2]).await,
        ];
        if all.iter().all(|m| m["kv_groups_quiet"] == GROUPS) {
            break all;
        }
        assert!(
            Instant::now() < deadline,
            "groups still awake after 15 s idle: {:?}",
            all.iter().map(|m| m["kv_groups_quiet"]).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let leaders: f64 = all.iter().map(|m| m["kv_raft_role{role=\"leader\"}"]).sum();
    assert_eq!(leaders, GROUPS, "one leader per group");
    for m in &all {
        assert_eq!(m["kv_groups"], GROUPS);
        let (writes, group_writes) = (
            m["kv_host_total{kind=\"writes\"}"],
            m["kv_host_total{kind=\"group_writes\"}"],
        );
        assert!(group_writes > writes && writes >= 1.0, "{m:?}");
        assert!(m["kv_host_total{kind=\"batches\"}"] >= 1.0, "{m:?}");
    }
    let s = status(&client, &http[0]).await.expect("status");
    let each = s["groups"].as_array().expect("groups");
    assert_eq!(each.len(), 8);
    assert!(
        each.iter()
            .all(|g| g["quiet"] == true && g["leader"].is_u64()),
        "{s}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_on_the_leader_hands_off_leadership_and_loses_no_acknowledged_write() {
    // Ticks of 50 ms: an election timeout of 500 ms, far more than a hand-off takes, and less
    // than a new election would (it waits at least one timeout after the last heartbeat).
    const TICK_MS: u64 = 50;
    let election_timeout = Duration::from_millis(10 * TICK_MS);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cluster = Cluster::start(dir.path(), 3, |_| {
        vec!["--tick-ms".into(), TICK_MS.to_string()]
    });
    let client = client();
    let all: Vec<usize> = (0..3).collect();
    let first = leader(&client, &cluster, &all).await;
    let old_term = status(&client, &cluster.http(first)).await.expect("status")["term"]
        .as_u64()
        .expect("term");
    let http: Vec<String> = all.iter().map(|&i| cluster.http(i)).collect();
    let mut acked = write_keys(&client, http.clone(), 0..200).await;

    // Writes go on while the leader stops.
    let writing = tokio::spawn({
        let (client, http) = (client.clone(), http.clone());
        async move { write_keys(&client, http, 200..400).await }
    });
    cluster.terminate(first);
    let stopped = Instant::now();
    let rest: Vec<usize> = all.iter().copied().filter(|&i| i != first).collect();
    let new_leader = loop {
        let mut found = None;
        for &i in &rest {
            if let Some(s) = status(&client, &cluster.http(i)).await {
                if s["role"] == "leader" && s["term"].as_u64() > Some(old_term) {
                    found = Some(i);
                }
            }
        }
        if let Some(i) = found {
            break i;
        }
        assert!(
            stopped.elapsed() < election_timeout,
            "no new leader within an election timeout ({election_timeout:?}) of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let exit = cluster.exited(first, Duration::from_secs(10)).await;
    assert!(exit.success(), "the stopped leader exited with {exit}");
    acked.extend(writing.await.expect("writer task"));
    assert_eq!(acked.len(), 400);
    for &i in &rest {
        assert_eq!(
            scan(&client, &cluster.http(i)).await,
            acked,
            "node {} differs",
            i + 1
        );
    }
    let log = cluster.log(cluster.servers[first].id);
    for stage in [
        "stopping gracefully",
        "handing leadership off before stopping",
        "leadership hand-off ended; stopping",
        "node loop stopped",
        "storage closed; stopped",
    ] {
        assert!(log.contains(stage), "the log does not say {stage:?}");
    }
    let new_id = cluster.servers[new_leader].id;
    assert!(
        cluster.log(new_id).contains("became leader"),
        "node {new_id} did not log its election"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_over_several_pages_returns_every_key_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = Cluster::start(dir.path(), 1, |_| Vec::new());
    let client = client();
    leader(&client, &cluster, &[0]).await;
    let http = cluster.http(0);
    let acked = write_keys(&client, vec![http.clone()], 0..250).await;
    // Another prefix, which the pages must not include.
    let other = client
        .put(format!("http://{http}/kv/other"))
        .body("x")
        .send()
        .await
        .expect("an answer");
    assert_eq!(other.status(), 200);
    let mut seen = BTreeMap::new();
    let mut pages = 0;
    let mut after = String::new();
    loop {
        let cursor = if pages == 0 {
            String::new()
        } else {
            format!("&after={after}")
        };
        let (status, body) = get(
            &client,
            &http,
            &format!("/kv?prefix=key-&limit=100{cursor}"),
        )
        .await
        .expect("scan answered");
        assert_eq!(status, 200, "{body}");
        let page: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        pages += 1;
        for pair in page["pairs"].as_array().expect("pairs") {
            let key = pair[0].as_str().expect("key").to_owned();
            let value = pair[1].as_str().expect("value").to_owned();
            assert!(seen.insert(key.clone(), value).is_none(), "{key} twice");
        }
        assert_eq!(page["more"], page["truncated"], "`more` is kept as it was");
        if page["truncated"] == false {
            assert!(page.get("next").is_none(), "no cursor on the last page");
            break;
        }
        let last = page["pairs"]
            .as_array()
            .and_then(|p| p.last())
            .expect("a pair");
        assert_eq!(page["next"], last[0], "the cursor is the last key answered");
        after = page["next"].as_str().expect("next").to_owned();
        assert!(pages < 10, "the pages do not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, acked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_answer_has_one_json_shape() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = Cluster::start(dir.path(), 1, |_| Vec::new());
    let client = client();
    leader(&client, &cluster, &[0]).await;
    let http = cluster.http(0);
    let cases: [(reqwest::Method, &str, Vec<u8>, u16, &str); 8] = [
        (
            reqwest::Method::GET,
            "/no/such/route",
            vec![],
            404,
            "not_found",
        ),
        (
            reqwest::Method::GET,
            "/kv/absent",
            vec![],
            404,
            "no_such_key",
        ),
        (
            reqwest::Method::POST,
            "/status",
            vec![],
            405,
            "method_not_allowed",
        ),
        (
            reqwest::Method::GET,
            "/kv?limit=many",
            vec![],
            400,
            "bad_request",
        ),
        (
            reqwest::Method::GET,
            "/kv?limit=0",
            vec![],
            400,
            "bad_request",
        ),
        (
            reqwest::Method::PUT,
            "/kv/k?client=x&seq=1",
            b"v".to_vec(),
            400,
            "bad_request",
        ),
        (
            reqwest::Method::POST,
            "/admin/learners/abc",
            vec![],
            400,
            "bad_request",
        ),
        (
            reqwest::Method::PUT,
            "/kv/big",
            vec![b'x'; (1 << 20) + 1],
            413,
            "payload_too_large",
        ),
    ];
    for (method, path, body, want_status, want_code) in cases {
        let response = client
            .request(method.clone(), format!("http://{http}{path}"))
            .body(body)
            .send()
            .await
            .expect("an answer");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let json: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text:?}"));
        assert_eq!(status, want_status, "{method} {path}: {json}");
        assert_eq!(json["error"]["code"], want_code, "{method} {path}: {json}");
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{method} {path}: {json}"
        );
    }
}
