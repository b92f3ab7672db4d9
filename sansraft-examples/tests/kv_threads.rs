//! The thread-per-node key-value server end to end: replication, linearizable reads, a crash
//! and a restart that catches up through a snapshot, leadership transfer, and agreement of
//! every replica's map.

use sansraft::{NodeId, TransferOutcome};
use sansraft_examples::kv_threads::{Client, Cluster};
use std::ops::Range;
use std::time::Duration;

const VOTERS: [NodeId; 3] = [1, 2, 3];
/// Generous: each wait normally ends in well under a second, even on loaded cores.
const WAIT: Duration = Duration::from_secs(20);

fn key(i: u32) -> String {
    format!("key{i}")
}

fn value(i: u32) -> String {
    format!("value{i}")
}

fn put_all(client: &mut Client, range: Range<u32>) {
    for i in range {
        client.put(&key(i), &value(i)).expect("a write commits");
    }
}

fn leader(cluster: &Cluster) -> NodeId {
    cluster.wait_for_leader(WAIT).expect("a leader is elected")
}

#[test]
fn a_crashed_node_restarts_from_its_disk_and_catches_up_through_a_snapshot() {
    let mut cluster = Cluster::start(&VOTERS);
    let mut client = cluster.client();
    leader(&cluster);
    put_all(&mut client, 0..300);
    for i in (0..300).step_by(7) {
        assert_eq!(
            client.get(&key(i)),
            Ok(Some(value(i))),
            "read of {}",
            key(i)
        );
    }
    assert_eq!(client.get("absent"), Ok(None));

    let leader_before = leader(&cluster);
    let crashed = *VOTERS.iter().find(|&&id| id != leader_before).unwrap();
    let crash = cluster.crash(crashed);
    assert!(
        crash.stored_last_index >= crash.acknowledged_index,
        "the disk holds every acknowledged write: {crash:?}"
    );

    // Two nodes are a majority: writes go on, and the leader compacts its log behind its
    // snapshots until it no longer holds what the crashed node needs next.
    put_all(&mut client, 300..600);
    let report = cluster
        .report(leader(&cluster))
        .expect("the leader reports");
    assert!(
        report.first_index > crash.stored_last_index + 1,
        "the log was compacted past the crashed node's disk (first index {}, its last {})",
        report.first_index,
        crash.stored_last_index
    );

    cluster.restart(crashed);
    let map = cluster
        .wait_for_agreement(WAIT)
        .expect("all replicas agree");
    assert_eq!(map.len(), 600);
    assert!((0..600).all(|i| map.get(&key(i)) == Some(&value(i))));
    let restarted = cluster.report(crashed).expect("the restarted node reports");
    assert!(
        restarted.snapshots_installed >= 1,
        "it caught up through a snapshot: {restarted:?}"
    );
    for id in VOTERS {
        let r = cluster.report(id).expect("every node reports");
        assert_eq!((r.undecodable_messages, r.malformed_commands), (0, 0));
    }
}

#[test]
fn commands_leadership_transfer_and_a_leader_crash() {
    let mut cluster = Cluster::start(&VOTERS);
    let mut client = cluster.client();
    leader(&cluster);
    client.put("k", "a").expect("put");
    assert_eq!(client.cas("k", Some("b"), "c"), Ok(false), "a mismatch");
    assert_eq!(client.cas("k", Some("a"), "c"), Ok(true));
    assert_eq!(client.cas("new", None, "n"), Ok(true), "absent as expected");
    assert_eq!(client.delete("k"), Ok(true));
    assert_eq!(client.delete("k"), Ok(false));
    assert_eq!(client.get("k"), Ok(None));
    assert_eq!(client.get("new"), Ok(Some("n".to_owned())));

    // Hand leadership to a follower. Under heavy load a transfer may time out and abort;
    // it is then asked again.
    let from = leader(&cluster);
    let target = *VOTERS.iter().find(|&&id| id != from).unwrap();
    let mut outcome = None;
    for _ in 0..5 {
        outcome = cluster.transfer_leadership(target).ok();
        if let Some(TransferOutcome::Done { .. }) = outcome {
            break;
        }
    }
    assert_eq!(outcome, Some(TransferOutcome::Done { target }));
    assert_eq!(leader(&cluster), target);

    // Crash the new leader: the others elect one, and the client follows it.
    cluster.crash(target);
    put_all(&mut client, 0..50);
    assert_ne!(leader(&cluster), target);
    cluster.restart(target);
    let map = cluster
        .wait_for_agreement(WAIT)
        .expect("all replicas agree");
    assert_eq!(map.len(), 51, "50 keys and `new`");
    assert_eq!(map.get("new").map(String::as_str), Some("n"));
}
