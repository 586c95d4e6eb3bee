//! The AWS profile source: runs a profile's [`Plan`] — the first credentials, an MFA
//! session, the roles in order — each step a source whose credentials the cache keeps (the
//! roles take the MFA session's through [`Upstream`]).
//!
//! * A profile is one source, keyed by its name and versioned by its settings, so an edited
//!   `~/.aws/config` takes effect at the next request.
//! * With `mfa_serial` and long-term keys, the MFA session (GetSessionToken with a code) is a
//!   source of its own, keyed by source profile and device: one code serves every role
//!   chained from it until the session expires, and the cache refreshes it like any other
//!   credentials (it can, when a TOTP secret makes the codes here).
//! * With temporary first credentials (a session token in the files, `credential_process`,
//!   web identity), the code goes with the first AssumeRole instead.
//! * A code comes from the profile's TOTP secret when it has one; otherwise a fetch that
//!   needs one fails at once ([`Kind::NeedsMfa`]) and a person gives it out of band — a
//!   terminal prompt, `POST /mfa`, the browser page — through
//!   [`ProfileSources::give_code`] (which
//!   [`crate::front::profiles::Profiles::credentials_with_code`] calls). A code is used once: never retried.
//! * A profile with keys and no role gets GetSessionToken credentials.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::arn::{Region, RoleSessionName};
use crate::aws::mfa::{MfaCode, TotpSecret};
use crate::aws::sts::{self, StsError};
use crate::aws_files::mock_metadata::{fill_caller, names_caller};
use crate::aws_files::profiles::{Base, MfaConfig, Plan, ProfileError, RoleStep, SamlSettings};
use crate::aws_files::{Catalog, ProfileFiles};
use crate::credentials::{Credentials, parse_rfc3339};
use crate::secret::Secret;
use crate::signin::saml_session::{SamlSignInError, SamlSignIns};
use crate::signin::{SignInError, SignIns};
use crate::source::{FetchFuture, Key, Kind, Source, SourceError, Upstream, Version, digest};
use crate::system::clock::Clock;
use crate::system::env::Environment;

/// A role session assumed by another role session may last at most an hour (AWS rule).
const CHAINED_MAX_SECONDS: u32 = 3600;
const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a profile step failed, in the profile's words. Every variant names the profile.
#[derive(Debug, thiserror::Error)]
pub enum ProfileFetchError {
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
    #[error(
        "profile {profile:?}: {template} names the calling user, but the keys act as {caller}, which is not an IAM user"
    )]
    CallerNotAUser {
        profile: String,
        template: String,
        caller: String,
    },
    #[error("profile {profile:?}: {arn:?} is not a role ARN once the user name is filled in")]
    FilledRoleArn { profile: String, arn: String },
    #[error(transparent)]
    Sso(#[from] super::sso::SsoFetchError),
    #[error("profile {profile:?}")]
    SignIn {
        profile: String,
        #[source]
        source: SignInError,
    },
    #[error("profile {profile:?}")]
    Saml {
        profile: String,
        #[source]
        source: SamlSignInError,
    },
    #[error(
        "profile {profile:?} names no role and the identity provider offers several: {}; choose one on this server's page or with POST /manage/profiles/{profile}/role (roleArn), or set role_arn",
        offered.join(", ")
    )]
    ChooseRole {
        profile: String,
        offered: Vec<String>,
    },
    #[error(
        "profile {profile:?}: the identity provider does not offer role {role} to this user; it offers {}",
        offered.join(", ")
    )]
    RoleNotOffered {
        profile: String,
        role: String,
        offered: Vec<String>,
    },
}

