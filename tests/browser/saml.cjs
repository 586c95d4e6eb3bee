// The page of `serve ecs` for a SAML profile, in Debian's Chromium with playwright-core, for
// tests/saml_page.rs, against the real Keycloak (the server signs in to it; the browser talks
// to the server only).
//
// Usage: node tests/browser/saml.cjs MODE, with NODE_PATH=build/browser/node_modules and
//   PAGE_URL        http://127.0.0.1:PORT/ of `serve ecs PROFILE`, nobody signed in
//   PROXY_TRAP      127.0.0.1:PORT the browser must use as proxy for anything not local
//   SCREENSHOT_DIR  where to save screenshots
//   EXPECT          JSON, by MODE:
//     form  carol's sign-in by Keycloak's forms, the profile naming her role:
//           profile, user, password, wrongPassword, codes (30-second step → code),
//           wrongCode, roleArn, account
//     ecp   alice's sign-in over ECP, the profile naming no role (saml_username set):
//           profile, user, password, roleArns (both offered, ARN order), chosen, account
// Prints one line per check and "all checks passed (MODE)"; exits 1 at the first failure.
'use strict';

const assert = require('node:assert/strict');
const { browserRun, text } = require('./chromium.cjs');

const MODE = process.argv[2];
const PAGE = process.env.PAGE_URL;
const EXPECT = JSON.parse(process.env.EXPECT);

// The page's sign-in form is a password form: no leak check of what is typed into it.
const run = browserRun({
  name: 'saml', mode: MODE, origins: [new URL(PAGE).origin], stepTimeout: 30000, passwordForms: true,
});
const { log, waitFor } = run;
// Chromium logs every 4xx answer to fetch. Provoked here: the role list before the sign-in
// and the refusals this script asks for (a wrong password or code; the sign-in that ends
// with roles to choose from).
const provoked = {
  form: [/^Failed to load resource: the server responded with a status of 40[13]\b/],
  ecp: [/^Failed to load resource: the server responded with a status of 40[01]\b/],
}[MODE];

async function shot(page, name, options) {
  await run.shot(page, `saml-${MODE}-${name}.png`, options);
}

/** The page opened, nobody signed in: the sign-in dialog opens by itself, password only. */
async function passwordDialog(page, prefilled) {
  await page.locator('#auth-dialog[open]').waitFor();
  assert.equal(await text(page, '#auth-profile'), EXPECT.profile);
  await waitFor('no browser or code sign-in for a SAML provider', async () =>
    (await page.locator('#auth-browser').isHidden()) &&
    (await page.locator('#auth-device').isHidden()) ||
    'a browser or code button is shown');
  assert.equal(await page.locator('#auth-password-box').isVisible(), true, 'the password form');
  assert.equal(await page.locator('#auth-submit').isVisible(), true, 'the Sign in button');
  await waitFor('the username as the profile names it', async () => {
    const value = await page.locator('#auth-username').inputValue();
    return value === prefilled || value;
  });
  // The keyboard starts where typing is needed: the password when the username is known.
  const focused = prefilled ? 'auth-password' : 'auth-username';
  await waitFor(`the focus in #${focused}`, async () => {
    const id = await page.evaluate(() => document.activeElement && document.activeElement.id);
    return id === focused || id;
  });
  log(`ok - the sign-in dialog offers the password form only${prefilled ? `, ${prefilled} prefilled` : ''}`);
}

/** carol: a wrong password, the right one, a wrong code, the right code. */
async function form(page) {
  await passwordDialog(page, '');
  await shot(page, 'sign-in');

  await page.locator('#auth-username').fill(EXPECT.user);
  await page.locator('#auth-password').fill(EXPECT.wrongPassword);
  await page.locator('#auth-password').press('Enter');
  await page.locator('#auth-error:not([hidden])').waitFor();
  const refusal = await text(page, '#auth-error');
  assert.match(refusal, /username or password was not accepted/, refusal);
  assert.match(refusal, /refused the username or password/, refusal);
  assert.equal(await page.locator('#auth-dialog').isVisible(), true, 'the dialog stays open');
  assert.equal(await page.locator('#mfa-dialog').isVisible(), false, 'no code asked');
  log(`ok - a wrong password is refused in the dialog: ${refusal}`);

  await page.locator('#auth-password').fill(EXPECT.password);
  await page.locator('#auth-submit').click();
  await page.locator('#mfa-dialog[open]').waitFor();
  await page.locator('#auth-dialog').waitFor({ state: 'hidden' });
  assert.equal(await text(page, '#mfa-profile'), EXPECT.profile);
  await waitFor('the focus in the code field', async () => {
    const id = await page.evaluate(() => document.activeElement && document.activeElement.id);
    return id === 'mfa-code' || id;
  });
  await shot(page, 'code');
  log('ok - the right password opens the MFA dialog');

  await page.keyboard.type(EXPECT.wrongCode);
  await page.keyboard.press('Enter');
  await page.locator('#mfa-error:not([hidden])').waitFor();
  const wrong = await text(page, '#mfa-error');
  assert.match(wrong, /code was not accepted/, wrong);
  assert.match(wrong, /refused the one-time code/, wrong);
  assert.equal(await page.locator('#mfa-dialog').isVisible(), true, 'the dialog stays open');
  log(`ok - a wrong code is refused in the dialog: ${wrong}`);

  const code = EXPECT.codes[String(Math.floor(Date.now() / 30000))];
  assert.ok(code, 'a code for now');
  await page.locator('#mfa-code').fill(code);
  await page.locator('#mfa-submit').click();
  await page.locator('#mfa-dialog').waitFor({ state: 'hidden' });
  await waitFor('the page shows the role and account', async () => {
    const shown = [await text(page, '#id-role'), await text(page, '#id-account')];
    return (shown[0] === EXPECT.roleArn && shown[1] === EXPECT.account) || shown;
  });
  await waitFor('credentials are held', async () => {
    const key = await text(page, '#id-key');
    return /^ASIA/.test(key) || key;
  });
  await waitFor('the sign-in is announced', async () => {
    const said = await text(page, '#status');
    return said.startsWith('MFA code accepted') || said;
  });
  assert.equal(await page.locator('#error').isHidden(), true, await text(page, '#error'));
  assert.equal(await page.locator('#auth-dialog').isHidden(), true, 'no sign-in asked again');
  await shot(page, 'signed-in', { fullPage: true });
  log(`ok - the right code signs in: ${EXPECT.roleArn} in ${EXPECT.account}`);
}

