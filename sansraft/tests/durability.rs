//! The durability contract (Raft Figure 2: persistent state is "updated on stable storage before
//! responding to RPCs"; thesis §10.2.1 for the leader's parallel write): what a node says depends
//! only on state that is durable, the leader counts itself only once durable, acknowledgements
//! are matched to the writes they vouch for, and a restart loses nothing that was acknowledged.

use bytes::Bytes;
use sansraft::message::{Append, AppendResponse, VoteResponse};
use sansraft::{
    Body, Config, DurableState, Entry, EntryKind, HardState, Index, Input, Membership, Message,
    Node, NodeId, Role, SnapshotMeta, Term, WriteToken,
};
use sansraft_testkit::{step_collect, step_durable, Cluster};

fn no_pre_vote(id: NodeId) -> Config {
    let mut config = Config::new(id, id * 7919);
    config.pre_vote = false;
    config
}

fn entry(index: Index, term: Term, data: &str) -> Entry {
    Entry {
        term,
        index,
        kind: EntryKind::Normal,
        data: Bytes::copy_from_slice(data.as_bytes()),
    }
}

fn append(
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
fn follower(id: NodeId, term: Term, entries: Vec<Entry>, commit: Index, incarnation: u64) -> Node {
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
    Node::new(no_pre_vote(id), state, incarnation).expect("valid start state")
}

fn is_vote_response(m: &Message) -> bool {
    matches!(
        m.body,
        Body::VoteResponse(VoteResponse {
            pre_vote: false,
            ..
        })
    )
}

fn is_vote_request(m: &Message) -> bool {
    matches!(m.body, Body::Vote(v) if !v.pre_vote)
}

/// The `match_index` of every accepting append response in `sent` from `from` to `to`.
fn accepted_to(sent: &[Message], from: NodeId, to: NodeId) -> Vec<Index> {
    let to_only: Vec<Message> = sent.iter().filter(|m| m.to == to).cloned().collect();
    accepted(&to_only, from)
}

/// The `match_index` of every accepting append response in `sent` from `from`.
fn accepted(sent: &[Message], from: NodeId) -> Vec<Index> {
    sent.iter()
        .filter(|m| m.from == from)
        .filter_map(|m| match m.body {
            Body::AppendResponse(AppendResponse::Accepted { match_index }) => Some(match_index),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Messages wait for the state they depend on
// ---------------------------------------------------------------------------------------------

// Raft Figure 2 / §5.2: a voter's currentTerm and votedFor are on stable storage before it
// answers RequestVote, else a crash could let it vote twice in one term.
#[test]
fn vote_response_waits_for_the_voters_hard_state() {
    let mut c = Cluster::with_config(3, no_pre_vote);
    c.auto_persist = false;
    while c.node(1).role() == Role::Follower {
        c.tick(1);
    }
    c.persist_all(1);
    assert_eq!(c.network.iter().filter(|m| is_vote_request(m)).count(), 2);
    c.deliver_all();

    for voter in [2, 3] {
        assert_eq!(c.node(voter).vote(), Some(1), "voted in memory");
        assert_eq!(c.node(voter).durable_hard_state().term, 0);
        assert_eq!(c.node(voter).held_messages(), 1);
        assert_eq!(c.peers[voter as usize - 1].store.pending(), 1);
    }
    assert!(
        c.network.iter().all(|m| !is_vote_response(m)),
        "{:?}",
        c.network
    );
    assert!(c.sent_log.iter().all(|m| !is_vote_response(m)));
    assert_eq!(c.node(1).role(), Role::Candidate);

    c.persist_all(2);
    assert_eq!(
        c.node(2).durable_hard_state(),
        HardState {
            term: 1,
            vote: Some(1),
            commit: 0
        }
    );
    let responses: Vec<&Message> = c.sent_log.iter().filter(|m| is_vote_response(m)).collect();
    assert_eq!(responses.len(), 1, "only node 2's vote is durable");
    assert_eq!(
        (responses[0].from, responses[0].to, responses[0].term),
        (2, 1, 1)
    );
    assert!(matches!(
        responses[0].body,
        Body::VoteResponse(VoteResponse { granted: true, .. })
    ));
    assert_eq!(c.node(3).held_messages(), 1, "node 3's vote is still held");
    c.deliver_all();
    assert_eq!(c.leaders(), vec![1]);
}

// Raft §5.2 / Figure 2: a candidate persists its incremented term and its vote for itself before
// asking for votes, and counts its own vote only once it is durable.
#[test]
fn candidate_asks_for_votes_only_once_its_term_and_vote_are_durable() {
    let mut c = Cluster::with_config(3, no_pre_vote);
    c.auto_persist = false;
    while c.node(1).role() == Role::Follower {
        c.tick(1);
    }
    assert_eq!((c.node(1).term(), c.node(1).vote()), (1, Some(1)));
    assert_eq!(c.node(1).durable_hard_state().term, 0);
    assert!(
        c.sent_log.iter().all(|m| !is_vote_request(m)),
        "{:?}",
        c.sent_log
    );
    assert_eq!(c.node(1).held_messages(), 2);
    // Ticks do not release them either.
    c.tick(1);
    assert!(c.sent_log.iter().all(|m| !is_vote_request(m)));

    c.persist_all(1);
    let requests: Vec<&Message> = c.sent_log.iter().filter(|m| is_vote_request(m)).collect();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|m| m.from == 1 && m.term == 1));
    assert_eq!(c.node(1).held_messages(), 0);

    // With pre-vote, the poll needs no write, but the real requests that follow it do.
    let mut c = Cluster::new(3);
    c.auto_persist = false;
    while c.node(1).role() == Role::Follower {
        c.tick(1);
    }
    assert_eq!(c.node(1).role(), Role::PreCandidate);
    c.deliver_all();
    assert_eq!(c.node(1).role(), Role::Candidate, "the poll was granted");
    assert!(
        c.sent_log.iter().all(|m| !is_vote_request(m)),
        "{:?}",
        c.sent_log
    );
    c.persist_all(1);
    assert_eq!(c.sent_log.iter().filter(|m| is_vote_request(m)).count(), 2);

    // A single voter cannot win on an own vote that is not yet durable.
    let mut node = Node::new(
        no_pre_vote(1),
        DurableState::bootstrap(Membership::with_voters([1])),
        0,
    )
    .expect("valid start state");
    let mut writes = Vec::new();
    while node.role() == Role::Follower {
        writes.extend(step_collect(&mut node, Input::Tick).writes);
    }
    assert_eq!(node.role(), Role::Candidate);
    for _ in 0..5 {
        writes.extend(step_collect(&mut node, Input::Tick).writes);
        assert_eq!(
            node.role(),
            Role::Candidate,
            "won on a vote that is not durable"
        );
    }
    let first = writes
        .first()
        .expect("the campaign wrote its term and vote");
    assert_eq!(
        first.hard_state,
        Some(HardState {
            term: 1,
            vote: Some(1),
            commit: 0
        })
    );
    let _ = step_durable(&mut node, Input::Persisted(first.token));
    assert_eq!(node.role(), Role::Leader);
}

// Raft Figure 2 / §5.3: a follower acknowledges an append only once the entries are on stable
// storage, since the leader counts the acknowledgement towards commitment.
#[test]
fn follower_acknowledges_entries_only_once_they_are_durable() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.run(2);
    c.auto_persist = false;
    let mark = c.sent_log.len();
    c.propose(1, "a").unwrap();
    c.propose(1, "b").unwrap();
    c.deliver_all();
    for id in [2, 3] {
        assert_eq!(
            c.node(id).status().last_index,
            3,
            "node {id} has the entries in memory"
        );
        assert_eq!(c.node(id).status().durable_index, 1);
        assert!(c.node(id).held_messages() >= 1);
    }
    assert!(
        accepted(&c.sent_log[mark..], 2).is_empty(),
        "{:?}",
        &c.sent_log[mark..]
    );
    assert!(accepted(&c.sent_log[mark..], 3).is_empty());
    assert_eq!(c.node(1).status().commit, 1);

    // Making node 2's first write durable releases only what that write covers.
    let ack = c.persist_one(2).expect("a write is pending");
    c.step(2, ack);
    let acked = accepted(&c.sent_log[mark..], 2);
    assert!(
        acked.iter().all(|&i| i <= c.node(2).status().durable_index),
        "acknowledged {acked:?} with only {} durable",
        c.node(2).status().durable_index
    );
    c.persist_all(2);
    assert_eq!(c.node(2).status().durable_index, 3);
    assert_eq!(accepted(&c.sent_log[mark..], 2).iter().max(), Some(&3));
    assert!(accepted(&c.sent_log[mark..], 3).is_empty());
}

// Thesis §10.2.1 ("Writing to the leader's disk in parallel"): the leader sends entries to the
// followers before writing them itself, but counts itself towards a majority only once its own
// write is durable. With both followers durable, 2 of 3 replicas suffice to commit.
#[test]
fn leader_replicates_before_its_own_write_is_durable() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.run(2);
    c.auto_persist = false;
    let mark = c.sent_log.len();
    let pos = c.propose(1, "x").unwrap();
    assert_eq!(pos.index, 2);
    let appends: Vec<NodeId> = c.sent_log[mark..]
        .iter()
        .filter(|m| matches!(&m.body, Body::Append(a) if a.entries.iter().any(|e| e.index == 2)))
        .map(|m| m.to)
        .collect();
    assert_eq!(
        appends,
        vec![2, 3],
        "sent before the leader's write is durable"
    );
    assert_eq!(c.node(1).status().durable_index, 1);

    c.deliver_all();
    c.persist_all(2);
    c.persist_all(3);
    c.deliver_all();
    assert_eq!(
        c.node(1).status().durable_index,
        1,
        "the leader's storage never acked"
    );
    assert_eq!(
        c.node(1).status().commit,
        2,
        "two durable followers are a majority"
    );
    // The leader must not apply an entry it does not hold durably.
    assert!(c.applied_data(1).is_empty());
    c.persist_all(2);
    c.persist_all(3);
    c.run(1);
    c.persist_all(2);
    c.persist_all(3);
    assert_eq!(c.applied_data(2), vec!["x"]);
    assert_eq!(c.applied_data(3), vec!["x"]);
    assert!(c.applied_data(1).is_empty());
    c.persist_all(1);
    assert_eq!(c.applied_data(1), vec!["x"]);
}

