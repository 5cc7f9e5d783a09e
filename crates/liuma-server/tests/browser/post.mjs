// A browser-based upload (S3 POST Object) in Debian's headless Chromium
// (puppeteer-core, the system browser: nothing is downloaded). Started by
// crates/liuma-server/tests/it/post_object.rs, which writes a page holding a
// form whose fields come from a signed POST policy, and the file to pick.
//
// Usage: node post.mjs '<spec JSON>'
//   spec: {page, chromium, shots, file, timeout_ms}
// Opens the page, picks the file with the file input, submits the form and
// prints {status, body} of the page the browser lands on (the 201
// PostResponse document) as JSON on stdout.
import { spec, budget, launch, newPage } from "./lib.mjs";

const stopBudget = budget("browser test");
const browser = await launch();
let code = 0;
try {
  const page = await newPage(browser, { width: 900, height: 600 });
  await page.goto(spec.page);
  await page.screenshot({ path: `${spec.shots}/form.png` });
  const input = await page.$("input[type=file]");
  await input.uploadFile(spec.file);
  const [resp] = await Promise.all([
    page.waitForNavigation({ timeout: 60_000 }),
    page.click("#submit"),
  ]);
  const body = await page.content();
  await page.screenshot({ path: `${spec.shots}/response.png`, fullPage: true });
  process.stdout.write(JSON.stringify({ status: resp ? resp.status() : 0, body }));
} catch (e) {
  console.error(`browser test failed: ${e.stack || e}`);
  code = 1;
} finally {
  stopBudget();
  await browser.close();
}
process.exit(code);
