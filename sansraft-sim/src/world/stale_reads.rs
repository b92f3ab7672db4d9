//! Bounded-staleness reads (`Input::ReadStale`): the simulator asks random nodes for them and
//! checks each one served against its bound (the test kit's `StaleReadBeyondBound` rule), with
//! the instant the node's clock read `now − bound` taken from the node's tick history.

use super::World;
use crate::event::Event;
use crate::scenario::StaleReadParams;
use sansraft::Input;

impl World {
    /// Asks a random node for a read at most 1 to 4 election timeouts stale, and schedules the
    /// next. A node that is down or paused is skipped (its process cannot answer).
    pub(super) fn on_stale_read(&mut self) {
        let Some(p) = self.sc.stale_reads else {
            return;
        };
        let rng = &mut self.rng_stale;
        let i = rng.index(self.hosts.len());
        let timeouts = rng.between(1, u64::from(StaleReadParams::MAX_BOUND_TIMEOUTS));
        let bound = (timeouts * u64::from(self.sc.raft.election_timeout_ticks)) as u32;
        let next = self.now + rng.between(p.every_us / 2, p.every_us * 3 / 2).max(1);
        self.queue.push(next, Event::StaleRead);
        let host = &self.hosts[i];
        if !host.is_up() || host.paused || self.manual.is_some() {
            return;
        }
        let id = self.next_read_id;
        self.next_read_id += 1;
        self.stale_read = Some((id, bound));
        self.step(
            i,
            Input::ReadStale {
                id,
                max_staleness_ticks: bound,
            },
        );
        self.stale_read = None;
    }

    /// Node `i` serves the bounded-staleness read `id` at `index`: its state machine must hold
    /// every entry committed before its clock read `now − bound`.
    pub(super) fn on_stale_read_served(
        &mut self,
        i: usize,
        id: u64,
        index: sansraft::Index,
        bound: u32,
    ) -> bool {
        self.stats.stale_reads.0 += 1;
        let host = &self.hosts[i];
        let applied = host.applied.0;
        let since = host.ticks.since(u64::from(bound));
        if let Some(t) = self.tracer.as_mut() {
            t.note(&format!(
                "bounded-staleness read {id} served at index {index} (bound {bound} ticks of \
                 {}, from {:.6}s)",
                host.ticks.count(),
                since as f64 / 1e6
            ));
        }
        let r = if index > applied {
            Err(crate::violation::Failure::new(
                crate::violation::ViolationKind::StateMachineSafety,
                Some(host.id),
                format!("read {id} released at index {index} with only {applied} applied"),
            ))
        } else {
            self.checker
                .on_stale_read_served(id, i, applied, since)
                .map_err(Into::into)
        };
        self.record(r)
    }
}
