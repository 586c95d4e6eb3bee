//! `needroleshere credential-process` end to end: the real binary, over real sockets,
//! against the strict IAM Roles Anywhere double (which verifies the signature, the chain,
//! the serial and the clock), over plain HTTP and over HTTPS through a CONNECT proxy.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::net::SocketAddr;
use std::process::Output;

use common::{PKCS8_PASSWORD, pki, pki_file};
use fake_aws::proxy::ConnectProxy;
use fake_aws::rolesanywhere::{
    Config, FORBIDDEN_ROLE_ARN, FakeRolesAnywhere, OTHER_ROLE_ARN, PROFILE_ARN, ROLE_ARN, Running,
    TRUST_ANCHOR_ARN,
};

async fn start_fake() -> (FakeRolesAnywhere, Running) {
    let fake = FakeRolesAnywhere::new(Config::from_pki_dir(pki()).unwrap());
    let running = fake
        .spawn_http("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    (fake, running)
}

fn role_args(cert: &str, key: &str) -> Vec<String> {
    vec![
        "credential-process".into(),
        "--certificate".into(),
        pki_file(cert).display().to_string(),
        "--private-key".into(),
        pki_file(key).display().to_string(),
        "--trust-anchor-arn".into(),
        TRUST_ANCHOR_ARN.into(),
        "--profile-arn".into(),
        PROFILE_ARN.into(),
        "--role-arn".into(),
        ROLE_ARN.into(),
    ]
}

async fn run(args: &[String], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_needroleshere"));
    command.args(args);
    for name in common::daemon::SCRUBBED {
        command.env_remove(name);
    }
    // A cold shared cache for every run: each is to call the double (the cache has its own
    // tests, tests/credential_process_cache.rs).
    command.env("XDG_RUNTIME_DIR", common::fresh_runtime_dir());
    command.env_remove("XDG_CACHE_HOME");
    command.envs(env.iter().copied());
    command.output().await.unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Checks the stdout JSON against the session the double issued last, and returns it.
fn assert_credentials(output: &Output, fake: &FakeRolesAnywhere, what: &str) -> serde_json::Value {
    assert!(output.status.success(), "{what}: {}", stderr(output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{what}: stdout is not JSON ({e})"));
    let session = fake.sessions().pop().expect("the double issued a session");
    assert_eq!(json["Version"], 1, "{what}");
    assert_eq!(
        json["AccessKeyId"],
        session.access_key_id.as_str(),
        "{what}"
    );
    assert_eq!(
        json["SecretAccessKey"],
        session.secret_access_key.as_str(),
        "{what}"
    );
    assert_eq!(
        json["SessionToken"],
        session.session_token.as_str(),
        "{what}"
    );
    let expiration = needroleshere::credentials::format_rfc3339(session.expiration);
    assert_eq!(json["Expiration"], expiration.as_str(), "{what}");
    assert_eq!(json.as_object().unwrap().len(), 5, "{what}: {json}");
    json
}

/// Checks a failure: non-zero exit, one line on stderr naming the problem, no panic.
fn assert_failure(output: &Output, expected: &[&str], what: &str) {
    let text = stderr(output);
    assert!(!output.status.success(), "{what}: should fail");
    assert!(
        output.stdout.is_empty(),
        "{what}: stdout {:?}",
        output.stdout
    );
    assert!(
        !text.contains("panicked") && !text.contains("stack backtrace"),
        "{what}: {text}"
    );
    let error_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("needroleshere:") || l.starts_with("error:"))
        .collect();
    assert_eq!(error_lines.len(), 1, "{what}: {text}");
    for word in expected {
        assert!(text.contains(word), "{what}: expected {word:?} in {text}");
    }
}

#[tokio::test]
async fn every_key_type_and_format_gets_working_credentials() {
    let (fake, running) = start_fake().await;
    let endpoint = running.url();
    let cases: &[(&str, &[&str])] = &[
        ("rsa2048", &["pkcs1", "pkcs8", "pkcs8-encrypted"]),
        ("rsa4096", &["pkcs1", "pkcs8"]),
        ("p256", &["sec1", "sec1-params", "pkcs8", "pkcs8-encrypted"]),
        ("p384", &["sec1", "sec1-params", "pkcs8", "pkcs8-encrypted"]),
    ];
    for (kind, formats) in cases {
        for format in *formats {
            let key = format!("{kind}.{format}.key");
            // The chain either inside the certificate file, or through --intermediates.
            let mut full = role_args(&format!("{kind}.fullchain.pem"), &key);
            let mut split = role_args(&format!("{kind}.cert.pem"), &key);
            split.extend([
                "--intermediates".into(),
                pki_file("intermediate-ca.pem").display().to_string(),
            ]);
            for args in [&mut full, &mut split] {
                args.extend(["--endpoint".into(), endpoint.clone()]);
                if format.contains("encrypted") {
                    args.extend(["--pkcs8-password".into(), PKCS8_PASSWORD.into()]);
                }
                let what = format!("{kind} {format} {}", args[2]);
                let output = run(args, &[]).await;
                assert_credentials(&output, &fake, &what);
                let session = fake.sessions().pop().unwrap();
                assert_eq!(
                    session.chain_der.len(),
                    1,
                    "{what}: the intermediate is sent"
                );
                assert_eq!(session.role_arn, ROLE_ARN);
            }
        }
    }
    assert!(fake.rejections().is_empty(), "{:?}", fake.rejections());
}

#[tokio::test]
async fn duration_session_name_and_password_from_the_environment_reach_the_service() {
    let (fake, running) = start_fake().await;
    let mut args = role_args("p384.cert.pem", "p384.pkcs8-encrypted.key");
    args[10] = OTHER_ROLE_ARN.into();
    args.extend(
        [
            "--intermediates",
            &pki_file("intermediate-ca.pem").display().to_string(),
            "--session-duration",
            "900",
            "--role-session-name",
            "build-7",
        ]
        .map(String::from),
    );
    let endpoint = running.url();
    let output = run(
        &args,
        &[
            ("AWS_ENDPOINT_URL_ROLESANYWHERE", endpoint.as_str()),
            ("NEEDROLESHERE_PKCS8_PASSWORD", PKCS8_PASSWORD),
        ],
    )
    .await;
    assert_credentials(&output, &fake, "environment endpoint");
    let session = fake.sessions().pop().unwrap();
    assert_eq!(session.duration_seconds, 900);
    assert_eq!(session.role_session_name, "build-7");
    assert_eq!(session.role_arn, OTHER_ROLE_ARN);
}

/// HTTPS to the real host name, reached through an HTTP CONNECT proxy that hands every tunnel
/// to the local double, whose TLS certificate is issued by a CA given as the bundle.
async fn https_setup() -> (FakeRolesAnywhere, Running, ConnectProxy) {
    let fake = FakeRolesAnywhere::new(Config::from_pki_dir(pki()).unwrap());
    let running = fake
        .spawn_https(
            "127.0.0.1:0".parse().unwrap(),
            &pki_file("tls-server.pem"),
            &pki_file("tls-server.key"),
        )
        .await
        .unwrap();
    let proxy = ConnectProxy::spawn(running.addr).await.unwrap();
    (fake, running, proxy)
}

#[tokio::test]
async fn real_host_name_over_https_proxy_with_ca_bundle() {
    let (fake, _running, proxy) = https_setup().await;
    let proxy_url = proxy.url();
    let ca = pki_file("tls-ca.pem").display().to_string();

    let mut args = role_args("rsa2048.fullchain.pem", "rsa2048.pkcs1.key");
    args.extend(["--ca-bundle".into(), ca.clone(), "--with-proxy".into()]);
    let output = run(&args, &[("HTTPS_PROXY", proxy_url.as_str())]).await;
    assert_credentials(&output, &fake, "--ca-bundle");

    // The same with AWS_CA_BUNDLE and the lowercase proxy variable.
    let args = role_args("p256.fullchain.pem", "p256.sec1.key");
    let output = run(
        &args,
        &[
            ("https_proxy", proxy_url.as_str()),
            ("AWS_CA_BUNDLE", ca.as_str()),
        ],
    )
    .await;
    assert_credentials(&output, &fake, "AWS_CA_BUNDLE");

    assert_eq!(
        proxy.targets(),
        vec!["rolesanywhere.us-east-1.amazonaws.com:443"; 2],
        "the client must tunnel to the regional host name"
    );
}

#[tokio::test]
async fn untrusted_tls_certificate_fails_unless_verification_is_off() {
    let (fake, _running, proxy) = https_setup().await;
    let proxy_url = proxy.url();
    let args = role_args("p256.fullchain.pem", "p256.sec1.key");
    let output = run(&args, &[("HTTPS_PROXY", proxy_url.as_str())]).await;
    assert_failure(
        &output,
        &[
            "cannot reach IAM Roles Anywhere at https://rolesanywhere.us-east-1.amazonaws.com/sessions",
            "certificate",
        ],
        "unknown CA",
    );
    assert!(fake.sessions().is_empty());

    let mut args = args;
    args.push("--no-verify-ssl".into());
    let output = run(&args, &[("HTTPS_PROXY", proxy_url.as_str())]).await;
    assert_credentials(&output, &fake, "--no-verify-ssl");
    assert!(
        stderr(&output).contains("TLS certificate verification is OFF"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn no_proxy_bypasses_the_proxy() {
    let (fake, running) = start_fake().await;
    let proxy = ConnectProxy::spawn(running.addr).await.unwrap();
    let mut args = role_args("p256.fullchain.pem", "p256.sec1.key");
    args.extend(["--endpoint".into(), running.url()]);
    let proxy_url = proxy.url();
    let output = run(
        &args,
        &[
            ("HTTP_PROXY", proxy_url.as_str()),
            ("NO_PROXY", "127.0.0.1,localhost"),
        ],
    )
    .await;
    assert_credentials(&output, &fake, "NO_PROXY");
    assert!(proxy.targets().is_empty() && proxy.refused().is_empty());
}

#[tokio::test]
async fn local_problems_fail_before_any_request() {
    let (fake, running) = start_fake().await;
    let endpoint = running.url();
    let with_endpoint = |mut args: Vec<String>| {
        args.extend(["--endpoint".into(), endpoint.clone()]);
        args
    };

    let output = run(
        &with_endpoint(role_args("p256.fullchain.pem", "rsa2048.pkcs1.key")),
        &[],
    )
    .await;
    assert_failure(
        &output,
        &["rsa2048.pkcs1.key", "matches none of the certificates"],
        "mismatched key",
    );

    let output = run(
        &with_endpoint(role_args("expired.cert.pem", "expired.key")),
        &[],
    )
    .await;
    assert_failure(
        &output,
        &["expired at 2021-01-01", "expired.cert.pem"],
        "expired",
    );

    let output = run(
        &with_endpoint(role_args("not-yet-valid.cert.pem", "not-yet-valid.key")),
        &[],
    )
    .await;
    assert_failure(&output, &["not valid before 2099-01-01"], "not yet valid");

    let output = run(
        &with_endpoint(role_args("missing.pem", "p256.sec1.key")),
        &[],
    )
    .await;
    assert_failure(
        &output,
        &["cannot read", "missing.pem"],
        "missing certificate",
    );

    let output = run(&with_endpoint(role_args("p521.cert.pem", "p521.key")), &[]).await;
    assert_failure(&output, &["P-521", "not supported"], "unsupported key");

    let output = run(
        &with_endpoint(role_args("p256.cert.pem", "p256.pkcs8-encrypted.key")),
        &[],
    )
    .await;
    assert_failure(&output, &["encrypted", "--pkcs8-password"], "no password");

    let mut args = role_args("p256.fullchain.pem", "p256.sec1.key");
    args[6] = "arn:aws:rolesanywhere:us-east-1:123456789012:profile/x".into();
    let output = run(&args, &[]).await;
    assert_failure(
        &output,
        &["--trust-anchor-arn", "expected trust-anchor/"],
        "malformed ARN",
    );
    assert_eq!(output.status.code(), Some(2), "usage errors exit 2");

    let mut args = role_args("p256.fullchain.pem", "p256.sec1.key");
    args.extend(["--session-duration".into(), "43201".into()]);
    let output = run(&args, &[]).await;
    assert_failure(&output, &["43201", "900 to 43200"], "duration out of range");

    assert_eq!(fake.request_count(), 0, "nothing may reach the service");
}

#[tokio::test]
async fn service_refusals_are_reported_with_type_and_message() {
    let (fake, running) = start_fake().await;
    let mut args = role_args("p256.fullchain.pem", "p256.sec1.key");
    args[10] = FORBIDDEN_ROLE_ARN.into();
    args.extend(["--endpoint".into(), running.url()]);
    let output = run(&args, &[]).await;
    assert_failure(
        &output,
        &["403 AccessDeniedException", FORBIDDEN_ROLE_ARN],
        "role not in profile",
    );

    let mut args = role_args("untrusted.cert.pem", "untrusted.key");
    args.extend(["--endpoint".into(), running.url()]);
    let output = run(&args, &[]).await;
    assert_failure(&output, &["403 AccessDeniedException"], "untrusted issuer");
    // Refusals are final: one request each, no retries.
    assert_eq!(fake.request_count(), 2);
}

#[tokio::test]
async fn unreachable_endpoint_is_named_after_retries() {
    // A port that was just free: connections are refused.
    let addr: SocketAddr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let mut args = role_args("p256.fullchain.pem", "p256.sec1.key");
    let endpoint = format!("http://{addr}");
    args.extend(["--endpoint".into(), endpoint.clone()]);
    let output = run(&args, &[]).await;
    assert_failure(
        &output,
        &[
            &format!("cannot reach IAM Roles Anywhere at {endpoint}/sessions"),
            "no credentials for role",
        ],
        "refused connection",
    );
    assert_eq!(
        stderr(&output).matches("retrying").count(),
        3,
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn debug_output_shows_the_signing_but_no_secret() {
    let (fake, running) = start_fake().await;
    let mut args = role_args("rsa2048.fullchain.pem", "rsa2048.pkcs8-encrypted.key");
    args.extend([
        "--endpoint".into(),
        running.url(),
        "--debug".into(),
        "--pkcs8-password".into(),
        PKCS8_PASSWORD.into(),
    ]);
    let output = run(&args, &[]).await;
    assert_credentials(&output, &fake, "--debug");
    let log = stderr(&output);
    assert!(
        log.contains("canonical_request") && log.contains("AWS4-X509-RSA-SHA256"),
        "{log}"
    );
    let session = fake.sessions().pop().unwrap();
    for secret in [
        session.secret_access_key.as_str(),
        session.session_token.as_str(),
        PKCS8_PASSWORD,
    ] {
        assert!(!log.contains(secret), "secret in the debug log: {log}");
    }
}

#[tokio::test]
async fn endpoint_with_a_path_prefix() {
    let fake =
        FakeRolesAnywhere::with_path_prefix(Config::from_pki_dir(pki()).unwrap(), "/gateway/ra");
    let running = fake
        .spawn_http("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut args = role_args("p256.fullchain.pem", "p256.sec1.key");
    args.extend([
        "--endpoint".into(),
        format!("{}/gateway/ra/", running.url()),
    ]);
    let output = run(&args, &[]).await;
    assert_credentials(&output, &fake, "path prefix");
}
