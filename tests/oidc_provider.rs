//! The OIDC test harness against itself: real Keycloak (tests/keycloak/realm.json) issues the
//! tokens, the strict STS double verifies them against Keycloak's published keys, and real
//! boto3 makes the calls (AssumeRoleWithWebIdentity, then GetCallerIdentity with the
//! credentials it got). Also what the product's sign-in relies on in the realm: refresh
//! tokens that stop working when the session ends, PKCE and loopback redirects on any port.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::net::SocketAddr;

use common::daemon::{assert_success, free_port, python};
use common::keycloak::{
    self, ALICE, ALICE_ID, ALICE_PASSWORD, BOB, BOB_ID, BOB_PASSWORD, CAROL, CAROL_ID,
    CAROL_PASSWORD, DESKTOP_CLIENT, RUNAS_CLIENT, SHORT_SESSION_IDLE_SECONDS, SHORT_TOKEN_SECONDS,
    SHORTLIVED_CLIENT,
};
use fake_aws::registry::Registry;
use fake_aws::sts::{FakeSts, OidcTrust, Role, StsConfig};

const ROLE: &str = "arn:aws:iam::123456789012:role/keycloak-users";
const BOB_ONLY_ROLE: &str = "arn:aws:iam::123456789012:role/keycloak-bob";
const DESKTOP_ROLE: &str = "arn:aws:iam::123456789012:role/keycloak-desktop";

