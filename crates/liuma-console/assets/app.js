// The console page: sign-in, buckets, the object browser, uploads and
// share links. Every name and value from the server is put in the page
// with textContent (never innerHTML), so a key like <img onerror=...> is
// only text; keys are only ever sent back as S3 keys in query parameters.
import { api, setCsrf, whenSignedOut, bpath } from "./api.js";
import { Uploads, pending, discard, droppedFiles } from "./upload.js";
import { showEditors } from "./editors.js";
import { preview } from "./preview.js";
import { $, el, notice, size, confirmBox } from "./ui.js";

const PAGE = 1000;

function show(view) {
  document.body.dataset.view = view;
  for (const id of ["login", "buckets", "objects"]) $(id).hidden = id !== view;
  if (view !== "objects") $("detail").hidden = true;
  $("signout").hidden = view === "login";
}

// one formatter for every row (toLocaleString builds a new one per call)
const DATES = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric" });
const date = (s) => (s ? DATES.format(new Date(s)) : "");

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
  uploads.resumeSignedOut();
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
      const objects = el("td", { class: "num objects", text: "…" });
      const bytes = el("td", { class: "num bytes", text: "…" });
      const stored = el("td", { class: "num stored wide", text: "…" });
      const tr = el(
        "tr",
        { "data-bucket": b.name },
        el("td", { class: "name" }, el("a", { href: link(b.name), text: b.name })),
        objects,
        bytes,
        stored,
        el("td", { class: "wide", text: date(b.created) }),
        el("td", {}, el("label", {}, vers, " on")),
        el(
          "td",
          { class: "actions" },
          el("button", { type: "button", class: "plain", text: "Settings", "aria-label": `Settings of ${b.name}`, onclick: () => openSettings(b.name) }),
          del,
        ),
      );
      api("GET", bpath(b.name, "usage"))
        .then((u) => {
          objects.textContent = u.objects.toLocaleString("en");
          bytes.textContent = size(u.bytes);
          bytes.title = `${u.bytes} bytes`;
          stored.textContent = `${u.stored_estimated ? "≈ " : ""}${size(u.stored)}`;
          stored.title =
            `${u.stored} bytes on disks (compressed, ${u.erasure[0]}+${u.erasure[1]} erasure code), each object's blocks counted for it: before dedup across objects` +
            (u.stored_estimated ? `; ${u.stored_estimated} logical bytes written before this was counted are estimated as size × ${u.erasure[0] + u.erasure[1]}/${u.erasure[0]}` : "");
          tr.dataset.stored = u.stored;
          tr.dataset.objects = u.objects;
          tr.dataset.bytes = u.bytes;
        })
        .catch((e) => {
          objects.textContent = "?";
          objects.title = e.message;
        });
      return tr;
    }),
  );
  if (!list.length) rows.append(el("tr", {}, el("td", { colspan: 7, class: "muted", text: "No buckets yet." })));
  $("settings").hidden = true;
  document.body.dataset.state = "buckets-ready";
}

