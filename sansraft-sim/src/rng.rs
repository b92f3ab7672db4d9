//! Seeded randomness. One `u64` seed drives a run; each concern draws from its own ChaCha8
//! stream, so that (for example) changing the fault schedule does not shift the network's draws
//! at the start of the run, and the schedule can be generated up front as plain data.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The independent random streams derived from a run's seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stream {
    /// Scenario parameters and the fault schedule (drawn once, before the run).
    Scenario = 1,
    /// Message delays, loss and duplication.
    Network = 2,
    /// Storage latencies, acknowledgement delays and torn-write cut points.
    Storage = 3,
    /// Client operations, think times and link delays.
    Clients = 4,
    /// Spare nodes and membership changes (drawn once, before the run), kept apart so that
    /// scenarios without them draw exactly what they drew before.
    Membership = 5,
    /// How clients read: through the log, ReadIndex or leases (drawn once, before the run).
    Reads = 6,
    /// Whether a chaos run's workload is quiet (drawn once, before the run).
    Workload = 8,
    /// Engine options added after the others, kept apart so that seeds draw everything else as
    /// they did (drawn once, before the run).
    Options = 9,
    /// Operators' campaign requests (drawn once, before the run).
    Campaigns = 10,
    /// Which initial voters are witnesses (drawn once, before the run).
    Witnesses = 13,
    /// Whether and how often the simulator asks for bounded-staleness reads (drawn once,
    /// before the run).
    StaleReads = 11,
    /// Which node each bounded-staleness read goes to, its bound and the next one's time
    /// (drawn during the run, apart from the clients' draws).
    StaleReadDraws = 12,
    /// Leader priorities: the initial configuration's and the operator's changes of them
    /// (drawn once, before the run).
    Priorities = 14,
    /// Whether the run quiesces idle groups, and its failure detector's timing (drawn once,
    /// before the run).
    Quiescence = 15,
}

/// A seeded generator for one [`Stream`].
#[derive(Clone, Debug)]
pub(crate) struct SimRng(ChaCha8Rng);

impl SimRng {
    /// The generator of `stream` for the run seeded with `seed`.
    pub(crate) fn new(seed: u64, stream: Stream) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream as u64);
        SimRng(rng)
    }

    /// A uniform value in `[lo, hi]` (inclusive).
    pub(crate) fn between(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            self.0.random_range(lo..=hi)
        }
    }

    /// A uniform value in `[0, n)`; `n` must be positive.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0, "below(0)");
        self.0.random_range(0..n)
    }

    /// A uniform index into a slice of length `n`.
    pub(crate) fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// True with probability `ppm / 1_000_000`.
    pub(crate) fn chance_ppm(&mut self, ppm: u32) -> bool {
        ppm > 0 && self.0.random_range(0..1_000_000u32) < ppm
    }

    /// True with probability one half.
    pub(crate) fn coin(&mut self) -> bool {
        self.0.random::<bool>()
    }

    /// A raw 64-bit value.
    #[cfg(test)]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0.random::<u64>()
    }

    /// One element of a non-empty slice.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.index(i + 1);
            items.swap(i, j);
        }
    }
}

/// SplitMix64: derives well-mixed sub-seeds (for example each node's election seed).
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let mut a = SimRng::new(7, Stream::Network);
        let mut b = SimRng::new(7, Stream::Network);
        let mut c = SimRng::new(7, Stream::Storage);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }
}
