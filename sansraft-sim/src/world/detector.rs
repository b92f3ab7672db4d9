//! The hosts' failure detectors (`sansraft_multi::FailureDetector`, the multi-group host's own),
//! run when the scenario quiesces: pings through the simulated network, signs of life, and the
//! reports to the engines, in ticks of each node's clock.

use super::World;
use crate::event::Event;
use crate::network::Route;
use crate::scenario::Scenario;
use sansraft::{Input, NodeId};
use sansraft_multi::FailureDetector;

/// Node `i`'s detector for an incarnation starting now (its clock at 0): every other node
/// watched as if just heard from. A peer silent for more than the scenario's
/// `unreachable_after_ticks` is reported (never, without quiescence).
pub(super) fn detector(sc: &Scenario, i: usize) -> FailureDetector {
    let after = sc
        .quiescence
        .map_or(u32::MAX, |q| q.unreachable_after_ticks.saturating_add(1));
    let mut d = FailureDetector::new(after);
    for j in (0..sc.nodes).filter(|&j| j != i) {
        d.watch(j as NodeId + 1, 0);
    }
    d
}

impl World {
    /// Node `i`'s clock ticked: it pings every other node if a ping is due, and reports the
    /// peers it has not heard from for too long.
    pub(super) fn detect_failures(&mut self, i: usize) {
        let Some(q) = self.sc.quiescence else {
            return;
        };
        let host = &mut self.hosts[i];
        if !host.is_up() {
            return;
        }
        let now = host.ticks.count();
        let mut lost = Vec::new();
        host.detector.newly_unreachable(now, &mut lost);
        if now % u64::from(q.ping_every_ticks.max(1)) == 0 {
            for to in (0..self.hosts.len()).filter(|&to| to != i) {
                self.stats.pings += 1;
                match self
                    .network
                    .route(i as NodeId + 1, to as NodeId + 1, &mut self.rng_net)
                {
                    Route::Lost => {}
                    Route::Once(d) | Route::Twice(d, _) => {
                        self.queue.push(self.now + d, Event::Ping { from: i, to })
                    }
                }
            }
        }
        for peer in lost {
            self.stats.detector_signals += 1;
            self.failover_reported(peer);
            self.note(&format!("failure detector: n{peer} unreachable"));
            self.step(i, Input::PeerUnreachable(peer));
            if !self.hosts[i].is_up() || self.violation.is_some() {
                return;
            }
        }
    }

    /// A ping from node `from` reaches node `to`, if their link is open.
    pub(super) fn on_ping(&mut self, from: usize, to: usize) {
        if self.network.link_open(from as NodeId + 1, to as NodeId + 1) {
            self.heard_from(to, from);
        }
    }

    /// Node `i` heard from node `from` (a ping or a Raft message that got through); a node
    /// reported unreachable before is reported reachable again.
    pub(super) fn heard_from(&mut self, i: usize, from: usize) {
        if self.sc.quiescence.is_none() {
            return;
        }
        let host = &mut self.hosts[i];
        let now = host.ticks.count();
        if host.detector.heard(from as NodeId + 1, now) {
            self.stats.detector_signals += 1;
            self.step(i, Input::PeerReachable(from as NodeId + 1));
        }
    }
}
