// The Chromium the browser scripts launch (tests/browser/*.cjs): Debian's,
// headless, with nothing that would call Google, and everything not on loopback sent to the
// test's proxy trap.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

/** Options for `chromium.launchPersistentContext`, with `proxyTrap` (127.0.0.1:PORT). */
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
      `--proxy-server=http://${proxyTrap}`,
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

module.exports = { launchOptions, quietPasswordManager };
