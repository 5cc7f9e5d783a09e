// A tiny business backend for liuma's native token API (Node >= 18, no
// dependencies). It holds the system token, hands the browser short-lived
// tokens, and calls `finish` itself, so it keeps the permission control.
//
//   LIUMA_NATIVE=http://127.0.0.1:9001 \
//   LIUMA_SYSTEM_TOKEN_FILE=../../liuma-data/secrets/system.token \
//   node server.mjs            # then open http://127.0.0.1:8080
//
// A real backend would check its own user's rights in each /api handler.
import { createServer } from "node:http";
import { readFileSync } from "node:fs";

const LIUMA = process.env.LIUMA_NATIVE ?? "http://127.0.0.1:9001";
const SYSTEM_TOKEN =
  process.env.LIUMA_SYSTEM_TOKEN ??
  readFileSync(process.env.LIUMA_SYSTEM_TOKEN_FILE ?? "./liuma-data/secrets/system.token", "utf8").trim();
const PORT = Number(process.env.PORT ?? 8080);
const page = readFileSync(new URL("./index.html", import.meta.url));

async function liuma(path, headers = {}) {
  const r = await fetch(LIUMA + path, { headers: { systemToken: SYSTEM_TOKEN, ...headers } });
  return { status: r.status, body: await r.json() };
}

const routes = {
  // The page asks to upload content H (of N bytes).
  "/api/upload-token": (q) =>
    liuma(`/upload/token?hash=${q.get("hash")}&size=${q.get("size")}`),
  // The page says it is done: the backend, not the browser, finishes.
  "/api/finish": (q) =>
    liuma(`/upload/finish?file_name=${encodeURIComponent(q.get("name"))}`, { token: q.get("token") }),
  // A download link for content H.
  "/api/download-token": (q) => liuma(`/download/token?hash=${q.get("hash")}`),
  "/api/config": async () => ({ status: 200, body: { native: LIUMA } }),
};

createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  const route = routes[url.pathname];
  try {
    if (route) {
      const { status, body } = await route(url.searchParams);
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    } else if (url.pathname === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page);
    } else {
      res.writeHead(404).end();
    }
  } catch (e) {
    res.writeHead(502, { "content-type": "application/json" }).end(JSON.stringify({ error: String(e) }));
  }
}).listen(PORT, "127.0.0.1", () => console.log(`example backend on http://127.0.0.1:${PORT}, liuma at ${LIUMA}`));
