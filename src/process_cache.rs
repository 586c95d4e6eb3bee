//! The credentials `credential-process` shares between the processes of one user.
//!
//! The AWS CLI runs `credential_process` for every command; without a shared cache each run
//! would cost a CreateSession call, and a script of a few dozen commands would meet the
//! Roles Anywhere API's request-rate limit. So each run first looks for credentials an
//! earlier run left, and only one of the runs that find none calls upstream.
//!
//! * **Where**: `$XDG_RUNTIME_DIR/needroleshere/credential-process/` when that variable is
//!   set (a per-user tmpfs, emptied at logout), else
//!   `${XDG_CACHE_HOME:-~/.cache}/needroleshere/credential-process/` (on disk: the AWS CLI
//!   keeps its own cached credentials in `~/.aws/cli/cache` the same way). Both levels are
//!   created mode 0700; a directory that is a symbolic link, is not a directory, or belongs
//!   to another user is not used (the run calls upstream as if `--no-cache` were given),
//!   and one of ours that others could enter is made 0700 again.
//! * **What**: one file per identity, `KEY.json`, where KEY is the hex of the source key
//!   (the identity files, the request, the region and the endpoint: see
//!   [`crate::source::rolesanywhere::identity_key`]), holding the credentials, when they were
//!   fetched, and the version of the certificates they were fetched with (a digest of every
//!   certificate read, so a renewed certificate is a miss). Mode 0600, written to a
//!   temporary file and renamed over the old one, so a reader sees the old entry or the new
//!   one, never half of one.
//! * **Trust**: an entry is read without following links, and used only when it is a
//!   regular file of this user, readable by nobody else, small, in exactly this format, for
//!   this key and version. Anything else — corrupt, foreign, too open, another format — is
//!   ignored, and replaced by the next write.
//! * **Freshness**: the margins of the daemon's cache ([`crate::cache::Policy`]). An entry
//!   is served while more than `min(proactive_margin, lifetime/2)` of its lifetime remains
//!   (20 minutes of a 1-hour session); after that the run fetches anew, and falls back on
//!   the entry only while more than `min(blocking_margin, lifetime/3)` remains. Expired or
//!   nearly expired credentials are never served.
//! * **One call**: a run that finds no servable entry takes an exclusive `flock` on
//!   `KEY.lock` (waiting at most `refresh_wait`, then going ahead alone rather than hanging
//!   behind a stuck run), reads the entry again — the run it waited for has usually just
//!   written it — and only then calls upstream. So N concurrent runs on a cold cache make
//!   one call.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::OFlag;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::cache::Policy;
use crate::credentials::{Credentials, format_rfc3339, parse_rfc3339};
use crate::secret::Secret;
use crate::source::{Key, Version};
use crate::system::env::Environment;
use crate::system::files;

/// The format written in every entry; an entry of any other is ignored.
const FORMAT: u32 = 1;
/// An entry is a few hundred bytes (session tokens can reach a few KiB); anything much
/// larger is not ours and is not read.
const MAX_ENTRY_BYTES: u64 = 64 * 1024;
/// How often a run waiting for another's lock tries again.
const LOCK_POLL: Duration = Duration::from_millis(20);
/// Entries not rewritten for this long hold credentials that expired (sessions last at most
/// 12 hours): they are removed when a run writes its own.
const STALE_AFTER: Duration = Duration::from_secs(13 * 60 * 60);

/// Why the cache cannot be used; the run then goes without it.
#[derive(Debug, thiserror::Error)]
pub enum CacheDirError {
    #[error(
        "no directory for the credential cache: none of XDG_RUNTIME_DIR, XDG_CACHE_HOME and HOME is set to an absolute path"
    )]
    NoDirectory,
    #[error("cannot create the credential cache directory {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("not using the credential cache directory {path}: {reason}")]
    Untrusted { path: PathBuf, reason: String },
}

/// The cache directory `env` names; see the module docs.
pub fn directory(env: &Environment) -> Option<PathBuf> {
    let absolute = |p: &Option<PathBuf>| p.clone().filter(|p| p.is_absolute());
    let base = absolute(&env.xdg_runtime_dir)
        .or_else(|| absolute(&env.xdg_cache_home))
        .or_else(|| absolute(&env.home).map(|home| home.join(".cache")))?;
    Some(base.join("needroleshere").join("credential-process"))
}

