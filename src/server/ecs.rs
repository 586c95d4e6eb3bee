//! The ECS container credentials endpoint for role bindings.
//!
//! `GET /ecs/credentials` with `Authorization: Bearer needroleshere.<name>.<secret>` (or,
//! for `-query` bindings, `?access_token=<token>`) answers 200 with
//! `{"AccessKeyId","SecretAccessKey","Token","Expiration","RoleArn","AccountId"}`, the shape
//! SDKs' container providers read
//! (<https://docs.aws.amazon.com/sdkref/latest/guide/feature-container-credentials.html>).
//!
//! Failures answer `{"Code","Message"}` with an honest status: 400 no token or two tokens,
//! 401 a token that opens nothing (malformed, unknown binding, wrong secret, or presented the
//! other way than its binding's mode says), 500 a binding, certificate or key that cannot
//! be used, 502 IAM Roles Anywhere refused, 503 it is unavailable, 504 it did not answer in
//! time. The body stays short; the full cause goes to the log. Tokens never reach the log.
//!
//! The binding, certificate and key files are checked on every request (a `stat` each when
//! nothing changed), so rebinds, unbinds and renewed certificates take effect at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use url::Url;

use crate::arn::Region;
use crate::binding::{AccessToken, Binding, BindingError, BindingName, ECS_PATH, Store};
use crate::cache::{Cache, CacheError, Fetcher};
use crate::clock::Clock;
use crate::credentials::{Credentials, format_rfc3339};
use crate::env::Environment;
use crate::identity::IdentityCache;
use crate::rolesanywhere::{self, RolesAnywhereError, Source, SourceError};

/// Cache key: the binding and a fingerprint of everything that decides its credentials.
type Key = (BindingName, [u8; 32]);

/// Where CreateSession goes when a binding does not say.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// `serve --region`.
    pub region: Option<Region>,
    /// `serve --endpoint`.
    pub endpoint: Option<String>,
    pub env: Environment,
}

/// Everything the endpoint needs; shared by all requests.
pub struct EcsState {
    store: Store,
    identities: Arc<IdentityCache>,
    cache: Cache<Key, SourceError>,
    http: reqwest::Client,
    defaults: Defaults,
    clients: Mutex<HashMap<(Region, Url), rolesanywhere::Client>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for EcsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcsState")
            .field("store", &self.store)
            .field("defaults", &self.defaults)
            .finish_non_exhaustive()
    }
}

impl EcsState {
    pub fn new(
        store: Store,
        http: reqwest::Client,
        defaults: Defaults,
        clock: Arc<dyn Clock>,
        policy: crate::cache::Policy,
    ) -> Self {
        Self {
            store,
            identities: Arc::new(IdentityCache::default()),
            cache: Cache::new(clock.clone(), policy),
            http,
            defaults,
            clients: Mutex::new(HashMap::new()),
            clock,
        }
    }

    /// The CreateSession client for `binding`: its region and endpoint, else the defaults.
    fn client_for(&self, binding: &Binding) -> Result<rolesanywhere::Client, RolesAnywhereError> {
        let region = binding
            .region
            .clone()
            .or_else(|| self.defaults.region.clone())
            .or_else(|| {
                self.defaults
                    .env
                    .region
                    .as_deref()
                    .and_then(|r| r.parse().ok())
            })
            .unwrap_or_else(|| binding.session.trust_anchor_arn.region());
        let endpoint = rolesanywhere::resolve_endpoint(
            binding
                .endpoint
                .as_deref()
                .or(self.defaults.endpoint.as_deref()),
            &self.defaults.env,
            &region,
        )?;
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let client = clients
            .entry((region.clone(), endpoint.clone()))
            .or_insert_with(|| {
                rolesanywhere::Client::new(self.http.clone(), endpoint, region, self.clock.clone())
            });
        Ok(client.clone())
    }
}

/// The router for the ECS endpoint (and `/healthz`).
pub fn router(state: Arc<EcsState>) -> axum::Router {
    axum::Router::new()
        .route(ECS_PATH, axum::routing::get(credentials))
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .with_state(state)
}

/// A short, stable error answer; the detail is logged where it happens.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn invalid_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "InvalidToken",
            "the token does not open any binding",
        )
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Body<'a> {
            code: &'a str,
            message: &'a str,
        }
        let body = Body {
            code: self.code,
            message: &self.message,
        };
        (self.status, axum::Json(body)).into_response()
    }
}

/// Where a token was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presented {
    Header,
    Query,
}

