//! Simulated disks that tell *written* from *durable*, for both worlds.
//!
//! Writes queue in issue order; each becomes durable after a sampled latency, never before an
//! earlier one (in-order durability, the one rule of the embedding contract). A crash loses
//! every write not yet durable, except, with tearing, perhaps a prefix of the oldest one: only
//! when that is indistinguishable from the write having been split in two and the first half
//! completed (see [`GroupStore::torn_prefix`]).
//!
//! This module adds time, stalls, slowness and crashes; what a write does to what the disk
//! holds is up to its [`Contents`]: one group's durable state ([`GroupStore`], the single-group
//! world's) or every group's on a node hosting many ([`HostStore`], where one write is a host
//! write, one fsync for many groups).

mod group;
mod host;

pub(crate) use group::GroupStore;
pub(crate) use host::HostStore;

use crate::rng::SimRng;
use crate::scenario::StorageParams;
use crate::Micros;
use sansraft::Write;
use sansraft_multi::GroupId;
use std::collections::VecDeque;

/// What a disk holds, and what its writes do to it.
pub(crate) trait Contents {
    /// One write as issued: made durable (or lost) in one piece.
    type Write;
    /// What acknowledges a write made durable.
    type Token;

    /// Makes `write` durable, calling `made_durable` for each group write it carries. Returns
    /// its token.
    fn apply(
        &mut self,
        write: Self::Write,
        made_durable: &mut impl FnMut(GroupId, &Write),
    ) -> Self::Token;

    /// A crash tears `write`: keeps what the tearing rule allows, reporting each group write
    /// (whole or a prefix) kept to `torn`. Returns how much it kept (0: nothing).
    fn tear(
        &mut self,
        write: Self::Write,
        rng: &mut SimRng,
        torn: &mut impl FnMut(GroupId, &Write),
    ) -> usize;
}

#[derive(Clone, Debug)]
struct Queued<W> {
    write: W,
    ready_at: Micros,
}

/// A completion timer to arm: deliver the disk's completion event with `gen` at `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timer {
    pub(crate) gen: u64,
    pub(crate) at: Micros,
}

/// One node's disk.
#[derive(Clone, Debug)]
pub(crate) struct Disk<C: Contents> {
    contents: C,
    queue: VecDeque<Queued<C::Write>>,
    last_ready_us: Micros,
    last_ack_us: Micros,
    stalled: bool,
    slow_factor: u32,
    timer_gen: u64,
    timer_armed: bool,
}

impl<C: Contents> Disk<C> {
    pub(crate) fn new(contents: C) -> Self {
        Disk {
            contents,
            queue: VecDeque::new(),
            last_ready_us: 0,
            last_ack_us: 0,
            stalled: false,
            slow_factor: 1,
            timer_gen: 0,
            timer_armed: false,
        }
    }

    /// What is durable.
    pub(crate) fn contents(&self) -> &C {
        &self.contents
    }

    /// What is durable, to change at once (what the application writes itself).
    pub(crate) fn contents_mut(&mut self) -> &mut C {
        &mut self.contents
    }

    /// Writes issued but not yet durable.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Queues a write. Returns a timer to arm if none is armed.
    pub(crate) fn submit(
        &mut self,
        write: C::Write,
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

    /// The completion timer fired: makes every ready write durable, in order, calling
    /// `made_durable` for each group write. Returns the token of the last one (to acknowledge)
    /// and the next timer to arm.
    pub(crate) fn on_timer(
        &mut self,
        gen: u64,
        now: Micros,
        made_durable: &mut impl FnMut(GroupId, &Write),
    ) -> (Option<C::Token>, Option<Timer>) {
        if gen != self.timer_gen || !self.timer_armed {
            return (None, None);
        }
        self.timer_armed = false;
        if self.stalled {
            return (None, None);
        }
        let mut last = None;
        while self.queue.front().is_some_and(|q| q.ready_at <= now) {
            last = self.complete_oldest(made_durable);
        }
        (last, self.arm(now))
    }

    /// Makes the oldest queued write durable now, whatever its latency or a stall: a driven
    /// world decides itself when the disk makes progress. Returns its token to acknowledge.
    pub(crate) fn complete_oldest(
        &mut self,
        made_durable: &mut impl FnMut(GroupId, &Write),
    ) -> Option<C::Token> {
        let Queued { write, .. } = self.queue.pop_front()?;
        Some(self.contents.apply(write, made_durable))
    }

    /// Makes `write` durable at once, for a node that counts it durable as it is carried out
    /// (`Io::Synchronous`): such a node waits for its disk, so no write of its ever queues, and
    /// stalls and slowness do not reach it.
    pub(crate) fn write_now(
        &mut self,
        write: C::Write,
        made_durable: &mut impl FnMut(GroupId, &Write),
    ) {
        debug_assert!(
            self.queue.is_empty(),
            "a synchronous node's writes never queue"
        );
        self.contents.apply(write, made_durable);
    }

    /// When the acknowledgement of a write made durable now reaches the node: after a random
    /// delay, never before an earlier acknowledgement.
    pub(crate) fn ack_time(&mut self, now: Micros, rng: &mut SimRng, p: &StorageParams) -> Micros {
        let at = (now + rng.between(0, p.max_ack_delay_us)).max(self.last_ack_us);
        self.last_ack_us = at;
        at
    }

    /// When the writes queued so far will all have completed (the disk's backlog).
    pub(crate) fn drained_at(&self) -> Micros {
        self.last_ready_us
    }

    /// True if every write queued will have completed by `at`.
    pub(crate) fn drains_by(&self, at: Micros) -> bool {
        self.queue.is_empty() || self.last_ready_us <= at
    }

    /// True if the disk is neither stalled nor slowed down by a fault.
    pub(crate) fn is_healthy(&self) -> bool {
        !self.stalled && self.slow_factor == 1
    }

    /// The disk stops completing writes.
    pub(crate) fn stall(&mut self) {
        self.stalled = true;
    }

    /// A stalled disk completes writes again. Returns a timer to arm.
    pub(crate) fn resume(&mut self, now: Micros) -> Option<Timer> {
        self.stalled = false;
        self.arm(now)
    }

    /// The disk recovers at the end of the fault phase: no stall, normal speed, and writes
    /// delayed by earlier slowness complete within the normal latency. Returns a timer to arm.
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

    /// "stalled", "slow ×N", or empty at normal speed (for traces).
    pub(crate) fn describe_speed(&self) -> String {
        if self.stalled {
            "stalled".to_owned()
        } else if self.slow_factor > 1 {
            format!("slow ×{}", self.slow_factor)
        } else {
            String::new()
        }
    }

    /// Multiplies latencies of later writes by `factor`.
    pub(crate) fn set_slow(&mut self, factor: u32) {
        self.slow_factor = factor.max(1);
    }

    /// The node crashed: incomplete writes are lost, except perhaps a torn part of the oldest
    /// one ([`Contents::tear`]), reported to `torn`. Returns how much of it was kept.
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
        match (tear, head) {
            (true, Some(Queued { write, .. })) => self.contents.tear(write, rng, torn),
            _ => 0,
        }
    }
}
