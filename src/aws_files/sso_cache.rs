//! The IAM Identity Center token cache the AWS CLI v2 keeps in `~/.aws/sso/cache/`, read and
//! written exactly as the CLI does, so a person who ran `aws sso login` is served at once and
//! a sign-in done here is seen by the CLI.
//!
//! Format (AWS CLI v2 2.9 / botocore `SSOTokenFetcher`, `SSOTokenProvider`, `JSONFileCache`;
//! checked against the real CLI by `tests/sso_cli.rs`):
//! * The directory is `$HOME/.aws/sso/cache` (the CLI honours no variable for it).
//! * The token file is `HEX.json`, HEX the lowercase hex SHA-1 of the `sso-session` name, or
//!   of the start URL for a profile of the older form without `sso_session`
//!   ([`TokenKey`]). Members: `startUrl`, `region`, `accessToken`, `expiresAt`, and the
//!   registration the token was made with, `clientId`, `clientSecret`,
//!   `registrationExpiresAt`, plus `refreshToken` when the service gave one (only to clients
//!   registered with scopes, i.e. the `sso-session` form) ([`CachedToken`]).
//! * The client registration file is `HEX.json`, HEX the hex SHA-1 of Python's
//!   `json.dumps({"tool": "botocore", "startUrl": …, "region": …, "scopes": …,
//!   "session_name": …}, sort_keys=True)` (default separators `", "` and `": "`; `null` for
//!   the older form's missing scopes and session name) ([`registration_file_name`]).
//!   Members: `clientId`, `clientSecret`, `expiresAt`, and `scopes` when registered with
//!   some ([`CachedRegistration`]).
//! * Times are written as the CLI writes them, `2026-12-03T18:04:05Z`; read are those and
//!   any RFC 3339 time (other SDKs write fractional seconds or offsets), and `…UTC`, which
//!   botocore's generic JSON cache writes.
//! * Members this module does not know are kept when a file it read is written back, so a
//!   newer CLI's additions survive a renewal done here.
//!
//! Writing ([`SsoCache::write_token`], [`SsoCache::write_registration`]): atomic (temporary
//! file, sync, rename; `crate::system::files::write_atomic`), a new file mode 0600 (an
//! existing one keeps its mode and owner, as everywhere in this project), the directory made
//! 0700 if missing. A file is replaced only when it is absent or is a readable file of the
//! same kind for the same start URL: what a renewal or a new sign-in of the same session
//! replaces. Anything else there — unreadable JSON, a token with wrong or missing members,
//! a token for another start URL (another tool's, or the session renamed to point
//! elsewhere) — is never overwritten: it is renamed aside first, to
//! `HEX.json.unreadable-YYYYMMDDTHHMMSSZ`, and [`Written::set_aside`] names it so the caller
//! can tell the person. Why not refuse instead: the CLI treats such a file as no sign-in at
//! all, so refusing would only block the person's sign-in while keeping nothing the set-aside
//! copy does not keep; why not overwrite: the file may be the only copy of something a
//! person wants to look at (a token another tool wrote for another portal).
//!
//! Reading refuses anything but a regular file (a FIFO would block) and files over
//! [`MAX_FILE_BYTES`]. Tokens, refresh tokens and client secrets are [`Secret`]s: `Debug`
//! shows none of them.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use crate::secret::Secret;
use crate::system::env::Environment;
use crate::system::files;

/// Larger files are refused unread: the CLI's are a few kilobytes.
pub const MAX_FILE_BYTES: u64 = 256 * 1024;

/// Which token file: the `sso-session` name, or the start URL of a profile of the older
/// form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKey {
    /// `sso_session = NAME` and its `[sso-session NAME]` section.
    Session(String),
    /// `sso_start_url` in the profile itself.
    Legacy {
        /// The start URL.
        start_url: String,
    },
}

impl TokenKey {
    /// `HEX.json`: the hex SHA-1 of the session name or the start URL.
    pub fn file_name(&self) -> String {
        let input = match self {
            Self::Session(name) => name,
            Self::Legacy { start_url } => start_url,
        };
        format!("{}.json", sha1_hex(input))
    }
}

