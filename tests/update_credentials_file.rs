//! `needroleshere update`: credentials written into one profile of the shared credentials
//! file, by the real binary against the strict fake IAM Roles Anywhere.
//!
//! * `--once` changes the three values of the profile and not one other byte (other
//!   profiles, comments, odd spacing, a nested `s3 =` block, keys after it); the file keeps
//!   its mode; a new file is 0600 (in a 0700 directory);
//! * boto3, the AWS CLI v1, the JS SDK v3 and the Rust SDK then resolve the new key from
//!   that profile (`AWS_PROFILE`, `AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE=/dev/null`);
//! * an unparsable file is left untouched (bytes, mode, mtime, no stray files) with a
//!   non-zero exit;
//! * without `--once` it keeps running after the first write and stops on SIGTERM; an
//!   upstream that is not there yet is retried until it is, without exiting; a refused role
//!   fails fast.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use common::daemon::{
    Fake, STEP, assert_failure, assert_success, command, free_port, identity_args,
    identity_args_from,
};
use common::imds::{Client, assert_resolved, resolve};
use common::pki;
use fake_aws::rolesanywhere::{Config, FORBIDDEN_ROLE_ARN, FakeRolesAnywhere, IssuedSession};

/// A credentials file as people leave them: comments, blank lines, other profiles (one with
/// a similar name), spacing of all sorts around `=`, and in the profile that is updated, a
/// nested `s3 =` block with keys after it, a comment and other settings.
const ORIGINAL: &str = "# credentials of this machine
; ; written by hand

[default]
aws_access_key_id = AKIADEFAULT000000001
aws_secret_access_key = default/secret+value
aws_session_token = defaulttoken

[work]
aws_access_key_id=AKIAWORKOLD000000001
s3 =
    max_concurrent_requests = 20
    addressing_style = path
aws_secret_access_key\t= old/secret
region = eu-west-1
# the session token comes last here
aws_session_token = oldtoken
output=json

[work-2]
aws_access_key_id = AKIAWORK2000000000001
aws_secret_access_key = work2secret

[workers]
aws_access_key_id  =  AKIAWORKERS000000001
aws_secret_access_key=workerssecret
";

/// `ORIGINAL` with profile `work` holding `session`.
fn expected(session: &IssuedSession) -> String {
    assert!(ORIGINAL.contains("s3 =\n    max_concurrent_requests = 20\n"));
    let replaced = ORIGINAL
        .replacen("AKIAWORKOLD000000001", &session.access_key_id, 1)
        .replacen("old/secret", &session.secret_access_key, 1)
        .replacen("oldtoken", &session.session_token, 1);
    assert_ne!(replaced, ORIGINAL);
    replaced
}

fn update_args(fake_url: &str, profile: &str, once: bool) -> Vec<String> {
    let mut args = vec!["update".to_owned()];
    args.extend(identity_args("rsa2048"));
    args.extend([
        "--endpoint".to_owned(),
        fake_url.to_owned(),
        "--profile".to_owned(),
        profile.to_owned(),
    ]);
    if once {
        args.push("--once".to_owned());
    }
    args
}

