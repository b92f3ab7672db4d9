//! kv-tokio: a replicated key-value server on sansraft under tokio.
//!
//! One process per node. The keys are sharded into `--groups` Raft groups (one by default),
//! each with a replica on every node; a node drives its replicas through one
//! `sansraft_multi::Host` from a single task ([`node`]), talks to its peers over TCP, one
//! connection per pair of nodes for all groups ([`transport`], [`handshake`],
//! [`frame`]), keeps every group's log in one write-ahead log and their snapshots on disk
//! ([`storage`], [`wal`], [`snapshot_writer`]) and serves clients over HTTP ([`api`],
//! [`http`]). See `docs/embedding.md`.

#![forbid(unsafe_code)]

mod answer;
mod api;
mod bench;
mod frame;
mod handoff;
mod handshake;
mod health;
mod http;
mod http_error;
mod kv;
mod metrics;
mod node;
mod replica;
mod roles;
mod shutdown;
mod snapshot_writer;
mod stall_watch;
mod storage;
mod throttle;
mod transport;
mod wal;

use clap::{Args, Parser, Subcommand};
use sansraft::{Config, Membership, NodeId};
use sansraft_multi::{GroupStart, Host, HostConfig, HostStart};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Debug, Parser)]
#[command(
    name = "kv-tokio",
    version,
    about = "A replicated key-value server on sansraft"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one node of a cluster.
    Serve(ServeArgs),
    /// Measure write throughput and latency against a running cluster (bounded in count and
    /// time).
    Bench(bench::BenchArgs),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// This node's id (one of the --peer ids).
    #[arg(long)]
    id: NodeId,
    /// Every node of the cluster, this one included, as ID=RAFT_ADDR,HTTP_ADDR (repeat the
    /// flag). A new cluster starts with all of them as voters, unless told otherwise.
    #[arg(long = "peer", value_parser = parse_peer, required = true)]
    peers: Vec<Peer>,
    /// Where the log and snapshots live.
    #[arg(long)]
    data_dir: PathBuf,
    /// The voters of a new cluster, as ID,ID,...; default: every --peer. Only read on the
    /// first start, when the data directory is empty.
    #[arg(long, value_delimiter = ',')]
    initial_voters: Vec<NodeId>,
    /// Start outside the configuration, to be added later with /admin/learners/ID. Only read
    /// on the first start.
    #[arg(long, conflicts_with = "initial_voters")]
    join: bool,
    /// Shard the keys into this many Raft groups, each with its own leader, log and snapshots,
    /// over the same processes: one write-ahead log and one sync per step for all groups, one
    /// connection per pair of nodes. Fixed when the cluster is created: a data
    /// directory created with another number refuses to start. Every node must be given the
    /// same number. Above 1, idle groups go quiet (no ticks, no heartbeats).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=MAX_GROUPS))]
    groups: u64,
    /// Length of one engine tick; the election timeout is 10 ticks.
    #[arg(long, default_value_t = 10)]
    tick_ms: u64,
    /// Snapshot the key-value map after this many applied entries, or after half as many as
    /// the map has keys if that is more (0: never).
    #[arg(long, default_value_t = 10_000)]
    snapshot_every: u64,
    /// Log entries kept behind a snapshot, for followers a little behind.
    #[arg(long, default_value_t = 1024)]
    keep_entries: u64,
    /// Largest snapshot this node accepts from a leader, in bytes: a transfer that grows past
    /// it is refused (logged, counted in /metrics, its partial file removed), so that a leader,
    /// or a bug, cannot fill the disk. Must exceed the largest snapshot the cluster takes.
    #[arg(long, default_value_t = 16 << 30)]
    max_snapshot_bytes: u64,
    /// Largest snapshot chunk sent to a follower.
    #[arg(long, default_value_t = 1 << 20)]
    snapshot_chunk_bytes: u64,
    /// How long a client request may wait for its answer.
    #[arg(long, default_value_t = 5000)]
    request_timeout_ms: u64,
    /// A file whose bytes (at least 16) are the secret every node of the cluster shares; peers
    /// prove they know it when they connect. Required unless --insecure-peers.
    #[arg(long, value_name = "PATH", required_unless_present = "insecure_peers")]
    cluster_secret_file: Option<PathBuf>,
    /// Accept peer connections without authentication: anyone who can reach the peer port can
    /// then speak for a node. Only for trusted networks and experiments.
    #[arg(long, conflicts_with = "cluster_secret_file")]
    insecure_peers: bool,
    /// Most unauthenticated connections on the peer port at once (handshakes in progress;
    /// every connection with --insecure-peers) from addresses other than the peers'. When it
    /// is reached, the oldest is closed to make room. Peers' addresses have their own slots.
    #[arg(long, default_value_t = 64)]
    max_peer_connections: usize,
    /// Most unauthenticated connections on the peer port at once from one IP address, a
    /// peer's included. When it is reached, that address's oldest is closed to make room.
    #[arg(long, default_value_t = 8)]
    max_peer_connections_per_address: usize,
    /// Most new connections a second the peer port takes from addresses other than the peers'
    /// (on average; up to --max-peer-connections at once). Past it, a connection gets no task
    /// and is never read: it is held open 2 s, then closed; the peers' addresses are never
    /// held to it. A node dialling from an address no peer has goes through it. 0: no limit.
    #[arg(long, default_value_t = 100)]
    max_stranger_connections_per_second: u32,
    /// How long a client may take to send a request's headers.
    #[arg(long, default_value_t = 5000)]
    http_header_timeout_ms: u64,
    /// How long one HTTP request may take from its headers to its answer, body upload
    /// included; more than --request-timeout-ms.
    #[arg(long, default_value_t = 10_000)]
    http_request_timeout_ms: u64,
    /// Most client connections open at once.
    #[arg(long, default_value_t = 1024)]
    max_http_connections: usize,
}

