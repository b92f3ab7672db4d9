//! `sansraft-sim`: sweep seeds, replay one, trace it, shrink it. See `sansraft-sim --help`.
//!
//! Exit codes: 0 all passed; 1 an I/O or input error; 2 a usage error; 10 and up a failed
//! check, one code per `sansraft_sim::ViolationKind` (listed by `sansraft-sim --help`, generated from
//! `ViolationKind::ALL`). A sweep exits with the code of its lowest failing seed.

#![forbid(unsafe_code)]

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sansraft::Canary;
use sansraft_multi::HostCanary;
use sansraft_sim::multi;
use sansraft_sim::scenario::{Synchronous, Voters};
use sansraft_sim::shrink::{self, ReplayFile};
use sansraft_sim::sweep::{self, SweepConfig};
use sansraft_sim::world::{self, RunOptions};
use sansraft_sim::{html, perfetto, trace, LinOutcome, Profile, RunReport, Scenario, Timing};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Deterministic simulator for sansraft: seeded faults, safety and liveness checks.
#[derive(Debug, Parser)]
#[command(name = "sansraft-sim", version, after_help = exit_codes())]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The exit codes, generated from the violation kinds so the help cannot drift from them.
fn exit_codes() -> String {
    let kinds: Vec<String> = sansraft_sim::ViolationKind::ALL
        .iter()
        .map(|k| format!("{} {k}", k.exit_code()))
        .collect();
    format!(
        "Exit codes: 0 pass, 1 I/O or input error, 2 usage error, {}.",
        kinds.join(", ")
    )
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run many seeds in parallel and print a summary.
    Sweep(SweepArgs),
    /// Run one seed (or a saved scenario) exactly, optionally tracing or shrinking it.
    Run(RunArgs),
    /// Run many seeds of the multi-group world (every node hosts many groups) in parallel.
    MultiSweep(MultiSweepArgs),
    /// Run one seed of the multi-group world exactly.
    MultiRun(MultiRunArgs),
}

/// What the multi-group commands share.
#[derive(Debug, Args)]
struct MultiCommon {
    /// Voters of every group at the start, 1 to 15, or a range such as 3-7 drawn per seed (in
    /// half of the seeds one or two spare nodes join the groups later).
    #[arg(long, default_value = "3")]
    nodes: Voters,
    /// Groups per node (default: drawn per seed from 100 to 1,000).
    #[arg(long)]
    groups: Option<usize>,
    /// Fault profile: calm, lossy, partitions, crashes, chaos.
    #[arg(long, default_value = "chaos")]
    profile: Profile,
    /// Length of the fault (safety) phase in simulated milliseconds.
    #[arg(long, default_value_t = 20_000)]
    fault_ms: u64,
    /// Length of the liveness phase in simulated milliseconds.
    #[arg(long, default_value_t = 8_000)]
    liveness_ms: u64,
    /// Switch on a deliberate sansraft bug in every replica.
    #[arg(long, value_parser = parse_canary)]
    canary: Option<Canary>,
    /// Switch on a deliberate host bug in every host.
    #[arg(long, value_parser = parse_host_canary)]
    host_canary: Option<HostCanary>,
}

impl MultiCommon {
    fn config(&self, start_seed: u64, seeds: u64) -> multi::MultiSweepConfig {
        multi::MultiSweepConfig {
            start_seed,
            seeds,
            nodes: self.nodes,
            profile: self.profile,
            timing: Timing {
                fault_phase_us: self.fault_ms * 1000,
                liveness_phase_us: self.liveness_ms * 1000,
            },
            options: multi::MultiOptions {
                groups: self.groups,
                host_canary: self.host_canary,
                ..multi::MultiOptions::default()
            },
            canary: self.canary,
        }
    }
}

#[derive(Debug, Args)]
struct MultiSweepArgs {
    /// Number of seeds.
    #[arg(long, default_value_t = 1000)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    start_seed: u64,
    /// Worker threads (default: one per core).
    #[arg(long)]
    jobs: Option<usize>,
    #[command(flatten)]
    common: MultiCommon,
}

#[derive(Debug, Args)]
struct MultiRunArgs {
    /// The seed to run.
    #[arg(long)]
    seed: u64,
    #[command(flatten)]
    common: MultiCommon,
}

