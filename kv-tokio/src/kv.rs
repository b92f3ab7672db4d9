//! The replicated state machine: [`sansraft_kv`]'s map from string keys to byte values, with
//! client sessions for exactly-once retries and its versioned formats for commands and
//! snapshots.
//!
//! Data written before kv-tokio used `sansraft_kv` (log entries holding a bare postcard
//! `Put`/`Delete`, snapshots holding a bare postcard map) is still read, so a data directory
//! upgrades in place: such bytes never start with the new formats' magic bytes, so they cannot
//! be mistaken for them. Everything is written in the new formats.

use bytes::Bytes;
use sansraft::Entry;
use sansraft_kv::{
    Applied, ApplyError, DecodeError, KvMachine, Op, SnapshotError, DEFAULT_MAX_SESSIONS,
};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The key-value map and its client sessions.
pub(crate) type Kv = KvMachine<String, Bytes>;

/// A client's command, as carried in a log entry.
pub(crate) type Command = sansraft_kv::Command<String, Bytes>;

/// Most bytes of keys and values one scan answers with: it stops before the pair that would
/// cross it, unless that is the first.
pub(crate) const MAX_SCAN_BYTES: usize = 16 << 20;

/// A linearizable read, served from the map once the engine releases it.
#[derive(Debug)]
pub(crate) enum Read {
    /// One key's value.
    Key(String),
    /// A page of the pairs whose key starts with `prefix` and comes after `after`.
    Scan {
        prefix: String,
        after: Option<String>,
        limit: usize,
    },
}

/// The answer to a scan from the pages of every group, each served with at most `limit` pairs:
/// the pairs in key order up to the first key past which some page stopped (the pairs of every
/// group up to there are all at hand), at most `limit` of them and [`MAX_SCAN_BYTES`] of keys
/// and values (beyond the first pair), as one group's scan answers. The values are shared with
/// the maps, not copied, until the answer is encoded.
pub(crate) fn merge_pages(pages: Vec<Page>, limit: usize) -> Page {
    let cutoff = pages
        .iter()
        .filter(|p| p.more)
        .filter_map(|p| p.pairs.last().map(|(k, _)| k.clone()))
        .min();
    let mut more = pages.iter().any(|p| p.more);
    let mut pairs: Vec<(String, Bytes)> = pages
        .into_iter()
        .flat_map(|p| p.pairs)
        .filter(|(k, _)| cutoff.as_ref().is_none_or(|c| k <= c))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut bytes = 0;
    let within = pairs
        .iter()
        .position(|(k, v)| {
            bytes += k.len() + v.len();
            bytes > MAX_SCAN_BYTES
        })
        .map_or(pairs.len(), |at| at.max(1));
    let keep = within.min(limit);
    if pairs.len() > keep {
        pairs.truncate(keep);
        more = true;
    }
    Page { pairs, more }
}

/// What a read found: pairs in key order, and whether a scan stopped before the end.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Page {
    pub(crate) pairs: Vec<(String, Bytes)>,
    pub(crate) more: bool,
}

/// The group that holds `key` among `groups` groups: the key's CRC-32C modulo the count. Stable
/// across versions and machines (the data directory fixes the count), so every node and every
/// restart agrees on it.
pub(crate) fn group_of(key: &str, groups: u64) -> sansraft_multi::GroupId {
    u64::from(crc32c::crc32c(key.as_bytes())) % groups.max(1)
}

/// Group `group`'s initial configuration among `groups` groups: `bootstrap`, with one leader
/// preferred per group, round robin over its voters in id order (group `g` prefers the
/// `g mod voters`-th), so that with at least as many groups as nodes every node leads about
/// `groups / voters` of them once the cluster is up, instead of whichever node happened to win
/// most elections. The preference is a leader priority (`Membership::priorities`, docs/design.md,
/// "Leader priorities"): the preferred voter wins the first election (the others time out an
/// election timeout later) and, whenever it is back and caught up, the group's leader hands
/// leadership to it. Safety never rests on it: a group whose preferred node is down elects
/// another. One group keeps `bootstrap` as it is.
pub(crate) fn initial_membership(
    bootstrap: &sansraft::Membership,
    group: sansraft_multi::GroupId,
    groups: u64,
) -> sansraft::Membership {
    let mut membership = bootstrap.clone();
    let voters = &bootstrap.voters;
    if groups > 1 && !voters.is_empty() {
        let preferred = voters[(group % voters.len() as u64) as usize];
        membership.priorities = vec![sansraft::Priority {
            id: preferred,
            priority: 1,
        }];
    }
    membership
}

