//! The `node_step` target: a structure-aware sequence of inputs into one node.
//!
//! The input is read as a [`Setup`] (cluster size, options, small flow-control limits) and then
//! a sequence of [`Op`]s until it runs out: fabricated peer messages with terms and indices near
//! the node's own ([`gen`]), answers that a real peer would give to what the node just sent,
//! ticks, proposals, membership changes, leadership transfers, linearizable reads, storage
//! progress and acknowledgements (right, late, stale, duplicated and bogus), application
//! reports (right and bogus) and crash-restarts from what storage made durable. [`Harness`] models the storage (written versus durable, as sansraft's test harness
//! does) and checks the node's local invariants after every step; see its documentation.

pub mod gen;
mod harness;
mod local_rules;

pub use harness::Harness;

use crate::change::Change;
use arbitrary::{Arbitrary, Result, Unstructured};
use sansraft::{Canary, Config, NodeId};

/// Most operations read from one input (libFuzzer's `-max_len` usually bounds it first).
pub const MAX_OPS: usize = 2_000;

/// The node under test and its cluster: node 1 of `voters` voters, maybe with a learner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setup {
    /// Voters `1..=voters`; the node under test is 1.
    pub voters: u64,
    /// Whether node `voters + 1` is a learner.
    pub learner: bool,
    /// Leader priorities of the initial configuration (sorted by id).
    pub priorities: Vec<sansraft::Priority>,
    /// Engine options; small limits so that flow control and back-pressure are reached.
    pub config: Config,
}

/// Leader priorities derived, not drawn (as `max_entry_bytes` below), so that inputs found
/// before they existed decode as they did: in a quarter of the setups with peers (seeds ≡ 1 mod
/// 4), node 2 gets priority 1 to 3 and the node under test 0 to 2 from the seed's next bits, so
/// it is below, level with or above a peer: it times out later, or hands leadership over.
fn priorities(voters: u64, seed: u64) -> Vec<sansraft::Priority> {
    if voters < 2 || seed % 4 != 1 {
        return Vec::new();
    }
    let mine = ((seed >> 2) % 3) as u32;
    let theirs = ((seed >> 4) % 3) as u32 + 1;
    [(1, mine), (2, theirs)]
        .into_iter()
        .filter(|&(_, priority)| priority > 0)
        .map(|(id, priority)| sansraft::Priority { id, priority })
        .collect()
}

impl<'a> Arbitrary<'a> for Setup {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let voters = *u.choose(&[3u64, 3, 1, 5, 2])?;
        let mut config = Config::new(1, u.arbitrary()?);
        config.election_timeout_ticks = u.int_in_range(2..=6)?;
        config.heartbeat_interval_ticks = u.int_in_range(1..=config.election_timeout_ticks - 1)?;
        config.pre_vote = u.arbitrary()?;
        config.check_quorum = u.arbitrary()?;
        config.max_append_bytes = u.int_in_range(1..=200)?;
        config.max_inflight_msgs = u.int_in_range(1..=4)?;
        config.max_inflight_bytes = u.int_in_range(1..=400)?;
        config.max_uncommitted_bytes = u.int_in_range(1..=400)?;
        config.max_apply_bytes = u.int_in_range(1..=200)?;
        // Derived, not drawn, so that inputs found before the option existed decode as they
        // did: an entry limit within proposal sizes (up to 255 bytes) in half the setups.
        if config.max_apply_bytes % 2 == 0 {
            config.max_entry_bytes = config.max_apply_bytes;
        }
        config.auto_leave_joint = !u.ratio(1u8, 4)?;
        config.auto_promote_learners = u.arbitrary()?;
        config.learner_catch_up_gap = u.int_in_range(0..=4)?;
        config.max_pending_reads = u.int_in_range(1..=8)?;
        // Leases need check-quorum and a lease of at least one tick.
        config.lease_reads = config.check_quorum && u.arbitrary()?;
        config.max_clock_drift_percent = *u.choose(&[0, 10])?;
        if config.validate().is_err() {
            config.lease_reads = false;
        }
        // Derived, not drawn (as `max_entry_bytes` above): leader stickiness off in a quarter
        // of the setups without leases, which need it.
        config.leader_stickiness = config.lease_reads || config.max_inflight_msgs != 2;
        // Derived too: the node is a witness in about a quarter of the setups of three voters
        // or more (the configuration names it one).
        config.witness = voters >= 3 && config.max_inflight_bytes % 4 == 1;
        // Derived too: quiescence in half of the setups.
        // (It needs leader stickiness.)
        config.quiesce = config.leader_stickiness && config.max_uncommitted_bytes % 2 == 1;
        Ok(Setup {
            voters,
            learner: u.ratio(1u8, 4)?,
            priorities: priorities(voters, config.seed),
            config,
        })
    }
}

