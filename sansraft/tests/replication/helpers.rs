//! Shared by the replication tests: logs and durable states to start from, and ways to watch and
//! steer the traffic.

use bytes::Bytes;
use sansraft::message::{Append, AppendResponse};
use sansraft::{
    Body, Config, DurableState, Entry, EntryKind, HardState, Index, Membership, Message, Node,
    NodeId, Role, SnapshotMeta, Term,
};
use sansraft_testkit::cluster::Cluster;

pub(crate) fn config(id: NodeId) -> Config {
    Config::new(id, id * 7919)
}

/// Entries at indexes 1.. with the given terms. The payload is derived from (index, term), so two
/// logs holding an entry with the same index and term hold the same entry (Log Matching).
pub(crate) fn log_with_terms(terms: &[Term]) -> Vec<Entry> {
    terms
        .iter()
        .enumerate()
        .map(|(i, &term)| {
            let index = i as Index + 1;
            Entry {
                term,
                index,
                kind: EntryKind::Normal,
                data: Bytes::from(format!("{index}@{term}")),
            }
        })
        .collect()
}

/// The durable state of a member of an `n`-voter cluster holding a log with the given terms.
pub(crate) fn durable(
    n: u64,
    term: Term,
    vote: Option<NodeId>,
    commit: Index,
    terms: &[Term],
) -> DurableState {
    DurableState {
        hard_state: HardState { term, vote, commit },
        snapshot: SnapshotMeta {
            index: 0,
            term: 0,
            membership: Membership::with_voters(1..=n),
        },
        entries: log_with_terms(terms),
        applied: 0,
    }
}

/// A cluster whose node `i` starts from `states[i - 1]` (and has it on disk).
pub(crate) fn cluster_from(
    states: Vec<DurableState>,
    config: impl Fn(NodeId) -> Config,
) -> Cluster {
    let mut c = Cluster::with_config(states.len() as u64, &config);
    for (id, state) in c.ids().into_iter().zip(states) {
        c.start_from(id, state);
    }
    c
}

/// The terms of a node's log, by index from 1.
pub(crate) fn terms(node: &Node) -> Vec<Term> {
    (1..=node.status().last_index)
        .map(|i| {
            node.log_term(i)
                .expect("no compaction: every index is held")
        })
        .collect()
}

pub(crate) fn entries(node: &Node) -> Vec<Entry> {
    node.log_entries_from(1).cloned().collect()
}

/// Delivers messages in FIFO order until the network is quiet, dropping those `keep` rejects.
/// `keep` sees the cluster as it is when the message arrives.
pub(crate) fn deliver_where(c: &mut Cluster, keep: &mut dyn FnMut(&Cluster, &Message) -> bool) {
    for _ in 0..1_000_000 {
        let Some(m) = c.network.pop_front() else {
            return;
        };
        if keep(c, &m) {
            c.network.push_front(m);
            c.deliver_one();
        }
    }
    panic!("network never went quiet");
}

/// Ticks `id` (and only `id`) and delivers through `keep` until it leads.
pub(crate) fn win_election(
    c: &mut Cluster,
    id: NodeId,
    keep: &mut dyn FnMut(&Cluster, &Message) -> bool,
) {
    for _ in 0..300 {
        c.tick(id);
        deliver_where(c, keep);
        if c.node(id).role() == Role::Leader {
            return;
        }
    }
    panic!("node {id} never won an election");
}

pub(crate) fn is_leader_message(m: &Message) -> bool {
    matches!(m.body, Body::Append(_) | Body::Heartbeat(_))
}

/// Appends sent to `to` since position `since` of the sent log.
pub(crate) fn appends_to(c: &Cluster, since: usize, to: NodeId) -> Vec<&Append> {
    c.sent_log[since..]
        .iter()
        .filter(|m| m.to == to)
        .filter_map(|m| match &m.body {
            Body::Append(a) => Some(a),
            _ => None,
        })
        .collect()
}

pub(crate) fn rejections_from(c: &Cluster, since: usize, from: NodeId) -> usize {
    c.sent_log[since..]
        .iter()
        .filter(|m| {
            m.from == from
                && matches!(
                    m.body,
                    Body::AppendResponse(AppendResponse::Rejected { .. })
                )
        })
        .count()
}

pub(crate) fn accepted_by(c: &Cluster, from: NodeId, term: Term, match_index: Index) -> bool {
    c.sent_log.iter().any(|m| {
        m.from == from
            && m.term == term
            && m.body == Body::AppendResponse(AppendResponse::Accepted { match_index })
    })
}

pub(crate) fn payloads(n: usize, prefix: &str) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}
