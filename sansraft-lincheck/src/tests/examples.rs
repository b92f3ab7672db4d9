//! Hand-written histories, each showing one rule of the checker.

use super::*;

#[test]
fn empty_history_is_linearizable() {
    assert_eq!(check(&[], STEPS), Verdict::Linearizable);
}

#[test]
fn sequential_ok() {
    let h = [
        get(1, 0, None, 0, 1),
        put(1, 0, 5, 2, 3),
        get(2, 0, Some(5), 4, 5),
        cas(2, 0, Some(5), 6, true, 6, 7),
        cas(1, 0, Some(5), 7, false, 8, 9),
        get(1, 0, Some(6), 10, 11),
        cas(3, 1, None, 1, true, 12, 13),
        get(3, 1, Some(1), 14, 15),
    ];
    assert_eq!(check(&h, STEPS), Verdict::Linearizable);
}

#[test]
fn concurrent_writes_either_order() {
    // Two overlapping puts; later reads may observe either winner.
    for winner in [1, 2] {
        let h = [
            put(1, 0, 1, 0, 10),
            put(2, 0, 2, 5, 15),
            get(3, 0, Some(winner), 20, 21),
            get(4, 0, Some(winner), 22, 23),
        ];
        assert_eq!(check(&h, STEPS), Verdict::Linearizable, "winner {winner}");
    }
    // A read concurrent with both can see either, or the initial absence.
    for seen in [None, Some(1), Some(2)] {
        let h = [
            put(1, 0, 1, 0, 10),
            put(2, 0, 2, 5, 15),
            get(3, 0, seen, 0, 15),
        ];
        assert_eq!(check(&h, STEPS), Verdict::Linearizable, "seen {seen:?}");
    }
    // But once a later read has seen 1, a still later read can't see 2.
    let h = [
        put(1, 0, 1, 0, 10),
        put(2, 0, 2, 5, 15),
        get(3, 0, Some(1), 20, 21),
        get(4, 0, Some(2), 22, 23),
    ];
    assert_bad(&h, 0);
}

#[test]
fn touching_intervals_are_concurrent() {
    // The put completes at 10 and the get is invoked at 10: not ordered,
    // so the get may precede the put.
    let h = [put(1, 0, 1, 0, 10), get(2, 0, None, 10, 12)];
    assert_eq!(check(&h, STEPS), Verdict::Linearizable);
    let h = [put(1, 0, 1, 0, 10), get(2, 0, None, 11, 12)];
    assert_bad(&h, 0);
}

#[test]
fn stale_read_after_completed_write() {
    let h = [
        put(1, 0, 1, 0, 1),
        put(1, 0, 2, 2, 3),
        get(2, 0, Some(1), 4, 5),
    ];
    assert_bad(&h, 0);
    // Absent after a completed write is stale too.
    let h = [put(1, 0, 1, 0, 1), get(2, 0, None, 4, 5)];
    assert_bad(&h, 0);
}

#[test]
fn read_of_value_never_written() {
    let h = [put(1, 0, 1, 0, 10), get(2, 0, Some(99), 0, 10)];
    assert_bad(&h, 0);
}

#[test]
fn lost_update_via_cas() {
    // Both CASes expected 1 and both claim success: one update is lost.
    let h = [
        put(1, 0, 1, 0, 1),
        cas(2, 0, Some(1), 2, true, 2, 10),
        cas(3, 0, Some(1), 3, true, 3, 11),
    ];
    assert_bad(&h, 0);
    // With one of them failing it is fine.
    let h = [
        put(1, 0, 1, 0, 1),
        cas(2, 0, Some(1), 2, true, 2, 10),
        cas(3, 0, Some(1), 3, false, 3, 11),
        get(1, 0, Some(2), 12, 13),
    ];
    assert_eq!(check(&h, STEPS), Verdict::Linearizable);
}

