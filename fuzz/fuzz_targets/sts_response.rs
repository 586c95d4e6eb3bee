//! STS answers, read by the client's own functions: `parse_credentials_answer` (for each of
//! AssumeRole, GetSessionToken and AssumeRoleWithWebIdentity), `parse_caller_identity_answer`
//! and `parse_error_answer` on any body never panic. Credentials they accept have a non-empty
//! access key id and secret, a session token and an expiration, and are the same whichever
//! action asked; a refusal names the action. An error answer is a `Service` error for the
//! action and status given, with no control characters in its message.
//! The body is the input decoded as the client decodes it (UTF-8, invalid bytes replaced).
#![no_main]

use libfuzzer_sys::fuzz_target;
use needroleshere::aws::sts::{
    StsError, parse_caller_identity_answer, parse_credentials_answer, parse_error_answer,
};

const ACTIONS: [&str; 3] = ["AssumeRole", "GetSessionToken", "AssumeRoleWithWebIdentity"];

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);

    let mut first = None;
    for action in ACTIONS {
        let result = parse_credentials_answer(action, &body);
        match &result {
            Ok(creds) => {
                assert!(
                    !creds.access_key_id.is_empty(),
                    "empty AccessKeyId accepted"
                );
                assert!(
                    !creds.secret_access_key.expose().is_empty(),
                    "empty SecretAccessKey accepted"
                );
                assert!(creds.session_token.is_some() && creds.expiration.is_some());
            }
            Err(StsError::BadResponse {
                action: named,
                reason,
            }) => {
                assert_eq!(*named, action);
                assert!(!reason.is_empty());
            }
            Err(other) => panic!("not a BadResponse: {other:?}"),
        }
        let outcome = result.ok();
        match &first {
            None => first = Some(outcome),
            Some(earlier) => assert_eq!(earlier, &outcome, "{action} reads the body differently"),
        }
    }

    if let Err(e) = parse_caller_identity_answer(&body) {
        assert!(
            matches!(
                e,
                StsError::BadResponse {
                    action: "GetCallerIdentity",
                    ..
                }
            ),
            "{e:?}"
        );
    }

    let status = 400 + u16::from(data.first().copied().unwrap_or(0)) % 200;
    match parse_error_answer("AssumeRole", status, &body) {
        StsError::Service {
            action: "AssumeRole",
            status: s,
            message,
            ..
        } if s == status => {
            assert!(!message.chars().any(char::is_control), "{message:?}");
        }
        other => panic!("not a Service error for AssumeRole {status}: {other:?}"),
    }
});
