//! Snapshot rules (§7): a snapshot covers a committed prefix (its last entry is the committed
//! entry at its index), every snapshot at one index holds the same state (state-machine safety
//! across snapshots), an installed snapshot is newer than what the follower applied (its state
//! machine never goes back), and an install replaces the log as the engine says.
//!
//! The log mirrors keep compacted entries, so the log rules keep checking the whole log.

use super::Rule;
use super::{fail, Check, Checker, NodeView};
use sansraft::{NodeId, SnapshotMeta, Write};

/// A digest of snapshot bytes (FNV-1a).
fn digest(data: &[u8]) -> u64 {
    let mut h = crate::fnv::Fnv::default();
    h.bytes(data);
    h.finish()
}

impl Checker {
    /// The snapshot covers the committed entry at its index, and holds the same state as any
    /// other snapshot at that index.
    fn check_snapshot_state(
        &mut self,
        i: usize,
        id: NodeId,
        meta: &SnapshotMeta,
        data: &[u8],
    ) -> Check {
        if self.committed.term(meta.index) != Some(meta.term) {
            return fail(Rule::StateMachineSafety, id, || {
                format!(
                    "snapshot at ({}, term {}) is not of the committed prefix (committed term \
                     there: {:?})",
                    meta.index,
                    meta.term,
                    self.committed.term(meta.index)
                )
            });
        }
        if self.nodes[i].witness {
            // A witness's snapshot is its metadata alone: no state to compare.
            return Ok(());
        }
        let d = digest(data);
        let known = *self.snapshot_digests.entry(meta.index).or_insert(d);
        if known != d {
            return fail(Rule::StateMachineSafety, id, || {
                format!(
                    "snapshot at index {} holds a different state than another snapshot there",
                    meta.index
                )
            });
        }
        Ok(())
    }

    /// The application of node `i` took a snapshot of its state machine.
    pub fn on_snapshot(&mut self, i: usize, meta: &SnapshotMeta, data: &[u8]) -> Check {
        let id = i as NodeId + 1;
        if meta.index > self.nodes[i].applied {
            return fail(Rule::StateMachineSafety, id, || {
                format!(
                    "snapshot at {} beyond the applied index {}",
                    meta.index, self.nodes[i].applied
                )
            });
        }
        self.check_snapshot_state(i, id, meta, data)
    }

    /// Node `i` installs a snapshot it received (the write issued in this step carries it).
    pub fn on_install(
        &mut self,
        i: usize,
        v: &NodeView,
        meta: &SnapshotMeta,
        data: &[u8],
    ) -> Check {
        let applied = self.nodes[i].applied;
        if meta.index <= applied {
            return fail(Rule::StateMachineSafety, v.id, || {
                format!(
                    "installed a snapshot at {} not newer than the {applied} entries the state \
                     machine applied: its state goes back",
                    meta.index
                )
            });
        }
        self.nodes[i].witness = v.witness;
        self.check_snapshot_state(i, v.id, meta, data)?;
        let retained = self.nodes[i].log.term(meta.index) == Some(meta.term);
        let committed = &self.committed;
        let t = &mut self.nodes[i];
        if !retained {
            t.log.copy_prefix(committed, meta.index);
        }
        t.applied = meta.index;
        Ok(())
    }

    /// Storage made an install write durable: the durable log is replaced like the log was.
    pub(super) fn on_durable_install(&mut self, i: usize, write: &Write) {
        let Some(install) = &write.install else {
            return;
        };
        if !install.retain_log {
            let committed = &self.committed;
            self.nodes[i]
                .durable
                .copy_prefix(committed, install.meta.index);
        }
    }
}
