//! The desktop servers' page (`GET /` of `serve ecs` and `serve ec2`) in a real Chromium,
//! driven by `tests/browser/page.cjs` with playwright-core, against the real binary in front
//! of the strict STS double: alice's keys + MFA → admin → auditor, bob → developer.
//!
//! Needs Debian's `/usr/bin/chromium`, Node.js and `build/browser/node_modules/playwright-core`
//! (from `tests/browser/package-lock.json`); `scripts/test.sh` installs all three. The
//! browser reaches nothing but the server: every other request is blocked by the script, and
//! its proxy is a trap here that fails the test if anything arrives. Screenshots go to
//! `build/screenshots/`; `docs/screenshot-desktop-page.png` is written when it is missing or
//! when `NEEDROLESHERE_UPDATE_SCREENSHOT=1`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use needroleshere::testutil::registry::Registry;
use needroleshere::testutil::rolesanywhere::{ACCOUNT_ID, Running};
use needroleshere::testutil::sts::{
    ADMIN_ROLE_ARN, ALICE_ACCESS_KEY_ID, ALICE_MFA_SECRET, ALICE_MFA_SERIAL,
    ALICE_SECRET_ACCESS_KEY, AUDITOR_ROLE_ARN, BOB_ACCESS_KEY_ID, BOB_SECRET_ACCESS_KEY,
    DEVELOPER_ROLE_ARN, FakeSts, StsConfig, totp,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_needroleshere");
const CHROMIUM: &str = "/usr/bin/chromium";
/// The whole browser run of one server, launch included.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(90);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `build/browser/node_modules`, after checking that everything the script needs is there.
fn browser_tools() -> PathBuf {
    let modules = root().join("build/browser/node_modules");
    let missing: Vec<&str> = [
        (
            Path::new(CHROMIUM).exists(),
            "Debian's chromium (/usr/bin/chromium)",
        ),
        (
            std::process::Command::new("node")
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success()),
            "node",
        ),
        (
            modules.join("playwright-core/package.json").exists(),
            "build/browser/node_modules/playwright-core",
        ),
    ]
    .into_iter()
    .filter(|(present, _)| !present)
    .map(|(_, what)| what)
    .collect();
    assert!(
        missing.is_empty(),
        "the browser tests need {}: run scripts/test.sh, which installs them",
        missing.join(", ")
    );
    modules
}

/// A home with AWS files describing alice (keys + MFA) → admin → auditor, and bob → developer.
struct World {
    _sts: FakeSts,
    _running: Running,
    url: String,
    home: tempfile::TempDir,
}

const ROLES: [&str; 6] = [
    "admin",
    "admin-totp",
    "auditor",
    "developer",
    "loop-a",
    "loop-b",
];
const PROFILES: [&str; 3] = ["alice", "bob", "default"];

impl World {
    async fn new() -> Self {
        let sts = FakeSts::new(StsConfig::example(Registry::new()));
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
            _sts: sts,
            _running: running,
            url,
            home,
        }
    }

    /// The environment every process here gets: our files, the double as STS, nothing else.
    fn env(&self) -> Vec<(String, String)> {
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
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ("NO_PROXY".into(), "*".into()),
        ]
    }

    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(program);
        command.env_clear().envs(self.env()).kill_on_drop(true);
        command
    }

    /// What the page expects to see in this world, for the script.
    fn expectations(&self, active: &str) -> String {
        serde_json::json!({
            "roles": ROLES,
            "profiles": PROFILES,
            "active": active,
            "roleArns": {
                "admin": ADMIN_ROLE_ARN,
                "admin-totp": ADMIN_ROLE_ARN,
                "auditor": AUDITOR_ROLE_ARN,
                "developer": DEVELOPER_ROLE_ARN,
            },
            "account": ACCOUNT_ID,
            "mfaSerial": ALICE_MFA_SERIAL,
        })
        .to_string()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `needroleshere serve ecs|ec2` and the variables it printed.
struct Server {
    child: tokio::process::Child,
    port: u16,
    exports: Vec<(String, String)>,
}

impl Server {
    async fn start(world: &World, kind: &str, profile: &str) -> Self {
        let port = free_port();
        let mut child = world
            .command(BIN)
            .args(["serve", kind, "-p", &port.to_string(), profile])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
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

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    fn export(&self, name: &str) -> String {
        self.exports
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("the server printed no {name}"))
    }

    /// A raw `GET` with the given `Host`: (status line, head, body).
    async fn get(&self, path: &str, host: &str) -> (String, String, String) {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let status = head.lines().next().unwrap_or_default().to_owned();
        (status, head.to_ascii_lowercase(), body.to_owned())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// The browser's proxy: anything the browser sends past loopback lands here, is recorded
/// and dropped. The test fails if it saw anything.
struct Trap {
    addr: std::net::SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Trap {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut head = vec![0; 512];
                let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut head))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or(0);
                let line = String::from_utf8_lossy(&head[..read])
                    .lines()
                    .next()
                    .unwrap_or("(nothing sent)")
                    .to_owned();
                record.lock().unwrap().push(line);
            }
        });
        Self { addr, seen, task }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Trap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether a request line the trap caught is one of Debian Chromium's own background calls
