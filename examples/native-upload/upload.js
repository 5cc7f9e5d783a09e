// The upload page's logic (a plain ES module, no build step).
//
// 1. hash the file in a Web Worker (hash-worker.js): the whole file's SHA-256
//    and each chunk's size and SHA-256, one chunk in memory at a time;
// 2. ask the backend for an upload token (`exists: true` = instant upload);
// 3. read `/upload/status` and verify every chunk liuma lists by size and
//    SHA-256; send the missing or different ones, straight to liuma, with
//    `chunk_size=`, `size=` and `sha256=` so liuma refuses what does not fit;
//    network errors are retried with exponential backoff, then a Retry
//    button appears; a session another client broke (409, or a chunk size
//    or file size that differs) is aborted through the backend and the
//    upload starts over;
// 4. the backend finishes; a failed finish shows liuma's reason and resets
//    the bar.
//
// Tunables (query string, e.g. `/?chunk_size=4194304`): chunk_size (bytes,
// default 8 MiB), retries (default 5), retry_ms (first backoff, default
// 1000, doubled each retry), stall_ms (abort a chunk with no progress for
// that long, default 30000).

const $ = (id) => document.getElementById(id);
const query = new URLSearchParams(location.search);
const option = (name, fallback) => (query.has(name) ? Number(query.get(name)) : fallback);
const CHUNK = option("chunk_size", 8 << 20);
const RETRIES = option("retries", 5);
const RETRY_MS = option("retry_ms", 1000);
const STALL_MS = option("stall_ms", 30_000);
/** How often a broken session is aborted and the upload started over. */
const MAX_RESTARTS = 2;
/** Chunk answers that mean "this session does not fit this file". */
const CONFLICTS = new Set(["ChunkSizeMismatch", "ChunkOutOfRange", "FileSizeMismatch", "EntityTooLarge"]);

/** A request that got no answer (connection refused, reset, stalled). */
class NetworkError extends Error {}
/** Retries are used up: the Retry button takes over. */
class Paused extends Error {}
/** liuma (or the backend) refused: not worth retrying as is. */
class Failure extends Error {}
/** The finish call failed: the reason is liuma's. */
class FinishFailed extends Error {}
/** The session holds chunks that do not fit this file. */
class SessionConflict extends Error {}
/** The token expired during a long upload: get a new one and go on. */
class TokenExpired extends Error {}
/** A newer run (another file, Retry) replaced this one. */
class Cancelled extends Error {}

// ---- formatting -------------------------------------------------------------

function bytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let u = -1;
  do { n /= 1024; u++; } while (n >= 1024 && u < units.length - 1);
  return `${n.toFixed(n < 10 ? 2 : 1)} ${units[u]}`;
}

function duration(s) {
  if (!Number.isFinite(s)) return "…";
  if (s < 60) return `${Math.max(1, Math.round(s))} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** An API error body in words: the message, the code, and what it names
 *  (expected sizes, digests) when the message does not say it already. */
function words(body) {
  if (!body || typeof body !== "object") return "no answer";
  const message = body.message ?? "unknown error";
  const extra = [
    ["chunk", body.chunk, (v) => `chunk ${v}`],
    ["expected_chunk_size", body.expected_chunk_size, (v) => `the session's chunk size is ${v} bytes`],
    ["expected_size", body.expected_size, (v) => `expected ${v} bytes`],
    ["expected", body.expected, (v) => `expected SHA-256 ${v}`],
    ["received", body.received, (v) => `received ${v}`],
  ]
    .filter(([, v]) => v !== undefined && v !== null && !message.includes(String(v)))
    .map(([, v, say]) => say(v));
  const more = extra.length ? `; ${extra.join(", ")}` : "";
  return `${message}${more} (${body.code ?? "no code"})`;
}

// ---- the page ---------------------------------------------------------------

function log(line) {
  $("log").textContent += `${new Date().toLocaleTimeString()}  ${line}\n`;
  $("log").scrollTop = $("log").scrollHeight;
}

/** The state machine's state (body[data-state]) and its sentence. */
function phase(state, text) {
  document.body.dataset.state = state;
  $("phase").textContent = text;
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}

const config = await fetch("/api/config").then((r) => r.json()).catch(() => null);
const NATIVE = config?.native;
let current = null;
if (!NATIVE) {
  phase("failed", "The backend did not answer /api/config: is server.mjs running?");
  throw new Error("no backend");
}

$("file").addEventListener("change", (ev) => {
  const file = ev.target.files[0];
  if (file) start(file, null);
});
$("retry").addEventListener("click", () => current && start(current.file, current.hashed));
phase("idle", "Pick a file.");

