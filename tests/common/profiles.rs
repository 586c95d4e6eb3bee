//! The world of the AWS-profile tests (`tests/profiles.rs`, `tests/browser_page.rs`): the
//! strict STS double, a home whose AWS files describe alice (keys + MFA) → admin → auditor
//! and bob → developer (plus a TOTP profile and a `source_profile` loop), and the desktop
//! server `needroleshere serve ecs|ec2` started in it.

use std::process::Stdio;
use std::time::Duration;

use fake_aws::registry::Registry;
use fake_aws::rolesanywhere::Running;
use fake_aws::sts::{
    ADMIN_ROLE_ARN, ALICE_ACCESS_KEY_ID, ALICE_MFA_SECRET, ALICE_MFA_SERIAL,
    ALICE_SECRET_ACCESS_KEY, AUDITOR_ROLE_ARN, BOB_ACCESS_KEY_ID, BOB_SECRET_ACCESS_KEY,
    DEVELOPER_ROLE_ARN, FakeSts, StsConfig, totp,
};

use super::daemon::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_needroleshere");

/// The STS double and a home with AWS files that use it.
pub(crate) struct World {
    pub sts: FakeSts,
    _running: Running,
    pub url: String,
    pub home: tempfile::TempDir,
}

impl World {
    pub(crate) async fn new() -> Self {
        Self::with_sts(|_| {}).await
    }

    /// The world with the double's example configuration changed by `edit` (more roles).
    pub(crate) async fn with_sts(edit: impl FnOnce(&mut StsConfig)) -> Self {
        let mut config = StsConfig::example(Registry::new());
        edit(&mut config);
        let sts = FakeSts::new(config);
        let running = sts
            .spawn_http("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let url = format!("http://{}", running.addr);
        let home = tempfile::tempdir().unwrap();
        let aws = home.path().join(".aws");
        std::fs::create_dir_all(&aws).unwrap();
        std::fs::write(
            aws.join("config"),
            format!(
                "[default]\nregion = us-east-1\n\n\
                 [profile alice]\nmfa_serial = {ALICE_MFA_SERIAL}\n\n\
                 [profile admin]\nrole_arn = {ADMIN_ROLE_ARN}\nsource_profile = alice\n\n\
                 [profile auditor]\nrole_arn = {AUDITOR_ROLE_ARN}\nsource_profile = admin\n\n\
                 [profile developer]\nrole_arn = {DEVELOPER_ROLE_ARN}\nsource_profile = bob\n\n\
                 [profile admin-totp]\nrole_arn = {ADMIN_ROLE_ARN}\nsource_profile = alice\n\
                 mfa_serial = {ALICE_MFA_SERIAL}\nmfa_totp_secret = {ALICE_MFA_SECRET}\n\n\
                 [profile loop-a]\nrole_arn = {DEVELOPER_ROLE_ARN}\nsource_profile = loop-b\n\n\
                 [profile loop-b]\nrole_arn = {DEVELOPER_ROLE_ARN}\nsource_profile = loop-a\n"
            ),
        )
        .unwrap();
        std::fs::write(
            aws.join("credentials"),
            format!(
                "[alice]\naws_access_key_id = {ALICE_ACCESS_KEY_ID}\naws_secret_access_key = {ALICE_SECRET_ACCESS_KEY}\n\n\
                 [bob]\naws_access_key_id = {BOB_ACCESS_KEY_ID}\naws_secret_access_key = {BOB_SECRET_ACCESS_KEY}\n"
            ),
        )
        .unwrap();
        Self {
            sts,
            _running: running,
            url,
            home,
        }
    }

    /// The environment every process here gets: our files, the double as STS, nothing else.
    pub(crate) fn env(&self) -> Vec<(String, String)> {
        let aws = self.home.path().join(".aws");
        vec![
            ("HOME".into(), self.home.path().display().to_string()),
            (
                "AWS_CONFIG_FILE".into(),
                aws.join("config").display().to_string(),
            ),
            (
                "AWS_SHARED_CREDENTIALS_FILE".into(),
                aws.join("credentials").display().to_string(),
            ),
            ("AWS_ENDPOINT_URL_STS".into(), self.url.clone()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ("NO_PROXY".into(), "*".into()),
        ]
    }

    /// `program` with exactly [`World::env`], killed when dropped.
    pub(crate) fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(program);
        command.env_clear().envs(self.env()).kill_on_drop(true);
        command
    }

    /// GetCallerIdentity by boto3 with `extra` variables; the ARN it printed.
    pub(crate) async fn boto3_caller(&self, extra: &[(String, String)]) -> String {
        let script = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])";
        let output = self
            .command(super::daemon::python())
            .args(["-c", script])
            .envs(extra.iter().map(|(k, v)| (k, v)))
            .output()
            .await
            .unwrap();
        super::daemon::assert_success(&output, "boto3");
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// alice's MFA code now.
    pub(crate) fn code(&self) -> String {
        let now = std::time::SystemTime::UNIX_EPOCH
            .elapsed()
            .unwrap()
            .as_secs() as i64;
        totp(ALICE_MFA_SECRET, now)
    }
}

/// A running `needroleshere serve ecs|ec2 PROFILE` and the variables it printed.
pub(crate) struct Desktop {
    child: tokio::process::Child,
    pub port: u16,
    pub exports: Vec<(String, String)>,
}

impl Desktop {
    pub(crate) async fn start(world: &World, kind: &str, profile: &str) -> Self {
        let port = free_port();
        Self::start_with(world, kind, port, &["-p", &port.to_string(), profile]).await
    }

    /// `serve KIND ARGS…`, which must listen on 127.0.0.1:`port`.
    pub(crate) async fn start_with(world: &World, kind: &str, port: u16, args: &[&str]) -> Self {
        let mut child = world
            .command(BIN)
            .args(["serve", kind])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
        let mut exports = Vec::new();
        let wanted = if kind == "ecs" { 2 } else { 1 };
        while exports.len() < wanted {
            let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
                .await
                .expect("the server printed its variables in time")
                .unwrap()
                .expect("the server printed its variables before exiting");
            if let Some((name, value)) =
                line.strip_prefix("export ").and_then(|l| l.split_once('='))
            {
                exports.push((name.to_owned(), value.to_owned()));
            }
        }
        Self {
            child,
            port,
            exports,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// The value of a variable the server printed.
    pub(crate) fn export(&self, name: &str) -> String {
        self.exports
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("the server printed no {name}"))
    }

    /// One request on a fresh connection: (status, body).
    pub(crate) async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
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
        tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
            .await
            .unwrap();
        let mut raw = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut raw)
            .await
            .unwrap();
        let response = super::daemon::parse_response(&raw).unwrap();
        (response.status, response.body)
    }

    /// A form `POST` of the management API, with its CSRF header.
    pub(crate) async fn post(&self, path: &str, body: &str) -> (u16, String) {
        self.request(
            "POST",
            path,
            &[
                ("X-Requested-By", "needroleshere"),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body,
        )
        .await
    }

    /// `GET path` with the bearer token the server printed.
    pub(crate) async fn credentials(&self, path: &str) -> (u16, String) {
        let token = self.export("AWS_CONTAINER_AUTHORIZATION_TOKEN");
        self.request("GET", path, &[("Authorization", &token)], "")
            .await
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
