//! The OpenID Connect and OAuth 2.0 exchanges of a public client, over the caller's HTTP
//! client: discovery, the authorization code grant with PKCE (RFC 7636), the device
//! authorization grant (RFC 8628), the password grant, and refresh.
//!
//! Hand-written rather than through the `openidconnect` crate: a public client needs four
//! form POSTs and two JSON documents, and the ID token is used only as a bearer credential
//! for STS, which verifies its signature against the provider's keys. Here the token comes
//! straight from the token endpoint over TLS (or loopback), so its claims are checked —
//! issuer, audience, authorized party, expiry, nonce — and its signature is not (OpenID
//! Connect Core 1.0 §3.1.3.7, item 6).
//!
//! Every answer of the provider is outside input: [`Metadata::parse`], [`TokenAnswer::parse`],
//! [`DeviceStart::parse`] and [`IdClaims::parse`] never panic and say what is wrong (fuzz
//! target `oidc_answers`).

use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use url::Url;

use crate::aws_files::profiles::is_loopback_http;
use crate::secret::Secret;

/// How long one call to the provider may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest answer read from the provider.
const MAX_ANSWER: usize = 256 * 1024;
/// Scopes asked for: the ID token, and the user's name for the page.
pub const SCOPES: &str = "openid profile";

/// Why an exchange with the provider failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OidcError {
    /// The provider answered with an OAuth error (RFC 6749 §5.2).
    #[error("the identity provider refused: {code}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        code: String,
        description: Option<String>,
    },
    /// The provider could not be reached or failed.
    #[error("the identity provider at {url} cannot be reached: {reason}")]
    Unavailable { url: String, reason: String },
    /// The provider answered something this client cannot use.
    #[error("the identity provider at {url} answered something unusable: {reason}")]
    Invalid { url: String, reason: String },
    /// The provider does not offer what the settings need.
    #[error("{0}")]
    Unsupported(String),
}

impl OidcError {
    /// The OAuth error code, when the provider refused.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// The parts of a provider's discovery document this client uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub issuer: Url,
    pub authorization_endpoint: Option<Url>,
    pub token_endpoint: Url,
    pub device_authorization_endpoint: Option<Url>,
    /// `grant_types_supported`; absent means the defaults (code and implicit).
    pub grant_types: Option<Vec<String>>,
}

pub const GRANT_DEVICE: &str = "urn:ietf:params:oauth:grant-type:device_code";

impl Metadata {
    /// Reads the document `issuer`'s discovery URL answered. Its `issuer` must be `issuer`
    /// exactly (OpenID Connect Discovery §4.3) and every endpoint https, or http on loopback.
    pub fn parse(issuer: &Url, body: &[u8]) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Raw {
            issuer: String,
            authorization_endpoint: Option<String>,
            token_endpoint: Option<String>,
            device_authorization_endpoint: Option<String>,
            grant_types_supported: Option<Vec<String>>,
        }
        let raw: Raw =
            serde_json::from_slice(body).map_err(|e| format!("not a discovery document: {e}"))?;
        if raw.issuer.trim_end_matches('/') != issuer.as_str().trim_end_matches('/') {
            return Err(format!(
                "it names issuer {:?}, not {:?}",
                raw.issuer,
                issuer.as_str()
            ));
        }
        let endpoint = |name: &str, value: Option<String>| -> Result<Option<Url>, String> {
            let Some(value) = value else { return Ok(None) };
            let url = Url::parse(&value).map_err(|e| format!("{name} {value:?}: {e}"))?;
            if url.scheme() != "https" && !is_loopback_http(&url) {
                return Err(format!(
                    "{name} {value:?} is neither https nor on a loopback address"
                ));
            }
            Ok(Some(url))
        };
        Ok(Self {
            issuer: issuer.clone(),
            authorization_endpoint: endpoint("authorization_endpoint", raw.authorization_endpoint)?,
            token_endpoint: endpoint("token_endpoint", raw.token_endpoint)?
                .ok_or("it has no token_endpoint")?,
            device_authorization_endpoint: endpoint(
                "device_authorization_endpoint",
                raw.device_authorization_endpoint,
            )?,
            grant_types: raw.grant_types_supported,
        })
    }

    /// Whether the provider offers the device authorization grant.
    pub fn offers_device_flow(&self) -> bool {
        self.device_authorization_endpoint.is_some()
            && self
                .grant_types
                .as_ref()
                .is_none_or(|types| types.iter().any(|t| t == GRANT_DEVICE))
    }

    /// Whether the provider says it offers the password grant (absent: perhaps).
    pub fn may_offer_password(&self) -> bool {
        self.grant_types
            .as_ref()
            .is_none_or(|types| types.iter().any(|t| t == "password"))
    }
}

