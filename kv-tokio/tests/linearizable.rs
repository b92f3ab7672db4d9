//! Linearizability of a real cluster: three `kv-tokio serve` processes, six clients doing puts,
//! deletes, reads and single-key scans on three keys for four seconds, while the leader is
//! killed and later restarted. Every request is recorded with the times it was sent and
//! answered (one monotonic clock shared by the clients) and its outcome, and the history is
//! checked with `sansraft-lincheck`. A canary shows the checker rejects a stale read in a
//! history recorded the same way.
//!
//! The checker's model is a store of `u64` registers, initially absent, with no delete. Here a
//! value is a decimal `u64` and absence is one more value, [`ABSENT`]: a delete writes it, a
//! `404` (or an empty scan) reads it, and every key's history starts with a write of it that
//! completed before any request was sent.

use sansraft_lincheck::{check, Key, KvOp, KvOutput, Operation, Value, Verdict};
use std::sync::Arc;
use std::time::Duration;
// Wall-clock time, outside the engine: the history's timestamps and the run's length.
use tokio::time::Instant;

mod common;
use common::record::{
    assert_canary_caught, assert_linearizable, micros, Answer, Rng, Targets, MAX_STEPS,
};
use common::{client_timing_out_after, leader, Cluster};

const NODES: u64 = 3;
const CLIENTS: u64 = 6;
const KEYS: u64 = 3;
/// How long the clients keep sending requests; the leader is killed a third of the way in and
/// restarted at two thirds.
const RUN: Duration = Duration::from_secs(4);
/// A request unanswered for this long has an unknown outcome.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(1500);
/// The value the history records for an absent key. Written values are never 0.
const ABSENT: Value = 0;
/// Where a failure writes out the history of the key that is not linearizable (`.txt`).
const NOT_LINEARIZABLE: &str = "kv-tokio-not-linearizable";

/// A client request, on key `lin-KEY`.
#[derive(Clone, Copy, Debug)]
enum Request {
    /// `PUT /kv/lin-KEY` with the value as the body.
    Put { key: Key, value: Value },
    /// `DELETE /kv/lin-KEY`.
    Delete { key: Key },
    /// `GET /kv/lin-KEY`.
    Get { key: Key },
    /// `GET /kv?prefix=lin-KEY`: a scan that matches only this key.
    Scan { key: Key },
}

impl Request {
    fn is_read(self) -> bool {
        matches!(self, Request::Get { .. } | Request::Scan { .. })
    }

    /// The request as the checker's model sees it.
    fn op(self) -> KvOp {
        match self {
            Request::Put { key, value } => KvOp::Put { key, value },
            Request::Delete { key } => KvOp::Put { key, value: ABSENT },
            Request::Get { key } | Request::Scan { key } => KvOp::Get { key },
        }
    }

    async fn send(self, client: &reqwest::Client, http: &str) -> Answer {
        Answer::of(match self {
            Request::Put { key, value } => client
                .put(format!("http://{http}/kv/lin-{key}"))
                .body(value.to_string()),
            Request::Delete { key } => client.delete(format!("http://{http}/kv/lin-{key}")),
            Request::Get { key } => client.get(format!("http://{http}/kv/lin-{key}")),
            Request::Scan { key } => client.get(format!("http://{http}/kv?prefix=lin-{key}")),
        })
        .await
    }

    /// The value a successful read answered with `body`.
    fn value_read(self, body: &str) -> Value {
        let text = match self {
            Request::Scan { key } => {
                let answer: serde_json::Value =
                    serde_json::from_str(body).expect("a scan answers JSON");
                match answer["pairs"].as_array().expect("pairs").as_slice() {
                    [] => return ABSENT,
                    [pair] if pair[0] == format!("lin-{key}").as_str() => {
                        pair[1].as_str().expect("a value").to_owned()
                    }
                    pairs => panic!("a scan of lin-{key} answered {pairs:?}"),
                }
            }
            _ => body.to_owned(),
        };
        text.parse()
            .unwrap_or_else(|_| panic!("read {text:?}, which no client wrote"))
    }
}

/// The history entry for `request` sent at `invoked_at` and answered at `answered_at`, or
/// `None` if it certainly had no effect (see [`Answer::write_refused`]).
fn record(
    client: u64,
    request: Request,
    (invoked_at, answered_at): (u64, u64),
    answer: &Answer,
) -> Option<Operation> {
    let is_read = request.is_read();
    let output = match answer {
        Answer::Http {
            status: 200, body, ..
        } if is_read => Some(KvOutput::Read(Some(request.value_read(body)))),
        Answer::Http { status: 404, .. } if is_read => Some(KvOutput::Read(Some(ABSENT))),
        Answer::Http { status: 200, .. } => Some(KvOutput::Written),
        _ if !is_read && answer.write_refused() => return None,
        Answer::Http { .. } | Answer::None => None,
    };
    Some(Operation {
        client,
        op: request.op(),
        invoked_at,
        completed: output.map(|out| (answered_at, out)),
    })
}

/// Every key's initial absence, as a write of [`ABSENT`] completed at time 0.
fn initially_absent() -> Vec<Operation> {
    (0..KEYS)
        .map(|key| Operation {
            client: 0,
            op: KvOp::Put { key, value: ABSENT },
            invoked_at: 0,
            completed: Some((0, KvOutput::Written)),
        })
        .collect()
}

