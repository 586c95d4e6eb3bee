//! TPM 2.0 keys: `TSS2 PRIVATE KEY` files and persistent handles.

use std::path::Path;
use std::sync::Arc;

use super::IdentityError;
use super::device::{DeviceKey, DeviceOptions};

/// The PEM label of a TPM key file (the tpm2 OpenSSL provider's and GnuTLS's).
pub(super) const PEM_TAG: &str = "TSS2 PRIVATE KEY";

/// Loads the key in a `TSS2 PRIVATE KEY` file (its DER is `der`).
pub(super) fn open_key_file(
    path: &Path,
    _der: &[u8],
    _device: &DeviceOptions,
) -> Result<Arc<dyn DeviceKey>, IdentityError> {
    Err(IdentityError::Device {
        key: path.display().to_string(),
        reason: "TPM keys are not supported yet".to_owned(),
    })
}

/// Opens the persistent key at `handle`.
pub(super) fn open_persistent(
    handle: u32,
    _device: &DeviceOptions,
) -> Result<Arc<dyn DeviceKey>, IdentityError> {
    Err(IdentityError::Device {
        key: format!("handle:{handle:#010x}"),
        reason: "TPM keys are not supported yet".to_owned(),
    })
}