/** alice: the password, then both roles in the card; the read-only one chosen. */
async function ecp(page) {
  // No role named, none known before the sign-in (not “the profile’s own keys”).
  await waitFor('the role is not known yet', async () => {
    const role = await text(page, '#id-role');
    return role === 'not known until you sign in' || role;
  });
  await passwordDialog(page, EXPECT.user);
  await page.keyboard.type(EXPECT.password);
  await page.keyboard.press('Enter');
  await page.locator('#auth-dialog').waitFor({ state: 'hidden' });
  assert.equal(await page.locator('#mfa-dialog').isVisible(), false, 'no code asked');
  log('ok - the password signs in; the dialog closed');

  const labels = EXPECT.roleArns.map((arn) => `${EXPECT.account} — ${arn.split('/').pop()}`);
  await waitFor('the role card lists both roles', async () => {
    const options = await page.locator('#role-select option').allTextContents();
    return JSON.stringify(options) === JSON.stringify(labels) || options;
  });
  assert.equal(await page.locator('#role-select').isEnabled(), true);
  assert.equal(await text(page, '#roles-profile'), EXPECT.profile);
  // No role yet: the page says why, and the keyboard is at the role list.
  const why = await text(page, '#error');
  assert.match(why, /choose/, why);
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
  assert.equal(focused, 'role-select');
  assert.equal(await text(page, '#id-role'), 'none chosen yet (see Account and role)');
  await shot(page, 'roles', { fullPage: true });
  log(`ok - the role card lists ${labels.join(' | ')}; the page asks for a choice`);

  const index = EXPECT.roleArns.indexOf(EXPECT.chosen);
  await page.locator('#role-select').selectOption(String(index));
  await page.locator('#role-use').click();
  const name = EXPECT.chosen.split('/').pop();
  await waitFor('the switch is announced', async () => {
    const said = await text(page, '#status');
    return said.startsWith(`Switched to ${name} in ${EXPECT.account}`) || said;
  });
  await waitFor('the list marks the chosen role active', async () => {
    const now = await page.locator('#role-select option').allTextContents();
    return now[index] === `${labels[index]} (active)` && now.filter((o) => o.endsWith('(active)')).length === 1 || now;
  });
  await waitFor('the page shows the chosen role and account', async () => {
    const shown = [await text(page, '#id-role'), await text(page, '#id-account')];
    return (shown[0] === EXPECT.chosen && shown[1] === EXPECT.account) || shown;
  });
  await waitFor('credentials are held', async () => {
    const key = await text(page, '#id-key');
    return /^ASIA/.test(key) || key;
  });
  assert.equal(await page.locator('#error').isHidden(), true, await text(page, '#error'));
  await shot(page, 'chosen', { fullPage: true });
  log(`ok - ${name} chosen and active`);

  // A phone's width: nothing wider than the screen (role ARNs wrap).
  await page.setViewportSize({ width: 360, height: 780 });
  await waitFor('no sideways scrolling at 360 px', async () => {
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    return width <= 360 || width;
  });
  await shot(page, 'phone', { fullPage: true });
  log('ok - the page fits a phone’s width');
}

assert.ok(provoked, `MODE must be form or ecp, not ${MODE}`);
run.main(async (context) => {
  const { page } = await run.open(context, PAGE, provoked);
  await waitFor('the profile is shown', async () => {
    const name = await text(page, '#id-name');
    return name === EXPECT.profile || name;
  });
  if (MODE === 'form') await form(page);
  else await ecp(page);
  run.assertClean();
  log('ok - no request beyond the server, no console errors');
});
