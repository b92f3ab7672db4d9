//! Per-step cost of sansraft's hottest inputs, each timed on its own with the timer's own
//! overhead subtracted.

use crate::ours::OursCluster;
use bytes::Bytes;
use sansraft::message::{Append, AppendResponse, Heartbeat, VoteRequest};
use sansraft::{
    Action, Body, Config, DurableState, Entry, EntryKind, Input, Membership, Message, Node,
    WriteToken,
};
use std::time::{Duration, Instant};

/// Time per step of one kind of input.
#[derive(Clone, Copy, Debug)]
pub struct StepCost {
    /// What was stepped.
    pub name: &'static str,
    /// Steps timed.
    pub steps: u64,
    /// Mean nanoseconds per step, timer overhead subtracted.
    pub ns_per_step: f64,
}

#[expect(
    clippy::disallowed_methods,
    reason = "benchmarks report wall-clock cost, outside any simulated world"
)]
fn now() -> Instant {
    Instant::now()
}

/// The cost of reading the clock twice, to subtract from every timed step.
fn timer_overhead() -> Duration {
    let n = 100_000u32;
    let mut total = Duration::ZERO;
    for _ in 0..n {
        let t = now();
        total += t.elapsed();
    }
    total / n
}

/// Accumulates timed steps.
struct Timer {
    total: Duration,
    steps: u64,
    /// Clock reads (pairs), each over one step or one batch of steps.
    timings: u64,
}

impl Timer {
    fn new() -> Self {
        Timer {
            total: Duration::ZERO,
            steps: 0,
            timings: 0,
        }
    }

    /// Steps `input` `n` times under one clock read (for steps too cheap to time alone).
    fn steps(&mut self, node: &mut Node, n: u64, input: impl Fn() -> Input, out: &mut Vec<Action>) {
        let t = now();
        for _ in 0..n {
            node.step_into(input(), out);
            out.clear();
        }
        self.total += t.elapsed();
        self.steps += n;
        self.timings += 1;
    }

    /// Steps `input` into `node`, timing the step and the dropping of its actions. Returns the
    /// token of the write it issued, if any.
    fn step(&mut self, node: &mut Node, input: Input, out: &mut Vec<Action>) -> Option<WriteToken> {
        let t = now();
        node.step_into(input, out);
        let token = write_token(out);
        out.clear();
        self.total += t.elapsed();
        self.steps += 1;
        self.timings += 1;
        token
    }

    fn cost(&self, name: &'static str, overhead: Duration) -> StepCost {
        let timer = overhead.as_nanos() as f64 * self.timings as f64;
        let per = (self.total.as_nanos() as f64 - timer) / self.steps as f64;
        StepCost {
            name,
            steps: self.steps,
            ns_per_step: per.max(0.0),
        }
    }
}

fn write_token(actions: &[Action]) -> Option<WriteToken> {
    actions.iter().find_map(|a| match a {
        Action::Persist(w) => Some(w.token),
        _ => None,
    })
}

/// Steps `input` untimed and acknowledges any write at once (also untimed).
fn step_acked(node: &mut Node, input: Input, out: &mut Vec<Action>) {
    node.step_into(input, out);
    let token = write_token(out);
    out.clear();
    if let Some(token) = token {
        node.step_into(Input::Persisted(token), out);
        out.clear();
    }
}

fn follower() -> Node {
    let state = DurableState::bootstrap(Membership::with_voters([1, 2, 3]));
    Node::new(Config::new(2, 1), state, 1).expect("valid start state")
}

fn message(from: u64, to: u64, term: u64, body: Body) -> Message {
    Message {
        from,
        to,
        term,
        body,
    }
}

fn heartbeat(commit: u64) -> Message {
    message(
        1,
        2,
        1,
        Body::Heartbeat(Heartbeat {
            commit,
            round: 0,
            proof: None,
            quiesce: false,
        }),
    )
}

