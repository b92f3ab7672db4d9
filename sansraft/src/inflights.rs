//! The window of append messages in flight to one follower, bounded in messages and bytes.

use crate::types::Index;
use std::collections::VecDeque;

/// Appends sent but not yet acknowledged, oldest first, each as (last index, bytes).
#[derive(Clone, Debug)]
pub(crate) struct Inflights {
    sent: VecDeque<(Index, u64)>,
    bytes: u64,
    max_msgs: usize,
    max_bytes: u64,
}

impl Inflights {
    /// Gives back spare capacity (an idle group's memory).
    pub(crate) fn shrink(&mut self) {
        self.sent.shrink_to_fit();
    }

    pub(crate) fn new(max_msgs: usize, max_bytes: u64) -> Self {
        Inflights {
            sent: VecDeque::new(),
            bytes: 0,
            max_msgs,
            max_bytes,
        }
    }

    /// No more appends may be sent until some are acknowledged.
    pub(crate) fn is_full(&self) -> bool {
        self.sent.len() >= self.max_msgs || self.bytes >= self.max_bytes
    }

    /// Appends in flight.
    pub(crate) fn len(&self) -> usize {
        self.sent.len()
    }

    /// Entry bytes in flight.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Records an append whose last entry is `last_index`. Indexes must grow.
    pub(crate) fn add(&mut self, last_index: Index, bytes: u64) {
        debug_assert!(
            self.sent.back().is_none_or(|&(last, _)| last < last_index),
            "inflight appends must be recorded in index order"
        );
        if self.sent.capacity() == 0 {
            self.sent.reserve_exact(self.max_msgs.min(64));
        }
        self.sent.push_back((last_index, bytes));
        self.bytes += bytes;
    }

    /// Frees every append whose last index is at or below `index` (acknowledged).
    pub(crate) fn free_to(&mut self, index: Index) {
        while let Some(&(last, bytes)) = self.sent.front() {
            if last > index {
                break;
            }
            self.bytes -= bytes;
            self.sent.pop_front();
        }
    }

    /// Frees the oldest append: used when a heartbeat answer shows the follower alive while the
    /// window is full, so a lost acknowledgement cannot stall replication forever.
    pub(crate) fn free_first(&mut self) {
        if let Some((_, bytes)) = self.sent.pop_front() {
            self.bytes -= bytes;
        }
    }

    pub(crate) fn clear(&mut self) {
        self.sent.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::Inflights;

    #[test]
    fn bounded_in_messages_and_bytes() {
        let mut w = Inflights::new(3, 100);
        w.add(1, 10);
        w.add(2, 10);
        assert!(!w.is_full());
        w.add(5, 10);
        assert!(w.is_full(), "three messages fill a window of three");
        w.free_to(2);
        assert_eq!(w.len(), 1);
        assert!(!w.is_full());
        w.add(9, 95);
        assert!(w.is_full(), "105 bytes exceed the 100-byte window");
        w.free_first();
        w.free_to(100);
        assert_eq!(w.len(), 0);
        assert!(!w.is_full());
    }
}
