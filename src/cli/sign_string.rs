//! `needroleshere sign-string`: signs the official helper's fixed test string with a key, to
//! prove the key (in a file, a token or a TPM) can sign — output byte for byte as the
//! official helper's.
//!
//! The string is `"AWS Roles Anywhere Credential Helper Signing Test"`, the test version
//! (`1`), then the raw SHA-256 of `"IAM RA"` followed by the public key (PKCS#1
//! `RSAPublicKey` DER for RSA, the uncompressed point for ECDSA). The signature is
//! RSASSA-PKCS1-v1_5 or DER-encoded ECDSA over the chosen digest, printed as a JSON string of
//! hex (the default), plain hex, or raw bytes — with no trailing newline, as the official
//! helper prints it.

use std::io::Write as _;

use clap::{Args, ValueEnum};
use sha2::{Digest as _, Sha256};

use super::args::DeviceArgs;
use crate::identity::{Digest, Location, SigningKey};
use crate::secret::Secret;
use crate::system::env::Environment;

/// The version of the test string, as the official helper numbers it.
const TEST_VERSION: u16 = 1;

#[derive(Debug, Clone, Args)]
pub struct SignStringArgs {
    /// The key: a file, a pkcs11: URI, a TPM key file or handle:0x81….
    #[arg(long, value_name = "PATH|URI", value_parser = super::args::location_parser())]
    pub private_key: Location,

    /// Accepted for compatibility with aws_signing_helper; the key alone is used.
    #[arg(long, value_name = "PATH|URI", value_parser = super::args::location_parser())]
    pub certificate: Option<Location>,

    /// Password of an encrypted PKCS#8 key; NEEDROLESHERE_PKCS8_PASSWORD is preferred.
    #[arg(long, value_name = "PASSWORD", value_parser = |s: &str| Ok::<_, std::convert::Infallible>(Secret::new(s)))]
    pub pkcs8_password: Option<Secret>,

    #[command(flatten)]
    pub device: DeviceArgs,

    /// The digest to sign.
    #[arg(long, value_enum, default_value = "SHA256", ignore_case = true)]
    pub digest: DigestArg,

    /// How to print the signature: a JSON string of hex, hex, or raw bytes.
    #[arg(long, value_enum, default_value = "json", ignore_case = true)]
    pub format: Format,

    /// Accepted for compatibility; nothing secret is ever printed.
    #[arg(long)]
    pub debug: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DigestArg {
    #[value(name = "SHA256")]
    Sha256,
    #[value(name = "SHA384")]
    Sha384,
    #[value(name = "SHA512")]
    Sha512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Text,
    Bin,
}

/// The fixed string the official helper signs for `key`'s public half.
pub(crate) fn test_string(public_key: &[u8]) -> Vec<u8> {
    let mut suffix = Sha256::new();
    suffix.update(b"IAM RA");
    suffix.update(public_key);
    let mut text = b"AWS Roles Anywhere Credential Helper Signing Test".to_vec();
    text.extend(TEST_VERSION.to_string().as_bytes());
    text.extend(suffix.finalize());
    text
}

/// Opens the key, signs the test string and prints the signature.
pub(crate) fn run(args: &SignStringArgs, env: &Environment) -> anyhow::Result<()> {
    let password = args
        .pkcs8_password
        .clone()
        .or_else(|| env.pkcs8_password.clone());
    let key = SigningKey::open(
        &args.private_key,
        password.as_ref(),
        &args.device.resolve(env),
    )?;
    let digest = match args.digest {
        DigestArg::Sha256 => Digest::Sha256,
        DigestArg::Sha384 => Digest::Sha384,
        DigestArg::Sha512 => Digest::Sha512,
    };
    let signature = key.sign(&test_string(&key.public_key_bytes()), digest)?;
    let out = match args.format {
        Format::Text => hex::encode(&signature).into_bytes(),
        Format::Json => serde_json::to_vec(&hex::encode(&signature))?,
        Format::Bin => signature,
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&out)?;
    stdout.flush()?;
    Ok(())
}
