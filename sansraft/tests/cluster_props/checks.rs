//! The safety properties, checked after every operation: Election Safety, Log Matching, Leader
//! Completeness / State Machine Safety, commit-index monotonicity and local invariants.

use sansraft::{Entry, Index, NodeId, Role, Term};

use crate::sim::*;

pub(crate) type Check = Result<(), String>;

/// A log under check: (node index, on disk rather than in memory), its entries, their prefix
/// hashes.
pub(crate) type LabelledLog<'a> = ((usize, bool), Vec<&'a Entry>, Vec<u64>);

impl Sim {
    /// State Machine Safety on what was applied since the last check: nothing but the committed
    /// entry at an index, and the same entry on every node; and every read served reflects what
    /// was committed before it was asked (thesis §6.4).
    pub(crate) fn check_applied(&mut self) -> Check {
        for (i, peer) in self.c.peers.iter().enumerate() {
            for e in &peer.applied[self.applied_checked[i]..] {
                if peer.store.incarnation() > 0 {
                    self.stats.applied_after_restart = true;
                }
                if let Some(c) = self.committed.get(e.index as usize - 1) {
                    if c != e {
                        return Err(format!(
                            "node {} applied {e:?}, but {c:?} is committed",
                            i + 1
                        ));
                    }
                }
                match self.applied.get(&e.index) {
                    Some(other) if other != e => {
                        return Err(format!(
                            "node {} applied {e:?} at index {}, another node applied {other:?}",
                            i + 1,
                            e.index
                        ));
                    }
                    Some(_) => {}
                    None => {
                        self.applied.insert(e.index, e.clone());
                    }
                }
            }
            self.applied_checked[i] = peer.applied.len();
        }
        for &(id, read, ref outcome) in &self.c.read_outcomes[self.reads_checked..] {
            let Ok(index) = *outcome else { continue };
            let floor = self.read_floor.remove(&read).ok_or("unknown read")?;
            if index < floor {
                return Err(format!(
                    "node {id} served read {read} at index {index}, but {floor} was committed \
                     before it was asked"
                ));
            }
            self.stats.reads_served += 1;
        }
        self.reads_checked = self.c.read_outcomes.len();
        Ok(())
    }

