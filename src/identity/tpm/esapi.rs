//! TPM keys through the TSS's Enhanced System API (`tss-esapi` over libtss2-esys).
//!
//! One TPM connection per operation, held under a process-wide lock: a TPM serves one
//! command at a time anyway, swtpm serves one connection at a time, and a fresh connection
//! survives a TPM (or `tpm2-abrmd`) restart between signatures. Every object loaded is
//! flushed before the connection closes, and every persistent handle's ESAPI resource is
//! closed, whether the operation worked or not.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest as _, Sha256};
use tss_esapi::Context;
use tss_esapi::attributes::{ObjectAttributes, ObjectAttributesBuilder};
use tss_esapi::constants::response_code::Tss2ResponseCode;
use tss_esapi::constants::tss::{TPM2_RH_NULL, TPM2_ST_HASHCHECK};
use tss_esapi::handles::{KeyHandle, ObjectHandle, PersistentTpmHandle, TpmHandle};
use tss_esapi::interface_types::algorithm::{HashingAlgorithm, PublicAlgorithm};
use tss_esapi::interface_types::ecc::EccCurve;
use tss_esapi::interface_types::key_bits::RsaKeyBits;
use tss_esapi::interface_types::resource_handles::Hierarchy;
use tss_esapi::interface_types::session_handles::AuthSession;
use tss_esapi::structures::{
    Auth, Digest as TpmDigest, EccPoint, HashScheme, HashcheckTicket, Private, Public,
    PublicBuilder, PublicEccParametersBuilder, PublicKeyRsa, PublicRsaParametersBuilder,
    RsaExponent, Signature, SignatureScheme, SymmetricDefinitionObject,
};
use tss_esapi::tcti_ldr::TctiNameConf;
use tss_esapi::traits::UnMarshall;
use tss_esapi::tss2_esys::TPMT_TK_HASHCHECK;

use super::key_file::{OWNER_HIERARCHY, TpmKeyFile};
use crate::identity::certificate::PublicKey;
use crate::identity::device::{self, DeviceKey, DeviceOptions, Digest};
use crate::identity::{IdentityError, KeyAlgorithm};
use crate::secret::{Secret, SecretSource};

/// One TPM operation at a time in this process.
fn tpm_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    // The lock guards no data; a panic while holding it leaves nothing inconsistent.
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where the key lives.
enum Source {
    /// Wrapped by `parent`, loaded for each use.
    File {
        parent: u32,
        rsa_parent: bool,
        public: Public,
        private: Private,
    },
    /// A persistent object.
    Persistent(u32),
}

/// A key in the TPM.
pub(super) struct TpmKey {
    location: String,
    source: Source,
    algorithm: KeyAlgorithm,
    public_key: PublicKey,
    attributes: ObjectAttributes,
    /// The key file says the key has no password.
    empty_auth: bool,
    tcti: String,
    password: Option<SecretSource>,
    credentials_directory: Option<PathBuf>,
    /// SHA-256 of every password the TPM refused for this key: never offered again.
    refused: Mutex<Vec<[u8; 32]>>,
}

impl fmt::Debug for TpmKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TpmKey")
            .field("location", &self.location)
            .field("algorithm", &self.algorithm)
            .field("tcti", &self.tcti)
            .field("password", &self.password)
            .finish_non_exhaustive()
    }
}

/// What went wrong talking to the TPM, in the categories callers act on.
enum Failure {
    /// The TPM cannot be reached or is not ready: it may come back.
    Unavailable(String),
    /// The TPM refused the key's password.
    AuthFailed,
    /// Anything else: retrying will not help.
    Refused(String),
}

pub(super) fn open_key_file(
    path: &Path,
    file: TpmKeyFile,
    device: &DeviceOptions,
) -> Result<Arc<dyn DeviceKey>, IdentityError> {
    let location = path.display().to_string();
    let bad = |reason: String| IdentityError::BadPrivateKey {
        path: path.to_owned(),
        format: "TSS2 PRIVATE KEY",
        reason,
    };
    let public = Public::unmarshall(&file.public)
        .map_err(|e| bad(format!("its public area cannot be read: {e}")))?;
    let private = Private::try_from(file.private.clone())
        .map_err(|e| bad(format!("its private blob cannot be read: {e}")))?;
    let (algorithm, public_key) =
        describe(&public).map_err(|kind| IdentityError::UnsupportedKey {
            path: path.to_owned(),
            kind,
        })?;
    if file.parent != OWNER_HIERARCHY && PersistentTpmHandle::new(file.parent).is_err() {
        return Err(bad(format!(
            "its parent {:#010x} is neither the owner hierarchy nor a persistent key",
            file.parent
        )));
    }
    let attributes = public.object_attributes();
    let key = TpmKey {
        location,
        source: Source::File {
            parent: file.parent,
            rsa_parent: file.rsa_parent,
            public,
            private,
        },
        algorithm,
        public_key,
        attributes,
        empty_auth: file.empty_auth,
        tcti: tcti(device),
        password: device.tpm_key_password.clone(),
        credentials_directory: device.credentials_directory.clone(),
        refused: Mutex::default(),
    };
    key.check_may_sign()?;
    Ok(Arc::new(key))
}

