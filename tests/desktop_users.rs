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

use common::daemon::{free_port, is_root};
use common::profiles::{Desktop, World};

const NOBODY: &str = "65534";

/// `curl` as `uid` (through setpriv unless root): (status, body).
async fn curl_as(uid: &str, args: &[&str]) -> (u16, String) {
    let mut command = if uid == "0" {
        tokio::process::Command::new("curl")
    } else {
        let mut command = tokio::process::Command::new("setpriv");
        command.args([
            &format!("--reuid={uid}"),
            &format!("--regid={uid}"),
            "--clear-groups",
            "curl",
        ]);
        command
    };
    let output = command
        .args(["-sS", "--noproxy", "*", "-w", "\n%{http_code}"])
        .args(args)
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .output()
        .await
        .expect("run curl");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    let status = status.trim().parse().unwrap_or_else(|_| {
        panic!(
            "curl as {uid} printed no status: {text}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (status, body.to_owned())
}

fn can_switch_users() -> bool {
    if !is_root() {
        eprintln!("skipped: needs root to act as another user");
        return false;
    }
    true
}

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
    let (status, body) = curl_as("0", &[&credentials]).await;
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
    let (status, body) = curl_as("0", &[&profile]).await;
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
    let (status, body) = curl_as("0", &["-H", &header, &url]).await;
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
