//! Writing files that hold secrets or configuration without ever leaving a half-written one,
//! and deciding whether a directory can be trusted with them.
//!
//! [`write_atomic`] writes a uniquely named temporary file (`.NAME.tmp.<16 hex digits>`) in
//! the target's directory, holding an exclusive lock on it while it exists, syncs it, gives
//! it the mode and owner of the regular file it replaces (or the mode asked for when there is
//! none), and renames it over the target. A crash leaves either the old file or the new one,
//! plus at worst a stray temporary file, whose unique name never blocks a later write and
//! which [`remove_stale_temporaries`] removes once no writer holds its lock.
//!
//! The target is never followed: a symbolic link (or anything but a regular file) in its
//! place is refused, so the mode and owner of some other file are never copied to a secret.
//!
//! [`check_trusted_dirs`] refuses a directory chain that someone other than the trusted
//! users could change (replace a directory, plant a file or a link).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// The marker between a target's name and the random suffix of its temporary files.
const TEMP_MARKER: &str = ".tmp.";
/// Hex digits of the random suffix.
const TEMP_SUFFIX_LEN: usize = 16;

/// Writes `contents` to `path` atomically. An existing file keeps its mode and owner; a new
/// one gets `new_mode`.
pub(crate) fn write_atomic(path: &Path, contents: &[u8], new_mode: u32) -> io::Result<()> {
    // `Path::new("credentials").parent()` is `Some("")`: the current directory.
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    // Never follow a link here: its target's mode and owner are not ours to copy.
    let existing = match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "it is a symbolic link; refusing to follow it or to copy its target's mode and \
                 owner: remove the link and write again",
            ));
        }
        Ok(meta) => {
            regular(&meta)?;
            Some(meta)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };

    let (temp_path, mut file) = create_temp(dir, &name.to_string_lossy())?;
    let result = (|| {
        file.write_all(contents)?;
        match &existing {
            Some(meta) => {
                file.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))?;
                // Keeping the owner needs privilege when it is not ours; only try when it differs.
                if meta.uid() != file.metadata()?.uid() || meta.gid() != file.metadata()?.gid() {
                    std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()))?;
                }
            }
            None => file.set_permissions(fs::Permissions::from_mode(new_mode))?,
        }
        file.sync_all()?;
        fs::rename(&temp_path, path)?;
        // Make the rename itself durable.
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp_path);
    }
    result
}

/// Creates `dir/.NAME.tmp.<random>` exclusively, mode 0600, and locks it: the lock tells
/// [`remove_stale_temporaries`] that its writer is alive (a dead process holds no lock).
fn create_temp(dir: &Path, name: &str) -> io::Result<(PathBuf, File)> {
    for _ in 0..16 {
        let mut random = [0u8; TEMP_SUFFIX_LEN / 2];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random)
            .map_err(|_| io::Error::other("no randomness for a temporary file name"))?;
        let path = dir.join(format!(".{name}{TEMP_MARKER}{}", hex::encode(random)));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(file) => {
                if let Err(e) = file.lock() {
                    let _ = fs::remove_file(&path);
                    return Err(e);
                }
                return Ok((path, file));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "cannot find a free temporary file name",
    ))
}

/// Removes `path`; a missing file is not an error.
pub(crate) fn remove_if_exists(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether `file_name` is a temporary file [`write_atomic`] makes, and for which target.
fn temporary_target(file_name: &str) -> Option<&str> {
    let rest = file_name.strip_prefix('.')?;
    let (target, suffix) = rest.rsplit_once(TEMP_MARKER)?;
    let ours = !target.is_empty()
        && suffix.len() == TEMP_SUFFIX_LEN
        && suffix
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    ours.then_some(target)
}

/// Removes the temporary files [`write_atomic`] left in `dir` when it was killed: those of
/// the targets named in `own` whenever no live writer holds their lock, those of other
/// targets only when, besides, they hold data (a writer creates its file empty and locks it
/// at once, so an empty unlocked one may be about to be locked). Files of other shapes and
/// links are left alone. Returns the files removed; a missing `dir` has none.
pub(crate) fn remove_stale_temporaries(dir: &Path, own: &[&str]) -> io::Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(target) = file_name.to_str().and_then(temporary_target) else {
            continue;
        };
        let path = entry.path();
        let Ok(file) = OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
            .open(&path)
        else {
            continue; // gone already, a link, or not ours to open
        };
        let Ok(meta) = file.metadata() else { continue };
        if !meta.is_file() || file.try_lock().is_err() {
            continue; // a live writer holds it
        }
        if !own.contains(&target) && meta.len() == 0 {
            continue;
        }
        // Only if the name still means the file we locked (its writer may have renamed it).
        let same = fs::symlink_metadata(&path)
            .is_ok_and(|now| now.dev() == meta.dev() && now.ino() == meta.ino());
        if same && remove_if_exists(&path)? {
            removed.push(path);
        }
    }
    Ok(removed)
}

