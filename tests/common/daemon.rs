//! Helpers for the system-daemon tests (`tests/daemon_*.rs`, `tests/systemd_units.rs`):
//! the real `needroleshere bind`/`unbind`/`serve` binary, started the way systemd starts it
//! (`systemd-socket-activate`, `NOTIFY_SOCKET`), a raw HTTP/1.1 client, environment files
//! read the way systemd's `EnvironmentFile=` reads them, real boto3, and network namespaces
//! that are always deleted.
//!
//! Every process started here is killed when its handle drops; every directory is a fresh
//! temporary directory. Nothing here sends traffic anywhere but loopback or a network
//! namespace the test created.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fake_aws::rolesanywhere::{
    Config, FakeRolesAnywhere, IssuedSession, PROFILE_ARN, ROLE_ARN, Running, TRUST_ANCHOR_ARN,
};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::process::{Child, Command};

use super::{pki, pki_file};

/// The binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_needroleshere");

/// How long any single step (a process start, a request) may take before the test fails.
pub(crate) const STEP: Duration = Duration::from_secs(10);

/// Environment variables the binary reads; removed so the host's settings cannot leak in.
pub(crate) const SCRUBBED: &[&str] = &[
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_ROLESANYWHERE",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_CA_BUNDLE",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
    "RUST_LOG",
    "XDG_CACHE_HOME",
    "RUNTIME_DIRECTORY",
    "NOTIFY_SOCKET",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "NEEDROLESHERE_PKCS8_PASSWORD",
];

// ------------------------------------------------------------------------------------------
// The fake IAM Roles Anywhere.

/// The in-process strict fake, serving plain HTTP on a loopback port.
pub(crate) struct Fake {
    pub fake: FakeRolesAnywhere,
    pub running: Running,
}

impl Fake {
    pub(crate) async fn start() -> Fake {
        let fake = FakeRolesAnywhere::new(Config::from_pki_dir(pki()).expect("fake config"));
        let running = fake
            .spawn_http("127.0.0.1:0".parse().expect("address"))
            .await
            .expect("start the fake IAM Roles Anywhere");
        Fake { fake, running }
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        self.running.url()
    }

    /// The session whose access key id is `access_key_id`.
    pub(crate) fn session(&self, access_key_id: &str) -> IssuedSession {
        self.fake
            .sessions()
            .into_iter()
            .find(|s| s.access_key_id == access_key_id)
            .unwrap_or_else(|| {
                panic!("the fake issued no session with access key id {access_key_id}")
            })
    }
}

/// The decimal serial number of the first certificate in PEM file `path`.
pub(crate) fn certificate_serial(path: &Path) -> String {
    let pem = std::fs::read(path).expect("read certificate");
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).expect("PEM certificate");
    let cert = pem.parse_x509().expect("X.509 certificate");
    cert.tbs_certificate.serial.to_string()
}

// ------------------------------------------------------------------------------------------
// bind / unbind.

/// The flags of a binding that the fake accepts: `TYPE.fullchain.pem` + `TYPE.pkcs8.key`
/// from the test PKI (TYPE: rsa2048, rsa4096, p256, p384), [`ROLE_ARN`].
pub(crate) fn identity_args(kind: &str) -> Vec<String> {
    identity_args_from(
        &pki_file(&format!("{kind}.fullchain.pem")),
        &pki_file(&format!("{kind}.pkcs8.key")),
        ROLE_ARN,
    )
}

/// The flags of a binding with the given files and role.
pub(crate) fn identity_args_from(certificate: &Path, key: &Path, role_arn: &str) -> Vec<String> {
    vec![
        "--certificate".into(),
        certificate.display().to_string(),
        "--private-key".into(),
        key.display().to_string(),
        "--trust-anchor-arn".into(),
        TRUST_ANCHOR_ARN.into(),
        "--profile-arn".into(),
        PROFILE_ARN.into(),
        "--role-arn".into(),
        role_arn.into(),
    ]
}

/// `--mode MODE --url URL` (no `--url` for the relative modes, where it means nothing).
pub(crate) fn mode_args(mode: &str, url: &str) -> Vec<String> {
    let mut args = vec!["--mode".to_owned(), mode.to_owned()];
    if mode.starts_with("ecs-full") {
        args.extend(["--url".to_owned(), url.to_owned()]);
    }
    args
}

