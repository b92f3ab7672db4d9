//! sansraft with no runtime at all: three nodes in one thread, a queue for a network, and
//! storage that is durable the moment it is written (so every write is acknowledged at once).
//!
//! The loop is the whole contract: feed an input, carry out the actions in order, feed back the
//! storage acknowledgements and the application's progress.

use sansraft::{Action, Config, Entries, Input, Message, Node, NodeId, Role, Write};
use sansraft_examples::{set_command, Kv, MemStore};
use sansraft_testkit::dispatch::{dispatch_all, Effects};
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
        dispatch_all(
            actions.drain(..),
            &mut Step {
                server: self,
                network,
            },
        );
    }
}

/// What one step of a server does with its actions.
struct Step<'a> {
    server: &'a mut Server,
    network: &'a mut VecDeque<Message>,
}

// Proposal outcomes are not awaited: the loop runs until every replica holds 100 keys.
// This example changes no membership and reads nothing through Raft.
// This example takes no snapshots and transfers no leadership.
// Those actions keep the dispatcher's default: nothing.
impl Effects for Step<'_> {
    // Write in issue order; here it is durable at once, so acknowledge it now.
    fn persist(&mut self, write: Write) {
        self.server.store.apply_write(&write);
        self.server
            .feedback
            .push_back(Input::Persisted(write.token));
    }

    // Best effort: a real network may lose it; the protocol retries.
    fn send(&mut self, message: Message) {
        self.network.push_back(message);
    }

    // Committed and durable: apply in order, then report progress.
    fn apply(&mut self, entries: Entries) {
        for entry in &entries {
            // Bytes that are not a command are skipped on every replica alike.
            let _ = self.server.kv.apply(entry);
        }
        if let Some(last) = entries.last().map(|e| e.index) {
            self.server.store.set_applied(last);
            self.server.feedback.push_back(Input::Applied(last));
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
