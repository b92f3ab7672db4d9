//! The peer network: raft messages over TCP.
//!
//! Each node dials every peer once and only writes on that connection; it reads on the
//! connections peers dialled to it. A connection opens with the handshake of [`crate::handshake`]
//! (unless the cluster runs with `--insecure-peers`), then carries the dialler's frames
//! ([`crate::frame`]); the listener never writes after the handshake, so the dialler reads only
//! to notice the connection closing. A connection that fails its handshake, sends a bad frame or
//! stays silent past the idle timeout is closed; the peer redials and Raft resends what was lost.
//!
//! What reaches the node loop comes from an authenticated peer and says it is from that peer: a
//! message whose `from` is another node is dropped and counted.

use crate::frame::{self, Frame, FrameError, FrameLimits};
use crate::handshake::{self, ClusterSecret, HandshakeError, HANDSHAKE_TIMEOUT};
use crate::throttle::Throttle;
use sansraft::{Message, NodeId};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};

/// Messages queued for one peer; when full, further messages are dropped (Raft resends).
const PEER_QUEUE: usize = 4096;
/// A refusal or failure that strangers can cause is logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(1);

/// What both directions need to know about the cluster.
#[derive(Clone, Debug)]
pub(crate) struct PeerSecurity {
    pub(crate) me: NodeId,
    /// `None` with `--insecure-peers`: no handshake.
    pub(crate) secret: Option<Arc<ClusterSecret>>,
}

impl PeerSecurity {
    /// Authenticates a connection this node dialled to `peer`.
    async fn dial(&self, stream: &mut TcpStream, peer: NodeId) -> Result<(), HandshakeError> {
        match &self.secret {
            Some(secret) => handshake::dial(stream, secret, self.me, peer).await,
            None => Ok(()),
        }
    }

    /// Authenticates a connection `peers` dialled to this node: the dialler's id, or `None`
    /// when peers are not authenticated.
    async fn accept(
        &self,
        stream: &mut (impl AsyncRead + AsyncWrite + Unpin),
        peers: &BTreeSet<NodeId>,
    ) -> Result<Option<NodeId>, HandshakeError> {
        match &self.secret {
            Some(secret) => {
                let accepted = handshake::accept(stream, secret, self.me, peers);
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, accepted).await {
                    Ok(result) => result.map(Some),
                    Err(_) => Err(HandshakeError::TimedOut),
                }
            }
            None => Ok(None),
        }
    }
}

/// The sending side: one queue per peer, each drained by a task that keeps a connection open.
#[derive(Debug)]
pub(crate) struct Peers {
    queues: BTreeMap<NodeId, mpsc::Sender<Message>>,
    /// Messages dropped because a peer's queue was full or the peer is unknown.
    pub(crate) dropped: u64,
}

