//! Bearer tokens: `needroleshere.<name>.<secret>`, the secret 64 random bytes in base64url
//! without padding; a binding stores only base64url(SHA-384(secret)), compared in constant
//! time.

use rustc_hash::FxHashMap as HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use sha2::{Digest as _, Sha384};

use subtle::ConstantTimeEq as _;

use super::{Binding, BindingError, BindingName};
use crate::secret::Secret;

const TOKEN_PREFIX: &str = "needroleshere.";
const SECRET_BYTES: usize = 64;
/// base64url of 64 bytes is 86 characters; anything much longer is not a token of ours.
const MAX_SECRET_CHARS: usize = 128;
/// A bearer token `needroleshere.<name>.<secret>`.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    name: BindingName,
    secret: Secret,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Why a presented token was refused before any binding was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token does not start with 'needroleshere.'")]
    Prefix,
    #[error("the token has no secret part")]
    NoSecret,
    #[error("the token names an invalid binding")]
    BadName,
    #[error("the token's secret is not base64url of the right length")]
    BadSecret,
}

impl AccessToken {
    /// A new token with a fresh 64-byte secret.
    pub fn generate(name: BindingName) -> Result<Self, BindingError> {
        let mut raw = zeroize::Zeroizing::new([0u8; SECRET_BYTES]);
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw[..])
            .map_err(|_| BindingError::Random)?;
        Ok(Self {
            name,
            secret: Secret::new(BASE64URL.encode(&raw[..])),
        })
    }

    /// Parses a presented token. Only the shape is checked here; [`super::Binding::accepts`]
    /// checks the secret.
    pub fn parse(text: &str) -> Result<Self, TokenError> {
        PresentedToken::parse(text).map(|token| Self {
            name: token.binding_name(),
            secret: Secret::new(token.secret),
        })
    }

    pub fn name(&self) -> &BindingName {
        &self.name
    }

    /// base64url(SHA-384(raw secret)), as stored in binding files; `None` when the secret
    /// is not base64url.
    pub fn secret_hash(&self) -> Option<[u8; 48]> {
        PresentedToken::from(self).secret_hash()
    }

    /// The token text. It is a secret.
    pub fn to_secret_string(&self) -> Secret {
        Secret::new(format!(
            "{TOKEN_PREFIX}{}.{}",
            self.name,
            self.secret.expose()
        ))
    }

    /// The `Authorization` header value: `Bearer <token>`.
    pub fn authorization(&self) -> Secret {
        Secret::new(format!("Bearer {}", self.to_secret_string().expose()))
    }
}

/// A token as a request presents it, borrowed from the request: a cached fetch parses one
/// per request, and copies nothing. Only its shape has been checked (see
/// [`AccessToken::parse`]).
#[derive(Clone, Copy)]
pub struct PresentedToken<'a> {
    /// A valid binding name.
    name: &'a str,
    secret: &'a str,
}

impl fmt::Debug for PresentedToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresentedToken")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<'a> PresentedToken<'a> {
    /// Parses `text` as a token: `needroleshere.`, a binding name, `.`, and a secret of at
    /// most [`MAX_SECRET_CHARS`] characters.
    pub fn parse(text: &'a str) -> Result<Self, TokenError> {
        let rest = text.strip_prefix(TOKEN_PREFIX).ok_or(TokenError::Prefix)?;
        // A byte search: the name is short, and `split_once` sets up a searcher each time.
        let dot = rest
            .bytes()
            .position(|b| b == b'.')
            .ok_or(TokenError::NoSecret)?;
        let (name, secret) = (&rest[..dot], &rest[dot + 1..]);
        if !BindingName::is_valid(name) {
            return Err(TokenError::BadName);
        }
        if secret.is_empty() || secret.len() > MAX_SECRET_CHARS {
            return Err(TokenError::BadSecret);
        }
        Ok(Self { name, secret })
    }

    /// The name of the binding it is for.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// [`PresentedToken::name`] as a [`BindingName`].
    pub fn binding_name(&self) -> BindingName {
        BindingName(self.name.into())
    }

    /// See [`AccessToken::secret_hash`].
    pub fn secret_hash(&self) -> Option<[u8; 48]> {
        let raw = zeroize::Zeroizing::new(BASE64URL.decode(self.secret).ok()?);
        Some(Sha384::digest(&raw[..]).into())
    }
}

