// Drives the console's cluster and access pages (/admin) in Debian's
// headless Chromium with puppeteer-core (the system browser; nothing
// downloaded). Started by crates/liuma-server/tests/it/cluster_browser.rs.
//
// Usage: node cluster.mjs '<spec JSON>'
//   spec: {mode: "single" | "cluster", console, token, key, secret,
//          chromium, shots, timeout_ms, nodes?: [id…], kill?: id}
// single: admin sign-in (a wrong token refused in words), the node, charts
//   with points, drain/undrain, a user, a key whose secret is shown once
//   (gone after a reload), a policy (a bad one refused in words), the key
//   disabled, a backend credential created, rotated and revoked; an S3
//   user's session is sent to the admin sign-in.
// cluster: every node listed live; the charts of the whole cluster show
//   the S3 traffic the Rust side sends to another node (spec.busy), and so
//   do that node's own; then prints {"phase":"kill"} and waits for a line on
//   stdin (the Rust side kills spec.kill), and waits for the node to show
//   down, its charts "no data" (the page answering meanwhile) and the
//   census to turn degraded, then healthy after the heal.
// Prints JSON lines on stdout (the last one the result); progress on stderr.
import { createInterface } from "node:readline";
import { spec, budget, launch, expect, problems, newPage as openPage, shot as shoot, pageWaits } from "./lib.mjs";

const stopBudget = budget("cluster browser test");
const browser = await launch();
const out = {};
let page;

const shot = (name) => shoot(page, name, { fits: true });
const { wait, view, state, text } = pageWaits(() => page, 100);

/** Click a button that opens the confirm dialog, then confirm. */
async function confirmClick(sel) {
  await page.click(sel);
  await page.waitForSelector("#confirm[open]");
  await page.click("#confirm-ok");
  await wait(() => !document.getElementById("confirm").open);
}

async function newPage() {
  page = await openPage(browser);
}

async function signIn(token) {
  await page.goto(`${spec.console}admin`);
  await view("login");
  // keyboard only: focus is in the token field, Enter submits
  const focused = await page.evaluate(() => document.activeElement.id);
  expect(focused === "token", `the token field has focus, not ${focused}`);
  await page.keyboard.type(token);
  await page.keyboard.press("Enter");
}