    /// Every safety property, on the current state.
    pub(crate) fn check(&mut self) -> Check {
        self.check_applied()?;
        let Sim {
            c,
            leader_of_term,
            committed,
            committed_hashes,
            applied,
            last_commit,
            last_log_terms,
            stats,
            ..
        } = self;
        // Every log in the cluster — each up node's log in memory, every node's log on disk —
        // with its prefix hashes, labelled (node index, on disk).
        let mut logs: Vec<LabelledLog<'_>> = Vec::new();
        for (i, peer) in c.peers.iter().enumerate() {
            let id = i as NodeId + 1;
            let Some(node) = &peer.node else { continue };
            // Local invariants.
            node.check_invariants()
                .map_err(|v| format!("node {id}: {v}"))?;
            let status = node.status();
            // Commit index monotonic while up.
            if let Some(prev) = last_commit[i] {
                if status.commit < prev {
                    return Err(format!(
                        "node {id}: commit went from {prev} to {}",
                        status.commit
                    ));
                }
            }
            last_commit[i] = Some(status.commit);
            // Election Safety (§5.2): at most one leader per term, over the whole run.
            if status.role == Role::Leader {
                let leader = *leader_of_term.entry(status.term).or_insert_with(|| {
                    stats.leaders_elected += 1;
                    id
                });
                if leader != id {
                    return Err(format!(
                        "two leaders in term {}: {leader} and {id}",
                        status.term
                    ));
                }
            }
            stats.max_term = stats.max_term.max(status.term);
            let m = node.membership();
            stats.max_voters = stats.max_voters.max(m.voters.len());
            // Thesis §4.2.2: a leader outside the committed configuration has stepped down.
            if status.role == Role::Leader
                && !m.is_voter(id)
                && node.membership_index() <= status.commit
            {
                return Err(format!(
                    "node {id} leads term {} outside its committed configuration {m:?}",
                    status.term
                ));
            }
            stats.max_commit = stats.max_commit.max(status.commit);
            let log: Vec<&Entry> = node.log_entries_from(1).collect();
            if node.first_index() != 1 || log.len() as Index != status.last_index {
                return Err(format!("node {id}: log does not start at 1"));
            }
            let hashes = prefix_hashes(&log);
            // State Machine Safety: committed entries never change, on any node, ever. The part
            // of this node's committed prefix already known must be identical...
            let commit = status.commit as usize;
            let known = committed.len().min(commit);
            if known > 0 && hashes[known - 1] != committed_hashes[known - 1] {
                if let Some(k) = (0..known).find(|&k| *log[k] != committed[k]) {
                    return Err(format!(
                        "node {id} has {:?} committed at index {}, but {:?} was committed there",
                        log[k],
                        k + 1,
                        committed[k]
                    ));
                }
            }
            // ...and what it adds must agree with what anyone applied.
            for k in known..commit {
                let e = log[k];
                if let Some(a) = applied.get(&e.index) {
                    if a != e {
                        return Err(format!("{a:?} was applied, {e:?} is committed"));
                    }
                }
                committed.push(e.clone());
                committed_hashes.push(hashes[k]);
            }
            let log_terms: Vec<Term> = log.iter().map(|e| e.term).collect();
            if !log_terms.starts_with(&last_log_terms[i]) {
                stats.truncations += 1;
            }
            last_log_terms[i] = log_terms;
            logs.push(((i, false), log, hashes));
        }
        for (i, peer) in c.peers.iter().enumerate() {
            let log: Vec<&Entry> = peer.store.durable().entries.iter().collect();
            let hashes = prefix_hashes(&log);
            logs.push(((i, true), log, hashes));
        }
        // Log Matching (§5.3): same index and term → identical logs up to there. Prefix hashes
        // make the pairwise comparison cheap; a mismatch is confirmed entry by entry.
        let name = |(i, disk): (usize, bool)| {
            format!("node {} ({})", i + 1, if disk { "disk" } else { "memory" })
        };
        for (a, (name_a, log_a, hashes_a)) in logs.iter().enumerate() {
            for (name_b, log_b, hashes_b) in &logs[a + 1..] {
                let common = log_a.len().min(log_b.len());
                let Some(k) = (0..common).rev().find(|&k| log_a[k].term == log_b[k].term) else {
                    continue;
                };
                if hashes_a[k] != hashes_b[k] && log_a[..=k] != log_b[..=k] {
                    return Err(format!(
                        "log matching: {} and {} share index {} term {} but differ before: \
                         {:?} vs {:?}",
                        name(*name_a),
                        name(*name_b),
                        k + 1,
                        log_a[k].term,
                        log_a[..=k].iter().map(|e| e.term).collect::<Vec<_>>(),
                        log_b[..=k].iter().map(|e| e.term).collect::<Vec<_>>(),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `h[k]` is a hash of `log[..=k]` (not cryptographic; a mismatch is always confirmed by
/// comparing entries, so a collision could only hide a difference, with negligible probability).
pub(crate) fn prefix_hashes(log: &[&Entry]) -> Vec<u64> {
    fn mix(h: u64, x: u64) -> u64 {
        (h ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29)
    }
    let mut h = 0u64;
    log.iter()
        .map(|e| {
            h = mix(h, e.term);
            h = mix(h, e.index);
            h = mix(h, e.kind as u64);
            h = mix(h, e.data.len() as u64);
            for chunk in e.data.chunks(8) {
                let mut word = [0u8; 8];
                word[..chunk.len()].copy_from_slice(chunk);
                h = mix(h, u64::from_le_bytes(word));
            }
            h
        })
        .collect()
}
