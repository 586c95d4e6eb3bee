//! Whether files read earlier may have changed, told by file-change notification (inotify)
//! at the cost of one `poll` per question, instead of a `stat` of every file and directory.
//!
//! [`Watch::observe`] is called before a cache reads its files; [`Watch::unchanged`] then
//! answers whether anything that could change what was read happened since. It watches every
//! directory the path's resolution passes through (as the kernel resolves it, links
//! followed), for the names resolution looked up there, so it sees:
//!
//! * a file written in place, replaced by a rename, removed, or its mode or owner changed;
//! * a link swapped anywhere along the way: Kubernetes and cert-manager publish a new
//!   secret by renaming a new `..data` link over the old one, in the directory of the file
//!   the pod names, while the file itself never changes;
//! * any directory on the way renamed, replaced, or its mode or owner changed (what
//!   [`super::files::check_trusted_dirs`] checks).
//!
//! The kernel queues an event before the system call that caused it returns, and every
//! question first reads the queue, so a change is seen by the very next question: the
//! promise the `stat` of each file made. Where notification cannot be trusted the answer
//! is always "changed", and callers fall back to their `stat`s: no inotify (or no watch
//! left: `fs.inotify.max_user_watches`), or a file on a network or FUSE filesystem, where
//! changes made elsewhere raise no event here.
//!
//! One generation counts every relevant event: a change to any watched file invalidates
//! every observation. Changes are rare, and the next question of each cache pays one
//! `stat` round again; events for other names in the same directories are ignored.

use std::cell::Cell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::OsString;
use std::io;
use std::os::fd::AsFd as _;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use thread_local::ThreadLocal;

tokio::task_local! {
    /// The watch (its address) whose queue the current request has read; see
    /// [`Watch::one_request`].
    static SYNCED: Cell<usize>;
}

/// Symbolic links followed in one resolution before giving up, as the kernel does (ELOOP).
const MAX_LINKS: usize = 40;

/// What the watch of a directory on the way listens for: an entry created, removed,
/// renamed or its mode or owner changed, and the same of the directory itself. Writes to
/// files are left out: the entries looked up there are directories and links, and busy
/// directories such as `/tmp` would otherwise wake the watch for every write in them.
const ON_THE_WAY: AddWatchFlags = AddWatchFlags::IN_ATTRIB
    .union(AddWatchFlags::IN_CREATE)
    .union(AddWatchFlags::IN_DELETE)
    .union(AddWatchFlags::IN_MOVED_FROM)
    .union(AddWatchFlags::IN_MOVED_TO)
    .union(AddWatchFlags::IN_DELETE_SELF)
    .union(AddWatchFlags::IN_MOVE_SELF)
    .union(AddWatchFlags::IN_ONLYDIR)
    // Added to what the directory is already watched for, never narrowing it.
    .union(AddWatchFlags::from_bits_retain(nix::libc::IN_MASK_ADD));

/// What the watch of the directory holding a file listens for: also writes to it.
const HOLDING: AddWatchFlags = ON_THE_WAY
    .union(AddWatchFlags::IN_MODIFY)
    .union(AddWatchFlags::IN_CLOSE_WRITE);

/// File-change notification for caches of files; see the module documentation.
#[derive(Debug)]
pub struct Watch {
    notify: Option<Notify>,
    /// Bumped by every relevant event.
    generation: AtomicU64,
}

/// A moment of a [`Watch`]: what [`Watch::observe`] returns and [`Watch::unchanged`] takes.
/// `None` in place of one means the files are not watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    generation: u64,
}

/// A value read from files, kept while a [`Watch`] says none of them changed.
#[derive(Debug)]
pub struct Kept<T> {
    watch: Arc<Watch>,
    held: Mutex<Option<(Seen, T)>>,
}

impl<T: Clone> Kept<T> {
    pub fn new(watch: Arc<Watch>) -> Self {
        Self {
            watch,
            held: Mutex::new(None),
        }
    }

    /// The value kept, unless something it was read from may have changed.
    pub fn get(&self) -> Option<T> {
        self.with(T::clone)
    }

