//! The compatibility matrix: every real AWS SDK client of `tests/clients/` against every
//! needroleshere front, each client proving the credentials it got with STS
//! `GetCallerIdentity` against the strict STS double (see `tests/common/matrix.rs`).
//!
//! One test per front: it sets the front up (the fakes, `bind`, `serve`, a network namespace
//! where the front lives at a link-local address), runs every client against it one after
//! another, and records the column in the generated `COMPATIBILITY.md`. A test fails when a
//! supported cell fails, when a client does what its expectation says it cannot, or when the
//! column differs from the committed `COMPATIBILITY.md` (the new file is then in
//! `build/COMPATIBILITY.md`; `NEEDROLESHERE_UPDATE_MATRIX=1` writes `COMPATIBILITY.md`).
//!
//! Nothing is sent anywhere but loopback and the test's own network namespaces.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::daemon::{
    BIN, FakeAwsProcess, NetNs, Serve, ServeOptions, assert_success, bind_ok, env_file, free_port,
    identity_args, is_root, mode_args, read_env, run as run_needroleshere,
};
use common::imds::{connect_in, ip, run_in, start_serve};
use common::matrix::{
    Desktop, DeveloperProfiles, FakeAws, ForwardingProxy, Front, Setup, Verify, column,
    developer_arn, record, roles_anywhere_arn, session_name,
};

/// The binding every front uses.
const NAME: &str = "app";

/// The flags of a binding (or `credential-process`) that the fake at `endpoint` accepts, with
/// `front`'s own role session name.
fn identity(endpoint: &str, front: Front) -> Vec<String> {
    let mut args = identity_args("p256");
    args.extend([
        "--endpoint".to_owned(),
        endpoint.to_owned(),
        "--role-session-name".to_owned(),
        session_name(front),
    ]);
    args
}

/// `vars` plus the STS double at `sts_url` and, for fronts that are not IMDS, instance
/// metadata disabled and pointed at a closed loopback port: a client that falls through its
/// chain must not send anything to 169.254.169.254 outside a namespace of the test's own.
fn client_env(
    vars: BTreeMap<String, String>,
    sts_url: &str,
    imds: bool,
) -> BTreeMap<String, String> {
    let mut env = vars;
    env.insert("AWS_ENDPOINT_URL_STS".into(), sts_url.into());
    if !imds {
        env.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
        env.insert(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT".into(),
            "http://127.0.0.1:9".into(),
        );
    }
    env
}

/// Runs every client against `setup` and records the column.
async fn finish(front: Front, setup: &Setup, verify: Verify<'_>) {
    let outcomes = column(front, setup, &|| {}, verify).await;
    record(front, &outcomes);
}

/// The fake in a namespace logs every access key id it issues.
fn issued_by(fake: &FakeAwsProcess, access_key_id: &str) -> Result<(), String> {
    if fake.log().contains(access_key_id) {
        Ok(())
    } else {
        Err(format!(
            "access key id {access_key_id} was not issued by the fake in the namespace"
        ))
    }
}

/// True when network namespaces can be made; else says why the front is skipped.
fn can_use_namespaces(front: Front) -> bool {
    if is_root() {
        return true;
    }
    eprintln!(
        "SKIPPED {}: network namespaces need root (link-local addresses must not be used \
         outside a namespace of the test's own); COMPATIBILITY.md keeps its committed column",
        front.id()
    );
    false
}

// ------------------------------------------------------------------------------------------
// credential_process.

#[tokio::test(flavor = "multi_thread")]
async fn credential_process() {
    let fake = FakeAws::start().await;
    let mut command = vec![BIN.to_owned(), "credential-process".to_owned()];
    command.extend(identity(&fake.url(), Front::CredentialProcess));
    assert!(
        command.iter().all(|a| !a.contains([' ', '"', '\''])),
        "the command line must need no quoting: {command:?}"
    );
    let setup = Setup {
        env: client_env(
            [("AWS_PROFILE".to_owned(), "matrix".to_owned())].into(),
            &fake.url(),
            false,
        ),
        config: Some(format!(
            "[profile matrix]\nregion = us-east-1\ncredential_process = {}\n",
            command.join(" ")
        )),
        netns: None,
        expected_arn: roles_anywhere_arn(Front::CredentialProcess),
        https_proxy: fake.https_proxy(),
        wrapper: Vec::new(),
    };
    finish(Front::CredentialProcess, &setup, &|k| fake.issued(k)).await;
}

// ------------------------------------------------------------------------------------------
// ECS full URI, on loopback.

