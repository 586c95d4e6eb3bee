//! Keycloak, the real identity provider of the OIDC and SAML tests, with the realm of
//! `tests/keycloak/realm.json`, and what tests need of it: its names, users and secrets, token
//! requests for test setup, admin actions (ending sessions), and the realm as the SAML
//! identity provider of AWS federation (its clients, role ARNs, endpoints and metadata; getting
//! responses from it is [`super::saml`]'s).
//!
//! One Keycloak serves a whole test command: `scripts/test.sh` starts it while the tests
//! build and exports [`URL_ENV`] (and [`STATE_ENV`]); [`base_url`] waits for that one. Without
//! the variable (`cargo test --test NAME` by hand), the first call starts one for this test
//! binary with `scripts/keycloak.sh start` (a minute or more; the download and the dev-mode
//! build are cached under build/keycloak/) and a watchdog ends it, and removes its files,
//! once this process is gone.
//!
//! The issuer is `http://127.0.0.1:PORT/realms/needroleshere` ([`issuer`]): Keycloak names the
//! host it was asked on, so always use 127.0.0.1, never localhost, or `iss` differs. The same
//! holds for the SAML entity id (the metadata's `entityID`, the assertions' `Issuer`).
//!
//! SAML facts found with this Keycloak (26.x): the AWS client signs the Response and the
//! Assertion, each with its own enveloped signature (RSA-SHA256, exclusive c14n, the realm's
//! certificate in `KeyInfo`); Keycloak's default for a SAML client is the Response only
//! ([`SAML_RESPONSE_SIGNED_CLIENT`]). ECP authenticates with HTTP Basic through the realm's
//! HTTP challenge flow, which asks no one-time code: carol signs in over ECP with her password
//! alone; the browser sign-in asks her code. Keycloak's cookies are `Secure`, even on
//! `http://127.0.0.1`: a client must send them back over plain HTTP to loopback (browsers do)
//! or the login form answers 400. Over ECP a wrong password is answered 200 with an unsigned
//! `samlp:Response` whose status is `Responder` (inner `NoPassive`) and no assertion; an
//! unknown user, or no `Authorization`, 400.

use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The Keycloak base URL a test command shares (`http://127.0.0.1:PORT`).
pub(crate) const URL_ENV: &str = "NEEDROLESHERE_TEST_KEYCLOAK";
/// The state directory of that Keycloak (for a clear error when its start failed).
pub(crate) const STATE_ENV: &str = "NEEDROLESHERE_TEST_KEYCLOAK_STATE";

/// The realm.
pub(crate) const REALM: &str = "needroleshere";
/// Public client: authorization code with PKCE S256 required (also on the device grant
/// request), loopback redirect URIs on any port for `http://127.0.0.1/...` and
/// `http://localhost/...` (not `[::1]`: Keycloak 26 gives any-port matching to those two
/// hosts only), the device authorization grant; no password grant.
pub(crate) const DESKTOP_CLIENT: &str = "needroleshere-desktop";
/// Public client: the password grant (direct access grants) and the authorization code flow
/// (PKCE S256 required); no device grant.
pub(crate) const RUNAS_CLIENT: &str = "needroleshere-runas";
/// Public client for expiry tests: every flow of the other two (password grant, code with
/// PKCE S256, device grant), but ID and access tokens live [`SHORT_TOKEN_SECONDS`] and a
/// session idle for [`SHORT_SESSION_IDLE_SECONDS`] ends, so its refresh token really expires.
pub(crate) const SHORTLIVED_CLIENT: &str = "needroleshere-shortlived";
/// The lifetime of [`SHORTLIVED_CLIENT`]'s ID and access tokens.
pub(crate) const SHORT_TOKEN_SECONDS: u64 = 10;
/// How long [`SHORTLIVED_CLIENT`]'s refresh token lives unused (its `refresh_expires_in`).
pub(crate) const SHORT_SESSION_IDLE_SECONDS: u64 = 20;

