//! The multi-group targets of docs/performance.md ("Many groups"), on three hosts in one
//! process with every batch encoded and decoded:
//!
//! ```text
//! cargo run --release -p sansraft-multi --example groups_bench -- failover [GROUPS]
//! cargo run --release -p sansraft-multi --example groups_bench -- throughput GROUPS ROUNDS [PER_GROUP]
//! ```
//!
//! `failover`: `GROUPS` groups (10,000 by default) go quiet; host 1 is killed (nothing reaches
//! it or leaves it); the survivors' failure detectors report it, and every group it led must
//! elect a new leader, with every batch taking one tick to arrive. Prints, per group, the ticks
//! from the survivors' report to the new leader, against the election timeout T.
//!
//! `throughput`: for `ROUNDS` rounds, every one of `GROUPS` groups takes `PER_GROUP` (1 by
//! default) proposals of 16 B at its leader's host (one `HostInput::Groups` per host), then
//! every host ticks and every batch is delivered. So each group is as busy with 1,000 groups
//! as the one group is alone, and the figure per entry says what hosting many costs. Prints
//! committed entries per CPU-second of the process (CPU times on a shared machine swing; count
//! instructions under callgrind for a steadier figure), and host writes, batches and engine
//! steps per entry.

mod common;

use common::Sim;
use sansraft::{Input, Role};
use sansraft_multi::{GroupId, HostInput};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: u64| {
        args.get(i)
            .map_or(default, |a| a.parse().expect("a number"))
    };
    match args.first().map(String::as_str) {
        Some("failover") => failover(arg(1, 10_000)),
        Some("throughput") => throughput(arg(1, 1_000), arg(2, 100), arg(3, 1)),
        _ => {
            eprintln!(
                "usage: groups_bench failover [GROUPS] | throughput GROUPS ROUNDS [PER_GROUP]"
            );
            std::process::exit(2);
        }
    }
}

/// The leader of `group` among the running hosts, by host index.
fn leader_of(sim: &Sim, group: GroupId) -> Option<usize> {
    (0..3).find(|&i| {
        !sim.down[i]
            && sim.hosts[i]
                .group(group)
                .is_some_and(|n| n.role() == Role::Leader)
    })
}

fn failover(groups: GroupId) {
    let mut sim = Sim::new(groups, true);
    sim.encode = true;
    sim.settle(groups);
    let t = sim.hosts[0]
        .group(1)
        .expect("hosted")
        .config()
        .election_timeout_ticks;
    let led: Vec<GroupId> = (1..=groups)
        .filter(|&g| leader_of(&sim, g) == Some(0))
        .collect();
    // From now on every batch takes a tick to arrive: an election's round trips count.
    sim.tick_latency = true;
    let steps_before: u64 = sim.hosts.iter().map(|h| h.counters().engine_steps).sum();
    // Kill host 1: it takes nothing, and what it had in flight is lost.
    sim.down[0] = true;
    sim.network.clear();
    let mut reported: [Option<u64>; 2] = [None, None];
    let mut elected: Vec<Option<u64>> = vec![None; led.len()];
    let mut tick = 0u64;
    while elected.iter().any(Option::is_none) {
        tick += 1;
        assert!(tick < 100 * u64::from(t), "no failover after {tick} ticks");
        sim.round();
        for (r, i) in reported.iter_mut().zip(1..3) {
            if r.is_none() && sim.hosts[i].is_unreachable(1) {
                *r = Some(tick);
            }
        }
        for (e, &g) in elected.iter_mut().zip(&led) {
            if e.is_none() && leader_of(&sim, g).is_some() {
                *e = Some(tick);
            }
        }
    }
    let first = reported.iter().flatten().min().copied().expect("reported");
    let last = reported.iter().flatten().max().copied().expect("reported");
    let mut after: Vec<u64> = elected.iter().flatten().map(|&e| e - first).collect();
    after.sort_unstable();
    let pct = |p: usize| after[(after.len() - 1) * p / 100];
    let steps_after: u64 = sim.hosts.iter().map(|h| h.counters().engine_steps).sum();
    println!(
        "groups {groups}, led by the killed host {}, election timeout T = {t} ticks",
        led.len()
    );
    println!("detector reports at ticks {first} and {last} after the kill");
    println!(
        "ticks from the first report to a new leader: median {}, p99 {}, max {} (2T = {})",
        pct(50),
        pct(99),
        pct(100),
        2 * t
    );
    println!(
        "groups re-elected within 2T of the first report: {} of {}",
        after.iter().filter(|&&a| a <= 2 * u64::from(t)).count(),
        after.len()
    );
    println!(
        "engine steps during the failover: {}",
        steps_after - steps_before
    );
}

