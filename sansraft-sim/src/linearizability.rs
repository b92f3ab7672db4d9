//! Linearizability checker for the simulated key-value store.
//!
//! The simulator records a *history*: for every client request, when it was
//! invoked and (if the client ever found out) when it completed and what it
//! returned. [`check`] decides whether that history is *linearizable* with
//! respect to a sequential store in which every key is an independent
//! register, initially absent: whether every operation can be assigned a
//! single instant between its invocation and its completion such that
//! executing the operations one at a time, in the order of those instants,
//! against the sequential model yields exactly the recorded outputs.
//!
//! # Algorithm
//!
//! The core is the Wing & Gong search with Lowe's memoization, as in
//! Porcupine ("WGL"), plus pruning specific to registers:
//!
//! * **P-compositionality.** Every operation touches exactly one key and
//!   linearizability is local (Herlihy & Wing 1990; Horn & Kroening 2015),
//!   so the history is split by key and each sub-history is checked on its
//!   own, in ascending key order. This keeps every search small.
//! * **Evident violations** (stale reads, lost updates, reads of values
//!   never written) are first looked for by a cheap real-time argument
//!   ([`evident_violation`]); finding them by search would mean exhausting
//!   every linearization of the history before them.
//! * **Wing & Gong search.** A depth-first search over *configurations*:
//!   the set of operations linearized so far and the resulting model state.
//!   The operations that may be linearized next are the unlinearized ones
//!   invoked before the first completion of an unlinearized operation (that
//!   one must be linearized before anything invoked later). They are found
//!   in a time-ordered doubly linked list of invocation and completion
//!   events from which linearized operations are unlinked, and relinked on
//!   backtracking (dancing links, as in Porcupine). At equal times
//!   invocations sort before completions: operations whose intervals merely
//!   touch are concurrent.
//! * **Lowe's memoization.** The future of the search depends only on the
//!   configuration, so every configuration (a bitset of linearized
//!   operations and the state) is recorded and never explored twice.
//! * **Pruning.** A configuration is abandoned as soon as some value that
//!   an unlinearized completed read still needs can no longer be produced
//!   ([`Supply`]): typically right after a wrong choice overwrote it, rather
//!   than when that read's deadline passes.
//!
//! Values are interned per key, so a state is a small integer.
//!
//! # Operations with unknown outcome
//!
//! A client that timed out or crashed does not know whether its request took
//! effect. Such an operation ([`Operation::completed`] is `None`) is treated
//! as completing at +infinity with any output: it may be linearized at any
//! point after its invocation, or never. A `Get` with unknown outcome
//! constrains nothing and is dropped. A `Put` or `Cas` with unknown outcome,
//! if linearized, changes the state exactly as its operation dictates (a
//! `Cas` succeeds or fails depending on the state at that point). The search
//! succeeds as soon as every operation with known outcome is linearized; the
//! others still unlinearized then are the ones that never took effect.
//!
//! Since these operations are always available, they could multiply the
//! configurations; the search only considers *canonical* linearizations, of
//! which one exists whenever any linearization does:
//!
//! * one that would leave the state unchanged is never linearized (omitting
//!   it is equivalent);
//! * one must be directly followed by an operation that observes its effect
//!   ([`Step::observes`]); otherwise it could be omitted or moved later;
//! * among puts of values that no unlinearized operation refers to, only
//!   one is tried at a time (they are interchangeable);
//! * configurations are also tracked by which unknown-outcome operations
//!   they used, and one is pruned if a configuration with the same state
//!   and known-outcome operations but a subset of those was already
//!   explored ([`Memo`]): using fewer of them only leaves more options.
//!
//! # Cost
//!
//! Deciding linearizability is NP-complete in general, and the search is
//! exponential in the number of operations concurrently in flight *on one
//! key*; `max_steps` bounds it ([`Verdict::Inconclusive`]). With operations
//! spread over several keys it is fast: a few milliseconds for thousands of
//! operations from tens of clients. The pruning works best when every write
//! writes a fresh value (then it even handles tens of clients on a single
//! key), and fresh values also make the reported violations easier to read.
//!
//! # References
//!
//! * J. M. Wing and C. Gong, "Testing and verifying concurrent objects",
//!   Journal of Parallel and Distributed Computing 17(1–2), 1993.
//! * G. Lowe, "Testing for linearizability", Concurrency and Computation:
//!   Practice and Experience 29(4), 2017.
//! * A. Athalye, Porcupine: a fast linearizability checker in Go,
//!   <https://github.com/anishathalye/porcupine>.
//! * A. Horn and D. Kroening, "Faster linearizability checking via
//!   P-compositionality", FORTE 2015.
//! * M. P. Herlihy and J. M. Wing, "Linearizability: a correctness condition
//!   for concurrent objects", ACM TOPLAS 12(3), 1990.

// The interface is `pub` by specification, but sansraft-sim is a binary crate, so
// the workspace's `unreachable_pub` lint would flag every item.
#![allow(unreachable_pub)]

use std::collections::BTreeMap;
#[expect(
    clippy::disallowed_types,
    reason = "the memo is only probed by key, never iterated: its order cannot reach any output"
)]
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A key of the replicated key-value store.
pub type Key = u64;

/// A value stored under a [`Key`].
pub type Value = u64;

/// A client request against the key-value store. Every request touches
/// exactly one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvOp {
    /// Unconditionally set `key` to `value`.
    Put {
        /// The key written.
        key: Key,
        /// The value written.
        value: Value,
    },
    /// Read the current value of `key` (`None` if absent).
    Get {
        /// The key read.
        key: Key,
    },
    /// Compare-and-set: set `key` to `new` iff its current value equals
    /// `expected` (`None` meaning "absent"); report whether it swapped.
    Cas {
        /// The key compared and possibly written.
        key: Key,
        /// The value `key` must currently hold (`None`: must be absent).
        expected: Option<Value>,
        /// The value written on success.
        new: Value,
    },
}

impl KvOp {
    /// The single key this operation touches.
    pub fn key(&self) -> Key {
        match *self {
            KvOp::Put { key, .. } | KvOp::Get { key } | KvOp::Cas { key, .. } => key,
        }
    }
}

/// The response a client received for a [`KvOp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvOutput {
    /// Response to a [`KvOp::Put`].
    Written,
    /// Response to a [`KvOp::Get`]: the value read (`None` if absent).
    Read(Option<Value>),
    /// Response to a [`KvOp::Cas`]: whether the swap happened.
    CasResult {
        /// `true` iff the value matched `expected` and was replaced.
        swapped: bool,
    },
}

/// One operation of a recorded history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operation {
    /// The client that issued the operation (informational only; the
    /// checker does not use it).
    pub client: u64,
    /// The request.
    pub op: KvOp,
    /// Simulated time at which the client invoked the operation.
    pub invoked_at: u64,
    /// Simulated completion time and the output the client received.
    ///
    /// None: the client never learned the outcome (timed out / crashed); the
    /// operation may have taken effect at any point after invocation, or
    /// never. A completion time earlier than `invoked_at` is treated as equal
    /// to `invoked_at`. An output of the wrong kind for the request (e.g.
    /// `Written` for a `Get`) can never be linearized.
    pub completed: Option<(u64, KvOutput)>,
}

/// The result of [`check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every key's sub-history has a linearization.
    Linearizable,
    /// No linearization exists for this key; `operations` is the sub-history of that key (for the report).
    ///
    /// `operations` holds every operation on `key` (including ones with
    /// unknown outcome), sorted by invocation time (ties broken by the other
    /// fields). If several keys fail, the smallest is reported.
    NotLinearizable {
        /// The smallest key whose sub-history is not linearizable.
        key: Key,
        /// All operations on `key`, sorted by `invoked_at`.
        operations: Vec<Operation>,
    },
    /// The search exceeded `max_steps` for some key: no verdict.
    ///
    /// Only reported if no key was found to be non-linearizable; the
    /// smallest such key is reported.
    Inconclusive {
        /// The smallest key whose search ran out of steps.
        key: Key,
    },
}

/// Checks whether `history` is linearizable with respect to a sequential
/// key-value store in which every key starts absent.
///
/// Operations are ordered only by real time: `a` must be linearized before
/// `b` iff `a` completed strictly before `b` was invoked. The order of
/// `history` itself is irrelevant. See the [module documentation](self) for
/// the treatment of operations with unknown outcome.
///
/// Keys are checked independently in ascending order. `max_steps` bounds the
/// search effort *per key*: one step is one candidate operation considered,
/// or one backtrack; a step takes a few to a few tens of nanoseconds, so
/// `10_000_000` means well under a second per key. A key exceeding it
/// yields [`Verdict::Inconclusive`], unless some other key is definitely
/// [`Verdict::NotLinearizable`]. The result is a deterministic function of
/// the multiset of operations (their order in `history` does not matter).
pub fn check(history: &[Operation], max_steps: u64) -> Verdict {
    let mut by_key: BTreeMap<Key, Vec<Operation>> = BTreeMap::new();
    for op in history {
        by_key.entry(op.op.key()).or_default().push(*op);
    }

    let mut inconclusive: Option<Key> = None;
    for (key, mut ops) in by_key {
        // Sort into a canonical order so the result does not depend on the
        // order of `history`.
        ops.sort_by_key(sort_key);
        match check_key(&ops, max_steps, true) {
            KeyResult::Linearizable => {}
            KeyResult::NotLinearizable => {
                return Verdict::NotLinearizable {
                    key,
                    operations: ops,
                };
            }
            KeyResult::Inconclusive => {
                inconclusive.get_or_insert(key);
            }
        }
    }
    match inconclusive {
        Some(key) => Verdict::Inconclusive { key },
        None => Verdict::Linearizable,
    }
}

