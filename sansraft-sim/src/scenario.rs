//! A scenario: everything that determines a run, as plain data. It is generated from a seed and
//! a profile, and saved whole in replay files, so a replay does not depend on the generator.

use crate::fault::{Fault, ScheduledFault};
use crate::profile::{FaultMix, Profile};
use crate::rng::{mix, SimRng, Stream};
use crate::Micros;
use crate::{membership_schedule, schedule};
use sansraft::{Canary, Config, Io, NodeId, Priority};
use serde::{Deserialize, Serialize};

/// The nominal tick period: 10 ms of simulated time.
pub const NOMINAL_TICK_US: Micros = 10_000;

/// How long the two phases of a run last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// The safety phase: faults fire during it. At its end everything heals.
    pub fault_phase_us: Micros,
    /// The liveness phase: a healthy cluster must elect a leader and serve every request.
    pub liveness_phase_us: Micros,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            fault_phase_us: 30_000_000,
            liveness_phase_us: 10_000_000,
        }
    }
}

/// How many voters a run starts with: a fixed number, or one drawn per seed from a range (swarm
/// testing over cluster sizes). Written `5` or `3-7` on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Voters {
    /// Every seed starts with this many voters.
    Fixed(usize),
    /// Each seed draws its count from `min..=max`.
    Range {
        /// The fewest voters.
        min: usize,
        /// The most voters.
        max: usize,
    },
}

impl Voters {
    /// The voter count of `seed`'s run.
    pub fn for_seed(self, seed: u64) -> usize {
        match self {
            Voters::Fixed(n) => n,
            Voters::Range { min, max } => {
                let span = (max - min + 1) as u64;
                min + (mix(seed ^ 0x766f_7465_7273) % span) as usize
            }
        }
    }
}

impl core::fmt::Display for Voters {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Voters::Fixed(n) => write!(f, "{n}"),
            Voters::Range { min, max } => write!(f, "{min}-{max}"),
        }
    }
}

impl core::str::FromStr for Voters {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let count = |s: &str| -> Result<usize, String> {
            let n: usize = s.trim().parse().map_err(|e| format!("{s:?}: {e}"))?;
            if (1..=15).contains(&n) {
                Ok(n)
            } else {
                Err(format!("{n} voters: need 1 to 15"))
            }
        };
        match s.split_once('-') {
            None => Ok(Voters::Fixed(count(s)?)),
            Some((a, b)) => {
                let (min, max) = (count(a)?, count(b)?);
                if min > max {
                    return Err(format!("{s}: the range is empty"));
                }
                Ok(Voters::Range { min, max })
            }
        }
    }
}

/// Everything that determines a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scenario {
    /// The run's seed; network, storage and client randomness derive from it.
    pub seed: u64,
    /// The profile the scenario was generated from (informational once generated).
    pub profile: Profile,
    /// Node count; ids are `1..=nodes`.
    pub nodes: usize,
    /// The voters of the initial configuration are `1..=initial_voters`; the other nodes are
    /// spares, outside the configuration until the operator adds them. 0 means all nodes.
    #[serde(default)]
    pub initial_voters: usize,
    /// Engine options, the same for every node.
    pub raft: RaftParams,
    /// Network behaviour during the fault phase.
    pub network: NetworkParams,
    /// Storage behaviour.
    pub storage: StorageParams,
    /// Each node's clock, indexed by id − 1.
    pub clocks: Vec<ClockParams>,
    /// The client population.
    pub clients: ClientParams,
    /// Liveness bounds.
    pub liveness: LivenessParams,
    /// When the fault phase ends and everything heals.
    pub fault_end_us: Micros,
    /// When the run ends.
    pub end_us: Micros,
    /// Clients start no new operation from then on.
    pub clients_stop_us: Micros,
    /// The fault schedule, sorted by time.
    pub faults: Vec<ScheduledFault>,
    /// How clients' gets are served.
    #[serde(default)]
    pub reads: ReadMode,
    /// The initial voters that are witnesses (keep no payloads, never lead).
    #[serde(default)]
    pub witnesses: Vec<NodeId>,
    /// Bounded-staleness reads the simulator asks of random nodes (`None`: none).
    #[serde(default)]
    pub stale_reads: Option<StaleReadParams>,
    /// Leader priorities of the initial configuration (`Membership::priorities`, sorted by id).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub priorities: Vec<Priority>,
    /// Quiescence and the failure detector it needs (`None`: groups never go quiet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiescence: Option<QuiescenceParams>,
}

