//! IAM Identity Center profiles on the desktop, through the real binary against the strict
//! doubles (`fake_aws::sso`, the fake STS): the management API's account and role list and
//! the switch among them (served to the JS v3 SDK through `serve ecs` and to boto3 through
//! `serve ec2`), the page doing the same in Chromium, the terminal sign-in of `login` and
//! `exec`, and the refusals (a choice not offered, a role the person lacks, a profile that
//! signs in nowhere).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::browser::{CHROMIUM, Trap, browser_tools, screenshots};
use common::daemon::{free_port, parse_response, python};
use common::matrix::FakeAws;
use common::sso::{now, sign_in_directly};
use fake_aws::rolesanywhere::ACCOUNT_ID;
use fake_aws::sso::{
    SSO_ALICE, SSO_DEVELOPER_ROLE, SSO_OTHER_ACCOUNT_ID, SSO_READ_ONLY_ROLE, SSO_START_URL,
};
use needroleshere::aws_files::sso_cache::{SsoCache, TokenKey};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_needroleshere");
/// A sign-in on a terminal: the process starts, prints a code, polls every second.
const SIGN_IN_TIMEOUT: Duration = Duration::from_secs(120);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

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
                 [profile not-assigned]\nsso_session = corp\nsso_account_id = {ACCOUNT_ID}\n\
                 sso_role_name = Administrator\n\n\
                 [profile keys]\naws_access_key_id = AKIAEXAMPLEKEYS00001\n\
                 aws_secret_access_key = not-a-real-secret\n"
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

    /// alice signed in, as `aws sso login` would leave it.
    fn sign_in(&self) {
        self.cache()
            .write_token(
                &TokenKey::Session("corp".into()),
                &sign_in_directly(&self.fake.world, true),
                now(),
            )
            .unwrap();
    }

    /// Our files and the doubles, nothing else.
    fn env(&self) -> Vec<(String, String)> {
        let url = self.fake.url();
        let aws = self.home.path().join(".aws");
        [
            ("HOME", self.home.path().display().to_string()),
            ("AWS_CONFIG_FILE", aws.join("config").display().to_string()),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                aws.join("credentials").display().to_string(),
            ),
            ("AWS_ENDPOINT_URL_SSO", url.clone()),
            ("AWS_ENDPOINT_URL_SSO_OIDC", url.clone()),
            ("AWS_ENDPOINT_URL_STS", url),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("NO_PROXY", "*".to_owned()),
            ("XDG_RUNTIME_DIR", self.home.path().display().to_string()),
            ("PATH", std::env::var("PATH").unwrap_or_default()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(program);
        command.env_clear().envs(self.env()).kill_on_drop(true);
        command
    }

    /// `serve KIND -p PORT PROFILE`, once it printed its variables.
    async fn serve(&self, kind: &str, profile: &str) -> Server {
        let port = free_port();
        let mut child = self
            .command(BIN)
            .args(["serve", kind, "-p", &port.to_string(), profile])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut exports = Vec::new();
        let wanted = if kind == "ecs" { 2 } else { 1 };
        while exports.len() < wanted {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .expect("the server printed its variables in time")
                .unwrap()
                .expect("the server printed its variables before exiting");
            if let Some((k, v)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
                exports.push((k.to_owned(), v.to_owned()));
            }
        }
        Server {
            _child: child,
            port,
            exports,
        }
    }

    /// GetCallerIdentity by the JS v3 SDK's `fromHttp()` with `server`'s variables.
    async fn js_v3_caller(&self, server: &Server) -> Value {
        let output = self
            .command("node")
            .arg(root().join("tests/clients/node/credentials.cjs"))
            .args(["http", "prove"])
            .env(
                "NEEDROLESHERE_NODE_MODULES",
                root().join("build/node/node_modules"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(server.exports.iter().map(|(k, v)| (k, v)))
            .output()
            .await
            .unwrap();
        common::daemon::assert_success(&output, "JS v3 (build/node: scripts/test.sh installs it)");
        let line = String::from_utf8(output.stdout).unwrap();
        serde_json::from_str::<Value>(line.trim()).unwrap()["caller"].clone()
    }

    /// GetCallerIdentity by boto3 with `server`'s variables: the ARN.
    async fn boto3_caller(&self, server: &Server) -> String {
        let script = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])";
        let output = self
            .command(python())
            .args(["-c", script])
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .envs(server.exports.iter().map(|(k, v)| (k, v)))
            .output()
            .await
            .unwrap();
        common::daemon::assert_success(&output, "boto3");
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// The role names of the credentials the portal issued, oldest first.
    fn issued_roles(&self) -> Vec<(String, String)> {
        self.fake
            .world
            .sso
            .issued()
            .into_iter()
            .map(|i| (i.account_id, i.role_name))
            .collect()
    }
}

struct Server {
    _child: tokio::process::Child,
    port: u16,
    exports: Vec<(String, String)>,
}

/// An answer of the management API.
struct Answer {
    status: u16,
    auth_type: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

impl Server {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    fn export(&self, name: &str) -> &str {
        self.exports
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} printed"))
    }

    async fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
        let host = format!("127.0.0.1:{}", self.port);
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let response = parse_response(&raw).unwrap();
        Answer {
            status: response.status,
            auth_type: response
                .header("x-awsrunas-authentication-type")
                .map(str::to_owned),
            body: response.body,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.call("GET", path, &[], "").await
    }

    /// A state change with the anti-forgery header, as a form.
    async fn post_form(&self, path: &str, form: &str) -> Answer {
        self.call(
            "POST",
            path,
            &[
                ("X-Requested-By", "needroleshere"),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            form,
        )
        .await
    }

    /// The roles the API lists for `profile`: (account, name, role, active).
    async fn roles(&self, profile: &str) -> Vec<(String, String, String, bool)> {
        let answer = self.get(&format!("/manage/profiles/{profile}/roles")).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let json = answer.json();
        assert_eq!(json["profile"], profile);
        json["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["accountId"].as_str().unwrap().to_owned(),
                    r["accountName"].as_str().unwrap_or("").to_owned(),
                    r["roleName"].as_str().unwrap().to_owned(),
                    r["active"].as_bool().unwrap(),
                )
            })
            .collect()
    }
}

