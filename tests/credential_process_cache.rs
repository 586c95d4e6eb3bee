//! The credentials `credential-process` runs share (issue 21, part 1): the real binary, run
//! as many processes, against the strict fake IAM Roles Anywhere, whose count of
//! CreateSession calls is the measure. Each test has a cache directory of its own
//! (`XDG_RUNTIME_DIR`), so nothing of the host's or of another test is read.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use common::{pki, pki_file};
use fake_aws::faults::Fault;
use fake_aws::rolesanywhere::{
    Config, FakeRolesAnywhere, PROFILE_ARN, ROLE_ARN, Running, TRUST_ANCHOR_ARN,
};
use needroleshere::process_cache::{Entry, format_entry, parse_entry};
use needroleshere::system::clock::{Clock as _, SystemClock};

/// The fake, and a runtime directory standing for the user's.
struct Setup {
    fake: FakeRolesAnywhere,
    _running: Running,
    url: String,
    runtime: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Self {
        let fake = FakeRolesAnywhere::new(Config::from_pki_dir(pki()).unwrap());
        let running = fake
            .spawn_http("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let url = running.url();
        Self {
            fake,
            _running: running,
            url,
            runtime: tempfile::tempdir().unwrap(),
        }
    }

    fn args(&self, cert: &Path, key: &Path) -> Vec<String> {
        [
            "credential-process",
            "--certificate",
            &cert.display().to_string(),
            "--private-key",
            &key.display().to_string(),
            "--trust-anchor-arn",
            TRUST_ANCHOR_ARN,
            "--profile-arn",
            PROFILE_ARN,
            "--role-arn",
            ROLE_ARN,
            "--endpoint",
            &self.url,
        ]
        .map(String::from)
        .to_vec()
    }

    fn default_args(&self) -> Vec<String> {
        self.args(&pki_file("p256.fullchain.pem"), &pki_file("p256.pkcs8.key"))
    }

    /// Starts the binary with `args` and this setup's runtime directory.
    fn spawn(&self, args: &[String]) -> tokio::process::Child {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_needroleshere"));
        command.args(args);
        for name in common::daemon::SCRUBBED {
            command.env_remove(name);
        }
        command.env("XDG_RUNTIME_DIR", self.runtime.path());
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    }

    async fn run(&self, args: &[String]) -> Output {
        self.spawn(args).wait_with_output().await.unwrap()
    }

    fn dir(&self) -> PathBuf {
        self.runtime
            .path()
            .join("needroleshere")
            .join("credential-process")
    }

    /// The one entry in the cache.
    fn entry_path(&self) -> PathBuf {
        let entries: Vec<PathBuf> = std::fs::read_dir(self.dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        assert_eq!(entries.len(), 1, "{entries:?}");
        entries[0].clone()
    }

    fn calls(&self) -> usize {
        self.fake.sessions().len()
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The access key id a successful run printed.
fn key_id(output: &Output, what: &str) -> String {
    assert!(output.status.success(), "{what}: {}", stderr(output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{what}: stdout is not JSON ({e})"));
    assert_eq!(json["Version"], 1, "{what}");
    json["AccessKeyId"].as_str().unwrap().to_owned()
}

/// The access key id of the session the fake issued last.
fn last_issued(setup: &Setup) -> String {
    setup.fake.sessions().pop().unwrap().access_key_id
}

#[tokio::test]
async fn a_hundred_sequential_runs_make_one_create_session() {
    let setup = Setup::new().await;
    let args = setup.default_args();
    let first = key_id(&setup.run(&args).await, "run 1");
    assert_eq!(first, last_issued(&setup));
    for n in 2..=100 {
        let id = key_id(&setup.run(&args).await, &format!("run {n}"));
        assert_eq!(id, first, "run {n}");
    }
    assert_eq!(setup.calls(), 1);

    // Private: the directories 0700, the entry 0600, all this user's.
    let me = nix::unistd::Uid::effective().as_raw();
    for dir in [setup.dir().parent().unwrap().to_owned(), setup.dir()] {
        let meta = std::fs::metadata(&dir).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o700, "{}", dir.display());
        assert_eq!(meta.uid(), me);
    }
    let meta = std::fs::metadata(setup.entry_path()).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert_eq!(meta.uid(), me);
}

#[tokio::test]
async fn twenty_concurrent_runs_on_a_cold_cache_make_one_call() {
    let setup = Setup::new().await;
    // The first CreateSession takes a second, so the runs overlap however the machine
    // schedules them: all but one must wait for it instead of calling too.
    setup
        .fake
        .faults()
        .push(Fault::Stall(Duration::from_secs(1)));
    let args = setup.default_args();
    let children: Vec<_> = (0..20).map(|_| setup.spawn(&args)).collect();
    let handles: Vec<_> = children
        .into_iter()
        .map(|child| tokio::spawn(child.wait_with_output()))
        .collect();
    let mut outputs = Vec::new();
    for handle in handles {
        outputs.push(handle.await.unwrap().unwrap());
    }
    let issued = last_issued(&setup);
    for (n, output) in outputs.iter().enumerate() {
        assert_eq!(key_id(output, &format!("run {n}")), issued, "run {n}");
    }
    assert_eq!(setup.calls(), 1);
}

#[tokio::test]
async fn corrupt_foreign_open_or_linked_entries_are_ignored_and_replaced() {
    let setup = Setup::new().await;
    let args = setup.default_args();
    key_id(&setup.run(&args).await, "first run");
    let path = setup.entry_path();
    let good = std::fs::read(&path).unwrap();
    let mut calls = 1;

    // Each spoils the entry; the next run must call, answer with the new session, and
    // leave a good private entry that the run after it uses.
    let spoil: Vec<(&str, Spoiler)> = vec![
        (
            "garbage",
            Box::new(|p: &Path| std::fs::write(p, b"{\"format\":1,\"key\":").unwrap()),
        ),
        (
            "empty",
            Box::new(|p: &Path| std::fs::write(p, b"").unwrap()),
        ),
        (
            "readable by others",
            Box::new({
                let good = good.clone();
                move |p: &Path| {
                    std::fs::write(p, &good).unwrap();
                    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();
                }
            }),
        ),
        (
            "a link to a good entry",
            Box::new({
                let good = good.clone();
                move |p: &Path| {
                    let target = p.with_extension("elsewhere");
                    std::fs::write(&target, &good).unwrap();
                    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600))
                        .unwrap();
                    std::fs::remove_file(p).unwrap();
                    std::os::unix::fs::symlink(&target, p).unwrap();
                }
            }),
        ),
        (
            "another identity's entry",
            Box::new({
                let good = good.clone();
                move |p: &Path| {
                    let mut entry = parse_entry(&good).unwrap();
                    entry.key[0] ^= 1;
                    write_private(p, &format_entry(&entry).unwrap());
                }
            }),
        ),
    ];
    for (what, spoil) in spoil {
        spoil(&path);
        let id = key_id(&setup.run(&args).await, what);
        calls += 1;
        assert_eq!(setup.calls(), calls, "{what}: one call");
        assert_eq!(id, last_issued(&setup), "{what}: the new session");
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.is_file(), "{what}: a file again");
        assert_eq!(meta.mode() & 0o777, 0o600, "{what}");
        assert_eq!(
            key_id(&setup.run(&args).await, what),
            id,
            "{what}: used again"
        );
        assert_eq!(
            setup.calls(),
            calls,
            "{what}: no call for the replaced entry"
        );
    }
}

/// Spoils the entry at a path.
type Spoiler = Box<dyn Fn(&Path)>;

fn write_private(path: &Path, content: &[u8]) {
    let _ = std::fs::remove_file(path);
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Rewrites the entry at `path` as fetched `age` ago, expiring in `left`.
fn age_entry(path: &Path, age: time::Duration, left: time::Duration) -> Entry {
    let mut entry = parse_entry(&std::fs::read(path).unwrap()).unwrap();
    // The binary reads the real clock too.
    let now = SystemClock.now();
    entry.fetched_at = now - age;
    entry.credentials.expiration = Some(now + left);
    write_private(path, &format_entry(&entry).unwrap());
    entry
}

#[tokio::test]
async fn credentials_due_for_refresh_are_fetched_anew_and_nearly_expired_ones_never_served() {
    let setup = Setup::new().await;
    let args = setup.default_args();
    let first = key_id(&setup.run(&args).await, "first run");
    let path = setup.entry_path();
    let hour = time::Duration::hours(1);

    // 15 minutes left of an hour: due for a refresh (under 20 minutes), so a call.
    age_entry(
        &path,
        hour - time::Duration::minutes(15),
        time::Duration::minutes(15),
    );
    let second = key_id(&setup.run(&args).await, "due for a refresh");
    assert_eq!(setup.calls(), 2);
    assert_ne!(second, first);
    assert_eq!(second, last_issued(&setup));

    // Due for a refresh and the service failing: the cached credentials still serve.
    setup.fake.faults().fail_all(Fault::server_error(500));
    age_entry(
        &path,
        hour - time::Duration::minutes(15),
        time::Duration::minutes(15),
    );
    let fallback = key_id(&setup.run(&args).await, "fallback");
    assert_eq!(fallback, second);

    // Five minutes left (under 11): never served, whatever the service does.
    age_entry(
        &path,
        hour - time::Duration::minutes(5),
        time::Duration::minutes(5),
    );
    let output = setup.run(&args).await;
    assert!(
        !output.status.success(),
        "nearly expired credentials were served"
    );
    assert!(output.stdout.is_empty());
    assert_eq!(setup.calls(), 2, "the failures issued nothing");

    setup.fake.faults().clear();
    let third = key_id(&setup.run(&args).await, "service back");
    assert_eq!(setup.calls(), 3);
    assert_eq!(third, last_issued(&setup));
}

#[tokio::test]
async fn a_renewed_certificate_gets_new_credentials() {
    let setup = Setup::new().await;
    let files = tempfile::tempdir().unwrap();
    let (cert, key) = (files.path().join("cert.pem"), files.path().join("key.pem"));
    std::fs::copy(pki_file("p256.fullchain.pem"), &cert).unwrap();
    std::fs::copy(pki_file("p256.pkcs8.key"), &key).unwrap();
    let args = setup.args(&cert, &key);
    let first = key_id(&setup.run(&args).await, "first");
    assert_eq!(key_id(&setup.run(&args).await, "cached"), first);
    assert_eq!(setup.calls(), 1);

    // Another certificate (and its key) at the same paths: the cached entry is not its.
    std::fs::copy(pki_file("rsa2048.fullchain.pem"), &cert).unwrap();
    std::fs::copy(pki_file("rsa2048.pkcs8.key"), &key).unwrap();
    let renewed = key_id(&setup.run(&args).await, "renewed");
    assert_eq!(setup.calls(), 2);
    assert_eq!(renewed, last_issued(&setup));
    let sessions = setup.fake.sessions();
    assert_ne!(
        sessions[0].leaf_der, sessions[1].leaf_der,
        "signed with the new certificate"
    );
}

#[tokio::test]
async fn no_cache_calls_every_time_and_writes_nothing() {
    let setup = Setup::new().await;
    let mut args = setup.default_args();
    args.push("--no-cache".into());
    let mut ids = Vec::new();
    for n in 1..=3 {
        let id = key_id(&setup.run(&args).await, &format!("run {n}"));
        assert_eq!(id, last_issued(&setup));
        ids.push(id);
    }
    assert_eq!(setup.calls(), 3);
    ids.dedup();
    assert_eq!(ids.len(), 3);
    assert!(!setup.runtime.path().join("needroleshere").exists());

    // Without the flag the next run fills the cache; with it again, the cache is not read.
    args.pop();
    key_id(&setup.run(&args).await, "cached run");
    assert_eq!(setup.calls(), 4);
    args.push("--no-cache".into());
    key_id(&setup.run(&args).await, "no-cache again");
    assert_eq!(setup.calls(), 5);
}

#[tokio::test]
async fn an_untrusted_cache_directory_is_not_used() {
    let setup = Setup::new().await;
    let args = setup.default_args();
    // The directory is a link to another one of ours: not followed, not written.
    let elsewhere = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), setup.runtime.path().join("needroleshere"))
        .unwrap();
    for n in 1..=2 {
        key_id(&setup.run(&args).await, &format!("run {n}"));
    }
    assert_eq!(setup.calls(), 2, "no cache through a link");
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
}
