//! Leader priorities from bad sources (docs/design.md §9, "Leader priorities"): configurations
//! with malformed priorities from a peer or from storage, and priority changes the leader must
//! refuse. Nothing of it changes the node; each is counted or refused with its own error.

use bytes::Bytes;
use sansraft::{
    Codec, ConfChange, ConfChangeError, Config, DurableState, Entry, EntryKind, Input, Membership,
    Node, Priority, StartError,
};

use crate::helpers::*;

/// Voters 1..=3 with `priorities` listed as given (sorted or not, valid or not).
fn with_priorities(priorities: &[(u64, u32)]) -> Membership {
    let mut m = Membership::with_voters(1..=3);
    m.priorities = (priorities.iter())
        .map(|&(id, priority)| Priority { id, priority })
        .collect();
    m
}

/// Configurations whose priorities break the shape rules: a listed priority of 0, an unsorted
/// or repeated list, a priority of a node that is not a member.
fn malformed() -> Vec<(&'static str, Membership)> {
    vec![
        ("a listed priority of 0", with_priorities(&[(2, 0)])),
        ("unsorted", with_priorities(&[(3, 1), (2, 1)])),
        ("repeated", with_priorities(&[(2, 1), (2, 2)])),
        ("a non-member's", with_priorities(&[(9, 1)])),
    ]
}

/// A membership entry with malformed priorities, in a leader's append, is `malformed`: the
/// follower neither appends it nor puts it in force (thesis §4.1 takes a configuration into force
/// when appended, so it must be checked first).
#[test]
fn membership_entries_with_malformed_priorities_are_ignored() {
    let mut c = running_cluster();
    for (what, membership) in malformed() {
        assert!(!membership.is_well_formed(), "{what}");
        let entry = Entry {
            term: TERM,
            index: LAST + 1,
            kind: EntryKind::Membership,
            data: Bytes::from(membership.encode()),
        };
        let m = msg(
            LEADER,
            FOLLOWER,
            TERM,
            append(LAST, TERM, LAST, vec![entry]),
        );
        let actions = assert_ignored(node_mut(&mut c, FOLLOWER), Input::Message(m), |k| {
            k.malformed += 1
        });
        assert!(actions.is_empty(), "{what}: {actions:?}");
    }
}

/// Durable state whose configuration has malformed priorities is refused at start with
/// `StartError::MalformedMembership`, never run.
#[test]
fn durable_state_with_malformed_priorities_is_refused_at_start() {
    for (what, membership) in malformed() {
        let state = DurableState::bootstrap(membership);
        let started = Node::new(Config::new(1, 1), state, 0);
        assert!(
            matches!(started, Err(StartError::MalformedMembership)),
            "{what}: {started:?}"
        );
    }
}

/// `ConfChange::set_priority` is validated like any change (thesis §4.1, §4.3): only at the
/// leader, for a member, not for the reserved id 0, one change at a time; a refusal appends
/// nothing.
#[test]
fn priority_changes_the_leader_must_refuse_are_refused() {
    let mut c = running_cluster();
    let refused = [
        (
            FOLLOWER,
            ConfChange::set_priority(3, 1),
            ConfChangeError::NotLeader {
                leader: Some(LEADER),
            },
        ),
        (
            LEADER,
            ConfChange::set_priority(9, 1),
            ConfChangeError::NotAMember(9),
        ),
        (
            LEADER,
            ConfChange::set_priority(0, 1),
            ConfChangeError::InvalidNodeId,
        ),
    ];
    for (at, change, error) in refused {
        let last = c.node(at).status().last_index;
        assert_eq!(c.change(at, change.clone()), Err(error), "{change:?}");
        assert_eq!(c.node(at).status().last_index, last, "{change:?} appended");
    }
    // One change at a time: the second waits for the first to commit.
    c.change(LEADER, ConfChange::set_priority(3, 1)).unwrap();
    assert_eq!(
        c.change(LEADER, ConfChange::set_priority(2, 1)),
        Err(ConfChangeError::ChangePending)
    );
}
