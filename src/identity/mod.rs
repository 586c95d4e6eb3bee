//! X.509 identities: certificate chains and private keys, read from PEM (or DER) files or
//! held by a device (a PKCS#11 token, a TPM), which signs for us.
//!
//! Contract:
//! * Certificate files may hold several `CERTIFICATE` blocks (a full chain); any text around
//!   the blocks (OpenSSL bag attributes, comments, blank lines) is ignored, and a file with no
//!   PEM block is read as one DER certificate.
//! * Private keys: PKCS#1 `RSA PRIVATE KEY`, SEC1 `EC PRIVATE KEY` (optionally after an
//!   `EC PARAMETERS` block), PKCS#8 `PRIVATE KEY`, and encrypted PKCS#8
//!   `ENCRYPTED PRIVATE KEY` when a password is given. Supported keys: RSA of 2048 to 4096
//!   bits, ECDSA P-256 and P-384.
//! * The leaf is the first certificate whose public key is the private key's; every other
//!   certificate (from the certificate files in order, then the intermediates files) forms
//!   the chain, without duplicates and never the leaf.
//! * A key or certificate may instead be a `pkcs11:` URI ([`pkcs11`]); a key may be a TPM
//!   `TSS2 PRIVATE KEY` file or a persistent handle ([`tpm`]). See [`Location`].
//! * [`Identity::ensure_valid_at`] checks the leaf's validity window; loading checks the rest,
//!   all before any network call.
//!
//! The signing primitive is here too ([`Identity::sign`]): RSASSA-PKCS1-v1_5 with SHA-256
//! through `ring` (constant time), ECDSA with SHA-256 through RustCrypto for both curves —
//! AWS4-X509 asks for a SHA-256 digest even on P-384, which `ring` cannot sign.

use std::fmt;
use std::path::PathBuf;

use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::secret::Secret;

mod cache;
mod certificate;
mod device;
mod key;
pub mod pkcs11;
mod tpm;

pub use cache::IdentityCache;
pub use certificate::Certificate;
use certificate::load_certificates;
pub use device::{DeviceOptions, Digest, Location};
pub use key::{KeyAlgorithm, is_tpm_key_file, key_file_is_encrypted};
use key::{PrivateKey, load_private_key};

const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 4096;

/// Why an identity could not be loaded or used. Every variant names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid PEM: {reason}")]
    Pem { path: PathBuf, reason: String },
    #[error("{path} holds no certificate")]
    NoCertificate { path: PathBuf },
    #[error("certificate #{index} in {path} cannot be parsed: {reason}")]
    BadCertificate {
        path: PathBuf,
        index: usize,
        reason: String,
    },
    #[error("{path} holds no private key (expected an RSA, EC or PKCS#8 PRIVATE KEY block)")]
    NoPrivateKey { path: PathBuf },
    #[error("{path} holds {count} private keys; give a file with exactly one")]
    SeveralPrivateKeys { path: PathBuf, count: usize },
    #[error("the private key in {path} cannot be parsed ({format}): {reason}")]
    BadPrivateKey {
        path: PathBuf,
        format: &'static str,
        reason: String,
    },
    #[error(
        "the private key in {path} is encrypted; give its password with --pkcs8-password \
         (or NEEDROLESHERE_PKCS8_PASSWORD)"
    )]
    PasswordRequired { path: PathBuf },
    #[error("cannot decrypt the private key in {path}: wrong password or unsupported encryption")]
    Decrypt { path: PathBuf },
    #[error(
        "the private key in {path} uses legacy PEM encryption (Proc-Type: 4,ENCRYPTED); \
         convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
    )]
    LegacyEncryption { path: PathBuf },
    #[error(
        "the private key in {path} is {kind}, which is not supported (use RSA 2048-4096, P-256 or P-384)"
    )]
    UnsupportedKey { path: PathBuf, kind: String },
    #[error("the private key in {key} matches none of the certificates in {}", display_list(.certificates))]
    NoMatchingCertificate {
        key: String,
        certificates: Vec<String>,
    },
    #[error(
        "certificate {subject} from {path} is not valid before {} (now {}); check this machine's clock",
        rfc3339(*.not_before),
        rfc3339(*.now)
    )]
    NotYetValid {
        path: PathBuf,
        subject: String,
        not_before: OffsetDateTime,
        now: OffsetDateTime,
    },
    #[error(
        "certificate {subject} from {path} expired at {} (now {})",
        rfc3339(*.not_after),
        rfc3339(*.now)
    )]
    Expired {
        path: PathBuf,
        subject: String,
        not_after: OffsetDateTime,
        now: OffsetDateTime,
    },
    #[error("signing with the key {key} failed")]
    Sign { key: String },
    #[error("{text:?} names no key or certificate: {reason}")]
    BadLocation { text: String, reason: String },
    /// A device key or certificate that cannot be used as configured (no such object, a
    /// wrong PIN, a key that may not sign): retrying will not help.
    #[error("{key}: {reason}")]
    Device { key: String, reason: String },
    /// The device is not there now (token removed, TPM stopped): it may come back.
    #[error("{key}: {reason}")]
    DeviceUnavailable { key: String, reason: String },
    #[error("cannot read the {what} from {source_name}")]
    Secret {
        what: &'static str,
        source_name: String,
        #[source]
        source: crate::secret::SecretSourceError,
    },
}

