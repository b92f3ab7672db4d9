//! The host's few touch points with engine features that are newer than the rest: each in one
//! small function, so that a change of the engine's API is a change here only.

use sansraft::{Input, Node, NodeId};

/// True if `node` needs [`Input::Tick`]s now. A quiet node needs none until any other input
/// arrives.
///
/// Until the engine can tell (`Node::needs_ticks`, with `Config::quiesce`), every node needs
/// ticks.
pub(crate) fn needs_ticks(node: &Node) -> bool {
    let _ = node;
    true
}

/// The input that tells a group that `peer` is unreachable, if the engine has one.
///
/// Until the engine has `Input::PeerUnreachable`, there is none: the group notices the
/// silence with its own timers.
pub(crate) fn peer_unreachable(peer: NodeId) -> Option<Input> {
    let _ = peer;
    None
}

/// True for the inputs only the host may feed a group: time, messages, acknowledgements.
pub(crate) fn is_reserved(input: &Input) -> bool {
    matches!(input, Input::Tick | Input::Message(_) | Input::Persisted(_))
}
