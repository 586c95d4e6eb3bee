//! The desktop servers' sign-in routes, for profiles that sign in to an identity provider
//! (`web_identity_auth_url`; see [`crate::signin`]):
//!
//! * `POST /auth` (aws-runas; form fields `username`, `password`, and `otp` where the
//!   provider takes a one-time code with the password): the password grant for the pending
//!   profile (else the active one), then the switch to it. The provider may not allow the
//!   grant for the client: the answer says so plainly (400).
//! * `POST /signin` (`flow` = `browser` or `device`, optional `profile`; form or JSON): starts
//!   a sign-in. `browser` answers `{"url"}` to open; the provider sends the browser back to
//!   `GET /signin/callback` (or to a listener of its own: [`crate::signin::loopback`]) and the
//!   switch completes there. `device` answers `{"device": {userCode, verificationUri, …}}` and
//!   the switch completes when the person has approved.
//! * `GET /signin[?profile=NAME]`: the profile's sign-in (signed in, as whom, a device code
//!   waiting) for the page to show; `DELETE /signin` forgets it.
//!
//! The management API's guard (Host, Origin, `X-Requested-By` on state changes) covers all of
//! them; the callback is a GET the provider's redirect makes, and finishes only a sign-in
//! whose `state` this server issued, once.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::answer::{self, AUTH_TYPE_HEADER};
use super::desktop::{Desktop, Fetch, switch};
use crate::aws_files::profiles::{Base, SamlSettings, SignInSettings};
use crate::secret::Secret;
use crate::signin::loopback::{Redirect, result_page};
use crate::signin::oidc::OidcError;
use crate::signin::saml_session::SamlSignInError;
use crate::signin::{SignInError, SignIns};
use crate::source::sso::{SsoSignIn, SsoStep};

/// How long a browser sign-in's own listener waits for the redirect.
const BROWSER_WAIT: Duration = Duration::from_secs(600);

/// The sign-in routes (merged into the management API, behind its guard).
pub(crate) fn routes() -> axum::Router<Arc<Desktop>> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/auth", post(post_auth))
        .route(
            "/signin",
            get(get_signin).post(post_signin).delete(delete_signin),
        )
        .route("/signin/callback", get(callback))
}

fn api_error(status: StatusCode, message: impl Into<String>) -> Response {
    answer::api_body(status, message)
}

/// The identity provider `profile` signs in to.
/// A refusal of the API: answered as `{"error": ...}` with the status.
type Refusal = (StatusCode, String);

fn answer_refusal((status, message): Refusal) -> Response {
    api_error(status, message)
}

/// How a profile signs in: to an OpenID Connect provider, to IAM Identity Center, or to a
/// SAML provider.
enum SignInTarget {
    Oidc(Box<SignInSettings>),
    Sso(SsoTarget),
    Saml(Box<SamlSettings>),
}

/// How `profile` signs in, from its plan (read once per request).
fn sign_in_of(desktop: &Desktop, profile: &str) -> Result<SignInTarget, Refusal> {
    let plan = desktop
        .profiles()
        .plan(profile)
        .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    match plan.base {
        Base::SignIn { provider, .. } => Ok(SignInTarget::Oidc(provider)),
        Base::Sso(sso) => Ok(SignInTarget::Sso(SsoTarget {
            sso,
            endpoint_url: plan.endpoint_url,
        })),
        Base::Saml { provider, .. } => Ok(SignInTarget::Saml(provider)),
        _ => Err((
            StatusCode::BAD_REQUEST,
            format!("profile {profile} does not sign in to an identity provider"),
        )),
    }
}

/// The OpenID Connect provider `profile` signs in to (a password or sign-out needs one).
fn provider_of(desktop: &Desktop, profile: &str) -> Result<Box<SignInSettings>, Refusal> {
    match sign_in_of(desktop, profile)? {
        SignInTarget::Oidc(provider) => Ok(provider),
        SignInTarget::Sso(_) => Err(signs_in_with_a_code(profile)),
        SignInTarget::Saml(_) => Err((
            StatusCode::BAD_REQUEST,
            format!(
                "profile {profile} signs in to a SAML identity provider with a username and password: POST /auth"
            ),
        )),
    }
}

/// The refusal of a password for an IAM Identity Center profile.
fn signs_in_with_a_code(profile: &str) -> Refusal {
    (
        StatusCode::BAD_REQUEST,
        format!(
            "profile {profile} signs in to IAM Identity Center with a code: POST /signin, or use this server's page"
        ),
    )
}

