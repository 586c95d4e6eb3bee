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

use std::path::Path;

use crate::arn::{ProfileArn, Region, RoleArn, RoleSessionName, SessionDuration, TrustAnchorArn};
use crate::aws::rolesanywhere::{self, SessionRequest};
use crate::binding::{Binding, BindingError, BindingName, ConfigDir, Mode, render_env};
use crate::identity::IdentityFiles;
use crate::secret::Secret;
use crate::source::rolesanywhere::IdentitySource;
use crate::system::activation::ListenAddr;
use crate::system::clock::{Clock, SystemClock};
use crate::system::env::Environment;
use crate::system::files::{ensure_dir, remove_if_exists, write_atomic};
use crate::system::logging::LogFormat;
use crate::system::transport::{self, TransportSettings};

/// Short-lived AWS credentials from IAM Roles Anywhere.
#[derive(Debug, Parser)]
#[command(name = "needroleshere", version = VERSION, about, max_term_width = 100)]
pub struct Cli {
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// The version and the source revision it was built from (set by build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("NEEDROLESHERE_REVISION"),
    ")"
);

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print credentials for a role as `credential_process` JSON (for ~/.aws/config).
    ///
    /// Signs an IAM Roles Anywhere CreateSession request with the certificate and private
    /// key and prints {"Version":1,"AccessKeyId",...} on stdout. Errors go to stderr with a
    /// non-zero exit status.
    CredentialProcess(CredentialProcessArgs),

    /// Create or replace a role binding served by `serve` (run before the consuming service).
    ///
    /// Writes DIR/bindings/NAME.json (certificate and key paths, the role, a hash of a new
    /// secret) and DIR/env/NAME, an EnvironmentFile= with the AWS_CONTAINER_CREDENTIALS_*
    /// variables and the token. Each run makes a new secret; the old token stops working.
    Bind(BindArgs),

    /// Remove a role binding and its env and token files. Succeeds when already gone.
    Unbind(UnbindArgs),

    /// Write credentials into a profile of the shared credentials file, and keep them fresh.
    ///
    /// Sets aws_access_key_id, aws_secret_access_key and aws_session_token of --profile in
    /// $AWS_SHARED_CREDENTIALS_FILE (else ~/.aws/credentials), leaving everything else in the
    /// file as it was, then refreshes them before they expire until stopped (or once, with
    /// --once).
    Update(UpdateArgs),

    /// Check a binding or an identity locally, and with --remote against IAM Roles Anywhere.
    ///
    /// Reports whether the key matches the certificate, the validity window and days left,
    /// the chain's order and completeness, and the signing algorithm. Exits non-zero when
    /// it finds a problem.
    Check(CheckArgs),

    /// Print the first certificate of a file as the official helper does (JSON with the key
    /// type, the base64 DER and the decimal serial number).
    ReadCertificateData(ReadCertificateDataArgs),

    /// Run a command with an AWS profile's credentials and region in its environment.
    ///
    /// AWS_PROFILE is removed from the command's environment and its value passed as
    /// AWSRUNAS_PROFILE. An MFA code is asked for on the terminal when needed. The exit
    /// status and signals are passed through.
    Exec(ExecArgs),

    /// Serve credentials for role bindings over the ECS container credentials protocol.
    ///
    /// Listens on the sockets passed by systemd socket activation, else on --listen.
    /// Notifies systemd when ready (Type=notify) and drains connections on SIGTERM.
    Serve(ServeArgs),
}

impl Command {
    /// Whether the command asked for debug logging.
    pub fn debug(&self) -> bool {
        match self {
            Self::CredentialProcess(args) => args.debug,
            Self::Bind(args) => args.debug,
            Self::Unbind(_) | Self::ReadCertificateData(_) => false,
            Self::Check(args) => args.debug,
            Self::Update(args) => args.debug,
            Self::Serve(args) => {
                args.debug
                    || matches!(&args.desktop, Some(DesktopCommand::Ec2(d) | DesktopCommand::Ecs(d)) if d.debug)
            }
            Self::Exec(args) => args.debug,
        }
    }
}

/// Where bindings live.
#[derive(Debug, Clone, Args)]
pub struct ConfigDirArgs {
    /// Directory holding bindings/, env/ and token/; defaults to $RUNTIME_DIRECTORY.
    #[arg(long, value_name = "DIR")]
    pub configuration_directory: Option<PathBuf>,
}

impl ConfigDirArgs {
    fn resolve(&self, env: &Environment) -> anyhow::Result<ConfigDir> {
        let path = self
            .configuration_directory
            .clone()
            .or_else(|| env.runtime_directory.clone())
            .context(
                "no configuration directory: give --configuration-directory or set RUNTIME_DIRECTORY",
            )?;
        Ok(ConfigDir::new(path))
    }
}

#[derive(Debug, Clone, Args)]
pub struct BindArgs {
    /// Binding name: 1 to 64 letters, digits, '@', '_' or '-'.
    #[arg(value_name = "NAME", value_parser = parse_binding_name)]
    pub name: BindingName,

    #[command(flatten)]
    pub identity: IdentityArgs,

