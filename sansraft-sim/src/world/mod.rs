//! The simulated world: servers, network, storage and clients driven by one discrete-event
//! loop in simulated microseconds, with the checker run after every step.
//!
//! [`run`] is the entry point: scenario in, report (and optionally a trace) out. The loop pops
//! the earliest event, hands it to the node it concerns (unless that node is crashed — dropped —
//! or paused — queued), carries out the node's actions, checks, and repeats until the scenario's
//! end or the first violation.

mod carry_out;
mod clients;
mod detector;
mod driven;
mod failover;
mod faults;
mod membership;
mod stale_reads;
mod step;
mod trace_hash;

pub use driven::DrivenWorld;

use crate::checker::{AppendRules, Checker, ElectionTimers};
use crate::client::{ClientShape, Clients};
use crate::event::{Event, EventQueue, Lane};
use crate::host::Host;
use crate::linearizability;
use crate::liveness::Liveness;
use crate::network::Network;
use crate::report::{LinOutcome, RunReport, RunStats};
use crate::rng::{SimRng, Stream};
use crate::scenario::Scenario;
use crate::trace::{Fnv, NodeState, TraceRecord, Tracer};
use crate::violation::{Failure, Violation, ViolationKind};
use crate::Micros;
use sansraft::{Action, DurableState, Input, Membership, Node, NodeId, Role};
use std::collections::VecDeque;

/// How to run a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// Record a per-event trace.
    pub trace: bool,
    /// Step budget of the linearizability checker.
    pub lin_max_steps: u64,
    /// Most events a run may process before it is declared a runaway (livelock or storm).
    pub max_events: u64,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            trace: false,
            lin_max_steps: 2_000_000,
            max_events: 5_000_000,
        }
    }
}

/// A run's report, and its trace if one was asked for.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// The report.
    pub report: RunReport,
    /// The per-event trace (empty unless [`RunOptions::trace`]).
    pub trace: Vec<TraceRecord>,
}

/// Runs a scenario to its end or its first violation. Panics inside sansraft are caught and
/// reported as [`ViolationKind::Panic`].
pub fn run(scenario: &Scenario, options: RunOptions) -> RunOutput {
    let mut world = World::new(scenario.clone(), options);
    let result = crate::panics::catching(|| world.run(options.max_events));
    if let Err(message) = result {
        world.violate(Failure::new(ViolationKind::Panic, None, message));
    }
    world.finish(options)
}

pub(crate) struct World {
    sc: Scenario,
    now: Micros,
    event_no: u64,
    queue: EventQueue,
    hosts: Vec<Host>,
    network: Network,
    clients: Clients,
    checker: Checker,
    /// The disks' behaviour now: the scenario's, or calmed in a respite and after the faults.
    storage: crate::scenario::StorageParams,
    rng_net: SimRng,
    rng_disk: SimRng,
    rng_client: SimRng,
    rng_stale: SimRng,
    /// The bounded-staleness read of the current step: its id and bound.
    stale_read: Option<(u64, u32)>,
    /// Reused for every step: no allocation per step for the action list. (`None` while a step
    /// holds it: putting it back then drops no empty placeholder.)
    actions: Option<Vec<Action>>,
    /// Reused queue of the inputs one event feeds a node (see `step`), held like `actions`.
    inputs: Option<VecDeque<Input>>,
    /// The client request being proposed in the current step.
    proposing: Option<(usize, u64)>,
    /// The next read id handed to a node.
    next_read_id: u64,
    /// The membership fault (index into the schedule) being proposed in the current step.
    changing: Option<usize>,
    /// The latest configuration any node applied (so, committed), with its index.
    committed_config: (sansraft::Index, Membership),
    /// A [`crate::Fault::SplitJoint`] waits for the next joint configuration until then.
    split_joint_until: Micros,
    /// Transfers asked for (leader, target) whose outcome has not come yet: a `Done` of another
    /// is a leader's own hand-over to a member of higher priority.
    asked_transfers: Vec<(NodeId, NodeId)>,
    /// Attempts made so far per membership fault.
    change_attempts: std::collections::BTreeMap<usize, u32>,
    hash: Fnv,
    tracer: Option<Tracer>,
    stats: RunStats,
    liveness: Liveness,
    /// Who leads the highest term (`Some(None)`: nobody), as of the last event that could change
    /// it or the cluster's health (a fault, a crash, restart or resume, a role, term or committed
    /// configuration changed by a step); `None` until the liveness oracles have looked again.
    liveness_view: Option<Option<(sansraft::Term, NodeId)>>,
    /// With the view: the leader's priority and the highest of a voter that may lead in its
    /// configuration, if lower and that configuration is committed (see `priority_gap`).
    priority_gap: Option<(u32, u32)>,
    /// A crashed leader of a quiescent run whose replacement is awaited.
    failover: Option<failover::Watch>,
    /// Figure 2's follower timer, as an oracle.
    timers: ElectionTimers,
    /// Figure 2's rule for rejecting an append, as an oracle.
    append_rules: AppendRules,
    violation: Option<Violation>,
    /// `Some` when a caller drives the world ([`DrivenWorld`]): messages wait there for it.
    manual: Option<driven::Manual>,
}