/// `needroleshere` with `args`, a scrubbed environment plus `env`, stdin closed.
pub(crate) fn command(args: &[String], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args);
    for name in SCRUBBED {
        command.env_remove(name);
    }
    // A safety net: should a test forget --endpoint, a call to the real AWS endpoint goes
    // to a closed loopback port instead of leaving the machine.
    command.env("HTTPS_PROXY", NOWHERE_PROXY);
    if args.first().is_some_and(|a| a == "credential-process") {
        // Every run fetches, as the tests expect, unless they give a runtime directory.
        command.env("XDG_RUNTIME_DIR", super::fresh_runtime_dir());
    }
    command.envs(env.iter().copied());
    command.stdin(Stdio::null()).kill_on_drop(true);
    command
}

/// A proxy address where nothing listens (see [`command`]).
pub(crate) const NOWHERE_PROXY: &str = "http://127.0.0.1:9";

/// Runs `needroleshere` with `args` and returns its output (fails the test after [`STEP`]).
pub(crate) async fn run(args: &[String], env: &[(&str, &str)]) -> Output {
    let output = command(args, env).output();
    tokio::time::timeout(STEP, output)
        .await
        .unwrap_or_else(|_| panic!("needroleshere {args:?} did not finish in {STEP:?}"))
        .expect("run needroleshere")
}

/// `needroleshere bind NAME --configuration-directory DIR ARGS...`.
pub(crate) async fn bind(dir: &Path, name: &str, args: &[String]) -> Output {
    let mut all = vec![
        "bind".to_owned(),
        name.to_owned(),
        "--configuration-directory".to_owned(),
        dir.display().to_string(),
    ];
    all.extend(args.iter().cloned());
    run(&all, &[]).await
}

/// [`bind`] that must succeed.
pub(crate) async fn bind_ok(dir: &Path, name: &str, args: &[String]) {
    let output = bind(dir, name, args).await;
    assert_success(&output, &format!("bind {name}"));
}

/// `needroleshere unbind NAME --configuration-directory DIR`.
pub(crate) async fn unbind(dir: &Path, name: &str) -> Output {
    let args = vec![
        "unbind".to_owned(),
        name.to_owned(),
        "--configuration-directory".to_owned(),
        dir.display().to_string(),
    ];
    run(&args, &[]).await
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub(crate) fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what}: exit {:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        stderr(output)
    );
}

/// A command failed cleanly: non-zero exit, no panic, and stderr holds every `expected`
/// fragment.
pub(crate) fn assert_failure(output: &Output, expected: &[&str], what: &str) {
    let text = stderr(output);
    assert!(!output.status.success(), "{what}: should fail\n{text}");
    assert!(
        !text.contains("panicked") && !text.contains("stack backtrace"),
        "{what}: {text}"
    );
    for word in expected {
        assert!(
            text.contains(word),
            "{what}: expected {word:?} in stderr:\n{text}"
        );
    }
}

/// The files of a configuration directory.
pub(crate) fn binding_file(dir: &Path, name: &str) -> PathBuf {
    dir.join("bindings").join(format!("{name}.json"))
}
pub(crate) fn env_file(dir: &Path, name: &str) -> PathBuf {
    dir.join("env").join(name)
}
pub(crate) fn token_file(dir: &Path, name: &str) -> PathBuf {
    dir.join("token").join(name)
}

/// Every regular file under `dir`, relative, sorted.
pub(crate) fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .expect("under root")
                        .display()
                        .to_string(),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

// ------------------------------------------------------------------------------------------
// Environment files and tokens.

/// Reads an environment file the way systemd's `EnvironmentFile=` does for the lines bind
/// writes: `KEY=value` or `KEY="value"` (quotes stripped, `\"` and `\\` unescaped).
/// Returns the pairs in file order; panics on anything else.
pub(crate) fn parse_env(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("env line without '=': {line:?}"));
        assert!(
            !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
            "bad env key in {line:?}"
        );
        let value = if let Some(inner) = value.strip_prefix('"') {
            let inner = inner
                .strip_suffix('"')
                .unwrap_or_else(|| panic!("unterminated quote in {line:?}"));
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    out.push(chars.next().expect("escape at the end"));
                } else {
                    out.push(c);
                }
            }
            out
        } else {
            assert!(
                !value.contains(' ') && !value.contains('"'),
                "unquoted value with a space or quote in {line:?}: systemd would not read it \
                 as one value"
            );
            value.to_owned()
        };
        pairs.push((key.to_owned(), value));
    }
    pairs
}

