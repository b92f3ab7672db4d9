//! The configurations in the log: the one at the snapshot and one per membership entry after it.
//!
//! Thesis §4.1: a server uses the latest configuration in its log, committed or not, so a
//! configuration takes effect when its entry is appended, and a truncated entry rolls the node
//! back to the configuration before it. Changes are rare, so the history is a short vector.

use crate::codec::Codec;
use crate::types::{Entry, EntryKind, Index, Membership};

#[derive(Clone, Debug)]
pub(crate) struct ConfigHistory {
    /// The configuration in force at `base_index` (the snapshot's).
    base_index: Index,
    base: Membership,
    /// Invariant: indices strictly above `base_index` and increasing.
    entries: Vec<(Index, Membership)>,
}

/// Decodes the configuration a membership entry carries, if it is a valid one.
pub(crate) fn decode_membership(entry: &Entry) -> Option<Membership> {
    debug_assert_eq!(entry.kind, EntryKind::Membership, "not a membership entry");
    Membership::decode(&entry.data)
        .ok()
        .filter(|m| m.is_well_formed() && !m.voters.is_empty())
}

impl ConfigHistory {
    /// Gives back spare capacity (an idle group's memory).
    pub(crate) fn shrink(&mut self) {
        self.entries.shrink_to_fit();
    }

    pub(crate) fn new(base_index: Index, base: Membership) -> Self {
        ConfigHistory {
            base_index,
            base,
            entries: Vec::new(),
        }
    }

    /// The latest configuration in the log.
    pub(crate) fn latest(&self) -> &Membership {
        self.entries.last().map_or(&self.base, |(_, m)| m)
    }

    /// The index of the entry that holds the latest configuration (the snapshot index if no
    /// entry does).
    pub(crate) fn latest_index(&self) -> Index {
        self.entries.last().map_or(self.base_index, |(i, _)| *i)
    }

    /// The configuration in force at `index` (the latest at or below it).
    pub(crate) fn at(&self, index: Index) -> &Membership {
        self.entries
            .iter()
            .rev()
            .find(|(i, _)| *i <= index)
            .map_or(&self.base, |(_, m)| m)
    }

    /// Where the run of configurations that end the log and all satisfy `holds` begins: the
    /// index of its first configuration entry (the snapshot index if the snapshot's
    /// configuration is in it); `None` if the latest configuration does not satisfy it.
    pub(crate) fn run_since(&self, holds: impl Fn(&Membership) -> bool) -> Option<Index> {
        let mut since = None;
        for (index, m) in self.entries.iter().rev() {
            if !holds(m) {
                return since;
            }
            since = Some(*index);
        }
        if holds(&self.base) {
            since = Some(self.base_index);
        }
        since
    }

    /// A membership entry was appended at `index`.
    pub(crate) fn push(&mut self, index: Index, membership: Membership) {
        debug_assert!(
            index > self.latest_index(),
            "configuration entries are appended in index order"
        );
        self.entries.push((index, membership));
    }

    /// Entries from `index` on were truncated: their configurations no longer apply.
    pub(crate) fn truncate_from(&mut self, index: Index) {
        self.entries.retain(|(i, _)| *i < index);
    }

    /// The log was compacted up to `index`: the configuration there becomes the base.
    pub(crate) fn compact_to(&mut self, index: Index) {
        if index <= self.base_index {
            return;
        }
        self.base = self.at(index).clone();
        self.base_index = index;
        self.entries.retain(|(i, _)| *i > index);
    }

    /// A snapshot replaced the whole log: only its configuration remains.
    pub(crate) fn reset(&mut self, index: Index, membership: Membership) {
        self.base_index = index;
        self.base = membership;
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_wins_and_truncation_rolls_back() {
        let v = |ids: &[u64]| Membership::with_voters(ids.iter().copied());
        let mut h = ConfigHistory::new(0, v(&[1, 2, 3]));
        h.push(4, v(&[1, 2, 3, 4]));
        h.push(9, v(&[2, 3, 4]));
        assert_eq!(h.latest(), &v(&[2, 3, 4]));
        assert_eq!(h.at(8), &v(&[1, 2, 3, 4]));
        assert_eq!(h.at(3), &v(&[1, 2, 3]));
        h.truncate_from(9);
        assert_eq!(h.latest(), &v(&[1, 2, 3, 4]));
        assert_eq!(h.latest_index(), 4);
        h.compact_to(6);
        assert_eq!(h.latest_index(), 6);
        assert_eq!(h.at(6), &v(&[1, 2, 3, 4]));
        h.reset(20, v(&[5]));
        assert_eq!(h.latest(), &v(&[5]));
    }

    #[test]
    fn a_run_of_configurations_starts_where_the_last_one_that_breaks_it_ends() {
        let plain = Membership::with_voters([1, 2, 3]);
        let witness = Membership {
            witnesses: vec![3],
            ..plain.clone()
        };
        let mut h = ConfigHistory::new(0, plain.clone());
        assert_eq!(h.run_since(|m| m.is_witness(3)), None);
        h.push(4, witness.clone());
        h.push(
            7,
            Membership {
                learners: vec![4],
                ..witness.clone()
            },
        );
        assert_eq!(h.run_since(|m| m.is_witness(3)), Some(4));
        assert_eq!(h.run_since(|m| m.is_witness(1)), None);
        h.compact_to(5);
        assert_eq!(h.run_since(|m| m.is_witness(3)), Some(5));
        h.push(9, plain);
        assert_eq!(
            h.run_since(|m| m.is_witness(3)),
            None,
            "not one in the latest"
        );
    }
}
