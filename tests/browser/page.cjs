// Drives the desktop servers' page (src/server/page/) in Debian's Chromium with
// playwright-core, against a real `needroleshere serve ecs|ec2` that tests/browser_page.rs
// started in front of the strict STS double. Run by that test; see its docs for the inputs.
//
// Usage: node tests/browser/page.cjs ecs|ec2, with NODE_PATH=build/browser/node_modules and
//   PAGE_URL          http://127.0.0.1:PORT/ of the server
//   PROXY_TRAP        127.0.0.1:PORT that the browser must use as proxy for anything not local
//   EXPECT            JSON: {roles, profiles, active, roleArns: {name: arn}, account, mfaSerial}
//   ECS_TOKEN         (ecs) the Authorization token the server printed
//   MFA_CODES         (ecs) JSON {"<30 s step>": "<code>"} made with fake_aws::totp
//   WRONG_CODE        (ecs) a 6-digit code that is none of those
//   SCREENSHOT_DIR    where to save screenshots (build/screenshots)
//   DOCS_SCREENSHOT   (optional) where to copy the wide screenshot for the README
// Prints one line per check; exits 1 with the reason (and a screenshot) at the first failure.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { browserRun, text } = require('./chromium.cjs');

const MODE = process.argv[2];
const URL_ = process.env.PAGE_URL;
const ORIGIN = new URL(URL_).origin;
const EXPECT = JSON.parse(process.env.EXPECT || '{}');
const SHOTS = process.env.SCREENSHOT_DIR;
const STEP_TIMEOUT = 10000;

if (!['ecs', 'ec2'].includes(MODE)) throw new Error(`mode must be ecs or ec2, not ${MODE}`);

const run = browserRun({ name: 'page', mode: MODE, origins: [ORIGIN], stepTimeout: STEP_TIMEOUT });
const { log } = run;

/** GET or POST from Node (not the browser) to the server, to check what it says itself. */
async function server(pathname, init = {}) {
  const response = await fetch(ORIGIN + pathname, init);
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch (_) {
    json = null;
  }
  return { status: response.status, text, json };
}

async function activeOnServer() {
  const answer = await server('/profile');
  assert.equal(answer.status, 200, `GET /profile: ${answer.text}`);
  return answer.json;
}

// ---- What the page did, collected for the end --------------------------------------------

// Requests to anywhere but the server (blocked) are in run.foreign; console errors, page
// errors and CSP violations in run.problems.
const requests = []; // every request the page made: {method, url, headers, body}

function recordRequests(context) {
  context.on('request', (request) => {
    requests.push({
      method: request.method(),
      url: request.url(),
      headers: request.headers(),
      body: request.postData(),
    });
  });
}

// Console errors that a step provokes on purpose. Chromium logs every 4xx answer to fetch,
// and the flows provoke those.
const provoked = [/^Failed to load resource: the server responded with a status of (400|401|403)\b/];

function watch(page) {
  run.watch(page, provoked);
}

async function open(context) {
  return run.open(context, URL_, provoked);
}

/** Waits until `selector`'s text satisfies `predicate`; fails with what it was. */
async function waitText(page, selector, predicate, what) {
  const deadline = Date.now() + STEP_TIMEOUT;
  let last = '';
  while (Date.now() < deadline) {
    last = await text(page, selector);
    if (predicate(last)) return last;
    await page.waitForTimeout(100);
  }
  throw new Error(`${what}: ${selector} shows ${JSON.stringify(last)}`);
}

async function focusedId(page) {
  return page.evaluate(() => (document.activeElement ? document.activeElement.id : ''));
}

async function identity(page) {
  return {
    name: await text(page, '#id-name'),
    role: await text(page, '#id-role'),
    account: await text(page, '#id-account'),
    key: await text(page, '#id-key'),
    expiry: await page.locator('#id-expiry').getAttribute('datetime'),
    countdown: await text(page, '#countdown'),
  };
}

// ---- Checks common to both servers ---------------------------------------------------------

