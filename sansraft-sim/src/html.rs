//! A self-contained HTML space-time diagram of a traced run: one lane per node, time left to
//! right, messages as arrows (one colour per kind), roles and terms as bars, membership above
//! each bar, crashes, pauses, disk stalls and cut links as bands below it, and the violation with
//! the chain of messages that led to it highlighted. Every element names its trace event
//! number. SVG drawn by the page's own script (`html/viewer.js`), only for the visible time
//! window; no network access.
//!
//! The page marks its state for tests: `<body data-viewer="ready">` once drawn, and
//! `data-viewer="error"` with a `#script-error` element if a script error was raised.

use crate::report::RunReport;
use crate::scenario::Scenario;
use crate::trace::TraceRecord;
use crate::view::Model;
/// Every message kind the page has a legend entry and a colour for.
pub use crate::view::KINDS;
use serde_json::{json, Value};

/// Renders the diagram of `records` (from a traced run of `scenario`) as one HTML page.
pub fn render(records: &[TraceRecord], report: &RunReport, scenario: &Scenario) -> String {
    let model = Model::new(records, report, scenario);
    let msgs: Vec<Value> = (model.msgs.iter())
        .map(|m| {
            json!([
                m.sent,
                m.arrive.map_or(-1, |t| t as i64),
                m.from,
                m.to,
                m.kind,
                m.send_event,
                m.deliver_event,
                m.term,
                m.flags
            ])
        })
        .collect();
    let bands: Vec<Value> = (model.bands.iter())
        .map(|b| json!([b.lane, b.from, b.to, b.layer, b.class, b.text, b.event]))
        .collect();
    let faults: Vec<Value> = (model.faults.iter())
        .map(|f| json!([f.t, f.event, f.node, f.text]))
        .collect();
    let chain: Vec<Value> = (model.chain.iter())
        .map(|c| json!([c.event, c.t, c.node, c.what, c.detail]))
        .collect();
    let violation = report.violation.as_ref().map(|v| {
        json!({
            "n": v.event,
            "t": v.at_us,
            "node": v.failure.node,
            "kind": v.failure.kind.name(),
            "text": v.to_string(),
        })
    });
    let data = json!({
        "title": model.title,
        "seed": scenario.seed,
        "profile": scenario.profile.name(),
        "canary": model.canary,
        "traceHash": format!("{:016x}", report.trace_hash),
        "events": records.len(),
        "nodes": scenario.nodes,
        "end": model.end,
        "kinds": KINDS,
        "msgs": msgs,
        "bands": bands,
        "faults": faults,
        "chain": chain,
        "violation": violation,
    });
    let data = data.to_string().replace("</", "<\\/");
    TEMPLATE
        .replace("/*CSS*/", CSS)
        .replace("/*JS*/", JS)
        .replace("/*DATA*/null", &data)
}

/// The page; the style, script and data go where the markers are. (Inline rather than a
/// `.html` file, which the repository's `.gitignore` would leave out of the package.)
const TEMPLATE: &str = r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>sansraft-sim trace</title>
<style>/*CSS*/</style></head><body data-viewer="loading">
<h3 id="title"></h3>
<div id="verdict"></div>
<div id="controls">
 <label>from (ms) <input id="t0" type="number" step="1" value="0"></label>
 <label>span (ms) <input id="span" type="number" step="1" value="1000"></label>
 <button id="prev" title="back one span">◀</button> <button id="next" title="forward one span">▶</button>
 <button id="zoomin" title="zoom in (or the mouse wheel over the diagram)">+</button>
 <button id="zoomout" title="zoom out">−</button>
 <button id="wholerun">whole run</button>
 <button id="toviolation">go to violation</button>
 <label><input id="lost" type="checkbox" checked> lost/dropped</label>
 <span id="counts"></span>
</div>
<div id="legend"></div>
<div id="wrap"><svg id="svg" width="1400" height="200"></svg><div id="tip"></div></div>
<pre id="info"></pre>
<script>
window.addEventListener("error", e => {
  document.body.setAttribute("data-viewer", "error");
  let el = document.getElementById("script-error");
  if (!el) { el = document.createElement("pre"); el.id = "script-error"; document.body.prepend(el); }
  el.textContent += "script error: " + (e.message || e) + "\n";
});
</script>
<script>
const DATA = /*DATA*/null;
/*JS*/
</script></body></html>
"##;

const CSS: &str = include_str!("html/viewer.css");
const JS: &str = include_str!("html/viewer.js");
