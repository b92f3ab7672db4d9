//! Bad input from the embedder: bogus storage acknowledgements and applied reports, and
//! inconsistent or extreme durable state at start.

use bytes::Bytes;
use proptest::prelude::*;
use sansraft::message::Heartbeat;
use sansraft::{
    Action, Body, Config, DurableState, Entry, EntryKind, HardState, Index, Input, Membership,
    Node, SnapshotMeta, WriteToken,
};

use crate::helpers::*;

/// Acknowledgements of writes never issued are `bogus_ack`; from another incarnation or repeated,
/// `stale_ack`. Neither makes anything durable.
#[test]
fn bogus_and_stale_storage_acks_are_ignored() {
    let mut c = running_cluster();
    let node = node_mut(&mut c, LEADER);
    // A write the leader issued and that has not been acknowledged yet.
    let actions = node.step(Input::Propose(Bytes::from_static(b"unacked")));
    let token = actions
        .iter()
        .find_map(|a| match a {
            Action::Persist(w) => Some(w.token),
            _ => None,
        })
        .expect("a proposal is written");
    assert_eq!(node.status().durable_index, LAST);

    let next = WriteToken {
        seq: token.seq + 1,
        ..token
    };
    let far = WriteToken {
        seq: u64::MAX,
        ..token
    };
    for bogus in [next, far] {
        assert_ignored(node, Input::Persisted(bogus), |k| k.bogus_ack += 1);
    }
    for stale in [
        WriteToken {
            incarnation: token.incarnation + 1,
            ..token
        },
        WriteToken {
            incarnation: u64::MAX,
            seq: 1,
        },
        WriteToken { seq: 0, ..token },
        WriteToken {
            seq: token.seq - 1,
            ..token
        },
    ] {
        assert_ignored(node, Input::Persisted(stale), |k| k.stale_ack += 1);
    }
    assert_eq!(node.status().durable_index, LAST, "nothing became durable");

    // The real acknowledgement works, and repeating it is stale.
    let _ = node.step(Input::Persisted(token));
    assert_eq!(node.status().durable_index, LAST + 1);
    assert_ignored(node, Input::Persisted(token), |k| k.stale_ack += 1);
}

/// A report of applied entries beyond what was handed out for applying is `bogus_applied`.
#[test]
fn applied_beyond_what_was_handed_out_is_ignored() {
    let mut c = running_cluster();
    for id in [FOLLOWER, LEADER] {
        for index in [LAST + 1, LAST + 100, u64::MAX] {
            assert_ignored(node_mut(&mut c, id), Input::Applied(index), |k| {
                k.bogus_applied += 1
            });
        }
        // An old report is harmless and not counted.
        assert_ignored(node_mut(&mut c, id), Input::Applied(3), |_| {});
        assert_eq!(c.node(id).status().applied, LAST);
    }
    // Entry 8 handed out for applying but not yet reported: a report of 9 is bogus, of 8 fine.
    let mut c = follower_with_uncommitted_suffix();
    let follower = node_mut(&mut c, FOLLOWER);
    let heartbeat = msg(
        LEADER,
        FOLLOWER,
        TERM,
        Body::Heartbeat(Heartbeat {
            commit: 8,
            round: 0,
            proof: None,
            quiesce: false,
        }),
    );
    let actions = follower.step(Input::Message(heartbeat));
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Apply(e) if e.len() == 1 && e[0].index == 8)),
        "{actions:?}"
    );
    assert_ignored(follower, Input::Applied(9), |k| k.bogus_applied += 1);
    assert_eq!(follower.status().applied, LAST);
    let _ = follower.step(Input::Applied(8));
    assert_eq!(follower.status().applied, 8);
    assert_eq!(follower.counters().bogus_applied, 1);
}