/// `serve` socket-activated on `host:PORT`, one binding in `mode` bound to it.
async fn full_uri(front: Front, host: &str, mode: &str, token_file: bool) {
    let fake = FakeAws::start().await;
    let dir = tempfile::tempdir().unwrap();
    let serve = if host == "127.0.0.1" {
        // Retries with another port should the free one be taken meanwhile.
        Serve::start(dir.path(), &[]).await
    } else {
        // A port free on 127.0.0.1 is as good as certain to be free on another loopback
        // address.
        Serve::start_with(ServeOptions {
            dir: dir.path().to_owned(),
            sockets: vec![(format!("{host}:{}", free_port()), "ecs".to_owned())],
            ..ServeOptions::default()
        })
        .await
    };
    let mut args = identity(&fake.url(), front);
    args.extend(mode_args(mode, &serve.url()));
    if token_file {
        args.push("--token-file".to_owned());
    }
    bind_ok(dir.path(), NAME, &args).await;
    let setup = Setup {
        env: client_env(consumer_env(dir.path(), token_file), &fake.url(), false),
        config: None,
        netns: None,
        expected_arn: roles_anywhere_arn(front),
        https_proxy: fake.https_proxy(),
        wrapper: Vec::new(),
    };
    finish(front, &setup, &|k| fake.issued(k)).await;
    assert_serve_clean(&serve);
}

