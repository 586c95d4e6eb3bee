//! Real AWS SDKs get credentials from `needroleshere serve`'s IMDS emulation, through real
//! sockets, each front as it is deployed:
//!
//! * daemon, `serve --listen-imds 127.0.0.1:P=web` and a socket systemd passes with
//!   `FileDescriptorName=imds-web`: the client's environment is exactly the env file
//!   `bind web --mode imds` wrote (`AWS_EC2_METADATA_SERVICE_ENDPOINT`,
//!   `AWS_EC2_METADATA_V1_DISABLED=true`);
//! * the `aws_signing_helper serve` way, `serve <identity flags> --port P`, with
//!   `AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:P`;
//! * at the real IMDS address, 169.254.169.254:80, inside a network namespace of the test's
//!   own, with no endpoint variable at all: the SDKs' built-in default.
//!
//! Clients (tests/clients/, installed by scripts/test.sh): boto3, the AWS CLI v1 (its own
//! bundled botocore), the JS SDK v3 `fromInstanceMetadata()` and `fromNodeProviderChain()`,
//! and the Rust `aws-config` default chain and IMDS provider (IMDSv2 only; it needs the TTL
//! echo). Each must get exactly the session the fake IAM Roles Anywhere issued (key id, and
//! digests of the secret and token), and serve must have made one CreateSession for it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::daemon::{
    Fake, FakeAwsProcess, NetNs, Serve, ServeOptions, identity_args, is_root, read_env,
};
use common::imds::{
    Client, Resolved, assert_resolved, bind_imds, connect_in, imds_env, ip, resolve, run_in,
    start_serve,
};
use fake_aws::rolesanywhere::{IssuedSession, ROLE_ARN};

#[derive(Debug, Clone, Copy)]
enum Front {
    /// `serve --listen-imds 127.0.0.1:P=web`.
    ListenImds,
    /// `systemd-socket-activate -l 127.0.0.1:P --fdname=imds-web`.
    SocketActivated,
    /// `serve <identity flags> --port P`.
    Helper,
}

/// The provider name each client reports for instance metadata.
fn expected_provider(client: Client) -> &'static str {
    match client {
        Client::Boto3 | Client::AwsCli => "iam-role",
        Client::JsInstanceMetadata => "instance-metadata",
        Client::JsChain | Client::RustChain => "chain",
        Client::RustImds => "imds",
    }
}

fn check(client: Client, resolved: &Resolved, session: &IssuedSession, what: &str) {
    eprintln!(
        "{what}: {} {} via {} got {}",
        resolved.sdk,
        resolved.version.as_deref().unwrap_or(""),
        resolved.provider,
        resolved.access_key_id
    );
    assert_eq!(resolved.provider, expected_provider(client), "{what}");
    assert_resolved(resolved, session, what);
    assert_eq!(session.role_arn, ROLE_ARN, "{what}");
}

fn assert_log_has_no_secret(serve: &Serve, session: &IssuedSession) {
    let log = serve.log();
    assert!(
        !log.contains(&session.secret_access_key) && !log.contains(&session.session_token),
        "serve logged a secret"
    );
    assert!(!log.contains("panicked"), "serve panicked:\n{log}");
}

