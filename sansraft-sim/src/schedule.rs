//! Generates a fault schedule up front from the scenario's random stream.
//!
//! Faults fire at random gaps around the profile's mean. Each fault that starts a condition
//! (crash, pause, stall, slow disk, partition) is paired with the fault that ends it, scheduled
//! separately so the shrinker can drop either. Whatever is still in force when the fault phase
//! ends is healed then.
//!
//! Two combinations aim at leases (thesis §6.4.1): a leader asked to transfer leadership is
//! sometimes deafened at that instant, so it believes it leads while the target is elected; and
//! a bridge around the leader whose bridge node restarts as the other side asks for its vote,
//! an instant after backing the leader's lease ([`Fault::LeaseBridge`]).

use crate::fault::{Fault, Partition, ScheduledFault};
use crate::profile::FaultMix;
use crate::rng::SimRng;
use crate::Micros;
use sansraft::NodeId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Partition,
    Crash,
    Pause,
    StorageStall,
    StorageSlow,
    LeaseBridge,
}

/// The fault schedule for one scenario, sorted by time.
pub(crate) fn generate(
    rng: &mut SimRng,
    nodes: usize,
    mix: &FaultMix,
    fault_end_us: Micros,
) -> Vec<ScheduledFault> {
    let mut kinds = Vec::new();
    if mix.partitions {
        kinds.push(Kind::Partition);
    }
    if mix.crashes {
        kinds.extend([Kind::Crash, Kind::Crash]);
    }
    if mix.pauses {
        kinds.push(Kind::Pause);
    }
    if mix.storage {
        kinds.extend([Kind::StorageStall, Kind::StorageSlow]);
    }
    if mix.partitions && mix.crashes {
        kinds.push(Kind::LeaseBridge);
    }
    // Leadership transfers in every profile, at their own pace, whatever else is going on.
    let mut transfers = Vec::new();
    let mut t = rng.between(500_000, 4_000_000);
    while t < fault_end_us {
        let to = rng.between(1, nodes as u64) as NodeId;
        transfers.push(ScheduledFault {
            at_us: t,
            fault: Fault::TransferLeadership { to },
        });
        // The leader hears nothing more: it still believes it leads when the target wins.
        if mix.partitions && rng.below(4) == 0 {
            let heal = t + rng.between(100_000, 1_500_000);
            transfers.push(ScheduledFault {
                at_us: t,
                fault: Fault::Partition {
                    shape: Partition::DeafenLeader,
                },
            });
            if heal < fault_end_us {
                transfers.push(ScheduledFault {
                    at_us: heal,
                    fault: Fault::Heal,
                });
            }
        }
        t += rng.between(1_000_000, 6_000_000);
    }
    if kinds.is_empty() {
        return transfers;
    }
    // Usually only a minority may be down at once; in a quarter of chaos runs, everyone.
    let max_down = if mix.swarm && rng.below(4) == 0 {
        nodes
    } else {
        ((nodes - 1) / 2).max(1)
    };
    let mut gen = Generator {
        rng,
        nodes,
        out: Vec::new(),
        end: fault_end_us,
        down_until: vec![0; nodes],
        paused_until: vec![0; nodes],
        disk_until: vec![0; nodes],
        partition_until: 0,
        max_down,
    };
    let gap = mix.mean_gap_us.max(1);
    let mut t = gen.rng.between(gap / 2, gap + gap / 2);
    while t < fault_end_us {
        match gen.rng.pick(&kinds) {
            Kind::Partition => gen.partition(t),
            Kind::Crash => gen.crash(t),
            Kind::Pause => gen.pause(t),
            Kind::StorageStall => gen.stall(t),
            Kind::StorageSlow => gen.slow(t),
            Kind::LeaseBridge => gen.lease_bridge(t),
        }
        t += gen.rng.between(gap / 2, gap + gap / 2);
    }
    // Respites: one or two healthy windows of 2–5 s in which the liveness oracles apply during
    // the fault phase too. Nothing fails inside them; transfers and membership changes go on.
    let respites = gen.rng.between(1, 2);
    for _ in 0..respites {
        let len = gen.rng.between(2_000_000, 5_000_000);
        if fault_end_us <= len + 1_000_000 {
            break;
        }
        let at = gen.rng.between(1_000_000, fault_end_us - len);
        gen.out.retain(|f| !(at..at + len).contains(&f.at_us));
        gen.push(at, Fault::HealAll);
        gen.push(at + len, Fault::Roughen);
    }
    let mut out = gen.out;
    out.extend(transfers);
    out.sort_by_key(|f| f.at_us);
    out
}

struct Generator<'a> {
    rng: &'a mut SimRng,
    nodes: usize,
    out: Vec<ScheduledFault>,
    end: Micros,
    down_until: Vec<Micros>,
    paused_until: Vec<Micros>,
    disk_until: Vec<Micros>,
    partition_until: Micros,
    max_down: usize,
}

