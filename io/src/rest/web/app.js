// weir's dashboard: reads the public REST API only (README "REST API") and redraws every
// REFRESH_MS. A token (rest.auth.token-file) is taken from the page's "#token=..." and sent
// as "Authorization: Bearer" on every call, as any other client's read.
"use strict";
const REFRESH_MS = 2000;
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const prev = {}; // "vertex/subtask" -> {t, in, out, bp}: the last read, for rates

async function get(path) {
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const r = await fetch(path, { headers });
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) e.append(k);
  return e;
}

function row(cells, cls) {
  const tr = el("tr", cls ? { class: cls } : {});
  for (const c of cells) tr.append(el("td", {}, String(c)));
  return tr;
}

// Per-subtask rates since the last refresh: records/s in and out, backpressured share.
function rates(key, m, now) {
  const p = prev[key];
  prev[key] = { t: now, in: m["read-records"], out: m["write-records"],
                bp: m["accumulated-backpressured-time"] };
  if (!p || now <= p.t) return { in: "-", out: "-", bp: "-" };
  const s = (now - p.t) / 1000;
  return { in: Math.round((m["read-records"] - p.in) / s),
           out: Math.round((m["write-records"] - p.out) / s),
           bp: Math.min(100, Math.round((m["accumulated-backpressured-time"] - p.bp) / (10 * s))) };
}

async function vertexBox(jid, v) {
  const [d, wm] = await Promise.all([get(`/jobs/${jid}/vertices/${v.id}`),
                                     get(`/jobs/${jid}/vertices/${v.id}/watermarks`)]);
  const marks = {};
  for (const w of wm) // Long.MIN_VALUE: none yet (a source's input), as Flink's "No Watermark"
    marks[w.id.split(".")[0]] = Number(w.value) <= -9e18 ? "none" : w.value;
  const body = el("tbody");
  for (const s of d.subtasks) {
    const r = rates(v.id + "/" + s.subtask, s.metrics, d.now || Date.now());
    body.append(row([s.subtask, s.status, r.in, r.out, r.bp + "%", marks[s.subtask] ?? "-"],
                    r.bp !== "-" && r.bp > 50 ? "high" : ""));
  }
  const head = el("tr");
  for (const h of ["subtask", "status", "in rec/s", "out rec/s", "backpressured", "watermark"])
    head.append(el("th", {}, h));
  return el("div", { class: "vertex" },
            el("h3", { class: "vertex-name" }, `${v.name} (parallelism ${v.parallelism})`),
            el("table", {}, el("thead", {}, head), body));
}

// Duration (line) and size (bars) of the checkpoints in history, oldest left.
function chart(history) {
  const svg = document.getElementById("ckpt-chart");
  const h = history.filter(c => c.status === "COMPLETED").slice().reverse();
  const W = 600, H = 160, n = Math.max(h.length, 1);
  const maxD = Math.max(1, ...h.map(c => c.end_to_end_duration));
  const maxS = Math.max(1, ...h.map(c => c.checkpointed_size));
  let s = "";
  h.forEach((c, i) => {
    const x = (i + 0.5) * W / n, bh = (H - 20) * c.checkpointed_size / maxS;
    s += `<rect x="${x - 4}" y="${H - bh}" width="8" height="${bh}" fill="#9cf"/>`;
  });
  const pts = h.map((c, i) => `${(i + 0.5) * W / n},${H - (H - 20) * c.end_to_end_duration / maxD}`);
  s += `<polyline points="${pts.join(" ")}" fill="none" stroke="#c33" stroke-width="2"/>`;
  s += `<text x="4" y="14" font-size="11">duration (red, max ${maxD} ms), size (blue, max ${maxS} B)</text>`;
  svg.innerHTML = s;
}

async function checkpoints(jid) {
  const c = await get(`/jobs/${jid}/checkpoints`);
  const k = c.counts;
  document.getElementById("ckpt-counts").textContent =
    `completed ${k.completed}, failed ${k.failed}, in progress ${k.in_progress}, restored ${k.restored}`;
  const body = document.querySelector("#ckpts tbody");
  body.replaceChildren(...c.history.map(h => row([h.id, h.status, h.end_to_end_duration,
                                                  h.checkpointed_size],
                                                 h.status === "FAILED" ? "high" : "")));
  chart(c.history);
}

function mib(b) { return (b / 1048576).toFixed(1) + " MiB"; }

// The pools of weir's one task manager (the subtasks' taskmanager-id); use unmeasured: "-".
async function pools() {
  const tm = await get("/taskmanagers/localhost");
  document.querySelector("#pools tbody").replaceChildren(...tm.weir.pools.map(p => {
    const use = p.used === null ? "-" : Math.round(100 * p.used / p.capacity) + "%";
    return row([p.name, p.used === null ? "-" : mib(p.used), mib(p.capacity), use],
               p.used !== null && p.used > 0.9 * p.capacity ? "high" : "");
  }));
}

async function exceptions(jid) {
  const e = await get(`/jobs/${jid}/exceptions`);
  const entries = e.exceptionHistory.entries;
  document.getElementById("restarts").textContent =
    `failures so far (each a restart while the strategy allows): ${entries.length}`;
  document.getElementById("exception").textContent = e["root-exception"] || "no exception";
}

async function refresh() {
  const err = document.getElementById("error");
  try {
    const jobs = await get("/jobs");
    const jid = jobs.jobs[0].id;
    const job = await get(`/jobs/${jid}`);
    document.getElementById("job").textContent = `${job.name} ${jid}`;
    document.getElementById("status").textContent = job.state;
    const boxes = await Promise.all(job.vertices.map(v => vertexBox(jid, v)));
    document.getElementById("graph").replaceChildren(...boxes);
    await Promise.all([checkpoints(jid), exceptions(jid), pools()]);
    err.hidden = true;
  } catch (e) {
    err.textContent = String(e);
    err.hidden = false;
  }
  setTimeout(refresh, REFRESH_MS);
}

refresh();
