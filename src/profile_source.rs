//! Credentials for AWS profiles: runs a profile's [`Plan`] — the first credentials, an MFA
//! session, the roles in order — and keeps the results.
//!
//! * With `mfa_serial` and long-term keys, an MFA session (GetSessionToken with the code) is
//!   made once per source profile and device, and every role is assumed with it, so one code
//!   serves all roles until the session expires.
//! * Codes come from the profile's TOTP secret when it has one; otherwise a fetch that needs
//!   one fails at once with [`SourceError::NeedsMfa`] and the code is given later, out of
//!   band (a terminal prompt, `POST /mfa`, the browser page), to [`ProfileSource::credentials`].
//! * A profile with keys and no role gets GetSessionToken credentials.
//! * Credentials are reused until they have less than ten minutes left; fetches run one at
//!   a time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;

use crate::arn::{Region, RoleSessionName};
use crate::clock::Clock;
use crate::credentials::{Credentials, parse_rfc3339};
use crate::env::Environment;
use crate::mfa::{MfaCode, TotpSecret};
use crate::profile::{Base, ConfigFiles, Plan, ProfileError};
use crate::secret::Secret;
use crate::sts::{self, StsError};

/// Credentials are renewed when they have less than this left.
const RENEW_MARGIN: time::Duration = time::Duration::minutes(10);
/// A role session assumed by another role session may last at most an hour (AWS rule).
const CHAINED_MAX_SECONDS: u32 = 3600;
const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a profile got no credentials. Every variant names the profile.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error("profile {profile:?} needs an MFA code for {serial}")]
    NeedsMfa { profile: String, serial: String },
    #[error(
        "profile {profile:?}: the MFA code for {serial} was not accepted (wrong, expired or already used)"
    )]
    MfaRejected {
        profile: String,
        serial: String,
        #[source]
        source: StsError,
    },
    #[error("profile {profile:?}: mfa_totp_secret is not valid base32")]
    BadTotpSecret { profile: String },
    #[error("profile {profile:?}")]
    Sts {
        profile: String,
        #[source]
        source: StsError,
    },
    #[error("profile {profile:?}: credential_process failed: {reason}")]
    Process { profile: String, reason: String },
    #[error("profile {profile:?}: cannot read web_identity_token_file {path}: {reason}")]
    WebIdentityToken {
        profile: String,
        path: String,
        reason: String,
    },
    #[error(
        "profile {profile:?} uses credential_source = Environment, but AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"
    )]
    NoEnvironmentKeys { profile: String },
}

impl SourceError {
    /// Whether a person must type an MFA code to go on.
    pub fn needs_mfa(&self) -> bool {
        matches!(self, Self::NeedsMfa { .. } | Self::MfaRejected { .. })
    }
}

/// What is known about a profile, for the management API (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileInfo {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_serial: Option<String>,
    pub source_profile: String,
}

#[derive(Default)]
struct State {
    /// MFA sessions by (source profile, device).
    sessions: HashMap<(String, String), Credentials>,
    /// Final credentials by profile.
    results: HashMap<String, Credentials>,
    /// credential_process results by profile (they may be reused until they expire).
    processes: HashMap<String, Credentials>,
}

/// Runs profiles' plans; see the module docs.
pub struct ProfileSource {
    env: Environment,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    state: Mutex<State>,
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for ProfileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileSource").finish_non_exhaustive()
    }
}

fn fresh(credentials: &Credentials, now: OffsetDateTime) -> bool {
    credentials
        .expiration
        .is_none_or(|expiration| expiration - now > RENEW_MARGIN)
}