/// The registration file's name for a sign-in to `start_url` in `region` (see the module
/// documentation): `session` and `scopes` are `None` for the older profile form, as the CLI
/// passes them.
pub fn registration_file_name(
    start_url: &str,
    region: &str,
    session: Option<&str>,
    scopes: Option<&[String]>,
) -> String {
    let python = |value: Option<String>| value.unwrap_or_else(|| "null".to_owned());
    let scopes = scopes.map(|scopes| {
        let items: Vec<String> = scopes
            .iter()
            .map(|scope| python_json_string(scope))
            .collect();
        format!("[{}]", items.join(", "))
    });
    // Keys in Python's sorted order: region, scopes, session_name, startUrl, tool.
    let text = format!(
        "{{\"region\": {}, \"scopes\": {}, \"session_name\": {}, \"startUrl\": {}, \
         \"tool\": \"botocore\"}}",
        python_json_string(region),
        python(scopes),
        python(session.map(python_json_string)),
        python_json_string(start_url),
    );
    format!("{}.json", sha1_hex(&text))
}

/// A string as Python's `json.dumps` writes it by default (`ensure_ascii=True`): `"`, `\`
/// and the control characters escaped, everything past ASCII as `\uXXXX` (UTF-16).
fn python_json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}

fn sha1_hex(text: &str) -> String {
    // SHA-1 only because it is the CLI's file naming rule; nothing here relies on it.
    hex::encode(ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        text.as_bytes(),
    ))
}

/// The client registration a token was made with, as the token file keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClient {
    /// `clientId`.
    pub client_id: String,
    /// `clientSecret`.
    pub client_secret: Secret,
    /// `registrationExpiresAt`.
    pub expires_at: OffsetDateTime,
}

/// A token file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedToken {
    /// `startUrl` (the CLI always writes it; some tools may not).
    pub start_url: Option<String>,
    /// `region`: the OIDC service's region.
    pub region: Option<String>,
    /// `accessToken`: the portal's bearer token.
    pub access_token: Secret,
    /// `expiresAt`.
    pub expires_at: OffsetDateTime,
    /// `clientId`, `clientSecret`, `registrationExpiresAt`, when all three are there.
    pub client: Option<TokenClient>,
    /// `refreshToken`.
    pub refresh_token: Option<Secret>,
    /// Members not listed above, written back as they were.
    pub other: Map<String, Value>,
}

impl CachedToken {
    /// What the CLI's renewal needs: a refresh token and a registration that has not
    /// expired at `now`.
    pub fn renewable(&self, now: OffsetDateTime) -> Option<(&TokenClient, &Secret)> {
        let client = self
            .client
            .as_ref()
            .filter(|client| client.expires_at > now)?;
        Some((client, self.refresh_token.as_ref()?))
    }
}

/// A client registration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedRegistration {
    /// `clientId`.
    pub client_id: String,
    /// `clientSecret`.
    pub client_secret: Secret,
    /// `expiresAt`.
    pub expires_at: OffsetDateTime,
    /// `scopes`, when registered with some.
    pub scopes: Option<Vec<String>>,
    /// Members not listed above, written back as they were.
    pub other: Map<String, Value>,
}

/// Why a cache file's text is not a token or registration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Not JSON at all.
    #[error("not JSON: {0}")]
    Json(String),
    /// JSON, but not an object.
    #[error("not a JSON object")]
    NotObject,
    /// A required member is absent.
    #[error("no {0} member")]
    Missing(&'static str),
    /// A member of the wrong type or shape.
    #[error("member {member}: {problem}")]
    Member {
        /// Which.
        member: &'static str,
        /// What is wrong (never the value of a secret member).
        problem: String,
    },
}

fn member_error(member: &'static str, problem: impl Into<String>) -> FormatError {
    FormatError::Member {
        member,
        problem: problem.into(),
    }
}

fn parse_object(text: &[u8]) -> Result<Map<String, Value>, FormatError> {
    match serde_json::from_slice::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(FormatError::NotObject),
        // serde_json's message names a line and column, never the text.
        Err(error) => Err(FormatError::Json(error.to_string())),
    }
}