/** Start (or restart) the upload of `file`, reusing its hashes if known. */
async function start(file, hashed) {
  if (current) {
    current.cancelled = true;
    current.xhr?.abort();
    current.worker?.terminate();
  }
  const run = { file, hashed, cancelled: false, xhr: null, worker: null };
  current = run;
  phase("starting", `Starting ${file.name}…`);
  $("retry").hidden = true;
  $("result").hidden = true;
  showError("");
  try {
    await upload(run);
  } catch (e) {
    if (!(e instanceof Cancelled) && !run.cancelled) failed(e);
  }
}

function failed(e) {
  let text;
  if (e instanceof FinishFailed) {
    // The chunks stay on liuma: Retry checks them again and resends what is wrong.
    $("bar").value = 0;
    $("stats").textContent = "";
    phase("failed", `Finishing failed: ${e.message}`);
    text = `liuma did not store the file: ${e.message}. The progress was reset; press Retry to check the chunks liuma has and send what is missing.`;
  } else if (e instanceof Paused) {
    // No speed or time left while nothing moves.
    $("stats").textContent = `${$("stats").textContent.split(" · ")[0]} · paused`;
    phase("paused", "Upload paused: the network failed too often.");
    text = `${e.message}. Press Retry when the connection is back; the chunks already sent are kept.`;
  } else {
    phase("failed", "Upload failed.");
    text = e instanceof Failure ? e.message : `unexpected error: ${e?.message ?? e}`;
  }
  log(`error: ${text}`);
  showError(text);
  $("retry").hidden = false;
}

function checkCancelled(run) {
  if (run.cancelled) throw new Cancelled();
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Wait before retry `attempt` (0-based): exponential backoff with jitter. */
async function backoff(run, attempt, why) {
  if (attempt >= RETRIES) throw new Paused(`${why}; gave up after ${RETRIES} retries`);
  const ms = RETRY_MS * 2 ** attempt * (0.75 + Math.random() * 0.5);
  log(`${why}: retrying in ${(ms / 1000).toFixed(ms < 1000 ? 2 : 1)} s (retry ${attempt + 1} of ${RETRIES})`);
  phase("retrying", `Connection problem: retrying in ${duration(ms / 1000)} (retry ${attempt + 1} of ${RETRIES}).`);
  await sleep(ms);
  checkCancelled(run);
}

/** A JSON call; a network failure is a NetworkError, an answer is {http, body}. */
async function call(url, init, what) {
  let r;
  try {
    r = await fetch(url, init);
  } catch (e) {
    throw new NetworkError(`${what}: no answer (${e.message})`);
  }
  let body = null;
  try {
    body = await r.json();
  } catch {
    body = { status: "error", code: `HTTP${r.status}`, message: `answered ${r.status} without JSON` };
  }
  return { http: r.status, body };
}

/** `call` with retries on network errors, 5xx and 429. */
async function retrying(run, what, fn) {
  for (let attempt = 0; ; attempt++) {
    let why;
    try {
      const r = await fn();
      if (r.http < 500 && r.http !== 429) return r;
      why = `${what}: ${words(r.body)}`;
    } catch (e) {
      if (!(e instanceof NetworkError)) throw e;
      why = e.message;
    }
    checkCancelled(run);
    await backoff(run, attempt, why);
  }
}

function hashFile(run) {
  const { file } = run;
  phase("hashing", `Hashing ${file.name}…`);
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./hash-worker.js", import.meta.url), { type: "module" });
    run.worker = worker;
    worker.onmessage = ({ data }) => {
      if (data.progress !== undefined) {
        $("hashbar").value = data.progress / file.size;
        const rate = data.progress / ((performance.now() - t0) / 1000);
        $("hashstats").textContent = `${bytes(data.progress)} of ${bytes(file.size)} · ${bytes(rate)}/s`;
      } else {
        worker.terminate();
        if (data.done) resolve(data.done);
        else reject(new Failure(data.error));
      }
    };
    worker.onerror = (e) => {
      worker.terminate();
      reject(new Failure(`the hash worker failed: ${e.message ?? "unknown error"}`));
    };
    worker.postMessage({ file, chunkSize: CHUNK });
  });
}