impl ProfileSource {
    pub fn new(env: Environment, clock: Arc<dyn Clock>, http: reqwest::Client) -> Self {
        Self {
            env,
            clock,
            http,
            state: Mutex::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Plain maps of credentials; still consistent after a panic elsewhere.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The config and credentials files as they are now.
    pub fn config(&self) -> Result<ConfigFiles, ProfileError> {
        let (config, credentials) = ConfigFiles::paths(&self.env);
        ConfigFiles::load(&config, &credentials)
    }

    /// The plan for `profile`.
    pub fn plan(&self, profile: &str) -> Result<Plan, ProfileError> {
        self.config()?.plan(profile, &self.env)
    }

    /// What the management API shows of `profile`.
    pub fn info(&self, profile: &str) -> Result<ProfileInfo, ProfileError> {
        let plan = self.plan(profile)?;
        Ok(ProfileInfo {
            name: plan.profile.clone(),
            role_arn: plan
                .roles
                .last()
                .map(|r| r.role_arn.to_string())
                .or(match &plan.base {
                    Base::WebIdentity { role, .. } => Some(role.role_arn.to_string()),
                    _ => None,
                }),
            region: self.region(&plan).map(|r| r.to_string()),
            mfa_serial: plan.mfa.as_ref().map(|m| m.serial.clone()),
            source_profile: plan.base_profile,
        })
    }

    /// The region a profile's calls and programs use: `AWS_REGION`, else the profile's.
    pub fn region(&self, plan: &Plan) -> Option<Region> {
        self.env
            .region
            .as_deref()
            .and_then(|r| r.parse().ok())
            .or_else(|| plan.region.clone())
    }

    /// Cached credentials for `profile` that are still good, without any call.
    pub fn cached(&self, profile: &str) -> Option<Credentials> {
        let now = self.clock.now();
        self.lock()
            .results
            .get(profile)
            .filter(|c| fresh(c, now))
            .cloned()
    }

    /// Forgets what was fetched: for `profile`, or everything (MFA sessions included).
    pub fn forget(&self, profile: Option<&str>) {
        let mut state = self.lock();
        match profile {
            Some(profile) => {
                state.results.remove(profile);
                state.processes.remove(profile);
            }
            None => *state = State::default(),
        }
    }

    /// Whether getting `profile`'s credentials now would need a code typed by a person.
    pub fn needs_mfa_code(&self, profile: &str) -> Result<bool, ProfileError> {
        if self.cached(profile).is_some() {
            return Ok(false);
        }
        let plan = self.plan(profile)?;
        let Some(mfa) = &plan.mfa else {
            return Ok(false);
        };
        if mfa.totp_secret.is_some() {
            return Ok(false);
        }
        let now = self.clock.now();
        let has_session = self
            .lock()
            .sessions
            .get(&(plan.base_profile.clone(), mfa.serial.clone()))
            .is_some_and(|s| fresh(s, now));
        Ok(!has_session)
    }

    /// Credentials for `profile`, using `code` if an MFA code is needed.
    pub async fn credentials(
        &self,
        profile: &str,
        code: Option<MfaCode>,
    ) -> Result<Credentials, SourceError> {
        if let Some(credentials) = self.cached(profile) {
            return Ok(credentials);
        }
        let _one_at_a_time = self.fetching.lock().await;
        if let Some(credentials) = self.cached(profile) {
            return Ok(credentials);
        }
        let plan = self.plan(profile)?;
        let credentials = self.run(&plan, code).await?;
        self.lock()
            .results
            .insert(profile.to_owned(), credentials.clone());
        Ok(credentials)
    }

    fn sts_client(&self, plan: &Plan) -> Result<sts::Client, SourceError> {
        let region = self.region(plan).unwrap_or_else(Region::us_east_1);
        let endpoint = sts::resolve_endpoint(&self.env, plan.endpoint_url.as_deref(), &region)
            .map_err(|source| SourceError::Sts {
                profile: plan.profile.clone(),
                source,
            })?;
        Ok(sts::Client::new(
            self.http.clone(),
            endpoint,
            region,
            self.clock.clone(),
        ))
    }

    async fn run(&self, plan: &Plan, code: Option<MfaCode>) -> Result<Credentials, SourceError> {
        let profile = plan.profile.clone();
        let sts_error = |source| SourceError::Sts {
            profile: profile.clone(),
            source,
        };
        let sts = self.sts_client(plan)?;
        let now = self.clock.now();
        let mut credentials = match &plan.base {
            Base::Static {
                access_key_id,
                secret_access_key,
                session_token,
            } => Credentials {
                access_key_id: access_key_id.clone(),
                secret_access_key: secret_access_key.clone(),
                session_token: session_token.clone(),
                expiration: None,
                role_arn: None,
            },
            Base::Environment => match (&self.env.access_key_id, &self.env.secret_access_key) {
                (Some(key), Some(secret)) => Credentials {
                    access_key_id: key.clone(),
                    secret_access_key: secret.clone(),
                    session_token: self.env.session_token.clone(),
                    expiration: None,
                    role_arn: None,
                },
                _ => return Err(SourceError::NoEnvironmentKeys { profile }),
            },
            Base::Process { command } => self.process(&plan.base_profile, command).await?,
            Base::WebIdentity { token_file, role } => {
                let token = std::fs::read_to_string(token_file).map_err(|e| {
                    SourceError::WebIdentityToken {
                        profile: profile.clone(),
                        path: token_file.display().to_string(),
                        reason: e.to_string(),
                    }
                })?;
                let session = role
                    .session_name
                    .clone()
                    .unwrap_or_else(|| self.session_name());
                let seconds = if plan.roles.is_empty() {
                    plan.credentials_seconds
                } else {
                    CHAINED_MAX_SECONDS
                };
                sts.assume_role_with_web_identity(
                    &role.role_arn,
                    &session,
                    &Secret::new(token.trim()),
                    seconds,
                )
                .await
                .map_err(sts_error)?
            }
        };
        let long_term = credentials.session_token.is_none();

        // One MFA session per source profile and device serves every role.
        let mut mfa_on_first_role = None;
        let mut have_session = false;
        if let Some(mfa) = &plan.mfa {
            let key = (plan.base_profile.clone(), mfa.serial.clone());
            let existing = self
                .lock()
                .sessions
                .get(&key)
                .filter(|s| fresh(s, now))
                .cloned();
            if let Some(session) = existing {
                credentials = session;
                have_session = true;
            } else {
                let code = match (code, &mfa.totp_secret) {
                    (Some(code), _) => code,
                    (None, Some(secret)) => TotpSecret::from_base32(secret)
                        .map_err(|_| SourceError::BadTotpSecret {
                            profile: profile.clone(),
                        })?
                        .code_at(now.unix_timestamp()),
                    (None, None) => {
                        return Err(SourceError::NeedsMfa {
                            profile,
                            serial: mfa.serial.clone(),
                        });
                    }
                };
                if long_term {
                    let session = sts
                        .get_session_token(
                            &credentials,
                            plan.session_token_seconds,
                            Some((&mfa.serial, &code)),
                        )
                        .await
                        .map_err(|source| mfa_error(&profile, &mfa.serial, source))?;
                    self.lock().sessions.insert(key, session.clone());
                    credentials = session;
                    have_session = true;
                } else {
                    // Temporary first credentials cannot make a session: the code goes
                    // with the first AssumeRole instead.
                    mfa_on_first_role = Some((mfa.serial.clone(), code));
                }
            }
        }

        if plan.roles.is_empty() {
            if long_term && !have_session {
                // Keys and no role: session credentials, as the desktop servers vend.
                credentials = sts
                    .get_session_token(&credentials, plan.session_token_seconds, None)
                    .await
                    .map_err(sts_error)?;
            }
            return Ok(credentials);
        }
        let chained_from_start = matches!(plan.base, Base::WebIdentity { .. });
        for (index, role) in plan.roles.iter().enumerate() {
            let last = index + 1 == plan.roles.len();
            let mut seconds = if last {
                plan.credentials_seconds
            } else {
                CHAINED_MAX_SECONDS
            };
            if index > 0 || chained_from_start {
                seconds = seconds.min(CHAINED_MAX_SECONDS);
            }
            let session = role
                .session_name
                .clone()
                .unwrap_or_else(|| self.session_name());
            let mfa = mfa_on_first_role.take();
            let result = sts
                .assume_role(
                    &credentials,
                    &role.role_arn,
                    &session,
                    seconds,
                    role.external_id.as_deref(),
                    mfa.as_ref().map(|(serial, code)| (serial.as_str(), code)),
                )
                .await;
            credentials = match (result, mfa) {
                (Ok(c), _) => c,
                (Err(source), Some((serial, _))) => {
                    return Err(mfa_error(&profile, &serial, source));
                }
                (Err(source), None) => return Err(sts_error(source)),
            };
        }
        Ok(credentials)
    }

    fn session_name(&self) -> RoleSessionName {
        RoleSessionName::generated(self.clock.now().unix_timestamp())
    }

    /// Runs a `credential_process` command and reads its JSON.
    async fn process(&self, profile: &str, command: &str) -> Result<Credentials, SourceError> {
        let now = self.clock.now();
        if let Some(cached) = self
            .lock()
            .processes
            .get(profile)
            .filter(|c| fresh(c, now))
            .cloned()
        {
            return Ok(cached);
        }
        let failed = |reason: String| SourceError::Process {
            profile: profile.to_owned(),
            reason,
        };
        let child = tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(command)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| failed(format!("cannot start /bin/sh: {e}")))?;
        let output = tokio::time::timeout(PROCESS_TIMEOUT, child.wait_with_output())
            .await
            .map_err(|_| failed(format!("no answer within {} s", PROCESS_TIMEOUT.as_secs())))?
            .map_err(|e| failed(e.to_string()))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let last = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            return Err(failed(format!(
                "{}: {}",
                output.status,
                last.chars().take(300).collect::<String>()
            )));
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Output {
            version: u32,
            access_key_id: String,
            secret_access_key: Secret,
            #[serde(default)]
            session_token: Option<Secret>,
            #[serde(default)]
            expiration: Option<String>,
        }
        let parsed: Output = serde_json::from_slice(&output.stdout)
            .map_err(|e| failed(format!("its output is not credential_process JSON ({e})")))?;
        if parsed.version != 1 {
            return Err(failed(format!("Version {} is not 1", parsed.version)));
        }
        let expiration = parsed
            .expiration
            .as_deref()
            .map(parse_rfc3339)
            .transpose()
            .map_err(|e| failed(format!("Expiration is not RFC 3339: {e}")))?;
        let credentials = Credentials {
            access_key_id: parsed.access_key_id,
            secret_access_key: parsed.secret_access_key,
            session_token: parsed.session_token,
            expiration,
            role_arn: None,
        };
        self.lock()
            .processes
            .insert(profile.to_owned(), credentials.clone());
        Ok(credentials)
    }
}

fn mfa_error(profile: &str, serial: &str, source: StsError) -> SourceError {
    if source.is_mfa_rejection() {
        SourceError::MfaRejected {
            profile: profile.to_owned(),
            serial: serial.to_owned(),
            source,
        }
    } else {
        SourceError::Sts {
            profile: profile.to_owned(),
            source,
        }
    }
}