// Thesis §10.2.1 and §5.3: with one durable follower and a leader whose own write is not yet
// durable, only 1 of 3 replicas is durable: no commit. Once the leader's write is durable, the
// leader counts itself and 2 of 3 commit.
#[test]
fn leader_counts_itself_only_once_durable() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.run(2);
    c.auto_persist = false;
    c.propose(1, "x").unwrap();
    c.deliver_all();
    c.persist_all(2); // node 3 never makes it durable
    c.deliver_all();
    assert_eq!(accepted(&c.sent_log, 2).iter().max(), Some(&2));
    assert!(accepted(&c.sent_log, 3).iter().all(|&i| i < 2));
    assert_eq!(c.node(1).status().durable_index, 1);
    assert_eq!(
        c.node(1).status().commit,
        1,
        "committed with one durable replica of three"
    );
    for _ in 0..3 {
        c.tick(1);
        c.deliver_all();
        assert_eq!(c.node(1).status().commit, 1);
    }

    c.persist_all(1);
    assert_eq!(c.node(1).status().durable_index, 2);
    assert_eq!(
        c.node(1).status().commit,
        2,
        "leader + node 2 are a majority"
    );
    assert_eq!(c.applied_data(1), vec!["x"]);
}

// ---------------------------------------------------------------------------------------------
// Acknowledgements are matched to their writes
// ---------------------------------------------------------------------------------------------

