//! What the trace viewers draw, computed once from a traced run: every message with the events
//! that sent and delivered it, per node the stretches of time with one role and term, one
//! membership status, one fault condition, the faults, and the chain of messages and events that
//! led to the violation. The HTML page ([`crate::html`]) and the Chrome trace-event export
//! ([`crate::perfetto`]) both draw this model.

use crate::report::RunReport;
use crate::scenario::Scenario;
use crate::trace::{NodeState, TraceRecord};
use crate::Micros;
use sansraft::NodeId;
use std::collections::BTreeMap;

/// Every message kind (`sansraft::Body::kind_name`), in legend order.
pub const KINDS: [&str; 13] = [
    "append",
    "append_response",
    "heartbeat",
    "heartbeat_response",
    "pre_vote",
    "pre_vote_response",
    "vote",
    "vote_response",
    "snapshot_chunk",
    "snapshot_response",
    "timeout_now",
    "read_index",
    "read_index_response",
];

/// Message flags ([`Msg::flags`]).
pub(crate) mod flag {
    /// Dropped on arrival (link cut or recipient down).
    pub(crate) const DROPPED: u64 = 1;
    /// Lost by the network.
    pub(crate) const LOST: u64 = 2;
    /// Still in flight when the run ended.
    pub(crate) const IN_FLIGHT: u64 = 4;
    /// On the chain of messages that led to the violation.
    pub(crate) const CHAIN: u64 = 8;
    /// Delivered by the event at which the violation was detected.
    pub(crate) const VIOLATION: u64 = 16;
}

/// Layers of a lane ([`Band::layer`]).
pub(crate) mod layer {
    /// Role and term.
    pub(crate) const ROLE: u8 = 0;
    /// Membership in the configuration the latest leader reported.
    pub(crate) const MEMBER: u8 = 1;
    /// Crashed or paused.
    pub(crate) const PROCESS: u8 = 2;
    /// Disk stalled or slow.
    pub(crate) const DISK: u8 = 3;
    /// Incoming links cut.
    pub(crate) const NET: u8 = 4;
    /// The layers' names.
    pub(crate) const NAMES: [&str; 5] = ["role", "membership", "process", "disk", "network"];
}

/// Most hops followed back from the violation through the messages that caused it.
const CHAIN_HOPS: usize = 12;

/// One message (one copy of a duplicated one).
#[derive(Clone, Debug)]
pub(crate) struct Msg {
    pub(crate) sent: Micros,
    /// Arrival time (the time it was due for a lost message: none).
    pub(crate) arrive: Option<Micros>,
    pub(crate) from: NodeId,
    pub(crate) to: NodeId,
    /// Index in [`KINDS`] (`KINDS.len()` for an unknown kind).
    pub(crate) kind: usize,
    /// The event that sent it.
    pub(crate) send_event: u64,
    /// The event that delivered (or dropped) it, 0 if none did.
    pub(crate) deliver_event: u64,
    pub(crate) term: u64,
    pub(crate) flags: u64,
}

/// A stretch of time in which one layer of one lane holds one value.
#[derive(Clone, Debug)]
pub(crate) struct Band {
    pub(crate) lane: NodeId,
    pub(crate) from: Micros,
    pub(crate) to: Micros,
    pub(crate) layer: u8,
    /// The value: a role ("outside" for a follower outside the configuration), a membership
    /// status, "crashed", "paused", "stalled", "slow", "cut".
    pub(crate) class: String,
    pub(crate) text: String,
    /// The event that began the stretch.
    pub(crate) event: u64,
}

/// A fault, crash or restart.
#[derive(Clone, Debug)]
pub(crate) struct FaultMark {
    pub(crate) t: Micros,
    pub(crate) event: u64,
    /// The node, for crashes and restarts.
    pub(crate) node: Option<NodeId>,
    pub(crate) text: String,
}

