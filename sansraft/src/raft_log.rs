//! The log aggregate: every position in the log has its one owner here, and every change to
//! the log is one call.
//!
//! ```text
//! compacted ≤ snapshot ≤ applied < apply_next ≤ min(committed, durable) + 1
//!                        committed, durable ≤ last;  unstable_from ≤ last + 1
//! ```
//!
//! The mutators are the log's events: entries appended, a conflicting suffix truncated (§5.3),
//! the commit index advanced, a snapshot taken (§7) or installed from the leader, a write issued
//! or persisted, progress applied. Each keeps all positions consistent, so no caller updates
//! one position and forgets another.

use crate::codec::Codec;
use crate::config_history::{decode_membership, ConfigHistory};
use crate::entries::Entries;
use crate::log::Log;
use crate::snapshot_transfer::SnapshotInstall;
use crate::types::{Entry, EntryKind, Index, Membership, SnapshotMeta, Term};
use bytes::Bytes;
use std::collections::VecDeque;

#[derive(Clone, Debug)]
pub(crate) struct RaftLog {
    /// The retained entries, the compaction point and the commit index.
    entries: Log,
    /// The configuration at the compaction point and every membership entry after it; the
    /// latest is in force (thesis §4.1).
    configs: ConfigHistory,
    /// The latest snapshot (reported by the application or installed from a leader).
    /// Invariant: `first_index() - 1 ≤ snapshot.index ≤ applied`.
    snapshot: SnapshotMeta,
    /// A received snapshot to install with the next write, boxed as the write carries it.
    install: Option<Box<SnapshotInstall>>,
    /// The first index not yet handed out in a write. Invariant: `≤ last_index() + 1`.
    unstable_from: Index,
    /// Invariant: the log prefix up to here is durable and equal to the in-memory log.
    durable: Index,
    /// Writes issued and not yet acknowledged, oldest first: their sequence number and the
    /// last index each leaves durable, lowered if a later truncation removed entries from
    /// memory (they may still be on disk, but no longer count).
    writes: VecDeque<(u64, Index)>,
    /// The next index to hand out in an apply action.
    /// Invariant: `applied < apply_next ≤ min(committed, durable) + 1`.
    apply_next: Index,
    /// The highest index the application reported applied.
    applied: Index,
}

impl RaftLog {
    /// Gives back spare capacity (an idle group's memory).
    pub(crate) fn shrink(&mut self) {
        self.entries.shrink();
        self.configs.shrink();
        self.writes.shrink_to_fit();
    }

    /// The log as a node restarts with it: `entries` follow `snapshot` and are all durable;
    /// `configs` holds the configuration of the snapshot and of every membership entry.
    pub(crate) fn new(
        snapshot: SnapshotMeta,
        entries: Vec<Entry>,
        configs: ConfigHistory,
        committed: Index,
        applied: Index,
    ) -> Self {
        let last = snapshot.index + entries.len() as Index;
        RaftLog {
            entries: Log::new(snapshot.index, snapshot.term, entries, committed),
            configs,
            snapshot,
            install: None,
            unstable_from: last + 1,
            durable: last,
            writes: VecDeque::new(),
            apply_next: applied + 1,
            applied,
        }
    }

    pub(crate) fn first_index(&self) -> Index {
        self.entries.first_index()
    }

    pub(crate) fn last_index(&self) -> Index {
        self.entries.last_index()
    }

    pub(crate) fn last_term(&self) -> Term {
        self.entries.last_term()
    }

    pub(crate) fn committed(&self) -> Index {
        self.entries.committed()
    }

    /// The last index the log no longer holds (its term is still known).
    pub(crate) fn compacted_to(&self) -> Index {
        self.entries.snapshot_index()
    }

    /// The last index durable in the local log.
    pub(crate) fn durable(&self) -> Index {
        self.durable
    }

    /// The highest index the application reported applied.
    pub(crate) fn applied(&self) -> Index {
        self.applied
    }

    /// The latest snapshot's metadata.
    pub(crate) fn snapshot(&self) -> &SnapshotMeta {
        &self.snapshot
    }

    /// True while a received snapshot waits to be handed out in the next write: the applied
    /// index counts it already, the state machine does not hold it yet.
    pub(crate) fn install_staged(&self) -> bool {
        self.install.is_some()
    }

    /// The configuration in force: the latest in the log, committed or not (thesis §4.1).
    pub(crate) fn membership(&self) -> &Membership {
        self.configs.latest()
    }

    pub(crate) fn configs(&self) -> &ConfigHistory {
        &self.configs
    }

    pub(crate) fn term(&self, index: Index) -> Option<Term> {
        self.entries.term(index)
    }

