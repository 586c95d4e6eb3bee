//! `needroleshere serve` as systemd runs it: socket activation (`LISTEN_FDS`, several TCP and
//! unix sockets), `READY=1`/`STOPPING=1` on `NOTIFY_SOCKET`, exit 0 on SIGTERM; `--listen`
//! without activation; and every binding mode end to end — the env file `bind` writes,
//! read the way systemd's `EnvironmentFile=` reads it, used by a raw HTTP client and by
//! real boto3 — including the relative modes at 169.254.170.2:80 inside a network namespace
//! of the test's own.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use common::daemon::{
    self, Fake, FakeAwsProcess, NetNs, Serve, ServeOptions, Target, assert_boto3_got,
    assert_credentials, bind_ok, boto3_credentials, free_port, get, get_as_sdk, identity_args,
    mode_args, read_env,
};

fn assert_clean_exit(status: std::process::ExitStatus, serve: &Serve) {
    assert_eq!(
        status.code(),
        Some(0),
        "serve must exit 0 on SIGTERM, got {status:?}\n{}",
        serve.log()
    );
    let log = serve.log();
    assert!(!log.contains("panicked"), "serve panicked:\n{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn socket_activated_serve_notifies_ready_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    // Serve::start connects (systemd-socket-activate starts serve then), checks /healthz and
    // waits for READY=1 on the test's NOTIFY_SOCKET.
    let mut serve = Serve::start(dir.path(), &[]).await;
    let notifications = serve.drain_notifications();
    assert!(
        notifications
            .iter()
            .any(|n| n.lines().any(|l| l == "READY=1")),
        "{notifications:?}"
    );
    assert!(serve.is_running());

    let status = serve.terminate().await;
    assert_clean_exit(status, &serve);
    let notifications = serve.wait_for_notification("STOPPING=1").await;
    eprintln!("notifications: {notifications:?}");
    // Nothing is listening any more.
    assert!(
        tokio::net::TcpStream::connect(serve.addr()).await.is_err(),
        "still accepting after exit"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_pings_the_watchdog_when_systemd_asks() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // WatchdogSec=200ms: systemd passes WATCHDOG_USEC (and WATCHDOG_PID, left out here as
    // systemd-socket-activate cannot know the pid ahead).
    let mut serve = Serve::start_with(ServeOptions {
        dir: dir.path().to_owned(),
        sockets: vec![(format!("127.0.0.1:{port}"), "ecs".into())],
        env: vec![("WATCHDOG_USEC".into(), "200000".into())],
        ..ServeOptions::default()
    })
    .await;
    let started = std::time::Instant::now();
    serve.wait_for_notification("WATCHDOG=1").await;
    // Two more, so it is a steady ping, not a one-off.
    let count = |notes: &[String]| {
        notes
            .iter()
            .filter(|n| n.lines().any(|l| l == "WATCHDOG=1"))
            .count()
    };
    while count(&serve.drain_notifications()) < 3 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "fewer than 3 WATCHDOG=1 in 3 s with WATCHDOG_USEC=200000"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let status = serve.terminate().await;
    assert_clean_exit(status, &serve);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_a_request_in_flight_finish() {
    let dir = tempfile::tempdir().unwrap();
    let mut serve = Serve::start(dir.path(), &[]).await;
    // An upstream that accepts and never answers keeps a request busy for a while.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let mut args = identity_args("p256");
    args.extend(mode_args("ecs-full", &serve.url()));
    args.extend(["--endpoint".into(), silent_url, "--no-validate".into()]);
    bind_ok(dir.path(), "slow", &args).await;
    let token = daemon::token_of(dir.path(), "slow");

    let target = serve.target().clone();
    let in_flight = tokio::spawn(async move { daemon::get_with_bearer(&target, &token).await });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!in_flight.is_finished());
    let stopping = std::time::Instant::now();
    let status = serve.terminate().await;
    eprintln!("serve exited {:?} after SIGTERM", stopping.elapsed());
    // The request got its answer (504: upstream silent) rather than a reset connection.
    let response = in_flight.await.unwrap();
    daemon::assert_error(&response, 504, "request in flight at SIGTERM");
    assert_clean_exit(status, &serve);
    holder.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_closes_idle_keep_alive_connections_at_once() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let dir = tempfile::tempdir().unwrap();
    let mut serve = Serve::start(dir.path(), &[]).await;
    // One request answered, and the connection kept open, waiting for the next.
    let mut idle = tokio::net::TcpStream::connect(serve.addr()).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answered = vec![0u8; 4096];
    let n = idle.read(&mut answered).await.unwrap();
    let answered = String::from_utf8_lossy(&answered[..n]);
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    let status = serve.terminate().await;
    assert_clean_exit(status, &serve);
    // Nothing more was sent on it; and it was closed by the drain, not left for the drain
    // timeout to cut (which the log would say).
    let mut rest = Vec::new();
    idle.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    let log = serve.log();
    assert!(log.contains("all connections closed"), "{log}");
    assert!(!log.contains("still open after the drain timeout"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_is_logged_and_serve_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mut serve = Serve::start(dir.path(), &[]).await;
    serve.signal("HUP");
    // Give the signal time to land (a loaded machine may take a while), then ask again.
    let mut logged = false;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if serve.log().contains("SIGHUP ignored") {
            logged = true;
            break;
        }
    }
    assert!(serve.is_running(), "SIGHUP killed serve:\n{}", serve.log());
    assert!(logged, "no line about SIGHUP:\n{}", serve.log());
    let health = get(serve.target(), "/healthz", &[]).await;
    assert_eq!(health.status, 200, "{health:?}");
    let status = serve.terminate().await;
    assert_clean_exit(status, &serve);
}

/// An inherited TCP socket that is bound but not listening (`LISTEN_FDS=1`, fd 3), handed
/// over by python, which then execs serve under the same pid (`LISTEN_PID`).
#[test]
fn an_inherited_socket_that_is_not_listening_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let script = "import os, socket, sys\n\
        s = socket.socket()\n\
        s.bind(('127.0.0.1', 0))\n\
        os.dup2(s.fileno(), 3)\n\
        os.set_inheritable(3, True)\n\
        env = dict(os.environ, LISTEN_FDS='1', LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES='ecs')\n\
        os.execve(sys.argv[1], sys.argv[1:], env)\n";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script, env!("CARGO_BIN_EXE_needroleshere"), "serve"])
        .arg("--configuration-directory")
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Before the fix it logged `accept failed` forever: give it 20 s, then call it a hang.
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "serve kept running with a socket that is not listening:\n{}",
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .take(20)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("is a socket that is not listening"),
        "{stderr}"
    );
    assert!(!stderr.contains("accept failed"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_takes_every_activated_socket_tcp_and_unix() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let unix = sockets.path().join("ecs.sock");
    let (first, second) = (free_port(), free_port());
    let mut serve = Serve::start_with(ServeOptions {
        dir: dir.path().to_owned(),
        sockets: vec![
            (format!("127.0.0.1:{first}"), "ecs".into()),
            (unix.display().to_string(), "ecs-unix".into()),
            (format!("127.0.0.1:{second}"), "ecs-relative".into()),
        ],
        ..ServeOptions::default()
    })
    .await;
    assert_eq!(serve.targets.len(), 3);

    let mut args = identity_args("p256");
    args.extend(mode_args("ecs-full", &serve.url()));
    args.extend(["--endpoint".into(), fake.url()]);
    bind_ok(dir.path(), "multi", &args).await;
    let env = read_env(&daemon::env_file(dir.path(), "multi"));

    let mut keys = Vec::new();
    for target in serve.targets.clone() {
        let health = get(&target, "/healthz", &[]).await;
        assert_eq!(health.status, 200, "{target:?}: {health:?}");
        let response = get_as_sdk(&target, &env).await;
        let key = daemon::access_key_id(&response);
        assert_credentials(&response, &fake.session(&key), &format!("{target:?}"));
        keys.push(key);
    }
    // One identity, one cache, whichever socket asked.
    keys.dedup();
    assert_eq!(keys.len(), 1, "{keys:?}");

    let status = serve.terminate().await;
    assert_clean_exit(status, &serve);
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_listens_on_listen_addresses_without_activation() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let unix = sockets.path().join("serve.sock");
    let port = free_port();
    let mut serve = Serve::start_with(ServeOptions {
        dir: dir.path().to_owned(),
        args: vec![
            "--listen".into(),
            format!("unix:{}", unix.display()),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--endpoint".into(),
            fake.url(),
        ],
        ..ServeOptions::default()
    })
    .await;

    let mut args = identity_args("rsa2048");
    args.extend(mode_args("ecs-full", &format!("http://127.0.0.1:{port}")));
    args.push("--no-validate".into());
    bind_ok(dir.path(), "listen", &args).await;
    let env = read_env(&daemon::env_file(dir.path(), "listen"));
    for target in serve.targets.clone() {
        let response = get_as_sdk(&target, &env).await;
        let key = daemon::access_key_id(&response);
        assert_credentials(&response, &fake.session(&key), &format!("{target:?}"));
    }
    // The credentials came through serve's --endpoint (the binding names none).
    assert_eq!(
        fake.fake.sessions().len(),
        1,
        "one session, cached for both sockets"
    );

    let status = serve.terminate().await;
    assert_clean_exit(status, &serve);
    assert!(
        tokio::net::UnixStream::connect(&unix).await.is_err(),
        "unix socket still accepting after exit"
    );
}

/// The exact env file of `mode`, as a list of (key, value-pattern) where `TOKEN` stands for
/// the token.
fn expected_env(mode: &str, token_file: bool, url: &str) -> Vec<(&'static str, String)> {
    let full = format!("{url}/ecs/credentials");
    let mut lines = match mode {
        "ecs-full" => vec![
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                "Bearer TOKEN".to_owned(),
            ),
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", full),
        ],
        "ecs-full-query" => vec![(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{full}?access_token=TOKEN"),
        )],
        "ecs-relative" => vec![
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                "Bearer TOKEN".to_owned(),
            ),
            (
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "/ecs/credentials".to_owned(),
            ),
        ],
        "ecs-relative-query" => vec![(
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "/ecs/credentials?access_token=TOKEN".to_owned(),
        )],
        other => panic!("unknown mode {other}"),
    };
    if token_file {
        // The token is in the token file only: the env file holds the URI and no secret
        // (the consumer names the token file, e.g. as a systemd credential).
        assert_eq!(lines[0].0, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
        lines.remove(0);
    }
    lines
}

