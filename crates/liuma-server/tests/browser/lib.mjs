// What the browser scripts share (console.mjs, objects.mjs, cluster.mjs,
// post.mjs, run.mjs): the spec from argv, the time budget, Debian's
// Chromium launched through puppeteer-core (nothing downloaded), pages that
// log their errors, screenshots at desktop and phone width, and waits on
// the page's data-* attributes. The Rust drivers' shared half is
// crates/liuma-server/tests/it/browser_common.rs.
import puppeteer from "puppeteer-core";
import { mkdirSync } from "node:fs";

export const DESKTOP = { width: 1280, height: 900 };
// width only: isMobile/hasTouch would make puppeteer reload the page
export const PHONE = { width: 390, height: 844 };

/** The script's spec (argv[2], JSON); its screenshots directory made. */
export const spec = JSON.parse(process.argv[2]);
mkdirSync(spec.shots, { recursive: true });

/** Errors the pages threw (checked at the end by each script). */
export const problems = [];

/** End the script (exit 2) when it runs over spec.timeout_ms. */
export function budget(name) {
  const timer = setTimeout(() => {
    console.error(`${name}: over the ${spec.timeout_ms} ms budget`);
    process.exit(2);
  }, spec.timeout_ms);
  return () => clearTimeout(timer);
}

/** Debian's Chromium, headless; `extra` arguments added. */
export function launch(extra = []) {
  return puppeteer.launch({
    executablePath: spec.chromium,
    headless: true,
    // root in a container: no sandbox; /dev/shm may be small
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run", ...extra],
  });
}

export function expect(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

export const log = (m) => console.error(`[${(performance.now() / 1000).toFixed(1)} s] ${m}`);

/** A page at desktop width whose thrown errors go to `problems` and console errors to stderr. */
export async function newPage(browser, viewport = DESKTOP) {
  const page = await browser.newPage();
  await page.setViewport(viewport);
  page.on("pageerror", (e) => problems.push(`page error: ${e}`));
  page.on("console", (m) => {
    if (m.type() === "error") console.error(`[page console] ${m.text()}`);
  });
  return page;
}

/**
 * Screenshots `<shots>/<prefix><name>-desktop.png` and `-phone.png` (the
 * whole page unless `full` is false: long listings take the viewport);
 * `fits`: fail when anything in <main> is wider than the phone's screen.
 */
export async function shot(page, name, { prefix = "", fits = false, full = true } = {}) {
  // a driver may empty the directory when it starts (maybe while we run)
  mkdirSync(spec.shots, { recursive: true });
  for (const [label, vp] of [
    ["desktop", DESKTOP],
    ["phone", PHONE],
  ]) {
    await page.setViewport(vp);
    if (label === "phone" && fits) {
      await new Promise((r) => setTimeout(r, 150));
      const over = await page.evaluate(() => {
        const w = document.documentElement.clientWidth;
        const wide = [...document.querySelectorAll("main, main *")]
          .filter((e) => e.getBoundingClientRect().right > w + 0.5 && !e.parentElement.closest(".scroll"))
          .slice(0, 5)
          .map((e) => `${e.tagName}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`);
        return { w, scroll: document.documentElement.scrollWidth, wide };
      });
      expect(over.scroll <= over.w, `${name}: page wider than ${PHONE.width} px: ${JSON.stringify(over)}`);
    }
    await page.screenshot({ path: `${spec.shots}/${prefix}${name}-${label}.png`, fullPage: full });
  }
  await page.setViewport(DESKTOP);
}

/**
 * Waits on the page `current()` gives (scripts replace their page): a
 * function to be true, body[data-state], body[data-view], an element's text.
 */
export function pageWaits(current, polling = 50) {
  const wait = (f, arg, timeout = 30_000) => current().waitForFunction(f, { timeout, polling }, arg);
  return {
    wait,
    state: (s, timeout) => wait((s) => document.body.dataset.state === s, s, timeout),
    view: (v, timeout) => wait((v) => document.body.dataset.view === v, v, timeout),
    text: (sel) => current().$eval(sel, (e) => e.textContent),
  };
}
