//! Lost messages in pipelined (replicate) state.

use sansraft::{Body, Index, Input, Message, NodeId};
use sansraft_testkit::cluster::Cluster;

use crate::helpers::*;

fn carries_index_in(m: &Message, to: NodeId, range: std::ops::RangeInclusive<Index>) -> bool {
    m.to == to
        && matches!(&m.body, Body::Append(a) if a.entries.iter().any(|e| range.contains(&e.index)))
}

/// Pipelined appends lost at the tail: no later append exposes the gap, so only the heartbeat
/// timer can; replication completes after heartbeats.
#[test]
fn lost_appends_at_the_tail_are_recovered_by_heartbeats() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.deliver_all();
    for i in 0..10 {
        c.propose(1, &format!("p{i}")).unwrap();
        // Entries 2..=11; the appends carrying 8..=11 to node 3 are lost.
        deliver_where(&mut c, &mut |_, m| !carries_index_in(m, 3, 8..=11));
    }
    assert_eq!(c.node(3).status().last_index, 7, "node 3 missed the tail");
    assert_eq!(c.node(1).status().commit, 11);
    for _ in 0..10 {
        c.run(1);
    }
    assert_eq!(entries(c.node(3)), entries(c.node(1)));
    assert_eq!(c.applied_data(3), payloads(10, "p"));
}

/// Pipelined appends lost in the middle: the next append exposes the gap, the follower rejects
/// it, and the leader goes back to probing from the follower's end.
#[test]
fn lost_appends_in_the_middle_are_recovered() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.deliver_all();
    for i in 0..10 {
        c.propose(1, &format!("p{i}")).unwrap();
        deliver_where(&mut c, &mut |_, m| !carries_index_in(m, 3, 4..=6));
    }
    c.run(4);
    assert_eq!(entries(c.node(3)), entries(c.node(1)));
    assert_eq!(c.applied_data(3), payloads(10, "p"));
    assert!(
        rejections_from(&c, 0, 3) >= 1,
        "the gap was exposed by a rejection"
    );
}

/// Lost acknowledgements with a full window: heartbeat answers free the window and a later
/// probe re-establishes the match; replication completes.
#[test]
fn lost_acknowledgements_with_a_full_window_are_recovered() {
    let mut c = Cluster::with_config(3, |id| {
        let mut c = config(id);
        c.max_inflight_msgs = 2;
        c
    });
    c.elect(1);
    c.deliver_all();
    let acks_from_3 = |m: &Message| m.from == 3 && matches!(m.body, Body::AppendResponse(_));
    for i in 0..10 {
        c.propose(1, &format!("p{i}")).unwrap();
        deliver_where(&mut c, &mut |_, m| !acks_from_3(m));
    }
    assert!(
        c.node(3).status().last_index < 11,
        "the window held node 3 back"
    );
    for _ in 0..20 {
        c.run(1);
    }
    assert_eq!(entries(c.node(3)), entries(c.node(1)));
    assert_eq!(c.applied_data(3), payloads(10, "p"));
}

/// The lost append was the whole window (one in flight) and the last entry: a heartbeat answer
/// frees the window (its acknowledgement may have been lost), so nothing is in flight any more,
/// yet the follower still lacks the entry. The leader must notice that its match index has not
/// moved past what it sent and probe again (§5.3: the leader retries until the follower's log
/// matches), not wait for a later entry to expose the gap. Found by sansraft-sim's healthy-window
/// transfer oracle: during a transfer no later entry comes, so the target was never caught up.
#[test]
fn a_lost_append_that_was_the_whole_window_is_resent() {
    let mut c = Cluster::with_config(3, |id| {
        let mut c = config(id);
        c.max_inflight_msgs = 1;
        c
    });
    c.elect(1);
    c.deliver_all();
    c.propose(1, "last").unwrap();
    deliver_where(&mut c, &mut |_, m| !carries_index_in(m, 3, 2..=2));
    assert_eq!(c.node(3).status().last_index, 1, "node 3 missed entry 2");
    for _ in 0..10 {
        c.run(1);
    }
    assert_eq!(entries(c.node(3)), entries(c.node(1)));
    assert_eq!(c.applied_data(3), vec!["last".to_owned()]);
}