#[derive(Debug, Args)]
struct Common {
    /// Voters at the start, 1 to 15, or a range such as 3-7 drawn per seed (in half of the
    /// seeds one or two spare nodes join later).
    #[arg(long, default_value = "3-7")]
    nodes: Voters,
    /// Fault profile: calm, lossy, partitions, crashes, chaos.
    #[arg(long, default_value = "chaos")]
    profile: Profile,
    /// Length of the fault (safety) phase in simulated milliseconds.
    #[arg(long, default_value_t = 30_000)]
    fault_ms: u64,
    /// Length of the liveness phase in simulated milliseconds.
    #[arg(long, default_value_t = 10_000)]
    liveness_ms: u64,
    /// Switch on a deliberate sansraft bug in every node, to check that the checks catch it
    /// (the names are in sansraft-sim/README.md; an unknown name lists them).
    #[arg(long, value_parser = parse_canary)]
    canary: Option<Canary>,
    /// Which nodes carry out their actions synchronously (sansraft's `Io::Synchronous`): none,
    /// odd (the nodes with odd ids) or all. Their disks complete each write as it is issued.
    #[arg(long, default_value = "none")]
    synchronous: Synchronous,
}

impl Common {
    fn timing(&self) -> Timing {
        Timing {
            fault_phase_us: self.fault_ms * 1000,
            liveness_phase_us: self.liveness_ms * 1000,
        }
    }
}

#[derive(Debug, Args)]
struct SweepArgs {
    /// Number of seeds.
    #[arg(long, default_value_t = 1000)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    start_seed: u64,
    /// Worker threads (default: one per core).
    #[arg(long)]
    jobs: Option<usize>,
    /// Run only shard I of N (seed positions k with k mod N = I), e.g. 0/4.
    #[arg(long, default_value = "0/1", value_parser = parse_shard)]
    shard: (u64, u64),
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The seed to run.
    #[arg(long, required_unless_present = "replay")]
    seed: Option<u64>,
    /// Rerun a scenario saved by --shrink instead of generating one from a seed.
    #[arg(long, conflicts_with = "seed")]
    replay: Option<PathBuf>,
    /// Write one JSON object per event to this file.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Write a self-contained HTML space-time diagram to this file.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Write the trace as Chrome trace-event JSON, which ui.perfetto.dev and chrome://tracing
    /// open (one process per node; messages as flow arrows).
    #[arg(long)]
    perfetto: Option<PathBuf>,
    /// On failure, shrink the fault schedule and save the minimal scenario to this file.
    #[arg(long)]
    shrink: Option<PathBuf>,
    /// Most runs to spend shrinking.
    #[arg(long, default_value_t = 400)]
    shrink_budget: u32,
    /// Print the fault schedule.
    #[arg(long)]
    schedule: bool,
    #[command(flatten)]
    common: Common,
}

fn parse_canary(s: &str) -> Result<Canary, String> {
    let canary = Canary::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Canary::ALL.iter().map(|c| c.name()).collect();
        format!("unknown canary {s:?}; one of: {}", names.join(", "))
    })?;
    canary_compiled(Some(canary))?;
    Ok(canary)
}

fn parse_host_canary(s: &str) -> Result<HostCanary, String> {
    let canary = HostCanary::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = HostCanary::ALL.iter().map(|c| c.name()).collect();
        format!("unknown host canary {s:?}; one of: {}", names.join(", "))
    })?;
    if !HostCanary::COMPILED {
        return Err(format!(
            "host canary {s} needs a build with its branches: cargo run -p sansraft-sim --features canary"
        ));
    }
    Ok(canary)
}

/// A canary needs its branches compiled in: without them the run would prove nothing.
fn canary_compiled(canary: Option<Canary>) -> Result<(), String> {
    match canary {
        Some(c) if !Canary::COMPILED => Err(format!(
            "the canary {} needs sansraft's `canary` feature; rebuild with \
             `cargo run --release -p sansraft-sim --features canary -- …`",
            c.name()
        )),
        _ => Ok(()),
    }
}

fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let (i, n) = s.split_once('/').ok_or("expected I/N, e.g. 0/4")?;
    let (i, n): (u64, u64) = (
        i.parse().map_err(|e| format!("shard index: {e}"))?,
        n.parse().map_err(|e| format!("shard count: {e}"))?,
    );
    if n == 0 || i >= n {
        return Err(format!("shard {i}/{n}: need 0 ≤ I < N"));
    }
    Ok((i, n))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sweep(args) => run_sweep(&args),
        Command::Run(args) => run_one(&args),
        Command::MultiSweep(args) => run_multi_sweep(&args),
        Command::MultiRun(args) => run_multi_one(&args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("sansraft-sim: {e}");
            ExitCode::from(1)
        }
    }
}

type CliResult = Result<u8, Box<dyn std::error::Error>>;

