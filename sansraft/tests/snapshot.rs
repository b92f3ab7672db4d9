//! Snapshots, compaction and chunked transfer (Raft §7), one test per rule of the issue.

use sansraft::message::{SnapshotChunk, SnapshotResponse};
use sansraft::{
    Action, Body, Config, DurableState, Entry, EntryKind, HardState, Input, Membership, Message,
    Node, NodeId, ProgressState, SnapshotMeta,
};
use sansraft_testkit::Cluster;

fn config(id: NodeId) -> Config {
    let mut c = Config::new(id, id * 7919);
    c.compaction_keep_entries = 0;
    c.snapshot_chunk_bytes = 8;
    c.max_snapshot_chunks_in_flight = 2;
    c.snapshot_retry_ticks = 3;
    c
}

/// Three nodes, node 1 leads; node 3 is cut off while `n` commands commit, then node 1 takes a
/// snapshot and compacts its whole log.
fn lagging_follower(n: usize) -> Cluster {
    let mut c = Cluster::with_config(3, config);
    c.elect(1);
    c.isolate(3);
    for i in 0..n {
        c.propose(1, &format!("cmd{i}")).expect("leader accepts");
    }
    c.deliver_all();
    c.run(1);
    let meta = c.take_snapshot(1);
    assert_eq!(
        meta.index,
        n as u64 + 1,
        "everything applied is in the snapshot"
    );
    assert_eq!(c.node(1).first_index(), meta.index + 1, "log compacted");
    c
}

/// Heals the partition and lets a heartbeat round trip tell the leader that node 3 needs the
/// snapshot; with `auto_read` off the first chunk reads are then queued.
fn heal_and_start(c: &mut Cluster) {
    c.heal();
    for _ in 0..20 {
        c.tick_all();
        if c.node(1).progress_state(3) == Some(ProgressState::Snapshot) {
            break;
        }
        c.deliver_all();
    }
    assert_eq!(c.node(1).progress_state(3), Some(ProgressState::Snapshot));
    c.network
        .retain(|m| matches!(m.body, Body::SnapshotChunk(_)));
}

/// A follower 12 entries behind, the leader's snapshot transfer to it started with chunk reads
/// answered by hand: the first chunks are in the network, nothing more is read.
fn transfer_with_first_chunks_read() -> Cluster {
    let mut c = lagging_follower(12);
    c.auto_read = false;
    heal_and_start(&mut c);
    while c.answer_read() {}
    c
}

fn chunks(c: &Cluster) -> Vec<&Message> {
    c.network
        .iter()
        .filter(|m| matches!(m.body, Body::SnapshotChunk(_)))
        .collect()
}

/// Ticks the leader and delivers, with `f` applied to the network before each delivery round.
fn run_with(c: &mut Cluster, rounds: usize, mut f: impl FnMut(&mut Cluster, usize)) {
    for round in 0..rounds {
        c.tick_all();
        f(c, round);
        c.deliver_all();
    }
}

// §7, rule 1: the application's snapshot compacts the log; a restart starts from the snapshot
// plus the log after it.
#[test]
fn a_snapshot_compacts_the_log_and_a_restart_starts_from_it() {
    let mut c = Cluster::with_config(3, |id| Config {
        compaction_keep_entries: 2,
        ..config(id)
    });
    c.elect(1);
    for i in 0..6 {
        c.propose(1, &format!("c{i}")).unwrap();
    }
    c.run(2);
    let meta = c.take_snapshot(1);
    assert_eq!(c.compactions, vec![(1, meta.index - 2)], "two entries kept");
    assert_eq!(c.node(1).first_index(), meta.index - 1);
    assert_eq!(c.node(1).snapshot(), &meta);
    // A report that is not newer, or beyond the applied index, is refused and counted.
    c.step(1, Input::SnapshotTaken(Box::new(meta.clone())));
    c.step(
        1,
        Input::SnapshotTaken(Box::new(SnapshotMeta {
            index: meta.index + 5,
            ..meta.clone()
        })),
    );
    assert_eq!(c.node(1).counters().bogus_snapshot, 2);
    c.crash(1);
    c.restart(1);
    assert_eq!(c.node(1).first_index(), meta.index + 1);
    assert_eq!(c.node(1).snapshot(), &meta);
    assert_eq!(
        c.applied_data(1),
        (0..6).map(|i| format!("c{i}")).collect::<Vec<_>>()
    );
}

