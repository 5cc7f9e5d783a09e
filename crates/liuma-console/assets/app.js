// The console page: sign-in, buckets, the object browser, uploads and
// share links. Every name and value from the server is put in the page
// with textContent (never innerHTML), so a key like <img onerror=...> is
// only text; keys are only ever sent back as S3 keys in query parameters.
import { api, setCsrf, whenSignedOut, bpath } from "./api.js";
import { Uploads } from "./upload.js";

const $ = (id) => document.getElementById(id);
const PAGE = 1000;

/** A DOM element; children are nodes or strings (as text). */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) e.append(c);
  return e;
}

function notice(msg, ok = false) {
  const n = $("notice");
  n.textContent = msg;
  n.className = ok ? "ok" : "";
  n.hidden = !msg;
}

function show(view) {
  document.body.dataset.view = view;
  for (const id of ["login", "buckets", "objects"]) $(id).hidden = id !== view;
  if (view !== "objects") $("detail").hidden = true;
  $("signout").hidden = view === "login";
}

function size(n) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? n.toFixed(1) : n} ${u[i]}`;
}

const date = (s) => (s ? new Date(s).toLocaleString() : "");

function confirmBox(text, label = "Delete") {
  const d = $("confirm");
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = label;
  d.returnValue = "";
  d.showModal();
  return new Promise((res) => d.addEventListener("close", () => res(d.returnValue === "ok"), { once: true }));
}

// ---- routing: #/ (buckets), #/b/<bucket>/<prefix> ----

function route() {
  const h = location.hash.slice(1) || "/";
  const m = /^\/b\/([^/]+)\/?(.*)$/.exec(h);
  if (m) return { bucket: decodeURIComponent(m[1]), prefix: decodeURIComponent(m[2]) };
  return { bucket: null };
}
const link = (bucket, prefix = "") => `#/b/${encodeURIComponent(bucket)}/${encodeURIComponent(prefix)}`;

function crumbs(bucket, prefix) {
  const c = $("crumbs");
  c.replaceChildren();
  if (!bucket) return;
  c.append(el("a", { href: "#/", text: "Buckets" }), el("span", { class: "sep", text: "/" }));
  c.append(el("a", { href: link(bucket), text: bucket }));
  let acc = "";
  for (const part of prefix.split("/").filter((p, i, a) => i < a.length - 1 || p)) {
    acc += part + "/";
    c.append(el("span", { class: "sep", text: "/" }), el("a", { href: link(bucket, acc), text: part }));
  }
}

async function render() {
  notice("");
  const r = route();
  crumbs(r.bucket, r.prefix || "");
  if (!r.bucket) return showBuckets();
  return showObjects(r.bucket, r.prefix || "");
}

// ---- sign-in ----

async function start() {
  whenSignedOut(() => signedOut());
  try {
    const s = await api("GET", "/api/session");
    signedIn(s);
  } catch {
    signedOut();
  }
}

function signedIn(s) {
  // an admin session has no key for these pages: the cluster pages are its own
  if (s.kind === "admin") return location.assign("/admin");
  setCsrf(s.csrf);
  $("who").textContent = s.access_key;
  render();
}

