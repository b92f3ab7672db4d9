//! Membership changes (thesis chapter 4), one test per rule: learners, joint consensus, the
//! safety rules of changes, and restarts with configuration entries in the log.

use bytes::Bytes;
use sansraft::message::{Append, VoteRequest};
use sansraft::{
    Body, Codec, ConfChange, ConfChangeError, Config, DurableState, Entry, EntryKind, HardState,
    Input, Membership, Message, Node, Role, SnapshotMeta, StartError,
};
use sansraft_testkit::Cluster;

fn cluster(n: u64, spares: u64) -> Cluster {
    Cluster::with_spares(n, spares, |id| Config::new(id, id * 7919))
}

fn config_entry(index: u64, term: u64, m: &Membership) -> Entry {
    Entry {
        term,
        index,
        kind: EntryKind::Membership,
        data: Bytes::from(m.encode()),
    }
}

/// Thesis §4.2.1: a learner receives the log but never counts toward commit and never campaigns.
#[test]
fn learners_replicate_but_never_count_or_campaign() {
    let mut c = cluster(1, 1);
    c.elect(1);
    c.change(1, ConfChange::add_learner(2)).expect("accepted");
    c.deliver_all();
    c.propose(1, "x").unwrap();
    c.deliver_all();
    assert_eq!(
        c.applied_data(2).last().map(String::as_str),
        Some("x"),
        "the learner gets the log"
    );
    // With the only voter unable to persist, a learner's acknowledgement commits nothing.
    c.auto_persist = false;
    let before = c.node(1).status().commit;
    c.propose(1, "y").unwrap();
    c.deliver_all();
    assert_eq!(
        c.node(1).status().commit,
        before,
        "a learner's ack is not a quorum"
    );
    c.auto_persist = true;
    c.persist_all(1);
    c.deliver_all();
    assert!(c.node(1).status().commit > before);
    // Cut off from its leader, the learner never starts an election.
    c.isolate(2);
    for _ in 0..100 {
        c.tick(2);
    }
    assert_eq!(c.node(2).role(), Role::Follower);
    assert_eq!(c.node(2).term(), 1);
}

/// Ongaro (2015): a new leader must commit an entry of its own term before changing membership.
#[test]
fn a_new_leader_changes_membership_only_after_committing_its_term() {
    let mut c = cluster(3, 1);
    c.auto_persist = false;
    for _ in 0..100 {
        c.tick(1);
        if c.node(1).role() != Role::Follower {
            break;
        }
    }
    // Win the election, but keep the new term's empty entry from committing on the leader.
    for _ in 0..50 {
        c.deliver_all();
        for id in 2..=3 {
            c.persist_all(id);
        }
        let durable_vote = c.node(1).durable_hard_state().vote;
        if c.node(1).role() == Role::Leader {
            break;
        }
        if durable_vote.is_none() {
            if let Some(ack) = c.persist_one(1) {
                c.step(1, ack);
            }
        }
    }
    assert_eq!(c.node(1).role(), Role::Leader);
    assert_eq!(
        c.change(1, ConfChange::add_learner(4)),
        Err(ConfChangeError::TermNotCommitted)
    );
    c.auto_persist = true;
    c.persist_all(1);
    c.deliver_all();
    assert!(c.change(1, ConfChange::add_learner(4)).is_ok());
}

/// Thesis §4.1: a configuration is in force when appended; truncating its entry rolls back.
#[test]
fn a_truncated_configuration_entry_rolls_back() {
    let old = Membership::with_voters([1, 2, 3]);
    let state = DurableState::bootstrap(old.clone());
    let mut node = Node::new(Config::new(2, 1), state, 0).unwrap();
    let new = Membership {
        learners: vec![4],
        ..old.clone()
    };
    let append = |term, entries: Vec<Entry>| Message {
        from: 1,
        to: 2,
        term,
        body: Body::Append(Append {
            prev_index: 0,
            prev_term: 0,
            commit: 0,
            entries: entries.into(),
        }),
    };
    let _ = node.step(Input::Message(append(1, vec![config_entry(1, 1, &new)])));
    assert_eq!(node.membership(), &new, "in force before it commits");
    // A leader of term 2 overwrites index 1.
    let empty = Entry {
        term: 2,
        index: 1,
        kind: EntryKind::Empty,
        data: Bytes::new(),
    };
    let m = append(2, vec![empty]);
    let _ = node.step(Input::Message(Message { from: 3, ..m }));
    assert_eq!(node.membership(), &old, "rolled back with its entry");
}

