//! The hand-written codec of [`Message`]: its header, then the body's variant index and fields.

use super::types::entry_kind_index;
use super::wire::{wire_struct, Head, Reader, Wire, MAX_VARINT_LEN};
use super::DecodeError;
use crate::message::{
    Append, AppendResponse, Body, FreshnessProof, Heartbeat, HeartbeatResponse, Message,
    ReadIndexRequest, ReadIndexResponse, SnapshotChunk, SnapshotResponse, Stamp, VoteRequest,
    VoteResponse,
};

/// The bytes of the stack buffer a message's fixed-size fields are written to: room for the
/// header and any body but a snapshot's (at most 3 + 6 varints and 3 bytes: a vote request,
/// or a heartbeat with a freshness proof), or for several entry headers and small payloads.
const HEAD_LEN: usize = 128;

/// The most bytes an entry takes before its payload: term, index, kind, payload length.
const MAX_ENTRY_HEAD_LEN: usize = 3 * MAX_VARINT_LEN + 1;

impl Wire for Message {
    fn wire_len(&self) -> usize {
        self.from.wire_len() + self.to.wire_len() + self.term.wire_len() + self.body.wire_len()
    }

    /// The one encoder of a message: [`Wire::write_into`]'s single pass.
    fn write(&self, buf: &mut Vec<u8>) {
        self.write_into(buf);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_message(r, false)
    }

    fn read_whole(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        read_message(r, true)
    }

    const ONE_PASS: bool = true;

    /// One pass, without computing the length: the fixed-size fields go through a stack buffer,
    /// with small payloads, and into `buf` a buffer-full at a time; a payload that does not fit
    /// is copied on its own. A snapshot's body takes the general path.
    fn write_into(&self, buf: &mut Vec<u8>) {
        let mut head = Head::<HEAD_LEN>::new();
        head.varint(self.from);
        head.varint(self.to);
        head.varint(self.term);
        match &self.body {
            Body::Append(a) => {
                head.byte(0);
                head.varint(a.prev_index);
                head.varint(a.prev_term);
                head.varint(a.commit);
                head.varint(a.entries.len() as u64);
                for entry in a.entries.iter() {
                    if head.room() < MAX_ENTRY_HEAD_LEN {
                        head.flush(buf);
                    }
                    head.varint(entry.term);
                    head.varint(entry.index);
                    head.byte(entry_kind_index(entry.kind));
                    head.varint(entry.data.len() as u64);
                    if entry.data.len() <= head.room() {
                        head.slice(&entry.data);
                    } else {
                        head.flush(buf);
                        buf.extend_from_slice(&entry.data);
                    }
                }
            }
            Body::AppendResponse(response) => {
                head.byte(1);
                match *response {
                    AppendResponse::Accepted { match_index } => {
                        head.byte(0);
                        head.varint(match_index);
                    }
                    AppendResponse::Rejected {
                        reject_index,
                        hint_index,
                        hint_term,
                    } => {
                        head.byte(1);
                        head.varint(reject_index);
                        head.varint(hint_index);
                        head_option(&mut head, hint_term);
                    }
                }
            }
            Body::Heartbeat(h) => {
                head.byte(2);
                head.varint(h.commit);
                head.varint(h.round);
                match h.proof {
                    None => head.byte(0),
                    Some(p) => {
                        head.byte(1);
                        head.varint(p.stamp.incarnation);
                        head.varint(p.stamp.tick);
                        head.varint(p.commit);
                    }
                }
                head.byte(u8::from(h.quiesce));
            }
            Body::HeartbeatResponse(h) => {
                head.byte(3);
                head.varint(h.round);
                match h.stamp {
                    None => head.byte(0),
                    Some(s) => {
                        head.byte(1);
                        head.varint(s.incarnation);
                        head.varint(s.tick);
                    }
                }
                head.byte(u8::from(h.quiet));
            }
            Body::Vote(v) => {
                head.byte(4);
                head.byte(u8::from(v.pre_vote));
                head.varint(v.last_index);
                head.varint(v.last_term);
                head.byte(u8::from(v.transfer));
                head.varint(v.config_index);
                head.varint(v.config_term);
            }
            Body::VoteResponse(v) => {
                head.byte(5);
                head.byte(u8::from(v.pre_vote));
                head.byte(u8::from(v.granted));
            }
            Body::SnapshotChunk(_) | Body::SnapshotResponse(_) => {
                head.flush(buf);
                self.body.write_into(buf);
            }
            Body::TimeoutNow => head.byte(8),
            Body::ReadIndex(r) => {
                head.byte(9);
                head.varint(r.id);
            }
            Body::ReadIndexResponse(r) => {
                head.byte(10);
                head.varint(r.id);
                head_option(&mut head, r.index);
            }
        }
        head.flush(buf);
    }
}

