//! One node's actions carried out on the cluster, each shown to the safety checker if the
//! cluster is checked ([`Cluster::checked`]).

use super::{Cluster, Peer};
use crate::checker::NodeView;
use crate::dispatch::Effects;
use sansraft::{
    ChunkRequest, ChunkWrite, ConfChangeError, Entries, Index, Input, Io, LogPosition, Message,
    NodeId, ProposeError, ReadError, Term, TransferOutcome, Write,
};

/// One node's actions carried out on the cluster; `next` collects the inputs to feed back.
pub(super) struct CarryOut<'a> {
    pub(super) id: NodeId,
    pub(super) cluster: &'a mut Cluster,
    /// The node's state after the step whose actions these are.
    pub(super) view: NodeView,
    pub(super) next: Vec<Input>,
}

impl CarryOut<'_> {
    fn peer(&mut self) -> &mut Peer {
        self.cluster.peer(self.id)
    }

    fn i(&self) -> usize {
        (self.id - 1) as usize
    }

    /// True if the node counts its writes durable and its entries applied as it hands them out.
    fn synchronous(&mut self) -> bool {
        self.peer().config.io == Io::Synchronous
    }
}

impl Effects for CarryOut<'_> {
    fn persist(&mut self, write: Write) {
        let (i, view) = (self.i(), self.view);
        self.cluster.watch(|c| c.on_write(i, &view, &write));
        let install = write.install.as_ref().map(|i| i.meta.clone());
        let format = self.cluster.snapshot_format;
        let peer = self.peer();
        if let Some(snapshot) = peer.store.write(write) {
            // The state machine is restored from the snapshot being installed.
            let meta = install.expect("only installs carry a snapshot");
            peer.applied = format.decode(&snapshot);
            peer.applied_index = meta.index;
            self.cluster
                .watch(|c| c.on_install(i, &view, &meta, &snapshot));
        }
        if self.synchronous() {
            // The node counts the write durable once carried out: it is, before what follows.
            while self.cluster.persist_one(self.id).is_some() {}
        } else if self.cluster.auto_persist {
            // Synchronous storage: this write, and any held back before it, is durable now.
            while let Some(ack) = self.cluster.persist_one(self.id) {
                self.next.push(ack);
            }
        }
    }

    fn send(&mut self, message: Message) {
        let (i, view) = (self.i(), self.view);
        self.cluster.watch(|c| c.on_send(i, &view, &message));
        self.cluster.sent_log.push(message.clone());
        self.cluster.network.push_back(message);
    }

    fn apply(&mut self, entries: Entries) {
        let (i, view) = (self.i(), self.view);
        for e in &entries {
            self.cluster.watch(|c| c.on_apply(i, &view, e));
        }
        let peer = self.peer();
        for e in &entries {
            assert_eq!(
                e.index,
                peer.applied_index + 1,
                "node {} applies entries in order",
                self.id
            );
            peer.applied_index = e.index;
        }
        peer.applied.extend(entries);
        let last = peer.applied_index;
        if !self.synchronous() {
            self.next.push(Input::Applied(last));
        }
    }

    fn proposed(&mut self, result: Result<LogPosition, ProposeError>) {
        self.cluster.proposals.push((self.id, result));
    }

    fn membership_proposed(&mut self, result: Result<LogPosition, ConfChangeError>) {
        self.cluster.conf_changes.push((self.id, result));
    }

    fn learner_caught_up(&mut self, learner: NodeId, _: Index) {
        self.cluster.caught_up.push((self.id, learner));
    }

    fn read_ready(&mut self, read: u64, index: Index) {
        // Thesis §6.4: a read is served once the state machine has applied its read index.
        let (i, applied) = (self.i(), self.peer().applied_index);
        if let Some((_, bound)) = self.cluster.stale_read.filter(|&(id, _)| id == read) {
            // A bounded-staleness read: everything committed before the node's clock read
            // `now − bound` is applied.
            let since = self.cluster.tick_time(i, u64::from(bound));
            self.cluster
                .watch(|c| c.on_stale_read_served(read, i, applied, since));
            self.cluster.read_outcomes.push((self.id, read, Ok(index)));
            return;
        }
        assert!(
            applied >= index,
            "node {} serves read {read} at {index} having applied {applied}",
            self.id
        );
        self.cluster.watch(|c| c.on_read_served(read, i, applied));
        self.cluster.read_outcomes.push((self.id, read, Ok(index)));
    }

    fn read_failed(&mut self, read: u64, error: ReadError) {
        self.cluster.watch(|c| {
            c.on_read_failed(read);
            Ok(())
        });
        self.cluster.read_outcomes.push((self.id, read, Err(error)));
    }

    fn compact_log(&mut self, upto: Index) {
        self.cluster.compactions.push((self.id, upto));
        self.peer().store.compact(upto);
    }

    fn read_snapshot_chunk(&mut self, request: ChunkRequest) {
        let read = self.peer().store.read_chunk(&request);
        if self.cluster.auto_read {
            self.next.push(Input::SnapshotChunkRead(read));
        } else {
            self.cluster.reads.push_back((self.id, read));
        }
    }

    fn write_snapshot_chunk(&mut self, chunk: ChunkWrite) {
        self.peer().store.write_chunk(&chunk);
    }

    fn drop_partial_snapshot(&mut self, index: Index, term: Term) {
        self.peer().store.drop_partial(index, term);
    }

    fn transfer(&mut self, outcome: TransferOutcome) {
        self.cluster.transfers.push((self.id, outcome));
    }
}
