//! Proposals: batching, only the leader accepts them, and back-pressure.

use sansraft::{Index, Input, LogPosition, ProposeError, Role};
use sansraft_testkit::cluster::{data, Cluster};

use crate::helpers::*;

// ---------------------------------------------------------------------------------------------
// Batching.
// ---------------------------------------------------------------------------------------------

/// Batching: a batch of 64 commands is appended at once and leaves as one append per follower.
#[test]
fn propose_batch_is_one_append_per_follower() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.deliver_all();
    let mark_sent = c.sent_log.len();
    let mark_proposals = c.proposals.len();
    let commands = payloads(64, "batch");
    c.step(
        1,
        Input::ProposeBatch(commands.iter().map(|s| data(s)).collect()),
    );

    let answers: Vec<_> = c.proposals[mark_proposals..]
        .iter()
        .map(|(_, r)| *r)
        .collect();
    let expected: Vec<Result<LogPosition, ProposeError>> = (2..66)
        .map(|index| Ok(LogPosition { term: 1, index }))
        .collect();
    assert_eq!(answers, expected, "one answer per command, in order");

    for to in [2, 3] {
        let appends = appends_to(&c, mark_sent, to);
        assert_eq!(appends.len(), 1, "one append to {to}");
        let indexes: Vec<Index> = appends[0].entries.iter().map(|e| e.index).collect();
        assert_eq!(indexes, (2..66).collect::<Vec<_>>());
    }
    c.deliver_all();
    for id in 1..=3 {
        assert_eq!(c.applied_data(id), commands, "node {id}");
    }
}

// ---------------------------------------------------------------------------------------------
// §5.1 / §8 (client interaction): only the leader accepts proposals.
// ---------------------------------------------------------------------------------------------

/// §8: a follower refuses a proposal and names the leader it knows; nothing is appended or sent.
#[test]
fn follower_refuses_proposals_naming_the_leader() {
    let mut c = Cluster::new(3);
    assert_eq!(
        c.propose(2, "early"),
        Err(ProposeError::NotLeader { leader: None })
    );
    c.elect(1);
    c.deliver_all();
    let last = c.node(2).status().last_index;
    let mark = c.sent_log.len();
    for id in [2, 3] {
        assert_eq!(
            c.propose(id, "x"),
            Err(ProposeError::NotLeader { leader: Some(1) })
        );
    }
    assert_eq!(c.node(2).status().last_index, last);
    assert_eq!(c.sent_log.len(), mark, "a refused proposal sends nothing");
}

/// §5.2 / §8: a candidate (and a pre-candidate) knows no leader: the refusal names none.
#[test]
fn candidate_refuses_proposals_without_a_leader() {
    for pre_vote in [false, true] {
        let mut c = Cluster::with_config(3, |id| {
            let mut c = config(id);
            c.pre_vote = pre_vote;
            c
        });
        c.elect(1);
        c.deliver_all();
        c.isolate(3);
        for _ in 0..100 {
            c.tick(3);
            if c.node(3).role() != Role::Follower {
                break;
            }
        }
        let expected = if pre_vote {
            Role::PreCandidate
        } else {
            Role::Candidate
        };
        assert_eq!(c.node(3).role(), expected);
        assert_eq!(
            c.propose(3, "x"),
            Err(ProposeError::NotLeader { leader: None })
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Back-pressure.
// ---------------------------------------------------------------------------------------------

/// Back-pressure: with the followers unreachable nothing commits, and once the uncommitted bytes
/// would exceed `max_uncommitted_bytes` the leader refuses proposals. After healing, commits
/// catch up and proposals are accepted again.
#[test]
fn uncommitted_limit_refuses_then_recovers() {
    const LIMIT: u64 = 200;
    let mut c = Cluster::with_config(3, |id| {
        let mut c = config(id);
        c.max_uncommitted_bytes = LIMIT;
        c
    });
    c.elect(1);
    c.deliver_all();
    c.isolate(1);
    // 10-byte commands count 34 bytes: five fit under 200, the sixth would make 204.
    let results: Vec<_> = (0..10)
        .map(|i| c.propose(1, &format!("cmd-{i:06}")))
        .collect();
    c.deliver_all();
    for (i, r) in results.iter().enumerate() {
        if i < 5 {
            assert!(r.is_ok(), "proposal {i}: {r:?}");
        } else {
            assert_eq!(
                *r,
                Err(ProposeError::UncommittedLimit { limit: LIMIT }),
                "proposal {i}"
            );
        }
    }
    assert_eq!(
        c.node(1).status().last_index,
        6,
        "refused proposals are not appended"
    );
    assert_eq!(c.node(1).status().commit, 1);

    c.heal();
    for _ in 0..20 {
        c.run(1);
        if c.node(1).status().commit == 6 {
            break;
        }
    }
    assert_eq!(c.node(1).status().commit, 6);
    assert_eq!(c.leaders(), vec![1]);
    for i in 5..10 {
        assert!(
            c.propose(1, &format!("cmd-{i:06}")).is_ok(),
            "accepted again: {i}"
        );
    }
    c.deliver_all();
    let expected: Vec<String> = (0..10).map(|i| format!("cmd-{i:06}")).collect();
    for id in 1..=3 {
        assert_eq!(c.applied_data(id), expected, "node {id}");
    }
}

/// A payload larger than `max_entry_bytes` is refused with its own error, whatever else is
/// pending, and in a batch only that proposal is; one at the limit is taken, and the cluster
/// replicates what it took.
#[test]
fn an_entry_larger_than_the_limit_is_refused_with_its_own_error() {
    const LIMIT: u64 = 16;
    let mut c = Cluster::with_config(3, |id| {
        let mut c = config(id);
        c.max_entry_bytes = LIMIT;
        c
    });
    c.elect(1);
    c.deliver_all();
    let too_large = Err(ProposeError::EntryTooLarge {
        size: LIMIT + 1,
        limit: LIMIT,
    });
    assert_eq!(c.propose(1, &"x".repeat(LIMIT as usize + 1)), too_large);
    assert!(c.propose(1, &"y".repeat(LIMIT as usize)).is_ok());
    let batch = ["a", &"z".repeat(LIMIT as usize + 1), "b"]
        .map(data)
        .to_vec();
    c.step(1, Input::ProposeBatch(batch));
    let results: Vec<_> = c.proposals[c.proposals.len() - 3..]
        .iter()
        .map(|(_, r)| *r)
        .collect();
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert_eq!(results[1], too_large);
    c.deliver_all();
    c.run(3);
    let applied = c.applied_data(2);
    assert_eq!(
        applied,
        vec!["y".repeat(LIMIT as usize), "a".into(), "b".into()]
    );
}
