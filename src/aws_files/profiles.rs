//! AWS profiles (`~/.aws/config`, `~/.aws/credentials`) resolved the way the AWS CLI does, into
//! a [`Plan`]: where the first credentials come from, whether an MFA session is needed, and
//! which roles to assume, in order.
//!
//! Files (<https://docs.aws.amazon.com/sdkref/latest/guide/file-format.html>):
//! `$AWS_CONFIG_FILE` (else `~/.aws/config`, sections `[default]` and `[profile NAME]`) and
//! `$AWS_SHARED_CREDENTIALS_FILE` (else `~/.aws/credentials`, sections `[NAME]`), the latter
//! winning for keys both set. Lines are `key = value`, `#`/`;` comments, blank, or indented
//! continuations (nested settings, ignored here); anything else is an error naming the line.
//!
//! Resolution: from the profile asked for, follow `source_profile` (a profile naming itself
//! uses its own keys) until a profile with IAM Identity Center settings, with
//! `aws_access_key_id`/`aws_secret_access_key`, a `credential_process`, or a
//! `web_identity_token_file` with `role_arn`; each profile with a `role_arn` on the way is a
//! role to assume. A loop is an error that names it.
//!
//! IAM Identity Center ([`SsoProfile`]), as the CLI v2 reads it: `sso_account_id` and
//! `sso_role_name` in the profile, and either `sso_session = NAME` naming a
//! `[sso-session NAME]` section of the config file (`sso_start_url`, `sso_region`, optional
//! `sso_registration_scopes`, comma-separated), or, the older form, `sso_start_url` and
//! `sso_region` in the profile itself. A profile with both forms must agree with its session
//! (the CLI refuses a mismatch too). Like the CLI, these settings win over keys in the same
//! profile.
//!
//! Beyond the CLI (as aws-runas does): `mfa_serial` is also taken from the source profiles or
//! `[default]`; `mfa_totp_secret` / `mfa_totp_secret_file` let codes be generated; durations
//! `session_token_duration` and `credentials_duration` (also `duration_seconds`) accept
//! `1h30m`-style strings, with `SESSION_TOKEN_DURATION` / `CREDENTIALS_DURATION` as defaults —
//! the most specific setting wins: the profile, its sources, `[default]`, the environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::ini::{self, Line};
use crate::arn::{Region, RoleArn, RoleSessionName};
use crate::secret::Secret;
use crate::system::env::Environment;

/// Default lifetime of MFA session tokens (GetSessionToken), 12 hours as in the CLI.
pub const DEFAULT_SESSION_TOKEN_SECONDS: u32 = 43200;
/// Default lifetime of role credentials (AssumeRole).
pub const DEFAULT_CREDENTIALS_SECONDS: u32 = 3600;

/// Why a profile could not be resolved. Each variant names the profile and the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path} line {line}: {reason}")]
    Syntax {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("profile {0:?} is not in the AWS config or credentials files")]
    Unknown(String),
    #[error(
        "no AWS config files: HOME is not set (set HOME, or AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE)"
    )]
    NoHome,
    #[error("profile {profile:?} names source_profile {source_profile:?}, which does not exist")]
    UnknownSource {
        profile: String,
        source_profile: String,
    },
    #[error("profiles loop through source_profile: {}", .0.join(" -> "))]
    Loop(Vec<String>),
    #[error(
        "profile {0:?} has no credentials: give aws_access_key_id and aws_secret_access_key, source_profile, credential_process, web_identity_token_file, web_identity_auth_url, saml_auth_url or sso_session"
    )]
    NoCredentials(String),
    #[error("profile {profile:?} has {present} without {missing}")]
    HalfKeys {
        profile: String,
        present: &'static str,
        missing: &'static str,
    },
    #[error("profile {profile:?}: {key} = {value:?} is invalid: {reason}")]
    BadValue {
        profile: String,
        key: &'static str,
        value: String,
        reason: String,
    },
    #[error("profile {profile:?} has {present} without {missing}")]
    MissingKey {
        profile: String,
        present: &'static str,
        missing: &'static str,
    },
    #[error(
        "profile {profile:?}: credential_source = {source_name} is not supported here (use Environment, or source_profile)"
    )]
    UnsupportedCredentialSource {
        profile: String,
        source_name: String,
    },
    #[error(
        "profile {profile:?} names sso_session {session:?}, but the config file has no [sso-session {session}] section"
    )]
    UnknownSsoSession { profile: String, session: String },
    #[error("profile {profile:?} uses IAM Identity Center but has no {missing}{hint}")]
    IncompleteSso {
        profile: String,
        missing: &'static str,
        /// Where the setting belongs, when that is not the profile.
        hint: String,
    },
    #[error(
        "profile {profile:?}: {key} = {profile_value:?} differs from the {key} of [sso-session {session}], {session_value:?}"
    )]
    SsoMismatch {
        profile: String,
        session: String,
        key: &'static str,
        profile_value: String,
        session_value: String,
    },
}

/// The two files and their parsed sections (profile name → key → value).
#[derive(Debug, Clone, Default)]
pub struct ConfigFiles {
    pub config: PathBuf,
    pub credentials: PathBuf,
    profiles: BTreeMap<String, BTreeMap<String, String>>,
    /// `[sso-session NAME]` sections of the config file (name → key → value).
    sso_sessions: BTreeMap<String, BTreeMap<String, String>>,
}

impl ConfigFiles {
    /// Where the files are, from the environment.
    pub fn paths(env: &Environment) -> Result<(PathBuf, PathBuf), ProfileError> {
        match (super::config_path(env), super::credentials_path(env)) {
            (Some(config), Some(credentials)) => Ok((config, credentials)),
            _ => Err(ProfileError::NoHome),
        }
    }

