//! Stopping a node gracefully. A leader first hands leadership to its most caught-up voter
//! (thesis §3.10), so the cluster does not wait an election timeout for a new one, and stops
//! once the transfer ends or after two election timeouts, whichever is first. Any other node
//! stops at once.

use sansraft::{Node, NodeId, TransferOutcome};
use std::cmp::Reverse;

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
    /// The hand-off being waited for, if any.
    target: Option<NodeId>,
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

impl Stopping {
    /// Decides how `node` stops.
    pub(crate) fn begin(node: &Node) -> (Stopping, Begin) {
        let wait = node.config().election_timeout_ticks.saturating_mul(2);
        let begin = match (node.transfer_target(), successor(node)) {
            (Some(target), _) => Begin::Await(target),
            (None, Some(target)) => Begin::Transfer(target),
            (None, None) => Begin::Now,
        };
        let target = match begin {
            Begin::Await(t) | Begin::Transfer(t) => Some(t),
            Begin::Now => None,
        };
        (
            Stopping {
                target,
                ticks_left: wait,
            },
            begin,
        )
    }

    /// One tick passed.
    pub(crate) fn tick(&mut self) {
        self.ticks_left = self.ticks_left.saturating_sub(1);
        if self.ticks_left == 0 {
            if let Some(target) = self.target.take() {
                tracing::info!(
                    target,
                    "leadership hand-off not finished in time; stopping anyway"
                );
            }
        }
    }

    /// A leadership transfer ended.
    pub(crate) fn transfer_ended(&mut self, outcome: &TransferOutcome) {
        if self.target.take().is_some() {
            tracing::info!(?outcome, "leadership hand-off ended; stopping");
        }
    }

    /// Whether the node may stop now.
    pub(crate) fn done(&self) -> bool {
        self.target.is_none()
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
        let (stopping, begin) = Stopping::begin(&node);
        assert_eq!(begin, Begin::Now);
        assert!(stopping.done());
    }

    #[test]
    fn a_hand_off_is_waited_for_until_it_ends_or_time_is_up() {
        let node = follower();
        let timeout = node.config().election_timeout_ticks * 2;
        let waiting = || Stopping {
            target: Some(2),
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
        stopping.transfer_ended(&TransferOutcome::Done { target: 2 });
        assert!(stopping.done(), "the transfer ended");
    }
}
