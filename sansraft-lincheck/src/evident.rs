//! A cheap precheck for the common anomalies (stale reads, lost updates, reads of values never
//! written), found from real-time order alone before any search.

use crate::history::Operation;
use crate::model::{State, Step, ABSENT};
use crate::supply::Supply;

/// Looks for violations that are evident from real-time order alone, in
/// `O(n log n + readers × writers-of-the-same-value)`: finds the common
/// anomalies immediately, however concurrent the history (proving a
/// violation by search means exhausting every linearization of the history
/// before it). Returns `true` only if the history is certainly not
/// linearizable. Two necessary conditions are checked:
///
/// * **Every required value has a possible source.** A completed get
///   reading `v`, or a completed successful CAS expecting `v`, linearized
///   at some point `g`, needs a last write of `v` before it, `w`, with no
///   write of another value in between. So `w` must not be forced after `g`
///   (`w` invoked after `g` completed), and there must be no completed
///   write `b` of another value with `w` completed before `b` was invoked
///   and `b` completed before `g` was invoked (`w < b < g` in every
///   linearization). For `v` absent, the source is the initial state, ruled
///   out by any completed write before `g`. This catches stale reads.
/// * **Every write is consumed at most once.** A completed successful CAS
///   expecting `v` and writing something else consumes `v`: each needs its
///   own write of `v` before it (or the initial state, for absent). This
///   catches lost updates.
pub(crate) fn evident_violation(ops: &[&Operation], steps: &[Step], n_values: usize) -> bool {
    let completion = |i: usize| ops[i].completed.map(|(t, _)| t.max(ops[i].invoked_at));
    // Completed operations that certainly wrote: (invoked, completed, value),
    // by invocation time.
    let mut sure: Vec<(u64, u64, State)> = (0..ops.len())
        .filter_map(|i| {
            Some((
                ops[i].invoked_at,
                completion(i)?,
                Supply::writes_surely(steps[i])?,
            ))
        })
        .collect();
    sure.sort_unstable();
    // suffix[j]: the two earliest completions among sure[j..], of distinct
    // values: ((completed, value), (completed, value)).
    const NONE: (u64, State) = (u64::MAX, State::MAX);
    let mut suffix = vec![(NONE, NONE); sure.len() + 1];
    for j in (0..sure.len()).rev() {
        let (mut a, mut b) = suffix[j + 1];
        let c = (sure[j].1, sure[j].2);
        if c.1 == a.1 {
            a = a.min(c);
        } else if c.1 == b.1 {
            b = b.min(c);
            if b < a {
                std::mem::swap(&mut a, &mut b);
            }
        } else if c < a {
            b = a;
            a = c;
        } else if c < b {
            b = c;
        }
        suffix[j] = (a, b);
    }
    // Earliest completion of a sure write of a value other than `v`
    // invoked strictly after `t`.
    let overwritten_by = |t: u64, v: State| {
        let j = sure.partition_point(|&(inv, _, _)| inv <= t);
        let (a, b) = suffix[j];
        if a.1 != v {
            a.0
        } else {
            b.0
        }
    };
    // Possible writers per value: (operation, invoked, earliest overwrite).
    let mut writers: Vec<Vec<(usize, u64, u64)>> = vec![Vec::new(); n_values];
    let mut consumers = vec![0usize; n_values];
    for (i, &step) in steps.iter().enumerate() {
        if let Some(v) = step.writes() {
            let overwrite = completion(i).map_or(u64::MAX, |t| overwritten_by(t, v));
            writers[v as usize].push((i, ops[i].invoked_at, overwrite));
        }
        if let Step::Cas {
            expected,
            new,
            swapped: Some(true),
        } = step
        {
            if expected != new {
                consumers[expected as usize] += 1;
            }
        }
    }
    let first_sure_completion = sure.iter().map(|&(_, t, _)| t).min().unwrap_or(u64::MAX);
    for (i, &step) in steps.iter().enumerate() {
        let (Some(v), Some(done)) = (step.reads(), completion(i)) else {
            continue;
        };
        let invoked = ops[i].invoked_at;
        let has_source = if v == ABSENT {
            first_sure_completion >= invoked
        } else {
            writers[v as usize]
                .iter()
                .any(|&(w, w_invoked, overwrite)| {
                    w != i && w_invoked <= done && overwrite >= invoked
                })
        };
        if !has_source {
            return true;
        }
    }
    (0..n_values).any(|v| consumers[v] > writers[v].len() + usize::from(v == ABSENT as usize))
}