/// Quiescence (`Config::quiesce`) with the failure detector every embedder that turns it on
/// must run: each node pings every other node every `ping_every_ticks` of its clock, and tells
/// its engine a peer is unreachable (`Input::PeerUnreachable`) once it heard nothing from it,
/// pings or Raft messages, for `unreachable_after_ticks`. Quiet nodes are not ticked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuiescenceParams {
    /// Ticks between two pings from a node to each other node.
    pub ping_every_ticks: u32,
    /// Ticks of silence after which a peer is reported unreachable.
    pub unreachable_after_ticks: u32,
}

/// Bounded-staleness reads (`Input::ReadStale`): the simulator asks a random node (leader,
/// follower, learner or spare) about every `every_us`, with a bound of 1 to 4 election
/// timeouts, and checks every read served against its bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaleReadParams {
    /// The mean time between two reads.
    pub every_us: Micros,
}

impl StaleReadParams {
    /// The largest bound drawn, in election timeouts.
    pub const MAX_BOUND_TIMEOUTS: u32 = 4;
}

impl Scenario {
    /// Switches on a deliberate sansraft bug in every node. Under `EarlierTermCommit` new
    /// leaders skip their empty entry (it would hide the bug), so a read waiting for a commit in
    /// the leader's term could wait until the next write; gets then go through the log, which
    /// keeps the run about the bug rather than about a stalled read.
    pub fn set_canary(&mut self, canary: Option<Canary>) {
        self.raft.canary = canary;
        if canary == Some(Canary::EarlierTermCommit) {
            self.reads = ReadMode::Log;
        }
    }
}

/// How a client's get is served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadMode {
    /// As a command through the log, like a write.
    #[default]
    Log,
    /// Through ReadIndex (thesis §6.4): confirmed by a heartbeat round, at the leader or
    /// forwarded by a follower.
    ReadIndex,
    /// Through the leader's lease (thesis §6.4.1), with `max_clock_drift_percent` set from the
    /// scenario's clocks.
    Lease,
}

/// Engine options (see [`sansraft::Config`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftParams {
    /// Election timeout T in ticks.
    pub election_timeout_ticks: u32,
    /// Heartbeat interval in ticks.
    pub heartbeat_interval_ticks: u32,
    /// Pre-vote.
    pub pre_vote: bool,
    /// Check-quorum.
    pub check_quorum: bool,
    /// Entry bytes per append.
    pub max_append_bytes: u64,
    /// Appends in flight per follower.
    pub max_inflight_msgs: usize,
    /// Uncommitted bytes a leader accepts.
    pub max_uncommitted_bytes: u64,
    /// The application takes a snapshot each time it has applied this many entries past its
    /// last one (0: never).
    #[serde(default)]
    pub snapshot_interval: u64,
    /// Entries kept behind a snapshot when the log is compacted.
    #[serde(default)]
    pub compaction_keep_entries: u64,
    /// Snapshot chunk size in bytes.
    #[serde(default = "default_chunk_bytes")]
    pub snapshot_chunk_bytes: u64,
    /// Snapshot chunks in flight per follower.
    #[serde(default = "default_chunks_in_flight")]
    pub max_snapshot_chunks_in_flight: usize,
    /// Ticks without progress before a snapshot transfer is resent.
    #[serde(default = "default_retry_ticks")]
    pub snapshot_retry_ticks: u32,
    /// A deliberate protocol bug switched on in every node, to prove the checks catch it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Canary>,
    /// Leaders promote caught-up learners by themselves.
    #[serde(default)]
    pub auto_promote_learners: bool,
    /// Which nodes carry out their actions synchronously (`sansraft::Io::Synchronous`).
    #[serde(default, skip_serializing_if = "Synchronous::is_none")]
    pub synchronous: Synchronous,
    /// Serve reads from the leader's lease.
    #[serde(default)]
    pub lease_reads: bool,
    /// The clock-drift bound the lease is shortened by.
    #[serde(default = "default_drift")]
    pub max_clock_drift_percent: u32,
    /// How close (in entries) a learner must be to the leader's log to count as caught up.
    #[serde(default = "default_catch_up_gap")]
    pub learner_catch_up_gap: u64,
    /// Leader stickiness (thesis §4.2.3); off only without leases.
    #[serde(default = "default_stickiness")]
    pub leader_stickiness: bool,
    /// Quiescence (`Config::quiesce`); set with [`Scenario::quiescence`].
    #[serde(default)]
    pub quiesce: bool,
}

