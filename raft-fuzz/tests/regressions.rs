//! One test per fuzzer finding: the input that found it (kept in `fuzz/corpus/<target>/` as
//! `regress-*`) must now pass, and the behaviour it exposed is asserted directly.

use bytes::Bytes;
use raft_core::message::Heartbeat;
use raft_core::{Action, Body, Config, DurableState, Input, Membership, Message, Node, Role, Term};
use raft_fuzz::{cluster, corpus, node_step};
use std::collections::VecDeque;

/// Finding (node_step): a peer's message with term `u64::MAX` made the node adopt that term,
/// and its next election timeout computed `term + 1`: an overflow panic in debug builds, and in
/// release a wrap to term 0, breaking §5.1 (terms only grow). Now the node stays a follower in
/// the last term and counts `term_exhausted`.
#[test]
fn a_node_in_the_last_term_does_not_campaign() {
    node_step::run(&corpus::input("node_step", "regress-campaign-at-term-max"));

    for pre_vote in [false, true] {
        let mut config = Config::new(1, 11);
        config.pre_vote = pre_vote;
        let state = DurableState::bootstrap(Membership::with_voters([1, 2, 3]));
        let mut node = Node::new(config, state, 0).expect("valid start");
        let absurd = Message {
            from: 2,
            to: 1,
            term: Term::MAX,
            body: Body::Heartbeat(Heartbeat {
                commit: 0,
                round: 0,
            }),
        };
        let mut inputs: VecDeque<Input> = (0..100).map(|_| Input::Tick).collect();
        inputs.push_front(Input::Message(absurd));
        while let Some(input) = inputs.pop_front() {
            for action in node.step(input) {
                if let Action::Persist(write) = action {
                    inputs.push_front(Input::Persisted(write.token));
                }
            }
        }
        assert_eq!(node.term(), Term::MAX, "§5.1: the term never wraps");
        assert_eq!(node.role(), Role::Follower);
        assert!(node.counters().term_exhausted > 0);
        assert!(node.check_invariants().is_ok());
        let refused = node.step(Input::Propose(Bytes::from_static(b"x")));
        assert_eq!(refused.len(), 1, "a proposal is answered: {refused:?}");
    }
}

/// Finding (node_step, in the target's storage model, not in raft-core): the modelled
/// application took a snapshot at an applied index that came from a received snapshot whose
/// install write was not yet durable, so an older pending write then landed below the new
/// snapshot. The model now does what raft-sim's application does (no snapshot over a pending
/// install), and accepts entries written below the durable snapshot (a restart skips them).
#[test]
fn no_application_snapshot_over_a_pending_install() {
    node_step::run(&corpus::input(
        "node_step",
        "regress-snapshot-over-pending-install",
    ));
}

/// Finding (cluster, a libFuzzer timeout in the target, not in raft-core): a schedule of
/// duplications and whole-network deliveries grew the messages in flight from hundreds to
/// thousands per operation (five nodes, 16-byte snapshot chunks), so one input ran for over
/// ten seconds. The target's network now holds at most `MAX_IN_FLIGHT` messages (losing the
/// oldest, as a full queue would) and a settle round delivers at most `SETTLE_DELIVERIES`.
#[test]
fn messages_in_flight_stay_bounded() {
    let data = corpus::input("cluster", "regress-message-storm");
    let (setup, ops) = cluster::decode(&data).expect("the input holds a setup");
    let mut world = cluster::world(setup, None);
    for op in &ops {
        cluster::apply(&mut world, setup.nodes, op);
        assert!(world.in_flight().len() <= cluster::MAX_IN_FLIGHT);
    }
    assert!(world.violation().is_none(), "{:?}", world.violation());
}
