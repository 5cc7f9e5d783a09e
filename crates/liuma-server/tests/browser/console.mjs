// Drives the web console (crates/liuma-console) in Debian's headless
// Chromium with puppeteer-core (the system browser; nothing downloaded).
// Started by crates/liuma-server/tests/it/console_browser.rs, which runs
// liuma, writes the files and checks afterwards through S3 what was stored.
//
// Usage: node console.mjs '<spec JSON>'
//   spec: {console, key, secret, chromium, shots, timeout_ms,
//          files: {small, big, png, xss: path}}
// Prints a JSON result on stdout; progress and failures on stderr.
import { spec, budget, launch, expect, problems, newPage as openPage, shot as shoot, pageWaits } from "./lib.mjs";

const stopBudget = budget("console browser test");
const browser = await launch();
const out = {};
let alerts = 0;
let page;

const shot = (name, opts) => shoot(page, name, opts);
const { state, view } = pageWaits(() => page);

async function go(hash, waitFor = "listed") {
  await page.evaluate((h) => {
    document.body.dataset.state = "";
    // the same hash again would fire no hashchange
    if (location.hash === h) history.replaceState(null, "", "#/");
    location.hash = h;
  }, hash);
  await state(waitFor);
}

async function pick(paths) {
  const input = await page.$("#file-input");
  await input.uploadFile(...paths);
}

/** Wait until the upload row of `key` is in one of `states`. */
async function upload(key, states = ["done"], timeout = 60_000) {
  await page.waitForFunction(
    (key, states) => [...document.querySelectorAll("#uploads li")].some((li) => li.dataset.key === key && states.includes(li.dataset.state)),
    { timeout, polling: 100 },
    key,
    states,
  );
  return page.evaluate(
    (key) => [...document.querySelectorAll("#uploads li")].filter((li) => li.dataset.key === key).pop().innerText,
    key,
  );
}

async function newPage() {
  page = await openPage(browser, { width: 1280, height: 800 });
  page.on("dialog", async (d) => {
    alerts++;
    await d.dismiss();
  });
}

