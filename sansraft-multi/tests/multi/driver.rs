//! A cluster of hosts in one process: a deterministic in-memory network of encoded batches,
//! the test kit's reference storage under every group, and a check of the host's output
//! contract on every step.

use bytes::Bytes;
use sansraft::{
    Action, Codec, Config, DurableState, Entry, EntryKind, Index, Input, Membership, NodeId, Role,
};
use sansraft_multi::{
    Batch, GroupId, GroupStart, Host, HostAction, HostConfig, HostInput, HostStart, HostToken,
    HostWrite,
};
use sansraft_testkit::storage::restart_state;
use sansraft_testkit::MemStorage;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// One node's disk: every group's storage, the tombstones, the host writes not yet durable.
#[derive(Debug, Default)]
pub(crate) struct Disk {
    /// Each group's configuration and storage.
    pub(crate) groups: BTreeMap<GroupId, (Config, MemStorage)>,
    /// Durable tombstones.
    pub(crate) tombstones: BTreeSet<GroupId>,
    /// Host writes issued, not yet durable.
    pub(crate) pending: VecDeque<HostWrite>,
    /// The host's incarnation (its boot counter).
    pub(crate) incarnation: u64,
}

impl Disk {
    /// Issues a host write: each group's writes queue in its storage, in order.
    /// Issues a host write: each group's writes queue in its storage, in order. Returns the
    /// groups whose state machine a write restores from a snapshot, with its index.
    fn write(&mut self, write: HostWrite) -> Vec<(GroupId, Index)> {
        let mut installs = Vec::new();
        for (group, w) in &write.writes {
            if let Some((_, storage)) = self.groups.get_mut(group) {
                if storage.write(w.clone()).is_some() {
                    let index = w.install.as_ref().map_or(0, |i| i.meta.index);
                    installs.push((*group, index));
                }
            }
        }
        self.pending.push_back(write);
        installs
    }

    /// Makes every pending host write durable; the token to acknowledge, if any.
    fn persist_all(&mut self) -> Option<HostToken> {
        let mut last = None;
        while let Some(write) = self.pending.pop_front() {
            for (group, _) in &write.writes {
                if let Some((_, storage)) = self.groups.get_mut(group) {
                    storage.persist_one();
                }
            }
            for group in &write.tombstones {
                self.groups.remove(group);
                self.tombstones.insert(*group);
            }
            last = Some(write.token);
        }
        last
    }

    /// A crash: every write not yet durable is lost.
    fn crash(&mut self) {
        self.pending.clear();
        for (_, storage) in self.groups.values_mut() {
            storage.crash();
        }
    }
}

/// Hosts `1..=n`, their disks, the network and what was observed.
#[derive(Debug)]
pub(crate) struct World {
    /// Host of node `i + 1` at `i`; `None` while down.
    pub(crate) hosts: Vec<Option<Host>>,
    /// Disk of node `i + 1` at `i`.
    pub(crate) disks: Vec<Disk>,
    /// Encoded batches in flight, in send order.
    pub(crate) network: VecDeque<Vec<u8>>,
    /// A lossy network, if set (the state of its generator): a tenth of the batches are lost,
    /// a twentieth duplicated and a twentieth delayed behind later ones.
    pub(crate) lossy: Option<u64>,
    /// Nodes cut off the network: batches from or to them are lost, but they keep running.
    pub(crate) cut: BTreeSet<NodeId>,
    /// Entries applied per (node, group), in order.
    pub(crate) applied: BTreeMap<(NodeId, GroupId), Vec<Entry>>,
    /// The actions of the step that took the last input given (not of its follow-ups).
    pub(crate) last_step: Vec<HostAction>,
    /// The index each (node, group) state machine has applied up to.
    pub(crate) last_applied: BTreeMap<(NodeId, GroupId), Index>,
    /// Snapshot installs carried out.
    pub(crate) installs: usize,
    /// Changes every group configuration before it is used.
    pub(crate) configure: fn(&mut Config),
    /// Reads served: (node, group, read id).
    pub(crate) reads: Vec<(NodeId, GroupId, u64)>,
    /// Unknown-group reports: (reporting node, group, sender).
    pub(crate) unknown: Vec<(NodeId, GroupId, NodeId)>,
    /// Every action, rendered, for determinism checks.
    pub(crate) trace: Vec<String>,
    /// Host writes issued per node and the most group writes one carried.
    pub(crate) max_groups_per_write: usize,
    /// The host configuration every host is made with.
    pub(crate) host_config: fn(NodeId) -> HostConfig,
    /// Groups created from now on go quiet when idle ([`Config::quiesce`]).
    pub(crate) quiesce: bool,
}

