//! The command line: raw flags (clap) and the commands that use them.
//!
//! Flags are parsed into typed values here once ([`IdentityArgs::resolve`]); the commands
//! then run on those. `credential-process` accepts every file-based flag of the existing
//! `needroleshere credential-process` and of the official `aws_signing_helper
//! credential-process`, so either can be swapped for this one in `~/.aws/config`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::arn::{ProfileArn, Region, RoleArn, RoleSessionName, SessionDuration, TrustAnchorArn};
use crate::clock::{Clock, SystemClock};
use crate::env::Environment;
use crate::identity::IdentityFiles;
use crate::rolesanywhere::{self, SessionRequest};
use crate::secret::Secret;
use crate::transport::{self, TransportSettings};

/// Short-lived AWS credentials from IAM Roles Anywhere.
#[derive(Debug, Parser)]
#[command(name = "needroleshere", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print credentials for a role as `credential_process` JSON (for ~/.aws/config).
    ///
    /// Signs an IAM Roles Anywhere CreateSession request with the certificate and private
    /// key and prints {"Version":1,"AccessKeyId",...} on stdout. Errors go to stderr with a
    /// non-zero exit status.
    CredentialProcess(CredentialProcessArgs),
}

impl Command {
    /// Whether the command asked for debug logging.
    pub fn debug(&self) -> bool {
        match self {
            Self::CredentialProcess(args) => args.debug,
        }
    }
}

/// The certificate, key and role flags shared by every command that signs.
#[derive(Debug, Clone, Args)]
pub struct IdentityArgs {
    /// Certificate file (PEM or DER); may hold the full chain. Repeat for several files.
    #[arg(long, value_name = "PATH", required = true)]
    pub certificate: Vec<PathBuf>,

    /// File of intermediate CA certificates, added to the chain after the certificate files.
    #[arg(long, value_name = "PATH")]
    pub intermediates: Vec<PathBuf>,

    /// Private key file: PKCS#1, SEC1, PKCS#8 or encrypted PKCS#8 (RSA, P-256, P-384).
    #[arg(long, value_name = "PATH")]
    pub private_key: PathBuf,

    /// Password of an encrypted PKCS#8 private key.
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "NEEDROLESHERE_PKCS8_PASSWORD",
        hide_env_values = true
    )]
    pub pkcs8_password: Option<String>,

    /// ARN of the trust anchor that issued the certificate.
    #[arg(long, value_name = "ARN")]
    pub trust_anchor_arn: TrustAnchorArn,

    /// ARN of the Roles Anywhere profile.
    #[arg(long, value_name = "ARN")]
    pub profile_arn: ProfileArn,

    /// ARN of the role to assume.
    #[arg(long, value_name = "ARN")]
    pub role_arn: RoleArn,

    /// Lifetime of the credentials in seconds (900 to 43200).
    #[arg(long, value_name = "SECONDS", default_value = "3600", value_parser = parse_duration)]
    pub session_duration: SessionDuration,

    /// Role session name (2 to 64 characters of letters, digits and +=,.@_-).
    #[arg(long, visible_alias = "session-name", value_name = "NAME")]
    pub role_session_name: Option<RoleSessionName>,

    /// Region to call; defaults to the trust anchor's region, then AWS_REGION or
    /// AWS_DEFAULT_REGION.
    #[arg(long, value_name = "REGION")]
    pub region: Option<Region>,

    /// CreateSession endpoint URL; defaults to AWS_ENDPOINT_URL_ROLESANYWHERE,
    /// AWS_ENDPOINT_URL, then https://rolesanywhere.REGION.amazonaws.com.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,

    /// Extra trust roots (PEM) for the endpoint's TLS certificate; defaults to AWS_CA_BUNDLE.
    #[arg(long, value_name = "PATH")]
    pub ca_bundle: Option<PathBuf>,

    /// Do not verify the endpoint's TLS certificate. Dangerous: for testing only.
    #[arg(long)]
    pub no_verify_ssl: bool,

    /// Accepted for compatibility with aws_signing_helper; proxies are always taken from
    /// HTTPS_PROXY, HTTP_PROXY and NO_PROXY.
    #[arg(long)]
    pub with_proxy: bool,
}

fn parse_duration(text: &str) -> Result<SessionDuration, String> {
    let seconds: u64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number of seconds"))?;
    SessionDuration::new(seconds).map_err(|e| e.to_string())
}

#[derive(Debug, Clone, Args)]
pub struct CredentialProcessArgs {
    #[command(flatten)]
    pub identity: IdentityArgs,

    /// Log each step (signing details, endpoint, status) to stderr; never logs secrets.
    #[arg(long)]
    pub debug: bool,
}

/// Everything needed to get credentials for one role through Roles Anywhere.
#[derive(Debug, Clone)]
pub struct RoleSource {
    pub files: IdentityFiles,
    pub session: SessionRequest,
    pub region: Region,
    pub endpoint: url::Url,
    pub transport: TransportSettings,
}

