//! The operator's requests in the multi-group world. A scheduled membership change, priority
//! change or transfer applies to every group, as when an operator replaces, drains or
//! re-weighs a node: each group's request goes to the group's leader (all of one node's in one
//! host input), and a change refused for a transient reason is retried in that group, a bounded
//! number of times ([`crate::operator`]). A campaign asks a node to campaign in every group it
//! hosts. A split-joint trap splits the network for the first group whose leader appends a
//! joint configuration while it is armed. Spares host no group until a leader adds them: the
//! replica is created the first time its leader's messages reach them.

use super::queue::Ev;
use super::world::{group_config, MultiWorld};
use crate::fault::Partition;
use crate::operator;
use crate::violation::{Failure, ViolationKind};
use crate::Micros;
use sansraft::{
    ConfChangeError, DurableState, Input, LogPosition, Membership, NodeId, Role, Term,
    TransferOutcome,
};
use sansraft_multi::{GroupId, HostInput};
use std::collections::BTreeMap;

/// The operator's requests in progress.
#[derive(Clone, Debug, Default)]
pub(crate) struct Operator {
    /// The membership fault (index into the schedule) being proposed in the current step.
    changing: Option<usize>,
    /// Attempts so far per membership fault and group.
    attempts: BTreeMap<(usize, GroupId), u32>,
    /// A [`crate::Fault::SplitJoint`] waits for the next joint configuration until then.
    split_joint_until: Micros,
}

impl MultiWorld {
    /// The highest term of any running replica of `group` on a member of the group's latest
    /// committed configuration, and the node (index) leading it, if any. A removed replica
    /// that never heard of its removal may campaign in ever higher terms, ignored by the
    /// members: its term says nothing about the group.
    pub(super) fn group_leader(&self, group: GroupId) -> (Term, Option<usize>) {
        let members = &self.committed_configs[group as usize - 1].1;
        let mut best = (0, None);
        for (i, node) in self.nodes.iter().enumerate() {
            let Some(r) = node.host.as_ref().and_then(|h| h.group(group)) else {
                continue;
            };
            if !members.contains(r.id()) {
                continue;
            }
            if r.term() > best.0 {
                best = (r.term(), None);
            }
            if r.term() == best.0 && r.role() == Role::Leader {
                best.1 = Some(i);
            }
        }
        best
    }

    /// Fault `index`, a membership or priority change, for every group.
    pub(super) fn request_change_everywhere(&mut self, index: usize) {
        let groups: Vec<GroupId> = (1..=self.g).collect();
        self.request_changes(index, &groups);
    }

    /// Proposes membership fault `index`'s change in each of `groups`, at the group's leader;
    /// a group without one retries later.
    pub(super) fn request_changes(&mut self, index: usize, groups: &[GroupId]) {
        let Some(change) = operator::conf_change(&self.sc.faults[index].fault) else {
            return;
        };
        let mut by_leader: BTreeMap<usize, Vec<(GroupId, Input)>> = BTreeMap::new();
        for &group in groups {
            *self.operator.attempts.entry((index, group)).or_default() += 1;
            match self.group_leader(group).1 {
                Some(leader) => by_leader
                    .entry(leader)
                    .or_default()
                    .push((group, Input::ChangeMembership(change.clone()))),
                None => self.retry_change(index, group),
            }
        }
        for (leader, inputs) in by_leader {
            let asked: Vec<GroupId> = inputs.iter().map(|(g, _)| *g).collect();
            self.operator.changing = Some(index);
            self.step_host(leader, HostInput::Groups(inputs));
            self.operator.changing = None;
            if self.now < self.operator.split_joint_until {
                self.split_joint(leader, &asked);
            }
        }
    }

    /// Group `group`'s leader answered the operator's change of this step.
    pub(super) fn on_membership_proposed(
        &mut self,
        group: GroupId,
        result: Result<LogPosition, ConfChangeError>,
    ) {
        match result {
            Ok(position) => {
                self.stats.membership_changes += 1;
                self.change_accepted(group, position.index);
            }
            Err(e) if operator::is_transient(&e) => {
                if let Some(index) = self.operator.changing {
                    self.retry_change(index, group);
                }
            }
            Err(_) => {}
        }
    }

