//! IAM Roles Anywhere CreateSession answers, read by the client's own functions:
//! `parse_credentials` and `error_message` on any body never panic. Credentials it accepts have
//! a non-empty access key id and secret, a session token and an expiration; a refusal says
//! why. An error message is one line that says something: not blank, no control characters, at
//! most 1000 characters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use needroleshere::aws::rolesanywhere::{error_message, parse_credentials};

fuzz_target!(|data: &[u8]| {
    match parse_credentials(data) {
        Ok(creds) => {
            assert!(
                !creds.access_key_id.is_empty(),
                "empty accessKeyId accepted"
            );
            assert!(
                !creds.secret_access_key.expose().is_empty(),
                "empty secretAccessKey accepted"
            );
            assert!(creds.session_token.is_some() && creds.expiration.is_some());
        }
        Err(reason) => assert!(!reason.is_empty()),
    }

    let message = error_message(data);
    assert!(!message.trim().is_empty(), "{message:?}");
    assert!(!message.chars().any(char::is_control), "{message:?}");
    assert!(
        message.chars().count() <= 1000,
        "{} characters",
        message.chars().count()
    );
});