    #[command(flatten)]
    pub endpoint: EndpointArgs,

    /// How consumers reach `serve` and present the token.
    #[arg(long, value_enum, default_value_t = Mode::EcsFull)]
    pub mode: Mode,

    /// Base URL of `serve` for the full-URI modes, e.g. http://127.0.0.1:7224.
    #[arg(long, value_name = "URL")]
    pub url: Option<url::Url>,

    /// Do not call CreateSession to check the binding before writing it.
    #[arg(long)]
    pub no_validate: bool,

    /// Write the token to DIR/token/NAME and point AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
    /// at it, instead of putting the token in the env file.
    #[arg(long)]
    pub token_file: bool,

    #[command(flatten)]
    pub dir: ConfigDirArgs,

    /// Log each step to stderr; never logs secrets.
    #[arg(long)]
    pub debug: bool,
}

#[derive(Debug, Clone, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub identity: IdentityArgs,

    #[command(flatten)]
    pub endpoint: EndpointArgs,

    /// Profile (section) of the credentials file to write.
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub profile: String,

    /// Write once and exit instead of refreshing until stopped.
    #[arg(long)]
    pub once: bool,

    /// Log each step to stderr; never logs secrets.
    #[arg(long)]
    pub debug: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The binding to check (in the configuration directory); or give the identity flags.
    #[arg(value_name = "NAME", value_parser = parse_binding_name, conflicts_with = "identity")]
    pub name: Option<BindingName>,

    #[command(flatten)]
    pub identity: IdentityArgs,

    #[command(flatten)]
    pub endpoint: EndpointArgs,

    #[command(flatten)]
    pub dir: ConfigDirArgs,

    /// Also call CreateSession, to check the trust anchor, profile and role.
    #[arg(long)]
    pub remote: bool,

    /// Log each step to stderr; never logs secrets.
    #[arg(long)]
    pub debug: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ReadCertificateDataArgs {
    /// Certificate file (PEM or DER); the first certificate in it is read.
    #[arg(long, value_name = "PATH")]
    pub certificate: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct UnbindArgs {
    #[arg(value_name = "NAME", value_parser = parse_binding_name)]
    pub name: BindingName,

    #[command(flatten)]
    pub dir: ConfigDirArgs,
}

#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ServeArgs {
    /// Serve the credentials of an AWS profile on a developer machine instead.
    #[command(subcommand)]
    pub desktop: Option<DesktopCommand>,

    #[command(flatten)]
    pub dir: ConfigDirArgs,

    #[command(flatten)]
    pub endpoint: EndpointArgs,

    /// Serve this one identity over IMDSv2 on 127.0.0.1:--port, as `aws_signing_helper
    /// serve` does, instead of role bindings.
    #[command(flatten)]
    pub identity: Option<IdentityArgs>,

    /// Address to listen on when not socket-activated: IP:PORT or unix:/path. Repeatable.
    /// Serves the ECS endpoint for bindings, or IMDS for the identity given by flags.
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<ListenAddr>,

    /// IMDS endpoint for binding NAME (in imds mode): ADDR=NAME. Repeatable. A socket passed
    /// by systemd with FileDescriptorName=imds-NAME does the same.
    #[arg(long, value_name = "ADDR=NAME", value_parser = parse_imds_listen, conflicts_with = "identity")]
    pub listen_imds: Vec<(ListenAddr, BindingName)>,

    /// Answer IMDS requests that carry no session token (IMDSv1). Off by default.
    #[arg(long)]
    pub imds_v1: bool,

    /// IP TTL of IMDS answers (the token hop limit).
    #[arg(long, value_name = "HOPS", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=255))]
    pub hop_limit: u32,

    /// Port on 127.0.0.1 for the single-identity IMDS server (with the identity flags and
    /// no --listen).
    #[arg(
        long,
        value_name = "PORT",
        default_value_t = 9911,
        requires = "certificate"
    )]
    pub port: u16,

    /// Log every request to stderr; never logs secrets.
    #[arg(long)]
    pub debug: bool,
}

