//! The follower's side of replication: appends and heartbeats (§5.3).

use super::Node;
use crate::config_history::decode_membership;
use crate::entries::Entries;
use crate::message::{Append, AppendResponse, Body, Heartbeat, HeartbeatResponse};
use crate::types::{Entry, EntryKind, Index, NodeId, Term, MAX_INDEX};

impl Node {
    pub(super) fn on_append(&mut self, from: NodeId, append: Append) {
        let Append {
            mut prev_index,
            mut prev_term,
            commit,
            entries,
        } = append;
        if !well_formed(prev_index, prev_term, &entries, self.term) {
            self.counters.malformed += 1;
            return;
        }
        let committed = self.log.committed();
        let mut skip = 0usize;
        if prev_index < committed {
            // Leader Completeness (§5.4): the committed prefix already matches the leader's, so
            // an append that contradicts it cannot come from a correct leader.
            if self.contradicts_committed(prev_index, prev_term, &entries) {
                self.counters.malformed += 1;
                return;
            }
            // Skip the entries it covers and check only what lies beyond it.
            let covered = (committed - prev_index) as usize;
            if covered >= entries.len() {
                self.reply_append(
                    from,
                    AppendResponse::Accepted {
                        match_index: committed,
                    },
                );
                return;
            }
            skip = covered;
            prev_index = committed;
            // The entry at the commit index is the new `prev_index`'s.
            let at = if canary!(self.config, ProbeTermOffByOne) {
                covered
            } else {
                covered - 1
            };
            prev_term = entries[at].term;
        }
        match self.log.term(prev_index) {
            // §5.3: reject if the log has no entry at prev_index with prev_term; hint where the
            // leader should look next so it skips whole terms, not one index at a time.
            None => {
                let hint_index = self.log.last_index() + 1;
                self.reply_append(
                    from,
                    AppendResponse::Rejected {
                        reject_index: prev_index,
                        hint_index,
                        hint_term: None,
                    },
                );
            }
            Some(term) if term != prev_term => {
                let hint_index = self
                    .log
                    .first_index_of_term_run(prev_index, term, committed + 1);
                self.reply_append(
                    from,
                    AppendResponse::Rejected {
                        reject_index: prev_index,
                        hint_index,
                        hint_term: Some(term),
                    },
                );
            }
            Some(_) => {
                let last_new = prev_index + (entries.len() - skip) as Index;
                if !self.append_from_leader(entries, skip) {
                    self.counters.malformed += 1;
                    return;
                }
                // §5.3: commit up to the leader's commit, but never past the last entry this
                // append verified to match.
                let to = if canary!(self.config, FollowerCommitBeyondVerified) {
                    commit.min(self.log.last_index())
                } else {
                    commit.min(last_new)
                };
                if to > self.log.committed() {
                    self.log.commit_to(to);
                }
                // §5.3: only what this append verified is known to match.
                let match_index = if canary!(self.config, AckBeyondVerified) {
                    self.log.last_index()
                } else {
                    last_new
                };
                self.reply_append(from, AppendResponse::Accepted { match_index });
            }
        }
    }

    /// Appends the leader's entries after the matching prefix, truncating at the first conflict
    /// (§5.3: delete the existing entry and all that follow it). Returns false, changing nothing,
    /// if the conflict would remove a committed entry (impossible from a correct leader).
    fn append_from_leader(&mut self, entries: Entries, skip: usize) -> bool {
        let mut conflict = None;
        for (i, entry) in entries.iter().enumerate().skip(skip) {
            match self.log.term(entry.index) {
                Some(term) if term == entry.term => continue,
                Some(_) => conflict = Some((i, entry.index)),
                None => conflict = Some((i, entry.index)),
            }
            break;
        }
        let Some((first_new, at)) = conflict else {
            return true;
        };
        let mut membership_changed = false;
        if at <= self.log.last_index() {
            if at <= self.log.committed() {
                return false;
            }
            // Thesis §4.1: a truncated configuration entry rolls back to the one before it.
            self.log
                .truncate(at, canary!(self.config, TruncatedConfigStays));
            membership_changed = true;
        }
        let mut new = entries.slice(first_new..entries.len());
        if self.is_witness() {
            // A witness stores terms, indices and configurations, no payloads.
            new = new.without_payloads();
        }
        // The log keeps the run as it came; the write that persists it slices the same run.
        membership_changed |= self.log.append(new);
        if membership_changed {
            self.refresh_membership();
        }
        true
    }

    /// Whether the append's view of the committed prefix (`prev_index < committed`) disagrees
    /// with a term this log still holds. Compacted positions cannot be compared and are trusted.
    fn contradicts_committed(&self, prev_index: Index, prev_term: Term, entries: &[Entry]) -> bool {
        let committed = self.log.committed();
        let differs = |index: Index, term: Term| self.log.term(index).is_some_and(|t| t != term);
        differs(prev_index, prev_term)
            || entries
                .iter()
                .take_while(|entry| entry.index <= committed)
                .any(|entry| differs(entry.index, entry.term))
    }

    pub(super) fn on_heartbeat(&mut self, from: NodeId, heartbeat: Heartbeat) {
        // The leader sends min(its commit, our match index), a prefix we share with it.
        let to = heartbeat.commit.min(self.log.last_index());
        if to > self.log.committed() {
            self.log.commit_to(to);
        }
        if let Some(proof) = heartbeat.proof {
            self.on_freshness_proof(proof);
        }
        let round = heartbeat.round;
        if let Some(following) = self.role.following_mut() {
            // A round already answered: the leader sent it again only to carry a commit index
            // (thesis §6.4 counts each follower once per round), so a second answer adds a
            // message and nothing else.
            if following
                .answered_round
                .is_some_and(|answered| round <= answered)
            {
                return;
            }
            following.answered_round = Some(round);
        }
        let quiet = heartbeat.quiesce && self.on_quiescing_heartbeat(heartbeat.commit);
        let stamp = Some(self.stamp());
        self.send(
            from,
            Body::HeartbeatResponse(HeartbeatResponse {
                round,
                stamp,
                quiet,
            }),
        );
    }

    fn reply_append(&mut self, to: NodeId, response: AppendResponse) {
        self.send(to, Body::AppendResponse(response));
    }
}

/// An append is well formed if its entries are consecutive after `prev_index` and their terms
/// never decrease, start at or above `prev_term` and stay at or below the message's term.
fn well_formed(prev_index: Index, prev_term: Term, entries: &[Entry], term: Term) -> bool {
    if prev_term > term || prev_index > MAX_INDEX {
        return false;
    }
    let mut expected_term_floor = prev_term;
    for (i, entry) in entries.iter().enumerate() {
        let expected_index = prev_index.saturating_add(1 + i as Index);
        if expected_index > MAX_INDEX
            || entry.index != expected_index
            || entry.term < expected_term_floor
            || entry.term > term
        {
            return false;
        }
        if entry.kind == EntryKind::Membership && decode_membership(entry).is_none() {
            return false;
        }
        expected_term_floor = entry.term;
    }
    true
}
