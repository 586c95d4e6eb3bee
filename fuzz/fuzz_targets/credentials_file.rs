//! The credentials-file editor: `set_profile` on any text and profile name never panics;
//! when it accepts a file that ends with a line ending (or is empty), setting the same
//! credentials again changes nothing, and the result holds the profile's section header.
//! (Files whose last line has no line ending are covered by tests/proptest_parsers.rs.)
//! The input's first line is the profile name, the rest the file.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use needroleshere::aws_files::credentials_file::set_profile;
use needroleshere::credentials::Credentials;
use needroleshere::secret::Secret;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (profile, text) = input.split_once('\n').unwrap_or((input, ""));
    let credentials = Credentials {
        access_key_id: "ASIAFUZZFUZZFUZZFUZZ".into(),
        secret_access_key: Secret::new("fuzz/secret+access+key"),
        session_token: Some(Secret::new("fuzz-session-token==")),
        expiration: None,
        role_arn: None,
    };
    let path = Path::new("credentials");
    let Ok(out) = set_profile(text, profile, &credentials, path) else {
        return;
    };
    // The profile's section is there (its header may pad the name: `[ default ]`).
    assert!(
        out.lines().any(|line| line
            .trim()
            .strip_prefix('[')
            .and_then(|rest| rest.split(']').next())
            .is_some_and(|name| name.trim() == profile)),
        "{out:?}"
    );
    assert!(out.contains("fuzz/secret+access+key"));
    if text.is_empty() || text.ends_with('\n') {
        let again =
            set_profile(&out, profile, &credentials, path).expect("the editor reads what it wrote");
        assert_eq!(again, out, "not idempotent for {text:?}");
    }
});
