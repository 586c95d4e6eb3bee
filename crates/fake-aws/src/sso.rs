//! A strict fake of IAM Identity Center (AWS SSO): the OIDC service that signs a person in
//! with the OAuth 2.0 device authorization grant (RFC 8628), and the access portal that
//! turns the resulting bearer token into role credentials.
//!
//! Wire format (botocore's `sso-oidc` and `sso` service models, `rest-json`;
//! <https://docs.aws.amazon.com/singlesignon/latest/OIDCAPIReference/> and
//! <https://docs.aws.amazon.com/singlesignon/latest/PortalAPIReference/>):
//! * OIDC (`oidc.REGION.amazonaws.com`), JSON bodies with camelCase members, no signature:
//!   `POST /client/register` (RegisterClient), `POST /device_authorization`
//!   (StartDeviceAuthorization), `POST /token` (CreateToken, grant types
//!   [`DEVICE_CODE_GRANT`] and [`REFRESH_TOKEN_GRANT`]).
//! * Portal (`portal.sso.REGION.amazonaws.com`), the access token in the
//!   `x-amz-sso_bearer_token` header: `GET /federation/credentials?account_id=&role_name=`
//!   (GetRoleCredentials), `GET /assignment/accounts` (ListAccounts), `GET
//!   /assignment/roles?account_id=` (ListAccountRoles), `POST /logout` (Logout).
//! * Refusals carry the exception's name in `x-amzn-ErrorType` (what SDKs match on) and a
//!   JSON body: `{"error": "authorization_pending", "error_description": "…"}` for OIDC,
//!   `{"message": "…"}` for the portal. Statuses are those of the service models (OIDC 400,
//!   `invalid_client` 401; portal 400, 401, 403).
//!
//! Contract (each refusal has a unit test):
//! * Requests hold exactly the members the model defines (an unknown or mistyped member is
//!   `InvalidRequestException`: stricter than AWS, so a misspelt member cannot pass).
//! * RegisterClient: `clientName`, `clientType` = `public`; `scopes` from
//!   [`KNOWN_SCOPES`]. The registration expires after [`SsoConfig::client_lifetime`]; an
//!   unknown, wrong-secret or expired client is `InvalidClientException` (401) everywhere.
//! * StartDeviceAuthorization: the instance's start URL only ([`SsoConfig::start_url`]).
//!   The device code lives [`SsoConfig::device_code_lifetime`]; polling interval
//!   [`SsoConfig::interval_seconds`] (AWS answers 1).
//! * CreateToken, device code grant: `expired_token` once the device code expired,
//!   `access_denied` once the person denied it, `invalid_grant` for an unknown code, another
//!   client's code, or a code already exchanged; while pending, `slow_down` when polled
//!   sooner than the interval after the previous poll (and the interval grows by 5 s, as
//!   RFC 8628 §3.5 says), otherwise `authorization_pending`. Approval is the test API
//!   ([`FakeSso::approve`]) or `POST /device/approve` (form `user_code`, `user`), denial
//!   [`FakeSso::deny`] or `POST /device/deny` — stand-ins for the person at the
//!   verification page.
//! * A refresh token is issued only to clients registered with scopes (as AWS does: the
//!   legacy profile form gets none). Refresh grant: an unknown, revoked, spent or other
//!   client's refresh token is `invalid_grant`; an expired one `expired_token`. Each refresh
//!   rotates the refresh token (the old one is spent), stricter than needed so a client that
//!   forgets to store the new one fails a test.
//! * Portal: a missing, unknown, expired or logged-out access token is
//!   `UnauthorizedException` (401); a role the user is not assigned is
//!   `ForbiddenException` (403, "No access"). Role credentials (`ASIA…`, expiry
//!   [`SsoConfig::role_credentials_lifetime`], `expiration` in epoch milliseconds) are
//!   registered in the shared [`Registry`] as an `AWSReservedSSO_ROLE_…` role session, so
//!   the fake STS accepts calls signed with them.
//! * Logout ends the sign-in: every access and refresh token of that device authorization.
//! * Time is the configured [`Clock`]: tests expire codes and tokens by moving a
//!   [`crate::clock::FixedClock`].
//! * Every request is counted per operation ([`FakeSso::calls`]); refusals and issued role
//!   credentials are recorded and logged, never with a token, secret or session token.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::any;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

use crate::clock::{Clock, SystemClock};
use crate::registry::{Principal, Registry, stable_id};
use crate::rolesanywhere::{ACCOUNT_ID, REGION};
use crate::sigv4::percent_decode;

/// The OAuth device code grant type (RFC 8628).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The OAuth refresh token grant type.
pub const REFRESH_TOKEN_GRANT: &str = "refresh_token";
/// The scope that lets a token reach the portal's account operations.
pub const ACCOUNT_ACCESS_SCOPE: &str = "sso:account:access";
/// The scopes RegisterClient accepts.
pub const KNOWN_SCOPES: &[&str] = &[
    ACCOUNT_ACCESS_SCOPE,
    "openid",
    "aws",
    "sts:identity_context",
];
/// The header the portal reads the access token from.
pub const BEARER_HEADER: &str = "x-amz-sso_bearer_token";

/// The example instance's start URL.
pub const SSO_START_URL: &str = "https://d-9067example.awsapps.com/start";
/// The example user with two accounts.
pub const SSO_ALICE: &str = "alice";
/// The example user with one read-only role.
pub const SSO_BOB: &str = "bob";
/// A role `alice` has in [`ACCOUNT_ID`].
pub const SSO_DEVELOPER_ROLE: &str = "Developer";
/// A role `alice` has in both accounts and `bob` in [`ACCOUNT_ID`].
pub const SSO_READ_ONLY_ROLE: &str = "ReadOnly";
/// The second account of `alice` (she has only [`SSO_READ_ONLY_ROLE`] there).
pub const SSO_OTHER_ACCOUNT_ID: &str = "210987654321";

const MAX_BODY_BYTES: usize = 64 * 1024;

/// One account and role a user may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The 12-digit account id.
    pub account_id: String,
    /// The account's display name (ListAccounts `accountName`).
    pub account_name: String,
    /// The account's e-mail address (ListAccounts `emailAddress`).
    pub email_address: String,
    /// The permission set's name (`roleName`).
    pub role_name: String,
}

/// A person of the identity store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoUser {
    /// The user name; role sessions are named after it.
    pub name: String,
    /// What the user may reach.
    pub assignments: Vec<Assignment>,
}

/// What the fake knows and how long things live.
#[derive(Debug, Clone)]
pub struct SsoConfig {
    /// The region of both services.
    pub region: String,
    /// The instance's access portal URL (StartDeviceAuthorization `startUrl`).
    pub start_url: String,
    /// The page a person opens to approve a code (`verificationUri`).
    pub verification_uri: String,
    /// The people who can approve a code, and their assignments.
    pub users: Vec<SsoUser>,
    /// How long a client registration lasts (AWS: 90 days).
    pub client_lifetime: Duration,
    /// How long a device code can be exchanged (AWS: 10 minutes).
    pub device_code_lifetime: Duration,
    /// The polling interval StartDeviceAuthorization announces, in seconds.
    pub interval_seconds: u32,
    /// How long an access token lasts.
    pub access_token_lifetime: Duration,
    /// How long a refresh token lasts (the sign-in session's length).
    pub refresh_token_lifetime: Duration,
    /// How long role credentials last.
    pub role_credentials_lifetime: Duration,
    /// The fake's clock.
    pub clock: Arc<dyn Clock>,
    /// Where issued role credentials are registered (share it with the fake STS).
    pub registry: Registry,
}

