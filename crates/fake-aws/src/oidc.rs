//! OpenID Connect ID tokens as STS `AssumeRoleWithWebIdentity` checks them: the trust a role
//! places in an identity provider, the provider's signing keys (fetched the way AWS does), and
//! the token checks, for the fake STS ([`super::sts`]).
//!
//! Contract:
//! * [`OidcTrust`] is one statement of a role's trust policy for web identities: the issuer
//!   URL (exactly the token's `iss`), the audiences (`aud`) it accepts, and patterns for `sub`
//!   (exact, or a prefix before a trailing `*`). The issuers and audiences of all roles'
//!   trusts together are the account's "OIDC identity providers".
//! * Keys: [`JwksCache`] fetches `ISSUER/.well-known/openid-configuration`, then its
//!   `jwks_uri`, over HTTP or HTTPS (roots: [`JwksCache::with_roots`]); it fetches again when
//!   a token names a `kid` the cached set lacks. Only signing keys (`use` absent or `sig`) of
//!   type RSA or EC (P-256, P-384) are kept; a key that does not parse is skipped.
//! * [`check_token`] verifies, in order: the JWT's form (three base64url parts, a JSON header
//!   and payload, `iss` and `sub` strings, `aud` a string or strings, `exp` a number), the
//!   issuer is a known provider, the keys could be had, the algorithm is one AWS accepts
//!   (RS256/384/512, ES256/384; never `none` or HMAC) and matches the key's type, the
//!   signature, `exp` (and `nbf`) against the fake's clock, an accepted audience. Each
//!   failure is a [`TokenProblem`], which the fake STS answers as AWS does.
//!
//! The signature check is the `jsonwebtoken` crate's (on ring, already the fakes' crypto), not
//! hand-written: JWS has enough corners (base64url without padding, ECDSA's fixed-size
//! signatures, algorithm/key type confusion) that a maintained implementation is the safer
//! judge. The algorithm allow-list and the key type match are checked here before it runs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use time::OffsetDateTime;

/// How long one discovery or JWKS request may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest discovery document or key set read.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// One web identity statement of a role's trust policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcTrust {
    /// The issuer URL, compared exactly with the token's `iss` (scheme, host, port, path).
    pub issuer: String,
    /// Accepted `aud` values (the client ids registered with the IAM OIDC provider).
    pub audiences: Vec<String>,
    /// Accepted `sub` values: exact, or a prefix before a trailing `*` (`*` alone: any).
    /// Empty: no subject.
    pub subjects: Vec<String>,
}

impl OidcTrust {
    /// A trust of `issuer` for tokens with audience `audience` and a subject matching
    /// `subject`.
    pub fn new(issuer: &str, audience: &str, subject: &str) -> Self {
        OidcTrust {
            issuer: issuer.to_owned(),
            audiences: vec![audience.to_owned()],
            subjects: vec![subject.to_owned()],
        }
    }

    /// Whether `token` (already verified) satisfies this statement.
    pub fn trusts(&self, token: &VerifiedToken) -> bool {
        self.issuer == token.issuer
            && self
                .audiences
                .iter()
                .any(|aud| token.audiences.contains(aud))
            && self
                .subjects
                .iter()
                .any(|pattern| subject_matches(pattern, &token.subject))
    }
}

/// `pattern` equals `subject`, or ends with `*` and `subject` starts with the text before it.
fn subject_matches(pattern: &str, subject: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => subject.starts_with(prefix),
        None => pattern == subject,
    }
}

/// The claims of a token whose signature, issuer, lifetime and audience checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `aud` (one or more).
    pub audiences: Vec<String>,
    /// The audience the account accepted (the first of `aud` that a trust names).
    pub audience: String,
    /// `exp`.
    pub expires: OffsetDateTime,
}

/// Why a token was refused, in the terms STS answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenProblem {
    /// `InvalidIdentityToken` (400): malformed, unknown issuer, no such key, bad signature,
    /// unaccepted algorithm or audience, not yet valid.
    #[error("{0}")]
    Invalid(String),
    /// `ExpiredTokenException` (400).
    #[error("{0}")]
    Expired(String),
    /// `IDPCommunicationError` (400): the provider's keys could not be had.
    #[error("{0}")]
    Communication(String),
}

