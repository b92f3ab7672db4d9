//! Bounded-staleness reads (`Input::ReadStale`): the simulator asks random nodes for them and
//! checks each one served against its bound ([`crate::stale_read`]).

use super::World;
use crate::event::Event;
use crate::stale_read;
use sansraft::Input;

impl World {
    /// Asks a random node for a read at most 1 to 4 election timeouts stale, and schedules the
    /// next. A node that is down or paused is skipped (its process cannot answer).
    pub(super) fn on_stale_read(&mut self) {
        let Some(p) = self.sc.stale_reads else {
            return;
        };
        let timeout = self.sc.raft.election_timeout_ticks;
        let ask = stale_read::draw(p, &mut self.rng_stale, self.now, self.hosts.len(), timeout);
        self.queue.push(ask.next_at, Event::StaleRead);
        let (i, bound) = (ask.node, ask.bound);
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
        let r = stale_read::check_served(&mut self.checker, id, i, index, applied, since);
        self.record(r)
    }
}
