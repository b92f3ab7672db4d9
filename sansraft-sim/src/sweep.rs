//! Sweeps: many seeds in parallel, summarised.

use crate::profile::Profile;
use crate::report::{LinOutcome, RunReport};
use crate::scenario::{Scenario, Synchronous, Timing, Voters};
use crate::violation::ViolationKind;
use crate::world::{self, RunOptions};
use rayon::prelude::*;
use sansraft::Canary;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What to sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SweepConfig {
    /// The first seed.
    pub start_seed: u64,
    /// How many seeds, before sharding.
    pub seeds: u64,
    /// `(i, n)`: run only the seeds whose position `k` in the range has `k % n == i`.
    pub shard: (u64, u64),
    /// Voters at the start, fixed or drawn per seed.
    pub nodes: Voters,
    /// Fault profile.
    pub profile: Profile,
    /// Phase lengths.
    pub timing: Timing,
    /// A deliberate bug to switch on in every node (to prove the checks find it).
    pub canary: Option<Canary>,
    /// Which nodes carry out their actions synchronously.
    pub synchronous: Synchronous,
}

impl SweepConfig {
    /// The seeds this shard runs, in order.
    pub fn seeds(&self) -> impl Iterator<Item = u64> + '_ {
        let (i, n) = self.shard;
        (0..self.seeds)
            .filter(move |k| k % n.max(1) == i)
            .map(move |k| self.start_seed.wrapping_add(k))
    }

    /// The command that replays `seed` exactly.
    pub fn replay_command(&self, seed: u64) -> String {
        let mut cmd = replay_command(seed, self.nodes, self.profile, self.timing, self.canary);
        with_synchronous(&mut cmd, self.synchronous);
        cmd
    }
}

/// The command line that replays one seed.
pub fn replay_command(
    seed: u64,
    nodes: Voters,
    profile: Profile,
    timing: Timing,
    canary: Option<Canary>,
) -> String {
    let mut cmd = format!("sansraft-sim run --seed {seed} --nodes {nodes} --profile {profile}");
    if let Some(canary) = canary {
        let _ = write!(cmd, " --canary {}", canary.name());
    }
    if timing != Timing::default() {
        let _ = write!(
            cmd,
            " --fault-ms {} --liveness-ms {}",
            timing.fault_phase_us / 1000,
            timing.liveness_phase_us / 1000
        );
    }
    cmd
}

/// Adds `--synchronous` to a replay command when some nodes are synchronous.
pub fn with_synchronous(cmd: &mut String, synchronous: Synchronous) {
    if synchronous != Synchronous::None {
        let _ = write!(cmd, " --synchronous {synchronous}");
    }
}

/// Runs one seed of a sweep.
pub fn run_seed(config: &SweepConfig, seed: u64) -> RunReport {
    let voters = config.nodes.for_seed(seed);
    let mut scenario = Scenario::generate(seed, voters, config.profile, config.timing);
    scenario.set_canary(config.canary);
    scenario.raft.synchronous = config.synchronous;
    world::run(&scenario, RunOptions::default()).report
}

/// Runs every seed of the shard on the current rayon pool; `done` is called after each.
pub fn sweep(config: &SweepConfig, done: impl Fn(&RunReport) + Sync) -> Summary {
    let seeds: Vec<u64> = config.seeds().collect();
    let reports: Vec<RunReport> = seeds
        .par_iter()
        .map(|&seed| {
            let report = run_seed(config, seed);
            done(&report);
            report
        })
        .collect();
    Summary::of(*config, reports)
}

/// How long a sweep took, for the throughput rows of its summary.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SweepTiming {
    /// Wall-clock seconds.
    pub wall_secs: f64,
    /// CPU seconds of the whole process (user and kernel), where the platform tells.
    pub cpu_secs: Option<f64>,
    /// Worker threads.
    pub threads: usize,
}

impl SweepTiming {
    /// For a summary whose throughput rows do not matter (tests print it only on failure).
    pub const UNTIMED: SweepTiming = SweepTiming {
        wall_secs: 1.0,
        cpu_secs: None,
        threads: 1,
    };
}

