//! Property: after any schedule of ticks, message loss, duplication and reordering, snapshots,
//! crashes, restarts and leadership transfers, every node's state machine is a prefix of one
//! history, so the followers' applied state equals the leader's at the same index (§5.4.3 with
//! §7); and once the network heals, everyone catches up.

use proptest::prelude::*;
use sansraft::{Config, Input, NodeId};
use sansraft_testkit::Cluster;

#[derive(Clone, Debug)]
enum Op {
    TickAll,
    DeliverAll,
    Deliver(usize),
    Drop(usize),
    Duplicate(usize),
    Propose,
    Snapshot(usize),
    Crash(usize),
    Restart(usize),
    Transfer(usize),
    Isolate(usize),
    Heal,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::TickAll),
        4 => Just(Op::DeliverAll),
        10 => any::<usize>().prop_map(Op::Deliver),
        2 => any::<usize>().prop_map(Op::Drop),
        2 => any::<usize>().prop_map(Op::Duplicate),
        6 => Just(Op::Propose),
        3 => (0..3usize).prop_map(Op::Snapshot),
        1 => (0..3usize).prop_map(Op::Crash),
        2 => (0..3usize).prop_map(Op::Restart),
        1 => (0..3usize).prop_map(Op::Transfer),
        1 => (0..3usize).prop_map(Op::Isolate),
        1 => Just(Op::Heal),
    ]
}

fn config(id: NodeId) -> Config {
    let mut c = Config::new(id, id * 7919);
    c.compaction_keep_entries = id - 1;
    c.snapshot_chunk_bytes = 6;
    c.max_snapshot_chunks_in_flight = 2;
    c.snapshot_retry_ticks = 3;
    c
}

/// Every pair of state machines agrees on their common prefix.
fn check_prefixes(c: &Cluster) -> Result<(), TestCaseError> {
    let states: Vec<Vec<String>> = c.ids().into_iter().map(|id| c.applied_data(id)).collect();
    for a in &states {
        for b in &states {
            let n = a.len().min(b.len());
            prop_assert_eq!(&a[..n], &b[..n], "state machines diverge");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn followers_applied_state_equals_the_leaders(ops in prop::collection::vec(op(), 1..400)) {
        let mut c = Cluster::with_config(3, config);
        let mut next = 0;
        for op in ops {
            match op {
                Op::TickAll => c.tick_all(),
                Op::DeliverAll => c.deliver_all(),
                Op::Deliver(k) if !c.network.is_empty() => {
                    let m = c.network.remove(k % c.network.len()).unwrap();
                    if !c.cut.contains(&(m.from, m.to)) {
                        c.step(m.to, Input::Message(m));
                    }
                }
                Op::Drop(k) if !c.network.is_empty() => {
                    c.network.remove(k % c.network.len());
                }
                Op::Duplicate(k) if !c.network.is_empty() => {
                    let m = c.network[k % c.network.len()].clone();
                    c.network.push_back(m);
                }
                Op::Propose => {
                    if let Some(&l) = c.leaders().first() {
                        next += 1;
                        let _ = c.propose(l, &format!("c{next}"));
                    }
                }
                Op::Snapshot(i) => {
                    let id = i as NodeId + 1;
                    let up = c.peers[i].node.as_ref().is_some_and(|n| {
                        n.status().applied > n.snapshot().index
                    });
                    if up {
                        c.take_snapshot(id);
                    }
                }
                Op::Crash(i) => c.crash(i as NodeId + 1),
                Op::Restart(i) if c.peers[i].node.is_none() => c.restart(i as NodeId + 1),
                Op::Transfer(i) => {
                    if let Some(&l) = c.leaders().first() {
                        c.step(l, Input::TransferLeadership(i as NodeId + 1));
                    }
                }
                Op::Isolate(i) => c.isolate(i as NodeId + 1),
                Op::Heal => c.heal(),
                _ => {}
            }
            check_prefixes(&c)?;
        }
        // Heal everything; everyone catches up with the leader.
        c.heal();
        for id in c.ids() {
            if c.peers[id as usize - 1].node.is_none() {
                c.restart(id);
            }
        }
        for _ in 0..200 {
            c.run(1);
        }
        check_prefixes(&c)?;
        let leaders = c.leaders();
        prop_assert_eq!(leaders.len(), 1);
        let leader = c.applied_data(leaders[0]);
        for id in c.ids() {
            prop_assert_eq!(&c.applied_data(id), &leader, "node {} lags", id);
        }
    }
}
