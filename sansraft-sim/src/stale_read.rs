//! Bounded-staleness reads (`Input::ReadStale`) as both worlds ask for and check them: now
//! and then the simulator asks a random node for a read at most 1 to
//! [`StaleReadParams::MAX_BOUND_TIMEOUTS`] election timeouts stale, and checks each one served
//! against its bound (the test kit's `StaleReadBeyondBound` rule), with the instant the node's
//! clock read `now − bound` taken from the node's tick history ([`crate::host::TickTimes`]).

use crate::checker::Checker;
use crate::rng::SimRng;
use crate::scenario::StaleReadParams;
use crate::violation::{Failure, ViolationKind};
use crate::Micros;
use sansraft::{Index, NodeId, ReadError};

/// A read the simulator asks for.
pub(crate) struct Ask {
    /// The node asked (index).
    pub(crate) node: usize,
    /// The bound, in the node's ticks.
    pub(crate) bound: u32,
    /// When the next read is due.
    pub(crate) next_at: Micros,
}

/// When the first read is due.
pub(crate) fn first_at(p: StaleReadParams, rng: &mut SimRng) -> Micros {
    rng.between(1, p.every_us)
}

/// The read due at `now`, of one of `nodes` nodes whose election timeout is `timeout_ticks`.
pub(crate) fn draw(
    p: StaleReadParams,
    rng: &mut SimRng,
    now: Micros,
    nodes: usize,
    timeout_ticks: u32,
) -> Ask {
    let node = rng.index(nodes);
    let timeouts = rng.between(1, u64::from(StaleReadParams::MAX_BOUND_TIMEOUTS));
    let bound = (timeouts * u64::from(timeout_ticks)) as u32;
    let next_at = now + rng.between(p.every_us / 2, p.every_us * 3 / 2).max(1);
    Ask {
        node,
        bound,
        next_at,
    }
}

/// Node `i` serves read `read` at `index` from a state machine that applied `applied`
/// entries; `since` is when its clock read `now − bound`.
pub(crate) fn check_served(
    checker: &mut Checker,
    read: u64,
    i: usize,
    index: Index,
    applied: Index,
    since: Micros,
) -> Result<(), Failure> {
    if index > applied {
        return Err(Failure::new(
            ViolationKind::StateMachineSafety,
            Some(i as NodeId + 1),
            format!("read {read} released at index {index} with only {applied} applied"),
        ));
    }
    (checker.on_stale_read_served(read, i, applied, since)).map_err(Into::into)
}

/// True if a refused read had a proof, too old for its bound (else it had none usable).
pub(crate) fn proof_too_old(error: &ReadError) -> bool {
    matches!(
        error,
        ReadError::TooStale {
            provable_ticks: Some(_),
            ..
        }
    )
}
