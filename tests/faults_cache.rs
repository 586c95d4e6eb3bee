//! Upstream faults through the library, where time can be moved: the daemon's [`Vendor`]
//! (identity loading, the CreateSession client with its retries, the credential cache)
//! against the strict fake IAM Roles Anywhere with scripted faults, both on one
//! [`FixedClock`].
//!
//! The binary cannot be time-travelled and credentials live at least 900 s, so expiry,
//! last-good and backoff are checked here: the wall clock (expiry, refresh and blocking
//! margins, backoff deadlines) is the `FixedClock`, moved by the test; the short waits
//! (request timeouts, the cache's wait for a fetch) run on real tokio time, which is not
//! paused because the fake serves real sockets in the same runtime.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::pki_file;
use fake_aws::faults::{Fault, Faults};
use fake_aws::rolesanywhere::{FakeRolesAnywhere, Running};
use needroleshere::arn::SessionDuration;
use needroleshere::aws::rolesanywhere::SessionRequest;
use needroleshere::binding::{Binding, Mode};
use needroleshere::cache::Policy;
use needroleshere::credentials::Credentials;
use needroleshere::front::answer::status_and_code;
use needroleshere::front::vend::Vendor;
use needroleshere::identity::IdentityFiles;
use needroleshere::source::SourceError;
use needroleshere::system::clock::{Clock, FixedClock};
use needroleshere::system::env::Environment;
use needroleshere::system::transport::TransportSettings;

/// A vendor and a fake on one fixed clock.
struct Setup {
    clock: Arc<FixedClock>,
    fake: FakeRolesAnywhere,
    faults: Faults,
    _running: Running,
    vendor: Vendor,
    binding: Arc<Binding>,
}

impl Setup {
    /// Credentials of `duration` seconds; HTTP requests time out after `timeout`.
    async fn new(duration: u64, timeout: Duration, policy: Policy) -> Setup {
        let (clock, fake, running) = common::fixed_fake::fake_on_fixed_clock().await;
        let mut settings = TransportSettings::from_environment(&Environment::default());
        settings.request_timeout = timeout;
        let vendor = common::fixed_fake::vendor(clock.clone(), &settings, policy);
        let (binding, _) = Binding::create(
            "web".parse().unwrap(),
            Mode::EcsFull,
            IdentityFiles {
                certificates: vec![pki_file("p256.fullchain.pem").into()],
                intermediates: vec![],
                private_key: pki_file("p256.pkcs8.key").into(),
                pkcs8_password: None,
                device: Default::default(),
            },
            SessionRequest {
                duration: SessionDuration::new(duration).unwrap(),
                ..common::samples::session_request()
            },
            None,
            Some(running.url()),
        )
        .unwrap();
        Setup {
            clock,
            faults: fake.faults(),
            fake,
            _running: running,
            vendor,
            binding: Arc::new(binding),
        }
    }

    async fn get(&self) -> Result<Arc<Credentials>, SourceError> {
        self.vendor.credentials(&self.binding).await
    }

    fn calls(&self) -> usize {
        self.fake.request_count()
    }

    /// Moves the wall clock.
    fn advance(&self, seconds: f64) {
        self.clock.advance(time::Duration::seconds_f64(seconds));
    }

    /// Waits (real time) until `n` requests reached the fake and no more arrive for a while.
    async fn settle(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.faults.arrivals().len() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} upstream calls, expected {n}",
                self.faults.arrivals().len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(self.faults.arrivals().len(), n, "more calls than expected");
    }
}

