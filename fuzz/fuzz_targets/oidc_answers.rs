//! What an OpenID Connect provider answers (discovery documents, token answers, device
//! authorization answers, ID tokens): parsing never panics, and what parses keeps the
//! promises the sign-in relies on — endpoints and verification links are https or loopback
//! http, an ID token's claims check against their own issuer and audience until expiry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use needroleshere::aws_files::profiles::is_loopback_http;
use needroleshere::signin::oidc::{DeviceStart, IdClaims, Metadata, TokenAnswer};

fuzz_target!(|data: &[u8]| {
    let issuer = url::Url::parse("http://127.0.0.1:8080/realms/r").expect("issuer");
    if let Ok(metadata) = Metadata::parse(&issuer, data) {
        for url in [Some(&metadata.token_endpoint), metadata.authorization_endpoint.as_ref(), metadata.device_authorization_endpoint.as_ref()]
            .into_iter()
            .flatten()
        {
            assert!(url.scheme() == "https" || is_loopback_http(url), "{url}");
        }
    }
    if let Ok(answer) = TokenAnswer::parse(data) {
        let debug = format!("{answer:?}");
        if let Some(token) = &answer.id_token
            && token.expose().len() > 8
        {
            assert!(!debug.contains(token.expose()), "the ID token is in Debug");
        }
    }
    if let Ok(start) = DeviceStart::parse(data) {
        let url = url::Url::parse(&start.verification_uri).expect("checked");
        assert!(url.scheme() == "https" || is_loopback_http(&url));
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(claims) = IdClaims::parse(text)
        && let Ok(issuer) = url::Url::parse(&claims.issuer)
        && let Some(audience) = claims.audiences.first().cloned()
        && claims.audiences.len() == 1
    {
        let before = claims.expires - time::Duration::seconds(1);
        let checked = claims.check(&issuer, &audience, claims.nonce.as_deref(), before);
        let same_issuer = claims.issuer.trim_end_matches('/') == issuer.as_str().trim_end_matches('/');
        assert_eq!(checked.is_ok(), same_issuer, "{checked:?}");
        assert!(claims.check(&issuer, &audience, None, claims.expires).is_err());
    }
});
