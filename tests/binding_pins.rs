//! Bindings pinned to users (`bind --allow-uid`): `serve` answers a pinned binding's token
//! only on connections whose client socket belongs to one of its uids (looked up in the
//! kernel's socket tables, IPv4 and IPv6 loopback), 403 with a short body to anyone else —
//! root included unless allowed — and logs the refusal once, not once per request. Other
//! users are played by `setpriv` dropping to their uid for `curl`; the tests need root and
//! are skipped without it. `check NAME` says how the token travels and whom it serves.
//!
//! The same, under a booted systemd with real units and boto3: tests/systemd_booted.rs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use common::daemon::{
    self, Fake, Serve, ServeOptions, bind, bind_ok, free_port, identity_args, mode_args, token_of,
};
use common::users::{can_switch_users, curl_as};

/// nobody, the consumer the bindings are pinned to.
const CONSUMER: u32 = 65534;
/// Another unprivileged user (no account needed: a uid is enough for setpriv).
const OTHER: u32 = 65533;

/// `curl` as `uid` with `Authorization: Bearer TOKEN`: (status, body).
async fn get_as(uid: u32, url: &str, token: &str) -> (u16, String) {
    let authorization = format!("Authorization: Bearer {token}");
    let url = format!("{url}/ecs/credentials");
    curl_as(uid, &["-g", "-H", &authorization, &url]).await
}

/// Binds `name` in `dir` for `serve`, against `fake`, with `extra` flags.
async fn bind_pinned(dir: &std::path::Path, name: &str, url: &str, fake: &Fake, extra: &[&str]) {
    let mut args = identity_args("p256");
    args.extend(mode_args("ecs-full", url));
    args.extend(["--endpoint".into(), fake.url()]);
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    bind_ok(dir, name, &args).await;
}

fn assert_served(answer: &(u16, String), what: &str) {
    assert_eq!(answer.0, 200, "{what}: {}", answer.1);
    assert!(answer.1.contains("SecretAccessKey"), "{what}: {}", answer.1);
}