fn invalid(message: impl Into<String>) -> TokenProblem {
    TokenProblem::Invalid(message.into())
}

/// The parts of a token read before any check: its header and claims. Debug shows the
/// algorithm, key id and issuer, never the token (a bearer credential).
#[derive(Clone)]
pub struct UnverifiedToken {
    header: jsonwebtoken::Header,
    claims: RawClaims,
    /// `header.payload`, what the signature covers.
    signed: String,
    /// The third part, base64url.
    signature: String,
}

impl std::fmt::Debug for UnverifiedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnverifiedToken")
            .field("alg", &self.header.alg)
            .field("kid", &self.header.kid)
            .field("iss", &self.issuer())
            .finish_non_exhaustive()
    }
}

#[derive(Clone, serde::Deserialize)]
struct RawClaims {
    iss: Option<serde_json::Value>,
    sub: Option<serde_json::Value>,
    aud: Option<serde_json::Value>,
    exp: Option<serde_json::Value>,
    nbf: Option<serde_json::Value>,
}

impl UnverifiedToken {
    /// Splits and decodes `token` (no signature check). Refuses anything that is not three
    /// base64url parts with a JSON header naming an algorithm and a JSON object payload.
    pub fn parse(token: &str) -> Result<Self, TokenProblem> {
        let malformed = |what: &str| {
            invalid(format!(
                "The web identity token that was passed could not be validated by AWS (it is \
                 malformed: {what}). Get a new identity token from the identity provider and \
                 then retry the request."
            ))
        };
        let mut parts = token.split('.');
        let (Some(header_part), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("a JWT has three parts separated by '.'"));
        };
        let header_json = URL_SAFE_NO_PAD
            .decode(header_part)
            .map_err(|_| malformed("the header is not base64url"))?;
        let header: jsonwebtoken::Header = serde_json::from_slice(&header_json).map_err(|_| {
            malformed("the header is not a JSON object naming a known signing algorithm")
        })?;
        let payload_json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| malformed("the payload is not base64url"))?;
        let claims: RawClaims = serde_json::from_slice(&payload_json)
            .map_err(|_| malformed("the payload is not a JSON object"))?;
        Ok(UnverifiedToken {
            header,
            claims,
            signed: format!("{header_part}.{payload}"),
            signature: signature.to_owned(),
        })
    }

    /// `iss`, if it is a string.
    pub fn issuer(&self) -> Option<&str> {
        self.claims.iss.as_ref().and_then(serde_json::Value::as_str)
    }

    /// The header's `kid`.
    pub fn key_id(&self) -> Option<&str> {
        self.header.kid.as_deref()
    }
}

/// The algorithms AWS accepts for OIDC ID tokens that ring can verify.
fn accepted_algorithm(algorithm: Algorithm) -> bool {
    matches!(
        algorithm,
        Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::ES256
            | Algorithm::ES384
    )
}

/// Whether `key` is of the type `algorithm` needs.
fn key_fits(key: &Jwk, algorithm: Algorithm) -> bool {
    match (&key.algorithm, algorithm) {
        (AlgorithmParameters::RSA(_), Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512) => {
            true
        }
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => {
            ec.curve == EllipticCurve::P256
        }
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES384) => {
            ec.curve == EllipticCurve::P384
        }
        _ => false,
    }
}

/// A key's declared `alg`, when it has one, must be the token's.
fn declared_fits(declared: KeyAlgorithm, algorithm: Algorithm) -> bool {
    matches!(
        (declared, algorithm),
        (KeyAlgorithm::RS256, Algorithm::RS256)
            | (KeyAlgorithm::RS384, Algorithm::RS384)
            | (KeyAlgorithm::RS512, Algorithm::RS512)
            | (KeyAlgorithm::ES256, Algorithm::ES256)
            | (KeyAlgorithm::ES384, Algorithm::ES384)
    )
}

fn string_claim<'a>(
    value: Option<&'a serde_json::Value>,
    name: &str,
) -> Result<&'a str, TokenProblem> {
    value.and_then(serde_json::Value::as_str).ok_or_else(|| {
        invalid(format!(
            "The web identity token has no '{name}' string claim"
        ))
    })
}

