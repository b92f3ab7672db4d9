//! What the harness feeds the node: payloads, fabricated messages near the node's state, and
//! the answers a real peer would give.

use super::*;

impl Harness {
    pub(super) fn payload(&mut self, len: u8) -> Bytes {
        self.proposals += 1;
        let mut data = self.proposals.to_le_bytes().to_vec();
        data.resize(8 + usize::from(len % 48), 0xEE);
        Bytes::from(data)
    }

    pub(super) fn near(&self) -> Near {
        let s = self.node.status();
        Near {
            term: s.term,
            last_index: s.last_index,
            commit: s.commit,
            members: self.members(),
            read_id: self.read_id,
            incarnation: self.store.incarnation(),
            ticks: self.ticks,
        }
    }

    pub(super) fn members(&self) -> u64 {
        self.setup.voters + u64::from(self.setup.learner)
    }

    /// A message to the node built from `u`, near the node's state.
    pub(super) fn fabricate(&self, u: &mut Unstructured<'_>) -> arbitrary::Result<Message> {
        let at = self.near();
        let term = gen::near(u, at.term)?;
        let from = gen::peer(u, self.members(), ME)?;
        let to = if u.ratio(1u8, 16)? {
            gen::peer(u, self.members(), ME)?
        } else {
            ME
        };
        let mut body = gen::body(u, at, term)?;
        if let Body::Append(a) = &mut body {
            // Read after the recipe (so earlier recipes keep their meaning); a used-up recipe
            // says yes.
            if u.ratio(3u8, 4)? {
                self.agree_below_commit(a);
            }
        }
        Ok(Message {
            from,
            to,
            term,
            body,
        })
    }

    /// §5.4 (Leader Completeness): a correct leader holds the follower's committed entries, so
    /// an append reaching below the node's commit index carries the node's own terms there
    /// (later entries' terms are raised to keep the run non-decreasing). Drawn terms there
    /// would mostly contradict the committed prefix and be dropped as malformed; this way the
    /// path that skips the committed part is exercised.
    pub(super) fn agree_below_commit(&self, a: &mut Append) {
        let commit = self.node.status().commit;
        if a.prev_index >= commit {
            return;
        }
        if let Some(t) = self.node.log_term(a.prev_index) {
            a.prev_term = t;
        }
        let mut floor = a.prev_term;
        let mut entries = std::mem::take(&mut a.entries).into_vec();
        for e in &mut entries {
            match self.node.log_term(e.index) {
                Some(t) if e.index <= commit => e.term = t,
                _ => e.term = e.term.max(floor),
            }
            floor = e.term;
        }
        a.entries = entries.into();
    }

    /// What peer `peer` would answer to the last message the node sent it.
    pub(super) fn respond(&self, peer: u8, agree: bool) -> Option<Message> {
        let peers = self.members().saturating_sub(1).max(1);
        let to = ME + 1 + u64::from(peer) % peers;
        let m = self.last_sent.get(&to)?;
        let body = match &m.body {
            Body::Vote(v) => Body::VoteResponse(VoteResponse {
                pre_vote: v.pre_vote,
                granted: agree,
            }),
            Body::Append(a) if agree => Body::AppendResponse(AppendResponse::Accepted {
                match_index: a.prev_index + a.entries.len() as Index,
            }),
            Body::Append(a) => Body::AppendResponse(AppendResponse::Rejected {
                reject_index: a.prev_index,
                hint_index: a.prev_index.saturating_sub(1).max(1),
                hint_term: None,
            }),
            // The peer's clock: it never restarts, and the node's steps order its ticks.
            Body::Heartbeat(h) => Body::HeartbeatResponse(HeartbeatResponse {
                round: h.round,
                stamp: Some(Stamp {
                    incarnation: 1,
                    tick: self.steps,
                }),
                // A peer asked to go quiet does.
                quiet: h.quiesce,
            }),
            Body::SnapshotChunk(c) if agree && c.done => {
                Body::SnapshotResponse(SnapshotResponse::Installed {
                    match_index: c.index,
                })
            }
            // A leader confirms a forwarded read at its commit index, here no lower than ours.
            Body::ReadIndex(r) => Body::ReadIndexResponse(ReadIndexResponse {
                id: r.id,
                index: agree.then(|| self.node.status().commit),
            }),
            Body::SnapshotChunk(c) => Body::SnapshotResponse(SnapshotResponse::Next {
                index: c.index,
                term: c.term,
                offset: if agree {
                    c.offset + c.data.len() as u64
                } else {
                    0
                },
            }),
            _ => return None,
        };
        Some(Message {
            from: to,
            to: ME,
            term: m.term,
            body,
        })
    }
}
