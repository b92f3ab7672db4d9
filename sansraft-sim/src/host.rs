//! A simulated server: the sansraft node (when running), its disk, its key-value state machine,
//! the proposals it made for clients, its clock, and the input that queues while it is paused.

use crate::client::Reply;
use crate::disk::{Disk, GroupStore};
use crate::event::Event;
use crate::kv::{Applied, KvStore};
use crate::scenario::ClockParams;
use sansraft::{Config, DurableState, Entry, Index, Node, NodeId, Term};
use std::collections::{BTreeMap, VecDeque};

/// A proposal made for a client, answered when its index is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pending {
    pub(crate) client: usize,
    pub(crate) seq: u64,
    /// The term it was proposed in: if the entry applied at its index has another term, it was
    /// overwritten.
    pub(crate) term: Term,
}

impl Pending {
    /// The answer to the client once `entry`, at the proposal's index, is applied: overwritten
    /// if the entry is of another term.
    pub(crate) fn answer(&self, entry: &Entry, applied: Applied) -> Reply {
        match applied {
            Applied::Fresh(out) | Applied::Duplicate(out) if entry.term == self.term => {
                Reply::Done(out)
            }
            _ => Reply::Overwritten,
        }
    }
}

/// One server.
#[derive(Debug)]
pub(crate) struct Host {
    pub(crate) id: NodeId,
    pub(crate) config: Config,
    /// `None` while crashed.
    pub(crate) node: Option<Node>,
    pub(crate) incarnation: u64,
    pub(crate) disk: Disk<GroupStore>,
    /// Rebuilt from the log on every restart.
    pub(crate) kv: KvStore,
    /// Proposals awaiting application, by log index.
    pub(crate) pending: BTreeMap<Index, Pending>,
    pub(crate) clock: ClockParams,
    /// Bumped whenever the tick chain restarts, so stale ticks are ignored.
    pub(crate) clock_gen: u64,
    pub(crate) paused: bool,
    /// `Some(tear)`: crash as soon as the node issues its next write (disarmed by a `Restart`).
    pub(crate) crash_on_write: Option<bool>,
    /// `Some(tear)`: crash as soon as the node's disk next makes a write durable, while the
    /// acknowledgement is on its way.
    pub(crate) crash_on_durable: Option<bool>,
    /// `Some(side)`: restart as the next vote request arrives, before handling it, and cut
    /// `side` off from everyone then (a lease bridge's leader side).
    pub(crate) bounce_on_vote: Option<Vec<NodeId>>,
    /// Storage acknowledgements that arrived while the node was down, for its next incarnation.
    pub(crate) held_acks: Vec<sansraft::WriteToken>,
    /// Events that arrived while paused, handled in order on resume.
    pub(crate) backlog: Vec<Event>,
    /// The snapshot being received: its identity and the bytes so far (lost on a crash).
    pub(crate) partial: crate::received_snapshot::Partial,
    /// The last index and term the state machine applied.
    pub(crate) applied: (Index, Term),
    /// When the current pause began.
    pub(crate) paused_at: crate::Micros,
    /// Reads asked of the node, by read id: the client, its request and the key.
    pub(crate) reads: BTreeMap<u64, (usize, u64, crate::linearizability::Key)>,
    /// When this incarnation's recent ticks happened, for the bounded-staleness check. Quiet
    /// nodes are not ticked, but their clocks run: the ticks they miss count here too.
    pub(crate) ticks: TickTimes,
    /// The failure detector, in ticks of this incarnation's clock (with quiescence only).
    pub(crate) detector: sansraft_multi::FailureDetector,
}

/// When a node's tick counter took its recent values: bounded, the last `keep` ticks of the
/// current incarnation (the counter starts at 0 when the incarnation starts).
#[derive(Clone, Debug)]
pub(crate) struct TickTimes {
    /// When the incarnation started: the counter read 0 from then.
    start: crate::Micros,
    /// Ticks so far: the node's counter.
    count: u64,
    /// The times of ticks `count − len + 1 ..= count`, oldest first.
    recent: VecDeque<crate::Micros>,
    keep: usize,
}

impl TickTimes {
    /// An incarnation started at `start` of a node whose election timeout is `timeout_ticks`:
    /// remembers enough ticks for the largest bound of a bounded-staleness read.
    pub(crate) fn for_reads(start: crate::Micros, timeout_ticks: u32) -> Self {
        let max = crate::scenario::StaleReadParams::MAX_BOUND_TIMEOUTS;
        Self::new(start, (max * timeout_ticks) as usize + 2)
    }

    /// An incarnation started at `start`; remembers the last `keep` ticks.
    fn new(start: crate::Micros, keep: usize) -> Self {
        TickTimes {
            start,
            count: 0,
            recent: VecDeque::with_capacity(keep),
            keep,
        }
    }

    /// The node ticked at `at`.
    pub(crate) fn tick(&mut self, at: crate::Micros) {
        self.count += 1;
        if self.recent.len() == self.keep {
            self.recent.pop_front();
        }
        self.recent.push_back(at);
    }

    /// The node's tick counter now.
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// When the counter came to read `count − back` (the incarnation's start if it has not
    /// ticked that often). `back` must be below `keep`.
    pub(crate) fn since(&self, back: u64) -> crate::Micros {
        let Some(k) = self.count.checked_sub(back).filter(|&k| k > 0) else {
            return self.start;
        };
        let oldest = self.count + 1 - self.recent.len() as u64;
        debug_assert!(k >= oldest, "tick {k} is older than the {} kept", self.keep);
        self.recent
            .get(k.saturating_sub(oldest) as usize)
            .copied()
            .unwrap_or(self.start)
    }
}

impl Host {
    pub(crate) fn new(
        config: Config,
        node: Node,
        initial: DurableState,
        clock: ClockParams,
    ) -> Self {
        let timeout = config.election_timeout_ticks;
        Host {
            id: config.id,
            config,
            node: Some(node),
            incarnation: 0,
            disk: Disk::new(GroupStore::new(initial)),
            kv: KvStore::default(),
            pending: BTreeMap::new(),
            clock,
            clock_gen: 0,
            paused: false,
            crash_on_write: None,
            crash_on_durable: None,
            bounce_on_vote: None,
            held_acks: Vec::new(),
            backlog: Vec::new(),
            partial: Default::default(),
            applied: (0, 0),
            paused_at: 0,
            reads: BTreeMap::new(),
            ticks: TickTimes::for_reads(0, timeout),
            detector: sansraft_multi::FailureDetector::new(u32::MAX),
        }
    }

    /// True if the process runs (not crashed).
    pub(crate) fn is_up(&self) -> bool {
        self.node.is_some()
    }
}

impl crate::health::Server for Host {
    type Store = GroupStore;

    fn runs_normally(&self) -> bool {
        self.is_up() && !self.paused && self.crash_on_write.is_none()
    }

    fn disk(&self) -> &Disk<GroupStore> {
        &self.disk
    }
}
