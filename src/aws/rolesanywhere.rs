//! IAM Roles Anywhere `CreateSession`: an X.509-signed request that returns temporary
//! credentials for a role.
//!
//! Wire format (<https://docs.aws.amazon.com/rolesanywhere/latest/userguide/authentication-create-session.html>):
//! `POST <endpoint>/sessions` with a JSON body `{"durationSeconds", "profileArn", "roleArn",
//! "trustAnchorArn", "roleSessionName"?}`, signed with AWS4-X509 ([`crate::aws::sign`]).
//! Success is 201 with `{"credentialSet":[{"credentials":{"accessKeyId","secretAccessKey",
//! "sessionToken","expiration"},"roleArn",…}],…}`; only the credentials are required here.
//! Errors carry their type in `x-amzn-ErrorType` and a JSON `message`; 429, 5xx and network
//! failures are retried up to three times with jittered exponential backoff. A refusal for
//! the request's time is [`RolesAnywhereError::ClockSkew`], measured against the answer's
//! `Date` ([`crate::aws::clock_skew`]).
//!
//! Endpoints: `https://rolesanywhere.<region>.amazonaws.com` (`.amazonaws.com.cn` in China,
//! `rolesanywhere-fips.` with `AWS_USE_FIPS_ENDPOINT` in US regions), overridden by
//! `--endpoint`, `AWS_ENDPOINT_URL_ROLESANYWHERE` or `AWS_ENDPOINT_URL`, in that order.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::arn::{ProfileArn, Region, RoleArn, RoleSessionName, SessionDuration, TrustAnchorArn};
use crate::aws::clock_skew::{self, AnswerTime, ClockSkew};
use crate::aws::sign;
use crate::credentials::{Credentials, parse_rfc3339};
use crate::identity::{Identity, IdentityError};
use crate::secret::Secret;
use crate::system::clock::Clock;
pub use crate::system::transport::RetryPolicy;

/// What to ask CreateSession for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRequest {
    pub trust_anchor_arn: TrustAnchorArn,
    pub profile_arn: ProfileArn,
    pub role_arn: RoleArn,
    pub duration: SessionDuration,
    pub role_session_name: Option<RoleSessionName>,
}

/// Why no credentials came back.
#[derive(Debug, thiserror::Error)]
pub enum RolesAnywhereError {
    #[error("endpoint {0:?} is not a valid http(s) URL")]
    BadEndpoint(String),
    #[error("region {region} has no FIPS endpoint for IAM Roles Anywhere")]
    NoFipsEndpoint { region: Region },
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("{}", service_message(.status, .error_type.as_deref(), .message, .url))]
    Service {
        url: String,
        status: u16,
        error_type: Option<String>,
        message: String,
    },
    /// A refusal for the request's time ([`clock_skew::is_skew_refusal`]): this machine's
    /// clock is off, which no retry and no change of key or policy fixes.
    #[error("{}; {skew}", service_message(.status, .error_type.as_deref(), .message, .url))]
    ClockSkew {
        url: String,
        status: u16,
        error_type: Option<String>,
        message: String,
        skew: ClockSkew,
    },
    #[error("cannot reach IAM Roles Anywhere at {url}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("IAM Roles Anywhere at {url} answered {status} with an unreadable body: {reason}")]
    BadResponse {
        url: String,
        status: u16,
        reason: String,
    },
}

impl RolesAnywhereError {
    /// Whether a later attempt may succeed (throttling, server errors, network trouble).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Service { status, .. } => *status == 429 || *status >= 500,
            Self::Transport { .. } => true,
            _ => false,
        }
    }
}

fn service_message(status: &u16, error_type: Option<&str>, message: &str, url: &str) -> String {
    let error_type = error_type.unwrap_or("error");
    format!("IAM Roles Anywhere refused CreateSession ({status} {error_type}): {message} [{url}]")
}