/// A token endpoint's successful answer (RFC 6749 §5.1; OpenID Connect Core §3.1.3.3).
#[derive(Clone, Deserialize)]
pub struct TokenAnswer {
    pub id_token: Option<Secret>,
    pub refresh_token: Option<Secret>,
    /// Seconds the access token lives.
    pub expires_in: Option<u64>,
    /// Keycloak's: seconds the refresh token lives (the session's idle limit).
    pub refresh_expires_in: Option<u64>,
}

impl std::fmt::Debug for TokenAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAnswer")
            .field("id_token", &self.id_token.as_ref().map(|_| "<redacted>"))
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_in", &self.expires_in)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .finish()
    }
}

impl TokenAnswer {
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(body).map_err(|e| format!("not a token answer: {e}"))
    }
}

/// The answer to a device authorization request (RFC 8628 §3.2).
#[derive(Clone, Deserialize)]
pub struct DeviceStart {
    pub device_code: Secret,
    pub user_code: String,
    #[serde(alias = "verification_url")]
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    pub expires_in: u64,
    pub interval: Option<u64>,
}

impl std::fmt::Debug for DeviceStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceStart")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

impl DeviceStart {
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let start: Self = serde_json::from_slice(body)
            .map_err(|e| format!("not a device authorization answer: {e}"))?;
        // A person follows these: only web addresses, never javascript: or file:.
        for uri in
            std::iter::once(&start.verification_uri).chain(start.verification_uri_complete.as_ref())
        {
            let url = Url::parse(uri).map_err(|e| format!("verification_uri {uri:?}: {e}"))?;
            if url.scheme() != "https" && !is_loopback_http(&url) {
                return Err(format!(
                    "verification_uri {uri:?} is neither https nor on a loopback address"
                ));
            }
        }
        if start.user_code.is_empty() || start.user_code.len() > 64 {
            return Err("the user_code is empty or too long".to_owned());
        }
        Ok(start)
    }
}

/// The claims of an ID token this client checks and shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdClaims {
    pub issuer: String,
    pub subject: String,
    pub audiences: Vec<String>,
    pub authorized_party: Option<String>,
    pub expires: OffsetDateTime,
    pub nonce: Option<String>,
    /// `preferred_username`, else `email`, for the page and for `web_identity_username`.
    pub username: Option<String>,
}

impl IdClaims {
    /// The claims of a compact JWS, unverified (see the module docs).
    pub fn parse(token: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Audience {
            One(String),
            Many(Vec<String>),
        }
        #[derive(Deserialize)]
        struct Raw {
            iss: String,
            sub: String,
            aud: Audience,
            azp: Option<String>,
            exp: f64,
            nonce: Option<String>,
            preferred_username: Option<String>,
            email: Option<String>,
        }
        let mut parts = token.split('.');
        let (Some(_header), Some(payload), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("the ID token is not a signed JWT (three dot-separated parts)".to_owned());
        };
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|e| format!("the ID token's claims are not base64url: {e}"))?;
        let raw: Raw = serde_json::from_slice(&json)
            .map_err(|e| format!("the ID token's claims are unreadable: {e}"))?;
        if !raw.exp.is_finite() || raw.exp < 0.0 || raw.exp > 253_402_300_799.0 {
            return Err(format!("the ID token's exp {} is out of range", raw.exp));
        }
        let expires = OffsetDateTime::from_unix_timestamp(raw.exp as i64)
            .map_err(|e| format!("the ID token's exp: {e}"))?;
        Ok(Self {
            issuer: raw.iss,
            subject: raw.sub,
            audiences: match raw.aud {
                Audience::One(one) => vec![one],
                Audience::Many(many) => many,
            },
            authorized_party: raw.azp,
            expires,
            nonce: raw.nonce,
            username: raw.preferred_username.or(raw.email),
        })
    }

    /// OpenID Connect Core §3.1.3.7: the token is for `client_id` from `issuer`, has not
    /// expired at `now`, and carries `nonce` when one was sent.
    pub fn check(
        &self,
        issuer: &Url,
        client_id: &str,
        nonce: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), String> {
        if self.issuer.trim_end_matches('/') != issuer.as_str().trim_end_matches('/') {
            return Err(format!(
                "the ID token was issued by {:?}, not {:?}",
                self.issuer,
                issuer.as_str()
            ));
        }
        if !self.audiences.iter().any(|a| a == client_id) {
            return Err(format!("the ID token is not for client {client_id:?}"));
        }
        if self.audiences.len() > 1 && self.authorized_party.as_deref() != Some(client_id) {
            return Err(format!(
                "the ID token names several audiences and its azp is not {client_id:?}"
            ));
        }
        if self.expires <= now {
            return Err("the ID token has expired".to_owned());
        }
        if let Some(expected) = nonce
            && self.nonce.as_deref() != Some(expected)
        {
            return Err("the ID token's nonce is not the one this sign-in sent".to_owned());
        }
        Ok(())
    }
}