/// that no flag turns off (Google account listing, a component update check, both made
/// because Debian builds in Google API keys). The trap drops them, so they never leave the
/// machine; anything else fails the test.
fn chromium_own(request_line: &str) -> bool {
    const OWN_HOSTS: [&str; 2] = ["accounts.google.com", "update.googleapis.com"];
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let host = if method == "CONNECT" {
        target.rsplit_once(':').map(|(host, _)| host.to_owned())
    } else {
        url::Url::parse(target)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
    };
    host.is_some_and(|h| OWN_HOSTS.contains(&h.as_str()))
}

/// The MFA codes of the steps around now (the script picks the one current when it types),
/// and a well-formed code that is none of the nearby ones.
fn mfa_codes() -> (String, String) {
    let now = std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .unwrap()
        .as_secs() as i64;
    let step = now / 30;
    let codes: serde_json::Map<String, serde_json::Value> = (step - 1..=step + 6)
        .map(|s| (s.to_string(), totp(ALICE_MFA_SECRET, s * 30).into()))
        .collect();
    let nearby: Vec<String> = (step - 2..=step + 8)
        .map(|s| totp(ALICE_MFA_SECRET, s * 30))
        .collect();
    let wrong = (0..10)
        .map(|d| d.to_string().repeat(6))
        .find(|c| !nearby.contains(c))
        .expect("ten codes cannot all be near");
    (serde_json::Value::Object(codes).to_string(), wrong)
}

/// Runs `tests/browser/page.cjs MODE` against `server`; panics with its output on failure.
async fn run_page_script(world: &World, server: &Server, mode: &str, extra: &[(&str, String)]) {
    let modules = browser_tools();
    let trap = Trap::start().await;
    let screenshots = root().join("build/screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    let started = Instant::now();
    let mut command = world.command("node");
    command
        .arg(root().join("tests/browser/page.cjs"))
        .arg(mode)
        .env("NODE_PATH", &modules)
        .env("CHROMIUM", CHROMIUM)
        .env("PAGE_URL", server.url())
        .env("PROXY_TRAP", trap.addr.to_string())
        .env("SCREENSHOT_DIR", &screenshots)
        .env("TZ", "UTC")
        .envs(extra.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let output = tokio::time::timeout(SCRIPT_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "tests/browser/page.cjs {mode} did not finish in {SCRIPT_TIMEOUT:?} \
                 (screenshots of a failure, if any, in {})",
                screenshots.display()
            )
        })
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "the page failed in Chromium ({mode}, {:.1} s):\n{stderr}\n--- what passed before ---\n{stdout}",
        started.elapsed().as_secs_f64()
    );
    assert!(
        stdout.contains(&format!("all checks passed ({mode})")),
        "the script exited 0 without finishing:\n{stdout}"
    );
    let (own, leaked): (Vec<String>, Vec<String>) =
        trap.seen().into_iter().partition(|line| chromium_own(line));
    assert!(
        leaked.is_empty(),
        "the browser tried to reach beyond this machine (the trap dropped it): {leaked:?}"
    );
    if !own.is_empty() {
        println!(
            "Chromium's own background calls, dropped by the trap: {}",
            own.join("; ")
        );
    }
    println!(
        "browser run ({mode}) took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_switches_roles_asks_for_mfa_and_agrees_with_the_credentials() {
    let world = World::new().await;
    let server = Server::start(&world, "ecs", "developer").await;

    // The page is behind the same guard as the API: a DNS-rebinding name gets nothing.
    let host = format!("127.0.0.1:{}", server.port);
    let (status, head, body) = server.get("/", &host).await;
    assert!(status.ends_with("200 OK"), "{status}");
    assert!(head.contains("content-security-policy: default-src 'self'"));
    assert!(head.contains("x-content-type-options: nosniff"));
    assert!(body.contains("<select id=\"profile-select\""), "{body}");
    let (status, head, _) = server.get("/page/page.js", &host).await;
    assert!(status.ends_with("200 OK"), "{status}");
    assert!(head.contains("content-type: text/javascript"), "{head}");
    let (status, _, body) = server.get("/", "rebound.example:80").await;
    assert!(status.contains(" 403 "), "{status}");
    assert!(!body.contains("<html"), "{body}");
    let (status, _, _) = server.get("/page/nope.js", &host).await;
    assert!(status.contains(" 404 "), "{status}");

    let (codes, wrong) = mfa_codes();
    let mut extra = vec![
        ("EXPECT", world.expectations("developer")),
        (
            "ECS_TOKEN",
            server.export("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
        ),
        ("MFA_CODES", codes),
        ("WRONG_CODE", wrong),
    ];
    let docs = root().join("docs/screenshot-desktop-page.png");
    if !docs.exists() || std::env::var_os("NEEDROLESHERE_UPDATE_SCREENSHOT").is_some() {
        std::fs::create_dir_all(docs.parent().unwrap()).unwrap();
        extra.push(("DOCS_SCREENSHOT", docs.display().to_string()));
    }
    run_page_script(&world, &server, "ecs", &extra).await;

    for name in [
        "page-ecs-375.png",
        "page-ecs-1280.png",
        "page-ecs-375-mfa-dialog.png",
        "page-ecs-375-error.png",
    ] {
        let png = std::fs::read(root().join("build/screenshots").join(name)).unwrap();
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
            "{name} is not a screenshot"
        );
    }
    assert!(docs.exists(), "no {}", docs.display());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_on_serve_ec2_asks_for_mfa_at_load_and_agrees_with_imds() {
    let world = World::new().await;
    let server = Server::start(&world, "ec2", "admin").await;
    run_page_script(
        &world,
        &server,
        "ec2",
        &[("EXPECT", world.expectations("admin"))],
    )
    .await;
}
