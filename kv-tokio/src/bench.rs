//! The load loop: N concurrent clients write distinct keys to a running cluster's leader (each
//! key to its group's leader, with several groups) and report writes per second, latency
//! percentiles, 5xx answers, how far the term moved (an upper bound on leader changes) and what
//! the writes cost the write-ahead logs (syncs, and the groups' writes each carried).
//! Optionally a map of a given size is loaded first, unmeasured, so that every snapshot is
//! large. Bounded in count and in time.

use clap::Args;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
// Wall-clock time, outside the engine: client deadlines and the measured figures.
use tokio::time::Instant;

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// HTTP address of any node; the leader is found through its /status.
    #[arg(long, default_value = "127.0.0.1:8001")]
    addr: String,
    /// Instead of --addr: start a cluster of this many `kv-tokio serve` processes on free
    /// loopback ports with data in a temporary directory, measure it, and stop it.
    #[arg(long, default_value_t = 0)]
    local_cluster: u64,
    /// Concurrent clients, each with one request in flight.
    #[arg(long, default_value_t = 16)]
    clients: u64,
    /// Writes to make in total.
    #[arg(long, default_value_t = 20_000)]
    requests: u64,
    /// Stop after this many seconds even if writes remain.
    #[arg(long, default_value_t = 30)]
    max_seconds: u64,
    /// Bytes per value.
    #[arg(long, default_value_t = 100)]
    value_bytes: usize,
    /// Keys to write before the measured run (not measured), to give the map a size: a large
    /// map makes every snapshot large.
    #[arg(long, default_value_t = 0)]
    preload: u64,
    /// The measured run overwrites the preloaded keys, round robin, instead of writing new ones,
    /// so that the map keeps the size `--preload` gave it.
    #[arg(long)]
    overwrite: bool,
    /// With --local-cluster: the number of Raft groups the servers shard the keys into
    /// (`serve --groups`).
    #[arg(long, default_value_t = 1)]
    groups: u64,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub(crate) async fn run(args: BenchArgs) -> Result<(), BoxError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let local = match args.local_cluster {
        0 => None,
        n => Some(LocalCluster::start(n, args.groups)?),
    };
    let addr = local
        .as_ref()
        .map_or(args.addr.clone(), |c| c.http[0].clone());
    let value = bytes::Bytes::from(vec![b'v'; args.value_bytes]);
    if args.preload > 0 {
        println!("bench: loading {} keys first (not measured)", args.preload);
        let leaders = find_leaders(&client, &addr).await?;
        let load = Load {
            client: &client,
            leaders: &leaders,
            value: &value,
            clients: args.clients,
        };
        let preload = load
            .run(
                "preload",
                args.preload,
                Duration::from_secs(args.max_seconds * 10),
                None,
            )
            .await?;
        preload.print("preload");
    }
    // Asked again after the preload: a leader elected during it would otherwise answer every
    // measured write with a redirect.
    let leaders = find_leaders(&client, &addr).await?;
    let load = Load {
        client: &client,
        leaders: &leaders,
        value: &value,
        clients: args.clients,
    };
    let term_before = term(&client, &leaders[0]).await;
    let nodes: std::collections::BTreeSet<&String> = leaders.iter().collect();
    let wal_before = wal_counts(&client, &nodes).await;
    println!(
        "bench: {} writes of {} bytes, {} clients, at most {} s, {} group(s), leaders {nodes:?}",
        args.requests,
        args.value_bytes,
        args.clients,
        args.max_seconds,
        leaders.len()
    );
    let (prefix, wrap) = match args.overwrite {
        true => ("preload", Some(args.preload)),
        false => ("bench", None),
    };
    let run = load
        .run(
            prefix,
            args.requests,
            Duration::from_secs(args.max_seconds),
            wrap,
        )
        .await?;
    run.print("bench");
    let wal_after = wal_counts(&client, &nodes).await;
    let writes = run.latencies.len() as f64;
    for ((node, before), (_, after)) in wal_before.iter().zip(&wal_after) {
        let syncs = after.0 - before.0;
        let group_writes = after.1 - before.1;
        println!(
            "bench: node {node}: {syncs:.0} WAL syncs ({:.3} per acknowledged write), \
             {group_writes:.0} group writes ({:.2} per sync)",
            syncs / writes,
            group_writes / syncs.max(1.0)
        );
    }
    let term_after = term(&client, &addr).await;
    match (term_before, term_after) {
        (Some(before), Some(after)) => println!(
            "bench: term {before} -> {after}: {} leader change(s) at most",
            after - before
        ),
        _ => println!("bench: term unknown (no /status answer)"),
    }
    Ok(())
}

