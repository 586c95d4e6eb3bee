//! The desktop servers (`serve ec2`, `serve ecs`) answer only the user who started them and
//! root: IMDS has no bearer token and the management API switches the profile every
//! program gets, so any other local user could otherwise take the developer's
//! credentials. Another user is played by `setpriv` dropping to nobody (65534) for `curl`;
//! the tests need root and are skipped without it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use common::daemon::free_port;
use common::profiles::{Desktop, World};
use common::users::{can_switch_users, curl_as};

const NOBODY: u32 = 65534;

#[tokio::test(flavor = "multi_thread")]
async fn serve_ec2_answers_only_its_own_user_and_root() {
    if !can_switch_users() {
        return;
    }
    let world = World::new().await;
    let server = Desktop::start(&world, "ec2", "developer").await;
    let credentials = format!(
        "{}latest/meta-data/iam/security-credentials/developer",
        server.url()
    );
    // The owner (root here) gets credentials with IMDSv1.
    let (status, body) = curl_as(0, &[&credentials]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("SecretAccessKey"), "{body}");

    // Another user gets nothing: not credentials, not a profile switch, not a token.
    let (status, body) = curl_as(NOBODY, &[&credentials]).await;
    assert_eq!(status, 403, "another user got credentials: {body}");
    assert!(!body.contains("SecretAccessKey"), "{body}");
    assert!(body.contains("--allow-other-users"), "{body}");
    let profile = format!("{}profile", server.url());
    let (status, body) = curl_as(
        NOBODY,
        &[
            "-X",
            "POST",
            "-H",
            "X-Requested-By: needroleshere",
            "--data",
            "alice",
            &profile,
        ],
    )
    .await;
    assert_eq!(status, 403, "another user switched the profile: {body}");
    let token = format!("{}latest/api/token", server.url());
    let (status, body) = curl_as(
        NOBODY,
        &[
            "-X",
            "PUT",
            "-H",
            "X-aws-ec2-metadata-token-ttl-seconds: 60",
            &token,
        ],
    )
    .await;
    assert_eq!(status, 403, "another user got an IMDS token: {body}");
    // The active profile did not change.
    let (status, body) = curl_as(0, &[&profile]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("developer"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_ecs_refuses_other_users_even_with_the_token() {
    if !can_switch_users() {
        return;
    }
    let world = World::new().await;
    let server = Desktop::start(&world, "ecs", "developer").await;
    let token = server.export("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    let url = format!("{}credentials", server.url());
    let header = format!("Authorization: {token}");
    let (status, body) = curl_as(NOBODY, &["-H", &header, &url]).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = curl_as(0, &["-H", &header, &url]).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn allow_other_users_serves_everyone() {
    if !can_switch_users() {
        return;
    }
    let world = World::new().await;
    let port = free_port();
    let server = Desktop::start_with(
        &world,
        "ec2",
        port,
        &["-p", &port.to_string(), "--allow-other-users", "developer"],
    )
    .await;
    let credentials = format!(
        "{}latest/meta-data/iam/security-credentials/developer",
        server.url()
    );
    let (status, body) = curl_as(NOBODY, &[&credentials]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("SecretAccessKey"), "{body}");
}