// §7, rules 2, 5 and 8: a follower partitioned while the leader compacted catches up through a
// snapshot sent over a network that drops and duplicates chunks; it gets no appends meanwhile.
#[test]
fn a_partitioned_follower_catches_up_through_a_lossy_snapshot_transfer() {
    let mut c = lagging_follower(12);
    c.heal();
    let (mut dropped, mut seen) = (0, 0);
    run_with(&mut c, 60, |c, _| {
        if c.node(1).progress_state(3) == Some(ProgressState::Snapshot) {
            assert!(
                !c.network
                    .iter()
                    .any(|m| m.to == 3 && matches!(m.body, Body::Append(_))),
                "no appends to a follower receiving a snapshot"
            );
        }
        // Drop every third chunk and duplicate every other one.
        let mut out = std::collections::VecDeque::new();
        for m in c.network.drain(..) {
            if matches!(m.body, Body::SnapshotChunk(_)) {
                seen += 1;
                if seen % 3 == 1 {
                    dropped += 1;
                    continue;
                }
                if seen % 2 == 0 {
                    out.push_back(m.clone());
                }
            }
            out.push_back(m);
        }
        c.network = out;
    });
    assert!(dropped > 0, "the test dropped chunks");
    assert_eq!(c.applied_data(3), c.applied_data(1));
    assert_eq!(c.node(3).snapshot().index, c.node(1).snapshot().index);
    assert_eq!(c.node(1).progress_state(3), Some(ProgressState::Replicate));
    assert!(
        c.node(3).counters().stale_snapshot_chunk > 0,
        "duplicates were seen"
    );
    // Rule 7: after the install, ordinary replication continues.
    c.propose(1, "after").unwrap();
    c.run(3);
    assert_eq!(c.applied_data(3).last().map(String::as_str), Some("after"));
}

// Rule 5: a chunk at the wrong offset is answered with the expected offset, and a chunk with
// offset > 0 never starts a transfer.
#[test]
fn chunks_out_of_order_are_answered_with_the_expected_offset() {
    let mut c = transfer_with_first_chunks_read();
    let first: Vec<Message> = chunks(&c).into_iter().cloned().collect();
    assert_eq!(first.len(), 2, "two chunks in flight");
    c.network.clear();
    // The second chunk alone: no transfer is under way, so it is answered with offset 0.
    c.step(3, Input::Message(first[1].clone()));
    let replies: Vec<SnapshotResponse> = c
        .network
        .drain(..)
        .filter_map(|m| match m.body {
            Body::SnapshotResponse(r) => Some(r),
            _ => None,
        })
        .collect();
    let Body::SnapshotChunk(chunk) = &first[0].body else {
        unreachable!()
    };
    let (index, term) = (chunk.index, chunk.term);
    assert_eq!(
        replies,
        vec![SnapshotResponse::Next {
            index,
            term,
            offset: 0
        }]
    );
    // Now the first, then the first again (a duplicate): both answered with offset 8.
    c.step(3, Input::Message(first[0].clone()));
    c.step(3, Input::Message(first[0].clone()));
    let offsets: Vec<u64> = c
        .network
        .drain(..)
        .filter_map(|m| match m.body {
            Body::SnapshotResponse(SnapshotResponse::Next { offset, .. }) => Some(offset),
            _ => None,
        })
        .collect();
    assert_eq!(offsets, vec![8, 8]);
}

// Rule 5: a lost reply is retried after a timeout from the last acknowledged offset, not from 0.
#[test]
fn a_lost_reply_is_retried_from_the_last_acknowledged_offset() {
    let mut c = transfer_with_first_chunks_read();
    // Deliver both chunks, lose the follower's answer to the second one.
    assert!(c.deliver_one() && c.deliver_one());
    c.network.retain(|m| {
        !matches!(
            m.body,
            Body::SnapshotResponse(SnapshotResponse::Next { offset: 16, .. })
        )
    });
    c.deliver_all();
    while c.answer_read() {}
    // The next chunk is lost too.
    c.network.clear();
    // Nothing arrives; the leader retries after `snapshot_retry_ticks`.
    for _ in 0..4 {
        c.tick(1);
    }
    let retried: Vec<u64> = c.reads.iter().map(|(_, r)| r.offset).collect();
    assert_eq!(
        retried.first(),
        Some(&8),
        "the retry starts at the acknowledged offset, not 0: {retried:?}"
    );
}