    /// Reads both files (a missing file is empty).
    pub fn load(config: &Path, credentials: &Path) -> Result<Self, ProfileError> {
        let mut profiles = BTreeMap::new();
        let mut sso_sessions = BTreeMap::new();
        for (path, is_config) in [(config, true), (credentials, false)] {
            let text = match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(ProfileError::Read {
                        path: path.to_owned(),
                        reason: e.to_string(),
                    });
                }
            };
            let (sections, sessions) = parse(path, &text, is_config)?;
            for (name, keys) in sections {
                let entry: &mut BTreeMap<String, String> = profiles.entry(name).or_default();
                // The credentials file wins: it is read second.
                entry.extend(keys);
            }
            sso_sessions.extend(sessions);
        }
        Ok(Self {
            config: config.to_owned(),
            credentials: credentials.to_owned(),
            profiles,
            sso_sessions,
        })
    }

    /// Profile names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.profiles.keys().cloned().collect()
    }

    /// Whether `name` has a `role_arn`.
    pub fn is_role(&self, name: &str) -> bool {
        self.profiles
            .get(name)
            .is_some_and(|p| p.contains_key("role_arn"))
    }

    fn get(&self, profile: &str, key: &str) -> Option<&str> {
        self.profiles
            .get(profile)?
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// A profile's name and its settings.
type Section = (String, BTreeMap<String, String>);

/// Parses one file into profile sections and `[sso-session NAME]` sections. Config files
/// name profiles `[profile NAME]` (and `[default]`); other section kinds (`[services …]`)
/// are skipped.
fn parse(
    path: &Path,
    text: &str,
    is_config: bool,
) -> Result<(Vec<Section>, Vec<Section>), ProfileError> {
    let mut sections: Vec<Section> = Vec::new();
    let mut sessions: Vec<Section> = Vec::new();
    let mut current: Option<usize> = None;
    let mut session: Option<usize> = None;
    let mut skipping = false;
    for (index, raw) in text.lines().enumerate() {
        let error = |reason: &str| ProfileError::Syntax {
            path: path.to_owned(),
            line: index + 1,
            reason: reason.to_owned(),
        };
        match ini::lex(raw).map_err(error)? {
            Line::Blank => {}
            // A nested setting under the key above (e.g. `s3 =`): not ours to read.
            Line::Continuation if current.is_none() && session.is_none() && !skipping => {
                return Err(error("an indented line outside any [section]"));
            }
            Line::Continuation => {}
            Line::Section(name) => {
                session = None;
                let sso_session = name
                    .strip_prefix("sso-session ")
                    .map(str::trim)
                    .filter(|n| is_config && !n.is_empty());
                if let Some(name) = sso_session {
                    let position = sessions.iter().position(|(n, _)| n == name);
                    session = Some(position.unwrap_or_else(|| {
                        sessions.push((name.to_owned(), BTreeMap::new()));
                        sessions.len() - 1
                    }));
                    current = None;
                    skipping = false;
                    continue;
                }
                let profile = if is_config {
                    if name == "default" {
                        Some(name)
                    } else {
                        name.strip_prefix("profile ").map(str::trim)
                    }
                } else {
                    Some(name)
                };
                match profile.filter(|n| !n.is_empty()) {
                    Some(name) => {
                        let position = sections.iter().position(|(n, _)| n == name);
                        current = Some(position.unwrap_or_else(|| {
                            sections.push((name.to_owned(), BTreeMap::new()));
                            sections.len() - 1
                        }));
                        skipping = false;
                    }
                    None => {
                        current = None;
                        skipping = true;
                    }
                }
            }
            Line::Setting { .. } if skipping => {}
            Line::Setting { key, value } if session.is_some() => {
                if let Some(index) = session {
                    sessions[index]
                        .1
                        .insert(key.to_ascii_lowercase(), value.to_owned());
                }
            }
            Line::Setting { key, value } => {
                let section = current.ok_or_else(|| error("a setting before any [section]"))?;
                sections[section]
                    .1
                    .insert(key.to_ascii_lowercase(), value.to_owned());
            }
        }
    }
    Ok((sections, sessions))
}

/// Parses durations like `3600`, `900s`, `90m`, `12h`, `1h30m`.
pub fn parse_duration(text: &str) -> Result<u32, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u32>() {
        return Ok(seconds);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(format!("unknown unit {c:?}: use h, m and s as in 1h30m")),
        };
        let n: u64 = number
            .parse()
            .map_err(|_| "a unit without a number before it".to_owned())?;
        total = total.saturating_add(n.saturating_mul(unit));
        number.clear();
    }
    if !number.is_empty() || total == 0 {
        return Err("expected a duration like 3600, 90m, 12h or 1h30m".into());
    }
    u32::try_from(total).map_err(|_| "too long".into())
}

/// One role to assume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleStep {
    /// The profile that names the role.
    pub profile: String,
    pub role_arn: RoleArn,
    pub external_id: Option<String>,
    pub session_name: Option<RoleSessionName>,
}

/// Where the first credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// Keys in the files (possibly with a session token, then already temporary).
    Static {
        access_key_id: String,
        secret_access_key: Secret,
        session_token: Option<Secret>,
    },
    /// `credential_process`: a command printing credential_process JSON.
    Process { command: String },
    /// `web_identity_token_file` + `role_arn`: AssumeRoleWithWebIdentity.
    WebIdentity { token_file: PathBuf, role: RoleStep },
    /// `credential_source = Environment`: the process's own AWS_* variables.
    Environment,
    /// `web_identity_auth_url` + `role_arn` (aws-runas): an ID token from signing in to an
    /// OpenID Connect provider, then AssumeRoleWithWebIdentity of `role` (the
    /// `jump_role_arn` when there is one; the profile's role is then the first of the roles).
    SignIn {
        provider: Box<SignInSettings>,
        role: RoleStep,
    },
    /// IAM Identity Center: role credentials from the portal with the AWS CLI's cached
    /// sign-in.
    Sso(SsoProfile),
    /// `saml_auth_url` (aws-runas): an assertion from signing in to a SAML identity
    /// provider, then AssumeRoleWithSAML of `role` (the `jump_role_arn` when there is one;
    /// the profile's role is then the first of the roles). Without a role, one of those the
    /// assertion offers: the only one, or the one a person chose.
    Saml {
        provider: Box<SamlSettings>,
        role: Option<RoleStep>,
    },
}

