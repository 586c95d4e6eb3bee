//! The shared credentials file front (`needroleshere update`): writes a source's credentials
//! into one profile of `~/.aws/credentials` (or `$AWS_SHARED_CREDENTIALS_FILE`) and keeps
//! them fresh until stopped, or once.
//!
//! The [`Cache`] decides when to refresh and how long to back off after a failure, as it
//! does for every front; this loop only writes what it gets, once per new set of
//! credentials, and sleeps until [`Cache::next_attempt`]. A misconfiguration (or a refusal,
//! or a step that needs a person) on the first fetch fails at once; later, and for trouble
//! upstream, it keeps trying — with `once`, only [`ONCE_RETRIES`] times, since a oneshot
//! unit or cron job must end.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;

use crate::aws_files::credentials_file::{self, CredentialsFileError};
use crate::cache::{Cache, Policy};
use crate::credentials::{Credentials, format_rfc3339};
use crate::source::{Source, SourceError};
use crate::system::clock::Clock;

/// Retries of a transient failure before `update --once` gives up (after the cache's backoff
/// of about 1 + 2 + 4 s, on top of the CreateSession client's own retries).
pub(crate) const ONCE_RETRIES: u32 = 3;

/// What to write where.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The shared credentials file.
    pub path: PathBuf,
    /// The profile (section) of the file to write.
    pub profile: String,
    /// Write once and return instead of refreshing until shut down.
    pub once: bool,
    /// What the credentials are for, as errors name it (e.g. `role arn:aws:iam::…`).
    pub subject: String,
}

/// Why `update` stopped with a failure.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpdateError {
    #[error("no credentials for {subject}")]
    Source {
        subject: String,
        #[source]
        source: SourceError,
    },
    #[error(transparent)]
    Write(#[from] CredentialsFileError),
}

/// Writes `source`'s credentials as `options` say, refreshing them until `shutdown` turns
/// (or its sender goes), or once with `options.once`. Credentials that never expire are
/// written once.
pub(crate) async fn run(
    source: Arc<dyn Source>,
    options: &Options,
    clock: Arc<dyn Clock>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), UpdateError> {
    let key = source.key();
    let cache = Cache::new(clock.clone(), Policy::default());
    let mut first = true;
    let mut failures: u32 = 0;
    let mut written: Option<Arc<Credentials>> = None;
    let mut warned_mode = false;
    loop {
        let result = match cache.get_fresh(&source).await {
            Ok(credentials)
                if written
                    .as_ref()
                    .is_some_and(|w| Arc::ptr_eq(w, &credentials)) =>
            {
                // The refresh was due: the cache answered the written credentials because it
                // failed (they stay valid a while) or is still under way.
                if let Some(error) = cache.last_error(&key) {
                    tracing::warn!(
                        error = %error.chain(),
                        expires = %credentials.expiration.map(format_rfc3339).unwrap_or_default(),
                        "credentials not refreshed; the written ones are still valid; retrying"
                    );
                }
                Ok(credentials)
            }
            Ok(credentials) => {
                credentials_file::write_profile(&options.path, &options.profile, &credentials)
                    .map(|file| {
                        if let Some(mode) = file.readable_by_others
                            && !warned_mode
                        {
                            // Once per run: the file keeps its mode, and the user decides.
                            warned_mode = true;
                            eprintln!(
                                "needroleshere: warning: {path} holds secret credentials and is \
                                 readable by other users (mode {mode:04o}); restrict it with \
                                 `chmod 600 {path}`",
                                path = file.path.display()
                            );
                        }
                        eprintln!(
                            "needroleshere: wrote profile [{}] in {}{}",
                            options.profile,
                            options.path.display(),
                            credentials
                                .expiration
                                .map(|e| format!("; expires {}", format_rfc3339(e)))
                                .unwrap_or_default()
                        );
                        written = Some(credentials.clone());
                        credentials
                    })
                    .map_err(|e| (UpdateError::Write(e), false))
            }
            Err(error) => {
                let fatal = crate::front::answer::is_fatal_at_start(&error);
                let error = UpdateError::Source {
                    subject: options.subject.clone(),
                    source: error,
                };
                Err((error, !fatal))
            }
        };
        match result {
            Ok(credentials) => {
                first = false;
                failures = 0;
                if options.once || credentials.expiration.is_none() {
                    return Ok(());
                }
            }
            // A misconfiguration fails at once; later, and for trouble upstream, keep trying
            // (with --once, a few times: a oneshot unit or cron job must end).
            Err((error, transient)) if !transient && (options.once || first) => {
                return Err(error);
            }
            Err((error, _)) if options.once && failures >= ONCE_RETRIES => return Err(error),
            Err((error, _)) => {
                failures = failures.saturating_add(1);
                tracing::warn!(error = %crate::system::logging::error_chain(&error), "credentials not refreshed; retrying");
            }
        }
        // The cache's next attempt: its proactive refresh, or the end of its backoff.
        let at = cache
            .next_attempt(&key)
            .unwrap_or_else(|| clock.now() + std::time::Duration::from_secs(1));
        tokio::select! {
            () = sleep_until(clock.as_ref(), at) => {}
            _ = shutdown.changed() => return Ok(()),
        }
    }
}

