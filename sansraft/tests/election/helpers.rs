//! Shared by the election tests: configurations, fresh nodes, vote requests and responses, and
//! the Election Safety check.

use bytes::Bytes;
use sansraft::message::{VoteRequest, VoteResponse};
use sansraft::{
    Body, Config, DurableState, Entry, EntryKind, Index, Membership, Message, Node, NodeId, Role,
    Term,
};
use sansraft_testkit::Cluster;
use std::collections::BTreeMap;

/// The default election timeout T of [`Config::new`], in ticks.
pub(crate) const T: u32 = 10;

pub(crate) fn config(id: NodeId, seed: u64, pre_vote: bool) -> Config {
    let mut config = Config::new(id, seed);
    config.pre_vote = pre_vote;
    config
}

pub(crate) fn fresh_node(config: Config, voters: &[NodeId]) -> Node {
    let state = DurableState::bootstrap(Membership::with_voters(voters.iter().copied()));
    Node::new(config, state, 0).expect("valid start state")
}

pub(crate) fn entry(index: Index, term: Term) -> Entry {
    Entry {
        term,
        index,
        kind: EntryKind::Normal,
        data: Bytes::from(format!("e{index}")),
    }
}

pub(crate) fn vote_request(
    from: NodeId,
    to: NodeId,
    term: Term,
    last: (Index, Term),
    pre: bool,
) -> Message {
    Message {
        from,
        to,
        term,
        body: Body::Vote(VoteRequest {
            pre_vote: pre,
            last_index: last.0,
            last_term: last.1,
            transfer: false,
            config_index: 0,
            config_term: 0,
        }),
    }
}

/// The vote responses in `sent`, as (from, to, term, pre_vote, granted).
pub(crate) fn vote_responses(sent: &[Message]) -> Vec<(NodeId, NodeId, Term, bool, bool)> {
    sent.iter()
        .filter_map(|m| match m.body {
            Body::VoteResponse(VoteResponse { pre_vote, granted }) => {
                Some((m.from, m.to, m.term, pre_vote, granted))
            }
            _ => None,
        })
        .collect()
}

pub(crate) fn no_pre_vote(id: NodeId) -> Config {
    config(id, id * 7919, false)
}

/// Ticks `id` (alone) until it leaves the follower role; returns how many ticks it took.
pub(crate) fn tick_until_campaign(c: &mut Cluster, id: NodeId) -> u32 {
    for n in 1..=10 * T {
        c.tick(id);
        if c.node(id).role() != Role::Follower {
            return n;
        }
    }
    panic!("node {id} never campaigned");
}

/// Election Safety (§5.2): records every leader seen per term and fails on a second one.
pub(crate) fn check_election_safety(c: &Cluster, leaders_by_term: &mut BTreeMap<Term, NodeId>) {
    for node in c.peers.iter().filter_map(|p| p.node.as_ref()) {
        if node.role() == Role::Leader {
            let first = *leaders_by_term.entry(node.term()).or_insert(node.id());
            assert_eq!(
                first,
                node.id(),
                "two leaders in term {}: {first} and {}",
                node.term(),
                node.id()
            );
        }
    }
}
