//! The node loop: one tokio task owns the [`Host`] of this node's Raft groups (`--groups`, one
//! `sansraft::Node` each) and every group's key-value map, and is the only place any of them
//! changes. It steps the host with ticks, peer batches, client requests and storage
//! acknowledgements, and carries out the actions in order: the host write of every group's
//! writes goes to the storage thread (one sync, acknowledged later with
//! `HostInput::Persisted`), batches to the peer queues, committed entries to their group's map,
//! and answers to the waiting clients.
//!
//! One group is the case `--groups 1` of the same code: a key's group is its hash modulo the
//! number of groups ([`kv::group_of`]), always 0 then.

use crate::answer::{Refusal, WriteReply};
use crate::handoff::{Begin, Stopping};
use crate::kv::{self, Command, Page, Read};
use crate::metrics::{LoopCounts, Metrics};
use crate::replica::{release, Replica};
use crate::stall_watch::{StallWatch, Work};
use crate::storage::{Done, Job};
use crate::throttle::Throttle;
use crate::transport::Peers;
use bytes::Bytes;
use sansraft::{
    Action, Body, ConfChange, Index, Input, Membership, Message, Node, NodeId, SnapshotMeta,
    Status, Term, TransferOutcome,
};
use sansraft_kv::SnapshotError;
use sansraft_multi::{
    Batch, Envelope, GroupId, Host, HostAction, HostError, HostInput, HostToken, HostWrite,
};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// A client request for the node loop.
#[derive(Debug)]
pub(crate) enum Request {
    /// Replicate a command in its key's group; answered once it is applied here.
    Write(Command, oneshot::Sender<WriteReply>),
    /// A linearizable read (of every group, for a scan).
    Read(Read, ReadReply),
    /// Change a group's membership; answered once the change is applied here.
    ChangeMembership(GroupId, ConfChange, oneshot::Sender<WriteReply>),
    /// Hand a group's leadership to a voter.
    Transfer(GroupId, NodeId, oneshot::Sender<TransferOutcome>),
    Status(oneshot::Sender<NodeStatus>),
    /// The metrics as Prometheus text.
    Metrics(oneshot::Sender<String>),
    /// Stop: a leader hands off leadership first (see [`crate::handoff`]); then `run` returns.
    Shutdown,
}

/// What `/status` shows.
#[derive(Clone, Debug)]
pub(crate) struct NodeStatus {
    /// Every group, in id order.
    pub(crate) groups: Vec<GroupStatus>,
    pub(crate) dropped_messages: u64,
}

/// What `/status` shows of one group.
#[derive(Clone, Debug)]
pub(crate) struct GroupStatus {
    pub(crate) group: GroupId,
    pub(crate) raft: Status,
    pub(crate) membership: Membership,
    pub(crate) snapshot_index: Index,
    pub(crate) first_index: Index,
    pub(crate) keys: usize,
    pub(crate) sessions: usize,
    pub(crate) malformed_commands: u64,
    /// The group's replica is quiet: it needs no ticks (`Config::quiesce`).
    pub(crate) quiet: bool,
}

/// Node-loop settings that are not the engine's.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LoopConfig {
    pub(crate) tick: Duration,
    /// Ticks of the groups' election timeout.
    pub(crate) election_timeout_ticks: u32,
    /// Take a snapshot once this many entries were applied since the last one (0: never).
    pub(crate) snapshot_every: u64,
    /// A snapshot being received that grows past this many bytes is refused.
    pub(crate) max_snapshot_bytes: u64,
}

/// Everything the node loop is connected to.
#[derive(Debug)]
pub(crate) struct Channels {
    pub(crate) requests: mpsc::Receiver<Request>,
    pub(crate) inbound: mpsc::Receiver<Batch>,
    pub(crate) storage: std::sync::mpsc::Sender<Job>,
    pub(crate) storage_done: mpsc::UnboundedReceiver<Done>,
    pub(crate) peers: Peers,
}

