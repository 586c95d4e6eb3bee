//! The desktop servers (`serve ecs`, `serve ec2`): credentials of AWS profiles for the
//! programs of one developer, with an HTTP management API to switch profiles and answer MFA
//! prompts. The API follows aws-runas and aws-mock-metadata:
//!
//! * `GET /list-profiles` (profiles without `role_arn`), `GET /list-roles`, `GET /profile`,
//!   `POST /profile` (body: a profile name; 401 with `X-AwsRunas-Authentication-Type: MFA`
//!   when a code is needed, `AUTH` when a sign-in is — the switch happens once `POST /mfa`
//!   gives the code or a sign-in ends), `POST /mfa` (form field `mfa`), `POST /refresh`;
//! * sign-ins to identity providers: `POST /auth`, `GET|POST|DELETE /signin`,
//!   `GET /signin/callback` (the `signin` module of the fronts);
//! * `GET /manage/profiles`, `GET /manage/profiles/NAME`, `GET|POST|DELETE /manage/session`
//!   (POST: `token` and/or `profile` — or `session`, as aws-mock-metadata names it — as a
//!   form or JSON; 400 for a bad code or unknown profile, 403 for a wrong code);
//! * the ECS mode's `GET /credentials` (the active profile) and `GET /credentials/NAME`.
//!
//! Answers never carry secrets except the credential endpoints themselves, which require the
//! `Authorization` token printed at start-up. Against web pages: the `Host` header must name
//! this server (`ADDRESS:PORT` or `localhost:PORT`; also the bare address, without the port,
//! which the AWS CRT's container provider sends and no browser can be made to send to this
//! port), an `Origin` must be this server's, and every state-changing call must carry
//! `X-Requested-By: needroleshere`, which an HTML form cannot send (and a script on another
//! origin cannot without a CORS preflight this server never grants). Credentials come from
//! the one cache, through [`Profiles`]; failures are answered by [`super::answer`]. A
//! credential request that needs an MFA code answers at once (503, `MfaRequired`); it never
//! waits for a person.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use super::answer::{self, AUTH_TYPE_HEADER};
use crate::aws::mfa::MfaCode;
use crate::aws_files::profiles::ProfileError;
use crate::credentials::{Credentials, format_rfc3339};
use crate::front::profiles::Profiles;
use crate::secret::Secret;
use crate::source::profile::ProfileInfo;
use crate::source::{Kind, SourceError};

/// A random bearer token (32 bytes, base64url) for a desktop or private endpoint.
pub fn random_token() -> Result<Secret, NoRandomness> {
    use base64::Engine as _;
    let mut raw = zeroize::Zeroizing::new([0u8; 32]);
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw[..])
        .map_err(|_| NoRandomness)?;
    Ok(Secret::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw[..]),
    ))
}

/// The system gave no randomness for a token.
#[derive(Debug, thiserror::Error)]
#[error("no randomness for a token")]
pub struct NoRandomness;

/// The header that state-changing management calls must carry.
pub const CSRF_HEADER: &str = "x-requested-by";
pub const CSRF_VALUE: &str = "needroleshere";

/// State of a desktop server.
pub struct Desktop {
    profiles: Arc<Profiles>,
    active: Mutex<String>,
    /// A profile whose switch waits for an MFA code.
    pending: Mutex<Option<String>>,
    /// The `Authorization` value the ECS credential endpoints require.
    token: Secret,
    /// Names this server answers to in `Host` and `Origin` (`host:port`).
    authorities: Vec<String>,
    /// Where it listens.
    addr: SocketAddr,
    /// Its address without the port, also accepted in `Host` (never in `Origin`).
    bare_address: String,
    /// IAM Identity Center sign-ins started here, by profile: the code shown, or why the
    /// last one ended without a sign-in.
    sso_sign_ins:
        Mutex<std::collections::HashMap<String, Result<crate::signin::DevicePrompt, String>>>,
}

impl std::fmt::Debug for Desktop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desktop")
            .field("active", &self.active())
            .field("authorities", &self.authorities)
            .finish_non_exhaustive()
    }
}