async function upload(run) {
  const { file } = run;
  if (file.size === 0) throw new Failure("the file is empty: liuma stores no empty files");
  if (!run.hashed) {
    $("hashbar").value = 0;
    run.hashed = await hashFile(run);
    checkCancelled(run);
    log(`${file.name}: ${file.size} bytes, sha256 ${run.hashed.sha256}, ${run.hashed.chunks.length} chunks of ${CHUNK} bytes`);
  }
  $("hashbar").value = 1;
  const hash = run.hashed.sha256;
  for (let restarts = 0; ;) {
    const up = await retrying(run, "upload token", () =>
      call(`/api/upload-token?hash=${hash}&size=${file.size}`, {}, "the backend"));
    if (up.body?.status !== "success") throw new Failure(`the backend gave no upload token: ${words(up.body)}`);
    const token = up.body.token;
    if (up.body.exists) {
      log("liuma has this content already: instant upload, nothing to send");
      phase("finishing", "Already stored: recording the name (instant upload, nothing sent)…");
      return finish(run, token, true);
    }
    try {
      await sendMissing(run, token);
    } catch (e) {
      if (e instanceof TokenExpired) {
        log("the upload token expired: asking for a new one");
        continue;
      }
      if (!(e instanceof SessionConflict)) throw e;
      if (restarts++ >= MAX_RESTARTS) throw new Failure(`the session keeps breaking: ${e.message}`);
      log(`the session does not fit this file: ${e.message}; asking the backend to abort it, then starting over`);
      phase("restarting", "Another upload's chunks were in the way: starting over.");
      await abortSession(run, token);
      continue;
    }
    return finish(run, token, false);
  }
}

async function abortSession(run, token) {
  const r = await retrying(run, "aborting the session", () =>
    call(`/api/abort?token=${encodeURIComponent(token)}`, { method: "POST" }, "the backend"));
  if (r.body?.status !== "success") throw new Failure(`the broken session could not be aborted: ${words(r.body)}`);
  const n = r.body.chunks;
  log(`the backend aborted the session (${n ?? "?"} chunk${n === 1 ? "" : "s"} freed)`);
}

/** Compare liuma's chunks with ours and send what is missing or different. */
async function sendMissing(run, token) {
  const { file } = run;
  const mine = run.hashed.chunks;
  const st = await retrying(run, "upload status", () =>
    call(`${NATIVE}/upload/status`, { headers: { token } }, "liuma"));
  checkCancelled(run);
  if (st.body?.status !== "success") {
    if (st.body?.code === "ExpiredToken") throw new TokenExpired();
    throw new Failure(`liuma did not say which chunks it has: ${words(st.body)}`);
  }
  const s = st.body;
  if (s.exists) return; // stored meanwhile (another client): finish records the name
  if (s.chunk_size != null && s.chunk_size !== CHUNK) {
    throw new SessionConflict(`it was started with ${s.chunk_size}-byte chunks, this page cuts ${CHUNK}`);
  }
  if (s.file_size != null && s.file_size !== file.size) {
    throw new SessionConflict(`it is for a file of ${s.file_size} bytes, this one has ${file.size}`);
  }
  const beyond = s.chunks.filter((c) => c.chunk >= mine.length).map((c) => c.chunk);
  if (beyond.length) {
    throw new SessionConflict(`it holds chunk(s) ${beyond.join(", ")} past the end of this ${mine.length}-chunk file`);
  }
  const theirs = new Map(s.chunks.map((c) => [c.chunk, c]));
  const todo = [];
  let verified = 0;
  mine.forEach((m, i) => {
    const c = theirs.get(i);
    if (!c) {
      todo.push(i);
    } else if (c.size !== m.size || c.sha256 !== m.sha256) {
      log(`chunk ${i} on liuma differs from this file's (${c.size} bytes, sha256 ${c.sha256}; ours ${m.size} bytes, ${m.sha256}): sending it again`);
      todo.push(i);
    } else {
      verified += m.size;
    }
  });
  if (verified > 0) {
    log(`liuma already has ${mine.length - todo.length} of ${mine.length} chunks (${bytes(verified)}), each verified by size and SHA-256`);
  }
  // done: bytes liuma confirmed; sent: bytes sent by finished attempts
  // (speed counts resent bytes too); loaded: the running attempt's.
  const meter = { done: verified, sent: 0, loaded: 0, samples: [] };
  progress(run, meter, 0);
  for (const i of todo) {
    await sendChunkRetrying(run, token, i, meter);
    meter.done += mine[i].size;
  }
}

/** Show upload progress: bytes confirmed + the running chunk's, speed, ETA. */
function progress(run, meter, loaded) {
  const total = run.file.size;
  meter.loaded = loaded;
  const done = Math.min(total, meter.done + loaded);
  const now = performance.now();
  meter.samples.push([now, meter.sent + loaded]);
  while (meter.samples.length > 2 && now - meter.samples[0][0] > 3000) meter.samples.shift();
  const [t0, b0] = meter.samples[0];
  const speed = now > t0 ? ((meter.sent + loaded - b0) * 1000) / (now - t0) : 0;
  $("bar").value = done / total;
  const eta = speed > 0 ? ` · ${duration((total - done) / speed)} left` : "";
  $("stats").textContent = `${bytes(done)} of ${bytes(total)} · ${bytes(speed)}/s${eta}`;
}

