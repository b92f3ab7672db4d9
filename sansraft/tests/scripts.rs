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
//!   `promote:<id>`, `remove:<id>`, or none to leave a joint configuration
//! - `membership <id>` — the configuration a node has in force
//!
//! - `read-index <id> <read-id>` — ask a node for a linearizable read
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

use bytes::Bytes;
use sansraft::message::{AppendResponse, SnapshotResponse};
use sansraft::{
    Action, Body, ChunkRead, ConfChange, ConfChangeStep, Config, DurableState, Index, Input,
    Membership, Message, Node, NodeId, Role, SnapshotMeta, Term, Write,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;

struct Peer {
    node: Option<Node>,
    config: Config,
    durable: DurableState,
    pending: VecDeque<Write>,
    incarnation: u64,
    /// Payloads applied, rebuilt from the snapshot on restart.
    applied: Vec<u8>,
    snapshot_data: Bytes,
    partial: Option<((Index, Term), Vec<u8>)>,
    installing: VecDeque<Bytes>,
}

#[derive(Default)]
struct World {
    peers: BTreeMap<NodeId, Peer>,
    network: VecDeque<Message>,
    cut: BTreeSet<NodeId>,
    manual_persist: bool,
    args: BTreeMap<String, String>,
    manual_read: bool,
    reads: VecDeque<(NodeId, ChunkRead)>,
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
        Body::TimeoutNow => "timeout-now".to_string(),
    };
    format!("{}->{} term={} {body}", m.from, m.to, m.term)
}

impl World {
    fn new_cluster(&mut self, args: &BTreeMap<String, String>) {
        let n: u64 = arg(args, "n", 3);
        let membership = Membership::with_voters(1..=n);
        self.peers.clear();
        self.network.clear();
        self.cut.clear();
        self.args = args.clone();
        for id in 1..=n {
            self.add_node(id, membership.clone());
        }
    }

    fn add_node(&mut self, id: NodeId, membership: Membership) {
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
        let durable = DurableState::bootstrap(membership);
        let node = Node::new(config.clone(), durable.clone(), 0).expect("valid start");
        self.peers.insert(
            id,
            Peer {
                node: Some(node),
                config,
                durable,
                pending: VecDeque::new(),
                incarnation: 0,
                applied: Vec::new(),
                snapshot_data: Bytes::new(),
                partial: None,
                installing: VecDeque::new(),
            },
        );
    }

    fn step(&mut self, id: NodeId, input: Input, out: &mut String) {
        let Some(node) = self.peers.get_mut(&id).and_then(|p| p.node.as_mut()) else {
            return;
        };
        let actions = node.step(input);
        let mut follow_up = Vec::new();
        for action in actions {
            match action {
                Action::Persist(write) => {
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
                    writeln!(
                        out,
                        "{id}: persist #{}{install}{}{entries}",
                        write.token.seq,
                        hs.unwrap_or_default()
                    )
                    .unwrap();
                    let peer = self.peers.get_mut(&id).unwrap();
                    if write.install.is_some() {
                        let (_, bytes) = peer.partial.take().expect("a received snapshot");
                        peer.applied = bytes.clone();
                        peer.installing.push_back(Bytes::from(bytes));
                    }
                    peer.pending.push_back(write);
                    if !self.manual_persist {
                        follow_up.push(self.make_durable(id).unwrap());
                    }
                }
                Action::Send(m) => {
                    writeln!(out, "{}", describe_message(&m)).unwrap();
                    self.network.push_back(m);
                }
                Action::Apply(entries) => {
                    let (f, l) = (entries[0].index, entries[entries.len() - 1].index);
                    writeln!(out, "{id}: apply {f}..{l}").unwrap();
                    let peer = self.peers.get_mut(&id).unwrap();
                    for e in &entries {
                        peer.applied.extend_from_slice(&e.data);
                    }
                    follow_up.push(Input::Applied(l));
                }
                Action::Proposed(Ok(pos)) => {
                    writeln!(out, "{id}: proposed {}@{}", pos.index, pos.term).unwrap()
                }
                Action::Proposed(Err(e)) => writeln!(out, "{id}: refused: {e}").unwrap(),
                Action::MembershipProposed(Ok(pos)) => {
                    writeln!(out, "{id}: membership proposed {}@{}", pos.index, pos.term).unwrap()
                }
                Action::MembershipProposed(Err(e)) => {
                    writeln!(out, "{id}: membership refused: {e}").unwrap()
                }
                Action::LearnerCaughtUp {
                    learner,
                    match_index,
                } => {
                    writeln!(out, "{id}: learner {learner} caught up match={match_index}").unwrap()
                }
                Action::ReadReady { id: read, index } => {
                    writeln!(out, "{id}: read {read} ready index={index}").unwrap()
                }
                Action::ReadFailed { id: read, error } => {
                    writeln!(out, "{id}: read {read} failed: {error}").unwrap()
                }
                Action::CompactLog(index) => {
                    writeln!(out, "{id}: compact ..{index}").unwrap();
                    let peer = self.peers.get_mut(&id).unwrap();
                    peer.durable.entries.retain(|e| e.index > index);
                }
                Action::ReadSnapshotChunk(req) => {
                    writeln!(
                        out,
                        "{id}: read snapshot {}@{} for {} offset={} max={}",
                        req.index, req.term, req.peer, req.offset, req.max_len
                    )
                    .unwrap();
                    let read = req.answer_from(&self.peers[&id].snapshot_data);
                    if self.manual_read {
                        self.reads.push_back((id, read));
                    } else {
                        follow_up.push(Input::SnapshotChunkRead(read));
                    }
                }
                Action::WriteSnapshotChunk(w) => {
                    writeln!(
                        out,
                        "{id}: write snapshot {}@{} offset={} len={}",
                        w.index,
                        w.term,
                        w.offset,
                        w.data.len()
                    )
                    .unwrap();
                    let peer = self.peers.get_mut(&id).unwrap();
                    if w.offset == 0 {
                        peer.partial = Some(((w.index, w.term), Vec::new()));
                    }
                    let (_, bytes) = peer.partial.as_mut().expect("a partial snapshot");
                    assert_eq!(bytes.len() as u64, w.offset, "chunks arrive in order");
                    bytes.extend_from_slice(&w.data);
                }
                Action::DropPartialSnapshot { index, term } => {
                    writeln!(out, "{id}: drop partial snapshot {index}@{term}").unwrap();
                    self.peers.get_mut(&id).unwrap().partial = None;
                }
                Action::Transfer(outcome) => writeln!(out, "{id}: transfer {outcome:?}").unwrap(),
            }
        }
        for input in follow_up {
            self.step(id, input, out);
        }
    }

