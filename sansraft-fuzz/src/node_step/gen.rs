//! Structure-aware generators of sansraft values from fuzzer bytes.
//!
//! sansraft's types do not implement `Arbitrary` (sansraft keeps its dependencies short), so
//! values are built here. Terms and indices are drawn *relative* to a base (the node's term, its
//! last index, its commit index) most of the time, so that fabricated messages land near the
//! interesting boundaries (off by one, stale by one, just ahead) rather than at random 64-bit
//! values; a raw 64-bit value is still drawn now and then, to reach overflow edges.

use arbitrary::{Result, Unstructured};
use bytes::Bytes;
use sansraft::message::{
    Append, AppendResponse, Body, FreshnessProof, Heartbeat, HeartbeatResponse, ReadIndexRequest,
    ReadIndexResponse, SnapshotChunk, SnapshotResponse, Stamp, VoteRequest, VoteResponse,
};
use sansraft::{
    Codec, Entry, EntryKind, HardState, Index, Membership, Message, NodeId, Priority, SnapshotMeta,
    Term,
};

/// Most entries in one fabricated append.
pub const MAX_APPEND_ENTRIES: usize = 6;

/// A value near `base`: equal, one above or below, a few above or below, or anything.
pub fn near(u: &mut Unstructured<'_>, base: u64) -> Result<u64> {
    Ok(match u.int_in_range(0u8..=9)? {
        0..=2 => base,
        3 => base.saturating_add(1),
        4 => base.saturating_sub(1),
        5 => base.saturating_add(u64::from(u.int_in_range(2u8..=8)?)),
        6 => base.saturating_sub(u64::from(u.int_in_range(2u8..=8)?)),
        7 => u64::from(u.int_in_range(0u8..=16)?),
        8 => u64::MAX - u64::from(u.int_in_range(0u8..=2)?),
        _ => u.arbitrary()?,
    })
}

/// A small payload; its bytes are drawn from the input.
pub fn payload(u: &mut Unstructured<'_>) -> Result<Bytes> {
    let len = u.int_in_range(0usize..=24)?;
    Ok(Bytes::copy_from_slice(u.bytes(len.min(u.len()))?))
}

/// A node id among `members` (1-based, as sansraft-sim numbers them), with an unknown id, id 0 and
/// `me` (a message from oneself) now and then.
pub fn peer(u: &mut Unstructured<'_>, members: u64, me: NodeId) -> Result<NodeId> {
    Ok(match u.int_in_range(0u8..=11)? {
        0 => me,
        1 => members + 1 + u64::from(u.int_in_range(0u8..=3)?),
        2 => 0,
        _ => u.int_in_range(1..=members.max(1))?,
    })
}

/// An entry at `index` with a term at or below `max_term` (mostly), of any kind; membership
/// entries mostly hold a well-formed configuration of ids up to `members + 2`.
pub fn entry(
    u: &mut Unstructured<'_>,
    index: Index,
    max_term: Term,
    members: u64,
) -> Result<Entry> {
    let term = if u.ratio(1u8, 8)? {
        near(u, max_term)?
    } else {
        max_term.saturating_sub(u64::from(u.int_in_range(0u8..=2)?))
    };
    let kind = match u.int_in_range(0u8..=7)? {
        0 => EntryKind::Empty,
        1 => EntryKind::Membership,
        _ => EntryKind::Normal,
    };
    let data = match kind {
        EntryKind::Empty => Bytes::new(),
        EntryKind::Membership if u.ratio(3u8, 4)? => {
            Bytes::from(configuration(u, members)?.encode())
        }
        EntryKind::Membership if u.arbitrary()? => Bytes::from(membership(u)?.encode()),
        _ => payload(u)?,
    };
    Ok(Entry {
        term,
        index,
        kind,
        data,
    })
}

/// Entries for an append after `prev_index`: consecutive with non-decreasing terms between
/// `prev_term` and `term` most of the time, malformed (gaps, decreasing terms) sometimes.
pub fn entries(
    u: &mut Unstructured<'_>,
    prev_index: Index,
    prev_term: Term,
    term: Term,
    members: u64,
) -> Result<Vec<Entry>> {
    let n = u.int_in_range(0..=MAX_APPEND_ENTRIES)?;
    let well_formed = !u.ratio(1u8, 10)?;
    let mut out = Vec::with_capacity(n);
    let mut t = prev_term.min(term);
    for i in 0..n {
        let index = prev_index.saturating_add(1 + i as u64);
        let e = if well_formed {
            if t < term && u.ratio(1u8, 3)? {
                t = u.int_in_range(t..=term)?;
            }
            let mut e = entry(u, index, t, members)?;
            e.term = t;
            e
        } else {
            let index = near(u, index)?;
            entry(u, index, term, members)?
        };
        out.push(e);
    }
    Ok(out)
}

