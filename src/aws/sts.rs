//! AWS STS, the Query API (<https://docs.aws.amazon.com/STS/latest/APIReference/>):
//! `AssumeRole`, `GetSessionToken`, `AssumeRoleWithWebIdentity` and `GetCallerIdentity`.
//!
//! Requests are `POST /` with a form body (`Action`, `Version=2011-06-15`, parameters),
//! signed with SigV4 by the `aws-sigv4` crate (service `sts`); `AssumeRoleWithWebIdentity`
//! is unsigned. Answers are XML; errors are `<ErrorResponse><Error><Code>…<Message>…`.
//! Throttling and 5xx answers and network errors are retried with jittered backoff. A
//! refusal for the request's time is [`StsError::ClockSkew`], measured against the answer's
//! `Date` ([`crate::aws::clock_skew`]).
//!
//! Endpoint: `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`, else the profile's
//! `endpoint_url`, else `https://sts.REGION.amazonaws.com` (`.amazonaws.com.cn` in China).

use std::sync::Arc;

use serde::Deserialize;
use url::Url;

use crate::arn::{Region, RoleArn, RoleSessionName};
use crate::aws::clock_skew::{self, AnswerTime, ClockSkew};
use crate::aws::mfa::MfaCode;
use crate::credentials::{Credentials, parse_rfc3339};
use crate::secret::Secret;
use crate::system::clock::Clock;
use crate::system::env::Environment;
use crate::system::transport::RetryPolicy;

const VERSION: &str = "2011-06-15";

/// Why STS gave no answer we can use.
#[derive(Debug, thiserror::Error)]
pub enum StsError {
    #[error("STS endpoint {0:?} is not a valid http(s) URL")]
    BadEndpoint(String),
    #[error("cannot sign the STS request: {0}")]
    Sign(String),
    #[error("STS refused {action} ({status} {code}): {message}")]
    Service {
        action: &'static str,
        status: u16,
        code: String,
        message: String,
    },
    /// A refusal for the request's time ([`clock_skew::is_skew_refusal`]): this machine's
    /// clock is off, which no retry and no change of key or policy fixes.
    /// `refusal` is the [`StsError::Service`] as STS gave it (boxed: errors that carry an
    /// `StsError` stay small).
    #[error("{refusal}; {skew}")]
    ClockSkew {
        refusal: Box<StsError>,
        skew: ClockSkew,
    },
    #[error("cannot reach STS at {url}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("STS answered {action} with an unreadable document: {reason}")]
    BadResponse {
        action: &'static str,
        reason: String,
    },
}

impl StsError {
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Service { status, code, .. } => {
                *status >= 500 || matches!(code.as_str(), "Throttling" | "RequestLimitExceeded")
            }
            Self::Transport { .. } => true,
            _ => false,
        }
    }

    /// A [`StsError::Service`] refusal for the request's time as [`StsError::ClockSkew`],
    /// with `skew` as the answer measured it; any other error as it is.
    pub fn with_skew(self, skew: ClockSkew) -> Self {
        let refused_for_time = matches!(&self, Self::Service { code, message, .. }
            if clock_skew::is_skew_refusal(Some(code), message));
        if refused_for_time {
            Self::ClockSkew {
                refusal: Box::new(self),
                skew,
            }
        } else {
            self
        }
    }

    /// Whether STS refused an MFA code (wrong, expired or reused).
    pub fn is_mfa_rejection(&self) -> bool {
        matches!(self, Self::Service { code, message, .. }
            if code == "AccessDenied" && message.to_ascii_lowercase().contains("multifactorauthentication"))
    }
}

/// Resolves the STS endpoint for `region`.
pub fn resolve_endpoint(
    env: &Environment,
    profile_endpoint: Option<&str>,
    region: &Region,
) -> Result<Url, StsError> {
    let given = env
        .endpoint_url_sts
        .as_deref()
        .or(env.endpoint_url.as_deref())
        .or(profile_endpoint);
    let text = match given {
        Some(text) => text.to_owned(),
        None => {
            let suffix = if region.as_str().starts_with("cn-") {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            };
            format!("https://sts.{region}.{suffix}")
        }
    };
    let url = Url::parse(&text).map_err(|_| StsError::BadEndpoint(text.clone()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(StsError::BadEndpoint(text));
    }
    Ok(url)
}

/// What GetCallerIdentity says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    pub arn: String,
    pub account: String,
    pub user_id: String,
}

