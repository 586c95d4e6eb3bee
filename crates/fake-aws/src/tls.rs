//! TLS plumbing for the test doubles: rustls configurations (ring provider) built from PEM
//! files.
//!
//! Contract:
//! * [`server_config`] reads a PEM certificate chain (leaf first; every `CERTIFICATE` block is
//!   used, in file order) and a PEM private key (`PRIVATE KEY` = PKCS#8, `RSA PRIVATE KEY` =
//!   PKCS#1, `EC PRIVATE KEY` = SEC1; the first key block in the file wins) and returns a
//!   server configuration that offers HTTP/1.1 only (ALPN `http/1.1`), no client
//!   authentication.
//! * [`client_config`] trusts exactly the CA certificates of one PEM file (no system roots), so
//!   a test client can reach a double without touching the platform trust store.
//! * [`read_certificates`] returns the DER of every `CERTIFICATE` block of a PEM file.
//! * Every failure is an [`std::io::Error`] whose message names the file and the problem.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};

fn invalid(path: &Path, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

fn read_pem_blocks(path: &Path) -> io::Result<Vec<pem::Pem>> {
    let bytes = std::fs::read(path)
        .map_err(|error| io::Error::new(error.kind(), format!("{}: {error}", path.display())))?;
    pem::parse_many(&bytes).map_err(|error| invalid(path, format!("not valid PEM: {error}")))
}

/// The DER of every `CERTIFICATE` block in the PEM file at `path`, in file order.
///
/// Fails if the file cannot be read, is not PEM, or holds no certificate.
pub fn read_certificates(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    let certificates: Vec<Vec<u8>> = read_pem_blocks(path)?
        .into_iter()
        .filter(|block| block.tag() == "CERTIFICATE")
        .map(pem::Pem::into_contents)
        .collect();
    if certificates.is_empty() {
        return Err(invalid(path, "no CERTIFICATE block"));
    }
    Ok(certificates)
}

fn read_private_key(path: &Path) -> io::Result<PrivateKeyDer<'static>> {
    for block in read_pem_blocks(path)? {
        let key = match block.tag() {
            "PRIVATE KEY" => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(block.into_contents())),
            "RSA PRIVATE KEY" => {
                PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(block.into_contents()))
            }
            "EC PRIVATE KEY" => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(block.into_contents())),
            _ => continue,
        };
        return Ok(key);
    }
    Err(invalid(
        path,
        "no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block",
    ))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS server configuration (ring provider, HTTP/1.1 via ALPN) serving the certificate
/// chain in `cert_chain_pem` with the key in `key_pem`.
pub fn server_config(
    cert_chain_pem: &Path,
    key_pem: &Path,
) -> io::Result<Arc<rustls::ServerConfig>> {
    let chain: Vec<CertificateDer<'static>> = read_certificates(cert_chain_pem)?
        .into_iter()
        .map(CertificateDer::from)
        .collect();
    let key = read_private_key(key_pem)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|error| invalid(cert_chain_pem, error))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| {
            invalid(
                cert_chain_pem,
                format!("cannot use with key {}: {error}", key_pem.display()),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TLS client configuration (ring provider) trusting only the CA certificates in `ca_pem`.
pub fn client_config(ca_pem: &Path) -> io::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for der in read_certificates(ca_pem)? {
        roots
            .add(CertificateDer::from(der))
            .map_err(|error| invalid(ca_pem, error))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|error| invalid(ca_pem, error))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
