//! The multi-group world's state and event loop: nodes (a host, a disk, the groups' state
//! machines), the network, clients and faults.

use super::queue::{Ev, Queue};
use super::{MultiOptions, MultiReport, MultiStats};
use crate::checker::Checker;
use crate::client::{ClientShape, Clients};
use crate::disk::{Disk, HostStore};
use crate::host::Pending;
use crate::kv::KvStore;
use crate::linearizability::{self, Key};
use crate::network::Network;
use crate::report::LinOutcome;
use crate::rng::{mix, SimRng, Stream};
use crate::scenario::{ClockParams, Scenario, StorageParams, NOMINAL_TICK_US};
use crate::trace::Fnv;
use crate::violation::{Failure, Violation, ViolationKind};
use crate::Micros;
use sansraft::{Config, DurableState, Index, Io, Membership, NodeId};
use sansraft_multi::{GroupId, GroupStart, Host, HostConfig, HostCounters, HostStart};
use std::collections::{BTreeMap, VecDeque};

/// One simulated server.
pub(super) struct MNode {
    pub(super) id: NodeId,
    pub(super) clock: ClockParams,
    pub(super) clock_gen: u64,
    /// `None` while crashed.
    pub(super) host: Option<Host>,
    pub(super) incarnation: u64,
    pub(super) disk: Disk<HostStore>,
    /// Per group (index group − 1): the state machine and the last index it applied.
    pub(super) kvs: Vec<KvStore>,
    pub(super) applied: Vec<Index>,
    /// Proposals awaiting application, by group and index.
    pub(super) pending: BTreeMap<(GroupId, Index), Pending>,
    /// Reads asked of the node: client, request, key, group.
    pub(super) reads: BTreeMap<u64, (usize, u64, Key, GroupId)>,
    pub(super) paused: bool,
    /// When the current pause began.
    pub(super) paused_at: Micros,
    pub(super) backlog: Vec<Ev>,
    pub(super) crash_on_write: Option<bool>,
    pub(super) crash_on_durable: Option<bool>,
    /// `Some(side)`: restart as the next vote request arrives, before handling it, and cut
    /// `side` off from everyone then (a lease bridge's leader side).
    pub(super) bounce_on_vote: Option<Vec<NodeId>>,
    /// Per group: the snapshot being received (lost on a crash).
    pub(super) partials: BTreeMap<GroupId, crate::received_snapshot::Partial>,
    /// Host writes issued and not acknowledged: sequence number and groups written.
    pub(super) in_flight: VecDeque<(u64, Vec<GroupId>)>,
}

impl MNode {
    pub(super) fn is_up(&self) -> bool {
        self.host.is_some()
    }
}

pub(super) struct MultiWorld {
    pub(super) sc: Scenario,
    pub(super) n: usize,
    pub(super) g: u64,
    pub(super) now: Micros,
    pub(super) event_no: u64,
    pub(super) queue: Queue,
    pub(super) nodes: Vec<MNode>,
    pub(super) network: Network,
    /// One checker per group (index group − 1).
    pub(super) checkers: Vec<Checker>,
    pub(super) clients: Clients,
    pub(super) storage: StorageParams,
    pub(super) rng_net: SimRng,
    pub(super) rng_disk: SimRng,
    pub(super) rng_client: SimRng,
    pub(super) rng_fault: SimRng,
    pub(super) next_read_id: u64,
    /// The client request being proposed in the current step.
    pub(super) proposing: Option<(usize, u64)>,
    pub(super) hash: Fnv,
    pub(super) stats: MultiStats,
    pub(super) violation: Option<Violation>,
    /// Host counters of incarnations that crashed.
    pub(super) counted: Vec<HostCounters>,
    /// Reused: the groups a host step touched.
    pub(super) touched: Vec<GroupId>,
    /// Per group: a leader was seen since the faults healed.
    pub(super) led_since_heal: Vec<bool>,
    /// A crashed leader's groups awaiting new leaders.
    pub(super) failover: Option<super::failover::Watch>,
    pub(super) watch_no: u64,
    /// Per group: the latest configuration any replica applied (so, committed), with its
    /// index.
    pub(super) committed_configs: Vec<(Index, Membership)>,
    /// The operator's requests in progress (membership changes, transfers).
    pub(super) operator: super::operator::Operator,
    /// A deliberate host bug every host runs with.
    pub(super) host_canary: Option<sansraft_multi::HostCanary>,
    /// Bounded-staleness reads: the next draws and the nodes' clocks they are checked against.
    pub(super) stale: super::stale_reads::StaleReads,
    /// Membership changes owed in the current healthy window.
    pub(super) changes: super::changes::Changes,
}