fn run_sweep(args: &SweepArgs) -> CliResult {
    let config = SweepConfig {
        start_seed: args.start_seed,
        seeds: args.seeds,
        shard: args.shard,
        nodes: args.common.nodes,
        profile: args.common.profile,
        timing: args.common.timing(),
        canary: args.common.canary,
        synchronous: args.common.synchronous,
    };
    let count = config.seeds().count() as u64;
    let bar = ProgressBar::new(count);
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    if ci || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds {elapsed} eta {eta} {msg}")
            .expect("valid template"),
    );
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(jobs) = args.jobs {
        pool = pool.num_threads(jobs);
    }
    let pool = pool.build()?;
    let cpu_before = process_cpu_secs();
    #[expect(
        clippy::disallowed_methods,
        reason = "the sweep's throughput report is the one use of the wall clock"
    )]
    let started = std::time::Instant::now();
    let failures = std::sync::atomic::AtomicU64::new(0);
    let summary = pool.install(|| {
        sweep::sweep(&config, |report| {
            if !report.passed() {
                let n = failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                bar.set_message(format!("{n} failed"));
            }
            bar.inc(1);
        })
    });
    bar.finish_and_clear();
    let timing = sweep::SweepTiming {
        wall_secs: started.elapsed().as_secs_f64(),
        cpu_secs: process_cpu_secs()
            .zip(cpu_before)
            .map(|(after, before)| after - before),
        threads: pool.current_num_threads(),
    };
    print!("{}", summary.render(&timing));
    Ok(summary.exit_code())
}

fn run_multi_sweep(args: &MultiSweepArgs) -> CliResult {
    let config = args.common.config(args.start_seed, args.seeds);
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(jobs) = args.jobs {
        pool = pool.num_threads(jobs);
    }
    let pool = pool.build()?;
    let cpu_before = process_cpu_secs();
    #[expect(
        clippy::disallowed_methods,
        reason = "the sweep's throughput report is the one use of the wall clock"
    )]
    let started = std::time::Instant::now();
    let summary = pool.install(|| multi::multi_sweep(&config, |_| {}));
    let wall = started.elapsed().as_secs_f64();
    let cpu = process_cpu_secs()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    println!(
        "multi-sweep: {} seeds, profile {}, {} nodes, groups {}: {} passed, {} failed",
        summary.runs,
        config.profile.name(),
        config.nodes,
        config
            .options
            .groups
            .map_or("100-1000".to_owned(), |g| g.to_string()),
        summary.passed,
        summary.failures.len()
    );
    for (kind, count) in &summary.by_kind {
        println!("  {kind}: {count}");
    }
    for report in summary.failures.iter().take(10) {
        if let Some(v) = &report.violation {
            println!("  seed {}: {v}", report.seed);
            println!("    replay: {}", config.replay_command(report.seed));
        }
    }
    print_multi_stats(&summary.totals, summary.runs);
    println!("  linearizability inconclusive: {}", summary.inconclusive);
    println!("digest {:016x}", summary.digest);
    let per_min = summary.runs as f64 * 60.0 / wall.max(1e-9);
    match cpu {
        Some(cpu) => println!(
            "throughput: {per_min:.1} seeds/min wall ({wall:.1} s, {cpu:.1} CPU s, {} threads)",
            pool.current_num_threads()
        ),
        None => println!("throughput: {per_min:.1} seeds/min wall ({wall:.1} s)"),
    }
    Ok(summary.exit_code())
}

fn print_multi_stats(s: &multi::MultiStats, runs: u64) {
    println!(
        "  coverage: {} groups over {runs} runs, {} events, {} host steps, {} engine steps, \
         {} group ticks, {} quiet ticks skipped",
        s.groups, s.events, s.host_steps, s.engine_steps, s.group_ticks, s.quiet_ticks_skipped
    );
    println!(
        "  io: {} batches ({} envelopes, {} lost), {} host writes for {} group writes, \
         {} torn",
        s.batches, s.envelopes, s.batches_lost, s.host_writes, s.group_writes, s.torn_writes
    );
    println!(
        "  faults: {} detector reports ({} group inputs), {} failovers ({} crash watches passed), {} crashes, \
         {} restarts, {} faults left out",
        s.detector_reports,
        s.unreachable_inputs,
        s.failovers,
        s.failover_watches,
        s.crashes,
        s.restarts,
        s.faults_skipped
    );
    println!(
        "  operator: {} membership changes ({} in healthy windows, owed completion; {} joint \
         splits, {} replicas created on spares, {} deleted), {} transfers asked, {} done \
         (leaders' own hand-overs to a higher priority included), {} campaigns",
        s.membership_changes,
        s.changes_watched,
        s.joint_splits,
        s.groups_created,
        s.groups_deleted,
        s.transfers_asked,
        s.transfers_done,
        s.campaigns
    );
    println!(
        "  snapshots: {} taken, {} compactions, {} chunks read, {} installed",
        s.snapshots, s.compactions, s.chunks_read, s.installs
    );
    println!(
        "  work: {} group checks, {} commits, {} client ops ({} completed) on {} groups, \
         {} reads, {} probe reads",
        s.group_checks, s.commits, s.ops, s.ops_completed, s.groups_used, s.reads, s.probe_reads
    );
    println!(
        "  bounded-staleness reads: {} served, {} refused without a proof, {} refused past \
         their bound",
        s.stale_reads, s.stale_reads_unproven, s.stale_reads_too_old
    );
}