impl Read {
    /// The groups that hold what the read asks for, among `groups`: a key's one, or all of
    /// them for a scan.
    pub(crate) fn groups(&self, groups: u64) -> std::ops::Range<sansraft_multi::GroupId> {
        match self {
            Read::Key(key) => {
                let group = group_of(key, groups);
                group..group + 1
            }
            Read::Scan { .. } => 0..groups,
        }
    }

    /// Serves the read from one group's map, a scan with at most `max_bytes` of keys and values
    /// (beyond the first pair).
    pub(crate) fn serve(&self, kv: &Kv, max_bytes: usize) -> Page {
        let (prefix, after, limit) = match self {
            Read::Key(key) => {
                let pairs = kv.get(key).map(|v| (key.clone(), v.clone()));
                return Page {
                    pairs: pairs.into_iter().collect(),
                    more: false,
                };
            }
            Read::Scan {
                prefix,
                after,
                limit,
            } => (prefix, after.as_deref(), *limit),
        };
        let mut page = Page::default();
        let mut bytes = 0;
        for (key, value) in kv.scan_prefix(prefix, after, limit.saturating_add(1)) {
            bytes += key.len() + value.len();
            if page.pairs.len() == limit || (bytes > max_bytes && !page.pairs.is_empty()) {
                page.more = true;
                break;
            }
            page.pairs.push((key.clone(), value.clone()));
        }
        page
    }
}

/// A command as the first versions of kv-tokio wrote it.
#[derive(Deserialize)]
enum LegacyCommand {
    Put { key: String, value: Bytes },
    Delete { key: String },
}

/// Decodes a command in the current format or, failing that, in the legacy one.
fn decode_command(bytes: &[u8]) -> Result<Command, DecodeError> {
    Command::decode(bytes).or_else(|e| {
        let legacy: LegacyCommand = postcard::from_bytes(bytes).map_err(|_| e)?;
        let op = match legacy {
            LegacyCommand::Put { key, value } => Op::Put { key, value },
            LegacyCommand::Delete { key } => Op::Delete { key },
        };
        Ok(Command { request: None, op })
    })
}

/// Applies one committed entry (see [`KvMachine::apply`]), reading legacy commands too.
pub(crate) fn apply(kv: &mut Kv, entry: &Entry) -> Result<Option<Applied<Bytes>>, ApplyError> {
    kv.apply_with(entry, decode_command)
}

