//! `credential_process` output: `parse_process_output` on any stdout never panics, and what it
//! accepts is what the JSON says: read independently (below, as a JSON object whose five
//! credential fields are kept as `serde_json::Value`s), the document is an object with
//! `Version` 1 and the same `AccessKeyId`, `SecretAccessKey` and `SessionToken`, and an
//! `Expiration` exactly when the credentials have one. A refusal says why.
//! Other fields are skipped as the product skips them (serde's `IgnoredAny`, which neither
//! checks the UTF-8 of their strings nor the range of their numbers), so the two readers
//! differ only in what they read.
#![no_main]

use std::collections::BTreeMap;
use std::fmt;

use libfuzzer_sys::fuzz_target;
use needroleshere::source::profile::parse_process_output;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

const FIELDS: [&str; 5] = [
    "Version",
    "AccessKeyId",
    "SecretAccessKey",
    "SessionToken",
    "Expiration",
];

/// A JSON object's credential fields (only an object: not an array).
struct Document(BTreeMap<String, Value>);

impl<'de> serde::Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = Document;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Document, A::Error> {
                let mut fields = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    if FIELDS.contains(&key.as_str()) {
                        fields.insert(key, map.next_value::<Value>()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Document(fields))
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

fuzz_target!(|data: &[u8]| {
    let creds = match parse_process_output(data) {
        Ok(creds) => creds,
        Err(reason) => {
            assert!(!reason.is_empty());
            return;
        }
    };
    let Document(fields) = serde_json::from_slice(data).expect("accepted output is a JSON object");
    let field = |name: &str| fields.get(name).filter(|v| !v.is_null());
    assert_eq!(field("Version").and_then(Value::as_u64), Some(1));
    assert_eq!(
        field("AccessKeyId").and_then(Value::as_str),
        Some(creds.access_key_id.as_str())
    );
    assert_eq!(
        field("SecretAccessKey").and_then(Value::as_str),
        Some(creds.secret_access_key.expose())
    );
    assert_eq!(
        field("SessionToken").and_then(Value::as_str),
        creds.session_token.as_ref().map(|t| t.expose())
    );
    assert_eq!(field("Expiration").is_some(), creds.expiration.is_some());
    assert_eq!(creds.role_arn, None);
});