/// An STS client for one endpoint and region.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    endpoint: Url,
    region: Region,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint.as_str())
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlCredentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    expiration: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssumedRoleUser {
    arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CredentialsResult {
    credentials: XmlCredentials,
    #[serde(default)]
    assumed_role_user: Option<AssumedRoleUser>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRoleResponse {
    #[serde(
        alias = "AssumeRoleWithWebIdentityResult",
        alias = "AssumeRoleWithSAMLResult",
        alias = "GetSessionTokenResult"
    )]
    assume_role_result: CredentialsResult,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CallerIdentityResponse {
    get_caller_identity_result: CallerIdentityResult,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CallerIdentityResult {
    arn: String,
    account: String,
    user_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorResponse {
    error: ErrorDetail,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorDetail {
    code: String,
    #[serde(default)]
    message: String,
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

    /// GetSessionToken: session credentials for long-term keys, MFA-authenticated when a
    /// device and code are given.
    pub async fn get_session_token(
        &self,
        credentials: &Credentials,
        duration_seconds: u32,
        mfa: Option<(&str, &MfaCode)>,
    ) -> Result<Credentials, StsError> {
        let mut params = vec![("DurationSeconds", duration_seconds.to_string())];
        if let Some((serial, code)) = mfa {
            params.push(("SerialNumber", serial.to_owned()));
            params.push(("TokenCode", code.as_str().to_owned()));
        }
        self.credentials_call("GetSessionToken", params, Some(credentials))
            .await
    }

    /// AssumeRole with the caller's `credentials`.
    pub async fn assume_role(
        &self,
        credentials: &Credentials,
        role_arn: &RoleArn,
        session_name: &RoleSessionName,
        duration_seconds: u32,
        external_id: Option<&str>,
        mfa: Option<(&str, &MfaCode)>,
    ) -> Result<Credentials, StsError> {
        let mut params = vec![
            ("RoleArn", role_arn.to_string()),
            ("RoleSessionName", session_name.as_str().to_owned()),
            ("DurationSeconds", duration_seconds.to_string()),
        ];
        if let Some(id) = external_id {
            params.push(("ExternalId", id.to_owned()));
        }
        if let Some((serial, code)) = mfa {
            params.push(("SerialNumber", serial.to_owned()));
            params.push(("TokenCode", code.as_str().to_owned()));
        }
        let mut result = self
            .credentials_call("AssumeRole", params, Some(credentials))
            .await?;
        result.role_arn = Some(role_arn.to_string());
        Ok(result)
    }

    /// AssumeRoleWithWebIdentity (unsigned).
    pub async fn assume_role_with_web_identity(
        &self,
        role_arn: &RoleArn,
        session_name: &RoleSessionName,
        token: &Secret,
        duration_seconds: u32,
    ) -> Result<Credentials, StsError> {
        let params = vec![
            ("RoleArn", role_arn.to_string()),
            ("RoleSessionName", session_name.as_str().to_owned()),
            ("WebIdentityToken", token.expose().to_owned()),
            ("DurationSeconds", duration_seconds.to_string()),
        ];
        let mut result = self
            .credentials_call("AssumeRoleWithWebIdentity", params, None)
            .await?;
        result.role_arn = Some(role_arn.to_string());
        Ok(result)
    }

    /// AssumeRoleWithSAML: `role_arn` for the holder of `assertion` (the base64
    /// `SAMLResponse` an identity provider issued), trusted through `principal_arn` (the
    /// account's SAML provider). Unsigned, like AssumeRoleWithWebIdentity.
    pub async fn assume_role_with_saml(
        &self,
        role_arn: &RoleArn,
        principal_arn: &str,
        assertion: &Secret,
        duration_seconds: u32,
    ) -> Result<Credentials, StsError> {
        let params = vec![
            ("RoleArn", role_arn.to_string()),
            ("PrincipalArn", principal_arn.to_owned()),
            ("SAMLAssertion", assertion.expose().to_owned()),
            ("DurationSeconds", duration_seconds.to_string()),
        ];
        let mut result = self
            .credentials_call("AssumeRoleWithSAML", params, None)
            .await?;
        result.role_arn = Some(role_arn.to_string());
        Ok(result)
    }

    /// GetCallerIdentity: who `credentials` are.
    pub async fn get_caller_identity(
        &self,
        credentials: &Credentials,
    ) -> Result<CallerIdentity, StsError> {
        let body = self
            .call("GetCallerIdentity", Vec::new(), Some(credentials))
            .await?;
        parse_caller_identity_answer(&body)
    }

    async fn credentials_call(
        &self,
        action: &'static str,
        params: Vec<(&'static str, String)>,
        credentials: Option<&Credentials>,
    ) -> Result<Credentials, StsError> {
        let body = self.call(action, params, credentials).await?;
        parse_credentials_answer(action, &body)
    }

    async fn call(
        &self,
        action: &'static str,
        params: Vec<(&'static str, String)>,
        credentials: Option<&Credentials>,
    ) -> Result<String, StsError> {
        // The serializer is not Send: it must be gone before the first await.
        let body = zeroize::Zeroizing::new({
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("Action", action);
            form.append_pair("Version", VERSION);
            for (name, value) in &params {
                form.append_pair(name, value);
            }
            form.finish()
        });
        self.retry
            .run(action, StsError::is_retryable, || {
                self.attempt(action, body.as_bytes(), credentials)
            })
            .await
    }

    async fn attempt(
        &self,
        action: &'static str,
        body: &[u8],
        credentials: Option<&Credentials>,
    ) -> Result<String, StsError> {
        let url = self.endpoint.clone();
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let mut request = self
            .http
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body.to_vec());
        if let Some(credentials) = credentials {
            for (name, value) in self.sign(url.as_str(), content_type, body, credentials)? {
                request = request.header(name, value);
            }
        }
        let transport = |source| StsError::Transport {
            url: url.to_string(),
            source,
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let answered = AnswerTime::of(&response, self.clock.now());
        let text = response.text().await.map_err(transport)?;
        if (200..300).contains(&status) {
            return Ok(text);
        }
        Err(parse_error_answer(action, status, &text).with_skew(answered.skew()))
    }

    /// SigV4 headers for a POST of `body` to `url`.
    fn sign(
        &self,
        url: &str,
        content_type: &str,
        body: &[u8],
        credentials: &Credentials,
    ) -> Result<Vec<(String, String)>, StsError> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        use aws_sigv4::sign::v4;
        let identity: aws_smithy_runtime_api::client::identity::Identity =
            aws_credential_types::Credentials::new(
                credentials.access_key_id.clone(),
                credentials.secret_access_key.expose().to_owned(),
                credentials
                    .session_token
                    .as_ref()
                    .map(|t| t.expose().to_owned()),
                None,
                "needroleshere",
            )
            .into();
        let time = std::time::SystemTime::from(self.clock.now());
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(self.region.as_str())
            .name("sts")
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| StsError::Sign(e.to_string()))?
            .into();
        let request = SignableRequest::new(
            "POST",
            url,
            [("content-type", content_type)].into_iter(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| StsError::Sign(e.to_string()))?;
        let (instructions, _signature) = sign(request, &params)
            .map_err(|e| StsError::Sign(e.to_string()))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect())
    }
}

/// The credentials in a successful answer to `action` (AssumeRole, GetSessionToken or
/// AssumeRoleWithWebIdentity); `role_arn` is the role of `AssumedRoleUser`, when there is one.
/// An answer whose key id or secret is empty is refused.
/// The client's own reader, public so the fuzz target `sts_response` reads what it reads.
pub fn parse_credentials_answer(action: &'static str, body: &str) -> Result<Credentials, StsError> {
    // serde errors name positions and fields, never the values.
    let parsed: AssumeRoleResponse =
        quick_xml::de::from_str(body).map_err(|e| StsError::BadResponse {
            action,
            reason: e.to_string(),
        })?;
    let result = parsed.assume_role_result;
    let c = result.credentials;
    let expiration = parse_rfc3339(&c.expiration).map_err(|e| StsError::BadResponse {
        action,
        reason: format!("Expiration {:?}: {e}", c.expiration),
    })?;
    // `<AccessKeyId/>` reads as an empty string; credentials without a key are none.
    if c.access_key_id.is_empty() || c.secret_access_key.is_empty() {
        return Err(StsError::BadResponse {
            action,
            reason: "the credentials are empty".to_owned(),
        });
    }
    Ok(Credentials {
        access_key_id: c.access_key_id,
        secret_access_key: Secret::new(c.secret_access_key),
        session_token: Some(Secret::new(c.session_token)),
        expiration: Some(expiration),
        role_arn: result
            .assumed_role_user
            .map(|u| assumed_role_to_role_arn(&u.arn)),
    })
}

/// The identity in a successful GetCallerIdentity answer.
pub fn parse_caller_identity_answer(body: &str) -> Result<CallerIdentity, StsError> {
    let parsed: CallerIdentityResponse =
        quick_xml::de::from_str(body).map_err(|e| StsError::BadResponse {
            action: "GetCallerIdentity",
            reason: e.to_string(),
        })?;
    let r = parsed.get_caller_identity_result;
    Ok(CallerIdentity {
        arn: r.arn,
        account: r.account,
        user_id: r.user_id,
    })
}

/// The [`StsError::Service`] for a non-2xx answer to `action`: code and message from an
/// `<ErrorResponse>` document, else code `Unknown` and the start of the body. The message
/// holds no control characters, so it stays one line in a log or on stderr.
pub fn parse_error_answer(action: &'static str, status: u16, body: &str) -> StsError {
    let (code, message) = match quick_xml::de::from_str::<ErrorResponse>(body) {
        Ok(parsed) => (parsed.error.code, parsed.error.message),
        Err(_) => (
            "Unknown".to_owned(),
            body.chars().filter(|c| !c.is_control()).take(200).collect(),
        ),
    };
    StsError::Service {
        action,
        status,
        code,
        message: message.chars().filter(|c| !c.is_control()).collect(),
    }
}

/// `arn:aws:sts::ACCT:assumed-role/NAME/SESSION` → `arn:aws:iam::ACCT:role/NAME` (paths are
/// not part of an assumed-role ARN, so a role with a path loses it here).
fn assumed_role_to_role_arn(arn: &str) -> String {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        [_, partition, "sts", _, account, resource] => {
            match resource.split('/').collect::<Vec<_>>().as_slice() {
                ["assumed-role", name, ..] => format!("arn:{partition}:iam::{account}:role/{name}"),
                _ => arn.to_owned(),
            }
        }
        _ => arn.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let region: Region = "eu-west-1".parse().unwrap();
        let env = Environment::default();
        assert_eq!(
            resolve_endpoint(&env, None, &region).unwrap().as_str(),
            "https://sts.eu-west-1.amazonaws.com/"
        );
        let cn: Region = "cn-north-1".parse().unwrap();
        assert_eq!(
            resolve_endpoint(&env, None, &cn).unwrap().as_str(),
            "https://sts.cn-north-1.amazonaws.com.cn/"
        );
        assert_eq!(
            resolve_endpoint(&env, Some("http://127.0.0.1:1"), &region)
                .unwrap()
                .port(),
            Some(1)
        );
        let env = Environment {
            endpoint_url: Some("http://127.0.0.1:2".into()),
            endpoint_url_sts: Some("http://127.0.0.1:3".into()),
            ..Environment::default()
        };
        assert_eq!(
            resolve_endpoint(&env, Some("http://127.0.0.1:1"), &region)
                .unwrap()
                .port(),
            Some(3)
        );
        assert!(resolve_endpoint(&env, None, &region).is_ok());
        let env = Environment {
            endpoint_url_sts: Some("not a url".into()),
            ..Environment::default()
        };
        assert!(resolve_endpoint(&env, None, &region).is_err());
    }

    #[test]
    fn parses_answers_and_errors() {
        let answer = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials><AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>s</SecretAccessKey>
      <SessionToken>t</SessionToken><Expiration>2026-01-02T03:04:05Z</Expiration></Credentials>
    <AssumedRoleUser><AssumedRoleId>AROA1:x</AssumedRoleId><Arn>arn:aws:sts::123456789012:assumed-role/dev/x</Arn></AssumedRoleUser>
    <PackedPolicySize>0</PackedPolicySize>
  </AssumeRoleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleResponse>"#;
        let creds = parse_credentials_answer("AssumeRole", answer).unwrap();
        assert_eq!(creds.access_key_id, "ASIA1");
        assert_eq!(creds.secret_access_key.expose(), "s");
        assert_eq!(creds.session_token.as_ref().map(Secret::expose), Some("t"));
        assert_eq!(
            creds.role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/dev")
        );
        let session = r#"<GetSessionTokenResponse><GetSessionTokenResult><Credentials><AccessKeyId>ASIA2</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2026-01-02T03:04:05Z</Expiration></Credentials></GetSessionTokenResult></GetSessionTokenResponse>"#;
        let creds = parse_credentials_answer("GetSessionToken", session).unwrap();
        assert_eq!(creds.access_key_id, "ASIA2");
        assert_eq!(creds.role_arn, None);
        let error = r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>MultiFactorAuthentication failed with invalid MFA one time pass code.</Message></Error><RequestId>r</RequestId></ErrorResponse>"#;
        let e = parse_error_answer("AssumeRole", 403, error);
        assert!(
            matches!(&e, StsError::Service { code, status: 403, .. } if code == "AccessDenied"),
            "{e:?}"
        );
        assert!(e.is_mfa_rejection() && !e.is_retryable());
        assert_eq!(
            assumed_role_to_role_arn("arn:aws:sts::123456789012:assumed-role/dev/x"),
            "arn:aws:iam::123456789012:role/dev"
        );
    }

    #[test]
    fn unreadable_answers_are_bad_responses_naming_the_action() {
        let e =
            parse_credentials_answer("AssumeRoleWithWebIdentity", "<html>oops</html>").unwrap_err();
        assert!(
            matches!(
                e,
                StsError::BadResponse {
                    action: "AssumeRoleWithWebIdentity",
                    ..
                }
            ),
            "{e:?}"
        );
        let late = r#"<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>SECRETVALUE</SecretAccessKey><SessionToken>t</SessionToken><Expiration>soon</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>"#;
        let e = parse_credentials_answer("AssumeRole", late).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("\"soon\"") && !text.contains("SECRETVALUE"),
            "{text}"
        );
    }

    #[test]
    fn a_refusal_for_the_request_time_names_the_clock() {
        let expired = r#"<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>Signature not yet current: 20260102T031005Z is still later than 20260102T030905Z (20260102T030405Z + 5 min.)</Message></Error><RequestId>r</RequestId></ErrorResponse>"#;
        let skew = ClockSkew::measure(
            Some("Fri, 02 Jan 2026 03:04:05 GMT"),
            time::macros::datetime!(2026-01-02 03:10:05 UTC),
        );
        let e = parse_error_answer("AssumeRole", 403, expired).with_skew(skew);
        assert!(matches!(e, StsError::ClockSkew { .. }), "{e:?}");
        assert!(!e.is_retryable());
        assert!(
            e.to_string()
                .ends_with("; this machine's clock is 6 minutes ahead of AWS; fix the clock (NTP)"),
            "{e}"
        );
        // A signature that is simply wrong stays a refusal like any other.
        let wrong = expired.replace(
            "Signature not yet current",
            "The request signature we calculated does not match",
        );
        let e = parse_error_answer("AssumeRole", 403, &wrong).with_skew(skew);
        assert!(matches!(e, StsError::Service { .. }), "{e:?}");
    }

    #[test]
    fn caller_identity_answers() {
        let answer = r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/alice</Arn><UserId>AIDA1</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>"#;
        assert_eq!(
            parse_caller_identity_answer(answer).unwrap(),
            CallerIdentity {
                arn: "arn:aws:iam::123456789012:user/alice".into(),
                account: "123456789012".into(),
                user_id: "AIDA1".into(),
            }
        );
        assert!(parse_caller_identity_answer("").is_err());
    }

    #[test]
    fn error_answers_without_an_error_document_keep_a_printable_excerpt() {
        let body = format!("Service Unavailable\r\n\x1b[31m{}", "x".repeat(500));
        let e = parse_error_answer("GetSessionToken", 503, &body);
        match &e {
            StsError::Service { code, message, .. } => {
                assert_eq!(code, "Unknown");
                assert!(
                    message.starts_with("Service Unavailable[31mxxx"),
                    "{message}"
                );
                assert_eq!(message.chars().count(), 200);
            }
            other => panic!("{other:?}"),
        }
        assert!(e.is_retryable());
        let throttled = r#"<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>"#;
        let e = parse_error_answer("AssumeRole", 400, throttled);
        assert!(
            e.is_retryable() && e.to_string().contains("Throttling"),
            "{e}"
        );
    }

    /// Found by the fuzz target `sts_response`: `<AccessKeyId/>` (or an empty secret) was
    /// taken for credentials.
    #[test]
    fn sts_answer_with_an_empty_access_key_id_is_refused() {
        let answer = |key: &str, secret: &str| {
            format!(
                "<AssumeRoleResponse><AssumeRoleResult><Credentials>{key}{secret}\
                 <SessionToken>t</SessionToken><Expiration>2026-01-02T03:04:05Z</Expiration>\
                 </Credentials></AssumeRoleResult></AssumeRoleResponse>"
            )
        };
        for body in [
            answer("<AccessKeyId/>", "<SecretAccessKey>s</SecretAccessKey>"),
            answer(
                "<AccessKeyId></AccessKeyId>",
                "<SecretAccessKey>s</SecretAccessKey>",
            ),
            answer("<AccessKeyId>ASIA1</AccessKeyId>", "<SecretAccessKey/>"),
        ] {
            let e = parse_credentials_answer("AssumeRole", &body).unwrap_err();
            assert!(e.to_string().contains("the credentials are empty"), "{e}");
        }
        let whole = answer(
            "<AccessKeyId>ASIA1</AccessKeyId>",
            "<SecretAccessKey>s</SecretAccessKey>",
        );
        assert!(parse_credentials_answer("AssumeRole", &whole).is_ok());
    }
}