impl World {
    fn new(sc: Scenario, options: RunOptions) -> World {
        let n = sc.nodes;
        let voters = sc.initial_voters();
        let initial = DurableState::bootstrap(Membership {
            witnesses: sc.witnesses.clone(),
            priorities: sc.priorities.clone(),
            ..Membership::with_voters(1..=voters as NodeId)
        });
        // Spares start outside the configuration, as a server being added does.
        let spare = DurableState::bootstrap(Membership::default());
        let mut rng_client = SimRng::new(sc.seed, Stream::Clients);
        let shape = ClientShape::new(&sc.clients, sc.clients_stop_us);
        let clients = Clients::new(shape, n, &mut rng_client);
        let mut world = World {
            now: 0,
            event_no: 0,
            queue: EventQueue::default(),
            hosts: Vec::with_capacity(n),
            network: Network::new(n, sc.network, sc.seed),
            clients,
            checker: Checker::new(n, &initial),
            storage: sc.storage,
            rng_net: SimRng::new(sc.seed, Stream::Network),
            rng_disk: SimRng::new(sc.seed, Stream::Storage),
            rng_client,
            rng_stale: SimRng::new(sc.seed, Stream::StaleReadDraws),
            stale_read: None,
            actions: Some(Vec::with_capacity(64)),
            inputs: Some(VecDeque::with_capacity(8)),
            proposing: None,
            changing: None,
            next_read_id: 1,
            committed_config: (0, initial.snapshot.membership.clone()),
            change_attempts: std::collections::BTreeMap::new(),
            asked_transfers: Vec::new(),
            split_joint_until: 0,
            hash: Fnv::default(),
            tracer: options.trace.then(Tracer::default),
            stats: RunStats::default(),
            liveness: Liveness::default(),
            liveness_view: None,
            priority_gap: None,
            failover: None,
            timers: ElectionTimers::new(n, sc.raft.election_timeout_ticks),
            append_rules: AppendRules::new(n),
            violation: None,
            manual: None,
            sc,
        };
        for id in 1..=n as NodeId {
            let mut config = world.sc.raft.config(id, world.sc.seed);
            config.witness = world.sc.is_witness(id);
            let clock = world.sc.clocks[id as usize - 1];
            let state = if id as usize <= voters {
                initial.clone()
            } else {
                spare.clone()
            };
            match Node::new(config.clone(), state.clone(), 0) {
                Ok(node) => {
                    let mut host = Host::new(config, node, state, clock);
                    host.detector = detector::detector(&world.sc, id as usize - 1);
                    world.hosts.push(host);
                }
                Err(e) => {
                    world.violate(Failure::new(
                        ViolationKind::Panic,
                        Some(id),
                        format!("node refused to start: {e}"),
                    ));
                    return world;
                }
            }
            world.queue.push(
                clock.first_tick_us,
                Event::Tick {
                    node: id as usize - 1,
                    gen: 0,
                },
            );
        }
        let scheduled = Lane::Scheduled;
        for (index, f) in world.sc.faults.iter().enumerate() {
            world
                .queue
                .push_in_order(scheduled, f.at_us, Event::Fault { index });
        }
        world
            .queue
            .push_in_order(scheduled, world.sc.fault_end_us, Event::FaultPhaseEnd);
        world.queue.push_in_order(
            scheduled,
            world.sc.fault_end_us + world.sc.liveness.leader_deadline_us,
            Event::LeaderDeadline,
        );
        for client in 0..world.clients.count() {
            let at = world.clients.think(&mut world.rng_client);
            world.queue.push(at, Event::ClientIssue { client });
        }
        if let Some(p) = world.sc.stale_reads {
            let at = crate::stale_read::first_at(p, &mut world.rng_stale);
            world.queue.push(at, Event::StaleRead);
        }
        world
    }

