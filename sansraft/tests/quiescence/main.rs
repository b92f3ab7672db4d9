//! Quiescence ([`Config::quiesce`], docs/design.md "Quiescence"), one test per rule: an idle
//! group goes quiet and stays silent, any input but a tick or a storage or application report
//! wakes it, a quiet follower learns of its leader's failure only from the embedder's failure
//! detector (`Input::PeerUnreachable`), a leader goes quiet without members marked unreachable
//! if the rest is a quorum, and nothing that rests on elapsed ticks (leases, freshness proofs)
//! survives a quiet period.

use sansraft::message::{Heartbeat, HeartbeatResponse, VoteRequest};
use sansraft::{
    Body, ConfChange, Config, DurableState, Entry, EntryKind, Input, Membership, Message, Node,
    NodeId, Priority, ReadError, Role, WriteToken,
};
use sansraft_testkit::{step_collect, step_durable, Cluster};

/// The review's findings, each kept as a test of its fix.
mod review;

/// The election timeout T of [`Config::new`], in ticks.
const T: usize = 10;
/// The heartbeat interval of [`Config::new`], in ticks.
const HEARTBEAT: usize = 2;

fn config(id: NodeId) -> Config {
    Config {
        quiesce: true,
        ..Config::new(id, id * 7919)
    }
}

fn lease_config(id: NodeId) -> Config {
    Config {
        lease_reads: true,
        ..config(id)
    }
}

/// `n` voters with quiescence on, checked by the safety checker.
fn cluster(n: u64) -> Cluster {
    Cluster::with_config(n, config).checked()
}

/// The up nodes, in id order.
fn up(c: &Cluster) -> Vec<NodeId> {
    c.peers
        .iter()
        .filter_map(|p| p.node.as_ref())
        .map(|n| n.id())
        .collect()
}

/// `Node::needs_ticks` is `!is_quiet()` at every up node, and the checker found nothing.
fn check(c: &Cluster) {
    for id in up(c) {
        let node = c.node(id);
        assert_eq!(node.needs_ticks(), !node.is_quiet(), "node {id}");
    }
    assert!(c.breach.is_none(), "checker: {:?}", c.breach);
}

/// One tick of each node in `ids`, then every message delivered.
fn round(c: &mut Cluster, ids: &[NodeId]) {
    for &id in ids {
        c.tick(id);
    }
    c.deliver_all();
    check(c);
}

fn all_quiet(c: &Cluster, ids: &[NodeId]) -> bool {
    ids.iter().all(|&id| c.node(id).is_quiet())
}

/// Rounds of `ids` until each of them is quiet (at most `max`); returns the rounds taken.
fn run_until_quiet(c: &mut Cluster, ids: &[NodeId], max: usize) -> usize {
    for n in 0..=max {
        if all_quiet(c, ids) {
            return n;
        }
        round(c, ids);
    }
    let state: Vec<_> = ids
        .iter()
        .map(|&id| (id, c.node(id).role(), c.node(id).is_quiet()))
        .collect();
    panic!("not quiet after {max} rounds: {state:?}");
}

/// `n` voters, node 1 elected, the group quiet.
fn quiet_group(n: u64) -> Cluster {
    let mut c = cluster(n);
    c.elect(1);
    let ids = c.ids();
    run_until_quiet(&mut c, &ids, 10 * T);
    c
}

/// Three voters with quiescence and lease reads on, quiet; and their leader (with leases,
/// nodes honour a possible lease for their first election timeout: any may win).
fn quiet_lease_group() -> (Cluster, NodeId) {
    let mut c = Cluster::with_config(3, lease_config).checked();
    let leader = c.run_until_leader();
    run_until_quiet(&mut c, &[1, 2, 3], 10 * T);
    (c, leader)
}

/// The nodes but `id`.
fn others(c: &Cluster, id: NodeId) -> Vec<NodeId> {
    c.ids().into_iter().filter(|&o| o != id).collect()
}

/// The heartbeats in `sent` that ask the group to go quiet.
fn quiescing(sent: &[Message]) -> Vec<&Message> {
    sent.iter()
        .filter(|m| matches!(m.body, Body::Heartbeat(Heartbeat { quiesce: true, .. })))
        .collect()
}

/// A woken follower's notice to its leader: a heartbeat answer that is not quiet and carries
/// no stamp (a real answer carries one).
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

/// The outcome of read `read` at `node`, if answered.
fn read_outcome(c: &Cluster, node: NodeId, read: u64) -> Option<Result<u64, ReadError>> {
    c.read_outcomes
        .iter()
        .find(|&&(n, r, _)| (n, r) == (node, read))
        .map(|&(_, _, outcome)| outcome)
}

/// Asks `node` for a read at most `bound` ticks stale; returns its outcome (answered at once).
fn read_stale(c: &mut Cluster, node: NodeId, read: u64, bound: u32) -> Result<u64, ReadError> {
    c.step(
        node,
        Input::ReadStale {
            id: read,
            max_staleness_ticks: bound,
        },
    );
    read_outcome(c, node, read).expect("answered in the same step")
}

/// The node's whole state, to show that an input changed nothing.
fn state_of(c: &Cluster, id: NodeId) -> String {
    format!("{:?}", c.node(id))
}

// ---------------------------------------------------------------------------------------------
// Going quiet.

