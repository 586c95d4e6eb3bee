//! `needroleshere credential-process`: prints a role's credentials as `credential_process`
//! JSON for `~/.aws/config`.
//!
//! Accepts every file-based flag of the existing `needroleshere credential-process` and of
//! the official `aws_signing_helper credential-process`, so either can be swapped for this
//! one.

use std::sync::Arc;

use clap::Args;

use super::args::{DeviceArgs, EndpointArgs, IdentityArgs};
use crate::system::clock::Clock;
use crate::system::env::Environment;

#[derive(Debug, Clone, Args)]
pub struct CredentialProcessArgs {
    #[command(flatten)]
    pub identity: IdentityArgs,

    #[command(flatten)]
    pub device: DeviceArgs,

    #[command(flatten)]
    pub endpoint: EndpointArgs,

    /// Log each step (signing details, endpoint, status) to stderr; never logs secrets.
    #[arg(long)]
    pub debug: bool,
}

/// Resolves the identity, calls CreateSession and prints the JSON on stdout.
pub(crate) async fn run(
    args: &CredentialProcessArgs,
    env: &Environment,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let source = args.identity.resolve(&args.endpoint, &args.device, env)?;
    let credentials = source.fetch(clock).await?;
    println!("{}", credentials.to_credential_process_json());
    Ok(())
}
