//! End to end: strangers on the peer and client ports. A thousand connections that announce
//! huge frames and trickle bytes, send garbage or stall in the handshake cost a node little
//! memory, do not stop it serving writes and do not keep a restarted peer out; an
//! unauthenticated message never reaches the engine; a node with the wrong secret is kept out;
//! partial HTTP requests are cut off.
//!
//! Every wait is a retry loop with a deadline; nothing relies on a sleep being long enough.

use sansraft::message::Heartbeat;
use sansraft::{Body, Codec, Message};
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
// Wall-clock time, outside the engine: deadlines.
use tokio::time::Instant;

mod common;
use common::{client, leader, put, status, Cluster};

/// The memory tests run one at a time: on two cores, two of them at once starve the servers.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How much a node's resident memory may grow under attack.
const MAX_GROWTH_KIB: u64 = 64 << 10;

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("a VmRSS line");
    line.split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS in kB")
}

/// One kind of stranger on the peer port.
#[derive(Clone, Copy, Debug)]
enum Stranger {
    /// Announces a frame of `len` bytes, then sends a byte now and then.
    Trickler { len: u32 },
    /// Sends a kilobyte of bytes that mean nothing.
    Garbage,
    /// Starts a hello and stops halfway.
    StalledHello,
}

impl Stranger {
    /// Connects to `addr` and misbehaves until `until`, reconnecting whenever cut off.
    async fn run(self, addr: SocketAddr, until: Instant) {
        while Instant::now() < until {
            if let Ok(mut stream) = TcpStream::connect(addr).await {
                let _ = self.misbehave(&mut stream, until).await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn misbehave(self, stream: &mut TcpStream, until: Instant) -> std::io::Result<()> {
        match self {
            Stranger::Trickler { len } => {
                stream.write_all(&len.to_be_bytes()).await?;
                stream.write_all(&[7; 10]).await?;
            }
            Stranger::Garbage => {
                let garbage: Vec<u8> = (0..1024u32).map(|i| (i * 7919 % 251) as u8).collect();
                stream.write_all(&garbage).await?;
            }
            Stranger::StalledHello => stream.write_all(b"SRKVPEER\x01\0\0\0").await?,
        }
        let mut byte = [0u8; 1];
        while Instant::now() < until {
            // Closed by the node: try again.
            if let Ok(read) =
                tokio::time::timeout(Duration::from_millis(500), stream.read(&mut byte)).await
            {
                if read.unwrap_or(0) == 0 {
                    return Ok(());
                }
            }
            if let Stranger::Trickler { .. } = self {
                stream.write_all(&[7]).await?;
            }
        }
        Ok(())
    }
}

/// Enough open files for a thousand strangers: the soft limit raised to the hard one.
fn raise_file_limit() {
    let Ok((soft, hard)) = rlimit::Resource::NOFILE.get() else {
        return;
    };
    if soft < hard {
        let _ = rlimit::Resource::NOFILE.set(hard, hard);
    }
}

/// Strangers of `kinds`, `count` in all, misbehaving against `addr` until `until`.
fn strangers(
    addr: SocketAddr,
    kinds: &[Stranger],
    count: usize,
    until: Instant,
) -> Vec<tokio::task::JoinHandle<()>> {
    raise_file_limit();
    (0..count)
        .map(|i| tokio::spawn(kinds[i % kinds.len()].run(addr, until)))
        .collect()
}

/// Runs `count` strangers of `kinds` against `addr` for `duration`, while writing keys
/// through `http` and calling `meanwhile` once, halfway; returns the node `pid`'s resident
/// memory before and at its highest.
async fn attack(
    addr: SocketAddr,
    kinds: &[Stranger],
    count: usize,
    duration: Duration,
    pid: u32,
    http: &[String],
    meanwhile: impl std::future::Future<Output = ()>,
) -> (u64, u64) {
    let client = client();
    let guess = AtomicUsize::new(0);
    for i in 0..20 {
        put(&client, http, &guess, &format!("warm-{i}"), "v").await;
    }
    let before = rss_kib(pid);
    let until = Instant::now() + duration;
    let strangers = strangers(addr, kinds, count, until);
    let mut meanwhile = Some(meanwhile);
    let mut highest = before;
    let mut written = 0;
    while Instant::now() < until {
        put(&client, http, &guess, &format!("during-{written}"), "v").await;
        written += 1;
        highest = highest.max(rss_kib(pid));
        if until.saturating_duration_since(Instant::now()) < duration / 2 {
            if let Some(meanwhile) = meanwhile.take() {
                meanwhile.await;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if let Some(meanwhile) = meanwhile.take() {
        meanwhile.await;
    }
    for stranger in strangers {
        stranger.await.expect("stranger task");
    }
    highest = highest.max(rss_kib(pid));
    assert!(written > 0, "no write acknowledged during the attack");
    eprintln!(
        "resident memory {before} KiB before, {highest} KiB at most under attack \
         (+{} KiB); {written} writes acknowledged during it",
        highest - before
    );
    (before, highest)
}

/// What the leader at `http` says `peer` durably holds (`kv_raft_peer_match_index`).
async fn match_index(client: &reqwest::Client, http: &str, peer: u64) -> Option<u64> {
    let text = client
        .get(format!("http://{http}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let prefix = format!("kv_raft_peer_match_index{{peer=\"{peer}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|n| n.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_strangers_cost_little_memory_and_keep_no_peer_out() {
    let _heavy = HEAVY.lock().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cluster = Cluster::start(dir.path(), 3, |_| Vec::new());
    let client = client();
    let at = leader(&client, &cluster, &[0, 1, 2]).await;
    let http: Vec<String> = (0..3).map(|i| cluster.http(i)).collect();
    let kinds = [
        Stranger::Trickler { len: 16 << 20 },
        Stranger::Garbage,
        Stranger::StalledHello,
    ];
    let pid = cluster.pid(at).expect("the leader runs");
    let raft = cluster.servers[at].raft;
    // A follower restarted under attack must dial in to the leader again: its answers reach
    // the leader only over a new connection to the port the strangers crowd.
    let follower = (at + 1) % 3;
    let follower_id = cluster.servers[follower].id;
    let leader_http = cluster.http(at);
    let rejoined = async {
        cluster.kill(follower);
        cluster.spawn(follower);
        let guess = AtomicUsize::new(at);
        put(&client, &http, &guess, "after-restart", "v").await;
        let s = status(&client, &leader_http).await.expect("leader status");
        let commit = s["commit"].as_u64().expect("a commit index");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let held = match_index(&client, &leader_http, follower_id).await;
            if held.is_some_and(|m| m >= commit) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the restarted follower did not reconnect within 30 s (holds {held:?} of {commit})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    // 1,000 strangers, far more than the 64 unauthenticated connections the port holds from
    // strangers' addresses and the 8 from one address, for longer than the 3 s a handshake
    // may take.
    let (before, highest) = attack(
        raft,
        &kinds,
        1000,
        Duration::from_secs(10),
        pid,
        &http,
        rejoined,
    )
    .await;
    assert!(
        highest - before <= MAX_GROWTH_KIB,
        "grew from {before} to {highest} KiB"
    );
    let s = status(&client, &cluster.http(at)).await.expect("status");
    let port = &s["peer_port"];
    assert!(port["evicted_connections"].as_u64() > Some(0), "{port}");
    assert!(port["failed_handshakes"].as_u64() > Some(0), "{port}");
    let log = cluster.log(cluster.servers[at].id);
    assert!(log.contains("closing the oldest"), "no eviction logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_are_read_as_they_arrive_not_as_announced() {
    let _heavy = HEAVY.lock().await;
    let dir = tempfile::tempdir().expect("temp dir");
    // No handshake, and room for every stranger: only the frame reader stands in the way.
    let flags = [
        "--insecure-peers",
        "--max-peer-connections",
        "1000",
        "--max-peer-connections-per-address",
        "1000",
    ];
    let cluster = Cluster::start(dir.path(), 1, |_| {
        flags.iter().map(|f| f.to_string()).collect()
    });
    let client = client();
    leader(&client, &cluster, &[0]).await;
    // Each announces a frame at the 4 MiB cap: allocated as announced, 300 of them would take
    // 1.2 GiB.
    let kinds = [Stranger::Trickler { len: 4 << 20 }];
    let pid = cluster.pid(0).expect("the node runs");
    let http = [cluster.http(0)];
    let (before, highest) = attack(
        cluster.servers[0].raft,
        &kinds,
        300,
        Duration::from_secs(4),
        pid,
        &http,
        async {},
    )
    .await;
    assert!(
        highest - before <= MAX_GROWTH_KIB,
        "grew from {before} to {highest} KiB"
    );
    let log = cluster.log(1);
    assert!(log.contains("--insecure-peers"), "no warning at start");
}

/// A heartbeat from node 2 in a term no cluster reaches, framed as a peer would send it.
fn forged_frame() -> Vec<u8> {
    let message = Message {
        from: 2,
        to: 1,
        term: 1 << 40,
        body: Body::Heartbeat(Heartbeat {
            commit: 1 << 40,
            round: 1,
        }),
    };
    let mut body = Vec::new();
    message.encode_into(&mut body);
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthenticated_message_never_reaches_the_engine() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = Cluster::start(dir.path(), 3, |_| Vec::new());
    let client = client();
    leader(&client, &cluster, &[0, 1, 2]).await;
    let term = |s: &serde_json::Value| s["term"].as_u64().expect("a term");
    let before = term(&status(&client, &cluster.http(0)).await.expect("status"));
    let mut stream = TcpStream::connect(cluster.servers[0].raft)
        .await
        .expect("connect");
    stream.write_all(&forged_frame()).await.expect("write");
    // The node hangs up without reading on.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the connection stayed open");
    let s = status(&client, &cluster.http(0)).await.expect("status");
    assert!(
        term(&s) < 1 << 40,
        "the forged term reached node 1 (term {before} before)"
    );
    assert_eq!(term(&s), before, "node 1's term changed");
    assert_eq!(s["peer_port"]["failed_handshakes"], 1, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_the_wrong_secret_is_kept_out() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wrong = dir.path().join("wrong-secret");
    std::fs::write(&wrong, common::random_secret()).expect("write the wrong secret");
    let wrong = wrong.to_str().expect("a UTF-8 path").to_owned();
    let cluster = Cluster::start(dir.path(), 3, |id| {
        if id == 3 {
            vec!["--cluster-secret-file".into(), wrong.clone()]
        } else {
            Vec::new()
        }
    });
    let client = client();
    let at = leader(&client, &cluster, &[0, 1]).await;
    let http = [cluster.http(0), cluster.http(1)];
    let guess = AtomicUsize::new(0);
    for i in 0..20 {
        put(&client, &http, &guess, &format!("key-{i}"), "v").await;
    }
    // Node 3 never hears of the leader, and both sides logged the refusals.
    let s = status(&client, &cluster.http(2)).await.expect("status");
    assert_eq!(s["leader"], serde_json::Value::Null, "{s}");
    assert_eq!(s["commit"], 0, "{s}");
    let leader_status = status(&client, &cluster.http(at)).await.expect("status");
    assert!(
        leader_status["peer_port"]["failed_handshakes"].as_u64() > Some(0),
        "{leader_status}"
    );
    for id in 1..=3 {
        assert!(
            cluster
                .log(id)
                .contains("wrong proof of the cluster secret"),
            "node {id} did not log the wrong secret"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_http_requests_are_closed_after_the_header_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let flags = ["--http-header-timeout-ms", "500"];
    let cluster = Cluster::start(dir.path(), 1, |_| {
        flags.iter().map(|f| f.to_string()).collect()
    });
    let client = client();
    leader(&client, &cluster, &[0]).await;
    let http = cluster.servers[0].http;
    let mut partial = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(http).await.expect("connect");
        stream
            .write_all(b"GET /status HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .expect("write");
        partial.push(stream);
    }
    // Served meanwhile.
    assert!(status(&client, &cluster.http(0)).await.is_some());
    let deadline = Instant::now() + Duration::from_secs(15);
    for (i, mut stream) in partial.into_iter().enumerate() {
        let mut rest = Vec::new();
        let left = deadline.saturating_duration_since(Instant::now());
        let closed = tokio::time::timeout(left, stream.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "partial request {i} still open after 15 s");
    }
}