impl SsoConfig {
    /// The example instance in `region` on the system clock: users [`SSO_ALICE`]
    /// ([`SSO_DEVELOPER_ROLE`] and [`SSO_READ_ONLY_ROLE`] in [`ACCOUNT_ID`],
    /// [`SSO_READ_ONLY_ROLE`] in [`SSO_OTHER_ACCOUNT_ID`]) and [`SSO_BOB`]
    /// ([`SSO_READ_ONLY_ROLE`] in [`ACCOUNT_ID`]); AWS's lifetimes (client 90 days, device
    /// code 10 minutes, interval 1 s), access token 1 hour, refresh token 8 hours, role
    /// credentials 1 hour.
    pub fn example(registry: Registry, region: &str) -> Self {
        let assignment = |account_id: &str, account_name: &str, role_name: &str| Assignment {
            account_id: account_id.to_owned(),
            account_name: account_name.to_owned(),
            email_address: format!("aws+{account_name}@example.com"),
            role_name: role_name.to_owned(),
        };
        Self {
            region: region.to_owned(),
            start_url: SSO_START_URL.to_owned(),
            verification_uri: format!("https://device.sso.{region}.amazonaws.com/"),
            users: vec![
                SsoUser {
                    name: SSO_ALICE.to_owned(),
                    assignments: vec![
                        assignment(ACCOUNT_ID, "sandbox", SSO_DEVELOPER_ROLE),
                        assignment(ACCOUNT_ID, "sandbox", SSO_READ_ONLY_ROLE),
                        assignment(SSO_OTHER_ACCOUNT_ID, "production", SSO_READ_ONLY_ROLE),
                    ],
                },
                SsoUser {
                    name: SSO_BOB.to_owned(),
                    assignments: vec![assignment(ACCOUNT_ID, "sandbox", SSO_READ_ONLY_ROLE)],
                },
            ],
            client_lifetime: Duration::days(90),
            device_code_lifetime: Duration::minutes(10),
            interval_seconds: 1,
            access_token_lifetime: Duration::hours(1),
            refresh_token_lifetime: Duration::hours(8),
            role_credentials_lifetime: Duration::hours(1),
            clock: Arc::new(SystemClock),
            registry,
        }
    }

    /// The same configuration on another clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

impl Default for SsoConfig {
    /// [`SsoConfig::example`] in [`REGION`] with a registry of its own.
    fn default() -> Self {
        Self::example(Registry::new(), REGION)
    }
}

/// The refusals, by the exception name SDKs match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsoErrorKind {
    /// OIDC 400 `invalid_request`.
    InvalidRequest,
    /// OIDC 401 `invalid_client`.
    InvalidClient,
    /// OIDC 400 `invalid_client_metadata`.
    InvalidClientMetadata,
    /// OIDC 400 `invalid_scope`.
    InvalidScope,
    /// OIDC 400 `invalid_grant`.
    InvalidGrant,
    /// OIDC 400 `unsupported_grant_type`.
    UnsupportedGrantType,
    /// OIDC 400 `authorization_pending`.
    AuthorizationPending,
    /// OIDC 400 `slow_down`.
    SlowDown,
    /// OIDC 400 `access_denied`.
    AccessDenied,
    /// OIDC 400 `expired_token`.
    ExpiredToken,
    /// Portal 400.
    PortalInvalidRequest,
    /// Portal 401.
    Unauthorized,
    /// Portal 403.
    Forbidden,
    /// 404: no operation at this method and path.
    UnknownOperation,
}

impl SsoErrorKind {
    /// The exception name (`x-amzn-ErrorType`).
    pub fn exception(self) -> &'static str {
        match self {
            Self::InvalidRequest | Self::PortalInvalidRequest => "InvalidRequestException",
            Self::InvalidClient => "InvalidClientException",
            Self::InvalidClientMetadata => "InvalidClientMetadataException",
            Self::InvalidScope => "InvalidScopeException",
            Self::InvalidGrant => "InvalidGrantException",
            Self::UnsupportedGrantType => "UnsupportedGrantTypeException",
            Self::AuthorizationPending => "AuthorizationPendingException",
            Self::SlowDown => "SlowDownException",
            Self::AccessDenied => "AccessDeniedException",
            Self::ExpiredToken => "ExpiredTokenException",
            Self::Unauthorized => "UnauthorizedException",
            Self::Forbidden => "ForbiddenException",
            Self::UnknownOperation => "UnknownOperationException",
        }
    }

    /// The OAuth `error` code of an OIDC refusal; `None` for the portal's.
    pub fn oauth_error(self) -> Option<&'static str> {
        Some(match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidGrant => "invalid_grant",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::AccessDenied => "access_denied",
            Self::ExpiredToken => "expired_token",
            Self::PortalInvalidRequest
            | Self::Unauthorized
            | Self::Forbidden
            | Self::UnknownOperation => return None,
        })
    }

    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidClient | Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::UnknownOperation => 404,
            _ => 400,
        }
    }
}

/// A refusal: its kind and a message saying what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoError {
    /// What kind.
    pub kind: SsoErrorKind,
    /// Why.
    pub message: String,
}

impl SsoError {
    fn new(kind: SsoErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// The JSON body AWS sends.
    pub fn body(&self) -> Value {
        match self.kind.oauth_error() {
            Some(code) => json!({"error": code, "error_description": self.message}),
            None => json!({"message": self.message}),
        }
    }
}

impl fmt::Display for SsoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.exception(), self.message)
    }
}

impl std::error::Error for SsoError {}

fn oidc_invalid(message: impl Into<String>) -> SsoError {
    SsoError::new(SsoErrorKind::InvalidRequest, message)
}

fn portal_invalid(message: impl Into<String>) -> SsoError {
    SsoError::new(SsoErrorKind::PortalInvalidRequest, message)
}

fn unauthorized() -> SsoError {
    SsoError::new(
        SsoErrorKind::Unauthorized,
        "Session token not found or invalid",
    )
}

/// Role credentials the portal issued (without the secret and session token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedRoleCredentials {
    /// `ASIA…`.
    pub access_key_id: String,
    /// The account.
    pub account_id: String,
    /// The role (permission set) name.
    pub role_name: String,
    /// Who signed in.
    pub user: String,
    /// When they expire.
    pub expiration: OffsetDateTime,
}

struct Client {
    secret: String,
    scopes: Vec<String>,
    expires_at: OffsetDateTime,
}

#[derive(Clone, PartialEq, Eq)]
enum Decision {
    Pending,
    Approved(String),
    Denied,
}

struct Device {
    client_id: String,
    user_code: String,
    expires_at: OffsetDateTime,
    interval: i64,
    last_poll: Option<OffsetDateTime>,
    decision: Decision,
    redeemed: bool,
}

struct AccessToken {
    sign_in: u64,
    user: String,
    expires_at: OffsetDateTime,
}

struct RefreshToken {
    sign_in: u64,
    user: String,
    client_id: String,
    expires_at: OffsetDateTime,
    spent: bool,
}

#[derive(Default)]
struct Tokens {
    clients: HashMap<String, Client>,
    /// By device code.
    devices: HashMap<String, Device>,
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
    /// Sign-ins (one per exchanged device code) ended by Logout or the test API.
    ended: HashSet<u64>,
    next_sign_in: u64,
}

struct Inner {
    config: SsoConfig,
    random: SystemRandom,
    tokens: Mutex<Tokens>,
    requests: AtomicUsize,
    calls: Mutex<BTreeMap<String, usize>>,
    rejections: Mutex<Vec<(u16, String, String)>>,
    issued: Mutex<Vec<IssuedRoleCredentials>>,
    /// Items per page of the list operations when a request gives no `max_result`.
    default_page_size: AtomicUsize,
}

/// The fake OIDC service and portal. Clones share configuration and state.
#[derive(Clone)]
pub struct FakeSso {
    inner: Arc<Inner>,
}

impl fmt::Debug for FakeSso {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeSso")
            .field("region", &self.inner.config.region)
            .field("start_url", &self.inner.config.start_url)
            .field("requests", &self.request_count())
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a thread panicked between two whole-value updates; the maps are
    // intact.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What an operation answers: a JSON document (`None` for an empty body).
pub type Answer = Option<Value>;

/// The operation a method and path name, if any.
fn operation(method: &str, path: &str) -> Option<&'static str> {
    Some(match (method, path) {
        ("POST", "/client/register") => "RegisterClient",
        ("POST", "/device_authorization") => "StartDeviceAuthorization",
        ("POST", "/token") => "CreateToken",
        ("GET", "/federation/credentials") => "GetRoleCredentials",
        ("GET", "/assignment/accounts") => "ListAccounts",
        ("GET", "/assignment/roles") => "ListAccountRoles",
        ("POST", "/logout") => "Logout",
        ("POST", "/device/approve") => "TestApprove",
        ("POST", "/device/deny") => "TestDeny",
        _ => return None,
    })
}