/// What the node under test looks like now, for drawing values near its state.
#[derive(Clone, Copy, Debug, Default)]
pub struct Near {
    /// Its current term.
    pub term: Term,
    /// Its last log index.
    pub last_index: Index,
    /// Its commit index.
    pub commit: Index,
    /// How many members its cluster started with (ids `1..=members`).
    pub members: u64,
    /// The latest read id its embedder used.
    pub read_id: u64,
    /// Its incarnation.
    pub incarnation: u64,
    /// Its ticks in this incarnation.
    pub ticks: u64,
}

/// A stamp near the node's clock: mostly its own incarnation, a tick near its ticks.
fn stamp(u: &mut Unstructured<'_>, at: Near) -> Result<Stamp> {
    Ok(Stamp {
        incarnation: if u.ratio(3u8, 4)? {
            at.incarnation
        } else {
            near(u, at.incarnation)?
        },
        tick: near(u, at.ticks)?,
    })
}

/// A message body whose terms and indices are near `at`; `term` is the message's term.
pub fn body(u: &mut Unstructured<'_>, at: Near, term: Term) -> Result<Body> {
    let index = |u: &mut Unstructured<'_>| -> Result<Index> {
        let base = if u.arbitrary()? {
            at.last_index
        } else {
            at.commit
        };
        near(u, base)
    };
    Ok(match u.int_in_range(0u8..=12)? {
        0 | 1 => {
            let prev_index = index(u)?;
            let prev_term = near(u, term)?.min(if u.ratio(7u8, 8)? { term } else { u64::MAX });
            let entries = entries(u, prev_index, prev_term, term, at.members)?;
            // Drawn last, the commit index would mostly find the recipe used up and repeat the
            // node's own: a leader's commit index is often at or beyond the follower's log.
            let commit = if u.is_empty() {
                at.last_index
            } else {
                index(u)?
            };
            Body::Append(Append {
                prev_index,
                prev_term,
                commit,
                entries: entries.into(),
            })
        }
        2 => Body::AppendResponse(if u.arbitrary()? {
            AppendResponse::Accepted {
                match_index: index(u)?,
            }
        } else {
            AppendResponse::Rejected {
                reject_index: index(u)?,
                hint_index: index(u)?,
                hint_term: if u.arbitrary()? {
                    Some(near(u, term)?)
                } else {
                    None
                },
            }
        }),
        // The freshness proof and the stamp are drawn last, so that recipes found before they
        // existed keep their meaning (a used-up recipe gives a proof of the node's own clock now).
        3 => Body::Heartbeat(Heartbeat {
            commit: index(u)?,
            round: u.int_in_range(0..=8)?,
            proof: if u.ratio(3u8, 4)? {
                Some(FreshnessProof {
                    stamp: stamp(u, at)?,
                    commit: index(u)?,
                })
            } else {
                None
            },
            // Drawn after the proof, for the same reason (used up: not quiescing).
            quiesce: u.arbitrary()?,
        }),
        4 => Body::HeartbeatResponse(HeartbeatResponse {
            round: u.int_in_range(0..=8)?,
            stamp: if u.ratio(3u8, 4)? {
                Some(stamp(u, at)?)
            } else {
                None
            },
            quiet: u.arbitrary()?,
        }),
        5 => Body::Vote(VoteRequest {
            pre_vote: u.arbitrary()?,
            last_index: index(u)?,
            last_term: near(u, at.term)?,
            transfer: u.ratio(1u8, 4)?,
            // Not drawn, so that inputs decode as before: a configuration at the start.
            config_index: 0,
            config_term: 0,
        }),
        6 => {
            let offset = if u.arbitrary()? { 0 } else { near(u, 16)? };
            Body::SnapshotChunk(Box::new(SnapshotChunk {
                index: index(u)?,
                term: near(u, term)?,
                offset,
                data: payload(u)?,
                done: u.arbitrary()?,
                membership: if offset == 0 || u.ratio(1u8, 8)? {
                    Some(if u.ratio(3u8, 4)? {
                        Membership::with_voters(1..=u.int_in_range(1..=5)?)
                    } else {
                        membership(u)?
                    })
                } else {
                    None
                },
                crc32c: u.arbitrary()?,
            }))
        }
        7 => Body::SnapshotResponse(if u.arbitrary()? {
            SnapshotResponse::Next {
                index: index(u)?,
                term: near(u, term)?,
                offset: near(u, 16)?,
            }
        } else {
            SnapshotResponse::Installed {
                match_index: index(u)?,
            }
        }),
        8 => Body::TimeoutNow,
        9 => Body::ReadIndex(ReadIndexRequest {
            id: near(u, at.read_id)?,
        }),
        10 => Body::ReadIndexResponse(ReadIndexResponse {
            id: near(u, at.read_id)?,
            index: if u.ratio(3u8, 4)? {
                Some(index(u)?)
            } else {
                None
            },
        }),
        _ => Body::VoteResponse(VoteResponse {
            pre_vote: u.arbitrary()?,
            granted: !u.ratio(1u8, 4)?,
        }),
    })
}

