//! What `serve` does with requests: one `CreateSession` for many concurrent callers of a
//! binding, fresh credentials when the certificate and key files are replaced, session
//! parameters and regions taken from the binding, and a clear status and JSON error for
//! every bad request, broken binding and upstream refusal — after which it still serves.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::path::Path;

use common::daemon::{
    self, Fake, Serve, assert_credentials, assert_error, bind_ok, certificate_serial, get,
    get_with_bearer, get_with_query, identity_args, identity_args_from, mode_args, token_of,
};
use common::pki_file;
use fake_aws::rolesanywhere::{FORBIDDEN_ROLE_ARN, OTHER_ROLE_ARN, ROLE_ARN};

/// Binds `name` (ecs-full, not validated) to the certificate and key at `cert` and `key`,
/// against `fake`; returns its token.
async fn bind_files(
    dir: &Path,
    name: &str,
    (cert, key): (&Path, &Path),
    serve: &Serve,
    fake: &Fake,
) -> String {
    let mut args = identity_args_from(cert, key, ROLE_ARN);
    args.extend(mode_args("ecs-full", &serve.url()));
    args.extend(["--endpoint".into(), fake.url(), "--no-validate".into()]);
    bind_ok(dir, name, &args).await;
    token_of(dir, name)
}

/// Binds `name` in `mode` against `fake` (`--endpoint` in the binding) plus `extra`.
async fn bind_mode(dir: &Path, name: &str, mode: &str, serve: &Serve, fake: &Fake, extra: &[&str]) {
    let mut args = identity_args("p256");
    args.extend(mode_args(mode, &serve.url()));
    args.extend(["--endpoint".into(), fake.url()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    bind_ok(dir, name, &args).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_concurrent_requests_make_one_create_session() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]).await;
    bind_mode(
        dir.path(),
        "busy",
        "ecs-full",
        &serve,
        &fake,
        &["--no-validate"],
    )
    .await;
    let token = token_of(dir.path(), "busy");
    assert_eq!(fake.fake.request_count(), 0);

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let target = serve.target().clone();
        let token = token.clone();
        tasks.spawn(async move { get_with_bearer(&target, &token).await });
    }
    let mut keys = std::collections::BTreeSet::new();
    while let Some(response) = tasks.join_next().await {
        keys.insert(daemon::access_key_id(&response.unwrap()));
    }
    assert_eq!(
        fake.fake.request_count(),
        1,
        "200 concurrent requests must share one CreateSession"
    );
    assert_eq!(keys.len(), 1, "{keys:?}");
    // And later requests keep using it.
    let again = get_with_bearer(serve.target(), &token).await;
    assert!(keys.contains(&daemon::access_key_id(&again)));
    assert_eq!(fake.fake.request_count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn replaced_certificate_and_key_get_fresh_credentials_at_the_next_request() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let cert = files.path().join("host.crt");
    let key = files.path().join("host.key");
    std::fs::copy(pki_file("p256.fullchain.pem"), &cert).unwrap();
    std::fs::copy(pki_file("p256.sec1.key"), &key).unwrap();

    let serve = Serve::start(dir.path(), &[]).await;
    let token = bind_files(dir.path(), "renewed", (&cert, &key), &serve, &fake).await;

    let first = get_with_bearer(serve.target(), &token).await;
    let first_key = daemon::access_key_id(&first);
    let session = fake.session(&first_key);
    assert_eq!(
        session.leaf_serial,
        certificate_serial(&pki_file("p256.cert.pem"))
    );

    // Renewal: a new leaf (another key type, even) under the same paths.
    std::fs::copy(pki_file("p384.fullchain.pem"), &cert).unwrap();
    std::fs::copy(pki_file("p384.pkcs8.key"), &key).unwrap();
    let second = get_with_bearer(serve.target(), &token).await;
    let second_key = daemon::access_key_id(&second);
    assert_ne!(
        second_key, first_key,
        "the old leaf's credentials were served"
    );
    let session = fake.session(&second_key);
    assert_eq!(
        session.leaf_serial,
        certificate_serial(&pki_file("p384.cert.pem"))
    );
    assert_credentials(&second, &session, "after renewal");
    assert_eq!(fake.fake.request_count(), 2);

    // Unchanged files: the cache holds again.
    let third = get_with_bearer(serve.target(), &token).await;
    assert_eq!(daemon::access_key_id(&third), second_key);
    assert_eq!(fake.fake.request_count(), 2);
}

