//! Each invariant fed a fabricated state that violates it.

use super::{Checker, NodeView, Rule};
use bytes::Bytes;
use sansraft::message::{AppendResponse, VoteResponse};
use sansraft::{
    Body, DurableState, Entry, EntryKind, HardState, Index, InvariantViolation, Membership,
    Message, Role, Term, Write, WriteToken,
};

fn checker(n: usize) -> Checker {
    let ids = 1..=n as u64;
    Checker::new(n, &DurableState::bootstrap(Membership::with_voters(ids)))
}

fn view(id: u64, role: Role, term: Term, commit: Index, last: (Index, Term)) -> NodeView {
    NodeView {
        id,
        role,
        term,
        commit,
        applied: 0,
        last_index: last.0,
        last_term: last.1,
        snapshot_index: 0,
        witness: false,
    }
}

fn entry(index: Index, term: Term, data: &'static str) -> Entry {
    Entry {
        term,
        index,
        kind: EntryKind::Normal,
        data: Bytes::from_static(data.as_bytes()),
    }
}

fn write(entries: Vec<Entry>, hard_state: Option<HardState>) -> Write {
    Write {
        token: WriteToken {
            incarnation: 0,
            seq: 1,
        },
        install: None,
        hard_state,
        entries: entries.into(),
    }
}

fn hs(term: Term, vote: Option<u64>, commit: Index) -> HardState {
    HardState { term, vote, commit }
}

fn vote_granted(from: u64, to: u64, term: Term) -> Message {
    Message {
        from,
        to,
        term,
        body: Body::VoteResponse(VoteResponse {
            pre_vote: false,
            granted: true,
        }),
    }
}

/// n1's acknowledgement to n2 of entry 1 in term 3.
fn accepted_in_term_3() -> Message {
    Message {
        from: 1,
        to: 2,
        term: 3,
        body: Body::AppendResponse(AppendResponse::Accepted { match_index: 1 }),
    }
}

fn kind<T: core::fmt::Debug>(r: Result<T, super::Breach>) -> Rule {
    r.expect_err("the check must fail").rule
}

#[test]
fn election_safety_two_leaders_in_one_term() {
    let mut c = checker(3);
    c.after_step(0, &view(1, Role::Leader, 2, 0, (0, 0)), Ok(()))
        .unwrap();
    let r = c.after_step(1, &view(2, Role::Leader, 2, 0, (0, 0)), Ok(()));
    assert_eq!(kind(r), Rule::ElectionSafety);
}

/// A leader checked after its previous step in the same term skips the map of leaders: a second
/// leader of that term is still caught, whichever of the two steps again.
#[test]
fn election_safety_a_second_leader_after_the_first_led_several_steps() {
    let mut c = checker(3);
    let v1 = view(1, Role::Leader, 2, 0, (0, 0));
    c.after_step(0, &v1, Ok(())).unwrap();
    c.after_step(0, &v1, Ok(())).unwrap();
    let v2 = view(2, Role::Leader, 2, 0, (0, 0));
    assert_eq!(kind(c.after_step(1, &v2, Ok(()))), Rule::ElectionSafety);
    assert_eq!(kind(c.after_step(1, &v2, Ok(()))), Rule::ElectionSafety);
    c.after_step(0, &v1, Ok(())).unwrap();
}

#[test]
fn leader_append_only_a_leader_truncates_its_log() {
    let mut c = checker(3);
    let v = view(1, Role::Leader, 1, 0, (2, 1));
    c.on_write(
        0,
        &v,
        &write(vec![entry(1, 1, "a"), entry(2, 1, "b")], None),
    )
    .unwrap();
    c.after_step(0, &v, Ok(())).unwrap();
    let r = c.on_write(0, &v, &write(vec![entry(2, 1, "c")], None));
    assert_eq!(kind(r), Rule::LeaderAppendOnly);
}

#[test]
fn log_matching_same_index_and_term_different_prefix() {
    let mut c = checker(3);
    let v1 = view(1, Role::Follower, 1, 0, (2, 1));
    let v2 = view(2, Role::Follower, 1, 0, (2, 1));
    c.on_write(
        0,
        &v1,
        &write(vec![entry(1, 1, "a"), entry(2, 1, "b")], None),
    )
    .unwrap();
    let r = c.on_write(
        1,
        &v2,
        &write(vec![entry(1, 1, "x"), entry(2, 1, "b")], None),
    );
    assert_eq!(kind(r), Rule::LogMatching);
}

