//! Liveness of membership changes, per group, as in the single-group world
//! ([`crate::liveness`]): a change a group's leader accepts while the cluster is healthy must
//! complete (the group's latest committed configuration at least as new, and not joint) within
//! the request bound, if the healthy window lasts that long. Changes are owed in the order
//! accepted, so their deadlines come in that order: after an event only the oldest is looked
//! at, and health is recomputed only while some change is owed.

use super::world::MultiWorld;
use crate::health::Health;
use crate::liveness::{change_done, first_overdue, stuck_change};
use crate::Micros;
use sansraft::Index;
use sansraft_multi::GroupId;
use std::collections::VecDeque;

/// The membership changes owed in the current healthy window.
#[derive(Clone, Debug, Default)]
pub(super) struct Changes {
    health: Health,
    /// Group and entry index of each change, and when it was accepted, in order.
    owed: VecDeque<((GroupId, Index), Micros)>,
}

impl MultiWorld {
    /// `group`'s leader accepted a membership change whose entry is at `index`.
    pub(super) fn change_accepted(&mut self, group: GroupId, index: Index) {
        if self.window_healthy() {
            self.stats.changes_watched += 1;
            self.changes.owed.push_back(((group, index), self.now));
        }
    }

    /// After every event: fails if a change owed in the current healthy window has not
    /// completed within the bound.
    pub(super) fn check_changes(&mut self) {
        if self.changes.owed.is_empty() || !self.window_healthy() {
            return;
        }
        let configs = &self.committed_configs;
        let done = |&(group, index): &(GroupId, Index)| {
            let (committed, m) = &configs[group as usize - 1];
            change_done(index, *committed, m.is_joint())
        };
        let params = self.sc.liveness;
        let changes = &mut self.changes.owed;
        let Some(((group, index), at)) =
            first_overdue(changes, self.now, params.op_deadline_us, done)
        else {
            return;
        };
        let (committed, m) = &self.committed_configs[group as usize - 1];
        let f = stuck_change(self.now, index, at, *committed, m.is_joint(), &params);
        self.violate(super::step::in_group(group, f));
    }

    /// Whether the cluster is healthy now; a healthy window that ended drops the changes owed.
    fn window_healthy(&mut self) -> bool {
        let healthy = self.cluster_healthy();
        if self.changes.health.set(self.now, healthy) {
            self.changes.owed.clear();
        }
        healthy
    }
}
