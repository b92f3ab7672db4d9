//! Groups come and go: deletion with tombstones, unknown groups, restart from disk.

use crate::cluster::led_world;
use crate::driver::World;
use sansraft_multi::{HostError, HostInput};

#[test]
fn a_deleted_group_is_never_resurrected() {
    let mut world = led_world();
    let g = (1..=50).find(|&g| world.leader(g) != Some(3)).unwrap();
    world.input(3, HostInput::DeleteGroup(g));
    assert!(world.disks[2]
        .pending
        .back()
        .unwrap()
        .tombstones
        .contains(&g));
    // The other members keep talking to host 3 about the group: a proposal wakes it, and it
    // cannot go quiet while host 3 lacks the entry.
    world.propose(g, b"after the delete");
    world.run_until(30, |w| w.host(3).counters().tombstoned_messages > 5);
    assert!(world.host(3).group(g).is_none());
    assert!(world.host(3).is_tombstoned(g));
    assert!(world.disks[2].tombstones.contains(&g), "durable");
    assert!(!world.unknown.iter().any(|&(_, x, _)| x == g));
    let config = crate::driver::group_config(3, g);
    let create = || HostInput::CreateGroup {
        group: g,
        config: Box::new(config.clone()),
        state: sansraft::DurableState::default(),
    };
    assert_eq!(
        world.try_input(3, create()),
        Err(HostError::GroupDeleted(g))
    );
    world.input(3, HostInput::DeleteGroup(g));
    assert!(
        world.disks[2].pending.is_empty(),
        "a second delete writes nothing"
    );
    // The tombstone survives a restart.
    world.kill(3);
    world.restart(3);
    assert!(world.host(3).is_tombstoned(g));
    assert_eq!(
        world.try_input(3, create()),
        Err(HostError::GroupDeleted(g))
    );
    world.propose(g, b"after the restart");
    world.run_until(30, |w| w.host(3).counters().tombstoned_messages > 5);
    assert!(world.host(3).group(g).is_none());
}

#[test]
fn messages_for_an_unknown_group_are_reported_once_per_sender_until_it_is_created() {
    let mut world = World::new(3);
    world.create_group(9, &[1, 2, 3], &[1, 2]);
    world.run_until(100, |w| w.all_led_and_applied([9]));
    world.run_until(20, |w| w.host(3).counters().unknown_group_messages > 10);
    let mut reports = world.unknown.clone();
    reports.sort_unstable();
    reports.dedup();
    assert_eq!(reports.len(), world.unknown.len(), "each pair once");
    assert!(reports.iter().all(|&(at, g, _)| at == 3 && g == 9));
    assert!(!reports.is_empty());
    let counters = world.host(3).counters();
    assert_eq!(counters.unknown_group_reports, reports.len() as u64);
    world.create_group(9, &[1, 2, 3], &[3]);
    world.propose(9, b"after");
    world.run_until(50, |w| w.applied_data(3, 9).len() == 1);
    world.unknown.clear();
    for _ in 0..10 {
        world.round();
    }
    assert!(world.unknown.is_empty(), "created: no more reports");
}

#[test]
fn a_host_restarts_from_its_persisted_state() {
    let mut world = led_world();
    for g in 1..=50 {
        world.propose(g, b"before");
    }
    world.run_until(30, |w| (1..=50).all(|g| w.applied_data(3, g).len() == 1));
    world.kill(3);
    world.run_until(100, |w| w.all_led_and_applied(1..=50));
    for g in 1..=50 {
        world.propose(g, b"while down");
    }
    world.run_until(30, |w| (1..=50).all(|g| w.applied_data(1, g).len() == 2));
    world.restart(3);
    assert_eq!(world.host(3).incarnation(), 1);
    assert_eq!(world.host(3).group_count(), 50);
    world.run_until(100, |w| (1..=50).all(|g| w.applied_data(3, g).len() == 2));
    for g in 1..=50 {
        assert_eq!(world.applied_data(3, g), world.applied_data(1, g));
    }
}

