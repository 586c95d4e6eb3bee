//! Keys held by a device — a PKCS#11 token or a TPM — that sign without the key ever
//! leaving it, and where such keys (and certificates) are named.

use std::fmt;
use std::path::{Path, PathBuf};

use super::certificate::PublicKey;
use super::pkcs11::Pkcs11Uri;
use super::{IdentityError, KeyAlgorithm};
use crate::secret::SecretSource;

/// The digest a signature is made over: SHA-256 for AWS4-X509; `sign-string` offers all
/// three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Digest {
    #[default]
    Sha256,
    Sha384,
    Sha512,
}

impl Digest {
    /// The digest of `message`.
    pub fn hash(self, message: &[u8]) -> Vec<u8> {
        use sha2::Digest as _;
        match self {
            Self::Sha256 => sha2::Sha256::digest(message).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(message).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(message).to_vec(),
        }
    }

    /// The DER `DigestInfo` prefix RSASSA-PKCS1-v1_5 puts before the digest (RFC 8017 §9.2).
    pub fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            Self::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            Self::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            Self::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }
}

/// A private key inside a device. The device signs; nothing of the key is ever read.
pub(crate) trait DeviceKey: Send + Sync + fmt::Debug {
    fn algorithm(&self) -> KeyAlgorithm;
    /// The public half, to find the certificate that goes with the key.
    fn public_key(&self) -> &PublicKey;
    /// Where the key is, for messages: a URI (never with a PIN), a path or a handle.
    fn location(&self) -> String;
    /// Signs `message` hashed with `digest`: RSASSA-PKCS1-v1_5, or ECDSA as DER.
    fn sign(&self, message: &[u8], digest: Digest) -> Result<Vec<u8>, IdentityError>;
    /// Facts worth showing in `check` (e.g. "sensitive, never extractable").
    fn facts(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Where a private key or a certificate is: a file (PEM, DER, or a TPM's TSS2 key file), a
/// PKCS#11 object, or a persistent TPM handle.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    File(PathBuf),
    Pkcs11(Box<Pkcs11Uri>),
    /// A persistent TPM object (`handle:0x81000001`).
    TpmHandle(u32),
}

impl Location {
    /// Reads a `--certificate` or `--private-key` argument: a `pkcs11:` URI, a
    /// `handle:0x81…` TPM handle, or a path.
    pub fn parse(text: &std::ffi::OsStr) -> Result<Self, IdentityError> {
        let bad = |reason: String| IdentityError::BadLocation {
            text: text.to_string_lossy().into_owned(),
            reason,
        };
        let Some(utf8) = text.to_str() else {
            return Ok(Self::File(PathBuf::from(text)));
        };
        if utf8.starts_with("pkcs11:") {
            return Pkcs11Uri::parse(utf8)
                .map(|uri| Self::Pkcs11(Box::new(uri)))
                .map_err(|e| bad(e.to_string()));
        }
        if let Some(handle) = utf8.strip_prefix("handle:") {
            let value = match handle.strip_prefix("0x").or(handle.strip_prefix("0X")) {
                Some(hex) => u32::from_str_radix(hex, 16),
                None => handle.parse(),
            }
            .map_err(|_| bad("a TPM handle is a number such as 0x81000001".into()))?;
            if !(0x8100_0000..=0x81ff_ffff).contains(&value) {
                return Err(bad(format!(
                    "{value:#010x} is not a persistent TPM handle (0x81000000 to 0x81ffffff)"
                )));
            }
            return Ok(Self::TpmHandle(value));
        }
        Ok(Self::File(PathBuf::from(utf8)))
    }

    /// The file, when the location is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::File(path) => Some(path),
            Self::Pkcs11(_) | Self::TpmHandle(_) => None,
        }
    }

    /// The form a binding file stores and identities are keyed by: a path exactly as given
    /// (it need not be UTF-8), a URI (with its module and `pin-source`, never a `pin-value`)
    /// or handle as text.
    pub fn to_os_string(&self) -> std::ffi::OsString {
        match self {
            Self::File(path) => path.as_os_str().to_owned(),
            other => other.to_string().into(),
        }
    }
}

impl From<PathBuf> for Location {
    fn from(path: PathBuf) -> Self {
        Self::File(path)
    }
}

