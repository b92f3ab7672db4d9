//! Each benchmark driver really replicates, over the wire and in process: every node applies
//! every entry with its payload, for every configuration; over the wire every message is
//! really encoded and every follower holds payloads of its own.

use raft::{GetEntriesContext, Storage};
use sansraft_bench::ours::{over_the_wire, OursCluster};
use sansraft_bench::peer_noraft::NoraftCluster;
use sansraft_bench::raftrs::RaftRsCluster;
use sansraft_bench::transport::{Mode, Wire};
use sansraft_bench::workload::{measure, payload_batch, Cluster, Workload};

/// Runs `rounds` rounds of `w` on a fresh cluster and checks, apart from `measure`'s own
/// assertions, that every node applied every entry with its payload.
fn applies_everything<C: Cluster>(w: Workload, mode: Mode, rounds: u64) {
    let mut cluster = C::start(w.nodes, mode);
    let (entries0, bytes0) = (cluster.applied_entries(), cluster.applied_bytes());
    for _ in 0..rounds {
        cluster.round(w.batch, w.payload_bytes);
    }
    let entries = rounds * w.batch as u64 * w.nodes as u64;
    let what = format!("{} {} {}", C::NAME, w.label(), mode);
    assert_eq!(cluster.applied_entries() - entries0, entries, "{what}");
    assert_eq!(
        cluster.applied_bytes() - bytes0,
        entries * w.payload_bytes as u64,
        "{what}"
    );
}

#[test]
fn every_driver_applies_every_entry_everywhere_in_both_modes() {
    for w in Workload::all() {
        for mode in Mode::ALL {
            applies_everything::<OursCluster>(w, mode, 3);
            applies_everything::<RaftRsCluster>(w, mode, 3);
            applies_everything::<NoraftCluster>(w, mode, 3);
            let entries = 2 * w.batch as u64;
            assert_eq!(measure::<OursCluster>(w, mode, entries).entries, entries);
            assert_eq!(measure::<RaftRsCluster>(w, mode, entries).entries, entries);
            assert_eq!(measure::<NoraftCluster>(w, mode, entries).entries, entries);
        }
    }
}

/// Bytes the transport carried for 10 rounds of 64 entries of 256 B on 3 nodes.
fn wire_bytes<C: Cluster>(mode: Mode) -> (u64, u64) {
    let w = Workload {
        nodes: 3,
        payload_bytes: 256,
        batch: 64,
    };
    let t = measure::<C>(w, mode, 640);
    (t.wire_bytes, t.entries * w.payload_bytes as u64)
}

#[test]
fn over_the_wire_every_payload_is_encoded_to_every_follower_and_in_process_nothing_is() {
    // Each payload goes to 2 followers; a codec adds headers, terms and indexes to that.
    let (ours, payload) = wire_bytes::<OursCluster>(Mode::Wire);
    assert!(ours > 2 * payload, "sansraft: {ours} bytes for {payload}");
    let (rs, payload) = wire_bytes::<RaftRsCluster>(Mode::Wire);
    assert!(rs > 2 * payload, "raft-rs: {rs} bytes for {payload}");
    // noraft has no codec: exactly the payloads are copied.
    let (no, payload) = wire_bytes::<NoraftCluster>(Mode::Wire);
    assert_eq!(no, 2 * payload, "noraft");
    assert_eq!(wire_bytes::<OursCluster>(Mode::InProcess).0, 0);
    assert_eq!(wire_bytes::<RaftRsCluster>(Mode::InProcess).0, 0);
    assert_eq!(wire_bytes::<NoraftCluster>(Mode::InProcess).0, 0);
}

/// Whether leader and follower hold the payload of the last entry in the same memory, for
/// each implementation after one round of 64 entries of 16 B.
fn shared_payloads(mode: Mode) -> [bool; 3] {
    let mut ours = OursCluster::start(3, mode);
    ours.round(64, 16);
    let leader = ours.leader().expect("leader");
    let follower = (leader + 1) % 3;
    let last_of = |i: usize| {
        let entry = ours.members[i].store.entries().last().expect("entries");
        (entry.index, entry.data.as_ptr())
    };
    let (ours_leader, ours_follower) = (last_of(leader), last_of(follower));
    assert_eq!(ours_leader.0, ours_follower.0, "sansraft: same last index");

    let mut rs = RaftRsCluster::start(3, mode);
    rs.round(64, 16);
    let data_of = |i: usize| {
        let store = rs.members[i].node.store();
        let last = store.last_index().expect("last index");
        let entries = store
            .entries(last, last + 1, None, GetEntriesContext::empty(false))
            .expect("entries");
        entries[0].data.as_ptr()
    };
    // raft-rs's leader is the node that campaigned first, node 1.
    let (rs_leader, rs_follower) = (data_of(0), data_of(1));

    let mut no = NoraftCluster::start(3, mode);
    no.round(64, 16);
    let payload_of = |i: usize| no.members[i].payloads.last().expect("payload").as_ptr();
    let (no_leader, no_follower) = (payload_of(0), payload_of(1));

    [
        ours_leader.1 == ours_follower.1,
        rs_leader == rs_follower,
        no_leader == no_follower,
    ]
}

#[test]
fn in_process_followers_share_the_leaders_payloads_and_over_the_wire_they_own_theirs() {
    assert_eq!(shared_payloads(Mode::InProcess), [true; 3]);
    assert_eq!(shared_payloads(Mode::Wire), [false; 3]);
}

#[test]
fn sansraft_over_the_wire_returns_the_message_it_was_given() {
    let mut cluster = OursCluster::start(3, Mode::InProcess);
    let leader = cluster.leader().expect("leader");
    let payloads = payload_batch(4, 16, 1);
    cluster.step(leader, sansraft::Input::ProposeBatch(payloads));
    let mut seen = 0;
    for (_, input) in &cluster.queue {
        if let sansraft::Input::Message(m) = input {
            let mut wire = Wire::default();
            assert_eq!(&over_the_wire(m.clone(), &mut wire), m);
            assert!(!wire.send_buf().is_empty());
            seen += 1;
        }
    }
    assert_eq!(seen, 2, "an append to each follower");
}

#[test]
fn elections_finish_and_a_new_leader_follows_a_lost_one() {
    for seed in 0..20 {
        let run = sansraft_bench::election::run_seed(3, seed);
        // §5.2: no leader can exist before some follower's election timeout (10 ticks) passes.
        assert!(run.first.ticks >= 10, "seed {seed}: {run:?}");
        assert!(run.after_loss.ticks >= 10, "seed {seed}: {run:?}");
    }
}
