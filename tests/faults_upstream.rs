//! Upstream faults seen through the real binary: `serve` (`--listen`, bindings made with
//! `--no-validate`) and `credential-process`, calling the strict fake IAM Roles Anywhere
//! with scripted faults ([`fake_aws::faults`]).
//!
//! * Bursts of 429 and 5xx are retried (at most three retries per fetch, jittered) and
//!   recover by themselves; a burst longer than the retries fails, then the cache's backoff
//!   keeps callers from hammering the service, and the next fetch after it recovers.
//! * A connection reset is 503, a stall past the wait is 504, malformed JSON is 502, a clock
//!   skew rejection is 502 `ClockSkew` and the log says "check the clock"; none of them
//!   blocks another binding.
//! * Through an outage the daemon keeps answering with the last good credentials while they
//!   are valid (here: a renewed certificate forces a fetch that fails), and never answers
//!   with expired ones (here: credentials that live 6 s, made so by the fake).
//!
//! Upstream calls are counted in every case to show there is no hammering.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::time::Duration;

use common::daemon::{Response, assert_error, command, identity_args, stderr};
use common::hostile::{Daemon, OTHER, WEB};
use common::pki_file;
use fake_aws::faults::Fault;
use needroleshere::credentials::parse_rfc3339;
use time::OffsetDateTime;

/// The 200 answer's access key id.
fn key_of(response: &Response) -> String {
    assert_eq!(response.status, 200, "{response:?}");
    response.json()["AccessKeyId"].as_str().unwrap().to_owned()
}