fn rfc3339(time: OffsetDateTime) -> String {
    crate::credentials::format_rfc3339(time)
}

fn display_list(items: &[impl fmt::Display]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where an identity is read from. It is re-read by [`IdentityFiles::load`] so a renewed
/// certificate or rotated key is picked up without a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityFiles {
    /// Certificate files or token objects; the leaf and any chain certificates may be in any
    /// of them.
    pub certificates: Vec<Location>,
    /// Extra files of intermediate certificates, appended to the chain in order.
    pub intermediates: Vec<PathBuf>,
    pub private_key: Location,
    /// Password of an encrypted PKCS#8 key.
    pub pkcs8_password: Option<Secret>,
    /// How to reach and unlock a key in a token or TPM.
    pub device: DeviceOptions,
}

impl IdentityFiles {
    /// The files whose changes change what [`IdentityFiles::load`] reads; `None` when it also
    /// reads certificates kept in a token, which no file-change notification covers.
    pub fn watched_paths(&self) -> Option<impl Iterator<Item = &std::path::Path>> {
        if self
            .certificates
            .iter()
            .any(|l| matches!(l, Location::Pkcs11(_)))
        {
            return None;
        }
        Some(
            self.certificates
                .iter()
                .chain([&self.private_key])
                .filter_map(Location::path)
                .chain(self.intermediates.iter().map(PathBuf::as_path)),
        )
    }

    /// Reads and parses every file and finds the leaf. Does not check validity dates.
    pub fn load(&self) -> Result<Identity, IdentityError> {
        let key = load_private_key(
            &self.private_key,
            self.pkcs8_password.as_ref(),
            &self.device,
        )?;
        let mut certificates = Vec::new();
        for location in &self.certificates {
            certificates.extend(self.read_certificates(location)?);
        }
        for path in &self.intermediates {
            certificates.extend(load_certificates(path)?);
        }
        let leaf_index = certificates
            .iter()
            .position(|cert| key.matches(&cert.public_key))
            .ok_or_else(|| IdentityError::NoMatchingCertificate {
                key: self.private_key.to_string(),
                certificates: self.certificates.iter().map(ToString::to_string).collect(),
            })?;
        let leaf = certificates.remove(leaf_index);
        let mut chain: Vec<Certificate> = Vec::with_capacity(certificates.len());
        for cert in certificates {
            if cert.der != leaf.der && !chain.iter().any(|c| c.der == cert.der) {
                chain.push(cert);
            }
        }
        let fingerprint = fingerprint(&leaf, &chain);
        Ok(Identity {
            leaf,
            chain,
            key,
            fingerprint,
        })
    }

    /// A digest of every certificate as read now (certificate locations, then intermediate
    /// files, in order), without reading the key: changes whenever a certificate is renewed.
    /// What `credential-process` checks its shared cache against, for less than loading the
    /// identity costs.
    pub fn certificates_digest(&self) -> Result<[u8; 32], IdentityError> {
        let mut hash = Sha256::new();
        let mut add = |certificates: Vec<Certificate>| {
            for cert in certificates {
                hash.update((cert.der.len() as u64).to_be_bytes());
                hash.update(&cert.der);
            }
        };
        for location in &self.certificates {
            add(self.read_certificates(location)?);
        }
        for path in &self.intermediates {
            add(load_certificates(path)?);
        }
        Ok(hash.finalize().into())
    }