fn take_string(
    map: &mut Map<String, Value>,
    member: &'static str,
) -> Result<Option<String>, FormatError> {
    match map.remove(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Err(member_error(member, "empty")),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(member_error(member, "not a string")),
    }
}

fn take_time(
    map: &mut Map<String, Value>,
    member: &'static str,
) -> Result<Option<OffsetDateTime>, FormatError> {
    take_string(map, member)?
        .map(|text| {
            parse_time(&text).ok_or_else(|| {
                member_error(
                    member,
                    format!("{text:?} is not a time (2026-01-02T03:04:05Z)"),
                )
            })
        })
        .transpose()
}

/// `2026-12-03T18:04:05Z` and any RFC 3339 time; `2026-12-03T18:04:05UTC`. `None` also
/// for a time whose UTC date falls outside the years 0000–9999 (it could not be written
/// back).
pub fn parse_time(text: &str) -> Option<OffsetDateTime> {
    let at = match OffsetDateTime::parse(text, &Rfc3339) {
        Ok(at) => at,
        Err(_) => {
            let naive = text.strip_suffix("UTC")?;
            time::PrimitiveDateTime::parse(
                naive,
                format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
            )
            .ok()?
            .assume_utc()
        }
    };
    at.checked_to_offset(time::UtcOffset::UTC)
        .filter(|utc| (0..=9999).contains(&utc.year()))
}

/// `2026-12-03T18:04:05Z`, as the CLI writes times (whole seconds, UTC).
pub fn format_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Parses a token file's text.
pub fn parse_token(text: &[u8]) -> Result<CachedToken, FormatError> {
    let mut map = parse_object(text)?;
    let start_url = take_string(&mut map, "startUrl")?;
    let region = take_string(&mut map, "region")?;
    let access_token = Secret::new(
        take_string(&mut map, "accessToken")?.ok_or(FormatError::Missing("accessToken"))?,
    );
    let expires_at = take_time(&mut map, "expiresAt")?.ok_or(FormatError::Missing("expiresAt"))?;
    let client_id = take_string(&mut map, "clientId")?;
    let client_secret = take_string(&mut map, "clientSecret")?;
    let registration_expires_at = take_time(&mut map, "registrationExpiresAt")?;
    let client = match (client_id, client_secret, registration_expires_at) {
        (Some(client_id), Some(secret), Some(expires_at)) => Some(TokenClient {
            client_id,
            client_secret: Secret::new(secret),
            expires_at,
        }),
        (None, None, None) => None,
        // Half a registration is kept as it was (the CLI would not renew with it either).
        (client_id, secret, expires_at) => {
            if let Some(id) = client_id {
                map.insert("clientId".into(), Value::String(id));
            }
            if let Some(secret) = secret {
                map.insert("clientSecret".into(), Value::String(secret));
            }
            if let Some(at) = expires_at {
                map.insert(
                    "registrationExpiresAt".into(),
                    Value::String(format_time(at)),
                );
            }
            None
        }
    };
    let refresh_token = take_string(&mut map, "refreshToken")?.map(Secret::new);
    Ok(CachedToken {
        start_url,
        region,
        access_token,
        expires_at,
        client,
        refresh_token,
        other: map,
    })
}

/// A token file's text: the CLI's members, then the ones kept from the file read.
pub fn token_json(token: &CachedToken) -> Vec<u8> {
    let mut map = Map::new();
    if let Some(url) = &token.start_url {
        map.insert("startUrl".into(), Value::String(url.clone()));
    }
    if let Some(region) = &token.region {
        map.insert("region".into(), Value::String(region.clone()));
    }
    map.insert(
        "accessToken".into(),
        Value::String(token.access_token.expose().to_owned()),
    );
    map.insert(
        "expiresAt".into(),
        Value::String(format_time(token.expires_at)),
    );
    if let Some(client) = &token.client {
        map.insert("clientId".into(), Value::String(client.client_id.clone()));
        map.insert(
            "clientSecret".into(),
            Value::String(client.client_secret.expose().to_owned()),
        );
        map.insert(
            "registrationExpiresAt".into(),
            Value::String(format_time(client.expires_at)),
        );
    }
    if let Some(refresh) = &token.refresh_token {
        map.insert(
            "refreshToken".into(),
            Value::String(refresh.expose().to_owned()),
        );
    }
    for (key, value) in &token.other {
        map.entry(key.clone()).or_insert_with(|| value.clone());
    }
    Value::Object(map).to_string().into_bytes()
}