/// A message: the common bodies (appends, their responses, heartbeats and theirs) are read
/// here, in one function, the others by [`read_body`] (which reads them too, for `Body`'s own
/// `Wire::read`; calling it from here instead costs 3 % of the bench's 3n/16B/x64 instructions
/// per entry, 1,049 → 1,080). With `whole`, the input must end with
/// the message, checked before the message is built (so that it is not moved again).
fn read_message(r: &mut Reader<'_>, whole: bool) -> Result<Message, DecodeError> {
    let (from, to, term, variant) = match r.four_small() {
        Some([from, to, term, variant]) => (
            u64::from(from),
            u64::from(to),
            u64::from(term),
            u32::from(variant),
        ),
        None => (r.u64()?, r.u64()?, r.u64()?, r.u32()?),
    };
    let body = match variant {
        0 => Body::Append(Append {
            prev_index: r.u64()?,
            prev_term: r.u64()?,
            commit: r.u64()?,
            entries: Wire::read(r)?,
        }),
        1 => Body::AppendResponse(match r.u32()? {
            0 => AppendResponse::Accepted {
                match_index: r.u64()?,
            },
            1 => AppendResponse::Rejected {
                reject_index: r.u64()?,
                hint_index: r.u64()?,
                hint_term: Wire::read(r)?,
            },
            _ => return Err(DecodeError::Malformed),
        }),
        2 => Body::Heartbeat(Heartbeat {
            commit: r.u64()?,
            round: r.u64()?,
            proof: Wire::read(r)?,
            quiesce: Wire::read(r)?,
        }),
        3 => Body::HeartbeatResponse(HeartbeatResponse {
            round: r.u64()?,
            stamp: Wire::read(r)?,
            quiet: Wire::read(r)?,
        }),
        variant => read_body(variant, r)?,
    };
    if whole {
        r.end()?;
    }
    Ok(Message {
        from,
        to,
        term,
        body,
    })
}

/// An option of a varint, as `Option<u64>`'s [`Wire::write`] writes it.
#[inline]
fn head_option<const N: usize>(head: &mut Head<N>, value: Option<u64>) {
    match value {
        None => head.byte(0),
        Some(v) => {
            head.byte(1);
            head.varint(v);
        }
    }
}
wire_struct!(Append {
    prev_index,
    prev_term,
    commit,
    entries
});
wire_struct!(Heartbeat {
    commit,
    round,
    proof,
    quiesce
});
wire_struct!(HeartbeatResponse {
    round,
    stamp,
    quiet
});
wire_struct!(Stamp { incarnation, tick });
wire_struct!(FreshnessProof { stamp, commit });
wire_struct!(ReadIndexRequest { id });
wire_struct!(ReadIndexResponse { id, index });
wire_struct!(VoteRequest {
    pre_vote,
    last_index,
    last_term,
    transfer,
    config_index,
    config_term
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
        let variant = r.u32()?;
        read_body(variant, r)
    }
}

/// The body of variant index `variant`.
fn read_body(variant: u32, r: &mut Reader<'_>) -> Result<Body, DecodeError> {
    Ok(match variant {
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
            SnapshotResponse::Refused { index, term } => index.wire_len() + term.wire_len(),
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
            SnapshotResponse::Refused { index, term } => {
                tagged(buf, 2, index);
                term.write(buf);
            }
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
            2 => SnapshotResponse::Refused {
                index: r.u64()?,
                term: r.u64()?,
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