/// The desktop servers: a profile's credentials for one developer's programs.
#[derive(Debug, Clone, Subcommand)]
pub enum DesktopCommand {
    /// An EC2 instance metadata service (IMDSv1 and v2) for an AWS profile.
    ///
    /// Without -p it listens on 169.254.169.254:80, where SDKs look by default: that needs
    /// root (sudo; privileges are dropped to the invoking user after binding) and the
    /// address on an interface (`sudo ip address add 169.254.169.254/32 dev lo`).
    Ec2(DesktopArgs),
    /// An ECS container credentials endpoint for an AWS profile, on 127.0.0.1:12319.
    ///
    /// GET /credentials serves the active profile, GET /credentials/NAME any profile without
    /// switching; both need the Authorization token printed at start-up.
    Ecs(DesktopArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DesktopArgs {
    /// Port on 127.0.0.1 (ecs: 12319 by default; ec2: 169.254.169.254:80 without it).
    #[arg(short, long, value_name = "PORT")]
    pub port: Option<u16>,

    /// The profile to start with; AWS_PROFILE overrides it; "default" without either.
    #[arg(value_name = "PROFILE")]
    pub profile: Option<String>,

    #[command(flatten)]
    pub tls: TlsArgs,

    /// Log each step to stderr; never logs secrets.
    #[arg(long)]
    pub debug: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ExecArgs {
    /// The profile whose credentials the command gets; AWS_PROFILE overrides it; "default"
    /// without either.
    #[arg(value_name = "PROFILE")]
    pub profile: Option<String>,

    /// Serve the credentials to the command from a private ECS endpoint (refreshed during
    /// long runs) instead of putting them in its environment.
    #[arg(long, conflicts_with = "imds")]
    pub ecs: bool,

    /// Serve the credentials to the command from a private IMDS endpoint instead.
    #[arg(long)]
    pub imds: bool,

    /// The MFA code, when one is needed and no terminal can be asked.
    #[arg(long, value_name = "CODE")]
    pub mfa_code: Option<String>,

    #[command(flatten)]
    pub tls: TlsArgs,

    /// Log each step to stderr; never logs secrets.
    #[arg(long)]
    pub debug: bool,

    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<std::ffi::OsString>,
}

fn parse_imds_listen(text: &str) -> Result<(ListenAddr, BindingName), String> {
    let (addr, name) = text
        .rsplit_once('=')
        .ok_or_else(|| format!("{text:?} is not ADDR=NAME (e.g. 169.254.169.254:80=web)"))?;
    Ok((addr.parse()?, parse_binding_name(name)?))
}

fn parse_binding_name(text: &str) -> Result<BindingName, String> {
    text.parse()
        .map_err(|e: crate::binding::BindingError| e.to_string())
}

/// The certificate, key and role flags shared by every command that signs.
///
/// Clap does not make a flattened group's required flags optional when the group is
/// (`serve` takes these optionally), so the flags are optional here, the group requires all
/// of them once any is given, and [`parse`] requires the group where it is not optional.
#[derive(Debug, Clone, Args)]
#[group(
    id = "identity",
    multiple = true,
    requires_all = ["certificate", "private_key", "trust_anchor_arn", "profile_arn", "role_arn"]
)]
pub struct IdentityArgs {
    /// Certificate file (PEM or DER); may hold the full chain. Repeat for several files.
    #[arg(long, value_name = "PATH")]
    pub certificate: Vec<PathBuf>,

    /// File of intermediate CA certificates, added to the chain after the certificate files.
    #[arg(long, value_name = "PATH")]
    pub intermediates: Vec<PathBuf>,

    /// Private key file: PKCS#1, SEC1, PKCS#8 or encrypted PKCS#8 (RSA, P-256, P-384).
    #[arg(long, value_name = "PATH")]
    pub private_key: Option<PathBuf>,

    /// Password of an encrypted PKCS#8 private key; NEEDROLESHERE_PKCS8_PASSWORD in the
    /// environment is preferred (a flag shows in `ps`).
    // Not clap's `env =`: a value from the environment would make the optional group of
    // these flags count as given (see `serve`).
    #[arg(long, value_name = "PASSWORD", value_parser = parse_secret)]
    pub pkcs8_password: Option<Secret>,

    /// ARN of the trust anchor that issued the certificate.
    #[arg(long, value_name = "ARN")]
    pub trust_anchor_arn: Option<TrustAnchorArn>,

    /// ARN of the Roles Anywhere profile.
    #[arg(long, value_name = "ARN")]
    pub profile_arn: Option<ProfileArn>,

    /// ARN of the role to assume.
    #[arg(long, value_name = "ARN")]
    pub role_arn: Option<RoleArn>,

    /// Lifetime of the credentials in seconds (900 to 43200) [default: 3600].
    // No clap default: it would make an optional group of these flags always present.
    #[arg(long, value_name = "SECONDS", value_parser = parse_duration)]
    pub session_duration: Option<SessionDuration>,

    /// Role session name (2 to 64 characters of letters, digits and +=,.@_-).
    #[arg(long, visible_alias = "session-name", value_name = "NAME")]
    pub role_session_name: Option<RoleSessionName>,
}

/// Where CreateSession goes and how it is trusted.
#[derive(Debug, Clone, Args)]
pub struct EndpointArgs {
    /// Region to call. credential-process, bind and update default to the trust anchor's
    /// region; serve uses each binding's, then this, then AWS_REGION, then the trust
    /// anchor's.
    #[arg(long, value_name = "REGION")]
    pub region: Option<Region>,

    /// CreateSession endpoint URL; defaults to AWS_ENDPOINT_URL_ROLESANYWHERE,
    /// AWS_ENDPOINT_URL, then https://rolesanywhere.REGION.amazonaws.com.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,

    #[command(flatten)]
    pub tls: TlsArgs,

