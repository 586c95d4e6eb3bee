//! The `TSS2 PRIVATE KEY` file format: the DER inside the PEM block, as the tpm2 OpenSSL
//! provider, `tpm2tss-genkey`, `tpm2_encodeobject` and GnuTLS write it
//! (draft-bottomley-tpm2-keys, "ASN.1 Specification for TPM 2.0 Key Files"):
//!
//! ```text
//! TPMKey ::= SEQUENCE {
//!     type        OBJECT IDENTIFIER,            -- 2.23.133.10.1.3: a loadable key
//!     emptyAuth   [0] EXPLICIT BOOLEAN OPTIONAL,
//!     policy      [1] EXPLICIT SEQUENCE OF TPMPolicy OPTIONAL,
//!     secret      [2] EXPLICIT OCTET STRING OPTIONAL,
//!     authPolicy  [3] EXPLICIT SEQUENCE OF TPMAuthPolicy OPTIONAL,
//!     description [4] EXPLICIT UTF8String OPTIONAL,
//!     rsaParent   [5] EXPLICIT BOOLEAN OPTIONAL,
//!     parent      INTEGER,                      -- a TPM handle
//!     pubkey      OCTET STRING,                 -- TPM2B_PUBLIC
//!     privkey     OCTET STRING                  -- TPM2B_PRIVATE
//! }
//! ```
//!
//! Only loadable keys without policies are accepted: importable keys (`secret`) and keys
//! whose use needs a policy session are refused with an error that says so. The blobs are
//! checked for their `TPM2B` size prefix here; their contents are the TPM's business.

use pkcs8::der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef};
use pkcs8::der::{Decode, Reader, SliceReader, Tag, TagNumber};

/// `id-loadablekey`: a key wrapped by its parent, loaded with `TPM2_Load`.
const OID_LOADABLE_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.23.133.10.1.3");
/// `id-importablekey`: wrapped for import with `TPM2_Import` (needs `secret`).
const OID_IMPORTABLE_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.23.133.10.1.4");
/// `id-sealedkey`: sealed data, not a key.
const OID_SEALED_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.23.133.10.1.5");

/// `TPM_RH_OWNER`: a key whose parent is the owner hierarchy's storage root key.
pub(crate) const OWNER_HIERARCHY: u32 = 0x4000_0001;

/// A parsed key file: what loading the key under its parent needs.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct TpmKeyFile {
    /// The key has an empty password (`userAuth`).
    pub(crate) empty_auth: bool,
    /// The parent, when a primary key, is made from the RSA-2048 template rather than the
    /// ECC P-256 one.
    pub(crate) rsa_parent: bool,
    /// The parent's handle: [`OWNER_HIERARCHY`] (also written as 0), or a persistent key.
    pub(crate) parent: u32,
    /// The `TPMT_PUBLIC` (the `TPM2B_PUBLIC` without its size).
    pub(crate) public: Vec<u8>,
    /// The `TPM2B_PRIVATE`'s buffer (without its size): opaque, encrypted by the parent.
    pub(crate) private: Vec<u8>,
}

impl std::fmt::Debug for TpmKeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TpmKeyFile")
            .field("empty_auth", &self.empty_auth)
            .field("rsa_parent", &self.rsa_parent)
            .field("parent", &format_args!("{:#010x}", self.parent))
            .field("public_len", &self.public.len())
            .field("private_len", &self.private.len())
            .finish()
    }
}

/// Why a key file cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum KeyFileError {
    #[error("malformed TPMKey structure: {0}")]
    Asn1(pkcs8::der::Error),
    #[error("an importable TPM key (2.23.133.10.1.4) must first be imported with tpm2_import")]
    Importable,
    #[error("a sealed TPM object (2.23.133.10.1.5) is data, not a key")]
    Sealed,
    #[error("TPM key type {0} is not a loadable key (2.23.133.10.1.3)")]
    UnknownType(ObjectIdentifier),
    #[error("keys whose use needs a TPM policy are not supported")]
    Policy,
    #[error("the key file carries an import secret, which a loadable key must not")]
    Secret,
    #[error("the {what} blob is malformed: {reason}")]
    Blob {
        what: &'static str,
        reason: &'static str,
    },
}

impl From<pkcs8::der::Error> for KeyFileError {
    fn from(e: pkcs8::der::Error) -> Self {
        Self::Asn1(e)
    }
}

impl TpmKeyFile {
    /// Parses the DER of a `TSS2 PRIVATE KEY` block.
    pub(crate) fn from_der(der: &[u8]) -> Result<Self, KeyFileError> {
        let mut reader = SliceReader::new(der)?;
        let file = reader.sequence(Self::decode_fields)?;
        reader.finish(())?;
        file
    }

