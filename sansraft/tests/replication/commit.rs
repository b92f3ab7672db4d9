//! Committing (§5.4.2, Figure 8) and telling the followers what is committed (§5.3).

use sansraft::message::{Append, AppendResponse};
use sansraft::{Body, Config, Index, Input, Message, NodeId, Role};
use sansraft_testkit::cluster::Cluster;

use crate::helpers::*;

// ---------------------------------------------------------------------------------------------
// §5.4.2, Figure 8: an entry from an earlier term is not committed by counting replicas.
// ---------------------------------------------------------------------------------------------

/// One entry per append (so the leader can hand S3 the old entry without the new one), no pre-vote
/// or check-quorum (the schedule below controls every election itself).
fn figure_8_config(id: NodeId) -> Config {
    let mut c = config(id);
    c.pre_vote = false;
    c.check_quorum = false;
    c.max_append_bytes = 1;
    c
}

/// Stage (c)'s network: S1's appends reach S2 in full, S3 only up to index 2, S4 not at all.
fn figure_8_c_network(c: &Cluster, m: &Message) -> bool {
    if m.from != 1 || !is_leader_message(m) {
        return true;
    }
    match (m.to, &m.body) {
        (4, _) => false,
        (3, Body::Append(a)) => {
            let s3_has_index_2 = c.node(3).log_term(2).is_some();
            !(s3_has_index_2 && a.entries.iter().any(|e| e.index >= 3))
        }
        _ => true,
    }
}

/// Drives five servers through stages (a) to (c) of Figure 8 and returns the cluster at the end
/// of (c): S1 leads term 4 and has replicated index 2 (term 2) to S2 and S3, a majority, but its
/// own term-4 entry (index 3) only to S2.
fn figure_8_through_c() -> Cluster {
    // Index 1 (term 1) is committed everywhere.
    let states = (1..=5).map(|_| durable(5, 1, Some(1), 1, &[1])).collect();
    let mut c = cluster_from(states, figure_8_config);

    // (a) S1 leads term 2 and replicates index 2 to S2 only.
    win_election(&mut c, 1, &mut |_, m| {
        !(m.from == 1 && is_leader_message(m) && m.to != 2)
    });
    assert_eq!(c.node(1).term(), 2);
    assert_eq!(terms(c.node(1)), [1, 2]);
    assert_eq!(terms(c.node(2)), [1, 2]);
    for id in 3..=5 {
        assert_eq!(terms(c.node(id)), [1], "S{id}");
    }
    assert_eq!(c.node(1).status().commit, 1);

    // (b) S1 crashes; S5 is elected for term 3 by S3, S4 and itself, and accepts a different
    // entry at index 2, which reaches nobody else.
    c.crash(1);
    win_election(&mut c, 5, &mut |_, m| {
        !(m.from == 5 && is_leader_message(m))
    });
    assert_eq!(c.node(5).term(), 3);
    assert_eq!(terms(c.node(5)), [1, 3]);

    // (c) S5 crashes; S1 restarts, is elected for term 4 and continues replication: the entry
    // of term 2 at index 2 reaches S3, so it is stored on S1, S2 and S3, a majority.
    c.crash(5);
    c.restart(1);
    win_election(&mut c, 1, &mut figure_8_c_network);
    assert_eq!(c.node(1).term(), 4);
    assert_eq!(terms(c.node(1)), [1, 2, 4]);
    assert_eq!(terms(c.node(2)), [1, 2, 4]);
    assert_eq!(terms(c.node(3)), [1, 2]);
    assert_eq!(terms(c.node(4)), [1]);
    // The leader knows it: S3 acknowledged index 2 and S2 index 3 in term 4.
    assert!(
        accepted_by(&c, 3, 4, 2),
        "S3 acknowledged index 2 in term 4"
    );
    assert!(
        accepted_by(&c, 2, 4, 3),
        "S2 acknowledged index 3 in term 4"
    );

    // Index 2 is on a majority, but it is from term 2: it must not be committed by counting.
    assert_eq!(
        c.node(1).status().commit,
        1,
        "§5.4.2: index 2 committed by counting replicas"
    );
    // Heartbeats (and re-probes) change nothing while the term-4 entry is on S1 and S2 only.
    for _ in 0..20 {
        c.tick(1);
        deliver_where(&mut c, &mut figure_8_c_network);
    }
    assert_eq!(c.node(1).role(), Role::Leader);
    assert_eq!(terms(c.node(3)), [1, 2], "the filter kept index 3 from S3");
    for id in 1..=4 {
        assert_eq!(
            c.node(id).status().commit,
            1,
            "S{id}: index 2 must not be committed"
        );
    }
    c
}

