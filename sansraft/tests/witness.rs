//! Witnesses (docs/design.md, "Witnesses"): voters that keep each entry's term, index and kind
//! but no payload, vote and acknowledge like any voter, and never lead.

use sansraft::message::VoteRequest;
use sansraft::{
    Action, Body, CampaignError, ConfChange, Config, EntryKind, Input, Membership, Message, Node,
    NodeId, ReadError, Role, TransferOutcome, TransferRefusal,
};
use sansraft_testkit::Cluster;

fn config(id: NodeId) -> Config {
    Config::new(id, id * 7919)
}

/// Node 3 is the witness of every test here.
fn witness_config(id: NodeId) -> Config {
    Config {
        witness: id == 3,
        ..config(id)
    }
}

/// Two full replicas (1, 2) and a witness (3), checked by the safety checker.
fn two_and_a_witness() -> Cluster {
    let membership = Membership {
        voters: vec![1, 2, 3],
        witnesses: vec![3],
        ..Membership::default()
    };
    Cluster::with_membership(membership, 3, witness_config).checked()
}

/// Payloads of the normal entries `id` holds in its log.
fn payloads(c: &Cluster, id: NodeId) -> Vec<Vec<u8>> {
    c.node(id)
        .log_entries_from(1)
        .filter(|e| e.kind == EntryKind::Normal)
        .map(|e| e.data.to_vec())
        .collect()
}

fn no_breach(c: &Cluster) {
    assert!(c.breach.is_none(), "checker: {:?}", c.breach);
}

#[test]
fn a_witness_acknowledges_entries_without_their_payloads() {
    let mut c = two_and_a_witness();
    c.elect(1);
    // Only the witness can complete a quorum with the leader.
    c.isolate(2);
    c.propose(1, "x").unwrap();
    c.deliver_all();
    let commit = c.node(1).status().commit;
    assert_eq!(c.node(1).log_term(commit), Some(1));
    assert_eq!(
        c.node(1).log_entries_from(commit).next().map(|e| e.kind),
        Some(EntryKind::Normal),
        "the proposal committed with the witness's acknowledgement"
    );
    assert_eq!(payloads(&c, 1), [b"x".to_vec()]);
    assert_eq!(
        payloads(&c, 3),
        [Vec::<u8>::new()],
        "the witness keeps no payload"
    );
    assert_eq!(c.node(3).status().commit, commit);
    assert!(c.node(3).is_witness() && !c.node(1).is_witness());
    // The full replica catches up with the payload.
    c.heal();
    c.propose(1, "y").unwrap();
    c.deliver_all();
    assert_eq!(c.applied_data(2), ["x", "y"]);
    assert!(c.applied_data(3).is_empty());
    no_breach(&c);
}

/// The point of a witness: two full replicas and a witness survive the loss of either replica.
#[test]
fn two_replicas_and_a_witness_survive_one_failure() {
    for failed in [1, 2] {
        let mut c = two_and_a_witness();
        c.elect(1);
        c.propose(1, "before").unwrap();
        c.deliver_all();
        c.crash(failed);
        let survivor = 3 - failed;
        if failed == 1 {
            let leader = c.run_until_leader();
            assert_eq!(leader, 2, "the full replica leads, never the witness");
        }
        c.propose(survivor, "after").unwrap();
        c.deliver_all();
        assert_eq!(
            c.applied_data(survivor),
            ["before", "after"],
            "n{failed} down: the survivor commits with the witness"
        );
        no_breach(&c);
    }
}

