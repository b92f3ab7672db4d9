//! The node loop: one tokio task owns the sansraft `Node` and the key-value map, and is the
//! only place either changes. It steps the node with ticks, peer messages, client requests and
//! storage acknowledgements, and carries out the actions in order: writes go to the storage
//! thread (acknowledged later, `Input::Persisted`), messages to the peer queues, committed
//! entries to the map, and answers to the waiting clients.

use crate::answer::{self, Refusal, WriteReply};
use crate::handoff::{Begin, Stopping};
use crate::kv::{self, Command, Kv, Page, Read};
use crate::metrics::{LoopCounts, Metrics};
use crate::roles::RoleWatch;
use crate::stall_watch::{StallWatch, Work};
use crate::storage::{Done, Job};
use crate::transport::Peers;
use bytes::Bytes;
use sansraft::{
    Action, Body, ChunkRead, ChunkRequest, ConfChange, Entry, EntryKind, Index, Input, LogPosition,
    Membership, Message, Node, NodeId, SnapshotMeta, Status, Term, TransferOutcome, Write,
};
use sansraft_kv::{ApplyError, SnapshotError};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// A client request for the node loop.
#[derive(Debug)]
pub(crate) enum Request {
    /// Replicate a command; answered once it is applied here.
    Write(Command, oneshot::Sender<WriteReply>),
    /// A linearizable read.
    Read(Read, ReadReply),
    /// Change the membership; answered once the change is applied here.
    ChangeMembership(ConfChange, oneshot::Sender<WriteReply>),
    /// Hand leadership to a voter.
    Transfer(NodeId, oneshot::Sender<TransferOutcome>),
    Status(oneshot::Sender<NodeStatus>),
    /// The metrics as Prometheus text.
    Metrics(oneshot::Sender<String>),
    /// Stop: a leader hands off leadership first (see [`crate::handoff`]); then `run` returns.
    Shutdown,
}

/// What `/status` shows.
#[derive(Clone, Debug)]
pub(crate) struct NodeStatus {
    pub(crate) raft: Status,
    pub(crate) membership: Membership,
    pub(crate) snapshot_index: Index,
    pub(crate) first_index: Index,
    pub(crate) keys: usize,
    pub(crate) sessions: usize,
    pub(crate) malformed_commands: u64,
    pub(crate) dropped_messages: u64,
}

/// Node-loop settings that are not the engine's.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LoopConfig {
    pub(crate) tick: Duration,
    /// Take a snapshot once this many entries were applied since the last one (0: never).
    pub(crate) snapshot_every: u64,
    /// A snapshot being received that grows past this many bytes is refused.
    pub(crate) max_snapshot_bytes: u64,
}

/// Everything the node loop is connected to.
#[derive(Debug)]
pub(crate) struct Channels {
    pub(crate) requests: mpsc::Receiver<Request>,
    pub(crate) inbound: mpsc::Receiver<Message>,
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
        }
    }
}

impl std::error::Error for LoopError {}

/// The node loop's state.
#[derive(Debug)]
pub(crate) struct NodeLoop {
    node: Node,
    kv: Kv,
    config: LoopConfig,
    io: Channels,
    /// The last applied entry's index and term.
    applied: (Index, Term),
    /// The latest snapshot the engine knows of, and its bytes (for chunk reads).
    snapshot: (SnapshotMeta, Bytes),
    /// A snapshot handed to storage and not yet reported durable.
    saving: Option<SnapshotMeta>,
    /// The index of the latest snapshot taken or installed (saved or not).
    snapshot_index: Index,
    /// A received snapshot being installed: the storage thread decodes it and reports
    /// [`Done::Installed`]; until then the map is older than `applied` says.
    installing: Option<SnapshotMeta>,
    /// Writes and membership changes waiting to be applied, by index: their term and client.
    waiting: BTreeMap<Index, (Term, oneshot::Sender<WriteReply>)>,
    /// Clients of this step's proposals, in proposal order.
    proposing: VecDeque<oneshot::Sender<WriteReply>>,
    /// The client of this step's membership change.
    changing: Option<oneshot::Sender<WriteReply>>,
    /// The client of this step's transfer request, then of the transfer under way.
    transfer_asked: Option<oneshot::Sender<TransferOutcome>>,
    transfer_running: Option<oneshot::Sender<TransferOutcome>>,
    reads: BTreeMap<u64, (Read, ReadReply)>,
    next_read_id: u64,
    /// Committed normal entries that were not commands (skipped on every replica alike).
    malformed_commands: u64,
    actions: Vec<Action>,
    inputs: VecDeque<Input>,
    metrics: Metrics,
    roles: RoleWatch,
    /// Set once asked to stop.
    stopping: Option<Stopping>,
    /// The last snapshot transfer refused, as (leader, index, term): its chunks are dropped
    /// before the engine sees them.
    refused_snapshot: Option<(NodeId, Index, Term)>,
    /// A snapshot's last chunk is with the storage thread, to be checked before the engine
    /// sees it ([`Job::CheckLastChunk`]).
    checking: bool,
}

