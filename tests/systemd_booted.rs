//! The daemon under a real systemd: a Debian 12 booted with `systemd-nspawn --boot` runs
//! `tests/systemd/run.sh`, which installs the project's `.deb` with `dpkg -i` and follows
//! README.md and contrib/systemd/README.md literally (socket activation, bindings made by
//! `needroleshere-bind@NAME.service`, consumers that are systemd services using boto3, the
//! relative and IMDS sockets, stop, restart, watchdog, journal, sandbox).
//!
//! The container (`--private-network`: its own loopback, 169.254.170.2 and network
//! namespaces, nothing reaches the host's) boots the cached tree of
//! `tests/systemd/build-tree.sh` with `--volatile=overlay`, so the cache is never changed,
//! and mounts the boto3 of `tests/systemd/build-boto3.sh` (one that reads
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`) at /opt/boto3 for the credential consumers.
//! The scenario writes one `PASS NAME` or `FAIL NAME: why` line per step into a directory
//! shared with the host, then the journal, then powers off. This test checks that every
//! step in [`STEPS`] passed; on failure it prints the results, the console and the journal.
//!
//! It needs root, systemd-nspawn, debootstrap (first run: about 3 minutes to build the tree)
//! and cargo-deb, all installed by scripts/test.sh. Anything missing fails the test, naming
//! what is missing: it never skips.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use fake_aws::rolesanywhere::{PROFILE_ARN, ROLE_ARN, TRUST_ANCHOR_ARN};

/// Every step of tests/systemd/run.sh, in order; each must report PASS.
const STEPS: &[&str] = &[
    "deb-installs",
    "socket-activation",
    "ready-notify",
    "pki-documented-ownership",
    "fake-aws-starts",
    "consumer-gets-role",
    "restart-rotates-token",
    "stop-bind-unbinds",
    "relative-mode",
    "imds-mode",
    "status-and-metrics-sockets",
    "stop-drains-in-flight-request",
    "restart-on-failure",
    "watchdog-keeps-alive",
    "token-as-systemd-credential",
    "pinned-binding-serves-only-its-user",
    "journal-priorities",
    "no-secret-in-journal",
    "analyze-security",
    "run-dir-read-only-for-daemon-user",
];

/// From `systemd-nspawn` starting to the container powering off. The scenario takes about
/// a minute and a half (35 s of it waiting out the watchdog); the rest is slack for a
/// shared, busy machine.
const BOOT_TIMEOUT: Duration = Duration::from_secs(600);

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `command`, failing the test with `what` and its output unless it succeeds; returns
/// its stdout.
fn run(command: &mut Command, what: &str) -> String {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The project's `.deb`, built the way packaging/test-packages.sh builds it (a release
/// build, then `cargo deb --no-build`); both steps are no-ops when already done.
fn build_deb() -> PathBuf {
    let cargo = env!("CARGO");
    let manifest = manifest_dir().join("Cargo.toml");
    run(
        Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "--release",
                "--locked",
                "--manifest-path",
            ])
            .arg(&manifest)
            .stderr(Stdio::inherit()),
        "cargo build --release",
    );
    let has_cargo_deb = Command::new(cargo)
        .args(["deb", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        has_cargo_deb,
        "cargo-deb is missing: scripts/test.sh installs it \
         (cargo install --locked cargo-deb --version 3.8.0)"
    );
    let stdout = run(
        Command::new(cargo)
            .args(["deb", "--locked", "--no-build", "--manifest-path"])
            .arg(&manifest)
            .current_dir(manifest_dir()),
        "cargo deb",
    );
    let deb = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
    assert!(deb.is_file(), "cargo deb named no package: {stdout}");
    deb
}

/// The cached Debian tree (built on first use by tests/systemd/build-tree.sh).
fn debian_tree() -> PathBuf {
    let stdout = run(
        &mut Command::new(manifest_dir().join("tests/systemd/build-tree.sh")),
        "tests/systemd/build-tree.sh (the Debian tree to boot)",
    );
    PathBuf::from(stdout.lines().last().unwrap_or_default().trim())
}

/// The boto3 that reads `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, for the container's
/// /opt/boto3 (built on first use by tests/systemd/build-boto3.sh; Debian 12's is too old).
fn boto3_dir() -> PathBuf {
    let stdout = run(
        &mut Command::new(manifest_dir().join("tests/systemd/build-boto3.sh")),
        "tests/systemd/build-boto3.sh (boto3 for the credential consumers)",
    );
    PathBuf::from(stdout.lines().last().unwrap_or_default().trim())
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
}

/// The directory mounted at /scenario: the script, the unit that runs it, the consumer,
/// the package, the fake and the part of the test PKI the scenario uses.
fn scenario_dir(deb: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path();
    let sources = manifest_dir().join("tests/systemd");
    for file in ["run.sh", "consumer.py", "needroleshere-scenario.service"] {
        copy(&sources.join(file), &path.join(file));
    }
    copy(deb, &path.join("needroleshere.deb"));
    copy(common::fake_aws_bin(), &path.join("needroleshere-fake-aws"));
    std::fs::create_dir(path.join("pki")).unwrap();
    for file in ["root-ca.pem", "p256.fullchain.pem", "p256.pkcs8.key"] {
        copy(&common::pki_file(file), &path.join("pki").join(file));
    }
    std::fs::write(
        path.join("arns"),
        format!(
            "TRUST_ANCHOR_ARN={TRUST_ANCHOR_ARN}\nPROFILE_ARN={PROFILE_ARN}\nROLE_ARN={ROLE_ARN}\n"
        ),
    )
    .unwrap();
    dir
}

