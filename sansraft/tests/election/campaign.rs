//! Campaigning on request (`Input::Campaign`, etcd's `Campaign`, raft-rs's `campaign()`), and
//! leader stickiness as an option (thesis §4.2.3; off, the Raft paper's §5.2 voting).

use sansraft::{
    Action, Body, CampaignError, Config, DurableState, Input, Membership, Node, NodeId, Role,
};
use sansraft_testkit::{step_durable, Cluster};

use crate::helpers::*;

/// The answer to one campaign request at `node`, and what it sent.
fn campaign(node: &mut Node, skip_pre_vote: bool) -> (Result<u64, CampaignError>, Vec<Body>) {
    let actions = node.step(Input::Campaign { skip_pre_vote });
    let mut answer = None;
    let mut sent = Vec::new();
    for action in actions {
        match action {
            Action::Campaigned(result) => {
                assert!(answer.is_none(), "one answer per request");
                answer = Some(result);
            }
            Action::Send(m) => sent.push(m.body),
            _ => {}
        }
    }
    (
        answer.expect("a campaign request is answered in its step"),
        sent,
    )
}

fn node_in(id: NodeId, membership: Membership, config: impl FnOnce(&mut Config)) -> Node {
    let mut c = Config::new(id, 7 + id);
    config(&mut c);
    Node::new(c, DurableState::bootstrap(membership), 0).unwrap()
}

// A campaign request starts the election at once, without waiting for the timeout; with
// pre-vote it polls first (thesis §9.6) and keeps its term until the poll succeeds.
#[test]
fn a_campaign_request_polls_first_with_pre_vote() {
    let mut node = fresh_node(config(2, 1, true), &[1, 2, 3]);
    let (answer, sent) = campaign(&mut node, false);
    assert_eq!(answer, Ok(1), "the poll is for term 1");
    assert_eq!((node.role(), node.term()), (Role::PreCandidate, 0));
    assert_eq!(sent.len(), 2);
    assert!(sent
        .iter()
        .all(|b| matches!(b, Body::Vote(v) if v.pre_vote)));
}

// Asked to skip the poll, the node moves to the next term and asks for votes at once (§5.2).
#[test]
fn a_campaign_request_may_skip_pre_vote_when_asked() {
    let mut node = fresh_node(config(2, 1, true), &[1, 2, 3]);
    let (answer, sent) = campaign(&mut node, true);
    assert_eq!(answer, Ok(1));
    assert_eq!((node.role(), node.term()), (Role::Candidate, 1));
    assert!(sent
        .iter()
        .all(|b| matches!(b, Body::Vote(v) if !v.pre_vote)));
}

// The requested campaign wins like any other: the cluster elects the node asked.
#[test]
fn a_campaign_request_elects_the_node_without_ticks() {
    let mut c = Cluster::new(3);
    c.step(
        3,
        Input::Campaign {
            skip_pre_vote: false,
        },
    );
    c.deliver_all();
    assert_eq!(c.leaders(), vec![3]);
    assert_eq!(c.node(3).term(), 1);
}

// Thesis §4.2.1: a learner has no vote and never leads; a node outside the configuration
// does not campaign; a leader has nothing to campaign for. Each refusal is its own error,
// counted, and changes nothing.
#[test]
fn learners_non_members_and_leaders_are_refused() {
    let with_learner = || {
        let mut m = Membership::with_voters([1, 2, 3]);
        m.learners.push(4);
        m
    };
    let mut learner = node_in(4, with_learner(), |_| {});
    let mut stranger = node_in(5, with_learner(), |_| {});
    for (node, error) in [
        (&mut learner, CampaignError::Learner),
        (&mut stranger, CampaignError::NotMember),
    ] {
        let (answer, sent) = campaign(node, true);
        assert_eq!(answer, Err(error));
        assert!(sent.is_empty());
        assert_eq!((node.role(), node.term()), (Role::Follower, 0));
        assert_eq!(node.counters().campaign_refused, 1);
    }

    let mut leader = node_in(1, Membership::with_voters([1]), |_| {});
    for _ in 0..3 * T {
        step_durable(&mut leader, Input::Tick);
    }
    assert_eq!(leader.role(), Role::Leader);
    let term = leader.term();
    let (answer, sent) = campaign(&mut leader, false);
    assert_eq!(answer, Err(CampaignError::AlreadyLeader));
    assert!(sent.is_empty());
    assert_eq!((leader.role(), leader.term()), (Role::Leader, term));
}