/// A Kubernetes secret volume (or cert-manager's CSI driver) renews by writing a new version
/// directory and renaming a `..data_tmp` link over `..data`: the paths the binding names,
/// links into `..data`, never change themselves.
#[tokio::test(flavor = "multi_thread")]
async fn a_secret_volume_link_swap_gets_fresh_credentials_at_the_next_request() {
    use std::os::unix::fs::symlink;
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let volume = tempfile::tempdir().unwrap();
    let root = volume.path();
    let version = |name: &str, cert: &str, key: &str| {
        std::fs::create_dir(root.join(name)).unwrap();
        std::fs::copy(pki_file(cert), root.join(name).join("tls.crt")).unwrap();
        std::fs::copy(pki_file(key), root.join(name).join("tls.key")).unwrap();
    };
    version("..2026_12_04_v1", "p256.fullchain.pem", "p256.sec1.key");
    symlink("..2026_12_04_v1", root.join("..data")).unwrap();
    symlink("..data/tls.crt", root.join("tls.crt")).unwrap();
    symlink("..data/tls.key", root.join("tls.key")).unwrap();

    let serve = Serve::start(dir.path(), &[]).await;
    let files = (root.join("tls.crt"), root.join("tls.key"));
    let token = bind_files(dir.path(), "swapped", (&files.0, &files.1), &serve, &fake).await;
    let first = daemon::access_key_id(&get_with_bearer(serve.target(), &token).await);
    let again = daemon::access_key_id(&get_with_bearer(serve.target(), &token).await);
    assert_eq!(again, first);
    assert_eq!(fake.fake.request_count(), 1);

    version("..2026_12_04_v2", "p384.fullchain.pem", "p384.pkcs8.key");
    symlink("..2026_12_04_v2", root.join("..data_tmp")).unwrap();
    std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
    let second = get_with_bearer(serve.target(), &token).await;
    let second_key = daemon::access_key_id(&second);
    assert_ne!(
        second_key, first,
        "the old version's credentials were served"
    );
    assert_eq!(
        fake.session(&second_key).leaf_serial,
        certificate_serial(&pki_file("p384.cert.pem"))
    );
    // The old version goes, as the kubelet removes it; the new one stays in use.
    std::fs::remove_dir_all(root.join("..2026_12_04_v1")).unwrap();
    let third = get_with_bearer(serve.target(), &token).await;
    assert_eq!(daemon::access_key_id(&third), second_key);
    assert_eq!(fake.fake.request_count(), 2);
}

