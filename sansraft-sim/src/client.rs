//! Clients: each has one operation outstanding at a time, sends it to whoever it believes leads,
//! follows redirects, retries on timeout with the same request id (so the service applies it at
//! most once), and records every operation in a history for the linearizability check.

use crate::kv::Command;
use crate::linearizability::{KvOp, KvOutput, Operation};
use crate::rng::SimRng;
use crate::scenario::ClientParams;
use crate::Micros;
use bytes::Bytes;
use sansraft::NodeId;

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

/// One transmission of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Attempt {
    pub(crate) client: usize,
    /// Index of the node addressed (id − 1).
    pub(crate) node: usize,
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

#[derive(Clone, Debug)]
struct InFlight {
    seq: u64,
    command: Bytes,
    history_index: usize,
    attempt: u32,
}

#[derive(Clone, Debug)]
struct Client {
    next_seq: u64,
    current: Option<InFlight>,
    /// The node it sends to (index).
    target: usize,
    /// The last value it saw per key, to make compare-and-swap succeed sometimes.
    last_seen: Vec<Option<u64>>,
}

/// Every client, and the history of their operations.
#[derive(Clone, Debug)]
pub(crate) struct Clients {
    clients: Vec<Client>,
    history: Vec<Operation>,
    params: ClientParams,
    nodes: usize,
    stop_issuing_at: Micros,
}

impl Clients {
    pub(crate) fn new(
        params: ClientParams,
        nodes: usize,
        stop_issuing_at: Micros,
        rng: &mut SimRng,
    ) -> Self {
        let clients = (0..params.count)
            .map(|_| Client {
                next_seq: 1,
                current: None,
                target: rng.index(nodes),
                last_seen: vec![None; params.keys as usize],
            })
            .collect();
        Clients {
            clients,
            history: Vec::new(),
            params,
            nodes,
            stop_issuing_at,
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
        rng.between(0, self.params.max_think_us)
    }

    /// Starts client `c`'s next operation, unless the run is about to end.
    pub(crate) fn issue(&mut self, c: usize, now: Micros, rng: &mut SimRng) -> Option<Attempt> {
        if now >= self.stop_issuing_at || self.clients[c].current.is_some() {
            return None;
        }
        let client = &mut self.clients[c];
        let seq = client.next_seq;
        client.next_seq += 1;
        let key = rng.below(self.params.keys);
        let unique = ((c as u64 + 1) << 32) | seq;
        let op = match rng.below(10) {
            0..=3 => KvOp::Put { key, value: unique },
            4..=6 => KvOp::Get { key },
            _ => KvOp::Cas {
                key,
                expected: if rng.below(4) == 0 {
                    None
                } else {
                    client.last_seen[key as usize]
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
            command: command.clone(),
            history_index: self.history.len() - 1,
            attempt: 0,
        });
        Some(Attempt {
            client: c,
            node: client.target,
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
        let backoff = self.params.backoff_us;
        let nodes = self.nodes;
        let client = &mut self.clients[c];
        if client.current.as_ref().is_none_or(|f| f.seq != seq) {
            return ClientStep::Ignore;
        }
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
                client.target = leader as usize - 1;
                backoff / 20
            }
            Reply::NotLeader(_) => {
                // A random node rather than the next one: a removed node may still name the
                // leader it last followed, and a fixed rotation could cycle among such nodes.
                client.target = rng.index(nodes);
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
        client.target = (client.target + 1) % nodes;
        Some(next_attempt(c, client))
    }

    /// The request timeout.
    pub(crate) fn timeout_us(&self) -> Micros {
        self.params.timeout_us
    }
}

fn next_attempt(c: usize, client: &mut Client) -> Attempt {
    let target = client.target;
    let flight = client.current.as_mut().expect("a request is in flight");
    flight.attempt += 1;
    Attempt {
        client: c,
        node: target,
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
    if let Some(slot) = client.last_seen.get_mut(key as usize) {
        *slot = value;
    }
}
