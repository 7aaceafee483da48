// The whole marketplace flow in a real browser (Debian's chromium driven by playwright-core)
// against a real `tollgate serve --demo`: a seller signs up and onboards on the hosted page,
// a buyer pays, the seller's dashboard updates from the events subscription, the simulated
// clock moves and the payout appears. Needs the built app (dist/) and TOLLGATE_BIN.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, extname, join, normalize, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = dirname(fileURLToPath(import.meta.url));
const DIST = resolve(HERE, "../dist");
const REPO = resolve(HERE, "../../..");
const BINARY = process.env.TOLLGATE_BIN ?? join(REPO, "target/debug/tollgate");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
/** How long the server may take to print its address, and the page to show a value. */
const STARTUP_TIMEOUT_MS = 30_000;
const UI_TIMEOUT_MS = 15_000;
/** How much of the server's log a failure prints. */
const LOG_TAIL_CHARS = 4_000;
const CONTENT_TYPES = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".css": "text/css",
};

/** Serves dist/ on a free port; returns its origin and a close function. */
async function serveApp() {
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://app").pathname;
    const file = normalize(join(DIST, path === "/" ? "index.html" : path));
    if (!file.startsWith(DIST) || !existsSync(file)) {
      response.writeHead(404).end();
      return;
    }
    const type = CONTENT_TYPES[extname(file)] ?? "application/octet-stream";
    response.writeHead(200, { "Content-Type": type }).end(readFileSync(file));
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address();
  return { origin: `http://127.0.0.1:${port}`, close: () => server.close() };
}

/**
 * Starts `tollgate serve --demo` on a free port. `ready` resolves to its URL and demo key,
 * read from stdout; `stop` ends it (also when it never became ready).
 */
function startTollgate(data, appOrigin) {
  const server = spawn(
    BINARY,
    ["serve", "--demo", "--listen", "127.0.0.1:0", "--data", data,
      "--policies", join(REPO, "policies"), "--cors-origin", appOrigin],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  server.stderr.on("data", (chunk) => (stderr += chunk));
  const ready = new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`tollgate did not start:\n${stderr}`)), STARTUP_TIMEOUT_MS);
    server.on("error", (error) => fail(error));
    server.on("exit", (code) => fail(new Error(`tollgate exited (${code}):\n${stderr}`)));
    server.stdout.on("data", (chunk) => {
      stdout += chunk;
      const url = /^tollgate listening on (\S+)$/m.exec(stdout)?.[1];
      const key = /^demo platform secret key: (\S+)$/m.exec(stdout)?.[1];
      if (url && key) {
        clearTimeout(timer);
        done({ url, key });
      }
    });
  });
  return { ready, stop: () => server.kill(), logs: () => stderr };
}

/** Waits until the element's text is exactly `expected`, failing with what it showed. */
async function expectText(page, selector, expected) {
  const deadline = Date.now() + UI_TIMEOUT_MS;
  let shown;
  while (Date.now() < deadline) {
    shown = (await page.locator(selector).textContent())?.trim();
    if (shown === expected) return;
    await page.waitForTimeout(50);
  }
  const error = await page.locator("#error").textContent();
  assert.fail(`${selector} shows ${JSON.stringify(shown)}, expected ${JSON.stringify(expected)} (page error: ${error})`);
}

test("a seller onboards, a buyer pays, the seller sees the balance and the payout live", async (context) => {
  assert.ok(existsSync(join(DIST, "index.html")), "build the app first: npm run build");
  assert.ok(existsSync(BINARY), `no tollgate binary at ${BINARY} (set TOLLGATE_BIN)`);
  const data = mkdtempSync(join(tmpdir(), "tollgate-marketplace-"));
  const app = await serveApp();
  const server = startTollgate(join(data, "store"), app.origin);
  let browser;
  context.after(async () => {
    await browser?.close();
    server.stop();
    app.close();
    rmSync(data, { recursive: true, force: true });
  });
  const tollgate = await server.ready;
  browser = await chromium.launch({ executablePath: CHROMIUM });
  try {
    await clickThrough(await browser.newPage(), app.origin, tollgate);
  } catch (error) {
    // The server's log (stderr) says what the page could not.
    console.error(`tollgate's log, last part:\n${server.logs().slice(-LOG_TAIL_CHARS)}`);
    throw error;
  }
});

