//! IAM Identity Center role credentials for a profile's [`SsoProfile`]: the first step of a
//! profile plan whose base is `sso_session` or the older `sso_start_url` form
//! ([`crate::source::profile`] runs it, then any roles chained on it).
//!
//! * The sign-in is the AWS CLI's: the token file of `~/.aws/sso/cache/`
//!   ([`crate::aws_files::sso_cache`]), whoever wrote it (`aws sso login`, or a sign-in done
//!   here).
//! * A token within [`RENEW_BEFORE`] of its expiry (the CLI's window) is renewed with its
//!   refresh token (CreateToken, `refresh_token` grant), without a person, and written back
//!   for the CLI to use too. Renewals of one token file are serialised in this process and
//!   the file is read again under the lock, so two profiles of one session never spend the
//!   same refresh token twice; if a renewal is refused, the file is read once more in case
//!   another program (the CLI) renewed it meanwhile.
//! * When no usable token exists — no file, an unreadable one, one for another start URL, an
//!   expired one that cannot be renewed, a refresh refused (`invalid_grant`, `expired_token`,
//!   `invalid_client`), the portal refusing the token (401) — the fetch fails at once with
//!   [`Kind::NeedsSignIn`] ([`crate::source::Category::NeedsPerson`]): a person must sign in.
//! * A role the person is not assigned (403) is [`Kind::Refused`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use time::Duration;

use crate::aws::sso::{Client, Endpoints, SsoError};
use crate::aws_files::profiles::SsoProfile;
use crate::aws_files::sso_cache::{CachedToken, SsoCache, SsoCacheError, TokenKey};
use crate::credentials::Credentials;
use crate::source::Kind;
use crate::system::clock::Clock;
use crate::system::env::Environment;

/// Renew an access token this long before it expires (the AWS CLI's window).
pub const RENEW_BEFORE: Duration = Duration::minutes(15);

/// Why IAM Identity Center gave no role credentials. Every variant names the profile.
#[derive(Debug, thiserror::Error)]
pub enum SsoFetchError {
    /// No usable sign-in: a person must sign in.
    #[error(
        "profile {profile:?} needs a sign-in to IAM Identity Center ({start_url}): {reason}; run `needroleshere login {profile}` or `aws sso login --profile {profile}`, or sign in from this server's page"
    )]
    NeedsSignIn {
        /// The profile.
        profile: String,
        /// The access portal to sign in to.
        start_url: String,
        /// Why the cached sign-in cannot be used.
        reason: String,
    },
    /// The token cache cannot be read or written (not a format problem).
    #[error("profile {profile:?}: the IAM Identity Center token cache")]
    Cache {
        /// The profile.
        profile: String,
        /// Why.
        #[source]
        source: SsoCacheError,
    },
    /// The OIDC service or the portal failed or refused.
    #[error("profile {profile:?}: IAM Identity Center")]
    Service {
        /// The profile.
        profile: String,
        /// Why.
        #[source]
        source: SsoError,
    },
}

impl SsoFetchError {
    /// The category every front answers.
    pub fn kind(&self) -> Kind {
        match self {
            Self::NeedsSignIn { .. } => Kind::NeedsSignIn,
            Self::Cache { .. } => Kind::Profile,
            Self::Service { source, .. } => match source {
                SsoError::BadEndpoint(_) => Kind::Endpoint,
                SsoError::Service { .. } if source.is_retryable() => Kind::Unavailable,
                SsoError::Service { .. } => Kind::Refused,
                SsoError::Transport { source, .. } if source.is_timeout() => Kind::TimedOut,
                SsoError::Transport { .. } => Kind::Unavailable,
                SsoError::BadResponse { .. } => Kind::InvalidAnswer,
            },
        }
    }
}

/// Where the token is and how to reach the services, for one profile.
#[derive(Debug, Clone)]
pub struct SsoStep<'a> {
    /// The profile asked for (named in errors).
    pub profile: &'a str,
    /// Its IAM Identity Center settings.
    pub sso: &'a SsoProfile,
    /// The profile's `endpoint_url`, if any.
    pub endpoint_url: Option<&'a str>,
}

impl SsoStep<'_> {
    /// The token file's key.
    pub fn token_key(&self) -> TokenKey {
        match &self.sso.session {
            Some(name) => TokenKey::Session(name.clone()),
            None => TokenKey::Legacy {
                start_url: self.sso.start_url.clone(),
            },
        }
    }

    fn needs_sign_in(&self, reason: impl Into<String>) -> SsoFetchError {
        SsoFetchError::NeedsSignIn {
            profile: self.profile.to_owned(),
            start_url: self.sso.start_url.clone(),
            reason: reason.into(),
        }
    }

    fn service(&self, source: SsoError) -> SsoFetchError {
        SsoFetchError::Service {
            profile: self.profile.to_owned(),
            source,
        }
    }
}

