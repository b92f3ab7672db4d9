//! Notices when the node loop falls behind its ticks, and says why as far as it can tell.
//!
//! Every election timeout is counted in ticks, so a node loop that handles its ticks late is a
//! node that may be voted out (a follower that stops answering) or step down (a leader that
//! stops hearing its quorum). Each tick's delay goes to the metrics; a delay of half an election
//! timeout or more is logged once per stall, with the longest piece of work the loop did since
//! the tick before: if that is small, the loop was not busy but not scheduled (the cores were
//! taken) or waiting elsewhere.

use crate::metrics::Metrics;
use std::time::Duration;
use tokio::time::Instant;

/// What the node loop was doing, for the stall log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Work {
    Tick,
    Messages,
    Requests,
    Storage,
}

/// The node loop's tick delays, and its longest piece of work since the last tick.
#[derive(Debug)]
pub(crate) struct StallWatch {
    /// A delay at least this long is logged.
    threshold: Duration,
    /// The last tick was late by at least `threshold` (a stall's later ticks are not logged).
    stalled: bool,
    longest: Option<(Duration, Work)>,
}

impl StallWatch {
    /// Logs delays of `threshold` or more.
    pub(crate) fn new(threshold: Duration) -> StallWatch {
        StallWatch {
            threshold,
            stalled: false,
            longest: None,
        }
    }

    /// The tick due at `due` is being handled now.
    pub(crate) fn tick(&mut self, due: Instant, metrics: &Metrics) {
        let delay = now().saturating_duration_since(due);
        metrics.tick_delayed(delay);
        let late = delay >= self.threshold;
        if late && !self.stalled {
            let (longest, work) = self.longest.unwrap_or((Duration::ZERO, Work::Tick));
            tracing::warn!(
                delay_ms = delay.as_millis() as u64,
                longest_work_ms = longest.as_millis() as u64,
                longest_work = ?work,
                "the node loop handled a tick late"
            );
        }
        self.stalled = late;
        self.longest = None;
    }

    /// Runs `f`, one piece of the loop's work, and remembers how long it took.
    pub(crate) fn time<T>(&mut self, work: Work, f: impl FnOnce() -> T) -> T {
        let started = now();
        let result = f();
        let took = started.elapsed();
        if self.longest.is_none_or(|(longest, _)| took > longest) {
            self.longest = Some((took, work));
        }
        result
    }
}

/// The wall clock of the loop's timer (tokio's, so that it follows a paused test clock).
fn now() -> Instant {
    Instant::now()
}
