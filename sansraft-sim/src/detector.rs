//! The failure detector a host must run when its groups quiesce (`Config::quiesce`): one per
//! node, covering every other node, shared by all the groups the node holds. A node pings every
//! other node every few ticks of its clock; anything heard from a peer (a ping or a Raft
//! message) counts as a sign of life, and a peer silent for `unreachable_after_ticks` is reported
//! to the engine once (`Input::PeerUnreachable`), again only after it was heard from since.

/// One node's view of the others' liveness, in ticks of its own clock.
#[derive(Clone, Debug, Default)]
pub(crate) struct Detector {
    /// Per peer, by index (id − 1): the tick it was last heard from, and whether its silence
    /// since was reported.
    peers: Vec<(u64, bool)>,
}

impl Detector {
    /// A detector for `n` nodes that heard from everyone at tick 0 (a node's clock starts at 0
    /// with each incarnation).
    pub(crate) fn new(n: usize) -> Self {
        Detector {
            peers: vec![(0, false); n],
        }
    }

    /// Something arrived from peer `peer` at tick `now`; true if its silence had been reported
    /// (it is reachable again).
    pub(crate) fn heard(&mut self, peer: usize, now: u64) -> bool {
        match self.peers.get_mut(peer) {
            Some(p) => std::mem::replace(p, (now, false)).1,
            None => false,
        }
    }

    /// The peers (other than `me`) silent for more than `after` ticks at tick `now` and not
    /// reported yet, in index order; they count as reported from now on.
    pub(crate) fn newly_unreachable(&mut self, me: usize, now: u64, after: u64) -> Vec<usize> {
        let mut out = Vec::new();
        for (j, (heard, reported)) in self.peers.iter_mut().enumerate() {
            if j != me && !*reported && now.saturating_sub(*heard) > after {
                *reported = true;
                out.push(j);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_peer_is_reported_once_until_heard_again() {
        let mut d = Detector::new(3);
        assert!(
            d.newly_unreachable(0, 10, 10).is_empty(),
            "not silent long enough"
        );
        assert!(!d.heard(2, 5), "not reported");
        assert_eq!(d.newly_unreachable(0, 11, 10), vec![1], "never itself");
        assert!(
            d.newly_unreachable(0, 12, 10).is_empty(),
            "reported already"
        );
        assert_eq!(d.newly_unreachable(0, 16, 10), vec![2]);
        assert!(d.heard(1, 20), "reachable again");
        assert_eq!(
            d.newly_unreachable(0, 31, 10),
            vec![1],
            "again after a sign of life"
        );
    }
}
