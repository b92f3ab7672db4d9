//! The fixture of the bad-input tests: a running three-node cluster, message builders, and the
//! check that a bad input was ignored and counted.

use bytes::Bytes;
use proptest::prelude::*;
use sansraft::message::Append;
use sansraft::{
    Action, Body, Counters, DurableState, Entry, EntryKind, HardState, Index, Input, Membership,
    Message, Node, NodeId, SnapshotMeta, Status, Term,
};
use sansraft_testkit::Cluster;

pub(crate) fn entry(index: Index, term: Term) -> Entry {
    Entry {
        term,
        index,
        kind: EntryKind::Normal,
        data: Bytes::from(format!("{index}@{term}")),
    }
}

pub(crate) fn durable(term: Term, commit: Index, terms: &[Term]) -> DurableState {
    DurableState {
        hard_state: HardState {
            term,
            vote: None,
            commit,
        },
        snapshot: SnapshotMeta {
            index: 0,
            term: 0,
            membership: Membership::with_voters(1..=3),
        },
        entries: terms
            .iter()
            .enumerate()
            .map(|(i, &t)| entry(i as Index + 1, t))
            .collect(),
        applied: 0,
    }
}

/// Three nodes that start at term 4 with the log [1, 2, 4] committed; node 1 is elected for term
/// 5, three commands commit, and everyone applies them. Logs: [1, 2, 4, 5, 5, 5, 5], commit 7.
pub(crate) fn running_cluster() -> Cluster {
    let mut c = Cluster::new(3);
    for id in c.ids() {
        c.start_from(id, durable(4, 3, &[1, 2, 4]));
    }
    c.elect(1);
    for i in 0..3 {
        c.propose(1, &format!("cmd{i}")).unwrap();
    }
    c.deliver_all();
    c.run(2);
    for id in 1..=3 {
        let s = c.node(id).status();
        assert_eq!(
            (s.term, s.commit, s.applied, s.last_index),
            (5, 7, 7, 7),
            "node {id}"
        );
    }
    assert_eq!(c.node(2).leader(), Some(1));
    c
}

pub(crate) const LEADER: NodeId = 1;
pub(crate) const FOLLOWER: NodeId = 2;
pub(crate) const TERM: Term = 5;
pub(crate) const LAST: Index = 7;

pub(crate) fn node_mut(c: &mut Cluster, id: NodeId) -> &mut Node {
    c.peers[(id - 1) as usize].node.as_mut().unwrap()
}

pub(crate) fn msg(from: NodeId, to: NodeId, term: Term, body: Body) -> Message {
    Message {
        from,
        to,
        term,
        body,
    }
}

pub(crate) fn append(
    prev_index: Index,
    prev_term: Term,
    commit: Index,
    entries: Vec<Entry>,
) -> Body {
    Body::Append(Append {
        prev_index,
        prev_term,
        commit,
        entries: entries.into(),
    })
}

/// Everything about a node that bad input must leave alone.
#[derive(Debug, PartialEq)]
pub(crate) struct Fingerprint {
    status: Status,
    vote: Option<NodeId>,
    durable_hard_state: HardState,
    log: Vec<Entry>,
    held_messages: usize,
    membership: Membership,
}

pub(crate) fn fingerprint(node: &Node) -> Fingerprint {
    Fingerprint {
        status: node.status(),
        vote: node.vote(),
        durable_hard_state: node.durable_hard_state(),
        log: node.log_entries_from(1).cloned().collect(),
        held_messages: node.held_messages(),
        membership: node.membership().clone(),
    }
}

/// Steps `node` with bad `input` and checks that it was ignored: no write, nothing to apply, no
/// change of state, and exactly the counter `bump` increments went up. Returns the actions (a
/// stale leader, for instance, is told the newer term).
pub(crate) fn assert_ignored(
    node: &mut Node,
    input: Input,
    bump: impl FnOnce(&mut Counters),
) -> Vec<Action> {
    let before = fingerprint(node);
    let mut expected = *node.counters();
    bump(&mut expected);
    let description = format!("{input:?}");
    let actions = node.step(input);
    for action in &actions {
        assert!(
            matches!(action, Action::Send(_)),
            "{description} caused {action:?}"
        );
    }
    assert_eq!(fingerprint(node), before, "{description} changed the node");
    assert_eq!(*node.counters(), expected, "{description} counted wrongly");
    node.check_invariants().unwrap();
    actions
}

pub(crate) fn sent(actions: &[Action]) -> Vec<&Message> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(m) => Some(m),
            _ => None,
        })
        .collect()
}

pub(crate) fn arb_kind() -> impl Strategy<Value = EntryKind> {
    prop_oneof![
        Just(EntryKind::Normal),
        Just(EntryKind::Empty),
        Just(EntryKind::Membership)
    ]
}

/// The follower of the conflict tests: node 2 of a running cluster, whose log
/// [1, 2, 4, 5, 5, 5, 5] is committed up to 7, plus one uncommitted entry appended at 8.
pub(crate) fn follower_with_uncommitted_suffix() -> Cluster {
    let mut c = running_cluster();
    let m = msg(
        LEADER,
        FOLLOWER,
        TERM,
        append(LAST, TERM, LAST, vec![entry(8, TERM)]),
    );
    c.step(FOLLOWER, Input::Message(m));
    c.network.clear();
    assert_eq!(c.node(FOLLOWER).status().last_index, 8);
    assert_eq!(c.node(FOLLOWER).status().commit, LAST);
    c
}