    fn run(&mut self, max_events: u64) {
        if self.violation.is_some() {
            return;
        }
        while let Some((at, event)) = self.queue.pop() {
            if at > self.sc.end_us {
                break;
            }
            if self.event_no >= max_events {
                self.violate(Failure::runaway(max_events, at));
                return;
            }
            self.now = at;
            self.event_no += 1;
            self.hash_event(&event);
            if let Some(t) = self.tracer.as_mut() {
                let node = event.target_node().map(|i| i as NodeId + 1);
                t.begin(self.event_no, at, event.name(), node);
            }
            self.handle(event);
            self.check_liveness();
            if self.tracer.is_some() {
                let states = self.node_states();
                let violation = self.violation.as_ref().map(|v| v.to_string());
                if let Some(t) = self.tracer.as_mut() {
                    t.current().violation = violation;
                    t.end(states);
                }
            }
            if self.violation.is_some() {
                return;
            }
        }
        self.now = self.now.max(self.sc.end_us);
    }

    fn handle(&mut self, event: Event) {
        if let Some(i) = event.target_node() {
            let host = &mut self.hosts[i];
            if !host.is_up() {
                if let Event::Deliver { .. } = event {
                    self.stats.messages_lost += 1;
                }
                if let Event::PersistAck { token, .. } = event {
                    // The storage service outlives the node's process: what it acknowledges
                    // reaches the next incarnation, which must ignore it.
                    host.held_acks.push(token);
                }
                self.note("dropped: node down");
                return;
            }
            if host.paused {
                if !matches!(event, Event::Tick { .. }) {
                    host.backlog.push(event);
                    self.note("queued: node paused");
                }
                return;
            }
        }
        match event {
            Event::Tick { node, gen } => self.on_tick(node, gen),
            Event::Ping { from, to } => self.on_ping(from, to),
            Event::Deliver { msg, sent_at } => self.on_deliver(msg, sent_at),
            Event::StorageDone { node, gen } => self.on_storage_done(node, gen),
            Event::PersistAck { node, token } => self.on_persist_ack(node, token),
            Event::Fault { index } => self.apply_fault(index),
            Event::Crash { node, tear } => self.crash(node, tear),
            Event::Restart { node } => {
                self.hosts[node].crash_on_write = None;
                self.restart(node);
            }
            Event::FaultPhaseEnd => self.end_fault_phase(),
            Event::LeaderDeadline => {
                if let Err(f) = self.liveness.check_leader(&self.sc.liveness) {
                    self.violate(f);
                }
            }
            Event::ClientIssue { client } => self.on_client_issue(client),
            Event::ClientRequest {
                node,
                client,
                seq,
                command,
            } => self.on_client_request(node, client, seq, command),
            Event::ClientReply { client, seq, reply } => self.on_client_reply(client, seq, reply),
            Event::ClientSend(attempt) => self.client_send(attempt),
            Event::ClientTimeout {
                client,
                seq,
                attempt,
            } => self.on_client_timeout(client, seq, attempt),
            Event::ProbeRead { node } => self.on_probe_read(node),
            Event::StaleRead => self.on_stale_read(),
        }
    }

    /// True while every link works and is reliable, and every node and disk runs normally
    /// (see [`crate::health`]).
    fn cluster_healthy(&self) -> bool {
        crate::health::cluster_healthy(&self.network, &self.storage, &self.hosts)
    }

    /// After every event: the healthy-window liveness oracles.
    fn check_liveness(&mut self) {
        if self.violation.is_some() || self.manual.is_some() {
            return;
        }
        // Health and leadership change only at the events that clear the view: no need to
        // recompute them after every event.
        let leader = match self.liveness_view {
            Some(leader) => leader,
            None => {
                let healthy = self.cluster_healthy();
                let leader = match self.current_leader() {
                    (term, Some(id)) => Some((term, id)),
                    _ => None,
                };
                self.liveness
                    .set_health(self.now, healthy, leader.is_some());
                self.liveness_view = Some(leader);
                self.priority_gap = leader.and_then(|(_, id)| self.priority_gap(id));
                leader
            }
        };
        self.check_failover(leader);
        let params = self.sc.liveness;
        // Only while a leader of lower priority leads after the faults: has a member it should
        // hand over to caught up yet?
        let ready = match (leader, self.priority_gap) {
            (Some(leader), Some(_)) if self.liveness.awaits_preferred(leader) => {
                self.preferred_caught_up(leader.1)
            }
            _ => false,
        };
        let r = self
            .liveness
            .observe_leader(self.now, leader, &params)
            .and_then(|()| {
                self.liveness
                    .check_priority(self.now, leader, self.priority_gap, ready, &params)
            })
            .and_then(|()| {
                self.liveness
                    .check_watched(self.now, self.clients.history(), &params)
            })
            .and_then(|()| {
                let (index, config) = &self.committed_config;
                self.liveness
                    .check_changes(self.now, *index, config.is_joint(), &params)
            });
        self.record(r);
    }

