//! A strict fake of AWS STS (the Query API,
//! <https://docs.aws.amazon.com/STS/latest/APIReference/welcome.html>), so that a signing or
//! protocol bug in a client fails a test instead of passing against a lenient double.
//!
//! Contract:
//! * Requests are `POST /` with an `application/x-www-form-urlencoded` body, or `GET /` with
//!   the parameters in the query string (query parameters are also read on `POST`). Every
//!   request needs `Action` and `Version=2011-06-15`. A parameter given twice, a parameter
//!   the action does not define, or a malformed percent-encoding is refused
//!   (`InvalidParameterValue`, 400): the fake is stricter than AWS here so that a misspelt
//!   parameter cannot silently fall back to a default.
//! * Every action but `AssumeRoleWithWebIdentity` and `AssumeRoleWithSAML` must be signed with SigV4 in the
//!   `Authorization` header. The fake recomputes the signature from the published
//!   algorithm, independently of the `aws-sigv4` crate clients use: canonical request, string
//!   to sign (the SigV4 verifier both fakes share, [`crate::sigv4`]), key `AWS4`+secret →
//!   date → region → `sts` → `aws4_request` (HMAC-SHA256 with ring), compared in constant
//!   time. See [`FakeSts::authenticate`] for each check and its error code.
//! * Actions: `GetCallerIdentity`, `GetSessionToken` (optionally with a TOTP MFA code),
//!   `AssumeRole` (trust by account, principal ARN pattern, MFA, external id; the role
//!   chaining limit of one hour) and `AssumeRoleWithWebIdentity`: an OpenID Connect ID token
//!   verified against the provider's published keys and the role's [`OidcTrust`] statements
//!   ([`super::oidc`]), or, for the older tests, an opaque token compared to the role's
//!   accepted tokens. `AssumeRoleWithSAML`: a SAML response whose XML signature, issuer,
//!   audience, recipient, validity window and role attribute [`super::saml`] verifies against
//!   the account's [`SamlProvider`]s ([`StsConfig::saml_providers`]), for a role trusting that
//!   provider ([`Role::trusting_saml`]); an assertion is accepted once. Each action's checks
//!   are listed on [`FakeSts::handle`].
//! * Answers are XML in AWS's shape (namespace [`NAMESPACE`], `ResponseMetadata/RequestId`);
//!   refusals are `ErrorResponse` documents with the status of their [`ErrorCode`].
//! * Issued credentials are random (`ASIA…` key ids), expire at clock + `DurationSeconds`,
//!   and are registered in the shared [`Registry`], so they can call the fake again (and
//!   credentials the fake Roles Anywhere registered can call it too).
//! * Every request is counted per `Action` ([`FakeSts::calls`]); every issued credential
//!   ([`FakeSts::issued`]) and every refusal ([`FakeSts::rejections`]) is recorded and logged
//!   with `tracing` at `info`, never with a secret key, session token or MFA code.
//! * Faults (outages, stalls, short-lived credentials, ...) are scripted through
//!   [`FakeSts::faults`], as for the fake Roles Anywhere; [`super::faults`] says what each
//!   one does on the wire. An injected error answer is recorded as a refusal.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::any;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use quick_xml::escape::escape;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime, UtcOffset};

use super::faults::{FailingBody, Fault, Faults};
pub use super::oidc::OidcTrust;
use super::oidc::{JwksCache, TokenProblem, UnverifiedToken, check_token};
use super::registry::{MfaDevice, Principal, Registry, User, stable_id};
use super::rolesanywhere::{ACCOUNT_ID, REGION, Running};
pub use super::saml::SamlProvider;
use super::saml::{SamlProblem, check_response, name_qualifier};
use super::totp::{STEP_SECONDS, step_of, totp_step};
use crate::clock::{Clock, SystemClock};
use crate::sigv4::{self, Problem, format_rfc3339, parse_amz_date, signing_key, single_header};

pub use super::totp::totp;

/// The only `Version` the API accepts.
pub const VERSION: &str = "2011-06-15";
/// The XML namespace of every answer.
pub const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// How far `X-Amz-Date` may be from the fake's clock, either way.
pub const MAX_CLOCK_SKEW: Duration = sigv4::MAX_CLOCK_SKEW;
/// The longest session a role session may assume another role for (role chaining).
pub const ROLE_CHAINING_MAX_SECONDS: u32 = 3600;

/// The user with an MFA device in [`StsConfig::example`].
pub const ALICE_NAME: &str = "alice";
/// `alice`'s ARN.
pub const ALICE_ARN: &str = "arn:aws:iam::123456789012:user/alice";
/// `alice`'s long-term access key id.
pub const ALICE_ACCESS_KEY_ID: &str = "AKIAEXAMPLEALICE0001";
/// `alice`'s long-term secret access key.
pub const ALICE_SECRET_ACCESS_KEY: &str = "aliceExampleSecretAccessKey0123456789+/A";
/// The serial (ARN) of `alice`'s virtual MFA device.
pub const ALICE_MFA_SERIAL: &str = "arn:aws:iam::123456789012:mfa/alice";
/// The base32 TOTP secret of `alice`'s device: `totp(ALICE_MFA_SECRET, unix_time)` is a
/// valid code.
pub const ALICE_MFA_SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
/// The user without an MFA device in [`StsConfig::example`].
pub const BOB_NAME: &str = "bob";
/// `bob`'s ARN.
pub const BOB_ARN: &str = "arn:aws:iam::123456789012:user/bob";
/// `bob`'s long-term access key id.
pub const BOB_ACCESS_KEY_ID: &str = "AKIAEXAMPLEBOB000001";
/// `bob`'s long-term secret access key.
pub const BOB_SECRET_ACCESS_KEY: &str = "bobExampleSecretAccessKey0123456789abc+/";
/// Trusts the account; no MFA; 12 hours at most.
pub const DEVELOPER_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/developer";
/// Trusts the account; requires MFA; 2 hours at most.
pub const ADMIN_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/admin";
/// Trusts only sessions of the `admin` role ([`AUDITOR_TRUSTED_PRINCIPAL`]); 1 hour at most.
pub const AUDITOR_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/auditor";
/// The principal pattern the `auditor` role trusts.
pub const AUDITOR_TRUSTED_PRINCIPAL: &str = "arn:aws:sts::123456789012:assumed-role/admin/*";
/// Trusts the account with external id [`PARTNER_EXTERNAL_ID`]; 1 hour at most.
pub const PARTNER_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/partner";
/// The external id the `partner` role requires.
pub const PARTNER_EXTERNAL_ID: &str = "partner-42";
/// Assumable only with web identity token [`WEB_IDENTITY_TOKEN`]; 1 hour at most.
pub const WEB_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/web";
/// The web identity token the `web` role accepts.
pub const WEB_IDENTITY_TOKEN: &str = "test-web-identity-token";

const SERVICE: &str = "sts";
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Room for `AssumeRoleWithSAML`'s largest `SAMLAssertion` (100000 characters of base64,
/// which form encoding can grow by up to 3 times for `+`, `/` and `=`).
const MAX_BODY_BYTES: usize = 320 * 1024;
/// What `Authorization` holds here: HMAC-SHA256, an access key id, a 32-byte signature.
const SCHEME: sigv4::Scheme = sigv4::Scheme {
    algorithms: &[ALGORITHM],
    credential_id: sigv4::CredentialId::AccessKeyId,
    signature_bytes: Some(32),
};
const FORM_MEDIA_TYPE: &str = "application/x-www-form-urlencoded";
const INVALID_TOKEN_MESSAGE: &str = "The security token included in the request is invalid.";
const INVALID_MFA_MESSAGE: &str =
    "MultiFactorAuthentication failed with invalid MFA one time pass code.";

/// A role the fake knows, with its trust policy reduced to what clients exercise.
#[derive(Debug, Clone)]
pub struct Role {
    /// `arn:aws:iam::ACCOUNT:role/NAME`.
    pub arn: String,
    /// The role's MaxSessionDuration (3600 to 43200 in AWS).
    pub max_duration_seconds: u32,
    /// Accounts whose principals may call `AssumeRole` (empty: nobody).
    pub trusted_accounts: Vec<String>,
    /// `None`: any principal of a trusted account. `Some`: only principals whose ARN equals
    /// an entry, or starts with an entry's text before a trailing `*`.
    pub trusted_principal_arns: Option<Vec<String>>,
    /// Whether `AssumeRole` needs an MFA-authenticated caller or a valid code in the call.
    pub requires_mfa: bool,
    /// The `ExternalId` `AssumeRole` must pass, if any.
    pub external_id: Option<String>,
    /// Opaque tokens `AssumeRoleWithWebIdentity` accepts for this role (compared as they
    /// are; no JWT checks).
    pub web_identity_tokens: Vec<String>,
    /// OpenID Connect providers, audiences and subjects whose ID tokens
    /// `AssumeRoleWithWebIdentity` accepts for this role (verified JWTs).
    pub web_identity_providers: Vec<OidcTrust>,
    /// ARNs of the SAML providers ([`StsConfig::saml_providers`]) whose assertions
    /// `AssumeRoleWithSAML` accepts for this role.
    pub saml_providers: Vec<String>,
}

impl Role {
    /// A role trusting `account`, without MFA, external id or web identity, 1 hour at most.
    pub fn trusting_account(arn: &str, account: &str) -> Self {
        Role {
            arn: arn.to_owned(),
            max_duration_seconds: 3600,
            trusted_accounts: vec![account.to_owned()],
            trusted_principal_arns: None,
            requires_mfa: false,
            external_id: None,
            web_identity_tokens: Vec::new(),
            web_identity_providers: Vec::new(),
            saml_providers: Vec::new(),
        }
    }

    /// A role only web identities may assume: ID tokens `trust` accepts, 1 hour at most.
    pub fn trusting_web_identity(arn: &str, trust: OidcTrust) -> Self {
        Role {
            trusted_accounts: Vec::new(),
            web_identity_providers: vec![trust],
            ..Role::trusting_account(arn, ACCOUNT_ID)
        }
    }

    /// A role only SAML federation may assume: assertions of the provider `provider_arn`
    /// (registered in [`StsConfig::saml_providers`]) naming this role, 1 hour at most.
    pub fn trusting_saml(arn: &str, provider_arn: &str) -> Self {
        Role {
            trusted_accounts: Vec::new(),
            saml_providers: vec![provider_arn.to_owned()],
            ..Role::trusting_account(arn, ACCOUNT_ID)
        }
    }

    /// The role name (the last `/` segment of the ARN's resource).
    pub fn name(&self) -> &str {
        role_name(&self.arn)
    }

    fn trusts(&self, caller: &Principal) -> bool {
        if !self
            .trusted_accounts
            .iter()
            .any(|account| account == caller.account())
        {
            return false;
        }
        match &self.trusted_principal_arns {
            None => true,
            Some(patterns) => patterns
                .iter()
                .any(|pattern| arn_matches(pattern, caller.arn())),
        }
    }
}

/// `pattern` equals `arn`, or ends with `*` and `arn` starts with the text before it.
fn arn_matches(pattern: &str, arn: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => arn.starts_with(prefix),
        None => pattern == arn,
    }
}

/// What the fake knows: its region, clock, users and issued credentials, and roles.
#[derive(Debug, Clone)]
pub struct StsConfig {
    /// The only region credential scopes may name.
    pub region: String,
    /// The fake's notion of now: request skew, expirations, MFA codes.
    pub clock: Arc<dyn Clock>,
    /// Users and temporary credentials (shared with the other fakes).
    pub registry: Registry,
    /// The roles `AssumeRole` and `AssumeRoleWithWebIdentity` may name.
    pub roles: Vec<Role>,
    /// The account's IAM SAML providers (`AssumeRoleWithSAML`'s `PrincipalArn`).
    pub saml_providers: Vec<SamlProvider>,
}

impl StsConfig {
    /// A ready-made world for tests and the demo, in account [`ACCOUNT_ID`], region
    /// [`REGION`], on the system clock. Adds to `registry`: user `alice`
    /// ([`ALICE_ACCESS_KEY_ID`], MFA device [`ALICE_MFA_SERIAL`]) and user `bob`
    /// ([`BOB_ACCESS_KEY_ID`], no MFA). Roles: [`DEVELOPER_ROLE_ARN`], [`ADMIN_ROLE_ARN`],
    /// [`AUDITOR_ROLE_ARN`], [`PARTNER_ROLE_ARN`], [`WEB_ROLE_ARN`], and the Roles Anywhere
    /// fake's test role [`super::rolesanywhere::ROLE_ARN`] (trusting the account, 12 hours).
    pub fn example(registry: Registry) -> Self {
        registry.add_user(User {
            name: ALICE_NAME.to_owned(),
            account: ACCOUNT_ID.to_owned(),
            access_key_id: ALICE_ACCESS_KEY_ID.to_owned(),
            secret_access_key: ALICE_SECRET_ACCESS_KEY.to_owned(),
            mfa: Some(MfaDevice {
                serial: ALICE_MFA_SERIAL.to_owned(),
                base32_secret: ALICE_MFA_SECRET.to_owned(),
            }),
        });
        registry.add_user(User {
            name: BOB_NAME.to_owned(),
            account: ACCOUNT_ID.to_owned(),
            access_key_id: BOB_ACCESS_KEY_ID.to_owned(),
            secret_access_key: BOB_SECRET_ACCESS_KEY.to_owned(),
            mfa: None,
        });
        let developer = Role {
            max_duration_seconds: 43200,
            ..Role::trusting_account(DEVELOPER_ROLE_ARN, ACCOUNT_ID)
        };
        let admin = Role {
            max_duration_seconds: 7200,
            requires_mfa: true,
            ..Role::trusting_account(ADMIN_ROLE_ARN, ACCOUNT_ID)
        };
        let auditor = Role {
            trusted_principal_arns: Some(vec![AUDITOR_TRUSTED_PRINCIPAL.to_owned()]),
            ..Role::trusting_account(AUDITOR_ROLE_ARN, ACCOUNT_ID)
        };
        let partner = Role {
            external_id: Some(PARTNER_EXTERNAL_ID.to_owned()),
            ..Role::trusting_account(PARTNER_ROLE_ARN, ACCOUNT_ID)
        };
        let web = Role {
            trusted_accounts: Vec::new(),
            web_identity_tokens: vec![WEB_IDENTITY_TOKEN.to_owned()],
            ..Role::trusting_account(WEB_ROLE_ARN, ACCOUNT_ID)
        };
        let roles_anywhere_test_role = Role {
            max_duration_seconds: 43200,
            ..Role::trusting_account(super::rolesanywhere::ROLE_ARN, ACCOUNT_ID)
        };
        StsConfig {
            region: REGION.to_owned(),
            clock: Arc::new(SystemClock),
            registry,
            roles: vec![
                developer,
                admin,
                auditor,
                partner,
                web,
                roles_anywhere_test_role,
            ],
            saml_providers: Vec::new(),
        }
    }

    /// The same configuration on another clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

/// The `Code` of a refusal; it decides the HTTP status and the `Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 400: the `Authorization` header or `X-Amz-Date` is malformed, or SignedHeaders
    /// lacks a required header.
    IncompleteSignature,
    /// 403: a signed action without an `Authorization` header.
    MissingAuthenticationToken,
    /// 403: unknown access key id, or a missing, wrong or unexpected session token.
    InvalidClientTokenId,
    /// 403: scope, clock skew, payload hash or signature wrong.
    SignatureDoesNotMatch,
    /// 403: temporary credentials past their expiration.
    ExpiredToken,
    /// 403: trust, MFA, `GetSessionToken` with session credentials.
    AccessDenied,
    /// 400: a parameter is missing or out of its constraints.
    ValidationError,
    /// 400: `Version` missing.
    MissingParameter,
    /// 400: `Action` missing.
    MissingAction,
    /// 400: unknown `Action` or `Version`.
    InvalidAction,
    /// 400: unknown or repeated parameter, bad encoding, wrong content type.
    InvalidParameterValue,
    /// 400: a web identity token that is malformed, of an unknown issuer, badly signed, of an
    /// unaccepted audience, or (opaque tokens) that no role accepts.
    InvalidIdentityToken,
    /// 400: a web identity token past its `exp`.
    ExpiredTokenException,
    /// 400: the identity provider's keys could not be fetched.
    IdpCommunicationError,
    /// 403: the SAML identity provider reported a failed authentication (status not
    /// `Success`).
    IdpRejectedClaim,
    /// 404: a path other than `/`.
    NotFound,
    /// 405: a method other than `GET` or `POST`.
    MethodNotAllowed,
    /// 500: the fake itself failed (random source).
    InternalFailure,
}