/// A group's replica configuration on node `id`.
pub(super) fn group_config(sc: &Scenario, id: NodeId, group: GroupId) -> Config {
    let mut c = sc.raft.config(id, mix(sc.seed ^ mix(group)));
    // Quiescence and the stickiness it needs come with `sc.raft` (`multi_scenario`).
    c.io = Io::Asynchronous;
    c.witness = sc.is_witness(id);
    c
}

pub(super) fn run(sc: &Scenario, options: &MultiOptions) -> MultiReport {
    let groups = options.groups_for(sc.seed);
    let mut world = MultiWorld::new(sc.clone(), groups, options.host_canary);
    let result = crate::panics::catching(|| world.run(options.max_events));
    if let Err(message) = result {
        world.violate(Failure::new(ViolationKind::Panic, None, message));
    }
    world.finish(options)
}

impl MultiWorld {
    fn new(
        sc: Scenario,
        groups: usize,
        host_canary: Option<sansraft_multi::HostCanary>,
    ) -> MultiWorld {
        let n = sc.nodes;
        let voters = sc.initial_voters();
        let g = groups as u64;
        let initial = DurableState::bootstrap(Membership {
            witnesses: sc.witnesses.clone(),
            priorities: sc.priorities.clone(),
            ..Membership::with_voters(1..=voters as NodeId)
        });
        let bootstrap: BTreeMap<GroupId, DurableState> =
            (1..=g).map(|group| (group, initial.clone())).collect();
        let no_groups = BTreeMap::new();
        let shape = ClientShape {
            hot_keys: sc.clients.keys * 3,
            cold_keys: 4 * g,
            groups: g,
            ..ClientShape::new(&sc.clients, sc.clients_stop_us)
        };
        let mut rng_client = SimRng::new(sc.seed, Stream::Clients);
        let clients = Clients::new(shape, n, &mut rng_client);
        let (stale, first_stale_read) = super::stale_reads::StaleReads::new(&sc);
        let mut world = MultiWorld {
            n,
            g,
            now: 0,
            event_no: 0,
            queue: Queue::default(),
            nodes: Vec::with_capacity(n),
            network: Network::new(n, sc.network, sc.seed),
            checkers: (0..g).map(|_| Checker::new(n, &initial)).collect(),
            clients,
            storage: sc.storage,
            rng_net: SimRng::new(sc.seed, Stream::Network),
            rng_disk: SimRng::new(sc.seed, Stream::Storage),
            rng_client,
            rng_fault: SimRng::new(mix(sc.seed ^ 0x0066_6175_6c74), Stream::Scenario),
            next_read_id: 1,
            proposing: None,
            hash: Fnv::default(),
            stats: MultiStats {
                groups: g,
                ..MultiStats::default()
            },
            violation: None,
            counted: Vec::new(),
            touched: Vec::new(),
            led_since_heal: vec![false; groups],
            failover: None,
            watch_no: 0,
            committed_configs: vec![(0, initial.snapshot.membership.clone()); groups],
            operator: Default::default(),
            host_canary,
            stale,
            changes: Default::default(),
            sc,
        };
        for i in 0..n {
            let id = i as NodeId + 1;
            let clock = world.sc.clocks[i];
            // Spares start hosting no group: each replica they are added to is created the
            // first time its leader talks to them (`HostAction::UnknownGroup`).
            let spare = i >= voters;
            let start = HostStart {
                incarnation: 0,
                tombstones: Default::default(),
                groups: (1..=g)
                    .filter(|_| !spare)
                    .map(|group| GroupStart {
                        group,
                        config: group_config(&world.sc, id, group),
                        state: initial.clone(),
                    })
                    .collect(),
            };
            let host = match Host::new(world.host_config(id), start) {
                Ok(host) => Some(host),
                Err(e) => {
                    world.violate(Failure::new(
                        ViolationKind::Panic,
                        Some(id),
                        format!("host refused to start: {e}"),
                    ));
                    None
                }
            };
            world.nodes.push(MNode {
                id,
                clock,
                clock_gen: 0,
                host,
                incarnation: 0,
                disk: Disk::new(HostStore::new(if spare { &no_groups } else { &bootstrap })),
                kvs: vec![KvStore::default(); groups],
                applied: vec![0; groups],
                pending: BTreeMap::new(),
                reads: BTreeMap::new(),
                paused: false,
                paused_at: 0,
                backlog: Vec::new(),
                crash_on_write: None,
                crash_on_durable: None,
                bounce_on_vote: None,
                partials: BTreeMap::new(),
                in_flight: VecDeque::new(),
            });
            world
                .queue
                .push(clock.first_tick_us, Ev::Tick { node: i, gen: 0 });
        }
        for (index, f) in world.sc.faults.iter().enumerate() {
            world.queue.push(f.at_us, Ev::Fault { index });
        }
        world.queue.push(world.sc.fault_end_us, Ev::FaultPhaseEnd);
        world.queue.push(
            world.sc.fault_end_us + world.sc.liveness.leader_deadline_us,
            Ev::LeaderDeadline,
        );
        for client in 0..world.clients.count() {
            let at = world.clients.think(&mut world.rng_client);
            world.queue.push(at, Ev::ClientIssue { client });
        }
        if let Some(at) = first_stale_read {
            world.queue.push(at, Ev::StaleRead);
        }
        world
    }

