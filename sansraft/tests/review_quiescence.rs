//! Review findings on quiescence (docs/design.md §12): each test states the behaviour Raft
//! without quiescence has, and fails where quiescence loses it.

use sansraft::message::{HeartbeatResponse, ReadIndexResponse, VoteRequest};
use sansraft::{Body, Config, Input, Message, NodeId};
use sansraft_testkit::Cluster;

const T: usize = 10;

fn config(id: NodeId) -> Config {
    Config {
        quiesce: true,
        ..Config::new(id, id * 7919)
    }
}

/// Quiescence with leader stickiness off (a valid configuration: stickiness is needed only by
/// lease reads), pre-vote on (the default).
fn unsticky(id: NodeId) -> Config {
    Config {
        leader_stickiness: false,
        ..config(id)
    }
}

fn quiet_group(n: u64, cfg: fn(NodeId) -> Config) -> Cluster {
    let mut c = Cluster::with_config(n, cfg).checked();
    c.elect(1);
    let ids = c.ids();
    for _ in 0..10 * T {
        if ids.iter().all(|&id| c.node(id).is_quiet()) {
            return c;
        }
        for &id in &ids {
            c.tick(id);
        }
        c.deliver_all();
    }
    panic!("not quiet");
}

fn round(c: &mut Cluster) {
    for id in c.ids() {
        c.tick(id);
    }
    c.deliver_all();
}

fn polls_from(c: &Cluster, from: NodeId, since: usize) -> usize {
    c.sent_log[since..]
        .iter()
        .filter(|m| m.from == from && matches!(m.body, Body::Vote(VoteRequest { pre_vote: true, .. })))
        .count()
}

fn is_notice(m: &Message) -> bool {
    matches!(
        m.body,
        Body::HeartbeatResponse(HeartbeatResponse {
            stamp: None,
            quiet: false,
            ..
        })
    )
}

/// Finding 1. A message from the leader's node that is not a current-term leader message (here
/// a late or duplicated answer to a follower read that already timed out) wakes a quiet follower
/// but, as `wake(Some(leader))` assumes the leader knows, sends no notice: the follower's timer
/// runs while its leader sleeps, and it polls after T. Without stickiness the poll wins and the
/// healthy leader is deposed.
#[test]
fn a_late_read_answer_from_the_leader_wakes_a_follower_without_a_notice() {
    let mut c = quiet_group(3, unsticky);
    let term = c.node(1).term();
    let sent = c.sent_log.len();
    let late = Message {
        from: 1,
        to: 2,
        term,
        body: Body::ReadIndexResponse(ReadIndexResponse {
            id: 42,
            index: Some(1),
        }),
    };
    c.step(2, Input::Message(late));
    let woke = !c.node(2).is_quiet();
    let told = c.sent_log[sent..].iter().any(is_notice);
    for _ in 0..4 * T {
        round(&mut c);
    }
    assert!(
        !woke || told,
        "node 2 woke (quiet: {}) but told nobody; then polled {} times, leaders {:?}, term {} -> {}",
        c.node(2).is_quiet(),
        polls_from(&c, 2, sent),
        c.leaders(),
        term,
        c.node(1).term()
    );
}

/// Finding 2. A woken follower's one notice is lost: nothing repeats it, the leader stays quiet
/// and the follower polls after T; without stickiness that poll deposes the healthy leader.
/// Raft without quiescence never loses its leader to one lost message (heartbeats repeat).
#[test]
fn one_lost_notice_costs_an_election() {
    let mut c = quiet_group(3, unsticky);
    let term = c.node(1).term();
    // A proposal sent to the wrong node: refused (not leader), but it wakes the follower.
    let _ = c.propose(2, "misrouted");
    assert!(!c.node(2).is_quiet());
    let notice = c.network.iter().position(is_notice).expect("a notice");
    c.network.remove(notice);
    for _ in 0..4 * T {
        round(&mut c);
    }
    assert_eq!(
        (c.leaders(), c.node(1).term()),
        (vec![1], term),
        "one lost message changed the leader"
    );
}

/// Finding 3. A follower of a quiet group restarts: nobody tells it who leads, so it polls after
/// T; without stickiness the poll (granted by quiet voters and by the leader itself) deposes the
/// healthy leader. Without quiescence it hears a heartbeat within an interval and never polls.
#[test]
fn a_restarted_follower_of_a_quiet_group_deposes_its_leader_without_stickiness() {
    let mut c = quiet_group(3, unsticky);
    let term = c.node(1).term();
    c.crash(3);
    c.restart(3);
    for _ in 0..4 * T {
        round(&mut c);
    }
    assert_eq!(
        (c.leaders(), c.node(1).term()),
        (vec![1], term),
        "a follower's restart changed the leader"
    );
}

/// Control for findings 2 and 3: the same faults without quiescence change nothing.
#[test]
fn control_without_quiescence_neither_fault_changes_the_leader() {
    fn plain(id: NodeId) -> Config {
        Config {
            quiesce: false,
            ..unsticky(id)
        }
    }
    let mut c = Cluster::with_config(3, plain).checked();
    c.elect(1);
    c.run(5 * T);
    let term = c.node(1).term();
    let _ = c.propose(2, "misrouted");
    c.crash(3);
    c.restart(3);
    for _ in 0..4 * T {
        round(&mut c);
    }
    assert_eq!((c.leaders(), c.node(1).term()), (vec![1], term));
}
