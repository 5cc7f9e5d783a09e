// Upload a file to liuma's tus endpoint with the real tus-js-client:
// interrupt it after the first chunks, resume it from its URL (HEAD, then
// PATCH from the stored offset), and print {"url", "resumedAt"} as JSON.
// Usage: node upload.mjs <endpoint> <token> <file> <name> <chunkSize>
import { readFileSync } from "node:fs";
import * as tus from "tus-js-client";

const [endpoint, token, path, name, chunk] = process.argv.slice(2);
const data = readFileSync(path);
const chunkSize = Number(chunk);

function start(opts) {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(data, {
      endpoint,
      chunkSize,
      headers: { token },
      metadata: { filename: name, filetype: "application/octet-stream" },
      retryDelays: [],
      storeFingerprintForResuming: false,
      ...opts.options,
      onError: reject,
      onChunkComplete: (_size, sent) => {
        if (opts.stopAfter && sent >= opts.stopAfter) {
          upload.abort(false).then(() => resolve({ url: upload.url, sent }));
        }
      },
      onSuccess: () => resolve({ url: upload.url, done: true }),
    });
    upload.start();
  });
}

const first = await start({ stopAfter: 2 * chunkSize, options: {} });
if (first.done) throw new Error("the upload finished before it could be interrupted");
const second = await start({ options: { uploadUrl: first.url } });
if (!second.done) throw new Error("the resumed upload did not finish");
console.log(JSON.stringify({ url: second.url, resumedAt: first.sent }));
