//! Parsed AWS names: ARNs of trust anchors, profiles and roles, regions, session durations
//! and session names. Raw strings from flags, files and the environment are converted here
//! once; the rest of the program holds values that cannot be malformed.
//!
//! ARN syntax: `arn:<partition>:<service>:<region>:<account>:<resource>`
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html>).

use std::fmt;
use std::str::FromStr;

/// Why a name was refused. Each variant carries the text that was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "{kind} {value:?} is not an ARN (expected arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE)"
    )]
    NotAnArn { kind: &'static str, value: String },
    #[error("{kind} {value:?} names service {service:?}; expected {expected:?}")]
    WrongService {
        kind: &'static str,
        value: String,
        service: String,
        expected: &'static str,
    },
    #[error("{kind} {value:?} has resource {resource:?}; expected {expected}")]
    WrongResource {
        kind: &'static str,
        value: String,
        resource: String,
        expected: &'static str,
    },
    #[error("{kind} {value:?} has account {account:?}; expected 12 digits")]
    BadAccount {
        kind: &'static str,
        value: String,
        account: String,
    },
    #[error("{kind} {value:?} has no region")]
    MissingRegion { kind: &'static str, value: String },
    #[error("region {0:?} is not a valid AWS region name (like us-east-1)")]
    BadRegion(String),
    #[error(
        "session duration {0} is out of range: IAM Roles Anywhere accepts 900 to 43200 seconds"
    )]
    DurationOutOfRange(u64),
    #[error(
        "role session name {0:?} is invalid: use 2 to 64 letters, digits or the characters +=,.@_-"
    )]
    BadSessionName(String),
}

/// The six fields of an ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Arn {
    partition: String,
    service: String,
    region: String,
    account: String,
    resource: String,
}

impl Arn {
    fn parse(kind: &'static str, value: &str) -> Result<Self, NameError> {
        let not_an_arn = || NameError::NotAnArn {
            kind,
            value: value.to_owned(),
        };
        let mut parts = value.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some(service),
            Some(region),
            Some(account),
            Some(resource),
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return Err(not_an_arn());
        };
        if !partition.starts_with("aws") || service.is_empty() || resource.is_empty() {
            return Err(not_an_arn());
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NameError::BadAccount {
                kind,
                value: value.to_owned(),
                account: account.to_owned(),
            });
        }
        Ok(Self {
            partition: partition.to_owned(),
            service: service.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            resource: resource.to_owned(),
        })
    }

    fn expect(
        self,
        kind: &'static str,
        value: &str,
        service: &'static str,
        resource_prefix: &'static str,
    ) -> Result<Self, NameError> {
        if self.service != service {
            return Err(NameError::WrongService {
                kind,
                value: value.to_owned(),
                service: self.service,
                expected: service,
            });
        }
        let id = self.resource.strip_prefix(resource_prefix).unwrap_or("");
        if id.is_empty() {
            return Err(NameError::WrongResource {
                kind,
                value: value.to_owned(),
                resource: self.resource,
                expected: resource_prefix,
            });
        }
        Ok(self)
    }
}

/// Field `index` of an ARN already checked by [`Arn::parse`] (0 is `arn`, 5 the resource,
/// which may hold colons).
fn arn_field(text: &str, index: usize) -> &str {
    text.splitn(6, ':').nth(index).unwrap_or_default()
}

/// The partition and account of any ARN (an MFA device's, an assumed role's), if it is one.
pub fn partition_and_account(value: &str) -> Option<(String, String)> {
    let arn = Arn::parse("ARN", value).ok()?;
    Some((arn.partition, arn.account))
}

macro_rules! arn_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $service:literal, $prefix:literal, regional: $regional:literal) => {
        $(#[$doc])*
        // Only the text is kept: every binding holds several ARNs, and five copies of their
        // fields besides cost more than finding a field again when asked (issue 21).
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            text: String,
        }

        impl $name {
            /// The ARN as text.
            pub fn as_str(&self) -> &str {
                &self.text
            }
            /// The 12-digit account ID.
            pub fn account(&self) -> &str {
                arn_field(&self.text, 4)
            }
            /// The partition (`aws`, `aws-cn`, `aws-us-gov`, ...).
            pub fn partition(&self) -> &str {
                arn_field(&self.text, 1)
            }
        }

        impl FromStr for $name {
            type Err = NameError;
            fn from_str(value: &str) -> Result<Self, NameError> {
                let arn = Arn::parse($kind, value)?.expect($kind, value, $service, $prefix)?;
                if $regional && arn.region.is_empty() {
                    return Err(NameError::MissingRegion { kind: $kind, value: value.to_owned() });
                }
                Ok(Self { text: value.to_owned() })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.text)
            }
        }
    };
}

arn_type!(
    /// `arn:aws:rolesanywhere:REGION:ACCOUNT:trust-anchor/ID`
    TrustAnchorArn, "trust anchor ARN", "rolesanywhere", "trust-anchor/", regional: true
);
arn_type!(
    /// `arn:aws:rolesanywhere:REGION:ACCOUNT:profile/ID`
    ProfileArn, "profile ARN", "rolesanywhere", "profile/", regional: true
);
arn_type!(
    /// `arn:aws:iam::ACCOUNT:role/PATH/NAME`
    RoleArn, "role ARN", "iam", "role/", regional: false
);
arn_type!(
    /// `arn:aws:iam::ACCOUNT:saml-provider/NAME`: an account's trust in a SAML identity
    /// provider (AssumeRoleWithSAML's `PrincipalArn`).
    SamlProviderArn, "SAML provider ARN", "iam", "saml-provider/", regional: false
);