/// Where a read's answer goes.
pub(crate) type ReadReply = oneshot::Sender<Result<Page, Refusal>>;

/// Why the loop stopped.
#[derive(Debug)]
pub(crate) enum LoopError {
    Storage(crate::storage::StorageError),
    StorageGone,
    BadSnapshot(SnapshotError),
    /// A snapshot's state machine was at another index than the snapshot says.
    SnapshotIndex {
        meta: Index,
        applied: Index,
    },
    /// The host refused an input of this loop's (a bug here).
    Host(HostError),
}

impl std::fmt::Display for LoopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoopError::Storage(e) => write!(f, "storage failed: {e}"),
            LoopError::StorageGone => f.write_str("the storage thread stopped"),
            LoopError::BadSnapshot(e) => e.fmt(f),
            LoopError::SnapshotIndex { meta, applied } => write!(
                f,
                "snapshot {meta} holds a state machine at index {applied}"
            ),
            LoopError::Host(e) => write!(f, "the multi-group host refused an input: {e}"),
        }
    }
}

impl std::error::Error for LoopError {}

/// A read waiting for the groups it reads: a key's one, or every group for a scan.
#[derive(Debug)]
struct Gather {
    read: Read,
    /// Groups still to answer.
    waiting: usize,
    pages: Vec<Page>,
    reply: ReadReply,
}

/// The node loop's state.
#[derive(Debug)]
pub(crate) struct NodeLoop {
    host: Host,
    /// Group `g`'s replica is `replicas[g]`.
    replicas: Vec<Replica>,
    config: LoopConfig,
    io: Channels,
    /// Each outstanding ReadIndex request: its group and its gather.
    reads: BTreeMap<u64, (GroupId, u64)>,
    gathers: BTreeMap<u64, Gather>,
    next_read_id: u64,
    /// Inputs the actions of a host step call for (applied indexes, chunk reads, refusals),
    /// fed to the host as one input after the step.
    inputs: Vec<(GroupId, Input)>,
    /// What a wake-up gathered for the next host step ([`Self::flush`]): peers' batches, in
    /// arrival order, ...
    gathered: Vec<HostInput>,
    /// ... the latest host write acknowledged by the storage thread (which acknowledges every
    /// earlier one too) ...
    persisted: Option<HostToken>,
    /// ... and clients' proposals, per group in arrival order.
    proposals: BTreeMap<GroupId, Vec<Bytes>>,
    /// Groups that applied entries in this step: each may take a snapshot.
    applied_groups: BTreeSet<GroupId>,
    actions: Vec<HostAction>,
    metrics: Metrics,
    /// Set once asked to stop.
    stopping: Option<Stopping>,
    /// Peers' messages for groups this node does not have are logged at most this often.
    unknown_groups: Throttle,
}

/// Most proposals, peer batches and storage reports each gathered into one host step per
/// wake-up, so that a flood cannot starve ticks.
const MAX_BATCH: usize = 256;

impl NodeLoop {
    /// The loop over `host`, whose group `g` restarts from the snapshot bytes `snapshots[g]`.
    pub(crate) fn new(
        host: Host,
        snapshots: Vec<Bytes>,
        config: LoopConfig,
        io: Channels,
        metrics: Metrics,
    ) -> Result<NodeLoop, LoopError> {
        let mut replicas = Vec::with_capacity(snapshots.len());
        for ((group, node), data) in host.groups().zip(snapshots) {
            debug_assert_eq!(group, replicas.len() as GroupId, "groups 0..N");
            replicas.push(Replica::new(group, node, data)?);
        }
        Ok(NodeLoop {
            host,
            replicas,
            config,
            io,
            reads: BTreeMap::new(),
            gathers: BTreeMap::new(),
            next_read_id: 0,
            inputs: Vec::new(),
            gathered: Vec::new(),
            persisted: None,
            proposals: BTreeMap::new(),
            applied_groups: BTreeSet::new(),
            actions: Vec::new(),
            metrics,
            stopping: None,
            unknown_groups: Throttle::new(Duration::from_secs(10)),
        })
    }