/// `alice`: password only.
pub(crate) const ALICE: &str = "alice";
pub(crate) const ALICE_PASSWORD: &str = "alice-Password-1";
/// `alice`'s user id: the `sub` of her tokens.
pub(crate) const ALICE_ID: &str = "a11ce000-0000-4000-8000-00000000a11c";
/// `bob`: password only.
pub(crate) const BOB: &str = "bob";
pub(crate) const BOB_PASSWORD: &str = "bob-Password-1";
pub(crate) const BOB_ID: &str = "b0b00000-0000-4000-8000-000000000b0b";
/// `carol`: password and a TOTP code (asked at every login: browser, password grant).
pub(crate) const CAROL: &str = "carol";
pub(crate) const CAROL_PASSWORD: &str = "carol-Password-1";
pub(crate) const CAROL_ID: &str = "ca201000-0000-4000-8000-0000000ca201";
/// `carol`'s TOTP secret as Keycloak stores it (the raw key bytes are these ASCII
/// characters; HMAC-SHA1, 6 digits, 30 s). [`carol_totp`] computes the current code; an
/// authenticator app would be given [`carol_totp_base32`]. The realm lets a code be used
/// more than once in its period, so parallel tests can all sign carol in.
pub(crate) const CAROL_TOTP_SECRET: &str = "needroleshere-carol-totp";

/// The bootstrap admin of the master realm (`scripts/keycloak.sh` creates it).
pub(crate) const ADMIN: &str = "admin";
pub(crate) const ADMIN_PASSWORD: &str = "admin-Password-1";

/// The Keycloak base URL (`http://127.0.0.1:PORT`), ready: the shared one, or one started
/// for this test binary. Blocks until the realm's discovery document answers.
pub(crate) fn base_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| super::shared_service("keycloak", "KEYCLOAK", URL_ENV, STATE_ENV))
}

/// The realm's issuer: `http://127.0.0.1:PORT/realms/needroleshere`.
pub(crate) fn issuer() -> String {
    format!("{}/realms/{REALM}", base_url())
}

/// The realm's OpenID endpoint `name` (`token`, `auth`, `auth/device`, `revoke`, `logout`,
/// `certs`, `userinfo`).
pub(crate) fn endpoint(name: &str) -> String {
    format!("{}/protocol/openid-connect/{name}", issuer())
}

/// carol's TOTP code now.
pub(crate) fn carol_totp() -> String {
    use fake_aws::clock::Clock as _;
    let now = fake_aws::clock::SystemClock.now().unix_timestamp();
    let step = u64::try_from(now / 30).expect("after 1970");
    fake_aws::totp::hotp(CAROL_TOTP_SECRET.as_bytes(), step, 6)
}

/// carol's TOTP secret in base32, as an authenticator app takes it.
pub(crate) fn carol_totp_base32() -> String {
    fake_aws::totp::base32_encode(CAROL_TOTP_SECRET.as_bytes())
}

/// An HTTP client for loopback (plain HTTP; no proxy). A new one per call, so no connection
/// outlives the runtime of the test that made it.
pub(crate) fn http() -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("an HTTP client")
}

/// What the token endpoint answered. Debug shows no token.
#[derive(Clone, serde::Deserialize)]
pub(crate) struct Tokens {
    pub(crate) access_token: String,
    pub(crate) id_token: String,
    pub(crate) refresh_token: String,
    pub(crate) expires_in: u64,
    pub(crate) refresh_expires_in: u64,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("id_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// The ID token's claims (not verified: for tests to read `sub`, `sid`, `aud`, ...).
    pub(crate) fn id_claims(&self) -> serde_json::Value {
        jwt_claims(&self.id_token)
    }

    /// The session id (`sid`) of the ID token, for [`delete_session`].
    pub(crate) fn session_id(&self) -> String {
        self.id_claims()["sid"]
            .as_str()
            .expect("a sid claim")
            .to_owned()
    }
}

/// The claims of a JWT, unverified.
pub(crate) fn jwt_claims(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).expect("a JWT payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url payload"))
        .expect("JSON claims")
}

/// A refusal of the token endpoint: status and its OAuth `error` / `error_description`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OAuthError {
    pub(crate) status: u16,
    pub(crate) error: String,
    pub(crate) description: String,
}

