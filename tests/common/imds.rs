//! Helpers for the IMDS and credentials-file tests (`tests/imds_*.rs`, `tests/update_*.rs`):
//! the real AWS SDK clients of `tests/clients/` (installed by scripts/test.sh into `build/`),
//! a raw HTTP/1.1 client that can send any method, `Host` and headers to an IMDS listener,
//! `serve` started with IMDS listeners, and commands run inside a network namespace.
//!
//! Like [`super::daemon`], nothing here sends traffic anywhere but loopback or a network
//! namespace the test created; every process is killed when its handle drops.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use fake_aws::rolesanywhere::IssuedSession;
use sha2::Digest as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::Command;

use super::daemon::{
    BIN, NOWHERE_PROXY, Response, SCRUBBED, STEP, Serve, ServeOptions, parse_response, python,
};

/// The role name IMDS lists for [`fake_aws::rolesanywhere::ROLE_ARN`].
pub(crate) const ROLE_NAME: &str = "needroleshere-test";

/// How long a real SDK client may take to start and resolve credentials.
pub(crate) const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// `path` under the repository root.
pub(crate) fn repo_path(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// lowercase hex SHA-256 of `text`: how the clients report the secret parts.
pub(crate) fn sha256_hex(text: &str) -> String {
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

// ------------------------------------------------------------------------------------------
// Real SDK clients.

/// A real AWS SDK program of `tests/clients/` resolving credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Client {
    /// boto3's default chain (`boto3.Session().get_credentials()`).
    Boto3,
    /// The AWS CLI v1's own session (its bundled botocore).
    AwsCli,
    /// JS SDK v3 `fromInstanceMetadata()`.
    JsInstanceMetadata,
    /// JS SDK v3 `fromNodeProviderChain()`.
    JsChain,
    /// Rust `aws_config::load_defaults(BehaviorVersion::latest())`'s provider.
    RustChain,
    /// Rust `aws_config::imds::credentials::ImdsCredentialsProvider`.
    RustImds,
}

impl Client {
    pub(crate) const ALL: [Client; 6] = [
        Client::Boto3,
        Client::AwsCli,
        Client::JsInstanceMetadata,
        Client::JsChain,
        Client::RustChain,
        Client::RustImds,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Client::Boto3 => "boto3",
            Client::AwsCli => "awscli v1",
            Client::JsInstanceMetadata => "JS v3 fromInstanceMetadata",
            Client::JsChain => "JS v3 fromNodeProviderChain",
            Client::RustChain => "Rust aws-config default chain",
            Client::RustImds => "Rust aws-config ImdsCredentialsProvider",
        }
    }

    /// The program and its arguments.
    fn argv(self) -> Vec<PathBuf> {
        let python_client = || {
            vec![
                python().to_path_buf(),
                repo_path("tests/clients/python/credentials.py"),
            ]
        };
        let node_client = |mode: &str| {
            let modules = repo_path("build/node/node_modules/@aws-sdk/credential-providers");
            assert!(
                modules.exists(),
                "{} is missing: run scripts/test.sh (it runs npm ci in build/node)",
                modules.display()
            );
            vec![
                PathBuf::from("node"),
                repo_path("tests/clients/node/credentials.cjs"),
                PathBuf::from(mode),
            ]
        };
        let rust_client = |mode: &str| {
            let program = repo_path("build/rust-client-target/debug/rust-client");
            assert!(
                program.exists(),
                "{} is missing: run scripts/test.sh (it builds tests/clients/rust)",
                program.display()
            );
            vec![program, PathBuf::from(mode)]
        };
        match self {
            Client::Boto3 => {
                let mut argv = python_client();
                argv.push("boto3".into());
                argv
            }
            Client::AwsCli => {
                let mut argv = python_client();
                argv.push("awscli".into());
                argv
            }
            Client::JsInstanceMetadata => node_client("instance-metadata"),
            Client::JsChain => node_client("chain"),
            Client::RustChain => rust_client("chain"),
            Client::RustImds => rust_client("imds"),
        }
    }
}