#[test]
fn a_witness_never_campaigns_leads_or_serves_reads() {
    let mut c = two_and_a_witness();
    c.elect(1);
    c.propose(1, "x").unwrap();
    c.deliver_all();
    // Asked to campaign, it refuses.
    let witness = c.peer(3).node.as_mut().unwrap();
    let actions = witness.step(Input::Campaign {
        skip_pre_vote: true,
    });
    assert!(actions.contains(&Action::Campaigned(Err(CampaignError::Witness))));
    // A transfer to it is refused.
    c.step(1, Input::TransferLeadership(3));
    assert_eq!(
        c.transfers.last(),
        Some(&(
            1,
            TransferOutcome::Refused {
                target: 3,
                reason: TransferRefusal::TargetIsWitness
            }
        ))
    );
    // A read at the witness fails: it has no state machine.
    c.step(3, Input::ReadIndex(7));
    assert_eq!(
        c.read_outcomes.last(),
        Some(&(3, 7, Err(ReadError::Witness)))
    );
    // Cut off from everyone for many election timeouts, it never starts an election.
    c.isolate(3);
    let term = c.node(3).term();
    for _ in 0..200 {
        c.tick(3);
    }
    assert_eq!((c.node(3).role(), c.node(3).term()), (Role::Follower, term));
    no_breach(&c);
}

/// Voters refuse a witness's vote requests and polls, whatever its log.
#[test]
fn voters_refuse_a_witness_candidate() {
    let membership = Membership {
        voters: vec![1, 2, 3],
        witnesses: vec![3],
        ..Membership::default()
    };
    let state = sansraft::DurableState::bootstrap(membership);
    for pre_vote in [true, false] {
        let mut voter = Node::new(witness_config(1), state.clone(), 0).unwrap();
        let request = VoteRequest {
            pre_vote,
            last_index: 100,
            last_term: 4,
            transfer: true,
            config_index: 0,
            config_term: 0,
        };
        assert!(
            !grants(&mut voter, 3, 5, request),
            "pre_vote {pre_vote}: granted to a witness"
        );
    }
}

/// A witness added to a running cluster whose log was compacted installs a snapshot's
/// metadata without writing its bytes, then keeps the log without payloads, and counts toward
/// commit.
#[test]
fn a_witness_joins_through_a_joint_change_and_keeps_snapshots_as_metadata() {
    let compacting = |id| Config {
        compaction_keep_entries: 0,
        ..witness_config(id)
    };
    let mut c = Cluster::with_spares(2, 1, compacting).checked();
    c.elect(1);
    for k in 0..5 {
        c.propose(1, &format!("v{k}")).unwrap();
    }
    c.deliver_all();
    let snapshot = c.take_snapshot(1);
    assert!(c.node(1).first_index() > 1, "the leader compacted its log");
    c.trace = Some(Vec::new());
    c.change(1, ConfChange::add_witness(3)).expect("accepted");
    c.run(20);
    let m = c.node(1).membership().clone();
    assert!(!m.is_joint() && m.is_witness(3), "{m:?}");
    assert!(
        c.sent_log
            .iter()
            .any(|m| m.to == 3 && matches!(m.body, Body::SnapshotChunk(_))),
        "the witness was sent the snapshot"
    );
    assert!(c.node(3).snapshot().index >= snapshot.index);
    let trace = c.trace.take().unwrap_or_default();
    assert!(
        !trace
            .iter()
            .any(|(id, a)| *id == 3 && matches!(a, Action::WriteSnapshotChunk(_))),
        "a witness writes no snapshot bytes"
    );
    c.propose(1, "after").unwrap();
    c.deliver_all();
    assert!(payloads(&c, 3).iter().all(Vec::is_empty));
    assert_eq!(c.node(3).status().commit, c.node(1).status().commit);
    // The witness now completes a quorum without the other replica.
    c.isolate(2);
    c.propose(1, "with the witness").unwrap();
    c.deliver_all();
    assert_eq!(
        c.applied_data(1).last().map(String::as_str),
        Some("with the witness")
    );
    no_breach(&c);
}

/// A witness restarted from its storage still knows it is one.
#[test]
fn a_restarted_witness_is_still_a_witness() {
    let mut c = two_and_a_witness();
    c.elect(1);
    c.propose(1, "x").unwrap();
    c.deliver_all();
    c.crash(3);
    c.restart(3);
    assert!(c.node(3).is_witness());
    assert_eq!(payloads(&c, 3), [Vec::<u8>::new()]);
    no_breach(&c);
}

