// Signs in to a real identity provider (Keycloak) in Debian's Chromium with playwright-core,
// for tests/oidc_signin.rs.
//
// Usage: node tests/browser/signin.cjs MODE, with NODE_PATH=build/browser/node_modules and
//   IDP_URL          the provider's origin (http://127.0.0.1:PORT)
//   USERNAME, PASSWORD  the account to sign in with
//   PROXY_TRAP       127.0.0.1:PORT the browser must use as proxy for anything not local
//   SCREENSHOT_DIR   where to save screenshots (build/screenshots)
//   PAGE_URL         (page-browser, page-device) http://127.0.0.1:PORT/ of `serve ecs|ec2`
//   EXPECT_ROLE      (page-*) the role ARN the page must show once signed in
//   DEVICE_URL       (approve) the verification address `exec` printed
//   USER_CODE        (approve) the code `exec` printed
//   DOCS_SCREENSHOT  (optional) where to copy the sign-in dialog's screenshot for the README
// MODE:
//   page-browser  the page opens its sign-in dialog by itself; "Sign in with the browser"
//                 goes to the provider, which sends the tab back to the page, signed in
//   page-device   the dialog's "Use a code instead" shows a code; a second tab approves it
//                 at the provider; the dialog closes and the page shows the role
//   approve       only the second tab's part, for a code printed by `exec`
// Prints one line per check and "all checks passed (MODE)"; exits 1 at the first failure.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const MODE = process.argv[2];
const IDP = new URL(process.env.IDP_URL).origin;
const PAGE = process.env.PAGE_URL;
const ORIGINS = [IDP, PAGE && new URL(PAGE).origin].filter(Boolean);
const SHOTS = process.env.SCREENSHOT_DIR;
const STEP_TIMEOUT = 20000;
const started = Date.now();

if (!['page-browser', 'page-device', 'approve'].includes(MODE)) throw new Error(`unknown mode ${MODE}`);

function log(message) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);
}

const foreign = [];
const problems = [];

async function launch() {
  const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'needroleshere-chromium-'));
  const context = await chromium.launchPersistentContext(profileDir, {
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
      '--disable-features=AutofillServerCommunication,Translate,OptimizationHints,NetworkTimeServiceQuerying,HttpsUpgrades,HttpsFirstBalancedModeAutoEnable',
      `--proxy-server=http://${process.env.PROXY_TRAP}`,
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    ],
    viewport: { width: 1280, height: 900 },
    locale: 'en-US',
    timezoneId: 'UTC',
    colorScheme: 'light',
    serviceWorkers: 'block',
    timeout: 30000,
  });
  context.setDefaultTimeout(STEP_TIMEOUT);
  // Only the server and the provider: everything else is refused and reported.
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (ORIGINS.some((o) => url === o || url.startsWith(`${o}/`))) return route.fallback();
    foreign.push(url);
    return route.abort('blockedbyclient');
  });
  return context;
}

function watch(page) {
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    const text = message.text();
    // The server's page must log no errors but the 4xx answers its flows provoke.
    if (message.type() === 'error' && page.url().startsWith(PAGE || '\u0000')
      && !/status of (400|401|403|503)\b/.test(text)) {
      problems.push(`console: ${text}`);
    }
  });
}