/// `/healthz` keeps its verdict while nothing on the way to the bindings changes: a
/// directory made writable by everyone is reported by the next probe, and its repair too.
#[tokio::test(flavor = "multi_thread")]
async fn healthz_sees_the_bindings_directory_change_at_the_next_probe() {
    use std::os::unix::fs::PermissionsExt as _;
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]).await;
    bind_mode(
        dir.path(),
        "probed",
        "ecs-full",
        &serve,
        &fake,
        &["--no-validate"],
    )
    .await;
    let probe = || get(serve.target(), "/healthz", &[]);
    assert_eq!(probe().await.status, 200);
    assert_eq!(probe().await.status, 200);

    let bindings = dir.path().join("bindings");
    std::fs::set_permissions(&bindings, std::fs::Permissions::from_mode(0o777)).unwrap();
    let unhealthy = probe().await;
    assert_eq!(unhealthy.status, 503, "{unhealthy:?}");
    assert!(unhealthy.body.contains("bindings"), "{unhealthy:?}");
    std::fs::set_permissions(&bindings, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(probe().await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn session_parameters_and_region_come_from_the_binding() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    // serve's --region names a region the fake does not serve: only bindings that name
    // their own region (or none, falling back to serve's) show which one is used.
    let serve = Serve::start(dir.path(), &["--region".into(), "eu-west-1".into()]).await;

    let mut args = identity_args_from(
        &pki_file("rsa2048.cert.pem"),
        &pki_file("rsa2048.pkcs1.key"),
        OTHER_ROLE_ARN,
    );
    args.extend([
        "--intermediates".into(),
        pki_file("intermediate-ca.pem").display().to_string(),
        "--session-duration".into(),
        "900".into(),
        "--role-session-name".into(),
        "nightly@build".into(),
        "--region".into(),
        "us-east-1".into(),
        "--endpoint".into(),
        fake.url(),
        "--no-validate".into(),
    ]);
    args.extend(mode_args("ecs-full", &serve.url()));
    bind_ok(dir.path(), "params", &args).await;
    let response = get_with_bearer(serve.target(), &token_of(dir.path(), "params")).await;
    let key = daemon::access_key_id(&response);
    let session = fake.session(&key);
    assert_credentials(&response, &session, "params");
    assert_eq!(session.role_arn, OTHER_ROLE_ARN);
    assert_eq!(session.duration_seconds, 900);
    assert_eq!(session.role_session_name, "nightly@build");
    assert_eq!(session.chain_der.len(), 1, "the intermediate was sent");
    // Our own fields, next to the existing tool's.
    let binding: serde_json::Value =
        serde_json::from_slice(&std::fs::read(daemon::binding_file(dir.path(), "params")).unwrap())
            .unwrap();
    assert_eq!(binding["region"], "us-east-1");
    assert_eq!(binding["endpoint"], fake.url().as_str());
    // Intermediates go into certificate_files, which the existing tool reads too.
    assert_eq!(
        binding["certificate_files"]
            .as_array()
            .unwrap()
            .last()
            .unwrap(),
        &serde_json::json!(pki_file("intermediate-ca.pem"))
    );
    assert!(binding.get("intermediate_files").is_none());
    assert_eq!(binding["request"]["sessionName"], "nightly@build");
    assert_eq!(binding["mode"], serde_json::json!({"kind": "EcsFull"}));
    assert_eq!(binding["env_mode"], serde_json::json!({"kind": "EcsFull"}));

    // No region in the binding: serve's --region (eu-west-1) wins over the trust anchor's,
    // and the fake refuses the scope.
    bind_mode(
        dir.path(),
        "noregion",
        "ecs-full",
        &serve,
        &fake,
        &["--no-validate"],
    )
    .await;
    let refused = get_with_bearer(serve.target(), &token_of(dir.path(), "noregion")).await;
    assert_error(&refused, 502, "region from serve --region");
    let rejections = fake.fake.rejections();
    let (_, _, message) = rejections.last().unwrap();
    assert!(message.contains("eu-west-1"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_clear_errors_and_the_daemon_keeps_serving() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let mut serve = Serve::start(dir.path(), &[]).await;
    let target = serve.target().clone();

    bind_mode(dir.path(), "good", "ecs-full", &serve, &fake, &[]).await;
    bind_mode(dir.path(), "goodq", "ecs-full-query", &serve, &fake, &[]).await;
    let good = token_of(dir.path(), "good");
    let goodq = token_of(dir.path(), "goodq");
    let good_secret = good.rsplit('.').next().unwrap().to_owned();

    // A binding whose file is then corrupted.
    bind_mode(dir.path(), "corrupt", "ecs-full", &serve, &fake, &[]).await;
    let corrupt = token_of(dir.path(), "corrupt");
    std::fs::write(
        daemon::binding_file(dir.path(), "corrupt"),
        b"{\"name\": \"corr",
    )
    .unwrap();

    // A binding whose key disappears.
    let key = files.path().join("vanishing.key");
    std::fs::copy(pki_file("p256.pkcs8.key"), &key).unwrap();
    let mut args = identity_args_from(&pki_file("p256.fullchain.pem"), &key, ROLE_ARN);
    args.extend(mode_args("ecs-full", &serve.url()));
    args.extend(["--endpoint".into(), fake.url()]);
    bind_ok(dir.path(), "nokey", &args).await;
    let nokey = token_of(dir.path(), "nokey");
    std::fs::remove_file(&key).unwrap();

    // Bindings whose key, or certificate, is overwritten with something that is not one.
    let mut garbled = Vec::new();
    for (name, what) in [("badkey", "key"), ("badcert", "certificate")] {
        let cert = files.path().join(format!("{name}.crt"));
        let key = files.path().join(format!("{name}.key"));
        std::fs::copy(pki_file("p256.fullchain.pem"), &cert).unwrap();
        std::fs::copy(pki_file("p256.pkcs8.key"), &key).unwrap();
        let mut args = identity_args_from(&cert, &key, ROLE_ARN);
        args.extend(mode_args("ecs-full", &serve.url()));
        args.extend(["--endpoint".into(), fake.url()]);
        bind_ok(dir.path(), name, &args).await;
        let target_file = if what == "key" { &key } else { &cert };
        std::fs::write(
            target_file,
            b"-----BEGIN NONSENSE-----\nAAAA\n-----END NONSENSE-----\n",
        )
        .unwrap();
        garbled.push((name, token_of(dir.path(), name)));
    }

    // A binding IAM Roles Anywhere refuses (the role is not in the profile).
    let mut args = identity_args_from(
        &pki_file("p256.fullchain.pem"),
        &pki_file("p256.pkcs8.key"),
        FORBIDDEN_ROLE_ARN,
    );
    args.extend(mode_args("ecs-full", &serve.url()));
    args.extend(["--endpoint".into(), fake.url(), "--no-validate".into()]);
    bind_ok(dir.path(), "forbidden", &args).await;
    let forbidden = token_of(dir.path(), "forbidden");
    let binding: serde_json::Value = serde_json::from_slice(
        &std::fs::read(daemon::binding_file(dir.path(), "forbidden")).unwrap(),
    )
    .unwrap();
    assert_eq!(binding["request"]["roleArn"], FORBIDDEN_ROLE_ARN);

    // No token.
    let r = get(&target, "/ecs/credentials", &[]).await;
    assert_error(&r, 400, "no token");
    // Token in both places.
    let bearer = format!("Bearer {good}");
    let r = get(
        &target,
        &format!("/ecs/credentials?access_token={good}"),
        &[("Authorization", bearer.as_str())],
    )
    .await;
    assert_error(&r, 400, "token in header and query");

    let flipped_early = {
        let mut bytes = good_secret.clone().into_bytes();
        bytes[20] = if bytes[20] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    };

    // Malformed tokens.
    let long_name = "n".repeat(65);
    let malformed = [
        "garbage".to_owned(),
        "needroleshere".to_owned(),
        "needroleshere.".to_owned(),
        "needroleshere.good".to_owned(),
        "needroleshere.good.".to_owned(),
        format!("needroleshere..{good_secret}"),
        format!("needroleshere.a.b.{good_secret}"),
        format!("needroleshere.../x.{good_secret}"),
        format!("needroleshere.{long_name}.{good_secret}"),
        "needroleshere.good.!!not-base64!!".to_owned(),
        format!("needroleshere.good.{}", "A".repeat(4000)),
        format!("NEEDROLESHERE.good.{good_secret}"),
        format!("other.good.{good_secret}"),
    ];
    for token in &malformed {
        let r = get_with_bearer(&target, token).await;
        assert_error(&r, 401, &format!("malformed header token {token:?}"));
    }
    let r = get(
        &target,
        "/ecs/credentials",
        &[("Authorization", good.as_str())],
    )
    .await;
    // A bare token (no scheme) is accepted, as src/server/ecs.rs documents: SDKs send
    // AWS_CONTAINER_AUTHORIZATION_TOKEN verbatim, and a hand-written env file may lack the
    // scheme. The secret is checked all the same.
    assert_eq!(r.status, 200, "bare token: {r:?}");
    let bare_wrong = format!("needroleshere.good.{flipped_early}");
    let r = get(
        &target,
        "/ecs/credentials",
        &[("Authorization", bare_wrong.as_str())],
    )
    .await;
    assert_error(&r, 401, "bare token with a wrong secret");
    let basic = format!("Basic {good}");
    let r = get(
        &target,
        "/ecs/credentials",
        &[("Authorization", basic.as_str())],
    )
    .await;
    assert_error(&r, 401, "another scheme");
    for token in ["garbage", "needroleshere.goodq."] {
        let r = get_with_query(&target, token).await;
        assert_error(&r, 401, &format!("malformed query token {token:?}"));
    }

    // Unknown binding, wrong secret.
    let r = get_with_bearer(&target, &format!("needroleshere.nosuch.{good_secret}")).await;
    assert_error(&r, 401, "unknown binding");
    let other_secret = goodq.rsplit('.').next().unwrap();
    let r = get_with_bearer(&target, &format!("needroleshere.good.{other_secret}")).await;
    assert_error(&r, 401, "wrong secret");
    let mut flipped = good_secret.clone().into_bytes();
    flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let r = get_with_bearer(&target, &format!("needroleshere.good.{flipped}")).await;
    assert_error(&r, 401, "secret off by one character");

    // Each binding accepts only its own way of carrying the token.
    let r = get_with_query(&target, &good).await;
    assert_error(&r, 401, "query token for a header binding");
    let r = get_with_bearer(&target, &goodq).await;
    assert_error(&r, 401, "header token for a query binding");

    // Broken bindings and upstream refusals.
    let r = get_with_bearer(&target, &corrupt).await;
    assert_error(&r, 500, "corrupt binding file");
    let r = get_with_bearer(&target, &nokey).await;
    let (_, message) = assert_error(&r, 500, "key deleted after bind");
    eprintln!("key deleted: {message}");
    for (name, token) in &garbled {
        let r = get_with_bearer(&target, token).await;
        let (_, message) = assert_error(&r, 500, &format!("{name}: file garbled after bind"));
        eprintln!("{name}: {message}");
    }
    let r = get_with_bearer(&target, &forbidden).await;
    let (_, message) = assert_error(&r, 502, "role not in the profile");
    eprintln!("refused upstream: {message}");
    assert!(
        fake.fake
            .rejections()
            .iter()
            .any(|(status, _, _)| *status == 403),
        "the fake refused the forbidden role"
    );

    // The daemon still serves, both ways.
    let r = get_with_bearer(&target, &good).await;
    let key = daemon::access_key_id(&r);
    assert_credentials(&r, &fake.session(&key), "good after the errors");
    let r = get_with_query(&target, &goodq).await;
    let key = daemon::access_key_id(&r);
    assert_credentials(&r, &fake.session(&key), "goodq after the errors");
    assert!(serve.is_running());

    // The log says why the key failed (naming the file), without any secret.
    let log = serve.log();
    assert!(
        log.contains("vanishing.key"),
        "serve's log should name the missing key file:\n{log}"
    );
    for secret in [good_secret.as_str(), other_secret, flipped.as_str()] {
        assert!(!log.contains(secret), "a secret in serve's log:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_iam_roles_anywhere_is_503_and_a_silent_one_504() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]).await;

    // A loopback port nothing listens on: connection refused.
    let closed = format!("http://127.0.0.1:{}", daemon::free_port());
    // A loopback port that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });

    for (name, endpoint, status) in [("down", closed, 503), ("silent", silent_url, 504)] {
        let mut args = identity_args("p256");
        args.extend(mode_args("ecs-full", &serve.url()));
        args.extend(["--endpoint".into(), endpoint, "--no-validate".into()]);
        bind_ok(dir.path(), name, &args).await;
        let started = std::time::Instant::now();
        let r = get_with_bearer(serve.target(), &token_of(dir.path(), name)).await;
        let elapsed = started.elapsed();
        eprintln!("{name}: {} in {elapsed:?}: {}", r.status, r.body);
        assert_error(&r, status, name);
        // Bounded: the daemon's own wait for IAM Roles Anywhere (5 s when written), not
        // the upstream's silence, decides when the caller hears back.
        assert!(
            elapsed < std::time::Duration::from_secs(8),
            "{name}: {elapsed:?}"
        );
    }

    // Meanwhile other bindings are served.
    bind_mode(
        dir.path(),
        "up",
        "ecs-full",
        &serve,
        &fake,
        &["--no-validate"],
    )
    .await;
    let r = get_with_bearer(serve.target(), &token_of(dir.path(), "up")).await;
    let key = daemon::access_key_id(&r);
    assert_credentials(&r, &fake.session(&key), "up");
    holder.abort();
}