/// An entry read back: the credentials and what they were fetched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: Key,
    pub version: Version,
    pub fetched_at: OffsetDateTime,
    /// Always has an expiration: credentials without one are never cached.
    pub credentials: Credentials,
}

/// How an entry stands at some instant; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Serve it.
    Fresh,
    /// Fetch anew; serve it only if the fetch fails.
    Fallback,
    /// Never serve it.
    Spent,
}

impl Entry {
    /// Where the entry stands at `now` under the margins of `policy`.
    pub fn freshness(&self, now: OffsetDateTime, policy: &Policy) -> Freshness {
        let Some(expiration) = self.credentials.expiration else {
            return Freshness::Spent;
        };
        let lifetime = Duration::try_from(expiration - self.fetched_at).unwrap_or(Duration::ZERO);
        let remaining = Duration::try_from(expiration - now).unwrap_or(Duration::ZERO);
        if remaining > policy.proactive_margin.min(lifetime / 2) {
            Freshness::Fresh
        } else if remaining > policy.blocking_margin.min(lifetime / 3) {
            Freshness::Fallback
        } else {
            Freshness::Spent
        }
    }
}

/// The file layout of an entry: every field required, no other field allowed.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored<'a> {
    format: u32,
    key: String,
    version: String,
    fetched_at: String,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    #[serde(borrow)]
    session_token: Option<&'a str>,
    expiration: String,
}

/// Why an entry's content was not used (it is then ignored, and replaced by the next write).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EntryError {
    #[error("not an entry of this format: {0}")]
    Syntax(String),
    #[error("format {0}, not {FORMAT}")]
    Format(u32),
    #[error("{field} is not {what}")]
    Field {
        field: &'static str,
        what: &'static str,
    },
    #[error("it expires before it was fetched")]
    Backwards,
}

/// Reads an entry's content. Outside input: anyone with this user's rights may have written
/// it, so every field is checked and nothing in it is trusted beyond what it says.
pub fn parse_entry(data: &[u8]) -> Result<Entry, EntryError> {
    // Borrowed strings only parse where JSON has no escapes; ours never writes any in the
    // fields that borrow (access keys and tokens are base64-like), and an entry with one
    // is simply ignored.
    let stored: Stored<'_> =
        serde_json::from_slice(data).map_err(|e| EntryError::Syntax(e.to_string()))?;
    if stored.format != FORMAT {
        return Err(EntryError::Format(stored.format));
    }
    let digest = |text: &str, field: &'static str| -> Result<[u8; 32], EntryError> {
        let mut out = [0u8; 32];
        // Lowercase only, as written: one spelling per key.
        let lowercase = text.bytes().all(|b| !b.is_ascii_uppercase());
        hex::decode_to_slice(text, &mut out)
            .ok()
            .filter(|()| lowercase)
            .map(|()| out)
            .ok_or(EntryError::Field {
                field,
                what: "64 lowercase hex digits",
            })
    };
    // In whole seconds of UTC, as written: an entry read back writes the same text.
    let time = |text: &str, field: &'static str| {
        parse_rfc3339(text)
            .ok()
            .map(|t| t.to_offset(time::UtcOffset::UTC))
            .and_then(|t| t.replace_nanosecond(0).ok())
            .ok_or(EntryError::Field {
                field,
                what: "an RFC 3339 time",
            })
    };
    let token = |text: &str, field: &'static str| {
        let printable = !text.is_empty() && text.bytes().all(|b| b.is_ascii_graphic());
        printable.then_some(()).ok_or(EntryError::Field {
            field,
            what: "printable ASCII",
        })
    };
    let key = digest(&stored.key, "key")?;
    let version = digest(&stored.version, "version")?;
    let fetched_at = time(&stored.fetched_at, "fetched_at")?;
    let expiration = time(&stored.expiration, "expiration")?;
    if expiration <= fetched_at {
        return Err(EntryError::Backwards);
    }
    token(stored.access_key_id, "access_key_id")?;
    token(stored.secret_access_key, "secret_access_key")?;
    if let Some(session_token) = stored.session_token {
        token(session_token, "session_token")?;
    }
    Ok(Entry {
        key,
        version,
        fetched_at,
        credentials: Credentials {
            access_key_id: stored.access_key_id.to_owned(),
            secret_access_key: Secret::new(stored.secret_access_key),
            session_token: stored.session_token.map(Secret::new),
            expiration: Some(expiration),
            role_arn: None,
        },
    })
}