/// Whether a witness with `membership`, whose log holds two entries of term 1 nothing
/// committed, grants `candidate` a (pre-)vote for term 2 with a log of only the first entry.
fn witness_grants_shorter_log(membership: Membership, witness: NodeId, candidate: NodeId) -> bool {
    let entry = |index, kind| sansraft::Entry {
        term: 1,
        index,
        kind,
        data: bytes::Bytes::new(),
    };
    let state = sansraft::DurableState {
        hard_state: sansraft::HardState {
            term: 1,
            vote: None,
            commit: 0,
        },
        entries: vec![entry(1, EntryKind::Empty), entry(2, EntryKind::Normal)],
        ..sansraft::DurableState::bootstrap(membership)
    };
    let witness_config = Config {
        witness: true,
        ..config(witness)
    };
    let mut node = Node::new(witness_config, state, 0).unwrap();
    assert!(node.is_witness());
    let request = VoteRequest {
        pre_vote: true,
        last_index: 1,
        last_term: 1,
        transfer: false,
        config_index: 0,
        config_term: 0,
    };
    grants(&mut node, candidate, 2, request)
}

/// Whether `node` grants `request` from `candidate` in `term`.
fn grants(node: &mut Node, candidate: NodeId, term: u64, request: VoteRequest) -> bool {
    let actions = node.step(Input::Message(Message {
        from: candidate,
        to: node.id(),
        term,
        body: Body::Vote(request),
    }));
    actions.iter().any(
        |a| matches!(a, Action::Send(m) if matches!(m.body, Body::VoteResponse(r) if r.granted)),
    )
}

/// A witness beside a single other voter gives it its vote even when its own log is longer:
/// anything committed there is on that voter too. Elsewhere it checks logs like any voter.
#[test]
fn a_witness_votes_for_the_voter_beside_it_despite_a_longer_log() {
    let one_and_one = Membership {
        voters: vec![1, 3],
        witnesses: vec![3],
        ..Membership::default()
    };
    assert!(witness_grants_shorter_log(one_and_one, 3, 1));
    let two_and_one = Membership {
        voters: vec![1, 2, 3],
        witnesses: vec![3],
        ..Membership::default()
    };
    assert!(!witness_grants_shorter_log(two_and_one, 3, 1));
    // Leaving {1, 2, 3 (witness)} for {2, 3 (witness)}: only 2 is beside the witness in the
    // configuration that decides commits from now on.
    let joint = Membership {
        voters: vec![2, 3],
        outgoing: vec![1, 2, 3],
        witnesses: vec![3],
        ..Membership::default()
    };
    assert!(witness_grants_shorter_log(joint.clone(), 3, 2));
    assert!(!witness_grants_shorter_log(joint, 3, 1));
}

/// A node keeps whole entries unless it was started as a witness, whatever the configurations
/// in its log say: an entry naming it one can be truncated or compacted away, and entries it
/// had stripped would then pass for whole (docs/design.md, "Why its role is declared").
#[test]
fn only_a_declared_witness_strips_payloads() {
    let mut c = Cluster::with_spares(2, 1, config).checked();
    c.elect(1);
    c.propose(1, "a").unwrap();
    c.deliver_all();
    c.change(1, ConfChange::add_witness(3)).expect("accepted");
    c.run(20);
    c.propose(1, "b").unwrap();
    c.deliver_all();
    assert!(c.node(1).membership().is_witness(3));
    assert!(!c.node(3).is_witness());
    assert_eq!(
        payloads(&c, 3),
        [b"a".to_vec(), b"b".to_vec()],
        "whole entries"
    );
    // Named a witness by the configuration, it gets no vote: the other voter leads.
    c.crash(1);
    let leader = c.run_until_leader();
    assert_eq!(leader, 2);
    no_breach(&c);
}