impl ErrorCode {
    /// The `Code` element.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::IncompleteSignature => "IncompleteSignature",
            ErrorCode::MissingAuthenticationToken => "MissingAuthenticationToken",
            ErrorCode::InvalidClientTokenId => "InvalidClientTokenId",
            ErrorCode::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            ErrorCode::ExpiredToken => "ExpiredToken",
            ErrorCode::AccessDenied => "AccessDenied",
            ErrorCode::ValidationError => "ValidationError",
            ErrorCode::MissingParameter => "MissingParameter",
            ErrorCode::MissingAction => "MissingAction",
            ErrorCode::InvalidAction => "InvalidAction",
            ErrorCode::InvalidParameterValue => "InvalidParameterValue",
            ErrorCode::InvalidIdentityToken => "InvalidIdentityToken",
            ErrorCode::ExpiredTokenException => "ExpiredTokenException",
            ErrorCode::IdpCommunicationError => "IDPCommunicationError",
            ErrorCode::IdpRejectedClaim => "IDPRejectedClaim",
            ErrorCode::NotFound => "NotFound",
            ErrorCode::MethodNotAllowed => "MethodNotAllowed",
            ErrorCode::InternalFailure => "InternalFailure",
        }
    }

    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::MissingAuthenticationToken
            | ErrorCode::InvalidClientTokenId
            | ErrorCode::SignatureDoesNotMatch
            | ErrorCode::ExpiredToken
            | ErrorCode::AccessDenied
            | ErrorCode::IdpRejectedClaim => 403,
            ErrorCode::IncompleteSignature
            | ErrorCode::ValidationError
            | ErrorCode::MissingParameter
            | ErrorCode::MissingAction
            | ErrorCode::InvalidAction
            | ErrorCode::InvalidParameterValue
            | ErrorCode::InvalidIdentityToken
            | ErrorCode::ExpiredTokenException
            | ErrorCode::IdpCommunicationError => 400,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::InternalFailure => 500,
        }
    }

    /// The `Type` element: `Receiver` for the fake's own failures, else `Sender`.
    pub fn fault(self) -> &'static str {
        match self {
            ErrorCode::InternalFailure => "Receiver",
            _ => "Sender",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {}: {}", .code.status(), .code, .message)]
pub struct StsError {
    /// The `Code`.
    pub code: ErrorCode,
    /// The `Message`.
    pub message: String,
}

impl StsError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The `ErrorResponse` document.
    pub fn to_xml(&self, request_id: &str) -> String {
        error_document(
            self.code.fault(),
            self.code.as_str(),
            &self.message,
            request_id,
        )
    }
}

/// An `ErrorResponse` document: `Type` is `Sender` or `Receiver`.
fn error_document(fault: &str, code: &str, message: &str, request_id: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"{NAMESPACE}\">\n  <Error>\n    <Type>{}</Type>\n    \
         <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  \
         <RequestId>{}</RequestId>\n</ErrorResponse>\n",
        escape(fault),
        escape(code),
        escape(message),
        escape(request_id)
    )
}

/// SigV4 problems in STS's words and codes: malformed or unsigned parts are
/// `IncompleteSignature`, scope and clock faults `SignatureDoesNotMatch`, as AWS answers.
impl From<Problem> for StsError {
    fn from(problem: Problem) -> Self {
        match problem {
            Problem::MalformedAuthorization(what) => incomplete(format!(
                "Authorization header is malformed: {what}. Expected '{ALGORITHM} \
                 Credential=AKID/YYYYMMDD/REGION/sts/aws4_request, SignedHeaders=a;b;c, \
                 Signature=HEX'"
            )),
            Problem::UnsupportedAlgorithm(algorithm) => incomplete(format!(
                "Unsupported AWS 'algorithm': '{algorithm}' (only {ALGORITHM})"
            )),
            Problem::ScopeDate {
                scope_date,
                amz_date,
            } => mismatch(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
                 from HTTP: '{scope_date}' != '{}', from '{amz_date}'.",
                &amz_date[..8.min(amz_date.len())]
            )),
            Problem::ScopeRegion { scope, endpoint } => mismatch(format!(
                "Credential should be scoped to a valid region, not '{scope}'. This endpoint \
                 serves '{endpoint}'."
            )),
            Problem::ScopeService { .. } | Problem::ScopeTerminator(_) => {
                mismatch(format!("{}.", problem.message()))
            }
            Problem::Expired { .. } | Problem::NotYetCurrent { .. } => mismatch(problem.message()),
            Problem::EmptySignedHeader => {
                incomplete("SignedHeaders must be lowercase header names; '' is not")
            }
            Problem::UppercaseSignedHeader(name) => incomplete(format!(
                "SignedHeaders must be lowercase header names; '{name}' is not"
            )),
            Problem::UnsignedHeader(name) => incomplete(format!(
                "'{name}' must be a 'SignedHeader' in the AWS Authorization."
            )),
            Problem::MalformedPath(_) | Problem::MalformedQueryParameter(_) => {
                bad_parameter(problem.message())
            }
            Problem::RepeatedHeader(_)
            | Problem::NotVisibleAscii(_)
            | Problem::MalformedDate(_)
            | Problem::UnsortedSignedHeaders(..)
            | Problem::SignedHeaderNotSent(_) => incomplete(problem.message()),
        }
    }
}

fn denied(message: impl Into<String>) -> StsError {
    StsError::new(ErrorCode::AccessDenied, message)
}

fn invalid(message: impl Into<String>) -> StsError {
    StsError::new(ErrorCode::ValidationError, message)
}

fn bad_parameter(message: impl Into<String>) -> StsError {
    StsError::new(ErrorCode::InvalidParameterValue, message)
}

fn incomplete(message: impl Into<String>) -> StsError {
    StsError::new(ErrorCode::IncompleteSignature, message)
}

fn mismatch(message: impl Into<String>) -> StsError {
    StsError::new(ErrorCode::SignatureDoesNotMatch, message)
}

/// A request whose SigV4 signature checked out.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The access key id of `Credential`.
    pub access_key_id: String,
    /// Who signed.
    pub principal: Principal,
    /// `X-Amz-Date`.
    pub request_time: OffsetDateTime,
    /// The canonical request the fake computed.
    pub canonical_request: String,
    /// The string to sign the fake computed.
    pub string_to_sign: String,
    /// The SignedHeaders list.
    pub signed_headers: Vec<String>,
}

/// Credentials the fake issued.
#[derive(Clone)]
pub struct IssuedCredentials {
    /// The action that issued them.
    pub action: String,
    /// `ASIA` + 16 characters.
    pub access_key_id: String,
    /// 40 characters.
    pub secret_access_key: String,
    /// A long base64 token.
    pub session_token: String,
    /// When they expire (whole seconds).
    pub expiration: OffsetDateTime,
    /// Who they stand for.
    pub principal: Principal,
}

impl fmt::Debug for IssuedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCredentials")
            .field("action", &self.action)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &"<redacted>")
            .field("expiration", &self.expiration)
            .field("principal", &self.principal)
            .finish()
    }
}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The action.
    pub action: String,
    /// The `RequestId` of the body.
    pub request_id: String,
    /// The XML body (status 200).
    pub body: String,
    /// The credentials it carries, if any.
    pub credentials: Option<IssuedCredentials>,
}

#[derive(Debug)]
struct Inner {
    config: StsConfig,
    random: SystemRandom,
    requests: AtomicUsize,
    calls: Mutex<BTreeMap<String, usize>>,
    issued: Mutex<Vec<IssuedCredentials>>,
    rejections: Mutex<Vec<(u16, String, String)>>,
    /// The last accepted TOTP step of each MFA device (codes of that step or older are
    /// refused afterwards, as AWS refuses reuse).
    mfa_steps: Mutex<HashMap<String, u64>>,
    /// Scripted failures, consulted before anything else (see [`super::faults`]).
    faults: Faults,
    /// The trusted OIDC providers' signing keys.
    jwks: JwksCache,
    /// The IDs of the SAML assertions `AssumeRoleWithSAML` accepted (each is accepted once).
    saml_assertions: Mutex<HashSet<String>>,
}