/// An entry's content; `None` for credentials without an expiration (never cached).
pub fn format_entry(entry: &Entry) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    let credentials = &entry.credentials;
    let stored = Stored {
        format: FORMAT,
        key: hex::encode(entry.key),
        version: hex::encode(entry.version),
        // Whole seconds, as parsed back: the margins are minutes.
        fetched_at: format_rfc3339(entry.fetched_at),
        access_key_id: &credentials.access_key_id,
        secret_access_key: credentials.secret_access_key.expose(),
        session_token: credentials.session_token.as_ref().map(Secret::expose),
        expiration: format_rfc3339(credentials.expiration?),
    };
    // A struct of strings and integers always serialises.
    serde_json::to_vec(&stored)
        .ok()
        .map(zeroize::Zeroizing::new)
}

/// The cache directory, checked; see the module docs.
#[derive(Debug)]
pub struct ProcessCache {
    dir: PathBuf,
    uid: u32,
}

impl ProcessCache {
    /// Opens (creating it when missing) the cache directory `env` names.
    pub fn open(env: &Environment) -> Result<Self, CacheDirError> {
        let dir = directory(env).ok_or(CacheDirError::NoDirectory)?;
        Self::open_dir(dir)
    }

    /// Opens (creating it when missing) `dir`, whose parent is also ours to check.
    pub fn open_dir(dir: PathBuf) -> Result<Self, CacheDirError> {
        let uid = nix::unistd::Uid::effective().as_raw();
        // Ours: the directory and its parent (`needroleshere`), which this creates too.
        let levels: Vec<&Path> = [dir.parent(), Some(dir.as_path())]
            .into_iter()
            .flatten()
            .collect();
        for level in levels {
            private_dir(level, uid)?;
        }
        Ok(Self { dir, uid })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry_path(&self, key: &Key) -> PathBuf {
        self.dir.join(format!("{}.json", hex::encode(key)))
    }

    /// The entry of `key` if there is one this process can trust (see the module docs);
    /// `Err` says why a file that is there was not used.
    pub fn read(&self, key: &Key) -> Result<Option<Entry>, String> {
        let path = self.entry_path(key);
        let mut file = match open_private(&path, OpenOptions::new().read(true), self.uid) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let mut data = zeroize::Zeroizing::new(Vec::new());
        file.by_ref()
            .take(MAX_ENTRY_BYTES + 1)
            .read_to_end(&mut data)
            .map_err(|e| e.to_string())?;
        if data.len() as u64 > MAX_ENTRY_BYTES {
            return Err(format!("larger than {MAX_ENTRY_BYTES} bytes"));
        }
        let entry = parse_entry(&data).map_err(|e| e.to_string())?;
        if entry.key != *key {
            return Err("it holds another identity's credentials".into());
        }
        Ok(Some(entry))
    }

    /// Writes `entry` in place of whatever is there: a file that is not ours or too open is
    /// removed first, so its mode and owner are not kept. Entries left long before `now`
    /// are removed.
    pub fn write(&self, entry: &Entry, now: OffsetDateTime) -> io::Result<()> {
        let Some(content) = format_entry(entry) else {
            return Ok(());
        };
        let path = self.entry_path(&entry.key);
        match fs::symlink_metadata(&path) {
            Ok(meta) if !private_file(&meta, self.uid) => {
                files::remove_if_exists(&path)?;
            }
            _ => {}
        }
        files::write_atomic(&path, &content, 0o600)?;
        self.remove_stale(now);
        Ok(())
    }

    /// Removes entries not rewritten for [`STALE_AFTER`] (their credentials expired long
    /// ago), then the lock files of identities without an entry that were made that long
    /// ago and that no run holds. Best effort: a failure leaves them for the next time.
    fn remove_stale(&self, now: OffsetDateTime) {
        let old = |path: &Path| {
            fs::symlink_metadata(path)
                .and_then(|m| m.modified())
                .is_ok_and(|modified| now - OffsetDateTime::from(modified) > STALE_AFTER)
        };
        let with_extension = |extension: &str| -> Vec<PathBuf> {
            fs::read_dir(&self.dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|e| e == extension))
                .collect()
        };
        for path in with_extension("json") {
            if old(&path) {
                let _ = files::remove_if_exists(&path);
            }
        }
        for path in with_extension("lock") {
            if old(&path) && !path.with_extension("json").exists() {
                // Unlinked while locked here, so no run is inside it; one that opened it just
                // before may still lock it and fetch beside a newcomer: an extra call at worst.
                if let Ok(file) = open_private(&path, OpenOptions::new().read(true), self.uid)
                    && file.try_lock().is_ok()
                {
                    let _ = files::remove_if_exists(&path);
                }
            }
        }
    }

