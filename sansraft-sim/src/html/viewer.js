// The trace viewer: draws DATA (written by sansraft-sim's html.rs) as an SVG space-time diagram,
// only what falls in the visible time window, so zooming stays smooth on long traces.
"use strict";
const KIND_COLOR = {
  append: "#1f77b4", append_response: "#17becf", heartbeat: "#2ca02c",
  heartbeat_response: "#7fbf3f", pre_vote: "#9467bd", pre_vote_response: "#b07cc6",
  vote: "#d62728", vote_response: "#ff7f0e", snapshot_chunk: "#8c564b",
  snapshot_response: "#b5835a", timeout_now: "#e377c2", read_index: "#bcbd22",
  read_index_response: "#006d6f", other: "#555555" };
const ROLE = { leader: "#f4c542", candidate: "#f29b50", pre_candidate: "#f7d6b0",
  follower: "#e4e9ef", down: "#d9534f", outside: "#ffffff" };
const MEMBER = { voter: "#4a90d9", joining: "#8fbce6", leaving: "#2b5d8a", learner: "#7ed3a4",
  witness: "#b58ee0", outside: "#ffffff" };
const COND = { crashed: "#d9534f", paused: "#5bc0de", stalled: "#6a3d9a", slow: "#cab2d6",
  cut: "#e7298a" };
const F_DROPPED = 1, F_LOST = 2, F_IN_FLIGHT = 4, F_CHAIN = 8, F_VIOLATION = 16;
const W = 1400, LEFT = 120, RIGHT = 10, TOP = 34, LANE = 78;
const PLOT = W - LEFT - RIGHT;
const KINDS = DATA.kinds.concat(["other"]);
const $ = id => document.getElementById(id);
const esc = s => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
  .replace(/"/g, "&quot;");
const ms = us => (us / 1000).toFixed(3) + "ms";
const yc = id => TOP + (id - 1) * LANE + LANE / 2;
const kindName = k => KINDS[Math.min(k, KINDS.length - 1)];

// Messages are in send order; the longest flight bounds the search for the visible ones.
const msgs = DATA.msgs;
let maxFlight = 1;
const flights = [];
for (const m of msgs) if (m[1] >= 0) { maxFlight = Math.max(maxFlight, m[1] - m[0]); flights.push(m[1] - m[0]); }
flights.sort((a, b) => a - b);
const typicalFlight = flights.length ? flights[flights.length >> 1] : 1000;
const kindCount = KINDS.map(() => 0);
for (const m of msgs) kindCount[Math.min(m[4], KINDS.length - 1)]++;
const enabled = KINDS.map(() => true);
const bands = DATA.bands.slice().sort((a, b) => a[1] - b[1]);
const chainTimes = DATA.chain.map(c => c[1]);

let t0 = 0, span = Math.min(DATA.end || 1, 1e6);
let visible = [];

function msgText(m) {
  const [sent, arrive, from, to, kind, sn, dn, term, flags] = m;
  let s = `${kindName(kind)} n${from}→n${to} term ${term}\nsent by event #${sn} at ${ms(sent)}\n`;
  if (flags & F_LOST) s += "lost by the network";
  else if (flags & F_IN_FLIGHT) s += `still in flight at the end (due ${ms(arrive)})`;
  else s += `${flags & F_DROPPED ? "dropped on arrival (link cut or node down)" : "delivered"} at event #${dn} at ${ms(arrive)}`;
  if (flags & F_VIOLATION) s += "\nTHE VIOLATION WAS DETECTED AFTER THIS DELIVERY";
  else if (flags & F_CHAIN) s += "\non the chain of messages that led to the violation";
  return s;
}

function legend() {
  const box = (c, k, extra) => `<span class="box" style="background:${c}${extra || ""}"></span>${esc(k)}`;
  let h = `<span class="group"><b>roles</b> ` + Object.entries(ROLE).map(([k, c]) =>
    `<label data-legend="role-${k}">${k === "outside" ? box(c, "follower outside the configuration", ";border-style:dashed") : box(c, k)}</label>`).join("") + `</span>`;
  h += `<span class="group"><b>membership</b> (thin strip above) ` + Object.entries(MEMBER).map(([k, c]) =>
    `<label data-legend="member-${k}">${box(c, k, k === "outside" ? ";border-style:dashed" : "")}</label>`).join("") + `</span>`;
  h += `<span class="group"><b>faults</b> (strips below) ` + Object.entries(COND).map(([k, c]) =>
    `<label data-legend="cond-${k}">${box(c, k === "cut" ? "links cut (partition)" : k === "stalled" ? "disk stalled" : k === "slow" ? "disk slow" : k)}</label>`).join("") + `</span><br>`;
  h += `<span class="group"><b>messages</b> (untick to hide) ` + KINDS.map((k, i) =>
    kindCount[i] || k !== "other" ? `<label data-legend="msg-${k}" data-kind="${k}"><input type="checkbox" data-k="${i}" checked>` +
    `<span class="sw" style="background:${KIND_COLOR[k]}"></span>${k} (${kindCount[i]})</label>` : "").join("") +
    `<label data-legend="violation-chain"><span class="sw" style="background:red;height:5px"></span>led to the violation</label></span>`;
  $("legend").innerHTML = h;
  for (const el of $("legend").querySelectorAll("input[data-k]"))
    el.onchange = () => { enabled[+el.dataset.k] = el.checked; schedule(); };
}

function niceStep(spanUs) {
  const raw = spanUs / 10;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const f of [1, 2, 5, 10]) if (p * f >= raw) return p * f;
  return p * 10;
}