/// Most proposals batched into one `Input::ProposeBatch`, and most peer messages handled per
/// wake-up.
const MAX_BATCH: usize = 256;

impl NodeLoop {
    pub(crate) fn new(
        node: Node,
        snapshot_data: Bytes,
        config: LoopConfig,
        io: Channels,
        metrics: Metrics,
    ) -> Result<NodeLoop, LoopError> {
        let meta = node.snapshot().clone();
        let (kv, snapshot_data) = if meta.index == 0 {
            let kv = Kv::default();
            let data = kv.snapshot();
            (kv, data)
        } else {
            (restore(&snapshot_data, meta.index)?, snapshot_data)
        };
        Ok(NodeLoop {
            roles: RoleWatch::new(&node),
            metrics,
            stopping: None,
            applied: (meta.index, meta.term),
            snapshot_index: meta.index,
            snapshot: (meta, snapshot_data),
            node,
            kv,
            config,
            io,
            saving: None,
            installing: None,
            waiting: BTreeMap::new(),
            proposing: VecDeque::new(),
            changing: None,
            transfer_asked: None,
            transfer_running: None,
            reads: BTreeMap::new(),
            next_read_id: 0,
            malformed_commands: 0,
            actions: Vec::new(),
            inputs: VecDeque::new(),
            refused_snapshot: None,
            checking: false,
        })
    }

    /// Runs until storage fails, every request sender is gone, or a stop asked for is done.
    pub(crate) async fn run(mut self) -> Result<(), LoopError> {
        let mut tick = tokio::time::interval(self.config.tick);
        // After a stall, deliver the missed ticks rather than skipping time.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let half_election = self.config.tick * self.node.config().election_timeout_ticks / 2;
        let mut watch = StallWatch::new(half_election);
        loop {
            if self.stopping.as_ref().is_some_and(Stopping::done) {
                tracing::info!(id = self.node.config().id, "node loop stopped");
                return Ok(());
            }
            tokio::select! {
                due = tick.tick() => {
                    watch.tick(due, &self.metrics);
                    watch.time(Work::Tick, || self.on_tick())?;
                }
                message = self.io.inbound.recv() => {
                    let Some(message) = message else { return Ok(()) };
                    watch.time(Work::Messages, || self.on_messages(message))?;
                }
                request = self.io.requests.recv() => {
                    let Some(request) = request else { return Ok(()) };
                    watch.time(Work::Requests, || self.on_requests(request))?;
                }
                done = self.io.storage_done.recv() => {
                    let done = done.ok_or(LoopError::StorageGone)?;
                    watch.time(Work::Storage, || self.on_storage(done))?;
                }
            }
        }
    }

