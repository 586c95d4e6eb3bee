//! The configuration directory: where a binding's files are ([`ConfigDir`]), reading them
//! for `serve` ([`Store`]), and installing and removing them (what `bind` and `unbind` do),
//! so the order and modes that keep a half-done change harmless live in one place.
//!
//! * Nobody but root (or the user running `bind`, or `serve`) may be able to change the
//!   directories: `bind` refuses to write into, and `serve` to read bindings from, a
//!   directory chain that another user could change (see [`check_trusted_dirs`]), and
//!   `serve` refuses a binding file that another user owns or could write.
//! * A rebind never leaves the consumer with a token the binding refuses, wherever it is
//!   killed: the binding is first written accepting both the new secret and the one(s) the
//!   env and token files hold now, then the token and env files are replaced, then the
//!   binding is written again accepting only the new secret. Killed before that last step,
//!   the old secret keeps working until the next `bind` (which finishes the change).
//! * The binding file has mode 0644 (no secret in it; an unprivileged `serve` reads it).
//! * The env file and the token file hold the secret: mode 0600 (an existing regular file
//!   keeps its mode and owner; a link in its place is refused, see [`write_atomic`]). With a
//!   token file, the env file holds only the URI and is written 0644.
//! * Every write is atomic, so a reader never sees half a file; the temporary files of a
//!   `bind` or `unbind` that was killed are removed by the next one.
//! * Removal parses nothing: a corrupt or half-written binding goes all the same.

use rustc_hash::FxHashMap as HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};

use super::{AccessToken, Binding, BindingError, BindingName};
use crate::secret::Secret;
use crate::system::files::FileStamp;
use crate::system::files::{
    check_trusted_dirs, ensure_dir, remove_if_exists, remove_stale_temporaries, write_atomic,
};
use crate::system::watch::{Kept, Seen, Watch};

/// Mode of the directories `install` creates (`serve` must be able to list them).
const DIR_MODE: u32 = 0o755;
/// Mode of the files that hold the secret.
const SECRET_MODE: u32 = 0o600;
/// Mode of the binding file: no secret, and an unprivileged `serve` reads it.
const BINDING_MODE: u32 = 0o644;
/// Mode of an env file that holds no secret (the token is in the token file).
const PUBLIC_ENV_MODE: u32 = 0o644;

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

/// Reads binding files for `serve`, re-parsing one only when its metadata changes. A binding
/// read before is served again without a system call but one `poll` while file-change
/// notification says nothing on the way to it changed ([`Watch`]); otherwise each request
/// costs the `stat`s of the trusted-directory check and of the file. Either way a rebind or
/// unbind is seen by the very next request.
#[derive(Debug)]
pub struct Store {
    dir: ConfigDir,
    watch: Arc<Watch>,
    cache: Mutex<HashMap<BindingName, Loaded>>,
    /// The directories passed [`Store::check`], as long as nothing on their way changed.
    trusted: Kept<()>,
}

/// A binding as read, with what says it is still current.
#[derive(Debug)]
struct Loaded {
    stamp: FileStamp,
    seen: Option<Seen>,
    binding: Arc<Binding>,
}

impl Store {
    pub fn new(dir: ConfigDir) -> Self {
        Self::with_watch(dir, Watch::global().clone())
    }

    /// A store told of changes by `watch` (tests give one without notification).
    pub fn with_watch(dir: ConfigDir, watch: Arc<Watch>) -> Self {
        Self {
            dir,
            trusted: Kept::new(watch.clone()),
            watch,
            cache: Mutex::default(),
        }
    }

    /// Whether the bindings directory can be trusted: nobody but root and the user serving
    /// may be able to change it or any directory above it. Checked by every [`Store::load`]
    /// that file-change notification does not answer, and by `/healthz`; a check that
    /// passed holds while nothing on the way changes.
    pub fn check(&self) -> Result<(), BindingError> {
        if self.trusted.get().is_some() {
            return Ok(());
        }
        let path = self.dir.bindings_dir();
        let seen = self.trusted.observe(Some([path.as_path()]));
        check_trusted_dirs(&path, &trusted_uids())
            .map_err(|source| BindingError::UntrustedDir { path, source })?;
        self.trusted.keep(seen, ());
        Ok(())
    }

