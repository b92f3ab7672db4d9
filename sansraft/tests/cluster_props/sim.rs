//! The cluster the schedules run on, with a fully controllable network and storage, and the
//! runner that checks after every operation.

use bytes::Bytes;
use sansraft::{ConfChange, Config, Entry, Index, Input, NodeId, Role, Term};
use sansraft_testkit::Cluster;
use std::collections::BTreeMap;

use crate::schedule::*;

/// More messages than this in flight and the oldest are lost (keeps long schedules cheap).
pub(crate) const MAX_IN_FLIGHT: usize = 300;

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Stats {
    pub(crate) max_term: Term,
    pub(crate) leaders_elected: usize,
    pub(crate) max_commit: Index,
    pub(crate) proposals_accepted: usize,
    pub(crate) crashes: usize,
    pub(crate) restarts: usize,
    pub(crate) applied_after_restart: bool,
    /// Times a node's log lost a suffix (a divergent log was repaired by truncation).
    pub(crate) truncations: usize,
    /// Membership changes the leader accepted.
    pub(crate) changes_accepted: usize,
    /// Most voters any node had in force (in the incoming half).
    pub(crate) max_voters: usize,
    /// Reads served.
    pub(crate) reads_served: usize,
}

/// The test kit's cluster driver (which also checks that entries are applied in order and that
/// reads are served only once applied), and what the properties remember between checks.
#[derive(Debug)]
pub(crate) struct Sim {
    pub(crate) c: Cluster,
    pub(crate) next_command: u64,
    /// Election Safety: the leader seen in each term, over the whole run (crashed nodes included).
    pub(crate) leader_of_term: BTreeMap<Term, NodeId>,
    /// The committed log as observed so far: every node's committed prefix must agree with it.
    pub(crate) committed: Vec<Entry>,
    /// `prefix_hashes` of `committed`.
    pub(crate) committed_hashes: Vec<u64>,
    /// Every entry any node applied, by index.
    pub(crate) applied: BTreeMap<Index, Entry>,
    /// Each node's commit index at the last check, while it stays up.
    pub(crate) last_commit: Vec<Option<Index>>,
    /// How many of each node's applied entries (`Peer::applied`) were checked.
    pub(crate) applied_checked: Vec<usize>,
    /// How many read outcomes were checked.
    pub(crate) reads_checked: usize,
    /// The terms of each node's log at the last check, while it stays up.
    pub(crate) last_log_terms: Vec<Vec<Term>>,
    /// Per read id: the committed prefix known when the read was asked.
    pub(crate) read_floor: BTreeMap<u64, Index>,
    pub(crate) next_read: u64,
    pub(crate) stats: Stats,
}

impl Sim {
    /// `n` voters, and `spares` nodes outside the configuration (ids after the voters').
    pub(crate) fn new(n: usize, spares: usize, s: &Setup) -> Sim {
        let mut c = Cluster::with_spares(n as u64, spares as u64, |id| {
            let mut c = Config::new(id, s.seed.wrapping_add(id.wrapping_mul(7919)));
            (c.election_timeout_ticks, c.heartbeat_interval_ticks) = s.timing;
            c.pre_vote = s.pre_vote;
            c.check_quorum = s.check_quorum;
            c.max_inflight_msgs = s.max_inflight_msgs;
            c.max_append_bytes = s.max_append_bytes;
            c.max_uncommitted_bytes = s.max_uncommitted_bytes;
            c
        });
        c.auto_persist = s.auto_persist;
        let n = n + spares;
        Sim {
            c,
            next_command: 0,
            leader_of_term: BTreeMap::new(),
            committed: Vec::new(),
            committed_hashes: Vec::new(),
            applied: BTreeMap::new(),
            last_commit: vec![Some(0); n],
            applied_checked: vec![0; n],
            reads_checked: 0,
            last_log_terms: vec![Vec::new(); n],
            read_floor: BTreeMap::new(),
            next_read: 0,
            stats: Stats::default(),
        }
    }

    /// Steps node `i` (an index) with `input`; the cluster carries out the actions.
    pub(crate) fn step(&mut self, i: usize, input: Input) {
        self.c.step(i as NodeId + 1, input);
    }

