//! A node's thread: it owns the [`Node`] and the state machine and runs the step loop over one
//! inbox (peer messages, client requests, storage answers), ticking at a `recv_timeout`
//! deadline. It never blocks on the disk or on a peer.

use super::net::Router;
use super::storage::StorageOp;
use super::{now, Event, NodeReport, ReadReply, Reply, WriteReply, TICK};
use crate::Kv;
use bytes::Bytes;
use sansraft::message::SnapshotChunk;
use sansraft::{
    Action, Body, ChunkRequest, ChunkWrite, Codec, Entries, Entry, Index, Input, LogPosition,
    Message, Node, NodeId, ProposeError, ReadError, SnapshotMeta, Status, Term, TransferOutcome,
    Write,
};
use sansraft_kv::{Applied, ApplyError};
use sansraft_testkit::dispatch::{dispatch_all, Effects};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;

/// Take a snapshot of the state machine once this many entries were applied since the last.
const SNAPSHOT_EVERY_ENTRIES: Index = 64;

/// Bytes of a snapshot being received, kept in memory: chunks need not be durable on their
/// own, only the write that installs the whole snapshot.
#[derive(Debug)]
struct Partial {
    index: Index,
    term: Term,
    data: Vec<u8>,
}

#[derive(Debug)]
pub(super) struct Server {
    node: Node,
    kv: Kv,
    inbox: Receiver<Event>,
    router: Router,
    storage: Sender<StorageOp>,
    halt: Arc<AtomicBool>,
    actions: Vec<Action>,
    /// Inputs the server feeds itself, after the one being stepped: applied progress.
    feedback: VecDeque<Input>,
    /// The client of the proposal being stepped: its `Action::Proposed` comes in that step.
    proposer: Option<WriteReply>,
    /// Clients whose command is in the log, by index, with the term it was proposed in.
    waiting: BTreeMap<Index, (Term, WriteReply)>,
    /// Linearizable reads in progress, by read id: the key and the client.
    reads: BTreeMap<u64, (String, ReadReply)>,
    next_read_id: u64,
    /// The transfer request being stepped (a refusal comes in that step), and the accepted one.
    transfer_request: Option<Sender<TransferOutcome>>,
    transfer_waiter: Option<Sender<TransferOutcome>>,
    partial: Option<Partial>,
    /// The state machine decoded from the received snapshot whose last chunk was checked, for
    /// its install: (index, term, machine).
    checked: Option<(Index, Term, Kv)>,
    /// The last snapshot transfer refused, as (leader, index, term): its chunks are dropped.
    refused_snapshot: Option<(NodeId, Index, Term)>,
    /// A snapshot of ours is on its way to the disk (one at a time).
    saving_snapshot: bool,
    snapshots_installed: u64,
    undecodable_messages: u64,
    undecodable_snapshots: u64,
    malformed_commands: u64,
}

impl Server {
    pub(super) fn new(
        node: Node,
        kv: Kv,
        inbox: Receiver<Event>,
        router: Router,
        storage: Sender<StorageOp>,
        halt: Arc<AtomicBool>,
    ) -> Server {
        Server {
            node,
            kv,
            inbox,
            router,
            storage,
            halt,
            actions: Vec::new(),
            feedback: VecDeque::new(),
            proposer: None,
            waiting: BTreeMap::new(),
            reads: BTreeMap::new(),
            next_read_id: 0,
            transfer_request: None,
            transfer_waiter: None,
            partial: None,
            checked: None,
            refused_snapshot: None,
            saving_snapshot: false,
            snapshots_installed: 0,
            undecodable_messages: 0,
            undecodable_snapshots: 0,
            malformed_commands: 0,
        }
    }

