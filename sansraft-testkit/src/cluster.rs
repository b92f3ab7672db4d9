//! The cluster driver: nodes with ids `1..=n`, a message queue instead of a network, the
//! reference storage ([`MemStorage`]) under each node, cut links, crash and restart from what is
//! durable, and a state machine that records what it applied.
//!
//! Storage is synchronous by default ([`Cluster::auto_persist`]); switched off, writes wait
//! until [`Cluster::persist_one`] or [`Cluster::persist_all`] makes them durable. Chunk reads of
//! snapshots are answered at once unless [`Cluster::auto_read`] is off. The driver checks the
//! node's side of the contract as it goes: entries are applied in order, and a read is served
//! only once the state machine has applied its index (thesis §6.4). A cluster made with
//! [`Cluster::checked`] also runs the test kit's safety [`Checker`] on every step and keeps the
//! first [`Breach`] it finds in [`Cluster::breach`].

mod carry_out;

use crate::checker::{Breach, Check, Checker, NodeView};
use crate::dispatch::dispatch_all;
use crate::state_machine::SnapshotFormat;
use crate::storage::MemStorage;
use bytes::Bytes;
use carry_out::CarryOut;
use sansraft::{
    Action, ChunkRead, ConfChange, ConfChangeError, Config, DurableState, Entry, Index, Input,
    LogPosition, Membership, Message, Node, NodeId, ProposeError, ReadError, Role, RoleChange,
    SnapshotMeta, TransferOutcome,
};
use std::collections::{BTreeSet, VecDeque};

/// One member: its engine (none while crashed), its disk and its state machine.
#[derive(Debug)]
pub struct Peer {
    /// The engine; `None` while crashed.
    pub node: Option<Node>,
    /// Its disk.
    pub store: MemStorage,
    /// The configuration it (re)starts with.
    pub config: Config,
    /// Every entry applied, in order; rebuilt from the snapshot on a restart or an install.
    pub applied: Vec<Entry>,
    /// The index the state machine has applied up to.
    pub applied_index: Index,
}

/// A cluster in one process. Deterministic.
#[derive(Debug)]
pub struct Cluster {
    /// The members, node id `i + 1` at position `i`.
    pub peers: Vec<Peer>,
    /// Messages in flight, in send order.
    pub network: VecDeque<Message>,
    /// Links that drop everything: (from, to).
    pub cut: BTreeSet<(NodeId, NodeId)>,
    /// Acknowledge writes as soon as they are issued (with any held back before them).
    pub auto_persist: bool,
    /// Every message ever sent, for assertions.
    pub sent_log: Vec<Message>,
    /// Proposal outcomes, in order: (node, outcome).
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
    /// How the state machines write snapshots.
    pub snapshot_format: SnapshotFormat,
    /// If set, every action of every node is recorded here before it is carried out.
    pub trace: Option<Vec<(NodeId, Action)>>,
    /// The safety checker, if the cluster is checked ([`Cluster::checked`]).
    pub checker: Option<Checker>,
    /// The first rule the checker found broken.
    pub breach: Option<Breach>,
    /// Steps taken: the checker's clock (it orders leaderships and reads).
    steps: u64,
    /// Per member, the checker's clock when its incarnation started and at each of its ticks
    /// since: when its tick counter took each value (for bounded-staleness reads).
    clocks: Vec<(u64, Vec<u64>)>,
    /// The bounded-staleness read of the step being carried out: its id and bound.
    stale_read: Option<(u64, u32)>,
}

impl Cluster {
    /// `n` voters with ids 1..=n and default configs (seeded by id).
    pub fn new(n: u64) -> Self {
        Self::with_config(n, |id| Config::new(id, id * 7919))
    }

    /// `n` voters with ids 1..=n and the given configs.
    pub fn with_config(n: u64, config: impl Fn(NodeId) -> Config) -> Self {
        Self::with_spares(n, 0, config)
    }

