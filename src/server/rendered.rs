//! Answers rendered once per credentials: a cached credential request then serialises
//! nothing and copies no secret, it hands out the same bytes again.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;

use crate::binding::Binding;
use crate::credentials::Credentials;

/// The last body rendered per key, valid while the binding and the credentials it was
/// rendered from are the very same (`Arc`) ones: the store hands out a new binding when its
/// file changes, the cache new credentials when it fetches.
#[derive(Debug)]
pub struct Rendered<K> {
    bodies: Mutex<HashMap<K, Entry>>,
}

#[derive(Debug)]
struct Entry {
    binding: Arc<Binding>,
    credentials: Arc<Credentials>,
    body: Bytes,
}

impl<K: Hash + Eq + Clone> Default for Rendered<K> {
    fn default() -> Self {
        Self {
            bodies: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq + Clone> Rendered<K> {
    /// The body for `key`: the one rendered before from `binding` and `credentials`, else
    /// what `render` makes now (kept for next time).
    pub fn get_or_render<E>(
        &self,
        key: &K,
        binding: &Arc<Binding>,
        credentials: &Arc<Credentials>,
        render: impl FnOnce() -> Result<Bytes, E>,
    ) -> Result<Bytes, E> {
        if let Some(entry) = self.lock().get(key)
            && Arc::ptr_eq(&entry.binding, binding)
            && Arc::ptr_eq(&entry.credentials, credentials)
        {
            return Ok(entry.body.clone());
        }
        let body = render()?;
        self.lock().insert(
            key.clone(),
            Entry {
                binding: binding.clone(),
                credentials: credentials.clone(),
                body: body.clone(),
            },
        );
        Ok(body)
    }

    /// Drops what was kept for `key` (its binding is gone).
    pub fn forget(&self, key: &K) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Entry>> {
        // Only copies of rendered answers live here; a panic elsewhere leaves them valid.
        self.bodies.lock().unwrap_or_else(|p| p.into_inner())
    }
}