    /// The loop, until the node crashes; returns its status as it went down.
    pub(super) fn run(mut self) -> Status {
        let mut next_tick = now() + TICK;
        while !self.halt.load(Ordering::Acquire) {
            let at = now();
            if at >= next_tick {
                self.step(Input::Tick);
                // Without lease reads, tick length matters for liveness only: after a stall,
                // carry on rather than fire the missed ticks in a burst of elections.
                next_tick = at + TICK;
                continue;
            }
            match self.inbox.recv_timeout(next_tick - at) {
                Ok(event) => self.handle(event),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.node.status()
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Peer(bytes) => match Message::decode_shared(&bytes) {
                Ok(message) => self.on_message(message),
                // Bad bytes off the wire are dropped and counted.
                Err(_) => self.undecodable_messages += 1,
            },
            Event::Persisted(token) => self.step(Input::Persisted(token)),
            Event::SnapshotSaved(meta) => {
                self.saving_snapshot = false;
                self.step(Input::SnapshotTaken(meta));
            }
            Event::ChunkRead(read) => self.step(Input::SnapshotChunkRead(read)),
            Event::Write(command, reply) => {
                self.proposer = Some(reply);
                self.step(Input::Propose(command));
            }
            Event::Read(key, reply) => {
                let id = self.next_read_id;
                self.next_read_id += 1;
                self.reads.insert(id, (key, reply));
                self.step(Input::ReadIndex(id));
            }
            Event::Transfer(target, reply) => {
                self.transfer_request = Some(reply);
                self.step(Input::TransferLeadership(target));
                // Not refused: answered when the transfer completes or aborts.
                if let Some(reply) = self.transfer_request.take() {
                    self.transfer_waiter = Some(reply);
                }
            }
            Event::Report(reply) => {
                let _ = reply.send(self.report());
            }
        }
    }

    /// Steps a peer's message, unless it is a chunk of a refused snapshot. A snapshot's last
    /// chunk is checked first: once the engine has it, it installs the snapshot, and an install
    /// cannot be taken back. A snapshot that is whole and matches the transfer's checksum, yet
    /// does not decode as a state machine at its index (a leader's bug), is discarded, counted
    /// and refused to the engine (`Input::RefuseSnapshot`: it drops the transfer and tells the
    /// leader, which offers it again only after a long back-off, a newer one at once); its
    /// chunks are dropped from then on.
    fn on_message(&mut self, message: Message) {
        if let Body::SnapshotChunk(chunk) = &message.body {
            let id = (message.from, chunk.index, chunk.term);
            if self.refused_snapshot == Some(id) {
                return;
            }
            if chunk.done && !self.check_last_chunk(chunk) {
                self.undecodable_snapshots += 1;
                self.refused_snapshot = Some(id);
                self.partial = None;
                let (index, term) = (chunk.index, chunk.term);
                self.step(Input::RefuseSnapshot { index, term });
                return;
            }
        }
        self.step(Input::Message(message));
    }

    /// False if `chunk` completes the partial snapshot (or is a whole one) with the transfer's
    /// checksum and the whole is not a state machine at its index; if it is one, it is kept
    /// for the install. Anything else is for the engine to judge.
    fn check_last_chunk(&mut self, chunk: &SnapshotChunk) -> bool {
        self.checked = None;
        let whole = match &self.partial {
            _ if chunk.offset == 0 => chunk.data.to_vec(),
            Some(p)
                if (p.index, p.term) == (chunk.index, chunk.term)
                    && p.data.len() as u64 == chunk.offset =>
            {
                [&p.data[..], &chunk.data[..]].concat()
            }
            _ => return true,
        };
        if crc32c::crc32c(&whole) != chunk.crc32c {
            return true;
        }
        match Kv::restore(&whole) {
            Ok(kv) if kv.applied() == chunk.index => {
                self.checked = Some((chunk.index, chunk.term, kv));
                true
            }
            _ => false,
        }
    }

    /// Steps `input`, carries out the actions in order, then does the same for the inputs
    /// they produced.
    fn step(&mut self, input: Input) {
        self.feedback.push_back(input);
        while let Some(input) = self.feedback.pop_front() {
            let mut actions = std::mem::take(&mut self.actions);
            self.node.step_into(input, &mut actions);
            dispatch_all(actions.drain(..), self);
            self.actions = actions;
        }
        self.maybe_snapshot();
    }
    /// Applies one committed entry and answers the client waiting for it.
    fn apply_entry(&mut self, entry: &Entry) {
        let output = match self.kv.apply(entry) {
            // A retry of a request already applied is answered with its first result.
            Ok(Some(Applied::Fresh(output) | Applied::Duplicate(output, _))) => Some(output),
            Ok(Some(Applied::Stale) | None) => None,
            Err(ApplyError::Malformed(_)) => {
                self.malformed_commands += 1;
                None
            }
            Err(e @ ApplyError::OutOfOrder { .. }) => panic!("the engine applies in order: {e}"),
        };
        if let Some((term, reply)) = self.waiting.remove(&entry.index) {
            // §5.3 Log Matching: the entry at the proposal's index has the proposal's term only
            // if it is the proposal; otherwise another leader's entry took the slot.
            let _ = reply.send(match output {
                Some(output) if entry.term == term => Reply::Done(output),
                _ => Reply::Retry,
            });
        }
    }

    /// Writes a chunk at its offset into the partial snapshot; offset 0 starts a new one.
    fn write_chunk(&mut self, chunk: ChunkWrite) {
        if chunk.offset == 0 {
            self.partial = Some(Partial {
                index: chunk.index,
                term: chunk.term,
                data: Vec::new(),
            });
        }
        let Some(partial) = self.partial.as_mut() else {
            return;
        };
        if (partial.index, partial.term) == (chunk.index, chunk.term) {
            partial.data.resize(chunk.offset as usize, 0);
            partial.data.extend_from_slice(&chunk.data);
        }
    }

    /// A write installs the received snapshot: restore the state machine from it now (the
    /// engine counts it applied and releases reads from the next step on) and hand its bytes to
    /// the disk with the write.
    fn install(&mut self, meta: &SnapshotMeta) -> Bytes {
        let partial = self
            .partial
            .take()
            .filter(|p| (p.index, p.term) == (meta.index, meta.term))
            .expect("the engine installs the snapshot whose chunks it handed out");
        let data = Bytes::from(partial.data);
        // Decoded when its last chunk arrived, before the engine had it (`on_message`).
        let (.., kv) = self
            .checked
            .take()
            .filter(|(index, term, _)| (*index, *term) == (meta.index, meta.term))
            .expect("a snapshot is installed only after its last chunk was checked");
        self.kv = kv;
        // Commands at or below the snapshot will not be applied here one by one: their
        // clients retry, and their sessions in the snapshot answer them.
        let above = self.waiting.split_off(&(meta.index + 1));
        for (_, (_, reply)) in std::mem::replace(&mut self.waiting, above) {
            let _ = reply.send(Reply::Retry);
        }
        self.snapshots_installed += 1;
        data
    }

    /// Every `SNAPSHOT_EVERY_ENTRIES`, snapshots the state machine; once the disk holds it,
    /// `Event::SnapshotSaved` reports it to the node, which then compacts its log.
    fn maybe_snapshot(&mut self) {
        let applied = self.kv.applied();
        if self.saving_snapshot || applied < self.node.snapshot().index + SNAPSHOT_EVERY_ENTRIES {
            return;
        }
        let Some(meta) = self.node.snapshot_meta_at(applied) else {
            return;
        };
        self.saving_snapshot = true;
        let _ = self
            .storage
            .send(StorageOp::SaveSnapshot(meta, self.kv.snapshot()));
    }

    fn report(&self) -> NodeReport {
        NodeReport {
            status: self.node.status(),
            first_index: self.node.first_index(),
            snapshot_index: self.node.snapshot().index,
            snapshots_installed: self.snapshots_installed,
            undecodable_messages: self.undecodable_messages,
            undecodable_snapshots: self.undecodable_snapshots,
            malformed_commands: self.malformed_commands,
            kv: self
                .kv
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

/// How the server carries out each action. It changes no membership, so it has no learners to
/// promote: membership outcomes and caught-up learners keep the dispatcher's default, nothing.
impl Effects for Server {
    // To the storage thread, in issue order; it acknowledges with `Event::Persisted`.
    fn persist(&mut self, write: Write) {
        let snapshot = write.install.as_ref().map(|i| self.install(&i.meta));
        let _ = self.storage.send(StorageOp::Write(write, snapshot));
    }

    // Sent before the write completes, which is safe: the engine holds back every message that
    // depends on an unacknowledged write.
    fn send(&mut self, message: Message) {
        self.router.send(&message);
    }

    fn apply(&mut self, entries: Entries) {
        for entry in &entries {
            self.apply_entry(entry);
        }
        if let Some(last) = entries.last() {
            self.feedback.push_back(Input::Applied(last.index));
        }
    }

    fn proposed(&mut self, result: Result<LogPosition, ProposeError>) {
        let reply = self
            .proposer
            .take()
            .expect("one outcome per proposal, same step");
        match result {
            Ok(position) => {
                let waiter = (position.term, reply);
                // Someone still waiting here lost its entry to another leader's.
                if let Some((_, lost)) = self.waiting.insert(position.index, waiter) {
                    let _ = lost.send(Reply::Retry);
                }
            }
            Err(ProposeError::NotLeader { leader }) => {
                let _ = reply.send(Reply::Redirect(leader));
            }
            // Back-pressure, a leadership transfer, or a refusal added in a later version
            // (`ProposeError` is `#[non_exhaustive]`): retry shortly.
            Err(_) => {
                let _ = reply.send(Reply::Retry);
            }
        }
    }

    // The state machine has applied the read index: serve from it as it is now.
    fn read_ready(&mut self, id: u64, _index: Index) {
        if let Some((key, reply)) = self.reads.remove(&id) {
            let _ = reply.send(Reply::Done(self.kv.get(&key).cloned()));
        }
    }

    fn read_failed(&mut self, id: u64, error: ReadError) {
        if let Some((_, reply)) = self.reads.remove(&id) {
            let _ = reply.send(match error {
                ReadError::NotLeader { leader } => Reply::Redirect(leader),
                _ => Reply::Retry,
            });
        }
    }

    fn compact_log(&mut self, upto: Index) {
        let _ = self.storage.send(StorageOp::Compact(upto));
    }

    fn read_snapshot_chunk(&mut self, request: ChunkRequest) {
        let _ = self.storage.send(StorageOp::ReadChunk(request));
    }

    fn write_snapshot_chunk(&mut self, chunk: ChunkWrite) {
        self.write_chunk(chunk);
    }

    fn drop_partial_snapshot(&mut self, index: Index, term: Term) {
        if self
            .partial
            .as_ref()
            .is_some_and(|p| (p.index, p.term) == (index, term))
        {
            self.partial = None;
        }
    }

    fn transfer(&mut self, outcome: TransferOutcome) {
        let reply = match outcome {
            TransferOutcome::Refused { .. } => self.transfer_request.take(),
            TransferOutcome::Done { .. } | TransferOutcome::Aborted { .. } => {
                self.transfer_waiter.take()
            }
        };
        if let Some(reply) = reply {
            let _ = reply.send(outcome);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansraft::{Config, DurableState, HardState, Membership};

    /// Node 1 of three, fresh, with nowhere to send.
    fn server() -> (Server, Receiver<StorageOp>) {
        let membership = Membership::with_voters([1, 2, 3]);
        let state = DurableState {
            hard_state: HardState::default(),
            snapshot: SnapshotMeta {
                index: 0,
                term: 0,
                membership,
            },
            entries: Vec::new(),
            applied: 0,
        };
        let node = Node::new(Config::new(1, 7), state, 1).expect("a fresh node");
        let (_, inbox) = std::sync::mpsc::channel();
        let (storage, disk) = std::sync::mpsc::channel();
        let halt = Arc::new(AtomicBool::new(false));
        let server = Server::new(node, Kv::default(), inbox, Router::default(), storage, halt);
        (server, disk)
    }

    /// The whole snapshot `data` of index 50 in one chunk from node 2, leader in term 5.
    fn whole_snapshot(data: &[u8]) -> Event {
        let message = Message {
            from: 2,
            to: 1,
            term: 5,
            body: Body::SnapshotChunk(Box::new(SnapshotChunk {
                index: 50,
                term: 5,
                offset: 0,
                data: Bytes::copy_from_slice(data),
                done: true,
                membership: Some(Membership::with_voters([1, 2, 3])),
                crc32c: crc32c::crc32c(data),
            })),
        };
        Event::Peer(Bytes::from(message.encode()))
    }

    #[test]
    fn a_checksummed_snapshot_that_does_not_decode_is_discarded_and_counted() {
        let (mut server, _disk) = server();
        let garbage = whole_snapshot(b"whole and checksummed, not a state machine");
        server.handle(garbage);
        let report = server.report();
        assert_eq!(report.undecodable_snapshots, 1);
        assert_eq!(report.snapshots_installed, 0);
        assert_eq!(report.snapshot_index, 0);
        assert!(server.partial.is_none());
        // The same transfer again is dropped without a second count; the node goes on.
        server.handle(whole_snapshot(
            b"whole and checksummed, not a state machine",
        ));
        assert_eq!(server.report().undecodable_snapshots, 1);
        server.handle(Event::Peer(Bytes::from_static(b"not a message")));
        assert_eq!(server.report().undecodable_messages, 1);
    }
}
