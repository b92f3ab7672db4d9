//! Findings of a review of quiescence (docs/design.md §12), each kept as a test of its fix:
//! what Raft without quiescence does (a live leader survives one lost message, a follower's
//! restart, a wrong failure report), quiescence must do too.

use sansraft::message::{HeartbeatResponse, ReadIndexResponse, VoteRequest};
use sansraft::{Body, Config, Input, Message, NodeId};
use sansraft_testkit::Cluster;

use super::{config, is_notice, T};

/// Leader stickiness off (the Raft paper's voting, valid without quiescence), pre-vote on.
fn unsticky(id: NodeId) -> Config {
    Config {
        leader_stickiness: false,
        ..Config::new(id, id * 7919)
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
        .filter(|m| {
            m.from == from && matches!(m.body, Body::Vote(VoteRequest { pre_vote: true, .. }))
        })
        .count()
}

/// Finding 1. A message from the leader's node that is not a current-term leader message (here
/// a late or duplicated answer to a follower read that already timed out) wakes a quiet follower
/// sent no notice at first (it took any message from the leader's node for the leader's own
/// word): the follower's timer ran while its leader slept, and it polled after T. Now only a
/// leader message of the current term counts as that; otherwise the follower tells its leader.
#[test]
fn a_late_read_answer_from_the_leader_wakes_a_follower_with_a_notice() {
    let mut c = quiet_group(3, config);
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
    assert_eq!(polls_from(&c, 2, sent), 0, "node 2 polled");
    assert_eq!((c.leaders(), c.node(1).term()), (vec![1], term));
}

/// Finding 2. A woken follower's one notice is lost: nothing repeated it, the leader stayed
/// quiet and the follower polled after T. Raft without quiescence never loses its leader to one
/// lost message (heartbeats repeat); now the follower repeats its notice every heartbeat
/// interval until its leader is heard from.
#[test]
fn one_lost_notice_costs_nothing() {
    let mut c = quiet_group(3, config);
    let term = c.node(1).term();
    let sent = c.sent_log.len();
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
    assert_eq!(polls_from(&c, 2, sent), 0, "node 2 polled");
}

/// Finding 3. A follower of a quiet group restarts: nobody told it who leads, so it polled after
/// T. Without quiescence it hears a heartbeat within an interval and never polls; now it greets
/// the voters on its first tick, and the quiet leader wakes and heartbeats.
#[test]
fn a_restarted_follower_of_a_quiet_group_hears_its_leader() {
    let mut c = quiet_group(3, config);
    let term = c.node(1).term();
    let sent = c.sent_log.len();
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
    assert_eq!(polls_from(&c, 3, sent), 0, "the restarted node polled");
}

/// Control for findings 2 and 3: the same faults without quiescence change nothing.
#[test]
fn control_without_quiescence_neither_fault_changes_the_leader() {
    fn plain(id: NodeId) -> Config {
        unsticky(id)
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

/// Finding 6 (simulator/test-kit oracle). The EarlyCampaign oracle treats every
/// `PeerUnreachable` as the follower's timeout having run out, whatever node it names and even
/// with lease reads on; the engine does so only for a report about the node's own leader, with
/// lease reads off. So a regression that let a report about some other node (or any report
/// under a lease) start a campaign at once would pass the oracle. Here: node 2 just heard its
/// leader 1, is told node 3 (not its leader) is unreachable, and campaigns on the next tick.
#[test]
fn the_early_campaign_oracle_excuses_a_report_about_the_wrong_node() {
    use sansraft::Role;
    use sansraft_testkit::checker::{Before, ElectionTimers};
    // Quiescence off so that the node stays awake and ticks count (the relaxation is the
    // same either way).
    let mut c = Cluster::with_config(3, |id| Config {
        lease_reads: true,
        quiesce: false,
        ..config(id)
    });
    let leader = c.run_until_leader();
    c.run(T);
    let (f, other) = match leader {
        1 => (2, 3),
        2 => (3, 1),
        _ => (1, 2),
    };
    let node = c.node(f);
    assert_eq!(node.leader(), Some(leader));
    let mut timers = ElectionTimers::new(3, T as u32);
    // A heartbeat from the leader: the timer restarts.
    let heard = Message {
        from: leader,
        to: f,
        term: node.term(),
        body: Body::Heartbeat(sansraft::message::Heartbeat {
            commit: 0,
            round: 0,
            proof: None,
            quiesce: false,
        }),
    };
    let b = Before::of(node, &Input::Message(heard));
    let i = f as usize - 1;
    timers
        .after_step(i, f, b, Role::Follower, node.vote())
        .unwrap();
    let b = Before::of(node, &Input::PeerUnreachable(other));
    timers
        .after_step(i, f, b, Role::Follower, node.vote())
        .unwrap();
    // The node (wrongly) polls on the very next tick.
    let b = Before::of(node, &Input::Tick);
    let verdict = timers.after_step(i, f, b, Role::PreCandidate, node.vote());
    assert!(
        verdict.is_err(),
        "a poll one tick after hearing the leader passed the oracle because of a report about \
         a node that is not the leader, with lease reads on"
    );
}

/// Finding 5. The failover stagger is `T / n × rank` in integer arithmetic: with T = 5 and seven
/// voters (six that may lead once the leader is gone) the share is 0, and every survivor told
/// at once campaigns on the same tick, the split vote the stagger exists to prevent.
#[test]
fn the_failover_stagger_vanishes_when_t_is_below_the_member_count() {
    fn short(id: NodeId) -> Config {
        Config {
            election_timeout_ticks: 5,
            heartbeat_interval_ticks: 1,
            ..config(id)
        }
    }
    let mut c = quiet_group(7, short);
    c.crash(1);
    let survivors: Vec<NodeId> = (2..=7).collect();
    let sent = c.sent_log.len();
    for &id in &survivors {
        c.step(id, Input::PeerUnreachable(1));
    }
    for &id in &survivors {
        c.tick(id);
    }
    let first: Vec<NodeId> = survivors
        .iter()
        .copied()
        .filter(|&id| polls_from(&c, id, sent) > 0)
        .collect();
    assert_eq!(first, [2], "campaigned on the first tick");
}

/// Finding 3, second configuration: stickiness on (the default) but pre-vote off. The restarted
/// follower's real campaign moves it to a new term; stickiness makes the others ignore it, but
/// the leader's next heartbeat meets the higher term and the leader steps down.
#[test]
fn a_restarted_follower_of_a_quiet_group_deposes_its_leader_without_pre_vote() {
    fn no_pre_vote(id: NodeId) -> Config {
        Config {
            pre_vote: false,
            ..config(id)
        }
    }
    let mut c = quiet_group(3, no_pre_vote);
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

/// Control for the test above: without quiescence the restart changes nothing.
#[test]
fn control_without_quiescence_a_restart_without_pre_vote_changes_nothing() {
    let mut c = Cluster::with_config(3, |id| Config {
        pre_vote: false,
        quiesce: false,
        ..config(id)
    })
    .checked();
    c.elect(1);
    c.run(5 * T);
    let term = c.node(1).term();
    c.crash(3);
    c.restart(3);
    for _ in 0..4 * T {
        round(&mut c);
    }
    assert_eq!((c.leaders(), c.node(1).term()), (vec![1], term));
}

/// Finding 4. Without leader stickiness a poll is granted whatever leader the voter hears
/// (etcd's rule), so one wrong failure report (or one lost notice) would depose a live leader:
/// quiescence needs stickiness, and a configuration without it is refused.
#[test]
fn quiescence_needs_leader_stickiness() {
    let unsticky_quiet = Config {
        quiesce: true,
        ..unsticky(1)
    };
    assert_eq!(
        unsticky_quiet.validate(),
        Err(sansraft::ConfigError::QuiesceNeedsStickiness)
    );
    assert_eq!(config(1).validate(), Ok(()));
}

/// Finding 2, second configuration: stickiness on (the default), pre-vote off.
#[test]
fn one_lost_notice_costs_an_election_without_pre_vote() {
    fn no_pre_vote(id: NodeId) -> Config {
        Config {
            pre_vote: false,
            ..config(id)
        }
    }
    let mut c = quiet_group(3, no_pre_vote);
    let term = c.node(1).term();
    let _ = c.propose(2, "misrouted");
    let notice = c.network.iter().position(is_notice).expect("a notice");
    c.network.remove(notice);
    for _ in 0..4 * T {
        round(&mut c);
    }
    assert_eq!((c.leaders(), c.node(1).term()), (vec![1], term));
}

/// Finding 8. A member marked unreachable misses an entry; the rest goes quiet without it; the
/// partition heals, and nothing brought it up to date (a quiet leader sends nothing): the group
/// ran at reduced redundancy until the next wake. Without quiescence the next heartbeat after
/// the heal would. Now the detector's report that the member is reachable again
/// (`Input::PeerReachable`) wakes the leader.
#[test]
fn a_member_marked_unreachable_catches_up_once_reported_reachable() {
    let mut c = quiet_group(3, config);
    c.isolate(3);
    c.step(1, Input::PeerUnreachable(3));
    c.propose(1, "missed").unwrap();
    for _ in 0..10 * T {
        round(&mut c);
        if c.node(1).is_quiet() && c.node(2).is_quiet() {
            break;
        }
    }
    assert!(c.node(1).is_quiet(), "the leader went quiet without node 3");
    c.heal();
    c.step(1, Input::PeerReachable(3));
    for _ in 0..10 * T {
        round(&mut c);
    }
    assert_eq!(
        c.node(3).status().last_index,
        c.node(1).status().last_index,
        "node 3 caught up after the heal"
    );
}

/// Checked sound (passes): the leader was wrongly told node 3 is unreachable, node 3 missed the
/// new entry, and its quiet answer to a quiescing round (its log ends at the stale match index
/// the heartbeat carries) arrives after the leader went quiet. The answer wakes nobody, but it
/// re-arms the probe, and the quiet leader's probe wakes node 3, whose answer wakes the leader.
#[test]
fn a_late_quiet_answer_from_a_member_behind_is_healed_by_the_probe() {
    let mut c = quiet_group(3, config);
    c.step(1, Input::PeerUnreachable(3));
    c.propose(1, "missed").unwrap();
    let mut held = None;
    for _ in 0..10 * T {
        for id in c.ids() {
            c.tick(id);
        }
        while let Some(m) = c.network.pop_front() {
            let to_3_quiescing = m.to == 3 && matches!(m.body, Body::Heartbeat(h) if h.quiesce);
            if m.from == 3 && held.is_none() {
                held = Some(m);
            } else if m.to == 3 && !(to_3_quiescing && held.is_none()) {
                // Lost: the append, and every later message to node 3.
            } else if m.from != 3 {
                c.deliver(m);
            }
        }
        if c.node(1).is_quiet() && held.is_some() {
            break;
        }
    }
    assert!(c.node(1).is_quiet(), "the leader went quiet without node 3");
    let held = held.expect("node 3 answered a quiescing heartbeat");
    assert!(matches!(
        held.body,
        Body::HeartbeatResponse(HeartbeatResponse { quiet: true, .. })
    ));
    c.deliver(held);
    for _ in 0..10 * T {
        round(&mut c);
    }
    assert_eq!(
        c.node(3).status().last_index,
        c.node(1).status().last_index,
        "node 3 caught up (leader quiet: {})",
        c.node(1).is_quiet()
    );
}

/// Found by the multi-group simulator (calm seed 171): heartbeat round 9 (not quiescing) and
/// round 10 (quiescing) were reordered; the follower went quiet on 10, then 9 woke it, and, the
/// waker being its own leader, it told nobody: its timer ran while the leader slept, and it
/// campaigned. A late duplicate of the leader's (a heartbeat of a round already answered, an
/// append of entries held) says nothing new and keeps a quiet follower quiet.
#[test]
fn a_late_duplicate_from_the_leader_keeps_a_quiet_follower_quiet() {
    use sansraft::message::{Append, Heartbeat};
    let mut c = quiet_group(3, config);
    let (term, commit) = (c.node(1).term(), c.node(2).status().commit);
    let sent = c.sent_log.len();
    let late = [
        Body::Heartbeat(Heartbeat {
            commit,
            round: 1,
            proof: None,
            quiesce: false,
        }),
        Body::Append(Append {
            prev_index: 0,
            prev_term: 0,
            commit,
            entries: Default::default(),
        }),
    ];
    for body in late {
        let m = Message {
            from: 1,
            to: 2,
            term,
            body,
        };
        c.step(2, Input::Message(m));
        assert!(c.node(2).is_quiet(), "a late duplicate woke the follower");
    }
    for _ in 0..4 * T {
        round(&mut c);
    }
    assert_eq!(polls_from(&c, 2, sent), 0, "node 2 polled");
    assert_eq!((c.leaders(), c.node(1).term()), (vec![1], term));
}