    /// Runs until storage fails, every request sender is gone, or a stop asked for is done.
    pub(crate) async fn run(mut self) -> Result<(), LoopError> {
        let mut tick = tokio::time::interval(self.config.tick);
        // After a stall, deliver the missed ticks rather than skipping time.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let half_election = self.config.tick * self.config.election_timeout_ticks / 2;
        let mut watch = StallWatch::new(half_election);
        loop {
            if self.stopping.as_ref().is_some_and(Stopping::done) {
                tracing::info!(id = self.host.config().id, "node loop stopped");
                return Ok(());
            }
            tokio::select! {
                due = tick.tick() => {
                    watch.tick(due, &self.metrics);
                    watch.time(Work::Tick, || self.on_tick())?;
                }
                batch = self.io.inbound.recv() => {
                    let Some(batch) = batch else { return Ok(()) };
                    watch.time(Work::Messages, || {
                        self.on_batch(batch)?;
                        self.gather_ready()
                    })?;
                }
                request = self.io.requests.recv() => {
                    let Some(request) = request else { return Ok(()) };
                    watch.time(Work::Requests, || {
                        self.on_request(request)?;
                        self.gather_ready()
                    })?;
                }
                done = self.io.storage_done.recv() => {
                    let done = done.ok_or(LoopError::StorageGone)?;
                    watch.time(Work::Storage, || {
                        self.on_storage(done)?;
                        self.gather_ready()
                    })?;
                }
            }
        }
    }

    fn on_tick(&mut self) -> Result<(), LoopError> {
        self.step(HostInput::Tick)?;
        if let Some(stopping) = &mut self.stopping {
            stopping.tick();
        }
        Ok(())
    }

    /// Gathers what else has arrived (peers' batches, storage reports, client requests, each
    /// bounded by [`MAX_BATCH`]) and steps the host once with all of it ([`Self::flush`]):
    /// one host write and one batch per peer for everything a wake-up finds, rather than one
    /// each per message, acknowledgement or request. With many groups a node is a follower
    /// of some and the leader of others, and each of these arrives apart.
    fn gather_ready(&mut self) -> Result<(), LoopError> {
        let mut more = true;
        let (mut batches, mut reports, mut requests) = (0, 0, 0);
        while more {
            more = false;
            if batches < MAX_BATCH {
                if let Ok(batch) = self.io.inbound.try_recv() {
                    batches += 1;
                    more = true;
                    self.on_batch(batch)?;
                }
            }
            if reports < MAX_BATCH {
                if let Ok(done) = self.io.storage_done.try_recv() {
                    reports += 1;
                    more = true;
                    self.on_storage(done)?;
                }
            }
            if requests < MAX_BATCH {
                if let Ok(request) = self.io.requests.try_recv() {
                    requests += 1;
                    more = true;
                    self.on_request(request)?;
                }
            }
        }
        self.flush()
    }

    /// Steps the host once with everything gathered: the storage thread's latest
    /// acknowledgement first, then the peers' batches, then the proposals.
    fn flush(&mut self) -> Result<(), LoopError> {
        let mut inputs = Vec::with_capacity(self.gathered.len() + 2);
        inputs.extend(self.persisted.take().map(HostInput::Persisted));
        inputs.append(&mut self.gathered);
        if !self.proposals.is_empty() {
            let proposals = std::mem::take(&mut self.proposals)
                .into_iter()
                .map(|(group, mut commands)| {
                    let input = if commands.len() == 1 {
                        Input::Propose(commands.pop().expect("one command"))
                    } else {
                        Input::ProposeBatch(commands)
                    };
                    (group, input)
                })
                .collect();
            inputs.push(HostInput::Groups(proposals));
        }
        if inputs.is_empty() {
            return Ok(());
        }
        self.step_all(inputs)
    }