pub(super) fn open_persistent(
    handle: u32,
    device: &DeviceOptions,
) -> Result<Arc<dyn DeviceKey>, IdentityError> {
    let location = format!("handle:{handle:#010x}");
    let tcti = tcti(device);
    let public = {
        let _lock = tpm_lock();
        connect(&tcti)
            .and_then(|mut context| {
                let mut object = persistent_object(&mut context, handle)?;
                let read = context.read_public(object.into());
                close(&mut context, &mut object);
                read.map(|(public, _, _)| public).map_err(classify)
            })
            .map_err(|failure| failure.into_error(&location, &tcti))?
    };
    let (algorithm, public_key) = describe(&public).map_err(|kind| IdentityError::Device {
        key: location.clone(),
        reason: format!("the key is {kind}, which is not supported (use RSA, P-256 or P-384)"),
    })?;
    let key = TpmKey {
        location,
        source: Source::Persistent(handle),
        algorithm,
        attributes: public.object_attributes(),
        public_key,
        empty_auth: false,
        tcti,
        password: device.tpm_key_password.clone(),
        credentials_directory: device.credentials_directory.clone(),
        refused: Mutex::default(),
    };
    key.check_may_sign()?;
    Ok(Arc::new(key))
}

fn tcti(device: &DeviceOptions) -> String {
    device
        .tpm_tcti
        .clone()
        .unwrap_or_else(|| super::DEFAULT_TCTI.to_owned())
}

/// The algorithm and public key of a public area, or what kind of key it is.
fn describe(public: &Public) -> Result<(KeyAlgorithm, PublicKey), String> {
    let (algorithm, key) = match public {
        Public::Rsa {
            parameters, unique, ..
        } => {
            let bits = unique.value().len() * 8;
            if !(2048..=4096).contains(&bits) {
                return Err(format!("a {bits}-bit RSA key"));
            }
            // 0 stands for the default exponent, 65537.
            let exponent = match parameters.exponent().value() {
                0 => 65537,
                e => e,
            };
            let algorithm = KeyAlgorithm::Rsa { bits };
            let key = device::public_key_from_parts(
                algorithm,
                Some((unique.value(), &exponent.to_be_bytes())),
                None,
            );
            (algorithm, key)
        }
        Public::Ecc {
            parameters, unique, ..
        } => {
            let (algorithm, size) = match parameters.ecc_curve() {
                EccCurve::NistP256 => (KeyAlgorithm::EcdsaP256, 32),
                EccCurve::NistP384 => (KeyAlgorithm::EcdsaP384, 48),
                other => return Err(format!("an EC key on {other:?}")),
            };
            let mut point = vec![0x04];
            point.extend(left_pad(unique.x().value(), size).ok_or("a malformed EC point")?);
            point.extend(left_pad(unique.y().value(), size).ok_or("a malformed EC point")?);
            (
                algorithm,
                device::public_key_from_parts(algorithm, None, Some(&point)),
            )
        }
        Public::KeyedHash { .. } => return Err("a keyed-hash (HMAC or sealed data) object".into()),
        Public::SymCipher { .. } => return Err("a symmetric key".into()),
    };
    Ok((algorithm, key.ok_or("a malformed public key")?))
}

/// `bytes` as exactly `size` big-endian bytes, or `None` when it does not fit.
fn left_pad(bytes: &[u8], size: usize) -> Option<Vec<u8>> {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let significant = &bytes[start..];
    if significant.len() > size {
        return None;
    }
    let mut out = vec![0; size - significant.len()];
    out.extend_from_slice(significant);
    Some(out)
}

