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

#[test]
fn proposals_to_many_groups_in_one_input_cost_one_write_and_one_batch_per_peer() {
    let mut world = led_world();
    let before: Vec<_> = (1..=3).map(|id| *world.host(id).counters()).collect();
    let mut proposed = 0;
    for id in 1..=3 {
        let proposals: Vec<_> = world
            .host(id)
            .groups()
            .filter(|(_, n)| n.role() == sansraft::Role::Leader)
            .map(|(g, _)| (g, sansraft::Input::Propose(bytes::Bytes::from_static(b"g"))))
            .collect();
        proposed += proposals.len();
        world.input(id, sansraft_multi::HostInput::Groups(proposals));
        let writes = world
            .last_step
            .iter()
            .filter(|a| matches!(a, sansraft_multi::HostAction::Persist(_)))
            .count();
        let batches = world
            .last_step
            .iter()
            .filter(|a| matches!(a, sansraft_multi::HostAction::Send(_)))
            .count();
        assert_eq!((writes, batches), (1, 2), "node {id}");
    }
    assert_eq!(proposed, GROUPS as usize);
    world.run_until(20, |w| {
        (1..=GROUPS).all(|g| (1..=3).all(|id| w.applied_data(id, g).len() == 1))
    });
    let (mut group_writes, mut host_writes) = (0, 0);
    for id in 1..=3u64 {
        let c = world.host(id).counters();
        group_writes += c.group_writes - before[id as usize - 1].group_writes;
        host_writes += c.host_writes - before[id as usize - 1].host_writes;
    }
    assert_eq!(group_writes, 3 * GROUPS);
    assert!(host_writes <= 9, "{host_writes} host writes");
}

#[test]
fn several_inputs_in_one_step_cost_one_write_and_one_batch_per_peer() {
    use sansraft_multi::{HostAction, HostError, HostInput};
    let mut world = led_world();
    let led: Vec<GroupId> = world
        .host(1)
        .groups()
        .filter(|(_, n)| n.role() == sansraft::Role::Leader)
        .map(|(g, _)| g)
        .collect();
    assert!(led.len() >= 2, "{led:?}");
    let propose = |g: GroupId| HostInput::Group {
        group: g,
        input: sansraft::Input::Propose(bytes::Bytes::from_static(b"s")),
    };
    // Each proposal alone would be a host write and a batch per peer; together they are one.
    world
        .try_inputs(1, led.iter().map(|&g| propose(g)).collect())
        .expect("taken");
    let count = |world: &World, persist: bool| {
        world
            .last_step
            .iter()
            .filter(|a| match a {
                HostAction::Persist(_) => persist,
                HostAction::Send(_) => !persist,
                _ => false,
            })
            .count()
    };
    assert_eq!((count(&world, true), count(&world, false)), (1, 2));
    // A refused input stops the step there: what came before it is taken, what comes after
    // is not.
    let (first, last) = (led[0], led[1]);
    let refused = world.try_inputs(1, vec![propose(first), propose(GROUPS + 1), propose(last)]);
    assert_eq!(refused, Err(HostError::UnknownGroup(GROUPS + 1)));
    assert_eq!(count(&world, true), 1);
    world.run_until(20, |w| {
        (1..=3)
            .all(|id| w.applied_data(id, first).len() == 2 && w.applied_data(id, last).len() == 1)
    });
    for id in 1..=3 {
        assert_eq!(world.applied_data(id, first), [&b"s"[..], &b"s"[..]]);
        assert_eq!(world.applied_data(id, last), [&b"s"[..]]);
    }
}

/// Three hosts with `groups` groups led and applied, at a flush boundary.
fn settled(groups: GroupId, quiesce: bool) -> World {
    let mut world = World::new(3);
    world.quiesce = quiesce;
    for g in 1..=groups {
        world.create_group(g, &[1, 2, 3], &[1, 2, 3]);
    }
    world.run_until(200, |w| w.all_led_and_applied(1..=groups));
    while world.host(1).now() % 2 != 0 {
        world.round();
    }
    world
}