    /// Takes the lock of `key`, waiting at most `wait`. `None` when it could not be had in
    /// time (or at all): the caller goes ahead without it.
    pub async fn lock(&self, key: &Key, wait: Duration) -> Option<KeyLock> {
        let path = self.dir.join(format!("{}.lock", hex::encode(key)));
        let file = match self.open_lock_file(&path) {
            Ok(file) => file,
            Err(error) => {
                tracing::debug!(path = %path.display(), %error, "no lock for the credential cache");
                return None;
            }
        };
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => return Some(KeyLock { _file: file }),
                Err(fs::TryLockError::WouldBlock) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(LOCK_POLL).await;
                }
                Err(fs::TryLockError::WouldBlock) => {
                    tracing::debug!(path = %path.display(), "another run holds the credential cache lock too long; going ahead");
                    return None;
                }
                Err(fs::TryLockError::Error(error)) => {
                    tracing::debug!(path = %path.display(), %error, "cannot lock the credential cache");
                    return None;
                }
            }
        }
    }

    /// The lock file, created when missing; one that is not a private file of ours is
    /// replaced (a lock taken on someone else's file would exclude no one).
    fn open_lock_file(&self, path: &Path) -> io::Result<File> {
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).mode(0o600);
        match open_private(path, &options, self.uid) {
            Ok(file) => Ok(file),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(e),
            Err(_) => {
                files::remove_if_exists(path)?;
                open_private(path, &options, self.uid)
            }
        }
    }
}

/// The lock of one key, held until dropped.
#[derive(Debug)]
pub struct KeyLock {
    _file: File,
}

/// Opens `path` with `options` without following a link (a FIFO would not block either) and
/// checks it is a regular file of `uid` that no one else may read or write.
fn open_private(path: &Path, options: &OpenOptions, uid: u32) -> io::Result<File> {
    let mut options = options.clone();
    options.custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).bits());
    let file = options.open(path).map_err(|e| {
        if e.raw_os_error() == Some(nix::errno::Errno::ELOOP as i32) {
            io::Error::new(io::ErrorKind::InvalidData, "it is a symbolic link")
        } else {
            e
        }
    })?;
    let meta = file.metadata()?;
    files::regular(&meta)?;
    if !private_file(&meta, uid) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "it belongs to uid {} with mode {:o}, not to uid {uid} with mode 600",
                meta.uid(),
                meta.mode() & 0o7777
            ),
        ));
    }
    Ok(file)
}

fn private_file(meta: &fs::Metadata, uid: u32) -> bool {
    meta.file_type().is_file() && meta.uid() == uid && meta.mode() & 0o077 == 0
}

