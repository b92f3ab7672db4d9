//! Reports of messages for groups this host does not know: once per (group, sender) until the
//! group is created or deleted, in a table of bounded size.

use crate::wire::GroupId;
use sansraft::NodeId;
use std::collections::BTreeSet;

/// The (group, sender) pairs reported and not yet resolved.
#[derive(Clone, Debug)]
pub(crate) struct UnknownReports {
    reported: BTreeSet<(GroupId, NodeId)>,
    max: usize,
}

/// What to do about one message for an unknown group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Report {
    /// Report it: the first from this sender for this group.
    New,
    /// Reported already.
    Repeated,
    /// The table is full: drop without a report.
    Full,
}

impl UnknownReports {
    /// An empty table holding at most `max` pairs.
    pub(crate) fn new(max: usize) -> Self {
        UnknownReports {
            reported: BTreeSet::new(),
            max,
        }
    }

    /// A message for `group` came from `from`.
    pub(crate) fn note(&mut self, group: GroupId, from: NodeId) -> Report {
        if self.reported.contains(&(group, from)) {
            Report::Repeated
        } else if self.reported.len() >= self.max {
            Report::Full
        } else {
            self.reported.insert((group, from));
            Report::New
        }
    }

    /// `group` was created or deleted: its reports are resolved.
    pub(crate) fn resolve(&mut self, group: GroupId) {
        let resolved: Vec<_> = self
            .reported
            .range((group, NodeId::MIN)..=(group, NodeId::MAX))
            .copied()
            .collect();
        for pair in resolved {
            self.reported.remove(&pair);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_group_and_sender_until_resolved_within_the_bound() {
        let mut t = UnknownReports::new(2);
        assert_eq!(t.note(5, 1), Report::New);
        assert_eq!(t.note(5, 1), Report::Repeated);
        assert_eq!(t.note(5, 2), Report::New);
        assert_eq!(t.note(6, 1), Report::Full);
        t.resolve(5);
        assert_eq!(t.note(6, 1), Report::New);
        assert_eq!(t.note(5, 1), Report::New);
    }
}