fn default_stickiness() -> bool {
    true
}

fn default_drift() -> u32 {
    Config::new(1, 0).max_clock_drift_percent
}

fn default_catch_up_gap() -> u64 {
    Config::new(1, 0).learner_catch_up_gap
}

fn default_chunk_bytes() -> u64 {
    1 << 20
}

fn default_chunks_in_flight() -> usize {
    4
}

fn default_retry_ticks() -> u32 {
    6
}

impl RaftParams {
    /// The configuration of node `id` in a run seeded with `seed`.
    pub fn config(&self, id: NodeId, seed: u64) -> Config {
        let mut c = Config::new(id, mix(seed ^ mix(id)));
        c.election_timeout_ticks = self.election_timeout_ticks;
        c.heartbeat_interval_ticks = self.heartbeat_interval_ticks;
        c.pre_vote = self.pre_vote;
        c.check_quorum = self.check_quorum;
        c.max_append_bytes = self.max_append_bytes;
        c.max_inflight_msgs = self.max_inflight_msgs;
        c.max_uncommitted_bytes = self.max_uncommitted_bytes;
        c.compaction_keep_entries = self.compaction_keep_entries;
        c.snapshot_chunk_bytes = self.snapshot_chunk_bytes;
        c.max_snapshot_chunks_in_flight = self.max_snapshot_chunks_in_flight;
        c.snapshot_retry_ticks = self.snapshot_retry_ticks;
        c.canary = self.canary;
        c.auto_promote_learners = self.auto_promote_learners;
        c.leader_stickiness = self.leader_stickiness;
        c.learner_catch_up_gap = self.learner_catch_up_gap;
        c.lease_reads = self.lease_reads;
        c.max_clock_drift_percent = self.max_clock_drift_percent;
        c.io = self.synchronous.io(id);
        c.quiesce = self.quiesce;
        c
    }
}

/// Which nodes of a run carry out each step's actions synchronously ([`Io::Synchronous`]): their
/// writes are durable, and their entries applied, as the actions are carried out, and nothing is
/// acknowledged. The others acknowledge writes when the simulated disk completes them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Synchronous {
    /// Every node acknowledges.
    #[default]
    None,
    /// Nodes with odd ids are synchronous, the others acknowledge.
    Odd,
    /// Every node is synchronous.
    All,
}

impl Synchronous {
    /// Every choice, in a fixed order.
    pub const ALL: [Synchronous; 3] = [Synchronous::None, Synchronous::Odd, Synchronous::All];

