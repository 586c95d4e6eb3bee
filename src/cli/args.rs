//! The flag groups several commands share, and what they parse into.
//!
//! [`IdentityArgs`] with [`EndpointArgs`] (and its [`TlsArgs`]) resolve once into a
//! [`RoleSource`], the typed description of one Roles Anywhere identity that
//! `credential-process`, `bind`, `update`, `check` and `serve` use; [`ConfigDirArgs`]
//! resolves into a [`ConfigDir`].

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;

use crate::arn::{ProfileArn, Region, RoleArn, RoleSessionName, SessionDuration, TrustAnchorArn};
use crate::aws::rolesanywhere::{self, SessionRequest};
use crate::binding::{BindingName, ConfigDir};
use crate::credentials::Credentials;
use crate::identity::{DeviceOptions, IdentityFiles, Location};
use crate::secret::{Secret, SecretSource};
use crate::source::rolesanywhere::IdentitySource;
use crate::system::clock::Clock;
use crate::system::env::Environment;
use crate::system::transport::{self, TransportSettings};

/// Where bindings live.
#[derive(Debug, Clone, Args)]
pub struct ConfigDirArgs {
    /// Directory holding bindings/, env/ and token/; defaults to $RUNTIME_DIRECTORY.
    #[arg(long, value_name = "DIR")]
    pub configuration_directory: Option<PathBuf>,
}

impl ConfigDirArgs {
    /// The directory these flags or `$RUNTIME_DIRECTORY` name.
    pub(crate) fn resolve(&self, env: &Environment) -> anyhow::Result<ConfigDir> {
        let path = self
            .configuration_directory
            .clone()
            .or_else(|| env.runtime_directory.clone())
            .context(
                "no configuration directory: give --configuration-directory or set RUNTIME_DIRECTORY",
            )?;
        Ok(ConfigDir::new(path))
    }
}

/// Parses a binding name argument (`bind`, `unbind`, `check`, `serve --listen-imds`).
pub(crate) fn parse_binding_name(text: &str) -> Result<BindingName, String> {
    text.parse()
        .map_err(|e: crate::binding::BindingError| e.to_string())
}

/// The certificate, key and role flags shared by every command that signs.
///
/// Clap does not make a flattened group's required flags optional when the group is
/// (`serve` takes these optionally), so the flags are optional here, the group requires all
/// of them once any is given, and [`super::parse`] requires the group where it is not optional.
#[derive(Debug, Clone, Args)]
#[group(
    id = "identity",
    multiple = true,
    requires_all = ["certificate", "private_key", "trust_anchor_arn", "profile_arn", "role_arn"]
)]
pub struct IdentityArgs {
    /// Certificate file (PEM or DER; may hold the full chain), or a pkcs11: URI of
    /// certificates in a token. Repeat for several.
    #[arg(long, value_name = "PATH|URI", value_parser = location_parser())]
    pub certificate: Vec<Location>,

    /// File of intermediate CA certificates, added to the chain after the certificate files.
    #[arg(long, value_name = "PATH")]
    pub intermediates: Vec<PathBuf>,

    /// Private key: a file (PKCS#1, SEC1, PKCS#8, encrypted PKCS#8, or a TPM's TSS2 key
    /// file), a pkcs11: URI, or a persistent TPM handle (handle:0x81000001). RSA, P-256 or
    /// P-384.
    #[arg(long, value_name = "PATH|URI", value_parser = location_parser())]
    pub private_key: Option<Location>,

    /// Password of an encrypted PKCS#8 private key; NEEDROLESHERE_PKCS8_PASSWORD in the
    /// environment is preferred (a flag shows in `ps`).
    // Not clap's `env =`: a value from the environment would make the optional group of
    // these flags count as given (see `serve`).
    #[arg(long, value_name = "PASSWORD", value_parser = parse_secret)]
    pub pkcs8_password: Option<Secret>,

    /// ARN of the trust anchor that issued the certificate.
    #[arg(long, value_name = "ARN")]
    pub trust_anchor_arn: Option<TrustAnchorArn>,

    /// ARN of the Roles Anywhere profile.
    #[arg(long, value_name = "ARN")]
    pub profile_arn: Option<ProfileArn>,

    /// ARN of the role to assume.
    #[arg(long, value_name = "ARN")]
    pub role_arn: Option<RoleArn>,

    /// Lifetime of the credentials in seconds (900 to 43200) [default: 3600].
    // No clap default: it would make an optional group of these flags always present.
    #[arg(long, value_name = "SECONDS", value_parser = parse_duration)]
    pub session_duration: Option<SessionDuration>,

    /// Role session name (2 to 64 characters of letters, digits and +=,.@_-).
    #[arg(long, visible_alias = "session-name", value_name = "NAME")]
    pub role_session_name: Option<RoleSessionName>,
}

