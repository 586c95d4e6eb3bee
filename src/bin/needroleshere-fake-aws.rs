//! `needroleshere-fake-aws`: the strict fake IAM Roles Anywhere as a process, for demos and
//! end-to-end tests of the built binary.
//!
//! Contract:
//! * `--pki DIR` names a directory holding `root-ca.pem`; the fake is configured with
//!   `Config::from_pki_dir` (trust anchor, profile and roles of `needroleshere::testutil`).
//! * It listens on `--listen` (default `127.0.0.1:0`), over TLS when `--tls-cert` and
//!   `--tls-key` (both or neither) are given, and answers `CreateSession` for `--region`
//!   (default `us-east-1`) on `POST {--path-prefix}/sessions`.
//! * Once listening it prints exactly one line to stdout, `listening on http://ADDR` (or
//!   `https://`), and flushes it. Nothing else goes to stdout.
//! * Each request's result (status, error type, message; never a secret key or session token)
//!   is logged to stderr (`RUST_LOG` filters, default `info`).
//! * It runs until SIGTERM or SIGINT and then exits 0; a startup failure exits 1 with the
//!   reason on stderr.

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use needroleshere::testutil::{Config, FakeRolesAnywhere, REGION};

/// A strict fake of AWS IAM Roles Anywhere CreateSession, for tests.
#[derive(Debug, Parser)]
#[command(name = "needroleshere-fake-aws", version)]
struct Args {
    /// Directory holding root-ca.pem (the trust anchor's CA).
    #[arg(long, value_name = "DIR")]
    pki: PathBuf,

    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: SocketAddr,

    /// PEM certificate chain to serve HTTPS with (requires --tls-key).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// The region credential scopes must name.
    #[arg(long, value_name = "REGION", default_value = REGION)]
    region: String,

    /// Path prefix before /sessions (for example /rolesanywhere).
    #[arg(long, value_name = "PATH", default_value = "")]
    path_prefix: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("needroleshere-fake-aws: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> std::io::Result<()> {
    let mut config = Config::from_pki_dir(&args.pki)?;
    config.region = args.region;
    let fake = FakeRolesAnywhere::with_path_prefix(config, &args.path_prefix);
    let running = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => fake.spawn_https(args.listen, cert, key).await?,
        _ => fake.spawn_http(args.listen).await?,
    };
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {}", running.url())?;
        stdout.flush()?;
    }
    wait_for_termination().await?;
    tracing::info!(
        requests = fake.request_count(),
        sessions = fake.sessions().len(),
        "stopping"
    );
    running.shutdown();
    Ok(())
}

#[cfg(unix)]
async fn wait_for_termination() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn wait_for_termination() -> std::io::Result<()> {
    tokio::signal::ctrl_c().await
}
