//! The peer network: raft messages over TCP, one postcard-encoded message per frame.
//!
//! Frame layout: `len: u32 BE | postcard(Message)`, with `len` at most [`MAX_FRAME_BYTES`]. Each
//! node dials every peer once and only writes on that connection; it reads on the connections
//! peers dialled to it. An oversized or undecodable frame closes its connection with a logged
//! error; the peer redials and Raft resends what was lost.

use sansraft::{Codec, DecodeError, Message, NodeId};
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Largest frame accepted: above the engine's largest message (1 MiB appends and snapshot
/// chunks by default) with room to spare.
pub(crate) const MAX_FRAME_BYTES: u32 = 16 << 20;
/// Messages queued for one peer; when full, further messages are dropped (Raft resends).
const PEER_QUEUE: usize = 4096;

/// Why a frame was refused.
#[derive(Debug)]
pub(crate) enum FrameError {
    Io(io::Error),
    TooLarge { len: u32 },
    Decode(DecodeError),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "connection: {e}"),
            FrameError::TooLarge { len } => {
                write!(
                    f,
                    "frame of {len} bytes exceeds the {MAX_FRAME_BYTES}-byte cap"
                )
            }
            FrameError::Decode(e) => write!(f, "frame does not decode as a message: {e}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Appends one framed message to `out`.
pub(crate) fn encode_frame(message: &Message, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    message.encode_into(out);
    let len = u32::try_from(out.len() - start - 4).expect("a message fits in 4 GiB");
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// Reads one frame; `Ok(None)` at a clean end of stream.
pub(crate) async fn read_frame(
    stream: &mut (impl AsyncReadExt + Unpin),
    buf: &mut Vec<u8>,
) -> Result<Option<Message>, FrameError> {
    let mut header = [0u8; 4];
    match stream.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(FrameError::Io(e)),
    }
    let len = u32::from_be_bytes(header);
    if len > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge { len });
    }
    buf.resize(len as usize, 0);
    stream.read_exact(buf).await.map_err(FrameError::Io)?;
    Message::decode(buf).map(Some).map_err(FrameError::Decode)
}

/// The sending side: one queue per peer, each drained by a task that keeps a connection open.
#[derive(Debug)]
pub(crate) struct Peers {
    queues: BTreeMap<NodeId, mpsc::Sender<Message>>,
    /// Messages dropped because a peer's queue was full or the peer is unknown.
    pub(crate) dropped: u64,
}

impl Peers {
    /// Starts a sender task for every peer in `addrs`.
    pub(crate) fn start(addrs: &BTreeMap<NodeId, SocketAddr>) -> Peers {
        let queues = addrs
            .iter()
            .map(|(&id, &addr)| {
                let (tx, rx) = mpsc::channel(PEER_QUEUE);
                tokio::spawn(send_loop(id, addr, rx));
                (id, tx)
            })
            .collect();
        Peers { queues, dropped: 0 }
    }

    /// Best effort: a full queue or an unknown peer drops the message.
    pub(crate) fn send(&mut self, message: Message) {
        let sent = self
            .queues
            .get(&message.to)
            .is_some_and(|q| q.try_send(message).is_ok());
        if !sent {
            self.dropped += 1;
        }
    }
}

/// Keeps a connection to `addr` and writes the queued messages to it. Messages queued while
/// the peer is unreachable are dropped rather than delivered late.
async fn send_loop(id: NodeId, addr: SocketAddr, mut queue: mpsc::Receiver<Message>) {
    let mut backoff = Duration::from_millis(20);
    let mut buf = Vec::new();
    loop {
        let stream = match TcpStream::connect(addr).await {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!(peer = id, %addr, error = %e, "cannot reach peer");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(500));
                while queue.try_recv().is_ok() {}
                if queue.is_closed() {
                    return;
                }
                continue;
            }
        };
        backoff = Duration::from_millis(20);
        let _ = stream.set_nodelay(true);
        tracing::info!(peer = id, %addr, "connected to peer");
        let mut writer = BufWriter::new(stream);
        let result: io::Result<()> = async {
            while let Some(message) = queue.recv().await {
                buf.clear();
                encode_frame(&message, &mut buf);
                writer.write_all(&buf).await?;
                // Write whatever else is queued, then flush once.
                while let Ok(message) = queue.try_recv() {
                    buf.clear();
                    encode_frame(&message, &mut buf);
                    writer.write_all(&buf).await?;
                }
                writer.flush().await?;
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => return, // the node loop hung up
            Err(e) => tracing::info!(peer = id, %addr, error = %e, "lost connection to peer"),
        }
    }
}

/// Accepts peers' connections and forwards every message read to the node loop.
pub(crate) async fn listen(listener: TcpListener, inbound: mpsc::Sender<Message>) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a peer connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(receive_loop(stream, addr, inbound.clone()));
    }
}

async fn receive_loop(stream: TcpStream, addr: SocketAddr, inbound: mpsc::Sender<Message>) {
    let mut reader = tokio::io::BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        match read_frame(&mut reader, &mut buf).await {
            Ok(Some(message)) => {
                if inbound.send(message).await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(FrameError::Io(e)) => {
                tracing::debug!(%addr, error = %e, "peer connection closed");
                return;
            }
            Err(e) => {
                tracing::error!(%addr, error = %e, "bad frame from peer; closing the connection");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansraft::message::Heartbeat;
    use sansraft::Body;

    fn heartbeat() -> Message {
        Message {
            from: 1,
            to: 2,
            term: 3,
            body: Body::Heartbeat(Heartbeat {
                commit: 4,
                round: 5,
            }),
        }
    }

    async fn read_all(bytes: Vec<u8>) -> Vec<Result<Option<Message>, String>> {
        let mut reader = &bytes[..];
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            let r = read_frame(&mut reader, &mut buf).await;
            let stop = !matches!(r, Ok(Some(_)));
            out.push(r.map_err(|e| e.to_string()));
            if stop {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn frames_round_trip_and_end_cleanly() {
        let mut bytes = Vec::new();
        encode_frame(&heartbeat(), &mut bytes);
        encode_frame(&heartbeat(), &mut bytes);
        let got = read_all(bytes).await;
        assert_eq!(
            got,
            vec![Ok(Some(heartbeat())), Ok(Some(heartbeat())), Ok(None)]
        );
    }

    #[tokio::test]
    async fn oversized_and_corrupt_frames_are_errors_not_panics() {
        let mut oversized = (MAX_FRAME_BYTES + 1).to_be_bytes().to_vec();
        oversized.extend_from_slice(&[0; 16]);
        let got = read_all(oversized).await;
        assert!(
            matches!(&got[..], [Err(e)] if e.contains("exceeds")),
            "{got:?}"
        );

        let mut corrupt = 6u32.to_be_bytes().to_vec();
        corrupt.extend_from_slice(&[0xff; 6]);
        let got = read_all(corrupt).await;
        assert!(
            matches!(&got[..], [Err(e)] if e.contains("decode")),
            "{got:?}"
        );

        let mut cut = Vec::new();
        encode_frame(&heartbeat(), &mut cut);
        cut.truncate(cut.len() - 1);
        let got = read_all(cut).await;
        assert!(
            matches!(&got[..], [Err(e)] if e.contains("connection")),
            "{got:?}"
        );
    }
}