/// The totals of a sweep.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// The sweep's configuration.
    pub config: Option<SweepConfig>,
    /// Seeds run.
    pub seeds_run: u64,
    /// Failed runs, by seed.
    pub failures: Vec<RunReport>,
    /// Failures per kind.
    pub by_kind: BTreeMap<ViolationKind, u64>,
    /// Seeds whose linearizability check was inconclusive, with the key.
    pub inconclusive: Vec<(u64, u64)>,
    /// Events simulated.
    pub events: u64,
    /// Simulated time, summed.
    pub sim_time_us: u64,
    /// Committed entries, summed.
    pub commits: u64,
    /// Terms with a leader, summed.
    pub elections: u64,
    /// Faults injected, summed.
    pub faults: u64,
    /// Crashes, summed.
    pub crashes: u64,
    /// Torn writes, summed.
    pub torn_writes: u64,
    /// Coverage counters, summed: log truncations, overwritten proposals, stale acks.
    pub coverage: (u64, u64, u64),
    /// Client operations invoked and completed, summed.
    pub ops: (u64, u64),
    /// Membership changes accepted, and leaders that stepped down once removed, summed.
    pub membership: (u64, u64),
    /// Reads served through ReadIndex or a lease, and reads that failed, summed.
    pub reads: (u64, u64),
    /// Bounded-staleness reads served, refused without a proof, refused past the bound, summed.
    pub stale_reads: (u64, u64, u64),
    /// Snapshot coverage, summed: snapshots taken, chunks read, installs.
    pub snapshots: (u64, u64, u64),
    /// Leadership transfers asked for and completed, summed.
    pub transfers: (u64, u64),
    /// Leadership transfers leaders started by themselves for a member of higher priority.
    pub priority_transfers: u64,
    /// Of those, the ones that completed.
    pub priority_transfers_done: u64,
    /// Quiescence, summed: times nodes went quiet, ticks skipped while quiet, failure
    /// detector reports.
    pub quiescence: (u64, u64, u64),
    /// Crashed leaders of quiescent runs replaced under the failover check, and the longest
    /// time from a detector's report to the newer leader.
    pub failovers: (u64, crate::Micros),
    /// Messages sent and messages delivered, summed.
    pub messages: (u64, u64),
    /// Transfer and read outcomes by cause, and the healthy windows' elections, summed.
    pub outcomes: crate::outcomes::Outcomes,
    /// What the seeds drew, per option.
    pub swarm: SwarmCoverage,
    /// The XOR over every seed of a hash of (seed, trace hash): the same for any `--jobs`, and
    /// the XOR of the digests of a range's shards is the digest of the whole range.
    pub digest: u64,
}

/// How many seeds ran with each cluster size and engine option, and how many of them failed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SwarmCoverage {
    /// (seeds, failed) per voter count.
    pub voters: BTreeMap<usize, (u64, u64)>,
    /// (seeds, failed) per option name and value, e.g. `("pre-vote", "on")`.
    pub options: BTreeMap<(&'static str, &'static str), (u64, u64)>,
    /// Seeds with lease reads, five or more voters and a completed transfer.
    pub lease_transfers_5plus: u64,
}

impl SwarmCoverage {
    fn add(&mut self, r: &RunReport) {
        let failed = u64::from(!r.passed());
        let count = |slot: &mut (u64, u64)| {
            slot.0 += 1;
            slot.1 += failed;
        };
        let o = r.options;
        count(self.voters.entry(o.voters).or_default());
        let on = |b: bool| if b { "on" } else { "off" };
        let reads = match o.reads {
            crate::scenario::ReadMode::Log => "log",
            crate::scenario::ReadMode::ReadIndex => "read-index",
            crate::scenario::ReadMode::Lease => "lease",
        };
        for key in [
            ("reads", reads),
            ("pre-vote", on(o.pre_vote)),
            ("check-quorum", on(o.check_quorum)),
            ("auto-promote", on(o.auto_promote)),
            ("stickiness", on(o.stickiness)),
            ("witnesses", on(o.witnesses)),
            ("priorities", on(o.priorities)),
            ("quiescence", on(o.quiescence)),
        ] {
            count(self.options.entry(key).or_default());
        }
        let done = r.stats.outcomes.transfers[crate::outcomes::TransferCause::Done as usize];
        if o.reads == crate::scenario::ReadMode::Lease && o.voters >= 5 && done > 0 {
            self.lease_transfers_5plus += 1;
        }
    }

    fn render(&self) -> String {
        let cell = |(n, f): &(u64, u64)| {
            if *f > 0 {
                format!("{n} ({f} failed)")
            } else {
                n.to_string()
            }
        };
        let mut out = String::new();
        let voters: Vec<String> = self
            .voters
            .iter()
            .map(|(v, c)| format!("{v}: {}", cell(c)))
            .collect();
        let _ = writeln!(out, "  seeds per voter count: {}", voters.join(" · "));
        let mut last = "";
        let mut line = String::new();
        for ((name, value), c) in &self.options {
            if *name != last {
                if !line.is_empty() {
                    let _ = writeln!(out, "{line}");
                }
                line = format!("  seeds with {name}:");
                last = name;
            }
            let _ = write!(line, " {value} {}", cell(c));
        }
        if !line.is_empty() {
            let _ = writeln!(out, "{line}");
        }
        let _ = writeln!(
            out,
            "  seeds with leases, 5+ voters and a completed transfer: {}",
            self.lease_transfers_5plus
        );
        out
    }
}

