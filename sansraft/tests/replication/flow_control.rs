//! Flow control: the in-flight window in messages and bytes, and the size cap of an append.

use sansraft::{Body, Entry, Input, Role};
use sansraft_testkit::cluster::{data, Cluster};

use crate::helpers::*;

// ---------------------------------------------------------------------------------------------
// Flow control (thesis §10.2.1, docs/design.md §4).
// ---------------------------------------------------------------------------------------------

/// Flow control: with a window of two messages and a follower whose answers never arrive, the
/// leader keeps at most two appends in flight to it while replicating; the other follower gets
/// everything. After heartbeats the silent follower is probed one append at a time.
#[test]
fn inflight_window_bounds_unacknowledged_appends() {
    let mut c = Cluster::with_config(3, |id| {
        let mut c = config(id);
        c.max_inflight_msgs = 2;
        c
    });
    c.elect(1);
    c.deliver_all();
    c.cut.insert((3, 1)); // node 3 hears the leader, the leader never hears node 3
    let mark = c.sent_log.len();
    for i in 0..20 {
        c.propose(1, &format!("p{i}")).unwrap();
        c.deliver_all();
    }
    let to3 = appends_to(&c, mark, 3);
    assert_eq!(to3.len(), 2, "a window of two appends");
    assert_eq!(
        appends_to(&c, mark, 2).len(),
        20,
        "one append per proposal to node 2"
    );
    assert_eq!(
        c.node(1).status().commit,
        21,
        "node 2 and the leader form a majority"
    );
    assert_eq!(
        c.node(3).status().last_index,
        3,
        "node 3 got the two appends in the window"
    );

    // Heartbeats notice the stuck window and fall back to probing: one append at a time, and
    // none of its answers arrive, so no more than one per probe.
    let mark = c.sent_log.len();
    for _ in 0..20 {
        c.tick(1);
        c.deliver_all();
    }
    assert_eq!(c.node(1).role(), Role::Leader);
    assert_eq!(
        appends_to(&c, mark, 3).len(),
        1,
        "a single unanswered probe"
    );

    c.heal();
    c.run(4);
    assert_eq!(entries(c.node(3)), entries(c.node(1)));
    assert_eq!(c.applied_data(3), payloads(20, "p"));
}

/// Flow control in bytes: `max_inflight_bytes` closes the window once the bytes in flight reach it.
#[test]
fn inflight_bytes_bound_unacknowledged_appends() {
    let mut c = Cluster::with_config(3, |id| {
        let mut c = config(id);
        c.max_inflight_bytes = 100;
        c
    });
    c.elect(1);
    c.deliver_all();
    c.cut.insert((3, 1));
    let mark = c.sent_log.len();
    for i in 0..10 {
        // Two-byte payloads: 26 accounted bytes each; the fourth brings the window to 104.
        c.propose(1, &format!("b{i}")).unwrap();
        c.deliver_all();
    }
    assert_eq!(appends_to(&c, mark, 3).len(), 4);
    assert_eq!(appends_to(&c, mark, 2).len(), 10);
}

/// Flow control: `max_append_bytes` caps the entries in one append, except that a single entry
/// larger than the cap is still sent, alone.
#[test]
fn append_size_is_capped_but_an_oversized_entry_is_sent_alone() {
    const CAP: u64 = 100;
    let mut c = Cluster::with_config(3, |id| {
        let mut c = config(id);
        c.max_append_bytes = CAP;
        c
    });
    c.elect(1);
    c.deliver_all();

    // Ten 2-byte commands (26 accounted bytes each): at most three per append.
    let mark = c.sent_log.len();
    let small = payloads(10, "s");
    c.step(
        1,
        Input::ProposeBatch(small.iter().map(|s| data(s)).collect()),
    );
    for to in [2, 3] {
        let sizes: Vec<usize> = appends_to(&c, mark, to)
            .iter()
            .map(|a| a.entries.len())
            .collect();
        assert_eq!(sizes, [3, 3, 3, 1], "appends to {to}");
    }

    // A 500-byte command between two small ones: three appends, the big one alone.
    c.deliver_all();
    let mark = c.sent_log.len();
    let big = "x".repeat(500);
    c.step(
        1,
        Input::ProposeBatch(vec![data("before"), data(&big), data("after")]),
    );
    for to in [2, 3] {
        let appends = appends_to(&c, mark, to);
        let sizes: Vec<usize> = appends.iter().map(|a| a.entries.len()).collect();
        assert_eq!(sizes, [1, 1, 1], "appends to {to}");
        assert_eq!(appends[1].entries[0].data.len(), 500);
    }
    c.deliver_all();
    c.run(2);

    for m in &c.sent_log {
        if let Body::Append(a) = &m.body {
            let bytes: u64 = a.entries.iter().map(Entry::accounted_bytes).sum();
            assert!(
                bytes <= CAP || a.entries.len() == 1,
                "append of {bytes} bytes: {a:?}"
            );
        }
    }
    let mut expected = small.clone();
    expected.extend(["before".to_string(), big, "after".to_string()]);
    for id in 1..=3 {
        assert_eq!(c.applied_data(id), expected, "node {id}");
    }
}