fn assert_forbidden(answer: &(u16, String), what: &str) {
    assert_eq!(answer.0, 403, "{what}: {}", answer.1);
    assert!(
        !answer.1.contains("SecretAccessKey"),
        "{what}: {}",
        answer.1
    );
    let body: serde_json::Value = serde_json::from_str(&answer.1)
        .unwrap_or_else(|e| panic!("{what}: the 403 body is not JSON ({e}): {}", answer.1));
    assert_eq!(body["Code"], "Forbidden", "{what}");
    assert!(answer.1.len() < 200, "{what}: a short body: {}", answer.1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pinned_binding_serves_only_its_users_on_ipv4_loopback() {
    if !can_switch_users() {
        return;
    }
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]).await;
    let url = serve.url();

    bind_pinned(
        dir.path(),
        "pinned",
        &url,
        &fake,
        &["--allow-uid", &CONSUMER.to_string()],
    )
    .await;
    let token = token_of(dir.path(), "pinned");
    assert_served(&get_as(CONSUMER, &url, &token).await, "the pinned user");
    // The same token from another user, and from root: refused, however often.
    for _ in 0..3 {
        assert_forbidden(&get_as(OTHER, &url, &token).await, "another user");
        assert_forbidden(&get_as(0, &url, &token).await, "root, not allowed");
    }
    // A token that opens nothing is still 401 for the pinned user: the pin is checked only
    // for a good token, and reveals nothing to anyone without one.
    let mut wrong = token.clone();
    wrong.pop();
    wrong.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(get_as(CONSUMER, &url, &wrong).await.0, 401);
    assert_eq!(get_as(OTHER, &url, &wrong).await.0, 401);

    // A user name works as well as a uid, and root is served once allowed.
    bind_pinned(
        dir.path(),
        "pinned",
        &url,
        &fake,
        &["--allow-uid", "nobody", "--allow-uid", "0"],
    )
    .await;
    let token = token_of(dir.path(), "pinned");
    assert_served(&get_as(CONSUMER, &url, &token).await, "the pinned user");
    assert_served(&get_as(0, &url, &token).await, "root, allowed");
    assert_forbidden(&get_as(OTHER, &url, &token).await, "another user");

    // Unpinned bindings, as every binding before, serve anyone holding the token.
    bind_pinned(dir.path(), "open", &url, &fake, &[]).await;
    let token = token_of(dir.path(), "open");
    for uid in [CONSUMER, OTHER, 0] {
        assert_served(
            &get_as(uid, &url, &token).await,
            &format!("uid {uid}, unpinned"),
        );
    }

    // Seven refusals, one line (and later a summary): the log cannot be flooded.
    let log = serve.log();
    let lines = log
        .lines()
        .filter(|l| l.contains("refused a good token from a user the binding is not pinned to"))
        .count();
    assert_eq!(lines, 1, "refusals are logged once per binding:\n{log}");
    let line = log.lines().find(|l| l.contains("not pinned to")).unwrap();
    assert!(line.contains("pinned") && line.contains("uid"), "{line}");
    assert!(!log.contains(&token), "the log holds a token");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pinned_binding_serves_only_its_users_on_ipv6_loopback() {
    if !can_switch_users() {
        return;
    }
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start_with(ServeOptions {
        dir: dir.path().to_owned(),
        sockets: vec![(format!("[::1]:{}", free_port()), "ecs".to_owned())],
        ..ServeOptions::default()
    })
    .await;
    let url = serve.url();
    assert!(url.starts_with("http://[::1]:"), "{url}");
    bind_pinned(
        dir.path(),
        "six",
        &url,
        &fake,
        &["--allow-uid", &CONSUMER.to_string()],
    )
    .await;
    let token = token_of(dir.path(), "six");
    assert_served(&get_as(CONSUMER, &url, &token).await, "the pinned user");
    assert_forbidden(&get_as(OTHER, &url, &token).await, "another user");
    assert_forbidden(&get_as(0, &url, &token).await, "root");
}

#[tokio::test(flavor = "multi_thread")]
async fn bind_refuses_unknown_users_and_pins_on_imds_bindings() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = identity_args("p256");
    args.extend(mode_args("ecs-full", "http://127.0.0.1:7224"));
    args.extend(["--no-validate".into(), "--allow-uid".into()]);
    for (user, expected) in [
        ("no-such-user-here", "no user \"no-such-user-here\""),
        ("4294967296", "out of range"),
    ] {
        let mut args = args.clone();
        args.push(user.into());
        let output = bind(dir.path(), "web", &args).await;
        daemon::assert_failure(&output, &[expected], &format!("--allow-uid {user}"));
        assert_eq!(daemon::files_under(dir.path()), Vec::<String>::new());
    }
    let mut args = identity_args("p256");
    args.extend([
        "--mode".into(),
        "imds".into(),
        "--url".into(),
        "http://169.254.169.254".into(),
        "--no-validate".into(),
        "--allow-uid".into(),
        "0".into(),
    ]);
    let output = bind(dir.path(), "batch", &args).await;
    daemon::assert_failure(&output, &["--allow-uid", "imds"], "--allow-uid on imds");
    assert_eq!(daemon::files_under(dir.path()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn check_says_how_the_token_travels_and_whom_it_serves() {
    let dir = tempfile::tempdir().unwrap();
    let base = || {
        let mut args = identity_args("p256");
        args.extend(mode_args("ecs-full", "http://127.0.0.1:7224"));
        args.push("--no-validate".into());
        args
    };
    let mut args = base();
    args.extend(["--token-file".into(), "--allow-uid".into(), "0".into()]);
    bind_ok(dir.path(), "credential", &args).await;
    bind_ok(dir.path(), "environment", &base()).await;

    let check = |name: &'static str| {
        let dir = dir.path().to_owned();
        async move {
            let output = daemon::run(
                &[
                    "check".into(),
                    name.into(),
                    "--configuration-directory".into(),
                    dir.display().to_string(),
                ],
                &[],
            )
            .await;
            daemon::assert_success(&output, &format!("check {name}"));
            String::from_utf8(output.stdout).unwrap()
        }
    };
    let line = |report: &str, topic: &str| -> String {
        report
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(topic))
            .unwrap_or_else(|| panic!("no {topic} line:\n{report}"))
            .to_owned()
    };

    let report = check("credential").await;
    let token = line(&report, "token");
    let token_path = daemon::token_file(dir.path(), "credential");
    assert!(
        token.contains(&format!("token file {}", token_path.display())),
        "{report}"
    );
    assert!(token.contains("LoadCredential=aws-token:"), "{report}");
    assert!(token.contains("only the URI"), "{report}");
    let users = line(&report, "users");
    assert!(
        users.contains("only to connections of uid 0 (root)"),
        "{report}"
    );

    let report = check("environment").await;
    let token = line(&report, "token");
    assert!(
        token.contains("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
        "{report}"
    );
    assert!(token.contains("environment"), "{report}");
    assert!(line(&report, "users").contains("not pinned"), "{report}");
}

/// A daemon in a user namespace that maps only root (as systemd's `PrivateUsers=yes` maps
/// only root and the unit's user) sees every other client as the overflow uid, nobody
/// (65534). That uid is no answer: a binding pinned to nobody must not be served to every
/// unmapped user through it. Without the check, the request below gets credentials.
#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_that_cannot_see_real_uids_refuses_pinned_bindings() {
    if !can_switch_users() {
        return;
    }
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    bind_pinned(
        dir.path(),
        "nobody-only",
        &url,
        &fake,
        &["--allow-uid", &CONSUMER.to_string()],
    )
    .await;
    bind_pinned(dir.path(), "open", &url, &fake, &[]).await;
    let log_path = dir.path().join("serve.log");
    let mut command = tokio::process::Command::new("unshare");
    command
        .args(["--user", "--map-root-user", daemon::BIN, "serve"])
        .arg("--configuration-directory")
        .arg(dir.path())
        .args(["--listen", &format!("127.0.0.1:{port}")]);
    for name in daemon::SCRUBBED {
        command.env_remove(name);
    }
    let mut serve = command
        .env("HTTPS_PROXY", daemon::NOWHERE_PROXY)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("run serve through unshare (util-linux)");
    // Up once /healthz answers (a wait for the process, not a timing assertion).
    let up = wait_for_healthz(&url, &mut serve, &log_path).await;
    assert!(up, "serve in a user namespace did not start");

    // The unpinned binding works: the daemon itself is fine.
    let token = token_of(dir.path(), "open");
    assert_served(
        &get_as(CONSUMER, &url, &token).await,
        "unpinned, from nobody",
    );
    // The pinned one is refused to the real nobody too: the daemon cannot tell it from
    // any other unmapped user.
    let token = token_of(dir.path(), "nobody-only");
    assert_forbidden(
        &get_as(CONSUMER, &url, &token).await,
        "pinned to nobody, daemon without the mapping",
    );
    assert_forbidden(
        &get_as(OTHER, &url, &token).await,
        "another user, who also shows as nobody",
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("does not map (PrivateUsers=yes?)"),
        "the log says why:\n{log}"
    );
}

/// Polls `GET URL/healthz` with curl until it answers 200 (true) or serve exits (false).
async fn wait_for_healthz(
    url: &str,
    serve: &mut tokio::process::Child,
    log: &std::path::Path,
) -> bool {
    for _ in 0..300 {
        if let Ok(Some(status)) = serve.try_wait() {
            eprintln!(
                "serve exited {status}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            return false;
        }
        let output = tokio::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--noproxy",
                "*",
            ])
            .arg(format!("{url}/healthz"))
            .output()
            .await
            .expect("run curl");
        if output.stdout == b"200" {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}
