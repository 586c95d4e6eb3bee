//! The configuration directory: where a binding's files are ([`ConfigDir`]), reading them
//! for `serve` ([`Store`]), and installing and removing them (what `bind` and `unbind` do),
//! so the order and modes that keep a half-done change harmless live in one place.
//!
//! * The binding file is written **last** and with mode 0644: `serve` only accepts the new
//!   secret once the env file that carries it to the consumer is in place.
//! * The env file and the token file hold the secret: mode 0600 (an existing file keeps its
//!   mode and owner, see [`write_atomic`]).
//! * Every write is atomic, so a reader never sees half a file.
//! * Removal parses nothing: a corrupt or half-written binding goes all the same.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{AccessToken, Binding, BindingError, BindingName};
use crate::secret::Secret;
use crate::system::files::FileStamp;
use crate::system::files::{ensure_dir, remove_if_exists, write_atomic};

/// Mode of the directories `install` creates (`serve` must be able to list them).
const DIR_MODE: u32 = 0o755;
/// Mode of the files that hold the secret.
const SECRET_MODE: u32 = 0o600;
/// Mode of the binding file: no secret, and an unprivileged `serve` reads it.
const BINDING_MODE: u32 = 0o644;

/// The configuration directory and the paths inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigDir(PathBuf);

impl ConfigDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self(path.into())
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn bindings_dir(&self) -> PathBuf {
        self.0.join("bindings")
    }
    pub fn env_dir(&self) -> PathBuf {
        self.0.join("env")
    }
    pub fn token_dir(&self) -> PathBuf {
        self.0.join("token")
    }
    pub fn binding_path(&self, name: &BindingName) -> PathBuf {
        self.bindings_dir().join(format!("{name}.json"))
    }
    pub fn env_path(&self, name: &BindingName) -> PathBuf {
        self.env_dir().join(name.as_str())
    }
    pub fn token_path(&self, name: &BindingName) -> PathBuf {
        self.token_dir().join(name.as_str())
    }
}

/// Reads binding files for `serve`, re-parsing one only when its metadata changes, so each
/// request costs one `stat` when nothing changed and sees a rebind or unbind at once.
#[derive(Debug)]
pub struct Store {
    dir: ConfigDir,
    cache: Mutex<HashMap<BindingName, (FileStamp, Arc<Binding>)>>,
}

impl Store {
    pub fn new(dir: ConfigDir) -> Self {
        Self {
            dir,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The current binding `name`.
    pub fn load(&self, name: &BindingName) -> Result<Arc<Binding>, BindingError> {
        let path = self.dir.binding_path(name);
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.lock().remove(name);
                return Err(BindingError::NotFound {
                    name: name.to_string(),
                    path,
                });
            }
            Err(source) => return Err(BindingError::Read { path, source }),
        };
        if let Err(source) = crate::system::files::regular(&meta) {
            return Err(BindingError::Read { path, source });
        }
        let stamp = FileStamp::of(&meta);
        if let Some((cached, binding)) = self.lock().get(name)
            && *cached == stamp
        {
            return Ok(binding.clone());
        }
        let bytes = std::fs::read(&path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => BindingError::NotFound {
                name: name.to_string(),
                path: path.clone(),
            },
            _ => BindingError::Read {
                path: path.clone(),
                source,
            },
        })?;
        let binding = Arc::new(Binding::from_file(&path, name, &bytes)?);
        self.lock().insert(name.clone(), (stamp, binding.clone()));
        Ok(binding)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<BindingName, (FileStamp, Arc<Binding>)>> {
        // The map holds only parsed copies of files; after a panic elsewhere it is still valid.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ConfigDir {
    /// Writes `binding`, its env file (`env_text`, from [`super::render_env`]) and, when
    /// `token_file` is given, its token file holding the `Authorization` value (`env_text`
    /// must then point `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` at
    /// [`ConfigDir::token_path`]). Without one, a token file left by an earlier binding of
    /// the same name is removed: it holds a dead secret.
    pub fn install(
        &self,
        binding: &Binding,
        env_text: &Secret,
        token_file: Option<&AccessToken>,
    ) -> Result<(), BindingError> {
        let name = &binding.name;
        make_dir(self.bindings_dir())?;
        make_dir(self.env_dir())?;
        match token_file {
            Some(token) => {
                make_dir(self.token_dir())?;
                write(
                    &self.token_path(name),
                    token.authorization().expose().as_bytes(),
                    SECRET_MODE,
                )?;
            }
            None => {
                // Best effort: the new binding works whether or not the dead file goes.
                remove_if_exists(&self.token_path(name)).ok();
            }
        }
        // The env file first, the binding last: the new secret is live only once both exist.
        write(
            &self.env_path(name),
            env_text.expose().as_bytes(),
            SECRET_MODE,
        )?;
        write(
            &self.binding_path(name),
            binding.to_json().as_bytes(),
            BINDING_MODE,
        )
    }

    /// Removes the env, token and binding files of `name`; `false` when none was there.
    pub fn remove(&self, name: &BindingName) -> Result<bool, BindingError> {
        let mut removed = false;
        for path in [
            self.env_path(name),
            self.token_path(name),
            self.binding_path(name),
        ] {
            removed |=
                remove_if_exists(&path).map_err(|source| BindingError::Remove { path, source })?;
        }
        Ok(removed)
    }
}

fn write(path: &Path, contents: &[u8], mode: u32) -> Result<(), BindingError> {
    write_atomic(path, contents, mode).map_err(|source| BindingError::Write {
        path: path.to_owned(),
        source,
    })
}

fn make_dir(path: PathBuf) -> Result<(), BindingError> {
    ensure_dir(&path, DIR_MODE).map_err(|source| BindingError::Write { path, source })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;
    use crate::binding::{Mode, render_env};

    use super::super::tests::sample;

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn url() -> url::Url {
        "http://127.0.0.1:7224".parse().unwrap()
    }

    #[test]
    fn install_writes_each_file_with_its_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ConfigDir::new(tmp.path().join("run"));
        let (binding, token) = sample(Mode::EcsFull);
        let name = binding.name.clone();
        let token_path = dir.token_path(&name);
        let env_text = render_env(Mode::EcsFull, Some(&url()), &token, Some(&token_path)).unwrap();
        dir.install(&binding, &env_text, Some(&token)).unwrap();

        assert_eq!(mode_of(&dir.binding_path(&name)), 0o644);
        assert_eq!(mode_of(&dir.env_path(&name)), 0o600);
        assert_eq!(mode_of(&token_path), 0o600);
        for d in [dir.bindings_dir(), dir.env_dir(), dir.token_dir()] {
            assert_eq!(mode_of(&d), 0o755, "{}", d.display());
        }
        assert_eq!(
            std::fs::read_to_string(dir.env_path(&name)).unwrap(),
            env_text.expose()
        );
        // The token file is the header value, with no trailing newline (SDKs reject one).
        assert_eq!(
            std::fs::read_to_string(&token_path).unwrap(),
            token.authorization().expose()
        );
        let stored = crate::binding::Store::new(dir.clone()).load(&name).unwrap();
        assert!(stored.accepts(&token));
    }

