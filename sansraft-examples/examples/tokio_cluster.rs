//! sansraft under tokio: one task per node owns its `Node`; storage is a separate task that
//! writes in order and acknowledges later (asynchronous storage); the network is a set of
//! channels; a client task proposes commands and is answered when they are applied.
//!
//! The engine does no I/O and reads no clock, so the runtime supplies both: a tokio interval
//! feeds `Input::Tick`, and every acknowledgement comes back as an input.

use bytes::Bytes;
use sansraft::{
    Config, Entries, Entry, Input, LogPosition, Message, Node, NodeId, ProposeError, Write,
};
use sansraft_examples::{set_command, Kv, MemStore};
use sansraft_testkit::dispatch::{dispatch_all, Effects};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// What a node task reacts to.
enum Event {
    Tick,
    Message(Message),
    /// A write (and every earlier one) is durable.
    Persisted(sansraft::WriteToken),
    Propose(Bytes, oneshot::Sender<Reply>),
}

/// The answer to a client: applied at an index, or refused.
#[derive(Debug)]
enum Reply {
    Applied(u64),
    NotLeader(Option<NodeId>),
    Refused(ProposeError),
    /// Another leader's entry took the slot: the command did not commit; retry it.
    Overwritten,
}

struct NodeTask {
    node: Node,
    kv: Kv,
    events: mpsc::Receiver<Event>,
    peers: BTreeMap<NodeId, mpsc::Sender<Event>>,
    storage: mpsc::UnboundedSender<Write>,
    /// Proposals waiting to be applied, by log position.
    waiting: BTreeMap<u64, (LogPosition, oneshot::Sender<Reply>)>,
    done: mpsc::UnboundedSender<(NodeId, u64)>,
}

impl NodeTask {
    async fn run(mut self) {
        let mut actions = Vec::new();
        let mut inputs = VecDeque::new();
        while let Some(event) = self.events.recv().await {
            let mut reply = None;
            inputs.push_back(match event {
                Event::Tick => Input::Tick,
                Event::Message(m) => Input::Message(m),
                Event::Persisted(token) => Input::Persisted(token),
                Event::Propose(data, tx) => {
                    reply = Some(tx);
                    Input::Propose(data)
                }
            });
            while let Some(input) = inputs.pop_front() {
                self.node.step_into(input, &mut actions);
                // Carry out the actions in order. Sending before the write completes is fine:
                // the engine holds back every message that depends on an unfinished write.
                let mut step = Step {
                    task: &mut self,
                    reply: &mut reply,
                    inputs: &mut inputs,
                };
                dispatch_all(actions.drain(..), &mut step);
            }
        }
    }

    fn apply(&mut self, entries: &[Entry]) {
        for entry in entries {
            // Bytes that are not a command are skipped on every replica alike.
            let _ = self.kv.apply(entry);
            if let Some((position, tx)) = self.waiting.remove(&entry.index) {
                // The entry at our index has our term only if our proposal is what committed.
                let reply = if entry.term == position.term {
                    Reply::Applied(entry.index)
                } else {
                    Reply::Overwritten
                };
                let _ = tx.send(reply);
            }
        }
        if !entries.is_empty() {
            let _ = self.done.send((self.node.id(), self.kv.len() as u64));
        }
    }
}

/// What one step of a node task does with its actions.
struct Step<'a> {
    task: &'a mut NodeTask,
    /// Where to answer the proposal this step carries, if it carries one.
    reply: &'a mut Option<oneshot::Sender<Reply>>,
    /// Inputs the actions produce, stepped next.
    inputs: &'a mut VecDeque<Input>,
}

// This example changes no membership and reads nothing through Raft.
// This example takes no snapshots and transfers no leadership.
// Those actions keep the dispatcher's default: nothing.
impl Effects for Step<'_> {
    fn persist(&mut self, write: Write) {
        let _ = self.task.storage.send(write);
    }

    fn send(&mut self, message: Message) {
        if let Some(peer) = self.task.peers.get(&message.to) {
            // A full channel is a lost message; Raft retries.
            let _ = peer.try_send(Event::Message(message));
        }
    }

    fn apply(&mut self, entries: Entries) {
        self.task.apply(&entries);
        // Report progress; the engine hands out more once it knows.
        if let Some(last) = entries.last() {
            self.inputs.push_back(Input::Applied(last.index));
        }
    }

    fn proposed(&mut self, result: Result<LogPosition, ProposeError>) {
        let tx = self.reply.take().expect("one outcome per proposal");
        match result {
            Ok(position) => {
                self.task.waiting.insert(position.index, (position, tx));
            }
            Err(ProposeError::NotLeader { leader }) => {
                let _ = tx.send(Reply::NotLeader(leader));
            }
            Err(e) => {
                let _ = tx.send(Reply::Refused(e));
            }
        }
    }
}

