//! AWS profiles for the desktop fronts (`serve ecs|ec2`, `exec`): credentials of a profile
//! from the one cache, new ones when a person asks, and MFA codes a person gives. The
//! sources themselves are [`crate::source::profile`]'s; this is where a front asks for them.

use std::sync::{Arc, Weak};

use crate::arn::Region;
use crate::aws::mfa::MfaCode;
use crate::aws_files::profiles::{Base, Plan, ProfileError};
use crate::aws_files::{Catalog, ProfileFiles};
use crate::cache::Cache;
use crate::credentials::Credentials;
use crate::source::profile::{
    PlanSources, ProfileFetchError, ProfileInfo, ProfileSources, mfa_session_key, profile_key,
};
use crate::source::{SourceError, Upstream};
use crate::system::clock::Clock;
use crate::system::env::Environment;
use crate::system::transport::Clients;

/// The profiles of one user's AWS files, through the cache.
#[derive(Debug)]
pub struct Profiles {
    sources: ProfileSources,
    cache: Arc<Cache>,
}

impl Profiles {
    /// The profiles of `env`'s `~/.aws` files.
    pub fn new(env: Environment, http: Clients, cache: Arc<Cache>) -> Self {
        Self::with_files(env, ProfileFiles::Aws, http, cache)
    }

    /// The profiles of `files`.
    pub fn with_files(
        env: Environment,
        files: ProfileFiles,
        http: Clients,
        cache: Arc<Cache>,
    ) -> Self {
        let upstream: Weak<dyn Upstream> = Arc::downgrade(&cache) as Weak<dyn Upstream>;
        let sources = ProfileSources::new(
            env,
            files,
            cache.clock().clone(),
            http.api,
            http.pages,
            upstream,
        );
        Self { sources, cache }
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        self.cache.clock()
    }

    /// The environment the profiles are read with.
    pub fn environment(&self) -> &Environment {
        self.sources.environment()
    }

    /// The HTTP client the sources call AWS and identity providers with.
    pub fn http(&self) -> &reqwest::Client {
        self.sources.http()
    }

    /// The sign-ins of profiles with `saml_auth_url`.
    pub fn saml(&self) -> &Arc<crate::signin::saml_session::SamlSignIns> {
        self.sources.saml()
    }

    /// The sign-ins of profiles with `web_identity_auth_url`.
    pub fn sign_ins(&self) -> &Arc<crate::signin::SignIns> {
        self.sources.sign_ins()
    }

    /// Whether getting `profile`'s credentials now would need a person to sign in.
    pub fn needs_sign_in(&self, profile: &str) -> Result<bool, ProfileError> {
        if self.cached(profile).is_some() {
            return Ok(false);
        }
        let plan = self.plan(profile)?;
        Ok(match &plan.base {
            crate::aws_files::profiles::Base::SignIn { provider, .. } => {
                !self.sign_ins().is_signed_in(provider)
                    && (provider.username.is_none() || !self.sources.has_password())
            }
            crate::aws_files::profiles::Base::Saml { provider, .. } => {
                !self.saml().view(provider).signed_in
                    && (provider.username.is_none() || self.environment().saml_password.is_none())
            }
            crate::aws_files::profiles::Base::Sso(sso) => {
                let step = crate::source::sso::SsoStep {
                    profile,
                    sso,
                    endpoint_url: plan.endpoint_url.as_deref(),
                };
                crate::source::sso::needs_person(self.environment(), self.clock().as_ref(), &step)
            }
            _ => false,
        })
    }

    /// The roles chosen at run time for profiles that offer several (the plan of such a
    /// profile uses its choice).
    pub fn choices(&self) -> &crate::source::choice::RoleChoices {
        self.sources.choices()
    }

    /// The profile files as they are now.
    pub fn config(&self) -> Result<Catalog, ProfileError> {
        self.sources.config()
    }

    /// The plan for `profile`.
    pub fn plan(&self, profile: &str) -> Result<Plan, ProfileError> {
        self.sources.plan(profile)
    }

    /// The region a profile's calls and programs use: `AWS_REGION`, else the profile's.
    pub fn region(&self, plan: &Plan) -> Option<Region> {
        self.sources.region(plan)
    }

    /// What the management API shows of `profile`.
    pub fn info(&self, profile: &str) -> Result<ProfileInfo, ProfileError> {
        self.sources.info(profile)
    }

    /// Credentials for `profile`, cached; never waits for a person.
    pub async fn credentials(&self, profile: &str) -> Result<Arc<Credentials>, SourceError> {
        self.cache.get(&self.sources.source(profile)?).await
    }

    /// New credentials for `profile`, fetched now.
    pub async fn refresh(&self, profile: &str) -> Result<Arc<Credentials>, SourceError> {
        self.cache.refresh(&self.sources.source(profile)?).await
    }

    /// New credentials for `profile` with an MFA code a person gave: a new MFA session
    /// when the profile has one, then the roles.
    pub async fn credentials_with_code(
        &self,
        profile: &str,
        code: MfaCode,
    ) -> Result<Arc<Credentials>, SourceError> {
        let plan = self.plan(profile)?;
        if let Base::Saml { provider, .. } = &plan.base
            && self.sources.saml().awaits_code(provider)
        {
            // The code is the SAML provider's one-time code: it finishes the sign-in.
            self.sources
                .saml()
                .give_code(provider, code.as_str())
                .await
                .map_err(|source| ProfileFetchError::Saml {
                    profile: profile.to_owned(),
                    source,
                })?;
            return self.refresh(profile).await;
        }
        if plan.mfa.is_none() {
            return self.credentials(profile).await;
        }
        self.sources.give_code(&plan, code);
        let PlanSources {
            profile: source,
            session,
        } = self.sources.sources_of(plan.clone());
        let result = async {
            if let Some(session) = &session {
                self.cache.refresh(session).await?;
            }
            self.cache.refresh(&source).await
        }
        .await;
        self.sources.withdraw_code(&plan);
        result
    }

    /// Cached credentials for `profile` that are still good, without any call.
    pub fn cached(&self, profile: &str) -> Option<Arc<Credentials>> {
        self.cache.peek(&profile_key(profile))
    }

    /// Forgets what was fetched: for `profile`, or everything (MFA sessions included).
    pub fn forget(&self, profile: Option<&str>) {
        match profile {
            Some(profile) => self.cache.forget(&profile_key(profile)),
            None => {
                self.cache.clear();
                self.sources.withdraw_codes();
            }
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
        let has_session = self.sources.makes_mfa_session(&plan)
            && self
                .cache
                .peek(&mfa_session_key(&plan.base_profile, &mfa.serial))
                .is_some();
        Ok(!has_session)
    }
}
