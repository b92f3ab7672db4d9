//! What a history is made of: the key-value requests, their responses, the recorded operations,
//! and the checker's verdict.

/// A key of the replicated key-value store.
pub type Key = u64;

/// A value stored under a [`Key`].
pub type Value = u64;

/// A client request against the key-value store. Every request touches
/// exactly one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvOp {
    /// Unconditionally set `key` to `value`.
    Put {
        /// The key written.
        key: Key,
        /// The value written.
        value: Value,
    },
    /// Read the current value of `key` (`None` if absent).
    Get {
        /// The key read.
        key: Key,
    },
    /// Compare-and-set: set `key` to `new` iff its current value equals
    /// `expected` (`None` meaning "absent"); report whether it swapped.
    Cas {
        /// The key compared and possibly written.
        key: Key,
        /// The value `key` must currently hold (`None`: must be absent).
        expected: Option<Value>,
        /// The value written on success.
        new: Value,
    },
}

impl KvOp {
    /// The single key this operation touches.
    pub fn key(&self) -> Key {
        match *self {
            KvOp::Put { key, .. } | KvOp::Get { key } | KvOp::Cas { key, .. } => key,
        }
    }
}

/// The response a client received for a [`KvOp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvOutput {
    /// Response to a [`KvOp::Put`].
    Written,
    /// Response to a [`KvOp::Get`]: the value read (`None` if absent).
    Read(Option<Value>),
    /// Response to a [`KvOp::Cas`]: whether the swap happened.
    CasResult {
        /// `true` iff the value matched `expected` and was replaced.
        swapped: bool,
    },
}

/// One operation of a recorded history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operation {
    /// The client that issued the operation (informational only; the
    /// checker does not use it).
    pub client: u64,
    /// The request.
    pub op: KvOp,
    /// When the client invoked the operation (simulated time, or a monotonic
    /// clock shared by all clients; [`describe_counterexample`](crate::describe_counterexample)
    /// reads it as microseconds).
    pub invoked_at: u64,
    /// When the client received the response (on the same clock), and the
    /// response.
    ///
    /// None: the client never learned the outcome (timed out / crashed); the
    /// operation may have taken effect at any point after invocation, or
    /// never. A completion time earlier than `invoked_at` is treated as equal
    /// to `invoked_at`. An output of the wrong kind for the request (e.g.
    /// `Written` for a `Get`) can never be linearized.
    pub completed: Option<(u64, KvOutput)>,
}

/// The result of [`check`](crate::check).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every key's sub-history has a linearization.
    Linearizable,
    /// No linearization exists for this key; `operations` is the sub-history of that key (for the report).
    ///
    /// `operations` holds every operation on `key` (including ones with
    /// unknown outcome), sorted by invocation time (ties broken by the other
    /// fields). If several keys fail, the smallest is reported.
    NotLinearizable {
        /// The smallest key whose sub-history is not linearizable.
        key: Key,
        /// All operations on `key`, sorted by `invoked_at`.
        operations: Vec<Operation>,
    },
    /// The search exceeded `max_steps` for some key: no verdict.
    ///
    /// Only reported if no key was found to be non-linearizable; the
    /// smallest such key is reported.
    Inconclusive {
        /// The smallest key whose search ran out of steps.
        key: Key,
    },
}
