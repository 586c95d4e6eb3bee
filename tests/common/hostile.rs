//! Helpers for the fault, hostile-input and secrets tests (`tests/faults_*.rs`,
//! `tests/hostile_*.rs`, `tests/secrets_*.rs`): a `serve` with one ECS listener and one IMDS
//! listener (`--listen`, `--listen-imds`) and four bindings against two strict fakes, a raw
//! socket client that sends any bytes and reports how the daemon answered (or did not), and
//! a liveness check that a well-behaved client is still served.
//!
//! Nothing here sends traffic anywhere but loopback; every process dies with its handle.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fake_aws::rolesanywhere::{OTHER_ROLE_ARN, ROLE_ARN};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::daemon::{
    Fake, Response, STEP, Serve, ServeOptions, Target, bind_ok, get_with_bearer,
    identity_args_from, parse_response, token_of,
};
use super::imds::{TOKEN_HEADER, credentials_path, loopback, request, start_serve, token};
use super::pki_file;

/// The ECS binding the tests attack (header token, p256 identity copied into `files/`).
pub(crate) const WEB: &str = "web";
/// A second ECS binding on its own fake and role: must keep working whatever happens to
/// [`WEB`].
pub(crate) const OTHER: &str = "other";
/// An ECS binding in `ecs-full-query` mode (token in `?access_token=`).
pub(crate) const QUERY: &str = "query";
/// The binding served on the IMDS listener.
pub(crate) const IMDS: &str = "imds";

/// `serve` with an ECS and an IMDS listener, its bindings and fakes.
pub(crate) struct Daemon {
    /// The fake [`WEB`], [`QUERY`] and [`IMDS`] call; faults go here.
    pub fake: Fake,
    /// The fake [`OTHER`] calls: never faulted.
    pub other_fake: Fake,
    /// The configuration directory.
    pub dir: tempfile::TempDir,
    /// Copies of the certificate and key of [`WEB`] (`web.crt`, `web.key`), which tests may
    /// replace or delete; the other bindings use the test PKI's files.
    pub files: tempfile::TempDir,
    pub serve: Serve,
    pub ecs: SocketAddr,
    pub imds: SocketAddr,
}

impl Daemon {
    /// Starts serve (`RUST_LOG=debug` plus `extra` flags) and binds the four bindings with
    /// `--no-validate`, each calling its fake through `--endpoint`.
    pub(crate) async fn start(extra: &[&str]) -> Daemon {
        Self::start_with_env(extra, &[]).await
    }

    /// [`Daemon::start`] with extra environment variables for serve.
    pub(crate) async fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Daemon {
        let fake = Fake::start().await;
        let other_fake = Fake::start().await;
        let dir = tempfile::tempdir().expect("configuration directory");
        let files = tempfile::tempdir().expect("identity files directory");
        std::fs::copy(pki_file("p256.fullchain.pem"), files.path().join("web.crt"))
            .expect("copy certificate");
        std::fs::copy(pki_file("p256.pkcs8.key"), files.path().join("web.key")).expect("copy key");
        let (serve, ports) = start_serve(2, |ports| {
            let mut args = vec![
                "--listen".to_owned(),
                format!("127.0.0.1:{}", ports[0]),
                "--listen-imds".to_owned(),
                format!("127.0.0.1:{}={IMDS}", ports[1]),
            ];
            args.extend(extra.iter().map(|s| s.to_string()));
            ServeOptions {
                dir: dir.path().to_owned(),
                args,
                env: env
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                ..ServeOptions::default()
            }
        })
        .await;
        let daemon = Daemon {
            fake,
            other_fake,
            dir,
            files,
            serve,
            ecs: loopback(ports[0]),
            imds: loopback(ports[1]),
        };
        let url = format!("http://{}", daemon.ecs);
        let imds_url = format!("http://{}", daemon.imds);
        let web_cert = daemon.web_certificate();
        let web_key = daemon.web_key();
        let p256_cert = pki_file("p256.fullchain.pem");
        let p256_key = pki_file("p256.pkcs8.key");
        let bindings: [(&str, &Path, &Path, &str, &str, &str, String); 4] = [
            (
                WEB,
                &web_cert,
                &web_key,
                ROLE_ARN,
                "ecs-full",
                &url,
                daemon.fake.url(),
            ),
            (
                OTHER,
                &p256_cert,
                &p256_key,
                OTHER_ROLE_ARN,
                "ecs-full",
                &url,
                daemon.other_fake.url(),
            ),
            (
                QUERY,
                &p256_cert,
                &p256_key,
                ROLE_ARN,
                "ecs-full-query",
                &url,
                daemon.fake.url(),
            ),
            (
                IMDS,
                &p256_cert,
                &p256_key,
                ROLE_ARN,
                "imds",
                &imds_url,
                daemon.fake.url(),
            ),
        ];
        for (name, cert, key, role, mode, url, endpoint) in bindings {
            let mut args = identity_args_from(cert, key, role);
            args.extend(
                [
                    "--mode",
                    mode,
                    "--url",
                    url,
                    "--endpoint",
                    &endpoint,
                    "--no-validate",
                ]
                .iter()
                .map(|s| s.to_string()),
            );
            bind_ok(daemon.dir.path(), name, &args).await;
        }
        daemon
    }