// Raft Figure 2 (durability) applied to restarts: an acknowledgement of a write from an earlier
// incarnation says nothing about this incarnation's writes, even with the same sequence number.
// Bogus and repeated acknowledgements are ignored too.
#[test]
fn stale_bogus_and_repeated_acks_are_ignored() {
    // Incarnation 0 writes entries and crashes before they are durable.
    let mut old = follower(2, 0, Vec::new(), 0, 0);
    let first = append(1, 2, 1, (0, 0), 0, vec![entry(1, 1, "a")]);
    let out = step_collect(&mut old, Input::Message(first.clone()));
    let old_token = out.writes[0].token;
    assert_eq!(
        old_token,
        WriteToken {
            incarnation: 0,
            seq: 1
        }
    );
    drop(old);

    // Incarnation 1 gets the same append and issues a write with the same sequence number.
    let mut node = follower(2, 0, Vec::new(), 0, 1);
    let out = step_collect(&mut node, Input::Message(first));
    assert_eq!(out.writes.len(), 1);
    let token = out.writes[0].token;
    assert_eq!(
        token,
        WriteToken {
            incarnation: 1,
            seq: 1
        }
    );
    assert!(out.sent.is_empty());
    assert_eq!(node.held_messages(), 1);

    let stale = step_collect(&mut node, Input::Persisted(old_token));
    assert!(stale.sent.is_empty() && stale.writes.is_empty() && stale.applied.is_empty());
    assert_eq!(node.counters().stale_ack, 1);
    assert_eq!(
        node.status().durable_index,
        0,
        "an old incarnation's ack made entries durable"
    );
    assert_eq!(node.durable_hard_state().term, 0);
    assert_eq!(node.held_messages(), 1);

    let bogus = step_collect(
        &mut node,
        Input::Persisted(WriteToken {
            incarnation: 1,
            seq: 2,
        }),
    );
    assert!(bogus.sent.is_empty());
    assert_eq!(node.counters().bogus_ack, 1);
    assert_eq!(
        node.status().durable_index,
        0,
        "an ack for a write never issued counted"
    );
    let bogus = step_collect(
        &mut node,
        Input::Persisted(WriteToken {
            incarnation: 1,
            seq: 1000,
        }),
    );
    assert!(bogus.sent.is_empty());
    assert_eq!(node.counters().bogus_ack, 2);
    assert_eq!(node.counters().stale_ack, 1);

    let real = step_collect(&mut node, Input::Persisted(token));
    assert_eq!(node.status().durable_index, 1);
    assert_eq!(node.durable_hard_state().term, 1);
    assert_eq!(accepted(&real.sent, 2), vec![1]);
    assert_eq!(node.counters().stale_ack, 1);
    assert_eq!(node.counters().bogus_ack, 2);

    let repeated = step_collect(&mut node, Input::Persisted(token));
    assert!(repeated.sent.is_empty() && repeated.writes.is_empty());
    assert_eq!(node.counters().stale_ack, 2, "a repeated ack is stale");
    assert_eq!(node.counters().bogus_ack, 2);

    // An old incarnation's ack for a sequence number this incarnation has not reached is stale
    // too, and does not count as this incarnation's write.
    let out = step_collect(
        &mut node,
        Input::Message(append(1, 2, 1, (1, 1), 0, vec![entry(2, 1, "b")])),
    );
    assert_eq!(
        out.writes[0].token,
        WriteToken {
            incarnation: 1,
            seq: 2
        }
    );
    let stale = step_collect(
        &mut node,
        Input::Persisted(WriteToken {
            incarnation: 0,
            seq: 2,
        }),
    );
    assert!(stale.sent.is_empty());
    assert_eq!(node.counters().stale_ack, 3);
    assert_eq!(node.status().durable_index, 1);
}

