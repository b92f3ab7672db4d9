//! Rules of one node checked from the outside after each step, each a single sentence of the
//! dissertation that a bug could break without any safety check downstream noticing at once:
//!
//! - thesis §4.1: the configuration in force is the latest one in the log, committed or not
//!   (a truncated configuration entry must roll back to the one before it);
//! - thesis §9.6: a pre-vote request changes neither the receiver's term nor its vote;
//! - thesis §3.10: a leader handing over leadership refuses proposals;
//! - a proposal is refused as too large exactly when its payload passes `max_entry_bytes`;
//! - a witness (docs/design.md §10) never campaigns or leads, and writes no payload;
//! - quiescence (docs/design.md §12): only a node configured for it is quiet, a quiet node needs
//!   no ticks, a tick changes nothing at a quiet node, and a quiet leader holds no lease.

use sansraft::message::VoteRequest;
use sansraft::{
    Action, Body, Codec, EntryKind, Input, Membership, Node, NodeId, ProposeError, Role, Term,
};

/// What the rules need of the node before a step.
#[derive(Clone, Debug)]
pub(super) struct Before {
    term: Term,
    vote: Option<NodeId>,
    transferring: bool,
    pre_vote_request: bool,
    proposal: bool,
    /// The payload sizes of the proposals of the step, in order.
    proposal_sizes: Vec<usize>,
    /// The input is a tick and the node was quiet: with the node's state, which must not change.
    quiet_tick: Option<String>,
}

impl Before {
    /// Reads the node and the input it is about to handle.
    pub(super) fn of(node: &Node, input: &Input) -> Before {
        Before {
            term: node.term(),
            vote: node.vote(),
            transferring: node.role() == Role::Leader && node.transfer_target().is_some(),
            pre_vote_request: matches!(input, Input::Message(m)
                if matches!(m.body, Body::Vote(VoteRequest { pre_vote: true, .. }))),
            proposal: matches!(input, Input::Propose(_) | Input::ProposeBatch(_)),
            proposal_sizes: match input {
                Input::Propose(data) => vec![data.len()],
                Input::ProposeBatch(batch) => batch.iter().map(|d| d.len()).collect(),
                _ => Vec::new(),
            },
            quiet_tick: (matches!(input, Input::Tick) && node.is_quiet())
                .then(|| format!("{node:?}")),
        }
    }
}

/// Checks the rules after a step that emitted `actions`; panics on a breach.
pub(super) fn check(node: &Node, before: Before, actions: &[Action], step: u64) {
    if before.pre_vote_request {
        assert!(
            node.term() == before.term && node.vote() == before.vote,
            "thesis §9.6: a pre-vote request moved the term {} → {} or the vote {:?} → {:?} \
             (step {step})",
            before.term,
            node.term(),
            before.vote,
            node.vote()
        );
    }
    if before.transferring && before.proposal {
        for action in actions {
            if let Action::Proposed(result) = action {
                assert!(
                    matches!(result, Err(ProposeError::TransferInProgress { .. })),
                    "thesis §3.10: a leader handing over accepted a proposal: {result:?} \
                     (step {step})"
                );
            }
        }
    }
    let results = actions.iter().filter_map(|a| match a {
        Action::Proposed(result) => Some(result),
        _ => None,
    });
    let limit = node.config().max_entry_bytes;
    for (&size, result) in before.proposal_sizes.iter().zip(results) {
        let too_large = matches!(result, Err(ProposeError::EntryTooLarge { .. }));
        let not_admitted = matches!(
            result,
            Err(ProposeError::NotLeader { .. } | ProposeError::TransferInProgress { .. })
        );
        assert!(
            too_large == (size as u64 > limit) || not_admitted,
            "a {size}-byte proposal against a {limit}-byte entry limit got {result:?} (step {step})"
        );
    }
    if node.is_witness() && !canary_lets_witness_lead(node) {
        assert!(
            node.role() == Role::Follower,
            "a witness became {:?} (step {step})",
            node.role()
        );
        for action in actions {
            if let Action::Persist(write) = action {
                let payload = (write.entries.iter())
                    .any(|e| e.kind == EntryKind::Normal && !e.data.is_empty());
                assert!(!payload, "a witness wrote a payload (step {step})");
            }
        }
    }
    assert_eq!(
        node.needs_ticks(),
        !node.is_quiet(),
        "a node needs ticks exactly when it is not quiet (step {step})"
    );
    if node.is_quiet() {
        assert!(
            node.config().quiesce,
            "a node went quiet without quiesce (step {step})"
        );
        assert!(
            node.lease_ticks_left().is_none() || node.role() != Role::Leader,
            "a quiet leader holds a lease (step {step})"
        );
    }
    if let Some(state) = before.quiet_tick {
        assert!(
            actions.is_empty(),
            "a tick at a quiet node acted (step {step})"
        );
        assert_eq!(
            format!("{node:?}"),
            state,
            "a tick changed a quiet node (step {step})"
        );
    }
    let latest = latest_configuration(node);
    assert_eq!(
        node.membership(),
        &latest,
        "thesis §4.1: the configuration in force is not the latest in the log (step {step})"
    );
}

/// True if the node runs with the canary that lets witnesses lead.
fn canary_lets_witness_lead(node: &Node) -> bool {
    node.config().canary == Some(sansraft::Canary::WitnessMayLead)
}

/// The latest configuration in the node's log, or its snapshot's if the log holds none.
fn latest_configuration(node: &Node) -> Membership {
    node.log_entries_from(node.first_index())
        .filter(|e| e.kind == EntryKind::Membership)
        .last()
        .and_then(|e| <Membership as Codec>::decode(&e.data).ok())
        .unwrap_or_else(|| node.snapshot().membership.clone())
}
