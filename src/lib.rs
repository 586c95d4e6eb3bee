//! needroleshere: short-lived AWS credentials from IAM Roles Anywhere, handed to programs
//! through the doors AWS SDKs know.
//!
//! The crate is split the way credentials flow:
//!
//! * **Identity and signing** — [`identity`] reads certificate chains and private keys;
//!   [`sign`] is the pure AWS4-X509 signer.
//! * **Sources** — [`rolesanywhere`] calls `CreateSession` over the [`transport`] HTTPS
//!   client.
//! * **Fronts** — [`cli`] wires sources to outputs; `credential-process` prints
//!   [`credentials::Credentials`] as the SDKs' `credential_process` JSON.
//!
//! Time comes from [`clock`] and the process environment from [`env`], both injected, so
//! everything else is a pure function of its inputs. Secrets are held in [`secret::Secret`],
//! which never shows its value in `Debug`.
#![forbid(unsafe_code)]

pub mod activation;
pub mod arn;
pub mod binding;
pub mod cache;
pub mod check;
pub mod cli;
pub mod clock;
pub mod credentials;
pub mod credentials_file;
pub mod env;
pub mod exec;
pub mod files;
pub mod identity;
pub mod logging;
pub mod mfa;
pub mod profile;
pub mod profile_source;
pub mod rolesanywhere;
pub mod secret;
pub mod server;
pub mod sign;
pub mod sts;
pub mod transport;
