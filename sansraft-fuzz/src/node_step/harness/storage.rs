//! The storage model: writes become durable in order and are acknowledged; the application's
//! snapshots; crash-restarts from what is durable.

use super::*;

impl Harness {
    /// The application snapshots its state at the applied index, stores it durably with its
    /// metadata, and reports it.
    pub(super) fn take_snapshot(&mut self) {
        let index = self.node.status().applied;
        // As sansraft-sim's application does: never write a snapshot over a received one whose
        // install is not yet durable (the applied index may come from it).
        if index <= self.store.durable().snapshot.index || self.store.installing() {
            return;
        }
        let Some(meta) = self.node.snapshot_meta_at(index) else {
            return;
        };
        let mut data = Vec::new();
        for (i, e) in self.applied.range(..=index) {
            data.extend_from_slice(&i.to_le_bytes());
            data.extend_from_slice(&e.term.to_le_bytes());
        }
        self.store.snapshot_taken(meta.clone(), Bytes::from(data));
        self.durable_entries.insert((meta.index, meta.term));
        let bogus = self.node.counters().bogus_snapshot;
        self.step(Input::SnapshotTaken(Box::new(meta)));
        assert_eq!(
            self.node.counters().bogus_snapshot,
            bogus,
            "the application's snapshot at its applied index was refused"
        );
    }

    /// The term of the durable entry at `index` (or of the durable snapshot's last entry).
    pub(super) fn durable_term(&self, index: Index) -> Option<Term> {
        let durable = self.store.durable();
        if index == durable.snapshot.index {
            return Some(durable.snapshot.term);
        }
        durable
            .entries
            .binary_search_by_key(&index, |e| e.index)
            .ok()
            .map(|i| durable.entries[i].term)
    }

    pub(super) fn ack(&mut self) {
        if let Some(token) = self.acks.pop_front() {
            self.remember(token);
            self.step(Input::Persisted(token));
        }
    }

    pub(super) fn remember(&mut self, token: WriteToken) {
        if self.old_tokens.len() == OLD_TOKENS {
            self.old_tokens.pop_front();
        }
        self.old_tokens.push_back(token);
    }

    /// The oldest written write becomes durable, after the checks of what it changes.
    pub(super) fn persist_one(&mut self) {
        let Some(write) = self.store.oldest_pending() else {
            return;
        };
        let durable = self.store.durable();
        if let Some(install) = &write.install {
            let meta = &install.meta;
            assert!(
                meta.index >= durable.snapshot.index,
                "a snapshot install moves the snapshot back from {} to {}",
                durable.snapshot.index,
                meta.index
            );
            self.durable_entries.insert((meta.index, meta.term));
        }
        if let Some(hs) = write.hard_state {
            if let Err(breach) = durable_hard_state_rule(ME, durable.hard_state, hs) {
                panic!("{breach}");
            }
        }
        if let Some(first) = write.entries.first() {
            // Where the log ends once this write's install (if any) is carried out.
            let last_entry = durable.entries.last().map(|e| e.index);
            let last = match &write.install {
                Some(i) if !i.retain_log => i.meta.index,
                Some(i) => last_entry.map_or(i.meta.index, |l| l.max(i.meta.index)),
                None => last_entry.unwrap_or(durable.snapshot.index),
            };
            assert!(
                first.index <= last + 1,
                "a write leaves a gap: entries from {} after a log ending at {last}",
                first.index,
            );
            for e in &write.entries {
                self.durable_entries.insert((e.index, e.term));
            }
        }
        let token = self.store.persist_one().expect("a write is pending");
        self.acks.push_back(token);
    }

    /// The process crashes and restarts from its durable state with a new incarnation.
    pub(super) fn restart(&mut self) {
        self.reads.clear();
        // The node forgets the reads it was asked for: their clients time out and retry.
        self.client_reads.clear();
        for token in std::mem::take(&mut self.acks) {
            self.remember(token);
        }
        self.max_seq = 0;
        self.ticks = 0;
        self.lease = Lease::default();
        self.stale.restart();
        let (state, _, incarnation) = self.store.restart();
        self.node = Node::new(self.setup.config.clone(), state, incarnation)
            .unwrap_or_else(|e| panic!("the node refused to restart from its durable state: {e}"));
        let durable = self.store.durable();
        let commit = durable.hard_state.commit.max(durable.snapshot.index);
        self.applied.retain(|&index, _| index <= commit);
        self.apply_next = durable.snapshot.index + 1;
        assert_eq!(
            self.node.term(),
            self.store.durable().hard_state.term,
            "§5.1: a restarted node starts at its durable term"
        );
        self.term = self.node.term();
        self.last_sent.clear();
        if let Err(v) = self.node.check_invariants() {
            panic!("{v} after a restart");
        }
        self.check_node();
    }
}