    pub(crate) fn apply(&mut self, op: &Op) {
        let n = self.c.peers.len();
        let net = &mut self.c.network;
        match *op {
            Op::Tick(i) => self.step(i, Input::Tick),
            Op::TickAll => self.c.tick_all(),
            Op::Deliver(k) => {
                if !net.is_empty() {
                    let m = net.remove(k % net.len()).expect("in range");
                    self.c.deliver(m);
                }
            }
            Op::DeliverAll => {
                for _ in 0..2_000 {
                    if !self.c.deliver_one() {
                        break;
                    }
                }
            }
            Op::Drop(k) => {
                if !net.is_empty() {
                    net.remove(k % net.len());
                }
            }
            Op::Duplicate(k) => {
                if !net.is_empty() {
                    let m = net[k % net.len()].clone();
                    net.push_back(m);
                }
            }
            Op::Propose(i) => {
                let data = Bytes::from(format!("cmd{}", self.next_command));
                self.next_command += 1;
                self.step(i, Input::Propose(data));
            }
            Op::Crash(i) => {
                if self.c.peers[i].node.is_some() {
                    self.c.crash(i as NodeId + 1);
                    self.last_commit[i] = None;
                    self.last_log_terms[i].clear();
                    self.stats.crashes += 1;
                }
            }
            Op::Restart(i) => {
                if self.c.peers[i].node.is_none() {
                    self.c.restart(i as NodeId + 1);
                    self.applied_checked[i] = self.c.peers[i].applied.len();
                    self.stats.restarts += 1;
                }
            }
            Op::Persist(i) => {
                if self.c.peers[i].node.is_some() {
                    if let Some(ack) = self.c.persist_one(i as NodeId + 1) {
                        self.step(i, ack);
                    }
                }
            }
            Op::ToggleAutoPersist => self.c.auto_persist = !self.c.auto_persist,
            Op::ProposeAtLeader => {
                if let Some(i) = self.leader() {
                    self.apply(&Op::Propose(i));
                }
            }
            Op::Isolate(i) => self.c.isolate(i as NodeId + 1),
            Op::IsolateLeader => {
                if let Some(i) = self.leader() {
                    self.c.isolate(i as NodeId + 1);
                }
            }
            Op::Heal => self.c.heal(),
            Op::Read(i) => {
                let id = self.next_read;
                self.next_read += 1;
                self.read_floor.insert(id, self.committed.len() as Index);
                self.step(i, Input::ReadIndex(id));
            }
            Op::Change(change) => {
                if let Some(i) = self.leader() {
                    let id = |k: usize| (k % n) as NodeId + 1;
                    let change = match change {
                        MemberOp::AddLearner(k) => ConfChange::add_learner(id(k)),
                        MemberOp::Promote(k) => ConfChange::promote(id(k)),
                        MemberOp::Remove(k) => ConfChange::remove(id(k)),
                        MemberOp::Replace(a, b) => ConfChange::replace(id(a), id(b)),
                        MemberOp::LeaveJoint => ConfChange::leave_joint(),
                    };
                    self.step(i, Input::ChangeMembership(change));
                }
            }
        }
        while self.c.network.len() > MAX_IN_FLIGHT {
            self.c.network.pop_front();
        }
    }

    /// The up node that leads the highest term, if any.
    pub(crate) fn leader(&self) -> Option<usize> {
        (0..self.c.peers.len())
            .filter_map(|i| Some((i, self.c.peers[i].node.as_ref()?)))
            .filter(|(_, n)| n.role() == Role::Leader)
            .max_by_key(|(_, n)| n.term())
            .map(|(i, _)| i)
    }
}

/// Runs a schedule, checking after every operation.
pub(crate) fn run(n: usize, setup: &Setup, ops: &[Op]) -> Result<Stats, String> {
    run_with_spares(n, 0, setup, ops)
}

pub(crate) fn run_with_spares(
    n: usize,
    spares: usize,
    setup: &Setup,
    ops: &[Op],
) -> Result<Stats, String> {
    let mut sim = Sim::new(n, spares, setup);
    sim.check()?;
    for (k, op) in ops.iter().enumerate() {
        sim.apply(op);
        sim.check()
            .map_err(|e| format!("after operation #{k} {op:?}: {e}"))?;
    }
    let accepted = |ok: &[bool]| ok.iter().filter(|&&ok| ok).count();
    let proposals: Vec<bool> = sim.c.proposals.iter().map(|p| p.1.is_ok()).collect();
    let changes: Vec<bool> = sim.c.conf_changes.iter().map(|c| c.1.is_ok()).collect();
    sim.stats.proposals_accepted = accepted(&proposals);
    sim.stats.changes_accepted = accepted(&changes);
    Ok(sim.stats)
}
