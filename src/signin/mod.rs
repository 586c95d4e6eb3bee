//! Signing in to OpenID Connect providers for profiles with `web_identity_auth_url`.
//!
//! [`SignIns`] holds, in memory only, one sign-in per provider, client and user
//! ([`SessionKey`]): the ID token that STS `AssumeRoleWithWebIdentity` takes and the refresh
//! token that renews it. Every profile with the same provider, client and user shares it.
//!
//! * A source asks [`SignIns::id_token`]: a valid token, else one renewed with the refresh
//!   token, else one from the password grant when `WEB_IDENTITY_PASSWORD` gives the password,
//!   else [`SignInError::NeedsPerson`] at once — it never waits for a person.
//! * A person signs in out of band: in a browser (authorization code with PKCE, RFC 7636,
//!   and a loopback redirect, RFC 8252: [`SignIns::start_browser`], then the redirect's
//!   [`SignIns::finish_browser`]), with a code shown on another device (RFC 8628:
//!   [`SignIns::begin_device`], then its [`DevicePoll::run`]), or with a username and password ([`SignIns::password`]).
//!   A browser sign-in accepts only the `state` it issued, once, within ten minutes.
//! * While signed in, the refresh token is used before the provider's idle limit ends the
//!   session (when the provider says when, as Keycloak does), so the sign-in lasts until the
//!   provider ends it. A refused refresh forgets the sign-in: the next request needs a person.
//!
//! Tokens and passwords are [`Secret`]s: never written to disk or logs.

pub mod loopback;
pub mod oidc;
pub mod saml;
pub mod saml_session;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;
use url::Url;

use self::oidc::{DeviceStart, IdClaims, Metadata, OidcError, TokenAnswer};
use crate::aws_files::profiles::SignInSettings;
use crate::secret::Secret;
use crate::source::{Kind, SourceError};
use crate::system::clock::Clock;

/// An ID token with less left than this is renewed before use.
const ID_TOKEN_MARGIN: time::Duration = time::Duration::seconds(60);
/// How long a browser sign-in may take from start to redirect.
const BROWSER_FLOW_LIFETIME: time::Duration = time::Duration::minutes(10);
/// How long a discovery document is trusted before it is read again.
const DISCOVERY_LIFETIME: time::Duration = time::Duration::hours(1);
/// Browser sign-ins started and not finished, at most (each holds a PKCE verifier).
const MAX_BROWSER_FLOWS: usize = 32;

/// Whose sign-in: one per provider, client and configured user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    pub issuer: String,
    pub client_id: String,
    pub username: Option<String>,
}

impl SessionKey {
    pub fn of(settings: &SignInSettings) -> Self {
        Self {
            issuer: settings.issuer.as_str().trim_end_matches('/').to_owned(),
            client_id: settings.client_id.clone(),
            username: settings.username.clone(),
        }
    }
}

/// Why no ID token could be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SignInError {
    /// Nobody is signed in (or the provider ended the sign-in): a person must.
    #[error("nobody is signed in to {issuer} (client {client_id}){}", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    NeedsPerson {
        issuer: String,
        client_id: String,
        reason: Option<String>,
    },
    #[error(transparent)]
    Oidc(#[from] OidcError),
    /// The provider's answer does not fit this sign-in (wrong user, bad ID token).
    #[error("{0}")]
    Rejected(String),
    /// A browser redirect this process did not start, or started too long ago.
    #[error(
        "this sign-in was not started here, was already used, or took too long; start it again"
    )]
    UnknownState,
}

impl SignInError {
    /// The kind a source reports this as.
    pub fn kind(&self) -> Kind {
        match self {
            Self::NeedsPerson { .. } | Self::UnknownState => Kind::NeedsSignIn,
            Self::Oidc(OidcError::Refused { .. }) | Self::Rejected(_) => Kind::SignInRejected,
            Self::Oidc(OidcError::Unavailable { .. }) => Kind::Unavailable,
            Self::Oidc(OidcError::Invalid { .. }) => Kind::InvalidAnswer,
            Self::Oidc(OidcError::Unsupported(_)) => Kind::Profile,
        }
    }
}

impl From<SignInError> for SourceError {
    fn from(error: SignInError) -> Self {
        SourceError::new(error.kind(), error)
    }
}

