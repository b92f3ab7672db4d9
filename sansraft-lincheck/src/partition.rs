//! The entry point: a history split by key, each key's sub-history in a canonical order, checked
//! on its own (P-compositionality), and the per-key results combined into one [`Verdict`].

use crate::history::{Key, KvOp, KvOutput, Operation, Verdict};
use crate::search::check_key;
use std::collections::BTreeMap;

/// Checks whether `history` is linearizable with respect to a sequential
/// key-value store in which every key starts absent.
///
/// Operations are ordered only by real time: `a` must be linearized before
/// `b` iff `a` completed strictly before `b` was invoked. The order of
/// `history` itself is irrelevant. See the [crate documentation](crate) for
/// the treatment of operations with unknown outcome.
///
/// Keys are checked independently in ascending order. `max_steps` bounds the
/// search effort *per key*: one step is one candidate operation considered,
/// or one backtrack; a step takes a few to a few tens of nanoseconds, so
/// `10_000_000` means well under a second per key. A key exceeding it
/// yields [`Verdict::Inconclusive`], unless some other key is definitely
/// [`Verdict::NotLinearizable`]. The result is a deterministic function of
/// the multiset of operations (their order in `history` does not matter).
pub fn check(history: &[Operation], max_steps: u64) -> Verdict {
    let mut by_key: BTreeMap<Key, Vec<Operation>> = BTreeMap::new();
    for op in history {
        by_key.entry(op.op.key()).or_default().push(*op);
    }

    let mut inconclusive: Option<Key> = None;
    for (key, mut ops) in by_key {
        // Sort into a canonical order so the result does not depend on the
        // order of `history`.
        ops.sort_by_key(sort_key);
        match check_key(&ops, max_steps, true) {
            KeyResult::Linearizable => {}
            KeyResult::NotLinearizable => {
                return Verdict::NotLinearizable {
                    key,
                    operations: ops,
                };
            }
            KeyResult::Inconclusive => {
                inconclusive.get_or_insert(key);
            }
        }
    }
    match inconclusive {
        Some(key) => Verdict::Inconclusive { key },
        None => Verdict::Linearizable,
    }
}

/// A total order on operations used to canonicalise each sub-history.
type SortKey = (u64, u8, u64, u8, u64, u64, u64, u8, u64, u64);

/// Canonical sort key of an operation: invocation time first, then every
/// other field, so that equal-time operations are ordered deterministically.
pub(crate) fn sort_key(o: &Operation) -> SortKey {
    let (op_tag, a, b, c) = match o.op {
        KvOp::Put { value, .. } => (0, value, 0, 0),
        KvOp::Get { .. } => (1, 0, 0, 0),
        KvOp::Cas { expected, new, .. } => {
            (2, new, expected.map_or(0, |_| 1), expected.unwrap_or(0))
        }
    };
    let (done, at, out_tag, out) = match o.completed {
        None => (1, 0, 0, 0),
        Some((t, KvOutput::Written)) => (0, t, 0, 0),
        Some((t, KvOutput::Read(v))) => (0, t, 1 + u8::from(v.is_some()), v.unwrap_or(0)),
        Some((t, KvOutput::CasResult { swapped })) => (0, t, 3, u64::from(swapped)),
    };
    (
        o.invoked_at,
        done,
        at,
        op_tag,
        a,
        b,
        c,
        out_tag,
        out,
        o.client,
    )
}

/// Outcome of checking a single key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyResult {
    /// A linearization exists.
    Linearizable,
    /// No linearization exists.
    NotLinearizable,
    /// The search ran out of steps.
    Inconclusive,
}