/// An idle group goes quiet once its leader's entry is committed: every member `is_quiet`,
/// needs no ticks, counts one transition, and then sends nothing and changes nothing however
/// long it is ticked (a quiet node's clock stands still).
#[test]
fn an_idle_group_goes_quiet_and_stays_silent() {
    for n in [3, 5] {
        let mut c = cluster(n);
        c.elect(1);
        let ids = c.ids();
        let rounds = run_until_quiet(&mut c, &ids, 10 * T);
        assert!(rounds <= HEARTBEAT, "n={n}: quiet after {rounds} rounds");
        for &id in &ids {
            let node = c.node(id);
            assert!(node.is_quiet() && !node.needs_ticks(), "n={n}: node {id}");
            assert_eq!(node.counters().quiesced, 1, "n={n}: node {id}");
            let expected = if id == 1 {
                Role::Leader
            } else {
                Role::Follower
            };
            assert_eq!(node.role(), expected);
        }
        let sent = c.sent_log.len();
        let before: Vec<String> = ids.iter().map(|&id| state_of(&c, id)).collect();
        for _ in 0..20 * T {
            round(&mut c, &ids);
        }
        assert_eq!(c.sent_log.len(), sent, "n={n}: a quiet group sends nothing");
        let after: Vec<String> = ids.iter().map(|&id| state_of(&c, id)).collect();
        assert_eq!(before, after, "n={n}: ticks change nothing at a quiet node");
        // A tick at a quiet node returns no action at all.
        let node = c.peer(2).node.as_mut().unwrap();
        assert_eq!(node.step(Input::Tick), vec![]);
    }
}

/// The leader asks at a heartbeat, and goes quiet only after its followers answered that they
/// went quiet: the followers go quiet first, on the quiescing heartbeat.
#[test]
fn followers_go_quiet_on_the_quiescing_heartbeat_and_the_leader_on_their_answers() {
    let mut c = cluster(3);
    c.elect(1);
    let ids = c.ids();
    // Tick until the leader sends its first quiescing heartbeats; deliver nothing yet.
    for _ in 0..10 * T {
        c.tick_all();
        if !quiescing(c.network.make_contiguous()).is_empty() {
            break;
        }
        c.deliver_all();
    }
    let asked = quiescing(c.network.make_contiguous()).len();
    assert_eq!(asked, 2, "one quiescing heartbeat per follower");
    assert!(!c.node(1).is_quiet(), "the leader waits for the answers");
    // Deliver the heartbeats only: the followers go quiet and answer so.
    for _ in 0..c.network.len() {
        let m = c.network.pop_front().unwrap();
        if matches!(m.body, Body::Heartbeat(_)) {
            c.deliver(m);
        } else {
            c.network.push_back(m);
        }
    }
    assert!(c.node(2).is_quiet() && c.node(3).is_quiet());
    assert!(!c.node(1).is_quiet());
    c.deliver_all();
    assert!(all_quiet(&c, &ids));
    check(&c);
}

/// Quiescence is off by default: the leader heartbeats forever and never asks.
#[test]
fn without_quiesce_a_group_never_goes_quiet() {
    let mut c = Cluster::new(3).checked();
    c.elect(1);
    let ids = c.ids();
    let sent = c.sent_log.len();
    for _ in 0..20 * T {
        round(&mut c, &ids);
        assert!(ids.iter().all(|&id| !c.node(id).is_quiet()));
    }
    let heartbeats = c.sent_log[sent..]
        .iter()
        .filter(|m| matches!(m.body, Body::Heartbeat(_)))
        .count();
    assert_eq!(
        heartbeats,
        2 * 20 * T / HEARTBEAT,
        "a heartbeat per interval"
    );
    assert!(quiescing(&c.sent_log).is_empty());
    for id in ids {
        assert_eq!(c.node(id).counters().quiesced, 0);
    }
}

/// A follower goes quiet only if its log ends at the quiescing heartbeat's commit index, all
/// of it committed and durable; else it answers `quiet: false` and stays awake.
#[test]
fn a_follower_goes_quiet_only_with_its_whole_log_committed_and_durable() {
    let state = DurableState::bootstrap(Membership::with_voters([1, 2, 3]));
    let mut node = Node::new(config(2), state, 0).unwrap();
    let entry = |index| Entry {
        term: 1,
        index,
        kind: EntryKind::Normal,
        data: bytes::Bytes::from_static(b"x"),
    };
    let append = Message {
        from: 1,
        to: 2,
        term: 1,
        body: Body::Append(sansraft::message::Append {
            prev_index: 0,
            prev_term: 0,
            commit: 1,
            entries: vec![entry(1), entry(2)].into(),
        }),
    };
    let heartbeat = |round, commit, quiesce| {
        Input::Message(Message {
            from: 1,
            to: 2,
            term: 1,
            body: Body::Heartbeat(Heartbeat {
                commit,
                round,
                proof: None,
                quiesce,
            }),
        })
    };
    // Whether the one heartbeat answer among `sent` says quiet.
    let answer = |sent: &[Message]| {
        let answers: Vec<bool> = (sent.iter())
            .filter_map(|m| match m.body {
                Body::HeartbeatResponse(r) => Some(r.quiet),
                _ => None,
            })
            .collect();
        match answers[..] {
            [quiet] => quiet,
            _ => panic!("expected one heartbeat answer in {sent:?}"),
        }
    };
    // The leader's term is durable (a follower's answers leave only then); the entries arrive
    // but are not durable yet.
    step_durable(&mut node, heartbeat(1, 0, false));
    let out = step_collect(&mut node, Input::Message(append));
    let write = out.writes[0].token;
    // Log ends at 2, not durable: not quiet, whatever the commit index; the answer leaves once
    // the entries are durable, and says so.
    step_collect(&mut node, heartbeat(2, 2, true));
    assert!(!node.is_quiet(), "not durable");
    let out = step_durable(&mut node, Input::Persisted(write));
    assert!(!answer(&out.sent), "the held answer is not quiet");
    // Durable, but the log goes beyond the commit index the leader sends.
    let out = step_durable(&mut node, heartbeat(3, 1, true));
    assert!(
        !answer(&out.sent) && !node.is_quiet(),
        "entry 2 not committed"
    );
    // Durable, committed, ending at the commit index: quiet.
    let out = step_durable(&mut node, heartbeat(4, 2, true));
    assert!(answer(&out.sent) && node.is_quiet());
    assert_eq!(node.counters().quiesced, 1);
}