/// Concurrent clients writing distinct keys to their group's leader, one request in flight each.
struct Load<'a> {
    client: &'a reqwest::Client,
    /// Group `g`'s leader's HTTP address is `leaders[g]`.
    leaders: &'a [String],
    value: &'a bytes::Bytes,
    clients: u64,
}

/// What one load phase measured.
struct Measured {
    elapsed: Duration,
    /// Latencies of the writes that succeeded, sorted.
    latencies: Vec<Duration>,
    /// Answers with a 5xx status.
    server_errors: u64,
    /// The 5xx answers by their body (its first 120 bytes), for the report.
    server_error_reasons: BTreeMap<String, u64>,
    /// Other failures: 4xx answers, connections refused or reset, timeouts.
    other_errors: u64,
}

impl Load<'_> {
    /// Makes `count` writes, for at most `limit`, to keys `{prefix}-0`, `{prefix}-1`, … and, if
    /// `wrap` is given, round robin over the first `wrap` of them.
    async fn run(
        &self,
        prefix: &str,
        count: u64,
        limit: Duration,
        wrap: Option<u64>,
    ) -> Result<Measured, BoxError> {
        let wrap = wrap.filter(|&w| w > 0).unwrap_or(u64::MAX);
        let next = Arc::new(AtomicU64::new(0));
        let server_errors = Arc::new(AtomicU64::new(0));
        let reasons = Arc::new(Mutex::new(BTreeMap::new()));
        let other_errors = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let deadline = started + limit;
        let mut tasks = Vec::new();
        for _ in 0..self.clients {
            let reasons = reasons.clone();
            let (client, next, server_errors, other_errors, value) = (
                self.client.clone(),
                next.clone(),
                server_errors.clone(),
                other_errors.clone(),
                self.value.clone(),
            );
            let (leaders, prefix) = (self.leaders.to_vec(), prefix.to_owned());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count || Instant::now() >= deadline {
                        return latencies;
                    }
                    let at = Instant::now();
                    let key = format!("{prefix}-{}", i % wrap);
                    let leader = &leaders[crate::kv::group_of(&key, leaders.len() as u64) as usize];
                    let sent = client
                        .put(format!("http://{leader}/kv/{key}"))
                        .body(value.clone())
                        .send()
                        .await;
                    match sent {
                        Ok(response) if response.status().is_success() => {
                            latencies.push(at.elapsed())
                        }
                        Ok(response) if response.status().is_server_error() => {
                            server_errors.fetch_add(1, Ordering::Relaxed);
                            let body = response.text().await.unwrap_or_default();
                            let why: String = body.chars().take(120).collect();
                            let mut reasons = reasons.lock().unwrap_or_else(|e| e.into_inner());
                            *reasons.entry(why).or_insert(0) += 1;
                        }
                        _ => {
                            other_errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }));
        }
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await?);
        }
        latencies.sort_unstable();
        if latencies.is_empty() {
            return Err("no write succeeded".into());
        }
        let server_error_reasons =
            std::mem::take(&mut *reasons.lock().unwrap_or_else(|e| e.into_inner()));
        Ok(Measured {
            elapsed: started.elapsed(),
            latencies,
            server_errors: server_errors.load(Ordering::Relaxed),
            server_error_reasons,
            other_errors: other_errors.load(Ordering::Relaxed),
        })
    }
}

impl Measured {
    fn print(&self, phase: &str) {
        let writes = self.latencies.len();
        let pick = |q: f64| ms(self.latencies[((writes as f64 * q) as usize).min(writes - 1)]);
        println!(
            "{phase}: {writes} writes in {:.2} s: {:.0} writes/s; latency median {:.2} ms, \
             p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms; {} 5xx, {} other errors",
            self.elapsed.as_secs_f64(),
            writes as f64 / self.elapsed.as_secs_f64(),
            pick(0.5),
            pick(0.99),
            pick(0.999),
            ms(self.latencies[writes - 1]),
            self.server_errors,
            self.other_errors
        );
        for (why, count) in &self.server_error_reasons {
            println!("{phase}: {count} x 5xx {why:?}");
        }
    }
}