/// One seed's share of [`Summary::digest`].
pub fn seed_digest(seed: u64, trace_hash: u64) -> u64 {
    crate::rng::mix(seed ^ crate::rng::mix(trace_hash))
}

impl Summary {
    /// Aggregates reports (in seed order).
    pub fn of(config: SweepConfig, reports: Vec<RunReport>) -> Summary {
        let mut s = Summary {
            config: Some(config),
            ..Summary::default()
        };
        for r in reports {
            s.seeds_run += 1;
            s.events += r.stats.events;
            s.sim_time_us += r.sim_time_us;
            s.commits += r.stats.commits;
            s.elections += r.stats.elections;
            s.faults += r.stats.faults;
            s.crashes += r.stats.crashes;
            s.torn_writes += r.stats.torn_writes;
            s.coverage.0 += r.stats.truncations;
            s.coverage.1 += r.stats.overwritten;
            s.coverage.2 += r.stats.stale_acks;
            s.ops.0 += r.stats.ops;
            s.ops.1 += r.stats.ops_completed;
            s.membership.0 += r.stats.membership_changes;
            s.membership.1 += r.stats.removed_leaders;
            s.reads.0 += r.stats.reads;
            s.reads.1 += r.stats.reads_failed;
            s.stale_reads.0 += r.stats.stale_reads.0;
            s.stale_reads.1 += r.stats.stale_reads.1;
            s.stale_reads.2 += r.stats.stale_reads.2;
            s.snapshots.0 += r.stats.snapshots;
            s.snapshots.1 += r.stats.chunks_read;
            s.snapshots.2 += r.stats.installs;
            s.transfers.0 += r.stats.transfers.0;
            s.transfers.1 += r.stats.transfers.1;
            s.priority_transfers += r.stats.priority_transfers;
            s.priority_transfers_done += r.stats.priority_transfers_done;
            s.quiescence.0 += r.stats.quiesced;
            s.quiescence.1 += r.stats.quiet_ticks;
            s.quiescence.2 += r.stats.detector_signals;
            s.failovers.0 += r.stats.failovers;
            s.failovers.1 = s.failovers.1.max(r.stats.failover_max_us);
            s.outcomes.add(&r.stats.outcomes);
            s.swarm.add(&r);
            s.digest ^= seed_digest(r.seed, r.trace_hash);
            s.messages.0 += r.stats.messages;
            s.messages.1 += r.stats.messages.saturating_sub(r.stats.messages_lost);
            if let LinOutcome::Inconclusive { key } = r.linearizability {
                s.inconclusive.push((r.seed, key));
            }
            if let Some(v) = &r.violation {
                *s.by_kind.entry(v.failure.kind).or_default() += 1;
                s.failures.push(r);
            }
        }
        s
    }

    /// 0 if every seed passed, else the exit code of the lowest failing seed's kind.
    pub fn exit_code(&self) -> u8 {
        self.failures.first().map_or(0, RunReport::exit_code)
    }