/// A follower with a read under way does not go quiet on a quiescing heartbeat (and the read
/// it forwarded keeps the leader from going quiet): the read completes, then the group goes
/// quiet.
#[test]
fn a_follower_with_a_read_under_way_does_not_go_quiet() {
    let mut c = cluster(3);
    c.elect(1);
    let ids = c.ids();
    // Tick until the quiescing heartbeats are on their way; then a read at node 2.
    for _ in 0..10 * T {
        c.tick_all();
        if !quiescing(c.network.make_contiguous()).is_empty() {
            break;
        }
        c.deliver_all();
    }
    c.step(2, Input::ReadIndex(7));
    c.deliver_all();
    assert!(!c.node(2).is_quiet(), "a read under way");
    assert!(!c.node(1).is_quiet());
    run_until_quiet(&mut c, &ids, 10 * T);
    assert!(matches!(read_outcome(&c, 2, 7), Some(Ok(_))));
}

/// A learner is asked like any member and quiesces with its group.
#[test]
fn a_learner_quiesces_with_its_group() {
    let membership = Membership {
        voters: vec![1, 2, 3],
        learners: vec![4],
        ..Membership::default()
    };
    let mut c = Cluster::with_membership(membership, 4, config).checked();
    c.elect(1);
    c.propose(1, "x").unwrap();
    c.deliver_all();
    let ids = c.ids();
    run_until_quiet(&mut c, &ids, 10 * T);
    assert_eq!(c.applied_data(4), ["x"]);
    assert_eq!(c.node(4).counters().quiesced, 1);
    // Woken with the group, the learner receives the next entry and goes quiet again.
    c.propose(1, "y").unwrap();
    c.deliver_all();
    assert!(!c.node(4).is_quiet());
    run_until_quiet(&mut c, &ids, 10 * T);
    assert_eq!(c.applied_data(4), ["x", "y"]);
}

/// A witness holds the log without payloads; it quiesces like any voter.
#[test]
fn a_witness_quiesces_with_its_group() {
    let membership = Membership {
        voters: vec![1, 2, 3],
        witnesses: vec![3],
        ..Membership::default()
    };
    let mut c = Cluster::with_membership(membership, 3, |id| Config {
        witness: id == 3,
        ..config(id)
    })
    .checked();
    c.elect(1);
    c.propose(1, "x").unwrap();
    c.deliver_all();
    let ids = c.ids();
    run_until_quiet(&mut c, &ids, 10 * T);
    assert!(c.node(3).is_witness() && c.node(3).is_quiet());
    assert_eq!(c.node(3).counters().quiesced, 1);
    assert_eq!(c.node(3).status().commit, c.node(1).status().last_index);
}

/// A joint configuration under way keeps the group awake; once it is left, the group goes
/// quiet.
#[test]
fn a_joint_configuration_keeps_the_group_awake() {
    let membership = Membership {
        voters: vec![1, 2, 3],
        learners: vec![4],
        ..Membership::default()
    };
    let mut c = Cluster::with_membership(membership, 4, |id| Config {
        auto_leave_joint: false,
        ..config(id)
    })
    .checked();
    c.elect(1);
    c.deliver_all();
    c.change(1, ConfChange::promote(4)).expect("accepted");
    c.deliver_all();
    assert!(c.node(1).membership().is_joint());
    let ids = c.ids();
    for _ in 0..10 * T {
        round(&mut c, &ids);
        assert!(!c.node(1).is_quiet(), "joint: the leader stays awake");
    }
    assert!(quiescing(&c.sent_log).is_empty());
    c.change(1, ConfChange::leave_joint()).expect("accepted");
    c.deliver_all();
    run_until_quiet(&mut c, &ids, 10 * T);
    assert!(!c.node(1).membership().is_joint());
}

/// A leader of lower priority than a reachable voter does not quiesce: it hands over first,
/// and the preferred member's group goes quiet.
#[test]
fn a_leader_below_a_reachable_higher_priority_member_hands_over_before_quiescing() {
    let mut membership = Membership::with_voters([1, 2, 3]);
    membership.priorities = vec![Priority { id: 2, priority: 7 }];
    let mut c = Cluster::with_membership(membership, 3, config).checked();
    c.elect(1);
    let ids = c.ids();
    for _ in 0..10 * T {
        if c.leaders() == [2] && all_quiet(&c, &ids) {
            break;
        }
        assert!(!c.node(1).is_quiet(), "node 1 must hand over, not go quiet");
        round(&mut c, &ids);
    }
    assert_eq!(c.leaders(), [2], "handed over to the preferred member");
    assert!(all_quiet(&c, &ids));
    let from_1: Vec<_> = quiescing(&c.sent_log)
        .into_iter()
        .filter(|m| m.from == 1)
        .collect();
    assert!(from_1.is_empty(), "node 1 never asked: {from_1:?}");
    assert_eq!(c.node(1).counters().priority_transfers, 1);
}