    /// Gathers a peer's batch for the next host step, less the snapshot chunks held back or
    /// refused ([`Self::screen`]).
    fn on_batch(&mut self, mut batch: Batch) -> Result<(), LoopError> {
        let envelopes = std::mem::take(&mut batch.envelopes);
        let me = self.host.config().id;
        for envelope in envelopes {
            // Only what the host will take as genuine is screened; it drops the rest.
            let genuine =
                batch.to == me && envelope.message.from == batch.from && envelope.message.to == me;
            if !genuine || self.screen(envelope.group, &envelope.message)? {
                batch.envelopes.push(envelope);
            }
        }
        self.gathered.push(HostInput::Batch(batch));
        Ok(())
    }

    /// Whether a group's message goes on to the engine now: anything but a chunk of a snapshot
    /// to refuse, or a snapshot's last chunk, which goes to the storage thread first to check
    /// that the snapshot decodes ([`Self::on_checked`]): once the engine has the last chunk it
    /// installs the snapshot, and an install cannot be taken back.
    ///
    /// A refused snapshot is refused to the engine too (`Input::RefuseSnapshot`), which tells
    /// the leader: it offers that snapshot again only after `100 × snapshot_retry_ticks`, a
    /// newer one at once (see docs/embedding.md). A last chunk that arrives while another is
    /// being checked is dropped, a message lost: the leader resends it.
    fn screen(&mut self, group: GroupId, message: &Message) -> Result<bool, LoopError> {
        let Body::SnapshotChunk(chunk) = &message.body else {
            return Ok(true);
        };
        let Some(replica) = usize::try_from(group)
            .ok()
            .and_then(|g| self.replicas.get_mut(g))
        else {
            return Ok(true);
        };
        let id = (message.from, chunk.index, chunk.term);
        if replica.refused_snapshot == Some(id) {
            // Never handed to the engine: a last chunk would install what was refused. The
            // engine told the leader when the snapshot was refused, if it followed it then.
            return Ok(false);
        }
        let end = chunk.offset.saturating_add(chunk.data.len() as u64);
        if end > self.config.max_snapshot_bytes {
            tracing::warn!(
                group,
                leader = message.from,
                index = chunk.index,
                term = chunk.term,
                bytes = end,
                limit = self.config.max_snapshot_bytes,
                "snapshot being received exceeds --max-snapshot-bytes; refused and its partial file removed"
            );
            self.refuse_snapshot(group, id, "too_large");
            return Ok(false);
        }
        if !chunk.done {
            return Ok(true);
        }
        if replica.checking {
            // One check at a time: this copy is lost; the leader resends.
            return Ok(false);
        }
        replica.checking = true;
        self.send_to_storage(Job::CheckLastChunk(group, message.clone()))?;
        Ok(false)
    }

    /// The storage thread checked a snapshot's last chunk: the engine gets it, unless the
    /// snapshot it completes does not decode.
    fn on_checked(
        &mut self,
        group: GroupId,
        message: Message,
        undecodable: Option<String>,
    ) -> Result<(), LoopError> {
        self.replica(group).checking = false;
        let Some(why) = undecodable else {
            let batch = Batch {
                from: message.from,
                to: message.to,
                envelopes: vec![Envelope { group, message }],
            };
            return self.step(HostInput::Batch(batch));
        };
        let Body::SnapshotChunk(chunk) = &message.body else {
            return Ok(());
        };
        tracing::error!(
            group,
            leader = message.from,
            index = chunk.index,
            term = chunk.term,
            error = %why,
            "received snapshot passed its checksum but is not a map; discarded"
        );
        self.refuse_snapshot(
            group,
            (message.from, chunk.index, chunk.term),
            "undecodable",
        );
        self.step_inputs()
    }

