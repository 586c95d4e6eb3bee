//! The command line: one file per command, each declaring its flags (clap) and a `run`
//! that turns them into typed values once and calls the library.
//!
//! * `args`: the flag groups several commands share ([`IdentityArgs`], [`EndpointArgs`],
//!   [`TlsArgs`], [`ConfigDirArgs`]) and the [`RoleSource`] they resolve into;
//! * `credential_process`, `bind`, `unbind`, `update`, `check`, `read_certificate_data`,
//!   `exec`, `login`, `serve` (bindings or one identity), `serve_desktop` (`serve ec2|ecs`) and
//!   `status` (every binding, and what a running `serve` holds for it).
//!
//! `credential-process` accepts every file-based flag of the existing `needroleshere
//! credential-process` and of the official `aws_signing_helper credential-process`, so
//! either can be swapped for this one in `~/.aws/config`.

use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::system::clock::{Clock, SystemClock};
use crate::system::env::Environment;
use crate::system::logging::LogFormat;

mod args;
mod bind;
mod check;
mod credential_process;
mod exec;
mod login;
mod read_certificate_data;
mod serve;
mod serve_desktop;
mod sign_string;
mod status;
mod unbind;
mod update;

pub use args::{ConfigDirArgs, EndpointArgs, IdentityArgs, RoleSource, TlsArgs};
pub use bind::BindArgs;
pub use check::CheckArgs;
pub use credential_process::CredentialProcessArgs;
pub use exec::ExecArgs;
pub use login::LoginArgs;
pub use read_certificate_data::ReadCertificateDataArgs;
pub use serve::ServeArgs;
pub use serve_desktop::{DesktopArgs, DesktopCommand};
pub use sign_string::SignStringArgs;
pub use status::StatusArgs;
pub use unbind::UnbindArgs;
pub use update::UpdateArgs;

/// Short-lived AWS credentials from IAM Roles Anywhere.
#[derive(Debug, Parser)]
#[command(name = "needroleshere", version = VERSION, about, max_term_width = 100)]
pub struct Cli {
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// The version and the source revision it was built from (set by build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("NEEDROLESHERE_REVISION"),
    ")"
);

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print credentials for a role as `credential_process` JSON (for ~/.aws/config).
    ///
    /// Signs an IAM Roles Anywhere CreateSession request with the certificate and private
    /// key and prints {"Version":1,"AccessKeyId",...} on stdout. Errors go to stderr with a
    /// non-zero exit status.
    CredentialProcess(CredentialProcessArgs),

    /// Create or replace a role binding served by `serve` (run before the consuming service).
    ///
    /// Writes DIR/bindings/NAME.json (certificate and key paths, the role, a hash of a new
    /// secret) and DIR/env/NAME, an EnvironmentFile= with the AWS_CONTAINER_CREDENTIALS_*
    /// variables and the token. Each run makes a new secret; the old token stops working.
    Bind(BindArgs),

    /// Remove a role binding and its env and token files. Succeeds when already gone.
    Unbind(UnbindArgs),

    /// Write credentials into a profile of the shared credentials file, and keep them fresh.
    ///
    /// Sets aws_access_key_id, aws_secret_access_key and aws_session_token of --profile in
    /// $AWS_SHARED_CREDENTIALS_FILE (else ~/.aws/credentials), leaving everything else in the
    /// file as it was, then refreshes them before they expire until stopped (or once, with
    /// --once).
    Update(UpdateArgs),

    /// Check a binding or an identity locally, and with --remote against IAM Roles Anywhere.
    ///
    /// Reports whether the key matches the certificate, the validity window and days left,
    /// the chain's order and completeness, and the signing algorithm. Exits non-zero when
    /// it finds a problem.
    Check(CheckArgs),

    /// Print the first certificate of a file as the official helper does (JSON with the key
    /// type, the base64 DER and the decimal serial number).
    ReadCertificateData(ReadCertificateDataArgs),

    /// Sign the official helper's fixed test string with a key, to prove it can sign.
    ///
    /// Works with key files, pkcs11: URIs and TPM keys; prints the signature as a JSON
    /// string of hex (--format json, the default), hex (text) or raw bytes (bin), without a
    /// trailing newline, as aws_signing_helper sign-string does.
    SignString(SignStringArgs),

    /// Run a command with an AWS profile's credentials and region in its environment.
    ///
    /// AWS_PROFILE is removed from the command's environment and its value passed as
    /// AWSRUNAS_PROFILE. An MFA code is asked for on the terminal when needed. The exit
    /// status and signals are passed through.
    Exec(ExecArgs),

    /// Sign an AWS profile in to its identity provider from this terminal.
    ///
    /// For IAM Identity Center profiles (sso_session or sso_start_url), as `aws sso login`
    /// does: prints an address and a code on stderr (and opens the address in a browser
    /// when there is a display), waits until the code is approved, and writes the sign-in
    /// to the AWS CLI's cache (~/.aws/sso/cache), where the AWS CLI and every profile of
    /// the session use it. Profiles with web_identity_auth_url (OpenID Connect) or
    /// saml_auth_url (SAML) sign in for this process only, and their credentials are
    /// fetched as a check.
    Login(LoginArgs),

    /// Serve credentials for role bindings over the ECS container credentials protocol.
    ///
    /// Listens on the sockets passed by systemd socket activation, else on --listen.
    /// Notifies systemd when ready (Type=notify) and drains connections on SIGTERM.
    /// SIGHUP is logged and ignored: bindings, certificates and keys are read on each
    /// request, so there is nothing to reload.
    Serve(ServeArgs),

    /// Show every binding, its certificate and, from a running serve, its credentials.
    ///
    /// Lists each binding's mode, role, certificate subject and days left; when serve is
    /// running (asked over its root-only status socket), also its last refresh, its
    /// credentials' expiry and its last error. Exits 1 when something needs attention: an
    /// unreadable binding or certificate, a certificate with less than 14 days left, a failed
    /// last fetch or expired credentials.
    Status(StatusArgs),
}