    /// The host configuration of node `id`: periodic batches at the groups' heartbeat
    /// interval, a peer unreachable after an election timeout of silence.
    pub(super) fn host_config(&self, id: NodeId) -> HostConfig {
        let mut c = HostConfig::new(id);
        let raft = &self.sc.raft;
        c.heartbeat_interval_ticks = raft.heartbeat_interval_ticks.max(1);
        c.unreachable_after_ticks = raft
            .election_timeout_ticks
            .max(c.heartbeat_interval_ticks + 1);
        c.canary = self.host_canary;
        c
    }

    fn run(&mut self, max_events: u64) {
        if self.violation.is_some() {
            return;
        }
        while let Some((at, ev)) = self.queue.pop() {
            if at > self.sc.end_us {
                break;
            }
            if self.event_no >= max_events {
                self.violate(Failure::runaway(max_events, at));
                return;
            }
            self.now = at;
            self.event_no += 1;
            self.hash.u64(at);
            self.hash.u8(ev.tag());
            if let Some(i) = ev.target_node() {
                self.hash.u64(i as u64);
            }
            self.handle(ev);
            self.keep_watching();
            self.check_changes();
            if self.violation.is_some() {
                return;
            }
        }
        self.now = self.now.max(self.sc.end_us);
    }

    fn handle(&mut self, ev: Ev) {
        if let Some(i) = ev.target_node() {
            let node = &mut self.nodes[i];
            if !node.is_up() {
                if let Ev::Deliver { .. } = ev {
                    self.stats.batches_lost += 1;
                }
                return;
            }
            if node.paused {
                if !matches!(ev, Ev::Tick { .. }) {
                    node.backlog.push(ev);
                }
                return;
            }
        }
        match ev {
            Ev::Tick { node, gen } => self.on_tick(node, gen),
            Ev::Deliver { from, to, bytes } => self.on_deliver(from, to, &bytes),
            Ev::DiskDone { node, gen } => self.on_disk_done(node, gen),
            Ev::Ack { node, token } => {
                self.step_host(node, sansraft_multi::HostInput::Persisted(token))
            }
            Ev::Fault { index } => self.apply_fault(index),
            Ev::Crash { node, tear } => self.crash(node, tear),
            Ev::Restart { node } => self.restart(node),
            Ev::FaultPhaseEnd => self.heal_all(),
            Ev::LeaderDeadline => self.check_leaders(),
            Ev::ClientIssue { client } => self.on_client_issue(client),
            Ev::ClientRequest {
                node,
                client,
                group,
                seq,
                command,
            } => self.on_client_request(node, client, group, seq, command),
            Ev::ClientReply { client, seq, reply } => self.on_client_reply(client, seq, reply),
            Ev::ClientSend {
                client,
                node,
                group,
                seq,
                attempt,
                command,
            } => self.client_send(crate::client::Attempt {
                client,
                node,
                group,
                seq,
                attempt,
                command,
            }),
            Ev::ClientTimeout {
                client,
                seq,
                attempt,
            } => self.on_client_timeout(client, seq, attempt),
            Ev::ProbeRead { node, group } => self.on_probe_read(node, group),
            Ev::FailoverDeadline { id } => self.failover_deadline(id),
            Ev::Change { index, group } => self.request_changes(index, &[group]),
            Ev::Retire { node, group } => self.retire(node, Some(group)),
            Ev::StaleRead => self.on_stale_read(),
        }
    }

