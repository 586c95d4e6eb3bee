//! IAM Identity Center profiles through the real binary (`needroleshere exec PROFILE`),
//! against the strict doubles (`fake_aws::sso`, the fake STS) reached with
//! `AWS_ENDPOINT_URL_SSO`, `AWS_ENDPOINT_URL_SSO_OIDC` and `AWS_ENDPOINT_URL_STS`: the cached
//! sign-in is used, renewed with its refresh token when about to expire, chained into a
//! role, and when no usable sign-in exists the command says a person must sign in.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::process::Output;

use common::daemon::{assert_success, python};
use common::matrix::FakeAws;
use common::sso::{now, sign_in_directly};
use fake_aws::rolesanywhere::ACCOUNT_ID;
use fake_aws::sso::{SSO_ALICE, SSO_DEVELOPER_ROLE, SSO_START_URL};
use fake_aws::sts::DEVELOPER_ROLE_ARN;
use needroleshere::aws_files::sso_cache::{SsoCache, TokenKey};
use needroleshere::secret::Secret;

const BIN: &str = env!("CARGO_BIN_EXE_needroleshere");

struct World {
    fake: FakeAws,
    home: tempfile::TempDir,
}

impl World {
    async fn new() -> World {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".aws")).unwrap();
        std::fs::write(
            home.path().join(".aws/config"),
            format!(
                "[profile dev]\nsso_session = corp\nsso_account_id = {ACCOUNT_ID}\n\
                 sso_role_name = {SSO_DEVELOPER_ROLE}\nregion = us-east-1\n\n\
                 [sso-session corp]\nsso_start_url = {SSO_START_URL}\nsso_region = us-east-1\n\
                 sso_registration_scopes = sso:account:access\n\n\
                 [profile legacy]\nsso_start_url = {SSO_START_URL}\nsso_region = us-east-1\n\
                 sso_account_id = {ACCOUNT_ID}\nsso_role_name = ReadOnly\n\n\
                 [profile not-assigned]\nsso_session = corp\nsso_account_id = {ACCOUNT_ID}\n\
                 sso_role_name = Administrator\n\n\
                 [profile chained]\nrole_arn = {DEVELOPER_ROLE_ARN}\nsource_profile = dev\n"
            ),
        )
        .unwrap();
        World {
            fake: FakeAws::start().await,
            home,
        }
    }

    fn cache(&self) -> SsoCache {
        SsoCache::new(self.home.path().join(".aws/sso/cache"))
    }

    /// `needroleshere exec PROFILE -- ARGS…` with only our files and the doubles.
    async fn exec(&self, profile: &str, args: &[&str]) -> Output {
        let url = self.fake.url();
        tokio::process::Command::new(BIN)
            .args(["exec", profile, "--"])
            .args(args)
            .env_clear()
            .env("HOME", self.home.path())
            .env("AWS_CONFIG_FILE", self.home.path().join(".aws/config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.home.path().join(".aws/credentials"),
            )
            .env("AWS_ENDPOINT_URL_SSO", &url)
            .env("AWS_ENDPOINT_URL_SSO_OIDC", &url)
            .env("AWS_ENDPOINT_URL_STS", &url)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_PROXY", "*")
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .unwrap()
    }

    /// The access key id `exec PROFILE` hands its command.
    async fn key_of(&self, profile: &str) -> String {
        let output = self
            .exec(profile, &["sh", "-c", "printf %s \"$AWS_ACCESS_KEY_ID\""])
            .await;
        assert_success(&output, &format!("exec {profile}"));
        String::from_utf8(output.stdout).unwrap()
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_sign_in_exec_says_to_sign_in_and_calls_nothing() {
    let world = World::new().await;
    let output = world.exec("dev", &["true"]).await;
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains("needs a sign-in to IAM Identity Center")
            && text.contains("aws sso login --profile dev")
            && text.contains("needroleshere login dev"),
        "{text}"
    );
    assert_eq!(world.fake.world.sso.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cached_sign_in_serves_both_profile_forms_and_a_role_chain() {
    let world = World::new().await;
    let cache = world.cache();
    cache
        .write_token(
            &TokenKey::Session("corp".into()),
            &sign_in_directly(&world.fake.world, true),
            now(),
        )
        .unwrap();
    let key = world.key_of("dev").await;
    let issued = world.fake.world.sso.issued();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].access_key_id, key);
    assert_eq!(issued[0].role_name, SSO_DEVELOPER_ROLE);
    assert_eq!(world.fake.world.sso.calls("CreateToken"), 1, "no renewal");

    cache
        .write_token(
            &TokenKey::Legacy {
                start_url: SSO_START_URL.to_owned(),
            },
            &sign_in_directly(&world.fake.world, false),
            now(),
        )
        .unwrap();
    let key = world.key_of("legacy").await;
    assert_eq!(world.fake.world.sso.issued()[1].access_key_id, key);
    assert_eq!(world.fake.world.sso.issued()[1].role_name, "ReadOnly");

    // The SSO role session as the source of AssumeRole, checked by boto3's GetCallerIdentity.
    let script = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])";
    let output = world
        .exec("chained", &[python().to_str().unwrap(), "-c", script])
        .await;
    assert_success(&output, "exec chained");
    let arn = String::from_utf8(output.stdout).unwrap();
    assert!(
        arn.trim().starts_with(&format!(
            "arn:aws:sts::{ACCOUNT_ID}:assumed-role/developer/"
        )),
        "{arn}"
    );
    assert_eq!(world.fake.world.sts.calls("AssumeRole"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_about_to_expire_is_renewed_and_written_back() {
    let world = World::new().await;
    let cache = world.cache();
    let key = TokenKey::Session("corp".into());
    let mut token = sign_in_directly(&world.fake.world, true);
    token.expires_at = now() + time::Duration::minutes(5);
    cache.write_token(&key, &token, now()).unwrap();

    world.key_of("dev").await;
    assert_eq!(world.fake.world.sso.calls("CreateToken"), 2, "one renewal");
    let renewed = cache.read_token(&key).unwrap().unwrap();
    assert_ne!(renewed.access_token, token.access_token);
    assert_ne!(renewed.refresh_token, token.refresh_token);
    assert!(renewed.expires_at > now() + time::Duration::minutes(30));
    assert_eq!(renewed.client, token.client);

    // Fresh now: the next run uses it as it is.
    world.key_of("dev").await;
    assert_eq!(world.fake.world.sso.calls("CreateToken"), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_sign_in_that_has_expired_needs_a_person() {
    let world = World::new().await;
    let mut token = sign_in_directly(&world.fake.world, true);
    assert!(
        world
            .fake
            .world
            .sso
            .revoke_refresh_token(token.refresh_token.as_ref().unwrap().expose())
    );
    token.expires_at = now() - time::Duration::minutes(1);
    world
        .cache()
        .write_token(&TokenKey::Session("corp".into()), &token, now())
        .unwrap();
    let output = world.exec("dev", &["true"]).await;
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains("needs a sign-in") && text.contains("the renewal was refused"),
        "{text}"
    );
    assert!(
        !text.contains(token.access_token.expose()),
        "no token in messages"
    );
    assert!(world.fake.world.sso.issued().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_the_portal_refuses_needs_a_person_and_an_unassigned_role_is_refused() {
    let world = World::new().await;
    let mut token = sign_in_directly(&world.fake.world, true);
    let good = token.access_token.clone();
    token.access_token = Secret::new("aoaNOTISSUED");
    let key = TokenKey::Session("corp".into());
    world.cache().write_token(&key, &token, now()).unwrap();
    let output = world.exec("dev", &["true"]).await;
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains("needs a sign-in") && text.contains("the portal refused"),
        "{text}"
    );

    token.access_token = good;
    world.cache().write_token(&key, &token, now()).unwrap();
    let output = world.exec("not-assigned", &["true"]).await;
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains("ForbiddenException") && !text.contains("needs a sign-in"),
        "{text}"
    );
}

/// `serve ecs dev`: the page's sign-in for an IAM Identity Center profile is a device code
/// (`POST /signin`); once the person approves it at the portal, the token is in the AWS
/// CLI's cache, the switch completes, and boto3 gets the role's credentials.
#[tokio::test(flavor = "multi_thread")]
async fn serve_ecs_signs_in_with_a_device_code_and_writes_the_clis_cache() {
    let world = World::new().await;
    let url = world.fake.url();
    let port = common::daemon::free_port();
    let mut server = tokio::process::Command::new(BIN)
        .args(["serve", "ecs", "-p", &port.to_string(), "dev"])
        .env_clear()
        .env("HOME", world.home.path())
        .env("AWS_CONFIG_FILE", world.home.path().join(".aws/config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            world.home.path().join(".aws/credentials"),
        )
        .env("AWS_ENDPOINT_URL_SSO", &url)
        .env("AWS_ENDPOINT_URL_SSO_OIDC", &url)
        .env("AWS_ENDPOINT_URL_STS", &url)
        .env("AWS_REGION", "us-east-1")
        .env("NO_PROXY", "*")
        .env("XDG_RUNTIME_DIR", world.home.path())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = server.stdout.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let mut exports = Vec::new();
    while exports.len() < 2 {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("the server's variables");
        if let Some((k, v)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
            exports.push((k.to_owned(), v.to_owned()));
        }
    }
    let base = format!("127.0.0.1:{port}");
    let token = exports
        .iter()
        .find(|(k, _)| k == "AWS_CONTAINER_AUTHORIZATION_TOKEN")
        .map(|(_, v)| v.clone())
        .unwrap();
    let (status, body) = call(
        &base,
        "GET",
        "/credentials",
        &[("Authorization", &token)],
        "",
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("SignInRequired"), "{body}");

    let form = [
        ("X-Requested-By", "needroleshere"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let (status, body) = call(&base, "POST", "/signin", &form, "flow=device").await;
    assert_eq!(status, 200, "{body}");
    let started: serde_json::Value = serde_json::from_str(&body).unwrap();
    let code = started["device"]["userCode"]
        .as_str()
        .expect("a user code")
        .to_owned();
    let view = || async {
        let (status, body) = call(&base, "GET", "/signin", &[], "").await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    let shown = view().await;
    assert_eq!(
        shown["signIn"]["device"]["userCode"],
        code.as_str(),
        "{shown}"
    );
    assert_eq!(shown["signIn"]["browserFlow"], false, "{shown}");
    assert_eq!(shown["signIn"]["signedIn"], false, "{shown}");

    world.fake.world.sso.approve(&code, SSO_ALICE).unwrap();
    let mut signed_in = false;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        if view().await["signIn"]["signedIn"] == true {
            signed_in = true;
            break;
        }
    }
    assert!(signed_in, "the sign-in did not complete");
    let written = world
        .cache()
        .read_token(&TokenKey::Session("corp".into()))
        .unwrap()
        .expect("the CLI's token file");
    assert_eq!(written.start_url.as_deref(), Some(SSO_START_URL));
    assert!(written.refresh_token.is_some());

    let output = tokio::process::Command::new(python())
        .args([
            "-c",
            "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])",
        ])
        .env_clear()
        .envs(exports.iter().map(|(k, v)| (k, v)))
        .env("AWS_ENDPOINT_URL_STS", &url)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_PROXY", "*")
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .await
        .unwrap();
    assert_success(&output, "boto3");
    let arn = String::from_utf8(output.stdout).unwrap();
    assert!(
        arn.contains(&format!("assumed-role/AWSReservedSSO_{SSO_DEVELOPER_ROLE}")),
        "{arn}"
    );
}

/// One HTTP/1.1 request on a fresh connection to `host`: (status, body).
async fn call(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let response = common::daemon::parse_response(&raw).unwrap();
    (response.status, response.body)
}
