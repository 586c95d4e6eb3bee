//! `needroleshere serve ec2|ecs [-p PORT] [PROFILE]`: the desktop servers, vending an AWS
//! profile's credentials through IMDS or ECS emulation with the management API and page of
//! [`crate::front::desktop`].

use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::args::TlsArgs;
use crate::front::desktop::random_token;
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

impl DesktopCommand {
    /// Whether the command asked for debug logging.
    pub(crate) fn debug(&self) -> bool {
        let (Self::Ec2(args) | Self::Ecs(args)) = self;
        args.debug
    }
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
    let profile = env.chosen_profile(args.profile.as_deref());
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
    let profiles = Arc::new(crate::front::profiles::Profiles::new(
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
