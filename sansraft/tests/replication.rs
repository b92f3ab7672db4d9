//! Log replication: Raft §5.3 (AppendEntries, the consistency check, repairing follower logs),
//! §5.4.2 (committing entries from earlier terms), and the engine's replication machinery: fast
//! backtracking, flow control, batching, heartbeat commit propagation, refusals and back-pressure.

use bytes::Bytes;
use sansraft::message::{Append, AppendResponse};
use sansraft::{
    Body, Config, DurableState, Entry, EntryKind, HardState, Index, Input, LogPosition, Membership,
    Message, Node, NodeId, ProposeError, Role, SnapshotMeta, Term,
};
use sansraft_testkit::cluster::{data, Cluster};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn config(id: NodeId) -> Config {
    Config::new(id, id * 7919)
}

/// Entries at indexes 1.. with the given terms. The payload is derived from (index, term), so two
/// logs holding an entry with the same index and term hold the same entry (Log Matching).
fn log_with_terms(terms: &[Term]) -> Vec<Entry> {
    terms
        .iter()
        .enumerate()
        .map(|(i, &term)| {
            let index = i as Index + 1;
            Entry {
                term,
                index,
                kind: EntryKind::Normal,
                data: Bytes::from(format!("{index}@{term}")),
            }
        })
        .collect()
}

/// The durable state of a member of an `n`-voter cluster holding a log with the given terms.
fn durable(
    n: u64,
    term: Term,
    vote: Option<NodeId>,
    commit: Index,
    terms: &[Term],
) -> DurableState {
    DurableState {
        hard_state: HardState { term, vote, commit },
        snapshot: SnapshotMeta {
            index: 0,
            term: 0,
            membership: Membership::with_voters(1..=n),
        },
        entries: log_with_terms(terms),
        applied: 0,
    }
}

/// A cluster whose node `i` starts from `states[i - 1]` (and has it on disk).
fn cluster_from(states: Vec<DurableState>, config: impl Fn(NodeId) -> Config) -> Cluster {
    let mut c = Cluster::with_config(states.len() as u64, &config);
    for (id, state) in c.ids().into_iter().zip(states) {
        c.start_from(id, state);
    }
    c
}

/// The terms of a node's log, by index from 1.
fn terms(node: &Node) -> Vec<Term> {
    (1..=node.status().last_index)
        .map(|i| {
            node.log_term(i)
                .expect("no compaction: every index is held")
        })
        .collect()
}

fn entries(node: &Node) -> Vec<Entry> {
    node.log_entries_from(1).cloned().collect()
}

/// Delivers messages in FIFO order until the network is quiet, dropping those `keep` rejects.
/// `keep` sees the cluster as it is when the message arrives.
fn deliver_where(c: &mut Cluster, keep: &mut dyn FnMut(&Cluster, &Message) -> bool) {
    for _ in 0..1_000_000 {
        let Some(m) = c.network.pop_front() else {
            return;
        };
        if keep(c, &m) {
            c.network.push_front(m);
            c.deliver_one();
        }
    }
    panic!("network never went quiet");
}

/// Ticks `id` (and only `id`) and delivers through `keep` until it leads.
fn win_election(c: &mut Cluster, id: NodeId, keep: &mut dyn FnMut(&Cluster, &Message) -> bool) {
    for _ in 0..300 {
        c.tick(id);
        deliver_where(c, keep);
        if c.node(id).role() == Role::Leader {
            return;
        }
    }
    panic!("node {id} never won an election");
}

fn is_leader_message(m: &Message) -> bool {
    matches!(m.body, Body::Append(_) | Body::Heartbeat(_))
}

/// Appends sent to `to` since position `since` of the sent log.
fn appends_to(c: &Cluster, since: usize, to: NodeId) -> Vec<&Append> {
    c.sent_log[since..]
        .iter()
        .filter(|m| m.to == to)
        .filter_map(|m| match &m.body {
            Body::Append(a) => Some(a),
            _ => None,
        })
        .collect()
}

fn rejections_from(c: &Cluster, since: usize, from: NodeId) -> usize {
    c.sent_log[since..]
        .iter()
        .filter(|m| {
            m.from == from
                && matches!(
                    m.body,
                    Body::AppendResponse(AppendResponse::Rejected { .. })
                )
        })
        .count()
}

fn accepted_by(c: &Cluster, from: NodeId, term: Term, match_index: Index) -> bool {
    c.sent_log.iter().any(|m| {
        m.from == from
            && m.term == term
            && m.body == Body::AppendResponse(AppendResponse::Accepted { match_index })
    })
}

fn payloads(n: usize, prefix: &str) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

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

// ---------------------------------------------------------------------------------------------
// Flow control (thesis §10.2.1, docs/design.md §4).
// ---------------------------------------------------------------------------------------------