    /// Drops the chunks of the group's snapshot transfer `id` from now on, and its partial
    /// file: the engine is told with the next host step.
    fn refuse_snapshot(&mut self, group: GroupId, id: (NodeId, Index, Term), reason: &'static str) {
        self.replica(group).refused_snapshot = Some(id);
        self.metrics.snapshot_refused(reason);
        let (_, index, term) = id;
        // The engine drops the transfer (its `DropPartialSnapshot` removes the partial file)
        // and tells the leader, which offers this snapshot again only after a long back-off.
        self.inputs
            .push((group, Input::RefuseSnapshot { index, term }));
    }

    /// Gathers an acknowledgement for the next host step; handles any other report after
    /// stepping the host with what was gathered before it, in order.
    fn on_storage(&mut self, done: Done) -> Result<(), LoopError> {
        if let Done::Persisted(token) = done {
            // Tokens come in order: the latest acknowledges every earlier one.
            self.persisted = Some(token);
            return Ok(());
        }
        self.flush()?;
        match done {
            Done::Persisted(_) => unreachable!("gathered above"),
            Done::SnapshotSaved(group, meta, data) => self.on_snapshot_saved(group, meta, data),
            Done::Installed {
                group,
                meta,
                machine,
                data,
            } => self.replica(group).on_installed(meta, *machine, data),
            Done::Checked {
                group,
                message,
                undecodable,
            } => self.on_checked(group, message, undecodable),
            Done::Failed(e) => Err(LoopError::Storage(e)),
        }
    }

    /// Group `group`'s replica, for a group named by this loop or the host (never a peer).
    fn replica(&mut self, group: GroupId) -> &mut Replica {
        &mut self.replicas[usize::try_from(group).expect("a group id of this node")]
    }

    /// Whether `group` is one of this node's (a group named by a client).
    fn hosts(&self, group: GroupId) -> bool {
        group < self.replicas.len() as u64
    }

    /// Gathers a write for the next host step; handles any other request after stepping the
    /// host with what was gathered before it, in order.
    fn on_request(&mut self, request: Request) -> Result<(), LoopError> {
        if let Request::Write(command, reply) = request {
            let group = kv::group_of(command.op.key(), self.replicas.len() as u64);
            self.proposals
                .entry(group)
                .or_default()
                .push(command.encode());
            self.replica(group).proposing.push_back(reply);
            return Ok(());
        }
        self.flush()?;
        match request {
            Request::Write(..) => unreachable!("gathered above"),
            Request::Read(read, reply) => {
                let gather_id = self.next_read_id;
                let groups = read.groups(self.replicas.len() as u64);
                let mut inputs = Vec::new();
                for group in groups {
                    self.next_read_id += 1;
                    self.reads.insert(self.next_read_id, (group, gather_id));
                    inputs.push((group, Input::ReadIndex(self.next_read_id)));
                }
                self.next_read_id += 1;
                self.gathers.insert(
                    gather_id,
                    Gather {
                        read,
                        waiting: inputs.len(),
                        pages: Vec::new(),
                        reply,
                    },
                );
                self.step(HostInput::Groups(inputs))
            }
            Request::ChangeMembership(group, change, reply) => {
                if !self.hosts(group) {
                    let _ = reply.send(Err(no_such_group(group)));
                    return Ok(());
                }
                self.replica(group).changing = Some(reply);
                self.step(HostInput::Group {
                    group,
                    input: Input::ChangeMembership(change),
                })
            }
            Request::Transfer(group, target, reply) => {
                if !self.hosts(group) {
                    // Dropped: the client is told the node could not answer.
                    return Ok(());
                }
                self.replica(group).transfer_asked = Some(reply);
                self.step(HostInput::Group {
                    group,
                    input: Input::TransferLeadership(target),
                })?;
                // Not refused at once: the outcome comes when the transfer ends.
                let replica = self.replica(group);
                if let Some(reply) = replica.transfer_asked.take() {
                    replica.transfer_running = Some(reply);
                }
                Ok(())
            }
            Request::Status(reply) => {
                let groups = self
                    .replicas
                    .iter()
                    .map(|r| r.status(self.node(r.group)))
                    .collect();
                let _ = reply.send(NodeStatus {
                    groups,
                    dropped_messages: self.io.peers.dropped,
                });
                Ok(())
            }
            Request::Metrics(reply) => {
                let counts = LoopCounts {
                    dropped_messages: self.io.peers.dropped,
                    malformed_commands: self.replicas.iter().map(|r| r.malformed_commands).sum(),
                    quiet_groups: (self.host.group_count() - self.host.ticking_count()) as u64,
                    host: *self.host.counters(),
                };
                let nodes = self.host.groups().map(|(_, node)| node);
                let _ = reply.send(self.metrics.render(nodes, self.config.tick, counts));
                Ok(())
            }
            Request::Shutdown => self.begin_stop(),
        }
    }