impl Generator<'_> {
    fn push(&mut self, at_us: Micros, fault: Fault) {
        if at_us < self.end {
            self.out.push(ScheduledFault { at_us, fault });
        }
    }

    /// A node for which `until[node] <= t`, if any.
    fn free_node(&mut self, until: &[Micros], t: Micros) -> Option<usize> {
        let free: Vec<usize> = (0..self.nodes).filter(|&i| until[i] <= t).collect();
        (!free.is_empty()).then(|| self.rng.pick(&free))
    }

    fn shuffled_ids(&mut self) -> Vec<NodeId> {
        let mut ids: Vec<NodeId> = (1..=self.nodes as NodeId).collect();
        self.rng.shuffle(&mut ids);
        ids
    }

    fn partition(&mut self, t: Micros) {
        if t < self.partition_until || self.nodes < 2 {
            return;
        }
        let n = self.nodes;
        let ids = self.shuffled_ids();
        let sorted = |s: &[NodeId]| {
            let mut v = s.to_vec();
            v.sort_unstable();
            v
        };
        let shape = match self.rng.below(10) {
            0..=2 => {
                let k = self.rng.between(1, (n / 2) as u64) as usize;
                Partition::Split {
                    side: sorted(&ids[..k]),
                }
            }
            3..=4 => {
                let k = self.rng.between(1, (n - 1) as u64) as usize;
                let m = self.rng.between(1, (n - k) as u64) as usize;
                Partition::OneWay {
                    from: sorted(&ids[..k]),
                    to: sorted(&ids[k..k + m]),
                }
            }
            5..=7 => Partition::IsolateLeader,
            _ if n >= 3 => {
                let k = self.rng.between(1, (n - 2) as u64) as usize;
                Partition::Bridge {
                    bridge: ids[0],
                    left: sorted(&ids[1..1 + k]),
                    right: sorted(&ids[1 + k..]),
                }
            }
            _ => Partition::IsolateLeader,
        };
        let duration = self.rng.between(300_000, 5_000_000);
        self.partition_until = t + duration;
        self.push(t, Fault::Partition { shape });
        self.push(t + duration, Fault::Heal);
    }

    /// A [`Fault::LeaseBridge`] for a while.
    fn lease_bridge(&mut self, t: Micros) {
        if t < self.partition_until || self.nodes < 3 {
            return;
        }
        let duration = self.rng.between(500_000, 3_000_000);
        self.partition_until = t + duration;
        self.push(t, Fault::LeaseBridge);
        self.push(t + duration, Fault::Heal);
    }

    fn crash(&mut self, t: Micros) {
        let down = self.down_until.iter().filter(|&&u| u > t).count();
        if down >= self.max_down {
            return;
        }
        // Half of the crashes hit whoever leads when they fire.
        if self.rng.coin() {
            let down_us = self.rng.between(50_000, 3_000_000);
            let tear = self.rng.coin();
            let on_write = self.rng.coin();
            self.push(
                t,
                Fault::CrashLeader {
                    tear,
                    on_write,
                    down_us,
                },
            );
            return;
        }
        let until = self.down_until.clone();
        let Some(i) = self.free_node(&until, t) else {
            return;
        };
        // A quarter of crashes are bounces: the node is back within 2 ms, while acknowledgements
        // of its previous incarnation may still be on their way.
        let down_for = if self.rng.below(4) == 0 {
            self.rng.between(1, 2_000)
        } else {
            self.rng.between(50_000, 5_000_000)
        };
        self.down_until[i] = t + down_for;
        let node = i as NodeId + 1;
        let tear = self.rng.coin();
        let on_write = self.rng.coin();
        let on_durable = !on_write && self.rng.coin();
        self.push(
            t,
            Fault::Crash {
                node,
                tear,
                on_write,
                on_durable,
            },
        );
        self.push(t + down_for, Fault::Restart { node });
    }

    fn pause(&mut self, t: Micros) {
        let until = self.paused_until.clone();
        let Some(i) = self.free_node(&until, t) else {
            return;
        };
        let duration = self.rng.between(20_000, 3_000_000);
        self.paused_until[i] = t + duration;
        let node = i as NodeId + 1;
        self.push(t, Fault::Pause { node });
        self.push(t + duration, Fault::Resume { node });
    }

    fn stall(&mut self, t: Micros) {
        let until = self.disk_until.clone();
        let Some(i) = self.free_node(&until, t) else {
            return;
        };
        let duration = self.rng.between(20_000, 3_000_000);
        self.disk_until[i] = t + duration;
        let node = i as NodeId + 1;
        self.push(t, Fault::StorageStall { node });
        self.push(t + duration, Fault::StorageResume { node });
    }

    fn slow(&mut self, t: Micros) {
        let until = self.disk_until.clone();
        let Some(i) = self.free_node(&until, t) else {
            return;
        };
        let duration = self.rng.between(500_000, 5_000_000);
        self.disk_until[i] = t + duration;
        let node = i as NodeId + 1;
        let factor = self.rng.pick(&[5, 20, 100]);
        self.push(t, Fault::StorageSlow { node, factor });
        self.push(t + duration, Fault::StorageSlow { node, factor: 1 });
    }
}
