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

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::profiles::{Desktop, World};
use fake_aws::rolesanywhere::ACCOUNT_ID;
use fake_aws::sts::{
    ADMIN_ROLE_ARN, ALICE_MFA_SECRET, ALICE_MFA_SERIAL, AUDITOR_ROLE_ARN, DEVELOPER_ROLE_ARN, totp,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

const ROLES: [&str; 6] = [
    "admin",
    "admin-totp",
    "auditor",
    "developer",
    "loop-a",
    "loop-b",
];
const PROFILES: [&str; 3] = ["alice", "bob", "default"];

/// What the page expects to see in the profile world, for the script.
fn expectations(active: &str) -> String {
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

impl Desktop {
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
async fn run_page_script(world: &World, server: &Desktop, mode: &str, extra: &[(&str, String)]) {
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
    let server = Desktop::start(&world, "ecs", "developer").await;

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
        ("EXPECT", expectations("developer")),
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
    let server = Desktop::start(&world, "ec2", "admin").await;
    run_page_script(&world, &server, "ec2", &[("EXPECT", expectations("admin"))]).await;
}
