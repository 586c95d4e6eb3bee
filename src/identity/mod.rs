//! X.509 identities: certificate chains and private keys read from PEM (or DER) files.
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
//! * [`Identity::ensure_valid_at`] checks the leaf's validity window; loading checks the rest,
//!   all before any network call.
//!
//! The signing primitive is here too ([`Identity::sign`]): RSASSA-PKCS1-v1_5 with SHA-256
//! through `ring` (constant time), ECDSA with SHA-256 through RustCrypto for both curves —
//! AWS4-X509 asks for a SHA-256 digest even on P-384, which `ring` cannot sign.

use std::fmt;
use std::path::{Path, PathBuf};

use p256::pkcs8::DecodePrivateKey as _;
use pkcs8::der::Decode as _;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer as _, X509Certificate};

use crate::secret::Secret;

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
    #[error("the private key in {key} matches none of the certificates in {}", display_paths(.certificates))]
    NoMatchingCertificate {
        key: PathBuf,
        certificates: Vec<PathBuf>,
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
    #[error("signing with the key from {path} failed")]
    Sign { path: PathBuf },
}

fn rfc3339(time: OffsetDateTime) -> String {
    crate::credentials::format_rfc3339(time)
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The files an identity is read from. They are re-read by [`IdentityFiles::load`] so a
/// renewed certificate or rotated key is picked up without a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityFiles {
    /// Certificate files; the leaf and any chain certificates may be in any of them.
    pub certificates: Vec<PathBuf>,
    /// Extra files of intermediate certificates, appended to the chain in order.
    pub intermediates: Vec<PathBuf>,
    pub private_key: PathBuf,
    /// Password of an encrypted PKCS#8 key.
    pub pkcs8_password: Option<Secret>,
}

impl IdentityFiles {
    /// Reads and parses every file and finds the leaf. Does not check validity dates.
    pub fn load(&self) -> Result<Identity, IdentityError> {
        let key = load_private_key(&self.private_key, self.pkcs8_password.as_ref())?;
        let mut certificates = Vec::new();
        for path in self.certificates.iter().chain(&self.intermediates) {
            certificates.extend(load_certificates(path)?);
        }
        let leaf_index = certificates
            .iter()
            .position(|cert| key.matches(&cert.public_key))
            .ok_or_else(|| IdentityError::NoMatchingCertificate {
                key: self.private_key.clone(),
                certificates: self.certificates.clone(),
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

    /// The first certificate of the certificate files, without reading the key.
    pub fn first_certificate(&self) -> Result<Certificate, IdentityError> {
        let path = self
            .certificates
            .first()
            .ok_or_else(|| IdentityError::NoCertificate {
                path: PathBuf::new(),
            })?;
        // A file with no certificate is an error in `load_certificates`, so there is one.
        load_certificates(path)?
            .into_iter()
            .next()
            .ok_or_else(|| IdentityError::NoCertificate { path: path.clone() })
    }
}

/// A parsed certificate with the few fields the rest of the program needs.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    path: PathBuf,
    serial: String,
    subject: String,
    issuer: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    public_key: PublicKey,
    is_ca: bool,
}

impl Certificate {
    fn parse(der: Vec<u8>, path: &Path, index: usize) -> Result<Self, IdentityError> {
        let bad = |reason: String| IdentityError::BadCertificate {
            path: path.to_owned(),
            index,
            reason,
        };
        let (_, cert) = X509Certificate::from_der(&der).map_err(|e| bad(e.to_string()))?;
        let public_key = PublicKey::from_spki(cert.public_key());
        let is_ca = cert
            .basic_constraints()
            .ok()
            .flatten()
            .is_some_and(|bc| bc.value.ca);
        let cert = Self {
            path: path.to_owned(),
            serial: cert.serial.to_str_radix(10),
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            public_key,
            is_ca,
            der,
        };
        Ok(cert)
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The serial number in decimal, as the AWS4-X509 credential scope wants it.
    pub fn serial(&self) -> &str {
        &self.serial
    }
    /// The subject distinguished name (RFC 4514 form).
    pub fn subject(&self) -> &str {
        &self.subject
    }
    /// The issuer distinguished name (RFC 4514 form).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }
    /// Whether basicConstraints marks it as a CA.
    pub fn is_ca(&self) -> bool {
        self.is_ca
    }
    /// Whether the certificate is self-signed by name (a root).
    pub fn is_self_issued(&self) -> bool {
        self.subject == self.issuer
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject)
            .field("serial", &self.serial)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The public key of a certificate, reduced to what matching a private key needs.
#[derive(Clone, PartialEq, Eq)]
enum PublicKey {
    /// PKCS#1 `RSAPublicKey` DER, as the SPKI bit string holds it.
    Rsa(Vec<u8>),
    P256(p256::PublicKey),
    P384(p384::PublicKey),
    Other,
}

impl PublicKey {
    fn from_spki(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> Self {
        let bits = &spki.subject_public_key.data;
        match spki.algorithm.algorithm.to_id_string().as_str() {
            OID_RSA_ENCRYPTION => Self::Rsa(bits.to_vec()),
            OID_EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|oid| oid.to_id_string());
                match curve.as_deref() {
                    Some(OID_P256) => p256::PublicKey::from_sec1_bytes(bits)
                        .map(Self::P256)
                        .unwrap_or(Self::Other),
                    Some(OID_P384) => p384::PublicKey::from_sec1_bytes(bits)
                        .map(Self::P384)
                        .unwrap_or(Self::Other),
                    _ => Self::Other,
                }
            }
            _ => Self::Other,
        }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rsa(_) => "PublicKey::Rsa",
            Self::P256(_) => "PublicKey::P256",
            Self::P384(_) => "PublicKey::P384",
            Self::Other => "PublicKey::Other",
        })
    }
}

/// A supported private key.
enum PrivateKey {
    Rsa {
        key: RsaKeyPair,
        path: PathBuf,
    },
    P256 {
        key: p256::ecdsa::SigningKey,
        path: PathBuf,
    },
    P384 {
        key: p384::ecdsa::SigningKey,
        path: PathBuf,
    },
}

/// The signature algorithm an identity signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    Rsa { bits: usize },
    EcdsaP256,
    EcdsaP384,
}

