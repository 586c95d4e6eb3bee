//! A strict fake of the AWS IAM Roles Anywhere `CreateSession` API.
//!
//! Contract:
//! * The fake answers `POST {prefix}/sessions` (prefix empty unless set with
//!   [`FakeRolesAnywhere::with_path_prefix`]); anything else is refused with
//!   `UnknownOperationException` (404).
//! * Signature verification is written from the published wire protocol, independently of
//!   the product's signer: canonical request and string to sign by the SigV4 verifier both
//!   fakes share ([`crate::sigv4`]), then `AWS4-X509-RSA-SHA256`
//!   (RSASSA-PKCS1-v1_5 over SHA-256) or `AWS4-X509-ECDSA-SHA256` (DER ECDSA over SHA-256 on
//!   P-256 and P-384), checked with ring against the public key of the `X-Amz-X509` leaf.
//! * Then the certificate path is built and checked at the fake's [`Clock`]: validity of every
//!   certificate, issuer/subject names, CA basic constraints, and every signature up to a CA
//!   certificate of the named trust anchor.
//! * Then the trust anchor, profile, role, duration and session name are checked.
//! * Every refusal mirrors AWS: JSON `{"message": ...}`, header `x-amzn-ErrorType`, and the
//!   status of its [`ErrorType`]. Each check has its own message (see
//!   [`FakeRolesAnywhere::verify`]).
//! * Success is `201` with a `credentialSet` of fresh random credentials expiring at
//!   clock + `durationSeconds` (whole seconds, RFC 3339 `Z`).
//! * With a [`Registry`] ([`Config::with_registry`]), every issued session is registered as
//!   a [`Principal::AssumedRole`], so the fake STS accepts its credentials.
//! * Every request is counted ([`FakeRolesAnywhere::request_count`]), every issued session
//!   ([`FakeRolesAnywhere::sessions`]) and every refusal ([`FakeRolesAnywhere::rejections`]) is
//!   recorded. Results are also logged with `tracing` at `info` (never a secret key or token).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use serde::Deserialize;
use time::{Duration, OffsetDateTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_MD2WITHRSAENC,
    OID_PKCS1_MD5WITHRSAENC, OID_PKCS1_RSAENCRYPTION, OID_PKCS1_SHA1WITHRSA, OID_SHA1_WITH_RSA,
};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::{SubjectPublicKeyInfo, X509Version};

use super::registry::{Principal, Registry};
use crate::clock::{Clock, SystemClock};
use crate::sigv4::{self, Problem, parse_amz_date, single_header};

/// The account of every ARN below.
pub const ACCOUNT_ID: &str = "123456789012";
/// The region the default configuration serves.
pub const REGION: &str = "us-east-1";
/// The trust anchor of [`Config::from_pki_dir`] (CA: `root-ca.pem`).
pub const TRUST_ANCHOR_ARN: &str = "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/0f9c5a46-2b63-4d5b-9b4e-6a3a3f1e2d11";
/// The profile of [`Config::from_pki_dir`]; it allows [`ROLE_ARN`] and [`OTHER_ROLE_ARN`].
pub const PROFILE_ARN: &str =
    "arn:aws:rolesanywhere:us-east-1:123456789012:profile/7d3f2c1b-5a4e-4f60-8e2d-1c0b9a8f7e6d";
/// A role the default profile allows.
pub const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/needroleshere-test";
/// Another role the default profile allows.
pub const OTHER_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/needroleshere-other";
/// A role the default profile does not allow.
pub const FORBIDDEN_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/not-in-profile";

/// The smallest `durationSeconds` the API accepts.
pub const MIN_DURATION_SECONDS: u32 = 900;
/// The largest `durationSeconds` the API accepts.
pub const MAX_DURATION_SECONDS: u32 = 43200;
/// The session duration when the request gives none (capped by the profile's maximum).
pub const DEFAULT_DURATION_SECONDS: u32 = 3600;
/// How far `X-Amz-Date` may be from the fake's clock, either way.
pub const MAX_CLOCK_SKEW: Duration = sigv4::MAX_CLOCK_SKEW;

const SERVICE: &str = "rolesanywhere";
const RSA_ALGORITHM: &str = "AWS4-X509-RSA-SHA256";
const ECDSA_ALGORITHM: &str = "AWS4-X509-ECDSA-SHA256";
const MAX_BODY_BYTES: usize = 64 * 1024;
/// What `Authorization` holds here: an X.509 algorithm, the leaf's decimal serial, a
/// signature as long as the key makes it.
const SCHEME: sigv4::Scheme = sigv4::Scheme {
    algorithms: &[RSA_ALGORITHM, ECDSA_ALGORITHM],
    credential_id: sigv4::CredentialId::DecimalSerial,
    signature_bytes: None,
};

/// A trust anchor: the CA certificates a leaf's path must end at.
#[derive(Debug, Clone)]
pub struct TrustAnchor {
    /// The trust anchor ARN requests name in `trustAnchorArn`.
    pub arn: String,
    /// DER of each CA certificate of the anchor.
    pub ca_certificates_der: Vec<Vec<u8>>,
}

/// A profile: the roles a session may assume.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The profile ARN requests name in `profileArn`.
    pub arn: String,
    /// The role ARNs the profile allows.
    pub role_arns: Vec<String>,
    /// The longest session the profile allows, if limited.
    pub max_duration_seconds: Option<u32>,
}

/// What the fake knows: its region, trust anchors, profiles and clock.
#[derive(Debug, Clone)]
pub struct Config {
    /// The only region credential scopes may name.
    pub region: String,
    /// The known trust anchors.
    pub trust_anchors: Vec<TrustAnchor>,
    /// The known profiles.
    pub profiles: Vec<Profile>,
    /// The fake's notion of now: request skew, certificate validity, expirations.
    pub clock: Arc<dyn Clock>,
    /// Where issued sessions are registered (for the fake STS), if anywhere.
    pub registry: Option<Registry>,
}

impl Config {
    /// Trust anchor [`TRUST_ANCHOR_ARN`] = every certificate of `<pki_dir>/root-ca.pem`,
    /// profile [`PROFILE_ARN`] allowing [`ROLE_ARN`] and [`OTHER_ROLE_ARN`] without a
    /// duration limit, region [`REGION`], system clock.
    pub fn from_pki_dir(pki_dir: &Path) -> std::io::Result<Config> {
        let path = pki_dir.join("root-ca.pem");
        let ca_certificates_der = super::tls::read_certificates(&path)?;
        for der in &ca_certificates_der {
            parse_certificate(der).map_err(|error| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {error}", path.display()),
                )
            })?;
        }
        Ok(Config {
            region: REGION.to_owned(),
            trust_anchors: vec![TrustAnchor {
                arn: TRUST_ANCHOR_ARN.to_owned(),
                ca_certificates_der,
            }],
            profiles: vec![Profile {
                arn: PROFILE_ARN.to_owned(),
                role_arns: vec![ROLE_ARN.to_owned(), OTHER_ROLE_ARN.to_owned()],
                max_duration_seconds: None,
            }],
            clock: Arc::new(SystemClock),
            registry: None,
        })
    }

    /// The same configuration, registering every issued session in `registry`.
    pub fn with_registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }
}

/// The AWS error type of a refusal; it decides the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// `AccessDeniedException`, 403: signature, scope, skew, certificates, role.
    AccessDenied,
    /// `ValidationException`, 400: malformed headers or body, durations, missing fields.
    Validation,
    /// `ResourceNotFoundException`, 404: unknown trust anchor or profile.
    ResourceNotFound,
    /// `UnknownOperationException`, 404: not `POST {prefix}/sessions`.
    UnknownOperation,
    /// `InternalServerException`, 500: the fake itself failed (random source).
    Internal,
}

impl ErrorType {
    /// The `x-amzn-ErrorType` value.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::AccessDenied => "AccessDeniedException",
            ErrorType::Validation => "ValidationException",
            ErrorType::ResourceNotFound => "ResourceNotFoundException",
            ErrorType::UnknownOperation => "UnknownOperationException",
            ErrorType::Internal => "InternalServerException",
        }
    }

    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            ErrorType::AccessDenied => 403,
            ErrorType::Validation => 400,
            ErrorType::ResourceNotFound | ErrorType::UnknownOperation => 404,
            ErrorType::Internal => 500,
        }
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {}: {}", .error_type.status(), .error_type, .message)]
pub struct Rejection {
    /// The AWS error type.
    pub error_type: ErrorType,
    /// The `message` of the JSON body.
    pub message: String,
}

impl Rejection {
    fn new(error_type: ErrorType, message: impl Into<String>) -> Self {
        Self {
            error_type,
            message: message.into(),
        }
    }

    fn denied(message: impl Into<String>) -> Self {
        Self::new(ErrorType::AccessDenied, message)
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorType::Validation, message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorType::ResourceNotFound, message)
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.error_type.status()
    }
}

/// SigV4 problems in this service's words and error types: malformed headers are
/// `ValidationException`, scope, clock and signed-header faults `AccessDeniedException`.
impl From<Problem> for Rejection {
    fn from(problem: Problem) -> Self {
        let too_skewed = " (request time too skewed: the clock of the caller and of the \
                          service differ by more than 5 minutes)";
        match problem {
            Problem::MalformedAuthorization(what) => Rejection::invalid(format!(
                "Malformed Authorization header: {what}. Expected 'ALGORITHM Credential=SERIAL/\
                 YYYYMMDD/REGION/rolesanywhere/aws4_request, SignedHeaders=a;b;c, Signature=HEX'"
            )),
            Problem::UnsupportedAlgorithm(other) => Rejection::invalid(format!(
                "Unsupported Authorization algorithm '{other}'; expected {RSA_ALGORITHM} or \
                 {ECDSA_ALGORITHM}"
            )),
            Problem::ScopeDate {
                scope_date,
                amz_date,
            } => Rejection::denied(format!(
                "Credential should be scoped to a valid date: the scope date '{scope_date}' is \
                 not the date of X-Amz-Date '{amz_date}'"
            )),
            Problem::Expired { .. } | Problem::NotYetCurrent { .. } => {
                Rejection::denied(format!("{}{too_skewed}", problem.message()))
            }
            Problem::UnsignedHeader(name) => Rejection::denied(format!(
                "SignedHeaders must include '{name}' (sent headers content-type, host, x-amz-* \
                 must all be signed)"
            )),
            Problem::ScopeRegion { .. }
            | Problem::ScopeService { .. }
            | Problem::ScopeTerminator(_)
            | Problem::EmptySignedHeader
            | Problem::UppercaseSignedHeader(_)
            | Problem::UnsortedSignedHeaders(..)
            | Problem::SignedHeaderNotSent(_) => Rejection::denied(problem.message()),
            Problem::RepeatedHeader(_)
            | Problem::NotVisibleAscii(_)
            | Problem::MalformedDate(_)
            | Problem::MalformedPath(_)
            | Problem::MalformedQueryParameter(_) => Rejection::invalid(problem.message()),
        }
    }
}

