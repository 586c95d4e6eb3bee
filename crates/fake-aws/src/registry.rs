//! Who the fake AWS services know: IAM users with long-term keys, and the temporary
//! credentials the fakes issued.
//!
//! Contract:
//! * A [`Registry`] is shared by cloning (every clone sees the same data) between the fake
//!   STS ([`super::sts`]) and the fake IAM Roles Anywhere ([`super::rolesanywhere`]), so
//!   credentials one fake issues are accepted by the other, like in AWS.
//! * [`Registry::lookup`] answers, for an access key id, the secret access key the caller
//!   must have signed with, the [`Principal`] it stands for, and for temporary credentials
//!   their expiration. Long-term keys ([`User`]) never expire and carry no session token.
//! * Adding a user or registering credentials under an access key id that is already known
//!   replaces the earlier entry.
//! * `Debug` never shows a secret access key, session token or MFA secret.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// A virtual MFA device (TOTP, RFC 6238) of an IAM user.
#[derive(Clone)]
pub struct MfaDevice {
    /// `arn:aws:iam::ACCOUNT:mfa/NAME`, what callers pass as `SerialNumber`.
    pub serial: String,
    /// The shared secret, RFC 4648 base32 (what an authenticator app is given).
    pub base32_secret: String,
}

impl fmt::Debug for MfaDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaDevice")
            .field("serial", &self.serial)
            .field("base32_secret", &"<redacted>")
            .finish()
    }
}

/// An IAM user with one long-term access key.
#[derive(Clone)]
pub struct User {
    /// The user name (`arn:aws:iam::ACCOUNT:user/NAME`).
    pub name: String,
    /// The 12-digit account id.
    pub account: String,
    /// `AKIA…`.
    pub access_key_id: String,
    /// The secret the user signs with.
    pub secret_access_key: String,
    /// The user's MFA device, if any.
    pub mfa: Option<MfaDevice>,
}

impl User {
    /// `arn:aws:iam::ACCOUNT:user/NAME`.
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{}:user/{}", self.account, self.name)
    }

    /// A stable `AIDA…` unique id derived from the account and name.
    pub fn user_id(&self) -> String {
        stable_id("AIDA", &self.arn())
    }

    /// The principal the long-term key stands for.
    pub fn principal(&self) -> Principal {
        Principal::User {
            arn: self.arn(),
            account: self.account.clone(),
            user_id: self.user_id(),
            mfa_authenticated: false,
            session_token: None,
        }
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("account", &self.account)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("mfa", &self.mfa)
            .finish()
    }
}

/// Who a request is made by.
#[derive(Clone, PartialEq, Eq)]
pub enum Principal {
    /// An IAM user: its long-term key, or `GetSessionToken` credentials.
    User {
        /// `arn:aws:iam::ACCOUNT:user/NAME`.
        arn: String,
        /// The 12-digit account id.
        account: String,
        /// `AIDA…`.
        user_id: String,
        /// Whether the credentials were issued after an MFA code was checked.
        mfa_authenticated: bool,
        /// `Some` for `GetSessionToken` credentials, `None` for the long-term key.
        session_token: Option<String>,
    },
    /// A role session (`AssumeRole`, `AssumeRoleWithWebIdentity`, Roles Anywhere).
    AssumedRole {
        /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
        arn: String,
        /// `arn:aws:iam::ACCOUNT:role/ROLE`.
        role_arn: String,
        /// The 12-digit account id.
        account: String,
        /// `AROA…:SESSION`.
        user_id: String,
        /// Whether MFA was checked for this session or the one it was assumed from.
        mfa_authenticated: bool,
        /// The session token that must accompany the access key id.
        session_token: String,
    },
}

impl Principal {
    /// The ARN `GetCallerIdentity` reports.
    pub fn arn(&self) -> &str {
        match self {
            Principal::User { arn, .. } | Principal::AssumedRole { arn, .. } => arn,
        }
    }

    /// The account id.
    pub fn account(&self) -> &str {
        match self {
            Principal::User { account, .. } | Principal::AssumedRole { account, .. } => account,
        }
    }

