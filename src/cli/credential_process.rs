//! `needroleshere credential-process`: prints a role's credentials as `credential_process`
//! JSON for `~/.aws/config`.
//!
//! Accepts every file-based flag of the existing `needroleshere credential-process` and of
//! the official `aws_signing_helper credential-process`, so either can be swapped for this
//! one. Runs share credentials through [`crate::process_cache`] unless `--no-cache` is given.

use std::sync::Arc;

use clap::Args;

use super::args::{DeviceArgs, EndpointArgs, IdentityArgs, RoleSource};
use crate::cache::Policy;
use crate::credentials::Credentials;
use crate::process_cache::{Entry, Freshness, ProcessCache};
use crate::system::clock::Clock;
use crate::system::env::Environment;

#[derive(Debug, Clone, Args)]
pub struct CredentialProcessArgs {
    #[command(flatten)]
    pub identity: IdentityArgs,

    #[command(flatten)]
    pub device: DeviceArgs,

    #[command(flatten)]
    pub endpoint: EndpointArgs,

    /// Call CreateSession on every run, neither reading nor writing the credentials that
    /// runs share (in $XDG_RUNTIME_DIR/needroleshere/credential-process, else
    /// ~/.cache/needroleshere/credential-process).
    #[arg(long)]
    pub no_cache: bool,

    /// Log each step (signing details, endpoint, status) to stderr; never logs secrets.
    #[arg(long)]
    pub debug: bool,
}

/// Resolves the identity, gets credentials (shared, or from CreateSession) and prints the
/// JSON on stdout.
pub(crate) async fn run(
    args: &CredentialProcessArgs,
    env: &Environment,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let role = args.identity.resolve(&args.endpoint, &args.device, env)?;
    let credentials = if args.no_cache {
        role.fetch(clock).await?
    } else {
        shared(&role, env, clock).await?
    };
    println!("{}", credentials.to_credential_process_json());
    Ok(())
}

/// Credentials another run left while they are fresh, else fetched by one run at a time
/// and left for the others; see [`crate::process_cache`].
async fn shared(
    role: &RoleSource,
    env: &Environment,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Credentials> {
    let cache = match ProcessCache::open(env) {
        Ok(cache) => cache,
        Err(error) => {
            tracing::debug!(%error, "calling CreateSession without the shared credential cache");
            return role.fetch(clock).await;
        }
    };
    // The certificates as they are now: a renewed one must not get the old credentials.
    // When they cannot be read, fetching says why in its own words.
    let Ok(version) = role.files.certificates_digest() else {
        return role.fetch(clock).await;
    };
    let key = role.key();
    let policy = Policy::default();
    let read = || match cache.read(&key) {
        Ok(entry) => entry.filter(|entry| entry.version == version),
        Err(reason) => {
            tracing::debug!(dir = %cache.dir().display(), %reason, "ignoring a credential cache entry");
            None
        }
    };
    let fresh = |entry: &&Entry| entry.freshness(clock.now(), &policy) == Freshness::Fresh;

    if let Some(entry) = read().as_ref().filter(fresh) {
        tracing::debug!(dir = %cache.dir().display(), "credentials from the shared cache");
        return Ok(entry.credentials.clone());
    }
    // One run fetches; the others wait here, then find what it wrote.
    let _lock = cache.lock(&key, policy.refresh_wait).await;
    let entry = read();
    if let Some(entry) = entry.as_ref().filter(fresh) {
        tracing::debug!(dir = %cache.dir().display(), "credentials another run just fetched");
        return Ok(entry.credentials.clone());
    }
    match role.fetch(clock.clone()).await {
        Ok(credentials) => {
            let fetched = Entry {
                key,
                version,
                fetched_at: clock.now(),
                credentials,
            };
            if let Err(error) = cache.write(&fetched, clock.now()) {
                tracing::warn!(dir = %cache.dir().display(), %error, "cannot write the shared credential cache");
            }
            Ok(fetched.credentials)
        }
        Err(error) => match entry {
            Some(entry) if entry.freshness(clock.now(), &policy) == Freshness::Fallback => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "serving cached credentials that are due for a refresh"
                );
                Ok(entry.credentials)
            }
            _ => Err(error),
        },
    }
}
