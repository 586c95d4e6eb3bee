//! The fake STS's reading of OpenID Connect ID tokens and provider key sets (crates/fake-aws
//! `oidc`), which tests feed with tokens and keys from Keycloak: any token text checked
//! against a fixed key, and any key set checked against a fixed token, never panic; a token
//! that passes names the trusted issuer and audience and is not expired.
//!
//! First byte even: the rest is a token. Odd: the rest is a JWKS document.
#![no_main]

use fake_aws::oidc::{OidcTrust, UnverifiedToken, check_token, parse_key_set};
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;

const ISSUER: &str = "http://127.0.0.1:8080/realms/needroleshere";
const AUDIENCE: &str = "needroleshere-desktop";
/// RFC 7515 appendix A.3's P-256 public key.
const KEY: &str = r#"{"kty":"EC","crv":"P-256","kid":"k",
    "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y":"x_FEzRjmO1LFQA6_ufy1_BLoN5RbGRDxDDhB7VIK4yY"}"#;
/// Header {"alg":"ES256","kid":"k"}, claims naming ISSUER and AUDIENCE, a made-up signature.
const TOKEN: &str = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsifQ.eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xOjgwODAvcmVhbG1zL25lZWRyb2xlc2hlcmUiLCJzdWIiOiJhbGljZSIsImF1ZCI6Im5lZWRyb2xlc2hlcmUtZGVza3RvcCIsImV4cCI6NDEwMjQ0NDgwMH0.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let trust = OidcTrust::new(ISSUER, AUDIENCE, "*");
    let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("a valid time");
    if mode % 2 == 0 {
        let Ok(token) = UnverifiedToken::parse(&text) else {
            return;
        };
        let _ = (token.issuer(), token.key_id());
        let key: serde_json::Value = serde_json::from_str(KEY).expect("the key's JSON");
        let keys = parse_key_set(&serde_json::json!({ "keys": [key] })).expect("the key set");
        assert_eq!(keys.len(), 1);
        if let Ok(verified) = check_token(&token, &[&trust], |_| Ok(keys), now) {
            assert_eq!(verified.issuer, ISSUER);
            assert_eq!(verified.audience, AUDIENCE);
            assert!(verified.expires > now);
        }
    } else {
        let Ok(set) = serde_json::from_str::<serde_json::Value>(&text) else {
            return;
        };
        let Ok(keys) = parse_key_set(&set) else {
            return;
        };
        let token = UnverifiedToken::parse(TOKEN).expect("the fixed token parses");
        let _ = check_token(&token, &[&trust], |_| Ok(keys), now);
    }
});
