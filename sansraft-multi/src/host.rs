//! The host: many groups' replicas behind one `step`.

use crate::canary::host_canary;
use crate::config::{GroupStart, HostConfig, HostStart};
use crate::counters::HostCounters;
use crate::detector::FailureDetector;
use crate::engine;
use crate::error::HostError;
use crate::groups::Groups;
use crate::io::{HostAction, HostInput, HostToken};
use crate::outbox::Outbox;
use crate::unknown::{Report, UnknownReports};
use crate::wire::{Batch, GroupId};
use crate::writes::{Ack, Writes};
use sansraft::{Action, Body, Config, DurableState, Input, InvariantViolation, Io, Node, NodeId};
use std::collections::BTreeSet;

/// Many Raft groups' replicas on one node, as one deterministic state machine. See the crate
/// documentation for the driving loop.
#[derive(Debug)]
pub struct Host {
    config: HostConfig,
    incarnation: u64,
    /// Host ticks since start.
    now: u64,
    groups: Groups,
    detector: FailureDetector,
    outbox: Outbox,
    writes: Writes,
    unknown: UnknownReports,
    counters: HostCounters,
    /// Reused between steps: groups or peers to visit.
    scratch_groups: Vec<GroupId>,
    scratch_peers: Vec<NodeId>,
}

/// Why a group's message is sent: a periodic heartbeat waits for the host's flush.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    /// The group is stepped with a tick: its heartbeats are periodic.
    Tick,
    /// Any other input: everything goes out at the end of the step.
    Other,
}

impl Host {
    /// Starts a host: a fresh one, or one restarting from what it persisted (its tombstones
    /// and every group's durable state). Produces no actions.
    pub fn new(config: HostConfig, start: HostStart) -> Result<Host, HostError> {
        config.validate()?;
        let HostStart {
            incarnation,
            tombstones,
            groups,
        } = start;
        // A canary bug: the tombstones persisted before are forgotten.
        let tombstones = if host_canary!(config, ForgetTombstones) {
            Default::default()
        } else {
            tombstones
        };
        let mut host = Host {
            groups: Groups::new(config.id, tombstones),
            detector: FailureDetector::new(config.unreachable_after_ticks),
            outbox: Outbox::default(),
            writes: Writes::new(incarnation),
            unknown: UnknownReports::new(config.max_unknown_group_reports),
            counters: HostCounters::default(),
            scratch_groups: Vec::new(),
            scratch_peers: Vec::new(),
            incarnation,
            now: 0,
            config,
        };
        for GroupStart {
            group,
            config,
            state,
        } in groups
        {
            host.create(group, config, state)?;
        }
        Ok(host)
    }

    /// Handles one input and returns the actions to carry out, in order. A refused input
    /// changes nothing and produces no action.
    #[must_use = "every action carries a duty for the embedder"]
    pub fn step(&mut self, input: HostInput) -> Result<Vec<HostAction>, HostError> {
        let mut out = Vec::new();
        self.step_into(input, &mut out)?;
        Ok(out)
    }

    /// Handles one input and appends the actions to carry out, in order, to `out` (not
    /// cleared). A refused input changes nothing and appends nothing.
    pub fn step_into(
        &mut self,
        input: HostInput,
        out: &mut Vec<HostAction>,
    ) -> Result<(), HostError> {
        let flush = self.handle(input, out)?;
        self.finish(flush, out);
        Ok(())
    }

