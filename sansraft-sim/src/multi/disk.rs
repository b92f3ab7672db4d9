//! One node's disk holding every group's durable state and the host's tombstones.
//!
//! A [`HostWrite`] is one fsync: its group writes are carried out in order by the reference
//! storage ([`sansraft_testkit::storage::make_durable`]) and become durable together after one
//! sampled latency, never before an earlier host write. A crash loses every host write not yet
//! durable, except, with tearing, a prefix of the oldest one: its first group writes whole and
//! perhaps a prefix of the next one's entries, under the single-group disk's rule (a pure append
//! whose kept entries are of no term above the durable one), so a torn host write always equals
//! a shorter sequence of complete writes.

use crate::rng::SimRng;
use crate::scenario::StorageParams;
use crate::Micros;
use bytes::Bytes;
use sansraft::{DurableState, Write};
use sansraft_multi::{GroupId, HostToken, HostWrite};
use sansraft_testkit::storage::{apply_write, make_durable, restart_state};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// A completion timer to arm: `DiskDone { gen }` at `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timer {
    pub(crate) gen: u64,
    pub(crate) at: Micros,
}

#[derive(Clone, Debug)]
struct Queued {
    write: HostWrite,
    ready_at: Micros,
}

/// The disk of one node.
#[derive(Clone, Debug)]
pub(crate) struct NodeDisk {
    /// Every group's durable state.
    groups: BTreeMap<GroupId, DurableState>,
    tombstones: BTreeSet<GroupId>,
    queue: VecDeque<Queued>,
    last_ready_us: Micros,
    last_ack_us: Micros,
    stalled: bool,
    slow_factor: u32,
    timer_gen: u64,
    timer_armed: bool,
}

impl NodeDisk {
    /// A disk holding `groups`' bootstrap states.
    pub(crate) fn new(groups: BTreeMap<GroupId, DurableState>) -> Self {
        NodeDisk {
            groups,
            tombstones: BTreeSet::new(),
            queue: VecDeque::new(),
            last_ready_us: 0,
            last_ack_us: 0,
            stalled: false,
            slow_factor: 1,
            timer_gen: 0,
            timer_armed: false,
        }
    }

    /// Makes a new replica's starting state of `group` durable at once, as an embedder does
    /// before creating the replica.
    pub(crate) fn create(&mut self, group: GroupId, state: DurableState) {
        self.groups.insert(group, state);
    }

    /// What a restarted host is handed: every group's restart state, and the tombstones.
    pub(crate) fn restart_states(
        &self,
    ) -> (
        impl Iterator<Item = (GroupId, DurableState)> + '_,
        &BTreeSet<GroupId>,
    ) {
        let groups = (self.groups.iter()).map(|(&g, durable)| (g, restart_state(durable)));
        (groups, &self.tombstones)
    }

    /// Queues a host write. Returns a timer to arm if none is armed.
    pub(crate) fn submit(
        &mut self,
        write: HostWrite,
        now: Micros,
        rng: &mut SimRng,
        params: &StorageParams,
    ) -> Option<Timer> {
        let mut latency = rng.between(params.min_latency_us, params.max_latency_us);
        if rng.chance_ppm(params.slow_ppm) {
            latency = rng.between(params.max_latency_us, params.slow_latency_us);
        }
        let ready_at = (now + latency * u64::from(self.slow_factor)).max(self.last_ready_us);
        self.last_ready_us = ready_at;
        self.queue.push_back(Queued { write, ready_at });
        self.arm(now)
    }

    fn arm(&mut self, now: Micros) -> Option<Timer> {
        if self.timer_armed || self.stalled {
            return None;
        }
        let head = self.queue.front()?;
        self.timer_gen += 1;
        self.timer_armed = true;
        Some(Timer {
            gen: self.timer_gen,
            at: head.ready_at.max(now),
        })
    }