/// The same, for a term that is not the first written at its index.
#[test]
fn log_matching_a_later_term_at_an_index_with_a_different_prefix() {
    let mut c = checker(3);
    let v1 = view(1, Role::Follower, 2, 0, (2, 2));
    let v2 = view(2, Role::Follower, 2, 0, (2, 2));
    c.on_write(
        0,
        &v1,
        &write(vec![entry(1, 1, "a"), entry(2, 1, "b")], None),
    )
    .unwrap();
    c.on_write(0, &v1, &write(vec![entry(2, 2, "c")], None))
        .unwrap();
    c.on_write(
        1,
        &v2,
        &write(vec![entry(1, 1, "a"), entry(2, 2, "c")], None),
    )
    .unwrap();
    // Index 2 was first written in term 1: term 2's entry there is not the first.
    let r = c.on_write(1, &v2, &write(vec![entry(2, 2, "d")], None));
    assert_eq!(kind(r), Rule::LogMatching);
}

#[test]
fn leader_completeness_a_later_leader_lacks_a_committed_entry() {
    let mut c = checker(3);
    let v1 = view(1, Role::Follower, 1, 1, (1, 1));
    c.on_write(0, &v1, &write(vec![entry(1, 1, "a")], None))
        .unwrap();
    c.after_step(0, &v1, Ok(())).unwrap();
    let r = c.after_step(1, &view(2, Role::Leader, 2, 0, (0, 0)), Ok(()));
    assert_eq!(kind(r), Rule::LeaderCompleteness);
}

/// The index a leader must hold is remembered per term between steps, and forgotten when the
/// committed prefix grows: a leader that passed before fails once a later commit is not in its log.
#[test]
fn leader_completeness_a_leader_that_passed_lacks_a_later_commit() {
    let mut c = checker(3);
    let v1 = view(1, Role::Follower, 1, 1, (1, 1));
    c.on_write(0, &v1, &write(vec![entry(1, 1, "a")], None))
        .unwrap();
    c.after_step(0, &v1, Ok(())).unwrap();
    let v2 = view(2, Role::Leader, 2, 0, (1, 1));
    c.on_write(1, &v2, &write(vec![entry(1, 1, "a")], None))
        .unwrap();
    c.after_step(1, &v2, Ok(())).unwrap();
    c.after_step(1, &v2, Ok(())).unwrap();
    let v1 = view(1, Role::Follower, 1, 2, (2, 1));
    c.on_write(0, &v1, &write(vec![entry(2, 1, "b")], None))
        .unwrap();
    assert_eq!(kind(c.after_step(0, &v1, Ok(()))), Rule::LeaderCompleteness);
    assert_eq!(kind(c.after_step(1, &v2, Ok(()))), Rule::LeaderCompleteness);
}

#[test]
fn leader_completeness_a_commit_after_the_election_reveals_it() {
    let mut c = checker(3);
    c.after_step(1, &view(2, Role::Leader, 3, 0, (0, 0)), Ok(()))
        .unwrap();
    let v1 = view(1, Role::Follower, 2, 1, (1, 2));
    c.on_write(0, &v1, &write(vec![entry(1, 2, "a")], None))
        .unwrap();
    assert_eq!(kind(c.after_step(0, &v1, Ok(()))), Rule::LeaderCompleteness);
}

#[test]
fn state_machine_safety_different_entries_committed_at_one_index() {
    let mut c = checker(3);
    let v1 = view(1, Role::Follower, 2, 1, (1, 1));
    let v2 = view(2, Role::Follower, 2, 1, (1, 2));
    c.on_write(0, &v1, &write(vec![entry(1, 1, "a")], None))
        .unwrap();
    c.on_write(1, &v2, &write(vec![entry(1, 2, "b")], None))
        .unwrap();
    c.after_step(0, &v1, Ok(())).unwrap();
    assert_eq!(kind(c.after_step(1, &v2, Ok(()))), Rule::StateMachineSafety);
}

#[test]
fn state_machine_safety_different_entries_applied_at_one_index() {
    let mut c = checker(3);
    let a = entry(1, 1, "a");
    let b = entry(1, 2, "b");
    for (i, e) in [(0, &a), (1, &b)] {
        let v = view(i as u64 + 1, Role::Follower, 2, 1, (1, e.term));
        c.on_write(i, &v, &write(vec![e.clone()], None)).unwrap();
        c.on_durable(i, v.id, &write(vec![e.clone()], None))
            .unwrap();
    }
    c.on_apply(0, &view(1, Role::Follower, 2, 1, (1, 1)), &a)
        .unwrap();
    let r = c.on_apply(1, &view(2, Role::Follower, 2, 1, (1, 2)), &b);
    assert_eq!(kind(r), Rule::StateMachineSafety);
}

