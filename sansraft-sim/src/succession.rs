//! What both worlds' failover watches share (docs/simulator.md, "Quiescence"): when a crashed
//! leader can be replaced, and how soon after it crashed, the rest of the cluster healthy, a
//! leader of a newer term must be elected although quiet followers never time out. The bound:
//! the failure detector's delay (its silence threshold, its probing interval and two ticks at
//! the slowest clock, and a message), then six election timeouts (the randomised timeout, a
//! lease a voter may back, a lower priority's delay, and a split vote's retry), eight messages
//! and four writes at the scenario's worst healthy latencies (randomly slow writes included).

use crate::checker::Checker;
use crate::scenario::{Scenario, StorageParams};
use crate::Micros;
use sansraft::{Membership, Node, NodeId};

/// True if the replicas `others` (every running one but the crashed leader's) can replace
/// `leader` within the bound: they hold a quorum of each half of the committed configuration
/// `m`; every one has `m` in force (a change in flight may take elections longer than the
/// bound: crashes seed 11447, without pre-vote, had a joint and two older configurations in
/// force and two candidates taking the same voter's vote term after term); and one that may
/// lead holds the whole committed prefix durably (else no leader can be elected without
/// `leader`: an entry committed by it and a witness lives on it alone, docs/design.md
/// "Witnesses").
pub(crate) fn can_replace<'a>(
    leader: NodeId,
    m: &Membership,
    checker: &Checker,
    others: impl Iterator<Item = &'a Node> + Clone,
) -> bool {
    let survivors = |half: &[NodeId]| {
        half.is_empty() || 2 * half.iter().filter(|&&v| v != leader).count() > half.len()
    };
    let len = checker.committed_len();
    let term = checker.committed_term(len);
    let settled = others.clone().all(|n| n.membership() == m);
    let mut heirs = others.filter(|n| {
        n.membership().may_lead(n.id())
            && n.status().durable_index >= len
            && (len == 0 || n.log_term(len) == term)
    });
    survivors(&m.voters) && survivors(&m.outgoing) && settled && heirs.next().is_some()
}

/// The failover bound, for a detector that reports a peer silent for `detector_ticks` (its silence
/// threshold plus its probing interval) on disks behaving as `storage` says.
pub(crate) fn failover_bound_us(
    sc: &Scenario,
    storage: &StorageParams,
    detector_ticks: u32,
) -> Micros {
    let tick_us = sc.clocks.iter().map(|c| c.tick_us).max().unwrap_or(1);
    let net = sc.network;
    let message_us = net.base_delay_us * 3 / 2 + net.jitter_us;
    let write_us = storage.longest_write_us() + storage.max_ack_delay_us;
    let t = u64::from(sc.raft.election_timeout_ticks);
    let detect = u64::from(detector_ticks + 2) * tick_us;
    let elect = 6 * t * tick_us + 8 * message_us + 4 * write_us;
    detect + message_us + elect
}
