//! Deliberate host bugs, for proving that the simulator's multi-group world finds real bugs in
//! the host as well as in the engine (whose own are [`sansraft::Canary`]).
//!
//! The bugs' branches are compiled only with the `canary` cargo feature. Without it a
//! [`crate::HostConfig`] that names one is refused
//! ([`crate::HostConfigError::CanaryNotCompiled`]). The names are always there, so that a test
//! harness compiles the same with and without the feature.

/// One host bug that can be switched on in a host. Each names the rule it breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum HostCanary {
    /// Breaks "one write for all groups" (docs/multi-group.md): an acknowledgement of a host
    /// write acknowledges every host write in flight, so groups count later writes durable
    /// before they are (thesis §3.8: a server answers only after its state is on stable
    /// storage).
    AckBeyondToken,
    /// Breaks tombstones (docs/multi-group.md): a restarted host forgets the groups deleted
    /// before, so a message for a deleted group reports it unknown and the embedder creates
    /// it again.
    ForgetTombstones,
}

impl HostCanary {
    /// True if this build carries the canaries' branches (the `canary` feature).
    pub const COMPILED: bool = cfg!(feature = "canary");

    /// Every host canary.
    pub const ALL: &'static [HostCanary] =
        &[HostCanary::AckBeyondToken, HostCanary::ForgetTombstones];

    /// The canary's name on command lines.
    pub fn name(self) -> &'static str {
        match self {
            HostCanary::AckBeyondToken => "ack-beyond-token",
            HostCanary::ForgetTombstones => "forget-tombstones",
        }
    }

    /// The canary with this [`HostCanary::name`].
    pub fn from_name(name: &str) -> Option<HostCanary> {
        HostCanary::ALL.iter().copied().find(|c| c.name() == name)
    }
}

/// True if the host's configuration switches on this canary bug. Always `false` without the
/// `canary` feature.
#[cfg(feature = "canary")]
macro_rules! host_canary {
    ($config:expr, $bug:ident) => {
        $config.canary == Some($crate::HostCanary::$bug)
    };
}

/// True if the host's configuration switches on this canary bug. Always `false` without the
/// `canary` feature.
#[cfg(not(feature = "canary"))]
macro_rules! host_canary {
    ($config:expr, $bug:ident) => {{
        let _ = &$config;
        false
    }};
}

pub(crate) use host_canary;