/// A total order on operations used to canonicalise each sub-history.
type SortKey = (u64, u8, u64, u8, u64, u64, u64, u8, u64, u64);

/// Canonical sort key of an operation: invocation time first, then every
/// other field, so that equal-time operations are ordered deterministically.
fn sort_key(o: &Operation) -> SortKey {
    let (op_tag, a, b, c) = match o.op {
        KvOp::Put { value, .. } => (0, value, 0, 0),
        KvOp::Get { .. } => (1, 0, 0, 0),
        KvOp::Cas { expected, new, .. } => {
            (2, new, expected.map_or(0, |_| 1), expected.unwrap_or(0))
        }
    };
    let (done, at, out_tag, out) = match o.completed {
        None => (1, 0, 0, 0),
        Some((t, KvOutput::Written)) => (0, t, 0, 0),
        Some((t, KvOutput::Read(v))) => (0, t, 1 + u8::from(v.is_some()), v.unwrap_or(0)),
        Some((t, KvOutput::CasResult { swapped })) => (0, t, 3, u64::from(swapped)),
    };
    (
        o.invoked_at,
        done,
        at,
        op_tag,
        a,
        b,
        c,
        out_tag,
        out,
        o.client,
    )
}

/// Outcome of checking a single key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyResult {
    /// A linearization exists.
    Linearizable,
    /// No linearization exists.
    NotLinearizable,
    /// The search ran out of steps.
    Inconclusive,
}

/// The sequential model's state for one key, as an index into the key's
/// table of distinct values: [`ABSENT`] or `i > 0` for the `i`-th value.
type State = u32;

/// The state of a key that has never been written.
const ABSENT: State = 0;

/// An operation together with its recorded output, over interned values:
/// all the search needs to know about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// A put (completed or not: its output carries no information).
    Put {
        /// The value written.
        new: State,
    },
    /// A completed get.
    Get {
        /// The value read.
        read: State,
    },
    /// A compare-and-set.
    Cas {
        /// The value compared against.
        expected: State,
        /// The value written on success.
        new: State,
        /// The recorded outcome, `None` if unknown.
        swapped: Option<bool>,
    },
    /// A completed operation whose output is of the wrong kind for its
    /// request (e.g. `Written` for a `Get`): it can never be linearized.
    Never,
}

impl Step {
    /// Applies the operation in `state`: the new state, or `None` if the
    /// recorded output is impossible in `state`.
    fn apply(self, state: State) -> Option<State> {
        match self {
            Step::Put { new } => Some(new),
            Step::Get { read } => (read == state).then_some(state),
            Step::Cas {
                expected,
                new,
                swapped,
            } => {
                let swaps = expected == state;
                match swapped {
                    Some(s) if s != swaps => None,
                    _ => Some(if swaps { new } else { state }),
                }
            }
            Step::Never => None,
        }
    }

    /// The value the state must hold for this operation to be linearized,
    /// if it is that specific (a completed get, a successful CAS).
    fn reads(self) -> Option<State> {
        match self {
            Step::Get { read } => Some(read),
            Step::Cas {
                expected,
                swapped: Some(true),
                ..
            } => Some(expected),
            _ => None,
        }
    }

    /// The value this operation's outcome depends on, if any: the one a get
    /// read or a CAS compares against.
    fn refers_to(self) -> Option<State> {
        match self {
            Step::Get { read } => Some(read),
            Step::Cas { expected, .. } => Some(expected),
            _ => None,
        }
    }

    /// The value this operation may write when linearized.
    fn writes(self) -> Option<State> {
        match self {
            Step::Put { new } => Some(new),
            Step::Cas {
                new,
                swapped: None | Some(true),
                ..
            } => Some(new),
            _ => None,
        }
    }

    /// Whether this operation, linearized right after an unknown-outcome
    /// operation that changed the state from `before` to `after` (and valid
    /// in `after`), can observe that change. If it cannot, the
    /// unknown-outcome operation could be omitted (this is a put, which
    /// overwrites it unobserved) or moved after this one (this is a CAS
    /// failing in both states, so the two commute), so the search need not
    /// consider this order. A get valid in `after` reads `after != before`,
    /// and a CAS succeeding in `after` would fail in `before`.
    fn observes(self, before: State, after: State) -> bool {
        match self {
            Step::Put { .. } => false,
            Step::Get { .. } | Step::Never => true,
            Step::Cas { expected, .. } => expected == after || expected == before,
        }
    }
}

/// Interns the values of one key's operations and converts each operation
/// to a [`Step`]. Values are numbered in increasing order from 1.
fn to_steps(ops: &[&Operation]) -> (Vec<Step>, usize) {
    let mut table: BTreeMap<Value, State> = BTreeMap::new();
    for o in ops {
        let (a, b) = match o.op {
            KvOp::Put { value, .. } => (Some(value), None),
            KvOp::Get { .. } => (None, None),
            KvOp::Cas { expected, new, .. } => (expected, Some(new)),
        };
        let read = match o.completed {
            Some((_, KvOutput::Read(v))) => v,
            _ => None,
        };
        for v in [a, b, read].into_iter().flatten() {
            table.insert(v, 0);
        }
    }
    for (i, id) in table.values_mut().enumerate() {
        *id = State::try_from(i + 1).expect("fewer than 2^32 distinct values per key");
    }
    let id = |v: Option<Value>| v.map_or(ABSENT, |v| table[&v]);
    let steps = ops
        .iter()
        .map(|o| match (o.op, o.completed.map(|(_, out)| out)) {
            (KvOp::Put { value, .. }, None | Some(KvOutput::Written)) => Step::Put {
                new: id(Some(value)),
            },
            (KvOp::Get { .. }, Some(KvOutput::Read(v))) => Step::Get { read: id(v) },
            (KvOp::Cas { expected, new, .. }, None) => Step::Cas {
                expected: id(expected),
                new: id(Some(new)),
                swapped: None,
            },
            (KvOp::Cas { expected, new, .. }, Some(KvOutput::CasResult { swapped })) => Step::Cas {
                expected: id(expected),
                new: id(Some(new)),
                swapped: Some(swapped),
            },
            // Unknown-outcome gets are dropped before this point.
            _ => Step::Never,
        })
        .collect();
    (steps, table.len() + 1)
}

/// A set of values that can be cleared in constant time.
#[derive(Debug)]
struct ValueSet {
    /// Per value: the generation in which it was last inserted.
    stamp: Vec<u32>,
    /// The current generation; members are the values stamped with it.
    generation: u32,
}

impl ValueSet {
    /// An empty set over values `0..n_values`.
    fn new(n_values: usize) -> Self {
        ValueSet {
            stamp: vec![0; n_values],
            generation: 1,
        }
    }

    /// Empties the set.
    fn clear(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamp.fill(0);
            self.generation = 1;
        }
    }

    /// Inserts `v`; returns whether it was absent.
    fn insert(&mut self, v: State) -> bool {
        let fresh = self.stamp[v as usize] != self.generation;
        self.stamp[v as usize] = self.generation;
        fresh
    }

    /// Whether `v` is in the set.
    fn contains(&self, v: State) -> bool {
        self.stamp[v as usize] == self.generation
    }
}

/// Marker for "not in the set" in [`Supply::weak_pos`].
const NOT_WEAK: u32 = u32::MAX;

/// Necessary conditions for completing a linearization, maintained
/// incrementally over the not-yet-linearized operations.
///
/// Some values are *required*: a completed get read them, or a completed
/// successful CAS expected them. Only writes by not-yet-linearized
/// operations can change the state, so each required value must either be
/// the current state or still be *producible*: written by a put, or by a
/// completed successful CAS (which will happen anyway), or by an
/// unknown-outcome CAS whose own expected value is producible. If a
/// required value is not producible, the search cannot succeed from here.
/// This ignores real-time order, so it only ever prunes hopeless
/// configurations; it typically detects a wrong choice as soon as it
/// overwrites a value that some later read still needs, instead of when
/// that read's deadline passes.
///
/// It also counts, per value, the unlinearized operations whose outcome
/// depends on it (see [`Step::refers_to`]).
#[derive(Debug)]
struct Supply {
    /// The key's operations.
    steps: Vec<Step>,
    /// Per operation: not yet linearized.
    alive: Vec<bool>,
    /// Per value: unknown-outcome CASes writing it.
    pending_cas_writing: Vec<Vec<u32>>,
    /// Per value: unlinearized operations that require it.
    readers: Vec<u32>,
    /// Per value: unlinearized operations that will or may write it
    /// unconditionally (puts, completed successful CASes).
    writers: Vec<u32>,
    /// *Weak* values: required, but with no unconditional writer left.
    weak: Vec<State>,
    /// Per value: its index in `weak`, or [`NOT_WEAK`].
    weak_pos: Vec<u32>,
    /// Per value: unlinearized operations whose outcome depends on it.
    refs: Vec<u32>,
    /// Scratch set for [`Self::producible`].
    visited: ValueSet,
}