async function shot(page, name) {
  if (!SHOTS) return null;
  const file = path.join(SHOTS, `signin-${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** At the provider: log in, submit a device code, grant consent, until `done(page)` holds. */
async function atProvider(page, done) {
  for (let step = 0; step < 8; step += 1) {
    await page.waitForLoadState('load');
    if (await done(page)) return;
    if (await page.locator('#username').isVisible().catch(() => false)) {
      await page.fill('#username', process.env.USERNAME);
      await page.fill('#password', process.env.PASSWORD);
      log(`ok - the provider's login form at ${new URL(page.url()).pathname}`);
      await Promise.all([page.waitForEvent('framenavigated'), page.click('#kc-login')]);
      continue;
    }
    // Keycloak's device page names its field device_user_code (id and name alike).
    const codeField = page.locator('input[name=device_user_code]');
    if (await codeField.isVisible().catch(() => false)) {
      if (!(await codeField.inputValue())) await codeField.fill(process.env.USER_CODE || '');
      log('ok - the provider asks for the device code');
      await Promise.all([page.waitForEvent('framenavigated'), page.click('#kc-login')]);
      continue;
    }
    const grant = page.locator('input[name=accept], button[name=accept], #kc-login');
    if (await grant.first().isVisible().catch(() => false)) {
      log('ok - the provider asks for consent');
      await Promise.all([page.waitForEvent('framenavigated'), grant.first().click()]);
      continue;
    }
    await page.waitForTimeout(250);
  }
  await shot(page, `${MODE}-stuck`);
  throw new Error(`stuck at the provider: ${page.url()}: ${(await page.locator('body').innerText()).slice(0, 400)}`);
}

const deviceApproved = async (page) => /successful|success|you may close|approved/i.test(await page.locator('body').innerText().catch(() => ''));

async function openPage(context) {
  const page = context.pages().find((p) => p.url() === 'about:blank') || (await context.newPage());
  watch(page);
  const response = await page.goto(PAGE, { waitUntil: 'load' });
  assert.equal(response.status(), 200, 'GET / status');
  await page.locator('body[data-ready="true"]').waitFor();
  await page.locator('#auth-dialog[open]').waitFor();
  log('ok - the page opened its sign-in dialog by itself');
  const file = await shot(page, 'dialog');
  if (file && process.env.DOCS_SCREENSHOT) fs.copyFileSync(file, process.env.DOCS_SCREENSHOT);
  return page;
}

async function waitRole(page) {
  const expected = process.env.EXPECT_ROLE;
  await page.waitForFunction(
    (role) => (document.querySelector('#id-role') || {}).textContent.includes(role)
      && !document.querySelector('#auth-dialog').open,
    expected,
    { timeout: STEP_TIMEOUT },
  );
  log(`ok - the page shows ${expected} with the dialog closed`);
  await shot(page, `${MODE}-done`);
}

async function main() {
  const context = await launch();
  try {
    if (MODE === 'page-browser') {
      const page = await openPage(context);
      await Promise.all([page.waitForURL((u) => u.origin === IDP), page.click('#auth-browser')]);
      log('ok - "Sign in with the browser" went to the provider');
      await atProvider(page, async (p) => p.url().startsWith(PAGE));
      await page.locator('body[data-ready="true"]').waitFor();
      log('ok - the provider sent the tab back to the page');
      await waitRole(page);
    } else if (MODE === 'page-device') {
      const page = await openPage(context);
      await page.locator('#auth-device:not([hidden])').waitFor();
      await page.click('#auth-device');
      await page.waitForFunction(() => document.querySelector('#auth-device-code').textContent.trim().length > 0);
      const code = (await page.textContent('#auth-device-code')).trim();
      const link = await page.getAttribute('#auth-device-link', 'href');
      assert.ok(link.startsWith(IDP), `the device link ${link} is not the provider's`);
      log(`ok - the dialog shows the code ${code} and a link to the provider`);
      await shot(page, 'device-code');
      const other = await context.newPage();
      process.env.USER_CODE = code;
      await other.goto(link, { waitUntil: 'load' });
      await atProvider(other, deviceApproved);
      log('ok - the provider approved the device');
      await waitRole(page);
    } else {
      const page = await context.newPage();
      await page.goto(process.env.DEVICE_URL, { waitUntil: 'load' });
      await atProvider(page, deviceApproved);
      log('ok - the provider approved the device');
    }
    assert.deepEqual(foreign, [], 'requests beyond the server and the provider');
    assert.deepEqual(problems, [], 'errors on the page');
    log(`all checks passed (${MODE})`);
  } finally {
    await context.close();
  }
}

main().catch(async (error) => {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(1);
});
