//! What the binding fronts (ECS and IMDS of `serve`) share: the binding sources and the one
//! credential cache. A front asks [`Vendor::lookup`] (and [`Vendor::wait`] on a miss); failures
//! are logged here, once, with their whole cause, and answered by [`super::answer`].

use std::sync::Arc;

use crate::arn::Region;
use crate::binding::Binding;
use crate::cache::{Cache, Hold, Lookup, Outcome, Pending, Policy};
use crate::credentials::Credentials;
use crate::source::binding::{Bindings, Defaults};
use crate::system::clock::Clock;
use crate::system::watch::Watch;

/// Credentials for bindings, through the cache; shared by every front of one process.
#[derive(Debug)]
pub struct Vendor {
    bindings: Bindings,
    cache: Arc<Cache>,
}

impl Vendor {
    pub fn new(
        http: reqwest::Client,
        defaults: Defaults,
        clock: Arc<dyn Clock>,
        policy: Policy,
    ) -> Self {
        Self {
            bindings: Bindings::new(http, defaults, clock.clone()),
            cache: Arc::new(Cache::new(clock, policy)),
        }
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        self.cache.clock()
    }

    /// Credentials for `binding`, from the cache: [`Vendor::lookup`], and its wait.
    pub async fn credentials(&self, binding: &Arc<Binding>) -> Outcome {
        match self.lookup(binding) {
            Lookup::Ready(outcome) => outcome,
            Lookup::Pending(pending) => self.wait(binding, pending).await,
        }
    }

    /// Credentials for `binding` without waiting (see [`Cache::lookup`]): a cached answer
    /// needs no future. A [`Lookup::Pending`] is finished by [`Vendor::wait`].
    pub fn lookup(&self, binding: &Arc<Binding>) -> Lookup {
        match self.bindings.source(binding) {
            Ok(source) => match self.cache.lookup(&source) {
                Lookup::Ready(outcome) => Lookup::Ready(vended(binding, outcome)),
                pending @ Lookup::Pending(_) => pending,
            },
            Err(error) => Lookup::Ready(vended(binding, Err(error))),
        }
    }

    /// The end of a [`Vendor::lookup`] that had to wait.
    pub async fn wait(&self, binding: &Arc<Binding>, pending: Pending) -> Outcome {
        vended(binding, pending.wait().await)
    }

    /// What keeps `credentials`, just answered by [`Vendor::lookup`] for `binding`, the
    /// answer while `watch` tells no change (see [`Cache::hold`]).
    pub fn hold(
        &self,
        binding: &Arc<Binding>,
        credentials: &Arc<Credentials>,
        watch: &Arc<Watch>,
    ) -> Option<Hold> {
        let source = self.bindings.source(binding).ok()?;
        self.cache.hold(&source, credentials, watch)
    }

    /// What the cache holds for `binding` (see [`crate::cache::Cache::report`]); `None`
    /// when nothing was asked for it yet.
    pub fn report(&self, binding: &Arc<Binding>) -> Option<crate::cache::EntryReport> {
        let source = self.bindings.source(binding).ok()?;
        self.cache.report(&source.key())
    }

    /// The region `binding` calls.
    pub fn region_for(&self, binding: &Binding) -> Region {
        self.bindings.region_for(binding)
    }
}

/// `outcome`, logged: failures here, once, with their whole cause.
fn vended(binding: &Binding, outcome: Outcome) -> Outcome {
    match &outcome {
        Ok(credentials) => log_vended(binding, credentials),
        Err(error) => super::answer::log(&format!("binding {}", binding.name), error),
    }
    outcome
}

/// The line every credentials answered for a binding logs (at debug).
pub(crate) fn log_vended(binding: &Binding, credentials: &Credentials) {
    tracing::debug!(binding = %binding.name, access_key_id = %credentials.access_key_id, "vended credentials");
}