    /// The engine of group `group`.
    fn node(&self, group: GroupId) -> &Node {
        self.host.group(group).expect("every group 0..N is hosted")
    }

    /// Starts stopping: in every group it leads, the node hands leadership to a caught-up
    /// voter first.
    fn begin_stop(&mut self) -> Result<(), LoopError> {
        if self.stopping.is_some() {
            return Ok(());
        }
        let (stopping, begins) = Stopping::begin(self.host.groups());
        self.stopping = Some(stopping);
        let mut inputs = Vec::new();
        for (group, begin) in begins {
            match begin {
                Begin::Now => {}
                Begin::Await(target) => tracing::info!(
                    group,
                    target,
                    "stopping once the leadership transfer under way ends"
                ),
                Begin::Transfer(target) => {
                    tracing::info!(group, target, "handing leadership off before stopping");
                    inputs.push((group, Input::TransferLeadership(target)));
                }
            }
        }
        tracing::info!("stopping");
        if inputs.is_empty() {
            return Ok(());
        }
        self.step(HostInput::Groups(inputs))
    }

    /// Steps the host with `input`, then with every input its actions call for.
    fn step(&mut self, input: HostInput) -> Result<(), LoopError> {
        self.step_all(vec![input])
    }

    /// Steps the host with `inputs` as one step, then with every input its actions call for.
    fn step_all(&mut self, inputs: Vec<HostInput>) -> Result<(), LoopError> {
        let mut next = Some(inputs);
        while let Some(inputs) = next.take() {
            let mut actions = std::mem::take(&mut self.actions);
            let stepped = self.host.step_all_into(inputs, &mut actions);
            let result = stepped
                .map_err(LoopError::Host)
                .and_then(|()| actions.drain(..).try_for_each(|a| self.carry_out(a)));
            actions.clear();
            self.actions = actions;
            result?;
            self.maybe_snapshot();
            if !self.inputs.is_empty() {
                next = Some(vec![HostInput::Groups(std::mem::take(&mut self.inputs))]);
            }
        }
        debug_assert!(
            self.replicas.iter().all(|r| r.proposing.is_empty()),
            "one outcome per proposal"
        );
        Ok(())
    }

    /// Steps the host with the inputs waiting, if any.
    fn step_inputs(&mut self) -> Result<(), LoopError> {
        if self.inputs.is_empty() {
            return Ok(());
        }
        let inputs = std::mem::take(&mut self.inputs);
        self.step(HostInput::Groups(inputs))
    }

    /// Carries out one host action; actions must be carried out in the order given.
    fn carry_out(&mut self, action: HostAction) -> Result<(), LoopError> {
        match action {
            HostAction::Group { group, action } => self.carry_out_group(group, action),
            HostAction::Persist(write) => self.persist(write),
            // The engine holds back every message that depends on an unfinished write, so
            // sending before the storage thread syncs is safe.
            HostAction::Send(batch) => {
                self.io.peers.send(batch);
                Ok(())
            }
            HostAction::UnknownGroup { group, from } => {
                if let Some(held_back) = self.unknown_groups.allow() {
                    tracing::warn!(
                        group,
                        from,
                        groups = self.replicas.len(),
                        held_back,
                        "a peer sent messages for a group this node does not have: \
                         was it started with another --groups?"
                    );
                }
                Ok(())
            }
        }
    }