    /// Handles several inputs, in order, as one step: every write they cause goes into one
    /// [`crate::HostWrite`] and every message into one batch per destination, as
    /// [`HostInput::Groups`] does for group inputs. What an embedder finds waiting when it
    /// wakes (peers' batches, storage acknowledgements, clients' proposals) costs one fsync and
    /// one batch per peer instead of one each. Appends the actions to carry out, in order, to
    /// `out` (not cleared).
    ///
    /// A refused input changes nothing; the inputs after it are not handled. Those handled
    /// before it are, and their actions are appended as for a step: carry them out, then
    /// treat the error as [`Host::step_into`]'s.
    pub fn step_all_into(
        &mut self,
        inputs: impl IntoIterator<Item = HostInput>,
        out: &mut Vec<HostAction>,
    ) -> Result<(), HostError> {
        let mut flush = false;
        let mut result = Ok(());
        for input in inputs {
            match self.handle(input, out) {
                Ok(flushes) => flush |= flushes,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.finish(flush, out);
        result
    }

    /// Handles one input without ending the step; true if it flushes the periodic heartbeats.
    fn handle(&mut self, input: HostInput, out: &mut Vec<HostAction>) -> Result<bool, HostError> {
        let mut flush = false;
        match input {
            HostInput::Tick => flush = self.tick(out),
            HostInput::Batch(batch) => self.receive(batch, out),
            HostInput::Persisted(token) => self.persisted(token, out)?,
            HostInput::CreateGroup {
                group,
                config,
                state,
            } => self.create(group, *config, state)?,
            HostInput::DeleteGroup(group) => self.delete(group),
            HostInput::Group { group, input } => {
                self.check_group_input(group, &input)?;
                self.step_group(group, input, Cause::Other, out);
            }
            HostInput::Groups(inputs) => {
                for (group, input) in &inputs {
                    self.check_group_input(*group, input)?;
                }
                for (group, input) in inputs {
                    self.step_group(group, input, Cause::Other, out);
                }
            }
        }
        Ok(flush)
    }

    /// Refuses an embedder's input for a group that is not hosted, or one only the host may
    /// give.
    fn check_group_input(&self, group: GroupId, input: &Input) -> Result<(), HostError> {
        if engine::is_reserved(input) {
            return Err(HostError::ReservedInput(group));
        }
        if !self.groups.contains(group) {
            return Err(if self.groups.is_tombstoned(group) {
                HostError::GroupDeleted(group)
            } else {
                HostError::UnknownGroup(group)
            });
        }
        Ok(())
    }

    /// Ticks the detector and the groups that need ticks; true if this tick flushes the
    /// periodic heartbeats.
    fn tick(&mut self, out: &mut Vec<HostAction>) -> bool {
        self.now += 1;
        self.counters.ticks += 1;
        let mut peers = std::mem::take(&mut self.scratch_peers);
        let mut groups = std::mem::take(&mut self.scratch_groups);
        self.detector.newly_unreachable(self.now, &mut peers);
        for &peer in &peers {
            self.counters.peers_unreachable += 1;
            groups.clear();
            self.groups.with_member_into(peer, &mut groups);
            for &group in &groups {
                self.counters.unreachable_inputs += 1;
                self.step_group(group, engine::peer_unreachable(peer), Cause::Other, out);
            }
        }
        groups.clear();
        self.groups.ticking_into(&mut groups);
        for &group in &groups {
            self.counters.group_ticks += 1;
            self.step_group(group, Input::Tick, Cause::Tick, out);
        }
        peers.clear();
        groups.clear();
        self.scratch_peers = peers;
        self.scratch_groups = groups;
        self.now % u64::from(self.config.heartbeat_interval_ticks) == 0
    }

    /// Routes a batch's envelopes to their groups.
    fn receive(&mut self, batch: Batch, out: &mut Vec<HostAction>) {
        let id = self.config.id;
        if batch.to != id || batch.from == id {
            self.counters.misaddressed_batches += 1;
            return;
        }
        if self.detector.heard(batch.from, self.now) {
            // Reachable again: a quiet group that went quiet without it must wake to bring it
            // up to date (the engine ignores the report elsewhere).
            self.counters.peers_reachable += 1;
            let mut groups = std::mem::take(&mut self.scratch_groups);
            groups.clear();
            self.groups.with_member_into(batch.from, &mut groups);
            for &group in &groups {
                self.step_group(group, engine::peer_reachable(batch.from), Cause::Other, out);
            }
            groups.clear();
            self.scratch_groups = groups;
        }
        for envelope in batch.envelopes {
            let (group, message) = (envelope.group, envelope.message);
            if message.from != batch.from || message.to != id {
                self.counters.forged_envelopes += 1;
            } else if self.writes.installs(group) {
                // The group's snapshot install is in this step's host write, which the
                // embedder carries out after the step's group actions: a later message could
                // make the group write or drop a partial snapshot before the install takes the
                // received one. Dropped instead (the sender retries).
                self.counters.dropped_after_install += 1;
            } else if self.groups.contains(group) {
                self.step_group(group, Input::Message(message), Cause::Other, out);
            } else if self.groups.is_tombstoned(group) {
                self.counters.tombstoned_messages += 1;
            } else {
                self.counters.unknown_group_messages += 1;
                match self.unknown.note(group, batch.from) {
                    Report::New => {
                        self.counters.unknown_group_reports += 1;
                        out.push(HostAction::UnknownGroup {
                            group,
                            from: batch.from,
                        });
                    }
                    Report::Repeated => {}
                    Report::Full => self.counters.unknown_group_reports_dropped += 1,
                }
            }
        }
    }

    /// Acknowledges every group's writes in the host writes up to `token`.
    fn persisted(&mut self, token: HostToken, out: &mut Vec<HostAction>) -> Result<(), HostError> {
        let all = host_canary!(self.config, AckBeyondToken);
        match self.writes.acknowledge(token, all)? {
            Ack::Stale => self.counters.stale_acks += 1,
            Ack::Durable(tokens) => {
                for (group, token) in tokens {
                    // A group deleted since needs no acknowledgement.
                    self.step_group(group, Input::Persisted(token), Cause::Other, out);
                }
            }
        }
        Ok(())
    }

    /// Starts hosting a replica of `group`.
    fn create(
        &mut self,
        group: GroupId,
        config: Config,
        state: DurableState,
    ) -> Result<(), HostError> {
        if self.groups.is_tombstoned(group) {
            return Err(HostError::GroupDeleted(group));
        }
        if self.groups.contains(group) {
            return Err(HostError::GroupExists(group));
        }
        if config.id != self.config.id {
            return Err(HostError::WrongNodeId {
                group,
                id: config.id,
            });
        }
        if config.io != Io::Asynchronous {
            return Err(HostError::SynchronousIo(group));
        }
        let node = Node::new(config, state, self.incarnation)
            .map_err(|error| HostError::Start { group, error })?;
        self.groups
            .insert(group, node, &mut self.detector, self.now);
        self.unknown.resolve(group);
        Ok(())
    }

    /// Deletes `group` for good.
    fn delete(&mut self, group: GroupId) {
        if self.groups.delete(group, &mut self.detector) {
            self.writes.tombstone(group);
            self.outbox.forget_group(group);
            self.unknown.resolve(group);
        }
    }

    /// Steps one group's replica and sorts its actions: messages to the outbox, writes to the
    /// step's host write, the rest to `out` in order.
    fn step_group(
        &mut self,
        group: GroupId,
        input: Input,
        cause: Cause,
        out: &mut Vec<HostAction>,
    ) {
        let Host {
            groups,
            outbox,
            writes,
            counters,
            detector,
            now,
            ..
        } = self;
        groups.step(group, detector, *now, |node| {
            counters.engine_steps += 1;
            node.step_with(input, |action| match action {
                Action::Send(message) => {
                    let periodic =
                        cause == Cause::Tick && matches!(message.body, Body::Heartbeat(_));
                    if periodic {
                        if outbox.send_periodic(group, message) {
                            counters.heartbeats_superseded += 1;
                        }
                    } else {
                        outbox.send_now(group, message);
                    }
                }
                Action::Persist(write) => writes.push(group, write),
                action => out.push(HostAction::Group { group, action }),
            });
        });
    }

    /// Ends a step: the step's host write, then its batches.
    fn finish(&mut self, flush: bool, out: &mut Vec<HostAction>) {
        if let Some(write) = self.writes.seal() {
            self.counters.host_writes += 1;
            self.counters.group_writes += write.writes.len() as u64;
            out.push(HostAction::Persist(write));
        }
        let mut peers = self.groups.peers();
        let flush_to: Option<&mut dyn Iterator<Item = NodeId>> =
            if flush { Some(&mut peers) } else { None };
        self.outbox
            .drain(self.config.id, flush_to, &mut self.counters, out);
    }

    /// Checks the host's invariants between steps: the ticking set holds exactly the groups
    /// that need ticks, each group's peer list matches its membership, the failure detector
    /// watches exactly the groups' peer nodes, no tombstoned group is hosted, host writes in
    /// flight are in order; and every replica's own ([`Node::check_invariants`]). It visits
    /// every group: a test's or a simulator's check, too slow for every step of a large host.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        self.groups
            .check(&self.detector)
            .and_then(|()| self.writes.check())
            .map_err(InvariantViolation)
    }

    /// The host's configuration.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// The incarnation the host was started with.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// Host ticks since start.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// What the host did and ignored.
    pub fn counters(&self) -> &HostCounters {
        &self.counters
    }

    /// The replica of `group`, if hosted.
    pub fn group(&self, group: GroupId) -> Option<&Node> {
        self.groups.get(group)
    }

    /// Every hosted replica, in group order.
    pub fn groups(&self) -> impl Iterator<Item = (GroupId, &Node)> + '_ {
        self.groups.iter()
    }

    /// The number of hosted replicas.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// The number of hosted replicas that need ticks (the others are quiet).
    pub fn ticking_count(&self) -> usize {
        self.groups.ticking_len()
    }

    /// True if `group` was deleted (here or in an earlier incarnation).
    pub fn is_tombstoned(&self, group: GroupId) -> bool {
        self.groups.is_tombstoned(group)
    }

    /// Every tombstone, in id order.
    pub fn tombstones(&self) -> &BTreeSet<GroupId> {
        self.groups.tombstones()
    }

    /// The peer nodes of hosted groups, in id order: those that get a periodic batch.
    pub fn peers(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.groups.peers()
    }

    /// True if the failure detector holds `peer` unreachable (silent since it was declared).
    pub fn is_unreachable(&self, peer: NodeId) -> bool {
        self.detector.is_unreachable(peer)
    }

    /// Host writes issued and not yet acknowledged.
    pub fn writes_in_flight(&self) -> usize {
        self.writes.in_flight()
    }
}
