//! sansraft driven the way its README says: feed an input, carry out the actions in order.
//! Storage and the state machine are synchronous here (as noraft assumes, and as raft-rs is
//! driven through `Ready`/`advance`), so the nodes run with [`Io::Synchronous`]: a write is
//! durable and an entry applied once its action is carried out, and nothing is acknowledged.

use crate::transport::{Mode, Transport, Wire};
use crate::workload::{payload_batch, Cluster};
use sansraft::{
    Codec, Config, DurableState, Entries, Entry, EntryKind, HardState, Input, Io, LogPosition,
    Membership, Message, Node, NodeId, ProposeError, Role, Write,
};
use sansraft_testkit::dispatch::{dispatch, Effects};
use std::collections::VecDeque;

/// What a node's storage holds: the hard state, and the log as a write-ahead log of records,
/// one per write, each the write's entries as handed over (a shared run, kept without copying).
#[derive(Debug, Default)]
pub struct MemStore {
    /// The persisted hard state.
    pub hard_state: HardState,
    /// The persisted entries, one record per write, in log order.
    pub records: Vec<Entries>,
}

impl MemStore {
    fn write(&mut self, hard_state: Option<HardState>, entries: Entries) {
        if let Some(hs) = hard_state {
            self.hard_state = hs;
        }
        let Some(first) = entries.first().map(|e| e.index) else {
            return;
        };
        // A write replaces every persisted entry from its first index on.
        while let Some(record) = self.records.last_mut() {
            match record.first() {
                Some(e) if e.index >= first => {
                    self.records.pop();
                }
                Some(e) => {
                    let keep = (first - e.index) as usize;
                    if keep < record.len() {
                        *record = record[..keep].to_vec().into();
                    }
                    break;
                }
                None => {
                    self.records.pop();
                }
            }
        }
        self.records.push(entries);
    }

    /// The persisted entries, in log order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.records.iter().flatten()
    }
}

/// One member: the engine, its storage and its state machine's progress.
#[derive(Debug)]
pub struct Member {
    /// The engine.
    pub node: Node,
    /// Its storage.
    pub store: MemStore,
    /// Its state machine's progress.
    pub applied: Applied,
}

/// A member's state machine's progress.
#[derive(Debug, Default)]
pub struct Applied {
    /// Normal entries applied.
    pub entries: u64,
    /// Payload bytes applied.
    pub bytes: u64,
    /// The last index applied.
    pub index: u64,
}

/// What one step of member `i` does with its actions: writes kept in its store, messages queued
/// for their nodes, entries applied. The benchmarks change no membership, take no snapshots
/// and transfer no leadership, so the other actions keep their default: nothing.
struct StepEffects<'a> {
    i: usize,
    store: &'a mut MemStore,
    applied: &'a mut Applied,
    queue: &'a mut VecDeque<(usize, Input)>,
    isolated: Option<usize>,
    keep_store: bool,
}

impl Effects for StepEffects<'_> {
    fn persist(&mut self, write: Write) {
        if self.keep_store {
            self.store.write(write.hard_state, write.entries);
        }
    }

    fn send(&mut self, message: Message) {
        let to = message.to as usize - 1;
        if self.isolated != Some(self.i) && self.isolated != Some(to) {
            self.queue.push_back((to, Input::Message(message)));
        }
    }

    fn apply(&mut self, entries: Entries) {
        for entry in &entries {
            if entry.kind == EntryKind::Normal {
                self.applied.entries += 1;
                self.applied.bytes += entry.data.len() as u64;
            }
        }
        if let Some(last) = entries.last() {
            self.applied.index = last.index;
        }
    }

    fn proposed(&mut self, result: Result<LogPosition, ProposeError>) {
        result.expect("the leader accepts every benchmark proposal");
    }
}

/// sansraft's wire: `message` encoded with its [`Codec`] into the sender's reused buffer, and
/// decoded by the receiver from the frame it read, with [`Codec::decode_shared`]: the entries
/// are the receiver's own, their payloads slices of the frame.
pub fn over_the_wire(message: Message, wire: &mut Wire) -> Message {
    message.encode_into(wire.send_buf());
    drop(message);
    Message::decode_shared(&wire.receive()).expect("sansraft decodes its own encoding")
}