#[test]
fn state_machine_safety_applying_beyond_commit_or_out_of_order() {
    let mut c = checker(1);
    let e = entry(1, 1, "a");
    let v = view(1, Role::Follower, 1, 0, (2, 1));
    c.on_write(0, &v, &write(vec![e.clone(), entry(2, 1, "b")], None))
        .unwrap();
    assert_eq!(kind(c.on_apply(0, &v, &e)), Rule::StateMachineSafety);
    let v = view(1, Role::Follower, 1, 2, (2, 1));
    assert_eq!(
        kind(c.on_apply(0, &v, &entry(2, 1, "b"))),
        Rule::StateMachineSafety
    );
}

#[test]
fn monotonicity_term_or_commit_goes_down() {
    let mut c = checker(1);
    let v = view(1, Role::Follower, 3, 1, (1, 1));
    c.on_write(0, &v, &write(vec![entry(1, 1, "a")], None))
        .unwrap();
    c.after_step(0, &v, Ok(())).unwrap();
    let lower_term = view(1, Role::Follower, 2, 1, (1, 1));
    assert_eq!(
        kind(c.after_step(0, &lower_term, Ok(()))),
        Rule::Monotonicity
    );
    let lower_commit = view(1, Role::Follower, 3, 0, (1, 1));
    assert_eq!(
        kind(c.after_step(0, &lower_commit, Ok(()))),
        Rule::Monotonicity
    );
    c.on_durable(0, 1, &write(vec![], Some(hs(3, None, 1))))
        .unwrap();
    let r = c.on_durable(0, 1, &write(vec![], Some(hs(2, None, 1))));
    assert_eq!(kind(r), Rule::Monotonicity, "durable term, across restarts");
}

#[test]
fn double_vote_two_candidates_in_one_term() {
    let mut c = checker(3);
    // Durable state is already in a later term, so both grants pass the durability check.
    c.on_durable(0, 1, &write(vec![], Some(hs(4, None, 0))))
        .unwrap();
    let v = view(1, Role::Follower, 4, 0, (0, 0));
    c.on_send(0, &v, &vote_granted(1, 2, 3)).unwrap();
    c.on_send(0, &v, &vote_granted(1, 2, 3)).unwrap();
    assert_eq!(
        kind(c.on_send(0, &v, &vote_granted(1, 3, 3))),
        Rule::DoubleVote
    );
    let mut c = checker(3);
    c.on_durable(0, 1, &write(vec![], Some(hs(3, Some(2), 0))))
        .unwrap();
    let r = c.on_durable(0, 1, &write(vec![], Some(hs(3, Some(3), 0))));
    assert_eq!(kind(r), Rule::DoubleVote, "durable vote changed");
}

#[test]
fn index_order_applied_above_commit() {
    let mut c = checker(1);
    let mut v = view(1, Role::Follower, 1, 0, (0, 0));
    v.applied = 1;
    assert_eq!(kind(c.after_step(0, &v, Ok(()))), Rule::IndexOrder);
}

#[test]
fn node_invariant_is_reported() {
    let mut c = checker(1);
    let v = view(1, Role::Follower, 0, 0, (0, 0));
    let r = c.after_step(0, &v, Err(InvariantViolation("fabricated")));
    assert_eq!(kind(r), Rule::NodeInvariant);
}

#[test]
fn durability_speaking_before_state_is_durable() {
    let mut c = checker(3);
    let v = view(1, Role::Follower, 3, 0, (1, 3));
    assert_eq!(
        kind(c.on_send(0, &v, &vote_granted(1, 2, 3))),
        Rule::Durability,
        "vote granted before it was durable"
    );
    c.on_write(0, &v, &write(vec![entry(1, 3, "a")], Some(hs(3, None, 0))))
        .unwrap();
    c.on_durable(0, 1, &write(vec![], Some(hs(3, None, 0))))
        .unwrap();
    let ack = accepted_in_term_3();
    assert_eq!(
        kind(c.on_send(0, &v, &ack)),
        Rule::Durability,
        "append acknowledged before the entry was durable"
    );
    let v = view(1, Role::Follower, 3, 1, (1, 3));
    assert_eq!(
        kind(c.on_apply(0, &v, &entry(1, 3, "a"))),
        Rule::Durability,
        "applied before durable"
    );
    let v = view(1, Role::Follower, 3, 0, (2, 3));
    assert_eq!(
        kind(c.after_step(0, &v, Ok(()))),
        Rule::Durability,
        "log changed without a write"
    );
}

/// An append acknowledgement sent in a term whose term change is not yet durable, with the
/// acknowledged entry not durable either (the first append of a new term, acknowledged before
/// its write completes), is a durability violation.
#[test]
fn ack_before_its_new_term_is_durable_is_caught() {
    let mut c = checker(3);
    // Durable: term 2, empty log. In memory (write issued, not durable): term 3, entry 1@3.
    c.on_durable(0, 1, &write(vec![], Some(hs(2, None, 0))))
        .unwrap();
    let v = view(1, Role::Follower, 3, 0, (1, 3));
    c.on_write(0, &v, &write(vec![entry(1, 3, "a")], Some(hs(3, None, 0))))
        .unwrap();
    let ack = accepted_in_term_3();
    assert_eq!(
        kind(c.on_send(0, &v, &ack)),
        Rule::Durability,
        "append acknowledged (term 3) before the term or the entry was durable"
    );
}