    /// `n` voters with ids 1..=n, and `spares` more nodes (ids after them) that start outside
    /// the configuration, as a server being added does.
    pub fn with_spares(n: u64, spares: u64, config: impl Fn(NodeId) -> Config) -> Self {
        Self::with_membership(Membership::with_voters(1..=n), n + spares, config)
    }

    /// `nodes` nodes with ids 1..=nodes: the members of `membership` start with it (witnesses,
    /// priorities and all), the others outside the configuration, as a server being added does.
    pub fn with_membership(
        membership: Membership,
        nodes: u64,
        config: impl Fn(NodeId) -> Config,
    ) -> Self {
        let mut cluster = Cluster {
            peers: Vec::new(),
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
            snapshot_format: SnapshotFormat::default(),
            trace: None,
            checker: None,
            breach: None,
            steps: 0,
            clocks: Vec::new(),
            stale_read: None,
        };
        for id in 1..=nodes {
            let initial = if membership.contains(id) {
                membership.clone()
            } else {
                Membership::default()
            };
            cluster.add_peer(config(id), initial);
        }
        cluster
    }

    /// Runs the safety checker on every step from now on; call it before the first step. The
    /// first breach is kept in [`Cluster::breach`] (and stops the checking).
    pub fn checked(mut self) -> Self {
        let mut checker = Checker::new(0, &DurableState::default());
        for peer in &self.peers {
            checker.add_node(peer.store.durable());
        }
        self.checker = Some(checker);
        self
    }

    /// Runs one check if the cluster is checked and nothing broke yet.
    fn watch(&mut self, check: impl FnOnce(&mut Checker) -> Check) {
        if let (Some(checker), None) = (self.checker.as_mut(), &self.breach) {
            self.breach = check(checker).err();
        }
    }

    /// Starts a new node with the next id (`config.id` must be it) from a bootstrap state with
    /// `membership` (empty for a server about to be added).
    pub fn add_peer(&mut self, config: Config, membership: Membership) -> NodeId {
        let id = self.peers.len() as NodeId + 1;
        assert_eq!(config.id, id, "ids are 1..=n in order");
        let state = DurableState::bootstrap(membership);
        if let Some(checker) = &mut self.checker {
            checker.add_node(&state);
        }
        self.clocks.push((self.steps, Vec::new()));
        self.peers.push(Peer {
            node: Some(Node::new(config.clone(), state.clone(), 0).expect("valid start")),
            store: MemStorage::new(state).witness(config.witness),
            config,
            applied: Vec::new(),
            applied_index: 0,
        });
        id
    }

    /// Node `id`, which must be up.
    pub fn node(&self, id: NodeId) -> &Node {
        self.peers[(id - 1) as usize]
            .node
            .as_ref()
            .expect("node is up")
    }

    /// Member `id`.
    pub fn peer(&mut self, id: NodeId) -> &mut Peer {
        &mut self.peers[(id - 1) as usize]
    }

    /// Every id, in order.
    pub fn ids(&self) -> Vec<NodeId> {
        (1..=self.peers.len() as NodeId).collect()
    }

    /// Replaces node `id` and its disk with a fresh node started from `state` (incarnation 0),
    /// `state` being what is on its disk. Stops the checker: the state did not come from the run.
    pub fn start_from(&mut self, id: NodeId, state: DurableState) {
        self.checker = None;
        self.clocks[(id - 1) as usize] = (self.steps, Vec::new());
        let peer = self.peer(id);
        peer.node = Some(Node::new(peer.config.clone(), state.clone(), 0).expect("valid state"));
        peer.applied_index = state.applied;
        peer.store = MemStorage::new(state).witness(peer.config.witness);
    }

