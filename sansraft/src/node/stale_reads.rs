//! Bounded-staleness reads ([`crate::Input::ReadStale`]): stamps, the leader's proofs of them,
//! and serving a read from a proof (docs/design.md §11; `crate::freshness` keeps the state).

use super::Node;
use crate::error::ReadError;
use crate::io::Action;
use crate::message::{FreshnessProof, Stamp};

impl Node {
    /// This node's clock now: its incarnation and tick counter, sent in heartbeat answers.
    pub(super) fn stamp(&self) -> Stamp {
        Stamp {
            incarnation: self.durability.incarnation(),
            tick: self.ticks,
        }
    }

    /// The embedder asks for a read at most `max_staleness_ticks` of this node's ticks behind.
    pub(super) fn read_stale(&mut self, id: u64, max_staleness_ticks: u32) {
        // Quiescence: a node asked for such reads stays awake for a while, so that proofs
        // reach it (a quiet node's clock stands still and it holds none).
        let keep = u64::from(self.config.election_timeout_ticks);
        self.freshness.asked(self.ticks, keep);
        if self.is_witness() {
            // A witness has no state machine to read.
            self.counters.stale_read_refused += 1;
            self.effects.push(Action::ReadFailed {
                id,
                error: ReadError::Witness,
            });
            return;
        }
        let applied = self.log.applied();
        let provable = self
            .freshness
            .usable(applied)
            .map(|p| self.ticks - p.stamp.tick);
        // The bound: everything committed before this node's tick `stamp` is at most the
        // proof's commit index, which the state machine has applied; the stamp is at most
        // `max_staleness_ticks` ticks old. (An install staged for this step's write is not
        // in the state machine yet: impossible at the start of a step, refused if it were.)
        let within = provable.is_some_and(|t| t <= u64::from(max_staleness_ticks));
        if within && !self.log.install_staged() {
            self.effects.push(Action::ReadReady { id, index: applied });
            return;
        }
        self.counters.stale_read_refused += 1;
        self.effects.push(Action::ReadFailed {
            id,
            error: ReadError::TooStale {
                max_staleness_ticks,
                provable_ticks: provable,
            },
        });
    }

    /// The leader proved one of this node's stamps fresh (carried by a heartbeat).
    pub(super) fn on_freshness_proof(&mut self, proof: FreshnessProof) {
        let stamp = proof.stamp;
        // A proof about another incarnation's stamp says nothing about this one's clock (its
        // ticks restarted at 0); a stamp from the future was never sent by this node.
        if stamp.incarnation != self.durability.incarnation() || stamp.tick > self.ticks {
            self.counters.freshness_proof_ignored += 1;
            return;
        }
        self.freshness.offer(proof, self.log.applied());
    }

    /// Leader: a heartbeat round `round` begins. If the commit index is of this term (thesis
    /// §6.4 step 1: else it may be behind), every peer's latest stamp, and this leader's own
    /// clock, wait for the round's confirmation.
    pub(super) fn begin_freshness_round(&mut self, round: u64) {
        let commit = self.log.committed();
        if self.log.term(commit) != Some(self.term) {
            return;
        }
        let (now, unconfirmed) = (self.ticks, canary!(self.config, StaleReadUnconfirmed));
        let Some(leading) = self.role.leading_mut() else {
            return;
        };
        for pr in &mut leading.progress {
            pr.freshness.begin_round(round, commit, unconfirmed);
        }
        if leading.reads.own_freshness.is_none() {
            leading.reads.own_freshness = Some((round, now, commit));
        }
        self.prove_freshness();
    }

    /// Leader: stamps whose round a quorum acknowledged are proved (thesis §6.4 step 3).
    pub(super) fn prove_freshness(&mut self) {
        let (me, applied) = (self.config.id, self.log.applied());
        let incarnation = self.durability.incarnation();
        let Some(leading) = self.role.leading_mut() else {
            return;
        };
        let own = leading.reads.own_freshness;
        if own.is_none() && !leading.progress.iter().any(|p| p.freshness.is_pending()) {
            return;
        }
        let confirmed = leading.confirmed_round(me, self.log.membership());
        for pr in &mut leading.progress {
            pr.freshness.confirm(confirmed);
        }
        if let Some((_, tick, commit)) = own.filter(|&(r, _, _)| r <= confirmed) {
            leading.reads.own_freshness = None;
            let stamp = Stamp { incarnation, tick };
            self.freshness
                .offer(FreshnessProof { stamp, commit }, applied);
        }
    }
}
