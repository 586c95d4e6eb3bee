//! Answers rendered once per credentials: a cached credential request then serialises
//! nothing and copies no secret, it hands out the same bytes again.

use rustc_hash::FxHashMap as HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;

use crate::binding::Binding;
use crate::credentials::Credentials;

/// The last body rendered per key, valid while the binding and the credentials it was
/// rendered from are the very same (`Arc`) ones: the store hands out a new binding when its
/// file changes, the cache new credentials when it fetches.
pub(crate) struct Rendered<K> {
    bodies: Mutex<HashMap<K, Entry>>,
}

/// The bodies hold secrets: `Debug` shows how many there are, never what they say.
impl<K> std::fmt::Debug for Rendered<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.bodies.lock().map_or(0, |bodies| bodies.len());
        f.debug_struct("Rendered")
            .field("bodies", &count)
            .finish_non_exhaustive()
    }
}

struct Entry {
    binding: Arc<Binding>,
    credentials: Arc<Credentials>,
    body: Bytes,
}

impl<K: Hash + Eq + Clone> Default for Rendered<K> {
    fn default() -> Self {
        Self {
            bodies: Mutex::new(HashMap::default()),
        }
    }
}

impl<K: Hash + Eq + Clone> Rendered<K> {
    /// The body for `key`: the one rendered before from `binding` and `credentials`, else
    /// what `render` makes now (kept for next time).
    pub(crate) fn get_or_render<E>(
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
        // Kept at its length: rendering reserves 1 KiB, which per binding adds up (issue 21:
        // 10,000 bindings). One copy per credentials, not per request.
        let body = Bytes::copy_from_slice(&render()?);
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
    pub(crate) fn forget(&self, key: &K) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Entry>> {
        // Only copies of rendered answers live here; a panic elsewhere leaves them valid.
        self.bodies.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arn::SessionDuration;
    use crate::aws::rolesanywhere::SessionRequest;
    use crate::binding::{Binding, Mode};
    use crate::credentials::Credentials;
    use crate::identity::IdentityFiles;
    use crate::secret::Secret;

    fn binding() -> Arc<Binding> {
        let session = SessionRequest {
            trust_anchor_arn: "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/ta"
                .parse()
                .unwrap(),
            profile_arn: "arn:aws:rolesanywhere:us-east-1:123456789012:profile/p"
                .parse()
                .unwrap(),
            role_arn: "arn:aws:iam::123456789012:role/r".parse().unwrap(),
            duration: SessionDuration::DEFAULT,
            role_session_name: None,
        };
        let files = IdentityFiles {
            certificates: vec!["/c.pem".into()],
            intermediates: Vec::new(),
            private_key: "/k.pem".into(),
            pkcs8_password: None,
            device: Default::default(),
        };
        let (binding, _) = Binding::create(
            "b".parse().unwrap(),
            Mode::EcsFull,
            files,
            session,
            None,
            None,
        )
        .unwrap();
        Arc::new(binding)
    }

    fn credentials(secret: &str) -> Arc<Credentials> {
        Arc::new(Credentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: Secret::new(secret.to_owned()),
            session_token: None,
            expiration: None,
            role_arn: None,
        })
    }

    #[test]
    fn renders_again_only_for_other_credentials_or_another_binding() {
        let rendered = Rendered::<u8>::default();
        let (b1, c1) = (binding(), credentials("first"));
        let render = |text: &'static str| move || Ok::<_, ()>(Bytes::from_static(text.as_bytes()));
        assert_eq!(
            rendered.get_or_render(&0, &b1, &c1, render("one")),
            Ok("one".into())
        );
        assert_eq!(
            rendered.get_or_render(&0, &b1, &c1, render("two")),
            Ok("one".into())
        );
        // The same values in a new Arc are new credentials: a refresh.
        let c2 = credentials("first");
        assert_eq!(
            rendered.get_or_render(&0, &b1, &c2, render("three")),
            Ok("three".into())
        );
        let b2 = binding();
        assert_eq!(
            rendered.get_or_render(&0, &b2, &c2, render("four")),
            Ok("four".into())
        );
        assert_eq!(
            rendered.get_or_render(&1, &b2, &c2, render("five")),
            Ok("five".into())
        );
        rendered.forget(&0);
        assert_eq!(
            rendered.get_or_render(&0, &b2, &c2, render("six")),
            Ok("six".into())
        );
        // A failed render keeps nothing.
        let failed: Result<Bytes, &str> = rendered.get_or_render(&2, &b2, &c2, || Err("no"));
        assert_eq!(failed, Err("no"));
        assert_eq!(
            rendered.get_or_render(&2, &b2, &c2, || Ok::<_, &str>("seven".into())),
            Ok("seven".into())
        );
    }

    #[test]
    fn debug_never_shows_a_body() {
        let rendered = Rendered::<u8>::default();
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let _ = rendered.get_or_render(&0, &binding(), &credentials(secret), || {
            Ok::<_, ()>(Bytes::from(format!("{{\"SecretAccessKey\":\"{secret}\"}}")))
        });
        let shown = format!("{rendered:?}");
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains("bodies: 1"), "{shown}");
    }
}
