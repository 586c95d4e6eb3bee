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
//! other way than its binding's mode says), 403 a good token from a user the binding is not
//! pinned to (`bind --allow-uid`: the connection's owner, found in the kernel's socket
//! tables, must be one of the binding's uids), 500 a binding, certificate or key that cannot
//! be used, 502 IAM Roles Anywhere refused, 503 it is unavailable, 504 it did not answer in
//! time. The body stays short; the full cause goes to the log. Tokens never reach the log.
//!
//! `GET /healthz` answers 200 `ok`, or 503 with the reason when the bindings directory
//! cannot be trusted (then no binding is served: 500 `BindingUnreadable`).
//!
//! The binding, certificate and key files are checked on every request (file-change
//! notification, see [`crate::system::watch`]; a `stat` each where there is none), so
//! rebinds, unbinds and renewed certificates take effect at once.

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::vend::Vendor;
use crate::binding::{
    Binding, BindingError, BindingName, ECS_PATH, OpenedTokens, PresentedToken, Store,
};
use crate::cache::{Lookup, Outcome, Pending};
use crate::credentials::{Credentials, format_rfc3339};
use crate::front::memo::{Answer, Memo};
use crate::front::rendered::Rendered;
use crate::http::{Answered, Peer, routed};
use crate::system::repeats::summarised;
use crate::system::watch::Seen;

/// The ECS front's state: bindings from the configuration directory, credentials from the
/// shared [`Vendor`].
#[derive(Debug)]
pub struct EcsState {
    store: Arc<Store>,
    vendor: Arc<Vendor>,
    /// The document last answered per binding.
    documents: Rendered<BindingName>,
    /// The token that last opened each binding.
    opened: OpenedTokens,
    /// Whole answers, per worker thread.
    memo: Memo,
}

impl EcsState {
    pub fn new(store: Arc<Store>, vendor: Arc<Vendor>) -> Self {
        Self {
            store,
            vendor,
            documents: Rendered::default(),
            opened: OpenedTokens::default(),
            memo: Memo::default(),
        }
    }

    /// The answer for `binding` from the cache's `outcome`: the document serialised once
    /// per credentials, or the failure.
    fn reply(&self, binding: &Arc<Binding>, outcome: Outcome) -> Answered {
        self.reply_and(binding, outcome, |_, _| ())
    }

    /// [`EcsState::reply`], giving a document answered to `answered` first.
    fn reply_and(
        &self,
        binding: &Arc<Binding>,
        outcome: Outcome,
        answered: impl FnOnce(&Arc<Credentials>, &Bytes),
    ) -> Answered {
        let credentials = match outcome {
            Ok(credentials) => credentials,
            Err(error) => return routed(super::answer::ecs(&error)),
        };
        let role_arn = &binding.session.role_arn;
        let body = self
            .documents
            .get_or_render(&binding.name, binding, &credentials, || {
                document_body(
                    &credentials,
                    Some(role_arn.as_str()),
                    Some(role_arn.account()),
                )
            });
        match body {
            Ok(body) => {
                answered(&credentials, &body);
                document_answer(body)
            }
            Err(error) => {
                tracing::error!(binding = %binding.name, %error, "cannot serialise the credential document");
                routed(StatusCode::INTERNAL_SERVER_ERROR.into_response())
            }
        }
    }

    /// How many answers the calling thread keeps for this front (see [`super::memo`]): for
    /// tests and diagnostics.
    pub fn kept_answers(&self) -> usize {
        self.memo.kept_here()
    }

