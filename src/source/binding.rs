//! The binding source: the X.509 identity a binding file names, for every front of one
//! `serve` process. Per binding file (the store hands out a new `Arc` when the file
//! changes) the CreateSession client — region and endpoint resolved — and the cache key are
//! worked out once, not once per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::arn::Region;
use crate::aws::rolesanywhere;
use crate::binding::{Binding, BindingName};
use crate::identity::{IdentityCache, IdentityFiles};
use crate::source::rolesanywhere::{IdentitySource, service_error};
use crate::source::{Source, SourceError};
use crate::system::clock::Clock;
use crate::system::env::Environment;
use crate::system::watch::Watch;

/// Where CreateSession goes when a binding does not say.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// `serve --region`.
    pub region: Option<Region>,
    /// `serve --endpoint`.
    pub endpoint: Option<String>,
    pub env: Environment,
}

/// Turns bindings into sources; see the module docs.
pub struct Bindings {
    identities: Arc<IdentityCache>,
    http: reqwest::Client,
    defaults: Defaults,
    clock: Arc<dyn Clock>,
    prepared: Mutex<rustc_hash::FxHashMap<BindingName, Prepared>>,
    /// One CreateSession client per region and endpoint, shared by the bindings that call it.
    clients: Mutex<HashMap<(Region, url::Url), Arc<rolesanywhere::Client>>>,
}

/// The source of one binding file.
struct Prepared {
    binding: Arc<Binding>,
    source: Arc<dyn Source>,
}

impl std::fmt::Debug for Bindings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bindings")
            .field("defaults", &self.defaults)
            .finish_non_exhaustive()
    }
}

impl Bindings {
    pub fn new(http: reqwest::Client, defaults: Defaults, clock: Arc<dyn Clock>) -> Self {
        Self {
            identities: Arc::new(IdentityCache::default()),
            http,
            defaults,
            clock,
            prepared: Mutex::default(),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The source of `binding`, made again only when its file changed.
    pub fn source(&self, binding: &Arc<Binding>) -> Result<Arc<dyn Source>, SourceError> {
        let lock = || self.prepared.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(prepared) = lock().get(&binding.name)
            && Arc::ptr_eq(&prepared.binding, binding)
        {
            return Ok(prepared.source.clone());
        }
        // `credential:NAME` PINs and passwords are this process's systemd credentials, and
        // the TPM is the daemon's TCTI, not the binding's. When those change nothing, the
        // source shares the binding's files rather than holding a copy.
        let env = &self.defaults.env;
        let device = &binding.files.device;
        let files = if device.credentials_directory == env.credentials_directory
            && device.tpm_tcti == env.tpm_tcti
        {
            binding.files.clone()
        } else {
            let mut files = IdentityFiles::clone(&binding.files);
            files.device.credentials_directory = env.credentials_directory.clone();
            files.device.tpm_tcti = env.tpm_tcti.clone();
            Arc::new(files)
        };
        let source: Arc<dyn Source> = Arc::new(IdentitySource::new(
            self.client_for(binding).map_err(service_error)?,
            files,
            binding.session.clone(),
            self.identities.clone(),
            Watch::global().clone(),
        ));
        lock().insert(
            binding.name.clone(),
            Prepared {
                binding: binding.clone(),
                source: source.clone(),
            },
        );
        Ok(source)
    }

    /// Forgets what was prepared for an unbound binding.
    pub fn forget(&self, name: &BindingName) {
        self.prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
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
    fn client_for(
        &self,
        binding: &Binding,
    ) -> Result<Arc<rolesanywhere::Client>, rolesanywhere::RolesAnywhereError> {
        let region = self.region_for(binding);
        let endpoint = rolesanywhere::resolve_endpoint(
            binding
                .endpoint
                .as_deref()
                .or(self.defaults.endpoint.as_deref()),
            &self.defaults.env,
            &region,
        )?;
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let client = clients
            .entry((region.clone(), endpoint.clone()))
            .or_insert_with(|| {
                // The HTTP client (and its connection pool) is shared, not copied.
                Arc::new(rolesanywhere::Client::new(
                    self.http.clone(),
                    endpoint,
                    region,
                    self.clock.clone(),
                ))
            });
        Ok(client.clone())
    }
}
