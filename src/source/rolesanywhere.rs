//! The X.509 identity source: a certificate chain and private key, exchanged for credentials
//! by IAM Roles Anywhere `CreateSession` ([`crate::aws::rolesanywhere::Client`]).
//!
//! * Key: the identity files, the request (trust anchor, profile, role, duration, session
//!   name), the region and the endpoint; sources that agree on all of them share credentials.
//! * Version: the fingerprint of the certificate chain and key as they are on disk now (read
//!   through the shared [`IdentityCache`], a `stat` per file when unchanged, nothing at all
//!   while file-change notification says they are unchanged), so a renewed certificate gets
//!   fresh credentials at the next request. A certificate outside its
//!   validity window makes the source unusable: valid cached credentials still answer.
//! * Fetch: loads and checks the identity again, then calls CreateSession.

use std::sync::Arc;

use crate::arn::Region;
use crate::aws::rolesanywhere::{Client, RolesAnywhereError, SessionRequest};
use crate::credentials::Credentials;
use crate::identity::{Identity, IdentityCache, IdentityError, IdentityFiles, Location};
use crate::source::{FetchFuture, Key, Kind, Source, SourceError, Version, digest};
use crate::system::watch::{Kept, Watch};

/// Credentials for one role from IAM Roles Anywhere; see the module docs.
#[derive(Debug, Clone)]
pub struct IdentitySource {
    // Shared, not copied: `serve` holds a source per binding (10,000 bindings), most with
    // the binding's own files and request and one client for all, and each fetch clones it.
    client: Arc<Client>,
    files: Arc<IdentityFiles>,
    session: Arc<SessionRequest>,
    identities: Arc<IdentityCache>,
    /// The identity last read, while its files are unchanged: a cached request then reads
    /// nothing, not even their metadata.
    kept: Arc<Kept<Arc<Identity>>>,
    key: Key,
}

impl IdentitySource {
    pub fn new(
        client: impl Into<Arc<Client>>,
        files: impl Into<Arc<IdentityFiles>>,
        session: impl Into<Arc<SessionRequest>>,
        identities: Arc<IdentityCache>,
        watch: Arc<Watch>,
    ) -> Self {
        let (client, files, session) = (client.into(), files.into(), session.into());
        let key = identity_key(&files, &session, client.region(), client.endpoint());
        Self {
            client,
            files,
            session,
            kept: Arc::new(Kept::new(watch)),
            identities,
            key,
        }
    }

    pub fn session(&self) -> &SessionRequest {
        &self.session
    }

    /// Loads the identity, checks it is valid now, and calls CreateSession.
    /// The identity as its files are now: the one kept while the watch says they are
    /// unchanged, else read through the shared cache.
    fn identity(&self) -> Result<Arc<Identity>, SourceError> {
        if let Some(identity) = self.kept.get() {
            return Ok(identity);
        }
        // Before reading: a change from here on is seen by the next request.
        let seen = self.kept.observe(self.files.watched_paths());
        let identity = self.identities.load(&self.files).map_err(identity_error)?;
        self.kept.keep(seen, identity.clone());
        Ok(identity)
    }

    pub async fn fetch_now(&self) -> Result<Credentials, SourceError> {
        let identity = self.identity()?;
        identity
            .ensure_valid_at(self.client.clock().now())
            .map_err(|e| SourceError::new(Kind::CertificateNotValid, e))?;
        self.client
            .create_session(&identity, &self.session)
            .await
            .map_err(service_error)
    }
}

impl Source for IdentitySource {
    fn key(&self) -> Key {
        self.key
    }

    fn version(&self, now: time::OffsetDateTime) -> Result<Version, SourceError> {
        let version = |identity: &Arc<Identity>| {
            identity
                .ensure_valid_at(now)
                .map_err(|e| SourceError::new(Kind::CertificateNotValid, e))?;
            Ok(identity.fingerprint())
        };
        // The kept identity looked at in place: a cached request copies nothing of it.
        match self.kept.with(version) {
            Some(version) => version,
            None => version(&self.identity()?),
        }
    }

    /// The fingerprint until the certificate's end, while its files are kept under `watch`
    /// and it is valid now: until then only a change to them changes the version (the
    /// fingerprint, and whether the certificate is valid).
    fn steady_version(
        &self,
        watch: &Arc<Watch>,
        now: time::OffsetDateTime,
    ) -> Option<(Version, time::OffsetDateTime)> {
        self.kept
            .with_under(watch, |identity| {
                identity
                    .ensure_valid_at(now)
                    .is_ok()
                    .then(|| (identity.fingerprint(), identity.leaf().not_after()))
            })
            .flatten()
    }

    fn fetch(&self) -> FetchFuture {
        let source = self.clone();
        Box::pin(async move { source.fetch_now().await })
    }
}

fn identity_error(error: IdentityError) -> SourceError {
    let kind = match error {
        IdentityError::DeviceUnavailable { .. } => Kind::DeviceUnavailable,
        _ => Kind::Identity,
    };
    SourceError::new(kind, error)
}

/// The kind of a CreateSession failure.
pub fn service_error(error: RolesAnywhereError) -> SourceError {
    let kind = match &error {
        RolesAnywhereError::BadEndpoint(_) | RolesAnywhereError::NoFipsEndpoint { .. } => {
            Kind::Endpoint
        }
        RolesAnywhereError::Identity(IdentityError::DeviceUnavailable { .. }) => {
            Kind::DeviceUnavailable
        }
        RolesAnywhereError::Identity(_) => Kind::Identity,
        RolesAnywhereError::Service { status, .. } if *status == 429 || *status >= 500 => {
            Kind::Unavailable
        }
        RolesAnywhereError::Service { .. } => Kind::Refused,
        RolesAnywhereError::ClockSkew { .. } => Kind::ClockSkew,
        RolesAnywhereError::Transport { source, .. } if source.is_timeout() => Kind::TimedOut,
        RolesAnywhereError::Transport { .. } => Kind::Unavailable,
        RolesAnywhereError::BadResponse { .. } => Kind::InvalidAnswer,
    };
    SourceError::new(kind, error)
}

/// What decides an identity's credentials besides its certificate's content: the identity
/// files, the request, the region and the endpoint. The key of [`IdentitySource`], and of
/// the entries `credential-process` shares ([`crate::process_cache`]).
pub fn identity_key(
    files: &IdentityFiles,
    session: &SessionRequest,
    region: &Region,
    endpoint: &url::Url,
) -> Key {
    let duration = session.duration.seconds().to_string();
    let locations: Vec<std::ffi::OsString> = files
        .certificates
        .iter()
        .map(Location::to_os_string)
        .chain(files.intermediates.iter().map(|p| p.as_os_str().to_owned()))
        .chain([files.private_key.to_os_string()])
        .collect();
    let paths = locations.iter().map(|text| text.as_encoded_bytes());
    let request = [
        session.trust_anchor_arn.as_str(),
        session.profile_arn.as_str(),
        session.role_arn.as_str(),
        &duration,
        session
            .role_session_name
            .as_ref()
            .map_or("", |n| n.as_str()),
        region.as_str(),
        endpoint.as_str(),
    ]
    .map(str::as_bytes);
    // The number of paths first, so paths and request parts cannot trade places.
    let count = (files.certificates.len() + files.intermediates.len()).to_be_bytes();
    digest(
        std::iter::once(count.as_slice())
            .chain(paths)
            .chain(request),
    )
}
