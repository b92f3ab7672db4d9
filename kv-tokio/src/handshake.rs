//! Peer authentication: a mutual challenge-response over a shared cluster secret, HMAC-SHA256.
//!
//! The dialler opens with `hello`, the listener answers with `challenge`, the dialler ends with
//! `proof`; after that the connection carries frames both ways ([`crate::frame`]).
//!
//! ```text
//! hello     (65 bytes)  MAGIC (8) | VERSION (1) | dialler id (8) | listener id (8) | groups (8) | dialler nonce (32)
//! challenge (81 bytes)  VERSION (1) | listener id (8) | groups (8) | listener nonce (32) | MAC(secret, "L" ...) (32)
//! proof     (32 bytes)  MAC(secret, "D" ...)
//!
//! MAC input: LABEL | role ("D" or "L") | dialler id | listener id | groups | dialler nonce | listener nonce
//! ```
//!
//! Ids are big-endian, nonces 32 bytes from the operating system's generator. Each side proves
//! it knows the secret by a MAC over both nonces, so neither proof can be replayed on another
//! connection, and over both ids and its role, so a proof cannot be reflected back to the side
//! that asked for it. The label names the protocol and its version (domain separation). The
//! listener accepts only a dialler that names itself as a configured peer, other than the
//! listener, and names the listener's own id. MACs are compared in constant time. Both sides
//! say how many Raft groups they shard the keys into (`--groups`) and refuse a peer that says
//! another number: every key's group depends on it.
//!
//! This authenticates a connection when it opens; it does not encrypt or sign the frames that
//! follow. Mutual TLS would add both, at the cost of certificates to issue and rotate.

use hmac::{Hmac, Mac};
use sansraft::NodeId;
use sha2::Sha256;
use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Opens every dialler's `hello`.
const MAGIC: [u8; 8] = *b"SRKVPEER";
/// The peer protocol's version: the handshake's and the frames' encoding (2: vote requests
/// carry the candidate's configuration entry, heartbeats freshness proofs and their answers
/// stamps; 3: a frame carries a `sansraft_multi::Batch` of every group's messages, not one
/// message). Peers of another version are refused at the handshake.
const VERSION: u8 = 3;
/// Domain separation: what the MACs are for, with the protocol's version.
const LABEL: &[u8] = b"sansraft kv-tokio peer handshake v1\0";
const NONCE_BYTES: usize = 32;
const MAC_BYTES: usize = 32;
const HELLO_BYTES: usize = 8 + 1 + 8 + 8 + 8 + NONCE_BYTES;
const CHALLENGE_BYTES: usize = 1 + 8 + 8 + NONCE_BYTES + MAC_BYTES;
/// Where the hello's dialler nonce starts, and the challenge's listener nonce.
const HELLO_NONCE_AT: usize = 33;
const CHALLENGE_NONCE_AT: usize = 17;
/// Shortest secret accepted.
pub(crate) const MIN_SECRET_BYTES: usize = 16;
/// How long either side waits for the whole handshake.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);

/// The secret every node of the cluster shares: the bytes of a file, as they are.
#[derive(Clone)]
pub(crate) struct ClusterSecret(Vec<u8>);

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClusterSecret({} bytes)", self.0.len())
    }
}

/// Why the secret file cannot be used.
#[derive(Debug)]
pub(crate) enum SecretError {
    Read { path: PathBuf, error: io::Error },
    TooShort { path: PathBuf, len: usize },
}

impl std::fmt::Display for SecretError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretError::Read { path, error } => {
                write!(
                    f,
                    "cannot read the cluster secret {}: {error}",
                    path.display()
                )
            }
            SecretError::TooShort { path, len } => write!(
                f,
                "the cluster secret {} holds {len} bytes, fewer than {MIN_SECRET_BYTES}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for SecretError {}

impl ClusterSecret {
    /// Reads the secret from `path`; fewer than [`MIN_SECRET_BYTES`] bytes is an error.
    pub(crate) fn read(path: &Path) -> Result<ClusterSecret, SecretError> {
        let bytes = std::fs::read(path).map_err(|error| SecretError::Read {
            path: path.to_owned(),
            error,
        })?;
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(SecretError::TooShort {
                path: path.to_owned(),
                len: bytes.len(),
            });
        }
        Ok(ClusterSecret(bytes))
    }
}