impl ProfileFetchError {
    fn kind(&self) -> Kind {
        match self {
            Self::Profile(ProfileError::Unknown(_)) => Kind::UnknownProfile,
            Self::Profile(_)
            | Self::BadTotpSecret { .. }
            | Self::WebIdentityToken { .. }
            | Self::NoEnvironmentKeys { .. }
            | Self::CallerNotAUser { .. }
            | Self::FilledRoleArn { .. } => Kind::Profile,
            Self::NeedsMfa { .. } => Kind::NeedsMfa,
            Self::MfaRejected { .. } => Kind::MfaRejected,
            Self::Sts { source, .. } => sts_kind(source),
            Self::SignIn { source, .. } => source.kind(),
            Self::Saml { source, .. } => source.kind(),
            Self::ChooseRole { .. } => Kind::Profile,
            Self::RoleNotOffered { .. } => Kind::SignInRejected,
            // The command may work on a later try (a helper that was not logged in).
            Self::Process { .. } => Kind::Unavailable,
            Self::Sso(error) => error.kind(),
        }
    }
}

impl From<ProfileFetchError> for SourceError {
    fn from(error: ProfileFetchError) -> Self {
        SourceError::new(error.kind(), error)
    }
}

impl From<ProfileError> for SourceError {
    fn from(error: ProfileError) -> Self {
        ProfileFetchError::Profile(error).into()
    }
}

