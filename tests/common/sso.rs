//! Helpers of the IAM Identity Center tests (`tests/sso_cli.rs`, `tests/sso_source.rs`): a
//! sign-in through the doubles' own API, turned into the token file our writer makes.

use axum::http::HeaderMap;
use fake_aws::World;
use fake_aws::sso::{DEVICE_CODE_GRANT, SSO_ALICE, SSO_START_URL};
use needroleshere::aws_files::sso_cache::{CachedToken, TokenClient};
use needroleshere::secret::Secret;
use serde_json::Value;
use time::OffsetDateTime;

/// The wall clock: the real CLI and the doubles compare cached times with it.
#[allow(
    clippy::disallowed_methods,
    reason = "the real CLI and the doubles compare the cache's times with the wall clock"
)]
pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Signs `alice` in through the doubles' API directly (RegisterClient, with scopes when
/// `scopes`; StartDeviceAuthorization; approval; CreateToken), and returns the token file
/// our writer makes of the answers.
pub(crate) fn sign_in_directly(world: &World, scopes: bool) -> CachedToken {
    let sso = &world.sso;
    let post = |path: &str, body: Value| {
        sso.handle(
            "POST",
            path,
            None,
            &HeaderMap::new(),
            body.to_string().as_bytes(),
        )
        .unwrap()
        .unwrap()
    };
    let mut register = serde_json::json!({"clientName": "needroleshere", "clientType": "public"});
    if scopes {
        register["scopes"] = serde_json::json!(["sso:account:access"]);
    }
    let client = post("/client/register", register);
    let (id, secret) = (&client["clientId"], &client["clientSecret"]);
    let device = post(
        "/device_authorization",
        serde_json::json!({"clientId": id, "clientSecret": secret, "startUrl": SSO_START_URL}),
    );
    sso.approve(device["userCode"].as_str().unwrap(), SSO_ALICE)
        .unwrap();
    let token = post(
        "/token",
        serde_json::json!({"clientId": id, "clientSecret": secret,
            "grantType": DEVICE_CODE_GRANT, "deviceCode": device["deviceCode"]}),
    );
    let at = |seconds: i64| OffsetDateTime::from_unix_timestamp(seconds).unwrap();
    CachedToken {
        start_url: Some(SSO_START_URL.to_owned()),
        region: Some("us-east-1".to_owned()),
        access_token: Secret::new(token["accessToken"].as_str().unwrap()),
        expires_at: now() + time::Duration::seconds(token["expiresIn"].as_i64().unwrap()),
        client: Some(TokenClient {
            client_id: id.as_str().unwrap().to_owned(),
            client_secret: Secret::new(secret.as_str().unwrap()),
            expires_at: at(client["clientSecretExpiresAt"].as_i64().unwrap()),
        }),
        refresh_token: token["refreshToken"].as_str().map(Secret::new),
        other: serde_json::Map::new(),
    }
}