/// One thing that happens to the node.
#[derive(Clone, Debug, PartialEq, Eq, Arbitrary)]
pub enum Op {
    /// Some ticks (1 to 16).
    Tick(u8),
    /// A fabricated message; the bytes are a recipe read by [`gen::body`] near the node's state.
    Message(Vec<u8>),
    /// Peer `peer` answers the last message the node sent it as a correct peer would (grant,
    /// accept, acknowledge) or refuses (`agree == false`).
    Respond {
        /// Which peer (modulo the cluster size).
        peer: u8,
        /// Grant or accept, else refuse.
        agree: bool,
    },
    /// A client proposal of this many bytes.
    Propose(u8),
    /// Several proposals at once.
    ProposeBatch(u8),
    /// The oldest written write becomes durable; its acknowledgement waits.
    Persist,
    /// The oldest written write becomes durable and is acknowledged at once.
    PersistAndAck,
    /// Every written write becomes durable; only the last is acknowledged (it vouches for all).
    PersistAllAckLast,
    /// The oldest waiting acknowledgement arrives.
    Ack,
    /// An acknowledgement arrives again, or one from an earlier incarnation.
    StaleAck(u8),
    /// An acknowledgement of a write never issued.
    BogusAck(u8),
    /// The application reports an index it was never handed.
    BogusApplied(u8),
    /// The process crashes (unwritten writes are lost) and restarts from its durable state.
    Restart,
    /// The application takes a snapshot at its applied index and reports it.
    TakeSnapshot,
    /// The oldest snapshot chunk read the node asked for is answered (`corrupt`: with one
    /// byte flipped, as a failing disk would).
    AnswerRead {
        /// Flip a byte of the chunk.
        corrupt: bool,
    },
    /// A chunk read nobody asked for.
    BogusRead(u8),
    /// Asks the node to hand leadership to this peer (modulo the cluster size).
    Transfer(u8),
    /// The operator asks the node to change the membership (thesis §4.3); node numbers are
    /// taken modulo the cluster size plus two (so nodes not yet members are named too).
    ChangeMembership(Change),
    /// A client asks the node for a linearizable read (thesis §6.4).
    Read,
    /// The operator asks the node to campaign now.
    Campaign {
        /// Without a pre-vote poll.
        skip_pre_vote: bool,
    },
    /// The embedder refuses the snapshot being received (`bogus`: one that is not).
    RefuseSnapshot {
        /// Name a snapshot other than the one being received.
        bogus: bool,
    },
    /// A client asks the node for a read at most `bound` of its ticks stale
    /// (`Input::ReadStale`). Last in the enum, so that inputs found before it decode as they
    /// did up to their first use of it.
    ReadStale {
        /// The bound, in ticks.
        bound: u8,
    },
    /// The embedder's failure detector reports node `peer & 0x7F` (modulo the cluster size plus
    /// one, so the node itself and unknown nodes too) unreachable (`Input::PeerUnreachable`),
    /// or, with the high bit set, reachable again (`Input::PeerReachable`).
    PeerUnreachable(u8),
}

/// Runs the target on one input. Panics on a finding.
pub fn run(data: &[u8]) {
    run_with(data, None);
}

/// Runs the target on one input with `canary` switched on in the node. Panics on a finding.
pub fn run_with(data: &[u8], canary: Option<Canary>) {
    let mut u = Unstructured::new(data);
    let Ok(mut setup) = Setup::arbitrary(&mut u) else {
        return;
    };
    setup.config.canary = canary;
    let mut harness = Harness::new(setup);
    for _ in 0..MAX_OPS {
        if u.is_empty() {
            break;
        }
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        harness.apply(&op);
    }
}

/// Runs a decoded setup and operation list (for proptest and regression tests).
pub fn run_ops(setup: Setup, ops: &[Op]) -> Harness {
    let mut harness = Harness::new(setup);
    for op in ops {
        harness.apply(op);
    }
    harness
}

/// The id of the node under test.
pub const ME: NodeId = 1;
