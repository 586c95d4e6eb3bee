//! AWS4-X509 request signing, as IAM Roles Anywhere `CreateSession` requires.
//!
//! A pure function of (request parts, identity, region, time): no clock, file or network.
//! See <https://docs.aws.amazon.com/rolesanywhere/latest/userguide/authentication-sign-process.html>.
//!
//! * Added headers: `X-Amz-Date` (`YYYYMMDDTHHMMSSZ`), `X-Amz-X509` (base64 DER of the leaf),
//!   `X-Amz-X509-Chain` (comma-joined base64 DER of the chain, when there is one) and
//!   `Authorization`.
//! * Canonical request as SigV4: method, canonical URI (each segment of the path as sent,
//!   percent-encoded once more, as for every service but S3), canonical query (RFC 3986,
//!   sorted), canonical headers (lowercase, trimmed, inner whitespace collapsed, sorted),
//!   the signed header list and the hex SHA-256 of the body.
//! * String to sign: algorithm, date, scope `YYYYMMDD/<region>/rolesanywhere/aws4_request`,
//!   hex SHA-256 of the canonical request.
//! * `Authorization: <algorithm> Credential=<leaf serial, decimal>/<scope>,
//!   SignedHeaders=<list>, Signature=<hex>`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::identity::{Identity, IdentityError};

/// The service name in the credential scope.
pub const SERVICE: &str = "rolesanywhere";

/// The parts of an HTTP request that are signed.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The `Host` header value as sent: the host, with `:port` when not the scheme's default.
    pub host: &'a str,
    /// The path as it appears on the request line (already percent-encoded).
    pub path: &'a str,
    /// Query parameters, decoded.
    pub query: &'a [(&'a str, &'a str)],
    /// Headers the caller sends besides `Host` (e.g. `Content-Type`); all are signed.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// The result of signing: headers to add to the request, and the intermediate strings,
/// which hold no secret and help when the service refuses a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub headers: Vec<(&'static str, String)>,
    pub canonical_request: String,
    pub string_to_sign: String,
}

/// Signs `request` with `identity` for `region` at `time`.
pub fn sign(
    request: &Request<'_>,
    identity: &Identity,
    region: &str,
    time: OffsetDateTime,
) -> Result<Signed, IdentityError> {
    let time = time.to_offset(time::UtcOffset::UTC);
    let amz_date = format_amz_date(time);
    let date = &amz_date[..8];
    let algorithm = identity.algorithm().aws4_x509_name();

    let mut added: Vec<(&'static str, String)> = vec![
        ("X-Amz-Date", amz_date.clone()),
        ("X-Amz-X509", BASE64.encode(identity.leaf().der())),
    ];
    if !identity.chain().is_empty() {
        let chain: Vec<String> = identity
            .chain()
            .iter()
            .map(|c| BASE64.encode(c.der()))
            .collect();
        added.push(("X-Amz-X509-Chain", chain.join(",")));
    }

    // BTreeMap keeps the lowercase names sorted; repeated headers are joined with commas.
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let all = std::iter::once(("host", request.host))
        .chain(request.headers.iter().copied())
        .chain(added.iter().map(|(n, v)| (*n, v.as_str())));
    for (name, value) in all {
        let value = normalize_header_value(value);
        headers
            .entry(name.to_ascii_lowercase())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let signed_headers = headers
        .keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(";");

    let mut canonical_request = String::new();
    canonical_request.push_str(request.method);
    canonical_request.push('\n');
    canonical_request.push_str(&canonical_uri(request.path));
    canonical_request.push('\n');
    canonical_request.push_str(&canonical_query(request.query));
    canonical_request.push('\n');
    for (name, value) in &headers {
        let _ = writeln!(canonical_request, "{name}:{value}");
    }
    canonical_request.push('\n');
    canonical_request.push_str(&signed_headers);
    canonical_request.push('\n');
    canonical_request.push_str(&hex::encode(Sha256::digest(request.body)));

    let scope = format!("{date}/{region}/{SERVICE}/aws4_request");
    let string_to_sign = format!(
        "{algorithm}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let signature = hex::encode(identity.sign(string_to_sign.as_bytes())?);
    added.push((
        "Authorization",
        format!(
            "{algorithm} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            identity.leaf().serial()
        ),
    ));
    Ok(Signed {
        headers: added,
        canonical_request,
        string_to_sign,
    })
}

/// `YYYYMMDDTHHMMSSZ` in UTC.
pub fn format_amz_date(time: OffsetDateTime) -> String {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    // Formatting a UTC date with only numeric components cannot fail for years 0-9999;
    // outside that range the fallback is still a string the service will reject clearly.
    time.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

fn normalize_header_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Percent-encodes everything but RFC 3986 unreserved characters, with uppercase hex.
fn uri_encode(input: &str, out: &mut String) {
    for byte in input.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        uri_encode(segment, &mut out);
    }
    out
}

fn canonical_query(query: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| {
            let (mut key, mut value) = (String::new(), String::new());
            uri_encode(k, &mut key);
            uri_encode(v, &mut value);
            (key, value)
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn amz_date_is_utc_basic_format() {
        let t = datetime!(2026-01-02 03:04:05 +02:00);
        assert_eq!(format_amz_date(t), "20260102T010405Z");
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed() {
        assert_eq!(normalize_header_value("  a   b \t c  "), "a b c");
        assert_eq!(
            normalize_header_value("application/json"),
            "application/json"
        );
    }

    #[test]
    fn query_is_encoded_then_sorted() {
        let query = [
            ("roleArn", "arn:aws:iam::1:role/a b"),
            ("a", "2"),
            ("a", "1"),
            ("~x", "é"),
        ];
        assert_eq!(
            canonical_query(&query),
            "a=1&a=2&roleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa%20b&~x=%C3%A9"
        );
        assert_eq!(canonical_query(&[]), "");
    }

    #[test]
    fn uri_segments_are_encoded_again() {
        assert_eq!(canonical_uri("/sessions"), "/sessions");
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/a%20b/c"), "/a%2520b/c");
    }
}
