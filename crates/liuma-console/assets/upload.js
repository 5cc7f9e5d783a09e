// Uploads: small files in one PUT, larger ones as S3 multipart in 8 MiB
// parts (three at a time), three files at once.
//
// - Resumable: a multipart upload's id is kept in localStorage under the
//   file's identity (bucket, key, name, size, lastModified); the next try —
//   after a lost connection, a pause, a server restart or a page reload with
//   the file chosen again — asks ListParts and sends only the parts S3 lacks.
// - A lost connection or a 5xx is retried with backoff (1, 2, 4, 8 s ... for
//   up to a minute, shown with a countdown), then shown as a failure in
//   words with a Retry button. A 401 (session gone, e.g. the server
//   restarted) waits for the next sign-in and then continues by itself.
// - "Already stored": when the key already holds an object of the same
//   size, a Web Worker (hash-worker.js) computes the ETag this upload would
//   get (MD5 for one PUT, MD5 of the parts' MD5s for 8 MiB parts) and the
//   upload is skipped when it equals the stored ETag. Same bytes, same key:
//   nothing is sent. (Identical bytes under another key are still sent —
//   the server then stores no new blocks, but the page cannot know that
//   before sending.)
import { bpath, token, failure, api, ApiError } from "./api.js";

export const PART = 8 << 20;
const FILES_AT_ONCE = 3;
const PARTS_AT_ONCE = 3;
const STORE = "liuma-console-uploads";
/** Keep retrying a lost connection this long before showing a failure. */
const RETRY_FOR_MS = 60_000;

function saved() {
  try {
    return JSON.parse(localStorage.getItem(STORE) || "{}");
  } catch {
    return {};
  }
}
function save(map) {
  localStorage.setItem(STORE, JSON.stringify(map));
}
const identity = (bucket, key, f) => JSON.stringify([bucket, key, f.name, f.size, f.lastModified]);

/** Unfinished multipart uploads of `bucket` remembered by this browser. */
export function pending(bucket) {
  return Object.entries(saved())
    .map(([id, v]) => {
      let parsed = [];
      try {
        parsed = JSON.parse(id);
      } catch {
        // not ours
      }
      const [b, key, name, size] = parsed;
      return { id, bucket: b, key, name, size, upload_id: typeof v === "string" ? v : v.upload_id };
    })
    .filter((p) => p.bucket === bucket && p.key);
}

/** Forget (and abort on the server) a remembered upload. */
export async function discard(p) {
  try {
    await api("DELETE", bpath(p.bucket, "multipart", { key: p.key, upload_id: p.upload_id }));
  } catch (e) {
    if (e.code !== "NoSuchUpload") throw e;
  }
  const m = saved();
  delete m[p.id];
  save(m);
}

class Paused extends Error {}

const transient = (e) => e instanceof ApiError && (e.status === 0 || e.status >= 500);

/** PUT `body` to `url` with upload progress; resolves to the JSON answer. */
function put(job, url, body, onProgress, headers = {}) {
  return new Promise((resolve, reject) => {
    if (job.paused) return reject(new Paused());
    const x = new XMLHttpRequest();
    job.xhrs.add(x);
    const end = () => job.xhrs.delete(x);
    x.open("PUT", url);
    x.setRequestHeader("x-csrf-token", token());
    for (const [k, v] of Object.entries(headers)) x.setRequestHeader(k, v);
    x.upload.onprogress = (e) => onProgress(e.loaded);
    x.onload = async () => {
      end();
      if (x.status >= 200 && x.status < 300) {
        resolve(JSON.parse(x.responseText));
      } else {
        reject(await failure(new Response(x.responseText, { status: x.status })));
      }
    };
    x.onerror = () => {
      end();
      reject(new ApiError(0, "Network", "The connection to the console was lost during the upload."));
    };
    x.onabort = () => {
      end();
      reject(new Paused());
    };
    x.send(body);
  });
}

let worker = null;
let hashSeq = 0;
const hashWaiters = new Map();

/** The ETag an upload of `file` would get, computed in the worker. */
function etagOf(file, onProgress) {
  if (!worker) {
    worker = new Worker("/hash-worker.js", { type: "module" });
    worker.onmessage = (e) => {
      const w = hashWaiters.get(e.data.id);
      if (!w) return;
      if ("progress" in e.data) return w.progress(e.data.progress);
      hashWaiters.delete(e.data.id);
      if (e.data.error) w.reject(new Error(e.data.error));
      else w.resolve(e.data.etag);
    };
  }
  const id = ++hashSeq;
  return new Promise((resolve, reject) => {
    hashWaiters.set(id, { resolve, reject, progress: onProgress });
    worker.postMessage({ id, file, part: PART, single: file.size <= PART });
  });
}

