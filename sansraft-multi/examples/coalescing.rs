//! What coalescing buys: three hosts with `G` groups each (1, 10, 100 and 1,000), every group
//! on all three. For groups that stay active (no quiescence) and for quiet ones, over 100 host
//! ticks once settled, host 1's periodic batches per peer per heartbeat interval, all its
//! batches, the envelopes and encoded bytes it sent, and its engine steps. Then one proposal
//! to every group, all of a leader host's in one `HostInput::Groups`: group writes against
//! host writes on all three hosts until every proposal is committed.
//!
//! ```text
//! cargo run --release -p sansraft-multi --example coalescing
//! ```

mod common;

use bytes::Bytes;
use common::Sim;
use sansraft::{Input, Role};
use sansraft_multi::HostInput;

const TICKS: u64 = 100;

fn main() {
    println!(
        "{:>6} {:>6} | {:>14} {:>8} {:>10} {:>10} {:>12} | {:>11} {:>11}",
        "groups",
        "quiet",
        "periodic/peer",
        "batches",
        "envelopes",
        "bytes",
        "engine steps",
        "group wr.",
        "host wr."
    );
    for groups in [1, 10, 100, 1000] {
        for quiesce in [false, true] {
            let mut sim = Sim::new(groups, quiesce);
            sim.settle(groups);
            while sim.hosts[0].now() % 2 != 0 {
                sim.round();
            }
            let before = *sim.hosts[0].counters();
            let bytes_before = sim.wire_bytes[0];
            for _ in 0..TICKS {
                sim.round();
            }
            let after = *sim.hosts[0].counters();
            let bytes = sim.wire_bytes[0] - bytes_before;
            let intervals = TICKS / u64::from(sim.hosts[0].config().heartbeat_interval_ticks);
            let peers = sim.hosts[0].peers().count() as u64;
            // One proposal to every group, each at its leader.
            let writes_before: Vec<_> = sim.hosts.iter().map(|h| *h.counters()).collect();
            for i in 0..3 {
                let proposals = sim.hosts[i]
                    .groups()
                    .filter(|(_, n)| n.role() == Role::Leader)
                    .map(|(g, _)| (g, Input::Propose(Bytes::from_static(b"p"))))
                    .collect();
                sim.input(i, HostInput::Groups(proposals));
            }
            for _ in 0..4 {
                sim.round();
            }
            let (mut group_writes, mut host_writes) = (0, 0);
            for (h, b) in sim.hosts.iter().zip(&writes_before) {
                group_writes += h.counters().group_writes - b.group_writes;
                host_writes += h.counters().host_writes - b.host_writes;
            }
            println!(
                "{:>6} {:>6} | {:>14} {:>8} {:>10} {:>10} {:>12} | {:>11} {:>11}",
                groups,
                quiesce,
                format!(
                    "{:.2}",
                    (after.periodic_batches - before.periodic_batches) as f64
                        / (intervals * peers) as f64
                ),
                after.batches_sent - before.batches_sent,
                after.envelopes_sent - before.envelopes_sent,
                bytes,
                after.engine_steps - before.engine_steps,
                group_writes,
                host_writes,
            );
        }
    }
}
