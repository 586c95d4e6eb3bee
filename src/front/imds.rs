//! EC2 instance metadata (IMDS v1/v2) emulation: one identity per listener, since IMDS
//! carries no caller identity (<https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html>).
//!
//! * `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds: 1..21600` answers a
//!   token and echoes the TTL header (the Rust SDK needs the echo). A missing or invalid TTL
//!   is 400; a request carrying `X-Forwarded-For` gets no token (403), as on EC2. Tokens are
//!   stateless: base64url(expiry ‖ HMAC-SHA256(process key, expiry ‖ listener)), so they
//!   cannot be forged, expire, and do not work on another listener.
//! * GETs present the token in `X-aws-ec2-metadata-token`. A presented token that is invalid
//!   or expired is 401, always; no token is allowed only with IMDSv1 enabled, else 401. SDKs
//!   read 401 as "get a new token", so 401 is used for nothing else here.
//! * Paths: `meta-data/iam/security-credentials/[ROLE]`, `…-extended/[ROLE]` (adds
//!   `AccountId`), `meta-data/iam/info`, `meta-data/placement/region`,
//!   `meta-data/placement/availability-zone`, `meta-data/instance-id`,
//!   `dynamic/instance-identity/document`, with or without trailing slashes.
//! * The `Host` header must name the listener's own address (or `localhost` on loopback),
//!   and so must the authority of an absolute-form request target; two `Host` headers are
//!   refused (403). A page on another origin cannot reach this through DNS rebinding. A
//!   request without `Host` is served: the AWS CRT's client sends none, browsers always do.
//!   So is a `Host` that is the listener's address without its port, which the current AWS
//!   CRT's client sends for an endpoint on another port than 80: a browser sends a bare
//!   address only to port 80, and a rebinding page makes it send the attacker's name.
//! * Credentials come from the one credential cache (through the shared [`Vendor`] for
//!   bindings, the desktop server's profiles otherwise), so they are never expired and are
//!   refreshed well ahead; when none can be had the answer is the status and short text of
//!   [`super::answer::imds`], never a `"Code":"Success"` document.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::desktop::Desktop;
use super::vend::Vendor;
use crate::binding::{Binding, BindingError, BindingName, Mode, Store};
use crate::cache::{Lookup, Outcome, Pending};
use crate::credentials::{Credentials, format_rfc3339};
use crate::front::rendered::Rendered;
use crate::http::{Answered, routed};
use crate::system::clock::Clock;
use crate::system::repeats::summarised;

/// The TTL header of token requests and responses.
pub const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
/// The token header of metadata requests.
pub const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
const MAX_TTL: u64 = 21600;
const TOKEN_PATH: &str = "/latest/api/token";

/// Which identity a listener serves.
#[derive(Debug, Clone)]
pub enum Target {
    /// A binding in the configuration directory, re-read on every request; it must be in
    /// `imds` mode.
    Stored {
        vendor: Arc<Vendor>,
        store: Arc<Store>,
        name: BindingName,
    },
    /// One identity given on the command line (the `aws_signing_helper serve` way).
    Fixed {
        vendor: Arc<Vendor>,
        binding: Arc<Binding>,
    },
    /// The active profile of a desktop server (`serve ec2`).
    Desktop(Arc<Desktop>),
}