    /// Steps the node with a peer's message, unless it is a chunk of a snapshot to refuse. A
    /// snapshot's last chunk goes to the storage thread first, which checks that the snapshot
    /// decodes ([`Self::on_checked`]): once the engine has the last chunk it installs the
    /// snapshot, and an install cannot be taken back.
    ///
    /// A refused snapshot is refused to the engine too (`Input::RefuseSnapshot`), which tells
    /// the leader: it offers that snapshot again only after `100 × snapshot_retry_ticks`, a
    /// newer one at once (see docs/embedding.md). A last chunk that arrives while another is
    /// being checked is dropped, a message lost: the leader resends it.
    fn on_message(&mut self, message: Message) -> Result<(), LoopError> {
        let Body::SnapshotChunk(chunk) = &message.body else {
            return self.step(Input::Message(message));
        };
        let id = (message.from, chunk.index, chunk.term);
        if self.refused_snapshot == Some(id) {
            // Never handed to the engine: a last chunk would install what was refused. The
            // engine told the leader when the snapshot was refused, if it followed it then.
            return Ok(());
        }
        let end = chunk.offset.saturating_add(chunk.data.len() as u64);
        if end > self.config.max_snapshot_bytes {
            tracing::warn!(
                leader = message.from,
                index = chunk.index,
                term = chunk.term,
                bytes = end,
                limit = self.config.max_snapshot_bytes,
                "snapshot being received exceeds --max-snapshot-bytes; refused and its partial file removed"
            );
            return self.refuse_snapshot(id, "too_large");
        }
        if !chunk.done {
            return self.step(Input::Message(message));
        }
        if self.checking {
            // One check at a time: this copy is lost; the leader resends.
            return Ok(());
        }
        self.checking = true;
        self.send_to_storage(Job::CheckLastChunk(message))
    }

    /// The storage thread checked a snapshot's last chunk: the engine gets it, unless the
    /// snapshot it completes does not decode.
    fn on_checked(
        &mut self,
        message: Message,
        undecodable: Option<String>,
    ) -> Result<(), LoopError> {
        self.checking = false;
        let Some(why) = undecodable else {
            return self.step(Input::Message(message));
        };
        let Body::SnapshotChunk(chunk) = &message.body else {
            return Ok(());
        };
        tracing::error!(
            leader = message.from,
            index = chunk.index,
            term = chunk.term,
            error = %why,
            "received snapshot passed its checksum but is not a map; discarded"
        );
        self.refuse_snapshot((message.from, chunk.index, chunk.term), "undecodable")
    }

    /// Drops the chunks of the snapshot transfer `id` from now on, and its partial file.
    fn refuse_snapshot(
        &mut self,
        id: (NodeId, Index, Term),
        reason: &'static str,
    ) -> Result<(), LoopError> {
        self.refused_snapshot = Some(id);
        self.metrics.snapshot_refused(reason);
        let (_, index, term) = id;
        // The engine drops the transfer (its `DropPartialSnapshot` removes the partial file)
        // and tells the leader, which offers this snapshot again only after a long back-off.
        self.step(Input::RefuseSnapshot { index, term })
    }

    fn on_tick(&mut self) -> Result<(), LoopError> {
        self.step(Input::Tick)?;
        if let Some(stopping) = &mut self.stopping {
            stopping.tick();
        }
        Ok(())
    }

    /// Handles `first` and what else has arrived, bounded so that a flood cannot starve ticks.
    fn on_messages(&mut self, first: Message) -> Result<(), LoopError> {
        self.on_message(first)?;
        for _ in 1..MAX_BATCH {
            let Ok(message) = self.io.inbound.try_recv() else {
                break;
            };
            self.on_message(message)?;
        }
        Ok(())
    }

    fn on_storage(&mut self, done: Done) -> Result<(), LoopError> {
        match done {
            Done::Persisted(token) => self.step(Input::Persisted(token)),
            Done::SnapshotSaved(meta, data) => self.on_snapshot_saved(meta, data),
            Done::Installed {
                meta,
                machine,
                data,
            } => self.on_installed(meta, *machine, data),
            Done::Checked {
                message,
                undecodable,
            } => self.on_checked(message, undecodable),
            Done::Failed(e) => Err(LoopError::Storage(e)),
        }
    }