async fn token_request(form: &[(&str, &str)]) -> Result<Tokens, OAuthError> {
    let response = http()
        .post(endpoint("token"))
        .form(form)
        .send()
        .await
        .expect("Keycloak's token endpoint answers");
    let status = response.status().as_u16();
    let body = response.text().await.expect("a token endpoint body");
    if status == 200 {
        return Ok(serde_json::from_str(&body).expect("a token response"));
    }
    let error: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    Err(OAuthError {
        status,
        error: error["error"].as_str().unwrap_or_default().to_owned(),
        description: error["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    })
}

/// The password grant (scope `openid`) for test setup; `totp` for carol ([`carol_totp`]).
/// Only [`RUNAS_CLIENT`] allows it.
pub(crate) async fn password_grant(
    client: &str,
    user: &str,
    password: &str,
    totp: Option<&str>,
) -> Result<Tokens, OAuthError> {
    let mut form = vec![
        ("grant_type", "password"),
        ("client_id", client),
        ("username", user),
        ("password", password),
        ("scope", "openid"),
    ];
    if let Some(totp) = totp {
        form.push(("totp", totp));
    }
    token_request(&form).await
}

/// The refresh grant.
pub(crate) async fn refresh(client: &str, refresh_token: &str) -> Result<Tokens, OAuthError> {
    token_request(&[
        ("grant_type", "refresh_token"),
        ("client_id", client),
        ("refresh_token", refresh_token),
    ])
    .await
}

/// Revokes a refresh token (RFC 7009): refreshing with it then fails with `invalid_grant`.
pub(crate) async fn revoke(client: &str, refresh_token: &str) {
    let response = http()
        .post(endpoint("revoke"))
        .form(&[
            ("client_id", client),
            ("token", refresh_token),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .expect("Keycloak's revocation endpoint answers");
    assert_eq!(response.status().as_u16(), 200, "revoking a refresh token");
}

/// A master-realm admin access token for the admin REST API.
pub(crate) async fn admin_token() -> String {
    let response = http()
        .post(format!(
            "{}/realms/master/protocol/openid-connect/token",
            base_url()
        ))
        .form(&[
            ("grant_type", "password"),
            ("client_id", "admin-cli"),
            ("username", ADMIN),
            ("password", ADMIN_PASSWORD),
        ])
        .send()
        .await
        .expect("Keycloak's master token endpoint answers");
    assert_eq!(response.status().as_u16(), 200, "admin sign-in");
    let body: serde_json::Value =
        serde_json::from_str(&response.text().await.expect("a body")).expect("a token response");
    body["access_token"]
        .as_str()
        .expect("an admin access token")
        .to_owned()
}

async fn admin_call(method: reqwest::Method, path: &str) -> u16 {
    http()
        .request(
            method,
            format!("{}/admin/realms/{REALM}/{path}", base_url()),
        )
        .bearer_auth(admin_token().await)
        .send()
        .await
        .expect("Keycloak's admin API answers")
        .status()
        .as_u16()
}

/// Ends every session of a user (admin "Sign out"): their refresh tokens stop working
/// (`invalid_grant`, "Session not active"), as when a session expires. Affects every test
/// signed in as that user: prefer [`delete_session`] in tests that run beside others.
pub(crate) async fn logout_user(user_id: &str) {
    let status = admin_call(reqwest::Method::POST, &format!("users/{user_id}/logout")).await;
    assert_eq!(status, 204, "logging out user {user_id}");
}

/// Ends one session (the `sid` of its tokens, [`Tokens::session_id`]): its refresh tokens
/// stop working, the user's other sessions go on. This is what an expired refresh token looks
/// like to a client: the token endpoint answers 400 `invalid_grant`.
pub(crate) async fn delete_session(session_id: &str) {
    let status = admin_call(reqwest::Method::DELETE, &format!("sessions/{session_id}")).await;
    assert_eq!(status, 204, "deleting session {session_id}");
}

/// The number of active sessions of a user.
pub(crate) async fn session_count(user_id: &str) -> usize {
    let response = http()
        .get(format!(
            "{}/admin/realms/{REALM}/users/{user_id}/sessions",
            base_url()
        ))
        .bearer_auth(admin_token().await)
        .send()
        .await
        .expect("Keycloak's admin API answers");
    assert_eq!(response.status().as_u16(), 200);
    let sessions: Vec<serde_json::Value> =
        serde_json::from_str(&response.text().await.expect("a body")).expect("a session list");
    sessions.len()
}

// ---------------------------------------------------------------------------------------------
// SAML: the realm as the identity provider of AWS federation
// ---------------------------------------------------------------------------------------------

/// The SAML client for AWS, as AWS's and Keycloak's guides set it up: its client id (the
/// SP entity id) is the audience AWS accepts; Response and Assertion both signed (RSA-SHA256,
/// exclusive c14n, the certificate in `KeyInfo`); assertion consumer [`SAML_ACS`]; ECP
/// allowed; persistent NameID; assertions valid 300 s. Attributes: `Role` (one attribute,
/// one value per `role_arn,provider_arn` pair: the user's client roles), `RoleSessionName`
/// (the username), `SessionDuration` ([`SAML_SESSION_DURATION`]).
pub(crate) const SAML_CLIENT: &str = "urn:amazon:webservices";
/// The same federation with Keycloak's default signing: only the Response is signed, and the
/// audience is [`SAML_ACS`] (this client's id). Same users, roles and attributes.
pub(crate) const SAML_RESPONSE_SIGNED_CLIENT: &str = "https://signin.aws.amazon.com/saml";
/// The IdP-initiated SSO URL name of [`SAML_CLIENT`] ([`saml_idp_initiated_url`]).
pub(crate) const SAML_IDP_INITIATED_NAME: &str = "amazon-aws";
/// The IdP-initiated SSO URL name of [`SAML_RESPONSE_SIGNED_CLIENT`].
pub(crate) const SAML_RESPONSE_SIGNED_IDP_INITIATED_NAME: &str = "amazon-aws-response-signed";
/// Where the IdP posts the `SAMLResponse` (the AWS sign-in), and the assertions' Recipient.
pub(crate) const SAML_ACS: &str = "https://signin.aws.amazon.com/saml";
/// The account of the realm's role ARNs (the fakes' account).
pub(crate) const SAML_ACCOUNT: &str = "123456789012";
/// The IAM SAML provider the realm's Role values name.
pub(crate) const SAML_PROVIDER_ARN: &str = "arn:aws:iam::123456789012:saml-provider/keycloak";
/// A role alice and carol are offered.
pub(crate) const SAML_DEVELOPER_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/saml-developer";
/// A role alice and bob are offered.
pub(crate) const SAML_READONLY_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/saml-readonly";
/// The `SessionDuration` attribute of every assertion (seconds).
pub(crate) const SAML_SESSION_DURATION: u32 = 7200;

/// The role ARNs the assertions of `user` offer, in no particular order: alice two, bob and
/// carol one each (each paired with [`SAML_PROVIDER_ARN`]).
pub(crate) fn saml_roles(user: &str) -> &'static [&'static str] {
    match user {
        ALICE => &[SAML_DEVELOPER_ROLE_ARN, SAML_READONLY_ROLE_ARN],
        BOB => &[SAML_READONLY_ROLE_ARN],
        CAROL => &[SAML_DEVELOPER_ROLE_ARN],
        _ => &[],
    }
}

/// The realm's SAML endpoint: ECP (a SOAP `AuthnRequest` POSTed with HTTP Basic
/// authentication; the answer is the `samlp:Response` in a SOAP envelope), and the SSO
/// service of the metadata.
pub(crate) fn saml_endpoint() -> String {
    format!("{}/protocol/saml", issuer())
}

/// The IdP-initiated SSO URL of [`SAML_CLIENT`]: a browser (form) sign-in that ends in an
/// auto-submitting form posting `SAMLResponse` to [`SAML_ACS`].
pub(crate) fn saml_idp_initiated_url() -> String {
    format!("{}/clients/{SAML_IDP_INITIATED_NAME}", saml_endpoint())
}

/// The realm's SAML IdP metadata (`md:EntityDescriptor`, entity id [`issuer`]).
pub(crate) fn saml_metadata_url() -> String {
    format!("{}/descriptor", saml_endpoint())
}

/// The realm's SAML IdP metadata document, as an IAM SAML provider is created from it.
pub(crate) async fn saml_metadata() -> String {
    let response = http()
        .get(saml_metadata_url())
        .send()
        .await
        .expect("Keycloak's SAML descriptor answers");
    assert_eq!(response.status().as_u16(), 200, "the SAML descriptor");
    response.text().await.expect("a metadata document")
}