    /// The first certificate of the certificate files, without reading the key.
    pub fn first_certificate(&self) -> Result<Certificate, IdentityError> {
        let location = self
            .certificates
            .first()
            .ok_or_else(|| IdentityError::NoCertificate {
                path: PathBuf::new(),
            })?;
        // No certificate at a location is an error in `read_certificates`, so there is one.
        self.read_certificates(location)?
            .into_iter()
            .next()
            .ok_or_else(|| IdentityError::NoCertificate {
                path: location.to_string().into(),
            })
    }

    /// Every certificate at `location`: a file's in file order, or a token's that match.
    pub(crate) fn read_certificates(
        &self,
        location: &Location,
    ) -> Result<Vec<Certificate>, IdentityError> {
        match location {
            Location::File(path) => load_certificates(path),
            Location::Pkcs11(uri) => pkcs11::read_certificates(uri, &self.device),
            Location::TpmHandle(_) => Err(IdentityError::BadLocation {
                text: location.to_string(),
                reason: "a TPM handle holds a key, not a certificate".into(),
            }),
        }
    }
}

/// A leaf certificate, its chain, and the matching private key.
pub struct Identity {
    leaf: Certificate,
    chain: Vec<Certificate>,
    key: PrivateKey,
    /// Hashed once here: every cached credential request compares it.
    fingerprint: [u8; 32],
}

impl Identity {
    /// The certificate whose public key is the private key's.
    pub fn leaf(&self) -> &Certificate {
        &self.leaf
    }
    /// The other certificates, in the order given, never the leaf.
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }
    /// The key's signature algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.key.algorithm()
    }
    /// Fails unless `now` is inside the leaf's validity window.
    pub fn ensure_valid_at(&self, now: OffsetDateTime) -> Result<(), IdentityError> {
        let leaf = &self.leaf;
        if now < leaf.not_before {
            return Err(IdentityError::NotYetValid {
                path: leaf.path.clone(),
                subject: leaf.subject.clone(),
                not_before: leaf.not_before,
                now,
            });
        }
        if now > leaf.not_after {
            return Err(IdentityError::Expired {
                path: leaf.path.clone(),
                subject: leaf.subject.clone(),
                not_after: leaf.not_after,
                now,
            });
        }
        Ok(())
    }

    /// Signs `message` (RSASSA-PKCS1-v1_5 SHA-256 or DER-encoded ECDSA over SHA-256).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, IdentityError> {
        self.key.sign(message, Digest::Sha256)
    }

    /// Signs `message` hashed with `digest` (`sign-string`).
    pub fn sign_with(&self, message: &[u8], digest: Digest) -> Result<Vec<u8>, IdentityError> {
        self.key.sign(message, digest)
    }

    /// Where the key is (a path, a URI, a TPM handle) and facts about it worth showing.
    pub fn key_description(&self) -> (String, Vec<String>) {
        (self.key.location(), self.key.facts())
    }
}

/// A private key on its own, without a certificate (`sign-string`).
pub struct SigningKey(PrivateKey);

impl SigningKey {
    /// Opens the key at `location` (a file, a `pkcs11:` URI, a TPM key file or handle).
    pub fn open(
        location: &Location,
        pkcs8_password: Option<&Secret>,
        device: &DeviceOptions,
    ) -> Result<Self, IdentityError> {
        load_private_key(location, pkcs8_password, device).map(Self)
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        self.0.algorithm()
    }

    /// PKCS#1 `RSAPublicKey` DER for RSA, the uncompressed point for ECDSA.
    pub fn public_key_bytes(&self) -> Vec<u8> {
        self.0.public_key_bytes()
    }

    /// Signs `message` hashed with `digest` (RSASSA-PKCS1-v1_5, or DER-encoded ECDSA).
    pub fn sign(&self, message: &[u8], digest: Digest) -> Result<Vec<u8>, IdentityError> {
        self.0.sign(message, digest)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm())
            .field("location", &self.0.location())
            .finish()
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("leaf", &self.leaf)
            .field("chain", &self.chain)
            .field("algorithm", &self.algorithm())
            .field("private_key", &self.key.location())
            .finish()
    }
}

impl Identity {
    /// SHA-256 over the leaf and chain DER: changes whenever the certificate is renewed.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }
}

fn fingerprint(leaf: &Certificate, chain: &[Certificate]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for cert in std::iter::once(leaf).chain(chain) {
        hash.update((cert.der.len() as u64).to_be_bytes());
        hash.update(&cert.der);
    }
    hash.finalize().into()
}
