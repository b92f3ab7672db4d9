//! The host's touch points with the engine's quiescence ([`sansraft::Config::quiesce`]): each
//! in one small function, so that a change of the engine's API is a change here only.

use sansraft::{Input, Node, NodeId};

/// True if `node` needs [`Input::Tick`]s now. A quiet node needs none until any other input
/// arrives (which wakes it); a node without quiescence always needs them.
pub(crate) fn needs_ticks(node: &Node) -> bool {
    node.needs_ticks()
}

/// The input that tells a group that the node `peer` is unreachable: its followers campaign
/// without waiting for a timer (a quiet follower has none running), its leader stops waiting
/// for it.
pub(crate) fn peer_unreachable(peer: NodeId) -> Input {
    Input::PeerUnreachable(peer)
}

/// The input that tells a group that the node `peer`, reported unreachable before, was heard
/// from again: a quiet leader that went quiet without it wakes to bring it up to date.
pub(crate) fn peer_reachable(peer: NodeId) -> Input {
    Input::PeerReachable(peer)
}

/// True for the inputs only the host may feed a group: time, messages, acknowledgements and
/// the failure detector's verdicts.
pub(crate) fn is_reserved(input: &Input) -> bool {
    matches!(
        input,
        Input::Tick
            | Input::Message(_)
            | Input::Persisted(_)
            | Input::PeerUnreachable(_)
            | Input::PeerReachable(_)
    )
}