/// [`parse_env`] of a file, as a map.
pub(crate) fn read_env(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read env file {}: {e}", path.display()));
    parse_env(&text).into_iter().collect()
}

/// A token of ours for binding `name`: `needroleshere.NAME.SECRET`, SECRET being 64 bytes
/// in base64url without padding. Returns the raw secret.
pub(crate) fn check_token(token: &str, name: &str) -> Vec<u8> {
    let prefix = format!("needroleshere.{name}.");
    let secret = token
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("token does not start with {prefix:?}"));
    assert_eq!(secret.len(), 86, "secret length");
    let raw = URL_SAFE_NO_PAD
        .decode(secret)
        .expect("the secret is base64url without padding");
    assert_eq!(raw.len(), 64);
    raw
}

/// base64url (no padding) of SHA-384 of `raw`: what binding files store.
pub(crate) fn secret_hash(raw: &[u8]) -> String {
    use sha2::Digest as _;
    URL_SAFE_NO_PAD.encode(sha2::Sha384::digest(raw))
}

/// The token of a binding, from its token file if it has one, else its environment file.
pub(crate) fn token_of(dir: &Path, name: &str) -> String {
    let env = read_env(&env_file(dir, name));
    let text = if token_file(dir, name).exists() {
        std::fs::read_to_string(token_file(dir, name)).expect("read the token file")
    } else if let Some(value) = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN") {
        value.clone()
    } else {
        let uri = env
            .get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
            .or_else(|| env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"))
            .expect("an ECS URI");
        let (_, token) = uri
            .split_once("?access_token=")
            .expect("a query-mode URI carries ?access_token=");
        return token.to_owned();
    };
    text.strip_prefix("Bearer ")
        .expect("the Authorization value starts with 'Bearer '")
        .to_owned()
}

// ------------------------------------------------------------------------------------------
// serve.

/// Where a test reaches the daemon.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// A free loopback TCP port (bound, then released; good enough for tests).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local address")
        .port()
}

/// How to start `serve`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServeOptions {
    /// The configuration directory (`RUNTIME_DIRECTORY`).
    pub dir: PathBuf,
    /// Extra `serve` flags.
    pub args: Vec<String>,
    /// Sockets for `systemd-socket-activate -l`, with their fd names; empty for none (then
    /// `args` must hold `--listen`).
    pub sockets: Vec<(String, String)>,
    /// Run inside this network namespace (`ip netns exec`).
    pub netns: Option<String>,
    /// Extra environment variables of serve.
    pub env: Vec<(String, String)>,
}

