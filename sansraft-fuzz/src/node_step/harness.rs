//! One node, its modelled storage, and the local invariants checked after every step.
//!
//! Storage is modelled as sansraft's own test harness does: a write is first *written*
//! (queued), then *durable* (applied to the durable state, surviving a crash), then
//! *acknowledged* to the node. Writes become durable in the order issued.
//!
//! Checked after every step (a panic names the broken rule):
//! - `Node::check_invariants` passes, and snapshot ≤ applied ≤ commit ≤ last index (the test
//!   kit checker's `index_order_rule`; §4.2.2 below is its `removed_leader_rule`).
//! - §5.1 the term never decreases within an incarnation; a restarted node starts at its
//!   durable term; the durable term (and commit) never decreases.
//! - §5.2 one vote per term, across restarts: the durable vote of a term never changes once
//!   set, and no two granted votes in one term name different candidates. (These, and that a
//!   granted vote leaves only once durable, are the test kit checker's rules.)
//! - Figure 2 "persist before responding": every message's term is durable when it leaves
//!   (pre-vote polls excepted: they change no state); a granted vote leaves only once that
//!   vote is durable; an append acknowledgement only for an index that is durable; what the
//!   node believes durable (`Status::durable_index`) is durable, entry for entry.
//! - §5.4.3 applied entries never change: entries are handed out in order, each is durable,
//!   and an index applied again (after a restart) gets the same entry. Across a restart, only
//!   indices up to the restart's durable commit index are held to this: beyond it a fabricated
//!   "leader" may legitimately overwrite what this node alone had applied.
//! - §4.3 a membership change accepted is in the log at the position reported, and in force.
//!   §4.2.2 a leader outside its configuration does not lead once that configuration is
//!   committed.
//! - §6.4 reads: each read asked for is answered once (served or failed), none that was not
//!   asked (restarts forget them); a read is served only once the application applied its read
//!   index; a read the node took as leader has a read index at least its commit index when it
//!   was asked and, without leases, is served only after a quorum of some configuration in
//!   force meanwhile (the node itself included; the step that serves it included) acknowledged
//!   a heartbeat of its term since. With leases (thesis §6.4.1) a leader's read may instead be
//!   served from its lease: then, at some step between asking and serving, the node led with an
//!   entry of its term committed, had started no leadership transfer in that term, and a
//!   quorum of the configuration in force (the node itself included) had acknowledged rounds
//!   the node *sent* fewer than `Config::lease_ticks` of its own ticks before.
//! - §5.3 a follower acknowledges and commits only what appends verified. The harness models,
//!   from the appends it fed and the node's log after each, how far the node's log is known to
//!   match the log of each term's (fabricated) leader: an append whose previous entry and
//!   entries the log then holds verifies the prefix up to its last entry. An acknowledgement
//!   (`AppendResponse::Accepted`) of a term never names an index beyond what appends of that
//!   term verified (or the commit index, which every later leader holds, §5.4); a follower's
//!   commit index advances only within that, within what a heartbeat of the term vouched for
//!   (its commit, bounded by the log it reached: a correct leader sends at most the index the
//!   follower acknowledged), or to a snapshot a leader sent.
//! - §5.3 "reply false if the log does not contain an entry at prevLogIndex whose term
//!   matches prevLogTerm", and only then: an append the node did not count as stale, misaddressed
//!   or malformed, whose previous entry its log held when it arrived, leaves every entry of the
//!   append in the log.

use super::gen::{self, Near};
use super::{Op, Setup, ME};
use arbitrary::Unstructured;
use bytes::Bytes;
use sansraft::message::{
    Append, AppendResponse, HeartbeatResponse, ReadIndexResponse, SnapshotResponse, VoteResponse,
};
use sansraft::quorum::{joint_vote_result, VoteResult};
use sansraft::{
    Action, Body, ChunkRead, ChunkRequest, ChunkWrite, ConfChangeError, Counters, DurableState,
    Entries, Entry, Index, Input, LogPosition, Membership, Message, Node, NodeId, ReadError, Role,
    SnapshotMeta, Status, Term, TransferOutcome, Write, WriteToken,
};
use sansraft_testkit::checker::{
    durable_hard_state_rule, index_order_rule, removed_leader_rule, vote_grant_rule, NodeView,
};
use sansraft_testkit::dispatch::dispatch_all;
use sansraft_testkit::{Effects, MemStorage};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Most tokens kept for replaying stale acknowledgements.
const OLD_TOKENS: usize = 16;

/// A read the embedder asked for and the node has not answered yet.
#[derive(Debug)]
struct ClientRead {
    /// The node's term when asked.
    term: Term,
    /// The node's commit index when asked, if it led then.
    led_at_commit: Option<Index>,
    /// Peers whose heartbeat acknowledgement of `term` arrived since.
    acks: BTreeSet<NodeId>,
    /// Every configuration in force since.
    configurations: Vec<Membership>,
    /// Whether, at some step since it was asked, the node's lease was justified (thesis
    /// §6.4.1), so that it may serve the read without a new round.
    lease: bool,
}

