//! Retiring removed replicas: once a group's committed configuration leaves a node out for
//! good (no fault of the schedule ever adds it back), the node's embedder deletes its replica
//! (`HostInput::DeleteGroup`), leaving a tombstone its host makes durable with its next write,
//! so that no late message can bring the replica back: a host that reports a tombstoned group
//! unknown fails the run. A node that is down when the configuration commits, or that restarts
//! before its tombstone is durable, retires its replicas when it runs again.

use super::queue::Ev;
use super::world::MultiWorld;
use crate::fault::Fault;
use crate::violation::{Failure, ViolationKind};
use sansraft::NodeId;
use sansraft_multi::{GroupId, HostInput};

impl MultiWorld {
    /// `group`'s committed configuration changed: every node whose replica it leaves out for
    /// good retires it.
    pub(super) fn retire_removed(&mut self, group: GroupId) {
        for i in 0..self.n {
            let hosted = (self.nodes[i].host.as_ref()).is_some_and(|h| h.group(group).is_some());
            if hosted && self.left_for_good(i, group) {
                self.queue.push(self.now, Ev::Retire { node: i, group });
            }
        }
    }

    /// Node `i` deletes its replica of `group` if the group's configuration left it out for
    /// good (`None`: every such replica it hosts, after a restart).
    pub(super) fn retire(&mut self, i: usize, group: Option<GroupId>) {
        let Some(host) = self.nodes[i].host.as_ref() else {
            return;
        };
        let groups: Vec<GroupId> = match group {
            Some(g) => host.group(g).map(|_| g).into_iter().collect(),
            None => host.groups().map(|(g, _)| g).collect(),
        };
        for g in groups {
            if self.left_for_good(i, g) {
                self.stats.groups_deleted += 1;
                self.step_host(i, HostInput::DeleteGroup(g));
            }
        }
    }

    /// True if `group`'s committed configuration leaves node `i` out and no fault of the
    /// schedule ever adds it.
    fn left_for_good(&self, i: usize, group: GroupId) -> bool {
        let id = i as NodeId + 1;
        let added = |f: &Fault| match *f {
            Fault::AddLearner { node } | Fault::AddWitness { node } | Fault::Promote { node } => {
                node == id
            }
            Fault::Replace { add, .. } => add == id,
            _ => false,
        };
        !self.committed_configs[group as usize - 1].1.contains(id)
            && !self.sc.faults.iter().any(|f| added(&f.fault))
    }

    /// Fails the run if node `i` deleted `group` (its disk holds the tombstone) and its host
    /// reported it unknown: the embedder would create it again.
    pub(super) fn check_not_deleted(&mut self, i: usize, group: GroupId) -> bool {
        if !self.nodes[i].disk.contents().is_tombstoned(group) {
            return true;
        }
        let id = self.nodes[i].id;
        let detail = format!(
            "group {group}, deleted on n{id} (its tombstone durable), was reported unknown: a \
             message would bring the replica back"
        );
        self.violate(Failure::new(ViolationKind::Durability, Some(id), detail));
        false
    }
}