/// Role credentials for `step`: a usable access token from the cache (renewed first when
/// due), then GetRoleCredentials.
pub async fn role_credentials(
    http: &reqwest::Client,
    env: &Environment,
    clock: &Arc<dyn Clock>,
    step: &SsoStep<'_>,
) -> Result<Credentials, SsoFetchError> {
    let cache = SsoCache::from_env(env).map_err(|source| SsoFetchError::Cache {
        profile: step.profile.to_owned(),
        source,
    })?;
    let endpoints = Endpoints::resolve(env, step.endpoint_url, &step.sso.region)
        .map_err(|source| step.service(source))?;
    let client = Client::new(http.clone(), endpoints, clock.clone());
    let token = usable_token(&cache, &client, clock.as_ref(), step).await?;
    client
        .get_role_credentials(
            &token.access_token,
            &step.sso.account_id,
            &step.sso.role_name,
        )
        .await
        .map_err(|source| {
            if source.is_unauthorized() {
                step.needs_sign_in(format!(
                    "the portal refused the cached access token ({source})"
                ))
            } else {
                step.service(source)
            }
        })
}

/// Whether `step` has no sign-in to work from, so a person must sign in: no readable token
/// file for its start URL, or one that has expired and cannot be renewed. Reads the file
/// only; a renewal the service may still refuse is found out by the next fetch.
pub fn needs_person(env: &Environment, clock: &dyn Clock, step: &SsoStep<'_>) -> bool {
    let Ok(cache) = SsoCache::from_env(env) else {
        return true;
    };
    let now = clock.now();
    match cache.read_token(&step.token_key()) {
        Ok(Some(token)) => {
            token
                .start_url
                .as_deref()
                .is_some_and(|url| url != step.sso.start_url)
                || (token.expires_at <= now && token.renewable(now).is_none())
        }
        _ => true,
    }
}

/// One account and role the signed-in person may reach (ListAccounts, ListAccountRoles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The account's id.
    pub account_id: String,
    /// Its display name, when the portal gives one.
    pub account_name: Option<String>,
    /// The permission set's role name.
    pub role_name: String,
}

/// Every account and role the person signed in for `step` may reach: ListAccounts, then
/// ListAccountRoles for each account, every page, with the cached access token (renewed
/// first when due). No usable token, or the portal refusing it, is
/// [`SsoFetchError::NeedsSignIn`].
pub async fn assignments(
    http: &reqwest::Client,
    env: &Environment,
    clock: &Arc<dyn Clock>,
    step: &SsoStep<'_>,
) -> Result<Vec<Assignment>, SsoFetchError> {
    let cache = SsoCache::from_env(env).map_err(|source| SsoFetchError::Cache {
        profile: step.profile.to_owned(),
        source,
    })?;
    let endpoints = Endpoints::resolve(env, step.endpoint_url, &step.sso.region)
        .map_err(|source| step.service(source))?;
    let client = Client::new(http.clone(), endpoints, clock.clone());
    let token = usable_token(&cache, &client, clock.as_ref(), step).await?;
    let refused = |source: SsoError| {
        if source.is_unauthorized() {
            step.needs_sign_in(format!(
                "the portal refused the cached access token ({source})"
            ))
        } else {
            step.service(source)
        }
    };
    let accounts = client
        .list_accounts(&token.access_token)
        .await
        .map_err(refused)?;
    let mut assignments = Vec::new();
    for account in accounts {
        let roles = client
            .list_account_roles(&token.access_token, &account.account_id)
            .await
            .map_err(refused)?;
        assignments.extend(roles.into_iter().map(|role_name| Assignment {
            account_id: account.account_id.clone(),
            account_name: account.account_name.clone(),
            role_name,
        }));
    }
    Ok(assignments)
}