async function checkHeaders(response) {
  const headers = response.headers();
  const csp = headers['content-security-policy'] || '';
  assert.match(csp, /(^|;)\s*default-src 'self'/, `CSP: ${csp}`);
  assert.match(csp, /script-src 'self'(;|$)/, `CSP: ${csp}`);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, `CSP: ${csp}`);
  assert.equal(headers['x-content-type-options'], 'nosniff');
  assert.match(headers['content-type'], /^text\/html/);
  // The page holds no inline script that the policy would have to allow.
  const html = await response.text();
  assert.doesNotMatch(html, /<script(?![^>]*\ssrc=)[^>]*>/i, 'inline <script> in the page');
  log('ok - GET / answers the page with a strict CSP and nosniff, no inline script');
}

async function checkRoleList(page) {
  const groups = await page.$$eval('#profile-select optgroup', (gs) =>
    gs.map((g) => ({ label: g.label, names: [...g.querySelectorAll('option')].map((o) => o.value) })),
  );
  assert.deepEqual(
    groups.map((g) => g.names),
    [EXPECT.roles, EXPECT.profiles],
    `the selector's groups: ${JSON.stringify(groups)}`,
  );
  assert.equal(groups[0].label, 'Roles', 'roles come first');
  assert.equal(await page.locator('#profile-select').inputValue(), EXPECT.active);
  const shown = await identity(page);
  assert.equal(shown.name, EXPECT.active);
  assert.equal(shown.role, EXPECT.roleArns[EXPECT.active]);
  log(`ok - the selector lists the roles ${EXPECT.roles.join(', ')} first, then the profiles; ${EXPECT.active} is active`);
}

async function checkAccessibility(page) {
  const report = await page.evaluate(() => {
    const labelled = (id) => {
      const e = document.getElementById(id);
      return e && e.labels && e.labels.length > 0 && e.labels[0].textContent.trim().length > 0;
    };
    const attrs = (id, names) => {
      const e = document.getElementById(id);
      return Object.fromEntries(names.map((n) => [n, e ? e.getAttribute(n) : null]));
    };
    return {
      labels: ['profile-select', 'mfa-code', 'auth-username', 'auth-password'].map((id) => [id, labelled(id)]),
      status: attrs('status', ['role', 'aria-live']),
      error: attrs('error', ['role', 'aria-live']),
      mfaError: attrs('mfa-error', ['role', 'aria-live']),
      mfa: attrs('mfa-dialog', ['role', 'aria-modal', 'aria-labelledby']),
      auth: attrs('auth-dialog', ['role', 'aria-modal', 'aria-labelledby']),
      lang: document.documentElement.lang,
      refreshIsButton: document.getElementById('refresh').tagName === 'BUTTON',
      submitButtons: [...document.querySelectorAll('dialog form')].map((f) => !!f.querySelector('button[type=submit]')),
    };
  });
  for (const [id, ok] of report.labels) assert.ok(ok, `#${id} has no <label>`);
  assert.deepEqual(report.status, { role: 'status', 'aria-live': 'polite' });
  assert.deepEqual(report.error, { role: 'alert', 'aria-live': 'assertive' });
  assert.deepEqual(report.mfaError, { role: 'alert', 'aria-live': 'assertive' });
  assert.deepEqual(report.mfa, { role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'mfa-title' });
  assert.deepEqual(report.auth, { role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'auth-title' });
  assert.equal(report.lang, 'en');
  assert.ok(report.refreshIsButton);
  assert.deepEqual(report.submitButtons, [true, true], 'each dialog submits with Enter');
  assert.equal(await page.locator('#mfa-dialog').isVisible(), false, 'the MFA dialog shows at start');
  log('ok - controls are labelled, status and errors are live regions, dialogs are modal dialogs');
}

/** Tab from the top: the selector, then "Refresh now". */
async function checkTabOrder(page) {
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  const order = [];
  for (let i = 0; i < 2; i += 1) {
    await page.keyboard.press('Tab');
    order.push(await focusedId(page));
  }
  assert.deepEqual(order, ['profile-select', 'refresh'], `tab order: ${order.join(' → ')}`);
  await page.keyboard.press('Shift+Tab');
  assert.equal(await focusedId(page), 'profile-select');
  log('ok - tab order: profile selector, then "Refresh now"');
}