    pub(crate) fn web_certificate(&self) -> PathBuf {
        self.files.path().join("web.crt")
    }

    pub(crate) fn web_key(&self) -> PathBuf {
        self.files.path().join("web.key")
    }

    /// The ECS listener as a [`Target`].
    pub(crate) fn target(&self) -> Target {
        Target::Tcp(self.ecs)
    }

    /// The token of binding `name` (from its env file).
    pub(crate) fn token(&self, name: &str) -> String {
        token_of(self.dir.path(), name)
    }

    /// `GET /ecs/credentials` with binding `name`'s token in the header.
    pub(crate) async fn get(&self, name: &str) -> Response {
        get_with_bearer(&self.target(), &self.token(name)).await
    }

    /// Everything serve logged so far.
    pub(crate) fn log(&self) -> String {
        self.serve.log()
    }

    /// serve is running, and a well-behaved client still gets credentials for [`OTHER`]
    /// over ECS and for [`IMDS`] over the IMDS listener.
    pub(crate) async fn assert_alive(&mut self, what: &str) {
        assert!(
            self.serve.is_running(),
            "{what}: serve exited\n{}",
            self.log()
        );
        let response = self.get(OTHER).await;
        assert_eq!(
            response.status,
            200,
            "{what}: binding {OTHER} is no longer served: {response:?}\n{}",
            self.log()
        );
        let session = token(self.imds).await;
        let response = request(
            self.imds,
            "GET",
            &credentials_path(),
            &[(TOKEN_HEADER, session.as_str())],
        )
        .await;
        assert_eq!(
            response.status,
            200,
            "{what}: the IMDS listener no longer serves: {response:?}\n{}",
            self.log()
        );
    }
}

/// How a raw exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The daemon closed the connection (EOF).
    Closed,
    /// The daemon reset the connection.
    Reset,
    /// Neither within the time allowed: the connection was still open.
    Open,
}

/// What the daemon sent back to a raw exchange.
#[derive(Debug, Clone)]
pub(crate) struct Raw {
    pub bytes: Vec<u8>,
    pub end: End,
    pub elapsed: Duration,
}

impl Raw {
    /// The status of the first response, if one came.
    pub(crate) fn status(&self) -> Option<u16> {
        let text = String::from_utf8_lossy(&self.bytes);
        let line = text.lines().next()?;
        let mut parts = line.split(' ');
        if !parts.next()?.starts_with("HTTP/1.") {
            return None;
        }
        parts.next()?.parse().ok()
    }

    /// The statuses of every response in order (for pipelining).
    pub(crate) fn statuses(&self) -> Vec<u16> {
        let text = String::from_utf8_lossy(&self.bytes);
        text.match_indices("HTTP/1.1 ")
            .filter_map(|(at, _)| text[at + 9..].get(..3)?.parse().ok())
            .collect()
    }

    /// The first response, parsed (only when the daemon closed after it).
    pub(crate) fn response(&self) -> Response {
        parse_response(&self.bytes)
            .unwrap_or_else(|e| panic!("not an HTTP response ({e}): {:?}", self.text()))
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Connects to `addr`, writes `bytes`, half-closes nothing, and reads until the daemon
/// closes the connection or `wait` passes. Connecting may take as long as `wait` too (the
/// kernel retries a SYN dropped by a full accept queue after 1, 3, 7, 15 s).
pub(crate) async fn raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> Raw {
    let started = tokio::time::Instant::now();
    let connect_limit = wait.max(STEP);
    let mut stream = tokio::time::timeout(connect_limit, tokio::net::TcpStream::connect(addr))
        .await
        .unwrap_or_else(|_| panic!("connect to {addr} took longer than {connect_limit:?}"))
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    // The daemon may answer and close before every byte is written (e.g. 431 for a huge
    // head): a failed write is not the test's failure, what came back decides.
    let _ = stream.write_all(bytes).await;
    read_until_end(&mut stream, started, wait).await
}

/// Reads from `stream` until EOF, a reset, or `wait` after `started`.
pub(crate) async fn read_until_end(
    stream: &mut tokio::net::TcpStream,
    started: tokio::time::Instant,
    wait: Duration,
) -> Raw {
    let deadline = started + wait;
    let mut bytes = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let end = loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => break End::Open,
            Ok(Ok(0)) => break End::Closed,
            Ok(Ok(n)) => bytes.extend_from_slice(&buf[..n]),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => break End::Reset,
            Ok(Err(e)) => panic!("read: {e}"),
        }
    };
    Raw {
        bytes,
        end,
        elapsed: started.elapsed(),
    }
}

/// A minimal well-formed request head for `path` with `Host` naming `addr`.
pub(crate) fn get_request(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// Raises this process's open-file limit (root may), so tests can hold thousands of sockets;
/// `serve` started afterwards inherits it.
pub(crate) fn raise_fd_limit(limit: u32) {
    let pid = std::process::id().to_string();
    let value = format!("--nofile={limit}:");
    let _ = std::process::Command::new("prlimit")
        .args(["--pid", &pid, &value])
        .status();
}
