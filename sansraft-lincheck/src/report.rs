//! A counterexample in words: the sub-history of a key that has no linearization, one line an
//! operation.

use crate::history::{Key, Operation};

/// A readable account of the operations on `key` that have no linearization (the `operations`
/// of [`Verdict::NotLinearizable`](crate::Verdict::NotLinearizable)): a headline, then one line
/// per operation with its client, request, invocation and completion. Times are read as
/// microseconds and shown in seconds.
pub fn describe_counterexample(key: Key, operations: &[Operation]) -> String {
    let mut out = format!(
        "no linearization of the {} operations on key {key}:",
        operations.len()
    );
    for op in operations {
        let done = match op.completed {
            Some((t, output)) => format!("{:.6}s → {output:?}", t as f64 / 1e6),
            None => "unknown".to_owned(),
        };
        out.push_str(&format!(
            "\n    client {} {:?} invoked {:.6}s, completed {done}",
            op.client,
            op.op,
            op.invoked_at as f64 / 1e6
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KvOp, KvOutput};

    #[test]
    fn one_line_per_operation_in_seconds() {
        let operations = [
            Operation {
                client: 4,
                op: KvOp::Put { key: 2, value: 9 },
                invoked_at: 1_500_000,
                completed: Some((2_000_001, KvOutput::Written)),
            },
            Operation {
                client: 5,
                op: KvOp::Get { key: 2 },
                invoked_at: 3_000_000,
                completed: None,
            },
        ];
        assert_eq!(
            describe_counterexample(2, &operations),
            "no linearization of the 2 operations on key 2:\n    \
             client 4 Put { key: 2, value: 9 } invoked 1.500000s, completed 2.000001s → Written\n    \
             client 5 Get { key: 2 } invoked 3.000000s, completed unknown"
        );
    }
}
