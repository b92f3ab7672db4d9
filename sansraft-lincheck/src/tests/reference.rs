//! Agreement with two independent reference checkers, each with its own copy of the model.

use super::generate::{random_history, Rng, Workload};
use super::*;
use std::collections::BTreeSet;

/// Asserts that the checker, and its search alone, find `h` linearizable iff a reference
/// checker does (`expected`).
fn assert_agrees(h: &[Operation], expected: bool, round: u32) {
    let verdict = check(h, STEPS);
    assert_eq!(
        verdict == Verdict::Linearizable,
        expected,
        "round {round}: {verdict:?} for {h:?}"
    );
    let searched = search_only(h, 0);
    assert_eq!(
        searched == KeyResult::Linearizable,
        expected,
        "round {round}: search alone: {searched:?} for {h:?}"
    );
}

/// Reference checker: plain exhaustive search over all orders (and all
/// subsets of the unknown-outcome operations), no memo, no reductions,
/// with its own copy of the model. Only for tiny single-key histories.
fn brute_force(ops: &[Operation]) -> bool {
    fn go(ops: &[Operation], used: &mut Vec<bool>, state: Option<Value>) -> bool {
        let all_done = ops
            .iter()
            .zip(used.iter())
            .all(|(o, &u)| u || o.completed.is_none());
        if all_done {
            return true;
        }
        for i in 0..ops.len() {
            if used[i] {
                continue;
            }
            // Every unused completed operation that finished before
            // this one started must come first.
            let blocked = ops
                .iter()
                .zip(used.iter())
                .any(|(o, &u)| !u && matches!(o.completed, Some((t, _)) if t < ops[i].invoked_at));
            if blocked {
                continue;
            }
            let out = ops[i].completed.map(|(_, out)| out);
            let next = match (ops[i].op, out) {
                (KvOp::Put { value, .. }, None | Some(KvOutput::Written)) => Some(Some(value)),
                (KvOp::Get { .. }, None) => Some(state),
                (KvOp::Get { .. }, Some(KvOutput::Read(v))) if v == state => Some(state),
                (KvOp::Cas { expected, new, .. }, o) => {
                    let ok = expected == state;
                    let after = if ok { Some(new) } else { state };
                    match o {
                        None => Some(after),
                        Some(KvOutput::CasResult { swapped }) if swapped == ok => Some(after),
                        _ => None,
                    }
                }
                _ => None,
            };
            if let Some(next) = next {
                used[i] = true;
                let found = go(ops, used, next);
                used[i] = false;
                if found {
                    return true;
                }
            }
        }
        false
    }
    go(ops, &mut vec![false; ops.len()], None)
}

#[test]
fn agrees_with_brute_force_on_small_histories() {
    let mut rng = Rng(0xB0B);
    let val = |rng: &mut Rng| 1 + rng.below(3);
    let opt = |rng: &mut Rng| match rng.below(4) {
        0 => None,
        v => Some(v),
    };
    let (mut good, mut bad) = (0, 0);
    for round in 0..20_000 {
        let n = 1 + rng.below(7) as usize;
        let mut h = Vec::new();
        for c in 0..n as u64 {
            let op = match rng.below(3) {
                0 => KvOp::Put {
                    key: 0,
                    value: val(&mut rng),
                },
                1 => KvOp::Get { key: 0 },
                _ => KvOp::Cas {
                    key: 0,
                    expected: opt(&mut rng),
                    new: val(&mut rng),
                },
            };
            let out = match op {
                KvOp::Put { .. } => KvOutput::Written,
                KvOp::Get { .. } => KvOutput::Read(opt(&mut rng)),
                KvOp::Cas { .. } => KvOutput::CasResult {
                    swapped: rng.below(2) == 0,
                },
            };
            let start = rng.below(20);
            let end = start + rng.below(8);
            let completed = (rng.below(6) != 0).then_some((end, out));
            h.push(Operation {
                client: c,
                op,
                invoked_at: start,
                completed,
            });
        }
        let expected = brute_force(&h);
        assert_agrees(&h, expected, round);
        if expected {
            good += 1;
        } else {
            bad += 1;
        }
    }
    // Make sure both outcomes were well exercised.
    assert!(good > 2000 && bad > 2000, "good {good}, bad {bad}");
}