/// The hand-over waits only for a higher-priority member that is reachable: marked unreachable,
/// it keeps the group awake no more.
#[test]
fn an_unreachable_higher_priority_member_does_not_keep_the_group_awake() {
    let mut membership = Membership::with_voters([1, 2, 3]);
    membership.priorities = vec![Priority { id: 2, priority: 7 }];
    let mut c = Cluster::with_membership(membership, 3, config).checked();
    c.elect(1);
    c.isolate(2);
    c.step(1, Input::PeerUnreachable(2));
    run_until_quiet(&mut c, &[1, 3], 20 * T);
    assert_eq!(c.leaders(), [1]);
}

/// A member marked unreachable is not handed leadership either: the leader, told that the
/// preferred member is unreachable, starts no transfer to it (which would refuse proposals and
/// keep the group awake until it aborts, an election timeout later) and goes quiet at its next
/// heartbeats.
#[test]
fn a_leader_hands_nothing_over_to_a_member_marked_unreachable() {
    let mut membership = Membership::with_voters([1, 2, 3]);
    membership.priorities = vec![Priority { id: 2, priority: 7 }];
    let mut c = Cluster::with_membership(membership, 3, config).checked();
    c.elect(1);
    c.isolate(2);
    c.step(1, Input::PeerUnreachable(2));
    for _ in 0..T {
        round(&mut c, &[1, 3]);
        assert_eq!(c.node(1).transfer_target(), None, "a transfer to node 2");
    }
    assert_eq!(c.node(1).counters().priority_transfers, 0);
    assert!(all_quiet(&c, &[1, 3]));
}

// ---------------------------------------------------------------------------------------------
// Waking.

/// A proposal at the quiet leader wakes it; its append wakes the followers (no notice: their
/// leader woke them), the entry commits everywhere, and the group goes quiet again.
#[test]
fn a_proposal_wakes_the_group_which_commits_and_goes_quiet_again() {
    let mut c = quiet_group(3);
    let ids = c.ids();
    let sent = c.sent_log.len();
    c.propose(1, "x").unwrap();
    assert!(!c.node(1).is_quiet(), "the proposal woke the leader");
    c.deliver_all();
    check(&c);
    assert!(ids.iter().all(|&id| !c.node(id).is_quiet()));
    let notices: Vec<_> = c.sent_log[sent..].iter().filter(|m| is_notice(m)).collect();
    assert!(notices.is_empty(), "woken by their leader: {notices:?}");
    run_until_quiet(&mut c, &ids, 10 * T);
    for id in ids {
        assert_eq!(c.applied_data(id), ["x"], "node {id}");
        assert_eq!(c.node(id).counters().quiesced, 2, "node {id}");
    }
}

/// A transfer request at the quiet leader wakes it; it hands over (the target, woken by its
/// leader's `TimeoutNow`, wins), and the group goes quiet again under the new leader.
#[test]
fn a_transfer_request_wakes_the_quiet_leader_which_hands_over() {
    let mut c = quiet_group(3);
    let ids = c.ids();
    c.step(1, Input::TransferLeadership(2));
    assert!(!c.node(1).is_quiet());
    c.deliver_all();
    assert_eq!(c.leaders(), [2]);
    assert_eq!(
        c.transfers,
        [(1, sansraft::TransferOutcome::Done { target: 2 })]
    );
    run_until_quiet(&mut c, &ids, 10 * T);
    assert_eq!(c.leaders(), [2]);
}

/// A follower that restarts comes back awake and knows no leader; its poll, when its timer runs
/// out, wakes the quiet leader (and the quiet follower, which tells the leader), which keeps
/// its leadership (stickiness) and heartbeats; the group goes quiet again in the same term.
#[test]
fn a_restarted_follower_rejoins_a_quiet_group() {
    let mut c = quiet_group(3);
    let ids = c.ids();
    let term = c.node(1).term();
    c.crash(3);
    c.restart(3);
    assert!(!c.node(3).is_quiet() && c.node(3).leader().is_none());
    let mut woke = false;
    for _ in 0..10 * T {
        round(&mut c, &ids);
        woke |= !c.node(1).is_quiet();
        if woke && all_quiet(&c, &ids) {
            break;
        }
    }
    assert!(woke, "the restarted follower's poll woke the leader");
    assert!(all_quiet(&c, &ids));
    assert_eq!(c.leaders(), [1]);
    assert_eq!(c.node(3).term(), term);
    assert_eq!(c.node(3).leader(), Some(1));
}

/// Storage and application reports (`Persisted`, `Applied`, `SnapshotTaken`) leave a quiet
/// node quiet; any other input, e.g. a campaign request, wakes it.
#[test]
fn storage_and_application_reports_do_not_wake_a_quiet_node() {
    let mut c = quiet_group(3);
    let ids = c.ids();
    c.take_snapshot(1);
    c.take_snapshot(2);
    let applied = c.node(3).status().applied;
    c.step(3, Input::Applied(applied));
    let stale = WriteToken {
        incarnation: 0,
        seq: 1,
    };
    c.step(3, Input::Persisted(stale));
    c.deliver_all();
    assert!(all_quiet(&c, &ids));
    // A campaign request wakes the follower (its poll then fails: the others still follow 1).
    c.step(
        3,
        Input::Campaign {
            skip_pre_vote: false,
        },
    );
    assert!(!c.node(3).is_quiet());
    check(&c);
}