    /// `f` of the value kept, unless something it was read from may have changed: what a
    /// caller needs of it, without a copy (nor a count on a shared `Arc`).
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> Option<R> {
        // The watch is asked with the lock released: asking may read its queue (a system
        // call), and every request of every worker takes this lock.
        let seen = self.lock().as_ref()?.0;
        if !self.watch.unchanged(Some(seen)) {
            return None;
        }
        let held = self.lock();
        let (kept, value) = held.as_ref()?;
        (*kept == seen).then(|| f(value))
    }

    /// `f` of the value kept, as [`Kept::with`], when it is kept under `watch`: a caller
    /// that keeps something derived from it for as long as `watch` tells no change (see
    /// [`Watch::seen`]) asks this, for a value kept under another watch (or none) could
    /// change without `watch` telling.
    pub fn with_under<R>(&self, watch: &Arc<Watch>, f: impl FnOnce(&T) -> R) -> Option<R> {
        Arc::ptr_eq(&self.watch, watch)
            .then(|| self.with(f))
            .flatten()
    }

    /// Starts a read of `paths`; `None` when they are not watched (or `None` is given: what
    /// is read is not only files), and then nothing is kept.
    pub fn observe<'a>(&self, paths: Option<impl IntoIterator<Item = &'a Path>>) -> Option<Seen> {
        self.watch.observe(paths?)
    }

    /// Keeps `value`, read after [`Kept::observe`] answered `seen`.
    pub fn keep(&self, seen: Option<Seen>, value: T) {
        *self.lock() = seen.map(|seen| (seen, value));
    }

    fn lock(&self) -> MutexGuard<'_, Option<(Seen, T)>> {
        // A plain value, replaced whole: still valid after a panic elsewhere.
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Debug)]
struct Notify {
    inotify: Inotify,
    /// The names looked up in each watched directory.
    dirs: Mutex<HashMap<WatchDescriptor, HashSet<OsString>>>,
    /// True while a thread has read events it has not yet counted: another thread that finds
    /// the queue empty must wait for it, or it could answer before the count.
    draining: AtomicBool,
    /// Per thread, an epoll instance holding the inotify descriptor, which that thread asks
    /// whether events are queued (`None`: none could be made, and the thread `poll`s).
    /// `poll` on the shared descriptor takes the queue's lock and counts the descriptor's
    /// file up and down: with both workers asking on every request those lines went from
    /// core to core, 470 ns a question against 110 ns for an epoll instance of one's own
    /// (issue 21). The kernel tells every instance of an event before the system call that
    /// caused it returns, as it queues it: the answer is the same.
    askers: ThreadLocal<Option<Epoll>>,
}

impl Watch {
    /// The process's watch, made on first use.
    pub fn global() -> &'static Arc<Watch> {
        static GLOBAL: OnceLock<Arc<Watch>> = OnceLock::new();
        GLOBAL.get_or_init(|| Arc::new(Watch::new()))
    }

    /// A watch with its own inotify instance; [`Watch::unavailable`] when there is none.
    pub fn new() -> Self {
        match Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC) {
            Ok(inotify) => Self {
                notify: Some(Notify {
                    inotify,
                    dirs: Mutex::new(HashMap::new()),
                    draining: AtomicBool::new(false),
                    askers: ThreadLocal::new(),
                }),
                generation: AtomicU64::new(0),
            },
            Err(error) => {
                tracing::info!(%error, "no file-change notification: files are checked with stat on each use");
                Self::unavailable()
            }
        }
    }

    /// A watch that watches nothing: every observation is `None`.
    pub fn unavailable() -> Self {
        Self {
            notify: None,
            generation: AtomicU64::new(0),
        }
    }

    /// Starts watching `paths` (files, which need not exist), to be called **before** they
    /// are read: a change after this call is seen by [`Watch::unchanged`]. `None` when any
    /// of them cannot be watched; the caller then checks them itself on each use.
    pub fn observe<'a>(&self, paths: impl IntoIterator<Item = &'a Path>) -> Option<Seen> {
        let (Some(notify), Some(seen)) = (&self.notify, self.seen()) else {
            return None;
        };
        for path in paths {
            if let Err(error) = notify.watch(path) {
                tracing::debug!(path = %path.display(), %error, "not watched: checked with stat on each use");
                return None;
            }
        }
        Some(seen)
    }

    /// Now, as a moment to keep something by: everything a caller read under this watch,
    /// during this request or before it, and still holds, is unchanged as long as
    /// [`Watch::unchanged`] says so of the moment returned. `None` without notification.
    pub fn seen(&self) -> Option<Seen> {
        self.notify.as_ref()?;
        self.sync();
        Some(Seen {
            generation: self.generation.load(SeqCst),
        })
    }

    /// Whether nothing observed at `seen` can have changed since. `None` is never unchanged.
    pub fn unchanged(&self, seen: Option<Seen>) -> bool {
        let Some(seen) = seen else {
            return false;
        };
        self.sync();
        self.generation.load(SeqCst) == seen.generation
    }

    /// Runs `request` as one request: this watch's queue is read at most once while it
    /// runs, however many of its caches ask (a cached ECS fetch asks twice, for the binding
    /// and for the identity). Whatever was changed before the request began is queued by
    /// then, and seen; a change made while it is answered is for the next one. It is the
    /// part of a request that reads files, which waits for nothing: a cached answer costs
    /// no future.
    pub fn one_request<R>(&self, request: impl FnOnce() -> R) -> R {
        SYNCED.sync_scope(Cell::new(0), request)
    }

    /// How many names are watched, in all directories (for tests).
    pub fn watched_names(&self) -> usize {
        self.notify
            .as_ref()
            .map_or(0, |notify| notify.lock().values().map(HashSet::len).sum())
    }

    /// Counts the events queued so far.
    fn sync(&self) {
        let Some(notify) = &self.notify else {
            return;
        };
        let me = std::ptr::from_ref(self) as usize;
        if SYNCED.try_with(|synced| synced.replace(me) == me) == Ok(true) {
            return;
        }
        if notify.pending() {
            notify.drain(&self.generation);
        } else if notify.draining.load(SeqCst) {
            // Another thread took the events this question must see: wait until counted.
            drop(notify.lock());
        }
    }
}

