//! The Raft node: one state machine driven by [`Node::step`].

mod dispatch;
mod election;
mod follower;
mod invariants;
mod leader;
mod lease;
mod membership;
mod outbox;
mod priority;
mod quiescence;
mod reads;
mod role;
mod snapshot;
mod stale_reads;
mod transfer;

use crate::config::{Config, Io};
use crate::config_history::{decode_membership, ConfigHistory};
use crate::counters::Counters;
use crate::durability::{AckOutcome, Durability};
use crate::error::StartError;
use crate::freshness::Freshness;
use crate::io::{Action, Input, RoleChange, Write, WriteToken};
use crate::raft_log::RaftLog;
use crate::read_index::Reads;
use crate::rng::Rng;
use crate::types::{
    Entry, EntryKind, HardState, Index, Membership, NodeId, SnapshotMeta, Term, MAX_INDEX,
};

use outbox::Outbox;
use role::{Following, RoleState};

pub use invariants::InvariantViolation;
pub use transfer::{TransferOutcome, TransferRefusal};

/// A node's role (§5.1, plus the pre-vote phase of thesis §9.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Polls voters before campaigning; has not changed its term.
    PreCandidate,
    /// Campaigns for leadership in its current term.
    Candidate,
    /// Leads its current term.
    Leader,
}

/// Everything a node persisted, handed back to start it after a crash or for the first time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DurableState {
    /// The persisted hard state.
    pub hard_state: HardState,
    /// The latest snapshot's metadata; for a fresh node, index 0 with the initial membership.
    pub snapshot: SnapshotMeta,
    /// The persisted log entries after the snapshot, in order (entries at or before the
    /// snapshot's index that storage still holds must be left out). Partial snapshots of
    /// interrupted transfers are not part of the durable state: delete them.
    pub entries: Vec<Entry>,
    /// The index the application's state machine has applied (at least the snapshot index).
    pub applied: Index,
}

impl DurableState {
    /// The state of a brand-new member of a new cluster. Persist it before starting the node.
    pub fn bootstrap(membership: Membership) -> Self {
        DurableState {
            snapshot: SnapshotMeta {
                index: 0,
                term: 0,
                membership,
            },
            ..DurableState::default()
        }
    }
}

/// A summary of a node's state, for monitoring and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// This node's id.
    pub id: NodeId,
    /// Its role.
    pub role: Role,
    /// Its current term.
    pub term: Term,
    /// The leader it knows of in this term.
    pub leader: Option<NodeId>,
    /// Its commit index.
    pub commit: Index,
    /// The highest index the application reported applied.
    pub applied: Index,
    /// Its last log index.
    pub last_index: Index,
    /// The term of its last log entry (of the snapshot's last entry if the log is empty).
    pub last_term: Term,
    /// The last index that is durable in its local log.
    pub durable_index: Index,
}

/// A Raft server as a deterministic state machine. See the crate documentation for the driving
/// loop.
#[derive(Debug)]
pub struct Node {
    config: Config,
    rng: Rng,
    /// Invariant: never decreases (§5.1), also across restarts.
    term: Term,
    /// Invariant: at most one vote per term (§5.2), also across restarts.
    vote: Option<NodeId>,
    /// The role, with the state only it has.
    role: RoleState,
    /// Every log position: entries, configurations, snapshot, commit, durable and applied.
    log: RaftLog,
    /// A leadership transfer this node started as leader and whose outcome is not yet known:
    /// it outlives the leadership (the old leader learns of the new one as a follower).
    transfer: Option<transfer::LeaderTransfer>,
    /// The back-off of automatic transfers to members of higher priority; like `transfer`, it
    /// outlives a leadership (a new term does not restart it).
    hand_over: priority::HandOver,
    durability: Durability,
    /// Ticks since start; the leader's clock for peer contact.
    ticks: u64,
    election_elapsed: u32,
    heartbeat_elapsed: u32,
    randomized_election_timeout: u32,
    counters: Counters,
    outbox: Outbox,
    /// Linearizable reads in progress (thesis §6.4).
    reads: Reads,
    /// Proofs of how fresh this node's state is, for bounded-staleness reads (this
    /// incarnation's stamps only).
    freshness: Freshness,
    /// Actions other than writes, messages and applies, emitted before the write.
    effects: Vec<Action>,
    /// Role, term and leader as last reported ([`Action::RoleChanged`]).
    reported: RoleChange,
    /// Set where role, term or leader may change; the step's end compares and reports.
    role_may_change: bool,
}