    /// The choice's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Synchronous::None => "none",
            Synchronous::Odd => "odd",
            Synchronous::All => "all",
        }
    }

    fn is_none(&self) -> bool {
        *self == Synchronous::None
    }

    /// How node `id` does its I/O.
    pub fn io(self, id: NodeId) -> Io {
        match self {
            Synchronous::All => Io::Synchronous,
            Synchronous::Odd if id % 2 == 1 => Io::Synchronous,
            Synchronous::None | Synchronous::Odd => Io::Asynchronous,
        }
    }
}

impl std::fmt::Display for Synchronous {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

impl std::str::FromStr for Synchronous {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Synchronous::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| format!("unknown choice {s:?}; one of: none, odd, all"))
    }
}

/// Per-link network behaviour (every link alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkParams {
    /// Fixed one-way delay.
    pub base_delay_us: Micros,
    /// Uniform extra delay in `[0, jitter]`; overlapping delays reorder messages.
    pub jitter_us: Micros,
    /// Probability that a message is lost, in parts per million.
    pub loss_ppm: u32,
    /// Probability that a message is delivered twice.
    pub dup_ppm: u32,
    /// Probability of a long-tail delay.
    pub tail_ppm: u32,
    /// The largest long-tail delay.
    pub tail_delay_us: Micros,
}

impl NetworkParams {
    /// The same delays without loss, duplication or long tails: the liveness phase's network.
    pub fn calmed(self) -> Self {
        NetworkParams {
            loss_ppm: 0,
            dup_ppm: 0,
            tail_ppm: 0,
            ..self
        }
    }
}

/// Disk behaviour (every node alike; faults make single disks slow or stall them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageParams {
    /// Smallest write latency.
    pub min_latency_us: Micros,
    /// Largest ordinary write latency.
    pub max_latency_us: Micros,
    /// Probability that a write is slow.
    pub slow_ppm: u32,
    /// Largest latency of a slow write.
    pub slow_latency_us: Micros,
    /// Largest delay between a write becoming durable and the node hearing of it.
    pub max_ack_delay_us: Micros,
}

impl StorageParams {
    /// The same latencies without randomly slow writes: a respite's and the liveness phase's
    /// disks.
    pub fn calmed(self) -> Self {
        StorageParams {
            slow_ppm: 0,
            ..self
        }
    }

    /// The longest a write takes on a disk no fault slows: randomly slow writes included.
    pub(crate) fn longest_write_us(&self) -> Micros {
        if self.slow_ppm > 0 {
            self.max_latency_us.max(self.slow_latency_us)
        } else {
            self.max_latency_us
        }
    }
}

/// One node's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockParams {
    /// The node's tick period (nominal ± skew).
    pub tick_us: Micros,
    /// When the node first ticks.
    pub first_tick_us: Micros,
}

/// The client population.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientParams {
    /// Number of clients; each has one operation outstanding at a time.
    pub count: usize,
    /// Keys are drawn from `0..keys`.
    pub keys: u64,
    /// Largest pause between an answer and the next operation.
    pub max_think_us: Micros,
    /// A request unanswered for this long is retried elsewhere.
    pub timeout_us: Micros,
    /// Pause before retrying after a refusal.
    pub backoff_us: Micros,
}

/// Liveness bounds, checked once the fault phase is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LivenessParams {
    /// A leader must be elected within this long after everything heals.
    pub leader_deadline_us: Micros,
    /// Every request issued once a leader is elected must complete within this long.
    pub op_deadline_us: Micros,
    /// After the faults, a leader of lower priority than a voter of its configuration that may
    /// lead must have handed over within this long of that voter holding its committed prefix
    /// (docs/simulator.md, "Leader priorities").
    #[serde(default = "default_priority_deadline")]
    pub priority_deadline_us: Micros,
}

/// The hand-over bound of replay files saved before it existed: that of the longest election
/// timeout drawn (20 ticks).
fn default_priority_deadline() -> Micros {
    priority_deadline(20)
}

