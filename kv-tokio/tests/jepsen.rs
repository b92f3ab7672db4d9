//! A Jepsen-style test: three `kv-tokio serve` processes, concurrent HTTP clients doing puts,
//! gets and compare-and-swaps on a few keys, while a nemesis `kill -9`s a node and restarts it,
//! or freezes one with `SIGSTOP` and thaws it with `SIGCONT`, again and again. Every request is
//! recorded with the times it was sent and answered and its outcome (see `common::record`), and
//! the history is checked with `sansraft-lincheck`: zero anomalies allowed.
//!
//! The nemesis faults one node at a time and undoes each fault before the next, so two of the
//! three nodes (a majority) are always up, and all three at the end.
//!
//! Settings from the environment:
//!
//! * `JEPSEN_SECONDS`: how long the clients run, [`DEFAULT_SECONDS`] by default, which keeps
//!   the test (start-up and checking included) around a minute: `cargo test --workspace` in CI
//!   runs it so.
//! * `JEPSEN_RUNS`: how many runs, each on a fresh cluster (1 by default).
//! * `JEPSEN_SEED`: the first run's seed (run `r` uses seed + `r`); a fresh one by default. The
//!   seed fixes the nemesis's schedule and every client's choice of requests, and is printed, so
//!   `JEPSEN_SEED=S JEPSEN_RUNS=1` replays a run's choices (not its timing).
//!
//! * `JEPSEN_GROUPS`: the number of Raft groups the keys are sharded into (`--groups`) in the
//!   first test, 1 by default; the second test runs with 8 groups for [`GROUPS_SECONDS`].
//!
//! The longer runs and their figures are in docs/embedding.md.

use sansraft_lincheck::{check, Key, KvOp, KvOutput, Operation, Value, Verdict};
use std::sync::Arc;
use std::time::Duration;
// Wall-clock time, outside the engine: the history's timestamps and the run's length.
use tokio::time::Instant;

mod common;
use common::record::{
    assert_canary_caught, assert_linearizable, micros, Answer, Rng, Targets, MAX_STEPS,
};
use common::{cas_request, client_timing_out_after, leader, Cluster};

const NODES: u64 = 3;
const CLIENTS: u64 = 8;
const KEYS: u64 = 4;
/// Seconds the clients run unless `JEPSEN_SECONDS` says otherwise.
const DEFAULT_SECONDS: u64 = 40;
/// Seconds the clients run in the test with 8 groups (`JEPSEN_SECONDS` overrides it too).
const GROUPS_SECONDS: u64 = 20;
/// A request unanswered for this long has an unknown outcome.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(1500);
/// Completed requests a run must have per second of running, at least.
const MIN_COMPLETED_PER_SECOND: u64 = 50;
/// Where a failure writes out the history of the key that is not linearizable (`.txt`).
const NOT_LINEARIZABLE: &str = "kv-tokio-jepsen-not-linearizable";

/// A client request, on key `jepsen-KEY`; values are decimal numbers, each written once.
#[derive(Clone, Copy, Debug)]
enum Request {
    /// `PUT /kv/jepsen-KEY`.
    Put { key: Key, value: Value },
    /// `GET /kv/jepsen-KEY`.
    Get { key: Key },
    /// `POST /kv/jepsen-KEY/cas`.
    Cas {
        key: Key,
        expected: Option<Value>,
        new: Value,
    },
}

impl Request {
    fn is_read(self) -> bool {
        matches!(self, Request::Get { .. })
    }

    fn op(self) -> KvOp {
        match self {
            Request::Put { key, value } => KvOp::Put { key, value },
            Request::Get { key } => KvOp::Get { key },
            Request::Cas { key, expected, new } => KvOp::Cas { key, expected, new },
        }
    }

    async fn send(self, client: &reqwest::Client, http: &str) -> Answer {
        Answer::of(match self {
            Request::Put { key, value } => client
                .put(format!("http://{http}/kv/jepsen-{key}"))
                .body(value.to_string()),
            Request::Get { key } => client.get(format!("http://{http}/kv/jepsen-{key}")),
            Request::Cas { key, expected, new } => cas_request(
                client,
                http,
                &format!("jepsen-{key}"),
                expected.map(|v| v.to_string()).as_deref(),
                &new.to_string(),
                None,
            ),
        })
        .await
    }

