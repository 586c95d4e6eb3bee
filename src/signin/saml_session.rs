//! Signing in to SAML identity providers for profiles with `saml_auth_url` (aws-runas's
//! keys), and keeping the sign-in so renewals need nobody.
//!
//! [`SamlSignIns`] holds, in memory only, one sign-in per provider URL and configured user
//! ([`SamlKey`]): the provider's cookies (its session), the password when one was given
//! (so an ECP provider, which keeps no session, can be asked again), an assertion not yet
//! spent, and a one-time-code form waiting for a person. Every profile with the same URL and
//! user shares it. An entry lives only while it holds one of these: a conversation that
//! fails leaves none behind for a profile that was merely asked about.
//!
//! * A source asks [`SamlSignIns::assertion`]: an unspent assertion that STS still takes,
//!   else a new one — from the provider's session (its cookies), else signing in with the
//!   password kept or `SAML_PASSWORD` — else [`SamlSignInError::NeedsPerson`] at once. A
//!   one-time code is never invented: [`SamlSignInError::NeedsCode`] says a person must
//!   give one ([`SamlSignIns::give_code`]), and a refused code is not tried again.
//! * A person signs in with [`SamlSignIns::sign_in`] (username and password; the page's
//!   `POST /auth`, or the terminal).
//! * How: with a password, ECP first (a SOAP `AuthnRequest` with HTTP Basic authentication
//!   to `saml_auth_url`); a URL that does not answer in SOAP is remembered and signed into
//!   by form: follow the redirects, fill the username and password form, ask for a code when
//!   a form wants one, and take the `SAMLResponse` from the form meant for AWS (never posted
//!   there). Redirects go only to https, or http on loopback.
//!
//! Each assertion is spent once: STS refuses a replay, so each AssumeRoleWithSAML takes a
//! fresh one (from the provider's session, usually without a person).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cookie_store::CookieStore;
use reqwest::header;
use url::Url;

use super::saml::{Assertion, EcpAnswer, Form, FormKind, Page, RolePair, SamlError};
use crate::aws_files::profiles::{SamlSettings, is_loopback_http};
use crate::secret::Secret;
use crate::source::{Kind, SourceError};
use crate::system::clock::Clock;

/// An assertion with less left than this is not sent to STS.
const ASSERTION_MARGIN: time::Duration = time::Duration::seconds(30);
/// Redirects followed for one request, and forms submitted for one sign-in.
const MAX_REDIRECTS: usize = 10;
const MAX_FORMS: usize = 12;

/// Whose sign-in: one per provider URL and configured user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SamlKey {
    pub auth_url: String,
    pub username: Option<String>,
}

impl SamlKey {
    pub fn of(settings: &SamlSettings) -> Self {
        Self {
            auth_url: settings.auth_url.as_str().to_owned(),
            username: settings.username.clone(),
        }
    }
}

/// Why no assertion could be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SamlSignInError {
    #[error("nobody is signed in to {url}{}", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    NeedsPerson { url: String, reason: Option<String> },
    #[error(
        "{url} asks for a one-time code: give it (the page's MFA dialog, POST /mfa, or the terminal)"
    )]
    NeedsCode { url: String },
    #[error("{url} refused the username or password{}", alert.as_deref().map(|a| format!(" ({a})")).unwrap_or_default())]
    PasswordRefused { url: String, alert: Option<String> },
    #[error("{url} refused the one-time code{}", alert.as_deref().map(|a| format!(" ({a})")).unwrap_or_default())]
    CodeRefused { url: String, alert: Option<String> },
    #[error("cannot reach the identity provider at {url}: {reason}")]
    Unavailable { url: String, reason: String },
    #[error("the identity provider at {url} answered {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {error}")]
    Answer { url: String, error: SamlError },
    #[error(
        "the page at {url} (status {status}) has no form this program understands: no SAMLResponse, password, username or one-time-code field"
    )]
    UnknownPage { url: String, status: u16 },
    #[error("the identity provider at {url} refused the ECP sign-in: {reason}")]
    EcpFault { url: String, reason: String },
    #[error("the sign-in at {url} did not end after {MAX_FORMS} forms and redirects")]
    TooManySteps { url: String },
    #[error("{url} redirects to {to}, which is neither https nor http on this machine's loopback")]
    InsecureRedirect { url: String, to: String },
    #[error("no one-time code is awaited for {url}: sign in first")]
    NoCodeAwaited { url: String },
}

