//! Safety checks, run after every step of every node.
//!
//! The checker keeps a compact mirror of each node's log (built from the writes the node issues,
//! so it also catches a log changed without a write), of each node's durable log (built from the
//! writes storage completes), the globally committed prefix, and the entries applied per index.
//! Every invariant is written once, in [`log_rules`] (log matching, leader append-only, leader
//! completeness, commit and apply agreement), [`node_rules`] (election safety, votes,
//! monotonicity, index order, durability before speaking), [`membership_rules`] (commit
//! quorums of the configuration in force, voters only, removed leaders step down) or
//! [`read_rules`] (a read served is not stale: no newer leader, no entry committed before it
//! missed; a bounded-staleness read misses nothing committed before its bound). All checks are incremental: a step costs O(entries it changed + nodes), not O(log).
//!
//! Hooks take a [`NodeView`] rather than a `Node`, so tests can feed fabricated states.

mod append_rules;
mod breach;
mod election_timer;
mod log_rules;
mod membership_rules;
mod node_rules;
mod read_rules;
mod snapshot_rules;
mod termlog;
#[cfg(test)]
mod tests;

pub use append_rules::AppendRules;
pub use breach::{Breach, Rule};
pub use election_timer::{Before, ElectionTimers};
pub use membership_rules::removed_leader_rule;
pub use node_rules::{durable_hard_state_rule, index_order_rule, vote_grant_rule};
pub use termlog::{entry_hash, TermLog};

use sansraft::{DurableState, HardState, Index, InvariantViolation, Node, NodeId, Role, Term};
use std::collections::BTreeMap;

/// The result of one check.
pub type Check = Result<(), Breach>;

/// The driver's clock in microseconds: when leaders were first seen and reads issued (the read
/// rules compare instants across nodes; the simulator passes its simulated time).
pub type Micros = u64;

/// What the checker needs to know of a node after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeView {
    /// The node's id.
    pub id: NodeId,
    /// Its role.
    pub role: Role,
    /// Its current term.
    pub term: Term,
    /// Its commit index.
    pub commit: Index,
    /// What it believes the application applied.
    pub applied: Index,
    /// Its last log index.
    pub last_index: Index,
    /// The term of its last entry (0 for an empty log).
    pub last_term: Term,
    /// Its snapshot index (the index before its first retained entry).
    pub snapshot_index: Index,
    /// It is a witness ([`Node::is_witness`]): its log keeps no payloads, so its entries are
    /// compared by what other logs hold at the same index and term.
    pub witness: bool,
}

impl NodeView {
    /// Reads a node.
    #[inline]
    pub fn of(node: &Node) -> NodeView {
        let s = node.status();
        NodeView {
            id: s.id,
            role: s.role,
            term: s.term,
            commit: s.commit,
            applied: s.applied,
            last_index: s.last_index,
            last_term: s.last_term,
            snapshot_index: node.first_index() - 1,
            witness: node.is_witness(),
        }
    }
}

/// What the checker tracks per node.
#[derive(Clone, Debug, Default)]
struct Track {
    /// The in-memory log as described by the writes issued.
    log: TermLog,
    /// The log on disk.
    durable: TermLog,
    /// The hard state on disk.
    durable_hs: HardState,
    /// Last term seen this incarnation.
    term: Term,
    /// Last commit index seen this incarnation.
    commit: Index,
    /// The last index the application applied this incarnation.
    applied: Index,
    /// `Some(term)` while the node leads in `term`.
    leader_term: Option<Term>,
    up: bool,
    /// The configuration the node had in force after its last step (`None`: not yet seen in
    /// this incarnation).
    membership: Option<sansraft::Membership>,
    /// Each term the node led in which it committed an entry of that term, and when it first
    /// did (kept across crashes: reads it confirmed may still be served).
    own_commits: Vec<(Term, Micros)>,
    /// The node was a witness at its last step: its writes and applies carry no payloads.
    witness: bool,
}

/// The global safety checker of one run.
#[derive(Clone, Debug)]
pub struct Checker {
    nodes: Vec<Track>,
    /// Election safety: the leader of each term, and when it was first seen leading.
    leaders: BTreeMap<Term, (NodeId, Micros)>,
    /// Log matching: the prefix hash of every (index, term) ever written.
    registry: log_rules::Registry,
    /// The longest prefix known committed.
    committed: TermLog,
    /// Per committed index: an upper bound on the term in which it committed (non-decreasing).
    commit_terms: Vec<Term>,
    /// The last answer of `must_hold`: (term, index); cleared whenever `commit_terms` changes.
    must_hold_memo: Option<(Term, Index)>,
    /// Per index: the hash of the entry applied there and the first node that applied it.
    applied: Vec<(u64, NodeId)>,
    /// Votes granted: (voter, term) → candidate.
    votes: BTreeMap<(NodeId, Term), NodeId>,
    /// Writes that truncated a log, for coverage.
    truncations: u64,
    /// State-machine safety across snapshots: the digest of the state at each snapshot index.
    snapshot_digests: BTreeMap<Index, u64>,
    /// Reads handed to nodes and not yet served or failed, by read id.
    reads: BTreeMap<u64, read_rules::IssuedRead>,
    /// When the committed prefix grew, and to what length: the change points, in time order
    /// (one per step that extended it), for the bounded-staleness rule.
    commit_times: Vec<(Micros, Index)>,
    /// The simulated time of the step being checked.
    now: Micros,
}

