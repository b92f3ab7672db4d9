//! What `/metrics` shows, in the Prometheus text format (version 0.0.4).
//!
//! The crate is `prometheus-client`, the Prometheus project's own: its registry is a plain value
//! owned here (the node loop owns this struct), so nothing is installed process-wide as the
//! `metrics` crate's recorder would be, and rendering needs no HTTP server of its own.
//!
//! Events (proposals, elections, snapshots, syncs) are counted as they happen; the engine's
//! state (role, term, indexes, peers, its ignored-input counters) is read when scraped.

use crate::roles::role_name;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use sansraft::{Counters, Index, Node, Role, RoleChange};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
// Wall-clock time, outside the engine: how long snapshots and syncs take.
use std::time::Instant;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub(crate) const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// A label with a fixed value (a role, an outcome, a counter's name).
type Kind = [(&'static str, &'static str); 1];
/// A peer's id as a label.
type Peer = [(&'static str, String); 1];

const ROLES: [Role; 4] = [
    Role::Follower,
    Role::PreCandidate,
    Role::Candidate,
    Role::Leader,
];

/// The node's metrics; owned by the node loop.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    role: Family<Kind, Gauge>,
    term: Gauge,
    commit: Gauge,
    applied: Gauge,
    last_index: Gauge,
    peer_match: Family<Peer, Gauge>,
    peer_ticks: Family<Peer, Gauge>,
    peer_seconds: Family<Peer, Gauge<f64, AtomicU64>>,
    proposals: Family<Kind, Counter>,
    elections: Counter,
    leaders: Counter,
    snapshots: Counter,
    snapshot_bytes: Histogram,
    snapshot_seconds: Histogram,
    /// The snapshot being saved: its index and when it was taken.
    snapshot_started: Option<(Index, Instant)>,
    fsync_seconds: Histogram,
    tick_delay_seconds: Histogram,
    ignored: Family<Kind, Counter>,
    dropped_messages: Counter,
    malformed_commands: Counter,
    snapshots_refused: Family<Kind, Counter>,
}

/// Buckets from 100 µs to about 6.5 s.
fn seconds_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.0001, 2.0, 17)
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("kv"),
            role: Family::default(),
            term: Gauge::default(),
            commit: Gauge::default(),
            applied: Gauge::default(),
            last_index: Gauge::default(),
            peer_match: Family::default(),
            peer_ticks: Family::default(),
            peer_seconds: Family::default(),
            proposals: Family::default(),
            elections: Counter::default(),
            leaders: Counter::default(),
            snapshots: Counter::default(),
            snapshot_bytes: Histogram::new(exponential_buckets(1024.0, 4.0, 12)),
            snapshot_seconds: Histogram::new(seconds_buckets()),
            snapshot_started: None,
            fsync_seconds: Histogram::new(seconds_buckets()),
            tick_delay_seconds: Histogram::new(seconds_buckets()),
            ignored: Family::default(),
            dropped_messages: Counter::default(),
            malformed_commands: Counter::default(),
            snapshots_refused: Family::default(),
        };
        let r = &mut m.registry;
        r.register("raft_role", "1 for the node's role", m.role.clone());
        r.register("raft_term", "Current term", m.term.clone());
        r.register("raft_commit_index", "Commit index", m.commit.clone());
        r.register("raft_applied_index", "Applied index", m.applied.clone());
        r.register(
            "raft_last_log_index",
            "Last log index",
            m.last_index.clone(),
        );
        r.register(
            "raft_peer_match_index",
            "Leader only: the peer durably holds the log up to here",
            m.peer_match.clone(),
        );
        r.register(
            "raft_peer_ticks_since_contact",
            "Leader only: ticks since the peer last answered",
            m.peer_ticks.clone(),
        );
        r.register(
            "raft_peer_seconds_since_contact",
            "Leader only: seconds (ticks times tick length) since the peer last answered",
            m.peer_seconds.clone(),
        );
        r.register(
            "raft_proposals",
            "Proposals accepted into the log or refused by it",
            m.proposals.clone(),
        );
        r.register(
            "raft_elections_started",
            "Elections this node started (terms it campaigned in)",
            m.elections.clone(),
        );
        r.register(
            "raft_leaders_elected",
            "Times this node became the leader",
            m.leaders.clone(),
        );
        r.register(
            "snapshots_taken",
            "Snapshots taken and saved",
            m.snapshots.clone(),
        );
        r.register(
            "snapshot_bytes",
            "Size of the snapshots taken",
            m.snapshot_bytes.clone(),
        );
        r.register(
            "snapshot_seconds",
            "Time from taking a snapshot to its being durable",
            m.snapshot_seconds.clone(),
        );
        r.register(
            "wal_fsync_seconds",
            "Time of each sync of the write-ahead log",
            m.fsync_seconds.clone(),
        );
        r.register(
            "node_loop_tick_delay_seconds",
            "How late the node loop handled each tick: time it spent on other work or was not \
             scheduled (a delay near the election timeout risks an election)",
            m.tick_delay_seconds.clone(),
        );
        r.register(
            "raft_ignored_inputs",
            "Inputs the engine ignored, by kind",
            m.ignored.clone(),
        );
        r.register(
            "dropped_messages",
            "Messages to peers dropped because a peer's queue was full",
            m.dropped_messages.clone(),
        );
        r.register(
            "malformed_commands",
            "Committed entries that were not commands (skipped)",
            m.malformed_commands.clone(),
        );
        r.register(
            "received_snapshots_refused",
            "Snapshot transfers from a leader dropped: too_large (past --max-snapshot-bytes) or \
             undecodable (whole and checksummed, yet not a map at its index)",
            m.snapshots_refused.clone(),
        );
        m
    }

    /// A snapshot being received was dropped, for `reason`.
    pub(crate) fn snapshot_refused(&self, reason: &'static str) {
        self.snapshots_refused
            .get_or_create(&[("reason", reason)])
            .inc();
    }

    /// A handle for the storage thread to time its syncs with.
    pub(crate) fn fsync(&self) -> Fsync {
        Fsync(Some(self.fsync_seconds.clone()))
    }

    pub(crate) fn proposed(&self, accepted: bool) {
        let outcome = if accepted { "accepted" } else { "refused" };
        self.proposals.get_or_create(&[("outcome", outcome)]).inc();
    }

    /// Counts elections and wins from a change of role or term: an election was started when
    /// the term grew and the node is a candidate or already the leader (both can happen in one
    /// step), a leader elected when the node became one.
    pub(crate) fn state_changed(&self, old: &RoleChange, now: &RoleChange) {
        if now.term > old.term && matches!(now.role, Role::Candidate | Role::Leader) {
            self.elections.inc();
        }
        if now.role == Role::Leader && old.role != Role::Leader {
            self.leaders.inc();
        }
    }

    /// The node loop handled a tick `delay` after it was due.
    pub(crate) fn tick_delayed(&self, delay: Duration) {
        self.tick_delay_seconds.observe(delay.as_secs_f64());
    }

    /// A snapshot at `index` was taken and handed to the snapshot thread.
    pub(crate) fn snapshot_taken(&mut self, index: Index) {
        self.snapshot_started = Some((index, now()));
    }

    /// The snapshot at `index`, of `bytes` bytes encoded, is durable.
    pub(crate) fn snapshot_saved(&mut self, index: Index, bytes: usize) {
        if let Some((started, at)) = self.snapshot_started.take() {
            if started == index {
                self.snapshots.inc();
                self.snapshot_bytes.observe(bytes as f64);
                self.snapshot_seconds.observe(at.elapsed().as_secs_f64());
            }
        }
    }

    /// The metrics as Prometheus text, with the engine's state read now from `node`.
    pub(crate) fn render(&self, node: &Node, tick: Duration, loop_counts: LoopCounts) -> String {
        let status = node.status();
        for role in ROLES {
            let value = i64::from(role == status.role);
            self.role
                .get_or_create(&[("role", role_name(role))])
                .set(value);
        }
        let gauge = |g: &Gauge, v: u64| g.set(i64::try_from(v).unwrap_or(i64::MAX));
        gauge(&self.term, status.term);
        gauge(&self.commit, status.commit);
        gauge(&self.applied, status.applied);
        gauge(&self.last_index, status.last_index);
        // Only the leader tracks peers; a former leader's series go away.
        self.peer_match.clear();
        self.peer_ticks.clear();
        self.peer_seconds.clear();
        for id in node.membership().members() {
            let Some(progress) = node.peer_progress(id) else {
                continue;
            };
            let peer = [("peer", id.to_string())];
            gauge(&self.peer_match.get_or_create(&peer), progress.match_index);
            gauge(
                &self.peer_ticks.get_or_create(&peer),
                progress.ticks_since_contact,
            );
            self.peer_seconds
                .get_or_create(&peer)
                .set(progress.ticks_since_contact as f64 * tick.as_secs_f64());
        }
        for (kind, count) in ignored_counts(node.counters()) {
            set(&self.ignored.get_or_create(&[("kind", kind)]), count);
        }
        set(&self.dropped_messages, loop_counts.dropped_messages);
        set(&self.malformed_commands, loop_counts.malformed_commands);
        let mut text = String::new();
        prometheus_text::encode(&mut text, &self.registry).expect("writing to a String");
        text
    }
}