/// The group configuration of node `id` in `group`: the engine's defaults, quiescence on.
pub(crate) fn group_config(id: NodeId, group: GroupId) -> Config {
    let mut config = Config::new(id, group.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ id);
    config.quiesce = true;
    config
}

impl World {
    /// `n` hosts with default configurations and no groups.
    pub(crate) fn new(n: u64) -> World {
        World::with_config(n, HostConfig::new)
    }

    /// `n` hosts with configurations from `host_config`.
    pub(crate) fn with_config(n: u64, host_config: fn(NodeId) -> HostConfig) -> World {
        let hosts = (1..=n)
            .map(|id| Some(Host::new(host_config(id), HostStart::default()).unwrap()))
            .collect();
        World {
            hosts,
            disks: (1..=n).map(|_| Disk::default()).collect(),
            network: VecDeque::new(),
            cut: BTreeSet::new(),
            lossy: None,
            applied: BTreeMap::new(),
            unknown: Vec::new(),
            last_step: Vec::new(),
            reads: Vec::new(),
            last_applied: BTreeMap::new(),
            installs: 0,
            configure: |_| {},
            trace: Vec::new(),
            max_groups_per_write: 0,
            host_config,
            quiesce: true,
        }
    }

    /// The host of node `id`.
    pub(crate) fn host(&self, id: NodeId) -> &Host {
        self.hosts[id as usize - 1].as_ref().expect("host is up")
    }

    /// Node ids of hosts that are up.
    pub(crate) fn up(&self) -> Vec<NodeId> {
        (1..=self.hosts.len() as u64)
            .filter(|&id| self.hosts[id as usize - 1].is_some())
            .collect()
    }

    /// Creates `group` with voters `members` on each of `on`.
    pub(crate) fn create_group(&mut self, group: GroupId, members: &[NodeId], on: &[NodeId]) {
        for &id in on {
            let state = DurableState::bootstrap(Membership::with_voters(members.iter().copied()));
            let mut config = group_config(id, group);
            config.quiesce = self.quiesce;
            (self.configure)(&mut config);
            self.disks[id as usize - 1]
                .groups
                .insert(group, (config.clone(), MemStorage::new(state.clone())));
            self.input(
                id,
                HostInput::CreateGroup {
                    group,
                    config: Box::new(config),
                    state,
                },
            );
        }
    }

    /// Feeds `input` to host `id` (up), carries out the actions and every input they lead
    /// to. Panics if the host refuses it.
    pub(crate) fn input(&mut self, id: NodeId, input: HostInput) {
        self.try_input(id, input).expect("the host takes the input");
    }

    /// Like [`World::input`], returning the host's refusal.
    pub(crate) fn try_input(
        &mut self,
        id: NodeId,
        input: HostInput,
    ) -> Result<(), sansraft_multi::HostError> {
        self.try_inputs(id, vec![input])
    }

    /// Feeds `inputs` to host `id` (up) as one step ([`sansraft_multi::Host::step_all_into`]),
    /// carries out the actions and every input they lead to; returns the host's refusal of
    /// one of `inputs` after carrying out the actions of those it took.
    pub(crate) fn try_inputs(
        &mut self,
        id: NodeId,
        inputs: Vec<HostInput>,
    ) -> Result<(), sansraft_multi::HostError> {
        let mut queue = VecDeque::new();
        let mut first = Some(inputs);
        let mut refused = Ok(());
        loop {
            let host = self.hosts[id as usize - 1].as_mut().expect("host is up");
            let is_first = first.is_some();
            let actions = match first.take() {
                Some(inputs) => {
                    let mut actions = Vec::new();
                    refused = host.step_all_into(inputs, &mut actions);
                    actions
                }
                None => {
                    let Some(input) = queue.pop_front() else {
                        return refused;
                    };
                    match host.step(input) {
                        Ok(actions) => actions,
                        Err(e) => panic!("node {id} refused a follow-up input: {e}"),
                    }
                }
            };
            let first = is_first;
            if let Err(violation) = host.check_invariants() {
                panic!("node {id}: {violation}");
            }
            if first {
                self.last_step = actions.clone();
            }
            check_step_contract(id, &actions);
            for action in actions {
                self.trace.push(format!("{id}: {action:?}"));
                self.carry_out(id, action, &mut queue);
            }
        }
    }