/// How long a leader of lower priority may keep leading a healthy cluster once a member it
/// should hand over to holds its committed prefix: the longest back-off after aborted automatic
/// transfers (8 election timeouts), the transfer itself (one more), and as many again for
/// committing its term, the log's tail and a slow disk's writes; plus a quarter for clocks that
/// run up to 20 % slow. 25 election timeouts of nominal ticks.
pub fn priority_deadline(election_timeout_ticks: u32) -> Micros {
    25 * u64::from(election_timeout_ticks) * NOMINAL_TICK_US
}

impl Scenario {
    /// The voters of the initial configuration.
    pub fn initial_voters(&self) -> usize {
        if self.initial_voters == 0 {
            self.nodes
        } else {
            self.initial_voters.min(self.nodes)
        }
    }

    /// Draws a scenario for `seed` from `profile`.
    pub fn generate(seed: u64, voters: usize, profile: Profile, timing: Timing) -> Scenario {
        let mut rng = SimRng::new(seed, Stream::Scenario);
        let mut mix = profile.mix();
        if mix.swarm {
            swarm(&mut rng, &mut mix);
        }
        let witnesses = witnesses(seed, voters);
        let plan = membership_schedule::generate(
            seed,
            voters,
            &witnesses,
            timing.fault_phase_us,
            mix.partitions,
        );
        let nodes = voters + plan.spares;
        let mut raft = raft_params(&mut rng, &mix);
        raft.auto_promote_learners = plan.auto_promote;
        raft.learner_catch_up_gap = plan.catch_up_gap;
        let network = network_params(&mut rng, &mix);
        let storage = storage_params(&mut rng, &mix);
        let clocks: Vec<ClockParams> = (0..nodes)
            .map(|_| {
                let skew = rng.between(0, 2 * mix.max_skew_ppm) as i64 - mix.max_skew_ppm as i64;
                let tick_us = (NOMINAL_TICK_US as i64 * (1_000_000 + skew) / 1_000_000) as Micros;
                ClockParams {
                    tick_us,
                    first_tick_us: rng.between(1, tick_us),
                }
            })
            .collect();
        let mut clients = ClientParams {
            count: rng.between(3, 8) as usize,
            keys: rng.between(2, 6),
            max_think_us: rng.between(100_000, 1_000_000),
            timeout_us: rng.between(300_000, 800_000),
            backoff_us: 20_000,
        };
        if mix.swarm {
            quiet_workload(seed, &mut clients);
        }
        let liveness = LivenessParams {
            leader_deadline_us: 300 * NOMINAL_TICK_US,
            op_deadline_us: 300 * NOMINAL_TICK_US,
            priority_deadline_us: priority_deadline(raft.election_timeout_ticks),
        };
        let fault_end_us = timing.fault_phase_us;
        let reads = read_mode(seed, &mut raft, clocks.as_slice());
        let stale_reads = stale_reads(seed);
        stickiness(seed, &mut raft);
        let mut faults = schedule::generate(&mut rng, nodes, &mix, fault_end_us);
        faults.extend(plan.changes);
        faults.extend(campaigns(seed, nodes, fault_end_us));
        let (priorities, priority_changes) = priorities(seed, voters, nodes, fault_end_us);
        let quiescence = quiescence(seed, &mut raft);
        faults.extend(priority_changes);
        faults.sort_by_key(|f| f.at_us);
        Scenario {
            seed,
            profile,
            nodes,
            initial_voters: voters,
            witnesses,
            reads,
            stale_reads,
            raft,
            network,
            storage,
            clocks,
            clients,
            liveness,
            fault_end_us,
            end_us: fault_end_us + timing.liveness_phase_us,
            clients_stop_us: (fault_end_us + timing.liveness_phase_us)
                .saturating_sub(liveness.op_deadline_us),
            faults,
            priorities,
            quiescence,
        }
    }