let jobSeq = 0;

export class Uploads {
  /** `onChange(job)` on every progress or state change; `onDone(job)` at the end of a run. */
  constructor(onChange, onDone) {
    this.jobs = [];
    this.running = 0;
    this.onChange = onChange;
    this.onDone = onDone;
  }

  add(bucket, key, file) {
    const job = {
      id: ++jobSeq,
      bucket,
      key,
      file,
      sent: 0,
      state: "queued",
      error: "",
      resumed: 0,
      paused: false,
      xhrs: new Set(),
      parts: new Map(),
      speed: 0,
      eta: null,
      note: "",
    };
    this.jobs.push(job);
    this.onChange(job);
    this.pump();
    return job;
  }

  /** Bytes sent and to send over the uploads not finished or failed. */
  totals() {
    let sent = 0;
    let size = 0;
    let speed = 0;
    for (const j of this.jobs) {
      if (j.state === "stored") continue;
      sent += j.sent;
      size += j.file.size;
      if (j.state === "uploading") speed += j.speed;
    }
    return { sent, size, speed, eta: speed > 0 ? (size - sent) / speed : null };
  }

  pump() {
    while (this.running < FILES_AT_ONCE) {
      const job = this.jobs.find((j) => j.state === "queued");
      if (!job) return;
      this.running++;
      this.set(job, "checking");
      this.attempt(job)
        .then((r) => {
          if (r === "stored") {
            job.state = "stored";
          } else {
            job.state = "done";
            job.sent = job.file.size;
          }
        })
        .catch((e) => {
          if (e instanceof Paused) {
            job.state = "paused";
          } else if (e instanceof ApiError && e.status === 401) {
            job.state = "signin";
            job.error = "Signed out: sign in again and the upload continues.";
          } else {
            job.state = "failed";
            job.error = e.message;
          }
        })
        .finally(() => {
          this.running--;
          job.speed = 0;
          this.onChange(job);
          this.onDone(job);
          this.pump();
        });
    }
  }

  set(job, state, note = "") {
    job.state = state;
    job.note = note;
    this.onChange(job);
  }

  pause(job) {
    if (!["queued", "checking", "hashing", "uploading", "retrying"].includes(job.state)) return;
    job.paused = true;
    for (const x of job.xhrs) x.abort();
    if (job.state === "queued") this.set(job, "paused");
    if (job.wake) job.wake();
  }

  resume(job) {
    if (!["paused", "failed", "signin"].includes(job.state)) return;
    job.paused = false;
    job.error = "";
    this.set(job, "queued");
    this.pump();
  }

  retry(job) {
    this.resume(job);
  }

  /** After a sign-in: continue the uploads that were waiting for it. */
  resumeSignedOut() {
    for (const j of this.jobs) if (j.state === "signin") this.resume(j);
  }

  /** One run with retries of transient failures (lost connection, 5xx). */
  async attempt(job) {
    const until = Date.now() + RETRY_FOR_MS;
    for (let n = 0; ; n++) {
      try {
        return await this.run(job);
      } catch (e) {
        if (!transient(e) || job.paused || Date.now() > until) throw e;
        const wait = Math.min(8, 2 ** n);
        for (let s = wait; s > 0 && !job.paused; s--) {
          this.set(job, "retrying", `${e.message} Retrying in ${s} s (attempt ${n + 2}).`);
          await new Promise((res) => {
            job.wake = res;
            setTimeout(res, 1000);
          });
        }
        if (job.paused) throw new Paused();
      }
    }
  }

  async run(job) {
    const { bucket, key, file } = job;
    const remembered = saved()[identity(bucket, key, file)];
    if (!remembered && !job.checked && (await this.alreadyStored(job))) return "stored";
    job.checked = true;
    this.set(job, "uploading");
    job.t0 = performance.now();
    job.sent0 = job.sent;
    if (file.size <= PART) {
      const headers = file.type ? { "content-type": file.type } : {};
      await put(job, bpath(bucket, "object", { key }), file, (n) => this.progress(job, n), headers);
      return "sent";
    }
    await this.multipart(job);
    return "sent";
  }