/// The cached token, renewed when within [`RENEW_BEFORE`] of expiring.
async fn usable_token(
    cache: &SsoCache,
    client: &Client,
    clock: &dyn Clock,
    step: &SsoStep<'_>,
) -> Result<CachedToken, SsoFetchError> {
    let key = step.token_key();
    let read = || read_token(cache, &key, step);
    let token = read()?;
    if token.expires_at - clock.now() > RENEW_BEFORE {
        return Ok(token);
    }
    let lock = renewal_lock(cache.dir().join(key.file_name()));
    let _held = lock.lock().await;
    // Another fetch may have renewed it while this one waited.
    let token = read()?;
    let now = clock.now();
    if token.expires_at - now > RENEW_BEFORE {
        return Ok(token);
    }
    let Some((registration, refresh_token)) = token.renewable(now) else {
        return if token.expires_at > now {
            // Not renewable, but still good for a while: use it (the CLI does too).
            Ok(token)
        } else {
            Err(step.needs_sign_in(format!(
                "the cached access token expired at {} and cannot be renewed (no refresh token, or the client registration expired)",
                crate::credentials::format_rfc3339(token.expires_at)
            )))
        };
    };
    match client
        .refresh(
            &registration.client_id,
            &registration.client_secret,
            refresh_token,
        )
        .await
    {
        Ok(tokens) => {
            let renewed = CachedToken {
                access_token: tokens.access_token,
                expires_at: tokens.expires_at,
                refresh_token: tokens.refresh_token.or_else(|| token.refresh_token.clone()),
                ..token
            };
            match cache.write_token(&key, &renewed, clock.now()) {
                Ok(written) => {
                    tracing::info!(profile = step.profile, file = %written.path.display(), "renewed the IAM Identity Center access token");
                }
                // The renewal stands for this process; the CLI will renew on its own.
                Err(error) => {
                    tracing::warn!(profile = step.profile, error = %crate::system::logging::error_chain(&error), "renewed the IAM Identity Center access token but cannot write it to the cache");
                }
            }
            Ok(renewed)
        }
        Err(error) => {
            // Someone else (the CLI) may have renewed it with the same refresh token.
            if let Ok(again) = read()
                && again.access_token != token.access_token
                && again.expires_at > clock.now()
            {
                return Ok(again);
            }
            let final_refusal = matches!(
                error.oauth_error(),
                Some("invalid_grant" | "expired_token" | "invalid_client" | "access_denied")
            ) || matches!(error, SsoError::Service { status: 401, .. });
            if token.expires_at > clock.now() {
                tracing::warn!(profile = step.profile, error = %crate::system::logging::error_chain(&error), "cannot renew the IAM Identity Center access token yet; using it until it expires");
                Ok(token)
            } else if final_refusal {
                Err(step.needs_sign_in(format!("the renewal was refused ({error})")))
            } else {
                Err(step.service(error))
            }
        }
    }
}

fn read_token(
    cache: &SsoCache,
    key: &TokenKey,
    step: &SsoStep<'_>,
) -> Result<CachedToken, SsoFetchError> {
    let token = match cache.read_token(key) {
        Ok(Some(token)) => token,
        Ok(None) => {
            return Err(step.needs_sign_in(format!(
                "no cached sign-in for {key} in {}",
                cache.dir().display()
            )));
        }
        Err(error @ (SsoCacheError::Format { .. } | SsoCacheError::TooLarge { .. })) => {
            return Err(step.needs_sign_in(format!(
                "{} (a new sign-in keeps it aside)",
                crate::system::logging::error_chain(&error)
            )));
        }
        Err(source) => {
            return Err(SsoFetchError::Cache {
                profile: step.profile.to_owned(),
                source,
            });
        }
    };
    match &token.start_url {
        Some(url) if *url != step.sso.start_url => Err(step.needs_sign_in(format!(
            "the cached sign-in for {key} is for another start URL, {url}"
        ))),
        _ => Ok(token),
    }
}

/// One lock per token file, for this process's renewals.
fn renewal_lock(path: PathBuf) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let locks = LOCKS.get_or_init(Mutex::default);
    // A plain map; still consistent after a panic elsewhere.
    let mut locks = locks.lock().unwrap_or_else(|p| p.into_inner());
    locks.entry(path).or_default().clone()
}

/// A sign-in to IAM Identity Center started here, as `aws sso login` does it: the client
/// registration from the CLI's cache (registered anew when missing or within
/// [`RENEW_BEFORE`] of expiring, and cached), StartDeviceAuthorization, then CreateToken
/// polled until the person approves; the tokens go to the CLI's token file, so the CLI and
/// every profile of the session use them.
pub struct SsoSignIn {
    client: Client,
    cache: SsoCache,
    key: TokenKey,
    registration: crate::aws::sso::Registration,
    device: crate::aws::sso::DeviceAuthorization,
    start_url: String,
    region: String,
    profile: String,
    /// Seconds the device code lives, from its start.
    expires_in: u64,
}

impl std::fmt::Debug for SsoSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoSignIn")
            .field("profile", &self.profile)
            .field("user_code", &self.device.user_code)
            .finish_non_exhaustive()
    }
}