/// A binding as it is now and where its credentials come from, or a desktop server.
enum Served<'a> {
    Binding(&'a Arc<Vendor>, Arc<Binding>),
    Desktop(&'a Arc<Desktop>),
}

impl Target {
    /// What the listener serves now.
    fn served(&self) -> Result<Served<'_>, Reply> {
        match self {
            Self::Fixed { vendor, binding } => Ok(Served::Binding(vendor, binding.clone())),
            Self::Desktop(desktop) => Ok(Served::Desktop(desktop)),
            Self::Stored {
                vendor,
                store,
                name,
            } => match store.load(name) {
                Ok(binding) if binding.mode == Mode::Imds => Ok(Served::Binding(vendor, binding)),
                Ok(binding) => {
                    summarised!(error, Some(name.as_str()), "an IMDS listener names a binding that is not in imds mode; refusing to serve it without a token", binding = %name, mode = %binding.mode);
                    Err(Reply::Text(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("binding {name} is not an imds binding"),
                    ))
                }
                Err(BindingError::NotFound { .. }) => Err(Reply::Text(
                    StatusCode::NOT_FOUND,
                    format!("binding {name} is not bound"),
                )),
                Err(error) => {
                    let chain = crate::system::logging::error_chain(&error);
                    summarised!(error, Some(&format!("{name}: {chain}")), "cannot use binding file", binding = %name, error = %chain);
                    Err(Reply::Text(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("binding {name} cannot be read; see the needroleshere log"),
                    ))
                }
            },
        }
    }
}

/// Settings of one IMDS listener.
#[derive(Debug, Clone)]
pub struct ImdsOptions {
    /// Serve GETs without a token (IMDSv1).
    pub allow_v1: bool,
    /// The listener's own address, for the `Host` check; `None` (Unix sockets) skips it.
    pub local_addr: Option<SocketAddr>,
}

/// Mints and checks session tokens.
#[derive(Debug)]
pub struct Tokens {
    key: ring::hmac::Key,
}

impl Tokens {
    /// A fresh random key: tokens do not outlive the process.
    pub fn generate() -> Result<Self, ring::error::Unspecified> {
        let key =
            ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &ring::rand::SystemRandom::new())?;
        Ok(Self { key })
    }

    fn mint(&self, expiry: i64, scope: &str) -> String {
        let expiry = expiry.to_be_bytes();
        let tag = self.tag(&expiry, scope);
        BASE64URL.encode([&expiry[..], tag.as_ref()].concat())
    }

    /// Whether `token` was minted here for `scope` and is still good at `now`. Decoded into
    /// a buffer on the stack and signed piece by piece: it is checked on every request.
    fn check(&self, token: &str, scope: &str, now: i64) -> bool {
        use subtle::ConstantTimeEq as _;
        // The expiry and the tag; anything longer does not fit, and is refused.
        let mut raw = [0u8; 8 + 32];
        match BASE64URL.decode_slice(token.as_bytes(), &mut raw) {
            Ok(len) if len == raw.len() => {}
            _ => return false,
        }
        let (expiry, tag) = raw.split_at(8);
        let signed: bool = self.tag(expiry, scope).as_ref().ct_eq(tag).into();
        let expiry = i64::from_be_bytes(expiry.try_into().unwrap_or([0; 8]));
        signed && now < expiry
    }

    /// HMAC-SHA256 of the expiry's bytes and the scope.
    fn tag(&self, expiry: &[u8], scope: &str) -> ring::hmac::Tag {
        let mut context = ring::hmac::Context::with_key(&self.key);
        context.update(expiry);
        context.update(scope.as_bytes());
        context.sign()
    }
}

/// State of one IMDS listener.
#[derive(Debug)]
pub struct ImdsState {
    clock: Arc<dyn Clock>,
    tokens: Arc<Tokens>,
    target: Target,
    options: ImdsOptions,
    scope: String,
    /// The binding's credential document last answered, plain and extended.
    documents: Rendered<bool>,
    /// The view of the binding last served.
    view: std::sync::Mutex<Option<Arc<View>>>,
}

impl ImdsState {
    pub fn new(
        clock: Arc<dyn Clock>,
        tokens: Arc<Tokens>,
        target: Target,
        options: ImdsOptions,
    ) -> Self {
        let scope = match (&target, options.local_addr) {
            (Target::Stored { name, .. }, addr) => format!("{name}@{addr:?}"),
            (Target::Fixed { binding, .. }, addr) => format!("{}@{addr:?}", binding.name),
            (Target::Desktop(_), addr) => format!("desktop@{addr:?}"),
        };
        Self {
            clock,
            tokens,
            target,
            options,
            scope,
            documents: Rendered::default(),
            view: std::sync::Mutex::new(None),
        }
    }
}

