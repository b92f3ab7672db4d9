//! Bounded-staleness reads (`Input::ReadStale`, docs/design.md §11), one test per rule: a
//! follower proves its freshness from the leader's heartbeats, refuses past the bound, forgets
//! its proofs across a restart, stops proving once its leader is deposed; learners and leaders
//! read too; bad proofs are ignored and counted.

use sansraft::message::Heartbeat;
use sansraft::{
    Body, ConfChange, Config, DurableState, FreshnessProof, Input, Membership, Message, Node,
    ReadError, Role, Stamp,
};
use sansraft_testkit::Cluster;

fn cluster(n: u64, spares: u64, check_quorum: bool) -> Cluster {
    Cluster::with_spares(n, spares, |id| {
        let mut c = Config::new(id, id * 7919);
        c.check_quorum = check_quorum;
        c
    })
    .checked()
}

/// Asks `node` for a read at most `bound` ticks stale; returns its outcome (answered at once),
/// checked by the test kit's checker.
fn read_stale(c: &mut Cluster, node: u64, id: u64, bound: u32) -> Result<u64, ReadError> {
    c.step(
        node,
        Input::ReadStale {
            id,
            max_staleness_ticks: bound,
        },
    );
    let (n, r, outcome) = *c.read_outcomes.last().expect("answered in the same step");
    assert_eq!((n, r), (node, id));
    // The test kit's checker holds a served read to its bound (StaleReadBeyondBound).
    assert_eq!(c.breach, None);
    outcome
}

/// One heartbeat interval (2 ticks) on every node, every message delivered.
fn heartbeat(c: &mut Cluster, nodes: &[u64]) {
    for _ in 0..2 {
        for &id in nodes {
            c.tick(id);
        }
        c.deliver_all();
    }
}