/// Thesis §4.3: configuration entries in the persisted log are in force after a restart, and a
/// corrupt one is refused at start.
#[test]
fn restarts_restore_the_configuration_from_the_log() {
    let old = Membership::with_voters([1, 2, 3]);
    let joint = Membership {
        voters: vec![1, 2],
        outgoing: vec![1, 2, 3],
        learners: vec![],
        ..Membership::default()
    };
    let state = DurableState {
        hard_state: HardState {
            term: 1,
            vote: None,
            commit: 0,
        },
        snapshot: SnapshotMeta {
            index: 0,
            term: 0,
            membership: old.clone(),
        },
        entries: vec![config_entry(1, 1, &joint)],
        applied: 0,
    };
    let node = Node::new(Config::new(1, 1), state.clone(), 1).unwrap();
    assert_eq!(node.membership(), &joint);
    assert_eq!(node.membership_index(), 1);
    assert_eq!(node.membership_at(0), Some(&old));
    assert_eq!(
        node.snapshot_meta_at(1),
        Some(SnapshotMeta {
            index: 1,
            term: 1,
            membership: joint.clone(),
        }),
        "a snapshot at 1 carries the configuration in force there"
    );
    assert_eq!(node.snapshot_meta_at(2), None, "beyond the log");
    let mut corrupt = state;
    corrupt.entries[0].data = Bytes::from_static(b"\xff\xff");
    assert_eq!(
        Node::new(Config::new(1, 1), corrupt, 1).err(),
        Some(StartError::MalformedMembership)
    );
}

/// Bad input: an append carrying an undecodable configuration is refused and counted.
#[test]
fn an_append_with_a_corrupt_configuration_is_refused() {
    let state = DurableState::bootstrap(Membership::with_voters([1, 2, 3]));
    let mut node = Node::new(Config::new(2, 1), state, 0).unwrap();
    let mut bad = config_entry(1, 1, &Membership::default());
    bad.data = Bytes::from_static(b"junk");
    let m = Message {
        from: 1,
        to: 2,
        term: 1,
        body: Body::Append(Append {
            prev_index: 0,
            prev_term: 0,
            commit: 0,
            entries: vec![bad].into(),
        }),
    };
    let actions = node.step(Input::Message(m));
    assert_eq!(node.counters().malformed, 1);
    assert_eq!(node.status().last_index, 0);
    assert!(actions
        .iter()
        .all(|a| !matches!(a, sansraft::Action::Persist(w) if !w.entries.is_empty())));
}

/// c5db's rule: in C_old,new a voter refuses the poll of a leaving server whose log equals its
/// own, and still grants one from a server that stays.
#[test]
fn polls_from_leaving_servers_are_refused_when_logs_are_equal() {
    let joint = Membership {
        voters: vec![1, 2],
        outgoing: vec![1, 2, 3],
        learners: vec![],
        ..Membership::default()
    };
    let state = DurableState {
        hard_state: HardState {
            term: 1,
            vote: None,
            commit: 0,
        },
        snapshot: SnapshotMeta {
            index: 0,
            term: 0,
            membership: Membership::with_voters([1, 2, 3]),
        },
        entries: vec![config_entry(1, 1, &joint)],
        applied: 0,
    };
    let mut node = Node::new(Config::new(2, 1), state, 0).unwrap();
    let poll = |from| Message {
        from,
        to: 2,
        term: 2,
        body: Body::Vote(VoteRequest {
            pre_vote: true,
            last_index: 1,
            last_term: 1,
            transfer: false,
            config_index: 0,
            config_term: 0,
        }),
    };
    let granted = |actions: Vec<sansraft::Action>| {
        actions.iter().any(|a| {
            matches!(a, sansraft::Action::Send(Message { body: Body::VoteResponse(r), .. }) if r.granted)
        })
    };
    assert!(
        !granted(node.step(Input::Message(poll(3)))),
        "leaving server"
    );
    assert!(
        granted(node.step(Input::Message(poll(1)))),
        "staying server"
    );
}

/// Thesis §4.1: a node answers a vote request from a server outside its configuration if the
/// candidate's log is at least as up to date (a node that missed a new configuration may be
/// needed to elect one of its members); a stale outsider is ignored and counted.
#[test]
fn up_to_date_outsiders_may_ask_for_votes() {
    let state = DurableState::bootstrap(Membership::with_voters([1, 2, 3]));
    let mut node = Node::new(Config::new(2, 1), state, 0).unwrap();
    let vote = |last_index, last_term| Message {
        from: 6,
        to: 2,
        term: 2,
        body: Body::Vote(VoteRequest {
            pre_vote: false,
            last_index,
            last_term,
            transfer: false,
            config_index: 0,
            config_term: 0,
        }),
    };
    let _ = node.step(Input::Message(vote(0, 0)));
    assert_eq!(node.vote(), Some(6), "an up-to-date outsider gets the vote");
    let state = DurableState {
        hard_state: HardState {
            term: 1,
            vote: None,
            commit: 0,
        },
        entries: vec![Entry {
            term: 1,
            index: 1,
            kind: EntryKind::Empty,
            data: Bytes::new(),
        }],
        ..DurableState::bootstrap(Membership::with_voters([1, 2, 3]))
    };
    let mut node = Node::new(Config::new(2, 1), state, 0).unwrap();
    let _ = node.step(Input::Message(vote(0, 0)));
    assert_eq!(
        node.counters().unknown_peer,
        1,
        "a stale outsider is ignored"
    );
    assert_eq!(node.term(), 1, "and cannot change the term");
}