    /// Steps one node with one input and carries out its actions, then steps it with the
    /// acknowledgements and reports they call for. Nothing happens if the node is down.
    pub fn step(&mut self, id: NodeId, input: Input) {
        let i = (id - 1) as usize;
        if self.peers[i].node.is_none() {
            return;
        }
        self.steps += 1;
        let now = self.steps;
        match input {
            Input::Tick => self.clocks[i].1.push(now),
            Input::ReadStale {
                id,
                max_staleness_ticks,
            } => self.stale_read = Some((id, max_staleness_ticks)),
            _ => {}
        }
        self.watch(|c| {
            c.set_time(now);
            if let Input::ReadIndex(read) = input {
                c.on_read_issued(read, i, now);
            }
            Ok(())
        });
        let node = self.peers[i].node.as_mut().expect("up");
        let before = role_of(node);
        let actions = node.step(input);
        check_role_events(id, before, role_of(node), &actions);
        let view = NodeView::of(node);
        if let Some(trace) = &mut self.trace {
            trace.extend(actions.iter().map(|a| (id, a.clone())));
        }
        let mut carry = CarryOut {
            id,
            cluster: self,
            view,
            next: Vec::new(),
        };
        dispatch_all(actions, &mut carry);
        let next = carry.next;
        self.stale_read = None;
        if self.checker.is_some() {
            let node = self.peers[i].node.take().expect("up");
            let local = node.check_invariants();
            self.watch(|c| {
                c.check_membership(i, &view, node.membership(), node.membership_index())?;
                c.after_step(i, &view, local)
            });
            self.peers[i].node = Some(node);
        }
        for input in next {
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
        let format = self.snapshot_format;
        let peer = self.peer(id);
        let applied: Vec<Entry> = peer
            .applied
            .iter()
            .filter(|e| e.index == 0 || e.index <= index)
            .cloned()
            .collect();
        let data = format.encode(&applied);
        peer.store.snapshot_taken(meta.clone(), data.clone());
        let i = (id - 1) as usize;
        self.watch(|c| c.on_snapshot(i, &meta, &data));
        self.step(id, Input::SnapshotTaken(Box::new(meta.clone())));
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
        let store = &mut self.peer(id).store;
        let write = store.oldest_pending().cloned();
        let ack = store.persist_one().map(Input::Persisted);
        if let Some(write) = write {
            self.watch(|c| c.on_durable((id - 1) as usize, id, &write));
        }
        ack
    }

    /// Makes every pending write of `id` durable and acknowledges them.
    pub fn persist_all(&mut self, id: NodeId) {
        while let Some(ack) = self.persist_one(id) {
            self.step(id, ack);
        }
    }

    /// One tick of `id`.
    pub fn tick(&mut self, id: NodeId) {
        self.step(id, Input::Tick);
    }

    /// One tick of every node, in id order.
    pub fn tick_all(&mut self) {
        for id in self.ids() {
            self.tick(id);
        }
    }

    /// Delivers `message` unless its link is cut or its addressee unknown.
    pub fn deliver(&mut self, message: Message) {
        let known = (1..=self.peers.len() as NodeId).contains(&message.to);
        if known && !self.cut.contains(&(message.from, message.to)) {
            self.step(message.to, Input::Message(message));
        }
    }

    /// Delivers the oldest message in flight; returns false if none.
    pub fn deliver_one(&mut self) -> bool {
        let Some(m) = self.network.pop_front() else {
            return false;
        };
        self.deliver(m);
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

    /// Runs rounds (at most 100) until some node leads; returns it. With leases, nodes honour a
    /// possible lease for their first election timeout, so this takes a little longer.
    pub fn run_until_leader(&mut self) -> NodeId {
        for _ in 0..100 {
            self.run(1);
            if let Some(&leader) = self.leaders().first() {
                return leader;
            }
        }
        panic!("no leader after 100 rounds");
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

    /// Proposes `data` at `id`; returns the outcome.
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
        change: ConfChange,
    ) -> Result<LogPosition, ConfChangeError> {
        self.step(id, Input::ChangeMembership(change));
        self.conf_changes
            .last()
            .expect("a membership change is always answered")
            .1
    }

    /// The up nodes that think they lead.
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

    /// Every link works again.
    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Crashes `id`: it loses every write not acknowledged and all in-memory state.
    pub fn crash(&mut self, id: NodeId) {
        let peer = self.peer(id);
        peer.node = None;
        peer.store.crash();
        self.watch(|c| {
            c.on_crash((id - 1) as usize);
            Ok(())
        });
    }

    /// Restarts `id` from its durable state with a new incarnation. The state machine is
    /// rebuilt from the snapshot, then by the node applying the log again.
    pub fn restart(&mut self, id: NodeId) {
        let format = self.snapshot_format;
        let peer = self.peer(id);
        let (state, snapshot, incarnation) = peer.store.restart();
        peer.applied = format.decode(&snapshot);
        peer.applied_index = state.applied;
        let node = Node::new(peer.config.clone(), state.clone(), incarnation)
            .expect("restart from durable state");
        let view = NodeView::of(&node);
        peer.node = Some(node);
        self.clocks[(id - 1) as usize] = (self.steps, Vec::new());
        let i = (id - 1) as usize;
        self.watch(|c| {
            c.on_crash(i);
            c.on_restart(i, &view, &state)
        });
    }

    /// The checker's clock when node `i`'s tick counter came to read `count − back`, `count`
    /// being its ticks so far (its start, if it has not ticked that often).
    fn tick_time(&self, i: usize, back: u64) -> u64 {
        let (start, ticks) = &self.clocks[i];
        let k = (ticks.len() as u64).saturating_sub(back);
        k.checked_sub(1).map_or(*start, |k| ticks[k as usize])
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

/// The payload of a command, from text.
pub fn data(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// A node's role, term and known leader.
fn role_of(node: &Node) -> RoleChange {
    RoleChange {
        role: node.role(),
        term: node.term(),
        leader: node.leader(),
    }
}

/// A step reports its role, term and leader (`Action::RoleChanged`) exactly when it changed
/// any of them: once, with the values at its end.
fn check_role_events(id: NodeId, before: RoleChange, after: RoleChange, actions: &[Action]) {
    let reported: Vec<RoleChange> = actions
        .iter()
        .filter_map(|a| match a {
            Action::RoleChanged(change) => Some(*change),
            _ => None,
        })
        .collect();
    let expected: Vec<RoleChange> = (after != before).then_some(after).into_iter().collect();
    assert_eq!(
        reported, expected,
        "node {id}: role events of a step that went from {before:?} to {after:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_replicates_snapshots_and_survives_a_crash() {
        let mut c = Cluster::new(3).checked();
        c.elect(1);
        c.propose(1, "a").unwrap();
        c.deliver_all();
        c.crash(3);
        c.propose(1, "b").unwrap();
        c.deliver_all();
        c.take_snapshot(1);
        c.restart(3);
        c.run(5);
        for id in c.ids() {
            assert_eq!(c.applied_data(id), ["a", "b"], "node {id}");
        }
        assert!(c.peers[0].store.snapshot().0.index >= 2);
        assert_eq!(c.breach, None);
    }

    #[test]
    fn held_writes_hold_back_commitment_and_a_crash_loses_them() {
        let mut c = Cluster::new(1).checked();
        c.elect(1);
        c.auto_persist = false;
        c.propose(1, "x").unwrap();
        assert_eq!(c.peers[0].store.pending(), 1);
        assert!(c.applied_data(1).is_empty(), "not durable, not committed");
        c.crash(1);
        c.restart(1);
        c.auto_persist = true;
        c.elect(1);
        c.run(2);
        assert!(c.applied_data(1).is_empty(), "the write was lost");
        c.isolate(1);
        assert_eq!(c.cut.len(), 0, "a lone node has no links");
        c.heal();
        assert_eq!(c.breach, None);
    }
}
