//! `needroleshere serve`: the daemon. Serves role bindings over the ECS container
//! credentials protocol (and IMDS for sockets named `imds-NAME` or `--listen-imds`), or one
//! identity over IMDSv2 as `aws_signing_helper serve` does. The desktop subcommands
//! (`serve ec2|ecs PROFILE`) are in [`super::serve_desktop`].

use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;

use super::args::{ConfigDirArgs, DeviceArgs, EndpointArgs, IdentityArgs, parse_binding_name};
use super::serve_desktop::DesktopCommand;
use crate::binding::{Binding, BindingName, Mode};
use crate::system::activation::ListenAddr;
use crate::system::clock::Clock;
use crate::system::env::Environment;
use crate::system::transport;

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

    /// With the identity flags: how to reach its key in a token or TPM.
    #[command(flatten)]
    pub device: DeviceArgs,

    /// Address to listen on when not socket-activated: IP:PORT or unix:/path. Repeatable.
    /// Serves the ECS endpoint for bindings, or IMDS for the identity given by flags.
    #[arg(long, value_name = "ADDR")]
    pub listen: Vec<ListenAddr>,

    /// IMDS endpoint for binding NAME (in imds mode): ADDR=NAME. Repeatable. A socket passed
    /// by systemd with FileDescriptorName=imds-NAME does the same.
    #[arg(long, value_name = "ADDR=NAME", value_parser = parse_imds_listen, conflicts_with = "identity")]
    pub listen_imds: Vec<(ListenAddr, BindingName)>,

    /// Serve Prometheus metrics (GET /metrics) on ADDR (IP:PORT or unix:/path), a listener of
    /// their own. A socket passed by systemd with FileDescriptorName=metrics does the same.
    #[arg(long, value_name = "ADDR")]
    pub listen_metrics: Vec<ListenAddr>,

    /// Answer `needroleshere status` (GET /status) on the Unix socket PATH, made mode 0600.
    /// A Unix socket passed by systemd with FileDescriptorName=status does the same.
    #[arg(long, value_name = "unix:PATH", value_parser = parse_status_listen, conflicts_with = "identity")]
    pub listen_status: Vec<ListenAddr>,

    /// How often the bindings' certificates are checked for expiry (warnings at 30, 14, 7
    /// and 1 day left).
    #[arg(long, value_name = "SECONDS", default_value_t = 3600, hide = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub certificate_check_interval: u64,

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

fn parse_status_listen(text: &str) -> Result<ListenAddr, String> {
    match text.parse()? {
        ListenAddr::Unix(path) => Ok(ListenAddr::Unix(path)),
        ListenAddr::Tcp(_) => Err(format!(
            "{text:?}: the status socket must be a Unix socket (unix:/path), so only local \
             root can ask"
        )),
    }
}

fn parse_imds_listen(text: &str) -> Result<(ListenAddr, BindingName), String> {
    let (addr, name) = text
        .rsplit_once('=')
        .ok_or_else(|| format!("{text:?} is not ADDR=NAME (e.g. 169.254.169.254:80=web)"))?;
    Ok((addr.parse()?, parse_binding_name(name)?))
}