impl TpmKey {
    fn check_may_sign(&self) -> Result<(), IdentityError> {
        let reason = if !self.attributes.sign_encrypt() {
            "the key may not sign (its sign attribute is clear)"
        } else if self.attributes.restricted() {
            // A restricted signing key signs only digests the TPM computed itself.
            "the key is a restricted signing key, which cannot sign outside data"
        } else if !self.attributes.user_with_auth() {
            "the key needs a policy session to be used, which is not supported"
        } else {
            return Ok(());
        };
        Err(IdentityError::Device {
            key: self.location.clone(),
            reason: reason.to_owned(),
        })
    }

    /// The password to offer, or an error when it was refused before.
    fn password(&self) -> Result<Option<Secret>, IdentityError> {
        if self.empty_auth {
            return Ok(None);
        }
        let Some(source) = &self.password else {
            return Ok(None);
        };
        let password = source
            .read(self.credentials_directory.as_deref())
            .map_err(|e| IdentityError::Secret {
                what: "TPM key password",
                source_name: source.to_string(),
                source: e,
            })?;
        let hash: [u8; 32] = Sha256::digest(password.expose().as_bytes()).into();
        if self.refused().contains(&hash) {
            return Err(IdentityError::Device {
                key: self.location.clone(),
                reason: "the TPM refused this key password before; it is not offered again \
                         (the TPM locks out after repeated failures): give the right one"
                    .to_owned(),
            });
        }
        Ok(Some(password))
    }

    fn refused(&self) -> MutexGuard<'_, Vec<[u8; 32]>> {
        // A list of hashes: a panic elsewhere leaves it consistent.
        self.refused.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads (or opens) the key, runs `f` with it, and releases it whatever happened.
    fn with_key<T>(
        &self,
        context: &mut Context,
        f: impl FnOnce(&mut Context, KeyHandle) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        match &self.source {
            Source::File {
                parent,
                rsa_parent,
                public,
                private,
            } => {
                let key = load(context, *parent, *rsa_parent, public, private)?;
                let result = f(context, key);
                flush(context, key.into());
                result
            }
            Source::Persistent(handle) => {
                let mut object = persistent_object(context, *handle)?;
                let result = f(context, object.into());
                close(context, &mut object);
                result
            }
        }
    }

    fn sign_digest(
        &self,
        hash: Vec<u8>,
        digest: Digest,
        password: Option<&Secret>,
    ) -> Result<Signature, Failure> {
        let hashing = match digest {
            Digest::Sha256 => HashingAlgorithm::Sha256,
            Digest::Sha384 => HashingAlgorithm::Sha384,
            Digest::Sha512 => HashingAlgorithm::Sha512,
        };
        let hash_scheme = HashScheme::new(hashing);
        let scheme = match self.algorithm {
            KeyAlgorithm::Rsa { .. } => SignatureScheme::RsaSsa { hash_scheme },
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => {
                SignatureScheme::EcDsa { hash_scheme }
            }
        };
        let tpm_digest = TpmDigest::try_from(hash).map_err(refused)?;
        // A null ticket: the key is unrestricted, so the TPM needs no proof that it hashed
        // the message itself.
        let ticket = HashcheckTicket::try_from(TPMT_TK_HASHCHECK {
            tag: TPM2_ST_HASHCHECK,
            hierarchy: TPM2_RH_NULL,
            digest: Default::default(),
        })
        .map_err(refused)?;
        let auth = Auth::try_from(
            password
                .map(|p| p.expose().as_bytes().to_vec())
                .unwrap_or_default(),
        )
        .map_err(|_| Failure::Refused("the key password is too long for the TPM".into()))?;
        let _lock = tpm_lock();
        let mut context = connect(&self.tcti)?;
        self.with_key(&mut context, |context, key| {
            context.tr_set_auth(key.into(), auth).map_err(classify)?;
            context
                .execute_with_session(Some(AuthSession::Password), |c| {
                    c.sign(key, tpm_digest, scheme, ticket)
                })
                .map_err(classify)
        })
    }
}

impl DeviceKey for TpmKey {
    fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    fn location(&self) -> String {
        self.location.clone()
    }