    /// Accepted for compatibility with aws_signing_helper; proxies are always taken from
    /// HTTPS_PROXY, HTTP_PROXY and NO_PROXY.
    #[arg(long)]
    pub with_proxy: bool,
}

/// How to trust the CreateSession endpoint.
#[derive(Debug, Clone, Args)]
pub struct TlsArgs {
    /// Extra trust roots (PEM) for the endpoint's TLS certificate; defaults to AWS_CA_BUNDLE.
    #[arg(long, value_name = "PATH")]
    pub ca_bundle: Option<PathBuf>,

    /// Do not verify the endpoint's TLS certificate. Dangerous: for testing only.
    #[arg(long)]
    pub no_verify_ssl: bool,
}

impl TlsArgs {
    /// The transport settings from the environment with these flags applied.
    pub fn settings(&self, env: &Environment) -> TransportSettings {
        let mut settings = TransportSettings::from_environment(env);
        if let Some(path) = &self.ca_bundle {
            settings.ca_bundle = Some(path.clone());
        }
        settings.verify_tls = !self.no_verify_ssl;
        settings
    }
}

fn parse_secret(text: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(text))
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

    #[command(flatten)]
    pub endpoint: EndpointArgs,

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
    pub fn resolve(
        &self,
        endpoint: &EndpointArgs,
        env: &Environment,
    ) -> anyhow::Result<RoleSource> {
        let (Some(private_key), Some(trust_anchor_arn), Some(profile_arn), Some(role_arn)) = (
            &self.private_key,
            &self.trust_anchor_arn,
            &self.profile_arn,
            &self.role_arn,
        ) else {
            anyhow::bail!("missing {}", self.missing().join(", "));
        };
        if self.certificate.is_empty() {
            anyhow::bail!("missing --certificate <PATH>");
        }
        let region = match &endpoint.region {
            Some(region) => region.clone(),
            None => trust_anchor_arn.region(),
        };
        let transport = endpoint.tls.settings(env);
        let endpoint = rolesanywhere::resolve_endpoint(endpoint.endpoint.as_deref(), env, &region)?;
        Ok(RoleSource {
            files: IdentityFiles {
                certificates: self.certificate.clone(),
                intermediates: self.intermediates.clone(),
                private_key: private_key.clone(),
                pkcs8_password: self
                    .pkcs8_password
                    .clone()
                    .or_else(|| env.pkcs8_password.clone()),
            },
            session: SessionRequest {
                trust_anchor_arn: trust_anchor_arn.clone(),
                profile_arn: profile_arn.clone(),
                role_arn: role_arn.clone(),
                duration: self.session_duration.unwrap_or(SessionDuration::DEFAULT),
                role_session_name: self.role_session_name.clone(),
            },
            region,
            endpoint,
            transport,
        })
    }

    /// The required flags that were not given.
    fn missing(&self) -> Vec<&'static str> {
        let given = [
            (!self.certificate.is_empty(), "--certificate <PATH>"),
            (self.private_key.is_some(), "--private-key <PATH>"),
            (self.trust_anchor_arn.is_some(), "--trust-anchor-arn <ARN>"),
            (self.profile_arn.is_some(), "--profile-arn <ARN>"),
            (self.role_arn.is_some(), "--role-arn <ARN>"),
        ];
        given
            .into_iter()
            .filter(|(present, _)| !present)
            .map(|(_, flag)| flag)
            .collect()
    }
}

/// Parses the command line; a usage error exits with status 2 and clap's message.
pub fn parse() -> Cli {
    use clap::{CommandFactory as _, Parser as _};
    let cli = Cli::parse();
    let identity = match &cli.command {
        Command::CredentialProcess(args) => Some((&args.identity, "credential-process")),
        Command::Bind(args) => Some((&args.identity, "bind")),
        Command::Update(args) => Some((&args.identity, "update")),
        Command::Unbind(_)
        | Command::Serve(_)
        | Command::Exec(_)
        | Command::Check(_)
        | Command::ReadCertificateData(_) => None,
    };
    if let Some((identity, name)) = identity {
        let missing = identity.missing();
        if !missing.is_empty() {
            let mut command = Cli::command();
            command.build();
            let mut target = command.find_subcommand(name).cloned().unwrap_or(command);
            target
                .error(
                    clap::error::ErrorKind::MissingRequiredArgument,
                    format!(
                        "the following required arguments were not provided:\n  {}",
                        missing.join("\n  ")
                    ),
                )
                .exit();
        }
    }
    cli
}

/// Runs a parsed command line.
/// Runs a parsed command line; the result is the exit status.
pub async fn run(cli: Cli, env: Environment) -> anyhow::Result<u8> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    if let Command::Exec(args) = &cli.command {
        return crate::front::exec::run(args, env, clock).await;
    }
    run_command(cli, env, clock).await.map(|()| 0)
}

async fn run_command(cli: Cli, env: Environment, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    match cli.command {
        Command::Exec(_) => Ok(()),
        Command::CredentialProcess(args) => credential_process(&args, &env, clock).await,
        Command::Bind(args) => bind(&args, &env, clock).await,
        Command::Unbind(args) => unbind(&args, &env),
        Command::Check(args) => check(&args, &env, clock).await,
        Command::ReadCertificateData(args) => {
            let data = crate::check::read_certificate_data(&args.certificate)?;
            println!("{}", serde_json::to_string_pretty(&data)?);
            Ok(())
        }
        Command::Update(args) => update(&args, &env, clock).await,
        Command::Serve(args) => match &args.desktop {
            Some(DesktopCommand::Ec2(desktop)) => serve_desktop(true, desktop, env, clock).await,
            Some(DesktopCommand::Ecs(desktop)) => serve_desktop(false, desktop, env, clock).await,
            None => serve(&args, env, clock).await,
        },
    }
}