impl IdentityArgs {
    /// Turns the flags and the environment into a [`RoleSource`].
    pub fn resolve(&self, env: &Environment) -> anyhow::Result<RoleSource> {
        let region = match &self.region {
            Some(region) => region.clone(),
            None => self.trust_anchor_arn.region(),
        };
        let endpoint = rolesanywhere::resolve_endpoint(self.endpoint.as_deref(), env, &region)?;
        let mut transport = TransportSettings::from_environment(env);
        if let Some(path) = &self.ca_bundle {
            transport.ca_bundle = Some(path.clone());
        }
        transport.verify_tls = !self.no_verify_ssl;
        Ok(RoleSource {
            files: IdentityFiles {
                certificates: self.certificate.clone(),
                intermediates: self.intermediates.clone(),
                private_key: self.private_key.clone(),
                pkcs8_password: self.pkcs8_password.clone().map(Secret::new),
            },
            session: SessionRequest {
                trust_anchor_arn: self.trust_anchor_arn.clone(),
                profile_arn: self.profile_arn.clone(),
                role_arn: self.role_arn.clone(),
                duration: self.session_duration,
                role_session_name: self.role_session_name.clone(),
            },
            region,
            endpoint,
            transport,
        })
    }
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let env = Environment::from_process();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command {
        Command::CredentialProcess(args) => credential_process(&args, &env, clock).await,
    }
}

async fn credential_process(
    args: &CredentialProcessArgs,
    env: &Environment,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let source = args.identity.resolve(env)?;
    let credentials = fetch(&source, clock).await?;
    println!("{}", credentials.to_credential_process_json());
    Ok(())
}

/// Loads and checks the identity, then calls CreateSession.
pub async fn fetch(
    source: &RoleSource,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<crate::credentials::Credentials> {
    let identity = source.files.load()?;
    identity.ensure_valid_at(clock.now())?;
    tracing::debug!(?identity, region = %source.region, endpoint = %source.endpoint, "identity loaded");
    if !source.transport.verify_tls {
        tracing::warn!(
            endpoint = %source.endpoint,
            "TLS certificate verification is OFF (--no-verify-ssl): anyone on the network path can impersonate AWS and read the credentials"
        );
    }
    let http = transport::build_client(&source.transport)?;
    let client =
        rolesanywhere::Client::new(http, source.endpoint.clone(), source.region.clone(), clock);
    let credentials = client
        .create_session(&identity, &source.session)
        .await
        .with_context(|| format!("no credentials for role {}", source.session.role_arn))?;
    Ok(credentials)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(["needroleshere"].iter().chain(args))
    }

    const BASE: &[&str] = &[
        "credential-process",
        "--certificate",
        "/c.pem",
        "--private-key",
        "/k.pem",
        "--trust-anchor-arn",
        "arn:aws:rolesanywhere:ap-northeast-1:123456789012:trust-anchor/ta",
        "--profile-arn",
        "arn:aws:rolesanywhere:ap-northeast-1:123456789012:profile/p",
        "--role-arn",
        "arn:aws:iam::123456789012:role/r",
    ];

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }

    #[test]
    fn region_defaults_to_the_trust_anchor() {
        let Command::CredentialProcess(args) = parse(BASE).unwrap().command;
        let source = args.identity.resolve(&Environment::default()).unwrap();
        assert_eq!(source.region.as_str(), "ap-northeast-1");
        assert_eq!(
            source.endpoint.as_str(),
            "https://rolesanywhere.ap-northeast-1.amazonaws.com/"
        );
        assert_eq!(source.session.duration, SessionDuration::DEFAULT);
    }

    #[test]
    fn official_helper_flags_are_accepted() {
        let mut args = BASE.to_vec();
        args.extend([
            "--with-proxy",
            "--no-verify-ssl",
            "--debug",
            "--intermediates",
            "/i.pem",
            "--role-session-name",
            "build-1",
            "--session-duration",
            "900",
            "--region",
            "eu-west-1",
            "--endpoint",
            "https://example.test",
        ]);
        let Command::CredentialProcess(args) = parse(&args).unwrap().command;
        let source = args.identity.resolve(&Environment::default()).unwrap();
        assert_eq!(source.region.as_str(), "eu-west-1");
        assert!(!source.transport.verify_tls);
        assert_eq!(source.files.intermediates, vec![PathBuf::from("/i.pem")]);
    }

    #[test]
    fn bad_values_are_refused_with_their_reason() {
        let mut args = BASE.to_vec();
        args.extend(["--session-duration", "60"]);
        let err = parse(&args).unwrap_err().to_string();
        assert!(err.contains("900 to 43200"), "{err}");

        let mut args = BASE.to_vec();
        args[10] = "role/r";
        let err = parse(&args).unwrap_err().to_string();
        assert!(err.contains("is not an ARN"), "{err}");
    }
}