/// A failed check. The detail is written only on failure, and out of line: the checks run after
/// every step, and their message formatting would otherwise weigh on every call.
#[cold]
#[inline(never)]
fn fail(rule: Rule, node: NodeId, detail: impl FnOnce() -> String) -> Check {
    Err(Breach::new(rule, Some(node), detail()))
}

impl Checker {
    /// A checker for `n` nodes (ids `1..=n`) that all start from `initial`.
    pub fn new(n: usize, initial: &DurableState) -> Checker {
        let track = Track {
            log: TermLog::from_entries(&initial.entries),
            durable: TermLog::from_entries(&initial.entries),
            durable_hs: initial.hard_state,
            term: initial.hard_state.term,
            commit: initial.hard_state.commit,
            up: true,
            ..Track::default()
        };
        Checker {
            nodes: vec![track; n],
            leaders: BTreeMap::new(),
            registry: log_rules::Registry::default(),
            committed: TermLog::default(),
            commit_terms: Vec::new(),
            must_hold_memo: None,
            applied: Vec::new(),
            votes: BTreeMap::new(),
            truncations: 0,
            snapshot_digests: BTreeMap::new(),
            reads: BTreeMap::new(),
            commit_times: Vec::new(),
            now: 0,
        }
    }

    /// Adds a node (the next index) that starts from `initial`, as a server joining the cluster
    /// does.
    pub fn add_node(&mut self, initial: &DurableState) {
        let mut grown = Checker::new(1, initial);
        self.nodes.append(&mut grown.nodes);
    }

    /// Sets the simulated time of the steps checked next.
    pub fn set_time(&mut self, now: Micros) {
        self.now = now;
    }

    /// Terms that had a leader so far.
    pub fn elections(&self) -> usize {
        self.leaders.len()
    }

    /// Writes so far that truncated a node's log.
    pub fn truncations(&self) -> u64 {
        self.truncations
    }

    /// The length of the committed prefix.
    pub fn committed_len(&self) -> Index {
        self.committed.len()
    }

    /// The term of the committed entry at `index`, if that far is committed.
    pub fn committed_term(&self, index: Index) -> Option<Term> {
        self.committed.term(index)
    }

    /// Checks a node after it handled one input (and its actions were carried out). `local` is
    /// the node's own `check_invariants` result.
    pub fn after_step(
        &mut self,
        i: usize,
        v: &NodeView,
        local: Result<(), InvariantViolation>,
    ) -> Check {
        if let Err(e) = local {
            return fail(Rule::NodeInvariant, v.id, || e.to_string());
        }
        index_order_rule(v)?;
        self.check_mirror(i, v)?;
        self.check_monotonic(i, v)?;
        self.check_election(i, v)?;
        self.check_leader_completeness(i, v)?;
        self.check_commit(i, v)?;
        if v.role == Role::Leader {
            self.note_own_commit(i, v.term, v.commit);
        }
        let t = &mut self.nodes[i];
        if v.applied > t.applied {
            return fail(Rule::IndexOrder, v.id, || {
                format!(
                    "node reports applied {} but the application applied {}",
                    v.applied, t.applied
                )
            });
        }
        t.term = v.term;
        t.commit = v.commit;
        Ok(())
    }

    /// True if node `i` led at the end of its previous step.
    pub fn led_last_step(&self, i: usize) -> bool {
        self.nodes[i].leader_term.is_some()
    }

    /// The node crashed: its in-memory state is gone.
    pub fn on_crash(&mut self, i: usize) {
        let t = &mut self.nodes[i];
        t.up = false;
        t.leader_term = None;
        t.membership = None;
        self.forget_reads_of(i);
    }

    /// The node restarted from `durable` (which must be what storage made durable) and replays
    /// its log into a fresh application.
    pub fn on_restart(&mut self, i: usize, v: &NodeView, durable: &DurableState) -> Check {
        let t = &mut self.nodes[i];
        // The node gets the entries after its snapshot; the mirror keeps the whole log.
        let last = durable
            .entries
            .last()
            .map_or(durable.snapshot.index, |e| e.index);
        let registry = &self.registry;
        let same_entries = (durable.entries.iter())
            .all(|e| t.durable.entry_hash(e.index) == Some(registry.hash_as_kept(e, v.witness)));
        let snapshot_held = t.durable.term(durable.snapshot.index) == Some(durable.snapshot.term);
        if t.durable.len() != last
            || !same_entries
            || !snapshot_held
            || durable.hard_state != t.durable_hs
        {
            return fail(Rule::Durability, v.id, || {
                "restarted from state that differs from what storage made durable".into()
            });
        }
        if v.term < t.durable_hs.term {
            return fail(Rule::Monotonicity, v.id, || {
                format!(
                    "restarted in term {} below durable term {}",
                    v.term, t.durable_hs.term
                )
            });
        }
        t.log = t.durable.clone();
        t.witness = v.witness;
        t.term = v.term;
        t.commit = v.commit;
        t.applied = durable.applied;
        t.leader_term = None;
        t.up = true;
        Ok(())
    }
}