/// The term `addr` reports in its /status, if it answers.
async fn term(client: &reqwest::Client, addr: &str) -> Option<u64> {
    let response = client
        .get(format!("http://{addr}/status"))
        .send()
        .await
        .ok()?;
    let status: serde_json::Value = serde_json::from_str(&response.text().await.ok()?).ok()?;
    status["term"].as_u64()
}

/// Server processes started by the bench, stopped (and their data deleted) on drop.
#[derive(Debug)]
struct LocalCluster {
    children: Vec<std::process::Child>,
    http: Vec<String>,
    _dir: tempfile::TempDir,
}

impl LocalCluster {
    fn start(nodes: u64, groups: u64) -> Result<LocalCluster, BoxError> {
        let dir = tempfile::tempdir()?;
        // Hold every listener until all ports are chosen, so that no two nodes share one.
        let listeners = (0..nodes * 2)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
            .collect::<Result<Vec<_>, _>>()?;
        let addrs = listeners
            .iter()
            .map(|l| l.local_addr())
            .collect::<Result<Vec<_>, _>>()?;
        drop(listeners);
        let peers: Vec<String> = (0..nodes as usize)
            .map(|i| format!("{}={},{}", i + 1, addrs[2 * i], addrs[2 * i + 1]))
            .collect();
        let exe = std::env::current_exe()?;
        let mut cluster = LocalCluster {
            children: Vec::new(),
            http: (0..nodes as usize)
                .map(|i| addrs[2 * i + 1].to_string())
                .collect(),
            _dir: dir,
        };
        let secret = cluster._dir.path().join("cluster-secret");
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| format!("no random bytes for a secret: {e}"))?;
        std::fs::write(&secret, bytes)?;
        for id in 1..=nodes {
            let mut command = std::process::Command::new(&exe);
            command
                .args(["serve", "--id", &id.to_string(), "--data-dir"])
                .arg(cluster._dir.path().join(id.to_string()))
                .arg("--cluster-secret-file")
                .arg(&secret)
                .args(["--groups", &groups.to_string()])
                .env("RUST_LOG", "warn")
                .stdin(std::process::Stdio::null());
            for peer in &peers {
                command.args(["--peer", peer]);
            }
            cluster.children.push(command.spawn()?);
        }
        Ok(cluster)
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Each node's WAL syncs and group writes so far, from its /metrics (0 if it does not answer).
async fn wal_counts<'a>(
    client: &reqwest::Client,
    nodes: &std::collections::BTreeSet<&'a String>,
) -> Vec<(&'a String, (f64, f64))> {
    let mut counts = Vec::new();
    for &node in nodes {
        let text = match client.get(format!("http://{node}/metrics")).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let series = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
                .and_then(|n| n.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let syncs = series("kv_wal_fsync_seconds_count");
        counts.push((
            node,
            (syncs, series("kv_host_total{kind=\"group_writes\"}")),
        ));
    }
    counts
}

/// Every group's leader's HTTP address, in group order, asking `addr` until it knows them all
/// (for at most ten seconds).
async fn find_leaders(client: &reqwest::Client, addr: &str) -> Result<Vec<String>, BoxError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status: Option<serde_json::Value> =
            match client.get(format!("http://{addr}/status")).send().await {
                Ok(response) => response
                    .text()
                    .await
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok()),
                Err(_) => None,
            };
        let leaders: Option<Vec<String>> = status.as_ref().and_then(|s| {
            s["groups"]
                .as_array()?
                .iter()
                .map(|g| g["leader_http"].as_str().map(str::to_owned))
                .collect()
        });
        if let Some(leaders) = leaders.filter(|l| !l.is_empty()) {
            return Ok(leaders);
        }
        if Instant::now() >= deadline {
            return Err(
                format!("no leader of every group known at {addr} after ten seconds").into(),
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
