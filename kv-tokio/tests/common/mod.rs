//! What the end-to-end tests share: a cluster of `kv-tokio serve` processes on free loopback
//! ports, an HTTP client, and waiting for a leader.

#![allow(
    dead_code,
    reason = "each test binary includes this module and uses a different part of it"
)]

mod faults;
pub(crate) mod record;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
// Wall-clock time, outside the engine: deadlines.
use tokio::time::Instant;

/// One server process of the cluster.
pub(crate) struct Server {
    pub(crate) id: u64,
    pub(crate) raft: SocketAddr,
    pub(crate) http: SocketAddr,
    /// Flags of this server beyond the common ones.
    extra: Vec<String>,
    child: Option<Child>,
}

/// The cluster's processes; killed on drop, with their logs printed if the test failed.
pub(crate) struct Cluster {
    pub(crate) servers: Vec<Server>,
    dir: PathBuf,
}

impl Cluster {
    /// Starts `nodes` servers, node `id` with the flags `extra(id)` added.
    pub(crate) fn start(dir: &Path, nodes: u64, extra: impl Fn(u64) -> Vec<String>) -> Cluster {
        let mut cluster = Cluster::new(dir, nodes, extra);
        for i in 0..nodes as usize {
            cluster.spawn(i);
        }
        cluster
    }

    /// Chooses the ports of `nodes` servers, node `id` with the flags `extra(id)` added, and
    /// starts none of them (see [`Cluster::spawn`]).
    pub(crate) fn new(dir: &Path, nodes: u64, extra: impl Fn(u64) -> Vec<String>) -> Cluster {
        // Hold every listener until all ports are chosen, so no two servers share one.
        let listeners: Vec<TcpListener> = (0..nodes * 2)
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free loopback port"))
            .collect();
        let addrs: Vec<SocketAddr> = listeners
            .iter()
            .map(|l| l.local_addr().expect("bound address"))
            .collect();
        drop(listeners);
        let servers = (0..nodes as usize)
            .map(|i| Server {
                id: i as u64 + 1,
                raft: addrs[2 * i],
                http: addrs[2 * i + 1],
                extra: extra(i as u64 + 1),
                child: None,
            })
            .collect();
        Cluster {
            servers,
            dir: dir.to_owned(),
        }
    }

    /// The file holding the cluster secret every server is started with.
    pub(crate) fn secret_file(&self) -> PathBuf {
        self.dir.join("cluster-secret")
    }