/// The paths [`FakeSso::router`] serves.
pub const PATHS: &[&str] = &[
    "/client/register",
    "/device_authorization",
    "/token",
    "/federation/credentials",
    "/assignment/accounts",
    "/assignment/roles",
    "/logout",
    "/device/approve",
    "/device/deny",
];

impl FakeSso {
    /// A fake with `config`.
    pub fn new(config: SsoConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                random: SystemRandom::new(),
                tokens: Mutex::new(Tokens::default()),
                requests: AtomicUsize::new(0),
                calls: Mutex::new(BTreeMap::new()),
                rejections: Mutex::new(Vec::new()),
                issued: Mutex::new(Vec::new()),
                default_page_size: AtomicUsize::new(100),
            }),
        }
    }

    /// Sets how many items a page of ListAccounts or ListAccountRoles holds when the request
    /// gives no `max_result` (100 at first): a small size makes a client follow `nextToken`.
    pub fn set_default_page_size(&self, size: usize) {
        self.inner
            .default_page_size
            .store(size.clamp(1, 100), Ordering::Relaxed);
    }

    /// The configuration.
    pub fn config(&self) -> &SsoConfig {
        &self.inner.config
    }

    /// A router for [`PATHS`] (any method; others than the operation's are refused). It has
    /// no fallback, so it merges with the other fakes' routers.
    pub fn router(&self) -> Router {
        let mut router = Router::new();
        for path in PATHS {
            router = router.route(path, any(handle_http));
        }
        router.with_state(self.clone())
    }

    /// How many requests reached the fake.
    pub fn request_count(&self) -> usize {
        self.inner.requests.load(Ordering::SeqCst)
    }

    /// How many requests named `operation` (`CreateToken`, `GetRoleCredentials`, …; `""` for
    /// requests matching none), accepted or refused.
    pub fn calls(&self, operation: &str) -> usize {
        lock(&self.inner.calls).get(operation).copied().unwrap_or(0)
    }

    /// Every refusal as `(status, exception name, message)`, oldest first.
    pub fn rejections(&self) -> Vec<(u16, String, String)> {
        lock(&self.inner.rejections).clone()
    }

    /// Every role credential issued, oldest first.
    pub fn issued(&self) -> Vec<IssuedRoleCredentials> {
        lock(&self.inner.issued).clone()
    }

    /// The user codes still waiting for a person (not approved, denied or expired).
    pub fn pending_user_codes(&self) -> Vec<String> {
        let now = self.now();
        let tokens = lock(&self.inner.tokens);
        let mut codes: Vec<String> = tokens
            .devices
            .values()
            .filter(|device| device.decision == Decision::Pending && device.expires_at > now)
            .map(|device| device.user_code.clone())
            .collect();
        codes.sort();
        codes
    }

    /// The person `user` approves `user_code` at the verification page.
    pub fn approve(&self, user_code: &str, user: &str) -> Result<(), String> {
        if !self
            .inner
            .config
            .users
            .iter()
            .any(|known| known.name == user)
        {
            return Err(format!("no user {user:?} in the fake identity store"));
        }
        self.decide(user_code, Decision::Approved(user.to_owned()))
    }

    /// The person denies `user_code` at the verification page.
    pub fn deny(&self, user_code: &str) -> Result<(), String> {
        self.decide(user_code, Decision::Denied)
    }

    fn decide(&self, user_code: &str, decision: Decision) -> Result<(), String> {
        let now = self.now();
        let mut tokens = lock(&self.inner.tokens);
        let device = tokens
            .devices
            .values_mut()
            .find(|device| device.user_code == user_code)
            .ok_or_else(|| format!("no device authorization with user code {user_code:?}"))?;
        if device.expires_at <= now {
            return Err(format!("user code {user_code:?} has expired"));
        }
        if device.decision != Decision::Pending {
            return Err(format!("user code {user_code:?} was already decided"));
        }
        device.decision = decision;
        Ok(())
    }

    /// Revokes a refresh token (as an administrator ending a user's session would); `false`
    /// if the fake never issued it.
    pub fn revoke_refresh_token(&self, refresh_token: &str) -> bool {
        let mut tokens = lock(&self.inner.tokens);
        match tokens.refresh.get(refresh_token).map(|token| token.sign_in) {
            Some(sign_in) => {
                tokens.ended.insert(sign_in);
                true
            }
            None => false,
        }
    }

    /// Ends every sign-in of `user`: their access and refresh tokens stop working.
    pub fn sign_out_user(&self, user: &str) {
        let mut tokens = lock(&self.inner.tokens);
        let sign_ins: Vec<u64> = tokens
            .access
            .values()
            .filter(|token| token.user == user)
            .map(|token| token.sign_in)
            .chain(
                tokens
                    .refresh
                    .values()
                    .filter(|token| token.user == user)
                    .map(|token| token.sign_in),
            )
            .collect();
        tokens.ended.extend(sign_ins);
    }

    fn now(&self) -> OffsetDateTime {
        self.inner.config.clock.now()
    }

    fn record_rejection(&self, operation: &str, error: &SsoError) {
        // Polling answers are the protocol working, not refusals worth a log line each.
        if !matches!(
            error.kind,
            SsoErrorKind::AuthorizationPending | SsoErrorKind::SlowDown
        ) {
            tracing::info!(
                operation,
                status = error.kind.status(),
                error = error.kind.exception(),
                message = %error.message,
                "fake SSO: refused"
            );
        }
        lock(&self.inner.rejections).push((
            error.kind.status(),
            error.kind.exception().to_owned(),
            error.message.clone(),
        ));
    }

    /// Counts, answers and records one request.
    pub fn handle(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Answer, SsoError> {
        self.inner.requests.fetch_add(1, Ordering::SeqCst);
        let name = operation(method, path);
        *lock(&self.inner.calls)
            .entry(name.unwrap_or_default().to_owned())
            .or_insert(0) += 1;
        let result = match name {
            Some(name) => self.dispatch(name, query, headers, body),
            None => Err(SsoError::new(
                SsoErrorKind::UnknownOperation,
                format!("No operation at {method} {path}"),
            )),
        };
        if let Err(error) = &result {
            self.record_rejection(name.unwrap_or_default(), error);
        }
        result
    }

    fn dispatch(
        &self,
        name: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Answer, SsoError> {
        match name {
            "RegisterClient" => self.register_client(&json_object(body)?).map(Some),
            "StartDeviceAuthorization" => self
                .start_device_authorization(&json_object(body)?)
                .map(Some),
            "CreateToken" => self.create_token(&json_object(body)?).map(Some),
            "TestApprove" | "TestDeny" => {
                let form = query_parameters(
                    Some(std::str::from_utf8(body).map_err(|_| oidc_invalid("not UTF-8"))?),
                    &["user_code", "user"],
                )?;
                let user_code = required_parameter(&form, "user_code")?;
                let outcome = if name == "TestApprove" {
                    self.approve(user_code, required_parameter(&form, "user")?)
                } else {
                    self.deny(user_code)
                };
                outcome.map_err(oidc_invalid)?;
                Ok(None)
            }
            _ => {
                let user_and_sign_in = self.bearer(headers);
                match name {
                    "GetRoleCredentials" => {
                        let parameters = query_parameters(query, &["account_id", "role_name"])?;
                        let (user, _) = user_and_sign_in?;
                        self.get_role_credentials(&user, &parameters).map(Some)
                    }
                    "ListAccounts" => {
                        let parameters = query_parameters(query, &["max_result", "next_token"])?;
                        let (user, _) = user_and_sign_in?;
                        self.list_accounts(&user, &parameters).map(Some)
                    }
                    "ListAccountRoles" => {
                        let parameters =
                            query_parameters(query, &["account_id", "max_result", "next_token"])?;
                        let (user, _) = user_and_sign_in?;
                        self.list_account_roles(&user, &parameters).map(Some)
                    }
                    _ => {
                        let (_, sign_in) = user_and_sign_in?;
                        lock(&self.inner.tokens).ended.insert(sign_in);
                        Ok(None)
                    }
                }
            }
        }
    }

    // ----------------------------------------------------------------------------------------
    // OIDC

    fn register_client(&self, request: &Map<String, Value>) -> Result<Value, SsoError> {
        only_members(request, &["clientName", "clientType", "scopes"])?;
        let _name = required_string(request, "clientName")?;
        let client_type = required_string(request, "clientType")?;
        if client_type != "public" {
            return Err(SsoError::new(
                SsoErrorKind::InvalidClientMetadata,
                format!("Invalid client type: {client_type} (only public)"),
            ));
        }
        let scopes = match request.get("scopes") {
            None => Vec::new(),
            Some(Value::Array(items)) => {
                let mut scopes = Vec::with_capacity(items.len());
                for item in items {
                    let scope = item
                        .as_str()
                        .ok_or_else(|| oidc_invalid("scopes must be a list of strings"))?;
                    if !KNOWN_SCOPES.contains(&scope) {
                        return Err(SsoError::new(
                            SsoErrorKind::InvalidScope,
                            format!("Invalid scope: {scope}"),
                        ));
                    }
                    scopes.push(scope.to_owned());
                }
                scopes
            }
            Some(_) => return Err(oidc_invalid("scopes must be a list of strings")),
        };
        let now = self.now();
        let client_id = self.random_token(22)?;
        let secret = self.random_token(96)?;
        let expires_at = now + self.inner.config.client_lifetime;
        lock(&self.inner.tokens).clients.insert(
            client_id.clone(),
            Client {
                secret: secret.clone(),
                scopes,
                expires_at,
            },
        );
        Ok(json!({
            "clientId": client_id,
            "clientSecret": secret,
            "clientIdIssuedAt": now.unix_timestamp(),
            "clientSecretExpiresAt": expires_at.unix_timestamp(),
        }))
    }

    /// The client's scopes if `clientId` and `clientSecret` name a live registration.
    fn authenticate_client(
        &self,
        request: &Map<String, Value>,
        now: OffsetDateTime,
    ) -> Result<(String, Vec<String>), SsoError> {
        let client_id = required_string(request, "clientId")?;
        let secret = required_string(request, "clientSecret")?;
        let tokens = lock(&self.inner.tokens);
        let client = tokens
            .clients
            .get(client_id)
            .filter(|client| bool::from(client.secret.as_bytes().ct_eq(secret.as_bytes())))
            .ok_or_else(|| {
                SsoError::new(SsoErrorKind::InvalidClient, "Invalid client credentials")
            })?;
        if client.expires_at <= now {
            return Err(SsoError::new(
                SsoErrorKind::InvalidClient,
                "Client registration has expired",
            ));
        }
        Ok((client_id.to_owned(), client.scopes.clone()))
    }

    fn start_device_authorization(&self, request: &Map<String, Value>) -> Result<Value, SsoError> {
        only_members(request, &["clientId", "clientSecret", "startUrl"])?;
        let start_url = required_string(request, "startUrl")?;
        let now = self.now();
        let (client_id, _) = self.authenticate_client(request, now)?;
        if start_url != self.inner.config.start_url {
            return Err(oidc_invalid(format!(
                "Unknown start URL: {start_url} is not this instance's access portal"
            )));
        }
        let device_code = self.random_token(64)?;
        let letters = self.random_string(b"BCDFGHJKLMNPQRSTVWXZ", 8)?;
        let user_code = format!("{}-{}", &letters[..4], &letters[4..]);
        let config = &self.inner.config;
        lock(&self.inner.tokens).devices.insert(
            device_code.clone(),
            Device {
                client_id,
                user_code: user_code.clone(),
                expires_at: now + config.device_code_lifetime,
                interval: i64::from(config.interval_seconds),
                last_poll: None,
                decision: Decision::Pending,
                redeemed: false,
            },
        );
        Ok(json!({
            "deviceCode": device_code,
            "userCode": user_code,
            "verificationUri": config.verification_uri,
            "verificationUriComplete":
                format!("{}?user_code={user_code}", config.verification_uri),
            "expiresIn": config.device_code_lifetime.whole_seconds(),
            "interval": config.interval_seconds,
        }))
    }

    fn create_token(&self, request: &Map<String, Value>) -> Result<Value, SsoError> {
        only_members(
            request,
            &[
                "clientId",
                "clientSecret",
                "grantType",
                "deviceCode",
                "code",
                "refreshToken",
                "scope",
                "redirectUri",
                "codeVerifier",
            ],
        )?;
        let grant_type = required_string(request, "grantType")?;
        let now = self.now();
        let (client_id, scopes) = self.authenticate_client(request, now)?;
        match grant_type {
            DEVICE_CODE_GRANT => {
                let device_code = required_string(request, "deviceCode")?;
                let user = self.redeem_device_code(&client_id, device_code, now)?;
                self.issue_tokens(&client_id, &scopes, &user, None, now)
            }
            REFRESH_TOKEN_GRANT => {
                let refresh_token = required_string(request, "refreshToken")?;
                let (user, sign_in) = self.spend_refresh_token(&client_id, refresh_token, now)?;
                self.issue_tokens(&client_id, &scopes, &user, Some(sign_in), now)
            }
            other => Err(SsoError::new(
                SsoErrorKind::UnsupportedGrantType,
                format!("Unsupported grant type: {other}"),
            )),
        }
    }

    fn redeem_device_code(
        &self,
        client_id: &str,
        device_code: &str,
        now: OffsetDateTime,
    ) -> Result<String, SsoError> {
        let mut tokens = lock(&self.inner.tokens);
        let device = tokens
            .devices
            .get_mut(device_code)
            .filter(|device| device.client_id == client_id)
            .ok_or_else(|| {
                SsoError::new(SsoErrorKind::InvalidGrant, "Invalid device code provided")
            })?;
        if device.redeemed {
            return Err(SsoError::new(
                SsoErrorKind::InvalidGrant,
                "The device code was already exchanged for a token",
            ));
        }
        if device.expires_at <= now {
            return Err(SsoError::new(
                SsoErrorKind::ExpiredToken,
                "The device code has expired",
            ));
        }
        match device.decision.clone() {
            Decision::Denied => Err(SsoError::new(
                SsoErrorKind::AccessDenied,
                "The person denied the authorization request",
            )),
            Decision::Approved(user) => {
                device.redeemed = true;
                Ok(user)
            }
            Decision::Pending => {
                let too_soon = device
                    .last_poll
                    .is_some_and(|last| now - last < Duration::seconds(device.interval));
                device.last_poll = Some(now);
                if too_soon {
                    device.interval += 5;
                    Err(SsoError::new(
                        SsoErrorKind::SlowDown,
                        format!(
                            "Polled sooner than the interval; wait {} seconds between polls",
                            device.interval
                        ),
                    ))
                } else {
                    Err(SsoError::new(
                        SsoErrorKind::AuthorizationPending,
                        "The person has not approved the request yet",
                    ))
                }
            }
        }
    }

    fn spend_refresh_token(
        &self,
        client_id: &str,
        refresh_token: &str,
        now: OffsetDateTime,
    ) -> Result<(String, u64), SsoError> {
        let mut tokens = lock(&self.inner.tokens);
        let Tokens { refresh, ended, .. } = &mut *tokens;
        let token = refresh
            .get_mut(refresh_token)
            .filter(|token| token.client_id == client_id)
            .ok_or_else(|| SsoError::new(SsoErrorKind::InvalidGrant, "Invalid refresh token"))?;
        if token.spent || ended.contains(&token.sign_in) {
            return Err(SsoError::new(
                SsoErrorKind::InvalidGrant,
                "The refresh token was revoked or already used",
            ));
        }
        if token.expires_at <= now {
            return Err(SsoError::new(
                SsoErrorKind::ExpiredToken,
                "The refresh token has expired",
            ));
        }
        token.spent = true;
        Ok((token.user.clone(), token.sign_in))
    }

    fn issue_tokens(
        &self,
        client_id: &str,
        scopes: &[String],
        user: &str,
        sign_in: Option<u64>,
        now: OffsetDateTime,
    ) -> Result<Value, SsoError> {
        let config = &self.inner.config;
        let access_token = format!("aoa{}", self.random_token(120)?);
        let refresh_token = if scopes.is_empty() {
            None
        } else {
            Some(format!("aor{}", self.random_token(120)?))
        };
        let mut tokens = lock(&self.inner.tokens);
        let sign_in = sign_in.unwrap_or_else(|| {
            tokens.next_sign_in += 1;
            tokens.next_sign_in
        });
        let refresh_expires_at = tokens
            .refresh
            .values()
            .find(|token| token.sign_in == sign_in)
            .map_or(now + config.refresh_token_lifetime, |token| {
                token.expires_at
            });
        tokens.access.insert(
            access_token.clone(),
            AccessToken {
                sign_in,
                user: user.to_owned(),
                expires_at: now + config.access_token_lifetime,
            },
        );
        let mut answer = json!({
            "accessToken": access_token,
            "tokenType": "Bearer",
            "expiresIn": config.access_token_lifetime.whole_seconds(),
        });
        if let Some(refresh_token) = refresh_token {
            tokens.refresh.insert(
                refresh_token.clone(),
                RefreshToken {
                    sign_in,
                    user: user.to_owned(),
                    client_id: client_id.to_owned(),
                    expires_at: refresh_expires_at,
                    spent: false,
                },
            );
            answer["refreshToken"] = Value::String(refresh_token);
        }
        Ok(answer)
    }

    // ----------------------------------------------------------------------------------------
    // Portal

    /// The user and sign-in of the request's bearer token.
    fn bearer(&self, headers: &HeaderMap) -> Result<(String, u64), SsoError> {
        let mut values = headers.get_all(BEARER_HEADER).iter();
        let token = match (values.next(), values.next()) {
            (Some(value), None) => value.to_str().map_err(|_| unauthorized())?,
            _ => return Err(unauthorized()),
        };
        let now = self.now();
        let tokens = lock(&self.inner.tokens);
        let access = tokens.access.get(token).ok_or_else(unauthorized)?;
        if access.expires_at <= now || tokens.ended.contains(&access.sign_in) {
            return Err(unauthorized());
        }
        Ok((access.user.clone(), access.sign_in))
    }

    fn assignments(&self, user: &str) -> &[Assignment] {
        self.inner
            .config
            .users
            .iter()
            .find(|known| known.name == user)
            .map_or(&[], |known| &known.assignments)
    }

    fn get_role_credentials(
        &self,
        user: &str,
        parameters: &BTreeMap<String, String>,
    ) -> Result<Value, SsoError> {
        let account_id = required_parameter(parameters, "account_id")?;
        let role_name = required_parameter(parameters, "role_name")?;
        if !self
            .assignments(user)
            .iter()
            .any(|a| a.account_id == account_id && a.role_name == role_name)
        {
            return Err(SsoError::new(SsoErrorKind::Forbidden, "No access"));
        }
        let now = self.now();
        let expiration = now + self.inner.config.role_credentials_lifetime;
        let access_key_id = format!(
            "ASIA{}",
            self.random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)?
        );
        let secret_access_key = STANDARD.encode(self.random_bytes(30)?);
        let session_token = STANDARD.encode(self.random_bytes(180)?);
        let reserved = format!(
            "AWSReservedSSO_{role_name}_{}",
            &hex::encode(sha_of(&format!("{account_id}/{role_name}")))[..16]
        );
        let role_arn =
            format!("arn:aws:iam::{account_id}:role/aws-reserved/sso.amazonaws.com/{reserved}");
        let principal = Principal::AssumedRole {
            arn: format!("arn:aws:sts::{account_id}:assumed-role/{reserved}/{user}"),
            user_id: format!("{}:{user}", stable_id("AROA", &role_arn)),
            role_arn,
            account: account_id.to_owned(),
            mfa_authenticated: false,
            session_token: session_token.clone(),
        };
        self.inner.config.registry.register(
            &access_key_id,
            &secret_access_key,
            principal,
            expiration,
        );
        tracing::info!(
            access_key_id,
            account_id,
            role_name,
            user,
            "fake SSO: issued role credentials"
        );
        lock(&self.inner.issued).push(IssuedRoleCredentials {
            access_key_id: access_key_id.clone(),
            account_id: account_id.to_owned(),
            role_name: role_name.to_owned(),
            user: user.to_owned(),
            expiration,
        });
        let millis = expiration.unix_timestamp() * 1000;
        Ok(json!({
            "roleCredentials": {
                "accessKeyId": access_key_id,
                "secretAccessKey": secret_access_key,
                "sessionToken": session_token,
                "expiration": millis,
            }
        }))
    }

    fn list_accounts(
        &self,
        user: &str,
        parameters: &BTreeMap<String, String>,
    ) -> Result<Value, SsoError> {
        let mut accounts: Vec<&Assignment> = Vec::new();
        for assignment in self.assignments(user) {
            if !accounts
                .iter()
                .any(|a| a.account_id == assignment.account_id)
            {
                accounts.push(assignment);
            }
        }
        let (page, next) = paginate(
            &accounts,
            parameters,
            self.inner.default_page_size.load(Ordering::Relaxed),
        )?;
        let list: Vec<Value> = page
            .iter()
            .map(|a| {
                json!({
                    "accountId": a.account_id,
                    "accountName": a.account_name,
                    "emailAddress": a.email_address,
                })
            })
            .collect();
        let mut answer = json!({ "accountList": list });
        if let Some(next) = next {
            answer["nextToken"] = Value::String(next);
        }
        Ok(answer)
    }

    fn list_account_roles(
        &self,
        user: &str,
        parameters: &BTreeMap<String, String>,
    ) -> Result<Value, SsoError> {
        let account_id = required_parameter(parameters, "account_id")?;
        let roles: Vec<&Assignment> = self
            .assignments(user)
            .iter()
            .filter(|a| a.account_id == account_id)
            .collect();
        let (page, next) = paginate(
            &roles,
            parameters,
            self.inner.default_page_size.load(Ordering::Relaxed),
        )?;
        let list: Vec<Value> = page
            .iter()
            .map(|a| json!({"roleName": a.role_name, "accountId": a.account_id}))
            .collect();
        let mut answer = json!({ "roleList": list });
        if let Some(next) = next {
            answer["nextToken"] = Value::String(next);
        }
        Ok(answer)
    }

    // ----------------------------------------------------------------------------------------
    // Randomness

    fn random_bytes(&self, len: usize) -> Result<Vec<u8>, SsoError> {
        let mut bytes = vec![0u8; len];
        self.inner
            .random
            .fill(&mut bytes)
            .map_err(|_| SsoError::new(SsoErrorKind::InvalidRequest, "The random source failed"))?;
        Ok(bytes)
    }

    /// About `len` base64url characters.
    fn random_token(&self, len: usize) -> Result<String, SsoError> {
        Ok(URL_SAFE_NO_PAD.encode(self.random_bytes(len * 3 / 4)?))
    }

    /// `len` characters drawn uniformly from `alphabet` (at most 256 characters).
    fn random_string(&self, alphabet: &[u8], len: usize) -> Result<String, SsoError> {
        let limit = 256 - 256 % alphabet.len();
        let mut out = String::with_capacity(len);
        while out.len() < len {
            for byte in self.random_bytes(len * 2)? {
                if usize::from(byte) < limit && out.len() < len {
                    out.push(char::from(alphabet[usize::from(byte) % alphabet.len()]));
                }
            }
        }
        Ok(out)
    }
}

