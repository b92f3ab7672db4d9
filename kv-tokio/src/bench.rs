//! The load loop: N concurrent clients write distinct keys to a running cluster's leader and
//! report writes per second and latency percentiles. Bounded in count and in time.

use clap::Args;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
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
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub(crate) async fn run(args: BenchArgs) -> Result<(), BoxError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let local = match args.local_cluster {
        0 => None,
        n => Some(LocalCluster::start(n)?),
    };
    let addr = local
        .as_ref()
        .map_or(args.addr.clone(), |c| c.http[0].clone());
    let leader = find_leader(&client, &addr).await?;
    println!(
        "bench: {} writes of {} bytes, {} clients, at most {} s, leader {leader}",
        args.requests, args.value_bytes, args.clients, args.max_seconds
    );
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let value = bytes::Bytes::from(vec![b'v'; args.value_bytes]);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.max_seconds);
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (client, leader, next, errors, value) = (
            client.clone(),
            leader.clone(),
            next.clone(),
            errors.clone(),
            value.clone(),
        );
        let requests = args.requests;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests || Instant::now() >= deadline {
                    return latencies;
                }
                let at = Instant::now();
                let sent = client
                    .put(format!("http://{leader}/kv/bench-{i}"))
                    .body(value.clone())
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status().is_success() => latencies.push(at.elapsed()),
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await?);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let writes = latencies.len();
    if writes == 0 {
        return Err("no write succeeded".into());
    }
    let pick = |q: f64| latencies[((writes as f64 * q) as usize).min(writes - 1)];
    println!(
        "bench: {writes} writes in {:.2} s: {:.0} writes/s; latency median {:.2} ms, p99 {:.2} ms, \
         max {:.2} ms; {} errors",
        elapsed.as_secs_f64(),
        writes as f64 / elapsed.as_secs_f64(),
        ms(pick(0.5)),
        ms(pick(0.99)),
        ms(latencies[writes - 1]),
        errors.load(Ordering::Relaxed)
    );
    Ok(())
}

/// Server processes started by the bench, stopped (and their data deleted) on drop.
#[derive(Debug)]
struct LocalCluster {
    children: Vec<std::process::Child>,
    http: Vec<String>,
    _dir: tempfile::TempDir,
}

impl LocalCluster {
    fn start(nodes: u64) -> Result<LocalCluster, BoxError> {
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

/// The leader's HTTP address, asking `addr` until it knows one (for at most ten seconds).
async fn find_leader(client: &reqwest::Client, addr: &str) -> Result<String, BoxError> {
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
        if let Some(leader) = status.as_ref().and_then(|s| s["leader_http"].as_str()) {
            return Ok(leader.to_owned());
        }
        if Instant::now() >= deadline {
            return Err(format!("no leader known at {addr} after ten seconds").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