function signedOut() {
  setCsrf("");
  $("who").textContent = "";
  $("crumbs").replaceChildren();
  show("login");
  $("ak").focus();
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("login-error").textContent = "";
  try {
    const s = await api("POST", "/api/login", { access_key: $("ak").value.trim(), secret: $("sk").value });
    $("sk").value = "";
    signedIn(s);
  } catch (err) {
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

// ---- buckets ----

async function showBuckets() {
  show("buckets");
  const rows = $("bucket-rows");
  let list;
  try {
    list = (await api("GET", "/api/buckets")).buckets;
  } catch (e) {
    notice(e.message);
    return;
  }
  rows.replaceChildren(
    ...list.map((b) => {
      const vers = el("input", { type: "checkbox", "aria-label": `Versioning of ${b.name}`, disabled: true });
      api("GET", bpath(b.name, "versioning"))
        .then((v) => {
          vers.checked = v.enabled;
          vers.disabled = false;
        })
        .catch(() => {});
      vers.addEventListener("change", async () => {
        try {
          await api("PUT", bpath(b.name, "versioning"), { enabled: vers.checked });
          notice(`Versioning of ${b.name} is now ${vers.checked ? "on" : "suspended"}.`, true);
        } catch (e) {
          vers.checked = !vers.checked;
          notice(e.message);
        }
      });
      const del = el("button", { type: "button", class: "danger", text: "Delete" });
      del.addEventListener("click", async () => {
        if (!(await confirmBox(`Delete the bucket ${b.name}? It must be empty.`))) return;
        try {
          await api("DELETE", `/api/buckets/${encodeURIComponent(b.name)}`);
          notice(`Bucket ${b.name} deleted.`, true);
          showBuckets();
        } catch (e) {
          notice(e.message);
        }
      });
      return el(
        "tr",
        { "data-bucket": b.name },
        el("td", { class: "name" }, el("a", { href: link(b.name), text: b.name })),
        el("td", { class: "wide", text: date(b.created) }),
        el("td", {}, el("label", {}, vers, " on")),
        el("td", {}, del),
      );
    }),
  );
  if (!list.length) rows.append(el("tr", {}, el("td", { colspan: 4, class: "muted", text: "No buckets yet." })));
  document.body.dataset.state = "buckets-ready";
}

$("new-bucket").addEventListener("submit", async (e) => {
  e.preventDefault();
  const name = $("bucket-name").value.trim();
  try {
    await api("POST", "/api/buckets", { name });
    $("bucket-name").value = "";
    notice(`Bucket ${name} created.`, true);
    showBuckets();
  } catch (err) {
    notice(err.message);
  }
});

// ---- objects ----

const browse = { bucket: "", prefix: "", search: "", token: null, selected: new Set(), seq: 0 };

async function showObjects(bucket, prefix) {
  show("objects");
  Object.assign(browse, { bucket, prefix, token: null, selected: new Set() });
  $("search").value = "";
  browse.search = "";
  $("object-rows").replaceChildren();
  updateSelection();
  await loadPage(true);
}

async function loadPage(first) {
  const seq = ++browse.seq;
  const params = { prefix: browse.prefix + browse.search, max: PAGE };
  if (!first && browse.token) params.token = browse.token;
  document.body.dataset.state = "listing";
  let r;
  try {
    r = await api("GET", bpath(browse.bucket, "objects", params));
  } catch (e) {
    notice(e.message);
    document.body.dataset.state = "list-failed";
    return;
  }
  if (seq !== browse.seq) return; // a newer listing replaced this one
  const t0 = performance.now();
  const rows = $("object-rows");
  if (first) rows.replaceChildren();
  const frag = document.createDocumentFragment();
  for (const f of r.folders) {
    const name = f.slice(browse.prefix.length);
    frag.append(
      el(
        "tr",
        { "data-folder": f },
        el("td"),
        el("td", { class: "name" }, el("a", { href: link(browse.bucket, f), text: name })),
        el("td", { class: "muted", text: "folder" }),
        el("td", { class: "wide" }),
      ),
    );
  }
  for (const o of r.objects) frag.append(objectRow(o));
  rows.append(frag);
  browse.token = r.next_token;
  $("more").hidden = !r.next_token;
  const n = rows.children.length;
  $("count").textContent = `${n} item${n === 1 ? "" : "s"} shown${r.next_token ? " (more available)" : ""}`;
  if (first && !n) rows.append(el("tr", {}, el("td", { colspan: 4, class: "muted", text: "Empty." })));
  // measured by the browser test: DOM built and laid out
  void rows.offsetHeight;
  document.body.dataset.renderMs = String(Math.round(performance.now() - t0));
  document.body.dataset.state = "listed";
}

function objectRow(o) {
  const name = o.key.slice(browse.prefix.length) || o.key;
  const box = el("input", { type: "checkbox", "aria-label": `Select ${name}` });
  const tr = el(
    "tr",
    { "data-key": o.key },
    el("td", {}, box),
    el("td", { class: "name" }, el("button", { type: "button", class: "link", text: name, onclick: () => openDetail(o.key) })),
    el("td", { text: size(o.size) }),
    el("td", { class: "wide", text: date(o.modified) }),
  );
  box.addEventListener("change", () => {
    if (box.checked) browse.selected.add(o.key);
    else browse.selected.delete(o.key);
    tr.classList.toggle("sel", box.checked);
    updateSelection();
  });
  return tr;
}

function updateSelection() {
  const n = browse.selected.size;
  $("delete-selected").disabled = !n;
  $("delete-selected").textContent = n ? `Delete selected (${n})` : "Delete selected";
}

$("select-all").addEventListener("change", (e) => {
  for (const box of $("object-rows").querySelectorAll("input[type=checkbox]")) {
    if (box.checked !== e.target.checked) {
      box.checked = e.target.checked;
      box.dispatchEvent(new Event("change"));
    }
  }
});

$("more").addEventListener("click", () => loadPage(false));

let searchTimer = 0;
$("search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    browse.search = $("search").value;
    browse.token = null;
    loadPage(true);
  }, 200);
});