/// Why a directory cannot be trusted with the files below it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DirProblem {
    #[error("is owned by uid {owner}, not by {trusted}: its owner could replace what is below it (chown root {path})", path = .path.display())]
    Owner {
        owner: u32,
        trusted: String,
        path: PathBuf,
    },
    #[error("is writable by {who} (mode {mode:04o}), who could replace what is below it (chmod {fix} {path})", path = .path.display())]
    Writable {
        who: &'static str,
        mode: u32,
        fix: &'static str,
        path: PathBuf,
    },
    #[error("is not a directory")]
    NotADirectory,
    #[error("cannot be examined")]
    Stat(#[source] io::Error),
}

/// A directory in the chain of a path that someone untrusted could change.
#[derive(Debug, thiserror::Error)]
#[error("directory {path} {problem}")]
pub struct UntrustedDir {
    pub(crate) path: PathBuf,
    #[source]
    pub(crate) problem: DirProblem,
}

/// Checks that nobody but the users `trusted` (uids; root is always trusted) can change
/// `leaf` or any directory above it, both along the path as given and along the path its
/// links resolve to: each must be owned by a trusted user and writable by no group or other
/// user, except that a directory above `leaf` may be so writable when it is sticky (as
/// `/tmp` is: others cannot rename or remove what they do not own in it). `leaf` itself
/// may not be, sticky or not, since others could plant new files in it. Parts of `leaf`
/// that do not exist yet are skipped.
pub(crate) fn check_trusted_dirs(leaf: &Path, trusted: &[u32]) -> Result<(), UntrustedDir> {
    let untrusted = |path: &Path, problem| UntrustedDir {
        path: path.to_owned(),
        problem,
    };
    let lexical = std::path::absolute(leaf).map_err(|e| untrusted(leaf, DirProblem::Stat(e)))?;
    // Along the path as given, links not followed: a link can only be changed by whoever
    // may write the directory it is in, which is checked as the next ancestor.
    for dir in lexical.ancestors() {
        match fs::symlink_metadata(dir) {
            Ok(meta) if meta.file_type().is_symlink() => continue,
            Ok(meta) => check_one(dir, &meta, dir == lexical, trusted)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(untrusted(dir, DirProblem::Stat(e))),
        }
    }
    // Along the path the links resolve to.
    let Some(existing) = lexical.ancestors().find(|d| d.exists()) else {
        return Ok(());
    };
    let resolved =
        fs::canonicalize(existing).map_err(|e| untrusted(existing, DirProblem::Stat(e)))?;
    for dir in resolved.ancestors() {
        let meta = fs::metadata(dir).map_err(|e| untrusted(dir, DirProblem::Stat(e)))?;
        check_one(dir, &meta, existing == lexical && dir == resolved, trusted)?;
    }
    Ok(())
}

fn check_one(
    dir: &Path,
    meta: &fs::Metadata,
    is_leaf: bool,
    trusted: &[u32],
) -> Result<(), UntrustedDir> {
    let problem = if !meta.is_dir() {
        Some(DirProblem::NotADirectory)
    } else if meta.uid() != 0 && !trusted.contains(&meta.uid()) {
        let others: Vec<String> = trusted
            .iter()
            .filter(|&&u| u != 0)
            .map(|u| format!("uid {u}"))
            .collect();
        let trusted = if others.is_empty() {
            "root".to_owned()
        } else {
            format!("root or {} (who runs this)", others.join(", "))
        };
        Some(DirProblem::Owner {
            owner: meta.uid(),
            trusted,
            path: dir.to_owned(),
        })
    } else {
        let mode = meta.mode() & 0o7777;
        let sticky = mode & 0o1000 != 0 && !is_leaf;
        let writable = |who, fix| DirProblem::Writable {
            who,
            mode,
            fix,
            path: dir.to_owned(),
        };
        if mode & 0o002 != 0 && !sticky {
            Some(writable("every user", "o-w"))
        } else if mode & 0o020 != 0 && !sticky {
            Some(writable("its group", "g-w"))
        } else {
            None
        }
    };
    match problem {
        Some(problem) => Err(UntrustedDir {
            path: dir.to_owned(),
            problem,
        }),
        None => Ok(()),
    }
}

/// Creates `path` (and parents) if missing, and gives a directory it created `mode`.
/// An existing directory keeps its mode: an administrator may have tightened it.
pub(crate) fn ensure_dir(path: &Path, mode: u32) -> io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// Identity of a file's content as far as metadata can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl FileStamp {
    pub(crate) fn of(meta: &std::fs::Metadata) -> Self {
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// The stamp of the file at `path`, which must be a regular file (a FIFO or device would
    /// block the reader forever).
    pub(crate) fn read(path: &Path) -> io::Result<Self> {
        let meta = fs::metadata(path)?;
        regular(&meta)?;
        Ok(Self::of(&meta))
    }
}

