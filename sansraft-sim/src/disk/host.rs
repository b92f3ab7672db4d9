//! What a disk holds on a node hosting many groups: every group's durable state and the host's
//! tombstones.
//!
//! A [`HostWrite`] is one fsync: its group writes are carried out in order and become durable
//! together. A torn host write keeps its first group writes whole and perhaps a prefix of the
//! next one's entries, under the one-group rule ([`GroupStore::torn_prefix`]), so it always
//! equals a shorter sequence of complete writes.

use super::{Contents, GroupStore};
use crate::rng::SimRng;
use bytes::Bytes;
use sansraft::{DurableState, Write};
use sansraft_multi::{GroupId, HostToken, HostWrite};
use std::collections::{BTreeMap, BTreeSet};

/// Every group's durable state, and the tombstones.
#[derive(Clone, Debug)]
pub(crate) struct HostStore {
    groups: BTreeMap<GroupId, GroupStore>,
    tombstones: BTreeSet<GroupId>,
}

impl HostStore {
    /// Holding `groups`' bootstrap states.
    pub(crate) fn new(groups: &BTreeMap<GroupId, DurableState>) -> Self {
        HostStore {
            groups: (groups.iter())
                .map(|(&g, durable)| (g, GroupStore::new(durable.clone())))
                .collect(),
            tombstones: BTreeSet::new(),
        }
    }

    /// Makes a new replica's starting state of `group` durable at once, as an embedder does
    /// before creating the replica.
    pub(crate) fn create(&mut self, group: GroupId, state: DurableState) {
        self.groups.insert(group, GroupStore::new(state));
    }

    /// What a restarted host is handed: every group's restart state and snapshot bytes (see
    /// [`GroupStore::restart_state`]), and the tombstones.
    pub(crate) fn restart_states(
        &self,
    ) -> (
        impl Iterator<Item = (GroupId, (DurableState, Bytes))> + '_,
        &BTreeSet<GroupId>,
    ) {
        let groups = (self.groups.iter()).map(|(&g, store)| (g, store.restart_state()));
        (groups, &self.tombstones)
    }

    /// True if `group` was deleted (its tombstone durable).
    pub(crate) fn is_tombstoned(&self, group: GroupId) -> bool {
        self.tombstones.contains(&group)
    }

    /// `group`'s store, if the disk holds the group.
    pub(crate) fn group(&self, group: GroupId) -> Option<&GroupStore> {
        self.groups.get(&group)
    }

    /// `group`'s store, if the disk holds the group.
    pub(crate) fn group_mut(&mut self, group: GroupId) -> Option<&mut GroupStore> {
        self.groups.get_mut(&group)
    }

    fn write_group(
        &mut self,
        group: GroupId,
        write: &Write,
        installs: &[(GroupId, Bytes)],
        made_durable: &mut impl FnMut(GroupId, &Write),
    ) {
        if let Some(store) = self.groups.get_mut(&group) {
            let data = (write.install.as_ref())
                .and_then(|_| installs.iter().find(|(g, _)| *g == group))
                .map(|(_, data)| data.clone());
            store.make_durable(write, data);
            made_durable(group, write);
        }
    }
}

impl Contents for HostStore {
    /// A host write and the bytes of the received snapshots its group writes install.
    type Write = (HostWrite, Vec<(GroupId, Bytes)>);
    type Token = HostToken;

    fn apply(
        &mut self,
        (write, installs): Self::Write,
        made_durable: &mut impl FnMut(GroupId, &Write),
    ) -> HostToken {
        for (group, w) in &write.writes {
            self.write_group(*group, w, &installs, made_durable);
        }
        for group in &write.tombstones {
            self.groups.remove(group);
            self.tombstones.insert(*group);
        }
        write.token
    }

    /// Returns the number of group writes (whole or torn) kept.
    fn tear(
        &mut self,
        (write, installs): Self::Write,
        rng: &mut SimRng,
        torn: &mut impl FnMut(GroupId, &Write),
    ) -> usize {
        // Whole group writes 0..cut survive; write `cut` may survive as a prefix.
        let cut = rng.below(write.writes.len() as u64 + 1) as usize;
        for (group, w) in &write.writes[..cut] {
            self.write_group(*group, w, &installs, torn);
        }
        let Some((group, w)) = write.writes.get(cut) else {
            return cut;
        };
        let Some(prefix) = (self.groups.get_mut(group)).and_then(|s| s.torn_prefix(w, rng)) else {
            return cut;
        };
        torn(*group, &prefix);
        cut + 1
    }
}