async fn bind(args: &BindArgs, env: &Environment, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    let dir = args.dir.resolve(env)?;
    let source = args.identity.resolve(&args.endpoint, env)?;
    if crate::identity::key_file_is_encrypted(&source.files.private_key) {
        anyhow::bail!(
            "{} is encrypted, and `serve` has no password to decrypt it: give an unencrypted \
             key readable only by the serve user",
            source.files.private_key.display()
        );
    }
    let absolute = |paths: &[PathBuf]| -> anyhow::Result<Vec<PathBuf>> {
        paths
            .iter()
            .map(|p| {
                std::path::absolute(p).with_context(|| format!("cannot resolve {}", p.display()))
            })
            .collect()
    };
    let files = IdentityFiles {
        certificates: absolute(&source.files.certificates)?,
        intermediates: absolute(&source.files.intermediates)?,
        private_key: absolute(std::slice::from_ref(&source.files.private_key))?.remove(0),
        pkcs8_password: None,
    };
    let (binding, token) = Binding::create(
        args.name.clone(),
        args.mode,
        files,
        source.session.clone(),
        args.endpoint.region.clone(),
        args.endpoint.endpoint.clone(),
    )?;
    let name = &args.name;
    let token_path = args.token_file.then(|| dir.token_path(name));
    // Everything that does not need the network is checked before calling it.
    let env_text = render_env(args.mode, args.url.as_ref(), &token, token_path.as_deref())?;
    if !args.no_validate {
        fetch(&source, clock)
            .await
            .context("validation failed (use --no-validate to skip it); nothing was written")?;
    }

    let write = |path: &Path, contents: &[u8], mode: u32| -> Result<(), BindingError> {
        write_atomic(path, contents, mode).map_err(|source| BindingError::Write {
            path: path.to_owned(),
            source,
        })
    };
    let make_dir = |path: PathBuf| -> Result<(), BindingError> {
        ensure_dir(&path, 0o755).map_err(|source| BindingError::Write { path, source })
    };
    make_dir(dir.bindings_dir())?;
    make_dir(dir.env_dir())?;
    match &token_path {
        Some(path) => {
            make_dir(dir.token_dir())?;
            write(path, token.authorization().expose().as_bytes(), 0o600)?;
        }
        None => {
            // A token file left from an earlier --token-file binding holds a dead secret.
            remove_if_exists(&dir.token_path(name)).ok();
        }
    }
    // The env file first, the binding last: the new secret is live only once both exist.
    write(&dir.env_path(name), env_text.expose().as_bytes(), 0o600)?;
    write(&dir.binding_path(name), binding.to_json().as_bytes(), 0o644)?;
    eprintln!(
        "needroleshere: bound {name} ({}); EnvironmentFile={}",
        args.mode,
        dir.env_path(name).display()
    );
    Ok(())
}