async function screenshot(page, name, width) {
  await page.setViewportSize({ width, height: width < 500 ? 812 : 900 });
  await page.waitForTimeout(150);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `at ${width} px the page is ${overflow} px wider than the window`);
  const file = path.join(SHOTS, name);
  await page.screenshot({ path: file, fullPage: true });
  log(`ok - ${width} px wide: nothing sticks out; screenshot ${file}`);
  return file;
}

function checkRequests() {
  assert.deepEqual(run.foreign, [], `the page asked for other origins: ${run.foreign.join(', ')}`);
  const changes = requests.filter((r) => !['GET', 'HEAD'].includes(r.method));
  assert.ok(changes.length > 0, 'no state-changing request was seen');
  for (const r of requests) {
    assert.ok(r.url.startsWith(`${ORIGIN}/`), `request outside the server: ${r.url}`);
  }
  for (const r of changes) {
    assert.equal(r.headers['x-requested-by'], 'needroleshere', `${r.method} ${r.url} without X-Requested-By`);
  }
  assert.deepEqual(run.problems, [], `console or page errors:\n${run.problems.join('\n')}`);
  log(`ok - ${requests.length} requests, all to ${ORIGIN}; all ${changes.length} state changes carried X-Requested-By; no console errors or CSP violations`);
}

// ---- serve ecs: roles, MFA, refresh, errors --------------------------------------------------

function currentCode() {
  const codes = JSON.parse(process.env.MFA_CODES);
  const step = Math.floor(Date.now() / 1000 / 30);
  const code = codes[String(step)];
  assert.ok(code, `no MFA code given for step ${step}; have ${Object.keys(codes).join(', ')}`);
  return code;
}

async function credentialsFromServer() {
  const answer = await server('/credentials', { headers: { Authorization: process.env.ECS_TOKEN } });
  assert.equal(answer.status, 200, `GET /credentials: ${answer.text}`);
  return answer.json;
}