    pub(crate) fn is_up_to_date(&self, last_index: Index, last_term: Term) -> bool {
        self.entries.is_up_to_date(last_index, last_term)
    }

    pub(crate) fn first_index_of_term_run(&self, index: Index, term: Term, floor: Index) -> Index {
        self.entries.first_index_of_term_run(index, term, floor)
    }

    pub(crate) fn last_index_of_term(&self, term: Term) -> Option<Index> {
        self.entries.last_index_of_term(term)
    }

    pub(crate) fn slice(&self, lo: Index, hi: Index, max_bytes: u64) -> (Entries, u64) {
        self.entries.slice(lo, hi, max_bytes)
    }

    pub(crate) fn iter_from(&self, index: Index) -> impl Iterator<Item = &Entry> {
        self.entries.iter_from(index)
    }

    /// Appends a run of entries at the end (the caller guarantees index and term order and
    /// that membership entries decode). A configuration is in force from the moment its entry
    /// is appended (thesis §4.1); returns whether the run held one.
    pub(crate) fn append(&mut self, run: Entries) -> bool {
        let mut membership = false;
        for entry in run.iter().filter(|e| e.kind == EntryKind::Membership) {
            let config = decode_membership(entry)
                .expect("membership entries are validated before they are appended");
            self.configs.push(entry.index, config);
            membership = true;
        }
        self.entries.append(run);
        membership
    }

    /// Appends one entry of `term` that carries no command: empty, or a new configuration.
    pub(crate) fn push(&mut self, term: Term, config: Option<Membership>) -> Index {
        let index = self.last_index() + 1;
        let (kind, data) = match &config {
            Some(config) => (EntryKind::Membership, Bytes::from(config.encode())),
            None => (EntryKind::Empty, Bytes::new()),
        };
        self.entries.push(Entry {
            term,
            index,
            kind,
            data,
        });
        if let Some(config) = config {
            self.configs.push(index, config);
        }
        index
    }

    /// Removes every entry from `at` on (§5.3: a conflict with the leader; never a committed
    /// entry). Their configurations no longer apply (thesis §4.1) unless `keep_configs` (only
    /// the truncated-config-stays canary); they no longer count as durable, whatever earlier
    /// writes say, until a later write covers the new ones; the next write starts at `at`.
    pub(crate) fn truncate(&mut self, at: Index, keep_configs: bool) {
        self.entries.truncate_from(at);
        if !keep_configs {
            self.configs.truncate_from(at);
        }
        self.forget_durable_from(at);
        self.unstable_from = self.unstable_from.min(at);
    }

    fn forget_durable_from(&mut self, at: Index) {
        let keep = at.saturating_sub(1);
        self.durable = self.durable.min(keep);
        for (_, last) in &mut self.writes {
            *last = (*last).min(keep);
        }
    }

    /// Advances the commit index to `index` (never lowers it).
    pub(crate) fn commit_to(&mut self, index: Index) {
        self.entries.commit_to(index);
    }

    /// The application took the snapshot `meta` (checked by the caller to be newer, applied,
    /// and to match the log): the log is compacted behind it, keeping `keep_entries` entries
    /// before it for followers that lag a little. Returns the index compacted to, if any.
    pub(crate) fn snapshot_taken(
        &mut self,
        meta: SnapshotMeta,
        keep_entries: u64,
    ) -> Option<Index> {
        self.snapshot = meta;
        let upto = self.snapshot.index.saturating_sub(keep_entries);
        if upto < self.first_index() {
            return None;
        }
        self.entries.compact_to(upto);
        self.configs.compact_to(upto);
        Some(upto)
    }

    /// Installs a snapshot received from the leader, newer than the commit index (§7), staged
    /// for the next write. If the log holds the snapshot's last entry with the same term, the
    /// entries after it are kept (Log Matching: they follow the same prefix), with their
    /// configurations; otherwise the whole log goes.
    pub(crate) fn install_snapshot(&mut self, meta: SnapshotMeta) {
        let index = meta.index;
        let retain_log = self.entries.term(index) == Some(meta.term);
        if retain_log {
            // (Without the accept-stale-snapshot canary, `index` is above the commit index.)
            self.entries.commit_to(index);
            self.entries.compact_to(index);
            self.configs.compact_to(index);
        } else {
            #[cfg(feature = "canary")]
            if index <= self.entries.committed() {
                // Only the accept-stale-snapshot canary gets here.
                self.entries.reset_unchecked(index, meta.term);
            }
            self.entries.reset(index, meta.term);
            self.configs.reset(index, meta.membership.clone());
            self.unstable_from = index + 1;
        }
        // Entries after the snapshot count as durable again only once the install is: nothing
        // past it may be applied before the state machine holds the snapshot.
        self.forget_durable_from(index + 1);
        self.apply_next = index + 1;
        self.applied = index;
        self.snapshot = meta.clone();
        self.install = Some(Box::new(SnapshotInstall { meta, retain_log }));
    }