/// A sign-in as the management API shows it (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInView {
    pub issuer: String,
    pub client_id: String,
    pub signed_in: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Whether the provider offers the device authorization grant (known once discovered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_flow: Option<bool>,
    /// Whether it offers a browser sign-in (known once discovered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub browser_flow: Option<bool>,
    /// Whether it takes a username and password here (`POST /auth`); unknown means it may.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_flow: Option<bool>,
    /// A device sign-in waiting for the person, with what to show them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<DevicePrompt>,
    /// Why the last device sign-in ended without a sign-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_error: Option<String>,
}

/// What a person needs to finish a device sign-in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DevicePrompt {
    pub user_code: String,
    pub verification_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_uri_complete: Option<String>,
    pub expires_in: u64,
}

struct Session {
    id_token: Secret,
    claims: IdClaims,
    refresh_token: Option<Secret>,
    generation: u64,
}

struct BrowserFlow {
    settings: SignInSettings,
    metadata: Arc<Metadata>,
    verifier: Secret,
    nonce: String,
    redirect_uri: Url,
    started: OffsetDateTime,
}

enum DeviceState {
    Waiting(DevicePrompt),
    Failed(String),
}

#[derive(Default)]
struct State {
    metadata: HashMap<String, (Arc<Metadata>, OffsetDateTime)>,
    sessions: HashMap<SessionKey, Session>,
    browser: HashMap<String, BrowserFlow>,
    devices: HashMap<SessionKey, (u64, DeviceState)>,
    generation: u64,
}

/// The sign-ins of one process; see the module docs.
pub struct SignIns {
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    /// Held while a refresh token is used, so two profiles do not spend it twice.
    renewing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for SignIns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIns").finish_non_exhaustive()
    }
}

