//! The binary with its clock minutes off (issue 20 item 12), through Debian's libfaketime,
//! against the strict fakes running in this test process on the real clock: they refuse a
//! request whose `X-Amz-Date` is more than 5 minutes from their clock, as AWS does.
//!
//! * `credential-process` (IAM Roles Anywhere) and `exec` (a profile through STS) fail with a
//!   one-line error that says how far this machine's clock is off and to fix it.
//! * `serve` answers the documented short body (502 `ClockSkew`, "this machine's clock is
//!   off; check it"), logs the measured skew, and caches nothing from the refused call: a
//!   second request after the backoff calls the service again and still gets no credentials,
//!   and the fake issued no session.
//!
//! libfaketime shifts only the wall clock here (`FAKETIME_DONT_FAKE_MONOTONIC=1`), as a wrong
//! system clock does: tokio's timers and the cache's backoff run on the monotonic clock.
//!
//! The X.509 cases run the clock *ahead*: the test PKI is minted when the test starts and
//! OpenSSL 3.0 cannot backdate `notBefore`, so a clock behind would see a certificate not yet
//! valid and never call. The STS case (keys, no certificate) runs it behind.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::daemon::{Fake, assert_error, identity_args, run, stderr};
use common::hostile::{Daemon, WEB};
use common::profiles::World;

/// Debian's libfaketime (package `faketime`).
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// The environment that runs a program with its wall clock `offset` off (`-10m`, `+10m`).
fn faketime(offset: &str) -> Vec<(&'static str, String)> {
    assert!(
        Path::new(LIBFAKETIME).exists(),
        "{LIBFAKETIME} is missing: install Debian's faketime (scripts/test.sh does)"
    );
    vec![
        ("LD_PRELOAD", LIBFAKETIME.to_owned()),
        ("FAKETIME", offset.to_owned()),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_owned()),
    ]
}

fn borrowed<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Whether `text` says the clock is `minutes` (±1: the `Date` header has whole seconds)
/// `direction` of AWS.
fn names_the_skew(text: &str, minutes: i64, direction: &str) -> bool {
    (minutes - 1..=minutes + 1).any(|m| {
        text.contains(&format!(
            "this machine's clock is {m} minutes {direction} AWS; fix the clock (NTP)"
        ))
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn credential_process_with_a_clock_ahead_says_to_fix_the_clock() {
    let fake = Fake::start().await;
    let mut args = vec!["credential-process".to_owned()];
    args.extend(identity_args("p256"));
    args.extend(["--endpoint".to_owned(), fake.url()]);
    let env = faketime("+10m");
    let output = run(&args, &borrowed(&env)).await;
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(output.stdout.is_empty());
    assert!(names_the_skew(&text, 10, "ahead of"), "{text}");
    // The service's own words stay in the line, for whoever searches for them.
    assert!(text.contains("Signature not yet current"), "{text}");
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    assert_eq!(fake.fake.request_count(), 1, "a 403 is not retried");
    assert!(fake.fake.sessions().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_profile_through_sts_with_a_clock_behind_says_to_fix_the_clock() {
    let world = World::new().await;
    let env = faketime("-10m");
    let output = world
        .command(common::daemon::BIN)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .args(["exec", "developer", "--", "true"])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    let text = stderr(&output);
    assert!(!output.status.success(), "{text}");
    assert!(
        text.contains("SignatureDoesNotMatch") && text.contains("Signature expired"),
        "{text}"
    );
    assert!(names_the_skew(&text, 10, "behind"), "{text}");
    assert!(world.sts.issued().is_empty(), "{:?}", world.sts.issued());
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_with_a_clock_ahead_answers_clock_skew_and_caches_nothing() {
    let env = faketime("+10m");
    let daemon = Daemon::start_with_env(&[], &borrowed(&env)).await;

    let response = daemon.get(WEB).await;
    let (code, message) = assert_error(&response, 502, "clock 10 minutes ahead");
    assert_eq!(code, "ClockSkew");
    assert_eq!(message, "this machine's clock is off; check it");
    assert_eq!(daemon.fake.fake.request_count(), 1, "a 403 is not retried");
    let log = daemon.log();
    assert!(names_the_skew(&log, 10, "ahead of"), "{log}");

    // Within the backoff the refusal is answered again without a call.
    let again = daemon.get(WEB).await;
    assert_eq!(
        assert_error(&again, 502, "within the backoff").0,
        "ClockSkew"
    );
    assert_eq!(
        daemon.fake.fake.request_count(),
        1,
        "no call within the backoff"
    );

    // After the backoff (at most a second the first time; slack for a busy machine) the
    // next request calls again: nothing was cached from the refused call.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let later = daemon.get(WEB).await;
    assert_eq!(
        assert_error(&later, 502, "after the backoff").0,
        "ClockSkew"
    );
    assert_eq!(daemon.fake.fake.request_count(), 2, "{}", daemon.log());
    assert!(
        daemon.fake.fake.sessions().is_empty(),
        "the fake issued a session"
    );
    // Nor did the body carry anything but the short text.
    assert!(!later.body.contains("Signature"), "{later:?}");
}
