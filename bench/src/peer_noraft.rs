//! noraft, driven as its documentation says: after each call, carry out `actions_mut()`; apply
//! committed `LogEntry::Command` entries up to `commit_index()`.
//!
//! noraft keeps no payloads: a command is a position in its log, and the embedder stores the
//! command's bytes itself and ships them with the AppendEntries call. This driver does that in
//! the least work it can: each node keeps a `Vec<Bytes>` of payloads by log index, the transport
//! attaches shared slices of the leader's payloads to each AppendEntries call, and a node stores
//! them when it carries out `AppendLogEntries`. noraft commits by piggybacking the commit index
//! on the next AppendEntries call, so once the cluster is quiet with entries not yet applied
//! everywhere, the driver calls `heartbeat()` on the leader, as its heartbeat timer would.
//!
//! noraft has no codec, so "over the wire" here is a stand-in that flatters it: the receiver
//! gets a clone of the message and copies of the payloads cut from one fresh frame buffer; no
//! header, term or index is encoded or decoded.

use crate::transport::{Mode, Transport, Wire};
use crate::workload::{payload_batch, Cluster};
use bytes::Bytes;
use noraft::{Action, LogEntry, LogIndex, Message, Node, NodeId};
use std::collections::VecDeque;

/// One member: the node, its persisted term and vote, its payload store and apply progress.
#[derive(Debug)]
pub struct Member {
    /// The node.
    pub node: Node,
    /// Persisted current term and vote.
    pub hard_state: (u64, Option<u64>),
    /// Persisted payloads by log index (`payloads[i]` is index `i + 1`); empty for non-commands.
    pub payloads: Vec<Bytes>,
    /// Payloads that came with the message being handled (or the proposals being made), from
    /// log index `staged_from`.
    staged: Vec<Bytes>,
    staged_from: u64,
    /// Normal entries applied.
    pub applied_entries: u64,
    /// Payload bytes applied.
    pub applied_bytes: u64,
    /// The last index applied.
    pub applied_index: u64,
}

/// A noraft cluster with node ids 0..n.
#[derive(Debug)]
pub struct NoraftCluster {
    /// The members, node id `i` at position `i`.
    pub members: Vec<Member>,
    queue: VecDeque<(usize, Message)>,
    /// How messages travel.
    pub transport: Transport,
    seq: u64,
}

/// noraft's stand-in for a wire, as it has no codec: the payloads that travel with `message`
/// are copied into the sender's reused buffer and from there into the frame the receiver reads,
/// from which each payload is sliced; the message itself is cloned (noraft's messages hold
/// their terms and configurations in maps, so a clone allocates as a decode would). Nothing is
/// encoded: this costs noraft less than a codec would.
pub fn over_the_wire(
    (message, mut payloads): (Message, Vec<Bytes>),
    wire: &mut Wire,
) -> (Message, Vec<Bytes>) {
    let buf = wire.send_buf();
    for payload in &payloads {
        buf.extend_from_slice(payload);
    }
    let mut frame = wire.receive();
    for payload in &mut payloads {
        *payload = frame.split_to(payload.len());
    }
    (message.clone(), payloads)
}

impl Member {
    fn new(id: usize) -> Self {
        Member {
            node: Node::start(NodeId::new(id as u64)),
            hard_state: (0, None),
            payloads: Vec::new(),
            staged: Vec::new(),
            staged_from: 0,
            applied_entries: 0,
            applied_bytes: 0,
            applied_index: 0,
        }
    }

    /// Carries out the pending actions; messages go to `queue`.
    fn run_actions(&mut self, me: usize, n: usize, queue: &mut VecDeque<(usize, Message)>) {
        while let Some(action) = self.node.actions_mut().next() {
            match action {
                Action::SetElectionTimeout => {}
                Action::SaveCurrentTerm => self.hard_state.0 = self.node.current_term().get(),
                Action::SaveVotedFor => {
                    self.hard_state.1 = self.node.voted_for().map(|id| id.get());
                }
                Action::BroadcastMessage(message) => {
                    for to in (0..n).filter(|&to| to != me) {
                        queue.push_back((to, message.clone()));
                    }
                }
                Action::AppendLogEntries(entries) => {
                    let prev = entries.prev_position().index.get();
                    self.payloads.truncate(prev as usize);
                    for (position, entry) in entries.iter_with_positions() {
                        let index = position.index.get();
                        let payload = match entry {
                            LogEntry::Command => self
                                .staged
                                .get((index - self.staged_from) as usize)
                                .cloned()
                                .expect("a command's payload travels with it"),
                            LogEntry::Term(_) | LogEntry::ClusterConfig(_) => Bytes::new(),
                        };
                        self.payloads.push(payload);
                    }
                }
                Action::SendMessage(to, message) => queue.push_back((to.get() as usize, message)),
                Action::InstallSnapshot(_) => {
                    unreachable!("the benchmark never compacts the log")
                }
            }
        }
    }

