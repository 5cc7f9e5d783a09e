// The admin side of the console (admin.html): admin sign-in, the cluster
// page (nodes, block health, heal/scrub/drain, live charts) and, through
// access.js, users, keys, policies and backend credentials. Every call goes
// to /api/admin/... (the admin API's own handlers, in-process).
import { api, setCsrf, whenSignedOut } from "./api.js";
import { $, el, notice, size, when, confirmBox, attempt } from "./ui.js";
import { chart } from "./charts.js";
import { showAccess } from "./access.js";

let clusterTimer = null;

function show(view) {
  document.body.dataset.view = view;
  for (const id of ["login", "cluster", "access"]) $(id).hidden = id !== view;
  $("signout").hidden = view === "login";
  $("tabs").hidden = view === "login";
  for (const t of ["cluster", "access"]) {
    if (t === view) $(`tab-${t}`).setAttribute("aria-current", "page");
    else $(`tab-${t}`).removeAttribute("aria-current");
  }
}

function render() {
  notice("");
  clearInterval(clusterTimer);
  clusterTimer = null;
  document.body.dataset.state = "";
  const h = location.hash.slice(1) || "/cluster";
  if (h.startsWith("/access")) {
    show("access");
    return showAccess();
  }
  show("cluster");
  return showCluster();
}

// ---- sign-in ----

async function start() {
  whenSignedOut(() => signedOut());
  let s = null;
  try {
    s = await api("GET", "/api/session");
  } catch {
    // no session
  }
  if (s && s.kind === "admin") return signedIn(s);
  signedOut(s ? "You are signed in with an access key; the cluster and access pages need the admin token." : "");
}

function signedIn(s) {
  setCsrf(s.csrf);
  $("who").textContent = "admin";
  window.addEventListener("hashchange", render);
  render();
}

function signedOut(msg = "") {
  clearInterval(clusterTimer);
  setCsrf("");
  window.removeEventListener("hashchange", render);
  $("who").textContent = "";
  show("login");
  $("login-error").textContent = msg;
  $("token").focus();
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("login-error").textContent = "";
  try {
    const s = await api("POST", "/api/admin/login", { token: $("token").value });
    $("token").value = "";
    signedIn(s);
  } catch (err) {
    $("token").value = "";
    $("login-error").textContent = err.message;
  }
});

$("signout").addEventListener("click", async () => {
  try {
    await api("POST", "/api/logout");
  } catch {
    // signed out either way
  }
  signedOut();
});

// ---- cluster ----

let clustered = false;
let lastNodes = "";

async function showCluster() {
  await refreshCluster();
  refreshHealth();
  refreshCharts();
  let tick = 0;
  clusterTimer = setInterval(() => {
    tick++;
    refreshCluster();
    refreshCharts();
    // the census walks every block record: refreshed on its own only while it is quick
    if (tick % 5 === 0) refreshHealth(!censusQuick);
  }, 2000);
}

// shards per node from the last census: a draining node's count is the drain's progress
let shardsPerNode = {};

function nodeState(n) {
  if (!n.live) return { key: "down", text: `down since ${when(n.last_seen_ms)}` };
  if (n.draining) {
    const left = shardsPerNode[n.id];
    return { key: "draining", text: left === undefined ? "live, draining" : `live, draining: ${left} shards left` };
  }
  return { key: "live", text: "live" };
}

// A published endpoint is "https://host:port" when its listener speaks
// TLS, else a bare "host:port" (plain HTTP).
function consoleUrl(endpoint) {
  return endpoint.includes("://") ? endpoint : `http://${endpoint}`;
}

function address(n) {
  return n.endpoints?.s3 || n.shard_api || "";
}

