//! sansraft with no runtime at all: three nodes in one thread, a queue for a network, and
//! storage that is durable the moment it is written (so every write is acknowledged at once).
//!
//! The loop is the whole contract: feed an input, carry out the actions in order, feed back the
//! storage acknowledgements and the application's progress.

use sansraft::{Action, Config, Input, Message, Node, NodeId, Role};
use sansraft_examples::{set_command, Kv, MemStore};
use std::collections::VecDeque;

struct Server {
    node: Node,
    store: MemStore,
    kv: Kv,
    /// Inputs this server produced for itself: storage acks and applied progress.
    feedback: VecDeque<Input>,
}

impl Server {
    /// One step: feed `input`, then carry out every action, in order.
    fn step(&mut self, input: Input, actions: &mut Vec<Action>, network: &mut VecDeque<Message>) {
        self.node.step_into(input, actions);
        for action in actions.drain(..) {
            match action {
                // Write in issue order; here it is durable at once, so acknowledge it now.
                Action::Persist(write) => {
                    self.store.apply_write(&write);
                    self.feedback.push_back(Input::Persisted(write.token));
                }
                // Best effort: a real network may lose it; the protocol retries.
                Action::Send(message) => network.push_back(message),
                // Committed and durable: apply in order, then report progress.
                Action::Apply(entries) => {
                    for entry in &entries {
                        // Bytes that are not a command are skipped on every replica alike.
                        let _ = self.kv.apply(entry);
                    }
                    if let Some(last) = entries.last().map(|e| e.index) {
                        self.store.set_applied(last);
                        self.feedback.push_back(Input::Applied(last));
                    }
                }
                Action::Proposed(_) => {}
                // This example changes no membership and reads nothing through Raft.
                Action::MembershipProposed(_)
                | Action::LearnerCaughtUp { .. }
                | Action::ReadReady { .. }
                | Action::ReadFailed { .. } => {}
                // This example takes no snapshots and transfers no leadership.
                Action::CompactLog(_)
                | Action::ReadSnapshotChunk(_)
                | Action::WriteSnapshotChunk(_)
                | Action::DropPartialSnapshot { .. }
                | Action::Transfer(_) => {}
            }
        }
    }
}

fn main() {
    const VOTERS: [NodeId; 3] = [1, 2, 3];
    let mut servers: Vec<Server> = VOTERS
        .iter()
        .map(|&id| {
            let store = MemStore::bootstrap(VOTERS);
            // The seed drives election jitter; any value, but different per node.
            let node = Node::new(Config::new(id, 0x5eed ^ id), store.durable_state(), 0)
                .expect("a bootstrapped state is valid");
            Server {
                node,
                store,
                kv: Kv::default(),
                feedback: VecDeque::new(),
            }
        })
        .collect();
    let mut network = VecDeque::new();
    let mut actions = Vec::new();
    let mut proposed = 0;
    let mut ticks = 0u64;
    while servers.iter().any(|s| s.kv.len() < 100) {
        assert!(
            ticks < 10_000,
            "the cluster should finish in well under 10,000 ticks"
        );
        ticks += 1;
        for s in &mut servers {
            s.step(Input::Tick, &mut actions, &mut network);
        }
        // Deliver everything and drain feedback until the cluster is quiet.
        loop {
            let mut busy = false;
            while let Some(message) = network.pop_front() {
                busy = true;
                let to = (message.to - 1) as usize;
                servers[to].step(Input::Message(message), &mut actions, &mut network);
            }
            for s in &mut servers {
                while let Some(input) = s.feedback.pop_front() {
                    busy = true;
                    s.step(input, &mut actions, &mut network);
                }
            }
            if !busy {
                break;
            }
        }
        // Propose to whoever leads; a follower would refuse with the leader's id.
        if let Some(leader) = servers.iter_mut().find(|s| s.node.role() == Role::Leader) {
            while proposed < 100 {
                let command = set_command(&format!("key{proposed}"), "value");
                leader.step(Input::Propose(command), &mut actions, &mut network);
                proposed += 1;
            }
        }
    }
    let first = &servers[0].kv;
    assert!(servers.iter().all(|s| &s.kv == first), "replicas agree");
    println!(
        "3 nodes applied {} commands (log index {}) in {ticks} ticks; replicas agree",
        first.len(),
        first.applied()
    );
}