impl Command {
    /// Whether the command asked for debug logging.
    pub fn debug(&self) -> bool {
        match self {
            Self::CredentialProcess(args) => args.debug,
            Self::Bind(args) => args.debug,
            Self::Unbind(_) | Self::ReadCertificateData(_) | Self::Status(_) => false,
            Self::Check(args) => args.debug,
            Self::Update(args) => args.debug,
            Self::Serve(args) => args.debug || args.desktop.as_ref().is_some_and(|d| d.debug()),
            Self::Exec(args) => args.debug,
            Self::Login(args) => args.debug,
            Self::SignString(args) => args.debug,
        }
    }
}

/// Parses the command line; a usage error exits with status 2 and clap's message.
pub fn parse() -> Cli {
    use clap::{CommandFactory as _, Parser as _};
    let cli = Cli::parse();
    let identity = match &cli.command {
        Command::CredentialProcess(args) => Some((&args.identity, "credential-process")),
        Command::Bind(args) => Some((&args.identity, "bind")),
        Command::Update(args) => Some((&args.identity, "update")),
        Command::Unbind(_)
        | Command::Serve(_)
        | Command::Exec(_)
        | Command::Login(_)
        | Command::Check(_)
        | Command::ReadCertificateData(_)
        | Command::SignString(_)
        | Command::Status(_) => None,
    };
    if let Some((identity, name)) = identity {
        let missing = identity.missing();
        if !missing.is_empty() {
            let mut command = Cli::command();
            command.build();
            let mut target = command.find_subcommand(name).cloned().unwrap_or(command);
            target
                .error(
                    clap::error::ErrorKind::MissingRequiredArgument,
                    format!(
                        "the following required arguments were not provided:\n  {}",
                        missing.join("\n  ")
                    ),
                )
                .exit();
        }
    }
    cli
}

