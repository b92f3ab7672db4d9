//! The peer network: batches of raft messages over TCP, one connection per pair of nodes, both
//! ways, shared by all the Raft groups the two nodes host (`--groups`).
//!
//! Of two nodes, the one with the lower id dials the other and keeps the connection open; the
//! connection opens with the handshake of [`crate::handshake`] (unless the cluster runs with
//! `--insecure-peers`), then carries frames ([`crate::frame`]) both ways. The dialler's first
//! frame is an empty batch from it, so that a listener without authentication knows whose
//! batches to write on the connection too. Each side writes its queued batches for the other,
//! and a keepalive when it has had nothing to send for a while. A connection that fails its
//! handshake, sends a bad frame or stays silent past the idle timeout is closed; the dialler
//! redials and Raft resends what was lost. The listener also reads, without writing back, a
//! connection from a peer it should dial itself (it writes only for peers with lower ids).
//!
//! What reaches the node loop comes from an authenticated peer and says it is from that peer: a
//! batch whose `from` is another node is dropped and counted (and the host drops an envelope
//! whose message claims another sender than its batch).

use crate::frame::{self, Frame, FrameError, FrameLimits};
use crate::handshake::{self, ClusterSecret, HandshakeError, HANDSHAKE_TIMEOUT};
use crate::throttle::Throttle;
use sansraft::NodeId;
use sansraft_multi::Batch;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
// Wall-clock time, outside the engine: the rate of new connections.
use tokio::time::Instant;

/// Batches queued for one peer; when full, further batches are dropped (Raft resends).
const PEER_QUEUE: usize = 4096;
/// A refusal or failure that strangers can cause is logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(1);
/// How long a refused connection (past the strangers' rate, or a failed handshake) is held
/// open, unread, before it is closed. A stranger that waits for the close before it
/// reconnects then comes back at most once per hold instead of at once: fewer new connections
/// to accept, which is what a flood costs.
const HOLD_REFUSED: Duration = Duration::from_secs(2);
/// Most connections held so, for each of the two causes; past it, the oldest held past the
/// rate is closed, and a failed handshake is closed at once.
pub(crate) const HOLD_REFUSED_MAX: usize = 512;

/// What both directions need to know about the cluster.
#[derive(Clone, Debug)]
pub(crate) struct PeerSecurity {
    pub(crate) me: NodeId,
    /// The number of groups (`--groups`), which a peer must share.
    pub(crate) groups: u64,
    /// `None` with `--insecure-peers`: no handshake.
    pub(crate) secret: Option<Arc<ClusterSecret>>,
}

impl PeerSecurity {
    /// Authenticates a connection this node dialled to `peer`.
    async fn dial(&self, stream: &mut TcpStream, peer: NodeId) -> Result<(), HandshakeError> {
        match &self.secret {
            Some(secret) => handshake::dial(stream, secret, self.me, peer, self.groups).await,
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
                let accepted = handshake::accept(stream, secret, self.me, peers, self.groups);
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, accepted).await {
                    Ok(result) => result.map(Some),
                    Err(_) => Err(HandshakeError::TimedOut),
                }
            }
            None => Ok(None),
        }
    }
}

/// The sending side: one queue per peer, drained by the task that keeps the connection open
/// (for a peer with a higher id) or by the connection the peer dialled in (a lower id).
#[derive(Debug)]
pub(crate) struct Peers {
    queues: BTreeMap<NodeId, mpsc::Sender<Batch>>,
    /// Batches dropped because a peer's queue was full or the peer is unknown.
    pub(crate) dropped: u64,
}

/// The queues of the peers that dial this node (lower ids): the connection a peer dials in
/// holds its queue while it lasts and writes the batches on it.
pub(crate) type Attachable = Arc<BTreeMap<NodeId, tokio::sync::Mutex<mpsc::Receiver<Batch>>>>;

/// Where the batches read from a connection go, and how it is read.
#[derive(Clone, Debug)]
pub(crate) struct Reading {
    pub(crate) inbound: mpsc::Sender<Batch>,
    pub(crate) limits: FrameLimits,
    pub(crate) stats: Arc<PeerPortStats>,
}

impl Peers {
    /// A queue for every peer in `addrs`, and a task dialling every peer with a higher id; each
    /// connection sends a keepalive after `keepalive` without a batch. The queues of the peers
    /// with lower ids are returned for the peer port ([`listen`]).
    pub(crate) fn start(
        addrs: &BTreeMap<NodeId, SocketAddr>,
        security: &PeerSecurity,
        keepalive: Duration,
        reading: &Reading,
    ) -> (Peers, Attachable) {
        let mut queues = BTreeMap::new();
        let mut attachable = BTreeMap::new();
        for (&id, &addr) in addrs {
            let (tx, rx) = mpsc::channel(PEER_QUEUE);
            queues.insert(id, tx);
            if id < security.me {
                attachable.insert(id, tokio::sync::Mutex::new(rx));
                continue;
            }
            let link = Link {
                peer: id,
                addr,
                security: security.clone(),
                keepalive,
                reading: reading.clone(),
            };
            tokio::spawn(link.send_loop(rx));
        }
        (Peers { queues, dropped: 0 }, Arc::new(attachable))
    }