/// How to sign in to a SAML identity provider (aws-runas's `saml_*` keys).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SamlSettings {
    /// `saml_auth_url`: where sign-in starts (an ECP endpoint, or a page that ends in the
    /// assertion for AWS, such as the provider's IdP-initiated sign-in URL for AWS).
    pub auth_url: url::Url,
    /// `saml_username`: the user to sign in as.
    pub username: Option<String>,
    /// `saml_provider`: accepted for aws-runas's files; the flows are standard ones.
    pub provider: Option<String>,
}

/// A profile's IAM Identity Center settings (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoProfile {
    /// `sso_session`: the `[sso-session NAME]` section; `None` for the older form.
    pub session: Option<String>,
    /// `sso_start_url`: the access portal.
    pub start_url: String,
    /// `sso_region`: where the OIDC service and the portal are.
    pub region: Region,
    /// `sso_account_id`.
    pub account_id: String,
    /// `sso_role_name`.
    pub role_name: String,
    /// `sso_registration_scopes` of the session (`None` for the older form, or none given).
    pub registration_scopes: Option<Vec<String>>,
}

/// How to sign in to an OpenID Connect provider (aws-runas's `web_identity_*` keys).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignInSettings {
    /// The issuer (`web_identity_auth_url`): endpoints come from its discovery document.
    pub issuer: url::Url,
    /// `web_identity_client_id`: a public client.
    pub client_id: String,
    /// `web_identity_redirect_uri`: where the provider sends the browser back; it must be
    /// an `http` loopback address (RFC 8252), which a listener of this process takes.
    pub redirect_uri: Option<url::Url>,
    /// `web_identity_username`: the user to sign in as (the sign-in is theirs alone).
    pub username: Option<String>,
    /// `web_identity_provider`: accepted for aws-runas's files; the flows are standard ones.
    pub provider: Option<String>,
}

/// Whether `url` may be used without TLS: `http` only to a loopback address, where nobody
/// else can listen in (RFC 8252 §8.3).
pub fn is_loopback_http(url: &url::Url) -> bool {
    url.scheme() == "http"
        && match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            None => false,
        }
}

/// Where an MFA code comes from when one is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaConfig {
    /// The device: `arn:aws:iam::ACCOUNT:mfa/NAME` (or a hardware serial).
    pub serial: String,
    /// A base32 TOTP secret, so codes can be generated here.
    pub totp_secret: Option<Secret>,
}

/// How to get credentials for a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The profile asked for.
    pub profile: String,
    /// The profile the first credentials come from.
    pub base_profile: String,
    pub base: Base,
    pub mfa: Option<MfaConfig>,
    /// Roles to assume, first to last.
    pub roles: Vec<RoleStep>,
    pub region: Option<Region>,
    /// `endpoint_url` of the profile (for every service, STS included).
    pub endpoint_url: Option<String>,
    /// GetSessionToken lifetime, seconds.
    pub session_token_seconds: u32,
    /// AssumeRole lifetime of the last role, seconds.
    pub credentials_seconds: u32,
}