/// The signature algorithm named in `Authorization`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlgorithm {
    /// `AWS4-X509-RSA-SHA256`.
    RsaSha256,
    /// `AWS4-X509-ECDSA-SHA256`.
    EcdsaSha256,
}

impl SigningAlgorithm {
    /// The name used in `Authorization` and in the string to sign.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::RsaSha256 => RSA_ALGORITHM,
            SigningAlgorithm::EcdsaSha256 => ECDSA_ALGORITHM,
        }
    }
}

/// What a request that passed every check asked for.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The signature algorithm used.
    pub algorithm: SigningAlgorithm,
    /// `X-Amz-Date`.
    pub request_time: OffsetDateTime,
    /// The fake's clock when the request was checked.
    pub checked_at: OffsetDateTime,
    /// The canonical request the signature covers.
    pub canonical_request: String,
    /// The string to sign.
    pub string_to_sign: String,
    /// The SignedHeaders list.
    pub signed_headers: Vec<String>,
    /// `trustAnchorArn`.
    pub trust_anchor_arn: String,
    /// `profileArn`.
    pub profile_arn: String,
    /// `roleArn`.
    pub role_arn: String,
    /// `roleSessionName`, or the leaf serial in lowercase hex.
    pub role_session_name: String,
    /// `durationSeconds` (or the default).
    pub duration_seconds: u32,
    /// The leaf serial, decimal.
    pub leaf_serial: String,
    /// The leaf serial, lowercase hex.
    pub leaf_serial_hex: String,
    /// `CN=<leaf common name>` (or the whole subject when it has no CN).
    pub source_identity: String,
    /// DER of the leaf.
    pub leaf_der: Vec<u8>,
    /// DER of each certificate of `X-Amz-X509-Chain`, in order.
    pub chain_der: Vec<Vec<u8>>,
}

/// A session the fake issued.
#[derive(Clone)]
pub struct IssuedSession {
    /// `ASIA` + 16 characters.
    pub access_key_id: String,
    /// 40 characters.
    pub secret_access_key: String,
    /// A long base64 token.
    pub session_token: String,
    /// The assumed role.
    pub role_arn: String,
    /// The session name.
    pub role_session_name: String,
    /// The leaf serial, decimal.
    pub leaf_serial: String,
    /// DER of the leaf.
    pub leaf_der: Vec<u8>,
    /// DER of each certificate of `X-Amz-X509-Chain`.
    pub chain_der: Vec<Vec<u8>>,
    /// When the credentials expire.
    pub expiration: OffsetDateTime,
    /// The session duration.
    pub duration_seconds: u32,
}

impl fmt::Debug for IssuedSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedSession")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &"<redacted>")
            .field("role_arn", &self.role_arn)
            .field("role_session_name", &self.role_session_name)
            .field("leaf_serial", &self.leaf_serial)
            .field("leaf_der", &format_args!("<{} bytes>", self.leaf_der.len()))
            .field(
                "chain_der",
                &format_args!("<{} certificates>", self.chain_der.len()),
            )
            .field("expiration", &self.expiration)
            .field("duration_seconds", &self.duration_seconds)
            .finish()
    }
}

/// An issued session and the JSON body the API answers with.
#[derive(Debug, Clone)]
pub struct Created {
    /// The recorded session.
    pub session: IssuedSession,
    /// The `201` response body.
    pub response_body: serde_json::Value,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    path_prefix: String,
    random: SystemRandom,
    requests: AtomicUsize,
    sessions: Mutex<Vec<IssuedSession>>,
    rejections: Mutex<Vec<(u16, String, String)>>,
    /// Scripted failures, consulted before anything else (see [`super::faults`]).
    faults: super::faults::Faults,
}

/// The fake service. Clones share configuration and records.
#[derive(Debug, Clone)]
pub struct FakeRolesAnywhere {
    inner: Arc<Inner>,
}

/// A fake serving on a socket; dropping it (or [`Running::shutdown`]) stops the listener and
/// every open connection.
#[derive(Debug)]
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    scheme: &'static str,
    task: JoinHandle<()>,
}

impl Running {
    /// `http://ADDR` or `https://ADDR`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Stops serving.
    pub fn shutdown(self) {
        drop(self);
    }

