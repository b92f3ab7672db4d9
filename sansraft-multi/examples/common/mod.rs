//! Three hosts in one process for the examples: batches delivered whole and in order, writes
//! acknowledged at once and forgotten (the figures are the hosts', not a log store's), applied
//! entries reported at once.

use sansraft::{Action, Codec, Config, DurableState, Input, Membership, Role};
use sansraft_multi::{Batch, GroupId, Host, HostAction, HostConfig, HostInput, HostStart};
use std::collections::VecDeque;

/// Three hosts and the batches between them.
pub(crate) struct Sim {
    /// Hosts of nodes 1, 2, 3.
    pub(crate) hosts: Vec<Host>,
    /// Batches in flight.
    pub(crate) network: VecDeque<Batch>,
    /// Encoded bytes each host sent, by node index.
    pub(crate) wire_bytes: [u64; 3],
    /// Deliver every batch through its encoding (`Batch::encode`, `Batch::decode`), as a
    /// network would.
    pub(crate) encode: bool,
    /// Hosts that are down: they take no input, and batches to them are lost.
    pub(crate) down: [bool; 3],
    /// A batch takes one round (one tick) to arrive, instead of arriving within the round it
    /// was sent in.
    pub(crate) tick_latency: bool,
}

impl Sim {
    /// Three hosts with `groups` groups on all three, quiet when idle if `quiesce`; host
    /// `g % 3` campaigns in group `g` at once, to spread the leaders.
    pub(crate) fn new(groups: GroupId, quiesce: bool) -> Sim {
        let mut sim = Sim {
            hosts: (1..=3)
                .map(|id| Host::new(HostConfig::new(id), HostStart::default()).unwrap())
                .collect(),
            network: VecDeque::new(),
            wire_bytes: [0; 3],
            encode: false,
            down: [false; 3],
            tick_latency: false,
        };
        for g in 1..=groups {
            for id in 1..=3u64 {
                let mut config = Config::new(id, g ^ (id << 40));
                config.quiesce = quiesce;
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
        sim
    }

    /// Feeds `input` to host `i` and every acknowledgement it leads to.
    pub(crate) fn input(&mut self, i: usize, input: HostInput) {
        if self.down[i] {
            return;
        }
        let mut queue = VecDeque::from([input]);
        while let Some(input) = queue.pop_front() {
            let actions = self.hosts[i].step(input).expect("the host takes the input");
            for action in actions {
                match action {
                    HostAction::Persist(write) => {
                        queue.push_back(HostInput::Persisted(write.token));
                    }
                    HostAction::Send(batch) => {
                        self.wire_bytes[i] += batch.encoded_len() as u64;
                        self.network.push_back(batch);
                    }
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
    pub(crate) fn round(&mut self) {
        for i in 0..self.hosts.len() {
            self.input(i, HostInput::Tick);
        }
        let mut in_flight = if self.tick_latency {
            self.network.len()
        } else {
            usize::MAX
        };
        while let Some(batch) = self.network.pop_front() {
            if in_flight == 0 {
                self.network.push_front(batch);
                break;
            }
            in_flight -= 1;
            let to = batch.to as usize - 1;
            let batch = if self.encode {
                Batch::decode_shared(&bytes::Bytes::from(batch.encode())).expect("a batch decodes")
            } else {
                batch
            };
            self.input(to, HostInput::Batch(batch));
        }
    }

    /// Runs rounds until every group is led and its no-op applied everywhere (and, with
    /// quiescence, every replica is quiet); the rounds it took.
    pub(crate) fn settle(&mut self, groups: u64) -> u64 {
        let mut rounds = 0;
        while !self.settled(groups) {
            self.round();
            rounds += 1;
            assert!(rounds < 500, "not settled after {rounds} rounds");
        }
        rounds
    }

    fn settled(&self, groups: u64) -> bool {
        let leaders: usize = self
            .hosts
            .iter()
            .map(|h| h.groups().filter(|(_, n)| n.role() == Role::Leader).count())
            .sum();
        leaders as u64 == groups
            && self.hosts.iter().all(|h| {
                h.groups().all(|(_, n)| {
                    n.status().applied >= 1 && (!n.config().quiesce || !n.needs_ticks())
                })
            })
    }
}