    /// The fields of the sequence. The outer `Result` is DER, the inner one the meaning.
    fn decode_fields<'a, R: Reader<'a>>(
        r: &mut R,
    ) -> pkcs8::der::Result<Result<Self, KeyFileError>> {
        let kind = ObjectIdentifier::decode(r)?;
        let mut empty_auth = false;
        let mut rsa_parent = false;
        let mut policy = false;
        let mut secret = false;
        let mut last_tag: Option<u8> = None;
        // The optional [n] fields, each at most once and in order.
        while let Tag::ContextSpecific {
            constructed: true,
            number,
        } = r.peek_tag()?
        {
            let n = number.value();
            if last_tag.is_some_and(|last| n <= last) || number > TagNumber::N5 {
                let tag = r.peek_tag()?;
                return Err(r.error(pkcs8::der::ErrorKind::Noncanonical { tag }));
            }
            last_tag = Some(n);
            let field = AnyRef::decode(r)?;
            // EXPLICIT: the field's value is a complete TLV of its own.
            let inner = AnyRef::from_der(field.value())?;
            match n {
                0 => empty_auth = lenient_bool(inner)?,
                1 | 3 => policy = true,
                2 => secret = true,
                5 => rsa_parent = lenient_bool(inner)?,
                // [4] description: a label for people, nothing to act on.
                _ => {}
            }
        }
        let parent = u32::decode(r)?;
        let public = OctetStringRef::decode(r)?;
        let private = OctetStringRef::decode(r)?;
        // The meaning is judged after the whole structure parsed, so a malformed file is
        // reported as such whatever its type.
        let meaning = || {
            match kind {
                OID_LOADABLE_KEY => {}
                OID_IMPORTABLE_KEY => return Err(KeyFileError::Importable),
                OID_SEALED_KEY => return Err(KeyFileError::Sealed),
                other => return Err(KeyFileError::UnknownType(other)),
            }
            if policy {
                return Err(KeyFileError::Policy);
            }
            if secret {
                return Err(KeyFileError::Secret);
            }
            Ok(Self {
                empty_auth,
                rsa_parent,
                // tpm2-openssl writes and reads 0 as the owner hierarchy.
                parent: if parent == 0 { OWNER_HIERARCHY } else { parent },
                public: sized("public", public.as_bytes())?.to_vec(),
                private: sized("private", private.as_bytes())?.to_vec(),
            })
        };
        Ok(meaning())
    }
}

/// A BOOLEAN as BER reads it: the tpm2 OpenSSL provider writes TRUE as 0x01, which DER
/// (0xff only) would refuse.
fn lenient_bool(value: AnyRef<'_>) -> pkcs8::der::Result<bool> {
    pkcs8::der::Tagged::tag(&value).assert_eq(Tag::Boolean)?;
    match value.value() {
        [byte] => Ok(*byte != 0),
        _ => Err(pkcs8::der::Tag::Boolean.length_error()),
    }
}

