//! Sources: where credentials come from, behind one interface.
//!
//! A [`Source`] knows how to fetch credentials for one identity and nothing about who asked
//! or how the answer is handed out. It has
//!
//! * a **key** naming the identity: sources with the same key share one entry of the
//!   [`crate::cache::Cache`] (two bindings of one certificate and role, two profiles chained
//!   from one MFA session);
//! * a **version** of the state it would fetch from (a certificate's fingerprint, a
//!   profile's settings): a new version makes the next request fetch anew, while the
//!   credentials of the old one stay as a fallback;
//! * an async **fetch**, which the cache runs in a task of its own.
//!
//! Failures are [`SourceError`]s in a few [`Category`]s that every front knows how to answer
//! (see [`crate::front::answer`]); the cause is kept for the log.
//!
//! The sources: [`rolesanywhere::IdentitySource`] (an X.509 certificate and key, through IAM
//! Roles Anywhere `CreateSession`), [`binding::Bindings`] (the identity of a binding file,
//! for `serve`), and [`profile::ProfileSources`] (an AWS profile's plan: keys, MFA session, role
//! chain, web identity, `credential_process`, IAM Identity Center through [`sso`]).

pub mod binding;
pub mod choice;
pub mod profile;
pub mod rolesanywhere;
pub mod sso;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use crate::credentials::Credentials;

/// Names the identity a source fetches for; see the module docs.
pub type Key = [u8; 32];
/// Which state of a source credentials came from; see the module docs.
pub type Version = [u8; 32];
/// A fetch under way.
pub type FetchFuture = Pin<Box<dyn Future<Output = Result<Credentials, SourceError>> + Send>>;

/// Fetches credentials for one identity; see the module docs.
pub trait Source: Send + Sync + fmt::Debug + 'static {
    /// The identity: equal keys share cached credentials.
    fn key(&self) -> Key;

    /// The state credentials would be fetched from at `now` (the caller's clock, read once
    /// per request). An error means the source cannot be used at the moment (a half-renewed
    /// certificate, one not valid at `now`): valid cached credentials still answer.
    fn version(&self, _now: time::OffsetDateTime) -> Result<Version, SourceError> {
        Ok(Version::default())
    }

    /// [`Source::version`] at `now`, and until when it stays so as long as `watch` tells no
    /// change (see [`crate::system::watch::Watch::seen`]): what lets a front keep a whole
    /// answer (see [`crate::cache::Cache::hold`]). `None`, the default, when the version may
    /// change some other way or is an error now; then no answer is kept past its request.
    fn steady_version(
        &self,
        _watch: &Arc<crate::system::watch::Watch>,
        _now: time::OffsetDateTime,
    ) -> Option<(Version, time::OffsetDateTime)> {
        None
    }

    /// Fetches new credentials. Never waits for a person: a step that needs one fails at once
    /// with [`Category::NeedsPerson`].
    fn fetch(&self) -> FetchFuture;
}

/// Where a source that builds on another source's credentials (roles on an MFA session)
/// gets them: the cache, which [`crate::cache::Cache`] implements, so that source is fetched
/// once and kept like any other.
pub trait Upstream: Send + Sync + 'static {
    /// Credentials of `source`, refreshed first when they are due.
    fn fresh<'a>(
        &'a self,
        source: &'a Arc<dyn Source>,
    ) -> Pin<Box<dyn Future<Output = Result<Arc<Credentials>, SourceError>> + Send + 'a>>;
}

/// What kind of failure a source had: what the fronts match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// The identity or its settings cannot work as they are; retrying will not help.
    Misconfigured,
    /// AWS answered and said no.
    Refused,
    /// AWS could not be reached, failed, throttled, or answered something unreadable.
    Unavailable,
    /// No answer in time.
    TimedOut,
    /// A person must act first (type an MFA code, sign in).
    NeedsPerson,
}

/// The precise failure within a [`Category`], with a stable code for API answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The certificate or key cannot be read or used.
    Identity,
    /// The key's device (a PKCS#11 token, a TPM) cannot be reached now.
    DeviceUnavailable,
    /// The certificate is outside its validity window.
    CertificateNotValid,
    /// The endpoint to call cannot be worked out.
    Endpoint,
    /// A profile's settings are wrong.
    Profile,
    /// No such profile.
    UnknownProfile,
    /// AWS refused the request.
    Refused,
    /// AWS refused an MFA code (wrong, expired or already used).
    MfaRejected,
    /// AWS refused the request's time: this machine's clock is more than 5 minutes off.
    ClockSkew,
    /// AWS cannot be reached or is failing.
    Unavailable,
    /// AWS answered something unreadable.
    InvalidAnswer,
    /// Nothing came back in time.
    TimedOut,
    /// An MFA code is needed.
    NeedsMfa,
    /// Someone must sign in to the profile's identity provider.
    NeedsSignIn,
    /// The identity provider refused a sign-in (wrong password, refused grant, wrong user).
    SignInRejected,
    /// The fetch itself broke (a bug): it ended without an outcome.
    Internal,
}

