//! From a binding to credentials, for every front: load the identity (a `stat` per file when
//! unchanged), check its validity, and ask the cache, keyed by the binding's request and
//! versioned by a fingerprint of its certificate, so a renewed certificate gets fresh
//! credentials. The CreateSession client (region, endpoint) and the cache key are worked out
//! once per binding file, not once per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use sha2::{Digest as _, Sha256};

use crate::arn::Region;
use crate::binding::{Binding, BindingName};
use crate::cache::{Cache, CacheError, Fetcher, Policy};
use crate::clock::Clock;
use crate::credentials::Credentials;
use crate::env::Environment;
use crate::identity::{IdentityCache, IdentityError};
use crate::rolesanywhere::{self, RolesAnywhereError, Source, SourceError};

/// Where CreateSession goes when a binding does not say.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// `serve --region`.
    pub region: Option<Region>,
    /// `serve --endpoint`.
    pub endpoint: Option<String>,
    pub env: Environment,
}

/// Why a binding got no credentials.
#[derive(Debug, thiserror::Error)]
pub enum VendError {
    #[error("cannot load the certificate or key")]
    Identity(#[source] IdentityError),
    #[error("the certificate is not valid now")]
    CertificateNotValid(#[source] IdentityError),
    #[error("no usable CreateSession endpoint")]
    Endpoint(#[source] RolesAnywhereError),
    #[error(transparent)]
    Upstream(CacheError<SourceError>),
}

impl VendError {
    /// The HTTP status, a stable code and a short description for the caller; the detail
    /// stays in the log.
    pub fn class(&self) -> (StatusCode, &'static str, &'static str) {
        const IDENTITY: (StatusCode, &str, &str) = (
            StatusCode::INTERNAL_SERVER_ERROR,
            "IdentityUnavailable",
            "the certificate or key cannot be used",
        );
        const ENDPOINT: (StatusCode, &str, &str) = (
            StatusCode::INTERNAL_SERVER_ERROR,
            "BadEndpoint",
            "the CreateSession endpoint is misconfigured",
        );
        match self {
            Self::Identity(_) => IDENTITY,
            Self::CertificateNotValid(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "CertificateNotValid",
                "the certificate is not valid now",
            ),
            Self::Endpoint(_) => ENDPOINT,
            Self::Upstream(CacheError::Source(source)) => match source.as_ref() {
                SourceError::Identity(_)
                | SourceError::Service(RolesAnywhereError::Identity(_)) => IDENTITY,
                SourceError::Service(RolesAnywhereError::Service { status, .. })
                    if *status == 429 || *status >= 500 =>
                {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "UpstreamUnavailable",
                        "IAM Roles Anywhere is unavailable",
                    )
                }
                SourceError::Service(RolesAnywhereError::Service { .. }) => (
                    StatusCode::BAD_GATEWAY,
                    "UpstreamRefused",
                    "IAM Roles Anywhere refused the request",
                ),
                SourceError::Service(RolesAnywhereError::Transport { source, .. })
                    if source.is_timeout() =>
                {
                    (
                        StatusCode::GATEWAY_TIMEOUT,
                        "UpstreamTimeout",
                        "IAM Roles Anywhere did not answer in time",
                    )
                }
                SourceError::Service(RolesAnywhereError::Transport { .. }) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "UpstreamUnavailable",
                    "IAM Roles Anywhere cannot be reached",
                ),
                SourceError::Service(RolesAnywhereError::BadResponse { .. }) => (
                    StatusCode::BAD_GATEWAY,
                    "UpstreamInvalid",
                    "IAM Roles Anywhere gave an unreadable answer",
                ),
                SourceError::Service(
                    RolesAnywhereError::BadEndpoint(_) | RolesAnywhereError::NoFipsEndpoint { .. },
                ) => ENDPOINT,
            },
            Self::Upstream(CacheError::Timeout(_)) => (
                StatusCode::GATEWAY_TIMEOUT,
                "UpstreamTimeout",
                "IAM Roles Anywhere did not answer in time",
            ),
            Self::Upstream(CacheError::Aborted) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "the credential fetch failed",
            ),
        }
    }
}

/// Turns bindings into credentials; shared by every front of one `serve` process.
pub struct Vendor {
    identities: Arc<IdentityCache>,
    /// Keyed by what decides the credentials (files, request, region, endpoint), not by the
    /// binding's name: bindings of one identity share one entry.
    cache: Cache<[u8; 32], SourceError>,
    http: reqwest::Client,
    defaults: Defaults,
    /// Per binding name, what its requests need while its file is unchanged: resolving the
    /// endpoint and hashing the request once per binding file, not once per request.
    prepared: Mutex<HashMap<BindingName, Arc<Prepared>>>,
    clock: Arc<dyn Clock>,
}

/// A binding with its CreateSession client and its cache key.
struct Prepared {
    binding: Arc<Binding>,
    client: rolesanywhere::Client,
    key: [u8; 32],
}

impl std::fmt::Debug for Vendor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vendor")
            .field("defaults", &self.defaults)
            .finish_non_exhaustive()
    }
}

