//! Identifiers and the persisted value types: hard state, log entries, membership and snapshot
//! metadata. Everything here derives serde and is encoded with postcard (see [`crate::codec`]).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A node's identity, chosen by the embedder. Unique within a cluster for all time.
pub type NodeId = u64;
/// A Raft term (§5.1). Terms only grow.
pub type Term = u64;
/// A log index. The first entry has index 1; index 0 is the empty prefix.
pub type Index = u64;

/// The highest log index a node accepts, from its storage or from a peer. Half the `u64` range:
/// whatever the engine adds to an index stays far from overflow, and reaching this limit by
/// proposals would take 2^63 of them.
pub const MAX_INDEX: Index = Index::MAX / 2;

/// The state a node must persist before it may act on it (Raft Figure 2, "persistent state").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HardState {
    /// The latest term this node has seen.
    pub term: Term,
    /// The candidate this node voted for in `term`, if any.
    pub vote: Option<NodeId>,
    /// The highest index known committed when the hard state was written. Persisting it is an
    /// optimisation (faster apply after restart); it is never needed for safety, and a change
    /// of it alone is not written: it rides on the next write, so the persisted value may lag.
    pub commit: Index,
}

/// What a log entry carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EntryKind {
    /// An application command proposed by a client.
    Normal,
    /// The empty entry a new leader appends to commit its term (§5.4.2, thesis §3.6.2). The
    /// application skips it.
    Empty,
    /// A membership change; `data` holds an encoded [`Membership`].
    Membership,
}

/// One log entry. Payloads are reference counted, so cloning an entry never copies its data.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    /// The term of the leader that created the entry.
    pub term: Term,
    /// The entry's position in the log.
    pub index: Index,
    /// What the entry carries.
    pub kind: EntryKind,
    /// The payload; empty for [`EntryKind::Empty`].
    pub data: Bytes,
}

impl Entry {
    /// A stand-in left where an entry was moved out of a run, never read.
    pub(crate) fn placeholder() -> Entry {
        Entry {
            term: 0,
            index: 0,
            kind: EntryKind::Empty,
            data: Bytes::new(),
        }
    }

    /// Bytes this entry counts for in flow control and back-pressure: its payload plus a fixed
    /// per-entry overhead, so that empty entries are not free.
    pub fn accounted_bytes(&self) -> u64 {
        Entry::accounted_len(self.data.len())
    }

    /// The accounted bytes of an entry whose payload is `len` bytes long.
    pub(crate) fn accounted_len(len: usize) -> u64 {
        const ENTRY_OVERHEAD_BYTES: u64 = 24;
        len as u64 + ENTRY_OVERHEAD_BYTES
    }

    /// A client command proposed in `term`, at `index`.
    pub(crate) fn normal(term: Term, index: Index, data: Bytes) -> Entry {
        Entry {
            term,
            index,
            kind: EntryKind::Normal,
            data,
        }
    }
}

/// The cluster configuration: who votes, who only learns, which voters are witnesses, and who
/// is preferred as leader.
///
/// Outside a membership change `outgoing` is empty. During a joint change (thesis §4.3) every
/// election and commit decision needs a majority of `voters` *and* of `outgoing`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Membership {
    /// Voters of the (incoming) configuration, sorted and without duplicates.
    pub voters: Vec<NodeId>,
    /// Voters of the outgoing configuration while a joint change is in flight, else empty.
    pub outgoing: Vec<NodeId>,
    /// Non-voting members: they receive the log but never vote or count in a quorum.
    pub learners: Vec<NodeId>,
    /// Voters (of either half) that keep each entry's term, index and kind but no payload, and
    /// never lead: they vote and acknowledge like any voter (docs/design.md, "Witnesses"). Each
    /// is started as one ([`crate::Config::witness`]); voters refuse them their votes. Sorted,
    /// without duplicates.
    pub witnesses: Vec<NodeId>,
    /// Leader priorities of members that have one, sorted by id; a member not listed has
    /// priority 0. Elections favour higher priorities and a leader hands leadership to a
    /// caught-up voter of higher priority; safety never depends on them.
    pub priorities: Vec<Priority>,
}

