//! One failure detector per peer node, shared by every group the peer is a member of. Public:
//! an embedder that hosts groups its own way (the simulator's single-group world does) runs
//! the same detector.
//!
//! Whatever arrives from a peer node (any batch addressed to this host, even an empty one)
//! counts as hearing from it. A peer silent for `unreachable_after_ticks` host ticks is
//! declared unreachable once; it can be declared again only after it was heard from again.

use sansraft::NodeId;
use std::collections::BTreeMap;

/// What the detector knows of one peer node.
#[derive(Clone, Copy, Debug)]
struct Liveness {
    /// The host tick at which the peer was last heard from (or started being tracked).
    last_heard: u64,
    /// The current silence was reported already.
    reported: bool,
}

/// The per-peer-node failure detector, in ticks of the host's clock.
#[derive(Clone, Debug)]
pub struct FailureDetector {
    unreachable_after_ticks: u64,
    peers: BTreeMap<NodeId, Liveness>,
}

impl FailureDetector {
    /// A detector that declares a peer unreachable after this many silent ticks.
    pub fn new(unreachable_after_ticks: u32) -> Self {
        FailureDetector {
            unreachable_after_ticks: u64::from(unreachable_after_ticks),
            peers: BTreeMap::new(),
        }
    }

    /// Starts watching `peer` (a member of some hosted group) as if just heard from, unless it
    /// is watched already.
    pub fn watch(&mut self, peer: NodeId, now: u64) {
        self.peers.entry(peer).or_insert(Liveness {
            last_heard: now,
            reported: false,
        });
    }

    /// Stops watching `peer` (a member of no hosted group any more).
    pub fn forget(&mut self, peer: NodeId) {
        self.peers.remove(&peer);
    }

    /// The watched peers, in id order.
    pub fn watched(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.peers.keys().copied()
    }

    /// Something arrived from `peer` at tick `now`; true if its silence had been reported (it
    /// is reachable again).
    pub fn heard(&mut self, peer: NodeId, now: u64) -> bool {
        let Some(liveness) = self.peers.get_mut(&peer) else {
            return false;
        };
        let fresh = Liveness {
            last_heard: now,
            reported: false,
        };
        std::mem::replace(liveness, fresh).reported
    }

    /// Appends to `out` every peer whose silence reached the limit at tick `now` and was not
    /// reported yet, in id order, and marks it reported.
    pub fn newly_unreachable(&mut self, now: u64, out: &mut Vec<NodeId>) {
        for (&peer, liveness) in &mut self.peers {
            let silent = now.saturating_sub(liveness.last_heard);
            if !liveness.reported && silent >= self.unreachable_after_ticks {
                liveness.reported = true;
                out.push(peer);
            }
        }
    }

    /// True if `peer` is watched and its current silence was reported.
    pub fn is_unreachable(&self, peer: NodeId) -> bool {
        self.peers.get(&peer).is_some_and(|l| l.reported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_peer_is_reported_once_per_silence() {
        let mut d = FailureDetector::new(3);
        d.watch(2, 0);
        d.watch(3, 0);
        let mut out = Vec::new();
        for now in 1..=2 {
            d.heard(3, now);
            d.newly_unreachable(now, &mut out);
        }
        assert!(out.is_empty());
        d.newly_unreachable(3, &mut out);
        assert_eq!(out, [2]);
        d.newly_unreachable(9, &mut out);
        assert_eq!(out, [2, 3], "2 not again; 3 silent since tick 2");
        assert!(d.is_unreachable(2));
        d.heard(2, 10);
        assert!(!d.is_unreachable(2));
        out.clear();
        d.newly_unreachable(12, &mut out);
        assert!(out.is_empty());
        d.newly_unreachable(13, &mut out);
        assert_eq!(out, [2], "a new silence is reported again");
    }

    #[test]
    fn unwatched_peers_are_ignored() {
        let mut d = FailureDetector::new(1);
        d.heard(7, 0);
        let mut out = Vec::new();
        d.newly_unreachable(5, &mut out);
        assert!(out.is_empty());
        d.watch(7, 5);
        d.watch(7, 0);
        d.newly_unreachable(5, &mut out);
        assert!(out.is_empty(), "watching again does not reset");
        d.forget(7);
        d.newly_unreachable(50, &mut out);
        assert!(out.is_empty(), "forgotten");
    }
}