// Raft §5.3 (a follower deletes conflicting entries) with Figure 2 (durability): a write that put
// entries on disk which were later overwritten in memory by a new leader's entries says nothing
// about the new entries. Acknowledging only the old write must not make the new entries count as
// durable, nor release the acknowledgement to the new leader.
#[test]
fn ack_of_overwritten_entries_does_not_cover_their_replacements() {
    // Node 2 holds 1@1 (committed).
    let mut node = follower(2, 1, vec![entry(1, 1, "a")], 1, 0);
    // Leader 1 of term 1 sends 2@1..4@1; node 2 writes them (not yet durable).
    let out = step_collect(
        &mut node,
        Input::Message(append(
            1,
            2,
            1,
            (1, 1),
            1,
            vec![
                entry(2, 1, "old2"),
                entry(3, 1, "old3"),
                entry(4, 1, "old4"),
            ],
        )),
    );
    let old_write = out.writes[0].clone();
    assert_eq!(old_write.entries.len(), 3);
    assert!(out.sent.is_empty());
    assert_eq!(node.status().last_index, 4);

    // Leader 3 of term 2 overwrites them with 2@2, 3@2.
    let out = step_collect(
        &mut node,
        Input::Message(append(
            3,
            2,
            2,
            (1, 1),
            1,
            vec![entry(2, 2, "new2"), entry(3, 2, "new3")],
        )),
    );
    assert_eq!(node.term(), 2);
    assert_eq!(node.leader(), Some(3));
    assert_eq!(node.status().last_index, 3);
    assert_eq!(node.log_term(2), Some(2));
    let new_write = out.writes[0].clone();
    assert_eq!(new_write.entries.first().map(|e| e.index), Some(2));
    assert!(out.sent.is_empty());

    // Only the old write becomes durable.
    let out = step_collect(&mut node, Input::Persisted(old_write.token));
    let durable = node.status().durable_index;
    assert_eq!(
        durable, 1,
        "the old write made overwritten or new entries count as durable"
    );
    assert!(
        accepted_to(&out.sent, 2, 3).is_empty(),
        "acknowledged the new leader's entries before they are durable: {:?}",
        out.sent
    );
    assert_eq!(
        node.held_messages(),
        1,
        "the answer to leader 3 is still held"
    );

    // The new write covers them.
    let out = step_collect(&mut node, Input::Persisted(new_write.token));
    assert_eq!(node.status().durable_index, 3);
    assert_eq!(accepted_to(&out.sent, 2, 3), vec![3]);
    assert_eq!(node.held_messages(), 0);
}