/// The IMDS router of a desktop server or private endpoint serving `desktop`'s active
/// profile on `addr`.
pub fn desktop_router(
    desktop: Arc<Desktop>,
    addr: SocketAddr,
    allow_v1: bool,
) -> Result<axum::Router, ring::error::Unspecified> {
    let clock = desktop.profiles().clock().clone();
    let options = ImdsOptions {
        allow_v1,
        local_addr: Some(addr),
    };
    let state = ImdsState::new(
        clock,
        Arc::new(Tokens::generate()?),
        Target::Desktop(desktop),
        options,
    );
    Ok(router(Arc::new(state)))
}

/// The router for one IMDS listener.
/// The router of one IMDS listener: every request to [`handle`] (the desktop servers, and
/// the fuzz target that drives the front in process; `serve` answers on the hot path).
pub fn router(state: Arc<ImdsState>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(state)
}

/// An answer that is not a success.
#[derive(Debug)]
enum Reply {
    /// A plain-text answer.
    Text(StatusCode, String),
    /// No credentials, or nothing to describe them by: answered by the error edge.
    Failed(crate::source::SourceError),
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self {
            Self::Text(status, body) => text(status, body),
            Self::Failed(error) => super::answer::imds(&error),
        }
    }
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    plain(status, Bytes::from(body.into()))
}

/// IMDS answers everything, JSON included, as plain text.
static TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

fn plain(status: StatusCode, body: Bytes) -> Response {
    crate::http::bytes_response(status, &TEXT, body).into_response()
}

/// Every request of a binding's listener (`serve`), served without a router (see
/// [`crate::http::HotPath`]); the desktop listeners route to [`handle`].
impl crate::http::HotPath for ImdsState {
    fn takes(&self, _: &axum::http::Request<hyper::body::Incoming>) -> bool {
        true
    }

    fn answer(
        &self,
        request: &axum::http::Request<hyper::body::Incoming>,
        _: &crate::http::Peer,
    ) -> Option<Answered> {
        match self.look_up_once(request) {
            Step::Answered(response) => Some(response),
            Step::Waiting { .. } => None,
        }
    }

    fn answer_later(
        self: Arc<Self>,
        request: axum::http::Request<hyper::body::Incoming>,
        _: crate::http::Peer,
    ) -> crate::http::Later {
        Box::pin(async move {
            let step = self.look_up_once(&request);
            finish(&self, step).await
        })
    }
}

impl ImdsState {
    /// [`look_up`] as one request of the process's watch (its queue read once).
    fn look_up_once(&self, request: &axum::http::Request<hyper::body::Incoming>) -> Step {
        crate::system::watch::Watch::global()
            .one_request(|| look_up(self, request.method(), request.uri(), request.headers()))
    }
}

// The whole request, not `HeaderMap`: that extractor copies every header.
async fn handle(State(state): State<Arc<ImdsState>>, request: axum::extract::Request) -> Response {
    let step = look_up(&state, request.method(), request.uri(), request.headers());
    finish(&state, step).await.into_response()
}

/// How far a request got without waiting.
enum Step {
    /// Its answer.
    Answered(Answered),
    /// Credentials for `view`, to be waited for.
    Waiting {
        view: Arc<View>,
        extended: bool,
        wait: Wait,
    },
}

/// What a [`Step::Waiting`] waits for.
enum Wait {
    /// The binding's fetch under way.
    Binding(Arc<Vendor>, Arc<Binding>, Pending),
    /// The desktop's credentials for a profile.
    Desktop(Arc<Desktop>, String),
}