/// Two nodes that committed and applied entries 1..=2 of term 1.
fn two_applied() -> (Checker, NodeView) {
    let mut c = checker(2);
    let entries = vec![entry(1, 1, "a"), entry(2, 1, "b")];
    let v = view(1, Role::Follower, 1, 2, (2, 1));
    for i in 0..2 {
        let v = NodeView {
            id: i as u64 + 1,
            ..v
        };
        c.on_write(i, &v, &write(entries.clone(), None)).unwrap();
        c.on_durable(i, v.id, &write(entries.clone(), None))
            .unwrap();
        c.after_step(i, &v, Ok(())).unwrap();
        for e in &entries {
            c.on_apply(i, &v, e).unwrap();
        }
    }
    (c, v)
}

fn meta(index: Index, term: Term) -> sansraft::SnapshotMeta {
    sansraft::SnapshotMeta {
        index,
        term,
        membership: Membership::with_voters([1, 2]),
    }
}

#[test]
fn state_machine_safety_snapshots_of_one_index_differ() {
    let (mut c, _) = two_applied();
    c.on_snapshot(0, &meta(2, 1), b"state").unwrap();
    assert_eq!(
        kind(c.on_snapshot(1, &meta(2, 1), b"other")),
        Rule::StateMachineSafety
    );
    assert_eq!(
        kind(c.on_snapshot(1, &meta(2, 2), b"state")),
        Rule::StateMachineSafety,
        "a snapshot whose last entry is not the committed one"
    );
}

#[test]
fn state_machine_safety_a_stale_snapshot_is_installed() {
    let (mut c, v) = two_applied();
    c.on_snapshot(0, &meta(2, 1), b"state").unwrap();
    let v2 = NodeView { id: 2, ..v };
    assert_eq!(
        kind(c.on_install(1, &v2, &meta(2, 1), b"state")),
        Rule::StateMachineSafety,
        "installing at the applied index takes the state machine back"
    );
}

/// n1 leads term 1 and commits an entry of its term at t=10; n2 leads term 2 from t=`elected`.
fn two_leaders(elected: super::Micros) -> Checker {
    let mut c = checker(3);
    let v1 = view(1, Role::Leader, 1, 1, (1, 1));
    c.on_write(0, &v1, &write(vec![entry(1, 1, "a")], None))
        .unwrap();
    c.set_time(10);
    c.after_step(0, &v1, Ok(())).unwrap();
    c.set_time(elected);
    let entries = vec![entry(1, 1, "a"), entry(2, 2, "b")];
    c.on_write(
        1,
        &view(2, Role::Follower, 2, 1, (2, 2)),
        &write(entries, None),
    )
    .unwrap();
    c.after_step(1, &view(2, Role::Leader, 2, 1, (2, 2)), Ok(()))
        .unwrap();
    c
}

#[test]
fn stale_read_a_leader_serves_a_read_after_a_newer_leader_was_elected() {
    let mut c = two_leaders(50);
    c.on_read_issued(7, 0, 60);
    assert_eq!(kind(c.on_read_served(7, 0, 1)), Rule::StaleRead);
}

#[test]
fn stale_read_a_read_confirmed_before_the_newer_leader_is_not_stale() {
    // Issued before the election, confirmable then: served late, it is still linearizable.
    let mut c = two_leaders(50);
    c.on_read_issued(7, 0, 20);
    c.on_read_served(7, 0, 1).unwrap();
}

#[test]
fn stale_read_a_read_misses_an_entry_committed_before_it_was_issued() {
    let mut c = two_leaders(50);
    c.on_read_issued(7, 2, 60);
    assert_eq!(kind(c.on_read_served(7, 2, 0)), Rule::StaleRead);
    c.on_read_issued(8, 2, 60);
    c.on_read_served(8, 2, 1).unwrap();
}

#[test]
fn stale_read_beyond_bound_misses_an_entry_committed_before_its_bound() {
    // Index 1 committed at t=10 (n1's step); the read's bound starts at t=11.
    let mut c = two_leaders(50);
    assert_eq!(c.committed_before(10), 0, "strictly before");
    assert_eq!(c.committed_before(11), 1);
    assert_eq!(
        kind(c.on_stale_read_served(7, 2, 0, 11)),
        Rule::StaleReadBeyondBound
    );
    c.on_stale_read_served(8, 2, 0, 10).unwrap();
    c.on_stale_read_served(9, 2, 1, 60).unwrap();
}