/// A running `serve`. Killed on drop; [`Serve::terminate`] stops it the systemd way.
pub(crate) struct Serve {
    child: Child,
    /// Socket-activated or `--listen` targets, in the order given.
    pub targets: Vec<Target>,
    notify: tokio::net::UnixDatagram,
    notifications: Vec<String>,
    log: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Serve {
    /// `systemd-socket-activate -l 127.0.0.1:PORT --fdname=ecs -- needroleshere serve ARGS`,
    /// configuration directory `dir`; returns once the daemon answered `/healthz` and sent
    /// `READY=1`.
    pub(crate) async fn start(dir: &Path, args: &[String]) -> Serve {
        // free_port() releases the port before systemd-socket-activate binds it; should
        // another process take it in between, try another one.
        for _ in 0..3 {
            let port = free_port();
            let mut serve = Serve::spawn(ServeOptions {
                dir: dir.to_owned(),
                args: args.to_vec(),
                sockets: vec![(format!("127.0.0.1:{port}"), "ecs".to_owned())],
                ..ServeOptions::default()
            });
            tokio::time::sleep(Duration::from_millis(50)).await;
            if !serve.is_running() && serve.log().contains("Address already in use") {
                continue;
            }
            serve.wait_ready().await;
            return serve;
        }
        panic!("no free port for serve after 3 attempts");
    }

    /// Starts serve as `options` say and waits until it is ready (see [`Serve::start`]).
    pub(crate) async fn start_with(options: ServeOptions) -> Serve {
        let mut serve = Serve::spawn(options);
        serve.wait_ready().await;
        serve
    }

    /// Starts serve without waiting for anything. systemd-socket-activate binds the sockets
    /// at once but starts serve only at the first connection.
    pub(crate) fn spawn(options: ServeOptions) -> Serve {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let notify_path = tmp.path().join("notify");
        let notify = tokio::net::UnixDatagram::bind(&notify_path).expect("bind NOTIFY_SOCKET");
        let log = tmp.path().join("serve.log");

        let mut env: Vec<(String, String)> = vec![
            (
                "RUNTIME_DIRECTORY".into(),
                options.dir.display().to_string(),
            ),
            ("NOTIFY_SOCKET".into(), notify_path.display().to_string()),
            // The most talkative level: a secret must not appear even there.
            ("RUST_LOG".into(), "debug".into()),
            ("HTTPS_PROXY".into(), NOWHERE_PROXY.into()),
        ];
        env.extend(options.env.iter().cloned());

        let mut argv: Vec<String> = Vec::new();
        if let Some(ns) = &options.netns {
            argv.extend(["ip".into(), "netns".into(), "exec".into(), ns.clone()]);
        }
        let mut targets = Vec::new();
        if !options.sockets.is_empty() {
            argv.push("systemd-socket-activate".into());
            for (address, _) in &options.sockets {
                argv.push(format!("--listen={address}"));
                targets.push(if address.starts_with('/') {
                    Target::Unix(PathBuf::from(address))
                } else {
                    Target::Tcp(address.parse().expect("socket address"))
                });
            }
            let names: Vec<&str> = options.sockets.iter().map(|(_, n)| n.as_str()).collect();
            argv.push(format!("--fdname={}", names.join(":")));
            // systemd-socket-activate passes only PATH, HOME, TERM and these to serve.
            for (key, value) in &env {
                argv.push(format!("--setenv={key}={value}"));
            }
            argv.push("--".into());
        }
        argv.push(BIN.into());
        argv.push("serve".into());
        argv.extend(options.args.iter().cloned());
        let mut listen = options.args.iter();
        while let Some(arg) = listen.next() {
            if arg == "--listen" {
                let value = listen.next().expect("--listen takes a value");
                targets.push(match value.strip_prefix("unix:") {
                    Some(path) => Target::Unix(PathBuf::from(path)),
                    None => Target::Tcp(value.parse().expect("--listen address")),
                });
            }
        }

        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]);
        for name in SCRUBBED {
            command.env_remove(name);
        }
        if options.sockets.is_empty() {
            command.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
        let log_file = std::fs::File::create(&log).expect("create serve log");
        command
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone log file"))
            .stderr(log_file)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {argv:?}: {e}"));
        Serve {
            child,
            targets,
            notify,
            notifications: Vec::new(),
            log,
            _tmp: tmp,
        }
    }

    /// The first target (the socket tests talk to by default).
    pub(crate) fn target(&self) -> &Target {
        self.targets.first().expect("serve has a socket")
    }

    /// The TCP address of the first target.
    pub(crate) fn addr(&self) -> SocketAddr {
        match self.target() {
            Target::Tcp(addr) => *addr,
            Target::Unix(path) => panic!("serve listens on {}, not TCP", path.display()),
        }
    }

