//! The AWS CLI's IAM Identity Center cache files (`~/.aws/sso/cache/*.json`, written by
//! other tools): `parse_token` and `parse_registration` on any bytes never panic, and what
//! they accept writes back to text that parses to the same value (times at whole seconds,
//! as the CLI writes them).
#![no_main]

use libfuzzer_sys::fuzz_target;
use needroleshere::aws_files::sso_cache::{
    format_time, parse_registration, parse_time, parse_token, registration_json, token_json,
};

fn whole_seconds(at: time::OffsetDateTime) -> time::OffsetDateTime {
    parse_time(&format_time(at)).expect("format_time writes a time parse_time reads")
}

fuzz_target!(|data: &[u8]| {
    if let Ok(mut token) = parse_token(data) {
        let again = parse_token(&token_json(&token)).expect("our own token text parses");
        token.expires_at = whole_seconds(token.expires_at);
        if let Some(client) = &mut token.client {
            client.expires_at = whole_seconds(client.expires_at);
        }
        assert_eq!(again, token);
    }
    if let Ok(mut registration) = parse_registration(data) {
        let again = parse_registration(&registration_json(&registration))
            .expect("our own registration text parses");
        registration.expires_at = whole_seconds(registration.expires_at);
        assert_eq!(again, registration);
    }
});
