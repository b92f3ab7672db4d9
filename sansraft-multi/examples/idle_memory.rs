//! Memory per idle replica: three hosts in one process, each holding a replica of every one of
//! `G` groups (10,000 unless given as the first argument). Every group elects a leader, commits
//! its no-op and goes quiet ([`sansraft::Config::quiesce`]); then the bytes the hosts hold are
//! measured with a counting global allocator, as the memory freed by dropping them.
//!
//! ```text
//! cargo run --release -p sansraft-multi --example idle_memory [-- GROUPS]
//! ```
//!
//! Storage is not modelled (writes are acknowledged at once and forgotten): the figure is the
//! engine's and the host's memory, not the embedder's log store.

mod common;

use common::Sim;
use sansraft::{Action, Config, Membership, Node, Role};
use sansraft_multi::{GroupId, HostInput};
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::collections::VecDeque;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes allocated and not yet freed.
fn live() -> i64 {
    let s = GLOBAL.stats();
    s.bytes_allocated as i64 - s.bytes_deallocated as i64 + s.bytes_reallocated as i64
}

fn main() {
    let groups: GroupId = std::env::args()
        .nth(1)
        .map_or(10_000, |a| a.parse().expect("GROUPS is a number"));
    let base = live();
    let mut sim = Sim::new(groups, true);
    let created = live() - base;
    let rounds = sim.settle(groups);
    // Ten more quiet rounds: nothing may grow.
    for _ in 0..10 {
        sim.round();
    }
    sim.network = VecDeque::new();
    let steps: u64 = sim.hosts.iter().map(|h| h.counters().engine_steps).sum();
    let before = live();
    let quiet_steps_before = steps;
    for _ in 0..10 {
        sim.round();
    }
    let steps_after: u64 = sim.hosts.iter().map(|h| h.counters().engine_steps).sum();
    sim.network = VecDeque::new();
    let held = live();
    // What one leader and one follower replica hold: delete them by role and count what is
    // freed (less the tombstone each delete records, a few bytes).
    let mut freed_by_role = [0i64; 2];
    for (r, leaders) in [true, false].into_iter().enumerate() {
        let before = live();
        for i in 0..sim.hosts.len() {
            let doomed: Vec<GroupId> = sim.hosts[i]
                .groups()
                .filter(|(_, n)| (n.role() == Role::Leader) == leaders)
                .map(|(g, _)| g)
                .collect();
            for g in doomed {
                sim.input(i, HostInput::DeleteGroup(g));
            }
        }
        sim.network = VecDeque::new();
        freed_by_role[r] = before - live();
    }
    drop(sim);
    let freed = held - live();
    let replicas = 3 * groups as i64;
    let g = groups as i64;
    println!("groups: {groups}, replicas: {replicas}, rounds to settle: {rounds}");
    println!(
        "engine steps in 10 idle rounds: {} (all {} replicas quiet)",
        steps_after - quiet_steps_before,
        replicas
    );
    println!("live bytes growth over 10 idle rounds: {}", held - before);
    println!(
        "held by the hosts when idle: {freed} bytes, {} bytes per idle replica",
        freed / replicas
    );
    println!(
        "  freed by deleting a leader replica: {} bytes; a follower replica: {} bytes",
        freed_by_role[0] / g,
        freed_by_role[1] / (2 * g)
    );
    println!(
        "held right after creation (before any step): {} bytes per replica",
        created / replicas
    );
    println!(
        "size_of: Node {} B (inline, one per replica), Config {} B, Membership {} B, \
         Action {} B, Message {} B, Entry {} B",
        size_of::<Node>(),
        size_of::<Config>(),
        size_of::<Membership>(),
        size_of::<Action>(),
        size_of::<sansraft::Message>(),
        size_of::<sansraft::Entry>(),
    );
}
