//! `needroleshere update`: writes a role's credentials into a profile of the shared
//! credentials file and keeps them fresh; the loop is [`crate::front::update`].

use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;

use super::args::{DeviceArgs, EndpointArgs, IdentityArgs};
use crate::aws_files;
use crate::front::update;
use crate::system::clock::Clock;
use crate::system::env::Environment;

#[derive(Debug, Clone, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub identity: IdentityArgs,

    #[command(flatten)]
    pub device: DeviceArgs,

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

/// Resolves the file, the identity and the profile, then runs the refresh loop until
/// SIGTERM or SIGINT (which end it with status 0, as a stopped service should).
pub(crate) async fn run(
    args: &UpdateArgs,
    env: &Environment,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let path = aws_files::credentials_path(env)
        .context("no credentials file: set AWS_SHARED_CREDENTIALS_FILE or HOME")?;
    let identity = args
        .identity
        .resolve(&args.endpoint, &args.device, env)?
        .source(clock.clone())?;
    let options = update::Options {
        path,
        profile: args.profile.clone(),
        once: args.once,
        subject: format!("role {}", identity.session().role_arn),
    };
    let shutdown = crate::http::shutdown_signal().context("cannot install signal handlers")?;
    update::run(Arc::new(identity), &options, clock, shutdown).await?;
    Ok(())
}
