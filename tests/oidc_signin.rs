//! Profiles that sign in to an OpenID Connect provider (aws-runas's `web_identity_*` keys),
//! end to end: the real Keycloak of `tests/common/keycloak.rs` as the provider, the real
//! binary's `serve ecs`, `serve ec2` and `exec`, the strict STS double verifying every ID
//! token against Keycloak's keys (signature, issuer, audience, expiry, subject), and real
//! clients — boto3, the AWS CLI, the JavaScript SDK v3 — proving the credentials with
//! GetCallerIdentity. The page's sign-ins run in real Chromium (`tests/browser/signin.cjs`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::path::Path;

use std::process::Stdio;
use std::time::Duration;

use common::daemon::{assert_success, awscli, python};
use common::keycloak;
use common::profiles::{Desktop, World};
use fake_aws::oidc::OidcTrust;
use fake_aws::rolesanywhere::ACCOUNT_ID;
use fake_aws::sts::Role;
use tokio::io::AsyncBufReadExt as _;

const BIN: &str = env!("CARGO_BIN_EXE_needroleshere");
const SIGNIN_ROLE: &str = "arn:aws:iam::123456789012:role/signin";
const JUMP_ROLE: &str = "arn:aws:iam::123456789012:role/signin-jump";
const TARGET_ROLE: &str = "arn:aws:iam::123456789012:role/signin-target";
/// A role that trusts the provider, but only for bob.
const BOBS_ROLE: &str = "arn:aws:iam::123456789012:role/signin-bob";
const BROWSER_TIMEOUT: Duration = Duration::from_secs(120);

/// The realm's issuer, once Keycloak is up (starting it blocks, so not on this runtime's
/// worker).
async fn keycloak_issuer() -> String {
    tokio::task::spawn_blocking(keycloak::issuer).await.unwrap()
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The STS double trusting `keycloak` for the sign-in roles, and a home whose profiles
/// sign in to it.
async fn world(issuer: &str) -> World {
    let issuer = issuer.to_owned();
    let trust = |client: &str, subject: &str| OidcTrust::new(&issuer, client, subject);
    let world = World::with_sts(|config| {
        let mut signin = Role::trusting_account(SIGNIN_ROLE, ACCOUNT_ID);
        signin.web_identity_providers = vec![
            trust(keycloak::DESKTOP_CLIENT, "*"),
            trust(keycloak::RUNAS_CLIENT, "*"),
            trust(keycloak::SHORTLIVED_CLIENT, "*"),
        ];
        let mut jump = Role::trusting_account(JUMP_ROLE, ACCOUNT_ID);
        jump.web_identity_providers = vec![trust(keycloak::RUNAS_CLIENT, "*")];
        let target = Role::trusting_account(TARGET_ROLE, ACCOUNT_ID);
        let mut bobs = Role::trusting_account(BOBS_ROLE, ACCOUNT_ID);
        bobs.web_identity_providers = vec![trust(keycloak::RUNAS_CLIENT, keycloak::BOB_ID)];
        config.roles.extend([signin, jump, target, bobs]);
    })
    .await;
    let config = world.home.path().join(".aws/config");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[profile sso-desktop]\nrole_arn = {SIGNIN_ROLE}\n\
         web_identity_auth_url = {issuer}\nweb_identity_client_id = {}\n\n\
         [profile sso-runas]\nrole_arn = {SIGNIN_ROLE}\n\
         web_identity_auth_url = {issuer}\nweb_identity_client_id = {}\n\n\
         [profile sso-jump]\nrole_arn = {TARGET_ROLE}\njump_role_arn = {JUMP_ROLE}\n\
         web_identity_auth_url = {issuer}\nweb_identity_client_id = {}\n\n\
         [profile sso-bobs]\nrole_arn = {BOBS_ROLE}\n\
         web_identity_auth_url = {issuer}\nweb_identity_client_id = {}\n\n\
         [profile sso-down]\nrole_arn = {SIGNIN_ROLE}\n\
         web_identity_auth_url = http://127.0.0.1:9/realms/none\nweb_identity_client_id = x\n",
        keycloak::DESKTOP_CLIENT,
        keycloak::RUNAS_CLIENT,
        keycloak::RUNAS_CLIENT,
        keycloak::RUNAS_CLIENT,
    ));
    std::fs::write(&config, text).unwrap();
    world
}

