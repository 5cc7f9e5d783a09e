// A tiny business backend for liuma's native token API (Node >= 18, no
// dependencies). It holds the system token, hands the browser short-lived
// tokens, and calls `finish` (and `DELETE /upload`) itself, so it keeps the
// permission control. It also serves the page (index.html and its modules).
//
//   LIUMA_NATIVE=http://127.0.0.1:9001 \
//   LIUMA_SYSTEM_TOKEN_FILE=../../liuma-data/secrets/system.token \
//   node server.mjs            # then open http://127.0.0.1:8080
//
// Environment: LIUMA_NATIVE (how this backend reaches liuma), LIUMA_PUBLIC_NATIVE
// (how browsers reach it, e.g. through a load balancer; default LIUMA_NATIVE),
// LIUMA_SYSTEM_TOKEN or LIUMA_SYSTEM_TOKEN_FILE, PORT (0 = any free port; the
// address is printed).
//
// A real backend would check its own user's rights in each /api handler.
import { createServer } from "node:http";
import { readFileSync } from "node:fs";

const LIUMA = process.env.LIUMA_NATIVE ?? "http://127.0.0.1:9001";
const PUBLIC = process.env.LIUMA_PUBLIC_NATIVE ?? LIUMA;
const SYSTEM_TOKEN =
  process.env.LIUMA_SYSTEM_TOKEN ??
  readFileSync(process.env.LIUMA_SYSTEM_TOKEN_FILE ?? "./liuma-data/secrets/system.token", "utf8").trim();
const PORT = Number(process.env.PORT ?? 8080);

// The page's files, read on each request (edit and reload).
const files = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/upload.js": ["upload.js", "text/javascript; charset=utf-8"],
  "/hash-worker.js": ["hash-worker.js", "text/javascript; charset=utf-8"],
  "/sha256.js": ["sha256.js", "text/javascript; charset=utf-8"],
};

async function liuma(path, { method = "GET", headers = {} } = {}) {
  const r = await fetch(LIUMA + path, { method, headers: { systemToken: SYSTEM_TOKEN, ...headers } });
  return { status: r.status, body: await r.json() };
}

const routes = {
  // The page asks to upload content H (of N bytes): the token's size bounds
  // what the browser may send.
  "GET /api/upload-token": (q) =>
    liuma(`/upload/token?hash=${encodeURIComponent(q.get("hash"))}&size=${encodeURIComponent(q.get("size"))}`),
  // The page says it is done: the backend, not the browser, finishes.
  "GET /api/finish": (q) =>
    liuma(`/upload/finish?file_name=${encodeURIComponent(q.get("name"))}`, { headers: { token: q.get("token") } }),
  // The page found chunks of another client in the session (another chunk
  // size, another file size): drop the session so it can start over. Needs
  // the token (which file) and the system token (the backend's permission).
  "POST /api/abort": (q) => liuma("/upload", { method: "DELETE", headers: { token: q.get("token") } }),
  // A download link for content H.
  "GET /api/download-token": (q) => liuma(`/download/token?hash=${encodeURIComponent(q.get("hash"))}`),
  "GET /api/config": async () => ({ status: 200, body: { native: PUBLIC } }),
};

const server = createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  const route = routes[`${req.method} ${url.pathname}`];
  const file = req.method === "GET" && files[url.pathname];
  try {
    if (route) {
      const { status, body } = await route(url.searchParams);
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    } else if (file) {
      const [name, type] = file;
      res.writeHead(200, { "content-type": type, "cache-control": "no-cache" })
        .end(readFileSync(new URL(`./${name}`, import.meta.url)));
    } else {
      res.writeHead(404, { "content-type": "application/json" })
        .end(JSON.stringify({ status: "error", code: "NotFound", message: "no such page" }));
    }
  } catch (e) {
    // liuma unreachable or not JSON: the page retries 5xx answers.
    res.writeHead(502, { "content-type": "application/json" })
      .end(JSON.stringify({ status: "error", code: "BadGateway", message: `liuma: ${e.message ?? e}` }));
  }
});
server.listen(PORT, "127.0.0.1", () =>
  console.log(`example backend on http://127.0.0.1:${server.address().port}, liuma at ${LIUMA}`));
