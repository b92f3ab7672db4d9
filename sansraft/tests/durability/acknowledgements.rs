//! Storage acknowledgements are matched to the writes they vouch for.

use sansraft::{Input, WriteToken};
use sansraft_testkit::step_collect;

use crate::helpers::*;

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