/// A read at the quiet leader wakes it; it heartbeats at its next tick, that round confirms
/// the read, and the group goes quiet again.
#[test]
fn a_read_at_the_quiet_leader_completes() {
    let mut c = quiet_group(3);
    let ids = c.ids();
    c.step(1, Input::ReadIndex(7));
    assert!(!c.node(1).is_quiet());
    assert_eq!(read_outcome(&c, 1, 7), None, "a read needs a round");
    round(&mut c, &[1]);
    let index = c.node(1).status().commit;
    assert_eq!(read_outcome(&c, 1, 7), Some(Ok(index)));
    run_until_quiet(&mut c, &ids, 10 * T);
}

/// A read at a quiet follower wakes it; it forwards the read and tells its leader, which wakes,
/// heartbeats at its next tick and answers; the follower serves it.
#[test]
fn a_read_at_a_quiet_follower_completes() {
    let mut c = quiet_group(3);
    let ids = c.ids();
    let sent = c.sent_log.len();
    c.step(2, Input::ReadIndex(7));
    assert!(!c.node(2).is_quiet());
    assert!(c.sent_log[sent..]
        .iter()
        .any(|m| is_notice(m) && (m.from, m.to) == (2, 1)));
    c.deliver_all();
    assert!(
        !c.node(1).is_quiet(),
        "the follower's messages woke the leader"
    );
    for _ in 0..T {
        if read_outcome(&c, 2, 7).is_some() {
            break;
        }
        round(&mut c, &ids);
    }
    let index = c.node(1).status().commit;
    assert_eq!(read_outcome(&c, 2, 7), Some(Ok(index)));
    run_until_quiet(&mut c, &ids, 10 * T);
}

/// A quiet follower woken by another member's vote request sends its leader a notice (its
/// leader did not wake it), and the notice wakes the leader.
#[test]
fn a_follower_woken_by_a_vote_request_tells_its_leader() {
    let mut c = quiet_group(3);
    let ids = c.ids();
    let term = c.node(2).term();
    let poll = Message {
        from: 3,
        to: 2,
        term: term + 1,
        body: Body::Vote(VoteRequest {
            pre_vote: true,
            last_index: c.node(3).status().last_index,
            last_term: c.node(3).status().last_term,
            transfer: false,
            config_index: 0,
            config_term: 0,
        }),
    };
    let sent = c.sent_log.len();
    c.step(2, Input::Message(poll));
    assert!(!c.node(2).is_quiet());
    let notices: Vec<_> = c.sent_log[sent..]
        .iter()
        .filter(|m| is_notice(m))
        .map(|m| (m.from, m.to, m.term))
        .collect();
    assert_eq!(notices, [(2, 1, term)]);
    // Deliver only the notice: it wakes the leader.
    let notice = c.network.iter().position(is_notice).unwrap();
    let notice = c.network.remove(notice).unwrap();
    c.deliver(notice);
    assert!(!c.node(1).is_quiet() && c.node(1).needs_ticks());
    c.deliver_all();
    assert_eq!(c.leaders(), [1], "the poll changed nothing");
    run_until_quiet(&mut c, &ids, 10 * T);
    assert_eq!(c.node(1).term(), term);
}

/// A lost quiet answer leaves the leader asking: it stays awake, asks again at its next
/// heartbeat, and goes quiet on the answer to that one.
#[test]
fn a_lost_quiet_answer_keeps_the_leader_asking() {
    let mut c = cluster(3);
    c.elect(1);
    let mut dropped = None;
    for _ in 0..10 * T {
        c.tick_all();
        while let Some(m) = c.network.pop_front() {
            let quiet_answer = matches!(
                m.body,
                Body::HeartbeatResponse(HeartbeatResponse { quiet: true, .. })
            );
            if dropped.is_none() && quiet_answer && m.from == 2 {
                dropped = Some(m);
            } else {
                c.deliver(m);
            }
        }
        if dropped.is_some() {
            break;
        }
    }
    let dropped = dropped.expect("node 2 answered a quiescing heartbeat");
    assert!(c.node(2).is_quiet() && c.node(3).is_quiet());
    assert!(!c.node(1).is_quiet(), "one answer is missing");
    // The leader asks again at its next heartbeat, which keeps the followers quiet.
    let asked = quiescing(&c.sent_log).len();
    for _ in 0..HEARTBEAT {
        round(&mut c, &[1, 2, 3]);
    }
    assert_eq!(quiescing(&c.sent_log).len(), asked + 2, "asked again");
    assert!(all_quiet(&c, &[1, 2, 3]));
    let Body::HeartbeatResponse(first) = dropped.body else {
        unreachable!()
    };
    let answers: Vec<u64> = c
        .sent_log
        .iter()
        .filter_map(|m| match m.body {
            Body::HeartbeatResponse(r) if m.from == 2 && r.quiet => Some(r.round),
            _ => None,
        })
        .collect();
    assert_eq!(answers, [first.round, first.round + 1]);
    assert_eq!(c.node(2).counters().quiesced, 1, "node 2 went quiet once");
}

