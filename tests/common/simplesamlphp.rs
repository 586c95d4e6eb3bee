//! SimpleSAMLphp, the second real SAML identity provider (Debian's package, 1.19.x, on PHP's
//! built-in server), as `scripts/simplesamlphp.sh` configures it: its users, their AWS roles,
//! its URLs and metadata.
//!
//! One SimpleSAMLphp serves a whole test command: `scripts/test.sh` starts it and exports
//! [`URL_ENV`] (and [`STATE_ENV`]); [`base_url`] waits for that one. Without the variable
//! (`cargo test --test NAME` by hand), the first call starts one for this test binary with
//! `scripts/simplesamlphp.sh start` (installing the package once with apt-get) and a
//! watchdog ends it, and removes its files, once this process is gone.
//!
//! SAML facts found with this SimpleSAMLphp (1.19.7): the IdP-initiated sign-in
//! (`/saml2/idp/SSOService.php?spentityid=...`) redirects to exampleauth's login page, a form
//! whose action is `?` (the page's own path, no query) and which carries its state in a hidden
//! `AuthState` field beside a hidden input with no name; the answer to the right password is
//! the HTTP-POST binding's page (a form posting `SAMLResponse` to AWS's ACS), to a wrong one
//! the login form again with an error. Both the Response and the Assertion are signed
//! (RSA-SHA256, exclusive c14n, the certificate in `KeyInfo`). The entity id is the metadata's
//! URL, `http://127.0.0.1:PORT/saml2/idp/metadata.php`. The IdP does not speak ECP at the
//! IdP-initiated URL: it answers a SOAP request with its login page.

use std::sync::OnceLock;

/// The SimpleSAMLphp base URL a test command shares (`http://127.0.0.1:PORT`).
pub(crate) const URL_ENV: &str = "NEEDROLESHERE_TEST_SIMPLESAMLPHP";
/// The state directory of that SimpleSAMLphp (for a clear error when its start failed).
pub(crate) const STATE_ENV: &str = "NEEDROLESHERE_TEST_SIMPLESAMLPHP_STATE";

/// The IAM SAML provider the STS double registers SimpleSAMLphp's metadata as.
pub(crate) const PROVIDER_ARN: &str = "arn:aws:iam::123456789012:saml-provider/simplesamlphp";
/// dave's and erin's role.
pub(crate) const READONLY_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/simplesamlphp-readonly";
/// dave's other role.
pub(crate) const ADMIN_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/simplesamlphp-admin";

/// `dave`: two roles ([`ADMIN_ROLE_ARN`], [`READONLY_ROLE_ARN`]), SessionDuration 3600.
pub(crate) const DAVE: &str = "dave";
pub(crate) const DAVE_PASSWORD: &str = "dave-Password-1";
/// `erin`: one role ([`READONLY_ROLE_ARN`]), SessionDuration 1800.
pub(crate) const ERIN: &str = "erin";
pub(crate) const ERIN_PASSWORD: &str = "erin-Password-1";

/// The SimpleSAMLphp base URL (`http://127.0.0.1:PORT`), ready: the shared one, or one
/// started for this test binary. Blocks until its IdP metadata answers.
pub(crate) fn base_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| super::shared_service("simplesamlphp", "SIMPLESAMLPHP", URL_ENV, STATE_ENV))
}

/// The IdP-initiated sign-in URL for AWS.
pub(crate) fn sign_in_url(base: &str) -> url::Url {
    format!("{base}/saml2/idp/SSOService.php?spentityid=urn:amazon:webservices")
        .parse()
        .expect("a URL")
}

/// The IdP's metadata document, as an IAM SAML provider is created from it.
pub(crate) async fn metadata(base: &str) -> String {
    let response = super::keycloak::http()
        .get(format!("{base}/saml2/idp/metadata.php"))
        .send()
        .await
        .expect("SimpleSAMLphp's metadata answers");
    assert_eq!(response.status().as_u16(), 200, "the IdP metadata");
    response.text().await.expect("a metadata document")
}