    /// Keeps the answer just made for `token` in the memo, when each of its inputs can be
    /// checked there (see [`super::memo`]): the files under notification (`seen`, read
    /// before the request read them), the binding as the store keeps it, not pinned to
    /// users, and credentials the cache holds.
    fn remember(
        &self,
        seen: Option<Seen>,
        query: bool,
        token: &[u8],
        binding: &Arc<Binding>,
        credentials: &Arc<Credentials>,
        body: &Bytes,
    ) {
        let Some(seen) = seen else {
            return;
        };
        if binding.is_pinned()
            || !self
                .store
                .kept(binding.name.as_str())
                .is_some_and(|kept| Arc::ptr_eq(&kept, binding))
        {
            return;
        }
        let Some(hold) = self.vendor.hold(binding, credentials, self.store.watch()) else {
            return;
        };
        self.memo.keep(
            query,
            token,
            Answer {
                seen,
                hold,
                binding: binding.clone(),
                credentials: credentials.clone(),
                body: body.clone(),
            },
        );
    }
}

/// A credential document, answered.
fn document_answer(body: Bytes) -> Answered {
    crate::http::bytes_response(StatusCode::OK, &crate::http::JSON, body)
}

/// The router for the ECS endpoint (and `/healthz`).
pub fn router(state: Arc<EcsState>) -> axum::Router {
    axum::Router::new()
        .route(ECS_PATH, axum::routing::get(credentials))
        .route("/healthz", axum::routing::get(healthz))
        .with_state(state)
}

/// `/healthz`: 200 `ok`, or 503 saying why the bindings cannot be served (a directory that
/// someone other than root and the serve user could change). Paths and modes only.
async fn healthz(State(state): State<Arc<EcsState>>) -> Response {
    match state.store.check() {
        Ok(()) => "ok".into_response(),
        Err(error) => {
            let error = crate::system::logging::error_chain(&error);
            tracing::error!(%error, "unhealthy: bindings are not served");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("unhealthy: {error}\n"),
            )
                .into_response()
        }
    }
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
        super::answer::ecs_body(self.status, self.code, &self.message)
    }
}

/// Where a token was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presented {
    Header,
    Query,
}