    /// Applies committed commands.
    fn apply(&mut self) {
        let commit = self.node.commit_index().get();
        while self.applied_index < commit {
            self.applied_index += 1;
            let entry = self
                .node
                .log()
                .entries()
                .get_entry(LogIndex::new(self.applied_index));
            if entry == Some(LogEntry::Command) {
                self.applied_entries += 1;
                self.applied_bytes += self.payloads[self.applied_index as usize - 1].len() as u64;
            }
        }
    }
}

impl NoraftCluster {
    /// `n` fresh members whose messages travel as `mode` says; nobody leads yet.
    pub fn new(n: usize, mode: Mode) -> Self {
        NoraftCluster {
            members: (0..n).map(Member::new).collect(),
            queue: VecDeque::new(),
            transport: Transport::new(mode),
            seq: 0,
        }
    }

    fn leader(&self) -> usize {
        self.members
            .iter()
            .position(|m| m.node.role().is_leader())
            .expect("a leader")
    }

    /// Carries out actions and delivers messages until nothing is left, then applies.
    fn pump(&mut self) {
        let n = self.members.len();
        loop {
            for (i, member) in self.members.iter_mut().enumerate() {
                member.run_actions(i, n, &mut self.queue);
            }
            if self.queue.is_empty() {
                break;
            }
            while let Some((to, message)) = self.queue.pop_front() {
                let message = self.deliver(to, message);
                self.members[to].node.handle_message(&message);
                self.members[to].run_actions(to, n, &mut self.queue);
            }
        }
        for member in &mut self.members {
            member.apply();
        }
    }

    /// Carries `message` to member `to` through the transport, with the payloads of the entries
    /// it appends, which `to` stages for its `AppendLogEntries`; returns what `to` receives.
    fn deliver(&mut self, to: usize, message: Message) -> Message {
        let mut payloads = Vec::new();
        let mut from_index = 0;
        if let Message::AppendEntriesCall { from, entries, .. } = &message {
            // The transport attaches the payloads of the entries it carries.
            let from = from.get() as usize;
            let lo = entries.prev_position().index.get() as usize;
            let hi = entries.last_position().index.get() as usize;
            let (src, dst) = pair(&mut self.members, from, to);
            payloads = std::mem::take(&mut dst.staged);
            payloads.clear();
            payloads.extend_from_slice(&src.payloads[lo..hi]);
            from_index = lo as u64 + 1;
        }
        let attached = from_index > 0;
        let (message, payloads) = self.transport.carry((message, payloads), over_the_wire);
        if attached {
            let dst = &mut self.members[to];
            dst.staged = payloads;
            dst.staged_from = from_index;
        }
        message
    }

    /// The leader's heartbeat timer fires; everything that follows is carried out.
    pub fn heartbeat(&mut self) {
        let leader = self.leader();
        self.members[leader].node.heartbeat();
        self.pump();
    }

    /// Pumps, then heartbeats until every node applied the leader's commit index.
    fn settle(&mut self) {
        self.pump();
        let leader = self.leader();
        let last = self.members[leader].node.log().last_position().index.get();
        while self.members.iter().any(|m| m.applied_index < last) {
            self.members[leader].node.heartbeat();
            self.pump();
        }
    }
}

/// Mutable references to two distinct members.
fn pair(members: &mut [Member], a: usize, b: usize) -> (&mut Member, &mut Member) {
    assert_ne!(a, b, "a node never sends to itself");
    if a < b {
        let (lo, hi) = members.split_at_mut(b);
        (&mut lo[a], &mut hi[0])
    } else {
        let (lo, hi) = members.split_at_mut(a);
        (&mut hi[0], &mut lo[b])
    }
}

impl Cluster for NoraftCluster {
    const NAME: &'static str = "noraft";

    fn start(nodes: usize, mode: Mode) -> Self {
        let mut cluster = NoraftCluster::new(nodes, mode);
        let ids: Vec<NodeId> = (0..nodes as u64).map(NodeId::new).collect();
        cluster.members[0].node.create_cluster(&ids);
        let mut rounds = 0;
        cluster.pump();
        while !cluster.members.iter().any(|m| m.node.role().is_leader()) {
            // The election timer of the first node fires.
            cluster.members[0].node.handle_election_timeout();
            cluster.pump();
            rounds += 1;
            assert!(rounds < 100, "noraft elects its first node");
        }
        cluster.settle();
        cluster
    }

    fn round(&mut self, batch: usize, payload_bytes: usize) {
        let leader = self.leader();
        self.seq += 1;
        let member = &mut self.members[leader];
        member.staged = payload_batch(batch, payload_bytes, self.seq);
        member.staged_from = member.node.log().last_position().index.get() + 1;
        for _ in 0..batch {
            member.node.propose_command();
        }
        self.settle();
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
