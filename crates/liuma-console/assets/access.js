// The access page: users, their keys (a new secret shown once), their
// identity policies (the server validates; its words are shown), and the
// native API's backend credentials (create with scopes, rotate, revoke).
// Everything goes through /api/admin/... (the admin API's handlers).
import { api } from "./api.js";
import { $, el, notice, when, confirmBox, copyFrom, attempt } from "./ui.js";

const SCOPES = ["upload", "download", "finish", "info", "delete", "admin"];
const enc = encodeURIComponent;
let current = null; // the user shown in the detail panel

export async function showAccess() {
  $("secret-out").hidden = true;
  $("backend-secret").hidden = true;
  await Promise.all([listUsers(), listBackends()]);
  if (current) await showUser(current);
  document.body.dataset.state = "access-ready";
}

// ---- users ----

async function listUsers() {
  const users = await attempt(() => api("GET", "/api/admin/users"));
  if (!users) return;
  if (current && !users.some((u) => u.name === current)) {
    current = null;
    $("user-detail").hidden = true;
  }
  const rows = users.map((u) => {
    const open = el("button", { type: "button", class: "link", text: u.name, "aria-label": `Open user ${u.name}` });
    open.addEventListener("click", () => showUser(u.name));
    return el(
      "tr",
      { "data-user": u.name },
      el("td", { class: "name" }, open, u.root ? el("span", { class: "muted", text: " (root)" }) : ""),
      el("td", { class: "wide", text: when(u.created_ms) }),
      el("td", { class: "name", text: u.policies.join(", ") || "—" }),
      el("td", {}),
    );
  });
  $("user-rows").replaceChildren(...rows);
}

$("new-user").addEventListener("submit", async (e) => {
  e.preventDefault();
  const name = $("user-name").value.trim();
  const u = await attempt(() => api("POST", "/api/admin/users", { name }));
  if (!u) return;
  $("user-name").value = "";
  notice(`User ${u.name} created. Create a key for it below.`, true);
  await listUsers();
  await showUser(u.name);
});

async function showUser(name) {
  if (current !== name) {
    $("secret-out").hidden = true;
    $("policy-error").textContent = "";
    $("policy-name").value = "";
    $("policy-text").value = "";
  }
  current = name;
  const [u, keys] = await Promise.all([
    attempt(() => api("GET", `/api/admin/users/${enc(name)}`)),
    attempt(() => api("GET", `/api/admin/users/${enc(name)}/keys`)),
  ]);
  if (!u || !keys) return;
  $("user-detail").hidden = false;
  $("user-detail").dataset.user = name;
  $("user-title").textContent = `User ${name}`;
  $("delete-user").hidden = u.root;
  const rows = keys.map((k) => {
    const toggle = el("button", {
      type: "button",
      class: "plain",
      text: k.disabled ? "Enable" : "Disable",
      "aria-label": `${k.disabled ? "Enable" : "Disable"} key ${k.id}`,
    });
    toggle.addEventListener("click", () => setDisabled(k, !k.disabled));
    const del = el("button", { type: "button", class: "danger", text: "Delete", "aria-label": `Delete key ${k.id}` });
    del.addEventListener("click", () => deleteKey(k));
    return el(
      "tr",
      { "data-key": k.id, "data-state": k.disabled ? "disabled" : "enabled" },
      el("td", {}, el("code", { text: k.id })),
      el("td", { class: "wide name", text: k.name }),
      el("td", {}, el("span", { class: `state ${k.disabled ? "down" : ""}`, text: k.disabled ? "disabled" : "enabled" })),
      el("td", {}, el("div", { class: "row" }, toggle, del)),
    );
  });
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 4, class: "muted", text: "No keys." })));
  $("key-rows").replaceChildren(...rows);
  const pl = u.policies.map((p) => {
    const b = el("button", { type: "button", class: "plain", text: p, "aria-label": `Edit policy ${p}` });
    b.addEventListener("click", () => loadPolicy(p));
    return el("li", {}, b);
  });
  if (!pl.length) pl.push(el("li", { class: "muted", text: "No identity policies: this user's keys may do nothing but what bucket policies grant." }));
  $("policy-list").replaceChildren(...pl);
}

$("new-key").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!current) return;
  const k = await attempt(() => api("POST", `/api/admin/users/${enc(current)}/keys`, { name: $("key-name").value.trim() }));
  if (!k) return;
  $("key-name").value = "";
  await showUser(current);
  // shown once: not kept anywhere but this field, gone on reload
  $("new-key-id").textContent = k.id;
  $("new-secret").value = k.secret;
  $("secret-out").hidden = false;
  $("new-secret").focus();
  $("new-secret").select();
});

$("copy-secret").addEventListener("click", (e) => copyFrom("new-secret", e.currentTarget));

async function setDisabled(k, off) {
  const q = off
    ? `Disable key ${k.id}? Requests signed with it are refused until it is enabled again.`
    : `Enable key ${k.id} again?`;
  if (!(await confirmBox(q, off ? "Disable" : "Enable"))) return;
  const ok = await attempt(() => api("POST", `/api/admin/users/${enc(current)}/keys/${enc(k.id)}/${off ? "disable" : "enable"}`));
  if (ok) notice(`Key ${k.id} ${off ? "disabled" : "enabled"}.`, true);
  await showUser(current);
}

async function deleteKey(k) {
  if (!(await confirmBox(`Delete key ${k.id}? It stops working at once.`, "Delete"))) return;
  const ok = await attempt(() => api("DELETE", `/api/admin/users/${enc(current)}/keys/${enc(k.id)}`));
  if (ok) notice(`Key ${k.id} deleted.`, true);
  await showUser(current);
}