// Thesis §4.2.3 with §9.6: followers that hear from a live leader ignore a requested poll, so
// the leader keeps its term and its role.
#[test]
fn a_requested_poll_does_not_depose_a_live_leader() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.run(3);
    let term = c.node(1).term();
    c.step(
        2,
        Input::Campaign {
            skip_pre_vote: false,
        },
    );
    c.deliver_all();
    c.run(3 * T as usize);
    assert_eq!(c.leaders(), vec![1]);
    assert_eq!(c.node(1).term(), term);
    assert_eq!(c.node(2).leader(), Some(1));
}

// Stickiness on (the default): a follower that heard from its leader within the election
// timeout ignores a vote request for a newer term. Off: it follows §5.2 and grants it.
#[test]
fn stickiness_decides_whether_a_follower_of_a_live_leader_votes() {
    for sticky in [true, false] {
        let mut c = Cluster::with_config(3, |id| {
            let mut config = config(id, 11 + id, false);
            config.leader_stickiness = sticky;
            config
        });
        c.elect(1);
        c.run(2);
        let term = c.node(1).term();
        assert_eq!(c.node(3).leader(), Some(1));
        // Node 2 campaigns in the next term; only node 3's vote can make it leader.
        c.isolate(1);
        c.step(
            2,
            Input::Campaign {
                skip_pre_vote: true,
            },
        );
        c.deliver_all();
        if sticky {
            assert_eq!(
                c.node(2).role(),
                Role::Candidate,
                "node 3 ignored the request"
            );
            assert_eq!(c.node(3).term(), term);
            assert_eq!(c.node(3).counters().vote_ignored_in_lease, 1);
        } else {
            assert_eq!(c.leaders(), vec![1, 2], "node 3 voted for node 2 (§5.2)");
            assert_eq!(c.node(2).term(), term + 1);
        }
    }
}

#[test]
fn lease_reads_need_stickiness() {
    let mut config = Config::new(1, 1);
    config.lease_reads = true;
    config.leader_stickiness = false;
    assert_eq!(
        config.validate(),
        Err(sansraft::ConfigError::LeaseReadsNeedStickiness)
    );
}

// Thesis §6.4.1: with lease reads a follower that heard from its leader within the election
// timeout backs the leader's lease, so it may not campaign (its own vote would help elect
// another leader while the lease serves reads); once the lease can have run out, it may.
#[test]
fn a_follower_backing_a_lease_refuses_to_campaign() {
    let mut c = Cluster::with_config(3, |id| {
        let mut config = Config::new(id, 7 + id);
        config.lease_reads = true;
        config
    });
    let l = c.run_until_leader();
    c.run(2);
    let f = if l == 1 { 2 } else { 1 };
    let term = c.node(f).term();
    c.step(
        f,
        Input::Campaign {
            skip_pre_vote: true,
        },
    );
    assert_eq!((c.node(f).role(), c.node(f).term()), (Role::Follower, term));
    assert_eq!(c.node(f).counters().campaign_refused, 1);
    // Cut off from the leader for an election timeout, it no longer backs a lease.
    c.isolate(l);
    for _ in 0..T {
        c.tick(f);
    }
    c.step(
        f,
        Input::Campaign {
            skip_pre_vote: true,
        },
    );
    assert_eq!(
        c.node(f).term(),
        term + 1,
        "campaigned once the lease ran out"
    );
}