impl Kind {
    /// What went wrong, in a few words for the person or program that asked: never the
    /// cause, which may name files, keys or upstream messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Identity => "the certificate or key cannot be used",
            Self::DeviceUnavailable => {
                "the key's device (token or TPM) cannot be reached; try again later"
            }
            Self::CertificateNotValid => "the certificate is not valid now",
            Self::Endpoint => "the endpoint to ask for credentials is misconfigured",
            Self::Profile => "the profile's settings cannot be used",
            Self::UnknownProfile => "no such profile",
            Self::Refused => "AWS refused the request for credentials",
            Self::MfaRejected => "the MFA code was not accepted (wrong, expired or already used)",
            Self::ClockSkew => "this machine's clock is off; check it",
            Self::Unavailable => "AWS is unavailable; try again later",
            Self::InvalidAnswer => "AWS gave an unreadable answer",
            Self::TimedOut => "AWS did not answer in time",
            Self::NeedsMfa => {
                "an MFA code is needed: POST it to /mfa, or open this server's page in a browser"
            }
            Self::NeedsSignIn => {
                "a sign-in is needed: open this server's page in a browser to sign in"
            }
            Self::SignInRejected => "the identity provider refused the sign-in",
            Self::Internal => "the credential fetch failed",
        }
    }

    pub fn category(self) -> Category {
        match self {
            Self::Identity
            | Self::CertificateNotValid
            | Self::Endpoint
            | Self::Profile
            | Self::UnknownProfile
            | Self::Internal => Category::Misconfigured,
            // Not transient: until someone fixes the clock every call is refused alike.
            Self::Refused | Self::MfaRejected | Self::ClockSkew | Self::SignInRejected => {
                Category::Refused
            }
            Self::Unavailable | Self::InvalidAnswer | Self::DeviceUnavailable => {
                Category::Unavailable
            }
            Self::TimedOut => Category::TimedOut,
            Self::NeedsMfa | Self::NeedsSignIn => Category::NeedsPerson,
        }
    }
}

/// Why a source gave no credentials: a [`Kind`] and the cause, which says what failed in
/// the source's own words. Cheap to clone, so every caller waiting on one fetch gets it.
#[derive(Clone)]
pub struct SourceError {
    kind: Kind,
    cause: Arc<dyn std::error::Error + Send + Sync>,
}

impl SourceError {
    pub fn new(kind: Kind, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            kind,
            cause: Arc::new(cause),
        }
    }

    /// An error whose whole story is `message`.
    pub fn message(kind: Kind, message: impl Into<String>) -> Self {
        #[derive(Debug)]
        struct Message(String);
        impl fmt::Display for Message {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::error::Error for Message {}
        Self::new(kind, Message(message.into()))
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn category(&self) -> Category {
        self.kind.category()
    }

    /// The error as the source reported it, for callers that need its details.
    pub fn cause(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self.cause.as_ref()
    }

    /// Whether retrying later may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(self.category(), Category::Unavailable | Category::TimedOut)
    }

    /// The whole cause chain on one line, for the log.
    pub fn chain(&self) -> String {
        crate::system::logging::error_chain(self.cause.as_ref())
    }
}

impl fmt::Debug for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceError")
            .field("kind", &self.kind)
            .field("cause", &self.cause)
            .finish()
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.cause.fmt(f)
    }
}

impl std::error::Error for SourceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.source()
    }
}

/// A key or version from length-prefixed parts, so no two different part lists hash alike.
pub fn digest<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> [u8; 32] {
    let mut digest = Sha256::new();
    for part in parts {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part);
    }
    digest.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner")]
    struct Inner;

    #[test]
    fn an_error_shows_its_cause_and_chain() {
        let error = SourceError::new(Kind::Refused, Outer(Inner));
        assert_eq!(error.to_string(), "outer");
        assert_eq!(error.chain(), "outer: inner");
        assert_eq!(error.category(), Category::Refused);
        assert!(!error.is_transient());
        assert!(SourceError::message(Kind::TimedOut, "slow").is_transient());
    }

    #[test]
    fn digests_of_different_part_lists_differ() {
        assert_ne!(
            digest([b"ab".as_slice(), b"c".as_slice()]),
            digest([b"a".as_slice(), b"bc".as_slice()])
        );
    }
}
