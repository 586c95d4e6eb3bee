//! Test doubles (feature `test-util`), shared by the integration tests, the quick-start demo
//! and benches.
//!
//! Contract:
//! * [`rolesanywhere`]: a strict fake of IAM Roles Anywhere `CreateSession` that verifies
//!   signatures, certificate chains, trust anchors, profiles and roles independently of the
//!   crate's signer, and records what it issued and refused.
//! * [`proxy`]: an HTTP `CONNECT` proxy that tunnels every target to one local upstream and
//!   records the targets.
//! * [`tls`]: rustls (ring) server and client configurations from PEM files.
//!
//! Nothing here is meant for production; it only listens on the addresses it is given.

pub mod proxy;
pub mod rolesanywhere;
pub mod tls;

pub use proxy::ConnectProxy;
pub use rolesanywhere::{
    ACCOUNT_ID, Config, Created, ErrorType, FORBIDDEN_ROLE_ARN, FakeRolesAnywhere, IssuedSession,
    OTHER_ROLE_ARN, PROFILE_ARN, Profile, REGION, ROLE_ARN, Rejection, Running, SigningAlgorithm,
    TRUST_ANCHOR_ARN, TrustAnchor, Verified,
};
