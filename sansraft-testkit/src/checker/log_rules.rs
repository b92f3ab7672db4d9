//! Log rules: log matching (§5.3), leader append-only (§5.3), leader completeness (§5.4),
//! agreement of committed prefixes and of applied entries (state-machine safety, §5.4.3), and
//! that a node's log changes only through the writes it issues.

use super::termlog::{entry_hash, skeleton_hash};
use super::Rule;
use super::{fail, Check, Checker, NodeView};
use sansraft::{Entry, Index, Role, Term, Write};
use std::collections::BTreeMap;

impl Checker {
    /// A node issued a write (in the step just taken; `v` is its state after the step).
    pub fn on_write(&mut self, i: usize, v: &NodeView, write: &Write) -> Check {
        let Some(first) = write.entries.first() else {
            return Ok(());
        };
        let t = &mut self.nodes[i];
        // Leader append-only: a node leading in the same term before and after the step only
        // appends.
        if t.leader_term == Some(v.term) && v.role == Role::Leader && first.index <= t.log.len() {
            return fail(Rule::LeaderAppendOnly, v.id, || {
                format!(
                    "leader of term {} rewrote its log from index {} (last was {})",
                    v.term,
                    first.index,
                    t.log.len()
                )
            });
        }
        if first.index <= t.log.len() {
            self.truncations += 1;
        }
        // Log matching: the same (index, term) always heads the same prefix.
        t.witness = v.witness;
        let registry = &mut self.registry;
        let kept = registry.hashes_as_kept(&write.entries, v.witness);
        let mut skeletons = kept.iter().map(|&(_, skeleton)| skeleton);
        let mut conflict = None;
        let hashes = kept.iter().map(|&(entry, _)| entry);
        t.log
            .write_hashed(&write.entries, hashes, |index, term, prefix, entry| {
                let skeleton = skeletons.next().expect("one per entry");
                let known = registry.known_or_insert(index, term, prefix, (entry, skeleton));
                if known != prefix && conflict.is_none() {
                    conflict = Some((index, term));
                }
            });
        if let Some((index, term)) = conflict {
            return fail(Rule::LogMatching, v.id, || {
                format!(
                    "entry ({index}, term {term}) follows a different prefix (or differs) from \
                     another log's entry with that index and term"
                )
            });
        }
        Ok(())
    }

    /// The node's log, as the checker rebuilt it from writes, must be the node's log.
    pub(super) fn check_mirror(&self, i: usize, v: &NodeView) -> Check {
        let log = &self.nodes[i].log;
        if log.len() != v.last_index || log.term(v.last_index) != Some(v.last_term) {
            return fail(Rule::Durability, v.id, || {
                format!(
                    "log ends at ({}, term {}) but the writes issued describe ({}, term {:?})",
                    v.last_index,
                    v.last_term,
                    log.len(),
                    log.term(log.len())
                )
            });
        }
        Ok(())
    }

    /// The highest index that every leader of `term` must hold: everything committed in an
    /// earlier term.
    fn must_hold(&mut self, term: Term) -> Index {
        // A leader asks with the same term step after step: remember the last answer until
        // `commit_terms` changes.
        if let Some((memo_term, k)) = self.must_hold_memo {
            if memo_term == term {
                return k;
            }
        }
        let k = self.commit_terms.partition_point(|&ct| ct < term) as Index;
        self.must_hold_memo = Some((term, k));
        k
    }

    /// Leader completeness for one leader.
    fn check_holds_committed(&mut self, i: usize, term: Term, id: sansraft::NodeId) -> Check {
        let k = self.must_hold(term);
        let log = &self.nodes[i].log;
        if log.prefix_hash(k) != self.committed.prefix_hash(k) {
            return fail(Rule::LeaderCompleteness, id, || {
                format!(
                    "leader of term {term} lacks committed entries up to index {k} (its log ends \
                     at {})",
                    log.len()
                )
            });
        }
        Ok(())
    }

    pub(super) fn check_leader_completeness(&mut self, i: usize, v: &NodeView) -> Check {
        if v.role == Role::Leader {
            self.check_holds_committed(i, v.term, v.id)?;
        }
        Ok(())
    }

    /// The node's committed prefix agrees with the global one, and extends it.
    pub(super) fn check_commit(&mut self, i: usize, v: &NodeView) -> Check {
        let log = &self.nodes[i].log;
        let known = self.committed.len();
        let common = v.commit.min(known);
        if log.prefix_hash(common) != self.committed.prefix_hash(common) {
            let at = (1..=common)
                .find(|&k| log.entry_hash(k) != self.committed.entry_hash(k))
                .unwrap_or(common);
            return fail(Rule::StateMachineSafety, v.id, || {
                format!("committed a different entry at index {at} than another node")
            });
        }
        if v.commit <= known {
            return Ok(());
        }
        for k in known + 1..=v.commit {
            let term = log.term(k).expect("commit ≤ last index, checked");
            let hash = log.entry_hash(k).expect("present");
            self.committed.push(term, hash);
        }
        self.note_committed_len(v.commit);
        // The entries committed no later than this node's term; earlier indices committed no
        // later than later ones.
        for ct in self.commit_terms.iter_mut().rev() {
            if *ct <= v.term {
                break;
            }
            *ct = v.term;
        }
        self.commit_terms
            .resize(self.committed.len() as usize, v.term);
        self.must_hold_memo = None;
        for j in 0..self.nodes.len() {
            let t = &self.nodes[j];
            if let (true, Some(term)) = (t.up, t.leader_term) {
                self.check_holds_committed(j, term, j as sansraft::NodeId + 1)?;
            }
        }
        Ok(())
    }

