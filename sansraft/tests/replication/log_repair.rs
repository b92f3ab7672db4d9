//! Bringing follower logs in line (§5.3): Figure 7, the consistency check, fast backtracking.

use sansraft::message::Append;
use sansraft::{Body, Index, Input, Message, NodeId, Term};

use crate::helpers::*;

// ---------------------------------------------------------------------------------------------
// §5.3, Figure 7: a new leader brings every kind of inconsistent follower log in line with its own.
// ---------------------------------------------------------------------------------------------

/// §5.3, Figure 7: the leader of term 8 holds [1,1,1,4,4,5,5,6,6,6]. Followers (a) and (b) miss
/// entries, (c) and (d) have extra uncommitted entries (of term 6, and of term 7), (e) and (f)
/// have both missing entries and extra entries from other terms. After replication, each
/// follower's log is the leader's, entry for entry.
#[test]
fn figure_7_leader_repairs_every_follower_situation() {
    const LEADER: &[Term] = &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    let followers: [(&str, &[Term]); 6] = [
        ("a", &[1, 1, 1, 4, 4, 5, 5, 6, 6]),
        ("b", &[1, 1, 1, 4]),
        ("c", &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6]),
        ("d", &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7]),
        ("e", &[1, 1, 1, 4, 4, 4, 4]),
        ("f", &[1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]),
    ];
    let n = 1 + followers.len() as u64;
    // Everyone has seen term 7 (follower (d) holds entries of it); the first three entries, which
    // all logs share, are committed.
    let mut states = vec![durable(n, 7, None, 3, LEADER)];
    states.extend(followers.iter().map(|(_, log)| durable(n, 7, None, 3, log)));
    let mut c = cluster_from(states, config);
    for (k, (name, log)) in followers.iter().enumerate() {
        assert_eq!(
            terms(c.node(k as NodeId + 2)),
            *log,
            "follower ({name}) before"
        );
    }

    // Node 1 wins term 8 with the votes of (a), (b), (e) and (f); (c) and (d) refuse (§5.4.1).
    c.elect(1);
    assert_eq!(c.node(1).term(), 8);
    let leader_log = terms(c.node(1));
    assert_eq!(
        leader_log,
        [LEADER, &[8]].concat(),
        "plus the new leader's empty entry"
    );

    for (k, (name, _)) in followers.iter().enumerate() {
        let id = k as NodeId + 2;
        assert_eq!(terms(c.node(id)), leader_log, "follower ({name})");
        assert_eq!(entries(c.node(id)), entries(c.node(1)), "follower ({name})");
        // Missing entries and whole conflicting terms are found with the hint: at most one
        // rejection per conflicting term ((e) and (f) have two each; one-by-one backtracking
        // would take up to seven).
        assert!(
            rejections_from(&c, 0, id) <= 2,
            "follower ({name}) rejected {} appends",
            rejections_from(&c, 0, id)
        );
    }

    // The leader commits its empty entry (and with it everything before); followers learn it.
    c.run(2);
    for id in 1..=n {
        assert_eq!(c.node(id).status().commit, 11, "node {id}");
        let applied: Vec<(Index, Term)> = c.peers[id as usize - 1]
            .applied
            .iter()
            .map(|e| (e.index, e.term))
            .collect();
        let expected: Vec<(Index, Term)> = (1..=11).zip(leader_log.iter().copied()).collect();
        assert_eq!(applied, expected, "node {id} applied the leader's log");
    }
}

// ---------------------------------------------------------------------------------------------
// §5.3, the consistency check for an append that starts inside the follower's committed prefix.
// ---------------------------------------------------------------------------------------------