/// The STS double on loopback with roles trusting the realm: `keycloak-users` (runas
/// tokens of alice and carol), `keycloak-bob` (runas tokens of bob only) and
/// `keycloak-desktop` (desktop-client tokens of anyone).
async fn sts() -> (FakeSts, String, fake_aws::Running) {
    let issuer = keycloak::issuer();
    let mut config = StsConfig::example(Registry::new());
    let mut users =
        Role::trusting_web_identity(ROLE, OidcTrust::new(&issuer, RUNAS_CLIENT, ALICE_ID));
    users.web_identity_providers[0]
        .subjects
        .push(CAROL_ID.to_owned());
    config.roles.push(users);
    config.roles.push(Role::trusting_web_identity(
        BOB_ONLY_ROLE,
        OidcTrust::new(&issuer, RUNAS_CLIENT, BOB_ID),
    ));
    config.roles.push(Role::trusting_web_identity(
        DESKTOP_ROLE,
        OidcTrust::new(&issuer, DESKTOP_CLIENT, "*"),
    ));
    let fake = FakeSts::new(config);
    let running = fake
        .spawn_http(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let url = running.url();
    (fake, url, running)
}

/// boto3: AssumeRoleWithWebIdentity with `token` on `role`, then GetCallerIdentity with the
/// credentials. Prints the answer's subject, audience, provider and the caller ARN, or the
/// error code.
const BOTO3: &str = r#"
import json, os, boto3, botocore.exceptions
sts = boto3.client("sts", endpoint_url=os.environ["STS_URL"], region_name="us-east-1")
try:
    answer = sts.assume_role_with_web_identity(
        RoleArn=os.environ["ROLE"], RoleSessionName="keycloak-test",
        WebIdentityToken=os.environ["TOKEN"])
except botocore.exceptions.ClientError as error:
    print(json.dumps({"error": error.response["Error"]["Code"],
                      "status": error.response["ResponseMetadata"]["HTTPStatusCode"]}))
    raise SystemExit(0)
c = answer["Credentials"]
caller = boto3.client("sts", endpoint_url=os.environ["STS_URL"], region_name="us-east-1",
    aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
    aws_session_token=c["SessionToken"]).get_caller_identity()
print(json.dumps({"subject": answer["SubjectFromWebIdentityToken"],
                  "audience": answer["Audience"], "provider": answer["Provider"],
                  "arn": caller["Arn"]}))
"#;

async fn assume(sts_url: &str, role: &str, token: &str) -> serde_json::Value {
    let output = tokio::process::Command::new(python())
        .args(["-c", BOTO3])
        .env("STS_URL", sts_url)
        .env("ROLE", role)
        .env("TOKEN", token)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .await
        .unwrap();
    assert_success(&output, "boto3");
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn keycloak_id_tokens_are_accepted_by_the_strict_sts_and_the_credentials_work() {
    let (fake, url, _running) = sts().await;
    let alice = keycloak::password_grant(RUNAS_CLIENT, ALICE, ALICE_PASSWORD, None)
        .await
        .unwrap();
    let claims = alice.id_claims();
    assert_eq!(claims["aud"], RUNAS_CLIENT);
    assert_eq!(claims["sub"], ALICE_ID);
    assert_eq!(claims["iss"], keycloak::issuer());
    let answer = assume(&url, ROLE, &alice.id_token).await;
    assert_eq!(answer["subject"], ALICE_ID, "{answer}");
    assert_eq!(answer["audience"], RUNAS_CLIENT);
    assert_eq!(answer["provider"], keycloak::issuer());
    assert_eq!(
        answer["arn"],
        "arn:aws:sts::123456789012:assumed-role/keycloak-users/keycloak-test"
    );
    // The keys came from Keycloak's jwks_uri, once.
    assert_eq!(fake.jwks().fetches(), 1);

    // carol: her TOTP code is needed, and then her token is as good.
    let without_code = keycloak::password_grant(RUNAS_CLIENT, CAROL, CAROL_PASSWORD, None)
        .await
        .unwrap_err();
    assert_eq!(without_code.error, "invalid_grant", "{without_code:?}");
    let wrong_code = keycloak::password_grant(RUNAS_CLIENT, CAROL, CAROL_PASSWORD, Some("000000"))
        .await
        .unwrap_err();
    assert_eq!(wrong_code.error, "invalid_grant", "{wrong_code:?}");
    let carol = keycloak::password_grant(
        RUNAS_CLIENT,
        CAROL,
        CAROL_PASSWORD,
        Some(&keycloak::carol_totp()),
    )
    .await
    .unwrap();
    let answer = assume(&url, ROLE, &carol.id_token).await;
    assert_eq!(answer["subject"], CAROL_ID, "{answer}");

    // A refreshed ID token is accepted too.
    let refreshed = keycloak::refresh(RUNAS_CLIENT, &alice.refresh_token)
        .await
        .unwrap();
    let answer = assume(&url, ROLE, &refreshed.id_token).await;
    assert_eq!(answer["subject"], ALICE_ID, "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_foreign_and_untrusted_keycloak_tokens_are_refused() {
    let (fake, url, _running) = sts().await;
    let alice = keycloak::password_grant(RUNAS_CLIENT, ALICE, ALICE_PASSWORD, None)
        .await
        .unwrap();

    // The payload changed to name bob: the signature no longer matches.
    let parts: Vec<&str> = alice.id_token.split('.').collect();
    let mut claims = alice.id_claims();
    claims["sub"] = BOB_ID.into();
    use base64::Engine as _;
    let payload =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes());
    let forged = format!("{}.{payload}.{}", parts[0], parts[2]);
    let answer = assume(&url, BOB_ONLY_ROLE, &forged).await;
    assert_eq!(answer["error"], "InvalidIdentityToken", "{answer}");
    assert_eq!(answer["status"], 400);
    // The access token is no ID token for this client: its audience is not the client's.
    let answer = assume(&url, ROLE, &alice.access_token).await;
    assert_eq!(answer["error"], "InvalidIdentityToken", "{answer}");

    // A runas token on the role that trusts only the desktop client's audience.
    let answer = assume(&url, DESKTOP_ROLE, &alice.id_token).await;
    assert_eq!(answer["error"], "AccessDenied", "{answer}");
    assert_eq!(answer["status"], 403);
    // alice's genuine token on the role that trusts only bob.
    let answer = assume(&url, BOB_ONLY_ROLE, &alice.id_token).await;
    assert_eq!(answer["error"], "AccessDenied", "{answer}");
    assert!(
        fake.rejections()
            .iter()
            .any(|(_, code, message)| code == "InvalidIdentityToken"
                && message.contains("signature")),
        "{:?}",
        fake.rejections()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_for_another_audience_is_refused_when_no_role_accepts_that_audience() {
    // Only the desktop client's audience is trusted in this account.
    let issuer = keycloak::issuer();
    let mut config = StsConfig::example(Registry::new());
    config.roles.push(Role::trusting_web_identity(
        DESKTOP_ROLE,
        OidcTrust::new(&issuer, DESKTOP_CLIENT, "*"),
    ));
    let fake = FakeSts::new(config);
    let running = fake
        .spawn_http(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let bob = keycloak::password_grant(RUNAS_CLIENT, BOB, BOB_PASSWORD, None)
        .await
        .unwrap();
    let answer = assume(&running.url(), DESKTOP_ROLE, &bob.id_token).await;
    assert_eq!(answer["error"], "InvalidIdentityToken", "{answer}");
    let (_, _, message) = fake.rejections().pop().unwrap();
    assert!(message.contains("audience"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_tokens_stop_working_when_the_session_ends() {
    // One session deleted: its refresh token is refused, another session of the user goes on.
    let first = keycloak::password_grant(RUNAS_CLIENT, BOB, BOB_PASSWORD, None)
        .await
        .unwrap();
    let second = keycloak::password_grant(RUNAS_CLIENT, BOB, BOB_PASSWORD, None)
        .await
        .unwrap();
    keycloak::refresh(RUNAS_CLIENT, &first.refresh_token)
        .await
        .unwrap();
    keycloak::delete_session(&first.session_id()).await;
    let refused = keycloak::refresh(RUNAS_CLIENT, &first.refresh_token)
        .await
        .unwrap_err();
    assert_eq!(
        (refused.status, refused.error.as_str()),
        (400, "invalid_grant")
    );
    keycloak::refresh(RUNAS_CLIENT, &second.refresh_token)
        .await
        .unwrap();

    // A revoked refresh token is refused.
    keycloak::revoke(RUNAS_CLIENT, &second.refresh_token).await;
    let refused = keycloak::refresh(RUNAS_CLIENT, &second.refresh_token)
        .await
        .unwrap_err();
    assert_eq!(refused.error, "invalid_grant", "{refused:?}");

    // Every session of carol ended by the admin ("Sign out"): refused too.
    let carol = keycloak::password_grant(
        RUNAS_CLIENT,
        CAROL,
        CAROL_PASSWORD,
        Some(&keycloak::carol_totp()),
    )
    .await
    .unwrap();
    assert!(keycloak::session_count(CAROL_ID).await >= 1);
    // Another test of this binary may sign carol in meanwhile: what counts is that this
    // refresh token's session is gone.
    keycloak::logout_user(CAROL_ID).await;
    let refused = keycloak::refresh(RUNAS_CLIENT, &carol.refresh_token)
        .await
        .unwrap_err();
    assert_eq!(refused.error, "invalid_grant", "{refused:?}");
    assert!(
        refused.description.contains("Session not active"),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_short_lived_clients_refresh_token_expires_when_left_unused() {
    let tokens = keycloak::password_grant(SHORTLIVED_CLIENT, BOB, BOB_PASSWORD, None)
        .await
        .unwrap();
    assert_eq!(tokens.expires_in, SHORT_TOKEN_SECONDS);
    // Keycloak counts the idle time from the session's last use, in whole seconds: a second
    // may have passed by the time it answers.
    assert!(
        (SHORT_SESSION_IDLE_SECONDS - 2..=SHORT_SESSION_IDLE_SECONDS)
            .contains(&tokens.refresh_expires_in),
        "{}",
        tokens.refresh_expires_in
    );
    let claims = tokens.id_claims();
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        SHORT_TOKEN_SECONDS
    );
    // Waiting past the idle time is the point of this test (no timing is asserted).
    tokio::time::sleep(std::time::Duration::from_secs(
        SHORT_SESSION_IDLE_SECONDS + 2,
    ))
    .await;
    let refused = keycloak::refresh(SHORTLIVED_CLIENT, &tokens.refresh_token)
        .await
        .unwrap_err();
    assert_eq!(
        (refused.status, refused.error.as_str()),
        (400, "invalid_grant"),
        "{refused:?}"
    );
}

/// GET the authorization endpoint of the desktop client with `redirect_uri`; the status and
/// body (or the redirect's target).
async fn authorize(redirect_uri: &str, pkce: bool) -> (u16, String) {
    let mut query = vec![
        ("client_id", DESKTOP_CLIENT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("redirect_uri", redirect_uri),
        ("state", "test-state"),
        ("nonce", "test-nonce"),
    ];
    if pkce {
        // RFC 7636 appendix B's verifier and challenge.
        query.push((
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ));
        query.push(("code_challenge_method", "S256"));
    }
    let response = keycloak::http()
        .get(keycloak::endpoint("auth"))
        .query(&query)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|value| value.to_str().unwrap().to_owned());
    let body = response.text().await.unwrap();
    (status, location.unwrap_or(body))
}

#[tokio::test(flavor = "multi_thread")]
async fn loopback_redirects_on_any_port_are_accepted_and_other_hosts_refused() {
    for host in ["127.0.0.1", "localhost"] {
        let redirect = format!("http://{host}:{}/callback", free_port());
        let (status, body) = authorize(&redirect, true).await;
        assert_eq!(status, 200, "{redirect}: {body}");
        assert!(body.contains("kc-form-login"), "{redirect}: no login form");
    }
    for redirect in [
        "http://evil.example/callback",
        "http://127.0.0.1.evil.example/callback",
        "http://127.0.0.1:4444@evil.example/callback",
        "https://evil.example:443/callback",
    ] {
        let (status, body) = authorize(redirect, true).await;
        assert_eq!(status, 400, "{redirect} was accepted");
        assert!(
            body.contains("Invalid parameter: redirect_uri"),
            "{redirect}: {body}"
        );
    }
    // Without PKCE the request goes back to the (valid) redirect URI with an error.
    let redirect = format!("http://127.0.0.1:{}/callback", free_port());
    let (status, location) = authorize(&redirect, false).await;
    assert_eq!(status, 302);
    assert!(
        location.starts_with(&redirect) && location.contains("error=invalid_request"),
        "{location}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_client_allows_only_its_grants() {
    // The desktop client: no password grant; the device grant (with PKCE).
    let refused = keycloak::password_grant(DESKTOP_CLIENT, ALICE, ALICE_PASSWORD, None)
        .await
        .unwrap_err();
    assert_eq!(refused.error, "unauthorized_client", "{refused:?}");
    let device = |client: &'static str| async move {
        let response = keycloak::http()
            .post(keycloak::endpoint("auth/device"))
            .form(&[
                ("client_id", client),
                ("scope", "openid"),
                (
                    "code_challenge",
                    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                ),
                ("code_challenge_method", "S256"),
            ])
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            serde_json::from_str::<serde_json::Value>(&response.text().await.unwrap()).unwrap(),
        )
    };
    let (status, body) = device(DESKTOP_CLIENT).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["user_code"].is_string() && body["device_code"].is_string());
    assert!(
        body["verification_uri"]
            .as_str()
            .unwrap()
            .starts_with(&keycloak::issuer())
    );
    // The runas client: no device grant.
    let (status, body) = device(RUNAS_CLIENT).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client")),
        "{body}"
    );
}
