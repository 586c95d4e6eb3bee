//! The management API's role list and choice for a SAML profile that names no role: real
//! Keycloak (tests/keycloak/realm.json) signs alice in over ECP and offers her two roles, the
//! strict STS double verifies every assertion, and `serve ecs` serves the role chosen with
//! `POST /manage/profiles/NAME/role`, as boto3 proves.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use common::daemon::{assert_success, free_port, parse_response, python};
use common::keycloak::{
    self, ALICE, ALICE_PASSWORD, SAML_DEVELOPER_ROLE_ARN, SAML_PROVIDER_ARN, SAML_READONLY_ROLE_ARN,
};
use fake_aws::registry::Registry;
use fake_aws::sts::{FakeSts, Role, SamlProvider, StsConfig};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_needroleshere");

async fn keycloak_url() -> String {
    tokio::task::spawn_blocking(|| keycloak::base_url().to_owned())
        .await
        .unwrap()
}

/// One request to the server on a fresh connection: (status, body).
async fn call(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let host = format!("127.0.0.1:{port}");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
         X-Requested-By: needroleshere\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let response = parse_response(&raw).unwrap();
    (response.status, response.body)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saml_profile_lists_the_roles_its_assertion_offers_and_serves_the_one_chosen() {
    let base = keycloak_url().await;
    let metadata = keycloak::saml_metadata().await;
    let provider = SamlProvider::from_metadata(SAML_PROVIDER_ARN, &metadata).unwrap();
    let mut config = StsConfig::example(Registry::new());
    config.saml_providers.push(provider);
    for arn in [SAML_DEVELOPER_ROLE_ARN, SAML_READONLY_ROLE_ARN] {
        config
            .roles
            .push(Role::trusting_saml(arn, SAML_PROVIDER_ARN));
    }
    let sts = FakeSts::new(config);
    let running = sts
        .spawn_http(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let sts_url = running.url();

    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".aws")).unwrap();
    std::fs::write(
        home.path().join(".aws/config"),
        format!(
            "[profile corp]\nsaml_auth_url = {base}/realms/{}/protocol/saml\n\
             saml_username = {ALICE}\nregion = us-east-1\n",
            keycloak::REALM
        ),
    )
    .unwrap();
    let env = |command: &mut tokio::process::Command| {
        command
            .env_clear()
            .env("HOME", home.path())
            .env("AWS_CONFIG_FILE", home.path().join(".aws/config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                home.path().join(".aws/credentials"),
            )
            .env("AWS_ENDPOINT_URL_STS", &sts_url)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("NO_PROXY", "*")
            .env("XDG_RUNTIME_DIR", home.path())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .kill_on_drop(true);
    };
    let port = free_port();
    let mut server = tokio::process::Command::new(BIN);
    env(&mut server);
    let mut server = server
        .args(["serve", "ecs", "-p", &port.to_string(), "corp"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let mut exports = Vec::new();
    while exports.len() < 2 {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the server printed its variables")
            .unwrap()
            .expect("the server printed its variables before exiting");
        if let Some((k, v)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
            exports.push((k.to_owned(), v.to_owned()));
        }
    }
    let boto3 = || async {
        let mut command = tokio::process::Command::new(python());
        env(&mut command);
        let output = command
            .args([
                "-c",
                "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])",
            ])
            .envs(exports.iter().map(|(k, v)| (k, v)))
            .output()
            .await
            .unwrap();
        assert_success(&output, "boto3");
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    };
    let roles = || async {
        let (status, body) = call(port, "GET", "/manage/profiles/corp/roles", "").await;
        assert_eq!(status, 200, "{body}");
        let json: Value = serde_json::from_str(&body).unwrap();
        json["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["roleArn"].as_str().unwrap().to_owned(),
                    r["accountId"].as_str().unwrap().to_owned(),
                    r["roleName"].as_str().unwrap().to_owned(),
                    r["active"].as_bool().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let listed = |active: Option<&str>| {
        [SAML_DEVELOPER_ROLE_ARN, SAML_READONLY_ROLE_ARN]
            .into_iter()
            .map(|arn| {
                (
                    arn.to_owned(),
                    "123456789012".to_owned(),
                    arn.rsplit('/').next().unwrap().to_owned(),
                    Some(arn) == active,
                )
            })
            .collect::<Vec<_>>()
    };

    // Before the sign-in the roles are not known: 401, as any call that needs a sign-in.
    let (status, body) = call(port, "GET", "/manage/profiles/corp/roles", "").await;
    assert_eq!(status, 401, "{body}");

    // alice signs in; she is offered two roles and the profile names none.
    let (status, body) = call(
        port,
        "POST",
        "/auth",
        &format!("profile=corp&username={ALICE}&password={ALICE_PASSWORD}"),
    )
    .await;
    assert_ne!(status, 200, "two roles and none chosen: {body}");
    assert!(body.contains("role"), "{body}");
    assert_eq!(roles().await, listed(None));

    // A role the assertion does not offer is refused by name; the offered ones are served.
    let (status, body) = call(
        port,
        "POST",
        "/manage/profiles/corp/role",
        "roleArn=arn:aws:iam::123456789012:role/saml-admin",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("saml-admin"), "{body}");
    let (status, body) = call(
        port,
        "POST",
        "/manage/profiles/corp/role",
        &format!("roleArn={SAML_READONLY_ROLE_ARN}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(roles().await, listed(Some(SAML_READONLY_ROLE_ARN)));
    assert_eq!(
        boto3().await,
        format!("arn:aws:sts::123456789012:assumed-role/saml-readonly/{ALICE}")
    );

    // The other one, by account and name: a new assertion (the password kept in memory).
    let (status, body) = call(
        port,
        "POST",
        "/manage/profiles/corp/role",
        "accountId=123456789012&roleName=saml-developer",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(roles().await, listed(Some(SAML_DEVELOPER_ROLE_ARN)));
    assert_eq!(
        boto3().await,
        format!("arn:aws:sts::123456789012:assumed-role/saml-developer/{ALICE}")
    );
    drop(server);
}