    /// Best effort: a full queue or an unknown peer drops the batch.
    pub(crate) fn send(&mut self, batch: Batch) {
        let sent = self
            .queues
            .get(&batch.to)
            .is_some_and(|q| q.try_send(batch).is_ok());
        if !sent {
            self.dropped += 1;
        }
    }
}

/// One peer this node dials (a higher id).
#[derive(Debug)]
struct Link {
    peer: NodeId,
    addr: SocketAddr,
    security: PeerSecurity,
    keepalive: Duration,
    reading: Reading,
}

impl Link {
    /// Keeps a connection to the peer and writes the queued messages to it. Messages queued
    /// while the peer is unreachable are dropped rather than delivered late.
    async fn send_loop(self, mut queue: mpsc::Receiver<Batch>) {
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
                            let failed = &self.reading.stats.failed_handshakes;
                            failed.fetch_add(1, Ordering::Relaxed);
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

    /// Carries the connection both ways until the queue closes (`Ok`) or the connection does:
    /// first an empty batch saying who this node is, then the queued batches (and keepalives)
    /// out, the peer's batches in.
    async fn carry(
        &self,
        stream: TcpStream,
        queue: &mut mpsc::Receiver<Batch>,
        buf: &mut Vec<u8>,
    ) -> io::Result<()> {
        let (mut reader, mut writer) = stream.into_split();
        let hello = Batch {
            from: self.security.me,
            to: self.peer,
            envelopes: Vec::new(),
        };
        buf.clear();
        frame::encode_frames(&hello, buf);
        writer.write_all(buf).await?;
        let peers = BTreeSet::from([self.peer]);
        let mut identified = None;
        tokio::select! {
            written = write_batches(&mut writer, queue, self.keepalive, self.peer) => written,
            () = read_batches(&mut reader, Some(self.peer), &peers, self.addr, &self.reading, &mut identified) => {
                Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the connection closed or failed"))
            }
        }
    }
}

/// Encodes `batch` (as several frames if it is too large for one) and writes it.
async fn write_batch(
    peer: NodeId,
    batch: &Batch,
    writer: &mut (impl AsyncWrite + Unpin),
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    buf.clear();
    let dropped = frame::encode_frames(batch, buf);
    if dropped > 0 {
        tracing::warn!(peer, dropped, "a message too large for a frame was dropped");
    }
    writer.write_all(buf).await
}

/// Writes `queue`'s batches for `peer`, and a keepalive after `keepalive` without one, until the
/// queue closes (`Ok`: the node loop hung up) or the connection fails.
async fn write_batches(
    writer: &mut (impl AsyncWrite + Unpin),
    queue: &mut mpsc::Receiver<Batch>,
    keepalive: Duration,
    peer: NodeId,
) -> io::Result<()> {
    let mut writer = BufWriter::new(writer);
    let mut buf = Vec::new();
    loop {
        tokio::select! {
            batch = queue.recv() => {
                let Some(batch) = batch else { return Ok(()) };
                write_batch(peer, &batch, &mut writer, &mut buf).await?;
                // Write whatever else is queued, then flush once.
                while let Ok(batch) = queue.try_recv() {
                    write_batch(peer, &batch, &mut writer, &mut buf).await?;
                }
                writer.flush().await?;
            }
            () = tokio::time::sleep(keepalive) => {
                buf.clear();
                frame::encode_keepalive(&mut buf);
                writer.write_all(&buf).await?;
                writer.flush().await?;
            }
        }
    }
}

/// Reads `reader`'s batches for the node loop until the connection ends or fails: those from
/// `peer`, or, on a connection without authentication (`None`), from any of `peers`; a batch
/// from another node is dropped and counted. The sender of the first batch taken is told to
/// `identified`, if set: the node the connection speaks for.
async fn read_batches(
    reader: &mut (impl AsyncRead + Unpin),
    peer: Option<NodeId>,
    peers: &BTreeSet<NodeId>,
    addr: SocketAddr,
    reading: &Reading,
    identified: &mut Option<oneshot::Sender<NodeId>>,
) {
    let mut reader = tokio::io::BufReader::new(reader);
    let mut buf = Vec::new();
    let mut spoofed = Throttle::new(LOG_EVERY);
    loop {
        match frame::read_frame(&mut reader, &mut buf, reading.limits).await {
            Ok(Some(Frame::Batch(batch))) => {
                let genuine = match peer {
                    Some(peer) => batch.from == peer,
                    None => peers.contains(&batch.from),
                };
                if !genuine {
                    reading
                        .stats
                        .spoofed_messages
                        .fetch_add(1, Ordering::Relaxed);
                    if let Some(held_back) = spoofed.allow() {
                        tracing::warn!(?peer, from = batch.from, %addr, held_back, "dropped a batch from another node than the connection's peer");
                    }
                    continue;
                }
                if let Some(tell) = identified.take() {
                    let _ = tell.send(batch.from);
                }
                if reading.inbound.send(batch).await.is_err() {
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
                reading.stats.bad_frames.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(?peer, %addr, error = %e, "bad frame from peer; closing the connection");
                return;
            }
        }
    }
}

/// What the peer port has refused, for `/status`.
#[derive(Debug, Default)]
pub(crate) struct PeerPortStats {
    /// Unauthenticated connections closed to make room for a newer one, because their source
    /// Connections whose handshake failed or timed out, on the peer port or dialling a peer.
    pub(crate) evicted_connections: AtomicU64,
    /// Connections whose handshake failed or timed out.
    pub(crate) failed_handshakes: AtomicU64,
    /// Connections closed for a bad, oversized, stalled or idle frame.
    pub(crate) bad_frames: AtomicU64,
    /// Messages dropped because their `from` was not the authenticated peer.
    pub(crate) spoofed_messages: AtomicU64,
    /// Connections from strangers' addresses refused as soon as accepted (held, then closed),
    /// past `--max-stranger-connections-per-second`.
    pub(crate) rate_limited_connections: AtomicU64,
}

/// The receiving side's settings.
#[derive(Debug)]
pub(crate) struct PortConfig {
    pub(crate) security: PeerSecurity,
    /// The nodes that may dial in.
    pub(crate) peers: BTreeSet<NodeId>,
    pub(crate) limits: FrameLimits,
    /// The slots of unauthenticated connections (handshakes in progress; every connection with
    /// `--insecure-peers`).
    pub(crate) slots: SlotLimits,
    /// How many new connections a second the port takes from addresses that are not a peer's.
    pub(crate) stranger_rate: StrangerRate,
}

/// A rate of new connections: `per_second` on average, up to `burst` at once. A zero
/// `per_second` means no limit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StrangerRate {
    pub(crate) per_second: u32,
    pub(crate) burst: u32,
}

/// A token bucket over new connections from strangers' addresses, checked right after accept:
/// past the rate, a connection is refused before a task, a slot or a buffer is spent on it.
/// Addresses the peers listen on never go through it (they have the slots of
/// [`SlotLimits`], where a peer always gets in). The clock is the caller's: `now` is passed in.
#[derive(Debug)]
struct TokenBucket {
    rate: StrangerRate,
    /// Connections that may be admitted now, at most `rate.burst`.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    last: Option<Instant>,
}

impl TokenBucket {
    fn new(rate: StrangerRate) -> TokenBucket {
        TokenBucket {
            rate,
            tokens: f64::from(rate.burst.max(1)),
            last: None,
        }
    }