    /// Serves `router` over plain HTTP/1.1 on `addr` (port 0 picks one) in a tokio task.
    pub async fn serve_http(router: Router, addr: SocketAddr) -> std::io::Result<Running> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(serve(listener, None, router));
        Ok(Running {
            addr,
            scheme: "http",
            task,
        })
    }

    /// Serves `router` over HTTP/1.1 with TLS (tokio-rustls, ring) on `addr` with the PEM
    /// chain and key.
    pub async fn serve_https(
        router: Router,
        addr: SocketAddr,
        cert_chain_pem: &Path,
        key_pem: &Path,
    ) -> std::io::Result<Running> {
        let acceptor = TlsAcceptor::from(super::tls::server_config(cert_chain_pem, key_pem)?);
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(serve(listener, Some(acceptor), router));
        Ok(Running {
            addr,
            scheme: "https",
            task,
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a test thread panicked while pushing to a Vec; the Vec is intact.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FakeRolesAnywhere {
    /// A fake answering `POST /sessions`.
    pub fn new(config: Config) -> Self {
        Self::with_path_prefix(config, "")
    }

    /// A fake answering `POST {prefix}/sessions` (`prefix` like `/rolesanywhere`; a trailing
    /// `/` is ignored).
    pub fn with_path_prefix(config: Config, prefix: &str) -> Self {
        let mut path_prefix = prefix.trim_end_matches('/').to_owned();
        if !path_prefix.is_empty() && !path_prefix.starts_with('/') {
            path_prefix.insert(0, '/');
        }
        Self {
            inner: Arc::new(Inner {
                config,
                path_prefix,
                random: SystemRandom::new(),
                requests: AtomicUsize::new(0),
                sessions: Mutex::new(Vec::new()),
                rejections: Mutex::new(Vec::new()),
                faults: super::faults::Faults::default(),
            }),
        }
    }

    /// The fault script: what the next requests get instead of normal service.
    pub fn faults(&self) -> super::faults::Faults {
        self.inner.faults.clone()
    }

    /// Counts a request answered by an injected fault.
    pub(super) fn count_request(&self) {
        self.inner.requests.fetch_add(1, Ordering::SeqCst);
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The path `CreateSession` is served on.
    pub fn sessions_path(&self) -> String {
        format!("{}/sessions", self.inner.path_prefix)
    }

    /// A router serving every path (non-`CreateSession` requests are refused and recorded).
    pub fn router(&self) -> Router {
        Router::new().fallback(handle).with_state(self.clone())
    }

    /// Serves plain HTTP/1.1 on `addr` (port 0 picks one) in a tokio task.
    pub async fn spawn_http(&self, addr: SocketAddr) -> std::io::Result<Running> {
        Running::serve_http(self.router(), addr).await
    }

    /// Serves HTTP/1.1 over TLS (tokio-rustls, ring) on `addr` with the PEM chain and key.
    pub async fn spawn_https(
        &self,
        addr: SocketAddr,
        cert_chain_pem: &Path,
        key_pem: &Path,
    ) -> std::io::Result<Running> {
        Running::serve_https(self.router(), addr, cert_chain_pem, key_pem).await
    }

    /// Every session issued so far, oldest first.
    pub fn sessions(&self) -> Vec<IssuedSession> {
        lock(&self.inner.sessions).clone()
    }

    /// How many requests reached the fake (accepted or refused, any path).
    pub fn request_count(&self) -> usize {
        self.inner.requests.load(Ordering::SeqCst)
    }

    /// Every refused request as `(status, error type, message)`, oldest first.
    pub fn rejections(&self) -> Vec<(u16, String, String)> {
        lock(&self.inner.rejections).clone()
    }

    /// Counts the request, checks it with [`FakeRolesAnywhere::verify`], and on success issues
    /// and records a session; a refusal is recorded too.
    pub fn create_session(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Created, Rejection> {
        self.inner.requests.fetch_add(1, Ordering::SeqCst);
        let result = self
            .verify(method, path, query, headers, body)
            .and_then(|verified| self.issue(&verified));
        match &result {
            Ok(created) => {
                let session = &created.session;
                tracing::info!(
                    status = 201,
                    role_arn = %session.role_arn,
                    role_session_name = %session.role_session_name,
                    leaf_serial = %session.leaf_serial,
                    access_key_id = %session.access_key_id,
                    duration_seconds = session.duration_seconds,
                    "CreateSession accepted"
                );
                lock(&self.inner.sessions).push(session.clone());
            }
            Err(rejection) => self.record_rejection(rejection),
        }
        result
    }

    fn record_rejection(&self, rejection: &Rejection) {
        tracing::info!(
            status = rejection.status(),
            error_type = rejection.error_type.as_str(),
            message = %rejection.message,
            "CreateSession refused"
        );
        lock(&self.inner.rejections).push((
            rejection.status(),
            rejection.error_type.as_str().to_owned(),
            rejection.message.clone(),
        ));
    }

    /// Checks a request without side effects. `path` and `query` are as received (still
    /// percent-encoded). Checks run in this order, the first failure wins:
    ///
    /// 1. `POST {prefix}/sessions`, else `UnknownOperationException`.
    /// 2. Header syntax (`ValidationException`): `Authorization` (`ALG Credential=serial/
    ///    YYYYMMDD/region/service/terminator, SignedHeaders=a;b, Signature=lowercase hex`,
    ///    ALG one of the two X.509 algorithms), `X-Amz-Date` (`YYYYMMDDTHHMMSSZ`),
    ///    `X-Amz-X509` and `X-Amz-X509-Chain` (standard base64 DER, comma-separated, never the
    ///    leaf), `Content-Type` (`application/json`), each present at most once.
    /// 3. Scope (`AccessDeniedException`): date = `X-Amz-Date` date, region = configured,
    ///    service `rolesanywhere`, terminator `aws4_request`.
    /// 4. Clock skew at most [`MAX_CLOCK_SKEW`] (`AccessDeniedException`, "request time too
    ///    skewed").
    /// 5. SignedHeaders lowercase, sorted, unique, containing `content-type`, `host`,
    ///    `x-amz-date`, `x-amz-x509`, `x-amz-x509-chain` when sent and every other `x-amz-*`
    ///    header sent; every signed header present (`AccessDeniedException`).
    /// 6. Credential serial = leaf serial in decimal; algorithm fits the key; RSA or
    ///    P-256/P-384 key; signature valid (`AccessDeniedException`; the message shows the
    ///    canonical request and string to sign the fake computed).
    /// 7. Parameters (`ValidationException`): JSON body (`durationSeconds` integer,
    ///    `roleSessionName`, `profileArn`, `roleArn`, `trustAnchorArn`, `instanceProperties`,
    ///    nothing else) and query string (only the three ARNs); each ARN once or equal in both.
    /// 8. Trust anchor known (`ResourceNotFoundException`).
    /// 9. Certificates (`AccessDeniedException`): leaf is X.509 v3, not a CA, `digitalSignature`
    ///    if key usage is present, not signed with MD2/MD5/SHA-1; every certificate valid at
    ///    the clock; each issued by the next (names, CA:TRUE, keyCertSign, signature); the last
    ///    one equal to, or issued by, a CA certificate of the trust anchor.
    /// 10. Profile known (`ResourceNotFoundException`); role allowed by it
    ///     (`AccessDeniedException`).
    /// 11. `durationSeconds` in 900..=43200 and within the profile limit; `roleSessionName`
    ///     2–64 of `[A-Za-z0-9_+=,.@-]` (`ValidationException`).
    pub fn verify(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Verified, Rejection> {
        let config = &self.inner.config;
        let expected_path = self.sessions_path();
        if method != "POST" || path != expected_path {
            return Err(Rejection::new(
                ErrorType::UnknownOperation,
                format!("No operation for {method} {path}; CreateSession is POST {expected_path}"),
            ));
        }

        // 2. Header syntax.
        let authorization = single_header(headers, "authorization", "Authorization")?
            .ok_or_else(|| Rejection::invalid("Missing Authorization header"))?;
        let authorization = sigv4::parse_authorization(authorization, &SCHEME)?;
        let algorithm = if authorization.algorithm == RSA_ALGORITHM {
            SigningAlgorithm::RsaSha256
        } else {
            SigningAlgorithm::EcdsaSha256
        };
        let amz_date = single_header(headers, "x-amz-date", "X-Amz-Date")?
            .ok_or_else(|| Rejection::invalid("Missing X-Amz-Date header"))?;
        let request_time = parse_amz_date(amz_date)?;
        let leaf_b64 = single_header(headers, "x-amz-x509", "X-Amz-X509")?
            .ok_or_else(|| Rejection::invalid("Missing X-Amz-X509 header"))?;
        let leaf_der = decode_certificate_b64(leaf_b64, "X-Amz-X509")?;
        let chain_header = single_header(headers, "x-amz-x509-chain", "X-Amz-X509-Chain")?;
        let mut chain_der = Vec::new();
        if let Some(chain) = chain_header {
            for (index, item) in chain.split(',').enumerate() {
                let der = decode_certificate_b64(item, &format!("X-Amz-X509-Chain item {index}"))?;
                if der == leaf_der {
                    return Err(Rejection::invalid(format!(
                        "X-Amz-X509-Chain item {index} is the leaf certificate; the chain holds \
                         only the intermediate certificates"
                    )));
                }
                chain_der.push(der);
            }
        }
        let content_type = single_header(headers, "content-type", "Content-Type")?
            .ok_or_else(|| Rejection::invalid("Missing Content-Type header"))?;
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        if !media_type.eq_ignore_ascii_case("application/json") {
            return Err(Rejection::invalid(format!(
                "Content-Type must be application/json, got '{content_type}'"
            )));
        }

        // 3. Scope.
        sigv4::check_scope(&authorization, amz_date, &config.region, SERVICE)?;

        // 4. Clock skew.
        let now = config.clock.now();
        sigv4::check_skew(request_time, amz_date, now)?;

        // 5. Signed headers.
        check_signed_headers(
            &authorization.signed_headers,
            headers,
            chain_header.is_some(),
        )?;

        // 6. Serial, key type, signature.
        let leaf = parse_certificate(&leaf_der)
            .map_err(|error| Rejection::invalid(format!("X-Amz-X509: {error}")))?;
        let mut chain = Vec::with_capacity(chain_der.len());
        for (index, der) in chain_der.iter().enumerate() {
            chain.push(parse_certificate(der).map_err(|error| {
                Rejection::invalid(format!("X-Amz-X509-Chain item {index}: {error}"))
            })?);
        }
        let leaf_serial = leaf.tbs_certificate.serial.to_string();
        let leaf_serial_hex = format!("{:x}", leaf.tbs_certificate.serial);
        if authorization.credential_id != leaf_serial {
            return Err(Rejection::denied(format!(
                "The serial number in the Credential '{}' is not the serial number of the \
                 X-Amz-X509 certificate ({leaf_serial} in decimal)",
                authorization.credential_id
            )));
        }
        let verification = verification_algorithm(algorithm, leaf.public_key())?;
        let canonical_request = sigv4::canonical_request(
            method,
            path,
            &canonical_query(query)?,
            headers,
            &authorization.signed_headers,
            &sigv4::sha256_hex(body),
        )?;
        let string_to_sign = sigv4::string_to_sign(
            algorithm.as_str(),
            amz_date,
            &authorization.scope(),
            &canonical_request,
        );
        UnparsedPublicKey::new(verification, &leaf.public_key().subject_public_key.data[..])
            .verify(string_to_sign.as_bytes(), &authorization.signature)
            .map_err(|_| {
                Rejection::denied(format!(
                    "The request signature we calculated does not match the signature you \
                     provided. Check your key and signing method. The Canonical String for this \
                     request should have been '{canonical_request}' The String-to-Sign should \
                     have been '{string_to_sign}'"
                ))
            })?;

        // 7. Parameters.
        let parameters = parse_parameters(query, body)?;

        // 8. Trust anchor.
        let trust_anchor = config
            .trust_anchors
            .iter()
            .find(|anchor| anchor.arn == parameters.trust_anchor_arn)
            .ok_or_else(|| {
                Rejection::not_found(format!(
                    "Trust anchor not found: {}",
                    parameters.trust_anchor_arn
                ))
            })?;

        // 9. Certificates.
        check_leaf_profile(&leaf)?;
        check_validity(&leaf, "X-Amz-X509 certificate", now)?;
        for (index, certificate) in chain.iter().enumerate() {
            check_validity(
                certificate,
                &format!("X-Amz-X509-Chain certificate {index}"),
                now,
            )?;
        }
        check_path(&leaf, &chain, &chain_der, trust_anchor, now)?;

        // 10. Profile and role.
        let profile = config
            .profiles
            .iter()
            .find(|profile| profile.arn == parameters.profile_arn)
            .ok_or_else(|| {
                Rejection::not_found(format!("Profile not found: {}", parameters.profile_arn))
            })?;
        if !profile.role_arns.contains(&parameters.role_arn) {
            return Err(Rejection::denied(format!(
                "The role {} is not one of the roles of profile {}",
                parameters.role_arn, profile.arn
            )));
        }

        // 11. Duration and session name.
        let duration_seconds = match parameters.duration_seconds {
            None => profile
                .max_duration_seconds
                .map_or(DEFAULT_DURATION_SECONDS, |max| {
                    max.min(DEFAULT_DURATION_SECONDS)
                }),
            Some(value) => {
                let in_range = u32::try_from(value)
                    .ok()
                    .filter(|value| (MIN_DURATION_SECONDS..=MAX_DURATION_SECONDS).contains(value));
                let Some(value) = in_range else {
                    return Err(Rejection::invalid(format!(
                        "1 validation error detected: Value '{value}' at 'durationSeconds' failed \
                         to satisfy constraint: Member must have value between \
                         {MIN_DURATION_SECONDS} and {MAX_DURATION_SECONDS}"
                    )));
                };
                if let Some(max) = profile.max_duration_seconds
                    && value > max
                {
                    return Err(Rejection::invalid(format!(
                        "durationSeconds {value} exceeds the maximum session duration of \
                             profile {} ({max} seconds)",
                        profile.arn
                    )));
                }
                value
            }
        };
        let role_session_name = match parameters.role_session_name {
            Some(name) => {
                let valid_chars = name.chars().all(|c| {
                    c.is_ascii_alphanumeric()
                        || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
                });
                if !(2..=64).contains(&name.len()) || !valid_chars {
                    return Err(Rejection::invalid(format!(
                        "1 validation error detected: Value '{name}' at 'roleSessionName' failed \
                         to satisfy constraint: Member must have length between 2 and 64 and \
                         match [\\w+=,.@-]*"
                    )));
                }
                name
            }
            None => leaf_serial_hex.clone(),
        };

        Ok(Verified {
            algorithm,
            request_time,
            checked_at: now,
            canonical_request,
            string_to_sign,
            signed_headers: authorization.signed_headers,
            trust_anchor_arn: parameters.trust_anchor_arn,
            profile_arn: parameters.profile_arn,
            role_arn: parameters.role_arn,
            role_session_name,
            duration_seconds,
            leaf_serial,
            leaf_serial_hex,
            source_identity: source_identity(&leaf),
            leaf_der,
            chain_der,
        })
    }

    fn random_bytes(&self, len: usize) -> Result<Vec<u8>, Rejection> {
        let mut bytes = vec![0u8; len];
        self.inner
            .random
            .fill(&mut bytes)
            .map_err(|_| Rejection::new(ErrorType::Internal, "The random source failed"))?;
        Ok(bytes)
    }

    /// `len` characters drawn uniformly from `alphabet` (at most 256 characters).
    fn random_string(&self, alphabet: &[u8], len: usize) -> Result<String, Rejection> {
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

    fn random_uuid(&self) -> Result<String, Rejection> {
        let mut bytes = self.random_bytes(16)?;
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let hex = hex::encode(bytes);
        Ok(format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        ))
    }

    fn issue(&self, verified: &Verified) -> Result<Created, Rejection> {
        const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        const SECRET_ALPHABET: &[u8] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let access_key_id = format!("ASIA{}", self.random_string(UPPER_ALNUM, 16)?);
        let secret_access_key = self.random_string(SECRET_ALPHABET, 40)?;
        let session_token = STANDARD.encode(self.random_bytes(300)?);
        let role_id = format!("AROA{}", self.random_string(UPPER_ALNUM, 17)?);
        let subject_id = self.random_uuid()?;

        let now = verified
            .checked_at
            .replace_nanosecond(0)
            .unwrap_or(verified.checked_at);
        let expiration = now + Duration::seconds(i64::from(verified.duration_seconds));
        let expiration_text = format_rfc3339_z(expiration);
        let account = arn_account(&verified.role_arn);
        let role_name = verified
            .role_arn
            .rsplit('/')
            .next()
            .unwrap_or(&verified.role_arn);
        let session_name = &verified.role_session_name;
        let assumed_role_arn =
            format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}");
        if let Some(registry) = &self.inner.config.registry {
            registry.register(
                &access_key_id,
                &secret_access_key,
                Principal::AssumedRole {
                    arn: assumed_role_arn.clone(),
                    role_arn: verified.role_arn.clone(),
                    account: account.to_owned(),
                    user_id: format!("{role_id}:{session_name}"),
                    mfa_authenticated: false,
                    session_token: session_token.clone(),
                },
                expiration,
            );
        }
        let response_body = serde_json::json!({
            "credentialSet": [{
                "assumedRoleUser": {
                    "arn": assumed_role_arn,
                    "assumedRoleId": format!("{role_id}:{session_name}"),
                },
                "credentials": {
                    "accessKeyId": access_key_id,
                    "secretAccessKey": secret_access_key,
                    "sessionToken": session_token,
                    "expiration": expiration_text,
                },
                "packedPolicySize": 0,
                "roleArn": verified.role_arn,
                "sourceIdentity": verified.source_identity,
            }],
            "subjectArn": format!(
                "arn:aws:rolesanywhere:{}:{}:subject/{subject_id}",
                self.inner.config.region,
                arn_account(&verified.trust_anchor_arn)
            ),
        });
        Ok(Created {
            session: IssuedSession {
                access_key_id,
                secret_access_key,
                session_token,
                role_arn: verified.role_arn.clone(),
                role_session_name: session_name.clone(),
                leaf_serial: verified.leaf_serial.clone(),
                leaf_der: verified.leaf_der.clone(),
                chain_der: verified.chain_der.clone(),
                expiration,
                duration_seconds: verified.duration_seconds,
            },
            response_body,
        })
    }
}

/// The account field of an ARN (`arn:partition:service:region:ACCOUNT:resource`).
fn arn_account(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or(ACCOUNT_ID)
}

// ---------------------------------------------------------------------------------------------
// HTTP serving
// ---------------------------------------------------------------------------------------------

async fn handle(State(fake): State<FakeRolesAnywhere>, request: Request) -> Response {
    let request = match fake.inner.faults.clone().intercept(&fake, request).await {
        Ok(request) => request,
        Err(injected) => return injected,
    };
    let (parts, body) = request.into_parts();
    let result = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => fake.create_session(
            parts.method.as_str(),
            parts.uri.path(),
            parts.uri.query(),
            &parts.headers,
            &body,
        ),
        Err(error) => {
            fake.inner.requests.fetch_add(1, Ordering::SeqCst);
            let rejection = Rejection::invalid(format!(
                "The request body could not be read (at most {MAX_BODY_BYTES} bytes): {error}"
            ));
            fake.record_rejection(&rejection);
            Err(rejection)
        }
    };
    let request_id = fake
        .random_uuid()
        .unwrap_or_else(|_| "00000000-0000-4000-8000-000000000000".to_owned());
    let (status, error_type, body) = match result {
        Ok(created) => (201, None, created.response_body.to_string()),
        Err(rejection) => (
            rejection.status(),
            Some(rejection.error_type.as_str()),
            serde_json::json!({ "message": rejection.message }).to_string(),
        ),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("x-amzn-requestid", value);
    }
    if let Some(error_type) = error_type {
        headers.insert("x-amzn-errortype", HeaderValue::from_static(error_type));
    }
    response
}

/// Accepts connections until aborted; aborting drops the `JoinSet`, which ends every
/// connection task too.
async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>, router: Router) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve_connection(stream, tls.clone(), router.clone()));
                }
                Err(error) => {
                    tracing::warn!(%error, "fake Roles Anywhere: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, tls: Option<TlsAcceptor>, router: Router) {
    let _ = stream.set_nodelay(true);
    let service = hyper_util::service::TowerToHyperService::new(router);
    let http = hyper::server::conn::http1::Builder::new();
    let result = match tls {
        None => {
            http.serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await
        }
        Some(acceptor) => match acceptor.accept(stream).await {
            Ok(stream) => {
                http.serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await
            }
            Err(error) => {
                tracing::debug!(%error, "fake Roles Anywhere: TLS handshake failed");
                return;
            }
        },
    };
    if let Err(error) = result {
        tracing::debug!(%error, "fake Roles Anywhere: connection ended with an error");
    }
}

// ---------------------------------------------------------------------------------------------
// Header parsing
// ---------------------------------------------------------------------------------------------

/// RFC 3339 in UTC with `Z`, as AWS writes expirations.
pub(crate) fn format_rfc3339_z(at: OffsetDateTime) -> String {
    sigv4::format_rfc3339(at)
}

fn decode_certificate_b64(value: &str, label: &str) -> Result<Vec<u8>, Rejection> {
    if value.is_empty() {
        return Err(Rejection::invalid(format!("{label} is empty")));
    }
    let der = STANDARD.decode(value).map_err(|error| {
        Rejection::invalid(format!(
            "{label} is not standard base64 (with padding): {error}"
        ))
    })?;
    parse_certificate(&der).map_err(|error| Rejection::invalid(format!("{label}: {error}")))?;
    Ok(der)
}

fn parse_certificate(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    match X509Certificate::from_der(der) {
        Ok(([], certificate)) => Ok(certificate),
        Ok((rest, _)) => Err(format!("{} bytes follow the DER certificate", rest.len())),
        Err(error) => Err(format!("not a DER X.509 certificate: {error}")),
    }
}

/// Roles Anywhere requires `content-type`, `host`, `x-amz-date`, `x-amz-x509`, the chain
/// header when sent, and every other `x-amz-*` header sent to be signed.
fn check_signed_headers(
    signed: &[String],
    headers: &HeaderMap,
    chain_sent: bool,
) -> Result<(), Rejection> {
    let mut required = vec!["content-type", "host", "x-amz-date", "x-amz-x509"];
    if chain_sent {
        required.push("x-amz-x509-chain");
    }
    for name in headers.keys() {
        let name = name.as_str();
        if name.starts_with("x-amz-") && !required.contains(&name) {
            required.push(name);
        }
    }
    Ok(sigv4::check_signed_headers(signed, headers, &required)?)
}

// ---------------------------------------------------------------------------------------------
// Canonical request
// ---------------------------------------------------------------------------------------------

/// The canonical path (see [`sigv4::canonical_uri`]).
#[cfg(test)]
fn canonical_uri(path: &str) -> Result<String, Rejection> {
    Ok(sigv4::canonical_uri(path)?)
}

/// The received query as decoded pairs, in order (`+` stays `+`).
fn query_pairs(query: Option<&str>) -> Result<Vec<sigv4::QueryPair>, Rejection> {
    Ok(sigv4::query_pairs(query)?)
}

/// The query percent-decoded as received, re-encoded per RFC 3986, sorted.
fn canonical_query(query: Option<&str>) -> Result<String, Rejection> {
    Ok(sigv4::canonical_query(query_pairs(query)?))
}

fn verification_algorithm(
    algorithm: SigningAlgorithm,
    key: &SubjectPublicKeyInfo<'_>,
) -> Result<&'static dyn VerificationAlgorithm, Rejection> {
    let key_type = &key.algorithm.algorithm;
    if *key_type == OID_PKCS1_RSAENCRYPTION {
        if algorithm != SigningAlgorithm::RsaSha256 {
            return Err(Rejection::denied(format!(
                "The X-Amz-X509 certificate has an RSA key, so the algorithm must be \
                 {RSA_ALGORITHM}, not {}",
                algorithm.as_str()
            )));
        }
        if let Ok(PublicKey::RSA(rsa)) = key.parsed() {
            let bits = rsa.key_size();
            if !(2048..=8192).contains(&bits) {
                return Err(Rejection::denied(format!(
                    "The X-Amz-X509 certificate's RSA key has {bits} bits; 2048 to 8192 are \
                     supported"
                )));
            }
        }
        return Ok(&signature::RSA_PKCS1_2048_8192_SHA256);
    }
    if *key_type == OID_KEY_TYPE_EC_PUBLIC_KEY {
        if algorithm != SigningAlgorithm::EcdsaSha256 {
            return Err(Rejection::denied(format!(
                "The X-Amz-X509 certificate has an EC key, so the algorithm must be \
                 {ECDSA_ALGORITHM}, not {}",
                algorithm.as_str()
            )));
        }
        let curve = key
            .algorithm
            .parameters
            .as_ref()
            .and_then(|parameters| parameters.as_oid().ok());
        return match curve {
            Some(curve) if curve == OID_EC_P256 => Ok(&signature::ECDSA_P256_SHA256_ASN1),
            Some(curve) if curve == OID_NIST_EC_P384 => Ok(&signature::ECDSA_P384_SHA256_ASN1),
            other => Err(Rejection::denied(format!(
                "The X-Amz-X509 certificate's EC curve {} is not supported (P-256 or P-384)",
                other.map_or_else(|| "(none)".to_owned(), |oid| oid.to_id_string())
            ))),
        };
    }
    Err(Rejection::denied(format!(
        "The X-Amz-X509 certificate's key type {} is not supported (RSA or EC)",
        key_type.to_id_string()
    )))
}

// ---------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateSessionBody {
    duration_seconds: Option<i64>,
    role_session_name: Option<String>,
    profile_arn: Option<String>,
    role_arn: Option<String>,
    trust_anchor_arn: Option<String>,
    #[allow(dead_code, reason = "accepted like the real API, then ignored")]
    instance_properties: Option<BTreeMap<String, String>>,
}

