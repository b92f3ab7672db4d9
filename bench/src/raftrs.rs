//! tikv's raft-rs (crate `raft`), driven as its `single_mem_node` example drives `RawNode`:
//! step messages, then for every node with a `Ready`: send its messages, apply its committed
//! entries, persist entries and hard state to `MemStorage`, send the persisted messages,
//! `advance`, then send and apply what the `LightReady` holds, and `advance_apply`.
//!
//! A client batch reaches the leader as one `MsgPropose` message carrying every entry, raft-rs's
//! best API for a batch (`RawNode::propose` takes one entry per call and steps the same
//! message). Over the wire, messages are encoded and decoded with raft-rs's protobuf codec.

use crate::transport::{Mode, Transport, Wire};
use crate::workload::{payload_batch, Cluster};
use protobuf::Message as _;
use raft::eraftpb::{ConfState, Entry, EntryType, Message, MessageType};
use raft::storage::MemStorage;
use raft::{Config, RawNode, StateRole};
use slog::{o, Discard, Logger};
use std::collections::VecDeque;

/// One member: the raw node (its `MemStorage` inside) and its state machine's progress.
pub struct Member {
    /// The raw node.
    pub node: RawNode<MemStorage>,
    /// Normal entries applied.
    pub applied_entries: u64,
    /// Payload bytes applied.
    pub applied_bytes: u64,
    /// The last index applied.
    pub applied_index: u64,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("id", &self.node.raft.id)
            .field("applied_index", &self.applied_index)
            .finish_non_exhaustive()
    }
}

/// A raft-rs cluster with ids 1..=n.
#[derive(Debug)]
pub struct RaftRsCluster {
    /// The members, node id `i + 1` at position `i`.
    pub members: Vec<Member>,
    queue: VecDeque<Message>,
    /// How messages travel.
    pub transport: Transport,
    seq: u64,
}

/// raft-rs's wire: `message` encoded with protobuf into the sender's reused buffer, and parsed
/// by the receiver from the frame it read, with `parse_from_carllerche_bytes`: the entries are
/// the receiver's own, their payloads (`bytes::Bytes` in raft-rs) slices of the frame.
pub fn over_the_wire(message: Message, wire: &mut Wire) -> Message {
    message
        .write_to_vec(wire.send_buf())
        .expect("protobuf encodes raft-rs's messages");
    drop(message);
    Message::parse_from_carllerche_bytes(&wire.receive())
        .expect("protobuf decodes its own encoding")
}

/// raft-rs's configuration with the same timeouts and limits as sansraft's defaults.
pub fn config(id: u64) -> Config {
    Config {
        id,
        election_tick: 10,
        heartbeat_tick: 2,
        max_size_per_msg: 1 << 20,
        max_inflight_msgs: 256,
        check_quorum: true,
        pre_vote: true,
        ..Default::default()
    }
}

/// A logger that drops every record (raft-rs takes a slog logger).
pub fn logger() -> Logger {
    Logger::root(Discard, o!())
}

impl Member {
    /// A fresh member of a cluster of `voters`.
    pub fn new(id: u64, voters: &[u64], logger: &Logger) -> Self {
        let storage = MemStorage::new_with_conf_state(ConfState::from((voters.to_vec(), vec![])));
        Member {
            node: RawNode::new(&config(id), storage, logger).expect("valid raft-rs config"),
            applied_entries: 0,
            applied_bytes: 0,
            applied_index: 0,
        }
    }

    fn apply(&mut self, entries: Vec<Entry>) {
        for entry in entries {
            self.applied_index = entry.index;
            if entry.get_entry_type() == EntryType::EntryNormal && !entry.data.is_empty() {
                self.applied_entries += 1;
                self.applied_bytes += entry.data.len() as u64;
            }
        }
    }