/// What the harness knows of the lease of the term the node leads (thesis §6.4.1).
#[derive(Debug, Default)]
struct Lease {
    /// The term led.
    term: Term,
    /// Heartbeat rounds of `term` the node sent, and the tick of its clock each was first sent
    /// at.
    sent: BTreeMap<u64, u64>,
    /// Per peer, the latest tick at which a round of `term` it acknowledged was sent.
    acked: BTreeMap<NodeId, u64>,
    /// The node started a leadership transfer in `term`: no lease for the rest of it.
    transfer: bool,
}

impl Lease {
    /// The lease model of `term`, started afresh if it is a new term.
    fn of(&mut self, term: Term) -> &mut Lease {
        if self.term != term {
            *self = Lease {
                term,
                ..Lease::default()
            };
        }
        self
    }
}

/// A message being delivered, as the models need it once the node stepped it.
#[derive(Debug)]
struct Delivered {
    /// The message's term and sender.
    term: Term,
    from: NodeId,
    /// The append it carries, if any.
    append: Option<Append>,
    /// The commit index of the heartbeat it carries, if any.
    heartbeat_commit: Option<Index>,
    /// The round of the heartbeat acknowledgement it carries, if any.
    round_ack: Option<u64>,
    /// Whether the node's log held the append's previous entry when it arrived.
    held_prev: bool,
    /// The node's count of messages it ignored or refused as bad, before the step.
    ignored: u64,
}

/// Messages the node ignored or refused as stale, misaddressed, from an unknown sender,
/// against a lease, or malformed.
fn ignored(c: &Counters) -> u64 {
    c.misaddressed + c.unknown_peer + c.stale_term + c.vote_ignored_in_lease + c.malformed
}

/// The node under test with its storage model and invariant trackers.
#[derive(Debug)]
pub struct Harness {
    setup: Setup,
    node: Node,
    /// The node's disk: what it made durable is what a restart starts from.
    store: MemStorage,
    /// Durable writes whose acknowledgement has not reached the node, oldest first.
    acks: VecDeque<WriteToken>,
    /// Acknowledgements already delivered, and tokens of earlier incarnations.
    old_tokens: VecDeque<WriteToken>,
    /// The highest sequence number issued this incarnation.
    max_seq: u64,
    /// The node's term after the previous step.
    term: Term,
    /// Every (index, term) ever durable in the log.
    durable_entries: BTreeSet<(Index, Term)>,
    /// Every vote granted in a message: (voter, term) → candidate.
    granted: BTreeMap<(NodeId, Term), NodeId>,
    /// Entries applied, by index, that must never change.
    applied: BTreeMap<Index, Entry>,
    /// The next index the application expects this incarnation.
    apply_next: Index,
    /// The last message sent to each peer (for [`Op::Respond`]).
    last_sent: BTreeMap<NodeId, Message>,
    /// Chunk reads the node asked for, not yet answered.
    reads: VecDeque<ChunkRead>,
    /// Client reads asked for this incarnation and not yet answered, by id.
    client_reads: BTreeMap<u64, ClientRead>,
    /// The latest client read id used.
    read_id: u64,
    /// Client reads served and failed so far.
    reads_answered: (u64, u64),
    /// Membership changes accepted and refused so far.
    changes: (u64, u64),
    proposals: u64,
    actions: Vec<Action>,
    steps: u64,
    /// Ticks delivered this incarnation: the node's own clock.
    ticks: u64,
    /// §5.3: per term, the index up to which appends of that term verified that the node's log
    /// matches that term's leader's.
    verified: BTreeMap<Term, Index>,
    /// Per term, the commit index heartbeats of that term vouched for, bounded by the log the
    /// node held.
    vouched: BTreeMap<Term, Index>,
    /// The latest snapshot index the node installed from a leader.
    installed: Index,
    /// The message being delivered (set for the step that delivers it).
    delivering: Option<Delivered>,
    /// The lease of the term the node leads.
    lease: Lease,
}

impl Harness {
    /// A fresh node 1 of the cluster `setup` describes.
    pub fn new(setup: Setup) -> Harness {
        let mut membership = Membership::with_voters(1..=setup.voters);
        if setup.learner {
            membership.learners.push(setup.voters + 1);
        }
        let durable = DurableState::bootstrap(membership);
        let node = Node::new(setup.config.clone(), durable.clone(), 0)
            .expect("a fresh node starts from the bootstrap state");
        Harness {
            setup,
            node,
            store: MemStorage::new(durable),
            acks: VecDeque::new(),
            old_tokens: VecDeque::new(),
            max_seq: 0,
            term: 0,
            durable_entries: BTreeSet::new(),
            granted: BTreeMap::new(),
            applied: BTreeMap::new(),
            apply_next: 1,
            last_sent: BTreeMap::new(),
            reads: VecDeque::new(),
            client_reads: BTreeMap::new(),
            read_id: 0,
            reads_answered: (0, 0),
            changes: (0, 0),
            proposals: 0,
            actions: Vec::new(),
            steps: 0,
            ticks: 0,
            verified: BTreeMap::new(),
            vouched: BTreeMap::new(),
            installed: 0,
            delivering: None,
            lease: Lease::default(),
        }
    }

