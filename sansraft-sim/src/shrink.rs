//! Shrinking a failing scenario: cut the run short after the violation, then drop faults (in
//! halves, quarters, … single faults, delta-debugging style) while the same check still fails.
//! The result is saved as a [`ReplayFile`] that `sansraft-sim run --replay` reruns exactly.

use crate::report::RunReport;
use crate::scenario::Scenario;
use crate::violation::ViolationKind;
use crate::world::{self, RunOptions};
use serde::{Deserialize, Serialize};

/// A saved scenario with the failure it is expected to reproduce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayFile {
    /// The check the scenario fails, if it fails.
    pub expected: Option<ViolationKind>,
    /// The trace hash of the run when it was saved.
    pub trace_hash: u64,
    /// Everything needed to rerun it.
    pub scenario: Scenario,
}

/// The outcome of shrinking.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The smallest scenario found that fails the same check.
    pub scenario: Scenario,
    /// Its report.
    pub report: RunReport,
    /// Runs spent.
    pub runs: u32,
}

impl Shrunk {
    /// The replay file for the shrunk scenario.
    pub fn replay_file(&self) -> ReplayFile {
        ReplayFile {
            expected: self.report.violation.as_ref().map(|v| v.failure.kind),
            trace_hash: self.report.trace_hash,
            scenario: self.scenario.clone(),
        }
    }
}

/// Shrinks `scenario`, whose run `report` failed, spending at most `budget` runs. `progress` is
/// told about every accepted reduction.
pub fn shrink(
    scenario: &Scenario,
    report: &RunReport,
    budget: u32,
    mut progress: impl FnMut(&str),
) -> Shrunk {
    let kind = report
        .violation
        .as_ref()
        .map(|v| v.failure.kind)
        .expect("only a failing run can be shrunk");
    let mut best = Shrunk {
        scenario: scenario.clone(),
        report: report.clone(),
        runs: 0,
    };
    let attempt = |best: &mut Shrunk, candidate: Scenario| -> bool {
        if best.runs >= budget {
            return false;
        }
        best.runs += 1;
        let r = world::run(&candidate, RunOptions::default()).report;
        let same = r.violation.as_ref().is_some_and(|v| v.failure.kind == kind);
        if same {
            best.scenario = candidate;
            best.report = r;
        }
        same
    };
    loop {
        let before = (best.scenario.faults.len(), best.scenario.end_us);
        if let Some(c) = shortened(&best.scenario, &best.report, kind) {
            if attempt(&mut best, c) {
                progress(&format!(
                    "run cut to {:.3} s",
                    best.scenario.end_us as f64 / 1e6
                ));
            }
        }
        let mut chunk = best.scenario.faults.len().div_ceil(2);
        while chunk >= 1 && best.runs < budget {
            let mut start = 0;
            while start < best.scenario.faults.len() && best.runs < budget {
                let mut c = best.scenario.clone();
                let end = (start + chunk).min(c.faults.len());
                c.faults.drain(start..end);
                if attempt(&mut best, c) {
                    progress(&format!(
                        "dropped {} fault(s), {} left",
                        end - start,
                        best.scenario.faults.len()
                    ));
                } else {
                    start += chunk;
                }
            }
            if chunk == 1 {
                break;
            }
            chunk = chunk.div_ceil(2);
        }
        if (best.scenario.faults.len(), best.scenario.end_us) == before || best.runs >= budget {
            return best;
        }
    }
}

/// A shorter run that may still fail: for a violation detected mid-run, end right after it;
/// otherwise nothing (end-of-run and liveness checks need the whole run).
fn shortened(sc: &Scenario, report: &RunReport, kind: ViolationKind) -> Option<Scenario> {
    let v = report.violation.as_ref()?;
    if kind.is_end_of_run() || kind == ViolationKind::NoLeader {
        return None;
    }
    let end = v.at_us + 1;
    if end >= sc.end_us {
        return None;
    }
    let mut c = sc.clone();
    c.end_us = end;
    c.fault_end_us = c.fault_end_us.min(end);
    c.faults.retain(|f| f.at_us <= end);
    Some(c)
}
