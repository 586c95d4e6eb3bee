//! `needroleshere exec [PROFILE] -- COMMAND…`: runs a command with a profile's credentials;
//! the work is [`crate::front::exec`].

use std::sync::Arc;

use clap::Args;

use super::args::TlsArgs;
use crate::aws::mfa::MfaCode;
use crate::front::exec::{self, Delivery, ExecOptions};
use crate::system::clock::Clock;
use crate::system::env::Environment;

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

impl ExecArgs {
    /// The typed options these flags and the environment describe.
    fn options(&self, env: &Environment) -> anyhow::Result<ExecOptions> {
        let Some((program, arguments)) = self.command.split_first() else {
            anyhow::bail!("no command to run");
        };
        let delivery = match (self.ecs, self.imds) {
            (true, _) => Delivery::Ecs,
            (false, true) => Delivery::Imds,
            (false, false) => Delivery::Environment,
        };
        Ok(ExecOptions {
            program: program.clone(),
            arguments: arguments.to_vec(),
            delivery,
            profile: env.chosen_profile(self.profile.as_deref()),
            mfa_code: self.mfa_code.as_deref().map(MfaCode::parse).transpose()?,
            transport: self.tls.settings(env),
        })
    }
}

/// Runs the command; the result is its exit status.
pub(crate) async fn run(
    args: &ExecArgs,
    env: Environment,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<u8> {
    let options = args.options(&env)?;
    exec::run(options, env, clock).await
}
