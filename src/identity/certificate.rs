//! Certificates: reading a file of PEM blocks (or one DER certificate) and the few fields
//! the rest of the program needs.

use std::fmt;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::{IdentityError, OID_EC_PUBLIC_KEY, OID_P256, OID_P384, OID_RSA_ENCRYPTION};

/// A parsed certificate with the few fields the rest of the program needs.
#[derive(Clone)]
pub struct Certificate {
    pub(super) der: Vec<u8>,
    pub(super) path: PathBuf,
    pub(super) serial: String,
    pub(super) subject: String,
    pub(super) issuer: String,
    pub(super) not_before: OffsetDateTime,
    pub(super) not_after: OffsetDateTime,
    pub(super) public_key: PublicKey,
    pub(super) is_ca: bool,
}

impl Certificate {
    pub(super) fn parse(der: Vec<u8>, path: &Path, index: usize) -> Result<Self, IdentityError> {
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
pub(super) enum PublicKey {
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

pub(super) fn read(path: &Path) -> Result<Vec<u8>, IdentityError> {
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

pub(super) fn parse_pem(path: &Path, bytes: &[u8]) -> Result<Vec<pem::Pem>, IdentityError> {
    pem::parse_many(bytes).map_err(|e| IdentityError::Pem {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Reads every certificate in `path`, in file order.
pub(super) fn load_certificates(path: &Path) -> Result<Vec<Certificate>, IdentityError> {
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