impl<'a> From<&'a AccessToken> for PresentedToken<'a> {
    fn from(token: &'a AccessToken) -> Self {
        Self {
            name: token.name.as_str(),
            secret: token.secret.expose(),
        }
    }
}

/// The token that last opened each binding, so that presenting it again costs a
/// constant-time comparison instead of a SHA-384 (the largest part of a cached request's
/// own work). An entry holds for the binding as it was loaded: a rebind loads a new one,
/// whose tokens are hashed again. A wrong token is always hashed. `serve` holds a presented
/// token in memory anyway while it answers; this keeps one per binding (zeroed when
/// dropped).
#[derive(Debug, Default)]
pub struct OpenedTokens {
    opened: Mutex<HashMap<BindingName, (Arc<Binding>, Secret)>>,
}

impl OpenedTokens {
    /// Whether `token` opens `binding` (see [`Binding::accepts`]).
    pub fn accepts<'a>(
        &self,
        binding: &Arc<Binding>,
        token: impl Into<PresentedToken<'a>>,
    ) -> bool {
        let token = token.into();
        if token.name == binding.name.as_str()
            && let Some((opened, known)) = self.lock().get(&binding.name)
            && Arc::ptr_eq(opened, binding)
            && same_bytes(known.expose().as_bytes(), token.secret.as_bytes())
        {
            return true;
        }
        if !binding.accepts(token) {
            return false;
        }
        self.lock().insert(
            binding.name.clone(),
            (binding.clone(), Secret::new(token.secret)),
        );
        true
    }

    /// Forgets the token of an unbound binding.
    pub fn forget(&self, name: &BindingName) {
        self.lock().remove(name);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<BindingName, (Arc<Binding>, Secret)>> {
        // Plain entries, each replaced whole: still valid after a panic elsewhere.
        self.opened.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether `a` and `b` are equal, in a time that depends only on their lengths, eight bytes
/// at a time: subtle's slice comparison goes a byte at a time, each behind an optimisation
/// barrier, which was most of what checking a kept token cost.
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (a_words, a_rest) = a.as_chunks::<8>();
    let (b_words, b_rest) = b.as_chunks::<8>();
    let mut difference = 0u64;
    for (x, y) in a_words.iter().zip(b_words) {
        difference |= u64::from_ne_bytes(*x) ^ u64::from_ne_bytes(*y);
    }
    for (x, y) in a_rest.iter().zip(b_rest) {
        difference |= u64::from(x ^ y);
    }
    bool::from(difference.ct_eq(&0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::Mode;
    use crate::binding::tests::sample;

    #[test]
    fn same_bytes_compares_every_byte() {
        let text = b"0123456789abcdefghijklmnopqrstuvwxyz";
        for length in [0, 1, 7, 8, 9, 16, 35, 36] {
            let a = &text[..length];
            assert!(same_bytes(a, a));
            for at in 0..length {
                let mut b = a.to_vec();
                b[at] ^= 0x20;
                assert!(!same_bytes(a, &b), "a difference at {at} of {length}");
            }
        }
        assert!(!same_bytes(b"abc", b"abcd"));
    }

    #[test]
    fn an_opened_token_opens_only_its_binding_as_loaded() {
        let opened = OpenedTokens::default();
        let (binding, token) = sample(Mode::EcsFull);
        let binding = Arc::new(binding);
        assert!(opened.accepts(&binding, &token));
        assert!(opened.accepts(&binding, &token), "the kept token refused");

        // Another secret for the same name, after the right one was kept.
        let (_, other) = sample(Mode::EcsFull);
        assert_eq!(other.name(), token.name());
        assert!(!opened.accepts(&binding, &other));
        assert!(opened.accepts(&binding, &token));

        // Rebound: the new binding refuses the kept token, and opens with its own.
        let (rebound, new_token) = sample(Mode::EcsFull);
        let rebound = Arc::new(rebound);
        assert!(
            !opened.accepts(&rebound, &token),
            "a rebind left the old token open"
        );
        assert!(opened.accepts(&rebound, &new_token));
        assert!(!opened.accepts(&binding, &new_token));

        // A token of the same length differing in its last character.
        let text = token.to_secret_string();
        let mut tampered = text.expose().to_owned();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(opened.accepts(&binding, &token));
        assert!(!opened.accepts(&binding, &AccessToken::parse(&tampered).unwrap()));
    }
}