/// A quiet answer counts only for a quiescing round: answers to an earlier round, delivered
/// after the leader woke and asked again, do not put it to rest (its followers woke meanwhile,
/// and their election timers run).
#[test]
fn a_quiet_answer_to_an_earlier_round_does_not_count() {
    let mut c = cluster(3);
    c.elect(1);
    // Deliver the first quiescing heartbeats and hold their answers.
    let mut held = Vec::new();
    for _ in 0..10 * T {
        c.tick_all();
        while let Some(m) = c.network.pop_front() {
            match m.body {
                Body::HeartbeatResponse(HeartbeatResponse { quiet: true, .. }) => held.push(m),
                _ => c.deliver(m),
            }
        }
        if !held.is_empty() {
            break;
        }
    }
    assert_eq!(held.len(), 2);
    assert!(c.node(2).is_quiet() && c.node(3).is_quiet() && !c.node(1).is_quiet());
    // A proposal wakes everyone and commits.
    c.propose(1, "x").unwrap();
    c.deliver_all();
    assert!(!c.node(2).is_quiet() && !c.node(3).is_quiet());
    // The leader asks again; the old answers arrive before the new heartbeats.
    let asked = quiescing(&c.sent_log).len();
    while quiescing(&c.sent_log).len() == asked {
        c.tick(1);
    }
    for m in held {
        c.deliver(m);
    }
    assert!(!c.node(1).is_quiet(), "answers to an earlier round");
    c.deliver_all();
    assert!(all_quiet(&c, &[1, 2, 3]), "the new round's answers count");
    check(&c);
}

/// `Input::PeerUnreachable` for a node outside the configuration, for the node itself or for
/// id 0 is ignored and counted (`Counters::unknown_peer`), and leaves a quiet node quiet.
#[test]
fn peer_unreachable_for_an_unknown_id_is_ignored_and_counted() {
    let mut c = quiet_group(3);
    for node in [1, 2] {
        let before = c.node(node).counters().unknown_peer;
        for id in [9, node, 0] {
            let n = c.peer(node).node.as_mut().unwrap();
            assert_eq!(n.step(Input::PeerUnreachable(id)), vec![]);
        }
        let n = c.node(node);
        assert_eq!(n.counters().unknown_peer, before + 3, "node {node}");
        assert!(n.is_quiet(), "node {node}");
    }
}

// ---------------------------------------------------------------------------------------------
// Failure detection.

/// A leader with a follower that cannot be reached does not quiesce; marked unreachable (the
/// rest being a quorum), it does. The follower's return wakes the leader, which catches it up,
/// and the whole group goes quiet again.
#[test]
fn a_leader_quiesces_without_a_follower_marked_unreachable() {
    let mut c = cluster(3);
    c.elect(1);
    c.isolate(3);
    c.propose(1, "x").unwrap();
    for _ in 0..T {
        round(&mut c, &[1, 2]);
        assert!(!c.node(1).is_quiet() && !c.node(2).is_quiet(), "3 lags");
    }
    assert!(quiescing(&c.sent_log).is_empty());
    c.step(1, Input::PeerUnreachable(3));
    run_until_quiet(&mut c, &[1, 2], 2 * T);
    assert_eq!(c.node(1).counters().quiesced, 1);
    // Node 3, cut off and ticking, polls; once the links heal its poll wakes both.
    c.heal();
    for _ in 0..4 * T {
        round(&mut c, &[3]);
        if !c.node(1).is_quiet() {
            break;
        }
    }
    assert!(!c.node(1).is_quiet(), "3's message woke the leader");
    run_until_quiet(&mut c, &[1, 2, 3], 10 * T);
    assert_eq!(c.leaders(), [1]);
    assert_eq!(c.applied_data(3), ["x"], "3 caught up");
}

/// In five voters, the leader goes quiet without two unreachable followers, but not without
/// three: the reachable voters must be a quorum (else check-quorum must keep running).
#[test]
fn a_leader_quiesces_only_with_a_reachable_quorum() {
    let mut c = cluster(5);
    c.elect(1);
    c.isolate(4);
    c.isolate(5);
    c.propose(1, "x").unwrap();
    c.deliver_all();
    c.step(1, Input::PeerUnreachable(4));
    for _ in 0..T {
        round(&mut c, &[1, 2, 3]);
    }
    assert!(!c.node(1).is_quiet(), "5 lags and is not marked");
    c.step(1, Input::PeerUnreachable(5));
    run_until_quiet(&mut c, &[1, 2, 3], 2 * T);

    let mut c = cluster(5);
    c.elect(1);
    for id in [3, 4, 5] {
        c.isolate(id);
    }
    c.propose(1, "x").unwrap();
    c.deliver_all();
    for id in [3, 4, 5] {
        c.step(1, Input::PeerUnreachable(id));
    }
    let asked = quiescing(&c.sent_log).len();
    // Within check-quorum's window: the leader still leads, and must not ask.
    for _ in 0..T - 1 {
        round(&mut c, &[1, 2]);
        assert!(!c.node(1).is_quiet() && !c.node(2).is_quiet());
    }
    assert_eq!(quiescing(&c.sent_log).len(), asked, "no quorum: no asking");
}

