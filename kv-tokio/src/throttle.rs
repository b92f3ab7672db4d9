//! Keeps a log line that a stranger can trigger at will from flooding the log.

use std::time::Duration;
// Wall-clock time, outside the engine: spacing log lines.
use tokio::time::Instant;

/// Lets an event be logged at most once per interval and counts the ones held back.
#[derive(Debug)]
pub(crate) struct Throttle {
    interval: Duration,
    next: Option<Instant>,
    held_back: u64,
}

impl Throttle {
    pub(crate) fn new(interval: Duration) -> Throttle {
        Throttle {
            interval,
            next: None,
            held_back: 0,
        }
    }

    /// `Some(n)` if this event is to be logged, `n` being how many were held back since the
    /// last one logged; `None` if it is to be held back.
    pub(crate) fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self.next.is_some_and(|next| now < next) {
            self.held_back += 1;
            return None;
        }
        self.next = Some(now + self.interval);
        Some(std::mem::take(&mut self.held_back))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Virtual time: `advance` moves the clock without sleeping.
    #[tokio::test(start_paused = true)]
    async fn one_event_per_interval_passes_and_the_rest_are_counted() {
        let mut throttle = Throttle::new(Duration::from_secs(1));
        assert_eq!(throttle.allow(), Some(0));
        assert_eq!(throttle.allow(), None);
        assert_eq!(throttle.allow(), None);
        tokio::time::advance(Duration::from_millis(999)).await;
        assert_eq!(throttle.allow(), None);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(throttle.allow(), Some(3));
        assert_eq!(throttle.allow(), None);
    }
}