/// A random URL-safe string of `bytes` random bytes: `state`, `nonce`, PKCE verifiers.
pub fn random_string(bytes: usize) -> Result<String, OidcError> {
    let mut raw = zeroize::Zeroizing::new(vec![0u8; bytes]);
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw)
        .map_err(|_| OidcError::Unsupported("the system gave no randomness".to_owned()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&*raw))
}

/// The S256 code challenge of a PKCE verifier (RFC 7636 §4.2).
pub fn code_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The address that sends a person's browser to the provider to sign in.
pub fn authorization_url(
    metadata: &Metadata,
    client_id: &str,
    redirect_uri: &Url,
    state: &str,
    nonce: &str,
    verifier: &str,
    login_hint: Option<&str>,
) -> Result<Url, OidcError> {
    let mut url = metadata.authorization_endpoint.clone().ok_or_else(|| {
        OidcError::Unsupported(format!(
            "the identity provider {} has no authorization endpoint",
            metadata.issuer
        ))
    })?;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri.as_str())
            .append_pair("scope", SCOPES)
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", &code_challenge(verifier))
            .append_pair("code_challenge_method", "S256");
        if let Some(hint) = login_hint {
            query.append_pair("login_hint", hint);
        }
    }
    Ok(url)
}

/// The provider's discovery document.
pub async fn discover(http: &reqwest::Client, issuer: &Url) -> Result<Metadata, OidcError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.as_str().trim_end_matches('/')
    );
    let (status, body) = send(http.get(&url), &url).await?;
    if !status.is_success() {
        return Err(OidcError::Unavailable {
            url,
            reason: format!("status {status}"),
        });
    }
    Metadata::parse(issuer, &body).map_err(|reason| OidcError::Invalid {
        url: url.clone(),
        reason,
    })
}

/// POSTs a form to a token or device endpoint; a 2xx body is returned, an OAuth error
/// answer is [`OidcError::Refused`].
pub async fn post_form(
    http: &reqwest::Client,
    url: &Url,
    form: &[(&str, &str)],
) -> Result<Vec<u8>, OidcError> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let request = http
        .post(url.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(body);
    let (status, body) = send(request, url.as_str()).await?;
    if status.is_success() {
        return Ok(body);
    }
    if status.is_client_error() {
        #[derive(Deserialize)]
        struct ErrorAnswer {
            error: String,
            error_description: Option<String>,
        }
        if let Ok(answer) = serde_json::from_slice::<ErrorAnswer>(&body) {
            return Err(OidcError::Refused {
                code: answer.error.chars().take(100).collect(),
                description: answer
                    .error_description
                    .map(|d| d.chars().take(300).collect()),
            });
        }
    }
    Err(OidcError::Unavailable {
        url: url.to_string(),
        reason: format!("status {status}"),
    })
}

/// Sends `request` (to `url`, for errors) with the call timeout; its status and body, read
/// up to [`MAX_ANSWER`] bytes.
async fn send(
    request: reqwest::RequestBuilder,
    url: &str,
) -> Result<(reqwest::StatusCode, Vec<u8>), OidcError> {
    let unavailable = |reason: String| OidcError::Unavailable {
        url: url.to_owned(),
        reason,
    };
    let response = request
        .timeout(CALL_TIMEOUT)
        .send()
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    let status = response.status();
    let body = read_body(response).await.map_err(unavailable)?;
    Ok((status, body))
}

/// The token endpoint's answer to `form`, parsed.
pub async fn token(
    http: &reqwest::Client,
    metadata: &Metadata,
    form: &[(&str, &str)],
) -> Result<TokenAnswer, OidcError> {
    let body = post_form(http, &metadata.token_endpoint, form).await?;
    TokenAnswer::parse(&body).map_err(|reason| OidcError::Invalid {
        url: metadata.token_endpoint.to_string(),
        reason,
    })
}

