//! What a SAML identity provider answers: a `SAMLResponse` form value, a Response's XML, an
//! ECP SOAP envelope. Parsing never panics, and what parses keeps the promises the sign-in
//! relies on: every role offered is a role ARN with a SAML provider ARN, the encoded
//! assertion is what STS gets (never in `Debug`), and a Response cut out of an ECP envelope
//! reads the same on its own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use needroleshere::signin::saml::{Assertion, EcpAnswer, read_ecp_answer};

fn check(assertion: &Assertion) {
    assert!(!assertion.roles.is_empty());
    for pair in &assertion.roles {
        assert!(pair.role_arn.as_str().contains(":role/"));
        assert!(pair.provider_arn.as_str().contains(":saml-provider/"));
        assert!(assertion.pair_for(&pair.role_arn).is_some());
    }
    let debug = format!("{assertion:?}");
    if assertion.encoded.expose().len() > 8 {
        assert!(!debug.contains(assertion.encoded.expose()), "the assertion is in Debug");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(assertion) = Assertion::from_form_value(text) {
        check(&assertion);
    }
    if let Ok(assertion) = Assertion::from_xml(text) {
        check(&assertion);
    }
    if let Ok(EcpAnswer::Response(xml)) = read_ecp_answer(text) {
        // Standing alone, it is still XML with a Response at its root.
        if let Ok(assertion) = Assertion::from_xml(&xml) {
            check(&assertion);
        }
        assert!(roxmltree::Document::parse(&xml).is_ok(), "{xml}");
    }
});
