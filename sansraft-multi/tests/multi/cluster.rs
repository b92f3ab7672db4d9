//! Many groups on three hosts: elections, commits, write batching, periodic batches.

use crate::driver::World;
use sansraft_multi::GroupId;

const GROUPS: GroupId = 50;

/// Three hosts with `GROUPS` groups, each on all three, every group led and its no-op
/// applied everywhere.
pub(crate) fn led_world() -> World {
    let mut world = World::new(3);
    for g in 1..=GROUPS {
        world.create_group(g, &[1, 2, 3], &[1, 2, 3]);
    }
    let rounds = world.run_until(200, |w| w.all_led_and_applied(1..=GROUPS));
    assert!(rounds > 0);
    world
}

#[test]
fn every_group_elects_a_leader_and_commits_proposals() {
    let mut world = led_world();
    for g in 1..=GROUPS {
        world.propose(g, b"x");
        world.propose(g, b"y");
    }
    world.run_until(50, |w| {
        (1..=GROUPS).all(|g| (1..=3).all(|id| w.applied_data(id, g).len() == 2))
    });
    for g in 1..=GROUPS {
        for id in 1..=3 {
            assert_eq!(world.applied_data(id, g), [&b"x"[..], &b"y"[..]]);
        }
    }
}

#[test]
fn the_writes_of_many_groups_share_one_host_write() {
    let mut world = led_world();
    // Host 3 is cut off while the groups led elsewhere take a proposal, then catches up: the
    // leaders answer each batch of its heartbeat answers with the appends of every group in
    // one batch, which host 3 writes with one fsync.
    let led_elsewhere: Vec<GroupId> = (1..=GROUPS)
        .filter(|&g| world.leader(g) != Some(3))
        .collect();
    let n = led_elsewhere.len();
    assert!(n >= GROUPS as usize / 3, "{n}");
    world.cut.insert(3);
    for &g in &led_elsewhere {
        world.propose(g, b"w");
    }
    let done = |id| {
        let groups = led_elsewhere.clone();
        move |w: &World| groups.iter().all(|&g| w.applied_data(id, g).len() == 1)
    };
    world.run_until(50, done(1));
    let before = *world.host(3).counters();
    world.max_groups_per_write = 0;
    world.cut.clear();
    world.run_until(50, done(3));
    let after = world.host(3).counters();
    let host_writes = after.host_writes - before.host_writes;
    let group_writes = after.group_writes - before.group_writes;
    assert!(group_writes >= n as u64, "{group_writes}");
    assert!(
        host_writes <= 6,
        "{host_writes} host writes for {group_writes} group writes"
    );
    assert!(world.max_groups_per_write >= n / 2);
}

/// Periodic batches host 1 sends over `ticks` host ticks once `groups` groups are led.
fn periodic_batches(groups: GroupId, ticks: u64) -> (u64, u64) {
    let mut world = World::new(3);
    for g in 1..=groups {
        world.create_group(g, &[1, 2, 3], &[1, 2, 3]);
    }
    world.run_until(200, |w| w.all_led_and_applied(1..=groups));
    // Align on a flush boundary.
    while world.host(1).now() % 2 != 0 {
        world.round();
    }
    let before = *world.host(1).counters();
    for _ in 0..ticks {
        world.round();
    }
    let after = world.host(1).counters();
    (
        after.periodic_batches - before.periodic_batches,
        after.batches_sent - before.batches_sent,
    )
}

#[test]
fn one_periodic_batch_per_peer_per_interval_whatever_the_group_count() {
    let ticks = 40;
    for groups in [1, 10, GROUPS] {
        let (periodic, sent) = periodic_batches(groups, ticks);
        // Heartbeat interval 2, two peers.
        assert_eq!(periodic, ticks / 2 * 2, "{groups} groups");
        // Idle: besides the periodic batch, at most one batch of answers per peer per
        // interval.
        assert!(sent <= ticks / 2 * 4, "{groups} groups: {sent} batches");
    }
}

#[test]
fn the_same_inputs_give_the_same_actions() {
    let a = led_world();
    let b = led_world();
    assert_eq!(a.trace, b.trace);
    assert!(a.trace.len() > 1000);
}
