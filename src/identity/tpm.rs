//! TPM 2.0 keys: `TSS2 PRIVATE KEY` files and persistent handles (`handle:0x81…`).
//!
//! * A key file ([`key_file`]) holds the key wrapped by its parent: it is loaded under the
//!   parent as a transient object for each signature and flushed right after, so no object
//!   slot stays taken (a TPM has only a few) and a TPM that was restarted meanwhile works
//!   again at the next signature. The public key comes from the file: opening a key file
//!   does not reach the TPM.
//! * A persistent key is read once (`TPM2_ReadPublic`) to learn its public key.
//! * The TPM signs a digest computed here (`TPM2_Sign` with a null hash-check ticket):
//!   RSASSA-PKCS1-v1_5 or ECDSA with the digest the caller asks for.
//! * Which TPM: the TCTI of [`DeviceOptions::tpm_tcti`] (from `TPM2TOOLS_TCTI`, `TCTI`,
//!   `TSS2_TCTI`), else `device:/dev/tpmrm0`, the kernel's resource manager.
//! * Errors: a TPM that cannot be reached is *unavailable* (it may come back); a refused
//!   password is a configuration error, and that password is never offered again by this
//!   process (TPMs lock out after a few wrong passwords).
//!
//! All of it needs the cargo feature `tpm` (libtss2 at build time); without it TPM keys are
//! refused with an error that says so.

mod key_file;

#[cfg(feature = "tpm")]
mod esapi;

use std::path::Path;
use std::sync::Arc;

use super::IdentityError;
use super::device::{DeviceKey, DeviceOptions};

/// The PEM label of a TPM key file (the tpm2 OpenSSL provider's and GnuTLS's).
pub(super) const PEM_TAG: &str = "TSS2 PRIVATE KEY";

/// The TCTI used when none is configured: the kernel's TPM resource manager.
#[cfg(feature = "tpm")]
pub(crate) const DEFAULT_TCTI: &str = "device:/dev/tpmrm0";

/// Loads the key in a `TSS2 PRIVATE KEY` file (its DER is `der`).
pub(super) fn open_key_file(
    path: &Path,
    der: &[u8],
    device: &DeviceOptions,
) -> Result<Arc<dyn DeviceKey>, IdentityError> {
    let file = key_file::TpmKeyFile::from_der(der).map_err(|e| IdentityError::BadPrivateKey {
        path: path.to_owned(),
        format: "TSS2 PRIVATE KEY",
        reason: e.to_string(),
    })?;
    #[cfg(feature = "tpm")]
    {
        esapi::open_key_file(path, file, device)
    }
    #[cfg(not(feature = "tpm"))]
    {
        let _ = (file, device);
        Err(not_built(path.display().to_string()))
    }
}

/// Opens the persistent key at `handle`.
pub(super) fn open_persistent(
    handle: u32,
    device: &DeviceOptions,
) -> Result<Arc<dyn DeviceKey>, IdentityError> {
    #[cfg(feature = "tpm")]
    {
        esapi::open_persistent(handle, device)
    }
    #[cfg(not(feature = "tpm"))]
    {
        let _ = device;
        Err(not_built(format!("handle:{handle:#010x}")))
    }
}

#[cfg(not(feature = "tpm"))]
fn not_built(key: String) -> IdentityError {
    IdentityError::Device {
        key,
        reason: "this needroleshere was built without TPM support (feature `tpm`)".to_owned(),
    }
}