/// A request up to its first wait: everything but credentials that must be fetched.
fn look_up(state: &ImdsState, method: &Method, uri: &axum::http::Uri, headers: &HeaderMap) -> Step {
    if let Err(reply) = check_host(headers, uri, state.options.local_addr) {
        return Step::Answered(routed(reply.into_response()));
    }
    let path = uri.path();
    if path == TOKEN_PATH {
        return Step::Answered(routed(if method == Method::PUT {
            token(state, headers)
        } else {
            text(
                StatusCode::METHOD_NOT_ALLOWED,
                "use PUT for /latest/api/token",
            )
        }));
    }
    if method != Method::GET && method != Method::HEAD {
        return Step::Answered(routed(text(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed",
        )));
    }
    let now = state.clock.now().unix_timestamp();
    match headers.get(TOKEN_HEADER) {
        Some(token) => {
            let valid = token
                .to_str()
                .is_ok_and(|t| state.tokens.check(t, &state.scope, now));
            if !valid {
                return Step::Answered(routed(text(
                    StatusCode::UNAUTHORIZED,
                    "invalid or expired token",
                )));
            }
        }
        None if state.options.allow_v1 => {}
        None => {
            return Step::Answered(routed(text(
                StatusCode::UNAUTHORIZED,
                "a session token is required (IMDSv2): PUT /latest/api/token first",
            )));
        }
    }
    metadata(state, path)
}

/// The answer to a request that got to `step`.
async fn finish(state: &ImdsState, step: Step) -> Answered {
    let (view, extended, wait) = match step {
        Step::Answered(response) => return response,
        Step::Waiting {
            view,
            extended,
            wait,
        } => (view, extended, wait),
    };
    let (outcome, page) = match wait {
        Wait::Binding(vendor, binding, pending) => (vendor.wait(&binding, pending).await, None),
        Wait::Desktop(desktop, profile) => (
            desktop.credentials(&profile).await,
            Some(desktop.page_url()),
        ),
    };
    credentials(state, &view, extended, outcome, page.as_deref())
}

/// Allows only the listener's own address (or `localhost` on loopback) in `Host` and in
/// the authority of an absolute-form request target (`GET http://host/path`), and at most
/// one `Host`. No `Host` at all is allowed: the AWS CRT's IMDS client sends none, and a
/// browser (the DNS-rebinding vehicle) always sends one.
fn check_host(
    headers: &HeaderMap,
    uri: &axum::http::Uri,
    local: Option<SocketAddr>,
) -> Result<(), Reply> {
    let Some(local) = local else { return Ok(()) };
    let forbidden = |what: &str| {
        Reply::Text(
            StatusCode::FORBIDDEN,
            format!("{what} does not name this metadata service"),
        )
    };
    let mut hosts = headers.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(Reply::Text(
            StatusCode::FORBIDDEN,
            "more than one Host header".into(),
        ));
    }
    if let Some(host) = host {
        let host = host.to_str().map_err(|_| forbidden("the Host header"))?;
        if !names_listener(host, local) && !is_bare_address_of(host, local) {
            return Err(forbidden("the Host header"));
        }
    }
    if let Some(authority) = uri.authority()
        && (authority.as_str().contains('@') || !names_listener(authority.as_str(), local))
    {
        return Err(forbidden("the request target"));
    }
    Ok(())
}

/// Whether `host` is `local`'s own address literal without a port (`127.0.0.1`, `[::1]`),
/// whatever `local`'s port: what the AWS CRT's IMDS client sends as `Host`.
fn is_bare_address_of(host: &str, local: SocketAddr) -> bool {
    let literal = match local.ip() {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    host == literal
}

/// Whether `host` (`name[:port]`) names `local`: its own address, or `localhost` on a
/// loopback listener, and its port (80 when none is given).
fn names_listener(host: &str, local: SocketAddr) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(':') && !port.contains(']') => {
            match port.parse::<u16>() {
                Ok(port) => (name, port),
                Err(_) => return false,
            }
        }
        _ => (host, 80),
    };
    if port != local.port() {
        return false;
    }
    let name = name.trim_start_matches('[').trim_end_matches(']');
    match name.parse::<IpAddr>() {
        // A wildcard listener cannot know which of its addresses was dialled; any address
        // literal is fine there, and names, the vehicle of DNS rebinding, still are not.
        Ok(ip) => ip == local.ip() || local.ip().is_unspecified(),
        Err(_) => name.eq_ignore_ascii_case("localhost") && local.ip().is_loopback(),
    }
}