/// Parses a registration file's text.
pub fn parse_registration(text: &[u8]) -> Result<CachedRegistration, FormatError> {
    let mut map = parse_object(text)?;
    let client_id = take_string(&mut map, "clientId")?.ok_or(FormatError::Missing("clientId"))?;
    let client_secret = Secret::new(
        take_string(&mut map, "clientSecret")?.ok_or(FormatError::Missing("clientSecret"))?,
    );
    let expires_at = take_time(&mut map, "expiresAt")?.ok_or(FormatError::Missing("expiresAt"))?;
    let scopes = match map.remove("scopes") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .into_iter()
                .map(|item| match item {
                    Value::String(scope) => Ok(scope),
                    _ => Err(member_error("scopes", "not a list of strings")),
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(member_error("scopes", "not a list of strings")),
    };
    Ok(CachedRegistration {
        client_id,
        client_secret,
        expires_at,
        scopes,
        other: map,
    })
}

/// A registration file's text: the CLI's members, then the ones kept from the file read.
pub fn registration_json(registration: &CachedRegistration) -> Vec<u8> {
    let mut map = Map::new();
    map.insert(
        "clientId".into(),
        Value::String(registration.client_id.clone()),
    );
    map.insert(
        "clientSecret".into(),
        Value::String(registration.client_secret.expose().to_owned()),
    );
    map.insert(
        "expiresAt".into(),
        Value::String(format_time(registration.expires_at)),
    );
    if let Some(scopes) = &registration.scopes {
        map.insert(
            "scopes".into(),
            Value::Array(scopes.iter().cloned().map(Value::String).collect()),
        );
    }
    for (key, value) in &registration.other {
        map.entry(key.clone()).or_insert_with(|| value.clone());
    }
    Value::Object(map).to_string().into_bytes()
}

/// Why the cache could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SsoCacheError {
    /// No `HOME`, so no `~/.aws/sso/cache`.
    #[error("no home directory (HOME is not set), so no ~/.aws/sso/cache")]
    NoHome,
    /// The file could not be read, written, or set aside.
    #[error("{action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// Which file.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("{path} is larger than {MAX_FILE_BYTES} bytes: not an SSO cache file")]
    TooLarge {
        /// Which file.
        path: PathBuf,
    },
    /// The file is not a token or registration.
    #[error("{path} is not an AWS SSO cache file the AWS CLI would use")]
    Format {
        /// Which file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: FormatError,
    },
}

/// What a write did besides writing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// The file written.
    pub path: PathBuf,
    /// Where an unusable file that was in the way was moved (see the module documentation).
    pub set_aside: Option<PathBuf>,
}

/// The cache directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoCache {
    dir: PathBuf,
}