    /// Whether the log has something for the next write: entries not yet written, or a
    /// snapshot to install.
    pub(crate) fn has_unwritten(&self) -> bool {
        self.unstable_from <= self.last_index() || self.install.is_some()
    }

    /// Hands out the write numbered `seq`: the snapshot to install, if any, and the entries not
    /// yet written (a suffix within one run of the log is that run, shared).
    pub(crate) fn write_issued(&mut self, seq: u64) -> (Option<Box<SnapshotInstall>>, Entries) {
        let last = self.last_index();
        let entries = if self.unstable_from <= last {
            self.entries.slice(self.unstable_from, last, u64::MAX).0
        } else {
            Entries::new()
        };
        self.unstable_from = last + 1;
        self.writes.push_back((seq, last));
        (self.install.take(), entries)
    }

    /// Every write up to `seq` is durable (writes complete in order).
    pub(crate) fn persisted(&mut self, seq: u64) {
        while let Some(&(s, last)) = self.writes.front() {
            if s > seq {
                break;
            }
            self.writes.pop_front();
            self.durable = last;
        }
    }

    /// The application applied up to `index`. False, changing nothing, if `index` was never
    /// handed out for applying.
    pub(crate) fn applied_to(&mut self, index: Index) -> bool {
        if index >= self.apply_next {
            return false;
        }
        self.applied = self.applied.max(index);
        true
    }

    /// Hands `apply` the entries that may be applied now, one run of the log at a time (so each
    /// shares its run), at most `max_bytes` in all (at least one run if any). Only committed
    /// entries that are also durable locally, so the application never runs ahead of what this
    /// node's log will hold after a crash.
    #[inline]
    pub(crate) fn take_applicable(&mut self, max_bytes: u64, apply: impl FnMut(Entries)) {
        if self.apply_next <= self.committed().min(self.durable) {
            self.hand_out_applicable(max_bytes, apply);
        }
    }

    fn hand_out_applicable(&mut self, max_bytes: u64, mut apply: impl FnMut(Entries)) {
        let hi = self.committed().min(self.durable);
        let mut spent = 0;
        while self.apply_next <= hi {
            let (run, bytes) =
                self.entries
                    .slice_of_run(self.apply_next, hi, max_bytes.saturating_sub(spent));
            let Some(last) = run.last() else {
                break;
            };
            if spent > 0 && spent + bytes > max_bytes {
                break;
            }
            spent += bytes;
            self.apply_next = last.index + 1;
            apply(run);
        }
    }

    /// The invariants on the fields above, for [`crate::Node::check_invariants`].
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        let last = self.last_index();
        let commit = self.committed();
        if self.compacted_to() > commit {
            return Err("snapshot index above commit index");
        }
        if commit > last {
            return Err("commit index above last log index");
        }
        if self.snapshot.index + 1 < self.first_index() || self.snapshot.index > self.applied {
            return Err("snapshot not within [log start, applied index]");
        }
        if self.applied >= self.apply_next {
            return Err("applied index above what was handed out for applying");
        }
        if self.apply_next > commit + 1 {
            return Err("entries handed out for applying beyond the commit index");
        }
        if self.apply_next > self.durable + 1 && self.apply_next > self.compacted_to() + 1 {
            return Err("entries handed out for applying that are not durable");
        }
        if self.unstable_from > last + 1 {
            return Err("unstable suffix starts beyond the log");
        }
        if self.durable > last {
            return Err("durable log prefix extends beyond the in-memory log");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_with(last: Index) -> RaftLog {
        let entries = (1..=last)
            .map(|index| Entry {
                term: 1,
                index,
                kind: EntryKind::Normal,
                data: Bytes::new(),
            })
            .collect();
        let snapshot = SnapshotMeta::default();
        let configs = ConfigHistory::new(0, Membership::default());
        RaftLog::new(snapshot, entries, configs, 0, 0)
    }

    #[test]
    fn truncation_lowers_what_earlier_writes_made_durable() {
        let mut l = log_with(10);
        l.push(1, None);
        let (_, first) = l.write_issued(1);
        assert_eq!(first.len(), 1);
        l.truncate(7, false);
        for _ in 7..=8 {
            l.push(2, None);
        }
        let (_, second) = l.write_issued(2);
        assert_eq!(second.len(), 2, "the write starts at the truncation");
        l.persisted(1);
        assert_eq!(l.durable(), 6, "entries 7..=11 were overwritten in memory");
        l.persisted(2);
        assert_eq!(l.durable(), 8);
    }
}