function arrowHead(x1, y1, x2, y2) {
  const dx = x2 - x1, dy = y2 - y1, len = Math.hypot(dx, dy);
  if (len < 3) return "";
  const ux = dx / len, uy = dy / len, L = 6, H = 3;
  const bx = x2 - ux * L, by = y2 - uy * L;
  return `M${x2.toFixed(1)},${y2.toFixed(1)}L${(bx - uy * H).toFixed(1)},${(by + ux * H).toFixed(1)}` +
    `L${(bx + uy * H).toFixed(1)},${(by - ux * H).toFixed(1)}Z`;
}

function draw() {
  const t1 = t0 + span;
  const x = t => LEFT + (t - t0) / span * PLOT;
  const clip = t => Math.max(LEFT - 2, Math.min(W, x(t)));
  const H = TOP + DATA.nodes * LANE;
  const showLost = $("lost").checked;
  const out = [];
  out.push(`<defs><clipPath id="plot"><rect x="${LEFT}" y="0" width="${PLOT}" height="${H + 30}"/></clipPath>` +
    `<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">` +
    `<line x1="0" y1="0" x2="0" y2="6" stroke="#bbb" stroke-width="2"/></pattern></defs>`);
  // Time axis.
  const step = niceStep(span);
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
    out.push(`<line x1="${x(t)}" x2="${x(t)}" y1="${TOP - 8}" y2="${H}" stroke="#f0f0f0"/>` +
      `<text class="axis" x="${x(t) + 2}" y="${TOP - 10}">${(t / 1000).toFixed(step < 1000 ? 3 : 0)}ms</text>`);
  }
  // Lanes and their bands.
  for (let id = 1; id <= DATA.nodes; id++)
    out.push(`<line class="lane" data-lane="${id}" x1="${LEFT}" x2="${W}" y1="${yc(id)}" y2="${yc(id)}"/>`);
  out.push(`<g clip-path="url(#plot)">`);
  const laneStatus = {};
  for (const [lane, from, to, layer, cls, text, n] of bands) {
    if (from > t1) break;
    if (to < t0) continue;
    const y = yc(lane);
    const x0 = clip(from), w = Math.max(1, clip(to) - x0);
    const title = `<title>${esc(text)}\nfrom event #${n} at ${ms(from)} until ${ms(to)}</title>`;
    if (layer === 0) {
      const fill = cls === "outside" ? "url(#hatch)" : ROLE[cls] || "#eee";
      out.push(`<rect class="band role-${cls}" x="${x0}" y="${y - 12}" width="${w}" height="24" fill="${fill}">${title}</rect>`);
      if (from >= t0 && w > 14 && cls !== "down") out.push(`<text class="lbl" x="${x0 + 2}" y="${y + 4}" pointer-events="none">${esc(text.split("· ")[1].replace("term ", "t"))}</text>`);
    } else if (layer === 1) {
      if (from <= t0) laneStatus[lane] = cls;
      const fill = cls === "outside" ? "url(#hatch)" : MEMBER[cls] || "#ccc";
      out.push(`<rect class="band member-${cls}" x="${x0}" y="${y - 21}" width="${w}" height="7" fill="${fill}">${title}</rect>`);
    } else {
      const dy = [0, 0, 14, 20, 26][layer];
      out.push(`<rect class="band cond-${cls}" x="${x0}" y="${y + dy}" width="${w}" height="5" fill="${COND[cls] || "#999"}">${title}</rect>`);
    }
  }
  out.push(`</g>`);
  for (let id = 1; id <= DATA.nodes; id++) {
    out.push(`<text class="lbl" x="6" y="${yc(id) + 4}" font-weight="bold">n${id}</text>`);
    if (laneStatus[id]) out.push(`<text class="lbl" x="32" y="${yc(id) + 4}" fill="#555">${laneStatus[id]}</text>`);
  }
  // Faults: across every lane, or on one lane for crashes and restarts.
  out.push(`<g clip-path="url(#plot)">`);
  const vf = DATA.faults.filter(f => f[0] >= t0 && f[0] <= t1);
  for (const [t, n, node, text] of vf) {
    const title = `<title>event #${n} at ${ms(t)}: ${esc(text)}</title>`;
    if (node) {
      out.push(`<line class="fault" x1="${x(t)}" x2="${x(t)}" y1="${yc(node) - 26}" y2="${yc(node) + 32}" stroke="#8a2be2" stroke-width="2">${title}</line>`);
    } else {
      out.push(`<line class="fault" x1="${x(t)}" x2="${x(t)}" y1="${TOP - 4}" y2="${H}" stroke="#8a2be2" stroke-dasharray="4,3" stroke-width="1.5">${title}</line>`);
      if (vf.length < 25) out.push(`<text class="lbl" x="${x(t) + 3}" y="12" fill="#8a2be2">#${n} ${esc(text.slice(0, 60))}${title}</text>`);
    }
  }
  // Messages: one path per kind (solid, dashed) and one of arrowheads; the chain apart.
  const solid = KINDS.map(() => []), dashed = KINDS.map(() => []), heads = KINDS.map(() => []);
  const chainEls = [];
  const seen = new Set();
  let inView = 0;
  visible = [];
  let lo = 0, hi = msgs.length;
  const from = t0 - maxFlight;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (msgs[mid][0] < from) lo = mid + 1; else hi = mid; }
  // Zoomed far out, arrows within a few pixels of each other are drawn once: the shape of the
  // traffic stays, the SVG stays small. (Zoom in to see each message.)
  let last = lo, top = msgs.length;
  while (last < top) { const mid = (last + top) >> 1; if (msgs[mid][0] <= t1) last = mid + 1; else top = mid; }
  const bucket = last - lo > 20000 ? 6 : last - lo > 5000 ? 3 : 1;
  for (let i = lo; i < msgs.length; i++) {
    const m = msgs[i];
    const [sent, arrive, a, b, kind, , , , flags] = m;
    if (sent > t1) break;
    const k = Math.min(kind, KINDS.length - 1);
    const chain = flags & F_CHAIN;
    if (!chain && !enabled[k]) continue;
    const gone = flags & (F_LOST | F_DROPPED);
    if (!chain && gone && !showLost) continue;
    const lost = flags & F_LOST;
    const end = lost ? sent + typicalFlight * 0.4 : arrive;
    if (end < t0) continue;
    inView++;
    const x1 = x(sent), x2 = x(end), y1 = yc(a);
    const y2 = lost ? y1 + (yc(b) - y1) * 0.4 : yc(b);
    // Zoomed out, many messages fall on the same pixels: draw (and hit-test) each once.
    if (!chain) {
      const key = (((k * 4096 + Math.floor(x1 / bucket)) * 4096 + Math.floor(x2 / bucket)) * 64 + a) * 64 + b + (gone ? 0.5 : 0);
      if (seen.has(key)) continue;
      seen.add(key);
    }
    visible.push([i, x1, y1, x2, y2]);
    const seg = `M${x1.toFixed(1)},${y1}L${x2.toFixed(1)},${y2.toFixed(1)}`;
    if (chain) {
      const cls = flags & F_VIOLATION ? "chain violation-msg" : "chain";
      const idAttr = flags & F_VIOLATION ? ` id="violation-msg"` : "";
      chainEls.push(`<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="#fff" stroke-width="9" opacity="0.8"/>` +
        `<line${idAttr} class="${cls}" data-kind="${kindName(kind)}" data-send="${m[5]}" data-deliver="${m[6]}" x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="red"` +
        `${gone ? " stroke-dasharray='5,3'" : ""}><title>${esc(msgText(m))}</title></line>` +
        `<path d="${arrowHead(x1, y1, x2, y2)}" fill="red"/>` +
        `<circle cx="${x2}" cy="${y2}" r="3" fill="${KIND_COLOR[kindName(kind)]}"/>`);
    } else {
      (gone ? dashed : solid)[k].push(seg);
      if (!lost) heads[k].push(arrowHead(x1, y1, x2, y2));
    }
  }
  KINDS.forEach((k, i) => {
    const c = KIND_COLOR[k];
    if (solid[i].length) out.push(`<path class="msgs" data-kind="${k}" d="${solid[i].join("")}" stroke="${c}" stroke-width="1.2" fill="none"/>`);
    if (dashed[i].length) out.push(`<path class="msgs lost" data-kind="${k}" d="${dashed[i].join("")}" stroke="${c}" stroke-width="1.2" stroke-dasharray="3,3" fill="none"/>`);
    if (heads[i].length) out.push(`<path d="${heads[i].join("")}" fill="${c}"/>`);
  });
  out.push(chainEls.join(""));
  // The chain's events and the violation.
  for (const [n, t, node, what, detail] of DATA.chain) {
    if (t < t0 || t > t1 || !node) continue;
    out.push(`<circle class="chain-event" cx="${x(t)}" cy="${yc(node)}" r="6" fill="none" stroke="red" stroke-width="2">` +
      `<title>event #${n} at ${ms(t)} on n${node}: ${esc(what)}${detail ? "\n" + esc(detail) : ""}</title></circle>`);
  }
  const v = DATA.violation;
  if (v && v.t >= t0 && v.t <= t1) {
    const title = `<title>${esc(v.text)}</title>`;
    out.push(`<line id="violation-line" x1="${x(v.t)}" x2="${x(v.t)}" y1="${TOP - 4}" y2="${H}" stroke="red" stroke-width="3" opacity="0.7">${title}</line>`);
    const right = x(v.t) > W - 320;
    out.push(`<text id="violation-label" class="lbl" x="${x(v.t) + (right ? -4 : 4)}" y="${H + 14}" text-anchor="${right ? "end" : "start"}" fill="red" font-weight="bold">violation at event #${v.n}: ${esc(v.kind)}${title}</text>`);
    if (v.node) out.push(`<circle cx="${x(v.t)}" cy="${yc(v.node)}" r="9" fill="none" stroke="red" stroke-width="3">${title}</circle>`);
  }
  out.push(`</g>`);
  $("svg").innerHTML = out.join("");
  $("counts").textContent = `${inView} of ${msgs.length} messages in view` +
    (visible.length < inView ? ` (${visible.length} drawn: one per ${bucket} px at this zoom)` : "") + ` · ${DATA.events} events`;
  $("t0").value = (t0 / 1000).toFixed(3);
  $("span").value = (span / 1000).toFixed(3);
}

