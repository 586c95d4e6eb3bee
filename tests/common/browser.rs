//! What the Chromium tests share (tests/browser_page.rs, tests/sso_desktop.rs,
//! tests/saml_page.rs): the check that Debian's Chromium and playwright-core are installed,
//! and the trap the browser's proxy points at.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt as _;

/// Debian's Chromium, which every browser script launches (tests/browser/chromium.cjs).
pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `build/browser/node_modules`, after checking that everything the scripts need is there.
pub(crate) fn browser_tools() -> PathBuf {
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

/// `build/screenshots`, made if missing.
pub(crate) fn screenshots() -> PathBuf {
    let dir = root().join("build/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The browser's proxy: anything the browser sends past loopback lands here, is recorded
/// (its first line) and dropped.
pub(crate) struct Trap {
    pub(crate) addr: std::net::SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Trap {
    pub(crate) async fn start() -> Self {
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

    /// Every request line caught so far.
    pub(crate) fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// What was caught, split into (Debian Chromium's own background calls, anything else):
    /// a test fails on the second.
    pub(crate) fn own_and_leaked(&self) -> (Vec<String>, Vec<String>) {
        self.seen().into_iter().partition(|line| chromium_own(line))
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
pub(crate) fn chromium_own(request_line: &str) -> bool {
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

/// The 6-digit codes of a TOTP `code_at(step)` for the 30-second steps around now, as JSON
/// (step → code; a browser script picks the one current when it types), and a well-formed
/// code that is none of the nearby ones.
pub(crate) fn totp_codes(code_at: impl Fn(i64) -> String) -> (String, String) {
    let now = std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .unwrap()
        .as_secs() as i64;
    let step = now / 30;
    let codes: serde_json::Map<String, serde_json::Value> = (step - 1..=step + 6)
        .map(|s| (s.to_string(), code_at(s).into()))
        .collect();
    let nearby: Vec<String> = (step - 2..=step + 8).map(&code_at).collect();
    let wrong = (0..10)
        .map(|d| d.to_string().repeat(6))
        .find(|c| !nearby.contains(c))
        .expect("ten codes cannot all be near");
    (serde_json::Value::Object(codes).to_string(), wrong)
}