#[derive(Debug)]
struct Parameters {
    duration_seconds: Option<i64>,
    role_session_name: Option<String>,
    profile_arn: String,
    role_arn: String,
    trust_anchor_arn: String,
}

fn parse_parameters(query: Option<&str>, body: &[u8]) -> Result<Parameters, Rejection> {
    let body: CreateSessionBody = if body.is_empty() {
        CreateSessionBody::default()
    } else {
        serde_json::from_slice(body).map_err(|error| {
            Rejection::invalid(format!(
                "The request body is not a valid CreateSession JSON object: {error}"
            ))
        })?
    };
    let mut from_query: BTreeMap<&'static str, String> = BTreeMap::new();
    for (name, value) in query_pairs(query)? {
        let name = String::from_utf8_lossy(&name).into_owned();
        let key = match name.as_str() {
            "profileArn" => "profileArn",
            "roleArn" => "roleArn",
            "trustAnchorArn" => "trustAnchorArn",
            _ => {
                return Err(Rejection::invalid(format!(
                    "Unknown query parameter '{name}' (only profileArn, roleArn and \
                     trustAnchorArn may be in the query string)"
                )));
            }
        };
        let value = String::from_utf8(value)
            .map_err(|_| Rejection::invalid(format!("The query parameter {key} is not UTF-8")))?;
        if from_query.insert(key, value).is_some() {
            return Err(Rejection::invalid(format!(
                "The query parameter {key} appears more than once"
            )));
        }
    }
    let mut pick = |name: &'static str, in_body: Option<String>| {
        let value = match (in_body, from_query.remove(name)) {
            (Some(in_body), Some(in_query)) if in_body != in_query => {
                return Err(Rejection::invalid(format!(
                    "{name} is given in both the body ('{in_body}') and the query string \
                     ('{in_query}') with different values"
                )));
            }
            (Some(value), _) | (None, Some(value)) => value,
            (None, None) => {
                return Err(Rejection::invalid(format!(
                    "1 validation error detected: Value null at '{name}' failed to satisfy \
                     constraint: Member must not be null (give it in the JSON body or the query \
                     string)"
                )));
            }
        };
        if value.is_empty() {
            return Err(Rejection::invalid(format!("{name} is empty")));
        }
        Ok(value)
    };
    let profile_arn = pick("profileArn", body.profile_arn)?;
    let role_arn = pick("roleArn", body.role_arn)?;
    let trust_anchor_arn = pick("trustAnchorArn", body.trust_anchor_arn)?;
    Ok(Parameters {
        duration_seconds: body.duration_seconds,
        role_session_name: body.role_session_name,
        profile_arn,
        role_arn,
        trust_anchor_arn,
    })
}

// ---------------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------------