fn token(state: &ImdsState, headers: &HeaderMap) -> Response {
    if headers.contains_key("x-forwarded-for") {
        return text(StatusCode::FORBIDDEN, "token requests may not be forwarded");
    }
    let ttl = headers
        .get(TTL_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ttl| (1..=MAX_TTL).contains(ttl));
    let Some(ttl) = ttl else {
        return text(
            StatusCode::BAD_REQUEST,
            format!("{TTL_HEADER} must be a number of seconds from 1 to {MAX_TTL}"),
        );
    };
    let expiry = state.clock.now().unix_timestamp() + ttl as i64;
    let mut response = text(StatusCode::OK, state.tokens.mint(expiry, &state.scope));
    response
        .headers_mut()
        .insert(TTL_HEADER, HeaderValue::from(ttl));
    response
}

/// What the metadata paths describe, whatever the target.
#[derive(Debug)]
struct View {
    role: String,
    partition: String,
    account: String,
    region: String,
    /// Names the "instance": instance id and profile id derive from it.
    seed: String,
    identity: Identity,
}

#[derive(Debug)]
enum Identity {
    Binding {
        vendor: Arc<Vendor>,
        binding: Arc<Binding>,
    },
    Desktop {
        desktop: Arc<Desktop>,
        profile: String,
    },
}

impl ImdsState {
    /// What the paths describe now. A binding's view is kept while the binding is the same
    /// (the store hands out the same `Arc` until its file changes): a request for cached
    /// credentials then builds none of its strings.
    fn view(&self) -> Result<Arc<View>, Reply> {
        match self.target.served()? {
            Served::Binding(vendor, binding) => {
                let mut kept = self.view.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(view) = &*kept
                    && let Identity::Binding { binding: seen, .. } = &view.identity
                    && Arc::ptr_eq(seen, &binding)
                {
                    return Ok(view.clone());
                }
                let view = Arc::new(View::of_binding(vendor, binding));
                *kept = Some(view.clone());
                Ok(view)
            }
            Served::Desktop(desktop) => View::of_desktop(desktop.clone()).map(Arc::new),
        }
    }
}

impl View {
    fn of_binding(vendor: &Arc<Vendor>, binding: Arc<Binding>) -> Self {
        let role_arn = &binding.session.role_arn;
        View {
            role: last_segment(role_arn.as_str()),
            partition: role_arn.partition().to_owned(),
            account: role_arn.account().to_owned(),
            region: vendor.region_for(&binding).to_string(),
            seed: binding.name.to_string(),
            identity: Identity::Binding {
                vendor: vendor.clone(),
                binding,
            },
        }
    }

