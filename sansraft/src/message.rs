//! The wire protocol: every message a node sends to a peer.
//!
//! Messages are plain values; [`crate::codec`] turns them into bytes and back. The network may
//! drop, delay, duplicate and reorder them: the protocol tolerates all four.

use crate::entries::Entries;
use crate::types::{Index, Membership, NodeId, Term};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A message between two nodes of one cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The sender.
    pub from: NodeId,
    /// The recipient.
    pub to: NodeId,
    /// The sender's term when it created the message (§5.1: every message carries one).
    pub term: Term,
    /// What the message says.
    pub body: Body,
}

/// The kinds of message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// Leader → follower: entries to append after `prev_index` (§5.3). Empty when probing.
    Append(Append),
    /// Follower → leader: the outcome of an [`Append`].
    AppendResponse(AppendResponse),
    /// Leader → follower: "I am still leader", with a commit index the follower can use safely.
    Heartbeat(Heartbeat),
    /// Follower → leader: the answer to a [`Heartbeat`].
    HeartbeatResponse(HeartbeatResponse),
    /// (Pre-)candidate → voter: a request for a vote (§5.2) or a pre-vote poll (thesis §9.6).
    Vote(VoteRequest),
    /// Voter → (pre-)candidate: the answer to a [`VoteRequest`].
    VoteResponse(VoteResponse),
    /// Leader → follower: one chunk of a snapshot, for a follower whose next entry the leader
    /// has compacted away. Boxed: it is large and rare, and every message is as large as its
    /// largest kind.
    SnapshotChunk(Box<SnapshotChunk>),
    /// Follower → leader: the answer to a [`SnapshotChunk`].
    SnapshotResponse(SnapshotResponse),
    /// Leader → transfer target: campaign now, without pre-vote (thesis §3.10).
    TimeoutNow,
    /// Follower → leader: a read its embedder asked for (thesis §6.4).
    ReadIndex(ReadIndexRequest),
    /// Leader → follower: the read index for a forwarded read, or a refusal.
    ReadIndexResponse(ReadIndexResponse),
}

/// Entries for a follower (AppendEntries in the paper).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Append {
    /// The index of the entry just before `entries`.
    pub prev_index: Index,
    /// The term of the entry at `prev_index`.
    pub prev_term: Term,
    /// The leader's commit index.
    pub commit: Index,
    /// Consecutive entries starting at `prev_index + 1`.
    pub entries: Entries,
}

/// The outcome of an [`Append`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppendResponse {
    /// The follower's log matches the leader's up to and including `match_index`, durably.
    Accepted {
        /// The last index known to match.
        match_index: Index,
    },
    /// The follower's log does not contain the entry at the append's `prev_index`.
    Rejected {
        /// The `prev_index` of the rejected append, so the leader can tell stale rejections.
        reject_index: Index,
        /// Where the leader should look next: the first index of `hint_term` in the follower's
        /// log, or the follower's last index + 1 when its log is too short.
        hint_index: Index,
        /// The term of the follower's conflicting entry, `None` if its log is too short.
        hint_term: Option<Term>,
    },
}

/// A heartbeat. `commit` is `min(leader commit, follower's match index)`, so a follower never
/// learns a commit index beyond the prefix it is known to share with the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The commit index the follower may adopt.
    pub commit: Index,
    /// The leader's latest confirmation round (thesis §6.4); echoed in the answer.
    pub round: u64,
    /// The latest freshness proof the leader holds for the recipient's stamp, if any: what
    /// the recipient needs to serve bounded-staleness reads ([`crate::Input::ReadStale`]).
    pub proof: Option<FreshnessProof>,
    /// The leader goes quiet ([`crate::Config::quiesce`]): every member holds its whole log,
    /// `commit` is its last index, and nothing is under way. A recipient whose log ends at
    /// `commit` goes quiet too and says so in its answer.
    pub quiesce: bool,
}

/// The answer to a [`Heartbeat`]; it proves the follower still follows this leader in this term,
/// after the leader started round `round`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    /// The round of the heartbeat answered (0 when telling a stale leader of a newer term).
    pub round: u64,
    /// The responder's stamp: its incarnation and its own tick counter when it answered
    /// (`None` when telling a stale leader of a newer term). The leader proves it fresh once
    /// a quorum confirms a round begun after hearing it, and echoes the proof in a later
    /// [`Heartbeat`].
    pub stamp: Option<Stamp>,
    /// The responder is quiet: it went quiet on the leader's quiescing heartbeat it answers.
    /// `false` from a quiet member's leader's point of view wakes it: sent unasked by a
    /// follower woken by something other than its leader.
    pub quiet: bool,
}

