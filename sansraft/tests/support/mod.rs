//! A small in-process cluster for integration tests: a message queue instead of a network,
//! storage that tells written from durable, crashes that lose what was not acknowledged.
//! Deterministic: no clock, no OS randomness.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test file uses a different part of the harness"
)]

use bytes::Bytes;
use sansraft::{
    Action, ChunkRead, ConfChangeError, Config, DurableState, Entry, EntryKind, Index, Input,
    LogPosition, Membership, Message, Node, NodeId, ProposeError, ReadError, Role, SnapshotMeta,
    Term, TransferOutcome, Write,
};
use std::collections::{BTreeSet, VecDeque};

/// What one node has on disk, and what it wrote but has not yet made durable.
#[derive(Clone, Debug, Default)]
pub struct Store {
    pub durable: DurableState,
    pub unacked: VecDeque<Write>,
    pub incarnation: u64,
    /// The bytes of the durable snapshot `durable.snapshot`.
    pub snapshot_data: Bytes,
    /// The partial snapshot being received (lost on a crash).
    pub partial: Option<((Index, Term), Vec<u8>)>,
    /// The bytes of received snapshots whose install writes are not yet durable, in order.
    pub installing: VecDeque<Bytes>,
}

impl Store {
    fn make_durable(&mut self, write: &Write) {
        if let Some(install) = &write.install {
            let data = self.installing.pop_front().expect("install bytes queued");
            self.durable.snapshot = install.meta.clone();
            self.snapshot_data = data;
            let index = install.meta.index;
            if install.retain_log {
                self.durable.entries.retain(|e| e.index > index);
            } else {
                self.durable.entries.clear();
            }
        }
        if let Some(hs) = write.hard_state {
            self.durable.hard_state = hs;
        }
        if let Some(first) = write.entries.first() {
            self.durable.entries.retain(|e| e.index < first.index);
            self.durable.entries.extend(write.entries.iter().cloned());
        }
    }

    /// The durable state a restart begins from: the snapshot and the entries after it.
    pub fn restart_state(&self) -> DurableState {
        let mut state = self.durable.clone();
        state.entries.retain(|e| e.index > state.snapshot.index);
        state.applied = state.snapshot.index;
        state
    }
}

/// The harness's state machine snapshot: every applied payload, length-prefixed.
pub fn encode_applied(applied: &[Entry]) -> Bytes {
    let mut out = Vec::new();
    for e in applied.iter().filter(|e| !e.data.is_empty()) {
        out.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&e.data);
    }
    Bytes::from(out)
}

/// The inverse of [`encode_applied`].
pub fn decode_applied(mut bytes: &[u8]) -> Vec<Entry> {
    let mut out = Vec::new();
    while bytes.len() >= 4 {
        let len = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
        if bytes.len() - 4 < len {
            break; // not a snapshot this harness wrote (a forged one, in bad-input tests)
        }
        out.push(Entry {
            term: 0,
            index: 0,
            kind: EntryKind::Normal,
            data: Bytes::copy_from_slice(&bytes[4..4 + len]),
        });
        bytes = &bytes[4 + len..];
    }
    out
}

pub struct Peer {
    pub node: Option<Node>,
    pub store: Store,
    pub config: Config,
    /// Every entry applied, in order, across restarts (the state machine is rebuilt by replay).
    pub applied: Vec<Entry>,
}

