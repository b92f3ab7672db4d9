//! Frames on a peer connection: `len: u32 BE | postcard(Batch)`, read incrementally. A
//! [`Batch`] carries the messages of every Raft group one node sends another in one step of its
//! host (`sansraft_multi`); a batch too large for one frame goes out as several.
//!
//! A frame of length 0 is a keepalive: the dialler sends one when it has had nothing to send
//! for a while, so that the listener can tell a quiet peer from a dead connection.
//!
//! Reading never trusts the announced length for memory: the buffer grows by at most
//! [`READ_CHUNK_BYTES`] per read, as bytes arrive, so a peer that announces a large frame and
//! sends little costs little. The length is checked against [`MAX_FRAME_BYTES`] first, a frame
//! begun must be complete within [`FrameLimits::frame_timeout`], and a connection with no frame
//! begun for [`FrameLimits::idle_timeout`] is closed.

use sansraft::{Codec, DecodeError};
use sansraft_multi::Batch;
use std::io;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Largest frame accepted. The engine's largest messages are appends and snapshot chunks: an
/// append carries at most `max_append_bytes` (1 MiB) of entries counted with a 24-byte
/// overhead each, which exceeds their encoding, or a single larger entry (a value of at most
/// 1 MiB, a key of at most 1 KiB and a session); a chunk carries at most
/// [`MAX_SNAPSHOT_CHUNK_BYTES`]. Their headers are a few dozen bytes. 4 MiB leaves room.
pub(crate) const MAX_FRAME_BYTES: u32 = 4 << 20;
/// Largest `--snapshot-chunk-bytes` allowed, so that a chunk always fits in a frame.
pub(crate) const MAX_SNAPSHOT_CHUNK_BYTES: u64 = 2 << 20;
/// The buffer grows by at most this much per read.
pub(crate) const READ_CHUNK_BYTES: usize = 64 << 10;

/// How long reading may wait.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FrameLimits {
    /// Longest wait for the next frame to begin.
    pub(crate) idle_timeout: Duration,
    /// Longest time from a frame's first byte to its last.
    pub(crate) frame_timeout: Duration,
}

/// What a frame carried.
#[derive(Debug, PartialEq)]
pub(crate) enum Frame {
    Batch(Batch),
    Keepalive,
}