/// A profile's IAM Identity Center settings and `endpoint_url`.
#[derive(Debug, Clone)]
pub(crate) struct SsoTarget {
    sso: crate::aws_files::profiles::SsoProfile,
    endpoint_url: Option<String>,
}

impl SsoTarget {
    pub(super) fn start_url(&self) -> &str {
        &self.sso.start_url
    }

    /// Whether the CLI's token cache holds a token for it that has not expired.
    pub(super) fn has_token(&self, desktop: &Desktop) -> bool {
        let profiles = desktop.profiles();
        let Ok(cache) = crate::aws_files::sso_cache::SsoCache::from_env(profiles.environment())
        else {
            return false;
        };
        let now = profiles.clock().now();
        cache
            .read_token(&self.step("").token_key())
            .ok()
            .flatten()
            .is_some_and(|token| {
                token.expires_at > now
                    && token
                        .start_url
                        .as_deref()
                        .is_none_or(|u| u == self.sso.start_url)
            })
    }

    fn step<'a>(&'a self, profile: &'a str) -> SsoStep<'a> {
        SsoStep {
            profile,
            sso: &self.sso,
            endpoint_url: self.endpoint_url.as_deref(),
        }
    }
}

/// Starts an IAM Identity Center sign-in with a device code (as `aws sso login` does); the
/// switch completes when the person has approved it and the token is in the CLI's cache.
async fn start_sso(desktop: Arc<Desktop>, profile: String, target: SsoTarget) -> Response {
    let profiles = desktop.profiles().clone();
    let clock = profiles.clock().clone();
    let http = profiles.http().clone();
    let step = target.step(&profile);
    match SsoSignIn::start(&http, profiles.environment(), &clock, &step).await {
        Ok(sign_in) => {
            let prompt = sign_in.prompt();
            desktop.set_sso_state(&profile, Some(Ok(prompt.clone())));
            tokio::spawn(async move {
                match sign_in.finish(&clock).await {
                    Ok(()) => {
                        desktop.set_sso_state(&profile, None);
                        let _ = switch(&desktop, &profile, Fetch::New).await;
                    }
                    Err(error) => {
                        let reason = crate::system::logging::error_chain(&error);
                        desktop.set_sso_state(&profile, Some(Err(reason)));
                    }
                }
            });
            axum::Json(serde_json::json!({ "device": prompt })).into_response()
        }
        Err(error) => {
            let error = crate::source::SourceError::new(error.kind(), error);
            answer::log(&format!("profile {profile}"), &error);
            answer::desktop_api(&error)
        }
    }
}

fn sign_ins(desktop: &Desktop) -> &Arc<SignIns> {
    desktop.profiles().sign_ins()
}

/// The profile a sign-in is for: the one named, else the one waiting, else the active one.
fn target(desktop: &Desktop, named: Option<String>) -> String {
    named
        .filter(|n| !n.is_empty())
        .or_else(|| desktop.pending())
        .unwrap_or_else(|| desktop.active())
}

/// The answer to a failed sign-in.
fn refused(client_id: &str, error: &SignInError) -> Response {
    match error {
        SignInError::Oidc(OidcError::Refused { code, .. })
            if code == "unauthorized_client" || code == "unsupported_grant_type" =>
        {
            api_error(
                StatusCode::BAD_REQUEST,
                format!(
                    "the identity provider does not allow signing in with a username and password for client {client_id}: sign in with the browser on this server's page"
                ),
            )
        }
        SignInError::Oidc(OidcError::Refused { code, .. }) if code == "invalid_grant" => {
            let mut response = api_error(
                StatusCode::UNAUTHORIZED,
                "the identity provider refused the username, password or one-time code",
            );
            response
                .headers_mut()
                .insert(AUTH_TYPE_HEADER, HeaderValue::from_static("AUTH"));
            response
        }
        other => {
            let status = match other.kind() {
                crate::source::Kind::SignInRejected => StatusCode::FORBIDDEN,
                crate::source::Kind::Profile => StatusCode::BAD_REQUEST,
                kind => answer::status_and_code(kind).0,
            };
            api_error(status, other.to_string())
        }
    }
}

fn form_or_json<T: for<'de> Deserialize<'de>>(
    headers: &HeaderMap,
    body: &str,
) -> Result<T, Refusal> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let parsed = if is_json {
        serde_json::from_str(body).map_err(|e| e.to_string())
    } else {
        let fields: serde_json::Map<String, serde_json::Value> =
            url::form_urlencoded::parse(body.as_bytes())
                .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
                .collect();
        serde_json::from_value(serde_json::Value::Object(fields)).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| (StatusCode::BAD_REQUEST, format!("unreadable body: {e}")))
}