    /// The `UserId` `GetCallerIdentity` reports.
    pub fn user_id(&self) -> &str {
        match self {
            Principal::User { user_id, .. } | Principal::AssumedRole { user_id, .. } => user_id,
        }
    }

    /// Whether MFA was checked when these credentials were issued.
    pub fn mfa_authenticated(&self) -> bool {
        match self {
            Principal::User {
                mfa_authenticated, ..
            }
            | Principal::AssumedRole {
                mfa_authenticated, ..
            } => *mfa_authenticated,
        }
    }

    /// The session token temporary credentials must be sent with; `None` for a long-term key.
    pub fn session_token(&self) -> Option<&str> {
        match self {
            Principal::User { session_token, .. } => session_token.as_deref(),
            Principal::AssumedRole { session_token, .. } => Some(session_token),
        }
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::User {
                arn,
                account,
                user_id,
                mfa_authenticated,
                session_token,
            } => f
                .debug_struct("User")
                .field("arn", arn)
                .field("account", account)
                .field("user_id", user_id)
                .field("mfa_authenticated", mfa_authenticated)
                .field(
                    "session_token",
                    &session_token.as_ref().map(|_| "<redacted>"),
                )
                .finish(),
            Principal::AssumedRole {
                arn,
                role_arn,
                account,
                user_id,
                mfa_authenticated,
                session_token: _,
            } => f
                .debug_struct("AssumedRole")
                .field("arn", arn)
                .field("role_arn", role_arn)
                .field("account", account)
                .field("user_id", user_id)
                .field("mfa_authenticated", mfa_authenticated)
                .field("session_token", &"<redacted>")
                .finish(),
        }
    }
}

/// A `prefix` followed by 17 characters of `[A-Z2-7]` derived from `seed`: the shape of AWS
/// unique ids (`AIDA…`, `AROA…`), stable for the same seed.
pub(super) fn stable_id(prefix: &str, seed: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = Sha256::digest(seed.as_bytes());
    let mut id = String::with_capacity(prefix.len() + 17);
    id.push_str(prefix);
    for byte in digest.iter().take(17) {
        id.push(char::from(ALPHABET[usize::from(byte % 32)]));
    }
    id
}

#[derive(Clone)]
struct Temporary {
    secret_access_key: String,
    principal: Principal,
    expiration: OffsetDateTime,
}

#[derive(Default)]
struct Known {
    /// Long-term keys by access key id.
    users: BTreeMap<String, User>,
    /// Temporary credentials by access key id.
    temporary: BTreeMap<String, Temporary>,
}