    fn make_durable(&mut self, id: NodeId) -> Option<Input> {
        let peer = self.peers.get_mut(&id)?;
        let write = peer.pending.pop_front()?;
        if let Some(install) = &write.install {
            peer.snapshot_data = peer.installing.pop_front().expect("install bytes");
            peer.durable.snapshot = install.meta.clone();
            let index = install.meta.index;
            if install.retain_log {
                peer.durable.entries.retain(|e| e.index > index);
            } else {
                peer.durable.entries.clear();
            }
        }
        if let Some(hs) = write.hard_state {
            peer.durable.hard_state = hs;
        }
        if let Some(first) = write.entries.first() {
            peer.durable.entries.retain(|e| e.index < first.index);
            peer.durable.entries.extend(write.entries.iter().cloned());
        }
        Some(Input::Persisted(write.token))
    }

    fn deliver(&mut self, limit: usize, out: &mut String) -> usize {
        let mut delivered = 0;
        while delivered < limit {
            let Some(m) = self.network.pop_front() else {
                break;
            };
            delivered += 1;
            if self.cut.contains(&m.from) || self.cut.contains(&m.to) {
                continue;
            }
            let to = m.to;
            self.step(to, Input::Message(m), out);
        }
        delivered
    }

    fn status_line(&self, id: NodeId) -> String {
        match self.peers[&id].node.as_ref() {
            None => format!("{id}: down"),
            Some(n) => {
                let s = n.status();
                let role = match s.role {
                    Role::Follower => "follower",
                    Role::PreCandidate => "pre-candidate",
                    Role::Candidate => "candidate",
                    Role::Leader => "leader",
                };
                let peer = &self.peers[&id];
                let snapshots = if n.snapshot().index > 0 || n.first_index() > 1 {
                    format!(
                        " first={} snapshot={} sm={:?}",
                        n.first_index(),
                        n.snapshot().index,
                        String::from_utf8_lossy(&peer.applied)
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
        match command {
            "cluster" => self.new_cluster(&kv),
            "tick" => {
                for _ in 0..count(1, 1) {
                    self.step(id(0), Input::Tick, out);
                }
            }
            "tick-all" => {
                for _ in 0..count(0, 1) {
                    for id in self.peers.keys().copied().collect::<Vec<_>>() {
                        self.step(id, Input::Tick, out);
                    }
                }
            }
            "campaign" => {
                let id = id(0);
                for _ in 0..100 {
                    self.step(id, Input::Tick, out);
                    if self.peers[&id]
                        .node
                        .as_ref()
                        .is_none_or(|n| n.role() != Role::Follower)
                    {
                        break;
                    }
                }
            }
            "deliver" => {
                let n = count(0, self.network.len());
                self.deliver(n, out);
            }
            "stabilize" => {
                for _ in 0..10_000 {
                    let mut progressed = self.deliver(usize::MAX, out) > 0;
                    for id in self.peers.keys().copied().collect::<Vec<_>>() {
                        while let Some(ack) = self.make_durable(id) {
                            progressed = true;
                            self.step(id, ack, out);
                        }
                    }
                    if !progressed {
                        break;
                    }
                }
            }
            "drop" => {
                let from: Option<NodeId> = kv.get("from").map(|s| s.parse().unwrap());
                let to: Option<NodeId> = kv.get("to").map(|s| s.parse().unwrap());
                let only_first = positional.first() == Some(&"first");
                let mut dropped = false;
                self.network.retain(|m| {
                    let hit = from.is_none_or(|f| m.from == f) && to.is_none_or(|t| m.to == t);
                    let drop = hit && !(only_first && dropped);
                    dropped |= drop;
                    !drop
                });
            }
            "persist" => {
                let id = id(0);
                for _ in 0..count(1, usize::MAX) {
                    let Some(ack) = self.make_durable(id) else {
                        break;
                    };
                    self.step(id, ack, out);
                }
            }
            "auto-persist" => self.manual_persist = positional[0] == "off",
            "propose" => {
                let data = Bytes::copy_from_slice(positional[1].as_bytes());
                self.step(id(0), Input::Propose(data), out);
            }
            "crash" => {
                let peer = self.peers.get_mut(&id(0)).unwrap();
                peer.node = None;
                peer.pending.clear();
                peer.partial = None;
                peer.installing.clear();
            }
            "restart" => {
                let peer = self.peers.get_mut(&id(0)).unwrap();
                peer.incarnation += 1;
                let mut state = peer.durable.clone();
                state.entries.retain(|e| e.index > state.snapshot.index);
                state.applied = state.snapshot.index;
                peer.applied = peer.snapshot_data.to_vec();
                let node =
                    Node::new(peer.config.clone(), state, peer.incarnation).expect("restart");
                peer.node = Some(node);
            }
            "snapshot" => {
                let id = id(0);
                let peer = self.peers.get_mut(&id).unwrap();
                let node = peer.node.as_ref().expect("node is up");
                let index = node.status().applied;
                let meta = SnapshotMeta {
                    index,
                    term: node
                        .log_term(index)
                        .expect("applied entries are in the log"),
                    membership: node.membership().clone(),
                };
                peer.snapshot_data = Bytes::from(peer.applied.clone());
                peer.durable.snapshot = meta.clone();
                writeln!(out, "{id}: snapshot at {}@{}", meta.index, meta.term).unwrap();
                self.step(id, Input::SnapshotTaken(meta), out);
            }
            "transfer" => self.step(id(0), Input::TransferLeadership(id(1)), out),
            "reads" => self.manual_read = positional[0] == "off",
            "read" => {
                if let Some((id, read)) = self.reads.pop_front() {
                    self.step(id, Input::SnapshotChunkRead(read), out);
                }
            }
            "isolate" => {
                self.cut.insert(id(0));
            }
            "heal" => self.cut.clear(),
            "add-node" => self.add_node(id(0), Membership::default()),
            "read-index" => {
                let read: u64 = positional[1].parse().expect("read id");
                self.step(id(0), Input::ReadIndex(read), out);
            }
            "change" => {
                let steps = positional[1..].iter().map(|step| {
                    let (kind, node) = step.split_once(':').expect("step kind:id");
                    let node: NodeId = node.parse().expect("node id");
                    match kind {
                        "learner" => ConfChangeStep::AddLearner(node),
                        "promote" => ConfChangeStep::Promote(node),
                        "remove" => ConfChangeStep::Remove(node),
                        other => panic!("unknown step {other:?}"),
                    }
                });
                let change = ConfChange::new(steps);
                self.step(id(0), Input::ChangeMembership(change), out);
            }
            "membership" => {
                let node = self.peers[&id(0)].node.as_ref().expect("node is up");
                let m = node.membership();
                writeln!(
                    out,
                    "{}: voters={:?} outgoing={:?} learners={:?} (entry {})",
                    id(0),
                    m.voters,
                    m.outgoing,
                    m.learners,
                    node.membership_index()
                )
                .unwrap();
            }
            "status" => {
                for id in self.peers.keys() {
                    writeln!(out, "{}", self.status_line(*id)).unwrap();
                }
            }
            "log" => {
                let node = self.peers[&id(0)].node.as_ref().expect("node is up");
                let terms: Vec<String> = node
                    .log_entries_from(0)
                    .map(|e| e.term.to_string())
                    .collect();
                writeln!(out, "{}: [{}]", id(0), terms.join(" ")).unwrap();
            }
            other => panic!("unknown command {other:?}"),
        }
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
