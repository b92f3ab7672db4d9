//! Scripted interaction tests in the spirit of etcd's `testdata/*.txt`.
//!
//! Each file in `tests/scripts/` is a sequence of blocks:
//!
//! ```text
//! # a comment
//! command arg key=value
//! ----
//! expected output, one line per action
//! (blank line ends the block)
//! ```
//!
//! Run with `REWRITE=1 cargo test -p sansraft --test scripts` to regenerate the expected
//! outputs after an intended behaviour change, then review the diff.
//!
//! Commands:
//! - `cluster n=3 [pre_vote=false] [check_quorum=false] [election=10] [heartbeat=2] [inflight=N]`
//! - `tick <id> [n]` — tick a node n times; `tick-all [n]`
//! - `campaign <id>` — tick until the node leaves the follower role
//! - `deliver [n]` — deliver up to n in-flight messages (default: all currently in flight)
//! - `stabilize` — deliver and persist until nothing is left in flight
//! - `drop [from=<id>] [to=<id>] [first]` — discard matching in-flight messages (only the
//!   first with `first`)
//! - `persist <id> [n]` — make n pending writes durable and acknowledge them (default all)
//! - `auto-persist on|off` — acknowledge writes as soon as they are issued (default on)
//! - `propose <id> <data>`
//! - `crash <id>`, `restart <id>`, `isolate <id>`, `heal`
//! - `status` — one line per node; `log <id>` — the terms of a node's log
//! - `add-node <id>` — start a node that is not yet a member (empty configuration)
//! - `change <id> <step>...` — propose a membership change at a node; steps are `learner:<id>`,
//!   `promote:<id>`, `remove:<id>`, `priority:<id>:<p>` (a leader priority), or none to leave a
//!   joint configuration
//! - `membership <id>` — the configuration a node has in force
//!
//! - `read-index <id> <read-id>` — ask a node for a linearizable read
//! - `read-stale <id> <read-id> <bound>` — ask a node for a read at most `bound` ticks stale;
//!   `cluster stamps=true` prints heartbeat answers' stamps (`stamp=incarnation/tick`) and
//!   heartbeats' freshness proofs (`proof=incarnation/tick<=commit`)
//!
//! `cluster` also takes `auto_leave=false`, `gap=<entries>`, `auto_promote=true`, `lease=true`
//! and `drift=<percent>`.
//! - `snapshot <id>` — the application takes a snapshot at its applied index
//! - `transfer <leader> <target>` — ask the leader to hand leadership to the target
//! - `reads on|off` — answer snapshot chunk reads at once (default on); `read` answers the
//!   oldest queued one
//! - `cluster` also takes `keep=N` (entries kept after compaction), `chunk=N` (snapshot chunk
//!   bytes), `chunks=N` (chunks in flight) and `retry=N` (ticks before a chunk retry)
//!
//! A node's snapshot is the list of payloads it applied, so installs are visible in `status`.
//!
//! The world is the test kit's cluster driver (`sansraft_testkit::Cluster`) with its action
//! trace on; each recorded action is printed as one line by a [`Effects`] implementation.

use bytes::Bytes;
use sansraft::message::{AppendResponse, SnapshotResponse};
use sansraft::{
    Body, ChunkRequest, ChunkWrite, ConfChange, ConfChangeError, ConfChangeStep, Config, Entries,
    Index, Input, LogPosition, Membership, Message, NodeId, ProposeError, ReadError, Role, Term,
    TransferOutcome, Write,
};
use sansraft_testkit::state_machine::SnapshotFormat;
use sansraft_testkit::{dispatch, Cluster, Effects};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The test kit's cluster, recording every action so that each can be printed as a line.
#[derive(Default)]
struct World {
    cluster: Option<Cluster>,
    args: BTreeMap<String, String>,
}

/// Prints one node's actions, one line each.
struct Describe<'a> {
    id: NodeId,
    out: &'a mut String,
    /// Print stamps and freshness proofs (`cluster stamps=true`).
    stamps: bool,
}

impl Describe<'_> {
    fn line(&mut self, text: std::fmt::Arguments<'_>) {
        writeln!(self.out, "{}: {text}", self.id).unwrap();
    }
}

