//! A self-contained HTML space-time diagram of a traced run: one lane per node, time left to
//! right, messages as arrows, role and term changes as coloured bands, crashes, pauses, faults
//! and the violation marked. Inline SVG drawn by a little JavaScript; no network access.

use crate::report::RunReport;
use crate::trace::TraceRecord;
use serde_json::{json, Value};

/// Renders the diagram of `records` (from a traced run) as one HTML page.
pub fn render(records: &[TraceRecord], report: &RunReport) -> String {
    let mut msgs = Vec::new();
    let mut states = Vec::new();
    let mut faults = Vec::new();
    for r in records {
        if let Some(m) = &r.msg {
            msgs.push(json!([
                m.sent_at,
                r.t,
                m.from,
                m.to,
                m.kind,
                u8::from(m.dropped)
            ]));
        }
        for s in &r.sends {
            if s.deliver_at.is_empty() {
                msgs.push(json!([r.t, Value::Null, r.node, s.to, s.kind, 2]));
            }
        }
        for s in &r.states {
            states.push(json!([
                r.t,
                s.id,
                s.role,
                s.term,
                s.commit,
                u8::from(s.paused)
            ]));
        }
        if r.event == "fault" || r.event == "fault_phase_end" {
            let text = if r.detail.is_empty() {
                &r.event
            } else {
                &r.detail
            };
            faults.push(json!([r.t, text]));
        }
    }
    let violation = report
        .violation
        .as_ref()
        .map(|v| json!([v.at_us, v.to_string()]));
    let data = json!({
        "title": format!(
            "seed {} · {} nodes · {} · trace {:016x}",
            report.seed, report.nodes, report.profile, report.trace_hash
        ),
        "nodes": report.nodes,
        "end": report.sim_time_us,
        "msgs": msgs,
        "states": states,
        "faults": faults,
        "violation": violation,
    });
    let data = data.to_string().replace("</", "<\\/");
    TEMPLATE.replace("/*DATA*/null", &data)
}