    /// What `answer` says the request did: `None` if it certainly had no effect, `Some(None)`
    /// if its outcome is unknown.
    fn outcome(self, answer: &Answer) -> Option<Option<KvOutput>> {
        let Answer::Http { status, body, .. } = answer else {
            return Some(None);
        };
        Some(match (self, status) {
            (Request::Get { .. }, 200) => {
                Some(KvOutput::Read(Some(body.parse().unwrap_or_else(|_| {
                    panic!("read {body:?}, which no client wrote")
                }))))
            }
            (Request::Get { .. }, 404) => Some(KvOutput::Read(None)),
            (Request::Get { .. }, _) => None,
            (Request::Put { .. }, 200) => Some(KvOutput::Written),
            (Request::Cas { .. }, 200) => {
                let json: serde_json::Value =
                    serde_json::from_str(body).expect("a swap answers JSON");
                let swapped = json["swapped"].as_bool().expect("swapped");
                Some(KvOutput::CasResult { swapped })
            }
            _ if answer.write_refused() => return None,
            _ => None,
        })
    }

    /// The history entry for the request sent at `invoked_at` and answered at `answered_at`,
    /// or `None` if it certainly had no effect.
    fn record(
        self,
        client: u64,
        (invoked_at, answered_at): (u64, u64),
        answer: &Answer,
    ) -> Option<Operation> {
        let output = self.outcome(answer)?;
        Some(Operation {
            client,
            op: self.op(),
            invoked_at,
            completed: output.map(|out| (answered_at, out)),
        })
    }
}

/// What one client chooses and remembers: 30% puts of fresh values, 40% gets, 30% swaps from
/// the value this client last saw on the key (to a fresh value), which other clients' writes
/// often make fail.
struct Chooser {
    id: u64,
    rng: Rng,
    written: u64,
    last_seen: Vec<Option<Value>>,
}

impl Chooser {
    fn new(id: u64, seed: u64) -> Chooser {
        Chooser {
            id,
            rng: Rng::new(seed.wrapping_mul(256).wrapping_add(id)),
            written: 0,
            last_seen: vec![None; KEYS as usize],
        }
    }

    fn fresh(&mut self) -> Value {
        self.written += 1;
        self.id * 1_000_000 + self.written
    }

    fn next(&mut self) -> Request {
        let key = self.rng.below(KEYS);
        match self.rng.below(10) {
            0..=2 => Request::Put {
                key,
                value: self.fresh(),
            },
            3..=6 => Request::Get { key },
            _ => Request::Cas {
                key,
                expected: self.last_seen[key as usize],
                new: self.fresh(),
            },
        }
    }

    /// Remembers what an acknowledged request showed of its key.
    fn saw(&mut self, request: Request, output: KvOutput) {
        let (key, value) = match (request, output) {
            (Request::Get { key }, KvOutput::Read(value)) => (key, value),
            (Request::Put { key, value }, KvOutput::Written) => (key, Some(value)),
            (Request::Cas { key, new, .. }, KvOutput::CasResult { swapped: true }) => {
                (key, Some(new))
            }
            _ => return,
        };
        self.last_seen[key as usize] = value;
    }
}