fn sha_of(text: &str) -> Vec<u8> {
    use sha2::{Digest as _, Sha256};
    Sha256::digest(text.as_bytes()).to_vec()
}

/// A page of `items` per `max_result` (1–100, default `default_size`, 100 unless a test
/// set it: [`FakeSso::set_default_page_size`]) and `next_token` (an index this fake gave out).
fn paginate<'a, T>(
    items: &'a [T],
    parameters: &BTreeMap<String, String>,
    default_size: usize,
) -> Result<(&'a [T], Option<String>), SsoError> {
    let max = match parameters.get("max_result") {
        None => default_size,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|max| (1..=100).contains(max))
            .ok_or_else(|| portal_invalid("max_result must be a number from 1 to 100"))?,
    };
    let start = match parameters.get("next_token") {
        None => 0,
        Some(text) => text
            .strip_prefix("page-")
            .and_then(|index| index.parse::<usize>().ok())
            .filter(|index| *index < items.len())
            .ok_or_else(|| portal_invalid("Invalid next_token"))?,
    };
    let end = items.len().min(start + max);
    let next = (end < items.len()).then(|| format!("page-{end}"));
    Ok((&items[start..end], next))
}

fn json_object(body: &[u8]) -> Result<Map<String, Value>, SsoError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(oidc_invalid("The request body must be a JSON object")),
        Err(error) => Err(oidc_invalid(format!(
            "The request body is not valid JSON: {error}"
        ))),
    }
}

