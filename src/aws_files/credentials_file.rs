//! Writing credentials into one profile of the shared credentials file
//! (`$AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`), as `aws_signing_helper update`
//! does, without disturbing anything else in it.
//!
//! The file is ini-like (<https://docs.aws.amazon.com/sdkref/latest/guide/file-format.html>):
//! `[name]` section headers, `key = value` lines, `#` or `;` comments, blank lines, and
//! indented continuation lines under a key. [`set_profile`] changes only the values of
//! `aws_access_key_id`, `aws_secret_access_key` and `aws_session_token` in one section
//! (adding the keys or the section when missing); every other byte stays as it was. A line
//! it cannot read makes it refuse the whole file, which is then left untouched.
//! [`write_profile`] does that under a lock and replaces the file atomically.

use std::fs::File;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use super::ini::{self, Line};
use crate::credentials::Credentials;
use crate::system::files::{ensure_dir, write_atomic};

const KEYS: [&str; 3] = [
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
];

/// Why the file was not written.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsFileError {
    #[error(
        "{path} line {line} is neither a [section], a key = value, a comment nor blank; the file was left untouched"
    )]
    Unparsable { path: PathBuf, line: usize },
    #[error("{path} line {line} is not valid UTF-8; the file was left untouched")]
    NotUtf8 { path: PathBuf, line: usize },
    #[error(
        "{path} holds [{profile}] more than once, or one of its credential keys twice; fix it by hand first (the file was left untouched)"
    )]
    Duplicate { path: PathBuf, profile: String },
    #[error("profile name {0:?} cannot be written as a section name")]
    BadProfile(String),
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// `text` with `profile`'s three credential keys set to `credentials`.
pub fn set_profile(
    text: &str,
    profile: &str,
    credentials: &Credentials,
    path: &Path,
) -> Result<String, CredentialsFileError> {
    if profile.is_empty() || profile.contains([']', '[', '\n', '\r']) || profile.trim() != profile {
        return Err(CredentialsFileError::BadProfile(profile.to_owned()));
    }
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let values = [
        credentials.access_key_id.clone(),
        credentials.secret_access_key.expose().to_owned(),
        credentials
            .session_token
            .as_ref()
            .map(|t| t.expose().to_owned())
            .unwrap_or_default(),
    ];

    // Split keeping each line's terminator, so unchanged lines are copied byte for byte.
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut kinds = Vec::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        let kind = ini::lex(line.trim_end_matches(['\n', '\r'])).map_err(|_| {
            CredentialsFileError::Unparsable {
                path: path.to_owned(),
                line: index + 1,
            }
        })?;
        kinds.push(kind);
    }

    let mut out = String::with_capacity(text.len() + 2048);
    let mut in_profile = false;
    let mut seen_profile = false;
    let mut written = [false; 3];
    // Where the profile's last key line ended in `out`, to insert missing keys after it.
    let mut insert_at: Option<usize> = None;
    let finish_profile = |out: &mut String, insert_at: Option<usize>, written: &[bool; 3]| {
        let mut missing = String::new();
        for ((key, value), done) in KEYS.iter().zip(&values).zip(written) {
            if !done {
                missing.push_str(&format!("{key} = {value}{newline}"));
            }
        }
        if let Some(at) = insert_at {
            out.insert_str(at, &missing);
        }
    };
    for (line, kind) in lines.iter().zip(&kinds) {
        match kind {
            Line::Section(name) => {
                if in_profile {
                    finish_profile(&mut out, insert_at, &written);
                }
                in_profile = *name == profile;
                if in_profile && seen_profile {
                    return Err(CredentialsFileError::Duplicate {
                        path: path.to_owned(),
                        profile: profile.to_owned(),
                    });
                }
                seen_profile |= in_profile;
                out.push_str(line);
                if !line.ends_with('\n') {
                    out.push_str(newline);
                }
                if in_profile {
                    insert_at = Some(out.len());
                }
            }
            Line::Setting { key, .. } if in_profile => {
                // Keys are case-insensitive to the SDKs (botocore reads AWS_ACCESS_KEY_ID).
                match KEYS.iter().position(|k| k.eq_ignore_ascii_case(key)) {
                    Some(i) if written[i] => {
                        return Err(CredentialsFileError::Duplicate {
                            path: path.to_owned(),
                            profile: profile.to_owned(),
                        });
                    }
                    Some(i) => {
                        // Keep the key's own spelling and everything up to the old value,
                        // whitespace after `=` included.
                        let raw = line.trim_end_matches(['\n', '\r']);
                        let eq = raw.find('=').map_or(raw.len(), |e| e + 1);
                        let after_eq = &raw[eq..];
                        let value_at = eq + (after_eq.len() - after_eq.trim_start().len());
                        out.push_str(&raw[..value_at]);
                        out.push_str(&values[i]);
                        out.push_str(&line[raw.len()..]);
                        if line.len() == raw.len() {
                            out.push_str(newline);
                        }
                        written[i] = true;
                    }
                    None => out.push_str(line),
                }
                insert_at = Some(out.len());
            }
            Line::Continuation if in_profile => {
                out.push_str(line);
                insert_at = Some(out.len());
            }
            _ => out.push_str(line),
        }
    }
    if in_profile {
        if !out.is_empty() && !out.ends_with('\n') {
            // The last line had no newline: give it one, and insert after it.
            let end = out.len();
            out.push_str(newline);
            insert_at = insert_at.map(|at| if at == end { out.len() } else { at });
        }
        finish_profile(&mut out, insert_at, &written);
    } else if !seen_profile {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push_str(newline);
        }
        if !out.is_empty() {
            out.push_str(newline);
        }
        out.push_str(&format!("[{profile}]{newline}"));
        for (key, value) in KEYS.iter().zip(&values) {
            out.push_str(&format!("{key} = {value}{newline}"));
        }
    }
    Ok(out)
}

