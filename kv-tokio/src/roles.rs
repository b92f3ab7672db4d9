//! Role, term and leader changes, as the engine reports them (`Action::RoleChanged`): logged at
//! INFO so an operator can follow an election, and counted for the metrics.

use crate::metrics::Metrics;
use sansraft::{Node, NodeId, Role, RoleChange};
use sansraft_multi::GroupId;

/// A role's name, as `/status`, `/metrics` and the log show it.
pub(crate) fn role_name(role: Role) -> &'static str {
    match role {
        Role::Follower => "follower",
        Role::PreCandidate => "pre-candidate",
        Role::Candidate => "candidate",
        Role::Leader => "leader",
    }
}

/// What the engine last reported of one group's replica's role, term and leader.
#[derive(Debug)]
pub(crate) struct RoleWatch {
    id: NodeId,
    group: GroupId,
    seen: RoleChange,
}

impl RoleWatch {
    pub(crate) fn new(group: GroupId, node: &Node) -> RoleWatch {
        RoleWatch {
            id: node.config().id,
            group,
            seen: RoleChange {
                role: node.role(),
                term: node.term(),
                leader: node.leader(),
            },
        }
    }

    /// Logs and counts a change the engine reported; returns the previous view.
    pub(crate) fn observe(&mut self, now: RoleChange, metrics: &Metrics) -> RoleChange {
        let old = std::mem::replace(&mut self.seen, now);
        metrics.state_changed(&old, &now);
        let what = if old.role != now.role {
            match now.role {
                Role::Leader => "became leader",
                Role::Candidate => "started an election",
                _ if old.role == Role::Leader => "stepped down",
                _ => "role changed",
            }
        } else if old.term != now.term {
            "term changed"
        } else {
            "leader changed"
        };
        tracing::info!(
            id = self.id,
            group = self.group,
            old_role = role_name(old.role),
            role = role_name(now.role),
            old_term = old.term,
            term = now.term,
            old_leader = old.leader,
            leader = now.leader,
            "{what}"
        );
        old
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansraft::{Action, Config, DurableState, Input, Io, Membership};

    #[test]
    fn an_election_is_reported_once_and_counted() {
        let state = DurableState::bootstrap(Membership::with_voters([1]));
        let mut config = Config::new(1, 7);
        // Writes count durable as handed out: no storage to acknowledge them here.
        config.io = Io::Synchronous;
        let mut node = Node::new(config, state, 1).expect("a valid node");
        let metrics = Metrics::new();
        let mut watch = RoleWatch::new(0, &node);
        let mut changes = Vec::new();
        for _ in 0..100 {
            for action in node.step(Input::Tick) {
                if let Action::RoleChanged(change) = action {
                    changes.push(watch.observe(change, &metrics));
                }
            }
            if node.role() == Role::Leader {
                break;
            }
        }
        assert_eq!(node.role(), Role::Leader, "a single voter elects itself");
        let first = changes.first().expect("at least one change");
        assert_eq!(
            (first.role, first.term, first.leader),
            (Role::Follower, 0, None)
        );
        let text = metrics.render(
            [&node].into_iter(),
            std::time::Duration::from_millis(10),
            crate::metrics::LoopCounts::default(),
        );
        assert!(text.contains("kv_raft_leaders_elected_total 1\n"), "{text}");
        assert!(text.contains("kv_raft_role{role=\"leader\"} 1\n"), "{text}");
        assert!(
            text.contains("kv_raft_elections_started_total 1\n"),
            "{text}"
        );
    }
}
