//! Summaries of repeated log lines, so a flood of requests cannot flood the log.
//!
//! Every refused request and every request to a failing binding is worth one line, but not
//! sixteen thousand: journald drops a unit's lines past its rate limit (10 000 in 30 s by
//! default), and the lines it drops are as likely to be the one that matters. So each kind
//! of line is written the first time, then only counted: once per [`WINDOW`] a line says how
//! many more there were ("… repeated N times in the last 60 s"). A window without a repeat
//! ends the summary; the next occurrence is written in full again.
//!
//! A kind is a message and, optionally, a subject: what tells its lines apart, such as a
//! binding or profile name and the cause of its failure, so that a new cause is written at
//! once. Only configured names and causes may be subjects, never what a caller makes up (an
//! unknown binding named in a token), or every made-up name would be a first occurrence.
//! The number of subjects kept is capped; past the cap, new subjects share their message's
//! summary.
//!
//! Time is tokio's, so tests can pause it.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

/// How long repeats are counted before a summary line.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Kinds tracked at once; further subjects fold into their message.
const MAX_KINDS: usize = 512;

/// The level a line (and its summary) is written at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Info,
    Warn,
    Error,
}

type Kind = (&'static str, Option<String>);

#[derive(Debug)]
struct Counted {
    since: Instant,
    repeats: u64,
    severity: Severity,
}

/// A summary that is due: `what` (for `subject`) was not logged `count` more times in the
/// last `seconds`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeated {
    pub what: &'static str,
    pub subject: Option<String>,
    pub severity: Severity,
    pub count: u64,
    pub seconds: u64,
}

impl Repeated {
    /// Writes the summary line.
    pub fn log(&self) {
        let subject = self.subject.as_deref().unwrap_or("");
        let (count, seconds) = (self.count, self.seconds);
        let what = self.what;
        match self.severity {
            Severity::Info => {
                tracing::info!(
                    subject,
                    count,
                    "{what}: repeated {count} times in the last {seconds} s"
                )
            }
            Severity::Warn => {
                tracing::warn!(
                    subject,
                    count,
                    "{what}: repeated {count} times in the last {seconds} s"
                )
            }
            Severity::Error => {
                tracing::error!(
                    subject,
                    count,
                    "{what}: repeated {count} times in the last {seconds} s"
                )
            }
        }
    }
}

/// Counts of repeated lines, by kind.
#[derive(Debug)]
pub struct Repeats {
    window: Duration,
    max_kinds: usize,
    counted: Mutex<HashMap<Kind, Counted>>,
}

