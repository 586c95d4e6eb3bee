//! Role bindings: what `bind` writes and `serve` reads, compatible both ways with the
//! existing needroleshere. This module holds the binding file itself; `token` the bearer
//! tokens, `env_file` the consumer's `EnvironmentFile=`, `dir` the configuration
//! directory (reading for `serve`, installing and removing for `bind` and `unbind`).
//!
//! Layout under the configuration directory (default `$RUNTIME_DIRECTORY`):
//! * `bindings/<name>.json` — the binding: certificate and key paths, the CreateSession
//!   parameters, the mode, and `secret_hash` = base64url(SHA-384(raw secret)), never the
//!   secret itself. Not secret; mode 0644 so an unprivileged `serve` can read it.
//! * `env/<name>` — `KEY=value` lines for the consumer's `EnvironmentFile=`, holding the
//!   token; mode 0600. With `--token-file`, only the URI: no secret, mode 0644.
//! * `token/<name>` — with `--token-file`: the `Authorization` value, no trailing newline,
//!   for the consumer's `LoadCredential=` (or read by the consumer itself).
//!
//! The token is `needroleshere.<name>.<secret>`, the secret being 64 random bytes in
//! base64url without padding. It travels as `Authorization: Bearer <token>` or, in the
//! `-query` modes, as `?access_token=<token>`; each binding accepts only its own way.
//!
//! Binding JSON: `{"name","secret_hash","certificate_files":[…],"private_key_file",
//! "request":{"durationSeconds","profileArn","roleArn","sessionName","trustAnchorArn"},
//! "mode":{"kind":"EcsFull"}}`. Older releases of the existing tool name the mode field
//! `env_mode`: both are read, both are written. Fields of our own (`intermediate_files`,
//! `region`, `endpoint`, and for keys in devices `pkcs11_module`, `pkcs11_pin_source`,
//! `reuse_pin`, `tpm_key_password_source`, and `allowed_uids`: the users whose connections
//! may use the binding, from `bind --allow-uid`) are ignored by the existing tool, which
//! would serve a pinned binding to anyone holding its token. A certificate or
//! key "file" may be a `pkcs11:` URI or a `handle:0x81…` TPM handle; a PIN or key password
//! is never stored, only where `serve` reads it (`credential:NAME`, `file:PATH`, `env:VAR`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use crate::arn::{ProfileArn, Region, RoleArn, RoleSessionName, SessionDuration, TrustAnchorArn};
use crate::aws::rolesanywhere::SessionRequest;
use crate::identity::{DeviceOptions, IdentityFiles, Location};
use crate::secret::{SecretSource, SecretSourceError};

mod dir;
mod env_file;
mod token;

pub use dir::{ConfigDir, Store};
pub use env_file::render_env;
pub(crate) use token::same_bytes;
pub use token::{AccessToken, OpenedTokens, PresentedToken, TokenError};

/// The route every ECS-mode binding is served on.
pub const ECS_PATH: &str = "/ecs/credentials";

/// Where `--url` should point for `mode`: the listener its consumers use.
fn url_hint(mode: Mode) -> &'static str {
    if mode == Mode::Imds {
        "the address of the binding's IMDS listener, where needroleshere-imds@NAME.socket or \
         serve --listen-imds listens, e.g. http://169.254.169.254; the ECS listener \
         (127.0.0.1:7224) answers IMDS paths with 404"
    } else {
        "the address consumers use to reach serve's ECS listener, e.g. http://127.0.0.1:7224"
    }
}

/// Why a binding could not be named, read or written.
#[derive(Debug, thiserror::Error)]
pub enum BindingError {
    #[error(
        "binding name {0:?} is invalid: use 1 to 64 letters, digits, '@', '_' or '-' (no '.', '/' or spaces)"
    )]
    BadName(String),
    #[error("binding {name} does not exist ({path})")]
    NotFound { name: String, path: PathBuf },
    #[error("cannot read binding file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("binding file {path} is not valid: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot remove {path}")]
    Remove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("mode {mode} needs --url ({})", url_hint(*.mode))]
    UrlRequired { mode: Mode },
    #[error("--url {0:?} is not an http(s) URL with a host")]
    BadUrl(String),
    #[error("--token-file only applies to modes that send the token in a header, not {0}")]
    TokenFileWithQueryMode(Mode),
    #[error("no randomness available for a new secret")]
    Random,
    #[error("refusing to use {path} for bindings")]
    UntrustedDir {
        path: PathBuf,
        #[source]
        source: crate::system::files::UntrustedDir,
    },
    #[error(
        "binding file {path} is owned by uid {owner}, not by root or the user serving it; refusing to serve it (chown root {path})"
    )]
    ForeignOwner { path: PathBuf, owner: u32 },
    #[error(
        "binding file {path} is writable by others than its owner (mode {mode:04o}); refusing to serve it (chmod go-w {path})"
    )]
    WritableByOthers { path: PathBuf, mode: u32 },
}