fn run_multi_one(args: &MultiRunArgs) -> CliResult {
    let config = args.common.config(args.seed, 1);
    let report = config.run_seed(args.seed);
    println!(
        "multi-run: seed {} profile {} {} nodes {} groups: {}",
        report.seed,
        report.profile.name(),
        report.nodes,
        report.groups,
        match &report.violation {
            None => "passed".to_owned(),
            Some(v) => format!("FAILED {v}"),
        }
    );
    println!(
        "  linearizability: {:?}, trace hash {:016x}, simulated {:.1} s",
        report.linearizability,
        report.trace_hash,
        report.sim_time_us as f64 / 1e6
    );
    print_multi_stats(&report.stats, 1);
    Ok(report
        .violation
        .as_ref()
        .map_or(0, |v| v.failure.kind.exit_code()))
}

/// User and kernel CPU seconds of this process so far, from `/proc/self/stat` (Linux; its
/// clock ticks are 1/100 s on every Linux platform Rust supports). Unlike wall time it does
/// not grow while other processes hold the CPUs.
fn process_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses and may contain spaces.
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

fn run_one(args: &RunArgs) -> CliResult {
    let (scenario, expected) = match &args.replay {
        Some(path) => {
            let file: ReplayFile = serde_json::from_str(&std::fs::read_to_string(path)?)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            canary_compiled(file.scenario.raft.canary)?;
            (file.scenario, Some((file.expected, file.trace_hash)))
        }
        None => {
            let seed = args.seed.expect("clap requires --seed without --replay");
            let c = &args.common;
            let voters = c.nodes.for_seed(seed);
            let mut scenario = Scenario::generate(seed, voters, c.profile, c.timing());
            scenario.set_canary(c.canary);
            scenario.raft.synchronous = c.synchronous;
            (scenario, None)
        }
    };
    let options = RunOptions {
        trace: args.trace.is_some() || args.html.is_some() || args.perfetto.is_some(),
        ..RunOptions::default()
    };
    let out = world::run(&scenario, options);
    let report = &out.report;
    print_report(&scenario, report, args.schedule);
    match &args.replay {
        Some(path) => println!("  replay: sansraft-sim run --replay {}", path.display()),
        None => {
            let mut cmd = sweep::replay_command(
                scenario.seed,
                Voters::Fixed(scenario.initial_voters()),
                scenario.profile,
                args.common.timing(),
                scenario.raft.canary,
            );
            sweep::with_synchronous(&mut cmd, scenario.raft.synchronous);
            println!("  replay: {cmd}");
        }
    }
    if let Some((expected, hash)) = expected {
        let got = report.violation.as_ref().map(|v| v.failure.kind);
        let same = got == expected && hash == report.trace_hash;
        println!(
            "  saved run: {} with trace {hash:016x}: {}",
            expected.map_or("passed".to_owned(), |k| format!("failed {k}")),
            if same {
                "reproduced exactly"
            } else {
                "NOT reproduced"
            }
        );
    }
    if let Some(path) = &args.trace {
        trace::write_jsonl(&out.trace, std::fs::File::create(path)?)?;
        println!("  trace: {} ({} events)", path.display(), out.trace.len());
    }
    if let Some(path) = &args.html {
        std::fs::write(path, html::render(&out.trace, report, &scenario))?;
        println!("  html: {}", path.display());
    }
    if let Some(path) = &args.perfetto {
        perfetto::write(&out.trace, report, &scenario, std::fs::File::create(path)?)?;
        println!("  perfetto: {} (open in ui.perfetto.dev)", path.display());
    }
    if let Some(path) = &args.shrink {
        shrink_and_save(&scenario, report, args.shrink_budget, path)?;
    }
    Ok(report.exit_code())
}