/// Checks the env file of binding `name` byte for byte (keys sorted, a value with a space
/// in double quotes, one line each) and returns it parsed, with its token.
fn check_env_file(
    dir: &Path,
    name: &str,
    mode: &str,
    token_file: bool,
    url: &str,
) -> (BTreeMap<String, String>, String) {
    let text = std::fs::read_to_string(daemon::env_file(dir, name)).unwrap();
    let token = daemon::token_of(dir, name);
    daemon::check_token(&token, name);
    let mut expected = String::new();
    for (key, pattern) in expected_env(mode, token_file, url) {
        let value = pattern
            .replace("TOKEN", &token)
            .replace("DIR", &dir.display().to_string())
            .replace("NAME", name);
        if value.contains(' ') {
            expected.push_str(&format!("{key}=\"{value}\"\n"));
        } else {
            expected.push_str(&format!("{key}={value}\n"));
        }
    }
    assert_eq!(
        text.trim_end_matches('\n'),
        expected.trim_end_matches('\n'),
        "env file of {name} ({mode}, token file {token_file})"
    );
    assert!(
        !text.ends_with("\n\n"),
        "env file of {name} ends with a blank line"
    );
    let mut env: BTreeMap<String, String> = daemon::parse_env(&text).into_iter().collect();
    let env_mode = std::fs::metadata(daemon::env_file(dir, name))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    if token_file {
        let bytes = std::fs::read(daemon::token_file(dir, name)).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            format!("Bearer {token}"),
            "token file of {name}: exactly the header value, no newline"
        );
        assert!(!text.contains(&token), "env file of {name} holds the token");
        assert_eq!(env_mode, 0o644, "env file of {name}: no secret, 0644");
        // What the consumer's unit adds (Environment=AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=
        // %d/aws-token with LoadCredential=, here the file itself).
        env.insert(
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE".to_owned(),
            daemon::token_file(dir, name).display().to_string(),
        );
    } else {
        assert!(!daemon::token_file(dir, name).exists());
        assert_eq!(env_mode, 0o600, "env file of {name}: holds the token, 0600");
    }
    (env, token)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_mode_works_with_a_raw_client_and_with_boto3() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut serve = Serve::start(dir.path(), &[]).await;
    let url = serve.url();

    let cases = [
        ("full", "ecs-full", false),
        ("full-query", "ecs-full-query", false),
        ("full-file", "ecs-full", true),
        ("relative", "ecs-relative", false),
        ("relative-query", "ecs-relative-query", false),
        ("relative-file", "ecs-relative", true),
    ];
    let mut secrets = Vec::new();
    for (name, mode, token_file) in cases {
        let mut args = identity_args("p384");
        args.extend(mode_args(mode, &url));
        args.extend(["--endpoint".into(), fake.url()]);
        if token_file {
            args.push("--token-file".into());
        }
        bind_ok(dir.path(), name, &args).await;
        let (env, token) = check_env_file(dir.path(), name, mode, token_file, &url);
        secrets.push(token);

        // A raw request built from the variables as SDKs build it (relative URIs go to the
        // daemon's socket here; 169.254.170.2 is tested in a namespace below).
        let response = get_as_sdk(serve.target(), &env).await;
        let key = daemon::access_key_id(&response);
        let session = fake.session(&key);
        assert_credentials(&response, &session, name);
        secrets.push(session.secret_access_key.clone());
        secrets.push(session.session_token.clone());

        if mode.starts_with("ecs-full") {
            let got = boto3_credentials(&env, None).await;
            // Served from the daemon's cache: the session the raw request got.
            assert_boto3_got(&got, &session, &format!("boto3, {name}"));
        }
    }

    let status = serve.terminate().await;
    assert_clean_exit(status, &serve);
    let log = serve.log();
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "serve's log holds a secret:\n{log}"
        );
    }
    // The token's secret part alone is not logged either.
    for token in secrets.iter().filter(|s| s.starts_with("needroleshere.")) {
        let secret = token.rsplit('.').next().unwrap();
        assert!(!log.contains(secret), "serve's log holds a token secret");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn relative_modes_at_169_254_170_2_in_a_network_namespace() {
    if !daemon::is_root() {
        eprintln!(
            "SKIPPED relative_modes_at_169_254_170_2_in_a_network_namespace: creating a \
             network namespace needs root"
        );
        return;
    }
    let ns = NetNs::create();
    let mut fake = FakeAwsProcess::start(&ns.name).await;
    let dir = tempfile::tempdir().unwrap();

    let cases = [
        ("rel", "ecs-relative", false),
        ("rel-query", "ecs-relative-query", false),
        ("rel-file", "ecs-relative", true),
    ];
    for (name, mode, token_file) in cases {
        // bind checks the binding against the fake, which only the namespace can reach.
        let mut args = vec![
            "netns".to_owned(),
            "exec".into(),
            ns.name.clone(),
            daemon::BIN.into(),
            "bind".into(),
            name.into(),
            "--configuration-directory".into(),
            dir.path().display().to_string(),
            "--endpoint".into(),
            fake.url.clone(),
        ];
        args.extend(identity_args("p256"));
        args.extend(mode_args(mode, ""));
        if token_file {
            args.push("--token-file".into());
        }
        let output = tokio::process::Command::new("ip")
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .output()
            .await
            .unwrap();
        daemon::assert_success(&output, &format!("bind {name} in {}", ns.name));
        check_env_file(dir.path(), name, mode, token_file, "");
    }

    let mut serve = Serve::spawn(ServeOptions {
        dir: dir.path().to_owned(),
        sockets: vec![("169.254.170.2:80".into(), "ecs-relative".into())],
        netns: Some(ns.name.clone()),
        ..ServeOptions::default()
    });
    // The test process cannot connect into the namespace: start serve with a request made
    // from inside it.
    let python = daemon::python();
    let health = tokio::process::Command::new("ip")
        .args(["netns", "exec", &ns.name])
        .arg(python)
        .args([
            "-c",
            "import urllib.request; \
             print(urllib.request.urlopen('http://169.254.170.2/healthz', timeout=10).status)",
        ])
        .output()
        .await
        .unwrap();
    assert!(
        health.status.success(),
        "GET http://169.254.170.2/healthz in the namespace: {}\n{}",
        String::from_utf8_lossy(&health.stderr),
        serve.log()
    );
    assert_eq!(String::from_utf8_lossy(&health.stdout).trim(), "200");
    serve.wait_for_notification("READY=1").await;
    assert!(matches!(serve.target(), Target::Tcp(_)));

    for (name, mode, token_file) in cases {
        let (env, _) = check_env_file(dir.path(), name, mode, token_file, "");
        assert!(env.contains_key("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"));
        let first = boto3_credentials(&env, Some(&ns.name)).await;
        assert_eq!(first.method, "container-role", "{name}");
        assert!(first.access_key.starts_with("ASIA"), "{name}: {first:?}");
        // The fake (a process in the namespace) logs every key it issues.
        let log = fake.log();
        assert!(
            log.contains(&first.access_key),
            "{name}: {} was not issued by the fake:\n{log}",
            first.access_key
        );
        // A second SDK process gets the daemon's cached credentials.
        let second = boto3_credentials(&env, Some(&ns.name)).await;
        assert_eq!(second.access_key, first.access_key, "{name}: cached");
    }
    assert!(fake.is_running());

    let status = serve.terminate().await;
    assert_clean_exit(status, &serve);
    drop(serve);
    drop(fake);
    drop(ns);
}