async function openSettings(bucket) {
  const box = $("settings");
  box.hidden = false;
  $("settings-title").textContent = `Settings of ${bucket}`;
  document.body.dataset.settings = "";
  await showEditors($("editors"), bucket, el);
  document.body.dataset.settings = bucket;
  box.scrollIntoView();
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

// token: the next key-order page; offset: the next page of a folder sorted
// whole by the server (null: none); unsorted: the folder is too big to sort
// whole (the reason shown), so the chosen order applies to the loaded rows
const browse = { bucket: "", prefix: "", search: "", token: null, offset: null, unsorted: "", selected: new Set(), seq: 0 };

async function showObjects(bucket, prefix) {
  show("objects");
  Object.assign(browse, { bucket, prefix, token: null, offset: null, unsorted: "", selected: new Set() });
  $("search").value = "";
  browse.search = "";
  $("object-rows").replaceChildren();
  updateSelection();
  showPending();
  await loadPage(true);
}

/** Multipart uploads left unfinished (e.g. before a reload): resume or discard. */
function showPending() {
  const list = pending(browse.bucket).filter((p) => ![...uploadRows.keys()].some((j) => j.key === p.key && j.state !== "done"));
  $("pending").replaceChildren(
    ...list.map((p) => {
      const input = el("input", { type: "file", class: "sr", "aria-label": `Choose ${p.name} again to resume` });
      input.addEventListener("change", () => {
        const f = input.files[0];
        if (!f) return;
        if (f.name !== p.name || f.size !== p.size) {
          notice(`That is not ${p.name} (${size(p.size)}): choose the same file to resume.`);
          return;
        }
        uploads.add(browse.bucket, p.key, f);
        showPending();
      });
      const li = el(
        "li",
        { "data-pending": p.key },
        el("span", { class: "name", text: `${p.key} — unfinished (${size(p.size)})` }),
        el(
          "span",
          { class: "status" },
          el("button", { type: "button", text: "Resume: choose the file", onclick: () => input.click() }),
          " ",
          el("button", {
            type: "button",
            class: "danger",
            text: "Discard",
            onclick: async () => {
              try {
                await discard(p);
              } catch (e) {
                notice(e.message);
              }
              showPending();
            },
          }),
          input,
        ),
      );
      return li;
    }),
  );
}

const SORTS = {
  name: (a, b) => (a.dataset.key < b.dataset.key ? -1 : a.dataset.key > b.dataset.key ? 1 : 0),
  size: (a, b) => Number(a.dataset.size) - Number(b.dataset.size),
  modified: (a, b) => (a.dataset.modified < b.dataset.modified ? -1 : a.dataset.modified > b.dataset.modified ? 1 : 0),
};

/** Sort the loaded object rows (folders stay first): only for a folder too big to be sorted whole by the server. */
function sortRows() {
  const v = $("sort").value;
  const desc = v.startsWith("-");
  const f = SORTS[desc ? v.slice(1) : v];
  const rows = $("object-rows");
  const objs = [...rows.querySelectorAll("tr[data-key]")];
  objs.sort((a, b) => (desc ? -f(a, b) : f(a, b)));
  rows.append(...objs);
}
// Name A–Z is S3's own order; any other order lists the whole folder
// sorted on the server (up to its bound), so page 1 holds e.g. the largest
// objects of the folder, not of the rows loaded.
$("sort").addEventListener("change", () => {
  if (browse.unsorted) sortRows();
  else loadPage(true);
});

async function loadPage(first) {
  const seq = ++browse.seq;
  const params = { prefix: browse.prefix + browse.search, max: PAGE };
  const order = $("sort").value;
  if (first) browse.unsorted = "";
  const whole = order !== "name" && !browse.unsorted;
  if (whole) {
    params.sort = order;
    if (!first && browse.offset !== null) params.offset = browse.offset;
  } else if (!first && browse.token) params.token = browse.token;
  document.body.dataset.state = "listing";
  let r;
  try {
    r = await api("GET", bpath(browse.bucket, "objects", params));
    if (whole && r.sorted === false) {
      // too many entries (or too slow) to sort whole: key order, said in words
      browse.unsorted = r.reason;
      delete params.sort;
      delete params.offset;
      r = await api("GET", bpath(browse.bucket, "objects", params));
    }
  } catch (e) {
    notice(e.message);
    document.body.dataset.state = "list-failed";
    return;
  }
  // a newer listing replaced this one, or the page left the objects view
  if (seq !== browse.seq || document.body.dataset.view !== "objects") return;
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
  if (browse.unsorted && order !== "name") sortRows();
  browse.token = r.next_token;
  browse.offset = r.sorted ? (r.next_offset ?? null) : null;
  const more = r.sorted ? browse.offset !== null : !!r.next_token;
  $("more").hidden = !more;
  const n = rows.children.length;
  $("count").textContent =
    `${n} item${n === 1 ? "" : "s"} shown${r.sorted ? ` of ${r.total}, the whole folder sorted` : ""}${more ? " (more available)" : ""}`;
  $("sort-note").textContent = browse.unsorted;
  document.body.dataset.sorted = r.sorted ? order : "";
  if (first && !n) rows.append(el("tr", {}, el("td", { colspan: 4, class: "muted", text: "Empty." })));
  // measured by the browser test: DOM built and laid out
  void rows.offsetHeight;
  document.body.dataset.renderMs = String(Math.round(performance.now() - t0));
  document.body.dataset.state = "listed";
}

// Rows are clones of one template with their texts set (no per-row
// listeners or layout reads): the 1 000-row page is built in one pass.
const ROW = (() => {
  const t = document.createElement("template");
  // fixed markup, no data: names and sizes are set as text below
  t.innerHTML = '<tr><td><input type="checkbox"></td><td class="name"><button type="button" class="link"></button></td><td></td><td class="wide"></td></tr>';
  return t.content.firstChild;
})();

function objectRow(o) {
  const name = o.key.slice(browse.prefix.length) || o.key;
  const tr = ROW.cloneNode(true);
  tr.dataset.key = o.key;
  tr.dataset.size = o.size;
  tr.dataset.modified = o.modified;
  const [c0, c1, c2, c3] = tr.children;
  c0.firstChild.setAttribute("aria-label", `Select ${name}`);
  c1.firstChild.textContent = name;
  c2.textContent = size(o.size);
  c3.textContent = date(o.modified);
  if (browse.selected.has(o.key)) {
    c0.firstChild.checked = true;
    tr.classList.add("sel");
  }
  return tr;
}

function selectRow(box) {
  const tr = box.closest("tr[data-key]");
  if (!tr) return;
  if (box.checked) browse.selected.add(tr.dataset.key);
  else browse.selected.delete(tr.dataset.key);
  tr.classList.toggle("sel", box.checked);
  updateSelection();
}

// one listener each for every row: open on a name, select on a checkbox
$("object-rows").addEventListener("click", (e) => {
  const b = e.target.closest("tr[data-key] button.link");
  if (b) openDetail(b.closest("tr").dataset.key);
});
$("object-rows").addEventListener("change", (e) => {
  if (e.target.type === "checkbox") selectRow(e.target);
});

function updateSelection() {
  const n = browse.selected.size;
  $("delete-selected").disabled = !n;
  $("delete-selected").textContent = n ? `Delete selected (${n})` : "Delete selected";
}

$("select-all").addEventListener("change", (e) => {
  for (const box of $("object-rows").querySelectorAll("input[type=checkbox]")) {
    if (box.checked !== e.target.checked) {
      box.checked = e.target.checked;
      selectRow(box);
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

async function openDetail(key, version = "") {
  detailKey = key;
  document.body.dataset.detail = "";
  const d = $("detail");
  d.hidden = false;
  $("detail-title").textContent = key;
  $("preview").replaceChildren();
  $("meta").replaceChildren();
  $("share-out").hidden = true;
  const vq = version ? { version } : {};
  const src = bpath(browse.bucket, "object", { key, ...vq });
  $("download").href = bpath(browse.bucket, "object", { key, download: "1", ...vq });
  let m;
  try {
    m = await api("GET", bpath(browse.bucket, "meta", { key, ...vq }));
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
  await Promise.all([
    preview($("preview"), src, m, key, el),
    loadTags(key, version),
    loadVersions(key),
  ]);
  document.body.dataset.detail = key;
}

$("detail-close").addEventListener("click", () => {
  $("detail").hidden = true;
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && !$("detail").hidden && !$("confirm").open) $("detail").hidden = true;
});

// ---- tags ----

let tagVersion = "";

function tagRow(k = "", v = "") {
  const n = $("tag-rows").children.length + 1;
  const key = el("input", { class: "tag-key", value: k, "aria-label": `Tag ${n} key`, placeholder: "key", maxlength: 128 });
  const val = el("input", { class: "tag-value", value: v, "aria-label": `Tag ${n} value`, placeholder: "value", maxlength: 256 });
  const row = el("p", { class: "row tag" }, key, val);
  row.append(el("button", { type: "button", class: "plain", text: "Remove", "aria-label": `Remove tag ${n}`, onclick: () => row.remove() }));
  return row;
}

async function loadTags(key, version) {
  tagVersion = version;
  $("tag-rows").replaceChildren();
  try {
    const r = await api("GET", bpath(browse.bucket, "tags", { key, ...(version ? { version } : {}) }));
    $("tag-rows").append(...r.tags.map((t) => tagRow(t.key, t.value)));
  } catch (e) {
    $("tag-rows").append(el("p", { class: "muted", text: e.message }));
  }
}

$("tag-add").addEventListener("click", () => {
  const r = tagRow();
  $("tag-rows").append(r);
  r.querySelector("input").focus();
});

$("tags-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const tags = [...$("tag-rows").querySelectorAll(".tag")]
    .map((r) => ({ key: r.querySelector(".tag-key").value.trim(), value: r.querySelector(".tag-value").value }))
    .filter((t) => t.key);
  try {
    await api("PUT", bpath(browse.bucket, "tags", { key: detailKey, ...(tagVersion ? { version: tagVersion } : {}) }), { tags });
    notice(`Tags of ${detailKey} saved.`, true);
    document.body.dataset.tags = "saved";
  } catch (err) {
    notice(`Tags not saved: ${err.message}`);
    document.body.dataset.tags = "failed";
  }
});

// ---- versions of a key ----

async function loadVersions(key) {
  const list = $("versions");
  list.replaceChildren();
  let r;
  try {
    r = await api("GET", bpath(browse.bucket, "versions", { key }));
  } catch (e) {
    list.append(el("li", { class: "muted", text: e.message }));
    return;
  }
  $("versions-box").hidden = r.versions.length < 2 && !r.versions.some((v) => v.version_id !== "null");
  for (const v of r.versions) {
    const label = v.delete_marker ? "delete marker" : `${size(v.size)}`;
    const li = el(
      "li",
      { "data-version": v.version_id },
      el("span", { class: "name", text: `${date(v.modified)} · ${label}${v.latest ? " · current" : ""}` }),
      el("span", { class: "muted vid", text: v.version_id }),
    );
    const actions = el("span", { class: "row" });
    if (!v.delete_marker) {
      actions.append(
        el("button", { type: "button", class: "plain", text: "View", "aria-label": `View version ${v.version_id}`, onclick: () => openDetail(key, v.version_id) }),
        el("a", { class: "button plain", href: bpath(browse.bucket, "object", { key, version: v.version_id, download: "1" }), text: "Download", "aria-label": `Download version ${v.version_id}` }),
      );
      if (!v.latest) {
        actions.append(
          el("button", {
            type: "button",
            text: "Restore",
            "aria-label": `Restore version ${v.version_id}`,
            onclick: async () => {
              try {
                await api("POST", bpath(browse.bucket, "restore", { key, version: v.version_id }));
                notice(`Version ${v.version_id} restored: it is now the current one.`, true);
                await openDetail(key);
                loadPage(true);
              } catch (e) {
                notice(e.message);
              }
            },
          }),
        );
      }
    }
    actions.append(
      el("button", {
        type: "button",
        class: "danger",
        text: "Delete",
        "aria-label": `Delete version ${v.version_id}`,
        onclick: async () => {
          if (!(await confirmBox(`Delete version ${v.version_id} of ${key} for good?`))) return;
          try {
            await api("DELETE", bpath(browse.bucket, "version", { key, version: v.version_id }));
            notice(`Version ${v.version_id} deleted.`, true);
            await openDetail(key);
            loadPage(true);
          } catch (e) {
            notice(e.message);
          }
        },
      }),
    );
    li.append(actions);
    list.append(li);
  }
}

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

function secs(t) {
  if (t === null || t === undefined || !isFinite(t)) return "";
  t = Math.round(t);
  return t >= 60 ? `${Math.floor(t / 60)} min ${t % 60} s` : `${t} s`;
}

function uploadText(job) {
  const pct = job.file.size ? Math.floor((100 * job.sent) / job.file.size) : 100;
  switch (job.state) {
    case "queued":
      return "waiting";
    case "checking":
      return "checking";
    case "hashing":
    case "retrying":
      return job.note;
    case "uploading":
      return `${pct}% of ${size(job.file.size)}${job.speed ? ` · ${size(job.speed)}/s · ${secs(job.eta)} left` : ""}${job.resumed ? ` (resumed: ${job.resumed} parts already stored)` : ""}`;
    case "paused":
      return `paused at ${pct}%`;
    case "done":
      return `done${job.resumed ? ` (resumed: ${job.resumed} parts already stored)` : ""}`;
    case "stored":
      return job.note;
    default:
      return "";
  }
}

function renderTotal() {
  const t = uploads.totals();
  const busy = uploads.jobs.some((j) => ["uploading", "checking", "hashing", "retrying", "queued"].includes(j.state));
  $("upload-total").hidden = !busy;
  if (busy) {
    $("upload-total").textContent = `All uploads: ${size(t.sent)} of ${size(t.size)}${t.speed ? ` · ${size(t.speed)}/s · ${secs(t.eta)} left` : ""}`;
  }
}

const uploads = new Uploads(
  (job) => {
    let li = uploadRows.get(job);
    if (!li) {
      const pause = el("button", { type: "button", class: "plain pause", text: "Pause", "aria-label": `Pause ${job.key}` });
      pause.addEventListener("click", () => (job.state === "paused" ? uploads.resume(job) : uploads.pause(job)));
      li = el(
        "li",
        {},
        el("span", { class: "name", text: job.key }),
        el("span", { class: "status", "aria-live": "polite" }),
        pause,
        el("progress", { max: job.file.size || 1, value: 0, "aria-label": `Progress of ${job.key}` }),
      );
      uploadRows.set(job, li);
      $("uploads").append(li);
    }
    li.dataset.state = job.state;
    li.dataset.key = job.key;
    li.querySelector("progress").value = job.sent;
    const pause = li.querySelector(".pause");
    pause.hidden = !["queued", "checking", "hashing", "uploading", "retrying", "paused"].includes(job.state);
    pause.textContent = job.state === "paused" ? "Resume" : "Pause";
    pause.setAttribute("aria-label", `${pause.textContent} ${job.key}`);
    const status = li.querySelector(".status");
    if (job.state === "failed" || job.state === "signin") {
      status.replaceChildren(
        el("span", { class: "error", text: job.error + " " }),
        el("button", { type: "button", text: "Retry", "aria-label": `Retry ${job.key}`, onclick: () => uploads.retry(job) }),
      );
      if (job.state === "signin" && document.body.dataset.view !== "login") signedOut();
    } else {
      status.textContent = uploadText(job);
    }
    renderTotal();
  },
  (job) => {
    if (["done", "stored"].includes(job.state) && job.bucket === browse.bucket && document.body.dataset.view === "objects") {
      loadPage(true);
      showPending();
    }
  },
);

function uploadFiles(files) {
  for (const { file, path } of files) uploads.add(browse.bucket, browse.prefix + path, file);
}

$("file-input").addEventListener("change", (e) => {
  uploadFiles([...e.target.files].map((f) => ({ file: f, path: f.name })));
  e.target.value = "";
});
$("folder-input").addEventListener("change", (e) => {
  uploadFiles([...e.target.files].map((f) => ({ file: f, path: f.webkitRelativePath || f.name })));
  e.target.value = "";
});
const drop = $("drop");
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", async (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  try {
    uploadFiles(await droppedFiles(e.dataTransfer));
  } catch (err) {
    notice(`The dropped files could not be read: ${err.message}`);
  }
});

window.addEventListener("hashchange", render);
start();