impl Default for Watch {
    fn default() -> Self {
        Self::new()
    }
}

impl Notify {
    fn lock(&self) -> MutexGuard<'_, HashMap<WatchDescriptor, HashSet<OsString>>> {
        // The map only narrows which events count; after a panic it is still usable.
        self.dirs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether events are queued, asked through this thread's epoll instance (see
    /// [`Notify::askers`]). An error says yes: reading the queue finds out.
    fn pending(&self) -> bool {
        let asker = self.askers.get_or(|| {
            let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).ok()?;
            // Level-triggered: told for as long as events are queued, whoever reads them.
            let event = EpollEvent::new(EpollFlags::EPOLLIN, 0);
            epoll.add(self.inotify.as_fd(), event).ok()?;
            Some(epoll)
        });
        match asker {
            Some(epoll) => !matches!(
                epoll.wait(&mut [EpollEvent::empty()], EpollTimeout::ZERO),
                Ok(0)
            ),
            None => {
                let mut fds = [PollFd::new(self.inotify.as_fd(), PollFlags::POLLIN)];
                !matches!(poll(&mut fds, PollTimeout::ZERO), Ok(0))
            }
        }
    }

    /// Watches every directory resolving `path` goes through, for the names looked up.
    fn watch(&self, path: &Path) -> io::Result<()> {
        let lookups = resolution(path)?;
        let mut dirs = self.lock();
        let last = lookups.len().saturating_sub(1);
        for (index, (dir, name)) in lookups.into_iter().enumerate() {
            if !notifies(&dir)? {
                return Err(io::Error::other(
                    "a network or FUSE filesystem: changes made elsewhere raise no event",
                ));
            }
            // The last lookup is the file itself (or the first name missing on the way).
            let mask = if index == last { HOLDING } else { ON_THE_WAY };
            let descriptor = self
                .inotify
                .add_watch(dir.as_path(), mask)
                .map_err(io::Error::from)?;
            dirs.entry(descriptor).or_default().insert(name);
        }
        Ok(())
    }

    /// Reads every queued event, bumping `generation` when one matters.
    fn drain(&self, generation: &AtomicU64) {
        let mut dirs = self.lock();
        self.draining.store(true, SeqCst);
        loop {
            match self.inotify.read_events() {
                Ok(events) => {
                    for event in events {
                        if matters(&mut dirs, &event) {
                            generation.fetch_add(1, SeqCst);
                        }
                    }
                }
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => continue,
                Err(error) => {
                    // Events may be lost: everything may have changed.
                    tracing::warn!(%error, "cannot read file-change events");
                    generation.fetch_add(1, SeqCst);
                    break;
                }
            }
        }
        self.draining.store(false, SeqCst);
    }
}