impl Vendor {
    pub fn new(
        http: reqwest::Client,
        defaults: Defaults,
        clock: Arc<dyn Clock>,
        policy: Policy,
    ) -> Self {
        Self {
            identities: Arc::new(IdentityCache::default()),
            cache: Cache::new(clock.clone(), policy),
            http,
            defaults,
            prepared: Mutex::new(HashMap::new()),
            clock,
        }
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Credentials for `binding`. Failures are logged here with their whole cause.
    pub async fn credentials(&self, binding: &Arc<Binding>) -> Result<Arc<Credentials>, VendError> {
        let result = self.fetch(binding).await;
        match &result {
            Ok(credentials) => {
                tracing::debug!(binding = %binding.name, access_key_id = %credentials.access_key_id, "vended credentials");
            }
            Err(error) => {
                let chain = match error {
                    VendError::Upstream(e) => format!("{:#}", anyhow::Error::new(e.clone())),
                    other => format!("{:#}", anyhow::anyhow!("{other}: {}", super::causes(other))),
                };
                tracing::error!(binding = %binding.name, error = %chain, "no credentials");
            }
        }
        result
    }

    async fn fetch(&self, binding: &Arc<Binding>) -> Result<Arc<Credentials>, VendError> {
        let prepared = self.prepare(binding).map_err(VendError::Endpoint)?;
        let key = prepared.key;
        // The certificate is the entry's version: a renewed one makes the next request fetch
        // anew. While the files cannot be used (a renewal half done, an expired certificate),
        // valid cached credentials still answer.
        let version = match self.identities.load(&binding.files) {
            Ok(identity) => match identity.ensure_valid_at(self.clock.now()) {
                Ok(()) => identity.fingerprint(),
                Err(error) => {
                    return self.fallback(&key, binding, VendError::CertificateNotValid(error));
                }
            },
            Err(error) => return self.fallback(&key, binding, VendError::Identity(error)),
        };
        // Called only when the key is new, so a cached answer builds no source.
        let fetcher = || -> Fetcher<SourceError> {
            let source = Source::new(
                prepared.client.clone(),
                prepared.binding.files.clone(),
                prepared.binding.session.clone(),
                self.identities.clone(),
            );
            Arc::new(move || {
                let source = source.clone();
                Box::pin(async move { source.fetch().await })
            })
        };
        self.cache
            .get(key, version, fetcher)
            .await
            .map_err(VendError::Upstream)
    }

    /// The client and cache key of `binding`, computed again only when its file changed
    /// (the store then hands out a new `Arc`).
    fn prepare(&self, binding: &Arc<Binding>) -> Result<Arc<Prepared>, RolesAnywhereError> {
        let lock = || self.prepared.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(prepared) = lock().get(&binding.name)
            && Arc::ptr_eq(&prepared.binding, binding)
        {
            return Ok(prepared.clone());
        }
        let client = self.client_for(binding)?;
        let prepared = Arc::new(Prepared {
            key: request_digest(binding, &client),
            binding: binding.clone(),
            client,
        });
        lock().insert(binding.name.clone(), prepared.clone());
        Ok(prepared)
    }

    fn fallback(
        &self,
        key: &[u8; 32],
        binding: &Binding,
        error: VendError,
    ) -> Result<Arc<Credentials>, VendError> {
        match self.cache.last_good(key) {
            Some(credentials) => {
                tracing::warn!(binding = %binding.name, error = %format!("{error}: {}", super::causes(&error)), "serving cached credentials while the certificate or key cannot be used");
                Ok(credentials)
            }
            None => Err(error),
        }
    }

    /// The region `binding` calls: its own, else `serve --region`, else the environment's,
    /// else its trust anchor's.
    pub fn region_for(&self, binding: &Binding) -> Region {
        binding
            .region
            .clone()
            .or_else(|| self.defaults.region.clone())
            .or_else(|| {
                self.defaults
                    .env
                    .region
                    .as_deref()
                    .and_then(|r| r.parse().ok())
            })
            .unwrap_or_else(|| binding.session.trust_anchor_arn.region())
    }

    /// The CreateSession client for `binding`: its region and endpoint, else the defaults.
    fn client_for(&self, binding: &Binding) -> Result<rolesanywhere::Client, RolesAnywhereError> {
        let region = self.region_for(binding);
        let endpoint = rolesanywhere::resolve_endpoint(
            binding
                .endpoint
                .as_deref()
                .or(self.defaults.endpoint.as_deref()),
            &self.defaults.env,
            &region,
        )?;
        // Cheap: the HTTP client (and its connection pool) is shared, not copied.
        Ok(rolesanywhere::Client::new(
            self.http.clone(),
            endpoint,
            region,
            self.clock.clone(),
        ))
    }
}

/// What decides a binding's credentials besides its certificate's content: the identity
/// files, the request, the region and the endpoint.
fn request_digest(binding: &Binding, client: &rolesanywhere::Client) -> [u8; 32] {
    let session = &binding.session;
    let mut digest = Sha256::new();
    let files = &binding.files;
    for path in files
        .certificates
        .iter()
        .chain(&files.intermediates)
        .chain([&files.private_key])
    {
        let path = path.as_os_str().as_encoded_bytes();
        digest.update((path.len() as u64).to_be_bytes());
        digest.update(path);
    }
    for part in [
        session.trust_anchor_arn.as_str(),
        session.profile_arn.as_str(),
        session.role_arn.as_str(),
        &session.duration.seconds().to_string(),
        session
            .role_session_name
            .as_ref()
            .map_or("", |n| n.as_str()),
        client.region().as_str(),
        client.endpoint().as_str(),
    ] {
        // Length-prefixed, so no two different requests hash the same bytes.
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part.as_bytes());
    }
    digest.finalize().into()
}