    /// True if node `id` is a witness in this run: one of the initial voters that are, or a
    /// spare the operator adds as one. A witness is declared as such for life
    /// (`Config::witness`).
    pub fn is_witness(&self, id: NodeId) -> bool {
        self.witnesses.contains(&id)
            || (self.faults.iter())
                .any(|f| matches!(f.fault, Fault::AddWitness { node } if node == id))
    }

    /// True if the run has leader priorities: in its initial configuration or changed by the
    /// operator.
    pub fn has_priorities(&self) -> bool {
        !self.priorities.is_empty()
            || (self.faults.iter()).any(|f| matches!(f.fault, Fault::SetPriority { .. }))
    }
}

/// A third of the seeds read through the log, a third through ReadIndex and a third through
/// leases (ReadIndex where check-quorum is off or the clocks drift too much for a lease).
fn read_mode(seed: u64, raft: &mut RaftParams, clocks: &[ClockParams]) -> ReadMode {
    let mut rng = SimRng::new(seed, Stream::Reads);
    match rng.below(3) {
        0 => ReadMode::Log,
        1 => ReadMode::ReadIndex,
        _ => {
            // A node whose ticks are shorter runs faster: the drift is 1 − fastest/slowest
            // tick period, rounded up, plus a percent of margin.
            let fast = clocks.iter().map(|c| c.tick_us).min().unwrap_or(1);
            let slow = clocks.iter().map(|c| c.tick_us).max().unwrap_or(1).max(1);
            let drift = (100 * (slow - fast)).div_ceil(slow) as u32 + 1;
            let mut config = raft.config(1, seed);
            config.lease_reads = true;
            config.max_clock_drift_percent = drift;
            if config.validate().is_err() {
                return ReadMode::ReadIndex;
            }
            raft.lease_reads = true;
            raft.max_clock_drift_percent = drift;
            ReadMode::Lease
        }
    }
}

/// A quarter of the seeds with three voters or more start with witnesses among them: one, or
/// up to two with five voters or more, so that full voters remain a majority.
fn witnesses(seed: u64, voters: usize) -> Vec<NodeId> {
    let mut rng = SimRng::new(seed, Stream::Witnesses);
    if voters < 3 || rng.below(4) != 0 {
        return Vec::new();
    }
    let count = if voters >= 5 { rng.between(1, 2) } else { 1 };
    let mut pool: Vec<NodeId> = (1..=voters as NodeId).collect();
    let mut out: Vec<NodeId> = (0..count)
        .map(|_| pool.remove(rng.index(pool.len())))
        .collect();
    out.sort_unstable();
    out
}

/// Half of the seeds ask for bounded-staleness reads, one every 20–200 ms on average.
fn stale_reads(seed: u64) -> Option<StaleReadParams> {
    let mut rng = SimRng::new(seed, Stream::StaleReads);
    (rng.below(2) == 0).then(|| StaleReadParams {
        every_us: rng.between(20_000, 200_000),
    })
}

/// A quarter of the seeds without leases run without leader stickiness (the Raft paper's
/// voting, §5.2), so that its absence meets every fault kind too. Leases depend on it.
fn stickiness(seed: u64, raft: &mut RaftParams) {
    let mut rng = SimRng::new(seed, Stream::Options);
    raft.leader_stickiness = raft.lease_reads || rng.below(4) != 0;
}

