//! Logging to stderr, in the form the place it lands expects.
//!
//! * A terminal: human-readable lines with colours.
//! * journald (`JOURNAL_STREAM` names stderr's device and inode): each line starts with its
//!   syslog priority (`<3>` error, `<4>` warning, `<6>` info, `<7>` debug) and carries no
//!   timestamp, which the journal adds; no colours.
//! * Anything else (a pipe, a file): plain lines with timestamps, no colours.
//! * `--log-format json`: one JSON object per line, wherever it goes.
//!
//! `RUST_LOG` overrides the level (`warn`, or `needroleshere=debug` with `--debug`). Secrets
//! are never logged: they live in [`crate::secret::Secret`], whose `Debug` hides them.

use std::fmt;
use std::io::IsTerminal as _;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (with syslog priorities under journald).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Where stderr goes, as far as log formatting cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    Terminal,
    Journal,
    Other,
}

impl Destination {
    /// Looks at stderr and `JOURNAL_STREAM` (`DEVICE:INODE` of the journal's socket).
    pub fn detect(journal_stream: Option<&str>) -> Self {
        if std::io::stderr().is_terminal() {
            return Self::Terminal;
        }
        if journal_stream.is_some_and(stderr_is) {
            return Self::Journal;
        }
        Self::Other
    }
}

/// Whether stderr is the file `DEVICE:INODE` names.
fn stderr_is(device_inode: &str) -> bool {
    use std::os::fd::AsFd as _;
    use std::os::unix::fs::MetadataExt as _;
    let Some((device, inode)) = device_inode.split_once(':') else {
        return false;
    };
    let (Ok(device), Ok(inode)) = (device.parse::<u64>(), inode.parse::<u64>()) else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(fd)
        .metadata()
        .is_ok_and(|m| m.dev() == device && m.ino() == inode)
}

/// The syslog priority journald reads from a `<N>` prefix.
pub fn syslog_priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Formats events for journald: `<N>` priority, level, message and fields, span context.
struct JournalFormat;

impl<S, N> FormatEvent<S, N> for JournalFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = event.metadata().level();
        write!(writer, "<{}>{level} ", syslog_priority(level))?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                write!(writer, "{}", span.name())?;
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(writer, "{{{fields}}}")?;
                }
                writer.write_str(": ")?;
            }
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Installs the global subscriber.
pub fn init(format: LogFormat, debug: bool, journal_stream: Option<&str>) {
    let default = if debug {
        "warn,needroleshere=debug"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let destination = Destination::detect(journal_stream);
    match (format, destination) {
        (LogFormat::Json, _) => builder.json().with_ansi(false).init(),
        (LogFormat::Text, Destination::Journal) => {
            builder.with_ansi(false).event_format(JournalFormat).init()
        }
        (LogFormat::Text, Destination::Terminal) => builder.with_ansi(true).init(),
        (LogFormat::Text, Destination::Other) => builder.with_ansi(false).init(),
    }
}

/// An error and its causes on one line, `what: because: …`, as the binary prints them.
pub fn error_chain(error: &(dyn std::error::Error + '_)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_follow_syslog() {
        assert_eq!(syslog_priority(&Level::ERROR), 3);
        assert_eq!(syslog_priority(&Level::WARN), 4);
        assert_eq!(syslog_priority(&Level::INFO), 6);
        assert_eq!(syslog_priority(&Level::DEBUG), 7);
    }

    #[test]
    fn malformed_journal_stream_values_are_not_the_journal() {
        assert!(!stderr_is("garbage"));
        assert!(!stderr_is("1:"));
        assert!(!stderr_is("0:0"));
    }
}
