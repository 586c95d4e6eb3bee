// The desktop servers' page. It uses only the management API of this server (same origin),
// sends X-Requested-By on every call that changes something, and never handles a secret
// key or session token: the API shows access key ids and expiry times only.
//
// Flows: choosing a profile POSTs /profile at once; "Refresh now" POSTs /refresh. Either may
// answer 401 with X-AwsRunas-Authentication-Type: MFA (the MFA dialog opens and POSTs /mfa)
// or AUTH (the sign-in dialog opens and POSTs /auth). GET /profile is read at start, after
// every change and every few seconds, so a change made elsewhere (curl, another tab) shows.
// For a profile that reaches several accounts and roles (IAM Identity Center), GET
// /manage/profiles/NAME/roles fills the role selector when the active profile changes, and
// "Use this role" POSTs /manage/profiles/NAME/role.
'use strict';

(() => {
  const AUTH_TYPE = 'X-AwsRunas-Authentication-Type';
  const CSRF = { 'X-Requested-By': 'needroleshere' };
  const POLL_MS = 10000;
  // Arrow keys on a closed <select> fire "change" at every step: wait until the person has
  // stopped moving before switching, so passing over a profile does not switch to it.
  const KEYBOARD_SETTLE_MS = 700;

  const $ = (id) => document.getElementById(id);
  const el = {
    select: $('profile-select'),
    refresh: $('refresh'),
    mfaOpen: $('mfa-open'),
    notice: $('notice'),
    status: $('status'),
    error: $('error'),
    name: $('id-name'),
    role: $('id-role'),
    account: $('id-account'),
    region: $('id-region'),
    source: $('id-source'),
    mfa: $('id-mfa'),
    key: $('id-key'),
    expiry: $('id-expiry'),
    countdown: $('countdown'),
    mfaDialog: $('mfa-dialog'),
    mfaForm: $('mfa-form'),
    mfaProfile: $('mfa-profile'),
    mfaDevice: $('mfa-device'),
    mfaCode: $('mfa-code'),
    mfaError: $('mfa-error'),
    mfaCancel: $('mfa-cancel'),
    mfaSubmit: $('mfa-submit'),
    authDialog: $('auth-dialog'),
    authForm: $('auth-form'),
    authProfile: $('auth-profile'),
    authUser: $('auth-username'),
    authPassword: $('auth-password'),
    authError: $('auth-error'),
    authCancel: $('auth-cancel'),
    authSubmit: $('auth-submit'),
    authBrowser: $('auth-browser'),
    authDevice: $('auth-device'),
    authDeviceBox: $('auth-device-box'),
    authDeviceLink: $('auth-device-link'),
    authDeviceCode: $('auth-device-code'),
    authDeviceStatus: $('auth-device-status'),
    authPasswordBox: $('auth-password-box'),
    rolesCard: $('roles-card'),
    rolesProfile: $('roles-profile'),
    roleSelect: $('role-select'),
    roleUse: $('role-use'),
  };

  const state = {
    profile: null, // the last GET /profile answer
    busy: false, // a state-changing call is in flight
    mfaTarget: null, // the profile the MFA dialog is for
    authTarget: null,
    dismissedMfa: false, // the person closed the MFA dialog: do not reopen it by itself
    dismissedAuth: false, // the same for the sign-in dialog
    devicePolling: false, // a device sign-in is being waited for
    announcedExpiry: null, // the expiry whose passing was already announced
    keyboard: false, // the last change of the selector came from the keyboard
    settleTimer: null, // a keyboard choice waiting to settle
    loadFailed: false, // the error shown is that GET /profile failed
    rolesFor: null, // the profile whose roles the role selector shows (or is reading)
    roles: [], // its roles, as GET /manage/profiles/NAME/roles answered
    rolesShown: null, // the profile the role card is shown for (a list or a sign-in hint)
  };

  // ---- HTTP -------------------------------------------------------------------------------

  /** One call to this server: {status, ok, authType, data, text}; status 0 when unreachable. */
  async function call(method, path, body, contentType) {
    const init = {
      method,
      mode: 'same-origin',
      credentials: 'same-origin',
      cache: 'no-store',
      redirect: 'error',
      headers: { Accept: 'application/json' },
    };
    if (method !== 'GET') Object.assign(init.headers, CSRF);
    if (body !== undefined) {
      init.body = body;
      init.headers['Content-Type'] = contentType;
    }
    let response;
    let text = '';
    try {
      response = await fetch(path, init);
      text = await response.text();
    } catch (_) {
      return { status: 0, ok: false, authType: null, data: null, text: '' };
    }
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (_) {
      data = null;
    }
    return {
      status: response.status,
      ok: response.ok,
      authType: (response.headers.get(AUTH_TYPE) || '').toUpperCase() || null,
      data,
      text,
    };
  }

  const form = (fields) => new URLSearchParams(fields).toString();
  const FORM = 'application/x-www-form-urlencoded';

  /** What the server said, as one line; never more than a few hundred characters. */
  function detailOf(answer) {
    const said = answer.data && typeof answer.data.error === 'string' ? answer.data.error : answer.text;
    return (said || '').trim().slice(0, 400);
  }

  /** A failed answer in words a person understands: {summary, detail}. */
  function explain(answer, doing) {
    const detail = detailOf(answer);
    const s = answer.status;
    let summary;
    if (s === 0) {
      summary = `${doing} failed: this page cannot reach the needroleshere server. Is it still running?`;
    } else if (s === 400) {
      summary = `${doing} failed: the server could not use what was sent.`;
    } else if (s === 401) {
      summary = `${doing} needs you to prove who you are first.`;
    } else if (s === 403) {
      summary = `${doing} was refused.`;
    } else if (s === 404) {
      summary = `${doing} failed: that profile is not in your AWS config or credentials files.`;
    } else if (s === 502) {
      summary = `${doing} failed: AWS did not give credentials.`;
    } else if (s === 503) {
      summary = `${doing} failed: the credentials are not available right now.`;
    } else if (s === 504) {
      summary = `${doing} failed: AWS did not answer in time. Try again in a moment.`;
    } else if (s >= 500) {
      summary = `${doing} failed: the server had a problem (error ${s}).`;
    } else {
      summary = `${doing} failed (error ${s}).`;
    }
    return { summary, detail };
  }

  // ---- Messages ---------------------------------------------------------------------------

  function say(text) {
    // Clearing first makes screen readers announce a message equal to the previous one.
    el.status.textContent = '';
    window.setTimeout(() => {
      el.status.textContent = text;
    }, 30);
  }

  function showError(target, message) {
    target.replaceChildren();
    if (!message) {
      target.hidden = true;
      return;
    }
    const summary = document.createElement('span');
    summary.className = 'summary';
    summary.textContent = message.summary;
    target.append(summary);
    if (message.detail) {
      const detail = document.createElement('span');
      detail.className = 'detail';
      detail.textContent = `The server said: ${message.detail}`;
      target.append(' ', detail);
    }
    target.hidden = false;
  }

  const clearError = () => showError(el.error, null);

  // ---- The identity -------------------------------------------------------------------------

  function accountOf(profile) {
    if (profile.session && profile.session.accountId) return profile.session.accountId;
    if (profile.accountId) return profile.accountId;
    const match = /^arn:[^:]+:(?:iam|sts)::(\d{12}):/.exec(profile.roleArn || '');
    return match ? match[1] : null;
  }

  function text(node, value, fallback) {
    node.textContent = value || fallback;
    node.classList.toggle('none', !value);
  }

  /** What the Role ARN line says when the profile names no role. */
  function roleUnnamed(name) {
    // A profile choosing among the roles of a sign-in (SAML) has none until one is chosen.
    if (state.rolesShown === name) {
      return el.roleSelect.disabled ? 'not known until you sign in' : 'none chosen yet (see Account and role)';
    }
    return 'none (the profile’s own keys)';
  }

  function render(profile) {
    state.profile = profile;
    const session = profile.session || null;
    text(el.name, profile.name, '—');
    const ssoRole = profile.roleName ? `${profile.roleName} (IAM Identity Center)` : null;
    text(el.role, profile.roleArn || ssoRole, roleUnnamed(profile.name));
    text(el.account, accountOf(profile), 'not known yet');
    text(el.region, profile.region, 'not set');
    text(el.source, profile.sourceProfile, '—');
    text(el.mfa, profile.mfaSerial, 'none');
    text(el.key, session && session.accessKey, 'none held yet');
    if (session && session.expiration) {
      el.expiry.dateTime = session.expiration;
      el.expiry.textContent = new Date(session.expiration).toLocaleString(undefined, {
        dateStyle: 'medium',
        timeStyle: 'long',
      });
    } else {
      el.expiry.removeAttribute('datetime');
      el.expiry.textContent = '';
    }
    document.title = `${profile.name} — needroleshere`;
    // Leave the selector alone while the person is still moving through it.
    if (state.settleTimer === null) selectValue(profile.name);
    renderNotice();
    tick();
  }

  function renderNotice() {
    const p = state.profile;
    let message = '';
    if (p && p.mfaRequired) {
      message = `Programs get no credentials for ${p.name} until you enter an MFA code.`;
    } else if (p && p.pending && p.pending !== p.name) {
      message = `A switch to ${p.pending} is waiting for an MFA code; ${p.name} stays active until then.`;
    } else if (p && !p.session) {
      message = `No credentials are held for ${p.name} yet: they are fetched when a program asks, or when you press “Refresh now”.`;
    }
    el.notice.textContent = message;
    el.notice.hidden = !message;
    el.mfaOpen.hidden = !(p && (p.mfaRequired || (p.pending && p.pending !== p.name)));
  }

  /** "1 h 02 min 05 s left", updated every second. */
  function tick() {
    const p = state.profile;
    const expiration = p && p.session && p.session.expiration;
    el.countdown.classList.remove('expired', 'soon');
    if (!expiration) {
      el.countdown.textContent = p ? 'no credentials held' : '';
      return;
    }
    const left = Math.floor((Date.parse(expiration) - Date.now()) / 1000);
    if (!(left > 0)) {
      el.countdown.textContent = 'expired';
      el.countdown.classList.add('expired');
      if (state.announcedExpiry !== expiration) {
        state.announcedExpiry = expiration;
        say(`The credentials of ${p.name} have expired.`);
        load();
      }
      return;
    }
    const h = Math.floor(left / 3600);
    const m = Math.floor((left % 3600) / 60);
    const s = left % 60;
    const two = (n) => String(n).padStart(2, '0');
    el.countdown.textContent = h > 0 ? `${h} h ${two(m)} min ${two(s)} s left` : `${m} min ${two(s)} s left`;
    if (left < 600) el.countdown.classList.add('soon');
  }

  // ---- The selector -----------------------------------------------------------------------

  function option(name) {
    const o = document.createElement('option');
    o.value = name;
    o.textContent = name;
    return o;
  }

  async function loadNames() {
    const [roles, profiles] = await Promise.all([call('GET', '/list-roles'), call('GET', '/list-profiles')]);
    for (const answer of [roles, profiles]) {
      if (!answer.ok || !Array.isArray(answer.data)) {
        showError(el.error, explain(answer, 'Reading the list of profiles'));
        return false;
      }
    }
    el.select.replaceChildren();
    const groups = [
      ['Roles', roles.data],
      ['Profiles without a role', profiles.data],
    ];
    for (const [label, names] of groups) {
      if (!names.length) continue;
      const group = document.createElement('optgroup');
      group.label = label;
      for (const name of names) group.append(option(String(name)));
      el.select.append(group);
    }
    el.select.disabled = false;
    return true;
  }

  function selectValue(name) {
    if (![...el.select.options].some((o) => o.value === name)) {
      el.select.append(option(name));
    }
    el.select.value = name;
  }

  function revertSelector() {
    if (state.profile) selectValue(state.profile.name);
  }

  // ---- Loading and changing ---------------------------------------------------------------

  /** Reads GET /profile and shows it; opens the MFA dialog when a code is needed. */
  async function load() {
    const answer = await call('GET', '/profile');
    if (!answer.ok || !answer.data) {
      state.loadFailed = true;
      showError(el.error, explain(answer, 'Reading the active profile'));
      return;
    }
    if (state.loadFailed) {
      state.loadFailed = false;
      clearError();
    }
    const before = state.profile;
    render(answer.data);
    const p = answer.data;
    if (p.name !== state.rolesFor || (before && before.session && p.session && before.session.accessKey !== p.session.accessKey)) {
      loadRoles(p.name);
    }
    if (!p.mfaRequired) {
      state.dismissedMfa = false;
    } else if (!state.busy && !dialogOpen() && !(state.dismissedMfa && before && before.mfaRequired)) {
      openMfa(p.pending || p.name);
    }
    if (!p.signInRequired) {
      state.dismissedAuth = false;
    } else if (!state.busy && !dialogOpen() && !(state.dismissedAuth && before && before.signInRequired)) {
      openAuth(p.pending || p.name);
    }
  }

  const dialogOpen = () => el.mfaDialog.open || el.authDialog.open;

  /**
   * Handles the answer to a call that switches to `target` (POST /profile, /refresh, /mfa,
   * /auth): `doing` names the attempt in an error ("Switching to admin"), `done` its success
   * ("Switched to admin"). Returns true when it succeeded.
   */
  async function settle(answer, target, doing, done) {
    if (answer.ok) {
      clearError();
      await load();
      const p = state.profile;
      const until = p && p.session && p.session.expiration
        ? `; its credentials expire at ${new Date(p.session.expiration).toLocaleTimeString()}`
        : '';
      say(`${done}: now serving ${p ? p.name : target}${p && p.roleArn ? ` (${p.roleArn})` : ''}${until}.`);
      return true;
    }
    if (answer.status === 401 && answer.authType === 'MFA') {
      openMfa(target);
      return false;
    }
    if (answer.status === 401 && answer.authType === 'AUTH') {
      openAuth(target);
      return false;
    }
    showError(el.error, explain(answer, doing));
    revertSelector();
    say(state.profile ? `${state.profile.name} is still active.` : '');
    return false;
  }

  async function busy(work) {
    state.busy = true;
    el.refresh.disabled = true;
    el.select.setAttribute('aria-busy', 'true');
    try {
      return await work();
    } finally {
      state.busy = false;
      el.refresh.disabled = false;
      el.select.removeAttribute('aria-busy');
    }
  }

  async function switchTo(name) {
    if (!name || (state.profile && name === state.profile.name && !state.profile.pending)) return;
    clearError();
    say(`Switching to ${name}…`);
    await busy(async () => {
      const answer = await call('POST', '/profile', name, 'text/plain; charset=utf-8');
      await settle(answer, name, `Switching to ${name}`, `Switched to ${name}`);
    });
  }

  async function refresh() {
    const name = state.profile ? state.profile.name : 'the active profile';
    clearError();
    say(`Refreshing the credentials of ${name}…`);
    await busy(async () => {
      const answer = await call('POST', '/refresh');
      await settle(answer, name, `Refreshing ${name}`, `Refreshed ${name}`);
    });
  }

  // ---- Accounts and roles -----------------------------------------------------------------

  function roleLabel(role) {
    const account = role.accountName ? `${role.accountName} (${role.accountId})` : role.accountId;
    return `${account} — ${role.roleName}${role.active ? ' (active)' : ''}`;
  }

  /** Reads the roles `name` may act as; hides the card for a profile with one role. */
  async function loadRoles(name) {
    state.rolesFor = name;
    const answer = await call('GET', `/manage/profiles/${encodeURIComponent(name)}/roles`);
    if (state.rolesFor !== name) return;
    const roles = answer.ok && answer.data && Array.isArray(answer.data.roles) ? answer.data.roles : null;
    el.rolesProfile.textContent = name;
    el.roleSelect.replaceChildren();
    state.roles = roles || [];
    if (roles && roles.length) {
      roles.forEach((role, index) => {
        const o = document.createElement('option');
        o.value = String(index);
        o.textContent = roleLabel(role);
        if (role.active) o.selected = true;
        el.roleSelect.append(o);
      });
      el.roleSelect.disabled = false;
      el.roleUse.disabled = false;
      el.rolesCard.hidden = false;
    } else if (answer.status === 401) {
      // Not signed in yet: the list comes once the sign-in is done.
      const o = document.createElement('option');
      o.textContent = 'Sign in to see the accounts and roles';
      el.roleSelect.append(o);
      el.roleSelect.disabled = true;
      el.roleUse.disabled = true;
      el.rolesCard.hidden = false;
      state.rolesFor = null;
    } else {
      el.rolesCard.hidden = true;
      if (!answer.ok) state.rolesFor = null;
    }
    state.rolesShown = el.rolesCard.hidden ? null : name;
    if (state.profile && state.profile.name === name) render(state.profile);
  }

  async function useRole() {
    const name = state.rolesFor;
    const role = state.roles[Number(el.roleSelect.value)];
    if (!name || !role) return;
    const what = `${role.roleName} in ${role.accountName || role.accountId}`;
    clearError();
    say(`Switching ${name} to ${what}…`);
    el.roleUse.disabled = true;
    await busy(async () => {
      const answer = await call(
        'POST',
        `/manage/profiles/${encodeURIComponent(name)}/role`,
        form(role.roleArn ? { roleArn: role.roleArn } : { accountId: role.accountId, roleName: role.roleName }),
        FORM,
      );
      if (await settle(answer, name, `Switching to ${what}`, `Switched to ${what}`)) await loadRoles(name);
    });
    el.roleUse.disabled = false;
  }

  // ---- Dialogs ----------------------------------------------------------------------------

  function openDialog(dialog, focus) {
    if (!dialog.open) dialog.showModal();
    focus.focus();
  }

  function closeDialog(dialog) {
    if (dialog.open) dialog.close();
    el.select.focus();
  }

  async function openMfa(target) {
    state.mfaTarget = target;
    el.mfaProfile.textContent = target;
    el.mfaDevice.textContent = '';
    el.mfaCode.value = '';
    el.mfaCode.setAttribute('aria-invalid', 'false');
    showError(el.mfaError, null);
    el.mfaSubmit.disabled = false;
    openDialog(el.mfaDialog, el.mfaCode);
    say(`Profile ${target} needs an MFA code.`);
    // Name the device, so a person with several knows which one to look at.
    const info = await call('GET', `/manage/profiles/${encodeURIComponent(target)}`);
    const serial = info.ok && info.data && info.data.profile && info.data.profile.mfaSerial;
    if (serial && state.mfaTarget === target) el.mfaDevice.textContent = ` (${serial})`;
  }

  async function submitMfa(event) {
    event.preventDefault();
    if (el.mfaSubmit.disabled) return;
    const code = el.mfaCode.value.replace(/\s+/g, '');
    if (!code) {
      el.mfaCode.setAttribute('aria-invalid', 'true');
      showError(el.mfaError, { summary: 'Type the 6-digit code your MFA device shows now.' });
      el.mfaCode.focus();
      return;
    }
    const target = state.mfaTarget;
    el.mfaSubmit.disabled = true;
    showError(el.mfaError, null);
    await busy(async () => {
      const answer = await call('POST', '/mfa', form({ mfa: code }), FORM);
      if (answer.ok) {
        state.dismissedMfa = false;
        el.mfaDialog.close();
        el.select.focus();
        await settle(answer, target, 'Using the MFA code', 'MFA code accepted');
        return;
      }
      if (await signedInAnyway(target, answer)) return;
      const still = state.profile ? state.profile.name : 'the active profile';
      let message;
      if (answer.status === 400) {
        message = {
          summary: 'That is not an MFA code: it must be the 6 digits your device shows, without letters.',
          detail: detailOf(answer),
        };
      } else if (answer.status === 403) {
        message = {
          summary: `That code was not accepted. It may be mistyped, too old or already used: wait for the next code and type it. Nothing has changed: ${still} is still active.`,
          detail: detailOf(answer),
        };
      } else if (answer.status === 401 && answer.authType === 'AUTH') {
        el.mfaDialog.close();
        openAuth(target);
        return;
      } else {
        message = explain(answer, 'Using the code');
      }
      el.mfaCode.setAttribute('aria-invalid', 'true');
      showError(el.mfaError, message);
      el.mfaCode.focus();
      el.mfaCode.select();
    });
    el.mfaSubmit.disabled = false;
  }

  function cancelMfa() {
    state.dismissedMfa = true;
    closeDialog(el.mfaDialog);
    revertSelector();
    const still = state.profile ? state.profile.name : 'the active profile';
    say(`No MFA code given: ${still} is still active.`);
    load();
  }

  function openAuth(target) {
    state.authTarget = target;
    state.devicePolling = false;
    el.authProfile.textContent = target;
    el.authUser.value = '';
    el.authPassword.value = '';
    el.authDeviceBox.hidden = true;
    el.authDevice.hidden = true;
    el.authBrowser.hidden = false;
    el.authPasswordBox.hidden = false;
    el.authSubmit.hidden = false;
    showError(el.authError, null);
    el.authSubmit.disabled = false;
    el.authBrowser.disabled = false;
    openDialog(el.authDialog, el.authBrowser);
    say(`Profile ${target} needs you to sign in.`);
    call('GET', `/signin?profile=${encodeURIComponent(target)}`).then((answer) => {
      const signIn = answer.ok && answer.data && answer.data.signIn;
      if (!signIn || state.authTarget !== target) return;
      if (signIn.deviceFlow) el.authDevice.hidden = false;
      if (signIn.browserFlow === false) el.authBrowser.hidden = true;
      if (signIn.passwordFlow === false) {
        // IAM Identity Center: a device code only, no password.
        el.authPasswordBox.hidden = true;
        el.authSubmit.hidden = true;
        el.authDevice.focus();
      } else if (signIn.browserFlow === false) {
        // A SAML provider: the username and password form only.
        if (signIn.username && !el.authUser.value) el.authUser.value = signIn.username;
        (el.authUser.value ? el.authPassword : el.authUser).focus();
      }
    });
  }

  /**
   * After a failed POST /auth or /mfa: whether the sign-in itself worked and only what came
   * after it failed (a SAML provider offering several roles to a profile that names none).
   * Then the dialogs close, the page shows why there are no credentials yet, and the role
   * card (filled now the roles are known) takes the focus.
   */
  async function signedInAnyway(target, answer) {
    // Only for a profile this page asked to sign in (others have no GET /signin to ask).
    if (state.authTarget !== target || answer.status === 0 || (answer.status === 401 && answer.authType)) return false;
    const status = await call('GET', `/signin?profile=${encodeURIComponent(target)}`);
    if (!(status.ok && status.data && status.data.signIn && status.data.signIn.signedIn)) return false;
    if (el.authDialog.open) el.authDialog.close();
    if (el.mfaDialog.open) el.mfaDialog.close();
    state.dismissedAuth = false;
    state.dismissedMfa = false;
    await load();
    await loadRoles(target);
    showError(el.error, { summary: `Signed in, but ${target} has no credentials yet.`, detail: detailOf(answer) });
    if (state.rolesFor === target && !el.rolesCard.hidden && !el.roleSelect.disabled) {
      say(`Signed in. Choose the account and role ${target} should use.`);
      el.roleSelect.focus();
    } else {
      say(`Signed in, but ${target} has no credentials yet.`);
      el.select.focus();
    }
    return true;
  }

  /** Starts a browser sign-in: this tab goes to the provider, which sends it back here. */
  async function signInWithBrowser() {
    const target = state.authTarget;
    el.authBrowser.disabled = true;
    const answer = await call('POST', '/signin', form({ flow: 'browser', profile: target }), FORM);
    if (answer.ok && answer.data && answer.data.url) {
      say('Going to the identity provider…');
      window.location.assign(answer.data.url);
      return;
    }
    el.authBrowser.disabled = false;
    showError(el.authError, explain(answer, 'Starting the sign-in'));
  }

  /** Starts a device sign-in: shows the code, then waits until the server is signed in. */
  async function signInWithCode() {
    const target = state.authTarget;
    el.authDevice.disabled = true;
    const answer = await call('POST', '/signin', form({ flow: 'device', profile: target }), FORM);
    el.authDevice.disabled = false;
    const device = answer.ok && answer.data && answer.data.device;
    if (!device) {
      showError(el.authError, explain(answer, 'Starting the sign-in'));
      return;
    }
    const link = device.verificationUriComplete || device.verificationUri;
    el.authDeviceLink.textContent = device.verificationUri;
    el.authDeviceLink.href = /^https?:/.test(link) ? link : '#';
    el.authDeviceCode.textContent = device.userCode;
    el.authDeviceStatus.textContent = 'Waiting for the sign-in…';
    el.authDeviceBox.hidden = false;
    say(`Enter the code ${device.userCode} at ${device.verificationUri}.`);
    state.devicePolling = true;
    while (state.devicePolling && el.authDialog.open && state.authTarget === target) {
      await new Promise((resolve) => window.setTimeout(resolve, 2000));
      const status = await call('GET', `/signin?profile=${encodeURIComponent(target)}`);
      const signIn = status.ok && status.data && status.data.signIn;
      if (signIn && signIn.signedIn) {
        state.devicePolling = false;
        el.authDialog.close();
        await settle(await call('POST', '/profile', target, 'text/plain; charset=utf-8'), target, 'Signing in', 'Signed in');
        return;
      }
      if (signIn && signIn.deviceError) {
        state.devicePolling = false;
        el.authDeviceBox.hidden = true;
        showError(el.authError, { summary: 'The sign-in with a code did not finish.', detail: signIn.deviceError });
        return;
      }
    }
  }

  async function submitAuth(event) {
    event.preventDefault();
    if (el.authSubmit.disabled) return;
    const username = el.authUser.value;
    const password = el.authPassword.value;
    if (!username || !password) {
      showError(el.authError, { summary: 'Type both the username and the password.' });
      (username ? el.authPassword : el.authUser).focus();
      return;
    }
    const target = state.authTarget;
    el.authSubmit.disabled = true;
    await busy(async () => {
      const answer = await call('POST', '/auth', form({ username, password, profile: target }), FORM);
      el.authPassword.value = '';
      if (answer.ok) {
        el.authDialog.close();
        el.select.focus();
        await settle(answer, target, 'Signing in', 'Signed in');
        return;
      }
      if (answer.status === 401 && answer.authType === 'MFA') {
        el.authDialog.close();
        openMfa(target);
        return;
      }
      if (await signedInAnyway(target, answer)) return;
      let message;
      if (answer.status === 400) {
        message = { summary: 'The server cannot sign in with a username and password for this profile.', detail: detailOf(answer) };
      } else if (answer.status === 401 || answer.status === 403) {
        message = { summary: 'The username or password was not accepted.', detail: detailOf(answer) };
      } else {
        message = explain(answer, 'Signing in');
      }
      showError(el.authError, message);
      el.authUser.focus();
    });
    el.authSubmit.disabled = false;
  }

  function cancelAuth() {
    state.devicePolling = false;
    state.dismissedAuth = true;
    closeDialog(el.authDialog);
    revertSelector();
    const still = state.profile ? state.profile.name : 'the active profile';
    say(`Not signed in: ${still} is still active.`);
  }

  // ---- Wiring -----------------------------------------------------------------------------

  el.select.addEventListener('keydown', () => {
    state.keyboard = true;
  });
  el.select.addEventListener('pointerdown', () => {
    state.keyboard = false;
  });
  el.select.addEventListener('change', () => {
    window.clearTimeout(state.settleTimer);
    state.settleTimer = null;
    const name = el.select.value;
    if (state.keyboard) {
      state.settleTimer = window.setTimeout(() => {
        state.settleTimer = null;
        switchTo(el.select.value);
      }, KEYBOARD_SETTLE_MS);
    } else {
      switchTo(name);
    }
  });
  el.refresh.addEventListener('click', refresh);
  el.roleUse.addEventListener('click', useRole);
  el.mfaOpen.addEventListener('click', () => {
    const p = state.profile;
    if (p) openMfa(p.pending || p.name);
  });
  el.mfaForm.addEventListener('submit', submitMfa);
  el.mfaCancel.addEventListener('click', cancelMfa);
  // Escape fires "cancel" on a modal dialog; treat it as the Cancel button.
  el.mfaDialog.addEventListener('cancel', (event) => {
    event.preventDefault();
    cancelMfa();
  });
  el.authForm.addEventListener('submit', submitAuth);
  el.authCancel.addEventListener('click', cancelAuth);
  el.authBrowser.addEventListener('click', signInWithBrowser);
  el.authDevice.addEventListener('click', signInWithCode);
  el.authDialog.addEventListener('cancel', (event) => {
    event.preventDefault();
    cancelAuth();
  });

  async function start() {
    const named = await loadNames();
    await load();
    if (named) el.refresh.disabled = false;
    window.setInterval(tick, 1000);
    window.setInterval(() => {
      if (!state.busy && document.visibilityState === 'visible') load();
    }, POLL_MS);
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && !state.busy) load();
    });
    document.body.dataset.ready = 'true';
  }

  start();
})();