    fn sign(&self, message: &[u8], digest: Digest) -> Result<Vec<u8>, IdentityError> {
        let password = self.password()?;
        let signature = self
            .sign_digest(digest.hash(message), digest, password.as_ref())
            .map_err(|failure| {
                if let (Failure::AuthFailed, Some(password)) = (&failure, &password) {
                    self.refused()
                        .push(Sha256::digest(password.expose().as_bytes()).into());
                }
                failure.into_error(&self.location, &self.tcti)
            })?;
        let malformed = |reason: &str| IdentityError::Device {
            key: self.location.clone(),
            reason: reason.to_owned(),
        };
        match (self.algorithm, signature) {
            (KeyAlgorithm::Rsa { .. }, Signature::RsaSsa(rsa)) => {
                Ok(rsa.signature().value().to_vec())
            }
            (KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384, Signature::EcDsa(ecc)) => {
                let size = if self.algorithm == KeyAlgorithm::EcdsaP256 {
                    32
                } else {
                    48
                };
                let r = left_pad(ecc.signature_r().value(), size);
                let s = left_pad(ecc.signature_s().value(), size);
                let (Some(r), Some(s)) = (r, s) else {
                    return Err(malformed("the TPM returned an oversized ECDSA signature"));
                };
                device::ecdsa_der_from_raw(self.algorithm, &[r, s].concat()).map_err(malformed)
            }
            _ => Err(malformed(
                "the TPM returned a signature of another scheme than asked",
            )),
        }
    }

    fn facts(&self) -> Vec<String> {
        let a = self.attributes;
        let mut facts = vec![match &self.source {
            Source::File { parent, .. } if *parent == OWNER_HIERARCHY => {
                "in the TPM, loaded from its key file under the owner hierarchy's primary key"
                    .to_owned()
            }
            Source::File { parent, .. } => {
                format!("in the TPM, loaded from its key file under the key at {parent:#010x}")
            }
            Source::Persistent(_) => "in the TPM, persistent".to_owned(),
        }];
        if a.fixed_tpm() {
            facts.push("fixedTPM (never leaves this TPM)".to_owned());
        } else if a.fixed_parent() {
            facts.push("fixedParent (may be duplicated with its parent)".to_owned());
        } else {
            facts.push("duplicable (may be exported under another parent)".to_owned());
        }
        if a.sensitive_data_origin() {
            facts.push("generated inside the TPM".to_owned());
        } else {
            facts.push("imported (generated outside the TPM)".to_owned());
        }
        facts.push(if self.empty_auth {
            "no password".to_owned()
        } else if a.no_da() {
            "password, not subject to dictionary-attack lockout".to_owned()
        } else {
            "password, subject to dictionary-attack lockout".to_owned()
        });
        facts.push(format!("TCTI {}", self.tcti));
        facts
    }
}

/// Opens a connection to the TPM.
fn connect(tcti: &str) -> Result<Context, Failure> {
    let conf = TctiNameConf::from_str(tcti).map_err(|_| {
        Failure::Refused(format!(
            "the TCTI {tcti:?} is not understood (use device:/dev/tpmrm0, \
             swtpm:host=HOST,port=PORT, mssim:… or tabrmd:…)"
        ))
    })?;
    Context::new(conf).map_err(|e| match classify(e) {
        // Any failure to open the TCTI means the TPM is not there as configured.
        Failure::Refused(reason) => Failure::Unavailable(reason),
        other => other,
    })
}

/// The ESAPI object of a persistent key; close it with [`close`].
fn persistent_object(context: &mut Context, handle: u32) -> Result<ObjectHandle, Failure> {
    let tpm_handle = PersistentTpmHandle::new(handle)
        .map_err(|_| Failure::Refused(format!("{handle:#010x} is not a persistent handle")))?;
    context
        .tr_from_tpm_public(TpmHandle::Persistent(tpm_handle))
        .map_err(|e| match classify(e) {
            Failure::Refused(reason) => {
                Failure::Refused(format!("no persistent object at {handle:#010x}: {reason}"))
            }
            other => other,
        })
}

/// Loads a key file's key under its parent; flush it with [`flush`].
fn load(
    context: &mut Context,
    parent: u32,
    rsa_parent: bool,
    public: &Public,
    private: &Private,
) -> Result<KeyHandle, Failure> {
    let loaded = |context: &mut Context, parent: KeyHandle| {
        context.execute_with_session(Some(AuthSession::Password), |c| {
            c.load(parent, private.clone(), public.clone())
        })
    };
    let key = if parent == OWNER_HIERARCHY {
        let primary = create_primary(context, rsa_parent)?;
        let key = loaded(context, primary);
        flush(context, primary.into());
        key
    } else {
        let mut object = persistent_object(context, parent)?;
        let key = loaded(context, object.into());
        close(context, &mut object);
        key
    };
    key.map_err(|e| match classify(e) {
        Failure::Refused(reason) => Failure::Refused(format!(
            "the TPM would not load the key under its parent {parent:#010x} (was it made \
             by another TPM, or under another parent?): {reason}"
        )),
        other => other,
    })
}