fn only_members(request: &Map<String, Value>, allowed: &[&str]) -> Result<(), SsoError> {
    match request.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(unknown) => Err(oidc_invalid(format!("Unknown member: {unknown}"))),
        None => Ok(()),
    }
}

fn required_string<'a>(request: &'a Map<String, Value>, name: &str) -> Result<&'a str, SsoError> {
    match request.get(name) {
        Some(Value::String(text)) if !text.is_empty() => Ok(text),
        Some(Value::String(_)) | None => Err(oidc_invalid(format!("{name} is required"))),
        Some(_) => Err(oidc_invalid(format!("{name} must be a string"))),
    }
}

/// Query (or form) parameters, each once and among `allowed`.
fn query_parameters(
    query: Option<&str>,
    allowed: &[&str],
) -> Result<BTreeMap<String, String>, SsoError> {
    let mut parameters = BTreeMap::new();
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |text: &str| {
            percent_decode(&text.replace('+', " "))
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| portal_invalid(format!("Malformed query parameter: {pair}")))
        };
        let name = decode(name)?;
        if !allowed.contains(&name.as_str()) {
            return Err(portal_invalid(format!("Unknown query parameter: {name}")));
        }
        if parameters.insert(name.clone(), decode(value)?).is_some() {
            return Err(portal_invalid(format!("{name} given twice")));
        }
    }
    Ok(parameters)
}

