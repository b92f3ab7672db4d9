//! One test per fuzzer finding: the input that found it must now pass (kept in
//! `fuzz/corpus/<target>/` as `regress-*`, or, for findings from before a change of the byte
//! format, as an operation list in `schedules/`), and the behaviour it exposed is asserted
//! directly.

mod schedules;

use bytes::Bytes;
use sansraft::message::Heartbeat;
use sansraft::{Action, Body, Config, DurableState, Input, Membership, Message, Node, Role, Term};
use sansraft_fuzz::{cluster, corpus, node_step};
use std::collections::VecDeque;

/// Finding (node_step): a peer's message with term `u64::MAX` made the node adopt that term,
/// and its next election timeout computed `term + 1`: an overflow panic in debug builds, and in
/// release a wrap to term 0, breaking §5.1 (terms only grow). Now the node stays a follower in
/// the last term and counts `term_exhausted`.
#[test]
fn a_node_in_the_last_term_does_not_campaign() {
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
                proof: None,
                quiesce: false,
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

/// Finding (node_step, in the target's storage model, not in sansraft): the modelled
/// application took a snapshot at an applied index that came from a received snapshot whose
/// install write was not yet durable, so an older pending write then landed below the new
/// snapshot. The model now does what sansraft-sim's application does (no snapshot over a pending
/// install), and accepts entries written below the durable snapshot (a restart skips them).
#[test]
fn no_application_snapshot_over_a_pending_install() {
    let (setup, ops) = schedules::snapshot_over_pending_install();
    let harness = node_step::run_ops(setup, &ops);
    assert!(harness.steps() > 0);
}

/// Finding (cluster, a libFuzzer timeout in the target, not in sansraft): a schedule of
/// duplications and whole-network deliveries grew the messages in flight from hundreds to
/// thousands per operation (five nodes, 16-byte snapshot chunks), so one input ran for over
/// ten seconds. The target's network now holds at most `MAX_IN_FLIGHT` messages (losing the
/// oldest, as a full queue would) and a settle round delivers at most `SETTLE_DELIVERIES`.
#[test]
fn messages_in_flight_stay_bounded() {
    let (setup, ops) = schedules::message_storm();
    let mut world = cluster::world(setup, None);
    for op in &ops {
        cluster::apply(&mut world, &setup, op);
        assert!(world.in_flight().len() <= cluster::MAX_IN_FLIGHT);
    }
    assert!(world.violation().is_none(), "{:?}", world.violation());
}

/// A heartbeat of `term` from `from` to node 1.
fn heartbeat_to_node_1(from: u64, term: Term) -> Message {
    Message {
        from,
        to: 1,
        term,
        body: Body::Heartbeat(Heartbeat {
            commit: 0,
            round: 1,
            proof: None,
            quiesce: false,
        }),
    }
}

/// Finding (node_step, with reads): a follower that had just adopted a newer term from its
/// leader forwarded a read to it at once, before that term was durable (Figure 2: what a
/// follower says leaves only once the state it depends on is durable); so did a node refusing
/// a forwarded read after losing leadership. Both now wait for the durable write.
#[test]
fn a_forwarded_read_waits_for_a_durable_term() {
    node_step::run(&corpus::input(
        "node_step",
        "regress-forwarded-read-before-durable",
    ));

    let state = DurableState::bootstrap(Membership::with_voters([1, 2, 3]));
    let mut node = Node::new(Config::new(1, 5), state, 0).expect("valid start");
    let heartbeat = heartbeat_to_node_1(2, 4);
    let writes: Vec<_> = node
        .step(Input::Message(heartbeat))
        .into_iter()
        .filter_map(|a| match a {
            Action::Persist(w) => Some(w.token),
            _ => None,
        })
        .collect();
    assert_eq!(node.leader(), Some(2));
    let token = *writes.last().expect("the new term is written");
    let sends = |actions: Vec<Action>| {
        actions
            .into_iter()
            .filter(|a| matches!(a, Action::Send(m) if matches!(m.body, Body::ReadIndex(_))))
            .count()
    };
    assert_eq!(
        sends(node.step(Input::ReadIndex(7))),
        0,
        "no read request before term 4 is durable"
    );
    assert_eq!(
        sends(node.step(Input::Persisted(token))),
        1,
        "the read request leaves once term 4 is durable"
    );
}

/// Finding (node_step, in sansraft's input checks): a leader message from node id 0 (reserved:
/// no node has it) was accepted, and the node then followed "leader 0". It is now ignored and
/// counted.
#[test]
fn messages_from_node_zero_are_ignored() {
    let state = DurableState::bootstrap(Membership::with_voters([1, 2, 3]));
    let mut node = Node::new(Config::new(1, 5), state, 0).expect("valid start");
    let from_zero = heartbeat_to_node_1(0, 4);
    let actions = node.step(Input::Message(from_zero));
    assert!(actions.is_empty(), "{actions:?}");
    assert_eq!(node.term(), 0);
    assert_eq!(node.leader(), None);
    assert_eq!(node.counters().unknown_peer, 1);
}

/// Finding (node_step, in the target's application model, and the same bug in sansraft-sim's): the
/// application's snapshot carried the latest configuration instead of the one in force at the
/// snapshot's index (they differ while a change appended after the applied index is pending),
/// so the engine refused the snapshot while the modelled disk kept it. Both applications now
/// use `Node::membership_at`, and the harness asserts that its snapshots are accepted (see also
/// `reach.rs`, which counts refused snapshots in the simulator).
#[test]
fn snapshots_carry_the_configuration_at_their_index() {
    node_step::run(&corpus::input(
        "node_step",
        "regress-snapshot-config-at-index",
    ));
}

/// Finding (node_step, in the target's read check, not in sansraft): a leader of voters {1, 2}
/// removing node 2 confirmed a waiting read in the step in which the joint configuration was
/// committed and C_new = {1} took its place: a quorum of C_new (the leader alone) confirms it,
/// and while the leader leads nobody else can. The check knew only the configurations in force
/// after earlier steps; it now counts the one the serving step put in force too.
#[test]
fn a_read_may_be_confirmed_by_the_configuration_its_step_put_in_force() {
    node_step::run(&corpus::input(
        "node_step",
        "regress-read-confirmed-in-the-same-step",
    ));
}

/// Finding (node_step): a node whose latest configuration makes it a non-voter (a term-0
/// "leader" appended a configuration of voters {2}) campaigns, as thesis §4.2.2 allows while
/// that configuration is uncommitted; the only voter granted, so it won without its own vote,
/// which is what used to wait for the durable term (`tally_votes`), and as leader sent an
/// append of term 5 while storage held term 0 (Figure 2: persist before sending). Fixed: a
/// candidate leads only once its term and vote are durable.
#[test]
fn a_non_voter_does_not_lead_before_its_term_is_durable() {
    node_step::run(&corpus::input(
        "node_step",
        "regress-non-voter-leads-before-durable-term",
    ));
}
