//! Multi-group sweeps: many seeds in parallel, summarised; the digest depends only on the
//! seeds' runs, not on how many threads ran them.

use super::{multi_scenario, run, MultiOptions, MultiReport, MultiStats};
use crate::profile::Profile;
use crate::scenario::{Timing, Voters};
use crate::trace::Fnv;
use crate::violation::ViolationKind;
use rayon::prelude::*;
use sansraft::Canary;
use std::collections::BTreeMap;

/// What to sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MultiSweepConfig {
    /// The first seed.
    pub start_seed: u64,
    /// How many seeds.
    pub seeds: u64,
    /// Voters of every group at the start (spares may join some seeds' groups later).
    pub nodes: Voters,
    /// Fault profile.
    pub profile: Profile,
    /// Phase lengths.
    pub timing: Timing,
    /// Groups per node, and the run's limits.
    pub options: MultiOptions,
    /// A deliberate bug to switch on in every replica.
    pub canary: Option<Canary>,
}

impl MultiSweepConfig {
    /// The command that replays `seed` exactly.
    pub fn replay_command(&self, seed: u64) -> String {
        let mut cmd = format!(
            "sansraft-sim multi-run --seed {seed} --nodes {} --profile {} --fault-ms {} --liveness-ms {}",
            self.nodes.for_seed(seed),
            self.profile.name(),
            self.timing.fault_phase_us / 1000,
            self.timing.liveness_phase_us / 1000
        );
        if let Some(g) = self.options.groups {
            cmd.push_str(&format!(" --groups {g}"));
        }
        if let Some(canary) = self.options.host_canary {
            cmd.push_str(&format!(" --host-canary {}", canary.name()));
        }
        if let Some(canary) = self.canary {
            cmd.push_str(&format!(" --canary {}", canary.name()));
        }
        cmd
    }

    /// Runs one seed.
    pub fn run_seed(&self, seed: u64) -> MultiReport {
        let voters = self.nodes.for_seed(seed);
        let sc = multi_scenario(seed, voters, self.profile, self.timing, self.canary);
        run(&sc, &self.options)
    }
}

/// A sweep's outcome.
#[derive(Clone, Debug)]
pub struct MultiSummary {
    /// Seeds run.
    pub runs: u64,
    /// Seeds that passed.
    pub passed: u64,
    /// The reports of the seeds that failed, in seed order.
    pub failures: Vec<MultiReport>,
    /// Failures per kind.
    pub by_kind: BTreeMap<ViolationKind, u64>,
    /// Runs whose linearizability check ran out of steps.
    pub inconclusive: u64,
    /// Counters summed over every run.
    pub totals: MultiStats,
    /// A hash of every run's seed, trace hash and outcome, in seed order.
    pub digest: u64,
}

impl MultiSummary {
    /// The exit code: 0 if every seed passed, else the first failure's kind's.
    pub fn exit_code(&self) -> u8 {
        (self.failures.first())
            .and_then(|r| r.violation.as_ref())
            .map_or(0, |v| v.failure.kind.exit_code())
    }
}

/// Runs every seed of `config` in parallel (rayon); `progress` is called after each run.
pub fn multi_sweep(
    config: &MultiSweepConfig,
    progress: impl Fn(&MultiReport) + Sync,
) -> MultiSummary {
    let seeds: Vec<u64> = (0..config.seeds)
        .map(|k| config.start_seed.wrapping_add(k))
        .collect();
    let mut reports: Vec<MultiReport> = seeds
        .par_iter()
        .map(|&seed| {
            let report = config.run_seed(seed);
            progress(&report);
            report
        })
        .collect();
    reports.sort_by_key(|r| r.seed);
    let mut summary = MultiSummary {
        runs: reports.len() as u64,
        passed: 0,
        failures: Vec::new(),
        by_kind: BTreeMap::new(),
        inconclusive: 0,
        totals: MultiStats::default(),
        digest: 0,
    };
    let mut digest = Fnv::default();
    for report in reports {
        digest.u64(report.seed);
        digest.u64(report.trace_hash);
        summary.totals.add(&report.stats);
        if matches!(
            report.linearizability,
            crate::report::LinOutcome::Inconclusive { .. }
        ) {
            summary.inconclusive += 1;
        }
        match &report.violation {
            None => {
                digest.u8(0);
                summary.passed += 1;
            }
            Some(v) => {
                digest.u8(v.failure.kind.exit_code());
                *summary.by_kind.entry(v.failure.kind).or_default() += 1;
                summary.failures.push(report);
            }
        }
    }
    summary.digest = digest.finish();
    summary
}