try {
  await newPage();
  await page.goto(spec.console);
  await view("login");
  await shot("1-sign-in");

  // wrong secret: refused in words
  await page.type("#ak", spec.key);
  await page.type("#sk", "wrong-secret");
  await page.click("#login-form button[type=submit]");
  await page.waitForFunction(() => document.getElementById("login-error").textContent.length > 0);
  expect((await page.$eval("#login-error", (e) => e.textContent)) === "Wrong access key or secret.", "login error words");
  await page.$eval("#sk", (e) => (e.value = ""));
  await page.type("#sk", spec.secret);
  await page.click("#login-form button[type=submit]");
  await view("buckets");
  await state("buckets-ready");
  console.error("signed in");

  // create a bucket
  await page.type("#bucket-name", "e2e");
  await page.click("#new-bucket button[type=submit]");
  await page.waitForSelector('tr[data-bucket="e2e"]');
  await shot("2-buckets");

  // 1 000 keys made by the Rust side: time the listing page
  let t0 = Date.now();
  await go("#/b/many/");
  out.list1000_ms = Date.now() - t0;
  out.list1000_render_ms = Number(await page.evaluate(() => document.body.dataset.renderMs));
  out.list1000_rows = await page.$$eval("#object-rows tr", (r) => r.length);
  expect(out.list1000_rows === 1000, `1000 rows, got ${out.list1000_rows}`);
  console.error(`1000-key listing: ${out.list1000_ms} ms (render ${out.list1000_render_ms} ms)`);
  // where the time goes (Performance timing): the listing request vs the page's own work
  out.list1000_fetch_ms = await page.evaluate(() => {
    const e = performance.getEntriesByType("resource").filter((x) => x.name.includes("/api/buckets/many/objects")).pop();
    return e ? Math.round(e.duration) : -1;
  });

  // 3 000 keys sorted by size: the whole folder, so the first page holds
  // the largest objects though S3 lists them on its last page
  await go("#/b/sorted/");
  await page.evaluate(() => (document.body.dataset.state = ""));
  t0 = Date.now();
  await page.select("#sort", "-size");
  await state("listed");
  out.sorted3000_ms = Date.now() - t0;
  out.sorted_first = await page.$$eval("#object-rows tr[data-key]", (r) => r.slice(0, 5).map((x) => x.dataset.key));
  out.sorted_count = await page.$eval("#count", (e) => e.textContent);
  expect(JSON.stringify(out.sorted_first) === JSON.stringify(spec.largest), `largest first: ${JSON.stringify(out.sorted_first)}`);
  expect(/of 3000, the whole folder sorted/.test(out.sorted_count), `count ${out.sorted_count}`);
  expect((await page.$eval("#sort-note", (e) => e.textContent)) === "", "no 'too big' note under the bound");
  // the next page continues the same order
  await page.evaluate(() => (document.body.dataset.state = ""));
  await page.click("#more");
  await state("listed");
  const sizes = await page.$$eval("#object-rows tr[data-key]", (r) => r.map((x) => Number(x.dataset.size)));
  expect(sizes.length === 2000, `two sorted pages: ${sizes.length}`);
  expect(sizes.every((v, i) => i === 0 || sizes[i - 1] >= v), "sizes descending across both pages");
  await shot("2b-sorted-by-size", { full: false });
  await page.evaluate(() => (document.body.dataset.state = ""));
  await page.select("#sort", "name");
  await state("listed");
  console.error(`3000 keys sorted by size in ${out.sorted3000_ms} ms`);
  await go("#/b/many/");

  // metadata with markup is shown as text
  await page.click('tr[data-key="a-meta.txt"] button');
  await page.waitForFunction(() => document.body.dataset.detail === "a-meta.txt");
  const meta = await page.evaluate(() => ({
    texts: [...document.querySelectorAll("#meta dd")].map((d) => d.textContent),
    imgs: document.querySelectorAll("#meta img, #preview img").length,
    preview: (document.querySelector("#preview pre") || {}).textContent,
  }));
  expect(meta.texts.includes("<img src=x onerror=alert(2)>") && meta.imgs === 0, `metadata ${JSON.stringify(meta)}`);
  expect(meta.preview === "hello", `text preview ${meta.preview}`);
  out.meta_preview = meta.preview;

  // uploads into the bucket root: small (one PUT), big (multipart), XSS name
  await go("#/b/e2e/");
  await pick([spec.files.small, spec.files.xss]);
  await upload("small.bin");
  await upload(spec.files.xss_name);
  console.error("small uploads done");

  // big file: part 3 is cut on the way, the upload says so in words (it
  // retries a lost connection with a countdown before failing)
  await page.setRequestInterception(true);
  const cut = (req) => {
    if (req.isInterceptResolutionHandled()) return;
    const u = new URL(req.url());
    if (u.pathname.endsWith("/multipart/part") && u.searchParams.get("part") === "3") req.abort("connectionreset");
    else req.continue();
  };
  page.on("request", cut);
  await pick([spec.files.big]);
  const failed = await upload("big.bin", ["failed", "retrying"]);
  out.big_failed_text = failed;
  await page.waitForNetworkIdle({ idleTime: 300, timeout: 30_000 });
  await shot("3-upload-failed");
  page.off("request", cut);
  await page.setRequestInterception(false);

  // reload the page: picking the same file again resumes (only part 3 sent)
  await page.reload();
  await view("objects");
  await state("listed");
  const sent = [];
  const count = (req) => {
    if (new URL(req.url()).pathname.endsWith("/multipart/part")) sent.push(new URL(req.url()).searchParams.get("part"));
  };
  page.on("request", count);
  await pick([spec.files.big]);
  out.big_resumed_text = await upload("big.bin", ["done"], 90_000);
  page.off("request", count);
  out.big_parts_after_reload = sent;
  expect(sent.length === 1 && sent[0] === "3", `only part 3 re-sent, got ${JSON.stringify(sent)}`);
  expect(out.big_resumed_text.includes("2 parts already stored"), out.big_resumed_text);
  console.error("big upload resumed after reload");

  // the XSS key is a row of text, nothing ran
  await go("#/b/e2e/");
  const xss = await page.evaluate((k) => {
    const row = [...document.querySelectorAll("#object-rows tr")].find((r) => r.dataset.key === k);
    return row && { text: row.querySelector("td.name").textContent, imgs: document.querySelectorAll("#object-rows img").length };
  }, spec.files.xss_name);
  expect(xss && xss.text === spec.files.xss_name && xss.imgs === 0, `xss row ${JSON.stringify(xss)}`);
  await shot("4-objects");

  // a folder: upload the image into docs/, then navigate there by clicking
  await go("#/b/e2e/docs/");
  await pick([spec.files.png]);
  await upload("docs/pic.png");
  await go("#/b/e2e/");
  await page.waitForSelector('tr[data-folder="docs/"] a');
  await page.evaluate(() => (document.body.dataset.state = ""));
  await page.click('tr[data-folder="docs/"] a');
  await state("listed");
  const crumbs = await page.$$eval("#crumbs a", (a) => a.map((x) => x.textContent));
  expect(JSON.stringify(crumbs) === JSON.stringify(["Buckets", "e2e", "docs"]), `crumbs ${crumbs}`);

  // preview the image, then a share link
  await page.click('tr[data-key="docs/pic.png"] button');
  await page.waitForFunction(() => document.body.dataset.detail === "docs/pic.png");
  await page.waitForFunction(() => {
    const i = document.querySelector("#preview img");
    return i && i.complete && i.naturalWidth > 0;
  });
  out.preview_width = await page.$eval("#preview img", (i) => i.naturalWidth);
  await page.select("#share-expiry", "3600");
  await page.click("#share-form button[type=submit]");
  await page.waitForFunction(() => !document.getElementById("share-out").hidden);
  out.share_url = await page.$eval("#share-url", (e) => e.value);
  await shot("5-detail-share");

  // search by prefix and delete selected with confirmation
  await go("#/b/e2e/");
  await page.evaluate(() => (document.body.dataset.state = ""));
  await page.type("#search", "sma");
  await state("listed");
  const found = await page.$$eval("#object-rows tr[data-key]", (r) => r.map((x) => x.dataset.key));
  expect(JSON.stringify(found) === '["small.bin"]', `search ${found}`);
  await page.click('tr[data-key="small.bin"] input[type=checkbox]');
  await page.click("#delete-selected");
  await page.waitForSelector("#confirm[open]");
  await shot("6-confirm-delete");
  await page.evaluate(() => (document.body.dataset.state = ""));
  await page.click("#confirm-ok");
  await state("listed");
  const left = await page.$$eval("#object-rows tr[data-key]", (r) => r.map((x) => x.dataset.key));
  expect(!left.includes("small.bin"), `deleted: ${left}`);

  expect(alerts === 0, `no dialog may open: ${alerts}`);
  expect(problems.length === 0, problems.join("; "));
  out.ok = true;
  console.log(JSON.stringify(out));
} catch (e) {
  console.error(String(e && e.stack ? e.stack : e));
  if (page) await page.screenshot({ path: `${spec.shots}/FAILED.png`, fullPage: true }).catch(() => {});
  console.error(problems.join("\n"));
  console.log(JSON.stringify(out));
  process.exitCode = 1;
} finally {
  stopBudget();
  await browser.close();
}
