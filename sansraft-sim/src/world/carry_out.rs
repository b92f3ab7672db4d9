//! Carrying out one node's actions in order, through the test kit's dispatcher: storage (under
//! the checker's write rules), network, application, client answers and snapshot transfer I/O.
//! The first violation stops the step's remaining actions.

use super::World;
use crate::checker::{Check, NodeView};
use crate::event::Event;
use crate::violation::Failure;
use sansraft::{
    Action, ChunkRequest, ChunkWrite, Codec, ConfChangeError, Entries, EntryKind, Index, Input,
    LogPosition, Membership, Message, NodeId, ProposeError, ReadError, Term, TransferOutcome,
    Write,
};
use sansraft_testkit::{dispatch, Effects};
use std::collections::VecDeque;

/// One step of node `i`: its view after the step, the inputs to feed back, and whether every
/// action so far passed the checks.
struct HostEffects<'a> {
    world: &'a mut World,
    i: usize,
    view: &'a NodeView,
    next: &'a mut VecDeque<Input>,
    applied_to: Option<Index>,
    ok: bool,
}

impl World {
    /// Carries out one step's actions in order, queueing the inputs to feed back in `next`.
    pub(super) fn carry_out(
        &mut self,
        i: usize,
        view: &NodeView,
        actions: &mut Vec<Action>,
        next: &mut VecDeque<Input>,
    ) {
        let mut effects = HostEffects {
            world: self,
            i,
            view,
            next,
            applied_to: None,
            ok: true,
        };
        for action in actions.drain(..) {
            dispatch(action, &mut effects);
            if !effects.ok {
                return;
            }
        }
        // A synchronous node counted the entries applied as it handed them out.
        if let Some(index) = effects.applied_to.filter(|_| !effects.world.synchronous(i)) {
            effects.next.push_back(Input::Applied(index));
        }
    }
}

impl Effects for HostEffects<'_> {
    fn persist(&mut self, write: Write) {
        let (w, i, view) = (&mut *self.world, self.i, self.view);
        let mut r: Check = w.checker.on_write(i, view, &write).map_err(Failure::from);
        w.stats.writes += 1;
        let mut install_data = None;
        if let Some(install) = &write.install {
            let (r2, data) = w.install(i, view, &install.meta);
            r = r.and(r2);
            install_data = Some(data);
        }
        let synchronous = w.synchronous(i);
        let host = &mut w.hosts[i];
        if let Some(tear) = host.crash_on_write.take() {
            // Before the write can be durable (storage latency is at least 1 µs), or, for a
            // synchronous node, right after it.
            w.queue.push(w.now, Event::Crash { node: i, tear });
        }
        if synchronous {
            let (checker, id) = (&mut w.checker, host.id);
            let mut durable: Check = Ok(());
            host.disk.write_now((write, install_data), &mut |_, w| {
                durable = checker.on_durable(i, id, w).map_err(Failure::from);
            });
            self.ok = w.record(r.and(durable));
            return;
        }
        let timer = host
            .disk
            .submit((write, install_data), w.now, &mut w.rng_disk, &w.storage);
        if let Some(timer) = timer {
            w.queue.push(
                timer.at,
                Event::StorageDone {
                    node: i,
                    gen: timer.gen,
                },
            );
        }
        self.ok = w.record(r);
    }

    fn send(&mut self, msg: Message) {
        let (w, i, view) = (&mut *self.world, self.i, self.view);
        let r = w
            .checker
            .on_send(i, view, &msg)
            .and(w.append_rules.on_send(i, view.id, &msg));
        w.send(msg);
        self.ok = w.record(r);
    }

    fn apply(&mut self, entries: Entries) {
        let (w, i, view) = (&mut *self.world, self.i, self.view);
        for entry in &entries {
            let r = w.checker.on_apply(i, view, entry);
            self.ok = w.record(r);
            if !self.ok {
                break;
            }
            if entry.kind == EntryKind::Membership && entry.index > w.committed_config.0 {
                if let Ok(m) = <Membership as Codec>::decode(&entry.data) {
                    w.committed_config = (entry.index, m);
                    w.liveness_view = None;
                }
            }
            let applied = w.hosts[i].kv.apply(entry);
            w.hosts[i].applied = (entry.index, entry.term);
            w.resolve_proposal(i, entry, applied);
        }
        self.applied_to = entries.last().map(|e| e.index);
    }

    fn proposed(&mut self, result: Result<LogPosition, ProposeError>) {
        self.world.on_proposed(self.i, result);
    }

    fn membership_proposed(&mut self, result: Result<LogPosition, ConfChangeError>) {
        self.world.on_membership_proposed(result);
    }

    fn learner_caught_up(&mut self, learner: NodeId, match_index: Index) {
        self.world.note(&format!(
            "learner n{learner} caught up (match {match_index})"
        ));
    }

    fn read_ready(&mut self, id: u64, index: Index) {
        self.ok = self.world.on_read_ready(self.i, id, index);
    }

    fn read_failed(&mut self, id: u64, error: ReadError) {
        self.world.on_read_failed(self.i, id, error);
    }

    fn compact_log(&mut self, upto: Index) {
        self.world.stats.compactions += 1;
        self.world.hosts[self.i].disk.contents_mut().compact(upto);
    }

    fn read_snapshot_chunk(&mut self, req: ChunkRequest) {
        if let Some(read) = self.world.read_chunk(self.i, req) {
            self.next.push_back(Input::SnapshotChunkRead(read));
        }
    }

    fn write_snapshot_chunk(&mut self, w: ChunkWrite) {
        let r = self.world.hosts[self.i].partial.write(&w, self.view.id);
        self.ok = self.world.record(r);
    }

    fn drop_partial_snapshot(&mut self, index: Index, term: Term) {
        self.world.hosts[self.i].partial.drop_if(index, term);
    }

    fn transfer(&mut self, outcome: TransferOutcome) {
        self.world.on_transfer_outcome(self.i, outcome);
        self.ok = self.world.violation.is_none();
    }
}
