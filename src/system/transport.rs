//! The HTTPS client used for calls to AWS: rustls with the `ring` provider, the system's trust
//! roots plus any extra CA bundle, proxies from the environment, and timeouts.
//!
//! * Trust: the operating system's roots, plus every certificate in `--ca-bundle` or
//!   `AWS_CA_BUNDLE`. `--no-verify-ssl` turns certificate checks off (the TLS handshake
//!   signatures are still checked) and logs a warning on every use.
//! * Proxies: `HTTPS_PROXY` for `https://` endpoints, `HTTP_PROXY` for `http://` ones, both
//!   skipped for hosts in `NO_PROXY`. HTTPS goes through the proxy with `CONNECT`, so the proxy
//!   never sees the request.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::system::env::{Environment, redact_userinfo};

/// How to reach AWS. `Debug` hides proxy credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct TransportSettings {
    /// Extra PEM trust roots.
    pub ca_bundle: Option<PathBuf>,
    /// Verify the server's certificate (the default).
    pub verify_tls: bool,
    /// Time allowed to open a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Time allowed for one whole request, from connecting to the last byte of the body.
    pub request_timeout: Duration,
    pub https_proxy: Option<String>,
    pub http_proxy: Option<String>,
    pub no_proxy: Option<String>,
}

impl std::fmt::Debug for TransportSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |p: &Option<String>| p.as_deref().map(redact_userinfo);
        f.debug_struct("TransportSettings")
            .field("ca_bundle", &self.ca_bundle)
            .field("verify_tls", &self.verify_tls)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("https_proxy", &redact(&self.https_proxy))
            .field("http_proxy", &redact(&self.http_proxy))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

impl TransportSettings {
    /// Defaults plus the environment's CA bundle and proxies.
    pub fn from_environment(env: &Environment) -> Self {
        Self {
            ca_bundle: env.ca_bundle.clone(),
            verify_tls: true,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            https_proxy: env.https_proxy.clone(),
            http_proxy: env.http_proxy.clone(),
            no_proxy: env.no_proxy.clone(),
        }
    }
}

