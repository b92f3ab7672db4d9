//! Pruning: which values the unlinearized operations still need, and whether they can still be
//! produced ([`Supply`]).

use crate::model::{State, Step};

/// A set of values that can be cleared in constant time.
#[derive(Debug)]
pub(crate) struct ValueSet {
    /// Per value: the generation in which it was last inserted.
    stamp: Vec<u32>,
    /// The current generation; members are the values stamped with it.
    generation: u32,
}

impl ValueSet {
    /// An empty set over values `0..n_values`.
    pub(crate) fn new(n_values: usize) -> Self {
        ValueSet {
            stamp: vec![0; n_values],
            generation: 1,
        }
    }

    /// Empties the set.
    pub(crate) fn clear(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamp.fill(0);
            self.generation = 1;
        }
    }

    /// Inserts `v`; returns whether it was absent.
    pub(crate) fn insert(&mut self, v: State) -> bool {
        let fresh = self.stamp[v as usize] != self.generation;
        self.stamp[v as usize] = self.generation;
        fresh
    }

    /// Whether `v` is in the set.
    pub(crate) fn contains(&self, v: State) -> bool {
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
pub(crate) struct Supply {
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
    pub(crate) refs: Vec<u32>,
    /// Scratch set for [`Self::producible`].
    visited: ValueSet,
}

impl Supply {
    /// Counts over all of `steps` (none linearized yet).
    pub(crate) fn new(steps: &[Step], n_values: usize) -> Self {
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
    pub(crate) fn writes_surely(step: Step) -> Option<State> {
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
    pub(crate) fn add(&mut self, i: usize) {
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
    pub(crate) fn remove(&mut self, i: usize) {
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
    pub(crate) fn dead(&mut self, state: State) -> bool {
        for k in 0..self.weak.len() {
            self.visited.clear();
            if !self.producible(self.weak[k], state) {
                return true;
            }
        }
        false
    }
}