fn assumed(role: &str, session: &str) -> String {
    let name = role.rsplit('/').next().unwrap();
    format!("arn:aws:sts::{ACCOUNT_ID}:assumed-role/{name}/{session}")
}

#[tokio::test(flavor = "multi_thread")]
async fn post_auth_signs_in_with_a_password_and_every_client_gets_the_role() {
    let issuer = keycloak_issuer().await;
    let world = world(&issuer).await;
    let server = Desktop::start(&world, "ecs", "sso-runas").await;

    // Nobody signed in: a credential request answers at once, naming the page.
    let (status, body) = server.credentials("/credentials").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("SignInRequired") && body.contains(&server.url()),
        "{body}"
    );
    let (status, body) = server.request("GET", "/profile", &[], "").await;
    assert_eq!(status, 200);
    assert!(body.contains("\"signInRequired\":true"), "{body}");

    // aws-runas's protocol: a switch answers 401 AUTH until someone signs in.
    let (status, body) = server.post("/profile", "sso-runas").await;
    assert_eq!(status, 401, "{body}");

    let (status, body) = server
        .post("/auth", "username=alice&password=not-her-password")
        .await;
    assert_eq!(status, 401, "a wrong password: {body}");
    assert!(body.contains("refused the username"), "{body}");

    let (status, body) = server
        .post(
            "/auth",
            &format!("username=alice&password={}", keycloak::ALICE_PASSWORD),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // The role session is named after the signed-in user, as aws-runas names it.
    let arn = world.boto3_caller(&server.exports).await;
    assert_eq!(arn, assumed(SIGNIN_ROLE, "alice"));

    let output = world
        .command(awscli())
        .args([
            "sts",
            "get-caller-identity",
            "--query",
            "Arn",
            "--output",
            "text",
        ])
        .envs(server.exports.iter().map(|(k, v)| (k, v)))
        .output()
        .await
        .unwrap();
    assert_success(&output, "aws sts get-caller-identity");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        assumed(SIGNIN_ROLE, "alice")
    );

    // One sign-in serves every profile of the same provider, client and user: the jump
    // role first, then the target role with its credentials.
    let (status, body) = server.credentials("/credentials/sso-jump").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.post("/profile", "sso-jump").await;
    assert_eq!(status, 200, "{body}");
    let arn = world.boto3_caller(&server.exports).await;
    assert!(
        arn.starts_with(&format!(
            "arn:aws:sts::{ACCOUNT_ID}:assumed-role/signin-target/"
        )),
        "{arn}"
    );
    assert!(world.sts.calls("AssumeRoleWithWebIdentity") >= 2);

    // A role whose trust names another subject refuses alice's token.
    let (status, body) = server.post("/profile", "sso-bobs").await;
    assert_eq!(status, 502, "STS refused the role: {body}");
    assert!(body.contains("AWS refused"), "{body}");

    // The desktop client does not allow the password grant: said plainly.
    let (status, body) = server
        .post(
            "/auth",
            &format!(
                "profile=sso-desktop&username=alice&password={}",
                keycloak::ALICE_PASSWORD
            ),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("does not allow signing in with a username and password"),
        "{body}"
    );

    // A provider that cannot be reached: unavailable, not a wrong password.
    let (status, body) = server
        .post("/auth", "profile=sso-down&username=alice&password=x")
        .await;
    assert_eq!(status, 503, "{body}");

    // A redirect this server did not start is refused and changes nothing.
    let (status, body) = server
        .request("GET", "/signin/callback?state=forged&code=stolen", &[], "")
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not started here"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_the_provider_ends_needs_a_person_again() {
    let issuer = keycloak_issuer().await;
    let world = world(&issuer).await;
    // The short-lived client's ID tokens live less than the renewal margin: every fetch
    // renews the sign-in with the refresh token (and its sessions idle out in seconds, so
    // the sign-in lives only as long as it is renewed).
    let config = world.home.path().join(".aws/config");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[profile sso-short]\nrole_arn = {SIGNIN_ROLE}\n\
         web_identity_auth_url = {}\nweb_identity_client_id = {}\n",
        issuer,
        keycloak::SHORTLIVED_CLIENT,
    ));
    std::fs::write(&config, text).unwrap();
    let server = Desktop::start(&world, "ecs", "sso-short").await;
    let (status, body) = server
        .post(
            "/auth",
            &format!("username=bob&password={}", keycloak::BOB_PASSWORD),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.post("/refresh", "").await;
    assert_eq!(status, 200, "renewed with the refresh token: {body}");

    // Keycloak ends bob's sessions (no other test here signs bob in): the refresh token
    // stops working, and the next fetch needs a person again — at once, not after a wait.
    keycloak::logout_user(keycloak::BOB_ID).await;
    let (status, body) = server.post("/refresh", "").await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = server.request("GET", "/signin", &[], "").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"signedIn\":false"),
        "the sign-in is forgotten: {body}"
    );
    // Credentials issued before stay good until they expire, as AWS keeps honouring them.
    let (status, body) = server.credentials("/credentials/sso-short").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_with_a_second_factor_gives_its_code_with_the_password() {
    let issuer = keycloak_issuer().await;
    let world = world(&issuer).await;
    let server = Desktop::start(&world, "ecs", "sso-runas").await;
    let password = format!("username=carol&password={}", keycloak::CAROL_PASSWORD);
    let (status, body) = server.post("/auth", &password).await;
    assert_eq!(status, 401, "no code: {body}");
    let (status, body) = server
        .post(
            "/auth",
            &format!("{password}&otp={}", keycloak::carol_totp()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let arn = world.boto3_caller(&server.exports).await;
    assert_eq!(arn, assumed(SIGNIN_ROLE, "carol"));
}

/// Runs `tests/browser/signin.cjs MODE` with `env`; panics with its output on failure.
///
/// One at a time: the scripts all give alice's consent to the desktop client, and Keycloak
/// (26.x) stores two consents given at once as two rows, then fails every later consent of
/// hers with "More results found for user" (an internal server error on the consent page).
async fn signin_script(world: &World, mode: &str, env: &[(&str, String)]) {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    let modules = root().join("build/browser/node_modules");
    assert!(
        modules.join("playwright-core/package.json").exists(),
        "build/browser/node_modules/playwright-core is missing: run scripts/test.sh"
    );
    let screenshots = root().join("build/screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    let trap = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut command = world.command("node");
    command
        .arg(root().join("tests/browser/signin.cjs"))
        .arg(mode)
        .env("NODE_PATH", &modules)
        .env("IDP_URL", keycloak::base_url())
        .env("PROXY_TRAP", trap.local_addr().unwrap().to_string())
        .env("SCREENSHOT_DIR", &screenshots)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    let output = tokio::time::timeout(BROWSER_TIMEOUT, command.output())
        .await
        .expect("the browser script finished in time")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success() && stdout.contains(&format!("all checks passed ({mode})")),
        "signin.cjs {mode} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_signs_in_through_the_browser_with_pkce() {
    let issuer = keycloak_issuer().await;
    let world = world(&issuer).await;
    let server = Desktop::start(&world, "ecs", "sso-desktop").await;
    let docs = root().join("docs/screenshot-signin-dialog.png");
    let mut env = vec![
        ("PAGE_URL", server.url()),
        ("EXPECT_ROLE", SIGNIN_ROLE.to_owned()),
        ("USERNAME", keycloak::ALICE.to_owned()),
        ("PASSWORD", keycloak::ALICE_PASSWORD.to_owned()),
    ];
    if !docs.exists() || std::env::var_os("NEEDROLESHERE_UPDATE_SCREENSHOT").is_some() {
        env.push(("DOCS_SCREENSHOT", docs.display().to_string()));
    }
    signin_script(&world, "page-browser", &env).await;
    let arn = world.boto3_caller(&server.exports).await;
    assert_eq!(arn, assumed(SIGNIN_ROLE, "alice"));
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_ec2_signs_in_with_a_device_code_on_the_page() {
    let issuer = keycloak_issuer().await;
    let world = world(&issuer).await;
    let server = Desktop::start(&world, "ec2", "sso-desktop").await;
    signin_script(
        &world,
        "page-device",
        &[
            ("PAGE_URL", server.url()),
            ("EXPECT_ROLE", SIGNIN_ROLE.to_owned()),
            ("USERNAME", keycloak::ALICE.to_owned()),
            ("PASSWORD", keycloak::ALICE_PASSWORD.to_owned()),
        ],
    )
    .await;
    let mut imds = server.exports.clone();
    imds.push(("AWS_EC2_METADATA_DISABLED".into(), "false".into()));
    let arn = world.boto3_caller(&imds).await;
    assert_eq!(arn, assumed(SIGNIN_ROLE, "alice"));
    // The JavaScript SDK v3 through IMDS too.
    let output = world
        .command("node")
        .arg(root().join("tests/clients/node/credentials.cjs"))
        .args(["instance-metadata", "prove"])
        .envs(imds.iter().map(|(k, v)| (k, v)))
        .output()
        .await
        .unwrap();
    assert_success(&output, "js-v3 instance-metadata");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(&assumed(SIGNIN_ROLE, "alice")), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_signs_in_on_the_terminal_with_a_device_code() {
    let issuer = keycloak_issuer().await;
    let world = world(&issuer).await;
    let script = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])";
    let mut child = world
        .command(BIN)
        .args(["exec", "sso-desktop", "--"])
        .arg(python())
        .args(["-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let (url, code) = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), stderr.next_line())
            .await
            .expect("exec printed the device code in time")
            .unwrap()
            .expect("exec printed the device code before exiting");
        if let Some(rest) = line.split_once(": open ").map(|(_, r)| r)
            && let Some((url, code)) = rest.split_once(" and enter the code ")
        {
            break (url.to_owned(), code.trim().to_owned());
        }
    };
    let approve_env = [
        ("DEVICE_URL", url),
        ("USER_CODE", code),
        ("USERNAME", keycloak::ALICE.to_owned()),
        ("PASSWORD", keycloak::ALICE_PASSWORD.to_owned()),
    ];
    let approve = signin_script(&world, "approve", &approve_env);
    let rest = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Ok(Some(line)) = stderr.next_line().await {
            lines.push(line);
        }
        lines
    });
    approve.await;
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("exec finished")
        .unwrap();
    let said = rest.await.unwrap().join("\n");
    assert!(output.status.success(), "exec failed: {said}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        assumed(SIGNIN_ROLE, "alice"),
        "{said}"
    );
}

/// `needroleshere login PROFILE --no-browser` for an OpenID Connect profile: the same device
/// sign-in as `exec`, then the profile's credentials to prove it works.
#[tokio::test(flavor = "multi_thread")]
async fn login_signs_an_oidc_profile_in_on_the_terminal() {
    let issuer = keycloak_issuer().await;
    let world = world(&issuer).await;
    let mut child = world
        .command(BIN)
        .args(["login", "sso-desktop", "--no-browser"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let (url, code) = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), stderr.next_line())
            .await
            .expect("login printed the device code in time")
            .unwrap()
            .expect("login printed the device code before exiting");
        if let Some(rest) = line.split_once(": open ").map(|(_, r)| r)
            && let Some((url, code)) = rest.split_once(" and enter the code ")
        {
            break (url.to_owned(), code.trim().to_owned());
        }
    };
    let approve_env = [
        ("DEVICE_URL", url),
        ("USER_CODE", code),
        ("USERNAME", keycloak::ALICE.to_owned()),
        ("PASSWORD", keycloak::ALICE_PASSWORD.to_owned()),
    ];
    let approve = signin_script(&world, "approve", &approve_env);
    let rest = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Ok(Some(line)) = stderr.next_line().await {
            lines.push(line);
        }
        lines
    });
    approve.await;
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("login finished")
        .unwrap();
    let said = rest.await.unwrap().join("\n");
    assert!(status.success(), "login failed: {said}");
    assert!(
        said.contains("profile sso-desktop works (access key ASIA")
            && said.contains("kept in memory only"),
        "{said}"
    );
}
