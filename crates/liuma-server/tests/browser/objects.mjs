// The console's bucket, object and upload pages in Debian's headless
// Chromium (puppeteer-core; nothing downloaded). Started by
// crates/liuma-server/tests/it/console_objects_browser.rs, which checks
// through S3 afterwards what was stored, and which kills and restarts the
// server when this script asks on stdout ("kill", "restart"; the answer
// comes on stdin).
//
// Usage: node objects.mjs '<spec JSON>'
// Prints progress on stderr and one JSON result line on stdout.
import { mkdirSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { spec, budget, launch, expect, log, problems, newPage, shot as shoot, pageWaits } from "./lib.mjs";

const stopBudget = budget("objects browser test");

const answers = [];
let waiting = null;
createInterface({ input: process.stdin }).on("line", (l) => {
  if (waiting) {
    const w = waiting;
    waiting = null;
    w(l);
  } else answers.push(l);
});
/** Ask the Rust side for `what` and wait for its answer. */
function ask(what) {
  console.log(what);
  if (answers.length) return Promise.resolve(answers.shift());
  return new Promise((res) => (waiting = res));
}

const browser = await launch(["--autoplay-policy=no-user-gesture-required"]);
const out = {};
let page;

const shot = (name) => shoot(page, name, { prefix: "objects-" });
const { wait, state, view } = pageWaits(() => page);

async function go(hash, waitFor = "listed") {
  await page.evaluate((h) => {
    document.body.dataset.state = "";
    // the same hash again would fire no hashchange
    history.replaceState(null, "", "#/_");
    location.hash = h;
  }, hash);
  await state(waitFor);
}

/** The upload row of `key` once in one of `states`; its text. */
async function upload(key, states = ["done"], timeout = 60_000) {
  await page.waitForFunction(
    (key, states) => [...document.querySelectorAll("#uploads li")].some((li) => li.dataset.key === key && states.includes(li.dataset.state)),
    { timeout, polling: 100 },
    key,
    states,
  );
  return page.evaluate((key) => [...document.querySelectorAll("#uploads li")].filter((li) => li.dataset.key === key).pop().innerText, key);
}

async function pick(paths) {
  const input = await page.$("#file-input");
  await input.uploadFile(...paths);
}

async function signIn() {
  await view("login");
  await page.$eval("#ak", (e) => (e.value = ""));
  await page.$eval("#sk", (e) => (e.value = ""));
  await page.type("#ak", spec.key);
  await page.type("#sk", spec.secret);
  await page.click("#login-form button[type=submit]");
}

async function openDetail(key) {
  await page.evaluate(() => (document.body.dataset.detail = ""));
  await page.click(`tr[data-key="${key}"] button.link`);
  await wait((k) => document.body.dataset.detail === k, key);
}

/** Usage shown for `bucket` once loaded: {objects, bytes}. */
async function usage(bucket) {
  await go("#/", "buckets-ready");
  await wait((b) => document.querySelector(`tr[data-bucket="${b}"]`)?.dataset.objects !== undefined, bucket);
  return page.$eval(`tr[data-bucket="${bucket}"]`, (tr) => ({
    objects: Number(tr.dataset.objects),
    bytes: Number(tr.dataset.bytes),
    text: tr.innerText,
  }));
}

/** A short webm made by the browser itself (canvas + MediaRecorder). */
async function makeVideo() {
  const p = await browser.newPage();
  await p.goto("about:blank");
  const b64 = await p.evaluate(async () => {
    const c = document.createElement("canvas");
    c.width = 64;
    c.height = 48;
    const g = c.getContext("2d");
    const rec = new MediaRecorder(c.captureStream(15), { mimeType: "video/webm" });
    const chunks = [];
    rec.ondataavailable = (e) => chunks.push(e.data);
    const done = new Promise((r) => (rec.onstop = r));
    rec.start();
    for (let i = 0; i < 12; i++) {
      g.fillStyle = `hsl(${i * 30},80%,50%)`;
      g.fillRect(0, 0, 64, 48);
      await new Promise((r) => setTimeout(r, 70));
    }
    rec.stop();
    await done;
    const buf = new Uint8Array(await new Blob(chunks).arrayBuffer());
    let s = "";
    for (const x of buf) s += String.fromCharCode(x);
    return btoa(s);
  });
  await p.close();
  mkdirSync(spec.files.video_dir, { recursive: true });
  const path = `${spec.files.video_dir}/clip.webm`;
  writeFileSync(path, Buffer.from(b64, "base64"));
  return path;
}

try {
  page = await newPage(browser);
  page.on("dialog", async (d) => {
    problems.push(`dialog: ${d.message()}`);
    await d.dismiss();
  });
  const requests = [];
  page.on("request", (r) => requests.push({ url: r.url(), method: r.method(), range: r.headers().range || "" }));
  const responses = [];
  page.on("response", (r) => responses.push({ url: r.url(), status: r.status(), type: r.headers()["content-type"] || "" }));

  await page.goto(spec.console);
  await signIn();
  await view("buckets");
  await state("buckets-ready");
  log("signed in");

  // a bucket with versioning on
  await page.type("#bucket-name", "media");
  await page.click("#new-bucket button[type=submit]");
  await page.waitForSelector('tr[data-bucket="media"] input[type=checkbox]:not([disabled])');
  await page.click('tr[data-bucket="media"] input[type=checkbox]');
  await wait(() => document.getElementById("notice").textContent.includes("now on"));
  let u = await usage("media");
  expect(u.objects === 0 && u.bytes === 0, `empty bucket usage ${JSON.stringify(u)}`);

  // files of every preview kind
  const video = await makeVideo();
  await go("#/b/media/");
  await pick([spec.files.png, spec.files.text, spec.files.pdf, video]);
  for (const k of ["pic.png", "notes.txt", "doc.pdf", "clip.webm"]) await upload(k);
  log("four files uploaded");
  const sizes = await page.$$eval("#object-rows tr[data-key]", (r) => r.map((x) => Number(x.dataset.size)));
  const total = sizes.reduce((a, b) => a + b, 0);
  u = await usage("media");
  expect(u.objects === 4 && u.bytes === total, `usage after 4 uploads ${JSON.stringify(u)} want 4/${total}`);
  out.usage_after_uploads = u;
  await shot("1-buckets-usage");

  // lifecycle, CORS, policy: invalid documents refused in the server's words
  await page.click('tr[data-bucket="media"] button[aria-label="Settings of media"]');
  await wait(() => document.body.dataset.settings === "media");
  const invalid = {
    lifecycle: "<LifecycleConfiguration><Rule><ID>x</ID><Filter><Prefix>a/</Prefix></Filter><Status>Sometimes</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>",
    cors: "<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
    policy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Maybe", Principal: "*", Action: "s3:GetObject", Resource: "arn:aws:s3:::media/*" }] }),
  };
  out.editor_errors = {};
  for (const [kind, doc] of Object.entries(invalid)) {
    const sel = `section.editor[data-kind="${kind}"]`;
    await page.$eval(`${sel} textarea`, (t, d) => (t.value = d), doc);
    await page.$eval(sel, (s) => (s.dataset.done = ""));
    await page.click(`${sel} button:not(.danger):not(.plain)`);
    await wait((s) => document.querySelector(s).dataset.done, sel);
    const msg = await page.$eval(`${sel} [role=alert]`, (e) => e.textContent);
    out.editor_errors[kind] = msg;
    expect(msg.startsWith("Not saved: ") && msg.length > 15, `${kind} error shown: ${msg}`);
  }
  await shot("2-settings-invalid");
  // a valid CORS rule is saved and summarised
  const cors = "<CORSConfiguration><CORSRule><AllowedOrigin>https://app.example</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>";
  await page.$eval('section.editor[data-kind="cors"] textarea', (t, d) => (t.value = d), cors);
  await page.$eval('section.editor[data-kind="cors"]', (s) => (s.dataset.done = ""));
  await page.click('section.editor[data-kind="cors"] button:not(.danger):not(.plain)');
  await wait(() => document.querySelector('section.editor[data-kind="cors"]').dataset.done);
  const corsSummary = await page.$eval('section.editor[data-kind="cors"] .summary', (e) => e.textContent);
  expect(corsSummary.includes("GET from https://app.example"), `cors summary ${corsSummary}`);
  log("editors checked");

  // previews
  await go("#/b/media/");
  await openDetail("pic.png");
  await wait(() => {
    const i = document.querySelector("#preview img");
    return i && i.complete && i.naturalWidth > 0;
  });
  out.image_width = await page.$eval("#preview img", (i) => i.naturalWidth);
  await openDetail("notes.txt");
  out.text_preview = await page.$eval("#preview pre", (p) => p.textContent);
  expect(out.text_preview === "first version\n", `text preview ${out.text_preview}`);
  await openDetail("doc.pdf");
  await page.waitForSelector("#preview iframe.pdf");
  await wait(() => true);
  await page.waitForResponse((r) => r.url().includes("key=doc.pdf") && !r.url().includes("/meta"), { timeout: 10_000 }).catch(() => null);
  const pdf = responses.filter((r) => r.url.includes("/object?") && r.url.includes("key=doc.pdf"));
  expect(pdf.some((r) => r.status < 300 && r.type.startsWith("application/pdf")), `pdf served inline: ${JSON.stringify(pdf)}`);
  out.pdf = pdf.map((r) => `${r.status} ${r.type}`);
  await openDetail("clip.webm");
  await wait(() => {
    const v = document.querySelector("#preview video");
    return v && v.readyState >= 1;
  });
  out.video_ready_state = await page.$eval("#preview video", (v) => v.readyState);
  const videoRanges = requests.filter((r) => r.url.includes("key=clip.webm") && r.range).map((r) => r.range);
  expect(videoRanges.length > 0, "the video was read with Range requests");
  out.video_ranges = videoRanges.slice(0, 3);
  await shot("3-preview-video");
  log("previews checked");

  // tags
  await openDetail("notes.txt");
  await page.click("#tag-add");
  await page.type("#tag-rows .tag:last-child .tag-key", "team");
  await page.type("#tag-rows .tag:last-child .tag-value", "blue + green");
  await page.evaluate(() => (document.body.dataset.tags = ""));
  await page.click("#tags-form button[type=submit]");
  await wait(() => document.body.dataset.tags);
  expect((await page.evaluate(() => document.body.dataset.tags)) === "saved", "tags saved");

  // a second version of notes.txt, then restore the first
  await pick([spec.files.text2]);
  await page.waitForFunction(() => [...document.querySelectorAll("#uploads li")].filter((li) => li.dataset.key === "notes.txt" && li.dataset.state === "done").length === 2, { timeout: 30_000 });
  await go("#/b/media/");
  await openDetail("notes.txt");
  const versions = await page.$$eval("#versions li", (l) => l.map((x) => ({ id: x.dataset.version, text: x.innerText })));
  expect(versions.length === 2, `two versions: ${JSON.stringify(versions)}`);
  expect(versions[0].text.includes("current"), "newest is current");
  await page.evaluate(() => (document.body.dataset.detail = ""));
  await page.click(`#versions li[data-version="${versions[1].id}"] button[aria-label^="Restore"]`);
  await wait(() => document.body.dataset.detail === "notes.txt");
  const after = await page.$$eval("#versions li", (l) => l.length);
  expect(after === 3, `restore made a third version: ${after}`);
  out.text_after_restore = await page.$eval("#preview pre", (p) => p.textContent);
  expect(out.text_after_restore === "first version\n", `restored ${out.text_after_restore}`);
  await shot("4-detail-versions");
  // delete one old version for good
  const before = await page.$$eval("#versions li", (l) => l.map((x) => x.dataset.version));
  await page.evaluate(() => (document.body.dataset.detail = ""));
  await page.click(`#versions li[data-version="${before[1]}"] button[aria-label^="Delete version"]`);
  await page.waitForSelector("#confirm[open]");
  await page.click("#confirm-ok");
  await wait(() => document.body.dataset.detail === "notes.txt");
  expect((await page.$$eval("#versions li", (l) => l.length)) === 2, "a version deleted");
  log("tags and versions checked");
  u = await usage("media");
  // 4 files + notes v2 + restored copy - deleted version = 5 versions
  expect(u.objects === 5, `usage counts versions ${JSON.stringify(u)}`);

  // a folder dropped: the walk of directory entries keeps relative paths
  await go("#/b/media/");
  await page.evaluate(() => {
    const file = (path, text) => {
      const name = path.split("/").pop();
      const f = new File([text], name, { type: "text/plain" });
      return { isFile: true, isDirectory: false, name, fullPath: "/" + path, file: (ok) => ok(f) };
    };
    const dir = (path, children) => {
      let given = false;
      return {
        isFile: false,
        isDirectory: true,
        fullPath: "/" + path,
        createReader: () => ({
          readEntries: (ok) => {
            ok(given ? [] : children);
            given = true;
          },
        }),
      };
    };
    const album = dir("album", [file("album/a.txt", "dropped a"), dir("album/sub", [file("album/sub/b.txt", "dropped b")])]);
    const e = new Event("drop", { bubbles: true, cancelable: true });
    Object.defineProperty(e, "dataTransfer", { value: { items: [{ webkitGetAsEntry: () => album }], files: [] } });
    document.getElementById("drop").dispatchEvent(e);
  });
  await upload("album/a.txt");
  await upload("album/sub/b.txt");
  log("folder drop kept paths");

  // pause and resume: each part of mid.bin is held 400 ms on its way so
  // that the pause lands mid-file
  await page.setRequestInterception(true);
  const hold = (req) => {
    if (req.isInterceptResolutionHandled()) return;
    const url = new URL(req.url());
    if (url.pathname.endsWith("/multipart/part") && url.searchParams.get("key") === "mid.bin") {
      setTimeout(() => req.continue().catch(() => {}), 400);
    } else {
      req.continue().catch(() => {});
    }
  };
  page.on("request", hold);
  let midParts = 0;
  const midDone = (r) => {
    const url = new URL(r.url());
    if (url.pathname.endsWith("/multipart/part") && url.searchParams.get("key") === "mid.bin" && r.status() === 200) midParts++;
  };
  page.on("response", midDone);
  await pick([spec.files.mid]);
  await page.waitForFunction(() => [...document.querySelectorAll("#uploads li")].some((l) => l.dataset.key === "mid.bin" && l.dataset.state === "uploading"), { timeout: 30_000, polling: 20 });
  while (midParts < 1) await new Promise((r) => setTimeout(r, 20));
  await page.click('#uploads li[data-key="mid.bin"] button.pause');
  const paused = await upload("mid.bin", ["paused"]);
  const partsAt = requests.length;
  await new Promise((r) => setTimeout(r, 800));
  const sentWhilePaused = requests.slice(partsAt).filter((r) => r.url.includes("multipart/part")).length;
  expect(sentWhilePaused === 0, `nothing sent while paused: ${sentWhilePaused}`);
  await shot("5-upload-paused");
  page.off("request", hold);
  await page.setRequestInterception(false);
  await page.click('#uploads li[data-key="mid.bin"] button.pause');
  out.mid_resumed = await upload("mid.bin", ["done"]);
  out.mid_paused = paused;
  out.mid_parts_before_pause = midParts;
  page.off("response", midDone);
  expect(out.mid_resumed.includes("already stored"), `resumed from stored parts: ${out.mid_resumed}`);
  log("pause/resume done");

  // 200 MiB: the server is killed mid-upload and restarted; the page
  // signs in again and finishes without re-sending what was stored
  const stored = new Set();
  const onResp = (r) => {
    const url = new URL(r.url());
    if (url.pathname.endsWith("/multipart/part") && url.searchParams.get("key") === "big.bin" && r.status() === 200) stored.add(url.searchParams.get("part"));
  };
  page.on("response", onResp);
  const t0 = Date.now();
  await pick([spec.files.big]);
  const waitParts = Date.now();
  while (stored.size < 6 && Date.now() - waitParts < 60_000) await new Promise((r) => setTimeout(r, 50));
  expect(stored.size >= 6, `six parts stored before the kill: ${stored.size}`);
  await ask("kill");
  page.off("response", onResp);
  const storedBefore = [...stored];
  log(`server killed with ${storedBefore.length} parts stored`);
  const retrying = await upload("big.bin", ["retrying"], 30_000);
  out.big_retrying_text = retrying;
  await shot("6-upload-retrying");
  await ask("restart");
  log("server restarted");
  // reload the page (its upload queue is gone with it), sign in again and
  // pick the same file: the page finds the parts the server has
  const after401 = requests.length;
  await page.goto(spec.console);
  await signIn();
  await view("buckets");
  await state("buckets-ready");
  await go("#/b/media/");
  await pick([spec.files.big]);
  out.big_done_text = await upload("big.bin", ["done"], 120_000);
  out.big_ms = Date.now() - t0;
  const resent = requests
    .slice(after401)
    .filter((r) => new URL(r.url).pathname.endsWith("/multipart/part") && r.url.includes("key=big.bin"))
    .map((r) => new URL(r.url).searchParams.get("part"));
  out.big_parts_stored_before_kill = storedBefore.length;
  out.big_parts_sent_after_restart = resent.length;
  expect(resent.every((p) => !storedBefore.includes(p)), `stored parts re-sent: ${resent.filter((p) => storedBefore.includes(p))}`);
  // every part S3 lacked, once each; a stored one never. What S3 had is
  // what the page found (ListParts): the parts seen answered before the
  // kill, and maybe one stored whose answer the kill cut off
  out.big_parts_after_restart = resent;
  const found = Number(/resumed: (\d+) parts already stored/.exec(out.big_done_text)?.[1]);
  expect(found >= storedBefore.length && found <= storedBefore.length + 3, `parts found after the restart: ${found} (${storedBefore.length} answered before the kill)`);
  expect(new Set(resent).size === 26 - found && resent.length === new Set(resent).size, `parts after restart ${resent} (${found} found stored)`);
  log(`200 MiB done in ${out.big_ms} ms; ${resent.length} parts sent after the restart`);

  // the same file again: already stored, nothing sent
  const againAt = requests.length;
  await pick([spec.files.big]);
  await page.waitForFunction(() => [...document.querySelectorAll("#uploads li")].filter((l) => l.dataset.key === "big.bin").pop()?.dataset.state === "stored", { timeout: 60_000, polling: 100 });
  out.big_again_text = await page.evaluate(() => [...document.querySelectorAll("#uploads li")].filter((l) => l.dataset.key === "big.bin").pop().innerText);
  expect(out.big_again_text.includes("Already stored"), out.big_again_text);
  const againParts = requests.slice(againAt).filter((r) => /multipart|\/object\?/.test(r.url) && r.method === "PUT").length;
  expect(againParts === 0, `nothing uploaded the second time: ${againParts}`);
  await shot("7-already-stored");

  // a delete lowers the counts
  await go("#/b/media/");
  await page.click('tr[data-key="pic.png"] input[type=checkbox]');
  await page.click("#delete-selected");
  await page.waitForSelector("#confirm[open]");
  // the page is "listed" already: wait for the listing the delete reloads,
  // or it lands during the next navigation and hides its state
  await page.evaluate(() => (document.body.dataset.state = ""));
  await page.click("#confirm-ok");
  await state("listed");
  u = await usage("media");
  out.usage_end = u;
  // pic.png's delete leaves a marker and keeps its version (versioned bucket): still counted
  expect(u.objects === 5 + 2 + 1 + 1, `usage at the end ${JSON.stringify(u)}`);
  await shot("8-buckets-end");

  // keyboard: Tab reaches the upload buttons with visible labels
  out.labels_missing = await page.evaluate(() =>
    [...document.querySelectorAll("input, select, textarea, button")]
      .filter((e) => e.offsetParent !== null)
      .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute("aria-label") && !e.textContent.trim()).length,
  );
  expect(out.labels_missing === 0, `controls without a label: ${out.labels_missing}`);

  expect(problems.length === 0, problems.join("; "));
  out.ok = true;
  console.log(JSON.stringify(out));
} catch (e) {
  console.error(String(e && e.stack ? e.stack : e));
  if (page) await page.screenshot({ path: `${spec.shots}/objects-FAILED.png`, fullPage: true }).catch(() => {});
  console.error(problems.join("\n"));
  console.log(JSON.stringify(out));
  process.exitCode = 1;
} finally {
  stopBudget();
  await browser.close();
  process.stdin.destroy();
}
