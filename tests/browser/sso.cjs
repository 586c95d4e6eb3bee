// The page of `serve ecs` for an IAM Identity Center profile, in Debian's Chromium with
// playwright-core, for tests/sso_desktop.rs: the sign-in with a code (approved at the
// IAM Identity Center double as the person would at the verification page), the account and
// role list, and a switch to another account's role.
//
// Usage: node tests/browser/sso.cjs, with NODE_PATH=build/browser/node_modules and
//   PAGE_URL        http://127.0.0.1:PORT/ of `serve ecs dev`, nobody signed in
//   SSO_URL         the double's address (its POST /device/approve stands for the person)
//   PROXY_TRAP      127.0.0.1:PORT the browser must use as proxy for anything not local
//   SCREENSHOT_DIR  where to save screenshots
//   EXPECT          JSON: user, account, otherAccount, role, otherRole
// Prints one line per check and "all checks passed (sso)"; exits 1 at the first failure.
'use strict';

const assert = require('node:assert/strict');
const { browserRun, text } = require('./chromium.cjs');

const PAGE = process.env.PAGE_URL;
const SSO = process.env.SSO_URL;
const EXPECT = JSON.parse(process.env.EXPECT);

const run = browserRun({ name: 'sso', origins: [new URL(PAGE).origin], stepTimeout: 20000 });
const { log, waitFor } = run;
// Chromium logs every 4xx answer to fetch; before the sign-in the role list answers 401.
const provoked = [/^Failed to load resource: the server responded with a status of 401\b/];

run.main(async (context) => {
  const { page } = await run.open(context, PAGE, provoked);

  // Not signed in: the role card says so.
  await waitFor('the role card asks for a sign-in', async () => {
    const visible = await page.locator('#roles-card').isVisible();
    const shown = await text(page, '#role-select');
    return (visible && /Sign in to see/.test(shown)) || shown;
  });
  assert.equal(await text(page, '#roles-profile'), 'dev');
  log('ok - before the sign-in the role card asks for one');

  // The profile needs a sign-in: the dialog opens by itself and offers a code only.
  await page.locator('#auth-dialog[open]').waitFor();
  assert.equal(await text(page, '#auth-profile'), 'dev');
  await page.locator('#auth-device:not([hidden])').waitFor();
  await waitFor('no browser or password sign-in for IAM Identity Center', async () =>
    (await page.locator('#auth-browser').isHidden()) && (await page.locator('#auth-password-box').isHidden()));
  log('ok - the sign-in dialog offers a code only');

  await page.locator('#auth-device').click();
  await page.locator('#auth-device-box:not([hidden])').waitFor();
  const code = await text(page, '#auth-device-code');
  assert.match(code, /^[A-Z]{4}-[A-Z]{4}$/);
  const link = await text(page, '#auth-device-link');
  assert.match(link, /^https:\/\/device\.sso\.us-east-1\.amazonaws\.com\//);
  await run.shot(page, 'sso-device-code.png');
  log(`ok - the page shows the code ${code} and ${link}`);

  // The person approves it at the verification page.
  const approved = await fetch(`${SSO}/device/approve`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ user_code: code, user: EXPECT.user }).toString(),
  });
  assert.equal(approved.status, 200, `approving: ${await approved.text()}`);
  await page.locator('#auth-dialog').waitFor({ state: 'hidden' });
  await waitFor('the page serves the profile’s own role', async () => {
    const account = await text(page, '#id-account');
    return account === EXPECT.account || account;
  });
  log('ok - signed in; the dialog closed and the account is shown');

  // The role list: every account and role, the profile's own active.
  await waitFor('the role list', async () => (await page.locator('#role-select option').count()) === 3);
  const options = await page.locator('#role-select option').allTextContents();
  const active = options.filter((o) => o.endsWith('(active)'));
  assert.deepEqual(active, [`sandbox (${EXPECT.account}) — ${EXPECT.role} (active)`], options.join(' | '));
  assert.ok(options.includes(`production (${EXPECT.otherAccount}) — ${EXPECT.otherRole}`), options.join(' | '));
  assert.equal(await page.locator('#role-select').inputValue(), String(options.indexOf(active[0])));
  log(`ok - the role list: ${options.join(' | ')}`);

  // Switch to the other account's role.
  const other = options.indexOf(`production (${EXPECT.otherAccount}) — ${EXPECT.otherRole}`);
  await page.locator('#role-select').selectOption(String(other));
  await page.locator('#role-use').click();
  await waitFor('the switch is announced', async () => {
    const said = await text(page, '#status');
    return said.startsWith(`Switched to ${EXPECT.otherRole} in production`) || said;
  });
  await waitFor('the other account is served', async () => {
    const account = await text(page, '#id-account');
    return account === EXPECT.otherAccount || account;
  });
  await waitFor('the list marks the new role active', async () => {
    const now = await page.locator('#role-select option').allTextContents();
    return now[other] === `production (${EXPECT.otherAccount}) — ${EXPECT.otherRole} (active)` || now.join(' | ');
  });
  assert.equal(await page.locator('#error').isHidden(), true, await text(page, '#error'));
  await run.shot(page, 'sso-roles.png', { fullPage: true });
  log(`ok - switched to ${EXPECT.otherRole} in ${EXPECT.otherAccount}`);

  run.assertClean();
  log('ok - no request beyond the server, no console errors');
});
