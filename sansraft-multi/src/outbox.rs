//! Coalescing: the messages produced while the host handles one input go out as one batch per
//! destination node; periodic heartbeats wait for the host's heartbeat interval and go out
//! together, one batch per peer node, sent even when empty.

use crate::counters::HostCounters;
use crate::io::HostAction;
use crate::wire::{Batch, Envelope, GroupId};
use sansraft::{Message, NodeId};
use std::collections::{BTreeMap, BTreeSet};

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
        let mut periodic_to = BTreeSet::new();
        if let Some(peers) = flush_to {
            for peer in peers {
                batches.entry(peer).or_default();
                periodic_to.insert(peer);
            }
            for (to, buffered) in std::mem::take(&mut self.periodic) {
                let envelopes = batches.entry(to).or_default();
                envelopes.extend(
                    buffered
                        .into_iter()
                        .map(|(group, message)| Envelope { group, message }),
                );
                periodic_to.insert(to);
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

#[cfg(test)]
mod tests {
    use super::*;
    use sansraft::message::Heartbeat;
    use sansraft::Body;

    fn message(to: NodeId, body: Body) -> Message {
        Message {
            from: 1,
            to,
            term: 1,
            body,
        }
    }

    fn heartbeat(to: NodeId, commit: u64) -> Message {
        message(
            to,
            Body::Heartbeat(Heartbeat {
                commit,
                round: commit,
                proof: None,
                quiesce: false,
            }),
        )
    }

    fn batches(out: &[HostAction]) -> Vec<(NodeId, Vec<(GroupId, u64)>)> {
        out.iter()
            .map(|a| match a {
                HostAction::Send(b) => (
                    b.to,
                    b.envelopes
                        .iter()
                        .map(|e| (e.group, e.message.term))
                        .collect(),
                ),
                other => panic!("not a batch: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn one_batch_per_destination_and_periodic_heartbeats_wait_for_the_flush() {
        let mut outbox = Outbox::default();
        let mut counters = HostCounters::default();
        let mut out = Vec::new();
        outbox.send_now(7, message(3, Body::TimeoutNow));
        outbox.send_now(5, message(2, Body::TimeoutNow));
        outbox.send_now(6, message(3, Body::TimeoutNow));
        assert!(!outbox.send_periodic(5, heartbeat(2, 1)));
        assert!(
            outbox.send_periodic(5, heartbeat(2, 2)),
            "replaces the older one"
        );
        outbox.drain(1, None, &mut counters, &mut out);
        assert_eq!(
            batches(&out),
            [(2, vec![(5, 1)]), (3, vec![(7, 1), (6, 1)])]
        );
        assert_eq!(counters.periodic_batches, 0);
        out.clear();
        outbox.send_now(9, message(3, Body::TimeoutNow));
        let mut peers = [2, 3, 4].into_iter();
        outbox.drain(1, Some(&mut peers), &mut counters, &mut out);
        assert_eq!(
            batches(&out),
            [(2, vec![(5, 1)]), (3, vec![(9, 1)]), (4, vec![])],
            "the heartbeat joins; every peer gets a batch"
        );
        assert_eq!(counters.periodic_batches, 3);
        assert_eq!(counters.batches_sent, 5);
        out.clear();
        outbox.send_periodic(8, heartbeat(2, 1));
        outbox.forget_group(8);
        let mut none = std::iter::empty();
        outbox.drain(1, Some(&mut none), &mut counters, &mut out);
        assert_eq!(
            batches(&out),
            [(2, vec![])],
            "a deleted group's heartbeat is dropped"
        );
    }
}