/// Finds the one token in the request, as bytes: a kept answer is found by them (see
/// [`super::memo`]); [`token_text`] checks they are text.
fn extract_token<'a>(
    headers: &'a HeaderMap,
    uri: &'a Uri,
) -> Result<(Presented, Cow<'a, [u8]>), Refusal> {
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
        // `Bearer <token>` as the env files write it; a bare token is accepted too, and any
        // other scheme refused. Spaces and tabs around it are HTTP's, not the token's.
        let value = value.as_bytes().trim_ascii();
        const BEARER: &[u8] = b"bearer ";
        let token = match value.split_at_checked(BEARER.len()) {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case(BEARER) => token.trim_ascii(),
            _ if value.contains(&b' ') => return Err(Refusal::invalid_token()),
            _ => value,
        };
        from_header = Some(Cow::Borrowed(token));
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
            from_query = Some(match value {
                Cow::Borrowed(value) => Cow::Borrowed(value.as_bytes()),
                Cow::Owned(value) => Cow::Owned(value.into_bytes()),
            });
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

/// `GET /ecs/credentials`, served without the router (see [`crate::http::HotPath`]); a
/// `HEAD` and everything else go through [`router`].
impl crate::http::HotPath for EcsState {
    fn takes(&self, request: &axum::http::Request<hyper::body::Incoming>) -> bool {
        request.method() == axum::http::Method::GET && request.uri().path() == ECS_PATH
    }

    fn answer(
        &self,
        request: &axum::http::Request<hyper::body::Incoming>,
        peer: &Peer,
    ) -> Option<Answered> {
        match look_up(self, request.headers(), request.uri(), Some(peer)) {
            Step::Answered(response) => Some(response),
            Step::Waiting(..) => None,
        }
    }

    fn answer_later(
        self: Arc<Self>,
        request: axum::http::Request<hyper::body::Incoming>,
        peer: Peer,
    ) -> crate::http::Later {
        Box::pin(async move { respond(&self, request.headers(), request.uri(), Some(&peer)).await })
    }
}

// The whole request, not `HeaderMap`: that extractor copies every header.
async fn credentials(State(state): State<Arc<EcsState>>, request: Request) -> Response {
    let peer = request.extensions().get::<Peer>();
    respond(&state, request.headers(), request.uri(), peer)
        .await
        .into_response()
}

/// The answer to a credentials request, however it came in.
async fn respond(
    state: &EcsState,
    headers: &HeaderMap,
    uri: &Uri,
    peer: Option<&Peer>,
) -> Answered {
    match look_up(state, headers, uri, peer) {
        Step::Answered(response) => response,
        Step::Waiting(binding, pending) => {
            let outcome = state.vendor.wait(&binding, pending).await;
            state.reply(&binding, outcome)
        }
    }
}

/// How far a credentials request got without waiting.
enum Step {
    /// Its answer: a refusal, or what the cache answered at once.
    Answered(Answered),
    /// Admitted, and waiting for the binding's fetch.
    Waiting(Arc<Binding>, Pending),
}

/// A credentials request up to its first wait, as one request of the store's watch (its
/// queue read once): the answer kept for its token (see [`super::memo`]), else the token
/// checked, the binding read and the cache asked.
fn look_up(state: &EcsState, headers: &HeaderMap, uri: &Uri, peer: Option<&Peer>) -> Step {
    let watch = state.store.watch();
    watch.one_request(|| {
        let refused = |refusal: Refusal| Step::Answered(routed(refusal.into_response()));
        let (presented, token) = match extract_token(headers, uri) {
            Ok(token) => token,
            Err(refusal) => return refused(refusal),
        };
        let query = presented == Presented::Query;
        let clock = state.vendor.clock().as_ref();
        if let Some(body) = state.memo.answer(query, &token, watch, clock) {
            return Step::Answered(document_answer(body));
        }
        // Before anything is read: a change from here on is for the next request to see.
        let seen = watch.seen();
        let binding = match token_text(&token).and_then(|text| admit(state, presented, text, peer))
        {
            Ok(binding) => binding,
            Err(refusal) => return refused(refusal),
        };
        match state.vendor.lookup(&binding) {
            Lookup::Ready(outcome) => {
                Step::Answered(state.reply_and(&binding, outcome, |credentials, body| {
                    state.remember(seen, query, &token, &binding, credentials, body);
                }))
            }
            Lookup::Pending(pending) => Step::Waiting(binding, pending),
        }
    })
}

/// A presented token as text: any text, the token's own parse says what is wrong with it.
fn token_text(token: &[u8]) -> Result<&str, Refusal> {
    std::str::from_utf8(token).map_err(|_| Refusal::invalid_token())
}

/// The binding a credentials request presenting `text` may have, or why not.
fn admit(
    state: &EcsState,
    presented: Presented,
    text: &str,
    peer: Option<&Peer>,
) -> Result<Arc<Binding>, Refusal> {
    let token = PresentedToken::parse(text).map_err(|reason| {
        summarised!(warn, None, "refused a malformed token", %reason);
        Refusal::invalid_token()
    })?;
    let name = token.name();
    let binding = match state.store.kept(name) {
        Some(binding) => binding,
        None => load(state, &token.binding_name())?,
    };
    if !binding.mode.uses_token() || !state.opened.accepts(&binding, token) {
        summarised!(warn, Some(name), "refused a token with a wrong secret", binding = %name);
        return Err(Refusal::invalid_token());
    }
    let expected = if binding.mode.token_in_query() {
        Presented::Query
    } else {
        Presented::Header
    };
    if presented != expected {
        summarised!(warn, Some(name), "refused a token presented the wrong way for its binding", binding = %name, mode = %binding.mode, ?presented);
        return Err(Refusal::invalid_token());
    }
    if binding.is_pinned() {
        // A request that did not come through `crate::http::serve` has no peer: nobody.
        let uid = peer.and_then(Peer::uid);
        if !binding.admits(uid) {
            summarised!(warn, Some(name), "refused a good token from a user the binding is not pinned to", binding = %name, uid = ?uid, client = ?peer.and_then(Peer::remote));
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                format!("binding {name} is not served to this user"),
            ));
        }
    }
    Ok(binding)
}