fn alice_roles(active: (&str, &str)) -> Vec<(String, String, String, bool)> {
    [
        (ACCOUNT_ID, "sandbox", SSO_DEVELOPER_ROLE),
        (ACCOUNT_ID, "sandbox", SSO_READ_ONLY_ROLE),
        (SSO_OTHER_ACCOUNT_ID, "production", SSO_READ_ONLY_ROLE),
    ]
    .into_iter()
    .map(|(account, name, role)| {
        (
            account.to_owned(),
            name.to_owned(),
            role.to_owned(),
            (account, role) == active,
        )
    })
    .collect()
}

fn assert_sso_role(arn: &str, account: &str, role: &str) {
    assert!(
        arn.starts_with(&format!(
            "arn:aws:sts::{account}:assumed-role/AWSReservedSSO_{role}_"
        )) && arn.ends_with(&format!("/{SSO_ALICE}")),
        "{arn} is not {role} in {account}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_ecs_lists_the_roles_switches_among_them_and_js_v3_follows() {
    let world = World::new().await;
    let server = world.serve("ecs", "dev").await;

    // Before the sign-in: 401 AUTH, as every call that needs one, and nothing asked.
    let answer = server.get("/manage/profiles/dev/roles").await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert_eq!(answer.auth_type.as_deref(), Some("AUTH"));
    assert_eq!(server.get("/profile").await.json()["signInRequired"], true);
    assert_eq!(world.fake.world.sso.request_count(), 0);

    world.sign_in();
    assert_eq!(server.get("/profile").await.json()["signInRequired"], false);
    // One item a page: the list follows nextToken (2 account pages; 2 + 1 role pages).
    world.fake.world.sso.set_default_page_size(1);
    assert_eq!(
        server.roles("dev").await,
        alice_roles((ACCOUNT_ID, SSO_DEVELOPER_ROLE))
    );
    assert_eq!(world.fake.world.sso.calls("ListAccounts"), 2);
    assert_eq!(world.fake.world.sso.calls("ListAccountRoles"), 3);
    let caller = world.js_v3_caller(&server).await;
    assert_sso_role(
        caller["arn"].as_str().unwrap(),
        ACCOUNT_ID,
        SSO_DEVELOPER_ROLE,
    );

    // Refusals change nothing: no anti-forgery header, a role not offered, half a choice.
    let answer = server
        .call(
            "POST",
            "/manage/profiles/dev/role",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            &format!("accountId={SSO_OTHER_ACCOUNT_ID}&roleName={SSO_READ_ONLY_ROLE}"),
        )
        .await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    let answer = server
        .post_form(
            "/manage/profiles/dev/role",
            &format!("accountId={SSO_OTHER_ACCOUNT_ID}&roleName=Administrator"),
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    let error = answer.json()["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains("Administrator")
            && error.contains(SSO_OTHER_ACCOUNT_ID)
            && error.contains("not among"),
        "{error}"
    );
    let answer = server
        .post_form("/manage/profiles/dev/role", "roleName=ReadOnly")
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.body.contains("accountId"), "{}", answer.body);
    let answer = server
        .post_form(
            "/manage/profiles/dev/role",
            "roleArn=arn:aws:iam::123456789012:role/ReadOnly",
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(
        server.roles("dev").await,
        alice_roles((ACCOUNT_ID, SSO_DEVELOPER_ROLE))
    );

    // The other account's role, as JSON: every front serves it, ~/.aws/config unchanged.
    let config = std::fs::read(world.home.path().join(".aws/config")).unwrap();
    let answer = server
        .call(
            "POST",
            "/manage/profiles/dev/role",
            &[
                ("X-Requested-By", "needroleshere"),
                ("Content-Type", "application/json"),
            ],
            &serde_json::json!({"accountId": SSO_OTHER_ACCOUNT_ID, "roleName": SSO_READ_ONLY_ROLE})
                .to_string(),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["name"], "dev", "{}", answer.body);
    assert_eq!(
        answer.json()["accountId"],
        SSO_OTHER_ACCOUNT_ID,
        "{}",
        answer.body
    );
    assert_eq!(
        answer.json()["roleName"],
        SSO_READ_ONLY_ROLE,
        "{}",
        answer.body
    );
    assert!(
        answer.json()["session"]["accessKey"].is_string(),
        "{}",
        answer.body
    );
    assert_eq!(
        server.roles("dev").await,
        alice_roles((SSO_OTHER_ACCOUNT_ID, SSO_READ_ONLY_ROLE))
    );
    let caller = world.js_v3_caller(&server).await;
    assert_sso_role(
        caller["arn"].as_str().unwrap(),
        SSO_OTHER_ACCOUNT_ID,
        SSO_READ_ONLY_ROLE,
    );
    assert_eq!(caller["account"], SSO_OTHER_ACCOUNT_ID);
    let named = server
        .call(
            "GET",
            "/credentials/dev",
            &[(
                "Authorization",
                server.export("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
            )],
            "",
        )
        .await;
    assert_eq!(named.status, 200, "{}", named.status);
    let issued = world.fake.world.sso.issued();
    let last = issued.last().unwrap();
    assert_eq!(
        (last.account_id.as_str(), last.role_name.as_str()),
        (SSO_OTHER_ACCOUNT_ID, SSO_READ_ONLY_ROLE)
    );
    assert_eq!(named.json()["AccessKeyId"], last.access_key_id.as_str());
    assert_eq!(
        std::fs::read(world.home.path().join(".aws/config")).unwrap(),
        config
    );

    // Back to the profile's own.
    let answer = server
        .call(
            "DELETE",
            "/manage/profiles/dev/role",
            &[("X-Requested-By", "needroleshere")],
            "",
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        server.roles("dev").await,
        alice_roles((ACCOUNT_ID, SSO_DEVELOPER_ROLE))
    );
    let caller = world.js_v3_caller(&server).await;
    assert_sso_role(
        caller["arn"].as_str().unwrap(),
        ACCOUNT_ID,
        SSO_DEVELOPER_ROLE,
    );

    // A profile with keys has no roles to choose; an unknown one is not found.
    let answer = server.get("/manage/profiles/keys/roles").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["roles"], serde_json::json!([]));
    let answer = server
        .post_form(
            "/manage/profiles/keys/role",
            &format!("accountId={ACCOUNT_ID}&roleName={SSO_DEVELOPER_ROLE}"),
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(
        answer.body.contains("no roles to choose"),
        "{}",
        answer.body
    );
    assert_eq!(
        server.get("/manage/profiles/nobody/roles").await.status,
        404
    );

    // A role the person lacks: the portal refuses it, and the switch says so.
    let answer = server
        .post_form("/manage/session", "profile=not-assigned")
        .await;
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert!(answer.body.contains("refused"), "{}", answer.body);
    let active = server.get("/profile").await.json();
    assert_eq!(active["name"], "dev", "the active profile stays");
    assert_eq!(
        world
            .fake
            .world
            .sso
            .rejections()
            .last()
            .map(|r| r.1.clone()),
        Some("ForbiddenException".to_owned()),
        "{:?}",
        world.fake.world.sso.rejections()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_ec2_serves_the_chosen_role_to_boto3_over_imds() {
    let world = World::new().await;
    world.sign_in();
    let server = world.serve("ec2", "dev").await;
    assert!(
        server
            .export("AWS_EC2_METADATA_SERVICE_ENDPOINT")
            .starts_with("http://127.0.0.1:")
    );
    let arn = world.boto3_caller(&server).await;
    assert_sso_role(&arn, ACCOUNT_ID, SSO_DEVELOPER_ROLE);

    let answer = server
        .post_form(
            "/manage/profiles/dev/role",
            &format!("accountId={ACCOUNT_ID}&roleName={SSO_READ_ONLY_ROLE}"),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let arn = world.boto3_caller(&server).await;
    assert_sso_role(&arn, ACCOUNT_ID, SSO_READ_ONLY_ROLE);
    assert_eq!(
        world.issued_roles().last().unwrap(),
        &(ACCOUNT_ID.to_owned(), SSO_READ_ONLY_ROLE.to_owned())
    );
}

/// `ABCD-EFGH`.
fn is_user_code(line: &str) -> bool {
    let bytes = line.as_bytes();
    bytes.len() == 9
        && bytes[4] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || b.is_ascii_uppercase())
}

/// Runs `command` (its output on a pipe), approves (or, `approve` false, denies) the first
/// user code it prints as alice, and returns its exit success and everything it printed.
async fn sign_in_through(
    world: &World,
    mut command: tokio::process::Command,
    approve: bool,
) -> (bool, String) {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _stdin = child.stdin.take();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let run = async {
        let mut out = BufReader::new(stdout).lines();
        let mut err = BufReader::new(stderr).lines();
        let mut printed = String::new();
        let mut answered = false;
        let (mut out_open, mut err_open) = (true, true);
        while out_open || err_open {
            let line = tokio::select! {
                line = out.next_line(), if out_open => line.unwrap().or_else(|| { out_open = false; None }),
                line = err.next_line(), if err_open => line.unwrap().or_else(|| { err_open = false; None }),
            };
            let Some(line) = line else { continue };
            let line = line.trim_end_matches('\r').to_owned();
            printed.push_str(&line);
            printed.push('\n');
            if !answered && is_user_code(line.trim()) {
                let sso = &world.fake.world.sso;
                assert_eq!(sso.pending_user_codes(), vec![line.trim().to_owned()]);
                if approve {
                    sso.approve(line.trim(), SSO_ALICE).unwrap();
                } else {
                    sso.deny(line.trim()).unwrap();
                }
                answered = true;
            }
        }
        let status = child.wait().await.unwrap();
        (status.success(), printed)
    };
    tokio::time::timeout(SIGN_IN_TIMEOUT, run)
        .await
        .expect("the sign-in finished")
}

/// `exec dev` on a terminal (`script` gives it one): it signs in with a device code as
/// `login` does, then runs the command with the role's credentials.
#[tokio::test(flavor = "multi_thread")]
async fn exec_on_a_terminal_signs_in_with_a_device_code() {
    let world = World::new().await;
    let exec = |world: &World| {
        let mut command = world.command("script");
        command.env("SHELL", "/bin/sh").args([
            "-qefc",
            &format!("{BIN} exec dev -- sh -c 'printf \"KEY=%s\\n\" \"$AWS_ACCESS_KEY_ID\"'"),
            "/dev/null",
        ]);
        command
    };

    // Denied at the portal: no credentials, and it says why.
    let (ok, printed) = sign_in_through(&world, exec(&world), false).await;
    assert!(!ok, "{printed}");
    assert!(printed.contains("not approved"), "{printed}");
    assert!(world.fake.world.sso.issued().is_empty());

    let (ok, printed) = sign_in_through(&world, exec(&world), true).await;
    assert!(ok, "{printed}");
    assert!(
        printed.contains("signs in to IAM Identity Center") && printed.contains(SSO_START_URL),
        "{printed}"
    );
    let key = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("KEY="))
        .unwrap_or_else(|| panic!("no key printed:\n{printed}"));
    let issued = world.fake.world.sso.issued();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].access_key_id, key);
    assert_eq!(issued[0].role_name, SSO_DEVELOPER_ROLE);
    let token = world
        .cache()
        .read_token(&TokenKey::Session("corp".into()))
        .unwrap()
        .expect("the CLI's token file");
    assert_eq!(token.start_url.as_deref(), Some(SSO_START_URL));
    assert!(token.refresh_token.is_some());
    // One registration, reused by the second sign-in from the CLI's cache.
    assert_eq!(world.fake.world.sso.calls("RegisterClient"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn login_refuses_a_profile_that_signs_in_nowhere() {
    let world = World::new().await;
    for (profile, expected) in [("keys", "does not sign in anywhere"), ("nobody", "nobody")] {
        let output = world
            .command(BIN)
            .args(["login", profile, "--no-browser"])
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap();
        assert!(!output.status.success());
        let text = String::from_utf8_lossy(&output.stderr);
        assert!(text.contains(expected), "{text}");
    }
    assert_eq!(world.fake.world.sso.request_count(), 0);
}

/// The page in Chromium (`tests/browser/sso.cjs`): the sign-in with a code the double
/// approves, the role list, a switch to the other account's role; then boto3 through the
/// server names that role.
#[tokio::test(flavor = "multi_thread")]
async fn the_page_signs_in_lists_the_roles_and_switches_in_chromium() {
    let world = World::new().await;
    let server = world.serve("ecs", "dev").await;
    let modules = browser_tools();
    let trap = Trap::start().await;
    let screenshots = screenshots();
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        world
            .command("node")
            .arg(root().join("tests/browser/sso.cjs"))
            .env("NODE_PATH", &modules)
            .env("CHROMIUM", CHROMIUM)
            .env("PAGE_URL", server.url())
            .env("SSO_URL", world.fake.url())
            .env("PROXY_TRAP", trap.addr.to_string())
            .env("SCREENSHOT_DIR", &screenshots)
            .env(
                "EXPECT",
                serde_json::json!({
                    "user": SSO_ALICE,
                    "account": ACCOUNT_ID,
                    "otherAccount": SSO_OTHER_ACCOUNT_ID,
                    "role": SSO_DEVELOPER_ROLE,
                    "otherRole": SSO_READ_ONLY_ROLE,
                })
                .to_string(),
            )
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("the browser run finished")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success() && stdout.contains("all checks passed (sso)"),
        "the page failed in Chromium:\n{stderr}\n--- what passed before ---\n{stdout}"
    );
    // Nothing but Debian Chromium's own background calls reached the browser's proxy.
    let (_, leaked) = trap.own_and_leaked();
    assert!(
        leaked.is_empty(),
        "the browser tried to reach beyond this machine: {leaked:?}"
    );

    let arn = world.boto3_caller(&server).await;
    assert_sso_role(&arn, SSO_OTHER_ACCOUNT_ID, SSO_READ_ONLY_ROLE);
    assert!(
        world
            .cache()
            .read_token(&TokenKey::Session("corp".into()))
            .unwrap()
            .is_some(),
        "the page's sign-in is in the CLI's cache"
    );
}