const TEMPLATE: &str = r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>sansraft-sim trace</title>
<style>
body { font: 13px system-ui, sans-serif; margin: 12px; }
#controls { margin: 8px 0; } #controls label { margin-right: 12px; }
svg { border: 1px solid #ccc; background: #fff; }
.lane { stroke: #999; stroke-width: 1; }
.lbl { font: 12px monospace; }
#legend span { display: inline-block; padding: 1px 6px; margin-right: 6px; border-radius: 3px; }
</style></head><body>
<h3 id="title"></h3>
<div id="controls">
 <label>from (ms) <input id="t0" type="number" step="10" value="0"></label>
 <label>span (ms) <input id="span" type="number" step="10" value="1000"></label>
 <button id="prev">◀</button> <button id="next">▶</button>
 <button id="toviolation">go to violation</button>
 <label><input id="hb" type="checkbox"> heartbeats</label>
 <label><input id="lost" type="checkbox" checked> lost/dropped</label>
</div>
<div id="legend"></div>
<svg id="svg" width="1400" height="200"></svg>
<pre id="info"></pre>
<script>
const DATA = /*DATA*/null;
const ROLE = { leader: "#f4c542", candidate: "#f29b50", pre_candidate: "#f7d6b0",
  follower: "#e4e9ef", down: "#d9534f" };
const KIND = { append: "#1f77b4", append_response: "#17becf", heartbeat: "#bbb",
  heartbeat_response: "#ddd", vote: "#d62728", vote_response: "#ff9896",
  pre_vote: "#9467bd", pre_vote_response: "#c5b0d5" };
const W = 1400, LEFT = 60, LANE = 70, TOP = 40;
document.getElementById("title").textContent = DATA.title;
document.getElementById("legend").innerHTML =
  Object.entries(ROLE).map(([k, c]) => `<span style="background:${c}">${k}</span>`).join("") +
  " · " + Object.entries(KIND).map(([k, c]) => `<span style="color:${c}">→ ${k}</span>`).join("");
const svg = document.getElementById("svg");
svg.setAttribute("height", TOP + DATA.nodes * LANE + 20);
const y = id => TOP + (id - 1) * LANE + LANE / 2;
// Per node: state changes in time order.
const timeline = {};
for (const [t, id, role, term, commit, paused] of DATA.states)
  (timeline[id] = timeline[id] || []).push({ t, role, term, commit, paused });
function draw() {
  const t0 = +document.getElementById("t0").value * 1000;
  const span = Math.max(1, +document.getElementById("span").value) * 1000;
  const t1 = t0 + span;
  const x = t => LEFT + (t - t0) / span * (W - LEFT - 10);
  const showHb = document.getElementById("hb").checked;
  const showLost = document.getElementById("lost").checked;
  let s = "<defs><marker id='a' markerWidth='6' markerHeight='6' refX='6' refY='3' orient='auto'>" +
    "<path d='M0,0 L6,3 L0,6 z' fill='#555'/></marker></defs>";
  for (let id = 1; id <= DATA.nodes; id++) {
    const tl = timeline[id] || [];
    for (let i = 0; i < tl.length; i++) {
      const a = tl[i], b = tl[i + 1];
      const s0 = Math.max(a.t, t0), s1 = Math.min(b ? b.t : DATA.end, t1);
      if (s1 < s0) continue;
      const fill = a.paused ? "#9ecae1" : (ROLE[a.role] || "#eee");
      s += `<rect x="${x(s0)}" y="${y(id) - 12}" width="${Math.max(1, x(s1) - x(s0))}" height="24" fill="${fill}"><title>n${id} ${a.role}${a.paused ? " (paused)" : ""} term ${a.term} commit ${a.commit}</title></rect>`;
      if (a.t >= t0 && a.t <= t1 && (!tl[i - 1] || tl[i - 1].term !== a.term))
        s += `<text class="lbl" x="${x(a.t) + 2}" y="${y(id) - 15}">t${a.term}</text>`;
    }
    s += `<line class="lane" x1="${LEFT}" x2="${W}" y1="${y(id)}" y2="${y(id)}"/>`;
    s += `<text class="lbl" x="8" y="${y(id) + 4}">n${id}</text>`;
  }
  for (const [sent, at, from, to, kind, dropped] of DATA.msgs) {
    if (!showHb && kind.startsWith("heartbeat")) continue;
    if (dropped && !showLost) continue;
    const end = at === null ? sent + span / 100 : at;
    if (end < t0 || sent > t1) continue;
    const color = dropped ? "#e66" : (KIND[kind] || "#555");
    const dash = dropped ? " stroke-dasharray='3,3'" : "";
    const y1 = y(from), y2 = at === null ? y(from) + (y(to) - y(from)) / 3 : y(to);
    s += `<line x1="${x(sent)}" y1="${y1}" x2="${x(end)}" y2="${y2}" stroke="${color}"${dash} marker-end="url(#a)"><title>${kind} n${from}→n${to} sent ${(sent / 1000).toFixed(3)}ms${at === null ? " lost" : " arrived " + (at / 1000).toFixed(3) + "ms"}${dropped === 1 ? " (dropped)" : ""}</title></line>`;
  }
  for (const [t, text] of DATA.faults) {
    if (t < t0 || t > t1) continue;
    s += `<line x1="${x(t)}" x2="${x(t)}" y1="20" y2="${TOP + DATA.nodes * LANE}" stroke="#8a2be2" stroke-dasharray="4,3"/>`;
    s += `<text class="lbl" x="${x(t) + 3}" y="16" fill="#8a2be2">${text.replace(/&/g, "&amp;").replace(/</g, "&lt;")}</text>`;
  }
  if (DATA.violation) {
    const [t, text] = DATA.violation;
    if (t >= t0 && t <= t1) {
      s += `<line x1="${x(t)}" x2="${x(t)}" y1="0" y2="${TOP + DATA.nodes * LANE}" stroke="red" stroke-width="3"><title></title></line>`;
      s += `<text class="lbl" x="${x(t) + 4}" y="${TOP + DATA.nodes * LANE + 14}" fill="red">violation</text>`;
    }
  }
  svg.innerHTML = s;
  document.getElementById("info").textContent =
    (DATA.violation ? "VIOLATION: " + DATA.violation[1] + "\n" : "no violation\n") +
    DATA.faults.map(([t, f]) => (t / 1e6).toFixed(3) + "s  " + f).join("\n");
}
for (const id of ["t0", "span", "hb", "lost"]) document.getElementById(id).onchange = draw;
document.getElementById("prev").onclick = () => {
  const e = document.getElementById("t0"); e.value = Math.max(0, +e.value - +document.getElementById("span").value); draw(); };
document.getElementById("next").onclick = () => {
  const e = document.getElementById("t0"); e.value = +e.value + +document.getElementById("span").value; draw(); };
document.getElementById("toviolation").onclick = () => {
  if (!DATA.violation) return;
  const span = +document.getElementById("span").value;
  document.getElementById("t0").value = Math.max(0, Math.round(DATA.violation[0] / 1000 - span * 0.8));
  draw(); };
if (DATA.violation) document.getElementById("toviolation").onclick(); else draw();
</script></body></html>
"##;
