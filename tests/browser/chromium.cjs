// The Chromium the browser scripts launch (tests/browser/*.cjs): Debian's,
// headless, with nothing that would call Google, and everything not on loopback sent to the
// test's proxy trap; and what every script does around its own checks (browserRun).
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

/**
 * Options for `chromium.launchPersistentContext`, with `proxyTrap` (127.0.0.1:PORT; a test
 * that gives none relies on the routes of browserRun and the resolver rules alone).
 */
function launchOptions(proxyTrap) {
  return {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Playwright's own list (one --disable-features wins over another, so it is repeated
      // here) and the services that would call Google: autofill's form queries, network
      // time, translation, on-device models.
      `--disable-features=${[
        'AvoidUnnecessaryBeforeUnloadCheckSync',
        'DestroyProfileOnBrowserClose',
        'HttpsUpgrades',
        'HttpsFirstBalancedModeAutoEnable',
        'LensOverlay',
        'MediaRouter',
        'PaintHolding',
        'ThirdPartyStoragePartitioning',
        'AvoidCorsURLLoaderRestartOnRedirect',
        'OptimizationHints',
        'NetworkTimeServiceQuerying',
        'AimEnabled',
        'PreconnectToSearch',
        'AutofillServerCommunication',
        'Translate',
        'OptimizationGuideOnDeviceModel',
      ].join(',')}`,
      // Belt and braces: anything not on loopback goes to the test's trap (which records
      // and drops it), and no name resolves but the server's address.
      ...(proxyTrap ? [`--proxy-server=http://${proxyTrap}`] : []),
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    ],
    viewport: { width: 1280, height: 900 },
    locale: 'en-US',
    timezoneId: 'UTC',
    colorScheme: 'light',
    serviceWorkers: 'block',
    timeout: 30000,
  };
}

/**
 * Makes `profileDir` a profile whose password manager is off (no saving, no leak check
 * against Google's servers when a password form is submitted), before the launch.
 */
function quietPasswordManager(profileDir) {
  fs.mkdirSync(path.join(profileDir, 'Default'), { recursive: true });
  fs.writeFileSync(
    path.join(profileDir, 'Default', 'Preferences'),
    JSON.stringify({
      credentials_enable_service: false,
      profile: { password_manager_enabled: false, password_manager_leak_detection: false },
    }),
  );
}

/** The trimmed text of `selector` on `page` ('' when it has none). */
async function text(page, selector) {
  return ((await page.locator(selector).textContent()) || '').trim();
}

/**
 * One run of a browser script, and what every script needs around its own checks:
 *
 *   name         the script (`sso`, `saml`, ...): its failure screenshots are
 *                NAME[-MODE]-failure-N.png in SCREENSHOT_DIR
 *   mode         the script's MODE argument, if it has one
 *   origins      the origins the browser may reach: any other request is refused and kept in
 *                `run.foreign`
 *   stepTimeout  milliseconds: Playwright's default for every action, and `run.waitFor`'s
 *   passwordForms  the script types into password forms: the profile's password manager is
 *                turned off first (quietPasswordManager)
 *
 * `run.main(body)` launches Chromium (launchOptions, PROXY_TRAP) with a fresh profile, runs
 * `body(context)`, and at a failure saves a screenshot of every tab and prints what each
 * shows; then closes it and removes the profile. It ends with the line
 * "all checks passed (MODE or NAME)" that the Rust test looks for, or with "FAILED (...)" and
 * exit status 1.
 */
