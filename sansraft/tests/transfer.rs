//! Leadership transfer (Raft thesis §3.10), one test per rule of the issue.

use sansraft::{Body, Config, Input, NodeId, ProposeError, Role, TransferOutcome, TransferRefusal};
use sansraft_testkit::Cluster;

fn config(id: NodeId) -> Config {
    let mut c = Config::new(id, id * 7919);
    c.compaction_keep_entries = 0;
    c.snapshot_chunk_bytes = 8;
    c
}

// Thesis §3.10, rule 9: the leader refuses proposals, sends TimeoutNow once the target is up to
// date, and the target wins without pre-vote although the others heard from the leader.
#[test]
fn a_transfer_hands_leadership_to_the_target() {
    let mut c = Cluster::with_config(3, config);
    c.elect(1);
    c.propose(1, "a").unwrap();
    c.run(1);
    let term = c.node(1).term();
    c.step(1, Input::TransferLeadership(3));
    assert_eq!(
        c.propose(1, "b"),
        Err(ProposeError::TransferInProgress { target: 3 })
    );
    assert!(c
        .network
        .iter()
        .any(|m| m.body == Body::TimeoutNow && m.to == 3));
    c.deliver_all();
    assert!(
        c.sent_log
            .iter()
            .any(|m| matches!(&m.body, Body::Vote(v) if v.transfer && !v.pre_vote)),
        "the target skips pre-vote and flags its vote requests"
    );
    c.run(2);
    assert_eq!(c.leaders(), vec![3]);
    assert_eq!(c.node(3).term(), term + 1);
    assert_eq!(c.transfers, vec![(1, TransferOutcome::Done { target: 3 })]);
    assert_eq!(c.node(1).role(), Role::Follower);
}

// Rule 10: the refusals, each with its reason.
#[test]
fn transfers_are_refused_with_a_reason() {
    let mut c = Cluster::with_config(3, config);
    c.elect(1);
    for (at, target, reason) in [
        (2, 3, TransferRefusal::NotLeader { leader: Some(1) }),
        (1, 1, TransferRefusal::TargetIsSelf),
        (1, 9, TransferRefusal::UnknownTarget),
    ] {
        c.step(at, Input::TransferLeadership(target));
        assert_eq!(
            c.transfers.pop(),
            Some((at, TransferOutcome::Refused { target, reason }))
        );
    }
    c.isolate(3);
    c.step(1, Input::TransferLeadership(3));
    c.step(1, Input::TransferLeadership(2));
    assert_eq!(
        c.transfers.pop(),
        Some((
            1,
            TransferOutcome::Refused {
                target: 2,
                reason: TransferRefusal::AlreadyTransferring { target: 3 }
            }
        ))
    );
}

// Rule 10: a transfer that does not complete within one election timeout is aborted, and the
// leader accepts proposals again.
#[test]
fn a_transfer_to_an_unreachable_target_aborts_after_an_election_timeout() {
    let mut c = Cluster::with_config(3, config);
    c.elect(1);
    c.isolate(3);
    c.step(1, Input::TransferLeadership(3));
    for _ in 0..config(1).election_timeout_ticks {
        c.tick(1);
        c.deliver_all();
    }
    assert_eq!(
        c.transfers,
        vec![(1, TransferOutcome::Aborted { target: 3 })]
    );
    assert_eq!(c.leaders(), vec![1]);
    assert!(c.propose(1, "again").is_ok());
}

// Rule 11: transferring to a follower that is behind by a snapshot works: the snapshot
// transfer completes first.
#[test]
fn a_transfer_to_a_follower_behind_by_a_snapshot() {
    let mut c = Cluster::with_config(3, config);
    c.elect(1);
    c.isolate(3);
    for i in 0..6 {
        c.propose(1, &format!("c{i}")).unwrap();
    }
    c.run(2);
    c.take_snapshot(1);
    c.heal();
    c.step(1, Input::TransferLeadership(3));
    c.run(10);
    assert_eq!(c.leaders(), vec![3]);
    assert_eq!(c.transfers, vec![(1, TransferOutcome::Done { target: 3 })]);
    assert_eq!(c.applied_data(3), c.applied_data(1));
}

// A transfer under a leadership change: the leader is deposed by another node before the
// target campaigns; the transfer is reported aborted, and there is one leader.
#[test]
fn a_transfer_under_a_leadership_change_is_aborted() {
    let mut c = Cluster::with_config(3, config);
    c.elect(1);
    c.isolate(3);
    c.step(1, Input::TransferLeadership(3));
    // Node 1 is cut off from everyone; node 2 takes over.
    c.isolate(1);
    for _ in 0..100 {
        c.tick_all();
        c.deliver_all();
        if c.transfers.len() == 1 && c.leaders().contains(&2) {
            break;
        }
    }
    c.heal();
    c.run(5);
    assert_eq!(
        c.transfers,
        vec![(1, TransferOutcome::Aborted { target: 3 })]
    );
    assert_eq!(c.leaders().len(), 1);
}

// Rule 10: a learner cannot lead, so a transfer to one is refused.
#[test]
fn a_transfer_to_a_learner_is_refused() {
    use sansraft::{DurableState, Membership, Node};
    let membership = Membership {
        voters: vec![1],
        outgoing: Vec::new(),
        learners: vec![2],
        ..Membership::default()
    };
    let mut node = Node::new(config(1), DurableState::bootstrap(membership), 0).unwrap();
    let mut acks = Vec::new();
    for _ in 0..40 {
        let inputs: Vec<Input> = std::iter::once(Input::Tick).chain(acks.drain(..)).collect();
        for input in inputs {
            for action in node.step(input) {
                if let sansraft::Action::Persist(w) = action {
                    acks.push(Input::Persisted(w.token));
                }
            }
        }
    }
    assert_eq!(node.role(), Role::Leader);
    let outcomes: Vec<_> = node
        .step(Input::TransferLeadership(2))
        .into_iter()
        .filter_map(|a| match a {
            sansraft::Action::Transfer(o) => Some(o),
            _ => None,
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![TransferOutcome::Refused {
            target: 2,
            reason: TransferRefusal::TargetIsLearner
        }]
    );
}