/// Batches from peers queued for the node loop, at most (each at most a frame).
const INBOUND_BATCHES: usize = 4096;

/// Most groups a node may host (`--groups`).
const MAX_GROUPS: u64 = 4096;

/// Frames begun must be complete within this time.
const PEER_FRAME_TIMEOUT: Duration = Duration::from_secs(10);
/// A peer connection with no frame for this many election timeouts is closed; diallers send a
/// keepalive after a quarter of it.
const PEER_IDLE_ELECTION_TIMEOUTS: u32 = 20;

#[derive(Clone, Debug)]
struct Peer {
    id: NodeId,
    raft: SocketAddr,
    http: SocketAddr,
}

fn parse_peer(spec: &str) -> Result<Peer, String> {
    let usage = || format!("expected ID=RAFT_ADDR,HTTP_ADDR, got {spec:?}");
    let (id, addrs) = spec.split_once('=').ok_or_else(usage)?;
    let (raft, http) = addrs.split_once(',').ok_or_else(usage)?;
    let id: NodeId = id.parse().map_err(|e| format!("bad node id {id:?}: {e}"))?;
    if id == 0 {
        return Err("node id 0 is reserved".into());
    }
    Ok(Peer {
        id,
        raft: raft
            .parse()
            .map_err(|e| format!("bad address {raft:?}: {e}"))?,
        http: http
            .parse()
            .map_err(|e| format!("bad address {http:?}: {e}"))?,
    })
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the tokio runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args)),
        Command::Bench(args) => runtime.block_on(bench::run(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// File descriptors a node needs beyond its connections: the log, snapshot files, the
/// listeners, the runtime's own.
const SPARE_FILES: u64 = 64;

/// Raises the soft limit on open files to the hard limit if the connection limits could need
/// more than the soft limit allows (a common soft limit is 1,024, the default number of client
/// connections alone). Past the limit, accepting a connection fails until one closes.
fn raise_file_limit(args: &ServeArgs, nodes: usize) {
    use rlimit::Resource;
    let nodes = nodes as u64;
    let need = (args.max_http_connections as u64)
        .saturating_add(args.max_peer_connections as u64)
        .saturating_add((args.max_peer_connections_per_address as u64).saturating_mul(nodes))
        // Refused connections held open a while (past the strangers' rate; failed handshakes).
        .saturating_add(2 * transport::HOLD_REFUSED_MAX as u64)
        // Each peer's connection in and out.
        .saturating_add(2 * nodes)
        .saturating_add(SPARE_FILES);
    let (soft, hard) = match Resource::NOFILE.get() {
        Ok(limits) => limits,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the open-file limit");
            return;
        }
    };
    if soft >= need {
        return;
    }
    match Resource::NOFILE.set(hard, hard) {
        Ok(()) => tracing::info!(
            from = soft,
            to = hard,
            need,
            "raised the soft limit on open files to the hard limit"
        ),
        Err(e) => tracing::warn!(soft, hard, need, error = %e, "cannot raise the open-file limit"),
    }
    if hard < need {
        tracing::warn!(
            limit = hard,
            need,
            "the open-file limit is below what the connection limits may need; \
             raise it (ulimit -n, LimitNOFILE=) or lower --max-http-connections"
        );
    }
}

async fn serve(args: ServeArgs) -> Result<(), BoxError> {
    let secret = match &args.cluster_secret_file {
        Some(path) => Some(Arc::new(handshake::ClusterSecret::read(path)?)),
        None => {
            tracing::warn!(
                "--insecure-peers: the peer port accepts anyone who can reach it as a node of the cluster"
            );
            None
        }
    };
    if args.snapshot_chunk_bytes > frame::MAX_SNAPSHOT_CHUNK_BYTES {
        return Err(format!(
            "--snapshot-chunk-bytes is at most {} (a chunk must fit in a peer frame)",
            frame::MAX_SNAPSHOT_CHUNK_BYTES
        )
        .into());
    }
    if args.http_request_timeout_ms <= args.request_timeout_ms {
        return Err("--http-request-timeout-ms must exceed --request-timeout-ms".into());
    }
    let mut peers = BTreeMap::new();
    for peer in &args.peers {
        if peers.insert(peer.id, peer.clone()).is_some() {
            return Err(format!("node {} is listed twice", peer.id).into());
        }
    }
    let me = peers
        .get(&args.id)
        .cloned()
        .ok_or_else(|| format!("--id {} is not among the --peer entries", args.id))?;
    let bootstrap = if args.join {
        Membership::default()
    } else if args.initial_voters.is_empty() {
        Membership::with_voters(peers.keys().copied())
    } else {
        if let Some(id) = args
            .initial_voters
            .iter()
            .find(|id| !peers.contains_key(id))
        {
            return Err(format!("initial voter {id} is not among the --peer entries").into());
        }
        Membership::with_voters(args.initial_voters.iter().copied())
    };
    raise_file_limit(&args, peers.len());
    let (mut store, recovered) = storage::Store::open(&args.data_dir, bootstrap, args.groups)?;
    let metrics = metrics::Metrics::new();
    store.time_syncs(metrics.fsync());
    let config = |group: u64| {
        let seed =
            args.id.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ group.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let mut config = Config::new(args.id, seed);
        config.compaction_keep_entries = args.keep_entries;
        config.snapshot_chunk_bytes = args.snapshot_chunk_bytes.max(1);
        // An entry is sent alone when it is larger than an append's byte budget, and must still
        // fit in a peer frame with the append's header and envelope: the engine refuses
        // anything larger.
        config.max_entry_bytes = u64::from(frame::MAX_FRAME_BYTES) - (64 << 10);
        // Idle groups go quiet: the host's failure detector tells them of a dead peer.
        config.quiesce = args.groups > 1;
        config
    };
    let election_timeout_ticks = config(0).election_timeout_ticks;
    let mut host_config = HostConfig::new(args.id);
    host_config.heartbeat_interval_ticks = config(0).heartbeat_interval_ticks;
    host_config.unreachable_after_ticks = election_timeout_ticks;
    let mut start = HostStart {
        incarnation: recovered.incarnation,
        ..HostStart::default()
    };
    let mut snapshots = Vec::new();
    let (mut entries, mut term) = (0, 0);
    for group in recovered.groups {
        entries += group.state.entries.len();
        term = term.max(group.state.hard_state.term);
        snapshots.push(group.snapshot);
        start.groups.push(GroupStart {
            group: group.group,
            config: config(group.group),
            state: group.state,
        });
    }
    let host = Host::new(host_config, start).map_err(|e| {
        format!(
            "cannot start from the state in {}: {e}",
            args.data_dir.display()
        )
    })?;
    tracing::info!(
        id = args.id,
        incarnation = recovered.incarnation,
        groups = args.groups,
        term,
        entries,
        "recovered"
    );

    let raft_listener = tokio::net::TcpListener::bind(me.raft)
        .await
        .map_err(|e| format!("cannot listen for peers on {}: {e}", me.raft))?;
    let http_listener = tokio::net::TcpListener::bind(me.http)
        .await
        .map_err(|e| format!("cannot listen for clients on {}: {e}", me.http))?;

    let (jobs_tx, jobs_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let storage_thread = storage::spawn(store, jobs_rx, done_tx)?;
    let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_BATCHES);
    let security = transport::PeerSecurity {
        me: args.id,
        groups: args.groups,
        secret,
    };
    let tick = Duration::from_millis(args.tick_ms.max(1));
    let idle_timeout = tick * election_timeout_ticks * PEER_IDLE_ELECTION_TIMEOUTS;
    let port = transport::PortConfig {
        security: security.clone(),
        peers: peers.keys().copied().filter(|&id| id != args.id).collect(),
        limits: frame::FrameLimits {
            idle_timeout,
            frame_timeout: PEER_FRAME_TIMEOUT,
        },
        slots: transport::SlotLimits {
            strangers: args.max_peer_connections.max(1),
            per_address: args.max_peer_connections_per_address.max(1),
            peer_ips: peers
                .values()
                .filter(|p| p.id != args.id)
                .map(|p| p.raft.ip().to_canonical())
                .collect(),
        },
        stranger_rate: transport::StrangerRate {
            per_second: args.max_stranger_connections_per_second,
            burst: u32::try_from(args.max_peer_connections.max(1)).unwrap_or(u32::MAX),
        },
    };
    let peer_stats = Arc::new(transport::PeerPortStats::default());
    let reading = transport::Reading {
        inbound: inbound_tx,
        limits: port.limits,
        stats: peer_stats.clone(),
    };
    let others = peers
        .values()
        .filter(|p| p.id != args.id)
        .map(|p| (p.id, p.raft))
        .collect();
    // One connection per pair of nodes: this node dials the peers with higher ids, and writes
    // for the others on the connections they dial in.
    let (outbound, attachable) =
        transport::Peers::start(&others, &security, idle_timeout / 4, &reading);
    tokio::spawn(transport::listen(raft_listener, port, reading, attachable));
    let (requests_tx, requests_rx) = mpsc::channel(4096);
    let channels = node::Channels {
        requests: requests_rx,
        inbound: inbound_rx,
        storage: jobs_tx,
        storage_done: done_rx,
        peers: outbound,
    };
    let node_loop = node::NodeLoop::new(
        host,
        snapshots,
        node::LoopConfig {
            tick,
            election_timeout_ticks,
            snapshot_every: args.snapshot_every,
            max_snapshot_bytes: args.max_snapshot_bytes,
        },
        channels,
        metrics,
    )?;

    let api = api::Api {
        node: requests_tx.clone(),
        http_addrs: Arc::new(peers.values().map(|p| (p.id, p.http.to_string())).collect()),
        timeout: Duration::from_millis(args.request_timeout_ms),
        peer_stats,
        groups: args.groups,
    };
    let limits = http::HttpLimits {
        header_timeout: Duration::from_millis(args.http_header_timeout_ms.max(1)),
        request_timeout: Duration::from_millis(args.http_request_timeout_ms),
        max_connections: args.max_http_connections.max(1),
    };
    tokio::spawn(http::serve(http_listener, api::router(api), limits));
    tracing::info!(id = args.id, raft = %me.raft, http = %me.http, "serving");

    let result = shutdown::run_until_signal(node_loop.run(), requests_tx)
        .await
        .map_err(BoxError::from);
    // The node loop dropped its job sender: the storage thread finishes what it has and exits.
    let _ = tokio::task::spawn_blocking(move || storage_thread.join()).await;
    tracing::info!(id = args.id, "storage closed; stopped");
    result
}
