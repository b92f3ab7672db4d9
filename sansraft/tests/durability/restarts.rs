//! Restarts lose nothing that was acknowledged or applied.

use sansraft::{Entry, Index};
use sansraft_testkit::Cluster;

use crate::helpers::*;

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