    /// Whether a connection arriving at `now` is admitted (and takes a token). An earlier
    /// `now` than the last one adds nothing.
    fn admit(&mut self, now: Instant) -> bool {
        if self.rate.per_second == 0 {
            return true;
        }
        let burst = f64::from(self.rate.burst.max(1));
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * f64::from(self.rate.per_second)).min(burst);
        }
        self.last = Some(self.last.map_or(now, |last| last.max(now)));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// How many unauthenticated connections the peer port holds, and from where.
///
/// A configured peer must always be able to connect, however many strangers try: a connection
/// is not refused when a limit is reached, the oldest unauthenticated connection that holds the
/// slot is closed instead (a peer's handshake takes a round trip; a stranger's stall, up to the
/// handshake timeout). Addresses the peers listen on have slots of their own, which strangers
/// elsewhere cannot take; each address, a peer's included, holds at most `per_address`.
/// Authenticated connections hold no slot: there is at most one per peer, a newer one
/// replacing the older.
#[derive(Clone, Debug)]
pub(crate) struct SlotLimits {
    /// Most unauthenticated connections at once from addresses that are not a peer's.
    pub(crate) strangers: usize,
    /// Most unauthenticated connections at once from one IP address.
    pub(crate) per_address: usize,
    /// The IP addresses of the configured peers' peer ports.
    pub(crate) peer_ips: BTreeSet<IpAddr>,
}

/// The connections the peer port holds; each can be closed through its sender.
#[derive(Debug)]
struct Slots {
    limits: SlotLimits,
    next_ticket: u64,
    /// Unauthenticated connections by ticket (oldest first) and source address.
    unauthenticated: BTreeMap<u64, (IpAddr, oneshot::Sender<()>)>,
    /// The tickets of each address's unauthenticated connections, oldest first.
    by_address: BTreeMap<IpAddr, BTreeSet<u64>>,
    /// The tickets of the unauthenticated connections from strangers' addresses, oldest first.
    strangers: BTreeSet<u64>,
    /// Each peer's authenticated connection.
    authenticated: BTreeMap<NodeId, (u64, oneshot::Sender<()>)>,
}

/// A connection's place in [`Slots`]; it is closed when its receiver fires.
#[derive(Debug)]
struct Ticket {
    id: u64,
    close: oneshot::Receiver<()>,
}

impl Slots {
    fn new(limits: SlotLimits) -> Slots {
        Slots {
            limits,
            next_ticket: 0,
            unauthenticated: BTreeMap::new(),
            by_address: BTreeMap::new(),
            strangers: BTreeSet::new(),
            authenticated: BTreeMap::new(),
        }
    }

