//! Shared by the durability tests: followers to start from, entries and appends, and readers of
//! what was sent.

use bytes::Bytes;
use sansraft::message::{Append, AppendResponse, VoteResponse};
use sansraft::{
    Body, Config, DurableState, Entry, EntryKind, HardState, Index, Membership, Message, Node,
    NodeId, SnapshotMeta, Term,
};

pub(crate) fn no_pre_vote(id: NodeId) -> Config {
    let mut config = Config::new(id, id * 7919);
    config.pre_vote = false;
    config
}

pub(crate) fn entry(index: Index, term: Term, data: &str) -> Entry {
    Entry {
        term,
        index,
        kind: EntryKind::Normal,
        data: Bytes::copy_from_slice(data.as_bytes()),
    }
}

pub(crate) fn append(
    from: NodeId,
    to: NodeId,
    term: Term,
    prev: (Index, Term),
    commit: Index,
    entries: Vec<Entry>,
) -> Message {
    Message {
        from,
        to,
        term,
        body: Body::Append(Append {
            prev_index: prev.0,
            prev_term: prev.1,
            commit,
            entries: entries.into(),
        }),
    }
}

/// A follower of the cluster {1, 2, 3} with the given persisted term and log.
pub(crate) fn follower(
    id: NodeId,
    term: Term,
    entries: Vec<Entry>,
    commit: Index,
    incarnation: u64,
) -> Node {
    follower_with(no_pre_vote(id), term, entries, commit, incarnation)
}

/// [`follower`] with its configuration given.
pub(crate) fn follower_with(
    config: Config,
    term: Term,
    entries: Vec<Entry>,
    commit: Index,
    incarnation: u64,
) -> Node {
    let state = DurableState {
        hard_state: HardState {
            term,
            vote: None,
            commit,
        },
        snapshot: SnapshotMeta {
            index: 0,
            term: 0,
            membership: Membership::with_voters([1, 2, 3]),
        },
        entries,
        applied: 0,
    };
    Node::new(config, state, incarnation).expect("valid start state")
}

pub(crate) fn is_vote_response(m: &Message) -> bool {
    matches!(
        m.body,
        Body::VoteResponse(VoteResponse {
            pre_vote: false,
            ..
        })
    )
}

pub(crate) fn is_vote_request(m: &Message) -> bool {
    matches!(m.body, Body::Vote(v) if !v.pre_vote)
}

/// The `match_index` of every accepting append response in `sent` from `from` to `to`.
pub(crate) fn accepted_to(sent: &[Message], from: NodeId, to: NodeId) -> Vec<Index> {
    let to_only: Vec<Message> = sent.iter().filter(|m| m.to == to).cloned().collect();
    accepted(&to_only, from)
}

/// The `match_index` of every accepting append response in `sent` from `from`.
pub(crate) fn accepted(sent: &[Message], from: NodeId) -> Vec<Index> {
    sent.iter()
        .filter(|m| m.from == from)
        .filter_map(|m| match m.body {
            Body::AppendResponse(AppendResponse::Accepted { match_index }) => Some(match_index),
            _ => None,
        })
        .collect()
}