impl Desktop {
    /// A desktop server on `addr` starting with `profile`; `token` guards `/credentials`.
    pub fn new(profiles: Arc<Profiles>, profile: String, token: Secret, addr: SocketAddr) -> Self {
        let port = addr.port();
        let mut authorities = vec![
            format!("{}:{port}", host_literal(addr)),
            format!("localhost:{port}"),
        ];
        if port == 80 {
            authorities.push(host_literal(addr));
            authorities.push("localhost".into());
        }
        Self {
            profiles,
            active: Mutex::new(profile),
            pending: Mutex::new(None),
            token,
            authorities,
            addr,
            bare_address: host_literal(addr),
            sso_sign_ins: Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Records an IAM Identity Center sign-in of `profile`: waiting with a code, failed, or
    /// (`None`) over.
    pub(super) fn set_sso_state(
        &self,
        profile: &str,
        state: Option<Result<crate::signin::DevicePrompt, String>>,
    ) {
        let mut sign_ins = self.sso_sign_ins.lock().unwrap_or_else(|p| p.into_inner());
        match state {
            Some(state) => sign_ins.insert(profile.to_owned(), state),
            None => sign_ins.remove(profile),
        };
    }

    /// An IAM Identity Center profile's sign-in for the page: signed in when the profile
    /// has credentials or a token the CLI's cache holds is still good.
    pub(super) fn sso_view(
        &self,
        profile: &str,
        target: &super::signin::SsoTarget,
    ) -> crate::signin::SignInView {
        let state = self
            .sso_sign_ins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(profile)
            .cloned();
        let signed_in = self.profiles.cached(profile).is_some() || target.has_token(self);
        let (device, device_error) = match state {
            Some(Ok(prompt)) => (Some(prompt), None),
            Some(Err(reason)) => (None, Some(reason)),
            None => (None, None),
        };
        crate::signin::SignInView {
            issuer: target.start_url().to_owned(),
            client_id: String::new(),
            signed_in,
            username: None,
            device_flow: Some(true),
            browser_flow: Some(false),
            password_flow: Some(false),
            device,
            device_error,
        }
    }

    /// The address of this server's page.
    pub fn page_url(&self) -> String {
        format!("http://{}/", self.authorities[0])
    }

    /// Where this server takes a browser sign-in's redirect: its own
    /// `/signin/callback` when it listens on loopback (RFC 8252 §7.3), else nowhere (a
    /// listener of its own takes it).
    pub fn redirect_uri(&self) -> Option<url::Url> {
        if !self.addr.ip().is_loopback() {
            return None;
        }
        url::Url::parse(&format!("http://{}/signin/callback", self.authorities[0])).ok()
    }

    pub fn profiles(&self) -> &Arc<Profiles> {
        &self.profiles
    }

    /// The active profile.
    pub fn active(&self) -> String {
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(super) fn set_active(&self, profile: &str) {
        *self.active.lock().unwrap_or_else(|p| p.into_inner()) = profile.to_owned();
        *self.pending.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub(super) fn pending(&self) -> Option<String> {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(super) fn set_pending(&self, profile: Option<&str>) {
        *self.pending.lock().unwrap_or_else(|p| p.into_inner()) = profile.map(str::to_owned);
    }

    /// Credentials of `profile` for a credential endpoint (ECS or IMDS), from the cache;
    /// never waits for a person. A failure is logged here.
    pub async fn credentials(&self, profile: &str) -> Result<Arc<Credentials>, SourceError> {
        let result = self.profiles.credentials(profile).await;
        if let Err(error) = &result {
            answer::log(&format!("profile {profile}"), error);
        }
        result
    }

    fn host_allowed(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|host| names_this_server(&self.authorities, &self.bare_address, host))
    }

    fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        match headers.get(header::ORIGIN).map(|o| o.to_str()) {
            None => true,
            Some(Ok(origin)) => origin.strip_prefix("http://").is_some_and(|rest| {
                self.authorities
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(rest))
            }),
            Some(Err(_)) => false,
        }
    }
}

/// Whether a `Host` value names this server: one of its `authorities`, or its bare address.
/// A DNS-rebinding page makes the browser send the attacker's name; a browser sends a bare
/// address only for port 80, where this server is not unless `authorities` say so. The AWS
/// CRT's container provider (aws-c-auth 0.6) sends the URI's host without its port.
fn names_this_server(authorities: &[String], bare_address: &str, host: &str) -> bool {
    host == bare_address || authorities.iter().any(|a| a.eq_ignore_ascii_case(host))
}

fn host_literal(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(v4) => v4.ip().to_string(),
        SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
    }
}

/// A JSON error answer `{"error": "..."}`.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    answer::api_body(status, message)
}