    /// Admits a connection from `ip`. If `ip` holds all its slots, its oldest unauthenticated
    /// connection is closed; else if `ip` is a stranger's and the strangers hold all theirs,
    /// the oldest stranger's is. Returns the ticket and whether a connection was closed.
    fn admit(&mut self, ip: IpAddr) -> (Ticket, bool) {
        let ip = ip.to_canonical();
        let stranger = !self.limits.peer_ips.contains(&ip);
        let same = self.by_address.get(&ip);
        let victim = if same.map_or(0, BTreeSet::len) >= self.limits.per_address.max(1) {
            same.and_then(|tickets| tickets.first().copied())
        } else if stranger && self.strangers.len() >= self.limits.strangers.max(1) {
            self.strangers.first().copied()
        } else {
            None
        };
        // Dropping the sender closes the connection.
        let evicted = victim.and_then(|t| self.remove(t)).is_some();
        let (tx, close) = oneshot::channel();
        let id = self.next_ticket;
        self.next_ticket += 1;
        self.unauthenticated.insert(id, (ip, tx));
        self.by_address.entry(ip).or_default().insert(id);
        if stranger {
            self.strangers.insert(id);
        }
        (Ticket { id, close }, evicted)
    }

    /// Takes the unauthenticated connection `ticket` out of its slot.
    fn remove(&mut self, ticket: u64) -> Option<oneshot::Sender<()>> {
        let (ip, close) = self.unauthenticated.remove(&ticket)?;
        if let Some(tickets) = self.by_address.get_mut(&ip) {
            tickets.remove(&ticket);
            if tickets.is_empty() {
                self.by_address.remove(&ip);
            }
        }
        self.strangers.remove(&ticket);
        Some(close)
    }

    /// The connection `ticket` authenticated as `peer`: it leaves its slot and replaces the
    /// peer's previous connection, which is closed. False if it was closed meanwhile.
    fn authenticated(&mut self, ticket: u64, peer: NodeId) -> bool {
        let Some(close) = self.remove(ticket) else {
            return false;
        };
        self.authenticated.insert(peer, (ticket, close));
        true
    }

    /// The connection `ticket` is gone.
    fn release(&mut self, ticket: u64) {
        self.remove(ticket);
        self.authenticated.retain(|_, (t, _)| *t != ticket);
    }

    #[cfg(test)]
    fn unauthenticated(&self) -> usize {
        self.unauthenticated.len()
    }
}

/// What every connection task of the peer port shares.
#[derive(Debug)]
struct Port {
    config: PortConfig,
    stats: Arc<PeerPortStats>,
    reading: Reading,
    /// The queues of the peers that dial this node.
    attachable: Attachable,
    slots: Mutex<Slots>,
    handshake_failures: Mutex<Throttle>,
    evictions: Mutex<Throttle>,
    /// Used by the accept loop alone.
    stranger_rate: Mutex<(TokenBucket, Throttle)>,
    /// Places for connections held open after a failed handshake.
    held_after_failure: tokio::sync::Semaphore,
    /// How long they are held.
    hold: Duration,
}

/// Accepts peers' connections, forwards every batch read to the node loop, and writes on the
/// connection of each peer in `attachable` the batches queued for it.
pub(crate) async fn listen(
    listener: TcpListener,
    config: PortConfig,
    reading: Reading,
    attachable: Attachable,
) {
    let port = Arc::new(Port::new(config, reading, attachable));
    // Connections past the strangers' rate, closed when their time is up (oldest first).
    let mut held: std::collections::VecDeque<(Instant, TcpStream)> = Default::default();
    loop {
        let release = held.front().map(|(until, _)| *until);
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = sleep_until(release) => {
                let now = Instant::now();
                while held.front().is_some_and(|(until, _)| *until <= now) {
                    held.pop_front();
                }
                continue;
            }
        };
        let (stream, addr) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, most likely: wait for connections to close.
                tracing::warn!(error = %e, "accepting a peer connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let now = Instant::now();
        if !port.rate_admits(addr.ip(), now) {
            if held.len() >= HOLD_REFUSED_MAX {
                held.pop_front();
            }
            held.push_back((now + HOLD_REFUSED, stream));
            continue;
        }
        let _ = stream.set_nodelay(true);
        let ticket = port.admit(addr);
        tokio::spawn(port.clone().serve(stream, addr, ticket));
    }
}

/// Until `until`, or forever.
async fn sleep_until(until: Option<Instant>) {
    match until {
        Some(until) => tokio::time::sleep_until(until).await,
        None => std::future::pending().await,
    }
}

impl Port {
    fn new(config: PortConfig, reading: Reading, attachable: Attachable) -> Port {
        Port {
            stats: reading.stats.clone(),
            reading,
            attachable,
            slots: Mutex::new(Slots::new(config.slots.clone())),
            stranger_rate: Mutex::new((
                TokenBucket::new(config.stranger_rate),
                Throttle::new(LOG_EVERY),
            )),
            config,
            handshake_failures: Mutex::new(Throttle::new(LOG_EVERY)),
            evictions: Mutex::new(Throttle::new(LOG_EVERY)),
            held_after_failure: tokio::sync::Semaphore::new(HOLD_REFUSED_MAX),
            hold: HOLD_REFUSED,
        }
    }