impl SamlSignInError {
    /// The kind a source reports this as.
    pub fn kind(&self) -> Kind {
        match self {
            Self::NeedsPerson { .. } | Self::NoCodeAwaited { .. } => Kind::NeedsSignIn,
            Self::NeedsCode { .. } => Kind::NeedsMfa,
            Self::CodeRefused { .. } => Kind::MfaRejected,
            Self::PasswordRefused { .. } | Self::EcpFault { .. } => Kind::SignInRejected,
            Self::Unavailable { .. } => Kind::Unavailable,
            Self::Status { status, .. } if *status >= 500 => Kind::Unavailable,
            Self::Status { .. }
            | Self::Answer { .. }
            | Self::UnknownPage { .. }
            | Self::TooManySteps { .. }
            | Self::InsecureRedirect { .. } => Kind::SignInRejected,
        }
    }
}

impl From<SamlSignInError> for SourceError {
    fn from(error: SamlSignInError) -> Self {
        SourceError::new(error.kind(), error)
    }
}

#[derive(Default)]
struct Session {
    username: Option<String>,
    password: Option<Secret>,
    cookies: CookieStore,
    /// Whether the provider has signed this user in (cookies or a password that worked).
    signed_in: bool,
    unspent: Option<Assertion>,
    offered: Vec<RolePair>,
    pending_code: Option<Form>,
}

impl Session {
    /// Whether nothing here can serve a later fetch: no sign-in, cookies, password, unspent
    /// assertion or code form. Such an entry is dropped when a conversation fails, so the map
    /// holds only sign-ins that happened or are under way, not every profile ever asked about.
    fn is_empty(&self) -> bool {
        !self.signed_in
            && self.password.is_none()
            && self.unspent.is_none()
            && self.pending_code.is_none()
            && self.cookies.iter_any().next().is_none()
    }
}

/// The SAML sign-ins of one process; see the module docs.
pub struct SamlSignIns {
    /// A client that follows no redirects: they are followed here, so cookies set on the
    /// way are kept and every hop is checked.
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    sessions: Mutex<HashMap<SamlKey, Session>>,
    /// URLs known not to speak ECP.
    no_ecp: Mutex<Vec<String>>,
    /// One conversation with the providers at a time: two fetches must not both sign in.
    talking: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for SamlSignIns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamlSignIns").finish_non_exhaustive()
    }
}

/// What one conversation may use.
struct Means<'a> {
    username: Option<&'a str>,
    password: Option<&'a Secret>,
    code: Option<&'a str>,
}

impl SamlSignIns {
    /// Sign-ins over `http`, a client built to follow no redirects.
    pub fn new(http: reqwest::Client, clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Self {
            http,
            clock,
            sessions: Mutex::new(HashMap::new()),
            no_ecp: Mutex::new(Vec::new()),
            talking: tokio::sync::Mutex::new(()),
        })
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<SamlKey, Session>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An assertion for `settings`' user, spent by the caller (see the module docs).
    pub async fn assertion(
        &self,
        settings: &SamlSettings,
        env_password: Option<&Secret>,
    ) -> Result<Assertion, SamlSignInError> {
        let _talking = self.talking.lock().await;
        let key = SamlKey::of(settings);
        let now = self.clock.now();
        let (username, password, known) = {
            let mut sessions = self.sessions();
            // Only looked up: asking about a profile nobody signed in to creates no entry.
            match sessions.get_mut(&key) {
                Some(session) => {
                    if let Some(assertion) = session.unspent.take()
                        && assertion.usable_at(now, ASSERTION_MARGIN)
                    {
                        return Ok(assertion);
                    }
                    if session.pending_code.is_some() {
                        return Err(SamlSignInError::NeedsCode {
                            url: settings.auth_url.to_string(),
                        });
                    }
                    (
                        session
                            .username
                            .clone()
                            .or_else(|| settings.username.clone()),
                        session.password.clone().or_else(|| env_password.cloned()),
                        session.signed_in,
                    )
                }
                None => (settings.username.clone(), env_password.cloned(), false),
            }
        };
        if !known && password.is_none() {
            self.forget_if_empty(&key);
            return Err(SamlSignInError::NeedsPerson {
                url: settings.auth_url.to_string(),
                reason: None,
            });
        }
        let means = Means {
            username: username.as_deref(),
            password: password.as_ref(),
            code: None,
        };
        let result = self.converse(&key, settings, &means, None).await;
        match &result {
            Err(SamlSignInError::PasswordRefused { .. } | SamlSignInError::NeedsPerson { .. }) => {
                // The session is over and the password kept no longer works: a person must act.
                self.forget(&key);
            }
            Err(_) => self.forget_if_empty(&key),
            Ok(_) => {}
        }
        result
    }

