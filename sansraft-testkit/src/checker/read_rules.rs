//! Read rules (thesis §6.4, §6.4.1), on the global truth of the run rather than on how the
//! engine decides (rounds, leases, clocks):
//!
//! - A read served reflects every entry committed anywhere before it was issued.
//! - A read a leader of term T took in is served only if no node had become leader of a later
//!   term before the leader could have confirmed it: the later of when the read arrived and
//!   when the leader first committed an entry of T (no read index exists before that, §6.4
//!   step 1). A confirmation round begins no earlier, and needs a quorum still in term T; a
//!   lease (§6.4.1) claims that no other leader exists yet. A lease kept through a leadership
//!   transfer, or a voter that forgets across a restart the lease it backed, breaks it.
//!
//! - A bounded-staleness read served at node n reflects every entry committed anywhere before
//!   the instant n's clock read `now − bound` (the driver, which knows when each node ticked,
//!   passes that instant).
//!
//! Simulated time is the real time here: both rules compare instants across nodes, clocks
//! and restarts.

use super::Micros;
use super::Rule;
use super::{fail, Check, Checker};
use sansraft::{Index, NodeId, Term};

/// A read handed to a node and not yet served or failed.
#[derive(Clone, Copy, Debug)]
pub(super) struct IssuedRead {
    /// The node it was handed to.
    node: usize,
    /// When.
    at: Micros,
    /// The committed prefix then.
    floor: Index,
    /// The term the node led then, if it led.
    leading: Option<Term>,
}

impl Checker {
    /// Read `id` is handed to node `i` now (before the node's step). Reads are checked when
    /// served ([`Checker::on_read_served`]) and forgotten when they fail or the node crashes.
    pub fn on_read_issued(&mut self, id: u64, i: usize, now: Micros) {
        let read = IssuedRead {
            node: i,
            at: now,
            floor: self.committed.len(),
            leading: self.nodes[i].leader_term,
        };
        self.reads.insert(id, read);
    }

    /// Read `id` failed: it will not be served.
    pub fn on_read_failed(&mut self, id: u64) {
        self.reads.remove(&id);
    }

    /// Node `i` serves read `id` now from a state machine that applied `applied` entries.
    pub fn on_read_served(&mut self, id: u64, i: usize, applied: Index) -> Check {
        let Some(read) = self.reads.remove(&id) else {
            return Ok(());
        };
        let node = i as NodeId + 1;
        if read.node != i {
            return fail(Rule::StaleRead, node, || {
                format!(
                    "read {id} served by n{node} but asked of n{}",
                    read.node + 1
                )
            });
        }
        if applied < read.floor {
            return fail(Rule::StaleRead, node, || {
                format!(
                    "read {id} served with {applied} entries applied, but {} were committed \
                     when it was issued at {}",
                    read.floor,
                    secs(read.at)
                )
            });
        }
        let Some(term) = read.leading else {
            return Ok(());
        };
        let first_commit = self.nodes[i]
            .own_commits
            .iter()
            .rev()
            .find(|&&(t, _)| t == term)
            .map(|&(_, at)| at);
        let confirmable = first_commit.map_or(read.at, |at| at.max(read.at));
        let newer = self
            .leaders
            .range(term + 1..)
            .filter(|(_, &(_, since))| since <= confirmable)
            .min_by_key(|(_, &(_, since))| since);
        if let Some((&newer_term, &(leader, since))) = newer {
            return fail(Rule::StaleRead, node, || {
                format!(
                    "leader of term {term} served read {id} (issued at {}, confirmable from {}) \
                     although n{leader} had led term {newer_term} since {}",
                    secs(read.at),
                    secs(confirmable),
                    secs(since)
                )
            });
        }
        Ok(())
    }

    /// Node `i` serves a bounded-staleness read `id` from a state machine that applied
    /// `applied` entries; `since` is the instant its clock read `now − bound` (its start, if
    /// it has not ticked that often). Every entry committed before then must be applied.
    pub fn on_stale_read_served(
        &mut self,
        id: u64,
        i: usize,
        applied: Index,
        since: Micros,
    ) -> Check {
        let floor = self.committed_before(since);
        if applied < floor {
            let node = i as NodeId + 1;
            return fail(Rule::StaleReadBeyondBound, node, || {
                format!(
                    "bounded-staleness read {id} served with {applied} entries applied, but \
                     {floor} were committed before {}, the start of its bound",
                    secs(since)
                )
            });
        }
        Ok(())
    }

    /// The length of the committed prefix just before `at` (strictly: an entry committed at
    /// `at` itself may follow the stamp that proved the read).
    pub fn committed_before(&self, at: Micros) -> Index {
        let k = self.commit_times.partition_point(|&(t, _)| t < at);
        k.checked_sub(1).map_or(0, |k| self.commit_times[k].1)
    }

    /// The committed prefix grew to `len` at the current time.
    pub(super) fn note_committed_len(&mut self, len: Index) {
        match self.commit_times.last_mut() {
            Some((t, l)) if *t == self.now => *l = len,
            _ => self.commit_times.push((self.now, len)),
        }
    }

    /// Node `i` crashed: the reads it held are gone.
    pub(super) fn forget_reads_of(&mut self, i: usize) {
        self.reads.retain(|_, r| r.node != i);
    }

    /// After a step of node `i` leading `term` with commit index `commit`: notes when it first
    /// committed an entry of its own term.
    pub(super) fn note_own_commit(&mut self, i: usize, term: Term, commit: Index) {
        let now = self.now;
        let t = &mut self.nodes[i];
        if t.own_commits.last().map(|&(t, _)| t) != Some(term) && t.log.term(commit) == Some(term) {
            t.own_commits.push((term, now));
        }
    }
}

fn secs(at: Micros) -> String {
    format!("{:.6}s", at as f64 / 1e6)
}
