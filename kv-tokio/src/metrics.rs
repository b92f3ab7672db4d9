//! What `/metrics` shows, in the Prometheus text format (version 0.0.4).
//!
//! The crate is `prometheus-client`, the Prometheus project's own: its registry is a plain value
//! owned here (the node loop owns this struct), so nothing is installed process-wide as the
//! `metrics` crate's recorder would be, and rendering needs no HTTP server of its own.
//!
//! Events (proposals, elections, snapshots, syncs) are counted as they happen; the engine's
//! state (role, term, indexes, peers, its ignored-input counters) is read when scraped.
//!
//! With several Raft groups (`--groups`) the engine's series are the node's, over its groups:
//! `kv_raft_role{role}` counts the groups in each role, the indexes are summed over the groups
//! (each grows with its group's log, so the sum's rate is the node's), the term is the highest,
//! a peer's match index is summed and its time since contact the longest over the groups this
//! node leads. With one group they are that group's. The host's own series (`kv_groups`,
//! `kv_groups_quiet`, `kv_host_*`) say how many groups there are, how many are quiet, and how
//! their writes and messages were batched.

use crate::roles::role_name;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use sansraft::{Counters, Index, Node, Role, RoleChange};
use sansraft_multi::{GroupId, HostCounters};
use std::collections::BTreeMap;
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
    /// The snapshots being saved: each group's index and when it was taken.
    snapshot_started: BTreeMap<GroupId, (Index, Instant)>,
    fsync_seconds: Histogram,
    tick_delay_seconds: Histogram,
    ignored: Family<Kind, Counter>,
    dropped_messages: Counter,
    malformed_commands: Counter,
    snapshots_refused: Family<Kind, Counter>,
    groups: Gauge,
    quiet_groups: Gauge,
    host: Family<Kind, Counter>,
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
            snapshot_started: BTreeMap::new(),
            fsync_seconds: Histogram::new(seconds_buckets()),
            tick_delay_seconds: Histogram::new(seconds_buckets()),
            ignored: Family::default(),
            dropped_messages: Counter::default(),
            malformed_commands: Counter::default(),
            snapshots_refused: Family::default(),
            groups: Gauge::default(),
            quiet_groups: Gauge::default(),
            host: Family::default(),
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
            "Batches of messages to peers dropped because a peer's queue was full",
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
        r.register(
            "groups",
            "Raft groups the keys are sharded into (--groups), each with a replica here",
            m.groups.clone(),
        );
        r.register(
            "groups_quiet",
            "Groups whose replica here is quiet: no ticks, no heartbeats (Config::quiesce, on \
             with more than one group)",
            m.quiet_groups.clone(),
        );
        r.register(
            "host",
            "What the multi-group host did, by kind: writes (host writes, one sync each at \
             most), group_writes (the groups' writes in them), batches (sent to peers), \
             envelopes (messages in them), periodic_batches, engine_steps, group_ticks, \
             peers_unreachable (failure-detector verdicts)",
            m.host.clone(),
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

    /// A snapshot of `group` at `index` was taken and handed to the snapshot thread.
    pub(crate) fn snapshot_taken(&mut self, group: GroupId, index: Index) {
        self.snapshot_started.insert(group, (index, now()));
    }

    /// The snapshot of `group` at `index`, of `bytes` bytes encoded, is durable.
    pub(crate) fn snapshot_saved(&mut self, group: GroupId, index: Index, bytes: usize) {
        if let Some((started, at)) = self.snapshot_started.remove(&group) {
            if started == index {
                self.snapshots.inc();
                self.snapshot_bytes.observe(bytes as f64);
                self.snapshot_seconds.observe(at.elapsed().as_secs_f64());
            }
        }
    }

    /// The metrics as Prometheus text, with the engine's state read now from every group's
    /// replica (`nodes`).
    pub(crate) fn render<'a>(
        &self,
        nodes: impl Iterator<Item = &'a Node>,
        tick: Duration,
        loop_counts: LoopCounts,
    ) -> String {
        let mut roles = [0u64; 4];
        let (mut term, mut commit, mut applied, mut last_index) = (0, 0u64, 0u64, 0u64);
        // Only a leader tracks peers: (summed match index, longest time since contact).
        let mut peers: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        let mut ignored = [0u64; 15];
        let mut groups = 0;
        for node in nodes {
            groups += 1;
            let status = node.status();
            for (count, role) in roles.iter_mut().zip(ROLES) {
                *count += u64::from(role == status.role);
            }
            term = term.max(status.term);
            commit = commit.saturating_add(status.commit);
            applied = applied.saturating_add(status.applied);
            last_index = last_index.saturating_add(status.last_index);
            for id in node.membership().members() {
                let Some(progress) = node.peer_progress(id) else {
                    continue;
                };
                let peer = peers.entry(id).or_default();
                peer.0 = peer.0.saturating_add(progress.match_index);
                peer.1 = peer.1.max(progress.ticks_since_contact);
            }
            for (total, (_, count)) in ignored.iter_mut().zip(ignored_counts(node.counters())) {
                *total = total.saturating_add(count);
            }
        }
        for (count, role) in roles.into_iter().zip(ROLES) {
            set_gauge(
                &self.role.get_or_create(&[("role", role_name(role))]),
                count,
            );
        }
        set_gauge(&self.term, term);
        set_gauge(&self.commit, commit);
        set_gauge(&self.applied, applied);
        set_gauge(&self.last_index, last_index);
        // A former leader's series go away.
        self.peer_match.clear();
        self.peer_ticks.clear();
        self.peer_seconds.clear();
        for (id, (match_index, ticks)) in peers {
            let peer = [("peer", id.to_string())];
            set_gauge(&self.peer_match.get_or_create(&peer), match_index);
            set_gauge(&self.peer_ticks.get_or_create(&peer), ticks);
            self.peer_seconds
                .get_or_create(&peer)
                .set(ticks as f64 * tick.as_secs_f64());
        }
        let names = ignored_counts(&Counters::default()).map(|(kind, _)| kind);
        for (kind, count) in names.into_iter().zip(ignored) {
            set(&self.ignored.get_or_create(&[("kind", kind)]), count);
        }
        set(&self.dropped_messages, loop_counts.dropped_messages);
        set(&self.malformed_commands, loop_counts.malformed_commands);
        set_gauge(&self.groups, groups);
        set_gauge(&self.quiet_groups, loop_counts.quiet_groups);
        let h = &loop_counts.host;
        for (kind, count) in [
            ("writes", h.host_writes),
            ("group_writes", h.group_writes),
            ("batches", h.batches_sent),
            ("envelopes", h.envelopes_sent),
            ("periodic_batches", h.periodic_batches),
            ("engine_steps", h.engine_steps),
            ("group_ticks", h.group_ticks),
            ("peers_unreachable", h.peers_unreachable),
        ] {
            set(&self.host.get_or_create(&[("kind", kind)]), count);
        }
        let mut text = String::new();
        prometheus_text::encode(&mut text, &self.registry).expect("writing to a String");
        text
    }
}

/// Sets a gauge to a count.
fn set_gauge(gauge: &Gauge, value: u64) {
    gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
}

/// The wall clock, for durations shown as metrics only (the engine's time is ticks).
#[expect(
    clippy::disallowed_methods,
    reason = "metrics report wall-clock durations of real disk work, outside the engine"
)]
fn now() -> Instant {
    Instant::now()
}

/// Counts the node loop, the host and the transport keep themselves.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LoopCounts {
    /// Batches to peers dropped.
    pub(crate) dropped_messages: u64,
    pub(crate) malformed_commands: u64,
    pub(crate) quiet_groups: u64,
    pub(crate) host: HostCounters,
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