async function single() {
  await newPage();
  // an S3 user's session: the admin page asks for the admin token
  await page.goto(spec.console);
  await view("login");
  await page.type("#ak", spec.key);
  await page.type("#sk", spec.secret);
  await page.click("#login-form button[type=submit]");
  await view("buckets");
  await page.goto(`${spec.console}admin`);
  await view("login");
  expect(/need the admin token/.test(await text("#login-error")), "the S3 session is told the admin token is needed");

  // a wrong token: refused in words
  await signIn("not-the-token");
  await wait(() => document.getElementById("login-error").textContent.includes("Wrong"));
  expect((await text("#login-error")) === "Wrong admin token.", "wrong token words");
  await shot("admin-1-sign-in");
  await signIn(spec.token);
  await view("cluster");
  await state("cluster-ready");
  const rows = await page.$$eval("#node-rows tr", (r) => r.map((x) => [x.dataset.node, x.dataset.state]));
  expect(rows.length === 1 && rows[0][1] === "live", `one live node: ${JSON.stringify(rows)}`);
  out.node = rows[0][0];
  expect(/Single node/.test(await text("#cluster-summary")), "single-node summary");
  await wait(() => document.querySelectorAll("#census dd").length > 0);

  // charts: points drawn from the node's metrics (the Rust side makes traffic)
  await wait(
    () => {
      const f = document.querySelector('figure[data-chart="rps"]');
      return f && Number(f.dataset.points) >= 3 && !/now – /.test(f.textContent) && f.querySelector(".now").textContent !== "0.00/s";
    },
    undefined,
    40_000,
  );
  out.chart_points = await page.$$eval("#charts figure", (f) => Object.fromEntries(f.map((x) => [x.dataset.chart, Number(x.dataset.points)])));
  for (const c of ["rps", "throughput", "errors", "p99", "bytes"]) expect(out.chart_points[c] >= 3, `chart ${c}: ${JSON.stringify(out.chart_points)}`);
  const poly = await page.$eval('figure[data-chart="rps"] polyline', (p) => p.getAttribute("points").split(" ").length);
  expect(poly >= 3, `the rps line has points: ${poly}`);
  out.chart_labels = await page.$$eval("#charts svg", (s) => s.map((x) => x.getAttribute("aria-label")));
  await shot("admin-2-cluster");

  // draining needs a cluster: no drain button on a single node
  expect((await page.$$(`tr[data-node="${out.node}"] button`)).length === 0, "no drain button on a single node");

  // access: a user and a key; its secret shown once
  await page.click("#tab-access");
  await view("access");
  await state("access-ready");
  await page.type("#user-name", "carol");
  await page.click("#new-user button[type=submit]");
  await wait(() => document.getElementById("user-detail").dataset.user === "carol" && !document.getElementById("user-detail").hidden);
  await page.type("#key-name", "phone");
  await page.click("#new-key button[type=submit]");
  await wait(() => !document.getElementById("secret-out").hidden && document.getElementById("new-secret").value.length > 0);
  out.key_id = await text("#new-key-id");
  out.key_secret = await page.$eval("#new-secret", (e) => e.value);
  await page.click("#copy-secret");
  await wait(() => document.getElementById("copy-secret").textContent === "Copied");
  await shot("admin-4-new-key");
  // a bad policy: the server's words; then a good one
  await page.type("#policy-name", "list");
  await page.type("#policy-text", '{"Version":"2012-10-17","Statement":[{"Effect":"Perhaps","Action":"s3:*","Resource":"*"}]}');
  await page.click("#policy-form button[type=submit]");
  await wait(() => document.getElementById("policy-error").textContent.length > 0);
  out.policy_error = await text("#policy-error");
  await shot("admin-5-policy-error");
  await page.$eval("#policy-text", (e) => (e.value = ""));
  await page.type(
    "#policy-text",
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}',
  );
  await page.click("#policy-form button[type=submit]");
  await wait(() => [...document.querySelectorAll("#policy-list button")].some((b) => b.textContent === "list"));
  expect((await text("#policy-error")) === "", "no error for the good policy");

  // reload: the secret is gone from the page
  await page.reload();
  await view("access");
  await state("access-ready");
  await page.click('tr[data-user="carol"] button');
  await wait((k) => !!document.querySelector(`tr[data-key="${k}"]`), out.key_id);
  const html = await page.content();
  expect(!html.includes(out.key_secret), "the secret is not in the page after a reload");
  expect(await page.$eval("#secret-out", (e) => e.hidden), "the secret box is hidden after a reload");

  // disable the key
  await confirmClick(`tr[data-key="${out.key_id}"] button`);
  await wait((k) => document.querySelector(`tr[data-key="${k}"]`)?.dataset.state === "disabled", out.key_id);
  await shot("admin-6-access");

  // a backend credential: create with scopes, rotate, revoke
  await page.type("#backend-name", "web-app");
  await page.click('#backend-scopes input[value="delete"]');
  await page.click("#new-backend button[type=submit]");
  await wait(() => !document.getElementById("backend-secret").hidden);
  const bid = await text("#backend-new-id");
  const first = await page.$eval("#backend-new-secret", (e) => e.value);
  const scopes = await page.$eval(`tr[data-backend="${bid}"] td:nth-child(3)`, (e) => e.textContent);
  expect(scopes.includes("delete") && scopes.includes("upload"), `scopes ${scopes}`);
  await confirmClick(`tr[data-backend="${bid}"] button`);
  await wait((s) => document.getElementById("backend-new-secret").value !== s, first);
  await confirmClick(`tr[data-backend="${bid}"] button.danger`);
  await wait((b) => document.querySelector(`tr[data-backend="${b}"]`)?.dataset.state === "revoked", bid);
  out.backend = bid;
  await shot("admin-7-backends");
}