    /// Handles `first` and every request already queued behind it, batching writes.
    fn on_requests(&mut self, first: Request) -> Result<(), LoopError> {
        let mut batch = Vec::new();
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match request {
                Request::Write(command, reply) => {
                    batch.push(command.encode());
                    self.proposing.push_back(reply);
                }
                other => {
                    self.propose(&mut batch)?;
                    self.on_request(other)?;
                }
            }
            if batch.len() < MAX_BATCH {
                next = self.io.requests.try_recv().ok();
            }
        }
        self.propose(&mut batch)
    }

    fn propose(&mut self, batch: &mut Vec<Bytes>) -> Result<(), LoopError> {
        match batch.len() {
            0 => Ok(()),
            1 => self.step(Input::Propose(batch.pop().expect("one command"))),
            _ => self.step(Input::ProposeBatch(std::mem::take(batch))),
        }
    }

    fn on_request(&mut self, request: Request) -> Result<(), LoopError> {
        match request {
            Request::Write(command, reply) => {
                self.proposing.push_back(reply);
                self.step(Input::Propose(command.encode()))
            }
            Request::Read(read, reply) => {
                let id = self.next_read_id;
                self.next_read_id += 1;
                self.reads.insert(id, (read, reply));
                self.step(Input::ReadIndex(id))
            }
            Request::ChangeMembership(change, reply) => {
                self.changing = Some(reply);
                self.step(Input::ChangeMembership(change))
            }
            Request::Transfer(target, reply) => {
                self.transfer_asked = Some(reply);
                self.step(Input::TransferLeadership(target))?;
                // Not refused at once: the outcome comes when the transfer ends.
                if let Some(reply) = self.transfer_asked.take() {
                    self.transfer_running = Some(reply);
                }
                Ok(())
            }
            Request::Status(reply) => {
                let _ = reply.send(NodeStatus {
                    raft: self.node.status(),
                    membership: self.node.membership().clone(),
                    snapshot_index: self.node.snapshot().index,
                    first_index: self.node.first_index(),
                    keys: self.kv.len(),
                    sessions: self.kv.sessions(),
                    malformed_commands: self.malformed_commands,
                    dropped_messages: self.io.peers.dropped,
                });
                Ok(())
            }
            Request::Metrics(reply) => {
                let counts = LoopCounts {
                    dropped_messages: self.io.peers.dropped,
                    malformed_commands: self.malformed_commands,
                };
                let _ = reply.send(self.metrics.render(&self.node, self.config.tick, counts));
                Ok(())
            }
            Request::Shutdown => self.begin_stop(),
        }
    }

    /// Starts stopping: a leader hands leadership to a caught-up voter first.
    fn begin_stop(&mut self) -> Result<(), LoopError> {
        if self.stopping.is_some() {
            return Ok(());
        }
        let (stopping, begin) = Stopping::begin(&self.node);
        self.stopping = Some(stopping);
        match begin {
            Begin::Now => {
                tracing::info!("stopping");
                Ok(())
            }
            Begin::Await(target) => {
                tracing::info!(
                    target,
                    "stopping once the leadership transfer under way ends"
                );
                Ok(())
            }
            Begin::Transfer(target) => {
                tracing::info!(target, "handing leadership off before stopping");
                self.step(Input::TransferLeadership(target))
            }
        }
    }

    /// Steps the node with `input`, then with every input its actions call for.
    fn step(&mut self, input: Input) -> Result<(), LoopError> {
        self.inputs.push_back(input);
        while let Some(input) = self.inputs.pop_front() {
            let mut actions = std::mem::take(&mut self.actions);
            self.node.step_into(input, &mut actions);
            let result = actions
                .drain(..)
                .try_for_each(|action| self.carry_out(action));
            self.actions = actions;
            result?;
            self.maybe_snapshot();
        }
        debug_assert!(self.proposing.is_empty(), "one outcome per proposal");
        Ok(())
    }

    /// Carries out one action; actions must be carried out in the order given.
    fn carry_out(&mut self, action: Action) -> Result<(), LoopError> {
        match action {
            Action::Persist(write) => self.persist(write)?,
            // The engine holds back every message that depends on an unfinished write, so
            // sending before the storage thread syncs is safe.
            Action::Send(message) => self.io.peers.send(message),
            Action::Apply(entries) => self.apply(&entries),
            Action::Proposed(result) => {
                self.metrics.proposed(result.is_ok());
                let reply = self
                    .proposing
                    .pop_front()
                    .expect("one Proposed per proposal of this step");
                self.wait_for_apply(result, reply);
            }
            Action::MembershipProposed(result) => {
                let reply = self
                    .changing
                    .take()
                    .expect("MembershipProposed answers this step's change");
                self.wait_for_apply(result, reply);
            }
            Action::LearnerCaughtUp {
                learner,
                match_index,
            } => {
                tracing::info!(
                    learner,
                    match_index,
                    "learner caught up; it may be promoted"
                );
            }
            Action::ReadReady { id, .. } => {
                // The map has applied at least the read index: serve the read from it now.
                if let Some((read, reply)) = self.reads.remove(&id) {
                    let _ = reply.send(Ok(read.serve(&self.kv)));
                }
            }
            Action::ReadFailed { id, error } => {
                if let Some((.., reply)) = self.reads.remove(&id) {
                    let _ = reply.send(Err(error.into()));
                }
            }
            Action::CompactLog(upto) => self.send_to_storage(Job::Compact(upto))?,
            Action::ReadSnapshotChunk(request) => self.read_chunk(request),
            // A snapshot being received goes to a file as it comes, not into memory.
            Action::WriteSnapshotChunk(chunk) => self.send_to_storage(Job::SnapshotChunk(chunk))?,
            Action::DropPartialSnapshot { index, term } => {
                self.send_to_storage(Job::DropPartialSnapshot { index, term })?;
            }
            Action::Transfer(outcome) => {
                let reply = match outcome {
                    TransferOutcome::Refused { .. } => self.transfer_asked.take(),
                    TransferOutcome::Done { .. } | TransferOutcome::Aborted { .. } => {
                        self.transfer_running.take()
                    }
                };
                tracing::info!(?outcome, "leadership transfer");
                if let Some(stopping) = &mut self.stopping {
                    stopping.transfer_ended(&outcome);
                }
                if let Some(reply) = reply {
                    let _ = reply.send(outcome);
                }
            }
            Action::RoleChanged(change) => {
                self.roles.observe(change, &self.metrics);
            }
            // This server never asks a node to campaign.
            Action::Campaigned(result) => tracing::info!(?result, "campaign"),
        }
        Ok(())
    }

    /// A proposal's client waits until its index is applied; a refusal is answered at once.
    fn wait_for_apply<E: Into<Refusal>>(
        &mut self,
        result: Result<LogPosition, E>,
        reply: oneshot::Sender<WriteReply>,
    ) {
        match result {
            Ok(position) => {
                self.waiting.insert(position.index, (position.term, reply));
            }
            Err(e) => {
                let _ = reply.send(Err(e.into()));
            }
        }
    }

    fn send_to_storage(&self, job: Job) -> Result<(), LoopError> {
        self.io
            .storage
            .send(job)
            .map_err(|_| LoopError::StorageGone)
    }

    /// Hands a write to storage. A write that installs a received snapshot has the storage
    /// thread decode the map from it too ([`Done::Installed`], before the write's
    /// acknowledgement): the engine applies and serves nothing after the snapshot until the
    /// write is durable, and this loop takes no snapshot of its own meanwhile.
    fn persist(&mut self, write: Write) -> Result<(), LoopError> {
        let Some(install) = &write.install else {
            return self.send_to_storage(Job::Write(write));
        };
        let meta = install.meta.clone();
        // A snapshot still being saved is older and will be skipped by storage.
        self.saving = None;
        self.applied = (meta.index, meta.term);
        self.snapshot_index = meta.index;
        // Writes at or below the snapshot will never be applied here: their outcome is unknown.
        let later = self.waiting.split_off(&(meta.index + 1));
        for (_, (_, reply)) in std::mem::replace(&mut self.waiting, later) {
            let _ = reply.send(Err(Refusal::Retry(
                "outcome unknown: a snapshot replaced the log; retry".into(),
            )));
        }
        self.installing = Some(meta);
        self.send_to_storage(Job::Write(write))
    }

    /// The storage thread made a received snapshot durable and decoded its map.
    fn on_installed(
        &mut self,
        meta: SnapshotMeta,
        machine: Kv,
        data: Bytes,
    ) -> Result<(), LoopError> {
        if self.installing.as_ref() != Some(&meta) {
            // A later install superseded this one (its report comes next).
            return Ok(());
        }
        if machine.applied() != meta.index {
            return Err(LoopError::SnapshotIndex {
                meta: meta.index,
                applied: machine.applied(),
            });
        }
        self.kv = machine;
        self.installing = None;
        self.snapshot = (meta, data);
        Ok(())
    }

    fn apply(&mut self, entries: &[Entry]) {
        for entry in entries {
            let result = self.apply_entry(entry);
            self.applied = (entry.index, entry.term);
            // Anything waiting at or below this index is decided now.
            let later = self.waiting.split_off(&(entry.index + 1));
            for (index, (term, reply)) in std::mem::replace(&mut self.waiting, later) {
                // The entry at our index has our term only if our proposal is what committed.
                let result = if index == entry.index && term == entry.term {
                    result.clone()
                } else {
                    Err(Refusal::Retry(
                        "overwritten by another leader's entry; retry".into(),
                    ))
                };
                let _ = reply.send(result);
            }
        }
        if let Some(last) = entries.last() {
            self.inputs.push_back(Input::Applied(last.index));
        }
    }

    /// Applies one committed entry to the map; the answer for its proposer.
    fn apply_entry(&mut self, entry: &Entry) -> WriteReply {
        if entry.kind == EntryKind::Membership {
            tracing::info!(index = entry.index, "membership change applied");
        }
        match kv::apply(&mut self.kv, entry) {
            Ok(applied) => answer::applied(entry.index, applied),
            Err(ApplyError::Malformed(e)) => {
                self.malformed_commands += 1;
                tracing::warn!(index = entry.index, error = %e, "committed entry is not a command; skipped");
                Err(Refusal::Invalid(format!("not a command: {e}")))
            }
            Err(e @ ApplyError::OutOfOrder { .. }) => {
                panic!("the engine applies in log order: {e}")
            }
        }
    }

    /// Takes a snapshot of the map once enough entries were applied since the last one: about
    /// `snapshot_every`, or half as many as the map has keys if that is more, so that encoding
    /// the whole map costs each write about two keys' worth however large the map grows (the
    /// log kept between snapshots grows with the map instead). See [`snapshot_due`] for when
    /// exactly.
    fn maybe_snapshot(&mut self) {
        let every = self.config.snapshot_every;
        let (index, term) = self.applied;
        if every == 0
            || self.saving.is_some()
            || self.installing.is_some()
            || !snapshot_due(
                index,
                self.snapshot_index,
                every.max(self.kv.len() as u64 / 2),
                self.node.config().id,
            )
        {
            return;
        }
        let Some(meta) = self.node.snapshot_meta_at(index) else {
            return;
        };
        debug_assert_eq!(meta.term, term, "the applied entry's term");
        // O(1): the clone shares the map's nodes; the snapshot thread encodes and writes it
        // while this loop goes on ticking and applying (docs/embedding.md, kv-tokio).
        let machine = Box::new(self.kv.clone());
        self.metrics.snapshot_taken(index);
        self.snapshot_index = index;
        self.saving = Some(meta.clone());
        // Storage failing is noticed on its next report.
        let _ = self.io.storage.send(Job::SaveSnapshot { meta, machine });
    }

    fn on_snapshot_saved(&mut self, meta: SnapshotMeta, data: Bytes) -> Result<(), LoopError> {
        match self.saving.take() {
            Some(saved) if saved == meta => {
                self.metrics.snapshot_saved(meta.index, data.len());
                tracing::debug!(index = meta.index, bytes = data.len(), "snapshot saved");
                let (_, replaced) = std::mem::replace(&mut self.snapshot, (meta.clone(), data));
                release(replaced);
                self.step(Input::SnapshotTaken(Box::new(meta)))
            }
            other => {
                self.saving = other;
                release(data);
                Ok(())
            }
        }
    }

    /// Leader: answers a chunk request from the latest snapshot's bytes.
    fn read_chunk(&mut self, request: ChunkRequest) {
        let (meta, data) = &self.snapshot;
        if (meta.index, meta.term) != (request.index, request.term) {
            // An older snapshot than the latest: the engine has moved on.
            return;
        }
        let start = usize::try_from(request.offset).map_or(data.len(), |o| o.min(data.len()));
        let max = usize::try_from(request.max_len).unwrap_or(usize::MAX);
        let end = start.saturating_add(max).min(data.len());
        self.inputs.push_back(Input::SnapshotChunkRead(ChunkRead {
            peer: request.peer,
            index: request.index,
            term: request.term,
            offset: request.offset,
            data: data.slice(start..end),
            done: end == data.len(),
        }));
    }
}