impl Node {
    /// Starts a node from its durable state. `incarnation` must differ from every earlier
    /// incarnation of this node whose storage acknowledgements could still arrive (a persisted
    /// boot counter works); acknowledgements are matched against it. For bounded-staleness
    /// reads ([`Input::ReadStale`]) it must differ from every earlier incarnation of the node,
    /// ever: a leader's proof about an earlier incarnation's clock must never be taken for
    /// this one's.
    pub fn new(config: Config, state: DurableState, incarnation: u64) -> Result<Node, StartError> {
        config.validate()?;
        let DurableState {
            hard_state,
            snapshot,
            entries,
            applied,
        } = state;
        if !snapshot.membership.is_well_formed() {
            return Err(StartError::MalformedMembership);
        }
        if snapshot.term > hard_state.term {
            return Err(StartError::SnapshotTermAboveCurrentTerm {
                snapshot_term: snapshot.term,
            });
        }
        let last_index = snapshot.index.saturating_add(entries.len() as Index);
        if last_index > MAX_INDEX {
            return Err(StartError::IndexSpaceExhausted { last_index });
        }
        let mut prev_term = snapshot.term;
        let mut configs = ConfigHistory::new(snapshot.index, snapshot.membership.clone());
        for (i, entry) in entries.iter().enumerate() {
            let expected = snapshot.index + 1 + i as Index;
            if entry.index != expected {
                return Err(StartError::LogNotContiguous {
                    expected,
                    found: entry.index,
                });
            }
            if entry.term < prev_term || entry.term > hard_state.term {
                return Err(StartError::LogTermsOutOfOrder { index: entry.index });
            }
            prev_term = entry.term;
            if entry.kind == EntryKind::Membership {
                let Some(membership) = decode_membership(entry) else {
                    return Err(StartError::MalformedMembership);
                };
                configs.push(entry.index, membership);
            }
        }
        if hard_state.commit > last_index {
            return Err(StartError::CommitBeyondLog {
                commit: hard_state.commit,
                last_index,
            });
        }
        if applied < snapshot.index || applied > last_index {
            return Err(StartError::AppliedOutOfRange { applied });
        }
        // The persisted commit index may lag (a commit-only change is never written alone),
        // but the application applies only committed entries, so its applied index is
        // committed too.
        let commit = hard_state.commit.max(snapshot.index).max(applied);
        let mut rng = Rng::new(config.seed ^ incarnation.rotate_left(32));
        let delay = priority::election_delay(configs.latest(), config.id, &config);
        let randomized_election_timeout = Self::random_timeout(&mut rng, &config, delay);
        let node = Node {
            rng,
            term: hard_state.term,
            // §5.2: the persisted vote survives the restart.
            vote: if canary!(config, RevoteAfterRestart) {
                None
            } else {
                hard_state.vote
            },
            role: RoleState::Follower(Following::default()),
            log: RaftLog::new(snapshot, entries, configs, commit, applied),
            reads: Reads::default(),
            freshness: Freshness::default(),
            transfer: None,
            hand_over: priority::HandOver::default(),
            durability: Durability::new(incarnation, hard_state),
            ticks: 0,
            election_elapsed: 0,
            heartbeat_elapsed: 0,
            randomized_election_timeout,
            counters: Counters::default(),
            outbox: Outbox::default(),
            effects: Vec::new(),
            reported: RoleChange {
                role: Role::Follower,
                term: hard_state.term,
                leader: None,
            },
            role_may_change: false,
            config,
        };
        Ok(node)
    }

    /// Handles one input and returns the actions to carry out, in order. Allocates the returned
    /// vector; use [`Node::step_into`] on hot paths.
    pub fn step(&mut self, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        self.step_into(input, &mut out);
        out
    }

    /// Handles one input and appends the actions to carry out, in order, to `out` (which is not
    /// cleared, so one buffer can be reused across steps without allocating).
    pub fn step_into(&mut self, input: Input, out: &mut Vec<Action>) {
        self.step_with(input, |action| out.push(action));
    }