// Rule 6 and the crash test: a follower that crashes in the middle of a transfer has lost its
// partial snapshot; the leader starts over from 0 and the follower catches up.
#[test]
fn a_follower_crash_in_the_middle_of_a_transfer() {
    let mut c = transfer_with_first_chunks_read();
    c.deliver_all();
    assert!(c.peers[2].store.partial().is_some(), "transfer under way");
    c.crash(3);
    c.restart(3);
    c.auto_read = true;
    while c.answer_read() {}
    c.run(40);
    assert_eq!(c.applied_data(3), c.applied_data(1));
}

// Rule 6: a leader change in the middle of a transfer aborts it on the follower, which drops the
// partial snapshot; the new leader brings it up to date.
#[test]
fn a_leader_change_in_the_middle_of_a_transfer() {
    let mut c = transfer_with_first_chunks_read();
    c.deliver_all();
    assert!(c.peers[2].store.partial().is_some(), "transfer under way");
    c.take_snapshot(2);
    c.crash(1);
    c.network.clear();
    c.reads.clear();
    c.auto_read = true;
    for _ in 0..100 {
        c.run(1);
        if c.leaders() == vec![2] {
            break;
        }
    }
    assert_eq!(c.leaders(), vec![2]);
    assert!(
        c.peers[2].store.partial().is_none() || c.peers[2].store.partial().unwrap().1 > 1,
        "the partial snapshot of the old leader was dropped"
    );
    c.run(40);
    assert_eq!(c.applied_data(3), c.applied_data(2));
}

// Rule 7: a follower ignores a snapshot not newer than its commit index and answers with it.
#[test]
fn a_snapshot_not_newer_than_the_commit_index_is_ignored() {
    let mut c = lagging_follower(4);
    let chunk = Message {
        from: 1,
        to: 2,
        term: c.node(1).term(),
        body: Body::SnapshotChunk(Box::new(SnapshotChunk {
            index: c.node(1).snapshot().index,
            term: c.node(1).snapshot().term,
            offset: 0,
            data: bytes::Bytes::from_static(b"x"),
            done: true,
            membership: Some(c.node(1).membership().clone()),
            crc32c: 0,
        })),
    };
    let before = c.node(2).status();
    c.network.clear();
    c.step(2, Input::Message(chunk));
    assert_eq!(c.node(2).status(), before, "nothing installed");
    let replies: Vec<&Body> = c.network.iter().map(|m| &m.body).collect();
    assert_eq!(
        replies,
        vec![&Body::SnapshotResponse(SnapshotResponse::Installed {
            match_index: before.commit
        })]
    );
}

// Rule 4: a snapshot whose checksum does not match is not installed; the transfer restarts.
#[test]
fn a_corrupt_snapshot_is_not_installed() {
    let mut c = lagging_follower(2);
    let snap = c.node(1).snapshot().clone();
    let chunk = Message {
        from: 1,
        to: 3,
        term: c.node(1).term(),
        body: Body::SnapshotChunk(Box::new(SnapshotChunk {
            index: snap.index,
            term: snap.term,
            offset: 0,
            data: bytes::Bytes::from_static(b"not the snapshot"),
            done: true,
            membership: Some(snap.membership.clone()),
            crc32c: 12345,
        })),
    };
    c.heal();
    c.network.clear();
    c.step(3, Input::Message(chunk));
    assert_eq!(c.node(3).counters().corrupt_snapshot, 1);
    assert_eq!(c.node(3).snapshot().index, 0);
    assert!(c.peers[2].store.partial().is_none(), "partial dropped");
}

