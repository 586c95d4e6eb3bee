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
const { browserRun } = require('./chromium.cjs');

const MODE = process.argv[2];
const IDP = new URL(process.env.IDP_URL).origin;
const PAGE = process.env.PAGE_URL;
const STEP_TIMEOUT = 20000;

if (!['page-browser', 'page-device', 'approve'].includes(MODE)) throw new Error(`unknown mode ${MODE}`);

// Only the server and the provider: everything else is refused and reported.
const run = browserRun({
  name: 'signin', mode: MODE, origins: [IDP, PAGE && new URL(PAGE).origin].filter(Boolean), stepTimeout: STEP_TIMEOUT,
});
const { log } = run;

// The server's page must log no errors but the 4xx answers its flows provoke; the
// provider's pages are not this project's.
const provoked = (text, page) => !page.url().startsWith(PAGE || '\u0000')
  || /status of (400|401|403|503)\b/.test(text);

async function shot(page, name) {
  return run.shot(page, `signin-${name}.png`);
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
  const { page } = await run.open(context, PAGE, provoked);
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

run.main(async (context) => {
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
  run.assertClean('the server and the provider');
});