/// §5.4.2, Figure 8 (a)–(d): had S1 committed index 2 in (c), (d) would erase a committed entry:
/// S5 can still be elected (by S3, S4 and itself) and overwrite index 2 with its term-3 entry.
#[test]
fn figure_8_old_term_entry_on_majority_is_not_committed() {
    let mut c = figure_8_through_c();

    // (d) S1 crashes; S5 restarts. S2, S3 and S4 reboot too: that clears their memory of S1 as a
    // live leader, which would otherwise make them ignore S5 (leader stickiness, thesis §4.2.3).
    c.crash(1);
    c.restart(5);
    for id in 2..=4 {
        c.crash(id);
        c.restart(id);
    }
    win_election(&mut c, 5, &mut |_, _| true);
    assert!(c.node(5).term() >= 5);
    c.run(3);
    assert_eq!(c.leaders(), vec![5]);
    assert_eq!(c.node(3).log_term(2), Some(3), "S5 overwrote index 2 on S3");
    assert_eq!(c.node(4).log_term(2), Some(3));
    assert!(
        c.node(5).status().commit >= 2,
        "S5's term-3 entry at index 2 is now committed"
    );
    // Nobody ever applied the overwritten entry (index 2, term 2).
    for peer in &c.peers {
        assert!(peer.applied.iter().all(|e| e.index != 2 || e.term == 3));
    }
    // S1 comes back and follows: its index 2 is replaced as well.
    c.restart(1);
    c.run(5);
    for id in [1, 3, 4, 5] {
        assert_eq!(terms(c.node(id)), terms(c.node(5)), "S{id}");
    }
}

/// §5.4.2, Figure 8 (e): once an entry of S1's own term (index 3) is on a majority, it commits,
/// and index 2 with it; S5 can no longer be elected.
#[test]
fn figure_8_current_term_entry_commits_earlier_ones() {
    let mut c = figure_8_through_c();

    // S1 now reaches S3 with index 3 too (still not S4).
    for _ in 0..10 {
        c.tick(1);
        deliver_where(&mut c, &mut |_, m| !(m.from == 1 && m.to == 4));
    }
    assert_eq!(terms(c.node(3)), [1, 2, 4]);
    assert_eq!(
        c.node(1).status().commit,
        3,
        "index 3 (term 4) is on S1, S2 and S3"
    );
    for id in 2..=3 {
        assert_eq!(c.node(id).status().commit, 3, "S{id} learned the commit");
    }

    // S1 crashes; S5 restarts; S2–S4 reboot (clearing stickiness). S5 campaigns alone and loses:
    // S2 and S3 hold a more up-to-date log (§5.4.1).
    c.crash(1);
    c.restart(5);
    for id in 2..=4 {
        c.crash(id);
        c.restart(id);
    }
    for _ in 0..100 {
        c.tick(5);
        c.deliver_all();
        assert_ne!(c.node(5).role(), Role::Leader, "S5 must not win");
    }
    // Let everyone run: someone holding index 3 wins, and index 2 keeps term 2 everywhere.
    for _ in 0..100 {
        c.run(1);
        if !c.leaders().is_empty() {
            break;
        }
    }
    let leaders = c.leaders();
    assert_eq!(leaders.len(), 1);
    assert!([2, 3].contains(&leaders[0]), "leader {leaders:?}");
    c.run(5);
    for id in 2..=5 {
        assert_eq!(c.node(id).log_term(2), Some(2), "S{id}");
        assert_eq!(c.node(id).log_term(3), Some(4), "S{id}");
    }
}

// ---------------------------------------------------------------------------------------------
// Commit propagation (§5.3: "the leader ... includes that index in future AppendEntries RPCs
// (including heartbeats) so that the other servers eventually find out").
// ---------------------------------------------------------------------------------------------