fn provable(r: Result<u64, ReadError>) -> Option<u64> {
    match r {
        Err(ReadError::TooStale { provable_ticks, .. }) => provable_ticks,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A follower answers a heartbeat with a stamp; the next round proves it, the one after
/// carries the proof: two heartbeat exchanges after the first.
#[test]
fn a_follower_proves_its_freshness_after_two_heartbeat_exchanges() {
    let mut c = cluster(3, 0, true);
    c.elect(1);
    let pos = c.propose(1, "x").unwrap();
    c.deliver_all();
    assert_eq!(
        provable(read_stale(&mut c, 2, 1, 100)),
        None,
        "no proof yet"
    );
    assert_eq!(c.node(2).counters().stale_read_refused, 1);
    heartbeat(&mut c, &[1, 2, 3]); // stamps heard
    heartbeat(&mut c, &[1, 2, 3]); // a round proves them
    heartbeat(&mut c, &[1, 2, 3]); // the proof reaches the follower
    let index = read_stale(&mut c, 2, 2, 100).expect("served");
    assert!(
        index >= pos.index,
        "the state covers the write committed before"
    );
    let staleness = provable(read_stale(&mut c, 2, 3, 0)).expect("a proof");
    assert!((1..=6).contains(&staleness), "{staleness}");
    // Linearizable reads are unchanged.
    c.step(2, Input::ReadIndex(4));
    c.deliver_all();
    assert!(c
        .read_outcomes
        .iter()
        .any(|&(n, r, o)| (n, r) == (2, 4) && o.is_ok()));
}

/// Cut off from the leader, a follower's provable staleness grows tick by tick, and a read
/// with a tighter bound is refused with how stale the node can prove itself.
#[test]
fn a_follower_refuses_past_the_bound() {
    let mut c = cluster(3, 0, true);
    c.elect(1);
    for _ in 0..3 {
        heartbeat(&mut c, &[1, 2, 3]);
    }
    let before = provable(read_stale(&mut c, 2, 1, 0)).expect("a proof");
    c.isolate(2);
    for _ in 0..10 {
        c.tick(2);
    }
    c.deliver_all();
    let stale = provable(read_stale(&mut c, 2, 2, 5)).expect("a proof");
    assert_eq!(stale, before + 10);
    assert_eq!(read_stale(&mut c, 2, 3, stale as u32).map(|_| ()), Ok(()));
    assert_eq!(
        read_stale(&mut c, 2, 4, 5),
        Err(ReadError::TooStale {
            max_staleness_ticks: 5,
            provable_ticks: Some(stale)
        })
    );
}

/// After a restart the node's ticks start again at 0: the leader's proof of the earlier
/// incarnation's stamp is ignored (and counted) until a stamp of the new one is proved.
#[test]
fn a_restarted_follower_ignores_its_earlier_incarnations_proof() {
    let mut c = cluster(3, 0, true);
    c.elect(1);
    for _ in 0..3 {
        heartbeat(&mut c, &[1, 2, 3]);
    }
    read_stale(&mut c, 2, 1, 100).expect("served");
    c.crash(2);
    c.restart(2);
    // The leader's next heartbeat still carries the old incarnation's proof.
    heartbeat(&mut c, &[1, 2, 3]);
    assert!(c.node(2).counters().freshness_proof_ignored >= 1);
    assert_eq!(provable(read_stale(&mut c, 2, 2, 100)), None);
    for _ in 0..3 {
        heartbeat(&mut c, &[1, 2, 3]);
    }
    read_stale(&mut c, 2, 3, 100).expect("proved again in the new incarnation");
}

/// A leader cut off in a minority gets no round confirmed: its follower's proofs age, and the
/// follower refuses reads once the newer leader's writes could be missing from its state.
#[test]
fn a_deposed_leaders_followers_stop_proving() {
    let mut c = cluster(5, 0, false);
    c.elect(1);
    for _ in 0..3 {
        heartbeat(&mut c, &[1, 2, 3, 4, 5]);
    }
    read_stale(&mut c, 2, 1, 8).expect("served");
    // {1, 2} | {3, 4, 5}: the majority elects a leader and commits a write.
    for a in [1, 2] {
        for b in [3, 4, 5] {
            c.cut.insert((a, b));
            c.cut.insert((b, a));
        }
    }
    let mut new = None;
    for _ in 0..200 {
        heartbeat(&mut c, &[1, 2, 3, 4, 5]);
        new = [3, 4, 5]
            .into_iter()
            .find(|&id| c.node(id).role() == Role::Leader);
        if new.is_some() {
            break;
        }
    }
    let new = new.expect("a new leader");
    let newer = c.propose(new, "y").unwrap();
    heartbeat(&mut c, &[1, 2, 3, 4, 5]);
    assert_eq!(
        c.node(1).role(),
        Role::Leader,
        "no check-quorum: 1 still leads"
    );
    assert!(c.node(2).status().applied < newer.index);
    // Node 2 still hears from its deposed leader, but no round of it is confirmed.
    let stale = provable(read_stale(&mut c, 2, 2, 8)).expect("its old proof");
    assert!(stale > 8, "{stale}");
}

/// A learner answers heartbeats like a follower and proves its freshness the same way.
#[test]
fn a_learner_serves_bounded_staleness_reads() {
    let mut c = cluster(1, 1, true);
    c.elect(1);
    c.change(1, ConfChange::add_learner(2)).expect("accepted");
    c.deliver_all();
    let pos = c.propose(1, "x").unwrap();
    c.deliver_all();
    for _ in 0..3 {
        heartbeat(&mut c, &[1, 2]);
    }
    let index = read_stale(&mut c, 2, 1, 10).expect("served at the learner");
    assert!(index >= pos.index);
}

/// A leader proves its own freshness from its confirmed rounds; a single voter confirms its
/// round as it begins it, so even a bound of 0 is served in that tick.
#[test]
fn a_leader_proves_its_own_freshness() {
    let mut c = cluster(1, 0, true);
    c.elect(1);
    c.propose(1, "x").unwrap();
    c.deliver_all();
    heartbeat(&mut c, &[1]);
    read_stale(&mut c, 1, 1, 0).expect("served: the round of this tick is confirmed");
    c.tick(1);
    assert_eq!(provable(read_stale(&mut c, 1, 2, 0)), Some(1));
    let mut c = cluster(3, 0, true);
    c.elect(1);
    heartbeat(&mut c, &[1, 2, 3]);
    read_stale(&mut c, 1, 3, 4).expect("served by a leader of three");
}

fn heartbeat_with(term: u64, stamp: Stamp) -> Message {
    Message {
        from: 1,
        to: 2,
        term,
        body: Body::Heartbeat(Heartbeat {
            commit: 0,
            round: 1,
            proof: Some(FreshnessProof { stamp, commit: 0 }),
            quiesce: false,
        }),
    }
}

/// A proof about another incarnation, about a stamp from the node's future, or in a stale
/// term is ignored and counted; a good one is kept.
#[test]
fn bad_freshness_proofs_are_ignored_and_counted() {
    let state = DurableState::bootstrap(Membership::with_voters([1, 2, 3]));
    let mut node = Node::new(Config::new(2, 1), state, 5).unwrap();
    for _ in 0..3 {
        let _ = node.step(Input::Tick);
    }
    let read = |node: &mut Node, id| {
        node.step(Input::ReadStale {
            id,
            max_staleness_ticks: 10,
        })
    };
    let other = Stamp {
        incarnation: 4,
        tick: 1,
    };
    let future = Stamp {
        incarnation: 5,
        tick: 4,
    };
    let _ = node.step(Input::Message(heartbeat_with(1, other)));
    let _ = node.step(Input::Message(heartbeat_with(1, future)));
    assert_eq!(node.counters().freshness_proof_ignored, 2);
    let _ = node.step(Input::Message(heartbeat_with(2, other)));
    let mine = Stamp {
        incarnation: 5,
        tick: 2,
    };
    let stale_term = node.counters().stale_term;
    let _ = node.step(Input::Message(heartbeat_with(1, mine)));
    assert_eq!(node.counters().stale_term, stale_term + 1);
    assert!(matches!(
        read(&mut node, 1)[..],
        [sansraft::Action::ReadFailed { .. }]
    ));
    let _ = node.step(Input::Message(heartbeat_with(2, mine)));
    assert!(matches!(
        read(&mut node, 2)[..],
        [sansraft::Action::ReadReady { id: 2, index: 0 }]
    ));
    assert_eq!(node.counters().stale_read_refused, 1);
}