fn sts_kind(error: &StsError) -> Kind {
    match error {
        StsError::BadEndpoint(_) => Kind::Endpoint,
        StsError::Sign(_) => Kind::Profile,
        StsError::Service { .. } if error.is_retryable() => Kind::Unavailable,
        StsError::Service { .. } => Kind::Refused,
        StsError::ClockSkew { .. } => Kind::ClockSkew,
        StsError::Transport { source, .. } if source.is_timeout() => Kind::TimedOut,
        StsError::Transport { .. } => Kind::Unavailable,
        StsError::BadResponse { .. } => Kind::InvalidAnswer,
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
    /// The IAM Identity Center account and role (permission set) the profile acts as, when
    /// no role is chained on them (the portal names no role ARN).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_name: Option<String>,
}

/// What every profile source shares.
struct Shared {
    env: Environment,
    files: ProfileFiles,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    /// Where the credentials of sources these build on come from (the cache). Weak: the
    /// cache holds the sources, which must not keep it alive.
    upstream: Weak<dyn Upstream>,
    /// Codes given by a person, by (source profile, device), each taken by one fetch.
    codes: Mutex<HashMap<(String, String), MfaCode>>,
    /// Sign-ins to identity providers, for `web_identity_auth_url` profiles.
    sign_ins: Arc<SignIns>,
    /// Sign-ins to SAML identity providers, for `saml_auth_url` profiles.
    saml: Arc<SamlSignIns>,
    /// Roles chosen for profiles that offer several (IAM Identity Center).
    choices: super::choice::RoleChoices,
}

impl Shared {
    fn codes(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), MfaCode>> {
        // A plain map; still consistent after a panic elsewhere.
        self.codes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The code for `mfa`: one a person gave (taken, so it is used once), else one made
    /// from the TOTP secret, else a "needs MFA" error.
    fn code(
        &self,
        profile: &str,
        base_profile: &str,
        mfa: &MfaConfig,
    ) -> Result<MfaCode, ProfileFetchError> {
        let given = self
            .codes()
            .remove(&(base_profile.to_owned(), mfa.serial.clone()));
        match (given, &mfa.totp_secret) {
            (Some(code), _) => Ok(code),
            (None, Some(secret)) => Ok(TotpSecret::from_base32(secret)
                .map_err(|_| ProfileFetchError::BadTotpSecret {
                    profile: profile.to_owned(),
                })?
                .code_at(self.clock.now().unix_timestamp())),
            (None, None) => Err(ProfileFetchError::NeedsMfa {
                profile: profile.to_owned(),
                serial: mfa.serial.clone(),
            }),
        }
    }

    /// The region a profile's calls and programs use: `AWS_REGION`, else the profile's.
    fn region(&self, plan: &Plan) -> Option<Region> {
        self.env
            .region
            .as_deref()
            .and_then(|r| r.parse().ok())
            .or_else(|| plan.region.clone())
    }

    fn sts_client(&self, plan: &Plan) -> Result<sts::Client, ProfileFetchError> {
        let region = self.region(plan).unwrap_or_else(Region::us_east_1);
        let endpoint = sts::resolve_endpoint(&self.env, plan.endpoint_url.as_deref(), &region)
            .map_err(|source| ProfileFetchError::Sts {
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

    fn session_name(&self) -> RoleSessionName {
        RoleSessionName::generated(self.clock.now().unix_timestamp())
    }

    /// Long-term keys of `plan`'s base, when it has them (the files' or the environment's).
    fn long_term_keys(&self, plan: &Plan) -> Option<(String, Secret)> {
        match &plan.base {
            Base::Static {
                access_key_id,
                secret_access_key,
                session_token: None,
            } => Some((access_key_id.clone(), secret_access_key.clone())),
            Base::Environment if self.env.session_token.is_none() => {
                match (&self.env.access_key_id, &self.env.secret_access_key) {
                    (Some(key), Some(secret)) => Some((key.clone(), secret.clone())),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn upstream(&self) -> Result<Arc<dyn Upstream>, SourceError> {
        self.upstream
            .upgrade()
            .ok_or_else(|| SourceError::message(Kind::Internal, "the credential cache is gone"))
    }
}

/// Makes the sources of one user's profiles and keeps the MFA codes a person gave until a
/// fetch takes them. Asking for credentials is the fronts' part
/// ([`crate::front::profiles::Profiles`], through the cache).
pub struct ProfileSources {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ProfileSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileSources").finish_non_exhaustive()
    }
}

impl ProfileSources {
    /// Sources reading `env`'s files, calling STS over `http`, and taking the credentials
    /// of the MFA sessions they build on from `upstream` (the cache that holds them: weak,
    /// because the cache holds these sources).
    pub fn new(
        env: Environment,
        files: ProfileFiles,
        clock: Arc<dyn Clock>,
        http: reqwest::Client,
        page_http: reqwest::Client,
        upstream: Weak<dyn Upstream>,
    ) -> Self {
        let sign_ins = SignIns::new(http.clone(), clock.clone());
        let saml = SamlSignIns::new(page_http, clock.clone());
        let shared = Arc::new(Shared {
            env,
            files,
            clock,
            http,
            upstream,
            codes: Mutex::new(HashMap::new()),
            sign_ins,
            saml,
            choices: Default::default(),
        });
        Self { shared }
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.shared.clock
    }

    /// The sign-ins of `web_identity_auth_url` profiles.
    pub fn sign_ins(&self) -> &Arc<SignIns> {
        &self.shared.sign_ins
    }

    /// The environment the profiles are read with.
    pub fn environment(&self) -> &Environment {
        &self.shared.env
    }

    /// The HTTP client the sources call AWS and identity providers with.
    pub fn http(&self) -> &reqwest::Client {
        &self.shared.http
    }

    /// The sign-ins of `saml_auth_url` profiles.
    pub fn saml(&self) -> &Arc<SamlSignIns> {
        &self.shared.saml
    }

    /// Whether `WEB_IDENTITY_PASSWORD` lets profiles with a username sign in unattended.
    pub fn has_password(&self) -> bool {
        self.shared.env.web_identity_password.is_some()
    }

    /// The profile files as they are now.
    pub fn config(&self) -> Result<Catalog, ProfileError> {
        self.shared.files.load(&self.shared.env)
    }

    /// The plan for `profile`, with the role chosen for it ([`Self::choices`]).
    pub fn plan(&self, profile: &str) -> Result<Plan, ProfileError> {
        let mut plan = self.config()?.plan(profile, &self.shared.env)?;
        self.shared.choices.apply(&mut plan);
        Ok(plan)
    }

    /// The roles chosen at run time for profiles that offer several.
    pub fn choices(&self) -> &super::choice::RoleChoices {
        &self.shared.choices
    }

    /// The region a profile's calls and programs use: `AWS_REGION`, else the profile's.
    pub fn region(&self, plan: &Plan) -> Option<Region> {
        self.shared.region(plan)
    }

    /// What the management API shows of `profile`.
    pub fn info(&self, profile: &str) -> Result<ProfileInfo, ProfileError> {
        let plan = self.plan(profile)?;
        let (account_id, role_name) = match &plan.base {
            Base::Sso(sso) if plan.roles.is_empty() => {
                (Some(sso.account_id.clone()), Some(sso.role_name.clone()))
            }
            _ => (None, None),
        };
        Ok(ProfileInfo {
            account_id,
            role_name,
            name: plan.profile.clone(),
            role_arn: plan
                .roles
                .last()
                .map(|r| r.role_arn.to_string())
                .or(match &plan.base {
                    Base::WebIdentity { role, .. } | Base::SignIn { role, .. } => {
                        Some(role.role_arn.to_string())
                    }
                    Base::Saml { role, .. } => role.as_ref().map(|r| r.role_arn.to_string()),
                    _ => None,
                }),
            region: self.region(&plan).map(|r| r.to_string()),
            mfa_serial: plan.mfa.as_ref().map(|m| m.serial.clone()),
            source_profile: plan.base_profile,
        })
    }

    /// The source of `profile` as its files say now.
    pub fn source(&self, profile: &str) -> Result<Arc<dyn Source>, SourceError> {
        let plan = self.plan(profile)?;
        Ok(self.sources_of(plan).profile)
    }

    /// The sources of `plan`: the profile's, and the MFA session's when it has one.
    pub fn sources_of(&self, plan: Plan) -> PlanSources {
        let session: Option<Arc<dyn Source>> = match (&plan.mfa, self.shared.long_term_keys(&plan))
        {
            (Some(mfa), Some((access_key_id, secret_access_key))) => Some(Arc::new(MfaSession {
                key: mfa_session_key(&plan.base_profile, &mfa.serial),
                plan: plan.clone(),
                access_key_id,
                secret_access_key,
                shared: self.shared.clone(),
            })),
            _ => None,
        };
        let profile = Arc::new(ProfileSource {
            key: profile_key(&plan.profile),
            version: plan_version(&plan),
            plan,
            session: session.clone(),
            shared: self.shared.clone(),
        });
        PlanSources { profile, session }
    }

    /// Whether `plan` starts with long-term keys, so an MFA code makes an MFA session of
    /// its own (else the code goes with the first AssumeRole).
    pub fn makes_mfa_session(&self, plan: &Plan) -> bool {
        plan.mfa.is_some() && self.shared.long_term_keys(plan).is_some()
    }

    /// Keeps a code a person gave for `plan`'s MFA device until a fetch takes it.
    pub fn give_code(&self, plan: &Plan, code: MfaCode) {
        if let Some(mfa) = &plan.mfa {
            self.shared
                .codes()
                .insert((plan.base_profile.clone(), mfa.serial.clone()), code);
        }
    }

    /// Drops a code given for `plan` that no fetch took: it must not linger for a later one.
    pub fn withdraw_code(&self, plan: &Plan) {
        if let Some(mfa) = &plan.mfa {
            self.shared
                .codes()
                .remove(&(plan.base_profile.clone(), mfa.serial.clone()));
        }
    }

    /// Drops every code given.
    pub fn withdraw_codes(&self) {
        self.shared.codes().clear();
    }
}

/// The sources a plan runs as.
#[derive(Debug)]
pub struct PlanSources {
    /// The profile's own credentials.
    pub profile: Arc<dyn Source>,
    /// The MFA session the roles are assumed with, when the plan has one.
    pub session: Option<Arc<dyn Source>>,
}

/// The cache key of `profile`'s credentials.
pub fn profile_key(profile: &str) -> Key {
    digest([b"profile".as_slice(), profile.as_bytes()])
}

/// The cache key of the MFA session of `base_profile`'s keys with device `serial`.
pub fn mfa_session_key(base_profile: &str, serial: &str) -> Key {
    digest([
        b"mfa-session".as_slice(),
        base_profile.as_bytes(),
        serial.as_bytes(),
    ])
}

/// Everything a plan says, secrets included (hashed, never kept): any change to the
/// profile's settings makes a new version.
fn plan_version(plan: &Plan) -> Version {
    let (key, secret, token) = match &plan.base {
        Base::Static {
            access_key_id,
            secret_access_key,
            session_token,
        } => (
            access_key_id.as_str(),
            secret_access_key.expose(),
            session_token.as_ref().map_or("", Secret::expose),
        ),
        _ => ("", "", ""),
    };
    let totp = plan
        .mfa
        .as_ref()
        .and_then(|m| m.totp_secret.as_ref())
        .map_or("", Secret::expose);
    // `Debug` shows every setting except the secrets, which come next.
    let settings = format!("{plan:?}");
    digest([settings.as_str(), key, secret, token, totp].map(str::as_bytes))
}

/// An MFA session: GetSessionToken with a code, for the long-term keys of a source profile.
struct MfaSession {
    key: Key,
    plan: Plan,
    access_key_id: String,
    secret_access_key: Secret,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MfaSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaSession")
            .field("profile", &self.plan.base_profile)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl Source for MfaSession {
    fn key(&self) -> Key {
        self.key
    }

    fn version(&self, _now: time::OffsetDateTime) -> Result<Version, SourceError> {
        let serial = self.plan.mfa.as_ref().map_or("", |m| m.serial.as_str());
        Ok(digest([
            self.access_key_id.as_bytes(),
            self.secret_access_key.expose().as_bytes(),
            serial.as_bytes(),
            &self.plan.session_token_seconds.to_be_bytes(),
        ]))
    }

    fn fetch(&self) -> FetchFuture {
        let plan = self.plan.clone();
        let shared = self.shared.clone();
        let keys = Credentials {
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            session_token: None,
            expiration: None,
            role_arn: None,
        };
        Box::pin(async move {
            let Some(mfa) = &plan.mfa else {
                return Ok(keys);
            };
            let code = shared.code(&plan.profile, &plan.base_profile, mfa)?;
            let sts = shared.sts_client(&plan)?;
            let serial = fill_from_caller(&sts, &keys, &plan.profile, &mfa.serial).await?;
            sts.get_session_token(&keys, plan.session_token_seconds, Some((&serial, &code)))
                .await
                .map_err(|source| mfa_error(&plan.profile, &serial, source).into())
        })
    }
}

/// A profile: its first credentials, then its roles.
struct ProfileSource {
    key: Key,
    version: Version,
    plan: Plan,
    /// The MFA session the roles are assumed with, when the plan has one.
    session: Option<Arc<dyn Source>>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ProfileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileSource")
            .field("profile", &self.plan.profile)
            .finish_non_exhaustive()
    }
}

impl Source for ProfileSource {
    fn key(&self) -> Key {
        self.key
    }

    fn version(&self, _now: time::OffsetDateTime) -> Result<Version, SourceError> {
        Ok(self.version)
    }

    fn fetch(&self) -> FetchFuture {
        let plan = self.plan.clone();
        let session = self.session.clone();
        let shared = self.shared.clone();
        Box::pin(async move { run(&shared, &plan, session.as_ref()).await })
    }
}

/// Runs `plan`, taking the MFA session from the cache when there is one.
async fn run(
    shared: &Shared,
    plan: &Plan,
    session: Option<&Arc<dyn Source>>,
) -> Result<Credentials, SourceError> {
    let profile = plan.profile.clone();
    let sts_error = |source| ProfileFetchError::Sts {
        profile: profile.clone(),
        source,
    };
    let sts = shared.sts_client(plan)?;
    let mut credentials = match session {
        // Not due for a refresh: a role assumed now should not outlive its session by much.
        Some(session) => Credentials::clone(&*shared.upstream()?.fresh(session).await?),
        None => first_credentials(shared, plan, &sts).await?,
    };
    if plan.roles.is_empty() {
        if session.is_none() && shared.long_term_keys(plan).is_some() {
            // Keys and no role: session credentials, as the desktop servers vend.
            credentials = sts
                .get_session_token(&credentials, plan.session_token_seconds, None)
                .await
                .map_err(sts_error)?;
        }
        return Ok(credentials);
    }
    // Temporary first credentials cannot make an MFA session: the code goes with the first
    // AssumeRole instead.
    let mut mfa_on_first_role = match (&plan.mfa, session) {
        (Some(mfa), None) => {
            let code = shared.code(&profile, &plan.base_profile, mfa)?;
            let serial = fill_from_caller(&sts, &credentials, &profile, &mfa.serial).await?;
            Some((serial, code))
        }
        _ => None,
    };
    let chained_from_start = matches!(
        plan.base,
        Base::WebIdentity { .. } | Base::SignIn { .. } | Base::Saml { .. }
    );
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
        let session_name = role
            .session_name
            .clone()
            .unwrap_or_else(|| shared.session_name());
        let mfa = mfa_on_first_role.take();
        let role_arn = if names_caller(role.role_arn.as_str()) {
            let filled =
                fill_from_caller(&sts, &credentials, &profile, role.role_arn.as_str()).await?;
            filled
                .parse()
                .map_err(|_| ProfileFetchError::FilledRoleArn {
                    profile: profile.clone(),
                    arn: filled,
                })?
        } else {
            role.role_arn.clone()
        };
        let result = sts
            .assume_role(
                &credentials,
                &role_arn,
                &session_name,
                seconds,
                role.external_id.as_deref(),
                mfa.as_ref().map(|(serial, code)| (serial.as_str(), code)),
            )
            .await;
        credentials = match (result, mfa) {
            (Ok(c), _) => c,
            (Err(source), Some((serial, _))) => {
                return Err(mfa_error(&profile, &serial, source).into());
            }
            (Err(source), None) => return Err(sts_error(source).into()),
        };
    }
    Ok(credentials)
}

/// `template` with the calling user's name and account filled in (aws-mock-metadata's
/// `${aws:username}`), asking STS who `credentials` act as; `template` itself when it names
/// no caller variable.
async fn fill_from_caller(
    sts: &sts::Client,
    credentials: &Credentials,
    profile: &str,
    template: &str,
) -> Result<String, ProfileFetchError> {
    if !names_caller(template) {
        return Ok(template.to_owned());
    }
    let caller = sts
        .get_caller_identity(credentials)
        .await
        .map_err(|source| ProfileFetchError::Sts {
            profile: profile.to_owned(),
            source,
        })?;
    fill_caller(template, &caller.arn).ok_or_else(|| ProfileFetchError::CallerNotAUser {
        profile: profile.to_owned(),
        template: template.to_owned(),
        caller: caller.arn,
    })
}

/// The credentials a plan starts from, when no MFA session stands in for them.
async fn first_credentials(
    shared: &Shared,
    plan: &Plan,
    sts: &sts::Client,
) -> Result<Credentials, ProfileFetchError> {
    let profile = &plan.profile;
    Ok(match &plan.base {
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
        Base::Environment => match (&shared.env.access_key_id, &shared.env.secret_access_key) {
            (Some(key), Some(secret)) => Credentials {
                access_key_id: key.clone(),
                secret_access_key: secret.clone(),
                session_token: shared.env.session_token.clone(),
                expiration: None,
                role_arn: None,
            },
            _ => {
                return Err(ProfileFetchError::NoEnvironmentKeys {
                    profile: profile.clone(),
                });
            }
        },
        Base::Process { command } => process(&plan.base_profile, command).await?,
        Base::Sso(sso) => {
            let step = super::sso::SsoStep {
                profile,
                sso,
                endpoint_url: plan.endpoint_url.as_deref(),
            };
            super::sso::role_credentials(&shared.http, &shared.env, &shared.clock, &step).await?
        }
        Base::WebIdentity { token_file, role } => {
            let token = std::fs::read_to_string(token_file).map_err(|e| {
                ProfileFetchError::WebIdentityToken {
                    profile: profile.clone(),
                    path: token_file.display().to_string(),
                    reason: e.to_string(),
                }
            })?;
            let session = role
                .session_name
                .clone()
                .unwrap_or_else(|| shared.session_name());
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
            .map_err(|source| ProfileFetchError::Sts {
                profile: profile.clone(),
                source,
            })?
        }
        Base::Saml { provider, role } => {
            saml_credentials(shared, plan, sts, provider, role.as_ref()).await?
        }
        Base::SignIn { provider, role } => {
            let token = shared
                .sign_ins
                .id_token(provider, shared.env.web_identity_password.as_ref())
                .await
                .map_err(|source| ProfileFetchError::SignIn {
                    profile: profile.clone(),
                    source,
                })?;
            let session = match (&role.session_name, shared.sign_ins.signed_in_user(provider)) {
                (Some(name), _) => name.clone(),
                // The user's name makes CloudTrail say who this was, as aws-runas does.
                (None, Some(user)) => {
                    RoleSessionName::from_user(&user).unwrap_or_else(|| shared.session_name())
                }
                (None, None) => shared.session_name(),
            };
            let seconds = if plan.roles.is_empty() {
                plan.credentials_seconds
            } else {
                CHAINED_MAX_SECONDS
            };
            sts.assume_role_with_web_identity(&role.role_arn, &session, &token, seconds)
                .await
                .map_err(|source| ProfileFetchError::Sts {
                    profile: profile.clone(),
                    source,
                })?
        }
    })
}

/// AssumeRoleWithSAML with a fresh assertion, for the role the profile names, else the one
/// a person chose, else the only one offered.
async fn saml_credentials(
    shared: &Shared,
    plan: &Plan,
    sts: &sts::Client,
    provider: &SamlSettings,
    role: Option<&RoleStep>,
) -> Result<Credentials, ProfileFetchError> {
    let profile = &plan.profile;
    let assertion = shared
        .saml
        .assertion(provider, shared.env.saml_password.as_ref())
        .await
        .map_err(|source| ProfileFetchError::Saml {
            profile: profile.clone(),
            source,
        })?;
    let offered = || -> Vec<String> {
        assertion
            .roles
            .iter()
            .map(|p| p.role_arn.to_string())
            .collect()
    };
    let role_arn = match (role, &assertion.roles[..]) {
        (Some(role), _) => role.role_arn.clone(),
        (None, [only]) => only.role_arn.clone(),
        (None, _) => {
            let error = ProfileFetchError::ChooseRole {
                profile: profile.clone(),
                offered: offered(),
            };
            // Not sent to STS: the next fetch (once a role is chosen) can still use it.
            shared.saml.put_back(provider, assertion);
            return Err(error);
        }
    };
    let Some(pair) = assertion.pair_for(&role_arn).cloned() else {
        let error = ProfileFetchError::RoleNotOffered {
            profile: profile.clone(),
            role: role_arn.to_string(),
            offered: offered(),
        };
        shared.saml.put_back(provider, assertion);
        return Err(error);
    };
    let mut seconds = if plan.roles.is_empty() {
        plan.credentials_seconds
    } else {
        CHAINED_MAX_SECONDS
    };
    if let Some(limit) = assertion.session_duration {
        // The provider's limit, though never below STS's minimum.
        seconds = seconds.min(limit.max(900));
    }
    sts.assume_role_with_saml(
        &role_arn,
        pair.provider_arn.as_str(),
        &assertion.encoded,
        seconds,
    )
    .await
    .map_err(|source| ProfileFetchError::Sts {
        profile: profile.clone(),
        source,
    })
}

/// Runs a `credential_process` command and reads its JSON.
async fn process(profile: &str, command: &str) -> Result<Credentials, ProfileFetchError> {
    let failed = |reason: String| ProfileFetchError::Process {
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
    parse_process_output(&output.stdout).map_err(failed)
}

/// The credentials in a `credential_process` command's stdout: one JSON object with `Version`
/// 1, `AccessKeyId`, `SecretAccessKey`, optional `SessionToken` and optional RFC 3339
/// `Expiration` (<https://docs.aws.amazon.com/sdkref/latest/guide/feature-process-credentials.html>).
/// The error says what is wrong with the output (the caller names the profile). Public for the
/// fuzz target `credential_process_output`.
pub fn parse_process_output(stdout: &[u8]) -> Result<Credentials, String> {
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
    // serde reads a struct from an array too (`[1,"AKIA…","secret"]`, by position); the
    // format is an object, as for every SDK. JSON whitespace is these four bytes.
    let start = stdout
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if start.is_some_and(|b| *b != b'{') {
        return Err("its output is not credential_process JSON (not an object)".to_owned());
    }
    let parsed: Output = serde_json::from_slice(stdout)
        .map_err(|e| format!("its output is not credential_process JSON ({e})"))?;
    if parsed.version != 1 {
        return Err(format!("Version {} is not 1", parsed.version));
    }
    let expiration = parsed
        .expiration
        .as_deref()
        .map(parse_rfc3339)
        .transpose()
        .map_err(|e| format!("Expiration is not RFC 3339: {e}"))?;
    Ok(Credentials {
        access_key_id: parsed.access_key_id,
        secret_access_key: parsed.secret_access_key,
        session_token: parsed.session_token,
        expiration,
        role_arn: None,
    })
}

fn mfa_error(profile: &str, serial: &str, source: StsError) -> ProfileFetchError {
    if source.is_mfa_rejection() {
        ProfileFetchError::MfaRejected {
            profile: profile.to_owned(),
            serial: serial.to_owned(),
            source,
        }
    } else {
        ProfileFetchError::Sts {
            profile: profile.to_owned(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_output_with_every_field() {
        let stdout = br#"{"Version":1,"AccessKeyId":"ASIAPROC","SecretAccessKey":"proc/secret","SessionToken":"tok","Expiration":"2026-01-02T03:04:05Z","Extra":true}"#;
        let creds = parse_process_output(stdout).unwrap();
        assert_eq!(creds.access_key_id, "ASIAPROC");
        assert_eq!(creds.secret_access_key.expose(), "proc/secret");
        assert_eq!(
            creds.session_token.as_ref().map(Secret::expose),
            Some("tok")
        );
        assert_eq!(
            creds.expiration,
            Some(time::macros::datetime!(2026-01-02 03:04:05 UTC))
        );
        assert_eq!(creds.role_arn, None);
    }

    #[test]
    fn process_output_with_long_term_keys_only() {
        let stdout = b"{\"Version\": 1, \"AccessKeyId\": \"AKIAPROC\", \"SecretAccessKey\": \"s\", \"SessionToken\": null}\n";
        let creds = parse_process_output(stdout).unwrap();
        assert_eq!(creds.access_key_id, "AKIAPROC");
        assert_eq!(creds.session_token, None);
        assert_eq!(creds.expiration, None);
    }

    #[test]
    fn process_output_refusals_say_why() {
        let err = parse_process_output(br#"{"Version":2,"AccessKeyId":"A","SecretAccessKey":"s"}"#)
            .unwrap_err();
        assert_eq!(err, "Version 2 is not 1");
        let err = parse_process_output(
            br#"{"Version":1,"AccessKeyId":"A","SecretAccessKey":"s","Expiration":"tomorrow"}"#,
        )
        .unwrap_err();
        assert!(err.starts_with("Expiration is not RFC 3339"), "{err}");
        let err = parse_process_output(br#"{"Version":1,"AccessKeyId":"A"}"#).unwrap_err();
        assert!(
            err.starts_with("its output is not credential_process JSON")
                && err.contains("SecretAccessKey"),
            "{err}"
        );
        let err = parse_process_output(b"").unwrap_err();
        assert!(
            err.starts_with("its output is not credential_process JSON"),
            "{err}"
        );
    }

    /// Found by the fuzz target `credential_process_output`: `[1,"",""]` was read, by
    /// position, as Version, AccessKeyId and SecretAccessKey.
    #[test]
    fn process_output_that_is_a_json_array_is_refused() {
        for stdout in [
            &br#"[1,"",""]"#[..],
            br#" [1, "AKIAPROC", "secret", "token", "2026-01-02T03:04:05Z"]"#,
        ] {
            let err = parse_process_output(stdout).unwrap_err();
            assert!(err.ends_with("(not an object)"), "{err}");
        }
        assert!(
            parse_process_output(
                b" \r\n\t{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\"}"
            )
            .is_ok()
        );
    }
}