async function clickThrough(page, appOrigin, tollgate) {
  const problems = [];
  page.on("pageerror", (error) => problems.push(error.message));

  await page.goto(appOrigin);
  await page.fill("#server-url", tollgate.url);
  await page.fill("#api-key", tollgate.key);
  await page.click("#save-connection");

  // The seller signs up: an EXPRESS account, not yet able to take charges.
  await page.click("#sign-up");
  await page.waitForFunction(() => document.getElementById("seller-id")?.textContent?.startsWith("acct_"));
  const seller = (await page.textContent("#seller-id")).trim();
  await expectText(page, "#charges-enabled", "no");
  await expectText(page, "#live-status", "(live)");
  assert.equal(await page.isDisabled("#pay"), true);

  // Onboarding on tollgate's hosted page, with the simulated processor's test values.
  await page.click("#onboard");
  await page.waitForURL(`${tollgate.url}/onboarding/**`);
  assert.match(await page.textContent("h1"), /Set up your account/);
  for (const [name, value] of [
    ["individual.firstName", "Jenny"],
    ["individual.lastName", "Rosen"],
    ["individual.dobDay", "1"],
    ["individual.dobMonth", "1"],
    ["individual.dobYear", "1990"],
    ["individual.ssnLast4", "0000"],
    ["individual.address.line1", "510 Townsend St"],
    ["individual.address.city", "San Francisco"],
    ["individual.address.postalCode", "94103"],
    ["businessUrl", "https://jenny.example"],
    ["mcc", "5734"],
    ["accountNumber", "000123456789"],
    ["routingNumber", "110000000"],
  ]) {
    await page.fill(`input[name="${name}"]`, value);
  }
  await page.check('input[name="tosAcceptance"]');
  await page.click('button[type="submit"]');
  await page.waitForURL(`${appOrigin}/`);
  assert.equal((await page.textContent("#seller-id")).trim(), seller);
  await expectText(page, "#onboarding-status", "Onboarding complete: the seller can be paid.");
  await expectText(page, "#charges-enabled", "yes");
  await expectText(page, "#payouts-enabled", "yes");
  await expectText(page, "#payout-schedule", "weekly on monday, 2-day delay");

  // The demo platform's policy (marketplace.rhai) takes 5% + 30 cents: 530 of 10000.
  await expectText(page, "#policy-name", "marketplace");
  await expectText(page, "#fee-preview", "5.30");
  await expectText(page, "#seller-share", "94.70");
  await expectText(page, "#available", "0.00");
  await expectText(page, "#pending", "0.00");
  await page.click("#pay");
  await page.waitForFunction(() => document.getElementById("receipt")?.textContent?.startsWith("Paid"));
  assert.match(
    await page.textContent("#receipt"),
    /^Paid 100\.00 USD \(ch_\w+, SUCCEEDED\): fee 5\.30 by policy marketplace, 94\.70 to the seller\.$/,
  );
  // Only the subscription refreshes the dashboard: the seller's share is pending.
  await expectText(page, "#pending", "94.70");
  await expectText(page, "#available", "0.00");
  assert.equal(await page.locator("#payouts tr").count(), 0);

  // Two weeks on: the hold ends, the weekly payout takes everything available and arrives.
  await page.fill("#advance-days", "14");
  await page.click("#advance-clock");
  await expectText(page, "#payouts tr td:nth-child(3)", "PAID");
  await expectText(page, "#payouts tr td:nth-child(2)", "94.70 USD");
  assert.equal(await page.locator("#payouts tr").count(), 1);
  await expectText(page, "#available", "0.00");
  await expectText(page, "#pending", "0.00");
  const logged = await page.locator("#event-log li").allTextContents();
  assert.ok(logged.some((line) => line.endsWith(" payout.paid")), logged.join("\n"));
  assert.deepEqual(problems, []);
}