impl SsoCache {
    /// The cache at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// `$HOME/.aws/sso/cache`.
    pub fn from_env(env: &Environment) -> Result<Self, SsoCacheError> {
        let home = env.home.as_ref().ok_or(SsoCacheError::NoHome)?;
        Ok(Self::new(home.join(".aws").join("sso").join("cache")))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The token for `key`; `None` when there is no file.
    pub fn read_token(&self, key: &TokenKey) -> Result<Option<CachedToken>, SsoCacheError> {
        let path = self.dir.join(key.file_name());
        read_file(&path)?
            .map(|text| parse_token(&text).map_err(|source| SsoCacheError::Format { path, source }))
            .transpose()
    }

    /// The registration file named by [`registration_file_name`]; `None` when there is none.
    pub fn read_registration(
        &self,
        file_name: &str,
    ) -> Result<Option<CachedRegistration>, SsoCacheError> {
        let path = self.dir.join(file_name);
        read_file(&path)?
            .map(|text| {
                parse_registration(&text).map_err(|source| SsoCacheError::Format { path, source })
            })
            .transpose()
    }

    /// Writes the token for `key` (see the module documentation for what is replaced and
    /// what is set aside). `now` names a set-aside file.
    pub fn write_token(
        &self,
        key: &TokenKey,
        token: &CachedToken,
        now: OffsetDateTime,
    ) -> Result<Written, SsoCacheError> {
        let path = self.dir.join(key.file_name());
        let replaceable = |text: &[u8]| {
            parse_token(text).is_ok_and(|existing| existing.start_url == token.start_url)
        };
        self.write(path, &token_json(token), replaceable, now)
    }

    /// Writes a registration under `file_name` (from [`registration_file_name`]); an existing
    /// file is replaced if it is a registration, set aside otherwise.
    pub fn write_registration(
        &self,
        file_name: &str,
        registration: &CachedRegistration,
        now: OffsetDateTime,
    ) -> Result<Written, SsoCacheError> {
        let path = self.dir.join(file_name);
        let replaceable = |text: &[u8]| parse_registration(text).is_ok();
        self.write(path, &registration_json(registration), replaceable, now)
    }

    fn write(
        &self,
        path: PathBuf,
        contents: &[u8],
        replaceable: impl Fn(&[u8]) -> bool,
        now: OffsetDateTime,
    ) -> Result<Written, SsoCacheError> {
        let io_error = |action, path: &Path| {
            let path = path.to_owned();
            move |source| SsoCacheError::Io {
                action,
                path,
                source,
            }
        };
        files::ensure_dir(&self.dir, 0o700).map_err(io_error("cannot create", &self.dir))?;
        let in_the_way = match read_file(&path) {
            Ok(None) => false,
            Ok(Some(text)) => !replaceable(&text),
            Err(SsoCacheError::TooLarge { .. }) => true,
            Err(error) => return Err(error),
        };
        let set_aside = if in_the_way {
            let stamp = format!(
                "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
                now.year(),
                u8::from(now.month()),
                now.day(),
                now.hour(),
                now.minute(),
                now.second()
            );
            let mut aside = path.clone().into_os_string();
            aside.push(format!(".unreadable-{stamp}"));
            let aside = PathBuf::from(aside);
            if aside.exists() {
                // Two in one second: the first copy is kept, nothing is overwritten.
                return Err(SsoCacheError::Io {
                    action: "cannot set aside the unusable cache file",
                    path,
                    source: io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("{} already exists", aside.display()),
                    ),
                });
            }
            std::fs::rename(&path, &aside)
                .map_err(io_error("cannot set aside the unusable cache file", &path))?;
            tracing::warn!(
                file = %path.display(),
                moved_to = %aside.display(),
                "an SSO cache file in the way was not a usable token for this sign-in; \
                 kept it under another name"
            );
            Some(aside)
        } else {
            None
        };
        files::write_atomic(&path, contents, 0o600).map_err(io_error("cannot write", &path))?;
        Ok(Written { path, set_aside })
    }
}

/// The file's bytes; `None` when it does not exist.
fn read_file(path: &Path) -> Result<Option<Vec<u8>>, SsoCacheError> {
    use std::io::Read as _;
    let io_error = |source| SsoCacheError::Io {
        action: "cannot read",
        path: path.to_owned(),
        source,
    };
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error(error)),
    };
    files::regular(&meta).map_err(io_error)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(SsoCacheError::TooLarge {
            path: path.to_owned(),
        });
    }
    let mut text = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_FILE_BYTES + 1).read_to_end(&mut text))
        .map_err(io_error)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(SsoCacheError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(Some(text))
}