    pub(crate) fn spawn(&mut self, i: usize) {
        let secret = self.secret_file();
        if !secret.exists() {
            std::fs::write(&secret, random_secret()).expect("write the cluster secret");
        }
        let peers: Vec<String> = self
            .servers
            .iter()
            .map(|s| format!("{}={},{}", s.id, s.raft, s.http))
            .collect();
        let server = &self.servers[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("node-{}.log", server.id)))
            .expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_kv-tokio"));
        command
            .arg("serve")
            .args(["--id", &server.id.to_string()])
            .arg("--data-dir")
            .arg(self.dir.join(format!("data-{}", server.id)))
            // Snapshots and compaction every few hundred entries; small chunks, so that a
            // snapshot transfer takes several.
            .args(["--snapshot-every", "300", "--keep-entries", "50"])
            .args([
                "--snapshot-chunk-bytes",
                "8192",
                "--request-timeout-ms",
                "3000",
            ])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log);
        for peer in &peers {
            command.args(["--peer", peer]);
        }
        // The cluster's secret, unless the test gives this server its own or none.
        if !server
            .extra
            .iter()
            .any(|f| f == "--cluster-secret-file" || f == "--insecure-peers")
        {
            command.arg("--cluster-secret-file").arg(&secret);
        }
        command.args(&server.extra);
        let child = command.spawn().expect("start kv-tokio");
        self.servers[i].child = Some(child);
    }

    /// Replaces server `i`'s own flags (beyond the common ones) for its next start.
    pub(crate) fn set_flags(&mut self, i: usize, flags: Vec<String>) {
        self.servers[i].extra = flags;
    }

    pub(crate) fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.servers[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM to server `i` (with the `kill` command), as a service manager would.
    pub(crate) fn terminate(&mut self, i: usize) {
        self.signal(i, "TERM");
    }

    /// Waits, up to `timeout`, for server `i` to exit; its exit status.
    pub(crate) async fn exited(&mut self, i: usize, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let child = self.servers[i].child.as_mut().expect("a started server");
        loop {
            if let Some(status) = child.try_wait().expect("wait for a server") {
                self.servers[i].child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "node {} still running {timeout:?} after being asked to stop",
                i + 1
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) fn log(&self, id: u64) -> String {
        std::fs::read_to_string(self.dir.join(format!("node-{id}.log"))).unwrap_or_default()
    }

    pub(crate) fn http(&self, i: usize) -> String {
        self.servers[i].http.to_string()
    }

    /// Server `i`'s process id, while it runs.
    pub(crate) fn pid(&self, i: usize) -> Option<u32> {
        self.servers[i].child.as_ref().map(Child::id)
    }

    pub(crate) fn is_running(&mut self, i: usize) -> bool {
        match self.servers[i].child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.servers.len() {
            self.kill(i);
        }
        if std::thread::panicking() {
            for s in &self.servers {
                let log = self.log(s.id);
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                eprintln!("--- node {} log (last 40 lines) ---", s.id);
                for line in tail.into_iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
    }
}

/// 32 bytes that differ from run to run (the secret need not be strong in a test, only
/// unguessable by other tests' servers).
pub(crate) fn random_secret() -> Vec<u8> {
    use std::hash::{BuildHasher, Hasher};
    let state = std::collections::hash_map::RandomState::new();
    (0..4u64)
        .flat_map(|i| {
            let mut h = state.build_hasher();
            h.write_u64(i);
            h.finish().to_le_bytes()
        })
        .collect()
}

/// An HTTP client that does not follow redirects, with requests timing out after 4 s.
pub(crate) fn client() -> reqwest::Client {
    client_timing_out_after(Duration::from_secs(4))
}

/// An HTTP client that does not follow redirects, with requests timing out after `timeout`.
pub(crate) fn client_timing_out_after(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .build()
        .expect("HTTP client")
}

/// The node's `/status` answer, if it gives one.
pub(crate) async fn status(client: &reqwest::Client, http: &str) -> Option<serde_json::Value> {
    let response = client
        .get(format!("http://{http}/status"))
        .send()
        .await
        .ok()?;
    serde_json::from_str(&response.text().await.ok()?).ok()
}

/// The index of the node that says it leads, once one does (within the deadline).
pub(crate) async fn leader(client: &reqwest::Client, cluster: &Cluster, live: &[usize]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        for &i in live {
            if let Some(s) = status(client, &cluster.http(i)).await {
                if s["role"] == "leader" {
                    return i;
                }
            }
        }
        assert!(Instant::now() < deadline, "no leader elected within 15 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `HOST:PORT` a redirect points at.
pub(crate) fn redirect_target(response: &reqwest::Response) -> Option<String> {
    let location = response.headers().get("location")?.to_str().ok()?;
    let rest = location.strip_prefix("http://")?;
    rest.split('/').next().map(str::to_owned)
}

/// Concurrent writers of [`write_keys`].
const WRITERS: usize = 8;

/// Writes `key → value` until a node acknowledges it, following redirects to the leader and
/// trying the other live nodes when one fails.
pub(crate) async fn put(
    client: &reqwest::Client,
    targets: &[String],
    guess: &AtomicUsize,
    key: &str,
    value: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut target = targets[guess.load(Ordering::Relaxed) % targets.len()].clone();
    loop {
        assert!(
            Instant::now() < deadline,
            "write of {key} not acknowledged within 20 s"
        );
        let sent = client
            .put(format!("http://{target}/kv/{key}"))
            .body(value.to_owned())
            .send()
            .await;
        match sent {
            Ok(response) if response.status() == reqwest::StatusCode::OK => return,
            Ok(response) if response.status() == reqwest::StatusCode::TEMPORARY_REDIRECT => {
                if let Some(leader) = redirect_target(&response) {
                    if let Some(at) = targets.iter().position(|t| *t == leader) {
                        guess.store(at, Ordering::Relaxed);
                    }
                    target = leader;
                    continue;
                }
            }
            _ => {}
        }
        // No leader yet, the outcome unknown, or the node is gone: another node, a bit later.
        let next = guess.fetch_add(1, Ordering::Relaxed) + 1;
        target = targets[next % targets.len()].clone();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Writes keys `range` with `WRITERS` concurrent clients; returns the acknowledged pairs.
pub(crate) async fn write_keys(
    client: &reqwest::Client,
    targets: Vec<String>,
    range: std::ops::Range<usize>,
) -> BTreeMap<String, String> {
    let next = Arc::new(Mutex::new(range));
    let guess = Arc::new(AtomicUsize::new(0));
    let targets = Arc::new(targets);
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let (client, next, guess, targets) =
            (client.clone(), next.clone(), guess.clone(), targets.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            loop {
                let Some(i) = next.lock().expect("range").next() else {
                    return acked;
                };
                let (key, value) = (format!("key-{i:05}"), format!("value-{i}"));
                put(&client, &targets, &guess, &key, &value).await;
                acked.push((key, value));
            }
        }));
    }
    let mut acked = BTreeMap::new();
    for task in tasks {
        acked.extend(task.await.expect("writer task"));
    }
    acked
}

/// A linearizable scan of every `key-` pair at node `http`, retried only while the node
/// cannot serve reads (no leader yet, not caught up to the read index).
pub(crate) async fn scan(client: &reqwest::Client, http: &str) -> BTreeMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = client
            .get(format!("http://{http}/kv?prefix=key-"))
            .send()
            .await;
        if let Ok(response) = answer {
            if response.status() == reqwest::StatusCode::OK {
                let body: serde_json::Value =
                    serde_json::from_str(&response.text().await.expect("scan body"))
                        .expect("scan answer is JSON");
                let pairs = body["pairs"].as_array().expect("pairs").iter();
                return pairs
                    .map(|p| {
                        let k = p[0].as_str().expect("key").to_owned();
                        (k, p[1].as_str().expect("value").to_owned())
                    })
                    .collect();
            }
        }
        assert!(
            Instant::now() < deadline,
            "no read served by {http} within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A compare-and-swap of `key` at node `http`: to `new` if its value is `expected` (`None`: if
/// it is absent); `session` is the client session `(client, seq)`, if any.
pub(crate) fn cas_request(
    client: &reqwest::Client,
    http: &str,
    key: &str,
    expected: Option<&str>,
    new: &str,
    session: Option<(u64, u64)>,
) -> reqwest::RequestBuilder {
    let query = session.map_or(String::new(), |(c, n)| format!("?client={c}&seq={n}"));
    client
        .post(format!("http://{http}/kv/{key}/cas{query}"))
        .header("content-type", "application/json")
        .body(serde_json::json!({ "expected": expected, "new": new }).to_string())
}
