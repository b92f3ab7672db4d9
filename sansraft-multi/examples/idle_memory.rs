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

use sansraft::{Action, Config, DurableState, Input, Membership, Node, Role};
use sansraft_multi::{Batch, GroupId, Host, HostAction, HostConfig, HostInput, HostStart};
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

/// Three hosts and the batches between them.
struct Sim {
    hosts: Vec<Host>,
    network: VecDeque<Batch>,
}

impl Sim {
    /// Feeds `input` to host `i` and every acknowledgement it leads to.
    fn input(&mut self, i: usize, input: HostInput) {
        let mut queue = VecDeque::from([input]);
        while let Some(input) = queue.pop_front() {
            let actions = self.hosts[i].step(input).expect("the host takes the input");
            for action in actions {
                match action {
                    HostAction::Persist(write) => {
                        queue.push_back(HostInput::Persisted(write.token))
                    }
                    HostAction::Send(batch) => self.network.push_back(batch),
                    HostAction::Group {
                        group,
                        action: Action::Apply(entries),
                    } => {
                        let last = entries.iter().last().map_or(0, |e| e.index);
                        queue.push_back(HostInput::Group {
                            group,
                            input: Input::Applied(last),
                        });
                    }
                    HostAction::Group { .. } | HostAction::UnknownGroup { .. } => {}
                }
            }
        }
    }

    /// Every host ticks, then every batch in flight is delivered.
    fn round(&mut self) {
        for i in 0..self.hosts.len() {
            self.input(i, HostInput::Tick);
        }
        while let Some(batch) = self.network.pop_front() {
            let to = batch.to as usize - 1;
            self.input(to, HostInput::Batch(batch));
        }
    }

    /// Every group led, its no-op applied everywhere, every replica quiet.
    fn settled(&self, groups: u64) -> bool {
        let leaders: usize = self
            .hosts
            .iter()
            .map(|h| h.groups().filter(|(_, n)| n.role() == Role::Leader).count())
            .sum();
        leaders as u64 == groups
            && self
                .hosts
                .iter()
                .all(|h| h.ticking_count() == 0 && h.groups().all(|(_, n)| n.status().applied >= 1))
    }
}

fn main() {
    let groups: GroupId = std::env::args()
        .nth(1)
        .map_or(10_000, |a| a.parse().expect("GROUPS is a number"));
    let base = live();
    let mut sim = Sim {
        hosts: (1..=3)
            .map(|id| Host::new(HostConfig::new(id), HostStart::default()).unwrap())
            .collect(),
        network: VecDeque::new(),
    };
    for g in 1..=groups {
        for id in 1..=3u64 {
            let mut config = Config::new(id, g ^ (id << 40));
            config.quiesce = true;
            let state = DurableState::bootstrap(Membership::with_voters([1, 2, 3]));
            sim.input(
                id as usize - 1,
                HostInput::CreateGroup {
                    group: g,
                    config: Box::new(config),
                    state,
                },
            );
        }
        // Spread the leaders: host g % 3 campaigns at once.
        sim.input(
            (g % 3) as usize,
            HostInput::Group {
                group: g,
                input: Input::Campaign {
                    skip_pre_vote: false,
                },
            },
        );
    }
    let created = live() - base;
    let mut rounds = 0;
    while !sim.settled(groups) {
        sim.round();
        rounds += 1;
        assert!(rounds < 500, "not settled after {rounds} rounds");
    }
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
