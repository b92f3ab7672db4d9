//! Generated histories: linearizable by construction, and corrupted copies that are not.

use super::*;
use std::collections::BTreeMap;

/// SplitMix64: a tiny deterministic PRNG for the randomized tests.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub(super) fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// Values written by generated histories are below this; anything at or
/// above it was never written.
pub(super) const NEVER_WRITTEN: Value = 1_000_000;

/// Parameters of a generated history.
#[derive(Clone, Copy, Debug)]
pub(super) struct Workload {
    /// Concurrent clients, each issuing one operation at a time.
    pub(super) clients: u64,
    /// Total number of operations.
    pub(super) ops: usize,
    /// Number of keys.
    pub(super) keys: u64,
    /// Maximum latency of an operation.
    pub(super) max_latency: u64,
    /// Every write writes a fresh value (otherwise values are 1..=5).
    pub(super) distinct_values: bool,
    /// Probability (in percent) that a client never learns the outcome.
    pub(super) lost_percent: u64,
}

/// Generates a linearizable history by construction. Each client issues
/// operations one after the other; each operation gets a random interval
/// and, if it takes effect, a random linearization point inside it. The
/// operations that take effect are then executed one at a time, in
/// order of their points, against a model, which determines their
/// arguments (keys, values, CAS expectations) and outputs. Of the
/// operations whose outcome the client never learns, half take effect
/// and half never do. The result is shuffled.
pub(super) fn random_history(rng: &mut Rng, w: Workload) -> Vec<Operation> {
    // (client, invoked_at, point if it takes effect, completion time
    // if known), in no particular order.
    let mut shapes = Vec::with_capacity(w.ops);
    let mut clock: Vec<u64> = (0..w.clients).map(|_| rng.below(w.max_latency)).collect();
    for n in 0..w.ops {
        let client = n as u64 % w.clients;
        let invoked_at = clock[client as usize];
        let latency = 1 + rng.below(w.max_latency);
        let end = invoked_at + latency;
        let point = invoked_at + rng.below(latency + 1);
        let lost = rng.below(100) < w.lost_percent;
        let takes_effect = !lost || rng.below(2) == 0;
        shapes.push((
            client,
            invoked_at,
            takes_effect.then_some(point),
            (!lost).then_some(end),
        ));
        clock[client as usize] = end + rng.below(w.max_latency / 4 + 1);
    }
    // Effective operations in linearization order, then the others.
    shapes.sort_by_key(|&(_, _, point, _)| (point.is_none(), point));

    let mut model: BTreeMap<Key, Value> = BTreeMap::new();
    let mut next_value: Value = 1;
    let mut fresh = |rng: &mut Rng| {
        if w.distinct_values {
            next_value += 1;
            next_value - 1
        } else {
            1 + rng.below(5)
        }
    };
    let mut h = Vec::with_capacity(w.ops);
    for (client, invoked_at, point, end) in shapes {
        let key = rng.below(w.keys);
        let current = model.get(&key).copied();
        let (op, out) = match rng.below(10) {
            0..=3 => {
                let value = fresh(rng);
                (KvOp::Put { key, value }, KvOutput::Written)
            }
            4..=6 => (KvOp::Get { key }, KvOutput::Read(current)),
            _ => {
                let expected = match rng.below(4) {
                    0 | 1 => current,
                    2 => None,
                    _ => Some(1 + rng.below(5)),
                };
                let new = fresh(rng);
                let swapped = expected == current;
                (
                    KvOp::Cas { key, expected, new },
                    KvOutput::CasResult { swapped },
                )
            }
        };
        if point.is_some() {
            match (op, out) {
                (KvOp::Put { value, .. }, _)
                | (KvOp::Cas { new: value, .. }, KvOutput::CasResult { swapped: true }) => {
                    model.insert(key, value);
                }
                _ => {}
            }
        }
        h.push(Operation {
            client,
            op,
            invoked_at,
            completed: end.map(|t| (t, out)),
        });
    }
    assert!(next_value < NEVER_WRITTEN);
    rng.shuffle(&mut h);
    h
}

/// Replaces the output of one randomly chosen completed `Get` by a value
/// never written; returns its key, or `None` if there is no such `Get`.
pub(super) fn corrupt_one_read(rng: &mut Rng, h: &mut [Operation]) -> Option<Key> {
    let reads: Vec<usize> = (0..h.len())
        .filter(|&i| matches!((h[i].op, h[i].completed), (KvOp::Get { .. }, Some(_))))
        .collect();
    if reads.is_empty() {
        return None;
    }
    let i = reads[rng.below(reads.len() as u64) as usize];
    let (t, _) = h[i].completed.unwrap();
    h[i].completed = Some((t, KvOutput::Read(Some(NEVER_WRITTEN + rng.below(1000)))));
    Some(h[i].op.key())
}

/// In a history where every write writes a fresh value, makes one
/// completed `Get` return a stale value: one written by a completed
/// write `a` such that another completed write `b` of the same key
/// started after `a` completed and completed before the `Get` started.
/// Since nothing else writes `a`'s value, this is never linearizable.
/// Returns the key, or `None` if there is no such pattern.
pub(super) fn make_one_read_stale(rng: &mut Rng, h: &mut [Operation]) -> Option<Key> {
    let write = |o: &Operation| match (o.op, o.completed) {
        (KvOp::Put { value, .. }, Some((t, _)))
        | (KvOp::Cas { new: value, .. }, Some((t, KvOutput::CasResult { swapped: true }))) => {
            Some((value, t))
        }
        _ => None,
    };
    let mut choices = Vec::new();
    for (g, get) in h.iter().enumerate() {
        let (KvOp::Get { key }, Some(_)) = (get.op, get.completed) else {
            continue;
        };
        for a in h.iter().filter(|o| o.op.key() == key) {
            let Some((value, a_end)) = write(a) else {
                continue;
            };
            let overwritten = h.iter().any(|b| {
                b.op.key() == key
                    && b.invoked_at > a_end
                    && write(b).is_some_and(|(_, b_end)| b_end < get.invoked_at)
            });
            if overwritten {
                choices.push((g, value));
            }
        }
    }
    if choices.is_empty() {
        return None;
    }
    let (g, value) = choices[rng.below(choices.len() as u64) as usize];
    let (t, _) = h[g].completed.unwrap();
    h[g].completed = Some((t, KvOutput::Read(Some(value))));
    Some(h[g].op.key())
}
