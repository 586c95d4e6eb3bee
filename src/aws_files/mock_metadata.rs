//! aws-mock-metadata's configuration (`~/.aws-mock-metadata/config`, or its `server.conf`)
//! read into the same [`Plan`]s as `~/.aws` profiles, so the desktop servers serve its
//! profiles through the one profile source, cache and fronts.
//!
//! The file is ini, read line by line with the shared lexer ([`super::ini`]):
//!
//! * `[aws]`: `access_key`, `secret_key`, `region` (default `us-east-1`), `mfa_enabled`
//!   (yes/no), `mfa_secret` (base32 TOTP secret of a virtual MFA device).
//! * `[metadata]`: `host` (default `169.254.169.254`), `port` (default 45000),
//!   `token_duration` (seconds), `role_arn` (may name `${aws:username}`), `profile` (the
//!   profile served first, default `default`).
//! * `[profile:NAME]`: the same per-profile keys; what a profile leaves out comes from
//!   `[aws]` and `[metadata]`, which together are also the profile `default`. A key given
//!   empty in a profile (`role_arn =`) clears the default.
//!
//! Its semantics, kept here: without `role_arn` credentials come from GetSessionToken, with
//! one from AssumeRole; `${aws:username}` in the role ARN is the name of the user whose keys
//! call (the source asks STS GetCallerIdentity); `token_duration` is at least 15 minutes and
//! at most 36 hours for session tokens and 1 hour for roles (defaults 12 hours and 1 hour);
//! with `mfa_enabled`, codes come from `mfa_secret` or from a person (out of band, as for
//! every profile). aws-mock-metadata looked the MFA device up in IAM; here it is the user's
//! virtual device named after them ([`CALLER_MFA_SERIAL`], resolved by the source), or
//! `mfa_serial` when the file gives one (an addition of ours). Without keys, the process's
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` are used.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::ini::{self, Line};
use super::profiles::{Base, MfaConfig, Plan, ProfileError, RoleStep};
use crate::arn::{Region, RoleArn};
use crate::secret::Secret;
use crate::system::env::Environment;

/// The variable of a role ARN that stands for the calling user's name.
pub const USERNAME_VARIABLE: &str = "${aws:username}";
/// The variable of an MFA serial that stands for the calling user's account.
pub const ACCOUNT_VARIABLE: &str = "${aws:accountid}";
/// The MFA device of a profile with `mfa_enabled` and no `mfa_serial`: the caller's virtual
/// device, named after the user as the IAM console names it by default.
pub const CALLER_MFA_SERIAL: &str = "arn:aws:iam::${aws:accountid}:mfa/${aws:username}";

/// aws-mock-metadata's default port.
pub const DEFAULT_PORT: u16 = 45000;
/// aws-mock-metadata's default address: the one SDKs look at.
pub const DEFAULT_HOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(169, 254, 169, 254));

const MIN_SECONDS: u32 = 900;
const SESSION_TOKEN_DEFAULT_SECONDS: u32 = 43200;
const SESSION_TOKEN_MAX_SECONDS: u32 = 129_600;
const ROLE_DEFAULT_SECONDS: u32 = 3600;
const ROLE_MAX_SECONDS: u32 = 3600;

/// The profile the `[aws]` and `[metadata]` sections make.
pub const DEFAULT_PROFILE: &str = "default";

type Settings = BTreeMap<String, String>;

/// A parsed aws-mock-metadata configuration file.
#[derive(Debug, Clone, Default)]
pub struct MockMetadataConfig {
    pub path: PathBuf,
    aws: Settings,
    metadata: Settings,
    profiles: BTreeMap<String, Settings>,
}

impl MockMetadataConfig {
    /// `~/.aws-mock-metadata/config`, where aws-mock-metadata's users keep it.
    pub fn default_path(env: &Environment) -> Option<PathBuf> {
        Some(env.home.as_ref()?.join(".aws-mock-metadata").join("config"))
    }

    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|e| ProfileError::Read {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        Self::parse(path, &text)
    }

    /// Parses `text` (read from `path`, which errors name).
    pub fn parse(path: &Path, text: &str) -> Result<Self, ProfileError> {
        let mut config = Self {
            path: path.to_owned(),
            ..Self::default()
        };
        // Where settings go: `None` before any section and in sections not ours.
        let mut current: Option<&mut Settings> = None;
        let mut in_section = false;
        for (index, raw) in text.lines().enumerate() {
            let error = |reason: String| ProfileError::Syntax {
                path: path.to_owned(),
                line: index + 1,
                reason,
            };
            match ini::lex(raw).map_err(|e| error(e.to_owned()))? {
                Line::Blank | Line::Continuation if in_section => {}
                Line::Blank => {}
                Line::Continuation => {
                    return Err(error("an indented line outside any [section]".into()));
                }
                Line::Section(name) => {
                    in_section = true;
                    current = match name {
                        "aws" => Some(&mut config.aws),
                        "metadata" => Some(&mut config.metadata),
                        _ => match name.strip_prefix("profile:").map(str::trim) {
                            Some("") => {
                                return Err(error(
                                    "a [profile:NAME] section without a name".into(),
                                ));
                            }
                            Some(profile) => {
                                Some(config.profiles.entry(profile.to_owned()).or_default())
                            }
                            // Sections of other tools: not ours to read.
                            None => None,
                        },
                    };
                }
                Line::Setting { key, value } => {
                    if !in_section {
                        return Err(error("a setting before any [section]".into()));
                    }
                    if let Some(settings) = current.as_deref_mut() {
                        settings.insert(key.to_ascii_lowercase(), value.to_owned());
                    }
                }
            }
        }
        Ok(config)
    }

    /// Profile names, sorted; `default` is always one.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.profiles.keys().cloned().collect();
        if !self.profiles.contains_key(DEFAULT_PROFILE) {
            names.push(DEFAULT_PROFILE.to_owned());
            names.sort();
        }
        names
    }

    /// Whether `name` assumes a role.
    pub fn is_role(&self, name: &str) -> bool {
        (self.profiles.contains_key(name) || name == DEFAULT_PROFILE)
            && self.get(name, "role_arn").is_some()
    }

    /// The profile served first: `profile` of `[metadata]`, else `default`.
    pub fn initial_profile(&self) -> String {
        non_empty(self.metadata.get("profile"))
            .unwrap_or(DEFAULT_PROFILE)
            .to_owned()
    }

    /// The address to listen on: `host` (default 169.254.169.254) and `port` (45000).
    pub fn listen_addr(&self) -> Result<std::net::SocketAddr, ProfileError> {
        let host = match non_empty(self.metadata.get("host")) {
            Some(host) => {
                // aws-mock-metadata's users may write `localhost`.
                let host = if host.eq_ignore_ascii_case("localhost") {
                    "127.0.0.1"
                } else {
                    host
                };
                IpAddr::from_str(host).map_err(|e| self.bad("metadata", "host", host, e))?
            }
            None => DEFAULT_HOST,
        };
        let port = match non_empty(self.metadata.get("port")) {
            Some(port) => u16::from_str(port).map_err(|e| self.bad("metadata", "port", port, e))?,
            None => DEFAULT_PORT,
        };
        Ok(std::net::SocketAddr::new(host, port))
    }

    /// The port to listen on (45000 unless the file says).
    pub fn port(&self) -> Result<u16, ProfileError> {
        Ok(self.listen_addr()?.port())
    }

    fn bad(
        &self,
        section: &str,
        key: &'static str,
        value: &str,
        reason: impl std::fmt::Display,
    ) -> ProfileError {
        ProfileError::BadValue {
            profile: format!("{} [{section}]", self.path.display()),
            key,
            value: value.to_owned(),
            reason: reason.to_string(),
        }
    }

    /// `key` of profile `name`: its own section's (an empty value clears it), else the
    /// `[aws]`/`[metadata]` default.
    fn get(&self, name: &str, key: &str) -> Option<&str> {
        if let Some(value) = self.profiles.get(name).and_then(|p| p.get(key)) {
            return non_empty(Some(value));
        }
        non_empty(self.aws.get(key).or_else(|| self.metadata.get(key)))
    }

    /// The plan of profile `name`, in aws-mock-metadata's semantics.
    pub fn plan(&self, name: &str, _env: &Environment) -> Result<Plan, ProfileError> {
        if !self.profiles.contains_key(name) && name != DEFAULT_PROFILE {
            return Err(ProfileError::Unknown(name.to_owned()));
        }
        let bad = |key: &'static str, value: &str, reason: String| ProfileError::BadValue {
            profile: name.to_owned(),
            key,
            value: value.to_owned(),
            reason,
        };
        let base = match (self.get(name, "access_key"), self.get(name, "secret_key")) {
            (Some(key), Some(secret)) => Base::Static {
                access_key_id: key.to_owned(),
                secret_access_key: Secret::new(secret),
                session_token: None,
            },
            // As aws-mock-metadata fell back on boto's discovery: the process's keys.
            (None, None) => Base::Environment,
            (Some(_), None) => {
                return Err(ProfileError::HalfKeys {
                    profile: name.to_owned(),
                    present: "access_key",
                    missing: "secret_key",
                });
            }
            (None, Some(_)) => {
                return Err(ProfileError::HalfKeys {
                    profile: name.to_owned(),
                    present: "secret_key",
                    missing: "access_key",
                });
            }
        };
        let region = match self.get(name, "region") {
            Some(region) => {
                Region::from_str(region).map_err(|e| bad("region", region, e.to_string()))?
            }
            None => Region::us_east_1(),
        };
        let totp_secret = self.get(name, "mfa_secret").map(Secret::new);
        let mfa_enabled = match self.get(name, "mfa_enabled") {
            Some(value) => parse_bool(value).ok_or_else(|| {
                bad(
                    "mfa_enabled",
                    value,
                    "expected yes or no (also true/false, on/off, 1/0)".into(),
                )
            })?,
            // A secret says there is a device to use.
            None => totp_secret.is_some(),
        };
        let mfa = mfa_enabled.then(|| MfaConfig {
            serial: self
                .get(name, "mfa_serial")
                .unwrap_or(CALLER_MFA_SERIAL)
                .to_owned(),
            totp_secret,
        });
        let roles = match self.get(name, "role_arn") {
            Some(arn) => vec![RoleStep {
                profile: name.to_owned(),
                role_arn: RoleArn::from_str(arn)
                    .map_err(|e| bad("role_arn", arn, e.to_string()))?,
                external_id: None,
                session_name: None,
            }],
            None => Vec::new(),
        };
        let token_duration = self
            .get(name, "token_duration")
            .map(|value| {
                value
                    .parse::<u32>()
                    .map_err(|_| bad("token_duration", value, "expected seconds".into()))
            })
            .transpose()?;
        let clamp =
            |default: u32, max: u32| token_duration.unwrap_or(default).clamp(MIN_SECONDS, max);
        Ok(Plan {
            profile: name.to_owned(),
            base_profile: name.to_owned(),
            base,
            mfa,
            // The MFA session of a role profile keeps its 12 hours: a person types codes
            // less often, and the role's own lifetime is the one the file sets.
            session_token_seconds: if roles.is_empty() {
                clamp(SESSION_TOKEN_DEFAULT_SECONDS, SESSION_TOKEN_MAX_SECONDS)
            } else {
                SESSION_TOKEN_DEFAULT_SECONDS
            },
            credentials_seconds: clamp(ROLE_DEFAULT_SECONDS, ROLE_MAX_SECONDS),
            roles,
            region: Some(region),
            endpoint_url: None,
        })
    }
}

fn non_empty(value: Option<&String>) -> Option<&str> {
    value.map(String::as_str).filter(|v| !v.is_empty())
}

/// Python ConfigParser's booleans, which aws-mock-metadata's users wrote.
fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Some(true),
        "no" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// `template` with `${aws:username}` and `${aws:accountid}` filled from the caller's ARN
/// (`arn:PARTITION:iam::ACCOUNT:user/PATH/NAME`); `None` when the ARN is not a user's.
pub fn fill_caller(template: &str, caller_arn: &str) -> Option<String> {
    // arn, partition, service, region, account, resource.
    let parts: Vec<&str> = caller_arn.splitn(6, ':').collect();
    let ["arn", _, "iam", _, account, resource] = parts[..] else {
        return None;
    };
    let user = resource.strip_prefix("user/")?;
    let name = user.rsplit('/').next().filter(|n| !n.is_empty())?;
    Some(
        template
            .replace(USERNAME_VARIABLE, name)
            .replace(ACCOUNT_VARIABLE, account),
    )
}

/// Whether `text` names a caller variable a source must fill before use.
pub fn names_caller(text: &str) -> bool {
    text.contains(USERNAME_VARIABLE) || text.contains(ACCOUNT_VARIABLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of aws-mock-metadata's documentation, with values in place of `...`.
    const EXAMPLE: &str = "\
[aws]
access_key=AKIAEXAMPLEBOB000001 # Optional. Access key to generate temp keys with.
                                 # If not provided, the service falls back on boto's
                                 # credential discovery.
secret_key=bobsecret
region=us-east-1 # Optional.
mfa_enabled=yes # Optional. Enable generation of credentials using MFA.
mfa_secret=JBSWY3DPEHPK3PXP

[metadata]
host=169.254.169.254 # Optional. Interface to bind to.
port=45000 # Optional. Port to bind to. Default is 45000.
token_duration=43200 # Optional. Timeout, in seconds, for the generated
                     # keys. Minimum is 15 minutes.
role_arn=arn:aws:iam::123456789012:role/${aws:username}
                     # Optional. ARN of a role to assume.
profile=other # Name of the initial profile to select.

[profile:other]
access_key=AKIAOTHER
secret_key=othersecret
mfa_enabled=no
role_arn=
token_duration=999999

[profile:short]
token_duration=60
region=eu-west-1
mfa_enabled=off
";

    fn example() -> MockMetadataConfig {
        MockMetadataConfig::parse(Path::new("/home/u/.aws-mock-metadata/config"), EXAMPLE).unwrap()
    }

    #[test]
    fn the_documented_example() {
        let config = example();
        assert_eq!(config.names(), ["default", "other", "short"]);
        assert_eq!(config.initial_profile(), "other");
        assert_eq!(
            config.listen_addr().unwrap(),
            "169.254.169.254:45000".parse().unwrap()
        );
        let env = Environment::default();

        let plan = config.plan("default", &env).unwrap();
        assert!(
            matches!(plan.base, Base::Static { ref access_key_id, .. } if access_key_id == "AKIAEXAMPLEBOB000001")
        );
        assert_eq!(
            plan.roles[0].role_arn.as_str(),
            "arn:aws:iam::123456789012:role/${aws:username}"
        );
        let mfa = plan.mfa.as_ref().unwrap();
        assert_eq!(mfa.serial, CALLER_MFA_SERIAL);
        assert_eq!(
            mfa.totp_secret.as_ref().unwrap().expose(),
            "JBSWY3DPEHPK3PXP"
        );
        // 12 hours asked for a role: clamped to its hour.
        assert_eq!(plan.credentials_seconds, 3600);
        assert!(config.is_role("default"));

        let plan = config.plan("other", &env).unwrap();
        assert!(
            plan.roles.is_empty(),
            "an empty role_arn clears the default"
        );
        assert!(plan.mfa.is_none());
        assert!(!config.is_role("other"));
        assert_eq!(plan.session_token_seconds, 129_600, "clamped to 36 hours");

        let plan = config.plan("short", &env).unwrap();
        assert_eq!(plan.credentials_seconds, 900, "at least 15 minutes");
        assert_eq!(plan.region.unwrap().as_str(), "eu-west-1");
        assert!(
            matches!(plan.base, Base::Static { ref access_key_id, .. } if access_key_id == "AKIAEXAMPLEBOB000001"),
            "keys come from [aws]"
        );
        assert!(plan.mfa.is_none());
    }

    #[test]
    fn defaults_of_an_almost_empty_file() {
        let config = MockMetadataConfig::parse(Path::new("c"), "[aws]\n").unwrap();
        assert_eq!(config.names(), ["default"]);
        assert_eq!(config.initial_profile(), "default");
        assert_eq!(config.port().unwrap(), 45000);
        let plan = config.plan("default", &Environment::default()).unwrap();
        assert_eq!(plan.base, Base::Environment);
        assert!(plan.roles.is_empty() && plan.mfa.is_none());
        assert_eq!(plan.session_token_seconds, 43200);
        assert_eq!(plan.region.unwrap().as_str(), "us-east-1");
        // A secret alone turns MFA on.
        let config =
            MockMetadataConfig::parse(Path::new("c"), "[aws]\nmfa_secret = ABC\n").unwrap();
        let plan = config.plan("default", &Environment::default()).unwrap();
        assert!(plan.mfa.is_some());
    }

    #[test]
    fn errors_name_the_line_or_the_setting() {
        let err = MockMetadataConfig::parse(Path::new("c"), "[aws]\njust words\n").unwrap_err();
        assert!(err.to_string().starts_with("c line 2: expected"), "{err}");
        let err = MockMetadataConfig::parse(Path::new("c"), "port = 1\n").unwrap_err();
        assert!(err.to_string().contains("before any [section]"), "{err}");
        let err = MockMetadataConfig::parse(Path::new("c"), "[profile:]\n").unwrap_err();
        assert!(err.to_string().contains("without a name"), "{err}");

        let config = MockMetadataConfig::parse(
            Path::new("c"),
            "[aws]\naccess_key = A\nmfa_enabled = maybe\n[metadata]\nport = 99999\n\
             [profile:x]\nsecret_key = s\nrole_arn = role/x\n[profile:y]\ntoken_duration = 1h\n",
        )
        .unwrap();
        let env = Environment::default();
        let err = config.plan("default", &env).unwrap_err();
        assert!(
            err.to_string().contains("access_key without secret_key"),
            "{err}"
        );
        let err = config.plan("x", &env).unwrap_err();
        assert!(err.to_string().contains("mfa_enabled"), "{err}");
        let err = config.port().unwrap_err();
        assert!(err.to_string().contains("port = \"99999\""), "{err}");
        let err = config.plan("nope", &env).unwrap_err();
        assert_eq!(err, ProfileError::Unknown("nope".into()));
    }

    #[test]
    fn other_sections_are_skipped() {
        let config = MockMetadataConfig::parse(
            Path::new("c"),
            "[server]\nanything = goes\n  indented\n[profile:a]\nregion = us-west-2\n",
        )
        .unwrap();
        assert_eq!(config.names(), ["a", "default"]);
    }

    #[test]
    fn caller_variables() {
        let arn = "arn:aws:iam::123456789012:user/team/alice";
        assert_eq!(
            fill_caller("arn:aws:iam::123456789012:role/${aws:username}", arn).as_deref(),
            Some("arn:aws:iam::123456789012:role/alice")
        );
        assert_eq!(
            fill_caller(CALLER_MFA_SERIAL, arn).as_deref(),
            Some("arn:aws:iam::123456789012:mfa/alice")
        );
        assert_eq!(
            fill_caller(
                CALLER_MFA_SERIAL,
                "arn:aws:sts::123456789012:assumed-role/r/s"
            ),
            None
        );
        assert_eq!(fill_caller(CALLER_MFA_SERIAL, "nonsense"), None);
        assert!(names_caller(CALLER_MFA_SERIAL));
        assert!(!names_caller("arn:aws:iam::123456789012:mfa/alice"));
    }
}
