//! `sansraft-bench`: every benchmark figure of docs/performance.md in one run.
//!
//! `cargo run --release -p sansraft-bench` runs everything; `-- --quick` runs a few-second smoke
//! version (CI); `-- throughput` (or `steps`, `alloc`, `memory`, `election`) runs one part;
//! `--mode=wire|in-process|both` says how messages travel (default both, wire the headline);
//! `--impl=sansraft|raft-rs|noraft` and `--workload=3n/16B/x64` narrow the throughput part (for
//! profiling one implementation on one workload); `--cells` prints the throughput part as one
//! `key=value` line per measured cell instead of tables (for scripts such as
//! bench/instructions.sh); `--list-workloads` prints the workload labels.

use sansraft_bench::alloc_count::CountingAlloc;
use sansraft_bench::election::{run_seed, Distribution};
use sansraft_bench::footprint::{bytes_per_entry, heartbeat_allocs};
use sansraft_bench::ours::OursCluster;
use sansraft_bench::peer_noraft::NoraftCluster;
use sansraft_bench::raftrs::RaftRsCluster;
use sansraft_bench::transport::Mode;
use sansraft_bench::workload::{measure, Cluster, Throughput, Workload};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

#[derive(Debug, Clone)]
struct Options {
    quick: bool,
    repeats: usize,
    /// `--mode=`: the transports to run, the headline first.
    modes: Vec<Mode>,
    /// `--impl=NAME`: run only this implementation in the throughput part (for profiling).
    only_impl: Option<String>,
    /// `--workload=LABEL`: run only this workload in the throughput part.
    only_workload: Option<String>,
    /// `--cells`: machine-readable throughput lines instead of tables.
    cells: bool,
}

fn best<C: Cluster>(w: Workload, mode: Mode, entries: u64, repeats: usize) -> Throughput {
    (0..repeats)
        .map(|_| measure::<C>(w, mode, entries))
        .min_by(|a, b| a.cpu.cmp(&b.cpu))
        .expect("at least one repeat")
}

fn timed<C: Cluster>(opts: &Options, w: Workload, mode: Mode) -> Option<Throughput> {
    let wanted = opts.only_impl.as_deref().is_none_or(|name| name == C::NAME);
    let t = wanted.then(|| best::<C>(w, mode, w.entries(opts.quick), opts.repeats))?;
    if opts.cells {
        println!(
            "cell impl={} workload={} mode={} entries={} cpu_ns={} wall_ns={} allocs={} wire_bytes={}",
            C::NAME,
            w.label(),
            mode,
            t.entries,
            t.cpu.as_nanos(),
            t.elapsed.as_nanos(),
            t.allocs,
            t.wire_bytes
        );
    }
    Some(t)
}

fn cells(t: Option<Throughput>) -> String {
    match t {
        Some(t) => format!(
            "{:>9.0} {:>6.0} {:>9.0} {:>7.3}",
            t.per_second(),
            t.ns_per_entry(),
            t.per_wall_second(),
            t.allocs_per_entry()
        ),
        None => format!("{:>9} {:>6} {:>9} {:>7}", "-", "-", "-", "-"),
    }
}

fn ratio(a: Option<Throughput>, b: Option<Throughput>) -> String {
    match (a, b) {
        (Some(a), Some(b)) => format!("{:>6.2}x", a.per_second() / b.per_second()),
        _ => format!("{:>7}", "-"),
    }
}

/// What a mode's table means, in one line.
fn mode_note(mode: Mode) -> &'static str {
    match mode {
        Mode::Wire => {
            "every message encoded by the library's codec and decoded by the receiver \
             (sansraft: its Codec; raft-rs: protobuf; noraft has none: payloads copied, \
             message cloned, which flatters noraft)"
        }
        Mode::InProcess => {
            "messages handed over as values: followers share the leader's payloads, \
             nothing is encoded, decoded or copied"
        }
    }
}

fn throughput(opts: &Options) {
    if !opts.cells {
        println!("## Replication throughput: entries committed and applied on every node");
        println!(
            "(best of {} runs by CPU time; e/s = entries per second of the thread's CPU time, ns/e its inverse; \
             wall = entries per second of wall time in the same run; alloc/e = allocations per entry, \
             client payload buffers included; raft-rs gets each batch as one MsgPropose)",
            opts.repeats
        );
    }
    for &mode in &opts.modes {
        if !opts.cells {
            println!("### {mode}: {}", mode_note(mode));
            println!(
                "{:<14} {:>9} {:>6} {:>9} {:>7} | {:>9} {:>6} {:>9} {:>7} | {:>9} {:>6} {:>9} {:>7} | {:>7} {:>7}",
                "workload",
                "ours e/s",
                "ns/e",
                "wall e/s",
                "alloc/e",
                "raft-rs",
                "ns/e",
                "wall e/s",
                "alloc/e",
                "noraft",
                "ns/e",
                "wall e/s",
                "alloc/e",
                "/raftrs",
                "/noraft"
            );
        }
        for w in Workload::all() {
            if opts
                .only_workload
                .as_deref()
                .is_some_and(|label| label != w.label())
            {
                continue;
            }
            let ours = timed::<OursCluster>(opts, w, mode);
            let rs = timed::<RaftRsCluster>(opts, w, mode);
            let no = timed::<NoraftCluster>(opts, w, mode);
            if !opts.cells {
                println!(
                    "{:<14} {} | {} | {} | {} {}",
                    w.label(),
                    cells(ours),
                    cells(rs),
                    cells(no),
                    ratio(ours, rs),
                    ratio(ours, no),
                );
            }
        }
    }
    if !opts.cells {
        println!();
    }
}