/// What the consumer of binding NAME in `dir` has: its env file, and with a token file
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` naming it (the env file then holds only the URI;
/// a systemd consumer sets the variable to its `LoadCredential=` copy).
fn consumer_env(dir: &std::path::Path, token_file: bool) -> BTreeMap<String, String> {
    let mut env = read_env(&env_file(dir, NAME));
    if token_file {
        assert!(
            !env.keys()
                .any(|k| k.starts_with("AWS_CONTAINER_AUTHORIZATION_TOKEN")),
            "the env file of a token-file binding names no token: {env:?}"
        );
        env.insert(
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE".to_owned(),
            common::daemon::token_file(dir, NAME).display().to_string(),
        );
    }
    env
}

fn assert_serve_clean(serve: &Serve) {
    let log = serve.log();
    assert!(!log.contains("panicked"), "serve panicked:\n{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ecs_full() {
    full_uri(Front::EcsFull, "127.0.0.1", "ecs-full", false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ecs_full_token_file() {
    full_uri(Front::EcsFullTokenFile, "127.0.0.1", "ecs-full", true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ecs_full_query() {
    full_uri(Front::EcsFullQuery, "127.0.0.1", "ecs-full-query", false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ecs_full_127_0_0_2() {
    full_uri(Front::EcsFullOtherLoopback, "127.0.0.2", "ecs-full", false).await;
}

// ------------------------------------------------------------------------------------------
// Link-local fronts, inside a network namespace of the test's own.

/// In a new namespace: `needroleshere-fake-aws` on its 127.0.0.1, `bind NAME ARGS` run there
/// (it checks the binding against that fake), and serve (with `serve_args`) socket-activated
/// on `socket` (`ADDR:80`, fd name `fdname`), started by a first connection from inside.
async fn in_namespace(
    front: Front,
    extra_address: Option<&str>,
    bind_args: &[String],
    socket: (&str, &str),
    serve_args: &[&str],
) -> (NetNs, FakeAwsProcess, tempfile::TempDir, Serve) {
    let ns = NetNs::create();
    if let Some(address) = extra_address {
        ip(&["-n", &ns.name, "addr", "add", address, "dev", "lo"]);
    }
    let fake = FakeAwsProcess::start_with_https_proxy(&ns.name).await;
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "bind".to_owned(),
        NAME.to_owned(),
        "--configuration-directory".to_owned(),
        dir.path().display().to_string(),
    ];
    args.extend(identity(&fake.url, front));
    args.extend(bind_args.iter().cloned());
    let output = run_in(&ns.name, &args).await;
    assert_success(&output, &format!("bind in {}", ns.name));
    let mut serve = Serve::spawn(ServeOptions {
        dir: dir.path().to_owned(),
        sockets: vec![(format!("{}:80", socket.0), socket.1.to_owned())],
        netns: Some(ns.name.clone()),
        args: serve_args.iter().map(|s| s.to_string()).collect(),
        ..ServeOptions::default()
    });
    connect_in(&ns.name, socket.0, 80, Duration::from_millis(100)).await;
    serve.wait_for_notification("READY=1").await;
    (ns, fake, dir, serve)
}

async fn ecs_relative(front: Front, mode: &str, token_file: bool) {
    if !can_use_namespaces(front) {
        return;
    }
    let mut args = mode_args(mode, "");
    if token_file {
        args.push("--token-file".to_owned());
    }
    let (ns, fake, dir, serve) =
        in_namespace(front, None, &args, ("169.254.170.2", "ecs-relative"), &[]).await;
    let env = consumer_env(dir.path(), token_file);
    assert!(
        env.contains_key("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
        "{env:?}"
    );
    let setup = Setup {
        env: client_env(env, &fake.url, false),
        config: None,
        netns: Some(ns.name.clone()),
        expected_arn: roles_anywhere_arn(front),
        https_proxy: fake.https_proxy.clone().expect("the fake's HTTPS proxy"),
        wrapper: Vec::new(),
    };
    finish(front, &setup, &|k| issued_by(&fake, k)).await;
    assert_serve_clean(&serve);
}

#[tokio::test(flavor = "multi_thread")]
async fn ecs_relative_at_169_254_170_2() {
    ecs_relative(Front::EcsRelative, "ecs-relative", false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ecs_relative_query_at_169_254_170_2() {
    ecs_relative(Front::EcsRelativeQuery, "ecs-relative-query", false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ecs_relative_token_file_at_169_254_170_2() {
    ecs_relative(Front::EcsRelativeTokenFile, "ecs-relative", true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn imds_at_169_254_169_254() {
    imds_at_default_address(Front::ImdsDefaultAddress, &[]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn imds_at_169_254_169_254_with_v1() {
    imds_at_default_address(Front::ImdsDefaultAddressV1, &["--imds-v1"]).await;
}

/// `serve SERVE_ARGS` on 169.254.169.254:80 in a namespace, no endpoint variable.
async fn imds_at_default_address(front: Front, serve_args: &[&str]) {
    if !can_use_namespaces(front) {
        return;
    }
    let bind_args: Vec<String> = ["--mode", "imds", "--url", "http://169.254.169.254:80"]
        .map(String::from)
        .into();
    let (ns, fake, dir, serve) = in_namespace(
        front,
        Some("169.254.169.254/32"),
        &bind_args,
        ("169.254.169.254", &format!("imds-{NAME}")),
        serve_args,
    )
    .await;
    let mut env = read_env(&env_file(dir.path(), NAME));
    // No endpoint variable: the SDKs' own default address.
    assert_eq!(
        env.remove("AWS_EC2_METADATA_SERVICE_ENDPOINT").as_deref(),
        Some("http://169.254.169.254")
    );
    if serve_args.contains(&"--imds-v1") {
        env.remove("AWS_EC2_METADATA_V1_DISABLED");
    }
    let setup = Setup {
        env: client_env(env, &fake.url, true),
        config: None,
        netns: Some(ns.name.clone()),
        expected_arn: roles_anywhere_arn(front),
        https_proxy: fake.https_proxy.clone().expect("the fake's HTTPS proxy"),
        wrapper: Vec::new(),
    };
    finish(front, &setup, &|k| issued_by(&fake, k)).await;
    assert_serve_clean(&serve);
}

// ------------------------------------------------------------------------------------------
// IMDS through AWS_EC2_METADATA_SERVICE_ENDPOINT, on loopback.

/// serve with `--listen-imds 127.0.0.1:PORT=NAME` (and `extra` flags), NAME bound in imds
/// mode; returns the fake, the directory, serve and its IMDS port.
async fn imds_on_loopback(
    front: Front,
    extra: &[&str],
) -> (FakeAws, tempfile::TempDir, Serve, u16) {
    let fake = FakeAws::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (serve, ports) = start_serve(1, |p| {
        let mut args = vec![
            "--listen-imds".to_owned(),
            format!("127.0.0.1:{}={NAME}", p[0]),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        ServeOptions {
            dir: dir.path().to_owned(),
            args,
            ..ServeOptions::default()
        }
    })
    .await;
    let mut args = identity(&fake.url(), front);
    args.extend(
        [
            "--mode",
            "imds",
            "--url",
            &format!("http://127.0.0.1:{}", ports[0]),
        ]
        .map(String::from),
    );
    bind_ok(dir.path(), NAME, &args).await;
    (fake, dir, serve, ports[0])
}

#[tokio::test(flavor = "multi_thread")]
async fn imds_endpoint() {
    let (fake, dir, serve, _) = imds_on_loopback(Front::ImdsEndpoint, &[]).await;
    let setup = Setup {
        env: client_env(read_env(&env_file(dir.path(), NAME)), &fake.url(), true),
        config: None,
        netns: None,
        expected_arn: roles_anywhere_arn(Front::ImdsEndpoint),
        https_proxy: fake.https_proxy(),
        wrapper: Vec::new(),
    };
    finish(Front::ImdsEndpoint, &setup, &|k| fake.issued(k)).await;
    assert_serve_clean(&serve);
}

#[tokio::test(flavor = "multi_thread")]
async fn imds_v1_fallback() {
    let (fake, dir, serve, port) = imds_on_loopback(Front::ImdsV1Fallback, &["--imds-v1"]).await;
    let proxy = ForwardingProxy::start(([127, 0, 0, 1], port).into()).await;
    let mut env = read_env(&env_file(dir.path(), NAME));
    env.remove("AWS_EC2_METADATA_V1_DISABLED");
    env.insert(
        "AWS_EC2_METADATA_SERVICE_ENDPOINT".into(),
        format!("http://{}", proxy.addr),
    );
    let setup = Setup {
        env: client_env(env, &fake.url(), true),
        config: None,
        netns: None,
        expected_arn: roles_anywhere_arn(Front::ImdsV1Fallback),
        https_proxy: fake.https_proxy(),
        wrapper: Vec::new(),
    };
    // Each client asked for a token, was refused, and then got the credentials without one.
    let verify = |k: &str| {
        fake.issued(k)?;
        let exchanges = proxy.take();
        let refused = exchanges
            .iter()
            .any(|e| e.method == "PUT" && e.path == "/latest/api/token" && e.status == 403);
        let v1 = exchanges.iter().any(|e| {
            e.method == "GET"
                && e.path
                    .starts_with("/latest/meta-data/iam/security-credentials/")
                && !e.token
                && e.status == 200
        });
        if refused && v1 {
            Ok(())
        } else {
            Err(format!(
                "no refused token request followed by an IMDSv1 credentials request: {exchanges:?}"
            ))
        }
    };
    let outcomes = column(
        Front::ImdsV1Fallback,
        &setup,
        &|| drop(proxy.take()),
        &verify,
    )
    .await;
    record(Front::ImdsV1Fallback, &outcomes);
    assert_serve_clean(&serve);
}

// ------------------------------------------------------------------------------------------
// The desktop servers (an AWS profile as the source, STS double).

async fn desktop(front: Front, kind: &str) {
    let fake = FakeAws::start().await;
    let server = Desktop::start(kind, &fake.url(), &session_name(front)).await;
    let setup = Setup {
        env: client_env(server.exports.clone(), &fake.url(), kind == "ec2"),
        config: None,
        netns: None,
        expected_arn: developer_arn(front),
        https_proxy: fake.https_proxy(),
        wrapper: Vec::new(),
    };
    finish(front, &setup, &|k| fake.issued(k)).await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_ecs() {
    desktop(Front::DesktopEcs, "ecs").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_ec2() {
    desktop(Front::DesktopEc2, "ec2").await;
}

// ------------------------------------------------------------------------------------------
// The credentials file and `exec`.

#[tokio::test(flavor = "multi_thread")]
async fn update_credentials_file() {
    let front = Front::Update;
    let fake = FakeAws::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials").display().to_string();
    let mut args: Vec<String> = ["update", "--once", "--profile", "matrix"]
        .map(String::from)
        .into();
    args.extend(identity(&fake.url(), front));
    let output = run_needroleshere(&args, &[("AWS_SHARED_CREDENTIALS_FILE", &file)]).await;
    assert_success(&output, "update --once");
    let setup = Setup {
        env: client_env(
            [
                ("AWS_PROFILE".to_owned(), "matrix".to_owned()),
                ("AWS_SHARED_CREDENTIALS_FILE".to_owned(), file),
            ]
            .into(),
            &fake.url(),
            false,
        ),
        // As `aws configure` leaves it. The JS SDK v2, told to read the config file
        // (AWS_SDK_LOAD_CONFIG=1, which it needs for `credential_process`), finds no
        // credentials at all when that file is missing.
        config: Some("[profile matrix]\nregion = us-east-1\n".to_owned()),
        netns: None,
        expected_arn: roles_anywhere_arn(front),
        https_proxy: fake.https_proxy(),
        wrapper: Vec::new(),
    };
    finish(front, &setup, &|k| fake.issued(k)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_developer() {
    let front = Front::Exec;
    let fake = FakeAws::start().await;
    let profiles = DeveloperProfiles::write(&session_name(front));
    let mut env = client_env(BTreeMap::new(), &fake.url(), false);
    env.extend(profiles.env());
    // exec calls STS itself; `env` gives it the double's endpoint even for the AWS CLI v2,
    // whose own environment has none (it ignores the variable anyway).
    let wrapper = vec![
        "/usr/bin/env".into(),
        format!("AWS_ENDPOINT_URL_STS={}", fake.url()).into(),
        BIN.into(),
        "exec".into(),
        "developer".into(),
        "--".into(),
    ];
    let setup = Setup {
        env,
        // The clients see the same files (no AWS_PROFILE: exec removes it), whose default
        // profile names no credentials, so what they prove can only be what exec put in
        // their environment.
        config: None,
        netns: None,
        expected_arn: developer_arn(front),
        https_proxy: fake.https_proxy(),
        wrapper,
    };
    finish(front, &setup, &|k| fake.issued(k)).await;
}
