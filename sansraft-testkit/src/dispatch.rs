//! The one place that matches [`Action`] exhaustively.
//!
//! A driver implements [`Effects`] and hands each action to [`dispatch`]. Persisting, sending
//! and applying are duties every driver must carry out, so those methods have no default; the
//! others default to doing nothing, for drivers that never ask for what they report (a harness
//! that takes no snapshots is never asked to read one). A new action variant is one new method
//! here and one arm in [`dispatch`], not an edit to every driver.

use sansraft::{
    Action, CampaignError, ChunkRequest, ChunkWrite, ConfChangeError, Entries, Index, LogPosition,
    Message, NodeId, ProposeError, ReadError, RoleChange, Term, TransferOutcome, Write,
};

/// What a driver does with each kind of action (see the variants of [`Action`] for the duty
/// each one carries).
pub trait Effects {
    /// [`Action::Persist`]: make `write` durable after every earlier write, then acknowledge it.
    fn persist(&mut self, write: Write);
    /// [`Action::Send`]: hand `message` to the network.
    fn send(&mut self, message: Message);
    /// [`Action::Apply`]: apply `entries` in order, then report progress.
    fn apply(&mut self, entries: Entries);
    /// [`Action::Proposed`]: the outcome of one proposal.
    fn proposed(&mut self, result: Result<LogPosition, ProposeError>) {
        let _ = result;
    }
    /// [`Action::MembershipProposed`]: the outcome of a membership change.
    fn membership_proposed(&mut self, result: Result<LogPosition, ConfChangeError>) {
        let _ = result;
    }
    /// [`Action::LearnerCaughtUp`]: `learner` came close enough to be promoted.
    fn learner_caught_up(&mut self, learner: NodeId, match_index: Index) {
        let _ = (learner, match_index);
    }
    /// [`Action::ReadReady`]: read `id` may be served at `index`.
    fn read_ready(&mut self, id: u64, index: Index) {
        let _ = (id, index);
    }
    /// [`Action::ReadFailed`]: read `id` must not be served.
    fn read_failed(&mut self, id: u64, error: ReadError) {
        let _ = (id, error);
    }
    /// [`Action::CompactLog`]: entries up to `upto` may be deleted.
    fn compact_log(&mut self, upto: Index) {
        let _ = upto;
    }
    /// [`Action::ReadSnapshotChunk`]: read part of the latest snapshot.
    fn read_snapshot_chunk(&mut self, request: ChunkRequest) {
        let _ = request;
    }
    /// [`Action::WriteSnapshotChunk`]: write bytes into a partial snapshot.
    fn write_snapshot_chunk(&mut self, chunk: ChunkWrite) {
        let _ = chunk;
    }
    /// [`Action::DropPartialSnapshot`]: delete the partial snapshot `(index, term)`.
    fn drop_partial_snapshot(&mut self, index: Index, term: Term) {
        let _ = (index, term);
    }
    /// [`Action::Transfer`]: the outcome of a leadership transfer.
    fn transfer(&mut self, outcome: TransferOutcome) {
        let _ = outcome;
    }
    /// [`Action::RoleChanged`]: role, term or leader changed.
    fn role_changed(&mut self, change: RoleChange) {
        let _ = change;
    }
    /// [`Action::Campaigned`]: the outcome of a campaign request.
    fn campaigned(&mut self, result: Result<Term, CampaignError>) {
        let _ = result;
    }
}

/// Hands `action` to the method of `effects` for its variant.
#[inline]
pub fn dispatch(action: Action, effects: &mut impl Effects) {
    match action {
        Action::Persist(write) => effects.persist(write),
        Action::Send(message) => effects.send(message),
        Action::Apply(entries) => effects.apply(entries),
        Action::Proposed(result) => effects.proposed(result),
        Action::MembershipProposed(result) => effects.membership_proposed(result),
        Action::LearnerCaughtUp {
            learner,
            match_index,
        } => effects.learner_caught_up(learner, match_index),
        Action::ReadReady { id, index } => effects.read_ready(id, index),
        Action::ReadFailed { id, error } => effects.read_failed(id, error),
        Action::CompactLog(upto) => effects.compact_log(upto),
        Action::ReadSnapshotChunk(request) => effects.read_snapshot_chunk(request),
        Action::WriteSnapshotChunk(chunk) => effects.write_snapshot_chunk(chunk),
        Action::DropPartialSnapshot { index, term } => effects.drop_partial_snapshot(index, term),
        Action::Transfer(outcome) => effects.transfer(outcome),
        Action::Campaigned(result) => effects.campaigned(result),
        Action::RoleChanged(change) => effects.role_changed(change),
    }
}

/// Hands every action of `actions` to [`dispatch`], in order.
#[inline]
pub fn dispatch_all(actions: impl IntoIterator<Item = Action>, effects: &mut impl Effects) {
    for action in actions {
        dispatch(action, effects);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansraft::{Config, DurableState, Input, Membership, Node};

    /// Names the method each action reached.
    #[derive(Default)]
    struct Names(Vec<&'static str>);

    impl Effects for Names {
        fn persist(&mut self, _: Write) {
            self.0.push("persist");
        }
        fn send(&mut self, _: Message) {
            self.0.push("send");
        }
        fn apply(&mut self, _: Entries) {
            self.0.push("apply");
        }
        fn proposed(&mut self, _: Result<LogPosition, ProposeError>) {
            self.0.push("proposed");
        }
    }

    #[test]
    fn each_action_reaches_its_method_in_order() {
        let mut node = Node::new(
            Config::new(1, 1),
            DurableState::bootstrap(Membership::with_voters([1])),
            0,
        )
        .unwrap();
        let mut names = Names::default();
        // A follower refuses the proposal; a lone voter persists its vote when it campaigns.
        dispatch_all(node.step(Input::Propose(bytes::Bytes::new())), &mut names);
        for _ in 0..100 {
            dispatch_all(node.step(Input::Tick), &mut names);
        }
        assert_eq!(names.0[0], "proposed");
        assert!(names.0.contains(&"persist"));
        assert!(!names.0.contains(&"apply"));
    }
}