    /// Signs `username` in with `password` (a person gave them). On success the assertion
    /// waits unspent for the next fetch; [`SamlSignInError::NeedsCode`] means the provider
    /// wants a one-time code next.
    pub async fn sign_in(
        &self,
        settings: &SamlSettings,
        username: &str,
        password: Secret,
    ) -> Result<(), SamlSignInError> {
        let _talking = self.talking.lock().await;
        let key = SamlKey::of(settings);
        self.forget(&key);
        {
            let mut sessions = self.sessions();
            let session = sessions.entry(key.clone()).or_default();
            session.username = Some(username.to_owned());
            // Kept (in memory) from now on: an ECP provider is asked again with it, and a
            // code form that follows must be able to finish the sign-in.
            session.password = Some(password.clone());
        }
        let means = Means {
            username: Some(username),
            password: Some(&password),
            code: None,
        };
        let result = self.converse(&key, settings, &means, None).await;
        self.settle(&key, result)
    }

    /// Gives the one-time code a person typed to the form waiting for it. A refused code is
    /// not tried again: the form waits for another.
    pub async fn give_code(
        &self,
        settings: &SamlSettings,
        code: &str,
    ) -> Result<(), SamlSignInError> {
        let _talking = self.talking.lock().await;
        let key = SamlKey::of(settings);
        let (form, username, password) = {
            let mut sessions = self.sessions();
            // Only looked up: a code nobody asked for creates no entry.
            let Some((session, form)) = sessions.get_mut(&key).and_then(|session| {
                let form = session.pending_code.take()?;
                Some((session, form))
            }) else {
                return Err(SamlSignInError::NoCodeAwaited {
                    url: settings.auth_url.to_string(),
                });
            };
            (form, session.username.clone(), session.password.clone())
        };
        let means = Means {
            username: username.as_deref(),
            password: password.as_ref(),
            code: Some(code),
        };
        let result = self.converse(&key, settings, &means, Some(form)).await;
        self.settle(&key, result)
    }

    /// Puts a fresh assertion back unspent (a sign-in's, for the fetch that follows).
    fn settle(
        &self,
        key: &SamlKey,
        result: Result<Assertion, SamlSignInError>,
    ) -> Result<(), SamlSignInError> {
        match result {
            Ok(assertion) => {
                if let Some(session) = self.sessions().get_mut(key) {
                    session.unspent = Some(assertion);
                }
                Ok(())
            }
            Err(error) => {
                if matches!(error, SamlSignInError::PasswordRefused { .. }) {
                    self.forget(key);
                } else {
                    self.forget_if_empty(key);
                }
                Err(error)
            }
        }
    }

    fn forget(&self, key: &SamlKey) {
        self.sessions().remove(key);
    }

    /// Drops `key`'s entry when it holds nothing ([`Session::is_empty`]).
    fn forget_if_empty(&self, key: &SamlKey) {
        let mut sessions = self.sessions();
        if sessions.get(key).is_some_and(Session::is_empty) {
            sessions.remove(key);
        }
    }