/// Why no frame was read.
#[derive(Debug)]
pub(crate) enum FrameError {
    Io(io::Error),
    /// The stream ended inside a frame.
    Truncated {
        len: u32,
        got: usize,
    },
    TooLarge {
        len: u32,
    },
    /// No frame began within the idle timeout.
    Idle,
    /// A frame begun was not complete within the frame timeout.
    Stalled {
        len: u32,
        got: usize,
    },
    Decode(DecodeError),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "connection: {e}"),
            FrameError::Truncated { len, got } => {
                write!(f, "connection closed after {got} of a {len}-byte frame")
            }
            FrameError::TooLarge { len } => {
                write!(
                    f,
                    "frame of {len} bytes exceeds the {MAX_FRAME_BYTES}-byte cap"
                )
            }
            FrameError::Idle => write!(f, "no frame within the idle timeout"),
            FrameError::Stalled { len, got } => {
                write!(
                    f,
                    "only {got} of a {len}-byte frame within the frame timeout"
                )
            }
            FrameError::Decode(e) => write!(f, "frame does not decode as a batch: {e}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Appends `batch` to `out` as one frame, or as several batches of its envelopes in order if
/// it does not fit in [`MAX_FRAME_BYTES`] (many groups' appends to one peer in one step). An
/// envelope too large for a frame on its own (the engine's limits make one impossible) is
/// dropped, a message lost; returns how many were.
pub(crate) fn encode_frames(batch: &Batch, out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    batch.encode_into(out);
    let len = out.len() - start - 4;
    if let Ok(len) = u32::try_from(len) {
        if len <= MAX_FRAME_BYTES {
            out[start..start + 4].copy_from_slice(&len.to_be_bytes());
            return 0;
        }
    }
    out.truncate(start);
    if batch.envelopes.len() <= 1 {
        return batch.envelopes.len();
    }
    let (first, second) = batch.envelopes.split_at(batch.envelopes.len() / 2);
    [first, second]
        .into_iter()
        .map(|envelopes| {
            let half = Batch {
                from: batch.from,
                to: batch.to,
                envelopes: envelopes.to_vec(),
            };
            encode_frames(&half, out)
        })
        .sum()
}

/// Appends a keepalive frame to `out`.
pub(crate) fn encode_keepalive(out: &mut Vec<u8>) {
    out.extend_from_slice(&0u32.to_be_bytes());
}

/// Reads one frame; `Ok(None)` at a clean end of stream (between frames). `buf` is scratch
/// space, kept between calls; it is shrunk back after a frame larger than one chunk.
pub(crate) async fn read_frame(
    stream: &mut (impl AsyncRead + Unpin),
    buf: &mut Vec<u8>,
    limits: FrameLimits,
) -> Result<Option<Frame>, FrameError> {
    let mut header = [0u8; 4];
    // The first byte may be long in coming; once it has, the frame is under way.
    match tokio::time::timeout(limits.idle_timeout, stream.read(&mut header[..1])).await {
        Err(_) => return Err(FrameError::Idle),
        Ok(Ok(0)) => return Ok(None),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(FrameError::Io(e)),
    }
    let body = async {
        match stream.read_exact(&mut header[1..]).await {
            Ok(_) => {}
            Err(e) => return Err(FrameError::Io(e)),
        }
        let len = u32::from_be_bytes(header);
        if len > MAX_FRAME_BYTES {
            return Err(FrameError::TooLarge { len });
        }
        if buf.capacity() > READ_CHUNK_BYTES {
            *buf = Vec::new();
        }
        buf.clear();
        read_body(stream, buf, len).await?;
        Ok(len)
    };
    let len = match tokio::time::timeout(limits.frame_timeout, body).await {
        Ok(result) => result?,
        Err(_) => {
            let len = u32::from_be_bytes(header);
            return Err(FrameError::Stalled {
                len,
                got: buf.len(),
            });
        }
    };
    if len == 0 {
        return Ok(Some(Frame::Keepalive));
    }
    Batch::decode(buf)
        .map(|b| Some(Frame::Batch(b)))
        .map_err(FrameError::Decode)
}

/// Reads `len` bytes into `buf`, growing it by at most a chunk at a time.
async fn read_body(
    stream: &mut (impl AsyncRead + Unpin),
    buf: &mut Vec<u8>,
    len: u32,
) -> Result<(), FrameError> {
    let len_bytes = len as usize;
    while buf.len() < len_bytes {
        if buf.len() == buf.capacity() {
            // Room for at most one more chunk, only once the last one is full: the buffer
            // holds at most twice what arrived.
            buf.reserve((len_bytes - buf.len()).min(READ_CHUNK_BYTES));
        }
        let room = (buf.capacity() - buf.len()).min(len_bytes - buf.len());
        let read = (&mut *stream)
            .take(room as u64)
            .read_buf(buf)
            .await
            .map_err(FrameError::Io)?;
        if read == 0 {
            return Err(FrameError::Truncated {
                len,
                got: buf.len(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansraft::message::Heartbeat;
    use sansraft::{Body, Message};
    use sansraft_multi::Envelope;
    use tokio::io::AsyncWriteExt;

    const LIMITS: FrameLimits = FrameLimits {
        idle_timeout: Duration::from_secs(30),
        frame_timeout: Duration::from_secs(10),
    };

    fn heartbeat() -> Batch {
        let message = Message {
            from: 1,
            to: 2,
            term: 3,
            body: Body::Heartbeat(Heartbeat {
                commit: 4,
                round: 5,
                proof: None,
                quiesce: false,
            }),
        };
        Batch {
            from: 1,
            to: 2,
            envelopes: vec![Envelope { group: 7, message }],
        }
    }

    fn encode_frame(batch: &Batch, out: &mut Vec<u8>) {
        assert_eq!(encode_frames(batch, out), 0);
    }

    async fn read_all(bytes: Vec<u8>) -> Vec<Result<Option<Frame>, String>> {
        let mut reader = &bytes[..];
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            let r = read_frame(&mut reader, &mut buf, LIMITS).await;
            let stop = !matches!(r, Ok(Some(_)));
            out.push(r.map_err(|e| e.to_string()));
            if stop {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn frames_and_keepalives_round_trip_and_end_cleanly() {
        let mut bytes = Vec::new();
        encode_frame(&heartbeat(), &mut bytes);
        encode_keepalive(&mut bytes);
        encode_frame(&heartbeat(), &mut bytes);
        let got = read_all(bytes).await;
        assert_eq!(
            got,
            vec![
                Ok(Some(Frame::Batch(heartbeat()))),
                Ok(Some(Frame::Keepalive)),
                Ok(Some(Frame::Batch(heartbeat()))),
                Ok(None)
            ]
        );
    }

    #[tokio::test]
    async fn a_batch_too_large_for_a_frame_goes_out_as_several_in_order() {
        let chunk = |group: u64| Envelope {
            group,
            message: Message {
                from: 1,
                to: 2,
                term: 3,
                body: Body::SnapshotChunk(Box::new(sansraft::message::SnapshotChunk {
                    index: 9,
                    term: 3,
                    offset: 0,
                    data: bytes::Bytes::from(vec![group as u8; 1 << 20]),
                    done: false,
                    membership: None,
                    crc32c: 0,
                })),
            },
        };
        let batch = Batch {
            from: 1,
            to: 2,
            envelopes: (0..9).map(chunk).collect(),
        };
        let mut bytes = Vec::new();
        encode_frame(&batch, &mut bytes);
        let got = read_all(bytes).await;
        let mut groups = Vec::new();
        for frame in &got[..got.len() - 1] {
            let Ok(Some(Frame::Batch(b))) = frame else {
                panic!("{frame:?}")
            };
            assert_eq!((b.from, b.to), (1, 2));
            groups.extend(b.envelopes.iter().map(|e| e.group));
        }
        assert!(got.len() > 3, "split into several frames");
        assert_eq!(groups, (0..9).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_frame_over_the_cap_is_refused_before_its_body_is_read() {
        let mut oversized = (MAX_FRAME_BYTES + 1).to_be_bytes().to_vec();
        oversized.extend_from_slice(&[0; 16]);
        let mut reader = &oversized[..];
        let mut buf = Vec::new();
        let got = read_frame(&mut reader, &mut buf, LIMITS).await;
        assert!(
            matches!(got, Err(FrameError::TooLarge { len }) if len == MAX_FRAME_BYTES + 1),
            "{got:?}"
        );
        assert_eq!(buf.capacity(), 0, "nothing allocated for the refused frame");
        assert_eq!(reader.len(), 16, "the body was not read");
    }

    #[tokio::test]
    async fn corrupt_and_truncated_frames_are_errors_not_panics() {
        let mut corrupt = 6u32.to_be_bytes().to_vec();
        corrupt.extend_from_slice(&[0xff; 6]);
        let got = read_all(corrupt).await;
        assert!(
            matches!(&got[..], [Err(e)] if e.contains("decode")),
            "{got:?}"
        );

        let mut cut = Vec::new();
        encode_frame(&heartbeat(), &mut cut);
        let whole = cut.len() - 4;
        cut.truncate(cut.len() - 1);
        let got = read_all(cut).await;
        let want = format!(
            "connection closed after {} of a {whole}-byte frame",
            whole - 1
        );
        assert_eq!(got, vec![Err(want)]);

        let got = read_all(vec![0, 0]).await;
        assert!(
            matches!(&got[..], [Err(e)] if e.starts_with("connection")),
            "{got:?}"
        );
    }

    #[tokio::test]
    async fn the_buffer_grows_with_the_bytes_that_arrived_not_the_length_announced() {
        let (mut client, mut server) = tokio::io::duplex(1 << 20);
        client
            .write_all(&MAX_FRAME_BYTES.to_be_bytes())
            .await
            .expect("write");
        client.write_all(&[7; 10]).await.expect("write");
        drop(client);
        let mut buf = Vec::new();
        let got = read_frame(&mut server, &mut buf, LIMITS).await;
        assert!(
            matches!(got, Err(FrameError::Truncated { got: 10, .. })),
            "{got:?}"
        );
        assert!(
            buf.capacity() <= READ_CHUNK_BYTES,
            "{} bytes held for 10 received",
            buf.capacity()
        );
    }

    /// Virtual time: the runtime jumps ahead when every task waits, so nothing here sleeps.
    #[tokio::test(start_paused = true)]
    async fn slow_bytes_are_read_within_the_frame_timeout_and_cut_off_after_it() {
        let mut frame = Vec::new();
        encode_frame(&heartbeat(), &mut frame);
        let step = LIMITS.frame_timeout / (2 * frame.len() as u32);
        let (mut client, mut server) = tokio::io::duplex(64);
        let slow = frame.clone();
        let writer = tokio::spawn(async move {
            for byte in slow {
                client.write_all(&[byte]).await.expect("write");
                tokio::time::sleep(step).await;
            }
            client
        });
        let mut buf = Vec::new();
        let got = read_frame(&mut server, &mut buf, LIMITS).await;
        assert_eq!(got.expect("read"), Some(Frame::Batch(heartbeat())));
        let mut client = writer.await.expect("writer");

        // A frame that starts and then stops: cut off at the frame timeout.
        client.write_all(&frame[..6]).await.expect("write");
        let got = read_frame(&mut server, &mut buf, LIMITS).await;
        assert!(
            matches!(got, Err(FrameError::Stalled { got: 2, .. })),
            "{got:?}"
        );

        // A connection on which no frame begins: closed at the idle timeout.
        let (_quiet, mut server) = tokio::io::duplex(64);
        let got = read_frame(&mut server, &mut buf, LIMITS).await;
        assert!(matches!(got, Err(FrameError::Idle)), "{got:?}");
    }
}