#[derive(Deserialize)]
struct AuthForm {
    username: Option<String>,
    password: Option<String>,
    #[serde(alias = "mfa")]
    otp: Option<String>,
    profile: Option<String>,
}

async fn post_auth(
    State(desktop): State<Arc<Desktop>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let form: AuthForm = match form_or_json(&headers, &body) {
        Ok(form) => form,
        Err(refusal) => return answer_refusal(refusal),
    };
    let profile = target(&desktop, form.profile.clone());
    let provider = match sign_in_of(&desktop, &profile) {
        Ok(SignInTarget::Saml(provider)) => {
            return saml_auth(desktop, profile, *provider, form).await;
        }
        Ok(SignInTarget::Oidc(provider)) => provider,
        Ok(SignInTarget::Sso(_)) => return answer_refusal(signs_in_with_a_code(&profile)),
        Err(refusal) => return answer_refusal(refusal),
    };
    let Some((username, password)) = credentials_of(&form, provider.username.as_deref()) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "expected the form fields username and password",
        );
    };
    let otp = form.otp.filter(|o| !o.is_empty());
    match sign_ins(&desktop)
        .password(&provider, &username, &password, otp.as_deref())
        .await
    {
        Ok(_) => switch(&desktop, &profile, Fetch::New).await,
        Err(error) => {
            tracing::info!(profile, error = %error, "sign-in with a password failed");
            desktop.set_pending(Some(&profile));
            refused(&provider.client_id, &error)
        }
    }
}

/// The username (the form's, else the profile's) and password of a `POST /auth`.
fn credentials_of(form: &AuthForm, configured: Option<&str>) -> Option<(String, Secret)> {
    let username = form
        .username
        .clone()
        .filter(|u| !u.is_empty())
        .or_else(|| configured.map(str::to_owned))?;
    let password = form.password.clone().filter(|p| !p.is_empty())?;
    Some((username, Secret::new(password)))
}

/// `POST /auth` for a SAML profile: sign in (ECP or by form), give the one-time code when
/// the form has one and the provider asks, then switch. A code still needed answers 401
/// with the MFA header, so `POST /mfa` (the page's MFA dialog) finishes the sign-in.
async fn saml_auth(
    desktop: Arc<Desktop>,
    profile: String,
    provider: SamlSettings,
    form: AuthForm,
) -> Response {
    let Some((username, password)) = credentials_of(&form, provider.username.as_deref()) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "expected the form fields username and password",
        );
    };
    let saml = desktop.profiles().saml().clone();
    let mut result = saml.sign_in(&provider, &username, password).await;
    if let (Err(SamlSignInError::NeedsCode { .. }), Some(code)) =
        (&result, form.otp.as_deref().filter(|o| !o.is_empty()))
    {
        result = saml.give_code(&provider, code).await;
    }
    match result {
        Ok(()) => switch(&desktop, &profile, Fetch::New).await,
        Err(error) => {
            tracing::info!(profile, error = %error, "SAML sign-in failed");
            desktop.set_pending(Some(&profile));
            if let SamlSignInError::PasswordRefused { .. } = error {
                // The page asks for the username and password again.
                let mut response = api_error(StatusCode::UNAUTHORIZED, error.to_string());
                response
                    .headers_mut()
                    .insert(AUTH_TYPE_HEADER, HeaderValue::from_static("AUTH"));
                return response;
            }
            answer::desktop_api_explained(&crate::source::SourceError::from(error))
        }
    }
}

#[derive(Deserialize)]
struct StartForm {
    flow: Option<String>,
    profile: Option<String>,
}

async fn post_signin(
    State(desktop): State<Arc<Desktop>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let form: StartForm = match form_or_json(&headers, &body) {
        Ok(form) => form,
        Err(refusal) => return answer_refusal(refusal),
    };
    let profile = target(&desktop, form.profile.clone());
    let provider = match sign_in_of(&desktop, &profile) {
        Ok(SignInTarget::Oidc(provider)) => provider,
        Ok(SignInTarget::Sso(step)) => {
            desktop.set_pending(Some(&profile));
            return start_sso(desktop, profile, step).await;
        }
        Ok(SignInTarget::Saml(_)) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                format!(
                    "profile {profile} signs in to a SAML identity provider with a username and password: POST /auth"
                ),
            );
        }
        Err(refusal) => return answer_refusal(refusal),
    };
    desktop.set_pending(Some(&profile));
    match form.flow.as_deref().unwrap_or("browser") {
        "browser" => start_browser(desktop, profile, *provider).await,
        "device" => start_device(desktop, profile, *provider).await,
        other => api_error(
            StatusCode::BAD_REQUEST,
            format!("flow {other:?} is neither browser nor device"),
        ),
    }
}

