//! AWS profiles go through the same credential cache as bindings, and every front answers
//! an upstream failure the same way: through the real binary and real sockets, against the
//! strict STS double (`serve ecs|ec2 PROFILE`, the world of `tests/profiles.rs`) and the
//! strict Roles Anywhere double (`serve` with bindings), with scripted faults.
//!
//! * A profile's credentials are refreshed in the background before they expire, with no
//!   request waiting (`Fault::ShortLived` makes the STS issue credentials that live
//!   seconds: real STS refuses `DurationSeconds` under 900).
//! * Through an STS outage the last good credentials are served while valid, also after the
//!   background refresh failed.
//! * Concurrent requests for one profile make one upstream call (single flight).
//! * A caller that goes away does not cancel the fetch it started; the next caller gets
//!   its result.
//! * The same upstream failure gets the same answer on the binding ECS endpoint, the desktop
//!   ECS endpoint and IMDS; the cause goes to the log only.
//!
//! The refresh tests wait in real time (the binary's clock cannot be moved): each wait is a
//! poll with a deadline that leaves generous slack, since these machines are shared and
//! noisy.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::daemon::{Target, get};
use common::hostile::{Daemon, WEB};
use common::imds::{TOKEN_HEADER, token};
use common::profiles::{Desktop, World};
use fake_aws::faults::Fault;
use fake_aws::sts::FakeSts;
use tokio::io::AsyncWriteExt as _;
use tokio::time::Instant;

/// The `AccessKeyId` of a 200 answer of the desktop ECS endpoint.
fn key_of((status, body): &(u16, String)) -> String {
    assert_eq!(*status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    json["AccessKeyId"].as_str().unwrap().to_owned()
}

/// Polls `done` every 50 ms until it holds; fails with `what()` after `limit`.
async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool, what: impl Fn() -> String) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "not within {limit:?}: {}",
            what()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The access key ids the STS issued, oldest first.
fn issued_keys(sts: &FakeSts) -> Vec<String> {
    sts.issued().into_iter().map(|(key, _)| key).collect()
}

