//! Temporary AWS credentials, whatever their source, and the `credential_process` output.
//!
//! `credential_process` prints one JSON object on stdout
//! (<https://docs.aws.amazon.com/sdkref/latest/guide/feature-process-credentials.html>):
//! `{"Version":1,"AccessKeyId":…,"SecretAccessKey":…,"SessionToken":…,"Expiration":"…Z"}`.

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::secret::Secret;

/// A set of AWS credentials. The secret parts are redacted in `Debug`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
    pub expiration: Option<OffsetDateTime>,
    /// The role the credentials act as, when known.
    pub role_arn: Option<String>,
}

impl Credentials {
    /// The account of the role, taken from its ARN.
    pub fn account_id(&self) -> Option<&str> {
        let arn = self.role_arn.as_deref()?;
        let account = arn.split(':').nth(4)?;
        (!account.is_empty()).then_some(account)
    }

    /// The `credential_process` JSON document, without a trailing newline.
    pub fn to_credential_process_json(&self) -> String {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Output<'a> {
            version: u8,
            access_key_id: &'a str,
            secret_access_key: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            session_token: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            expiration: Option<String>,
        }
        let output = Output {
            version: 1,
            access_key_id: &self.access_key_id,
            secret_access_key: self.secret_access_key.expose(),
            session_token: self.session_token.as_ref().map(Secret::expose),
            expiration: self.expiration.map(format_rfc3339),
        };
        // Serialising a struct of strings and integers cannot fail.
        serde_json::to_string(&output).unwrap_or_default()
    }
}

/// RFC 3339 in UTC with a `Z` and whole seconds, the form every SDK parses:
/// `2026-01-02T03:04:05Z`.
pub fn format_rfc3339(time: OffsetDateTime) -> String {
    let time = time
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(time);
    // Whole-second UTC times in years 0-9999 always format.
    time.format(&Rfc3339).unwrap_or_default()
}

/// Parses an RFC 3339 timestamp (any offset, optional fraction).
pub fn parse_rfc3339(text: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(text, &Rfc3339)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn sample() -> Credentials {
        Credentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: Secret::new("s3cr3t/value"),
            session_token: Some(Secret::new("t0ken")),
            expiration: Some(datetime!(2026-01-02 03:04:05.678 +01:00)),
            role_arn: Some("arn:aws:iam::123456789012:role/x".into()),
        }
    }

    #[test]
    fn credential_process_json_has_the_documented_shape() {
        let json: serde_json::Value =
            serde_json::from_str(&sample().to_credential_process_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "Version": 1,
                "AccessKeyId": "ASIAEXAMPLE",
                "SecretAccessKey": "s3cr3t/value",
                "SessionToken": "t0ken",
                "Expiration": "2026-01-02T02:04:05Z",
            })
        );
    }

    #[test]
    fn debug_redacts_secrets() {
        let shown = format!("{:?}", sample());
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("t0ken"),
            "{shown}"
        );
    }

    #[test]
    fn account_comes_from_the_role_arn() {
        assert_eq!(sample().account_id(), Some("123456789012"));
        let mut c = sample();
        c.role_arn = None;
        assert_eq!(c.account_id(), None);
    }

    #[test]
    fn rfc3339_round_trip() {
        let t = parse_rfc3339("2026-01-02T03:04:05Z").unwrap();
        assert_eq!(format_rfc3339(t), "2026-01-02T03:04:05Z");
        assert!(parse_rfc3339("2026-01-02 03:04:05").is_err());
    }
}
