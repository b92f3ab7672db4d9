//! Applying only what is committed and durable, and the commit index on disk.

use bytes::Bytes;
use sansraft::{
    Body, DurableState, HardState, Index, Input, Membership, Message, Node, SnapshotMeta,
};
use sansraft_testkit::{step_collect, step_durable};

use crate::helpers::*;

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
            proof: None,
            quiesce: false,
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

// A step hands out at most `max_apply_bytes` to apply; each `Applied` report makes room for the
// next batch at once, without waiting for another input (a restarted node applying a long
// committed log must not apply one batch per tick).
#[test]
fn each_applied_report_hands_out_the_next_batch() {
    let entries = vec![entry(1, 1, "a"), entry(2, 1, "b"), entry(3, 1, "c")];
    let mut config = no_pre_vote(2);
    config.max_apply_bytes = 1;
    let mut node = follower_with(config, 1, entries, 3, 1);
    let indexes = |out: &sansraft_testkit::Collected| -> Vec<Index> {
        out.applied.iter().map(|e| e.index).collect()
    };
    assert_eq!(indexes(&step_collect(&mut node, Input::Tick)), vec![1]);
    assert_eq!(
        indexes(&step_collect(&mut node, Input::Applied(1))),
        vec![2]
    );
    assert_eq!(
        indexes(&step_collect(&mut node, Input::Applied(2))),
        vec![3]
    );
    assert!(step_collect(&mut node, Input::Applied(3))
        .applied
        .is_empty());
}