/// Why a handshake failed.
#[derive(Debug)]
pub(crate) enum HandshakeError {
    Io(io::Error),
    /// The other side does not speak this protocol.
    NotAPeer,
    UnsupportedVersion(u8),
    /// The dialler named an id that is not a configured peer.
    UnknownPeer(NodeId),
    /// The dialler asked for another node than this one.
    NotMe {
        asked_for: NodeId,
    },
    /// The listener is another node than the one dialled.
    WrongPeer {
        expected: NodeId,
        got: NodeId,
    },
    /// The other side shards the keys into another number of groups (`--groups`).
    GroupCount {
        ours: u64,
        theirs: u64,
    },
    /// The other side's MAC is wrong: it does not know the secret (or replayed an old proof).
    BadProof,
    /// Not done within [`HANDSHAKE_TIMEOUT`].
    TimedOut,
    /// The operating system gave no random bytes.
    Random(getrandom::Error),
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeError::Io(e) => write!(f, "connection: {e}"),
            HandshakeError::NotAPeer => write!(f, "not a kv-tokio peer handshake"),
            HandshakeError::UnsupportedVersion(v) => {
                write!(f, "handshake version {v}, expected {VERSION}")
            }
            HandshakeError::UnknownPeer(id) => write!(f, "node {id} is not a configured peer"),
            HandshakeError::NotMe { asked_for } => write!(f, "dialled for node {asked_for}"),
            HandshakeError::WrongPeer { expected, got } => {
                write!(f, "expected node {expected}, reached node {got}")
            }
            HandshakeError::GroupCount { ours, theirs } => write!(
                f,
                "the peer runs with --groups {theirs}, this node with --groups {ours}; \
                 every node of a cluster must run with the same number"
            ),
            HandshakeError::BadProof => write!(f, "wrong proof of the cluster secret"),
            HandshakeError::TimedOut => write!(f, "not done within {HANDSHAKE_TIMEOUT:?}"),
            HandshakeError::Random(e) => write!(f, "no random bytes for a nonce: {e}"),
        }
    }
}

impl std::error::Error for HandshakeError {}

impl From<io::Error> for HandshakeError {
    fn from(e: io::Error) -> Self {
        HandshakeError::Io(e)
    }
}

/// Which side a MAC speaks for.
#[derive(Clone, Copy, Debug)]
enum Role {
    Dialler,
    Listener,
}

/// What both MACs cover.
#[derive(Debug)]
struct Transcript {
    dialler: NodeId,
    listener: NodeId,
    groups: u64,
    dialler_nonce: [u8; NONCE_BYTES],
    listener_nonce: [u8; NONCE_BYTES],
}

impl Transcript {
    fn mac(&self, secret: &ClusterSecret, role: Role) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&secret.0).expect("HMAC takes a key of any length");
        mac.update(LABEL);
        mac.update(match role {
            Role::Dialler => b"D",
            Role::Listener => b"L",
        });
        mac.update(&self.dialler.to_be_bytes());
        mac.update(&self.listener.to_be_bytes());
        mac.update(&self.groups.to_be_bytes());
        mac.update(&self.dialler_nonce);
        mac.update(&self.listener_nonce);
        mac
    }

    fn tag(&self, secret: &ClusterSecret, role: Role) -> [u8; MAC_BYTES] {
        self.mac(secret, role).finalize().into_bytes().into()
    }

    /// Constant-time comparison.
    fn verify(&self, secret: &ClusterSecret, role: Role, tag: &[u8]) -> Result<(), HandshakeError> {
        self.mac(secret, role)
            .verify_slice(tag)
            .map_err(|_| HandshakeError::BadProof)
    }
}

fn nonce() -> Result<[u8; NONCE_BYTES], HandshakeError> {
    let mut nonce = [0; NONCE_BYTES];
    getrandom::fill(&mut nonce).map_err(HandshakeError::Random)?;
    Ok(nonce)
}