/// The fake service. Clones share configuration and records.
#[derive(Debug, Clone)]
pub struct FakeSts {
    inner: Arc<Inner>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a thread panicked while updating a Vec or map with one call;
    // the collection is intact.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Parameters by name (each given once).
type Parameters = BTreeMap<String, String>;

impl FakeSts {
    /// A fake with `config`.
    pub fn new(config: StsConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                random: SystemRandom::new(),
                requests: AtomicUsize::new(0),
                calls: Mutex::new(BTreeMap::new()),
                issued: Mutex::new(Vec::new()),
                rejections: Mutex::new(Vec::new()),
                mfa_steps: Mutex::new(HashMap::new()),
                faults: Faults::default(),
                jwks: JwksCache::default(),
                saml_assertions: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// A fake with `config` that fetches providers' keys with `jwks` (for HTTPS issuers:
    /// [`JwksCache::with_roots`]).
    pub fn with_jwks(config: StsConfig, jwks: JwksCache) -> Self {
        let fake = Self::new(config);
        match Arc::try_unwrap(fake.inner) {
            Ok(mut inner) => {
                inner.jwks = jwks;
                Self {
                    inner: Arc::new(inner),
                }
            }
            Err(inner) => Self { inner },
        }
    }

    /// The providers' key cache (how often keys were fetched: [`JwksCache::fetches`]).
    pub fn jwks(&self) -> &JwksCache {
        &self.inner.jwks
    }

    /// [`FakeSts::handle`], after fetching the keys an `AssumeRoleWithWebIdentity` token
    /// needs (its issuer's, when a role trusts that issuer and they are not cached or lack
    /// the token's `kid`), as the HTTP service does. `handle` alone verifies with the keys
    /// already cached.
    pub async fn handle_async(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Answer, StsError> {
        self.prefetch_keys(method, query, headers, body).await;
        self.handle(method, path, query, headers, body)
    }

    /// Fetches the keys the web identity token of this request (if any) needs.
    async fn prefetch_keys(
        &self,
        method: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) {
        let Ok(parameters) = parse_parameters(method, query, headers, body) else {
            return;
        };
        if parameters.get("Action").map(String::as_str) != Some("AssumeRoleWithWebIdentity") {
            return;
        }
        let Some(token) = parameters.get("WebIdentityToken") else {
            return;
        };
        let Ok(token) = UnverifiedToken::parse(token) else {
            return;
        };
        let Some(issuer) = token.issuer() else {
            return;
        };
        let trusted = self
            .inner
            .config
            .roles
            .iter()
            .flat_map(|role| &role.web_identity_providers)
            .any(|trust| trust.issuer == issuer);
        if trusted {
            self.inner
                .jwks
                .refresh_if_needed(issuer, token.key_id())
                .await;
        }
    }

    /// The fault script: what the next requests get instead of normal service.
    pub fn faults(&self) -> Faults {
        self.inner.faults.clone()
    }

    /// The configuration.
    pub fn config(&self) -> &StsConfig {
        &self.inner.config
    }

    /// The registry the fake authenticates against and registers into.
    pub fn registry(&self) -> &Registry {
        &self.inner.config.registry
    }

    /// A router serving `/` (any method; only `GET` and `POST` are answered). It has no
    /// fallback, so it can be merged with another fake's router (the Roles Anywhere fake's
    /// router, which has one).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", any(handle_http))
            .with_state(self.clone())
    }

    /// Serves plain HTTP/1.1 on `addr` (port 0 picks one) in a tokio task; paths other than
    /// `/` are answered with `NotFound`.
    pub async fn spawn_http(&self, addr: SocketAddr) -> std::io::Result<Running> {
        let router = Router::new()
            .route("/", any(handle_http))
            .fallback(handle_http)
            .with_state(self.clone());
        Running::serve_http(router, addr).await
    }

    /// How many requests named `action` (accepted or refused). Requests without a readable
    /// `Action` count under `""`.
    pub fn calls(&self, action: &str) -> usize {
        lock(&self.inner.calls).get(action).copied().unwrap_or(0)
    }

    /// How many requests reached the fake.
    pub fn request_count(&self) -> usize {
        self.inner.requests.load(Ordering::SeqCst)
    }

    /// Every refusal as `(status, code, message)`, oldest first.
    pub fn rejections(&self) -> Vec<(u16, String, String)> {
        lock(&self.inner.rejections).clone()
    }

    /// Every issued credential as `(access key id, principal)`, oldest first.
    pub fn issued(&self) -> Vec<(String, Principal)> {
        lock(&self.inner.issued)
            .iter()
            .map(|issued| (issued.access_key_id.clone(), issued.principal.clone()))
            .collect()
    }

    /// Every issued credential in full, oldest first.
    pub fn issued_credentials(&self) -> Vec<IssuedCredentials> {
        lock(&self.inner.issued).clone()
    }

    /// Counts, answers and records one request. `path` and `query` are as received.
    ///
    /// Checks, in order (the first failure wins):
    /// 1. Path `/` (`NotFound`), method `GET` or `POST` (`MethodNotAllowed`).
    /// 2. Parameters: query string, plus on `POST` a form body whose `Content-Type` is
    ///    `application/x-www-form-urlencoded` (a `GET` must have no body); valid
    ///    percent-encoding and UTF-8; no parameter twice (`InvalidParameterValue`).
    /// 3. `Action` present (`MissingAction`).
    /// 4. Unless the action is `AssumeRoleWithWebIdentity` or `AssumeRoleWithSAML`:
    ///    [`FakeSts::authenticate`].
    /// 5. `Version` present (`MissingParameter`) and `2011-06-15`, action known
    ///    (`InvalidAction`); only the action's parameters (`InvalidParameterValue`).
    /// 6. The action:
    ///    * `GetCallerIdentity`: nothing more.
    ///    * `GetSessionToken`: a long-term user key (`AccessDenied` "Cannot call
    ///      GetSessionToken with session credentials"); `DurationSeconds` 900–129600,
    ///      default 43200 (`ValidationError`); `SerialNumber` and `TokenCode` both or
    ///      neither (`AccessDenied`), well-formed (`ValidationError`), the caller's device
    ///      and a valid, unused code (`AccessDenied`, see MFA below).
    ///    * `AssumeRole`: `RoleArn` (20–2048 characters), `RoleSessionName` (2–64 of
    ///      `[\w+=,.@-]`), `DurationSeconds` 900–43200, `ExternalId` (2–1224 of
    ///      `[\w+=,.@:/-]`), MFA parameters as above (`ValidationError`); a known role that
    ///      trusts the caller's account and ARN, with the right external id (`AccessDenied`
    ///      "User: ARN is not authorized to perform: sts:AssumeRole on resource: ROLE");
    ///      `DurationSeconds` (default min(3600, role max)) within the role's maximum and,
    ///      for a role session caller, within 3600 (`ValidationError`); a valid code if one
    ///      is given; MFA when the role requires it (`AccessDenied`, same message).
    ///    * `AssumeRoleWithWebIdentity`: `RoleArn`, `RoleSessionName`, `WebIdentityToken`
    ///      (4–20000 characters), `DurationSeconds` 900–43200 (`ValidationError`). Then an
    ///      opaque token some role lists in `web_identity_tokens`, or else an OIDC ID token
    ///      checked by [`check_token`] against the keys fetched for its issuer
    ///      (`InvalidIdentityToken`: malformed, issuer no role trusts, unknown `kid`,
    ///      algorithm, signature, `nbf`, audience no trust names; `ExpiredTokenException`:
    ///      `exp`; `IDPCommunicationError`: keys not to be had); the named role trusts the
    ///      token (opaque: lists it; OIDC: an [`OidcTrust`] matching `iss`, `aud` and `sub`)
    ///      (`AccessDenied`); duration within the role's maximum (`ValidationError`). The
    ///      answer's `SubjectFromWebIdentityToken`, `Audience` and `Provider` are the token's
    ///      `sub`, accepted `aud` and `iss`.
    ///    * `AssumeRoleWithSAML`: `RoleArn`, `PrincipalArn` (20–2048 characters),
    ///      `SAMLAssertion` (4–100000 characters), `DurationSeconds` 900–43200
    ///      (`ValidationError`); `PrincipalArn` a registered [`SamlProvider`]
    ///      (`InvalidIdentityToken` "Specified provider doesn't exist"); the response checked
    ///      by [`check_response`] (signature, issuer, audience, recipient, validity, the
    ///      role/provider pair and `RoleSessionName`: `InvalidIdentityToken`,
    ///      `ExpiredTokenException`, `IDPRejectedClaim`); the role trusts the provider
    ///      (`AccessDenied`); the assertion's ID not accepted before (`InvalidIdentityToken`);
    ///      `DurationSeconds` (default min(3600, role max)) within the role's maximum and the
    ///      assertion's `SessionDuration` (`ValidationError`). Credentials expire no later than
    ///      the `AuthnStatement`'s `SessionNotOnOrAfter`. The answer names `Subject`,
    ///      `SubjectType`, `Issuer`, `Audience` and `NameQualifier` as AWS does.
    ///
    /// MFA: the code must be 6 digits, equal to the device's TOTP code of the previous,
    /// current or next 30 s step of the fake's clock, and of a later step than the last code
    /// accepted for that device. A role session caller may name any device of a user of its
    /// account (a session has no device of its own).
    pub fn handle(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Answer, StsError> {
        self.serve(method, path, query, headers, body, None)
    }

    /// [`FakeSts::handle`]; credentials issued expire after `lifetime` when it is given
    /// ([`Fault::ShortLived`]).
    fn serve(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
        lifetime: Option<std::time::Duration>,
    ) -> Result<Answer, StsError> {
        self.inner.requests.fetch_add(1, Ordering::SeqCst);
        let (action, result) = self.process(method, path, query, headers, body, lifetime);
        *lock(&self.inner.calls).entry(action.clone()).or_insert(0) += 1;
        match &result {
            Ok(answer) => match &answer.credentials {
                Some(issued) => {
                    tracing::info!(
                        status = 200,
                        action = %action,
                        access_key_id = %issued.access_key_id,
                        principal = %issued.principal.arn(),
                        expiration = %format_rfc3339(issued.expiration),
                        "STS accepted"
                    );
                    lock(&self.inner.issued).push(issued.clone());
                }
                None => tracing::info!(status = 200, action = %action, "STS accepted"),
            },
            Err(error) => self.record_rejection(&action, error),
        }
        result
    }

    fn record_rejection(&self, action: &str, error: &StsError) {
        tracing::info!(
            status = error.status(),
            action = %action,
            code = error.code.as_str(),
            message = %error.message,
            "STS refused"
        );
        lock(&self.inner.rejections).push((
            error.status(),
            error.code.as_str().to_owned(),
            error.message.clone(),
        ));
    }

    fn process(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
        lifetime: Option<std::time::Duration>,
    ) -> (String, Result<Answer, StsError>) {
        if !(path == "/" || path.is_empty()) {
            return (
                String::new(),
                Err(StsError::new(
                    ErrorCode::NotFound,
                    format!("STS is served on '/', not '{path}'"),
                )),
            );
        }
        if method != "GET" && method != "POST" {
            return (
                String::new(),
                Err(StsError::new(
                    ErrorCode::MethodNotAllowed,
                    format!("STS answers POST / (form body) or GET / (query string), not {method}"),
                )),
            );
        }
        let parameters = match parse_parameters(method, query, headers, body) {
            Ok(parameters) => parameters,
            Err(error) => return (String::new(), Err(error)),
        };
        let action = parameters.get("Action").cloned().unwrap_or_default();
        let result = self.dispatch(
            method,
            path,
            query,
            headers,
            body,
            &parameters,
            &action,
            lifetime,
        );
        (action, result)
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "the request parts plus what was parsed from them"
    )]
    fn dispatch(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
        parameters: &Parameters,
        action: &str,
        lifetime: Option<std::time::Duration>,
    ) -> Result<Answer, StsError> {
        if action.is_empty() {
            return Err(StsError::new(ErrorCode::MissingAction, "Missing Action"));
        }
        let caller = if action == "AssumeRoleWithWebIdentity" || action == "AssumeRoleWithSAML" {
            None
        } else {
            Some(
                self.authenticate(method, path, query, headers, body)?
                    .principal,
            )
        };
        let version = parameters.get("Version").ok_or_else(|| {
            StsError::new(
                ErrorCode::MissingParameter,
                "The request must contain the parameter Version",
            )
        })?;
        let unknown_operation = || {
            StsError::new(
                ErrorCode::InvalidAction,
                format!("Could not find operation {action} for version {version}"),
            )
        };
        if version != VERSION {
            return Err(unknown_operation());
        }
        let now = self
            .inner
            .config
            .clock
            .now()
            .to_offset(UtcOffset::UTC)
            .replace_nanosecond(0)
            .unwrap_or_else(|_| self.inner.config.clock.now());
        let (inner_xml, credentials) = match (action, caller) {
            ("GetCallerIdentity", Some(caller)) => {
                check_known_parameters(action, parameters, &[], &[])?;
                (caller_identity_xml(&caller), None)
            }
            ("GetSessionToken", Some(caller)) => {
                check_known_parameters(
                    action,
                    parameters,
                    &["DurationSeconds", "SerialNumber", "TokenCode"],
                    &[],
                )?;
                let issued = self.get_session_token(parameters, &caller, now)?;
                let issued = self.shorten(issued, now, lifetime);
                (credentials_xml(&issued), Some(issued))
            }
            ("AssumeRole", Some(caller)) => {
                check_known_parameters(
                    action,
                    parameters,
                    &[
                        "RoleArn",
                        "RoleSessionName",
                        "DurationSeconds",
                        "ExternalId",
                        "SerialNumber",
                        "TokenCode",
                        "Policy",
                        "SourceIdentity",
                    ],
                    &[
                        "PolicyArns.member.",
                        "Tags.member.",
                        "TransitiveTagKeys.member.",
                        "ProvidedContexts.member.",
                    ],
                )?;
                let issued = self.assume_role(parameters, &caller, now)?;
                let issued = self.shorten(issued, now, lifetime);
                let xml = format!(
                    "{}{}    <PackedPolicySize>0</PackedPolicySize>\n",
                    credentials_xml(&issued),
                    assumed_role_user_xml(&issued.principal)
                );
                (xml, Some(issued))
            }
            ("AssumeRoleWithWebIdentity", None) => {
                check_known_parameters(
                    action,
                    parameters,
                    &[
                        "RoleArn",
                        "RoleSessionName",
                        "WebIdentityToken",
                        "DurationSeconds",
                        "ProviderId",
                        "Policy",
                    ],
                    &["PolicyArns.member."],
                )?;
                let (issued, identity) = self.assume_role_with_web_identity(parameters, now)?;
                let issued = self.shorten(issued, now, lifetime);
                let xml = format!(
                    "    <SubjectFromWebIdentityToken>{}</SubjectFromWebIdentityToken>\n    \
                     <Audience>{}</Audience>\n{}{}    \
                     <Provider>{}</Provider>\n    \
                     <PackedPolicySize>0</PackedPolicySize>\n",
                    escape(identity.subject.as_str()),
                    escape(identity.audience.as_str()),
                    assumed_role_user_xml(&issued.principal),
                    credentials_xml(&issued),
                    escape(identity.provider.as_str()),
                );
                (xml, Some(issued))
            }
            ("AssumeRoleWithSAML", None) => {
                check_known_parameters(
                    action,
                    parameters,
                    &[
                        "RoleArn",
                        "PrincipalArn",
                        "SAMLAssertion",
                        "DurationSeconds",
                        "Policy",
                    ],
                    &["PolicyArns.member."],
                )?;
                let (issued, federated) = self.assume_role_with_saml(parameters, now)?;
                let issued = self.shorten(issued, now, lifetime);
                let xml = format!(
                    "    <Issuer>{}</Issuer>\n{}{}    <Audience>{}</Audience>\n    \
                     <SubjectType>{}</SubjectType>\n    <PackedPolicySize>0</PackedPolicySize>\n    \
                     <NameQualifier>{}</NameQualifier>\n    <Subject>{}</Subject>\n",
                    escape(federated.issuer.as_str()),
                    assumed_role_user_xml(&issued.principal),
                    credentials_xml(&issued),
                    escape(federated.audience.as_str()),
                    escape(federated.subject_type.as_str()),
                    escape(federated.name_qualifier.as_str()),
                    escape(federated.subject.as_str()),
                );
                (xml, Some(issued))
            }
            _ => return Err(unknown_operation()),
        };
        let request_id = self.request_id();
        let body = format!(
            "<{action}Response xmlns=\"{NAMESPACE}\">\n  <{action}Result>\n{inner_xml}  \
             </{action}Result>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  \
             </ResponseMetadata>\n</{action}Response>\n"
        );
        Ok(Answer {
            action: action.to_owned(),
            request_id,
            body,
            credentials,
        })
    }

    /// Checks the SigV4 signature of a request without side effects. Checks, in order:
    ///
    /// 1. `Authorization` present (`MissingAuthenticationToken`, 403), once, of the form
    ///    `AWS4-HMAC-SHA256 Credential=AKID/YYYYMMDD/REGION/SERVICE/aws4_request,
    ///    SignedHeaders=a;b, Signature=64 lowercase hex` (`IncompleteSignature`, 400).
    /// 2. `X-Amz-Date` present once, `YYYYMMDDTHHMMSSZ` (`IncompleteSignature`).
    /// 3. Scope: date = the date of `X-Amz-Date`, region = the fake's, service `sts`,
    ///    terminator `aws4_request` (`SignatureDoesNotMatch`, 403).
    /// 4. `X-Amz-Date` within [`MAX_CLOCK_SKEW`] of the clock (`SignatureDoesNotMatch`,
    ///    "Signature expired" / "Signature not yet current").
    /// 5. Access key id known (`InvalidClientTokenId`, 403); temporary credentials come with
    ///    their own `X-Amz-Security-Token`, long-term keys with none (`InvalidClientTokenId`);
    ///    temporary credentials not expired (`ExpiredToken`, 403).
    /// 6. SignedHeaders lowercase, sorted, unique, with `host`, `x-amz-date` and
    ///    `x-amz-security-token` when sent; every signed header present
    ///    (`IncompleteSignature`).
    /// 7. Payload hash: a signed `x-amz-content-sha256` must be the body's SHA-256
    ///    (`SignatureDoesNotMatch`); otherwise the body's SHA-256 is used.
    /// 8. The signature (`SignatureDoesNotMatch`; the message shows the canonical request
    ///    and string to sign the fake computed, as AWS does).
    pub fn authenticate(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Authenticated, StsError> {
        let config = &self.inner.config;
        let authorization =
            single_header(headers, "authorization", "Authorization")?.ok_or_else(|| {
                StsError::new(
                    ErrorCode::MissingAuthenticationToken,
                    "Request is missing Authentication Token",
                )
            })?;
        let authorization = sigv4::parse_authorization(authorization, &SCHEME)?;
        let amz_date = single_header(headers, "x-amz-date", "X-Amz-Date")?.ok_or_else(|| {
            incomplete(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' \
                 header (this fake requires X-Amz-Date).",
            )
        })?;
        let request_time = parse_amz_date(amz_date)?;

        // 3. Scope.
        sigv4::check_scope(&authorization, amz_date, &config.region, SERVICE)?;

        // 4. Clock skew.
        let now = config.clock.now();
        sigv4::check_skew(request_time, amz_date, now)?;

        // 5. Key and session token.
        let (secret, principal, expiration) = config
            .registry
            .lookup(&authorization.credential_id)
            .ok_or_else(|| StsError::new(ErrorCode::InvalidClientTokenId, INVALID_TOKEN_MESSAGE))?;
        let sent_token = single_header(headers, "x-amz-security-token", "X-Amz-Security-Token")?;
        let token_ok = match (principal.session_token(), sent_token) {
            (Some(expected), Some(sent)) => bool::from(expected.as_bytes().ct_eq(sent.as_bytes())),
            (None, None) => true,
            _ => false,
        };
        if !token_ok {
            return Err(StsError::new(
                ErrorCode::InvalidClientTokenId,
                INVALID_TOKEN_MESSAGE,
            ));
        }
        if let Some(expiration) = expiration
            && now >= expiration
        {
            return Err(StsError::new(
                ErrorCode::ExpiredToken,
                "The security token included in the request is expired",
            ));
        }

        // 6. Signed headers.
        check_signed_headers(&authorization.signed_headers, headers)?;

        // 7. Payload hash.
        let body_hash = sigv4::sha256_hex(body);
        let payload_hash = if authorization
            .signed_headers
            .iter()
            .any(|name| name == "x-amz-content-sha256")
        {
            let declared = single_header(headers, "x-amz-content-sha256", "X-Amz-Content-Sha256")?
                .unwrap_or_default();
            if declared != body_hash {
                return Err(mismatch(format!(
                    "The provided 'x-amz-content-sha256' header '{declared}' does not match what \
                     was computed from the body: '{body_hash}'"
                )));
            }
            declared.to_owned()
        } else {
            body_hash
        };

        // 8. Signature.
        let canonical_request = sigv4::canonical_request(
            method,
            path,
            &canonical_query(query)?,
            headers,
            &authorization.signed_headers,
            &payload_hash,
        )?;
        let string_to_sign = sigv4::string_to_sign(
            ALGORITHM,
            amz_date,
            &authorization.scope(),
            &canonical_request,
        );
        let key = signing_key(
            &secret,
            &authorization.date,
            &authorization.region,
            &authorization.service,
        );
        hmac::verify(&key, string_to_sign.as_bytes(), &authorization.signature).map_err(|_| {
            mismatch(format!(
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method. Consult the service \
                 documentation for details.\n\nThe Canonical String for this request should \
                 have been\n'{canonical_request}'\n\nThe String-to-Sign should have \
                 been\n'{string_to_sign}'\n"
            ))
        })?;

        Ok(Authenticated {
            access_key_id: authorization.credential_id,
            principal,
            request_time,
            canonical_request,
            string_to_sign,
            signed_headers: authorization.signed_headers,
        })
    }

    fn get_session_token(
        &self,
        parameters: &Parameters,
        caller: &Principal,
        now: OffsetDateTime,
    ) -> Result<IssuedCredentials, StsError> {
        let duration = duration_parameter(parameters, 129_600)?.unwrap_or(43_200);
        let mfa = mfa_parameters(parameters)?;
        let Principal::User {
            arn,
            account,
            user_id,
            session_token: None,
            ..
        } = caller
        else {
            return Err(denied(
                "Cannot call GetSessionToken with session credentials",
            ));
        };
        let mfa_authenticated = match mfa {
            Some((serial, code)) => {
                let user = self.inner.config.registry.user_by_arn(arn);
                let device = user
                    .as_ref()
                    .and_then(|user| user.mfa.as_ref())
                    .filter(|device| device.serial == serial)
                    .ok_or_else(|| {
                        denied(format!(
                            "MultiFactorAuthentication failed: {serial} is not an MFA device of \
                             {arn}"
                        ))
                    })?;
                self.check_mfa_code(device, code, now)?;
                true
            }
            None => false,
        };
        let principal_of = |session_token: String| Principal::User {
            arn: arn.clone(),
            account: account.clone(),
            user_id: user_id.clone(),
            mfa_authenticated,
            session_token: Some(session_token),
        };
        self.issue("GetSessionToken", principal_of, now, duration)
    }

    fn assume_role(
        &self,
        parameters: &Parameters,
        caller: &Principal,
        now: OffsetDateTime,
    ) -> Result<IssuedCredentials, StsError> {
        let role_arn = role_arn_parameter(parameters)?;
        let session_name = session_name_parameter(parameters)?;
        let duration = duration_parameter(parameters, 43_200)?;
        let external_id = parameters.get("ExternalId").map(String::as_str);
        if let Some(external_id) = external_id {
            let valid_chars = external_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c));
            if !(2..=1224).contains(&external_id.len()) || !valid_chars {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{external_id}' at 'externalId' failed \
                     to satisfy constraint: Member must have length between 2 and 1224 and \
                     satisfy regular expression pattern: [\\w+=,.@:\\/-]*"
                )));
            }
        }
        let mfa = mfa_parameters(parameters)?;

        let not_authorized = || {
            denied(format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                caller.arn()
            ))
        };
        let role = self
            .inner
            .config
            .roles
            .iter()
            .find(|role| role.arn == role_arn)
            .ok_or_else(not_authorized)?;
        if !role.trusts(caller) {
            return Err(not_authorized());
        }
        if let Some(required) = &role.external_id {
            let given = external_id.unwrap_or_default();
            if !bool::from(given.as_bytes().ct_eq(required.as_bytes())) {
                return Err(not_authorized());
            }
        }

        let chained = matches!(caller, Principal::AssumedRole { .. });
        let duration = duration.unwrap_or(role.max_duration_seconds.min(3600));
        if duration > role.max_duration_seconds {
            return Err(invalid(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            ));
        }
        if chained && duration > ROLE_CHAINING_MAX_SECONDS {
            return Err(invalid(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles \
                 assumed by role chaining.",
            ));
        }

        let code_checked = match mfa {
            Some((serial, code)) => {
                let device = self.device_for(caller, serial).ok_or_else(|| {
                    denied(format!(
                        "MultiFactorAuthentication failed: {serial} is not an MFA device of {}",
                        caller.arn()
                    ))
                })?;
                self.check_mfa_code(&device, code, now)?;
                true
            }
            None => false,
        };
        let mfa_authenticated = caller.mfa_authenticated() || code_checked;
        if role.requires_mfa && !mfa_authenticated {
            return Err(not_authorized());
        }

        let role_arn = role.arn.clone();
        let principal_of = |session_token: String| {
            assumed_role_principal(&role_arn, session_name, mfa_authenticated, session_token)
        };
        self.issue("AssumeRole", principal_of, now, duration)
    }

    fn assume_role_with_web_identity(
        &self,
        parameters: &Parameters,
        now: OffsetDateTime,
    ) -> Result<(IssuedCredentials, WebIdentity), StsError> {
        let role_arn = role_arn_parameter(parameters)?;
        let session_name = session_name_parameter(parameters)?;
        let token = parameters
            .get("WebIdentityToken")
            .ok_or_else(|| null_member("webIdentityToken"))?;
        if !(4..=20_000).contains(&token.len()) {
            return Err(invalid(
                "1 validation error detected: Value at 'webIdentityToken' failed to satisfy \
                 constraint: Member must have length between 4 and 20000",
            ));
        }
        let duration = duration_parameter(parameters, 43_200)?;
        let roles = &self.inner.config.roles;
        let not_authorized = || denied("Not authorized to perform sts:AssumeRoleWithWebIdentity");
        let accepts_opaque = |role: &Role| {
            role.web_identity_tokens
                .iter()
                .any(|accepted| bool::from(accepted.as_bytes().ct_eq(token.as_bytes())))
        };
        let (role, identity) = if roles.iter().any(accepts_opaque) {
            let role = roles
                .iter()
                .find(|role| role.arn == role_arn && accepts_opaque(role))
                .ok_or_else(not_authorized)?;
            let identity = WebIdentity {
                subject: format!(
                    "web-identity-{}",
                    &hex::encode(Sha256::digest(token.as_bytes()))[..16]
                ),
                audience: "sts.amazonaws.com".to_owned(),
                provider: "needroleshere-fake-idp".to_owned(),
            };
            (role, identity)
        } else {
            let parsed = UnverifiedToken::parse(token).map_err(token_refusal)?;
            let trusts: Vec<&OidcTrust> = roles
                .iter()
                .flat_map(|role| &role.web_identity_providers)
                .collect();
            let verified =
                check_token(&parsed, &trusts, |issuer| self.inner.jwks.keys(issuer), now)
                    .map_err(token_refusal)?;
            let role = roles
                .iter()
                .find(|role| {
                    role.arn == role_arn
                        && role
                            .web_identity_providers
                            .iter()
                            .any(|trust| trust.trusts(&verified))
                })
                .ok_or_else(not_authorized)?;
            let identity = WebIdentity {
                subject: verified.subject,
                audience: verified.audience,
                provider: verified.issuer,
            };
            (role, identity)
        };
        let duration = duration.unwrap_or(role.max_duration_seconds.clamp(900, 3600));
        if duration > role.max_duration_seconds {
            return Err(invalid(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            ));
        }
        let principal_of = |session_token: String| {
            assumed_role_principal(&role.arn, session_name, false, session_token)
        };
        let issued = self.issue("AssumeRoleWithWebIdentity", principal_of, now, duration)?;
        Ok((issued, identity))
    }

    fn assume_role_with_saml(
        &self,
        parameters: &Parameters,
        now: OffsetDateTime,
    ) -> Result<(IssuedCredentials, SamlFederation), StsError> {
        let role_arn = role_arn_parameter(parameters)?;
        let principal_arn = parameters
            .get("PrincipalArn")
            .ok_or_else(|| null_member("principalArn"))?;
        if !(20..=2048).contains(&principal_arn.len()) {
            return Err(invalid(format!(
                "1 validation error detected: Value '{principal_arn}' at 'principalArn' failed \
                 to satisfy constraint: Member must have length between 20 and 2048"
            )));
        }
        let assertion = parameters
            .get("SAMLAssertion")
            .ok_or_else(|| null_member("sAMLAssertion"))?;
        if !(4..=100_000).contains(&assertion.len()) {
            return Err(invalid(
                "1 validation error detected: Value at 'sAMLAssertion' failed to satisfy \
                 constraint: Member must have length between 4 and 100000",
            ));
        }
        let duration = duration_parameter(parameters, 43_200)?;
        let config = &self.inner.config;
        let provider = config
            .saml_providers
            .iter()
            .find(|provider| provider.arn == *principal_arn)
            .ok_or_else(|| {
                StsError::new(
                    ErrorCode::InvalidIdentityToken,
                    "Specified provider doesn't exist",
                )
            })?;
        let verified = check_response(assertion, provider, role_arn, now).map_err(saml_refusal)?;
        let role = config
            .roles
            .iter()
            .find(|role| role.arn == role_arn && role.saml_providers.contains(&provider.arn))
            .ok_or_else(|| denied("Not authorized to perform sts:AssumeRoleWithSAML"))?;
        let duration = duration.unwrap_or(role.max_duration_seconds.clamp(900, 3600));
        if duration > role.max_duration_seconds {
            return Err(invalid(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            ));
        }
        if let Some(limit) = verified.session_duration
            && duration > limit
        {
            return Err(invalid(format!(
                "The requested DurationSeconds ({duration}) exceeds the SessionDuration ({limit}) \
                 of the SAML assertion."
            )));
        }
        // Remembered only once everything else passed: a refused attempt does not use up the
        // assertion.
        let replay_key = format!("{}\n{}", provider.arn, verified.assertion_id);
        if !lock(&self.inner.saml_assertions).insert(replay_key) {
            return Err(StsError::new(
                ErrorCode::InvalidIdentityToken,
                format!(
                    "SAML Assertion '{}' has already been used: an assertion is accepted once",
                    verified.assertion_id
                ),
            ));
        }
        let principal_of = |session_token: String| {
            assumed_role_principal(&role.arn, &verified.session_name, false, session_token)
        };
        let mut issued = self.issue("AssumeRoleWithSAML", principal_of, now, duration)?;
        if let Some(session_end) = verified.session_not_on_or_after
            && session_end < issued.expiration
        {
            issued = self.shorten(
                issued,
                now,
                Some(std::time::Duration::from_secs(
                    u64::try_from((session_end - now).whole_seconds()).unwrap_or(0),
                )),
            );
        }
        let account = role.arn.split(':').nth(4).unwrap_or(ACCOUNT_ID);
        let federation = SamlFederation {
            name_qualifier: name_qualifier(&verified.issuer, account, provider.name()),
            issuer: verified.issuer,
            subject: verified.subject,
            subject_type: verified.subject_type,
            audience: verified.audience,
        };
        Ok((issued, federation))
    }

    /// The device a caller may name: its own as a user; any device of a user of its account
    /// as a role session.
    fn device_for(&self, caller: &Principal, serial: &str) -> Option<MfaDevice> {
        let registry = &self.inner.config.registry;
        match caller {
            Principal::User { arn, .. } => registry
                .user_by_arn(arn)
                .and_then(|user| user.mfa)
                .filter(|device| device.serial == serial),
            Principal::AssumedRole { account, .. } => registry
                .users()
                .into_iter()
                .filter(|user| &user.account == account)
                .filter_map(|user| user.mfa)
                .find(|device| device.serial == serial),
        }
    }

    /// Accepts `code` if it is the device's code of the previous, current or next step and of
    /// a later step than the last accepted one; then remembers its step.
    fn check_mfa_code(
        &self,
        device: &MfaDevice,
        code: &str,
        now: OffsetDateTime,
    ) -> Result<(), StsError> {
        let current = step_of(now.unix_timestamp()).ok_or_else(|| denied(INVALID_MFA_MESSAGE))?;
        let mut matched = None;
        for step in [current.saturating_sub(1), current, current + 1] {
            let expected = totp_step(&device.base32_secret, step).ok_or_else(|| {
                StsError::new(
                    ErrorCode::InternalFailure,
                    format!(
                        "The MFA device {} has an invalid base32 secret",
                        device.serial
                    ),
                )
            })?;
            if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
                matched = Some(step);
            }
        }
        let Some(step) = matched else {
            return Err(denied(INVALID_MFA_MESSAGE));
        };
        let mut steps = lock(&self.inner.mfa_steps);
        if let Some(&last) = steps.get(&device.serial)
            && step <= last
        {
            return Err(denied(format!(
                "{INVALID_MFA_MESSAGE} (This code, or a later one, was already used; wait for \
                 the next code, at most {STEP_SECONDS} seconds.)"
            )));
        }
        steps.insert(device.serial.clone(), step);
        Ok(())
    }

    fn random_bytes(&self, len: usize) -> Result<Vec<u8>, StsError> {
        let mut bytes = vec![0u8; len];
        self.inner
            .random
            .fill(&mut bytes)
            .map_err(|_| StsError::new(ErrorCode::InternalFailure, "The random source failed"))?;
        Ok(bytes)
    }

    /// `len` characters drawn uniformly from `alphabet` (at most 256 characters).
    fn random_string(&self, alphabet: &[u8], len: usize) -> Result<String, StsError> {
        let limit = 256 - 256 % alphabet.len();
        let mut out = String::with_capacity(len);
        while out.len() < len {
            for byte in self.random_bytes(len * 2)? {
                let byte = usize::from(byte);
                if byte < limit && out.len() < len {
                    out.push(char::from(alphabet[byte % alphabet.len()]));
                }
            }
        }
        Ok(out)
    }

    fn request_id(&self) -> String {
        match self.random_bytes(16) {
            Ok(mut bytes) => {
                bytes[6] = (bytes[6] & 0x0f) | 0x40;
                bytes[8] = (bytes[8] & 0x3f) | 0x80;
                let hex = hex::encode(bytes);
                format!(
                    "{}-{}-{}-{}-{}",
                    &hex[..8],
                    &hex[8..12],
                    &hex[12..16],
                    &hex[16..20],
                    &hex[20..]
                )
            }
            Err(_) => "00000000-0000-4000-8000-000000000000".to_owned(),
        }
    }

    /// `issued`, expiring `lifetime` after `now` instead when a lifetime is given
    /// ([`Fault::ShortLived`]), in the registry too: they really expire then.
    fn shorten(
        &self,
        mut issued: IssuedCredentials,
        now: OffsetDateTime,
        lifetime: Option<std::time::Duration>,
    ) -> IssuedCredentials {
        if let Some(lifetime) = lifetime {
            issued.expiration = now + Duration::try_from(lifetime).unwrap_or(Duration::ZERO);
            self.inner.config.registry.register(
                &issued.access_key_id,
                &issued.secret_access_key,
                issued.principal.clone(),
                issued.expiration,
            );
        }
        issued
    }

    /// Fresh credentials for `principal_of(session token)`, registered in the registry.
    fn issue(
        &self,
        action: &str,
        principal_of: impl FnOnce(String) -> Principal,
        now: OffsetDateTime,
        duration_seconds: u32,
    ) -> Result<IssuedCredentials, StsError> {
        const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const SECRET_ALPHABET: &[u8] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let access_key_id = format!("ASIA{}", self.random_string(UPPER_ALNUM, 16)?);
        let secret_access_key = self.random_string(SECRET_ALPHABET, 40)?;
        let session_token = STANDARD.encode(self.random_bytes(240)?);
        let principal = principal_of(session_token.clone());
        let expiration = now + Duration::seconds(i64::from(duration_seconds));
        self.inner.config.registry.register(
            &access_key_id,
            &secret_access_key,
            principal.clone(),
            expiration,
        );
        Ok(IssuedCredentials {
            action: action.to_owned(),
            access_key_id,
            secret_access_key,
            session_token,
            expiration,
            principal,
        })
    }
}