async function refreshCluster() {
  let c;
  try {
    c = await api("GET", "/api/admin/cluster");
  } catch (e) {
    notice(e.message);
    return;
  }
  clustered = c.clustered;
  const down = c.nodes.filter((n) => !n.live).length;
  $("cluster-summary").textContent =
    `${c.clustered ? "Cluster" : "Single node"} · ${c.nodes.length} node${c.nodes.length === 1 ? "" : "s"}, ` +
    `${c.live_nodes} live${down ? `, ${down} down` : ""} · erasure code ${c.erasure} · ` +
    `${c.live_failure_domains} live failure domains (writes need ${c.min_failure_domains}) · you are on ${c.node_id}`;
  // unchanged: keep the rows (and the keyboard focus in them)
  const sig = JSON.stringify([
    c.node_id,
    c.clustered,
    c.nodes.map((n) => [n.id, n.zone, n.live, n.draining, n.free_bytes, n.total_bytes, n.live ? 0 : n.last_seen_ms, address(n), shardsPerNode[n.id]]),
  ]);
  if (sig === lastNodes && $("node-rows").childElementCount) {
    document.body.dataset.state = "cluster-ready";
    return;
  }
  lastNodes = sig;
  chartChoices(c);
  const rows = c.nodes.map((n) => {
    const st = nodeState(n);
    const disks = el(
      "div",
      { class: "disks" },
      `${size(n.free_bytes)} free of ${size(n.total_bytes)} · ${n.disks.length} disk${n.disks.length === 1 ? "" : "s"}`,
    );
    const used = n.total_bytes ? (100 * (n.total_bytes - n.free_bytes)) / n.total_bytes : 0;
    const bar = el("span", { class: "bar", role: "img", "aria-label": `${used.toFixed(0)}% used` }, el("span"));
    bar.firstChild.style.width = `${used.toFixed(1)}%`;
    disks.append(bar);
    const btn = el("button", {
      type: "button",
      class: n.draining ? "plain" : "",
      text: n.draining ? "Undrain" : "Drain",
      "aria-label": `${n.draining ? "Undrain" : "Drain"} node ${n.id}`,
    });
    btn.addEventListener("click", () => drain(n, !n.draining));
    // draining needs a cluster: a single node has no button for it
    const acts = el("div", { class: "row" }, ...(c.clustered ? [btn] : []));
    if (!n.live) {
      const forget = el("button", { type: "button", class: "danger", text: "Forget", "aria-label": `Forget node ${n.id}` });
      forget.addEventListener("click", () => forgetNode(n));
      acts.append(forget);
    }
    return el(
      "tr",
      { "data-node": n.id, "data-state": st.key },
      el("td", { class: "name" }, n.id, n.id === c.node_id ? el("span", { class: "muted", text: " (this node)" }) : ""),
      el("td", { text: n.zone || "—" }),
      el(
        "td",
        { class: "wide name" },
        address(n) || "—",
        n.endpoints?.console && n.id !== c.node_id
          ? el("div", {}, el("a", { href: `${consoleUrl(n.endpoints.console)}/admin`, text: "its console (charts)", "aria-label": `Console of node ${n.id}` }))
          : "",
      ),
      el("td", {}, disks),
      el("td", {}, el("span", { class: `state ${st.key}`, text: st.text })),
      el("td", {}, acts),
    );
  });
  $("node-rows").replaceChildren(...rows);
  document.body.dataset.state = "cluster-ready";
}

async function drain(n, on) {
  const q = on
    ? `Drain node ${n.id}? It takes no new shards and the healers move its shards to other nodes.`
    : `Stop draining node ${n.id}? It takes new shards again.`;
  if (!(await confirmBox(q, on ? "Drain" : "Undrain"))) return;
  const ok = await attempt(() => api(on ? "POST" : "DELETE", `/api/admin/nodes/${encodeURIComponent(n.id)}/drain`));
  if (ok) notice(on ? `Node ${n.id} is draining.` : `Node ${n.id} is no longer draining.`, true);
  await refreshHealth();
  refreshCluster();
}

async function forgetNode(n) {
  if (!(await confirmBox(`Forget node ${n.id}? Its shards are rebuilt elsewhere at once.`, "Forget"))) return;
  const ok = await attempt(() => api("DELETE", `/api/admin/nodes/${encodeURIComponent(n.id)}`));
  if (ok) notice(`Node ${n.id} forgotten.`, true);
  refreshCluster();
}