pub struct Cluster {
    pub peers: Vec<Peer>,
    /// Messages in flight, in send order.
    pub network: VecDeque<Message>,
    /// Links that drop everything: (from, to).
    pub cut: BTreeSet<(NodeId, NodeId)>,
    /// Acknowledge writes as soon as they are issued.
    pub auto_persist: bool,
    /// Every message ever sent, for assertions.
    pub sent_log: Vec<Message>,
    pub proposals: Vec<(NodeId, Result<LogPosition, ProposeError>)>,
    /// Outcomes of membership changes, in order.
    pub conf_changes: Vec<(NodeId, Result<LogPosition, ConfChangeError>)>,
    /// Caught-up learner reports: (leader, learner).
    pub caught_up: Vec<(NodeId, NodeId)>,
    /// Read outcomes: (node, request id, read index or error).
    pub read_outcomes: Vec<(NodeId, u64, Result<Index, ReadError>)>,
    /// Leadership transfer outcomes reported, by node.
    pub transfers: Vec<(NodeId, TransferOutcome)>,
    /// Answer snapshot chunk reads at once (else they queue in `reads`).
    pub auto_read: bool,
    /// Chunk reads not yet answered: (leader, answer).
    pub reads: VecDeque<(NodeId, ChunkRead)>,
    /// Log compactions reported, by node.
    pub compactions: Vec<(NodeId, Index)>,
}

impl Cluster {
    /// `n` voters with ids 1..=n and default configs (seeded by id).
    pub fn new(n: u64) -> Self {
        Self::with_config(n, |id| Config::new(id, id * 7919))
    }

    pub fn with_config(n: u64, config: impl Fn(NodeId) -> Config) -> Self {
        Self::with_spares(n, 0, config)
    }

    /// `n` voters with ids 1..=n, and `spares` more nodes (ids after them) that start outside
    /// the configuration, as a server being added does.
    pub fn with_spares(n: u64, spares: u64, config: impl Fn(NodeId) -> Config) -> Self {
        let membership = Membership::with_voters(1..=n);
        let peers = (1..=n + spares)
            .map(|id| {
                let config = config(id);
                let initial = if id <= n {
                    membership.clone()
                } else {
                    Membership::default()
                };
                let store = Store {
                    durable: DurableState::bootstrap(initial),
                    ..Store::default()
                };
                let node =
                    Node::new(config.clone(), store.durable.clone(), 0).expect("valid start state");
                Peer {
                    node: Some(node),
                    store,
                    config,
                    applied: Vec::new(),
                }
            })
            .collect();
        Cluster {
            peers,
            network: VecDeque::new(),
            cut: BTreeSet::new(),
            auto_persist: true,
            sent_log: Vec::new(),
            proposals: Vec::new(),
            conf_changes: Vec::new(),
            caught_up: Vec::new(),
            read_outcomes: Vec::new(),
            transfers: Vec::new(),
            auto_read: true,
            reads: VecDeque::new(),
            compactions: Vec::new(),
        }
    }

    pub fn node(&self, id: NodeId) -> &Node {
        self.peers[(id - 1) as usize]
            .node
            .as_ref()
            .expect("node is up")
    }

    pub fn peer(&mut self, id: NodeId) -> &mut Peer {
        &mut self.peers[(id - 1) as usize]
    }

    pub fn ids(&self) -> Vec<NodeId> {
        (1..=self.peers.len() as NodeId).collect()
    }

    /// Steps one node with one input and carries out its actions.
    pub fn step(&mut self, id: NodeId, input: Input) {
        let Some(node) = self.peers[(id - 1) as usize].node.as_mut() else {
            return;
        };
        let actions = node.step(input);
        self.carry_out(id, actions);
    }

