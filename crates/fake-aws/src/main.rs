//! `needroleshere-fake-aws`: the strict fake IAM Roles Anywhere and the strict fake STS as a
//! process, for demos and end-to-end tests of the built binary.
//!
//! Contract:
//! * `--pki DIR` names a directory holding `root-ca.pem`; it serves `fake_aws::World::example`:
//!   the Roles Anywhere fake configured with `Config::from_pki_dir` (trust anchor, profile
//!   and roles of `fake_aws::rolesanywhere`), the STS fake with `StsConfig::example` (users
//!   `alice` and `bob`, roles `developer`, `admin`, `auditor`, `partner`, `web`, see
//!   `fake_aws::sts`).
//! * It also serves the fake IAM Identity Center (`fake_aws::sso`, `SsoConfig::example`:
//!   start URL `fake_aws::sso::SSO_START_URL`, users `alice` and `bob`): the OIDC paths
//!   (`/client/register`, `/device_authorization`, `/token`), the portal's
//!   (`/federation/credentials`, `/assignment/…`, `/logout`), and, standing in for the person
//!   at the verification page, `POST /device/approve` (form `user_code=…&user=alice`) and
//!   `POST /device/deny` (form `user_code=…`).
//! * `--web-identity-role` adds roles for `AssumeRoleWithWebIdentity`; `--saml-provider ARN
//!   METADATA_XML` registers an IAM SAML provider from an IdP's metadata file and
//!   `--saml-role ROLE_ARN PROVIDER_ARN` a role trusting it, for `AssumeRoleWithSAML`.
//! * All share one registry: credentials Roles Anywhere or the portal issues can call STS.
//! * It listens on `--listen` (default `127.0.0.1:0`), over TLS when `--tls-cert` and
//!   `--tls-key` (both or neither) are given, for `--region` (default `us-east-1`). One
//!   listener serves both: `POST {--path-prefix}/sessions` is `CreateSession`; `POST /` and
//!   `GET /` are STS; any other request goes to the Roles Anywhere fake, which refuses it.
//! * Once listening it prints exactly one line to stdout, `listening on http://ADDR` (or
//!   `https://`), and flushes it. Nothing else goes to stdout, except with
//!   `--https-proxy CERT KEY`: a second listener of the same world serves HTTPS with that
//!   certificate and key, an HTTP `CONNECT` proxy on 127.0.0.1 tunnels every target to it
//!   (`fake_aws::proxy`), and a second line follows the first: `https proxy on http://ADDR`.
//!   So a client that must reach AWS under its real host names (it ignores
//!   `AWS_ENDPOINT_URL_*`) reaches this world through `HTTPS_PROXY` and `AWS_CA_BUNDLE`.
//! * Each request's result (status, error type, message; never a secret key or session token)
//!   is logged to stderr (`RUST_LOG` filters, default `info`).
//! * It runs until SIGTERM or SIGINT and then exits 0; a startup failure exits 1 with the
//!   reason on stderr.

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use fake_aws::{REGION, World};

/// Strict fakes of AWS IAM Roles Anywhere CreateSession and of STS, for tests.
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

    /// The region credential scopes must name (both services).
    #[arg(long, value_name = "REGION", default_value = REGION)]
    region: String,

    /// Also serve HTTPS with this PEM certificate chain and key (the host names of AWS in it)
    /// behind a CONNECT proxy on 127.0.0.1, and print the proxy's URL.
    #[arg(long, num_args = 2, value_names = ["CERT_PEM", "KEY_PEM"])]
    https_proxy: Option<Vec<PathBuf>>,

    /// Path prefix before /sessions (for example /rolesanywhere).
    #[arg(long, value_name = "PATH", default_value = "")]
    path_prefix: String,

    /// A role that AssumeRoleWithWebIdentity grants to OpenID Connect ID tokens of ISSUER
    /// (keys from its discovery document) with audience AUDIENCE and a `sub` matching SUBJECT
    /// (exact, or a prefix before a trailing `*`). Repeatable.
    #[arg(
        long,
        num_args = 4,
        action = clap::ArgAction::Append,
        value_names = ["ROLE_ARN", "ISSUER", "AUDIENCE", "SUBJECT"]
    )]
    web_identity_role: Vec<String>,

    /// An IAM SAML provider for AssumeRoleWithSAML: its ARN
    /// (`arn:aws:iam::ACCOUNT:saml-provider/NAME`) and the IdP's SAML metadata file (entity
    /// id and signing certificates). Repeatable.
    #[arg(
        long,
        num_args = 2,
        action = clap::ArgAction::Append,
        value_names = ["PROVIDER_ARN", "METADATA_XML"]
    )]
    saml_provider: Vec<String>,

    /// A role that AssumeRoleWithSAML grants to assertions of the SAML provider PROVIDER_ARN
    /// (given with --saml-provider) that offer it; 12 hours at most. Repeatable.
    #[arg(
        long,
        num_args = 2,
        action = clap::ArgAction::Append,
        value_names = ["ROLE_ARN", "PROVIDER_ARN"]
    )]
    saml_role: Vec<String>,
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
    let roles = args
        .web_identity_role
        .chunks(4)
        .filter_map(|chunk| match chunk {
            [arn, issuer, audience, subject] => Some(fake_aws::sts::Role::trusting_web_identity(
                arn,
                fake_aws::sts::OidcTrust::new(issuer, audience, subject),
            )),
            _ => None,
        })
        .chain(args.saml_role.chunks(2).filter_map(|chunk| match chunk {
            [arn, provider] => Some(fake_aws::sts::Role {
                max_duration_seconds: 43_200,
                ..fake_aws::sts::Role::trusting_saml(arn, provider)
            }),
            _ => None,
        }))
        .collect();
    let mut providers = Vec::new();
    for chunk in args.saml_provider.chunks(2) {
        if let [arn, path] = chunk {
            let metadata = std::fs::read_to_string(path).map_err(|error| {
                std::io::Error::new(error.kind(), format!("--saml-provider {path}: {error}"))
            })?;
            providers.push(
                fake_aws::SamlProvider::from_metadata(arn, &metadata).map_err(|error| {
                    std::io::Error::other(format!("--saml-provider {path}: {error}"))
                })?,
            );
        }
    }
    let world = World::example_with_federation(
        &args.pki,
        &args.region,
        &args.path_prefix,
        roles,
        providers,
    )?;
    let running = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => world.spawn_tls(args.listen, cert, key).await?,
        _ => world.spawn(args.listen).await?,
    };
    let https = match args.https_proxy.as_deref() {
        Some([cert, key]) => {
            let tls = world
                .spawn_tls(SocketAddr::from(([127, 0, 0, 1], 0)), cert, key)
                .await?;
            let proxy = fake_aws::proxy::ConnectProxy::spawn(tls.addr).await?;
            Some((tls, proxy))
        }
        _ => None,
    };
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {}", running.url())?;
        if let Some((_, proxy)) = &https {
            writeln!(stdout, "https proxy on {}", proxy.url())?;
        }
        stdout.flush()?;
    }
    wait_for_termination().await?;
    tracing::info!(
        requests = world.rolesanywhere.request_count(),
        sessions = world.rolesanywhere.sessions().len(),
        sts_requests = world.sts.request_count(),
        sts_issued = world.sts.issued().len(),
        sso_requests = world.sso.request_count(),
        sso_issued = world.sso.issued().len(),
        "stopping"
    );
    running.shutdown();
    if let Some((tls, _proxy)) = https {
        tls.shutdown();
    }
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
