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
//! - Bounded-staleness reads (docs/design.md §11): each is answered in its step, once: served
//!   at the applied index, or refused as too stale with a provable staleness beyond the bound
//!   (or none). Served by a node that has not led in this incarnation, it rests on a freshness
//!   proof a heartbeat gave it in this incarnation, about a stamp of this incarnation at most
//!   the node's ticks then and at most `bound` ticks old now, whose commit index is applied.
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
    Append, AppendResponse, HeartbeatResponse, ReadIndexResponse, SnapshotResponse, Stamp,
    VoteResponse,
};
use sansraft::quorum::{joint_vote_result, VoteResult};
use sansraft::{
    Action, Body, ChunkRead, ChunkRequest, ChunkWrite, ConfChangeError, Counters, DurableState,
    Entries, Entry, Index, Input, LogPosition, Membership, Message, Node, NodeId, ReadError, Role,
    Status, Term, TransferOutcome, Write, WriteToken,
};
use sansraft_testkit::checker::{
    durable_hard_state_rule, index_order_rule, removed_leader_rule, vote_grant_rule, NodeView,
};
use sansraft_testkit::dispatch::dispatch_all;
use sansraft_testkit::{Effects, MemStorage};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

mod checks;
mod generate;
mod reads;
mod stale_reads;
mod step;
mod storage;

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
    /// Freshness proofs given to the node and its bounded-staleness read in progress.
    stale: stale_reads::StaleReads,
}

impl Harness {
    /// A fresh node 1 of the cluster `setup` describes.
    pub fn new(setup: Setup) -> Harness {
        let mut membership = Membership::with_voters(1..=setup.voters);
        if setup.learner {
            membership.learners.push(setup.voters + 1);
        }
        let witness = setup.config.witness;
        if witness {
            membership.witnesses.push(1);
        }
        membership.priorities = setup.priorities.clone();
        let durable = DurableState::bootstrap(membership);
        let node = Node::new(setup.config.clone(), durable.clone(), 0)
            .expect("a fresh node starts from the bootstrap state");
        Harness {
            setup,
            node,
            store: MemStorage::new(durable).witness(witness),
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
            stale: stale_reads::StaleReads::default(),
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

    /// Bounded-staleness reads served, served by a node that never led in its incarnation
    /// (checked against the proofs it was given), and refused, so far.
    pub fn stale_reads_answered(&self) -> (u64, u64, u64) {
        self.stale.counts
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
            Op::Campaign { skip_pre_vote } => self.step(Input::Campaign {
                skip_pre_vote: *skip_pre_vote,
            }),
            Op::RefuseSnapshot { bogus } => {
                let partial = self.store.partial();
                let (index, term) = match partial {
                    Some((index, term)) if *bogus => (index + 1, term),
                    Some(id) => id,
                    None => (1, self.node.term()),
                };
                self.step(Input::RefuseSnapshot { index, term });
                if partial == Some((index, term)) {
                    // The transfer is abandoned: its partial snapshot is dropped.
                    assert_eq!(
                        self.store.partial(),
                        None,
                        "a refused snapshot's partial is dropped"
                    );
                }
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
            Op::ReadStale { bound } => self.read_stale(u32::from(*bound)),
            Op::PeerUnreachable(peer) => {
                let id = ME + u64::from(*peer & 0x7F) % (self.members() + 1);
                // The high bit: the node is heard from again instead.
                self.step(if *peer & 0x80 == 0 {
                    Input::PeerUnreachable(id)
                } else {
                    Input::PeerReachable(id)
                });
            }
        }
    }
}
