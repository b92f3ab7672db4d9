//! The application's side of a snapshot a follower receives, as both worlds' embedders carry
//! it out: the bytes assembled chunk by chunk (lost on a crash), then, when the write that
//! installs the snapshot is issued, the state machine restored from them; and the state
//! machine a restart restores from the durable snapshot.

use crate::kv::KvStore;
use crate::violation::{Failure, ViolationKind};
use bytes::Bytes;
use sansraft::{ChunkWrite, Index, NodeId, SnapshotMeta, Term};

/// A snapshot being received: its identity and the bytes so far.
#[derive(Clone, Debug, Default)]
pub(crate) struct Partial(Option<((Index, Term), Vec<u8>)>);

impl Partial {
    /// Stores a chunk: the first of a snapshot starts it afresh, any other must continue it.
    pub(crate) fn write(&mut self, w: &ChunkWrite, node: NodeId) -> Result<(), Failure> {
        if w.offset == 0 {
            self.0 = Some(((w.index, w.term), Vec::new()));
        }
        match self.0.as_mut() {
            Some((id, bytes)) if *id == (w.index, w.term) && bytes.len() as u64 == w.offset => {
                bytes.extend_from_slice(&w.data);
                Ok(())
            }
            _ => Err(Failure::new(
                ViolationKind::Panic,
                Some(node),
                format!(
                    "snapshot chunk {}@{} offset {} does not continue the partial snapshot",
                    w.index, w.term, w.offset
                ),
            )),
        }
    }

    /// The engine gave up on the snapshot `index`@`term`.
    pub(crate) fn drop_if(&mut self, index: Index, term: Term) {
        if self.0.as_ref().is_some_and(|(id, _)| *id == (index, term)) {
            self.0 = None;
        }
    }

    /// Forgets what was received (a crash).
    pub(crate) fn clear(&mut self) {
        self.0 = None;
    }

    /// The write installing `meta` was issued: the state machine restored from the bytes
    /// received, and the bytes (to make durable with the write). A witness receives no bytes
    /// and keeps no state machine: it installs the metadata alone. On failure, the bytes
    /// received, if any.
    pub(crate) fn install(
        &mut self,
        node: NodeId,
        witness: bool,
        meta: &SnapshotMeta,
    ) -> Result<(KvStore, Bytes), (Failure, Bytes)> {
        let bytes = match self.0.take() {
            _ if witness => return Ok((KvStore::default(), Bytes::new())),
            Some((id, bytes)) if id == (meta.index, meta.term) => Bytes::from(bytes),
            _ => {
                let detail = format!(
                    "installing snapshot {}@{} that was never received",
                    meta.index, meta.term
                );
                let f = Failure::new(ViolationKind::Panic, Some(node), detail);
                return Err((f, Bytes::new()));
            }
        };
        match KvStore::decode(&bytes, meta.index) {
            Some(kv) => Ok((kv, bytes)),
            None => {
                let detail = format!(
                    "installed snapshot {}@{} does not decode",
                    meta.index, meta.term
                );
                let f = Failure::new(ViolationKind::StateMachineSafety, Some(node), detail);
                Err((f, bytes))
            }
        }
    }
}

/// The state machine a restarted node restores from its durable snapshot `snapshot` and its
/// bytes `data`, before replaying the log after it. A witness keeps no state machine (its
/// snapshots are metadata alone).
pub(crate) fn restore(
    node: NodeId,
    witness: bool,
    snapshot: &SnapshotMeta,
    data: &Bytes,
) -> Result<KvStore, Failure> {
    match KvStore::decode(data, snapshot.index) {
        Some(kv) => Ok(kv),
        None if snapshot.index == 0 || witness => Ok(KvStore::default()),
        None => Err(Failure::new(
            ViolationKind::StateMachineSafety,
            Some(node),
            "the durable snapshot does not decode".into(),
        )),
    }
}