    /// The completion timer fired: makes every ready host write durable, in order, calling
    /// `made_durable` for each group write. Returns the last token to acknowledge and the next
    /// timer to arm.
    pub(crate) fn on_timer(
        &mut self,
        gen: u64,
        now: Micros,
        made_durable: &mut impl FnMut(GroupId, &Write),
    ) -> (Option<HostToken>, Option<Timer>) {
        if gen != self.timer_gen || !self.timer_armed {
            return (None, None);
        }
        self.timer_armed = false;
        if self.stalled {
            return (None, None);
        }
        let mut last = None;
        while self.queue.front().is_some_and(|q| q.ready_at <= now) {
            if let Some(Queued { write, .. }) = self.queue.pop_front() {
                for (group, w) in &write.writes {
                    self.write_group(*group, w, made_durable);
                }
                for group in &write.tombstones {
                    self.groups.remove(group);
                    self.tombstones.insert(*group);
                }
                last = Some(write.token);
            }
        }
        (last, self.arm(now))
    }

    fn write_group(
        &mut self,
        group: GroupId,
        write: &Write,
        made_durable: &mut impl FnMut(GroupId, &Write),
    ) {
        if let Some(durable) = self.groups.get_mut(&group) {
            // Snapshots are not taken in the multi-group world: no bytes to install.
            let mut no_bytes = Bytes::new();
            make_durable(durable, &mut no_bytes, write, None);
            made_durable(group, write);
        }
    }

    /// When the acknowledgement of a host write made durable now reaches the host.
    pub(crate) fn ack_time(&mut self, now: Micros, rng: &mut SimRng, p: &StorageParams) -> Micros {
        let at = (now + rng.between(0, p.max_ack_delay_us)).max(self.last_ack_us);
        self.last_ack_us = at;
        at
    }

    /// True if neither stalled nor slowed down by a fault, and no write queued while it was
    /// is still due later than `bound_us` from `now`.
    pub(crate) fn is_healthy(&self, now: Micros, bound_us: Micros) -> bool {
        !self.stalled
            && self.slow_factor == 1
            && (self.queue.is_empty() || self.last_ready_us <= now + bound_us)
    }

    pub(crate) fn stall(&mut self) {
        self.stalled = true;
    }

    pub(crate) fn resume(&mut self, now: Micros) -> Option<Timer> {
        self.stalled = false;
        self.arm(now)
    }

    pub(crate) fn set_slow(&mut self, factor: u32) {
        self.slow_factor = factor.max(1);
    }

    /// Back to health: no stall, normal speed, delayed writes due within the normal latency.
    pub(crate) fn heal(&mut self, now: Micros, params: &StorageParams) -> Option<Timer> {
        self.stalled = false;
        self.slow_factor = 1;
        let limit = now + params.max_latency_us;
        for q in &mut self.queue {
            q.ready_at = q.ready_at.min(limit);
        }
        self.last_ready_us = self.last_ready_us.min(limit);
        self.timer_gen += 1;
        self.timer_armed = false;
        self.arm(now)
    }

    /// The node crashed: host writes not yet durable are lost, except perhaps a torn prefix of
    /// the oldest one (see the module docs), reported to `torn` group write by group write.
    /// Returns the number of group writes (whole or torn) kept.
    pub(crate) fn crash(
        &mut self,
        tear: bool,
        rng: &mut SimRng,
        torn: &mut impl FnMut(GroupId, &Write),
    ) -> usize {
        self.timer_gen += 1;
        self.timer_armed = false;
        let head = self.queue.pop_front();
        self.queue.clear();
        let (true, Some(Queued { write, .. })) = (tear, head) else {
            return 0;
        };
        // Whole group writes 0..cut survive; write `cut` may survive as a prefix.
        let cut = rng.below(write.writes.len() as u64 + 1) as usize;
        for (group, w) in &write.writes[..cut] {
            self.write_group(*group, w, torn);
        }
        let Some((group, w)) = write.writes.get(cut) else {
            return cut;
        };
        let Some(durable) = self.groups.get_mut(group) else {
            return cut;
        };
        let durable_last = (durable.entries.last()).map_or(durable.snapshot.index, |e| e.index);
        let appends = (w.entries.first()).is_some_and(|e| e.index == durable_last + 1);
        if !appends || w.entries.len() < 2 || w.install.is_some() {
            return cut;
        }
        let keep = rng.between(1, w.entries.len() as u64 - 1) as usize;
        let term = durable.hard_state.term;
        if w.entries[..keep].iter().any(|e| e.term > term) {
            return cut;
        }
        let prefix = Write {
            token: w.token,
            install: None,
            hard_state: None,
            entries: w.entries[..keep].to_vec().into(),
        };
        apply_write(durable, &prefix);
        torn(*group, &prefix);
        cut + 1
    }
}