/// An event on the chain that led to the violation.
#[derive(Clone, Debug)]
pub(crate) struct ChainEvent {
    pub(crate) event: u64,
    pub(crate) t: Micros,
    pub(crate) node: Option<NodeId>,
    pub(crate) what: String,
    pub(crate) detail: String,
}

/// Everything the viewers draw.
#[derive(Clone, Debug)]
pub(crate) struct Model {
    pub(crate) title: String,
    pub(crate) canary: Option<&'static str>,
    pub(crate) end: Micros,
    pub(crate) msgs: Vec<Msg>,
    pub(crate) bands: Vec<Band>,
    pub(crate) faults: Vec<FaultMark>,
    /// Newest first: the violation's event, the event that sent the message it delivered, …
    pub(crate) chain: Vec<ChainEvent>,
}

/// A message's identity as both its send and its delivery see it: sent at, from, to, kind,
/// term, arrival time.
type MsgKey = (Micros, NodeId, NodeId, String, u64, Micros);

impl Model {
    pub(crate) fn new(records: &[TraceRecord], report: &RunReport, scenario: &Scenario) -> Self {
        let end = records
            .last()
            .map_or(report.sim_time_us, |r| r.t.max(report.sim_time_us));
        let kind_index = |kind: &str| KINDS.iter().position(|&k| k == kind).unwrap_or(KINDS.len());

        // Each send, by its key, with the event that sent it; each delivery finds its send.
        let mut sent_by: BTreeMap<MsgKey, u64> = BTreeMap::new();
        let mut delivered: BTreeMap<MsgKey, (u64, bool)> = BTreeMap::new();
        for r in records {
            for s in &r.sends {
                for &at in &s.deliver_at {
                    sent_by.insert((r.t, s.from, s.to, s.kind.clone(), s.term, at), r.n);
                }
            }
            if let Some(m) = &r.msg {
                let key = (m.sent_at, m.from, m.to, m.kind.clone(), m.term, r.t);
                delivered.insert(key, (r.n, m.dropped));
            }
        }

        // Back from the violation: its event, the send of the message it delivered, that
        // event's own delivery, and so on.
        let violation_event = report.violation.as_ref().map(|v| v.event);
        let mut chain = Vec::new();
        let mut chain_msgs: Vec<MsgKey> = Vec::new();
        let mut at = violation_event;
        while let Some(n) = at.take() {
            let Some(r) = record(records, n) else { break };
            let what = match &r.msg {
                Some(m) => format!("{} n{}→n{} term {}", m.kind, m.from, m.to, m.term),
                None => r.event.clone(),
            };
            chain.push(ChainEvent {
                event: r.n,
                t: r.t,
                node: r.node,
                what,
                detail: r.detail.clone(),
            });
            if chain.len() > CHAIN_HOPS {
                break;
            }
            if let Some(m) = &r.msg {
                let key = (m.sent_at, m.from, m.to, m.kind.clone(), m.term, r.t);
                at = sent_by.get(&key).copied();
                chain_msgs.push(key);
            }
        }

        let mut msgs = Vec::new();
        for r in records {
            for s in &r.sends {
                let mut msg = Msg {
                    sent: r.t,
                    arrive: None,
                    from: s.from,
                    to: s.to,
                    kind: kind_index(&s.kind),
                    send_event: r.n,
                    deliver_event: 0,
                    term: s.term,
                    flags: flag::LOST,
                };
                if s.deliver_at.is_empty() {
                    msgs.push(msg.clone());
                }
                for &arrive in &s.deliver_at {
                    let key = (r.t, s.from, s.to, s.kind.clone(), s.term, arrive);
                    msg.arrive = Some(arrive);
                    (msg.deliver_event, msg.flags) = match delivered.get(&key) {
                        Some(&(n, dropped)) => (n, if dropped { flag::DROPPED } else { 0 }),
                        None => (0, flag::IN_FLIGHT),
                    };
                    if chain_msgs.contains(&key) {
                        msg.flags |= flag::CHAIN;
                        if Some(msg.deliver_event) == violation_event {
                            msg.flags |= flag::VIOLATION;
                        }
                    }
                    msgs.push(msg.clone());
                }
            }
        }

        let faults = (records.iter())
            .filter(|r| {
                matches!(
                    r.event.as_str(),
                    "fault" | "fault_phase_end" | "crash" | "restart"
                )
            })
            .map(|r| FaultMark {
                t: r.t,
                event: r.n,
                node: matches!(r.event.as_str(), "crash" | "restart")
                    .then_some(r.node)
                    .flatten(),
                text: if r.detail.is_empty() {
                    r.event.clone()
                } else {
                    r.detail.clone()
                },
            })
            .collect();

        let canary = scenario.raft.canary.map(|c| c.name());
        let verdict = match &report.violation {
            Some(v) => format!("FAIL {} at event {}", v.failure.kind, v.event),
            None => "PASS".to_owned(),
        };
        let title = format!(
            "seed {} · {} · {} nodes ({} voters at start) · canary {} · {}",
            scenario.seed,
            scenario.profile,
            scenario.nodes,
            scenario.initial_voters(),
            canary.unwrap_or("none"),
            verdict
        );
        Model {
            title,
            canary,
            end,
            msgs,
            bands: bands(records, scenario.nodes, end),
            faults,
            chain,
        }
    }
}