impl ConfigFiles {
    /// Resolves `profile` into a plan.
    pub fn plan(&self, profile: &str, env: &Environment) -> Result<Plan, ProfileError> {
        if !self.profiles.contains_key(profile) {
            return Err(ProfileError::Unknown(profile.to_owned()));
        }
        let mut visited: Vec<String> = Vec::new();
        let mut roles = Vec::new();
        let mut current = profile.to_owned();
        let base = loop {
            if visited.contains(&current) {
                visited.push(current);
                return Err(ProfileError::Loop(visited));
            }
            visited.push(current.clone());
            let get = |key: &str| self.get(&current, key);
            let keys = self.static_keys(&current)?;
            match (
                get("role_arn"),
                get("source_profile"),
                get("credential_source"),
            ) {
                (Some(_), _, _) if get("web_identity_token_file").is_some() => {
                    let role = self.role_step(&current)?;
                    break Base::WebIdentity {
                        token_file: PathBuf::from(
                            get("web_identity_token_file").unwrap_or_default(),
                        ),
                        role,
                    };
                }
                (Some(_), Some(source), _) => {
                    roles.push(self.role_step(&current)?);
                    if source == current {
                        // A profile naming itself uses its own keys as the source.
                        break keys.ok_or_else(|| ProfileError::NoCredentials(current.clone()))?;
                    }
                    if !self.profiles.contains_key(source) {
                        return Err(ProfileError::UnknownSource {
                            profile: current.clone(),
                            source_profile: source.to_owned(),
                        });
                    }
                    current = source.to_owned();
                }
                (Some(_), None, None)
                    if self.sign_in_value(&current, env, "saml_auth_url").is_some() =>
                {
                    let (provider, jump) = self.saml(&current, env)?;
                    if let Some(jump) = jump {
                        roles.push(self.role_step(&current)?);
                        break Base::Saml {
                            provider,
                            role: Some(jump),
                        };
                    }
                    break Base::Saml {
                        provider,
                        role: Some(self.role_step(&current)?),
                    };
                }
                (Some(_), None, None)
                    if self
                        .sign_in_value(&current, env, "web_identity_auth_url")
                        .is_some() =>
                {
                    let (provider, role) = self.sign_in(&current, env)?;
                    let provider = Box::new(provider);
                    if let Some(jump) = role {
                        roles.push(self.role_step(&current)?);
                        break Base::SignIn {
                            provider,
                            role: jump,
                        };
                    }
                    break Base::SignIn {
                        provider,
                        role: self.role_step(&current)?,
                    };
                }
                (Some(_), None, Some(source)) => {
                    roles.push(self.role_step(&current)?);
                    if source.eq_ignore_ascii_case("Environment") {
                        break Base::Environment;
                    }
                    return Err(ProfileError::UnsupportedCredentialSource {
                        profile: current.clone(),
                        source_name: source.to_owned(),
                    });
                }
                _ => {
                    if let Some(sso) = self.sso(&current)? {
                        break Base::Sso(sso);
                    }
                    if let Some(keys) = keys {
                        break keys;
                    }
                    if let Some(command) = get("credential_process") {
                        break Base::Process {
                            command: command.to_owned(),
                        };
                    }
                    if self.sign_in_value(&current, env, "saml_auth_url").is_some() {
                        // No role named: one the assertion offers.
                        let (provider, jump) = self.saml(&current, env)?;
                        break Base::Saml {
                            provider,
                            role: jump,
                        };
                    }
                    return Err(ProfileError::NoCredentials(current.clone()));
                }
            }
        };
        roles.reverse();

        // The chain for the non-standard fallbacks: the profile, its sources, [default].
        let mut lookup: Vec<&str> = visited.iter().map(String::as_str).collect();
        if !lookup.contains(&"default") && self.profiles.contains_key("default") {
            lookup.push("default");
        }
        let first = |key: &str| {
            lookup
                .iter()
                .find_map(|p| self.get(p, key).map(|v| (*p, v)))
        };
        let mfa = match first("mfa_serial") {
            None => None,
            Some((owner, serial)) => {
                let totp_secret = match (
                    self.get(owner, "mfa_totp_secret"),
                    self.get(owner, "mfa_totp_secret_file"),
                ) {
                    (Some(secret), _) => Some(Secret::new(secret)),
                    (None, Some(file)) => Some(Secret::new(
                        std::fs::read_to_string(file)
                            .map_err(|e| ProfileError::BadValue {
                                profile: owner.to_owned(),
                                key: "mfa_totp_secret_file",
                                value: file.to_owned(),
                                reason: e.to_string(),
                            })?
                            .trim(),
                    )),
                    (None, None) => None,
                };
                Some(MfaConfig {
                    serial: serial.to_owned(),
                    totp_secret,
                })
            }
        };
        let duration = |keys: &[&'static str], env_value: Option<&String>, default: u32| {
            for key in keys {
                if let Some((owner, value)) = first(key) {
                    return parse_duration(value).map_err(|reason| ProfileError::BadValue {
                        profile: owner.to_owned(),
                        key,
                        value: value.to_owned(),
                        reason,
                    });
                }
            }
            match env_value {
                Some(value) => parse_duration(value).map_err(|reason| ProfileError::BadValue {
                    profile: profile.to_owned(),
                    key: keys[0],
                    value: value.clone(),
                    reason,
                }),
                None => Ok(default),
            }
        };
        let region = match first("region") {
            Some((owner, value)) => {
                Some(Region::from_str(value).map_err(|e| ProfileError::BadValue {
                    profile: owner.to_owned(),
                    key: "region",
                    value: value.to_owned(),
                    reason: e.to_string(),
                })?)
            }
            None => None,
        };
        Ok(Plan {
            profile: profile.to_owned(),
            base_profile: visited.last().cloned().unwrap_or_default(),
            base,
            mfa,
            roles,
            region,
            endpoint_url: first("endpoint_url").map(|(_, v)| v.to_owned()),
            session_token_seconds: duration(
                &["session_token_duration"],
                env.session_token_duration.as_ref(),
                DEFAULT_SESSION_TOKEN_SECONDS,
            )?,
            credentials_seconds: duration(
                &["credentials_duration", "duration_seconds"],
                env.credentials_duration.as_ref(),
                DEFAULT_CREDENTIALS_SECONDS,
            )?,
        })
    }

    fn static_keys(&self, profile: &str) -> Result<Option<Base>, ProfileError> {
        let key = self.get(profile, "aws_access_key_id");
        let secret = self.get(profile, "aws_secret_access_key");
        match (key, secret) {
            (Some(key), Some(secret)) => Ok(Some(Base::Static {
                access_key_id: key.to_owned(),
                secret_access_key: Secret::new(secret),
                session_token: self.get(profile, "aws_session_token").map(Secret::new),
            })),
            (None, None) => Ok(None),
            (Some(_), None) => Err(ProfileError::HalfKeys {
                profile: profile.to_owned(),
                present: "aws_access_key_id",
                missing: "aws_secret_access_key",
            }),
            (None, Some(_)) => Err(ProfileError::HalfKeys {
                profile: profile.to_owned(),
                present: "aws_secret_access_key",
                missing: "aws_access_key_id",
            }),
        }
    }