#[test]
fn a_replica_is_added_on_its_unknown_group_report_and_peers_follow_the_membership() {
    use sansraft::{Action, ConfChange, Input, ProgressState};
    use sansraft_multi::HostAction;
    let mut world = World::new(4);
    world.create_group(1, &[1, 2, 3], &[1, 2, 3]);
    world.run_until(100, |w| w.all_led_and_applied([1]));
    let leader = world.leader(1).unwrap();
    let change = |world: &mut World, change| {
        world.input(
            leader,
            HostInput::Group {
                group: 1,
                input: Input::ChangeMembership(change),
            },
        );
        world.last_step.iter().any(|a| {
            matches!(
                a,
                HostAction::Group {
                    action: Action::MembershipProposed(Ok(_)),
                    ..
                }
            )
        })
    };
    assert!(!world.host(leader).peers().any(|p| p == 4));
    assert!(change(&mut world, ConfChange::add_learner(4)));
    world.run_until(30, |w| w.unknown.contains(&(4, 1, leader)));
    assert!(
        world.host(leader).peers().any(|p| p == 4),
        "watched once a member"
    );
    // The embedder creates the replica it was told of, empty (it learns the membership from
    // the log); the leader's retries then bring it up to date.
    world.create_group(1, &[], &[4]);
    world.propose(1, b"learned");
    world.run_until(50, |w| w.applied_data(4, 1).len() == 1);
    // Promoted once the leader sees it replicating (an embedder retries the same way).
    world.run_until(20, |w| {
        w.host(leader).group(1).unwrap().progress_state(4) == Some(ProgressState::Replicate)
    });
    assert!(change(&mut world, ConfChange::promote(4)));
    let voters = |w: &World| w.host(leader).group(1).unwrap().membership().voters.clone();
    let committed = |w: &World| {
        let node = w.host(leader).group(1).unwrap();
        node.membership_index() <= node.status().commit
    };
    world.run_until(50, |w| voters(w).contains(&4) && committed(w));
    let removed = (1..=3).find(|&id| id != leader).unwrap();
    assert!(change(&mut world, ConfChange::remove(removed)));
    // Through the joint configuration (left by itself, `auto_leave_joint`) to the new one.
    world.run_until(50, |w| {
        let membership = w.host(leader).group(1).unwrap().membership();
        !membership.contains(removed) && membership.outgoing.is_empty() && committed(w)
    });
    assert!(
        !world.host(leader).peers().any(|p| p == removed),
        "a node in no hosted group is no longer a peer"
    );
    // The removed node's replica can go now.
    world.input(removed, HostInput::DeleteGroup(1));
    world.propose(1, b"without it");
    world.run_until(50, |w| w.applied_data(4, 1).len() == 2);
}

#[test]
fn a_lagging_replica_installs_a_snapshot_through_the_host() {
    let mut world = World::new(3);
    world.configure = |config| {
        config.compaction_keep_entries = 0;
        config.snapshot_chunk_bytes = 4;
    };
    for g in 1..=3 {
        world.create_group(g, &[1, 2, 3], &[1, 2, 3]);
    }
    world.run_until(100, |w| w.all_led_and_applied(1..=3));
    // A follower of group 2 is cut off while the group moves on and compacts its log.
    let leader = world.leader(2).unwrap();
    let lagging = (1..=3).find(|&id| id != leader).unwrap();
    world.cut.insert(lagging);
    for data in [&b"a"[..], b"b", b"c"] {
        let data: &'static [u8] = data;
        world.propose(2, data);
    }
    let other = 6 - leader - lagging;
    world.run_until(50, |w| w.applied_data(other, 2).len() == 3);
    let index = world.take_snapshot(leader, 2);
    assert_eq!(
        world.host(leader).group(2).unwrap().first_index(),
        index + 1,
        "compacted"
    );
    world.cut.clear();
    world.run_until(100, |w| {
        w.host(lagging).group(2).unwrap().snapshot().index == index
    });
    assert_eq!(world.installs, 1);
    world.propose(2, b"after");
    world.run_until(50, |w| {
        w.applied_data(lagging, 2).last().map(|d| &d[..]) == Some(&b"after"[..])
    });
    assert_eq!(world.last_applied[&(lagging, 2)], index + 1);
}

#[test]
fn messages_after_an_install_in_the_same_batch_are_dropped() {
    use sansraft::message::{Heartbeat, SnapshotChunk};
    use sansraft::{Body, Membership, Message};
    use sansraft_multi::{Batch, Envelope};
    let mut world = World::new(2);
    world.create_group(1, &[1, 2], &[2]);
    let message = |body| Envelope {
        group: 1,
        message: Message {
            from: 1,
            to: 2,
            term: 1,
            body,
        },
    };
    let data = bytes::Bytes::from_static(b"state");
    let chunk = Body::SnapshotChunk(Box::new(SnapshotChunk {
        index: 5,
        term: 1,
        offset: 0,
        crc32c: crc32c::crc32c(&data),
        data,
        done: true,
        membership: Some(Membership::with_voters([1, 2])),
    }));
    let heartbeat = Body::Heartbeat(Heartbeat {
        commit: 5,
        round: 1,
        proof: None,
        quiesce: false,
    });
    world.input(
        2,
        HostInput::Batch(Batch {
            from: 1,
            to: 2,
            envelopes: vec![message(chunk), message(heartbeat)],
        }),
    );
    assert_eq!(world.installs, 1, "the single-chunk snapshot is installed");
    assert_eq!(world.host(2).counters().dropped_after_install, 1);
    world.persist();
    assert_eq!(world.host(2).group(1).unwrap().snapshot().index, 5);
}