/// §5.3: a follower accepts an append whose log contains an entry at `prev_index` with
/// `prev_term`, and then holds every entry the append carries. An append may start below the
/// follower's commit index (a probe from an older match index, a duplicate): the follower
/// checks the committed part against its log and the rest from the entry at its commit index
/// on. Here that entry (index 3, term 1) is the last of its term and the append's next entry
/// (index 4) starts term 2: the term to check index 3 against is index 3's, not index 4's, or
/// the follower rejects a consistent append and its leader resends the same probe forever.
#[test]
fn append_from_below_the_commit_index_across_a_term_boundary_is_accepted() {
    let states = vec![
        durable(3, 2, None, 3, &[1, 1, 1, 2, 2]),
        durable(3, 2, None, 3, &[1, 1, 1]),
        durable(3, 2, None, 3, &[1, 1, 1, 2, 2]),
    ];
    let mut c = cluster_from(states, config);
    assert_eq!(
        c.node(2).status().commit,
        3,
        "index 3 (term 1) is committed"
    );
    let leader_log = log_with_terms(&[1, 1, 1, 2, 2]);
    let probe = Message {
        from: 1,
        to: 2,
        term: 2,
        body: Body::Append(Append {
            prev_index: 1,
            prev_term: 1,
            commit: 5,
            entries: leader_log[1..].to_vec().into(),
        }),
    };
    let mark = c.sent_log.len();
    c.step(2, Input::Message(probe));
    assert_eq!(rejections_from(&c, mark, 2), 0, "the append is consistent");
    assert!(
        accepted_by(&c, 2, 2, 5),
        "the new entries are acknowledged: {:?}",
        &c.sent_log[mark..]
    );
    assert_eq!(terms(c.node(2)), [1, 1, 1, 2, 2]);
    assert_eq!(entries(c.node(2)), leader_log);
    assert_eq!(c.node(2).status().commit, 5);
}

// ---------------------------------------------------------------------------------------------
// §5.3 (end): fast backtracking — one round trip per conflicting term, not per entry.
// ---------------------------------------------------------------------------------------------

/// §5.3 optimisation: node 3 holds 100 uncommitted entries of term 2 that the leader (term 4)
/// never had. One-by-one backtracking needs ~100 rejections; the hint skips the whole term.
#[test]
fn fast_backtracking_over_one_long_conflicting_term() {
    let leader_log: Vec<Term> = std::iter::once(1).chain([3; 50]).collect();
    let stale_log: Vec<Term> = std::iter::once(1).chain([2; 100]).collect();
    let states = vec![
        durable(3, 3, None, 1, &leader_log),
        durable(3, 3, None, 1, &leader_log),
        durable(3, 3, None, 1, &stale_log),
    ];
    let mut c = cluster_from(states, config);
    c.elect(1);
    assert_eq!(terms(c.node(3)), terms(c.node(1)));
    assert_eq!(c.node(3).status().last_index, 52);
    let rejections = rejections_from(&c, 0, 3);
    assert!((1..=3).contains(&rejections), "{rejections} rejections");
    let appends = appends_to(&c, 0, 3).len();
    assert!(
        appends <= 4,
        "{appends} appends to repair one conflicting term"
    );
}

/// §5.3: conflicts spanning two terms take about two round trips, however many entries they hold.
#[test]
fn fast_backtracking_is_per_conflicting_term() {
    // Leader: 1, 2×10, 4×40. Follower: 1, 2×20, 3×30 — it shares the first 11 entries.
    let leader_log: Vec<Term> = [vec![1], vec![2; 10], vec![4; 40]].concat();
    let stale_log: Vec<Term> = [vec![1], vec![2; 20], vec![3; 30]].concat();
    let states = vec![
        durable(3, 4, None, 1, &leader_log),
        durable(3, 4, None, 1, &leader_log),
        durable(3, 4, None, 1, &stale_log),
    ];
    let mut c = cluster_from(states, config);
    c.elect(1);
    assert_eq!(terms(c.node(3)), terms(c.node(1)));
    let rejections = rejections_from(&c, 0, 3);
    assert!(
        (1..=3).contains(&rejections),
        "{rejections} rejections for two conflicting terms (40 conflicting entries)"
    );
    assert!(appends_to(&c, 0, 3).len() <= 4);
}

/// §5.3: a follower far behind (1 entry against 200) is caught up after a single rejection.
#[test]
fn fast_backtracking_for_a_follower_far_behind() {
    let leader_log: Vec<Term> = std::iter::once(1).chain([2; 199]).collect();
    let states = vec![
        durable(3, 2, None, 1, &leader_log),
        durable(3, 2, None, 1, &leader_log),
        durable(3, 2, None, 1, &[1]),
    ];
    let mut c = cluster_from(states, config);
    c.elect(1);
    assert_eq!(terms(c.node(3)), terms(c.node(1)));
    assert_eq!(c.node(3).status().last_index, 201);
    assert_eq!(rejections_from(&c, 0, 3), 1);
    assert_eq!(
        appends_to(&c, 0, 3).len(),
        2,
        "one probe, one catch-up append"
    );
}