/// Whether `event` may change a watched file, updating what is watched.
fn matters(
    dirs: &mut HashMap<WatchDescriptor, HashSet<OsString>>,
    event: &nix::sys::inotify::InotifyEvent,
) -> bool {
    if event.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
        return true;
    }
    if event.mask.contains(AddWatchFlags::IN_IGNORED) {
        // The directory is gone (or its filesystem unmounted).
        dirs.remove(&event.wd);
        return true;
    }
    let Some(name) = &event.name else {
        // The directory itself: its mode, owner, or it was moved or removed.
        return true;
    };
    let Some(names) = dirs.get_mut(&event.wd) else {
        return false;
    };
    if !names.contains(name) {
        return false;
    }
    if event
        .mask
        .intersects(AddWatchFlags::IN_DELETE | AddWatchFlags::IN_MOVED_FROM)
    {
        // Whoever relied on it looks it up again, and watches it again if it is back.
        names.remove(name);
    }
    true
}

/// Whether changes to files in `dir` raise events here: not on network filesystems (NFS,
/// SMB, Ceph, AFS, 9p) or FUSE, where another machine or process may change them unseen.
fn notifies(dir: &Path) -> io::Result<bool> {
    use nix::sys::statfs;
    let kind = statfs::statfs(dir)
        .map_err(io::Error::from)?
        .filesystem_type();
    const CEPH: i64 = 0x00c3_6400;
    const CIFS: i64 = 0xff53_4d42;
    const SMB2: i64 = 0xfe53_4d42;
    const V9FS: i64 = 0x0102_1997;
    let remote = [
        statfs::NFS_SUPER_MAGIC,
        statfs::SMB_SUPER_MAGIC,
        statfs::FUSE_SUPER_MAGIC,
        statfs::AFS_SUPER_MAGIC,
        statfs::CODA_SUPER_MAGIC,
    ];
    #[allow(clippy::useless_conversion)] // the field's width differs between C libraries
    let raw = i64::from(kind.0);
    Ok(!remote.contains(&kind) && ![CEPH, CIFS, SMB2, V9FS].contains(&(raw & 0xffff_ffff)))
}

/// One step of a path.
enum Step {
    Up,
    Name(OsString),
}

fn steps(path: &Path) -> impl DoubleEndedIterator<Item = Step> + '_ {
    path.components().filter_map(|component| match component {
        Component::ParentDir => Some(Step::Up),
        Component::Normal(name) => Some(Step::Name(name.to_owned())),
        Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
    })
}