fn id_at(bytes: &[u8], at: usize) -> NodeId {
    NodeId::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// The dialler's side: proves to node `peer` that node `me`, running `groups` groups, knows the
/// secret, and checks that `peer` does too and runs as many groups.
pub(crate) async fn dial(
    stream: &mut (impl AsyncRead + AsyncWrite + Unpin),
    secret: &ClusterSecret,
    me: NodeId,
    peer: NodeId,
    groups: u64,
) -> Result<(), HandshakeError> {
    let dialler_nonce = nonce()?;
    let mut hello = Vec::with_capacity(HELLO_BYTES);
    hello.extend_from_slice(&MAGIC);
    hello.push(VERSION);
    hello.extend_from_slice(&me.to_be_bytes());
    hello.extend_from_slice(&peer.to_be_bytes());
    hello.extend_from_slice(&groups.to_be_bytes());
    hello.extend_from_slice(&dialler_nonce);
    stream.write_all(&hello).await?;
    stream.flush().await?;

    let mut challenge = [0u8; CHALLENGE_BYTES];
    stream.read_exact(&mut challenge).await?;
    if challenge[0] != VERSION {
        return Err(HandshakeError::UnsupportedVersion(challenge[0]));
    }
    let listener = id_at(&challenge, 1);
    if listener != peer {
        return Err(HandshakeError::WrongPeer {
            expected: peer,
            got: listener,
        });
    }
    let theirs = id_at(&challenge, 9);
    if theirs != groups {
        return Err(HandshakeError::GroupCount {
            ours: groups,
            theirs,
        });
    }
    let transcript = Transcript {
        dialler: me,
        listener,
        groups,
        dialler_nonce,
        listener_nonce: challenge[CHALLENGE_NONCE_AT..CHALLENGE_NONCE_AT + NONCE_BYTES]
            .try_into()
            .expect("a nonce"),
    };
    transcript.verify(
        secret,
        Role::Listener,
        &challenge[CHALLENGE_NONCE_AT + NONCE_BYTES..],
    )?;
    stream
        .write_all(&transcript.tag(secret, Role::Dialler))
        .await?;
    stream.flush().await?;
    Ok(())
}

/// The listener's side: checks that the dialler is one of `peers`, runs `groups` groups and
/// knows the secret, proving that node `me` does too. Returns the dialler's id.
pub(crate) async fn accept(
    stream: &mut (impl AsyncRead + AsyncWrite + Unpin),
    secret: &ClusterSecret,
    me: NodeId,
    peers: &BTreeSet<NodeId>,
    groups: u64,
) -> Result<NodeId, HandshakeError> {
    let mut hello = [0u8; HELLO_BYTES];
    // The magic first, so that a stranger is told apart before more is awaited.
    stream.read_exact(&mut hello[..MAGIC.len()]).await?;
    if hello[..MAGIC.len()] != MAGIC {
        return Err(HandshakeError::NotAPeer);
    }
    stream.read_exact(&mut hello[MAGIC.len()..]).await?;
    let version = hello[MAGIC.len()];
    if version != VERSION {
        return Err(HandshakeError::UnsupportedVersion(version));
    }
    let dialler = id_at(&hello, 9);
    if dialler == me || !peers.contains(&dialler) {
        return Err(HandshakeError::UnknownPeer(dialler));
    }
    let asked_for = id_at(&hello, 17);
    if asked_for != me {
        return Err(HandshakeError::NotMe { asked_for });
    }
    let theirs = id_at(&hello, 25);
    let transcript = Transcript {
        dialler,
        listener: me,
        groups,
        dialler_nonce: hello[HELLO_NONCE_AT..].try_into().expect("a nonce"),
        listener_nonce: nonce()?,
    };
    let mut challenge = Vec::with_capacity(CHALLENGE_BYTES);
    challenge.push(VERSION);
    challenge.extend_from_slice(&me.to_be_bytes());
    challenge.extend_from_slice(&groups.to_be_bytes());
    challenge.extend_from_slice(&transcript.listener_nonce);
    challenge.extend_from_slice(&transcript.tag(secret, Role::Listener));
    stream.write_all(&challenge).await?;
    stream.flush().await?;
    if theirs != groups {
        // After the challenge, which tells the dialler our number: both sides log why.
        return Err(HandshakeError::GroupCount {
            ours: groups,
            theirs,
        });
    }

    let mut proof = [0u8; MAC_BYTES];
    stream.read_exact(&mut proof).await?;
    transcript.verify(secret, Role::Dialler, &proof)?;
    Ok(dialler)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::DuplexStream;

    fn secret(byte: u8) -> ClusterSecret {
        ClusterSecret(vec![byte; 32])
    }

    fn peers() -> BTreeSet<NodeId> {
        [1, 2, 3].into()
    }

    /// Runs `dial` as node `me` with `dial_secret` against `accept` as node 2 with secret 1.
    async fn run(
        me: NodeId,
        dial_secret: ClusterSecret,
    ) -> (Result<(), HandshakeError>, Result<NodeId, HandshakeError>) {
        let (mut a, mut b) = tokio::io::duplex(1024);
        let dialler = tokio::spawn(async move {
            let result = dial(&mut a, &dial_secret, me, 2, 1).await;
            drop(a);
            result
        });
        let accepted = accept(&mut b, &secret(1), 2, &peers(), 1).await;
        drop(b);
        (dialler.await.expect("dialler"), accepted)
    }

    #[tokio::test]
    async fn the_right_secret_authenticates_both_sides() {
        let (dialled, accepted) = run(3, secret(1)).await;
        dialled.expect("the dialler accepts the listener");
        assert_eq!(accepted.expect("the listener accepts the dialler"), 3);
    }

    #[tokio::test]
    async fn a_wrong_secret_is_refused_by_both_sides() {
        let (dialled, accepted) = run(3, secret(9)).await;
        assert!(
            matches!(dialled, Err(HandshakeError::BadProof)),
            "{dialled:?}"
        );
        // The dialler hung up instead of proving anything.
        assert!(
            matches!(accepted, Err(HandshakeError::Io(_))),
            "{accepted:?}"
        );

        // A dialler that answers anyway, with a MAC under the wrong secret.
        let (mut a, mut b) = tokio::io::duplex(1024);
        let listener =
            tokio::spawn(async move { accept(&mut b, &secret(1), 2, &peers(), 1).await });
        let (hello, challenge) = open(&mut a, 3, 2, [5; NONCE_BYTES]).await;
        let transcript = transcript_of(&hello, &challenge);
        a.write_all(&transcript.tag(&secret(9), Role::Dialler))
            .await
            .expect("write");
        let accepted = listener.await.expect("listener");
        assert!(
            matches!(accepted, Err(HandshakeError::BadProof)),
            "{accepted:?}"
        );
    }

    #[tokio::test]
    async fn an_unknown_or_own_id_and_a_wrong_listener_are_refused() {
        for (me, asked_for, want) in [
            (7, 2, "node 7 is not"),
            (2, 2, "node 2 is not"),
            (3, 1, "dialled for node 1"),
        ] {
            let (mut a, mut b) = tokio::io::duplex(1024);
            a.write_all(&hello_bytes(me, asked_for, [5; NONCE_BYTES]))
                .await
                .expect("write");
            let got = accept(&mut b, &secret(1), 2, &peers(), 1).await;
            assert!(
                matches!(&got, Err(e) if e.to_string().starts_with(want)),
                "{got:?}"
            );
        }
        // The dialler checks the listener's id.
        let (mut a, mut b) = tokio::io::duplex(1024);
        let listener = tokio::spawn(async move {
            let mut hello = [0; HELLO_BYTES];
            b.read_exact(&mut hello).await.expect("read");
            let mut challenge = vec![VERSION];
            challenge.extend_from_slice(&5u64.to_be_bytes());
            challenge.extend_from_slice(&1u64.to_be_bytes());
            challenge.extend_from_slice(&[0; NONCE_BYTES + MAC_BYTES]);
            b.write_all(&challenge).await.expect("write");
            b
        });
        let got = dial(&mut a, &secret(1), 3, 2, 1).await;
        assert!(
            matches!(
                got,
                Err(HandshakeError::WrongPeer {
                    expected: 2,
                    got: 5
                })
            ),
            "{got:?}"
        );
        drop(listener.await.expect("listener"));
    }

    #[tokio::test]
    async fn a_replayed_proof_or_one_for_another_nonce_is_refused() {
        // A dialler that knows the secret, recorded.
        let (mut a, mut b) = tokio::io::duplex(1024);
        let listener =
            tokio::spawn(async move { accept(&mut b, &secret(1), 2, &peers(), 1).await });
        let (hello, challenge) = open(&mut a, 3, 2, [5; NONCE_BYTES]).await;
        let proof = transcript_of(&hello, &challenge).tag(&secret(1), Role::Dialler);
        a.write_all(&proof).await.expect("write");
        assert_eq!(listener.await.expect("listener").expect("accepted"), 3);

        // Someone who saw it sends the same bytes again: the listener's nonce is new.
        let (mut a, mut b) = tokio::io::duplex(1024);
        let listener =
            tokio::spawn(async move { accept(&mut b, &secret(1), 2, &peers(), 1).await });
        a.write_all(&hello).await.expect("write");
        a.write_all(&proof).await.expect("write");
        let got = listener.await.expect("listener");
        assert!(matches!(got, Err(HandshakeError::BadProof)), "{got:?}");

        // A proof over another listener nonce than the one sent.
        let (mut a, mut b) = tokio::io::duplex(1024);
        let listener =
            tokio::spawn(async move { accept(&mut b, &secret(1), 2, &peers(), 1).await });
        let (hello, challenge) = open(&mut a, 3, 2, [5; NONCE_BYTES]).await;
        let mut transcript = transcript_of(&hello, &challenge);
        transcript.listener_nonce[0] ^= 1;
        a.write_all(&transcript.tag(&secret(1), Role::Dialler))
            .await
            .expect("write");
        let got = listener.await.expect("listener");
        assert!(matches!(got, Err(HandshakeError::BadProof)), "{got:?}");

        // The listener's own MAC sent back as the dialler's proof (reflection).
        let (mut a, mut b) = tokio::io::duplex(1024);
        let listener =
            tokio::spawn(async move { accept(&mut b, &secret(1), 2, &peers(), 1).await });
        let (_, challenge) = open(&mut a, 3, 2, [5; NONCE_BYTES]).await;
        a.write_all(&challenge[CHALLENGE_NONCE_AT + NONCE_BYTES..])
            .await
            .expect("write");
        let got = listener.await.expect("listener");
        assert!(matches!(got, Err(HandshakeError::BadProof)), "{got:?}");
    }

    #[tokio::test]
    async fn truncated_or_foreign_input_is_an_error() {
        let hello = hello_bytes(3, 2, [5; NONCE_BYTES]);
        for cut in [0, 4, 8, 20, HELLO_BYTES - 1] {
            let (mut a, mut b) = tokio::io::duplex(1024);
            a.write_all(&hello[..cut]).await.expect("write");
            drop(a);
            let got = accept(&mut b, &secret(1), 2, &peers(), 1).await;
            assert!(
                matches!(&got, Err(HandshakeError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof),
                "cut at {cut}: {got:?}"
            );
        }
        // A raft frame header where the hello belongs.
        let (mut a, mut b) = tokio::io::duplex(1024);
        a.write_all(&[0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff])
            .await
            .expect("write");
        let got = accept(&mut b, &secret(1), 2, &peers(), 1).await;
        assert!(matches!(got, Err(HandshakeError::NotAPeer)), "{got:?}");
        // Another version.
        for version in [VERSION - 1, VERSION + 1] {
            let mut other = hello.clone();
            other[8] = version;
            let (mut a, mut b) = tokio::io::duplex(1024);
            a.write_all(&other).await.expect("write");
            let got = accept(&mut b, &secret(1), 2, &peers(), 1).await;
            assert!(
                matches!(got, Err(HandshakeError::UnsupportedVersion(v)) if v == version),
                "{got:?}"
            );
        }
        // A listener that hangs up in its challenge.
        let (mut a, mut b) = tokio::io::duplex(1024);
        let listener = tokio::spawn(async move {
            let mut hello = [0; HELLO_BYTES];
            b.read_exact(&mut hello).await.expect("read");
            b.write_all(&[VERSION, 0, 0]).await.expect("write");
        });
        let got = dial(&mut a, &secret(1), 3, 2, 1).await;
        listener.await.expect("listener");
        assert!(matches!(got, Err(HandshakeError::Io(_))), "{got:?}");
    }

    #[tokio::test]
    async fn a_peer_with_another_number_of_groups_is_refused_by_both_sides() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        a.write_all(&hello_with_groups(3, 2, 8, [5; NONCE_BYTES]))
            .await
            .expect("write");
        let got = accept(&mut b, &secret(1), 2, &peers(), 1).await;
        assert!(
            matches!(got, Err(HandshakeError::GroupCount { ours: 1, theirs: 8 })),
            "{got:?}"
        );
        let (mut a, mut b) = tokio::io::duplex(1024);
        let listener =
            tokio::spawn(async move { accept(&mut b, &secret(1), 2, &peers(), 4).await });
        let got = dial(&mut a, &secret(1), 3, 2, 4).await;
        got.expect("the same number");
        assert_eq!(listener.await.expect("listener").expect("accepted"), 3);
        let (mut a, mut b) = tokio::io::duplex(1024);
        let listener =
            tokio::spawn(async move { accept(&mut b, &secret(1), 2, &peers(), 4).await });
        let got = dial(&mut a, &secret(1), 3, 2, 2).await;
        assert!(
            matches!(&got, Err(e) if e.to_string().contains("--groups 4, this node with --groups 2")),
            "{got:?}"
        );
        let refused = listener.await.expect("listener");
        assert!(
            matches!(
                refused,
                Err(HandshakeError::GroupCount { ours: 4, theirs: 2 })
            ),
            "{refused:?}"
        );
    }

    #[test]
    fn a_secret_file_missing_empty_or_short_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("secret");
        assert!(matches!(
            ClusterSecret::read(&path),
            Err(SecretError::Read { .. })
        ));
        for len in [0, MIN_SECRET_BYTES - 1] {
            std::fs::write(&path, vec![1; len]).expect("write");
            assert!(
                matches!(ClusterSecret::read(&path), Err(SecretError::TooShort { len: l, .. }) if l == len)
            );
        }
        std::fs::write(&path, vec![1; MIN_SECRET_BYTES]).expect("write");
        let secret = ClusterSecret::read(&path).expect("long enough");
        assert_eq!(
            format!("{secret:?}"),
            "ClusterSecret(16 bytes)",
            "never printed"
        );
    }

    fn hello_bytes(me: NodeId, peer: NodeId, nonce: [u8; NONCE_BYTES]) -> Vec<u8> {
        hello_with_groups(me, peer, 1, nonce)
    }

    fn hello_with_groups(
        me: NodeId,
        peer: NodeId,
        groups: u64,
        nonce: [u8; NONCE_BYTES],
    ) -> Vec<u8> {
        let mut hello = MAGIC.to_vec();
        hello.push(VERSION);
        hello.extend_from_slice(&me.to_be_bytes());
        hello.extend_from_slice(&peer.to_be_bytes());
        hello.extend_from_slice(&groups.to_be_bytes());
        hello.extend_from_slice(&nonce);
        hello
    }

    /// Sends a hello and reads the challenge.
    async fn open(
        stream: &mut DuplexStream,
        me: NodeId,
        peer: NodeId,
        nonce: [u8; NONCE_BYTES],
    ) -> (Vec<u8>, [u8; CHALLENGE_BYTES]) {
        let hello = hello_bytes(me, peer, nonce);
        stream.write_all(&hello).await.expect("write");
        let mut challenge = [0; CHALLENGE_BYTES];
        stream
            .read_exact(&mut challenge)
            .await
            .expect("a challenge");
        (hello, challenge)
    }

    fn transcript_of(hello: &[u8], challenge: &[u8]) -> Transcript {
        Transcript {
            dialler: id_at(hello, 9),
            listener: id_at(challenge, 1),
            groups: id_at(challenge, 9),
            dialler_nonce: hello[HELLO_NONCE_AT..].try_into().expect("nonce"),
            listener_nonce: challenge[CHALLENGE_NONCE_AT..CHALLENGE_NONCE_AT + NONCE_BYTES]
                .try_into()
                .expect("nonce"),
        }
    }
}
