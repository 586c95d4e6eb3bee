//! TPM 2.0 keys end to end: a real software TPM (swtpm) per test, keys made in it by the
//! tpm2 OpenSSL provider and tpm2-tools, certificates issued from CSRs the TPM signed, and
//! the real binary getting credentials from the strict Roles Anywhere double (which
//! verifies the signature the TPM made against the certificate and the chain).
//!
//! Needs `swtpm`, `tpm2-tools` and `tpm2-openssl` (scripts/test.sh installs them).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::path::Path;
use std::process::Output;

use common::pki;
use common::swtpm::Swtpm;
use fake_aws::rolesanywhere::{
    Config, FakeRolesAnywhere, PROFILE_ARN, ROLE_ARN, Running, TRUST_ANCHOR_ARN,
};

async fn start_fake() -> (FakeRolesAnywhere, Running) {
    let fake = FakeRolesAnywhere::new(Config::from_pki_dir(pki()).unwrap());
    let running = fake
        .spawn_http("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    (fake, running)
}

fn args(command: &str, certificate: &Path, key: &str, endpoint: &str) -> Vec<String> {
    let mut args = vec![
        command.to_owned(),
        "--certificate".into(),
        certificate.display().to_string(),
        "--private-key".into(),
        key.to_owned(),
        "--trust-anchor-arn".into(),
        TRUST_ANCHOR_ARN.into(),
        "--profile-arn".into(),
        PROFILE_ARN.into(),
        "--role-arn".into(),
        ROLE_ARN.into(),
    ];
    if command == "credential-process" {
        args.extend(["--endpoint".into(), endpoint.to_owned()]);
    }
    args
}

/// The binary, reaching `tpm` through `TPM2TOOLS_TCTI` as tpm2-tools users configure it.
async fn run(tpm: &Swtpm, args: &[String], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_needroleshere"));
    command.args(args);
    for name in common::daemon::SCRUBBED {
        command.env_remove(name);
    }
    command.env("TPM2TOOLS_TCTI", tpm.tcti());
    // A cold shared credential cache for every run of credential-process: each is to sign.
    command.env("XDG_RUNTIME_DIR", common::fresh_runtime_dir());
    command.env_remove("XDG_CACHE_HOME");
    command.envs(env.iter().copied());
    command.output().await.unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Credentials on stdout, and they are the session the double issued after verifying the
/// TPM's signature.
fn assert_credentials(output: &Output, fake: &FakeRolesAnywhere, what: &str) {
    assert!(output.status.success(), "{what}: {}", stderr(output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{what}: stdout is not JSON ({e})"));
    let session = fake.sessions().pop().expect("the double issued a session");
    assert_eq!(
        json["AccessKeyId"],
        session.access_key_id.as_str(),
        "{what}"
    );
    assert_eq!(session.role_arn, ROLE_ARN, "{what}");
}

/// A failure: non-zero exit, nothing on stdout, one error line naming the problem.
fn assert_failure(output: &Output, expected: &[&str], what: &str) {
    let text = stderr(output);
    assert!(!output.status.success(), "{what}: should fail");
    assert!(
        output.stdout.is_empty(),
        "{what}: stdout {:?}",
        output.stdout
    );
    assert!(!text.contains("panicked"), "{what}: {text}");
    let error_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("needroleshere:") || l.starts_with("error:"))
        .collect();
    assert_eq!(error_lines.len(), 1, "{what}: {text}");
    for word in expected {
        assert!(
            error_lines[0].contains(word),
            "{what}: expected {word:?} in {text}"
        );
    }
}

#[tokio::test]
async fn key_files_of_every_kind_get_working_credentials() {
    let tpm = Swtpm::start();
    let (fake, running) = start_fake().await;
    let endpoint = running.url();
    let kinds: &[(&str, &str, &[&str])] = &[
        ("rsa2048", "RSA", &["bits:2048"]),
        ("p256", "EC", &["group:P-256"]),
        ("p384", "EC", &["group:P-384"]),
    ];
    for (name, algorithm, options) in kinds {
        for password in [None, Some("tpm key pass")] {
            let what = format!("{name} password {}", password.is_some());
            let file = format!("{name}-{}.tss2.pem", password.is_some());
            let key = tpm.provider_key(&file, algorithm, options, password);
            let pem = std::fs::read_to_string(&key).unwrap();
            assert!(pem.starts_with("-----BEGIN TSS2 PRIVATE KEY-----"), "{pem}");
            let cn = format!("tpm-{name}-{}", password.is_some());
            let certificate = tpm.certificate(&file, password, &cn);
            let args = args(
                "credential-process",
                &certificate,
                &key.display().to_string(),
                &endpoint,
            );
            let env: Vec<(&str, &str)> = password
                .map(|p| ("NEEDROLESHERE_TPM_KEY_PASSWORD", p))
                .into_iter()
                .collect();
            let output = run(&tpm, &args, &env).await;
            assert_credentials(&output, &fake, &what);
            assert!(!stderr(&output).contains("tpm key pass"), "{what}");
            // Every object loaded for the signature was flushed (swtpm has no resource
            // manager: a leaked handle would still be there).
            assert_eq!(tpm.transient_handles(), "", "{what}: leaked a TPM object");
        }
    }
    // `check` tells where the key is and that it never leaves the TPM.
    let certificate = tpm.dir().join("tpm-p256-false.chain.pem");
    let key = tpm.dir().join("p256-false.tss2.pem").display().to_string();
    let output = run(&tpm, &args("check", &certificate, &key, &endpoint), &[]).await;
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    assert!(text.contains("ECDSA P-256"), "{text}");
    assert!(text.contains("fixedTPM (never leaves this TPM)"), "{text}");
    assert!(text.contains("matches the certificate"), "{text}");
    assert!(fake.rejections().is_empty(), "{:?}", fake.rejections());
}

#[tokio::test]
async fn persistent_keys_and_persistent_parents() {
    let tpm = Swtpm::start();
    let (fake, running) = start_fake().await;
    let endpoint = running.url();
    // A signing key made by tpm2-tools and made persistent at 0x81000010. Without a
    // resource manager, each tool leaves its objects loaded: flush them between steps.
    tpm.run(
        "tpm2_createprimary",
        &["-C", "o", "-G", "ecc256", "-c", "primary.ctx"],
    );
    tpm.run("tpm2_flushcontext", &["-t"]);
    tpm.run(
        "tpm2_create",
        &[
            "-C",
            "primary.ctx",
            "-G",
            "rsa2048",
            "-u",
            "key.pub",
            "-r",
            "key.priv",
        ],
    );
    tpm.run("tpm2_flushcontext", &["-t"]);
    tpm.run(
        "tpm2_load",
        &[
            "-C",
            "primary.ctx",
            "-u",
            "key.pub",
            "-r",
            "key.priv",
            "-c",
            "key.ctx",
        ],
    );
    tpm.run(
        "tpm2_evictcontrol",
        &["-C", "o", "-c", "key.ctx", "0x81000010"],
    );
    tpm.run("tpm2_flushcontext", &["-t"]);
    let certificate = tpm.certificate("handle:0x81000010", None, "tpm-persistent");
    let output = run(
        &tpm,
        &args(
            "credential-process",
            &certificate,
            "handle:0x81000010",
            &endpoint,
        ),
        &[],
    )
    .await;
    assert_credentials(&output, &fake, "handle:0x81000010");
    assert_eq!(tpm.transient_handles(), "", "persistent key: leaked");

    // A key file whose parent is a persistent storage key rather than the owner hierarchy.
    tpm.run(
        "tpm2_evictcontrol",
        &["-C", "o", "-c", "primary.ctx", "0x81000001"],
    );
    tpm.run("tpm2_flushcontext", &["-t"]);
    let key = tpm.provider_key(
        "child.tss2.pem",
        "EC",
        &["group:P-256", "parent:0x81000001"],
        None,
    );
    let certificate = tpm.certificate("child.tss2.pem", None, "tpm-child");
    let output = run(
        &tpm,
        &args(
            "credential-process",
            &certificate,
            &key.display().to_string(),
            &endpoint,
        ),
        &[],
    )
    .await;
    assert_credentials(&output, &fake, "key under 0x81000001");
    assert_eq!(tpm.transient_handles(), "", "persistent parent: leaked");

    // An empty slot is named.
    let output = run(
        &tpm,
        &args(
            "credential-process",
            &certificate,
            "handle:0x81000099",
            &endpoint,
        ),
        &[],
    )
    .await;
    assert_failure(
        &output,
        &["handle:0x81000099", "no persistent object"],
        "empty slot",
    );
}

#[tokio::test]
async fn wrong_or_missing_password_is_one_clear_line() {
    let tpm = Swtpm::start();
    let (fake, running) = start_fake().await;
    let endpoint = running.url();
    let key = tpm.provider_key("pw.tss2.pem", "EC", &["group:P-256"], Some("right one"));
    let certificate = tpm.certificate("pw.tss2.pem", Some("right one"), "tpm-pw");
    let args = args(
        "credential-process",
        &certificate,
        &key.display().to_string(),
        &endpoint,
    );
    let output = run(
        &tpm,
        &args,
        &[("NEEDROLESHERE_TPM_KEY_PASSWORD", "wrong one")],
    )
    .await;
    assert_failure(
        &output,
        &["pw.tss2.pem", "refused the key's password"],
        "wrong",
    );
    assert!(
        !stderr(&output).contains("wrong one"),
        "{}",
        stderr(&output)
    );
    // No password at all for a key that has one: the TPM refuses the empty one.
    let output = run(&tpm, &args, &[]).await;
    assert_failure(&output, &["refused the key's password"], "missing");
    assert_eq!(tpm.transient_handles(), "", "leaked after a refusal");
    assert!(fake.sessions().is_empty());
}

#[tokio::test]
async fn a_stopped_tpm_is_reported_as_unreachable() {
    let mut tpm = Swtpm::start();
    let (_fake, running) = start_fake().await;
    let endpoint = running.url();
    let key = tpm.provider_key("k.tss2.pem", "EC", &["group:P-256"], None);
    let certificate = tpm.certificate("k.tss2.pem", None, "tpm-stopped");
    let tcti = tpm.tcti();
    tpm.stop();
    let output = run(
        &tpm,
        &args(
            "credential-process",
            &certificate,
            &key.display().to_string(),
            &endpoint,
        ),
        &[],
    )
    .await;
    assert_failure(
        &output,
        &["k.tss2.pem", "cannot reach the TPM", &tcti],
        "stopped",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_and_sign_string_use_a_tpm_key_with_its_password_as_a_credential() {
    use common::daemon::{self, Fake, Serve, ServeOptions};
    let tpm = Swtpm::start();
    let fake = Fake::start().await;
    let password = "sealed in a credential";
    let key = tpm.provider_key("served.tss2.pem", "EC", &["group:P-384"], Some(password));
    let certificate = tpm.certificate("served.tss2.pem", Some(password), "tpm-served");
    let dir = tempfile::tempdir().unwrap();
    let credentials = tempfile::tempdir().unwrap();
    std::fs::write(credentials.path().join("tpm-key"), password).unwrap();
    let mut serve = Serve::start_with(ServeOptions {
        dir: dir.path().to_owned(),
        sockets: vec![(format!("127.0.0.1:{}", daemon::free_port()), "ecs".into())],
        env: vec![
            ("TPM2TOOLS_TCTI".into(), tpm.tcti()),
            ("TSS2_LOG".into(), "all+none".into()),
            (
                "CREDENTIALS_DIRECTORY".into(),
                credentials.path().display().to_string(),
            ),
        ],
        ..ServeOptions::default()
    })
    .await;
    let mut args = daemon::identity_args_from(&certificate, &key, ROLE_ARN);
    args.extend(daemon::mode_args("ecs-full", &serve.url()));
    args.extend(["--endpoint".into(), fake.url()]);
    args.extend([
        "--tpm-key-password-source".into(),
        "credential:tpm-key".into(),
        "--no-validate".into(),
    ]);
    // A password by value is refused: a binding never stores one.
    let mut by_value = args.clone();
    by_value.retain(|a| a != "--tpm-key-password-source" && a != "credential:tpm-key");
    by_value.extend(["--tpm-key-password".into(), password.into()]);
    let output = daemon::bind(dir.path(), "web", &by_value).await;
    daemon::assert_failure(&output, &["never stores the TPM key password"], "by value");
    daemon::bind_ok(dir.path(), "web", &args).await;
    let binding = std::fs::read_to_string(dir.path().join("bindings/web.json")).unwrap();
    assert!(!binding.contains(password), "{binding}");

    let env = daemon::read_env(&daemon::env_file(dir.path(), "web"));
    let got = daemon::boto3_credentials(&env, None).await;
    let session = fake.session(&got.access_key);
    assert_eq!(
        got.secret_key, session.secret_access_key,
        "boto3 through serve"
    );
    assert!(!serve.log().contains(password), "no password in the log");
    serve.terminate().await;

    // sign-string with the TPM key, SHA-384: openssl verifies it over the fixed string.
    let output = tpm
        .command(env!("CARGO_BIN_EXE_needroleshere"))
        .args(["sign-string", "--private-key"])
        .arg(&key)
        .args([
            "--tpm-key-password",
            password,
            "--digest",
            "SHA384",
            "--format",
            "bin",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let public = tpm.dir().join("served.pub.pem");
    let spki = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-pubkey", "-in"])
        .arg(&certificate)
        .output()
        .unwrap();
    std::fs::write(&public, &spki.stdout).unwrap();
    let der = std::process::Command::new("openssl")
        .args(["pkey", "-pubin", "-outform", "DER", "-in"])
        .arg(&public)
        .output()
        .unwrap()
        .stdout;
    let point = &der[der.len() - 97..];
    let mut message = b"AWS Roles Anywhere Credential Helper Signing Test1".to_vec();
    use sha2::Digest as _;
    message.extend(
        sha2::Sha256::new()
            .chain_update(b"IAM RA")
            .chain_update(point)
            .finalize(),
    );
    std::fs::write(tpm.dir().join("message"), &message).unwrap();
    std::fs::write(tpm.dir().join("signature"), &output.stdout).unwrap();
    let verify = std::process::Command::new("openssl")
        .args(["dgst", "-sha384", "-verify"])
        .arg(&public)
        .arg("-signature")
        .arg(tpm.dir().join("signature"))
        .arg(tpm.dir().join("message"))
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}