/// The body of a `TPM2B_*`: a big-endian `u16` size, then exactly that many bytes.
fn sized<'a>(what: &'static str, blob: &'a [u8]) -> Result<&'a [u8], KeyFileError> {
    let bad = |reason| KeyFileError::Blob { what, reason };
    let [high, low, body @ ..] = blob else {
        return Err(bad("shorter than its size field"));
    };
    if usize::from(u16::from_be_bytes([*high, *low])) != body.len() {
        return Err(bad("its size field disagrees with its length"));
    }
    if body.is_empty() {
        return Err(bad("empty"));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A P-256 key the tpm2 OpenSSL provider wrote (`openssl genpkey -provider tpm2
    /// -algorithm EC -pkeyopt group:P-256`): emptyAuth TRUE, parent the owner hierarchy.
    const PROVIDER_P256: &str = "MIHwBgZngQUKAQOgAwEBAQIEQAAAAQRYAFYAIwALAAYAcgAAABAAEAADABAAIIKoPMm60a8j2p3D\
        lQtLjMvjkptqH1pmKYNBC5tj29C4ACAZHJW+a8wyafCpO0nrvfw36FSLmHZ4S3aeyZJlYIjpXwSB\
        gAB+ACA9ugngbPQPB8AAChh6PPfXqHA0iFnC0S16vfFIYvpnsQAQtnsKLD4Ol6TSXvkJK0ZJ/hX3\
        1KsUlNuT3hRyLZ8nwxtUJsMb7+mRhsu1IlW2r82NunRbrNROXicJ4O8Q6nKoFK+cgYAYFErgG0Za\
        OoKec83PnyfzUvWUKTIh";

    fn provider_der() -> Vec<u8> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(PROVIDER_P256)
            .expect("valid base64")
    }

    /// A TPMKey with the given fields between `type` and `parent`.
    fn build(oid: &[u8], optional: &[u8], parent: &[u8], public: &[u8], private: &[u8]) -> Vec<u8> {
        fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
            assert!(body.len() < 0x80, "short form only");
            let mut out = vec![tag, body.len() as u8];
            out.extend_from_slice(body);
            out
        }
        let mut body = tlv(0x06, oid);
        body.extend_from_slice(optional);
        body.extend(tlv(0x02, parent));
        body.extend(tlv(0x04, public));
        body.extend(tlv(0x04, private));
        tlv(0x30, &body)
    }
    const LOADABLE: &[u8] = &[0x67, 0x81, 0x05, 0x0a, 0x01, 0x03];
    const EMPTY_AUTH: &[u8] = &[0xa0, 0x03, 0x01, 0x01, 0xff];
    const OWNER: &[u8] = &[0x40, 0x00, 0x00, 0x01];
    const BLOB: &[u8] = &[0x00, 0x02, 0xab, 0xcd];

    #[test]
    fn reads_a_key_the_tpm2_provider_wrote() {
        let file = TpmKeyFile::from_der(&provider_der()).expect("parses");
        assert!(file.empty_auth);
        assert!(!file.rsa_parent);
        assert_eq!(file.parent, OWNER_HIERARCHY);
        // TPMT_PUBLIC: type ECC (0x0023), nameAlg SHA-256 (0x000b).
        assert_eq!(&file.public[..4], &[0x00, 0x23, 0x00, 0x0b]);
        assert_eq!(file.public.len(), 0x56);
        assert_eq!(file.private.len(), 0x7e);
    }

    #[test]
    fn empty_auth_absent_means_a_password() {
        let file = TpmKeyFile::from_der(&build(LOADABLE, &[], OWNER, BLOB, BLOB)).expect("parses");
        assert!(!file.empty_auth);
        assert_eq!(file.public, [0xab, 0xcd]);
    }

    #[test]
    fn persistent_parents_and_zero_for_owner() {
        // 0x81000001 needs a leading zero byte to stay a positive INTEGER.
        let der = build(LOADABLE, EMPTY_AUTH, &[0x00, 0x81, 0, 0, 1], BLOB, BLOB);
        assert_eq!(
            TpmKeyFile::from_der(&der).map(|f| f.parent),
            Ok(0x8100_0001)
        );
        let der = build(LOADABLE, EMPTY_AUTH, &[0x00], BLOB, BLOB);
        assert_eq!(
            TpmKeyFile::from_der(&der).map(|f| f.parent),
            Ok(OWNER_HIERARCHY)
        );
    }

    #[test]
    fn rsa_parent_and_description_are_understood() {
        let mut optional = EMPTY_AUTH.to_vec();
        optional.extend([0xa4, 0x04, 0x0c, 0x02, b'h', b'i']);
        optional.extend([0xa5, 0x03, 0x01, 0x01, 0xff]);
        let file =
            TpmKeyFile::from_der(&build(LOADABLE, &optional, OWNER, BLOB, BLOB)).expect("parses");
        assert!(file.rsa_parent);
    }

    #[test]
    fn refuses_what_it_cannot_load() {
        let policy = [0xa1, 0x02, 0x30, 0x00];
        let secret = [0xa2, 0x04, 0x04, 0x02, 0x01, 0x02];
        let cases: &[(&[u8], &[u8], KeyFileError)] = &[
            (
                &[0x67, 0x81, 0x05, 0x0a, 0x01, 0x04],
                &[],
                KeyFileError::Importable,
            ),
            (
                &[0x67, 0x81, 0x05, 0x0a, 0x01, 0x05],
                &[],
                KeyFileError::Sealed,
            ),
            (LOADABLE, &policy, KeyFileError::Policy),
            (LOADABLE, &secret, KeyFileError::Secret),
        ];
        for (oid, optional, want) in cases {
            assert_eq!(
                TpmKeyFile::from_der(&build(oid, optional, OWNER, BLOB, BLOB)).as_ref(),
                Err(want)
            );
        }
        let other = build(
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d],
            &[],
            OWNER,
            BLOB,
            BLOB,
        );
        let got = TpmKeyFile::from_der(&other);
        assert!(matches!(got, Err(KeyFileError::UnknownType(_))), "{got:?}");
    }

    #[test]
    fn refuses_malformed_structures() {
        let asn1 = |der: Vec<u8>| matches!(TpmKeyFile::from_der(&der), Err(KeyFileError::Asn1(_)));
        // Negative or too large parents.
        assert!(asn1(build(LOADABLE, &[], &[0x81, 0, 0, 1], BLOB, BLOB)));
        assert!(asn1(build(LOADABLE, &[], &[1, 0, 0, 0, 0], BLOB, BLOB)));
        // Optional fields out of order or repeated.
        let twice = [EMPTY_AUTH, EMPTY_AUTH].concat();
        assert!(asn1(build(LOADABLE, &twice, OWNER, BLOB, BLOB)));
        // Trailing bytes, truncation.
        let mut trailing = build(LOADABLE, &[], OWNER, BLOB, BLOB);
        trailing.push(0);
        assert!(asn1(trailing));
        let full = provider_der();
        for len in [0, 1, 2, 10, full.len() / 2, full.len() - 1] {
            assert!(TpmKeyFile::from_der(&full[..len]).is_err(), "{len}");
        }
    }

    #[test]
    fn refuses_blobs_whose_size_disagrees() {
        for blob in [&[][..], &[0x00], &[0x00, 0x03, 0xab, 0xcd], &[0x00, 0x00]] {
            assert!(matches!(
                TpmKeyFile::from_der(&build(LOADABLE, &[], OWNER, blob, BLOB)),
                Err(KeyFileError::Blob { what: "public", .. })
            ));
        }
    }
}