async fn start_browser(
    desktop: Arc<Desktop>,
    profile: String,
    provider: SignInSettings,
) -> Response {
    let sign_ins = sign_ins(&desktop).clone();
    // The server's own callback when it listens on loopback and the profile names no other.
    let own = match (&provider.redirect_uri, desktop.redirect_uri()) {
        (None, Some(own)) => Some(own),
        (Some(configured), Some(own)) if *configured == own => Some(own),
        _ => None,
    };
    let url = match own {
        Some(redirect) => sign_ins.start_browser(&provider, redirect).await,
        None => {
            let redirect = match Redirect::bind(provider.redirect_uri.as_ref()).await {
                Ok(redirect) => redirect,
                Err(e) => {
                    return api_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("cannot listen for the sign-in's redirect: {e}"),
                    );
                }
            };
            let url = sign_ins
                .start_browser(&provider, redirect.uri.clone())
                .await;
            if url.is_ok() {
                let page = desktop.page_url();
                tokio::spawn(async move {
                    if redirect
                        .finish(sign_ins, Some(page), BROWSER_WAIT)
                        .await
                        .is_ok()
                    {
                        let _ = switch(&desktop, &profile, Fetch::New).await;
                    }
                });
            }
            url
        }
    };
    match url {
        Ok(url) => axum::Json(serde_json::json!({ "url": url.as_str() })).into_response(),
        Err(error) => refused(&provider.client_id, &error),
    }
}

async fn start_device(
    desktop: Arc<Desktop>,
    profile: String,
    provider: SignInSettings,
) -> Response {
    let sign_ins = sign_ins(&desktop).clone();
    match sign_ins.begin_device(&provider).await {
        Ok((prompt, poll)) => {
            tokio::spawn(async move {
                if poll.run(&sign_ins).await.is_ok() {
                    let _ = switch(&desktop, &profile, Fetch::New).await;
                }
            });
            axum::Json(serde_json::json!({ "device": prompt })).into_response()
        }
        Err(error) => refused(&provider.client_id, &error),
    }
}

#[derive(Deserialize)]
struct ProfileQuery {
    profile: Option<String>,
}

async fn get_signin(
    State(desktop): State<Arc<Desktop>>,
    Query(query): Query<ProfileQuery>,
) -> Response {
    let profile = target(&desktop, query.profile);
    let view = match sign_in_of(&desktop, &profile) {
        Ok(SignInTarget::Sso(step)) => desktop.sso_view(&profile, &step),
        Ok(SignInTarget::Saml(provider)) => desktop.profiles().saml().view(&provider),
        Ok(SignInTarget::Oidc(provider)) => {
            // Whether the provider offers a device code is known once its discovery
            // document is read; a provider that cannot be reached now just leaves it unknown.
            let _ = sign_ins(&desktop).metadata(&provider.issuer).await;
            sign_ins(&desktop).view(&provider)
        }
        Err(refusal) => return answer_refusal(refusal),
    };
    axum::Json(serde_json::json!({ "profile": profile, "signIn": view })).into_response()
}

async fn delete_signin(
    State(desktop): State<Arc<Desktop>>,
    Query(query): Query<ProfileQuery>,
) -> Response {
    let profile = target(&desktop, query.profile);
    if let Ok(SignInTarget::Saml(provider)) = sign_in_of(&desktop, &profile) {
        desktop.profiles().saml().sign_out(&provider);
        desktop.profiles().forget(Some(&profile));
        return axum::Json(serde_json::json!({ "profile": profile, "signedOut": true }))
            .into_response();
    }
    match provider_of(&desktop, &profile) {
        Ok(provider) => {
            sign_ins(&desktop).sign_out(&provider);
            desktop.profiles().forget(Some(&profile));
            axum::Json(serde_json::json!({ "profile": profile, "signedOut": true })).into_response()
        }
        Err(refusal) => answer_refusal(refusal),
    }
}

async fn callback(
    State(desktop): State<Arc<Desktop>>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    match sign_ins(&desktop).finish_browser(&query).await {
        Ok(_) => {
            let profile = target(&desktop, None);
            let switched = switch(&desktop, &profile, Fetch::New).await;
            if switched.status().is_success() {
                (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response()
            } else {
                result_page(
                    StatusCode::OK,
                    "Signed in",
                    &format!(
                        "Signed in, but profile {profile} has no credentials yet (status {}); see this server's page.",
                        switched.status()
                    ),
                )
            }
        }
        Err(error) => result_page(StatusCode::BAD_REQUEST, "Not signed in", &error.to_string()),
    }
}
