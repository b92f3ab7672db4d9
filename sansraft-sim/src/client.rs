//! Clients: each has one operation outstanding at a time, on a key that hashes to a group; it
//! sends it to the node it believes leads that group, follows redirects, retries on timeout with
//! the same request id (so the service applies it at most once), and records every operation in
//! one history for the linearizability check (key by key).
//!
//! The single-group world's clients use one group and draw every key alike. The multi-group
//! world's send most operations to a few hot keys (so a few groups are busy) and the rest to
//! cold keys, from a space as large as a few keys per group, so that many groups wake up now
//! and then and most stay quiet at any time.

use crate::kv::Command;
use crate::linearizability::{Key, KvOp, KvOutput, Operation};
use crate::rng::{mix, SimRng};
use crate::scenario::ClientParams;
use crate::Micros;
use bytes::Bytes;
use sansraft::{NodeId, ProposeError, ReadError};
use sansraft_multi::GroupId;
use std::collections::BTreeMap;

/// A node's answer to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// Applied (or found already applied): the outcome.
    Done(KvOutput),
    /// The node does not lead; it names the leader it knows of.
    NotLeader(Option<NodeId>),
    /// The leader refused for back-pressure.
    Busy,
    /// The entry proposed for the request was overwritten by another leader's entry.
    Overwritten,
}

impl Reply {
    /// The answer to a proposal the node refused.
    pub(crate) fn refused(error: ProposeError) -> Reply {
        match error {
            ProposeError::NotLeader { leader } => Reply::NotLeader(leader),
            // Back-pressure, a transfer, or a refusal added later: retry shortly.
            _ => Reply::Busy,
        }
    }

    /// The answer to a read that failed.
    pub(crate) fn read_failed(error: ReadError) -> Reply {
        match error {
            ReadError::NotLeader { leader } => Reply::NotLeader(leader),
            ReadError::TooManyPending { .. } => Reply::Busy,
            // Anything else: retry, wherever the leader is now.
            _ => Reply::NotLeader(None),
        }
    }
}

/// One transmission of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Attempt {
    pub(crate) client: usize,
    /// Index of the node addressed (id − 1).
    pub(crate) node: usize,
    pub(crate) group: GroupId,
    pub(crate) seq: u64,
    pub(crate) attempt: u32,
    pub(crate) command: Bytes,
}

/// What a client does after an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ClientStep {
    /// Not about the current request: nothing.
    Ignore,
    /// The operation completed; the next one starts at `next_at`.
    Completed { next_at: Micros },
    /// Send this attempt at `at`.
    Retry { attempt: Attempt, at: Micros },
}

/// How clients behave.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClientShape {
    pub(crate) count: usize,
    /// Keys `0..hot_keys` draw four operations in five, or all of them without cold keys.
    pub(crate) hot_keys: u64,
    /// Keys `hot_keys..hot_keys + cold_keys` draw the rest.
    pub(crate) cold_keys: u64,
    /// Keys hash to groups `1..=groups`.
    pub(crate) groups: u64,
    pub(crate) max_think_us: Micros,
    pub(crate) timeout_us: Micros,
    pub(crate) backoff_us: Micros,
    /// Clients start no new operation from then on.
    pub(crate) stop_issuing_at: Micros,
}

impl ClientShape {
    /// The scenario's clients, of one group, every key hot.
    pub(crate) fn new(params: &ClientParams, stop_issuing_at: Micros) -> Self {
        ClientShape {
            count: params.count,
            hot_keys: params.keys,
            cold_keys: 0,
            groups: 1,
            max_think_us: params.max_think_us,
            timeout_us: params.timeout_us,
            backoff_us: params.backoff_us,
            stop_issuing_at,
        }
    }

    fn draw_key(&self, rng: &mut SimRng) -> Key {
        if self.cold_keys == 0 || rng.below(10) < 8 {
            rng.below(self.hot_keys)
        } else {
            self.hot_keys + rng.below(self.cold_keys)
        }
    }
}

/// The group a key belongs to: ids `1..=groups`.
pub(crate) fn group_of(key: Key, groups: u64) -> GroupId {
    mix(key ^ 0x6b65_795f_6772_6f75) % groups + 1
}

#[derive(Clone, Debug)]
struct InFlight {
    seq: u64,
    group: GroupId,
    command: Bytes,
    history_index: usize,
    attempt: u32,
}

#[derive(Clone, Debug, Default)]
struct Client {
    next_seq: u64,
    current: Option<InFlight>,
    /// The node it believes leads each group (index).
    leaders: BTreeMap<GroupId, usize>,
    /// The last value it saw per key, to make compare-and-swap succeed sometimes.
    last_seen: BTreeMap<Key, u64>,
}

/// Every client, and the history of their operations.
#[derive(Clone, Debug)]
pub(crate) struct Clients {
    clients: Vec<Client>,
    history: Vec<Operation>,
    shape: ClientShape,
    nodes: usize,
}

impl Clients {
    /// Clients of one group guess its leader at once; clients of many guess a group's leader at
    /// their first operation on it.
    pub(crate) fn new(shape: ClientShape, nodes: usize, rng: &mut SimRng) -> Self {
        let clients = (0..shape.count)
            .map(|_| Client {
                next_seq: 1,
                leaders: (shape.groups == 1)
                    .then(|| (1, rng.index(nodes)))
                    .into_iter()
                    .collect(),
                ..Client::default()
            })
            .collect();
        Clients {
            clients,
            history: Vec::new(),
            shape,
            nodes,
        }
    }