    /// Carries out one group's action.
    fn carry_out_group(&mut self, group: GroupId, action: Action) -> Result<(), LoopError> {
        match action {
            Action::Persist(_) | Action::Send(_) => {
                unreachable!("the host turns writes and messages into host writes and batches")
            }
            Action::Apply(entries) => {
                let replica = self.replica(group);
                replica.apply(&entries);
                if let Some(last) = entries.last() {
                    self.inputs.push((group, Input::Applied(last.index)));
                    self.applied_groups.insert(group);
                }
            }
            Action::Proposed(result) => {
                self.metrics.proposed(result.is_ok());
                let replica = self.replica(group);
                let reply = replica
                    .proposing
                    .pop_front()
                    .expect("one Proposed per proposal of this step");
                replica.wait_for_apply(result, reply);
            }
            Action::MembershipProposed(result) => {
                let replica = self.replica(group);
                let reply = replica
                    .changing
                    .take()
                    .expect("MembershipProposed answers this step's change");
                replica.wait_for_apply(result, reply);
            }
            Action::LearnerCaughtUp {
                learner,
                match_index,
            } => {
                tracing::info!(
                    group,
                    learner,
                    match_index,
                    "learner caught up; it may be promoted"
                );
            }
            Action::ReadReady { id, .. } => self.read_ready(id),
            Action::ReadFailed { id, error } => {
                if let Some((_, gather)) = self.reads.remove(&id) {
                    if let Some(gather) = self.gathers.remove(&gather) {
                        let _ = gather.reply.send(Err(error.into()));
                    }
                }
            }
            Action::CompactLog(upto) => self.send_to_storage(Job::Compact(group, upto))?,
            Action::ReadSnapshotChunk(request) => {
                if let Some(read) = self.replica(group).read_chunk(request) {
                    self.inputs.push((group, Input::SnapshotChunkRead(read)));
                }
            }
            // A snapshot being received goes to a file as it comes, not into memory.
            Action::WriteSnapshotChunk(chunk) => {
                self.send_to_storage(Job::SnapshotChunk(group, chunk))?;
            }
            Action::DropPartialSnapshot { index, term } => {
                self.send_to_storage(Job::DropPartialSnapshot { group, index, term })?;
            }
            Action::Transfer(outcome) => {
                let replica = self.replica(group);
                let reply = match outcome {
                    TransferOutcome::Refused { .. } => replica.transfer_asked.take(),
                    TransferOutcome::Done { .. } | TransferOutcome::Aborted { .. } => {
                        replica.transfer_running.take()
                    }
                };
                tracing::info!(group, ?outcome, "leadership transfer");
                if let Some(stopping) = &mut self.stopping {
                    stopping.transfer_ended(group, &outcome);
                }
                if let Some(reply) = reply {
                    let _ = reply.send(outcome);
                }
            }
            Action::RoleChanged(change) => {
                let Self {
                    replicas, metrics, ..
                } = self;
                replicas[group as usize].roles.observe(change, metrics);
            }
            // This server never asks a node to campaign.
            Action::Campaigned(result) => tracing::info!(group, ?result, "campaign"),
        }
        Ok(())
    }

    /// A group's read may be served: from its map now, into the read's gather, answered once
    /// every group it reads has served.
    fn read_ready(&mut self, id: u64) {
        let Some((group, gather_id)) = self.reads.remove(&id) else {
            return;
        };
        let groups = self.replicas.len();
        let Some(gather) = self.gathers.get_mut(&gather_id) else {
            // Another group of the read failed: answered already.
            return;
        };
        // A scan of every group answers at most MAX_SCAN_BYTES in all.
        let budget = kv::MAX_SCAN_BYTES / groups;
        let kv = &self.replicas[group as usize].kv;
        gather.pages.push(gather.read.serve(kv, budget));
        gather.waiting -= 1;
        if gather.waiting > 0 {
            return;
        }
        if let Some(gather) = self.gathers.remove(&gather_id) {
            let page = match gather.read {
                Read::Scan { limit, .. } => kv::merge_pages(gather.pages, limit),
                Read::Key(_) => gather.pages.into_iter().next().unwrap_or_default(),
            };
            let _ = gather.reply.send(Ok(page));
        }
    }