    /// Handles one input and hands each action to carry out to `sink`, in order, as the step
    /// decides it: the same actions in the same order as [`Node::step_into`] collects, with no
    /// buffer in between. The node is borrowed for the whole step, so `sink` cannot step it
    /// again; it may carry an action out at once (with [`Io::Synchronous`], as the action's
    /// duty says) or queue it.
    pub fn step_with(&mut self, input: Input, mut sink: impl FnMut(Action)) {
        // Quiescence: only a node configured for it is ever quiet. Its prologue and epilogue
        // stay out of the step of a node that never quiesces: mixed into one body with it,
        // they cost that node about 17 instructions a step, mostly in how the input is moved
        // (docs/performance.md, "Many groups in one process").
        if self.config.quiesce {
            self.quiescent_step(input, &mut sink);
        } else {
            self.step_body(input, &mut sink);
        }
        #[cfg(debug_assertions)]
        if let Err(violation) = self.check_invariants() {
            panic!(
                "sansraft: {violation} (node {}, after a step)",
                self.config.id
            );
        }
    }

    /// A step of a node configured to quiesce: wakes it for the input if that input wakes it,
    /// and gives back its buffers' spare capacity if the step made it quiet.
    #[inline(never)]
    fn quiescent_step(&mut self, input: Input, out: &mut impl FnMut(Action)) {
        let was_quiet = self.before_quiescent_step(&input);
        self.step_body(input, out);
        if !was_quiet && self.is_quiet() {
            self.shrink_when_quiet();
        }
    }

    /// The step proper: the input's handling, then its effects turned into actions.
    #[inline]
    fn step_body(&mut self, input: Input, out: &mut impl FnMut(Action)) {
        match input {
            Input::Tick => self.tick(),
            Input::Message(message) => self.on_message(message),
            Input::Propose(data) => self.propose_one(data, out),
            Input::ProposeBatch(batch) => self.propose(batch, out),
            Input::Persisted(token) => self.on_persisted(token),
            Input::ChangeMembership(change) => {
                let result = self.change_membership(&change);
                out(Action::MembershipProposed(result));
            }
            Input::ReadIndex(id) => self.read_index(id),
            Input::ReadStale {
                id,
                max_staleness_ticks,
            } => self.read_stale(id, max_staleness_ticks),
            Input::Applied(index) => {
                if !self.log.applied_to(index) {
                    self.counters.bogus_applied += 1;
                }
            }
            Input::SnapshotTaken(meta) => self.on_snapshot_taken(*meta),
            Input::SnapshotChunkRead(read) => self.on_chunk_read(read),
            Input::TransferLeadership(target) => self.on_transfer_request(target),
            Input::RefuseSnapshot { index, term } => self.refuse_snapshot(index, term),
            Input::PeerUnreachable(id) => self.on_peer_unreachable(id),
            Input::PeerReachable(id) => self.on_peer_reachable(id),
            Input::Campaign { skip_pre_vote } => {
                let result = self.on_campaign_request(skip_pre_vote);
                out(Action::Campaigned(result));
            }
        }
        self.flush(out);
        if self.role_may_change {
            self.report_role(out);
        }
    }

    /// Turns the effects of an input into actions: first the write, then the messages that may
    /// leave now, then entries to apply.
    fn flush(&mut self, out: &mut impl FnMut(Action)) {
        loop {
            if self.role.is_leader() {
                self.leader_membership_duties();
            }
            self.drive_reads();
            self.send_appends();
            if !self.effects.is_empty() {
                self.effects.drain(..).for_each(&mut *out);
            }
            let written = self.issue_write(out);
            let synchronous = self.config.io == Io::Synchronous;
            let mut again = false;
            if let Some(token) = written.filter(|_| synchronous) {
                // The embedder makes the write durable before it carries out what follows.
                let (role, commit) = (self.role.role(), self.log.committed());
                self.on_persisted(token);
                // A commit or a role the write brought about has duties of its own.
                again = self.role.role() != role || self.log.committed() != commit;
            }
            self.outbox.release(&mut self.durability, out);
            let handed_out = self.emit_apply(out);
            if let Some(index) = handed_out.filter(|_| synchronous) {
                // The embedder applies these entries before it carries out what follows.
                self.log.applied_to(index);
                again |= self.reads.waiting_for_apply();
            }
            if !again {
                return;
            }
        }
    }

