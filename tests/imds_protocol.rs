//! The IMDS wire protocol of `needroleshere serve`, checked with a raw HTTP/1.1 client over
//! real sockets against the real binary and the strict fake IAM Roles Anywhere:
//!
//! * `PUT /latest/api/token`: TTL 1..21600 echoed; a missing, 0, 21601 or non-numeric TTL is
//!   400; `X-Forwarded-For` is 403;
//! * a `Host` that does not name the listener is 403 (DNS-rebinding defence); no `Host`, or
//!   the listener's address without its port, is served (the AWS CRT sends one or the other);
//! * tokens: forged, tampered, expired or from another listener or process are 401; no
//!   token is 401 unless `--imds-v1`;
//! * every metadata path, with and without a trailing slash; unknown role 404;
//! * a binding that is not in imds mode on an IMDS listener is 500 and nothing is served;
//!   a role the service refuses is 5xx, never a `"Code":"Success"` document;
//! * the cache: one CreateSession however many requests, listeners or fronts ask.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::daemon::{Fake, Response, Serve, ServeOptions, bind_ok, identity_args, mode_args};
use common::imds::{
    ROLE_NAME, TOKEN_HEADER, TTL_HEADER, assert_imds_document, bind_imds, credentials_path,
    get_with_token, loopback, put_token, request, request_with_host, start_serve, token,
};
use fake_aws::ACCOUNT_ID;
use fake_aws::rolesanywhere::FORBIDDEN_ROLE_ARN;

/// serve with IMDS listeners on loopback for binding `web` (bound in imds mode unless the
/// test binds it otherwise), and the fake it calls.
struct Daemon {
    fake: Fake,
    dir: tempfile::TempDir,
    serve: Serve,
    addrs: Vec<SocketAddr>,
}

impl Daemon {
    /// `serve --listen-imds 127.0.0.1:P=NAME` for each of `names`, plus `extra` flags.
    async fn start(names: &[&str], extra: &[&str]) -> Daemon {
        let fake = Fake::start().await;
        let dir = tempfile::tempdir().unwrap();
        let (serve, ports) = start_serve(names.len(), |ports| {
            let mut args = Vec::new();
            for (port, name) in ports.iter().zip(names) {
                args.push("--listen-imds".to_owned());
                args.push(format!("127.0.0.1:{port}={name}"));
            }
            args.extend(extra.iter().map(|s| s.to_string()));
            ServeOptions {
                dir: dir.path().to_owned(),
                args,
                ..ServeOptions::default()
            }
        })
        .await;
        Daemon {
            fake,
            dir,
            serve,
            addrs: ports.into_iter().map(loopback).collect(),
        }
    }

    /// [`Daemon::start`] with `web` bound in imds mode.
    async fn web(extra: &[&str]) -> Daemon {
        let daemon = Daemon::start(&["web"], extra).await;
        daemon.bind_web().await;
        daemon
    }

    async fn bind_web(&self) {
        bind_imds(
            self.dir.path(),
            "web",
            &format!("http://{}", self.addrs[0]),
            &self.fake.url(),
        )
        .await;
    }

    fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    fn sessions(&self) -> usize {
        self.fake.fake.sessions().len()
    }
}

