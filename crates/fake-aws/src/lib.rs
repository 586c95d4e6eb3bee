//! `fake_aws`: strict test doubles of AWS for needroleshere, shared by the integration tests,
//! the fuzz targets, the benches and the quick-start demo (the `needroleshere-fake-aws`
//! binary).
//!
//! This crate does not depend on the product crate, and must not: a double that reused the
//! product's signing, clock or formatting code would agree with the product by construction.
//! Helpers that build product types (a sample `SessionRequest` or binding) live on the test
//! side, in `tests/common/samples.rs`.
//!
//! Contract:
//! * [`rolesanywhere`]: a strict fake of IAM Roles Anywhere `CreateSession` that verifies
//!   signatures, certificate chains, trust anchors, profiles and roles independently of the
//!   product's signer, and records what it issued and refused.
//! * [`sts`]: a strict fake of AWS STS (Query API) that verifies SigV4 signatures
//!   independently of the `aws-sigv4` crate, with users, roles, trust, MFA (TOTP) and role
//!   chaining rules.
//! * [`sso`]: a strict fake of IAM Identity Center: the OIDC service (client registration,
//!   the device authorization grant, refresh) and the access portal (role credentials,
//!   accounts, roles), issuing into the shared registry.
//! * [`saml`]: SAML 2.0 responses as `AssumeRoleWithSAML` checks them (XML signature by
//!   libxmlsec1, issuer, audience, recipient, validity, role attribute) and IAM SAML
//!   providers read from IdP metadata.
//! * [`sigv4`]: the SigV4 verification both fakes share (Authorization parsing, scope, clock
//!   skew, signed headers, canonical request, string to sign), written once.
//! * [`registry`]: the users and issued credentials both fakes share, so credentials one
//!   issues are accepted by the other.
//! * [`totp`](mod@totp): RFC 6238 codes, as virtual MFA devices make them.
//! * [`world`]: both fakes on one registry and one listener ([`World`]), as the
//!   `needroleshere-fake-aws` binary, the compatibility matrix and end-to-end tests run them.
//! * [`proxy`]: an HTTP `CONNECT` proxy that tunnels every target to one local upstream and
//!   records the targets.
//! * [`tls`]: rustls (ring) server and client configurations from PEM files.
//! * [`clock`]: the fakes' own clock (system or fixed), apart from the product's.
//! * [`generate_pki`]: a fresh test PKI from the repository's `tests/pki/generate.sh`.
//!
//! Nothing here is meant for production; it only listens on the addresses it is given.

/// Writes a fresh test PKI into `dir` with the repository's `tests/pki/generate.sh` (see
/// that script for its files; found from this crate's directory, `../../tests/pki`): the
/// integration tests, fuzz targets and benches all sign with it.
pub fn generate_pki(dir: &std::path::Path) -> std::io::Result<()> {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/pki/generate.sh");
    let status = std::process::Command::new("bash")
        .arg(&script)
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "{} failed ({status})",
            script.display()
        )))
    }
}

pub mod clock;
pub mod faults;
pub mod oidc;
pub mod proxy;
pub mod registry;
pub mod rolesanywhere;
pub mod saml;
pub mod sigv4;
pub mod sso;
pub mod sts;
pub mod tls;
pub mod totp;
pub mod world;

pub use proxy::ConnectProxy;
pub use registry::{MfaDevice, Principal, Registry, User};
pub use rolesanywhere::{
    ACCOUNT_ID, Config, Created, ErrorType, FORBIDDEN_ROLE_ARN, FakeRolesAnywhere, IssuedSession,
    OTHER_ROLE_ARN, PROFILE_ARN, Profile, REGION, ROLE_ARN, Rejection, Running, SigningAlgorithm,
    TRUST_ANCHOR_ARN, TrustAnchor, Verified,
};
pub use saml::SamlProvider;
pub use sso::{FakeSso, SsoConfig, SsoError, SsoErrorKind};
pub use sts::{
    ADMIN_ROLE_ARN, ALICE_ACCESS_KEY_ID, ALICE_ARN, ALICE_MFA_SECRET, ALICE_MFA_SERIAL,
    ALICE_SECRET_ACCESS_KEY, AUDITOR_ROLE_ARN, BOB_ACCESS_KEY_ID, BOB_ARN, BOB_SECRET_ACCESS_KEY,
    DEVELOPER_ROLE_ARN, FakeSts, PARTNER_EXTERNAL_ID, PARTNER_ROLE_ARN, Role, StsConfig, StsError,
    WEB_IDENTITY_TOKEN, WEB_ROLE_ARN, totp,
};
pub use world::World;
