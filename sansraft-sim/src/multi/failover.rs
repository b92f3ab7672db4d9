//! Liveness of quiet groups after a crash: a quiet follower does not time out, so only its
//! host's failure detector (one per peer node, feeding `Input::PeerUnreachable` to every group
//! the peer is a member of) can replace a leader that died. When a node crashes while the rest
//! stays healthy (every other node up and running on disks no fault stalls or slows, the network
//! reliable and whole), every group it led that the rest can replace it in
//! ([`crate::succession::can_replace`]) must elect a leader of a newer term within the
//! single-group world's failover bound ([`crate::succession`]). A newer leader seen at any
//! moment before the deadline counts, as in the single-group world.

use super::queue::Ev;
use super::world::MultiWorld;
use crate::succession::{self, failover_bound_us};
use crate::violation::{Failure, ViolationKind};
use crate::Micros;
use sansraft::{NodeId, Role, Term};
use sansraft_multi::GroupId;

/// A crashed node whose groups' new leaders are awaited.
#[derive(Clone, Debug)]
pub(super) struct Watch {
    /// The crashed node (index).
    node: usize,
    /// The groups it led, in id order, with the term and whether a leader of a newer term
    /// has been seen since.
    groups: Vec<(GroupId, Term, bool)>,
    crashed_at: Micros,
    /// Which watch this is (a deadline event of an earlier one is ignored).
    id: u64,
}

impl MultiWorld {
    /// Node `i` is about to crash: watch for new leaders of the groups it leads that the
    /// others can elect one in (see `can_replace`).
    pub(super) fn watch_failover(&mut self, i: usize) {
        let Some(host) = self.nodes[i].host.as_ref() else {
            return;
        };
        let groups: Vec<(GroupId, Term, bool)> = (host.groups())
            .filter(|(g, n)| n.role() == Role::Leader && self.can_replace(i, *g))
            .map(|(g, n)| (g, n.term(), false))
            .collect();
        if groups.is_empty() || self.failover.is_some() || !self.rest_healthy(i) {
            return;
        }
        let host = self.host_config(self.nodes[i].id);
        let detector_ticks = host.unreachable_after_ticks + host.heartbeat_interval_ticks;
        let bound = failover_bound_us(&self.sc, &self.storage, detector_ticks);
        self.watch_no += 1;
        self.failover = Some(Watch {
            node: i,
            groups,
            crashed_at: self.now,
            id: self.watch_no,
        });
        let deadline = self.now + bound;
        self.queue
            .push(deadline, Ev::FailoverDeadline { id: self.watch_no });
    }

    /// After every event: the watch ends without a verdict if the crashed node runs again or
    /// the rest is no longer healthy.
    pub(super) fn keep_watching(&mut self) {
        let Some(w) = self.failover.as_ref() else {
            return;
        };
        if self.nodes[w.node].is_up() || !self.rest_healthy(w.node) {
            self.failover = None;
        }
    }

    /// A replica of `group` leads term `term` (seen after a host step).
    pub(super) fn failover_leader_seen(&mut self, group: GroupId, term: Term) {
        let Some(w) = self.failover.as_mut() else {
            return;
        };
        if let Ok(k) = w.groups.binary_search_by_key(&group, |&(g, _, _)| g) {
            let (_, led, replaced) = &mut w.groups[k];
            *replaced |= term > *led;
        }
    }

    /// The failover deadline: every group the crashed node led has had a leader of a newer
    /// term since (one that stepped down again since counts).
    pub(super) fn failover_deadline(&mut self, id: u64) {
        let Some(w) = self.failover.take_if(|w| w.id == id) else {
            return;
        };
        for &(group, term, seen) in &w.groups {
            let replaced = seen
                || (self.nodes.iter().filter_map(|n| n.host.as_ref()))
                    .filter_map(|h| h.group(group))
                    .any(|n| n.role() == Role::Leader && n.term() > term);
            if !replaced {
                let detail = format!(
                    "group {group}: leader n{} of term {term} crashed at {:.6}s and no newer \
                     leader was elected by {:.6}s although the others stayed healthy",
                    w.node + 1,
                    w.crashed_at as f64 / 1e6,
                    self.now as f64 / 1e6
                );
                let f = Failure::new(ViolationKind::NoFailover, Some(w.node as u64 + 1), detail);
                return self.violate(f);
            }
        }
        self.stats.failover_watches += 1;
    }

    /// True if the nodes but `i` can replace `i` as `group`'s leader within the bound.
    fn can_replace(&self, i: usize, group: GroupId) -> bool {
        let others = (self.nodes.iter().enumerate())
            .filter(|&(j, _)| j != i)
            .filter_map(|(_, n)| n.host.as_ref()?.group(group));
        let m = &self.committed_configs[group as usize - 1].1;
        let checker = &self.checkers[group as usize - 1];
        succession::can_replace(i as NodeId + 1, m, checker, others)
    }

    /// True if every node but `except` runs on a healthy disk (writes queued while it was slow
    /// count against it until due) and the network is reliable and whole.
    fn rest_healthy(&self, except: usize) -> bool {
        let drained_by = self.now + self.storage.longest_write_us();
        let (network, nodes) = (&self.network, &self.nodes);
        crate::health::healthy_but(network, nodes, Some(except), |disk| {
            disk.drains_by(drained_by)
        })
    }
}