/// How to reach and unlock a key in a PKCS#11 token or a TPM. Flattened next to
/// [`IdentityArgs`], not inside it: clap leaves a group with a flattened member empty, which
/// would make `serve`'s optional identity never present.
#[derive(Debug, Clone, Default, Args)]
#[group(skip)]
pub struct DeviceArgs {
    /// PKCS#11 module to load; a URI's module-path wins [default: p11-kit's proxy module].
    #[arg(long, value_name = "PATH")]
    pub pkcs11_lib: Option<PathBuf>,

    /// The token's user PIN. Shows in `ps`: prefer --pkcs11-pin-source or
    /// NEEDROLESHERE_PKCS11_PIN.
    #[arg(long, value_name = "PIN", value_parser = parse_secret)]
    pub pkcs11_pin: Option<Secret>,

    /// Where to read the PIN when it is needed: credential:NAME (a systemd credential,
    /// e.g. LoadCredentialEncrypted=), file:PATH or env:VARIABLE. A binding stores this,
    /// never the PIN.
    #[arg(long, value_name = "SOURCE", value_parser = parse_secret_source, conflicts_with = "pkcs11_pin")]
    pub pkcs11_pin_source: Option<SecretSource>,

    /// Log in again with the same PIN before each signature, for keys that ask for it
    /// (CKA_ALWAYS_AUTHENTICATE).
    #[arg(long)]
    pub reuse_pin: bool,

    /// Password of the TPM key. Shows in `ps`: prefer --tpm-key-password-source or
    /// NEEDROLESHERE_TPM_KEY_PASSWORD.
    #[arg(long, value_name = "PASSWORD", value_parser = parse_secret)]
    pub tpm_key_password: Option<Secret>,

    /// Where to read the TPM key's password: credential:NAME, file:PATH or env:VARIABLE.
    #[arg(long, value_name = "SOURCE", value_parser = parse_secret_source, conflicts_with = "tpm_key_password")]
    pub tpm_key_password_source: Option<SecretSource>,

    /// The TPM key has no password (the default when none is given; accepted for
    /// compatibility with aws_signing_helper).
    #[arg(long, conflicts_with_all = ["tpm_key_password", "tpm_key_password_source"])]
    pub no_tpm_key_password: bool,
}

impl DeviceArgs {
    /// The options these flags and the environment describe. A PIN or password given by
    /// value (flag or environment) is held as such; sources are read when needed.
    pub(crate) fn resolve(&self, env: &Environment) -> DeviceOptions {
        let given = |flag: &Option<Secret>, source: &Option<SecretSource>, var: &Option<Secret>| {
            source
                .clone()
                .or_else(|| flag.clone().map(SecretSource::Given))
                .or_else(|| var.clone().map(SecretSource::Given))
        };
        DeviceOptions {
            pkcs11_module: self.pkcs11_lib.clone(),
            pkcs11_pin: given(&self.pkcs11_pin, &self.pkcs11_pin_source, &env.pkcs11_pin),
            reuse_pin: self.reuse_pin,
            tpm_key_password: if self.no_tpm_key_password {
                None
            } else {
                given(
                    &self.tpm_key_password,
                    &self.tpm_key_password_source,
                    &env.tpm_key_password,
                )
            },
            credentials_directory: env.credentials_directory.clone(),
            tpm_tcti: env.tpm_tcti.clone(),
        }
    }
}

/// `--certificate` and `--private-key`: paths need not be UTF-8, so the parser takes the
/// raw argument.
pub(crate) fn location_parser() -> impl clap::builder::TypedValueParser<Value = Location> {
    use clap::builder::TypedValueParser as _;
    clap::builder::OsStringValueParser::new().try_map(|text| Location::parse(&text))
}

fn parse_secret_source(text: &str) -> Result<SecretSource, String> {
    SecretSource::parse(text).map_err(|e| e.to_string())
}

/// Where CreateSession goes and how it is trusted.
#[derive(Debug, Clone, Args)]
pub struct EndpointArgs {
    /// Region to call. credential-process, bind and update default to the trust anchor's
    /// region; serve uses each binding's, then this, then AWS_REGION, then the trust
    /// anchor's.
    #[arg(long, value_name = "REGION")]
    pub region: Option<Region>,

    /// CreateSession endpoint URL; defaults to AWS_ENDPOINT_URL_ROLESANYWHERE,
    /// AWS_ENDPOINT_URL, then https://rolesanywhere.REGION.amazonaws.com.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,

    #[command(flatten)]
    pub tls: TlsArgs,

    /// Accepted for compatibility with aws_signing_helper; proxies are always taken from
    /// HTTPS_PROXY, HTTP_PROXY and NO_PROXY.
    #[arg(long)]
    pub with_proxy: bool,
}

/// How to trust the CreateSession endpoint.
#[derive(Debug, Clone, Args)]
pub struct TlsArgs {
    /// Extra trust roots (PEM) for the endpoint's TLS certificate; defaults to AWS_CA_BUNDLE.
    #[arg(long, value_name = "PATH")]
    pub ca_bundle: Option<PathBuf>,

    /// Do not verify the endpoint's TLS certificate. Dangerous: for testing only.
    #[arg(long)]
    pub no_verify_ssl: bool,
}