/// Counter deltas at host 1 over `ticks` rounds.
fn over(world: &mut World, ticks: u64) -> sansraft_multi::HostCounters {
    let before = *world.host(1).counters();
    for _ in 0..ticks {
        world.round();
    }
    let after = *world.host(1).counters();
    let mut delta = after;
    delta.periodic_batches -= before.periodic_batches;
    delta.batches_sent -= before.batches_sent;
    delta.envelopes_sent -= before.envelopes_sent;
    delta.engine_steps -= before.engine_steps;
    delta.group_ticks -= before.group_ticks;
    delta
}

#[test]
fn one_periodic_batch_per_peer_per_interval_whatever_the_group_count() {
    let ticks = 40;
    for groups in [1, 10, GROUPS] {
        // Groups that never go quiet: every leader heartbeats every interval.
        let mut world = settled(groups, false);
        let d = over(&mut world, ticks);
        // Heartbeat interval 2, two peers.
        assert_eq!(d.periodic_batches, ticks / 2 * 2, "{groups} groups");
        // Besides the periodic batch, at most one batch of answers per peer per interval.
        assert!(
            d.batches_sent <= ticks / 2 * 4,
            "{groups} groups: {} batches",
            d.batches_sent
        );
        assert!(
            d.envelopes_sent >= groups * 2 / 3,
            "the heartbeats ride in them"
        );
    }
}

#[test]
fn quiet_groups_cost_no_engine_step_and_peers_still_hear_from_us() {
    let mut world = settled(GROUPS, true);
    world.run_until(30, |w| (1..=3).all(|id| w.host(id).ticking_count() == 0));
    let d = over(&mut world, 40);
    assert_eq!(d.engine_steps, 0);
    assert_eq!(d.group_ticks, 0);
    assert_eq!(d.periodic_batches, 40);
    assert_eq!(d.batches_sent, 40, "only the periodic batches");
    assert_eq!(d.envelopes_sent, 0, "empty: node-level liveness only");
    assert!((1..=3).all(|id| !world.host(1).is_unreachable(id)));
    // A proposal wakes its group only: it commits, then the group goes quiet again.
    world.propose(5, b"p");
    assert!(world.host(world.leader(5).unwrap()).ticking_count() >= 1);
    world.run_until(30, |w| (1..=3).all(|id| w.applied_data(id, 5).len() == 1));
    world.run_until(30, |w| (1..=3).all(|id| w.host(id).ticking_count() == 0));
}

#[test]
fn a_heartbeat_for_a_read_goes_out_at_once() {
    let mut world = settled(GROUPS, true);
    world.run_until(30, |w| (1..=3).all(|id| w.host(id).ticking_count() == 0));
    let leader = world.leader(9).unwrap();
    world.input(
        leader,
        sansraft_multi::HostInput::Group {
            group: 9,
            input: sansraft::Input::ReadIndex(77),
        },
    );
    let heartbeats_to: Vec<u64> = world
        .last_step
        .iter()
        .filter_map(|a| match a {
            sansraft_multi::HostAction::Send(b) => Some(b),
            _ => None,
        })
        .filter(|b| {
            b.envelopes
                .iter()
                .any(|e| e.group == 9 && matches!(e.message.body, sansraft::Body::Heartbeat(_)))
        })
        .map(|b| b.to)
        .collect();
    assert_eq!(heartbeats_to.len(), 2, "{:?}", world.last_step);
    world.deliver();
    world.deliver();
    assert_eq!(world.reads, [(leader, 9, 77)], "served without a tick");
}

#[test]
fn the_same_inputs_give_the_same_actions() {
    let a = led_world();
    let b = led_world();
    assert_eq!(a.trace, b.trace);
    assert!(a.trace.len() > 1000);
}