    /// `http://ADDR`: what `bind --url` gets.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// Triggers the start (first connection), checks `/healthz` answers 200 and waits for
    /// `READY=1`. Not usable inside a network namespace (the test process cannot connect
    /// there): use [`Serve::wait_for_notification`] after a connection made from inside.
    pub(crate) async fn wait_ready(&mut self) {
        let target = self.target().clone();
        // The sockets exist before serve does: systemd-socket-activate binds them and starts
        // serve at the first connection, which then waits in the backlog.
        let response = tokio::time::timeout(STEP, async {
            loop {
                match try_get(&target, "/healthz", &[]).await {
                    Ok(response) => break response,
                    Err(error) => {
                        if let Ok(Some(status)) = self.child.try_wait() {
                            panic!(
                                "serve exited ({status}) before answering /healthz ({error})\n{}",
                                self.log()
                            );
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await
                    }
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("serve did not answer /healthz in {STEP:?}\n{}", self.log()));
        assert_eq!(
            response.status,
            200,
            "/healthz: {response:?}\n{}",
            self.log()
        );
        self.wait_for_notification("READY=1").await;
    }

    /// Waits until serve sent a notification containing the line `line`; returns every
    /// notification so far.
    pub(crate) async fn wait_for_notification(&mut self, line: &str) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + STEP;
        while !self
            .notifications
            .iter()
            .any(|n| n.lines().any(|l| l == line))
        {
            let mut buf = vec![0u8; 4096];
            let received = tokio::time::timeout_at(deadline, self.notify.recv(&mut buf)).await;
            match received {
                Ok(Ok(n)) => self
                    .notifications
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                Ok(Err(e)) => panic!("NOTIFY_SOCKET: {e}"),
                Err(_) => panic!(
                    "serve sent no {line:?} to NOTIFY_SOCKET in {STEP:?}; got {:?}\n{}",
                    self.notifications,
                    self.log()
                ),
            }
        }
        self.notifications.clone()
    }

    /// Every notification received so far (without waiting).
    pub(crate) fn drain_notifications(&mut self) -> Vec<String> {
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = self.notify.try_recv(&mut buf) {
            self.notifications
                .push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        self.notifications.clone()
    }

    /// Everything serve wrote to stdout and stderr so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether serve is still running.
    pub(crate) fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Sends `signal` (`HUP`, `USR1`, …) to serve.
    pub(crate) fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("serve is running");
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// Sends SIGTERM (as systemd does to stop it) and waits for the exit status.
    pub(crate) async fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().expect("serve is running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid}");
        tokio::time::timeout(STEP, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("serve did not exit within {STEP:?} of SIGTERM"))
            .expect("wait for serve")
    }
}

// ------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client.

/// A response: status, lowercase header names, body text.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics with the body when it is not.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("response body is not JSON ({e}): {self:?}"))
    }
}

/// `GET path` with `headers`, `Connection: close`.
pub(crate) async fn get(target: &Target, path: &str, headers: &[(&str, &str)]) -> Response {
    tokio::time::timeout(STEP, try_get(target, path, headers))
        .await
        .unwrap_or_else(|_| panic!("GET {path} took longer than {STEP:?}"))
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// `GET path` with `Authorization: Bearer TOKEN`.
pub(crate) async fn get_with_bearer(target: &Target, token: &str) -> Response {
    let value = format!("Bearer {token}");
    get(
        target,
        "/ecs/credentials",
        &[("Authorization", value.as_str())],
    )
    .await
}

/// `GET /ecs/credentials?access_token=TOKEN`.
pub(crate) async fn get_with_query(target: &Target, token: &str) -> Response {
    get(
        target,
        &format!("/ecs/credentials?access_token={token}"),
        &[],
    )
    .await
}

/// Fetches credentials the way an SDK would from an env file's variables (URI from
/// `..._FULL_URI` or `..._RELATIVE_URI`, header from `..._TOKEN` or `..._TOKEN_FILE`), but
/// sends the request to `target`.
pub(crate) async fn get_as_sdk(target: &Target, env: &BTreeMap<String, String>) -> Response {
    let path = if let Some(full) = env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
        let url = url::Url::parse(full).expect("FULL_URI is a URL");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    } else {
        env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
            .expect("an ECS URI variable")
            .clone()
    };
    let authorization = if let Some(file) = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
        Some(std::fs::read_to_string(file).expect("read the token file"))
    } else {
        env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN").cloned()
    };
    match &authorization {
        Some(value) => get(target, &path, &[("Authorization", value.as_str())]).await,
        None => get(target, &path, &[]).await,
    }
}