async fn run_update(args: &[String], env: &[(&str, &str)]) -> Output {
    tokio::time::timeout(STEP, command(args, env).output())
        .await
        .unwrap_or_else(|_| panic!("update {args:?} did not finish in {STEP:?}"))
        .expect("run needroleshere update")
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The only session the fake issued.
fn only_session(fake: &Fake) -> IssuedSession {
    let sessions = fake.fake.sessions();
    assert_eq!(sessions.len(), 1, "one CreateSession: {sessions:?}");
    sessions.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn update_once_changes_only_the_three_values_of_the_profile() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials");
    std::fs::write(&path, ORIGINAL).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();

    let file = path.display().to_string();
    let output = run_update(
        &update_args(&fake.url(), "work", true),
        &[("AWS_SHARED_CREDENTIALS_FILE", &file)],
    )
    .await;
    assert_success(&output, "update --once");
    let session = only_session(&fake);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text, expected(&session), "only the values of [work] change");
    assert_eq!(mode_of(&path), 0o640, "the file keeps its mode");
    assert_eq!(names_in(dir.path()), ["credentials"], "no stray files");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // It keeps the mode, but says the file now holds secrets others may read, and the fix.
    assert!(
        stderr.contains(&format!(
            "warning: {file} holds secret credentials and is readable by other users (mode 0640)"
        )) && stderr.contains(&format!("`chmod 600 {file}`")),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&session.secret_access_key) && !stderr.contains(&session.session_token),
        "update printed a secret: {stderr}"
    );
    assert!(output.stdout.is_empty(), "nothing on stdout");

    // Again: the same bytes with the next session's values.
    let output = run_update(
        &update_args(&fake.url(), "work", true),
        &[("AWS_SHARED_CREDENTIALS_FILE", &file)],
    )
    .await;
    assert_success(&output, "second update --once");
    let second = fake.fake.sessions().pop().unwrap();
    assert_ne!(second.access_key_id, session.access_key_id);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected(&second));
    assert_eq!(mode_of(&path), 0o640);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_spacing_around_a_replaced_value_is_kept() {
    // Whitespace between `=` and the value is not part of the value: it stays as it was.
    const FILE: &str = "[work]\n\
aws_access_key_id   =   AKIAOLD0000000000001\n\
aws_secret_access_key =\toldsecret\n\
aws_session_token=oldtoken\n";
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials");
    std::fs::write(&path, FILE).unwrap();
    let output = run_update(
        &update_args(&fake.url(), "work", true),
        &[("AWS_SHARED_CREDENTIALS_FILE", &path.display().to_string())],
    )
    .await;
    assert_success(&output, "update --once");
    let session = only_session(&fake);
    let expected = format!(
        "[work]\n\
aws_access_key_id   =   {}\n\
aws_secret_access_key =\t{}\n\
aws_session_token={}\n",
        session.access_key_id, session.secret_access_key, session.session_token
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text.replace(&session.secret_access_key, "<secret>")
            .replace(&session.session_token, "<token>"),
        expected
            .replace(&session.secret_access_key, "<secret>")
            .replace(&session.session_token, "<token>"),
        "only the values change, not the spacing before them"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_file_is_0600_in_a_0700_directory() {
    let fake = Fake::start().await;

    // $AWS_SHARED_CREDENTIALS_FILE in a directory that does not exist yet.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aws").join("credentials");
    let output = run_update(
        &update_args(&fake.url(), "work", true),
        &[("AWS_SHARED_CREDENTIALS_FILE", &path.display().to_string())],
    )
    .await;
    assert_success(&output, "update --once into a new file");
    let session = only_session(&fake);
    assert_eq!(mode_of(&path), 0o600, "a new credentials file is private");
    assert_eq!(
        mode_of(path.parent().unwrap()),
        0o700,
        "and so is its new directory"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("warning"), "a private file: {stderr}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!(
            "[work]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n",
            session.access_key_id, session.secret_access_key, session.session_token
        )
    );

    // No variable: ~/.aws/credentials, profile default.
    let home = tempfile::tempdir().unwrap();
    let mut args = update_args(&fake.url(), "default", true);
    args.retain(|a| a != "--profile" && a != "default");
    let output = run_update(&args, &[("HOME", &home.path().display().to_string())]).await;
    assert_success(&output, "update --once into ~/.aws/credentials");
    let path = home.path().join(".aws/credentials");
    let session = fake.fake.sessions().pop().unwrap();
    assert_eq!(mode_of(&path), 0o600);
    assert_eq!(mode_of(&home.path().join(".aws")), 0o700);
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .starts_with(&format!(
                "[default]\naws_access_key_id = {}\n",
                session.access_key_id
            ))
    );
}