    /// Whether a new connection from `ip` at `now` may go on to the handshake: always from a
    /// peer's address, else within `--max-stranger-connections-per-second`.
    fn rate_admits(&self, ip: IpAddr, now: Instant) -> bool {
        if self.config.slots.peer_ips.contains(&ip.to_canonical()) {
            return true;
        }
        let mut guard = self.stranger_rate.lock().expect("rate lock");
        let (bucket, refusals) = &mut *guard;
        if bucket.admit(now) {
            return true;
        }
        self.stats
            .rate_limited_connections
            .fetch_add(1, Ordering::Relaxed);
        if let Some(held_back) = refusals.allow() {
            tracing::warn!(
                %ip,
                per_second = bucket.rate.per_second,
                held_back,
                "peer port: new connections from addresses other than the peers' past \
                 --max-stranger-connections-per-second; holding them unread, then closing them"
            );
        }
        false
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().expect("slots lock")
    }

    /// Gives a new connection from `addr` a slot, closing an older one if need be.
    fn admit(&self, addr: SocketAddr) -> Ticket {
        let (ticket, evicted) = self.slots().admit(addr.ip());
        if evicted {
            self.stats
                .evicted_connections
                .fetch_add(1, Ordering::Relaxed);
            let allowed = self.evictions.lock().expect("throttle lock").allow();
            if let Some(held_back) = allowed {
                let limits = &self.config.slots;
                tracing::warn!(
                    %addr,
                    per_address = limits.per_address,
                    strangers = limits.strangers,
                    held_back,
                    "peer port at its limit of unauthenticated connections \
                     (--max-peer-connections-per-address, --max-peer-connections); \
                     closing the oldest to make room"
                );
            }
        }
        ticket
    }

    /// Reads the connection `ticket` admitted until it ends or is closed to make room.
    async fn serve(
        self: Arc<Self>,
        stream: impl AsyncRead + AsyncWrite + Unpin,
        addr: SocketAddr,
        ticket: Ticket,
    ) {
        let Ticket { id, mut close } = ticket;
        let mut stream = stream;
        let refused = tokio::select! {
            refused = self.receive(&mut stream, addr, id) => refused,
            _ = &mut close => {
                tracing::debug!(%addr, "peer connection closed to make room or replaced");
                false
            }
        };
        self.slots().release(id);
        // Held open, unread and without a slot, so that it is not redialled at once.
        if refused {
            if let Ok(_place) = self.held_after_failure.try_acquire() {
                tokio::time::sleep(self.hold).await;
            }
        }
        drop(stream);
    }

    /// Reads the connection until it ends; true if the handshake was refused (rather than
    /// cut off or timed out).
    async fn receive(
        &self,
        stream: &mut (impl AsyncRead + AsyncWrite + Unpin),
        addr: SocketAddr,
        ticket: u64,
    ) -> bool {
        let config = &self.config;
        let peer = match config.security.accept(stream, &config.peers).await {
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
                return !matches!(e, HandshakeError::Io(_) | HandshakeError::TimedOut);
            }
        };
        if let Some(peer) = peer {
            if !self.slots().authenticated(ticket, peer) {
                return false;
            }
            tracing::info!(peer, %addr, "peer connected");
        }
        // A peer authenticated by the handshake is known now; without authentication, by the
        // first batch it sends (the dialler's opening empty batch).
        let (tell, told) = oneshot::channel();
        let mut identified = Some(tell);
        if let Some(peer) = peer {
            if let Some(tell) = identified.take() {
                let _ = tell.send(peer);
            }
        }
        let (mut reader, mut writer) = tokio::io::split(stream);
        tokio::select! {
            () = read_batches(&mut reader, peer, &config.peers, addr, &self.reading, &mut identified) => {}
            () = self.write_attached(&mut writer, told) => {}
        }
        false
    }

