//! Shared helpers for the integration tests: a throwaway PKI made by
//! `tests/pki/generate.sh` once per test binary, the `needroleshere-fake-aws` binary, and
//! the helpers of each group of tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A directory holding the test PKI (see `tests/pki/generate.sh` for its files).
pub(crate) fn pki() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        fake_aws::generate_pki(dir.path()).expect("the test PKI");
        dir
    })
    .path()
}

/// A local service one test command shares (Keycloak, SimpleSAMLphp), run by
/// `scripts/NAME.sh`: the URL in `url_env` (with its state directory in `state_env`) once
/// `NAME.sh wait` says it is ready; else one started for this test binary with `NAME.sh
/// start`, whose watchdog (`PREFIX_PARENT_PID`, `PREFIX_REMOVE_STATE`) ends it, and removes
/// its files, once this process is gone. Blocks until ready.
pub(crate) fn shared_service(
    name: &str,
    env_prefix: &str,
    url_env: &str,
    state_env: &str,
) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scripts/{name}.sh"));
    if let Ok(url) = std::env::var(url_env) {
        let mut wait = std::process::Command::new("bash");
        wait.arg(&script).arg("wait").arg(&url);
        if let Ok(state) = std::env::var(state_env) {
            wait.arg(state);
        }
        let status = wait
            .status()
            .unwrap_or_else(|e| panic!("run scripts/{name}.sh wait: {e}"));
        assert!(status.success(), "the shared {name} at {url} is not ready");
        return url;
    }
    // Kept (not removed on drop): the watchdog removes it after the service stops.
    let state = tempfile::Builder::new()
        .prefix(&format!("needroleshere-{name}-"))
        .tempdir()
        .expect("a temporary directory")
        .keep();
    let output = std::process::Command::new("bash")
        .arg(&script)
        .arg("start")
        .arg(&state)
        .env(
            format!("{env_prefix}_PARENT_PID"),
            std::process::id().to_string(),
        )
        .env(format!("{env_prefix}_REMOVE_STATE"), "1")
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("run scripts/{name}.sh start: {e}"));
    assert!(
        output.status.success(),
        "scripts/{name}.sh start failed ({}); see its messages above",
        output.status
    );
    String::from_utf8(output.stdout)
        .expect("a URL")
        .lines()
        .last()
        .unwrap_or_else(|| panic!("scripts/{name}.sh start printed no URL"))
        .trim()
        .to_owned()
}

/// The `needroleshere-fake-aws` binary (the strict fakes as a process, for network
/// namespaces), built once per test binary with `cargo build -p needroleshere-fake-aws`.
///
/// It belongs to another package of the workspace (crates/fake-aws), so Cargo gives this
/// package no `CARGO_BIN_EXE_` for it; building it here works from a fresh clone and never
/// runs a stale copy (an up-to-date build is a no-op). Cargo reports where it put it.
pub(crate) fn fake_aws_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let output = std::process::Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--message-format=json"])
            .args([
                "-p",
                "needroleshere-fake-aws",
                "--bin",
                "needroleshere-fake-aws",
            ])
            .arg("--manifest-path")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("run cargo build -p needroleshere-fake-aws");
        assert!(
            output.status.success(),
            "cargo build -p needroleshere-fake-aws failed ({})",
            output.status
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|message| message["target"]["name"] == "needroleshere-fake-aws")
            .find_map(|message| message["executable"].as_str().map(PathBuf::from))
            .expect("cargo named the needroleshere-fake-aws executable")
    })
}

/// `pki().join(name)`.
pub(crate) fn pki_file(name: &str) -> PathBuf {
    pki().join(name)
}

/// A new empty directory to stand for the user's runtime directory (`XDG_RUNTIME_DIR`) in
/// one run of `credential-process`: the run starts with a cold shared credential cache of
/// its own (src/process_cache.rs), never reads one a run of another test left under the
/// same endpoint (ports are reused), and never writes into the host user's.
pub(crate) fn fresh_runtime_dir() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static ROOT: OnceLock<tempfile::TempDir> = OnceLock::new();
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let root = ROOT.get_or_init(|| tempfile::tempdir().expect("temporary directory"));
    let dir = root
        .path()
        .join(NEXT.fetch_add(1, Ordering::Relaxed).to_string());
    std::fs::create_dir(&dir).expect("a runtime directory");
    dir
}

/// The password of every `*.pkcs8-encrypted.key` in the test PKI.
pub(crate) const PKCS8_PASSWORD: &str = "correct horse battery staple";
pub(crate) mod browser;
pub(crate) mod daemon;
pub(crate) mod fixed_fake;
pub(crate) mod hostile;
pub(crate) mod imds;
pub(crate) mod keycloak;
pub(crate) mod matrix;
pub(crate) mod profiles;
pub(crate) mod saml;
pub(crate) mod samples;
pub(crate) mod simplesamlphp;
pub(crate) mod softhsm;
pub(crate) mod sso;
pub(crate) mod swtpm;
pub(crate) mod users;