    /// Handles one `Ready` if there is one; returns false if there was nothing to do.
    pub fn handle_ready(&mut self, out: &mut VecDeque<Message>) -> bool {
        if !self.node.has_ready() {
            return false;
        }
        let store = self.node.raft.raft_log.store.clone();
        let mut ready = self.node.ready();
        out.extend(ready.take_messages());
        if !ready.snapshot().is_empty() {
            store
                .wl()
                .apply_snapshot(ready.snapshot().clone())
                .expect("snapshot applies");
        }
        self.apply(ready.take_committed_entries());
        if !ready.entries().is_empty() {
            store.wl().append(ready.entries()).expect("entries append");
        }
        if let Some(hs) = ready.hs() {
            store.wl().set_hardstate(hs.clone());
        }
        out.extend(ready.take_persisted_messages());
        let mut light = self.node.advance(ready);
        if let Some(commit) = light.commit_index() {
            store.wl().mut_hard_state().set_commit(commit);
        }
        out.extend(light.take_messages());
        self.apply(light.take_committed_entries());
        self.node.advance_apply();
        true
    }
}

impl RaftRsCluster {
    /// `n` fresh members whose messages travel as `mode` says; nobody leads yet.
    pub fn new(n: usize, mode: Mode) -> Self {
        let voters: Vec<u64> = (1..=n as u64).collect();
        let logger = logger();
        RaftRsCluster {
            members: voters
                .iter()
                .map(|&id| Member::new(id, &voters, &logger))
                .collect(),
            queue: VecDeque::new(),
            transport: Transport::new(mode),
            seq: 0,
        }
    }

    /// Delivers messages and handles readies until nothing is left to do.
    pub fn pump(&mut self) {
        loop {
            // Step every queued message first, then take one Ready per node: the batching
            // raft-rs is designed for.
            while let Some(message) = self.queue.pop_front() {
                let message = self.transport.carry(message, over_the_wire);
                let to = message.to as usize - 1;
                // A message for a node that is not ready to take it is dropped, as a network
                // would; in this loop that does not happen.
                let _ = self.members[to].node.step(message);
            }
            let mut any = false;
            for member in &mut self.members {
                any |= member.handle_ready(&mut self.queue);
            }
            if !any && self.queue.is_empty() {
                return;
            }
        }
    }

    fn leader(&self) -> usize {
        self.members
            .iter()
            .position(|m| m.node.raft.state == StateRole::Leader)
            .expect("a leader")
    }
}

impl Cluster for RaftRsCluster {
    const NAME: &'static str = "raft-rs";

    fn start(nodes: usize, mode: Mode) -> Self {
        let mut cluster = RaftRsCluster::new(nodes, mode);
        cluster.members[0].node.campaign().expect("campaign");
        cluster.pump();
        let leader = cluster.leader();
        let last = cluster.members[leader].node.raft.raft_log.last_index();
        assert!(
            cluster.members.iter().all(|m| m.applied_index >= last),
            "the leader's first entry is applied everywhere"
        );
        cluster
    }

    fn round(&mut self, batch: usize, payload_bytes: usize) {
        let leader = self.leader();
        self.seq += 1;
        // The whole batch in one MsgPropose, each entry's data a shared slice of the client's
        // buffer, as for sansraft.
        let entries: Vec<Entry> = payload_batch(batch, payload_bytes, self.seq)
            .into_iter()
            .map(|data| Entry {
                data,
                ..Default::default()
            })
            .collect();
        let mut propose = Message::default();
        propose.set_msg_type(MessageType::MsgPropose);
        propose.from = leader as u64 + 1;
        propose.set_entries(entries.into());
        self.members[leader]
            .node
            .step(propose)
            .expect("the leader accepts every benchmark proposal");
        self.pump();
    }

    fn transport(&self) -> &Transport {
        &self.transport
    }

    fn applied_entries(&self) -> u64 {
        self.members.iter().map(|m| m.applied_entries).sum()
    }

    fn applied_bytes(&self) -> u64 {
        self.members.iter().map(|m| m.applied_bytes).sum()
    }
}
