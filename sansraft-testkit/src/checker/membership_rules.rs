//! Membership rules (thesis chapter 4), checked against each node's configuration in force:
//! an index a leader commits is durable on a majority of every half of the configuration it
//! used (learners never count, §4.2.1; joint consensus, §4.3); a leader outside its committed
//! configuration has stepped down (§4.2.2: a server outside its latest configuration may lead
//! only while that configuration is uncommitted).

use super::Rule;
use super::{fail, Check, Checker, NodeView};
use sansraft::quorum::{joint_vote_result, VoteResult};
use sansraft::{Index, Membership, NodeId, Role};

impl Checker {
    /// Checks node `i` after a step, before [`Checker::after_step`]; `membership` is the
    /// configuration it has in force and `membership_index` the index of its entry.
    pub fn check_membership(
        &mut self,
        i: usize,
        v: &NodeView,
        membership: &Membership,
        membership_index: Index,
    ) -> Check {
        if v.role == Role::Leader {
            // A leader decides commits with the configuration it had when the step began, or,
            // if it appended one in the step and counted its own write under it (a synchronous
            // node does, `Io::Synchronous`), with the configuration it ends the step with.
            let t = &self.nodes[i];
            if v.commit > t.commit && t.membership.is_some() {
                self.check_commit_quorum(i, v, membership)?;
            }
            removed_leader_rule(v, membership, membership_index)?;
        }
        let t = &mut self.nodes[i];
        match &t.membership {
            Some(known) if same_membership(known, membership) => {}
            _ => t.membership = Some(membership.clone()),
        }
        Ok(())
    }

    /// Leader `i` advanced its commit index to `v.commit`: that index is durable on a majority
    /// of each half of the configuration it had in force when the step began, or of the one it
    /// has in force now (`now`).
    #[inline(never)]
    fn check_commit_quorum(&self, i: usize, v: &NodeView, now: &Membership) -> Check {
        let t = &self.nodes[i];
        let Some(used) = t.membership.as_ref() else {
            return Ok(());
        };
        let k = v.commit;
        let want = t.log.prefix_hash(k);
        let nodes = &self.nodes;
        let holds = |id: NodeId| {
            let durable = nodes
                .get(id as usize - 1)
                .and_then(|n| n.durable.prefix_hash(k));
            Some(want.is_some() && durable == want)
        };
        let won =
            |m: &Membership| joint_vote_result(&m.voters, &m.outgoing, holds) == VoteResult::Won;
        if !won(used) && (same_membership(used, now) || !won(now)) {
            return fail(Rule::Membership, v.id, || {
                format!(
                    "leader of term {} committed index {k} that is not durable on a majority of \
                     each half of its configuration {used:?} (nor of {now:?}, in force after the \
                     step)",
                    v.term
                )
            });
        }
        Ok(())
    }
}

/// `a == b`, comparing the few ids in place rather than calling `memcmp` per list (this runs
/// after every step, and on this project's test machines a libc `memcmp` call of a few bytes
/// has been seen to cost as much as the rest of the step). Destructured so that a field added
/// to [`Membership`] is not missed.
fn same_membership(a: &Membership, b: &Membership) -> bool {
    fn same(a: &[NodeId], b: &[NodeId]) -> bool {
        // A reduction rather than an early-exit loop, which the compiler turns into `memcmp`.
        a.len() == b.len() && a.iter().zip(b).fold(0, |diff, (x, y)| diff | (x ^ y)) == 0
    }
    let Membership {
        voters,
        outgoing,
        learners,
        witnesses,
        priorities,
    } = a;
    same(voters, &b.voters)
        && same(outgoing, &b.outgoing)
        && same(learners, &b.learners)
        && same(witnesses, &b.witnesses)
        && priorities == &b.priorities
}

/// §4.2.2: a leader outside its configuration (`membership`, whose entry is at
/// `membership_index`) leads only while that configuration is uncommitted.
pub fn removed_leader_rule(
    v: &NodeView,
    membership: &Membership,
    membership_index: Index,
) -> Check {
    if v.role == Role::Leader && !membership.is_voter(v.id) && membership_index <= v.commit {
        return fail(Rule::Membership, v.id, || {
            format!(
                "still leads term {} although the configuration without it (index \
                 {membership_index}) is committed",
                v.term
            )
        });
    }
    Ok(())
}
