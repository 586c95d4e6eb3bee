//! Log output as it lands: one JSON object per line with `--log-format json`, and syslog
//! priority prefixes without timestamps when `JOURNAL_STREAM` names stderr.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::os::unix::fs::MetadataExt as _;
use std::process::{Command, Stdio};

/// Runs `serve` with nothing to listen on and a debug level, so it logs a few lines and
/// fails; stderr goes to a file so its device and inode can be named.
fn run_serve(extra: &[&str], journal: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr");
    let file = std::fs::File::create(&log).unwrap();
    let meta = file.metadata().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_needroleshere"));
    command
        .args(extra)
        .args(["serve", "--debug", "--configuration-directory"])
        .arg(dir.path())
        .env("RUST_LOG", "debug")
        .env_remove("LISTEN_FDS")
        .env_remove("JOURNAL_STREAM")
        .stdout(Stdio::null())
        .stderr(file);
    if journal {
        command.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
    }
    let status = command.status().unwrap();
    assert!(
        !status.success(),
        "serve with nothing to listen on must fail"
    );
    std::fs::read_to_string(log).unwrap()
}

#[test]
fn json_logs_are_one_object_per_line() {
    let text = run_serve(&["--log-format", "json"], false);
    let logged: Vec<&str> = text.lines().filter(|l| l.starts_with('{')).collect();
    assert!(!logged.is_empty(), "{text}");
    for line in logged {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            value["level"].is_string() && value["fields"].is_object(),
            "{line}"
        );
    }
    // The final error is one plain line for people, not a log record.
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("needroleshere: nothing to listen on"),
        "{text}"
    );
}

#[test]
fn journald_gets_priorities_and_no_timestamps() {
    let text = run_serve(&[], true);
    let logged: Vec<&str> = text.lines().filter(|l| l.starts_with('<')).collect();
    assert!(!logged.is_empty(), "{text}");
    for line in &logged {
        assert!(
            line.starts_with("<7>DEBUG ")
                || line.starts_with("<6>INFO ")
                || line.starts_with("<4>WARN ")
                || line.starts_with("<3>ERROR "),
            "{line}"
        );
        assert!(!line.contains("T2"), "no timestamps under journald: {line}");
        assert!(!line.contains('\u{1b}'), "no colours: {line}");
    }
}

#[test]
fn plain_files_get_timestamps_and_no_colours() {
    let text = run_serve(&[], false);
    let first = text.lines().next().unwrap();
    assert!(first.starts_with("20"), "a timestamp first: {first}");
    assert!(!text.contains('\u{1b}'), "{text}");
}