/// Snapshot bytes at least this large are freed off the node loop.
const RELEASE_ELSEWHERE_BYTES: usize = 1 << 20;

/// Drops snapshot bytes the loop no longer needs; large ones on a blocking thread, since the
/// last reference to a snapshot of a hundred megabytes frees (unmaps) all of it: 17–26 ms for
/// 116 MB on the 2-core test machine, a quarter of an election timeout. A chunk still being sent
/// may hold a reference: then that is where the memory is freed.
fn release(data: Bytes) {
    if data.len() >= RELEASE_ELSEWHERE_BYTES {
        drop(tokio::task::spawn_blocking(move || drop(data)));
    }
}

/// Whether node `id`, whose latest snapshot is at `last`, takes one at the applied `index`,
/// snapshots being due every `every` entries.
///
/// Each node snapshots when the applied index crosses a point of its own grid, `every` apart and
/// shifted by a quarter of `every` per node id (modulo 4), and at least half of `every` after its
/// last snapshot. The nodes of a cluster apply the same indexes: without the shift they would
/// all encode and write their snapshots at the same moment, on a machine they may share, and
/// on one they share with a disk, each write-ahead log's sync would wait behind all of them.
fn snapshot_due(index: Index, last: Index, every: u64, id: NodeId) -> bool {
    let every = every.max(1);
    let shift = every / 4 * (id % 4);
    index >= last.saturating_add(every / 2)
        && index.saturating_add(shift) / every > last.saturating_add(shift) / every
}