fn time_claim(
    value: Option<&serde_json::Value>,
    name: &str,
) -> Result<Option<OffsetDateTime>, TokenProblem> {
    let Some(value) = value else { return Ok(None) };
    let seconds = value
        .as_i64()
        .or_else(|| {
            value
                .as_f64()
                .filter(|f| f.is_finite())
                .map(|f| f.floor() as i64)
        })
        .ok_or_else(|| invalid(format!("The web identity token's '{name}' is not a number")))?;
    OffsetDateTime::from_unix_timestamp(seconds)
        .map(Some)
        .map_err(|_| invalid(format!("The web identity token's '{name}' is out of range")))
}

/// Checks `token` for the account whose trusts are `trusts` (all roles'), with `keys` the
/// issuer's cached keys (or why they could not be fetched), at `now`. See the module
/// documentation for the order of the checks.
pub fn check_token(
    token: &UnverifiedToken,
    trusts: &[&OidcTrust],
    keys: impl FnOnce(&str) -> Result<Vec<Jwk>, String>,
    now: OffsetDateTime,
) -> Result<VerifiedToken, TokenProblem> {
    let issuer = string_claim(token.claims.iss.as_ref(), "iss")?;
    let subject = string_claim(token.claims.sub.as_ref(), "sub")?;
    let audiences: Vec<String> = match &token.claims.aud {
        Some(serde_json::Value::String(aud)) => vec![aud.clone()],
        Some(serde_json::Value::Array(values)) => values
            .iter()
            .map(|value| value.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid("The web identity token's 'aud' is not a string or strings"))?,
        _ => return Err(invalid("The web identity token has no 'aud' claim")),
    };
    let expires = time_claim(token.claims.exp.as_ref(), "exp")?
        .ok_or_else(|| invalid("The web identity token has no 'exp' claim"))?;
    let not_before = time_claim(token.claims.nbf.as_ref(), "nbf")?;

    let for_issuer: Vec<&OidcTrust> = trusts
        .iter()
        .copied()
        .filter(|t| t.issuer == issuer)
        .collect();
    if for_issuer.is_empty() {
        return Err(invalid(format!(
            "No OpenIDConnect provider found in your account for {issuer}"
        )));
    }
    let keys = keys(issuer).map_err(TokenProblem::Communication)?;

    let algorithm = token.header.alg;
    if !accepted_algorithm(algorithm) {
        return Err(invalid(format!(
            "The web identity token is signed with {algorithm:?}, which is not accepted \
             (RS256, RS384, RS512, ES256, ES384)"
        )));
    }
    let candidates: Vec<&Jwk> = keys
        .iter()
        .filter(|key| match token.key_id() {
            Some(kid) => key.common.key_id.as_deref() == Some(kid),
            None => true,
        })
        .collect();
    if candidates.is_empty() {
        return Err(invalid(format!(
            "The web identity token names key id '{}', which {issuer} does not publish",
            token.key_id().unwrap_or_default()
        )));
    }
    let verified = candidates.iter().any(|key| {
        key_fits(key, algorithm)
            && key
                .common
                .key_algorithm
                .is_none_or(|declared| declared_fits(declared, algorithm))
            && jsonwebtoken::DecodingKey::from_jwk(key)
                .ok()
                .and_then(|decoding| {
                    jsonwebtoken::crypto::verify(
                        &token.signature,
                        token.signed.as_bytes(),
                        &decoding,
                        algorithm,
                    )
                    .ok()
                })
                .unwrap_or(false)
    });
    if !verified {
        return Err(invalid(
            "The web identity token's signature does not verify with the provider's keys",
        ));
    }

    if now >= expires {
        return Err(TokenProblem::Expired(format!(
            "Token expired: current date/time {} must be before the expiration date/time {}",
            now.unix_timestamp(),
            expires.unix_timestamp()
        )));
    }
    if let Some(not_before) = not_before
        && now < not_before
    {
        return Err(invalid(format!(
            "The web identity token is not valid before {} (now {})",
            not_before.unix_timestamp(),
            now.unix_timestamp()
        )));
    }
    let audience = audiences
        .iter()
        .find(|aud| for_issuer.iter().any(|trust| trust.audiences.contains(aud)))
        .ok_or_else(|| invalid("Incorrect token audience"))?
        .clone();
    Ok(VerifiedToken {
        issuer: issuer.to_owned(),
        subject: subject.to_owned(),
        audiences,
        audience,
        expires,
    })
}

