//! Shared helpers for the integration tests: a throwaway PKI made by
//! `tests/pki/generate.sh` once per test binary, and the path of the real binary.
#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A directory holding the test PKI (see `tests/pki/generate.sh` for its files).
pub fn pki() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        needroleshere::testutil::generate_pki(dir.path()).expect("the test PKI");
        dir
    })
    .path()
}

/// `pki().join(name)`.
pub fn pki_file(name: &str) -> PathBuf {
    pki().join(name)
}

/// The password of every `*.pkcs8-encrypted.key` in the test PKI.
pub const PKCS8_PASSWORD: &str = "correct horse battery staple";
pub mod daemon;
pub mod hostile;
pub mod imds;
pub mod matrix;
pub mod profiles;
