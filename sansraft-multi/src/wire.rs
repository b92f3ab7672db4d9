//! What hosts send each other: one [`Batch`] per destination node, carrying the messages of
//! many groups as [`Envelope`]s.

use bytes::Bytes;
use sansraft::codec::{varint_len, write_varint, DecodeError, FrameReader};
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
/// Encode it with [`Codec::encode`] and decode it with [`Codec::decode_shared`] (postcard's
/// format, like every sansraft wire type, written and read by hand as fast as a lone message,
/// with the entries' and chunks' payloads sliced from the received frame). An empty batch is still news: it tells the receiver's failure
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

/// The fewest bytes an envelope takes: a group id and the smallest message.
const MIN_ENVELOPE_LEN: usize = 5;

impl Codec for Batch {
    fn encoded_len(&self) -> usize {
        varint_len(self.from)
            + varint_len(self.to)
            + varint_len(self.envelopes.len() as u64)
            + (self.envelopes.iter())
                .map(|e| varint_len(e.group) + e.message.encoded_len())
                .sum::<usize>()
    }

    fn encode_into(&self, buf: &mut Vec<u8>) {
        write_varint(buf, self.from);
        write_varint(buf, self.to);
        write_varint(buf, self.envelopes.len() as u64);
        for envelope in &self.envelopes {
            write_varint(buf, envelope.group);
            envelope.message.encode_into(buf);
        }
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        read_batch(FrameReader::copying(bytes))
    }

    fn decode_shared(frame: &Bytes) -> Result<Self, DecodeError> {
        read_batch(FrameReader::new(frame))
    }
}

/// A whole batch from `r`, in the serde derive's postcard format.
fn read_batch(mut r: FrameReader<'_>) -> Result<Batch, DecodeError> {
    let from = r.u64()?;
    let to = r.u64()?;
    let (len, capacity) = r.seq_len(MIN_ENVELOPE_LEN)?;
    let mut envelopes = Vec::with_capacity(capacity);
    for _ in 0..len {
        let group = r.u64()?;
        let message = r.message()?;
        envelopes.push(Envelope { group, message });
    }
    r.end()?;
    Ok(Batch {
        from,
        to,
        envelopes,
    })
}