/// Client `id`'s requests, in a fixed pseudo-random order: 40% puts of fresh values, 10%
/// deletes, 35% gets, 15% scans.
fn requests(id: u64) -> impl Iterator<Item = Request> {
    let mut rng = Rng::new(id);
    (1..).map(move |n: u64| {
        let state = rng.next();
        let key = state % KEYS;
        match (state >> 8) % 20 {
            0..=7 => Request::Put {
                key,
                value: id * 1_000_000 + n,
            },
            8..=9 => Request::Delete { key },
            10..=16 => Request::Get { key },
            _ => Request::Scan { key },
        }
    })
}

/// Client `id`: one request at a time until `stop`, sent as [`Targets`] says. Returns the
/// client's history.
async fn run_client(
    id: u64,
    http: Arc<Vec<String>>,
    start: Instant,
    stop: Instant,
) -> Vec<Operation> {
    let client = client_timing_out_after(REQUEST_TIMEOUT);
    let mut targets = Targets::new(id, http.len());
    let mut history = Vec::new();
    for request in requests(id) {
        if Instant::now() >= stop {
            break;
        }
        let target = targets.pick(request.is_read());
        let invoked_at = micros(start);
        let answer = request.send(&client, &http[target]).await;
        history.extend(record(id, request, (invoked_at, micros(start)), &answer));
        if targets.answered(request.is_read(), &answer, &http) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    history
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_see_a_linearizable_store_across_a_leader_crash() {
    leader_crash(1).await;
}

/// The same with the keys sharded into 8 groups: each key's group has its own leader, and the
/// crash takes down the leaders of several groups at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_8_groups_concurrent_clients_see_a_linearizable_store_across_a_crash() {
    leader_crash(8).await;
}

/// Clients run while group 0's leader of a cluster of `groups` groups crashes and restarts.
async fn leader_crash(groups: u64) {
    let start = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cluster = Cluster::start(dir.path(), NODES, |_| {
        vec!["--groups".into(), groups.to_string()]
    });
    let admin = client_timing_out_after(REQUEST_TIMEOUT);
    let all: Vec<usize> = (0..NODES as usize).collect();
    leader(&admin, &cluster, &all).await;

    let http = Arc::new(all.iter().map(|&i| cluster.http(i)).collect::<Vec<_>>());
    let stop = Instant::now() + RUN;
    let clients: Vec<_> = (1..=CLIENTS)
        .map(|id| tokio::spawn(run_client(id, http.clone(), start, stop)))
        .collect();

    tokio::time::sleep(RUN / 3).await;
    let killed = leader(&admin, &cluster, &all).await;
    cluster.kill(killed);
    tokio::time::sleep(RUN / 3).await;
    cluster.spawn(killed);

    let mut history = initially_absent();
    for task in clients {
        history.extend(task.await.expect("client task"));
    }
    let done = |read: bool| {
        history
            .iter()
            .filter(|o| o.client != 0 && o.completed.is_some())
            .filter(|o| matches!(o.op, KvOp::Get { .. }) == read)
            .count()
    };
    let (writes, reads) = (done(false), done(true));
    let unknown = history.iter().filter(|o| o.completed.is_none()).count();
    println!("{writes} writes and {reads} reads acknowledged, {unknown} outcomes unknown");
    assert!(
        writes >= 20 && reads >= 20,
        "too little done to check: {writes} writes, {reads} reads acknowledged"
    );
    assert_linearizable(&history, NOT_LINEARIZABLE);

    // The canary, on this very history: one more read, of an overwritten value.
    assert_canary_caught(&history, CLIENTS + 1);
}

/// The canary on its own: a history recorded as the cluster test records one, with a stale
/// read among concurrent requests, an unknown outcome, a delete and a scan.
#[test]
fn the_checker_rejects_a_stale_read_recorded_like_a_cluster_history() {
    let ok = |body: &str| Answer::Http {
        status: 200,
        body: body.to_owned(),
        redirect: None,
    };
    let not_found = Answer::Http {
        status: 404,
        body: String::new(),
        redirect: None,
    };
    let redirected = Answer::Http {
        status: 307,
        body: String::new(),
        redirect: Some("127.0.0.1:1".to_owned()),
    };
    let scanned = |pairs: &str| ok(&format!("{{\"pairs\": [{pairs}]}}"));
    let history = |stale: bool| {
        let steps = [
            (1, Request::Get { key: 1 }, (10, 20), not_found.clone()),
            (1, Request::Put { key: 1, value: 7 }, (30, 40), ok("{}")),
            (
                2,
                Request::Put { key: 1, value: 8 },
                (35, 45),
                redirected.clone(),
            ),
            (2, Request::Put { key: 1, value: 9 }, (50, 60), ok("{}")),
            (3, Request::Delete { key: 1 }, (55, 0), Answer::None),
            (
                3,
                Request::Scan { key: 1 },
                (70, 80),
                scanned("[\"lin-1\", \"9\"]"),
            ),
            (
                1,
                Request::Get { key: 1 },
                (90, 95),
                ok(if stale { "7" } else { "9" }),
            ),
            (2, Request::Get { key: 1 }, (100, 110), not_found.clone()),
        ];
        let mut h = initially_absent();
        h.extend(
            steps
                .into_iter()
                .filter_map(|(c, request, times, answer)| record(c, request, times, &answer)),
        );
        h
    };
    // The redirected put is left out; the delete without an answer may have happened.
    assert_eq!(history(false).len(), KEYS as usize + 7);
    assert_linearizable(&history(false), NOT_LINEARIZABLE);
    assert!(matches!(
        check(&history(true), MAX_STEPS),
        Verdict::NotLinearizable { key: 1, .. }
    ));
}
