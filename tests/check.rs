//! `needroleshere check` and `read-certificate-data` through the real binary: each kind of
//! problem is named in plain words and fails the command; a good identity passes, also
//! against the strict IAM Roles Anywhere double with --remote.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::process::Output;

use common::{pki, pki_file};
use fake_aws::rolesanywhere::{
    Config, FORBIDDEN_ROLE_ARN, FakeRolesAnywhere, PROFILE_ARN, ROLE_ARN, TRUST_ANCHOR_ARN,
};

fn identity(cert: &str, key: &str) -> Vec<String> {
    [
        "check",
        "--certificate",
        &pki_file(cert).display().to_string(),
        "--private-key",
        &pki_file(key).display().to_string(),
        "--trust-anchor-arn",
        TRUST_ANCHOR_ARN,
        "--profile-arn",
        PROFILE_ARN,
        "--role-arn",
        ROLE_ARN,
    ]
    .map(String::from)
    .to_vec()
}

async fn run(args: &[String]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_needroleshere"))
        .args(args)
        .env_remove("RUST_LOG")
        .env("HTTPS_PROXY", "http://127.0.0.1:9") // never reach real AWS by mistake
        .output()
        .await
        .unwrap()
}

fn report(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The report's line for `topic` with `severity`, which must exist.
fn line<'a>(report: &'a str, severity: &str, topic: &str) -> &'a str {
    report
        .lines()
        .find(|l| {
            let mut words = l.split_whitespace();
            words.next() == Some(severity) && words.next() == Some(topic)
        })
        .unwrap_or_else(|| panic!("no {severity} {topic} line in:\n{report}"))
}

#[tokio::test]
async fn a_good_identity_passes_with_days_left_and_the_chain_in_order() {
    let output = run(&identity("p384.fullchain.pem", "p384.pkcs8.key")).await;
    let text = report(&output);
    assert!(output.status.success(), "{text}");
    assert!(line(&text, "ok", "key").contains("ECDSA P-384"), "{text}");
    assert!(
        line(&text, "ok", "key").contains("AWS4-X509-ECDSA-SHA256"),
        "{text}"
    );
    assert!(
        line(&text, "ok", "validity").contains("days left"),
        "{text}"
    );
    assert!(line(&text, "ok", "chain").contains("in order"), "{text}");
    assert!(text.ends_with("result: 0 problems, 0 warnings\n"), "{text}");
}

#[tokio::test]
async fn an_expired_certificate_is_a_problem_in_plain_words() {
    let output = run(&identity("expired.cert.pem", "expired.key")).await;
    let text = report(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        line(&text, "PROBLEM", "validity").contains("expired on 2021-01-01T00:00:00Z"),
        "{text}"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("check found 1 problem"));
}

#[tokio::test]
async fn a_mismatched_key_is_a_problem_naming_both_files() {
    let output = run(&identity("p256.fullchain.pem", "rsa2048.pkcs1.key")).await;
    let text = report(&output);
    assert!(!output.status.success());
    let problem = line(&text, "PROBLEM", "key");
    assert!(
        problem.contains("rsa2048.pkcs1.key") && problem.contains("matches none"),
        "{text}"
    );
}

#[tokio::test]
async fn a_chain_out_of_order_says_which_certificate_issued_what() {
    let mut args = identity("p256.cert.pem", "p256.sec1.key");
    args.extend([
        "--intermediates".into(),
        pki_file("root-ca.pem").display().to_string(),
        "--intermediates".into(),
        pki_file("intermediate-ca.pem").display().to_string(),
    ]);
    let output = run(&args).await;
    let text = report(&output);
    assert!(!output.status.success());
    assert!(
        line(&text, "PROBLEM", "chain").contains("out of order"),
        "{text}"
    );
    // The untrusted leaf with the real intermediate: not issued by it at all.
    let mut args = identity("untrusted.cert.pem", "untrusted.key");
    args.extend([
        "--intermediates".into(),
        pki_file("intermediate-ca.pem").display().to_string(),
    ]);
    let text = report(&run(&args).await);
    assert!(
        line(&text, "PROBLEM", "chain").contains("was not issued by"),
        "{text}"
    );
}