$("delete-selected").addEventListener("click", async () => {
  const keys = [...browse.selected];
  if (!keys.length) return;
  if (!(await confirmBox(`Delete ${keys.length} object${keys.length === 1 ? "" : "s"}? This cannot be undone.`))) return;
  try {
    for (let i = 0; i < keys.length; i += 1000) {
      const r = await api("POST", bpath(browse.bucket, "delete"), { keys: keys.slice(i, i + 1000) });
      if (r.errors.length) notice(`${r.errors.length} could not be deleted: ${r.errors[0].message || r.errors[0].code}`);
      else notice(`${keys.length} deleted.`, true);
    }
  } catch (e) {
    notice(e.message);
  }
  browse.selected.clear();
  updateSelection();
  loadPage(true);
});

// ---- detail: metadata, preview, download, share ----

let detailKey = "";

async function openDetail(key) {
  detailKey = key;
  const d = $("detail");
  d.hidden = false;
  $("detail-title").textContent = key;
  $("preview").replaceChildren();
  $("meta").replaceChildren();
  $("share-out").hidden = true;
  const src = bpath(browse.bucket, "object", { key });
  $("download").href = bpath(browse.bucket, "object", { key, download: "1" });
  let m;
  try {
    m = await api("GET", bpath(browse.bucket, "meta", { key }));
  } catch (e) {
    notice(e.message);
    return;
  }
  const rows = [
    ["Size", `${size(m.size)} (${m.size} bytes)`],
    ["Type", m.content_type],
    ["Modified", m.modified],
    ["ETag", m.etag],
  ];
  if (m.version_id) rows.push(["Version", m.version_id]);
  for (const [k, v] of Object.entries(m.metadata)) rows.push([`x-amz-meta-${k}`, v]);
  $("meta").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
  const t = (m.content_type || "").split(";")[0];
  if (/^image\/(png|jpeg|gif|webp|avif)$/.test(t)) {
    $("preview").append(el("img", { src, alt: `Preview of ${key}` }));
  } else if (/^video\/(mp4|webm)$/.test(t)) {
    $("preview").append(el("video", { src, controls: true }));
  } else if (/^audio\//.test(t)) {
    $("preview").append(el("audio", { src, controls: true }));
  } else if (/^text\/|json|xml/.test(t)) {
    const r = await fetch(src, { headers: { range: "bytes=0-65535" } });
    const text = await r.text();
    $("preview").append(el("pre", { text: text + (m.size > 65536 ? "\n…" : "") }));
  }
  document.body.dataset.detail = key;
}

$("detail-close").addEventListener("click", () => {
  $("detail").hidden = true;
});

$("share-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    const r = await api("POST", bpath(browse.bucket, "share"), {
      key: detailKey,
      expires_secs: Number($("share-expiry").value),
    });
    $("share-url").value = r.url;
    $("share-out").hidden = false;
    $("share-url").select();
  } catch (err) {
    notice(err.message);
  }
});

$("share-copy").addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText($("share-url").value);
    notice("Link copied.", true);
  } catch {
    $("share-url").select();
    notice("Copy the selected link (the browser did not allow copying).");
  }
});

// ---- uploads ----

const uploadRows = new Map();
const uploads = new Uploads(
  (job) => {
    let li = uploadRows.get(job);
    if (!li) {
      li = el(
        "li",
        {},
        el("span", { class: "name", text: job.key }),
        el("span", { class: "status" }),
        el("progress", { max: job.file.size || 1, value: 0 }),
      );
      uploadRows.set(job, li);
      $("uploads").append(li);
    }
    li.dataset.state = job.state;
    li.dataset.key = job.key;
    li.querySelector("progress").value = job.sent;
    const status = li.querySelector(".status");
    const pct = job.file.size ? Math.floor((100 * job.sent) / job.file.size) : 100;
    status.textContent =
      job.state === "failed" ? "" : `${job.state} ${pct}%${job.resumed ? ` (resumed: ${job.resumed} parts already stored)` : ""}`;
    if (job.state === "failed") {
      status.replaceChildren(
        el("span", { class: "error", text: job.error + " " }),
        el("button", { type: "button", text: "Retry", onclick: () => uploads.retry(job) }),
      );
    }
  },
  (job) => {
    if (job.state === "done" && job.bucket === browse.bucket && document.body.dataset.view === "objects") {
      loadPage(true);
    }
  },
);

function uploadFiles(files) {
  for (const f of files) uploads.add(browse.bucket, browse.prefix + f.name, f);
}

$("file-input").addEventListener("change", (e) => {
  uploadFiles(e.target.files);
  e.target.value = "";
});
const drop = $("drop");
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  uploadFiles([...e.dataTransfer.files]);
});

window.addEventListener("hashchange", render);
start();
