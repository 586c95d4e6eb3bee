//! `needroleshere bind NAME`: creates or replaces a role binding that `serve` serves.
//!
//! Resolves the flags, checks everything that needs no network, optionally validates the
//! identity with CreateSession, then has [`ConfigDir::install`] write the files.
//!
//! [`ConfigDir::install`]: crate::binding::ConfigDir::install

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;

use super::args::{ConfigDirArgs, EndpointArgs, IdentityArgs, parse_binding_name};
use crate::binding::{Binding, BindingName, Mode, render_env};
use crate::identity::IdentityFiles;
use crate::system::clock::Clock;
use crate::system::env::Environment;

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

    /// Base URL of `serve` for the full-URI modes, e.g. http://127.0.0.1:7224 (the ECS
    /// listener); for imds mode, the binding's IMDS listener, e.g. http://169.254.169.254.
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

/// Writes the binding (after validating it unless `--no-validate`).
pub(crate) async fn run(
    args: &BindArgs,
    env: &Environment,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
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
        source
            .fetch(clock)
            .await
            .context("validation failed (use --no-validate to skip it); nothing was written")?;
    }
    dir.install(&binding, &env_text, args.token_file.then_some(&token))?;
    eprintln!(
        "needroleshere: bound {name} ({}); EnvironmentFile={}",
        args.mode,
        dir.env_path(name).display()
    );
    Ok(())
}
