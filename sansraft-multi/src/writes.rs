//! One write for all groups: every group write of one host step goes into one [`HostWrite`],
//! and one acknowledgement acknowledges every group's writes in it.

use crate::error::HostError;
use crate::io::{HostToken, HostWrite};
use crate::wire::GroupId;
use sansraft::{Write, WriteToken};
use std::collections::{BTreeMap, VecDeque};

/// The host writes being built and those issued but not yet acknowledged.
#[derive(Clone, Debug)]
pub(crate) struct Writes {
    incarnation: u64,
    /// The sequence number of the last host write issued (0: none yet).
    last_seq: u64,
    /// This step's group writes, in the order issued.
    writes: Vec<(GroupId, Write)>,
    /// Tombstones not yet part of a host write.
    tombstones: Vec<GroupId>,
    /// Issued host writes not yet acknowledged, oldest first, each with the last write token
    /// of every group in it.
    in_flight: VecDeque<(u64, BTreeMap<GroupId, WriteToken>)>,
}

/// The outcome of an acknowledgement.
#[derive(Debug)]
pub(crate) enum Ack {
    /// Of an earlier incarnation, or of host writes already acknowledged: nothing to do.
    Stale,
    /// Acknowledge each group's latest write token, in group order (each vouches for the
    /// group's earlier writes).
    Durable(BTreeMap<GroupId, WriteToken>),
}

impl Writes {
    /// No writes yet, in incarnation `incarnation`.
    pub(crate) fn new(incarnation: u64) -> Self {
        Writes {
            incarnation,
            last_seq: 0,
            writes: Vec::new(),
            tombstones: Vec::new(),
            in_flight: VecDeque::new(),
        }
    }

    /// A group issued `write` in this step.
    pub(crate) fn push(&mut self, group: GroupId, write: Write) {
        self.writes.push((group, write));
    }

    /// `group` was deleted in this step.
    pub(crate) fn tombstone(&mut self, group: GroupId) {
        self.tombstones.push(group);
    }

    /// Ends the step: the host write of everything pushed in it, if anything was.
    pub(crate) fn seal(&mut self) -> Option<HostWrite> {
        if self.writes.is_empty() && self.tombstones.is_empty() {
            return None;
        }
        self.last_seq += 1;
        let token = HostToken {
            incarnation: self.incarnation,
            seq: self.last_seq,
        };
        let mut latest = BTreeMap::new();
        for (group, write) in &self.writes {
            latest.insert(*group, write.token);
        }
        self.in_flight.push_back((self.last_seq, latest));
        Some(HostWrite {
            token,
            writes: std::mem::take(&mut self.writes),
            tombstones: std::mem::take(&mut self.tombstones),
        })
    }

    /// The host write `token` and every earlier one are durable.
    pub(crate) fn acknowledge(&mut self, token: HostToken) -> Result<Ack, HostError> {
        if token.incarnation != self.incarnation {
            return Ok(Ack::Stale);
        }
        if token.seq == 0 || token.seq > self.last_seq {
            return Err(HostError::UnknownToken(token));
        }
        let mut durable = BTreeMap::new();
        let mut popped = false;
        while self
            .in_flight
            .front()
            .is_some_and(|(seq, _)| *seq <= token.seq)
        {
            if let Some((_, latest)) = self.in_flight.pop_front() {
                durable.extend(latest);
                popped = true;
            }
        }
        if !popped {
            return Ok(Ack::Stale);
        }
        Ok(Ack::Durable(durable))
    }

    /// Host writes issued and not yet acknowledged.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}