impl KeyAlgorithm {
    /// The AWS4-X509 algorithm name for this key.
    pub fn aws4_x509_name(self) -> &'static str {
        match self {
            Self::Rsa { .. } => "AWS4-X509-RSA-SHA256",
            Self::EcdsaP256 | Self::EcdsaP384 => "AWS4-X509-ECDSA-SHA256",
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rsa { bits } => write!(f, "RSA-{bits}"),
            Self::EcdsaP256 => f.write_str("ECDSA P-256"),
            Self::EcdsaP384 => f.write_str("ECDSA P-384"),
        }
    }
}

impl PrivateKey {
    fn algorithm(&self) -> KeyAlgorithm {
        match self {
            Self::Rsa { key, .. } => KeyAlgorithm::Rsa {
                bits: key.public().modulus_len() * 8,
            },
            Self::P256 { .. } => KeyAlgorithm::EcdsaP256,
            Self::P384 { .. } => KeyAlgorithm::EcdsaP384,
        }
    }

    fn path(&self) -> &Path {
        match self {
            Self::Rsa { path, .. } | Self::P256 { path, .. } | Self::P384 { path, .. } => path,
        }
    }

    fn matches(&self, public: &PublicKey) -> bool {
        match (self, public) {
            (Self::Rsa { key, .. }, PublicKey::Rsa(der)) => key.public().as_ref() == der.as_slice(),
            (Self::P256 { key, .. }, PublicKey::P256(pk)) => {
                key.verifying_key().as_affine() == pk.as_affine()
            }
            (Self::P384 { key, .. }, PublicKey::P384(pk)) => {
                key.verifying_key().as_affine() == pk.as_affine()
            }
            _ => false,
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, IdentityError> {
        let failed = || IdentityError::Sign {
            path: self.path().to_owned(),
        };
        match self {
            Self::Rsa { key, .. } => {
                let mut signature = vec![0; key.public().modulus_len()];
                key.sign(
                    &RSA_PKCS1_SHA256,
                    &ring::rand::SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(|_| failed())?;
                Ok(signature)
            }
            Self::P256 { key, .. } => {
                use p256::ecdsa::signature::hazmat::PrehashSigner as _;
                let digest = Sha256::digest(message);
                let signature: p256::ecdsa::Signature =
                    key.sign_prehash(&digest).map_err(|_| failed())?;
                Ok(signature.to_der().as_bytes().to_vec())
            }
            Self::P384 { key, .. } => {
                // AWS4-X509-ECDSA-SHA256 signs a SHA-256 digest whatever the curve; the
                // prehash API takes it as is (left-padded to the field size, per SEC1).
                use p384::ecdsa::signature::hazmat::PrehashSigner as _;
                let digest = Sha256::digest(message);
                let signature: p384::ecdsa::Signature =
                    key.sign_prehash(&digest).map_err(|_| failed())?;
                Ok(signature.to_der().as_bytes().to_vec())
            }
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
        self.key.sign(message)
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("leaf", &self.leaf)
            .field("chain", &self.chain)
            .field("algorithm", &self.algorithm())
            .field("private_key", &self.key.path())
            .finish()
    }
}

/// Whether the key file at `path` is encrypted (PKCS#8 or legacy PEM encryption); `false`
/// when it cannot be read, which loading will report.
pub fn key_file_is_encrypted(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path).map(zeroize::Zeroizing::new) else {
        return false;
    };
    pem::parse_many(&bytes[..]).is_ok_and(|blocks| {
        blocks.iter().any(|b| {
            b.tag() == "ENCRYPTED PRIVATE KEY"
                || b.headers()
                    .get("Proc-Type")
                    .is_some_and(|v| v.contains("ENCRYPTED"))
        })
    })
}

fn read(path: &Path) -> Result<Vec<u8>, IdentityError> {
    let error = |source| IdentityError::Read {
        path: path.to_owned(),
        source,
    };
    // Only regular files: opening a FIFO would block until something writes to it.
    std::fs::metadata(path)
        .and_then(|meta| crate::system::files::regular(&meta))
        .map_err(error)?;
    std::fs::read(path).map_err(error)
}

fn parse_pem(path: &Path, bytes: &[u8]) -> Result<Vec<pem::Pem>, IdentityError> {
    pem::parse_many(bytes).map_err(|e| IdentityError::Pem {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Reads every certificate in `path`, in file order.
fn load_certificates(path: &Path) -> Result<Vec<Certificate>, IdentityError> {
    let bytes = read(path)?;
    let blocks = parse_pem(path, &bytes)?;
    let ders: Vec<Vec<u8>> = if blocks.is_empty() {
        if bytes.first() == Some(&0x30) {
            // No PEM armour: a single DER certificate, as the official helper accepts.
            vec![bytes]
        } else {
            Vec::new()
        }
    } else {
        blocks
            .into_iter()
            .filter(|b| b.tag() == "CERTIFICATE" || b.tag() == "X509 CERTIFICATE")
            .map(pem::Pem::into_contents)
            .collect()
    };
    if ders.is_empty() {
        return Err(IdentityError::NoCertificate {
            path: path.to_owned(),
        });
    }
    ders.into_iter()
        .enumerate()
        .map(|(i, der)| Certificate::parse(der, path, i + 1))
        .collect()
}

/// Reads the one private key in `path`.
fn load_private_key(path: &Path, password: Option<&Secret>) -> Result<PrivateKey, IdentityError> {
    let bytes = zeroize::Zeroizing::new(read(path)?);
    let blocks = parse_pem(path, &bytes)?;
    let ec_parameters = blocks
        .iter()
        .find(|b| b.tag() == "EC PARAMETERS")
        .and_then(|b| pkcs8::ObjectIdentifier::from_der(b.contents()).ok());
    let keys: Vec<&pem::Pem> = blocks
        .iter()
        .filter(|b| b.tag().ends_with("PRIVATE KEY"))
        .collect();
    let block = match keys.as_slice() {
        [] => {
            return Err(IdentityError::NoPrivateKey {
                path: path.to_owned(),
            });
        }
        [one] => *one,
        many => {
            return Err(IdentityError::SeveralPrivateKeys {
                path: path.to_owned(),
                count: many.len(),
            });
        }
    };
    if block
        .headers()
        .get("Proc-Type")
        .is_some_and(|v| v.contains("ENCRYPTED"))
    {
        return Err(IdentityError::LegacyEncryption {
            path: path.to_owned(),
        });
    }
    let der = block.contents();
    match block.tag() {
        "RSA PRIVATE KEY" => rsa_from_pkcs1(path, der),
        "EC PRIVATE KEY" => ec_from_sec1(path, der, ec_parameters),
        "PRIVATE KEY" => from_pkcs8(path, der),
        "ENCRYPTED PRIVATE KEY" => {
            let password = password.ok_or_else(|| IdentityError::PasswordRequired {
                path: path.to_owned(),
            })?;
            let encrypted = pkcs8::EncryptedPrivateKeyInfo::from_der(der).map_err(|e| {
                IdentityError::BadPrivateKey {
                    path: path.to_owned(),
                    format: "encrypted PKCS#8",
                    reason: e.to_string(),
                }
            })?;
            let decrypted =
                encrypted
                    .decrypt(password.expose())
                    .map_err(|_| IdentityError::Decrypt {
                        path: path.to_owned(),
                    })?;
            from_pkcs8(path, decrypted.as_bytes())
        }
        other => Err(IdentityError::UnsupportedKey {
            path: path.to_owned(),
            kind: format!("a `{other}` PEM block"),
        }),
    }
}

fn bad_key(path: &Path, format: &'static str, reason: impl fmt::Display) -> IdentityError {
    IdentityError::BadPrivateKey {
        path: path.to_owned(),
        format,
        reason: reason.to_string(),
    }
}

fn check_rsa(path: &Path, key: RsaKeyPair) -> Result<PrivateKey, IdentityError> {
    let bits = key.public().modulus_len() * 8;
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
        return Err(IdentityError::UnsupportedKey {
            path: path.to_owned(),
            kind: format!("RSA-{bits}"),
        });
    }
    Ok(PrivateKey::Rsa {
        key,
        path: path.to_owned(),
    })
}

/// Bit length of a PKCS#1 `RSAPrivateKey`'s modulus, for a clear error when `ring` refuses
/// a key only because of its size.
fn pkcs1_modulus_bits(der: &[u8]) -> Option<usize> {
    let key = pkcs8::der::asn1::Any::from_der(der).ok()?;
    // RSAPrivateKey ::= SEQUENCE { version, modulus INTEGER, ... }
    let mut reader = pkcs8::der::SliceReader::new(key.value()).ok()?;
    use pkcs8::der::Reader as _;
    let _version: pkcs8::der::asn1::UintRef<'_> = reader.decode().ok()?;
    let modulus: pkcs8::der::asn1::UintRef<'_> = reader.decode().ok()?;
    let bytes = modulus.as_bytes();
    let leading = bytes.first().map_or(0, |b| b.leading_zeros() as usize);
    Some(bytes.len() * 8 - leading)
}

fn rsa_from_pkcs1(path: &Path, der: &[u8]) -> Result<PrivateKey, IdentityError> {
    match RsaKeyPair::from_der(der) {
        Ok(key) => check_rsa(path, key),
        Err(e) => match pkcs1_modulus_bits(der) {
            Some(bits) if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) => {
                Err(IdentityError::UnsupportedKey {
                    path: path.to_owned(),
                    kind: format!("RSA-{bits}"),
                })
            }
            _ => Err(bad_key(path, "PKCS#1", e)),
        },
    }
}

fn ec_from_sec1(
    path: &Path,
    der: &[u8],
    outer_curve: Option<pkcs8::ObjectIdentifier>,
) -> Result<PrivateKey, IdentityError> {
    let parsed = sec1::EcPrivateKey::from_der(der).map_err(|e| bad_key(path, "SEC1", e))?;
    let curve = parsed
        .parameters
        .and_then(|p| p.named_curve())
        .or(outer_curve)
        .map(|oid| oid.to_string());
    // Without named-curve parameters the scalar length is the only hint left.
    let curve = curve.unwrap_or_else(|| match parsed.private_key.len() {
        32 => OID_P256.to_owned(),
        48 => OID_P384.to_owned(),
        _ => String::from("unknown"),
    });
    match curve.as_str() {
        OID_P256 => p256::SecretKey::from_sec1_der(der)
            .map(|k| PrivateKey::P256 {
                key: k.into(),
                path: path.to_owned(),
            })
            .map_err(|e| bad_key(path, "SEC1", e)),
        OID_P384 => p384::SecretKey::from_sec1_der(der)
            .map(|k| PrivateKey::P384 {
                key: k.into(),
                path: path.to_owned(),
            })
            .map_err(|e| bad_key(path, "SEC1", e)),
        other => Err(IdentityError::UnsupportedKey {
            path: path.to_owned(),
            kind: format!("an EC key on curve {}", curve_name(other)),
        }),
    }
}

fn curve_name(oid: &str) -> &str {
    match oid {
        "1.3.132.0.35" => "P-521",
        "1.3.132.0.10" => "secp256k1",
        other => other,
    }
}

fn from_pkcs8(path: &Path, der: &[u8]) -> Result<PrivateKey, IdentityError> {
    let info = pkcs8::PrivateKeyInfo::from_der(der).map_err(|e| bad_key(path, "PKCS#8", e))?;
    match info.algorithm.oid.to_string().as_str() {
        OID_RSA_ENCRYPTION => match RsaKeyPair::from_pkcs8(der) {
            Ok(key) => check_rsa(path, key),
            Err(e) => match pkcs1_modulus_bits(info.private_key) {
                Some(bits) if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) => {
                    Err(IdentityError::UnsupportedKey {
                        path: path.to_owned(),
                        kind: format!("RSA-{bits}"),
                    })
                }
                _ => Err(bad_key(path, "PKCS#8 RSA", e)),
            },
        },
        OID_EC_PUBLIC_KEY => {
            let curve = info
                .algorithm
                .parameters_oid()
                .map(|oid| oid.to_string())
                .unwrap_or_default();
            match curve.as_str() {
                OID_P256 => p256::SecretKey::from_pkcs8_der(der)
                    .map(|k| PrivateKey::P256 {
                        key: k.into(),
                        path: path.to_owned(),
                    })
                    .map_err(|e| bad_key(path, "PKCS#8 EC", e)),
                OID_P384 => p384::SecretKey::from_pkcs8_der(der)
                    .map(|k| PrivateKey::P384 {
                        key: k.into(),
                        path: path.to_owned(),
                    })
                    .map_err(|e| bad_key(path, "PKCS#8 EC", e)),
                other => Err(IdentityError::UnsupportedKey {
                    path: path.to_owned(),
                    kind: format!("an EC key on curve {}", curve_name(other)),
                }),
            }
        }
        "1.3.101.112" => Err(IdentityError::UnsupportedKey {
            path: path.to_owned(),
            kind: "an Ed25519 key".to_owned(),
        }),
        "1.3.101.113" => Err(IdentityError::UnsupportedKey {
            path: path.to_owned(),
            kind: "an Ed448 key".to_owned(),
        }),
        other => Err(IdentityError::UnsupportedKey {
            path: path.to_owned(),
            kind: format!("a key of algorithm {other}"),
        }),
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

/// Parsed identities, re-read only when a file's metadata changes: each use costs one
/// `stat` per file, and a renewed certificate or rotated key is seen at once.
#[derive(Debug, Default)]
pub struct IdentityCache {
    entries: std::sync::Mutex<IdentityMap>,
}

type IdentityMap = std::collections::HashMap<
    Vec<PathBuf>,
    (
        Vec<crate::system::files::FileStamp>,
        std::sync::Arc<Identity>,
    ),
>;

impl IdentityCache {
    /// The identity in `files`, from cache when no file changed.
    pub fn load(&self, files: &IdentityFiles) -> Result<std::sync::Arc<Identity>, IdentityError> {
        let paths: Vec<PathBuf> = files
            .certificates
            .iter()
            .chain(&files.intermediates)
            .chain(std::iter::once(&files.private_key))
            .cloned()
            .collect();
        let stamps = paths
            .iter()
            .map(|path| {
                crate::system::files::FileStamp::read(path).map_err(|source| IdentityError::Read {
                    path: path.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some((cached, identity)) = self.lock().get(&paths)
            && *cached == stamps
        {
            return Ok(identity.clone());
        }
        let identity = std::sync::Arc::new(files.load()?);
        self.lock().insert(paths, (stamps, identity.clone()));
        Ok(identity)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IdentityMap> {
        // Only parsed copies of files live here; a panic elsewhere leaves them valid.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}