    /// Records the first violation.
    fn violate(&mut self, failure: Failure) {
        if self.violation.is_none() {
            self.violation = Some(Violation {
                failure,
                event: self.event_no,
                at_us: self.now,
            });
        }
    }

    /// True if node `i` counts its writes durable and its entries applied as it hands them out
    /// (`Io::Synchronous`): the host then carries them out at once and acknowledges nothing.
    pub(super) fn synchronous(&self, i: usize) -> bool {
        self.sc.raft.synchronous.io(self.hosts[i].id) == sansraft::Io::Synchronous
    }

    /// Adds a note to the current trace record (no-op unless tracing).
    pub(super) fn note(&mut self, text: &str) {
        if let Some(t) = self.tracer.as_mut() {
            t.note(text);
        }
    }

    fn node_states(&self) -> Vec<NodeState> {
        self.hosts
            .iter()
            .map(|h| match &h.node {
                Some(node) => {
                    let s = node.status();
                    NodeState {
                        id: h.id,
                        up: true,
                        paused: h.paused,
                        role: role_name(s.role).to_owned(),
                        term: s.term,
                        commit: s.commit,
                        last: s.last_index,
                        config: describe_membership(node.membership()),
                        disk: h.disk.describe_speed(),
                        cut_from: self.network.cut_from(h.id),
                    }
                }
                None => NodeState {
                    id: h.id,
                    role: "down".to_owned(),
                    disk: h.disk.describe_speed(),
                    cut_from: self.network.cut_from(h.id),
                    ..NodeState::default()
                },
            })
            .collect()
    }

    /// The priority of leader `id` and the highest priority of a voter of its configuration
    /// that may lead, if that is higher and the configuration is committed (the leader hands
    /// over only then).
    fn priority_gap(&self, id: NodeId) -> Option<(u32, u32)> {
        let node = self.hosts[id as usize - 1].node.as_ref()?;
        let m = node.membership();
        if m.priorities.is_empty() || m.is_joint() || node.membership_index() > node.status().commit
        {
            return None;
        }
        let top = (m.priorities.iter())
            .filter(|p| m.may_lead(p.id))
            .map(|p| p.priority)
            .max()?;
        let mine = m.priority(id);
        (mine < top).then_some((mine, top))
    }

    /// True if a running voter of leader `id`'s configuration that may lead, of higher priority
    /// than `id`, holds the leader's committed prefix (the leader then hands over to it).
    fn preferred_caught_up(&self, id: NodeId) -> bool {
        let Some(leader) = self.hosts[id as usize - 1].node.as_ref() else {
            return false;
        };
        let m = leader.membership();
        let (mine, commit) = (m.priority(id), leader.status().commit);
        (m.priorities.iter())
            .filter(|p| p.priority > mine && m.may_lead(p.id))
            .filter_map(|p| self.hosts.get(p.id as usize - 1)?.node.as_ref())
            .any(|n| {
                n.status().last_index >= commit && n.log_term(commit) == leader.log_term(commit)
            })
    }

    /// The highest term of any running member, and the leader in it, if any. Members are the
    /// nodes of the latest committed configuration: a removed node that never heard of its
    /// removal may campaign in ever higher terms, ignored by everyone (an operator would have
    /// shut it down), so its term says nothing about the cluster.
    fn current_leader(&self) -> (sansraft::Term, Option<NodeId>) {
        let mut best = (0, None);
        let members = &self.committed_config.1;
        for node in self
            .hosts
            .iter()
            .filter_map(|h| h.node.as_ref())
            .filter(|n| members.contains(n.id()))
        {
            if node.term() > best.0 {
                best = (node.term(), None);
            }
            if node.term() == best.0 && node.role() == Role::Leader {
                best.1 = Some(node.id());
            }
        }
        best
    }

