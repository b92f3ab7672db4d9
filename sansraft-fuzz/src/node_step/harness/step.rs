//! Stepping the node and carrying out its actions on the harness.

use super::*;
use crate::node_step::local_rules;

impl Harness {
    /// Delivers a message to the node, noting a heartbeat acknowledgement of the term it leads
    /// in for the reads it confirms.
    pub(super) fn deliver(&mut self, m: Message) {
        self.note_proof(&m);
        if let Body::HeartbeatResponse(_) = m.body {
            if m.to == ME && m.from != ME && self.node.role() == Role::Leader {
                for read in self.client_reads.values_mut() {
                    if read.term == m.term && m.term == self.node.term() {
                        read.acks.insert(m.from);
                    }
                }
            }
        }
        let append = match &m.body {
            Body::Append(a) => Some(a.clone()),
            _ => None,
        };
        let held_prev = append
            .as_ref()
            .is_some_and(|a| self.node.log_term(a.prev_index) == Some(a.prev_term));
        self.delivering = Some(Delivered {
            term: m.term,
            from: m.from,
            append,
            heartbeat_commit: match &m.body {
                Body::Heartbeat(h) => Some(h.commit),
                _ => None,
            },
            round_ack: match &m.body {
                Body::HeartbeatResponse(r) => Some(r.round),
                _ => None,
            },
            held_prev,
            ignored: ignored(self.node.counters()),
        });
        self.step(Input::Message(m));
    }

    /// Steps the node with `input` and then with the application reports its actions call for.
    pub(super) fn step(&mut self, input: Input) {
        let mut next = Some(input);
        while let Some(input) = next.take() {
            if let Input::Tick = input {
                self.ticks += 1;
            }
            let transfer = matches!(input, Input::TransferLeadership(_));
            let campaign = matches!(input, Input::Campaign { .. });
            let before = self.node.status();
            let rules = local_rules::Before::of(&self.node, &input);
            let mut actions = std::mem::take(&mut self.actions);
            self.node.step_into(input, &mut actions);
            self.steps += 1;
            if let Some(d) = self.delivering.take() {
                self.on_delivered(d, &before);
            }
            if transfer
                && before.role == Role::Leader
                && !actions
                    .iter()
                    .any(|a| matches!(a, Action::Transfer(TransferOutcome::Refused { .. })))
            {
                self.lease.of(before.term).transfer = true;
            }
            if campaign {
                check_campaign(&before, &self.node.status(), &actions);
            }
            self.mark_lease_reads();
            local_rules::check(&self.node, rules, &actions, self.steps);
            let mut carry = CarryOut {
                harness: self,
                next: None,
            };
            dispatch_all(actions.drain(..), &mut carry);
            next = carry.next;
            self.actions = actions;
            self.check_node();
            self.check_follower_commit(&before);
            self.stale.led |= self.node.role() == Role::Leader;
            let membership = self.node.membership();
            for read in self.client_reads.values_mut() {
                if read.configurations.last() != Some(membership) {
                    read.configurations.push(membership.clone());
                }
            }
        }
    }
}

/// One step's actions carried out on the harness; `next` is the application's report to feed.
struct CarryOut<'a> {
    harness: &'a mut Harness,
    next: Option<Input>,
}

impl Effects for CarryOut<'_> {
    fn persist(&mut self, write: Write) {
        self.harness.on_write(write);
    }

    fn send(&mut self, message: Message) {
        self.harness.on_send(message);
    }

    fn apply(&mut self, entries: Entries) {
        for e in &entries {
            self.harness.on_apply(e);
        }
        self.next = entries.last().map(|e| Input::Applied(e.index));
    }

    fn membership_proposed(&mut self, result: Result<LogPosition, ConfChangeError>) {
        self.harness.on_membership_proposed(result);
    }

    fn read_ready(&mut self, id: u64, index: Index) {
        if self.harness.is_stale_read(id) {
            return self.harness.on_stale_read(id, Ok(index));
        }
        self.harness.on_read_ready(id, index);
    }

    fn read_failed(&mut self, id: u64, error: ReadError) {
        if self.harness.is_stale_read(id) {
            return self.harness.on_stale_read(id, Err(error));
        }
        let h = &mut *self.harness;
        assert!(
            h.client_reads.remove(&id).is_some(),
            "§6.4: read {id} failed, but it was never asked or already answered"
        );
        h.reads_answered.1 += 1;
    }

    fn compact_log(&mut self, upto: Index) {
        let store = &mut self.harness.store;
        let snapshot = store.durable().snapshot.index;
        assert!(
            upto <= snapshot,
            "asked to delete entries up to {upto}, beyond the durable snapshot at {snapshot}"
        );
        store.compact(upto);
    }

    fn read_snapshot_chunk(&mut self, request: ChunkRequest) {
        let read = self.harness.store.read_chunk(&request);
        self.harness.reads.push_back(read);
    }

    fn write_snapshot_chunk(&mut self, chunk: ChunkWrite) {
        self.harness.store.write_chunk(&chunk);
    }

    fn drop_partial_snapshot(&mut self, index: Index, term: Term) {
        self.harness.store.drop_partial(index, term);
    }
}

/// A campaign request is answered once, in its step: refused, it changed neither role nor
/// term; accepted, the node polls or campaigns for the next term (or, alone, already leads it).
fn check_campaign(before: &Status, after: &Status, actions: &[Action]) {
    let answers: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Campaigned(result) => Some(*result),
            _ => None,
        })
        .collect();
    assert_eq!(
        answers.len(),
        1,
        "a campaign request gets one answer: {answers:?}"
    );
    match answers[0] {
        Err(error) => assert_eq!(
            (before.role, before.term),
            (after.role, after.term),
            "a refused campaign ({error}) changed the node"
        ),
        Ok(term) => {
            assert_eq!(term, before.term + 1, "a campaign is for the next term");
            assert_ne!(before.role, Role::Leader, "a leader campaigned");
            assert!(
                after.role != Role::Follower && after.term <= term,
                "an accepted campaign left the node {:?} in term {}",
                after.role,
                after.term
            );
        }
    }
}
