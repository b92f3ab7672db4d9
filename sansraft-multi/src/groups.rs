//! The hosted replicas, the ordered set of those that need ticks, the peer nodes they name
//! and the tombstones of deleted groups.

use crate::detector::FailureDetector;
use crate::engine;
use crate::wire::GroupId;
use sansraft::{Index, Node, NodeId, Term};
use smallvec::SmallVec;
use std::collections::{BTreeMap, BTreeSet};

/// A group's other members, sorted.
type Peers = SmallVec<[NodeId; 4]>;

/// One hosted replica.
#[derive(Debug)]
struct Slot {
    node: Node,
    /// The other members of the group's configuration (voters of both halves and learners),
    /// sorted, as last seen.
    peers: Peers,
    /// Whether the group is in the ticking set: the node's `needs_ticks` as last seen.
    ticking: bool,
    /// The position (index, term) of the configuration entry `peers` was taken from: while it
    /// is unchanged, so is the configuration.
    config_at: Option<(Index, Term)>,
}

/// Every hosted replica and what the host derives from them.
#[derive(Debug)]
pub(crate) struct Groups {
    /// The host's node id.
    id: NodeId,
    /// Boxed: a slot is large (a whole [`Node`]) and a B-tree node holds up to 11 values, left
    /// about half full by ascending inserts; boxed, the tree holds a pointer per group and
    /// each slot is one allocation of its exact size.
    slots: BTreeMap<GroupId, Box<Slot>>,
    /// Invariant: exactly the hosted groups whose node needs ticks, as of its last step.
    ticking: BTreeSet<GroupId>,
    /// Invariant: for each peer node, the number of hosted groups it is a member of (> 0).
    peer_refs: BTreeMap<NodeId, u32>,
    /// Groups deleted, for all time.
    tombstones: BTreeSet<GroupId>,
}

impl Groups {
    /// No groups, on node `id`, with the tombstones of earlier incarnations.
    pub(crate) fn new(id: NodeId, tombstones: BTreeSet<GroupId>) -> Self {
        Groups {
            id,
            slots: BTreeMap::new(),
            ticking: BTreeSet::new(),
            peer_refs: BTreeMap::new(),
            tombstones,
        }
    }

    /// True if `group` is hosted.
    pub(crate) fn contains(&self, group: GroupId) -> bool {
        self.slots.contains_key(&group)
    }

    /// True if `group` was deleted.
    pub(crate) fn is_tombstoned(&self, group: GroupId) -> bool {
        self.tombstones.contains(&group)
    }

    /// The tombstones, in id order.
    pub(crate) fn tombstones(&self) -> &BTreeSet<GroupId> {
        &self.tombstones
    }

    /// The replica of `group`.
    pub(crate) fn get(&self, group: GroupId) -> Option<&Node> {
        self.slots.get(&group).map(|slot| &slot.node)
    }

    /// Steps the replica of `group` with `f`, then keeps the ticking set and the peer counts
    /// up to date; false if `group` is not hosted.
    pub(crate) fn step(
        &mut self,
        group: GroupId,
        detector: &mut FailureDetector,
        now: u64,
        f: impl FnOnce(&mut Node),
    ) -> bool {
        let Some(slot) = self.slots.get_mut(&group) else {
            return false;
        };
        f(&mut slot.node);
        let changed = Self::refresh_slot(&mut self.ticking, self.id, group, slot);
        if let Some((old, new)) = changed {
            self.repoint(old, new, detector, now);
        }
        true
    }