/// What [`write_profile`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The file written (a symlinked file's target).
    pub path: PathBuf,
    /// Its mode when its group or other users may read it: it holds secrets now.
    pub readable_by_others: Option<u32>,
}

/// Sets `profile` in the file at `path` under an exclusive lock on its directory, and
/// replaces the file atomically (a new file is 0600; an existing one keeps mode and owner).
pub fn write_profile(
    path: &Path,
    profile: &str,
    credentials: &Credentials,
) -> Result<Written, CredentialsFileError> {
    // A symlinked file (dotfiles) is updated where it lives; renaming onto the link would
    // replace the link with a copy.
    let resolved;
    let path = if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        resolved = std::fs::canonicalize(path).map_err(|source| CredentialsFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        resolved.as_path()
    } else {
        path
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let write_err = |source| CredentialsFileError::Write {
        path: path.to_owned(),
        source,
    };
    ensure_dir(dir, 0o700).map_err(write_err)?;
    // Renaming replaces the file's inode, so the lock is on the directory, which outlives it.
    let lock = File::open(dir).map_err(write_err)?;
    lock.lock().map_err(write_err)?;
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|e| {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            CredentialsFileError::NotUtf8 {
                path: path.to_owned(),
                line: valid.iter().filter(|&&b| b == b'\n').count() + 1,
            }
        })?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(CredentialsFileError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let updated = set_profile(&text, profile, credentials, path)?;
    write_atomic(path, updated.as_bytes(), 0o600).map_err(write_err)?;
    drop(lock);
    let mode = std::fs::metadata(path)
        .map_err(write_err)?
        .permissions()
        .mode()
        & 0o7777;
    Ok(Written {
        path: path.to_owned(),
        readable_by_others: (mode & 0o044 != 0).then_some(mode),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn creds(n: u8) -> Credentials {
        Credentials {
            access_key_id: format!("ASIA{n}"),
            secret_access_key: Secret::new(format!("secret{n}")),
            session_token: Some(Secret::new(format!("token{n}"))),
            expiration: None,
            role_arn: None,
        }
    }

    fn set(text: &str, profile: &str, n: u8) -> String {
        set_profile(text, profile, &creds(n), Path::new("credentials")).unwrap()
    }

    const FILE: &str = "# my credentials\n\
[default]\n\
aws_access_key_id=AKIAOLD\n\
aws_secret_access_key = old/secret ; not a comment\n\
region = eu-west-1\n\
\n\
; other\n\
[work]   # trailing comment\n\
aws_access_key_id = AKIAWORK\n\
aws_secret_access_key = work\n\
s3 =\n\
  max_concurrent_requests = 20\n\
\n\
[last]\n\
aws_access_key_id = AKIALAST";

    #[test]
    fn only_the_profile_s_values_change() {
        let out = set(FILE, "work", 1);
        let expected = "# my credentials\n\
[default]\n\
aws_access_key_id=AKIAOLD\n\
aws_secret_access_key = old/secret ; not a comment\n\
region = eu-west-1\n\
\n\
; other\n\
[work]   # trailing comment\n\
aws_access_key_id = ASIA1\n\
aws_secret_access_key = secret1\n\
s3 =\n\
  max_concurrent_requests = 20\n\
aws_session_token = token1\n\
\n\
[last]\n\
aws_access_key_id = AKIALAST";
        assert_eq!(out, expected);
    }

    #[test]
    fn keys_keep_their_spacing_and_missing_ones_are_added() {
        let out = set(FILE, "default", 2);
        assert!(out.starts_with("# my credentials\n[default]\naws_access_key_id=ASIA2\naws_secret_access_key = secret2\nregion = eu-west-1\naws_session_token = token2\n\n; other\n[work]   # trailing comment\n"), "{out}");
        assert!(
            out.ends_with("[last]\naws_access_key_id = AKIALAST"),
            "{out}"
        );
    }

    #[test]
    fn the_last_section_without_a_final_newline() {
        let out = set(FILE, "last", 3);
        assert!(out.ends_with("[last]\naws_access_key_id = ASIA3\naws_secret_access_key = secret3\naws_session_token = token3\n"), "{out}");
        assert!(out.starts_with(&FILE[..FILE.find("[last]").unwrap()]));
    }

    #[test]
    fn a_missing_profile_is_appended_and_rewrites_are_stable() {
        let out = set(FILE, "new", 4);
        assert_eq!(
            out,
            format!(
                "{FILE}\n\n[new]\naws_access_key_id = ASIA4\naws_secret_access_key = secret4\naws_session_token = token4\n"
            )
        );
        assert_eq!(set(&out, "new", 5), out.replace('4', "5"));
        assert_eq!(
            set("", "default", 6),
            "[default]\naws_access_key_id = ASIA6\naws_secret_access_key = secret6\naws_session_token = token6\n"
        );
    }

    #[test]
    fn crlf_files_stay_crlf() {
        let text = "[default]\r\naws_access_key_id = A\r\n\r\n[x]\r\nk = v\r\n";
        let out = set(text, "default", 7);
        assert_eq!(
            out,
            "[default]\r\naws_access_key_id = ASIA7\r\naws_secret_access_key = secret7\r\naws_session_token = token7\r\n\r\n[x]\r\nk = v\r\n"
        );
    }

    #[test]
    fn whitespace_after_the_equals_sign_is_kept() {
        let out = set(
            "[default]\naws_access_key_id   =   A\naws_secret_access_key =\tB\naws_session_token=C\n",
            "default",
            1,
        );
        assert_eq!(
            out,
            "[default]\naws_access_key_id   =   ASIA1\naws_secret_access_key =\tsecret1\naws_session_token=token1\n"
        );
    }

    #[test]
    fn keys_match_without_regard_to_case() {
        let out = set(
            "[default]\nAWS_ACCESS_KEY_ID = A\nAws_Secret_Access_Key=B\n",
            "default",
            1,
        );
        assert_eq!(
            out,
            "[default]\nAWS_ACCESS_KEY_ID = ASIA1\nAws_Secret_Access_Key=secret1\naws_session_token = token1\n"
        );
    }

    #[test]
    fn duplicates_in_the_profile_are_refused() {
        let path = Path::new("c");
        let twice = "[default]\naws_access_key_id = A\n[x]\n[default]\naws_access_key_id = B\n";
        let err = set_profile(twice, "default", &creds(1), path).unwrap_err();
        assert!(
            matches!(err, CredentialsFileError::Duplicate { .. }),
            "{err}"
        );
        let key_twice = "[default]\naws_session_token = A\naws_session_token = B\n";
        assert!(set_profile(key_twice, "default", &creds(1), path).is_err());
        // Duplicates elsewhere are not ours to judge.
        assert!(set_profile("[x]\nk = 1\n[x]\nk = 2\n", "default", &creds(1), path).is_ok());
    }

    #[test]
    fn a_relative_file_name_and_a_symlinked_file_work() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("dotfiles-credentials");
        std::fs::write(&target, "[other]\nk = v\n").unwrap();
        let link = dir.path().join("credentials");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_profile(&link, "default", &creds(1)).unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(std::fs::read_to_string(&target).unwrap().contains("ASIA1"));
        // A bare file name means the current directory.
        let cwd = std::env::current_dir().unwrap();
        let relative = format!("needroleshere-test-{}", std::process::id());
        write_profile(Path::new(&relative), "default", &creds(2)).unwrap();
        let written = cwd.join(&relative);
        assert!(std::fs::read_to_string(&written).unwrap().contains("ASIA2"));
        std::fs::remove_file(written).unwrap();
    }

    #[test]
    fn unparsable_files_are_refused() {
        let err = set_profile(
            "[default]\nthis is not ini\n",
            "default",
            &creds(1),
            Path::new("/h/.aws/credentials"),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("/h/.aws/credentials line 2"),
            "{err}"
        );
        assert!(set_profile("[broken\n", "default", &creds(1), Path::new("c")).is_err());
        assert!(set_profile("", "a]b", &creds(1), Path::new("c")).is_err());
    }

    #[test]
    fn write_profile_creates_a_private_file_and_keeps_others() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".aws/credentials");
        write_profile(&path, "default", &creds(1)).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        write_profile(&path, "other", &creds(2)).unwrap();
        write_profile(&path, "default", &creds(3)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "[default]\naws_access_key_id = ASIA3\naws_secret_access_key = secret3\naws_session_token = token3\n\n[other]\naws_access_key_id = ASIA2\naws_secret_access_key = secret2\naws_session_token = token2\n"
        );
        // An unreadable file is left exactly as it was.
        std::fs::write(&path, "garbage line\n").unwrap();
        assert!(write_profile(&path, "default", &creds(4)).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "garbage line\n");
    }
}