impl SignIns {
    pub fn new(http: reqwest::Client, clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Self {
            http,
            clock,
            state: Mutex::new(State::default()),
            renewing: tokio::sync::Mutex::new(()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The provider's discovery document, read again after an hour.
    pub async fn metadata(&self, issuer: &Url) -> Result<Arc<Metadata>, SignInError> {
        let now = self.clock.now();
        let key = issuer.as_str().trim_end_matches('/').to_owned();
        if let Some((metadata, read)) = self.state().metadata.get(&key)
            && now - *read < DISCOVERY_LIFETIME
        {
            return Ok(metadata.clone());
        }
        let metadata = Arc::new(oidc::discover(&self.http, issuer).await?);
        self.state().metadata.insert(key, (metadata.clone(), now));
        Ok(metadata)
    }

    /// An ID token for `settings`' user, without a person; see the module docs.
    /// `password` is `WEB_IDENTITY_PASSWORD`, used only with a configured username.
    pub async fn id_token(
        self: &Arc<Self>,
        settings: &SignInSettings,
        password: Option<&Secret>,
    ) -> Result<Secret, SignInError> {
        let key = SessionKey::of(settings);
        if let Some(token) = self.valid_token(&key) {
            return Ok(token);
        }
        let _renewing = self.renewing.lock().await;
        // Another caller may have renewed it while this one waited.
        if let Some(token) = self.valid_token(&key) {
            return Ok(token);
        }
        let refresh = self
            .state()
            .sessions
            .get(&key)
            .and_then(|s| s.refresh_token.clone());
        if let Some(refresh) = refresh {
            match self.refresh(settings, &refresh).await {
                Ok(token) => return Ok(token),
                Err(SignInError::Oidc(OidcError::Refused { code, description })) => {
                    tracing::info!(issuer = %key.issuer, client_id = %key.client_id, %code, "the identity provider ended the sign-in");
                    self.state().sessions.remove(&key);
                    if password.is_none() || settings.username.is_none() {
                        return Err(SignInError::NeedsPerson {
                            issuer: key.issuer,
                            client_id: key.client_id,
                            reason: Some(format!(
                                "the provider refused to renew it: {code}{}",
                                description.map(|d| format!(" ({d})")).unwrap_or_default()
                            )),
                        });
                    }
                }
                Err(other) => return Err(other),
            }
        }
        match (password, &settings.username) {
            (Some(password), Some(username)) => {
                let username = username.clone();
                self.password_grant(settings, &username, password, None)
                    .await
            }
            _ => {
                // An expired token that nothing can renew is no sign-in: the page must say
                // that one is needed.
                let expired = self.state().sessions.remove(&key).is_some();
                Err(SignInError::NeedsPerson {
                    issuer: key.issuer,
                    client_id: key.client_id,
                    reason: expired.then(|| "the sign-in has expired".to_owned()),
                })
            }
        }
    }

    fn valid_token(&self, key: &SessionKey) -> Option<Secret> {
        let now = self.clock.now();
        self.state()
            .sessions
            .get(key)
            .filter(|s| s.claims.expires - ID_TOKEN_MARGIN > now)
            .map(|s| s.id_token.clone())
    }

    async fn refresh(
        self: &Arc<Self>,
        settings: &SignInSettings,
        refresh_token: &Secret,
    ) -> Result<Secret, SignInError> {
        let metadata = self.metadata(&settings.issuer).await?;
        let answer = oidc::token(
            &self.http,
            &metadata,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &settings.client_id),
                ("refresh_token", refresh_token.expose()),
                ("scope", oidc::SCOPES),
            ],
        )
        .await?;
        // A provider that rotates nothing sends no new refresh token: keep the old one.
        let answer = TokenAnswer {
            refresh_token: answer.refresh_token.or_else(|| Some(refresh_token.clone())),
            ..answer
        };
        self.keep(settings, answer, None)
    }

    /// Signs in with the password grant (and a one-time code where the provider takes one
    /// with it, as Keycloak's `totp`). The provider may not allow it for the client: its
    /// refusal is returned as it came.
    pub async fn password(
        self: &Arc<Self>,
        settings: &SignInSettings,
        username: &str,
        password: &Secret,
        otp: Option<&str>,
    ) -> Result<String, SignInError> {
        if let Some(wanted) = &settings.username
            && !wanted.eq_ignore_ascii_case(username)
        {
            return Err(SignInError::Rejected(format!(
                "the profile signs in as {wanted}, not {username}"
            )));
        }
        self.password_grant(settings, username, password, otp)
            .await?;
        Ok(self
            .signed_in_user(settings)
            .unwrap_or_else(|| username.to_owned()))
    }

    async fn password_grant(
        self: &Arc<Self>,
        settings: &SignInSettings,
        username: &str,
        password: &Secret,
        otp: Option<&str>,
    ) -> Result<Secret, SignInError> {
        let metadata = self.metadata(&settings.issuer).await?;
        let mut form = vec![
            ("grant_type", "password"),
            ("client_id", settings.client_id.as_str()),
            ("username", username),
            ("password", password.expose()),
            ("scope", oidc::SCOPES),
        ];
        if let Some(otp) = otp {
            form.push(("totp", otp));
        }
        let answer = oidc::token(&self.http, &metadata, &form).await?;
        self.keep(settings, answer, None)
    }

    /// Starts a browser sign-in that comes back to `redirect_uri` (a loopback address this
    /// process listens on): the address to send the browser to.
    pub async fn start_browser(
        &self,
        settings: &SignInSettings,
        redirect_uri: Url,
    ) -> Result<Url, SignInError> {
        let metadata = self.metadata(&settings.issuer).await?;
        let state = oidc::random_string(32)?;
        let nonce = oidc::random_string(32)?;
        let verifier = oidc::random_string(32)?;
        let url = oidc::authorization_url(
            &metadata,
            &settings.client_id,
            &redirect_uri,
            &state,
            &nonce,
            &verifier,
            settings.username.as_deref(),
        )?;
        let now = self.clock.now();
        let mut guard = self.state();
        guard
            .browser
            .retain(|_, flow| now - flow.started < BROWSER_FLOW_LIFETIME);
        if guard.browser.len() >= MAX_BROWSER_FLOWS {
            // The oldest unfinished sign-in gives way.
            if let Some(oldest) = guard
                .browser
                .iter()
                .min_by_key(|(_, flow)| flow.started)
                .map(|(state, _)| state.clone())
            {
                guard.browser.remove(&oldest);
            }
        }
        guard.browser.insert(
            state,
            BrowserFlow {
                settings: settings.clone(),
                metadata,
                verifier: Secret::new(verifier),
                nonce,
                redirect_uri,
                started: now,
            },
        );
        Ok(url)
    }

    /// Finishes a browser sign-in from the redirect's query (`state` and `code`, or the
    /// provider's `error`): the settings it was for. The state is used up either way.
    pub async fn finish_browser(
        self: &Arc<Self>,
        query: &[(String, String)],
    ) -> Result<SignInSettings, SignInError> {
        let field = |name: &str| {
            query
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        let now = self.clock.now();
        let flow = field("state")
            .and_then(|state| self.state().browser.remove(state))
            .filter(|flow| now - flow.started < BROWSER_FLOW_LIFETIME)
            .ok_or(SignInError::UnknownState)?;
        if let Some(error) = field("error") {
            return Err(OidcError::Refused {
                code: error.chars().take(100).collect(),
                description: field("error_description").map(|d| d.chars().take(300).collect()),
            }
            .into());
        }
        let code = field("code")
            .ok_or_else(|| SignInError::Rejected("the redirect carries no code".to_owned()))?;
        let answer = oidc::token(
            &self.http,
            &flow.metadata,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &flow.settings.client_id),
                ("code", code),
                ("redirect_uri", flow.redirect_uri.as_str()),
                ("code_verifier", flow.verifier.expose()),
            ],
        )
        .await?;
        self.keep(&flow.settings, answer, Some(&flow.nonce))?;
        Ok(flow.settings)
    }