async fn sdks_read(client: Client) {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials");
    std::fs::write(&path, ORIGINAL).unwrap();
    let file = path.display().to_string();
    let output = run_update(
        &update_args(&fake.url(), "work", true),
        &[("AWS_SHARED_CREDENTIALS_FILE", &file)],
    )
    .await;
    assert_success(&output, "update --once");
    let session = only_session(&fake);

    let env = |profile: &str| -> BTreeMap<String, String> {
        [
            ("AWS_PROFILE", profile),
            ("AWS_SHARED_CREDENTIALS_FILE", file.as_str()),
            ("AWS_CONFIG_FILE", "/dev/null"),
            // Only the file: no instance metadata lookup if it were not enough.
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    };
    let what = format!("{} with profile work", client.name());
    let resolved = resolve(client, &env("work"), None).await;
    eprintln!(
        "{what}: {} {} via {} got {}",
        resolved.sdk,
        resolved.version.as_deref().unwrap_or(""),
        resolved.provider,
        resolved.access_key_id
    );
    // A credentials file has no expiry; the clients report none.
    let mut session_without_expiry = resolved.clone();
    session_without_expiry.expiration = None;
    assert_resolved(&session_without_expiry, &session, &what);
    if matches!(client, Client::Boto3 | Client::AwsCli) {
        assert_eq!(resolved.provider, "shared-credentials-file", "{what}");
    }
    // The other profiles read as before.
    let default = resolve(client, &env("default"), None).await;
    assert_eq!(
        default.access_key_id,
        "AKIADEFAULT000000001",
        "{}",
        client.name()
    );
    let workers = resolve(client, &env("workers"), None).await;
    assert_eq!(
        workers.access_key_id,
        "AKIAWORKERS000000001",
        "{}",
        client.name()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_reads_the_profile_update_wrote() {
    sdks_read(Client::Boto3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn awscli_v1_reads_the_profile_update_wrote() {
    sdks_read(Client::AwsCli).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn js_v3_default_chain_reads_the_profile_update_wrote() {
    sdks_read(Client::JsChain).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_aws_config_default_chain_reads_the_profile_update_wrote() {
    sdks_read(Client::RustChain).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unparsable_file_is_left_untouched() {
    let fake = Fake::start().await;
    let cases: [(&[u8], usize); 5] = [
        (
            b"[work]\naws_access_key_id = AKIAOLD\nthis line is not ini\n",
            3,
        ),
        (b"# ok\n[work\naws_access_key_id = AKIAOLD\n", 2),
        (b"[default]\nk = v\n[work] trailing words\n", 3),
        // Not UTF-8 (Latin-1): the README promises the error names the line here too.
        (b"[work]\naws_access_key_id = AKIAOLD\n# caf\xe9\n", 3),
        (b"\xff[work]\n", 1),
    ];
    for (contents, line) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let before = std::fs::metadata(&path).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;

        let file = path.display().to_string();
        let output = run_update(
            &update_args(&fake.url(), "work", true),
            &[("AWS_SHARED_CREDENTIALS_FILE", &file)],
        )
        .await;
        assert_failure(
            &output,
            &[&file, &format!("line {line}"), "untouched"],
            &format!("update of {:?}", String::from_utf8_lossy(contents)),
        );
        let after = std::fs::metadata(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), contents);
        assert_eq!(mode_of(&path), 0o644);
        assert_eq!(
            (after.ino(), after.mtime(), after.mtime_nsec()),
            (before.ino(), before.mtime(), before.mtime_nsec()),
            "not rewritten"
        );
        assert_eq!(names_in(dir.path()), ["credentials"], "no stray files");
    }
}

/// `update` without `--once`, its stderr in a file.
struct Running {
    child: tokio::process::Child,
    stderr: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Running {
    fn spawn(args: &[String], env: &[(&str, &str)]) -> Running {
        let tmp = tempfile::tempdir().unwrap();
        let stderr = tmp.path().join("stderr");
        let child = command(args, env)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("start needroleshere update");
        Running {
            child,
            stderr,
            _tmp: tmp,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    async fn sigterm(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("still running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        tokio::time::timeout(STEP, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("update did not stop within {STEP:?} of SIGTERM"))
            .unwrap()
    }
}

/// Waits until `path` holds `[work]` credentials of a session the fake issued; returns it.
async fn wait_for_write(path: &Path, fake: &FakeRolesAnywhere, within: Duration) -> IssuedSession {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(session) = fake
            .sessions()
            .into_iter()
            .find(|s| text.contains(&s.access_key_id))
        {
            return session;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no credentials written to {} within {within:?}:\n{text}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_once_it_keeps_running_after_the_write_and_stops_on_sigterm() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials");
    std::fs::write(&path, "[other]\nx = 1\n").unwrap();
    let mut args = update_args(&fake.url(), "work", false);
    args.extend(["--session-duration".to_owned(), "900".to_owned()]);
    let mut update = Running::spawn(
        &args,
        &[("AWS_SHARED_CREDENTIALS_FILE", &path.display().to_string())],
    );

    let session = wait_for_write(&path, &fake.fake, STEP).await;
    assert_eq!(session.duration_seconds, 900);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        update.is_running(),
        "update without --once must keep running to refresh: {}",
        update.stderr()
    );
    assert_eq!(
        fake.fake.sessions().len(),
        1,
        "no refresh long before expiry (900 s credentials)"
    );
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(
        written.starts_with("[other]\nx = 1\n\n[work]\n"),
        "{written}"
    );

    let status = update.sigterm().await;
    eprintln!("update after SIGTERM: {status:?}");
    assert!(
        status.code() == Some(0) || status.signal() == Some(15),
        "SIGTERM stops update cleanly (exit 0 or the signal itself), got {status:?}\n{}",
        update.stderr()
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), written);
    assert_eq!(names_in(dir.path()), ["credentials"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_that_is_not_up_yet_is_retried_until_it_is() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials");
    std::fs::write(&path, ORIGINAL).unwrap();
    let mut update = Running::spawn(
        &update_args(&format!("http://{addr}"), "work", false),
        &[("AWS_SHARED_CREDENTIALS_FILE", &path.display().to_string())],
    );

    // Nothing listens: it must neither exit nor touch the file.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        update.is_running(),
        "a connection refused is transient; update must keep trying: {}",
        update.stderr()
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), ORIGINAL);

    let fake = FakeRolesAnywhere::new(Config::from_pki_dir(pki()).unwrap());
    let _running = fake
        .spawn_http(addr.parse().unwrap())
        .await
        .expect("start the fake on the port update calls");
    let session = wait_for_write(&path, &fake, Duration::from_secs(60)).await;
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected(&session));
    assert!(
        update.is_running(),
        "still running after the write: {}",
        update.stderr()
    );
    let stderr = update.stderr();
    assert!(
        stderr.contains("retrying"),
        "the failures were reported: {stderr}"
    );
    assert!(
        !stderr.contains(&session.secret_access_key) && !stderr.contains(&session.session_token)
    );
    update.sigterm().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_role_fails_fast_and_leaves_the_file_untouched() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials");
    std::fs::write(&path, ORIGINAL).unwrap();
    let mut args = vec!["update".to_owned()];
    args.extend(identity_args_from(
        &common::pki_file("rsa2048.fullchain.pem"),
        &common::pki_file("rsa2048.pkcs8.key"),
        FORBIDDEN_ROLE_ARN,
    ));
    args.extend([
        "--endpoint".to_owned(),
        fake.url(),
        "--profile".to_owned(),
        "work".to_owned(),
    ]);
    // Without --once: a misconfiguration is not retried forever.
    let output = run_update(
        &args,
        &[("AWS_SHARED_CREDENTIALS_FILE", &path.display().to_string())],
    )
    .await;
    assert_failure(&output, &["AccessDenied"], "update of a refused role");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), ORIGINAL);
    assert!(fake.fake.sessions().is_empty());
}