/// Client `id`: one request at a time until `stop`, sent as [`Targets`] says. Returns the
/// client's history.
async fn run_client(
    id: u64,
    seed: u64,
    http: Arc<Vec<String>>,
    start: Instant,
    stop: Instant,
) -> Vec<Operation> {
    let client = client_timing_out_after(REQUEST_TIMEOUT);
    let mut targets = Targets::new(id, http.len());
    let mut chooser = Chooser::new(id, seed);
    let mut history = Vec::new();
    while Instant::now() < stop {
        let request = chooser.next();
        let target = targets.pick(request.is_read());
        let invoked_at = micros(start);
        let answer = request.send(&client, &http[target]).await;
        let entry = request.record(id, (invoked_at, micros(start)), &answer);
        if let Some((_, output)) = entry.and_then(|e| e.completed) {
            chooser.saw(request, output);
        }
        history.extend(entry);
        if targets.answered(request.is_read(), &answer, &http) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    history
}

/// The faults a nemesis injected.
#[derive(Clone, Copy, Debug, Default)]
struct Faults {
    kills: u64,
    pauses: u64,
}

/// Until `stop`: wait 0.5–2 s, then fault a random node for 1–4 s, `kill -9` and restart or
/// `SIGSTOP` and `SIGCONT`, one node at a time. The first two faults are one of each kind.
/// Every fault is undone before the next and before `stop`.
async fn nemesis(cluster: &mut Cluster, seed: u64, stop: Instant) -> Faults {
    let mut rng = Rng::new(seed.wrapping_mul(256));
    let mut faults = Faults::default();
    let first_kill = rng.below(2) == 0;
    let ms = |rng: &mut Rng, from: u64, to: u64| Duration::from_millis(from + rng.below(to - from));
    loop {
        tokio::time::sleep(ms(&mut rng, 500, 2000)).await;
        let (node, hold) = (rng.below(NODES) as usize, ms(&mut rng, 1000, 4000));
        if Instant::now() + hold >= stop {
            return faults;
        }
        let kill = match faults.kills + faults.pauses {
            0 => first_kill,
            1 => !first_kill,
            _ => rng.below(2) == 0,
        };
        if kill {
            println!("nemesis: kill -9 node {}", node + 1);
            cluster.kill(node);
            tokio::time::sleep(hold).await;
            cluster.spawn(node);
            faults.kills += 1;
        } else {
            println!("nemesis: SIGSTOP node {}", node + 1);
            cluster.pause(node);
            tokio::time::sleep(hold).await;
            cluster.resume(node);
            faults.pauses += 1;
        }
    }
}

/// A run's figures.
#[derive(Debug, Default)]
struct Figures {
    completed: u64,
    unknown: u64,
    swapped: u64,
    not_swapped: u64,
    faults: Faults,
}

impl Figures {
    fn of(history: &[Operation], faults: Faults) -> Figures {
        let mut figures = Figures {
            faults,
            ..Figures::default()
        };
        for o in history {
            match o.completed {
                None => figures.unknown += 1,
                Some((_, output)) => {
                    figures.completed += 1;
                    match output {
                        KvOutput::CasResult { swapped: true } => figures.swapped += 1,
                        KvOutput::CasResult { swapped: false } => figures.not_swapped += 1,
                        _ => {}
                    }
                }
            }
        }
        figures
    }
}

/// One run on a fresh cluster: its history is linearizable, the canary is caught, and enough
/// happened for that to mean something.
async fn run(seed: u64, length: Duration, groups: u64) -> Figures {
    let start = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cluster = Cluster::start(dir.path(), NODES, |_| {
        vec!["--groups".into(), groups.to_string()]
    });
    let admin = client_timing_out_after(REQUEST_TIMEOUT);
    let all: Vec<usize> = (0..NODES as usize).collect();
    leader(&admin, &cluster, &all).await;

    let http = Arc::new(all.iter().map(|&i| cluster.http(i)).collect::<Vec<_>>());
    let stop = Instant::now() + length;
    let clients: Vec<_> = (1..=CLIENTS)
        .map(|id| tokio::spawn(run_client(id, seed, http.clone(), start, stop)))
        .collect();
    let faults = nemesis(&mut cluster, seed, stop).await;
    let mut history = Vec::new();
    for task in clients {
        history.extend(task.await.expect("client task"));
    }
    // Healed: every node runs, and they elect a leader.
    for i in all.iter().copied() {
        assert!(cluster.is_running(i), "node {} is not running", i + 1);
    }
    leader(&admin, &cluster, &all).await;

    let figures = Figures::of(&history, faults);
    println!("seed {seed}: {figures:?}");
    assert_linearizable(&history, NOT_LINEARIZABLE);
    assert_canary_caught(&history, CLIENTS + 1);
    let least = MIN_COMPLETED_PER_SECOND * length.as_secs();
    assert!(
        figures.completed >= least,
        "fewer than {least} requests completed: {figures:?}"
    );
    assert!(faults.kills >= 1 && faults.pauses >= 1, "{faults:?}");
    assert!(
        figures.swapped >= 1 && figures.not_swapped >= 1,
        "{figures:?}"
    );
    figures
}

/// `name`'s value as a number, or `default` if it is not set.
fn setting(name: &str, default: impl FnOnce() -> u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
        Err(_) => default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_see_a_linearizable_store_through_kills_and_pauses() {
    let groups = setting("JEPSEN_GROUPS", || 1);
    runs(setting("JEPSEN_SECONDS", || DEFAULT_SECONDS), groups).await;
}

/// The same with the keys sharded into 8 Raft groups over the same three processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_8_groups_clients_see_a_linearizable_store_through_kills_and_pauses() {
    runs(setting("JEPSEN_SECONDS", || GROUPS_SECONDS), 8).await;
}

/// `JEPSEN_RUNS` runs of `seconds` on fresh clusters of `groups` groups.
async fn runs(seconds: u64, groups: u64) {
    let runs = setting("JEPSEN_RUNS", || 1);
    let seed = setting("JEPSEN_SEED", || {
        #[expect(
            clippy::disallowed_methods,
            reason = "a fresh seed for each run of the test, printed so that it replays"
        )]
        let now = std::time::SystemTime::now();
        let since = now
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        since.as_nanos() as u64 % 1_000_000_000
    });
    let mut total = Figures::default();
    for r in 0..runs {
        let seed = seed + r;
        println!(
            "run {} of {runs}: JEPSEN_SEED={seed} JEPSEN_SECONDS={seconds} JEPSEN_RUNS=1 \
             (--groups {groups})",
            r + 1
        );
        let figures = run(seed, Duration::from_secs(seconds), groups).await;
        total.completed += figures.completed;
        total.unknown += figures.unknown;
        total.swapped += figures.swapped;
        total.not_swapped += figures.not_swapped;
        total.faults.kills += figures.faults.kills;
        total.faults.pauses += figures.faults.pauses;
    }
    println!(
        "{runs} runs of {seconds} s with {groups} groups from seed {seed}: {total:?}, no anomaly"
    );
}