fn describe(certificate: &X509Certificate<'_>) -> String {
    certificate.subject().to_string()
}

fn source_identity(leaf: &X509Certificate<'_>) -> String {
    leaf.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map_or_else(|| describe(leaf), |cn| format!("CN={cn}"))
}

fn check_leaf_profile(leaf: &X509Certificate<'_>) -> Result<(), Rejection> {
    let name = describe(leaf);
    if leaf.version() != X509Version::V3 {
        return Err(Rejection::denied(format!(
            "The X-Amz-X509 certificate '{name}' is not an X.509 v3 certificate"
        )));
    }
    if leaf.is_ca() {
        return Err(Rejection::denied(format!(
            "The X-Amz-X509 certificate '{name}' is a CA certificate (basicConstraints CA:TRUE); \
             an end-entity certificate is required"
        )));
    }
    match leaf.key_usage() {
        Ok(Some(usage)) if !usage.value.digital_signature() => {
            return Err(Rejection::denied(format!(
                "The X-Amz-X509 certificate '{name}' has a keyUsage without digitalSignature"
            )));
        }
        Ok(_) => {}
        Err(error) => {
            return Err(Rejection::denied(format!(
                "The X-Amz-X509 certificate '{name}' has an unreadable keyUsage: {error}"
            )));
        }
    }
    let algorithm = &leaf.signature_algorithm.algorithm;
    if [
        OID_PKCS1_SHA1WITHRSA,
        OID_SHA1_WITH_RSA,
        OID_PKCS1_MD5WITHRSAENC,
        OID_PKCS1_MD2WITHRSAENC,
    ]
    .contains(algorithm)
    {
        return Err(Rejection::denied(format!(
            "The X-Amz-X509 certificate '{name}' is signed with a weak algorithm ({}); SHA-256 or \
             stronger is required",
            algorithm.to_id_string()
        )));
    }
    Ok(())
}

fn check_validity(
    certificate: &X509Certificate<'_>,
    label: &str,
    now: OffsetDateTime,
) -> Result<(), Rejection> {
    let validity = certificate.validity();
    let not_before = validity.not_before.to_datetime();
    let not_after = validity.not_after.to_datetime();
    if now < not_before {
        return Err(Rejection::denied(format!(
            "Certificate is not yet valid: the {label} '{}' is valid from {} but it is now {}",
            describe(certificate),
            format_rfc3339_z(not_before),
            format_rfc3339_z(now)
        )));
    }
    if now > not_after {
        return Err(Rejection::denied(format!(
            "Certificate is expired: the {label} '{}' was valid until {} but it is now {}",
            describe(certificate),
            format_rfc3339_z(not_after),
            format_rfc3339_z(now)
        )));
    }
    Ok(())
}

/// Whether `issuer` may have signed `subject`: names match, `issuer` is a CA allowed to sign
/// certificates, and the signature verifies. `Err` says why not.
fn check_issued_by(
    subject: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
) -> Result<(), String> {
    if subject.issuer().as_raw() != issuer.subject().as_raw() {
        return Err(format!(
            "'{}' was issued by '{}', not by '{}'",
            describe(subject),
            subject.issuer(),
            describe(issuer)
        ));
    }
    if !issuer.is_ca() {
        return Err(format!(
            "'{}' is not a CA certificate (basicConstraints CA:TRUE missing)",
            describe(issuer)
        ));
    }
    if let Ok(Some(usage)) = issuer.key_usage()
        && !usage.value.key_cert_sign()
    {
        return Err(format!(
            "'{}' has a keyUsage without keyCertSign",
            describe(issuer)
        ));
    }
    subject
        .verify_signature(Some(issuer.public_key()))
        .map_err(|error| {
            format!(
                "the signature of '{}' does not verify with the key of '{}': {error}",
                describe(subject),
                describe(issuer)
            )
        })
}

