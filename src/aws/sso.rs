//! IAM Identity Center (AWS SSO): the OIDC service's device authorization grant
//! (<https://docs.aws.amazon.com/singlesignon/latest/OIDCAPIReference/>) and the access
//! portal's `GetRoleCredentials`, `ListAccounts`, `ListAccountRoles`
//! (<https://docs.aws.amazon.com/singlesignon/latest/PortalAPIReference/>).
//!
//! Both are `rest-json` and unsigned. OIDC (`https://oidc.REGION.amazonaws.com`): `POST
//! /client/register`, `POST /device_authorization`, `POST /token` with camelCase JSON bodies.
//! Portal (`https://portal.sso.REGION.amazonaws.com`): `GET` with query parameters and the
//! access token in the `x-amz-sso_bearer_token` header. Refusals name their exception in
//! `x-amzn-ErrorType` (the OIDC service's bodies also say `{"error": "invalid_grant", …}`,
//! the portal's `{"message": …}`); [`SsoError::Service`] keeps both.
//!
//! Endpoints: `AWS_ENDPOINT_URL_SSO_OIDC` / `AWS_ENDPOINT_URL_SSO`, else `AWS_ENDPOINT_URL`,
//! else the profile's `endpoint_url`, else AWS's host for the `sso_region`
//! (`.amazonaws.com.cn` in China), as the SDKs resolve them. Throttling, 5xx answers and
//! network errors are retried with jittered backoff; the OIDC polling answers
//! (`authorization_pending`, `slow_down`) are not errors to retry but states the caller's
//! polling loop handles ([`SsoError::oauth_error`]).

use std::sync::Arc;

use serde::Deserialize;
use time::OffsetDateTime;
use url::Url;

use crate::arn::Region;
use crate::credentials::Credentials;
use crate::secret::Secret;
use crate::system::clock::Clock;
use crate::system::env::Environment;
use crate::system::transport::RetryPolicy;

/// The OAuth device code grant (RFC 8628).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The header the portal reads the access token from.
pub const BEARER_HEADER: &str = "x-amz-sso_bearer_token";

/// Why the OIDC service or the portal gave no answer we can use.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// The endpoint is not an http(s) URL.
    #[error("IAM Identity Center endpoint {0:?} is not a valid http(s) URL")]
    BadEndpoint(String),
    /// The service refused.
    #[error("IAM Identity Center refused {operation} ({status} {exception}): {message}")]
    Service {
        /// `CreateToken`, `GetRoleCredentials`, ….
        operation: &'static str,
        /// The HTTP status.
        status: u16,
        /// `x-amzn-ErrorType`, e.g. `InvalidGrantException`, `UnauthorizedException`.
        exception: String,
        /// The OIDC service's `error` (`invalid_grant`, `authorization_pending`, …).
        oauth_error: Option<String>,
        /// `error_description` or `message` (never a token: services do not echo them).
        message: String,
    },
    /// The service could not be reached.
    #[error("cannot reach IAM Identity Center at {url}")]
    Transport {
        /// Where.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The answer could not be read.
    #[error("IAM Identity Center answered {operation} with an unreadable document: {reason}")]
    BadResponse {
        /// Which operation.
        operation: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl SsoError {
    /// Whether retrying the same request may succeed (throttling, 5xx, network).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Service {
                status, exception, ..
            } => *status >= 500 || *status == 429 || exception == "TooManyRequestsException",
            Self::Transport { .. } => true,
            _ => false,
        }
    }

    /// The OAuth error code of an OIDC refusal (`invalid_grant`, `expired_token`,
    /// `authorization_pending`, `slow_down`, `access_denied`, `invalid_client`, …), from the
    /// body or, failing that, from the exception's name.
    pub fn oauth_error(&self) -> Option<&str> {
        let Self::Service {
            exception,
            oauth_error,
            ..
        } = self
        else {
            return None;
        };
        if let Some(code) = oauth_error {
            return Some(code);
        }
        Some(match exception.as_str() {
            "InvalidGrantException" => "invalid_grant",
            "ExpiredTokenException" => "expired_token",
            "InvalidClientException" => "invalid_client",
            "AuthorizationPendingException" => "authorization_pending",
            "SlowDownException" => "slow_down",
            "AccessDeniedException" => "access_denied",
            _ => return None,
        })
    }

    /// Whether the portal refused the access token itself (401): only a new sign-in (or a
    /// renewal) helps.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Service { status: 401, .. })
    }
}