fn throughput(groups: GroupId, rounds: u64, per_group: u64) {
    let mut sim = Sim::new(groups, true);
    sim.encode = true;
    sim.settle(groups);
    let leaders: Vec<usize> = (1..=groups)
        .map(|g| leader_of(&sim, g).expect("settled"))
        .collect();
    let writes_before: u64 = sim.hosts.iter().map(|h| h.counters().host_writes).sum();
    let batches_before: u64 = sim.hosts.iter().map(|h| h.counters().batches_sent).sum();
    let steps_before: u64 = sim.hosts.iter().map(|h| h.counters().engine_steps).sum();
    let applied_before = applied(&sim, groups);
    let entries = rounds * groups * per_group;
    let cpu = cpu_seconds();
    timed_rounds(
        &mut sim,
        &leaders,
        rounds,
        per_group,
        applied_before + 3 * entries,
    );
    let cpu = cpu_seconds() - cpu;
    let total = |f: fn(&sansraft_multi::HostCounters) -> u64| -> u64 {
        sim.hosts.iter().map(|h| f(h.counters())).sum()
    };
    let writes = total(|c| c.host_writes) - writes_before;
    let batches = total(|c| c.batches_sent) - batches_before;
    let steps = total(|c| c.engine_steps) - steps_before;
    println!(
        "groups {groups}, {rounds} rounds, {per_group} proposal(s) of 16 B per group per round: \
         {entries} entries, {:.0} per CPU-second ({cpu:.2} s CPU)",
        entries as f64 / cpu
    );
    println!(
        "per entry: host writes {:.3}, batches {:.3}, engine steps {:.2}",
        writes as f64 / entries as f64,
        batches as f64 / entries as f64,
        steps as f64 / entries as f64
    );
}

/// The measured part (callgrind counts only this function: `--toggle-collect=*timed_rounds*`):
/// `rounds` rounds of proposals, then rounds until every replica applied `target` entries.
#[inline(never)]
fn timed_rounds(sim: &mut Sim, leaders: &[usize], rounds: u64, per_group: u64, target: u64) {
    let groups = leaders.len() as GroupId;
    let payload = bytes::Bytes::from_static(&[7u8; 16]);
    for _ in 0..rounds {
        // Every group takes `per_group` proposals at its leader's host: one input per host.
        let mut by_host: [Vec<(GroupId, Input)>; 3] = Default::default();
        for g in 1..=groups {
            for _ in 0..per_group {
                by_host[leaders[g as usize - 1]].push((g, Input::Propose(payload.clone())));
            }
        }
        for (i, inputs) in by_host.into_iter().enumerate() {
            if !inputs.is_empty() {
                sim.input(i, HostInput::Groups(inputs));
            }
        }
        sim.round();
    }
    while applied(sim, groups) < target {
        sim.round();
    }
}

/// Entries applied over every replica of every group.
fn applied(sim: &Sim, groups: GroupId) -> u64 {
    (1..=groups)
        .map(|g| {
            (0..3)
                .filter_map(|i| sim.hosts[i].group(g))
                .map(|n| n.status().applied)
                .sum::<u64>()
        })
        .sum()
}

/// The process's CPU time (user + system), in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of /proc/self/stat (12 and 13 after the name).
    (ticks(11) + ticks(12)) / 100.0
}