/// Why the HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot read CA bundle {path}")]
    ReadCaBundle {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("CA bundle {path} holds no usable certificate{}", .reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default())]
    EmptyCaBundle {
        path: PathBuf,
        reason: Option<String>,
    },
    #[error("invalid proxy URL in {variable}: {url:?}")]
    Proxy {
        variable: &'static str,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("cannot set up TLS")]
    Tls(#[source] rustls::Error),
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
}

/// Builds the HTTP client for `settings`.
pub fn build_client(settings: &TransportSettings) -> Result<reqwest::Client, TransportError> {
    builder(settings)?.build().map_err(TransportError::Client)
}

/// The two clients of the desktop's profiles: one for APIs, one for web pages.
#[derive(Debug, Clone)]
pub struct Clients {
    /// AWS and identity-provider APIs ([`build_client`]).
    pub api: reqwest::Client,
    /// Sign-in pages, following no redirects ([`build_page_client`]).
    pub pages: reqwest::Client,
}

impl Clients {
    pub fn build(settings: &TransportSettings) -> Result<Self, TransportError> {
        Ok(Self {
            api: build_client(settings)?,
            pages: build_page_client(settings)?,
        })
    }
}

/// Like [`build_client`], but following no redirects: for conversations with web pages
/// (a SAML sign-in by form) that follow them themselves, keeping the cookies set on the
/// way and checking every hop.
pub fn build_page_client(settings: &TransportSettings) -> Result<reqwest::Client, TransportError> {
    builder(settings)?
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(TransportError::Client)
}

fn builder(settings: &TransportSettings) -> Result<reqwest::ClientBuilder, TransportError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TransportError::Tls)?;
    let tls = if settings.verify_tls {
        builder
            .with_root_certificates(root_store(settings.ca_bundle.as_deref())?)
            .with_no_client_auth()
    } else {
        tracing::warn!(
            "TLS certificate verification is OFF (--no-verify-ssl): anyone on the network path can impersonate AWS and read the credentials"
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoCertificateVerification(provider)))
            .with_no_client_auth()
    };

    let mut client = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.request_timeout)
        .user_agent(concat!("needroleshere/", env!("CARGO_PKG_VERSION")))
        .no_proxy();
    let no_proxy = settings
        .no_proxy
        .as_deref()
        .and_then(reqwest::NoProxy::from_string);
    if let Some(url) = &settings.https_proxy {
        let proxy = reqwest::Proxy::https(url).map_err(|source| TransportError::Proxy {
            variable: "HTTPS_PROXY",
            url: redact_userinfo(url),
            source,
        })?;
        client = client.proxy(proxy.no_proxy(no_proxy.clone()));
    }
    if let Some(url) = &settings.http_proxy {
        let proxy = reqwest::Proxy::http(url).map_err(|source| TransportError::Proxy {
            variable: "HTTP_PROXY",
            url: redact_userinfo(url),
            source,
        })?;
        client = client.proxy(proxy.no_proxy(no_proxy));
    }
    Ok(client)
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// Backoff before retry n is uniformly random in [0, min(cap, base * 2^n)].
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: 3,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// Runs `attempt` until it succeeds, fails in a way `retryable` calls final, or the
    /// retries are spent, sleeping [`RetryPolicy::backoff`] between tries; each retry is
    /// logged as "`what` failed; retrying".
    pub async fn run<T, E, Fut>(
        &self,
        what: &str,
        retryable: impl Fn(&E) -> bool,
        mut attempt: impl FnMut() -> Fut,
    ) -> Result<T, E>
    where
        E: std::fmt::Display,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let mut retry = 0;
        loop {
            match attempt().await {
                Err(error) if retry < self.retries && retryable(&error) => {
                    let wait = self.backoff(retry);
                    tracing::warn!(%error, retry = retry + 1, wait_ms = wait.as_millis() as u64, "{what} failed; retrying");
                    tokio::time::sleep(wait).await;
                    retry += 1;
                }
                other => return other,
            }
        }
    }

    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.cap);
        let mut random = [0u8; 4];
        // SystemRandom only fails when the OS has no entropy source; no jitter then.
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random);
        let fraction = f64::from(u32::from_le_bytes(random)) / f64::from(u32::MAX);
        ceiling.mul_f64(fraction)
    }
}

fn root_store(ca_bundle: Option<&Path>) -> Result<rustls::RootCertStore, TransportError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::debug!(%error, "skipping unreadable system trust root");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(added, ignored, "loaded system trust roots");

    if let Some(path) = ca_bundle {
        let pem = std::fs::read(path).map_err(|source| TransportError::ReadCaBundle {
            path: path.to_owned(),
            source,
        })?;
        let blocks = pem::parse_many(&pem).map_err(|e| TransportError::EmptyCaBundle {
            path: path.to_owned(),
            reason: Some(e.to_string()),
        })?;
        let certs = blocks
            .into_iter()
            .filter(|b| b.tag() == "CERTIFICATE")
            .map(|b| CertificateDer::from(b.into_contents()));
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(TransportError::EmptyCaBundle {
                path: path.to_owned(),
                reason: None,
            });
        }
        tracing::debug!(added, path = %path.display(), "loaded CA bundle");
    }
    Ok(roots)
}

/// `--no-verify-ssl`: accepts any server certificate, but still checks that the server holds
/// the key of the certificate it presented.
#[derive(Debug)]
struct NoCertificateVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoCertificateVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ca_bundle_names_the_file() {
        let settings = TransportSettings {
            ca_bundle: Some("/nonexistent/ca.pem".into()),
            ..TransportSettings::from_environment(&Environment::default())
        };
        let err = build_client(&settings).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn ca_bundle_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let settings = TransportSettings {
            ca_bundle: Some(path),
            ..TransportSettings::from_environment(&Environment::default())
        };
        let err = build_client(&settings).unwrap_err();
        assert!(
            err.to_string().contains("holds no usable certificate"),
            "{err}"
        );
    }

    #[test]
    fn bad_proxy_url_names_the_variable() {
        let settings = TransportSettings {
            https_proxy: Some("http://[bad".into()),
            ..TransportSettings::from_environment(&Environment::default())
        };
        let err = build_client(&settings).unwrap_err();
        assert!(err.to_string().contains("HTTPS_PROXY"), "{err}");
    }
}