/// The detector wakes a quiet leader (it marks the peer unreachable); it heartbeats at its next
/// tick. The peer's answer clears the mark and the group goes quiet again, with it.
#[test]
fn the_detector_wakes_a_quiet_leader() {
    let mut c = quiet_group(3);
    c.step(1, Input::PeerUnreachable(3));
    assert!(!c.node(1).is_quiet() && c.node(1).needs_ticks());
    let sent = c.sent_log.len();
    c.tick(1);
    let heartbeats: Vec<NodeId> = c.sent_log[sent..]
        .iter()
        .filter(|m| matches!(m.body, Body::Heartbeat(_)))
        .map(|m| m.to)
        .collect();
    assert_eq!(heartbeats, [2, 3], "a heartbeat at its next tick");
    c.deliver_all();
    run_until_quiet(&mut c, &[1, 2, 3], 10 * T);
    assert_eq!(c.node(1).counters().quiesced, 2);
}

/// The first campaign seen by [`ticks_to_elect`].
#[derive(Debug)]
struct FirstCampaign {
    /// Ticks until it.
    ticks: usize,
    /// Whether more than one node campaigned in that tick.
    both: bool,
}

/// Ticks `ids` (delivering after each round) until one of them leads, at most `max` rounds;
/// returns the first campaign, the ticks until the leader, and the leader.
fn ticks_to_elect(c: &mut Cluster, ids: &[NodeId], max: usize) -> (FirstCampaign, usize, NodeId) {
    let mut first = None;
    for n in 1..=max {
        let mut campaigning = 0;
        for &id in ids {
            c.tick(id);
            campaigning += usize::from(c.node(id).role() != Role::Follower);
        }
        if first.is_none() && campaigning > 0 {
            first = Some(FirstCampaign {
                ticks: n,
                both: campaigning > 1,
            });
        }
        c.deliver_all();
        check(c);
        if let Some(&leader) = ids.iter().find(|&&id| c.node(id).role() == Role::Leader) {
            return (first.unwrap(), n, leader);
        }
    }
    panic!("no leader among {ids:?} after {max} ticks");
}

/// A quiet group whose leader dies does nothing without a signal: quiet followers do not time
/// out. Told by the detector, each counts its election timeout as run out and campaigns in
/// turn (by priority, then id) within T ticks, so the two never split the vote and a leader is
/// elected within 2T ticks of the signal. Over several seeds.
#[test]
fn a_quiet_group_whose_leader_died_elects_once_the_detector_says_so() {
    for seed in 0..16 {
        let mut c = Cluster::with_config(3, |id| Config {
            seed: seed ^ (id * 7919),
            ..config(id)
        })
        .checked();
        c.elect(1);
        run_until_quiet(&mut c, &[1, 2, 3], 10 * T);
        let term = c.node(2).term();
        c.crash(1);
        let sent = c.sent_log.len();
        for _ in 0..20 * T {
            round(&mut c, &[2, 3]);
        }
        assert_eq!(
            c.sent_log.len(),
            sent,
            "seed {seed}: no signal, nothing happens"
        );
        assert!(all_quiet(&c, &[2, 3]));
        assert_eq!(c.node(2).term(), term);
        c.step(2, Input::PeerUnreachable(1));
        c.step(3, Input::PeerUnreachable(1));
        assert!(!c.node(2).is_quiet() && !c.node(3).is_quiet());
        assert_eq!(
            c.sent_log.len(),
            sent,
            "no notice to the leader reported dead"
        );
        let (first, elected, leader) = ticks_to_elect(&mut c, &[2, 3], 10 * T);
        assert!(
            first.ticks < T,
            "seed {seed}: first campaign after {first:?}"
        );
        assert!(
            !first.both,
            "seed {seed}: the followers campaigned together"
        );
        assert!(
            elected <= 2 * T,
            "seed {seed}: leader after {elected} ticks"
        );
        assert!(c.node(leader).term() > term);
        // The new leader commits, and the two go quiet (the dead node marked unreachable).
        c.step(leader, Input::PeerUnreachable(1));
        c.propose(leader, "after").unwrap();
        c.deliver_all();
        run_until_quiet(&mut c, &[2, 3], 10 * T);
        assert_eq!(c.applied_data(5 - leader), ["after"]);
    }
}

/// A wrong signal is never unsafe and, with pre-vote, costs no election here: the follower told
/// its live leader is unreachable polls at once, the others still follow the leader (the quiet
/// follower's clock stood still within its election timeout) and refuse; the poll wakes the
/// leader, whose heartbeat brings the follower back; the group goes quiet in the same term.
#[test]
fn a_wrong_detector_signal_at_a_follower_costs_no_election() {
    let mut c = quiet_group(3);
    let ids = c.ids();
    let term = c.node(1).term();
    c.step(2, Input::PeerUnreachable(1));
    assert!(!c.node(2).is_quiet());
    for _ in 0..10 * T {
        round(&mut c, &ids);
        if all_quiet(&c, &ids) {
            break;
        }
    }
    assert!(all_quiet(&c, &ids));
    assert_eq!(c.leaders(), [1]);
    for id in ids {
        assert_eq!(c.node(id).term(), term, "node {id}");
    }
    let polls = c
        .sent_log
        .iter()
        .filter(|m| matches!(m.body, Body::Vote(VoteRequest { pre_vote: true, .. })) && m.from == 2)
        .count();
    assert!(polls >= 1, "node 2 polled");
}

/// With leases, a follower told its leader is unreachable wakes but waits out the election
/// timeout it promised (thesis §6.4.1): no campaign before T ticks.
#[test]
fn with_leases_the_detector_does_not_cut_the_wait_short() {
    let (mut c, old) = quiet_lease_group();
    let followers = others(&c, old);
    c.crash(old);
    for &id in &followers {
        c.step(id, Input::PeerUnreachable(old));
        assert!(!c.node(id).is_quiet());
    }
    let (first, elected, _) = ticks_to_elect(&mut c, &followers, 10 * T);
    assert!(first.ticks >= T, "campaigned after {first:?}");
    assert!(elected < 3 * T, "leader after {elected} ticks");
}