    /// Forgets `settings`' sign-in: cookies, password, assertion.
    pub fn sign_out(&self, settings: &SamlSettings) {
        self.forget(&SamlKey::of(settings));
    }

    /// Returns an assertion that was not sent to STS, for the next fetch.
    pub fn put_back(&self, settings: &SamlSettings, assertion: Assertion) {
        if let Some(session) = self.sessions().get_mut(&SamlKey::of(settings)) {
            session.unspent = Some(assertion);
        }
    }

    /// The roles the last assertion offered.
    pub fn offered(&self, settings: &SamlSettings) -> Vec<RolePair> {
        self.sessions()
            .get(&SamlKey::of(settings))
            .map(|s| s.offered.clone())
            .unwrap_or_default()
    }

    /// Whether a one-time code is awaited for `settings`.
    pub fn awaits_code(&self, settings: &SamlSettings) -> bool {
        self.sessions()
            .get(&SamlKey::of(settings))
            .is_some_and(|s| s.pending_code.is_some())
    }

    /// The sign-in as the management API shows it (the page offers a password form).
    pub fn view(&self, settings: &SamlSettings) -> super::SignInView {
        let sessions = self.sessions();
        let session = sessions.get(&SamlKey::of(settings));
        super::SignInView {
            issuer: settings.auth_url.to_string(),
            client_id: String::new(),
            signed_in: session.is_some_and(|s| s.signed_in),
            username: session
                .and_then(|s| s.username.clone())
                .or_else(|| settings.username.clone()),
            device_flow: Some(false),
            browser_flow: Some(false),
            password_flow: Some(true),
            device: None,
            device_error: None,
        }
    }

