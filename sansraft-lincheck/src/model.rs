//! The sequential model: one key of the store as a register over interned values, and each
//! operation with its recorded output as a [`Step`] of that register.

use crate::history::{KvOp, KvOutput, Operation, Value};
use std::collections::BTreeMap;

/// The sequential model's state for one key, as an index into the key's
/// table of distinct values: [`ABSENT`] or `i > 0` for the `i`-th value.
pub(crate) type State = u32;

/// The state of a key that has never been written.
pub(crate) const ABSENT: State = 0;

/// An operation together with its recorded output, over interned values:
/// all the search needs to know about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// A put (completed or not: its output carries no information).
    Put {
        /// The value written.
        new: State,
    },
    /// A completed get.
    Get {
        /// The value read.
        read: State,
    },
    /// A compare-and-set.
    Cas {
        /// The value compared against.
        expected: State,
        /// The value written on success.
        new: State,
        /// The recorded outcome, `None` if unknown.
        swapped: Option<bool>,
    },
    /// A completed operation whose output is of the wrong kind for its
    /// request (e.g. `Written` for a `Get`): it can never be linearized.
    Never,
}

impl Step {
    /// Applies the operation in `state`: the new state, or `None` if the
    /// recorded output is impossible in `state`.
    pub(crate) fn apply(self, state: State) -> Option<State> {
        match self {
            Step::Put { new } => Some(new),
            Step::Get { read } => (read == state).then_some(state),
            Step::Cas {
                expected,
                new,
                swapped,
            } => {
                let swaps = expected == state;
                match swapped {
                    Some(s) if s != swaps => None,
                    _ => Some(if swaps { new } else { state }),
                }
            }
            Step::Never => None,
        }
    }

    /// The value the state must hold for this operation to be linearized,
    /// if it is that specific (a completed get, a successful CAS).
    pub(crate) fn reads(self) -> Option<State> {
        match self {
            Step::Get { read } => Some(read),
            Step::Cas {
                expected,
                swapped: Some(true),
                ..
            } => Some(expected),
            _ => None,
        }
    }

    /// The value this operation's outcome depends on, if any: the one a get
    /// read or a CAS compares against.
    pub(crate) fn refers_to(self) -> Option<State> {
        match self {
            Step::Get { read } => Some(read),
            Step::Cas { expected, .. } => Some(expected),
            _ => None,
        }
    }

    /// The value this operation may write when linearized.
    pub(crate) fn writes(self) -> Option<State> {
        match self {
            Step::Put { new } => Some(new),
            Step::Cas {
                new,
                swapped: None | Some(true),
                ..
            } => Some(new),
            _ => None,
        }
    }

    /// Whether this operation, linearized right after an unknown-outcome
    /// operation that changed the state from `before` to `after` (and valid
    /// in `after`), can observe that change. If it cannot, the
    /// unknown-outcome operation could be omitted (this is a put, which
    /// overwrites it unobserved) or moved after this one (this is a CAS
    /// failing in both states, so the two commute), so the search need not
    /// consider this order. A get valid in `after` reads `after != before`,
    /// and a CAS succeeding in `after` would fail in `before`.
    pub(crate) fn observes(self, before: State, after: State) -> bool {
        match self {
            Step::Put { .. } => false,
            Step::Get { .. } | Step::Never => true,
            Step::Cas { expected, .. } => expected == after || expected == before,
        }
    }
}

/// Interns the values of one key's operations and converts each operation
/// to a [`Step`]. Values are numbered in increasing order from 1.
pub(crate) fn to_steps(ops: &[&Operation]) -> (Vec<Step>, usize) {
    let mut table: BTreeMap<Value, State> = BTreeMap::new();
    for o in ops {
        let (a, b) = match o.op {
            KvOp::Put { value, .. } => (Some(value), None),
            KvOp::Get { .. } => (None, None),
            KvOp::Cas { expected, new, .. } => (expected, Some(new)),
        };
        let read = match o.completed {
            Some((_, KvOutput::Read(v))) => v,
            _ => None,
        };
        for v in [a, b, read].into_iter().flatten() {
            table.insert(v, 0);
        }
    }
    for (i, id) in table.values_mut().enumerate() {
        *id = State::try_from(i + 1).expect("fewer than 2^32 distinct values per key");
    }
    let id = |v: Option<Value>| v.map_or(ABSENT, |v| table[&v]);
    let steps = ops
        .iter()
        .map(|o| match (o.op, o.completed.map(|(_, out)| out)) {
            (KvOp::Put { value, .. }, None | Some(KvOutput::Written)) => Step::Put {
                new: id(Some(value)),
            },
            (KvOp::Get { .. }, Some(KvOutput::Read(v))) => Step::Get { read: id(v) },
            (KvOp::Cas { expected, new, .. }, None) => Step::Cas {
                expected: id(expected),
                new: id(Some(new)),
                swapped: None,
            },
            (KvOp::Cas { expected, new, .. }, Some(KvOutput::CasResult { swapped })) => Step::Cas {
                expected: id(expected),
                new: id(Some(new)),
                swapped: Some(swapped),
            },
            // Unknown-outcome gets are dropped before this point.
            _ => Step::Never,
        })
        .collect();
    (steps, table.len() + 1)
}