/// The state machine a snapshot at `index` holds, checked to be at that index.
fn restore(data: &[u8], index: Index) -> Result<Kv, LoopError> {
    let kv = kv::restore(data, index).map_err(LoopError::BadSnapshot)?;
    if kv.applied() != index {
        return Err(LoopError::SnapshotIndex {
            meta: index,
            applied: kv.applied(),
        });
    }
    Ok(kv)
}

#[cfg(test)]
mod tests {
    use super::snapshot_due;

    /// The indexes in `1..=upto` at which node `id` snapshots, every `every` entries.
    fn snapshots(id: u64, every: u64, upto: u64) -> Vec<u64> {
        let mut last = 0;
        let mut taken = Vec::new();
        for index in 1..=upto {
            if snapshot_due(index, last, every, id) {
                taken.push(index);
                last = index;
            }
        }
        taken
    }

    #[test]
    fn each_node_snapshots_every_so_often_at_its_own_points() {
        assert_eq!(snapshots(4, 100, 400), [100, 200, 300, 400]);
        assert_eq!(snapshots(1, 100, 400), [75, 175, 275, 375]);
        assert_eq!(snapshots(2, 100, 400), [50, 150, 250, 350]);
        assert_eq!(snapshots(3, 100, 400), [50, 125, 225, 325]);
    }

    #[test]
    fn a_snapshot_off_the_grid_is_followed_by_one_at_least_half_a_period_later() {
        // A received snapshot at 90: node 4's next grid point, 100, is too close.
        assert!(!snapshot_due(100, 90, 100, 4));
        assert!(!snapshot_due(139, 90, 100, 4));
        assert!(snapshot_due(140, 90, 100, 4));
        // Applies come in batches: a point crossed within one is still seen.
        assert!(snapshot_due(260, 140, 100, 4));
    }

    #[test]
    fn tiny_periods_still_snapshot() {
        assert_eq!(snapshots(3, 1, 3), [1, 2, 3]);
        assert_eq!(snapshots(1, 0, 2), [1, 2]);
    }
}