$("delete-user").addEventListener("click", async () => {
  const name = current;
  if (!(await confirmBox(`Delete user ${name} and its keys? A user that owns buckets cannot be deleted.`, "Delete"))) return;
  const ok = await attempt(() => api("DELETE", `/api/admin/users/${enc(name)}`));
  if (!ok) return;
  notice(`User ${name} deleted.`, true);
  current = null;
  $("user-detail").hidden = true;
  await listUsers();
});

// ---- identity policies ----

async function loadPolicy(p) {
  const r = await attempt(() => api("GET", `/api/admin/users/${enc(current)}/policies/${enc(p)}`));
  if (!r) return;
  $("policy-name").value = r.name;
  let text = r.policy;
  try {
    text = JSON.stringify(JSON.parse(r.policy), null, 2);
  } catch {
    // kept as stored
  }
  $("policy-text").value = text;
  $("policy-error").textContent = "";
  $("policy-text").focus();
}

$("policy-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("policy-error").textContent = "";
  const name = $("policy-name").value.trim();
  try {
    await api("PUT", `/api/admin/users/${enc(current)}/policies/${enc(name)}`, { policy: $("policy-text").value });
  } catch (err) {
    // the server's validation, in its words
    $("policy-error").textContent = err.message;
    return;
  }
  notice(`Policy ${name} of ${current} saved.`, true);
  await showUser(current);
  listUsers();
});

$("policy-delete").addEventListener("click", async () => {
  const name = $("policy-name").value.trim();
  if (!name) return;
  if (!(await confirmBox(`Delete the policy ${name} of ${current}?`, "Delete"))) return;
  const ok = await attempt(() => api("DELETE", `/api/admin/users/${enc(current)}/policies/${enc(name)}`));
  if (!ok) return;
  notice(`Policy ${name} deleted.`, true);
  $("policy-name").value = "";
  $("policy-text").value = "";
  await showUser(current);
  listUsers();
});

// ---- backend credentials ----

$("backend-scopes").append(
  ...SCOPES.map((s) =>
    el("label", {}, el("input", { type: "checkbox", value: s, checked: ["upload", "download", "finish", "info"].includes(s) }), ` ${s}`),
  ),
);

async function listBackends() {
  const list = await attempt(() => api("GET", "/api/admin/backends"));
  if (!list) return;
  const rows = list.map((b) => {
    const revoked = !!b.revoked_ms;
    const acts = el("div", { class: "row" });
    if (!revoked) {
      const rot = el("button", { type: "button", class: "plain", text: "Rotate", "aria-label": `Rotate the secret of ${b.id}` });
      rot.addEventListener("click", () => rotate(b));
      const rev = el("button", { type: "button", class: "danger", text: "Revoke", "aria-label": `Revoke ${b.id}` });
      rev.addEventListener("click", () => revoke(b));
      acts.append(rot, rev);
    }
    const state = revoked ? `revoked ${when(b.revoked_ms)}` : b.expires_ms ? `active until ${when(b.expires_ms)}` : "active";
    return el(
      "tr",
      { "data-backend": b.id, "data-state": revoked ? "revoked" : "active" },
      el("td", {}, el("code", { text: b.id })),
      el("td", { class: "name", text: b.name }),
      el("td", { text: b.scopes.join(", ") + (b.bucket ? ` (bucket ${b.bucket})` : "") }),
      el("td", {}, el("span", { class: `state ${revoked ? "down" : ""}`, text: state })),
      el("td", {}, acts),
    );
  });
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 5, class: "muted", text: "No backend credentials." })));
  $("backend-rows").replaceChildren(...rows);
}

function showBackendSecret(b) {
  $("backend-new-id").textContent = b.id;
  $("backend-new-secret").value = b.secret;
  $("backend-secret").hidden = false;
  $("backend-new-secret").focus();
  $("backend-new-secret").select();
}

$("new-backend").addEventListener("submit", async (e) => {
  e.preventDefault();
  const scopes = [...$("backend-scopes").querySelectorAll("input:checked")].map((i) => i.value);
  const bucket = $("backend-bucket").value.trim();
  const body = { name: $("backend-name").value.trim(), scopes };
  if (bucket) body.bucket = bucket;
  const b = await attempt(() => api("POST", "/api/admin/backends", body));
  if (!b) return;
  $("backend-name").value = "";
  notice(`Credential ${b.id} created.`, true);
  await listBackends();
  showBackendSecret(b);
});

$("copy-backend-secret").addEventListener("click", (e) => copyFrom("backend-new-secret", e.currentTarget));

async function rotate(b) {
  if (!(await confirmBox(`Rotate the secret of ${b.id} (${b.name})? The old secret and its tokens stop working at once.`, "Rotate"))) return;
  const r = await attempt(() => api("POST", `/api/admin/backends/${enc(b.id)}/rotate`));
  if (!r) return;
  notice(`New secret for ${b.id}.`, true);
  await listBackends();
  showBackendSecret(r);
}

async function revoke(b) {
  if (!(await confirmBox(`Revoke ${b.id} (${b.name})? Its requests and tokens fail at once; this cannot be undone.`, "Revoke"))) return;
  const ok = await attempt(() => api("DELETE", `/api/admin/backends/${enc(b.id)}`));
  if (ok) notice(`Credential ${b.id} revoked.`, true);
  await listBackends();
}