/// Binding `name` read again (see [`Store::kept`]), or why it cannot be served.
fn load(state: &EcsState, name: &BindingName) -> Result<Arc<Binding>, Refusal> {
    state.store.load(name).map_err(|error| match error {
        BindingError::NotFound { .. } => {
            // Unbound: its credentials are not kept for it any longer.
            state.documents.forget(name);
            state.opened.forget(name);
            // The name is the caller's: not a subject, or each made-up name would be logged.
            summarised!(
                warn,
                None,
                "refused a token for a binding that does not exist",
                binding = %name
            );
            Refusal::invalid_token()
        }
        error => {
            let chain = crate::system::logging::error_chain(&error);
            summarised!(error, Some(&format!("{name}: {chain}")), "cannot use binding file", binding = %name, error = %chain);
            Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "BindingUnreadable",
                format!("binding {name} cannot be read; see the needroleshere log"),
            )
        }
    })
}

/// The ECS credential document, `{"AccessKeyId","SecretAccessKey","Token","Expiration",
/// "RoleArn","AccountId"}`; the role and account come from the credentials when they know
/// them, else from the fallbacks.
pub fn document(
    credentials: &Credentials,
    role_arn: Option<&str>,
    account_id: Option<&str>,
) -> Response {
    crate::http::json(
        StatusCode::OK,
        &Document::new(credentials, role_arn, account_id),
    )
}

fn document_body(
    credentials: &Credentials,
    role_arn: Option<&str>,
    account_id: Option<&str>,
) -> serde_json::Result<Bytes> {
    crate::http::json_bytes(&Document::new(credentials, role_arn, account_id))
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Document<'a> {
    access_key_id: &'a str,
    secret_access_key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
}

impl<'a> Document<'a> {
    fn new(
        credentials: &'a Credentials,
        role_arn: Option<&'a str>,
        account_id: Option<&'a str>,
    ) -> Self {
        Self {
            access_key_id: &credentials.access_key_id,
            secret_access_key: credentials.secret_access_key.expose(),
            token: credentials.session_token.as_ref().map(|t| t.expose()),
            expiration: credentials.expiration.map(format_rfc3339),
            role_arn: credentials.role_arn.as_deref().or(role_arn),
            account_id: credentials.account_id().or(account_id),
        }
    }
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
            .map(|(p, t)| (p, String::from_utf8(t.into_owned()).unwrap()))
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

    #[test]
    fn the_bearer_scheme_is_read_as_http_reads_it() {
        for (value, token) in [
            ("bearer needroleshere.a.b", "needroleshere.a.b"),
            ("BEARER   needroleshere.a.b  ", "needroleshere.a.b"),
            (" Bearer needroleshere.a.b", "needroleshere.a.b"),
            // No scheme: the token is taken as it is (and its parse refuses this one).
            ("Bearer", "Bearer"),
        ] {
            assert_eq!(
                extract(&[("authorization", value)], "/").unwrap(),
                (Presented::Header, token.to_owned()),
                "{value:?}"
            );
        }
        for value in ["Bearers x", "Token needroleshere.a.b", "needroleshere.a b"] {
            let refused = extract(&[("authorization", value)], "/").unwrap_err();
            assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{value:?}");
        }
        // Bytes that are not text.
        let mut map = HeaderMap::new();
        map.insert(
            header::AUTHORIZATION,
            axum::http::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
        );
        let root = "/".parse().unwrap();
        let (_, token) = extract_token(&map, &root).unwrap();
        assert_eq!(*token, *b"\xff\xfe");
        assert_eq!(
            token_text(&token).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
    }
}