fn assert_not_credentials(response: &Response, what: &str) {
    assert!(
        !response.body.contains("Success") && !response.body.contains("AccessKeyId"),
        "{what}: {response:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn token_ttl_is_echoed_and_the_token_opens_the_metadata() {
    let daemon = Daemon::web(&[]).await;
    for ttl in ["1", "2", "300", "21600"] {
        let response = put_token(daemon.addr(), ttl).await;
        assert_eq!(response.status, 200, "ttl {ttl}: {response:?}");
        assert_eq!(
            response.header(&TTL_HEADER.to_ascii_lowercase()),
            Some(ttl),
            "the TTL header must be echoed (the Rust SDK needs it): {response:?}"
        );
        assert!(
            !response.body.is_empty() && !response.body.contains(char::is_whitespace),
            "ttl {ttl}: token {:?}",
            response.body
        );
        if ttl != "1" {
            let credentials =
                get_with_token(daemon.addr(), &credentials_path(), &response.body).await;
            let session = daemon
                .fake
                .session(credentials.json()["AccessKeyId"].as_str().unwrap());
            assert_imds_document(&credentials, &session, false, &format!("ttl {ttl}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn token_requests_without_a_valid_ttl_are_400() {
    let daemon = Daemon::web(&[]).await;
    let missing = request(daemon.addr(), "PUT", "/latest/api/token", &[]).await;
    assert_eq!(missing.status, 400, "no TTL header: {missing:?}");
    assert_eq!(missing.header(&TTL_HEADER.to_ascii_lowercase()), None);
    for ttl in [
        "0",
        "21601",
        "abc",
        "-1",
        "1.5",
        "",
        "0x10",
        "99999999999999999999",
    ] {
        let response = put_token(daemon.addr(), ttl).await;
        assert_eq!(response.status, 400, "ttl {ttl:?}: {response:?}");
        assert_eq!(
            response.header(&TTL_HEADER.to_ascii_lowercase()),
            None,
            "ttl {ttl:?}"
        );
        // Whatever the body is, it opens nothing.
        let get = get_with_token(daemon.addr(), &credentials_path(), &response.body).await;
        assert_eq!(
            get.status, 401,
            "body of a refused token request as a token"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarded_token_requests_are_403() {
    let daemon = Daemon::web(&[]).await;
    let response = request(
        daemon.addr(),
        "PUT",
        "/latest/api/token",
        &[(TTL_HEADER, "21600"), ("X-Forwarded-For", "192.0.2.7")],
    )
    .await;
    assert_eq!(response.status, 403, "{response:?}");
    let get = get_with_token(daemon.addr(), &credentials_path(), &response.body).await;
    assert_eq!(get.status, 401, "the 403 body is no token: {get:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_header_not_naming_the_listener_is_403() {
    let daemon = Daemon::web(&[]).await;
    let addr = daemon.addr();
    let token = token(addr).await;
    let port = addr.port();
    let other_port = if port == 65535 { 1 } else { port + 1 };
    for host in [
        "evil.example".to_owned(),
        format!("evil.example:{port}"),
        format!("127.0.0.1:{other_port}"),
        "127.0.0.2".to_owned(),
        "localhost".to_owned(),
        format!("127.0.0.2:{port}"),
        format!("169.254.169.254:{port}"),
    ] {
        let put = request_with_host(
            addr,
            "PUT",
            "/latest/api/token",
            Some(host.as_str()),
            &[(TTL_HEADER, "21600")],
        )
        .await;
        assert_eq!(put.status, 403, "token with Host {host:?}: {put:?}");
        let get = request_with_host(
            addr,
            "GET",
            &credentials_path(),
            Some(host.as_str()),
            &[(TOKEN_HEADER, &token)],
        )
        .await;
        assert_eq!(get.status, 403, "GET with Host {host:?}: {get:?}");
        assert_not_credentials(&get, &format!("Host {host:?}"));
    }
    // Its own address and, on loopback, localhost are fine, and so is no Host at all (the
    // AWS CRT's IMDS client of 2023 sends none) or its address without the port (today's
    // sends that): browsers (DNS rebinding) always send a name, and a port unless it is 80.
    for host in [
        Some(addr.to_string()),
        Some(format!("localhost:{port}")),
        None,
        Some(addr.ip().to_string()),
    ] {
        let get = request_with_host(
            addr,
            "GET",
            &credentials_path(),
            host.as_deref(),
            &[(TOKEN_HEADER, &token)],
        )
        .await;
        assert_eq!(get.status, 200, "Host {host:?}: {get:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_tampered_and_expired_tokens_are_401() {
    let daemon = Daemon::web(&[]).await;
    let addr = daemon.addr();
    let good = token(addr).await;
    let mut tampered = good.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    // The shape of a real token (base64url of 40 bytes), but not minted here.
    let forged = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned();
    for bad in [
        tampered,
        forged,
        "not-a-token".to_owned(),
        format!("{good}x"),
        good[..good.len() - 1].to_owned(),
    ] {
        let response = get_with_token(addr, &credentials_path(), &bad).await;
        assert_eq!(response.status, 401, "token {bad:?}: {response:?}");
        assert_not_credentials(&response, "bad token");
    }
    assert_eq!(
        get_with_token(addr, &credentials_path(), &good)
            .await
            .status,
        200
    );

    let short = put_token(addr, "1").await;
    assert_eq!(short.status, 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let expired = get_with_token(addr, &credentials_path(), &short.body).await;
    assert_eq!(expired.status, 401, "a token past its 1 s TTL: {expired:?}");
    assert_not_credentials(&expired, "expired token");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_token_is_401_unless_imds_v1_is_enabled() {
    let v2 = Daemon::web(&[]).await;
    for path in [
        credentials_path(),
        "/latest/meta-data/iam/security-credentials/".to_owned(),
        "/latest/meta-data/placement/region".to_owned(),
    ] {
        let response = request(v2.addr(), "GET", &path, &[]).await;
        assert_eq!(response.status, 401, "{path} without a token: {response:?}");
        assert_not_credentials(&response, &path);
    }

    let v1 = Daemon::web(&["--imds-v1"]).await;
    let response = request(v1.addr(), "GET", &credentials_path(), &[]).await;
    let session = v1
        .fake
        .session(response.json()["AccessKeyId"].as_str().unwrap());
    assert_imds_document(&response, &session, false, "IMDSv1 GET");
    let roles = request(
        v1.addr(),
        "GET",
        "/latest/meta-data/iam/security-credentials/",
        &[],
    )
    .await;
    assert_eq!((roles.status, roles.body.as_str()), (200, ROLE_NAME));
    // With IMDSv1 on, a token that is presented must still be good.
    let bad = get_with_token(v1.addr(), &credentials_path(), "not-a-token").await;
    assert_eq!(bad.status, 401, "bad token with --imds-v1: {bad:?}");
    // And tokens keep working.
    let token = token(v1.addr()).await;
    assert_eq!(
        get_with_token(v1.addr(), &credentials_path(), &token)
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_from_another_listener_or_process_is_401() {
    // Two listeners of one process for the same binding, and a second process.
    let daemon = Daemon::start(&["web", "web"], &[]).await;
    daemon.bind_web().await;
    let (a, b) = (daemon.addrs[0], daemon.addrs[1]);
    let token_a = token(a).await;
    let token_b = token(b).await;
    assert_eq!(
        get_with_token(a, &credentials_path(), &token_a)
            .await
            .status,
        200
    );
    assert_eq!(
        get_with_token(b, &credentials_path(), &token_b)
            .await
            .status,
        200
    );
    let crossed = get_with_token(b, &credentials_path(), &token_a).await;
    assert_eq!(crossed.status, 401, "token of {a} used on {b}: {crossed:?}");
    let crossed = get_with_token(a, &credentials_path(), &token_b).await;
    assert_eq!(crossed.status, 401, "token of {b} used on {a}: {crossed:?}");

    let other = Daemon::web(&[]).await;
    let foreign = get_with_token(other.addr(), &credentials_path(), &token_a).await;
    assert_eq!(foreign.status, 401, "token of another process: {foreign:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_role_is_404() {
    let daemon = Daemon::web(&[]).await;
    let token = token(daemon.addr()).await;
    for path in [
        "/latest/meta-data/iam/security-credentials/someone-else",
        "/latest/meta-data/iam/security-credentials-extended/someone-else",
        "/latest/meta-data/iam/security-credentials/needroleshere-test-2",
        "/latest/meta-data/iam/security-credentials/NEEDROLESHERE-TEST",
        "/latest/meta-data/no-such-thing",
    ] {
        let response = get_with_token(daemon.addr(), path, &token).await;
        assert_eq!(response.status, 404, "{path}: {response:?}");
        assert_not_credentials(&response, path);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_metadata_path_answers_with_and_without_a_trailing_slash() {
    let daemon = Daemon::web(&[]).await;
    let addr = daemon.addr();
    let token = token(addr).await;
    let get = |path: String| {
        let token = token.clone();
        async move {
            let response = get_with_token(addr, &path, &token).await;
            assert_eq!(response.status, 200, "{path}: {response:?}");
            response
        }
    };
    let both = |path: &str| [path.to_owned(), format!("{path}/")];

    for path in both("/latest/meta-data/iam/security-credentials")
        .into_iter()
        .chain(both("/latest/meta-data/iam/security-credentials-extended"))
    {
        assert_eq!(get(path).await.body.trim_end(), ROLE_NAME);
    }
    let mut key_ids = Vec::new();
    for (extended, path) in both(&credentials_path())
        .into_iter()
        .map(|p| (false, p))
        .chain(
            both(&format!(
                "/latest/meta-data/iam/security-credentials-extended/{ROLE_NAME}"
            ))
            .into_iter()
            .map(|p| (true, p)),
        )
    {
        let response = get(path.clone()).await;
        let key_id = response.json()["AccessKeyId"].as_str().unwrap().to_owned();
        assert_imds_document(&response, &daemon.fake.session(&key_id), extended, &path);
        key_ids.push(key_id);
    }
    key_ids.dedup();
    assert_eq!(key_ids.len(), 1, "one session for every credentials path");

    for path in both("/latest/meta-data/iam/info") {
        let info = get(path.clone()).await.json();
        assert_eq!(info["Code"], "Success", "{path}");
        assert_eq!(
            info["InstanceProfileArn"],
            format!("arn:aws:iam::{ACCOUNT_ID}:instance-profile/{ROLE_NAME}"),
            "{path}"
        );
        assert!(
            info["InstanceProfileId"]
                .as_str()
                .is_some_and(|id| id.starts_with("AIPA")),
            "{path}: {info}"
        );
        assert!(info["LastUpdated"].as_str().is_some(), "{path}: {info}");
        assert!(
            info.get("AccessKeyId").is_none(),
            "{path}: no credentials in info"
        );
    }
    for path in both("/latest/meta-data/placement/region") {
        assert_eq!(get(path).await.body, "us-east-1");
    }
    for path in both("/latest/meta-data/placement/availability-zone") {
        assert_eq!(get(path).await.body, "us-east-1a");
    }
    let mut instance_ids = Vec::new();
    for path in both("/latest/meta-data/instance-id") {
        let id = get(path.clone()).await.body;
        assert!(
            id.len() == 19
                && id.starts_with("i-")
                && id[2..].bytes().all(|b| b.is_ascii_hexdigit()),
            "{path}: {id:?}"
        );
        instance_ids.push(id);
    }
    instance_ids.dedup();
    assert_eq!(instance_ids.len(), 1, "a stable instance id");
    for path in both("/latest/dynamic/instance-identity/document") {
        let document = get(path.clone()).await.json();
        assert_eq!(document["region"], "us-east-1", "{path}");
        assert_eq!(document["availabilityZone"], "us-east-1a", "{path}");
        assert_eq!(document["accountId"], ACCOUNT_ID, "{path}");
        assert_eq!(document["instanceId"], instance_ids[0].as_str(), "{path}");
    }
    // The directory listings SDK tooling walks.
    for (path, entry) in [
        ("/latest/meta-data", "iam/"),
        ("/latest/meta-data/iam", "security-credentials/"),
        ("/latest/meta-data/placement", "region"),
        ("/latest/dynamic/instance-identity", "document"),
    ] {
        for path in both(path) {
            let body = get(path.clone()).await.body;
            assert!(body.lines().any(|l| l == entry), "{path}: {body:?}");
        }
    }
    // One CreateSession for all of it (and one by bind).
    assert_eq!(daemon.sessions(), 2);
}

/// The listener serves the binding as it is now: a rebind to another role is what the very
/// next request describes and gets credentials for.
#[tokio::test(flavor = "multi_thread")]
async fn a_rebind_to_another_role_is_served_at_the_next_request() {
    let daemon = Daemon::web(&[]).await;
    let token = token(daemon.addr()).await;
    let roles_path = "/latest/meta-data/iam/security-credentials/";
    let roles = get_with_token(daemon.addr(), roles_path, &token).await;
    assert_eq!((roles.status, roles.body.as_str()), (200, ROLE_NAME));
    let first = get_with_token(daemon.addr(), &credentials_path(), &token).await;
    assert_eq!(first.status, 200, "{first:?}");

    let mut args = common::daemon::identity_args_from(
        &common::pki_file("rsa2048.fullchain.pem"),
        &common::pki_file("rsa2048.pkcs8.key"),
        fake_aws::OTHER_ROLE_ARN,
    );
    args.extend(
        [
            "--mode",
            "imds",
            "--url",
            &format!("http://{}", daemon.addr()),
        ]
        .map(str::to_owned),
    );
    args.extend(["--endpoint".to_owned(), daemon.fake.url()]);
    bind_ok(daemon.dir.path(), "web", &args).await;

    let roles = get_with_token(daemon.addr(), roles_path, &token).await;
    assert_eq!(
        (roles.status, roles.body.as_str()),
        (200, "needroleshere-other")
    );
    let old = get_with_token(daemon.addr(), &credentials_path(), &token).await;
    assert_eq!(old.status, 404, "the old role is still served: {old:?}");
    let other = "/latest/meta-data/iam/security-credentials/needroleshere-other";
    let second = get_with_token(daemon.addr(), other, &token).await;
    assert_eq!(second.status, 200, "{second:?}");
    let key = |r: &Response| {
        serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["AccessKeyId"].clone()
    };
    assert_ne!(key(&second), key(&first));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_binding_not_in_imds_mode_on_an_imds_listener_is_500_and_serves_nothing() {
    let daemon = Daemon::start(&["web"], &[]).await;
    let mut args = identity_args("rsa2048");
    args.extend(mode_args("ecs-full", "http://127.0.0.1:7224"));
    args.extend(["--endpoint".to_owned(), daemon.fake.url()]);
    bind_ok(daemon.dir.path(), "web", &args).await;
    assert_eq!(daemon.sessions(), 1, "bind validated once");

    let token = token(daemon.addr()).await;
    for path in [
        credentials_path(),
        format!("/latest/meta-data/iam/security-credentials-extended/{ROLE_NAME}"),
        "/latest/meta-data/iam/security-credentials/".to_owned(),
        "/latest/meta-data/iam/info".to_owned(),
        "/latest/meta-data/placement/region".to_owned(),
        "/latest/meta-data/instance-id".to_owned(),
        "/latest/dynamic/instance-identity/document".to_owned(),
    ] {
        let response = get_with_token(daemon.addr(), &path, &token).await;
        assert_eq!(response.status, 500, "{path}: {response:?}");
        assert_not_credentials(&response, &path);
        assert!(
            !response.body.contains(ROLE_NAME) && !response.body.contains(ACCOUNT_ID),
            "{path}: nothing of the binding is served: {response:?}"
        );
    }
    assert_eq!(daemon.sessions(), 1, "serve made no CreateSession");
    let log = daemon.serve.log();
    assert!(log.contains("not in imds mode"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_role_is_a_5xx_never_a_success_document() {
    let daemon = Daemon::start(&["web"], &[]).await;
    let mut args = common::daemon::identity_args_from(
        &common::pki_file("rsa2048.fullchain.pem"),
        &common::pki_file("rsa2048.pkcs8.key"),
        FORBIDDEN_ROLE_ARN,
    );
    args.extend(
        [
            "--mode",
            "imds",
            "--url",
            "http://127.0.0.1:1",
            "--no-validate",
            "--endpoint",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    args.push(daemon.fake.url());
    bind_ok(daemon.dir.path(), "web", &args).await;
    assert_eq!(daemon.fake.fake.request_count(), 0, "--no-validate");

    let token = token(daemon.addr()).await;
    let roles = get_with_token(
        daemon.addr(),
        "/latest/meta-data/iam/security-credentials/",
        &token,
    )
    .await;
    assert_eq!((roles.status, roles.body.as_str()), (200, "not-in-profile"));
    for path in [
        "/latest/meta-data/iam/security-credentials/not-in-profile",
        "/latest/meta-data/iam/security-credentials-extended/not-in-profile",
    ] {
        let response = get_with_token(daemon.addr(), path, &token).await;
        eprintln!("{path}: {} {:?}", response.status, response.body);
        assert!(
            (500..600).contains(&response.status),
            "{path}: a refused CreateSession must be 5xx: {response:?}"
        );
        assert_ne!(response.status, 401, "401 means 'get a new token' to SDKs");
        assert_not_credentials(&response, path);
        assert!(!response.body.trim().is_empty(), "{path}: a message");
    }
    assert!(
        daemon.fake.fake.request_count() >= 1 && daemon.fake.fake.sessions().is_empty(),
        "serve asked and was refused"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_create_session_for_many_requests_and_listeners() {
    let daemon = Daemon::start(&["web", "web"], &[]).await;
    daemon.bind_web().await;
    assert_eq!(daemon.sessions(), 1, "bind validated once");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let addr = daemon.addrs[i % 2];
        tasks.spawn(async move {
            let token = token(addr).await;
            let response = get_with_token(addr, &credentials_path(), &token).await;
            assert_eq!(response.status, 200, "{response:?}");
            response.json()["AccessKeyId"].as_str().unwrap().to_owned()
        });
    }
    let mut key_ids = Vec::new();
    while let Some(key_id) = tasks.join_next().await {
        key_ids.push(key_id.unwrap());
    }
    for addr in &daemon.addrs {
        let token = token(*addr).await;
        for _ in 0..5 {
            let response = get_with_token(*addr, &credentials_path(), &token).await;
            key_ids.push(response.json()["AccessKeyId"].as_str().unwrap().to_owned());
        }
    }
    key_ids.sort();
    key_ids.dedup();
    assert_eq!(key_ids.len(), 1, "every request got the same credentials");
    assert_eq!(
        daemon.sessions(),
        2,
        "one CreateSession by serve for 50 requests on two listeners"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ecs_and_imds_fronts_of_one_serve_share_the_cache() {
    // One process with an ECS listener and an IMDS listener for binding `web`. The cache is
    // keyed by binding and identity, so the same binding reached through either front must
    // reuse the credentials the other fetched.
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (serve, ports) = start_serve(2, |p| ServeOptions {
        dir: dir.path().to_owned(),
        args: vec![
            "--listen".into(),
            format!("127.0.0.1:{}", p[0]),
            "--listen-imds".into(),
            format!("127.0.0.1:{}=web", p[1]),
        ],
        ..ServeOptions::default()
    })
    .await;
    let (ecs, imds) = (loopback(ports[0]), loopback(ports[1]));

    // Through the ECS front first.
    let mut args = identity_args("rsa2048");
    args.extend(mode_args("ecs-full", &format!("http://{ecs}")));
    args.extend(["--endpoint".to_owned(), fake.url()]);
    bind_ok(dir.path(), "web", &args).await;
    let env = common::daemon::read_env(&common::daemon::env_file(dir.path(), "web"));
    let from_ecs = common::daemon::get_as_sdk(&common::daemon::Target::Tcp(ecs), &env).await;
    let ecs_key = common::daemon::access_key_id(&from_ecs);
    assert_eq!(fake.fake.sessions().len(), 2, "bind + the ECS front");

    // The same binding, same identity, now in imds mode (no validation call): the IMDS front
    // answers from the cache.
    let mut args = identity_args("rsa2048");
    args.extend(
        [
            "--mode",
            "imds",
            "--url",
            &format!("http://{imds}"),
            "--no-validate",
            "--endpoint",
            &fake.url(),
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    bind_ok(dir.path(), "web", &args).await;
    let token = token(imds).await;
    let from_imds = get_with_token(imds, &credentials_path(), &token).await;
    assert_imds_document(&from_imds, &fake.session(&ecs_key), false, "IMDS front");
    assert_eq!(
        fake.fake.sessions().len(),
        2,
        "the IMDS front reused what the ECS front fetched"
    );
    assert!(!serve.log().contains("panicked"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_helper_serve_speaks_the_same_protocol() {
    // `serve <identity flags> --port P`, IMDSv2 only by default, IMDSv1 with --imds-v1.
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    for v1 in [false, true] {
        let (serve, ports) = start_serve(1, |p| {
            let mut args = identity_args("p384");
            args.extend([
                "--endpoint".into(),
                fake.url(),
                "--port".into(),
                p[0].to_string(),
            ]);
            if v1 {
                args.push("--imds-v1".into());
            }
            ServeOptions {
                dir: dir.path().to_owned(),
                args,
                ..ServeOptions::default()
            }
        })
        .await;
        let addr = loopback(ports[0]);
        let response = put_token(addr, "21600").await;
        assert_eq!(
            response.header(&TTL_HEADER.to_ascii_lowercase()),
            Some("21600")
        );
        assert_eq!(put_token(addr, "0").await.status, 400);
        let roles = get_with_token(
            addr,
            "/latest/meta-data/iam/security-credentials/",
            &response.body,
        )
        .await;
        assert_eq!((roles.status, roles.body.as_str()), (200, ROLE_NAME));
        let with_token = get_with_token(addr, &credentials_path(), &response.body).await;
        let session = fake.session(with_token.json()["AccessKeyId"].as_str().unwrap());
        assert_imds_document(&with_token, &session, false, "helper serve");
        let without = request(addr, "GET", &credentials_path(), &[]).await;
        if v1 {
            assert_imds_document(&without, &session, false, "helper serve --imds-v1");
        } else {
            assert_eq!(
                without.status, 401,
                "helper serve without --imds-v1: {without:?}"
            );
        }
        let host = request_with_host(
            addr,
            "GET",
            &credentials_path(),
            Some("rebind.example"),
            &[(TOKEN_HEADER, &response.body)],
        )
        .await;
        assert_eq!(host.status, 403);
        drop(serve);
    }
}