/// Flow control: with a window of two messages and a follower whose answers never arrive, the
/// leader keeps at most two appends in flight to it while replicating; the other follower gets
/// everything. After heartbeats the silent follower is probed one append at a time.
#[test]
fn inflight_window_bounds_unacknowledged_appends() {
    let mut c = Cluster::with_config(3, |id| {
        let mut c = config(id);
        c.max_inflight_msgs = 2;
        c
    });
    c.elect(1);
    c.deliver_all();
    c.cut.insert((3, 1)); // node 3 hears the leader, the leader never hears node 3
    let mark = c.sent_log.len();
    for i in 0..20 {
        c.propose(1, &format!("p{i}")).unwrap();
        c.deliver_all();
    }
    let to3 = appends_to(&c, mark, 3);
    assert_eq!(to3.len(), 2, "a window of two appends");
    assert_eq!(
        appends_to(&c, mark, 2).len(),
        20,
        "one append per proposal to node 2"
    );
    assert_eq!(
        c.node(1).status().commit,
        21,
        "node 2 and the leader form a majority"
    );
    assert_eq!(
        c.node(3).status().last_index,
        3,
        "node 3 got the two appends in the window"
    );

    // Heartbeats notice the stuck window and fall back to probing: one append at a time, and
    // none of its answers arrive, so no more than one per probe.
    let mark = c.sent_log.len();
    for _ in 0..20 {
        c.tick(1);
        c.deliver_all();
    }
    assert_eq!(c.node(1).role(), Role::Leader);
    assert_eq!(
        appends_to(&c, mark, 3).len(),
        1,
        "a single unanswered probe"
    );

    c.heal();
    c.run(4);
    assert_eq!(entries(c.node(3)), entries(c.node(1)));
    assert_eq!(c.applied_data(3), payloads(20, "p"));
}

/// Flow control in bytes: `max_inflight_bytes` closes the window once the bytes in flight reach it.
#[test]
fn inflight_bytes_bound_unacknowledged_appends() {
    let mut c = Cluster::with_config(3, |id| {
        let mut c = config(id);
        c.max_inflight_bytes = 100;
        c
    });
    c.elect(1);
    c.deliver_all();
    c.cut.insert((3, 1));
    let mark = c.sent_log.len();
    for i in 0..10 {
        // Two-byte payloads: 26 accounted bytes each; the fourth brings the window to 104.
        c.propose(1, &format!("b{i}")).unwrap();
        c.deliver_all();
    }
    assert_eq!(appends_to(&c, mark, 3).len(), 4);
    assert_eq!(appends_to(&c, mark, 2).len(), 10);
}

/// Flow control: `max_append_bytes` caps the entries in one append, except that a single entry
/// larger than the cap is still sent, alone.
#[test]
fn append_size_is_capped_but_an_oversized_entry_is_sent_alone() {
    const CAP: u64 = 100;
    let mut c = Cluster::with_config(3, |id| {
        let mut c = config(id);
        c.max_append_bytes = CAP;
        c
    });
    c.elect(1);
    c.deliver_all();

    // Ten 2-byte commands (26 accounted bytes each): at most three per append.
    let mark = c.sent_log.len();
    let small = payloads(10, "s");
    c.step(
        1,
        Input::ProposeBatch(small.iter().map(|s| data(s)).collect()),
    );
    for to in [2, 3] {
        let sizes: Vec<usize> = appends_to(&c, mark, to)
            .iter()
            .map(|a| a.entries.len())
            .collect();
        assert_eq!(sizes, [3, 3, 3, 1], "appends to {to}");
    }

    // A 500-byte command between two small ones: three appends, the big one alone.
    c.deliver_all();
    let mark = c.sent_log.len();
    let big = "x".repeat(500);
    c.step(
        1,
        Input::ProposeBatch(vec![data("before"), data(&big), data("after")]),
    );
    for to in [2, 3] {
        let appends = appends_to(&c, mark, to);
        let sizes: Vec<usize> = appends.iter().map(|a| a.entries.len()).collect();
        assert_eq!(sizes, [1, 1, 1], "appends to {to}");
        assert_eq!(appends[1].entries[0].data.len(), 500);
    }
    c.deliver_all();
    c.run(2);

    for m in &c.sent_log {
        if let Body::Append(a) = &m.body {
            let bytes: u64 = a.entries.iter().map(Entry::accounted_bytes).sum();
            assert!(
                bytes <= CAP || a.entries.len() == 1,
                "append of {bytes} bytes: {a:?}"
            );
        }
    }
    let mut expected = small.clone();
    expected.extend(["before".to_string(), big, "after".to_string()]);
    for id in 1..=3 {
        assert_eq!(c.applied_data(id), expected, "node {id}");
    }
}

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

// ---------------------------------------------------------------------------------------------
// Lost messages in pipelined (replicate) state.
// ---------------------------------------------------------------------------------------------

fn carries_index_in(m: &Message, to: NodeId, range: std::ops::RangeInclusive<Index>) -> bool {
    m.to == to
        && matches!(&m.body, Body::Append(a) if a.entries.iter().any(|e| range.contains(&e.index)))
}

