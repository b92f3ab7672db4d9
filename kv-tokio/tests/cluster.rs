//! End to end: three `kv-tokio serve` processes on loopback ports. Write 1,000 keys, kill the
//! leader, write 1,000 more, restart the killed node, and check with linearizable reads at every
//! node that all 2,000 acknowledged writes are there. The restarted node is too far behind for
//! the leader's compacted log, so it catches up by a chunked snapshot transfer. The same with
//! the keys sharded into two Raft groups (`--groups 2`), and a restart with another number of
//! groups refused; and with six groups, leadership spread over the nodes.
//!
//! Every wait is a retry loop with a deadline; nothing relies on a sleep being long enough.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
// Wall-clock time, outside the engine: client deadlines and the measured figures.
use tokio::time::Instant;

mod common;
use common::{cas_request, client, leader, redirect_target, scan, status, write_keys, Cluster};

const NODES: u64 = 3;
const KEYS_PER_PHASE: usize = 1000;

/// Garbage on the peer port must close the connection, never stop the node.
fn send_garbage(raft: SocketAddr) {
    let mut oversized = TcpStream::connect(raft).expect("connect to a peer port");
    let _ = oversized.write_all(&u32::MAX.to_be_bytes());
    let mut corrupt = TcpStream::connect(raft).expect("connect to a peer port");
    let _ = corrupt.write_all(&[0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_loses_no_acknowledged_write_and_catches_up_on_restart() {
    killed_leader(1).await;
}

/// Two groups: a node leads one, both or neither; each group of the restarted node catches up
/// by its own snapshot transfer (about 500 writes each, past the 50 entries kept).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_groups_a_killed_node_loses_no_acknowledged_write_and_catches_up_on_restart() {
    killed_leader(2).await;
}

/// Kills group 0's leader of a cluster of `groups` groups, as above.
async fn killed_leader(groups: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cluster = Cluster::start(dir.path(), NODES, |_| {
        vec!["--groups".into(), groups.to_string()]
    });
    let client = client();
    let all: Vec<usize> = (0..NODES as usize).collect();
    let first = leader(&client, &cluster, &all).await;

    send_garbage(cluster.servers[0].raft);
    let http: Vec<String> = all.iter().map(|&i| cluster.http(i)).collect();
    let mut acked = write_keys(&client, http.clone(), 0..KEYS_PER_PHASE).await;
    assert_eq!(acked.len(), KEYS_PER_PHASE);

    // Kill the leader; the other two elect a new one and take the next thousand writes.
    cluster.kill(first);
    let live: Vec<usize> = all.iter().copied().filter(|&i| i != first).collect();
    let live_http: Vec<String> = live.iter().map(|&i| cluster.http(i)).collect();
    acked.extend(write_keys(&client, live_http, KEYS_PER_PHASE..2 * KEYS_PER_PHASE).await);
    assert_eq!(acked.len(), 2 * KEYS_PER_PHASE);

    // Restart it: it recovers its own log and snapshot, then needs the leader's snapshot.
    cluster.spawn(first);
    for &i in &all {
        // Linearizable: the first read served must already hold every acknowledged write.
        let pairs = scan(&client, &cluster.http(i)).await;
        let missing: Vec<&String> = acked.keys().filter(|k| !pairs.contains_key(*k)).collect();
        assert!(
            missing.is_empty(),
            "node {} lost {} acknowledged writes, e.g. {:?}",
            i + 1,
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        assert_eq!(pairs, acked, "node {} holds other values", i + 1);
    }
    let restarted = cluster.servers[first].id;
    assert!(
        cluster.log(restarted).contains("installing snapshot"),
        "node {restarted} caught up without a snapshot transfer"
    );
    assert!(
        cluster.log(1).contains("peer handshake failed"),
        "node 1 did not refuse the garbage at the handshake"
    );
    for i in all {
        assert!(cluster.is_running(i), "node {} exited", i + 1);
    }
    let s = status(&client, &cluster.http(first)).await.expect("status");
    let each = s["groups"].as_array().expect("every group's status");
    assert_eq!(each.len() as u64, groups, "{s}");
}

/// Six groups over three nodes: each group's leadership settles on its preferred node (group
/// `g` on node `g mod 3 + 1`), so every node leads two groups, whichever node won the first
/// elections; writes sent to any node still reach each key's leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_groups_leadership_spreads_over_the_nodes() {
    const GROUPS: u64 = 6;
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = Cluster::start(dir.path(), NODES, |_| {
        vec!["--groups".into(), GROUPS.to_string()]
    });
    let client = client();
    let preferred: Vec<u64> = (0..GROUPS).map(|g| g % NODES + 1).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut leaders = Vec::new();
    while leaders != preferred {
        assert!(
            Instant::now() < deadline,
            "leadership did not settle on the preferred nodes {preferred:?} within 30 s: {leaders:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Every node must agree on each group's leader.
        let mut seen = Vec::new();
        for i in 0..NODES as usize {
            let Some(s) = status(&client, &cluster.http(i)).await else {
                continue;
            };
            let groups = s["groups"].as_array().cloned().unwrap_or_default();
            seen.push(
                groups
                    .iter()
                    .map(|g| g["leader"].as_u64().unwrap_or(0))
                    .collect(),
            );
        }
        leaders = match seen.windows(2).all(|w| w[0] == w[1]) && seen.len() == NODES as usize {
            true => seen.pop().unwrap_or_default(),
            false => Vec::new(),
        };
    }
    for node in 1..=NODES {
        let led = leaders.iter().filter(|&&l| l == node).count();
        assert_eq!(
            led, 2,
            "node {node} leads {led} of {GROUPS} groups: {leaders:?}"
        );
    }
    // Each write goes to any node and is redirected to its group's leader.
    let http: Vec<String> = (0..NODES as usize).map(|i| cluster.http(i)).collect();
    let acked = write_keys(&client, http.clone(), 0..60).await;
    assert_eq!(acked.len(), 60);
    let pairs = scan(&client, &http[1]).await;
    assert_eq!(pairs, acked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_another_number_of_groups_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let groups = |n: u64| vec!["--groups".to_owned(), n.to_string()];
    let mut cluster = Cluster::new(dir.path(), 1, |_| groups(4));
    cluster.spawn(0);
    let client = client();
    leader(&client, &cluster, &[0]).await;
    cluster.kill(0);
    cluster.set_flags(0, groups(2));
    cluster.spawn(0);
    let exit = cluster.exited(0, Duration::from_secs(10)).await;
    assert!(!exit.success(), "started with another --groups");
    let log = cluster.log(1);
    assert!(
        log.contains("created with --groups 4, not 2"),
        "no clear error: {log}"
    );
    // With the number it was created with, it starts again.
    cluster.set_flags(0, groups(4));
    cluster.spawn(0);
    leader(&client, &cluster, &[0]).await;
}

/// Sends an admin request until a node carries it out, following redirects to the leader and
/// retrying refusals that say "not yet" (`503`, and `409` when `conflict_is_transient`).
async fn admin(
    client: &reqwest::Client,
    targets: &[String],
    method: reqwest::Method,
    path: &str,
    conflict_is_transient: bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut at = 0;
    let mut target = targets[0].clone();
    loop {
        assert!(
            Instant::now() < deadline,
            "{method} {path} not done within 20 s"
        );
        let sent = client
            .request(method.clone(), format!("http://{target}{path}"))
            .send()
            .await;
        if let Ok(response) = sent {
            let status = response.status();
            let location = redirect_target(&response);
            let body: serde_json::Value =
                serde_json::from_str(&response.text().await.unwrap_or_default())
                    .unwrap_or_default();
            match status.as_u16() {
                200 => return body,
                307 if location.is_some() => {
                    target = location.expect("checked");
                    continue;
                }
                409 if !conflict_is_transient => panic!("{method} {path} refused: {body}"),
                _ => {}
            }
        }
        at += 1;
        target = targets[at % targets.len()].clone();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until node `http` reports this configuration (no joint change in progress).
async fn wait_for_voters(client: &reqwest::Client, http: &str, voters: &[u64]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(s) = status(client, http).await {
            let members = &s["members"];
            if members["voters"] == serde_json::json!(voters)
                && members["outgoing"] == serde_json::json!([])
            {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{http} did not reach voters {voters:?} within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_changes_and_leadership_transfer_over_http() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Nodes 1 to 3 form the cluster; node 4 starts outside it and joins later.
    let mut cluster = Cluster::start(dir.path(), 4, |id| {
        let flags: &[&str] = if id == 4 {
            &["--join"]
        } else {
            &["--initial-voters", "1,2,3"]
        };
        flags.iter().map(|f| f.to_string()).collect()
    });
    let client = client();
    let first = leader(&client, &cluster, &[0, 1, 2]).await;
    let old: Vec<String> = (0..3).map(|i| cluster.http(i)).collect();
    let mut acked = write_keys(&client, old.clone(), 0..200).await;

    // Node 4: a learner first, a voter once it has caught up (thesis §4.2.1).
    admin(
        &client,
        &old,
        reqwest::Method::POST,
        "/admin/learners/4",
        false,
    )
    .await;
    admin(
        &client,
        &old,
        reqwest::Method::POST,
        "/admin/voters/4",
        true,
    )
    .await;
    wait_for_voters(&client, &cluster.http(3), &[1, 2, 3, 4]).await;

    // Remove the leader: the other three carry on without it (thesis §4.2.2).
    let removed = cluster.servers[first].id;
    let path = format!("/admin/members/{removed}");
    admin(&client, &old, reqwest::Method::DELETE, &path, false).await;
    let rest: Vec<usize> = (0..4).filter(|&i| i != first).collect();
    let voters: Vec<u64> = rest.iter().map(|&i| i as u64 + 1).collect();
    for &i in &rest {
        wait_for_voters(&client, &cluster.http(i), &voters).await;
    }

    // Hand leadership to node 4, then write through it.
    let rest_http: Vec<String> = rest.iter().map(|&i| cluster.http(i)).collect();
    if leader(&client, &cluster, &rest).await != 3 {
        let done = admin(
            &client,
            &rest_http,
            reqwest::Method::POST,
            "/admin/transfer/4",
            true,
        )
        .await;
        assert_eq!(done["leader"], 4);
    }
    assert_eq!(leader(&client, &cluster, &rest).await, 3);
    acked.extend(write_keys(&client, rest_http, 200..300).await);
    assert_eq!(scan(&client, &cluster.http(3)).await, acked);
    cluster.kill(first);
}

/// Sends `method path` with `body` to one node until it answers something other than "retry"
/// (`503`, or no answer): its status and JSON body (or text, for a value).
async fn request(
    client: &reqwest::Client,
    http: &str,
    method: reqwest::Method,
    path: &str,
    body: &'static str,
) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let sent = client
            .request(method.clone(), format!("http://{http}{path}"))
            .body(body)
            .send()
            .await;
        if let Ok(response) = sent {
            let status = response.status().as_u16();
            if status != 503 {
                return (status, response.text().await.unwrap_or_default());
            }
        }
        assert!(
            Instant::now() < deadline,
            "{method} {path} not served in 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Thesis §6.3 over HTTP: a write sent again with its client session applies once and gets its
/// first answer, also after a restart replays the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_write_with_a_client_session_applies_once() {
    use reqwest::Method;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cluster = Cluster::start(dir.path(), 1, |_| Vec::new());
    let client = client();
    leader(&client, &cluster, &[0]).await;
    let http = cluster.http(0);
    let json = |(status, body): (u16, String)| -> (u16, serde_json::Value) {
        (status, serde_json::from_str(&body).expect("a JSON answer"))
    };
    let first = json(request(&client, &http, Method::PUT, "/kv/k?client=7&seq=1", "a").await);
    assert_eq!((first.0, &first.1["retry"]), (200, &false.into()));
    // Another client writes the key; then client 7's retry arrives: it must not apply again.
    request(&client, &http, Method::PUT, "/kv/k", "b").await;
    for attempt in 0..2 {
        let retry = json(request(&client, &http, Method::PUT, "/kv/k?client=7&seq=1", "a").await);
        assert_eq!(retry.0, 200, "attempt {attempt}: {}", retry.1);
        assert_eq!(
            retry.1["index"], first.1["index"],
            "the first write's index"
        );
        assert_eq!(retry.1["retry"], true);
        let value = request(&client, &http, Method::GET, "/kv/k", "").await;
        assert_eq!(value, (200, "b".to_owned()), "the retry changed nothing");
        // The sessions come back with the log.
        cluster.kill(0);
        cluster.spawn(0);
        leader(&client, &cluster, &[0]).await;
    }
    // A newer write of client 7, then its older one again: refused, not applied.
    let second = json(request(&client, &http, Method::DELETE, "/kv/k?client=7&seq=2", "").await);
    assert_eq!((second.0, &second.1["existed"]), (200, &true.into()));
    let (status, _) = request(&client, &http, Method::PUT, "/kv/k?client=7&seq=1", "a").await;
    assert_eq!(status, 409);
    assert_eq!(
        request(&client, &http, Method::GET, "/kv/k", "").await.0,
        404
    );
    // A session needs both numbers, as numbers.
    for bad in ["/kv/k?client=7", "/kv/k?seq=1", "/kv/k?client=x&seq=1"] {
        let (status, body) = json(request(&client, &http, Method::PUT, bad, "a").await);
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

/// `POST /kv/KEY/cas` through the log: swaps only from the expected value (`null`: from
/// absence), answers whether it swapped, and applies once with a client session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_and_swap_over_http() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = Cluster::start(dir.path(), 1, |_| Vec::new());
    let client = client();
    leader(&client, &cluster, &[0]).await;
    let http = cluster.http(0);
    let cas = |session: Option<(u64, u64)>, expected: Option<&'static str>, new: &'static str| {
        let (client, http) = (client.clone(), http.clone());
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let sent = cas_request(&client, &http, "c", expected, new, session);
                let sent = sent.send().await;
                if let Ok(response) = sent {
                    let status = response.status().as_u16();
                    if status != 503 {
                        let body = response.text().await.expect("a body");
                        return (status, serde_json::from_str(&body).expect("JSON"));
                    }
                }
                assert!(Instant::now() < deadline, "cas not served in 20 s");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let swapped = |(status, body): (u16, serde_json::Value)| {
        assert_eq!(status, 200, "{body}");
        body["swapped"].as_bool().expect("swapped")
    };
    let value = || request(&client, &http, reqwest::Method::GET, "/kv/c", "");

    assert!(swapped(cas(None, None, "a").await), "absent, as expected");
    assert!(!swapped(cas(None, None, "b").await), "no longer absent");
    assert!(!swapped(cas(None, Some("x"), "b").await), "not x");
    assert_eq!(
        value().await,
        (200, "a".to_owned()),
        "failed swaps change nothing"
    );
    assert!(swapped(cas(None, Some("a"), "b").await));
    assert_eq!(value().await, (200, "b".to_owned()));

    // With a client session, a retry is answered with the first result, not applied again.
    let first = cas(Some((3, 1)), Some("b"), "c").await;
    assert_eq!((first.0, &first.1["swapped"]), (200, &true.into()));
    let retry = cas(Some((3, 1)), Some("b"), "c").await;
    assert_eq!(retry.1["retry"], true);
    assert_eq!(retry.1["swapped"], true, "the first result");
    assert_eq!(retry.1["index"], first.1["index"]);
    assert_eq!(value().await, (200, "c".to_owned()));

    // `expected` is required (null is not a default) and misspelt fields are refused.
    for body in [
        r#"{"new": "d"}"#,
        r#"{"expect": null, "new": "d"}"#,
        "not json",
    ] {
        let response = client
            .post(format!("http://{http}/kv/c/cas"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("an answer");
        let status = response.status().as_u16();
        let json: serde_json::Value =
            serde_json::from_str(&response.text().await.expect("body")).expect("JSON");
        assert_eq!(
            (status, &json["error"]["code"]),
            (400, &"bad_request".into()),
            "{body}: {json}"
        );
    }
    assert_eq!(value().await, (200, "c".to_owned()));
}