/// The machine a snapshot at `index` holds, in the current format or the legacy one (a bare
/// map, which carries no sessions).
pub(crate) fn restore(bytes: &[u8], index: sansraft::Index) -> Result<Kv, SnapshotError> {
    Kv::restore(bytes).or_else(|e| {
        let Ok(map) = postcard::from_bytes::<BTreeMap<String, Bytes>>(bytes) else {
            return Err(e);
        };
        let data = map.into_iter().collect();
        Kv::from_parts(index, data, Vec::new(), DEFAULT_MAX_SESSIONS)
            .map_err(SnapshotError::Invalid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansraft::EntryKind;
    use sansraft_kv::{Output, RequestId};
    use serde::Serialize;

    fn entry(index: u64, data: impl Into<Bytes>) -> Entry {
        Entry {
            term: 1,
            index,
            kind: EntryKind::Normal,
            data: data.into(),
        }
    }

    /// The legacy command type, as the first versions encoded it.
    #[derive(Serialize)]
    enum Old {
        Put { key: String, value: Bytes },
        Delete { key: String },
    }

    #[test]
    fn legacy_commands_and_snapshots_are_still_read() {
        let mut kv = Kv::default();
        let old = |c: &Old| postcard::to_allocvec(c).expect("encodes");
        let put = |k: &str| Old::Put {
            key: k.into(),
            value: Bytes::from_static(b"v"),
        };
        apply(&mut kv, &entry(1, old(&put("a")))).expect("a legacy put");
        apply(&mut kv, &entry(2, old(&put("b")))).expect("a legacy put");
        let delete = Old::Delete { key: "a".into() };
        let deleted = apply(&mut kv, &entry(3, old(&delete)));
        assert_eq!(deleted, Ok(Some(Applied::Fresh(Output::Deleted(true)))));
        let map: BTreeMap<_, _> = kv.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let snapshot = postcard::to_allocvec(&map).expect("encodes");
        let restored = restore(&snapshot, 3).expect("a legacy snapshot");
        assert_eq!(restored, kv);
        assert!(restore(b"\xff\xff\xff", 3).is_err());
    }

    #[test]
    fn scans_are_bounded_in_pairs_and_bytes() {
        let mut kv = Kv::default();
        let big = Bytes::from(vec![0; MAX_SCAN_BYTES / 2]);
        for (i, key) in ["a", "b", "c", "d"].into_iter().enumerate() {
            let op = Op::Put {
                key: key.into(),
                value: big.clone(),
            };
            let put = Command { request: None, op };
            apply(&mut kv, &entry(i as u64 + 1, put.encode())).expect("applies");
        }
        let scan = |after: Option<&str>, limit| {
            let after = after.map(str::to_owned);
            let page = Read::Scan {
                prefix: String::new(),
                after,
                limit,
            }
            .serve(&kv, MAX_SCAN_BYTES);
            let keys: Vec<String> = page.pairs.into_iter().map(|(k, _)| k).collect();
            (keys, page.more)
        };
        // Two values fill the byte budget less the keys: one pair per page.
        assert_eq!(scan(None, 10), (vec!["a".to_owned()], true));
        assert_eq!(scan(Some("c"), 10), (vec!["d".to_owned()], false));
        let mut small = Kv::default();
        apply(
            &mut small,
            &entry(
                1,
                Command {
                    request: None,
                    op: Op::Delete { key: "x".into() },
                }
                .encode(),
            ),
        )
        .expect("applies");
        assert_eq!(
            Read::Key("x".into()).serve(&small, MAX_SCAN_BYTES),
            Page::default()
        );
        assert_eq!(scan(Some("a"), 1), (vec!["b".to_owned()], true));
    }

    #[test]
    fn a_key_keeps_its_group_and_scans_of_every_group_merge_in_order() {
        assert_eq!(group_of("jepsen-1", 1), 0);
        let groups: Vec<u64> = ["a", "b", "c", "d", "e", "f"]
            .iter()
            .map(|k| group_of(k, 8))
            .collect();
        // CRC-32C (Castagnoli) of the key, modulo the count: fixed for all time.
        assert_eq!(
            groups,
            [
                u64::from(crc32c::crc32c(b"a")) % 8,
                groups[1],
                groups[2],
                groups[3],
                groups[4],
                groups[5]
            ]
        );
        assert!(
            groups.iter().any(|&g| g != groups[0]),
            "keys spread over groups"
        );
        let page = |keys: &[&str], more: bool| Page {
            pairs: keys.iter().map(|k| (k.to_string(), Bytes::new())).collect(),
            more,
        };
        let keys = |p: Page| {
            (
                p.pairs.into_iter().map(|(k, _)| k).collect::<Vec<_>>(),
                p.more,
            )
        };
        // No group stopped early: everything, in order, up to the limit.
        let all = merge_pages(
            vec![page(&["b", "e"], false), page(&["a", "c", "d"], false)],
            10,
        );
        assert_eq!(
            keys(all),
            (
                vec!["a".into(), "b".into(), "c".into(), "d".into(), "e".into()],
                false
            )
        );
        let limited = merge_pages(vec![page(&["b", "e"], false), page(&["a", "c"], false)], 3);
        assert_eq!(
            keys(limited),
            (vec!["a".into(), "b".into(), "c".into()], true)
        );
        // A group stopped at "c": keys of other groups past it wait for the next page, so the
        // cursor ("c") skips none of the first group's keys.
        let cut = merge_pages(vec![page(&["b", "e"], false), page(&["a", "c"], true)], 10);
        assert_eq!(keys(cut), (vec!["a".into(), "b".into(), "c".into()], true));
        // Each group's page within its share of the budget, the first pair of each beyond it:
        // the answer as a whole keeps to the budget (two such values fill it, less the keys).
        let big = |k: &str| (k.to_string(), Bytes::from(vec![0; MAX_SCAN_BYTES / 2]));
        let pages = ["a", "b", "c"].map(|k| Page {
            pairs: vec![big(k)],
            more: false,
        });
        let merged = merge_pages(pages.into(), 10);
        assert_eq!(keys(merged), (vec!["a".into()], true));
    }

    #[test]
    fn new_commands_carry_sessions() {
        let mut kv = Kv::default();
        let put = Command {
            request: Some(RequestId { client: 9, seq: 1 }),
            op: Op::Put {
                key: "k".into(),
                value: Bytes::from_static(b"v"),
            },
        };
        apply(&mut kv, &entry(1, put.encode())).expect("applies");
        let retry = apply(&mut kv, &entry(2, put.encode()));
        assert_eq!(retry, Ok(Some(Applied::Duplicate(Output::Written, 1))));
        let restored = restore(&kv.snapshot(), 2).expect("own snapshot");
        assert_eq!(restored, kv);
        let garbage = apply(&mut kv, &entry(3, Bytes::from_static(b"\x07garbage")));
        assert!(matches!(garbage, Err(ApplyError::Malformed(_))));
    }
}