/// Pipelined appends lost at the tail: no later append exposes the gap, so only the heartbeat
/// timer can; replication completes after heartbeats.
#[test]
fn lost_appends_at_the_tail_are_recovered_by_heartbeats() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.deliver_all();
    for i in 0..10 {
        c.propose(1, &format!("p{i}")).unwrap();
        // Entries 2..=11; the appends carrying 8..=11 to node 3 are lost.
        deliver_where(&mut c, &mut |_, m| !carries_index_in(m, 3, 8..=11));
    }
    assert_eq!(c.node(3).status().last_index, 7, "node 3 missed the tail");
    assert_eq!(c.node(1).status().commit, 11);
    for _ in 0..10 {
        c.run(1);
    }
    assert_eq!(entries(c.node(3)), entries(c.node(1)));
    assert_eq!(c.applied_data(3), payloads(10, "p"));
}

/// Pipelined appends lost in the middle: the next append exposes the gap, the follower rejects
/// it, and the leader goes back to probing from the follower's end.
#[test]
fn lost_appends_in_the_middle_are_recovered() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.deliver_all();
    for i in 0..10 {
        c.propose(1, &format!("p{i}")).unwrap();
        deliver_where(&mut c, &mut |_, m| !carries_index_in(m, 3, 4..=6));
    }
    c.run(4);
    assert_eq!(entries(c.node(3)), entries(c.node(1)));
    assert_eq!(c.applied_data(3), payloads(10, "p"));
    assert!(
        rejections_from(&c, 0, 3) >= 1,
        "the gap was exposed by a rejection"
    );
}

/// Lost acknowledgements with a full window: heartbeat answers free the window and a later
/// probe re-establishes the match; replication completes.
#[test]
fn lost_acknowledgements_with_a_full_window_are_recovered() {
    let mut c = Cluster::with_config(3, |id| {
        let mut c = config(id);
        c.max_inflight_msgs = 2;
        c
    });
    c.elect(1);
    c.deliver_all();
    let acks_from_3 = |m: &Message| m.from == 3 && matches!(m.body, Body::AppendResponse(_));
    for i in 0..10 {
        c.propose(1, &format!("p{i}")).unwrap();
        deliver_where(&mut c, &mut |_, m| !acks_from_3(m));
    }
    assert!(
        c.node(3).status().last_index < 11,
        "the window held node 3 back"
    );
    for _ in 0..20 {
        c.run(1);
    }
    assert_eq!(entries(c.node(3)), entries(c.node(1)));
    assert_eq!(c.applied_data(3), payloads(10, "p"));
}

/// The lost append was the whole window (one in flight) and the last entry: a heartbeat answer
/// frees the window (its acknowledgement may have been lost), so nothing is in flight any more,
/// yet the follower still lacks the entry. The leader must notice that its match index has not
/// moved past what it sent and probe again (§5.3: the leader retries until the follower's log
/// matches), not wait for a later entry to expose the gap. Found by sansraft-sim's healthy-window
/// transfer oracle: during a transfer no later entry comes, so the target was never caught up.
#[test]
fn a_lost_append_that_was_the_whole_window_is_resent() {
    let mut c = Cluster::with_config(3, |id| {
        let mut c = config(id);
        c.max_inflight_msgs = 1;
        c
    });
    c.elect(1);
    c.deliver_all();
    c.propose(1, "last").unwrap();
    deliver_where(&mut c, &mut |_, m| !carries_index_in(m, 3, 2..=2));
    assert_eq!(c.node(3).status().last_index, 1, "node 3 missed entry 2");
    for _ in 0..10 {
        c.run(1);
    }
    assert_eq!(entries(c.node(3)), entries(c.node(1)));
    assert_eq!(c.applied_data(3), vec!["last".to_owned()]);
}

/// Read confirmation rounds (thesis §6.4) are heartbeat broadcasts too, but not the heartbeat
/// timer: two reads in the same tick must not make the leader judge an append that is simply
/// still in flight as lost and knock its follower out of pipelining (§5.3 loss detection runs
/// once per heartbeat interval of the leader's ticks).
#[test]
fn read_rounds_do_not_knock_a_pipelining_follower_to_probe() {
    let mut c = Cluster::new(3);
    c.elect(1);
    c.deliver_all();
    c.propose(1, "first").unwrap();
    c.deliver_all();
    assert_eq!(
        c.node(1).progress_state(2),
        Some(sansraft::ProgressState::Replicate)
    );
    // An append in flight to node 2, and two reads before anything is delivered.
    c.propose(1, "second").unwrap();
    c.step(1, Input::ReadIndex(1));
    c.step(1, Input::ReadIndex(2));
    assert_eq!(
        c.node(1).progress_state(2),
        Some(sansraft::ProgressState::Replicate),
        "an append in flight for no time at all is not lost"
    );
    c.deliver_all();
    assert_eq!(
        c.applied_data(2),
        vec!["first".to_owned(), "second".to_owned()]
    );
}