    fn of_desktop(desktop: Arc<Desktop>) -> Result<Self, Reply> {
        let profile = desktop.active();
        let profiles = desktop.profiles();
        let plan = profiles.plan(&profile).map_err(|e| {
            let error = crate::source::SourceError::from(e);
            super::answer::log(&format!("profile {profile}"), &error);
            Reply::Failed(error)
        })?;
        let role_arn = plan.roles.last().map(|r| &r.role_arn);
        // The role's ARN names the account; a profile without one shows its MFA device's,
        // or that of the role its credentials act as.
        let (partition, account) = match role_arn {
            Some(arn) => (arn.partition().to_owned(), arn.account().to_owned()),
            None => plan
                .mfa
                .as_ref()
                .and_then(|m| crate::arn::partition_and_account(&m.serial))
                .or_else(|| {
                    let cached = profiles.cached(&profile)?;
                    crate::arn::partition_and_account(cached.role_arn.as_deref()?)
                })
                .unwrap_or_else(|| ("aws".to_owned(), String::new())),
        };
        let region = profiles
            .region(&plan)
            .unwrap_or_else(crate::arn::Region::us_east_1);
        Ok(View {
            // A role named after its caller (`role/${aws:username}`) shows as the profile:
            // the name is only known once STS has been asked.
            role: role_arn
                .filter(|arn| !crate::aws_files::mock_metadata::names_caller(arn.as_str()))
                .map(|arn| last_segment(arn.as_str()))
                .unwrap_or_else(|| profile.clone()),
            partition,
            account,
            region: region.to_string(),
            seed: profile.clone(),
            identity: Identity::Desktop { desktop, profile },
        })
    }
}

/// A metadata path's answer, or the credentials it waits for.
fn metadata(state: &ImdsState, path: &str) -> Step {
    let view = match state.view() {
        Ok(view) => view,
        Err(reply) => return Step::Answered(routed(reply.into_response())),
    };
    let View {
        role,
        partition,
        account,
        region,
        seed,
        ..
    } = &*view;
    let instance_id = || format!("i-{}", &hex::encode(Sha256::digest(seed.as_bytes()))[..17]);
    let trimmed = path.trim_end_matches('/');
    Step::Answered(routed(match trimmed {
        "/latest" => text(StatusCode::OK, "dynamic\nmeta-data\n"),
        "/latest/meta-data" => text(StatusCode::OK, "iam/\ninstance-id\nplacement/\n"),
        "/latest/meta-data/iam" => text(StatusCode::OK, "info\nsecurity-credentials/\n"),
        "/latest/meta-data/iam/security-credentials"
        | "/latest/meta-data/iam/security-credentials-extended" => {
            text(StatusCode::OK, role.clone())
        }
        "/latest/meta-data/iam/info" => json(&serde_json::json!({
            "Code": "Success",
            "LastUpdated": format_rfc3339(state.clock.now()),
            "InstanceProfileArn": format!("arn:{partition}:iam::{account}:instance-profile/{role}"),
            "InstanceProfileId": format!("AIPA{}", &hex::encode_upper(Sha256::digest(seed.as_bytes()))[..17]),
        })),
        "/latest/meta-data/placement" => text(StatusCode::OK, "availability-zone\nregion\n"),
        "/latest/meta-data/placement/region" => text(StatusCode::OK, region.clone()),
        "/latest/meta-data/placement/availability-zone" => {
            text(StatusCode::OK, format!("{region}a"))
        }
        "/latest/meta-data/instance-id" => text(StatusCode::OK, instance_id()),
        "/latest/dynamic" => text(StatusCode::OK, "instance-identity/\n"),
        "/latest/dynamic/instance-identity" => text(StatusCode::OK, "document\n"),
        "/latest/dynamic/instance-identity/document" => json(&serde_json::json!({
            "accountId": account,
            "architecture": std::env::consts::ARCH,
            "availabilityZone": format!("{region}a"),
            "instanceId": instance_id(),
            "region": region,
            "version": "2017-09-30",
        })),
        other => {
            let (extended, asked) = if let Some(r) =
                other.strip_prefix("/latest/meta-data/iam/security-credentials/")
            {
                (false, r)
            } else if let Some(r) =
                other.strip_prefix("/latest/meta-data/iam/security-credentials-extended/")
            {
                (true, r)
            } else {
                return Step::Answered(routed(text(StatusCode::NOT_FOUND, "not found")));
            };
            if asked != role {
                return Step::Answered(routed(text(
                    StatusCode::NOT_FOUND,
                    format!("no role {asked:?} here; the role is {role:?}"),
                )));
            }
            let wait = match &view.identity {
                Identity::Binding { vendor, binding } => match vendor.lookup(binding) {
                    Lookup::Ready(outcome) => {
                        return Step::Answered(credentials(state, &view, extended, outcome, None));
                    }
                    Lookup::Pending(pending) => {
                        Wait::Binding(vendor.clone(), binding.clone(), pending)
                    }
                },
                Identity::Desktop { desktop, profile } => {
                    Wait::Desktop(desktop.clone(), profile.clone())
                }
            };
            return Step::Waiting {
                view,
                extended,
                wait,
            };
        }
    }))
}

