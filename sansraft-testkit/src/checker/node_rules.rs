//! Node rules: election safety (§5.2), one vote per term across restarts (§5.2), terms and
//! commit indices never decrease, `snapshot ≤ applied ≤ commit ≤ last`, and durability before
//! speaking (Raft Figure 2: persist before responding to RPCs).

use super::Rule;
use super::{fail, Check, Checker, NodeView};
use sansraft::message::{AppendResponse, SnapshotResponse, VoteResponse};
use sansraft::{Body, HardState, Message, NodeId, Role, Term, Write};
use std::collections::BTreeMap;

impl Checker {
    pub(super) fn check_monotonic(&self, i: usize, v: &NodeView) -> Check {
        let t = &self.nodes[i];
        if v.term < t.term {
            return fail(Rule::Monotonicity, v.id, || {
                format!("term went down from {} to {}", t.term, v.term)
            });
        }
        if v.commit < t.commit {
            return fail(Rule::Monotonicity, v.id, || {
                format!("commit index went down from {} to {}", t.commit, v.commit)
            });
        }
        Ok(())
    }

    /// Election safety: at most one leader per term over the whole run.
    pub(super) fn check_election(&mut self, i: usize, v: &NodeView) -> Check {
        if v.role != Role::Leader {
            self.nodes[i].leader_term = None;
            return Ok(());
        }
        if self.nodes[i].leader_term == Some(v.term) {
            // Checked after its previous step: the map already names it this term's leader.
            return Ok(());
        }
        let (leader, _) = *self.leaders.entry(v.term).or_insert((v.id, self.now));
        if leader != v.id {
            return fail(Rule::ElectionSafety, v.id, || {
                format!("second leader of term {} (n{leader} led it first)", v.term)
            });
        }
        self.nodes[i].leader_term = Some(v.term);
        Ok(())
    }

    /// Node `i` sends `msg` (in the step just taken; `v` is its state after the step).
    pub fn on_send(&mut self, i: usize, v: &NodeView, msg: &Message) -> Check {
        let t = &self.nodes[i];
        // Figure 2: whatever a follower or candidate says in its term needs that term durable
        // first (a granted pre-vote speaks for a future term and changes no state).
        let speaks_in_own_term = matches!(
            &msg.body,
            Body::AppendResponse(_)
                | Body::HeartbeatResponse(_)
                | Body::Vote(sansraft::message::VoteRequest {
                    pre_vote: false,
                    ..
                })
                | Body::VoteResponse(VoteResponse {
                    pre_vote: false,
                    ..
                })
                | Body::VoteResponse(VoteResponse {
                    pre_vote: true,
                    granted: false
                })
        );
        if speaks_in_own_term && msg.term > t.durable_hs.term {
            return fail(Rule::Durability, v.id, || {
                format!(
                    "sent {} in term {} before that term was durable (durable term {})",
                    msg.body.kind_name(),
                    msg.term,
                    t.durable_hs.term
                )
            });
        }
        match &msg.body {
            Body::VoteResponse(VoteResponse {
                pre_vote: false,
                granted: true,
            }) => vote_grant_rule(&mut self.votes, t.durable_hs, msg)?,
            Body::AppendResponse(AppendResponse::Accepted { match_index })
            | Body::SnapshotResponse(SnapshotResponse::Installed { match_index })
                if *match_index > 0 && v.term == msg.term =>
            {
                let m = *match_index;
                if t.durable.prefix_hash(m).is_none()
                    || t.durable.prefix_hash(m) != t.log.prefix_hash(m)
                {
                    return fail(Rule::Durability, v.id, || {
                        format!(
                            "acknowledged entries up to {m} in term {} before they were durable \
                             (durable log ends at {})",
                            msg.term,
                            t.durable.len()
                        )
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Storage of node `i` made `write` durable (possibly a torn prefix of a write).
    pub fn on_durable(&mut self, i: usize, id: NodeId, write: &Write) -> Check {
        self.on_durable_install(i, write);
        let t = &mut self.nodes[i];
        let kept = self.registry.hashes_as_kept(&write.entries, t.witness);
        let hashes = kept.iter().map(|&(whole, _)| whole);
        t.durable
            .write_hashed(&write.entries, hashes, |_, _, _, _| {});
        let Some(hs) = write.hard_state else {
            return Ok(());
        };
        let old = std::mem::replace(&mut t.durable_hs, hs);
        durable_hard_state_rule(id, old, hs)
    }
}

/// `msg` grants a vote (§5.2, Figure 2): it leaves only once that vote is durable (`durable`
/// is the voter's durable hard state), and a voter grants one candidate per term, across
/// restarts too (`votes`: every grant so far, (voter, term) → candidate).
pub fn vote_grant_rule(
    votes: &mut BTreeMap<(NodeId, Term), NodeId>,
    durable: HardState,
    msg: &Message,
) -> Check {
    let voter = msg.from;
    if durable.term < msg.term || (durable.term == msg.term && durable.vote != Some(msg.to)) {
        return fail(Rule::Durability, voter, || {
            format!(
                "granted a vote to n{} in term {} before it was durable (durable: term {}, vote \
                 {:?})",
                msg.to, msg.term, durable.term, durable.vote
            )
        });
    }
    let candidate = *votes.entry((voter, msg.term)).or_insert(msg.to);
    if candidate != msg.to {
        return fail(Rule::DoubleVote, voter, || {
            format!(
                "voted for n{} and n{candidate} in term {}",
                msg.to, msg.term
            )
        });
    }
    Ok(())
}

/// The indices of a node are in order: `snapshot ≤ applied ≤ commit ≤ last` (§5.3: only what is
/// in the log can be committed; §5.4.3: only what is committed can be applied).
pub fn index_order_rule(v: &NodeView) -> Check {
    if !(v.snapshot_index <= v.applied && v.applied <= v.commit && v.commit <= v.last_index) {
        return fail(Rule::IndexOrder, v.id, || {
            format!(
                "snapshot {} ≤ applied {} ≤ commit {} ≤ last {} does not hold",
                v.snapshot_index, v.applied, v.commit, v.last_index
            )
        });
    }
    Ok(())
}

/// A durable hard state replacing `old` by `new` (§5.1, §5.2): term and commit never go back,
/// and the vote of a term never changes once durable (it is how a restart remembers it).
pub fn durable_hard_state_rule(id: NodeId, old: HardState, new: HardState) -> Check {
    if new.term < old.term || new.commit < old.commit {
        return fail(Rule::Monotonicity, id, || {
            format!(
                "durable hard state went from term {} commit {} to term {} commit {}",
                old.term, old.commit, new.term, new.commit
            )
        });
    }
    if new.term == old.term && old.vote.is_some() && new.vote != old.vote {
        return fail(Rule::DoubleVote, id, || {
            format!(
                "durable vote in term {} changed from {:?} to {:?}",
                new.term, old.vote, new.vote
            )
        });
    }
    Ok(())
}