    fn carry_out(&mut self, id: NodeId, action: HostAction, queue: &mut VecDeque<HostInput>) {
        match action {
            HostAction::Persist(write) => {
                self.max_groups_per_write = self.max_groups_per_write.max(write.writes.len());
                for (group, index) in self.disks[id as usize - 1].write(write) {
                    // The state machine is restored from the snapshot: its commands are not
                    // tracked one by one.
                    self.applied.insert((id, group), Vec::new());
                    self.last_applied.insert((id, group), index);
                    self.installs += 1;
                }
            }
            HostAction::Send(batch) => self.network.push_back(batch.encode()),
            HostAction::UnknownGroup { group, from } => self.unknown.push((id, group, from)),
            HostAction::Group {
                group,
                action: Action::ReadReady { id: read, .. },
            } => self.reads.push((id, group, read)),
            HostAction::Group { group, action } => {
                let storage = self.disks[id as usize - 1]
                    .groups
                    .get_mut(&group)
                    .map(|(_, storage)| storage);
                match (action, storage) {
                    (Action::Apply(entries), _) => {
                        let applied = self.applied.entry((id, group)).or_default();
                        let last = self.last_applied.entry((id, group)).or_insert(0);
                        for entry in entries.iter() {
                            assert_eq!(entry.index, *last + 1, "applied in order");
                            *last = entry.index;
                            applied.push(entry.clone());
                        }
                        queue.push_back(HostInput::Group {
                            group,
                            input: Input::Applied(*last),
                        });
                    }
                    (Action::ReadSnapshotChunk(request), Some(storage)) => {
                        queue.push_back(HostInput::Group {
                            group,
                            input: Input::SnapshotChunkRead(storage.read_chunk(&request)),
                        });
                    }
                    (Action::WriteSnapshotChunk(chunk), Some(storage)) => {
                        storage.write_chunk(&chunk);
                    }
                    (Action::DropPartialSnapshot { index, term }, Some(storage)) => {
                        storage.drop_partial(index, term);
                    }
                    (Action::CompactLog(upto), Some(storage)) => storage.compact(upto),
                    _ => {}
                }
            }
        }
    }

    /// Delivers every batch in flight now to its host if it is up (batches from or to a
    /// host that is down or cut off are lost).
    pub(crate) fn deliver(&mut self) {
        for _ in 0..self.network.len() {
            let Some(bytes) = self.network.pop_front() else {
                break;
            };
            if let Some(state) = &mut self.lossy {
                // xorshift: one draw per batch decides its fate.
                *state ^= *state << 13;
                *state ^= *state >> 7;
                *state ^= *state << 17;
                match *state % 20 {
                    // Lost.
                    0 | 1 => continue,
                    // Delivered now and again later.
                    2 => self.network.push_back(bytes.clone()),
                    // Delayed past the others.
                    3 => {
                        self.network.push_back(bytes);
                        continue;
                    }
                    _ => {}
                }
            }
            let batch = Batch::decode(&bytes).expect("batches decode");
            let up = self.up();
            let cut = self.cut.contains(&batch.to) || self.cut.contains(&batch.from);
            if up.contains(&batch.to) && up.contains(&batch.from) && !cut {
                self.input(batch.to, HostInput::Batch(batch));
            }
        }
    }

    /// Makes every pending host write durable on every host that is up and acknowledges it.
    pub(crate) fn persist(&mut self) {
        for id in self.up() {
            if let Some(token) = self.disks[id as usize - 1].persist_all() {
                self.input(id, HostInput::Persisted(token));
            }
        }
    }

    /// One round: every host ticks, the network delivers, the disks persist.
    pub(crate) fn round(&mut self) {
        for id in self.up() {
            self.input(id, HostInput::Tick);
        }
        self.deliver();
        self.persist();
    }

    /// Runs rounds until `done` holds, at most `max` of them; the rounds it took.
    pub(crate) fn run_until(&mut self, max: usize, mut done: impl FnMut(&World) -> bool) -> usize {
        for rounds in 0..max {
            if done(self) {
                return rounds;
            }
            self.round();
        }
        assert!(done(self), "not done after {max} rounds");
        max
    }

