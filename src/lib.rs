//! needroleshere: short-lived AWS credentials from an identity — an X.509 certificate and
//! key (IAM Roles Anywhere) or an AWS profile — handed to programs through the doors AWS SDKs
//! know.
//!
//! Credentials flow one way, and the modules follow it:
//!
//! ```text
//!  source::{binding, rolesanywhere, profile}  ──►  cache  ──►  front::{ecs, imds, desktop,
//!  (an identity; knows nothing of who asked)      (one)       exec, update}, credential_process
//! ```
//!
//! * **Sources** ([`source`]): the [`source::Source`] trait — a key, a version, a fetch — and
//!   its implementations: an X.509 identity through IAM Roles Anywhere
//!   ([`source::rolesanywhere`]), the identity of a binding file ([`source::binding`]), an
//!   AWS profile's plan of keys, MFA session, IAM Identity Center ([`source::sso`]) and roles
//!   ([`source::profile`], with the codes of [`aws::mfa`] and the identity-provider sign-ins
//!   of [`signin`]). Failures are [`source::SourceError`]s in a few categories.
//! * **The cache** ([`cache`]): one for every source — single flight per identity, proactive
//!   refresh, last good credentials, backoff, each fetch in its own task. A source that
//!   builds on another (roles on an MFA session) takes its credentials from the cache
//!   through [`source::Upstream`].
//! * **Fronts** ([`front`]): the ECS endpoint, IMDS emulation, the desktop servers, `exec`
//!   and `update` ask the cache (for bindings through [`front::vend`], for profiles through
//!   [`front::profiles`]) and render; [`front::answer`] is the one place a failure
//!   becomes a status and a short body. `credential_process` output is
//!   [`credentials::Credentials::to_credential_process_json`].
//! * **What sources are made of**: [`identity`] (certificates, keys, signing), [`binding`]
//!   (binding files, tokens, env files, the configuration directory), [`aws_files`] (the
//!   `~/.aws` files and the AWS CLI's SSO token cache), [`aws`] (the AWS4-X509 signer and the
//!   Roles Anywhere, STS and IAM Identity Center clients),
//!   [`arn`] (ARNs, regions and other names, parsed once).
//! * **The process's edges** ([`system`]): socket activation, the environment read once, the
//!   clock, logging and the HTTPS client — injected, so everything else is a function of its
//!   inputs. HTTP serving (listeners, limits) is the crate-internal `http` module.
//! * **Running a fleet**: [`metrics`] (counters, scraped on a listener of their own) and
//!   [`status`] (every binding's certificate and cache state; certificate expiry warnings).
//! * **The command line** ([`cli`]): one file per command, parsing flags into typed values
//!   and calling the library; `check` reports on an identity.
//!
//! Secrets are held in [`secret::Secret`], which never shows its value in `Debug`.
#![forbid(unsafe_code)]

pub mod arn;
pub mod aws;
pub mod aws_files;
pub mod binding;
pub mod cache;
pub(crate) mod check;
pub mod cli;
pub mod credentials;
pub mod front;
pub(crate) mod http;
pub mod identity;
pub mod metrics;
pub mod process_cache;
pub mod secret;
pub mod signin;
pub mod source;
pub mod status;
pub mod system;