/// Serves until SIGTERM or SIGINT, then drains connections.
pub(crate) async fn run(
    args: &ServeArgs,
    env: Environment,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    use crate::front::{ecs, imds, metrics as metrics_front, status as status_front, vend};
    use crate::http::{self, Front};
    use crate::metrics::Front as Counted;
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
        let state = Arc::new(imds::ImdsState::new(
            vendor.clock().clone(),
            tokens.clone(),
            target,
            options,
        ));
        Front {
            listener,
            // Every request is the hot path's (HTTP/1.0 aside, which `http` refuses).
            router: axum::Router::new(),
            ip_ttl: Some(args.hop_limit),
            callers: http::Callers::Anyone,
            hot: Some(http::Hot {
                path: state,
                counted: Some(Counted::Imds),
            }),
        }
    };

    let mut fronts = Vec::new();
    // Sockets named `metrics` and `status` are not credential listeners: set apart first.
    let (mut side, inherited): (Vec<_>, Vec<_>) = activation::inherited(&env)?
        .into_iter()
        .partition(|l| matches!(l.name.as_deref(), Some("metrics" | "status")));
    let mut metrics_listeners = Vec::new();
    let mut status_listeners = Vec::new();
    for listener in side.drain(..) {
        if listener.name.as_deref() == Some("status") {
            if !matches!(listener.listener, Listener::Unix(_)) {
                anyhow::bail!(
                    "the socket named status ({}) must be a Unix socket (ListenStream=/path), \
                     so only local root can ask",
                    listener.describe()
                );
            }
            status_listeners.push(listener);
        } else {
            metrics_listeners.push(listener);
        }
    }
    for addr in &args.listen_metrics {
        metrics_listeners.push(activation::bind(addr).await?);
    }
    for addr in &args.listen_status {
        let listener = activation::bind(addr).await?;
        if let ListenAddr::Unix(path) = addr {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot make {} mode 0600", path.display()))?;
        }
        status_listeners.push(listener);
    }
    let mut survey = None;
    let status = if let Some(identity) = &args.identity {
        // The `aws_signing_helper serve` way: one identity, IMDSv2, no binding files.
        let source = identity.resolve(&args.endpoint, &args.device, &env)?;
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
        let ecs_state = Arc::new(ecs::EcsState::new(store.clone(), vendor.clone()));
        let ecs_router = metrics_front::counted(ecs::router(ecs_state.clone()), Counted::Ecs);
        let ecs_hot = http::Hot {
            path: ecs_state,
            counted: Some(Counted::Ecs),
        };
        survey = Some(Arc::new(crate::status::Survey::new(
            store.clone(),
            Some(vendor.clone()),
            vendor.clock().clone(),
        )));
        let ecs_front = |listener| Front {
            listener,
            router: ecs_router.clone(),
            ip_ttl: None,
            callers: http::Callers::Anyone,
            hot: Some(ecs_hot.clone()),
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
        match store.check() {
            Ok(()) => format!("serving bindings from {}", dir.path().display()),
            Err(error) => {
                // Keep running (a restart loop would not fix it), say so where it is seen.
                let error = crate::system::logging::error_chain(&error);
                tracing::error!(%error, "bindings will not be served until this is fixed");
                format!("NOT serving bindings: {error}")
            }
        }
    };
    if !status_listeners.is_empty() && survey.is_none() {
        anyhow::bail!("a status socket serves bindings' status: it cannot go with one identity");
    }
    if let Some(survey) = &survey {
        for listener in status_listeners {
            fronts.push(Front {
                listener,
                router: status_front::router(survey.clone()),
                ip_ttl: None,
                callers: http::Callers::Anyone,
                hot: None,
            });
        }
        spawn_expiry_checks(
            survey.clone(),
            std::time::Duration::from_secs(args.certificate_check_interval),
        );
    }
    for listener in metrics_listeners {
        fronts.push(Front {
            listener,
            router: metrics_front::router(survey.clone()),
            ip_ttl: None,
            callers: http::Callers::Anyone,
            hot: None,
        });
    }
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

/// Checks the bindings' certificates for expiry now and every `interval`, warning once per
/// threshold per certificate ([`crate::status::ExpiryWarnings`]); never per request.
fn spawn_expiry_checks(survey: Arc<crate::status::Survey>, interval: std::time::Duration) {
    let warnings = Arc::new(crate::status::ExpiryWarnings::default());
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let (survey, warnings) = (survey.clone(), warnings.clone());
            // Reads binding and certificate files: off the async threads.
            let _ = tokio::task::spawn_blocking(move || {
                let report = survey.report();
                warnings.check(&report, survey.now());
            })
            .await;
        }
    });
}
