// Drives the console in headless Chromium (Debian's /usr/bin/chromium through playwright-core)
// against a real certfleetd, for test_console.py. Reads one JSON document on stdin:
//   {base, ui_node_modules, out_dir, admin_token, auditor_token, expect: {...}}
// and prints one JSON line: {"checks": [...], "failures": [...], "timings": {...},
// "screenshots": [...]}. Every check is recorded; a failed step does not hide the next ones.
import { createRequire } from "node:module";
import { createServer } from "node:http";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const cfg = JSON.parse(readFileSync(0, "utf8"));
const require = createRequire(join(cfg.ui_node_modules, "playwright-core", "package.json"));
const { chromium } = require("playwright-core");
const E = cfg.expect;
const STEP_TIMEOUT_MS = 15000;

const checks = [];
const failures = [];
const timings = {};
const screenshots = [];
const cspViolations = [];

function check(name, ok, detail) {
  checks.push(name);
  if (!ok) failures.push(`${name}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
  return ok;
}

async function step(name, fn) {
  try {
    await fn();
  } catch (e) {
    failures.push(`${name}: ${e && e.stack ? e.stack.split("\n").slice(0, 3).join(" | ") : e}`);
  }
}

const ui = (hash = "") => `${cfg.base}/ui/${hash ? `#/${hash}` : ""}`;

async function ready(page, name) {
  await page.waitForSelector(`main[data-page="${name}"][data-state="ready"], main[data-state="error"]`,
    { timeout: STEP_TIMEOUT_MS });
  const state = await page.getAttribute("main", "data-state");
  if (state !== "ready") {
    const err = await page.textContent("main .error").catch(() => "");
    throw new Error(`page ${name} ended in state ${state}: ${err}`);
  }
}

// A PNG of the page: the whole page, or only the first screen for long tables.
async function shot(page, name, fullPage = true) {
  const path = join(cfg.out_dir, `${name}.png`);
  await page.screenshot({ path, fullPage });
  screenshots.push(path);
}

async function text(page, selector) {
  return ((await page.textContent(selector, { timeout: STEP_TIMEOUT_MS })) || "").trim();
}

async function login(page, token) {
  await page.goto(ui());
  await page.waitForSelector("#login", { timeout: STEP_TIMEOUT_MS });
  await page.fill("#token", token);
  await page.click("#login-submit");
  await ready(page, "dashboard");
}

// A fetch from inside the logged-in page (same origin, the session cookie attached).
function pageFetch(page, method, path, headers = {}, body = "{}") {
  return page.evaluate(async ([m, p, h, b]) => {
    const r = await fetch(p, { method: m, headers: { "Content-Type": "application/json", ...h },
      body: m === "GET" || m === "DELETE" ? undefined : b, credentials: "same-origin" });
    return { status: r.status, body: await r.text() };
  }, [method, path, headers, body]);
}

async function csrfToken(page) {
  const r = await pageFetch(page, "GET", "/v1/session");
  return r.status === 200 ? JSON.parse(r.body).csrf_token : null;
}

async function rowCount(page, selector) {
  return page.locator(selector).count();
}

mkdirSync(cfg.out_dir, { recursive: true });
const browser = await chromium.launch({
  executablePath: cfg.chromium || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const newContext = async () => {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 860 } });
  ctx.setDefaultTimeout(STEP_TIMEOUT_MS);
  const page = await ctx.newPage();
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  page.on("pageerror", (e) => failures.push(`page error: ${e.message}`));
  return [ctx, page];
};

const [adminCtx, page] = await newContext();
try {
  await step("login", async () => {
    await page.goto(ui("certificates"));
    await page.waitForSelector("#login", { timeout: STEP_TIMEOUT_MS });
    check("no session shows the login view", true);
    await shot(page, "login");
    await page.fill("#token", "cft_not-a-real-token");
    await page.click("#login-submit");
    await page.waitForSelector("#login-error .error", { timeout: STEP_TIMEOUT_MS });
    check("a wrong token is refused on the login view",
      (await text(page, "#login-error")).length > 0, "no error shown");
    await page.fill("#token", cfg.admin_token);
    await page.click("#login-submit");
    await ready(page, "certificates"); // the route asked for before logging in
    check("login as admin", (await text(page, "#who")).includes("admin"), await text(page, "#who"));
  });

  await step("dashboard", async () => {
    // First paint of the dashboard: a fresh navigation with the session cookie, timed from the
    // navigation's start to the moment the page has drawn its counts and chart.
    // E.dashboard_loads (default 1) navigations; the first one's figures are reported alone.
    const all = [];
    for (let n = 0; n < (E.dashboard_loads || 1); n++) {
      await page.goto("about:blank");
      await page.goto(ui());
      await ready(page, "dashboard");
      all.push(await page.evaluate(() => {
        const mark = performance.getEntriesByName("dashboard-rendered")[0];
        const fcp = performance.getEntriesByName("first-contentful-paint")[0];
        return { rendered: mark ? mark.startTime : null, fcp: fcp ? fcp.startTime : null };
      }));
    }
    timings.dashboard_rendered_ms = all[0].rendered;
    timings.dashboard_first_contentful_paint_ms = all[0].fcp;
    if (all.length > 1) timings.dashboard_rendered_all_ms = all.map((t) => t.rendered);
    check("dashboard: total", (await text(page, "#count-total")) === String(E.total),
      await text(page, "#count-total"));
    for (const [status, n] of Object.entries(E.by_status)) {
      check(`dashboard: ${status}`, (await text(page, `#count-${status}`)) === String(n),
        `${await text(page, `#count-${status}`)} != ${n}`);
    }
    check("dashboard: expiring < 7 days", (await text(page, "#count-lt7")) === String(E.lt_7d),
      await text(page, "#count-lt7"));
    const online = Number(await text(page, "#count-agents-online"));
    const offline = Number(await text(page, "#count-agents-offline"));
    check("dashboard: agents online + offline", online + offline === E.agents,
      { online, offline });
    check("dashboard: failed deployments",
      Number(await text(page, "#count-deployments-failed")) === E.deployments_failed,
      await text(page, "#count-deployments-failed"));
    const bars = await page.evaluate(() => {
      const c = document.getElementById("expiry-chart");
      return c ? { w: c.width, h: c.height } : null;
    });
    check("dashboard: the expiry chart is drawn", bars && bars.w > 0 && bars.h > 0, bars);
    if (!cfg.measure_only) {
      // The trail's newest records, newest first (reading the trail now may itself have added
      // a record or two on top).
      const shown = await page.locator("#recent-events tbody tr td:nth-child(3)").allTextContents();
      const trail = [];
      for (let cursor = ""; ;) {
        const q = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
        const doc = JSON.parse((await pageFetch(page, "GET", `/v1/audit?limit=1000${q}`)).body);
        trail.push(...doc.items);
        if (!doc.next_cursor) break;
        cursor = doc.next_cursor;
      }
      const rev = trail.map((e) => e.action).reverse();
      const at = [0, 1, 2, 3].some((k) => JSON.stringify(rev.slice(k, k + shown.length)) === JSON.stringify(shown));
      check("dashboard: recent events, newest first", shown.length === 8 && at,
        { shown, trail: rev.slice(0, 10) });
    }
    await shot(page, "dashboard");
  });

  await step("certificates", async () => {
    await page.goto(ui("certificates"));
    await ready(page, "certificates");
    const first = await rowCount(page, "#cert-table tbody tr.link");
    check("certificates: first page is full", first === E.page_size, first);
    const loads = [];
    const measure = async (action) => {
      await page.evaluate(() => performance.clearMeasures("certs-page"));
      await action();
      await page.waitForFunction(() => performance.getEntriesByName("certs-page").length > 0,
        null, { timeout: STEP_TIMEOUT_MS });
      loads.push(await page.evaluate(() => performance.getEntriesByName("certs-page")[0].duration));
    };
    await shot(page, "certificates", false);
    // Forward through E.page_clicks pages (1 unless measuring), then back one.
    const rowsOf = (n) => Math.min(E.page_size, E.total - (n - 1) * E.page_size);
    const clicks = E.page_clicks || 1;
    for (let n = 2; n <= clicks + 1; n++) await measure(() => page.click("#page-next"));
    const shown = await rowCount(page, "#cert-table tbody tr.link");
    check("certificates: the next pages", shown === rowsOf(clicks + 1), shown);
    check("certificates: page label", (await text(page, "#page-label")) === `page ${clicks + 1}`,
      await text(page, "#page-label"));
    check("certificates: Next only while more exist",
      (await page.isDisabled("#page-next")) === (E.total <= (clicks + 1) * E.page_size), "");
    await measure(() => page.click("#page-prev"));
    check("certificates: back a page",
      (await rowCount(page, "#cert-table tbody tr.link")) === rowsOf(clicks), "row count");
    timings.cert_page_load_ms = loads;
    // Filters: status, domain substring, tag.
    await page.selectOption("#f-status", "revoked");
    await page.click("#f-apply");
    await page.waitForFunction(() => location.hash.includes("status=revoked"));
    await ready(page, "certificates");
    check("certificates: status filter",
      (await rowCount(page, "#cert-table tbody tr.link")) === Math.min(E.page_size, E.by_status.revoked),
      await rowCount(page, "#cert-table tbody tr.link"));
    await page.goto(ui(`certificates?domain=${encodeURIComponent(E.domain_filter)}`));
    await ready(page, "certificates");
    check("certificates: domain filter", (await rowCount(page, "#cert-table tbody tr.link")) === E.domain_matches,
      await rowCount(page, "#cert-table tbody tr.link"));
    await page.goto(ui(`certificates?tag=${encodeURIComponent(E.tag_filter)}&sort=not_after`));
    await ready(page, "certificates");
    check("certificates: tag filter", (await rowCount(page, "#cert-table tbody tr.link")) === E.tag_matches,
      await rowCount(page, "#cert-table tbody tr.link"));
    const names = await page.locator("#cert-table tbody tr.link td.name").allTextContents();
    check("certificates: sorted by expiry, soonest first", names[0] === E.soonest_tagged, names);
  });

  if (!cfg.measure_only) {
    await step("deployments", async () => {
      await page.goto(ui("deployments"));
      await ready(page, "deployments");
      const failing = page.locator(`tr.target[data-agent="${E.failing_agent}"]`);
      check("deployments: the failing host is listed", (await failing.count()) >= 1, "missing");
      const state = (await failing.first().locator("td .badge").textContent()).trim();
      check("deployments: the failing host's state", ["failed", "rolled_back"].includes(state), state);
      const reason = (await failing.first().locator("td.reason").textContent()).trim();
      check("deployments: the failing host's error", reason.length > 0 && reason === E.failing_reason,
        { shown: reason, expected: E.failing_reason });
      const ok = page.locator(`tr.target[data-agent="${E.ok_agent}"] td .badge`);
      check("deployments: the healthy host verified", (await ok.first().textContent()).trim() === "verified",
        await ok.first().textContent());
      await shot(page, "deployments");
    });

    await step("agents", async () => {
      await page.goto(ui("agents"));
      await ready(page, "agents");
      const rows = await page.locator("#agents tbody tr.link").evaluateAll(
        (trs) => trs.map((r) => [r.dataset.id, r.dataset.host]));
      check("agents: both agents with their hosts",
        JSON.stringify(rows.sort()) === JSON.stringify(Object.entries(E.hosts).sort()), rows);
      const online = await page.locator("#agents .badge-online").count();
      check("agents: online now", online === Object.keys(E.hosts).length, online);
      await page.click(`#agents tr.link[data-id="${E.ok_agent}"]`);
      await page.waitForSelector("#agents tr.detail:not([hidden]) tbody tr td a", { timeout: STEP_TIMEOUT_MS });
      check("agents: what is installed on the healthy host",
        (await text(page, "#agents tr.detail:not([hidden]) tbody tr td a")) === E.deployed_name, "");
      await shot(page, "agents");
    });

    await step("certificate detail and renew", async () => {
      await page.goto(ui("certificates"));
      await ready(page, "certificates");
      await page.goto(ui(`certificates/${E.deployed_id}`));
      await ready(page, "certificate");
      await shot(page, "certificate");
      check("detail: current version before renew", (await text(page, "#current-version")) === "1",
        await text(page, "#current-version"));
      const placed = await page.locator("#placements tbody tr").evaluateAll(
        (rows) => rows.map((r) => r.dataset.agent));
      check("detail: placement on the healthy host", placed.includes(E.ok_agent), placed);
      check("detail: the deployment is listed",
        (await rowCount(page, "#cert-deployments tbody tr")) >= 1, "no deployment rows");
      await page.click("#action-renew");
      await page.waitForFunction(() => document.getElementById("current-version")?.textContent === "2",
        null, { timeout: STEP_TIMEOUT_MS });
      const versions = await page.locator("#versions tbody tr").evaluateAll(
        (rows) => rows.map((r) => r.dataset.version));
      check("detail: every version, the renewed one first",
        JSON.stringify(versions) === JSON.stringify(["2", "1"]), versions);
      await shot(page, "certificate-renewed");
    });

    await step("revoke with confirmation", async () => {
      await page.goto(ui(`certificates/${E.revoke_id}`));
      await ready(page, "certificate");
      await page.click("#action-revoke");
      check("revoke: asks for confirmation", await page.isVisible("#revoke-confirm"), "hidden");
      await page.click("#revoke-no");
      check("revoke: cancel hides it", !(await page.isVisible("#revoke-confirm")), "visible");
      await page.click("#action-revoke");
      await page.selectOption("#revoke-reason", "superseded");
      await page.click("#revoke-yes");
      await page.waitForSelector("main h1 .badge-revoked", { timeout: STEP_TIMEOUT_MS });
      check("revoke: the certificate shows revoked", true);
      check("revoke: no actions on a revoked certificate",
        (await rowCount(page, "#action-renew")) + (await rowCount(page, "#action-revoke")) === 0,
        "buttons still shown");
    });

    await step("request and bulk renew", async () => {
      await page.goto(ui("certificates"));
      await ready(page, "certificates");
      await page.click("#request-open");
      await page.fill("#req-name", "console-made");
      await page.fill("#req-domains", "console-made.example.test");
      await page.fill("#req-tags", "env=dev, made=console");
      await page.click("#request-submit");
      await ready(page, "certificate");
      check("request: the new certificate opens", (await text(page, "main h1")).startsWith("console-made"),
        await text(page, "main h1"));
      await page.goto(ui(`certificates?domain=${encodeURIComponent(E.domain_filter)}`));
      await ready(page, "certificates");
      const boxes = page.locator("#cert-table input.pick-box:not([disabled])");
      const ids = [await boxes.nth(0).getAttribute("value"), await boxes.nth(1).getAttribute("value")];
      await boxes.nth(0).check();
      await boxes.nth(1).check();
      check("bulk renew: counts the ticked rows", (await text(page, "#bulk-renew")) === "Renew selected (2)",
        await text(page, "#bulk-renew"));
      await page.click("#bulk-renew");
      await page.waitForSelector("#bulk-result");
      check("bulk renew: both renewed", (await text(page, "#bulk-result")) === "Renewed 2 of 2.",
        await text(page, "#bulk-result"));
      for (const id of ids) {
        const r = await pageFetch(page, "GET", `/v1/certificates/${id}`);
        check(`bulk renew: ${id} is at version 2`, JSON.parse(r.body).version === 2, r.body);
      }
      await page.goto(ui(`certificates/${E.deployed_id}`));
      await ready(page, "certificate");
      check("deploy: offered for the exportable certificate", await page.isVisible("#deploy-open"), "");
    });

    await step("audit", async () => {
      await page.goto(ui("audit"));
      await ready(page, "audit");
      check("audit: the chain verifies", (await text(page, "#audit-verify")).startsWith("Chain verified"),
        await text(page, "#audit-verify"));
      await shot(page, "audit", false);
      await page.fill("#a-resource", E.deployed_id);
      await page.click("#a-apply");
      await page.waitForFunction(() => location.hash.includes("resource="));
      await ready(page, "audit");
      const actions = await page.locator("#audit-table tbody tr td:nth-child(4)").allTextContents();
      check("audit: filtered by resource shows the renewal", actions.includes("certificate.renew"), actions);
    });

    await step("reports", async () => {
      await page.goto(ui("reports"));
      await ready(page, "reports");
      const names = await page.locator("#report-certs tbody tr td:nth-child(3)").allTextContents();
      check("reports: the exported certificate", names.includes(E.exported_name), names);
      await shot(page, "reports");
    });

    await step("csrf", async () => {
      // Same origin, with the cookie, but without X-CSRF-Token: refused.
      const forged = await pageFetch(page, "POST", `/v1/certificates/${E.deployed_id}/renew`);
      check("csrf: a POST without X-CSRF-Token is refused", forged.status === 403, forged);
      // A page on another origin posts a form to the API: the cookie is SameSite=Strict and the
      // form carries no token, so nothing changes.
      const evil = createServer((req, res) => {
        res.writeHead(200, { "Content-Type": "text/html" });
        res.end(`<form id="f" method="POST" enctype="text/plain" action="${cfg.base}/v1/certificates/${E.deployed_id}/renew">`
          + `<input name='{"a":"' value='"}'></form>`);
      });
      await new Promise((r) => evil.listen(0, "127.0.0.1", r));
      const evilPage = await adminCtx.newPage();
      try {
        await evilPage.goto(`http://localhost:${evil.address().port}/`);
        const [resp] = await Promise.all([
          evilPage.waitForResponse((r) => r.url().includes("/renew"), { timeout: STEP_TIMEOUT_MS }),
          evilPage.evaluate(() => document.getElementById("f").submit()),
        ]);
        check("csrf: a cross-site form POST is refused", resp.status() === 401 || resp.status() === 403,
          resp.status());
      } finally {
        await evilPage.close();
        evil.close();
      }
      const cert = await pageFetch(page, "GET", `/v1/certificates/${E.deployed_id}`);
      check("csrf: the certificate was not renewed by them", JSON.parse(cert.body).version === 2, cert.body);
      const token = await csrfToken(page);
      const good = await pageFetch(page, "GET", `/v1/certificates/${E.deployed_id}`, { "X-CSRF-Token": token });
      check("csrf: the console's own requests pass", good.status === 200, good.status);
    });

    await step("auditor", async () => {
      const [ctx, apage] = await newContext();
      try {
        await login(apage, cfg.auditor_token);
        check("auditor: logged in", (await text(apage, "#who")).includes("auditor"), await text(apage, "#who"));
        await apage.goto(ui(`certificates/${E.deployed_id}`));
        await ready(apage, "certificate");
        const buttons = await apage.locator("#actions button, #action-renew, #action-revoke, #deploy-open").count();
        check("auditor: no action buttons", buttons === 0, buttons);
        await apage.goto(ui("certificates"));
        await ready(apage, "certificates");
        check("auditor: no request, no bulk renew, no row ticks",
          (await apage.locator("#request-open, input.pick-box").count()) === 0
          && !(await apage.isVisible("#bulk-renew")), "offered");
        await shot(apage, "certificate-auditor", false);
        const token = await csrfToken(apage);
        const r = await pageFetch(apage, "POST", `/v1/certificates/${E.deployed_id}/renew`,
          { "X-CSRF-Token": token });
        check("auditor: the API refuses a renew anyway", r.status === 403, r);
      } finally {
        await ctx.close();
      }
    });

    await step("session end", async () => {
      // The session is ended behind the console's back (DELETE /v1/session from the page, as
      // another tab would): the next navigation shows the login view.
      const token = await csrfToken(page);
      const del = await pageFetch(page, "DELETE", "/v1/session", { "X-CSRF-Token": token });
      check("session: DELETE /v1/session", del.status === 204, del);
      await page.evaluate(() => { location.hash = "#/agents"; });
      await page.waitForSelector("#login", { timeout: STEP_TIMEOUT_MS });
      check("session: an ended session goes back to the login", true);
      const after = await pageFetch(page, "GET", "/v1/certificates");
      check("session: the cookie no longer works", after.status === 401, after.status);
      // The logout button ends the session on the server too.
      await page.fill("#token", cfg.admin_token);
      await page.click("#login-submit");
      await ready(page, "agents");
      await page.click("#logout");
      await page.waitForSelector("#login", { timeout: STEP_TIMEOUT_MS });
      const s = await pageFetch(page, "GET", "/v1/session");
      check("session: log out ends it on the server", s.status === 401, s.status);
    });

  }
  if (cfg.clock_file) {
    await step("session expiry", async () => {
      // Log in again, then move the server's test clock past the session's 8-hour lifetime
      // (certfleetd --test-clock-file, re-read every 50 ms): the next request is a 401 and the
      // console shows the login.
      await page.fill("#token", cfg.admin_token);
      await page.click("#login-submit");
      await ready(page, "agents");
      const tmp = `${cfg.clock_file}.tmp`;
      writeFileSync(tmp, `${9 * 3600}\n`);
      renameSync(tmp, cfg.clock_file); // the server never reads half a number
      const deadline = Date.now() + STEP_TIMEOUT_MS;
      let status = 200;
      while (status !== 401 && Date.now() < deadline) {
        status = (await pageFetch(page, "GET", "/v1/certificates?limit=1")).status;
      }
      check("session expiry: the session ends on the server's clock", status === 401, status);
      await page.evaluate(() => { location.hash = "#/certificates"; });
      await page.waitForSelector("#login", { timeout: STEP_TIMEOUT_MS });
      check("session expiry: an expired session goes back to the login", true);
    });
  }

  check("no Content-Security-Policy violations", cspViolations.length === 0, cspViolations);
} finally {
  await browser.close();
}
console.log(JSON.stringify({ checks, failures, timings, screenshots }));