impl TlsArgs {
    /// The transport settings from the environment with these flags applied.
    pub(crate) fn settings(&self, env: &Environment) -> TransportSettings {
        let mut settings = TransportSettings::from_environment(env);
        if let Some(path) = &self.ca_bundle {
            settings.ca_bundle = Some(path.clone());
        }
        settings.verify_tls = !self.no_verify_ssl;
        settings
    }
}

fn parse_secret(text: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(text))
}

fn parse_duration(text: &str) -> Result<SessionDuration, String> {
    let seconds: u64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number of seconds"))?;
    SessionDuration::new(seconds).map_err(|e| e.to_string())
}

/// Everything needed to get credentials for one role through Roles Anywhere.
#[derive(Debug, Clone)]
pub struct RoleSource {
    pub files: IdentityFiles,
    pub session: SessionRequest,
    pub region: Region,
    pub endpoint: url::Url,
    pub transport: TransportSettings,
}

impl IdentityArgs {
    /// Turns the flags and the environment into a [`RoleSource`].
    pub fn resolve(
        &self,
        endpoint: &EndpointArgs,
        device: &DeviceArgs,
        env: &Environment,
    ) -> anyhow::Result<RoleSource> {
        let (Some(_), Some(trust_anchor_arn), Some(profile_arn), Some(role_arn)) = (
            &self.private_key,
            &self.trust_anchor_arn,
            &self.profile_arn,
            &self.role_arn,
        ) else {
            anyhow::bail!("missing {}", self.missing().join(", "));
        };
        let files = self.files(device, env)?;
        let region = match &endpoint.region {
            Some(region) => region.clone(),
            None => trust_anchor_arn.region(),
        };
        let transport = endpoint.tls.settings(env);
        let endpoint = rolesanywhere::resolve_endpoint(endpoint.endpoint.as_deref(), env, &region)?;
        Ok(RoleSource {
            files,
            session: SessionRequest {
                trust_anchor_arn: trust_anchor_arn.clone(),
                profile_arn: profile_arn.clone(),
                role_arn: role_arn.clone(),
                duration: self.session_duration.unwrap_or(SessionDuration::DEFAULT),
                role_session_name: self.role_session_name.clone(),
            },
            region,
            endpoint,
            transport,
        })
    }

    /// The certificate and key alone (what a local check needs).
    pub fn files(&self, device: &DeviceArgs, env: &Environment) -> anyhow::Result<IdentityFiles> {
        let Some(private_key) = &self.private_key else {
            anyhow::bail!("missing --private-key <PATH|URI>");
        };
        if self.certificate.is_empty() {
            anyhow::bail!("missing --certificate <PATH|URI>");
        }
        Ok(IdentityFiles {
            certificates: self.certificate.clone(),
            intermediates: self.intermediates.clone(),
            private_key: private_key.clone(),
            pkcs8_password: self
                .pkcs8_password
                .clone()
                .or_else(|| env.pkcs8_password.clone()),
            device: device.resolve(env),
        })
    }

    /// The required flags that were not given.
    pub(crate) fn missing(&self) -> Vec<&'static str> {
        let given = [
            (!self.certificate.is_empty(), "--certificate <PATH|URI>"),
            (self.private_key.is_some(), "--private-key <PATH|URI>"),
            (self.trust_anchor_arn.is_some(), "--trust-anchor-arn <ARN>"),
            (self.profile_arn.is_some(), "--profile-arn <ARN>"),
            (self.role_arn.is_some(), "--role-arn <ARN>"),
        ];
        given
            .into_iter()
            .filter(|(present, _)| !present)
            .map(|(_, flag)| flag)
            .collect()
    }
}

impl RoleSource {
    /// The key of these credentials: sources and runs that agree on it share them.
    pub(crate) fn key(&self) -> crate::source::Key {
        crate::source::rolesanywhere::identity_key(
            &self.files,
            &self.session,
            &self.region,
            &self.endpoint,
        )
    }

    /// The Roles Anywhere source these flags describe.
    pub(crate) fn source(&self, clock: Arc<dyn Clock>) -> anyhow::Result<IdentitySource> {
        let http = transport::build_client(&self.transport)?;
        let client =
            rolesanywhere::Client::new(http, self.endpoint.clone(), self.region.clone(), clock);
        Ok(IdentitySource::new(
            client,
            self.files.clone(),
            self.session.clone(),
            Arc::new(crate::identity::IdentityCache::default()),
            // Read once: nothing to watch.
            Arc::new(crate::system::watch::Watch::unavailable()),
        ))
    }

    /// Loads and checks the identity, then calls CreateSession (`credential-process`, and
    /// `bind` to validate a binding before writing it).
    pub(crate) async fn fetch(&self, clock: Arc<dyn Clock>) -> anyhow::Result<Credentials> {
        let credentials = self
            .source(clock)?
            .fetch_now()
            .await
            .with_context(|| format!("no credentials for role {}", self.session.role_arn))?;
        Ok(credentials)
    }
}