/// (status, code) of a vend error, and its whole cause chain as the log shows it.
fn class(error: &SourceError) -> (u16, &'static str, String) {
    let (status, code) = status_and_code(error.kind());
    (status.as_u16(), code, error.chain())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outage_serves_the_last_good_credentials_while_valid_and_never_expired_ones() {
    let s = Setup::new(900, Duration::from_secs(5), Policy::default()).await;
    let good = s.get().await.unwrap();
    let expiration = good.expiration.unwrap();
    assert_eq!(expiration - s.clock.now(), time::Duration::seconds(900));
    s.faults.fail_all(Fault::server_error(503));

    // 300 s in: fresh, answered from the cache, nothing sent upstream.
    s.advance(300.0);
    assert_eq!(s.get().await.unwrap().access_key_id, good.access_key_id);
    assert_eq!(s.calls(), 1);

    // 460 s in (past the proactive refresh at 390-450 s for 900 s credentials): answered at
    // once from the cache while a background refresh runs, and fails (4 attempts).
    s.advance(160.0);
    let started = tokio::time::Instant::now();
    assert_eq!(s.get().await.unwrap().access_key_id, good.access_key_id);
    assert!(started.elapsed() < Duration::from_millis(100));
    s.settle(1 + 4).await;

    // 610 s in (past the blocking margin at 600 s): the request waits for a fetch, which
    // fails; the credentials still have 290 s, so they answer (last good).
    s.advance(150.0);
    assert_eq!(s.get().await.unwrap().access_key_id, good.access_key_id);
    s.settle(1 + 4 + 4).await;

    // Within the backoff after that failure: last good at once, no call.
    assert_eq!(s.get().await.unwrap().access_key_id, good.access_key_id);
    assert_eq!(s.calls(), 9);

    // 845 s in: 55 s left, less than the 60 s last-good margin: an error, never them.
    s.advance(235.0);
    let error = s.get().await.unwrap_err();
    let (status, code, chain) = class(&error);
    assert_eq!((status, code), (503, "UpstreamUnavailable"), "{chain}");
    assert!(chain.contains("503 ServiceUnavailableException"), "{chain}");
    s.settle(13).await;

    // Expired: still an error, however often asked, and the calls stay bounded by the backoff.
    s.advance(60.0);
    for _ in 0..20 {
        assert!(s.get().await.is_err());
    }
    assert!(s.calls() <= 13 + 4, "{} calls", s.calls());
    s.settle(s.faults.arrivals().len()).await;

    // The outage ends: the next request after the backoff gets new credentials.
    s.faults.clear();
    s.advance(61.0);
    let fresh = s.get().await.unwrap();
    assert_ne!(fresh.access_key_id, good.access_key_id);
    assert!(fresh.expiration.unwrap() > s.clock.now());
}

#[tokio::test(flavor = "multi_thread")]
async fn backoff_grows_after_each_failed_fetch_and_caps_at_a_minute() {
    let s = Setup::new(900, Duration::from_secs(5), Policy::default()).await;
    s.faults.fail_all(Fault::server_error(500));
    assert!(s.get().await.is_err());
    s.settle(4).await;
    // Backoff after the n-th failed fetch: 2^(n-1) s, jittered to [half, full], at most 60 s.
    let mut calls = 4;
    for n in 1..=8u32 {
        let full = f64::from(2u32.pow(n - 1)).min(60.0);
        // Just under half the backoff: no new fetch.
        s.advance(full / 2.0 - 0.05);
        assert!(s.get().await.is_err());
        assert_eq!(s.calls(), calls, "a fetch {n} started inside its backoff");
        // Past the full backoff: a new fetch (four attempts).
        s.advance(full / 2.0 + 0.1);
        assert!(s.get().await.is_err());
        calls += 4;
        s.settle(calls).await;
    }
    // Capped: a minute later there is always a new fetch.
    for _ in 0..2 {
        s.advance(60.1);
        assert!(s.get().await.is_err());
        calls += 4;
        s.settle(calls).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_map_to_the_documented_statuses() {
    let cases: Vec<(Fault, u16, &str, usize, &str)> = vec![
        (
            Fault::throttled(),
            503,
            "UpstreamUnavailable",
            4,
            "429 ThrottlingException",
        ),
        (
            Fault::server_error(500),
            503,
            "UpstreamUnavailable",
            4,
            "500",
        ),
        (
            Fault::server_error(503),
            503,
            "UpstreamUnavailable",
            4,
            "503",
        ),
        (
            Fault::Reset,
            503,
            "UpstreamUnavailable",
            4,
            "cannot reach IAM Roles Anywhere",
        ),
        (
            Fault::MalformedJson,
            502,
            "UpstreamInvalid",
            1,
            "unreadable body",
        ),
        (Fault::ClockSkew, 502, "ClockSkew", 1, "check the clock"),
        (
            Fault::Status {
                status: 403,
                error_type: "AccessDeniedException".into(),
                message: "Untrusted signing certificate".into(),
            },
            502,
            "UpstreamRefused",
            1,
            "Untrusted signing certificate",
        ),
    ];
    for (fault, status, code, calls, says) in cases {
        let s = Setup::new(900, Duration::from_secs(5), Policy::default()).await;
        s.faults.fail_all(fault.clone());
        let error = s.get().await.unwrap_err();
        let (got_status, got_code, chain) = class(&error);
        assert_eq!((got_status, got_code), (status, code), "{fault:?}: {chain}");
        assert!(chain.contains(says), "{fault:?}: {chain}");
        s.settle(calls).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stalls_past_the_request_timeout_are_504_and_the_entry_recovers() {
    // Each attempt is abandoned after 300 ms; four stalled attempts make a 504.
    let s = Setup::new(900, Duration::from_millis(300), Policy::default()).await;
    s.faults.push_n(4, Fault::Stall(Duration::from_secs(5)));
    let started = tokio::time::Instant::now();
    let error = s.get().await.unwrap_err();
    let (status, code, chain) = class(&error);
    assert_eq!((status, code), (504, "UpstreamTimeout"), "{chain}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.faults.arrivals().len(), 4);
    // Nothing is wedged: after the backoff the next request is served.
    s.advance(1.1);
    assert!(s.get().await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stall_longer_than_the_wait_is_504_and_its_late_answer_is_used() {
    let policy = Policy {
        wait: Duration::from_millis(500),
        ..Policy::default()
    };
    let s = Setup::new(900, Duration::from_secs(5), policy).await;
    s.faults.push(Fault::Stall(Duration::from_secs(1)));
    let started = tokio::time::Instant::now();
    let error = s.get().await.unwrap_err();
    let (status, code, chain) = class(&error);
    assert_eq!((status, code), (504, "UpstreamTimeout"), "{chain}");
    assert!(started.elapsed() < Duration::from_millis(900));
    // The fetch went on; once it is done its credentials answer, without a second call.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let credentials = s.get().await.unwrap();
    assert_eq!(s.calls(), 1);
    assert_eq!(
        s.fake.sessions()[0].access_key_id,
        credentials.access_key_id
    );
}