/// Resolves the CreateSession endpoint: explicit flag, then the environment, then the
/// regional default.
pub fn resolve_endpoint(
    flag: Option<&str>,
    env: &crate::system::env::Environment,
    region: &Region,
) -> Result<Url, RolesAnywhereError> {
    let given = flag
        .or(env.endpoint_url_rolesanywhere.as_deref())
        .or(env.endpoint_url.as_deref());
    if let Some(text) = given {
        let url = Url::parse(text).map_err(|_| RolesAnywhereError::BadEndpoint(text.to_owned()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(RolesAnywhereError::BadEndpoint(text.to_owned()));
        }
        return Ok(url);
    }
    let region_name = region.as_str();
    let suffix = if region_name.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    let service = if env.use_fips_endpoint {
        if !region_name.starts_with("us-") {
            return Err(RolesAnywhereError::NoFipsEndpoint {
                region: region.clone(),
            });
        }
        "rolesanywhere-fips"
    } else {
        "rolesanywhere"
    };
    let text = format!("https://{service}.{region_name}.{suffix}");
    Url::parse(&text).map_err(|_| RolesAnywhereError::BadEndpoint(text))
}

/// A CreateSession client for one endpoint and region.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    endpoint: Url,
    region: Region,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint.as_str())
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestBody<'a> {
    duration_seconds: u32,
    profile_arn: &'a str,
    role_arn: &'a str,
    trust_anchor_arn: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_session_name: Option<&'a str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResponseBody {
    credential_set: Vec<CredentialSetEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CredentialSetEntry {
    credentials: ResponseCredentials,
    #[serde(default)]
    role_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResponseCredentials {
    access_key_id: String,
    secret_access_key: Secret,
    session_token: Secret,
    expiration: String,
}

impl Client {
    pub fn new(
        http: reqwest::Client,
        endpoint: Url,
        region: Region,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            http,
            endpoint,
            region,
            clock,
            retry: RetryPolicy::default(),
        }
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    pub fn region(&self) -> &Region {
        &self.region
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn sessions_url(&self) -> Url {
        let mut url = self.endpoint.clone();
        let path = format!("{}/sessions", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url
    }

    /// Calls CreateSession, retrying transient failures.
    pub async fn create_session(
        &self,
        identity: &Identity,
        request: &SessionRequest,
    ) -> Result<Credentials, RolesAnywhereError> {
        self.retry
            .run("CreateSession", RolesAnywhereError::is_retryable, || {
                self.attempt(identity, request)
            })
            .await
    }

    async fn attempt(
        &self,
        identity: &Identity,
        request: &SessionRequest,
    ) -> Result<Credentials, RolesAnywhereError> {
        let url = self.sessions_url();
        let body = serde_json::to_vec(&RequestBody {
            duration_seconds: request.duration.seconds(),
            profile_arn: request.profile_arn.as_str(),
            role_arn: request.role_arn.as_str(),
            trust_anchor_arn: request.trust_anchor_arn.as_str(),
            role_session_name: request
                .role_session_name
                .as_ref()
                .map(RoleSessionName::as_str),
        })
        .map_err(|e| RolesAnywhereError::BadEndpoint(e.to_string()))?;
        let host = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => return Err(RolesAnywhereError::BadEndpoint(url.to_string())),
        };
        let content_type = "application/json";
        let signed = sign::sign(
            &sign::Request {
                method: "POST",
                host: &host,
                path: url.path(),
                query: &[],
                headers: &[("Content-Type", content_type)],
                body: &body,
            },
            identity,
            self.region.as_str(),
            self.clock.now(),
        )?;
        tracing::debug!(
            url = %url,
            canonical_request = %signed.canonical_request,
            string_to_sign = %signed.string_to_sign,
            "signed CreateSession"
        );

        let mut builder = self
            .http
            .post(url.clone())
            .header(reqwest::header::HOST, &host)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        for (name, value) in &signed.headers {
            builder = builder.header(*name, value);
        }
        let transport = |source| RolesAnywhereError::Transport {
            url: url.to_string(),
            source,
        };
        let response = builder.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let error_type = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            // The header may carry a suffix after a colon (`Type:http://internal/...`).
            .map(|v| v.split(':').next().unwrap_or(v).to_owned());
        let answered = AnswerTime::of(&response, self.clock.now());
        let bytes = read_limited(response, MAX_RESPONSE_BYTES)
            .await
            .map_err(transport)?;
        tracing::debug!(url = %url, status, "CreateSession answered");

        if !(200..300).contains(&status) {
            let message = error_message(&bytes);
            if clock_skew::is_skew_refusal(error_type.as_deref(), &message) {
                return Err(RolesAnywhereError::ClockSkew {
                    url: url.to_string(),
                    status,
                    error_type,
                    message,
                    skew: answered.skew(),
                });
            }
            return Err(RolesAnywhereError::Service {
                url: url.to_string(),
                status,
                error_type,
                message,
            });
        }
        parse_credentials(&bytes).map_err(|reason| RolesAnywhereError::BadResponse {
            url: url.to_string(),
            status,
            reason,
        })
    }
}

/// A CreateSession answer is a few kilobytes; anything past this is not one.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// The body, cut at `limit` bytes (the rest is not read).
async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == limit {
            break;
        }
    }
    Ok(body)
}