/// A binding name: 1 to 64 characters of `[A-Za-z0-9@_-]`. Safe as a file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BindingName(Arc<str>);

impl BindingName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `name` is a binding name.
    pub fn is_valid(name: &str) -> bool {
        (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'@' | b'_' | b'-'))
    }
}

/// Maps keyed by name are looked up with a name a request presents, without a copy.
impl std::borrow::Borrow<str> for BindingName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl FromStr for BindingName {
    type Err = BindingError;
    fn from_str(name: &str) -> Result<Self, BindingError> {
        if Self::is_valid(name) {
            Ok(Self(name.into()))
        } else {
            Err(BindingError::BadName(name.to_owned()))
        }
    }
}

impl fmt::Display for BindingName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a consumer finds the endpoint and presents its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Mode {
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI` + `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
    EcsFull,
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI` carrying `?access_token=`.
    EcsFullQuery,
    /// `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (169.254.170.2) + the token header.
    EcsRelative,
    /// `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` carrying `?access_token=`.
    EcsRelativeQuery,
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT`: served by an IMDS listener dedicated to this
    /// binding (socket named `imds-NAME` or `serve --listen-imds ADDR=NAME`); no token.
    Imds,
}

impl Mode {
    /// The `kind` tag in binding files.
    pub fn kind(self) -> &'static str {
        match self {
            Self::EcsFull => "EcsFull",
            Self::EcsFullQuery => "EcsFullQuery",
            Self::EcsRelative => "EcsRelative",
            Self::EcsRelativeQuery => "EcsRelativeQuery",
            Self::Imds => "Imds",
        }
    }

    fn from_kind(kind: &str) -> Option<Self> {
        [
            Self::EcsFull,
            Self::EcsFullQuery,
            Self::EcsRelative,
            Self::EcsRelativeQuery,
            Self::Imds,
        ]
        .into_iter()
        .find(|m| m.kind() == kind)
    }

    /// Whether the token travels in the query string rather than the `Authorization` header.
    pub fn token_in_query(self) -> bool {
        matches!(self, Self::EcsFullQuery | Self::EcsRelativeQuery)
    }

    fn uses_full_uri(self) -> bool {
        matches!(self, Self::EcsFull | Self::EcsFullQuery)
    }

    /// Whether consumers authenticate with a token (every mode but IMDS, where the listener
    /// decides the binding).
    pub fn uses_token(self) -> bool {
        self != Self::Imds
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use clap::ValueEnum as _;
        match self.to_possible_value() {
            Some(value) => f.write_str(value.get_name()),
            None => f.write_str(self.kind()),
        }
    }
}

/// The binding file as stored (see the module docs). Deserialisation is lenient where the
/// existing tool's files differ; [`Binding::from_file`] turns it into checked values.
#[derive(Debug, Serialize, Deserialize)]
struct BindingFile {
    name: String,
    secret_hash: String,
    certificate_files: Vec<PathBuf>,
    private_key_file: PathBuf,
    request: RequestFields,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mode: Option<ModeTag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    env_mode: Option<ModeTag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pkcs11_module: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pkcs11_pin_source: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    reuse_pin: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tpm_key_password_source: Option<String>,
    /// Hashes of secrets still accepted while `bind` replaces the env and token files (see
    /// [`ConfigDir::install`]); ours, absent from finished bindings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    previous_secret_hashes: Vec<String>,
    /// The uids whose connections may use the binding (`bind --allow-uid`); ours. Absent:
    /// anyone holding the token.
    /// Read as any JSON value, so that a wrong one is reported naming the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    allowed_uids: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestFields {
    duration_seconds: Option<i64>,
    profile_arn: String,
    role_arn: String,
    #[serde(alias = "roleSessionName")]
    session_name: Option<String>,
    trust_anchor_arn: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct ModeTag {
    kind: String,
}

/// A checked binding.
#[derive(Debug, Clone)]
pub struct Binding {
    pub name: BindingName,
    secret_hash: [u8; 48],
    /// Secrets the consumer may still hold while a `bind` is under way.
    previous_secret_hashes: Vec<[u8; 48]>,
    pub mode: Mode,
    /// Shared with the binding's source in `serve` (one copy per binding, not two).
    pub files: Arc<IdentityFiles>,
    pub session: Arc<SessionRequest>,
    /// Region for CreateSession; `serve --region`, then the trust anchor's, when absent.
    pub region: Option<Region>,
    /// CreateSession endpoint; `serve`'s when absent.
    pub endpoint: Option<String>,
    /// The users whose processes may use the binding (sorted, no repeats); empty: anyone
    /// holding the token. Root is not implied.
    pub allowed_uids: Vec<u32>,
}

impl Binding {
    /// A new binding and the token that opens it.
    pub fn create(
        name: BindingName,
        mode: Mode,
        files: IdentityFiles,
        session: SessionRequest,
        region: Option<Region>,
        endpoint: Option<String>,
    ) -> Result<(Self, AccessToken), BindingError> {
        let token = AccessToken::generate(name.clone())?;
        let secret_hash = token.secret_hash().ok_or(BindingError::Random)?;
        let binding = Self {
            name,
            secret_hash,
            previous_secret_hashes: Vec::new(),
            mode,
            files: Arc::new(files),
            session: Arc::new(session),
            region,
            endpoint,
            allowed_uids: Vec::new(),
        };
        Ok((binding, token))
    }

    /// This binding, pinned to `uids` (none: not pinned).
    pub fn pinned_to(mut self, mut uids: Vec<u32>) -> Self {
        uids.sort_unstable();
        uids.dedup();
        self.allowed_uids = uids;
        self
    }

    /// Whether a connection from `uid` (`None`: its user could not be found) may use this
    /// binding: always when it is not pinned, else only from one of its uids.
    pub fn admits(&self, uid: Option<u32>) -> bool {
        self.allowed_uids.is_empty() || uid.is_some_and(|uid| self.allowed_uids.contains(&uid))
    }

    /// Whether the binding is pinned to some users.
    pub fn is_pinned(&self) -> bool {
        !self.allowed_uids.is_empty()
    }

    /// Whether `token` opens this binding (constant time in the secret: every stored hash
    /// is compared).
    pub fn accepts<'a>(&self, token: impl Into<PresentedToken<'a>>) -> bool {
        let token = token.into();
        token.name() == self.name.as_str()
            && token.secret_hash().is_some_and(|hash| {
                let mut accepted = hash.ct_eq(&self.secret_hash);
                for previous in &self.previous_secret_hashes {
                    accepted |= hash.ct_eq(previous);
                }
                bool::from(accepted)
            })
    }

    /// This binding, also accepting the secrets hashed in `previous` (for the moment a
    /// consumer may still hold one of them).
    pub(crate) fn also_accepting(&self, previous: Vec<[u8; 48]>) -> Self {
        let mut binding = self.clone();
        binding.previous_secret_hashes = previous;
        binding
            .previous_secret_hashes
            .retain(|hash| *hash != self.secret_hash);
        binding
    }

    /// Whether secrets other than the newest are still accepted (a `bind` was interrupted).
    pub fn accepts_previous_secrets(&self) -> bool {
        !self.previous_secret_hashes.is_empty()
    }

    /// The binding file's JSON.
    pub fn to_json(&self) -> String {
        let mode = || {
            Some(ModeTag {
                kind: self.mode.kind().to_owned(),
            })
        };
        let file = BindingFile {
            name: self.name.to_string(),
            secret_hash: BASE64URL.encode(self.secret_hash),
            // Intermediates too: the existing tool reads only this list, and loading treats
            // every certificate file alike.
            certificate_files: self
                .files
                .certificates
                .iter()
                .map(|l| PathBuf::from(l.to_os_string()))
                .chain(self.files.intermediates.iter().cloned())
                .collect(),
            private_key_file: PathBuf::from(self.files.private_key.to_os_string()),
            request: RequestFields {
                duration_seconds: Some(i64::from(self.session.duration.seconds())),
                profile_arn: self.session.profile_arn.to_string(),
                role_arn: self.session.role_arn.to_string(),
                session_name: self
                    .session
                    .role_session_name
                    .as_ref()
                    .map(|n| n.as_str().to_owned()),
                trust_anchor_arn: self.session.trust_anchor_arn.to_string(),
            },
            mode: mode(),
            env_mode: mode(),
            region: self.region.as_ref().map(|r| r.to_string()),
            endpoint: self.endpoint.clone(),
            pkcs11_module: self.files.device.pkcs11_module.clone(),
            // `bind` refuses secrets given by value, so these are only ever sources.
            pkcs11_pin_source: self
                .files
                .device
                .pkcs11_pin
                .as_ref()
                .and_then(SecretSource::to_stored),
            reuse_pin: self.files.device.reuse_pin,
            tpm_key_password_source: self
                .files
                .device
                .tpm_key_password
                .as_ref()
                .and_then(SecretSource::to_stored),
            previous_secret_hashes: self
                .previous_secret_hashes
                .iter()
                .map(|hash| BASE64URL.encode(hash))
                .collect(),
            allowed_uids: self.is_pinned().then(|| self.allowed_uids.clone().into()),
        };
        // A struct of strings, numbers and paths always serialises.
        let mut json = serde_json::to_string_pretty(&file).unwrap_or_default();
        json.push('\n');
        json
    }

    /// Parses binding file `bytes` read from `path` for binding `name`.
    pub fn from_file(path: &Path, name: &BindingName, bytes: &[u8]) -> Result<Self, BindingError> {
        let invalid = |reason: String| BindingError::Invalid {
            path: path.to_owned(),
            reason,
        };
        let file: BindingFile =
            serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if file.name != name.as_str() {
            return Err(invalid(format!(
                "it names binding {:?}, not {name:?}",
                file.name
            )));
        }
        let decode = |text: &str, what: &str| {
            BASE64URL
                .decode(text.as_bytes())
                .ok()
                .and_then(|h| <[u8; 48]>::try_from(h).ok())
                .ok_or_else(|| invalid(format!("{what} is not base64url of a SHA-384 digest")))
        };
        let hash = decode(&file.secret_hash, "secret_hash")?;
        let previous_secret_hashes = file
            .previous_secret_hashes
            .iter()
            .map(|h| decode(h, "previous_secret_hashes"))
            .collect::<Result<Vec<_>, _>>()?;
        let tag = file
            .mode
            .as_ref()
            .or(file.env_mode.as_ref())
            .ok_or_else(|| invalid("it has neither `mode` nor `env_mode`".into()))?;
        let mode = Mode::from_kind(&tag.kind).ok_or_else(|| {
            invalid(format!(
                "mode kind {:?} is not one this server serves",
                tag.kind
            ))
        })?;
        if file.certificate_files.is_empty() {
            return Err(invalid("certificate_files is empty".into()));
        }
        let r = &file.request;
        let field = |what: &str, e: &dyn fmt::Display| invalid(format!("{what}: {e}"));
        let duration = match r.duration_seconds {
            None => SessionDuration::DEFAULT,
            Some(s) => u64::try_from(s)
                .ok()
                .and_then(|s| SessionDuration::new(s).ok())
                .ok_or_else(|| {
                    field(
                        "request.durationSeconds",
                        &format!(
                            "{s} is out of range: IAM Roles Anywhere accepts 900 to 43200 seconds"
                        ),
                    )
                })?,
        };
        let session = SessionRequest {
            trust_anchor_arn: TrustAnchorArn::from_str(&r.trust_anchor_arn)
                .map_err(|e| field("request.trustAnchorArn", &e))?,
            profile_arn: ProfileArn::from_str(&r.profile_arn)
                .map_err(|e| field("request.profileArn", &e))?,
            role_arn: RoleArn::from_str(&r.role_arn).map_err(|e| field("request.roleArn", &e))?,
            duration,
            role_session_name: r
                .session_name
                .as_deref()
                .map(RoleSessionName::from_str)
                .transpose()
                .map_err(|e| field("request.sessionName", &e))?,
        };
        let region = file
            .region
            .as_deref()
            .map(Region::from_str)
            .transpose()
            .map_err(|e| field("region", &e))?;
        let allowed_uids = match &file.allowed_uids {
            None => Vec::new(),
            Some(value) => value
                .as_array()
                .and_then(|uids| {
                    uids.iter()
                        .map(|uid| uid.as_u64().and_then(|uid| u32::try_from(uid).ok()))
                        .collect::<Option<Vec<u32>>>()
                })
                .ok_or_else(|| {
                    field(
                        "allowed_uids",
                        &format!("{value} is not a list of uids (numbers 0 to 4294967295)"),
                    )
                })?,
        };
        Ok(Self {
            name: name.clone(),
            secret_hash: hash,
            previous_secret_hashes,
            mode,
            files: Arc::new(IdentityFiles {
                certificates: file
                    .certificate_files
                    .iter()
                    .map(|p| Location::parse(p.as_os_str()))
                    .collect::<Result<_, _>>()
                    .map_err(|e| field("certificate_files", &e))?,
                intermediates: Vec::new(),
                private_key: Location::parse(file.private_key_file.as_os_str())
                    .map_err(|e| field("private_key_file", &e))?,
                pkcs8_password: None,
                device: DeviceOptions {
                    pkcs11_module: file.pkcs11_module,
                    pkcs11_pin: secret_source(file.pkcs11_pin_source.as_deref())
                        .map_err(|e| field("pkcs11_pin_source", &e))?,
                    reuse_pin: file.reuse_pin,
                    tpm_key_password: secret_source(file.tpm_key_password_source.as_deref())
                        .map_err(|e| field("tpm_key_password_source", &e))?,
                    credentials_directory: None,
                    tpm_tcti: None,
                },
            }),
            session: Arc::new(session),
            region,
            endpoint: file.endpoint,
            allowed_uids: Vec::new(),
        }
        .pinned_to(allowed_uids))
    }
}

fn secret_source(text: Option<&str>) -> Result<Option<SecretSource>, SecretSourceError> {
    text.map(SecretSource::parse).transpose()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const TA: &str = "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/ta";
    const PROFILE: &str = "arn:aws:rolesanywhere:us-east-1:123456789012:profile/p";
    const ROLE: &str = "arn:aws:iam::123456789012:role/r";

    fn name(n: &str) -> BindingName {
        n.parse().unwrap()
    }

    pub(crate) fn sample(mode: Mode) -> (Binding, AccessToken) {
        Binding::create(
            name("web-1"),
            mode,
            IdentityFiles {
                certificates: vec!["/etc/pki/c.pem".into()],
                intermediates: vec![],
                private_key: "/etc/pki/k.pem".into(),
                pkcs8_password: None,
                device: Default::default(),
            },
            SessionRequest {
                trust_anchor_arn: TA.parse().unwrap(),
                profile_arn: PROFILE.parse().unwrap(),
                role_arn: ROLE.parse().unwrap(),
                duration: SessionDuration::DEFAULT,
                role_session_name: None,
            },
            None,
            None,
        )
        .unwrap()
    }

    #[test]
    fn names() {
        for ok in ["a", "web-1", "svc@host", "under_score", &"x".repeat(64)] {
            assert!(BindingName::from_str(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a.b", "../x", "a/b", "a b", "é", &"x".repeat(65)] {
            let err = BindingName::from_str(bad).unwrap_err().to_string();
            assert!(err.contains("is invalid"), "{err}");
        }
    }

    #[test]
    fn token_round_trip_and_verification() {
        let (binding, token) = sample(Mode::EcsFull);
        let text = token.to_secret_string();
        assert!(text.expose().starts_with("needroleshere.web-1."));
        assert_eq!(text.expose().len(), "needroleshere.web-1.".len() + 86);
        let parsed = AccessToken::parse(text.expose()).unwrap();
        assert!(binding.accepts(&parsed));
        // Another secret for the same name fails, and so does the right secret under another name.
        let (_, other) = sample(Mode::EcsFull);
        assert!(!binding.accepts(&other));
        let renamed = AccessToken::parse(&text.expose().replace("web-1", "web-2")).unwrap();
        assert!(!binding.accepts(&renamed));
        assert!(!format!("{token:?}").contains(&text.expose()[20..]));
    }

    #[test]
    fn the_existing_tools_test_vector_verifies() {
        // Secret "thisisatest." (base64url dGhpc2lzYXRlc3Qu) and its published SHA-384 hash.
        let json = format!(
            r#"{{"name":"testrole","secret_hash":"HMH2ZT39k34kFlafxZaIu2h8P5gfnx4k5jX6mkTib7-QWAwXBaKd7uC9B6Y59mcf",
            "certificate_files":["/c"],"private_key_file":"/k",
            "request":{{"durationSeconds":null,"profileArn":"{PROFILE}","roleArn":"{ROLE}","sessionName":null,"trustAnchorArn":"{TA}"}},
            "mode":{{"kind":"EcsFullQuery"}}}}"#
        );
        let binding =
            Binding::from_file(Path::new("t.json"), &name("testrole"), json.as_bytes()).unwrap();
        assert_eq!(binding.mode, Mode::EcsFullQuery);
        assert_eq!(binding.session.duration, SessionDuration::DEFAULT);
        assert!(
            binding
                .accepts(&AccessToken::parse("needroleshere.testrole.dGhpc2lzYXRlc3Qu").unwrap())
        );
        assert!(
            !binding
                .accepts(&AccessToken::parse("needroleshere.testrole.dGhpc2lzYXRlc3Q_").unwrap())
        );
    }

    #[test]
    fn malformed_tokens() {
        assert_eq!(AccessToken::parse("Bearer x"), Err(TokenError::Prefix));
        assert_eq!(
            AccessToken::parse("needroleshere."),
            Err(TokenError::NoSecret)
        );
        assert_eq!(
            AccessToken::parse("needroleshere.abc"),
            Err(TokenError::NoSecret)
        );
        assert_eq!(
            AccessToken::parse("needroleshere.abc."),
            Err(TokenError::BadSecret)
        );
        assert_eq!(
            AccessToken::parse("needroleshere.../x.s"),
            Err(TokenError::BadName)
        );
        assert_eq!(
            AccessToken::parse(&format!("needroleshere.a.{}", "A".repeat(500))),
            Err(TokenError::BadSecret)
        );
        // Not base64url: parses, but never verifies.
        assert_eq!(
            AccessToken::parse("needroleshere.a.~~")
                .unwrap()
                .secret_hash(),
            None
        );
    }

    #[test]
    fn json_round_trip_writes_both_mode_fields() {
        let (binding, token) = sample(Mode::EcsRelativeQuery);
        let json = binding.to_json();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["mode"]["kind"], "EcsRelativeQuery");
        assert_eq!(value["env_mode"]["kind"], "EcsRelativeQuery");
        assert_eq!(value["request"]["durationSeconds"], 3600);
        assert!(value["request"]["sessionName"].is_null());
        let back =
            Binding::from_file(Path::new("b.json"), &name("web-1"), json.as_bytes()).unwrap();
        assert!(back.accepts(&token));
        assert_eq!(back.mode, Mode::EcsRelativeQuery);
        assert_eq!(back.session, binding.session);
    }

    #[test]
    fn pins_round_trip_and_admit_only_their_uids() {
        let (binding, token) = sample(Mode::EcsFull);
        assert!(!binding.is_pinned());
        assert!(binding.admits(None) && binding.admits(Some(0)) && binding.admits(Some(7)));
        assert!(!binding.to_json().contains("allowed_uids"));

        let pinned = binding.pinned_to(vec![1001, 0, 1001]);
        assert_eq!(pinned.allowed_uids, [0, 1001]);
        let json = pinned.to_json();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["allowed_uids"], serde_json::json!([0, 1001]));
        let back =
            Binding::from_file(Path::new("b.json"), &name("web-1"), json.as_bytes()).unwrap();
        assert!(back.accepts(&token));
        assert!(back.is_pinned());
        assert!(back.admits(Some(1001)) && back.admits(Some(0)));
        // Another user, and a connection whose user is unknown, are not admitted.
        assert!(!back.admits(Some(1002)) && !back.admits(None));
        // Root is not implied.
        let only_app = back.pinned_to(vec![1001]);
        assert!(!only_app.admits(Some(0)));

        let path = Path::new("b.json");
        for bad in ["-1", "\"root\"", "4294967296", "[0.5]"] {
            let json = json.replace("[\n    0,\n    1001\n  ]", bad);
            assert_ne!(json, pinned.to_json(), "the replacement must hit");
            let err = Binding::from_file(path, &name("web-1"), json.as_bytes()).unwrap_err();
            assert!(err.to_string().contains("allowed_uids"), "{bad}: {err}");
        }
    }

    #[test]
    fn invalid_files_name_the_field() {
        let path = Path::new("/run/x/bindings/web-1.json");
        let err = Binding::from_file(path, &name("web-1"), b"{")
            .unwrap_err()
            .to_string();
        assert!(err.contains("/run/x/bindings/web-1.json"), "{err}");
        let (binding, _) = sample(Mode::EcsFull);
        let json = binding.to_json().replace(ROLE, "role/r");
        let err = Binding::from_file(path, &name("web-1"), json.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("request.roleArn"), "{err}");
        let err = Binding::from_file(path, &name("other"), binding.to_json().as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("names binding \"web-1\""), "{err}");
        let json = binding.to_json().replace("EcsFull", "Empty");
        let err = Binding::from_file(path, &name("web-1"), json.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"Empty\""), "{err}");
    }

    #[test]
    fn the_url_hint_of_imds_mode_names_an_imds_listener() {
        let (_, token) = sample(Mode::Imds);
        let imds = render_env(Mode::Imds, None, &token, false)
            .unwrap_err()
            .to_string();
        // The ECS listener (127.0.0.1:7224) answers IMDS paths with 404.
        assert!(!imds.contains("e.g. http://127.0.0.1:7224"), "{imds}");
        assert!(imds.contains("http://169.254.169.254"), "{imds}");
        assert!(imds.contains("needroleshere-imds@"), "{imds}");
        let ecs = render_env(Mode::EcsFull, None, &token, false)
            .unwrap_err()
            .to_string();
        assert!(ecs.contains("http://127.0.0.1:7224"), "{ecs}");
    }

    #[test]
    fn env_files_per_mode() {
        let url: url::Url = "http://127.0.0.1:7224/ignored?x=1".parse().unwrap();
        let (_, token) = sample(Mode::EcsFull);
        let t = token.to_secret_string();
        let t = t.expose();
        let env = |mode, file: bool| {
            render_env(mode, Some(&url), &token, file)
                .unwrap()
                .expose()
                .to_owned()
        };
        assert_eq!(
            env(Mode::EcsFull, false),
            format!(
                "AWS_CONTAINER_AUTHORIZATION_TOKEN=\"Bearer {t}\"\nAWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:7224/ecs/credentials\n"
            )
        );
        assert_eq!(
            env(Mode::EcsFullQuery, false),
            format!(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:7224/ecs/credentials?access_token={t}\n"
            )
        );
        assert_eq!(
            env(Mode::EcsRelative, false),
            format!(
                "AWS_CONTAINER_AUTHORIZATION_TOKEN=\"Bearer {t}\"\nAWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/ecs/credentials\n"
            )
        );
        assert_eq!(
            env(Mode::EcsRelativeQuery, false),
            format!("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/ecs/credentials?access_token={t}\n")
        );
        assert_eq!(
            env(Mode::EcsFull, true),
            "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:7224/ecs/credentials\n"
        );
        assert_eq!(
            env(Mode::EcsRelative, true),
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/ecs/credentials\n"
        );
        let err = render_env(Mode::EcsFull, None, &token, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs --url"), "{err}");
        let err = render_env(Mode::EcsFullQuery, Some(&url), &token, true).unwrap_err();
        assert!(matches!(err, BindingError::TokenFileWithQueryMode(_)));
    }

    #[test]
    fn store_sees_rebinds_and_unbinds() {
        let dir = tempfile::tempdir().unwrap();
        let config = ConfigDir::new(dir.path());
        std::fs::create_dir_all(config.bindings_dir()).unwrap();
        let store = Store::new(config.clone());
        let n = name("web-1");
        assert!(matches!(store.load(&n), Err(BindingError::NotFound { .. })));
        let (first, first_token) = sample(Mode::EcsFull);
        crate::system::files::write_atomic(
            &config.binding_path(&n),
            first.to_json().as_bytes(),
            0o644,
        )
        .unwrap();
        assert!(store.load(&n).unwrap().accepts(&first_token));
        let (second, second_token) = sample(Mode::EcsFull);
        crate::system::files::write_atomic(
            &config.binding_path(&n),
            second.to_json().as_bytes(),
            0o644,
        )
        .unwrap();
        let loaded = store.load(&n).unwrap();
        assert!(loaded.accepts(&second_token) && !loaded.accepts(&first_token));
        std::fs::remove_file(config.binding_path(&n)).unwrap();
        assert!(matches!(store.load(&n), Err(BindingError::NotFound { .. })));
    }
}