impl fmt::Display for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Session(name) => write!(f, "sso-session {name}"),
            Self::Legacy { start_url } => write!(f, "start URL {start_url}"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "test code: a panic is the failure report"
    )]

    use super::*;
    use std::os::unix::fs::PermissionsExt as _;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-03 18:00:00 UTC);

    /// What the CLI 2.9.19 wrote for `aws sso login` with an `sso-session` (values
    /// shortened).
    const CLI_TOKEN: &str = r#"{"startUrl": "https://d-9067example.awsapps.com/start", "region": "us-east-1", "accessToken": "aoaTOKEN", "expiresAt": "2026-12-03T19:00:00Z", "clientId": "CLIENTID", "clientSecret": "CLIENTSECRET", "registrationExpiresAt": "2027-03-03T18:00:00Z", "refreshToken": "aorREFRESH"}"#;

    fn token() -> CachedToken {
        parse_token(CLI_TOKEN.as_bytes()).unwrap()
    }

    #[test]
    fn file_names_follow_the_cli() {
        // The expected names are Python's: hashlib.sha1(b"corp").hexdigest(), and
        // hashlib.sha1(json.dumps({"tool": "botocore", "startUrl": …, "region": …,
        // "scopes": …, "session_name": …}, sort_keys=True).encode()).hexdigest().
        assert_eq!(
            TokenKey::Session("corp".into()).file_name(),
            "ee0bfd2552fbd840c02cc48b6e823320543c450f.json"
        );
        assert_eq!(
            TokenKey::Legacy {
                start_url: "https://x.awsapps.com/start".into()
            }
            .file_name(),
            "3947de8b16688092197fa616c34e01335f21d256.json"
        );
        let url = "https://x.awsapps.com/start";
        assert_eq!(
            registration_file_name(
                url,
                "eu-west-1",
                Some("corp"),
                Some(&["sso:account:access".to_owned()])
            ),
            "3aa7fbe5a617342ab6bc8c26f7425fed31e69108.json"
        );
        assert_eq!(
            registration_file_name(url, "eu-west-1", None, None),
            "96d39d608031cc5883b337f21f74c76cf488e5e2.json"
        );
        // Escapes and characters past ASCII as json.dumps writes them.
        assert_eq!(
            registration_file_name(
                url,
                "eu-west-1",
                Some("c\u{f6}rp\""),
                Some(&["sso:account:access".to_owned(), "\u{e9}".to_owned()])
            ),
            "365f3838586fc867fa7145aba55fba6afd3029c6.json"
        );
        assert_eq!(
            python_json_string("a\"b\\c\u{e9}\u{1f600}\n"),
            "\"a\\\"b\\\\c\\u00e9\\ud83d\\ude00\\n\""
        );
    }

    #[test]
    fn reads_and_writes_what_the_cli_writes() {
        let token = token();
        assert_eq!(
            token.start_url.as_deref(),
            Some("https://d-9067example.awsapps.com/start")
        );
        assert_eq!(token.region.as_deref(), Some("us-east-1"));
        assert_eq!(token.access_token.expose(), "aoaTOKEN");
        assert_eq!(token.expires_at, datetime!(2026-12-03 19:00:00 UTC));
        let client = token.client.as_ref().unwrap();
        assert_eq!(client.client_id, "CLIENTID");
        assert_eq!(client.expires_at, datetime!(2027-03-03 18:00:00 UTC));
        assert_eq!(token.refresh_token.as_ref().unwrap().expose(), "aorREFRESH");
        assert!(token.other.is_empty());
        // Same members, same values as the CLI's file.
        let written: Value = serde_json::from_slice(&token_json(&token)).unwrap();
        let original: Value = serde_json::from_str(CLI_TOKEN).unwrap();
        assert_eq!(written, original);
    }

    #[test]
    fn times_of_other_writers_are_read() {
        for (text, at) in [
            ("2026-12-03T19:00:00Z", datetime!(2026-12-03 19:00:00 UTC)),
            (
                "2026-12-03T19:00:00.250Z",
                datetime!(2026-12-03 19:00:00.25 UTC),
            ),
            (
                "2026-12-03T20:00:00+01:00",
                datetime!(2026-12-03 19:00:00 UTC),
            ),
            ("2026-12-03T19:00:00UTC", datetime!(2026-12-03 19:00:00 UTC)),
        ] {
            assert_eq!(parse_time(text), Some(at), "{text}");
        }
        for bad in [
            "",
            "2026-12-03",
            "2026-12-03T19:00:00",
            "tomorrow",
            "2026-13-03T19:00:00Z",
            // Year 10000 in UTC: could not be written back.
            "9999-12-31T23:00:00-02:00",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        assert_eq!(
            format_time(datetime!(2026-12-03 20:00:00.9 +01:00)),
            "2026-12-03T19:00:00Z"
        );
    }

    #[test]
    fn unknown_members_and_half_registrations_are_kept() {
        let text = r#"{"accessToken": "a", "expiresAt": "2026-12-03T19:00:00Z", "clientId": "c", "newField": {"x": 1}}"#;
        let token = parse_token(text.as_bytes()).unwrap();
        assert!(token.client.is_none());
        assert!(token.start_url.is_none());
        let back: Value = serde_json::from_slice(&token_json(&token)).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn regression_a_large_number_in_an_unknown_member_survives_a_rewrite() {
        // Found by the sso_cache fuzz target: without serde_json's float_roundtrip, a
        // 45-digit integer read as a float wrote back as a slightly different number.
        let text = r#"{"accessToken": "a", "expiresAt": "2026-12-03T19:00:00Z", "n": [111111111111111111111111111111111111111111111, 2.0]}"#;
        let token = parse_token(text.as_bytes()).unwrap();
        assert_eq!(parse_token(&token_json(&token)).unwrap(), token);
    }

    #[test]
    fn refusals_name_what_is_wrong_and_never_a_secret() {
        for (text, expected) in [
            ("", "not JSON"),
            ("[]", "not a JSON object"),
            (
                r#"{"expiresAt": "2026-12-03T19:00:00Z"}"#,
                "no accessToken member",
            ),
            (r#"{"accessToken": "secret-value"}"#, "no expiresAt member"),
            (
                r#"{"accessToken": "secret-value", "expiresAt": 5}"#,
                "member expiresAt: not a string",
            ),
            (
                r#"{"accessToken": "secret-value", "expiresAt": "soon"}"#,
                "member expiresAt: \"soon\" is not a time",
            ),
            (
                r#"{"accessToken": "", "expiresAt": "2026-12-03T19:00:00Z"}"#,
                "member accessToken: empty",
            ),
            (
                r#"{"accessToken": "secret-value", "expiresAt": "2026-12-03T19:00:00Z", "refreshToken": 1}"#,
                "member refreshToken: not a string",
            ),
        ] {
            let error = parse_token(text.as_bytes()).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
            assert!(!error.contains("secret-value"), "{error}");
        }
        for (text, expected) in [
            (
                r#"{"clientSecret": "s", "expiresAt": "2026-12-03T19:00:00Z"}"#,
                "no clientId",
            ),
            (
                r#"{"clientId": "c", "clientSecret": "s", "expiresAt": "2026-12-03T19:00:00Z", "scopes": "x"}"#,
                "member scopes",
            ),
            (
                r#"{"clientId": "c", "clientSecret": "s", "expiresAt": "2026-12-03T19:00:00Z", "scopes": [1]}"#,
                "member scopes",
            ),
        ] {
            let error = parse_registration(text.as_bytes()).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn renewable_needs_a_refresh_token_and_a_live_registration() {
        let token = token();
        assert!(token.renewable(NOW).is_some());
        assert!(
            token
                .renewable(datetime!(2027-03-03 18:00:00 UTC))
                .is_none()
        );
        let mut no_refresh = token.clone();
        no_refresh.refresh_token = None;
        assert!(no_refresh.renewable(NOW).is_none());
    }

    #[test]
    fn debug_shows_no_secret() {
        let shown = format!("{:?}", token());
        for secret in ["aoaTOKEN", "CLIENTSECRET", "aorREFRESH"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        let registration = parse_registration(
            br#"{"clientId": "c", "clientSecret": "CLIENTSECRET", "expiresAt": "2026-12-03T19:00:00Z"}"#,
        )
        .unwrap();
        assert!(!format!("{registration:?}").contains("CLIENTSECRET"));
    }

    #[test]
    fn writes_are_0600_in_a_0700_directory_and_read_back() {
        let home = tempfile::tempdir().unwrap();
        let cache = SsoCache::new(home.path().join(".aws/sso/cache"));
        let key = TokenKey::Session("corp".into());
        assert_eq!(cache.read_token(&key).unwrap(), None);
        let written = cache.write_token(&key, &token(), NOW).unwrap();
        assert_eq!(written.set_aside, None);
        assert_eq!(written.path, cache.dir().join(key.file_name()));
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&written.path), 0o600);
        assert_eq!(mode(cache.dir()), 0o700);
        assert_eq!(cache.read_token(&key).unwrap(), Some(token()));

        // A renewal replaces it in place.
        let mut renewed = token();
        renewed.access_token = Secret::new("aoaRENEWED");
        let written = cache.write_token(&key, &renewed, NOW).unwrap();
        assert_eq!(written.set_aside, None);
        assert_eq!(cache.read_token(&key).unwrap(), Some(renewed));
        assert_eq!(std::fs::read_dir(cache.dir()).unwrap().count(), 1);

        let name = registration_file_name("u", "r", None, None);
        let registration = parse_registration(
            br#"{"clientId": "c", "clientSecret": "s", "expiresAt": "2027-03-03T18:00:00Z", "scopes": ["sso:account:access"]}"#,
        )
        .unwrap();
        cache.write_registration(&name, &registration, NOW).unwrap();
        assert_eq!(cache.read_registration(&name).unwrap(), Some(registration));
        assert_eq!(mode(&cache.dir().join(&name)), 0o600);
    }

    #[test]
    fn a_corrupt_or_foreign_file_is_set_aside_never_overwritten() {
        let home = tempfile::tempdir().unwrap();
        let cache = SsoCache::new(home.path().join("cache"));
        let key = TokenKey::Session("corp".into());
        std::fs::create_dir_all(cache.dir()).unwrap();
        let path = cache.dir().join(key.file_name());
        for (n, existing) in [
            "{not json".to_owned(),
            r#"{"token": "another tool's format"}"#.to_owned(),
            CLI_TOKEN.replace("d-9067example", "d-other"),
        ]
        .into_iter()
        .enumerate()
        {
            std::fs::write(&path, &existing).unwrap();
            assert!(cache.read_token(&key).is_err() || n == 2);
            let now = NOW + time::Duration::seconds(n as i64);
            let written = cache.write_token(&key, &token(), now).unwrap();
            let aside = written.set_aside.unwrap();
            assert!(
                aside
                    .to_string_lossy()
                    .ends_with(&format!(".json.unreadable-20261203T18000{n}Z")),
                "{}",
                aside.display()
            );
            assert_eq!(std::fs::read_to_string(&aside).unwrap(), existing);
            assert_eq!(cache.read_token(&key).unwrap(), Some(token()));
        }
        // A second set-aside in the same second would overwrite the first: refused.
        std::fs::write(&path, "{not json").unwrap();
        let error = cache
            .write_token(&key, &token(), NOW + time::Duration::seconds(2))
            .unwrap_err();
        assert!(error.to_string().contains("cannot set aside"), "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{not json");
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it() {
        let home = tempfile::tempdir().unwrap();
        let cache = SsoCache::new(home.path());
        let key = TokenKey::Session("corp".into());
        std::fs::write(home.path().join(key.file_name()), "[]").unwrap();
        let error = cache.read_token(&key).unwrap_err();
        let chain = format!("{error}: {}", std::error::Error::source(&error).unwrap());
        assert!(chain.contains(&key.file_name()), "{chain}");
        assert!(chain.contains("not a JSON object"), "{chain}");
    }

    #[test]
    fn links_sockets_and_huge_files_are_refused() {
        let home = tempfile::tempdir().unwrap();
        let cache = SsoCache::new(home.path());
        let key = TokenKey::Session("corp".into());
        let path = home.path().join(key.file_name());
        // Not a regular file (a socket here; a FIFO is refused the same way, by its type).
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let error = cache.read_token(&key).unwrap_err().to_string();
        assert!(error.contains("cannot read"), "{error}");
        drop(listener);
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, vec![b' '; MAX_FILE_BYTES as usize + 1]).unwrap();
        assert!(matches!(
            cache.read_token(&key).unwrap_err(),
            SsoCacheError::TooLarge { .. }
        ));
        // Written over only after being set aside.
        let written = cache.write_token(&key, &token(), NOW).unwrap();
        assert!(written.set_aside.is_some());
        // A link in the token's place is not followed when writing.
        std::fs::remove_file(&path).unwrap();
        let target = home.path().join("elsewhere");
        std::fs::write(&target, CLI_TOKEN).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(cache.write_token(&key, &token(), NOW).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), CLI_TOKEN);
    }
}