    pub(crate) fn count(&self) -> usize {
        self.clients.len()
    }

    pub(crate) fn history(&self) -> &[Operation] {
        &self.history
    }

    /// A think time before the next operation.
    pub(crate) fn think(&self, rng: &mut SimRng) -> Micros {
        rng.between(0, self.shape.max_think_us)
    }

    /// The request timeout.
    pub(crate) fn timeout_us(&self) -> Micros {
        self.shape.timeout_us
    }

    /// Starts client `c`'s next operation, unless the run is about to end.
    pub(crate) fn issue(&mut self, c: usize, now: Micros, rng: &mut SimRng) -> Option<Attempt> {
        if now >= self.shape.stop_issuing_at || self.clients[c].current.is_some() {
            return None;
        }
        let key = self.shape.draw_key(rng);
        let group = group_of(key, self.shape.groups);
        let nodes = self.nodes;
        let client = &mut self.clients[c];
        let seq = client.next_seq;
        client.next_seq += 1;
        let unique = ((c as u64 + 1) << 32) | seq;
        let op = match rng.below(10) {
            0..=3 => KvOp::Put { key, value: unique },
            4..=6 => KvOp::Get { key },
            _ => KvOp::Cas {
                key,
                expected: if rng.below(4) == 0 {
                    None
                } else {
                    client.last_seen.get(&key).copied()
                },
                new: unique,
            },
        };
        let command = Command {
            client: c as u64,
            seq,
            op,
        }
        .encode();
        self.history.push(Operation {
            client: c as u64,
            op,
            invoked_at: now,
            completed: None,
        });
        client.current = Some(InFlight {
            seq,
            group,
            command: command.clone(),
            history_index: self.history.len() - 1,
            attempt: 0,
        });
        let node = *client
            .leaders
            .entry(group)
            .or_insert_with(|| rng.index(nodes));
        Some(Attempt {
            client: c,
            node,
            group,
            seq,
            attempt: 0,
            command,
        })
    }

    /// A node answered request `seq` of client `c`.
    pub(crate) fn on_reply(
        &mut self,
        c: usize,
        seq: u64,
        reply: Reply,
        now: Micros,
        rng: &mut SimRng,
    ) -> ClientStep {
        let think = self.think(rng);
        let backoff = self.shape.backoff_us;
        let nodes = self.nodes;
        let client = &mut self.clients[c];
        let Some(group) = (client.current.as_ref())
            .filter(|f| f.seq == seq)
            .map(|f| f.group)
        else {
            return ClientStep::Ignore;
        };
        let delay = match reply {
            Reply::Done(output) => {
                let flight = client.current.take().expect("checked above");
                let op = &mut self.history[flight.history_index];
                op.completed = Some((now, output));
                remember(client, op.op, output);
                return ClientStep::Completed {
                    next_at: now + think,
                };
            }
            Reply::NotLeader(Some(leader)) if (leader as usize) <= nodes && leader > 0 => {
                client.leaders.insert(group, leader as usize - 1);
                backoff / 20
            }
            Reply::NotLeader(_) => {
                // A random node rather than the next one: a removed node may still name the
                // leader it last followed, and a fixed rotation could cycle among such nodes.
                client.leaders.insert(group, rng.index(nodes));
                backoff
            }
            Reply::Busy | Reply::Overwritten => backoff,
        };
        ClientStep::Retry {
            attempt: next_attempt(c, client),
            at: now + delay,
        }
    }

    /// Attempt `attempt` of request `seq` of client `c` timed out: try the next node.
    pub(crate) fn on_timeout(&mut self, c: usize, seq: u64, attempt: u32) -> Option<Attempt> {
        let nodes = self.nodes;
        let client = &mut self.clients[c];
        let flight = client.current.as_ref()?;
        if flight.seq != seq || flight.attempt != attempt {
            return None;
        }
        let target = client.leaders.entry(flight.group).or_insert(0);
        *target = (*target + 1) % nodes;
        Some(next_attempt(c, client))
    }

    /// The groups clients used, in id order.
    pub(crate) fn groups_used(&self) -> Vec<GroupId> {
        let mut groups: Vec<GroupId> = (self.history.iter())
            .map(|op| group_of(op.op.key(), self.shape.groups))
            .collect();
        groups.sort_unstable();
        groups.dedup();
        groups
    }
}

fn next_attempt(c: usize, client: &mut Client) -> Attempt {
    let flight = client.current.as_mut().expect("a request is in flight");
    let target = client.leaders.get(&flight.group).copied().unwrap_or(0);
    flight.attempt += 1;
    Attempt {
        client: c,
        node: target,
        group: flight.group,
        seq: flight.seq,
        attempt: flight.attempt,
        command: flight.command.clone(),
    }
}

fn remember(client: &mut Client, op: KvOp, output: KvOutput) {
    let (key, value) = match (op, output) {
        (KvOp::Put { key, value }, _) => (key, Some(value)),
        (KvOp::Get { key }, KvOutput::Read(v)) => (key, v),
        (KvOp::Cas { key, new, .. }, KvOutput::CasResult { swapped: true }) => (key, Some(new)),
        _ => return,
    };
    match value {
        Some(v) => client.last_seen.insert(key, v),
        None => client.last_seen.remove(&key),
    };
}