/// Boots `tree` with the scenario and waits for it to power off (or kills it after
/// [`BOOT_TIMEOUT`]). Returns the console output and how `systemd-nspawn` exited (`None`:
/// killed after the timeout).
fn boot(tree: &Path, boto3: &Path, scenario: &Path, out: &Path) -> (String, Option<ExitStatus>) {
    let console = out.join("console.txt");
    let console_file = std::fs::File::create(&console).unwrap();
    let mut child = Command::new("systemd-nspawn")
        .args([
            "--quiet",
            "--boot",
            // The host's PID 1 is not systemd here: no machined to register with, no scope
            // to create; the container stays in this test's cgroup.
            "--register=no",
            "--keep-unit",
            "--private-network",
            // A tmpfs over the cached tree: the run changes nothing in it.
            "--volatile=overlay",
            "--console=pipe",
        ])
        // A name of its own, so that runs of this test from several checkouts at once do
        // not share nspawn's state directory (they share the read-only tree).
        .arg(format!(
            "--machine=needroleshere-test-{}",
            std::process::id()
        ))
        .arg("--directory")
        .arg(tree)
        .arg(format!("--bind-ro={}:/scenario", scenario.display()))
        .arg(format!("--bind-ro={}:/opt/boto3", boto3.display()))
        .arg(format!("--bind={}:/scenario-out", out.display()))
        .arg(format!(
            "--bind-ro={}:/etc/systemd/system/needroleshere-scenario.service",
            scenario.join("needroleshere-scenario.service").display()
        ))
        // Arguments after the directory go to the container's systemd.
        .arg("systemd.wants=needroleshere-scenario.service")
        .stdin(Stdio::null())
        .stdout(console_file.try_clone().unwrap())
        .stderr(console_file)
        .spawn()
        .expect(
            "cannot run systemd-nspawn: scripts/test.sh installs it (apt-get install \
             systemd-container)",
        );
    let started = Instant::now();
    let exit = loop {
        if let Some(status) = child.try_wait().expect("wait for systemd-nspawn") {
            eprintln!(
                "systemd-nspawn exited {status} after {:.0?}",
                started.elapsed()
            );
            break Some(status);
        }
        if started.elapsed() > BOOT_TIMEOUT {
            // SIGTERM asks nspawn to power the container off; then it is killed.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            std::thread::sleep(Duration::from_secs(10));
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let console = std::fs::read_to_string(&console).unwrap_or_default();
    (console, exit)
}

#[test]
fn the_documented_setup_works_in_a_booted_debian() {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    assert!(is_root, "booting a container needs root");
    let deb = build_deb();
    let tree = debian_tree();
    let boto3 = boto3_dir();
    let scenario = scenario_dir(&deb);
    let out = tempfile::tempdir().expect("temporary directory");
    eprintln!("booting {} with {}", tree.display(), deb.display());

    let started = Instant::now();
    let (console, exit) = boot(&tree, &boto3, scenario.path(), out.path());
    eprintln!("booted scenario took {:.0?}", started.elapsed());
    let results = std::fs::read_to_string(out.path().join("results")).unwrap_or_default();
    let journal = std::fs::read_to_string(out.path().join("journal.txt")).unwrap_or_default();

    let mut problems = Vec::new();
    match exit {
        None => problems.push(format!(
            "the container did not power off within {BOOT_TIMEOUT:?}"
        )),
        Some(status) if !status.success() => {
            problems.push(format!("systemd-nspawn exited {status}"));
        }
        Some(_) => {}
    }
    if results.is_empty() {
        problems.push(
            "the scenario reported nothing: the container did not boot or never ran \
             needroleshere-scenario.service (see the console below)"
                .to_owned(),
        );
    } else {
        if !results.lines().any(|line| line == "done") {
            problems.push("the scenario did not reach its end".to_owned());
        }
        for step in STEPS {
            let pass = format!("PASS {step}");
            if !results.lines().any(|line| line == pass) {
                let reported = results
                    .lines()
                    .find(|line| line.starts_with(&format!("FAIL {step}:")))
                    .unwrap_or("no result");
                problems.push(format!("step {step}: {reported}"));
            }
        }
    }
    for line in results.lines() {
        if let Some(rest) = line.strip_prefix("PASS ").or(line.strip_prefix("FAIL ")) {
            let name = rest.split(':').next().unwrap_or_default();
            if !STEPS.contains(&name) {
                problems.push(format!("run.sh has a step the test does not know: {name}"));
            }
        }
    }
    if !problems.is_empty() {
        let tail = |text: &str, lines: usize| {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        };
        // The trace of every failed step (set -x output of its commands).
        let mut traces = String::new();
        for line in results.lines() {
            if let Some(rest) = line.strip_prefix("FAIL ") {
                let name = rest.split(':').next().unwrap_or_default();
                let log =
                    std::fs::read_to_string(out.path().join("steps").join(format!("{name}.log")))
                        .unwrap_or_default();
                traces.push_str(&format!(
                    "--- trace of {name} (last 60 lines)\n{}\n",
                    tail(&log, 60)
                ));
            }
        }
        panic!(
            "the booted scenario failed:\n  {}\n\n--- results\n{results}\n{traces}--- console \
             (last 150 lines)\n{}\n--- journal (last 300 lines)\n{}",
            problems.join("\n  "),
            tail(&console, 150),
            tail(&journal, 300)
        );
    }
    eprint!("{results}");
}