    fn finish(mut self, options: RunOptions) -> RunOutput {
        let mut lin = LinOutcome::Skipped;
        if self.violation.is_none() {
            lin = self.check_linearizability(options.lin_max_steps);
        }
        if self.violation.is_none() {
            let end = self.sc.end_us;
            let r = self
                .liveness
                .check_requests(self.clients.history(), &self.sc.liveness, end);
            if let Err(f) = r {
                self.violate(f);
            }
        }
        for node in self.hosts.iter().filter_map(|h| h.node.as_ref()) {
            self.stats.priority_transfers += node.counters().priority_transfers;
            self.stats.quiesced += node.counters().quiesced;
        }
        let history = self.clients.history();
        self.stats.events = self.event_no;
        self.stats.commits = self.checker.committed_len();
        self.stats.elections = self.checker.elections() as u64;
        self.stats.truncations = self.checker.truncations();
        self.stats.ops = history.len() as u64;
        self.stats.ops_completed = history.iter().filter(|o| o.completed.is_some()).count() as u64;
        self.stats.outcomes = self.liveness.outcomes(self.now);
        let report = RunReport {
            seed: self.sc.seed,
            nodes: self.sc.nodes,
            profile: self.sc.profile,
            trace_hash: self.hash.finish(),
            sim_time_us: self.now,
            violation: self.violation.clone(),
            linearizability: lin,
            stats: self.stats,
            options: crate::report::RunOptionsDrawn {
                voters: self.sc.initial_voters(),
                reads: self.sc.reads,
                pre_vote: self.sc.raft.pre_vote,
                check_quorum: self.sc.raft.check_quorum,
                auto_promote: self.sc.raft.auto_promote_learners,
                stickiness: self.sc.raft.leader_stickiness,
                witnesses: (1..=self.sc.nodes as NodeId).any(|id| self.sc.is_witness(id)),
                quiescence: self.sc.quiescence.is_some(),
                priorities: self.sc.has_priorities(),
            },
        };
        let mut trace = self.tracer.map(|t| t.records).unwrap_or_default();
        if let (Some(v), Some(last)) = (&report.violation, trace.last_mut()) {
            if v.failure.kind.is_end_of_run() {
                last.violation = Some(v.to_string());
            }
        }
        RunOutput { report, trace }
    }

    fn check_linearizability(&mut self, max_steps: u64) -> LinOutcome {
        match linearizability::check(self.clients.history(), max_steps) {
            linearizability::Verdict::Linearizable => LinOutcome::Linearizable,
            linearizability::Verdict::Inconclusive { key } => LinOutcome::Inconclusive { key },
            linearizability::Verdict::NotLinearizable { key, operations } => {
                let detail = linearizability::describe_counterexample(key, &operations);
                self.violate(Failure::new(ViolationKind::Linearizability, None, detail));
                LinOutcome::NotLinearizable
            }
        }
    }
}

/// A configuration in traces: incoming voters, `|` outgoing voters, `+` learners, `w` the
/// voters that are witnesses.
fn describe_membership(m: &Membership) -> String {
    let ids = |ids: &[NodeId]| {
        ids.iter()
            .map(|id| id.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut out = ids(&m.voters);
    if m.is_joint() {
        out.push('|');
        out.push_str(&ids(&m.outgoing));
    }
    if !m.learners.is_empty() {
        out.push_str(" +");
        out.push_str(&ids(&m.learners));
    }
    if !m.witnesses.is_empty() {
        out.push_str(" w");
        out.push_str(&ids(&m.witnesses));
    }
    out
}

impl World {
    /// Node `i` reported the outcome of a leadership transfer it was asked for.
    pub(crate) fn on_transfer_outcome(&mut self, i: usize, outcome: sansraft::TransferOutcome) {
        let (from, target) = match outcome {
            sansraft::TransferOutcome::Done { target }
            | sansraft::TransferOutcome::Aborted { target }
            | sansraft::TransferOutcome::Refused { target, .. } => (self.hosts[i].id, target),
        };
        let asked = self
            .asked_transfers
            .iter()
            .position(|&t| t == (from, target));
        if let Some(at) = asked {
            self.asked_transfers.swap_remove(at);
            // Transfers asked for; a leader's own hand-overs to a member of higher priority
            // are counted apart (`RunStats::priority_transfers`).
            if let sansraft::TransferOutcome::Done { .. } = outcome {
                self.stats.transfers.1 += 1;
            }
        } else if let sansraft::TransferOutcome::Done { .. } = outcome {
            self.stats.priority_transfers_done += 1;
        }
        if let Some(t) = self.tracer.as_mut() {
            t.note(&format!("transfer: {outcome:?}"));
        }
        let Some(node) = self.hosts[i].node.as_ref() else {
            return;
        };
        let after = crate::liveness::LeaderAfter {
            role: node.role(),
            term: node.term(),
            leader: node.leader(),
            membership_settled: node.membership_index() <= node.status().commit,
        };
        let id = node.id();
        let r = self.liveness.transfer_ended(self.now, outcome, after, id);
        self.record(r);
    }
}

/// A role's name in traces.
pub(crate) fn role_name(role: Role) -> &'static str {
    match role {
        Role::Follower => "follower",
        Role::PreCandidate => "pre_candidate",
        Role::Candidate => "candidate",
        Role::Leader => "leader",
    }
}
