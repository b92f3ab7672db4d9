//! Randomised safety properties of whole clusters (Raft Figure 3): Election Safety, Log Matching,
//! Leader Completeness / State Machine Safety (committed entries never change, no two nodes apply
//! different entries at one index), plus commit-index monotonicity and every node's local
//! invariants.
//!
//! A proptest-generated schedule drives a 3- or 5-node cluster through ticks, arbitrary message
//! delivery (any message in flight, not just the oldest), drops, duplicates, proposals, crashes,
//! restarts, partitions, one-write-at-a-time persistence and switching between synchronous and
//! asynchronous storage. Every property is checked after every operation.
//!
//! Size: `three_node_clusters_stay_safe` runs 800 cases, each a schedule of 1..=2500 operations
//! (length drawn uniformly); `five_node_clusters_stay_safe` runs 400 cases of 1..=3000 operations.
//! Each case also draws the setup: election timeout / heartbeat (2/1, 3/1, 4/2 or 6/2 ticks),
//! storage acknowledging at once or not, pre-vote, check-quorum, window, append and
//! uncommitted-byte limits, and the seed. Long schedules matter: most leader changes and log
//! truncations (divergent logs being repaired) only happen after several hundred operations.
//! The whole file takes about 5-8 s in the test profile. `schedules_reach_interesting_states`
//! (150 fixed schedules of 1..=2500 operations) guards against the generator losing its power
//! (e.g. never electing a leader, so that the properties would hold vacuously).

mod checks;
mod properties;
mod schedule;
mod sim;