    /// Records the first violation.
    pub(super) fn violate(&mut self, failure: Failure) {
        if self.violation.is_none() {
            self.violation = Some(Violation {
                failure,
                event: self.event_no,
                at_us: self.now,
            });
        }
    }

    /// Records a failed check; returns true if it passed.
    pub(super) fn record(&mut self, result: Result<(), impl Into<Failure>>) -> bool {
        match result {
            Ok(()) => true,
            Err(f) => {
                self.violate(f.into());
                false
            }
        }
    }

    /// Every group must have had a leader since the faults healed (a leader seen at the heal
    /// or elected after it): an instant's snapshot would fail a group re-electing right then.
    fn check_leaders(&mut self) {
        let missing =
            (1..=self.g).find(|&g| !self.led_since_heal[g as usize - 1] && !self.has_leader(g));
        if let Some(group) = missing {
            let detail = format!(
                "group {group} had no leader in the {} ms after the faults healed",
                self.sc.liveness.leader_deadline_us / 1000
            );
            self.violate(Failure::new(ViolationKind::NoLeader, None, detail));
        }
    }

    fn finish(mut self, options: &MultiOptions) -> MultiReport {
        let mut lin = LinOutcome::Skipped;
        if self.violation.is_none() {
            lin = match linearizability::check(self.clients.history(), options.lin_max_steps) {
                linearizability::Verdict::Linearizable => LinOutcome::Linearizable,
                linearizability::Verdict::Inconclusive { key } => LinOutcome::Inconclusive { key },
                linearizability::Verdict::NotLinearizable { key, operations } => {
                    let detail = linearizability::describe_counterexample(key, &operations);
                    self.violate(Failure::new(ViolationKind::Linearizability, None, detail));
                    LinOutcome::NotLinearizable
                }
            };
        }
        if self.violation.is_none() {
            self.check_requests();
        }
        let mut counters = std::mem::take(&mut self.counted);
        counters.extend(
            self.nodes
                .iter()
                .filter_map(|n| n.host.as_ref())
                .map(|h| *h.counters()),
        );
        for c in &counters {
            let s = &mut self.stats;
            s.engine_steps += c.engine_steps;
            s.group_ticks += c.group_ticks;
            s.quiet_ticks_skipped += (c.ticks * self.g).saturating_sub(c.group_ticks);
            s.batches += c.batches_sent;
            s.envelopes += c.envelopes_sent;
            s.host_writes += c.host_writes;
            s.group_writes += c.group_writes;
            s.detector_reports += c.peers_unreachable;
            s.unreachable_inputs += c.unreachable_inputs;
        }
        for checker in &self.checkers {
            self.stats.failovers += (checker.elections() as u64).saturating_sub(1);
            self.stats.commits += checker.committed_len();
        }
        let history = self.clients.history();
        self.stats.events = self.event_no;
        self.stats.ops = history.len() as u64;
        self.stats.ops_completed = history.iter().filter(|o| o.completed.is_some()).count() as u64;
        self.stats.groups_used = self.clients.groups_used().len() as u64;
        MultiReport {
            seed: self.sc.seed,
            profile: self.sc.profile,
            nodes: self.n,
            groups: self.g as usize,
            trace_hash: self.hash.finish(),
            sim_time_us: self.now,
            violation: self.violation,
            linearizability: lin,
            stats: self.stats,
        }
    }

    /// After the faults heal, every request completes within the bound: one issued before
    /// the heal within the bound of the heal plus a settling second.
    fn check_requests(&mut self) {
        let heal = self.sc.fault_end_us;
        let bound = self.sc.liveness.op_deadline_us + 100 * NOMINAL_TICK_US;
        let end = self.sc.end_us;
        let stuck = (self.clients.history().iter()).find(|op| {
            let from = op.invoked_at.max(heal);
            let done = op.completed.map_or(end, |(t, _)| t);
            (op.invoked_at >= heal || op.completed.is_none()) && done.saturating_sub(from) > bound
        });
        if let Some(op) = stuck {
            let detail = format!(
                "client {}'s {:?} issued at t={:.3}s {} (bound {} ms after the heal)",
                op.client,
                op.op,
                op.invoked_at as f64 / 1e6,
                if op.completed.is_some() {
                    "completed late"
                } else {
                    "still open"
                },
                bound / 1000
            );
            self.violate(Failure::new(ViolationKind::StuckRequest, None, detail));
        }
    }
}