impl Effects for Describe<'_> {
    fn persist(&mut self, write: Write) {
        let hs = write
            .hard_state
            .map(|h| format!(" term={} vote={:?} commit={}", h.term, h.vote, h.commit));
        let entries = match (write.entries.first(), write.entries.last()) {
            (Some(f), Some(l)) => format!(" entries={}..{}", f.index, l.index),
            _ => String::new(),
        };
        let install = write.install.as_ref().map_or(String::new(), |i| {
            format!(
                " install={}@{}{}",
                i.meta.index,
                i.meta.term,
                if i.retain_log { " retain" } else { "" }
            )
        });
        let seq = write.token.seq;
        self.line(format_args!(
            "persist #{seq}{install}{}{entries}",
            hs.unwrap_or_default()
        ));
    }
    fn send(&mut self, message: Message) {
        let mut line = describe_message(&message);
        match &message.body {
            Body::Heartbeat(h) if self.stamps => {
                if let Some(p) = h.proof {
                    let s = p.stamp;
                    write!(line, " proof={}/{}<={}", s.incarnation, s.tick, p.commit).unwrap();
                }
            }
            Body::HeartbeatResponse(r) if self.stamps => {
                if let Some(s) = r.stamp {
                    write!(line, " stamp={}/{}", s.incarnation, s.tick).unwrap();
                }
            }
            _ => {}
        }
        writeln!(self.out, "{line}").unwrap();
    }
    fn apply(&mut self, entries: Entries) {
        let (f, l) = (entries[0].index, entries[entries.len() - 1].index);
        self.line(format_args!("apply {f}..{l}"));
    }
    fn proposed(&mut self, result: Result<LogPosition, ProposeError>) {
        match result {
            Ok(pos) => self.line(format_args!("proposed {}@{}", pos.index, pos.term)),
            Err(e) => self.line(format_args!("refused: {e}")),
        }
    }
    fn membership_proposed(&mut self, result: Result<LogPosition, ConfChangeError>) {
        match result {
            Ok(pos) => self.line(format_args!(
                "membership proposed {}@{}",
                pos.index, pos.term
            )),
            Err(e) => self.line(format_args!("membership refused: {e}")),
        }
    }
    fn learner_caught_up(&mut self, learner: NodeId, match_index: Index) {
        self.line(format_args!(
            "learner {learner} caught up match={match_index}"
        ));
    }
    fn read_ready(&mut self, read: u64, index: Index) {
        self.line(format_args!("read {read} ready index={index}"));
    }
    fn read_failed(&mut self, read: u64, error: ReadError) {
        self.line(format_args!("read {read} failed: {error}"));
    }
    fn compact_log(&mut self, upto: Index) {
        self.line(format_args!("compact ..{upto}"));
    }
    fn read_snapshot_chunk(&mut self, req: ChunkRequest) {
        self.line(format_args!(
            "read snapshot {}@{} for {} offset={} max={}",
            req.index, req.term, req.peer, req.offset, req.max_len
        ));
    }
    fn write_snapshot_chunk(&mut self, w: ChunkWrite) {
        self.line(format_args!(
            "write snapshot {}@{} offset={} len={}",
            w.index,
            w.term,
            w.offset,
            w.data.len()
        ));
    }
    fn drop_partial_snapshot(&mut self, index: Index, term: Term) {
        self.line(format_args!("drop partial snapshot {index}@{term}"));
    }
    fn transfer(&mut self, outcome: TransferOutcome) {
        self.line(format_args!("transfer {outcome:?}"));
    }
}