/// The endpoints of both services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The OIDC service.
    pub oidc: Url,
    /// The access portal.
    pub portal: Url,
}

impl Endpoints {
    /// Resolves both for `sso_region` (see the module documentation).
    pub fn resolve(
        env: &Environment,
        profile_endpoint: Option<&str>,
        sso_region: &Region,
    ) -> Result<Endpoints, SsoError> {
        let suffix = if sso_region.as_str().starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        let one = |specific: Option<&String>, host: &str| {
            let text = specific
                .or(env.endpoint_url.as_ref())
                .map(String::as_str)
                .or(profile_endpoint)
                .map_or_else(
                    || format!("https://{host}.{sso_region}.{suffix}"),
                    str::to_owned,
                );
            let url = Url::parse(&text).map_err(|_| SsoError::BadEndpoint(text.clone()))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(SsoError::BadEndpoint(text));
            }
            Ok(url)
        };
        Ok(Endpoints {
            oidc: one(env.endpoint_url_sso_oidc.as_ref(), "oidc")?,
            portal: one(env.endpoint_url_sso.as_ref(), "portal.sso")?,
        })
    }
}

/// A client registration (RegisterClient).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// `clientId`.
    pub client_id: String,
    /// `clientSecret`.
    pub client_secret: Secret,
    /// `clientSecretExpiresAt`.
    pub expires_at: OffsetDateTime,
}

/// A started device authorization (StartDeviceAuthorization): what to show a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuthorization {
    /// `deviceCode`: what the polling sends (a secret of this sign-in).
    pub device_code: Secret,
    /// `userCode`: what the person confirms at the page.
    pub user_code: String,
    /// `verificationUri`.
    pub verification_uri: String,
    /// `verificationUriComplete`: the page with the code filled in.
    pub verification_uri_complete: Option<String>,
    /// When the device code stops working.
    pub expires_at: OffsetDateTime,
    /// Seconds between polls (`interval`, default 5 as RFC 8628 says).
    pub interval_seconds: u64,
}

/// Tokens (CreateToken).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    /// `accessToken`: the portal's bearer token.
    pub access_token: Secret,
    /// When it expires (`expiresIn` after the answer).
    pub expires_at: OffsetDateTime,
    /// `refreshToken`, given only to clients registered with scopes.
    pub refresh_token: Option<Secret>,
}

/// One account the person may reach.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountInfo {
    /// `accountId`.
    pub account_id: String,
    /// `accountName`.
    #[serde(default)]
    pub account_name: Option<String>,
    /// `emailAddress`.
    #[serde(default)]
    pub email_address: Option<String>,
}

