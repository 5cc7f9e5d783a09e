// The console's JSON API client: the CSRF token on every change, errors as
// Error objects whose message is words from the server.
let csrf = "";

export function setCsrf(token) {
  csrf = token || "";
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Turn a failed Response into an ApiError. */
export async function failure(r) {
  let body = {};
  try {
    body = await r.json();
  } catch {
    // not JSON: keep the status in words
  }
  return new ApiError(r.status, body.code || String(r.status), body.error || `Request failed (HTTP ${r.status}).`);
}

/** Call the API: method, path (with query), optional JSON body. */
export async function api(method, path, body) {
  const headers = {};
  if (method !== "GET") headers["x-csrf-token"] = csrf;
  if (body !== undefined) headers["content-type"] = "application/json";
  let r;
  try {
    r = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch {
    throw new ApiError(0, "Network", "The console cannot be reached. Check your connection and retry.");
  }
  if (!r.ok) {
    const e = await failure(r);
    if (e.status === 401 && onSignedOut) onSignedOut(e);
    throw e;
  }
  return r.json();
}

let onSignedOut = null;
export function whenSignedOut(f) {
  onSignedOut = f;
}

export const token = () => csrf;

/** `/api/buckets/<b>/<what>?<params>` */
export function bpath(bucket, what, params) {
  const q = params ? "?" + new URLSearchParams(params) : "";
  return `/api/buckets/${encodeURIComponent(bucket)}/${what}${q}`;
}