/// The credential document answered for `view` from `outcome`; a failure names the
/// desktop's `page` where a person can act.
fn credentials(
    state: &ImdsState,
    view: &View,
    extended: bool,
    outcome: Outcome,
    page: Option<&str>,
) -> Answered {
    let credentials = match outcome {
        Ok(credentials) => credentials,
        Err(error) => return routed(super::answer::imds_at(&error, page)),
    };
    let account = extended.then(|| credentials.account_id().unwrap_or(&view.account));
    let render = || credential_document(&credentials, account, state.clock.now());
    let body = match &view.identity {
        // LastUpdated is when these credentials were first answered, as on EC2 it is when
        // the instance's credentials last changed.
        Identity::Binding { binding, .. } => {
            state
                .documents
                .get_or_render(&extended, binding, &credentials, render)
        }
        Identity::Desktop { .. } => render(),
    };
    match body {
        Ok(body) => crate::http::bytes_response(StatusCode::OK, &TEXT, body),
        Err(missing) => routed(text(StatusCode::INTERNAL_SERVER_ERROR, missing)),
    }
}

/// The IMDS credential document, pretty-printed as IMDS does; fails (with the answer's text)
/// without a session token or expiry, which IMDS clients need.
fn credential_document(
    credentials: &Credentials,
    account_id: Option<&str>,
    now: time::OffsetDateTime,
) -> Result<Bytes, &'static str> {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Document<'a> {
        code: &'a str,
        last_updated: String,
        #[serde(rename = "Type")]
        kind: &'a str,
        access_key_id: &'a str,
        secret_access_key: &'a str,
        token: &'a str,
        expiration: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        account_id: Option<&'a str>,
    }
    let (Some(token), Some(expiration)) = (&credentials.session_token, credentials.expiration)
    else {
        // Every source here returns temporary credentials.
        return Err("no credentials: the source gave no session token or expiry");
    };
    Ok(pretty(&Document {
        code: "Success",
        last_updated: format_rfc3339(now),
        kind: "AWS-HMAC",
        access_key_id: &credentials.access_key_id,
        secret_access_key: credentials.secret_access_key.expose(),
        token: token.expose(),
        expiration: format_rfc3339(expiration),
        account_id,
    }))
}

fn json(value: &impl Serialize) -> Response {
    plain(StatusCode::OK, pretty(value))
}

/// `value` as pretty-printed JSON. The documents here are maps of strings; serialising
/// cannot fail.
fn pretty(value: &impl Serialize) -> Bytes {
    let mut body = Vec::with_capacity(1024);
    let _ = serde_json::to_writer_pretty(&mut body, value);
    body.into()
}