impl Supply {
    /// Counts over all of `steps` (none linearized yet).
    fn new(steps: &[Step], n_values: usize) -> Self {
        let mut supply = Supply {
            steps: steps.to_vec(),
            alive: vec![false; steps.len()],
            pending_cas_writing: vec![Vec::new(); n_values],
            readers: vec![0; n_values],
            writers: vec![0; n_values],
            weak: Vec::new(),
            weak_pos: vec![NOT_WEAK; n_values],
            refs: vec![0; n_values],
            visited: ValueSet::new(n_values),
        };
        for (i, &s) in steps.iter().enumerate() {
            if let Step::Cas {
                new, swapped: None, ..
            } = s
            {
                supply.pending_cas_writing[new as usize].push(i as u32);
            }
            supply.add(i);
        }
        supply
    }

    /// The value `step` writes unconditionally, if any.
    fn writes_surely(step: Step) -> Option<State> {
        match step {
            Step::Put { new }
            | Step::Cas {
                new,
                swapped: Some(true),
                ..
            } => Some(new),
            _ => None,
        }
    }

    /// Applies `f` to the counters of `v`, keeping `weak` up to date.
    fn update(&mut self, v: State, f: impl FnOnce(&mut Self)) {
        f(self);
        let is_weak = self.readers[v as usize] > 0 && self.writers[v as usize] == 0;
        let pos = self.weak_pos[v as usize];
        if is_weak && pos == NOT_WEAK {
            self.weak_pos[v as usize] = self.weak.len() as u32;
            self.weak.push(v);
        } else if !is_weak && pos != NOT_WEAK {
            let last = self.weak.pop().expect("weak value in set");
            if last != v {
                self.weak[pos as usize] = last;
                self.weak_pos[last as usize] = pos;
            }
            self.weak_pos[v as usize] = NOT_WEAK;
        }
    }

    /// Adds operation `i` back to the unlinearized ones.
    fn add(&mut self, i: usize) {
        self.alive[i] = true;
        let s = self.steps[i];
        if let Some(v) = s.refers_to() {
            self.refs[v as usize] += 1;
        }
        if let Some(v) = s.reads() {
            self.update(v, |x| x.readers[v as usize] += 1);
        }
        if let Some(v) = Self::writes_surely(s) {
            self.update(v, |x| x.writers[v as usize] += 1);
        }
    }

    /// Removes operation `i`, which has just been linearized.
    fn remove(&mut self, i: usize) {
        self.alive[i] = false;
        let s = self.steps[i];
        if let Some(v) = s.refers_to() {
            self.refs[v as usize] -= 1;
        }
        if let Some(v) = s.reads() {
            self.update(v, |x| x.readers[v as usize] -= 1);
        }
        if let Some(v) = Self::writes_surely(s) {
            self.update(v, |x| x.writers[v as usize] -= 1);
        }
    }

    /// Whether `v` is the state or may still be written, possibly by a
    /// chain of unknown-outcome CASes (depth-first over values, each visited
    /// once per call of [`Self::dead`]).
    fn producible(&mut self, v: State, state: State) -> bool {
        if v == state || self.writers[v as usize] > 0 {
            return true;
        }
        if !self.visited.insert(v) {
            return false;
        }
        for k in 0..self.pending_cas_writing[v as usize].len() {
            let c = self.pending_cas_writing[v as usize][k] as usize;
            if let Step::Cas { expected, .. } = self.steps[c] {
                if self.alive[c] && self.producible(expected, state) {
                    return true;
                }
            }
        }
        false
    }

    /// Whether no linearization can be completed from `state`.
    fn dead(&mut self, state: State) -> bool {
        for k in 0..self.weak.len() {
            self.visited.clear();
            if !self.producible(self.weak[k], state) {
                return true;
            }
        }
        false
    }
}

/// Sentinel "no node" index in the event lists.
const NIL: usize = usize::MAX;
/// Head sentinel of the list of events of operations with known outcome.
const MAIN: usize = 0;
/// Head sentinel of the list of invocations of operations with unknown
/// outcome (which have no completion event).
const PENDING: usize = 1;

/// One event (invocation or completion) in a doubly linked event list.
#[derive(Clone, Copy, Debug)]
struct Node {
    /// Index of the operation (unused for head sentinels).
    op: usize,
    /// For an invocation: index of the matching completion node, or [`NIL`]
    /// if the outcome is unknown. [`NIL`] for completion nodes.
    ret: usize,
    /// `true` for invocation events.
    is_call: bool,
    /// Position of the event in the global time order of the key's events.
    pos: usize,
    /// Previous node in its list.
    prev: usize,
    /// Next node in its list, or [`NIL`] at the end.
    next: usize,
}

/// Two linked lists of events sharing one arena, with dancing-links
/// removal: [`MAIN`] holds the invocations and completions of operations
/// with known outcome, [`PENDING`] the invocations of the others.
#[derive(Debug)]
struct EventLists {
    /// Nodes 0 and 1 are the head sentinels [`MAIN`] and [`PENDING`].
    nodes: Vec<Node>,
}

impl EventLists {
    /// Builds the lists from events in global time order: `(operation,
    /// is_call, has_completion)`.
    fn new(events: &[(usize, bool, bool)], n_ops: usize) -> Self {
        let head = Node {
            op: usize::MAX,
            ret: NIL,
            is_call: false,
            pos: usize::MAX,
            prev: NIL,
            next: NIL,
        };
        let mut lists = EventLists {
            nodes: vec![head; 2],
        };
        let mut tail = [MAIN, PENDING];
        let mut call_node = vec![NIL; n_ops];
        for (pos, &(op, is_call, has_completion)) in events.iter().enumerate() {
            let list = usize::from(!has_completion);
            let idx = lists.nodes.len();
            lists.nodes.push(Node {
                op,
                ret: NIL,
                is_call,
                pos,
                prev: tail[list],
                next: NIL,
            });
            lists.nodes[tail[list]].next = idx;
            tail[list] = idx;
            if is_call {
                call_node[op] = idx;
            } else {
                lists.nodes[call_node[op]].ret = idx;
            }
        }
        lists
    }

    /// Unlinks node `i`, keeping its own pointers for [`Self::relink`].
    fn unlink(&mut self, i: usize) {
        let Node { prev, next, .. } = self.nodes[i];
        self.nodes[prev].next = next;
        if next != NIL {
            self.nodes[next].prev = prev;
        }
    }

    /// Relinks node `i`, which must be the most recently unlinked node
    /// still unlinked.
    fn relink(&mut self, i: usize) {
        let Node { prev, next, .. } = self.nodes[i];
        self.nodes[prev].next = i;
        if next != NIL {
            self.nodes[next].prev = i;
        }
    }

    /// Removes an invocation and its completion (if any) from the lists.
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        let ret = self.nodes[call].ret;
        if ret != NIL {
            self.unlink(ret);
        }
    }

    /// Undoes [`Self::lift`] (in reverse order).
    fn unlift(&mut self, call: usize) {
        let ret = self.nodes[call].ret;
        if ret != NIL {
            self.relink(ret);
        }
        self.relink(call);
    }
}

/// Fixed-size bitset over operation indices.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Bitset(Vec<u64>);

impl Bitset {
    /// An empty set able to hold indices `0..n`.
    fn new(n: usize) -> Self {
        Bitset(vec![0; n.div_ceil(64)])
    }

    /// Adds `i`.
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    /// Removes `i`.
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
}

/// A [`Hasher`] for keys that are already well-mixed `u64` hashes.
#[derive(Clone, Copy, Debug, Default)]
struct PremixedHasher(u64);

impl Hasher for PremixedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix(self.0 ^ u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A cheap 64-bit mixing function (the SplitMix64 finalizer).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// End-of-chain marker in [`Memo`].
const NO_ENTRY: u32 = u32::MAX;

/// Memo of explored search configurations.
///
/// A configuration is `(done, used, state, after_pending)`: the linearized
/// operations with known outcome, those with unknown outcome, the state,
/// and (if the last linearized operation had unknown outcome) the state
/// before it. The future of the search depends only on the configuration,
/// so one that was seen before need not be explored again. Moreover
/// `(done, used, s, None)` can do everything `(done, used', s, None)` can if
/// `used ⊆ used'`: operations with unknown outcome never constrain others,
/// so having linearized fewer of them only leaves more options. Such
/// dominated configurations are pruned too, but only when entered by
/// linearizing an operation with known outcome: then no configuration with
/// the same `done` is on the current search path, so the dominating one has
/// been fully explored (and failed).
///
/// Entries live in flat arrays (no allocation per entry), chained per hash
/// of `(done, state, after_pending)`.
#[derive(Debug)]
#[expect(
    clippy::disallowed_types,
    reason = "probed by key, never iterated, with a fixed (unseeded) hasher: no order or randomness leaks"
)]
struct Memo {
    /// Words of a `done` bitset.
    done_words: usize,
    /// Words of a `used` bitset.
    used_words: usize,
    /// Hash of `(done, state, after_pending)` to the most recent entry with
    /// that hash.
    heads: HashMap<u64, u32, BuildHasherDefault<PremixedHasher>>,
    /// Per entry: its `done` then its `used` words.
    bits: Vec<u64>,
    /// Per entry: state, `after_pending`, next entry in the chain.
    meta: Vec<(State, Option<State>, u32)>,
}

