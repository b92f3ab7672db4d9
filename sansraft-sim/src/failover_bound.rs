//! The failover bound: how soon after a leader crashes, the rest of the cluster healthy, a
//! leader of a newer term must be elected although quiet followers never time out
//! (docs/simulator.md, "Quiescence"), in both worlds. The failure detector's delay (its silence
//! threshold, its probing interval and two ticks at the slowest clock, and a message), then six
//! election timeouts (the randomised timeout, a lease a voter may back, a lower priority's
//! delay, and a split vote's retry), eight messages and four writes at the scenario's worst
//! healthy latencies (randomly slow writes included).

use crate::scenario::{Scenario, StorageParams};
use crate::Micros;

/// The bound, for a detector that reports a peer silent for `detector_ticks` (its silence
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
