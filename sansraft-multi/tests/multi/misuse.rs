//! Bad input: refused with an error (the embedder's misuse) or dropped and counted (a peer's),
//! never a panic.

use crate::driver::{group_config, World};
use bytes::Bytes;
use sansraft::{Body, DurableState, Input, Io, Membership, Message, WriteToken};
use sansraft_multi::{
    Batch, Envelope, Host, HostConfig, HostConfigError, HostError, HostInput, HostStart, HostToken,
};

fn heartbeat(from: u64, to: u64) -> Message {
    Message {
        from,
        to,
        term: 1,
        body: Body::HeartbeatResponse(Default::default()),
    }
}

#[test]
fn the_embedders_mistakes_are_refused_and_change_nothing() {
    let mut world = World::new(3);
    world.create_group(1, &[1, 2, 3], &[1, 2, 3]);
    let group = |input| HostInput::Group { group: 1, input };
    for input in [
        Input::Tick,
        Input::Message(heartbeat(2, 1)),
        Input::Persisted(WriteToken {
            incarnation: 0,
            seq: 1,
        }),
    ] {
        assert_eq!(
            world.try_input(1, group(input)),
            Err(HostError::ReservedInput(1))
        );
    }
    let propose = |g| HostInput::Group {
        group: g,
        input: Input::Propose(Bytes::new()),
    };
    assert_eq!(
        world.try_input(1, propose(2)),
        Err(HostError::UnknownGroup(2))
    );
    let state = DurableState::bootstrap(Membership::with_voters([1, 2, 3]));
    let create = |g, config| HostInput::CreateGroup {
        group: g,
        config: Box::new(config),
        state: state.clone(),
    };
    assert_eq!(
        world.try_input(1, create(1, group_config(1, 1))),
        Err(HostError::GroupExists(1))
    );
    assert_eq!(
        world.try_input(1, create(2, group_config(2, 2))),
        Err(HostError::WrongNodeId { group: 2, id: 2 })
    );
    let mut sync = group_config(1, 2);
    sync.io = Io::Synchronous;
    assert_eq!(
        world.try_input(1, create(2, sync)),
        Err(HostError::SynchronousIo(2))
    );
    let mut bad = group_config(1, 2);
    bad.election_timeout_ticks = 0;
    assert!(matches!(
        world.try_input(1, create(2, bad)),
        Err(HostError::Start { group: 2, .. })
    ));
    let future = HostToken {
        incarnation: 0,
        seq: 99,
    };
    assert_eq!(
        world.try_input(1, HostInput::Persisted(future)),
        Err(HostError::UnknownToken(future))
    );
    let several = HostInput::Groups(vec![
        (1, Input::Propose(Bytes::new())),
        (1, Input::PeerUnreachable(2)),
    ]);
    assert_eq!(
        world.try_input(1, several),
        Err(HostError::ReservedInput(1))
    );
    world.input(1, HostInput::DeleteGroup(1));
    assert_eq!(
        world.try_input(1, propose(1)),
        Err(HostError::GroupDeleted(1))
    );
    assert_eq!(world.host(1).group_count(), 0);
    assert_eq!(
        world.host(1).counters().engine_steps,
        0,
        "nothing was taken"
    );
}

#[test]
fn a_peers_bad_batches_are_dropped_and_counted() {
    let mut world = World::new(3);
    world.create_group(1, &[1, 2, 3], &[1, 2, 3]);
    let envelope = |message| Envelope { group: 1, message };
    let batch = |from, to, envelopes| {
        HostInput::Batch(Batch {
            from,
            to,
            envelopes,
        })
    };
    world.input(1, batch(2, 3, vec![envelope(heartbeat(2, 3))]));
    world.input(1, batch(1, 1, vec![]));
    world.input(
        1,
        batch(
            2,
            1,
            vec![envelope(heartbeat(3, 1)), envelope(heartbeat(2, 3))],
        ),
    );
    world.input(
        1,
        batch(
            2,
            1,
            vec![Envelope {
                group: 5,
                message: heartbeat(2, 1),
            }],
        ),
    );
    let c = *world.host(1).counters();
    assert_eq!(c.misaddressed_batches, 2);
    assert_eq!(c.forged_envelopes, 2);
    assert_eq!(c.unknown_group_messages, 1);
    assert_eq!(c.engine_steps, 0);
    assert_eq!(world.unknown, [(1, 5, 2)]);
    // Stale acknowledgements: of another incarnation, or repeated.
    world.round();
    world.input(
        1,
        HostInput::Persisted(HostToken {
            incarnation: 7,
            seq: 1,
        }),
    );
    assert_eq!(world.host(1).counters().stale_acks, 1);
}

#[test]
fn bad_host_configurations_are_refused() {
    let mut config = HostConfig::new(1);
    config.heartbeat_interval_ticks = 0;
    assert_eq!(
        Host::new(config.clone(), HostStart::default()).err(),
        Some(HostError::Config(HostConfigError::HeartbeatIntervalZero))
    );
    config.heartbeat_interval_ticks = 4;
    config.unreachable_after_ticks = 4;
    assert_eq!(
        Host::new(config, HostStart::default()).err(),
        Some(HostError::Config(
            HostConfigError::UnreachableNotAboveHeartbeat
        ))
    );
}
