//! The node's role with the state only that role has (§5.1, thesis §9.6): what exists only
//! while the node plays a role lives in the role's variant, so "a follower keeps no progress" or
//! "only a candidate counts votes" is a fact of the type. A role change replaces the variant.

use super::Role;
use crate::progress::{Progress, ProgressState};
use crate::quorum::{joint_committed_index, joint_vote_result, VoteResult};
use crate::read_index::LeaderReads;
use crate::snapshot_transfer::Inbound;
use crate::types::{Index, Membership, NodeId, Term};
use smallvec::SmallVec;

/// Answers received from other voters, in arrival order.
pub(super) type Votes = SmallVec<[(NodeId, bool); 4]>;

#[derive(Debug)]
pub(super) enum RoleState {
    Follower(Following),
    /// Polls voters before campaigning (thesis §9.6).
    PreCandidate(Votes),
    /// Campaigns in the current term (§5.2).
    Candidate(Votes),
    /// Boxed: it is the largest variant by far, and a follower should not carry its size.
    Leader(Box<Leading>),
}

/// A follower's own state.
#[derive(Debug, Default)]
pub(super) struct Following {
    /// The leader it follows in the current term, once heard from.
    pub(super) leader: Option<NodeId>,
    /// The snapshot transfer being received from that leader, if any.
    pub(super) inbound: Option<Box<Inbound>>,
    /// The latest heartbeat round answered to that leader.
    pub(super) answered_round: Option<u64>,
    /// The snapshot the embedder refused in this term: its chunks are answered with a refusal.
    pub(super) refused: Option<(Index, Term)>,
    /// Quiet (docs/design.md, "Quiescence"): the leader said it goes quiet and this node holds
    /// its whole log; the election timer stands still until an input wakes the node.
    /// Invariant: only with a known leader.
    pub(super) quiet: bool,
    /// Woke while quiet and told the leader, which has not been heard from since: the notice
    /// is repeated every heartbeat interval (a lost one would otherwise cost a campaign).
    pub(super) notice_due: bool,
}

/// A leader's own state, for its term.
#[derive(Debug)]
pub(super) struct Leading {
    /// One entry per other member, voters and learners.
    pub(super) progress: Vec<Progress>,
    /// Learners already reported caught up in this term.
    pub(super) caught_up: SmallVec<[NodeId; 4]>,
    /// Bytes of this term's entries above the commit index.
    pub(super) uncommitted_bytes: u64,
    /// Confirmation rounds and the reads waiting for them (thesis §6.4).
    pub(super) reads: LeaderReads,
    /// The quorum may have changed (a new leadership, a new configuration) since the commit
    /// index was last recounted: the next acknowledgement recounts it whatever its index.
    pub(super) quorum_changed: bool,
    /// Whether the leader is going quiet, or is (docs/design.md, "Quiescence").
    pub(super) quiescence: Quiescence,
}

/// A leader's quiescence (docs/design.md, "Quiescence").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Quiescence {
    /// Heartbeating as usual.
    Awake,
    /// Sent quiescing heartbeats in round `round` and waits for every reachable member to
    /// answer that it went quiet.
    Asking {
        /// The first quiescing round.
        round: u64,
    },
    /// Quiet: no heartbeats, no ticks needed, no lease.
    Quiet,
}

impl RoleState {
    /// The role, without its state.
    pub(super) fn role(&self) -> Role {
        match self {
            RoleState::Follower(_) => Role::Follower,
            RoleState::PreCandidate(_) => Role::PreCandidate,
            RoleState::Candidate(_) => Role::Candidate,
            RoleState::Leader(_) => Role::Leader,
        }
    }

    pub(super) fn is_leader(&self) -> bool {
        matches!(self, RoleState::Leader(_))
    }

    pub(super) fn leading(&self) -> Option<&Leading> {
        match self {
            RoleState::Leader(leading) => Some(leading),
            _ => None,
        }
    }

    pub(super) fn leading_mut(&mut self) -> Option<&mut Leading> {
        match self {
            RoleState::Leader(leading) => Some(leading),
            _ => None,
        }
    }

    pub(super) fn following(&self) -> Option<&Following> {
        match self {
            RoleState::Follower(following) => Some(following),
            _ => None,
        }
    }

    pub(super) fn following_mut(&mut self) -> Option<&mut Following> {
        match self {
            RoleState::Follower(following) => Some(following),
            _ => None,
        }
    }
}

impl Leading {
    /// Starts leading: every other member is probed from `next` (§5.3).
    pub(super) fn new(progress: Vec<Progress>) -> Self {
        Leading {
            progress,
            caught_up: SmallVec::new(),
            uncommitted_bytes: 0,
            reads: LeaderReads::default(),
            quorum_changed: true,
            quiescence: Quiescence::Awake,
        }
    }

    /// Stops going quiet, or wakes: heartbeats resume, and members must say again that they
    /// are quiet.
    pub(super) fn set_awake(&mut self) {
        self.quiescence = Quiescence::Awake;
        for pr in &mut self.progress {
            pr.quiet = false;
        }
    }

    pub(super) fn peer(&self, id: NodeId) -> Option<&Progress> {
        self.progress.iter().find(|p| p.id == id)
    }

    pub(super) fn peer_mut(&mut self, id: NodeId) -> Option<&mut Progress> {
        self.progress.iter_mut().find(|p| p.id == id)
    }

    /// True if `id`'s log is known to be within `gap` entries of `last`.
    pub(super) fn is_caught_up(&self, id: NodeId, last: Index, gap: u64) -> bool {
        self.peer(id).is_some_and(|p| {
            p.state == ProgressState::Replicate && p.match_index.saturating_add(gap) >= last
        })
    }

    /// The highest round acknowledged by a quorum of `m` (joint: by both halves), counting this
    /// leader, `me`, for the latest round if it is a voter.
    pub(super) fn confirmed_round(&self, me: NodeId, m: &Membership) -> u64 {
        let acked = |id: NodeId| {
            if id == me {
                self.reads.round
            } else {
                self.reads.acked(id)
            }
        };
        joint_committed_index(&m.voters, &m.outgoing, acked)
    }

    /// True if a quorum of voters (counting this leader, `me`) answered within `window` ticks
    /// of `now`.
    pub(super) fn quorum_recently_active(
        &self,
        me: NodeId,
        m: &Membership,
        now: u64,
        window: u64,
    ) -> bool {
        let active = |id: NodeId| {
            if id == me {
                return Some(true);
            }
            Some(
                self.peer(id)
                    .is_some_and(|p| now - p.last_contact_tick <= window),
            )
        };
        joint_vote_result(&m.voters, &m.outgoing, active) == VoteResult::Won
    }
}