#[test]
fn cas_on_absent_key() {
    let h = [
        cas(1, 0, None, 1, true, 0, 5),
        cas(2, 0, None, 2, true, 1, 6),
    ];
    assert_bad(&h, 0);
    let h = [
        cas(1, 0, None, 1, true, 0, 5),
        cas(2, 0, None, 2, false, 1, 6),
        get(3, 0, Some(1), 7, 8),
    ];
    assert_eq!(check(&h, STEPS), Verdict::Linearizable);
}

#[test]
fn unknown_outcome_put_read_later_is_ok() {
    let h = [
        put(1, 0, 1, 0, 1),
        pending(2, KvOp::Put { key: 0, value: 2 }, 2),
        get(3, 0, Some(1), 3, 4),
        get(3, 0, Some(2), 100, 101),
        get(4, 0, Some(2), 102, 103),
    ];
    assert_eq!(check(&h, STEPS), Verdict::Linearizable);
    // It may also never take effect.
    let h = [
        put(1, 0, 1, 0, 1),
        pending(2, KvOp::Put { key: 0, value: 2 }, 2),
        get(3, 0, Some(1), 100, 101),
    ];
    assert_eq!(check(&h, STEPS), Verdict::Linearizable);
}

#[test]
fn unknown_outcome_put_read_then_disappears_is_bad() {
    // The pending put of 2 was observed, so it took effect; the value
    // then reverts to 1 with no write of 1 after it.
    let h = [
        put(1, 0, 1, 0, 1),
        pending(2, KvOp::Put { key: 0, value: 2 }, 2),
        get(3, 0, Some(2), 10, 11),
        get(3, 0, Some(1), 12, 13),
    ];
    assert_bad(&h, 0);
    // Also bad: the pending put was read before it was invoked.
    let h = [
        get(3, 0, Some(2), 0, 1),
        pending(2, KvOp::Put { key: 0, value: 2 }, 2),
    ];
    assert_bad(&h, 0);
}

#[test]
fn unknown_outcome_cas_may_succeed_or_fail() {
    // Pending CAS succeeds (value 2 observed).
    let h = [
        put(1, 0, 1, 0, 1),
        pending(
            2,
            KvOp::Cas {
                key: 0,
                expected: Some(1),
                new: 2,
            },
            2,
        ),
        get(3, 0, Some(2), 10, 11),
    ];
    assert_eq!(check(&h, STEPS), Verdict::Linearizable);
    // Pending CAS can only succeed if the expected value is present.
    let h = [
        put(1, 0, 1, 0, 1),
        pending(
            2,
            KvOp::Cas {
                key: 0,
                expected: Some(7),
                new: 2,
            },
            2,
        ),
        get(3, 0, Some(2), 10, 11),
    ];
    assert_bad(&h, 0);
    // Pending gets are dropped whatever they were.
    let h = [
        put(1, 0, 1, 0, 1),
        pending(3, KvOp::Get { key: 0 }, 0),
        get(3, 0, Some(1), 10, 11),
    ];
    assert_eq!(check(&h, STEPS), Verdict::Linearizable);
}

#[test]
fn unknown_outcome_write_can_explain_failed_cas() {
    // The CAS expecting 1 failed although 1 was written: only the
    // unknown-outcome put of 2, taking effect just before it, explains
    // that; the final read then sees 2.
    let h = [
        put(1, 0, 1, 0, 1),
        pending(2, KvOp::Put { key: 0, value: 2 }, 2),
        cas(3, 0, Some(1), 3, false, 3, 4),
        get(3, 0, Some(2), 5, 6),
    ];
    assert_eq!(check(&h, STEPS), Verdict::Linearizable);
    // But then the value cannot be 1 afterwards.
    let mut bad = h;
    bad[3] = get(3, 0, Some(1), 5, 6);
    assert_bad(&bad, 0);
}