pub(crate) async fn try_get(
    target: &Target,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Response> {
    match target {
        Target::Tcp(addr) => {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            exchange(stream, &addr.to_string(), path, headers).await
        }
        Target::Unix(path_) => {
            let stream = tokio::net::UnixStream::connect(path_).await?;
            exchange(stream, "localhost", path, headers).await
        }
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Response> {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    parse_response(&raw)
}

/// Parses a raw HTTP/1.1 response (chunked bodies included).
pub(crate) fn parse_response(raw: &[u8]) -> std::io::Result<Response> {
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body).ok_or_else(|| invalid("bad chunked body"))?;
    }
    Ok(Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// A 200 credential response matches `session`; checks the response's shape.
pub(crate) fn assert_credentials(response: &Response, session: &IssuedSession, what: &str) {
    assert_eq!(response.status, 200, "{what}: {response:?}");
    let json = response.json();
    assert_eq!(
        json["AccessKeyId"],
        session.access_key_id.as_str(),
        "{what}"
    );
    assert_eq!(
        json["SecretAccessKey"],
        session.secret_access_key.as_str(),
        "{what}"
    );
    assert_eq!(json["Token"], session.session_token.as_str(), "{what}");
    let expiration = needroleshere::credentials::format_rfc3339(session.expiration);
    assert_eq!(json["Expiration"], expiration.as_str(), "{what}");
    assert_eq!(json["RoleArn"], session.role_arn.as_str(), "{what}");
    assert_eq!(json["AccountId"], fake_aws::ACCOUNT_ID, "{what}");
}

/// The `AccessKeyId` of a 200 response.
pub(crate) fn access_key_id(response: &Response) -> String {
    assert_eq!(response.status, 200, "{response:?}");
    response.json()["AccessKeyId"]
        .as_str()
        .expect("AccessKeyId is a string")
        .to_owned()
}

/// An error response: `status`, JSON `{"Code","Message"}` with non-empty strings.
pub(crate) fn assert_error(response: &Response, status: u16, what: &str) -> (String, String) {
    assert_eq!(response.status, status, "{what}: {response:?}");
    let json = response.json();
    let code = json["Code"].as_str().unwrap_or_default().to_owned();
    let message = json["Message"].as_str().unwrap_or_default().to_owned();
    assert!(
        !code.is_empty() && !message.is_empty(),
        "{what}: error body needs Code and Message: {response:?}"
    );
    (code, message)
}

// ------------------------------------------------------------------------------------------
// boto3 and the AWS CLI v1.

/// The AWS CLI v1 of `build/venv`, else the one on PATH.
pub(crate) fn awscli() -> std::path::PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("build/venv/bin/aws");
    if venv.exists() {
        venv
    } else {
        std::path::PathBuf::from("aws")
    }
}

/// The Python interpreter that has boto3: `build/venv/bin/python3` (made by
/// scripts/test.sh) when it exists, else `python3` from PATH, resolved to its real
/// executable so it runs with a clean environment. Fails the test, saying how to fix it,
/// when neither can import boto3.
pub(crate) fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("build/venv/bin/python3");
        let candidates: Vec<PathBuf> = if venv.exists() {
            vec![venv, PathBuf::from("python3")]
        } else {
            vec![PathBuf::from("python3")]
        };
        let mut tried = Vec::new();
        for candidate in candidates {
            let output = std::process::Command::new(&candidate)
                .args([
                    "-c",
                    "import sys, boto3, botocore; print(sys.executable); \
                     print(boto3.__version__, botocore.__version__)",
                ])
                .stdin(Stdio::null())
                .output();
            match output {
                Ok(output) if output.status.success() => {
                    let text = String::from_utf8_lossy(&output.stdout).into_owned();
                    let mut lines = text.lines();
                    let executable = lines.next().unwrap_or_default().to_owned();
                    eprintln!(
                        "boto3: {executable} (boto3/botocore {})",
                        lines.next().unwrap_or("?")
                    );
                    return PathBuf::from(executable);
                }
                Ok(output) => tried.push(format!(
                    "{}: {}",
                    candidate.display(),
                    String::from_utf8_lossy(&output.stderr).trim()
                )),
                Err(e) => tried.push(format!("{}: {e}", candidate.display())),
            }
        }
        panic!(
            "boto3 is needed for these tests but no Python can import it. Run scripts/test.sh \
             (it creates build/venv with boto3) or `python3 -m pip install boto3`.\n{}",
            tried.join("\n")
        );
    })
}

/// What boto3 got: the frozen credentials and the provider that found them.
#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct Boto3Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub token: String,
    pub method: String,
}

const BOTO3_SCRIPT: &str = r#"
import json, sys
import boto3
credentials = boto3.Session().get_credentials()
if credentials is None:
    sys.exit("boto3 found no credentials")
frozen = credentials.get_frozen_credentials()
print(json.dumps({"access_key": frozen.access_key, "secret_key": frozen.secret_key,
                  "token": frozen.token, "method": credentials.method}))
"#;

