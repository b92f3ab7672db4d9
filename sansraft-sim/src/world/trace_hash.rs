//! The trace hash: every event folded in as its time, its kind and the identities it carries, so
//! two runs with equal hashes ran the same schedule (docs/simulator.md).

use super::World;
use crate::client::Attempt;
use crate::event::Event;
use sansraft::Body;

impl World {
    /// Folds the event into the trace hash: its time, kind and the identities it carries.
    pub(super) fn hash_event(&mut self, event: &Event) {
        let h = &mut self.hash;
        h.u64(self.now);
        h.u8(event.tag());
        match event {
            Event::Tick { node, .. }
            | Event::Crash { node, .. }
            | Event::Restart { node }
            | Event::StorageDone { node, .. }
            | Event::PersistAck { node, .. }
            | Event::ProbeRead { node } => h.u64(*node as u64),
            Event::Deliver { msg, .. } => {
                h.u64(msg.from);
                h.u64(msg.to);
                h.u64(msg.term);
                h.u8(body_tag(&msg.body));
            }
            Event::Fault { index } => h.u64(*index as u64),
            Event::ClientIssue { client }
            | Event::ClientReply { client, .. }
            | Event::ClientTimeout { client, .. } => h.u64(*client as u64),
            Event::ClientRequest { node, client, .. }
            | Event::ClientSend(Attempt { node, client, .. }) => {
                h.u64(*node as u64);
                h.u64(*client as u64);
            }
            Event::Ping { from, to } => {
                h.u64(*from as u64);
                h.u64(*to as u64);
            }
            Event::FaultPhaseEnd | Event::LeaderDeadline | Event::StaleRead => {}
        }
    }
}

/// A small number per message kind, for the trace hash: one per [`Body::kind_name`], so the
/// determinism checks tell every kind apart (a test below holds the two in step).
fn body_tag(body: &Body) -> u8 {
    match body {
        Body::Append(_) => 1,
        Body::AppendResponse(_) => 2,
        Body::Heartbeat(_) => 3,
        Body::HeartbeatResponse(_) => 4,
        Body::Vote(v) => 5 + u8::from(v.pre_vote),
        Body::VoteResponse(v) => 7 + u8::from(v.pre_vote),
        Body::ReadIndex(_) => 9,
        Body::ReadIndexResponse(_) => 10,
        Body::TimeoutNow => 11,
        Body::SnapshotChunk(_) => 12,
        Body::SnapshotResponse(_) => 13,
    }
}

#[cfg(test)]
mod tests {
    use super::body_tag;
    use sansraft::{Body, Codec, Message};
    use std::collections::BTreeMap;

    /// One message of every kind the wire format has, with zeroed fields: variant `d` of `Body`
    /// decodes from its discriminant followed by zeros, for the shortest length that decodes.
    fn one_of_each_kind() -> Vec<Body> {
        let mut bodies = Vec::new();
        for d in 0..=u8::MAX {
            let found = (4..200).find_map(|len| {
                let mut bytes = vec![0u8; len];
                bytes[3] = d;
                Message::decode(&bytes).ok()
            });
            match found {
                Some(msg) => bodies.push(msg.body),
                None => break,
            }
        }
        let pre_votes: Vec<Body> = bodies
            .iter()
            .filter_map(|b| match b {
                Body::Vote(v) => Some(Body::Vote(sansraft::message::VoteRequest {
                    pre_vote: true,
                    ..*v
                })),
                Body::VoteResponse(v) => {
                    Some(Body::VoteResponse(sansraft::message::VoteResponse {
                        pre_vote: true,
                        ..*v
                    }))
                }
                _ => None,
            })
            .collect();
        bodies.extend(pre_votes);
        bodies
    }

    /// The determinism checks tell every message kind apart: one tag per kind name and one kind
    /// name per tag. (`ReadIndex` and `SnapshotChunk` once shared a tag.)
    #[test]
    fn every_message_kind_has_its_own_tag() {
        let bodies = one_of_each_kind();
        assert!(bodies.len() >= 13, "found only {} kinds", bodies.len());
        let mut by_tag: BTreeMap<u8, &str> = BTreeMap::new();
        let mut by_name: BTreeMap<&str, u8> = BTreeMap::new();
        for body in &bodies {
            let (tag, name) = (body_tag(body), body.kind_name());
            assert_eq!(
                *by_tag.entry(tag).or_insert(name),
                name,
                "tag {tag} is shared"
            );
            assert_eq!(
                *by_name.entry(name).or_insert(tag),
                tag,
                "{name} has two tags"
            );
        }
        assert_eq!(by_tag.len(), by_name.len());
    }

    /// The trace viewers have a legend entry and a colour for every message kind, and no more.
    #[test]
    fn the_viewer_knows_every_message_kind() {
        let names: std::collections::BTreeSet<&str> =
            one_of_each_kind().iter().map(Body::kind_name).collect();
        let known: std::collections::BTreeSet<&str> = crate::html::KINDS.into_iter().collect();
        assert_eq!(names, known);
    }
}
