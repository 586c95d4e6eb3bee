//! Product values the fakes accept, for tests that call no one or drive the library directly:
//! a CreateSession request for the fake's trust anchor, profile and role, and a binding
//! for it.
//!
//! They build `needroleshere` types, so they live on the test side: the fake crate
//! (`fake_aws`) does not depend on the product. The fuzz crate includes this same file
//! (`fuzz/src/lib.rs`, `#[path]`), so keep it to `needroleshere` and `fake_aws` paths.
#![allow(
    unreachable_pub,
    reason = "pub for the fuzz crate, whose targets are other crates; a private module of each test binary"
)]

use fake_aws::{PROFILE_ARN, ROLE_ARN, TRUST_ANCHOR_ARN};
use needroleshere::arn::SessionDuration;
use needroleshere::aws::rolesanywhere::SessionRequest;
use needroleshere::binding::{AccessToken, Binding, Mode};
use needroleshere::identity::IdentityFiles;

/// A CreateSession request the fake accepts: its trust anchor, profile and role, the default
/// duration, no session name.
pub fn session_request() -> SessionRequest {
    SessionRequest {
        // The fake's constants are valid ARNs; its own tests parse them.
        trust_anchor_arn: TRUST_ANCHOR_ARN
            .parse()
            .expect("TRUST_ANCHOR_ARN is an ARN"),
        profile_arn: PROFILE_ARN.parse().expect("PROFILE_ARN is an ARN"),
        role_arn: ROLE_ARN.parse().expect("ROLE_ARN is an ARN"),
        duration: SessionDuration::DEFAULT,
        role_session_name: None,
    }
}

/// A binding named `web` in `mode` for [`session_request`], whose identity files
/// (`/c.pem`, `/k.pem`) are never read, and the token that opens it: for tests of tokens and
/// binding files that call no one.
pub fn sample_binding(mode: Mode) -> (Binding, AccessToken) {
    let files = IdentityFiles {
        certificates: vec!["/c.pem".into()],
        intermediates: Vec::new(),
        private_key: "/k.pem".into(),
        pkcs8_password: None,
        device: Default::default(),
    };
    // A fixed valid name and a fresh random token: only a failing system RNG can refuse.
    Binding::create(
        "web".parse().expect("\"web\" is a binding name"),
        mode,
        files,
        session_request(),
        None,
        None,
    )
    .expect("the system's random generator works")
}