/// Every (directory, name) the kernel looks up to resolve `path`, links followed; stops at
/// the first name that does not exist (its creation is an event in that directory).
fn resolution(path: &Path) -> io::Result<Vec<(PathBuf, OsString)>> {
    let mut pending: VecDeque<Step> = steps(&std::path::absolute(path)?).collect();
    let mut current = PathBuf::from("/");
    let mut lookups = Vec::new();
    let mut links = 0;
    while let Some(step) = pending.pop_front() {
        let name = match step {
            Step::Up => {
                current.pop();
                continue;
            }
            Step::Name(name) => name,
        };
        let next = current.join(&name);
        lookups.push((current.clone(), name));
        match std::fs::symlink_metadata(&next) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::from_raw_os_error(Errno::ELOOP as i32));
                }
                let target = std::fs::read_link(&next)?;
                if target.is_absolute() {
                    current = PathBuf::from("/");
                }
                for step in steps(&target).rev() {
                    pending.push_front(step);
                }
            }
            Ok(_) => current = next,
            Err(error) if error.kind() == io::ErrorKind::NotFound => break,
            Err(error) => return Err(error),
        }
    }
    Ok(lookups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt as _, symlink};

    fn write(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
    }

    /// Writes `text` to `path` the way every careful writer does: a new file renamed over it.
    fn replace(path: &Path, text: &str) {
        let temporary = path.with_extension("tmp");
        write(&temporary, text);
        std::fs::rename(&temporary, path).unwrap();
    }

    #[test]
    fn a_change_is_seen_by_the_next_question_however_it_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cert.pem");
        write(&file, "one");
        let watch = Watch::new();
        let changes: [(&str, &dyn Fn()); 5] = [
            ("written in place", &|| write(&file, "two")),
            ("replaced by a rename", &|| replace(&file, "three")),
            ("its mode changed", &|| {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap()
            }),
            ("removed", &|| std::fs::remove_file(&file).unwrap()),
            ("created again", &|| write(&file, "four")),
        ];
        for (what, change) in changes {
            let seen = watch.observe([file.as_path()]);
            assert!(
                seen.is_some(),
                "{what}: a file in a temporary directory is watched"
            );
            assert!(watch.unchanged(seen), "{what}: nothing happened yet");
            change();
            assert!(!watch.unchanged(seen), "{what}: not seen");
        }
    }

    /// A temporary directory with one file in it, and a watch.
    fn one_file(watch: Watch) -> (tempfile::TempDir, PathBuf, Watch) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        write(&file, "x");
        (dir, file, watch)
    }

    #[test]
    fn other_files_of_the_same_directory_change_nothing() {
        let (dir, file, watch) = one_file(Watch::new());
        let seen = watch.observe([file.as_path()]);
        write(&dir.path().join("other"), "x");
        replace(&dir.path().join("another"), "y");
        std::fs::remove_file(dir.path().join("other")).unwrap();
        assert!(watch.unchanged(seen));
    }

    /// The way Kubernetes (and cert-manager's CSI driver) publish a secret volume:
    /// `tls.crt -> ..data/tls.crt`, `..data -> ..2026_12_04_v1`, and a new version is a new
    /// directory with a `..data_tmp` link renamed over `..data`. The file named never changes.
    #[test]
    fn a_kubernetes_style_link_swap_is_seen() {
        let volume = tempfile::tempdir().unwrap();
        let root = volume.path();
        std::fs::create_dir(root.join("..v1")).unwrap();
        write(&root.join("..v1/tls.crt"), "one");
        symlink("..v1", root.join("..data")).unwrap();
        symlink("..data/tls.crt", root.join("tls.crt")).unwrap();
        let named = root.join("tls.crt");

        let watch = Watch::new();
        let seen = watch.observe([named.as_path()]);
        assert!(watch.unchanged(seen));
        std::fs::create_dir(root.join("..v2")).unwrap();
        write(&root.join("..v2/tls.crt"), "two");
        assert!(watch.unchanged(seen), "a new version not yet published");
        symlink("..v2", root.join("..data_tmp")).unwrap();
        std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
        assert!(!watch.unchanged(seen), "the swap of ..data was not seen");
        assert_eq!(std::fs::read_to_string(&named).unwrap(), "two");

        // The old version's removal may count once more (what was watched for it is not
        // forgotten); then the current version is what is watched.
        std::fs::remove_dir_all(root.join("..v1")).unwrap();
        let seen = watch.observe([named.as_path()]);
        assert!(watch.unchanged(seen));
        write(&root.join("..v2/tls.crt"), "three");
        assert!(
            !watch.unchanged(seen),
            "a write in the current version not seen"
        );
    }

    #[test]
    fn a_directory_on_the_way_changing_is_seen() {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("bindings");
        std::fs::create_dir(&dir).unwrap();
        let file = dir.join("a.json");
        write(&file, "{}");
        let watch = Watch::new();

        let seen = watch.observe([file.as_path()]);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(
            !watch.unchanged(seen),
            "a directory made writable by all not seen"
        );

        let seen = watch.observe([file.as_path()]);
        let moved = top.path().join("old");
        std::fs::rename(&dir, &moved).unwrap();
        std::fs::create_dir(&dir).unwrap();
        assert!(!watch.unchanged(seen), "the directory replaced not seen");
    }

    #[test]
    fn a_file_that_does_not_exist_yet_is_seen_when_created() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("later/name.json");
        let watch = Watch::new();
        let seen = watch.observe([file.as_path()]);
        assert!(watch.unchanged(seen));
        std::fs::create_dir(dir.path().join("later")).unwrap();
        assert!(!watch.unchanged(seen));
    }

    #[test]
    fn a_kept_value_is_given_until_its_files_change() {
        let (_dir, file, watch) = one_file(Watch::new());
        let kept = Kept::new(Arc::new(watch));
        assert_eq!(kept.with(|v: &u32| *v), None, "nothing kept yet");
        let seen = kept.observe(Some([file.as_path()]));
        kept.keep(seen, 7);
        assert_eq!(kept.with(|v| *v), Some(7));
        assert_eq!(kept.get(), Some(7));
        write(&file, "y");
        assert_eq!(kept.with(|v| *v), None, "given after its file changed");
        assert_eq!(kept.get(), None);
        let seen = kept.observe(Some([file.as_path()]));
        kept.keep(seen, 8);
        assert_eq!(kept.with(|v| *v), Some(8));
    }

    #[test]
    fn one_request_reads_the_queue_once() {
        let (_dir, file, watch) = one_file(Watch::new());
        let other = Watch::new();
        let seen = watch.observe([file.as_path()]);
        let seen_by_other = other.observe([file.as_path()]);
        watch.one_request(|| {
            assert!(watch.unchanged(seen));
            write(&file, "y");
            // Changed while the request is answered: for the next one.
            assert!(watch.unchanged(seen));
            // Another watch reads its own queue.
            assert!(!other.unchanged(seen_by_other));
        });
        assert!(!watch.unchanged(seen), "the next request did not see it");
        let seen = watch.observe([file.as_path()]);
        write(&file, "z");
        watch.one_request(|| assert!(!watch.unchanged(seen), "changed before it began"));
    }

    /// Each thread asks through an epoll instance of its own: a change is seen by every
    /// thread's next question, whichever thread read the events, and whether the change came
    /// before or after the thread first asked.
    #[test]
    fn every_thread_sees_a_change_at_its_next_question() {
        let (_dir, file, watch) = one_file(Watch::new());
        let watch = Arc::new(watch);
        let seen = watch.observe([file.as_path()]);
        write(&file, "before the thread first asks");
        let asked = |seen| {
            let watch = watch.clone();
            std::thread::spawn(move || watch.unchanged(seen))
                .join()
                .unwrap()
        };
        assert!(
            !asked(seen),
            "a change queued before the thread's first question"
        );
        let seen = watch.observe([file.as_path()]);
        let (ask, asks) = std::sync::mpsc::channel::<Option<Seen>>();
        let (answer, answers) = std::sync::mpsc::channel();
        let asker = {
            let watch = watch.clone();
            std::thread::spawn(move || {
                for seen in asks {
                    answer.send(watch.unchanged(seen)).unwrap();
                }
            })
        };
        ask.send(seen).unwrap();
        assert!(answers.recv().unwrap(), "nothing changed yet");
        // Read by this thread first, then asked by the other, whose instance was told too.
        write(&file, "after");
        assert!(!watch.unchanged(seen));
        ask.send(seen).unwrap();
        assert!(!answers.recv().unwrap(), "another thread read the events");
        // And the other way round: the asking thread reads them.
        let seen = watch.observe([file.as_path()]);
        write(&file, "again");
        ask.send(seen).unwrap();
        assert!(!answers.recv().unwrap());
        assert!(!watch.unchanged(seen));
        drop(ask);
        asker.join().unwrap();
    }

    #[test]
    fn without_notification_nothing_is_ever_unchanged() {
        let (_dir, file, watch) = one_file(Watch::unavailable());
        let seen = watch.observe([file.as_path()]);
        assert_eq!(seen, None);
        assert!(!watch.unchanged(seen));
    }

    #[test]
    fn resolution_follows_links_as_the_kernel_does() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(root.join("real")).unwrap();
        write(&root.join("real/f"), "x");
        symlink(root.join("real"), root.join("abs")).unwrap();
        symlink("abs/../real/f", root.join("rel")).unwrap();
        let lookups = resolution(&root.join("rel")).unwrap();
        let names: Vec<(PathBuf, &str)> = lookups
            .iter()
            .filter(|(dir, _)| dir.starts_with(&root))
            .map(|(dir, name)| (dir.clone(), name.to_str().unwrap()))
            .collect();
        assert_eq!(
            names,
            [
                (root.clone(), "rel"),
                (root.clone(), "abs"),
                (root.clone(), "real"),
                (root.clone(), "real"),
                (root.join("real"), "f"),
            ]
        );

        symlink("loop", root.join("loop")).unwrap();
        let error = resolution(&root.join("loop/f")).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(Errno::ELOOP as i32));
    }
}