/// A second reference: plain memoized Wing & Gong search over a `u64`
/// bitmask, with none of the reductions and pruning of the real
/// search, and its own model. For single-key histories of at most 64
/// operations.
fn plain_search(ops: &[Operation]) -> bool {
    fn apply(op: KvOp, out: Option<KvOutput>, s: Option<Value>) -> Option<Option<Value>> {
        match (op, out) {
            (KvOp::Put { value, .. }, None | Some(KvOutput::Written)) => Some(Some(value)),
            (KvOp::Get { .. }, None) => Some(s),
            (KvOp::Get { .. }, Some(KvOutput::Read(v))) => (v == s).then_some(s),
            (KvOp::Cas { expected, new, .. }, o) => {
                let ok = expected == s;
                match o {
                    Some(KvOutput::CasResult { swapped }) if swapped != ok => None,
                    None | Some(KvOutput::CasResult { .. }) => Some(if ok { Some(new) } else { s }),
                    _ => None,
                }
            }
            _ => None,
        }
    }
    fn go(
        ops: &[Operation],
        done: u64,
        s: Option<Value>,
        failed: &mut BTreeSet<(u64, Option<Value>)>,
    ) -> bool {
        let must = ops
            .iter()
            .enumerate()
            .filter(|(_, o)| o.completed.is_some())
            .fold(0u64, |m, (i, _)| m | 1 << i);
        if done & must == must {
            return true;
        }
        if failed.contains(&(done, s)) {
            return false;
        }
        for (i, o) in ops.iter().enumerate() {
            if done & 1 << i != 0 {
                continue;
            }
            let blocked = ops.iter().enumerate().any(|(j, p)| {
                done & 1 << j == 0
                    && matches!(p.completed, Some((t, _)) if t.max(p.invoked_at) < o.invoked_at)
            });
            if blocked {
                continue;
            }
            if let Some(next) = apply(o.op, o.completed.map(|(_, out)| out), s) {
                if go(ops, done | 1 << i, next, failed) {
                    return true;
                }
            }
        }
        failed.insert((done, s));
        false
    }
    go(ops, 0, None, &mut BTreeSet::new())
}

#[test]
fn agrees_with_plain_search_on_medium_histories() {
    let mut rng = Rng(0xFEED);
    let (mut good, mut bad) = (0, 0);
    for round in 0..3000 {
        let w = Workload {
            clients: 2 + rng.below(6),
            ops: 10 + rng.below(30) as usize,
            keys: 1,
            max_latency: 1 + rng.below(60),
            distinct_values: rng.below(2) == 0,
            lost_percent: rng.below(30),
        };
        let mut h = random_history(&mut rng, w);
        // Perturb a few operations; the result may or may not remain
        // linearizable.
        for _ in 0..rng.below(3) {
            let i = rng.below(h.len() as u64) as usize;
            let o = &mut h[i];
            match (o.op, o.completed) {
                (KvOp::Get { .. }, Some((t, _))) => {
                    let v = rng.below(6);
                    o.completed = Some((t, KvOutput::Read((v > 0).then_some(v))));
                }
                (KvOp::Cas { .. }, Some((t, KvOutput::CasResult { swapped }))) => {
                    o.completed = Some((t, KvOutput::CasResult { swapped: !swapped }));
                }
                (_, Some((t, out))) => {
                    o.completed = Some((t + rng.below(40), out));
                    o.invoked_at += rng.below(40);
                }
                (_, None) => o.invoked_at += rng.below(40),
            }
        }
        let expected = plain_search(&h);
        assert_agrees(&h, expected, round);
        if expected {
            good += 1;
        } else {
            bad += 1;
        }
    }
    assert!(good > 300 && bad > 300, "good {good}, bad {bad}");
}
