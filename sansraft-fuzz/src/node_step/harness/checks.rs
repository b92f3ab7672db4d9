//! The oracle checks on what the node was told, what it wrote, sent and applied, and its own
//! invariants.

use super::*;

impl Harness {
    /// The models of what the node was told, once it stepped the message `d`.
    pub(super) fn on_delivered(&mut self, d: Delivered, before: &Status) {
        let accepted = ignored(self.node.counters()) == d.ignored;
        let s = self.node.status();
        if let (Some(round), true) = (d.round_ack, accepted) {
            // A round of the term led, acknowledged: it vouches for the tick the round was
            // sent at (a round never seen sent: for now, as a later round would).
            if before.role == Role::Leader
                && s.role == Role::Leader
                && d.term == s.term
                && round > 0
            {
                let now = self.ticks;
                let lease = self.lease.of(s.term);
                let sent = lease.sent.range(round..).next().map_or(now, |(_, &t)| t);
                let at = lease.acked.entry(d.from).or_insert(sent);
                *at = (*at).max(sent);
            }
        }
        if s.role == Role::Leader || s.term != d.term {
            return;
        }
        if let Some(commit) = d.heartbeat_commit {
            let vouched = self.vouched.entry(d.term).or_insert(0);
            *vouched = (*vouched).max(commit.min(s.last_index));
        }
        let Some(a) = d.append else {
            return;
        };
        let first = self.node.first_index();
        let holds =
            |index: Index, term: Term| index < first || self.node.log_term(index) == Some(term);
        let holds_all = a.entries.iter().all(|e| holds(e.index, e.term));
        // §5.3: reply false only if the log has no entry at prev_index whose term matches.
        if d.held_prev && accepted {
            assert!(
                holds_all,
                "§5.3: refused an append of term {} after ({}, {}), an entry its log held \
                 (entries {:?}; log now ends at {}, commit {})",
                d.term,
                a.prev_index,
                a.prev_term,
                a.entries
                    .iter()
                    .map(|e| (e.index, e.term))
                    .collect::<Vec<_>>(),
                s.last_index,
                s.commit
            );
        }
        if holds_all && holds(a.prev_index, a.prev_term) {
            let last = a.prev_index.saturating_add(a.entries.len() as Index);
            let verified = self.verified.entry(d.term).or_insert(0);
            *verified = (*verified).max(last);
        }
    }

    /// After a step that did not start or end as leader: the commit index advanced only within
    /// what appends of the term verified, heartbeats of the term vouched for, or a snapshot.
    pub(super) fn check_follower_commit(&self, before: &Status) {
        let s = self.node.status();
        if s.commit <= before.commit || before.role == Role::Leader || s.role == Role::Leader {
            return;
        }
        let verified = self.verified.get(&s.term).copied().unwrap_or(0);
        let vouched = self.vouched.get(&s.term).copied().unwrap_or(0);
        let snapshot = self.installed.max(self.node.snapshot().index);
        assert!(
            s.commit <= verified.max(vouched).max(snapshot),
            "§5.3: follower committed {} (from {}) in term {}, but appends of that term verified \
             its log only up to {verified} (heartbeats vouched for {vouched}, snapshot {snapshot})",
            s.commit,
            before.commit,
            s.term
        );
    }

    /// The node answered this step's membership change.
    pub(super) fn on_membership_proposed(&mut self, result: Result<LogPosition, ConfChangeError>) {
        let Ok(pos) = result else {
            self.changes.1 += 1;
            return;
        };
        self.changes.0 += 1;
        assert_eq!(
            self.node.log_term(pos.index),
            Some(pos.term),
            "§4.3: the accepted change is in the log at {pos:?}"
        );
        assert_eq!(
            self.node.membership_index(),
            pos.index,
            "§4.3: a configuration is in force once its entry is in the log"
        );
    }

    pub(super) fn on_write(&mut self, write: Write) {
        assert_eq!(
            write.token.incarnation,
            self.store.incarnation(),
            "a write carries the current incarnation"
        );
        assert_eq!(
            write.token.seq,
            self.max_seq + 1,
            "write sequence numbers grow by one"
        );
        self.max_seq = write.token.seq;
        if let Some(install) = &write.install {
            self.installed = self.installed.max(install.meta.index);
            // The application's state is restored from the snapshot: it has applied up to there.
            self.apply_next = install.meta.index + 1;
        }
        self.store.write(write);
    }

