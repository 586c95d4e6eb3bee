//! aws-mock-metadata's configuration served by `needroleshere serve ec2`, through the real
//! binary, boto3 and Chromium, against the strict STS double: its documented example file
//! (keys, `role_arn` naming `${aws:username}`, `token_duration`, profiles, MFA from a secret or
//! from a person) and its page path `/manage`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::daemon::{assert_success, free_port, python};
use common::profiles::{Desktop, World};
use fake_aws::rolesanywhere::ACCOUNT_ID;
use fake_aws::sts::{
    ALICE_ACCESS_KEY_ID, ALICE_MFA_SECRET, ALICE_SECRET_ACCESS_KEY, BOB_ACCESS_KEY_ID,
    BOB_SECRET_ACCESS_KEY, Role, totp,
};

/// The role `${aws:username}` becomes for bob.
const BOB_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/bob";

/// aws-mock-metadata's documented example, with test values in place of its `...`.
fn example_config(port: u16) -> String {
    format!(
        "\
[aws]
access_key={BOB_ACCESS_KEY_ID} # Optional. Access key to generate temp keys with.
                               # If not provided, the service falls back on boto's
                               # credential discovery.
secret_key={BOB_SECRET_ACCESS_KEY} # Optional. Secret key to generate temp keys with.
region=us-east-1 # Optional. Not generally necessary since IAM and STS
                 # are not region specific. Default is us-east-1.
mfa_enabled=no

[metadata]
host=127.0.0.1 # Optional. Interface to bind to. Default is
               # 169.254.169.254.
port={port} # Optional. Port to bind to. Default is 45000.
token_duration=43200 # Optional. Timeout, in seconds, for the generated
                     # keys. Minimum is 15 minutes.
role_arn=arn:aws:iam::123456789012:role/${{aws:username}}
                     # Optional. ARN of a role to assume.
profile=default # Name of the initial profile to select.

# Define a profile.
[profile:alice]
access_key={ALICE_ACCESS_KEY_ID}
secret_key={ALICE_SECRET_ACCESS_KEY}
mfa_enabled=yes
mfa_secret={ALICE_MFA_SECRET}
role_arn=
"
    )
}

/// The double, with a role for bob to be named after him.
async fn world() -> World {
    World::with_sts(|config| {
        config
            .roles
            .push(Role::trusting_account(BOB_ROLE_ARN, ACCOUNT_ID));
    })
    .await
}

/// GetCallerIdentity by boto3 through the server's IMDS; the ARN it printed.
async fn boto3_caller(world: &World, server: &Desktop) -> String {
    let script = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])";
    let output = world
        .command(python())
        .args(["-c", script])
        .envs(server.exports.iter().map(|(k, v)| (k, v)))
        .env("AWS_EC2_METADATA_DISABLED", "false")
        // Nothing but the server's credentials: no keys in the files boto3 could take.
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .output()
        .await
        .unwrap();
    assert_success(&output, "boto3");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Seconds from now until the `Expiration` of an IMDS credentials document.
fn seconds_left(document: &str) -> i64 {
    let json: serde_json::Value = serde_json::from_str(document).unwrap();
    let expiration = json["Expiration"].as_str().unwrap();
    let expiration =
        time::OffsetDateTime::parse(expiration, &time::format_description::well_known::Rfc3339)
            .unwrap();
    let now = std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .unwrap()
        .as_secs() as i64;
    expiration.unix_timestamp() - now
}