/// Storage: applies writes strictly in order, "syncs" (a short sleep stands in for fsync), then
/// acknowledges the last write of each batch, which vouches for the earlier ones too.
async fn storage_task(
    mut store: MemStore,
    mut writes: mpsc::UnboundedReceiver<Write>,
    node: mpsc::Sender<Event>,
) {
    while let Some(write) = writes.recv().await {
        store.apply_write(&write);
        let mut last = write.token;
        while let Ok(more) = writes.try_recv() {
            store.apply_write(&more);
            last = more.token;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
        if node.send(Event::Persisted(last)).await.is_err() {
            return;
        }
    }
}

async fn propose(
    nodes: &BTreeMap<NodeId, mpsc::Sender<Event>>,
    mut target: NodeId,
    data: Bytes,
) -> u64 {
    loop {
        let (tx, rx) = oneshot::channel();
        let _ = nodes[&target].send(Event::Propose(data.clone(), tx)).await;
        match rx.await {
            Ok(Reply::Applied(index)) => return index,
            Ok(Reply::NotLeader(Some(leader))) => target = leader,
            Ok(Reply::Refused(e)) => {
                // Back-pressure: the leader holds too much uncommitted data. Wait and retry.
                eprintln!("refused: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(Reply::NotLeader(None)) | Ok(Reply::Overwritten) | Err(_) => {
                // No leader yet, or lost: wait a little and retry elsewhere.
                tokio::time::sleep(Duration::from_millis(20)).await;
                target = target % 3 + 1;
            }
        }
    }
}

#[tokio::main]
async fn main() {
    const VOTERS: [NodeId; 3] = [1, 2, 3];
    const COMMANDS: u64 = 200;
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut senders = BTreeMap::new();
    let mut receivers = BTreeMap::new();
    for id in VOTERS {
        let (tx, rx) = mpsc::channel(4096);
        senders.insert(id, tx);
        receivers.insert(id, rx);
    }
    for id in VOTERS {
        let store = MemStore::bootstrap(VOTERS);
        let node = Node::new(Config::new(id, 0x5eed ^ id), store.durable_state(), 0)
            .expect("a bootstrapped state is valid");
        let (write_tx, write_rx) = mpsc::unbounded_channel();
        tokio::spawn(storage_task(store, write_rx, senders[&id].clone()));
        let task = NodeTask {
            node,
            kv: Kv::default(),
            events: receivers.remove(&id).expect("one receiver per node"),
            peers: senders.clone(),
            storage: write_tx,
            waiting: BTreeMap::new(),
            done: done_tx.clone(),
        };
        tokio::spawn(task.run());
        // The clock: one tick every 10 ms (election timeout 10 ticks = 100–200 ms).
        let ticker = senders[&id].clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(10));
            loop {
                interval.tick().await;
                if ticker.send(Event::Tick).await.is_err() {
                    return;
                }
            }
        });
    }
    let started = tokio::time::Instant::now();
    let mut clients = Vec::new();
    for c in 0..4u64 {
        let nodes = senders.clone();
        clients.push(tokio::spawn(async move {
            for i in 0..COMMANDS / 4 {
                propose(&nodes, 1, set_command(&format!("c{c}-k{i}"), "v")).await;
            }
        }));
    }
    for client in clients {
        client.await.expect("client task");
    }
    // Wait until every replica applied every command.
    let mut applied = BTreeMap::new();
    while applied.len() < VOTERS.len() || applied.values().any(|&n| n < COMMANDS) {
        let (id, n) = done_rx.recv().await.expect("nodes report progress");
        applied.insert(id, n);
    }
    println!(
        "{COMMANDS} commands applied on all 3 replicas in {:?}",
        started.elapsed()
    );
}