/// Half of the seeds give the initial voters leader priorities (each 0 to 3, at least one
/// above 0), and a third (independently) have an operator setting a random node's priority
/// every few seconds of the fault phase (0 clears it; a spare outside the configuration is
/// refused). From their own stream, so that every other draw of a seed stays as it was.
fn priorities(
    seed: u64,
    voters: usize,
    nodes: usize,
    fault_end_us: Micros,
) -> (Vec<Priority>, Vec<ScheduledFault>) {
    let mut rng = SimRng::new(seed, Stream::Priorities);
    let mut initial = Vec::new();
    if rng.below(2) == 0 {
        for id in 1..=voters as NodeId {
            let priority = rng.pick(&[0, 0, 1, 2, 3]);
            if priority > 0 {
                initial.push(Priority { id, priority });
            }
        }
        if initial.is_empty() {
            let id = rng.between(1, voters as u64) as NodeId;
            initial.push(Priority { id, priority: 1 });
        }
    }
    let mut changes = Vec::new();
    if rng.below(3) == 0 {
        let mut t = rng.between(1_000_000, 6_000_000);
        while t < fault_end_us {
            changes.push(ScheduledFault {
                at_us: t,
                fault: Fault::SetPriority {
                    node: rng.between(1, nodes as u64) as NodeId,
                    priority: rng.pick(&[0, 1, 2, 3, 4]),
                },
            });
            t += rng.between(2_000_000, 8_000_000);
        }
    }
    (initial, changes)
}

/// A third of the seeds quiesce idle groups (with leader stickiness, which quiescence needs),
/// with a failure detector that pings every heartbeat interval and reports a peer after one to
/// three election timeouts of silence, and again as reachable when it is heard from after that.
fn quiescence(seed: u64, raft: &mut RaftParams) -> Option<QuiescenceParams> {
    let mut rng = SimRng::new(seed, Stream::Quiescence);
    if rng.below(3) != 0 {
        return None;
    }
    raft.quiesce = true;
    // Quiescence needs leader stickiness (`Config::validate`).
    raft.leader_stickiness = true;
    let t = u64::from(raft.election_timeout_ticks);
    Some(QuiescenceParams {
        ping_every_ticks: raft.heartbeat_interval_ticks,
        unreachable_after_ticks: rng.between(t, 3 * t) as u32,
    })
}

/// A quarter of the seeds have an operator asking random nodes to campaign now, every few
/// seconds of the fault phase, half of the time without the pre-vote poll.
fn campaigns(seed: u64, nodes: usize, fault_end_us: Micros) -> Vec<ScheduledFault> {
    let mut rng = SimRng::new(seed, Stream::Campaigns);
    let mut out = Vec::new();
    if rng.below(4) != 0 {
        return out;
    }
    let mut t = rng.between(1_000_000, 5_000_000);
    while t < fault_end_us {
        out.push(ScheduledFault {
            at_us: t,
            fault: Fault::Campaign {
                node: rng.between(1, nodes as u64) as NodeId,
                skip_pre_vote: rng.below(2) == 0,
            },
        });
        t += rng.between(2_000_000, 8_000_000);
    }
    out
}

/// A quarter of chaos runs have one or two clients that think for up to a few seconds: the
/// leader then often appends nothing for a while, which some bugs need (a candidate's log is as
/// up to date as a voter's only if nothing was appended since it last heard the leader).
fn quiet_workload(seed: u64, clients: &mut ClientParams) {
    let mut rng = SimRng::new(seed, Stream::Workload);
    if rng.below(4) == 0 {
        clients.count = rng.between(1, 2) as usize;
        clients.max_think_us = rng.between(1_000_000, 3_000_000);
    }
}

/// Chaos: keep each fault kind with probability ¾, at least one; vary the fault rate
/// (a fault every 0.2–2 s on average) and the clock skew (up to 1–20 %).
fn swarm(rng: &mut SimRng, mix: &mut FaultMix) {
    mix.mean_gap_us = rng.between(200_000, 2_000_000);
    mix.max_skew_ppm = rng.pick(&[10_000, 50_000, 200_000]);
    loop {
        let mut keep = || rng.below(4) != 0;
        mix.lossy_network = keep();
        mix.partitions = keep();
        mix.crashes = keep();
        mix.pauses = keep();
        mix.storage = keep();
        if mix.lossy_network || mix.partitions || mix.crashes || mix.pauses || mix.storage {
            return;
        }
    }
}