/// A cluster of sansraft nodes with ids 1..=n; inputs wait in one FIFO queue.
#[derive(Debug)]
pub struct OursCluster {
    /// The members, node id `i + 1` at position `i`.
    pub members: Vec<Member>,
    /// Inputs not yet fed, with the position of the member they are for.
    pub queue: VecDeque<(usize, Input)>,
    /// Steps taken so far (for the election figures).
    pub steps: u64,
    /// Members whose messages are dropped (for the leader-loss figures).
    pub isolated: Option<usize>,
    /// Keep what is written in each member's `MemStore` (else writes are acknowledged and
    /// dropped, to measure the engine's own memory).
    pub keep_store: bool,
    /// How messages travel.
    pub transport: Transport,
    seq: u64,
}

impl OursCluster {
    /// A cluster of `n` fresh nodes whose messages travel as `mode` says; nobody leads yet. Each
    /// node's seed derives from `seed`.
    pub fn new(n: usize, seed: u64, mode: Mode) -> Self {
        let voters: Vec<NodeId> = (1..=n as NodeId).collect();
        let members = voters
            .iter()
            .map(|&id| {
                let mut config = Config::new(id, seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ id);
                config.io = Io::Synchronous;
                let state = DurableState::bootstrap(Membership::with_voters(voters.clone()));
                Member {
                    node: Node::new(config, state, 1).expect("valid start state"),
                    store: MemStore::default(),
                    applied: Applied::default(),
                }
            })
            .collect();
        OursCluster {
            members,
            queue: VecDeque::new(),
            steps: 0,
            isolated: None,
            keep_store: true,
            transport: Transport::new(mode),
            seq: 0,
        }
    }

    /// The position of the leader with the highest term, if any.
    pub fn leader(&self) -> Option<usize> {
        self.members
            .iter()
            .enumerate()
            .filter(|(i, m)| m.node.role() == Role::Leader && Some(*i) != self.isolated)
            .max_by_key(|(_, m)| m.node.term())
            .map(|(i, _)| i)
    }

    /// Feeds one input to member `i` and carries out its actions.
    pub fn step(&mut self, i: usize, input: Input) {
        self.steps += 1;
        let Member {
            node,
            store,
            applied,
        } = &mut self.members[i];
        let mut effects = StepEffects {
            i,
            store,
            applied,
            queue: &mut self.queue,
            isolated: self.isolated,
            keep_store: self.keep_store,
        };
        node.step_with(input, |action| dispatch(action, &mut effects));
    }

    /// Feeds queued inputs until none is left; messages reach their node through the
    /// transport.
    pub fn pump(&mut self) {
        while let Some((i, input)) = self.queue.pop_front() {
            let input = match input {
                Input::Message(m) => Input::Message(self.transport.carry(m, over_the_wire)),
                other => other,
            };
            self.step(i, input);
        }
    }

    /// One tick on every member (isolated ones too), then everything that follows from it.
    pub fn tick_all(&mut self) {
        for i in 0..self.members.len() {
            self.step(i, Input::Tick);
        }
        self.pump();
    }

    fn propose(&mut self, leader: usize, batch: usize, payload_bytes: usize) {
        self.seq += 1;
        let mut payloads = payload_batch(batch, payload_bytes, self.seq);
        let input = if batch == 1 {
            Input::Propose(payloads.pop().expect("one payload"))
        } else {
            Input::ProposeBatch(payloads)
        };
        self.step(leader, input);
    }
}

impl Cluster for OursCluster {
    const NAME: &'static str = "sansraft";

    fn start(nodes: usize, mode: Mode) -> Self {
        let mut cluster = OursCluster::new(nodes, 7, mode);
        while cluster.leader().is_none() {
            cluster.tick_all();
        }
        // Let the new leader's empty entry commit and apply everywhere.
        let leader = cluster.leader().expect("leader");
        let last = cluster.members[leader].node.status().last_index;
        while cluster.members.iter().any(|m| m.applied.index < last) {
            cluster.tick_all();
        }
        cluster
    }

    fn round(&mut self, batch: usize, payload_bytes: usize) {
        let leader = self.leader().expect("a leader");
        self.propose(leader, batch, payload_bytes);
        self.pump();
        let last = self.members[leader].node.status().last_index;
        debug_assert!(
            self.members.iter().all(|m| m.applied.index == last),
            "every node applies the batch without any tick"
        );
    }

    fn transport(&self) -> &Transport {
        &self.transport
    }

    fn applied_entries(&self) -> u64 {
        self.members.iter().map(|m| m.applied.entries).sum()
    }

    fn applied_bytes(&self) -> u64 {
        self.members.iter().map(|m| m.applied.bytes).sum()
    }
}