fn describe_message(m: &Message) -> String {
    let body = match &m.body {
        Body::Append(a) => {
            let entries = match (a.entries.first(), a.entries.last()) {
                (Some(f), Some(l)) => format!(" entries={}..{}@{}", f.index, l.index, l.term),
                _ => String::new(),
            };
            format!(
                "append prev={}/{} commit={}{entries}",
                a.prev_index, a.prev_term, a.commit
            )
        }
        Body::AppendResponse(AppendResponse::Accepted { match_index }) => {
            format!("append-ok match={match_index}")
        }
        Body::AppendResponse(AppendResponse::Rejected {
            reject_index,
            hint_index,
            hint_term,
        }) => {
            format!("append-reject at={reject_index} hint={hint_index}/{hint_term:?}")
        }
        Body::Heartbeat(h) if h.round == 0 => format!("heartbeat commit={}", h.commit),
        Body::Heartbeat(h) => format!("heartbeat commit={} round={}", h.commit, h.round),
        Body::HeartbeatResponse(r) if r.round == 0 => "heartbeat-ok".to_string(),
        Body::HeartbeatResponse(r) => format!("heartbeat-ok round={}", r.round),
        Body::Vote(v) if v.transfer => format!(
            "{} last={}/{} transfer",
            m.body.kind_name(),
            v.last_index,
            v.last_term
        ),
        Body::Vote(v) => format!(
            "{} last={}/{}",
            m.body.kind_name(),
            v.last_index,
            v.last_term
        ),
        Body::VoteResponse(v) => format!("{} granted={}", m.body.kind_name(), v.granted),
        Body::ReadIndex(r) => format!("read-index id={}", r.id),
        Body::ReadIndexResponse(r) => {
            format!("read-index-response id={} index={:?}", r.id, r.index)
        }
        Body::SnapshotChunk(c) => format!(
            "snapshot {}@{} offset={} len={}{}{}",
            c.index,
            c.term,
            c.offset,
            c.data.len(),
            if c.membership.is_some() { " first" } else { "" },
            if c.done { " done" } else { "" }
        ),
        Body::SnapshotResponse(SnapshotResponse::Next {
            index,
            term,
            offset,
        }) => format!("snapshot-next {index}@{term} offset={offset}"),
        Body::SnapshotResponse(SnapshotResponse::Installed { match_index }) => {
            format!("snapshot-installed match={match_index}")
        }
        Body::SnapshotResponse(SnapshotResponse::Refused { index, term }) => {
            format!("snapshot-refused {index}@{term}")
        }
        Body::TimeoutNow => "timeout-now".to_string(),
    };
    format!("{}->{} term={} {body}", m.from, m.to, m.term)
}

impl World {
    fn c(&mut self) -> &mut Cluster {
        self.cluster.as_mut().expect("a `cluster` command first")
    }

    fn config(&self, id: NodeId) -> Config {
        let args = &self.args;
        let mut config = Config::new(id, id);
        config.pre_vote = arg(args, "pre_vote", true);
        config.check_quorum = arg(args, "check_quorum", true);
        config.election_timeout_ticks = arg(args, "election", 10);
        config.heartbeat_interval_ticks = arg(args, "heartbeat", 2);
        config.max_inflight_msgs = arg(args, "inflight", 256);
        config.auto_leave_joint = arg(args, "auto_leave", true);
        config.learner_catch_up_gap = arg(args, "gap", 64);
        config.auto_promote_learners = arg(args, "auto_promote", false);
        config.lease_reads = arg(args, "lease", false);
        config.max_clock_drift_percent = arg(args, "drift", 10);
        config.compaction_keep_entries = arg(args, "keep", 0);
        config.snapshot_chunk_bytes = arg(args, "chunk", 4);
        config.max_snapshot_chunks_in_flight = arg(args, "chunks", 2);
        config.snapshot_retry_ticks = arg(args, "retry", 4);
        config
    }

    fn new_cluster(&mut self, args: &BTreeMap<String, String>) {
        self.args = args.clone();
        let mut c = Cluster::with_config(arg(args, "n", 3), |id| self.config(id));
        c.snapshot_format = SnapshotFormat::Concatenated;
        c.trace = Some(Vec::new());
        self.cluster = Some(c);
    }

    /// Prints the actions recorded since the last call.
    fn print_trace(&mut self, out: &mut String) {
        let stamps = arg(&self.args, "stamps", false);
        let trace = self.c().trace.as_mut().expect("tracing");
        for (id, action) in std::mem::take(trace) {
            dispatch(action, &mut Describe { id, out, stamps });
        }
    }

    fn step(&mut self, id: NodeId, input: Input) {
        if (1..=self.c().peers.len() as NodeId).contains(&id) {
            self.c().step(id, input);
        }
    }

    /// Delivers up to `limit` messages, oldest first; returns how many left the network.
    fn deliver(&mut self, limit: usize) -> usize {
        let mut delivered = 0;
        while delivered < limit && self.c().deliver_one() {
            delivered += 1;
        }
        delivered
    }

    /// Makes every pending write of every node durable and acknowledges it; returns whether
    /// there was any.
    fn persist_everywhere(&mut self) -> bool {
        let mut progressed = false;
        for id in self.c().ids() {
            while let Some(ack) = self.c().persist_one(id) {
                progressed = true;
                self.step(id, ack);
            }
        }
        progressed
    }

