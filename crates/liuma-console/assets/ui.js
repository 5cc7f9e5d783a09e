// Small helpers of every console page (app.js; cluster.js and access.js of
// the admin page): elements built with textContent only (server text is
// never HTML), the notice line, the confirm dialog, sizes and
// copy-to-clipboard.
export const $ = (id) => document.getElementById(id);

/** A DOM element; children are nodes or strings (as text). */
export function el(tag, attrs = {}, ...children) {
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

export function notice(msg, ok = false) {
  const n = $("notice");
  n.textContent = msg;
  n.className = ok ? "ok" : "";
  n.hidden = !msg;
}

export function size(n) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? n.toFixed(1) : Math.round(n)} ${u[i]}`;
}

export const when = (ms) => (ms ? new Date(ms).toLocaleString() : "");

/** Ask in the dialog; true when confirmed. */
export function confirmBox(text, label = "Delete") {
  const d = $("confirm");
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = label;
  d.returnValue = "";
  d.showModal();
  return new Promise((res) => d.addEventListener("close", () => res(d.returnValue === "ok"), { once: true }));
}

/** Copy the value of input `id`, saying so on `button`. */
export async function copyFrom(id, button) {
  const input = $(id);
  input.select();
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    // no clipboard permission (plain HTTP, headless): the text is selected
    document.execCommand?.("copy");
  }
  button.textContent = "Copied";
  setTimeout(() => (button.textContent = "Copy"), 1500);
}

/** Run `f`; its error's words in the notice. Returns f's value or undefined. */
export async function attempt(f) {
  try {
    return await f();
  } catch (e) {
    notice(e.message);
    return undefined;
  }
}