impl Memo {
    /// An empty memo for bitsets of the given capacities (in words).
    #[expect(
        clippy::disallowed_types,
        reason = "probed by key, never iterated, with a fixed (unseeded) hasher: no order or randomness leaks"
    )]
    fn new(done_words: usize, used_words: usize) -> Self {
        Memo {
            done_words,
            used_words,
            heads: HashMap::default(),
            bits: Vec::new(),
            meta: Vec::new(),
        }
    }

    /// Records the configuration; returns `false` if it need not be
    /// explored (seen before, or dominated when `check_dominance`).
    fn insert(
        &mut self,
        done: &Bitset,
        used: &Bitset,
        state: State,
        after_pending: Option<State>,
        check_dominance: bool,
    ) -> bool {
        // `after_pending` is encoded as 0 for `None`, `b + 1` for `Some(b)`.
        let seed = u64::from(state) | (after_pending.map_or(0, |b| u64::from(b) + 1) << 32);
        let hash = mix(done.0.iter().fold(seed, |h, &w| mix(h ^ w).rotate_left(17)));
        let stride = self.done_words + self.used_words;
        let head = self.heads.get(&hash).copied().unwrap_or(NO_ENTRY);
        let mut k = head;
        while k != NO_ENTRY {
            let (s, a, next) = self.meta[k as usize];
            let base = k as usize * stride;
            let (d, u) = self.bits[base..base + stride].split_at(self.done_words);
            if s == state && a == after_pending && d == done.0.as_slice() {
                let covered = if check_dominance {
                    u.iter().zip(&used.0).all(|(x, y)| x & !y == 0)
                } else {
                    u == used.0.as_slice()
                };
                if covered {
                    return false;
                }
            }
            k = next;
        }
        let Ok(index) = u32::try_from(self.meta.len()) else {
            // Beyond 4 billion entries: stop memoizing (still correct).
            return true;
        };
        self.bits.extend_from_slice(&done.0);
        self.bits.extend_from_slice(&used.0);
        self.meta.push((state, after_pending, head));
        self.heads.insert(hash, index);
        true
    }
}

/// One level of the depth-first search: a configuration, the candidate
/// operations to try from it, and how it was reached.
#[derive(Debug, Default)]
struct Frame {
    /// Invocation nodes of the operations that may be linearized next, in
    /// the order they are tried.
    candidates: Vec<usize>,
    /// Index in `candidates` of the next one to try.
    next: usize,
    /// The invocation node linearized to reach this configuration ([`NIL`]
    /// for the root).
    call: usize,
    /// The state before that operation.
    prev_state: State,
    /// The restriction before that operation.
    prev_after_pending: Option<State>,
}

/// Fills `out` with the invocation nodes worth trying to linearize next
/// from a configuration with the given `state` and `after_pending`.
///
/// The possible ones are the invocations preceding the first completion
/// event still in the lists. They are ordered to find a linearization
/// quickly, and so that the dominance pruning of [`Memo`] (which needs
/// configurations with fewer unknown-outcome operations to be explored
/// first) is effective:
///
/// 1. unknown-outcome writes of a value that some known-outcome candidate
///    needs (a get reading it, a successful CAS expecting it) but the state
///    does not hold: they are likely the missing link;
/// 2. known-outcome operations, in invocation order;
/// 3. the other unknown-outcome operations, in invocation order.
///
/// Some unknown-outcome candidates are left out, since trying them cannot
/// succeed where others fail: those that would not change the state; puts
/// right after another unknown-outcome operation (see [`Step::observes`]);
/// and all but the first put of a value that no unlinearized operation
/// refers to. Such puts lead to equivalent configurations: the value is
/// garbage (all that matters is that it differs from every value still
/// referred to) and the other puts remain available later.
fn candidates(
    lists: &EventLists,
    steps_of: &[Step],
    supply: &Supply,
    (state, after_pending): (State, Option<State>),
    scratch: &mut (ValueSet, Vec<usize>),
    out: &mut Vec<usize>,
) {
    let (needed, front) = scratch;
    out.clear();
    front.clear();
    needed.clear();
    let mut entry = lists.nodes[MAIN].next;
    while entry != NIL && lists.nodes[entry].is_call {
        out.push(entry);
        if let Some(v) = steps_of[lists.nodes[entry].op].reads() {
            needed.insert(v);
        }
        entry = lists.nodes[entry].next;
    }
    let boundary = if entry == NIL {
        usize::MAX
    } else {
        lists.nodes[entry].pos
    };
    let mut garbage_put = false;
    let mut entry = lists.nodes[PENDING].next;
    while entry != NIL && lists.nodes[entry].pos < boundary {
        let step = steps_of[lists.nodes[entry].op];
        // Also leave out those that would not change the state.
        let keep = match step {
            Step::Put { new } if after_pending.is_none() && new != state => {
                let garbage = supply.refs[new as usize] == 0;
                let keep = !(garbage && garbage_put);
                garbage_put |= garbage;
                keep
            }
            Step::Cas { expected, new, .. } => expected == state && new != state,
            _ => false,
        };
        if keep {
            if step.writes().is_some_and(|v| needed.contains(v)) {
                front.push(entry);
            } else {
                out.push(entry);
            }
        }
        entry = lists.nodes[entry].next;
    }
    if !front.is_empty() {
        out.splice(0..0, front.drain(..));
    }
}

/// Looks for violations that are evident from real-time order alone, in
/// `O(n log n + readers × writers-of-the-same-value)`: finds the common
/// anomalies immediately, however concurrent the history (proving a
/// violation by search means exhausting every linearization of the history
/// before it). Returns `true` only if the history is certainly not
/// linearizable. Two necessary conditions are checked:
///
/// * **Every required value has a possible source.** A completed get
///   reading `v`, or a completed successful CAS expecting `v`, linearized
///   at some point `g`, needs a last write of `v` before it, `w`, with no
///   write of another value in between. So `w` must not be forced after `g`
///   (`w` invoked after `g` completed), and there must be no completed
///   write `b` of another value with `w` completed before `b` was invoked
///   and `b` completed before `g` was invoked (`w < b < g` in every
///   linearization). For `v` absent, the source is the initial state, ruled
///   out by any completed write before `g`. This catches stale reads.
/// * **Every write is consumed at most once.** A completed successful CAS
///   expecting `v` and writing something else consumes `v`: each needs its
///   own write of `v` before it (or the initial state, for absent). This
///   catches lost updates.
fn evident_violation(ops: &[&Operation], steps: &[Step], n_values: usize) -> bool {
    let completion = |i: usize| ops[i].completed.map(|(t, _)| t.max(ops[i].invoked_at));
    // Completed operations that certainly wrote: (invoked, completed, value),
    // by invocation time.
    let mut sure: Vec<(u64, u64, State)> = (0..ops.len())
        .filter_map(|i| {
            Some((
                ops[i].invoked_at,
                completion(i)?,
                Supply::writes_surely(steps[i])?,
            ))
        })
        .collect();
    sure.sort_unstable();
    // suffix[j]: the two earliest completions among sure[j..], of distinct
    // values: ((completed, value), (completed, value)).
    const NONE: (u64, State) = (u64::MAX, State::MAX);
    let mut suffix = vec![(NONE, NONE); sure.len() + 1];
    for j in (0..sure.len()).rev() {
        let (mut a, mut b) = suffix[j + 1];
        let c = (sure[j].1, sure[j].2);
        if c.1 == a.1 {
            a = a.min(c);
        } else if c.1 == b.1 {
            b = b.min(c);
            if b < a {
                std::mem::swap(&mut a, &mut b);
            }
        } else if c < a {
            b = a;
            a = c;
        } else if c < b {
            b = c;
        }
        suffix[j] = (a, b);
    }
    // Earliest completion of a sure write of a value other than `v`
    // invoked strictly after `t`.
    let overwritten_by = |t: u64, v: State| {
        let j = sure.partition_point(|&(inv, _, _)| inv <= t);
        let (a, b) = suffix[j];
        if a.1 != v {
            a.0
        } else {
            b.0
        }
    };
    // Possible writers per value: (operation, invoked, earliest overwrite).
    let mut writers: Vec<Vec<(usize, u64, u64)>> = vec![Vec::new(); n_values];
    let mut consumers = vec![0usize; n_values];
    for (i, &step) in steps.iter().enumerate() {
        if let Some(v) = step.writes() {
            let overwrite = completion(i).map_or(u64::MAX, |t| overwritten_by(t, v));
            writers[v as usize].push((i, ops[i].invoked_at, overwrite));
        }
        if let Step::Cas {
            expected,
            new,
            swapped: Some(true),
        } = step
        {
            if expected != new {
                consumers[expected as usize] += 1;
            }
        }
    }
    let first_sure_completion = sure.iter().map(|&(_, t, _)| t).min().unwrap_or(u64::MAX);
    for (i, &step) in steps.iter().enumerate() {
        let (Some(v), Some(done)) = (step.reads(), completion(i)) else {
            continue;
        };
        let invoked = ops[i].invoked_at;
        let has_source = if v == ABSENT {
            first_sure_completion >= invoked
        } else {
            writers[v as usize]
                .iter()
                .any(|&(w, w_invoked, overwrite)| {
                    w != i && w_invoked <= done && overwrite >= invoked
                })
        };
        if !has_source {
            return true;
        }
    }
    (0..n_values).any(|v| consumers[v] > writers[v].len() + usize::from(v == ABSENT as usize))
}