impl Peers {
    /// Starts a sender task for every peer in `addrs`; each sends a keepalive after `keepalive`
    /// without a message.
    pub(crate) fn start(
        addrs: &BTreeMap<NodeId, SocketAddr>,
        security: &PeerSecurity,
        keepalive: Duration,
    ) -> Peers {
        let queues = addrs
            .iter()
            .map(|(&id, &addr)| {
                let (tx, rx) = mpsc::channel(PEER_QUEUE);
                let link = Link {
                    peer: id,
                    addr,
                    security: security.clone(),
                    keepalive,
                };
                tokio::spawn(link.send_loop(rx));
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

/// One peer this node writes to.
#[derive(Debug)]
struct Link {
    peer: NodeId,
    addr: SocketAddr,
    security: PeerSecurity,
    keepalive: Duration,
}

impl Link {
    /// Keeps a connection to the peer and writes the queued messages to it. Messages queued
    /// while the peer is unreachable are dropped rather than delivered late.
    async fn send_loop(self, mut queue: mpsc::Receiver<Message>) {
        let (peer, addr) = (self.peer, self.addr);
        let mut backoff = Duration::from_millis(20);
        let mut refusals = Throttle::new(LOG_EVERY * 10);
        let mut buf = Vec::new();
        loop {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.connect()).await {
                Ok(Ok(stream)) => stream,
                failed => {
                    let error = failed.unwrap_or(Err(HandshakeError::TimedOut)).err();
                    match error {
                        Some(HandshakeError::Io(e)) => {
                            tracing::debug!(peer, %addr, error = %e, "cannot reach peer");
                        }
                        Some(e) => {
                            if let Some(held_back) = refusals.allow() {
                                tracing::warn!(peer, %addr, error = %e, held_back, "peer handshake failed");
                            }
                        }
                        None => {}
                    }
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
            tracing::info!(peer, %addr, "connected to peer");
            match self.carry(stream, &mut queue, &mut buf).await {
                Ok(()) => return, // the node loop hung up
                Err(e) => tracing::info!(peer, %addr, error = %e, "lost connection to peer"),
            }
        }
    }

    async fn connect(&self) -> Result<TcpStream, HandshakeError> {
        let mut stream = TcpStream::connect(self.addr).await?;
        let _ = stream.set_nodelay(true);
        self.security.dial(&mut stream, self.peer).await?;
        Ok(stream)
    }

    /// Writes queued messages, and keepalives when there are none, until the queue closes
    /// (`Ok`) or the connection does.
    async fn carry(
        &self,
        stream: TcpStream,
        queue: &mut mpsc::Receiver<Message>,
        buf: &mut Vec<u8>,
    ) -> io::Result<()> {
        let (mut reader, writer) = stream.into_split();
        let mut writer = BufWriter::new(writer);
        let mut probe = [0u8; 1];
        loop {
            tokio::select! {
                message = queue.recv() => {
                    let Some(message) = message else { return Ok(()) };
                    buf.clear();
                    frame::encode_frame(&message, buf);
                    writer.write_all(buf).await?;
                    // Write whatever else is queued, then flush once.
                    while let Ok(message) = queue.try_recv() {
                        buf.clear();
                        frame::encode_frame(&message, buf);
                        writer.write_all(buf).await?;
                    }
                    writer.flush().await?;
                }
                () = tokio::time::sleep(self.keepalive) => {
                    buf.clear();
                    frame::encode_keepalive(buf);
                    writer.write_all(buf).await?;
                    writer.flush().await?;
                }
                read = reader.read(&mut probe) => {
                    return Err(match read {
                        Ok(0) => io::Error::new(io::ErrorKind::UnexpectedEof, "closed by the peer"),
                        Ok(_) => io::Error::new(io::ErrorKind::InvalidData, "the peer wrote after the handshake"),
                        Err(e) => e,
                    });
                }
            }
        }
    }
}

/// What the peer port has refused, for `/status`.
#[derive(Debug, Default)]
pub(crate) struct PeerPortStats {
    /// Connections closed at once because the connection limit was reached.
    pub(crate) refused_connections: AtomicU64,
    /// Connections whose handshake failed or timed out.
    pub(crate) failed_handshakes: AtomicU64,
    /// Connections closed for a bad, oversized, stalled or idle frame.
    pub(crate) bad_frames: AtomicU64,
    /// Messages dropped because their `from` was not the authenticated peer.
    pub(crate) spoofed_messages: AtomicU64,
}

/// The receiving side's settings.
#[derive(Debug)]
pub(crate) struct PortConfig {
    pub(crate) security: PeerSecurity,
    /// The nodes that may dial in.
    pub(crate) peers: BTreeSet<NodeId>,
    pub(crate) limits: FrameLimits,
    /// Most connections open at once, handshakes in progress included.
    pub(crate) max_connections: usize,
}

/// What every connection task of the peer port shares.
#[derive(Debug)]
struct Port {
    config: PortConfig,
    stats: Arc<PeerPortStats>,
    inbound: mpsc::Sender<Message>,
    handshake_failures: Mutex<Throttle>,
}

/// Accepts peers' connections and forwards every message read to the node loop.
pub(crate) async fn listen(
    listener: TcpListener,
    config: PortConfig,
    stats: Arc<PeerPortStats>,
    inbound: mpsc::Sender<Message>,
) {
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let port = Arc::new(Port {
        config,
        stats,
        inbound,
        handshake_failures: Mutex::new(Throttle::new(LOG_EVERY)),
    });
    let mut refusals = Throttle::new(LOG_EVERY);
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a peer connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            port.stats
                .refused_connections
                .fetch_add(1, Ordering::Relaxed);
            if let Some(held_back) = refusals.allow() {
                tracing::warn!(
                    %addr,
                    limit = port.config.max_connections,
                    held_back,
                    "peer port at its connection limit (--max-peer-connections); refusing a connection"
                );
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let port = port.clone();
        tokio::spawn(async move {
            port.receive(stream, addr).await;
            drop(slot);
        });
    }
}

impl Port {
    async fn receive(&self, mut stream: impl AsyncRead + AsyncWrite + Unpin, addr: SocketAddr) {
        let config = &self.config;
        let peer = match config.security.accept(&mut stream, &config.peers).await {
            Ok(peer) => peer,
            Err(e) => {
                self.stats.failed_handshakes.fetch_add(1, Ordering::Relaxed);
                let allowed = self
                    .handshake_failures
                    .lock()
                    .expect("throttle lock")
                    .allow();
                if let Some(held_back) = allowed {
                    tracing::warn!(%addr, error = %e, held_back, "peer handshake failed; closing the connection");
                }
                return;
            }
        };
        if let Some(peer) = peer {
            tracing::info!(peer, %addr, "peer connected");
        }
        let mut reader = tokio::io::BufReader::new(stream);
        let mut buf = Vec::new();
        let mut spoofed = Throttle::new(LOG_EVERY);
        loop {
            match frame::read_frame(&mut reader, &mut buf, config.limits).await {
                Ok(Some(Frame::Message(message))) => {
                    let genuine = match peer {
                        Some(peer) => message.from == peer,
                        None => config.peers.contains(&message.from),
                    };
                    if !genuine {
                        self.stats.spoofed_messages.fetch_add(1, Ordering::Relaxed);
                        if let Some(held_back) = spoofed.allow() {
                            tracing::warn!(?peer, from = message.from, %addr, held_back, "dropped a message from another node than the connection's peer");
                        }
                        continue;
                    }
                    if self.inbound.send(message).await.is_err() {
                        return;
                    }
                }
                Ok(Some(Frame::Keepalive)) => {}
                Ok(None) => return,
                Err(FrameError::Io(e)) => {
                    tracing::debug!(?peer, %addr, error = %e, "peer connection closed");
                    return;
                }
                Err(e) => {
                    self.stats.bad_frames.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(?peer, %addr, error = %e, "bad frame from peer; closing the connection");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansraft::message::Heartbeat;
    use sansraft::Body;

    fn heartbeat(from: NodeId, term: u64) -> Message {
        Message {
            from,
            to: 1,
            term,
            body: Body::Heartbeat(Heartbeat {
                commit: 0,
                round: 1,
            }),
        }
    }

    /// Node 1's peer port (peers 2 and 3) with `secret`, reading one connection.
    fn port(secret: Option<Arc<ClusterSecret>>) -> (Arc<Port>, mpsc::Receiver<Message>) {
        let (inbound, rx) = mpsc::channel(16);
        let config = PortConfig {
            security: PeerSecurity { me: 1, secret },
            peers: [2, 3].into(),
            limits: FrameLimits {
                idle_timeout: Duration::from_secs(30),
                frame_timeout: Duration::from_secs(10),
            },
            max_connections: 4,
        };
        let port = Port {
            config,
            stats: Arc::default(),
            inbound,
            handshake_failures: Mutex::new(Throttle::new(LOG_EVERY)),
        };
        (Arc::new(port), rx)
    }

    fn secret() -> Arc<ClusterSecret> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("secret");
        std::fs::write(&path, [7; 32]).expect("write");
        Arc::new(ClusterSecret::read(&path).expect("secret"))
    }

    const ADDR: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
        std::net::Ipv4Addr::LOCALHOST,
        1,
    ));

    #[tokio::test]
    async fn only_messages_from_the_authenticated_peer_reach_the_node() {
        let secret = secret();
        let (port, mut inbound) = port(Some(secret.clone()));
        let (mut dialler, listener) = tokio::io::duplex(4096);
        let reader = tokio::spawn({
            let port = port.clone();
            async move { port.receive(listener, ADDR).await }
        });
        handshake::dial(&mut dialler, &secret, 2, 1)
            .await
            .expect("authenticated as node 2");
        let mut bytes = Vec::new();
        frame::encode_frame(&heartbeat(3, 1 << 40), &mut bytes); // node 2 speaking for node 3
        frame::encode_frame(&heartbeat(2, 4), &mut bytes);
        dialler.write_all(&bytes).await.expect("write");
        drop(dialler);
        reader.await.expect("reader");
        assert_eq!(inbound.try_recv(), Ok(heartbeat(2, 4)));
        assert!(
            inbound.try_recv().is_err(),
            "the spoofed message was dropped"
        );
        assert_eq!(port.stats.spoofed_messages.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_frame_without_a_handshake_never_reaches_the_node() {
        let (port, mut inbound) = port(Some(secret()));
        let (mut dialler, listener) = tokio::io::duplex(4096);
        let mut bytes = Vec::new();
        frame::encode_frame(&heartbeat(2, 1 << 40), &mut bytes);
        dialler.write_all(&bytes).await.expect("write");
        port.receive(listener, ADDR).await;
        assert!(inbound.try_recv().is_err());
        assert_eq!(port.stats.failed_handshakes.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn without_authentication_only_configured_peers_are_heard() {
        let (port, mut inbound) = port(None);
        let (mut dialler, listener) = tokio::io::duplex(4096);
        let mut bytes = Vec::new();
        frame::encode_frame(&heartbeat(99, 1 << 40), &mut bytes);
        frame::encode_keepalive(&mut bytes);
        frame::encode_frame(&heartbeat(3, 4), &mut bytes);
        dialler.write_all(&bytes).await.expect("write");
        drop(dialler);
        port.receive(listener, ADDR).await;
        assert_eq!(inbound.try_recv(), Ok(heartbeat(3, 4)));
        assert!(inbound.try_recv().is_err());
        assert_eq!(port.stats.spoofed_messages.load(Ordering::Relaxed), 1);
    }
}
