//! Liveness, checked in the phase after the faults: once everything has healed and restarted, a
//! leader must be elected within a bounded time, and every request issued after that must
//! complete within a bounded time.

use crate::linearizability::Operation;
use crate::scenario::LivenessParams;
use crate::violation::{Failure, ViolationKind};
use crate::Micros;
use raft_core::{NodeId, Role, Term};

/// Tracks the liveness phase of a run.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Liveness {
    healed_at: Option<Micros>,
    leader_at: Option<Micros>,
}

impl Liveness {
    /// The fault phase ended and everything healed at `now`.
    pub(crate) fn healed(&mut self, now: Micros) {
        self.healed_at = Some(now);
    }

    /// True while waiting for the first leader after healing.
    pub(crate) fn awaiting_leader(&self) -> bool {
        self.healed_at.is_some() && self.leader_at.is_none()
    }

    /// A node is in `role` at `term`; `max_term` is the highest term of any running node.
    pub(crate) fn observe(&mut self, now: Micros, role: Role, term: Term, max_term: Term) {
        if self.awaiting_leader() && role == Role::Leader && term >= max_term {
            self.leader_at = Some(now);
        }
    }

    /// The leader deadline passed.
    pub(crate) fn check_leader(&self, params: &LivenessParams) -> Result<(), Failure> {
        match (self.healed_at, self.leader_at) {
            (Some(healed), None) => Err(Failure::new(
                ViolationKind::NoLeader,
                None,
                format!(
                    "no leader within {} ms after everything healed at t={:.3}s",
                    params.leader_deadline_us / 1000,
                    healed as f64 / 1e6
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Every request issued once a leader was elected completed within the deadline (requests
    /// still open at `end` count as taking until `end`).
    pub(crate) fn check_requests(
        &self,
        history: &[Operation],
        params: &LivenessParams,
        end: Micros,
    ) -> Result<(), Failure> {
        let Some(leader_at) = self.leader_at else {
            return Ok(());
        };
        for op in history.iter().filter(|op| op.invoked_at >= leader_at) {
            let done = op.completed.map_or(end, |(t, _)| t);
            if done - op.invoked_at > params.op_deadline_us {
                let client: NodeId = op.client;
                return Err(Failure::new(
                    ViolationKind::StuckRequest,
                    None,
                    format!(
                        "client {client}'s {:?} issued at t={:.3}s {} after {} ms (bound {} ms)",
                        op.op,
                        op.invoked_at as f64 / 1e6,
                        if op.completed.is_some() {
                            "completed only"
                        } else {
                            "still open"
                        },
                        (done - op.invoked_at) / 1000,
                        params.op_deadline_us / 1000
                    ),
                ));
            }
        }
        Ok(())
    }
}