// ---------------------------------------------------------------------------------------------
// Restarts
// ---------------------------------------------------------------------------------------------

// Raft Figure 2 / §5.3: a follower that acknowledged an entry (so the leader may count it towards
// commitment) still holds it after any crash: the acknowledgement followed durability.
#[test]
fn a_restarted_node_keeps_every_entry_it_acknowledged() {
    let mut c = Cluster::new(3);
    c.elect(1);
    for i in 0..4 {
        c.propose(1, &format!("a{i}")).unwrap();
    }
    c.deliver_all();
    c.run(2);

    // More entries reach node 2 but are not durable when it crashes.
    c.auto_persist = false;
    for i in 0..3 {
        c.propose(1, &format!("b{i}")).unwrap();
    }
    c.deliver_all();
    // Node 2 makes only its first pending write durable.
    if let Some(ack) = c.persist_one(2) {
        c.step(2, ack);
    }
    assert!(
        c.node(2).status().last_index > c.node(2).status().durable_index,
        "some entries of node 2 must still be in flight to its disk"
    );
    let acknowledged = accepted(&c.sent_log, 2)
        .into_iter()
        .max()
        .expect("node 2 acknowledged");
    let leader_log: Vec<Entry> = c.node(1).log_entries_from(1).cloned().collect();
    c.crash(2);
    c.restart(2);
    let restarted: Vec<Entry> = c.node(2).log_entries_from(1).cloned().collect();
    assert!(
        restarted.len() as Index >= acknowledged,
        "node 2 acknowledged index {acknowledged} but restarted with {} entries",
        restarted.len()
    );
    assert_eq!(
        restarted[..acknowledged as usize],
        leader_log[..acknowledged as usize],
        "acknowledged entries differ after restart"
    );

    // Once node 2 has caught up and acknowledged everything, a crash loses nothing.
    c.auto_persist = true;
    for id in [1, 3] {
        c.persist_all(id);
    }
    c.run(20);
    let acknowledged = accepted(&c.sent_log, 2)
        .into_iter()
        .max()
        .expect("acknowledged");
    assert_eq!(acknowledged, 8);
    c.crash(2);
    c.restart(2);
    assert_eq!(c.node(2).status().last_index, 8);
    let restarted: Vec<Entry> = c.node(2).log_entries_from(1).cloned().collect();
    let leader_log: Vec<Entry> = c.node(1).log_entries_from(1).cloned().collect();
    assert_eq!(restarted, leader_log);
}