async function ecs(context) {
  const { page, response } = await open(context);
  await checkHeaders(response);
  await checkRoleList(page);
  await checkAccessibility(page);
  await checkTabOrder(page);

  // Keyboard only: arrow up from developer to admin (passing auditor and admin-totp).
  const before = requests.length;
  for (let i = 0; i < 3; i += 1) await page.keyboard.press('ArrowUp');
  assert.equal(await page.locator('#profile-select').inputValue(), 'admin');
  const dialog = page.locator('#mfa-dialog');
  await dialog.waitFor({ state: 'visible' });
  const switches = requests.slice(before).filter((r) => r.method === 'POST' && r.url === `${ORIGIN}/profile`);
  assert.deepEqual(switches.map((r) => r.body), ['admin'], 'moving through the list switched to a profile passed over');
  assert.equal(await text(page, '#mfa-profile'), 'admin');
  assert.equal(await focusedId(page), 'mfa-code', 'focus did not move into the MFA dialog');
  await waitText(page, '#mfa-desc', (t) => t.includes(EXPECT.mfaSerial), 'the dialog names the MFA device');
  log('ok - keyboard: arrows to admin switch once, the MFA dialog opens by itself with focus in the code field');

  // Escape closes it and changes nothing.
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  await waitText(page, '#status', (t) => t.includes('developer is still active'), 'status after Escape');
  assert.equal(await page.locator('#profile-select').inputValue(), 'developer');
  assert.equal(await focusedId(page), 'profile-select', 'focus did not come back to the selector');
  assert.equal((await activeOnServer()).name, 'developer');
  log('ok - Escape closes the dialog; developer stays active (page and GET /profile)');

  // Again with the pointer, at phone width, and a screenshot of the dialog.
  await page.setViewportSize({ width: 375, height: 812 });
  await page.locator('#profile-select').selectOption('admin');
  await dialog.waitFor({ state: 'visible' });
  const box = await dialog.boundingBox();
  assert.ok(box && box.x >= 0 && box.x + box.width <= 375, `the dialog does not fit 375 px: ${JSON.stringify(box)}`);
  await waitText(page, '#mfa-desc', (t) => t.includes(EXPECT.mfaSerial), 'the dialog names the MFA device');
  await page.screenshot({ path: path.join(SHOTS, 'page-ecs-375-mfa-dialog.png') });
  await page.setViewportSize({ width: 1280, height: 900 });
  assert.equal(await focusedId(page), 'mfa-code');
  log('ok - choosing admin with the pointer opens the dialog again; it fits a 375 px screen');

  // A badly formed code: the server's 400, in words.
  await page.keyboard.type('12x45');
  await page.keyboard.press('Enter');
  const mfaError = page.locator('#mfa-error');
  await waitText(page, '#mfa-error', (t) => t.includes('must be the 6 digits'), 'error for a badly formed code');
  assert.ok(await dialog.isVisible(), 'the dialog closed after a badly formed code');
  log(`ok - a badly formed code says so: "${await mfaError.textContent()}"`);

  // A wrong code: 403, the dialog stays, developer stays.
  await page.keyboard.press('Control+A');
  await page.keyboard.type(process.env.WRONG_CODE);
  await page.keyboard.press('Enter');
  await waitText(page, '#mfa-error', (t) => t.includes('not accepted'), 'error for a wrong code');
  assert.ok(await dialog.isVisible(), 'the dialog closed after a wrong code');
  assert.match(await text(page, '#mfa-error'), /developer is still active/);
  assert.equal(await page.locator('#mfa-code').getAttribute('aria-invalid'), 'true');
  assert.equal(await focusedId(page), 'mfa-code');
  assert.equal(await text(page, '#id-name'), 'developer');
  assert.equal((await activeOnServer()).name, 'developer');
  log('ok - a wrong code shows an error, the dialog stays, developer stays active (page and GET /profile)');

  // The right code, typed and submitted with Enter.
  await page.keyboard.press('Control+A');
  await page.keyboard.type(currentCode());
  await page.keyboard.press('Enter');
  await dialog.waitFor({ state: 'hidden' });
  await waitText(page, '#id-name', (t) => t === 'admin', 'the active profile after the right code');
  let shown = await identity(page);
  assert.equal(shown.role, EXPECT.roleArns.admin);
  assert.equal(shown.account, EXPECT.account);
  assert.match(shown.key, /^ASIA[A-Z0-9]{12,}$/);
  assert.ok(shown.expiry, 'no expiry shown');
  assert.match(shown.countdown, /^(\d+ h )?\d+ min \d\d s left$/);
  assert.equal(await page.locator('#profile-select').inputValue(), 'admin');
  assert.equal(await focusedId(page), 'profile-select');
  await waitText(page, '#status', (t) => t.includes('now serving admin'), 'status after the right code');
  const server1 = await activeOnServer();
  assert.equal(server1.name, 'admin');
  assert.equal(server1.session.accessKey, shown.key);
  // The countdown is live.
  const first = shown.countdown;
  await waitText(page, '#countdown', (t) => t !== first, 'the countdown did not move');
  log(`ok - the right code closes the dialog: admin, ${shown.role}, account ${shown.account}, ${shown.countdown}`);

  // Refresh now: new credentials, which /credentials serves too.
  await page.locator('#refresh').click();
  const oldKey = shown.key;
  await waitText(page, '#id-key', (t) => t !== oldKey && /^ASIA/.test(t), 'the access key after "Refresh now"');
  await waitText(page, '#status', (t) => t.startsWith('Refreshed admin: now serving admin'), 'status after refresh');
  shown = await identity(page);
  const credentials = await credentialsFromServer();
  assert.equal(credentials.AccessKeyId, shown.key, 'GET /credentials and the page show different keys');
  assert.equal(credentials.Expiration, shown.expiry, 'GET /credentials and the page show different expiry times');
  if (credentials.AccountId) assert.equal(credentials.AccountId, shown.account);
  const expiresIn = Date.parse(shown.expiry) - Date.now();
  assert.ok(expiresIn > 50 * 60 * 1000 && expiresIn <= 3600 * 1000, `expiry ${shown.expiry} is not about an hour away`);
  log(`ok - "Refresh now" fetched new credentials; GET /credentials agrees: ${credentials.AccessKeyId}, ${credentials.Expiration}`);

  // Screenshots, phone and desktop.
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await screenshot(page, 'page-ecs-375.png', 375);
  const wide = await screenshot(page, 'page-ecs-1280.png', 1280);
  if (process.env.DOCS_SCREENSHOT) {
    fs.copyFileSync(wide, process.env.DOCS_SCREENSHOT);
    log(`ok - copied to ${process.env.DOCS_SCREENSHOT}`);
  }

  // An error in words: a profile whose source_profile chain loops.
  await page.locator('#profile-select').selectOption('loop-a');
  await waitText(page, '#error', (t) => t.includes('loop-a -> loop-b -> loop-a'), 'the error for loop-a');
  assert.match(await text(page, '#error'), /^Switching to loop-a failed: the server could not use what was sent\./);
  assert.equal(await page.locator('#profile-select').inputValue(), 'admin', 'the selector did not go back');
  await waitText(page, '#status', (t) => t === 'admin is still active.', 'the status after a failed switch');
  assert.equal(await text(page, '#id-name'), 'admin');
  assert.equal((await activeOnServer()).name, 'admin');
  log(`ok - a failed switch explains itself and admin stays: "${await text(page, '#error')}"`);
  await screenshot(page, 'page-ecs-375-error.png', 375);
  await page.setViewportSize({ width: 1280, height: 900 });

  // X-AwsRunas-Authentication-Type: AUTH. No profile here signs in to an identity provider
  // (tests/oidc_signin.rs has those), so the answer to one switch is replaced; the dialog
  // then posts to the real /auth, which refuses in words.
  let replaced = false;
  await page.route(`${ORIGIN}/profile`, (route) => {
    if (route.request().method() !== 'POST' || replaced) return route.fallback();
    replaced = true;
    return route.fulfill({
      status: 401,
      headers: { 'X-AwsRunas-Authentication-Type': 'AUTH', 'Content-Type': 'application/json' },
      body: JSON.stringify({ error: 'profile auditor needs a username and password' }),
    });
  });
  await page.locator('#profile-select').selectOption('auditor');
  const auth = page.locator('#auth-dialog');
  await auth.waitFor({ state: 'visible' });
  await page.unroute(`${ORIGIN}/profile`);
  // The browser sign-in comes first; the username and password follow.
  assert.equal(await focusedId(page), 'auth-browser');
  await page.keyboard.press('Tab');
  assert.equal(await focusedId(page), 'auth-username');
  await page.keyboard.type('alice');
  await page.keyboard.press('Tab');
  assert.equal(await focusedId(page), 'auth-password');
  await page.keyboard.type('not-a-real-password');
  await page.keyboard.press('Enter');
  await waitText(page, '#auth-error', (t) => t.includes('cannot sign in with a username and password'), 'the /auth refusal');
  assert.match(await text(page, '#auth-error'), /profile auditor does not sign in to an identity provider/);
  const authPost = requests.filter((r) => r.method === 'POST' && r.url === `${ORIGIN}/auth`).pop();
  assert.ok(authPost, 'no POST /auth');
  assert.equal(new URLSearchParams(authPost.body).get('username'), 'alice');
  assert.equal(await page.locator('#auth-password').inputValue(), '', 'the password stayed in the field');
  await page.keyboard.press('Escape');
  await auth.waitFor({ state: 'hidden' });
  assert.equal(await page.locator('#profile-select').inputValue(), 'admin');
  assert.equal((await activeOnServer()).name, 'admin');
  log('ok - an AUTH answer opens the sign-in dialog; POST /auth is refused in plain words; Escape closes it');

  // Time passes (a fake clock in a second tab): the countdown says "expired".
  const later = await context.newPage();
  watch(later);
  await later.clock.install();
  await later.goto(URL_);
  await later.locator('body[data-ready="true"]').waitFor();
  assert.match(await text(later, '#countdown'), /left$/);
  await later.clock.fastForward('02:00:00');
  await waitText(later, '#countdown', (t) => t === 'expired', 'the countdown after the expiry');
  assert.match(await later.locator('#countdown').getAttribute('class'), /\bexpired\b/);
  await waitText(later, '#status', (t) => t.includes('have expired'), 'the announcement of the expiry');
  await later.close();
  log('ok - past the expiry the countdown says "expired" and the status announces it');

  // The server cannot be reached: said so in words, and nothing else changes.
  provoked.push(/^Failed to load resource: net::ERR_CONNECTION_REFUSED/);
  await page.route(`${ORIGIN}/refresh`, (route) => route.abort('connectionrefused'));
  await page.locator('#refresh').click();
  await waitText(page, '#error', (t) => t.includes('cannot reach the needroleshere server'), 'the error when the server is gone');
  assert.equal(await text(page, '#id-name'), 'admin');
  await page.unroute(`${ORIGIN}/refresh`);
  provoked.pop();
  log(`ok - an unreachable server is said in words: "${await text(page, '#error')}"`);

  checkRequests();
}