    /// What tells this store of changes.
    pub fn watch(&self) -> &Arc<Watch> {
        &self.watch
    }

    /// The configuration directory.
    pub fn dir(&self) -> &ConfigDir {
        &self.dir
    }

    /// The names of the binding files there now (`NAME.json` with a valid NAME), sorted; for
    /// `status` and the metrics, not for serving (a request names its binding).
    pub fn names(&self) -> Result<Vec<BindingName>, BindingError> {
        self.check()?;
        let path = self.dir.bindings_dir();
        let entries = match std::fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(BindingError::Read { path, source }),
        };
        let mut names: Vec<BindingName> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let file = entry.file_name();
                file.to_str()?.strip_suffix(".json")?.parse().ok()
            })
            .collect();
        names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        Ok(names)
    }

    /// The current binding `name`.
    pub fn load(&self, name: &BindingName) -> Result<Arc<Binding>, BindingError> {
        if let Some(binding) = self.kept(name.as_str()) {
            return Ok(binding);
        }
        self.check()?;
        let path = self.dir.binding_path(name);
        let not_found = |path| {
            self.lock().remove(name);
            Err(BindingError::NotFound {
                name: name.to_string(),
                path,
            })
        };
        // A name nobody bound is not watched: the names requests make up must not pile up.
        if let Err(e) = std::fs::symlink_metadata(&path)
            && e.kind() == std::io::ErrorKind::NotFound
        {
            return not_found(path);
        }
        // Before anything is read: whatever changes from here on is seen next time.
        let seen = self.watch.observe([path.as_path()]);
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return not_found(path),
            Err(source) => return Err(BindingError::Read { path, source }),
        };
        if let Err(source) = crate::system::files::regular(&meta) {
            return Err(BindingError::Read { path, source });
        }
        // Whoever could write the binding could name any key the daemon can read.
        if meta.uid() != 0 && !trusted_uids().contains(&meta.uid()) {
            return Err(BindingError::ForeignOwner {
                path,
                owner: meta.uid(),
            });
        }
        if meta.mode() & 0o022 != 0 {
            return Err(BindingError::WritableByOthers {
                path,
                mode: meta.mode() & 0o7777,
            });
        }
        let stamp = FileStamp::of(&meta);
        if let Some(loaded) = self.lock().get_mut(name)
            && loaded.stamp == stamp
        {
            loaded.seen = seen;
            return Ok(loaded.binding.clone());
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
        self.lock().insert(
            name.clone(),
            Loaded {
                stamp,
                seen,
                binding: binding.clone(),
            },
        );
        Ok(binding)
    }

    /// Binding `name` as last loaded, while nothing it was read from can have changed
    /// (what [`Store::load`] answers first): `None` when it must be read again. Takes the
    /// name as a request presents it, so a cached fetch copies nothing.
    pub fn kept(&self, name: &str) -> Option<Arc<Binding>> {
        let (seen, binding) = self
            .lock()
            .get(name)
            .map(|loaded| (loaded.seen, loaded.binding.clone()))?;
        self.watch.unchanged(seen).then_some(binding)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<BindingName, Loaded>> {
        // The map holds only parsed copies of files; after a panic elsewhere it is still valid.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ConfigDir {
    /// Writes `binding`, its env file (`env_text`, from [`super::render_env`]) and, when
    /// `token_file` is given, its token file holding the `Authorization` value (`env_text`
    /// then holds no secret, and is written 0644). Without one, a token file left by an
    /// earlier binding of the same name is removed: it holds a dead secret.
    ///
    /// Refuses directories another user could change, and links in place of any file.
    pub fn install(
        &self,
        binding: &Binding,
        env_text: &Secret,
        token_file: Option<&AccessToken>,
    ) -> Result<(), BindingError> {
        self.install_until(binding, env_text, token_file, Step::Done)
    }

    /// [`ConfigDir::install`], stopping after `last` (tests stop early, as a kill would).
    fn install_until(
        &self,
        binding: &Binding,
        env_text: &Secret,
        token_file: Option<&AccessToken>,
        last: Step,
    ) -> Result<(), BindingError> {
        let name = &binding.name;
        let mut dirs = vec![self.bindings_dir(), self.env_dir()];
        if token_file.is_some() {
            dirs.push(self.token_dir());
        }
        // Before creating anything (what exists of the chain), and after (the new parts).
        self.check_trusted(&dirs)?;
        for dir in &dirs {
            make_dir(dir.clone())?;
        }
        self.check_trusted(&dirs)?;
        // A link (or anything but a regular file) in place of a file is refused before
        // anything is written (each write refuses it too).
        for path in [
            self.binding_path(name),
            self.env_path(name),
            self.token_path(name),
        ] {
            refuse_non_regular(&path)?;
        }
        self.remove_stale_temporaries(name);

        // 1. The binding accepts the new secret and the one(s) the consumer holds now.
        let held = self.held_secret_hashes(name);
        let overlap = binding.also_accepting(held);
        write(
            &self.binding_path(name),
            overlap.to_json().as_bytes(),
            BINDING_MODE,
        )?;
        if last == Step::Overlap {
            return Ok(());
        }
        // 2. The files that carry the new secret to the consumer.
        if let Some(token) = token_file {
            write(
                &self.token_path(name),
                token.authorization().expose().as_bytes(),
                SECRET_MODE,
            )?;
        }
        write(
            &self.env_path(name),
            env_text.expose().as_bytes(),
            if token_file.is_some() {
                PUBLIC_ENV_MODE
            } else {
                SECRET_MODE
            },
        )?;
        if token_file.is_none() {
            // The env file no longer points at it, so it holds a dead secret. Best effort:
            // the new binding works whether or not the dead file goes.
            remove_if_exists(&self.token_path(name)).ok();
        }
        // 3. Only the new secret.
        if overlap.accepts_previous_secrets() {
            write(
                &self.binding_path(name),
                binding.to_json().as_bytes(),
                BINDING_MODE,
            )?;
        }
        Ok(())
    }

    fn check_trusted(&self, dirs: &[PathBuf]) -> Result<(), BindingError> {
        let trusted = trusted_uids();
        for dir in dirs {
            check_trusted_dirs(dir, &trusted).map_err(|source| BindingError::UntrustedDir {
                path: dir.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// Removes what a killed `bind` or `unbind` left: every temporary file of `name`'s
    /// files that no live writer holds, and those of other bindings that hold data. Best
    /// effort: what cannot be removed now is tried again by the next `bind` or `unbind`.
    fn remove_stale_temporaries(&self, name: &BindingName) {
        let json = format!("{name}.json");
        for (dir, own) in [
            (self.bindings_dir(), json.as_str()),
            (self.env_dir(), name.as_str()),
            (self.token_dir(), name.as_str()),
        ] {
            match remove_stale_temporaries(&dir, &[own]) {
                Ok(removed) => {
                    for path in removed {
                        tracing::info!(path = %path.display(), "removed a temporary file left by an interrupted bind");
                    }
                }
                Err(error) => {
                    tracing::warn!(dir = %dir.display(), %error, "cannot look for temporary files left by an interrupted bind");
                }
            }
        }
    }

    /// The hashes of the secrets the env and token files of `name` hold now, as far as the
    /// current binding accepts them: what the consumer may present until step 2 of
    /// [`ConfigDir::install`] is done.
    fn held_secret_hashes(&self, name: &BindingName) -> Vec<[u8; 48]> {
        let Some(current) = read_no_follow(&self.binding_path(name)).and_then(|text| {
            Binding::from_file(&self.binding_path(name), name, text.expose().as_bytes()).ok()
        }) else {
            return Vec::new();
        };
        let mut held = Vec::new();
        for path in [self.env_path(name), self.token_path(name)] {
            let Some(text) = read_no_follow(&path) else {
                continue;
            };
            for token in tokens_in(text.expose(), name) {
                if let Some(hash) = token.secret_hash()
                    && current.accepts(&token)
                    && !held.contains(&hash)
                {
                    held.push(hash);
                }
            }
        }
        held
    }

    /// Removes the env, token and binding files of `name`; `false` when none was there.
    pub fn remove(&self, name: &BindingName) -> Result<bool, BindingError> {
        self.remove_stale_temporaries(name);
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

/// Root and whoever runs this process: the users that may own the configuration directory.
fn trusted_uids() -> Vec<u32> {
    let me = nix::unistd::geteuid().as_raw();
    if me == 0 { vec![0] } else { vec![0, me] }
}

/// How far [`ConfigDir::install_until`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The binding accepts the old and the new secret.
    Overlap,
    /// Everything.
    Done,
}

/// Fails when something other than a regular file is at `path` (a missing one is fine).
fn refuse_non_regular(path: &Path) -> Result<(), BindingError> {
    let refuse = |what: &str| BindingError::Write {
        path: path.to_owned(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{what}; refusing to follow it or to copy its mode and owner: remove it and bind again"
            ),
        ),
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(refuse("it is a symbolic link")),
        Ok(meta) if !meta.is_file() => Err(refuse("it is not a regular file")),
        _ => Ok(()),
    }
}

/// The text of the regular file at `path`, not following a link; `None` if there is none.
fn read_no_follow(path: &Path) -> Option<Secret> {
    use std::io::Read as _;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    let read = file.read_to_string(&mut text);
    let text = Secret::new(text);
    read.ok().map(|_| text)
}

/// The tokens of binding `name` in `text` (an env file or a token file).
fn tokens_in(text: &str, name: &BindingName) -> Vec<AccessToken> {
    let prefix = format!("needroleshere.{name}.");
    text.match_indices(&prefix)
        .filter_map(|(start, _)| {
            let rest = &text[start + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .unwrap_or(rest.len());
            AccessToken::parse(&text[start..start + prefix.len() + end]).ok()
        })
        .collect()
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
        let env_text = render_env(Mode::EcsFull, Some(&url()), &token, true).unwrap();
        dir.install(&binding, &env_text, Some(&token)).unwrap();

        assert_eq!(mode_of(&dir.binding_path(&name)), 0o644);
        // No secret in it: the token is in the token file.
        assert_eq!(mode_of(&dir.env_path(&name)), 0o644);
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
        let env_text = render_env(Mode::EcsFull, Some(&url()), &token, true).unwrap();
        dir.install(&binding, &env_text, Some(&token)).unwrap();
        assert!(token_path.exists());

        let (binding, token) = sample(Mode::EcsFull);
        let env_text = render_env(Mode::EcsFull, Some(&url()), &token, false).unwrap();
        dir.install(&binding, &env_text, None).unwrap();
        assert!(!token_path.exists());
        assert!(
            std::fs::read_to_string(dir.env_path(&name))
                .unwrap()
                .contains(token.authorization().expose())
        );
    }

    #[test]
    fn an_interrupted_rebind_leaves_the_held_secret_accepted() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ConfigDir::new(tmp.path());
        let load = |name| Store::new(dir.clone()).load(name).unwrap();
        let (a, token_a) = sample(Mode::EcsRelative);
        let name = a.name.clone();
        dir.install(
            &a,
            &render_env(Mode::EcsRelative, None, &token_a, false).unwrap(),
            None,
        )
        .unwrap();
        assert!(!load(&name).accepts_previous_secrets());

        // Stopped after step 1, as a kill there would: the env file still holds A, which
        // stays accepted next to B.
        let (b, token_b) = sample(Mode::EcsRelative);
        let env_b = render_env(Mode::EcsRelative, None, &token_b, true).unwrap();
        dir.install_until(&b, &env_b, Some(&token_b), Step::Overlap)
            .unwrap();
        let stored = load(&name);
        assert!(stored.accepts(&token_a) && stored.accepts(&token_b));
        assert!(
            std::fs::read_to_string(dir.env_path(&name))
                .unwrap()
                .contains(token_a.to_secret_string().expose())
        );

        // Stopped again: what the consumer holds (A) is kept, B (never handed out) is not.
        let (c, token_c) = sample(Mode::EcsRelative);
        let env_c = render_env(Mode::EcsRelative, None, &token_c, true).unwrap();
        dir.install_until(&c, &env_c, Some(&token_c), Step::Overlap)
            .unwrap();
        let stored = load(&name);
        assert!(stored.accepts(&token_a) && stored.accepts(&token_c) && !stored.accepts(&token_b));

        // A finished bind accepts only its own secret.
        let (d, token_d) = sample(Mode::EcsRelative);
        dir.install(
            &d,
            &render_env(Mode::EcsRelative, None, &token_d, false).unwrap(),
            None,
        )
        .unwrap();
        let stored = load(&name);
        assert!(stored.accepts(&token_d) && !stored.accepts(&token_a) && !stored.accepts(&token_c));
        assert!(!stored.accepts_previous_secrets());
        assert!(
            !std::fs::read_to_string(dir.binding_path(&name))
                .unwrap()
                .contains("previous")
        );
    }

    /// One store over time, as `serve` keeps it: a rebind, an unbind and a directory made
    /// writable by others are each seen by the next load, with notification and without.
    #[test]
    fn a_kept_store_sees_every_change_at_the_next_load() {
        for watch in [Watch::new(), Watch::unavailable()] {
            let tmp = tempfile::tempdir().unwrap();
            let dir = ConfigDir::new(tmp.path().join("config"));
            let store = Store::with_watch(dir.clone(), Arc::new(watch));
            let (a, token_a) = sample(Mode::EcsRelative);
            let name = a.name.clone();
            let env = |token| render_env(Mode::EcsRelative, None, token, false).unwrap();
            dir.install(&a, &env(&token_a), None).unwrap();
            let first = store.load(&name).unwrap();
            assert!(first.accepts(&token_a));
            assert!(Arc::ptr_eq(&first, &store.load(&name).unwrap()), "not kept");

            let (b, token_b) = sample(Mode::EcsRelative);
            dir.install(&b, &env(&token_b), None).unwrap();
            let second = store.load(&name).unwrap();
            assert!(second.accepts(&token_b) && !second.accepts(&token_a));

            std::fs::set_permissions(dir.bindings_dir(), std::fs::Permissions::from_mode(0o777))
                .unwrap();
            assert!(
                matches!(store.load(&name), Err(BindingError::UntrustedDir { .. })),
                "a directory anyone can write to was trusted"
            );
            std::fs::set_permissions(dir.bindings_dir(), std::fs::Permissions::from_mode(0o755))
                .unwrap();
            assert!(store.load(&name).unwrap().accepts(&token_b));

            dir.remove(&name).unwrap();
            assert!(matches!(
                store.load(&name),
                Err(BindingError::NotFound { .. })
            ));
        }
    }

    /// Every request names its binding: names nobody bound must cost nothing that stays.
    #[test]
    fn names_nobody_bound_are_not_watched() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ConfigDir::new(tmp.path());
        let (binding, token) = sample(Mode::EcsRelative);
        let env = render_env(Mode::EcsRelative, None, &token, false).unwrap();
        dir.install(&binding, &env, None).unwrap();
        let watch = Arc::new(Watch::new());
        let store = Store::with_watch(dir.clone(), watch.clone());
        store.load(&binding.name).unwrap();
        let watched = watch.watched_names();
        for i in 0..100 {
            let name: BindingName = format!("made-up-{i}").parse().unwrap();
            assert!(matches!(
                store.load(&name),
                Err(BindingError::NotFound { .. })
            ));
        }
        assert_eq!(watch.watched_names(), watched);
    }

    #[test]
    fn remove_is_idempotent_and_parses_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ConfigDir::new(tmp.path());
        let (binding, token) = sample(Mode::EcsFull);
        let name = binding.name.clone();
        let token_path = dir.token_path(&name);
        let env_text = render_env(Mode::EcsFull, Some(&url()), &token, true).unwrap();
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