/// One member's leader priority ([`Membership::priorities`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Priority {
    /// The member.
    pub id: NodeId,
    /// Its priority: higher is preferred. 0 is the default and is never listed.
    pub priority: u32,
}

impl Membership {
    /// A configuration of voters only.
    pub fn with_voters(voters: impl IntoIterator<Item = NodeId>) -> Self {
        let mut voters: Vec<NodeId> = voters.into_iter().collect();
        voters.sort_unstable();
        voters.dedup();
        Membership {
            voters,
            ..Membership::default()
        }
    }

    /// True if `id` votes in either half of the configuration.
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains(&id) || self.outgoing.contains(&id)
    }

    /// True if `id` is a voter or a learner.
    pub fn contains(&self, id: NodeId) -> bool {
        self.is_voter(id) || self.learners.contains(&id)
    }

    /// True if `id` is a witness: a voter that stores no payloads and never leads.
    pub fn is_witness(&self, id: NodeId) -> bool {
        self.witnesses.contains(&id)
    }

    /// True if `id` may lead: a voter of either half that is not a witness.
    pub fn may_lead(&self, id: NodeId) -> bool {
        self.is_voter(id) && !self.is_witness(id)
    }

    /// The leader priority of `id` (0 unless listed).
    pub fn priority(&self, id: NodeId) -> u32 {
        self.priorities
            .iter()
            .find(|p| p.id == id)
            .map_or(0, |p| p.priority)
    }

    /// True if `half` (the voters of one half) has room for its witnesses: they are fewer than
    /// its other voters, which then form a majority on their own and can always elect one of
    /// themselves, or they are one witness beside one other voter (whose votes docs/design.md,
    /// "Witnesses", explains). An empty half fits.
    pub fn witnesses_fit(&self, half: &[NodeId]) -> bool {
        let witnesses = half.iter().filter(|id| self.is_witness(**id)).count();
        let full = half.len() - witnesses;
        half.is_empty() || witnesses < full || (witnesses == 1 && full == 1)
    }

    /// True while a joint configuration is in force.
    pub fn is_joint(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// Every member, voters first, each once, in ascending order within each group.
    pub fn members(&self) -> impl Iterator<Item = NodeId> + '_ {
        let outgoing_only = self.outgoing.iter().filter(|id| !self.voters.contains(id));
        let learners_only = self.learners.iter().filter(|id| !self.is_voter(**id));
        self.voters
            .iter()
            .chain(outgoing_only)
            .chain(learners_only)
            .copied()
    }

    /// Checks the shape rules: sorted, no duplicates, no learner that also votes, witnesses
    /// are voters, in each half witnesses are fewer than the other voters (or one beside a
    /// single other voter; [`Membership::witnesses_fit`]), priorities name members and are
    /// not 0.
    pub fn is_well_formed(&self) -> bool {
        fn strictly_sorted(ids: &[NodeId]) -> bool {
            ids.windows(2).all(|w| w[0] < w[1])
        }
        strictly_sorted(&self.voters)
            && strictly_sorted(&self.outgoing)
            && strictly_sorted(&self.learners)
            && strictly_sorted(&self.witnesses)
            && self.learners.iter().all(|id| !self.is_voter(*id))
            && self.witnesses.iter().all(|id| self.is_voter(*id))
            && self.witnesses_fit(&self.voters)
            && self.witnesses_fit(&self.outgoing)
            && self.priorities.windows(2).all(|w| w[0].id < w[1].id)
            && self
                .priorities
                .iter()
                .all(|p| p.priority > 0 && self.contains(p.id))
    }
}

/// Identity and position of a snapshot: the last entry it covers and the configuration in force
/// there. A fresh node starts from the snapshot at index 0 that holds its initial configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// The index of the last entry the snapshot covers.
    pub index: Index,
    /// The term of that entry.
    pub term: Term,
    /// The configuration in force at `index`.
    pub membership: Membership,
}

/// A position in the log, as a proposal's outcome: the entry at `index` created in `term`.
/// If the entry later applied at `index` has a different term, the proposal was overwritten
/// and did not commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LogPosition {
    /// The term the entry was proposed in.
    pub term: Term,
    /// Where it sits in the log.
    pub index: Index,
}