fn unbind(args: &UnbindArgs, env: &Environment) -> anyhow::Result<()> {
    let dir = args.dir.resolve(env)?;
    let name = &args.name;
    let mut removed = false;
    // Nothing is parsed: a corrupt or half-written binding is removed all the same.
    for path in [
        dir.env_path(name),
        dir.token_path(name),
        dir.binding_path(name),
    ] {
        removed |=
            remove_if_exists(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    }
    if removed {
        eprintln!("needroleshere: unbound {name}");
    } else {
        eprintln!("needroleshere: {name} was not bound");
    }
    Ok(())
}

async fn serve(args: &ServeArgs, env: Environment, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    use crate::front::{ecs, imds, vend};
    use crate::http::{self, Front};
    use crate::system::activation::{self, Listener, NamedListener};
    use sd_notify::NotifyState;

    // Signal handlers first, so a SIGTERM right after READY=1 still drains and exits 0.
    let shutdown = http::shutdown_signal().context("cannot install signal handlers")?;
    let http = transport::build_client(&args.endpoint.tls.settings(&env))?;
    let defaults = crate::source::binding::Defaults {
        region: args.endpoint.region.clone(),
        endpoint: args.endpoint.endpoint.clone(),
        env: env.clone(),
    };
    let vendor = Arc::new(vend::Vendor::new(
        http,
        defaults,
        clock,
        crate::cache::Policy::default(),
    ));
    let tokens = Arc::new(
        imds::Tokens::generate().map_err(|_| anyhow::anyhow!("no randomness for IMDS tokens"))?,
    );
    let imds_front = |listener: NamedListener, target: imds::Target| {
        let local_addr = match &listener.listener {
            Listener::Tcp(l) => l.local_addr().ok(),
            Listener::Unix(_) => None,
        };
        let options = imds::ImdsOptions {
            allow_v1: args.imds_v1,
            local_addr,
        };
        let state = imds::ImdsState::new(vendor.clock().clone(), tokens.clone(), target, options);
        Front {
            listener,
            router: imds::router(Arc::new(state)),
            ip_ttl: Some(args.hop_limit),
        }
    };

    let mut fronts = Vec::new();
    let inherited = activation::inherited(&env)?;
    let status = if let Some(identity) = &args.identity {
        // The `aws_signing_helper serve` way: one identity, IMDSv2, no binding files.
        let source = identity.resolve(&args.endpoint, &env)?;
        let (binding, _) = Binding::create(
            "default".parse()?,
            Mode::Imds,
            source.files.clone(),
            source.session.clone(),
            args.endpoint.region.clone(),
            args.endpoint.endpoint.clone(),
        )?;
        let target = imds::Target::Fixed {
            vendor: vendor.clone(),
            binding: Arc::new(binding),
        };
        let mut listeners = inherited;
        for addr in &args.listen {
            listeners.push(activation::bind(addr).await?);
        }
        if listeners.is_empty() {
            let local = ListenAddr::Tcp(std::net::SocketAddr::from(([127, 0, 0, 1], args.port)));
            listeners.push(activation::bind(&local).await?);
        }
        for listener in listeners {
            fronts.push(imds_front(listener, target.clone()));
        }
        format!("serving {} over IMDS", source.session.role_arn)
    } else {
        let dir = args.dir.resolve(&env)?;
        let store = Arc::new(crate::binding::Store::new(dir.clone()));
        let ecs_router = ecs::router(Arc::new(ecs::EcsState::new(store.clone(), vendor.clone())));
        let ecs_front = |listener| Front {
            listener,
            router: ecs_router.clone(),
            ip_ttl: None,
        };
        for listener in inherited {
            let imds_binding = listener
                .name
                .as_deref()
                .and_then(|n| n.strip_prefix("imds-"))
                .map(str::parse::<BindingName>)
                .transpose()
                .context("a socket named imds-NAME needs a valid binding NAME")?;
            match imds_binding {
                Some(name) => {
                    let target = imds::Target::Stored {
                        vendor: vendor.clone(),
                        store: store.clone(),
                        name,
                    };
                    fronts.push(imds_front(listener, target));
                }
                None => fronts.push(ecs_front(listener)),
            }
        }
        for addr in &args.listen {
            fronts.push(ecs_front(activation::bind(addr).await?));
        }
        for (addr, name) in &args.listen_imds {
            let target = imds::Target::Stored {
                vendor: vendor.clone(),
                store: store.clone(),
                name: name.clone(),
            };
            fronts.push(imds_front(activation::bind(addr).await?, target));
        }
        format!("serving bindings from {}", dir.path().display())
    };
    if fronts.is_empty() {
        anyhow::bail!(
            "nothing to listen on: start under systemd socket activation or give --listen ADDR"
        );
    }
    let described: Vec<String> = fronts.iter().map(|f| f.listener.describe()).collect();
    tracing::info!(listeners = ?described, "{status}");
    let status = format!("{status} on {}", described.join(", "));
    activation::notify(&[NotifyState::Ready, NotifyState::Status(&status)]);
    activation::spawn_watchdog(&env);

    // STOPPING=1 goes out as the drain begins (see http::shutdown_signal).
    http::serve(fronts, http::Limits::default(), shutdown).await;
    Ok(())
}

/// The profile a desktop command uses: AWS_PROFILE, else the argument, else "default".
pub fn chosen_profile(env: &Environment, argument: Option<&str>) -> String {
    env.profile
        .clone()
        .or_else(|| argument.map(str::to_owned))
        .unwrap_or_else(|| "default".to_owned())
}

/// A random bearer token for a desktop or private endpoint.
pub fn random_token() -> anyhow::Result<Secret> {
    use base64::Engine as _;
    let mut raw = zeroize::Zeroizing::new([0u8; 32]);
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw[..])
        .map_err(|_| anyhow::anyhow!("no randomness for a token"))?;
    Ok(Secret::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw[..]),
    ))
}