    /// The node under test.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Client reads served and failed so far.
    pub fn reads_answered(&self) -> (u64, u64) {
        self.reads_answered
    }

    /// Membership changes the node accepted and refused so far.
    pub fn changes(&self) -> (u64, u64) {
        self.changes
    }

    /// Entries applied (and held never to change), by index.
    pub fn applied(&self) -> &BTreeMap<Index, Entry> {
        &self.applied
    }

    /// Carries out one operation, checking after every step it causes.
    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::Tick(n) => {
                for _ in 0..=(n % 16) {
                    self.step(Input::Tick);
                }
            }
            Op::Message(recipe) => {
                let mut u = Unstructured::new(recipe);
                if let Ok(m) = self.fabricate(&mut u) {
                    self.deliver(m);
                }
            }
            Op::Respond { peer, agree } => {
                if let Some(m) = self.respond(*peer, *agree) {
                    self.deliver(m);
                }
            }
            Op::Propose(len) => {
                let data = self.payload(*len);
                self.step(Input::Propose(data));
            }
            Op::ProposeBatch(n) => {
                let batch = (0..=(n % 4)).map(|i| self.payload(i * 7)).collect();
                self.step(Input::ProposeBatch(batch));
            }
            Op::Persist => self.persist_one(),
            Op::PersistAndAck => {
                self.persist_one();
                self.ack();
            }
            Op::PersistAllAckLast => {
                while self.store.pending() > 0 {
                    self.persist_one();
                }
                if let Some(last) = self.acks.back().copied() {
                    self.old_tokens.extend(self.acks.drain(..));
                    self.step(Input::Persisted(last));
                }
            }
            Op::Ack => self.ack(),
            Op::StaleAck(k) => {
                if !self.old_tokens.is_empty() {
                    let token = self.old_tokens[*k as usize % self.old_tokens.len()];
                    self.step(Input::Persisted(token));
                }
            }
            Op::BogusAck(k) => {
                let token = match k % 3 {
                    0 => WriteToken {
                        incarnation: self.store.incarnation(),
                        seq: self.max_seq + 1 + u64::from(*k),
                    },
                    1 => WriteToken {
                        incarnation: self.store.incarnation() + 1,
                        seq: u64::from(*k),
                    },
                    _ => WriteToken {
                        incarnation: self.store.incarnation(),
                        seq: 0,
                    },
                };
                self.step(Input::Persisted(token));
            }
            Op::BogusApplied(k) => {
                let index = self.apply_next + u64::from(*k);
                self.step(Input::Applied(index));
            }
            Op::Restart => self.restart(),
            Op::TakeSnapshot => self.take_snapshot(),
            Op::AnswerRead { corrupt } => {
                if let Some(mut read) = self.reads.pop_front() {
                    if *corrupt && !read.data.is_empty() {
                        let mut data = read.data.to_vec();
                        data[0] ^= 0x40;
                        read.data = Bytes::from(data);
                    }
                    self.step(Input::SnapshotChunkRead(read));
                }
            }
            Op::BogusRead(k) => {
                let s = self.store.snapshot().0;
                let read = ChunkRead {
                    peer: ME + 1 + u64::from(*k % 4),
                    index: s.index + u64::from(*k & 1),
                    term: s.term,
                    offset: u64::from(*k),
                    data: Bytes::from_static(b"bogus"),
                    done: *k & 2 != 0,
                };
                self.step(Input::SnapshotChunkRead(read));
            }
            Op::Transfer(peer) => {
                let target = ME + u64::from(*peer) % self.members().max(1);
                self.step(Input::TransferLeadership(target));
            }
            Op::ChangeMembership(change) => {
                let ids = self.members() + 2;
                let change = change.conf_change(|n| ME + u64::from(n) % ids);
                self.step(Input::ChangeMembership(change));
            }
            Op::Read => {
                self.read_id += 1;
                let s = self.node.status();
                let read = ClientRead {
                    term: s.term,
                    led_at_commit: (s.role == Role::Leader).then_some(s.commit),
                    acks: BTreeSet::new(),
                    configurations: vec![self.node.membership().clone()],
                    lease: false,
                };
                self.client_reads.insert(self.read_id, read);
                self.step(Input::ReadIndex(self.read_id));
            }
        }
    }

    /// Delivers a message to the node, noting a heartbeat acknowledgement of the term it leads
    /// in for the reads it confirms.
    fn deliver(&mut self, m: Message) {
        if let Body::HeartbeatResponse(_) = m.body {
            if m.to == ME && m.from != ME && self.node.role() == Role::Leader {
                for read in self.client_reads.values_mut() {
                    if read.term == m.term && m.term == self.node.term() {
                        read.acks.insert(m.from);
                    }
                }
            }
        }
        let append = match &m.body {
            Body::Append(a) => Some(a.clone()),
            _ => None,
        };
        let held_prev = append
            .as_ref()
            .is_some_and(|a| self.node.log_term(a.prev_index) == Some(a.prev_term));
        self.delivering = Some(Delivered {
            term: m.term,
            from: m.from,
            append,
            heartbeat_commit: match &m.body {
                Body::Heartbeat(h) => Some(h.commit),
                _ => None,
            },
            round_ack: match &m.body {
                Body::HeartbeatResponse(r) => Some(r.round),
                _ => None,
            },
            held_prev,
            ignored: ignored(self.node.counters()),
        });
        self.step(Input::Message(m));
    }

    /// The models of what the node was told, once it stepped the message `d`.
    fn on_delivered(&mut self, d: Delivered, before: &Status) {
        let accepted = ignored(self.node.counters()) == d.ignored;
        let s = self.node.status();
        if let (Some(round), true) = (d.round_ack, accepted) {
            // A round of the term led, acknowledged: it vouches for the tick the round was
            // sent at (a round never seen sent: for now, as a later round would).
            if before.role == Role::Leader
                && s.role == Role::Leader
                && d.term == s.term
                && round > 0
            {
                let now = self.ticks;
                let lease = self.lease.of(s.term);
                let sent = lease.sent.range(round..).next().map_or(now, |(_, &t)| t);
                let at = lease.acked.entry(d.from).or_insert(sent);
                *at = (*at).max(sent);
            }
        }
        if s.role == Role::Leader || s.term != d.term {
            return;
        }
        if let Some(commit) = d.heartbeat_commit {
            let vouched = self.vouched.entry(d.term).or_insert(0);
            *vouched = (*vouched).max(commit.min(s.last_index));
        }
        let Some(a) = d.append else {
            return;
        };
        let first = self.node.first_index();
        let holds =
            |index: Index, term: Term| index < first || self.node.log_term(index) == Some(term);
        let holds_all = a.entries.iter().all(|e| holds(e.index, e.term));
        // §5.3: reply false only if the log has no entry at prev_index whose term matches.
        if d.held_prev && accepted {
            assert!(
                holds_all,
                "§5.3: refused an append of term {} after ({}, {}), an entry its log held \
                 (entries {:?}; log now ends at {}, commit {})",
                d.term,
                a.prev_index,
                a.prev_term,
                a.entries
                    .iter()
                    .map(|e| (e.index, e.term))
                    .collect::<Vec<_>>(),
                s.last_index,
                s.commit
            );
        }
        if holds_all && holds(a.prev_index, a.prev_term) {
            let last = a.prev_index.saturating_add(a.entries.len() as Index);
            let verified = self.verified.entry(d.term).or_insert(0);
            *verified = (*verified).max(last);
        }
    }

    /// After a step that did not start or end as leader: the commit index advanced only within
    /// what appends of the term verified, heartbeats of the term vouched for, or a snapshot.
    fn check_follower_commit(&self, before: &Status) {
        let s = self.node.status();
        if s.commit <= before.commit || before.role == Role::Leader || s.role == Role::Leader {
            return;
        }
        let verified = self.verified.get(&s.term).copied().unwrap_or(0);
        let vouched = self.vouched.get(&s.term).copied().unwrap_or(0);
        let snapshot = self.installed.max(self.node.snapshot().index);
        assert!(
            s.commit <= verified.max(vouched).max(snapshot),
            "§5.3: follower committed {} (from {}) in term {}, but appends of that term verified \
             its log only up to {verified} (heartbeats vouched for {vouched}, snapshot {snapshot})",
            s.commit,
            before.commit,
            s.term
        );
    }

    /// Thesis §6.4.1: marks the leader's waiting reads if its lease is justified now: an entry
    /// of its term committed, no transfer started in the term, and a quorum of the
    /// configuration in force acknowledged rounds sent within the lease.
    fn mark_lease_reads(&mut self) {
        let config = &self.setup.config;
        if !(config.lease_reads && config.check_quorum) || self.client_reads.is_empty() {
            return;
        }
        let s = self.node.status();
        if s.role != Role::Leader || self.node.log_term(s.commit) != Some(s.term) {
            return;
        }
        let window = u64::from(config.lease_ticks());
        let now = self.ticks;
        let lease = self.lease.of(s.term);
        if lease.transfer {
            return;
        }
        let m = self.node.membership();
        let held =
            |v: NodeId| Some(v == ME || lease.acked.get(&v).is_some_and(|&t| now - t < window));
        if joint_vote_result(&m.voters, &m.outgoing, held) != VoteResult::Won {
            return;
        }
        for read in self.client_reads.values_mut() {
            if read.term == s.term && read.led_at_commit.is_some() {
                read.lease = true;
            }
        }
    }

    /// A read was served at `index`.
    fn on_read_ready(&mut self, id: u64, index: Index) {
        let read = self.client_reads.remove(&id).unwrap_or_else(|| {
            panic!("§6.4: read {id} served, but it was never asked or already answered")
        });
        self.reads_answered.0 += 1;
        let applied = self.apply_next - 1;
        assert!(
            index <= applied,
            "§6.4: read {id} served at read index {index} with only {applied} applied"
        );
        let Some(commit) = read.led_at_commit else {
            return;
        };
        assert!(
            index >= commit,
            "§6.4: read {id} taken by the leader at commit {commit} served at read index {index}"
        );
        if read.lease {
            return;
        }
        // The step that confirmed the read may have put a configuration in force too.
        let now = self.node.membership();
        let confirmed = read.configurations.iter().chain([now]).any(|m| {
            let acked = |v: NodeId| Some(v == ME || read.acks.contains(&v));
            joint_vote_result(&m.voters, &m.outgoing, acked) == VoteResult::Won
        });
        assert!(
            confirmed,
            "§6.4: read {id} served without a lease or a quorum acknowledging a heartbeat of term \
             {} since it was asked (acknowledged by {:?}; configurations {:?})",
            read.term, read.acks, read.configurations
        );
    }

    /// The node answered this step's membership change.
    fn on_membership_proposed(&mut self, result: Result<LogPosition, ConfChangeError>) {
        let Ok(pos) = result else {
            self.changes.1 += 1;
            return;
        };
        self.changes.0 += 1;
        assert_eq!(
            self.node.log_term(pos.index),
            Some(pos.term),
            "§4.3: the accepted change is in the log at {pos:?}"
        );
        assert_eq!(
            self.node.membership_index(),
            pos.index,
            "§4.3: a configuration is in force once its entry is in the log"
        );
    }

    /// The application snapshots its state at the applied index, stores it durably with its
    /// metadata, and reports it.
    fn take_snapshot(&mut self) {
        let index = self.node.status().applied;
        let Some(term) = self.node.log_term(index) else {
            return;
        };
        // As sansraft-sim's application does: never write a snapshot over a received one whose
        // install is not yet durable (the applied index may come from it).
        if index <= self.store.durable().snapshot.index || self.store.installing() {
            return;
        }
        // Thesis §4.1 / §7: the configuration in force at the snapshot's index, which a change
        // appended since may have replaced as the latest.
        let Some(membership) = self.node.membership_at(index).cloned() else {
            return;
        };
        let meta = SnapshotMeta {
            index,
            term,
            membership,
        };
        let mut data = Vec::new();
        for (i, e) in self.applied.range(..=index) {
            data.extend_from_slice(&i.to_le_bytes());
            data.extend_from_slice(&e.term.to_le_bytes());
        }
        self.store.snapshot_taken(meta.clone(), Bytes::from(data));
        self.durable_entries.insert((meta.index, meta.term));
        let bogus = self.node.counters().bogus_snapshot;
        self.step(Input::SnapshotTaken(meta));
        assert_eq!(
            self.node.counters().bogus_snapshot,
            bogus,
            "the application's snapshot at its applied index was refused"
        );
    }

    /// The term of the durable entry at `index` (or of the durable snapshot's last entry).
    fn durable_term(&self, index: Index) -> Option<Term> {
        let durable = self.store.durable();
        if index == durable.snapshot.index {
            return Some(durable.snapshot.term);
        }
        durable
            .entries
            .binary_search_by_key(&index, |e| e.index)
            .ok()
            .map(|i| durable.entries[i].term)
    }

    fn payload(&mut self, len: u8) -> Bytes {
        self.proposals += 1;
        let mut data = self.proposals.to_le_bytes().to_vec();
        data.resize(8 + usize::from(len % 48), 0xEE);
        Bytes::from(data)
    }

    fn near(&self) -> Near {
        let s = self.node.status();
        Near {
            term: s.term,
            last_index: s.last_index,
            commit: s.commit,
            members: self.members(),
            read_id: self.read_id,
        }
    }

    fn members(&self) -> u64 {
        self.setup.voters + u64::from(self.setup.learner)
    }

    /// A message to the node built from `u`, near the node's state.
    fn fabricate(&self, u: &mut Unstructured<'_>) -> arbitrary::Result<Message> {
        let at = self.near();
        let term = gen::near(u, at.term)?;
        let from = gen::peer(u, self.members(), ME)?;
        let to = if u.ratio(1u8, 16)? {
            gen::peer(u, self.members(), ME)?
        } else {
            ME
        };
        let mut body = gen::body(u, at, term)?;
        if let Body::Append(a) = &mut body {
            // Read after the recipe (so earlier recipes keep their meaning); a used-up recipe
            // says yes.
            if u.ratio(3u8, 4)? {
                self.agree_below_commit(a);
            }
        }
        Ok(Message {
            from,
            to,
            term,
            body,
        })
    }

    /// §5.4 (Leader Completeness): a correct leader holds the follower's committed entries, so
    /// an append reaching below the node's commit index carries the node's own terms there
    /// (later entries' terms are raised to keep the run non-decreasing). Drawn terms there
    /// would mostly contradict the committed prefix and be dropped as malformed; this way the
    /// path that skips the committed part is exercised.
    fn agree_below_commit(&self, a: &mut Append) {
        let commit = self.node.status().commit;
        if a.prev_index >= commit {
            return;
        }
        if let Some(t) = self.node.log_term(a.prev_index) {
            a.prev_term = t;
        }
        let mut floor = a.prev_term;
        let mut entries = std::mem::take(&mut a.entries).into_vec();
        for e in &mut entries {
            match self.node.log_term(e.index) {
                Some(t) if e.index <= commit => e.term = t,
                _ => e.term = e.term.max(floor),
            }
            floor = e.term;
        }
        a.entries = entries.into();
    }

    /// What peer `peer` would answer to the last message the node sent it.
    fn respond(&self, peer: u8, agree: bool) -> Option<Message> {
        let peers = self.members().saturating_sub(1).max(1);
        let to = ME + 1 + u64::from(peer) % peers;
        let m = self.last_sent.get(&to)?;
        let body = match &m.body {
            Body::Vote(v) => Body::VoteResponse(VoteResponse {
                pre_vote: v.pre_vote,
                granted: agree,
            }),
            Body::Append(a) if agree => Body::AppendResponse(AppendResponse::Accepted {
                match_index: a.prev_index + a.entries.len() as Index,
            }),
            Body::Append(a) => Body::AppendResponse(AppendResponse::Rejected {
                reject_index: a.prev_index,
                hint_index: a.prev_index.saturating_sub(1).max(1),
                hint_term: None,
            }),
            Body::Heartbeat(h) => Body::HeartbeatResponse(HeartbeatResponse { round: h.round }),
            Body::SnapshotChunk(c) if agree && c.done => {
                Body::SnapshotResponse(SnapshotResponse::Installed {
                    match_index: c.index,
                })
            }
            // A leader confirms a forwarded read at its commit index, here no lower than ours.
            Body::ReadIndex(r) => Body::ReadIndexResponse(ReadIndexResponse {
                id: r.id,
                index: agree.then(|| self.node.status().commit),
            }),
            Body::SnapshotChunk(c) => Body::SnapshotResponse(SnapshotResponse::Next {
                index: c.index,
                term: c.term,
                offset: if agree {
                    c.offset + c.data.len() as u64
                } else {
                    0
                },
            }),
            _ => return None,
        };
        Some(Message {
            from: to,
            to: ME,
            term: m.term,
            body,
        })
    }

    fn ack(&mut self) {
        if let Some(token) = self.acks.pop_front() {
            self.remember(token);
            self.step(Input::Persisted(token));
        }
    }

    fn remember(&mut self, token: WriteToken) {
        if self.old_tokens.len() == OLD_TOKENS {
            self.old_tokens.pop_front();
        }
        self.old_tokens.push_back(token);
    }

    /// The oldest written write becomes durable, after the checks of what it changes.
    fn persist_one(&mut self) {
        let Some(write) = self.store.oldest_pending() else {
            return;
        };
        let durable = self.store.durable();
        if let Some(install) = &write.install {
            let meta = &install.meta;
            assert!(
                meta.index >= durable.snapshot.index,
                "a snapshot install moves the snapshot back from {} to {}",
                durable.snapshot.index,
                meta.index
            );
            self.durable_entries.insert((meta.index, meta.term));
        }
        if let Some(hs) = write.hard_state {
            if let Err(breach) = durable_hard_state_rule(ME, durable.hard_state, hs) {
                panic!("{breach}");
            }
        }
        if let Some(first) = write.entries.first() {
            // Where the log ends once this write's install (if any) is carried out.
            let last_entry = durable.entries.last().map(|e| e.index);
            let last = match &write.install {
                Some(i) if !i.retain_log => i.meta.index,
                Some(i) => last_entry.map_or(i.meta.index, |l| l.max(i.meta.index)),
                None => last_entry.unwrap_or(durable.snapshot.index),
            };
            assert!(
                first.index <= last + 1,
                "a write leaves a gap: entries from {} after a log ending at {last}",
                first.index,
            );
            for e in &write.entries {
                self.durable_entries.insert((e.index, e.term));
            }
        }
        let token = self.store.persist_one().expect("a write is pending");
        self.acks.push_back(token);
    }

    /// The process crashes and restarts from its durable state with a new incarnation.
    fn restart(&mut self) {
        self.reads.clear();
        // The node forgets the reads it was asked for: their clients time out and retry.
        self.client_reads.clear();
        for token in std::mem::take(&mut self.acks) {
            self.remember(token);
        }
        self.max_seq = 0;
        self.ticks = 0;
        self.lease = Lease::default();
        let (state, _, incarnation) = self.store.restart();
        self.node = Node::new(self.setup.config.clone(), state, incarnation)
            .unwrap_or_else(|e| panic!("the node refused to restart from its durable state: {e}"));
        let durable = self.store.durable();
        let commit = durable.hard_state.commit.max(durable.snapshot.index);
        self.applied.retain(|&index, _| index <= commit);
        self.apply_next = durable.snapshot.index + 1;
        assert_eq!(
            self.node.term(),
            self.store.durable().hard_state.term,
            "§5.1: a restarted node starts at its durable term"
        );
        self.term = self.node.term();
        self.last_sent.clear();
        if let Err(v) = self.node.check_invariants() {
            panic!("{v} after a restart");
        }
        self.check_node();
    }

    /// Steps the node with `input` and then with the application reports its actions call for.
    fn step(&mut self, input: Input) {
        let mut next = Some(input);
        while let Some(input) = next.take() {
            if let Input::Tick = input {
                self.ticks += 1;
            }
            let transfer = matches!(input, Input::TransferLeadership(_));
            let before = self.node.status();
            let rules = super::local_rules::Before::of(&self.node, &input);
            let mut actions = std::mem::take(&mut self.actions);
            self.node.step_into(input, &mut actions);
            self.steps += 1;
            if let Some(d) = self.delivering.take() {
                self.on_delivered(d, &before);
            }
            if transfer
                && before.role == Role::Leader
                && !actions
                    .iter()
                    .any(|a| matches!(a, Action::Transfer(TransferOutcome::Refused { .. })))
            {
                self.lease.of(before.term).transfer = true;
            }
            self.mark_lease_reads();
            super::local_rules::check(&self.node, rules, &actions, self.steps);
            let mut carry = CarryOut {
                harness: self,
                next: None,
            };
            dispatch_all(actions.drain(..), &mut carry);
            next = carry.next;
            self.actions = actions;
            self.check_node();
            self.check_follower_commit(&before);
            let membership = self.node.membership();
            for read in self.client_reads.values_mut() {
                if read.configurations.last() != Some(membership) {
                    read.configurations.push(membership.clone());
                }
            }
        }
    }

    fn on_write(&mut self, write: Write) {
        assert_eq!(
            write.token.incarnation,
            self.store.incarnation(),
            "a write carries the current incarnation"
        );
        assert_eq!(
            write.token.seq,
            self.max_seq + 1,
            "write sequence numbers grow by one"
        );
        self.max_seq = write.token.seq;
        if let Some(install) = &write.install {
            self.installed = self.installed.max(install.meta.index);
            // The application's state is restored from the snapshot: it has applied up to there.
            self.apply_next = install.meta.index + 1;
        }
        self.store.write(write);
    }

    fn on_send(&mut self, m: Message) {
        assert_eq!(m.from, ME, "a message names its sender: {m:?}");
        let durable_term = self.store.durable().hard_state.term;
        let poll = matches!(
            m.body,
            Body::Vote(sansraft::message::VoteRequest { pre_vote: true, .. })
                | Body::VoteResponse(VoteResponse {
                    pre_vote: true,
                    granted: true
                })
        );
        if !poll {
            assert!(
                m.term <= durable_term,
                "Figure 2: sent a message of term {} before that term was durable (durable term \
                 {durable_term}): {m:?}",
                m.term
            );
        }
        match m.body {
            Body::Heartbeat(h)
                if self.node.role() == Role::Leader && m.term == self.node.term() =>
            {
                let now = self.ticks;
                self.lease.of(m.term).sent.entry(h.round).or_insert(now);
            }
            Body::VoteResponse(VoteResponse {
                pre_vote: false,
                granted: true,
            }) => {
                let durable = self.store.durable().hard_state;
                if let Err(breach) = vote_grant_rule(&mut self.granted, durable, &m) {
                    panic!("{breach}");
                }
            }
            Body::AppendResponse(AppendResponse::Accepted { match_index })
            | Body::SnapshotResponse(SnapshotResponse::Installed { match_index })
                if match_index > 0 =>
            {
                let durable = self
                    .durable_entries
                    .range((match_index, 0)..=(match_index, Term::MAX))
                    .next()
                    .is_some();
                assert!(
                    durable || match_index <= self.store.durable().snapshot.index,
                    "Figure 2: acknowledged index {match_index} before it was durable"
                );
                if let Body::AppendResponse(_) = m.body {
                    let verified = self.verified.get(&m.term).copied().unwrap_or(0);
                    let known = verified
                        .max(self.node.status().commit)
                        .max(self.node.snapshot().index);
                    assert!(
                        match_index <= known,
                        "§5.3: acknowledged index {match_index} in term {}, but appends of that \
                         term verified the log only up to {verified} (commit {})",
                        m.term,
                        self.node.status().commit
                    );
                }
            }
            _ => {}
        }
        self.last_sent.insert(m.to, m);
    }

    fn on_apply(&mut self, e: &Entry) {
        assert_eq!(
            e.index, self.apply_next,
            "entries are handed out for applying in order"
        );
        self.apply_next += 1;
        assert_eq!(
            self.durable_term(e.index),
            Some(e.term),
            "an entry handed out for applying is durable"
        );
        let first = self.applied.entry(e.index).or_insert_with(|| e.clone());
        assert_eq!(
            first, e,
            "§5.4.3: a different entry applied at index {}",
            e.index
        );
    }

    /// The node's own invariants and those that need only the node and the storage model.
    fn check_node(&mut self) {
        // With debug assertions sansraft checks its invariants after every step itself.
        if !cfg!(debug_assertions) {
            if let Err(v) = self.node.check_invariants() {
                panic!("{v} after step {}", self.steps);
            }
        }
        let s = self.node.status();
        let view = NodeView::of(&self.node);
        let membership = self.node.membership();
        index_order_rule(&view)
            .and_then(|()| removed_leader_rule(&view, membership, self.node.membership_index()))
            .unwrap_or_else(|breach| panic!("{breach} (step {})", self.steps));
        assert!(
            s.term >= self.term,
            "§5.1: term decreased from {} to {}",
            self.term,
            s.term
        );
        self.term = s.term;
        let durable_hs = self.node.durable_hard_state();
        assert!(
            durable_hs.term <= self.store.durable().hard_state.term,
            "the node believes term {} durable, storage holds {}",
            durable_hs.term,
            self.store.durable().hard_state.term
        );
        // Both logs walked side by side (a lookup per index would cost a search each).
        let first = self
            .node
            .first_index()
            .max(self.store.durable().snapshot.index + 1);
        if first > s.durable_index {
            return;
        }
        let disk = &self.store.durable().entries;
        let disk = &disk[disk.partition_point(|e| e.index < first)..];
        let mut held = self.node.log_entries_from(first);
        for (k, index) in (first..=s.durable_index).enumerate() {
            let on_disk = match disk.get(k) {
                Some(e) if e.index == index => Some(e.term),
                _ => self.durable_term(index),
            };
            let in_node = match held.next() {
                Some(e) if e.index == index => Some(e.term),
                _ => self.node.log_term(index),
            };
            assert_eq!(
                on_disk, in_node,
                "the node believes index {index} durable, storage disagrees"
            );
        }
    }
}