/// Makes `path` a directory of `uid` that only it can enter, or says why it cannot be one.
fn private_dir(path: &Path, uid: u32) -> Result<(), CacheDirError> {
    let untrusted = |reason: String| CacheDirError::Untrusted {
        path: path.to_owned(),
        reason,
    };
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut builder = fs::DirBuilder::new();
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.recursive(true);
            builder
                .create(path)
                .map_err(|source| CacheDirError::Create {
                    path: path.to_owned(),
                    source,
                })?;
            fs::symlink_metadata(path).map_err(|source| CacheDirError::Create {
                path: path.to_owned(),
                source,
            })?
        }
        Err(source) => {
            return Err(CacheDirError::Create {
                path: path.to_owned(),
                source,
            });
        }
    };
    if meta.file_type().is_symlink() {
        return Err(untrusted("it is a symbolic link".into()));
    }
    if !meta.is_dir() {
        return Err(untrusted("it is not a directory".into()));
    }
    if meta.uid() != uid {
        return Err(untrusted(format!(
            "it belongs to uid {}, not to this user (uid {uid})",
            meta.uid()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))
            .map_err(|e| untrusted(format!("it is open to others and cannot be made 0700: {e}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "test code: a panic is the failure report"
    )]

    use super::*;
    use time::macros::datetime;

    fn entry(fetched_at: OffsetDateTime, lifetime: time::Duration) -> Entry {
        Entry {
            key: [7; 32],
            version: [9; 32],
            fetched_at,
            credentials: Credentials {
                access_key_id: "ASIAEXAMPLE".into(),
                secret_access_key: Secret::new("secret/key+value"),
                session_token: Some(Secret::new("token==")),
                expiration: Some(fetched_at + lifetime),
                role_arn: None,
            },
        }
    }

    const T0: OffsetDateTime = datetime!(2026-05-01 10:00 UTC);

    #[test]
    fn round_trip() {
        let entry = entry(T0, time::Duration::hours(1));
        let parsed = parse_entry(&format_entry(&entry).unwrap()).unwrap();
        assert_eq!(parsed, entry);
    }

    #[test]
    fn debug_shows_no_secret() {
        let shown = format!("{:?}", entry(T0, time::Duration::hours(1)));
        assert!(shown.contains("ASIAEXAMPLE"), "{shown}");
        assert!(
            !shown.contains("secret/key+value") && !shown.contains("token=="),
            "{shown}"
        );
    }

    #[test]
    fn the_daemon_margins_decide() {
        let policy = Policy::default();
        let hour = entry(T0, time::Duration::hours(1));
        let at = |minutes| hour.freshness(T0 + time::Duration::minutes(minutes), &policy);
        // 20 minutes before the end of an hour: refresh; 11 minutes before: never served.
        assert_eq!(at(0), Freshness::Fresh);
        assert_eq!(at(39), Freshness::Fresh);
        assert_eq!(at(40), Freshness::Fallback);
        assert_eq!(at(48), Freshness::Fallback);
        assert_eq!(at(49), Freshness::Spent);
        assert_eq!(at(61), Freshness::Spent);
        // Short sessions: half and a third of the lifetime.
        let short = entry(T0, time::Duration::minutes(15));
        let at = |seconds| short.freshness(T0 + time::Duration::seconds(seconds), &policy);
        assert_eq!(at(449), Freshness::Fresh);
        assert_eq!(at(451), Freshness::Fallback);
        assert_eq!(at(601), Freshness::Spent);
    }

    #[test]
    fn odd_content_is_refused() {
        let good = String::from_utf8(
            format_entry(&entry(T0, time::Duration::hours(1)))
                .unwrap()
                .to_vec(),
        )
        .unwrap();
        let cases = [
            ("", "empty"),
            ("[]", "array"),
            ("{}", "missing fields"),
            (&good.replace("\"format\":1", "\"format\":2"), "format"),
            (
                &good.replace("\"format\":1", "\"format\":1,\"x\":1"),
                "unknown",
            ),
            (&good.replace("0707", "0G07"), "hex"),
            (&good.replace("0707", "0A0A"), "upper case"),
            (&good.replace("ASIAEXAMPLE", ""), "empty key id"),
            (&good.replace("ASIAEXAMPLE", "ASIA EXAMPLE"), "space"),
            (
                &good.replace("2026-05-01T11:00:00Z", "2026-05-01T09:00:00Z"),
                "backwards",
            ),
            (&good.replace("2026-05-01T11:00:00Z", "tomorrow"), "time"),
        ];
        for (text, what) in cases {
            assert_ne!(text, good, "{what}: the case changed nothing");
            assert!(parse_entry(text.as_bytes()).is_err(), "{what}: {text}");
        }
    }

    #[test]
    fn directory_prefers_the_runtime_directory() {
        let env = |pairs: &[(&str, &str)]| Environment::from_pairs(pairs.iter().copied());
        let all = env(&[
            ("XDG_RUNTIME_DIR", "/run/user/1000"),
            ("XDG_CACHE_HOME", "/c"),
            ("HOME", "/h"),
        ]);
        assert_eq!(
            directory(&all).unwrap(),
            Path::new("/run/user/1000/needroleshere/credential-process")
        );
        let cache = env(&[("XDG_CACHE_HOME", "/c"), ("HOME", "/h")]);
        assert_eq!(
            directory(&cache).unwrap(),
            Path::new("/c/needroleshere/credential-process")
        );
        let home = env(&[("XDG_RUNTIME_DIR", "relative"), ("HOME", "/h")]);
        assert_eq!(
            directory(&home).unwrap(),
            Path::new("/h/.cache/needroleshere/credential-process")
        );
        assert_eq!(directory(&env(&[])), None);
    }

    #[test]
    fn files_and_directories_must_be_private() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("needroleshere").join("credential-process");
        let cache = ProcessCache::open_dir(dir.clone()).unwrap();
        for level in [dir.parent().unwrap(), dir.as_path()] {
            assert_eq!(fs::metadata(level).unwrap().mode() & 0o777, 0o700);
        }
        let entry = entry(T0, time::Duration::hours(1));
        cache.write(&entry, T0).unwrap();
        let path = cache.entry_path(&entry.key);
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(cache.read(&entry.key).unwrap(), Some(entry.clone()));
        // Another key's file under this key's name.
        assert!(cache.read(&[8; 32]).unwrap().is_none());
        fs::copy(&path, cache.entry_path(&[8; 32])).unwrap();
        assert!(cache.read(&[8; 32]).is_err());

        // Too open: ignored, then replaced by a private file.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(cache.read(&entry.key).is_err());
        cache.write(&entry, T0).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert!(cache.read(&entry.key).unwrap().is_some());

        // A link to a good entry is not followed, and is replaced by a file.
        let elsewhere = temp.path().join("elsewhere.json");
        fs::rename(&path, &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        assert!(
            cache
                .read(&entry.key)
                .unwrap_err()
                .contains("symbolic link")
        );
        cache.write(&entry, T0).unwrap();
        assert!(fs::symlink_metadata(&path).unwrap().is_file());
        assert!(fs::symlink_metadata(&elsewhere).unwrap().is_file());

        // A directory others can enter is closed again; a link in its place is not used.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        ProcessCache::open_dir(dir.clone()).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        let linked = temp.path().join("linked");
        std::os::unix::fs::symlink(dir.parent().unwrap(), &linked).unwrap();
        assert!(ProcessCache::open_dir(linked.join("credential-process")).is_err());
    }

    #[tokio::test]
    async fn the_lock_excludes_and_a_bad_lock_file_is_replaced() {
        let temp = tempfile::tempdir().unwrap();
        let cache = ProcessCache::open_dir(temp.path().join("a").join("b")).unwrap();
        let held = cache.lock(&[1; 32], Duration::ZERO).await.unwrap();
        assert!(cache.lock(&[1; 32], Duration::ZERO).await.is_none());
        assert!(cache.lock(&[2; 32], Duration::ZERO).await.is_some());
        drop(held);
        assert!(cache.lock(&[1; 32], Duration::ZERO).await.is_some());

        let path = cache.dir().join(format!("{}.lock", hex::encode([3; 32])));
        std::os::unix::fs::symlink("/dev/null", &path).unwrap();
        assert!(cache.lock(&[3; 32], Duration::ZERO).await.is_some());
        assert!(fs::symlink_metadata(&path).unwrap().is_file());
    }
}