/// The record of event `n`, if the trace holds it.
fn record(records: &[TraceRecord], n: u64) -> Option<&TraceRecord> {
    let i = usize::try_from(n.checked_sub(1)?).ok()?;
    (records.get(i))
        .filter(|r| r.n == n)
        .or_else(|| records.iter().find(|r| r.n == n))
}

/// Per lane and layer, the stretches of time with one value, in the order they end. Stretches
/// with an empty class (nothing to draw: a running process, a normal disk, no cut link) are left
/// out.
fn bands(records: &[TraceRecord], nodes: usize, end: Micros) -> Vec<Band> {
    let mut open: BTreeMap<(NodeId, u8), Band> = BTreeMap::new();
    let mut out = Vec::new();
    let mut states: BTreeMap<NodeId, NodeState> = BTreeMap::new();
    // The configuration the latest leader reported (before any, the first one reported).
    let mut config = String::new();
    for r in records.iter().filter(|r| !r.states.is_empty()) {
        for s in &r.states {
            states.insert(s.id, s.clone());
        }
        let reported = (r.states.iter())
            .find(|s| s.role == "leader" && !s.config.is_empty())
            .or_else(|| {
                (config.is_empty())
                    .then(|| r.states.iter().find(|s| !s.config.is_empty()))
                    .flatten()
            });
        if let Some(s) = reported {
            config.clone_from(&s.config);
        }
        let members = Members::parse(&config);
        for lane in 1..=nodes as NodeId {
            let Some(s) = states.get(&lane) else { continue };
            let role = if s.up { s.role.as_str() } else { "down" };
            let process = match (s.up, s.paused) {
                (false, _) => "crashed",
                (true, true) => "paused",
                (true, false) => "",
            };
            let disk = if s.disk.starts_with("slow") {
                "slow"
            } else {
                s.disk.as_str()
            };
            let (net, net_text) = if s.cut_from.is_empty() {
                ("", String::new())
            } else {
                let from: Vec<String> = s.cut_from.iter().map(|id| format!("n{id}")).collect();
                (
                    "cut",
                    format!("n{lane} hears nothing from {}", from.join(", ")),
                )
            };
            let member = members.status(lane);
            // A follower outside the configuration (a spare not yet added, a removed member)
            // is not following anyone: its bar says so.
            let (role, role_text) = if member == "outside" && role == "follower" {
                let text = format!(
                    "n{lane} outside the configuration (follower) · term {}",
                    s.term
                );
                ("outside", text)
            } else {
                (role, format!("n{lane} {role} · term {}", s.term))
            };
            let layers = [
                (layer::ROLE, role, role_text),
                (
                    layer::MEMBER,
                    member,
                    format!("n{lane} {member} in {config}"),
                ),
                (layer::PROCESS, process, format!("n{lane} {process}")),
                (layer::DISK, disk, format!("n{lane} disk {}", s.disk)),
                (layer::NET, net, net_text),
            ];
            for (layer, class, text) in layers {
                let next = Band {
                    lane,
                    from: r.t,
                    to: r.t,
                    layer,
                    class: class.to_owned(),
                    text,
                    event: r.n,
                };
                switch(&mut out, &mut open, r.t, next);
            }
        }
    }
    let keys: Vec<(NodeId, u8)> = open.keys().copied().collect();
    for (lane, layer) in keys {
        if let Some(band) = open.remove(&(lane, layer)) {
            let close = Band { to: end, ..band };
            if !close.class.is_empty() {
                out.push(close);
            }
        }
    }
    out
}

