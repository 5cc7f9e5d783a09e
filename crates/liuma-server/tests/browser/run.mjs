// Drives examples/native-upload in Debian's headless Chromium (puppeteer-core,
// the system browser: nothing is downloaded). Started by
// crates/liuma-server/tests/it/browser.rs, which runs liuma, the example's
// server.mjs and a fault proxy between the browser and liuma (it/fault_proxy.rs),
// writes the files, and checks afterwards through liuma what was stored.
//
// Usage: node run.mjs '<spec JSON>'
//   spec: {page, proxy, chromium, shots, timeout_ms, scenarios: [name…],
//          files: {name: {path, hash, size, name}}}
// Prints {scenario: {ms, …}} as JSON on stdout; progress and failures on
// stderr. Exits non-zero on the first failed scenario (after a screenshot
// FAILED-<scenario>.png and the page's log).
import { spec, budget, launch, expect, problems as pageErrors, newPage } from "./lib.mjs";

const MIB = 1 << 20;
const stopBudget = budget("browser test");
const browser = await launch();

let lastPage = null;

async function open(query = "", viewport = { width: 1000, height: 900 }) {
  const page = await newPage(browser, viewport);
  lastPage = page;
  await page.goto(spec.page + query);
  await waitState(page, ["idle"]);
  return page;
}

/** Wait until body[data-state] is one of `states`. */
function waitState(page, states, timeout = 30_000) {
  return page.waitForFunction((s) => s.includes(document.body.dataset.state), { timeout, polling: 50 }, states);
}

/** Wait for the upload to end (done, failed or paused) and return the state. */
async function settle(page, timeout = 40_000) {
  await waitState(page, ["done", "failed", "paused"], timeout);
  return page.evaluate(() => document.body.dataset.state);
}

const text = (page, sel) => page.$eval(sel, (e) => e.innerText);
const visible = (page, sel) => page.$eval(sel, (e) => !e.hidden && e.offsetParent !== null);
const barValue = (page) => page.$eval("#bar", (b) => b.value);

async function pick(page, file) {
  const input = await page.$("#file");
  await input.uploadFile(file.path);
}

async function shot(page, name) {
  await page.screenshot({ path: `${spec.shots}/${name}.png`, fullPage: true });
}

async function proxy(cmd, params) {
  const r = await fetch(`${spec.proxy}/__proxy/${cmd}?${new URLSearchParams(params)}`);
  return r.json();
}

/** The chunk numbers the page POSTs for `hash` from now on. */
function countChunks(page, hash) {
  const list = [];
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (r.method() === "POST" && u.pathname === "/upload/chunk" && u.searchParams.get("hash") === hash) {
      list.push(Number(u.searchParams.get("chunk")));
    }
  });
  return list;
}

/** Record every (bar value, stats text) the page shows while uploading. */
async function recordProgress(page) {
  await page.evaluate(() => {
    window.samples = [];
    const stats = document.getElementById("stats");
    new MutationObserver(() => {
      window.samples.push([document.getElementById("bar").value, stats.textContent]);
    }).observe(stats, { childList: true, characterData: true, subtree: true });
  });
}

async function expectStored(page, file) {
  const state = await settle(page);
  const phase = await text(page, "#phase");
  expect(state === "done", `${file.name}: state ${state}, phase "${phase}", error "${await text(page, "#error")}"`);
  expect((await text(page, "#r-hash")) === file.hash, `${file.name}: the page shows the file's SHA-256`);
  expect((await barValue(page)) === 1, `${file.name}: a full bar when stored`);
  return phase;
}