/// Read confirmation rounds (thesis §6.4) are heartbeat broadcasts too, but not the heartbeat
/// timer: two reads in the same tick must not make the leader judge an append that is simply
/// still in flight as lost and knock its follower out of pipelining (§5.3 loss detection runs
/// once per heartbeat interval of the leader's ticks).
#[test]
fn read_rounds_do_not_knock_a_pipelining_follower_to_probe() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.deliver_all();
    c.propose(1, "first").unwrap();
    c.deliver_all();
    assert_eq!(
        c.node(1).progress_state(2),
        Some(sansraft::ProgressState::Replicate)
    );
    // An append in flight to node 2, and two reads before anything is delivered.
    c.propose(1, "second").unwrap();
    c.step(1, Input::ReadIndex(1));
    c.step(1, Input::ReadIndex(2));
    assert_eq!(
        c.node(1).progress_state(2),
        Some(sansraft::ProgressState::Replicate),
        "an append in flight for no time at all is not lost"
    );
    c.deliver_all();
    assert_eq!(
        c.applied_data(2),
        vec!["first".to_owned(), "second".to_owned()]
    );
}

/// `Node::peer_progress` shows the leader's view of each follower: match and next index, state,
/// and ticks since it last answered; followers and unknown peers have none.
#[test]
fn peer_progress_shows_match_index_and_ticks_since_contact() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.deliver_all();
    c.propose(1, "p").unwrap();
    c.deliver_all();
    let last = c.node(1).status().last_index;
    let seen = c.node(1).peer_progress(2).expect("node 2 is a peer");
    assert_eq!(
        (seen.match_index, seen.next_index, seen.state),
        (last, last + 1, sansraft::ProgressState::Replicate)
    );
    assert_eq!(seen.ticks_since_contact, 0);
    // Node 3 is cut off; node 2 answers whatever the ticks send.
    c.isolate(3);
    for _ in 0..3 {
        c.tick(1);
    }
    c.deliver_all();
    let two = c.node(1).peer_progress(2).expect("peer");
    let three = c.node(1).peer_progress(3).expect("peer");
    assert_eq!(two.ticks_since_contact, 0, "node 2 answered");
    assert_eq!(
        three.ticks_since_contact, 3,
        "node 3 was silent for three ticks"
    );
    assert_eq!(three.match_index, last);
    assert_eq!(
        c.node(2).peer_progress(1),
        None,
        "a follower tracks no peers"
    );
    assert_eq!(c.node(1).peer_progress(9), None, "not a peer");
}

/// `Node::peers` walks the same views for every peer without allocating: appends and bytes in
/// flight to a follower that does not answer.
#[test]
fn peers_show_what_is_in_flight() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.deliver_all();
    c.isolate(3);
    for i in 0..3 {
        c.propose(1, &format!("p{i}")).unwrap();
    }
    let peers: Vec<_> = c.node(1).peers().collect();
    assert_eq!(
        peers.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        vec![2, 3]
    );
    let three = peers[1].1;
    assert_eq!(three, c.node(1).peer_progress(3).unwrap());
    assert_eq!(three.state, sansraft::ProgressState::Replicate);
    assert_eq!((three.inflight_msgs, three.snapshot), (3, None));
    assert!(three.inflight_bytes > 0);
    c.deliver_all();
    let two = c.node(1).peer_progress(2).unwrap();
    assert_eq!(
        (two.inflight_msgs, two.inflight_bytes),
        (0, 0),
        "node 2 answered"
    );
    assert_eq!(c.node(2).peers().count(), 0, "a follower tracks no peers");
}
