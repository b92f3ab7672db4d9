//! The checker across restarts, through its public API: fabricated histories that only a
//! checker which remembers durable state across crashes can reject.

use bytes::Bytes;
use sansraft::message::VoteResponse;
use sansraft::{
    Body, DurableState, Entry, EntryKind, HardState, Membership, Message, Role, Write, WriteToken,
};
use sansraft_testkit::checker::{Checker, NodeView, Rule};

fn initial() -> DurableState {
    DurableState::bootstrap(Membership::with_voters([1, 2, 3]))
}

/// A follower with nothing committed whose log ends at `(last_index, last_term)`.
fn follower(id: u64, term: u64, last_index: u64, last_term: u64) -> NodeView {
    let (role, commit, applied, snapshot_index) = (Role::Follower, 0, 0, 0);
    NodeView {
        id,
        role,
        term,
        commit,
        applied,
        snapshot_index,
        last_index,
        last_term,
        witness: false,
    }
}

fn hard_state_write(term: u64, vote: Option<u64>) -> Write {
    Write {
        token: WriteToken {
            incarnation: 0,
            seq: 1,
        },
        install: None,
        hard_state: Some(HardState {
            term,
            vote,
            commit: 0,
        }),
        entries: sansraft::Entries::new(),
    }
}

#[test]
fn a_vote_lost_in_a_crash_and_cast_again_is_a_double_vote() {
    let mut c = Checker::new(3, &initial());
    let mut durable = initial();
    durable.hard_state = HardState {
        term: 5,
        vote: Some(2),
        commit: 0,
    };
    c.on_durable(0, 1, &hard_state_write(5, Some(2))).unwrap();
    let grant = |to| Message {
        from: 1,
        to,
        term: 5,
        body: Body::VoteResponse(VoteResponse {
            pre_vote: false,
            granted: true,
        }),
    };
    let v = follower(1, 5, 0, 0);
    c.on_send(0, &v, &grant(2)).unwrap();
    c.on_crash(0);
    c.on_restart(0, &v, &durable).unwrap();
    // After the restart the node forgets and votes for n3 in the same term; storage says n2.
    let err = c.on_send(0, &v, &grant(3)).unwrap_err();
    assert_eq!(err.rule, Rule::Durability);
    // Even if storage had (wrongly) been overwritten with the new vote, the vote ledger objects.
    let err = c
        .on_durable(0, 1, &hard_state_write(5, Some(3)))
        .unwrap_err();
    assert_eq!(err.rule, Rule::DoubleVote);
}

#[test]
fn restarting_from_state_that_was_never_durable_is_caught() {
    let mut c = Checker::new(3, &initial());
    let mut forged = initial();
    forged.entries.push(Entry {
        term: 1,
        index: 1,
        kind: EntryKind::Normal,
        data: Bytes::from_static(b"never written"),
    });
    forged.hard_state.term = 1;
    c.on_crash(2);
    let err = c.on_restart(2, &follower(3, 1, 1, 1), &forged).unwrap_err();
    assert_eq!(err.rule, Rule::Durability);
}

#[test]
fn a_term_that_goes_back_across_a_restart_is_caught() {
    let mut c = Checker::new(3, &initial());
    c.on_durable(1, 2, &hard_state_write(4, None)).unwrap();
    c.on_crash(1);
    let mut durable = initial();
    durable.hard_state.term = 4;
    let err = c
        .on_restart(1, &follower(2, 3, 0, 0), &durable)
        .unwrap_err();
    assert_eq!(err.rule, Rule::Monotonicity);
}