/// The owner hierarchy's storage root key, made from the template the tpm2 OpenSSL
/// provider and tpm2-tss-engine use (TCG "Storage Primary Key" with an empty unique
/// field): ECC P-256, or RSA-2048 when the key file says `rsaParent`. The same template
/// gives the same key every time, so keys wrapped by it load.
fn create_primary(context: &mut Context, rsa: bool) -> Result<KeyHandle, Failure> {
    let attributes = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_no_da(true)
        .with_restricted(true)
        .with_decrypt(true)
        .build()
        .map_err(refused)?;
    let builder = PublicBuilder::new()
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attributes);
    let template = if rsa {
        builder
            .with_public_algorithm(PublicAlgorithm::Rsa)
            .with_rsa_parameters(
                PublicRsaParametersBuilder::new_restricted_decryption_key(
                    SymmetricDefinitionObject::AES_128_CFB,
                    RsaKeyBits::Rsa2048,
                    RsaExponent::default(),
                )
                .build()
                .map_err(refused)?,
            )
            .with_rsa_unique_identifier(PublicKeyRsa::default())
    } else {
        builder
            .with_public_algorithm(PublicAlgorithm::Ecc)
            .with_ecc_parameters(
                PublicEccParametersBuilder::new_restricted_decryption_key(
                    SymmetricDefinitionObject::AES_128_CFB,
                    EccCurve::NistP256,
                )
                .build()
                .map_err(refused)?,
            )
            .with_ecc_unique_identifier(EccPoint::default())
    }
    .build()
    .map_err(refused)?;
    context
        .execute_with_session(Some(AuthSession::Password), |c| {
            c.create_primary(Hierarchy::Owner, template, None, None, None, None)
        })
        .map(|primary| primary.key_handle)
        .map_err(|e| match classify(e) {
            Failure::AuthFailed => Failure::Refused(
                "the TPM's owner hierarchy has a password, so its primary key cannot be \
                 made; make the key under a persistent parent instead"
                    .to_owned(),
            ),
            Failure::Refused(reason) => Failure::Refused(format!(
                "cannot make the owner hierarchy's primary key: {reason}"
            )),
            other => other,
        })
}

/// Flushes a transient object. A failure is logged: the connection closing next flushes
/// what is left (tss-esapi's `Context` drop) and the resource manager does for its clients.
fn flush(context: &mut Context, handle: ObjectHandle) {
    if let Err(e) = context.flush_context(handle) {
        tracing::warn!(error = %e, "cannot flush a TPM object");
    }
}

/// Releases the ESAPI's record of a persistent object (the object stays in the TPM).
fn close(context: &mut Context, handle: &mut ObjectHandle) {
    if let Err(e) = context.tr_close(handle) {
        tracing::warn!(error = %e, "cannot close a TPM handle");
    }
}

fn refused(e: tss_esapi::Error) -> Failure {
    Failure::Refused(e.to_string())
}

/// The raw `TSS2_RC` of an error that came from the TSS or the TPM.
fn response_code(error: &tss_esapi::Error) -> Option<u32> {
    // tss-esapi 7 keeps the raw code private; its `Display` is "Response code value: 0x…".
    let text = match error {
        tss_esapi::Error::Tss2Error(Tss2ResponseCode::FormatZero(rc)) => rc.to_string(),
        tss_esapi::Error::Tss2Error(Tss2ResponseCode::FormatOne(rc)) => rc.to_string(),
        _ => return None,
    };
    let hex = text.rsplit("0x").next()?;
    u32::from_str_radix(hex.trim(), 16).ok()
}

/// The layer of a `TSS2_RC` that is the TPM itself.
const LAYER_TPM: u32 = 0;
/// The ESAPI, the TCTI, and tpm2-abrmd's resource manager.
const LAYER_ESAPI: u32 = 7;
const LAYER_TCTI: u32 = 10;
const LAYER_RESMGR: u32 = 11;