fn check_path(
    leaf: &X509Certificate<'_>,
    chain: &[X509Certificate<'_>],
    chain_der: &[Vec<u8>],
    trust_anchor: &TrustAnchor,
    now: OffsetDateTime,
) -> Result<(), Rejection> {
    let anchors: Vec<(&[u8], X509Certificate<'_>)> = trust_anchor
        .ca_certificates_der
        .iter()
        .filter_map(|der| match parse_certificate(der) {
            Ok(certificate) => Some((der.as_slice(), certificate)),
            Err(error) => {
                tracing::warn!(%error, anchor = %trust_anchor.arn, "unreadable trust anchor CA");
                None
            }
        })
        .collect();
    let path: Vec<&X509Certificate<'_>> = std::iter::once(leaf).chain(chain).collect();
    for (index, certificate) in path.iter().enumerate() {
        // A chain may end with the anchor's CA certificate itself.
        if index > 0
            && anchors
                .iter()
                .any(|(der, _)| *der == chain_der[index - 1].as_slice())
        {
            return Ok(());
        }
        if let Some(issuer) = path.get(index + 1) {
            check_issued_by(certificate, issuer).map_err(|reason| {
                Rejection::denied(format!("Invalid certificate chain: {reason}"))
            })?;
            continue;
        }
        // The last certificate must be issued by a CA certificate of the trust anchor.
        let mut reasons = Vec::new();
        for (_, anchor) in &anchors {
            if anchor.subject().as_raw() != certificate.issuer().as_raw() {
                continue;
            }
            match check_issued_by(certificate, anchor).and_then(|()| {
                check_validity(anchor, "trust anchor CA", now).map_err(|r| r.message)
            }) {
                Ok(()) => return Ok(()),
                Err(reason) => reasons.push(reason),
            }
        }
        let hint = if chain.is_empty() && leaf.issuer().as_raw() != leaf.subject().as_raw() {
            " No X-Amz-X509-Chain was sent: if the leaf is issued by an intermediate CA, the \
             chain must carry it."
        } else {
            ""
        };
        return Err(Rejection::denied(if reasons.is_empty() {
            format!(
                "Untrusted certificate: '{}' was issued by '{}', which is not a CA certificate of \
                 trust anchor {}.{hint}",
                describe(certificate),
                certificate.issuer(),
                trust_anchor.arn
            )
        } else {
            format!(
                "Untrusted certificate: '{}' does not chain to trust anchor {}: {}",
                describe(certificate),
                trust_anchor.arn,
                reasons.join("; ")
            )
        }));
    }
    // `path` always holds the leaf, so the loop returns.
    Err(Rejection::denied("Empty certificate path"))
}

#[cfg(test)]
mod tests {
    //! Requests here are built and signed by hand (canonical strings written out, signatures
    //! made by the `openssl` CLI), never with the crate's signer or the fake's own helpers.

    use super::*;
    use crate::clock::FixedClock;
    use axum::http::HeaderName;
    use sha2::{Digest, Sha256};
    use std::path::Path;
    use std::process::Command;
    use std::sync::OnceLock;
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

    const HOST: &str = "rolesanywhere.us-east-1.amazonaws.com";
    const RSA_SERIAL: &str = "123456789012345678901234567890";
    const RSA_SERIAL_HEX: &str = "18ee90ff6c373e0ee4e3f0ad2";
    const P384_SERIAL: &str = "98765432109876543210987654321";
    const P384_SERIAL_HEX: &str = "13f20d9c2fff89d38e1c70cb1";

    #[derive(Debug)]
    struct Leaf {
        der: Vec<u8>,
        key_pem: String,
        serial: &'static str,
        algorithm: &'static str,
    }

    #[derive(Debug)]
    struct Pki {
        root_der: Vec<u8>,
        root_pem: String,
        intermediate_der: Vec<u8>,
        untrusted_root_der: Vec<u8>,
        rsa: Leaf,
        p384: Leaf,
        p256: Leaf,
        short_lived: Leaf,
        untrusted: Leaf,
        ca_leaf: Leaf,
        tls_ca_pem: String,
        tls_server_pem: String,
        tls_server_key: String,
    }

    fn openssl(dir: &Path, args: &[&str]) {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn new_key(dir: &Path, name: &str, kind: &str) {
        let out = format!("{name}.key");
        match kind {
            "rsa" => openssl(
                dir,
                &[
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                    "-out",
                    &out,
                ],
            ),
            curve => openssl(
                dir,
                &[
                    "genpkey",
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    &format!("ec_paramgen_curve:{curve}"),
                    "-out",
                    &out,
                ],
            ),
        }
    }

    fn new_root(dir: &Path, name: &str, cn: &str) {
        new_key(dir, name, "rsa");
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.pem"),
                "-days",
                "3650",
                "-sha256",
                "-subj",
                &format!("/CN={cn}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
    }

    /// A certificate to issue: files `name.*`, key kind, issuer files, subject CN, serial
    /// (decimal), validity in days, extension lines.
    struct Issue<'a> {
        name: &'a str,
        kind: &'a str,
        issuer: &'a str,
        cn: &'a str,
        serial: &'a str,
        days: &'a str,
        ext: &'a str,
    }

    fn issue(dir: &Path, spec: &Issue<'_>) {
        let Issue {
            name,
            kind,
            issuer,
            cn,
            serial,
            days,
            ext,
        } = *spec;
        new_key(dir, name, kind);
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-key",
                &format!("{name}.key"),
                "-subj",
                &format!("/CN={cn}"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{issuer}.pem"),
                "-CAkey",
                &format!("{issuer}.key"),
                "-set_serial",
                serial,
                "-days",
                days,
                "-sha256",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.pem"),
            ],
        );
    }

    fn der(dir: &Path, name: &str) -> Vec<u8> {
        openssl(
            dir,
            &[
                "x509",
                "-in",
                &format!("{name}.pem"),
                "-outform",
                "DER",
                "-out",
                &format!("{name}.der"),
            ],
        );
        std::fs::read(dir.join(format!("{name}.der"))).unwrap()
    }

    fn text(dir: &Path, file: &str) -> String {
        std::fs::read_to_string(dir.join(file)).unwrap()
    }

    const LEAF_EXT: &str =
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n";
    const CA_EXT: &str =
        "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n";

    const TLS_SERVER_EXT: &str = "basicConstraints=critical,CA:FALSE\n\
        keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n\
        subjectAltName=DNS:rolesanywhere.us-east-1.amazonaws.com,DNS:localhost,IP:127.0.0.1\n";

    /// `(name, key kind, issuer, CN, serial, days, extensions)`, issuers before what they
    /// issue; `root`, `untrusted-root` and `tls-ca` are self-signed roots made first.
    const CERTIFICATES: &[(&str, &str, &str, &str, &str, &str, &str)] = &[
        (
            "intermediate",
            "P-256",
            "root",
            "needroleshere test intermediate CA",
            "1001",
            "3650",
            CA_EXT,
        ),
        (
            "rsa",
            "rsa",
            "intermediate",
            "needroleshere test rsa2048",
            RSA_SERIAL,
            "365",
            LEAF_EXT,
        ),
        (
            "p384",
            "P-384",
            "intermediate",
            "needroleshere test p384",
            P384_SERIAL,
            "365",
            LEAF_EXT,
        ),
        (
            "p256",
            "P-256",
            "intermediate",
            "needroleshere test p256",
            "4242",
            "365",
            LEAF_EXT,
        ),
        (
            "short",
            "P-256",
            "intermediate",
            "needroleshere test short",
            "4343",
            "1",
            LEAF_EXT,
        ),
        (
            "caleaf",
            "P-256",
            "intermediate",
            "needroleshere test ca leaf",
            "4444",
            "365",
            CA_EXT,
        ),
        (
            "untrusted",
            "P-256",
            "untrusted-root",
            "needroleshere untrusted",
            "4545",
            "365",
            LEAF_EXT,
        ),
        (
            "tls-server",
            "P-256",
            "tls-ca",
            HOST,
            "4646",
            "365",
            TLS_SERVER_EXT,
        ),
    ];

    /// Generated once per test process, kept in memory (no directory outlives the build).
    fn pki() -> &'static Pki {
        static PKI: OnceLock<Pki> = OnceLock::new();
        PKI.get_or_init(|| {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path();
            new_root(dir, "root", "needroleshere test root CA");
            new_root(dir, "untrusted-root", "needroleshere untrusted root CA");
            new_root(dir, "tls-ca", "needroleshere test TLS CA");
            for &(name, kind, issuer, cn, serial, days, ext) in CERTIFICATES {
                let spec = Issue {
                    name,
                    kind,
                    issuer,
                    cn,
                    serial,
                    days,
                    ext,
                };
                issue(dir, &spec);
            }
            let leaf = |name: &str, serial: &'static str, algorithm: &'static str| Leaf {
                der: der(dir, name),
                key_pem: text(dir, &format!("{name}.key")),
                serial,
                algorithm,
            };
            Pki {
                root_der: der(dir, "root"),
                root_pem: text(dir, "root.pem"),
                intermediate_der: der(dir, "intermediate"),
                untrusted_root_der: der(dir, "untrusted-root"),
                rsa: leaf("rsa", RSA_SERIAL, RSA_ALGORITHM),
                p384: leaf("p384", P384_SERIAL, ECDSA_ALGORITHM),
                p256: leaf("p256", "4242", ECDSA_ALGORITHM),
                short_lived: leaf("short", "4343", ECDSA_ALGORITHM),
                untrusted: leaf("untrusted", "4545", ECDSA_ALGORITHM),
                ca_leaf: leaf("caleaf", "4444", ECDSA_ALGORITHM),
                tls_ca_pem: text(dir, "tls-ca.pem"),
                tls_server_pem: text(dir, "tls-server.pem"),
                tls_server_key: text(dir, "tls-server.key"),
            }
        })
    }

    fn openssl_sign(key_pem: &str, data: &str) -> Vec<u8> {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("key.pem"), key_pem).unwrap();
        std::fs::write(tmp.path().join("data"), data).unwrap();
        openssl(
            tmp.path(),
            &["dgst", "-sha256", "-sign", "key.pem", "-out", "sig", "data"],
        );
        std::fs::read(tmp.path().join("sig")).unwrap()
    }

    /// Now, read after the PKI exists (certificates are valid from their creation second).
    fn now() -> OffsetDateTime {
        pki();
        SystemClock.now().replace_nanosecond(0).unwrap()
    }

    fn amz(at: OffsetDateTime) -> String {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        )
    }

    fn rfc3339(at: OffsetDateTime) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        )
    }

    fn config(clock: OffsetDateTime) -> Config {
        Config {
            region: REGION.to_owned(),
            trust_anchors: vec![TrustAnchor {
                arn: TRUST_ANCHOR_ARN.to_owned(),
                ca_certificates_der: vec![pki().root_der.clone()],
            }],
            profiles: vec![Profile {
                arn: PROFILE_ARN.to_owned(),
                role_arns: vec![ROLE_ARN.to_owned(), OTHER_ROLE_ARN.to_owned()],
                max_duration_seconds: None,
            }],
            clock: Arc::new(FixedClock::new(clock)),
            registry: None,
        }
    }

    fn body(duration: u32, role: &str) -> String {
        format!(
            r#"{{"durationSeconds":{duration},"profileArn":"{PROFILE_ARN}","roleArn":"{role}","trustAnchorArn":"{TRUST_ANCHOR_ARN}"}}"#
        )
    }

    #[derive(Debug, Clone)]
    struct Req {
        algorithm: &'static str,
        leaf: &'static Leaf,
        chain: Vec<Vec<u8>>,
        credential_serial: String,
        region: String,
        date: OffsetDateTime,
        path: String,
        query_sent: String,
        query_canonical: String,
        body: String,
        sent_body: Option<String>,
        unsigned_header: Option<&'static str>,
    }

    impl Req {
        fn new(leaf: &'static Leaf, date: OffsetDateTime) -> Self {
            Self {
                algorithm: leaf.algorithm,
                leaf,
                chain: vec![pki().intermediate_der.clone()],
                credential_serial: leaf.serial.to_owned(),
                region: REGION.to_owned(),
                date,
                path: "/sessions".to_owned(),
                query_sent: String::new(),
                query_canonical: String::new(),
                body: body(3600, ROLE_ARN),
                sent_body: None,
                unsigned_header: None,
            }
        }

        /// Headers and body, signed by hand.
        fn signed(&self) -> (HeaderMap, Vec<u8>) {
            let amz_date = amz(self.date);
            let day = &amz_date[..8];
            let mut list = vec![
                ("content-type", "application/json".to_owned()),
                ("host", HOST.to_owned()),
                ("x-amz-date", amz_date.clone()),
                ("x-amz-x509", STANDARD.encode(&self.leaf.der)),
            ];
            if !self.chain.is_empty() {
                let chain: Vec<String> =
                    self.chain.iter().map(|der| STANDARD.encode(der)).collect();
                list.push(("x-amz-x509-chain", chain.join(",")));
            }
            let signed: Vec<&(&str, String)> = list
                .iter()
                .filter(|(name, _)| Some(*name) != self.unsigned_header)
                .collect();
            let canonical_headers: String = signed
                .iter()
                .map(|(name, value)| format!("{name}:{value}\n"))
                .collect();
            let signed_names = signed
                .iter()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(";");
            let canonical = format!(
                "POST\n{}\n{}\n{canonical_headers}\n{signed_names}\n{}",
                self.path,
                self.query_canonical,
                hex::encode(Sha256::digest(self.body.as_bytes()))
            );
            let scope = format!("{day}/{}/rolesanywhere/aws4_request", self.region);
            let string_to_sign = format!(
                "{}\n{amz_date}\n{scope}\n{}",
                self.algorithm,
                hex::encode(Sha256::digest(canonical.as_bytes()))
            );
            let signature = openssl_sign(&self.leaf.key_pem, &string_to_sign);
            let mut headers = HeaderMap::new();
            for (name, value) in &list {
                headers.insert(
                    HeaderName::from_static(name),
                    HeaderValue::from_str(value).unwrap(),
                );
            }
            let authorization = format!(
                "{} Credential={}/{scope}, SignedHeaders={signed_names}, Signature={}",
                self.algorithm,
                self.credential_serial,
                hex::encode(signature)
            );
            headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(&authorization).unwrap(),
            );
            let body = self.sent_body.clone().unwrap_or_else(|| self.body.clone());
            (headers, body.into_bytes())
        }
    }

    fn submit(fake: &FakeRolesAnywhere, req: &Req) -> Result<Created, Rejection> {
        let (headers, body) = req.signed();
        let query = (!req.query_sent.is_empty()).then_some(req.query_sent.as_str());
        fake.create_session("POST", &req.path, query, &headers, &body)
    }

    fn refused(
        fake: &FakeRolesAnywhere,
        req: &Req,
        error_type: ErrorType,
        needle: &str,
    ) -> Rejection {
        let rejection = submit(fake, req).expect_err("the fake must refuse");
        assert_eq!(rejection.error_type, error_type, "{rejection}");
        assert!(
            rejection.message.contains(needle),
            "expected '{needle}' in: {}",
            rejection.message
        );
        let last = fake.rejections().pop().unwrap();
        assert_eq!(
            last,
            (
                rejection.status(),
                error_type.as_str().to_owned(),
                rejection.message.clone()
            )
        );
        assert!(fake.sessions().is_empty());
        rejection
    }

    #[test]
    fn a_valid_rsa_request_is_accepted_and_recorded() {
        let now = now();
        let fake = FakeRolesAnywhere::new(config(now));
        let created = submit(&fake, &Req::new(&pki().rsa, now)).unwrap();
        let session = &created.session;
        assert!(session.access_key_id.starts_with("ASIA"));
        assert_eq!(session.access_key_id.len(), 20);
        assert!(
            session
                .access_key_id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
        assert_eq!(session.secret_access_key.len(), 40);
        assert!(session.session_token.len() > 100);
        assert_eq!(session.role_arn, ROLE_ARN);
        assert_eq!(session.role_session_name, RSA_SERIAL_HEX);
        assert_eq!(session.leaf_serial, RSA_SERIAL);
        assert_eq!(session.leaf_der, pki().rsa.der);
        assert_eq!(session.chain_der, vec![pki().intermediate_der.clone()]);
        assert_eq!(session.duration_seconds, 3600);
        assert_eq!(session.expiration, now + Duration::hours(1));

        let set = &created.response_body["credentialSet"][0];
        assert_eq!(
            set["credentials"]["accessKeyId"],
            session.access_key_id.as_str()
        );
        assert_eq!(
            set["credentials"]["secretAccessKey"],
            session.secret_access_key.as_str()
        );
        assert_eq!(
            set["credentials"]["sessionToken"],
            session.session_token.as_str()
        );
        assert_eq!(
            set["credentials"]["expiration"],
            rfc3339(now + Duration::hours(1)).as_str()
        );
        assert_eq!(
            set["assumedRoleUser"]["arn"],
            format!("arn:aws:sts::123456789012:assumed-role/needroleshere-test/{RSA_SERIAL_HEX}")
                .as_str()
        );
        let role_id = set["assumedRoleUser"]["assumedRoleId"].as_str().unwrap();
        assert!(
            role_id.starts_with("AROA") && role_id.ends_with(&format!(":{RSA_SERIAL_HEX}")),
            "{role_id}"
        );
        assert_eq!(set["packedPolicySize"], 0);
        assert_eq!(set["roleArn"], ROLE_ARN);
        assert_eq!(set["sourceIdentity"], "CN=needroleshere test rsa2048");
        let subject = created.response_body["subjectArn"].as_str().unwrap();
        assert!(
            subject.starts_with("arn:aws:rolesanywhere:us-east-1:123456789012:subject/"),
            "{subject}"
        );

        assert_eq!(fake.request_count(), 1);
        assert_eq!(fake.sessions().len(), 1);
        assert!(fake.rejections().is_empty());
        let shown = format!("{:?}", fake.sessions());
        assert!(
            !shown.contains(&session.secret_access_key) && !shown.contains(&session.session_token)
        );
    }

    #[test]
    fn issued_sessions_are_registered_and_accepted_by_the_fake_sts() {
        use super::super::sts::{FakeSts, StsConfig, sigv4_headers};
        let now = now();
        let registry = Registry::new();
        let fake = FakeRolesAnywhere::new(config(now).with_registry(registry.clone()));
        let session = submit(&fake, &Req::new(&pki().rsa, now)).unwrap().session;
        let (secret, principal, expiration) = registry.lookup(&session.access_key_id).unwrap();
        assert_eq!(secret, session.secret_access_key);
        assert_eq!(expiration, Some(session.expiration));
        let arn =
            format!("arn:aws:sts::123456789012:assumed-role/needroleshere-test/{RSA_SERIAL_HEX}");
        assert_eq!(principal.arn(), arn);
        assert_eq!(
            principal.session_token(),
            Some(session.session_token.as_str())
        );
        assert!(!principal.mfa_authenticated());

        // GetCallerIdentity with the issued credentials, signed with aws-sigv4.
        let sts =
            FakeSts::new(StsConfig::example(registry).with_clock(Arc::new(FixedClock::new(now))));
        let host = "sts.us-east-1.amazonaws.com";
        let body = b"Action=GetCallerIdentity&Version=2011-06-15";
        let list = vec![
            (
                "content-type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            ),
            ("host".to_owned(), host.to_owned()),
        ];
        let added = sigv4_headers(
            "POST",
            &format!("https://{host}/"),
            &list,
            body,
            &session.access_key_id,
            &session.secret_access_key,
            Some(&session.session_token),
            REGION,
            "sts",
            now,
        );
        let mut headers = HeaderMap::new();
        for (name, value) in list.into_iter().chain(added) {
            headers.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(&value).unwrap(),
            );
        }
        let answer = sts.handle("POST", "/", None, &headers, body).unwrap();
        assert!(
            answer.body.contains(&format!("<Arn>{arn}</Arn>")),
            "{}",
            answer.body
        );
        assert!(answer.body.contains(&format!(":{RSA_SERIAL_HEX}</UserId>")));

        // Without a registry nothing is registered.
        let unregistered = FakeRolesAnywhere::new(config(now));
        let other = submit(&unregistered, &Req::new(&pki().rsa, now))
            .unwrap()
            .session;
        assert!(sts.registry().lookup(&other.access_key_id).is_none());
    }

    #[test]
    fn a_valid_p384_request_with_arns_in_the_query_is_accepted() {
        let now = now();
        let fake = FakeRolesAnywhere::new(config(now));
        let mut req = Req::new(&pki().p384, now);
        // Sent unsorted, with lowercase escapes; signed in canonical form.
        req.query_sent = "trustAnchorArn=arn%3aaws%3arolesanywhere%3aus-east-1%3a123456789012%3atrust-anchor%2f0f9c5a46-2b63-4d5b-9b4e-6a3a3f1e2d11\
            &roleArn=arn:aws:iam::123456789012:role/needroleshere-other\
            &profileArn=arn%3Aaws%3Arolesanywhere%3Aus-east-1%3A123456789012%3Aprofile%2F7d3f2c1b-5a4e-4f60-8e2d-1c0b9a8f7e6d"
            .to_owned();
        req.query_canonical = "profileArn=arn%3Aaws%3Arolesanywhere%3Aus-east-1%3A123456789012%3Aprofile%2F7d3f2c1b-5a4e-4f60-8e2d-1c0b9a8f7e6d\
            &roleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fneedroleshere-other\
            &trustAnchorArn=arn%3Aaws%3Arolesanywhere%3Aus-east-1%3A123456789012%3Atrust-anchor%2F0f9c5a46-2b63-4d5b-9b4e-6a3a3f1e2d11"
            .to_owned();
        req.body = r#"{"durationSeconds":900,"roleSessionName":"my.session@host"}"#.to_owned();
        let created = submit(&fake, &req).unwrap();
        assert_eq!(created.session.role_arn, OTHER_ROLE_ARN);
        assert_eq!(created.session.role_session_name, "my.session@host");
        assert_eq!(created.session.leaf_serial, P384_SERIAL);
        assert_eq!(created.session.duration_seconds, 900);
        assert_eq!(created.session.expiration, now + Duration::seconds(900));
        assert_eq!(
            created.response_body["credentialSet"][0]["assumedRoleUser"]["arn"],
            "arn:aws:sts::123456789012:assumed-role/needroleshere-other/my.session@host"
        );

        let (headers, body) = req.signed();
        let verified = fake
            .verify("POST", "/sessions", Some(&req.query_sent), &headers, &body)
            .unwrap();
        assert_eq!(verified.algorithm, SigningAlgorithm::EcdsaSha256);
        assert_eq!(verified.leaf_serial_hex, P384_SERIAL_HEX);
        assert!(verified.canonical_request.contains(&req.query_canonical));
    }

    #[test]
    fn p256_with_the_root_at_the_end_of_the_chain_and_a_path_prefix_is_accepted() {
        let now = now();
        let fake = FakeRolesAnywhere::with_path_prefix(config(now), "/prefix/");
        let mut req = Req::new(&pki().p256, now);
        req.chain.push(pki().root_der.clone());
        req.path = "/prefix/sessions".to_owned();
        req.body = format!(
            r#"{{"profileArn":"{PROFILE_ARN}","roleArn":"{ROLE_ARN}","trustAnchorArn":"{TRUST_ANCHOR_ARN}","instanceProperties":{{"k":"v"}}}}"#
        );
        let created = submit(&fake, &req).unwrap();
        assert_eq!(created.session.duration_seconds, DEFAULT_DURATION_SECONDS);
        assert_eq!(created.session.role_session_name, "1092");
        assert_eq!(created.session.chain_der.len(), 2);
        // The same request on the unprefixed path is another operation.
        req.path = "/sessions".to_owned();
        refused(
            &FakeRolesAnywhere::with_path_prefix(config(now), "/prefix"),
            &req,
            ErrorType::UnknownOperation,
            "POST /prefix/sessions",
        );
    }

    #[test]
    fn a_tampered_body_is_refused() {
        let now = now();
        let fake = FakeRolesAnywhere::new(config(now));
        let mut req = Req::new(&pki().rsa, now);
        req.sent_body = Some(body(43200, ROLE_ARN));
        let rejection = refused(
            &fake,
            &req,
            ErrorType::AccessDenied,
            "signature we calculated does not match",
        );
        assert_eq!(rejection.status(), 403);
        assert_eq!(fake.request_count(), 1);
    }

    #[test]
    fn a_wrong_serial_is_refused() {
        let now = now();
        let fake = FakeRolesAnywhere::new(config(now));
        let mut req = Req::new(&pki().rsa, now);
        req.credential_serial = RSA_SERIAL_HEX.replace(|c: char| !c.is_ascii_digit(), "");
        refused(
            &fake,
            &req,
            ErrorType::AccessDenied,
            "is not the serial number",
        );
        // A hex serial is not even a decimal number.
        req.credential_serial = RSA_SERIAL_HEX.to_owned();
        refused(&fake, &req, ErrorType::Validation, "not a decimal number");
    }

    #[test]
    fn a_wrong_region_is_refused() {
        let now = now();
        let fake = FakeRolesAnywhere::new(config(now));
        let mut req = Req::new(&pki().p384, now);
        req.region = "us-west-2".to_owned();
        refused(
            &fake,
            &req,
            ErrorType::AccessDenied,
            "valid region, not 'us-west-2'",
        );
    }

    #[test]
    fn a_skewed_date_is_refused_but_small_skew_is_fine() {
        let now = now();
        let fake = FakeRolesAnywhere::new(config(now));
        let past = refused(
            &fake,
            &Req::new(&pki().p256, now - Duration::minutes(6)),
            ErrorType::AccessDenied,
            "Signature expired",
        );
        assert!(past.message.contains("too skewed"), "{}", past.message);
        assert!(
            past.message.contains(&amz(now - Duration::minutes(6))),
            "{}",
            past.message
        );
        let future = refused(
            &fake,
            &Req::new(&pki().p256, now + Duration::minutes(6)),
            ErrorType::AccessDenied,
            "Signature not yet current",
        );
        assert!(future.message.contains("too skewed"), "{}", future.message);
        submit(&fake, &Req::new(&pki().p256, now - Duration::minutes(4))).unwrap();
        submit(&fake, &Req::new(&pki().p256, now + Duration::minutes(5))).unwrap();
    }

    #[test]
    fn a_leaf_from_an_untrusted_root_is_refused() {
        let now = now();
        let fake = FakeRolesAnywhere::new(config(now));
        let mut req = Req::new(&pki().untrusted, now);
        req.chain.clear();
        refused(
            &fake,
            &req,
            ErrorType::AccessDenied,
            "Untrusted certificate",
        );
        req.chain = vec![pki().untrusted_root_der.clone()];
        refused(
            &fake,
            &req,
            ErrorType::AccessDenied,
            "Untrusted certificate",
        );
        // A trusted intermediate does not help a leaf it did not issue.
        req.chain = vec![pki().intermediate_der.clone()];
        refused(
            &fake,
            &req,
            ErrorType::AccessDenied,
            "Invalid certificate chain",
        );
    }

    #[test]
    fn an_expired_leaf_is_refused() {
        let later = now() + Duration::days(2);
        let fake = FakeRolesAnywhere::new(config(later));
        let rejection = refused(
            &fake,
            &Req::new(&pki().short_lived, later),
            ErrorType::AccessDenied,
            "Certificate is expired",
        );
        assert!(
            rejection.message.contains("X-Amz-X509 certificate"),
            "{}",
            rejection.message
        );
    }

    #[test]
    fn a_not_yet_valid_leaf_is_refused() {
        let earlier = now() - Duration::days(1);
        let fake = FakeRolesAnywhere::new(config(earlier));
        refused(
            &fake,
            &Req::new(&pki().p256, earlier),
            ErrorType::AccessDenied,
            "Certificate is not yet valid",
        );
    }

    #[test]
    fn a_missing_chain_is_refused() {
        let now = now();
        let fake = FakeRolesAnywhere::new(config(now));
        let mut req = Req::new(&pki().rsa, now);
        req.chain.clear();
        refused(
            &fake,
            &req,
            ErrorType::AccessDenied,
            "No X-Amz-X509-Chain was sent",
        );
    }

    #[test]
    fn a_ca_certificate_as_leaf_is_refused() {
        let now = now();
        let fake = FakeRolesAnywhere::new(config(now));
        refused(
            &fake,
            &Req::new(&pki().ca_leaf, now),
            ErrorType::AccessDenied,
            "is a CA certificate",
        );
    }

    #[test]
    fn a_role_outside_the_profile_is_refused() {
        let now = now();
        let fake = FakeRolesAnywhere::new(config(now));
        let mut req = Req::new(&pki().p384, now);
        req.body = body(3600, FORBIDDEN_ROLE_ARN);
        refused(
            &fake,
            &req,
            ErrorType::AccessDenied,
            "is not one of the roles of profile",
        );
    }

    #[test]
    fn bad_durations_are_refused() {
        let now = now();
        let fake = FakeRolesAnywhere::new(config(now));
        let mut req = Req::new(&pki().p256, now);
        for duration in [899, 43201] {
            req.body = body(duration, ROLE_ARN);
            let rejection = refused(&fake, &req, ErrorType::Validation, "durationSeconds");
            assert_eq!(rejection.status(), 400);
        }
        req.body = body(3600, ROLE_ARN).replace("3600", "\"3600\"");
        refused(
            &fake,
            &req,
            ErrorType::Validation,
            "not a valid CreateSession JSON object",
        );

        let mut limited = config(now);
        limited.profiles[0].max_duration_seconds = Some(1800);
        let fake = FakeRolesAnywhere::new(limited);
        req.body = body(3600, ROLE_ARN);
        refused(
            &fake,
            &req,
            ErrorType::Validation,
            "exceeds the maximum session duration",
        );
        req.body = body(1800, ROLE_ARN);
        assert_eq!(submit(&fake, &req).unwrap().session.duration_seconds, 1800);
    }

    #[test]
    fn unknown_trust_anchors_and_profiles_are_not_found() {
        let now = now();
        let fake = FakeRolesAnywhere::new(config(now));
        let mut req = Req::new(&pki().p256, now);
        req.body = body(3600, ROLE_ARN).replace("trust-anchor/0f9c", "trust-anchor/ffff");
        let rejection = refused(
            &fake,
            &req,
            ErrorType::ResourceNotFound,
            "Trust anchor not found",
        );
        assert_eq!(rejection.status(), 404);
        req.body = body(3600, ROLE_ARN).replace("profile/7d3f", "profile/ffff");
        refused(
            &fake,
            &req,
            ErrorType::ResourceNotFound,
            "Profile not found",
        );
    }

    #[test]
    fn signing_mistakes_are_refused() {
        let now = now();
        let fake = FakeRolesAnywhere::new(config(now));
        let mut req = Req::new(&pki().rsa, now);
        req.algorithm = ECDSA_ALGORITHM;
        refused(
            &fake,
            &req,
            ErrorType::AccessDenied,
            "must be AWS4-X509-RSA-SHA256",
        );

        let mut req = Req::new(&pki().p384, now);
        req.unsigned_header = Some("x-amz-x509-chain");
        refused(
            &fake,
            &req,
            ErrorType::AccessDenied,
            "must include 'x-amz-x509-chain'",
        );
        req.unsigned_header = Some("content-type");
        refused(
            &fake,
            &req,
            ErrorType::AccessDenied,
            "must include 'content-type'",
        );

        // The signature of another leaf's key.
        let mut req = Req::new(&pki().p256, now);
        let (mut headers, body) = req.signed();
        req.leaf = &pki().short_lived;
        headers.insert(
            "x-amz-x509",
            HeaderValue::from_str(&STANDARD.encode(&pki().short_lived.der)).unwrap(),
        );
        let authorization = headers[header::AUTHORIZATION]
            .to_str()
            .unwrap()
            .replace("Credential=4242/", "Credential=4343/");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&authorization).unwrap(),
        );
        let rejection = fake
            .create_session("POST", "/sessions", None, &headers, &body)
            .unwrap_err();
        assert_eq!(rejection.error_type, ErrorType::AccessDenied);
        assert!(
            rejection.message.contains("does not match"),
            "{}",
            rejection.message
        );
    }

    #[test]
    fn malformed_headers_are_validation_errors() {
        let now = now();
        let fake = FakeRolesAnywhere::new(config(now));
        let req = Req::new(&pki().p256, now);
        let (headers, body) = req.signed();
        let cases: Vec<(&str, Option<&str>, &str)> = vec![
            ("authorization", None, "Missing Authorization"),
            (
                "authorization",
                Some("AWS4-HMAC-SHA256 Credential=x"),
                "Unsupported Authorization algorithm",
            ),
            (
                "authorization",
                Some("AWS4-X509-ECDSA-SHA256 Credential=1/2/3"),
                "Malformed Authorization",
            ),
            ("x-amz-date", None, "Missing X-Amz-Date"),
            (
                "x-amz-date",
                Some("2026-01-02T03:04:05Z"),
                "YYYYMMDDTHHMMSSZ",
            ),
            ("x-amz-x509", None, "Missing X-Amz-X509"),
            ("x-amz-x509", Some("not base64!"), "standard base64"),
            (
                "x-amz-x509",
                Some("aGVsbG8="),
                "not a DER X.509 certificate",
            ),
            ("content-type", Some("text/plain"), "application/json"),
        ];
        for (name, value, needle) in cases {
            let mut headers = headers.clone();
            match value {
                Some(value) => {
                    headers.insert(
                        HeaderName::from_static(name),
                        HeaderValue::from_static(value),
                    );
                }
                None => {
                    headers.remove(name);
                }
            }
            let rejection = fake
                .create_session("POST", "/sessions", None, &headers, &body)
                .unwrap_err();
            assert_eq!(
                rejection.error_type,
                ErrorType::Validation,
                "{name}: {rejection}"
            );
            assert!(
                rejection.message.contains(needle),
                "{name}: expected '{needle}' in {}",
                rejection.message
            );
        }
        let mut chained = headers.clone();
        chained.insert(
            "x-amz-x509-chain",
            HeaderValue::from_str(&STANDARD.encode(&pki().p256.der)).unwrap(),
        );
        let rejection = fake
            .create_session("POST", "/sessions", None, &chained, &body)
            .unwrap_err();
        assert!(
            rejection.message.contains("is the leaf certificate"),
            "{rejection}"
        );
        let wrong = fake
            .create_session("GET", "/sessions", None, &headers, &body)
            .unwrap_err();
        assert_eq!(
            (wrong.status(), wrong.error_type),
            (404, ErrorType::UnknownOperation)
        );
        assert_eq!(fake.request_count(), 11);
        assert_eq!(fake.rejections().len(), 11);
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(canonical_uri("/sessions").unwrap(), "/sessions");
        assert_eq!(canonical_uri("").unwrap(), "/");
        assert_eq!(
            canonical_uri("/a%20b/~user/x:y").unwrap(),
            "/a%2520b/~user/x%3Ay"
        );
        assert!(canonical_uri("/a%zzb").is_err());
        assert_eq!(
            canonical_query(Some("b=2&a=z&a=y&c&d=%2f+")).unwrap(),
            "a=y&a=z&b=2&c=&d=%2F%2B"
        );
        assert_eq!(canonical_query(None).unwrap(), "");
        assert!(canonical_query(Some("a=%zz")).is_err());
    }

    #[test]
    fn config_from_pki_dir_uses_root_ca_pem() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(Config::from_pki_dir(tmp.path()).is_err());
        std::fs::write(tmp.path().join("root-ca.pem"), &pki().root_pem).unwrap();
        let config = Config::from_pki_dir(tmp.path()).unwrap();
        assert_eq!(config.region, REGION);
        assert_eq!(config.trust_anchors[0].arn, TRUST_ANCHOR_ARN);
        assert_eq!(
            config.trust_anchors[0].ca_certificates_der,
            vec![pki().root_der.clone()]
        );
        assert_eq!(config.profiles[0].arn, PROFILE_ARN);
        assert_eq!(
            config.profiles[0].role_arns,
            vec![ROLE_ARN.to_owned(), OTHER_ROLE_ARN.to_owned()]
        );
        assert!(
            !config.profiles[0]
                .role_arns
                .iter()
                .any(|role| role == FORBIDDEN_ROLE_ARN)
        );
    }

    /// Sends `req` as raw HTTP/1.1 and returns (status, lowercase headers, body).
    async fn http_exchange<S: AsyncRead + AsyncWrite + Unpin>(
        mut stream: S,
        req: &Req,
    ) -> (u16, Vec<(String, String)>, serde_json::Value) {
        let (headers, body) = req.signed();
        let mut request = format!("POST {} HTTP/1.1\r\n", req.path);
        for (name, value) in &headers {
            request.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
        }
        request.push_str(&format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        ));
        stream.write_all(request.as_bytes()).await.unwrap();
        stream.write_all(&body).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        let response = String::from_utf8(response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap();
                (name.to_ascii_lowercase(), value.trim().to_owned())
            })
            .collect();
        (status, headers, serde_json::from_str(body).unwrap())
    }

    fn header_of<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[tokio::test]
    async fn serves_http() {
        let now = now();
        let fake = FakeRolesAnywhere::new(config(now));
        let running = fake
            .spawn_http("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(running.url(), format!("http://{}", running.addr));

        let stream = TcpStream::connect(running.addr).await.unwrap();
        let (status, headers, body) = http_exchange(stream, &Req::new(&pki().rsa, now)).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(
            header_of(&headers, "content-type"),
            Some("application/json")
        );
        assert_eq!(header_of(&headers, "x-amzn-errortype"), None);
        let session = fake.sessions().pop().unwrap();
        assert_eq!(
            body["credentialSet"][0]["credentials"]["accessKeyId"],
            session.access_key_id.as_str()
        );

        let mut tampered = Req::new(&pki().rsa, now);
        tampered.sent_body = Some(body_text_with_other_role());
        let stream = TcpStream::connect(running.addr).await.unwrap();
        let (status, headers, body) = http_exchange(stream, &tampered).await;
        assert_eq!(status, 403);
        assert_eq!(
            header_of(&headers, "x-amzn-errortype"),
            Some("AccessDeniedException")
        );
        assert_eq!(
            header_of(&headers, "content-type"),
            Some("application/json")
        );
        assert!(
            body["message"].as_str().unwrap().contains("does not match"),
            "{body}"
        );
        assert_eq!(body.as_object().unwrap().len(), 1);

        assert_eq!(fake.request_count(), 2);
        assert_eq!(fake.sessions().len(), 1);
        assert_eq!(fake.rejections().len(), 1);

        let addr = running.addr;
        running.shutdown();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "still listening after shutdown"
        );
    }

    fn body_text_with_other_role() -> String {
        body(3600, OTHER_ROLE_ARN)
    }

    #[tokio::test]
    async fn serves_https() {
        let now = now();
        let tmp = tempfile::tempdir().unwrap();
        let cert = tmp.path().join("tls-server.pem");
        let key = tmp.path().join("tls-server.key");
        let ca = tmp.path().join("tls-ca.pem");
        std::fs::write(&cert, &pki().tls_server_pem).unwrap();
        std::fs::write(&key, &pki().tls_server_key).unwrap();
        std::fs::write(&ca, &pki().tls_ca_pem).unwrap();

        let fake = FakeRolesAnywhere::new(config(now));
        let running = fake
            .spawn_https("127.0.0.1:0".parse().unwrap(), &cert, &key)
            .await
            .unwrap();
        assert!(running.url().starts_with("https://127.0.0.1:"));
        let mut client = (*super::super::tls::client_config(&ca).unwrap()).clone();
        client.alpn_protocols = vec![b"http/1.1".to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let tcp = TcpStream::connect(running.addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from(HOST).unwrap();
        let tls = connector.connect(name, tcp).await.unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        let (status, _, body) = http_exchange(tls, &Req::new(&pki().p384, now)).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(fake.sessions().len(), 1);
    }
}