function browserRun({ name, mode, origins, stepTimeout, passwordForms = false }) {
  const label = mode || name;
  const prefix = mode ? `${name}-${mode}` : name;
  const shots = process.env.SCREENSHOT_DIR;
  const started = Date.now();
  const allowed = (url) => origins.some((o) => url === o || url.startsWith(`${o}/`));

  const run = {
    /** Requests to anywhere but `origins` (refused). */
    foreign: [],
    /** Console errors (but those a step provokes, see `watch`) and page errors. */
    problems: [],

    /** A line of the step log, with the seconds since the start. */
    log(message) {
      console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);
    },

    /**
     * Keeps `page`'s console errors and page errors in `problems`, but for the console
     * errors a step provokes on purpose: `provoked` is a list of patterns, or a function of
     * (text, page). Chromium logs every 4xx answer to fetch, and the flows provoke those.
     */
    watch(page, provoked = []) {
      const ignored = typeof provoked === 'function'
        ? provoked
        : (message) => provoked.some((pattern) => pattern.test(message));
      page.on('console', (message) => {
        if (message.type() === 'error' && !ignored(message.text(), page)) {
          run.problems.push(`console: ${message.text()}`);
        }
      });
      page.on('pageerror', (error) => run.problems.push(`page error: ${error.message}`));
      return page;
    },

    /** The blank tab a persistent context starts with, else a new one. */
    async firstPage(context) {
      return context.pages().find((p) => p.url() === 'about:blank') || (await context.newPage());
    },

    /**
     * Opens `url` in the first tab, watched (`provoked` as for `watch`): it must answer 200
     * and its script say it is ready (body[data-ready="true"]). Returns { page, response }.
     */
    async open(context, url, provoked) {
      const page = run.watch(await run.firstPage(context), provoked);
      const response = await page.goto(url, { waitUntil: 'load' });
      assert.ok(response, `no answer from ${url}`);
      assert.equal(response.status(), 200, `GET ${url} status`);
      await page.locator('body[data-ready="true"]').waitFor();
      return { page, response };
    },

    /** Saves a screenshot of `page` as FILE in SCREENSHOT_DIR; its path, or null without one. */
    async shot(page, file, options = {}) {
      if (!shots) return null;
      const where = path.join(shots, file);
      await page.screenshot({ path: where, ...options });
      return where;
    },

    /** Polls `check` until it returns true; fails with `what` and the last thing it returned. */
    async waitFor(what, check) {
      const deadline = Date.now() + stepTimeout;
      let last;
      while (Date.now() < deadline) {
        last = await check();
        if (last === true) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`${what} (last seen: ${JSON.stringify(last)})`);
    },

    /** No request went beyond `origins`, and no page logged an error. */
    assertClean(origin = 'the server') {
      assert.deepEqual(run.foreign, [], `requests beyond ${origin}: ${run.foreign.join(', ')}`);
      assert.deepEqual(run.problems, [], `console or page errors:\n${run.problems.join('\n')}`);
    },

    main(body) {
      launchAndRun(body).catch((error) => {
        console.error(`FAILED (${label}): ${(error && error.stack) || error}`);
        process.exit(1);
      });
    },
  };

  async function launchAndRun(body) {
    if (shots) {
      fs.mkdirSync(shots, { recursive: true });
      for (const old of fs.readdirSync(shots)) {
        if (old.startsWith(`${prefix}-failure-`)) fs.rmSync(path.join(shots, old));
      }
    }
    const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'needroleshere-chromium-'));
    let failed = null;
    let context = null;
    try {
      if (passwordForms) quietPasswordManager(profileDir);
      context = await chromium.launchPersistentContext(profileDir, launchOptions(process.env.PROXY_TRAP));
      context.setDefaultTimeout(stepTimeout);
      await context.route('**/*', (route) => {
        const url = route.request().url();
        if (allowed(url)) return route.fallback();
        run.foreign.push(url);
        return route.abort('blockedbyclient');
      });
      await body(context);
    } catch (error) {
      failed = error;
      for (const [i, page] of (context ? context.pages() : []).entries()) {
        const file = await run.shot(page, `${prefix}-failure-${i}.png`, { fullPage: true }).catch(() => null);
        const visible = await page.evaluate(() => document.body.innerText).catch(() => '');
        console.error(`page ${i} (${page.url()}, screenshot ${file}) shows:\n${visible}\n`);
      }
      if (run.problems.length) console.error(`console:\n${run.problems.join('\n')}`);
    } finally {
      if (context) await context.close().catch(() => {});
      fs.rmSync(profileDir, { recursive: true, force: true });
    }
    if (failed) throw failed;
    run.log(`all checks passed (${label})`);
  }

  return run;
}

module.exports = { launchOptions, quietPasswordManager, browserRun, text };