    /// Every hosted replica, in group order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (GroupId, &Node)> + '_ {
        self.slots.iter().map(|(&group, slot)| (group, &slot.node))
    }

    /// Hosted replicas.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Hosted replicas that need ticks.
    pub(crate) fn ticking_len(&self) -> usize {
        self.ticking.len()
    }

    /// Starts hosting `node` as `group` (neither hosted nor tombstoned).
    pub(crate) fn insert(
        &mut self,
        group: GroupId,
        node: Node,
        detector: &mut FailureDetector,
        now: u64,
    ) {
        let slot = Box::new(Slot {
            node,
            peers: SmallVec::new(),
            ticking: false,
            config_at: None,
        });
        self.slots.insert(group, slot);
        self.refresh(group, detector, now);
    }

    /// Stops hosting `group` and records its tombstone; false if it was tombstoned already.
    pub(crate) fn delete(&mut self, group: GroupId, detector: &mut FailureDetector) -> bool {
        if let Some(slot) = self.slots.remove(&group) {
            self.ticking.remove(&group);
            for peer in slot.peers.iter().copied() {
                self.unref(peer, detector);
            }
        }
        self.tombstones.insert(group)
    }

    /// After a step of `group`: keeps the ticking set and the peer counts up to date.
    pub(crate) fn refresh(&mut self, group: GroupId, detector: &mut FailureDetector, now: u64) {
        let Some(slot) = self.slots.get_mut(&group) else {
            return;
        };
        if let Some((old, new)) = Self::refresh_slot(&mut self.ticking, self.id, group, slot) {
            self.repoint(old, new, detector, now);
        }
    }

    /// Brings `slot`'s entry in the ticking set and its peers up to date with its node; returns
    /// the old and new peers if they changed (the caller moves the peer counts).
    fn refresh_slot(
        ticking_set: &mut BTreeSet<GroupId>,
        id: NodeId,
        group: GroupId,
        slot: &mut Slot,
    ) -> Option<(Peers, Peers)> {
        // Only a change touches the set: most steps leave a busy group busy.
        let ticking = engine::needs_ticks(&slot.node);
        if ticking != slot.ticking {
            slot.ticking = ticking;
            if ticking {
                ticking_set.insert(group);
            } else {
                ticking_set.remove(&group);
            }
        }
        // The configuration changes only with the entry it comes from.
        let at = slot.node.membership_index();
        let config_at = Some((at, slot.node.log_term(at).unwrap_or_default()));
        if config_at == slot.config_at {
            return None;
        }
        slot.config_at = config_at;
        let members = || slot.node.membership().members().filter(move |&m| m != id);
        // Members are distinct, so the sets are equal if every member is a known peer and
        // the counts agree (members come voters first, not sorted).
        let mut count = 0;
        if members().all(|m| {
            count += 1;
            slot.peers.binary_search(&m).is_ok()
        }) && count == slot.peers.len()
        {
            return None;
        }
        let mut peers: Peers = members().collect();
        peers.sort_unstable();
        let old = std::mem::replace(&mut slot.peers, peers.clone());
        Some((old, peers))
    }

    /// A group's peers changed from `old` to `new`: moves the peer counts, and the detector's
    /// watch with them.
    fn repoint(&mut self, old: Peers, new: Peers, detector: &mut FailureDetector, now: u64) {
        for peer in new {
            let refs = self.peer_refs.entry(peer).or_insert(0);
            *refs += 1;
            if *refs == 1 {
                detector.watch(peer, now);
            }
        }
        for peer in old {
            self.unref(peer, detector);
        }
    }

    fn unref(&mut self, peer: NodeId, detector: &mut FailureDetector) {
        if let Some(refs) = self.peer_refs.get_mut(&peer) {
            *refs -= 1;
            if *refs == 0 {
                self.peer_refs.remove(&peer);
                detector.forget(peer);
            }
        }
    }

    /// Appends the groups that need ticks to `out`, in group order.
    pub(crate) fn ticking_into(&self, out: &mut Vec<GroupId>) {
        out.extend(self.ticking.iter().copied());
    }

    /// Appends the groups `peer` is a member of to `out`, in group order.
    pub(crate) fn with_member_into(&self, peer: NodeId, out: &mut Vec<GroupId>) {
        out.extend(
            self.slots
                .iter()
                .filter(|(_, slot)| slot.peers.contains(&peer))
                .map(|(&group, _)| group),
        );
    }

    /// Checks the invariants stated on the fields, and every replica's own
    /// ([`Node::check_invariants`]).
    pub(crate) fn check(&self, detector: &FailureDetector) -> Result<(), &'static str> {
        let mut refs: BTreeMap<NodeId, u32> = BTreeMap::new();
        for (group, slot) in &self.slots {
            slot.node.check_invariants().map_err(|v| v.0)?;
            if self.tombstones.contains(group) {
                return Err("a tombstoned group is hosted");
            }
            if self.ticking.contains(group) != engine::needs_ticks(&slot.node) {
                return Err("the ticking set disagrees with a node's needs_ticks");
            }
            let mut members: SmallVec<[NodeId; 4]> = slot
                .node
                .membership()
                .members()
                .filter(|&m| m != self.id)
                .collect();
            members.sort_unstable();
            if members != slot.peers {
                return Err("a group's peer list disagrees with its membership");
            }
            for &peer in &slot.peers {
                *refs.entry(peer).or_insert(0) += 1;
            }
        }
        if self.ticking.iter().any(|g| !self.slots.contains_key(g)) {
            return Err("the ticking set names a group not hosted");
        }
        if refs != self.peer_refs {
            return Err("the peer counts disagree with the groups' peer lists");
        }
        if !detector.watched().eq(self.peer_refs.keys().copied()) {
            return Err("the failure detector watches other nodes than the groups' peers");
        }
        Ok(())
    }

    /// The peer nodes of hosted groups, in id order.
    pub(crate) fn peers(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.peer_refs.keys().copied()
    }
}
