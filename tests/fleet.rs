//! Running a fleet, through the real binary: the metrics endpoint counts known traffic, the
//! certificate expiry warnings come once per threshold, `status` reports a failing binding
//! and exits non-zero, and the sockets named `metrics` and `status` that systemd passes are
//! served apart from the credential listeners.
//!
//! serve runs as in the fault tests ([`common::hostile::Daemon`]: four bindings against
//! strict fakes with fault injection), with its metrics and status on Unix sockets in a
//! temporary directory, or on sockets passed by `systemd-socket-activate`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::daemon::{
    Serve, ServeOptions, Target, free_port, get, get_with_bearer, get_with_query, run,
};
use common::hostile::{Daemon, IMDS, OTHER, QUERY, WEB};
use common::pki_file;
use fake_aws::faults::Fault;

/// The value of the sample `series` (name and labels, exactly as exposed), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().expect("a number"))
}

/// [`sample`] that must be present.
fn value(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

async fn scrape(target: &Target) -> String {
    let response = get(target, "/metrics", &[]).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert!(
        response
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "{response:?}"
    );
    assert!(response.body.ends_with("# EOF\n"), "{}", response.body);
    response.body
}

/// Scrapes until `series` has `expected` (a fetch may still be running when its caller got
/// an answer), failing after 15 s.
async fn scrape_until(target: &Target, series: &str, expected: f64) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let text = scrape(target).await;
        if sample(&text, series) == Some(expected) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{series} never reached {expected}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn requests(status: u16) -> String {
    format!(r#"needroleshere_requests_total{{front="ecs",status="{status}"}}"#)
}

fn upstream(outcome: &str) -> String {
    format!(r#"needroleshere_upstream_fetches_total{{outcome="{outcome}"}}"#)
}

fn per_binding(metric: &str, binding: &str) -> String {
    format!(r#"{metric}{{binding="{binding}"}}"#)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_metrics_endpoint_counts_known_traffic() {
    let sockets = tempfile::tempdir().unwrap();
    let metrics_path = sockets.path().join("metrics.sock");
    let listen = format!("unix:{}", metrics_path.display());
    let daemon = Daemon::start(&["--listen-metrics", &listen]).await;
    let metrics = Target::Unix(metrics_path);
    let faults = daemon.fake.fake.faults();

    // A fetch, then the same from the cache.
    let first = daemon.get(WEB).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(daemon.get(WEB).await.status, 200);
    // A refused token: the right shape, a secret that opens nothing.
    let wrong = format!("needroleshere.{WEB}.{}", "A".repeat(86));
    assert_eq!(get_with_bearer(&daemon.target(), &wrong).await.status, 401);
    // An upstream failure: every call to the fake answers 503 (one fetch: 1 + 3 retries).
    faults.fail_all(Fault::server_error(503));
    let failed = get_with_query(&daemon.target(), &daemon.token(QUERY)).await;
    assert_eq!(failed.status, 503, "{failed:?}");
    // A renewed certificate while the outage lasts: the fetch fails, the credentials in
    // hand answer (last good).
    std::fs::copy(pki_file("p256.cert.pem"), daemon.web_certificate()).unwrap();
    let fallback = daemon.get(WEB).await;
    assert_eq!(fallback.json()["AccessKeyId"], first.json()["AccessKeyId"]);

    // The IMDS listener's answers are counted too: a token, then a GET without one.
    common::imds::token(daemon.imds).await;
    let v1 = common::imds::request(daemon.imds, "GET", "/latest/meta-data/", &[]).await;
    assert_eq!(v1.status, 401, "{v1:?}");

    let text = scrape_until(&metrics, &upstream("unavailable"), 2.0).await;
    let imds =
        |status: &str| format!(r#"needroleshere_requests_total{{front="imds",status="{status}"}}"#);
    assert_eq!(value(&text, &imds("200")), 1.0, "{text}");
    assert_eq!(value(&text, &imds("401")), 1.0, "{text}");
    assert_eq!(value(&text, &requests(200)), 3.0, "{text}");
    assert_eq!(value(&text, &requests(401)), 1.0, "{text}");
    assert_eq!(value(&text, &requests(503)), 1.0, "{text}");
    assert_eq!(value(&text, "needroleshere_cache_hits_total"), 1.0);
    assert_eq!(value(&text, "needroleshere_cache_refreshes_total"), 3.0);
    assert_eq!(value(&text, "needroleshere_cache_fallbacks_total"), 1.0);
    assert_eq!(value(&text, &upstream("ok")), 1.0);
    assert_eq!(value(&text, &upstream("refused")), 0.0);
    assert_eq!(
        value(&text, "needroleshere_upstream_fetch_duration_seconds_count"),
        3.0
    );
    assert_eq!(value(&text, "needroleshere_bindings_loaded"), 4.0);
    // Per binding: the certificate's expiry for every binding, the credentials' for those
    // fetched, and which are failing.
    let leaf = x509_not_after(&pki_file("p256.cert.pem"));
    for name in [WEB, OTHER, QUERY, IMDS] {
        let cert = value(
            &text,
            &per_binding("needroleshere_certificate_expiry_timestamp_seconds", name),
        );
        assert_eq!(cert as i64, leaf, "{name}");
    }
    let expiration =
        needroleshere::credentials::parse_rfc3339(first.json()["Expiration"].as_str().unwrap())
            .unwrap();
    assert_eq!(
        value(
            &text,
            &per_binding("needroleshere_credentials_expiry_timestamp_seconds", WEB)
        ) as i64,
        expiration.unix_timestamp()
    );
    assert!(
        sample(
            &text,
            &per_binding("needroleshere_credentials_expiry_timestamp_seconds", QUERY)
        )
        .is_none()
    );
    assert_eq!(
        value(&text, &per_binding("needroleshere_binding_failing", QUERY)),
        1.0
    );
    assert_eq!(
        value(&text, &per_binding("needroleshere_binding_failing", WEB)),
        1.0,
        "web's renewal could not be fetched"
    );
    // Nothing secret in any label or value.
    for secret in [
        daemon.token(WEB),
        first.json()["AccessKeyId"].as_str().unwrap().to_owned(),
        first.json()["SecretAccessKey"].as_str().unwrap().to_owned(),
        first.json()["Token"].as_str().unwrap().to_owned(),
    ] {
        assert!(!text.contains(&secret), "a secret in the metrics:\n{text}");
    }
    // The credential listener does not serve them.
    assert_eq!(get(&daemon.target(), "/metrics", &[]).await.status, 404);
}

/// notAfter of the PEM certificate at `path`, as a Unix time.
fn x509_not_after(path: &Path) -> i64 {
    let pem = std::fs::read(path).unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    pem.parse_x509().unwrap().validity().not_after.timestamp()
}

/// A certificate for the test PKI's p256 key, issued by its intermediate, valid for `days`
/// days from now, followed by the intermediate (so the strict fake accepts it).
fn short_lived_certificate(dir: &Path, name: &str, days: u32) -> PathBuf {
    let csr = dir.join(format!("{name}.csr"));
    let ext = dir.join("leaf.ext");
    let cert = dir.join(format!("{name}.pem"));
    std::fs::write(
        &ext,
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n",
    )
    .unwrap();
    let openssl = |args: &[&str]| {
        let output = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("run openssl");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let key = pki_file("p256.pkcs8.key");
    openssl(&[
        "req",
        "-new",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        &format!("/CN={name}"),
        "-out",
        csr.to_str().unwrap(),
    ]);
    let days = days.to_string();
    openssl(&[
        "x509",
        "-req",
        "-in",
        csr.to_str().unwrap(),
        "-CA",
        pki_file("intermediate-ca.pem").to_str().unwrap(),
        "-CAkey",
        pki_file("intermediate-ca.key").to_str().unwrap(),
        "-days",
        &days,
        "-sha256",
        "-extfile",
        ext.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
    ]);
    let mut chain = std::fs::read(&cert).unwrap();
    chain.extend(std::fs::read(pki_file("intermediate-ca.pem")).unwrap());
    std::fs::write(&cert, chain).unwrap();
    cert
}

/// Waits `seconds` of real time: the checks run every second (`--certificate-check-interval
/// 1`), so several run meanwhile. Real time because serve is another process; the margin
/// is generous for a loaded machine.
async fn let_checks_run(seconds: u64) {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expiring_certificate_is_warned_about_once_per_threshold() {
    let daemon = Daemon::start(&["--certificate-check-interval", "1"]).await;
    let certs = tempfile::tempdir().unwrap();
    // 10 days left: under 30 and under 14; one line, for the nearer.
    let ten = short_lived_certificate(certs.path(), "ten-days", 10);
    std::fs::copy(&ten, daemon.web_certificate()).unwrap();
    for _ in 0..5 {
        assert_eq!(daemon.get(WEB).await.status, 200, "{}", daemon.log());
    }
    let_checks_run(4).await;
    for _ in 0..5 {
        assert_eq!(daemon.get(WEB).await.status, 200);
    }
    let log = daemon.log();
    assert_eq!(
        log.matches("less than 14 days left").count(),
        1,
        "once, however many checks and requests:\n{log}"
    );
    assert_eq!(log.matches("less than 30 days left").count(), 0, "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("less than 14 days left") && l.contains("binding=web")),
        "{log}"
    );
    // The renewal is no better: 3 days. A new certificate, a new warning, once.
    let three = short_lived_certificate(certs.path(), "three-days", 3);
    std::fs::copy(&three, daemon.web_certificate()).unwrap();
    let_checks_run(4).await;
    let log = daemon.log();
    assert_eq!(log.matches("less than 7 days left").count(), 1, "{log}");
    assert_eq!(log.matches("less than 14 days left").count(), 1, "{log}");
    assert_eq!(log.matches("less than 1 day left").count(), 0, "{log}");
    // The other bindings' certificates (a year) were never mentioned.
    assert!(
        !log.lines()
            .any(|l| l.contains("days left: renew it") && !l.contains("binding=web")),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn status_reports_a_failing_binding_and_exits_non_zero() {
    let sockets = tempfile::tempdir().unwrap();
    let status_path = sockets.path().join("status.sock");
    let listen = format!("unix:{}", status_path.display());
    let daemon = Daemon::start(&["--listen-status", &listen]).await;
    let mode = std::fs::metadata(&status_path).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600,
        "only root (and serve's user) may ask"
    );
    let status = |json: bool| {
        let mut args = vec![
            "status".to_owned(),
            "--status-socket".to_owned(),
            status_path.display().to_string(),
        ];
        if json {
            args.push("--json".to_owned());
        }
        async move { run(&args, &[]).await }
    };

    // All well: exit 0, the bindings listed.
    assert_eq!(daemon.get(WEB).await.status, 200);
    let output = status(false).await;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(0), "{text}");
    for expected in [
        "as serve sees it",
        "web  ecs-full  arn:aws:iam::",
        "CN=p256-leaf",
        "days left",
        "refreshed 20",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    assert!(!text.contains("ATTENTION"), "{text}");

    // The query binding fails upstream.
    daemon.fake.fake.faults().fail_all(Fault::server_error(503));
    let failed = get_with_query(&daemon.target(), &daemon.token(QUERY)).await;
    assert_eq!(failed.status, 503, "{failed:?}");
    let output = status(false).await;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("ATTENTION: last fetch failed")
            && text.contains("503 ServiceUnavailableException"),
        "{text}"
    );

    let output = status(true).await;
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let binding = |name: &str| {
        report["bindings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {report}"))
            .clone()
    };
    assert!(binding(QUERY)["served"]["last_error"].is_string());
    assert!(binding(QUERY)["served"]["last_refresh"].is_null());
    assert!(binding(WEB)["served"]["last_error"].is_null());
    assert!(binding(WEB)["served"]["credentials_expiration"].is_string());
    assert!(binding(WEB)["certificate"]["days_left"].as_i64().unwrap() > 300);
    assert_eq!(binding(WEB)["attention"], serde_json::json!([]));
    let secret = daemon.token(WEB);
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains(&secret),
        "no token in the report"
    );

    // Without serve: the files alone, and still exit 0 for healthy files.
    let output = run(
        &[
            "status".to_owned(),
            "--status-socket".to_owned(),
            sockets.path().join("absent.sock").display().to_string(),
            "--configuration-directory".to_owned(),
            daemon.dir.path().display().to_string(),
        ],
        &[],
    )
    .await;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains("files only") && text.contains("CN=p256-leaf"),
        "{text}"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("serve is not running"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sockets_named_metrics_and_status_are_not_credential_listeners() {
    let dir = tempfile::tempdir().unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let status_path = sockets.path().join("status.sock");
    let (ecs, metrics) = (free_port(), free_port());
    let mut serve = Serve::start_with(ServeOptions {
        dir: dir.path().to_owned(),
        sockets: vec![
            (format!("127.0.0.1:{ecs}"), "ecs".into()),
            (format!("127.0.0.1:{metrics}"), "metrics".into()),
            (status_path.display().to_string(), "status".into()),
        ],
        ..ServeOptions::default()
    })
    .await;
    let metrics = Target::Tcp(([127, 0, 0, 1], metrics).into());
    let text = scrape(&metrics).await;
    assert_eq!(value(&text, "needroleshere_bindings_loaded"), 0.0);
    assert_eq!(
        get(&metrics, "/ecs/credentials", &[]).await.status,
        404,
        "no credentials on the metrics socket"
    );
    let status = Target::Unix(status_path.clone());
    assert_eq!(
        get(&status, "/status", &[]).await.json()["from_serve"],
        true
    );
    assert_eq!(get(&status, "/ecs/credentials", &[]).await.status, 404);
    let output = run(
        &[
            "status".into(),
            "--status-socket".into(),
            status_path.display().to_string(),
        ],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).contains("no bindings"));
    assert!(serve.terminate().await.success());

    // A TCP socket named status would be network exposure: refused.
    let port = free_port();
    let mut refused = Serve::spawn(ServeOptions {
        dir: dir.path().to_owned(),
        sockets: vec![(format!("127.0.0.1:{port}"), "status".into())],
        ..ServeOptions::default()
    });
    // systemd-socket-activate binds at once and starts serve at the first connection.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let _connection = loop {
        match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            Ok(stream) => break stream,
            Err(error) => {
                assert!(tokio::time::Instant::now() < deadline, "{error}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    while refused.is_running() {
        assert!(tokio::time::Instant::now() < deadline, "{}", refused.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        refused.log().contains("must be a Unix socket"),
        "{}",
        refused.log()
    );
}