fn shrink_and_save(scenario: &Scenario, report: &RunReport, budget: u32, path: &Path) -> CliResult {
    if report.passed() {
        println!("  shrink: the run passed; nothing to shrink");
        return Ok(0);
    }
    println!(
        "shrinking ({} faults, {:.3} s)…",
        scenario.faults.len(),
        scenario.end_us as f64 / 1e6
    );
    let shrunk = shrink::shrink(scenario, report, budget, |step| println!("  {step}"));
    std::fs::write(path, serde_json::to_string_pretty(&shrunk.replay_file())?)?;
    let v = shrunk
        .report
        .violation
        .as_ref()
        .expect("shrinking keeps the failure");
    println!(
        "shrunk in {} runs to {} faults, {:.3} s: {v}",
        shrunk.runs,
        shrunk.scenario.faults.len(),
        shrunk.scenario.end_us as f64 / 1e6
    );
    println!("  saved: {}", path.display());
    println!("  replay: sansraft-sim run --replay {}", path.display());
    Ok(0)
}

fn print_report(sc: &Scenario, r: &RunReport, schedule: bool) {
    let s = &r.stats;
    println!(
        "seed {} · {} nodes ({} voters at start) · {}",
        sc.seed,
        sc.nodes,
        sc.initial_voters(),
        sc.profile
    );
    println!(
        "  scenario: {:.1} s faults ({} scheduled) + {:.1} s liveness; {} clients on {} keys",
        sc.fault_end_us as f64 / 1e6,
        sc.faults.len(),
        (sc.end_us - sc.fault_end_us) as f64 / 1e6,
        sc.clients.count,
        sc.clients.keys
    );
    println!(
        "  network: delay {}+{} µs, loss {}‰, dup {}‰; raft: election {} ticks, heartbeat {}, \
         pre-vote {}, check-quorum {}, stickiness {}, append {} B, inflight {}",
        sc.network.base_delay_us,
        sc.network.jitter_us,
        sc.network.loss_ppm / 1000,
        sc.network.dup_ppm / 1000,
        sc.raft.election_timeout_ticks,
        sc.raft.heartbeat_interval_ticks,
        sc.raft.pre_vote,
        sc.raft.check_quorum,
        sc.raft.leader_stickiness,
        sc.raft.max_append_bytes,
        sc.raft.max_inflight_msgs
    );
    if sc.has_priorities() {
        let initial: Vec<String> = (sc.priorities.iter())
            .map(|p| format!("n{}={}", p.id, p.priority))
            .collect();
        println!(
            "  priorities: {} at the start; {} automatic hand-overs started ({} completed)",
            if initial.is_empty() {
                "none".to_owned()
            } else {
                initial.join(" ")
            },
            s.priority_transfers,
            s.priority_transfers_done
        );
    }
    if schedule {
        for f in &sc.faults {
            println!("    {:>10.6}s  {}", f.at_us as f64 / 1e6, f.fault);
        }
    }
    println!(
        "  events {} · steps {} · commits {} · elections {} · faults {} · crashes {} (torn {})",
        s.events, s.steps, s.commits, s.elections, s.faults, s.crashes, s.torn_writes
    );
    println!(
        "  messages {} (lost {}) · writes {} · client ops {} (completed {})",
        s.messages, s.messages_lost, s.writes, s.ops, s.ops_completed
    );
    println!(
        "  coverage: {} log truncations · {} overwritten proposals · {} stale acks",
        s.truncations, s.overwritten, s.stale_acks
    );
    println!(
        "  snapshots: {} taken · {} compactions · {} chunks read · {} installed · transfers {} \
         ({} done)",
        s.snapshots, s.compactions, s.chunks_read, s.installs, s.transfers.0, s.transfers.1
    );
    let o = &s.outcomes;
    println!("  transfer outcomes: {}", o.describe_transfers());
    println!(
        "  failed reads: healthy windows: {}; faults: {}",
        o.describe_reads(true),
        o.describe_reads(false)
    );
    let lin = match &r.linearizability {
        LinOutcome::Skipped => "not checked".to_owned(),
        LinOutcome::Linearizable => "linearizable".to_owned(),
        LinOutcome::Inconclusive { key } => format!("inconclusive (gave up on key {key})"),
        LinOutcome::NotLinearizable => "NOT linearizable".to_owned(),
    };
    println!("  linearizability: {lin}");
    println!("  trace hash: {:016x}", r.trace_hash);
    match &r.violation {
        None => println!("  result: PASS"),
        Some(v) => println!("  result: FAIL (exit {}) {v}", v.failure.kind.exit_code()),
    }
}