/// How many requests reached the STS (answered, faulted or dropped mid-stall).
fn arrivals(sts: &FakeSts) -> usize {
    sts.faults().arrivals().len()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_profile_role_is_refreshed_before_expiry_with_no_request_waiting() {
    const LIFETIME: Duration = Duration::from_secs(30);
    let world = World::new().await;
    world.sts.faults().fail_all(Fault::ShortLived(LIFETIME));
    let server = Desktop::start(&world, "ecs", "developer").await;

    let first = key_of(&server.credentials("/credentials").await);
    assert_eq!(issued_keys(&world.sts), std::slice::from_ref(&first));
    let issued_at = Instant::now();

    // No request from here on. The refresh is due at about half the lifetime (15 s), made
    // earlier by up to a tenth of it (3 s); 10 s of slack on top.
    wait_until(
        LIFETIME / 2 + Duration::from_secs(10),
        || world.sts.calls("AssumeRole") >= 2,
        || {
            format!(
                "no background refresh: the STS saw {} AssumeRole in the {:?} after the first \
                 (credentials living {LIFETIME:?}, no request waiting)",
                world.sts.calls("AssumeRole"),
                issued_at.elapsed()
            )
        },
    )
    .await;
    let refreshed_after = issued_at.elapsed();
    assert!(
        refreshed_after >= LIFETIME / 3,
        "refreshed {refreshed_after:?} after the first AssumeRole: too early for credentials \
         living {LIFETIME:?}"
    );
    let keys = issued_keys(&world.sts);
    assert_eq!(keys.len(), 2, "{keys:?}");

    // The new credentials answer at once (the refresh's answer may still be on its way to
    // the server for a few milliseconds: poll briefly), and no request fetched anything.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let started = Instant::now();
        let key = key_of(&server.credentials("/credentials").await);
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "a request waited {:?}",
            started.elapsed()
        );
        if key == keys[1] {
            break;
        }
        assert_eq!(
            key, first,
            "neither the first nor the refreshed credentials"
        );
        assert!(
            Instant::now() < deadline,
            "the refreshed credentials are not served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(world.sts.calls("AssumeRole"), 2, "a request made a fetch");
}

#[tokio::test(flavor = "multi_thread")]
async fn during_an_sts_outage_the_last_good_credentials_are_served_while_valid() {
    // The refresh is due at 70 s left (56-70 s in, with up to 14 s of jitter). 140 s rather
    // than 120 s: the last-good margin is 60 s today, and with 120 s credentials a request
    // right after the refresh would find at most 60-72 s left, too close to it.
    const LIFETIME: Duration = Duration::from_secs(140);
    let world = World::new().await;
    let faults = world.sts.faults();
    faults.fail_all(Fault::ShortLived(LIFETIME));
    let server = Desktop::start(&world, "ecs", "developer").await;
    let good = key_of(&server.credentials("/credentials").await);
    let issued_at = Instant::now();

    faults.fail_all(Fault::sts_unavailable());
    // Early in the outage: fresh credentials, answered from the cache.
    let answer = server.credentials("/credentials").await;
    assert_eq!(
        answer.0, 200,
        "fresh credentials were not served during an STS outage: {answer:?}"
    );
    assert_eq!(key_of(&answer), good);

    // The background refresh starts at the refresh point and fails.
    wait_until(
        LIFETIME / 2 + Duration::from_secs(8),
        || arrivals(&world.sts) >= 2,
        || {
            format!(
                "no refresh attempt reached the STS {:?} after the first AssumeRole",
                issued_at.elapsed()
            )
        },
    )
    .await;
    let refresh_started = Instant::now();
    let refused = || {
        faults
            .injected()
            .iter()
            .filter(|f| *f == "status 503")
            .count()
    };
    wait_until(
        Duration::from_secs(5),
        || refused() >= 1,
        || format!("the refresh was not answered: {:?}", faults.injected()),
    )
    .await;
    // Let its retries end too (at most 1.4 s of backoff between four attempts).
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Past the refresh point, the refresh failed, the credentials are still valid: served.
    let answer = server.credentials("/credentials").await;
    assert_eq!(
        answer.0,
        200,
        "{:?} after the first AssumeRole, {:?} after the failed refresh began, {:?} left: \
         {answer:?}",
        issued_at.elapsed(),
        refresh_started.elapsed(),
        LIFETIME.saturating_sub(issued_at.elapsed())
    );
    assert_eq!(key_of(&answer), good);
    assert_eq!(issued_keys(&world.sts), [good], "the outage issued nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_requests_for_one_profile_make_one_assume_role() {
    // Under ten minutes: today's rule re-fetches such credentials on every request.
    let world = World::new().await;
    world
        .sts
        .faults()
        .fail_all(Fault::ShortLived(Duration::from_secs(300)));
    let server = Desktop::start(&world, "ecs", "developer").await;
    let target = Target::Tcp(SocketAddr::from(([127, 0, 0, 1], server.port)));
    let token = server.export("AWS_CONTAINER_AUTHORIZATION_TOKEN");

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let target = target.clone();
        let token = token.clone();
        tasks
            .spawn(async move { get(&target, "/credentials", &[("Authorization", &token)]).await });
    }
    let mut keys = Vec::new();
    while let Some(response) = tasks.join_next().await {
        let response = response.unwrap();
        assert_eq!(response.status, 200, "{response:?}");
        keys.push(response.json()["AccessKeyId"].as_str().unwrap().to_owned());
    }

    assert_eq!(
        world.sts.calls("AssumeRole"),
        1,
        "50 concurrent requests for one profile made {} AssumeRole calls",
        world.sts.calls("AssumeRole")
    );
    keys.dedup();
    assert_eq!(
        keys,
        issued_keys(&world.sts),
        "all 50 got the one issued key"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caller_that_disconnects_mid_fetch_does_not_cancel_it() {
    const STALL: Duration = Duration::from_secs(2);
    let world = World::new().await;
    let faults = world.sts.faults();
    faults.push(Fault::Stall(STALL));
    let server = Desktop::start(&world, "ecs", "developer").await;

    // A client that asks, then gives up while the AssumeRole it caused is stalled (as an
    // SDK times out after 1-5 s).
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let request = format!(
        "GET /credentials HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: {}\r\n\r\n",
        server.port,
        server.export("AWS_CONTAINER_AUTHORIZATION_TOKEN")
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    wait_until(
        Duration::from_secs(5),
        || arrivals(&world.sts) >= 1,
        || "the request caused no call to the STS".to_owned(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(faults.injected(), ["stall 2000 ms"]);
    drop(stream);
    let gave_up = Instant::now();

    // The stalled AssumeRole is answered once the stall is over (2 s; 3 s of slack).
    wait_until(
        STALL + Duration::from_secs(3),
        || world.sts.calls("AssumeRole") >= 1,
        || {
            format!(
                "the STS answered no AssumeRole {:?} after the caller left: the fetch was \
                 cancelled with its caller ({} request(s) reached the STS)",
                gave_up.elapsed(),
                arrivals(&world.sts)
            )
        },
    )
    .await;
    let issued = issued_keys(&world.sts);
    assert_eq!(issued.len(), 1, "{issued:?}");
    // Give the server a moment to take the answer in.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let key = key_of(&server.credentials("/credentials").await);
    assert_eq!(
        key, issued[0],
        "the next caller gets the first fetch's credentials"
    );
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(arrivals(&world.sts), 1, "one AssumeRole in all");
}

/// One kind of upstream failure, as each fake says it.
struct Failure {
    roles_anywhere: Fault,
    sts: Fault,
}

impl Failure {
    /// The upstreams' own error messages: no caller may see them.
    fn upstream_messages(&self) -> Vec<String> {
        [&self.roles_anywhere, &self.sts]
            .into_iter()
            .map(|fault| match fault {
                Fault::Status { message, .. } => message.clone(),
                other => panic!("not an error answer: {other:?}"),
            })
            .collect()
    }
}

/// The answers (endpoint, status, body) of the binding ECS endpoint, the desktop ECS
/// endpoint, a binding IMDS listener and the desktop IMDS server to a first credential
/// request (nothing cached) while every upstream call fails with `failure`.
async fn answers_to(failure: &Failure) -> Vec<(&'static str, u16, String)> {
    let world = World::new().await;
    world.sts.faults().fail_all(failure.sts.clone());
    let daemon = Daemon::start(&[]).await;
    daemon
        .fake
        .fake
        .faults()
        .fail_all(failure.roles_anywhere.clone());
    let ecs_desktop = Desktop::start(&world, "ecs", "developer").await;
    let ec2_desktop = Desktop::start(&world, "ec2", "developer").await;

    let binding_ecs = daemon.get(WEB);
    let desktop_ecs = ecs_desktop.credentials("/credentials");
    let binding_imds = async {
        let imds = Target::Tcp(daemon.imds);
        let session = token(daemon.imds).await;
        let headers = [(TOKEN_HEADER, session.as_str())];
        let listing = "/latest/meta-data/iam/security-credentials/";
        let role = get(&imds, listing, &headers).await;
        assert_eq!(role.status, 200, "{role:?}");
        get(&imds, &format!("{listing}{}", role.body), &headers).await
    };
    let desktop_imds = ec2_desktop.request(
        "GET",
        "/latest/meta-data/iam/security-credentials/developer",
        &[],
        "",
    );
    let (binding_ecs, desktop_ecs, binding_imds, desktop_imds) =
        tokio::join!(binding_ecs, desktop_ecs, binding_imds, desktop_imds);
    vec![
        ("binding ECS", binding_ecs.status, binding_ecs.body),
        ("desktop ECS", desktop_ecs.0, desktop_ecs.1),
        ("binding IMDS", binding_imds.status, binding_imds.body),
        ("desktop IMDS", desktop_imds.0, desktop_imds.1),
    ]
}

/// What every endpoint must answer: ECS `{"Code","Message"}`, IMDS the message as text.
fn expected(status: u16, code: &str, message: &str) -> Vec<(&'static str, u16, String)> {
    let ecs = format!(r#"{{"Code":"{code}","Message":"{message}"}}"#);
    vec![
        ("binding ECS", status, ecs.clone()),
        ("desktop ECS", status, ecs),
        ("binding IMDS", status, message.to_owned()),
        ("desktop IMDS", status, message.to_owned()),
    ]
}

/// No answer shows the upstreams' own error messages: the cause goes to the log only.
fn assert_no_upstream_message(failure: &Failure, answers: &[(&'static str, u16, String)]) {
    for (endpoint, _, body) in answers {
        for message in failure.upstream_messages() {
            assert!(
                !body.contains(&message),
                "{endpoint} shows the upstream's message: {body}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_upstream_failure_gets_the_same_answer_on_every_endpoint() {
    let outage = Failure {
        roles_anywhere: Fault::server_error(503),
        sts: Fault::sts_unavailable(),
    };
    let refusal = Failure {
        roles_anywhere: Fault::Status {
            status: 403,
            error_type: "AccessDeniedException".into(),
            message: "Untrusted signing certificate (refused by the test)".into(),
        },
        sts: Fault::Status {
            status: 403,
            error_type: "AccessDenied".into(),
            message: "User: arn:aws:iam::123456789012:user/bob is not authorized to perform: \
                      sts:AssumeRole (refused by the test)"
                .into(),
        },
    };
    // Each with its own servers, concurrently.
    let (outage_answers, refusal_answers) = tokio::join!(answers_to(&outage), answers_to(&refusal));
    let expected_outage = expected(
        503,
        "UpstreamUnavailable",
        "AWS is unavailable; try again later",
    );
    let expected_refusal = expected(
        502,
        "UpstreamRefused",
        "AWS refused the request for credentials",
    );
    assert_eq!(
        (&outage_answers, &refusal_answers),
        (&expected_outage, &expected_refusal),
        "(an outage: 503 on every call, a refusal: 403 AccessDenied): the answers of \
         (binding ECS, desktop ECS, binding IMDS, desktop IMDS)"
    );
    assert_no_upstream_message(&outage, &outage_answers);
    assert_no_upstream_message(&refusal, &refusal_answers);
}