    fn send_to_storage(&self, job: Job) -> Result<(), LoopError> {
        send_to_storage(&self.io.storage, job)
    }

    /// Hands a host write to storage. A group's write that installs a received snapshot has
    /// the storage thread decode the map from it too ([`Done::Installed`], before the write's
    /// acknowledgement): the engine applies and serves nothing after the snapshot until the
    /// write is durable, and this loop takes no snapshot of the group's own meanwhile.
    fn persist(&mut self, write: HostWrite) -> Result<(), LoopError> {
        for (group, w) in &write.writes {
            if let Some(install) = &w.install {
                let meta = install.meta.clone();
                self.replica(*group).installing(meta);
            }
        }
        self.send_to_storage(Job::Write(write))
    }

    /// Takes a snapshot of each group that applied entries in this step, if one is due (see
    /// [`Replica::snapshot_due`]).
    fn maybe_snapshot(&mut self) {
        let every = self.config.snapshot_every;
        for group in std::mem::take(&mut self.applied_groups) {
            let id = self.host.config().id;
            let Some(node) = self.host.group(group) else {
                continue;
            };
            let replica = &mut self.replicas[group as usize];
            let Some(meta) = replica.snapshot_due(node, every, id) else {
                continue;
            };
            // O(1): the clone shares the map's nodes; the snapshot thread encodes and writes it
            // while this loop goes on ticking and applying (docs/embedding.md, kv-tokio).
            let machine = Box::new(replica.kv.clone());
            self.metrics.snapshot_taken(group, meta.index);
            replica.snapshot_index = meta.index;
            replica.saving = Some(meta.clone());
            // Storage failing is noticed on its next report.
            let _ = self.io.storage.send(Job::SaveSnapshot {
                group,
                meta,
                machine,
            });
        }
    }

    fn on_snapshot_saved(
        &mut self,
        group: GroupId,
        meta: SnapshotMeta,
        data: Bytes,
    ) -> Result<(), LoopError> {
        let replica = self.replica(group);
        match replica.saving.take() {
            Some(saved) if saved == meta => {
                self.metrics.snapshot_saved(group, meta.index, data.len());
                tracing::debug!(
                    group,
                    index = meta.index,
                    bytes = data.len(),
                    "snapshot saved"
                );
                let replica = self.replica(group);
                let (_, replaced) = std::mem::replace(&mut replica.snapshot, (meta.clone(), data));
                release(replaced);
                self.step(HostInput::Group {
                    group,
                    input: Input::SnapshotTaken(Box::new(meta)),
                })
            }
            other => {
                replica.saving = other;
                release(data);
                Ok(())
            }
        }
    }
}

fn send_to_storage(storage: &std::sync::mpsc::Sender<Job>, job: Job) -> Result<(), LoopError> {
    storage.send(job).map_err(|_| LoopError::StorageGone)
}

/// The refusal of a request naming a group this node does not have.
fn no_such_group(group: GroupId) -> Refusal {
    Refusal::Invalid(format!("no group {group} (see --groups)"))
}

/// The key a command writes or reads.
trait CommandKey {
    fn key(&self) -> &str;
}

impl CommandKey for sansraft_kv::Op<String, Bytes> {
    fn key(&self) -> &str {
        match self {
            sansraft_kv::Op::Put { key, .. }
            | sansraft_kv::Op::Get { key }
            | sansraft_kv::Op::Delete { key }
            | sansraft_kv::Op::Cas { key, .. } => key,
        }
    }
}