// Raft §5.3 (State Machine Safety) across restarts: after a crash the state machine is rebuilt by
// re-applying the log, and it sees exactly the entries it saw before, in the same order.
#[test]
fn entries_applied_before_a_crash_are_reapplied_identically() {
    let mut c = Cluster::new(3);
    c.elect(1);
    for i in 0..5 {
        c.propose(1, &format!("cmd{i}")).unwrap();
    }
    c.deliver_all();
    c.run(3);
    for id in [1, 2] {
        let before = c.peers[id as usize - 1].applied.clone();
        let payloads = c.applied_data(id);
        assert_eq!(payloads.len(), 5, "node {id} applied {payloads:?}");
        c.crash(id);
        c.restart(id);
        // The new incarnation hands the entries out again (after a new election if it led).
        c.run(50);
        assert_eq!(c.leaders().len(), 1);
        let after = &c.peers[id as usize - 1].applied;
        assert!(
            after.len() >= before.len(),
            "node {id}: re-applied {} of {} entries",
            after.len(),
            before.len()
        );
        assert_eq!(
            after[..before.len()],
            before[..],
            "node {id} re-applied differently"
        );
        assert_eq!(c.applied_data(id)[..5], payloads[..]);
    }
}

// ---------------------------------------------------------------------------------------------
// Applying
// ---------------------------------------------------------------------------------------------

// Raft §5.3 ("Once a follower learns that a log entry is committed, it applies the entry") with
// the durability contract: an entry is handed out for applying only once it is both committed
// and durable in the local log, so the state machine never runs ahead of what survives a crash.
#[test]
fn entries_are_applied_only_once_committed_and_durable() {
    let mut node = follower(2, 0, Vec::new(), 0, 0);
    // Durable but not committed.
    let out = step_durable(
        &mut node,
        Input::Message(append(
            1,
            2,
            1,
            (0, 0),
            0,
            vec![entry(1, 1, "a"), entry(2, 1, "b")],
        )),
    );
    assert_eq!(node.status().durable_index, 2);
    assert_eq!(node.status().commit, 0);
    assert!(
        out.applied.is_empty(),
        "applied uncommitted entries: {:?}",
        out.applied
    );

    // Committed up to 3, but 3 is not durable yet: only 1 and 2 may be applied.
    let out = step_collect(
        &mut node,
        Input::Message(append(1, 2, 1, (2, 1), 3, vec![entry(3, 1, "c")])),
    );
    assert_eq!(node.status().commit, 3);
    assert_eq!(node.status().durable_index, 2);
    let indexes: Vec<Index> = out.applied.iter().map(|e| e.index).collect();
    assert_eq!(indexes, vec![1, 2], "applied beyond the durable log");
    let _ = step_collect(&mut node, Input::Applied(2));
    for _ in 0..3 {
        let out = step_collect(&mut node, Input::Tick);
        assert!(
            out.applied.is_empty(),
            "applied a non-durable entry: {:?}",
            out.applied
        );
    }
    let token = out.writes[0].token;
    let out = step_collect(&mut node, Input::Persisted(token));
    let indexes: Vec<Index> = out.applied.iter().map(|e| e.index).collect();
    assert_eq!(indexes, vec![3]);
    assert_eq!(out.applied[0].data, Bytes::from_static(b"c"));

    // Nothing is handed out twice.
    let _ = step_collect(&mut node, Input::Applied(3));
    let out = step_durable(&mut node, Input::Tick);
    assert!(out.applied.is_empty());
    assert_eq!(node.status().applied, 3);
}

