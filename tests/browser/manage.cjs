// Opens the desktop page where aws-mock-metadata's users find it (`GET /manage`) in Debian's
// Chromium with playwright-core, against a `needroleshere serve ec2` serving an
// aws-mock-metadata configuration that tests/mock_metadata.rs started. Run by that test.
//
// Usage: node tests/browser/manage.cjs, with NODE_PATH=build/browser/node_modules and
//   PAGE_URL        http://127.0.0.1:PORT/manage
//   EXPECT          JSON: {profiles: [names], active: name}
//   MFA_CODES       JSON {"<30 s step>": "<code>"}: the page asks for a code; one is typed
//   SCREENSHOT_DIR  where to save the screenshot
// Prints one line per check and "all checks passed (manage)"; exits 1 with the reason (and a
// screenshot) at the first failure.
'use strict';

const assert = require('node:assert/strict');
const { browserRun } = require('./chromium.cjs');

const PAGE = process.env.PAGE_URL;
const EXPECT = JSON.parse(process.env.EXPECT || '{}');
const CODES = JSON.parse(process.env.MFA_CODES || '{}');
const TIMEOUT = 15000;

// The page may reach its server and nothing else.
const run = browserRun({ name: 'manage', origins: [new URL(PAGE).origin], stepTimeout: TIMEOUT });
const { log } = run;

run.main(async (context) => {
  const page = run.watch(await run.firstPage(context));

  const response = await page.goto(PAGE);
  assert.equal(response.status(), 200, 'GET /manage');
  log('ok: /manage answers with the page');

  await page.waitForFunction(() => !document.querySelector('#profile-select').disabled, null,
    { timeout: TIMEOUT });
  const options = await page.$$eval('#profile-select option', (os) => os.map((o) => o.value));
  for (const name of EXPECT.profiles) {
    assert.ok(options.includes(name), `profile ${name} in the selector (${options})`);
  }
  log(`ok: the selector lists the file's profiles (${options.join(', ')})`);

  // The profile needs a code from a person: the page asks for it.
  await page.locator('#mfa-dialog').waitFor({ state: 'visible', timeout: TIMEOUT });
  const step = Math.floor(Date.now() / 1000 / 30);
  const code = CODES[String(step)];
  assert.ok(code, `a code for step ${step}`);
  await page.fill('#mfa-code', code);
  await page.click('#mfa-submit');
  await page.waitForFunction(() => /^ASIA/.test(document.querySelector('#id-key').textContent),
    null, { timeout: TIMEOUT });
  const name = (await page.textContent('#id-name')).trim();
  assert.equal(name, EXPECT.active, 'the active profile');
  log(`ok: after the code, the page shows credentials of ${name}`);

  await run.shot(page, 'mock-metadata-manage.png', { fullPage: true });
  run.assertClean();
});
