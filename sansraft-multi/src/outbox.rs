//! Coalescing: the messages produced while the host handles one input go out as one batch per
//! destination node; periodic heartbeats wait for the host's heartbeat interval and go out
//! together, one batch per peer node, sent even when empty.

use crate::counters::HostCounters;
use crate::io::HostAction;
use crate::wire::{Batch, Envelope, GroupId};
use sansraft::{Message, NodeId};
use std::collections::BTreeMap;

/// Messages waiting for the end of the step, and periodic heartbeats waiting for the flush.
#[derive(Clone, Debug, Default)]
pub(crate) struct Outbox {
    /// This step's messages, per destination, in the order produced.
    now: BTreeMap<NodeId, Vec<Envelope>>,
    /// Periodic heartbeats, per destination and group: a newer one replaces an older one of
    /// the same group (it carries a commit index and round at least as new).
    periodic: BTreeMap<NodeId, BTreeMap<GroupId, Message>>,
}

impl Outbox {
    /// Queues `message` of `group` for the end of this step.
    pub(crate) fn send_now(&mut self, group: GroupId, message: Message) {
        self.now
            .entry(message.to)
            .or_default()
            .push(Envelope { group, message });
    }

    /// Buffers the periodic heartbeat `message` of `group` until the next flush; true if it
    /// replaced an older one.
    pub(crate) fn send_periodic(&mut self, group: GroupId, message: Message) -> bool {
        self.periodic
            .entry(message.to)
            .or_default()
            .insert(group, message)
            .is_some()
    }

    /// Drops the buffered heartbeats of a deleted group.
    pub(crate) fn forget_group(&mut self, group: GroupId) {
        for buffered in self.periodic.values_mut() {
            buffered.remove(&group);
        }
    }

    /// Ends the step: one [`HostAction::Send`] per destination, in destination order. With
    /// `flush_to`, the periodic heartbeats join them and every node of `flush_to` gets a
    /// batch, empty or not.
    pub(crate) fn drain(
        &mut self,
        from: NodeId,
        flush_to: Option<&mut dyn Iterator<Item = NodeId>>,
        counters: &mut HostCounters,
        out: &mut Vec<HostAction>,
    ) {
        let mut batches = std::mem::take(&mut self.now);
        let mut periodic_to = Vec::new();
        if let Some(peers) = flush_to {
            for peer in peers {
                batches.entry(peer).or_default();
                periodic_to.push(peer);
            }
            for (to, buffered) in std::mem::take(&mut self.periodic) {
                let envelopes = batches.entry(to).or_default();
                envelopes.extend(
                    buffered
                        .into_iter()
                        .map(|(group, message)| Envelope { group, message }),
                );
                if !periodic_to.contains(&to) {
                    periodic_to.push(to);
                }
            }
        }
        counters.periodic_batches += periodic_to.len() as u64;
        for (to, envelopes) in batches {
            counters.batches_sent += 1;
            counters.envelopes_sent += envelopes.len() as u64;
            out.push(HostAction::Send(Batch {
                from,
                to,
                envelopes,
            }));
        }
    }
}