impl TrustAnchorArn {
    /// The region of the trust anchor, the default region for CreateSession.
    pub fn region(&self) -> Region {
        // Checked non-empty at parse time; a malformed region falls back to the text so the
        // endpoint error names it.
        let region = arn_field(&self.text, 3);
        Region::from_str(region).unwrap_or_else(|_| Region(region.to_owned()))
    }
}

/// An AWS region name such as `us-east-1` or `cn-north-1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Region(String);

impl Region {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `us-east-1`, where AWS tools go when nothing names a region.
    pub fn us_east_1() -> Self {
        Self("us-east-1".to_owned())
    }
}

impl FromStr for Region {
    type Err = NameError;
    fn from_str(value: &str) -> Result<Self, NameError> {
        let ok = !value.is_empty()
            && value.len() <= 64
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !value.starts_with('-')
            && !value.ends_with('-');
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(NameError::BadRegion(value.to_owned()))
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A CreateSession duration: 900 to 43200 seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionDuration(u32);

impl SessionDuration {
    pub const MIN: u32 = 900;
    pub const MAX: u32 = 43200;
    /// One hour, the service's default.
    pub const DEFAULT: Self = Self(3600);

    pub fn new(seconds: u64) -> Result<Self, NameError> {
        match u32::try_from(seconds) {
            Ok(s) if (Self::MIN..=Self::MAX).contains(&s) => Ok(Self(s)),
            _ => Err(NameError::DurationOutOfRange(seconds)),
        }
    }

    pub fn seconds(self) -> u32 {
        self.0
    }
}

/// A role session name: 2 to 64 characters of `[A-Za-z0-9+=,.@_-]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSessionName(String);

impl RoleSessionName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `needroleshere-<unix time>`: the name used when a profile gives none.
    pub fn generated(unix_time: i64) -> Self {
        // Letters, digits and '-' in at most 34 characters: always valid.
        Self(format!("needroleshere-{unix_time}"))
    }

    /// A signed-in user's name as a session name: characters outside the allowed set become
    /// `_`, cut to 64; `None` when nothing usable is left.
    pub fn from_user(user: &str) -> Option<Self> {
        let name: String = user
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        name.parse().ok().filter(|_| name.chars().any(|c| c != '_'))
    }
}

impl FromStr for RoleSessionName {
    type Err = NameError;
    fn from_str(value: &str) -> Result<Self, NameError> {
        let ok = (2..=64).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(NameError::BadSessionName(value.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_anchor_arn_gives_region_and_account() {
        let arn: TrustAnchorArn = "arn:aws:rolesanywhere:eu-west-2:123456789012:trust-anchor/abc"
            .parse()
            .unwrap();
        assert_eq!(arn.region().as_str(), "eu-west-2");
        assert_eq!(arn.account(), "123456789012");
        assert_eq!(arn.partition(), "aws");
    }

    #[test]
    fn role_arn_with_path_is_accepted() {
        let arn: RoleArn = "arn:aws-cn:iam::123456789012:role/path/to/name"
            .parse()
            .unwrap();
        assert_eq!(arn.partition(), "aws-cn");
    }

    #[test]
    fn malformed_arns_name_the_problem() {
        let err = "arn:aws:iam::123456789012:role/x"
            .parse::<ProfileArn>()
            .unwrap_err();
        assert!(
            err.to_string().contains("expected \"rolesanywhere\""),
            "{err}"
        );
        let err = "arn:aws:rolesanywhere:us-east-1:123456789012:profile/x"
            .parse::<TrustAnchorArn>()
            .unwrap_err();
        assert!(err.to_string().contains("expected trust-anchor/"), "{err}");
        let err = "arn:aws:iam::12345:role/x".parse::<RoleArn>().unwrap_err();
        assert!(err.to_string().contains("12 digits"), "{err}");
        let err = "role/x".parse::<RoleArn>().unwrap_err();
        assert!(err.to_string().contains("is not an ARN"), "{err}");
        let err = "arn:aws:rolesanywhere::123456789012:profile/x"
            .parse::<ProfileArn>()
            .unwrap_err();
        assert!(err.to_string().contains("has no region"), "{err}");
        assert!(
            "arn:aws:iam::123456789012:role/"
                .parse::<RoleArn>()
                .is_err()
        );
    }

    #[test]
    fn durations_are_bounded() {
        assert!(SessionDuration::new(899).is_err());
        assert_eq!(SessionDuration::new(900).unwrap().seconds(), 900);
        assert_eq!(SessionDuration::new(43200).unwrap().seconds(), 43200);
        let err = SessionDuration::new(43201).unwrap_err();
        assert!(err.to_string().contains("900 to 43200"), "{err}");
        assert!(SessionDuration::new(u64::MAX).is_err());
    }

    #[test]
    fn regions_and_session_names() {
        assert!("us-gov-west-1".parse::<Region>().is_ok());
        assert!("US-EAST-1".parse::<Region>().is_err());
        assert!("us-east-1/..".parse::<Region>().is_err());
        assert!("".parse::<Region>().is_err());
        assert!("build-42@ci".parse::<RoleSessionName>().is_ok());
        assert!("x".parse::<RoleSessionName>().is_err());
        assert!("has space".parse::<RoleSessionName>().is_err());
    }
}