    fn carry_out(&mut self, id: NodeId, actions: Vec<Action>) {
        let mut acks = Vec::new();
        for action in actions {
            match action {
                Action::Persist(write) => {
                    let peer = self.peer(id);
                    if write.install.is_some() {
                        let (_, bytes) = peer.store.partial.take().expect("a received snapshot");
                        // The state machine is restored from the snapshot being installed.
                        peer.applied = decode_applied(&bytes);
                        peer.store.installing.push_back(Bytes::from(bytes));
                    }
                    peer.store.unacked.push_back(write);
                    if self.auto_persist {
                        acks.push(self.persist_one(id).expect("just pushed"));
                    }
                }
                Action::Send(m) => {
                    self.sent_log.push(m.clone());
                    self.network.push_back(m);
                }
                Action::Apply(entries) => {
                    let last = entries.last().expect("apply is never empty").index;
                    self.peer(id).applied.extend(entries);
                    acks.push(Input::Applied(last));
                }
                Action::Proposed(result) => self.proposals.push((id, result)),
                Action::MembershipProposed(result) => self.conf_changes.push((id, result)),
                Action::LearnerCaughtUp { learner, .. } => self.caught_up.push((id, learner)),
                Action::ReadReady { id: read, index } => {
                    self.read_outcomes.push((id, read, Ok(index)))
                }
                Action::ReadFailed { id: read, error } => {
                    self.read_outcomes.push((id, read, Err(error)))
                }
                Action::CompactLog(index) => {
                    self.compactions.push((id, index));
                    self.peer(id)
                        .store
                        .durable
                        .entries
                        .retain(|e| e.index > index);
                }
                Action::ReadSnapshotChunk(req) => {
                    let store = &self.peer(id).store;
                    assert_eq!(
                        (req.index, req.term),
                        (store.durable.snapshot.index, store.durable.snapshot.term),
                        "reads ask for the latest snapshot"
                    );
                    let read = req.answer_from(&store.snapshot_data);
                    if self.auto_read {
                        acks.push(Input::SnapshotChunkRead(read));
                    } else {
                        self.reads.push_back((id, read));
                    }
                }
                Action::WriteSnapshotChunk(w) => {
                    let store = &mut self.peer(id).store;
                    if w.offset == 0 {
                        store.partial = Some(((w.index, w.term), Vec::new()));
                    }
                    let (pid, bytes) = store.partial.as_mut().expect("a partial snapshot");
                    assert_eq!(*pid, (w.index, w.term), "chunks of one snapshot");
                    assert_eq!(bytes.len() as u64, w.offset, "chunks arrive in order");
                    bytes.extend_from_slice(&w.data);
                }
                Action::DropPartialSnapshot { index, term } => {
                    let store = &mut self.peer(id).store;
                    if store
                        .partial
                        .as_ref()
                        .is_some_and(|(p, _)| *p == (index, term))
                    {
                        store.partial = None;
                    }
                }
                Action::Transfer(outcome) => self.transfers.push((id, outcome)),
            }
        }
        for input in acks {
            self.step(id, input);
        }
    }

    /// The application of `id` takes a snapshot at its applied index and reports it.
    pub fn take_snapshot(&mut self, id: NodeId) -> SnapshotMeta {
        let node = self.node(id);
        let index = node.status().applied;
        let meta = SnapshotMeta {
            index,
            term: node
                .log_term(index)
                .expect("applied entries are in the log"),
            membership: node.membership().clone(),
        };
        let peer = self.peer(id);
        let applied: Vec<Entry> = peer
            .applied
            .iter()
            .filter(|e| e.index == 0 || e.index <= index)
            .cloned()
            .collect();
        peer.store.snapshot_data = encode_applied(&applied);
        peer.store.durable.snapshot = meta.clone();
        self.step(id, Input::SnapshotTaken(meta.clone()));
        meta
    }

    /// Answers the oldest queued chunk read.
    pub fn answer_read(&mut self) -> bool {
        let Some((id, read)) = self.reads.pop_front() else {
            return false;
        };
        self.step(id, Input::SnapshotChunkRead(read));
        true
    }

    /// Makes the oldest unacknowledged write of `id` durable; returns its acknowledgement.
    pub fn persist_one(&mut self, id: NodeId) -> Option<Input> {
        let peer = self.peer(id);
        let write = peer.store.unacked.pop_front()?;
        peer.store.make_durable(&write);
        Some(Input::Persisted(write.token))
    }

    /// Makes every pending write of `id` durable and acknowledges them.
    pub fn persist_all(&mut self, id: NodeId) {
        while let Some(ack) = self.persist_one(id) {
            self.step(id, ack);
        }
    }

