//! Recording a history of HTTP requests for `sansraft-lincheck` and checking it: the answers
//! as a client saw them, timestamps on one clock shared by the clients, the node each client
//! sends to, a seeded random stream, and the checker's verdict with a canary.

use super::redirect_target;
use sansraft_lincheck::{check, describe_counterexample, Key, KvOp, KvOutput, Operation, Verdict};
use std::path::Path;
// Wall-clock time, outside the engine: the history's timestamps.
use tokio::time::Instant;

/// The checker's step budget per key.
pub(crate) const MAX_STEPS: u64 = 10_000_000;

/// What a request got back.
#[derive(Clone, Debug)]
pub(crate) enum Answer {
    /// An HTTP answer: status, body, and where a redirect points.
    Http {
        status: u16,
        body: String,
        redirect: Option<String>,
    },
    /// No answer: the connection failed or the request timed out.
    None,
}

impl Answer {
    /// Sends `request` and reads its answer.
    pub(crate) async fn of(request: reqwest::RequestBuilder) -> Answer {
        let Ok(response) = request.send().await else {
            return Answer::None;
        };
        let status = response.status().as_u16();
        let redirect = redirect_target(&response);
        match response.text().await {
            Ok(body) => Answer::Http {
                status,
                body,
                redirect,
            },
            Err(_) => Answer::None,
        }
    }

    /// Whether a write so answered certainly had no effect: refused with a redirect, or as
    /// invalid. A write without an answer, or answered `503` or `504`, may have taken effect.
    pub(crate) fn write_refused(&self) -> bool {
        matches!(
            self,
            Answer::Http {
                status: 307 | 400..=499,
                ..
            }
        )
    }
}

/// Microseconds since `start`.
pub(crate) fn micros(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_micros()).expect("a short test")
}

/// Where one client sends its requests. Reads go to every node in turn (any node serves them,
/// through ReadIndex), so that a node behind the leader would be caught serving a stale value;
/// writes go to the node last known to lead, following redirects, and to the next node when
/// one does not answer.
#[derive(Debug)]
pub(crate) struct Targets {
    nodes: usize,
    writer: usize,
    reader: usize,
}

impl Targets {
    /// Client `id`'s targets among `nodes` nodes.
    pub(crate) fn new(id: u64, nodes: usize) -> Targets {
        let first = id as usize % nodes;
        Targets {
            nodes,
            writer: first,
            reader: first,
        }
    }

    /// The node to send the next read or write to.
    pub(crate) fn pick(&mut self, is_read: bool) -> usize {
        if is_read {
            self.reader = (self.reader + 1) % self.nodes;
            self.reader
        } else {
            self.writer
        }
    }

    /// Learns from `answer`, whose node's HTTP addresses are `http`; whether to pause before
    /// the next request (the node did not serve it).
    pub(crate) fn answered(&mut self, is_read: bool, answer: &Answer, http: &[String]) -> bool {
        match answer {
            Answer::Http {
                status: 200 | 404, ..
            } => false,
            Answer::Http {
                status: 307,
                redirect: Some(leader),
                ..
            } => {
                self.writer = http.iter().position(|h| h == leader).unwrap_or(self.writer);
                false
            }
            _ => {
                if !is_read {
                    self.writer = (self.writer + 1) % self.nodes;
                }
                true
            }
        }
    }
}

/// A seeded pseudo-random stream (xorshift64): the same seed, the same choices.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Checks `history`. If a key is not linearizable, its operations are written out in words
/// (thousands of lines) to a file `name`.txt the failure names.
pub(crate) fn assert_linearizable(history: &[Operation], name: &str) {
    match check(history, MAX_STEPS) {
        Verdict::Linearizable => {}
        Verdict::NotLinearizable { key, operations } => {
            let account = describe_counterexample(key, &operations);
            let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.txt"));
            let saved = std::fs::write(&path, &account).map_or_else(
                |e| format!("not saved: {e}"),
                |()| format!("every one in {}", path.display()),
            );
            let headline = account.lines().next().unwrap_or_default();
            panic!("{headline} {saved}");
        }
        Verdict::Inconclusive { key } => {
            panic!("the checker gave up on key {key} after {MAX_STEPS} steps")
        }
    }
}

/// The key, value and completion time of an acknowledged write: a put, or a swap that swapped.
fn completed_write(o: &Operation) -> Option<(Key, u64, u64)> {
    match (o.op, o.completed) {
        (KvOp::Put { key, value }, Some((t, KvOutput::Written))) => Some((key, value, t)),
        (KvOp::Cas { key, new, .. }, Some((t, KvOutput::CasResult { swapped: true }))) => {
            Some((key, new, t))
        }
        _ => None,
    }
}

/// The value an operation may write.
fn written(o: &Operation) -> Option<(Key, u64)> {
    match o.op {
        KvOp::Put { key, value } => Some((key, value)),
        KvOp::Cas { key, new, .. } => Some((key, new)),
        KvOp::Get { .. } => None,
    }
}

/// A stale read added to `history` by client `client`: after every request, a get of a value
/// written once, acknowledged, and then overwritten by a later acknowledged write. `None` if no
/// acknowledged write was overwritten so.
pub(crate) fn with_stale_read(history: &[Operation], client: u64) -> Option<(Key, Vec<Operation>)> {
    let (key, value) = history.iter().find_map(|a| {
        let (key, value, done) = completed_write(a)?;
        let written_once = history
            .iter()
            .filter(|b| written(b) == Some((key, value)))
            .count()
            == 1;
        let overwritten = history.iter().any(|b| {
            b.invoked_at > done
                && completed_write(b).is_some_and(|(k, v, _)| k == key && v != value)
        });
        (written_once && overwritten).then_some((key, value))
    })?;
    let end = history
        .iter()
        .map(|o| o.completed.map_or(o.invoked_at, |(t, _)| t))
        .max()?;
    let mut stale = history.to_vec();
    stale.push(Operation {
        client,
        op: KvOp::Get { key },
        invoked_at: end + 1,
        completed: Some((end + 2, KvOutput::Read(Some(value)))),
    });
    Some((key, stale))
}

/// Asserts that the checker rejects `history` with a stale read added (see
/// [`with_stale_read`]), at the key of that read.
pub(crate) fn assert_canary_caught(history: &[Operation], client: u64) {
    let (key, stale) =
        with_stale_read(history, client).expect("some acknowledged write was overwritten");
    assert!(
        matches!(check(&stale, MAX_STEPS), Verdict::NotLinearizable { key: k, .. } if k == key),
        "the checker accepted a stale read of key {key}"
    );
}