    /// Writes on a connection the batches queued for the peer it speaks for (`told`), if that
    /// peer dials this node; else never returns (the connection is read only).
    async fn write_attached(
        &self,
        writer: &mut (impl AsyncWrite + Unpin),
        told: oneshot::Receiver<NodeId>,
    ) {
        let Ok(peer) = told.await else {
            return std::future::pending().await;
        };
        let Some(queue) = self.attachable.get(&peer) else {
            return std::future::pending().await;
        };
        // A newer connection of the peer waits here until the older one is gone.
        let mut queue = queue.lock().await;
        // Queued while the peer was away: stale, dropped as a dialler drops them.
        while queue.try_recv().is_ok() {}
        let keepalive = self.config.limits.idle_timeout / 4;
        if let Err(e) = write_batches(writer, &mut queue, keepalive, peer).await {
            tracing::debug!(peer, error = %e, "lost the connection the peer dialled");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansraft::message::Heartbeat;
    use sansraft::{Body, Message};
    use sansraft_multi::Envelope;
    use tokio::io::AsyncReadExt;

    /// A batch from `from` to node 1 holding one heartbeat of group 0 in `term`.
    fn heartbeat(from: NodeId, term: u64) -> Batch {
        let message = Message {
            from,
            to: 1,
            term,
            body: Body::Heartbeat(Heartbeat {
                commit: 0,
                round: 1,
                proof: None,
                quiesce: false,
            }),
        };
        Batch {
            from,
            to: 1,
            envelopes: vec![Envelope { group: 0, message }],
        }
    }

    /// Where a test port's batches go.
    fn reading(inbound: mpsc::Sender<Batch>) -> Reading {
        Reading {
            inbound,
            limits: FrameLimits {
                idle_timeout: Duration::from_secs(30),
                frame_timeout: Duration::from_secs(10),
            },
            stats: Arc::default(),
        }
    }

    /// Node 1's peer port configuration (peers 2 and 3, four places each for strangers and
    /// per address), with `secret`, the peers' addresses and the strangers' `(rate, burst)`.
    fn port_config(
        secret: Option<Arc<ClusterSecret>>,
        peer_ips: BTreeSet<IpAddr>,
        (per_second, burst): (u32, u32),
    ) -> PortConfig {
        PortConfig {
            security: PeerSecurity {
                me: 1,
                groups: 1,
                secret,
            },
            peers: [2, 3].into(),
            limits: FrameLimits {
                idle_timeout: Duration::from_secs(30),
                frame_timeout: Duration::from_secs(10),
            },
            slots: SlotLimits {
                strangers: 4,
                per_address: 4,
                peer_ips,
            },
            stranger_rate: StrangerRate { per_second, burst },
        }
    }

    /// Node 1's peer port (peers 2 and 3) with `secret`, reading one connection.
    fn port(secret: Option<Arc<ClusterSecret>>) -> (Arc<Port>, mpsc::Receiver<Batch>) {
        let (inbound, rx) = mpsc::channel(16);
        let config = port_config(secret, BTreeSet::new(), (0, 0));
        let mut port = Port::new(config, reading(inbound), Arc::default());
        port.hold = Duration::ZERO;
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
            async move {
                let ticket = port.admit(ADDR);
                port.serve(listener, ADDR, ticket).await
            }
        });
        handshake::dial(&mut dialler, &secret, 2, 1, 1)
            .await
            .expect("authenticated as node 2");
        let mut bytes = Vec::new();
        frame::encode_frames(&heartbeat(3, 1 << 40), &mut bytes); // node 2 speaking for node 3
        frame::encode_frames(&heartbeat(2, 4), &mut bytes);
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
        frame::encode_frames(&heartbeat(2, 1 << 40), &mut bytes);
        dialler.write_all(&bytes).await.expect("write");
        port.clone().serve(listener, ADDR, port.admit(ADDR)).await;
        assert!(inbound.try_recv().is_err());
        assert_eq!(port.stats.failed_handshakes.load(Ordering::Relaxed), 1);
    }

    /// Virtual time: the clock moves only when every task waits.
    #[tokio::test(start_paused = true)]
    async fn a_refused_handshake_is_held_open_without_a_slot_then_closed() {
        let (port, _inbound) = port(Some(secret()));
        let mut port = Arc::into_inner(port).expect("one owner");
        port.hold = Duration::from_secs(2);
        let port = Arc::new(port);
        let (mut dialler, listener) = tokio::io::duplex(4096);
        dialler.write_all(&[7; 100]).await.expect("write");
        let task = tokio::spawn(port.clone().serve(listener, ADDR, port.admit(ADDR)));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(port.stats.failed_handshakes.load(Ordering::Relaxed), 1);
        assert_eq!(port.slots().unauthenticated(), 0, "its slot is free");
        assert!(!task.is_finished(), "held open");
        tokio::time::sleep(Duration::from_millis(1001)).await;
        task.await.expect("closed");
        let mut byte = [0u8; 1];
        assert_eq!(dialler.read(&mut byte).await.expect("eof"), 0);
    }

    /// Node 1's port with node `peer`'s queue attachable: a connection from `peer` carries
    /// node 1's batches for it back.
    fn attaching_port(
        secret: Option<Arc<ClusterSecret>>,
        peer: NodeId,
    ) -> (Arc<Port>, mpsc::Sender<Batch>, mpsc::Receiver<Batch>) {
        let (inbound, taken) = mpsc::channel(16);
        let (queue, rx) = mpsc::channel(16);
        let config = port_config(secret, BTreeSet::new(), (0, 0));
        let attachable = Arc::new(BTreeMap::from([(peer, tokio::sync::Mutex::new(rx))]));
        let mut port = Port::new(config, reading(inbound), attachable);
        port.hold = Duration::ZERO;
        (Arc::new(port), queue, taken)
    }

    /// A batch from node 1 to `to`, empty.
    fn from_1(to: NodeId) -> Batch {
        Batch {
            from: 1,
            to,
            envelopes: Vec::new(),
        }
    }