/// Any message, with small ids among `members` and values near zero (for the codec).
pub fn message(u: &mut Unstructured<'_>, members: u64) -> Result<Message> {
    let at = Near {
        term: near(u, 3)?,
        last_index: near(u, 5)?,
        commit: near(u, 2)?,
        members,
        read_id: near(u, 1)?,
        // Not drawn, so that inputs decode as before; the stamps drawn near them vary.
        incarnation: 1,
        ticks: 5,
    };
    let term = near(u, at.term)?;
    Ok(Message {
        from: peer(u, members, 1)?,
        to: peer(u, members, 1)?,
        term,
        body: body(u, at, term)?,
    })
}

/// Any hard state.
pub fn hard_state(u: &mut Unstructured<'_>) -> Result<HardState> {
    Ok(HardState {
        term: near(u, 3)?,
        vote: if u.arbitrary()? {
            Some(near(u, 2)?)
        } else {
            None
        },
        commit: near(u, 4)?,
    })
}

/// Any membership, well formed or not.
pub fn membership(u: &mut Unstructured<'_>) -> Result<Membership> {
    let ids = |u: &mut Unstructured<'_>| -> Result<Vec<NodeId>> {
        let n = u.int_in_range(0usize..=5)?;
        (0..n).map(|_| near(u, 3)).collect()
    };
    Ok(Membership {
        voters: ids(u)?,
        outgoing: ids(u)?,
        learners: ids(u)?,
        ..Membership::default()
    })
}

/// A well-formed configuration of ids `1..=members + 2` (so also of nodes not yet members):
/// some voters, a joint configuration's outgoing voters now and then, and some learners.
pub fn configuration(u: &mut Unstructured<'_>, members: u64) -> Result<Membership> {
    let pool = members.clamp(1, 6) + 2;
    let pick = |u: &mut Unstructured<'_>, taken: &[NodeId]| -> Result<Vec<NodeId>> {
        let mask: u8 = u.arbitrary()?;
        Ok((1..=pool)
            .filter(|id| mask & (1 << (id - 1)) != 0 && !taken.contains(id))
            .collect())
    };
    let mut voters = pick(u, &[])?;
    if voters.is_empty() {
        voters.push(u.int_in_range(1..=pool)?);
    }
    let outgoing = if u.ratio(1u8, 3)? {
        let mut out = pick(u, &[])?;
        if out.is_empty() {
            out.push(u.int_in_range(1..=pool)?);
        }
        out
    } else {
        Vec::new()
    };
    let voting: Vec<NodeId> = voters.iter().chain(&outgoing).copied().collect();
    let learners = pick(u, &voting)?;
    let priorities = priorities(&voting, &learners);
    let mut m = Membership {
        voters,
        outgoing,
        learners,
        priorities,
        ..Membership::default()
    };
    // A quarter of the configurations of three voters or more make the last a witness,
    // derived from what was drawn so that inputs decode as before.
    if let Some(&last) = m.voters.last().filter(|_| m.voters.len() >= 3) {
        if (last + m.voters.len() as u64) % 4 == 0 {
            m.witnesses = vec![last];
            if !m.is_well_formed() {
                m.witnesses.clear();
            }
        }
    }
    Ok(m)
}

/// Leader priorities for a configuration, derived from the members already drawn (no byte more,
/// so every input decodes as it did): with exactly one learner, member `id` gets priority
/// `(id + learner) % 4` (0: none), the learner too (ignored: learners never lead).
fn priorities(voting: &[NodeId], learners: &[NodeId]) -> Vec<Priority> {
    let &[learner] = learners else {
        return Vec::new();
    };
    let mut members: Vec<NodeId> = voting.iter().chain(learners).copied().collect();
    members.sort_unstable();
    members.dedup();
    members
        .into_iter()
        .filter_map(|id| {
            let priority = ((id + learner) % 4) as u32;
            (priority > 0).then_some(Priority { id, priority })
        })
        .collect()
}

/// Any snapshot metadata.
pub fn snapshot_meta(u: &mut Unstructured<'_>) -> Result<SnapshotMeta> {
    Ok(SnapshotMeta {
        index: near(u, 10)?,
        term: near(u, 2)?,
        membership: membership(u)?,
    })
}
