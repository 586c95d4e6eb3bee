//! Private keys: PKCS#1, SEC1 and PKCS#8 (encrypted too), RSA 2048–4096 and ECDSA P-256 and
//! P-384, keys in devices, and the signing primitive.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use p256::pkcs8::DecodePrivateKey as _;
use pkcs8::der::Decode as _;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA256, RSA_PKCS1_SHA384,
    RSA_PKCS1_SHA512, RsaKeyPair,
};

use super::certificate::{PublicKey, parse_pem, read};
use super::device::{DeviceKey, DeviceOptions, Digest, Location};
use super::{
    IdentityError, OID_EC_PUBLIC_KEY, OID_P256, OID_P384, OID_RSA_ENCRYPTION, RSA_MAX_BITS,
    RSA_MIN_BITS,
};
use crate::secret::Secret;

/// A supported private key.
pub(super) enum PrivateKey {
    Rsa {
        key: RsaKeyPair,
        path: PathBuf,
    },
    P256 {
        key: p256::ecdsa::SigningKey,
        /// The same key for ring, which signs P-256/SHA-256 (every AWS4-X509 request) about
        /// 7 times faster than the RustCrypto crate; `None` if ring refused the key, which
        /// then signs through `key` as before.
        ring: Option<EcdsaKeyPair>,
        path: PathBuf,
    },
    P384 {
        key: p384::ecdsa::SigningKey,
        path: PathBuf,
    },
    /// A key in a PKCS#11 token or a TPM.
    Device(Arc<dyn DeviceKey>),
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
    pub(super) fn algorithm(&self) -> KeyAlgorithm {
        match self {
            Self::Rsa { key, .. } => KeyAlgorithm::Rsa {
                bits: key.public().modulus_len() * 8,
            },
            Self::P256 { .. } => KeyAlgorithm::EcdsaP256,
            Self::P384 { .. } => KeyAlgorithm::EcdsaP384,
            Self::Device(key) => key.algorithm(),
        }
    }

    /// Where the key is: its file, URI or TPM handle.
    pub(super) fn location(&self) -> String {
        match self {
            Self::Rsa { path, .. } | Self::P256 { path, .. } | Self::P384 { path, .. } => {
                path.display().to_string()
            }
            Self::Device(key) => key.location(),
        }
    }

    pub(super) fn facts(&self) -> Vec<String> {
        match self {
            Self::Device(key) => key.facts(),
            _ => Vec::new(),
        }
    }

    pub(super) fn matches(&self, public: &PublicKey) -> bool {
        match (self, public) {
            (Self::Rsa { key, .. }, PublicKey::Rsa(der)) => key.public().as_ref() == der.as_slice(),
            (Self::P256 { key, .. }, PublicKey::P256(pk)) => {
                key.verifying_key().as_affine() == pk.as_affine()
            }
            (Self::P384 { key, .. }, PublicKey::P384(pk)) => {
                key.verifying_key().as_affine() == pk.as_affine()
            }
            (Self::Device(key), public) => key.public_key() == public,
            _ => false,
        }
    }

    /// The public half: PKCS#1 `RSAPublicKey` DER for RSA, the uncompressed SEC1 point for
    /// ECDSA (the forms `sign-string`'s test string hashes).
    pub(super) fn public_key_bytes(&self) -> Vec<u8> {
        let public = match self {
            Self::Rsa { key, .. } => return key.public().as_ref().to_vec(),
            Self::P256 { key, .. } => PublicKey::P256(p256::PublicKey::from(key.verifying_key())),
            Self::P384 { key, .. } => PublicKey::P384(p384::PublicKey::from(key.verifying_key())),
            Self::Device(key) => key.public_key().clone(),
        };
        match public {
            PublicKey::Rsa(der) => der,
            PublicKey::P256(key) => {
                use p256::elliptic_curve::sec1::ToEncodedPoint as _;
                key.to_encoded_point(false).as_bytes().to_vec()
            }
            PublicKey::P384(key) => {
                use p384::elliptic_curve::sec1::ToEncodedPoint as _;
                key.to_encoded_point(false).as_bytes().to_vec()
            }
            PublicKey::Other => Vec::new(),
        }
    }

