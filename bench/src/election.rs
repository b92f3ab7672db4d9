//! Election times of sansraft over many seeds: ticks and steps from cluster start to a leader,
//! and from the loss of that leader to the next one.

use crate::ours::OursCluster;
use crate::transport::Mode;

/// One election's cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElectionCost {
    /// Tick rounds (every node ticked once, then every message delivered).
    pub ticks: u64,
    /// Inputs stepped into any node, ticks, messages and acknowledgements alike.
    pub steps: u64,
}

/// The elections of one seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedElections {
    /// From start to the first leader.
    pub first: ElectionCost,
    /// From cutting the first leader off to a new leader among the others.
    pub after_loss: ElectionCost,
}

/// Tick rounds after which the run is declared stuck (a bug, reported as a panic).
const GIVE_UP_TICKS: u64 = 10_000;

fn until_leader(cluster: &mut OursCluster) -> ElectionCost {
    let (ticks0, steps0) = (0, cluster.steps);
    let mut ticks = ticks0;
    while cluster.leader().is_none() {
        cluster.tick_all();
        ticks += 1;
        assert!(ticks < GIVE_UP_TICKS, "no leader after {ticks} ticks");
    }
    ElectionCost {
        ticks,
        steps: cluster.steps - steps0,
    }
}

/// Runs both elections for one seed on a cluster of `nodes`.
pub fn run_seed(nodes: usize, seed: u64) -> SeedElections {
    let mut cluster = OursCluster::new(nodes, seed, Mode::InProcess);
    let first = until_leader(&mut cluster);
    // Let the leadership settle (its first entry commits, followers hear heartbeats).
    for _ in 0..20 {
        cluster.tick_all();
    }
    let old = cluster
        .leader()
        .expect("the leader stays while nothing fails");
    cluster.isolated = Some(old);
    let after_loss = until_leader(&mut cluster);
    SeedElections { first, after_loss }
}

/// Percentiles of a sample: min, p50, p90, p99, max and the mean.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Distribution {
    /// Smallest value.
    pub min: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest value.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

impl Distribution {
    /// The distribution of `values` (not empty).
    pub fn of(mut values: Vec<u64>) -> Self {
        assert!(!values.is_empty(), "a distribution needs values");
        values.sort_unstable();
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        Distribution {
            min: values[0],
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: values[values.len() - 1],
            mean: values.iter().sum::<u64>() as f64 / values.len() as f64,
        }
    }
}
