//! Figure 2, AppendEntries receiver rule 2: "Reply false if log doesn't contain an entry at
//! prevLogIndex whose term matches prevLogTerm" — and only then. A follower that rejects an append
//! whose previous entry it holds makes its leader probe the same position forever (a liveness
//! bug no safety check sees). The oracle counts, per node, term and `prev_index`, the appends
//! delivered whose previous entry the node did not hold (or could not tell, being compacted); a
//! rejection naming that position must match one of them.

use super::Check;
use super::{Breach, Rule};
use sansraft::message::AppendResponse;
use sansraft::{Body, Index, Message, Node, NodeId, Term};
use std::collections::BTreeMap;

/// The most positions remembered per node; beyond it the node's record is dropped (which can
/// only hide a finding, never invent one).
const MAX_POSITIONS: usize = 4096;

#[derive(Clone, Debug, Default)]
struct Positions {
    /// (term, prev_index) → (rejectable deliveries not yet answered, a matching delivery seen).
    seen: BTreeMap<(Term, Index), (u32, bool)>,
}

/// The rule for every node, by index.
#[derive(Clone, Debug)]
pub struct AppendRules {
    nodes: Vec<Positions>,
}

impl AppendRules {
    /// Rules for `n` nodes.
    pub fn new(n: usize) -> Self {
        AppendRules {
            nodes: vec![Positions::default(); n],
        }
    }

    /// Node `i` crashed: answers it held back are lost, and its log may be shorter now.
    pub fn crash(&mut self, i: usize) {
        self.nodes[i].seen.clear();
    }

    /// `msg` is about to be delivered to node `i` (running `node`).
    pub fn on_deliver(&mut self, i: usize, node: &Node, msg: &Message) {
        let Body::Append(append) = &msg.body else {
            return;
        };
        let positions = &mut self.nodes[i].seen;
        if positions.len() >= MAX_POSITIONS {
            positions.clear();
        }
        let held = node.log_term(append.prev_index) == Some(append.prev_term)
            && append.prev_index >= node.first_index().saturating_sub(1);
        let slot = positions
            .entry((msg.term, append.prev_index))
            .or_insert((0, false));
        if held {
            slot.1 = true;
        } else {
            slot.0 += 1;
        }
    }

    /// Node `i` sends `msg`.
    pub fn on_send(&mut self, i: usize, id: NodeId, msg: &Message) -> Check {
        let Body::AppendResponse(AppendResponse::Rejected { reject_index, .. }) = msg.body else {
            return Ok(());
        };
        let Some(slot) = self.nodes[i].seen.get_mut(&(msg.term, reject_index)) else {
            return Ok(());
        };
        if slot.0 > 0 {
            slot.0 -= 1;
            return Ok(());
        }
        if slot.1 {
            return Err(Breach::new(
                Rule::AppendRejectedWrongly,
                Some(id),
                format!(
                    "rejected the term-{} append after index {reject_index}, whose entry it \
                     held with the append's term (Figure 2, AppendEntries rule 2)",
                    msg.term
                ),
            ));
        }
        Ok(())
    }
}