/// Finds the one token in the request.
fn extract_token(headers: &HeaderMap, uri: &Uri) -> Result<(Presented, String), Refusal> {
    let mut from_header = None;
    let mut authorizations = headers.get_all(header::AUTHORIZATION).iter();
    if let Some(value) = authorizations.next() {
        if authorizations.next().is_some() {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "AmbiguousToken",
                "more than one Authorization header",
            ));
        }
        let value = value.to_str().map_err(|_| Refusal::invalid_token())?.trim();
        // `Bearer <token>` as the env files write it; a bare token is accepted too.
        let token = match value.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            Some(_) => return Err(Refusal::invalid_token()),
            None => value,
        };
        from_header = Some(token.to_owned());
    }
    let mut from_query = None;
    for (name, value) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        if name == "access_token" {
            if from_query.is_some() {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "AmbiguousToken",
                    "more than one access_token parameter",
                ));
            }
            from_query = Some(value.into_owned());
        }
    }
    match (from_header, from_query) {
        (Some(_), Some(_)) => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "AmbiguousToken",
            "a token in both the Authorization header and the query string",
        )),
        (Some(token), None) => Ok((Presented::Header, token)),
        (None, Some(token)) => Ok((Presented::Query, token)),
        (None, None) => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "MissingToken",
            "no token: send Authorization: Bearer <token> (AWS_CONTAINER_AUTHORIZATION_TOKEN)",
        )),
    }
}

async fn credentials(State(state): State<Arc<EcsState>>, headers: HeaderMap, uri: Uri) -> Response {
    match serve_credentials(&state, &headers, &uri).await {
        Ok(response) => response,
        Err(refusal) => refusal.into_response(),
    }
}

async fn serve_credentials(
    state: &EcsState,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Response, Refusal> {
    let (presented, text) = extract_token(headers, uri)?;
    let token = AccessToken::parse(&text).map_err(|reason| {
        tracing::warn!(%reason, "refused a malformed token");
        Refusal::invalid_token()
    })?;
    let name = token.name().clone();
    let binding = state.store.load(&name).map_err(|error| match error {
        BindingError::NotFound { .. } => {
            tracing::warn!(binding = %name, "refused a token for a binding that does not exist");
            Refusal::invalid_token()
        }
        error => {
            tracing::error!(binding = %name, error = %format!("{error:#}"), "cannot use binding file");
            Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "BindingUnreadable",
                format!("binding {name} cannot be read; see the needroleshere log"),
            )
        }
    })?;
    if !binding.accepts(&token) {
        tracing::warn!(binding = %name, "refused a token with a wrong secret");
        return Err(Refusal::invalid_token());
    }
    let expected = if binding.mode.token_in_query() {
        Presented::Query
    } else {
        Presented::Header
    };
    if presented != expected {
        tracing::warn!(binding = %name, mode = %binding.mode, ?presented, "refused a token presented the wrong way for its binding");
        return Err(Refusal::invalid_token());
    }

    let identity = state.identities.load(&binding.files).map_err(|error| {
        tracing::error!(binding = %name, error = %error, "cannot load the binding's certificate or key");
        identity_refusal(&name)
    })?;
    if let Err(error) = identity.ensure_valid_at(state.clock.now()) {
        tracing::error!(binding = %name, error = %error, "the binding's certificate is not valid now");
        return Err(Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "CertificateNotValid",
            format!(
                "the certificate of binding {name} is not valid now; see the needroleshere log"
            ),
        ));
    }
    let client = state.client_for(&binding).map_err(|error| {
        tracing::error!(binding = %name, error = %error, "no usable CreateSession endpoint");
        Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "BadEndpoint",
            format!("binding {name} has no usable endpoint; see the needroleshere log"),
        )
    })?;

    let mut fingerprint = Sha256::new();
    fingerprint.update(identity.fingerprint());
    fingerprint.update(format!("{:?}", binding.session));
    fingerprint.update(client.endpoint().as_str());
    let key = (name.clone(), fingerprint.finalize().into());
    let source = Source::new(
        client,
        binding.files.clone(),
        binding.session.clone(),
        state.identities.clone(),
    );
    let fetcher = move || -> Fetcher<SourceError> {
        Arc::new(move || {
            let source = source.clone();
            Box::pin(async move { source.fetch().await })
        })
    };
    let credentials = state.cache.get(key, fetcher).await.map_err(|error| {
        tracing::error!(binding = %name, error = %format!("{:#}", anyhow::Error::new(error.clone())), "no credentials");
        upstream_refusal(&name, &error)
    })?;
    tracing::debug!(binding = %name, access_key_id = %credentials.access_key_id, "vended credentials");
    Ok(success(&credentials, &binding))
}