/// A client of both services in one region.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    endpoints: Endpoints,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("oidc", &self.endpoints.oidc.as_str())
            .field("portal", &self.endpoints.portal.as_str())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of `endpoints` over `http`, reading time from `clock`.
    pub fn new(http: reqwest::Client, endpoints: Endpoints, clock: Arc<dyn Clock>) -> Self {
        Self {
            http,
            endpoints,
            clock,
            retry: RetryPolicy::default(),
        }
    }

    /// The same client with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// RegisterClient: a `public` client named `client_name`, with `scopes` (`None` for the
    /// older profile form, which gets no refresh token).
    pub async fn register_client(
        &self,
        client_name: &str,
        scopes: Option<&[String]>,
    ) -> Result<Registration, SsoError> {
        const OP: &str = "RegisterClient";
        let mut body = serde_json::json!({"clientName": client_name, "clientType": "public"});
        if let Some(scopes) = scopes {
            body["scopes"] = serde_json::json!(scopes);
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Answer {
            client_id: String,
            client_secret: Secret,
            client_secret_expires_at: i64,
        }
        let answer: Answer = self.post_json(OP, "client/register", &body).await?;
        Ok(Registration {
            client_id: answer.client_id,
            client_secret: answer.client_secret,
            expires_at: OffsetDateTime::from_unix_timestamp(answer.client_secret_expires_at)
                .map_err(|_| bad(OP, "clientSecretExpiresAt is out of range"))?,
        })
    }

    /// StartDeviceAuthorization for `start_url`.
    pub async fn start_device_authorization(
        &self,
        registration: &Registration,
        start_url: &str,
    ) -> Result<DeviceAuthorization, SsoError> {
        const OP: &str = "StartDeviceAuthorization";
        let body = serde_json::json!({
            "clientId": registration.client_id,
            "clientSecret": registration.client_secret.expose(),
            "startUrl": start_url,
        });
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Answer {
            device_code: Secret,
            user_code: String,
            verification_uri: String,
            verification_uri_complete: Option<String>,
            expires_in: i64,
            interval: Option<u64>,
        }
        let now = self.clock.now();
        let answer: Answer = self.post_json(OP, "device_authorization", &body).await?;
        Ok(DeviceAuthorization {
            device_code: answer.device_code,
            user_code: answer.user_code,
            verification_uri: answer.verification_uri,
            verification_uri_complete: answer.verification_uri_complete,
            expires_at: now + time::Duration::seconds(answer.expires_in.max(0)),
            interval_seconds: answer.interval.unwrap_or(5).max(1),
        })
    }

    /// CreateToken with the device code: tokens once the person approved; until then the
    /// refusals `authorization_pending` and `slow_down` ([`SsoError::oauth_error`]), which the
    /// caller's polling loop answers by waiting (5 s longer after `slow_down`).
    pub async fn create_token_with_device_code(
        &self,
        registration: &Registration,
        device_code: &Secret,
    ) -> Result<Tokens, SsoError> {
        let body = serde_json::json!({
            "clientId": registration.client_id,
            "clientSecret": registration.client_secret.expose(),
            "grantType": DEVICE_CODE_GRANT,
            "deviceCode": device_code.expose(),
        });
        self.create_token(&body).await
    }

    /// CreateToken with a refresh token: new tokens without a person. `invalid_grant`,
    /// `expired_token` or `invalid_client` mean only a new sign-in helps.
    pub async fn refresh(
        &self,
        client_id: &str,
        client_secret: &Secret,
        refresh_token: &Secret,
    ) -> Result<Tokens, SsoError> {
        let body = serde_json::json!({
            "clientId": client_id,
            "clientSecret": client_secret.expose(),
            "grantType": "refresh_token",
            "refreshToken": refresh_token.expose(),
        });
        self.create_token(&body).await
    }

    async fn create_token(&self, body: &serde_json::Value) -> Result<Tokens, SsoError> {
        const OP: &str = "CreateToken";
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Answer {
            access_token: Secret,
            expires_in: i64,
            refresh_token: Option<Secret>,
        }
        let now = self.clock.now();
        let answer: Answer = self.post_json(OP, "token", body).await?;
        if answer.access_token.expose().is_empty() {
            return Err(bad(OP, "empty accessToken"));
        }
        Ok(Tokens {
            access_token: answer.access_token,
            expires_at: now + time::Duration::seconds(answer.expires_in.max(0)),
            refresh_token: answer.refresh_token,
        })
    }

    /// GetRoleCredentials: credentials for `role_name` in `account_id`.
    pub async fn get_role_credentials(
        &self,
        access_token: &Secret,
        account_id: &str,
        role_name: &str,
    ) -> Result<Credentials, SsoError> {
        const OP: &str = "GetRoleCredentials";
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct RoleCredentials {
            access_key_id: String,
            secret_access_key: Secret,
            session_token: Secret,
            expiration: i64,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Answer {
            role_credentials: RoleCredentials,
        }
        let answer: Answer = self
            .get_json(
                OP,
                "federation/credentials",
                &[("account_id", account_id), ("role_name", role_name)],
                access_token,
            )
            .await?;
        let credentials = answer.role_credentials;
        if credentials.access_key_id.is_empty() || credentials.secret_access_key.expose().is_empty()
        {
            return Err(bad(OP, "empty accessKeyId or secretAccessKey"));
        }
        let expiration = OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(credentials.expiration) * 1_000_000,
        )
        .map_err(|_| bad(OP, "expiration is out of range"))?;
        Ok(Credentials {
            access_key_id: credentials.access_key_id,
            secret_access_key: credentials.secret_access_key,
            session_token: Some(credentials.session_token),
            expiration: Some(expiration),
            role_arn: None,
        })
    }

    /// ListAccounts, every page.
    pub async fn list_accounts(&self, access_token: &Secret) -> Result<Vec<AccountInfo>, SsoError> {
        let mut accounts = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![];
            if let Some(token) = &next {
                query.push(("next_token", token.as_str()));
            }
            let text = self
                .get_text("ListAccounts", "assignment/accounts", &query, access_token)
                .await?;
            let page = AccountsPage::parse(&text)?;
            accounts.extend(page.accounts);
            next = page.next_token;
            if next.is_none() {
                return Ok(accounts);
            }
        }
        Err(bad("ListAccounts", "more than 1000 pages"))
    }

    /// ListAccountRoles, every page: the role names of `account_id`.
    pub async fn list_account_roles(
        &self,
        access_token: &Secret,
        account_id: &str,
    ) -> Result<Vec<String>, SsoError> {
        let mut roles = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![("account_id", account_id)];
            if let Some(token) = &next {
                query.push(("next_token", token.as_str()));
            }
            let text = self
                .get_text("ListAccountRoles", "assignment/roles", &query, access_token)
                .await?;
            let page = RolesPage::parse(&text)?;
            roles.extend(page.role_names);
            next = page.next_token;
            if next.is_none() {
                return Ok(roles);
            }
        }
        Err(bad("ListAccountRoles", "more than 1000 pages"))
    }

    async fn post_json<T: serde::de::DeserializeOwned>(
        &self,
        operation: &'static str,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, SsoError> {
        let url = join(&self.endpoints.oidc, path);
        let body = body.to_string();
        let text = self
            .retry
            .run(operation, SsoError::is_retryable, || {
                let request = self
                    .http
                    .post(url.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
                send(operation, &url, request)
            })
            .await?;
        serde_json::from_str(&text).map_err(|e| bad(operation, e.to_string()))
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        operation: &'static str,
        path: &str,
        query: &[(&str, &str)],
        access_token: &Secret,
    ) -> Result<T, SsoError> {
        let text = self.get_text(operation, path, query, access_token).await?;
        serde_json::from_str(&text).map_err(|e| bad(operation, e.to_string()))
    }

    async fn get_text(
        &self,
        operation: &'static str,
        path: &str,
        query: &[(&str, &str)],
        access_token: &Secret,
    ) -> Result<String, SsoError> {
        let mut url = join(&self.endpoints.portal, path);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        self.retry
            .run(operation, SsoError::is_retryable, || {
                let request = self
                    .http
                    .get(url.clone())
                    .header(BEARER_HEADER, access_token.expose());
                send(operation, &url, request)
            })
            .await
    }
}

