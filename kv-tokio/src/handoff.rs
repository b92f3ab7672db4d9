//! Stopping a node gracefully. In every group it leads, a node first hands leadership to the
//! group's most caught-up voter (thesis §3.10), so the group does not wait an election timeout
//! for a new one, and stops once every transfer ended or after two election timeouts, whichever
//! is first. A node that leads no group stops at once.

use sansraft::{Node, NodeId, TransferOutcome};
use sansraft_multi::GroupId;
use std::cmp::Reverse;
use std::collections::BTreeMap;

/// The voter this leader should hand leadership to: the one holding most of its log, then the
/// one heard from most recently (`None` if not the leader or it is the only voter).
pub(crate) fn successor(node: &Node) -> Option<NodeId> {
    let me = node.config().id;
    node.membership()
        .voters
        .iter()
        .filter(|&&id| id != me)
        .filter_map(|&id| Some((id, node.peer_progress(id)?)))
        .max_by_key(|(id, p)| (p.match_index, Reverse(p.ticks_since_contact), Reverse(*id)))
        .map(|(id, _)| id)
}

/// A stop under way.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Stopping {
    /// The hand-offs being waited for: each group's target.
    targets: BTreeMap<GroupId, NodeId>,
    /// Ticks left before stopping anyway.
    ticks_left: u32,
}

/// How a stop begins.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Begin {
    /// Nothing to hand off: stop now.
    Now,
    /// Wait for the transfer to `target` this node is already carrying out.
    Await(NodeId),
    /// Start a transfer to `target`, then wait for it.
    Transfer(NodeId),
}

/// How one group's replica stops.
fn begin(node: &Node) -> Begin {
    match (node.transfer_target(), successor(node)) {
        (Some(target), _) => Begin::Await(target),
        (None, Some(target)) => Begin::Transfer(target),
        (None, None) => Begin::Now,
    }
}

impl Stopping {
    /// Decides how each group's replica stops: the groups' begins, those with nothing to hand
    /// off left out.
    pub(crate) fn begin<'a>(
        groups: impl Iterator<Item = (GroupId, &'a Node)>,
    ) -> (Stopping, Vec<(GroupId, Begin)>) {
        let mut wait = 0;
        let mut targets = BTreeMap::new();
        let mut begins = Vec::new();
        for (group, node) in groups {
            wait = node.config().election_timeout_ticks.saturating_mul(2);
            match begin(node) {
                Begin::Now => {}
                b @ (Begin::Await(target) | Begin::Transfer(target)) => {
                    targets.insert(group, target);
                    begins.push((group, b));
                }
            }
        }
        (
            Stopping {
                targets,
                ticks_left: wait,
            },
            begins,
        )
    }

    /// One tick passed.
    pub(crate) fn tick(&mut self) {
        self.ticks_left = self.ticks_left.saturating_sub(1);
        if self.ticks_left == 0 && !self.targets.is_empty() {
            tracing::info!(
                groups = self.targets.len(),
                "leadership hand-off not finished in time; stopping anyway"
            );
            self.targets.clear();
        }
    }

    /// A leadership transfer of `group` ended.
    pub(crate) fn transfer_ended(&mut self, group: GroupId, outcome: &TransferOutcome) {
        if self.targets.remove(&group).is_some() && self.targets.is_empty() {
            tracing::info!(group, ?outcome, "leadership hand-off ended; stopping");
        }
    }

    /// Whether the node may stop now.
    pub(crate) fn done(&self) -> bool {
        self.targets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansraft::{Config, DurableState, Membership};

    fn follower() -> Node {
        let state = DurableState::bootstrap(Membership::with_voters([1, 2, 3]));
        Node::new(Config::new(1, 7), state, 1).expect("a valid node")
    }

    #[test]
    fn a_follower_stops_at_once() {
        let node = follower();
        assert_eq!(successor(&node), None);
        let (stopping, begins) = Stopping::begin([(0, &node), (1, &node)].into_iter());
        assert_eq!(begins, []);
        assert!(stopping.done());
    }

    #[test]
    fn a_hand_off_is_waited_for_until_it_ends_or_time_is_up() {
        let node = follower();
        let timeout = node.config().election_timeout_ticks * 2;
        let waiting = || Stopping {
            targets: [(0, 2), (5, 3)].into(),
            ticks_left: timeout,
        };
        let mut stopping = waiting();
        for _ in 1..timeout {
            stopping.tick();
        }
        assert!(!stopping.done(), "time is not up yet");
        stopping.tick();
        assert!(stopping.done(), "two election timeouts passed");

        let mut stopping = waiting();
        stopping.tick();
        stopping.transfer_ended(0, &TransferOutcome::Done { target: 2 });
        assert!(!stopping.done(), "group 5's transfer is under way");
        stopping.transfer_ended(5, &TransferOutcome::Aborted { target: 3 });
        assert!(stopping.done(), "every transfer ended");
    }
}