/// Runs a parsed command line; the result is the exit status.
pub async fn run(cli: Cli, env: Environment) -> anyhow::Result<u8> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command {
        Command::Exec(args) => return exec::run(&args, env, clock).await,
        Command::Status(args) => return status::run(&args, &env, clock).await,
        Command::Login(args) => login::run(&args, env, clock).await?,
        Command::CredentialProcess(args) => credential_process::run(&args, &env, clock).await?,
        Command::Bind(args) => bind::run(&args, &env, clock).await?,
        Command::Unbind(args) => unbind::run(&args, &env)?,
        Command::Check(args) => check::run(&args, &env, clock).await?,
        Command::ReadCertificateData(args) => read_certificate_data::run(&args, &env)?,
        Command::SignString(args) => sign_string::run(&args, &env)?,
        Command::Update(args) => update::run(&args, &env, clock).await?,
        Command::Serve(args) => match &args.desktop {
            Some(desktop) => serve_desktop::run(desktop, env, clock).await?,
            None => serve::run(&args, env, clock).await?,
        },
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::arn::SessionDuration;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(["needroleshere"].iter().chain(args))
    }

    const BASE: &[&str] = &[
        "credential-process",
        "--certificate",
        "/c.pem",
        "--private-key",
        "/k.pem",
        "--trust-anchor-arn",
        "arn:aws:rolesanywhere:ap-northeast-1:123456789012:trust-anchor/ta",
        "--profile-arn",
        "arn:aws:rolesanywhere:ap-northeast-1:123456789012:profile/p",
        "--role-arn",
        "arn:aws:iam::123456789012:role/r",
    ];

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_takes_one_identity_with_its_device_flags() {
        let mut args = vec!["serve"];
        args.extend(BASE[1..].iter().copied());
        args.extend(["--pkcs11-lib", "/lib/p11.so", "--port", "1234"]);
        let Command::Serve(serve) = parse(&args).unwrap().command else {
            panic!("not serve")
        };
        assert!(serve.identity.is_some(), "the identity flags are seen");
        assert_eq!(serve.device.pkcs11_lib, Some(PathBuf::from("/lib/p11.so")));
        let Command::Serve(serve) = parse(&["serve"]).unwrap().command else {
            panic!("not serve")
        };
        assert!(
            serve.identity.is_none(),
            "bindings when no identity flag is given"
        );
    }

    #[test]
    fn region_defaults_to_the_trust_anchor() {
        let Command::CredentialProcess(args) = parse(BASE).unwrap().command else {
            panic!("not credential-process")
        };
        let source = args
            .identity
            .resolve(&args.endpoint, &args.device, &Environment::default())
            .unwrap();
        assert_eq!(source.region.as_str(), "ap-northeast-1");
        assert_eq!(
            source.endpoint.as_str(),
            "https://rolesanywhere.ap-northeast-1.amazonaws.com/"
        );
        assert_eq!(source.session.duration, SessionDuration::DEFAULT);
    }

    #[test]
    fn official_helper_flags_are_accepted() {
        let mut args = BASE.to_vec();
        args.extend([
            "--with-proxy",
            "--no-verify-ssl",
            "--debug",
            "--intermediates",
            "/i.pem",
            "--role-session-name",
            "build-1",
            "--session-duration",
            "900",
            "--region",
            "eu-west-1",
            "--endpoint",
            "https://example.test",
        ]);
        let Command::CredentialProcess(args) = parse(&args).unwrap().command else {
            panic!("not credential-process")
        };
        let source = args
            .identity
            .resolve(&args.endpoint, &args.device, &Environment::default())
            .unwrap();
        assert_eq!(source.region.as_str(), "eu-west-1");
        assert!(!source.transport.verify_tls);
        assert_eq!(source.files.intermediates, vec![PathBuf::from("/i.pem")]);
    }

    #[test]
    fn bad_values_are_refused_with_their_reason() {
        let mut args = BASE.to_vec();
        args.extend(["--session-duration", "60"]);
        let err = parse(&args).unwrap_err().to_string();
        assert!(err.contains("900 to 43200"), "{err}");

        let mut args = BASE.to_vec();
        args[10] = "role/r";
        let err = parse(&args).unwrap_err().to_string();
        assert!(err.contains("is not an ARN"), "{err}");
    }
}
