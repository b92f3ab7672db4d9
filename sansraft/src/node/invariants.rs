//! Local invariants, checked after every step in debug builds and on demand by the simulator
//! and fuzzers. Each is also stated on the field it constrains.

use super::role::RoleState;
use super::Node;

/// A broken local invariant: a bug in sansraft (or corrupted state handed to it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvariantViolation(pub &'static str);

impl core::fmt::Display for InvariantViolation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "invariant violated: {}", self.0)
    }
}

impl std::error::Error for InvariantViolation {}

impl Node {
    /// Checks the node's local invariants: snapshot ≤ applied ≤ commit ≤ last index, durable
    /// prefix within the log, match < next for every follower, a leader or candidate voted for
    /// itself, and the log's last term is not above the current term.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        let fail = |what| Err(InvariantViolation(what));
        if let Err(what) = self.log.check() {
            return fail(what);
        }
        if self.log.last_term() > self.term {
            return fail("log holds an entry from a term above the current term");
        }
        if let Err(what) = self.durability.check() {
            return fail(what);
        }
        if let Err(what) = self.freshness.check(self.log.applied(), self.ticks) {
            return fail(what);
        }
        let leads_or_campaigns =
            matches!(self.role, RoleState::Leader(_) | RoleState::Candidate(_));
        if leads_or_campaigns && self.vote != Some(self.config.id) {
            return fail("a leader or candidate has not voted for itself");
        }
        if self
            .role
            .following()
            .is_some_and(|f| f.quiet && f.leader.is_none())
        {
            return fail("a quiet follower knows no leader");
        }
        let Some(leading) = self.role.leading() else {
            return Ok(());
        };
        let me = self.config.id;
        let m = self.log.membership();
        if m.members().filter(|&id| id != me).count() != leading.progress.len()
            || leading.progress.iter().any(|p| !m.contains(p.id))
        {
            return fail("the leader's progress does not track exactly the other members");
        }
        let last = self.log.last_index();
        if leading.quiescence == super::role::Quiescence::Quiet
            && (self.log.committed() != last || self.transfer.is_some())
        {
            return fail("a quiet leader has uncommitted entries or a transfer under way");
        }
        for pr in &leading.progress {
            if pr.match_index >= pr.next_index {
                return fail("a follower's match index is not below its next index");
            }
            if pr.match_index > last || pr.next_index > last + 1 {
                return fail("a follower's progress is beyond the leader's log");
            }
            if (pr.state == crate::ProgressState::Snapshot) != pr.transfer.is_some() {
                return fail("a snapshot transfer exists exactly in snapshot state");
            }
        }
        Ok(())
    }
}