    fn status_line(&mut self, id: NodeId) -> String {
        let peer = self.c().peer(id);
        match peer.node.as_ref() {
            None => format!("{id}: down"),
            Some(n) => {
                let s = n.status();
                let role = match s.role {
                    Role::Follower => "follower",
                    Role::PreCandidate => "pre-candidate",
                    Role::Candidate => "candidate",
                    Role::Leader => "leader",
                };
                let snapshots = if n.snapshot().index > 0 || n.first_index() > 1 {
                    let sm: Vec<u8> = peer.applied.iter().flat_map(|e| e.data.to_vec()).collect();
                    format!(
                        " first={} snapshot={} sm={:?}",
                        n.first_index(),
                        n.snapshot().index,
                        String::from_utf8_lossy(&sm)
                    )
                } else {
                    String::new()
                };
                format!(
                    "{id}: {role} term={} leader={:?} commit={} applied={} last={} \
                     durable={}{snapshots}",
                    s.term, s.leader, s.commit, s.applied, s.last_index, s.durable_index
                )
            }
        }
    }

    fn run(&mut self, command: &str, args: &[&str], out: &mut String) {
        let kv: BTreeMap<String, String> = args
            .iter()
            .filter_map(|a| a.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let positional: Vec<&str> = args.iter().copied().filter(|a| !a.contains('=')).collect();
        let id = |i: usize| -> NodeId { positional[i].parse().expect("node id") };
        let count = |i: usize, default: usize| {
            positional
                .get(i)
                .map_or(default, |s| s.parse().expect("count"))
        };
        if command == "cluster" {
            self.new_cluster(&kv);
            return;
        }
        let c = self.c();
        match command {
            "tick" => {
                for _ in 0..count(1, 1) {
                    self.step(id(0), Input::Tick);
                }
            }
            "tick-all" => {
                for _ in 0..count(0, 1) {
                    c.tick_all();
                }
            }
            "campaign" => {
                let id = id(0);
                for _ in 0..100 {
                    c.tick(id);
                    if c.peer(id)
                        .node
                        .as_ref()
                        .is_none_or(|n| n.role() != Role::Follower)
                    {
                        break;
                    }
                }
            }
            "deliver" => {
                let n = count(0, c.network.len());
                self.deliver(n);
            }
            "stabilize" => {
                for _ in 0..10_000 {
                    let delivered = self.deliver(usize::MAX) > 0;
                    if !(self.persist_everywhere() || delivered) {
                        break;
                    }
                }
            }
            "drop" => {
                let from: Option<NodeId> = kv.get("from").map(|s| s.parse().unwrap());
                let to: Option<NodeId> = kv.get("to").map(|s| s.parse().unwrap());
                let only_first = positional.first() == Some(&"first");
                let mut dropped = false;
                c.network.retain(|m| {
                    let hit = from.is_none_or(|f| m.from == f) && to.is_none_or(|t| m.to == t);
                    let drop = hit && !(only_first && dropped);
                    dropped |= drop;
                    !drop
                });
            }
            "persist" => {
                let id = id(0);
                for _ in 0..count(1, usize::MAX) {
                    let Some(ack) = c.persist_one(id) else {
                        break;
                    };
                    c.step(id, ack);
                }
            }
            "auto-persist" => c.auto_persist = positional[0] != "off",
            "propose" => {
                let data = Bytes::copy_from_slice(positional[1].as_bytes());
                self.step(id(0), Input::Propose(data));
            }
            "crash" => c.crash(id(0)),
            "restart" => c.restart(id(0)),
            "snapshot" => {
                // Printed before the actions the report causes (the trace is printed last).
                let meta = c.take_snapshot(id(0));
                writeln!(out, "{}: snapshot at {}@{}", id(0), meta.index, meta.term).unwrap();
            }
            "transfer" => self.step(id(0), Input::TransferLeadership(id(1))),
            "refuse-snapshot" => {
                // `refuse-snapshot NODE INDEX TERM`: its embedder will not take that snapshot.
                let number = |k: usize| positional[k].parse().expect("a number");
                let (index, term) = (number(1), number(2));
                self.step(id(0), Input::RefuseSnapshot { index, term });
            }
            "reads" => c.auto_read = positional[0] != "off",
            "read" => {
                c.answer_read();
            }
            "isolate" => c.isolate(id(0)),
            "heal" => c.heal(),
            "add-node" => {
                let config = self.config(id(0));
                self.c().add_peer(config, Membership::default());
            }
            "read-index" => {
                let read: u64 = positional[1].parse().expect("read id");
                self.step(id(0), Input::ReadIndex(read));
            }
            "read-stale" => {
                let read: u64 = positional[1].parse().expect("read id");
                let max_staleness_ticks = positional[2].parse().expect("a bound in ticks");
                self.step(
                    id(0),
                    Input::ReadStale {
                        id: read,
                        max_staleness_ticks,
                    },
                );
            }
            "change" => {
                let steps = positional[1..].iter().map(|step| {
                    let (kind, node) = step.split_once(':').expect("step kind:id");
                    if kind == "priority" {
                        let (node, p) = node.split_once(':').expect("priority:<id>:<p>");
                        let node: NodeId = node.parse().expect("node id");
                        return ConfChangeStep::SetPriority(node, p.parse().expect("priority"));
                    }
                    let node: NodeId = node.parse().expect("node id");
                    match kind {
                        "learner" => ConfChangeStep::AddLearner(node),
                        "promote" => ConfChangeStep::Promote(node),
                        "remove" => ConfChangeStep::Remove(node),
                        other => panic!("unknown step {other:?}"),
                    }
                });
                let change = ConfChange::new(steps);
                self.step(id(0), Input::ChangeMembership(change));
            }
            "membership" => {
                let node = c.node(id(0));
                let m = node.membership();
                let priorities: String = (m.priorities.iter())
                    .map(|p| format!(" priority({})={}", p.id, p.priority))
                    .collect();
                writeln!(
                    out,
                    "{}: voters={:?} outgoing={:?} learners={:?}{priorities} (entry {})",
                    id(0),
                    m.voters,
                    m.outgoing,
                    m.learners,
                    node.membership_index()
                )
                .unwrap();
            }
            "status" => {
                for id in c.ids() {
                    let line = self.status_line(id);
                    writeln!(out, "{line}").unwrap();
                }
            }
            "log" => {
                let terms: Vec<String> = c
                    .node(id(0))
                    .log_entries_from(0)
                    .map(|e| e.term.to_string())
                    .collect();
                writeln!(out, "{}: [{}]", id(0), terms.join(" ")).unwrap();
            }
            other => panic!("unknown command {other:?}"),
        }
        self.print_trace(out);
    }
}

fn arg<T: std::str::FromStr>(args: &BTreeMap<String, String>, key: &str, default: T) -> T {
    args.get(key)
        .map_or(default, |v| v.parse().ok().expect("argument value"))
}

/// Runs one script; returns the script text with regenerated outputs.
fn run_script(text: &str) -> String {
    let mut world = World::default();
    let mut rewritten = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            rewritten.push_str(line);
            rewritten.push('\n');
            continue;
        }
        let mut words = trimmed.split_whitespace();
        let command = words.next().unwrap();
        let args: Vec<&str> = words.collect();
        rewritten.push_str(line);
        rewritten.push('\n');
        assert_eq!(
            lines.next().map(str::trim),
            Some("----"),
            "command {trimmed:?} must be followed by ----"
        );
        while lines.peek().is_some_and(|l| !l.trim().is_empty()) {
            lines.next();
        }
        let mut out = String::new();
        world.run(command, &args, &mut out);
        rewritten.push_str("----\n");
        if out.is_empty() {
            out.push_str("ok\n");
        }
        rewritten.push_str(&out);
    }
    rewritten
}

#[test]
fn scripts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no scripts in {}", dir.display());
    let rewrite = std::env::var_os("REWRITE").is_some();
    let mut failures = Vec::new();
    for path in paths
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
    {
        let text = std::fs::read_to_string(path).unwrap();
        let got = run_script(&text);
        if rewrite {
            std::fs::write(path, &got).unwrap();
        } else if got != text {
            let diff: Vec<String> = text
                .lines()
                .zip(got.lines())
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .take(5)
                .map(|(i, (a, b))| {
                    format!(
                        "  line {}: expected {a:?}\n           got      {b:?}",
                        i + 1
                    )
                })
                .collect();
            failures.push(format!("{}:\n{}", path.display(), diff.join("\n")));
        }
    }
    assert!(
        failures.is_empty(),
        "scripts differ (REWRITE=1 to regenerate):\n{}",
        failures.join("\n")
    );
}
