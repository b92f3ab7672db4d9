//! Random input from the embedder and from peers, mixed into a live three-host cluster: the
//! host refuses or drops what it must, never panics, keeps its invariants (checked after every
//! step by the driver), and the groups still elect and commit once the noise stops.

use crate::driver::{group_config, World};
use bytes::Bytes;
use sansraft::message::{AppendResponse, ReadIndexRequest, ReadIndexResponse, VoteRequest};
use sansraft::message::{HeartbeatResponse, VoteResponse};
use sansraft::{Body, ConfChange, DurableState, Input, Membership, Message, WriteToken};
use sansraft_multi::{Batch, Envelope, HostInput, HostToken};

/// xorshift64*: a deterministic stream for the test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A message body that cannot make a follower adopt entries or a commit index no leader
/// sent (the engine trusts members' appends and heartbeats: Raft is not Byzantine-tolerant).
fn body(rng: &mut Rng) -> Body {
    match rng.below(7) {
        0 => Body::Vote(VoteRequest {
            pre_vote: rng.below(2) == 0,
            last_index: rng.below(10),
            last_term: rng.below(4),
            transfer: rng.below(4) == 0,
            config_index: 0,
            config_term: 0,
        }),
        1 => Body::VoteResponse(VoteResponse {
            pre_vote: rng.below(2) == 0,
            granted: rng.below(2) == 0,
        }),
        2 => Body::AppendResponse(AppendResponse::Accepted {
            match_index: rng.below(1 << 40),
        }),
        3 => Body::HeartbeatResponse(HeartbeatResponse {
            round: rng.below(100),
            stamp: None,
            quiet: rng.below(2) == 0,
        }),
        4 => Body::ReadIndex(ReadIndexRequest { id: rng.next() }),
        5 => Body::ReadIndexResponse(ReadIndexResponse {
            id: rng.next(),
            index: Some(rng.below(50)),
        }),
        _ => Body::TimeoutNow,
    }
}

fn hostile_input(rng: &mut Rng) -> HostInput {
    let group = 1 + rng.below(8);
    match rng.below(6) {
        0 | 1 => {
            let from = 1 + rng.below(5);
            let to = if rng.below(8) == 0 { 2 } else { 1 };
            let envelopes = (0..rng.below(4))
                .map(|_| Envelope {
                    group: 1 + rng.below(8),
                    message: Message {
                        from: if rng.below(6) == 0 { 4 } else { from },
                        to: if rng.below(6) == 0 { 3 } else { 1 },
                        term: rng.below(5),
                        body: body(rng),
                    },
                })
                .collect();
            HostInput::Batch(Batch {
                from,
                to,
                envelopes,
            })
        }
        2 => HostInput::Group {
            group,
            input: match rng.below(9) {
                0 => Input::Propose(Bytes::from_static(b"noise")),
                1 => Input::ReadIndex(rng.next()),
                2 => Input::Tick,
                3 => Input::Campaign {
                    skip_pre_vote: rng.below(2) == 0,
                },
                4 => Input::TransferLeadership(1 + rng.below(4)),
                5 => Input::Applied(rng.below(30)),
                6 => Input::PeerUnreachable(2),
                7 => Input::ChangeMembership(ConfChange::add_learner(4)),
                _ => Input::Persisted(WriteToken {
                    incarnation: 0,
                    seq: rng.below(5),
                }),
            },
        },
        3 => HostInput::Persisted(HostToken {
            incarnation: rng.below(2),
            seq: rng.below(1000),
        }),
        4 => HostInput::CreateGroup {
            group: 5 + rng.below(4),
            config: Box::new(group_config(1 + rng.below(2), group)),
            state: DurableState::bootstrap(Membership::with_voters([1, 2, 3])),
        },
        _ => HostInput::DeleteGroup(6 + rng.below(3)),
    }
}

#[test]
fn random_input_is_refused_or_dropped_and_the_groups_live_on() {
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    let mut world = World::new(3);
    for g in 1..=4 {
        world.create_group(g, &[1, 2, 3], &[1, 2, 3]);
    }
    let mut refused = 0;
    for _ in 0..200 {
        for _ in 0..10 {
            if world.try_input(1, hostile_input(&mut rng)).is_err() {
                refused += 1;
            }
        }
        world.round();
    }
    let c = *world.host(1).counters();
    assert!(refused > 100, "{refused}");
    assert!(
        c.misaddressed_batches > 10 && c.forged_envelopes > 10,
        "{c:?}"
    );
    assert!(
        c.unknown_group_messages + c.tombstoned_messages > 10,
        "{c:?}"
    );
    // The noise stops: groups 1 to 4 (never deleted) elect and commit.
    world.run_until(300, |w| w.all_led_and_applied(1..=4));
    for g in 1..=4 {
        world.propose(g, b"after the noise");
    }
    world.run_until(100, |w| {
        (1..=4).all(|g| {
            (1..=3)
                .all(|id| w.applied_data(id, g).last().map(|d| &d[..]) == Some(b"after the noise"))
        })
    });
}

#[test]
fn over_a_lossy_network_every_replica_applies_the_same_commands() {
    let mut world = World::new(3);
    world.lossy = Some(0x1234_5678_9abc_def1);
    for g in 1..=20 {
        world.create_group(g, &[1, 2, 3], &[1, 2, 3]);
    }
    world.run_until(300, |w| w.all_led_and_applied(1..=20));
    const DATA: [&[u8]; 3] = [b"one", b"two", b"three"];
    for data in DATA {
        for g in 1..=20 {
            if world.leader(g).is_some() {
                world.propose(g, data);
            }
        }
        for _ in 0..5 {
            world.round();
        }
    }
    world.lossy = None;
    world.run_until(300, |w| {
        (1..=20).all(|g| {
            let reference = w.applied_data(1, g);
            !reference.is_empty() && (2..=3).all(|id| w.applied_data(id, g) == reference)
        })
    });
    // Lost proposals are the client's to retry; none is applied twice or out of order.
    for g in 1..=20 {
        let applied = world.applied_data(1, g);
        let positions: Vec<usize> = applied
            .iter()
            .map(|d| DATA.iter().position(|x| *x == &d[..]).unwrap())
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "group {g}: {positions:?}"
        );
    }
}