/// Starts the device authorization grant, with a PKCE challenge for `verifier` (providers
/// that require PKCE of the client, as Keycloak does, require it here too; others ignore it).
pub async fn start_device(
    http: &reqwest::Client,
    metadata: &Metadata,
    client_id: &str,
    verifier: &str,
) -> Result<DeviceStart, OidcError> {
    let endpoint = metadata
        .device_authorization_endpoint
        .as_ref()
        .filter(|_| metadata.offers_device_flow())
        .ok_or_else(|| {
            OidcError::Unsupported(format!(
                "the identity provider {} does not offer the device authorization grant",
                metadata.issuer
            ))
        })?;
    let challenge = code_challenge(verifier);
    let body = post_form(
        http,
        endpoint,
        &[
            ("client_id", client_id),
            ("scope", SCOPES),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await?;
    DeviceStart::parse(&body).map_err(|reason| OidcError::Invalid {
        url: endpoint.to_string(),
        reason,
    })
}

async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(format!("the answer is larger than {MAX_ANSWER} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer() -> Url {
        Url::parse("http://127.0.0.1:8080/realms/r").unwrap()
    }

    fn jwt(claims: &serde_json::Value) -> String {
        let enc = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.{}",
            enc(br#"{"alg":"RS256"}"#),
            enc(claims.to_string().as_bytes()),
            enc(b"sig")
        )
    }

    #[test]
    fn discovery_must_name_the_issuer_and_safe_endpoints() {
        let good = br#"{"issuer":"http://127.0.0.1:8080/realms/r","authorization_endpoint":"http://127.0.0.1:8080/a","token_endpoint":"http://127.0.0.1:8080/t","device_authorization_endpoint":"http://127.0.0.1:8080/d","grant_types_supported":["authorization_code","urn:ietf:params:oauth:grant-type:device_code"]}"#;
        let metadata = Metadata::parse(&issuer(), good).unwrap();
        assert!(metadata.offers_device_flow());
        assert!(!metadata.may_offer_password());
        let other = br#"{"issuer":"http://127.0.0.1:8080/realms/other","token_endpoint":"http://127.0.0.1:8080/t"}"#;
        assert!(
            Metadata::parse(&issuer(), other)
                .unwrap_err()
                .contains("names issuer")
        );
        let plain = br#"{"issuer":"http://127.0.0.1:8080/realms/r","token_endpoint":"http://idp.example/t"}"#;
        assert!(
            Metadata::parse(&issuer(), plain)
                .unwrap_err()
                .contains("neither https")
        );
        let none = br#"{"issuer":"http://127.0.0.1:8080/realms/r"}"#;
        assert!(
            Metadata::parse(&issuer(), none)
                .unwrap_err()
                .contains("no token_endpoint")
        );
    }

    #[test]
    fn id_token_claims_are_checked() {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let token = |extra: serde_json::Value| {
            let mut claims = serde_json::json!({
                "iss": "http://127.0.0.1:8080/realms/r", "sub": "u1", "aud": "app",
                "exp": 1_700_000_300, "nonce": "n1", "preferred_username": "alice"
            });
            claims
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            IdClaims::parse(&jwt(&claims)).unwrap()
        };
        let good = token(serde_json::json!({}));
        assert_eq!(good.username.as_deref(), Some("alice"));
        good.check(&issuer(), "app", Some("n1"), now).unwrap();
        let fail =
            |claims: IdClaims, nonce| claims.check(&issuer(), "app", nonce, now).unwrap_err();
        assert!(fail(good.clone(), Some("n2")).contains("nonce"));
        assert!(fail(token(serde_json::json!({"aud": "other"})), None).contains("not for client"));
        assert!(fail(token(serde_json::json!({"aud": ["app", "x"]})), None).contains("azp"));
        token(serde_json::json!({"aud": ["app", "x"], "azp": "app"}))
            .check(&issuer(), "app", None, now)
            .unwrap();
        assert!(
            fail(
                token(serde_json::json!({"iss": "http://127.0.0.1:8080/realms/x"})),
                None
            )
            .contains("issued by")
        );
        assert!(fail(token(serde_json::json!({"exp": 1_700_000_000})), None).contains("expired"));
        assert!(IdClaims::parse("a.b").is_err());
        assert!(IdClaims::parse("a.!!.c").is_err());
        assert!(
            IdClaims::parse(&jwt(
                &serde_json::json!({"iss":"x","sub":"y","aud":"z","exp":1e300})
            ))
            .is_err()
        );
    }

    #[test]
    fn pkce_challenge_is_rfc_7636_s256() {
        // RFC 7636 appendix B.
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let verifier = random_string(32).unwrap();
        assert_eq!(verifier.len(), 43);
    }

    #[test]
    fn device_answers_with_unsafe_links_are_refused() {
        let good = br#"{"device_code":"d","user_code":"ABCD-EFGH","verification_uri":"https://idp.example/device","expires_in":600}"#;
        assert_eq!(DeviceStart::parse(good).unwrap().user_code, "ABCD-EFGH");
        let bad = br#"{"device_code":"d","user_code":"A","verification_uri":"javascript:alert(1)","expires_in":600}"#;
        assert!(DeviceStart::parse(bad).is_err());
        let debug = format!("{:?}", DeviceStart::parse(good).unwrap());
        assert!(!debug.contains("\"d\""));
    }
}