function stat(label, value, cls = "") {
  return el("div", { class: cls }, el("dt", { text: label }), el("dd", { text: String(value) }));
}

let verifyNext = false;
let censusQuick = true;
// one census at a time: a slow one is never queued behind itself (a Verify
// asked meanwhile runs on the next refresh)
let censusBusy = false;

async function refreshHealth(passesOnly = false) {
  if (censusBusy) passesOnly = true;
  const verify = !passesOnly && verifyNext;
  if (verify) verifyNext = false;
  const t0 = performance.now();
  let b = null;
  if (!passesOnly) {
    censusBusy = true;
    try {
      b = await attempt(() => api("GET", `/api/admin/blocks${verify ? "?verify=true" : ""}`));
    } finally {
      censusBusy = false;
    }
  }
  if (b && !verify) {
    censusQuick = performance.now() - t0 < 1000;
    $("census-note").textContent = censusQuick ? "" : "The census took over a second: it is refreshed after each action and by the Refresh button, not every few seconds.";
  }
  if (b) {
    const health = b.lost ? "lost" : b.degraded ? "degraded" : "healthy";
    document.body.dataset.health = health;
    const items = [
      stat("Blocks", b.blocks),
      stat("Healthy", b.healthy),
      stat("Degraded", b.degraded, b.degraded ? "warn" : ""),
      stat(verify ? "Lost" : "Lost (verified passes only)", b.lost, b.lost ? "bad" : ""),
      stat("Below target code", b.below_target, b.below_target ? "warn" : ""),
    ];
    shardsPerNode = b.shards_per_node || {};
    for (const [node, n] of Object.entries(shardsPerNode)) items.push(stat(`Shards on ${node}`, n));
    $("census").replaceChildren(...items);
    $("census").dataset.health = health;
  }
  const p = await attempt(() => api("GET", `/api/admin/passes${clustered ? "?scope=cluster" : ""}`));
  if (p) $("passes").replaceChildren(...passItems(p));
}

function passText(info, kind) {
  if (!info) return "—";
  if (info.running_since_ms) return `running since ${when(info.running_since_ms)}`;
  if (info.last_error) return `last failed: ${info.last_error}`;
  if (!info.last) return "none yet";
  const l = info.last;
  const what =
    kind === "heal"
      ? `checked ${l.blocks_checked}, rebuilt ${l.rebuilt}, drained ${l.drained}, rebalanced ${l.rebalanced}, waiting ${l.waiting}`
      : Object.entries(l)
          .filter(([, v]) => typeof v === "number")
          .map(([k, v]) => `${k.replaceAll("_", " ")} ${v}`)
          .join(", ");
  return `${what} (${when(info.last_done_ms)})`;
}

function passItems(p) {
  if (p.scope === "cluster") {
    const out = [];
    for (const [node, r] of Object.entries(p.nodes)) {
      if (!r.ok) {
        out.push(stat(`${node}`, `unreachable: ${r.error}`, "bad"));
        continue;
      }
      out.push(stat(`Heal on ${node}`, passText(r.result.heal, "heal")));
      out.push(stat(`Scrub on ${node}`, passText(r.result.scrub, "scrub")));
    }
    return out;
  }
  return [stat("Heal", passText(p.heal, "heal")), stat("Scrub", passText(p.scrub, "scrub"))];
}

async function runPass(kind) {
  const what = kind === "heal" ? "Heal" : "Scrub";
  const where = clustered ? "on every live node" : "on this node";
  const text =
    kind === "heal"
      ? `Run a heal pass now ${where}? It rebuilds missing shards and moves shards off draining nodes.`
      : `Run a scrub pass now ${where}? It reads and checks every shard (disk-heavy).`;
  if (!(await confirmBox(text, what))) return;
  const btn = $(kind);
  btn.disabled = true;
  notice(`${what} running…`, true);
  const r = await attempt(() => api("POST", `/api/admin/${kind}${clustered ? "?scope=cluster" : ""}`));
  btn.disabled = false;
  if (r) {
    const totals = r.totals || r;
    const parts = Object.entries(totals)
      .filter(([, v]) => typeof v === "number")
      .map(([k, v]) => `${k.replaceAll("_", " ")} ${v}`);
    const failed = r.failed_nodes ? ` ${r.failed_nodes} node(s) failed.` : "";
    notice(`${what} done: ${parts.join(", ")}.${failed}`, !r.failed_nodes);
  }
  refreshHealth();
}