async fn through(front: Front, client: Client) {
    let what = format!("{} through {front:?}", client.name());
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (serve, ports) = match front {
        Front::ListenImds => {
            start_serve(1, |p| ServeOptions {
                dir: dir.path().to_owned(),
                args: vec!["--listen-imds".into(), format!("127.0.0.1:{}=web", p[0])],
                ..ServeOptions::default()
            })
            .await
        }
        Front::SocketActivated => {
            start_serve(1, |p| ServeOptions {
                dir: dir.path().to_owned(),
                sockets: vec![(format!("127.0.0.1:{}", p[0]), "imds-web".into())],
                ..ServeOptions::default()
            })
            .await
        }
        Front::Helper => {
            start_serve(1, |p| {
                let mut args = identity_args("rsa2048");
                args.extend([
                    "--endpoint".into(),
                    fake.url(),
                    "--port".into(),
                    p[0].to_string(),
                ]);
                ServeOptions {
                    dir: dir.path().to_owned(),
                    args,
                    ..ServeOptions::default()
                }
            })
            .await
        }
    };
    let url = format!("http://127.0.0.1:{}", ports[0]);
    let (env, sessions_before) = match front {
        Front::Helper => {
            let env: BTreeMap<String, String> = [
                ("AWS_EC2_METADATA_SERVICE_ENDPOINT", url.as_str()),
                ("AWS_EC2_METADATA_V1_DISABLED", "true"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
            (env, 0)
        }
        Front::ListenImds | Front::SocketActivated => {
            bind_imds(dir.path(), "web", &url, &fake.url()).await;
            // bind checked the identity with one CreateSession of its own.
            (imds_env(dir.path(), "web", &url), 1)
        }
    };
    let resolved = resolve(client, &env, None).await;
    let session = fake.session(&resolved.access_key_id);
    check(client, &resolved, &session, &what);
    assert_eq!(
        fake.fake.sessions().len(),
        sessions_before + 1,
        "{what}: serve made one CreateSession"
    );
    assert_log_has_no_secret(&serve, &session);
}

/// In a namespace of its own: `needroleshere-fake-aws` on 127.0.0.1, `bind` run there, serve
/// socket-activated on 169.254.169.254:80, and `client` with no endpoint variable.
async fn at_the_default_address(client: Client) {
    if !is_root() {
        eprintln!(
            "SKIPPED {}: network namespaces need root (169.254.169.254 must not be used \
             outside a namespace of the test's own)",
            client.name()
        );
        return;
    }
    let what = format!("{} at 169.254.169.254 in a namespace", client.name());
    let ns = NetNs::create();
    ip(&[
        "-n",
        &ns.name,
        "addr",
        "add",
        "169.254.169.254/32",
        "dev",
        "lo",
    ]);
    let fake = FakeAwsProcess::start(&ns.name).await;
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "bind".to_owned(),
        "web".to_owned(),
        "--configuration-directory".to_owned(),
        dir.path().display().to_string(),
        "--mode".to_owned(),
        "imds".to_owned(),
        "--url".to_owned(),
        "http://169.254.169.254:80".to_owned(),
        "--endpoint".to_owned(),
        fake.url.clone(),
    ];
    args.extend(identity_args("p256"));
    let output = run_in(&ns.name, &args).await;
    common::daemon::assert_success(&output, "bind in the namespace");

    let mut env = read_env(&common::daemon::env_file(dir.path(), "web"));
    assert_eq!(
        env.remove("AWS_EC2_METADATA_SERVICE_ENDPOINT").as_deref(),
        Some("http://169.254.169.254"),
        "{what}: env file"
    );
    assert_eq!(
        env.get("AWS_EC2_METADATA_V1_DISABLED").map(String::as_str),
        Some("true")
    );

    let mut serve = Serve::spawn(ServeOptions {
        dir: dir.path().to_owned(),
        sockets: vec![("169.254.169.254:80".into(), "imds-web".into())],
        netns: Some(ns.name.clone()),
        ..ServeOptions::default()
    });
    // The first connection makes systemd-socket-activate start serve.
    connect_in(&ns.name, "169.254.169.254", 80, Duration::from_millis(200)).await;
    serve.wait_for_notification("READY=1").await;

    // No AWS_EC2_METADATA_SERVICE_ENDPOINT: the SDK's own default address.
    let resolved = resolve(client, &env, Some(&ns.name)).await;
    eprintln!(
        "{what}: {} via {} got {}",
        resolved.sdk, resolved.provider, resolved.access_key_id
    );
    assert_eq!(resolved.provider, expected_provider(client), "{what}");
    let log = fake.log();
    let issued: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&resolved.access_key_id))
        .collect();
    assert_eq!(
        issued.len(),
        1,
        "{what}: the fake in the namespace issued {} once:\n{log}",
        resolved.access_key_id
    );
    let serve_log = serve.log();
    assert!(!serve_log.contains("panicked"), "{serve_log}");
    drop(serve);
    drop(fake);
    drop(ns);
}

macro_rules! client_tests {
    ($($name:ident: $client:expr;)*) => {
        mod listen_imds {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    through(Front::ListenImds, $client).await;
                }
            )*
        }
        mod socket_activated_imds_name {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    through(Front::SocketActivated, $client).await;
                }
            )*
        }
        mod helper_serve_port {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    through(Front::Helper, $client).await;
                }
            )*
        }
        mod netns_169_254_169_254_default_endpoint {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    at_the_default_address($client).await;
                }
            )*
        }
    };
}

client_tests! {
    boto3: Client::Boto3;
    awscli_v1: Client::AwsCli;
    js_v3_from_instance_metadata: Client::JsInstanceMetadata;
    js_v3_from_node_provider_chain: Client::JsChain;
    rust_aws_config_default_chain: Client::RustChain;
    rust_aws_config_imds_provider: Client::RustImds;
}
