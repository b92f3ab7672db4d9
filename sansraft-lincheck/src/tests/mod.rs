//! Tests of the checker: hand-written histories ([`examples`]), generated ones
//! ([`randomized`], from [`generate`]), and agreement with two independent reference checkers
//! ([`reference`]).

use crate::history::{Key, KvOp, KvOutput, Operation, Value, Verdict};
use crate::partition::{check, sort_key, KeyResult};
use crate::search::check_key;

mod examples;
mod generate;
mod randomized;
mod reference;

const STEPS: u64 = 10_000_000;

fn put(client: u64, key: Key, value: Value, start: u64, end: u64) -> Operation {
    Operation {
        client,
        op: KvOp::Put { key, value },
        invoked_at: start,
        completed: Some((end, KvOutput::Written)),
    }
}

fn get(client: u64, key: Key, read: Option<Value>, start: u64, end: u64) -> Operation {
    Operation {
        client,
        op: KvOp::Get { key },
        invoked_at: start,
        completed: Some((end, KvOutput::Read(read))),
    }
}

fn cas(
    client: u64,
    key: Key,
    expected: Option<Value>,
    new: Value,
    swapped: bool,
    start: u64,
    end: u64,
) -> Operation {
    Operation {
        client,
        op: KvOp::Cas { key, expected, new },
        invoked_at: start,
        completed: Some((end, KvOutput::CasResult { swapped })),
    }
}

fn pending(client: u64, op: KvOp, start: u64) -> Operation {
    Operation {
        client,
        op,
        invoked_at: start,
        completed: None,
    }
}

fn assert_bad(history: &[Operation], key: Key) {
    match check(history, STEPS) {
        Verdict::NotLinearizable { key: k, operations } => {
            assert_eq!(k, key);
            let mut expected: Vec<Operation> = history
                .iter()
                .filter(|o| o.op.key() == key)
                .copied()
                .collect();
            expected.sort_by_key(sort_key);
            assert_eq!(operations, expected);
        }
        v => panic!("expected NotLinearizable for key {key}, got {v:?}"),
    }
    // The search alone must find it too.
    assert_eq!(search_only(history, key), KeyResult::NotLinearizable);
}

fn assert_not_linearizable_at(h: &[Operation], key: Key, what: &str) {
    match check(h, STEPS) {
        Verdict::NotLinearizable { key: k, .. } => assert_eq!(k, key, "{what}"),
        v => panic!("{what}: expected NotLinearizable, got {v:?}"),
    }
}

/// Runs the search alone (no [`evident_violation`] precheck) on the
/// sub-history of `key`.
fn search_only(h: &[Operation], key: Key) -> KeyResult {
    let mut ops: Vec<Operation> = h.iter().filter(|o| o.op.key() == key).copied().collect();
    ops.sort_by_key(sort_key);
    check_key(&ops, STEPS, false)
}