$("heal").addEventListener("click", () => runPass("heal"));
$("scrub").addEventListener("click", () => runPass("scrub"));
$("census-refresh").addEventListener("click", () => refreshHealth());
$("verify").addEventListener("click", () => {
  verifyNext = true;
  refreshHealth();
});

// ---- charts ----

const rate = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const perSec = (v) => `${size(v)}/s`;

// The node selector: this node, the whole cluster, or one other node
// (its points come through this node, asked with a short deadline).
function chartChoices(c) {
  const sel = $("chart-node");
  const was = sel.value;
  const opts = [el("option", { value: "", text: `this node (${c.node_id})` })];
  if (c.clustered) {
    opts.push(el("option", { value: "all", text: "whole cluster" }));
    for (const n of c.nodes) if (n.id !== c.node_id) opts.push(el("option", { value: n.id, text: `node ${n.id}` }));
  }
  sel.replaceChildren(...opts);
  sel.value = opts.some((o) => o.value === was) ? was : "";
}

$("chart-node").addEventListener("change", () => {
  $("charts").dataset.node = "pending";
  refreshCharts();
});

let chartsBusy = false;

async function refreshCharts() {
  // a slow peer holds one request at most (its deadline), never a queue of them
  if (chartsBusy) return;
  chartsBusy = true;
  const node = $("chart-node").value;
  let r;
  try {
    r = await api("GET", `/api/charts${node ? `?node=${encodeURIComponent(node)}` : ""}`);
  } catch (e) {
    $("chart-nodes").textContent = e.message;
    return;
  } finally {
    chartsBusy = false;
  }
  // the choice changed while this was asked: the next tick draws it
  if (node !== $("chart-node").value) return;
  const missing = (r.nodes || []).filter((n) => !n.ok);
  $("chart-nodes").textContent = missing.length
    ? `${missing.map((n) => `${n.id}: no data (${n.error})`).join("; ")}`
    : r.nodes
      ? `${r.nodes.length} node${r.nodes.length === 1 ? "" : "s"} with data`
      : "";
  $("chart-nodes").dataset.missing = missing.map((n) => n.id).join(" ");
  const p = r.points;
  const box = $("charts");
  const col = (f) => p.map(f);
  chart(box, "rps", { title: "Requests", fmt: (v) => `${rate(v)}/s`, series: [{ name: "requests/s", values: col((x) => x.rps) }] });
  chart(box, "throughput", {
    title: "Throughput",
    fmt: perSec,
    series: [
      { name: "in", values: col((x) => x.in_bps) },
      { name: "out", values: col((x) => x.out_bps) },
    ],
  });
  chart(box, "errors", {
    title: "Errors",
    fmt: (v) => `${rate(v)}/s`,
    series: [
      { name: "5xx/s", values: col((x) => x.server_errors_ps) },
      { name: "4xx/s", values: col((x) => x.client_errors_ps) },
    ],
  });
  chart(box, "p99", { title: "p99 latency", fmt: (v) => `${v < 10 ? v.toFixed(1) : v.toFixed(0)} ms`, series: [{ name: "p99 ms", values: col((x) => x.p99_ms) }] });
  const last = p[p.length - 1];
  const ratio = last && last.logical_bytes ? ` · stored/logical ${(last.stored_bytes / last.logical_bytes).toFixed(2)}` : "";
  chart(box, "bytes", {
    title: `Logical vs stored bytes${ratio}`,
    fmt: size,
    series: [
      { name: "logical (received)", values: col((x) => x.logical_bytes) },
      { name: "stored (after dedup, compression, erasure coding)", values: col((x) => x.stored_bytes) },
    ],
  });
  box.dataset.points = String(p.length);
  box.dataset.node = node;
}

start();