/// The signing keys of a JWKS document (`{"keys": [...]}`): those with `use` absent or `sig`,
/// of type RSA or EC, that parse; the others are skipped. Refused: no `keys` array.
pub fn parse_key_set(set: &serde_json::Value) -> Result<Vec<Jwk>, String> {
    let keys = set
        .get("keys")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| "no 'keys' array".to_owned())?;
    Ok(keys
        .iter()
        .filter_map(|key| serde_json::from_value::<Jwk>(key.clone()).ok())
        .filter(|key| {
            matches!(
                key.common.public_key_use,
                None | Some(PublicKeyUse::Signature)
            ) && matches!(
                key.algorithm,
                AlgorithmParameters::RSA(_) | AlgorithmParameters::EllipticCurve(_)
            )
        })
        .collect())
}

#[derive(Debug, Clone, Default)]
struct IssuerKeys {
    keys: Vec<Jwk>,
    /// Why the last fetch failed, if it did (cleared by a successful one).
    error: Option<String>,
}

/// The signing keys of the providers the fake STS trusts, fetched from their discovery
/// documents and key sets and kept until a token names a key id they lack.
#[derive(Debug, Clone)]
pub struct JwksCache {
    inner: Arc<CacheInner>,
}

#[derive(Debug)]
struct CacheInner {
    client: reqwest::Client,
    issuers: Mutex<HashMap<String, IssuerKeys>>,
    fetches: AtomicUsize,
}

impl Default for JwksCache {
    fn default() -> Self {
        Self::with_tls(Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|_| unreachable_tls())
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
        ))
    }
}

/// ring's default provider supports the safe default protocol versions by construction.
#[allow(clippy::panic, reason = "unreachable: ring supports TLS 1.2 and 1.3")]
fn unreachable_tls() -> rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier> {
    panic!("ring's provider supports TLS 1.2 and 1.3")
}

impl JwksCache {
    /// A cache that fetches over HTTP, or HTTPS trusting the CA certificates in `ca_pem`.
    pub fn with_roots(ca_pem: &std::path::Path) -> std::io::Result<Self> {
        Ok(Self::with_tls(crate::tls::client_config(ca_pem)?))
    }

    fn with_tls(tls: Arc<rustls::ClientConfig>) -> Self {
        let client = reqwest::Client::builder()
            .use_preconfigured_tls((*tls).clone())
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap_or_default();
        JwksCache {
            inner: Arc::new(CacheInner {
                client,
                issuers: Mutex::new(HashMap::new()),
                fetches: AtomicUsize::new(0),
            }),
        }
    }

    /// How many times keys were fetched (discovery document and key set, counted once).
    pub fn fetches(&self) -> usize {
        self.inner.fetches.load(Ordering::SeqCst)
    }

    /// The cached keys of `issuer`, or why they could not be had.
    pub fn keys(&self, issuer: &str) -> Result<Vec<Jwk>, String> {
        let issuers = self.lock();
        match issuers.get(issuer) {
            Some(IssuerKeys {
                error: Some(error), ..
            }) => Err(error.clone()),
            Some(entry) => Ok(entry.keys.clone()),
            None => Err(format!("The keys of {issuer} were never fetched")),
        }
    }

    /// Fetches the keys of `issuer` unless they are cached and include `kid` (when a token
    /// names one). A failure is remembered for [`JwksCache::keys`].
    pub async fn refresh_if_needed(&self, issuer: &str, kid: Option<&str>) {
        let fresh_enough = match self.lock().get(issuer) {
            Some(entry) if entry.error.is_none() => match kid {
                Some(kid) => entry
                    .keys
                    .iter()
                    .any(|key| key.common.key_id.as_deref() == Some(kid)),
                None => true,
            },
            _ => false,
        };
        if fresh_enough {
            return;
        }
        self.inner.fetches.fetch_add(1, Ordering::SeqCst);
        let entry = match self.fetch(issuer).await {
            Ok(keys) => IssuerKeys { keys, error: None },
            Err(error) => {
                tracing::info!(issuer, %error, "fake STS: could not fetch the provider's keys");
                IssuerKeys {
                    keys: Vec::new(),
                    error: Some(error),
                }
            }
        };
        self.lock().insert(issuer.to_owned(), entry);
    }