async function cluster() {
  await newPage();
  await signIn(spec.token);
  await view("cluster");
  await state("cluster-ready");
  await wait(
    (ids) => ids.every((id) => document.querySelector(`tr[data-node="${id}"]`)?.dataset.state === "live"),
    spec.nodes,
  );
  out.rows = await page.$$eval("#node-rows tr", (r) => r.map((x) => [x.dataset.node, x.dataset.state]));
  expect(out.rows.length === spec.nodes.length, `every node listed: ${JSON.stringify(out.rows)}`);
  // the other nodes' consoles (their own charts) are linked
  const links = await page.$$eval('#node-rows a[href$="/admin"]', (a) => a.length);
  expect(links === spec.nodes.length - 1, `links to the other nodes' consoles: ${links}`);
  await wait(() => document.body.dataset.health === "healthy");
  // charts: this node (no S3 traffic), the whole cluster and the busy node
  // (the traffic goes to spec.busy), drawn from the nodes' own metrics
  const chartOf = async (node) => {
    await page.select("#chart-node", node);
    await wait(
      (node) => {
        const f = document.querySelector('figure[data-chart="rps"]');
        const now = f?.querySelector(".now").textContent;
        return document.getElementById("charts").dataset.node === node && now && now !== "–" && now !== "0.00/s";
      },
      node,
      40_000,
    );
    return page.evaluate(() => ({
      rps: document.querySelector('figure[data-chart="rps"] .now').textContent,
      nodes: document.getElementById("chart-nodes").textContent,
      points: Number(document.getElementById("charts").dataset.points),
    }));
  };
  out.chart_cluster = await chartOf("all");
  expect(/^3 nodes with data/.test(out.chart_cluster.nodes), `every node gave data: ${JSON.stringify(out.chart_cluster)}`);
  out.chart_busy = await chartOf(spec.busy);
  await page.select("#chart-node", "");
  await wait(() => document.getElementById("charts").dataset.node === "");
  out.chart_here = await page.$eval('figure[data-chart="rps"] .now', (e) => e.textContent);
  await page.select("#chart-node", "all");
  await wait(() => document.getElementById("charts").dataset.node === "all");
  await shot("cluster-1-three-nodes");
  // drain, then undrain, through the confirm dialog (keyboard: Enter confirms)
  const d = spec.kill;
  await confirmClick(`tr[data-node="${d}"] button`);
  await wait((n) => document.querySelector(`tr[data-node="${n}"]`)?.dataset.state === "draining", d);
  await wait((n) => /shards left/.test(document.querySelector(`tr[data-node="${n}"] .state`)?.textContent), d);
  out.drained_text = await text(`tr[data-node="${d}"] .state`);
  await shot("cluster-2-draining");
  await page.focus(`tr[data-node="${d}"] button`);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#confirm[open]");
  await page.focus("#confirm-ok");
  await page.keyboard.press("Enter");
  await wait((n) => document.querySelector(`tr[data-node="${n}"]`)?.dataset.state === "live", d);
  console.error("drain and undrain ok");
  // the Rust side kills a node now (timings from here on: the buffer holds 250)
  await page.evaluate(() => performance.clearResourceTimings());
  console.log(JSON.stringify({ phase: "kill" }));
  const rl = createInterface({ input: process.stdin });
  await new Promise((res) => rl.once("line", res));
  rl.close();
  const t0 = Date.now();
  await wait((id) => document.querySelector(`tr[data-node="${id}"]`)?.dataset.state === "down", spec.kill, 60_000);
  out.down_after_ms = Date.now() - t0;
  out.down_text = await text(`tr[data-node="${spec.kill}"] .state`);
  expect(/^down since /.test(out.down_text), `down in words: ${out.down_text}`);
  // the whole cluster's charts: the killed node is "no data", the others drawn
  await wait((id) => document.getElementById("chart-nodes").dataset.missing === id, spec.kill, 20_000);
  out.chart_nodes_after_kill = await text("#chart-nodes");
  expect(/no data/.test(out.chart_nodes_after_kill), `no data in words: ${out.chart_nodes_after_kill}`);
  // responsive: the charts requests stayed within the per-node deadline, and
  // the page answers at once
  out.slowest_charts_ms = await page.evaluate(() =>
    Math.round(Math.max(0, ...performance.getEntriesByType("resource").filter((e) => e.name.includes("/api/charts")).map((e) => e.duration))),
  );
  expect(out.slowest_charts_ms < 3000, `a charts request took ${out.slowest_charts_ms} ms`);
  const t2 = Date.now();
  await page.evaluate(() => document.getElementById("node-rows").childElementCount);
  out.page_answer_ms = Date.now() - t2;
  expect(out.page_answer_ms < 500, `the page answered in ${out.page_answer_ms} ms`);
  // the census: degraded (it refreshes every 10 s; the Verify button asks now)
  await page.click("#verify");
  await wait(() => document.body.dataset.health === "degraded", undefined, 30_000);
  await shot("cluster-3-node-down");
  // heal from the page; the census turns healthy again
  await confirmClick("#heal");
  const t1 = Date.now();
  await wait(() => /Heal done/.test(document.getElementById("notice").textContent), undefined, 60_000);
  // the node's own healer runs too (every 2 s after a 3 s grace): verify until healthy
  let healthy = false;
  while (!healthy && Date.now() - t1 < 90_000) {
    await page.click("#verify");
    await new Promise((r) => setTimeout(r, 2000));
    healthy = (await page.evaluate(() => document.body.dataset.health)) === "healthy";
  }
  out.healed = healthy;
  out.healthy_after_ms = Date.now() - t1;
  expect(healthy, "the census turned healthy after the heal");
  await shot("cluster-4-healed");
}

let failed = false;
try {
  await (spec.mode === "cluster" ? cluster() : single());
} catch (e) {
  failed = true;
  console.error(`cluster browser test FAILED: ${e.stack ?? e}`);
  if (page) {
    await page.screenshot({ path: `${spec.shots}/FAILED-${spec.mode}.png`, fullPage: true }).catch(() => {});
    console.error(`notice: ${await text("#notice").catch(() => "?")}`);
  }
}
await browser.close();
stopBudget();
if (problems.length) {
  console.error(problems.join("\n"));
  failed = true;
}
out.ok = !failed;
console.log(JSON.stringify(out));
process.exit(failed ? 1 : 0);
