//! `needroleshere serve ec2|ecs [-p PORT] [PROFILE]`: the desktop servers, vending an AWS
//! profile's credentials through IMDS or ECS emulation with the management API and page of
//! [`crate::front::desktop`].

use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::args::TlsArgs;
use crate::aws_files::ProfileFiles;
use crate::aws_files::mock_metadata::MockMetadataConfig;
use crate::front::desktop::random_token;
use crate::front::token_file;
use crate::system::activation::ListenAddr;
use crate::system::clock::Clock;
use crate::system::env::Environment;
use crate::system::transport;

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
    /// switching; both need the Authorization token printed at start-up, which is kept
    /// across restarts (see --token-file and --new-token).
    Ecs(DesktopArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DesktopArgs {
    /// Port on 127.0.0.1 (ecs: 12319 by default; ec2: 169.254.169.254:80 without it).
    #[arg(short, long, value_name = "PORT")]
    pub port: Option<u16>,

    /// The profile to start with; AWS_PROFILE overrides it; "default" without either.
    /// With an aws-mock-metadata configuration, its `profile` setting is the default and
    /// AWS_PROFILE is not read.
    #[arg(value_name = "PROFILE")]
    pub profile: Option<String>,

    /// Serve the profiles of an aws-mock-metadata configuration file (its `config` or
    /// `server.conf`) instead of ~/.aws: read by default when ~/.aws-mock-metadata/config
    /// exists. Its [metadata] host and port (default 169.254.169.254:45000) are where ec2
    /// listens without -p; ecs listens on 127.0.0.1 at its port.
    #[arg(long, value_name = "PATH")]
    pub mock_metadata_config: Option<std::path::PathBuf>,

    /// (ecs) Where the Authorization token is kept across restarts [default:
    /// $XDG_RUNTIME_DIR/needroleshere/ecs-token, else ~/.config/needroleshere/ecs-token].
    /// It must be a regular file of yours with mode 0600; it is made so when missing.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<std::path::PathBuf>,

    /// (ecs) Make a new Authorization token instead of reusing the kept one.
    #[arg(long)]
    pub new_token: bool,

    /// Serve every local user. By default only the user running the server (and root)
    /// is answered: other users' connections get 403, since IMDS has no token and the
    /// management API switches the profile everyone gets.
    #[arg(long)]
    pub allow_other_users: bool,

    #[command(flatten)]
    pub tls: TlsArgs,

    /// Log each step to stderr; never logs secrets.
    #[arg(long)]
    pub debug: bool,
}

impl DesktopCommand {
    /// Whether the command asked for debug logging.
    pub(crate) fn debug(&self) -> bool {
        let (Self::Ec2(args) | Self::Ecs(args)) = self;
        args.debug
    }
}

/// The aws-mock-metadata configuration to serve: the flag's, else
/// `~/.aws-mock-metadata/config` when it exists; `None`: the ~/.aws profiles.
fn mock_metadata_config(
    args: &DesktopArgs,
    env: &Environment,
) -> anyhow::Result<Option<MockMetadataConfig>> {
    let path = match &args.mock_metadata_config {
        Some(path) => path.clone(),
        None => match MockMetadataConfig::default_path(env) {
            Some(path) if path.is_file() => {
                eprintln!(
                    "needroleshere: serving the profiles of {} (aws-mock-metadata's configuration)",
                    path.display()
                );
                path
            }
            _ => return Ok(None),
        },
    };
    let config = MockMetadataConfig::load(&path).with_context(|| {
        format!(
            "cannot read the aws-mock-metadata configuration {}",
            path.display()
        )
    })?;
    Ok(Some(config))
}

/// Serves the profile until SIGTERM or SIGINT.
pub(crate) async fn run(
    command: &DesktopCommand,
    env: Environment,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    match command {
        DesktopCommand::Ec2(args) => serve_desktop(true, args, env, clock).await,
        DesktopCommand::Ecs(args) => serve_desktop(false, args, env, clock).await,
    }
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
    let mock_metadata = mock_metadata_config(args, &env)?;
    let profile = match &mock_metadata {
        Some(config) => args
            .profile
            .clone()
            .unwrap_or_else(|| config.initial_profile()),
        None => env.chosen_profile(args.profile.as_deref()),
    };
    let ip = std::net::Ipv4Addr::LOCALHOST;
    let addr = match (ec2, args.port, &mock_metadata) {
        (_, Some(port), _) => std::net::SocketAddr::from((ip, port)),
        (true, None, Some(config)) => config.listen_addr()?,
        (false, None, Some(config)) => std::net::SocketAddr::from((ip, config.port()?)),
        (false, None, None) => std::net::SocketAddr::from((ip, 12319)),
        (true, None, None) => std::net::SocketAddr::from(([169, 254, 169, 254], 80)),
    };
    let listener = crate::system::activation::bind(&ListenAddr::Tcp(addr)).await;
    let listener = if ec2 && args.port.is_none() {
        listener.with_context(|| {
            format!(
                "listening on {addr} needs the address on an interface (sudo ip address add \
                 {}/32 dev lo) and, for a port below 1024, root (run it with sudo); or give -p PORT",
                addr.ip()
            )
        })?
    } else {
        listener?
    };
    if ec2 && args.port.is_none() {
        crate::front::exec::drop_privileges(&mut env)?;
    }
    let http = transport::Clients::build(&args.tls.settings(&env))?;
    let cache = Arc::new(crate::cache::Cache::new(
        clock,
        crate::cache::Policy::default(),
    ));
    let files = match &mock_metadata {
        Some(config) => ProfileFiles::MockMetadata(config.path.clone()),
        None => ProfileFiles::Aws,
    };
    let profiles = Arc::new(crate::front::profiles::Profiles::with_files(
        env.clone(),
        files,
        http,
        cache,
    ));
    profiles
        .plan(&profile)
        .with_context(|| format!("cannot serve profile {profile}"))?;
    let token = if ec2 {
        // IMDS has no bearer token; the management API never asks for this one.
        random_token()?
    } else {
        let path = match &args.token_file {
            Some(path) => path.clone(),
            None => token_file::default_path(&env).ok_or(token_file::TokenFileError::NoPlace)?,
        };
        token_file::load_or_create(&path, args.new_token)?
    };
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
        if addr != std::net::SocketAddr::from(([169, 254, 169, 254], 80)) {
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
        callers: if args.allow_other_users {
            http::Callers::Anyone
        } else {
            // After dropping root privileges: the user who ran it.
            http::Callers::User(nix::unistd::geteuid().as_raw())
        },
        hot: None,
    };
    http::serve(vec![front], http::Limits::default(), shutdown).await;
    Ok(())
}
