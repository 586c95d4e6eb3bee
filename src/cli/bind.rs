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

use super::args::{ConfigDirArgs, DeviceArgs, EndpointArgs, IdentityArgs, parse_binding_name};
use crate::binding::{Binding, BindingName, Mode, render_env};
use crate::identity::{DeviceOptions, IdentityFiles, Location};
use crate::secret::SecretSource;
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
    pub device: DeviceArgs,

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

/// Refuses a PIN or key password given by value: a binding names where the daemon reads it,
/// and never holds it.
fn storable_secrets(files: &IdentityFiles) -> anyhow::Result<()> {
    let by_value = |what: &str, flag: &str| {
        anyhow::anyhow!(
            "a binding never stores the {what}: give {flag} credential:NAME (a systemd \
             credential of the serve unit, e.g. LoadCredentialEncrypted=), file:PATH or \
             env:VARIABLE instead of the value"
        )
    };
    let device = &files.device;
    let locations = || files.certificates.iter().chain([&files.private_key]);
    if locations().any(|l| matches!(l, Location::Pkcs11(uri) if uri.pin_value.is_some())) {
        anyhow::bail!(by_value(
            "PIN",
            "pin-source in the URI or --pkcs11-pin-source"
        ));
    }
    if matches!(files.private_key, Location::Pkcs11(_))
        && matches!(device.pkcs11_pin, Some(SecretSource::Given(_)))
    {
        anyhow::bail!(by_value("PIN", "--pkcs11-pin-source"));
    }
    let tpm = match &files.private_key {
        Location::TpmHandle(_) => true,
        Location::File(path) => crate::identity::is_tpm_key_file(path),
        Location::Pkcs11(_) => false,
    };
    if tpm && matches!(device.tpm_key_password, Some(SecretSource::Given(_))) {
        anyhow::bail!(by_value("TPM key password", "--tpm-key-password-source"));
    }
    Ok(())
}

/// Writes the binding (after validating it unless `--no-validate`).
pub(crate) async fn run(
    args: &BindArgs,
    env: &Environment,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let dir = args.dir.resolve(env)?;
    let source = args.identity.resolve(&args.endpoint, &args.device, env)?;
    if let Some(path) = source.files.private_key.path()
        && crate::identity::key_file_is_encrypted(path)
    {
        anyhow::bail!(
            "{} is encrypted, and `serve` has no password to decrypt it: give an unencrypted \
             key readable only by the serve user",
            path.display()
        );
    }
    storable_secrets(&source.files)?;
    let absolute = |path: &PathBuf| -> anyhow::Result<PathBuf> {
        std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
    };
    let absolute_location = |location: &Location| -> anyhow::Result<Location> {
        Ok(match location {
            Location::File(path) => Location::File(absolute(path)?),
            other => other.clone(),
        })
    };
    let files = IdentityFiles {
        certificates: source
            .files
            .certificates
            .iter()
            .map(absolute_location)
            .collect::<anyhow::Result<_>>()?,
        intermediates: source
            .files
            .intermediates
            .iter()
            .map(absolute)
            .collect::<anyhow::Result<_>>()?,
        private_key: absolute_location(&source.files.private_key)?,
        pkcs8_password: None,
        device: DeviceOptions {
            pkcs11_module: source
                .files
                .device
                .pkcs11_module
                .as_ref()
                .map(absolute)
                .transpose()?,
            credentials_directory: None,
            ..source.files.device.clone()
        },
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