    /// The node that leads `group` in the highest term among hosts that are up, if any.
    pub(crate) fn leader(&self, group: GroupId) -> Option<NodeId> {
        self.up()
            .into_iter()
            .filter_map(|id| self.host(id).group(group).map(|n| (n.term(), n.role(), id)))
            .filter(|(_, role, _)| *role == Role::Leader)
            .map(|(term, _, id)| (term, id))
            .max()
            .map(|(_, id)| id)
    }

    /// True if every group in `groups` has a leader whose no-op is applied at every member
    /// that is up.
    pub(crate) fn all_led_and_applied(&self, groups: impl IntoIterator<Item = GroupId>) -> bool {
        groups.into_iter().all(|g| {
            let Some(leader) = self.leader(g) else {
                return false;
            };
            let commit = self.host(leader).group(g).unwrap().status().commit;
            commit > 0
                && self.up().into_iter().all(|id| {
                    self.host(id)
                        .group(g)
                        .is_none_or(|n| n.status().applied >= commit)
                })
        })
    }

    /// The application of node `id` takes a snapshot of `group` at its applied index.
    pub(crate) fn take_snapshot(&mut self, id: NodeId, group: GroupId) -> Index {
        let node = self.host(id).group(group).expect("hosted");
        let index = node.status().applied;
        let meta = node
            .snapshot_meta_at(index)
            .expect("a snapshot of the applied state");
        let (_, storage) = self.disks[id as usize - 1].groups.get_mut(&group).unwrap();
        storage.snapshot_taken(meta.clone(), Bytes::from(format!("state at {index}")));
        self.input(
            id,
            HostInput::Group {
                group,
                input: Input::SnapshotTaken(Box::new(meta)),
            },
        );
        index
    }

    /// Proposes `data` in `group` at its leader; the proposal must be taken.
    pub(crate) fn propose(&mut self, group: GroupId, data: &'static [u8]) {
        let leader = self.leader(group).expect("the group has a leader");
        self.input(
            leader,
            HostInput::Group {
                group,
                input: Input::Propose(Bytes::from_static(data)),
            },
        );
    }

    /// The payloads of the commands applied by node `id` in `group` (entries of kind
    /// `Normal`).
    pub(crate) fn applied_data(&self, id: NodeId, group: GroupId) -> Vec<Bytes> {
        self.applied
            .get(&(id, group))
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e.kind == EntryKind::Normal)
                    .map(|e| e.data.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Stops host `id`: it is not stepped, its batches are lost, its unsynced writes too.
    pub(crate) fn kill(&mut self, id: NodeId) {
        self.hosts[id as usize - 1] = None;
        self.disks[id as usize - 1].crash();
    }

    /// Restarts host `id` from its disk, in a new incarnation.
    pub(crate) fn restart(&mut self, id: NodeId) {
        let disk = &mut self.disks[id as usize - 1];
        disk.crash();
        disk.incarnation += 1;
        let groups = disk
            .groups
            .iter()
            .map(|(&group, (config, storage))| GroupStart {
                group,
                config: config.clone(),
                state: restart_state(storage.durable()),
            })
            .collect();
        let start = HostStart {
            incarnation: disk.incarnation,
            tombstones: disk.tombstones.clone(),
            groups,
        };
        // The state machine is rebuilt from the snapshot: the entries after it are applied
        // again.
        self.applied.retain(|(node, _), _| *node != id);
        self.last_applied.retain(|(node, _), _| *node != id);
        for g in &start.groups {
            self.last_applied.insert((id, g.group), g.state.applied);
        }
        self.hosts[id as usize - 1] = Some(Host::new((self.host_config)(id), start).unwrap());
    }
}

/// The host's promises about one step's output: at most one write, after every group action;
/// at most one batch per destination, after the write, each from this host.
pub(crate) fn check_step_contract(id: NodeId, actions: &[HostAction]) {
    let mut seen_persist = false;
    let mut seen_send = false;
    let mut destinations = BTreeSet::new();
    for action in actions {
        match action {
            HostAction::Group { .. } | HostAction::UnknownGroup { .. } => {
                assert!(!seen_persist && !seen_send, "group actions come first");
            }
            HostAction::Persist(_) => {
                assert!(!seen_persist, "at most one host write per step");
                assert!(!seen_send, "the write comes before the batches");
                seen_persist = true;
            }
            HostAction::Send(batch) => {
                seen_send = true;
                assert_eq!(batch.from, id);
                assert_ne!(batch.to, id);
                assert!(
                    destinations.insert(batch.to),
                    "one batch per destination per step"
                );
            }
        }
    }
}