    /// Reports role, term and leader if they changed since last reported.
    fn report_role(&mut self, out: &mut impl FnMut(Action)) {
        self.role_may_change = false;
        let now = RoleChange {
            role: self.role(),
            term: self.term,
            leader: self.leader(),
        };
        if now != self.reported {
            self.reported = now;
            out(Action::RoleChanged(now));
        }
    }

    /// An acknowledgement of the write with `token` and of every write before it.
    fn on_persisted(&mut self, token: WriteToken) {
        match self.durability.on_ack(self.ack_token(token)) {
            AckOutcome::Accepted => {
                self.log.persisted(token.seq);
                self.on_durable();
            }
            AckOutcome::Stale => self.counters.stale_ack += 1,
            AckOutcome::Bogus => self.counters.bogus_ack += 1,
        }
    }

    /// Issues one write for whatever changed: hard state, new or overwritten entries, a
    /// snapshot to install.
    fn issue_write(&mut self, out: &mut impl FnMut(Action)) -> Option<WriteToken> {
        let hard_state = self.hard_state();
        let issued = self.durability.issued_hard_state();
        // A commit index that changed alone is not written: it rides on the next write.
        // Raft needs term, vote and log durable (Figure 2); the commit index can be relearned
        // from the leader and is an optimisation on restart (see `HardState::commit`).
        let term_or_vote = hard_state.term != issued.term || hard_state.vote != issued.vote;
        if !term_or_vote && !self.log.has_unwritten() {
            return None;
        }
        let token = self.durability.issue(hard_state);
        let (install, entries) = self.log.write_issued(token.seq);
        let hard_state = (hard_state != issued).then_some(hard_state);
        out(Action::Persist(Write {
            token,
            // Boxed in the write: it is large and rare, and every action is as large as its
            // largest kind.
            install,
            hard_state,
            entries,
        }));
        Some(token)
    }

    /// Hands out the entries that may be applied now; returns the last one's index, if any.
    fn emit_apply(&mut self, out: &mut impl FnMut(Action)) -> Option<Index> {
        let max = self.config.max_apply_bytes;
        let mut last = None;
        self.log.take_applicable(max, |run| {
            last = run.last().map(|e| e.index);
            out(Action::Apply(run));
        });
        last
    }

    /// The token as acknowledged. The `stale-ack-accepted` canary forgets which incarnation
    /// issued it, so an earlier incarnation's acknowledgement counts for this one's writes.
    fn ack_token(&self, token: WriteToken) -> WriteToken {
        #[cfg(feature = "canary")]
        if canary!(self.config, StaleAckAccepted) {
            return WriteToken {
                incarnation: self.durability.incarnation(),
                ..token
            };
        }
        token
    }

    /// Called when an acknowledgement made more state durable.
    fn on_durable(&mut self) {
        match self.role {
            RoleState::Candidate(_) => self.tally_votes(),
            RoleState::Leader(ref leading) => {
                // The leader's own durable index moved: the quorum index passes the commit index
                // only if another member's match passes it too, or if the leader alone is a
                // majority of each half of the configuration.
                let commit = self.log.committed();
                let m = self.log.membership();
                if leading.quorum_changed
                    || leading.progress.iter().any(|p| p.match_index > commit)
                    || (m.voters.len() <= 1 && m.outgoing.len() <= 1)
                {
                    self.maybe_commit();
                }
            }
            RoleState::Follower(_) | RoleState::PreCandidate(_) => {}
        }
    }

    fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            vote: self.vote,
            commit: self.log.committed(),
        }
    }

    /// A randomised election timeout, `delay` ticks later than usual (for a member of lower
    /// priority than another that may lead, see `node/priority.rs`).
    fn random_timeout(rng: &mut Rng, config: &Config, delay: u32) -> u32 {
        let t = u64::from(config.election_timeout_ticks);
        // §5.2: a random timeout in [T, 2T) makes split votes rare. One draw per timeout,
        // whatever the delay, so a node without priorities draws as it always did.
        (rng.in_range(t, 2 * t) as u32).saturating_add(delay)
    }

    /// Draws the next randomised election timeout for the configuration in force.
    fn reset_election_timeout(&mut self) {
        let delay = priority::election_delay(self.log.membership(), self.config.id, &self.config);
        self.randomized_election_timeout = Self::random_timeout(&mut self.rng, &self.config, delay);
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.config.id
    }

    /// The node's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Its current role.
    pub fn role(&self) -> Role {
        self.role.role()
    }

    /// Its current term.
    pub fn term(&self) -> Term {
        self.term
    }

    /// The vote it cast in the current term.
    pub fn vote(&self) -> Option<NodeId> {
        self.vote
    }

    /// The leader it knows of in the current term.
    pub fn leader(&self) -> Option<NodeId> {
        match &self.role {
            RoleState::Leader(_) => Some(self.config.id),
            RoleState::Follower(following) => following.leader,
            RoleState::PreCandidate(_) | RoleState::Candidate(_) => None,
        }
    }

    /// The configuration in force: the latest in the log, committed or not (thesis §4.1).
    pub fn membership(&self) -> &Membership {
        self.log.membership()
    }

    /// The configuration in force at `index` (for snapshot metadata), if `index` is not below
    /// the snapshot.
    pub fn membership_at(&self, index: Index) -> Option<&Membership> {
        (index >= self.log.compacted_to()).then(|| self.log.configs().at(index))
    }

    /// The metadata a snapshot of the state machine at `index` must carry: the term of the
    /// entry there and the configuration in force there (thesis §4.1 / §7; a change appended
    /// since may have replaced it as the latest). `None` if the log no longer knows `index`.
    pub fn snapshot_meta_at(&self, index: Index) -> Option<SnapshotMeta> {
        Some(SnapshotMeta {
            index,
            term: self.log_term(index)?,
            membership: self.membership_at(index)?.clone(),
        })
    }

    /// The index of the entry holding the configuration in force (the snapshot index if none).
    pub fn membership_index(&self) -> Index {
        self.log.configs().latest_index()
    }

    /// Counters of ignored input.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Messages waiting for a write to become durable.
    pub fn held_messages(&self) -> usize {
        self.durability.held_len()
    }

    /// The hard state as last made durable.
    pub fn durable_hard_state(&self) -> HardState {
        self.durability.durable_hard_state()
    }

    /// A summary of the node's state.
    pub fn status(&self) -> Status {
        Status {
            id: self.config.id,
            role: self.role(),
            term: self.term,
            leader: self.leader(),
            commit: self.log.committed(),
            applied: self.log.applied(),
            last_index: self.log.last_index(),
            last_term: self.log.last_term(),
            durable_index: self.log.durable(),
        }
    }

    /// The term of the log entry at `index`, if the log holds it (or it is the snapshot's last).
    pub fn log_term(&self, index: Index) -> Option<Term> {
        self.log.term(index)
    }

    /// The retained log entries from `index` on.
    pub fn log_entries_from(&self, index: Index) -> impl Iterator<Item = &Entry> {
        self.log.iter_from(index)
    }

    /// The first index still held in the log.
    pub fn first_index(&self) -> Index {
        self.log.first_index()
    }

    /// The latest snapshot's metadata.
    pub fn snapshot(&self) -> &SnapshotMeta {
        self.log.snapshot()
    }

    /// The state of a follower's replication as this leader sees it (`None` if this node is
    /// not the leader or `id` is not a peer).
    pub fn progress_state(&self, id: NodeId) -> Option<crate::ProgressState> {
        Some(self.role.leading()?.peer(id)?.state)
    }

    /// The leader's view of peer `id`'s replication (`None` if this node is not the leader or
    /// `id` is not a peer). Reads only; allocates nothing.
    pub fn peer_progress(&self, id: NodeId) -> Option<crate::PeerProgress> {
        Some(self.role.leading()?.peer(id)?.view(self.ticks))
    }

    /// The leader's view of every peer (voters and learners), in the order it tracks them;
    /// nothing on a node that does not lead. Allocates nothing.
    pub fn peers(&self) -> impl Iterator<Item = (NodeId, crate::PeerProgress)> + '_ {
        let progress = self.role.leading().map_or(&[][..], |l| &l.progress[..]);
        progress.iter().map(|pr| (pr.id, pr.view(self.ticks)))
    }

    /// The target of the leadership transfer this node started, while its outcome is open.
    pub fn transfer_target(&self) -> Option<NodeId> {
        self.transfer.as_ref().map(|t| t.target)
    }
}
