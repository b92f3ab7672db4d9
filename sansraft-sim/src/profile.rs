//! Fault profiles: named mixes of network behaviour, storage behaviour and fault kinds.
//!
//! A profile gives *ranges*; [`crate::Scenario::generate`] draws concrete values per seed, so a
//! sweep covers many combinations (swarm testing). `chaos` additionally switches whole fault
//! kinds and engine options on or off per seed.

use serde::{Deserialize, Serialize};

/// A named fault profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// A healthy cluster: small delays, no loss, no faults.
    Calm,
    /// A bad network: loss, duplication, heavy jitter (reordering) and long-tail delays.
    Lossy,
    /// Network partitions of every shape, healed and reshaped over time.
    Partitions,
    /// Crashes with torn writes and restarts, process pauses, stalled and slow disks.
    Crashes,
    /// Everything at once, with fault kinds and engine options varied per seed.
    Chaos,
}

impl Profile {
    /// Every profile, in a fixed order.
    pub const ALL: [Profile; 5] = [
        Profile::Calm,
        Profile::Lossy,
        Profile::Partitions,
        Profile::Crashes,
        Profile::Chaos,
    ];

    /// The profile's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Calm => "calm",
            Profile::Lossy => "lossy",
            Profile::Partitions => "partitions",
            Profile::Crashes => "crashes",
            Profile::Chaos => "chaos",
        }
    }

    /// The fault kinds this profile may use; `chaos` picks a subset per seed (see
    /// [`FaultMix::swarm`]).
    pub(crate) fn mix(self) -> FaultMix {
        let none = FaultMix {
            lossy_network: false,
            partitions: false,
            crashes: false,
            pauses: false,
            storage: false,
            swarm: false,
            mean_gap_us: 2_000_000,
            max_skew_ppm: 10_000,
        };
        match self {
            Profile::Calm => none,
            Profile::Lossy => FaultMix {
                lossy_network: true,
                ..none
            },
            Profile::Partitions => FaultMix {
                partitions: true,
                ..none
            },
            Profile::Crashes => FaultMix {
                crashes: true,
                pauses: true,
                storage: true,
                ..none
            },
            Profile::Chaos => FaultMix {
                lossy_network: true,
                partitions: true,
                crashes: true,
                pauses: true,
                storage: true,
                swarm: true,
                mean_gap_us: 1_000_000,
                max_skew_ppm: 50_000,
            },
        }
    }
}

impl core::fmt::Display for Profile {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// The error for an unknown profile name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownProfile(pub String);

impl core::fmt::Display for UnknownProfile {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "unknown profile {:?}; expected one of calm, lossy, partitions, crashes, chaos",
            self.0
        )
    }
}

impl std::error::Error for UnknownProfile {}

impl core::str::FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownProfile(s.to_owned()))
    }
}

/// Which fault kinds a profile uses, and how often faults fire.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FaultMix {
    /// Loss, duplication, heavy jitter and long-tail delays.
    pub(crate) lossy_network: bool,
    /// Partitions of every shape.
    pub(crate) partitions: bool,
    /// Crashes (with torn writes) and restarts.
    pub(crate) crashes: bool,
    /// Process pauses.
    pub(crate) pauses: bool,
    /// Stalled and slow disks.
    pub(crate) storage: bool,
    /// Per seed, keep each enabled kind with some probability and vary engine options.
    pub(crate) swarm: bool,
    /// Mean time between two faults.
    pub(crate) mean_gap_us: u64,
    /// The largest clock skew of a node's tick period, in parts per million.
    pub(crate) max_skew_ppm: u64,
}