/// Who `AssumeRoleWithWebIdentity` accepted: `SubjectFromWebIdentityToken`, `Audience` and
/// `Provider` of the answer.
#[derive(Debug, Clone)]
struct WebIdentity {
    subject: String,
    audience: String,
    provider: String,
}

/// Who `AssumeRoleWithSAML` accepted: the answer's `Issuer`, `Subject`, `SubjectType`,
/// `Audience` and `NameQualifier`.
#[derive(Debug, Clone)]
struct SamlFederation {
    issuer: String,
    subject: String,
    subject_type: String,
    audience: String,
    name_qualifier: String,
}

/// A refused SAML response in STS's terms.
fn saml_refusal(problem: SamlProblem) -> StsError {
    match problem {
        SamlProblem::Invalid(message) => StsError::new(ErrorCode::InvalidIdentityToken, message),
        SamlProblem::Expired(message) => StsError::new(ErrorCode::ExpiredTokenException, message),
        SamlProblem::Rejected(message) => StsError::new(ErrorCode::IdpRejectedClaim, message),
    }
}

/// A refused web identity token in STS's terms.
fn token_refusal(problem: TokenProblem) -> StsError {
    match problem {
        TokenProblem::Invalid(message) => StsError::new(ErrorCode::InvalidIdentityToken, message),
        TokenProblem::Expired(message) => StsError::new(ErrorCode::ExpiredTokenException, message),
        TokenProblem::Communication(message) => {
            StsError::new(ErrorCode::IdpCommunicationError, message)
        }
    }
}

/// The principal of session `session_name` of `role_arn`.
fn assumed_role_principal(
    role_arn: &str,
    session_name: &str,
    mfa_authenticated: bool,
    session_token: String,
) -> Principal {
    let account = role_arn.split(':').nth(4).unwrap_or(ACCOUNT_ID).to_owned();
    let role_name = role_name(role_arn);
    Principal::AssumedRole {
        arn: format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}"),
        role_arn: role_arn.to_owned(),
        account,
        user_id: format!("{}:{session_name}", stable_id("AROA", role_arn)),
        mfa_authenticated,
        session_token,
    }
}

fn role_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

// ---------------------------------------------------------------------------------------------
// XML
// ---------------------------------------------------------------------------------------------

fn caller_identity_xml(caller: &Principal) -> String {
    format!(
        "    <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{}</Account>\n",
        escape(caller.arn()),
        escape(caller.user_id()),
        escape(caller.account())
    )
}

fn credentials_xml(issued: &IssuedCredentials) -> String {
    format!(
        "    <Credentials>\n      <AccessKeyId>{}</AccessKeyId>\n      \
         <SecretAccessKey>{}</SecretAccessKey>\n      <SessionToken>{}</SessionToken>\n      \
         <Expiration>{}</Expiration>\n    </Credentials>\n",
        escape(issued.access_key_id.as_str()),
        escape(issued.secret_access_key.as_str()),
        escape(issued.session_token.as_str()),
        format_rfc3339(issued.expiration)
    )
}

fn assumed_role_user_xml(principal: &Principal) -> String {
    format!(
        "    <AssumedRoleUser>\n      <AssumedRoleId>{}</AssumedRoleId>\n      \
         <Arn>{}</Arn>\n    </AssumedRoleUser>\n",
        escape(principal.user_id()),
        escape(principal.arn())
    )
}

// ---------------------------------------------------------------------------------------------
// HTTP serving
// ---------------------------------------------------------------------------------------------