impl SsoSignIn {
    /// Registers (or reuses the registration) and starts the device authorization.
    pub async fn start(
        http: &reqwest::Client,
        env: &Environment,
        clock: &Arc<dyn Clock>,
        step: &SsoStep<'_>,
    ) -> Result<Self, SsoFetchError> {
        use crate::aws_files::sso_cache::{CachedRegistration, registration_file_name};
        let cache_error = |source| SsoFetchError::Cache {
            profile: step.profile.to_owned(),
            source,
        };
        let cache = SsoCache::from_env(env).map_err(cache_error)?;
        let endpoints = Endpoints::resolve(env, step.endpoint_url, &step.sso.region)
            .map_err(|source| step.service(source))?;
        let client = Client::new(http.clone(), endpoints, clock.clone());
        let region = step.sso.region.to_string();
        let scopes = step.sso.registration_scopes.as_deref();
        let file = registration_file_name(
            &step.sso.start_url,
            &region,
            step.sso.session.as_deref(),
            scopes,
        );
        let now = clock.now();
        let cached = cache
            .read_registration(&file)
            .ok()
            .flatten()
            .filter(|r| r.expires_at - now > RENEW_BEFORE);
        let registration = match cached {
            Some(r) => crate::aws::sso::Registration {
                client_id: r.client_id,
                client_secret: r.client_secret,
                expires_at: r.expires_at,
            },
            None => {
                let name = format!("needroleshere-{}", now.unix_timestamp());
                let registration = client
                    .register_client(&name, scopes)
                    .await
                    .map_err(|source| step.service(source))?;
                let stored = CachedRegistration {
                    client_id: registration.client_id.clone(),
                    client_secret: registration.client_secret.clone(),
                    expires_at: registration.expires_at,
                    scopes: scopes.map(<[String]>::to_vec),
                    other: Default::default(),
                };
                if let Err(error) = cache.write_registration(&file, &stored, now) {
                    tracing::warn!(profile = step.profile, error = %crate::system::logging::error_chain(&error), "cannot cache the IAM Identity Center client registration");
                }
                registration
            }
        };
        let device = client
            .start_device_authorization(&registration, &step.sso.start_url)
            .await
            .map_err(|source| step.service(source))?;
        let expires_in =
            u64::try_from((device.expires_at - clock.now()).whole_seconds()).unwrap_or(0);
        Ok(Self {
            expires_in,
            client,
            cache,
            key: step.token_key(),
            registration,
            device,
            start_url: step.sso.start_url.clone(),
            region,
            profile: step.profile.to_owned(),
        })
    }

    /// What to show the person.
    pub fn prompt(&self) -> crate::signin::DevicePrompt {
        crate::signin::DevicePrompt {
            user_code: self.device.user_code.clone(),
            verification_uri: self.device.verification_uri.clone(),
            verification_uri_complete: self.device.verification_uri_complete.clone(),
            expires_in: self.expires_in,
        }
    }

    /// Polls CreateToken (RFC 8628: waits `interval`, 5 s more after `slow_down`) until the
    /// person approves, then writes the token file.
    pub async fn finish(self, clock: &Arc<dyn Clock>) -> Result<(), SsoFetchError> {
        use crate::signin::{Poll, poll_device};
        let needs = |reason: String| SsoFetchError::NeedsSignIn {
            profile: self.profile.clone(),
            start_url: self.start_url.clone(),
            reason,
        };
        let tokens = poll_device(
            self.device.interval_seconds,
            || clock.now() >= self.device.expires_at,
            || async {
                let result = self
                    .client
                    .create_token_with_device_code(&self.registration, &self.device.device_code)
                    .await;
                match result {
                    Ok(tokens) => Poll::Done(tokens),
                    Err(error) => match error.oauth_error() {
                        Some("authorization_pending") => Poll::Pending,
                        Some("slow_down") => Poll::SlowDown,
                        Some("access_denied" | "expired_token") => {
                            Poll::Failed(needs(format!("the sign-in was not approved ({error})")))
                        }
                        _ if error.is_retryable() => Poll::Pending,
                        _ => Poll::Failed(SsoFetchError::Service {
                            profile: self.profile.clone(),
                            source: error,
                        }),
                    },
                }
            },
            || needs("the device code expired before anyone approved it".to_owned()),
        )
        .await?;
        let token = CachedToken {
            start_url: Some(self.start_url.clone()),
            region: Some(self.region.clone()),
            access_token: tokens.access_token,
            expires_at: tokens.expires_at,
            client: Some(crate::aws_files::sso_cache::TokenClient {
                client_id: self.registration.client_id.clone(),
                client_secret: self.registration.client_secret.clone(),
                expires_at: self.registration.expires_at,
            }),
            refresh_token: tokens.refresh_token,
            other: Default::default(),
        };
        let written = self
            .cache
            .write_token(&self.key, &token, clock.now())
            .map_err(|source| SsoFetchError::Cache {
                profile: self.profile.clone(),
                source,
            })?;
        if let Some(aside) = &written.set_aside {
            tracing::warn!(profile = self.profile, file = %aside.display(), "an unreadable IAM Identity Center cache file was kept aside");
        }
        tracing::info!(profile = self.profile, file = %written.path.display(), "signed in to IAM Identity Center");
        Ok(())
    }
}
