//! Lowe's memoization: the configurations already explored, and the dominance pruning between
//! configurations that used different operations of unknown outcome.

use crate::model::State;
#[expect(
    clippy::disallowed_types,
    reason = "the memo is only probed by key, never iterated: its order cannot reach any output"
)]
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Bitset(pub(crate) Vec<u64>);

impl Bitset {
    /// An empty set able to hold indices `0..n`.
    pub(crate) fn new(n: usize) -> Self {
        Bitset(vec![0; n.div_ceil(64)])
    }

    /// Adds `i`.
    pub(crate) fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    /// Removes `i`.
    pub(crate) fn clear(&mut self, i: usize) {
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
pub(crate) struct Memo {
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
    pub(crate) fn new(done_words: usize, used_words: usize) -> Self {
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
    pub(crate) fn insert(
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