  /** True when `key` holds these very bytes already (see the top). */
  async alreadyStored(job) {
    let m;
    try {
      m = await api("GET", bpath(job.bucket, "meta", { key: job.key }));
    } catch (e) {
      if (e.status === 404) return false;
      throw e;
    }
    if (m.size !== job.file.size) return false;
    this.set(job, "hashing", "Comparing with the stored object…");
    const etag = await etagOf(job.file, (n) => {
      job.note = `Comparing with the stored object… ${Math.floor((100 * n) / (job.file.size || 1))}%`;
      this.onChange(job);
    });
    if (job.paused) throw new Paused();
    if (etag === m.etag.replaceAll('"', "")) {
      job.sent = job.file.size;
      job.note = "Already stored: the same content is at this key; nothing was sent.";
      return true;
    }
    return false;
  }

  progress(job, single) {
    job.sent = single !== undefined ? single : [...job.parts.values()].reduce((a, b) => a + b, 0);
    const dt = (performance.now() - job.t0) / 1000;
    if (dt > 0.2) {
      job.speed = (job.sent - job.sent0) / dt;
      job.eta = job.speed > 0 ? (job.file.size - job.sent) / job.speed : null;
    }
    this.onChange(job);
  }

  async multipart(job) {
    const { bucket, key, file } = job;
    const id = identity(bucket, key, file);
    const rec = saved()[id];
    let uploadId = rec && (typeof rec === "string" ? rec : rec.upload_id);
    const count = Math.ceil(file.size / PART);
    const done = new Map(); // part number -> etag
    if (uploadId) {
      try {
        const r = await api("GET", bpath(bucket, "multipart/parts", { key, upload_id: uploadId }));
        for (const p of r.parts) {
          const want = p.part < count ? PART : file.size - PART * (count - 1);
          if (p.part >= 1 && p.part <= count && p.size === want) done.set(p.part, p.etag);
        }
        job.resumed = done.size;
      } catch (e) {
        if (transient(e) || e.status === 401) throw e;
        uploadId = null; // gone (completed, aborted): start again
      }
    }
    if (!uploadId) {
      const r = await api("POST", bpath(bucket, "multipart", { key }));
      uploadId = r.upload_id;
      const m = saved();
      m[id] = { upload_id: uploadId };
      save(m);
    }
    job.parts = new Map();
    for (const [n] of done) job.parts.set(n, Math.min(PART, file.size - PART * (n - 1)));
    this.progress(job);
    job.sent0 = job.sent;
    const todo = [];
    for (let n = 1; n <= count; n++) if (!done.has(n)) todo.push(n);
    const next = async () => {
      while (todo.length) {
        const n = todo.shift();
        const blob = file.slice(PART * (n - 1), Math.min(file.size, PART * n));
        try {
          const r = await put(job, bpath(bucket, "multipart/part", { key, upload_id: uploadId, part: n }), blob, (b) => {
            job.parts.set(n, b);
            this.progress(job);
          });
          done.set(n, r.etag);
        } catch (e) {
          job.parts.set(n, 0);
          todo.length = 0; // the other lanes stop after their part
          throw e;
        }
      }
    };
    const lanes = await Promise.allSettled(Array.from({ length: PARTS_AT_ONCE }, next));
    const failed = lanes.find((l) => l.status === "rejected");
    if (failed) throw failed.reason;
    const parts = [...done.entries()].sort((a, b) => a[0] - b[0]).map(([part, etag]) => ({ part, etag }));
    await api("POST", bpath(bucket, "multipart/complete", { key, upload_id: uploadId }), { parts });
    const m = saved();
    delete m[id];
    save(m);
  }
}

/**
 * Files of a drop, folders walked: [{file, path}] where path is relative to
 * the drop ("folder/sub/name.txt"). Uses webkitGetAsEntry where the browser
 * offers it, else the plain file list.
 */
export async function droppedFiles(dataTransfer) {
  const items = [...(dataTransfer.items || [])];
  const entries = items.map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null)).filter(Boolean);
  if (!entries.length) return [...(dataTransfer.files || [])].map((f) => ({ file: f, path: f.webkitRelativePath || f.name }));
  const out = [];
  const walk = async (entry) => {
    if (entry.isFile) {
      const file = await new Promise((res, rej) => entry.file(res, rej));
      out.push({ file, path: entry.fullPath.replace(/^\/+/, "") });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      // readEntries answers in batches until an empty one
      for (;;) {
        const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const e of batch) await walk(e);
      }
    }
  };
  for (const e of entries) await walk(e);
  return out;
}