fn mfa_required(profile: &str) -> Response {
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        format!("profile {profile} needs an MFA code: POST it to /mfa (form field mfa)"),
    );
    response
        .headers_mut()
        .insert(AUTH_TYPE_HEADER, HeaderValue::from_static("MFA"));
    response
}

/// The first value of form field `name` in an `application/x-www-form-urlencoded` body.
fn form_field(body: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(body.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The routes every desktop server has: the management API, with its protections.
pub fn management(desktop: Arc<Desktop>) -> axum::Router {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/list-profiles", get(list_profiles))
        .route("/list-roles", get(list_roles))
        .route("/profile", get(get_profile).post(post_profile))
        .route("/mfa", post(post_mfa))
        .route("/refresh", post(post_refresh))
        .route("/manage/profiles", get(manage_profiles))
        .route("/manage/profiles/{name}", get(manage_profile))
        .route(
            "/manage/session",
            get(get_session).post(post_session).delete(delete_session),
        )
        // The browser page (`GET /`, `GET /page/…`), behind the same Host/Origin guard.
        .merge(super::page::routes())
        .merge(super::signin::routes())
        .merge(super::roles::routes())
        .layer(axum::middleware::from_fn_with_state(desktop.clone(), guard))
        .with_state(desktop)
}

/// The ECS mode's credential endpoints.
pub fn ecs_credentials(desktop: Arc<Desktop>) -> axum::Router {
    axum::Router::new()
        .route("/credentials", axum::routing::get(active_credentials))
        .route("/credentials/{name}", axum::routing::get(named_credentials))
        .layer(axum::middleware::from_fn_with_state(desktop.clone(), guard))
        .with_state(desktop)
}

/// Host and Origin checks for every route; the anti-forgery header for state changes.
async fn guard(State(desktop): State<Arc<Desktop>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if !desktop.host_allowed(headers) {
        return error(
            StatusCode::FORBIDDEN,
            "the Host header does not name this server",
        );
    }
    if !desktop.origin_allowed(headers) {
        return error(
            StatusCode::FORBIDDEN,
            "requests from other web origins are refused",
        );
    }
    let changes_state = !matches!(*request.method(), Method::GET | Method::HEAD);
    let marked = headers
        .get(CSRF_HEADER)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(CSRF_VALUE.as_bytes()));
    if changes_state && !marked {
        return error(
            StatusCode::FORBIDDEN,
            format!("state-changing calls need the header {CSRF_HEADER}: {CSRF_VALUE}"),
        );
    }
    next.run(request).await
}

fn names(desktop: &Desktop, roles: bool) -> Response {
    match desktop.profiles.config() {
        Ok(files) => {
            let names: Vec<String> = files
                .names()
                .into_iter()
                .filter(|n| files.is_role(n) == roles)
                .collect();
            axum::Json(names).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn list_profiles(State(desktop): State<Arc<Desktop>>) -> Response {
    names(&desktop, false)
}

async fn list_roles(State(desktop): State<Arc<Desktop>>) -> Response {
    names(&desktop, true)
}

/// A profile and, when credentials are held for it, their identity and expiry.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProfileView {
    #[serde(flatten)]
    info: ProfileInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<SessionView>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionView {
    access_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<String>,
}

impl SessionView {
    fn of(credentials: &Credentials) -> Self {
        Self {
            access_key: credentials.access_key_id.clone(),
            expiration: credentials.expiration.map(format_rfc3339),
            account_id: credentials.account_id().map(str::to_owned),
        }
    }
}

/// A management API error: a status and a message, answered as `{"error": ...}`.
#[derive(Debug)]
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

fn view(desktop: &Desktop, profile: &str) -> Result<ProfileView, ApiError> {
    let info = desktop.profiles.info(profile).map_err(|e| match e {
        ProfileError::Unknown(_) => ApiError(StatusCode::NOT_FOUND, e.to_string()),
        other => ApiError(StatusCode::BAD_REQUEST, other.to_string()),
    })?;
    let session = desktop
        .profiles
        .cached(profile)
        .as_deref()
        .map(SessionView::of);
    Ok(ProfileView { info, session })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActiveView {
    #[serde(flatten)]
    profile: ProfileView,
    /// Whether getting credentials now needs an MFA code from a person.
    mfa_required: bool,
    /// Whether getting credentials now needs a person to sign in.
    sign_in_required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pending: Option<String>,
}

async fn get_profile(State(desktop): State<Arc<Desktop>>) -> Response {
    let active = desktop.active();
    match view(&desktop, &active) {
        Ok(profile) => axum::Json(ActiveView {
            profile,
            mfa_required: desktop.profiles.needs_mfa_code(&active).unwrap_or(false),
            sign_in_required: desktop.profiles.needs_sign_in(&active).unwrap_or(false),
            pending: desktop.pending(),
        })
        .into_response(),
        Err(api_error) => api_error.into_response(),
    }
}

/// How a profile switch gets its credentials.
pub(super) enum Fetch {
    /// From the cache, fetched if needed.
    Cached,
    /// Fetched anew.
    New,
    /// Fetched anew with an MFA code a person gave.
    Code(MfaCode),
}

/// Switches to `profile` once its credentials can be had.
pub(super) async fn switch(desktop: &Desktop, profile: &str, fetch: Fetch) -> Response {
    if let Err(api_error) = view(desktop, profile) {
        return api_error.into_response();
    }
    let result = match fetch {
        Fetch::Cached => desktop.profiles.credentials(profile).await,
        Fetch::New => desktop.profiles.refresh(profile).await,
        Fetch::Code(code) => desktop.profiles.credentials_with_code(profile, code).await,
    };
    match result {
        Ok(_) => {
            desktop.set_active(profile);
            tracing::info!(profile, "switched profile");
            match view(desktop, profile) {
                Ok(profile) => axum::Json(profile).into_response(),
                Err(api_error) => api_error.into_response(),
            }
        }
        Err(e) => {
            if matches!(
                e.kind(),
                Kind::NeedsMfa | Kind::MfaRejected | Kind::NeedsSignIn | Kind::SignInRejected
            ) {
                desktop.set_pending(Some(profile));
            }
            answer::log(&format!("profile {profile}"), &e);
            answer::desktop_api_explained(&e)
        }
    }
}

async fn post_profile(State(desktop): State<Arc<Desktop>>, body: String) -> Response {
    let profile = body.trim().trim_matches('"').to_owned();
    if profile.is_empty() {
        return error(StatusCode::BAD_REQUEST, "the body must be a profile name");
    }
    switch(&desktop, &profile, Fetch::Cached).await
}

async fn post_mfa(State(desktop): State<Arc<Desktop>>, body: String) -> Response {
    let Some(mfa) = form_field(&body, "mfa") else {
        return error(StatusCode::BAD_REQUEST, "expected the form field mfa");
    };
    let code = match MfaCode::parse(&mfa) {
        Ok(code) => code,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let target = desktop.pending().unwrap_or_else(|| desktop.active());
    switch(&desktop, &target, Fetch::Code(code)).await
}

async fn post_refresh(State(desktop): State<Arc<Desktop>>) -> Response {
    let active = desktop.active();
    switch(&desktop, &active, Fetch::New).await
}

async fn manage_profiles(State(desktop): State<Arc<Desktop>>) -> Response {
    let files = match desktop.profiles.config() {
        Ok(files) => files,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let profiles: Vec<ProfileView> = files
        .names()
        .iter()
        .filter_map(|name| view(&desktop, name).ok())
        .collect();
    axum::Json(serde_json::json!({ "profiles": profiles })).into_response()
}

async fn manage_profile(State(desktop): State<Arc<Desktop>>, Path(name): Path<String>) -> Response {
    match view(&desktop, &name) {
        Ok(profile) => axum::Json(serde_json::json!({ "profile": profile })).into_response(),
        Err(api_error) => api_error.into_response(),
    }
}

async fn get_session(State(desktop): State<Arc<Desktop>>) -> Response {
    match view(&desktop, &desktop.active()) {
        Ok(profile) => {
            let session = profile
                .session
                .as_ref()
                .map(|s| serde_json::to_value(s).unwrap_or_default());
            axum::Json(serde_json::json!({ "profile": profile, "session": session }))
                .into_response()
        }
        Err(api_error) => api_error.into_response(),
    }
}

async fn delete_session(State(desktop): State<Arc<Desktop>>) -> Response {
    desktop.profiles.forget(None);
    axum::Json(serde_json::json!({ "cleared": true })).into_response()
}

#[derive(Deserialize, Default)]
struct SessionRequest {
    #[serde(default)]
    token: Option<String>,
    #[serde(default, alias = "session")]
    profile: Option<String>,
}

async fn post_session(
    State(desktop): State<Arc<Desktop>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let parsed: Result<SessionRequest, String> = if is_json {
        serde_json::from_str(&body).map_err(|e| e.to_string())
    } else {
        Ok(SessionRequest {
            token: form_field(&body, "token"),
            profile: form_field(&body, "profile").or_else(|| form_field(&body, "session")),
        })
    };
    let request = match parsed {
        Ok(request) => request,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("unreadable body: {e}")),
    };
    let code = match request.token.as_deref().map(MfaCode::parse).transpose() {
        Ok(code) => code,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid MFA token format: it must be 6 digits",
            );
        }
    };
    if code.is_none() && request.profile.is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "neither profile nor token was given",
        );
    }
    let profile = request
        .profile
        .or_else(|| desktop.pending())
        .unwrap_or_else(|| desktop.active());
    if let Err(api_error) = view(&desktop, &profile) {
        return if api_error.0 == StatusCode::NOT_FOUND {
            error(
                StatusCode::BAD_REQUEST,
                format!("profile {profile:?} does not exist"),
            )
        } else {
            api_error.into_response()
        };
    }
    if code.is_none() && desktop.profiles.needs_mfa_code(&profile).unwrap_or(false) {
        // Changing the profile alone: it becomes active once a code opens it.
        desktop.set_pending(Some(&profile));
        return mfa_required(&profile);
    }
    let fetch = match code {
        Some(code) => Fetch::Code(code),
        None => Fetch::Cached,
    };
    switch(&desktop, &profile, fetch).await
}

/// Checks the `Authorization` token of the credential endpoints in constant time.
fn authorized(desktop: &Desktop, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| bool::from(v.as_bytes().ct_eq(desktop.token.expose().as_bytes())))
}

async fn active_credentials(State(desktop): State<Arc<Desktop>>, headers: HeaderMap) -> Response {
    let active = desktop.active();
    credentials(&desktop, &headers, &active).await
}

async fn named_credentials(
    State(desktop): State<Arc<Desktop>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    credentials(&desktop, &headers, &name).await
}

async fn credentials(desktop: &Desktop, headers: &HeaderMap, profile: &str) -> Response {
    if !authorized(desktop, headers) {
        return answer::ecs_body(
            StatusCode::UNAUTHORIZED,
            "InvalidToken",
            "send the token printed at start-up as AWS_CONTAINER_AUTHORIZATION_TOKEN",
        );
    }
    match desktop.credentials(profile).await {
        Ok(credentials) => super::ecs::document(&credentials, None, None),
        Err(error) => answer::ecs_at(&error, Some(&desktop.page_url())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_this_server_with_or_without_its_port() {
        let addr: SocketAddr = "127.0.0.1:9911".parse().unwrap_or_else(|e| panic!("{e}"));
        let authorities = vec!["127.0.0.1:9911".to_owned(), "localhost:9911".to_owned()];
        let bare = host_literal(addr);
        let names = |host: &str| names_this_server(&authorities, &bare, host);
        assert!(names("127.0.0.1:9911"));
        assert!(names("LOCALHOST:9911"));
        // The AWS CRT's container provider: the address, no port.
        assert!(names("127.0.0.1"));
        // Another port, another address, a bare name: never.
        assert!(!names("127.0.0.1:9912"));
        assert!(!names("127.0.0.2"));
        assert!(!names("localhost"));
        assert!(!names("rebind.example:9911"));
        assert!(!names("rebind.example"));
        let v6: SocketAddr = "[::1]:9911".parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(names_this_server(&[], &host_literal(v6), "[::1]"));
        assert!(!names_this_server(&[], &host_literal(v6), "::1"));
    }
}