/// Appends of 64 entries of 16 B each, consecutive from index 1, term 1.
fn appends(count: usize) -> Vec<Message> {
    let payload = Bytes::from_static(&[7u8; 16]);
    (0..count as u64)
        .map(|m| {
            let entries = (1..=64)
                .map(|i| Entry {
                    term: 1,
                    index: m * 64 + i,
                    kind: EntryKind::Normal,
                    data: payload.clone(),
                })
                .collect();
            let prev_index = m * 64;
            let append = Append {
                prev_index,
                prev_term: if prev_index == 0 { 0 } else { 1 },
                commit: prev_index,
                entries,
            };
            message(1, 2, 1, Body::Append(append))
        })
        .collect()
}

/// Every per-step figure. `scale` multiplies the number of timed steps.
pub fn measure(scale: u64) -> Vec<StepCost> {
    let overhead = timer_overhead();
    let mut out = Vec::new();
    let mut costs = Vec::new();

    // An idle follower's tick: a heartbeat every few ticks keeps the election timer from
    // firing; only the ticks are timed.
    let mut node = follower();
    step_acked(&mut node, Input::Message(heartbeat(0)), &mut out);
    let mut ticks = Timer::new();
    for _ in 0..(5_000 * scale) {
        step_acked(&mut node, Input::Message(heartbeat(0)), &mut out);
        ticks.steps(&mut node, 4, || Input::Tick, &mut out);
    }
    costs.push(ticks.cost("tick, nothing to do (follower)", overhead));

    // A follower's heartbeat: commit unchanged, answered at once.
    let mut beats = Timer::new();
    for _ in 0..(20_000 * scale) {
        beats.step(&mut node, Input::Message(heartbeat(0)), &mut out);
    }
    costs.push(beats.cost("heartbeat (follower, answer included)", overhead));

    // A follower's append of 64 new entries; the storage acknowledgement that releases the
    // answer is timed apart.
    let mut appended = Timer::new();
    let mut acks = Timer::new();
    let mut node = follower();
    for append in appends((500 * scale) as usize) {
        let token = appended
            .step(&mut node, Input::Message(append), &mut out)
            .expect("an append is written");
        acks.step(&mut node, Input::Persisted(token), &mut out);
        let applied = node.status().commit;
        node.step_into(Input::Applied(applied), &mut out);
        out.clear();
    }
    costs.push(appended.cost("append of 64 x 16 B entries (follower)", overhead));
    costs.push(acks.cost("storage ack releasing the append answer", overhead));

    // A leader's append responses, each acknowledging one more 64-entry append.
    costs.push(append_responses(scale, overhead));

    // A vote request for a newer term each time, granted; the hard-state write's
    // acknowledgement is not timed.
    let mut votes = Timer::new();
    let mut node = follower();
    for term in 1..=(20_000 * scale) {
        let request = VoteRequest {
            pre_vote: false,
            last_index: 0,
            last_term: 0,
            transfer: false,
            config_index: 0,
            config_term: 0,
        };
        let token = votes
            .step(
                &mut node,
                Input::Message(message(3, 2, term, Body::Vote(request))),
                &mut out,
            )
            .expect("a granted vote is written");
        node.step_into(Input::Persisted(token), &mut out);
        out.clear();
    }
    costs.push(votes.cost("vote request, newer term, granted", overhead));
    costs
}

fn append_responses(scale: u64, overhead: Duration) -> StepCost {
    let mut timer = Timer::new();
    let mut out = Vec::new();
    for _ in 0..(10 * scale) {
        let mut cluster =
            <OursCluster as crate::workload::Cluster>::start(3, crate::transport::Mode::InProcess);
        let leader = cluster.leader().expect("leader");
        let mut node = std::mem::replace(&mut cluster.members[leader].node, follower());
        let base = node.status().last_index;
        let followers: Vec<u64> = (1..=3).filter(|&id| id != node.id()).collect();
        let batches = 200u64;
        for b in 0..batches {
            let payloads = crate::workload::payload_batch(64, 16, b);
            step_acked(&mut node, Input::ProposeBatch(payloads), &mut out);
        }
        for b in 1..=batches {
            for &from in &followers {
                let response = AppendResponse::Accepted {
                    match_index: base + b * 64,
                };
                let m = message(from, node.id(), node.term(), Body::AppendResponse(response));
                timer.step(&mut node, Input::Message(m), &mut out);
            }
        }
    }
    timer.cost("append response (leader, commit advancing)", overhead)
}