let pending = false;
function schedule() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; draw(); });
}
function setView(a, s) {
  span = Math.max(10, Math.min(s, Math.max(DATA.end, 10) * 1.1));
  t0 = Math.max(-span * 0.05, Math.min(a, DATA.end));
  schedule();
}
function toViolation() {
  const v = DATA.violation;
  if (!v) return;
  // The whole chain, and at least 20 ms before the violation for context.
  const first = Math.min(v.t, ...chainTimes);
  const s = Math.max(20000, (v.t - first) * 1.25);
  setView(v.t - s * 0.9, s);
}

function info() {
  const v = DATA.violation;
  const lines = [];
  if (v) {
    lines.push("VIOLATION: " + v.text, "", "How it came about (newest first; event number, time, node, what):");
    for (const [n, t, node, what, detail] of DATA.chain)
      lines.push(`  #${n}  ${ms(t)}  ${node ? "n" + node : "  "}  ${what}${detail ? "  (" + detail + ")" : ""}`);
  } else lines.push("no violation");
  lines.push("", "Faults:");
  for (const [t, n, node, text] of DATA.faults) lines.push(`  #${n}  ${(t / 1e6).toFixed(6)}s  ${node ? "n" + node + " " : ""}${text}`);
  $("info").textContent = lines.join("\n");
  const vd = $("verdict");
  vd.textContent = v ? v.text : `no violation · trace ${DATA.traceHash}`;
  vd.className = v ? "fail" : "";
}

