//! A single node stepped by hand: its actions collected for assertions.

use crate::dispatch::{dispatch_all, Effects};
use sansraft::{Entries, Entry, Input, Message, Node, Write};
use std::collections::VecDeque;

/// What a node did in reaction to some inputs: its writes, messages and applied entries (the
/// other actions are dropped).
#[derive(Debug, Default)]
pub struct Collected {
    /// Writes issued, in order.
    pub writes: Vec<Write>,
    /// Messages sent, in order.
    pub sent: Vec<Message>,
    /// Entries handed out to apply, in order.
    pub applied: Vec<Entry>,
}

impl Effects for Collected {
    fn persist(&mut self, write: Write) {
        self.writes.push(write);
    }
    fn send(&mut self, message: Message) {
        self.sent.push(message);
    }
    fn apply(&mut self, entries: Entries) {
        self.applied.extend(entries);
    }
}

/// Steps `node` once and collects its actions, acknowledging nothing.
pub fn step_collect(node: &mut Node, input: Input) -> Collected {
    let mut out = Collected::default();
    dispatch_all(node.step(input), &mut out);
    out
}

/// Steps `node` with `input` as synchronous storage and an eager application would: every write
/// is acknowledged and every applied run reported at once, in order, until the node is quiet.
pub fn step_durable(node: &mut Node, input: Input) -> Collected {
    let mut out = Collected::default();
    let mut inputs = VecDeque::from([input]);
    while let Some(input) = inputs.pop_front() {
        let step = step_collect(node, input);
        inputs.extend(step.writes.iter().map(|w| Input::Persisted(w.token)));
        if let Some(last) = step.applied.last() {
            inputs.push_back(Input::Applied(last.index));
        }
        out.writes.extend(step.writes);
        out.sent.extend(step.sent);
        out.applied.extend(step.applied);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansraft::{Config, DurableState, Membership, Role};

    #[test]
    fn a_single_voter_with_synchronous_storage_elects_itself_and_applies() {
        let state = DurableState::bootstrap(Membership::with_voters([1]));
        let mut node = Node::new(Config::new(1, 3), state, 0).unwrap();
        let mut applied = Vec::new();
        for _ in 0..100 {
            applied.extend(step_durable(&mut node, Input::Tick).applied);
        }
        assert_eq!(node.role(), Role::Leader);
        assert_eq!(applied.len(), 1, "the leader's empty entry");
        assert!(step_collect(&mut node, Input::Propose(bytes::Bytes::new()))
            .writes
            .iter()
            .all(|w| w.token.seq > 1));
    }
}
