//! Client sessions (thesis §6.3): per client, the latest request applied and its result, so
//! that a retry is answered with the first result instead of being applied again.
//!
//! # Bound
//!
//! The table holds at most `max_sessions` clients. When a client not in the table has a
//! request applied and the table is full, the session least recently active is evicted first:
//! the one whose latest request sits at the lowest log index. Every replica applies the same
//! entries, and the log index is part of each session (and of the snapshot), so every replica
//! evicts the same session: eviction depends on the log only, never on a clock or a hash
//! order. A client whose session was evicted is a new client to the table: a retry of its last
//! request would be applied again, so choose `max_sessions` above the number of clients active
//! at once.

use crate::machine::Output;
use sansraft::Index;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The default bound on the number of sessions kept.
pub const DEFAULT_MAX_SESSIONS: usize = 4096;

/// One client's session: its latest applied request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session<V> {
    /// The client.
    pub client: u64,
    /// The sequence number of its latest applied request.
    pub seq: u64,
    /// The log index at which that request was applied.
    pub index: Index,
    /// Its result.
    pub output: Output<V>,
}

/// What the table says about a request before it is applied.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Seen<'a, V> {
    /// Newer than the client's latest (or the client is unknown): apply it.
    New,
    /// The client's latest request again: its result and the index it was applied at.
    Latest(&'a Output<V>, Index),
    /// Older than the client's latest: its result is no longer kept.
    Older,
}

/// The session table, bounded by least-recent activity in log order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Sessions<V> {
    by_client: BTreeMap<u64, Session<V>>,
    /// Every session's client, by the log index of its latest request (unique: one entry
    /// applies one request).
    by_index: BTreeMap<Index, u64>,
    max: usize,
}

impl<V> Sessions<V> {
    /// An empty table holding at most `max` sessions (at least one).
    pub(crate) fn new(max: usize) -> Self {
        Sessions {
            by_client: BTreeMap::new(),
            by_index: BTreeMap::new(),
            max: max.max(1),
        }
    }

    /// The bound.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    pub(crate) fn len(&self) -> usize {
        self.by_client.len()
    }

    /// Whether `client`'s request `seq` is new, a retry of its latest, or older.
    pub(crate) fn check(&self, client: u64, seq: u64) -> Seen<'_, V> {
        match self.by_client.get(&client) {
            Some(s) if s.seq == seq => Seen::Latest(&s.output, s.index),
            Some(s) if s.seq > seq => Seen::Older,
            _ => Seen::New,
        }
    }

    /// Records `session` as its client's latest, evicting the least recently active session
    /// if a new client finds the table full.
    ///
    /// # Panics
    ///
    /// If `session.index` is not above every index recorded (entries apply in log order).
    pub(crate) fn record(&mut self, session: Session<V>) {
        if let Some((&last, _)) = self.by_index.last_key_value() {
            assert!(
                session.index > last,
                "sessions are recorded in log order (index {} after {last})",
                session.index
            );
        }
        match self.by_client.get(&session.client) {
            Some(old) => {
                self.by_index.remove(&old.index);
            }
            None if self.by_client.len() >= self.max => {
                if let Some((_, client)) = self.by_index.pop_first() {
                    self.by_client.remove(&client);
                }
            }
            None => {}
        }
        self.by_index.insert(session.index, session.client);
        self.by_client.insert(session.client, session);
    }

    /// The sessions in client order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Session<V>> {
        self.by_client.values()
    }

    /// A table of `sessions`, which must be in strictly increasing client order, at distinct
    /// indexes, no more than `max`; `None` if they are not.
    pub(crate) fn from_sessions(max: usize, sessions: Vec<Session<V>>) -> Option<Self> {
        let mut table = Sessions::new(max);
        if sessions.len() > table.max {
            return None;
        }
        for session in sessions {
            let in_order = table
                .by_client
                .last_key_value()
                .is_none_or(|(&c, _)| session.client > c);
            if !in_order
                || table
                    .by_index
                    .insert(session.index, session.client)
                    .is_some()
            {
                return None;
            }
            table.by_client.insert(session.client, session);
        }
        Some(table)
    }

    /// The highest index any session was recorded at.
    pub(crate) fn last_index(&self) -> Option<Index> {
        self.by_index.last_key_value().map(|(&i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(client: u64, seq: u64, index: Index) -> Session<u64> {
        Session {
            client,
            seq,
            index,
            output: Output::Written,
        }
    }

    #[test]
    fn the_least_recently_active_session_is_evicted_first() {
        let mut table = Sessions::new(2);
        table.record(session(1, 1, 1));
        table.record(session(2, 1, 2));
        table.record(session(1, 2, 3));
        // Client 2 was active last at index 2, client 1 at 3: client 2 goes.
        table.record(session(3, 1, 4));
        let clients: Vec<u64> = table.iter().map(|s| s.client).collect();
        assert_eq!(clients, [1, 3]);
        assert_eq!(table.check(2, 1), Seen::New);
        assert_eq!(table.check(1, 2), Seen::Latest(&Output::Written, 3));
        assert_eq!(table.check(1, 1), Seen::Older);
    }

    #[test]
    fn a_table_is_rebuilt_only_from_canonical_sessions() {
        let ok = vec![session(1, 1, 5), session(2, 1, 4)];
        let table = Sessions::from_sessions(2, ok).expect("canonical");
        assert_eq!(table.last_index(), Some(5));
        assert!(Sessions::from_sessions(1, vec![session(1, 1, 5), session(2, 1, 4)]).is_none());
        assert!(Sessions::from_sessions(4, vec![session(2, 1, 5), session(1, 1, 4)]).is_none());
        assert!(Sessions::from_sessions(4, vec![session(1, 1, 5), session(2, 1, 5)]).is_none());
    }
}