    /// The profile's IAM Identity Center settings, if it has any.
    fn sso(&self, profile: &str) -> Result<Option<SsoProfile>, ProfileError> {
        let get = |key: &str| self.get(profile, key);
        let session_name = get("sso_session");
        if session_name.is_none()
            && [
                "sso_start_url",
                "sso_region",
                "sso_account_id",
                "sso_role_name",
            ]
            .iter()
            .all(|key| get(key).is_none())
        {
            return Ok(None);
        }
        let missing = |missing: &'static str, hint: &str| ProfileError::IncompleteSso {
            profile: profile.to_owned(),
            missing,
            hint: hint.to_owned(),
        };
        let (start_url, region, scopes) = match session_name {
            Some(name) => {
                let section =
                    self.sso_sessions
                        .get(name)
                        .ok_or_else(|| ProfileError::UnknownSsoSession {
                            profile: profile.to_owned(),
                            session: name.to_owned(),
                        })?;
                let in_session = |key: &'static str| {
                    let value = section
                        .get(key)
                        .map(String::as_str)
                        .filter(|v| !v.is_empty())
                        .ok_or_else(|| missing(key, &format!(" (in [sso-session {name}])")))?;
                    match get(key) {
                        Some(own) if own != value => Err(ProfileError::SsoMismatch {
                            profile: profile.to_owned(),
                            session: name.to_owned(),
                            key,
                            profile_value: own.to_owned(),
                            session_value: value.to_owned(),
                        }),
                        _ => Ok(value),
                    }
                };
                let scopes = section
                    .get("sso_registration_scopes")
                    .map(|text| {
                        text.split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect::<Vec<_>>()
                    })
                    .filter(|scopes| !scopes.is_empty());
                (
                    in_session("sso_start_url")?,
                    in_session("sso_region")?,
                    scopes,
                )
            }
            None => (
                get("sso_start_url").ok_or_else(|| missing("sso_start_url", ""))?,
                get("sso_region").ok_or_else(|| missing("sso_region", ""))?,
                None,
            ),
        };
        let region = Region::from_str(region).map_err(|e| ProfileError::BadValue {
            profile: profile.to_owned(),
            key: "sso_region",
            value: region.to_owned(),
            reason: e.to_string(),
        })?;
        let account_id = get("sso_account_id").ok_or_else(|| missing("sso_account_id", ""))?;
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ProfileError::BadValue {
                profile: profile.to_owned(),
                key: "sso_account_id",
                value: account_id.to_owned(),
                reason: "an account id is 12 digits".to_owned(),
            });
        }
        Ok(Some(SsoProfile {
            session: session_name.map(str::to_owned),
            start_url: start_url.to_owned(),
            region,
            account_id: account_id.to_owned(),
            role_name: get("sso_role_name")
                .ok_or_else(|| missing("sso_role_name", ""))?
                .to_owned(),
            registration_scopes: scopes,
        }))
    }

    /// A sign-in key of `profile`: its own, else `[default]`'s (aws-runas inherits them),
    /// else the environment's.
    fn sign_in_value<'a>(
        &'a self,
        profile: &str,
        env: &'a Environment,
        key: &str,
    ) -> Option<&'a str> {
        self.get(profile, key)
            .or_else(|| self.get("default", key))
            .or_else(|| env.web_identity.get(key))
    }

    /// The SAML provider of a profile, and its jump role when it has one.
    fn saml(
        &self,
        profile: &str,
        env: &Environment,
    ) -> Result<(Box<SamlSettings>, Option<RoleStep>), ProfileError> {
        let get = |key| self.sign_in_value(profile, env, key);
        let value = get("saml_auth_url").unwrap_or_default();
        let auth_url = url::Url::parse(value).map_err(|e| ProfileError::BadValue {
            profile: profile.to_owned(),
            key: "saml_auth_url",
            value: value.to_owned(),
            reason: e.to_string(),
        })?;
        if auth_url.scheme() != "https" && !is_loopback_http(&auth_url) {
            return Err(ProfileError::BadValue {
                profile: profile.to_owned(),
                key: "saml_auth_url",
                value: value.to_owned(),
                reason: "it must be https (http only on a loopback address)".to_owned(),
            });
        }
        Ok((
            Box::new(SamlSettings {
                auth_url,
                username: get("saml_username").map(str::to_owned),
                provider: get("saml_provider").map(str::to_owned),
            }),
            self.jump_role(profile, env)?,
        ))
    }

    /// `jump_role_arn` of a sign-in profile (its own, `[default]`'s or `JUMP_ROLE_ARN`).
    fn jump_role(
        &self,
        profile: &str,
        env: &Environment,
    ) -> Result<Option<RoleStep>, ProfileError> {
        let Some(arn) = self.sign_in_value(profile, env, "jump_role_arn") else {
            return Ok(None);
        };
        Ok(Some(RoleStep {
            profile: profile.to_owned(),
            role_arn: RoleArn::from_str(arn).map_err(|e| ProfileError::BadValue {
                profile: profile.to_owned(),
                key: "jump_role_arn",
                value: arn.to_owned(),
                reason: e.to_string(),
            })?,
            external_id: None,
            session_name: None,
        }))
    }

    /// The provider of a sign-in profile, and its jump role when it has one.
    fn sign_in(
        &self,
        profile: &str,
        env: &Environment,
    ) -> Result<(SignInSettings, Option<RoleStep>), ProfileError> {
        let get = |key| self.sign_in_value(profile, env, key);
        let bad = |key: &'static str, value: &str, reason: &str| ProfileError::BadValue {
            profile: profile.to_owned(),
            key,
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let url = |key: &'static str| -> Result<Option<url::Url>, ProfileError> {
            let Some(value) = get(key) else {
                return Ok(None);
            };
            let parsed = url::Url::parse(value).map_err(|e| bad(key, value, &e.to_string()))?;
            Ok(Some(parsed))
        };
        let Some(issuer) = url("web_identity_auth_url")? else {
            return Err(ProfileError::NoCredentials(profile.to_owned()));
        };
        if issuer.scheme() != "https" && !is_loopback_http(&issuer) {
            return Err(bad(
                "web_identity_auth_url",
                issuer.as_str(),
                "it must be https (http only on a loopback address)",
            ));
        }
        let client_id = get("web_identity_client_id").ok_or_else(|| ProfileError::MissingKey {
            profile: profile.to_owned(),
            present: "web_identity_auth_url",
            missing: "web_identity_client_id",
        })?;
        let redirect_uri = url("web_identity_redirect_uri")?;
        if let Some(redirect) = &redirect_uri
            && !is_loopback_http(redirect)
        {
            return Err(bad(
                "web_identity_redirect_uri",
                redirect.as_str(),
                "it must be an http address on this machine's loopback (RFC 8252), such as http://127.0.0.1:8080/callback",
            ));
        }
        let jump = self.jump_role(profile, env)?;
        Ok((
            SignInSettings {
                issuer,
                client_id: client_id.to_owned(),
                redirect_uri,
                username: get("web_identity_username").map(str::to_owned),
                provider: get("web_identity_provider").map(str::to_owned),
            },
            jump,
        ))
    }

    fn role_step(&self, profile: &str) -> Result<RoleStep, ProfileError> {
        let bad = |key: &'static str, value: &str, reason: String| ProfileError::BadValue {
            profile: profile.to_owned(),
            key,
            value: value.to_owned(),
            reason,
        };
        let arn = self.get(profile, "role_arn").unwrap_or_default();
        Ok(RoleStep {
            profile: profile.to_owned(),
            role_arn: RoleArn::from_str(arn).map_err(|e| bad("role_arn", arn, e.to_string()))?,
            external_id: self.get(profile, "external_id").map(str::to_owned),
            session_name: self
                .get(profile, "role_session_name")
                .map(|n| {
                    RoleSessionName::from_str(n)
                        .map_err(|e| bad("role_session_name", n, e.to_string()))
                })
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
[default]
region = eu-west-1
mfa_serial = arn:aws:iam::123456789012:mfa/alice

[profile developer]
role_arn = arn:aws:iam::123456789012:role/developer
source_profile = default
role_session_name = alice-dev
credentials_duration = 2h

[profile admin]   # chained roles below start here
role_arn = arn:aws:iam::123456789012:role/admin
source_profile = default
duration_seconds = 1800

[profile auditor]
role_arn = arn:aws:iam::123456789012:role/auditor
source_profile = admin
external_id = ext-1 ; trailing comment
region = us-west-2

[profile loop-a]
role_arn = arn:aws:iam::123456789012:role/a
source_profile = loop-b

[profile loop-b]
role_arn = arn:aws:iam::123456789012:role/b
source_profile = loop-a

[profile proc]
credential_process = /usr/bin/needroleshere credential-process --certificate c

[profile web]
role_arn = arn:aws:iam::123456789012:role/web
web_identity_token_file = /var/run/token

[sso-session corp]
sso_region = eu-west-1

[profile self]
aws_access_key_id = AKIASELF
aws_secret_access_key = selfsecret
role_arn = arn:aws:iam::123456789012:role/self
source_profile = self
s3 =
  max_concurrent_requests = 20
";

    const CREDENTIALS: &str = "\
[default]
aws_access_key_id = AKIAEXAMPLEALICE0001
aws_secret_access_key = alice/secret+key

[half]
aws_access_key_id = AKIAHALF
";

    fn files() -> (tempfile::TempDir, ConfigFiles) {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        let credentials = dir.path().join("credentials");
        std::fs::write(&config, CONFIG).unwrap();
        std::fs::write(&credentials, CREDENTIALS).unwrap();
        let files = ConfigFiles::load(&config, &credentials).unwrap();
        (dir, files)
    }

    #[test]
    fn user_mfa_role_and_chained_role() {
        let (_dir, files) = files();
        let env = Environment::default();
        let plan = files.plan("auditor", &env).unwrap();
        assert_eq!(plan.base_profile, "default");
        assert!(
            matches!(plan.base, Base::Static { ref access_key_id, .. } if access_key_id == "AKIAEXAMPLEALICE0001")
        );
        let roles: Vec<&str> = plan.roles.iter().map(|r| r.role_arn.as_str()).collect();
        assert_eq!(
            roles,
            [
                "arn:aws:iam::123456789012:role/admin",
                "arn:aws:iam::123456789012:role/auditor"
            ]
        );
        assert_eq!(plan.roles[1].external_id.as_deref(), Some("ext-1"));
        assert_eq!(
            plan.mfa.as_ref().unwrap().serial,
            "arn:aws:iam::123456789012:mfa/alice"
        );
        assert_eq!(plan.region.as_ref().unwrap().as_str(), "us-west-2");
        // duration_seconds of admin applies along the chain when auditor sets none.
        assert_eq!(plan.credentials_seconds, 1800);
        assert_eq!(plan.session_token_seconds, DEFAULT_SESSION_TOKEN_SECONDS);

        let plan = files.plan("developer", &env).unwrap();
        assert_eq!(plan.credentials_seconds, 7200);
        assert_eq!(
            plan.roles[0].session_name.as_ref().unwrap().as_str(),
            "alice-dev"
        );
        assert_eq!(plan.region.as_ref().unwrap().as_str(), "eu-west-1");

        let plan = files.plan("default", &env).unwrap();
        assert!(plan.roles.is_empty());
    }

    #[test]
    fn environment_durations_are_the_least_specific() {
        let (_dir, files) = files();
        let env = Environment {
            session_token_duration: Some("1h30m".into()),
            credentials_duration: Some("45m".into()),
            ..Environment::default()
        };
        let plan = files.plan("developer", &env).unwrap();
        assert_eq!(plan.session_token_seconds, 5400);
        assert_eq!(
            plan.credentials_seconds, 7200,
            "the profile's own setting wins"
        );
        let plan = files.plan("default", &env).unwrap();
        assert_eq!(plan.credentials_seconds, 2700);
    }

    #[test]
    fn other_sources() {
        let (_dir, files) = files();
        let env = Environment::default();
        assert!(matches!(
            files.plan("proc", &env).unwrap().base,
            Base::Process { .. }
        ));
        let plan = files.plan("web", &env).unwrap();
        assert!(
            matches!(plan.base, Base::WebIdentity { ref token_file, .. } if token_file == Path::new("/var/run/token"))
        );
        let plan = files.plan("self", &env).unwrap();
        assert!(
            matches!(plan.base, Base::Static { ref access_key_id, .. } if access_key_id == "AKIASELF")
        );
        assert_eq!(plan.roles.len(), 1);
    }

    fn sign_in_files(text: &str) -> (tempfile::TempDir, ConfigFiles) {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        std::fs::write(&config, text).unwrap();
        let files = ConfigFiles::load(&config, &dir.path().join("credentials")).unwrap();
        (dir, files)
    }

    #[test]
    fn saml_profiles_as_aws_runas_writes_them() {
        let (_dir, files) = sign_in_files(
            "[default]\nsaml_auth_url = https://idp.example/saml/aws\n\
             saml_username = alice\n\n\
             [profile named]\nrole_arn = arn:aws:iam::123456789012:role/dev\n\n\
             [profile open]\nregion = eu-west-1\n\n\
             [profile jumped]\nrole_arn = arn:aws:iam::123456789012:role/admin\n\
             jump_role_arn = arn:aws:iam::123456789012:role/jump\n\n\
             [profile keys]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = s\n\n\
             [profile plain]\nrole_arn = arn:aws:iam::123456789012:role/dev\n\
             saml_auth_url = http://idp.example/saml\n",
        );
        let env = Environment::default();
        let plan = files.plan("named", &env).unwrap();
        let Base::Saml { provider, role } = &plan.base else {
            panic!("{plan:?}")
        };
        assert_eq!(provider.auth_url.as_str(), "https://idp.example/saml/aws");
        assert_eq!(
            provider.username.as_deref(),
            Some("alice"),
            "from [default]"
        );
        assert_eq!(
            role.as_ref().unwrap().role_arn.as_str(),
            "arn:aws:iam::123456789012:role/dev"
        );

        // No role: one the assertion offers.
        let plan = files.plan("open", &env).unwrap();
        assert!(
            matches!(&plan.base, Base::Saml { role: None, .. }),
            "{plan:?}"
        );

        let plan = files.plan("jumped", &env).unwrap();
        let Base::Saml { role, .. } = &plan.base else {
            panic!("{plan:?}")
        };
        assert_eq!(
            role.as_ref().unwrap().role_arn.as_str(),
            "arn:aws:iam::123456789012:role/jump"
        );
        assert_eq!(plan.roles.len(), 1);

        // Keys of its own win over [default]'s sign-in.
        let plan = files.plan("keys", &env).unwrap();
        assert!(matches!(plan.base, Base::Static { .. }), "{plan:?}");

        let err = files.plan("plain", &env).unwrap_err().to_string();
        assert!(
            err.contains("saml_auth_url") && err.contains("https"),
            "{err}"
        );

        // The environment stands in for keys no file sets.
        let (_dir, files) = sign_in_files("[profile env]\nregion = eu-west-1\n");
        let env = Environment::from_pairs([
            ("SAML_AUTH_URL", "https://idp.example/ecp"),
            ("SAML_USERNAME", "bob"),
            ("SAML_PROVIDER", "keycloak"),
        ]);
        let plan = files.plan("env", &env).unwrap();
        let Base::Saml {
            provider,
            role: None,
        } = &plan.base
        else {
            panic!("{plan:?}")
        };
        assert_eq!(provider.username.as_deref(), Some("bob"));
        assert_eq!(provider.provider.as_deref(), Some("keycloak"));
        assert!(matches!(
            files.plan("env", &Environment::default()),
            Err(ProfileError::NoCredentials(_))
        ));
    }

    #[test]
    fn sign_in_profiles_as_aws_runas_writes_them() {
        let (_dir, files) = sign_in_files(
            "[default]\nweb_identity_auth_url = https://idp.example/realms/r\n\
             web_identity_client_id = app\n\n\
             [profile direct]\nrole_arn = arn:aws:iam::123456789012:role/web\n\
             web_identity_username = alice\n\n\
             [profile jumped]\nrole_arn = arn:aws:iam::123456789012:role/admin\n\
             jump_role_arn = arn:aws:iam::123456789012:role/jump\n\n\
             [profile chained]\nrole_arn = arn:aws:iam::123456789012:role/auditor\n\
             source_profile = direct\n\n\
             [profile local]\nrole_arn = arn:aws:iam::123456789012:role/web\n\
             web_identity_auth_url = http://idp.example/realms/r\n",
        );
        let env = Environment::default();
        let plan = files.plan("direct", &env).unwrap();
        let Base::SignIn { provider, role } = &plan.base else {
            panic!("{plan:?}")
        };
        assert_eq!(provider.issuer.as_str(), "https://idp.example/realms/r");
        assert_eq!(provider.client_id, "app", "inherited from [default]");
        assert_eq!(provider.username.as_deref(), Some("alice"));
        assert_eq!(role.role_arn.as_str(), "arn:aws:iam::123456789012:role/web");
        assert!(plan.roles.is_empty());

        let plan = files.plan("jumped", &env).unwrap();
        let Base::SignIn { role, .. } = &plan.base else {
            panic!("{plan:?}")
        };
        assert_eq!(
            role.role_arn.as_str(),
            "arn:aws:iam::123456789012:role/jump"
        );
        let roles: Vec<&str> = plan.roles.iter().map(|r| r.role_arn.as_str()).collect();
        assert_eq!(roles, ["arn:aws:iam::123456789012:role/admin"]);

        let plan = files.plan("chained", &env).unwrap();
        assert!(matches!(plan.base, Base::SignIn { .. }));
        assert_eq!(plan.roles.len(), 1);

        let err = files.plan("local", &env).unwrap_err().to_string();
        assert!(
            err.contains("https (http only on a loopback address)"),
            "{err}"
        );

        // The environment stands in for keys no file sets.
        let env = Environment::from_pairs([
            ("WEB_IDENTITY_USERNAME", "bob"),
            ("JUMP_ROLE_ARN", "arn:aws:iam::123456789012:role/jump"),
        ]);
        let plan = files.plan("direct", &env).unwrap();
        let Base::SignIn { provider, role } = &plan.base else {
            panic!("{plan:?}")
        };
        assert_eq!(provider.username.as_deref(), Some("alice"), "the file wins");
        assert_eq!(
            role.role_arn.as_str(),
            "arn:aws:iam::123456789012:role/jump"
        );

        let (_dir, files) = sign_in_files(
            "[profile x]\nrole_arn = arn:aws:iam::123456789012:role/web\n\
             web_identity_auth_url = https://idp.example\n\
             web_identity_redirect_uri = https://app.example/cb\n",
        );
        let err = files
            .plan("x", &Environment::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("without web_identity_client_id"), "{err}");
        let env = Environment::from_pairs([("WEB_IDENTITY_CLIENT_ID", "app")]);
        let err = files.plan("x", &env).unwrap_err().to_string();
        assert!(
            err.contains("web_identity_redirect_uri") && err.contains("loopback"),
            "{err}"
        );
    }

    #[test]
    fn errors_name_the_profile_and_cause() {
        let (_dir, files) = files();
        let env = Environment::default();
        let err = files.plan("loop-a", &env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "profiles loop through source_profile: loop-a -> loop-b -> loop-a"
        );
        let err = files.plan("nope", &env).unwrap_err();
        assert!(err.to_string().contains("\"nope\""), "{err}");
        let err = files.plan("half", &env).unwrap_err();
        assert!(
            err.to_string()
                .contains("has aws_access_key_id without aws_secret_access_key"),
            "{err}"
        );
        assert!(!files.names().contains(&"corp".to_owned()));
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        std::fs::write(&config, "[default]\nregion = x\nthis is not ini\n").unwrap();
        let err = ConfigFiles::load(&config, &dir.path().join("none")).unwrap_err();
        assert!(
            err.to_string().ends_with(
                "config line 3: expected `key = value`, a [section], a comment or a blank line"
            ),
            "{err}"
        );
    }

    /// The profile reader and the credentials-file editor once disagreed on this line: one
    /// read section `work`, the other refused the file.
    #[test]
    fn regression_text_after_a_section_header_is_refused_by_both_readers() {
        let dir = tempfile::tempdir().unwrap();
        let credentials = dir.path().join("credentials");
        let text = "[work] trailing words\naws_access_key_id = AKIA\n";
        std::fs::write(&credentials, text).unwrap();
        let err = ConfigFiles::load(&dir.path().join("none"), &credentials).unwrap_err();
        assert!(
            err.to_string().contains("credentials line 1: text after"),
            "{err}"
        );
        let keys = crate::credentials::Credentials {
            access_key_id: "AKIA".into(),
            secret_access_key: Secret::new("s"),
            session_token: None,
            expiration: None,
            role_arn: None,
        };
        let edited = super::super::credentials_file::set_profile(text, "work", &keys, &credentials);
        assert!(edited.is_err(), "{edited:?}");
    }

    #[test]
    fn without_home_the_files_must_be_named() {
        let env = Environment::default();
        assert_eq!(ConfigFiles::paths(&env), Err(ProfileError::NoHome));
        let env = Environment {
            config_file: Some("/c".into()),
            shared_credentials_file: Some("/k".into()),
            ..Environment::default()
        };
        assert_eq!(ConfigFiles::paths(&env), Ok(("/c".into(), "/k".into())));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3600"), Ok(3600));
        assert_eq!(parse_duration("90m"), Ok(5400));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration("12h"), Ok(43200));
        assert_eq!(parse_duration("15m30s"), Ok(930));
        for bad in ["", "h", "1d", "1h30", "-5"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    fn sso_files(config: &str) -> (tempfile::TempDir, ConfigFiles) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, config).unwrap();
        let files = ConfigFiles::load(&path, &dir.path().join("credentials")).unwrap();
        (dir, files)
    }

    const SSO_CONFIG: &str = "\
[profile dev]
sso_session = corp
sso_account_id = 111122223333
sso_role_name = Developer
region = eu-west-1
aws_access_key_id = AKIAIGNORED
aws_secret_access_key = ignored

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = eu-west-1
sso_registration_scopes = sso:account:access, openid
  nested = ignored

[profile legacy]
sso_start_url = https://corp.awsapps.com/start
sso_region = us-east-2
sso_account_id = 111122223333
sso_role_name = ReadOnly

[profile chained]
role_arn = arn:aws:iam::111122223333:role/admin
source_profile = dev

[profile agreeing]
sso_session = corp
sso_start_url = https://corp.awsapps.com/start
sso_account_id = 111122223333
sso_role_name = Developer

[profile mismatch]
sso_session = corp
sso_region = us-west-2
sso_account_id = 111122223333
sso_role_name = Developer

[profile no-session]
sso_session = gone
sso_account_id = 111122223333
sso_role_name = Developer

[profile no-role]
sso_session = corp
sso_account_id = 111122223333

[profile half-legacy]
sso_start_url = https://corp.awsapps.com/start
sso_account_id = 111122223333
sso_role_name = Developer

[profile bad-account]
sso_session = corp
sso_account_id = 1111
sso_role_name = Developer

[sso-session empty]
sso_region = eu-west-1

[profile empty-session]
sso_session = empty
sso_account_id = 111122223333
sso_role_name = Developer
";

    #[test]
    fn sso_session_and_legacy_profiles() {
        let (_dir, files) = sso_files(SSO_CONFIG);
        let env = Environment::default();
        assert!(
            !files.names().iter().any(|n| n.contains("corp")),
            "{:?}",
            files.names()
        );
        let plan = files.plan("dev", &env).unwrap();
        let Base::Sso(sso) = &plan.base else {
            panic!("{:?}", plan.base)
        };
        assert_eq!(
            sso,
            &SsoProfile {
                session: Some("corp".into()),
                start_url: "https://corp.awsapps.com/start".into(),
                region: "eu-west-1".parse().unwrap(),
                account_id: "111122223333".into(),
                role_name: "Developer".into(),
                registration_scopes: Some(vec!["sso:account:access".into(), "openid".into()]),
            }
        );
        let plan = files.plan("legacy", &env).unwrap();
        let Base::Sso(sso) = &plan.base else {
            panic!("{:?}", plan.base)
        };
        assert_eq!(sso.session, None);
        assert_eq!(sso.region.as_str(), "us-east-2");
        assert_eq!(sso.registration_scopes, None);
        let plan = files.plan("chained", &env).unwrap();
        assert!(matches!(plan.base, Base::Sso(_)));
        assert_eq!(plan.base_profile, "dev");
        assert_eq!(plan.roles.len(), 1);
        assert!(matches!(
            files.plan("agreeing", &env).unwrap().base,
            Base::Sso(_)
        ));
    }

    #[test]
    fn sso_refusals_name_what_is_wrong() {
        let (_dir, files) = sso_files(SSO_CONFIG);
        let env = Environment::default();
        let error = |profile: &str| files.plan(profile, &env).unwrap_err().to_string();
        assert!(
            error("mismatch").contains("sso_region = \"us-west-2\" differs"),
            "{}",
            error("mismatch")
        );
        assert!(error("no-session").contains("no [sso-session gone] section"));
        assert!(error("no-role").contains("no sso_role_name"));
        assert!(error("half-legacy").contains("no sso_region"));
        assert!(error("bad-account").contains("sso_account_id = \"1111\" is invalid"));
        assert!(
            error("empty-session").contains("no sso_start_url (in [sso-session empty])"),
            "{}",
            error("empty-session")
        );
    }
}