#[tokio::test]
async fn remote_checks_call_create_session() {
    let fake = FakeRolesAnywhere::new(Config::from_pki_dir(pki()).unwrap());
    let running = fake
        .spawn_http("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut args = identity("rsa2048.fullchain.pem", "rsa2048.pkcs1.key");
    args.extend(["--remote".into(), "--endpoint".into(), running.url()]);
    let output = run(&args).await;
    let text = report(&output);
    assert!(output.status.success(), "{text}");
    assert!(line(&text, "ok", "remote").contains("succeeded"), "{text}");
    assert_eq!(fake.sessions().len(), 1);

    args[10] = FORBIDDEN_ROLE_ARN.into();
    let output = run(&args).await;
    let text = report(&output);
    assert!(!output.status.success());
    assert!(
        line(&text, "PROBLEM", "remote").contains("AccessDeniedException"),
        "{text}"
    );
}

/// A local check needs the files only; the ARNs are asked for when --remote needs them.
#[tokio::test]
async fn a_local_check_needs_no_arns_and_remote_names_the_missing_ones() {
    let local: Vec<String> = identity("p384.fullchain.pem", "p384.pkcs8.key")[..5].to_vec();
    assert_eq!(local[3], "--private-key");
    let output = run(&local).await;
    let text = report(&output);
    assert!(output.status.success(), "{text}");
    assert!(line(&text, "ok", "chain").contains("in order"), "{text}");

    let mut remote = local.clone();
    remote.extend(["--remote", "--role-arn", ROLE_ARN].map(String::from));
    let output = run(&remote).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "--remote calls CreateSession: give --trust-anchor-arn, --profile-arn and --role-arn: \
             missing --trust-anchor-arn <ARN>, --profile-arn <ARN>"
        ),
        "{stderr}"
    );

    // Without the key: a usage error naming it.
    let output = run(&local[..3]).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--private-key <PATH|URI>"), "{stderr}");
}

#[tokio::test]
async fn a_binding_is_checked_from_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut bind = identity("p256.fullchain.pem", "p256.sec1.key");
    bind[0] = "bind".into();
    bind.splice(1..1, ["web".to_owned()]);
    bind.extend(
        [
            "--no-validate",
            "--url",
            "http://127.0.0.1:7224",
            "--configuration-directory",
        ]
        .map(String::from),
    );
    bind.push(dir.path().display().to_string());
    assert!(run(&bind).await.status.success());
    let args = [
        "check",
        "web",
        "--configuration-directory",
        &dir.path().display().to_string(),
    ]
    .map(String::from);
    let output = run(&args).await;
    let text = report(&output);
    assert!(output.status.success(), "{text}");
    assert!(line(&text, "ok", "binding").contains(ROLE_ARN), "{text}");
    let args = [
        "check",
        "nope",
        "--configuration-directory",
        &dir.path().display().to_string(),
    ]
    .map(String::from);
    let text = report(&run(&args).await);
    assert!(
        line(&text, "PROBLEM", "binding").contains("does not exist"),
        "{text}"
    );
}

#[tokio::test]
async fn read_certificate_data_prints_the_official_helpers_fields() {
    let args = [
        "read-certificate-data",
        "--certificate",
        &pki_file("rsa2048.fullchain.pem").display().to_string(),
    ]
    .map(String::from);
    let output = run(&args).await;
    assert!(output.status.success());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["keyType"], "RSA");
    let serial = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(pki_file("rsa2048.cert.pem"))
        .output()
        .unwrap();
    let hex = String::from_utf8(serial.stdout).unwrap();
    let hex = hex.trim().trim_start_matches("serial=");
    assert_eq!(
        json["serialNumber"],
        u128::from_str_radix(hex, 16).unwrap().to_string()
    );
    assert_eq!(
        json["supportedAlgorithms"],
        serde_json::json!(["SHA256", "SHA384", "SHA512"])
    );
    assert!(json["certificateData"].as_str().unwrap().starts_with("MII"));
}
