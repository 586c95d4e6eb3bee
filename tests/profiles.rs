//! AWS profiles end to end, through the real binary and real SDKs, against the strict STS
//! double: a user's keys → an MFA session → a role → a chained role. Credentials are proved
//! with GetCallerIdentity made by boto3 or the AWS CLI, which the double verifies.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::daemon::{assert_success, awscli, free_port, python};
use common::profiles::{Desktop, World};
use fake_aws::sts::{
    ADMIN_ROLE_ARN, ALICE_MFA_SECRET, ALICE_SECRET_ACCESS_KEY, AUDITOR_ROLE_ARN, BOB_ACCESS_KEY_ID,
    BOB_SECRET_ACCESS_KEY, DEVELOPER_ROLE_ARN,
};

const BIN: &str = env!("CARGO_BIN_EXE_needroleshere");

#[tokio::test(flavor = "multi_thread")]
async fn serve_ecs_vends_a_role_that_needs_no_mfa() {
    let world = World::new().await;
    let server = Desktop::start(&world, "ecs", "developer").await;
    assert_eq!(
        server.export("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
        format!("http://127.0.0.1:{}/credentials", server.port)
    );
    let arn = world.boto3_caller(&server.exports).await;
    assert!(
        arn.starts_with("arn:aws:sts::123456789012:assumed-role/developer/"),
        "{arn}"
    );
    // Without the token: refused.
    let (status, _) = server.request("GET", "/credentials", &[], "").await;
    assert_eq!(status, 401);
}

/// An IDE configured with the token keeps working after a restart; --new-token changes it.
#[tokio::test(flavor = "multi_thread")]
async fn serve_ecs_keeps_its_token_across_restarts_unless_asked_for_a_new_one() {
    use std::os::unix::fs::PermissionsExt as _;
    const TOKEN: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN";
    let world = World::new().await;
    let first = Desktop::start(&world, "ecs", "developer").await;
    let token = first.export(TOKEN);
    drop(first);
    let file = world.home.path().join(".config/needroleshere/ecs-token");
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("{token}\n")
    );

    let restarted = Desktop::start(&world, "ecs", "developer").await;
    assert_eq!(restarted.export(TOKEN), token);
    let arn = world.boto3_caller(&restarted.exports).await;
    assert!(arn.contains("assumed-role/developer/"), "{arn}");
    drop(restarted);

    let port = free_port();
    let renewed = Desktop::start_with(
        &world,
        "ecs",
        port,
        &["-p", &port.to_string(), "--new-token", "developer"],
    )
    .await;
    let new_token = renewed.export(TOKEN);
    assert_ne!(new_token, token);
    let (status, _) = renewed
        .request("GET", "/credentials", &[("Authorization", &token)], "")
        .await;
    assert_eq!(status, 401, "the old token no longer works");
    let (status, _) = renewed.credentials("/credentials").await;
    assert_eq!(status, 200);
    drop(renewed);

    // A token file others may read is refused, with the reason.
    let loose = world.home.path().join("loose-token");
    std::fs::write(&loose, "shared-token\n").unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = world
        .command(BIN)
        .args([
            "serve",
            "ecs",
            "-p",
            &free_port().to_string(),
            "--token-file",
        ])
        .arg(&loose)
        .arg("developer")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refusing the token file") && stderr.contains("mode is 0644, not 0600"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mfa_is_asked_once_per_session_and_switching_changes_the_credentials() {
    let world = World::new().await;
    let server = Desktop::start(&world, "ecs", "admin").await;

    // A credential request never waits for a person: it answers at once.
    let (status, body) = server.credentials("/credentials").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("MfaRequired"), "{body}");

    // State changes need the anti-forgery header; a wrong code is refused; a good one works.
    let (status, _) = server
        .request(
            "POST",
            "/mfa",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            "mfa=123456",
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = server.post("/mfa", "mfa=12345").await;
    assert_eq!(status, 400, "{body}");
    let wrong = if world.code() == "000000" {
        "111111"
    } else {
        "000000"
    };
    let (status, body) = server.post("/mfa", &format!("mfa={wrong}")).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = server.post("/mfa", &format!("mfa={}", world.code())).await;
    assert_eq!(status, 200, "{body}");
    let arn = world.boto3_caller(&server.exports).await;
    assert!(
        arn.starts_with("arn:aws:sts::123456789012:assumed-role/admin/"),
        "{arn}"
    );
    // The wrong code and the right one: two GetSessionToken calls, one session.
    let sessions = world.sts.calls("GetSessionToken");
    assert_eq!(sessions, 2);

    // Switch to the chained role: the MFA session serves it, no new code.
    let (status, body) = server
        .request(
            "POST",
            "/profile",
            &[("X-Requested-By", "needroleshere")],
            "auditor",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let arn = world.boto3_caller(&server.exports).await;
    assert!(
        arn.starts_with("arn:aws:sts::123456789012:assumed-role/auditor/"),
        "{arn}"
    );
    assert_eq!(
        world.sts.calls("GetSessionToken"),
        sessions,
        "one MFA session for both roles"
    );

    // Another profile without switching, and the active profile as the API reports it.
    let (status, body) = server.credentials("/credentials/developer").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.request("GET", "/profile", &[], "").await;
    assert_eq!(status, 200);
    let profile: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(profile["name"], "auditor");
    assert_eq!(profile["roleArn"], AUDITOR_ROLE_ARN);
    assert!(profile["session"]["expiration"].is_string(), "{body}");
    assert!(
        !body.contains("secret"),
        "no secrets in the management API: {body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_switch_leaves_the_active_profile() {
    let world = World::new().await;
    let server = Desktop::start(&world, "ecs", "developer").await;
    let (status, body) = server
        .request(
            "POST",
            "/profile",
            &[("X-Requested-By", "needroleshere")],
            "nope",
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = server
        .request(
            "POST",
            "/profile",
            &[("X-Requested-By", "needroleshere")],
            "loop-a",
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("loop-a -> loop-b -> loop-a"), "{body}");
    // A switch that needs a code: 401 with the aws-runas header, and nothing changes yet.
    let (status, _) = server
        .request(
            "POST",
            "/profile",
            &[("X-Requested-By", "needroleshere")],
            "admin",
        )
        .await;
    assert_eq!(status, 401);
    let (_, body) = server.request("GET", "/profile", &[], "").await;
    assert!(body.contains("\"name\":\"developer\""), "{body}");
    let arn = world.boto3_caller(&server.exports).await;
    assert!(arn.contains("assumed-role/developer/"), "{arn}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_management_api_lists_profiles_and_guards_itself() {
    let world = World::new().await;
    let server = Desktop::start(&world, "ecs", "developer").await;
    let (_, body) = server.request("GET", "/list-roles", &[], "").await;
    let roles: Vec<String> = serde_json::from_str(&body).unwrap();
    assert_eq!(
        roles,
        [
            "admin",
            "admin-totp",
            "auditor",
            "developer",
            "loop-a",
            "loop-b"
        ]
    );
    let (_, body) = server.request("GET", "/list-profiles", &[], "").await;
    let profiles: Vec<String> = serde_json::from_str(&body).unwrap();
    assert_eq!(profiles, ["alice", "bob", "default"]);
    // DNS rebinding and cross-site requests.
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut stream,
        b"GET /list-roles HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut raw)
        .await
        .unwrap();
    assert_eq!(common::daemon::parse_response(&raw).unwrap().status, 403);
    let (status, _) = server
        .request(
            "POST",
            "/profile",
            &[
                ("X-Requested-By", "needroleshere"),
                ("Origin", "http://evil.example"),
            ],
            "admin",
        )
        .await;
    assert_eq!(status, 403);
    // /manage/session: bad code format, unknown profile, neither.
    let (status, _) = server.post("/manage/session", "token=12x456").await;
    assert_eq!(status, 400);
    let (status, _) = server.post("/manage/session", "profile=nope").await;
    assert_eq!(status, 400);
    let (status, _) = server.post("/manage/session", "").await;
    assert_eq!(status, 400);
    let (status, body) = server
        .request(
            "POST",
            "/manage/session",
            &[
                ("X-Requested-By", "needroleshere"),
                ("Content-Type", "application/json"),
            ],
            &format!("{{\"token\":\"{}\",\"profile\":\"admin\"}}", world.code()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server
        .request("GET", "/manage/profiles/admin", &[], "")
        .await;
    assert_eq!(status, 200);
    assert!(body.contains(ADMIN_ROLE_ARN), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_ec2_vends_through_imds_with_a_generated_code() {
    let world = World::new().await;
    let server = Desktop::start(&world, "ec2", "admin-totp").await;
    let endpoint = server.export("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    assert_eq!(endpoint, format!("http://127.0.0.1:{}", server.port));
    let mut extra = server.exports.clone();
    extra.push(("AWS_EC2_METADATA_DISABLED".into(), "false".into()));
    let arn = world.boto3_caller(&extra).await;
    assert!(
        arn.starts_with("arn:aws:sts::123456789012:assumed-role/admin/"),
        "{arn}"
    );
    // IMDSv1 works here too.
    let (status, body) = server
        .request(
            "GET",
            "/latest/meta-data/iam/security-credentials/",
            &[],
            "",
        )
        .await;
    assert_eq!((status, body.as_str()), (200, "admin"));
}


#[tokio::test(flavor = "multi_thread")]
async fn exec_runs_the_aws_cli_as_the_role() {
    let world = World::new().await;
    let code = world.code();
    let output = world
        .command(BIN)
        .args(["exec", "admin", "--mfa-code", &code, "--"])
        .arg(awscli())
        .args([
            "sts",
            "get-caller-identity",
            "--output",
            "text",
            "--query",
            "Arn",
        ])
        .env("AWS_PROFILE_UNUSED", "x")
        .output()
        .await
        .unwrap();
    assert_success(&output, "exec admin with the AWS CLI");
    let arn = String::from_utf8(output.stdout).unwrap();
    assert!(
        arn.trim()
            .starts_with("arn:aws:sts::123456789012:assumed-role/admin/"),
        "{arn}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_passes_environment_and_exit_status() {
    let world = World::new().await;
    let output = world
        .command(BIN)
        .args(["exec", "--", "sh", "-c", "echo \"$AWSRUNAS_PROFILE ${AWS_PROFILE-unset} $AWS_REGION ${AWS_ACCESS_KEY_ID%%????????????????}\"; exit 7"])
        .env("AWS_PROFILE", "developer")
        .output()
        .await
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8(output.stdout).unwrap().trim(),
        "developer unset us-east-1 ASIA"
    );
    // --ecs: a private endpoint instead of keys in the environment.
    let script = "import os, boto3; assert 'AWS_ACCESS_KEY_ID' not in os.environ; print(boto3.client('sts').get_caller_identity()['Arn'])";
    let output = world
        .command(BIN)
        .args(["exec", "--ecs", "developer", "--"])
        .arg(python())
        .args(["-c", script])
        .output()
        .await
        .unwrap();
    assert_success(&output, "exec --ecs developer with boto3");
    assert!(
        String::from_utf8(output.stdout)
            .unwrap()
            .contains("assumed-role/developer/")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_without_a_terminal_or_code_says_what_to_do() {
    let world = World::new().await;
    // setsid: a new session has no controlling terminal, so /dev/tty cannot be opened.
    let output = world
        .command("setsid")
        .args(["--wait", BIN, "exec", "admin", "--", "true"])
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("needs an MFA code") && stderr.contains("--mfa-code"),
        "{stderr}"
    );
    let output = world
        .command(BIN)
        .args(["exec", "loop-a", "--", "true"])
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("loop-a -> loop-b -> loop-a"));
}

/// `exec PROFILE -- python -c <GetCallerIdentity>` with extra config appended; the ARN.
async fn exec_caller(world: &World, extra_config: &str, profile: &str) -> String {
    let config = world.home.path().join(".aws/config");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(extra_config);
    std::fs::write(&config, text).unwrap();
    let script = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])";
    let output = world
        .command(BIN)
        .args(["exec", profile, "--"])
        .arg(python())
        .args(["-c", script])
        .output()
        .await
        .unwrap();
    assert_success(&output, "exec with boto3");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_without_a_role_get_session_credentials() {
    let world = World::new().await;
    let arn = exec_caller(&world, "", "bob").await;
    assert_eq!(arn, fake_aws::sts::BOB_ARN);
    assert_eq!(
        world.sts.calls("GetSessionToken"),
        1,
        "session credentials, not the long-term keys"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn credential_process_profiles_are_a_source() {
    let world = World::new().await;
    let script = world.home.path().join("creds.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '{{\"Version\":1,\"AccessKeyId\":\"{BOB_ACCESS_KEY_ID}\",\"SecretAccessKey\":\"{BOB_SECRET_ACCESS_KEY}\"}}'\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let extra = format!(
        "\n[profile proc]\ncredential_process = {}\n\n[profile proc-dev]\nrole_arn = {DEVELOPER_ROLE_ARN}\nsource_profile = proc\n",
        script.display()
    );
    let arn = exec_caller(&world, &extra, "proc-dev").await;
    assert!(
        arn.starts_with("arn:aws:sts::123456789012:assumed-role/developer/"),
        "{arn}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn web_identity_profiles_assume_their_role() {
    let world = World::new().await;
    let token = world.home.path().join("token");
    std::fs::write(&token, format!("{}\n", fake_aws::sts::WEB_IDENTITY_TOKEN)).unwrap();
    let extra = format!(
        "\n[profile web]\nrole_arn = {}\nweb_identity_token_file = {}\n",
        fake_aws::sts::WEB_ROLE_ARN,
        token.display()
    );
    let arn = exec_caller(&world, &extra, "web").await;
    assert!(
        arn.starts_with("arn:aws:sts::123456789012:assumed-role/web/"),
        "{arn}"
    );
    // A wrong token is refused with STS's own words.
    std::fs::write(&token, "not-the-token").unwrap();
    let output = world
        .command(BIN)
        .args(["exec", "web", "--", "true"])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("InvalidIdentityToken"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_the_log() {
    let world = World::new().await;
    let port = free_port();
    let mut child = world
        .command(BIN)
        .args([
            "serve",
            "ecs",
            "--debug",
            "-p",
            &port.to_string(),
            "admin-totp",
        ])
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let mut token = String::new();
    while token.is_empty() {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("the server printed its token");
        if let Some(value) = line.strip_prefix("export AWS_CONTAINER_AUTHORIZATION_TOKEN=") {
            token = value.to_owned();
        }
    }
    let exports = vec![
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI".to_owned(),
            format!("http://127.0.0.1:{port}/credentials"),
        ),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN".to_owned(),
            token.clone(),
        ),
    ];
    let arn = world.boto3_caller(&exports).await;
    assert!(arn.contains("assumed-role/admin/"), "{arn}");
    child.start_kill().unwrap();
    let output = child.wait_with_output().await.unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        log.lines().count() > 5,
        "trace logging produced lines: {log}"
    );
    let mut secrets = vec![
        ALICE_SECRET_ACCESS_KEY.to_owned(),
        ALICE_MFA_SECRET.to_owned(),
        token,
    ];
    for (access_key_id, principal) in world.sts.issued() {
        if let fake_aws::registry::Principal::AssumedRole { session_token, .. } = principal {
            secrets.push(session_token);
        }
        let (secret, _, _) = world.sts.registry().lookup(&access_key_id).unwrap();
        secrets.push(secret);
    }
    assert!(
        secrets.len() >= 5,
        "the MFA session and the role were issued"
    );
    for secret in secrets {
        assert!(!log.contains(&secret), "a secret in the log");
    }
}
