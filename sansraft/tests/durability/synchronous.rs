//! `Io::Synchronous`: the embedder carries out each step's actions in order, each to completion,
//! before the next input. A write is durable once carried out, so what depends on it (Figure 2:
//! "persist before responding") may follow it in the same step, and nothing needs acknowledging.

use bytes::Bytes;
use sansraft::message::AppendResponse;
use sansraft::{Action, Body, Config, DurableState, Input, Io, Membership, Node, Role};

use crate::helpers::*;

fn synchronous(mut config: Config) -> Config {
    config.io = Io::Synchronous;
    config
}

/// A single voter, synchronous, ticked until it leads.
fn single_voter_leader() -> (Node, Vec<Action>) {
    let state = DurableState::bootstrap(Membership::with_voters([1]));
    let mut node = Node::new(synchronous(Config::new(1, 11)), state, 0).expect("valid");
    for _ in 0..100 {
        let actions = node.step(Input::Tick);
        if node.role() == Role::Leader {
            return (node, actions);
        }
    }
    panic!("a single voter elects itself");
}

// Figure 2: an append is acknowledged only once its entries are durable. Synchronously, the
// acknowledgement follows the write in the same step, and nothing is held back.
#[test]
fn a_follower_acknowledges_after_its_write_in_the_same_step() {
    let mut node = follower_with(synchronous(no_pre_vote(2)), 0, Vec::new(), 0, 0);
    let m = append(1, 2, 1, (0, 0), 0, vec![entry(1, 1, "a"), entry(2, 1, "b")]);
    let actions = node.step(Input::Message(m));
    assert!(
        matches!(actions.last(), Some(Action::RoleChanged(c)) if c.leader == Some(1)),
        "the node reports its new term and leader: {actions:?}"
    );
    let kinds: Vec<&str> = actions[..actions.len() - 1]
        .iter()
        .map(|a| match a {
            Action::Persist(_) => "persist",
            Action::Send(_) => "send",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["persist", "send"], "{actions:?}");
    let Action::Send(response) = &actions[1] else {
        unreachable!()
    };
    assert_eq!(
        response.body,
        Body::AppendResponse(AppendResponse::Accepted { match_index: 2 })
    );
    assert_eq!(node.held_messages(), 0);
    assert_eq!(node.status().durable_index, 2);
    assert_eq!(node.durable_hard_state().term, 1);
}

// The same append at an asynchronous follower: the acknowledgement waits for `Persisted`.
#[test]
fn an_asynchronous_follower_holds_its_acknowledgement_until_persisted() {
    let mut node = follower(2, 0, Vec::new(), 0, 0);
    let m = append(1, 2, 1, (0, 0), 0, vec![entry(1, 1, "a")]);
    let actions = node.step(Input::Message(m));
    assert!(actions.iter().all(|a| !matches!(a, Action::Send(_))));
    assert_eq!(node.held_messages(), 1);
    assert_eq!(node.status().durable_index, 0);
}

// A single voter commits and applies a proposal in the step that proposes it: its own durable
// write is the majority (§5.3), and the entries are applied as they are handed out.
#[test]
fn a_single_voter_commits_and_applies_in_the_proposing_step() {
    let (mut node, election) = single_voter_leader();
    assert!(
        election.iter().any(|a| matches!(a, Action::Apply(_))),
        "the leader's empty entry commits and is applied as it wins: {election:?}"
    );
    let actions = node.step(Input::Propose(Bytes::from_static(b"x")));
    let persist = actions
        .iter()
        .position(|a| matches!(a, Action::Persist(_)))
        .expect("a write");
    let apply = actions
        .iter()
        .position(|a| matches!(a, Action::Apply(e) if e.iter().any(|e| &e.data[..] == b"x")))
        .expect("the proposal is applied in the same step");
    assert!(persist < apply, "durable before applied: {actions:?}");
    let status = node.status();
    assert_eq!(status.commit, status.last_index);
    assert_eq!(status.applied, status.last_index);
}

// Thesis §6.4 step 4: a read is served once the state machine has applied its read index. With
// synchronous applying, the read follows the entries it must see in the same step.
#[test]
fn a_read_is_served_after_the_entries_it_waits_for_in_the_same_step() {
    let (mut node, _) = single_voter_leader();
    node.step(Input::Propose(Bytes::from_static(b"x")));
    let actions = node.step(Input::ReadIndex(7));
    let index = node.status().applied;
    assert!(
        actions
            .iter()
            .any(|a| *a == Action::ReadReady { id: 7, index }),
        "{actions:?}"
    );
}

// An acknowledgement to a synchronous node acknowledges nothing it has not counted already: it
// is stale, and changes nothing.
#[test]
fn persisted_inputs_to_a_synchronous_node_are_stale() {
    let mut node = follower_with(synchronous(no_pre_vote(2)), 0, Vec::new(), 0, 0);
    let m = append(1, 2, 1, (0, 0), 0, vec![entry(1, 1, "a")]);
    let token = match &node.step(Input::Message(m))[0] {
        Action::Persist(w) => w.token,
        other => panic!("expected a write, got {other:?}"),
    };
    let before = node.status();
    assert!(node.step(Input::Persisted(token)).is_empty());
    assert_eq!(node.counters().stale_ack, 1);
    assert_eq!(node.status(), before);
}
