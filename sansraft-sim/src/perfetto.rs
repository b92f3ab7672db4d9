//! A traced run as Chrome trace-event JSON (`run --perfetto FILE`), which ui.perfetto.dev and
//! chrome://tracing open: long traces can be explored there with search, SQL and flow arrows.
//!
//! One process per node (and process 0, "cluster", for the faults that concern every node and
//! the violation); in each, one thread per layer: `role` (slices named by role and term),
//! `membership`, `process` (crashed, paused), `disk` (stalled, slow), `network` (cut links), and
//! `messages`, where each message is a 1 µs slice at its send on the sender and one at its
//! arrival on the recipient, joined by a flow arrow. Lost messages are instant events. Every
//! slice's `args.event` is the trace's event number. Times are the simulated microseconds.

use crate::report::RunReport;
use crate::scenario::Scenario;
use crate::trace::TraceRecord;
use crate::view::{flag, layer, Model, KINDS};
use serde_json::{json, Value};
use std::io::Write;

/// The thread of the `messages` track (the layers' threads are `layer + 1`).
const MESSAGES_TID: u64 = 10;

/// Renders `records` (from a traced run of `scenario`) as a Chrome trace-event JSON document.
pub fn render(records: &[TraceRecord], report: &RunReport, scenario: &Scenario) -> String {
    let mut out = Vec::new();
    write(records, report, scenario, &mut out).expect("writing to memory");
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// The trace events, written one by one as they are made (a long trace has millions).
struct Events<W: Write> {
    out: W,
    first: bool,
    error: Option<std::io::Error>,
}

impl<W: Write> Events<W> {
    fn push(&mut self, event: Value) {
        if self.error.is_some() {
            return;
        }
        let sep: &[u8] = if self.first { b"" } else { b",\n" };
        self.first = false;
        let result = (self.out.write_all(sep))
            .and_then(|()| serde_json::to_writer(&mut self.out, &event).map_err(Into::into));
        if let Err(e) = result {
            self.error = Some(e);
        }
    }
}

/// Writes `records` (from a traced run of `scenario`) as a Chrome trace-event JSON document.
pub fn write(
    records: &[TraceRecord],
    report: &RunReport,
    scenario: &Scenario,
    out: impl Write,
) -> std::io::Result<()> {
    let model = Model::new(records, report, scenario);
    let mut out = std::io::BufWriter::new(out);
    out.write_all(b"{\"traceEvents\":[\n")?;
    let mut ev = Events {
        out,
        first: true,
        error: None,
    };
    let meta = |ev: &mut Events<_>, pid: u64, tid: Option<u64>, name: &str| {
        let (what, tid) = match tid {
            Some(tid) => ("thread_name", tid),
            None => ("process_name", 0),
        };
        ev.push(json!({"ph": "M", "name": what, "pid": pid, "tid": tid, "args": {"name": name}}));
    };
    meta(&mut ev, 0, None, "cluster");
    meta(&mut ev, 0, Some(0), "faults and violation");
    for id in 1..=scenario.nodes as u64 {
        meta(&mut ev, id, None, &format!("n{id}"));
        ev.push(
            json!({"ph": "M", "name": "process_sort_index", "pid": id, "tid": 0,
            "args": {"sort_index": id}}),
        );
        for (l, name) in layer::NAMES.iter().enumerate() {
            meta(&mut ev, id, Some(l as u64 + 1), name);
        }
        meta(&mut ev, id, Some(MESSAGES_TID), "messages");
    }
    for b in &model.bands {
        ev.push(json!({
            "ph": "X", "pid": b.lane, "tid": u64::from(b.layer) + 1, "ts": b.from,
            "dur": b.to.saturating_sub(b.from), "cat": layer::NAMES[usize::from(b.layer)],
            "name": if b.layer == layer::ROLE { b.text.clone() } else { b.class.clone() },
            "args": {"event": b.event, "what": b.text},
        }));
    }
    for f in &model.faults {
        let (pid, tid, scope) = match f.node {
            Some(node) => (node, u64::from(layer::PROCESS) + 1, "t"),
            None => (0, 0, "g"),
        };
        ev.push(json!({
            "ph": "i", "s": scope, "pid": pid, "tid": tid, "ts": f.t, "cat": "fault",
            "name": f.text, "args": {"event": f.event},
        }));
    }
    for (i, m) in model.msgs.iter().enumerate() {
        let kind = KINDS.get(m.kind).copied().unwrap_or("other");
        let args = json!({
            "send_event": m.send_event, "deliver_event": m.deliver_event, "term": m.term,
            "chain": m.flags & flag::CHAIN != 0, "violation": m.flags & flag::VIOLATION != 0,
        });
        let Some(arrive) = m.arrive else {
            ev.push(json!({
                "ph": "i", "s": "t", "pid": m.from, "tid": MESSAGES_TID, "ts": m.sent,
                "cat": kind, "name": format!("lost {kind} →n{}", m.to), "args": args,
            }));
            continue;
        };
        let fate = if m.flags & flag::DROPPED != 0 {
            "dropped "
        } else if m.flags & flag::IN_FLIGHT != 0 {
            "in flight at the end: "
        } else {
            ""
        };
        ev.push(json!({
            "ph": "X", "pid": m.from, "tid": MESSAGES_TID, "ts": m.sent, "dur": 1,
            "cat": kind, "name": format!("{kind} →n{}", m.to), "args": args,
        }));
        ev.push(json!({
            "ph": "X", "pid": m.to, "tid": MESSAGES_TID, "ts": arrive, "dur": 1,
            "cat": kind, "name": format!("{fate}{kind} ←n{}", m.from), "args": args,
        }));
        ev.push(
            json!({"ph": "s", "id": i, "pid": m.from, "tid": MESSAGES_TID, "ts": m.sent,
            "cat": kind, "name": kind}),
        );
        ev.push(
            json!({"ph": "f", "bp": "e", "id": i, "pid": m.to, "tid": MESSAGES_TID,
            "ts": arrive, "cat": kind, "name": kind}),
        );
    }
    if let Some(v) = &report.violation {
        let args = json!({"event": v.event, "detail": v.to_string()});
        let name = format!("VIOLATION {} at event {}", v.failure.kind, v.event);
        ev.push(
            json!({"ph": "i", "s": "g", "pid": 0, "tid": 0, "ts": v.at_us,
            "cat": "violation", "name": name, "args": args}),
        );
        if let Some(node) = v.failure.node {
            ev.push(
                json!({"ph": "i", "s": "p", "pid": node, "tid": MESSAGES_TID,
                "ts": v.at_us, "cat": "violation", "name": name, "args": args}),
            );
        }
    }
    let chain: Vec<Value> = (model.chain.iter())
        .map(|c| json!({"event": c.event, "t": c.t, "node": c.node, "what": c.what}))
        .collect();
    let rest = json!({
        "title": model.title,
        "seed": scenario.seed,
        "trace_hash": format!("{:016x}", report.trace_hash),
        "violation": report.violation.as_ref().map(|v| v.to_string()),
        "chain": chain,
    });
    if let Some(e) = ev.error {
        return Err(e);
    }
    let mut out = ev.out;
    out.write_all(b"\n],\"displayTimeUnit\":\"ms\",\"otherData\":")?;
    serde_json::to_writer(&mut out, &rest)?;
    out.write_all(b"}\n")?;
    out.flush()
}
