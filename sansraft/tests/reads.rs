//! Linearizable reads (thesis §6.4), one test per rule: ReadIndex at the leader, follower reads,
//! no read on a partitioned old leader, reads across a leader change, leases and their
//! configuration.

use sansraft::{Config, ConfigError, Input, ReadError, Role};
use sansraft_testkit::Cluster;

fn cluster(n: u64, check_quorum: bool) -> Cluster {
    Cluster::with_config(n, |id| {
        let mut c = Config::new(id, id * 7919);
        c.check_quorum = check_quorum;
        c
    })
}

fn outcome(c: &Cluster, node: u64, read: u64) -> Option<Result<u64, ReadError>> {
    c.read_outcomes
        .iter()
        .find(|(n, r, _)| *n == node && *r == read)
        .map(|(_, _, o)| *o)
}

/// Thesis §6.4: a leader's read is released at a read index covering every committed write.
#[test]
fn a_leader_read_covers_every_committed_write() {
    let mut c = cluster(3, true);
    c.elect(1);
    let pos = c.propose(1, "x").unwrap();
    c.deliver_all();
    c.step(1, Input::ReadIndex(7));
    assert_eq!(outcome(&c, 1, 7), None, "waits for a heartbeat round");
    c.deliver_all();
    let index = outcome(&c, 1, 7).expect("answered").expect("served");
    assert!(index >= pos.index);
}

/// Thesis §6.4: a follower forwards the read and serves it at the leader's read index.
#[test]
fn a_follower_read_uses_the_leaders_read_index() {
    let mut c = cluster(3, true);
    c.elect(1);
    let pos = c.propose(1, "x").unwrap();
    c.deliver_all();
    c.step(2, Input::ReadIndex(1));
    c.deliver_all();
    let index = outcome(&c, 2, 1).expect("answered").expect("served");
    assert!(index >= pos.index);
}

/// Thesis §6.4: a partitioned old leader never serves a read, even without check-quorum (it
/// cannot get a round acknowledged by a quorum); the new leader serves the newer write.
#[test]
fn a_partitioned_old_leader_never_serves_a_read() {
    let mut c = cluster(3, false);
    c.elect(1);
    c.propose(1, "x").unwrap();
    c.deliver_all();
    c.isolate(1);
    c.step(1, Input::ReadIndex(1));
    // The others elect a new leader among themselves.
    let mut new = None;
    for _ in 0..100 {
        c.tick(2);
        c.tick(3);
        c.deliver_all();
        new = [2, 3]
            .into_iter()
            .find(|&id| c.node(id).role() == Role::Leader);
        if new.is_some() {
            break;
        }
    }
    let new = new.expect("a new leader");
    let newer = c.propose(new, "y").unwrap();
    c.deliver_all();
    for _ in 0..50 {
        c.tick(1);
        c.deliver_all();
    }
    assert_eq!(
        c.node(1).role(),
        Role::Leader,
        "without check-quorum it still thinks it leads"
    );
    assert_eq!(outcome(&c, 1, 1), None, "never served");
    // Reads across the leader change see the newer write.
    let other = 5 - new;
    c.step(other, Input::ReadIndex(2));
    c.deliver_all();
    let index = outcome(&c, other, 2).expect("answered").expect("served");
    assert!(index >= newer.index);
    // Healed, the old leader learns of term 2 and fails its read.
    c.heal();
    c.run(5);
    assert_eq!(outcome(&c, 1, 1), Some(Err(ReadError::LeadershipLost)));
}

/// Thesis §6.4: with check-quorum, the isolated leader steps down and its read fails.
#[test]
fn reads_fail_when_leadership_is_lost() {
    let mut c = cluster(3, true);
    c.elect(1);
    c.isolate(1);
    c.step(1, Input::ReadIndex(5));
    for _ in 0..30 {
        c.tick(1);
    }
    assert_ne!(c.node(1).role(), Role::Leader);
    assert_eq!(outcome(&c, 1, 5), Some(Err(ReadError::LeadershipLost)));
    c.step(1, Input::ReadIndex(6));
    assert_eq!(
        outcome(&c, 1, 6),
        Some(Err(ReadError::NotLeader { leader: None }))
    );
}

/// Bad input and back-pressure: reads beyond the limit are refused with a specific error.
#[test]
fn too_many_pending_reads_are_refused() {
    let mut c = Cluster::with_config(3, |id| {
        let mut cfg = Config::new(id, id);
        cfg.max_pending_reads = 2;
        cfg
    });
    c.elect(1);
    c.isolate(1);
    for read in 0..3 {
        c.step(1, Input::ReadIndex(read));
    }
    assert_eq!(
        outcome(&c, 1, 2),
        Some(Err(ReadError::TooManyPending { limit: 2 }))
    );
}

/// Thesis §6.4.1: lease reads need check-quorum and a lease of at least one tick.
#[test]
fn lease_reads_are_configured_safely() {
    let mut cfg = Config::new(1, 1);
    cfg.lease_reads = true;
    assert_eq!(cfg.validate(), Ok(()));
    assert_eq!(cfg.lease_ticks(), 8, "⌊(10 − 1) × 90 / 100⌋");
    cfg.check_quorum = false;
    assert_eq!(cfg.validate(), Err(ConfigError::LeaseReadsNeedCheckQuorum));
    cfg.check_quorum = true;
    cfg.max_clock_drift_percent = 95;
    assert_eq!(cfg.validate(), Err(ConfigError::LeaseTooShort));
}

/// Thesis §6.4.1: within the lease the leader serves reads without a round; an isolated
/// leader's lease runs out and it stops.
#[test]
fn lease_reads_stop_when_the_lease_runs_out() {
    let mut c = Cluster::with_config(3, |id| {
        let mut cfg = Config::new(id, id * 7919);
        cfg.lease_reads = true;
        cfg
    });
    let l = c.run_until_leader();
    c.run(2);
    let sent = c.sent_log.len();
    c.step(l, Input::ReadIndex(1));
    assert!(
        matches!(outcome(&c, l, 1), Some(Ok(_))),
        "served from the lease"
    );
    assert_eq!(c.sent_log.len(), sent, "without a round");
    let lease = u64::from(c.node(l).config().lease_ticks());
    let left = c.node(l).lease_ticks_left().expect("the lease holds");
    assert!(left > 0 && left <= lease, "{left} of {lease} ticks left");
    c.isolate(l);
    for k in 1..=9 {
        c.tick(l);
        let now = c.node(l).lease_ticks_left();
        assert_eq!(
            now,
            left.checked_sub(k).filter(|&t| t > 0),
            "after {k} ticks"
        );
    }
    c.step(l, Input::ReadIndex(2));
    assert_eq!(
        outcome(&c, l, 2),
        None,
        "the lease ran out: waits for a round"
    );
}
