//! Bookkeeping for bounded-staleness reads ([`crate::Input::ReadStale`]): the stamps a leader
//! proves fresh for each peer, and the proofs a node holds about its own clock.
//!
//! The rule is thesis §6.4's ReadIndex argument turned around. A node answers each heartbeat
//! with a [`Stamp`] of its own clock. Once the leader has heard the stamp, it begins a round
//! `r` with a commit index `C` in its own term; once a quorum has acknowledged a round `≥ r`,
//! every entry committed anywhere before `r` began — so before the stamp was taken — is at most
//! `C`. That statement about the node's clock stays true whoever leads later, so the node keeps
//! it (this incarnation only: its tick counter restarts at 0). docs/design.md §11 has the
//! argument.

use crate::message::{FreshnessProof, Stamp};
use crate::types::Index;

/// The leader's view of one peer's stamps, for its term. O(1) per peer.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PeerFreshness {
    /// The latest stamp heard from the peer in this term (by arrival).
    latest: Option<Stamp>,
    /// A stamp heard before round `round` began, with the leader's commit index then; it is
    /// proved once a quorum acknowledges that round.
    pending: Option<(Stamp, u64, Index)>,
    /// The latest stamp proved, with its commit index: sent in every heartbeat to the peer.
    proved: Option<FreshnessProof>,
}

impl PeerFreshness {
    /// The peer answered a heartbeat with `stamp`. A stamp of the same incarnation older than
    /// the latest is a reordered answer and changes nothing.
    pub(crate) fn heard(&mut self, stamp: Stamp) {
        let newer = self
            .latest
            .is_none_or(|l| l.incarnation != stamp.incarnation || l.tick < stamp.tick);
        if newer {
            self.latest = Some(stamp);
        }
    }

    /// Round `round` begins with the leader's commit index `commit`, of its own term. The latest
    /// stamp, heard before this moment, waits for the round's confirmation unless another stamp
    /// already does. `unconfirmed` is the stale-read-unconfirmed canary: it proves the stamp
    /// at once.
    pub(crate) fn begin_round(&mut self, round: u64, commit: Index, unconfirmed: bool) {
        let Some(stamp) = self.latest else { return };
        if self.pending.is_some() || self.proved.is_some_and(|p| p.stamp == stamp) {
            return;
        }
        if unconfirmed {
            self.proved = Some(FreshnessProof { stamp, commit });
        } else {
            self.pending = Some((stamp, round, commit));
        }
    }

    /// A quorum has acknowledged every round up to `confirmed`.
    pub(crate) fn confirm(&mut self, confirmed: u64) {
        // Thesis §6.4 step 3: proved only once a quorum acknowledged a round begun after the
        // stamp was heard.
        if let Some((stamp, _, commit)) = self.pending.filter(|&(_, r, _)| r <= confirmed) {
            self.proved = Some(FreshnessProof { stamp, commit });
            self.pending = None;
        }
    }

    /// True while a stamp waits for a round's confirmation.
    pub(crate) fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// The proof to send the peer: the latest proved, if it is of the peer's latest
    /// incarnation (an earlier incarnation's would be ignored).
    pub(crate) fn proof(&self) -> Option<FreshnessProof> {
        let latest = self.latest?;
        self.proved
            .filter(|p| p.stamp.incarnation == latest.incarnation)
    }
}

/// The proofs a node holds about its own clock, in this incarnation. O(1): the newest proof the
/// state machine has caught up with, and a newer one waiting for it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Freshness {
    /// Invariant: its commit index is at most the applied index. Serves reads now.
    usable: Option<FreshnessProof>,
    /// Invariant: newer than `usable`; usable once the applied index reaches its commit index.
    waiting: Option<FreshnessProof>,
    /// The tick at which the node last went quiet: proofs about stamps taken then or before
    /// are refused, as its clock stood still while quiet and would understate their age.
    quiet_at: Option<u64>,
}

impl Freshness {
    /// A proof about one of this incarnation's stamps, at most the current tick. Older proofs
    /// than the newest held change nothing. A proof waiting for the state machine is kept
    /// rather than replaced by a newer one that waits too: it becomes usable sooner, so a
    /// state machine that lags behind a busy leader still moves from one proof to the next.
    pub(crate) fn offer(&mut self, proof: FreshnessProof, applied: Index) {
        let newest = self.waiting.or(self.usable).map(|p| p.stamp.tick);
        if newest.is_some_and(|t| t >= proof.stamp.tick) || self.before_quiet(proof.stamp.tick) {
            return;
        }
        if proof.commit <= applied {
            self.usable = Some(proof);
            self.waiting = None;
        } else if self.waiting.is_none() {
            self.waiting = Some(proof);
        }
    }