// Interaction: wheel zooms around the pointer, dragging pans, hovering a message shows it.
const svg = $("svg");
let drag = null;
svg.addEventListener("wheel", e => {
  e.preventDefault();
  const r = svg.getBoundingClientRect();
  const px = Math.max(0, e.clientX - r.left - LEFT);
  const at = t0 + px / PLOT * span;
  const f = e.deltaY < 0 ? 0.8 : 1.25;
  setView(at - px / PLOT * span * f, span * f);
}, { passive: false });
svg.addEventListener("mousedown", e => { drag = { x: e.clientX, t0 }; svg.classList.add("drag"); });
window.addEventListener("mouseup", () => { drag = null; svg.classList.remove("drag"); });
svg.addEventListener("mousemove", e => {
  const tip = $("tip");
  if (drag) { setView(drag.t0 - (e.clientX - drag.x) / PLOT * span, span); tip.style.display = "none"; return; }
  const r = svg.getBoundingClientRect();
  const px = e.clientX - r.left, py = e.clientY - r.top;
  let best = null, bestD = 36;
  for (const [i, x1, y1, x2, y2] of visible) {
    const dx = x2 - x1, dy = y2 - y1, l2 = dx * dx + dy * dy;
    const u = l2 ? Math.max(0, Math.min(1, ((px - x1) * dx + (py - y1) * dy) / l2)) : 0;
    const ex = x1 + u * dx - px, ey = y1 + u * dy - py, d = ex * ex + ey * ey;
    if (d < bestD) { bestD = d; best = i; }
  }
  if (best === null) { tip.style.display = "none"; return; }
  tip.textContent = msgText(msgs[best]);
  tip.style.left = (px + 14) + "px";
  tip.style.top = (py + 10) + "px";
  tip.style.display = "block";
});
svg.addEventListener("mouseleave", () => { $("tip").style.display = "none"; });
$("t0").onchange = () => setView(+$("t0").value * 1000, span);
$("span").onchange = () => setView(t0, +$("span").value * 1000);
$("lost").onchange = schedule;
$("prev").onclick = () => setView(t0 - span, span);
$("next").onclick = () => setView(t0 + span, span);
$("zoomin").onclick = () => setView(t0 + span * 0.25, span * 0.5);
$("zoomout").onclick = () => setView(t0 - span * 0.5, span * 2);
$("wholerun").onclick = () => setView(0, DATA.end);
$("toviolation").onclick = toViolation;
$("toviolation").disabled = !DATA.violation;

document.title = "sansraft-sim: " + DATA.title;
$("title").textContent = DATA.title;
svg.setAttribute("width", W);
svg.setAttribute("height", TOP + DATA.nodes * LANE + 22);
legend();
info();
// `page.html#all` opens on the whole run; otherwise the view opens on the violation.
if (location.hash === "#all") setView(0, DATA.end);
else if (DATA.violation) toViolation();
// The first drawing is synchronous, so a test that dumps the DOM once loaded sees it.
span = Math.max(10, span);
const started = performance.now();
draw();
document.body.setAttribute("data-draw-ms", (performance.now() - started).toFixed(1));
document.body.setAttribute("data-viewer", document.getElementById("script-error") ? "error" : "ready");