    async fn fetch(&self, issuer: &str) -> Result<Vec<Jwk>, String> {
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let discovery = self.get_json(&discovery_url).await?;
        if discovery.get("issuer").and_then(serde_json::Value::as_str) != Some(issuer) {
            return Err(format!(
                "The discovery document {discovery_url} names another issuer"
            ));
        }
        let jwks_uri = discovery
            .get("jwks_uri")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| format!("The discovery document {discovery_url} has no jwks_uri"))?
            .to_owned();
        let set = self.get_json(&jwks_uri).await?;
        parse_key_set(&set).map_err(|error| format!("The key set {jwks_uri}: {error}"))
    }

    async fn get_json(&self, url: &str) -> Result<serde_json::Value, String> {
        let unreachable = |error: &dyn std::fmt::Display| {
            format!("The identity provider could not be reached at {url}: {error}")
        };
        let mut response = self
            .inner
            .client
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|error| unreachable(&error))?;
        if !response.status().is_success() {
            return Err(format!(
                "The identity provider answered {url} with HTTP {}",
                response.status().as_u16()
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| unreachable(&error))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_DOCUMENT_BYTES {
                return Err(format!("{url} is larger than {MAX_DOCUMENT_BYTES} bytes"));
            }
        }
        serde_json::from_slice(&body).map_err(|_| format!("{url} did not answer JSON"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, IssuerKeys>> {
        // A poisoned lock only means a thread panicked between two whole-value updates.
        self.inner
            .issuers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "test code: a panic is the failure report"
    )]

    use std::net::SocketAddr;

    use axum::Json;
    use axum::extract::State;
    use axum::http::HeaderMap;
    use ring::rand::SystemRandom;
    use ring::signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair,
    };
    use serde_json::json;
    use time::macros::datetime;

    use super::*;
    use crate::clock::FixedClock;
    use crate::registry::Registry;
    use crate::sts::{ErrorCode, FakeSts, Role, StsConfig, StsError};

    const ROLE: &str = "arn:aws:iam::123456789012:role/oidc";
    const OTHER_ROLE: &str = "arn:aws:iam::123456789012:role/oidc-other";
    const AUDIENCE: &str = "needroleshere-desktop";
    const SUBJECT: &str = "a11ce000-0000-4000-8000-00000000a11c";
    const T0: OffsetDateTime = datetime!(2026-06-01 12:00:00 UTC);

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// An RSA key made by the openssl CLI (ring makes no RSA keys; DER output is PKCS#1),
    /// with its JWK.
    fn rsa_key(kid: &str) -> (RsaKeyPair, serde_json::Value) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.der");
        let status = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .args(["-outform", "DER", "-out"])
            .arg(&path)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "openssl genpkey");
        let modulus = std::process::Command::new("openssl")
            .args(["rsa", "-inform", "DER", "-noout", "-modulus", "-in"])
            .arg(&path)
            .output()
            .unwrap();
        let modulus = String::from_utf8(modulus.stdout).unwrap();
        let modulus = hex::decode(modulus.trim().trim_start_matches("Modulus=")).unwrap();
        let pair = RsaKeyPair::from_der(&std::fs::read(&path).unwrap()).unwrap();
        let jwk = json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                         "n": b64(&modulus), "e": "AQAB"});
        (pair, jwk)
    }

    fn ec_key(kid: &str) -> (EcdsaKeyPair, serde_json::Value) {
        let random = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &random).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &random)
                .unwrap();
        let point = pair.public_key().as_ref();
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid,
                         "x": b64(&point[1..33]), "y": b64(&point[33..65])});
        (pair, jwk)
    }

    fn unsigned(header: &serde_json::Value, claims: &serde_json::Value) -> String {
        format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        )
    }

    fn sign_rs256(key: &RsaKeyPair, kid: &str, claims: &serde_json::Value) -> String {
        let message = unsigned(&json!({"alg": "RS256", "typ": "JWT", "kid": kid}), claims);
        let mut signature = vec![0; key.public().modulus_len()];
        key.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            message.as_bytes(),
            &mut signature,
        )
        .unwrap();
        format!("{message}.{}", b64(&signature))
    }

    fn sign_es256(key: &EcdsaKeyPair, kid: &str, claims: &serde_json::Value) -> String {
        let message = unsigned(&json!({"alg": "ES256", "kid": kid}), claims);
        let signature = key.sign(&SystemRandom::new(), message.as_bytes()).unwrap();
        format!("{message}.{}", b64(signature.as_ref()))
    }

    /// The issuer URL and its published keys (changeable: key rotation).
    type IssuerState = (String, Arc<Mutex<Vec<serde_json::Value>>>);

    /// A local OpenID provider: discovery document and key set on loopback.
    struct Issuer {
        url: String,
        keys: Arc<Mutex<Vec<serde_json::Value>>>,
    }

    async fn discovery(State(issuer): State<Arc<IssuerState>>) -> Json<serde_json::Value> {
        Json(json!({"issuer": issuer.0, "jwks_uri": format!("{}/certs", issuer.0)}))
    }

    async fn certs(State(issuer): State<Arc<IssuerState>>) -> Json<serde_json::Value> {
        let keys = issuer.1.lock().unwrap().clone();
        Json(json!({"keys": keys}))
    }

    async fn issuer(keys: Vec<serde_json::Value>) -> Issuer {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let url = format!("http://{}/realms/test", listener.local_addr().unwrap());
        let keys = Arc::new(Mutex::new(keys));
        let state = Arc::new((url.clone(), keys.clone()));
        let router = axum::Router::new()
            .route(
                "/realms/test/.well-known/openid-configuration",
                axum::routing::get(discovery),
            )
            .route("/realms/test/certs", axum::routing::get(certs))
            .with_state(state);
        tokio::spawn(async move { axum::serve(listener, router).await });
        Issuer { url, keys }
    }

    fn claims(issuer: &str) -> serde_json::Value {
        json!({"iss": issuer, "sub": SUBJECT, "aud": AUDIENCE, "azp": AUDIENCE,
               "iat": T0.unix_timestamp() - 10, "exp": T0.unix_timestamp() + 300})
    }

    fn fake(issuer: &str, subject_rule: &str) -> (FakeSts, Arc<FixedClock>) {
        let clock = Arc::new(FixedClock::new(T0));
        let mut config = StsConfig::example(Registry::new()).with_clock(clock.clone());
        config.roles.push(Role::trusting_web_identity(
            ROLE,
            OidcTrust::new(issuer, AUDIENCE, subject_rule),
        ));
        config.roles.push(Role::trusting_web_identity(
            OTHER_ROLE,
            OidcTrust::new("https://elsewhere.example/", AUDIENCE, "*"),
        ));
        (FakeSts::new(config), clock)
    }

    async fn assume(fake: &FakeSts, role: &str, token: &str) -> Result<String, StsError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        let body = format!(
            "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn={}&RoleSessionName=s1&WebIdentityToken={token}",
            role.replace(':', "%3A").replace('/', "%2F")
        );
        fake.handle_async("POST", "/", None, &headers, body.as_bytes())
            .await
            .map(|answer| answer.body)
    }

    fn refused(result: Result<String, StsError>, code: ErrorCode, text: &str) {
        let error = result.expect_err("the token was accepted");
        assert_eq!(error.code, code, "{error}");
        assert!(error.message.contains(text), "{error}");
    }

    #[tokio::test]
    async fn rs256_and_es256_tokens_are_accepted_with_their_subject_audience_and_provider() {
        let (rsa, rsa_jwk) = rsa_key("rsa-1");
        let (ec, ec_jwk) = ec_key("ec-1");
        let issuer = issuer(vec![rsa_jwk, ec_jwk]).await;
        let (fake, _) = fake(&issuer.url, "a11ce000-*");
        for token in [
            sign_rs256(&rsa, "rsa-1", &claims(&issuer.url)),
            sign_es256(&ec, "ec-1", &claims(&issuer.url)),
        ] {
            let body = assume(&fake, ROLE, &token).await.unwrap();
            assert!(body.contains(&format!(
                "<SubjectFromWebIdentityToken>{SUBJECT}</SubjectFromWebIdentityToken>"
            )));
            assert!(body.contains(&format!("<Audience>{AUDIENCE}</Audience>")));
            assert!(body.contains(&format!("<Provider>{}</Provider>", issuer.url)));
            assert!(body.contains("assumed-role/oidc/s1"));
        }
        // Both keys came with one fetch; known kids fetch nothing more.
        assert_eq!(fake.jwks().fetches(), 1);
    }

    #[tokio::test]
    async fn a_tampered_payload_is_refused() {
        let (rsa, jwk) = rsa_key("k");
        let issuer = issuer(vec![jwk]).await;
        let (fake, _) = fake(&issuer.url, "*");
        let token = sign_rs256(&rsa, "k", &claims(&issuer.url));
        let parts: Vec<&str> = token.split('.').collect();
        let mut other = claims(&issuer.url);
        other["sub"] = json!("mallory");
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64(other.to_string().as_bytes()),
            parts[2]
        );
        refused(
            assume(&fake, ROLE, &forged).await,
            ErrorCode::InvalidIdentityToken,
            "signature",
        );
        assert!(assume(&fake, ROLE, &token).await.is_ok());
    }

    #[tokio::test]
    async fn a_token_signed_by_another_key_is_refused() {
        let (_, jwk) = rsa_key("k");
        let (intruder, _) = rsa_key("k");
        let issuer = issuer(vec![jwk]).await;
        let (fake, _) = fake(&issuer.url, "*");
        let token = sign_rs256(&intruder, "k", &claims(&issuer.url));
        refused(
            assume(&fake, ROLE, &token).await,
            ErrorCode::InvalidIdentityToken,
            "signature",
        );
    }

    #[tokio::test]
    async fn alg_none_and_hmac_with_the_public_key_are_refused() {
        let (_, jwk) = rsa_key("k");
        let issuer = issuer(vec![jwk.clone()]).await;
        let (fake, _) = fake(&issuer.url, "*");
        let none = format!(
            "{}.",
            unsigned(&json!({"alg": "none", "kid": "k"}), &claims(&issuer.url))
        );
        refused(
            assume(&fake, ROLE, &none).await,
            ErrorCode::InvalidIdentityToken,
            "malformed",
        );
        // HS256 keyed with the published modulus: the algorithm confusion attack.
        let message = unsigned(&json!({"alg": "HS256", "kid": "k"}), &claims(&issuer.url));
        let secret = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret),
            message.as_bytes(),
        );
        let confused = format!("{message}.{}", b64(tag.as_ref()));
        refused(
            assume(&fake, ROLE, &confused).await,
            ErrorCode::InvalidIdentityToken,
            "HS256",
        );
    }

    #[tokio::test]
    async fn a_token_of_an_unknown_issuer_is_refused_without_fetching() {
        let (rsa, jwk) = rsa_key("k");
        let issuer = issuer(vec![jwk]).await;
        let (fake, _) = fake(&issuer.url, "*");
        let mut wrong = claims(&issuer.url);
        wrong["iss"] = json!(format!("{}-other", issuer.url));
        let token = sign_rs256(&rsa, "k", &wrong);
        refused(
            assume(&fake, ROLE, &token).await,
            ErrorCode::InvalidIdentityToken,
            "No OpenIDConnect provider found",
        );
        assert_eq!(fake.jwks().fetches(), 0);
    }

    #[tokio::test]
    async fn a_token_for_another_audience_is_refused() {
        let (rsa, jwk) = rsa_key("k");
        let issuer = issuer(vec![jwk]).await;
        let (fake, _) = fake(&issuer.url, "*");
        let mut wrong = claims(&issuer.url);
        wrong["aud"] = json!(["needroleshere-runas", "account"]);
        let token = sign_rs256(&rsa, "k", &wrong);
        refused(
            assume(&fake, ROLE, &token).await,
            ErrorCode::InvalidIdentityToken,
            "audience",
        );
        wrong["aud"] = json!(["account", AUDIENCE]);
        assert!(
            assume(&fake, ROLE, &sign_rs256(&rsa, "k", &wrong))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn an_expired_or_not_yet_valid_token_is_refused_by_the_fakes_clock() {
        let (rsa, jwk) = rsa_key("k");
        let issuer = issuer(vec![jwk]).await;
        let (fake, clock) = fake(&issuer.url, "*");
        let token = sign_rs256(&rsa, "k", &claims(&issuer.url));
        assert!(assume(&fake, ROLE, &token).await.is_ok());
        clock.advance(time::Duration::seconds(300));
        refused(
            assume(&fake, ROLE, &token).await,
            ErrorCode::ExpiredTokenException,
            "Token expired",
        );
        clock.set(T0);
        let mut early = claims(&issuer.url);
        early["nbf"] = json!(T0.unix_timestamp() + 60);
        let token = sign_rs256(&rsa, "k", &early);
        refused(
            assume(&fake, ROLE, &token).await,
            ErrorCode::InvalidIdentityToken,
            "not valid before",
        );
        let mut no_exp = claims(&issuer.url);
        no_exp.as_object_mut().unwrap().remove("exp");
        let token = sign_rs256(&rsa, "k", &no_exp);
        refused(
            assume(&fake, ROLE, &token).await,
            ErrorCode::InvalidIdentityToken,
            "'exp'",
        );
    }

    #[tokio::test]
    async fn an_untrusted_subject_or_a_role_trusting_another_issuer_is_access_denied() {
        let (rsa, jwk) = rsa_key("k");
        let issuer = issuer(vec![jwk]).await;
        let (fake, _) = fake(&issuer.url, "b0b00000-*");
        let token = sign_rs256(&rsa, "k", &claims(&issuer.url));
        let error = assume(&fake, ROLE, &token).await.unwrap_err();
        assert_eq!((error.code, error.status()), (ErrorCode::AccessDenied, 403));
        let (fake, _) = self::fake(&issuer.url, SUBJECT);
        assert!(assume(&fake, ROLE, &token).await.is_ok());
        refused(
            assume(&fake, OTHER_ROLE, &token).await,
            ErrorCode::AccessDenied,
            "Not authorized",
        );
    }

    #[tokio::test]
    async fn an_unknown_kid_fetches_the_keys_again() {
        let (old, old_jwk) = rsa_key("old");
        let (new, new_jwk) = ec_key("new");
        let issuer = issuer(vec![old_jwk]).await;
        let (fake, _) = fake(&issuer.url, "*");
        assert!(
            assume(&fake, ROLE, &sign_rs256(&old, "old", &claims(&issuer.url)))
                .await
                .is_ok()
        );
        assert_eq!(fake.jwks().fetches(), 1);
        issuer.keys.lock().unwrap().push(new_jwk);
        assert!(
            assume(&fake, ROLE, &sign_es256(&new, "new", &claims(&issuer.url)))
                .await
                .is_ok()
        );
        assert_eq!(fake.jwks().fetches(), 2);
        // A kid the provider does not publish even after fetching again.
        let token = sign_es256(&new, "gone", &claims(&issuer.url));
        refused(
            assume(&fake, ROLE, &token).await,
            ErrorCode::InvalidIdentityToken,
            "'gone'",
        );
        assert_eq!(fake.jwks().fetches(), 3);
    }

    #[tokio::test]
    async fn keys_that_cannot_be_fetched_are_an_idp_communication_error() {
        // A loopback port nothing listens on (bound, then closed).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/realms/test");
        let (rsa, _) = rsa_key("k");
        let (fake, _) = fake(&url, "*");
        let error = assume(&fake, ROLE, &sign_rs256(&rsa, "k", &claims(&url)))
            .await
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::IdpCommunicationError, "{error}");
        assert_eq!(
            (error.code.as_str(), error.status()),
            ("IDPCommunicationError", 400)
        );
    }

    #[test]
    fn debug_output_shows_no_token() {
        let (rsa, _) = rsa_key("k");
        let token = sign_rs256(&rsa, "k", &claims("https://issuer.example"));
        let parsed = UnverifiedToken::parse(&token).unwrap();
        let debug = format!("{parsed:?}");
        assert!(
            debug.contains("https://issuer.example") && debug.contains("RS256"),
            "{debug}"
        );
        for part in token.split('.') {
            assert!(!debug.contains(part), "{debug}");
        }
    }

    #[tokio::test]
    async fn malformed_tokens_are_invalid_identity_tokens() {
        let (fake, _) = fake("http://127.0.0.1:9/realms/test", "*");
        for token in [
            "not-a-jwt",
            "a.b.c",
            "e30.e30.",
            "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.AA",
        ] {
            refused(
                assume(&fake, ROLE, token).await,
                ErrorCode::InvalidIdentityToken,
                "",
            );
        }
    }
}