#[allow(clippy::disallowed_methods, reason = "the test's own wall clock")]
fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_throttling_is_retried_and_recovers_by_itself() {
    let daemon = Daemon::start(&[]).await;
    let faults = daemon.fake.fake.faults();
    faults.push_n(3, Fault::throttled());
    let first = daemon.get(WEB).await;
    let key = key_of(&first);
    // Three refusals, then the fourth attempt (the last retry) succeeds: four calls, no more.
    assert_eq!(daemon.fake.fake.request_count(), 4);
    assert_eq!(faults.injected(), vec!["status 429"; 3]);
    // Cached afterwards: no more calls.
    assert_eq!(key_of(&daemon.get(WEB).await), key);
    assert_eq!(daemon.fake.fake.request_count(), 4);
    let log = daemon.log();
    assert_eq!(
        log.matches("CreateSession failed; retrying").count(),
        3,
        "{log}"
    );
    assert!(log.contains("429 ThrottlingException"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_server_errors_is_retried_and_recovers_by_itself() {
    let daemon = Daemon::start(&[]).await;
    let faults = daemon.fake.fake.faults();
    for status in [500, 503, 502] {
        faults.push(Fault::server_error(status));
    }
    key_of(&daemon.get(WEB).await);
    assert_eq!(daemon.fake.fake.request_count(), 4);
    let log = daemon.log();
    for text in [
        "500 InternalServerException",
        "503 ServiceUnavailableException",
        "502",
    ] {
        assert!(log.contains(text), "the log should name {text:?}:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_longer_than_the_retries_fails_then_backs_off_then_recovers() {
    let daemon = Daemon::start(&[]).await;
    let faults = daemon.fake.fake.faults();
    faults.push_n(6, Fault::server_error(503));
    let response = daemon.get(WEB).await;
    let (code, message) = assert_error(&response, 503, "six 503s");
    assert_eq!(code, "UpstreamUnavailable");
    // The same short message for every source and endpoint; the log names the binding.
    assert_eq!(message, "AWS is unavailable; try again later");
    assert_eq!(
        daemon.fake.fake.request_count(),
        4,
        "one fetch: 1 + 3 retries"
    );
    // Within the backoff (at least 0.5 s after a first failure) callers get the error at
    // once and nothing is sent upstream.
    for _ in 0..5 {
        let response = daemon.get(WEB).await;
        assert_eq!(response.status, 503, "{response:?}");
    }
    assert_eq!(
        daemon.fake.fake.request_count(),
        4,
        "no upstream call during the backoff"
    );
    // After it, the next request fetches again: two more 503s, then success.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    key_of(&daemon.get(WEB).await);
    assert_eq!(daemon.fake.fake.request_count(), 7);
    assert_eq!(faults.pending(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outage_is_not_hammered_and_recovery_needs_no_restart() {
    let daemon = Daemon::start(&[]).await;
    let faults = daemon.fake.fake.faults();
    faults.fail_all(Fault::server_error(503));
    // 100 requests over 2.5 s, as a busy consumer fleet would make them.
    let started = tokio::time::Instant::now();
    let mut answered = 0;
    for i in 0..100u32 {
        tokio::time::sleep_until(started + Duration::from_millis(25) * i).await;
        let response = daemon.get(WEB).await;
        assert_error(&response, 503, "during the outage");
        answered += 1;
    }
    assert_eq!(answered, 100);
    // The cache's backoff (0.5-1 s, then 1-2 s, then 2-4 s) allows at most three fetches in
    // 2.5 s, each of at most four attempts.
    let calls = daemon.fake.fake.request_count();
    assert!(
        (4..=12).contains(&calls),
        "{calls} upstream calls for 100 requests in 2.5 s (gaps {:?})",
        faults.gaps()
    );
    // The outage ends; the daemon recovers by itself once its backoff has passed.
    faults.clear();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let response = daemon.get(WEB).await;
        if response.status == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no recovery: {response:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_reset_is_retried_and_a_persistent_one_is_503() {
    let mut daemon = Daemon::start(&[]).await;
    let faults = daemon.fake.fake.faults();
    faults.push(Fault::Reset);
    key_of(&daemon.get(OTHER).await);
    key_of(&daemon.get(WEB).await);
    assert_eq!(daemon.fake.fake.request_count(), 2, "one reset, one retry");

    // Persistent resets for a binding that has nothing cached.
    faults.fail_all(Fault::Reset);
    let response = daemon.get(common::hostile::QUERY).await;
    assert_eq!(
        response.status, 401,
        "a query binding refuses header tokens"
    );
    let query = daemon.token(common::hostile::QUERY);
    let response = common::daemon::get_with_query(&daemon.target(), &query).await;
    let (code, message) = assert_error(&response, 503, "resets");
    assert_eq!(code, "UpstreamUnavailable");
    assert_eq!(message, "AWS is unavailable; try again later");
    assert_eq!(daemon.fake.fake.request_count(), 2 + 4);
    let log = daemon.log();
    assert!(
        log.contains("cannot reach IAM Roles Anywhere"),
        "the log should name the cause:\n{log}"
    );
    // Another binding on another endpoint is served meanwhile.
    key_of(&daemon.get(OTHER).await);
    assert!(daemon.serve.is_running());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stall_past_the_wait_is_504_without_blocking_other_bindings() {
    let mut daemon = Daemon::start(&[]).await;
    let faults = daemon.fake.fake.faults();
    // Longer than the daemon's wait (4 s) and than the client's 15 s request timeout.
    faults.push(Fault::Stall(Duration::from_secs(30)));
    let target = daemon.target();
    let token = daemon.token(WEB);
    let started = tokio::time::Instant::now();
    let stalled = tokio::spawn(async move {
        let response = common::daemon::get_with_bearer(&target, &token).await;
        (response, started.elapsed())
    });
    // While that request waits, other bindings are answered at once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let other_started = tokio::time::Instant::now();
    key_of(&daemon.get(OTHER).await);
    assert!(other_started.elapsed() < Duration::from_secs(2));
    assert!(daemon.serve.is_running());
    let (response, elapsed) = stalled.await.unwrap();
    let (code, _) = assert_error(&response, 504, "stall");
    assert_eq!(code, "UpstreamTimeout");
    assert!(
        elapsed >= Duration::from_millis(3500) && elapsed < Duration::from_secs(9),
        "504 after {elapsed:?}; the daemon waits 4 s"
    );
    assert!(
        daemon.log().contains("no answer from upstream within 4 s"),
        "{}",
        daemon.log()
    );
    // (That the stalled fetch goes on and its late answer is used is shown in
    // tests/faults_cache.rs, where the timeouts can be short.)
    assert_eq!(
        faults.arrivals().len(),
        1,
        "the stalled attempt, not yet retried"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_json_is_502_and_not_retried() {
    let mut daemon = Daemon::start(&[]).await;
    let faults = daemon.fake.fake.faults();
    faults.push(Fault::MalformedJson);
    let response = daemon.get(WEB).await;
    let (code, message) = assert_error(&response, 502, "malformed JSON");
    assert_eq!(code, "UpstreamInvalid");
    assert!(message.contains("unreadable"), "{message}");
    assert_eq!(daemon.fake.fake.request_count(), 1);
    let log = daemon.log();
    assert!(
        log.contains("answered 201 with an unreadable body"),
        "{log}"
    );
    // The partial body held the start of an access key id; it is not echoed.
    assert!(!log.contains("\"accessKeyId\":\"ASIA"), "{log}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    key_of(&daemon.get(WEB).await);
    daemon.assert_alive("after malformed JSON").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clock_skew_rejection_is_502_and_says_check_the_clock() {
    let daemon = Daemon::start(&[]).await;
    daemon.fake.fake.faults().push(Fault::ClockSkew);
    let response = daemon.get(WEB).await;
    let (code, message) = assert_error(&response, 502, "skew");
    assert_eq!(code, "ClockSkew");
    assert_eq!(message, "this machine's clock is off; check it");
    assert_eq!(daemon.fake.fake.request_count(), 1, "a 403 is not retried");
    let log = daemon.log();
    assert!(
        log.contains("request time too skewed") && log.contains("check the clock"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn through_an_outage_the_last_good_credentials_are_served_while_valid() {
    let mut daemon = Daemon::start(&[]).await;
    let faults = daemon.fake.fake.faults();
    let good = key_of(&daemon.get(WEB).await);
    faults.fail_all(Fault::server_error(503));
    // A renewed certificate (here: the same key, the chain left out) makes the next request
    // fetch anew. That fetch fails; the credentials in hand are valid for an hour, so they
    // answer, within the short fallback wait.
    std::fs::copy(pki_file("p256.cert.pem"), daemon.web_certificate()).unwrap();
    let started = tokio::time::Instant::now();
    assert_eq!(key_of(&daemon.get(WEB).await), good);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // The certificate deleted outright: still the same answer.
    std::fs::remove_file(daemon.web_certificate()).unwrap();
    assert_eq!(key_of(&daemon.get(WEB).await), good);
    let log = daemon.log();
    assert!(log.contains("503 ServiceUnavailableException"), "{log}");
    assert!(
        log.contains("serving cached credentials while the certificate or key cannot be used"),
        "{log}"
    );
    // The outage ends and a renewed certificate arrives (the full chain and the root this
    // time): new credentials, without a restart.
    faults.clear();
    let mut renewed = std::fs::read(pki_file("p256.fullchain.pem")).unwrap();
    renewed.extend(std::fs::read(pki_file("root-ca.pem")).unwrap());
    std::fs::write(daemon.web_certificate(), renewed).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let key = key_of(&daemon.get(WEB).await);
        if key != good {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still the old credentials"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    daemon.assert_alive("after the outage").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_credentials_are_never_served() {
    let daemon = Daemon::start(&[]).await;
    let faults = daemon.fake.fake.faults();
    // The next credentials live 6 s; then an outage. With a 6 s lifetime the cache refreshes
    // after about 3 s, stops answering from the cache 2 s before expiry, and keeps no
    // last-good credentials (that needs more than 60 s left).
    faults.push(Fault::ShortLived(Duration::from_secs(6)));
    faults.fail_all(Fault::server_error(503));
    let first = daemon.get(WEB).await;
    let expiration = parse_rfc3339(first.json()["Expiration"].as_str().unwrap()).unwrap();
    assert!(
        expiration <= now() + time::Duration::seconds(7),
        "{first:?}"
    );
    let mut served = 0;
    let mut refused_before_expiry = 0;
    let until = expiration + time::Duration::seconds(2);
    while now() < until {
        let response = daemon.get(WEB).await;
        let received = now();
        match response.status {
            200 => {
                let served_expiration =
                    parse_rfc3339(response.json()["Expiration"].as_str().unwrap()).unwrap();
                assert!(
                    served_expiration > received,
                    "served credentials expiring {served_expiration} at {received}"
                );
                served += 1;
            }
            _ => {
                let (code, _) = assert_error(&response, response.status, "outage");
                assert!(matches!(response.status, 503 | 504), "{code}: {response:?}");
                if received < expiration {
                    refused_before_expiry += 1;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        served >= 5,
        "the valid credentials should answer at first ({served})"
    );
    assert!(
        refused_before_expiry > 0,
        "nearly expired credentials should not be answered during an outage"
    );
    // Six seconds of requests made only a handful of upstream calls.
    assert!(
        daemon.fake.fake.request_count() <= 1 + 4 * 4,
        "{} calls",
        daemon.fake.fake.request_count()
    );
}

// ------------------------------------------------------------------------------------------
// credential-process

struct Process {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
}

async fn credential_process(fake: &common::daemon::Fake, limit: Duration) -> Process {
    let mut args = vec!["credential-process".to_owned(), "--debug".to_owned()];
    args.extend(identity_args("p256"));
    args.extend(["--endpoint".to_owned(), fake.url()]);
    let output = tokio::time::timeout(limit, command(&args, &[]).output())
        .await
        .expect("credential-process took too long")
        .expect("run credential-process");
    Process {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: stderr(&output),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn credential_process_retries_throttling_and_server_errors() {
    let fake = common::daemon::Fake::start().await;
    let faults = fake.fake.faults();
    faults.push(Fault::throttled());
    faults.push(Fault::server_error(500));
    faults.push(Fault::Reset);
    let process = credential_process(&fake, Duration::from_secs(20)).await;
    assert!(process.status.success(), "{}", process.stderr);
    let json: serde_json::Value = serde_json::from_str(&process.stdout).unwrap();
    assert_eq!(json["Version"], 1);
    assert_eq!(fake.fake.request_count(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn credential_process_gives_up_after_three_retries() {
    let fake = common::daemon::Fake::start().await;
    fake.fake.faults().fail_all(Fault::server_error(503));
    let process = credential_process(&fake, Duration::from_secs(20)).await;
    assert_eq!(process.status.code(), Some(1), "{}", process.stderr);
    assert!(process.stdout.is_empty());
    assert!(
        process.stderr.contains("503 ServiceUnavailableException"),
        "{}",
        process.stderr
    );
    assert_eq!(fake.fake.request_count(), 4, "bounded: 1 + 3 retries");
}

#[tokio::test(flavor = "multi_thread")]
async fn credential_process_names_each_non_retryable_fault() {
    for (fault, says) in [
        (Fault::ClockSkew, "check the clock"),
        (Fault::MalformedJson, "unreadable body"),
        (
            Fault::Status {
                status: 403,
                error_type: "AccessDeniedException".into(),
                message: "Untrusted signing certificate".into(),
            },
            "403 AccessDeniedException",
        ),
    ] {
        let fake = common::daemon::Fake::start().await;
        fake.fake.faults().push(fault.clone());
        let process = credential_process(&fake, Duration::from_secs(20)).await;
        assert_eq!(
            process.status.code(),
            Some(1),
            "{fault:?}: {}",
            process.stderr
        );
        assert!(
            process.stderr.contains(says),
            "{fault:?}: {}",
            process.stderr
        );
        assert!(!process.stderr.contains("panicked"), "{}", process.stderr);
        assert_eq!(fake.fake.request_count(), 1, "{fault:?} is not retried");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn credential_process_retries_after_a_stall_times_out() {
    let fake = common::daemon::Fake::start().await;
    fake.fake
        .faults()
        .push(Fault::Stall(Duration::from_secs(30)));
    let started = tokio::time::Instant::now();
    let process = credential_process(&fake, Duration::from_secs(40)).await;
    assert!(process.status.success(), "{}", process.stderr);
    // The first attempt is abandoned at the 15 s request timeout, the retry succeeds.
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(14) && elapsed < Duration::from_secs(25),
        "{elapsed:?}"
    );
    assert!(process.stderr.contains("retrying"), "{}", process.stderr);
    assert_eq!(fake.fake.faults().arrivals().len(), 2);
}
