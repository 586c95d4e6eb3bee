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

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::browser::{CHROMIUM, Trap, browser_tools, screenshots, totp_codes};
use common::profiles::{Desktop, World};
use fake_aws::rolesanywhere::ACCOUNT_ID;
use fake_aws::sts::{
    ADMIN_ROLE_ARN, ALICE_MFA_SECRET, ALICE_MFA_SERIAL, AUDITOR_ROLE_ARN, DEVELOPER_ROLE_ARN, totp,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The whole browser run of one server, launch included.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(90);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
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

/// Runs `tests/browser/page.cjs MODE` against `server`; panics with its output on failure.
async fn run_page_script(world: &World, server: &Desktop, mode: &str, extra: &[(&str, String)]) {
    let modules = browser_tools();
    let trap = Trap::start().await;
    let screenshots = screenshots();
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
    let (own, leaked) = trap.own_and_leaked();
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

    let (codes, wrong) = totp_codes(|step| totp(ALICE_MFA_SECRET, step * 30));
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