async fn serve_desktop(
    ec2: bool,
    args: &DesktopArgs,
    mut env: Environment,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    use crate::front::{desktop, imds};
    use crate::http::{self, Front};

    let shutdown = http::shutdown_signal().context("cannot install signal handlers")?;
    let profile = chosen_profile(&env, args.profile.as_deref());
    let ip = std::net::Ipv4Addr::LOCALHOST;
    let addr = match (ec2, args.port) {
        (_, Some(port)) => std::net::SocketAddr::from((ip, port)),
        (false, None) => std::net::SocketAddr::from((ip, 12319)),
        (true, None) => std::net::SocketAddr::from(([169, 254, 169, 254], 80)),
    };
    let listener = crate::system::activation::bind(&ListenAddr::Tcp(addr)).await;
    let listener = if ec2 && args.port.is_none() {
        listener.context(
            "listening on 169.254.169.254:80 needs root (run it with sudo) and the address on an \
             interface (sudo ip address add 169.254.169.254/32 dev lo); or give -p PORT",
        )?
    } else {
        listener?
    };
    if ec2 && args.port.is_none() {
        crate::front::exec::drop_privileges(&mut env)?;
    }
    let http = transport::build_client(&args.tls.settings(&env))?;
    let cache = Arc::new(crate::cache::Cache::new(
        clock,
        crate::cache::Policy::default(),
    ));
    let profiles = Arc::new(crate::source::profile::Profiles::new(
        env.clone(),
        http,
        cache,
    ));
    profiles
        .plan(&profile)
        .with_context(|| format!("cannot serve profile {profile}"))?;
    let token = random_token()?;
    let desktop = Arc::new(desktop::Desktop::new(
        profiles,
        profile.clone(),
        token.clone(),
        addr,
    ));
    let mut router = desktop::management(desktop.clone());
    if ec2 {
        let imds = imds::desktop_router(desktop, addr, true)
            .map_err(|_| anyhow::anyhow!("no randomness for IMDS tokens"))?;
        router = router.merge(imds);
        if args.port.is_some() {
            println!("export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://{addr}");
        } else {
            println!("# programs find http://169.254.169.254 by themselves");
        }
    } else {
        router = router.merge(desktop::ecs_credentials(desktop));
        println!("export AWS_CONTAINER_CREDENTIALS_FULL_URI=http://{addr}/credentials");
        println!(
            "export AWS_CONTAINER_AUTHORIZATION_TOKEN={}",
            token.expose()
        );
    }
    eprintln!(
        "needroleshere: serving profile {profile} on http://{addr}; switch profiles and answer MFA prompts at http://{addr}/"
    );
    let front = Front {
        listener,
        router,
        ip_ttl: None,
    };
    http::serve(vec![front], http::Limits::default(), shutdown).await;
    Ok(())
}

async fn credential_process(
    args: &CredentialProcessArgs,
    env: &Environment,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let source = args.identity.resolve(&args.endpoint, env)?;
    let credentials = fetch(&source, clock).await?;
    println!("{}", credentials.to_credential_process_json());
    Ok(())
}