fn required_parameter<'a>(
    parameters: &'a BTreeMap<String, String>,
    name: &str,
) -> Result<&'a str, SsoError> {
    parameters
        .get(name)
        .map(String::as_str)
        .filter(|value| !value.is_empty())
        .ok_or_else(|| portal_invalid(format!("{name} is required")))
}

async fn handle_http(State(fake): State<FakeSso>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let result = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => fake.handle(
            parts.method.as_str(),
            parts.uri.path(),
            parts.uri.query(),
            &parts.headers,
            &body,
        ),
        Err(error) => {
            let error = oidc_invalid(format!(
                "The request body could not be read (at most {MAX_BODY_BYTES} bytes): {error}"
            ));
            fake.record_rejection("", &error);
            Err(error)
        }
    };
    let (status, body, error_type) = match result {
        Ok(Some(value)) => (200, value.to_string(), None),
        Ok(None) => (200, String::new(), None),
        Err(error) => (
            error.kind.status(),
            error.body().to_string(),
            Some(error.kind.exception()),
        ),
    };
    let mut response = Response::new(body.into());
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(error_type) = error_type {
        headers.insert("x-amzn-errortype", HeaderValue::from_static(error_type));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-03-01 09:00:00 UTC);

    struct Fixture {
        sso: FakeSso,
        clock: Arc<FixedClock>,
        registry: Registry,
    }

    fn fixture() -> Fixture {
        let clock = Arc::new(FixedClock::new(T0));
        let registry = Registry::new();
        let config = SsoConfig::example(registry.clone(), REGION).with_clock(clock.clone());
        Fixture {
            sso: FakeSso::new(config),
            clock,
            registry,
        }
    }

    impl Fixture {
        fn post(&self, path: &str, body: Value) -> Result<Value, SsoError> {
            self.sso
                .handle(
                    "POST",
                    path,
                    None,
                    &HeaderMap::new(),
                    body.to_string().as_bytes(),
                )
                .map(|answer| answer.unwrap_or(Value::Null))
        }

        fn get(&self, path: &str, query: &str, token: Option<&str>) -> Result<Value, SsoError> {
            let mut headers = HeaderMap::new();
            if let Some(token) = token {
                headers.insert(BEARER_HEADER, HeaderValue::from_str(token).unwrap());
            }
            self.sso
                .handle("GET", path, Some(query), &headers, b"")
                .map(|answer| answer.unwrap_or(Value::Null))
        }

        fn register(&self, scopes: bool) -> (String, String) {
            let mut request = json!({"clientName": "test", "clientType": "public"});
            if scopes {
                request["scopes"] = json!([ACCOUNT_ACCESS_SCOPE]);
            }
            let answer = self.post("/client/register", request).unwrap();
            (
                answer["clientId"].as_str().unwrap().to_owned(),
                answer["clientSecret"].as_str().unwrap().to_owned(),
            )
        }

        fn start(&self, client: &(String, String)) -> (String, String) {
            let answer = self
                .post(
                    "/device_authorization",
                    json!({"clientId": client.0, "clientSecret": client.1,
                           "startUrl": SSO_START_URL}),
                )
                .unwrap();
            (
                answer["deviceCode"].as_str().unwrap().to_owned(),
                answer["userCode"].as_str().unwrap().to_owned(),
            )
        }

        fn poll(&self, client: &(String, String), device_code: &str) -> Result<Value, SsoError> {
            self.post(
                "/token",
                json!({"clientId": client.0, "clientSecret": client.1,
                       "grantType": DEVICE_CODE_GRANT, "deviceCode": device_code}),
            )
        }

        fn refresh(&self, client: &(String, String), token: &str) -> Result<Value, SsoError> {
            self.post(
                "/token",
                json!({"clientId": client.0, "clientSecret": client.1,
                       "grantType": REFRESH_TOKEN_GRANT, "refreshToken": token}),
            )
        }

        /// A signed-in `alice`: (client, token answer).
        fn signed_in(&self, scopes: bool) -> ((String, String), Value) {
            let client = self.register(scopes);
            let (device, user_code) = self.start(&client);
            self.sso.approve(&user_code, SSO_ALICE).unwrap();
            let token = self.poll(&client, &device).unwrap();
            (client, token)
        }
    }

    fn kind(result: Result<Value, SsoError>) -> SsoErrorKind {
        result.unwrap_err().kind
    }

    #[test]
    fn the_device_flow_issues_tokens_and_registers_role_credentials() {
        let f = fixture();
        let client = f.register(true);
        let (device, user_code) = f.start(&client);
        assert_eq!(user_code.len(), 9);
        assert_eq!(f.sso.pending_user_codes(), vec![user_code.clone()]);
        assert_eq!(
            kind(f.poll(&client, &device)),
            SsoErrorKind::AuthorizationPending
        );
        f.sso.approve(&user_code, SSO_ALICE).unwrap();
        assert!(f.sso.pending_user_codes().is_empty());
        let token = f.poll(&client, &device).unwrap();
        assert_eq!(token["tokenType"], "Bearer");
        assert_eq!(token["expiresIn"], 3600);
        let access = token["accessToken"].as_str().unwrap();
        assert!(token["refreshToken"].as_str().unwrap().starts_with("aor"));

        let answer = f
            .get(
                "/federation/credentials",
                &format!("account_id={ACCOUNT_ID}&role_name={SSO_DEVELOPER_ROLE}"),
                Some(access),
            )
            .unwrap();
        let credentials = &answer["roleCredentials"];
        let key = credentials["accessKeyId"].as_str().unwrap();
        assert!(key.starts_with("ASIA") && key.len() == 20, "{key}");
        assert_eq!(
            credentials["expiration"].as_i64().unwrap(),
            (T0 + Duration::hours(1)).unix_timestamp() * 1000
        );
        let (secret, principal, expiration) = f.registry.lookup(key).unwrap();
        assert_eq!(secret, credentials["secretAccessKey"].as_str().unwrap());
        assert_eq!(
            principal.session_token(),
            credentials["sessionToken"].as_str()
        );
        assert_eq!(expiration, Some(T0 + Duration::hours(1)));
        assert!(
            principal
                .arn()
                .starts_with("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Developer_"),
            "{}",
            principal.arn()
        );
        assert!(principal.arn().ends_with("/alice"));
        assert_eq!(f.sso.issued().len(), 1);
        assert_eq!(f.sso.issued()[0].role_name, SSO_DEVELOPER_ROLE);
    }

    #[test]
    fn registration_refusals() {
        let f = fixture();
        for (body, expected) in [
            (
                json!({"clientType": "public"}),
                SsoErrorKind::InvalidRequest,
            ),
            (json!({"clientName": "x"}), SsoErrorKind::InvalidRequest),
            (
                json!({"clientName": "x", "clientType": "confidential"}),
                SsoErrorKind::InvalidClientMetadata,
            ),
            (
                json!({"clientName": "x", "clientType": "public", "scopes": ["s3:all"]}),
                SsoErrorKind::InvalidScope,
            ),
            (
                json!({"clientName": "x", "clientType": "public", "scope": ["openid"]}),
                SsoErrorKind::InvalidRequest,
            ),
            (json!(["not an object"]), SsoErrorKind::InvalidRequest),
        ] {
            assert_eq!(
                kind(f.post("/client/register", body.clone())),
                expected,
                "{body}"
            );
        }
        let error = f
            .sso
            .handle("POST", "/client/register", None, &HeaderMap::new(), b"{")
            .unwrap_err();
        assert_eq!(error.kind, SsoErrorKind::InvalidRequest);
        let error = f
            .sso
            .handle("GET", "/client/register", None, &HeaderMap::new(), b"")
            .unwrap_err();
        assert_eq!(error.kind, SsoErrorKind::UnknownOperation);
        assert_eq!(error.kind.status(), 404);
        assert_eq!(f.sso.calls("RegisterClient"), 7);
        assert_eq!(f.sso.calls(""), 1);
        assert_eq!(f.sso.rejections().len(), 8);
    }

    #[test]
    fn device_authorization_refusals() {
        let f = fixture();
        let client = f.register(false);
        let start = |client_id: &str, secret: &str, url: &str| {
            f.post(
                "/device_authorization",
                json!({"clientId": client_id, "clientSecret": secret, "startUrl": url}),
            )
        };
        assert_eq!(
            kind(start(&client.0, "wrong", SSO_START_URL)),
            SsoErrorKind::InvalidClient
        );
        assert_eq!(
            kind(start("unknown", &client.1, SSO_START_URL)),
            SsoErrorKind::InvalidClient
        );
        assert_eq!(
            kind(start(
                &client.0,
                &client.1,
                "https://other.awsapps.com/start"
            )),
            SsoErrorKind::InvalidRequest
        );
        assert_eq!(
            kind(f.post(
                "/device_authorization",
                json!({"clientId": client.0, "clientSecret": client.1})
            )),
            SsoErrorKind::InvalidRequest
        );
        assert!(start(&client.0, &client.1, SSO_START_URL).is_ok());
        // Registrations expire.
        f.clock.advance(Duration::days(90));
        let error = start(&client.0, &client.1, SSO_START_URL).unwrap_err();
        assert_eq!(error.kind, SsoErrorKind::InvalidClient);
        assert_eq!(error.kind.status(), 401);
        assert_eq!(error.body()["error"], "invalid_client");
    }

    #[test]
    fn polling_too_fast_is_slow_down_and_the_interval_grows() {
        let f = fixture();
        let client = f.register(false);
        let (device, _) = f.start(&client);
        assert_eq!(
            kind(f.poll(&client, &device)),
            SsoErrorKind::AuthorizationPending
        );
        assert_eq!(kind(f.poll(&client, &device)), SsoErrorKind::SlowDown);
        // The interval is now 6 s: 5 s later is still too soon.
        f.clock.advance(Duration::seconds(5));
        assert_eq!(kind(f.poll(&client, &device)), SsoErrorKind::SlowDown);
        f.clock.advance(Duration::seconds(11));
        assert_eq!(
            kind(f.poll(&client, &device)),
            SsoErrorKind::AuthorizationPending
        );
    }

    #[test]
    fn device_code_refusals() {
        let f = fixture();
        let client = f.register(false);
        let other = f.register(false);
        let (device, user_code) = f.start(&client);
        assert_eq!(
            kind(f.poll(&client, "no-such-code")),
            SsoErrorKind::InvalidGrant
        );
        assert_eq!(kind(f.poll(&other, &device)), SsoErrorKind::InvalidGrant);
        assert_eq!(
            kind(f.post(
                "/token",
                json!({"clientId": client.0, "clientSecret": client.1,
                       "grantType": "authorization_code", "code": "x"})
            )),
            SsoErrorKind::UnsupportedGrantType
        );
        assert_eq!(
            kind(f.post(
                "/token",
                json!({"clientId": client.0, "clientSecret": client.1,
                       "grantType": DEVICE_CODE_GRANT})
            )),
            SsoErrorKind::InvalidRequest
        );
        assert!(f.sso.approve(&user_code, "mallory").is_err());
        f.sso.approve(&user_code, SSO_ALICE).unwrap();
        assert!(f.sso.deny(&user_code).is_err(), "decided once");
        assert!(f.poll(&client, &device).is_ok());
        assert_eq!(kind(f.poll(&client, &device)), SsoErrorKind::InvalidGrant);

        // Denied.
        let (device, user_code) = f.start(&client);
        f.sso.deny(&user_code).unwrap();
        let error = f.poll(&client, &device).unwrap_err();
        assert_eq!(error.kind, SsoErrorKind::AccessDenied);
        assert_eq!(error.body()["error"], "access_denied");

        // Expired.
        let (device, user_code) = f.start(&client);
        f.clock.advance(Duration::minutes(10));
        assert_eq!(kind(f.poll(&client, &device)), SsoErrorKind::ExpiredToken);
        assert!(f.sso.approve(&user_code, SSO_ALICE).is_err());
    }

    #[test]
    fn refresh_rotates_and_refuses_spent_revoked_expired_and_foreign_tokens() {
        let f = fixture();
        // No scopes, no refresh token (the legacy form).
        let (_, legacy) = f.signed_in(false);
        assert!(legacy.get("refreshToken").is_none());

        let (client, token) = f.signed_in(true);
        let first = token["refreshToken"].as_str().unwrap().to_owned();
        let renewed = f.refresh(&client, &first).unwrap();
        let second = renewed["refreshToken"].as_str().unwrap().to_owned();
        assert_ne!(first, second);
        assert_ne!(renewed["accessToken"], token["accessToken"]);
        assert_eq!(kind(f.refresh(&client, &first)), SsoErrorKind::InvalidGrant);
        let other = f.register(true);
        assert_eq!(kind(f.refresh(&other, &second)), SsoErrorKind::InvalidGrant);
        assert_eq!(
            kind(f.refresh(&client, "aorunknown")),
            SsoErrorKind::InvalidGrant
        );

        // The sign-in lasts 8 hours from the device code's exchange, refreshes or not.
        f.clock.advance(Duration::hours(8));
        assert_eq!(
            kind(f.refresh(&client, &second)),
            SsoErrorKind::ExpiredToken
        );

        let (client, token) = f.signed_in(true);
        let refresh = token["refreshToken"].as_str().unwrap();
        assert!(f.sso.revoke_refresh_token(refresh));
        assert!(!f.sso.revoke_refresh_token("aorunknown"));
        assert_eq!(
            kind(f.refresh(&client, refresh)),
            SsoErrorKind::InvalidGrant
        );
        // Revoking ends the sign-in: its access token stops working too.
        let access = token["accessToken"].as_str().unwrap();
        assert_eq!(
            kind(f.get("/assignment/accounts", "", Some(access))),
            SsoErrorKind::Unauthorized
        );
    }

    #[test]
    fn portal_refusals() {
        let f = fixture();
        let (_, token) = f.signed_in(true);
        let access = token["accessToken"].as_str().unwrap();
        let credentials =
            |query: &str, token: Option<&str>| f.get("/federation/credentials", query, token);
        let developer = format!("account_id={ACCOUNT_ID}&role_name={SSO_DEVELOPER_ROLE}");
        assert_eq!(
            kind(credentials(&developer, None)),
            SsoErrorKind::Unauthorized
        );
        assert_eq!(
            kind(credentials(&developer, Some("aoaunknown"))),
            SsoErrorKind::Unauthorized
        );
        let error = credentials(
            &format!("account_id={SSO_OTHER_ACCOUNT_ID}&role_name={SSO_DEVELOPER_ROLE}"),
            Some(access),
        )
        .unwrap_err();
        assert_eq!(
            (error.kind, error.kind.status()),
            (SsoErrorKind::Forbidden, 403)
        );
        assert_eq!(error.body(), json!({"message": "No access"}));
        assert_eq!(
            kind(credentials(
                &format!("account_id={ACCOUNT_ID}"),
                Some(access)
            )),
            SsoErrorKind::PortalInvalidRequest
        );
        assert_eq!(
            kind(credentials(
                &format!("{developer}&role_name=x"),
                Some(access)
            )),
            SsoErrorKind::PortalInvalidRequest
        );
        assert_eq!(
            kind(credentials(&format!("{developer}&extra=1"), Some(access))),
            SsoErrorKind::PortalInvalidRequest
        );
        assert!(credentials(&developer, Some(access)).is_ok());
        // Access tokens expire.
        f.clock.advance(Duration::hours(1));
        let error = credentials(&developer, Some(access)).unwrap_err();
        assert_eq!(
            (error.kind, error.kind.status()),
            (SsoErrorKind::Unauthorized, 401)
        );
        assert_eq!(f.sso.issued().len(), 1);
    }

    #[test]
    fn accounts_and_roles_are_listed_in_pages() {
        let f = fixture();
        let (_, token) = f.signed_in(true);
        let access = token["accessToken"].as_str();
        let accounts = f.get("/assignment/accounts", "", access).unwrap();
        let ids: Vec<&str> = accounts["accountList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["accountId"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [ACCOUNT_ID, SSO_OTHER_ACCOUNT_ID]);
        assert!(accounts.get("nextToken").is_none());
        let first = f
            .get("/assignment/accounts", "max_result=1", access)
            .unwrap();
        assert_eq!(first["accountList"].as_array().unwrap().len(), 1);
        let next = first["nextToken"].as_str().unwrap();
        let second = f
            .get(
                "/assignment/accounts",
                &format!("max_result=1&next_token={next}"),
                access,
            )
            .unwrap();
        assert_eq!(second["accountList"][0]["accountId"], SSO_OTHER_ACCOUNT_ID);
        assert!(second.get("nextToken").is_none());
        for bad in ["max_result=0", "max_result=101", "next_token=bogus"] {
            assert_eq!(
                kind(f.get("/assignment/accounts", bad, access)),
                SsoErrorKind::PortalInvalidRequest,
                "{bad}"
            );
        }
        let roles = f
            .get(
                "/assignment/roles",
                &format!("account_id={ACCOUNT_ID}"),
                access,
            )
            .unwrap();
        assert_eq!(
            roles["roleList"],
            json!([{"roleName": SSO_DEVELOPER_ROLE, "accountId": ACCOUNT_ID},
                   {"roleName": SSO_READ_ONLY_ROLE, "accountId": ACCOUNT_ID}])
        );
        assert_eq!(
            kind(f.get("/assignment/roles", "", access)),
            SsoErrorKind::PortalInvalidRequest
        );
        // A smaller default page: a request without max_result gets one item and a token.
        f.sso.set_default_page_size(1);
        let first = f.get("/assignment/accounts", "", access).unwrap();
        assert_eq!(first["accountList"].as_array().unwrap().len(), 1);
        assert_eq!(first["nextToken"], "page-1");
        let all = f
            .get("/assignment/accounts", "max_result=100", access)
            .unwrap();
        assert_eq!(all["accountList"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn logout_ends_the_sign_in() {
        let f = fixture();
        let (client, token) = f.signed_in(true);
        let access = token["accessToken"].as_str().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(BEARER_HEADER, HeaderValue::from_str(access).unwrap());
        assert_eq!(
            f.sso
                .handle("POST", "/logout", None, &headers, b"")
                .unwrap(),
            None
        );
        assert_eq!(
            kind(f.get("/assignment/accounts", "", Some(access))),
            SsoErrorKind::Unauthorized
        );
        assert_eq!(
            kind(f.refresh(&client, token["refreshToken"].as_str().unwrap())),
            SsoErrorKind::InvalidGrant
        );
        assert_eq!(
            f.sso
                .handle("POST", "/logout", None, &headers, b"")
                .unwrap_err()
                .kind,
            SsoErrorKind::Unauthorized
        );
    }

    #[test]
    fn sign_out_user_ends_every_sign_in_of_that_user() {
        let f = fixture();
        let (_, token) = f.signed_in(true);
        f.sso.sign_out_user(SSO_ALICE);
        assert_eq!(
            kind(f.get("/assignment/accounts", "", token["accessToken"].as_str())),
            SsoErrorKind::Unauthorized
        );
    }

    #[test]
    fn the_test_api_over_http_approves_and_denies() {
        let f = fixture();
        let client = f.register(false);
        let (device, user_code) = f.start(&client);
        let form = |path: &str, body: String| {
            f.sso
                .handle("POST", path, None, &HeaderMap::new(), body.as_bytes())
        };
        assert!(form("/device/approve", format!("user_code={user_code}")).is_err());
        assert!(
            form(
                "/device/approve",
                format!("user_code={user_code}&user=nobody")
            )
            .is_err()
        );
        form("/device/approve", format!("user_code={user_code}&user=bob")).unwrap();
        assert!(f.poll(&client, &device).is_ok());
        let (device, user_code) = f.start(&client);
        form("/device/deny", format!("user_code={user_code}")).unwrap();
        assert_eq!(kind(f.poll(&client, &device)), SsoErrorKind::AccessDenied);
    }

    #[tokio::test]
    async fn over_http_errors_carry_the_exception_name_and_the_oauth_body() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let f = fixture();
        let running = crate::rolesanywhere::Running::serve_http(
            f.sso.router(),
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        let body =
            r#"{"clientId":"x","clientSecret":"y","grantType":"refresh_token","refreshToken":"z"}"#;
        let mut stream = tokio::net::TcpStream::connect(running.addr).await.unwrap();
        stream
            .write_all(
                format!(
                    "POST /token HTTP/1.1\r\nHost: oidc.us-east-1.amazonaws.com\r\n\
                     Content-Type: application/json\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("x-amzn-errortype: invalidclientexception"),
            "{answer}"
        );
        assert!(answer.contains(r#""error":"invalid_client""#), "{answer}");
    }

    #[test]
    fn debug_shows_no_token() {
        let f = fixture();
        let (_, token) = f.signed_in(true);
        let shown = format!("{:?} {:?}", f.sso, f.sso.issued());
        assert!(!shown.contains(token["accessToken"].as_str().unwrap()));
    }
}
