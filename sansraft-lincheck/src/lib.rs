//! # sansraft-lincheck
//!
//! A linearizability checker for histories of a key-value store.
//!
//! A test records a *history*: for every client request, when it was
//! invoked and (if the client ever found out) when it completed and what it
//! returned. [`check`] decides whether that history is *linearizable* with
//! respect to a sequential store in which every key is an independent
//! register, initially absent: whether every operation can be assigned a
//! single instant between its invocation and its completion such that
//! executing the operations one at a time, in the order of those instants,
//! against the sequential model yields exactly the recorded outputs.
//!
//! # Example
//!
//! Times are in any unit, as long as one clock orders every client's events
//! (a monotonic clock read by every client, or simulated time).
//!
//! ```
//! use sansraft_lincheck::{check, describe_counterexample, KvOp, KvOutput, Operation, Verdict};
//!
//! let op = |client, op, invoked_at, completed| Operation { client, op, invoked_at, completed };
//! let history = [
//!     // Client 1 writes 1, then 2.
//!     op(1, KvOp::Put { key: 7, value: 1 }, 0, Some((10, KvOutput::Written))),
//!     op(1, KvOp::Put { key: 7, value: 2 }, 20, Some((30, KvOutput::Written))),
//!     // Client 3's write of 3 timed out: it may or may not have taken effect.
//!     op(3, KvOp::Put { key: 7, value: 3 }, 25, None),
//!     // Client 2 reads 1 after the write of 2 completed: a stale read.
//!     op(2, KvOp::Get { key: 7 }, 40, Some((50, KvOutput::Read(Some(1))))),
//! ];
//! let Verdict::NotLinearizable { key, operations } = check(&history, 1_000_000) else {
//!     panic!("a stale read must be found");
//! };
//! assert_eq!(key, 7);
//! assert!(describe_counterexample(key, &operations).contains("Read(Some(1))"));
//!
//! // Had the read overlapped the write of 2, reading 1 would have been fine; and reading 3
//! // means the write that timed out took effect.
//! let mut overlapping = history;
//! overlapping[3].invoked_at = 25;
//! assert_eq!(check(&overlapping, 1_000_000), Verdict::Linearizable);
//! let mut lost_write_seen = history;
//! lost_write_seen[3].completed = Some((50, KvOutput::Read(Some(3))));
//! assert_eq!(check(&lost_write_seen, 1_000_000), Verdict::Linearizable);
//! ```
//!
//! # Algorithm
//!
//! The core is the Wing & Gong search with Lowe's memoization, as in
//! Porcupine ("WGL"), plus pruning specific to registers:
//!
//! * **P-compositionality.** Every operation touches exactly one key and
//!   linearizability is local (Herlihy & Wing 1990; Horn & Kroening 2015),
//!   so the history is split by key and each sub-history is checked on its
//!   own, in ascending key order. This keeps every search small.
//! * **Evident violations** (stale reads, lost updates, reads of values
//!   never written) are first looked for by a cheap real-time argument
//!   (module `evident`); finding them by search would mean exhausting
//!   every linearization of the history before them.
//! * **Wing & Gong search.** A depth-first search over *configurations*:
//!   the set of operations linearized so far and the resulting model state.
//!   The operations that may be linearized next are the unlinearized ones
//!   invoked before the first completion of an unlinearized operation (that
//!   one must be linearized before anything invoked later). They are found
//!   in a time-ordered doubly linked list of invocation and completion
//!   events from which linearized operations are unlinked, and relinked on
//!   backtracking (dancing links, as in Porcupine). At equal times
//!   invocations sort before completions: operations whose intervals merely
//!   touch are concurrent.
//! * **Lowe's memoization.** The future of the search depends only on the
//!   configuration, so every configuration (a bitset of linearized
//!   operations and the state) is recorded and never explored twice.
//! * **Pruning.** A configuration is abandoned as soon as some value that
//!   an unlinearized completed read still needs can no longer be produced
//!   (module `supply`): typically right after a wrong choice overwrote it, rather
//!   than when that read's deadline passes.
//!
//! Values are interned per key, so a state is a small integer.
//!
//! # Operations with unknown outcome
//!
//! A client that timed out or crashed does not know whether its request took
//! effect. Such an operation ([`Operation::completed`] is `None`) is treated
//! as completing at +infinity with any output: it may be linearized at any
//! point after its invocation, or never. A `Get` with unknown outcome
//! constrains nothing and is dropped. A `Put` or `Cas` with unknown outcome,
//! if linearized, changes the state exactly as its operation dictates (a
//! `Cas` succeeds or fails depending on the state at that point). The search
//! succeeds as soon as every operation with known outcome is linearized; the
//! others still unlinearized then are the ones that never took effect.
//!
//! Since these operations are always available, they could multiply the
//! configurations; the search only considers *canonical* linearizations, of
//! which one exists whenever any linearization does:
//!
//! * one that would leave the state unchanged is never linearized (omitting
//!   it is equivalent);
//! * one must be directly followed by an operation that observes its effect
//!   (`Step::observes` in module `model`); otherwise it could be omitted or moved later;
//! * among puts of values that no unlinearized operation refers to, only
//!   one is tried at a time (they are interchangeable);
//! * configurations are also tracked by which unknown-outcome operations
//!   they used, and one is pruned if a configuration with the same state
//!   and known-outcome operations but a subset of those was already
//!   explored (module `memo`): using fewer of them only leaves more options.
//!
//! # Cost
//!
//! Deciding linearizability is NP-complete in general, and the search is
//! exponential in the number of operations concurrently in flight *on one
//! key*; `max_steps` bounds it ([`Verdict::Inconclusive`]). With operations
//! spread over several keys it is fast: a few milliseconds for thousands of
//! operations from tens of clients. The pruning works best when every write
//! writes a fresh value (then it even handles tens of clients on a single
//! key), and fresh values also make the reported violations easier to read.
//!
//! # References
//!
//! * J. M. Wing and C. Gong, "Testing and verifying concurrent objects",
//!   Journal of Parallel and Distributed Computing 17(1–2), 1993.
//! * G. Lowe, "Testing for linearizability", Concurrency and Computation:
//!   Practice and Experience 29(4), 2017.
//! * A. Athalye, Porcupine: a fast linearizability checker in Go,
//!   <https://github.com/anishathalye/porcupine>.
//! * A. Horn and D. Kroening, "Faster linearizability checking via
//!   P-compositionality", FORTE 2015.
//! * M. P. Herlihy and J. M. Wing, "Linearizability: a correctness condition
//!   for concurrent objects", ACM TOPLAS 12(3), 1990.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod events;
mod evident;
mod history;
mod memo;
mod model;
mod partition;
mod report;
mod search;
mod supply;
#[cfg(test)]
mod tests;

pub use history::{Key, KvOp, KvOutput, Operation, Value, Verdict};
pub use partition::check;
pub use report::describe_counterexample;
