//! The fake STS's reading of SAML responses and IdP metadata (crates/fake-aws `saml`), which
//! tests feed with Keycloak's output: any response checked against Keycloak's captured
//! metadata, and any metadata document, never panic (libxmlsec1 and roxmltree both see the
//! input); a response that passes names the provider's issuer, an accepted audience and a
//! valid session name, and is within its validity window.
//!
//! First byte: bit 0 clear, the rest is a response (bit 1 clear: base64-encoded here, so the
//! fuzzer works on the XML; set: passed as the `SAMLAssertion` text itself); bit 0 set, the
//! rest is a metadata document.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use fake_aws::saml::{AWS_ENTITY_ID, SamlProvider, check_response};
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;

const METADATA: &str = include_str!("../../crates/fake-aws/testdata/saml/keycloak-metadata.xml");
const PROVIDER: &str = "arn:aws:iam::123456789012:saml-provider/keycloak";
const ROLE: &str = "arn:aws:iam::123456789012:role/saml-developer";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if mode & 1 == 0 {
        let provider = SamlProvider::from_metadata(PROVIDER, METADATA).expect("the metadata");
        // A minute after the seeds' IssueInstant (fuzz/seeds/sts_saml).
        let now = OffsetDateTime::from_unix_timestamp(1_796_330_335).expect("a valid time");
        let encoded = if mode & 2 == 0 {
            STANDARD.encode(text.as_bytes())
        } else {
            text.into_owned()
        };
        if let Ok(verified) = check_response(&encoded, &provider, ROLE, now) {
            assert_eq!(verified.issuer, provider.entity_id);
            assert!(
                verified.audience == AWS_ENTITY_ID
                    || verified.audience.ends_with("signin.aws.amazon.com/saml")
            );
            assert!((2..=64).contains(&verified.session_name.len()));
            assert!(verified.not_on_or_after > now);
        }
    } else if let Ok(provider) = SamlProvider::from_metadata(PROVIDER, &text) {
        assert!(!provider.entity_id.is_empty());
        assert!(!provider.certificates.is_empty());
    }
});