/// The users and issued credentials the fakes know. Clones share the same data.
#[derive(Clone, Default)]
pub struct Registry(Arc<Mutex<Known>>);

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known = self.lock();
        f.debug_struct("Registry")
            .field("users", &known.users.keys().collect::<Vec<_>>())
            .field("temporary", &known.temporary.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Known> {
        // A poisoned lock means a thread panicked while inserting into a map; the maps are
        // still consistent (each insert is one call).
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds (or replaces, by access key id) an IAM user and its long-term key.
    pub fn add_user(&self, user: User) {
        let mut known = self.lock();
        known.temporary.remove(&user.access_key_id);
        known.users.insert(user.access_key_id.clone(), user);
    }

    /// Temporary credentials issued by a fake (STS here, or the fake Roles Anywhere).
    pub fn register(
        &self,
        access_key_id: &str,
        secret_access_key: &str,
        principal: Principal,
        expiration: OffsetDateTime,
    ) {
        let mut known = self.lock();
        known.users.remove(access_key_id);
        known.temporary.insert(
            access_key_id.to_owned(),
            Temporary {
                secret_access_key: secret_access_key.to_owned(),
                principal,
                expiration,
            },
        );
    }

    /// The secret and principal of a known access key id (long-term or temporary), and the
    /// expiration of temporary credentials.
    pub fn lookup(
        &self,
        access_key_id: &str,
    ) -> Option<(String, Principal, Option<OffsetDateTime>)> {
        let known = self.lock();
        if let Some(user) = known.users.get(access_key_id) {
            return Some((user.secret_access_key.clone(), user.principal(), None));
        }
        known.temporary.get(access_key_id).map(|temporary| {
            (
                temporary.secret_access_key.clone(),
                temporary.principal.clone(),
                Some(temporary.expiration),
            )
        })
    }

    /// Every user, ordered by access key id.
    pub fn users(&self) -> Vec<User> {
        self.lock().users.values().cloned().collect()
    }

    /// The user whose ARN is `arn`, if known.
    pub fn user_by_arn(&self, arn: &str) -> Option<User> {
        self.lock()
            .users
            .values()
            .find(|user| user.arn() == arn)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn alice() -> User {
        User {
            name: "alice".to_owned(),
            account: "123456789012".to_owned(),
            access_key_id: "AKIAEXAMPLEALICE0001".to_owned(),
            secret_access_key: "alice-secret-value".to_owned(),
            mfa: Some(MfaDevice {
                serial: "arn:aws:iam::123456789012:mfa/alice".to_owned(),
                base32_secret: "JBSWY3DPEHPK3PXP".to_owned(),
            }),
        }
    }

    #[test]
    fn long_term_and_temporary_keys() {
        let registry = Registry::new();
        assert!(registry.lookup("AKIAEXAMPLEALICE0001").is_none());
        registry.add_user(alice());
        let (secret, principal, expiration) = registry.lookup("AKIAEXAMPLEALICE0001").unwrap();
        assert_eq!(secret, "alice-secret-value");
        assert_eq!(expiration, None);
        assert_eq!(principal.arn(), "arn:aws:iam::123456789012:user/alice");
        assert_eq!(principal.account(), "123456789012");
        assert!(principal.user_id().starts_with("AIDA"));
        assert_eq!(principal.user_id().len(), 21);
        assert_eq!(principal.session_token(), None);
        assert!(!principal.mfa_authenticated());

        let clone = registry.clone();
        let role_session = Principal::AssumedRole {
            arn: "arn:aws:sts::123456789012:assumed-role/dev/s".to_owned(),
            role_arn: "arn:aws:iam::123456789012:role/dev".to_owned(),
            account: "123456789012".to_owned(),
            user_id: "AROAEXAMPLE:s".to_owned(),
            mfa_authenticated: true,
            session_token: "token-value".to_owned(),
        };
        let at = datetime!(2030-01-01 00:00:00 UTC);
        clone.register("ASIATEMP", "temp-secret", role_session.clone(), at);
        let (secret, principal, expiration) = registry.lookup("ASIATEMP").unwrap();
        assert_eq!(
            (secret.as_str(), &principal, expiration),
            ("temp-secret", &role_session, Some(at))
        );
        assert_eq!(principal.session_token(), Some("token-value"));
        assert_eq!(registry.users().len(), 1);
        assert_eq!(
            registry
                .user_by_arn("arn:aws:iam::123456789012:user/alice")
                .unwrap()
                .name,
            "alice"
        );
        assert!(registry.user_by_arn("arn:aws:iam::1:user/alice").is_none());
    }

    #[test]
    fn debug_hides_secrets() {
        let registry = Registry::new();
        registry.add_user(alice());
        registry.register(
            "ASIATEMP",
            "temp-secret",
            Principal::User {
                arn: alice().arn(),
                account: "123456789012".to_owned(),
                user_id: alice().user_id(),
                mfa_authenticated: true,
                session_token: Some("token-value".to_owned()),
            },
            datetime!(2030-01-01 00:00:00 UTC),
        );
        let (_, principal, _) = registry.lookup("ASIATEMP").unwrap();
        let shown = format!("{registry:?} {:?} {principal:?}", alice());
        for secret in [
            "alice-secret-value",
            "JBSWY3DPEHPK3PXP",
            "temp-secret",
            "token-value",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("AKIAEXAMPLEALICE0001"), "{shown}");
    }

    #[test]
    fn stable_ids_have_the_aws_shape() {
        let one = stable_id("AROA", "arn:aws:iam::123456789012:role/dev");
        assert_eq!(one, stable_id("AROA", "arn:aws:iam::123456789012:role/dev"));
        assert_ne!(
            one,
            stable_id("AROA", "arn:aws:iam::123456789012:role/other")
        );
        assert_eq!(one.len(), 21);
        assert!(
            one[4..]
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        );
    }
}