async fn handle_http(State(fake): State<FakeSts>, request: Request) -> Response {
    let fault = fake.inner.faults.next();
    if let Some(fault) = &fault {
        tracing::info!(fault = %fault.name(), "fake STS: injecting a fault");
    }
    if let Some(Fault::Stall(delay)) = &fault {
        // Dropped here, with the connection, if the client gives up first.
        tokio::time::sleep(*delay).await;
    }
    let lifetime = match &fault {
        Some(Fault::ShortLived(lifetime)) => Some(*lifetime),
        _ => None,
    };
    let (parts, body) = request.into_parts();
    let result = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => {
            let injected = fault.and_then(|fault| {
                fake.injected(
                    fault,
                    parts.method.as_str(),
                    parts.uri.path(),
                    parts.uri.query(),
                    &parts.headers,
                    &body,
                )
            });
            if let Some(response) = injected {
                return response;
            }
            fake.prefetch_keys(
                parts.method.as_str(),
                parts.uri.query(),
                &parts.headers,
                &body,
            )
            .await;
            fake.serve(
                parts.method.as_str(),
                parts.uri.path(),
                parts.uri.query(),
                &parts.headers,
                &body,
                lifetime,
            )
        }
        Err(error) => {
            fake.inner.requests.fetch_add(1, Ordering::SeqCst);
            *lock(&fake.inner.calls).entry(String::new()).or_insert(0) += 1;
            let error = bad_parameter(format!(
                "The request body could not be read (at most {MAX_BODY_BYTES} bytes): {error}"
            ));
            fake.record_rejection("", &error);
            Err(error)
        }
    };
    let (status, request_id, body) = match result {
        Ok(answer) => (200, answer.request_id, answer.body),
        Err(error) => {
            let request_id = fake.request_id();
            let body = error.to_xml(&request_id);
            (error.status(), request_id, body)
        }
    };
    xml_response(status, &request_id, body)
}

fn xml_response(status: u16, request_id: &str, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", value);
    }
    response
}

impl FakeSts {
    /// The answer of a fault that replaces normal service (see [`super::faults`]); `None`
    /// for the faults after which the request is served normally (stalls, short-lived
    /// credentials). The request is counted under its action and authenticated first, as
    /// every request is: a bad signature gets its usual refusal, not the fault.
    fn injected(
        &self,
        fault: Fault,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Option<Response> {
        if matches!(fault, Fault::Stall(_) | Fault::ShortLived(_)) {
            return None;
        }
        self.inner.requests.fetch_add(1, Ordering::SeqCst);
        let action = parse_parameters(method, query, headers, body)
            .ok()
            .and_then(|parameters| parameters.get("Action").cloned())
            .unwrap_or_default();
        *lock(&self.inner.calls).entry(action.clone()).or_insert(0) += 1;
        let request_id = self.request_id();
        if action != "AssumeRoleWithWebIdentity"
            && action != "AssumeRoleWithSAML"
            && let Err(error) = self.authenticate(method, path, query, headers, body)
        {
            self.record_rejection(&action, &error);
            return Some(xml_response(
                error.status(),
                &request_id,
                error.to_xml(&request_id),
            ));
        }
        let (status, code, message) = match fault {
            Fault::Status {
                status,
                error_type,
                message,
            } => (status, error_type, message),
            Fault::ClockSkew => {
                let amz_date = headers
                    .get("x-amz-date")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("(no X-Amz-Date)");
                let message = format!(
                    "Signature expired: {amz_date} is now earlier than the service's clock \
                     allows (request time too skewed: the clock of the caller and of the \
                     service differ by more than 5 minutes)"
                );
                (403, "SignatureDoesNotMatch".to_owned(), message)
            }
            Fault::Reset => {
                let mut response = Response::new(Body::new(FailingBody));
                *response.status_mut() = StatusCode::OK;
                return Some(response);
            }
            Fault::MalformedJson => {
                let body = format!(
                    "<{action}Response xmlns=\"{NAMESPACE}\">\n  <{action}Result>\n    \
                     <Credentials>\n      <AccessKeyId>ASIA"
                );
                return Some(xml_response(200, &request_id, body));
            }
            Fault::Stall(_) | Fault::ShortLived(_) => return None,
        };
        tracing::info!(status, action = %action, code = %code, message = %message, "STS refused (injected fault)");
        lock(&self.inner.rejections).push((status, code.clone(), message.clone()));
        let fault_type = if status >= 500 { "Receiver" } else { "Sender" };
        let body = error_document(fault_type, &code, &message, &request_id);
        Some(xml_response(status, &request_id, body))
    }
}

// ---------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a byte; the
/// result must be UTF-8.
fn form_decode(text: &str, what: &str) -> Result<String, StsError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => {
                out.push(b' ');
                index += 1;
            }
            b'%' => {
                let byte = bytes
                    .get(index + 1..index + 3)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                    .ok_or_else(|| {
                        bad_parameter(format!(
                            "The {what} '{text}' has an invalid percent-encoding"
                        ))
                    })?;
                out.push(byte);
                index += 3;
            }
            byte => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(out)
        .map_err(|_| bad_parameter(format!("The {what} '{text}' is not UTF-8 once decoded")))
}

/// The decoded `name=value` pairs of a query string or form body, in order.
fn form_pairs(text: &str, source: &str) -> Result<Vec<(String, String)>, StsError> {
    let mut pairs = Vec::new();
    for piece in text.split('&').filter(|piece| !piece.is_empty()) {
        let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
        let what = format!("{source} parameter");
        pairs.push((form_decode(name, &what)?, form_decode(value, &what)?));
    }
    Ok(pairs)
}

fn parse_parameters(
    method: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Parameters, StsError> {
    let mut pairs = form_pairs(query.unwrap_or_default(), "query string")?;
    if method == "GET" && !body.is_empty() {
        return Err(bad_parameter(
            "A GET request carries its parameters in the query string; it must have no body",
        ));
    }
    if !body.is_empty() {
        let content_type =
            single_header(headers, "content-type", "Content-Type")?.ok_or_else(|| {
                bad_parameter(format!(
                    "A POST body must be sent with Content-Type: {FORM_MEDIA_TYPE}"
                ))
            })?;
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        if !media_type.eq_ignore_ascii_case(FORM_MEDIA_TYPE) {
            return Err(bad_parameter(format!(
                "Content-Type must be {FORM_MEDIA_TYPE}, not '{content_type}'"
            )));
        }
        let text =
            std::str::from_utf8(body).map_err(|_| bad_parameter("The form body is not UTF-8"))?;
        pairs.extend(form_pairs(text, "form body")?);
    }
    let mut parameters = Parameters::new();
    for (name, value) in pairs {
        if parameters.contains_key(&name) {
            return Err(bad_parameter(format!(
                "The parameter {name} is given more than once"
            )));
        }
        parameters.insert(name, value);
    }
    Ok(parameters)
}

fn check_known_parameters(
    action: &str,
    parameters: &Parameters,
    names: &[&str],
    prefixes: &[&str],
) -> Result<(), StsError> {
    for name in parameters.keys() {
        let known = name == "Action"
            || name == "Version"
            || names.contains(&name.as_str())
            || prefixes.iter().any(|prefix| name.starts_with(prefix));
        if !known {
            return Err(bad_parameter(format!(
                "Unknown parameter '{name}' for {action} (this fake refuses parameters the \
                 action does not define)"
            )));
        }
    }
    Ok(())
}

fn null_member(member: &str) -> StsError {
    invalid(format!(
        "1 validation error detected: Value null at '{member}' failed to satisfy constraint: \
         Member must not be null"
    ))
}

/// `DurationSeconds` if given: an integer in 900..=`max`.
fn duration_parameter(parameters: &Parameters, max: u32) -> Result<Option<u32>, StsError> {
    let Some(text) = parameters.get("DurationSeconds") else {
        return Ok(None);
    };
    let value: u32 = text
        .parse()
        .ok()
        .filter(|_| text.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            invalid(format!(
                "1 validation error detected: Value '{text}' at 'durationSeconds' failed to \
                 satisfy constraint: Member must be an integer"
            ))
        })?;
    if value < 900 {
        return Err(invalid(format!(
            "1 validation error detected: Value '{value}' at 'durationSeconds' failed to \
             satisfy constraint: Member must have value greater than or equal to 900"
        )));
    }
    if value > max {
        return Err(invalid(format!(
            "1 validation error detected: Value '{value}' at 'durationSeconds' failed to \
             satisfy constraint: Member must have value less than or equal to {max}"
        )));
    }
    Ok(Some(value))
}

fn role_arn_parameter(parameters: &Parameters) -> Result<&str, StsError> {
    let arn = parameters
        .get("RoleArn")
        .ok_or_else(|| null_member("roleArn"))?;
    if !(20..=2048).contains(&arn.len()) {
        return Err(invalid(format!(
            "1 validation error detected: Value '{arn}' at 'roleArn' failed to satisfy \
             constraint: Member must have length between 20 and 2048"
        )));
    }
    Ok(arn)
}

fn session_name_parameter(parameters: &Parameters) -> Result<&str, StsError> {
    let name = parameters
        .get("RoleSessionName")
        .ok_or_else(|| null_member("roleSessionName"))?;
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if !(2..=64).contains(&name.len()) || !valid_chars {
        return Err(invalid(format!(
            "1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy \
             constraint: Member must have length between 2 and 64 and satisfy regular \
             expression pattern: [\\w+=,.@-]*"
        )));
    }
    Ok(name)
}

/// `SerialNumber` and `TokenCode`: both (validated) or neither.
fn mfa_parameters(parameters: &Parameters) -> Result<Option<(&str, &str)>, StsError> {
    let serial = parameters.get("SerialNumber");
    let code = parameters.get("TokenCode");
    let (serial, code) = match (serial, code) {
        (None, None) => return Ok(None),
        (Some(serial), Some(code)) => (serial, code),
        _ => {
            return Err(denied(
                "MultiFactorAuthentication failed, must provide both MFA serial number and one \
                 time pass code.",
            ));
        }
    };
    let serial_chars = serial
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=/:,.@-".contains(c));
    if !(9..=256).contains(&serial.len()) || !serial_chars {
        return Err(invalid(format!(
            "1 validation error detected: Value '{serial}' at 'serialNumber' failed to satisfy \
             constraint: Member must have length between 9 and 256 and satisfy regular \
             expression pattern: [\\w+=/:,.@-]*"
        )));
    }
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            "1 validation error detected: Value at 'tokenCode' failed to satisfy constraint: \
             Member must have length 6 and satisfy regular expression pattern: [\\d]*",
        ));
    }
    Ok(Some((serial, code)))
}

// ---------------------------------------------------------------------------------------------
// SigV4
// ---------------------------------------------------------------------------------------------

/// STS requires `host` and `x-amz-date` signed, and `x-amz-security-token` when sent.
fn check_signed_headers(signed: &[String], headers: &HeaderMap) -> Result<(), StsError> {
    let mut required = vec!["host", "x-amz-date"];
    if headers.contains_key("x-amz-security-token") {
        required.push("x-amz-security-token");
    }
    Ok(sigv4::check_signed_headers(signed, headers, &required)?)
}

/// The query decoded as a form (as AWS reads it: `+` is a space), re-encoded per RFC 3986,
/// sorted.
fn canonical_query(query: Option<&str>) -> Result<String, StsError> {
    Ok(sigv4::canonical_query(form_pairs(
        query.unwrap_or_default(),
        "query",
    )?))
}