const scenarios = {
  // The incremental SHA-256 (sha256.js) against WebCrypto, whole and in
  // random pieces, around every padding boundary.
  async sha() {
    const page = await open();
    const r = await page.evaluate(async () => {
      const { Sha256 } = await import("/sha256.js");
      const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");
      const sizes = [0, 1, 3, 55, 56, 57, 63, 64, 65, 111, 112, 119, 120, 127, 128, 129, 1000, 4095, 65_536, 65_537,
        (1 << 20) + 7, (3 << 20) + 1];
      let seed = 7;
      const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
      const bad = [];
      for (const n of sizes) {
        const d = new Uint8Array(n);
        for (let o = 0; o < n; o += 65_536) crypto.getRandomValues(d.subarray(o, Math.min(n, o + 65_536)));
        const want = hex(await crypto.subtle.digest("SHA-256", d));
        const whole = new Sha256().update(d.buffer).hex();
        const h = new Sha256();
        for (let i = 0; i < n;) {
          const s = Math.min(n - i, 1 + Math.floor(rnd() * (n > 100_000 ? 70_000 : 200)));
          h.update(d.subarray(i, i + s));
          i += s;
        }
        const pieces = h.hex();
        if (whole !== want || pieces !== want) bad.push({ n, want, whole, pieces });
      }
      return { bad, sizes: sizes.length };
    });
    expect(r.bad.length === 0, `sha256.js differs from WebCrypto: ${JSON.stringify(r.bad)}`);
    return { sizes: r.sizes };
  },

  // (a) A 30 MiB upload whose connection is cut mid-chunk (the proxy forwards
  // 1 MiB of chunk 2's body, then closes both sides) retries on its own and
  // finishes; progress, speed and ETA are shown on the way. Chromium itself
  // resends a request whose reused connection broke before any answer, so
  // the rule cuts every transmission of the page's first attempt.
  async resume() {
    const f = spec.files.resume;
    await proxy("rule", { hash: f.hash, chunk: 2, action: "kill", after: MIB, attempt: 0, times: 10 });
    const page = await open("?chunk_size=4194304&retry_ms=200");
    await recordProgress(page);
    const sent = countChunks(page, f.hash);
    await pick(page, f);
    const phase = await expectStored(page, f);
    expect(phase.startsWith(`Stored ${f.name}`), `phase says stored: "${phase}"`);
    const log = await text(page, "#log");
    expect(/connection broke while sending chunk 2: retrying in/.test(log), `the log tells of the retry:\n${log}`);
    expect(sent.filter((c) => c === 2).length >= 2, `chunk 2 sent again: ${sent}`);
    const samples = await page.evaluate(() => window.samples);
    const partial = samples.filter(([v]) => v > 0 && v < 1);
    expect(partial.length >= 5, `the bar moved in steps: ${partial.length} partial values`);
    expect(samples.some(([, s]) => /\/s · .* left$/.test(s)), `speed and ETA shown: ${JSON.stringify(samples.slice(-3))}`);
    await shot(page, "a-resumed-after-killed-connection");
    await page.close();
    // The same file again: instant upload, nothing sent.
    const again = await open();
    const none = countChunks(again, f.hash);
    await pick(again, f);
    const instant = await expectStored(again, f);
    expect(instant.startsWith("Already stored"), `instant upload shown: "${instant}"`);
    expect(none.length === 0, `no chunk sent for an instant upload: ${none}`);
    await shot(again, "a-instant-already-stored");
    return { chunk_requests: sent.length, progress_samples: samples.length, instant };
  },

  // Retries used up (every attempt at chunk 1 is cut): the page pauses with a
  // visible Retry button; once the network is back, Retry finishes.
  async exhausted() {
    const f = spec.files.exhausted;
    await proxy("rule", { hash: f.hash, chunk: 1, action: "kill", after: 65_536, times: 1000 });
    const page = await open("?chunk_size=1048576&retries=2&retry_ms=50");
    await pick(page, f);
    const state = await settle(page);
    expect(state === "paused", `paused after the retries: ${state}`);
    expect(await visible(page, "#retry"), "the Retry button is visible");
    const error = await text(page, "#error");
    expect(/chunk 1; gave up after 2 retries/.test(error), `the error says why: "${error}"`);
    const stats = await text(page, "#stats");
    expect(/^1\.00 MiB of 3\.00 MiB · paused$/.test(stats), `chunk 0 counted, no ETA while paused: "${stats}"`);
    const delays = [...(await text(page, "#log")).matchAll(/retrying in ([\d.]+) s/g)].map((m) => Number(m[1]));
    expect(delays.length === 2 && delays[1] > delays[0], `exponential backoff: ${delays}`);
    await shot(page, "e-retries-exhausted");
    await proxy("clear", { hash: f.hash });
    await page.click("#retry");
    await expectStored(page, f);
    expect(!(await visible(page, "#retry")), "Retry hidden once stored");
    return { error, delays };
  },

  // (c) A chunk lost on the way (the proxy answers success without storing
  // it): finish fails, the page says which chunk liuma misses and resets the
  // bar; Retry re-reads the status, sends that chunk and finishes.
  async finish() {
    const f = spec.files.finish;
    await proxy("rule", { hash: f.hash, chunk: 1, action: "swallow", times: 1 });
    const page = await open("?chunk_size=1048576");
    const sent = countChunks(page, f.hash);
    await pick(page, f);
    const state = await settle(page);
    const phase = await text(page, "#phase");
    expect(state === "failed", `finish failed: ${state} "${phase}"`);
    expect(/^Finishing failed: chunk 1 is missing/.test(phase), `the reason in words: "${phase}"`);
    expect((await barValue(page)) === 0, "the bar is reset");
    expect(/progress was reset/.test(await text(page, "#error")), "the error says so");
    expect(await visible(page, "#retry"), "Retry offered");
    expect(!(await visible(page, "#result")), "no result shown for a failed finish");
    await shot(page, "c-finish-failed");
    const before = sent.length;
    await page.click("#retry");
    await expectStored(page, f);
    expect(JSON.stringify(sent.slice(before)) === "[1]", `only chunk 1 sent again: ${sent}`);
    await shot(page, "c-recovered");
    return { phase };
  },

  // (d) A reload while chunk 3 hangs: after picking the file again the page
  // verifies chunks 0-2 on liuma and sends only 3, 4 and 5.
  async reload() {
    const f = spec.files.reload;
    await proxy("rule", { hash: f.hash, chunk: 3, action: "stall", times: 1 });
    const page = await open("?chunk_size=1048576");
    const stalled = page.waitForRequest(
      (r) => r.method() === "POST" && r.url().includes("chunk=3&") && r.url().includes(f.hash), { timeout: 30_000 });
    await pick(page, f);
    await stalled;
    const deadline = Date.now() + 10_000;
    while (!(await proxy("seen", { hash: f.hash })).seen.some((s) => s.chunk === 3)) {
      expect(Date.now() < deadline, "the proxy holds chunk 3");
      await new Promise((r) => setTimeout(r, 50));
    }
    await shot(page, "d-before-reload");
    await page.reload();
    await waitState(page, ["idle"]);
    const sent = countChunks(page, f.hash);
    await pick(page, f);
    await expectStored(page, f);
    const log = await text(page, "#log");
    expect(/liuma already has 3 of 6 chunks/.test(log), `verified resume:\n${log}`);
    expect(JSON.stringify(sent) === "[3,4,5]", `only the missing chunks sent after the reload: ${sent}`);
    await shot(page, "d-resumed-after-reload");
    return { sent_after_reload: sent };
  },

  // (b, wrong content) The session already holds chunk 0 (right) and chunk 1
  // (another file's bytes, same size): the page keeps 0, replaces 1.
  async foreign() {
    const f = spec.files.foreign;
    const page = await open("?chunk_size=1048576");
    const sent = countChunks(page, f.hash);
    await pick(page, f);
    await expectStored(page, f);
    const log = await text(page, "#log");
    expect(/chunk 1 on liuma differs from this file's/.test(log), `the foreign chunk detected:\n${log}`);
    expect(/liuma already has 1 of 4 chunks/.test(log), `chunk 0 kept:\n${log}`);
    expect(JSON.stringify(sent) === "[1,2,3]", `chunk 0 not sent again: ${sent}`);
    await shot(page, "b-foreign-chunk-replaced");
    return { sent };
  },

  // A phone-sized viewport: nothing (hashes, JSON log, messages) is wider
  // than the screen.
  async narrow() {
    const f = spec.files.foreign;
    const page = await open("?chunk_size=1048576", { width: 360, height: 740 });
    await pick(page, f);
    await expectStored(page, f);
    await page.evaluate(() => {
      const e = document.getElementById("error");
      e.hidden = false;
      e.textContent = `a long unbroken reason: ${"0123456789abcdef".repeat(12)}`;
    });
    const over = await page.evaluate(() => {
      const w = document.documentElement.clientWidth;
      const wide = [...document.querySelectorAll("main, main *")]
        .filter((e) => e.getBoundingClientRect().right > w + 0.5)
        .map((e) => `${e.tagName}#${e.id} ${Math.round(e.getBoundingClientRect().right)}`);
      return { w, scroll: document.documentElement.scrollWidth, wide };
    });
    expect(over.scroll <= over.w && over.wide.length === 0, `overflow at 360 px: ${JSON.stringify(over)}`);
    await shot(page, "narrow-360px");
    return over;
  },

  // (b, chunk size) Needs the #16 server part: the session was started by a
  // client that cuts 512 KiB chunks (status says chunk_size 524288); the page
  // has the backend abort it and starts over.
  async chunksize() {
    const f = spec.files.chunksize;
    const page = await open("?chunk_size=1048576");
    const sent = countChunks(page, f.hash);
    await pick(page, f);
    await expectStored(page, f);
    const log = await text(page, "#log");
    expect(/it was started with 524288-byte chunks, this page cuts 1048576/.test(log), `detected:\n${log}`);
    expect(/the backend aborted the session/.test(log), `aborted:\n${log}`);
    expect(JSON.stringify(sent) === "[0,1,2,3]", `every chunk sent after the restart: ${sent}`);
    await shot(page, "b-chunk-size-session-aborted");
    return { sent };
  },

  // (b, 409) Needs the #16 server part: another client starts the session
  // with 512 KiB chunks just before the page's first chunk (the proxy sends
  // it to liuma first); liuma answers 409 ChunkSizeMismatch, the page aborts
  // the session through the backend and starts over.
  async conflict() {
    const f = spec.files.conflict;
    const query = `chunk=1&chunk_size=524288&size=${f.size}`;
    await proxy("rule", { hash: f.hash, chunk: 0, action: "inject", query, len: 524_288, times: 1 });
    const page = await open("?chunk_size=1048576");
    await pick(page, f);
    await expectStored(page, f);
    const log = await text(page, "#log");
    expect(/liuma refused chunk 0: .*\(ChunkSizeMismatch\)/.test(log), `409 seen:\n${log}`);
    expect(/the backend aborted the session/.test(log), `aborted:\n${log}`);
    await shot(page, "b-409-session-aborted");
    return {};
  },

  // The same with another file size (409 FileSizeMismatch). The foreign
  // client's size stays within the token's (a larger one is refused, 413).
  async filesize() {
    const f = spec.files.filesize;
    const query = `chunk=2&chunk_size=1048576&size=${f.size - 1}`;
    await proxy("rule", { hash: f.hash, chunk: 0, action: "inject", query, len: MIB, times: 1 });
    const page = await open("?chunk_size=1048576");
    await pick(page, f);
    await expectStored(page, f);
    const log = await text(page, "#log");
    expect(/liuma refused chunk 0: .*\(FileSizeMismatch\)/.test(log), `409 seen:\n${log}`);
    expect(/the backend aborted the session/.test(log), `aborted:\n${log}`);
    return {};
  },
};

const results = {};
let failed = false;
for (const name of spec.scenarios) {
  const t0 = Date.now();
  try {
    results[name] = { ...(await scenarios[name]()), ms: Date.now() - t0 };
    console.error(`browser: ${name} ok in ${Date.now() - t0} ms`);
  } catch (e) {
    failed = true;
    console.error(`browser: ${name} FAILED after ${Date.now() - t0} ms: ${e.stack ?? e}`);
    if (lastPage) {
      await lastPage.screenshot({ path: `${spec.shots}/FAILED-${name}.png`, fullPage: true }).catch(() => {});
      const log = await text(lastPage, "#log").catch(() => "(no log)");
      console.error(`page log:\n${log}`);
    }
    const f = spec.files[name];
    if (f) console.error(`proxy saw: ${JSON.stringify(await proxy("seen", { hash: f.hash }).catch((e) => String(e)))}`);
    break;
  } finally {
    if (lastPage) await lastPage.close().catch(() => {});
    lastPage = null;
  }
}
await browser.close();
stopBudget();
if (pageErrors.length) {
  console.error(`uncaught page errors: ${pageErrors.join("\n")}`);
  failed = true;
}
console.log(JSON.stringify(results));
process.exit(failed ? 1 : 0);
