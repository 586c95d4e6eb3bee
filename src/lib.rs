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

pub mod arn;
pub mod aws;
pub mod aws_files;
pub mod binding;
pub mod cache;
pub mod check;
pub mod cli;
pub mod credentials;
pub mod front;
pub mod http;
pub mod identity;
pub mod secret;
pub mod source;
pub mod system;