/// Headers `aws-sigv4` adds to sign a request: what clients of this crate do. For tests
/// (here and in the Roles Anywhere fake's tests); the fake never uses it to verify.
#[cfg(test)]
#[allow(
    clippy::too_many_arguments,
    reason = "a test helper mirroring the signing inputs"
)]
pub(super) fn sigv4_headers(
    method: &str,
    uri: &str,
    headers: &[(String, String)],
    body: &[u8],
    access_key_id: &str,
    secret_access_key: &str,
    session_token: Option<&str>,
    region: &str,
    service: &str,
    at: OffsetDateTime,
) -> Vec<(String, String)> {
    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;

    let identity = Credentials::new(
        access_key_id,
        secret_access_key,
        session_token.map(str::to_owned),
        None,
        "test",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(std::time::SystemTime::from(at))
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let request = SignableRequest::new(
        method,
        uri,
        headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _signature) = sign(request, &params).unwrap().into_parts();
    instructions
        .headers()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    //! Requests are signed with the `aws-sigv4` crate, as clients do; the fake's verifier is
    //! written independently of it.

    use super::*;
    use crate::clock::FixedClock;
    use axum::http::HeaderName;
    use time::macros::datetime;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    const HOST: &str = "sts.us-east-1.amazonaws.com";
    const T0: OffsetDateTime = datetime!(2026-03-04 05:06:07 UTC);

    struct World {
        fake: FakeSts,
        clock: Arc<FixedClock>,
        registry: Registry,
    }

    fn world() -> World {
        let registry = Registry::new();
        let clock = Arc::new(FixedClock::new(T0));
        let config = StsConfig::example(registry.clone()).with_clock(clock.clone());
        World {
            fake: FakeSts::new(config),
            clock,
            registry,
        }
    }

    #[derive(Debug, Clone)]
    struct Keys {
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
    }

    fn alice() -> Keys {
        Keys {
            access_key_id: ALICE_ACCESS_KEY_ID.to_owned(),
            secret_access_key: ALICE_SECRET_ACCESS_KEY.to_owned(),
            session_token: None,
        }
    }

    fn bob() -> Keys {
        Keys {
            access_key_id: BOB_ACCESS_KEY_ID.to_owned(),
            secret_access_key: BOB_SECRET_ACCESS_KEY.to_owned(),
            session_token: None,
        }
    }

    fn keys_of(issued: &IssuedCredentials) -> Keys {
        Keys {
            access_key_id: issued.access_key_id.clone(),
            secret_access_key: issued.secret_access_key.clone(),
            session_token: Some(issued.session_token.clone()),
        }
    }

    /// One request to the fake, signed (or not) with `aws-sigv4`.
    #[derive(Debug, Clone)]
    struct Call {
        method: &'static str,
        parameters: Vec<(String, String)>,
        keys: Option<Keys>,
        region: String,
        service: String,
        at: OffsetDateTime,
    }

    impl Call {
        fn new(action: &str, keys: Option<Keys>, at: OffsetDateTime) -> Self {
            Call {
                method: "POST",
                parameters: vec![
                    ("Action".to_owned(), action.to_owned()),
                    ("Version".to_owned(), VERSION.to_owned()),
                ],
                keys,
                region: REGION.to_owned(),
                service: SERVICE.to_owned(),
                at,
            }
        }

        fn param(mut self, name: &str, value: &str) -> Self {
            self.parameters.push((name.to_owned(), value.to_owned()));
            self
        }

        fn encoded(&self) -> String {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in &self.parameters {
                form.append_pair(name, value);
            }
            form.finish()
        }

        /// (query, headers, body) as sent.
        fn parts(&self) -> (Option<String>, HeaderMap, Vec<u8>) {
            let (query, body, mut list) = if self.method == "GET" {
                (Some(self.encoded()), Vec::new(), Vec::new())
            } else {
                (
                    None,
                    self.encoded().into_bytes(),
                    vec![(
                        "content-type".to_owned(),
                        "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
                    )],
                )
            };
            list.push(("host".to_owned(), HOST.to_owned()));
            if let Some(keys) = &self.keys {
                let uri = match &query {
                    Some(query) => format!("https://{HOST}/?{query}"),
                    None => format!("https://{HOST}/"),
                };
                let added = sigv4_headers(
                    self.method,
                    &uri,
                    &list,
                    &body,
                    &keys.access_key_id,
                    &keys.secret_access_key,
                    keys.session_token.as_deref(),
                    &self.region,
                    &self.service,
                    self.at,
                );
                list.extend(added);
            }
            let mut headers = HeaderMap::new();
            for (name, value) in list {
                headers.append(
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(&value).unwrap(),
                );
            }
            (query, headers, body)
        }

        fn send(&self, fake: &FakeSts) -> Result<Answer, StsError> {
            let (query, headers, body) = self.parts();
            fake.handle(self.method, "/", query.as_deref(), &headers, &body)
        }
    }

    fn caller_identity(fake: &FakeSts, keys: Keys, at: OffsetDateTime) -> Result<Answer, StsError> {
        Call::new("GetCallerIdentity", Some(keys), at).send(fake)
    }

    fn expect_error(result: Result<Answer, StsError>, code: ErrorCode, needle: &str) -> StsError {
        let error = result.expect_err("the fake accepted the request");
        assert_eq!(error.code, code, "{error}");
        assert!(
            error.message.contains(needle),
            "expected '{needle}' in: {}",
            error.message
        );
        error
    }

    /// Every element path with text and that text (entities resolved, trimmed), in document
    /// order; fails on malformed XML.
    fn xml_paths(xml: &str) -> Vec<(String, String)> {
        use quick_xml::escape::resolve_predefined_entity;
        use quick_xml::events::Event;
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut stack: Vec<(String, String)> = Vec::new();
        let mut out = Vec::new();
        loop {
            match reader.read_event().unwrap() {
                Event::Start(start) => {
                    let name = String::from_utf8(start.name().as_ref().to_vec()).unwrap();
                    stack.push((name, String::new()));
                }
                Event::End(_) => {
                    let path = stack
                        .iter()
                        .map(|(name, _)| name.as_str())
                        .collect::<Vec<_>>()
                        .join("/");
                    let (_, text) = stack.pop().unwrap();
                    if !text.trim().is_empty() {
                        out.push((path, text.trim().to_owned()));
                    }
                }
                Event::Text(text) => {
                    if let Some((_, buffer)) = stack.last_mut() {
                        buffer.push_str(&text.decode().unwrap());
                    }
                }
                Event::GeneralRef(reference) => {
                    let resolved = match reference.resolve_char_ref().unwrap() {
                        Some(c) => c.to_string(),
                        None => {
                            let name = reference.decode().unwrap();
                            resolve_predefined_entity(&name).unwrap().to_owned()
                        }
                    };
                    stack.last_mut().unwrap().1.push_str(&resolved);
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert!(stack.is_empty(), "unclosed elements in {xml}");
        out
    }

    fn text_at(xml: &str, path: &str) -> Option<String> {
        xml_paths(xml)
            .into_iter()
            .find(|(p, _)| p == path)
            .map(|(_, text)| text)
    }

    fn assume_role(
        fake: &FakeSts,
        keys: Keys,
        role: &str,
        at: OffsetDateTime,
    ) -> Result<Answer, StsError> {
        Call::new("AssumeRole", Some(keys), at)
            .param("RoleArn", role)
            .param("RoleSessionName", "test-session")
            .send(fake)
    }

    fn issued(answer: Answer) -> IssuedCredentials {
        answer.credentials.expect("credentials in the answer")
    }

    fn code_at(at: OffsetDateTime) -> String {
        totp(ALICE_MFA_SECRET, at.unix_timestamp())
    }

    #[test]
    fn get_caller_identity_of_a_user() {
        let w = world();
        let answer = caller_identity(&w.fake, alice(), T0).unwrap();
        let paths = xml_paths(&answer.body);
        let user_id = w.registry.users()[0].user_id();
        assert_eq!(
            paths,
            vec![
                (
                    "GetCallerIdentityResponse/GetCallerIdentityResult/Arn".to_owned(),
                    ALICE_ARN.to_owned()
                ),
                (
                    "GetCallerIdentityResponse/GetCallerIdentityResult/UserId".to_owned(),
                    user_id
                ),
                (
                    "GetCallerIdentityResponse/GetCallerIdentityResult/Account".to_owned(),
                    ACCOUNT_ID.to_owned()
                ),
                (
                    "GetCallerIdentityResponse/ResponseMetadata/RequestId".to_owned(),
                    answer.request_id.clone()
                ),
            ]
        );
        assert!(answer.body.starts_with(
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
        ));
        assert!(answer.credentials.is_none());

        // GET with the parameters in the query string, and a skew within five minutes.
        let mut get = Call::new("GetCallerIdentity", Some(bob()), T0 + Duration::minutes(4));
        get.method = "GET";
        let answer = get.send(&w.fake).unwrap();
        assert_eq!(
            text_at(
                &answer.body,
                "GetCallerIdentityResponse/GetCallerIdentityResult/Arn"
            ),
            Some(BOB_ARN.to_owned())
        );
        assert_eq!(w.fake.calls("GetCallerIdentity"), 2);
        assert_eq!(w.fake.request_count(), 2);
        assert!(w.fake.rejections().is_empty());
    }

    #[test]
    fn signature_and_credential_checks() {
        let w = world();
        let wrong_secret = Keys {
            secret_access_key: BOB_SECRET_ACCESS_KEY.to_owned(),
            ..alice()
        };
        let error = expect_error(
            caller_identity(&w.fake, wrong_secret, T0),
            ErrorCode::SignatureDoesNotMatch,
            "The request signature we calculated does not match",
        );
        assert_eq!(error.status(), 403);
        assert!(
            error.message.contains("POST\n/\n\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\nhost:sts.us-east-1.amazonaws.com\nx-amz-date:20260304T050607Z\n\ncontent-type;host;x-amz-date\n"),
            "{}",
            error.message
        );
        assert!(
            error.message.contains(
                "AWS4-HMAC-SHA256\n20260304T050607Z\n20260304/us-east-1/sts/aws4_request\n"
            ),
            "{}",
            error.message
        );

        let unknown = Keys {
            access_key_id: "AKIAUNKNOWN000000000".to_owned(),
            ..alice()
        };
        expect_error(
            caller_identity(&w.fake, unknown, T0),
            ErrorCode::InvalidClientTokenId,
            "security token included in the request is invalid",
        );
        let with_token = Keys {
            session_token: Some("unexpected".to_owned()),
            ..alice()
        };
        expect_error(
            caller_identity(&w.fake, with_token, T0),
            ErrorCode::InvalidClientTokenId,
            "invalid",
        );

        for (skew, needle) in [
            (Duration::minutes(-6), "Signature expired"),
            (Duration::minutes(6), "Signature not yet current"),
        ] {
            expect_error(
                caller_identity(&w.fake, alice(), T0 + skew),
                ErrorCode::SignatureDoesNotMatch,
                needle,
            );
        }

        let mut wrong_region = Call::new("GetCallerIdentity", Some(alice()), T0);
        wrong_region.region = "eu-west-1".to_owned();
        expect_error(
            wrong_region.send(&w.fake),
            ErrorCode::SignatureDoesNotMatch,
            "valid region, not 'eu-west-1'",
        );
        let mut wrong_service = Call::new("GetCallerIdentity", Some(alice()), T0);
        wrong_service.service = "iam".to_owned();
        expect_error(
            wrong_service.send(&w.fake),
            ErrorCode::SignatureDoesNotMatch,
            "correct service: 'sts', not 'iam'",
        );

        let unsigned = Call::new("GetCallerIdentity", None, T0);
        let error = expect_error(
            unsigned.send(&w.fake),
            ErrorCode::MissingAuthenticationToken,
            "missing Authentication Token",
        );
        assert_eq!(error.status(), 403);
        assert_eq!(w.fake.rejections().len(), 8);
        assert_eq!(w.fake.rejections()[0].0, 403);
        assert_eq!(w.fake.rejections()[0].1, "SignatureDoesNotMatch");
    }

    #[test]
    fn tampering_after_signing_is_caught() {
        let w = world();
        let call = Call::new("GetCallerIdentity", Some(alice()), T0);
        let (_, headers, _) = call.parts();
        // The body changed after signing.
        let body = b"Action=GetCallerIdentity&Version=2011-06-15&X=1";
        let error = w
            .fake
            .handle("POST", "/", None, &headers, body)
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::SignatureDoesNotMatch, "{error}");

        // A header the signature covers changed.
        let (query, mut headers, body) = call.parts();
        headers.insert("host", HeaderValue::from_static("evil.example"));
        let error = w
            .fake
            .handle("POST", "/", query.as_deref(), &headers, &body)
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::SignatureDoesNotMatch);

        // The signature covers no host.
        let (query, mut headers, body) = call.parts();
        let authorization = headers["authorization"]
            .to_str()
            .unwrap()
            .replace("content-type;host;x-amz-date", "content-type;x-amz-date");
        headers.insert(
            "authorization",
            HeaderValue::from_str(&authorization).unwrap(),
        );
        let error = w
            .fake
            .handle("POST", "/", query.as_deref(), &headers, &body)
            .unwrap_err();
        assert_eq!(
            (error.code, error.status()),
            (ErrorCode::IncompleteSignature, 400),
            "{error}"
        );
        assert!(error.message.contains("'host' must be a 'SignedHeader'"));

        // Not the HMAC algorithm, and a garbled header.
        for value in [
            "AWS4-X509-RSA-SHA256 Credential=1/20260304/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIA/2026/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIA/20260304/us-east-1/sts/aws4_request",
        ] {
            let (query, mut headers, body) = call.parts();
            headers.insert("authorization", HeaderValue::from_static(value));
            let error = w
                .fake
                .handle("POST", "/", query.as_deref(), &headers, &body)
                .unwrap_err();
            assert_eq!(error.code, ErrorCode::IncompleteSignature, "{value}");
        }

        // A signed x-amz-content-sha256 must be the body's hash.
        let body = call.encoded().into_bytes();
        let list = vec![
            (
                "content-type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            ),
            ("host".to_owned(), HOST.to_owned()),
            ("x-amz-content-sha256".to_owned(), "0".repeat(64)),
        ];
        let added = sigv4_headers(
            "POST",
            &format!("https://{HOST}/"),
            &list,
            &body,
            ALICE_ACCESS_KEY_ID,
            ALICE_SECRET_ACCESS_KEY,
            None,
            REGION,
            SERVICE,
            T0,
        );
        let mut headers = HeaderMap::new();
        for (name, value) in list.into_iter().chain(added) {
            headers.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(&value).unwrap(),
            );
        }
        let error = w
            .fake
            .handle("POST", "/", None, &headers, &body)
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::SignatureDoesNotMatch);
        assert!(error.message.contains("x-amz-content-sha256"), "{error}");
    }

    #[test]
    fn temporary_credentials_need_their_token_and_expire() {
        let w = world();
        let session = issued(
            Call::new("GetSessionToken", Some(bob()), T0)
                .param("DurationSeconds", "900")
                .send(&w.fake)
                .unwrap(),
        );
        assert!(session.access_key_id.starts_with("ASIA"));
        assert_eq!(session.access_key_id.len(), 20);
        assert_eq!(session.secret_access_key.len(), 40);
        assert_eq!(session.expiration, T0 + Duration::seconds(900));
        let keys = keys_of(&session);
        let answer = caller_identity(&w.fake, keys.clone(), T0).unwrap();
        assert_eq!(
            text_at(
                &answer.body,
                "GetCallerIdentityResponse/GetCallerIdentityResult/Arn"
            ),
            Some(BOB_ARN.to_owned())
        );

        let missing = Keys {
            session_token: None,
            ..keys.clone()
        };
        expect_error(
            caller_identity(&w.fake, missing, T0),
            ErrorCode::InvalidClientTokenId,
            "invalid",
        );
        let wrong = Keys {
            session_token: Some("d3Jvbmc=".to_owned()),
            ..keys.clone()
        };
        expect_error(
            caller_identity(&w.fake, wrong, T0),
            ErrorCode::InvalidClientTokenId,
            "invalid",
        );

        w.clock.set(T0 + Duration::seconds(900));
        let error = expect_error(
            caller_identity(&w.fake, keys, T0 + Duration::seconds(900)),
            ErrorCode::ExpiredToken,
            "expired",
        );
        assert_eq!(error.status(), 403);
    }

    #[test]
    fn get_session_token_with_mfa() {
        let w = world();
        // No MFA: not MFA-authenticated, default 12 hours.
        let plain = issued(
            Call::new("GetSessionToken", Some(alice()), T0)
                .send(&w.fake)
                .unwrap(),
        );
        assert_eq!(plain.expiration, T0 + Duration::seconds(43200));
        assert!(!plain.principal.mfa_authenticated());

        // A wrong code.
        let good = code_at(T0);
        let wrong = format!("{:06}", (good.parse::<u32>().unwrap() + 1) % 1_000_000);
        let error = expect_error(
            Call::new("GetSessionToken", Some(alice()), T0)
                .param("SerialNumber", ALICE_MFA_SERIAL)
                .param("TokenCode", &wrong)
                .send(&w.fake),
            ErrorCode::AccessDenied,
            INVALID_MFA_MESSAGE,
        );
        assert_eq!(error.status(), 403);

        // The right code, then the same code again.
        let answer = Call::new("GetSessionToken", Some(alice()), T0)
            .param("SerialNumber", ALICE_MFA_SERIAL)
            .param("TokenCode", &good)
            .param("DurationSeconds", "129600")
            .send(&w.fake)
            .unwrap();
        let paths: Vec<String> = xml_paths(&answer.body)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        let prefix = "GetSessionTokenResponse/GetSessionTokenResult/Credentials";
        assert_eq!(
            paths,
            vec![
                format!("{prefix}/AccessKeyId"),
                format!("{prefix}/SecretAccessKey"),
                format!("{prefix}/SessionToken"),
                format!("{prefix}/Expiration"),
                "GetSessionTokenResponse/ResponseMetadata/RequestId".to_owned(),
            ]
        );
        let session = issued(answer.clone());
        assert_eq!(
            text_at(&answer.body, &format!("{prefix}/Expiration")),
            Some("2026-03-05T17:06:07Z".to_owned())
        );
        assert_eq!(
            text_at(&answer.body, &format!("{prefix}/SessionToken")),
            Some(session.session_token.clone())
        );
        let expected = Principal::User {
            arn: ALICE_ARN.to_owned(),
            account: ACCOUNT_ID.to_owned(),
            user_id: w.registry.user_by_arn(ALICE_ARN).unwrap().user_id(),
            mfa_authenticated: true,
            session_token: Some(session.session_token.clone()),
        };
        assert_eq!(session.principal, expected);
        assert_eq!(
            w.registry.lookup(&session.access_key_id).unwrap().1,
            expected
        );
        expect_error(
            Call::new("GetSessionToken", Some(alice()), T0)
                .param("SerialNumber", ALICE_MFA_SERIAL)
                .param("TokenCode", &good)
                .send(&w.fake),
            ErrorCode::AccessDenied,
            "already used",
        );
        // The previous step's code is older than the one used: refused too.
        expect_error(
            Call::new("GetSessionToken", Some(alice()), T0)
                .param("SerialNumber", ALICE_MFA_SERIAL)
                .param("TokenCode", &code_at(T0 - Duration::seconds(30)))
                .send(&w.fake),
            ErrorCode::AccessDenied,
            INVALID_MFA_MESSAGE,
        );
        // The next step's code is accepted (clock drift of one step either way).
        Call::new("GetSessionToken", Some(alice()), T0)
            .param("SerialNumber", ALICE_MFA_SERIAL)
            .param("TokenCode", &code_at(T0 + Duration::seconds(30)))
            .send(&w.fake)
            .unwrap();
        // Two steps ahead is not.
        expect_error(
            Call::new("GetSessionToken", Some(alice()), T0)
                .param("SerialNumber", ALICE_MFA_SERIAL)
                .param("TokenCode", &code_at(T0 + Duration::seconds(90)))
                .send(&w.fake),
            ErrorCode::AccessDenied,
            INVALID_MFA_MESSAGE,
        );

        // Session credentials may not call it.
        expect_error(
            Call::new("GetSessionToken", Some(keys_of(&session)), T0).send(&w.fake),
            ErrorCode::AccessDenied,
            "Cannot call GetSessionToken with session credentials",
        );
        // Bob has no device; alice's serial is not his.
        expect_error(
            Call::new("GetSessionToken", Some(bob()), T0)
                .param("SerialNumber", ALICE_MFA_SERIAL)
                .param("TokenCode", &code_at(T0 + Duration::seconds(60)))
                .send(&w.fake),
            ErrorCode::AccessDenied,
            "is not an MFA device of arn:aws:iam::123456789012:user/bob",
        );
        // Half the MFA parameters, malformed codes, durations.
        expect_error(
            Call::new("GetSessionToken", Some(alice()), T0)
                .param("SerialNumber", ALICE_MFA_SERIAL)
                .send(&w.fake),
            ErrorCode::AccessDenied,
            "must provide both",
        );
        expect_error(
            Call::new("GetSessionToken", Some(alice()), T0)
                .param("SerialNumber", ALICE_MFA_SERIAL)
                .param("TokenCode", "12345")
                .send(&w.fake),
            ErrorCode::ValidationError,
            "tokenCode",
        );
        for (duration, needle) in [
            ("899", "greater than or equal to 900"),
            ("129601", "less than or equal to 129600"),
            ("1h", "must be an integer"),
        ] {
            expect_error(
                Call::new("GetSessionToken", Some(alice()), T0)
                    .param("DurationSeconds", duration)
                    .send(&w.fake),
                ErrorCode::ValidationError,
                needle,
            );
        }
        assert_eq!(w.fake.issued().len(), 3);
        assert_eq!(w.fake.calls("GetSessionToken"), 14);
    }

    #[test]
    fn assume_role_allowed_and_denied() {
        let w = world();
        let answer = assume_role(&w.fake, bob(), DEVELOPER_ROLE_ARN, T0).unwrap();
        let base = "AssumeRoleResponse/AssumeRoleResult";
        let paths: Vec<String> = xml_paths(&answer.body)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(
            paths,
            vec![
                format!("{base}/Credentials/AccessKeyId"),
                format!("{base}/Credentials/SecretAccessKey"),
                format!("{base}/Credentials/SessionToken"),
                format!("{base}/Credentials/Expiration"),
                format!("{base}/AssumedRoleUser/AssumedRoleId"),
                format!("{base}/AssumedRoleUser/Arn"),
                format!("{base}/PackedPolicySize"),
                "AssumeRoleResponse/ResponseMetadata/RequestId".to_owned(),
            ]
        );
        let session = issued(answer.clone());
        let arn = "arn:aws:sts::123456789012:assumed-role/developer/test-session";
        assert_eq!(
            text_at(&answer.body, &format!("{base}/AssumedRoleUser/Arn")),
            Some(arn.to_owned())
        );
        let role_id = text_at(
            &answer.body,
            &format!("{base}/AssumedRoleUser/AssumedRoleId"),
        )
        .unwrap();
        assert!(role_id.starts_with("AROA") && role_id.ends_with(":test-session"));
        assert_eq!(session.expiration, T0 + Duration::hours(1));
        // The session can call STS and says who it is.
        let identity = caller_identity(&w.fake, keys_of(&session), T0).unwrap();
        let result = "GetCallerIdentityResponse/GetCallerIdentityResult";
        assert_eq!(
            text_at(&identity.body, &format!("{result}/Arn")),
            Some(arn.to_owned())
        );
        assert_eq!(
            text_at(&identity.body, &format!("{result}/UserId")),
            Some(role_id)
        );

        // Unknown role, other account's role.
        expect_error(
            assume_role(&w.fake, bob(), "arn:aws:iam::123456789012:role/nope", T0),
            ErrorCode::AccessDenied,
            "User: arn:aws:iam::123456789012:user/bob is not authorized to perform: \
             sts:AssumeRole on resource: arn:aws:iam::123456789012:role/nope",
        );
        // The web role trusts no account for AssumeRole.
        expect_error(
            assume_role(&w.fake, bob(), WEB_ROLE_ARN, T0),
            ErrorCode::AccessDenied,
            "not authorized",
        );
        // Durations: role maximum, API range, default.
        let long = Call::new("AssumeRole", Some(bob()), T0)
            .param("RoleArn", DEVELOPER_ROLE_ARN)
            .param("RoleSessionName", "long")
            .param("DurationSeconds", "43200")
            .send(&w.fake)
            .unwrap();
        assert_eq!(issued(long).expiration, T0 + Duration::hours(12));
        expect_error(
            Call::new("AssumeRole", Some(bob()), T0)
                .param("RoleArn", PARTNER_ROLE_ARN)
                .param("RoleSessionName", "long")
                .param("ExternalId", PARTNER_EXTERNAL_ID)
                .param("DurationSeconds", "7200")
                .send(&w.fake),
            ErrorCode::ValidationError,
            "exceeds the MaxSessionDuration set for this role",
        );
        expect_error(
            Call::new("AssumeRole", Some(bob()), T0)
                .param("RoleArn", DEVELOPER_ROLE_ARN)
                .param("RoleSessionName", "long")
                .param("DurationSeconds", "43201")
                .send(&w.fake),
            ErrorCode::ValidationError,
            "less than or equal to 43200",
        );
        // Parameter validation.
        for (name, value, needle) in [
            ("RoleSessionName", "x", "roleSessionName"),
            ("RoleSessionName", "has space", "roleSessionName"),
            ("RoleSessionName", &"a".repeat(65), "roleSessionName"),
        ] {
            expect_error(
                Call::new("AssumeRole", Some(bob()), T0)
                    .param("RoleArn", DEVELOPER_ROLE_ARN)
                    .param(name, value)
                    .send(&w.fake),
                ErrorCode::ValidationError,
                needle,
            );
        }
        expect_error(
            Call::new("AssumeRole", Some(bob()), T0)
                .param("RoleSessionName", "s1")
                .send(&w.fake),
            ErrorCode::ValidationError,
            "Value null at 'roleArn'",
        );
        expect_error(
            Call::new("AssumeRole", Some(bob()), T0)
                .param("RoleArn", DEVELOPER_ROLE_ARN)
                .send(&w.fake),
            ErrorCode::ValidationError,
            "Value null at 'roleSessionName'",
        );
        // Accepted but unused parameters, and a refused unknown one.
        Call::new("AssumeRole", Some(bob()), T0)
            .param("RoleArn", DEVELOPER_ROLE_ARN)
            .param("RoleSessionName", "with-tags")
            .param("Tags.member.1.Key", "team")
            .param("Tags.member.1.Value", "a")
            .param(
                "PolicyArns.member.1.arn",
                "arn:aws:iam::aws:policy/ReadOnlyAccess",
            )
            .send(&w.fake)
            .unwrap();
        expect_error(
            Call::new("AssumeRole", Some(bob()), T0)
                .param("RoleArn", DEVELOPER_ROLE_ARN)
                .param("RoleSessionName", "typo")
                .param("DurationSecond", "900")
                .send(&w.fake),
            ErrorCode::InvalidParameterValue,
            "Unknown parameter 'DurationSecond'",
        );
        let (id, principal) = w.fake.issued()[0].clone();
        assert_eq!(id, session.access_key_id);
        assert_eq!(principal.arn(), arn);
    }

    #[test]
    fn assume_role_requiring_mfa() {
        let w = world();
        // Without MFA: denied, for alice and for bob.
        for keys in [alice(), bob()] {
            expect_error(
                assume_role(&w.fake, keys, ADMIN_ROLE_ARN, T0),
                ErrorCode::AccessDenied,
                "is not authorized to perform: sts:AssumeRole on resource: \
                 arn:aws:iam::123456789012:role/admin",
            );
        }
        // With a code in the call.
        let direct = issued(
            Call::new("AssumeRole", Some(alice()), T0)
                .param("RoleArn", ADMIN_ROLE_ARN)
                .param("RoleSessionName", "direct")
                .param("SerialNumber", ALICE_MFA_SERIAL)
                .param("TokenCode", &code_at(T0))
                .send(&w.fake)
                .unwrap(),
        );
        assert!(direct.principal.mfa_authenticated());
        // A wrong code in the call.
        let t1 = T0 + Duration::seconds(60);
        w.clock.set(t1);
        expect_error(
            Call::new("AssumeRole", Some(alice()), t1)
                .param("RoleArn", ADMIN_ROLE_ARN)
                .param("RoleSessionName", "direct")
                .param("SerialNumber", ALICE_MFA_SERIAL)
                .param("TokenCode", &code_at(T0))
                .send(&w.fake),
            ErrorCode::AccessDenied,
            INVALID_MFA_MESSAGE,
        );
        // With an MFA session from GetSessionToken (no code in the AssumeRole call).
        let mfa_session = issued(
            Call::new("GetSessionToken", Some(alice()), t1)
                .param("SerialNumber", ALICE_MFA_SERIAL)
                .param("TokenCode", &code_at(t1))
                .send(&w.fake)
                .unwrap(),
        );
        let via_session =
            issued(assume_role(&w.fake, keys_of(&mfa_session), ADMIN_ROLE_ARN, t1).unwrap());
        assert!(via_session.principal.mfa_authenticated());
        assert_eq!(
            via_session.principal.arn(),
            "arn:aws:sts::123456789012:assumed-role/admin/test-session"
        );
        // A plain (non-MFA) GetSessionToken session is not enough.
        let plain = issued(
            Call::new("GetSessionToken", Some(alice()), t1)
                .send(&w.fake)
                .unwrap(),
        );
        expect_error(
            assume_role(&w.fake, keys_of(&plain), ADMIN_ROLE_ARN, t1),
            ErrorCode::AccessDenied,
            "not authorized",
        );
        // MFA carries over a chain: admin session → developer session is MFA-authenticated.
        let chained =
            issued(assume_role(&w.fake, keys_of(&via_session), DEVELOPER_ROLE_ARN, t1).unwrap());
        assert!(chained.principal.mfa_authenticated());
        // A role session may pass a device of its account's users.
        let t2 = t1 + Duration::seconds(60);
        w.clock.set(t2);
        let developer = issued(assume_role(&w.fake, bob(), DEVELOPER_ROLE_ARN, t2).unwrap());
        assert!(!developer.principal.mfa_authenticated());
        let escalated = issued(
            Call::new("AssumeRole", Some(keys_of(&developer)), t2)
                .param("RoleArn", ADMIN_ROLE_ARN)
                .param("RoleSessionName", "escalated")
                .param("SerialNumber", ALICE_MFA_SERIAL)
                .param("TokenCode", &code_at(t2))
                .send(&w.fake)
                .unwrap(),
        );
        assert!(escalated.principal.mfa_authenticated());
        // Bob's call naming alice's device is refused.
        expect_error(
            Call::new("AssumeRole", Some(bob()), t2)
                .param("RoleArn", ADMIN_ROLE_ARN)
                .param("RoleSessionName", "bob")
                .param("SerialNumber", ALICE_MFA_SERIAL)
                .param("TokenCode", &code_at(t2 + Duration::seconds(30)))
                .send(&w.fake),
            ErrorCode::AccessDenied,
            "is not an MFA device of",
        );
    }

    #[test]
    fn role_chaining_and_trust_by_principal() {
        let w = world();
        let code = code_at(T0);
        let admin = issued(
            Call::new("AssumeRole", Some(alice()), T0)
                .param("RoleArn", ADMIN_ROLE_ARN)
                .param("RoleSessionName", "ops")
                .param("SerialNumber", ALICE_MFA_SERIAL)
                .param("TokenCode", &code)
                .param("DurationSeconds", "7200")
                .send(&w.fake)
                .unwrap(),
        );
        assert_eq!(admin.expiration, T0 + Duration::hours(2));
        // The auditor role trusts admin sessions only.
        let auditor = issued(assume_role(&w.fake, keys_of(&admin), AUDITOR_ROLE_ARN, T0).unwrap());
        assert_eq!(
            auditor.principal.arn(),
            "arn:aws:sts::123456789012:assumed-role/auditor/test-session"
        );
        // Chained: one hour by default and at most.
        assert_eq!(auditor.expiration, T0 + Duration::hours(1));
        let developer = issued(
            Call::new("AssumeRole", Some(keys_of(&admin)), T0)
                .param("RoleArn", DEVELOPER_ROLE_ARN)
                .param("RoleSessionName", "chained")
                .send(&w.fake)
                .unwrap(),
        );
        assert_eq!(developer.expiration, T0 + Duration::hours(1));
        expect_error(
            Call::new("AssumeRole", Some(keys_of(&admin)), T0)
                .param("RoleArn", DEVELOPER_ROLE_ARN)
                .param("RoleSessionName", "chained")
                .param("DurationSeconds", "3601")
                .send(&w.fake),
            ErrorCode::ValidationError,
            "1 hour session limit for roles assumed by role chaining",
        );
        // Users and other role sessions are not trusted by the auditor role.
        expect_error(
            assume_role(&w.fake, alice(), AUDITOR_ROLE_ARN, T0),
            ErrorCode::AccessDenied,
            "User: arn:aws:iam::123456789012:user/alice is not authorized",
        );
        expect_error(
            assume_role(&w.fake, keys_of(&developer), AUDITOR_ROLE_ARN, T0),
            ErrorCode::AccessDenied,
            "User: arn:aws:sts::123456789012:assumed-role/developer/chained is not authorized",
        );
        assert!(arn_matches("arn:a/*", "arn:a/b"));
        assert!(!arn_matches("arn:a/*", "arn:b/a"));
        assert!(arn_matches("arn:a/b", "arn:a/b"));
        assert!(!arn_matches("arn:a/b", "arn:a/bc"));
    }

    #[test]
    fn external_id() {
        let w = world();
        let call = |external_id: Option<&str>| {
            let mut call = Call::new("AssumeRole", Some(bob()), T0)
                .param("RoleArn", PARTNER_ROLE_ARN)
                .param("RoleSessionName", "partner");
            if let Some(external_id) = external_id {
                call = call.param("ExternalId", external_id);
            }
            call.send(&w.fake)
        };
        expect_error(call(None), ErrorCode::AccessDenied, "not authorized");
        expect_error(
            call(Some("partner-43")),
            ErrorCode::AccessDenied,
            "not authorized",
        );
        expect_error(call(Some("x")), ErrorCode::ValidationError, "externalId");
        let session = issued(call(Some(PARTNER_EXTERNAL_ID)).unwrap());
        assert_eq!(
            session.principal.arn(),
            "arn:aws:sts::123456789012:assumed-role/partner/partner"
        );
        // An external id the role does not require is ignored, as in AWS.
        Call::new("AssumeRole", Some(bob()), T0)
            .param("RoleArn", DEVELOPER_ROLE_ARN)
            .param("RoleSessionName", "dev")
            .param("ExternalId", "anything")
            .send(&w.fake)
            .unwrap();
    }

    #[test]
    fn assume_role_with_web_identity() {
        let w = world();
        let call = |role: &str, token: &str| {
            Call::new("AssumeRoleWithWebIdentity", None, T0)
                .param("RoleArn", role)
                .param("RoleSessionName", "web-session")
                .param("WebIdentityToken", token)
                .send(&w.fake)
        };
        let answer = call(WEB_ROLE_ARN, WEB_IDENTITY_TOKEN).unwrap();
        let base = "AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult";
        assert_eq!(
            text_at(&answer.body, &format!("{base}/AssumedRoleUser/Arn")),
            Some("arn:aws:sts::123456789012:assumed-role/web/web-session".to_owned())
        );
        assert!(text_at(&answer.body, &format!("{base}/SubjectFromWebIdentityToken")).is_some());
        let session = issued(answer);
        assert!(!session.principal.mfa_authenticated());
        assert_eq!(session.expiration, T0 + Duration::hours(1));
        caller_identity(&w.fake, keys_of(&session), T0).unwrap();

        let error = expect_error(
            call(WEB_ROLE_ARN, "some-other-token"),
            ErrorCode::InvalidIdentityToken,
            "could not be validated",
        );
        assert_eq!(error.status(), 400);
        expect_error(
            call(DEVELOPER_ROLE_ARN, WEB_IDENTITY_TOKEN),
            ErrorCode::AccessDenied,
            "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        );
        expect_error(
            call(WEB_ROLE_ARN, "abc"),
            ErrorCode::ValidationError,
            "webIdentityToken",
        );
        expect_error(
            Call::new("AssumeRoleWithWebIdentity", None, T0)
                .param("RoleArn", WEB_ROLE_ARN)
                .param("RoleSessionName", "web-session")
                .send(&w.fake),
            ErrorCode::ValidationError,
            "Value null at 'webIdentityToken'",
        );
        // Signing it does no harm (clients do not, but may).
        Call::new("AssumeRoleWithWebIdentity", Some(bob()), T0)
            .param("RoleArn", WEB_ROLE_ARN)
            .param("RoleSessionName", "web-session")
            .param("WebIdentityToken", WEB_IDENTITY_TOKEN)
            .send(&w.fake)
            .unwrap();
        assert_eq!(w.fake.calls("AssumeRoleWithWebIdentity"), 6);
    }

    #[test]
    fn assume_role_with_saml() {
        // A real Keycloak response for alice (both roles offered, SessionDuration 7200) and
        // its metadata; see saml.rs's tests.
        const METADATA: &str = include_str!("../testdata/saml/keycloak-metadata.xml");
        const RESPONSE: &str = include_str!("../testdata/saml/keycloak-response-both-signed.xml");
        const PROVIDER: &str = "arn:aws:iam::123456789012:saml-provider/keycloak";
        const DEVELOPER: &str = "arn:aws:iam::123456789012:role/saml-developer";
        const READONLY: &str = "arn:aws:iam::123456789012:role/saml-readonly";
        const ISSUER: &str = "http://127.0.0.1:57923/realms/needroleshere";
        let at = datetime!(2026-12-03 20:38:55 UTC);
        let mut config =
            StsConfig::example(Registry::new()).with_clock(Arc::new(FixedClock::new(at)));
        config
            .saml_providers
            .push(SamlProvider::from_metadata(PROVIDER, METADATA).unwrap());
        config.roles.push(Role {
            max_duration_seconds: 43_200,
            ..Role::trusting_saml(DEVELOPER, PROVIDER)
        });
        // Offered by the assertion, but trusting another provider.
        config.roles.push(Role::trusting_saml(
            READONLY,
            "arn:aws:iam::123456789012:saml-provider/other",
        ));
        let fake = FakeSts::new(config);
        let encoded = STANDARD.encode(RESPONSE);
        let call = |role: &str, principal: &str, duration: Option<&str>| {
            let mut call = Call::new("AssumeRoleWithSAML", None, at)
                .param("RoleArn", role)
                .param("PrincipalArn", principal)
                .param("SAMLAssertion", &encoded);
            if let Some(duration) = duration {
                call = call.param("DurationSeconds", duration);
            }
            call.send(&fake)
        };
        expect_error(
            call(READONLY, PROVIDER, None),
            ErrorCode::AccessDenied,
            "Not authorized to perform sts:AssumeRoleWithSAML",
        );
        expect_error(
            call(
                DEVELOPER,
                "arn:aws:iam::123456789012:saml-provider/none",
                None,
            ),
            ErrorCode::InvalidIdentityToken,
            "Specified provider doesn't exist",
        );
        expect_error(
            call(DEVELOPER, PROVIDER, Some("7201")),
            ErrorCode::ValidationError,
            "exceeds the SessionDuration (7200)",
        );
        expect_error(
            Call::new("AssumeRoleWithSAML", None, at)
                .param("RoleArn", DEVELOPER)
                .param("PrincipalArn", PROVIDER)
                .send(&fake),
            ErrorCode::ValidationError,
            "Value null at 'sAMLAssertion'",
        );
        expect_error(
            Call::new("AssumeRoleWithSAML", None, at)
                .param("RoleArn", DEVELOPER)
                .param("PrincipalArn", PROVIDER)
                .param("SAMLAssertion", &encoded)
                .param("RoleSessionName", "not-a-saml-parameter")
                .send(&fake),
            ErrorCode::InvalidParameterValue,
            "RoleSessionName",
        );

        // None of those used the assertion up.
        let answer = call(DEVELOPER, PROVIDER, Some("7200")).unwrap();
        let base = "AssumeRoleWithSAMLResponse/AssumeRoleWithSAMLResult";
        let at_path = |name: &str| text_at(&answer.body, &format!("{base}/{name}"));
        assert_eq!(
            at_path("AssumedRoleUser/Arn").as_deref(),
            Some("arn:aws:sts::123456789012:assumed-role/saml-developer/alice")
        );
        assert_eq!(at_path("Issuer").as_deref(), Some(ISSUER));
        assert_eq!(
            at_path("Audience").as_deref(),
            Some("urn:amazon:webservices")
        );
        assert_eq!(at_path("SubjectType").as_deref(), Some("persistent"));
        assert!(at_path("Subject").unwrap().starts_with("G-"));
        assert_eq!(
            at_path("NameQualifier"),
            Some(super::super::saml::name_qualifier(
                ISSUER,
                "123456789012",
                "keycloak"
            ))
        );
        let session = issued(answer);
        assert_eq!(session.expiration, at + Duration::hours(2));
        let identity = caller_identity(&fake, keys_of(&session), at).unwrap();
        assert_eq!(
            text_at(
                &identity.body,
                "GetCallerIdentityResponse/GetCallerIdentityResult/Arn"
            )
            .as_deref(),
            Some("arn:aws:sts::123456789012:assumed-role/saml-developer/alice")
        );

        // Once only.
        expect_error(
            call(DEVELOPER, PROVIDER, None),
            ErrorCode::InvalidIdentityToken,
            "has already been used",
        );
        assert_eq!(fake.calls("AssumeRoleWithSAML"), 7);
        assert_eq!(fake.issued().len(), 1);
    }

    #[test]
    fn protocol_errors() {
        let w = world();
        expect_error(
            Call::new("GetFederationToken", Some(alice()), T0).send(&w.fake),
            ErrorCode::InvalidAction,
            "Could not find operation GetFederationToken for version 2011-06-15",
        );
        let mut old = Call::new("GetCallerIdentity", Some(alice()), T0);
        old.parameters[1].1 = "2010-01-01".to_owned();
        expect_error(
            old.send(&w.fake),
            ErrorCode::InvalidAction,
            "version 2010-01-01",
        );
        let mut no_version = Call::new("GetCallerIdentity", Some(alice()), T0);
        no_version.parameters.remove(1);
        expect_error(
            no_version.send(&w.fake),
            ErrorCode::MissingParameter,
            "Version",
        );
        let mut no_action = Call::new("GetCallerIdentity", Some(alice()), T0);
        no_action.parameters.remove(0);
        expect_error(
            no_action.send(&w.fake),
            ErrorCode::MissingAction,
            "Missing Action",
        );
        expect_error(
            Call::new("GetCallerIdentity", Some(alice()), T0)
                .param("Version", VERSION)
                .send(&w.fake),
            ErrorCode::InvalidParameterValue,
            "more than once",
        );
        expect_error(
            Call::new("GetCallerIdentity", Some(alice()), T0)
                .param("RoleArn", DEVELOPER_ROLE_ARN)
                .send(&w.fake),
            ErrorCode::InvalidParameterValue,
            "Unknown parameter 'RoleArn' for GetCallerIdentity",
        );

        let call = Call::new("GetCallerIdentity", Some(alice()), T0);
        let (_, mut headers, body) = call.parts();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        let error = w
            .fake
            .handle("POST", "/", None, &headers, &body)
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidParameterValue);
        let error = w
            .fake
            .handle("POST", "/x", None, &headers, &body)
            .unwrap_err();
        assert_eq!((error.code, error.status()), (ErrorCode::NotFound, 404));
        let error = w
            .fake
            .handle("PUT", "/", None, &headers, &body)
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::MethodNotAllowed);
        let error = w
            .fake
            .handle(
                "GET",
                "/",
                Some("Action=Get%zzCallerIdentity"),
                &headers,
                &[],
            )
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidParameterValue);

        let xml = error.to_xml("req-1");
        assert_eq!(
            xml_paths(&xml),
            vec![
                ("ErrorResponse/Error/Type".to_owned(), "Sender".to_owned()),
                (
                    "ErrorResponse/Error/Code".to_owned(),
                    "InvalidParameterValue".to_owned()
                ),
                (
                    "ErrorResponse/Error/Message".to_owned(),
                    error.message.clone()
                ),
                ("ErrorResponse/RequestId".to_owned(), "req-1".to_owned()),
            ]
        );
        assert!(
            xml.starts_with("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">")
        );
        assert_eq!(w.fake.calls(""), 6);
        assert_eq!(w.fake.calls("GetCallerIdentity"), 3);
        assert_eq!(w.fake.calls("GetFederationToken"), 1);
    }

    #[test]
    fn canonical_query_forms() {
        assert_eq!(
            canonical_query(Some("b=2&a=z&a=y&c&d=%2f+x&e=a~b")).unwrap(),
            "a=y&a=z&b=2&c=&d=%2F%20x&e=a~b"
        );
        assert_eq!(canonical_query(None).unwrap(), "");
        assert!(canonical_query(Some("a=%zz")).is_err());
        assert_eq!(sigv4::canonical_uri("/").unwrap(), "/");
        assert_eq!(sigv4::canonical_uri("").unwrap(), "/");
        assert_eq!(sigv4::canonical_uri("/a%20b").unwrap(), "/a%2520b");
    }

    #[test]
    fn signing_key_matches_the_aws_documentation_example() {
        // The key-derivation example of the AWS SigV4 documentation (IAM, us-east-1).
        let derived = sigv4::signing_key_bytes(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(derived.as_ref()),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let w = world();
        let session = issued(
            Call::new("GetSessionToken", Some(bob()), T0)
                .send(&w.fake)
                .unwrap(),
        );
        let shown = format!("{session:?} {:?} {:?}", w.fake, w.fake.issued());
        assert!(!shown.contains(&session.secret_access_key), "{shown}");
        assert!(!shown.contains(&session.session_token), "{shown}");
        assert!(!shown.contains(BOB_SECRET_ACCESS_KEY), "{shown}");
        assert!(!shown.contains(ALICE_MFA_SECRET), "{shown}");
    }

    #[test]
    fn example_constants_are_consistent() {
        let registry = Registry::new();
        let config = StsConfig::example(registry.clone());
        let users = registry.users();
        let alice = users.iter().find(|u| u.name == ALICE_NAME).unwrap();
        assert_eq!(alice.arn(), ALICE_ARN);
        assert_eq!(alice.access_key_id.len(), 20);
        assert_eq!(alice.secret_access_key.len(), 40);
        assert_eq!(alice.mfa.as_ref().unwrap().serial, ALICE_MFA_SERIAL);
        let bob = users.iter().find(|u| u.name == BOB_NAME).unwrap();
        assert_eq!(bob.arn(), BOB_ARN);
        assert_eq!(bob.access_key_id.len(), 20);
        assert_eq!(bob.secret_access_key.len(), 40);
        assert!(bob.mfa.is_none());
        assert_eq!(totp(ALICE_MFA_SECRET, 0).len(), 6);
        let names: Vec<&str> = config.roles.iter().map(Role::name).collect();
        assert_eq!(
            names,
            [
                "developer",
                "admin",
                "auditor",
                "partner",
                "web",
                "needroleshere-test"
            ]
        );
        assert_eq!(config.region, REGION);
    }

    /// Sends raw HTTP/1.1 and returns (status, lowercase headers, body).
    async fn http_exchange(
        addr: SocketAddr,
        method: &str,
        target: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> (u16, Vec<(String, String)>, String) {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut request = format!("{method} {target} HTTP/1.1\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
        }
        request.push_str(&format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        ));
        stream.write_all(request.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
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
        (status, headers, body.to_owned())
    }

    fn header_of<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[tokio::test]
    async fn serves_http() {
        let w = world();
        let running = w
            .fake
            .spawn_http("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let host = running.addr.to_string();
        let now = T0;

        // POST, signed for the real Host header.
        let call = Call::new("GetCallerIdentity", Some(alice()), now);
        let body = call.encoded().into_bytes();
        let list = vec![
            (
                "content-type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            ),
            ("host".to_owned(), host.clone()),
        ];
        let added = sigv4_headers(
            "POST",
            &format!("http://{host}/"),
            &list,
            &body,
            ALICE_ACCESS_KEY_ID,
            ALICE_SECRET_ACCESS_KEY,
            None,
            REGION,
            SERVICE,
            now,
        );
        let mut headers = HeaderMap::new();
        for (name, value) in list.iter().cloned().chain(added) {
            headers.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(&value).unwrap(),
            );
        }
        let (status, response_headers, response_body) =
            http_exchange(running.addr, "POST", "/", &headers, &body).await;
        assert_eq!(status, 200, "{response_body}");
        assert_eq!(
            header_of(&response_headers, "content-type"),
            Some("text/xml")
        );
        let request_id = header_of(&response_headers, "x-amzn-requestid").unwrap();
        assert_eq!(
            text_at(
                &response_body,
                "GetCallerIdentityResponse/ResponseMetadata/RequestId"
            )
            .as_deref(),
            Some(request_id)
        );

        // GET with a query string.
        let query = call.encoded();
        let list = vec![("host".to_owned(), host.clone())];
        let added = sigv4_headers(
            "GET",
            &format!("http://{host}/?{query}"),
            &list,
            b"",
            BOB_ACCESS_KEY_ID,
            BOB_SECRET_ACCESS_KEY,
            None,
            REGION,
            SERVICE,
            now,
        );
        let mut get_headers = HeaderMap::new();
        for (name, value) in list.into_iter().chain(added) {
            get_headers.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(&value).unwrap(),
            );
        }
        let (status, _, response_body) = http_exchange(
            running.addr,
            "GET",
            &format!("/?{query}"),
            &get_headers,
            b"",
        )
        .await;
        assert_eq!(status, 200, "{response_body}");
        assert!(response_body.contains(BOB_ARN));

        // A tampered body: 403 with an ErrorResponse.
        let (status, response_headers, response_body) = http_exchange(
            running.addr,
            "POST",
            "/",
            &headers,
            b"Action=GetCallerIdentity&Version=2011-06-15&A=1",
        )
        .await;
        assert_eq!(status, 403);
        assert_eq!(
            header_of(&response_headers, "content-type"),
            Some("text/xml")
        );
        assert_eq!(
            text_at(&response_body, "ErrorResponse/Error/Code").as_deref(),
            Some("SignatureDoesNotMatch")
        );
        assert_eq!(
            text_at(&response_body, "ErrorResponse/RequestId").as_deref(),
            header_of(&response_headers, "x-amzn-requestid")
        );
        // Another path.
        let (status, _, response_body) =
            http_exchange(running.addr, "POST", "/other", &headers, &body).await;
        assert_eq!(status, 404, "{response_body}");
        assert_eq!(w.fake.request_count(), 4);
        assert_eq!(w.fake.rejections().len(), 2);
    }

    /// An AssumeRole of bob's for the developer role, sent over HTTP.
    async fn assume_over_http(addr: SocketAddr, keys: Keys) -> (u16, String) {
        let call = Call::new("AssumeRole", Some(keys), T0)
            .param("RoleArn", DEVELOPER_ROLE_ARN)
            .param("RoleSessionName", "test-session");
        let (_, headers, body) = call.parts();
        let (status, _, body) = http_exchange(addr, "POST", "/", &headers, &body).await;
        (status, body)
    }

    #[tokio::test]
    async fn faults_are_answered_as_sts_answers_and_signatures_are_still_checked() {
        let w = world();
        let running = w
            .fake
            .spawn_http("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let faults = w.fake.faults();

        // An outage: STS's 503 ErrorResponse, counted under its action.
        faults.fail_all(Fault::sts_unavailable());
        let (status, body) = assume_over_http(running.addr, bob()).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(
            text_at(&body, "ErrorResponse/Error/Code").as_deref(),
            Some("ServiceUnavailable")
        );
        assert_eq!(
            text_at(&body, "ErrorResponse/Error/Type").as_deref(),
            Some("Receiver")
        );
        assert_eq!(w.fake.calls("AssumeRole"), 1);
        assert!(w.fake.issued().is_empty());
        // A bad signature is refused as such, outage or not.
        let mut wrong = bob();
        wrong.secret_access_key = ALICE_SECRET_ACCESS_KEY.to_owned();
        let (status, body) = assume_over_http(running.addr, wrong).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(
            text_at(&body, "ErrorResponse/Error/Code").as_deref(),
            Some("SignatureDoesNotMatch")
        );

        // Short-lived: normal service, but the credentials expire after 30 s, in the
        // answer and in the registry.
        faults.fail_all(Fault::ShortLived(std::time::Duration::from_secs(30)));
        let (status, body) = assume_over_http(running.addr, bob()).await;
        assert_eq!(status, 200, "{body}");
        let expiration = T0 + Duration::seconds(30);
        assert_eq!(
            text_at(
                &body,
                "AssumeRoleResponse/AssumeRoleResult/Credentials/Expiration"
            ),
            Some(format_rfc3339(expiration))
        );
        let issued = w.fake.issued_credentials();
        assert_eq!(issued.len(), 1);
        assert_eq!(issued[0].expiration, expiration);
        let (_, _, registered) = w.registry.lookup(&issued[0].access_key_id).unwrap();
        assert_eq!(registered, Some(expiration));
        assert_eq!(w.fake.calls("AssumeRole"), 3);
    }
}
