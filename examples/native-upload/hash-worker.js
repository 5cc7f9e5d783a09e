// Hashes a file off the page's main thread (a module Web Worker), reading
// one chunk at a time so memory stays at one chunk whatever the file's size.
// It computes what the upload needs in one pass:
// - the whole file's SHA-256 (incremental, sha256.js), asked for the token;
// - each chunk's size and SHA-256, sent as `sha256=` with the chunk and
//   compared with what `/upload/status` lists when resuming.
// Chunk digests use WebCrypto where the page has it (a secure context:
// https or localhost), else the same incremental hasher.
//
// in:  {file: File, chunkSize: number}
// out: {progress: bytesHashed} … then {done: {sha256, size, chunks: [{size, sha256}]}}
//      or {error: message}
import { Sha256 } from "./sha256.js";

const PIECE = 1 << 20; // progress granularity

const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");

async function chunkDigest(bytes) {
  if (globalThis.crypto?.subtle) return hex(await crypto.subtle.digest("SHA-256", bytes));
  return new Sha256().update(bytes).hex();
}

self.onmessage = async ({ data: { file, chunkSize } }) => {
  try {
    const whole = new Sha256();
    const chunks = [];
    for (let start = 0; start < file.size; start += chunkSize) {
      const bytes = new Uint8Array(await file.slice(start, start + chunkSize).arrayBuffer());
      const digest = chunkDigest(bytes); // native, runs while the whole-file hash goes on
      for (let p = 0; p < bytes.length; p += PIECE) {
        whole.update(bytes.subarray(p, p + PIECE));
        self.postMessage({ progress: start + Math.min(p + PIECE, bytes.length) });
      }
      chunks.push({ size: bytes.length, sha256: await digest });
    }
    self.postMessage({ done: { sha256: whole.hex(), size: file.size, chunks } });
  } catch (e) {
    self.postMessage({ error: `reading the file failed: ${e?.message ?? e}` });
  }
};