    /// Starts a device sign-in: what to show the person (kept for [`SignIns::view`] too),
    /// and the poll the caller runs to its end.
    pub async fn begin_device(
        self: &Arc<Self>,
        settings: &SignInSettings,
    ) -> Result<(DevicePrompt, DevicePoll), SignInError> {
        let metadata = self.metadata(&settings.issuer).await?;
        let verifier = oidc::random_string(32)?;
        let start =
            oidc::start_device(&self.http, &metadata, &settings.client_id, &verifier).await?;
        let prompt = DevicePrompt {
            user_code: start.user_code.clone(),
            verification_uri: start.verification_uri.clone(),
            verification_uri_complete: start.verification_uri_complete.clone(),
            expires_in: start.expires_in,
        };
        let key = SessionKey::of(settings);
        let generation = {
            let mut state = self.state();
            state.generation += 1;
            let generation = state.generation;
            state
                .devices
                .insert(key, (generation, DeviceState::Waiting(prompt.clone())));
            generation
        };
        Ok((
            prompt,
            DevicePoll {
                settings: settings.clone(),
                metadata,
                start,
                verifier: Secret::new(verifier),
                generation,
            },
        ))
    }

    /// The user the provider says is signed in for `settings`.
    pub fn signed_in_user(&self, settings: &SignInSettings) -> Option<String> {
        self.state()
            .sessions
            .get(&SessionKey::of(settings))
            .and_then(|s| s.claims.username.clone())
    }

    /// Whether someone is signed in for `settings` (a token, or a refresh token to renew it).
    pub fn is_signed_in(&self, settings: &SignInSettings) -> bool {
        self.state()
            .sessions
            .contains_key(&SessionKey::of(settings))
    }

    /// The sign-in of `settings` for the management API.
    pub fn view(&self, settings: &SignInSettings) -> SignInView {
        let key = SessionKey::of(settings);
        let state = self.state();
        let session = state.sessions.get(&key);
        let (device, device_error) = match state.devices.get(&key) {
            Some((_, DeviceState::Waiting(prompt))) => (Some(prompt.clone()), None),
            Some((_, DeviceState::Failed(reason))) => (None, Some(reason.clone())),
            None => (None, None),
        };
        SignInView {
            issuer: key.issuer.clone(),
            client_id: key.client_id.clone(),
            signed_in: session.is_some(),
            username: session.and_then(|s| s.claims.username.clone()),
            device_flow: state
                .metadata
                .get(&key.issuer)
                .map(|(m, _)| m.offers_device_flow()),
            browser_flow: state
                .metadata
                .get(&key.issuer)
                .map(|(m, _)| m.authorization_endpoint.is_some()),
            password_flow: None,
            device,
            device_error,
        }
    }

    /// Forgets the sign-in of `settings` (the provider's session stays as it is).
    pub fn sign_out(&self, settings: &SignInSettings) {
        let key = SessionKey::of(settings);
        let mut state = self.state();
        state.sessions.remove(&key);
        state.devices.remove(&key);
    }