/// The canary on its own: histories recorded as a run records one are rejected with a stale
/// read, or with a swap that succeeded from a value already overwritten; the same histories
/// without those are accepted. A redirected swap is left out; one without an answer may have
/// happened.
#[test]
fn the_checker_rejects_a_stale_read_or_swap_recorded_like_a_run() {
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
    let swapped = |yes: bool| ok(&format!("{{\"swapped\": {yes}, \"index\": 9}}"));
    let cas = |expected, new| Request::Cas {
        key: 1,
        expected,
        new,
    };
    let history = |stale_read: bool, stale_swap: bool| {
        let steps = [
            (1, Request::Get { key: 1 }, (10, 20), not_found.clone()),
            (2, cas(None, 7), (30, 40), swapped(true)),
            (3, cas(None, 8), (35, 45), swapped(false)),
            (3, cas(Some(7), 5), (36, 46), redirected.clone()),
            (1, cas(Some(7), 9), (50, 60), swapped(true)),
            (2, Request::Put { key: 1, value: 6 }, (55, 0), Answer::None),
            (3, cas(Some(7), 4), (70, 80), swapped(stale_swap)),
            (
                1,
                Request::Get { key: 1 },
                (90, 95),
                ok(if stale_read { "7" } else { "6" }),
            ),
        ];
        steps
            .into_iter()
            .filter_map(|(c, request, times, answer)| request.record(c, times, &answer))
            .collect::<Vec<_>>()
    };
    assert_eq!(history(false, false).len(), 7);
    assert_linearizable(&history(false, false), NOT_LINEARIZABLE);
    for (stale_read, stale_swap) in [(true, false), (false, true)] {
        assert!(
            matches!(
                check(&history(stale_read, stale_swap), MAX_STEPS),
                Verdict::NotLinearizable { key: 1, .. }
            ),
            "stale read {stale_read}, stale swap {stale_swap}"
        );
    }
}