    pub fn tick(&mut self, id: NodeId) {
        self.step(id, Input::Tick);
    }

    pub fn tick_all(&mut self) {
        for id in self.ids() {
            self.tick(id);
        }
    }

    /// Delivers the oldest message in flight; returns false if none.
    pub fn deliver_one(&mut self) -> bool {
        let Some(m) = self.network.pop_front() else {
            return false;
        };
        if self.cut.contains(&(m.from, m.to)) || self.peers.get((m.to - 1) as usize).is_none() {
            return true;
        }
        self.step(m.to, Input::Message(m));
        true
    }

    /// Delivers messages until none is in flight (bounded, to catch livelocks).
    pub fn deliver_all(&mut self) {
        for _ in 0..1_000_000 {
            if !self.deliver_one() {
                return;
            }
        }
        panic!("network never went quiet");
    }

    /// Ticks everyone and delivers, `rounds` times.
    pub fn run(&mut self, rounds: usize) {
        for _ in 0..rounds {
            self.tick_all();
            self.deliver_all();
        }
    }

    /// Ticks `id` until it starts campaigning, then delivers until quiet.
    pub fn elect(&mut self, id: NodeId) {
        for _ in 0..100 {
            self.tick(id);
            if self.node(id).role() != Role::Follower {
                break;
            }
        }
        self.deliver_all();
        assert_eq!(
            self.node(id).role(),
            Role::Leader,
            "node {id} failed to win an election"
        );
    }

    pub fn propose(&mut self, id: NodeId, data: &str) -> Result<LogPosition, ProposeError> {
        self.step(id, Input::Propose(Bytes::copy_from_slice(data.as_bytes())));
        self.proposals
            .last()
            .expect("a proposal is always answered")
            .1
    }

    /// Proposes a membership change at `id`; returns its outcome.
    pub fn change(
        &mut self,
        id: NodeId,
        change: sansraft::ConfChange,
    ) -> Result<LogPosition, ConfChangeError> {
        self.step(id, Input::ChangeMembership(change));
        self.conf_changes
            .last()
            .expect("a membership change is always answered")
            .1
    }

    pub fn leaders(&self) -> Vec<NodeId> {
        self.peers
            .iter()
            .filter_map(|p| p.node.as_ref())
            .filter(|n| n.role() == Role::Leader)
            .map(|n| n.id())
            .collect()
    }

    /// Cuts every link between `id` and the others, both ways.
    pub fn isolate(&mut self, id: NodeId) {
        for other in self.ids() {
            if other != id {
                self.cut.insert((id, other));
                self.cut.insert((other, id));
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Crashes `id`: it loses every write not acknowledged and all in-memory state.
    pub fn crash(&mut self, id: NodeId) {
        let peer = self.peer(id);
        peer.node = None;
        peer.store.unacked.clear();
        peer.store.installing.clear();
        peer.store.partial = None;
    }

    /// Restarts `id` from its durable state with a new incarnation.
    pub fn restart(&mut self, id: NodeId) {
        let peer = self.peer(id);
        peer.store.incarnation += 1;
        let state = peer.store.restart_state();
        // The application's state is rebuilt from the snapshot, then by replaying the log.
        peer.applied = decode_applied(&peer.store.snapshot_data);
        let node = Node::new(peer.config.clone(), state, peer.store.incarnation)
            .expect("restart from durable state");
        peer.node = Some(node);
    }

    /// Payloads applied by `id`, skipping empty entries.
    pub fn applied_data(&self, id: NodeId) -> Vec<String> {
        self.peers[(id - 1) as usize]
            .applied
            .iter()
            .filter(|e| !e.data.is_empty())
            .map(|e| String::from_utf8_lossy(&e.data).into_owned())
            .collect()
    }
}

pub fn data(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}