/// The last `/`-separated segment: a role's name from its ARN.
fn last_segment(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, value.parse().unwrap());
        headers
    }

    fn check(headers: &HeaderMap, local: Option<SocketAddr>) -> Result<(), Reply> {
        check_host(headers, &"/latest/api/token".parse().unwrap(), local)
    }

    #[test]
    fn host_must_name_the_listener() {
        let imds: SocketAddr = "169.254.169.254:80".parse().unwrap();
        assert!(check(&host("169.254.169.254"), Some(imds)).is_ok());
        assert!(check(&host("169.254.169.254:80"), Some(imds)).is_ok());
        assert!(check(&host("evil.example:80"), Some(imds)).is_err());
        assert!(check(&host("169.254.169.254:8080"), Some(imds)).is_err());
        assert!(check(&host("localhost"), Some(imds)).is_err());
        // The AWS CRT's IMDS client sends no Host; browsers always do.
        assert!(check(&HeaderMap::new(), Some(imds)).is_ok());
        let local: SocketAddr = "127.0.0.1:9911".parse().unwrap();
        assert!(check(&host("127.0.0.1:9911"), Some(local)).is_ok());
        assert!(check(&host("localhost:9911"), Some(local)).is_ok());
        // The AWS CRT's IMDS client (aws-crt 1.33) sends the address without the port.
        assert!(check(&host("127.0.0.1"), Some(local)).is_ok());
        assert!(check(&host("127.0.0.2"), Some(local)).is_err());
        assert!(check(&host("localhost"), Some(local)).is_err());
        assert!(check(&host("127.0.0.1:9912"), Some(local)).is_err());
        let v6: SocketAddr = "[::1]:9911".parse().unwrap();
        assert!(check(&host("[::1]:9911"), Some(v6)).is_ok());
        assert!(check(&host("[::1]"), Some(v6)).is_ok());
        assert!(check(&host("::1"), Some(v6)).is_err());
        assert!(check(&host("[::2]:9911"), Some(v6)).is_err());
        assert!(check(&host("anything"), None).is_ok());
        let any: SocketAddr = "0.0.0.0:80".parse().unwrap();
        assert!(check(&host("10.1.2.3"), Some(any)).is_ok());
        assert!(check(&host("rebind.example"), Some(any)).is_err());
    }

    #[test]
    fn two_hosts_and_foreign_absolute_targets_are_refused() {
        let local: SocketAddr = "127.0.0.1:9911".parse().unwrap();
        let mut two = host("127.0.0.1:9911");
        two.append(header::HOST, "evil.example".parse().unwrap());
        assert!(check(&two, Some(local)).is_err());
        let mut same_twice = host("127.0.0.1:9911");
        same_twice.append(header::HOST, "127.0.0.1:9911".parse().unwrap());
        assert!(check(&same_twice, Some(local)).is_err());
        let target = |uri: &str, headers: &HeaderMap| {
            check_host(headers, &uri.parse().unwrap(), Some(local)).is_ok()
        };
        let good = host("127.0.0.1:9911");
        assert!(target("http://127.0.0.1:9911/latest/api/token", &good));
        assert!(target(
            "http://localhost:9911/latest/api/token",
            &HeaderMap::new()
        ));
        assert!(!target("http://evil.example/latest/api/token", &good));
        assert!(!target(
            "http://evil.example:9911/latest/api/token",
            &HeaderMap::new()
        ));
        assert!(!target("http://127.0.0.1:80/latest/api/token", &good));
        assert!(!target(
            "http://user@127.0.0.1:9911/latest/api/token",
            &good
        ));
    }

    #[test]
    fn tokens_expire_and_are_bound_to_their_listener() {
        let tokens = Tokens::generate().unwrap();
        let token = tokens.mint(1_000, "a");
        assert!(tokens.check(&token, "a", 999));
        assert!(!tokens.check(&token, "a", 1_000), "expired");
        assert!(!tokens.check(&token, "b", 999), "another listener");
        let other = Tokens::generate().unwrap();
        assert!(!other.check(&token, "a", 999), "another process");
        // A forged expiry invalidates the MAC.
        let mut raw = BASE64URL.decode(&token).unwrap();
        raw[7] ^= 1;
        assert!(!tokens.check(&BASE64URL.encode(raw), "a", 999));
        assert!(!tokens.check("not-a-token", "a", 0));
        assert!(!tokens.check("", "a", 0));
        // A good token with bytes after it, or cut short.
        let mut longer = BASE64URL.decode(&token).unwrap();
        longer.push(0);
        assert!(!tokens.check(&BASE64URL.encode(longer), "a", 999));
        assert!(!tokens.check(&token[..token.len() - 4], "a", 999));
    }
}