// ---------------------------------------------------------------------------------------------
// The commit index
// ---------------------------------------------------------------------------------------------

// Raft Figure 2 lists only the term, the vote and the log as persistent state: a change of the
// commit index alone issues no write (and so holds no message); it rides on the next write.
#[test]
fn a_commit_change_alone_is_not_written_but_rides_on_the_next_write() {
    let mut node = follower(2, 1, vec![entry(1, 1, "a"), entry(2, 1, "b")], 0, 0);
    let heartbeat = Message {
        from: 1,
        to: 2,
        term: 1,
        body: Body::Heartbeat(sansraft::message::Heartbeat {
            commit: 2,
            round: 1,
        }),
    };
    let out = step_collect(&mut node, Input::Message(heartbeat));
    assert_eq!(node.status().commit, 2);
    assert!(out.writes.is_empty(), "commit-only write: {:?}", out.writes);
    assert_eq!(out.sent.len(), 1, "the heartbeat answer waits for nothing");
    assert_eq!(out.applied.len(), 2, "committed and durable entries apply");
    let out = step_collect(
        &mut node,
        Input::Message(append(1, 2, 1, (2, 1), 2, vec![entry(3, 1, "c")])),
    );
    let [write] = &out.writes[..] else {
        panic!("one write expected: {:?}", out.writes);
    };
    assert_eq!(
        write.hard_state.map(|hs| hs.commit),
        Some(2),
        "the next write carries the commit index"
    );
}

// Since the persisted commit index may lag, a restart takes the application's applied index
// as committed (it applies only committed entries): nothing is handed out twice.
#[test]
fn a_restart_with_applied_beyond_the_persisted_commit_resumes_after_applied() {
    let state = |applied| DurableState {
        hard_state: HardState {
            term: 1,
            vote: None,
            commit: 1,
        },
        snapshot: SnapshotMeta {
            index: 0,
            term: 0,
            membership: Membership::with_voters([1, 2, 3]),
        },
        entries: vec![entry(1, 1, "a"), entry(2, 1, "b"), entry(3, 1, "c")],
        applied,
    };
    let mut node = Node::new(no_pre_vote(2), state(2), 1).expect("applied within the log");
    assert_eq!((node.status().commit, node.status().applied), (2, 2));
    let out = step_durable(
        &mut node,
        Input::Message(append(1, 2, 1, (3, 1), 3, Vec::new())),
    );
    let indexes: Vec<Index> = out.applied.iter().map(|e| e.index).collect();
    assert_eq!(
        indexes,
        vec![3],
        "entries 1 and 2 were applied before the crash"
    );
    assert_eq!(
        Node::new(no_pre_vote(2), state(4), 1).err(),
        Some(sansraft::StartError::AppliedOutOfRange { applied: 4 }),
        "an applied index beyond the log is refused"
    );
}