/// A moment on one node's clock: the node's incarnation ([`crate::Node::new`]) and its tick
/// counter (ticks since that incarnation started).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stamp {
    /// The incarnation the node was started with.
    pub incarnation: u64,
    /// The node's tick counter then.
    pub tick: u64,
}

/// A leader's statement about a stamp of the recipient's: every entry committed anywhere
/// before the recipient's clock read `stamp` has an index of at most `commit` (thesis §6.4's
/// ReadIndex argument; docs/design.md §11).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreshnessProof {
    /// The recipient's stamp, as it sent it.
    pub stamp: Stamp,
    /// The leader's commit index when it began the round that proved the stamp.
    pub commit: Index,
}

/// A read forwarded by a follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadIndexRequest {
    /// The follower's embedder's request id.
    pub id: u64,
}

/// The leader's answer to a [`ReadIndexRequest`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadIndexResponse {
    /// The request id.
    pub id: u64,
    /// The read index, once confirmed; `None` if the leader refused (it does not lead any
    /// more, or too many reads are pending).
    pub index: Option<Index>,
}

/// A request for a vote. With `pre_vote` it is a poll: the term is the one the sender *would*
/// campaign in, and the voter changes no state by answering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteRequest {
    /// A pre-vote poll rather than a real vote request.
    pub pre_vote: bool,
    /// The index of the candidate's last log entry.
    pub last_index: Index,
    /// The term of the candidate's last log entry.
    pub last_term: Term,
    /// The candidate campaigns because the leader handed leadership to it (thesis §3.10):
    /// voters grant the request even though they heard from that leader recently.
    pub transfer: bool,
    /// The index of the candidate's latest configuration entry (its snapshot's index if its
    /// log holds none), for a witness's vote (docs/design.md, "Witnesses").
    pub config_index: Index,
    /// The term of that entry (of the snapshot's last entry).
    pub config_term: Term,
}

/// The answer to a [`VoteRequest`]. A granted pre-vote carries the term of the poll; a refusal
/// carries the voter's own term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteResponse {
    /// The answer to a pre-vote poll rather than to a real vote request.
    pub pre_vote: bool,
    /// Whether the vote (or poll) was granted.
    pub granted: bool,
}

/// One chunk of a snapshot. Chunks are sent in offset order; the follower accepts only the
/// chunk at the offset it expects and answers every chunk with a [`SnapshotResponse`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotChunk {
    /// The index of the last entry the snapshot covers: with `term`, the snapshot's identity.
    pub index: Index,
    /// The term of that entry.
    pub term: Term,
    /// Where `data` starts in the snapshot's bytes.
    pub offset: u64,
    /// The bytes at `offset`.
    pub data: Bytes,
    /// This is the last chunk.
    pub done: bool,
    /// The configuration in force at `index`; present exactly on the chunk at offset 0.
    pub membership: Option<Membership>,
    /// On the last chunk: the crc32c (Castagnoli) of the whole snapshot; 0 on other chunks.
    pub crc32c: u32,
}

/// The answer to a [`SnapshotChunk`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapshotResponse {
    /// The follower holds the snapshot `(index, term)` up to `offset` and expects that offset
    /// next (0: it holds nothing of it).
    Next {
        /// The snapshot's last index.
        index: Index,
        /// The snapshot's last term.
        term: Term,
        /// The next offset the follower accepts.
        offset: u64,
    },
    /// The follower's log now matches the leader's durably up to `match_index`: it installed
    /// the snapshot, or needed none because its commit index had reached it.
    Installed {
        /// The last index known to match.
        match_index: Index,
    },
    /// The follower's embedder refused the snapshot `(index, term)` (too large for it, or
    /// one it cannot use; [`crate::Input::RefuseSnapshot`]): the leader offers it again only
    /// after a long back-off, or a newer snapshot at once.
    Refused {
        /// The snapshot's last index.
        index: Index,
        /// The snapshot's last term.
        term: Term,
    },
}

impl Body {
    /// A short name for the message kind, for logs and traces.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Body::Append(_) => "append",
            Body::AppendResponse(_) => "append_response",
            Body::Heartbeat(_) => "heartbeat",
            Body::HeartbeatResponse(_) => "heartbeat_response",
            Body::Vote(v) if v.pre_vote => "pre_vote",
            Body::Vote(_) => "vote",
            Body::VoteResponse(v) if v.pre_vote => "pre_vote_response",
            Body::VoteResponse(_) => "vote_response",
            Body::SnapshotChunk(_) => "snapshot_chunk",
            Body::SnapshotResponse(_) => "snapshot_response",
            Body::TimeoutNow => "timeout_now",
            Body::ReadIndex(_) => "read_index",
            Body::ReadIndexResponse(_) => "read_index_response",
        }
    }
}