/// One page of ListAccounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountsPage {
    /// Its accounts, each with an `accountId`.
    pub accounts: Vec<AccountInfo>,
    /// Where the next page starts (`nextToken`; an empty one is none).
    pub next_token: Option<String>,
}

impl AccountsPage {
    /// Reads a ListAccounts answer.
    pub fn parse(text: &str) -> Result<Self, SsoError> {
        const OP: &str = "ListAccounts";
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Page {
            #[serde(default)]
            account_list: Vec<AccountInfo>,
            next_token: Option<String>,
        }
        let page: Page = serde_json::from_str(text).map_err(|e| bad(OP, e.to_string()))?;
        if page.account_list.iter().any(|a| a.account_id.is_empty()) {
            return Err(bad(OP, "an account without an accountId"));
        }
        Ok(Self {
            accounts: page.account_list,
            next_token: page.next_token.filter(|t| !t.is_empty()),
        })
    }
}

/// One page of ListAccountRoles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolesPage {
    /// The role names (`roleName`, never empty).
    pub role_names: Vec<String>,
    /// Where the next page starts (`nextToken`; an empty one is none).
    pub next_token: Option<String>,
}

impl RolesPage {
    /// Reads a ListAccountRoles answer.
    pub fn parse(text: &str) -> Result<Self, SsoError> {
        const OP: &str = "ListAccountRoles";
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Role {
            role_name: String,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Page {
            #[serde(default)]
            role_list: Vec<Role>,
            next_token: Option<String>,
        }
        let page: Page = serde_json::from_str(text).map_err(|e| bad(OP, e.to_string()))?;
        if page.role_list.iter().any(|r| r.role_name.is_empty()) {
            return Err(bad(OP, "a role without a roleName"));
        }
        Ok(Self {
            role_names: page.role_list.into_iter().map(|r| r.role_name).collect(),
            next_token: page.next_token.filter(|t| !t.is_empty()),
        })
    }
}

const MAX_PAGES: usize = 1000;

fn bad(operation: &'static str, reason: impl Into<String>) -> SsoError {
    SsoError::BadResponse {
        operation,
        reason: reason.into(),
    }
}

/// `base` with `path` appended to its path (an endpoint may carry a path prefix).
fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let prefix = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("{prefix}/{path}"));
    url
}