fn raft_params(rng: &mut SimRng, mix: &FaultMix) -> RaftParams {
    let mut p = RaftParams {
        election_timeout_ticks: 10,
        heartbeat_interval_ticks: 2,
        pre_vote: true,
        check_quorum: true,
        max_append_bytes: 1 << 20,
        max_inflight_msgs: 256,
        max_uncommitted_bytes: 64 << 20,
        snapshot_interval: 0,
        compaction_keep_entries: 0,
        snapshot_chunk_bytes: default_chunk_bytes(),
        max_snapshot_chunks_in_flight: default_chunks_in_flight(),
        snapshot_retry_ticks: default_retry_ticks(),
        canary: None,
        auto_promote_learners: false,
        learner_catch_up_gap: default_catch_up_gap(),
        leader_stickiness: true,
        quiesce: false,
        lease_reads: false,
        max_clock_drift_percent: default_drift(),
        synchronous: Synchronous::None,
    };
    // Snapshots in every profile: often enough that lagging and restarted followers need one,
    // in chunks small enough that a transfer spans many messages.
    p.snapshot_interval = rng.pick(&[0, 8, 20, 50, 120]);
    p.compaction_keep_entries = rng.pick(&[0, 0, 3, 30]);
    p.snapshot_chunk_bytes = rng.pick(&[32, 100, 400, 1 << 16]);
    p.max_snapshot_chunks_in_flight = rng.pick(&[1, 2, 4]);
    p.snapshot_retry_ticks = rng.pick(&[2, 4, 8]);
    // Engine options in every profile (swarm testing): each combination of pre-vote,
    // check-quorum and (see `read_mode`) leases meets every fault kind.
    p.pre_vote = rng.below(4) != 0;
    p.check_quorum = rng.below(4) != 0;
    if mix.swarm {
        p.election_timeout_ticks = rng.pick(&[10, 10, 20]);
        p.heartbeat_interval_ticks = rng.pick(&[1, 2, 3]);
        p.max_append_bytes = rng.pick(&[200, 1024, 1 << 20]);
        p.max_inflight_msgs = rng.pick(&[1, 4, 256]);
        p.max_uncommitted_bytes = rng.pick(&[400, 64 << 20, 64 << 20]);
    }
    p
}

fn network_params(rng: &mut SimRng, mix: &FaultMix) -> NetworkParams {
    let mut p = NetworkParams {
        base_delay_us: rng.between(200, 2_000),
        jitter_us: rng.between(0, 2_000),
        loss_ppm: 0,
        dup_ppm: 0,
        tail_ppm: 0,
        tail_delay_us: 0,
    };
    if mix.lossy_network {
        p.jitter_us = rng.between(1_000, 10_000);
        p.loss_ppm = rng.between(10_000, 200_000) as u32;
        p.dup_ppm = rng.between(0, 50_000) as u32;
        p.tail_ppm = rng.between(0, 30_000) as u32;
        p.tail_delay_us = rng.between(20_000, 200_000);
    } else if mix.partitions {
        p.loss_ppm = rng.between(0, 10_000) as u32;
    }
    p
}

fn storage_params(rng: &mut SimRng, mix: &FaultMix) -> StorageParams {
    let mut p = StorageParams {
        min_latency_us: 50,
        max_latency_us: rng.between(100, 3_000),
        slow_ppm: 0,
        slow_latency_us: 0,
        max_ack_delay_us: rng.between(0, 500),
    };
    if mix.storage || mix.crashes {
        // A third of the time a slow acknowledgement path: acknowledgements are then often on
        // their way when a node crashes, and reach its next incarnation (see `world::handle`).
        let max = if rng.below(3) == 0 { 30_000 } else { 3_000 };
        p.max_ack_delay_us = rng.between(0, max);
    }
    if mix.storage {
        p.slow_ppm = rng.between(0, 20_000) as u32;
        p.slow_latency_us = rng.between(10_000, 200_000);
    }
    p
}