    /// The summary table; `timing` is how long the sweep took (for throughput only).
    pub fn render(&self, timing: &SweepTiming) -> String {
        let mut out = String::new();
        let wall_secs = timing.wall_secs;
        let wall = wall_secs.max(1e-9);
        let row = |out: &mut String, name: &str, value: String| {
            let _ = writeln!(out, "  {name:<34} {value:>14}");
        };
        let _ = writeln!(out, "sweep summary");
        if let Some(c) = &self.config {
            row(
                &mut out,
                "configuration",
                format!("{} nodes, {}", c.nodes, c.profile),
            );
        }
        row(&mut out, "seeds run", self.seeds_run.to_string());
        row(
            &mut out,
            "passed",
            (self.seeds_run - self.failures.len() as u64).to_string(),
        );
        row(&mut out, "failed", self.failures.len().to_string());
        for (kind, n) in &self.by_kind {
            row(
                &mut out,
                &format!("  {kind} (exit {})", kind.exit_code()),
                n.to_string(),
            );
        }
        row(
            &mut out,
            "lin. inconclusive",
            self.inconclusive.len().to_string(),
        );
        row(&mut out, "events simulated", self.events.to_string());
        row(
            &mut out,
            "events/s",
            format!("{:.0}", self.events as f64 / wall),
        );
        row(
            &mut out,
            "messages sent (delivered)",
            format!("{} ({})", self.messages.0, self.messages.1),
        );
        let threads = timing.threads.max(1) as f64;
        row(
            &mut out,
            "deliveries/s per thread",
            format!("{:.0}", self.messages.1 as f64 / wall / threads),
        );
        if let Some(cpu) = timing.cpu_secs.filter(|&c| c > 0.0) {
            row(
                &mut out,
                "deliveries per CPU-second",
                format!("{:.0}", self.messages.1 as f64 / cpu),
            );
            row(
                &mut out,
                "events per CPU-second",
                format!("{:.0}", self.events as f64 / cpu),
            );
        }
        row(
            &mut out,
            "seeds/min",
            format!("{:.0}", self.seeds_run as f64 * 60.0 / wall),
        );
        row(
            &mut out,
            "simulated time",
            format!("{:.0} s", self.sim_time_us as f64 / 1e6),
        );
        row(&mut out, "wall time", format!("{wall_secs:.2} s"));
        if let Some(cpu) = timing.cpu_secs {
            row(&mut out, "CPU time", format!("{cpu:.2} s"));
        }
        row(&mut out, "commits", self.commits.to_string());
        row(&mut out, "elections", self.elections.to_string());
        row(&mut out, "faults injected", self.faults.to_string());
        row(
            &mut out,
            "crashes (torn writes)",
            format!("{} ({})", self.crashes, self.torn_writes),
        );
        row(
            &mut out,
            "truncations/overwritten/stale acks",
            format!(
                "{}/{}/{}",
                self.coverage.0, self.coverage.1, self.coverage.2
            ),
        );
        row(
            &mut out,
            "snapshots/chunks read/installs",
            format!(
                "{}/{}/{}",
                self.snapshots.0, self.snapshots.1, self.snapshots.2
            ),
        );
        row(
            &mut out,
            "transfers (completed)",
            format!("{} ({})", self.transfers.0, self.transfers.1),
        );
        row(
            &mut out,
            "priority hand-overs (completed)",
            format!(
                "{} ({})",
                self.priority_transfers, self.priority_transfers_done
            ),
        );
        row(
            &mut out,
            "went quiet (ticks skipped/detector reports)",
            format!(
                "{} ({}/{})",
                self.quiescence.0, self.quiescence.1, self.quiescence.2
            ),
        );
        row(
            &mut out,
            "failovers of quiet groups (longest)",
            format!(
                "{} ({:.1} ms)",
                self.failovers.0,
                self.failovers.1 as f64 / 1e3
            ),
        );
        row(
            &mut out,
            "client ops (completed)",
            format!("{} ({})", self.ops.0, self.ops.1),
        );
        row(
            &mut out,
            "membership changes (removed leaders)",
            format!("{} ({})", self.membership.0, self.membership.1),
        );
        row(
            &mut out,
            "reads served (failed)",
            format!("{} ({})", self.reads.0, self.reads.1),
        );
        row(
            &mut out,
            "bounded-staleness reads (no proof/past bound)",
            format!(
                "{} ({}/{})",
                self.stale_reads.0, self.stale_reads.1, self.stale_reads.2
            ),
        );
        row(&mut out, "digest", format!("{:016x}", self.digest));
        out.push_str(&self.swarm.render());
        let o = &self.outcomes;
        let _ = writeln!(out, "  transfer outcomes: {}", o.describe_transfers());
        let _ = writeln!(
            out,
            "  failed reads, healthy windows: {}",
            o.describe_reads(true)
        );
        let _ = writeln!(out, "  failed reads, faults: {}", o.describe_reads(false));
        let _ = writeln!(
            out,
            "  healthy time {:.0} s of {:.0} s; elections in healthy windows {} (longest {} ms)",
            o.healthy_us as f64 / 1e6,
            self.sim_time_us as f64 / 1e6,
            o.elections_healthy.0,
            o.elections_healthy.1 / 1000
        );
        for (seed, key) in &self.inconclusive {
            let _ = writeln!(
                out,
                "inconclusive: seed {seed}: linearizability search gave up on key {key}"
            );
        }
        for r in &self.failures {
            let v = r.violation.as_ref().expect("failures have violations");
            let text = v.to_string();
            let mut lines = text.lines();
            let first = lines.next().unwrap_or_default();
            let more = lines.count();
            let _ = write!(out, "FAIL seed {}: {first}", r.seed);
            if more > 0 {
                let _ = write!(out, " (+{more} lines; see `run`)");
            }
            let _ = writeln!(out);
            if let Some(c) = &self.config {
                let _ = writeln!(out, "  replay: {}", c.replay_command(r.seed));
            }
        }
        out
    }
}
