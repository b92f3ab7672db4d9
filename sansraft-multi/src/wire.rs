//! What hosts send each other: one [`Batch`] per destination node, carrying the messages of
//! many groups as [`Envelope`]s.

use sansraft::{Codec, Message, NodeId};
use serde::{Deserialize, Serialize};

/// A Raft group's identity, chosen by the embedder. Unique for all time: a deleted group's id
/// is never reused (the host keeps a tombstone for it).
pub type GroupId = u64;

/// One engine message and the group it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The group whose replicas exchange the message.
    pub group: GroupId,
    /// The message; `message.from` and `message.to` are the sending and receiving nodes,
    /// the same as the batch's.
    pub message: Message,
}

/// Everything one host sends another in one step: the unit the embedder puts on the wire.
///
/// Encode it with [`Codec::encode`] and decode it with [`Codec::decode`] (postcard, like
/// every sansraft wire type). An empty batch is still news: it tells the receiver's failure
/// detector that the sender is alive.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// The sending node.
    pub from: NodeId,
    /// The receiving node.
    pub to: NodeId,
    /// The messages, in the order the sender produced them (periodic heartbeats last, in
    /// group order).
    pub envelopes: Vec<Envelope>,
}

impl Codec for Envelope {}
impl Codec for Batch {}