/// Arbitrary durable state, with indexes and terms small or large but (unlike
/// `arb_durable_state_near_the_top`) not at the very top of the index space.
fn arb_durable_state() -> impl Strategy<Value = DurableState> {
    let ids = prop::collection::vec(prop_oneof![0u64..6, Just(u64::MAX)], 0..4);
    let n = || prop_oneof![8 => 0u64..8, 1 => Just(1u64 << 40), 1 => Just(u64::MAX / 2)];
    (
        (n(), prop::option::of(n()), n()),
        (n(), n(), ids.clone(), ids.clone(), ids),
        prop::collection::vec((n(), n(), arb_kind()), 0..5),
        n(),
    )
        .prop_map(
            |((term, vote, commit), (s_index, s_term, voters, outgoing, learners), es, applied)| {
                DurableState {
                    hard_state: HardState { term, vote, commit },
                    snapshot: SnapshotMeta {
                        index: s_index,
                        term: s_term,
                        membership: Membership {
                            voters,
                            outgoing,
                            learners,
                            ..Membership::default()
                        },
                    },
                    entries: es
                        .into_iter()
                        .map(|(index, term, kind)| Entry {
                            term,
                            index,
                            kind,
                            data: Bytes::new(),
                        })
                        .collect(),
                    applied,
                }
            },
        )
}

/// Durable state whose indexes sit at the very top of the index space, but is otherwise
/// consistent: a snapshot at `u64::MAX - k`, an applied index equal to it, maybe an entry after it.
fn arb_durable_state_near_the_top() -> impl Strategy<Value = DurableState> {
    (0u64..3, 0usize..2).prop_map(|(k, n)| {
        let index = u64::MAX - k;
        DurableState {
            hard_state: HardState {
                term: 2,
                vote: None,
                commit: index,
            },
            snapshot: SnapshotMeta {
                index,
                term: 1,
                membership: Membership::with_voters(1..=3),
            },
            entries: (0..n.min(k as usize))
                .map(|i| Entry {
                    term: 2,
                    index: index + 1 + i as Index,
                    kind: EntryKind::Normal,
                    data: Bytes::new(),
                })
                .collect(),
            applied: index,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// docs/design.md §6: `Node::new` refuses inconsistent durable state with a `StartError` and
    /// never panics; a node it accepts satisfies its invariants and survives a few ticks.
    #[test]
    fn arbitrary_durable_state_never_panics_at_start(state in arb_durable_state(), seed in any::<u64>()) {
        let config = Config::new(1, seed);
        if let Ok(mut node) = Node::new(config, state, 0) {
            prop_assert!(node.check_invariants().is_ok());
            for _ in 0..30 {
                let _ = node.step(Input::Tick);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, failure_persistence: None, ..ProptestConfig::default() })]

    /// docs/design.md §6, at the top of the index space: starting from such a state either fails
    /// with a `StartError` or gives a working node — never an arithmetic overflow panic.
    #[test]
    fn durable_state_at_the_top_of_the_index_space_never_panics_at_start(state in arb_durable_state_near_the_top()) {
        let config = Config::new(1, 7);
        if let Ok(mut node) = Node::new(config, state, 0) {
            prop_assert!(node.check_invariants().is_ok());
            let _ = node.step(Input::Tick);
        }
    }
}

/// The start-up path validates persisted state rather than panicking on it.
#[test]
fn inconsistent_durable_state_is_refused_at_start() {
    let config = Config::new(1, 1);
    let mut gap = durable(4, 0, &[1, 2]);
    gap.entries[1].index = 3;
    let too_new = durable(1, 0, &[1, 2]);
    let mut commit_beyond = durable(4, 0, &[1]);
    commit_beyond.hard_state.commit = 5;
    let mut applied_beyond = durable(4, 1, &[1]);
    applied_beyond.applied = 2;
    let mut unsorted = durable(4, 0, &[]);
    unsorted.snapshot.membership.voters = vec![2, 1];
    for state in [gap, too_new, commit_beyond, applied_beyond, unsorted] {
        assert!(
            Node::new(config.clone(), state.clone(), 0).is_err(),
            "{state:?}"
        );
    }
}