/// Fails unless `meta` is a regular file's, naming what it is instead.
pub(crate) fn regular(meta: &fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt as _;
    let kind = meta.file_type();
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "Is a directory"
    } else if kind.is_fifo() {
        "Is a FIFO"
    } else if kind.is_socket() {
        "Is a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "Is a device"
    } else {
        "Is not a regular file"
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what}, not a regular file"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn new_files_get_the_requested_mode_and_no_temp_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("env");
        write_atomic(&path, b"A=1\n", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"A=1\n");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn existing_files_keep_their_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("env");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&path, b"new", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(mode(&path), 0o640);
    }

    #[test]
    fn stale_temporary_files_do_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("env");
        fs::write(dir.path().join(".env.tmp.0000000000000000"), "stale").unwrap();
        write_atomic(&path, b"fresh", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"fresh");
    }

    #[test]
    fn failed_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        // The target is a non-empty directory: rename fails, nothing is lost or left over.
        let path = dir.path().join("target");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("inside"), "keep").unwrap();
        assert!(write_atomic(&path, b"new", 0o600).is_err());
        assert_eq!(fs::read(path.join("inside")).unwrap(), b"keep");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn links_in_place_of_the_target_are_refused_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "victim").unwrap();
        fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).unwrap();
        let path = dir.path().join("env");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let err = write_atomic(&path, b"secret", 0o600).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(fs::read(&victim).unwrap(), b"victim");
        assert!(
            fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            2,
            "no temporary left"
        );
    }

    #[test]
    fn temporary_names_are_recognised_exactly() {
        assert_eq!(temporary_target(".web.tmp.0123456789abcdef"), Some("web"));
        assert_eq!(
            temporary_target(".web.json.tmp.0123456789abcdef"),
            Some("web.json")
        );
        for other in [
            ".web.tmp.12345",
            "web.tmp.0123456789abcdef",
            ".web.tmp.0123456789ABCDEF",
            "..tmp.0123456789abcdef",
            ".wip.web",
        ] {
            assert_eq!(temporary_target(other), None, "{other}");
        }
    }

    #[test]
    fn stale_temporaries_go_unless_a_writer_holds_them() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(".web.tmp.0000000000000000");
        fs::write(&stale, "old secret").unwrap();
        let empty_other = dir.path().join(".db.tmp.0000000000000001");
        fs::write(&empty_other, "").unwrap();
        let full_other = dir.path().join(".db.tmp.0000000000000002");
        fs::write(&full_other, "old secret").unwrap();
        let (held, file) = create_temp(dir.path(), "web").unwrap();
        let foreign = dir.path().join(".web.tmp.12345");
        fs::write(&foreign, "not ours").unwrap();

        let mut removed = remove_stale_temporaries(dir.path(), &["web"]).unwrap();
        removed.sort();
        assert_eq!(removed, [full_other, stale]);
        assert!(held.exists(), "a live writer's file stays");
        assert!(
            empty_other.exists(),
            "an empty file of another target may be new"
        );
        assert!(foreign.exists(), "not our naming");
        drop(file);
        assert_eq!(
            remove_stale_temporaries(dir.path(), &["web"]).unwrap(),
            [held]
        );
        assert!(
            remove_stale_temporaries(&dir.path().join("none"), &[])
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn trusted_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let me = fs::metadata(dir.path()).unwrap().uid();
        let leaf = dir.path().join("run/env");
        // Missing parts are skipped.
        check_trusted_dirs(&leaf, &[me]).unwrap();
        fs::create_dir_all(&leaf).unwrap();
        check_trusted_dirs(&leaf, &[me]).unwrap();

        fs::set_permissions(dir.path().join("run"), fs::Permissions::from_mode(0o777)).unwrap();
        let err = check_trusted_dirs(&leaf, &[me]).unwrap_err();
        assert_eq!(err.path, dir.path().join("run"));
        assert!(
            err.to_string()
                .contains("writable by every user (mode 0777)"),
            "{err}"
        );
        // Sticky above the leaf is fine (as /tmp is); on the leaf it is not.
        fs::set_permissions(dir.path().join("run"), fs::Permissions::from_mode(0o1777)).unwrap();
        check_trusted_dirs(&leaf, &[me]).unwrap();
        fs::set_permissions(&leaf, fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(check_trusted_dirs(&leaf, &[me]).unwrap_err().path, leaf);
        fs::set_permissions(&leaf, fs::Permissions::from_mode(0o775)).unwrap();
        let err = check_trusted_dirs(&leaf, &[me]).unwrap_err();
        assert!(err.to_string().contains("writable by its group"), "{err}");
        fs::set_permissions(&leaf, fs::Permissions::from_mode(0o755)).unwrap();

        // Through a link: the directory it resolves to is checked too.
        let elsewhere = dir.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        fs::set_permissions(&elsewhere, fs::Permissions::from_mode(0o777)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
        let err = check_trusted_dirs(&link.join("env"), &[me]).unwrap_err();
        assert!(err.path.ends_with("elsewhere"), "{err}");

        if me == 0 {
            std::os::unix::fs::chown(&leaf, Some(65534), None).unwrap();
            let err = check_trusted_dirs(&leaf, &[0]).unwrap_err();
            assert!(
                err.to_string().contains("owned by uid 65534, not by root"),
                "{err}"
            );
        }
    }

    #[test]
    fn remove_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        fs::write(&path, "").unwrap();
        assert!(remove_if_exists(&path).unwrap());
        assert!(!remove_if_exists(&path).unwrap());
    }
}
