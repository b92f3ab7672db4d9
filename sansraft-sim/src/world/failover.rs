//! Liveness of quiescent groups (docs/simulator.md, "Quiescence"): a quiet follower does not
//! time out, so only the failure detector's report (`Input::PeerUnreachable`) can replace a
//! leader that died. When a leader crashes in a run that quiesces, and the rest of the cluster
//! stays healthy (every other node up and running on disks no fault stalls or slows, the
//! network reliable and whole) with a quorum of its configuration's voters left, a leader of a
//! newer term must be elected within the failover bound ([`crate::succession`]).

use super::World;
use crate::succession::{self, failover_bound_us};
use crate::violation::{Failure, ViolationKind};
use crate::Micros;
use sansraft::{NodeId, Term};

/// A crashed leader whose replacement is awaited.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Watch {
    /// The crashed leader.
    leader: NodeId,
    /// Its term.
    term: Term,
    /// When it crashed.
    crashed_at: Micros,
    /// When a survivor's detector first reported it.
    reported_at: Option<Micros>,
    /// A newer leader must exist by then; `None` while the rest of the cluster is unhealthy.
    deadline: Option<Micros>,
    /// The failover bound, counted from the crash or from the moment health returned.
    bound: Micros,
}

impl World {
    /// Node `i`, the current leader in term `term`, crashes: with quiescence, watch for its
    /// replacement if the others can elect one.
    pub(super) fn watch_failover(&mut self, i: usize, term: Term) {
        let Some(q) = self.sc.quiescence else {
            return;
        };
        let leader = i as NodeId + 1;
        let others = (self.hosts.iter().enumerate())
            .filter(|&(j, _)| j != i)
            .filter_map(|(_, h)| h.node.as_ref());
        if !succession::can_replace(leader, &self.committed_config.1, &self.checker, others) {
            return;
        }
        let detector_ticks = q.unreachable_after_ticks + q.ping_every_ticks;
        let bound = failover_bound_us(&self.sc, &self.storage, detector_ticks);
        self.failover = Some(Watch {
            leader,
            term,
            crashed_at: self.now,
            reported_at: None,
            deadline: self.rest_healthy(i).then_some(self.now + bound),
            bound,
        });
    }

    /// A survivor's detector reported node `peer` unreachable.
    pub(super) fn failover_reported(&mut self, peer: NodeId) {
        if let Some(w) = self.failover.as_mut().filter(|w| w.leader == peer) {
            w.reported_at.get_or_insert(self.now);
        }
    }

    /// After every event: the watch ends when a newer leader exists or the old leader runs
    /// again; it waits while the rest of the cluster is unhealthy, and restarts its clock when
    /// health returns; it fails past its deadline.
    pub(super) fn check_failover(&mut self, leader: Option<(Term, NodeId)>) {
        let Some(mut w) = self.failover else {
            return;
        };
        let l = w.leader as usize - 1;
        if self.hosts[l].is_up() && !self.hosts[l].paused {
            self.failover = None;
            return;
        }
        let healthy = self.rest_healthy(l);
        match (w.deadline, healthy) {
            (Some(_), false) => w.deadline = None,
            (None, true) => w.deadline = Some(self.now + w.bound),
            _ => {}
        }
        self.failover = Some(w);
        if leader.is_some_and(|(term, _)| term > w.term) {
            self.failover = None;
            // From the later of the first report and the moment the rest was last healthy
            // (a failover while it was not is not counted).
            if let Some(deadline) = w.deadline {
                self.stats.failovers += 1;
                let from = (w.reported_at.unwrap_or(w.crashed_at)).max(deadline - w.bound);
                let took = self.now - from;
                self.stats.failover_max_us = self.stats.failover_max_us.max(took);
            }
            return;
        }
        if w.deadline.is_some_and(|d| self.now > d) {
            self.failover = None;
            let since = match w.reported_at {
                Some(at) => format!("reported unreachable at {:.6}s", at as f64 / 1e6),
                None => "never reported unreachable".to_owned(),
            };
            self.violate(Failure::new(
                ViolationKind::NoFailover,
                Some(w.leader),
                format!(
                    "leader n{} of term {} crashed or paused at {:.6}s ({since}) and no newer \
                     leader was elected by {:.6}s, the failover bound after the others were \
                     last healthy",
                    w.leader,
                    w.term,
                    w.crashed_at as f64 / 1e6,
                    self.now as f64 / 1e6
                ),
            ));
        }
    }

    /// True if every node but `except` runs, on a disk neither stalled nor slowed by a fault
    /// nor still working off writes a fault slowed (randomly slow writes are counted in the
    /// bound), and the network is reliable and whole.
    fn rest_healthy(&self, except: usize) -> bool {
        let drained_by = self.now + self.storage.longest_write_us();
        let (network, hosts) = (&self.network, &self.hosts);
        crate::health::healthy_but(network, hosts, Some(except), |disk| {
            disk.drained_at() <= drained_by
        })
    }
}