async fn send(
    operation: &'static str,
    url: &Url,
    request: reqwest::RequestBuilder,
) -> Result<String, SsoError> {
    let transport = |source| SsoError::Transport {
        url: url.to_string(),
        source,
    };
    let response = request.send().await.map_err(transport)?;
    let status = response.status().as_u16();
    let exception = response
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(':').next().unwrap_or_default().to_owned());
    let text = response.text().await.map_err(transport)?;
    if (200..300).contains(&status) {
        return Ok(text);
    }
    Err(parse_error(operation, status, exception, &text))
}

/// A refusal's exception, OAuth error and message, from the header and the JSON body.
pub fn parse_error(
    operation: &'static str,
    status: u16,
    exception: Option<String>,
    body: &str,
) -> SsoError {
    #[derive(Deserialize, Default)]
    struct Body {
        error: Option<String>,
        error_description: Option<String>,
        message: Option<String>,
        #[serde(rename = "Message")]
        capital_message: Option<String>,
        #[serde(rename = "__type")]
        kind: Option<String>,
    }
    let parsed: Body = serde_json::from_str(body).unwrap_or_default();
    let exception = exception
        .filter(|e| !e.is_empty())
        .or(parsed
            .kind
            .map(|k| k.rsplit('#').next().unwrap_or_default().to_owned()))
        .unwrap_or_else(|| format!("HTTP {status}"));
    let message = parsed
        .error_description
        .or(parsed.message)
        .or(parsed.capital_message)
        .unwrap_or_default();
    // An answer's text is the service's, but keep it short in logs.
    let message: String = message.chars().take(512).collect();
    SsoError::Service {
        operation,
        status,
        exception,
        oauth_error: parsed.error,
        message,
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "test code: a panic is the failure report"
    )]

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn endpoints_follow_the_sdk_conventions() {
        let region: Region = "eu-west-1".parse().unwrap();
        let default = Endpoints::resolve(&env(&[]), None, &region).unwrap();
        assert_eq!(
            default.oidc.as_str(),
            "https://oidc.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            default.portal.as_str(),
            "https://portal.sso.eu-west-1.amazonaws.com/"
        );
        let china = Endpoints::resolve(&env(&[]), None, &"cn-north-1".parse().unwrap()).unwrap();
        assert_eq!(
            china.oidc.as_str(),
            "https://oidc.cn-north-1.amazonaws.com.cn/"
        );
        let profile = Endpoints::resolve(&env(&[]), Some("http://127.0.0.1:9"), &region).unwrap();
        assert_eq!(profile.portal.as_str(), "http://127.0.0.1:9/");
        let global = Endpoints::resolve(
            &env(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:8")]),
            Some("http://127.0.0.1:9"),
            &region,
        )
        .unwrap();
        assert_eq!(global.oidc.as_str(), "http://127.0.0.1:8/");
        let specific = Endpoints::resolve(
            &env(&[
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:8"),
                ("AWS_ENDPOINT_URL_SSO", "http://127.0.0.1:7/portal"),
                ("AWS_ENDPOINT_URL_SSO_OIDC", "http://127.0.0.1:6"),
            ]),
            None,
            &region,
        )
        .unwrap();
        assert_eq!(specific.oidc.as_str(), "http://127.0.0.1:6/");
        assert_eq!(
            join(&specific.portal, "federation/credentials").as_str(),
            "http://127.0.0.1:7/portal/federation/credentials"
        );
        assert!(matches!(
            Endpoints::resolve(&env(&[("AWS_ENDPOINT_URL_SSO", "ftp://x")]), None, &region),
            Err(SsoError::BadEndpoint(_))
        ));
    }

    #[test]
    fn refusals_are_read_from_the_header_and_the_body() {
        let error = parse_error(
            "CreateToken",
            400,
            Some("InvalidGrantException".into()),
            r#"{"error":"invalid_grant","error_description":"Invalid refresh token"}"#,
        );
        assert_eq!(error.oauth_error(), Some("invalid_grant"));
        assert!(!error.is_retryable());
        assert!(
            error.to_string().contains("InvalidGrantException"),
            "{error}"
        );
        let error = parse_error("CreateToken", 400, Some("SlowDownException".into()), "");
        assert_eq!(error.oauth_error(), Some("slow_down"));
        let error = parse_error(
            "GetRoleCredentials",
            401,
            None,
            r#"{"message":"Session token not found or invalid","__type":"com.amazonaws.switchboard.portal#UnauthorizedException"}"#,
        );
        assert!(error.is_unauthorized());
        assert!(
            error.to_string().contains("UnauthorizedException"),
            "{error}"
        );
        assert!(parse_error("ListAccounts", 503, None, "<html>").is_retryable());
        assert!(
            parse_error(
                "ListAccounts",
                429,
                Some("TooManyRequestsException".into()),
                ""
            )
            .is_retryable()
        );
    }

    #[test]
    fn list_pages_are_read_with_their_next_token() {
        let page = AccountsPage::parse(
            r#"{"accountList":[{"accountId":"111122223333","accountName":"sandbox","emailAddress":"a@example.com"}],"nextToken":"page-1"}"#,
        )
        .unwrap();
        assert_eq!(page.accounts[0].account_id, "111122223333");
        assert_eq!(page.accounts[0].account_name.as_deref(), Some("sandbox"));
        assert_eq!(page.next_token.as_deref(), Some("page-1"));
        let last = AccountsPage::parse(r#"{"accountList":[],"nextToken":""}"#).unwrap();
        assert_eq!(last.next_token, None);
        assert!(AccountsPage::parse(r#"{"accountList":[{"accountId":""}]}"#).is_err());
        assert!(AccountsPage::parse("<html>").is_err());
        let roles = RolesPage::parse(
            r#"{"roleList":[{"roleName":"Developer","accountId":"111122223333"}]}"#,
        )
        .unwrap();
        assert_eq!(roles.role_names, ["Developer"]);
        assert_eq!(roles.next_token, None);
        assert!(RolesPage::parse(r#"{"roleList":[{"roleName":""}]}"#).is_err());
        assert!(RolesPage::parse(r#"{"roleList":[{}]}"#).is_err());
    }

    #[test]
    fn debug_shows_no_secret() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let shown = format!(
            "{:?} {:?} {:?}",
            Registration {
                client_id: "id".into(),
                client_secret: Secret::new("client-secret-value"),
                expires_at: at,
            },
            DeviceAuthorization {
                device_code: Secret::new("device-code-value"),
                user_code: "ABCD-EFGH".into(),
                verification_uri: "https://device.sso.us-east-1.amazonaws.com/".into(),
                verification_uri_complete: None,
                expires_at: at,
                interval_seconds: 1,
            },
            Tokens {
                access_token: Secret::new("access-token-value"),
                expires_at: at,
                refresh_token: Some(Secret::new("refresh-token-value")),
            }
        );
        for secret in [
            "client-secret-value",
            "device-code-value",
            "access-token-value",
            "refresh-token-value",
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("ABCD-EFGH"));
    }
}
