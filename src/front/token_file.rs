//! The bearer token of the desktop ECS server (`serve ecs`), kept across restarts so an IDE
//! or shell configured with it keeps working: one per user, in
//! `$XDG_RUNTIME_DIR/needroleshere/ecs-token`, else
//! `$XDG_CONFIG_HOME/needroleshere/ecs-token` (`~/.config/…`), or where `--token-file` says.
//!
//! The file holds the token on one line. It is written atomically with mode 0600 in a
//! directory made 0700, and is only read when it is a regular file (not a symlink) owned by
//! this user with mode 0600: anything else is refused with an error naming what is wrong,
//! because a token others can read or replace would let them take the credentials.

use std::fs;
use std::io::{self, Read as _};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::secret::Secret;
use crate::system::env::Environment;
use crate::system::files;

const FILE_NAME: &str = "ecs-token";
/// A token is one header value; a longer file is not one of ours.
const MAX_BYTES: u64 = 1024;

/// Why the token file could not be used. Each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("no place for the ECS token: set XDG_RUNTIME_DIR or HOME, or give --token-file PATH")]
    NoPlace,
    #[error("cannot read the token file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write the token file {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("refusing the token file {path}: {reason}")]
    Unsafe { path: PathBuf, reason: String },
    #[error("the token file {path} does not hold a token ({reason}); remove it or use --new-token")]
    Content { path: PathBuf, reason: &'static str },
    #[error("no randomness for a token")]
    NoRandomness,
}

/// Where the token is kept by default.
pub fn default_path(env: &Environment) -> Option<PathBuf> {
    let dir = match (&env.xdg_runtime_dir, &env.xdg_config_home, &env.home) {
        (Some(runtime), _, _) => runtime.clone(),
        (None, Some(config), _) => config.clone(),
        (None, None, Some(home)) => home.join(".config"),
        (None, None, None) => return None,
    };
    Some(dir.join("needroleshere").join(FILE_NAME))
}

/// The token in `path`, or a new one written there when there is none or `renew` asks.
pub fn load_or_create(path: &Path, renew: bool) -> Result<Secret, TokenFileError> {
    if let Some(token) = read(path)?
        && !renew
    {
        return Ok(token);
    }
    let token = super::desktop::random_token().map_err(|_| TokenFileError::NoRandomness)?;
    let write_error = |source| TokenFileError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        files::ensure_dir(dir, 0o700).map_err(write_error)?;
    }
    let mut contents = token.expose().as_bytes().to_vec();
    contents.push(b'\n');
    files::write_atomic(path, &contents, 0o600).map_err(write_error)?;
    zeroize::Zeroize::zeroize(&mut contents);
    Ok(token)
}

/// The token in `path`; `None` when there is no file.
fn read(path: &Path) -> Result<Option<Secret>, TokenFileError> {
    let read_error = |source| TokenFileError::Read {
        path: path.to_owned(),
        source,
    };
    let unsafe_file = |reason: String| TokenFileError::Unsafe {
        path: path.to_owned(),
        reason,
    };
    // Not following a symlink: its target could be anyone's file.
    let link = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_error(e)),
    };
    if link.file_type().is_symlink() {
        return Err(unsafe_file("it is a symbolic link".into()));
    }
    let file = fs::File::open(path).map_err(read_error)?;
    let meta = file.metadata().map_err(read_error)?;
    if (meta.dev(), meta.ino()) != (link.dev(), link.ino()) {
        return Err(unsafe_file("it was replaced while being read".into()));
    }
    files::regular(&meta).map_err(|e| unsafe_file(e.to_string()))?;
    let me = nix::unistd::Uid::effective().as_raw();
    if meta.uid() != me {
        return Err(unsafe_file(format!(
            "it belongs to uid {}, not to this user (uid {me})",
            meta.uid()
        )));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode != 0o600 {
        return Err(unsafe_file(format!(
            "its mode is {mode:04o}, not 0600 (chmod 600 it, or remove it)"
        )));
    }
    if meta.len() > MAX_BYTES {
        return Err(TokenFileError::Content {
            path: path.to_owned(),
            reason: "it is too long",
        });
    }
    let mut text = zeroize::Zeroizing::new(String::new());
    file.take(MAX_BYTES)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    let token = text.trim();
    if token.is_empty() {
        return Err(TokenFileError::Content {
            path: path.to_owned(),
            reason: "it is empty",
        });
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(TokenFileError::Content {
            path: path.to_owned(),
            reason: "a token is one line of visible ASCII",
        });
    }
    Ok(Some(Secret::new(token)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_across_calls_and_renewed_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("needroleshere").join(FILE_NAME);
        let first = load_or_create(&path, false).unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let dir_mode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        let again = load_or_create(&path, false).unwrap();
        assert_eq!(first.expose(), again.expose());
        let renewed = load_or_create(&path, true).unwrap();
        assert_ne!(first.expose(), renewed.expose());
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("{}\n", renewed.expose())
        );
    }

    #[test]
    fn unsafe_files_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        fs::write(&path, "abc\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_create(&path, false).unwrap_err();
        assert!(err.to_string().contains("mode is 0644, not 0600"), "{err}");
        // --new-token does not write over a file that is not safe either.
        assert!(load_or_create(&path, true).is_err());

        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let err = load_or_create(&link, false).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");

        let sub = dir.path().join("dir");
        fs::create_dir(&sub).unwrap();
        fs::set_permissions(&sub, fs::Permissions::from_mode(0o600)).unwrap();
        let err = load_or_create(&sub, false).unwrap_err();
        assert!(err.to_string().contains("directory"), "{err}");

        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&path, "two words\n").unwrap();
        let err = load_or_create(&path, false).unwrap_err();
        assert!(err.to_string().contains("visible ASCII"), "{err}");
        assert!(!format!("{err:?}").contains("two words"));
    }

    #[test]
    fn the_default_place() {
        let env = Environment {
            xdg_runtime_dir: Some("/run/user/1000".into()),
            home: Some("/home/u".into()),
            ..Environment::default()
        };
        assert_eq!(
            default_path(&env),
            Some("/run/user/1000/needroleshere/ecs-token".into())
        );
        let env = Environment {
            home: Some("/home/u".into()),
            ..Environment::default()
        };
        assert_eq!(
            default_path(&env),
            Some("/home/u/.config/needroleshere/ecs-token".into())
        );
        assert_eq!(default_path(&Environment::default()), None);
    }
}