// ---- serve ec2 admin: the dialog at load, no dialog for a profile with its own codes -------

async function ec2(context) {
  const { page, response } = await open(context);
  await checkHeaders(response);
  await checkRoleList(page);

  // Started on admin, which needs a code: GET /profile says mfaRequired, the dialog opens.
  const dialog = page.locator('#mfa-dialog');
  await dialog.waitFor({ state: 'visible' });
  assert.equal((await activeOnServer()).mfaRequired, true);
  assert.equal(await text(page, '#mfa-profile'), 'admin');
  assert.equal(await focusedId(page), 'mfa-code');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  await waitText(page, '#notice', (t) => t.includes('no credentials for admin until you enter an MFA code'), 'the notice');
  assert.equal(await text(page, '#countdown'), 'no credentials held');
  // The dialog can be had again from the keyboard: Tab to "Enter MFA code", Enter.
  await page.locator('#refresh').focus();
  await page.keyboard.press('Tab');
  assert.equal(await focusedId(page), 'mfa-open');
  await page.keyboard.press('Enter');
  await dialog.waitFor({ state: 'visible' });
  assert.equal(await focusedId(page), 'mfa-code');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  log('ok - serve ec2 admin: the MFA dialog opens at load (mfaRequired), Escape closes it, a button brings it back');

  // admin-totp makes its own codes: no dialog; its MFA session then serves admin too.
  await page.locator('#profile-select').selectOption('admin-totp');
  await waitText(page, '#id-name', (t) => t === 'admin-totp', 'the active profile after the switch');
  assert.equal(await dialog.isVisible(), false, 'a dialog opened for a profile that makes its own codes');
  const shown = await identity(page);
  assert.equal(shown.role, EXPECT.roleArns['admin-totp']);
  assert.equal(shown.account, EXPECT.account);
  assert.match(shown.countdown, /left$/);
  assert.equal(await page.locator('#notice').isVisible(), false);
  assert.equal((await activeOnServer()).name, 'admin-totp');
  // IMDS names the role (the last part of its ARN), as EC2 names an instance profile's.
  const role = EXPECT.roleArns['admin-totp'].split('/').pop();
  const listed = await server('/latest/meta-data/iam/security-credentials/');
  assert.equal(listed.text, role, 'the role IMDS lists');
  const imds = await server(`/latest/meta-data/iam/security-credentials/${role}`);
  assert.equal(imds.status, 200, imds.text);
  assert.equal(imds.json.AccessKeyId, shown.key, 'IMDS and the page show different keys');
  assert.equal(imds.json.Expiration, shown.expiry, 'IMDS and the page show different expiry times');
  log(`ok - switching to admin-totp needs no dialog; IMDS serves what the page shows (${shown.key})`);

  // Back to admin: the MFA session admin-totp opened serves it without a code.
  await page.locator('#profile-select').selectOption('admin');
  await waitText(page, '#id-name', (t) => t === 'admin', 'the active profile after switching back');
  assert.equal(await dialog.isVisible(), false);
  assert.equal((await activeOnServer()).mfaRequired, false);
  log('ok - back to admin without a code: the MFA session is shared');
  await screenshot(page, 'page-ec2-1280.png', 1280);
  checkRequests();
}

// ---- Main ---------------------------------------------------------------------------------

run.main(async (context) => {
  recordRequests(context);
  log(`ok - Chromium ${context.browser() ? context.browser().version() : ''} started`);
  await (MODE === 'ecs' ? ecs(context) : ec2(context));
});