/// Runs the WGL search on the operations of one key (already in canonical
/// order).
///
/// With `prechecks`, [`evident_violation`] runs first (tests disable it to
/// exercise the search alone).
fn check_key(ops: &[Operation], max_steps: u64, prechecks: bool) -> KeyResult {
    // Gets with unknown outcome constrain nothing: drop them.
    let ops: Vec<&Operation> = ops
        .iter()
        .filter(|o| !(o.completed.is_none() && matches!(o.op, KvOp::Get { .. })))
        .collect();
    let outputs: Vec<Option<KvOutput>> = ops
        .iter()
        .map(|o| o.completed.map(|(_, out)| out))
        .collect();
    let (steps_of, n_values) = to_steps(&ops);
    if prechecks && evident_violation(&ops, &steps_of, n_values) {
        return KeyResult::NotLinearizable;
    }
    // Separate dense numbering of known- and unknown-outcome operations,
    // for the `done` and `used` bitsets.
    let (mut n_done, mut n_used) = (0, 0);
    let slot: Vec<usize> = outputs
        .iter()
        .map(|out| {
            let counter = if out.is_some() {
                &mut n_done
            } else {
                &mut n_used
            };
            *counter += 1;
            *counter - 1
        })
        .collect();
    if n_done == 0 {
        return KeyResult::Linearizable;
    }

    // Time-ordered events: invocations before completions at equal time
    // (touching intervals are concurrent), ties broken by operation index
    // for determinism. Unknown outcomes have no completion (+infinity).
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * ops.len());
    for (i, o) in ops.iter().enumerate() {
        events.push((o.invoked_at, false, i));
        if let Some((t, _)) = o.completed {
            events.push((t.max(o.invoked_at), true, i));
        }
    }
    events.sort_unstable();
    let events: Vec<(usize, bool, bool)> = events
        .into_iter()
        .map(|(_, is_return, i)| (i, !is_return, outputs[i].is_some()))
        .collect();
    let mut lists = EventLists::new(&events, ops.len());

    let mut supply = Supply::new(&steps_of, n_values);
    if supply.dead(ABSENT) {
        return KeyResult::NotLinearizable;
    }
    let mut remaining = n_done;
    let mut state: State = ABSENT;
    let mut after_pending: Option<State> = None;
    let mut done = Bitset::new(n_done);
    let mut used = Bitset::new(n_used);
    let mut memo = Memo::new(done.0.len(), used.0.len());
    let mut steps: u64 = 0;

    // `frames[..depth]` is the search path; deeper frames are kept only to
    // reuse their allocations.
    let mut frames: Vec<Frame> = vec![Frame {
        call: NIL,
        ..Frame::default()
    }];
    let mut scratch = (ValueSet::new(n_values), Vec::new());
    candidates(
        &lists,
        &steps_of,
        &supply,
        (state, after_pending),
        &mut scratch,
        &mut frames[0].candidates,
    );
    let mut depth = 1;
    loop {
        steps += 1;
        if steps > max_steps {
            return KeyResult::Inconclusive;
        }
        let frame = &mut frames[depth - 1];
        if let Some(&call) = frame.candidates.get(frame.next) {
            frame.next += 1;
            let i = lists.nodes[call].op;
            let pending = outputs[i].is_none();
            // Reductions for unknown-outcome operations (see the module
            // documentation): one that would leave the state unchanged is
            // never linearized, and one must be directly followed by an
            // operation that observes its effect.
            let op = steps_of[i];
            if !after_pending.is_none_or(|before| op.observes(before, state)) {
                continue;
            }
            let Some(next_state) = op.apply(state).filter(|&s| !pending || s != state) else {
                continue;
            };
            supply.remove(i);
            if supply.dead(next_state) {
                supply.add(i);
                continue;
            }
            let bits = if pending { &mut used } else { &mut done };
            bits.set(slot[i]);
            let next_after_pending = pending.then_some(state);
            if !memo.insert(&done, &used, next_state, next_after_pending, !pending) {
                let bits = if pending { &mut used } else { &mut done };
                bits.clear(slot[i]);
                supply.add(i);
                continue;
            }
            lists.lift(call);
            if !pending {
                remaining -= 1;
                if remaining == 0 {
                    return KeyResult::Linearizable;
                }
            }
            if depth == frames.len() {
                frames.push(Frame::default());
            }
            let frame = &mut frames[depth];
            depth += 1;
            frame.next = 0;
            frame.call = call;
            frame.prev_state = state;
            frame.prev_after_pending = after_pending;
            state = next_state;
            after_pending = next_after_pending;
            candidates(
                &lists,
                &steps_of,
                &supply,
                (state, after_pending),
                &mut scratch,
                &mut frame.candidates,
            );
        } else {
            // Every candidate failed: backtrack.
            if frame.call == NIL {
                return KeyResult::NotLinearizable;
            }
            let call = frame.call;
            let i = lists.nodes[call].op;
            lists.unlift(call);
            supply.add(i);
            state = frame.prev_state;
            after_pending = frame.prev_after_pending;
            if outputs[i].is_some() {
                done.clear(slot[i]);
                remaining += 1;
            } else {
                used.clear(slot[i]);
            }
            depth -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const STEPS: u64 = 10_000_000;

    fn put(client: u64, key: Key, value: Value, start: u64, end: u64) -> Operation {
        Operation {
            client,
            op: KvOp::Put { key, value },
            invoked_at: start,
            completed: Some((end, KvOutput::Written)),
        }
    }

    fn get(client: u64, key: Key, read: Option<Value>, start: u64, end: u64) -> Operation {
        Operation {
            client,
            op: KvOp::Get { key },
            invoked_at: start,
            completed: Some((end, KvOutput::Read(read))),
        }
    }

    fn cas(
        client: u64,
        key: Key,
        expected: Option<Value>,
        new: Value,
        swapped: bool,
        start: u64,
        end: u64,
    ) -> Operation {
        Operation {
            client,
            op: KvOp::Cas { key, expected, new },
            invoked_at: start,
            completed: Some((end, KvOutput::CasResult { swapped })),
        }
    }

    fn pending(client: u64, op: KvOp, start: u64) -> Operation {
        Operation {
            client,
            op,
            invoked_at: start,
            completed: None,
        }
    }

    fn assert_bad(history: &[Operation], key: Key) {
        match check(history, STEPS) {
            Verdict::NotLinearizable { key: k, operations } => {
                assert_eq!(k, key);
                let mut expected: Vec<Operation> = history
                    .iter()
                    .filter(|o| o.op.key() == key)
                    .copied()
                    .collect();
                expected.sort_by_key(sort_key);
                assert_eq!(operations, expected);
            }
            v => panic!("expected NotLinearizable for key {key}, got {v:?}"),
        }
        // The search alone must find it too.
        assert_eq!(search_only(history, key), KeyResult::NotLinearizable);
    }

    #[test]
    fn empty_history_is_linearizable() {
        assert_eq!(check(&[], STEPS), Verdict::Linearizable);
    }

    #[test]
    fn sequential_ok() {
        let h = [
            get(1, 0, None, 0, 1),
            put(1, 0, 5, 2, 3),
            get(2, 0, Some(5), 4, 5),
            cas(2, 0, Some(5), 6, true, 6, 7),
            cas(1, 0, Some(5), 7, false, 8, 9),
            get(1, 0, Some(6), 10, 11),
            cas(3, 1, None, 1, true, 12, 13),
            get(3, 1, Some(1), 14, 15),
        ];
        assert_eq!(check(&h, STEPS), Verdict::Linearizable);
    }

    #[test]
    fn concurrent_writes_either_order() {
        // Two overlapping puts; later reads may observe either winner.
        for winner in [1, 2] {
            let h = [
                put(1, 0, 1, 0, 10),
                put(2, 0, 2, 5, 15),
                get(3, 0, Some(winner), 20, 21),
                get(4, 0, Some(winner), 22, 23),
            ];
            assert_eq!(check(&h, STEPS), Verdict::Linearizable, "winner {winner}");
        }
        // A read concurrent with both can see either, or the initial absence.
        for seen in [None, Some(1), Some(2)] {
            let h = [
                put(1, 0, 1, 0, 10),
                put(2, 0, 2, 5, 15),
                get(3, 0, seen, 0, 15),
            ];
            assert_eq!(check(&h, STEPS), Verdict::Linearizable, "seen {seen:?}");
        }
        // But once a later read has seen 1, a still later read can't see 2.
        let h = [
            put(1, 0, 1, 0, 10),
            put(2, 0, 2, 5, 15),
            get(3, 0, Some(1), 20, 21),
            get(4, 0, Some(2), 22, 23),
        ];
        assert_bad(&h, 0);
    }

    #[test]
    fn touching_intervals_are_concurrent() {
        // The put completes at 10 and the get is invoked at 10: not ordered,
        // so the get may precede the put.
        let h = [put(1, 0, 1, 0, 10), get(2, 0, None, 10, 12)];
        assert_eq!(check(&h, STEPS), Verdict::Linearizable);
        let h = [put(1, 0, 1, 0, 10), get(2, 0, None, 11, 12)];
        assert_bad(&h, 0);
    }

    #[test]
    fn stale_read_after_completed_write() {
        let h = [
            put(1, 0, 1, 0, 1),
            put(1, 0, 2, 2, 3),
            get(2, 0, Some(1), 4, 5),
        ];
        assert_bad(&h, 0);
        // Absent after a completed write is stale too.
        let h = [put(1, 0, 1, 0, 1), get(2, 0, None, 4, 5)];
        assert_bad(&h, 0);
    }

    #[test]
    fn read_of_value_never_written() {
        let h = [put(1, 0, 1, 0, 10), get(2, 0, Some(99), 0, 10)];
        assert_bad(&h, 0);
    }

    #[test]
    fn lost_update_via_cas() {
        // Both CASes expected 1 and both claim success: one update is lost.
        let h = [
            put(1, 0, 1, 0, 1),
            cas(2, 0, Some(1), 2, true, 2, 10),
            cas(3, 0, Some(1), 3, true, 3, 11),
        ];
        assert_bad(&h, 0);
        // With one of them failing it is fine.
        let h = [
            put(1, 0, 1, 0, 1),
            cas(2, 0, Some(1), 2, true, 2, 10),
            cas(3, 0, Some(1), 3, false, 3, 11),
            get(1, 0, Some(2), 12, 13),
        ];
        assert_eq!(check(&h, STEPS), Verdict::Linearizable);
    }

    #[test]
    fn cas_on_absent_key() {
        let h = [
            cas(1, 0, None, 1, true, 0, 5),
            cas(2, 0, None, 2, true, 1, 6),
        ];
        assert_bad(&h, 0);
        let h = [
            cas(1, 0, None, 1, true, 0, 5),
            cas(2, 0, None, 2, false, 1, 6),
            get(3, 0, Some(1), 7, 8),
        ];
        assert_eq!(check(&h, STEPS), Verdict::Linearizable);
    }

    #[test]
    fn unknown_outcome_put_read_later_is_ok() {
        let h = [
            put(1, 0, 1, 0, 1),
            pending(2, KvOp::Put { key: 0, value: 2 }, 2),
            get(3, 0, Some(1), 3, 4),
            get(3, 0, Some(2), 100, 101),
            get(4, 0, Some(2), 102, 103),
        ];
        assert_eq!(check(&h, STEPS), Verdict::Linearizable);
        // It may also never take effect.
        let h = [
            put(1, 0, 1, 0, 1),
            pending(2, KvOp::Put { key: 0, value: 2 }, 2),
            get(3, 0, Some(1), 100, 101),
        ];
        assert_eq!(check(&h, STEPS), Verdict::Linearizable);
    }

    #[test]
    fn unknown_outcome_put_read_then_disappears_is_bad() {
        // The pending put of 2 was observed, so it took effect; the value
        // then reverts to 1 with no write of 1 after it.
        let h = [
            put(1, 0, 1, 0, 1),
            pending(2, KvOp::Put { key: 0, value: 2 }, 2),
            get(3, 0, Some(2), 10, 11),
            get(3, 0, Some(1), 12, 13),
        ];
        assert_bad(&h, 0);
        // Also bad: the pending put was read before it was invoked.
        let h = [
            get(3, 0, Some(2), 0, 1),
            pending(2, KvOp::Put { key: 0, value: 2 }, 2),
        ];
        assert_bad(&h, 0);
    }

    #[test]
    fn unknown_outcome_cas_may_succeed_or_fail() {
        // Pending CAS succeeds (value 2 observed).
        let h = [
            put(1, 0, 1, 0, 1),
            pending(
                2,
                KvOp::Cas {
                    key: 0,
                    expected: Some(1),
                    new: 2,
                },
                2,
            ),
            get(3, 0, Some(2), 10, 11),
        ];
        assert_eq!(check(&h, STEPS), Verdict::Linearizable);
        // Pending CAS can only succeed if the expected value is present.
        let h = [
            put(1, 0, 1, 0, 1),
            pending(
                2,
                KvOp::Cas {
                    key: 0,
                    expected: Some(7),
                    new: 2,
                },
                2,
            ),
            get(3, 0, Some(2), 10, 11),
        ];
        assert_bad(&h, 0);
        // Pending gets are dropped whatever they were.
        let h = [
            put(1, 0, 1, 0, 1),
            pending(3, KvOp::Get { key: 0 }, 0),
            get(3, 0, Some(1), 10, 11),
        ];
        assert_eq!(check(&h, STEPS), Verdict::Linearizable);
    }

    #[test]
    fn unknown_outcome_write_can_explain_failed_cas() {
        // The CAS expecting 1 failed although 1 was written: only the
        // unknown-outcome put of 2, taking effect just before it, explains
        // that; the final read then sees 2.
        let h = [
            put(1, 0, 1, 0, 1),
            pending(2, KvOp::Put { key: 0, value: 2 }, 2),
            cas(3, 0, Some(1), 3, false, 3, 4),
            get(3, 0, Some(2), 5, 6),
        ];
        assert_eq!(check(&h, STEPS), Verdict::Linearizable);
        // But then the value cannot be 1 afterwards.
        let mut bad = h;
        bad[3] = get(3, 0, Some(1), 5, 6);
        assert_bad(&bad, 0);
    }

    #[test]
    fn unknown_outcome_cas_chain() {
        let chain = |first_expected| {
            [
                put(1, 0, 1, 0, 1),
                pending(
                    2,
                    KvOp::Cas {
                        key: 0,
                        expected: Some(first_expected),
                        new: 2,
                    },
                    2,
                ),
                pending(
                    3,
                    KvOp::Cas {
                        key: 0,
                        expected: Some(2),
                        new: 3,
                    },
                    2,
                ),
                get(4, 0, Some(3), 10, 11),
            ]
        };
        assert_eq!(check(&chain(1), STEPS), Verdict::Linearizable);
        assert_bad(&chain(5), 0);
    }

    #[test]
    fn only_one_interleaving_works() {
        // All four operations overlap; the only valid order is
        // put(1), cas(1->2), get=2, cas(2->3), with a final get of 3.
        let h = [
            cas(2, 0, Some(2), 3, true, 0, 20),
            get(3, 0, Some(2), 0, 20),
            cas(1, 0, Some(1), 2, true, 0, 20),
            put(4, 0, 1, 0, 20),
            get(5, 0, Some(3), 21, 22),
        ];
        assert_eq!(check(&h, STEPS), Verdict::Linearizable);
        // Changing the final read makes it impossible.
        let mut bad = h;
        bad[4] = get(5, 0, Some(2), 21, 22);
        assert_bad(&bad, 0);
    }

    #[test]
    fn wrong_output_kind_is_bad() {
        let h = [Operation {
            client: 1,
            op: KvOp::Put { key: 0, value: 1 },
            invoked_at: 0,
            completed: Some((1, KvOutput::Read(None))),
        }];
        assert_bad(&h, 0);
    }

    #[test]
    fn independent_keys() {
        // Interleaved operations on different keys do not interfere.
        let h = [
            put(1, 0, 1, 0, 10),
            put(2, 1, 1, 0, 10),
            get(3, 1, Some(1), 11, 12),
            get(3, 0, Some(1), 11, 12),
            put(1, 2, 7, 13, 14),
            get(2, 0, Some(1), 15, 16),
            get(2, 3, None, 15, 16),
        ];
        assert_eq!(check(&h, STEPS), Verdict::Linearizable);
        // A violation on key 5 is reported with only key 5's operations,
        // even though key 9 is also bad (smallest key wins).
        let mut bad = h.to_vec();
        bad.push(put(1, 9, 1, 20, 21));
        bad.push(get(2, 9, None, 22, 23));
        bad.push(put(1, 5, 1, 20, 21));
        bad.push(get(2, 5, Some(2), 22, 23));
        match check(&bad, STEPS) {
            Verdict::NotLinearizable { key, operations } => {
                assert_eq!(key, 5);
                assert_eq!(
                    operations,
                    vec![put(1, 5, 1, 20, 21), get(2, 5, Some(2), 22, 23)]
                );
            }
            v => panic!("unexpected {v:?}"),
        }
    }

    #[test]
    fn step_limit_gives_inconclusive() {
        let h = [
            put(1, 0, 1, 0, 10),
            put(2, 0, 2, 0, 10),
            put(3, 0, 3, 0, 10),
            get(4, 0, Some(1), 11, 12),
            put(1, 1, 1, 0, 1),
        ];
        assert_eq!(check(&h, 2), Verdict::Inconclusive { key: 0 });
        assert_eq!(check(&h, STEPS), Verdict::Linearizable);
        // A definite violation on another key takes precedence.
        let mut bad = h.to_vec();
        bad.push(get(1, 1, Some(9), 2, 3));
        assert!(matches!(
            check(&bad, 3),
            Verdict::NotLinearizable { key: 1, .. }
        ));
    }

    #[test]
    fn input_order_is_irrelevant() {
        let h = [
            put(1, 0, 1, 0, 10),
            put(2, 0, 2, 5, 15),
            get(3, 0, Some(1), 20, 21),
            get(4, 0, Some(2), 22, 23),
        ];
        let mut r = h;
        r.reverse();
        assert_eq!(check(&h, STEPS), check(&r, STEPS));
    }

    /// SplitMix64: a tiny deterministic PRNG for the randomized tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn shuffle<T>(&mut self, v: &mut [T]) {
            for i in (1..v.len()).rev() {
                let j = self.below(i as u64 + 1) as usize;
                v.swap(i, j);
            }
        }
    }

    /// Values written by generated histories are below this; anything at or
    /// above it was never written.
    const NEVER_WRITTEN: Value = 1_000_000;

    /// Parameters of a generated history.
    #[derive(Clone, Copy, Debug)]
    struct Workload {
        /// Concurrent clients, each issuing one operation at a time.
        clients: u64,
        /// Total number of operations.
        ops: usize,
        /// Number of keys.
        keys: u64,
        /// Maximum latency of an operation.
        max_latency: u64,
        /// Every write writes a fresh value (otherwise values are 1..=5).
        distinct_values: bool,
        /// Probability (in percent) that a client never learns the outcome.
        lost_percent: u64,
    }

    /// Generates a linearizable history by construction. Each client issues
    /// operations one after the other; each operation gets a random interval
    /// and, if it takes effect, a random linearization point inside it. The
    /// operations that take effect are then executed one at a time, in
    /// order of their points, against a model, which determines their
    /// arguments (keys, values, CAS expectations) and outputs. Of the
    /// operations whose outcome the client never learns, half take effect
    /// and half never do. The result is shuffled.
    fn random_history(rng: &mut Rng, w: Workload) -> Vec<Operation> {
        // (client, invoked_at, point if it takes effect, completion time
        // if known), in no particular order.
        let mut shapes = Vec::with_capacity(w.ops);
        let mut clock: Vec<u64> = (0..w.clients).map(|_| rng.below(w.max_latency)).collect();
        for n in 0..w.ops {
            let client = n as u64 % w.clients;
            let invoked_at = clock[client as usize];
            let latency = 1 + rng.below(w.max_latency);
            let end = invoked_at + latency;
            let point = invoked_at + rng.below(latency + 1);
            let lost = rng.below(100) < w.lost_percent;
            let takes_effect = !lost || rng.below(2) == 0;
            shapes.push((
                client,
                invoked_at,
                takes_effect.then_some(point),
                (!lost).then_some(end),
            ));
            clock[client as usize] = end + rng.below(w.max_latency / 4 + 1);
        }
        // Effective operations in linearization order, then the others.
        shapes.sort_by_key(|&(_, _, point, _)| (point.is_none(), point));

        let mut model: BTreeMap<Key, Value> = BTreeMap::new();
        let mut next_value: Value = 1;
        let mut fresh = |rng: &mut Rng| {
            if w.distinct_values {
                next_value += 1;
                next_value - 1
            } else {
                1 + rng.below(5)
            }
        };
        let mut h = Vec::with_capacity(w.ops);
        for (client, invoked_at, point, end) in shapes {
            let key = rng.below(w.keys);
            let current = model.get(&key).copied();
            let (op, out) = match rng.below(10) {
                0..=3 => {
                    let value = fresh(rng);
                    (KvOp::Put { key, value }, KvOutput::Written)
                }
                4..=6 => (KvOp::Get { key }, KvOutput::Read(current)),
                _ => {
                    let expected = match rng.below(4) {
                        0 | 1 => current,
                        2 => None,
                        _ => Some(1 + rng.below(5)),
                    };
                    let new = fresh(rng);
                    let swapped = expected == current;
                    (
                        KvOp::Cas { key, expected, new },
                        KvOutput::CasResult { swapped },
                    )
                }
            };
            if point.is_some() {
                match (op, out) {
                    (KvOp::Put { value, .. }, _)
                    | (KvOp::Cas { new: value, .. }, KvOutput::CasResult { swapped: true }) => {
                        model.insert(key, value);
                    }
                    _ => {}
                }
            }
            h.push(Operation {
                client,
                op,
                invoked_at,
                completed: end.map(|t| (t, out)),
            });
        }
        assert!(next_value < NEVER_WRITTEN);
        rng.shuffle(&mut h);
        h
    }

    /// Replaces the output of one randomly chosen completed `Get` by a value
    /// never written; returns its key, or `None` if there is no such `Get`.
    fn corrupt_one_read(rng: &mut Rng, h: &mut [Operation]) -> Option<Key> {
        let reads: Vec<usize> = (0..h.len())
            .filter(|&i| matches!((h[i].op, h[i].completed), (KvOp::Get { .. }, Some(_))))
            .collect();
        if reads.is_empty() {
            return None;
        }
        let i = reads[rng.below(reads.len() as u64) as usize];
        let (t, _) = h[i].completed.unwrap();
        h[i].completed = Some((t, KvOutput::Read(Some(NEVER_WRITTEN + rng.below(1000)))));
        Some(h[i].op.key())
    }

    /// In a history where every write writes a fresh value, makes one
    /// completed `Get` return a stale value: one written by a completed
    /// write `a` such that another completed write `b` of the same key
    /// started after `a` completed and completed before the `Get` started.
    /// Since nothing else writes `a`'s value, this is never linearizable.
    /// Returns the key, or `None` if there is no such pattern.
    fn make_one_read_stale(rng: &mut Rng, h: &mut [Operation]) -> Option<Key> {
        let write = |o: &Operation| match (o.op, o.completed) {
            (KvOp::Put { value, .. }, Some((t, _)))
            | (KvOp::Cas { new: value, .. }, Some((t, KvOutput::CasResult { swapped: true }))) => {
                Some((value, t))
            }
            _ => None,
        };
        let mut choices = Vec::new();
        for (g, get) in h.iter().enumerate() {
            let (KvOp::Get { key }, Some(_)) = (get.op, get.completed) else {
                continue;
            };
            for a in h.iter().filter(|o| o.op.key() == key) {
                let Some((value, a_end)) = write(a) else {
                    continue;
                };
                let overwritten = h.iter().any(|b| {
                    b.op.key() == key
                        && b.invoked_at > a_end
                        && write(b).is_some_and(|(_, b_end)| b_end < get.invoked_at)
                });
                if overwritten {
                    choices.push((g, value));
                }
            }
        }
        if choices.is_empty() {
            return None;
        }
        let (g, value) = choices[rng.below(choices.len() as u64) as usize];
        let (t, _) = h[g].completed.unwrap();
        h[g].completed = Some((t, KvOutput::Read(Some(value))));
        Some(h[g].op.key())
    }

    fn assert_not_linearizable_at(h: &[Operation], key: Key, what: &str) {
        match check(h, STEPS) {
            Verdict::NotLinearizable { key: k, .. } => assert_eq!(k, key, "{what}"),
            v => panic!("{what}: expected NotLinearizable, got {v:?}"),
        }
    }

    /// Runs the search alone (no [`evident_violation`] precheck) on the
    /// sub-history of `key`.
    fn search_only(h: &[Operation], key: Key) -> KeyResult {
        let mut ops: Vec<Operation> = h.iter().filter(|o| o.op.key() == key).copied().collect();
        ops.sort_by_key(sort_key);
        check_key(&ops, STEPS, false)
    }

    #[test]
    fn randomized_linearizable_and_corrupted() {
        let mut rng = Rng(0x5EED);
        let (mut never_written, mut stale, mut stale_searched) = (0, 0, 0);
        for round in 0..400 {
            let distinct_values = rng.below(4) != 0;
            // With few distinct values, high contention on one key makes
            // the search space explode; keep those runs moderate.
            let max_clients = if distinct_values { 30 } else { 8 };
            let w = Workload {
                clients: 1 + rng.below(max_clients),
                ops: 1 + rng.below(300) as usize,
                keys: 1 + rng.below(5),
                max_latency: 1 + rng.below(100),
                distinct_values,
                lost_percent: rng.below(15),
            };
            let what = format!("round {round}, {w:?}");
            let h = random_history(&mut rng, w);
            assert_eq!(check(&h, STEPS), Verdict::Linearizable, "{what}: {h:?}");

            let mut bad = h.clone();
            if let Some(key) = corrupt_one_read(&mut rng, &mut bad) {
                assert_not_linearizable_at(&bad, key, &what);
                assert_eq!(search_only(&bad, key), KeyResult::NotLinearizable, "{what}");
                never_written += 1;
            }
            if distinct_values {
                let mut bad = h.clone();
                if let Some(key) = make_one_read_stale(&mut rng, &mut bad) {
                    assert_not_linearizable_at(&bad, key, &what);
                    stale += 1;
                    // Proving a violation by search alone means exhausting
                    // all linearizations before it: only under moderate
                    // contention.
                    if w.clients <= 10 {
                        assert_eq!(search_only(&bad, key), KeyResult::NotLinearizable, "{what}");
                        stale_searched += 1;
                    }
                }
            }
        }
        assert!(
            never_written > 300 && stale > 200 && stale_searched > 50,
            "{never_written} {stale} {stale_searched}"
        );
    }

    /// Reference checker: plain exhaustive search over all orders (and all
    /// subsets of the unknown-outcome operations), no memo, no reductions,
    /// with its own copy of the model. Only for tiny single-key histories.
    fn brute_force(ops: &[Operation]) -> bool {
        fn go(ops: &[Operation], used: &mut Vec<bool>, state: Option<Value>) -> bool {
            let all_done = ops
                .iter()
                .zip(used.iter())
                .all(|(o, &u)| u || o.completed.is_none());
            if all_done {
                return true;
            }
            for i in 0..ops.len() {
                if used[i] {
                    continue;
                }
                // Every unused completed operation that finished before
                // this one started must come first.
                let blocked = ops.iter().zip(used.iter()).any(|(o, &u)| {
                    !u && matches!(o.completed, Some((t, _)) if t < ops[i].invoked_at)
                });
                if blocked {
                    continue;
                }
                let out = ops[i].completed.map(|(_, out)| out);
                let next = match (ops[i].op, out) {
                    (KvOp::Put { value, .. }, None | Some(KvOutput::Written)) => Some(Some(value)),
                    (KvOp::Get { .. }, None) => Some(state),
                    (KvOp::Get { .. }, Some(KvOutput::Read(v))) if v == state => Some(state),
                    (KvOp::Cas { expected, new, .. }, o) => {
                        let ok = expected == state;
                        let after = if ok { Some(new) } else { state };
                        match o {
                            None => Some(after),
                            Some(KvOutput::CasResult { swapped }) if swapped == ok => Some(after),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                if let Some(next) = next {
                    used[i] = true;
                    let found = go(ops, used, next);
                    used[i] = false;
                    if found {
                        return true;
                    }
                }
            }
            false
        }
        go(ops, &mut vec![false; ops.len()], None)
    }

    #[test]
    fn agrees_with_brute_force_on_small_histories() {
        let mut rng = Rng(0xB0B);
        let val = |rng: &mut Rng| 1 + rng.below(3);
        let opt = |rng: &mut Rng| match rng.below(4) {
            0 => None,
            v => Some(v),
        };
        let (mut good, mut bad) = (0, 0);
        for round in 0..20_000 {
            let n = 1 + rng.below(7) as usize;
            let mut h = Vec::new();
            for c in 0..n as u64 {
                let op = match rng.below(3) {
                    0 => KvOp::Put {
                        key: 0,
                        value: val(&mut rng),
                    },
                    1 => KvOp::Get { key: 0 },
                    _ => KvOp::Cas {
                        key: 0,
                        expected: opt(&mut rng),
                        new: val(&mut rng),
                    },
                };
                let out = match op {
                    KvOp::Put { .. } => KvOutput::Written,
                    KvOp::Get { .. } => KvOutput::Read(opt(&mut rng)),
                    KvOp::Cas { .. } => KvOutput::CasResult {
                        swapped: rng.below(2) == 0,
                    },
                };
                let start = rng.below(20);
                let end = start + rng.below(8);
                let completed = (rng.below(6) != 0).then_some((end, out));
                h.push(Operation {
                    client: c,
                    op,
                    invoked_at: start,
                    completed,
                });
            }
            let expected = brute_force(&h);
            let verdict = check(&h, STEPS);
            assert_eq!(
                verdict == Verdict::Linearizable,
                expected,
                "round {round}: {verdict:?} for {h:?}"
            );
            let searched = search_only(&h, 0);
            assert_eq!(
                searched == KeyResult::Linearizable,
                expected,
                "round {round}: search alone: {searched:?} for {h:?}"
            );
            if expected {
                good += 1;
            } else {
                bad += 1;
            }
        }
        // Make sure both outcomes were well exercised.
        assert!(good > 2000 && bad > 2000, "good {good}, bad {bad}");
    }

    /// A second reference: plain memoized Wing & Gong search over a `u64`
    /// bitmask, with none of the reductions and pruning of the real
    /// search, and its own model. For single-key histories of at most 64
    /// operations.
    fn plain_search(ops: &[Operation]) -> bool {
        fn apply(op: KvOp, out: Option<KvOutput>, s: Option<Value>) -> Option<Option<Value>> {
            match (op, out) {
                (KvOp::Put { value, .. }, None | Some(KvOutput::Written)) => Some(Some(value)),
                (KvOp::Get { .. }, None) => Some(s),
                (KvOp::Get { .. }, Some(KvOutput::Read(v))) => (v == s).then_some(s),
                (KvOp::Cas { expected, new, .. }, o) => {
                    let ok = expected == s;
                    match o {
                        Some(KvOutput::CasResult { swapped }) if swapped != ok => None,
                        None | Some(KvOutput::CasResult { .. }) => {
                            Some(if ok { Some(new) } else { s })
                        }
                        _ => None,
                    }
                }
                _ => None,
            }
        }
        fn go(
            ops: &[Operation],
            done: u64,
            s: Option<Value>,
            failed: &mut BTreeSet<(u64, Option<Value>)>,
        ) -> bool {
            let must = ops
                .iter()
                .enumerate()
                .filter(|(_, o)| o.completed.is_some())
                .fold(0u64, |m, (i, _)| m | 1 << i);
            if done & must == must {
                return true;
            }
            if failed.contains(&(done, s)) {
                return false;
            }
            for (i, o) in ops.iter().enumerate() {
                if done & 1 << i != 0 {
                    continue;
                }
                let blocked = ops.iter().enumerate().any(|(j, p)| {
                    done & 1 << j == 0
                        && matches!(p.completed, Some((t, _)) if t.max(p.invoked_at) < o.invoked_at)
                });
                if blocked {
                    continue;
                }
                if let Some(next) = apply(o.op, o.completed.map(|(_, out)| out), s) {
                    if go(ops, done | 1 << i, next, failed) {
                        return true;
                    }
                }
            }
            failed.insert((done, s));
            false
        }
        go(ops, 0, None, &mut BTreeSet::new())
    }

    #[test]
    fn agrees_with_plain_search_on_medium_histories() {
        let mut rng = Rng(0xFEED);
        let (mut good, mut bad) = (0, 0);
        for round in 0..3000 {
            let w = Workload {
                clients: 2 + rng.below(6),
                ops: 10 + rng.below(30) as usize,
                keys: 1,
                max_latency: 1 + rng.below(60),
                distinct_values: rng.below(2) == 0,
                lost_percent: rng.below(30),
            };
            let mut h = random_history(&mut rng, w);
            // Perturb a few operations; the result may or may not remain
            // linearizable.
            for _ in 0..rng.below(3) {
                let i = rng.below(h.len() as u64) as usize;
                let o = &mut h[i];
                match (o.op, o.completed) {
                    (KvOp::Get { .. }, Some((t, _))) => {
                        let v = rng.below(6);
                        o.completed = Some((t, KvOutput::Read((v > 0).then_some(v))));
                    }
                    (KvOp::Cas { .. }, Some((t, KvOutput::CasResult { swapped }))) => {
                        o.completed = Some((t, KvOutput::CasResult { swapped: !swapped }));
                    }
                    (_, Some((t, out))) => {
                        o.completed = Some((t + rng.below(40), out));
                        o.invoked_at += rng.below(40);
                    }
                    (_, None) => o.invoked_at += rng.below(40),
                }
            }
            let expected = plain_search(&h);
            let verdict = check(&h, STEPS);
            assert_eq!(
                verdict == Verdict::Linearizable,
                expected,
                "round {round}: {verdict:?} for {h:?}"
            );
            let searched = search_only(&h, 0);
            assert_eq!(
                searched == KeyResult::Linearizable,
                expected,
                "round {round}: search alone: {searched:?} for {h:?}"
            );
            if expected {
                good += 1;
            } else {
                bad += 1;
            }
        }
        assert!(good > 300 && bad > 300, "good {good}, bad {bad}");
    }

    /// Checks a generated history within the step budget, then two corrupted versions of it:
    /// the search must decide each one (no `Inconclusive`), which bounds its work.
    fn decided_within_budget(rng: &mut Rng, w: Workload) {
        let h = random_history(rng, w);
        assert_eq!(check(&h, STEPS), Verdict::Linearizable, "{w:?}");
        let mut bad = h.clone();
        let key = corrupt_one_read(rng, &mut bad).unwrap();
        assert_not_linearizable_at(&bad, key, "never written");
        let mut bad = h;
        let key = make_one_read_stale(rng, &mut bad).unwrap();
        assert_not_linearizable_at(&bad, key, "stale");
    }

    #[test]
    fn large_history_is_decided_within_budget() {
        // 3000 operations over 20 keys from 30 concurrent clients, 5% lost.
        let w = Workload {
            clients: 30,
            ops: 3000,
            keys: 20,
            max_latency: 100,
            distinct_values: true,
            lost_percent: 5,
        };
        decided_within_budget(&mut Rng(42), w);
    }

    #[test]
    fn heavy_contention_single_key() {
        // 2000 operations on one key from 30 concurrent clients, 10% lost.
        let w = Workload {
            clients: 30,
            ops: 2000,
            keys: 1,
            max_latency: 100,
            distinct_values: true,
            lost_percent: 10,
        };
        decided_within_budget(&mut Rng(7), w);
    }
}
