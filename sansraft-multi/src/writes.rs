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
    /// The groups whose writes in this step install a snapshot.
    installs: Vec<GroupId>,
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
            installs: Vec::new(),
            in_flight: VecDeque::new(),
        }
    }

    /// A group issued `write` in this step.
    pub(crate) fn push(&mut self, group: GroupId, write: Write) {
        if write.install.is_some() {
            self.installs.push(group);
        }
        self.writes.push((group, write));
    }

    /// True if a write of `group` in this step installs a snapshot.
    pub(crate) fn installs(&self, group: GroupId) -> bool {
        self.installs.contains(&group)
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
        self.installs.clear();
        Some(HostWrite {
            token,
            writes: std::mem::take(&mut self.writes),
            tombstones: std::mem::take(&mut self.tombstones),
        })
    }

    /// The host write `token` and every earlier one are durable (`all`, a canary bug: and
    /// every later one too).
    pub(crate) fn acknowledge(&mut self, token: HostToken, all: bool) -> Result<Ack, HostError> {
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
            .is_some_and(|(seq, _)| *seq <= token.seq || all)
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

    /// Checks that the host writes in flight are issued ones, oldest first, and that nothing
    /// is left over from a finished step.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if !self.writes.is_empty() || !self.tombstones.is_empty() || !self.installs.is_empty() {
            return Err("writes left over after a step");
        }
        let mut prev = 0;
        for (seq, _) in &self.in_flight {
            if *seq <= prev || *seq > self.last_seq {
                return Err("host writes in flight out of order or never issued");
            }
            prev = *seq;
        }
        Ok(())
    }

    /// Host writes issued and not yet acknowledged.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansraft::Entries;

    fn write(seq: u64) -> Write {
        Write {
            token: WriteToken {
                incarnation: 4,
                seq,
            },
            install: None,
            hard_state: None,
            entries: Entries::default(),
        }
    }

    fn durable(ack: Ack) -> Vec<(GroupId, u64)> {
        match ack {
            Ack::Durable(tokens) => tokens.into_iter().map(|(g, t)| (g, t.seq)).collect(),
            Ack::Stale => panic!("stale"),
        }
    }

    #[test]
    fn one_host_write_per_step_and_one_ack_for_all_groups_up_to_it() {
        let mut w = Writes::new(4);
        assert!(w.seal().is_none(), "nothing written, nothing issued");
        w.push(2, write(1));
        w.push(1, write(1));
        w.push(2, write(2));
        let first = w.seal().unwrap();
        assert_eq!(
            first.token,
            HostToken {
                incarnation: 4,
                seq: 1
            }
        );
        let order: Vec<_> = first
            .writes
            .iter()
            .map(|(g, w)| (*g, w.token.seq))
            .collect();
        assert_eq!(order, [(2, 1), (1, 1), (2, 2)], "in the order issued");
        w.tombstone(9);
        let second = w.seal().unwrap();
        assert!(second.writes.is_empty());
        assert_eq!(second.tombstones, [9]);
        w.push(1, write(2));
        let third = w.seal().unwrap();
        assert_eq!(w.in_flight(), 3);
        assert_eq!(
            durable(w.acknowledge(second.token, false).unwrap()),
            [(1, 1), (2, 2)]
        );
        assert!(
            matches!(w.acknowledge(first.token, false), Ok(Ack::Stale)),
            "already"
        );
        assert!(matches!(
            w.acknowledge(
                HostToken {
                    incarnation: 3,
                    seq: 3
                },
                false
            ),
            Ok(Ack::Stale)
        ));
        let future = HostToken {
            incarnation: 4,
            seq: 4,
        };
        assert_eq!(
            w.acknowledge(future, false).err(),
            Some(HostError::UnknownToken(future))
        );
        assert_eq!(
            durable(w.acknowledge(third.token, false).unwrap()),
            [(1, 2)]
        );
        assert_eq!(w.in_flight(), 0);
    }
}
