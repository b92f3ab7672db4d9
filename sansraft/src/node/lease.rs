//! Leases (thesis §6.4.1), both halves of their proof in one place.
//!
//! The leader's half: it serves reads without a confirmation round while fewer than
//! `lease_ticks` of its ticks have passed since it sent a round a quorum acknowledged.
//! The followers' half: every voter that acknowledged the round ignores vote requests (and
//! anything else that would move it to a newer term) for an election timeout after hearing
//! it (stickiness, thesis §4.2.3), so no other leader can be elected while the lease holds.
//! A leadership transfer lets its target's votes through stickiness, so starting one ends
//! the lease for the rest of the term.

use super::role::RoleState;
use super::Node;

impl Node {
    /// True while this node has reason to believe a leader is alive: it is the leader (and its
    /// liveness is checked by check-quorum), or it heard from one within the election timeout.
    pub(super) fn in_leader_lease(&self) -> bool {
        match self.role {
            RoleState::Leader(_) => self.config.check_quorum,
            _ => {
                let timeout = self.config.election_timeout_ticks;
                (self.leader().is_some() && self.election_elapsed < timeout)
                    // Thesis §6.4.1: with leases, a restarted server may have acknowledged a
                    // leader's round just before it crashed; it honours that lease too.
                    || (self.config.lease_reads
                        && self.ticks < u64::from(timeout)
                        && !canary!(self.config, LeaseForgottenAfterRestart))
            }
        }
    }

    /// Thesis §6.4.1: the leader's lease holds while fewer than `lease_ticks` of its ticks have
    /// passed since it sent a round that a quorum acknowledged. Every voter that acknowledged it
    /// ignores vote requests for an election timeout after hearing it (stickiness), so no other
    /// leader can exist yet.
    pub(super) fn lease_holds(&self) -> bool {
        canary!(self.config, ReadWithoutQuorum) || self.lease_ticks_left().is_some()
    }

    /// The ticks this leader's lease still holds for (at least 1), or `None` if it holds no
    /// lease: leases off, not leading, a transfer started this term, or no round a quorum
    /// acknowledged within the last `lease_ticks` ticks.
    pub fn lease_ticks_left(&self) -> Option<u64> {
        let leading = self.role.leading()?;
        // A leadership transfer lets the target's votes through stickiness: no lease for the
        // rest of the term once one started.
        if !self.config.lease_reads || !self.config.check_quorum || leading.reads.lease_revoked {
            return None;
        }
        let round = leading.confirmed_round(self.config.id, self.log.membership());
        // No lease on a round sent before the leader last went quiet (none at all before the
        // first round): its clock stood still while quiet (docs/design.md, "Quiescence").
        let floor = if canary!(self.config, QuietLeaderKeepsLease) {
            0
        } else {
            leading.reads.lease_floor
        };
        let sent = leading.reads.sent_at(round).filter(|_| round > floor)?;
        let left = u64::from(self.config.lease_ticks()).checked_sub(self.ticks - sent)?;
        (left > 0).then_some(left)
    }

    /// A leadership transfer under way lets its target's vote requests through stickiness
    /// (thesis §3.10): the lease ends for the rest of the term.
    pub(super) fn revoke_lease_in_transfer(&mut self) {
        let revoke = self.transfer.is_some() && !canary!(self.config, LeaseKeptInTransfer);
        if let Some(leading) = self.role.leading_mut().filter(|_| revoke) {
            leading.reads.lease_revoked = true;
        }
    }
}
