//! Client traffic: requests travel to nodes and answers back over client links (delayed and,
//! during the fault phase, lossy like the network, but never partitioned).

use super::World;
use crate::client::{Attempt, ClientStep, Reply};
use crate::event::Event;
use crate::kv::Command;
use crate::linearizability::KvOp;
use crate::scenario::ReadMode;
use bytes::Bytes;
use sansraft::Input;

impl World {
    pub(super) fn on_client_issue(&mut self, client: usize) {
        if let Some(attempt) = self.clients.issue(client, self.now, &mut self.rng_client) {
            let index = self.clients.history().len() - 1;
            self.liveness.request_issued(index, self.now);
            self.client_send(attempt);
        }
    }

    /// Sends one attempt and arms its timeout.
    pub(super) fn client_send(&mut self, a: Attempt) {
        if let Some(t) = self.tracer.as_mut() {
            t.note(&format!(
                "client {} request {} attempt {} → n{}",
                a.client,
                a.seq,
                a.attempt,
                a.node + 1
            ));
        }
        self.queue.push_in_order(
            crate::event::Lane::Timeouts,
            self.now + self.clients.timeout_us(),
            Event::ClientTimeout {
                client: a.client,
                seq: a.seq,
                attempt: a.attempt,
            },
        );
        if self.network.client_loss(&mut self.rng_client) {
            return;
        }
        let at = self.now + self.network.delay(&mut self.rng_client);
        self.queue.push(
            at,
            Event::ClientRequest {
                node: a.node,
                client: a.client,
                seq: a.seq,
                command: a.command,
            },
        );
    }

    pub(super) fn on_client_request(&mut self, node: usize, client: usize, seq: u64, cmd: Bytes) {
        if self.sc.reads != ReadMode::Log {
            if let Some(Command {
                op: KvOp::Get { key },
                ..
            }) = Command::decode(&cmd)
            {
                // Thesis §6.4: a get goes through the read path, not the log.
                let id = self.next_read_id;
                self.next_read_id += 1;
                self.hosts[node].reads.insert(id, (client, seq, key));
                self.checker.on_read_issued(id, node, self.now);
                self.step(node, Input::ReadIndex(id));
                return;
            }
        }
        self.proposing = Some((client, seq));
        self.step(node, Input::Propose(cmd));
        self.proposing = None;
    }

    /// The instant a node is first seen leading a term, every node that still leads an older
    /// one is asked for a read of the simulator's own (no client waits for it). Only a lease
    /// could let it serve one now, and it must not (thesis §6.4.1; the checker's read rules):
    /// this puts a read exactly where a lease that does not hold would be served, rather than
    /// waiting for a client's to land there.
    pub(super) fn probe_deposed_leaders(&mut self, newer: sansraft::Term) {
        if self.sc.reads == ReadMode::Log || self.manual.is_some() {
            return;
        }
        for (j, host) in self.hosts.iter().enumerate() {
            if host
                .node
                .as_ref()
                .is_some_and(|n| n.role() == sansraft::Role::Leader && n.term() < newer)
            {
                self.queue.push(self.now, Event::ProbeRead { node: j });
            }
        }
    }

    /// A probe read (see [`World::probe_deposed_leaders`]) reaches node `node`.
    pub(super) fn on_probe_read(&mut self, node: usize) {
        let id = self.next_read_id;
        self.next_read_id += 1;
        self.stats.probe_reads += 1;
        self.checker.on_read_issued(id, node, self.now);
        self.step(node, Input::ReadIndex(id));
    }

    /// Sends an answer to a client.
    pub(super) fn reply(&mut self, client: usize, seq: u64, reply: Reply) {
        if reply == Reply::Overwritten {
            self.stats.overwritten += 1;
        }
        if let Some(t) = self.tracer.as_mut() {
            t.note(&format!(
                "reply to client {client} request {seq}: {reply:?}"
            ));
        }
        if self.network.client_loss(&mut self.rng_client) {
            return;
        }
        let at = self.now + self.network.delay(&mut self.rng_client);
        self.queue
            .push(at, Event::ClientReply { client, seq, reply });
    }

    pub(super) fn on_client_reply(&mut self, client: usize, seq: u64, reply: Reply) {
        match self
            .clients
            .on_reply(client, seq, reply, self.now, &mut self.rng_client)
        {
            ClientStep::Ignore => {}
            ClientStep::Completed { next_at } => {
                self.note("operation completed");
                self.queue.push(next_at, Event::ClientIssue { client });
            }
            ClientStep::Retry { attempt, at } => self.queue.push(at, Event::ClientSend(attempt)),
        }
    }

    pub(super) fn on_client_timeout(&mut self, client: usize, seq: u64, attempt: u32) {
        if let Some(a) = self.clients.on_timeout(client, seq, attempt) {
            self.client_send(a);
        }
    }
}