    /// Signs `message` hashed with `digest`: RSASSA-PKCS1-v1_5, or DER-encoded ECDSA.
    pub(super) fn sign(&self, message: &[u8], digest: Digest) -> Result<Vec<u8>, IdentityError> {
        let failed = || IdentityError::Sign {
            key: self.location(),
        };
        match self {
            Self::Rsa { key, .. } => {
                let padding = match digest {
                    Digest::Sha256 => &RSA_PKCS1_SHA256,
                    Digest::Sha384 => &RSA_PKCS1_SHA384,
                    Digest::Sha512 => &RSA_PKCS1_SHA512,
                };
                let mut signature = vec![0; key.public().modulus_len()];
                key.sign(
                    padding,
                    &ring::rand::SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(|_| failed())?;
                Ok(signature)
            }
            Self::P256 {
                ring: Some(ring), ..
            } if digest == Digest::Sha256 => ring
                .sign(&ring::rand::SystemRandom::new(), message)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|_| failed()),
            Self::P256 { key, .. } => {
                // Other digests (sign-string's SHA-384 and SHA-512): ring signs P-256 only
                // with SHA-256.
                use p256::ecdsa::signature::hazmat::PrehashSigner as _;
                let signature: p256::ecdsa::Signature = key
                    .sign_prehash(&digest.hash(message))
                    .map_err(|_| failed())?;
                Ok(signature.to_der().as_bytes().to_vec())
            }
            Self::P384 { key, .. } => {
                // AWS4-X509-ECDSA-SHA256 signs a SHA-256 digest whatever the curve; the
                // prehash API takes it as is (left-padded to the field size, per SEC1).
                use p384::ecdsa::signature::hazmat::PrehashSigner as _;
                let signature: p384::ecdsa::Signature = key
                    .sign_prehash(&digest.hash(message))
                    .map_err(|_| failed())?;
                Ok(signature.to_der().as_bytes().to_vec())
            }
            Self::Device(key) => key.sign(message, digest),
        }
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

/// Whether `path` holds a TPM key (`TSS2 PRIVATE KEY`); `false` when it cannot be read.
pub fn is_tpm_key_file(path: &Path) -> bool {
    std::fs::read(path)
        .map(zeroize::Zeroizing::new)
        .is_ok_and(|bytes| {
            pem::parse_many(&bytes[..])
                .is_ok_and(|blocks| blocks.iter().any(|b| b.tag() == super::tpm::PEM_TAG))
        })
}

/// Opens the private key at `location`: a key file, a TPM key file or handle, or a PKCS#11
/// object.
pub(super) fn load_private_key(
    location: &Location,
    password: Option<&Secret>,
    device: &DeviceOptions,
) -> Result<PrivateKey, IdentityError> {
    match location {
        Location::File(path) => load_key_file(path, password, device),
        Location::Pkcs11(uri) => super::pkcs11::open_key(uri, device).map(PrivateKey::Device),
        Location::TpmHandle(handle) => {
            super::tpm::open_persistent(*handle, device).map(PrivateKey::Device)
        }
    }
}

/// Reads the one private key in `path`.
fn load_key_file(
    path: &Path,
    password: Option<&Secret>,
    device: &DeviceOptions,
) -> Result<PrivateKey, IdentityError> {
    let bytes = zeroize::Zeroizing::new(read(path)?);
    let blocks = parse_pem(path, &bytes)?;
    if let Some(block) = blocks.iter().find(|b| b.tag() == super::tpm::PEM_TAG) {
        return super::tpm::open_key_file(path, block.contents(), device).map(PrivateKey::Device);
    }
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
            .map(|k| p256_key(k, path))
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

/// A P-256 key, for both signers (see [`PrivateKey::P256`]). ring takes the scalar and the
/// public point rather than the file's DER, so every format reaches it (ring's own PKCS#8
/// reader wants the public key inside, which SEC1 files and some PKCS#8 ones lack).
fn p256_key(secret: p256::SecretKey, path: &Path) -> PrivateKey {
    let key = p256::ecdsa::SigningKey::from(secret);
    let scalar = zeroize::Zeroizing::new(<[u8; 32]>::from(key.to_bytes()));
    let public = key.verifying_key().to_encoded_point(false);
    let ring = EcdsaKeyPair::from_private_key_and_public_key(
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        scalar.as_slice(),
        public.as_bytes(),
        &ring::rand::SystemRandom::new(),
    )
    .ok();
    PrivateKey::P256 {
        key,
        ring,
        path: path.to_owned(),
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
                    .map(|k| p256_key(k, path))
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

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "test code: a panic is the failure report"
    )]

    use super::*;

    fn p256() -> PrivateKey {
        let secret = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
        p256_key(secret, Path::new("/k.pem"))
    }

    #[test]
    fn p256_sha256_signs_through_ring_and_verifies() {
        let key = p256();
        let PrivateKey::P256 { ring, .. } = &key else {
            panic!("not P-256");
        };
        assert!(
            ring.is_some(),
            "ring refused the key: the slow path would sign"
        );
        let public = key.public_key_bytes();
        let message = b"AWS4-X509-ECDSA-SHA256\n20260501T100000Z\n...";
        for _ in 0..2 {
            let signature = key.sign(message, Digest::Sha256).unwrap();
            ring::signature::UnparsedPublicKey::new(
                &ring::signature::ECDSA_P256_SHA256_ASN1,
                &public,
            )
            .verify(message, &signature)
            .unwrap();
            // And by the other implementation.
            use p256::ecdsa::signature::Verifier as _;
            let verifying = p256::ecdsa::VerifyingKey::from_sec1_bytes(&public).unwrap();
            let signature = p256::ecdsa::Signature::from_der(&signature).unwrap();
            verifying.verify(message, &signature).unwrap();
        }
    }

    #[test]
    fn p256_with_other_digests_signs_the_prehash() {
        use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
        let key = p256();
        let verifying =
            p256::ecdsa::VerifyingKey::from_sec1_bytes(&key.public_key_bytes()).unwrap();
        let message = b"a string to sign";
        for digest in [Digest::Sha384, Digest::Sha512] {
            let signature = key.sign(message, digest).unwrap();
            let signature = p256::ecdsa::Signature::from_der(&signature).unwrap();
            verifying
                .verify_prehash(&digest.hash(message), &signature)
                .unwrap();
        }
    }
}