async function sendChunkRetrying(run, token, i, meter) {
  const m = run.hashed.chunks[i];
  for (let attempt = 0; ; attempt++) {
    phase("uploading", `Uploading chunk ${i + 1} of ${run.hashed.chunks.length}…`);
    let why;
    let res = null;
    try {
      res = await sendChunk(run, token, i, meter, attempt);
    } catch (e) {
      if (!(e instanceof NetworkError)) throw e;
      why = e.message;
    }
    checkCancelled(run);
    meter.sent += meter.loaded;
    meter.loaded = 0;
    if (res) {
      const b = res.body;
      if (res.http === 200 && b?.status === "success") {
        if (!b.sha256 || b.sha256 === m.sha256) return;
        why = `liuma stored chunk ${i} with SHA-256 ${b.sha256}, not ${m.sha256}`;
      } else if (CONFLICTS.has(b?.code)) {
        throw new SessionConflict(`liuma refused chunk ${i}: ${words(b)}`);
      } else if (b?.code === "ExpiredToken") {
        throw new TokenExpired();
      } else if (b?.code === "BadDigest" || res.http >= 500 || res.http === 429) {
        why = `chunk ${i}: ${words(b)}`; // damaged on the way, or liuma busy: send again
      } else {
        throw new Failure(`liuma refused chunk ${i}: ${words(b)}`);
      }
    }
    progress(run, meter, 0);
    await backoff(run, attempt, why);
  }
}

/**
 * POST one chunk with XMLHttpRequest (fetch has no upload progress). The
 * browser itself may resend a request whose reused connection broke before
 * any answer; `attempt` (ignored by liuma) tells this page's retries apart.
 */
function sendChunk(run, token, i, meter, attempt) {
  const m = run.hashed.chunks[i];
  const start = i * CHUNK;
  const blob = run.file.slice(start, start + m.size);
  const url = `${NATIVE}/upload/chunk?chunk=${i}&chunk_size=${CHUNK}&size=${run.file.size}`
    + `&sha256=${m.sha256}&hash=${run.hashed.sha256}&attempt=${attempt}`; // attempt: for logs
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    run.xhr = xhr;
    let watchdog = 0;
    // No progress for STALL_MS: the connection is dead without an error.
    const kick = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => xhr.abort(), STALL_MS);
    };
    xhr.open("POST", url);
    xhr.setRequestHeader("token", token);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (e) => {
      kick();
      progress(run, meter, e.loaded);
    };
    xhr.onprogress = kick;
    xhr.onload = () => {
      clearTimeout(watchdog);
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = { status: "error", code: `HTTP${xhr.status}`, message: `answered ${xhr.status} without JSON` };
      }
      resolve({ http: xhr.status, body });
    };
    xhr.onerror = () => {
      clearTimeout(watchdog);
      reject(new NetworkError(`the connection broke while sending chunk ${i}`));
    };
    xhr.onabort = () => {
      clearTimeout(watchdog);
      reject(run.cancelled ? new Cancelled() : new NetworkError(`chunk ${i} made no progress for ${STALL_MS / 1000} s`));
    };
    kick();
    xhr.send(blob);
  });
}

async function finish(run, token, instant) {
  const { file } = run;
  if (!instant) phase("finishing", "Finishing: liuma assembles the chunks and checks the SHA-256…");
  const r = await retrying(run, "finish", () =>
    call(`/api/finish?name=${encodeURIComponent(file.name)}&token=${encodeURIComponent(token)}`, {}, "the backend"));
  checkCancelled(run);
  if (r.body?.status !== "success") throw new FinishFailed(words(r.body));
  const done = r.body;
  log(`stored: ${JSON.stringify(done)}`);
  $("bar").value = 1;
  $("stats").textContent = `${bytes(file.size)} of ${bytes(file.size)}`;
  phase("done", done.instant || instant
    ? `Already stored: liuma had this content, nothing was sent (instant upload). Recorded as ${done.name}.`
    : `Stored ${done.name}: ${bytes(done.size)}, SHA-256 verified by liuma.`);
  $("r-name").textContent = done.name;
  $("r-size").textContent = `${done.size} bytes (${bytes(done.size)})`;
  $("r-hash").textContent = done.hash;
  $("r-version").textContent = done.version_id;
  $("r-link").textContent = "…";
  $("result").hidden = false;
  const dl = await call(`/api/download-token?hash=${done.hash}`, {}, "the backend").catch(() => null);
  if (dl?.body?.status === "success") {
    const a = Object.assign(document.createElement("a"), {
      href: `${NATIVE}/download?token=${encodeURIComponent(dl.body.token)}`,
      textContent: `download ${done.name}`,
    });
    $("r-link").replaceChildren(a);
  } else {
    $("r-link").textContent = "no download link (the backend did not answer)";
  }
}