// Rule 7: a follower whose log holds the snapshot's last entry with the same term keeps the
// entries after it; otherwise it discards its whole log.
#[test]
fn an_install_keeps_the_log_only_after_a_matching_last_entry() {
    for (snapshot_term, retained) in [(1, true), (2, false)] {
        let entries = (1..=7)
            .map(|index| Entry {
                term: 1,
                index,
                kind: EntryKind::Normal,
                data: bytes::Bytes::new(),
            })
            .collect();
        let state = DurableState {
            hard_state: HardState {
                term: 2,
                vote: None,
                commit: 2,
            },
            entries,
            ..DurableState::bootstrap(Membership::with_voters([1, 2, 3]))
        };
        let mut node = Node::new(config(3), state, 1).unwrap();
        let data = bytes::Bytes::from_static(b"state");
        let actions = node.step(Input::Message(Message {
            from: 1,
            to: 3,
            term: 2,
            body: Body::SnapshotChunk(Box::new(SnapshotChunk {
                index: 5,
                term: snapshot_term,
                offset: 0,
                data: data.clone(),
                done: true,
                membership: Some(Membership::with_voters([1, 2, 3])),
                crc32c: crc32c::crc32c(&data),
            })),
        }));
        let install = actions
            .iter()
            .find_map(|a| match a {
                Action::Persist(w) => w.install.clone(),
                _ => None,
            })
            .expect("an install write");
        assert_eq!(install.retain_log, retained);
        assert_eq!(install.meta.index, 5);
        assert_eq!(node.first_index(), 6);
        assert_eq!(node.status().last_index, if retained { 7 } else { 5 });
        assert_eq!(node.status().commit, 5);
        assert!(
            !actions.iter().any(|a| matches!(a, Action::Send(_))),
            "the answer waits until the install is durable"
        );
    }
}

// Rule 6: a newer snapshot aborts the transfer of the old one on both sides; the follower
// installs the newer one.
#[test]
fn a_newer_snapshot_replaces_the_one_being_sent() {
    let mut c = transfer_with_first_chunks_read();
    // Only the chunks reach the follower; its answers are lost.
    c.deliver_all();
    c.network.clear();
    let old = c.node(1).snapshot().clone();
    assert_eq!(
        c.peers[2].store.partial(),
        Some((old.index, old.term)),
        "the old snapshot is being received"
    );
    c.reads.clear();
    c.auto_read = true;
    for i in 0..3 {
        c.propose(1, &format!("late{i}")).unwrap();
    }
    // Deliver to node 2 only, so the new entries commit while node 3 still waits.
    c.isolate(3);
    c.run(2);
    let new = c.take_snapshot(1);
    assert!(new.index > old.index);
    c.heal();
    c.run(30);
    assert_eq!(
        c.node(3).snapshot(),
        &new,
        "the newer snapshot was installed"
    );
    assert!(c.peers[2].store.partial().is_none());
    assert_eq!(c.applied_data(3), c.applied_data(1));
}

/// The leader's view of a transfer (`PeerProgress::snapshot`): the snapshot sent, the bytes
/// the follower acknowledged (growing as its acknowledgements arrive) and ticks since progress.
#[test]
fn peer_progress_shows_a_transfer_and_its_acknowledged_bytes() {
    let transfer_to_3 = |c: &Cluster| c.node(1).peer_progress(3).unwrap().snapshot;
    let mut c = transfer_with_first_chunks_read();
    let meta = c.node(1).snapshot().clone();
    let transfer = transfer_to_3(&c).expect("a transfer");
    assert_eq!((transfer.index, transfer.term), (meta.index, meta.term));
    assert_eq!(transfer.acked_bytes, 0, "no chunk acknowledged yet");
    // The first chunk reaches node 3, and its answer the leader.
    while c.deliver_one() && transfer_to_3(&c).is_none_or(|t| t.acked_bytes == 0) {}
    let transfer = transfer_to_3(&c).expect("still under way");
    assert_eq!(
        transfer.acked_bytes, 8,
        "one chunk of snapshot_chunk_bytes acknowledged"
    );
    assert_eq!(transfer.ticks_since_progress, 0);
    c.tick(1);
    let transfer = transfer_to_3(&c).expect("still under way");
    assert_eq!(transfer.ticks_since_progress, 1);
}
