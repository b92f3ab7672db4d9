//! Snapshots in the multi-group world, as the single-group world takes and ships them: each
//! group's application snapshots its state machine every `snapshot_interval` applied entries
//! (made durable at once on the node's disk), the engine compacts the group's log behind it, a
//! leader's embedder reads chunks of it for a lagging follower, whose embedder assembles them
//! ([`crate::received_snapshot`]) and restores the state machine when the write installing the
//! snapshot is issued.

use super::step::in_group;
use super::world::MultiWorld;
use crate::checker::NodeView;
use crate::client::Reply;
use bytes::Bytes;
use sansraft::{ChunkRequest, ChunkWrite, Index, Input, SnapshotMeta, Term};
use sansraft_multi::GroupId;

impl MultiWorld {
    /// After a step that touched `group` on node `i`: the application snapshots the group if
    /// it applied `snapshot_interval` entries past its latest snapshot; the engine is told
    /// through the returned input.
    pub(super) fn maybe_take_snapshot(&mut self, i: usize, group: GroupId) -> Option<Input> {
        let interval = self.sc.raft.snapshot_interval;
        if interval == 0 {
            return None;
        }
        let gi = group as usize - 1;
        let node = &self.nodes[i];
        let index = node.applied[gi];
        let replica = node.host.as_ref()?.group(group)?;
        // The engine's latest snapshot may be a received one whose install is not yet durable:
        // never write a snapshot over it before it is.
        let store = node.disk.contents().group(group)?;
        let current = store.snapshot().0.index.max(replica.snapshot().index);
        if index < current + interval {
            return None;
        }
        let meta = replica.snapshot_meta_at(index)?;
        let data = node.kvs[gi].encode();
        let r =
            (self.checkers[gi].on_snapshot(i, &meta, &data)).map_err(|b| in_group(group, b.into()));
        let store = self.nodes[i].disk.contents_mut().group_mut(group)?;
        store.set_snapshot(meta.clone(), data);
        self.stats.snapshots += 1;
        self.record(r).then(|| Input::SnapshotTaken(Box::new(meta)))
    }

    /// The engine compacted `group`'s log up to `upto`.
    pub(super) fn compact_log(&mut self, i: usize, group: GroupId, upto: Index) {
        if let Some(store) = self.nodes[i].disk.contents_mut().group_mut(group) {
            store.compact(upto);
            self.stats.compactions += 1;
        }
    }

    /// A leader's embedder reads a chunk of `group`'s latest snapshot; none if the engine asks
    /// for an older snapshot than the disk holds (it has moved on).
    pub(super) fn read_chunk(
        &mut self,
        i: usize,
        group: GroupId,
        req: ChunkRequest,
    ) -> Option<Input> {
        let store = self.nodes[i].disk.contents().group(group)?;
        let (meta, data) = store.snapshot();
        if (meta.index, meta.term) != (req.index, req.term) {
            return None;
        }
        self.stats.chunks_read += 1;
        Some(Input::SnapshotChunkRead(req.answer_from(data)))
    }

    /// A follower's embedder stores a chunk of the snapshot it receives for `group`.
    pub(super) fn write_chunk(&mut self, i: usize, group: GroupId, w: &ChunkWrite) {
        let id = self.nodes[i].id;
        let r = (self.nodes[i].partials.entry(group).or_default()).write(w, id);
        self.record(r);
    }

    /// The engine gave up on the snapshot of `group` it was receiving.
    pub(super) fn drop_partial(&mut self, i: usize, group: GroupId, index: Index, term: Term) {
        if let Some(p) = self.nodes[i].partials.get_mut(&group) {
            p.drop_if(index, term);
        }
    }

    /// A write installing `meta` in `group` was issued on node `i`: the group's state machine is
    /// restored from the bytes received; returns them, to make durable with the write.
    pub(super) fn install(
        &mut self,
        i: usize,
        group: GroupId,
        view: &NodeView,
        meta: &SnapshotMeta,
    ) -> Option<Bytes> {
        let gi = group as usize - 1;
        let node = &mut self.nodes[i];
        let partial = node.partials.entry(group).or_default();
        let (kv, bytes) = match partial.install(view.id, view.witness, meta) {
            Ok(restored) => restored,
            Err((f, _)) => {
                self.violate(in_group(group, f));
                return None;
            }
        };
        node.kvs[gi] = kv;
        node.applied[gi] = meta.index;
        // Proposals at or below the snapshot will never be applied here.
        let covered: Vec<(GroupId, Index)> = (node.pending.range((group, 0)..=(group, meta.index)))
            .map(|(key, _)| *key)
            .collect();
        for key in covered {
            if let Some(p) = self.nodes[i].pending.remove(&key) {
                self.reply(p.client, p.seq, Reply::Overwritten);
            }
        }
        self.stats.installs += 1;
        let r = self.checkers[gi].on_install(i, view, meta, &bytes);
        self.record(r.map_err(|b| in_group(group, b.into())))
            .then_some(bytes)
    }
}