impl Repeats {
    pub fn new(window: Duration, max_kinds: usize) -> Self {
        Self {
            window,
            max_kinds,
            counted: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the line `what` about `subject` should be written now: true the first time
    /// (and after a window without repeats), false while it is being counted.
    pub fn admit(
        &self,
        what: &'static str,
        subject: Option<&str>,
        severity: Severity,
        now: Instant,
    ) -> bool {
        let mut counted = self.counted.lock().unwrap_or_else(|p| p.into_inner());
        let mut kind = (what, subject.map(str::to_owned));
        // Past the cap a new subject folds into its message, which is always kept: the
        // messages are a fixed set of literals, so the table stays bounded.
        if kind.1.is_some() && counted.len() >= self.max_kinds && !counted.contains_key(&kind) {
            kind.1 = None;
        }
        match counted.get_mut(&kind) {
            Some(entry) if now.saturating_duration_since(entry.since) < self.window => {
                entry.repeats += 1;
                false
            }
            // Nobody reported the last window (no reporter running): start a new one; the
            // count of the old one is lost, the line is not.
            Some(entry) => {
                *entry = Counted {
                    since: now,
                    repeats: 0,
                    severity,
                };
                true
            }
            None => {
                counted.insert(
                    kind,
                    Counted {
                        since: now,
                        repeats: 0,
                        severity,
                    },
                );
                true
            }
        }
    }

    /// The summaries of windows that ended by `now`. A kind that repeated starts a new
    /// window (so a flood goes on being summarised); one that did not is forgotten.
    pub fn due(&self, now: Instant) -> Vec<Repeated> {
        let mut counted = self.counted.lock().unwrap_or_else(|p| p.into_inner());
        let mut due = Vec::new();
        counted.retain(|(what, subject), entry| {
            let elapsed = now.saturating_duration_since(entry.since);
            if elapsed < self.window {
                return true;
            }
            if entry.repeats == 0 {
                return false;
            }
            due.push(Repeated {
                what,
                subject: subject.clone(),
                severity: entry.severity,
                count: entry.repeats,
                seconds: elapsed.as_secs(),
            });
            entry.since = now;
            entry.repeats = 0;
            true
        });
        due
    }
}

/// The process's counts.
pub fn global() -> &'static Repeats {
    static REPEATS: OnceLock<Repeats> = OnceLock::new();
    REPEATS.get_or_init(|| Repeats::new(WINDOW, MAX_KINDS))
}

/// Whether to write the line `what` about `subject` now (see [`Repeats::admit`]).
pub fn admit(what: &'static str, subject: Option<&str>, severity: Severity) -> bool {
    global().admit(what, subject, severity, Instant::now())
}

/// `tracing::warn!` (or `error!`, `info!`) of `message` with `fields`, the first time only:
/// repeats within a window are counted and summarised (see [`admit`]). `subject` must be
/// a configured name, never one a caller chose.
macro_rules! summarised {
    ($level:ident, $subject:expr, $message:literal $(, $($fields:tt)+)?) => {
        if $crate::system::repeats::admit(
            $message,
            $subject,
            $crate::system::repeats::summarised!(@severity $level),
        ) {
            tracing::$level!($($($fields)+ ,)? $message);
        }
    };
    (@severity info) => { $crate::system::repeats::Severity::Info };
    (@severity warn) => { $crate::system::repeats::Severity::Warn };
    (@severity error) => { $crate::system::repeats::Severity::Error };
}
pub(crate) use summarised;

/// Writes the due summaries every few seconds, for as long as the task runs.
pub async fn report() {
    let mut ticks = tokio::time::interval(Duration::from_secs(5));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        for repeated in global().due(Instant::now()) {
            repeated.log();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_secs(60);

    #[test]
    fn the_first_line_is_written_and_repeats_are_counted_per_window() {
        let repeats = Repeats::new(W, 16);
        let start = Instant::now();
        assert!(repeats.admit("refused", None, Severity::Warn, start));
        for i in 1..=1000 {
            let at = start + Duration::from_millis(i);
            assert!(!repeats.admit("refused", None, Severity::Warn, at));
        }
        assert!(repeats.due(start + W - Duration::from_secs(1)).is_empty());
        let due = repeats.due(start + W);
        assert_eq!(
            due,
            vec![Repeated {
                what: "refused",
                subject: None,
                severity: Severity::Warn,
                count: 1000,
                seconds: 60,
            }]
        );
        // The flood goes on: still counted, summarised again a window later.
        assert!(!repeats.admit("refused", None, Severity::Warn, start + W + W / 2));
        assert_eq!(repeats.due(start + 2 * W)[0].count, 1);
        // A quiet window ends the summary; the next line is written in full.
        assert!(repeats.due(start + 3 * W).is_empty());
        assert!(repeats.admit("refused", None, Severity::Warn, start + 3 * W));
    }

    #[test]
    fn kinds_are_counted_apart() {
        let repeats = Repeats::new(W, 16);
        let now = Instant::now();
        assert!(repeats.admit("no credentials", Some("a"), Severity::Error, now));
        assert!(repeats.admit("no credentials", Some("b"), Severity::Error, now));
        assert!(repeats.admit("refused", None, Severity::Warn, now));
        assert!(!repeats.admit("no credentials", Some("a"), Severity::Error, now));
        assert!(
            repeats
                .due(now + W)
                .iter()
                .all(|r| r.subject.as_deref() == Some("a"))
        );
    }

    #[test]
    fn subjects_past_the_cap_share_their_message() {
        let repeats = Repeats::new(W, 2);
        let now = Instant::now();
        assert!(repeats.admit("x", Some("a"), Severity::Error, now));
        assert!(repeats.admit("x", Some("b"), Severity::Error, now));
        // Full: "c" and every later subject share one line for the message.
        assert!(repeats.admit("x", Some("c"), Severity::Error, now));
        assert!(!repeats.admit("x", Some("c"), Severity::Error, now));
        assert!(!repeats.admit("x", Some("d"), Severity::Error, now));
        // Known subjects keep their own.
        assert!(!repeats.admit("x", Some("a"), Severity::Error, now));
        assert_eq!(repeats.due(now + W).len(), 2);
    }

    #[test]
    fn a_window_nobody_reported_starts_over_with_a_line() {
        let repeats = Repeats::new(W, 16);
        let now = Instant::now();
        assert!(repeats.admit("x", None, Severity::Warn, now));
        assert!(!repeats.admit("x", None, Severity::Warn, now + W / 2));
        assert!(repeats.admit("x", None, Severity::Warn, now + W));
    }
}