/// What a client resolved (secrets only as SHA-256 digests).
#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct Resolved {
    pub sdk: String,
    #[serde(default)]
    pub version: Option<String>,
    /// The provider that found them (boto3's `method`, or the mode the client ran).
    pub provider: String,
    pub access_key_id: String,
    pub secret_sha256: String,
    pub token_sha256: Option<String>,
    /// Unix seconds.
    pub expiration: Option<i64>,
}

/// A clean environment for a client: PATH, an empty HOME, AWS config and credentials files
/// that do not exist (so nothing of the host's leaks in), then `env`.
fn client_command(
    program: &[PathBuf],
    env: &BTreeMap<String, String>,
    netns: Option<&str>,
    home: &Path,
) -> Command {
    let mut command = match netns {
        Some(ns) => {
            let mut command = Command::new("ip");
            command.args(["netns", "exec", ns]).args(program);
            command
        }
        None => {
            let mut command = Command::new(&program[0]);
            command.args(&program[1..]);
            command
        }
    };
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .env(
            "NEEDROLESHERE_NODE_MODULES",
            repo_path("build/node/node_modules"),
        )
        .envs(env)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Runs `client` with `env` (see [`client_command`]), optionally inside `netns`; returns
/// what it resolved, or its exit status and stderr.
pub(crate) async fn try_resolve(
    client: Client,
    env: &BTreeMap<String, String>,
    netns: Option<&str>,
) -> Result<Resolved, String> {
    let home = tempfile::tempdir().expect("temporary HOME");
    let argv = client.argv();
    let output = tokio::time::timeout(
        CLIENT_TIMEOUT,
        client_command(&argv, env, netns, home.path()).output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{} took longer than {CLIENT_TIMEOUT:?}", client.name()))
    .unwrap_or_else(|e| panic!("cannot run {}: {e} ({argv:?})", client.name()));
    if !output.status.success() {
        return Err(format!(
            "{} exited {:?}: {}",
            client.name(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| {
        format!(
            "{} printed no JSON ({e}): {}\nstderr: {}",
            client.name(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// [`try_resolve`] that must succeed.
pub(crate) async fn resolve(
    client: Client,
    env: &BTreeMap<String, String>,
    netns: Option<&str>,
) -> Resolved {
    try_resolve(client, env, netns)
        .await
        .unwrap_or_else(|e| panic!("{} got no credentials with {env:?}: {e}", client.name()))
}

/// The client got exactly `session`'s credentials.
pub(crate) fn assert_resolved(resolved: &Resolved, session: &IssuedSession, what: &str) {
    assert_eq!(resolved.access_key_id, session.access_key_id, "{what}");
    assert_eq!(
        resolved.secret_sha256,
        sha256_hex(&session.secret_access_key),
        "{what}: secret access key"
    );
    assert_eq!(
        resolved.token_sha256.as_deref(),
        Some(sha256_hex(&session.session_token).as_str()),
        "{what}: session token"
    );
    if let Some(expiration) = resolved.expiration {
        assert_eq!(
            expiration,
            session.expiration.unix_timestamp(),
            "{what}: expiration"
        );
    }
}

// ------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client for IMDS listeners.

/// `METHOD path` to `addr` with `Host: host` (or none when `None`), `headers`, an empty
/// body and `Connection: close`.
pub(crate) async fn request_with_host(
    addr: SocketAddr,
    method: &str,
    path: &str,
    host: Option<&str>,
    headers: &[(&str, &str)],
) -> Response {
    tokio::time::timeout(STEP, try_request(addr, method, path, host, headers))
        .await
        .unwrap_or_else(|_| panic!("{method} {path} to {addr} took longer than {STEP:?}"))
        .unwrap_or_else(|e| panic!("{method} {path} to {addr}: {e}"))
}

/// [`request_with_host`] with `Host` naming `addr`, as SDKs send it.
pub(crate) async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Response {
    request_with_host(addr, method, path, Some(&addr.to_string()), headers).await
}

async fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    host: Option<&str>,
    headers: &[(&str, &str)],
) -> std::io::Result<Response> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if let Some(host) = host {
        head.push_str(&format!("Host: {host}\r\n"));
    }
    head.push_str("Connection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if method == "PUT" || method == "POST" {
        head.push_str("Content-Length: 0\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    parse_response(&raw)
}

/// The IMDSv2 token header names.
pub(crate) const TTL_HEADER: &str = "X-aws-ec2-metadata-token-ttl-seconds";
pub(crate) const TOKEN_HEADER: &str = "X-aws-ec2-metadata-token";

/// `PUT /latest/api/token` with TTL `ttl` (sent verbatim).
pub(crate) async fn put_token(addr: SocketAddr, ttl: &str) -> Response {
    request(addr, "PUT", "/latest/api/token", &[(TTL_HEADER, ttl)]).await
}

/// A token from `addr` (TTL 21600), which must be granted.
pub(crate) async fn token(addr: SocketAddr) -> String {
    let response = put_token(addr, "21600").await;
    assert_eq!(response.status, 200, "token from {addr}: {response:?}");
    assert!(!response.body.is_empty(), "empty token from {addr}");
    response.body
}

/// `GET path` with token `token`.
pub(crate) async fn get_with_token(addr: SocketAddr, path: &str, token: &str) -> Response {
    request(addr, "GET", path, &[(TOKEN_HEADER, token)]).await
}

/// The credentials path of the test role.
pub(crate) fn credentials_path() -> String {
    format!("/latest/meta-data/iam/security-credentials/{ROLE_NAME}")
}

/// A successful IMDS credentials document: `{"Code":"Success",…,"AccessKeyId",…}` matching
/// `session` and with exactly the keys IMDS has (plus `AccountId` when `extended`).
pub(crate) fn assert_imds_document(
    response: &Response,
    session: &IssuedSession,
    extended: bool,
    what: &str,
) {
    assert_eq!(response.status, 200, "{what}: {response:?}");
    let json = response.json();
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not a JSON object: {response:?}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut expected = vec![
        "AccessKeyId",
        "Code",
        "Expiration",
        "LastUpdated",
        "SecretAccessKey",
        "Token",
        "Type",
    ];
    if extended {
        expected.push("AccountId");
        expected.sort_unstable();
    }
    assert_eq!(keys, expected, "{what}: keys");
    assert_eq!(json["Code"], "Success", "{what}");
    assert_eq!(json["Type"], "AWS-HMAC", "{what}");
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
    let last_updated = json["LastUpdated"].as_str().unwrap_or_default();
    assert!(
        time::OffsetDateTime::parse(last_updated, &time::format_description::well_known::Rfc3339)
            .is_ok()
            && last_updated.ends_with('Z'),
        "{what}: LastUpdated {last_updated:?} is not RFC 3339 UTC"
    );
    if extended {
        assert_eq!(json["AccountId"], fake_aws::ACCOUNT_ID, "{what}");
    }
}

// ------------------------------------------------------------------------------------------
// serve with IMDS listeners.

/// Starts serve as `make(ports)` says, with `n` free loopback ports, and waits for
/// `READY=1`. With socket activation (non-empty `sockets`) it first connects to the first
/// socket, which makes systemd-socket-activate start serve. Retries with other ports when
/// one was taken meanwhile.
pub(crate) async fn start_serve(
    n: usize,
    make: impl Fn(&[u16]) -> ServeOptions,
) -> (Serve, Vec<u16>) {
    for _ in 0..3 {
        let ports: Vec<u16> = (0..n).map(|_| super::daemon::free_port()).collect();
        let options = make(&ports);
        let first_socket = options.sockets.first().map(|(addr, _)| addr.clone());
        let mut serve = Serve::spawn(options);
        let _trigger = match first_socket {
            Some(addr) => {
                let addr: SocketAddr = addr.parse().expect("socket address");
                let deadline = tokio::time::Instant::now() + STEP;
                loop {
                    match tokio::net::TcpStream::connect(addr).await {
                        Ok(stream) => break Some(stream),
                        Err(_) if tokio::time::Instant::now() < deadline => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Err(e) => panic!("cannot connect to {addr}: {e}\n{}", serve.log()),
                    }
                }
            }
            None => None,
        };
        match wait_ready_or_exit(&mut serve).await {
            Ready::Yes => return (serve, ports),
            Ready::Exited if serve.log().contains("Address already in use") => continue,
            Ready::Exited => panic!("serve exited before READY=1:\n{}", serve.log()),
        }
    }
    panic!("no free ports for serve after 3 attempts");
}

enum Ready {
    Yes,
    Exited,
}

async fn wait_ready_or_exit(serve: &mut Serve) -> Ready {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let notifications = serve.drain_notifications();
        if notifications
            .iter()
            .any(|n| n.lines().any(|l| l == "READY=1"))
        {
            return Ready::Yes;
        }
        if !serve.is_running() {
            return Ready::Exited;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "serve sent no READY=1 in {STEP:?}\n{}",
            serve.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `127.0.0.1:port`.
pub(crate) fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// `bind NAME --mode imds --url URL` with the test identity, calling the fake at
/// `endpoint`; must succeed.
pub(crate) async fn bind_imds(dir: &Path, name: &str, url: &str, endpoint: &str) {
    let mut args = super::daemon::identity_args("rsa2048");
    args.extend(
        ["--mode", "imds", "--url", url, "--endpoint", endpoint]
            .iter()
            .map(|s| s.to_string()),
    );
    super::daemon::bind_ok(dir, name, &args).await;
}

/// The variables of an IMDS binding's env file; checks they are exactly what SDKs need.
pub(crate) fn imds_env(dir: &Path, name: &str, url: &str) -> BTreeMap<String, String> {
    let env = super::daemon::read_env(&super::daemon::env_file(dir, name));
    let expected: BTreeMap<String, String> = [
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", url),
        ("AWS_EC2_METADATA_V1_DISABLED", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(env, expected, "env file of {name}");
    env
}

// ------------------------------------------------------------------------------------------
// Network namespaces.

/// `ip ARGS`, which must succeed.
pub(crate) fn ip(args: &[&str]) {
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

/// Runs `program ARGS` inside `netns` with a scrubbed environment plus `env`.
pub(crate) fn ns_command(
    netns: &str,
    program: &Path,
    args: &[String],
    env: &[(&str, &str)],
) -> Command {
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", netns])
        .arg(program)
        .args(args);
    for name in SCRUBBED {
        command.env_remove(name);
    }
    command.env("HTTPS_PROXY", NOWHERE_PROXY);
    command.envs(env.iter().copied());
    command.stdin(Stdio::null()).kill_on_drop(true);
    command
}

/// `needroleshere ARGS` inside `netns`, to completion.
pub(crate) async fn run_in(netns: &str, args: &[String]) -> Output {
    tokio::time::timeout(STEP, ns_command(netns, Path::new(BIN), args, &[]).output())
        .await
        .unwrap_or_else(|_| panic!("needroleshere {args:?} in {netns} took longer than {STEP:?}"))
        .expect("run needroleshere")
}

/// Opens (and keeps open for `hold`) a TCP connection to `addr` from inside `netns`: makes
/// systemd-socket-activate start serve there.
pub(crate) async fn connect_in(netns: &str, addr: &str, port: u16, hold: Duration) {
    let script = format!(
        "import socket, time\n\
         deadline = time.time() + 10\n\
         while True:\n\
         \x20   try:\n\
         \x20       s = socket.create_connection(({addr:?}, {port}), timeout=2)\n\
         \x20       break\n\
         \x20   except OSError:\n\
         \x20       if time.time() > deadline: raise\n\
         \x20       time.sleep(0.05)\n\
         time.sleep({})\n",
        hold.as_secs_f64()
    );
    let output = tokio::time::timeout(
        STEP + hold,
        ns_command(netns, python(), &["-c".to_owned(), script], &[]).output(),
    )
    .await
    .expect("connecting inside the namespace took too long")
    .expect("run python3");
    assert!(
        output.status.success(),
        "cannot connect to {addr}:{port} in {netns}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