// ---------------------------------------------------------------------------------------------
// Nothing that rests on elapsed ticks survives a quiet period.

/// A quiet leader holds no lease (its clock stands still); a read after waking waits for a new
/// round, which renews the lease.
#[test]
fn a_quiet_leader_holds_no_lease() {
    let mut c = Cluster::with_config(3, lease_config).checked();
    let l = c.run_until_leader();
    let ids = c.ids();
    let mut held = false;
    for _ in 0..10 * T {
        if all_quiet(&c, &ids) {
            break;
        }
        c.tick_all();
        // One message at a time: the first answer to the quiescing round confirms it (a quorum
        // with the leader), the second puts the leader to rest.
        while c.deliver_one() {
            held |= c.node(l).lease_ticks_left().is_some();
        }
    }
    assert!(held, "the leader held a lease while awake");
    assert!(all_quiet(&c, &ids));
    assert_eq!(c.node(l).lease_ticks_left(), None);
    c.step(l, Input::ReadIndex(7));
    assert_eq!(
        read_outcome(&c, l, 7),
        None,
        "not served from the old lease"
    );
    assert_eq!(c.node(l).lease_ticks_left(), None);
    round(&mut c, &[l]);
    assert!(matches!(read_outcome(&c, l, 7), Some(Ok(_))));
    assert!(
        c.node(l).lease_ticks_left().is_some(),
        "the new round's lease"
    );
}

/// The old leader of a quiet group, cut off and woken by a read, serves it from no lease: the
/// followers may elect a new leader meanwhile.
#[test]
fn a_cut_off_quiet_leader_serves_no_read_from_its_old_lease() {
    let (mut c, old) = quiet_lease_group();
    let followers = others(&c, old);
    c.isolate(old);
    for &id in &followers {
        c.step(id, Input::PeerUnreachable(old));
    }
    let (_, _, leader) = ticks_to_elect(&mut c, &followers, 10 * T);
    c.propose(leader, "new").unwrap();
    c.deliver_all();
    // Woken by a read, the old leader cannot confirm it.
    c.step(old, Input::ReadIndex(7));
    assert_eq!(read_outcome(&c, old, 7), None, "served from the old lease");
    assert_eq!(c.node(old).lease_ticks_left(), None);
    for _ in 0..2 * T {
        round(&mut c, &[old]);
        assert!(
            !matches!(read_outcome(&c, old, 7), Some(Ok(_))),
            "served a read that misses a committed write"
        );
    }
    assert_ne!(
        c.node(old).role(),
        Role::Leader,
        "check-quorum stepped it down"
    );
    check(&c);
}

/// A node forgets its freshness proofs when it goes quiet (its clock stood still): a
/// bounded-staleness read at a quiet follower or leader is refused however loose the bound,
/// and served again once fresh proofs arrive after waking.
#[test]
fn freshness_proofs_do_not_survive_a_quiet_period() {
    let mut c = cluster(3);
    c.elect(1);
    // Node 3 lags, so the group stays awake while 1 and 2 build freshness proofs.
    c.isolate(3);
    c.propose(1, "x").unwrap();
    for _ in 0..3 * HEARTBEAT {
        round(&mut c, &[1, 2]);
    }
    read_stale(&mut c, 2, 1, 100).expect("a proof before going quiet");
    read_stale(&mut c, 1, 2, 100).expect("the leader's own proof");
    c.heal();
    run_until_quiet(&mut c, &[1, 2, 3], 10 * T);
    for (node, read) in [(2, 3), (1, 4)] {
        assert_eq!(
            read_stale(&mut c, node, read, 1000),
            Err(ReadError::TooStale {
                max_staleness_ticks: 1000,
                provable_ticks: None
            }),
            "node {node}"
        );
    }
    // Heartbeats resume (3 lags again, keeping the group awake): fresh proofs, served again.
    c.isolate(3);
    c.propose(1, "y").unwrap();
    for _ in 0..3 * HEARTBEAT {
        round(&mut c, &[1, 2]);
    }
    read_stale(&mut c, 2, 5, 100).expect("fresh proofs after waking");
    read_stale(&mut c, 1, 6, 100).expect("the leader's fresh proof");
}

/// An idle group serves bounded-staleness reads too: a read at a quiet node is refused (it
/// holds no proof), wakes the group, and keeps the node awake for an election timeout, in which
/// proofs come with the heartbeats and a retried read is served; then the group goes quiet.
#[test]
fn a_stale_read_keeps_an_idle_group_awake_until_proofs_come() {
    let mut c = quiet_group(3);
    assert!(matches!(
        read_stale(&mut c, 2, 1, 100),
        Err(ReadError::TooStale { .. })
    ));
    let mut served = None;
    for n in 0..T {
        round(&mut c, &[1, 2, 3]);
        assert!(
            !c.node(2).is_quiet(),
            "round {n}: asked for reads, it stays awake"
        );
        if read_stale(&mut c, 2, 10 + n as u64, 100).is_ok() {
            served = Some(n);
            break;
        }
    }
    let served = served.expect("a retried read is served within an election timeout");
    assert!(served < 3 * HEARTBEAT, "served after {served} rounds");
    run_until_quiet(&mut c, &[1, 2, 3], 10 * T);
}