/// §5.3, heartbeats carry min(match, commit): follower 3 holds four stale entries of term 2 that
/// the leader never had, and the leader's appends to it are lost, so its match index stays 0.
/// Heartbeats reach it; had one carried the leader's commit index (8), node 3 would have
/// committed and applied its own stale entries.
#[test]
fn heartbeats_never_carry_a_commit_beyond_the_followers_match() {
    let states = vec![
        durable(3, 2, None, 1, &[1]),
        durable(3, 2, None, 1, &[1]),
        durable(3, 2, None, 1, &[1, 2, 2, 2, 2]),
    ];
    let mut c = cluster_from(states, config);
    let mut no_appends_to_3 =
        |_: &Cluster, m: &Message| !(m.to == 3 && matches!(m.body, Body::Append(_)));
    win_election(&mut c, 1, &mut no_appends_to_3);
    for i in 0..6 {
        c.propose(1, &format!("p{i}")).unwrap();
        deliver_where(&mut c, &mut no_appends_to_3);
    }
    for _ in 0..10 {
        c.tick(1);
        deliver_where(&mut c, &mut no_appends_to_3);
    }
    assert_eq!(c.node(1).status().commit, 8);
    assert_eq!(
        c.node(3).leader(),
        Some(1),
        "node 3 hears the leader's heartbeats"
    );
    let heartbeats: Vec<Index> = c
        .sent_log
        .iter()
        .filter(|m| m.to == 3)
        .filter_map(|m| match m.body {
            Body::Heartbeat(h) => Some(h.commit),
            _ => None,
        })
        .collect();
    assert!(heartbeats.len() >= 3, "{heartbeats:?}");
    assert!(
        heartbeats.iter().all(|&commit| commit == 0),
        "heartbeats to 3: {heartbeats:?}"
    );
    assert_eq!(c.node(3).status().commit, 1);
    assert_eq!(
        terms(c.node(3)),
        [1, 2, 2, 2, 2],
        "node 3's stale entries are untouched"
    );
    assert!(
        c.peers[2].applied.iter().all(|e| e.term != 2),
        "applied a stale entry"
    );

    // Once appends get through, node 3 is repaired and then learns the commit index.
    c.run(4);
    assert_eq!(entries(c.node(3)), entries(c.node(1)));
    assert_eq!(c.node(3).status().commit, 8);
    let mut expected = vec!["1@1".to_string()]; // the entry all three started with
    expected.extend(payloads(6, "p"));
    assert_eq!(c.applied_data(3), expected);
    assert!(c.peers[2].applied.iter().all(|e| e.term != 2));

    // In general: no heartbeat to a follower ever exceeded what that follower acknowledged.
    for to in [2, 3] {
        let mut acked = 0;
        for m in &c.sent_log {
            match m.body {
                Body::AppendResponse(AppendResponse::Accepted { match_index }) if m.from == to => {
                    acked = acked.max(match_index);
                }
                Body::Heartbeat(h) if m.to == to => {
                    assert!(
                        h.commit <= acked,
                        "heartbeat commit {} to {to}, acked {acked}",
                        h.commit
                    );
                }
                _ => {}
            }
        }
    }
}

/// §5.3: followers learn that an entry committed without any further proposal and without a
/// heartbeat timer: the leader tells them as soon as it commits.
#[test]
fn commit_reaches_followers_without_new_proposals_or_ticks() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.deliver_all();
    let position = c.propose(1, "only").unwrap();
    c.deliver_all(); // no tick anywhere
    for id in 1..=3 {
        assert_eq!(c.node(id).status().commit, position.index, "node {id}");
        assert_eq!(c.applied_data(id), ["only"], "node {id}");
    }
}

/// §5.3 (Figure 2, AppendEntries rule 5): a follower sets its commit index to
/// min(leaderCommit, index of the last new entry), never beyond the entries the append verified,
/// even when its own log is longer. Node 3's entry 3 is from a deposed term-2 leader; the append
/// (one a leader holding [1, 1, 3] with commit 3 sends when probing from index 2 with one entry
/// per append) verifies only up to index 2.
#[test]
fn follower_commit_stops_at_the_last_entry_the_append_verified() {
    let states = vec![
        durable(3, 3, None, 3, &[1, 1, 3]),
        durable(3, 3, None, 3, &[1, 1, 3]),
        durable(3, 3, None, 1, &[1, 1, 2]),
    ];
    let mut c = cluster_from(states, config);
    let probe = Message {
        from: 1,
        to: 3,
        term: 3,
        body: Body::Append(Append {
            prev_index: 1,
            prev_term: 1,
            commit: 3,
            entries: log_with_terms(&[1, 1])[1..].to_vec().into(),
        }),
    };
    c.step(3, Input::Message(probe));
    assert_eq!(
        c.node(3).status().commit,
        2,
        "index 3 was not verified by this append"
    );
    assert_eq!(terms(c.node(3)), [1, 1, 2]);
    assert!(c.peers[2].applied.iter().all(|e| e.index <= 2));
    assert_eq!(
        c.network.back().map(|m| &m.body),
        Some(&Body::AppendResponse(AppendResponse::Accepted {
            match_index: 2
        }))
    );
}