/// Loads and checks the identity, then calls CreateSession.
pub async fn fetch(
    source: &RoleSource,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<crate::credentials::Credentials> {
    let credentials = source
        .source(clock)?
        .fetch_now()
        .await
        .with_context(|| format!("no credentials for role {}", source.session.role_arn))?;
    Ok(credentials)
}

impl RoleSource {
    /// The Roles Anywhere source these flags describe.
    pub fn source(&self, clock: Arc<dyn Clock>) -> anyhow::Result<IdentitySource> {
        let http = transport::build_client(&self.transport)?;
        let client =
            rolesanywhere::Client::new(http, self.endpoint.clone(), self.region.clone(), clock);
        Ok(IdentitySource::new(
            client,
            self.files.clone(),
            self.session.clone(),
            Arc::new(crate::identity::IdentityCache::default()),
        ))
    }
}

async fn check(args: &CheckArgs, env: &Environment, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    use crate::check::{Report, Severity};
    let now = clock.now();
    let (mut report, files, session, region, endpoint) = match &args.name {
        Some(name) => {
            let dir = args.dir.resolve(env)?;
            let path = dir.binding_path(name);
            let mut report = Report::new(format!("binding {name} ({})", path.display()));
            let binding = match crate::binding::Store::new(dir).load(name) {
                Ok(binding) => binding,
                Err(error) => {
                    report.add(Severity::Problem, "binding", format!("{error:#}"));
                    print!("{report}");
                    anyhow::bail!("check found a problem");
                }
            };
            report.add(
                Severity::Ok,
                "binding",
                format!(
                    "mode {}, role {} through profile {}",
                    binding.mode, binding.session.role_arn, binding.session.profile_arn
                ),
            );
            let region = binding
                .region
                .clone()
                .or_else(|| args.endpoint.region.clone())
                .unwrap_or_else(|| binding.session.trust_anchor_arn.region());
            let endpoint = binding
                .endpoint
                .clone()
                .or_else(|| args.endpoint.endpoint.clone());
            (
                report,
                binding.files.clone(),
                binding.session.clone(),
                region,
                endpoint,
            )
        }
        None => {
            let source = args.identity.resolve(&args.endpoint, env).context(
                "give a binding NAME, or --certificate, --private-key and the three ARNs",
            )?;
            let title = format!(
                "identity from {} and {}",
                source
                    .files
                    .certificates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                source.files.private_key.display()
            );
            let endpoint = Some(source.endpoint.to_string());
            (
                Report::new(title),
                source.files,
                source.session,
                source.region,
                endpoint,
            )
        }
    };
    let identity = crate::check::check_identity(&mut report, &files, now);
    if args.remote {
        match identity {
            None => report.add(
                Severity::Warning,
                "remote",
                "not tried: the identity cannot be used",
            ),
            Some(identity) => {
                let url = rolesanywhere::resolve_endpoint(endpoint.as_deref(), env, &region)?;
                let http = transport::build_client(&args.endpoint.tls.settings(env))?;
                let client = rolesanywhere::Client::new(http, url.clone(), region, clock);
                match client.create_session(&identity, &session).await {
                    Ok(credentials) => report.add(
                        Severity::Ok,
                        "remote",
                        format!(
                            "CreateSession at {url} succeeded for {}; credentials expire {}",
                            session.role_arn,
                            credentials
                                .expiration
                                .map(crate::credentials::format_rfc3339)
                                .unwrap_or_else(|| "never".into())
                        ),
                    ),
                    Err(error) => report.add(Severity::Problem, "remote", error.to_string()),
                }
            }
        }
    }
    print!("{report}");
    let problems = report.count(Severity::Problem);
    if problems > 0 {
        anyhow::bail!(
            "check found {problems} problem{}",
            if problems == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

async fn update(args: &UpdateArgs, env: &Environment, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    use crate::aws_files::credentials_file;
    use crate::source::Source as _;
    let path = credentials_file::default_path(env)
        .context("no credentials file: set AWS_SHARED_CREDENTIALS_FILE or HOME")?;
    let identity = args
        .identity
        .resolve(&args.endpoint, env)?
        .source(clock.clone())?;
    let role_arn = identity.session().role_arn.clone();
    let key = identity.key();
    let source: Arc<dyn crate::source::Source> = Arc::new(identity);
    // The cache decides when to refresh and how long to back off after a failure, as it
    // does for every front; this loop only writes what it gets.
    let cache = crate::cache::Cache::new(clock.clone(), crate::cache::Policy::default());
    // SIGTERM or SIGINT ends the refresh loop with status 0, as a stopped service should.
    let mut shutdown = crate::http::shutdown_signal().context("cannot install signal handlers")?;
    let mut first = true;
    let mut failures: u32 = 0;
    let mut written: Option<Arc<crate::credentials::Credentials>> = None;
    loop {
        let result = match cache.get_fresh(&source).await {
            Ok(credentials)
                if written
                    .as_ref()
                    .is_some_and(|w| Arc::ptr_eq(w, &credentials)) =>
            {
                Ok(credentials)
            }
            Ok(credentials) => credentials_file::write_profile(&path, &args.profile, &credentials)
                .map(|()| {
                    eprintln!(
                        "needroleshere: wrote profile [{}] in {}{}",
                        args.profile,
                        path.display(),
                        credentials
                            .expiration
                            .map(|e| format!("; expires {}", crate::credentials::format_rfc3339(e)))
                            .unwrap_or_default()
                    );
                    written = Some(credentials.clone());
                    credentials
                })
                .map_err(|e| (anyhow::Error::new(e), false)),
            Err(error) => {
                let fatal = crate::front::answer::is_fatal_at_start(&error);
                let error = anyhow::Error::new(error)
                    .context(format!("no credentials for role {role_arn}"));
                Err((error, !fatal))
            }
        };
        match result {
            Ok(credentials) => {
                first = false;
                failures = 0;
                if args.once || credentials.expiration.is_none() {
                    return Ok(());
                }
            }
            // A misconfiguration fails at once; later, and for trouble upstream, keep trying
            // (with --once, a few times: a oneshot unit or cron job must end).
            Err((error, transient)) if !transient && (args.once || first) => return Err(error),
            Err((error, _)) if args.once && failures >= ONCE_RETRIES => return Err(error),
            Err((error, _)) => {
                failures = failures.saturating_add(1);
                tracing::warn!(error = %format!("{error:#}"), "credentials not refreshed; retrying");
            }
        }
        // The cache's next attempt: its proactive refresh, or the end of its backoff.
        let at = cache
            .next_attempt(&key)
            .unwrap_or_else(|| clock.now() + std::time::Duration::from_secs(1));
        tokio::select! {
            () = sleep_until(clock.as_ref(), at) => {}
            _ = shutdown.changed() => return Ok(()),
        }
    }
}

/// Retries of a transient failure before `update --once` gives up (after the cache's backoff
/// of about 1 + 2 + 4 s, on top of the CreateSession client's own retries).
const ONCE_RETRIES: u32 = 3;

/// Sleeps until the wall clock reaches `at`, in steps of at most a minute, so time spent
/// suspended (which monotonic timers do not count) still brings the wake-up closer.
async fn sleep_until(clock: &dyn Clock, at: time::OffsetDateTime) {
    loop {
        let left = at - clock.now();
        if left <= time::Duration::ZERO {
            return;
        }
        let step = std::time::Duration::try_from(left)
            .unwrap_or_default()
            .min(std::time::Duration::from_secs(60));
        tokio::time::sleep(step).await;
    }
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
        let Command::CredentialProcess(args) = parse(BASE).unwrap().command else {
            panic!("not credential-process")
        };
        let source = args
            .identity
            .resolve(&args.endpoint, &Environment::default())
            .unwrap();
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
        let Command::CredentialProcess(args) = parse(&args).unwrap().command else {
            panic!("not credential-process")
        };
        let source = args
            .identity
            .resolve(&args.endpoint, &Environment::default())
            .unwrap();
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