#[test]
fn unknown_outcome_cas_chain() {
    let chain = |first_expected| {
        [
            put(1, 0, 1, 0, 1),
            pending(
                2,
                KvOp::Cas {
                    key: 0,
                    expected: Some(first_expected),
                    new: 2,
                },
                2,
            ),
            pending(
                3,
                KvOp::Cas {
                    key: 0,
                    expected: Some(2),
                    new: 3,
                },
                2,
            ),
            get(4, 0, Some(3), 10, 11),
        ]
    };
    assert_eq!(check(&chain(1), STEPS), Verdict::Linearizable);
    assert_bad(&chain(5), 0);
}

#[test]
fn only_one_interleaving_works() {
    // All four operations overlap; the only valid order is
    // put(1), cas(1->2), get=2, cas(2->3), with a final get of 3.
    let h = [
        cas(2, 0, Some(2), 3, true, 0, 20),
        get(3, 0, Some(2), 0, 20),
        cas(1, 0, Some(1), 2, true, 0, 20),
        put(4, 0, 1, 0, 20),
        get(5, 0, Some(3), 21, 22),
    ];
    assert_eq!(check(&h, STEPS), Verdict::Linearizable);
    // Changing the final read makes it impossible.
    let mut bad = h;
    bad[4] = get(5, 0, Some(2), 21, 22);
    assert_bad(&bad, 0);
}

#[test]
fn wrong_output_kind_is_bad() {
    let h = [Operation {
        client: 1,
        op: KvOp::Put { key: 0, value: 1 },
        invoked_at: 0,
        completed: Some((1, KvOutput::Read(None))),
    }];
    assert_bad(&h, 0);
}

#[test]
fn independent_keys() {
    // Interleaved operations on different keys do not interfere.
    let h = [
        put(1, 0, 1, 0, 10),
        put(2, 1, 1, 0, 10),
        get(3, 1, Some(1), 11, 12),
        get(3, 0, Some(1), 11, 12),
        put(1, 2, 7, 13, 14),
        get(2, 0, Some(1), 15, 16),
        get(2, 3, None, 15, 16),
    ];
    assert_eq!(check(&h, STEPS), Verdict::Linearizable);
    // A violation on key 5 is reported with only key 5's operations,
    // even though key 9 is also bad (smallest key wins).
    let mut bad = h.to_vec();
    bad.push(put(1, 9, 1, 20, 21));
    bad.push(get(2, 9, None, 22, 23));
    bad.push(put(1, 5, 1, 20, 21));
    bad.push(get(2, 5, Some(2), 22, 23));
    match check(&bad, STEPS) {
        Verdict::NotLinearizable { key, operations } => {
            assert_eq!(key, 5);
            assert_eq!(
                operations,
                vec![put(1, 5, 1, 20, 21), get(2, 5, Some(2), 22, 23)]
            );
        }
        v => panic!("unexpected {v:?}"),
    }
}

#[test]
fn step_limit_gives_inconclusive() {
    let h = [
        put(1, 0, 1, 0, 10),
        put(2, 0, 2, 0, 10),
        put(3, 0, 3, 0, 10),
        get(4, 0, Some(1), 11, 12),
        put(1, 1, 1, 0, 1),
    ];
    assert_eq!(check(&h, 2), Verdict::Inconclusive { key: 0 });
    assert_eq!(check(&h, STEPS), Verdict::Linearizable);
    // A definite violation on another key takes precedence.
    let mut bad = h.to_vec();
    bad.push(get(1, 1, Some(9), 2, 3));
    assert!(matches!(
        check(&bad, 3),
        Verdict::NotLinearizable { key: 1, .. }
    ));
}

#[test]
fn input_order_is_irrelevant() {
    let h = [
        put(1, 0, 1, 0, 10),
        put(2, 0, 2, 5, 15),
        get(3, 0, Some(1), 20, 21),
        get(4, 0, Some(2), 22, 23),
    ];
    let mut r = h;
    r.reverse();
    assert_eq!(check(&h, STEPS), check(&r, STEPS));
}