fn classify(error: tss_esapi::Error) -> Failure {
    let Some(code) = response_code(&error) else {
        return Failure::Refused(error.to_string());
    };
    let layer = (code >> 16) & 0xff;
    let base = code & 0xffff;
    let described = match layer {
        LAYER_TPM => format!("{error} ({code:#x})"),
        _ => describe_tss_code(layer, base, code),
    };
    match layer {
        LAYER_TPM if base & 0x80 != 0 => match base & 0x3f {
            // TPM_RC_AUTH_FAIL (counts towards lockout), TPM_RC_BAD_AUTH (noDA keys).
            0x0e | 0x22 => Failure::AuthFailed,
            _ => Failure::Refused(described),
        },
        LAYER_TPM => match base & 0x97f {
            // TPM_RC_INITIALIZE: not started; TPM_RC_FAILURE: in failure mode.
            0x100 | 0x101 => Failure::Unavailable(format!("the TPM is not ready: {described}")),
            // TPM_RC_YIELDED, _TESTING, _RETRY, _NV_UNAVAILABLE: try later.
            0x908 | 0x90a | 0x922 | 0x923 => {
                Failure::Unavailable(format!("the TPM is busy: {described}"))
            }
            0x921 => Failure::Refused(
                "the TPM is in dictionary-attack lockout after wrong passwords; it accepts \
                 passwords again after its recovery time, or after tpm2_dictionarylockout -c"
                    .to_owned(),
            ),
            _ => Failure::Refused(described),
        },
        // TSS2_BASE_RC_NO_CONNECTION, _TRY_AGAIN, _IO_ERROR.
        LAYER_ESAPI if matches!(base, 8..=10) => Failure::Unavailable(described),
        LAYER_TCTI | LAYER_RESMGR => Failure::Unavailable(described),
        _ => Failure::Refused(described),
    }
}

/// A TSS (not TPM) response code in words: tss-esapi only knows the TPM's.
fn describe_tss_code(layer: u32, base: u32, code: u32) -> String {
    let layer = match layer {
        LAYER_ESAPI => "ESAPI",
        LAYER_TCTI => "TCTI",
        LAYER_RESMGR => "resource manager",
        _ => "TSS",
    };
    let what = match base {
        1 => "general failure",
        2 => "not implemented",
        8 => "no connection",
        9 => "try again",
        10 => "input/output error (refused or lost connection)",
        11 => "bad value",
        17 => "malformed response",
        21 => "not supported",
        23 => "out of memory",
        _ => "error",
    };
    format!("{layer} {what} ({code:#x})")
}

impl Failure {
    fn into_error(self, key: &str, tcti: &str) -> IdentityError {
        let key = key.to_owned();
        match self {
            Self::Unavailable(reason) => IdentityError::DeviceUnavailable {
                key,
                reason: format!("cannot reach the TPM through {tcti}: {reason}"),
            },
            Self::AuthFailed => IdentityError::Device {
                key,
                reason: "the TPM refused the key's password (TPM_RC_AUTH_FAIL); give the right \
                         one with --tpm-key-password-source (it is not retried: TPMs lock out \
                         after repeated failures)"
                    .to_owned(),
            },
            Self::Refused(reason) => IdentityError::Device { key, reason },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_pad_fixes_the_width() {
        assert_eq!(left_pad(&[1, 2], 4), Some(vec![0, 0, 1, 2]));
        assert_eq!(left_pad(&[0, 0, 0, 1, 2], 4), Some(vec![0, 0, 1, 2]));
        assert_eq!(left_pad(&[1, 2, 3, 4, 5], 4), None);
        assert_eq!(left_pad(&[], 2), Some(vec![0, 0]));
    }

    #[test]
    fn response_codes_fall_in_their_categories() {
        let category =
            |code: u32| match classify(tss_esapi::Error::Tss2Error(Tss2ResponseCode::from(code))) {
                Failure::Unavailable(_) => "unavailable",
                Failure::AuthFailed => "auth",
                Failure::Refused(_) => "refused",
            };
        assert_eq!(category(0x0000_098e), "auth"); // AUTH_FAIL, session 1
        assert_eq!(category(0x0000_09a2), "auth"); // BAD_AUTH, session 1
        assert_eq!(category(0x0000_0100), "unavailable"); // INITIALIZE
        assert_eq!(category(0x0000_0922), "unavailable"); // RETRY
        assert_eq!(category(0x0000_0921), "refused"); // LOCKOUT
        assert_eq!(category(0x000a_000a), "unavailable"); // TCTI IO_ERROR
        assert_eq!(category(0x0007_000a), "unavailable"); // ESAPI IO_ERROR
        assert_eq!(category(0x0000_01c4), "refused"); // VALUE, parameter 1
    }
}
