//! The hand-written codec of [`Message`]: its header, then the body's variant index and fields.

use super::wire::{wire_struct, Reader, Wire};
use super::DecodeError;
use crate::message::{
    Append, AppendResponse, Body, Heartbeat, HeartbeatResponse, Message, ReadIndexRequest,
    ReadIndexResponse, SnapshotChunk, SnapshotResponse, VoteRequest, VoteResponse,
};

wire_struct!(Message {
    from,
    to,
    term,
    body
});
wire_struct!(Append {
    prev_index,
    prev_term,
    commit,
    entries
});
wire_struct!(Heartbeat { commit, round });
wire_struct!(HeartbeatResponse { round });
wire_struct!(ReadIndexRequest { id });
wire_struct!(ReadIndexResponse { id, index });
wire_struct!(VoteRequest {
    pre_vote,
    last_index,
    last_term,
    transfer
});
wire_struct!(VoteResponse { pre_vote, granted });
wire_struct!(SnapshotChunk {
    index,
    term,
    offset,
    data,
    done,
    membership,
    crc32c
});

/// Every variant index is below 128: a one-byte varint.
impl Wire for Body {
    fn wire_len(&self) -> usize {
        1 + match self {
            Body::Append(b) => b.wire_len(),
            Body::AppendResponse(b) => b.wire_len(),
            Body::Heartbeat(b) => b.wire_len(),
            Body::HeartbeatResponse(b) => b.wire_len(),
            Body::Vote(b) => b.wire_len(),
            Body::VoteResponse(b) => b.wire_len(),
            Body::SnapshotChunk(b) => b.wire_len(),
            Body::SnapshotResponse(b) => b.wire_len(),
            Body::TimeoutNow => 0,
            Body::ReadIndex(b) => b.wire_len(),
            Body::ReadIndexResponse(b) => b.wire_len(),
        }
    }

    fn write(&self, buf: &mut Vec<u8>) {
        match self {
            Body::Append(b) => tagged(buf, 0, b),
            Body::AppendResponse(b) => tagged(buf, 1, b),
            Body::Heartbeat(b) => tagged(buf, 2, b),
            Body::HeartbeatResponse(b) => tagged(buf, 3, b),
            Body::Vote(b) => tagged(buf, 4, b),
            Body::VoteResponse(b) => tagged(buf, 5, b),
            Body::SnapshotChunk(b) => tagged(buf, 6, b),
            Body::SnapshotResponse(b) => tagged(buf, 7, b),
            Body::TimeoutNow => buf.push(8),
            Body::ReadIndex(b) => tagged(buf, 9, b),
            Body::ReadIndexResponse(b) => tagged(buf, 10, b),
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.u32()? {
            0 => Body::Append(Wire::read(r)?),
            1 => Body::AppendResponse(Wire::read(r)?),
            2 => Body::Heartbeat(Wire::read(r)?),
            3 => Body::HeartbeatResponse(Wire::read(r)?),
            4 => Body::Vote(Wire::read(r)?),
            5 => Body::VoteResponse(Wire::read(r)?),
            6 => Body::SnapshotChunk(Wire::read(r)?),
            7 => Body::SnapshotResponse(Wire::read(r)?),
            8 => Body::TimeoutNow,
            9 => Body::ReadIndex(Wire::read(r)?),
            10 => Body::ReadIndexResponse(Wire::read(r)?),
            _ => return Err(DecodeError::Malformed),
        })
    }
}

impl Wire for AppendResponse {
    fn wire_len(&self) -> usize {
        1 + match self {
            AppendResponse::Accepted { match_index } => match_index.wire_len(),
            AppendResponse::Rejected {
                reject_index,
                hint_index,
                hint_term,
            } => reject_index.wire_len() + hint_index.wire_len() + hint_term.wire_len(),
        }
    }

    fn write(&self, buf: &mut Vec<u8>) {
        match self {
            AppendResponse::Accepted { match_index } => tagged(buf, 0, match_index),
            AppendResponse::Rejected {
                reject_index,
                hint_index,
                hint_term,
            } => {
                tagged(buf, 1, reject_index);
                hint_index.write(buf);
                hint_term.write(buf);
            }
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.u32()? {
            0 => AppendResponse::Accepted {
                match_index: r.u64()?,
            },
            1 => AppendResponse::Rejected {
                reject_index: r.u64()?,
                hint_index: r.u64()?,
                hint_term: Wire::read(r)?,
            },
            _ => return Err(DecodeError::Malformed),
        })
    }
}

impl Wire for SnapshotResponse {
    fn wire_len(&self) -> usize {
        1 + match self {
            SnapshotResponse::Next {
                index,
                term,
                offset,
            } => index.wire_len() + term.wire_len() + offset.wire_len(),
            SnapshotResponse::Installed { match_index } => match_index.wire_len(),
        }
    }

    fn write(&self, buf: &mut Vec<u8>) {
        match self {
            SnapshotResponse::Next {
                index,
                term,
                offset,
            } => {
                tagged(buf, 0, index);
                term.write(buf);
                offset.write(buf);
            }
            SnapshotResponse::Installed { match_index } => tagged(buf, 1, match_index),
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.u32()? {
            0 => SnapshotResponse::Next {
                index: r.u64()?,
                term: r.u64()?,
                offset: r.u64()?,
            },
            1 => SnapshotResponse::Installed {
                match_index: r.u64()?,
            },
            _ => return Err(DecodeError::Malformed),
        })
    }
}

/// Writes a variant index below 128, then `fields`.
fn tagged(buf: &mut Vec<u8>, variant: u8, fields: &impl Wire) {
    debug_assert!(variant < 0x80, "a one-byte varint");
    buf.push(variant);
    fields.write(buf);
}