impl From<&str> for Location {
    fn from(path: &str) -> Self {
        Self::File(path.into())
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Pkcs11(uri) => write!(f, "{uri}"),
            Self::TpmHandle(handle) => write!(f, "handle:{handle:#010x}"),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// How to reach and unlock keys in devices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceOptions {
    /// The PKCS#11 module (`--pkcs11-lib`); a URI's `module-path` wins, then p11-kit's proxy.
    pub pkcs11_module: Option<PathBuf>,
    /// The token's user PIN, when the URI gives none.
    pub pkcs11_pin: Option<SecretSource>,
    /// Log in again with the same PIN for keys with `CKA_ALWAYS_AUTHENTICATE`.
    pub reuse_pin: bool,
    /// The TPM key's password (its `userAuth`); none means an empty password.
    pub tpm_key_password: Option<SecretSource>,
    /// `$CREDENTIALS_DIRECTORY`, where `credential:NAME` secrets are.
    pub credentials_directory: Option<PathBuf>,
    /// The TSS TCTI that reaches the TPM (`device:/dev/tpmrm0`, `swtpm:host=…,port=…`);
    /// none means the kernel's resource manager. Like `credentials_directory`, it comes from
    /// this process's environment, never from a binding file.
    pub tpm_tcti: Option<String>,
}

/// An ECDSA signature as DER, from the fixed-width `r || s` PKCS#11 and TPMs return.
pub(crate) fn ecdsa_der_from_raw(
    algorithm: KeyAlgorithm,
    raw: &[u8],
) -> Result<Vec<u8>, &'static str> {
    match algorithm {
        KeyAlgorithm::EcdsaP256 => p256::ecdsa::Signature::from_slice(raw)
            .map(|s| s.to_der().as_bytes().to_vec())
            .map_err(|_| "the device returned a malformed P-256 signature"),
        KeyAlgorithm::EcdsaP384 => p384::ecdsa::Signature::from_slice(raw)
            .map(|s| s.to_der().as_bytes().to_vec())
            .map_err(|_| "the device returned a malformed P-384 signature"),
        KeyAlgorithm::Rsa { .. } => Err("not an ECDSA key"),
    }
}

/// The PKCS#1 `RSAPublicKey` DER of a modulus and exponent (big-endian bytes), the form a
/// certificate's public key is compared in.
pub(crate) fn rsa_public_key_der(modulus: &[u8], exponent: &[u8]) -> Vec<u8> {
    fn integer(out: &mut Vec<u8>, bytes: &[u8]) {
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        let bytes = &bytes[start..];
        let pad = bytes.first().is_none_or(|&b| b & 0x80 != 0);
        out.push(0x02);
        length(out, bytes.len() + usize::from(pad));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(bytes);
    }
    fn length(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let start = bytes
                .iter()
                .position(|&b| b != 0)
                .unwrap_or(bytes.len() - 1);
            out.push(0x80 | (bytes.len() - start) as u8);
            out.extend_from_slice(&bytes[start..]);
        }
    }
    let mut body = Vec::with_capacity(modulus.len() + exponent.len() + 16);
    integer(&mut body, modulus);
    integer(&mut body, exponent);
    let mut out = Vec::with_capacity(body.len() + 4);
    out.push(0x30);
    length(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

/// The public key of an RSA modulus and exponent or an EC point, as a device reports them.
pub(crate) fn public_key_from_parts(
    algorithm: KeyAlgorithm,
    rsa: Option<(&[u8], &[u8])>,
    ec_point: Option<&[u8]>,
) -> Option<PublicKey> {
    match algorithm {
        KeyAlgorithm::Rsa { .. } => {
            let (modulus, exponent) = rsa?;
            Some(PublicKey::Rsa(rsa_public_key_der(modulus, exponent)))
        }
        KeyAlgorithm::EcdsaP256 => p256::PublicKey::from_sec1_bytes(ec_point?)
            .ok()
            .map(PublicKey::P256),
        KeyAlgorithm::EcdsaP384 => p384::PublicKey::from_sec1_bytes(ec_point?)
            .ok()
            .map(PublicKey::P384),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        let parse = |t: &str| Location::parse(std::ffi::OsStr::new(t));
        assert_eq!(
            parse("/etc/k.pem").ok(),
            Some(Location::File("/etc/k.pem".into()))
        );
        assert_eq!(
            parse("handle:0x81000001").ok(),
            Some(Location::TpmHandle(0x8100_0001))
        );
        assert_eq!(
            parse("handle:0x81000001")
                .map(|l| l.to_string())
                .ok()
                .as_deref(),
            Some("handle:0x81000001")
        );
        assert!(matches!(parse("pkcs11:object=k"), Ok(Location::Pkcs11(_))));
        for bad in ["handle:0x01000000", "handle:xyz", "pkcs11:nope"] {
            assert!(
                matches!(parse(bad), Err(IdentityError::BadLocation { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn rsa_public_key_der_matches_a_certificates() {
        // 0x00-led modulus gets its sign byte; a short exponent stays short.
        let der = rsa_public_key_der(&[0x00, 0xc0, 0x01], &[0x01, 0x00, 0x01]);
        assert_eq!(
            der,
            [
                0x30, 0x0a, 0x02, 0x03, 0x00, 0xc0, 0x01, 0x02, 0x03, 0x01, 0x00, 0x01
            ]
        );
        let long = rsa_public_key_der(&[0x7f; 256], &[3]);
        assert_eq!(&long[..4], &[0x30, 0x82, 0x01, 0x07]);
    }
}