/// Runs boto3's default credential chain in a clean environment holding only `env` (plus
/// PATH and an empty HOME, so no ~/.aws file and no instance metadata lookup interferes),
/// optionally inside network namespace `netns`.
pub(crate) async fn boto3_credentials(
    env: &BTreeMap<String, String>,
    netns: Option<&str>,
) -> Boto3Credentials {
    let home = tempfile::tempdir().expect("temporary HOME");
    let mut command = match netns {
        Some(ns) => {
            let mut command = Command::new("ip");
            command.args(["netns", "exec", ns]).arg(python());
            command
        }
        None => Command::new(python()),
    };
    command
        .args(["-c", BOTO3_SCRIPT])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("boto3 took longer than 30 s")
        .expect("run python3");
    assert!(
        output.status.success(),
        "boto3 failed with {env:?}:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "boto3 output is not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// boto3 got `session`'s credentials from the container provider.
pub(crate) fn assert_boto3_got(got: &Boto3Credentials, session: &IssuedSession, what: &str) {
    assert_eq!(got.method, "container-role", "{what}: provider");
    assert_eq!(got.access_key, session.access_key_id, "{what}");
    assert_eq!(got.secret_key, session.secret_access_key, "{what}");
    assert_eq!(got.token, session.session_token, "{what}");
}

// ------------------------------------------------------------------------------------------
// Network namespaces.

/// Whether this process runs as root (network namespaces need it).
pub(crate) fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A network namespace `nrh-<pid>-<n>` with `lo` up and `169.254.170.2/32` on it; deleted
/// on drop.
pub(crate) struct NetNs {
    pub name: String,
}

impl NetNs {
    pub(crate) fn create() -> NetNs {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("nrh-{}-{n}", std::process::id());
        ip(&["netns", "add", &name]);
        // From here on the guard deletes the namespace, whatever fails next.
        let ns = NetNs { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ip(&[
            "-n",
            &ns.name,
            "addr",
            "add",
            "169.254.170.2/32",
            "dev",
            "lo",
        ]);
        ns
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}

fn ip(args: &[&str]) {
    let output = std::process::Command::new("ip")
        .args(args)
        .output()
        .expect("run ip");
    assert!(
        output.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `needroleshere-fake-aws` inside a network namespace, on 127.0.0.1 there.
pub(crate) struct FakeAwsProcess {
    child: Child,
    /// `http://127.0.0.1:PORT` (reachable only inside the namespace).
    pub url: String,
    /// With [`FakeAwsProcess::start_with_https_proxy`]: `http://127.0.0.1:PORT`, a CONNECT
    /// proxy (inside the namespace) to the same fakes over HTTPS under AWS host names.
    pub https_proxy: Option<String>,
    log: tempfile::NamedTempFile,
}

impl FakeAwsProcess {
    pub(crate) async fn start(netns: &str) -> FakeAwsProcess {
        FakeAwsProcess::start_in(netns, false).await
    }

    /// Also serves HTTPS with the test PKI's `tls-server.pem` (issued by `tls-ca.pem` for
    /// `sts.us-east-1.amazonaws.com`…) behind a CONNECT proxy: see `https_proxy`.
    pub(crate) async fn start_with_https_proxy(netns: &str) -> FakeAwsProcess {
        FakeAwsProcess::start_in(netns, true).await
    }

    async fn start_in(netns: &str, https_proxy: bool) -> FakeAwsProcess {
        let log = tempfile::NamedTempFile::new().expect("temporary log file");
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", netns])
            .arg(super::fake_aws_bin())
            .arg("--pki")
            .arg(pki())
            .args(["--listen", "127.0.0.1:0"]);
        if https_proxy {
            command
                .arg("--https-proxy")
                .arg(super::pki_file("tls-server.pem"))
                .arg(super::pki_file("tls-server.key"));
        }
        let mut child = command
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.reopen().expect("reopen log file"))
            .kill_on_drop(true)
            .spawn()
            .expect("start needroleshere-fake-aws");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
        let line = tokio::time::timeout(STEP, lines.next_line())
            .await
            .expect("needroleshere-fake-aws did not start")
            .expect("read its stdout")
            .expect("needroleshere-fake-aws exited before listening");
        let url = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        let https_proxy = if https_proxy {
            let line = tokio::time::timeout(STEP, lines.next_line())
                .await
                .expect("needroleshere-fake-aws printed no proxy")
                .expect("read its stdout")
                .expect("needroleshere-fake-aws exited before its proxy listened");
            Some(
                line.strip_prefix("https proxy on ")
                    .unwrap_or_else(|| panic!("unexpected second line {line:?}"))
                    .to_owned(),
            )
        } else {
            None
        };
        FakeAwsProcess {
            child,
            url,
            https_proxy,
            log,
        }
    }

    /// What the fake logged: one line per request, with the access key id it issued.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    pub(crate) fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }
}