/// Sleeps until the wall clock reaches `at`, in steps of at most a minute, so time spent
/// suspended (which monotonic timers do not count) still brings the wake-up closer.
async fn sleep_until(clock: &dyn Clock, at: time::OffsetDateTime) {
    loop {
        let left = at - clock.now();
        if left <= time::Duration::ZERO {
            return;
        }
        let step = std::time::Duration::try_from(left)
            .unwrap_or_default()
            .min(std::time::Duration::from_secs(60));
        tokio::time::sleep(step).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::secret::Secret;
    use crate::source::{FetchFuture, Key, Kind};
    use crate::system::clock::SystemClock;

    /// Answers every fetch with fresh one-hour credentials, or always fails with `failure`.
    #[derive(Debug)]
    struct Scripted {
        failure: Option<Kind>,
        calls: Arc<AtomicUsize>,
    }

    impl Source for Scripted {
        fn key(&self) -> Key {
            crate::source::digest([b"update-test".as_slice()])
        }

        fn fetch(&self) -> FetchFuture {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            let failure = self.failure;
            Box::pin(async move {
                if let Some(kind) = failure {
                    return Err(SourceError::message(kind, "scripted failure"));
                }
                Ok(Credentials {
                    access_key_id: format!("ASIAUPDATE{n}"),
                    secret_access_key: Secret::new("s"),
                    session_token: Some(Secret::new("t")),
                    expiration: Some(SystemClock.now() + time::Duration::hours(1)),
                    role_arn: None,
                })
            })
        }
    }

    fn source(failure: Option<Kind>) -> (Arc<dyn Source>, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let source = Scripted {
            failure,
            calls: calls.clone(),
        };
        (Arc::new(source), calls)
    }

    fn options(dir: &tempfile::TempDir, once: bool) -> Options {
        Options {
            path: dir.path().join("credentials"),
            profile: "ci".into(),
            once,
            subject: "role arn:aws:iam::123456789012:role/r".into(),
        }
    }

    #[tokio::test]
    async fn once_writes_the_profile_and_returns() {
        let dir = tempfile::tempdir().unwrap();
        let options = options(&dir, true);
        let (source, calls) = source(None);
        let (_stop, shutdown) = watch::channel(false);
        run(source, &options, Arc::new(SystemClock), shutdown)
            .await
            .unwrap();
        let text = std::fs::read_to_string(&options.path).unwrap();
        assert!(
            text.contains("[ci]") && text.contains("ASIAUPDATE1"),
            "{text}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_misconfiguration_fails_at_once_naming_the_subject() {
        let dir = tempfile::tempdir().unwrap();
        // Even without --once: retrying cannot fix the settings.
        let options = options(&dir, false);
        let (source, calls) = source(Some(Kind::Identity));
        let (_stop, shutdown) = watch::channel(false);
        let error = run(source, &options, Arc::new(SystemClock), shutdown)
            .await
            .unwrap_err();
        assert!(matches!(error, UpdateError::Source { .. }), "{error:?}");
        let text = crate::system::logging::error_chain(&error);
        assert!(
            text.starts_with("no credentials for role arn:aws:iam::123456789012:role/r: ")
                && text.ends_with("scripted failure"),
            "{text}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(!options.path.exists());
    }

    #[tokio::test]
    async fn without_once_it_keeps_running_until_shut_down() {
        let dir = tempfile::tempdir().unwrap();
        let options = options(&dir, false);
        let (source, _) = source(None);
        let (stop, shutdown) = watch::channel(false);
        let path = options.path.clone();
        let task =
            tokio::spawn(
                async move { run(source, &options, Arc::new(SystemClock), shutdown).await },
            );
        // Generous: the first write needs only a task switch, but these machines are shared.
        for _ in 0..500 {
            if path.exists() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(path.exists(), "nothing written");
        assert!(!task.is_finished(), "returned before being stopped");
        stop.send(true).unwrap();
        task.await.unwrap().unwrap();
    }
}