#[tokio::test(flavor = "multi_thread")]
async fn the_documented_example_serves_its_profiles_to_boto3() {
    let world = world().await;
    let config = world.home.path().join("server.conf");
    // The file's port is not used: -p wins.
    std::fs::write(&config, example_config(9)).unwrap();
    let port = free_port();
    let config_arg = config.display().to_string();
    let server = Desktop::start_with(
        &world,
        "ec2",
        port,
        &[
            "-p",
            &port.to_string(),
            "--mock-metadata-config",
            &config_arg,
        ],
    )
    .await;
    assert_eq!(
        server.export("AWS_EC2_METADATA_SERVICE_ENDPOINT"),
        format!("http://127.0.0.1:{port}")
    );

    // The file's initial profile: bob's keys, the role named after him (GetCallerIdentity
    // told the source who he is), for the role's hour though the file asks for 12.
    let arn = boto3_caller(&world, &server).await;
    assert!(
        arn.starts_with("arn:aws:sts::123456789012:assumed-role/bob/"),
        "{arn}"
    );
    assert!(
        world.sts.calls("GetCallerIdentity") >= 2,
        "ours and boto3's"
    );
    let (status, name) = server
        .request(
            "GET",
            "/latest/meta-data/iam/security-credentials/",
            &[],
            "",
        )
        .await;
    assert_eq!((status, name.as_str()), (200, "default"));
    let (status, document) = server
        .request(
            "GET",
            "/latest/meta-data/iam/security-credentials/default",
            &[],
            "",
        )
        .await;
    assert_eq!(status, 200, "{document}");
    let left = seconds_left(&document);
    assert!((3000..=3600).contains(&left), "{left} s left");

    // aws-mock-metadata's API switches to alice: GetSessionToken with a code made from the
    // file's secret, for the file's 12 hours.
    let (status, body) = server
        .request(
            "POST",
            "/manage/session",
            &[
                ("X-Requested-By", "needroleshere"),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            "session=alice",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let arn = boto3_caller(&world, &server).await;
    assert_eq!(arn, "arn:aws:iam::123456789012:user/alice");
    let (_, document) = server
        .request(
            "GET",
            "/latest/meta-data/iam/security-credentials/alice",
            &[],
            "",
        )
        .await;
    let left = seconds_left(&document);
    assert!((43000..=43200).contains(&left), "{left} s left");

    // Its profile list, in its shape.
    let (status, body) = server.request("GET", "/manage/profiles", &[], "").await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = json["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "default"]);
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `build/browser/node_modules`, when Chromium, Node.js and playwright-core are all here.
fn browser_tools() -> PathBuf {
    let modules = root().join("build/browser/node_modules");
    assert!(
        Path::new("/usr/bin/chromium").exists()
            && modules.join("playwright-core/package.json").exists(),
        "the browser tests need /usr/bin/chromium and build/browser/node_modules/playwright-core: \
         run scripts/test.sh, which installs them"
    );
    modules
}

/// A file in the default place, without a secret: a person types the code, in the page at
/// `/manage`; the server listens where the file says, without -p.
#[tokio::test(flavor = "multi_thread")]
async fn the_default_file_asks_a_person_for_the_code_in_the_page_at_manage() {
    let world = world().await;
    let port = free_port();
    let dir = world.home.path().join(".aws-mock-metadata");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config"),
        format!(
            "[aws]\naccess_key = {ALICE_ACCESS_KEY_ID}\nsecret_key = {ALICE_SECRET_ACCESS_KEY}\n\
             mfa_enabled = yes\n\n[metadata]\nhost = 127.0.0.1\nport = {port}\n\n\
             [profile:bob]\naccess_key = {BOB_ACCESS_KEY_ID}\nsecret_key = {BOB_SECRET_ACCESS_KEY}\n\
             mfa_enabled = no\n"
        ),
    )
    .unwrap();
    let server = Desktop::start_with(&world, "ec2", port, &[]).await;
    assert_eq!(
        server.export("AWS_EC2_METADATA_SERVICE_ENDPOINT"),
        format!("http://127.0.0.1:{port}")
    );

    // No code yet: the credential endpoint says so at once.
    let (status, body) = server
        .request(
            "GET",
            "/latest/meta-data/iam/security-credentials/default",
            &[],
            "",
        )
        .await;
    assert_eq!(status, 503, "{body}");

    let now = std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .unwrap()
        .as_secs() as i64;
    let step = now / 30;
    let codes: serde_json::Map<String, serde_json::Value> = (step..=step + 4)
        .map(|s| (s.to_string(), totp(ALICE_MFA_SECRET, s * 30).into()))
        .collect();
    let screenshots = root().join("build/screenshots");
    let output = tokio::time::timeout(
        Duration::from_secs(90),
        world
            .command("node")
            .arg(root().join("tests/browser/manage.cjs"))
            .env("NODE_PATH", browser_tools())
            .env("PAGE_URL", format!("{}manage", server.url()))
            .env(
                "EXPECT",
                serde_json::json!({"profiles": ["bob", "default"], "active": "default"})
                    .to_string(),
            )
            .env("MFA_CODES", serde_json::Value::Object(codes).to_string())
            .env("SCREENSHOT_DIR", &screenshots)
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("the page script finished in time")
    .unwrap();
    println!("{}", String::from_utf8_lossy(&output.stdout));
    assert_success(&output, "tests/browser/manage.cjs");

    // The code the person gave opened alice's MFA session; boto3 gets its credentials.
    let arn = boto3_caller(&world, &server).await;
    assert_eq!(arn, "arn:aws:iam::123456789012:user/alice");
    assert_eq!(world.sts.calls("GetSessionToken"), 1);
}