fn steps(opts: &Options) {
    // Each figure is the lowest of several runs' means: interference from other processes only
    // ever adds time.
    let runs = if opts.quick { 1 } else { 5 };
    println!(
        "## Per-step cost (sansraft, wall clock, timer overhead subtracted, best of {runs} runs)"
    );
    let all: Vec<_> = (0..runs)
        .map(|_| sansraft_bench::steps::measure(if opts.quick { 1 } else { 4 }))
        .collect();
    for (i, cost) in all[0].iter().enumerate() {
        let best = all
            .iter()
            .map(|run| run[i].ns_per_step)
            .fold(f64::INFINITY, f64::min);
        println!(
            "{:<45} {:>8.0} ns/step  ({} steps per run)",
            cost.name, best, cost.steps
        );
    }
    println!();
}

fn alloc(opts: &Options) {
    let rounds = if opts.quick { 1_000 } else { 20_000 };
    println!("## Allocations per heartbeat round (quiet cluster: heartbeats out, answers back)");
    for &mode in &opts.modes {
        for nodes in [3, 5, 7] {
            println!(
                "{mode:<10} {nodes} nodes: sansraft {:.3}   raft-rs {:.3}   noraft {:.3}",
                heartbeat_allocs::<OursCluster>(nodes, mode, rounds),
                heartbeat_allocs::<RaftRsCluster>(nodes, mode, rounds),
                heartbeat_allocs::<NoraftCluster>(nodes, mode, rounds),
            );
        }
    }
    println!("(allocations per committed entry: the alloc/e columns of the throughput table)");
    println!();
}

fn memory(opts: &Options) {
    let entries = if opts.quick { 20_032 } else { 200_000 };
    println!("## Memory per retained log entry, per node (3 nodes, {entries} entries of 16 B; live heap growth / retained entries)");
    for batch in [64, 1] {
        for &mode in &opts.modes {
            let measure = |keep_store| {
                bytes_per_entry::<OursCluster>(3, mode, 16, entries, batch, |c| {
                    c.keep_store = keep_store
                })
            };
            let (ours, engine) = (measure(true), measure(false));
            let rs = bytes_per_entry::<RaftRsCluster>(3, mode, 16, entries, batch, |_| {});
            let no = bytes_per_entry::<NoraftCluster>(3, mode, 16, entries, batch, |_| {});
            println!("{mode}, batches of {batch}:");
            println!("  sansraft, engine log + driver's MemStore: {ours:>7.1} B");
            println!("  sansraft, engine log alone:               {engine:>7.1} B");
            println!("  raft-rs, RawNode + MemStorage:             {rs:>7.1} B");
            println!("  noraft, engine log + driver's payloads:    {no:>7.1} B");
        }
    }
    println!();
}

fn election(opts: &Options) {
    let seeds = if opts.quick { 50 } else { 1_000 };
    println!(
        "## Election (sansraft, {seeds} seeds; election timeout 10 ticks, pre-vote, check-quorum)"
    );
    println!(
        "{:<28} {:>5} {:>5} {:>5} {:>5} {:>5} {:>7}",
        "", "min", "p50", "p90", "p99", "max", "mean"
    );
    for nodes in [3, 5] {
        let runs: Vec<_> = (0..seeds).map(|seed| run_seed(nodes, seed)).collect();
        let rows = [
            (
                "start: ticks",
                runs.iter().map(|r| r.first.ticks).collect::<Vec<_>>(),
            ),
            ("start: steps", runs.iter().map(|r| r.first.steps).collect()),
            (
                "leader loss: ticks",
                runs.iter().map(|r| r.after_loss.ticks).collect(),
            ),
            (
                "leader loss: steps",
                runs.iter().map(|r| r.after_loss.steps).collect(),
            ),
        ];
        for (name, values) in rows {
            let d = Distribution::of(values);
            println!(
                "{:<28} {:>5} {:>5} {:>5} {:>5} {:>5} {:>7.1}",
                format!("{nodes} nodes, {name}"),
                d.min,
                d.p50,
                d.p90,
                d.p99,
                d.max,
                d.mean
            );
        }
    }
    println!();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let value = |flag: &str| {
        args.iter()
            .find_map(|a| a.strip_prefix(flag))
            .map(str::to_owned)
    };
    if args.iter().any(|a| a == "--list-workloads") {
        for w in Workload::all() {
            println!("{}", w.label());
        }
        return;
    }
    let modes = match value("--mode=").as_deref() {
        None | Some("both") => Mode::ALL.to_vec(),
        Some(name) => match name.parse::<Mode>() {
            Ok(mode) => vec![mode],
            Err(e) => {
                eprintln!("{e} (or both)");
                std::process::exit(2);
            }
        },
    };
    let opts = Options {
        quick,
        repeats: if quick { 1 } else { 3 },
        modes,
        only_impl: value("--impl="),
        only_workload: value("--workload="),
        cells: args.iter().any(|a| a == "--cells"),
    };
    let parts: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(String::as_str)
        .collect();
    let known = ["throughput", "steps", "alloc", "memory", "election"];
    if let Some(bad) = parts.iter().find(|p| !known.contains(p)) {
        eprintln!("unknown part {bad:?}; parts: {}", known.join(", "));
        std::process::exit(2);
    }
    let wants = |part: &str| parts.is_empty() || parts.contains(&part);
    println!(
        "sansraft-bench{}: machine has {} logical CPUs",
        if quick { " --quick" } else { "" },
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if wants("throughput") {
        throughput(&opts);
    }
    if wants("steps") {
        steps(&opts);
    }
    if wants("alloc") {
        alloc(&opts);
    }
    if wants("memory") {
        memory(&opts);
    }
    if wants("election") {
        election(&opts);
    }
}