    /// Checks a token answer and keeps the sign-in; schedules its renewal.
    fn keep(
        self: &Arc<Self>,
        settings: &SignInSettings,
        answer: TokenAnswer,
        nonce: Option<&str>,
    ) -> Result<Secret, SignInError> {
        let id_token = answer.id_token.ok_or_else(|| {
            SignInError::Rejected(
                "the provider's answer has no ID token (is the openid scope allowed for this client?)"
                    .to_owned(),
            )
        })?;
        let claims = IdClaims::parse(id_token.expose()).map_err(SignInError::Rejected)?;
        let now = self.clock.now();
        claims
            .check(&settings.issuer, &settings.client_id, nonce, now)
            .map_err(SignInError::Rejected)?;
        if let Some(wanted) = &settings.username
            && !claims
                .username
                .as_deref()
                .is_some_and(|got| got.eq_ignore_ascii_case(wanted))
        {
            return Err(SignInError::Rejected(format!(
                "signed in as {}, but the profile signs in as {wanted}",
                claims.username.as_deref().unwrap_or("an unnamed user")
            )));
        }
        let key = SessionKey::of(settings);
        let generation = {
            let mut state = self.state();
            state.generation += 1;
            let generation = state.generation;
            state.devices.remove(&key);
            state.sessions.insert(
                key.clone(),
                Session {
                    id_token: id_token.clone(),
                    claims,
                    refresh_token: answer.refresh_token.clone(),
                    generation,
                },
            );
            generation
        };
        tracing::info!(issuer = %key.issuer, client_id = %key.client_id, "signed in");
        if let (Some(_), Some(idle)) = (&answer.refresh_token, answer.refresh_expires_in) {
            self.keep_alive(settings.clone(), generation, idle);
        }
        Ok(id_token)
    }

    /// Renews the sign-in before the provider's idle limit of `idle_seconds` ends it,
    /// unless it has changed by then.
    fn keep_alive(self: &Arc<Self>, settings: SignInSettings, generation: u64, idle_seconds: u64) {
        if idle_seconds == 0 || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(idle_seconds.saturating_mul(3) / 4)).await;
            let Some(this) = weak.upgrade() else { return };
            let key = SessionKey::of(&settings);
            let refresh = {
                let state = this.state();
                match state.sessions.get(&key) {
                    Some(s) if s.generation == generation => s.refresh_token.clone(),
                    _ => return,
                }
            };
            let Some(refresh) = refresh else { return };
            let _renewing = this.renewing.lock().await;
            if let Err(error) = this.refresh(&settings, &refresh).await {
                tracing::info!(issuer = %key.issuer, error = %error, "could not renew the sign-in");
                if matches!(error, SignInError::Oidc(OidcError::Refused { .. })) {
                    let mut state = this.state();
                    if state
                        .sessions
                        .get(&key)
                        .is_some_and(|s| s.generation == generation)
                    {
                        state.sessions.remove(&key);
                    }
                }
            }
        });
    }
}

/// A device sign-in under way: polls the token endpoint as RFC 8628 §3.4–3.5 says.
pub struct DevicePoll {
    settings: SignInSettings,
    metadata: Arc<Metadata>,
    start: DeviceStart,
    verifier: Secret,
    generation: u64,
}

impl std::fmt::Debug for DevicePoll {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevicePoll")
            .field("start", &self.start)
            .finish_non_exhaustive()
    }
}

impl DevicePoll {
    /// Polls until the person approves, refuses, or the code expires.
    pub async fn run(self, sign_ins: &Arc<SignIns>) -> Result<(), SignInError> {
        let key = SessionKey::of(&self.settings);
        let result = self.poll(sign_ins).await;
        let mut state = sign_ins.state();
        let current = state
            .devices
            .get(&key)
            .is_some_and(|(generation, _)| *generation == self.generation);
        if current {
            match &result {
                Ok(()) => {
                    state.devices.remove(&key);
                }
                Err(error) => {
                    state.devices.insert(
                        key,
                        (self.generation, DeviceState::Failed(error.to_string())),
                    );
                }
            }
        }
        result
    }