    fn retry_change(&mut self, index: usize, group: GroupId) {
        let attempts = self.operator.attempts.get(&(index, group)).copied();
        if attempts.unwrap_or(0) < operator::MAX_ATTEMPTS
            && self.now + operator::RETRY_US < self.sc.fault_end_us
        {
            let at = self.now + operator::RETRY_US;
            self.queue.push(at, Ev::Change { index, group });
        }
    }

    /// Arms a [`crate::Fault::SplitJoint`] for `within_us`.
    pub(super) fn arm_split_joint(&mut self, within_us: Micros) {
        self.operator.split_joint_until = self.now + within_us;
    }

    /// Carries out the armed split-joint trap for the first of `groups` that node `leader`
    /// leads with a joint configuration that can be split between its halves.
    fn split_joint(&mut self, leader: usize, groups: &[GroupId]) {
        let Some(host) = self.nodes[leader].host.as_ref() else {
            return;
        };
        let id = leader as NodeId + 1;
        let found = (groups.iter())
            .filter_map(|&g| host.group(g))
            .filter(|n| n.role() == Role::Leader)
            .map(|n| operator::joint_splits(n.membership(), id))
            .find(|splits| !splits.is_empty());
        let Some(mut splits) = found else {
            return;
        };
        let rest = splits.swap_remove(self.rng_fault.index(splits.len()));
        self.operator.split_joint_until = 0;
        self.stats.joint_splits += 1;
        self.network.partition(&Partition::Split { side: rest }, id);
    }

    /// Every group's leader other than `to` is asked to hand leadership to `to`.
    pub(super) fn transfer_everywhere(&mut self, to: NodeId) {
        let mut by_leader: BTreeMap<usize, Vec<(GroupId, Input)>> = BTreeMap::new();
        for group in 1..=self.g {
            if let Some(leader) = self.group_leader(group).1 {
                if leader as NodeId + 1 != to {
                    let input = Input::TransferLeadership(to);
                    by_leader.entry(leader).or_default().push((group, input));
                }
            }
        }
        for (leader, inputs) in by_leader {
            self.stats.transfers_asked += inputs.len() as u64;
            self.step_host(leader, HostInput::Groups(inputs));
        }
    }

    /// A transfer's outcome.
    pub(super) fn on_transfer_outcome(&mut self, outcome: TransferOutcome) {
        if let TransferOutcome::Done { .. } = outcome {
            self.stats.transfers_done += 1;
        }
    }

    /// Node `i` is asked to campaign in every group it hosts.
    pub(super) fn campaign_everywhere(&mut self, i: usize, skip_pre_vote: bool) {
        let node = &self.nodes[i];
        let Some(host) = node.host.as_ref().filter(|_| !node.paused) else {
            return;
        };
        let inputs: Vec<(GroupId, Input)> = (host.groups())
            .map(|(g, _)| (g, Input::Campaign { skip_pre_vote }))
            .collect();
        self.step_host(i, HostInput::Groups(inputs));
    }

    /// A message of `group` reached spare node `i`, which does not host it: the embedder
    /// creates the replica from an empty configuration (made durable first), as a server being
    /// added does. A node that started with every group must never meet an unknown one.
    pub(super) fn adopt(&mut self, i: usize, group: GroupId, from: NodeId) {
        let id = self.nodes[i].id;
        if !self.check_not_deleted(i, group) {
            return;
        }
        if i < self.sc.initial_voters() {
            let detail = format!("n{from} talks of group {group}, unknown here");
            return self.violate(Failure::new(ViolationKind::Panic, Some(id), detail));
        }
        let state = DurableState::bootstrap(Membership::default());
        self.nodes[i]
            .disk
            .contents_mut()
            .create(group, state.clone());
        let config = Box::new(group_config(&self.sc, id, group));
        let input = HostInput::CreateGroup {
            group,
            config,
            state: state.clone(),
        };
        self.stats.groups_created += 1;
        self.step_host(i, input);
        let Some(node) = self.nodes[i].host.as_ref().and_then(|h| h.group(group)) else {
            return;
        };
        let view = crate::checker::NodeView::of(node);
        let r = self.checkers[group as usize - 1].on_restart(i, &view, &state);
        self.record(r);
    }
}
