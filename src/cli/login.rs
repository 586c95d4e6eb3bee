//! `needroleshere login [PROFILE]`: signs a profile in from this terminal, as `aws sso
//! login` does; the work is [`crate::front::login`].

use std::sync::Arc;

use clap::Args;

use super::args::TlsArgs;
use crate::front::profiles::Profiles;
use crate::system::clock::Clock;
use crate::system::env::Environment;
use crate::system::transport;

#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// The profile to sign in; AWS_PROFILE overrides it; "default" without either.
    #[arg(value_name = "PROFILE")]
    pub profile: Option<String>,

    /// Do not open a browser: only print the address and the code.
    #[arg(long)]
    pub no_browser: bool,

    #[command(flatten)]
    pub tls: TlsArgs,

    /// Log each step to stderr; never logs secrets.
    #[arg(long)]
    pub debug: bool,
}

/// Signs the profile in.
pub(crate) async fn run(
    args: &LoginArgs,
    env: Environment,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let profile = env.chosen_profile(args.profile.as_deref());
    let http = transport::Clients::build(&args.tls.settings(&env))?;
    let cache = Arc::new(crate::cache::Cache::new(
        clock,
        crate::cache::Policy::default(),
    ));
    let profiles = Profiles::new(env, http, cache);
    crate::front::login::sign_in(&profiles, &profile, !args.no_browser).await
}