    /// The next batch read from `stream`.
    async fn next_batch(stream: &mut tokio::io::DuplexStream) -> Batch {
        let limits = reading(mpsc::channel(1).0).limits;
        let mut buf = Vec::new();
        loop {
            match frame::read_frame(stream, &mut buf, limits).await {
                Ok(Some(Frame::Batch(batch))) => return batch,
                Ok(Some(Frame::Keepalive)) => {}
                other => panic!("{other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn the_peer_that_dials_in_gets_its_batches_on_the_same_connection() {
        let secret = secret();
        let (port, queue, _inbound) = attaching_port(Some(secret.clone()), 2);
        // Stale: queued before the peer connected, dropped.
        queue.try_send(from_1(99)).expect("queued");
        let (mut dialler, listener) = tokio::io::duplex(4096);
        let task = tokio::spawn({
            let port = port.clone();
            async move { port.clone().serve(listener, ADDR, port.admit(ADDR)).await }
        });
        handshake::dial(&mut dialler, &secret, 2, 1, 1)
            .await
            .expect("authenticated as node 2");
        // Once attached, node 1's batches for node 2 come back on the connection.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            queue.try_send(from_1(2)).expect("queued");
            let got = tokio::time::timeout(Duration::from_millis(100), next_batch(&mut dialler));
            if let Ok(batch) = got.await {
                assert_eq!(batch, from_1(2), "the stale batch was dropped");
                break;
            }
            assert!(Instant::now() < deadline, "nothing written back");
        }
        drop(dialler);
        task.await.expect("served");
    }

    #[tokio::test]
    async fn without_authentication_the_first_batch_says_whose_batches_to_write_back() {
        let (port, queue, mut inbound) = attaching_port(None, 3);
        let (mut dialler, listener) = tokio::io::duplex(4096);
        let task = tokio::spawn({
            let port = port.clone();
            async move { port.clone().serve(listener, ADDR, port.admit(ADDR)).await }
        });
        let mut bytes = Vec::new();
        frame::encode_frames(
            &Batch {
                from: 3,
                to: 1,
                envelopes: Vec::new(),
            },
            &mut bytes,
        );
        dialler.write_all(&bytes).await.expect("write");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            queue.try_send(from_1(3)).expect("queued");
            let got = tokio::time::timeout(Duration::from_millis(100), next_batch(&mut dialler));
            if let Ok(batch) = got.await {
                assert_eq!(batch, from_1(3));
                assert_eq!(inbound.recv().await.map(|b| b.from), Some(3));
                break;
            }
            assert!(Instant::now() < deadline, "nothing written back");
        }
        drop(dialler);
        task.await.expect("served");
    }

    #[tokio::test]
    async fn without_authentication_only_configured_peers_are_heard() {
        let (port, mut inbound) = port(None);
        let (mut dialler, listener) = tokio::io::duplex(4096);
        let mut bytes = Vec::new();
        frame::encode_frames(&heartbeat(99, 1 << 40), &mut bytes);
        frame::encode_keepalive(&mut bytes);
        frame::encode_frames(&heartbeat(3, 4), &mut bytes);
        dialler.write_all(&bytes).await.expect("write");
        drop(dialler);
        port.clone().serve(listener, ADDR, port.admit(ADDR)).await;
        assert_eq!(inbound.try_recv(), Ok(heartbeat(3, 4)));
        assert!(inbound.try_recv().is_err());
        assert_eq!(port.stats.spoofed_messages.load(Ordering::Relaxed), 1);
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, last))
    }

    /// The connection `ticket` was closed to make room.
    fn closed(ticket: &mut Ticket) -> bool {
        matches!(
            ticket.close.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        )
    }

    fn slots(strangers: usize, per_address: usize) -> Slots {
        Slots::new(SlotLimits {
            strangers,
            per_address,
            peer_ips: [ip(2), ip(3)].into(),
        })
    }

    #[test]
    fn an_address_at_its_limit_loses_its_oldest_connection() {
        let mut slots = slots(100, 2);
        let (mut first, _) = slots.admit(ip(9));
        let (mut second, _) = slots.admit(ip(9));
        let (mut other, _) = slots.admit(ip(8));
        let (mut third, evicted) = slots.admit(ip(9));
        assert!(evicted);
        assert!(closed(&mut first));
        assert!(!closed(&mut second) && !closed(&mut third) && !closed(&mut other));
        assert_eq!(slots.unauthenticated(), 3);
        // A peer's address has the same limit: a stalled connection there cannot lock it.
        let (mut stalled, _) = slots.admit(ip(2));
        slots.admit(ip(2));
        let (mut peer, evicted) = slots.admit(ip(2));
        assert!(evicted && closed(&mut stalled));
        assert!(slots.authenticated(peer.id, 2) && !closed(&mut peer));
    }

    #[test]
    fn strangers_cannot_take_the_slots_of_the_peers_addresses() {
        let mut slots = slots(3, 100);
        let (mut peer, _) = slots.admit(ip(2));
        let mut strangers: Vec<Ticket> = (10..20).map(|i| slots.admit(ip(i)).0).collect();
        assert!(!closed(&mut peer), "the strangers took a peer's slot");
        let open = strangers.iter_mut().map(closed).filter(|c| !c).count();
        assert_eq!(open, 3, "the newest strangers keep their slots");
        assert!(!closed(strangers.last_mut().expect("a stranger")));
        assert!(slots.authenticated(peer.id, 2));
        // A stranger closed to make room never counts as authenticated.
        assert!(!slots.authenticated(strangers[0].id, 3));
    }

    #[test]
    fn an_authenticated_connection_holds_no_slot_and_replaces_the_peers_older_one() {
        let mut slots = slots(1, 1);
        let (mut old, _) = slots.admit(ip(2));
        assert!(slots.authenticated(old.id, 2));
        assert_eq!(slots.unauthenticated(), 0);
        let (mut stranger, _) = slots.admit(ip(2));
        assert!(
            !closed(&mut old),
            "an authenticated connection is not evicted"
        );
        let (new, evicted) = slots.admit(ip(2));
        assert!(evicted && closed(&mut stranger));
        assert!(slots.authenticated(new.id, 2));
        assert!(
            closed(&mut old),
            "the older connection of the peer is replaced"
        );
        slots.release(new.id);
        assert!(slots.authenticated.is_empty() && slots.unauthenticated.is_empty());
        assert!(slots.by_address.is_empty() && slots.strangers.is_empty());
    }

    fn bucket(per_second: u32, burst: u32) -> TokenBucket {
        TokenBucket::new(StrangerRate { per_second, burst })
    }

    /// Explicit instants: nothing here depends on how fast the test runs.
    #[test]
    fn the_bucket_admits_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut bucket = bucket(10, 3);
        assert!((0..3).all(|_| bucket.admit(t0)), "the burst");
        assert!(!bucket.admit(t0), "past the burst");
        assert!(!bucket.admit(at(99)), "0.99 of a token");
        assert!(bucket.admit(at(100)), "one token a tenth of a second");
        assert!(!bucket.admit(at(100)));
        // A long pause refills up to the burst, not beyond.
        assert!((0..3).all(|_| bucket.admit(at(60_000))));
        assert!(!bucket.admit(at(60_000)));
        // An instant earlier than the last one adds nothing.
        assert!(!bucket.admit(at(59_000)));
        assert!(bucket.admit(at(60_100)));
    }

    #[test]
    fn over_a_second_the_bucket_admits_the_rate_plus_the_burst() {
        let t0 = Instant::now();
        let mut bucket = bucket(100, 64);
        // 10,000 connections a second, for a second.
        let admitted = (0..10_000)
            .filter(|&i| bucket.admit(t0 + Duration::from_micros(i * 100)))
            .count();
        assert!((163..=165).contains(&admitted), "{admitted}");
    }

    #[test]
    fn a_zero_rate_is_no_limit() {
        let t0 = Instant::now();
        let mut bucket = bucket(0, 0);
        assert!((0..100_000).all(|_| bucket.admit(t0)));
    }

    #[test]
    fn the_peers_addresses_are_never_held_to_the_rate() {
        let (inbound, _rx) = mpsc::channel(1);
        let inbound = reading(inbound);
        let config = port_config(None, [ip(2), ip(3)].into(), (1, 2));
        let port = Port::new(config, inbound, Arc::default());
        let t0 = Instant::now();
        let strangers = (0..10)
            .filter(|&i| port.rate_admits(ip(10 + i), t0))
            .count();
        assert_eq!(
            strangers, 2,
            "the burst, shared by every stranger's address"
        );
        assert!((0..1000).all(|_| port.rate_admits(ip(2), t0)));
        // The same address written as IPv4-mapped IPv6 is the peer's too.
        let mapped = IpAddr::V6(std::net::Ipv4Addr::new(10, 0, 0, 3).to_ipv6_mapped());
        assert!(port.rate_admits(mapped, t0));
        assert!(!port.rate_admits(ip(10), t0));
        assert!(port.rate_admits(ip(10), t0 + Duration::from_secs(1)));
        assert_eq!(
            port.stats.rate_limited_connections.load(Ordering::Relaxed),
            9
        );
    }

    #[tokio::test]
    async fn a_peer_gets_in_while_stalled_connections_hold_every_slot() {
        let secret = secret();
        let (port, mut inbound) = port(Some(secret.clone()));
        // Four connections from the same address that never say anything fill its slots.
        let mut stalled = Vec::new();
        for _ in 0..4 {
            let (dialler, listener) = tokio::io::duplex(4096);
            let task = tokio::spawn(port.clone().serve(listener, ADDR, port.admit(ADDR)));
            stalled.push((dialler, task));
        }
        let (mut dialler, listener) = tokio::io::duplex(4096);
        let reader = tokio::spawn(port.clone().serve(listener, ADDR, port.admit(ADDR)));
        handshake::dial(&mut dialler, &secret, 2, 1, 1)
            .await
            .expect("authenticated as node 2");
        let mut bytes = Vec::new();
        frame::encode_frames(&heartbeat(2, 4), &mut bytes);
        dialler.write_all(&bytes).await.expect("write");
        assert_eq!(inbound.recv().await, Some(heartbeat(2, 4)));
        // The oldest stalled connection was closed to make room.
        let (_, oldest) = stalled.remove(0);
        oldest.await.expect("closed");
        assert_eq!(port.stats.evicted_connections.load(Ordering::Relaxed), 1);
        drop(dialler);
        reader.await.expect("reader");
        assert_eq!(port.slots().unauthenticated(), 3);
    }
}
