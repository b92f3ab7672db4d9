//! One failure detector per peer node: a host that stops talking is declared unreachable to
//! every group, and the groups it led elect new leaders.

use crate::cluster::led_world;
use sansraft_multi::GroupId;

#[test]
fn a_killed_host_is_declared_unreachable_and_its_groups_reelect() {
    let mut world = led_world();
    let led_by_3: Vec<GroupId> = (1..=50).filter(|&g| world.leader(g) == Some(3)).collect();
    assert!(!led_by_3.is_empty());
    world.kill(3);
    let after = u64::from(world.host(1).config().unreachable_after_ticks);
    let killed_at = world.host(1).now();
    world.run_until(after as usize + 2, |w| {
        w.host(1).is_unreachable(3) && w.host(2).is_unreachable(3)
    });
    assert!(world.host(1).now() - killed_at <= after + 1);
    world.run_until(100, |w| {
        led_by_3.iter().all(|&g| matches!(w.leader(g), Some(1 | 2)))
    });
    for &g in &led_by_3 {
        world.propose(g, b"after");
    }
    world.run_until(50, |w| {
        led_by_3.iter().all(|&g| w.applied_data(1, g).len() == 1)
    });
    for _ in 0..30 {
        world.round();
    }
    for id in [1, 2] {
        let c = world.host(id).counters();
        assert_eq!(c.peers_unreachable, 1, "once per silence");
        assert_eq!(
            c.unreachable_inputs, 50,
            "to every group of the silent node"
        );
        assert!(
            !world.host(id).is_unreachable(3 - id),
            "the survivors hear each other"
        );
    }
}

#[test]
fn a_host_restarted_before_the_detector_fires_gets_its_groups_led_again() {
    let mut world = led_world();
    world.run_until(30, |w| (1..=3).all(|id| w.host(id).ticking_count() == 0));
    let led_by_3: Vec<GroupId> = (1..=50).filter(|&g| world.leader(g) == Some(3)).collect();
    world.kill(3);
    world.restart(3);
    world.run_until(200, |w| (1..=50).all(|g| w.leader(g).is_some()));
    for g in 1..=50 {
        world.propose(g, b"after a quick restart");
    }
    world.run_until(100, |w| {
        (1..=50).all(|g| (1..=3).all(|id| w.applied_data(id, g).len() == 1))
    });
    assert!(!led_by_3.is_empty());
    assert_eq!(
        world.host(1).counters().peers_unreachable,
        0,
        "never silent long enough"
    );
}
