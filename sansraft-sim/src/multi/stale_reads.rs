//! Bounded-staleness reads (`Input::ReadStale`) in the multi-group world: now and then the
//! simulator asks a random node for a read of a random group, drawn as in the single-group
//! world ([`crate::stale_read`]), and checks each one served against its bound with the
//! group's checker. A node's clock is its host's: every host tick counts, a quiet group's too
//! (as a quiet node's in the single-group world).

use super::queue::Ev;
use super::world::MultiWorld;
use crate::host::TickTimes;
use crate::rng::{SimRng, Stream};
use crate::scenario::Scenario;
use crate::stale_read;
use sansraft::{Index, Input, ReadError};
use sansraft_multi::{GroupId, HostInput};

/// The reads asked for and the clocks they are checked against.
pub(super) struct StaleReads {
    rng: SimRng,
    /// Per node: when its current incarnation's recent host ticks happened (empty without
    /// reads).
    ticks: Vec<TickTimes>,
    /// The read of the current step: its id and bound.
    asked: Option<(u64, u32)>,
}

impl StaleReads {
    /// The reads of `sc` (none unless `sc.stale_reads`), the first due at the time returned.
    pub(super) fn new(sc: &Scenario) -> (StaleReads, Option<crate::Micros>) {
        let mut rng = SimRng::new(sc.seed, Stream::StaleReadDraws);
        let first = sc.stale_reads.map(|p| stale_read::first_at(p, &mut rng));
        let reads = StaleReads {
            rng,
            ticks: (0..sc.nodes)
                .filter(|_| first.is_some())
                .map(|_| TickTimes::for_reads(0, sc.raft.election_timeout_ticks))
                .collect(),
            asked: None,
        };
        (reads, first)
    }

    /// True if `id` is the read of the current step.
    pub(super) fn asked(&self, id: u64) -> bool {
        self.asked.is_some_and(|(read, _)| read == id)
    }
}

impl MultiWorld {
    /// Asks a random node for a read of a random group at most 1 to 4 election timeouts stale,
    /// and schedules the next. A node that is down, paused or does not host the group is
    /// skipped.
    pub(super) fn on_stale_read(&mut self) {
        let Some(p) = self.sc.stale_reads else {
            return;
        };
        let timeout = self.sc.raft.election_timeout_ticks;
        let rng = &mut self.stale.rng;
        let ask = stale_read::draw(p, rng, self.now, self.n, timeout);
        let group = rng.between(1, self.g);
        self.queue.push(ask.next_at, Ev::StaleRead);
        let node = &self.nodes[ask.node];
        let hosted = (node.host.as_ref()).is_some_and(|h| h.group(group).is_some());
        if !hosted || node.paused {
            return;
        }
        let id = self.next_read_id;
        self.next_read_id += 1;
        self.stale.asked = Some((id, ask.bound));
        let input = Input::ReadStale {
            id,
            max_staleness_ticks: ask.bound,
        };
        self.step_host(ask.node, HostInput::Group { group, input });
        self.stale.asked = None;
    }

    /// Node `i`'s host ticked.
    pub(super) fn stale_clock_ticked(&mut self, i: usize) {
        if let Some(t) = self.stale.ticks.get_mut(i) {
            t.tick(self.now);
        }
    }

    /// Node `i` restarted: its clock starts again.
    pub(super) fn stale_clock_restarted(&mut self, i: usize) {
        let timeout = self.sc.raft.election_timeout_ticks;
        if let Some(t) = self.stale.ticks.get_mut(i) {
            *t = TickTimes::for_reads(self.now, timeout);
        }
    }

    /// Node `i` serves the read of this step in `group` at `index`: its state machine must hold
    /// every entry of the group committed before its clock read `now − bound`.
    pub(super) fn on_stale_read_served(&mut self, i: usize, group: GroupId, index: Index) {
        let (Some((id, bound)), Some(ticks)) = (self.stale.asked, self.stale.ticks.get(i)) else {
            return;
        };
        self.stats.stale_reads += 1;
        let since = ticks.since(u64::from(bound));
        let applied = self.nodes[i].applied[group as usize - 1];
        let checker = &mut self.checkers[group as usize - 1];
        checker.set_time(self.now);
        let r = stale_read::check_served(checker, id, i, index, applied, since);
        self.record(r.map_err(|f| super::step::in_group(group, f)));
    }

    /// The read of this step was refused.
    pub(super) fn on_stale_read_refused(&mut self, error: &ReadError) {
        match stale_read::proof_too_old(error) {
            true => self.stats.stale_reads_too_old += 1,
            false => self.stats.stale_reads_unproven += 1,
        }
    }
}
