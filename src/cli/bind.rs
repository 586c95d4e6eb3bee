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

    /// Write the token to DIR/token/NAME (for the consumer's LoadCredential=, read through
    /// AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE) instead of into the env file, which then holds
    /// only the URI and no secret.
    #[arg(long)]
    pub token_file: bool,

    /// Serve the binding only to connections made by this user (a uid or a user name);
    /// repeat it, or separate several by commas or spaces, for more. Root is not implied.
    /// An empty value adds nobody (for unit templates).
    #[arg(long = "allow-uid", value_name = "UID|USER", value_parser = parse_users)]
    pub allow_uid: Vec<Users>,

    #[command(flatten)]
    pub dir: ConfigDirArgs,

    /// Log each step to stderr; never logs secrets.
    #[arg(long)]
    pub debug: bool,
}

/// The uids of one `--allow-uid` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Users(pub Vec<u32>);

/// `UID`, `USER`, or several of them separated by commas or spaces; empty: nobody.
fn parse_users(text: &str) -> Result<Users, String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|word| !word.is_empty())
        .map(parse_user)
        .collect::<Result<_, _>>()
        .map(Users)
}

/// A uid, or the name of a user this system knows.
fn parse_user(word: &str) -> Result<u32, String> {
    if word.bytes().all(|b| b.is_ascii_digit()) {
        return word
            .parse()
            .map_err(|_| format!("uid {word} is out of range (0 to 4294967295)"));
    }
    match nix::unistd::User::from_name(word) {
        Ok(Some(user)) => Ok(user.uid.as_raw()),
        Ok(None) => Err(format!(
            "no user {word:?} on this system (give its uid, or create the user before binding)"
        )),
        Err(error) => Err(format!("cannot look up user {word:?}: {error}")),
    }
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
    let allowed_uids: Vec<u32> = args.allow_uid.iter().flat_map(|u| u.0.clone()).collect();
    if !allowed_uids.is_empty() && !args.mode.uses_token() {
        anyhow::bail!(
            "--allow-uid pins a binding's token to users; an {} binding has no token (its \
             IMDS listener decides who is served: restrict who can reach that socket)",
            args.mode
        );
    }
    let (binding, token) = Binding::create(
        args.name.clone(),
        args.mode,
        files,
        source.session.clone(),
        args.endpoint.region.clone(),
        args.endpoint.endpoint.clone(),
    )?;
    let binding = binding.pinned_to(allowed_uids);
    let name = &args.name;
    // Everything that does not need the network is checked before calling it.
    let env_text = render_env(args.mode, args.url.as_ref(), &token, args.token_file)?;
    if !args.no_validate {
        source
            .fetch(clock)
            .await
            .context("validation failed (use --no-validate to skip it); nothing was written")?;
    }
    dir.install(&binding, &env_text, args.token_file.then_some(&token))?;
    let pinned = if binding.is_pinned() {
        format!(", served only to {}", describe_uids(&binding.allowed_uids))
    } else {
        String::new()
    };
    if args.token_file {
        eprintln!(
            "needroleshere: bound {name} ({}{pinned}); EnvironmentFile={} (no secret), \
             LoadCredential=aws-token:{} with Environment=AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=%d/aws-token",
            args.mode,
            dir.env_path(name).display(),
            dir.token_path(name).display()
        );
    } else {
        eprintln!(
            "needroleshere: bound {name} ({}{pinned}); EnvironmentFile={}",
            args.mode,
            dir.env_path(name).display()
        );
    }
    Ok(())
}

/// `uid 1001 (myapp), uid 0 (root)`: the uids, with their names where this system knows them.
pub(crate) fn describe_uids(uids: &[u32]) -> String {
    uids.iter()
        .map(|&uid| match nix::unistd::User::from_uid(uid.into()) {
            Ok(Some(user)) => format!("uid {uid} ({})", user.name),
            _ => format!("uid {uid}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_uids_names_or_lists_of_them() {
        assert_eq!(parse_users("1001"), Ok(Users(vec![1001])));
        assert_eq!(parse_users("root"), Ok(Users(vec![0])));
        assert_eq!(parse_users("0, 1001 root"), Ok(Users(vec![0, 1001, 0])));
        assert_eq!(parse_users(""), Ok(Users(vec![])));
        assert_eq!(parse_users(" , "), Ok(Users(vec![])));
        let err = parse_users("4294967296").unwrap_err();
        assert!(err.contains("out of range"), "{err}");
        let err = parse_users("root,no-such-user-here").unwrap_err();
        assert!(err.contains("no user \"no-such-user-here\""), "{err}");
        assert_eq!(describe_uids(&[0]), "uid 0 (root)");
    }
}
