//! A replicated key-value store with no async runtime: three nodes in one process, each a
//! plain thread with a plain loop over a channel, each with a storage thread that writes in
//! order and acknowledges later. Peer messages cross as bytes in the wire encoding. The code is
//! in `sansraft-examples/src/kv_threads/`; this program drives it: writes, linearizable reads, a
//! crash and restart that catches up through a snapshot, and a leadership transfer.

use sansraft_examples::kv_threads::Cluster;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn main() {
    let voters = [1, 2, 3];
    let mut cluster = Cluster::start(&voters);
    let leader = cluster.wait_for_leader(WAIT).expect("a leader is elected");
    println!("node {leader} leads");

    let mut client = cluster.client();
    for i in 0..200 {
        let (key, value) = (format!("key{i}"), format!("value{i}"));
        client.put(&key, &value).expect("a write commits");
    }
    let seven = client.get("key7").expect("a read is served");
    assert_eq!(seven.as_deref(), Some("value7"));
    assert_eq!(client.cas("key7", Some("value7"), "seven"), Ok(true));
    assert_eq!(client.delete("key8"), Ok(true));
    println!("200 puts, a read, a compare-and-swap and a delete done");

    let leader = cluster.wait_for_leader(WAIT).expect("a leader");
    let follower = *voters.iter().find(|&&id| id != leader).unwrap();
    let crash = cluster.crash(follower);
    println!(
        "node {follower} crashed; its disk holds the log up to {}",
        crash.stored_last_index
    );
    for i in 200..400 {
        client
            .put(&format!("key{i}"), "later")
            .expect("two of three commit");
    }
    cluster.restart(follower);
    let map = cluster
        .wait_for_agreement(WAIT)
        .expect("the replicas agree");
    let report = cluster
        .report(follower)
        .expect("the restarted node reports");
    println!(
        "node {follower} restarted and caught up to index {} ({} snapshot installed); \
         all 3 replicas hold the same {} keys",
        report.status.applied,
        report.snapshots_installed,
        map.len()
    );

    match cluster.transfer_leadership(follower) {
        Ok(outcome) => println!("leadership transfer to node {follower}: {outcome:?}"),
        Err(e) => println!("leadership transfer to node {follower}: {e}"),
    }
}