    /// The newest proof the state machine (at `applied`) has caught up with, if any.
    pub(crate) fn usable(&mut self, applied: Index) -> Option<FreshnessProof> {
        if let Some(waiting) = self.waiting.filter(|p| p.commit <= applied) {
            self.usable = Some(waiting);
            self.waiting = None;
        }
        self.usable
    }

    /// True if a stamp at `tick` was taken before the node last went quiet (or as it did).
    pub(crate) fn before_quiet(&self, tick: u64) -> bool {
        self.quiet_at.is_some_and(|q| tick <= q)
    }

    /// The node goes quiet at `tick`: its clock stands still until it wakes, so every proof
    /// it holds, and every proof of a stamp taken until now, would understate the state's
    /// age once it wakes. Forget them.
    pub(crate) fn go_quiet(&mut self, tick: u64) {
        *self = Freshness {
            usable: None,
            waiting: None,
            quiet_at: Some(tick),
        };
    }

    /// Checks the invariants stated on the fields.
    pub(crate) fn check(&self, applied: Index, ticks: u64) -> Result<(), &'static str> {
        if self.usable.is_some_and(|p| p.commit > applied) {
            return Err("a usable freshness proof is beyond the applied index");
        }
        let ticks_of = |p: Option<FreshnessProof>| p.map_or(0, |p| p.stamp.tick);
        if ticks_of(self.usable).max(ticks_of(self.waiting)) > ticks {
            return Err("a freshness proof is of a stamp from the future");
        }
        if self.waiting.is_some()
            && self.usable.is_some()
            && ticks_of(self.waiting) <= ticks_of(self.usable)
        {
            return Err("a waiting freshness proof is not newer than the usable one");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(incarnation: u64, tick: u64) -> Stamp {
        Stamp { incarnation, tick }
    }

    #[test]
    fn a_stamp_is_proved_only_once_its_round_is_confirmed() {
        let mut p = PeerFreshness::default();
        p.begin_round(1, 5, false);
        assert_eq!(p.proof(), None, "nothing heard yet");
        p.heard(stamp(7, 10));
        p.begin_round(2, 5, false);
        p.heard(stamp(7, 12));
        p.begin_round(3, 6, false);
        p.confirm(1);
        assert_eq!(p.proof(), None);
        p.confirm(2);
        let proved = FreshnessProof {
            stamp: stamp(7, 10),
            commit: 5,
        };
        assert_eq!(p.proof(), Some(proved));
        // The next round picks up the stamp heard meanwhile.
        p.begin_round(4, 6, false);
        p.confirm(4);
        assert_eq!(p.proof().map(|p| p.stamp), Some(stamp(7, 12)));
    }

    #[test]
    fn a_reordered_stamp_is_ignored_and_a_new_incarnation_hides_old_proofs() {
        let mut p = PeerFreshness::default();
        p.heard(stamp(7, 10));
        p.heard(stamp(7, 9));
        p.begin_round(1, 3, false);
        p.confirm(1);
        assert_eq!(p.proof().map(|p| p.stamp), Some(stamp(7, 10)));
        p.heard(stamp(8, 0));
        assert_eq!(p.proof(), None, "the peer restarted");
    }

    #[test]
    fn a_node_keeps_the_newest_proof_it_has_applied() {
        let mut f = Freshness::default();
        let proof = |tick, commit| FreshnessProof {
            stamp: stamp(1, tick),
            commit,
        };
        f.offer(proof(3, 4), 4);
        assert_eq!(f.usable(4), Some(proof(3, 4)));
        f.offer(proof(6, 9), 4);
        assert_eq!(f.usable(8), Some(proof(3, 4)), "waits for index 9");
        f.offer(proof(5, 5), 8);
        assert_eq!(f.usable(8), Some(proof(3, 4)), "older than the waiting one");
        f.offer(proof(8, 12), 8);
        assert_eq!(
            f.usable(9),
            Some(proof(6, 9)),
            "the older waiting proof is kept"
        );
        f.offer(proof(8, 9), 9);
        assert_eq!(f.usable(9), Some(proof(8, 9)));
        assert!(f.check(9, 8).is_ok());
        assert!(f.check(9, 7).is_err());
    }
}