    pub(super) fn on_send(&mut self, m: Message) {
        assert_eq!(m.from, ME, "a message names its sender: {m:?}");
        let durable_term = self.store.durable().hard_state.term;
        let poll = matches!(
            m.body,
            Body::Vote(sansraft::message::VoteRequest { pre_vote: true, .. })
                | Body::VoteResponse(VoteResponse {
                    pre_vote: true,
                    granted: true
                })
        );
        if !poll {
            assert!(
                m.term <= durable_term,
                "Figure 2: sent a message of term {} before that term was durable (durable term \
                 {durable_term}): {m:?}",
                m.term
            );
        }
        match m.body {
            Body::Heartbeat(h)
                if self.node.role() == Role::Leader && m.term == self.node.term() =>
            {
                let now = self.ticks;
                self.lease.of(m.term).sent.entry(h.round).or_insert(now);
            }
            Body::VoteResponse(VoteResponse {
                pre_vote: false,
                granted: true,
            }) => {
                let durable = self.store.durable().hard_state;
                if let Err(breach) = vote_grant_rule(&mut self.granted, durable, &m) {
                    panic!("{breach}");
                }
            }
            Body::AppendResponse(AppendResponse::Accepted { match_index })
            | Body::SnapshotResponse(SnapshotResponse::Installed { match_index })
                if match_index > 0 =>
            {
                let durable = self
                    .durable_entries
                    .range((match_index, 0)..=(match_index, Term::MAX))
                    .next()
                    .is_some();
                assert!(
                    durable || match_index <= self.store.durable().snapshot.index,
                    "Figure 2: acknowledged index {match_index} before it was durable"
                );
                if let Body::AppendResponse(_) = m.body {
                    let verified = self.verified.get(&m.term).copied().unwrap_or(0);
                    let known = verified
                        .max(self.node.status().commit)
                        .max(self.node.snapshot().index);
                    assert!(
                        match_index <= known,
                        "§5.3: acknowledged index {match_index} in term {}, but appends of that \
                         term verified the log only up to {verified} (commit {})",
                        m.term,
                        self.node.status().commit
                    );
                }
            }
            _ => {}
        }
        self.last_sent.insert(m.to, m);
    }

    pub(super) fn on_apply(&mut self, e: &Entry) {
        assert_eq!(
            e.index, self.apply_next,
            "entries are handed out for applying in order"
        );
        self.apply_next += 1;
        assert_eq!(
            self.durable_term(e.index),
            Some(e.term),
            "an entry handed out for applying is durable"
        );
        let first = self.applied.entry(e.index).or_insert_with(|| e.clone());
        assert_eq!(
            first, e,
            "§5.4.3: a different entry applied at index {}",
            e.index
        );
    }

    /// The node's own invariants and those that need only the node and the storage model.
    pub(super) fn check_node(&mut self) {
        // With debug assertions sansraft checks its invariants after every step itself.
        if !cfg!(debug_assertions) {
            if let Err(v) = self.node.check_invariants() {
                panic!("{v} after step {}", self.steps);
            }
        }
        let s = self.node.status();
        let view = NodeView::of(&self.node);
        let membership = self.node.membership();
        index_order_rule(&view)
            .and_then(|()| removed_leader_rule(&view, membership, self.node.membership_index()))
            .unwrap_or_else(|breach| panic!("{breach} (step {})", self.steps));
        assert!(
            s.term >= self.term,
            "§5.1: term decreased from {} to {}",
            self.term,
            s.term
        );
        self.term = s.term;
        let durable_hs = self.node.durable_hard_state();
        assert!(
            durable_hs.term <= self.store.durable().hard_state.term,
            "the node believes term {} durable, storage holds {}",
            durable_hs.term,
            self.store.durable().hard_state.term
        );
        // Both logs walked side by side (a lookup per index would cost a search each).
        let first = self
            .node
            .first_index()
            .max(self.store.durable().snapshot.index + 1);
        if first > s.durable_index {
            return;
        }
        let disk = &self.store.durable().entries;
        let disk = &disk[disk.partition_point(|e| e.index < first)..];
        let mut held = self.node.log_entries_from(first);
        for (k, index) in (first..=s.durable_index).enumerate() {
            let on_disk = match disk.get(k) {
                Some(e) if e.index == index => Some(e.term),
                _ => self.durable_term(index),
            };
            let in_node = match held.next() {
                Some(e) if e.index == index => Some(e.term),
                _ => self.node.log_term(index),
            };
            assert_eq!(
                on_disk, in_node,
                "the node believes index {index} durable, storage disagrees"
            );
        }
    }
}