    #[test]
    fn rebinding_without_a_token_file_removes_the_dead_one() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ConfigDir::new(tmp.path());
        let (binding, token) = sample(Mode::EcsFull);
        let name = binding.name.clone();
        let token_path = dir.token_path(&name);
        let env_text = render_env(Mode::EcsFull, Some(&url()), &token, Some(&token_path)).unwrap();
        dir.install(&binding, &env_text, Some(&token)).unwrap();
        assert!(token_path.exists());

        let (binding, token) = sample(Mode::EcsFull);
        let env_text = render_env(Mode::EcsFull, Some(&url()), &token, None).unwrap();
        dir.install(&binding, &env_text, None).unwrap();
        assert!(!token_path.exists());
        assert!(
            std::fs::read_to_string(dir.env_path(&name))
                .unwrap()
                .contains(token.authorization().expose())
        );
    }

    #[test]
    fn the_env_file_is_written_before_the_binding() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ConfigDir::new(tmp.path());
        let (binding, token) = sample(Mode::EcsRelative);
        let name = binding.name.clone();
        // A directory where the binding file goes makes its write fail.
        std::fs::create_dir_all(dir.binding_path(&name)).unwrap();
        let env_text = render_env(Mode::EcsRelative, None, &token, None).unwrap();
        let err = dir.install(&binding, &env_text, None).unwrap_err();
        assert!(
            matches!(&err, BindingError::Write { path, .. } if *path == dir.binding_path(&name)),
            "{err:?}"
        );
        // The env file was already in place: the new secret just is not live yet.
        assert_eq!(
            std::fs::read_to_string(dir.env_path(&name)).unwrap(),
            env_text.expose()
        );
    }

    #[test]
    fn remove_is_idempotent_and_parses_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ConfigDir::new(tmp.path());
        let (binding, token) = sample(Mode::EcsFull);
        let name = binding.name.clone();
        let token_path = dir.token_path(&name);
        let env_text = render_env(Mode::EcsFull, Some(&url()), &token, Some(&token_path)).unwrap();
        dir.install(&binding, &env_text, Some(&token)).unwrap();

        assert!(dir.remove(&name).unwrap());
        for path in [dir.binding_path(&name), dir.env_path(&name), token_path] {
            assert!(!path.exists(), "{}", path.display());
        }
        assert!(!dir.remove(&name).unwrap());

        // A corrupt binding file alone (a half-done bind) is removed too.
        std::fs::write(dir.binding_path(&name), b"{").unwrap();
        assert!(dir.remove(&name).unwrap());
        assert!(!dir.binding_path(&name).exists());
    }

    #[test]
    fn a_failed_removal_names_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ConfigDir::new(tmp.path());
        let name: BindingName = "web-1".parse().unwrap();
        // A non-empty directory where the env file goes cannot be removed as a file.
        std::fs::create_dir_all(dir.env_path(&name).join("x")).unwrap();
        let err = dir.remove(&name).unwrap_err();
        assert!(
            matches!(&err, BindingError::Remove { path, .. } if *path == dir.env_path(&name)),
            "{err:?}"
        );
        assert!(err.to_string().contains("cannot remove"), "{err}");
    }
}