/// Ends the open stretch of `next`'s lane and layer at `until` (keeping it unless its class is
/// empty) and opens `next`, unless the open one has the same class and text.
fn switch(out: &mut Vec<Band>, open: &mut BTreeMap<(NodeId, u8), Band>, until: Micros, next: Band) {
    let key = (next.lane, next.layer);
    if (open.get(&key)).is_some_and(|o| o.class == next.class && o.text == next.text) {
        return;
    }
    if let Some(old) = open.insert(key, next).filter(|o| !o.class.is_empty()) {
        out.push(Band { to: until, ..old });
    }
}

/// A configuration as traces write it (`NodeState::config`).
struct Members<'a> {
    incoming: Vec<&'a str>,
    outgoing: Vec<&'a str>,
    learners: Vec<&'a str>,
    witnesses: Vec<&'a str>,
}

impl<'a> Members<'a> {
    fn parse(config: &'a str) -> Self {
        let ids = |s: &'a str| s.split(',').filter(|x| !x.is_empty()).collect::<Vec<_>>();
        let mut m = Members {
            incoming: Vec::new(),
            outgoing: Vec::new(),
            learners: Vec::new(),
            witnesses: Vec::new(),
        };
        for (i, part) in config.split(' ').enumerate() {
            if let Some(rest) = part.strip_prefix('+') {
                m.learners = ids(rest);
            } else if let Some(rest) = part.strip_prefix('w') {
                m.witnesses = ids(rest);
            } else if i == 0 {
                let (inc, out) = part.split_once('|').unwrap_or((part, ""));
                m.incoming = ids(inc);
                m.outgoing = ids(out);
            }
        }
        m
    }

    /// "voter", "joining" / "leaving" (a voter of one half of a joint configuration),
    /// "learner", "witness" or "outside".
    fn status(&self, id: NodeId) -> &'static str {
        let id = id.to_string();
        let has = |v: &[&str]| v.contains(&id.as_str());
        let joint = !self.outgoing.is_empty();
        if has(&self.witnesses) {
            "witness"
        } else if has(&self.learners) {
            "learner"
        } else if has(&self.incoming) && (!joint || has(&self.outgoing)) {
            "voter"
        } else if has(&self.incoming) {
            "joining"
        } else if has(&self.outgoing) {
            "leaving"
        } else {
            "outside"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_parse() {
        let m = Members::parse("1,2,4|1,2,3 +5 w4");
        assert_eq!(m.status(1), "voter");
        assert_eq!(m.status(4), "witness");
        assert_eq!(m.status(3), "leaving");
        assert_eq!(m.status(5), "learner");
        assert_eq!(m.status(6), "outside");
        assert_eq!(Members::parse("1,2,4|1,2,3").status(4), "joining");
        assert_eq!(Members::parse("").status(1), "outside");
    }
}