/// The wall clock, for durations shown as metrics only (the engine's time is ticks).
#[expect(
    clippy::disallowed_methods,
    reason = "metrics report wall-clock durations of real disk work, outside the engine"
)]
fn now() -> Instant {
    Instant::now()
}

/// Counts the node loop and the transport keep themselves.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LoopCounts {
    pub(crate) dropped_messages: u64,
    pub(crate) malformed_commands: u64,
}

/// Sets a counter to a total counted elsewhere (counters only ever grow there too).
fn set(counter: &Counter, total: u64) {
    counter.inner().store(total, Ordering::Relaxed);
}

/// The engine's counters of ignored input, by name.
fn ignored_counts(c: &Counters) -> [(&'static str, u64); 15] {
    [
        ("misaddressed", c.misaddressed),
        ("unknown_peer", c.unknown_peer),
        ("stale_term", c.stale_term),
        ("unexpected", c.unexpected),
        ("malformed", c.malformed),
        ("vote_ignored_in_lease", c.vote_ignored_in_lease),
        ("stale_response", c.stale_response),
        ("stale_ack", c.stale_ack),
        ("bogus_ack", c.bogus_ack),
        ("bogus_applied", c.bogus_applied),
        ("bogus_snapshot", c.bogus_snapshot),
        ("stale_chunk_read", c.stale_chunk_read),
        ("stale_snapshot_chunk", c.stale_snapshot_chunk),
        ("corrupt_snapshot", c.corrupt_snapshot),
        ("term_exhausted", c.term_exhausted),
    ]
}

/// Times the write-ahead log's syncs: a handle the storage thread holds (by default, one that
/// records nothing).
#[derive(Clone, Debug, Default)]
pub(crate) struct Fsync(Option<Histogram>);

impl Fsync {
    /// Runs `sync` and records how long it took.
    pub(crate) fn time<T>(&self, sync: impl FnOnce() -> T) -> T {
        let Some(histogram) = &self.0 else {
            return sync();
        };
        let started = now();
        let result = sync();
        histogram.observe(started.elapsed().as_secs_f64());
        result
    }
}
