//! The simulated network: per-link delay (base + jitter, sometimes a long tail), loss,
//! duplication, and partitions as a matrix of cut directed links. Reordering falls out of the
//! jitter. Partitions are checked when a message arrives, so a cut also drops what was in
//! flight on the link.

use crate::fault::Partition;
use crate::rng::{mix, SimRng};
use crate::scenario::NetworkParams;
use crate::Micros;
use sansraft::NodeId;

/// What happens to one message handed to the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// Lost.
    Lost,
    /// Delivered once, after this delay.
    Once(Micros),
    /// Delivered twice, after these delays.
    Twice(Micros, Micros),
}

/// Links between `n` nodes with ids `1..=n`.
#[derive(Clone, Debug)]
pub(crate) struct Network {
    params: NetworkParams,
    n: usize,
    /// `cut[(from − 1) · n + (to − 1)]`: messages from → to are dropped on arrival.
    cut: Vec<bool>,
    /// Per directed link, indexed like `cut`: the base delay in percent of the scenario's
    /// (50–150 %, fixed per seed), so some links are consistently faster than others.
    link_percent: Vec<u64>,
}

impl Network {
    pub(crate) fn new(n: usize, params: NetworkParams, seed: u64) -> Self {
        let link_percent = (0..n * n)
            .map(|link| 50 + mix(seed ^ mix(link as u64)) % 101)
            .collect();
        Network {
            params,
            n,
            cut: vec![false; n * n],
            link_percent,
        }
    }

    /// True if messages are neither lost, duplicated nor delayed by a long tail.
    pub(crate) fn is_reliable(&self) -> bool {
        let p = &self.params;
        p.loss_ppm == 0 && p.dup_ppm == 0 && p.tail_ppm == 0
    }

    /// Replaces the link behaviour (the liveness phase calms the network).
    pub(crate) fn set_params(&mut self, params: NetworkParams) {
        self.params = params;
    }

    /// One delay draw for a client link: base + uniform jitter, sometimes a long tail.
    pub(crate) fn delay(&self, rng: &mut SimRng) -> Micros {
        self.delay_with_base(self.params.base_delay_us, rng)
    }

    fn delay_with_base(&self, base: Micros, rng: &mut SimRng) -> Micros {
        let p = &self.params;
        let mut d = base + rng.between(0, p.jitter_us);
        if rng.chance_ppm(p.tail_ppm) {
            d += rng.between(0, p.tail_delay_us);
        }
        d.max(1)
    }

    /// Whether a message from `from` to `to` is lost, delivered or duplicated.
    pub(crate) fn route(&self, from: NodeId, to: NodeId, rng: &mut SimRng) -> Route {
        if rng.chance_ppm(self.params.loss_ppm) {
            return Route::Lost;
        }
        let base = match self.link(from, to) {
            Some(link) => self.params.base_delay_us * self.link_percent[link] / 100,
            None => self.params.base_delay_us,
        };
        let first = self.delay_with_base(base, rng);
        if rng.chance_ppm(self.params.dup_ppm) {
            Route::Twice(first, self.delay_with_base(base, rng))
        } else {
            Route::Once(first)
        }
    }

    /// True if a client request or reply is lost.
    pub(crate) fn client_loss(&self, rng: &mut SimRng) -> bool {
        rng.chance_ppm(self.params.loss_ppm)
    }

    /// The index of the directed link, if both ends are nodes of this network.
    fn link(&self, from: NodeId, to: NodeId) -> Option<usize> {
        let (f, t) = (from.checked_sub(1)? as usize, to.checked_sub(1)? as usize);
        (f < self.n && t < self.n).then_some(f * self.n + t)
    }

    /// True if messages from `from` currently reach `to`.
    pub(crate) fn link_open(&self, from: NodeId, to: NodeId) -> bool {
        self.link(from, to).is_none_or(|link| !self.cut[link])
    }

    /// The nodes whose messages to `to` are dropped, in id order (for traces).
    pub(crate) fn cut_from(&self, to: NodeId) -> Vec<NodeId> {
        (1..=self.n as NodeId)
            .filter(|&from| !self.link_open(from, to))
            .collect()
    }

    /// Every link works again.
    pub(crate) fn heal(&mut self) {
        self.cut.fill(false);
    }

    /// True if some link is cut.
    pub(crate) fn is_partitioned(&self) -> bool {
        self.cut.iter().any(|&c| c)
    }

    /// Replaces the current partition with `shape`; `leader` resolves
    /// [`Partition::IsolateLeader`].
    pub(crate) fn partition(&mut self, shape: &Partition, leader: NodeId) {
        self.heal();
        let all: Vec<NodeId> = (1..=self.n as NodeId).collect();
        match shape {
            Partition::Split { side } => {
                let rest: Vec<NodeId> = all.iter().copied().filter(|i| !side.contains(i)).collect();
                self.cut_both(side, &rest);
            }
            Partition::OneWay { from, to } => self.cut_one_way(from, to),
            Partition::IsolateLeader => {
                let rest: Vec<NodeId> = all.iter().copied().filter(|&i| i != leader).collect();
                self.cut_both(&[leader], &rest);
            }
            Partition::DeafenLeader => {
                let rest: Vec<NodeId> = all.iter().copied().filter(|&i| i != leader).collect();
                self.cut_one_way(&rest, &[leader]);
            }
            Partition::Bridge { left, right, .. } => self.cut_both(left, right),
        }
    }

    fn cut_both(&mut self, a: &[NodeId], b: &[NodeId]) {
        self.cut_one_way(a, b);
        self.cut_one_way(b, a);
    }

    fn cut_one_way(&mut self, from: &[NodeId], to: &[NodeId]) {
        for &f in from {
            for &t in to {
                let (fi, ti) = (f as usize - 1, t as usize - 1);
                if f != t && fi < self.n && ti < self.n {
                    self.cut[fi * self.n + ti] = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(n: usize) -> Network {
        Network::new(
            n,
            NetworkParams {
                base_delay_us: 10,
                jitter_us: 0,
                loss_ppm: 0,
                dup_ppm: 0,
                tail_ppm: 0,
                tail_delay_us: 0,
            },
            1,
        )
    }

    #[test]
    fn partitions_cut_the_right_links() {
        let mut n = net(5);
        n.partition(
            &Partition::Bridge {
                bridge: 3,
                left: vec![1, 2],
                right: vec![4, 5],
            },
            0,
        );
        assert!(!n.link_open(1, 4) && !n.link_open(5, 2));
        assert!(n.link_open(1, 3) && n.link_open(3, 5) && n.link_open(1, 2));
        n.partition(
            &Partition::OneWay {
                from: vec![1],
                to: vec![2],
            },
            0,
        );
        assert!(!n.link_open(1, 2) && n.link_open(2, 1) && n.link_open(1, 4));
        n.partition(&Partition::IsolateLeader, 4);
        assert!(!n.link_open(4, 1) && !n.link_open(2, 4) && n.link_open(1, 2));
        n.partition(&Partition::DeafenLeader, 4);
        assert!(n.link_open(4, 1) && !n.link_open(2, 4) && n.link_open(1, 2));
        n.heal();
        assert!(!n.is_partitioned());
    }
}