/// One step's actions carried out on the harness; `next` is the application's report to feed.
struct CarryOut<'a> {
    harness: &'a mut Harness,
    next: Option<Input>,
}

impl Effects for CarryOut<'_> {
    fn persist(&mut self, write: Write) {
        self.harness.on_write(write);
    }

    fn send(&mut self, message: Message) {
        self.harness.on_send(message);
    }

    fn apply(&mut self, entries: Entries) {
        for e in &entries {
            self.harness.on_apply(e);
        }
        self.next = entries.last().map(|e| Input::Applied(e.index));
    }

    fn membership_proposed(&mut self, result: Result<LogPosition, ConfChangeError>) {
        self.harness.on_membership_proposed(result);
    }

    fn read_ready(&mut self, id: u64, index: Index) {
        self.harness.on_read_ready(id, index);
    }

    fn read_failed(&mut self, id: u64, _: ReadError) {
        let h = &mut *self.harness;
        assert!(
            h.client_reads.remove(&id).is_some(),
            "§6.4: read {id} failed, but it was never asked or already answered"
        );
        h.reads_answered.1 += 1;
    }

    fn compact_log(&mut self, upto: Index) {
        let store = &mut self.harness.store;
        let snapshot = store.durable().snapshot.index;
        assert!(
            upto <= snapshot,
            "asked to delete entries up to {upto}, beyond the durable snapshot at {snapshot}"
        );
        store.compact(upto);
    }

    fn read_snapshot_chunk(&mut self, request: ChunkRequest) {
        let read = self.harness.store.read_chunk(&request);
        self.harness.reads.push_back(read);
    }

    fn write_snapshot_chunk(&mut self, chunk: ChunkWrite) {
        self.harness.store.write_chunk(&chunk);
    }

    fn drop_partial_snapshot(&mut self, index: Index, term: Term) {
        self.harness.store.drop_partial(index, term);
    }
}