    /// One conversation with the provider, from `form` (a code form) or from the start.
    async fn converse(
        &self,
        key: &SamlKey,
        settings: &SamlSettings,
        means: &Means<'_>,
        form: Option<Form>,
    ) -> Result<Assertion, SamlSignInError> {
        let url = settings.auth_url.clone();
        let mut cookies = self
            .sessions()
            .get(key)
            .map(|s| s.cookies.clone())
            .unwrap_or_default();
        let ecp_known_absent = self
            .no_ecp
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&key.auth_url);
        let result = match (&form, means.username, means.password) {
            (None, Some(username), Some(password))
                if !ecp_known_absent && !has_cookies(&cookies, &url) =>
            {
                match self.ecp(&url, username, password).await {
                    Ok(Some(assertion)) => Ok(assertion),
                    Ok(None) => {
                        self.no_ecp
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(key.auth_url.clone());
                        self.by_form(&mut cookies, &url, means, None).await
                    }
                    Err(error) => Err(error),
                }
            }
            _ => self.by_form(&mut cookies, &url, means, form).await,
        };
        let mut sessions = self.sessions();
        let session = sessions.entry(key.clone()).or_default();
        session.cookies = cookies;
        match result {
            Ok(assertion) => {
                session.signed_in = true;
                session.offered = assertion.roles.clone();
                if session.username.is_none() {
                    session.username = means.username.map(str::to_owned);
                }
                Ok(assertion)
            }
            Err(FormEnd::Code(form)) => {
                let url = shown(&form.action);
                session.pending_code = Some(form);
                Err(SamlSignInError::NeedsCode { url })
            }
            Err(FormEnd::CodeRefused(form, alert)) => {
                let url = shown(&form.action);
                session.pending_code = Some(form);
                Err(SamlSignInError::CodeRefused { url, alert })
            }
            Err(FormEnd::Error(error)) => Err(error),
        }
    }

    /// Signs in with ECP; `Ok(None)` when `url` does not answer in SOAP.
    async fn ecp(
        &self,
        url: &Url,
        username: &str,
        password: &Secret,
    ) -> Result<Option<Assertion>, FormEnd> {
        let id = super::oidc::random_string(16).map_err(|e| SamlSignInError::Unavailable {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        let body = super::saml::ecp_request(&format!("_{id}"), self.clock.now());
        let response = self
            .http
            .post(url.clone())
            .basic_auth(username, Some(password.expose()))
            .header(header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .header(header::ACCEPT, "text/xml, application/vnd.paos+xml")
            .header(
                "PAOS",
                r#"ver="urn:liberty:paos:2003-08";"urn:oasis:names:tc:SAML:2.0:profiles:SSO:ecp""#,
            )
            .header(
                "SOAPAction",
                "http://www.oasis-open.org/committees/security",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| unavailable(url, &e))?;
        let status = response.status().as_u16();
        let asks_basic = response
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .any(|v| {
                v.to_str()
                    .is_ok_and(|v| v.trim_start().starts_with("Basic"))
            });
        let text = read_limited(response, url).await?;
        let refused = || SamlSignInError::PasswordRefused {
            url: url.to_string(),
            alert: None,
        };
        match super::saml::read_ecp_answer(&text) {
            Ok(EcpAnswer::Response(xml)) => match Assertion::from_xml(&xml) {
                Ok(assertion) => Ok(Some(assertion)),
                // An ECP endpoint that answers with a failed status has refused the
                // credentials (Keycloak: Responder/NoPassive).
                Err(SamlError::Status { code, message }) => Err(SamlSignInError::PasswordRefused {
                    url: url.to_string(),
                    alert: Some(match message {
                        Some(message) => format!("SAML status {code}: {message}"),
                        None => format!("SAML status {code}"),
                    }),
                }
                .into()),
                Err(error) => Err(SamlSignInError::Answer {
                    url: url.to_string(),
                    error,
                }
                .into()),
            },
            Ok(EcpAnswer::Fault(_)) | Err(_) if status == 401 || asks_basic => {
                Err(refused().into())
            }
            Ok(EcpAnswer::Fault(reason)) => Err(SamlSignInError::EcpFault {
                url: url.to_string(),
                reason,
            }
            .into()),
            Err(_) => Ok(None),
        }
    }

    /// Signs in by form, from `form` or from a GET of `url`.
    async fn by_form(
        &self,
        cookies: &mut CookieStore,
        url: &Url,
        means: &Means<'_>,
        form: Option<Form>,
    ) -> Result<Assertion, FormEnd> {
        let mut request = match form {
            // A code form is only resumed with a code.
            Some(form) => {
                let code = means.code.unwrap_or_default();
                let field = form.code_field.clone().unwrap_or_default();
                Step::submit(&form, &[(field.as_str(), code)])
            }
            None => Step::get(url.clone()),
        };
        let (mut sent_password, mut sent_username) = (false, false);
        // A conversation resumed with a code has sent it: a code form now means a refusal.
        let sent_code = means.code.is_some();
        for _ in 0..MAX_FORMS {
            let (at, status, body) = self.follow(cookies, request).await?;
            let form = match super::saml::read_page(&body, &at) {
                Page::Assertion(value) => {
                    return Assertion::from_form_value(&value).map_err(|error| {
                        SamlSignInError::Answer {
                            url: shown(&at),
                            error,
                        }
                        .into()
                    });
                }
                Page::Unknown if !(200..300).contains(&status) => {
                    return Err(SamlSignInError::Status {
                        url: shown(&at),
                        status,
                    }
                    .into());
                }
                Page::Unknown => {
                    return Err(SamlSignInError::UnknownPage {
                        url: shown(&at),
                        status,
                    }
                    .into());
                }
                Page::Form(form) => form,
            };
            let needs_person = |reason: &str| SamlSignInError::NeedsPerson {
                url: url.to_string(),
                reason: Some(reason.to_owned()),
            };
            request = match form.kind {
                FormKind::Password => {
                    if sent_password {
                        return Err(SamlSignInError::PasswordRefused {
                            url: shown(&at),
                            alert: form.alert.clone(),
                        }
                        .into());
                    }
                    let Some(password) = means.password else {
                        return Err(
                            needs_person("the identity provider asks for a password").into()
                        );
                    };
                    let mut fields = vec![(
                        form.password_field.as_deref().unwrap_or_default(),
                        password.expose(),
                    )];
                    if let Some(field) = form.username_field.as_deref() {
                        let Some(username) = means.username else {
                            return Err(
                                needs_person("the identity provider asks for a username").into()
                            );
                        };
                        fields.push((field, username));
                    }
                    sent_password = true;
                    Step::submit(&form, &fields)
                }
                FormKind::Username => {
                    let (Some(field), Some(username)) =
                        (form.username_field.as_deref(), means.username)
                    else {
                        return Err(
                            needs_person("the identity provider asks for a username").into()
                        );
                    };
                    if sent_username {
                        return Err(SamlSignInError::PasswordRefused {
                            url: shown(&at),
                            alert: form.alert.clone(),
                        }
                        .into());
                    }
                    sent_username = true;
                    Step::submit(&form, &[(field, username)])
                }
                FormKind::Code => {
                    if sent_code {
                        let alert = form.alert.clone();
                        return Err(FormEnd::CodeRefused(form, alert));
                    }
                    return Err(FormEnd::Code(form));
                }
                FormKind::Hidden => Step::submit(&form, &[]),
            };
        }
        Err(SamlSignInError::TooManySteps {
            url: url.to_string(),
        }
        .into())
    }

    /// Sends `step`, following redirects (keeping the cookies set on the way), and reads the
    /// page it ends at.
    async fn follow(
        &self,
        cookies: &mut CookieStore,
        step: Step,
    ) -> Result<(Url, u16, String), SamlSignInError> {
        let Step {
            mut url,
            mut post,
            mut fields,
        } = step;
        for _ in 0..=MAX_REDIRECTS {
            let mut request = if post {
                self.http.post(url.clone()).form(&fields)
            } else {
                self.http.get(url.clone())
            };
            let cookie: Vec<String> = cookies
                .get_request_values(&url)
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            if !cookie.is_empty() {
                request = request.header(header::COOKIE, cookie.join("; "));
            }
            let response = request
                .header(header::ACCEPT, "text/html,application/xhtml+xml")
                .send()
                .await
                .map_err(|e| unavailable(&url, &e))?;
            for value in response.headers().get_all(header::SET_COOKIE) {
                if let Ok(value) = value.to_str() {
                    // A cookie the store refuses (a foreign domain) is one a browser ignores.
                    let _ = cookies.parse(value, &url);
                }
            }
            let status = response.status();
            if status.is_redirection()
                && let Some(location) = response.headers().get(header::LOCATION)
            {
                let to = location
                    .to_str()
                    .ok()
                    .and_then(|l| url.join(l).ok())
                    .ok_or_else(|| SamlSignInError::Status {
                        url: shown(&url),
                        status: status.as_u16(),
                    })?;
                if to.scheme() != "https" && !is_loopback_http(&to) {
                    return Err(SamlSignInError::InsecureRedirect {
                        url: shown(&url),
                        to: shown(&to),
                    });
                }
                // 307 and 308 repeat the request; the others become a GET.
                if !matches!(status.as_u16(), 307 | 308) {
                    post = false;
                    fields.clear();
                }
                url = to;
                continue;
            }
            let body = read_limited(response, &url).await?;
            return Ok((url, status.as_u16(), body));
        }
        Err(SamlSignInError::TooManySteps { url: shown(&url) })
    }
}

/// How a conversation by form ended without an assertion.
enum FormEnd {
    /// A form wants a one-time code from a person.
    Code(Form),
    /// The code given was refused; the form shown again waits for another.
    CodeRefused(Form, Option<String>),
    Error(SamlSignInError),
}

impl From<SamlSignInError> for FormEnd {
    fn from(error: SamlSignInError) -> Self {
        Self::Error(error)
    }
}

/// One request of a sign-in by form.
struct Step {
    url: Url,
    post: bool,
    fields: Vec<(String, String)>,
}

impl Step {
    fn get(url: Url) -> Self {
        Self {
            url,
            post: false,
            fields: Vec::new(),
        }
    }

    /// Submits `form` with `extra` fields filled in (a GET form's fields go in the query).
    fn submit(form: &Form, extra: &[(&str, &str)]) -> Self {
        let fields = form.filled(extra);
        if form.post {
            return Self {
                url: form.action.clone(),
                post: true,
                fields,
            };
        }
        let mut url = form.action.clone();
        url.query_pairs_mut().clear().extend_pairs(&fields);
        Self::get(url)
    }
}

/// A page's address as errors name it: without its query, which may carry the provider's
/// one-time session codes.
fn shown(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

fn has_cookies(cookies: &CookieStore, url: &Url) -> bool {
    cookies.get_request_values(url).next().is_some()
}

fn unavailable(url: &Url, error: &reqwest::Error) -> SamlSignInError {
    SamlSignInError::Unavailable {
        url: shown(url),
        reason: crate::system::logging::error_chain(error),
    }
}

/// The body of `response`, refused past [`super::saml::MAX_PAGE`] bytes.
async fn read_limited(response: reqwest::Response, url: &Url) -> Result<String, SamlSignInError> {
    if response
        .content_length()
        .is_some_and(|n| n > super::saml::MAX_PAGE as u64)
    {
        return Err(SamlSignInError::UnknownPage {
            url: shown(url),
            status: response.status().as_u16(),
        });
    }
    let mut response = response;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| unavailable(url, &e))? {
        body.extend_from_slice(&chunk);
        if body.len() > super::saml::MAX_PAGE {
            return Err(SamlSignInError::UnknownPage {
                url: shown(url),
                status: response.status().as_u16(),
            });
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign_ins() -> Arc<SamlSignIns> {
        let transport = crate::system::transport::TransportSettings {
            ca_bundle: None,
            verify_tls: true,
            connect_timeout: std::time::Duration::from_secs(1),
            request_timeout: std::time::Duration::from_secs(1),
            https_proxy: None,
            http_proxy: None,
            no_proxy: None,
        };
        let http = crate::system::transport::build_page_client(&transport).unwrap();
        SamlSignIns::new(http, Arc::new(crate::system::clock::SystemClock))
    }

    /// A loopback port nothing listens on (bound, then let go): a conversation with it ends
    /// at once, unreachable.
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn conversations_that_fail_keep_no_entry_for_the_profiles_asked_about() {
        let saml = sign_ins();
        let port = closed_port();
        let password = Secret::new("pw");
        for n in 0..20 {
            let settings = SamlSettings {
                auth_url: format!("http://127.0.0.1:{port}/idp/{n}").parse().unwrap(),
                username: Some(format!("user{n}")),
                provider: None,
            };
            // Nobody signed in, no password: a person is needed.
            let error = saml.assertion(&settings, None).await.unwrap_err();
            assert!(
                matches!(error, SamlSignInError::NeedsPerson { .. }),
                "{error}"
            );
            // SAML_PASSWORD's way, the provider down.
            let error = saml
                .assertion(&settings, Some(&password))
                .await
                .unwrap_err();
            assert!(
                matches!(error, SamlSignInError::Unavailable { .. }),
                "{error}"
            );
            // A code nobody asked for.
            let error = saml.give_code(&settings, "123456").await.unwrap_err();
            assert!(
                matches!(error, SamlSignInError::NoCodeAwaited { .. }),
                "{error}"
            );
            assert!(!saml.view(&settings).signed_in);
        }
        assert_eq!(saml.sessions().len(), 0, "entries for nothing kept");
    }

    #[tokio::test]
    async fn a_persons_password_is_kept_when_the_provider_is_down() {
        // What a person typed is worth keeping: the next fetch signs in with it.
        let saml = sign_ins();
        let settings = SamlSettings {
            auth_url: format!("http://127.0.0.1:{}/idp", closed_port())
                .parse()
                .unwrap(),
            username: None,
            provider: None,
        };
        let error = saml
            .sign_in(&settings, "alice", Secret::new("pw"))
            .await
            .unwrap_err();
        assert!(
            matches!(error, SamlSignInError::Unavailable { .. }),
            "{error}"
        );
        assert_eq!(saml.sessions().len(), 1);
        let error = saml.assertion(&settings, None).await.unwrap_err();
        assert!(
            matches!(error, SamlSignInError::Unavailable { .. }),
            "{error}"
        );
        saml.sign_out(&settings);
        assert_eq!(saml.sessions().len(), 0);
    }
}