    /// The application of node `i` applied `entry`.
    pub fn on_apply(&mut self, i: usize, v: &NodeView, entry: &Entry) -> Check {
        let t = &mut self.nodes[i];
        let index = entry.index;
        let sm = Rule::StateMachineSafety;
        if index != t.applied + 1 {
            return fail(sm, v.id, || {
                format!("applied index {index} right after {}", t.applied)
            });
        }
        if index > v.commit {
            return fail(sm, v.id, || {
                format!("applied index {index} above commit {}", v.commit)
            });
        }
        let hash = self.registry.hash_as_kept(entry, v.witness);
        if t.log.entry_hash(index) != Some(hash) {
            return fail(sm, v.id, || {
                format!("applied an entry at index {index} that is not the one in its log")
            });
        }
        if t.durable.entry_hash(index) != Some(hash) {
            return fail(Rule::Durability, v.id, || {
                format!("applied index {index} before it was durable")
            });
        }
        t.applied = index;
        let slot = index as usize - 1;
        if let Some(&(known, first)) = self.applied.get(slot) {
            if known != hash {
                return fail(sm, v.id, || {
                    format!("applied a different entry at index {index} than n{first}")
                });
            }
        } else if slot == self.applied.len() {
            self.applied.push((hash, v.id));
        } else {
            return fail(sm, v.id, || format!("applied index {index} out of order"));
        }
        Ok(())
    }
}

/// Log matching's memory: the prefix hash first seen with each (index, term) written, and the
/// entry's hash whole and as a witness keeps it. The indices a mirror assigns are dense from 1,
/// so the first term seen at an index waits in a vector by index; further terms at that index
/// (a suffix written over) in a map.
#[derive(Clone, Debug, Default)]
pub(super) struct Registry {
    /// By index − 1: the first term written there, its prefix hash and its entry hashes.
    first: Vec<Option<(Term, u64, Kept)>>,
    /// Every later (index, term), its prefix hash and its entry hashes.
    others: BTreeMap<(Index, Term), (u64, Kept)>,
}

/// An entry's hash whole, and as a witness keeps it (`skeleton_hash`).
type Kept = (u64, u64);

impl Registry {
    /// The prefix hash known for `(index, term)` (index ≥ 1), recording `prefix` if there is
    /// none yet.
    fn known_or_insert(&mut self, index: Index, term: Term, prefix: u64, kept: Kept) -> u64 {
        let slot = index as usize - 1;
        if slot >= self.first.len() {
            self.first.resize(slot + 1, None);
        }
        match &mut self.first[slot] {
            first @ None => {
                *first = Some((term, prefix, kept));
                prefix
            }
            Some((t, known, _)) if *t == term => *known,
            Some(_) => {
                (self.others.entry((index, term)))
                    .or_insert((prefix, kept))
                    .0
            }
        }
    }

    /// The hashes of the entry first written at `(index, term)`, if any log wrote one.
    fn kept_at(&self, index: Index, term: Term) -> Option<Kept> {
        match self.first.get(index.checked_sub(1)? as usize)? {
            Some((t, _, kept)) if *t == term => Some(*kept),
            Some(_) => self.others.get(&(index, term)).map(|(_, kept)| *kept),
            None => None,
        }
    }

    /// The hash `e` stands for in a log, and its skeleton: its own, or for a witness (which
    /// keeps no payloads) the hash of the entry another log wrote at the same index and term,
    /// if `e` is exactly that entry without its payload (same kind, and a configuration or
    /// empty entry byte for byte). Anything else keeps its own hash, so it matches nothing.
    pub(super) fn kept(&self, e: &Entry, witness: bool) -> Kept {
        let skeleton = skeleton_hash(e);
        let whole = (self.kept_at(e.index, e.term))
            .filter(|&(_, known)| witness && known == skeleton)
            .map(|(whole, _)| whole);
        (whole.unwrap_or_else(|| entry_hash(e)), skeleton)
    }

    /// [`Registry::hash_as_kept`] of an entry.
    pub(super) fn hash_as_kept(&self, e: &Entry, witness: bool) -> u64 {
        self.kept(e, witness).0
    }

    /// [`Registry::kept`] of each entry of a write.
    pub(super) fn hashes_as_kept(&self, entries: &[Entry], witness: bool) -> Vec<Kept> {
        entries.iter().map(|e| self.kept(e, witness)).collect()
    }
}