fn identity_refusal(name: &BindingName) -> Refusal {
    Refusal::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "IdentityUnavailable",
        format!(
            "the certificate or key of binding {name} cannot be used; see the needroleshere log"
        ),
    )
}

fn upstream_refusal(name: &BindingName, error: &CacheError<SourceError>) -> Refusal {
    let (status, code, what) = match error {
        CacheError::Source(source) => match source.as_ref() {
            SourceError::Identity(_) => return identity_refusal(name),
            SourceError::Service(RolesAnywhereError::Service { status, .. })
                if *status == 429 || *status >= 500 =>
            {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "UpstreamUnavailable",
                    "IAM Roles Anywhere is unavailable",
                )
            }
            SourceError::Service(RolesAnywhereError::Service { .. }) => (
                StatusCode::BAD_GATEWAY,
                "UpstreamRefused",
                "IAM Roles Anywhere refused the request",
            ),
            SourceError::Service(RolesAnywhereError::Transport { source, .. })
                if source.is_timeout() =>
            {
                (
                    StatusCode::GATEWAY_TIMEOUT,
                    "UpstreamTimeout",
                    "IAM Roles Anywhere did not answer in time",
                )
            }
            SourceError::Service(RolesAnywhereError::Transport { .. }) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "UpstreamUnavailable",
                "IAM Roles Anywhere cannot be reached",
            ),
            SourceError::Service(RolesAnywhereError::BadResponse { .. }) => (
                StatusCode::BAD_GATEWAY,
                "UpstreamInvalid",
                "IAM Roles Anywhere gave an unreadable answer",
            ),
            SourceError::Service(RolesAnywhereError::Identity(_)) => return identity_refusal(name),
            SourceError::Service(
                RolesAnywhereError::BadEndpoint(_) | RolesAnywhereError::NoFipsEndpoint { .. },
            ) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "BadEndpoint",
                "the endpoint is misconfigured",
            ),
        },
        CacheError::Timeout(_) => (
            StatusCode::GATEWAY_TIMEOUT,
            "UpstreamTimeout",
            "IAM Roles Anywhere did not answer in time",
        ),
        CacheError::Aborted => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "the credential fetch failed",
        ),
    };
    Refusal::new(
        status,
        code,
        format!("{what} for binding {name}; see the needroleshere log"),
    )
}

fn success(credentials: &Credentials, binding: &Binding) -> Response {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Body<'a> {
        access_key_id: &'a str,
        secret_access_key: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        token: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        expiration: Option<String>,
        role_arn: &'a str,
        account_id: &'a str,
    }
    let role_arn = credentials
        .role_arn
        .as_deref()
        .unwrap_or(binding.session.role_arn.as_str());
    let body = Body {
        access_key_id: &credentials.access_key_id,
        secret_access_key: credentials.secret_access_key.expose(),
        token: credentials.session_token.as_ref().map(|t| t.expose()),
        expiration: credentials.expiration.map(format_rfc3339),
        role_arn,
        account_id: credentials
            .account_id()
            .unwrap_or(binding.session.role_arn.account()),
    };
    (StatusCode::OK, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extract(headers: &[(&str, &str)], uri: &str) -> Result<(Presented, String), Refusal> {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        extract_token(&map, &uri.parse().unwrap())
    }

    #[test]
    fn tokens_come_from_exactly_one_place() {
        assert_eq!(
            extract(
                &[("authorization", "Bearer needroleshere.a.b")],
                "/ecs/credentials"
            )
            .unwrap(),
            (Presented::Header, "needroleshere.a.b".to_owned())
        );
        assert_eq!(
            extract(&[("authorization", "needroleshere.a.b")], "/")
                .unwrap()
                .1,
            "needroleshere.a.b"
        );
        assert_eq!(
            extract(&[], "/ecs/credentials?access_token=needroleshere.a.b%2B").unwrap(),
            (Presented::Query, "needroleshere.a.b+".to_owned())
        );
        let status = |r: Result<(Presented, String), Refusal>| r.unwrap_err().status;
        assert_eq!(
            status(extract(&[], "/ecs/credentials")),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(extract(
                &[("authorization", "Bearer x")],
                "/?access_token=y"
            )),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(extract(
                &[("authorization", "Bearer x"), ("authorization", "Bearer y")],
                "/"
            )),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(extract(&[], "/?access_token=x&access_token=y")),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(extract(&[("authorization", "Basic dXNlcjpwYXNz")], "/")),
            StatusCode::UNAUTHORIZED
        );
    }
}