/// The `message` of an AWS JSON error body, else a short excerpt of the body; printable
/// characters only, so it stays one line in a log or on stderr. The client's own reader of
/// error bodies, public for the fuzz target `create_session_response`.
pub fn error_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ErrorBody {
        #[serde(alias = "Message")]
        message: Option<String>,
    }
    let printable = |text: &str, max: usize| -> String {
        text.chars().filter(|c| !c.is_control()).take(max).collect()
    };
    if let Ok(ErrorBody { message: Some(m) }) = serde_json::from_slice(body) {
        let m = printable(&m, 1000);
        // An empty `message` says nothing: the body, below, says more.
        if !m.trim().is_empty() {
            return m;
        }
    }
    let text = printable(&String::from_utf8_lossy(body), 200);
    if text.trim().is_empty() {
        "(no message)".to_owned()
    } else {
        text
    }
}

/// The credentials of a successful CreateSession answer: the first `credentialSet` entry's,
/// with its `roleArn` when given. Refuses an answer whose key id or secret is empty; the
/// reason names positions and fields, never a secret. The client's own reader, public for the
/// fuzz target `create_session_response`.
pub fn parse_credentials(body: &[u8]) -> Result<Credentials, String> {
    // serde_json errors name the position only, never echo the secret values.
    let parsed: ResponseBody = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let entry = parsed
        .credential_set
        .into_iter()
        .next()
        .ok_or_else(|| "credentialSet is empty".to_owned())?;
    let creds = entry.credentials;
    let expiration = parse_rfc3339(&creds.expiration).map_err(|e| {
        format!(
            "expiration {:?} is not an RFC 3339 time: {e}",
            creds.expiration
        )
    })?;
    if creds.access_key_id.is_empty() || creds.secret_access_key.expose().is_empty() {
        return Err("the credentials are empty".to_owned());
    }
    Ok(Credentials {
        access_key_id: creds.access_key_id,
        secret_access_key: creds.secret_access_key,
        session_token: Some(creds.session_token),
        expiration: Some(expiration),
        role_arn: entry.role_arn,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::env::Environment;

    fn region(name: &str) -> Region {
        name.parse().unwrap()
    }

    #[test]
    fn default_endpoints_by_partition() {
        let env = Environment::default();
        let url = resolve_endpoint(None, &env, &region("eu-central-1")).unwrap();
        assert_eq!(
            url.as_str(),
            "https://rolesanywhere.eu-central-1.amazonaws.com/"
        );
        let url = resolve_endpoint(None, &env, &region("cn-north-1")).unwrap();
        assert_eq!(
            url.as_str(),
            "https://rolesanywhere.cn-north-1.amazonaws.com.cn/"
        );
        let fips = Environment {
            use_fips_endpoint: true,
            ..Environment::default()
        };
        let url = resolve_endpoint(None, &fips, &region("us-gov-west-1")).unwrap();
        assert_eq!(
            url.as_str(),
            "https://rolesanywhere-fips.us-gov-west-1.amazonaws.com/"
        );
        let err = resolve_endpoint(None, &fips, &region("eu-west-1")).unwrap_err();
        assert!(err.to_string().contains("no FIPS endpoint"), "{err}");
    }

    #[test]
    fn endpoint_overrides_in_order() {
        let env = Environment {
            endpoint_url: Some("http://127.0.0.1:1".into()),
            endpoint_url_rolesanywhere: Some("http://127.0.0.1:2".into()),
            ..Environment::default()
        };
        let r = region("us-east-1");
        assert_eq!(
            resolve_endpoint(Some("http://127.0.0.1:3"), &env, &r)
                .unwrap()
                .port(),
            Some(3)
        );
        assert_eq!(resolve_endpoint(None, &env, &r).unwrap().port(), Some(2));
        let env = Environment {
            endpoint_url: Some("http://127.0.0.1:1".into()),
            ..Environment::default()
        };
        assert_eq!(resolve_endpoint(None, &env, &r).unwrap().port(), Some(1));
        let err = resolve_endpoint(Some("ftp://x"), &env, &r).unwrap_err();
        assert!(err.to_string().contains("\"ftp://x\""), "{err}");
    }

    #[test]
    fn lenient_response_parsing_needs_only_credentials() {
        let body = br#"{"credentialSet":[{"credentials":{"accessKeyId":"ASIA1","secretAccessKey":"s","sessionToken":"t","expiration":"2026-01-02T03:04:05Z"},"unknownField":1}]}"#;
        let creds = parse_credentials(body).unwrap();
        assert_eq!(creds.access_key_id, "ASIA1");
        assert_eq!(creds.role_arn, None);
        let err = parse_credentials(br#"{"credentialSet":[]}"#).unwrap_err();
        assert!(err.contains("empty"), "{err}");
        let err = parse_credentials(br#"{"credentialSet":[{"credentials":{"accessKeyId":"A","secretAccessKey":"SECRETVALUE","sessionToken":"t","expiration":"soon"}}]}"#).unwrap_err();
        assert!(
            err.contains("\"soon\"") && !err.contains("SECRETVALUE"),
            "{err}"
        );
    }

    #[test]
    fn error_messages_come_from_json_or_a_short_excerpt() {
        assert_eq!(
            error_message(br#"{"message":"Untrusted signing certificate"}"#),
            "Untrusted signing certificate"
        );
        assert_eq!(error_message(b""), "(no message)");
        assert_eq!(error_message(&[b'x'; 500]).len(), 200);
        assert_eq!(
            error_message(br#"{"message":"two\nlines\u001b[31m"}"#),
            "twolines[31m"
        );
    }

    /// Found by the fuzz target `create_session_response`: `{"message":""}` (or `[""]`, which
    /// serde also reads as the struct) gave an empty message.
    #[test]
    fn error_message_of_json_with_an_empty_message_is_not_empty() {
        assert_eq!(error_message(br#"[""]"#), r#"[""]"#);
        assert_eq!(
            error_message(br#"{"message":" \n"}"#),
            r#"{"message":" \n"}"#
        );
        assert_eq!(error_message(b"{\"message\":\"\"}\n"), r#"{"message":""}"#);
    }

    #[test]
    fn skew_rejections_name_the_clock_and_are_not_retried() {
        let err = RolesAnywhereError::ClockSkew {
            url: "https://example.invalid/sessions".into(),
            status: 403,
            error_type: Some("AccessDeniedException".into()),
            message: "Signature expired: 20200101T000000Z is now earlier than ...".into(),
            skew: ClockSkew::measure(
                Some("Wed, 01 Jan 2020 00:10:00 GMT"),
                time::macros::datetime!(2020-01-01 00:00:00 UTC),
            ),
        };
        let text = err.to_string();
        assert!(text.contains("403 AccessDeniedException"), "{text}");
        assert!(
            text.ends_with("; this machine's clock is 10 minutes behind AWS; fix the clock (NTP)"),
            "{text}"
        );
        assert!(!err.is_retryable());
    }

    #[test]
    fn backoff_stays_under_the_ceiling() {
        let policy = RetryPolicy::default();
        for retry in 0..6 {
            let ceiling = policy.base.saturating_mul(2u32.pow(retry)).min(policy.cap);
            assert!(policy.backoff(retry) <= ceiling);
        }
    }
}