    async fn poll(&self, sign_ins: &Arc<SignIns>) -> Result<(), SignInError> {
        let deadline =
            tokio::time::Instant::now() + Duration::from_secs(self.start.expires_in.min(3600));
        let answer = poll_device(
            self.start.interval.unwrap_or(5),
            || tokio::time::Instant::now() >= deadline,
            || async {
                let result = oidc::token(
                    &sign_ins.http,
                    &self.metadata,
                    &[
                        ("grant_type", oidc::GRANT_DEVICE),
                        ("client_id", &self.settings.client_id),
                        ("device_code", self.start.device_code.expose()),
                        ("code_verifier", self.verifier.expose()),
                    ],
                )
                .await;
                match result {
                    Ok(answer) => Poll::Done(answer),
                    Err(OidcError::Refused { code, .. }) if code == "authorization_pending" => {
                        Poll::Pending
                    }
                    Err(OidcError::Refused { code, .. }) if code == "slow_down" => Poll::SlowDown,
                    Err(OidcError::Unavailable { .. }) => Poll::Pending,
                    Err(other) => Poll::Failed(other.into()),
                }
            },
            || SignInError::Rejected("the device code expired before anyone signed in".to_owned()),
        )
        .await?;
        sign_ins.keep(&self.settings, answer, None)?;
        Ok(())
    }
}

/// What one poll of a device sign-in's token came to (RFC 8628 §3.5).
#[derive(Debug)]
pub enum Poll<T, E> {
    /// The person approved: the answer.
    Done(T),
    /// Not yet (`authorization_pending`, or a passing outage): poll again.
    Pending,
    /// `slow_down`: poll again, 5 s later than before.
    SlowDown,
    /// It will not succeed.
    Failed(E),
}

/// Polls a device sign-in (RFC 8628 §3.4–3.5): `attempt` every `interval` seconds (1 to 60;
/// 5 more after each `slow_down`) until it is done or failed, or `expired` says the code is
/// past its life, which is `expiry()`'s error.
pub async fn poll_device<T, E, Fut>(
    interval: u64,
    expired: impl Fn() -> bool,
    attempt: impl Fn() -> Fut,
    expiry: impl FnOnce() -> E,
) -> Result<T, E>
where
    Fut: std::future::Future<Output = Poll<T, E>>,
{
    let mut interval = interval.clamp(1, 60);
    loop {
        tokio::time::sleep(Duration::from_secs(interval)).await;
        if expired() {
            return Err(expiry());
        }
        match attempt().await {
            Poll::Done(answer) => return Ok(answer),
            Poll::Pending => {}
            Poll::SlowDown => interval += 5,
            Poll::Failed(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(issuer: &str) -> SignInSettings {
        SignInSettings {
            issuer: Url::parse(issuer).unwrap(),
            client_id: "app".into(),
            redirect_uri: None,
            username: None,
            provider: None,
        }
    }

    fn sign_ins() -> Arc<SignIns> {
        let transport = crate::system::transport::TransportSettings {
            ca_bundle: None,
            verify_tls: true,
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
            https_proxy: None,
            http_proxy: None,
            no_proxy: None,
        };
        let http = crate::system::transport::build_client(&transport).unwrap();
        SignIns::new(http, Arc::new(crate::system::clock::SystemClock))
    }

    #[tokio::test]
    async fn without_a_sign_in_a_person_is_needed_at_once() {
        // Nothing listens on port 9: a call to the provider would fail differently.
        let sign_ins = sign_ins();
        let error = sign_ins
            .id_token(&settings("http://127.0.0.1:9/realms/r"), None)
            .await
            .unwrap_err();
        assert!(matches!(error, SignInError::NeedsPerson { .. }), "{error}");
        assert_eq!(error.kind(), Kind::NeedsSignIn);
        // A password alone (no username to use it with) changes nothing.
        let password = Secret::new("pw");
        let error = sign_ins
            .id_token(&settings("http://127.0.0.1:9/realms/r"), Some(&password))
            .await
            .unwrap_err();
        assert!(matches!(error, SignInError::NeedsPerson { .. }), "{error}");
    }

    #[tokio::test]
    async fn a_redirect_with_a_state_not_issued_here_is_refused() {
        let sign_ins = sign_ins();
        for query in [
            vec![],
            vec![
                ("state".to_owned(), "forged".to_owned()),
                ("code".to_owned(), "c".to_owned()),
            ],
        ] {
            let error = sign_ins.finish_browser(&query).await.unwrap_err();
            assert!(matches!(error, SignInError::UnknownState), "{error}");
        }
    }

    #[test]
    fn one_sign_in_per_provider_client_and_user() {
        let a = settings("https://idp.example/realms/r/");
        let b = settings("https://idp.example/realms/r");
        assert_eq!(SessionKey::of(&a), SessionKey::of(&b));
        let c = SignInSettings {
            username: Some("alice".into()),
            ..b.clone()
        };
        assert_ne!(SessionKey::of(&b), SessionKey::of(&c));
    }
}
