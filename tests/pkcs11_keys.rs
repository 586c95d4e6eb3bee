//! Keys that never leave a PKCS#11 token, end to end: SoftHSM2 as the token (keys generated
//! inside it), reached through `--pkcs11-lib` and through p11-kit's proxy module; the real
//! binary in every command against the strict IAM Roles Anywhere double (which verifies each
//! signature with the certificate's public key); OpenSC's PKCS#11 spy to count logins; real
//! boto3 through `serve` with a token-backed binding.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::path::Path;

use common::daemon::{self, Fake, Serve, ServeOptions, assert_failure, assert_success};
use common::pki_file;
use common::softhsm::{KEYS, MODULE, PIN, PROXY, SPY, SoftHsm};
use fake_aws::rolesanywhere::{PROFILE_ARN, ROLE_ARN, TRUST_ANCHOR_ARN};

/// `credential-process` flags for the token key `object`, its certificate file and the
/// test PKI's intermediate.
fn identity(certificate: &str, key: &str, fake: &Fake) -> Vec<String> {
    vec![
        "--certificate".into(),
        certificate.into(),
        "--intermediates".into(),
        pki_file("intermediate-ca.pem").display().to_string(),
        "--private-key".into(),
        key.into(),
        "--trust-anchor-arn".into(),
        TRUST_ANCHOR_ARN.into(),
        "--profile-arn".into(),
        PROFILE_ARN.into(),
        "--role-arn".into(),
        ROLE_ARN.into(),
        "--endpoint".into(),
        fake.url(),
    ]
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// `serve` for the bindings in `dir` on a loopback ECS socket, with `env` added.
async fn serve_with(dir: &Path, env: Vec<(String, String)>) -> Serve {
    Serve::start_with(ServeOptions {
        dir: dir.to_owned(),
        sockets: vec![(format!("127.0.0.1:{}", daemon::free_port()), "ecs".into())],
        env,
        ..ServeOptions::default()
    })
    .await
}

/// The fake, a configuration directory, a systemd credentials directory holding the PIN as
/// `token-pin`, and `serve` for that directory with the token's environment.
async fn serve_token(hsm: &SoftHsm) -> (Fake, tempfile::TempDir, tempfile::TempDir, Serve) {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let credentials = tempfile::tempdir().unwrap();
    std::fs::write(credentials.path().join("token-pin"), PIN).unwrap();
    let (conf_name, conf_value) = hsm.env();
    let serve = serve_with(
        dir.path(),
        vec![
            (conf_name.into(), conf_value),
            ("CREDENTIALS_DIRECTORY".into(), path(credentials.path())),
        ],
    )
    .await;
    (fake, dir, credentials, serve)
}

/// Runs `needroleshere ARGS` with the token's environment.
async fn run(hsm: &SoftHsm, args: &[String], extra: &[(&str, &str)]) -> std::process::Output {
    let (name, value) = hsm.env();
    let mut env = vec![(name, value.as_str())];
    env.extend_from_slice(extra);
    daemon::run(args, &env).await
}

fn credential_process(args: Vec<String>) -> Vec<String> {
    std::iter::once("credential-process".to_owned())
        .chain(args)
        .collect()
}

/// Checks credential_process output against the session the fake issued for it.
fn assert_issued(output: &std::process::Output, fake: &Fake, what: &str) {
    assert_success(output, what);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let key = json["AccessKeyId"].as_str().expect("AccessKeyId");
    let session = fake.session(key);
    assert_eq!(
        json["SessionToken"],
        session.session_token.as_str(),
        "{what}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_key_kind_signs_from_the_token() {
    let hsm = SoftHsm::new("signing");
    let fake = Fake::start().await;
    for (label, _, _) in KEYS {
        let certificate = path(&hsm.certificate(label));
        let mut args = credential_process(identity(&certificate, &hsm.uri(label), &fake));
        args.extend(["--pkcs11-lib".into(), MODULE.into()]);
        args.extend(["--pkcs11-pin".into(), PIN.into()]);
        let output = run(&hsm, &args, &[]).await;
        assert_issued(&output, &fake, &format!("{label} through --pkcs11-lib"));
    }
    // p11-kit's proxy module, the default, finds SoftHSM2 through its registration; the PIN
    // comes from the environment this time.
    for (label, _, _) in KEYS {
        let certificate = path(&hsm.certificate(label));
        let args = credential_process(identity(&certificate, &hsm.uri(label), &fake));
        let output = run(&hsm, &args, &[("NEEDROLESHERE_PKCS11_PIN", PIN)]).await;
        assert_issued(&output, &fake, &format!("{label} through p11-kit's proxy"));
    }
    // The URI's module-path and pin-source=file: work without any flag.
    let pin_file = hsm.dir().join("pin");
    std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
    let uri = format!(
        "{};type=private?module-path={MODULE}&pin-source=file:{}",
        hsm.uri("p256"),
        pin_file.display()
    );
    let certificate = path(&hsm.certificate("p256"));
    let output = run(
        &hsm,
        &credential_process(identity(&certificate, &uri, &fake)),
        &[],
    )
    .await;
    assert_issued(&output, &fake, "module-path and pin-source in the URI");
    assert!(
        Path::new(PROXY).exists(),
        "p11-kit's proxy module is installed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn certificates_kept_in_the_token_work_like_files() {
    let hsm = SoftHsm::new("certificates");
    hsm.store_certificate("p384", "03");
    let fake = Fake::start().await;
    let certificate_uri = format!("{};type=cert", hsm.uri("p384"));
    let mut args = credential_process(identity(&certificate_uri, &hsm.uri("p384"), &fake));
    args.extend([
        "--pkcs11-lib".into(),
        MODULE.into(),
        "--pkcs11-pin".into(),
        PIN.into(),
    ]);
    let output = run(&hsm, &args, &[]).await;
    assert_issued(&output, &fake, "certificate and key in the token");

    // read-certificate-data prints the certificate the token holds, and lists the token.
    let args: Vec<String> = [
        "read-certificate-data",
        "--certificate",
        &certificate_uri,
        "--pkcs11-lib",
        MODULE,
        "--pkcs11-pin",
        PIN,
    ]
    .map(String::from)
    .to_vec();
    let output = run(&hsm, &args, &[]).await;
    assert_success(&output, "read-certificate-data");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let file = pem::parse(std::fs::read(hsm.certificate("p384")).unwrap()).unwrap();
    use base64::Engine as _;
    assert_eq!(
        json["certificateData"],
        base64::engine::general_purpose::STANDARD.encode(file.contents())
    );
    assert_eq!(json["keyType"], "EC");
    let listing = daemon::stderr(&output);
    for (label, _, id) in KEYS {
        assert!(
            listing.contains(&format!(
                "object={label};id=%{id};type=private (sensitive, never extractable)"
            )),
            "{label} is listed with its URI and attributes: {listing}"
        );
    }
    assert!(
        listing.contains("object=p384;id=%03;type=cert"),
        "{listing}"
    );

    // check says where the key is and what protects it.
    let mut args = vec!["check".to_owned()];
    args.extend(identity(&certificate_uri, &hsm.uri("p384"), &fake));
    args.extend([
        "--pkcs11-lib".into(),
        MODULE.into(),
        "--pkcs11-pin".into(),
        PIN.into(),
    ]);
    let output = run(&hsm, &args, &[]).await;
    assert_success(&output, "check");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        report.contains("ECDSA P-384 in pkcs11:token=certificates;")
            && report.contains("(sensitive, never extractable), matches the certificate"),
        "{report}"
    );
}

/// How many times the spy log shows `function`.
fn calls(log: &Path, function: &str) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains(function) && line.contains(" C_"))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_one_clear_line_and_a_wrong_pin_one_login() {
    let hsm = SoftHsm::new("faults");
    // A key the token must not sign with.
    hsm.generate_decrypt_only("decrypt-only", "09");
    let fake = Fake::start().await;
    let certificate = path(&hsm.certificate("p256"));
    let spy_log = hsm.dir().join("spy.log");
    let spy_env = [
        ("PKCS11SPY", MODULE),
        ("PKCS11SPY_OUTPUT", spy_log.to_str().unwrap()),
    ];

    let with = |key: &str, module: &str, pin: &str| {
        let mut args = credential_process(identity(&certificate, key, &fake));
        args.extend([
            "--pkcs11-lib".into(),
            module.into(),
            "--pkcs11-pin".into(),
            pin.into(),
        ]);
        args
    };
    // A wrong PIN: one login, then a clear error naming the token.
    let output = run(&hsm, &with(&hsm.uri("p256"), SPY, "0000"), &spy_env).await;
    assert_failure(
        &output,
        &[
            "token \"faults\"",
            "refused the PIN",
            "will not be tried again",
        ],
        "wrong PIN",
    );
    assert_eq!(calls(&spy_log, "C_Login"), 1, "exactly one login attempt");
    assert!(
        !daemon::stderr(&output).contains("0000"),
        "the PIN is not shown"
    );

    let cases: [(Vec<String>, &[&str], &str); 5] = [
        (
            with("pkcs11:token=faults;object=nope", MODULE, PIN),
            &[
                "no private key matches",
                "object=p256;id=%02;type=private",
                "object=rsa;id=%01;type=private",
            ],
            "a URI matching no key lists the keys there are",
        ),
        (
            with("pkcs11:token=faults;id=%02%02", MODULE, PIN),
            &["no private key matches"],
            "an id matching nothing",
        ),
        (
            with("pkcs11:token=faults", MODULE, PIN),
            &[
                "private keys match; name one with object= or id=",
                "object=p384;id=%03",
            ],
            "a URI matching several keys lists them",
        ),
        (
            with(&hsm.uri("p256"), "/nonexistent/libpkcs11.so", PIN),
            &["/nonexistent/libpkcs11.so", "no such PKCS#11 module"],
            "a missing module",
        ),
        (
            with(&hsm.uri("decrypt-only"), MODULE, PIN),
            &["may not sign", "CKA_SIGN"],
            "a key without the sign attribute",
        ),
    ];
    for (args, expected, what) in cases {
        let output = run(&hsm, &args, &[]).await;
        assert_failure(&output, expected, what);
    }
    let output = run(
        &hsm,
        &with("pkcs11:token=nosuch;object=p256", MODULE, PIN),
        &[],
    )
    .await;
    assert_failure(
        &output,
        &["no token matches", "token=faults"],
        "no such token",
    );
    let output = run(
        &hsm,
        &with("pkcs11:object=p256;colour=red", MODULE, PIN),
        &[],
    )
    .await;
    assert_failure(
        &output,
        &["unknown attribute \"colour\""],
        "a malformed URI",
    );
    assert!(
        fake.fake.sessions().is_empty(),
        "nothing reached the service"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_uses_a_token_binding_with_the_pin_as_a_systemd_credential() {
    let hsm = SoftHsm::new("served");
    let (fake, dir, credentials, mut serve) = serve_token(&hsm).await;
    let url = serve.url();

    let mut args = identity(&path(&hsm.certificate("rsa")), &hsm.uri("rsa"), &fake);
    args.extend(daemon::mode_args("ecs-full", &url));
    args.extend(["--pkcs11-lib".into(), MODULE.into()]);
    // A PIN by value is refused: a binding never stores one.
    let mut by_value = args.clone();
    by_value.extend(["--pkcs11-pin".into(), PIN.into()]);
    let output = daemon::bind(dir.path(), "web", &by_value).await;
    assert_failure(
        &output,
        &["never stores the PIN", "--pkcs11-pin-source"],
        "PIN by value",
    );
    assert!(!dir.path().join("bindings/web.json").exists());

    // bind validates with the same credential, read from its own CREDENTIALS_DIRECTORY.
    args.extend(["--pkcs11-pin-source".into(), "credential:token-pin".into()]);
    let mut command = daemon::command(
        &[
            vec!["bind".to_owned(), "web".to_owned()],
            vec!["--configuration-directory".into(), path(dir.path())],
            args,
        ]
        .concat(),
        &[
            (hsm.env().0, hsm.env().1.as_str()),
            (
                "CREDENTIALS_DIRECTORY",
                credentials.path().to_str().unwrap(),
            ),
        ],
    );
    let output = command.output().await.unwrap();
    assert_success(&output, "bind with a PIN source");
    let binding = std::fs::read_to_string(dir.path().join("bindings/web.json")).unwrap();
    assert!(
        binding.contains("\"pkcs11_pin_source\": \"credential:token-pin\""),
        "{binding}"
    );
    assert!(
        binding.contains("pkcs11:token=served;object=rsa"),
        "{binding}"
    );
    assert!(!binding.contains(PIN), "no PIN in the binding: {binding}");

    let env = daemon::read_env(&daemon::env_file(dir.path(), "web"));
    let got = daemon::boto3_credentials(&env, None).await;
    let session = fake.session(&got.access_key);
    assert_eq!(
        got.secret_key, session.secret_access_key,
        "boto3 got the session"
    );
    // The second request is served from the cache.
    let again = daemon::boto3_credentials(&env, None).await;
    assert_eq!(again.access_key, got.access_key);
    serve.terminate().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_never_retries_a_refused_pin() {
    let hsm = SoftHsm::new("locked");
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let credentials = tempfile::tempdir().unwrap();
    std::fs::write(credentials.path().join("token-pin"), PIN).unwrap();
    let (conf_name, conf_value) = hsm.env();
    let mut args = identity(&path(&hsm.certificate("p256")), &hsm.uri("p256"), &fake);
    args.extend(daemon::mode_args("ecs-full", "http://127.0.0.1:1/"));
    args.extend(["--pkcs11-lib".into(), SPY.into()]);
    args.extend(["--pkcs11-pin-source".into(), "credential:token-pin".into()]);
    args.push("--no-validate".into());
    daemon::bind_ok(dir.path(), "web", &args).await;
    // The daemon's credential holds a wrong PIN.
    std::fs::write(credentials.path().join("token-pin"), "0000").unwrap();
    let spy_log = hsm.dir().join("spy.log");
    let mut serve = serve_with(
        dir.path(),
        vec![
            (conf_name.into(), conf_value.clone()),
            ("CREDENTIALS_DIRECTORY".into(), path(credentials.path())),
            ("PKCS11SPY".into(), MODULE.into()),
            ("PKCS11SPY_OUTPUT".into(), path(&spy_log)),
        ],
    )
    .await;
    let token = daemon::token_of(dir.path(), "web");
    for attempt in 0..4 {
        let response = daemon::get_with_bearer(serve.target(), &token).await;
        let (code, _) = daemon::assert_error(&response, 500, &format!("attempt {attempt}"));
        assert_eq!(code, "IdentityUnavailable");
    }
    assert_eq!(calls(&spy_log, "C_Login"), 1, "one login in four requests");
    let log = serve.log();
    assert!(log.contains("refused the PIN"), "{log}");
    assert!(!log.contains("0000"), "the PIN is not logged");
    serve.terminate().await;
}

/// `p11-kit server` sharing the token over a Unix socket: what p11-kit's client module talks
/// to. Killing it is a token taken away from a running `serve`; starting it again brings the
/// token back.
struct TokenServer {
    child: tokio::process::Child,
    socket: std::path::PathBuf,
}

impl TokenServer {
    async fn start(hsm: &SoftHsm, socket: &Path) -> TokenServer {
        let _ = std::fs::remove_file(socket);
        let (name, value) = hsm.env();
        let child = tokio::process::Command::new("p11-kit")
            .args(["server", "--foreground", "--provider", MODULE, "--name"])
            .arg(socket)
            .arg(format!("pkcs11:token={}", hsm.label))
            .env(name, value)
            .stdout(std::process::Stdio::null())
            // It forks a process per connection: a group of its own lets the test take all
            // of them away at once.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("start p11-kit server");
        for _ in 0..100 {
            if socket.exists() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(socket.exists(), "p11-kit server made no socket");
        TokenServer {
            child,
            socket: socket.to_owned(),
        }
    }

    async fn stop(mut self) {
        let group = nix::unistd::Pid::from_raw(self.child.id().expect("running") as i32);
        nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL).unwrap();
        self.child.wait().await.unwrap();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// p11-kit's client module, which reaches a token through `p11-kit server`.
const CLIENT_MODULE: &str = "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so";

#[tokio::test(flavor = "multi_thread")]
async fn a_token_taken_away_from_serve_fails_softly_and_comes_back() {
    let hsm = SoftHsm::new("remote");
    let fake = Fake::start().await;
    let socket = hsm.dir().join("token.sock");
    let address = format!("unix:path={}", socket.display());
    let server = TokenServer::start(&hsm, &socket).await;
    let dir = tempfile::tempdir().unwrap();
    let credentials = tempfile::tempdir().unwrap();
    std::fs::write(credentials.path().join("token-pin"), PIN).unwrap();
    let mut serve = serve_with(
        dir.path(),
        vec![
            ("P11_KIT_SERVER_ADDRESS".into(), address.clone()),
            ("CREDENTIALS_DIRECTORY".into(), path(credentials.path())),
        ],
    )
    .await;
    let url = serve.url();
    // A copy of the certificate that can be touched without touching the token's own.
    let certificate = dir.path().join("p256.cert.pem");
    std::fs::copy(hsm.certificate("p256"), &certificate).unwrap();
    for name in ["web", "api"] {
        let mut args = identity(&path(&certificate), &hsm.uri("p256"), &fake);
        args.extend(daemon::mode_args("ecs-full", &url));
        args.extend(["--pkcs11-lib".into(), CLIENT_MODULE.into()]);
        args.extend(["--pkcs11-pin-source".into(), "credential:token-pin".into()]);
        args.extend([
            "--role-session-name".into(),
            name.into(),
            "--no-validate".into(),
        ]);
        daemon::bind_ok(dir.path(), name, &args).await;
    }
    let web = daemon::token_of(dir.path(), "web");
    let api = daemon::token_of(dir.path(), "api");
    let first = daemon::access_key_id(&daemon::get_with_bearer(serve.target(), &web).await);

    server.stop().await;
    // A binding never served before has nothing to fall back on: 503 with the documented
    // body, which says try again later.
    let response = daemon::get_with_bearer(serve.target(), &api).await;
    let (code, message) = daemon::assert_error(&response, 503, "token gone, nothing cached");
    assert_eq!(code, "KeyDeviceUnavailable");
    assert!(message.contains("try again later"), "{message}");
    // A renewed certificate file makes `web` fetch again, which fails: its last good
    // credentials, still valid, answer meanwhile.
    std::fs::write(
        &certificate,
        std::fs::read(hsm.certificate("p256")).unwrap(),
    )
    .unwrap();
    let response = daemon::get_with_bearer(serve.target(), &web).await;
    assert_eq!(
        daemon::access_key_id(&response),
        first,
        "last good credentials"
    );

    // The token is back: the next request signs again.
    let _server = TokenServer::start(&hsm, &socket).await;
    let mut recovered = None;
    for _ in 0..50 {
        let response = daemon::get_with_bearer(serve.target(), &api).await;
        if response.status == 200 {
            recovered = Some(response);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let response = recovered.unwrap_or_else(|| panic!("no recovery:\n{}", serve.log()));
    let key = daemon::access_key_id(&response);
    assert_ne!(key, first);
    fake.session(&key);
    serve.terminate().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn update_and_the_single_identity_server_sign_with_the_token() {
    let hsm = SoftHsm::new("other-commands");
    let fake = Fake::start().await;
    let certificate = path(&hsm.certificate("p384"));
    let device = [
        "--pkcs11-lib".to_owned(),
        MODULE.to_owned(),
        "--pkcs11-pin-source".to_owned(),
        "env:TOKEN_PIN".to_owned(),
    ];

    // update --once writes the credentials the token signed for.
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("credentials");
    let mut args = vec!["update".to_owned()];
    args.extend(identity(&certificate, &hsm.uri("p384"), &fake));
    args.extend(device.clone());
    args.extend(["--profile".into(), "work".into(), "--once".into()]);
    let output = run(
        &hsm,
        &args,
        &[
            ("AWS_SHARED_CREDENTIALS_FILE", file.to_str().unwrap()),
            ("TOKEN_PIN", PIN),
        ],
    )
    .await;
    assert_success(&output, "update --once");
    let written = std::fs::read_to_string(&file).unwrap();
    let session = fake.fake.sessions().pop().expect("a session");
    assert!(
        written.contains(&format!("aws_access_key_id = {}", session.access_key_id)),
        "{written}"
    );

    // serve with the identity flags: IMDSv2 for this one role.
    let dir = tempfile::tempdir().unwrap();
    let (conf_name, conf_value) = hsm.env();
    let (serve, ports) = common::imds::start_serve(1, |p| {
        let mut args = identity(&certificate, &hsm.uri("p384"), &fake);
        args.extend(device.clone());
        args.extend(["--port".into(), p[0].to_string()]);
        ServeOptions {
            dir: dir.path().to_owned(),
            args,
            env: vec![
                (conf_name.into(), conf_value.clone()),
                ("TOKEN_PIN".into(), PIN.into()),
            ],
            ..ServeOptions::default()
        }
    })
    .await;
    let addr = common::imds::loopback(ports[0]);
    let token = common::imds::put_token(addr, "60").await;
    let answer =
        common::imds::get_with_token(addr, &common::imds::credentials_path(), &token.body).await;
    assert_eq!(answer.status, 200, "{answer:?}\n{}", serve.log());
    fake.session(answer.json()["AccessKeyId"].as_str().unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_renewed_certificate_in_the_token_means_fresh_credentials() {
    let hsm = SoftHsm::new("renewed");
    hsm.store_certificate("p256", "02");
    let (fake, dir, _credentials, mut serve) = serve_token(&hsm).await;
    let certificate_uri = format!("{};type=cert", hsm.uri("p256"));
    let mut args = identity(&certificate_uri, &hsm.uri("p256"), &fake);
    args.extend(daemon::mode_args("ecs-full", &serve.url()));
    args.extend(["--pkcs11-lib".into(), MODULE.into()]);
    args.extend(["--pkcs11-pin-source".into(), "credential:token-pin".into()]);
    args.push("--no-validate".into());
    daemon::bind_ok(dir.path(), "web", &args).await;
    let token = daemon::token_of(dir.path(), "web");
    let first = daemon::access_key_id(&daemon::get_with_bearer(serve.target(), &token).await);
    let again = daemon::access_key_id(&daemon::get_with_bearer(serve.target(), &token).await);
    assert_eq!(again, first, "unchanged certificate: cached");

    // The token's certificate is renewed (same key, new serial).
    hsm.issue_certificate("p256");
    hsm.delete_certificate("p256");
    hsm.store_certificate("p256", "02");
    let renewed = daemon::access_key_id(&daemon::get_with_bearer(serve.target(), &token).await);
    assert_ne!(
        renewed, first,
        "a new certificate in the token fetches anew"
    );
    let serial = fake.session(&renewed).leaf_serial.clone();
    assert_ne!(
        serial,
        fake.session(&first).leaf_serial,
        "signed with the new one"
    );
    serve.terminate().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_that_want_the_pin_at_every_signature_need_reuse_pin() {
    let hsm = SoftHsm::new("always");
    hsm.generate("always", "rsa:2048", "0b", &["--always-auth"]);
    let certificate = path(&hsm.issue_certificate("always"));
    let fake = Fake::start().await;
    let mut args = credential_process(identity(&certificate, &hsm.uri("always"), &fake));
    args.extend([
        "--pkcs11-lib".into(),
        MODULE.into(),
        "--pkcs11-pin".into(),
        PIN.into(),
    ]);
    let output = run(&hsm, &args, &[]).await;
    assert_failure(
        &output,
        &["CKA_ALWAYS_AUTHENTICATE", "--reuse-pin"],
        "no prompt: the flag is needed",
    );
    args.push("--reuse-pin".into());
    let output = run(&hsm, &args, &[]).await;
    assert_issued(&output, &fake, "--reuse-pin logs in for the signature");
}
