// Uploads: small files in one PUT, larger ones as S3 multipart in 8 MiB
// parts (three at a time), several files at once. A multipart upload's id
// is kept in localStorage under the file's identity (bucket, key, name,
// size, lastModified), so after a reload the same file asks ListParts and
// sends only the parts S3 lacks.
import { bpath, token, failure, api } from "./api.js";

export const PART = 8 << 20;
const FILES_AT_ONCE = 3;
const PARTS_AT_ONCE = 3;
const STORE = "liuma-console-uploads";

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

/** PUT `body` to `url` with upload progress; resolves to the JSON answer. */
function put(url, body, onProgress, headers = {}) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open("PUT", url);
    x.setRequestHeader("x-csrf-token", token());
    for (const [k, v] of Object.entries(headers)) x.setRequestHeader(k, v);
    x.upload.onprogress = (e) => onProgress(e.loaded);
    x.onload = async () => {
      if (x.status >= 200 && x.status < 300) {
        resolve(JSON.parse(x.responseText));
      } else {
        reject(await failure(new Response(x.responseText, { status: x.status })));
      }
    };
    x.onerror = () => reject(new Error("The connection was lost during the upload."));
    x.send(body);
  });
}

export class Uploads {
  /** `onChange(job)` is called on every progress or state change. */
  constructor(onChange, onDone) {
    this.queue = [];
    this.running = 0;
    this.onChange = onChange;
    this.onDone = onDone;
  }

  add(bucket, key, file) {
    const job = { bucket, key, file, sent: 0, state: "queued", error: "", resumed: 0 };
    this.queue.push(job);
    this.onChange(job);
    this.pump();
    return job;
  }

  pump() {
    while (this.running < FILES_AT_ONCE) {
      const job = this.queue.find((j) => j.state === "queued");
      if (!job) return;
      this.running++;
      job.state = "uploading";
      this.onChange(job);
      this.run(job)
        .then(() => {
          job.state = "done";
          job.sent = job.file.size;
        })
        .catch((e) => {
          job.state = "failed";
          job.error = e.message;
        })
        .finally(() => {
          this.running--;
          this.onChange(job);
          this.onDone(job);
          this.pump();
        });
    }
  }

  retry(job) {
    job.state = "queued";
    job.error = "";
    this.onChange(job);
    this.pump();
  }

  async run(job) {
    const { bucket, key, file } = job;
    if (file.size <= PART) {
      const headers = file.type ? { "content-type": file.type } : {};
      await put(bpath(bucket, "object", { key }), file, (n) => this.progress(job, { single: n }), headers);
      return;
    }
    await this.multipart(job);
  }

  progress(job, p) {
    if ("single" in p) job.sent = p.single;
    else job.sent = [...job.parts.values()].reduce((a, b) => a + b, 0);
    this.onChange(job);
  }

  async multipart(job) {
    const { bucket, key, file } = job;
    const id = identity(bucket, key, file);
    const map = saved();
    let uploadId = map[id];
    const done = new Map(); // part number -> etag
    if (uploadId) {
      try {
        const r = await api("GET", bpath(bucket, "multipart/parts", { key, upload_id: uploadId }));
        const count = Math.ceil(file.size / PART);
        for (const p of r.parts) {
          const want = p.part < count ? PART : file.size - PART * (count - 1);
          if (p.part >= 1 && p.part <= count && p.size === want) done.set(p.part, p.etag);
        }
        job.resumed = done.size;
      } catch {
        uploadId = null; // gone (completed, aborted): start again
      }
    }
    if (!uploadId) {
      const r = await api("POST", bpath(bucket, "multipart", { key }));
      uploadId = r.upload_id;
      const m = saved();
      m[id] = uploadId;
      save(m);
    }
    const count = Math.ceil(file.size / PART);
    job.parts = new Map();
    for (const [n] of done) job.parts.set(n, Math.min(PART, file.size - PART * (n - 1)));
    this.progress(job, {});
    const todo = [];
    for (let n = 1; n <= count; n++) if (!done.has(n)) todo.push(n);
    const worker = async () => {
      while (todo.length) {
        const n = todo.shift();
        const blob = file.slice(PART * (n - 1), Math.min(file.size, PART * n));
        const r = await put(bpath(bucket, "multipart/part", { key, upload_id: uploadId, part: n }), blob, (b) => {
          job.parts.set(n, b);
          this.progress(job, {});
        });
        done.set(n, r.etag);
      }
    };
    await Promise.all(Array.from({ length: PARTS_AT_ONCE }, worker));
    const parts = [...done.entries()].sort((a, b) => a[0] - b[0]).map(([part, etag]) => ({ part, etag }));
    await api("POST", bpath(bucket, "multipart/complete", { key, upload_id: uploadId }), { parts });
    const m = saved();
    delete m[id];
    save(m);
  }
}
