//! SigV4 request verification, written once for both strict fakes: the fake STS
//! (`AWS4-HMAC-SHA256`) and the fake IAM Roles Anywhere (`AWS4-X509-RSA-SHA256`,
//! `AWS4-X509-ECDSA-SHA256`), which differ only in the credential and the signature check.
//! Spec: <https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html> and
//! <https://docs.aws.amazon.com/rolesanywhere/latest/userguide/authentication-sign-process.html>.
//!
//! Contract:
//! * [`single_header`]: a header appears at most once and holds visible ASCII.
//! * [`parse_authorization`]: `ALGORITHM Credential=ID/YYYYMMDD/REGION/SERVICE/TERMINATOR,
//!   SignedHeaders=a;b;c, Signature=HEX`, each component exactly once, nothing else; the
//!   [`Scheme`] names the accepted algorithms, what `ID` is (a decimal certificate serial or
//!   an access key id) and the signature's length.
//! * [`check_scope`]: the scope's date is `X-Amz-Date`'s day, its region and service the
//!   endpoint's, its terminator `aws4_request`. [`check_skew`]: `X-Amz-Date` within
//!   [`MAX_CLOCK_SKEW`] of the fake's clock.
//! * [`check_signed_headers`]: lowercase, sorted, no duplicates, every required header signed,
//!   every signed header sent.
//! * [`canonical_request`] and [`string_to_sign`] as the spec writes them: the path's segments
//!   encoded once more (every service but S3), the query's decoded pairs RFC 3986-encoded and
//!   sorted ([`canonical_query`]; the caller decodes the query as its service does), header
//!   values trimmed with inner whitespace runs folded, the payload hash given by the caller.
//! * Failures are a [`Problem`]: each fake turns it into its own error code and its service's
//!   wording, so both stay exactly as strict and as talkative as AWS.
//!
//! Nothing here is shared with the product's signer: a double that agreed with the signer by
//! construction would prove nothing.

use axum::http::HeaderMap;
use ring::hmac;
use sha2::{Digest, Sha256};
use time::macros::format_description;
use time::{Duration, OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// The last element of every SigV4 credential scope.
pub const TERMINATOR: &str = "aws4_request";

/// How far `X-Amz-Date` may be from the fake's clock, either way (both services: 5 minutes).
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(5);

/// What is wrong with a request, in SigV4 terms. Each fake maps a problem to its error code
/// and, where AWS words it differently per service, to its own message; [`Problem::message`]
/// is the wording both services share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The header (its label) appears more than once.
    RepeatedHeader(String),
    /// The header (its label) holds characters other than visible ASCII.
    NotVisibleAscii(String),
    /// The Authorization header does not parse: what is wrong with it.
    MalformedAuthorization(String),
    /// The Authorization header names an algorithm the service does not use.
    UnsupportedAlgorithm(String),
    /// `X-Amz-Date` (the value) is not `YYYYMMDDTHHMMSSZ`.
    MalformedDate(String),
    /// The scope's date is not `X-Amz-Date`'s day.
    ScopeDate {
        scope_date: String,
        amz_date: String,
    },
    /// The scope names another region than the endpoint's.
    ScopeRegion { scope: String, endpoint: String },
    /// The scope names another service.
    ScopeService { scope: String, expected: String },
    /// The scope does not end in [`TERMINATOR`].
    ScopeTerminator(String),
    /// `X-Amz-Date` is more than [`MAX_CLOCK_SKEW`] before the fake's clock.
    Expired {
        amz_date: String,
        limit: String,
        now: String,
    },
    /// `X-Amz-Date` is more than [`MAX_CLOCK_SKEW`] after the fake's clock.
    NotYetCurrent {
        amz_date: String,
        limit: String,
        now: String,
    },
    /// `SignedHeaders` holds an empty name.
    EmptySignedHeader,
    /// `SignedHeaders` holds a name with an uppercase letter.
    UppercaseSignedHeader(String),
    /// `SignedHeaders` is not sorted, or repeats a name: the first pair out of order.
    UnsortedSignedHeaders(String, String),
    /// A header the service requires signed is not in `SignedHeaders`.
    UnsignedHeader(String),
    /// A header in `SignedHeaders` is not in the request.
    SignedHeaderNotSent(String),
    /// The path (as received) has an invalid percent-encoding.
    MalformedPath(String),
    /// A query parameter (as received) has an invalid percent-encoding.
    MalformedQueryParameter(String),
}

impl Problem {
    /// The wording both services share (for the variants each words alike; the others get a
    /// plain description a fake may use or replace).
    pub fn message(&self) -> String {
        match self {
            Problem::RepeatedHeader(label) => format!("The {label} header must appear only once"),
            Problem::NotVisibleAscii(label) => {
                format!("The {label} header holds characters other than visible ASCII")
            }
            Problem::MalformedAuthorization(what) => {
                format!("Malformed Authorization header: {what}")
            }
            Problem::UnsupportedAlgorithm(algorithm) => {
                format!("Unsupported Authorization algorithm '{algorithm}'")
            }
            Problem::MalformedDate(value) => {
                format!("X-Amz-Date '{value}' is not in the form YYYYMMDDTHHMMSSZ")
            }
            Problem::ScopeDate {
                scope_date,
                amz_date,
            } => {
                format!("the scope date '{scope_date}' is not the date of X-Amz-Date '{amz_date}'")
            }
            Problem::ScopeRegion { scope, endpoint } => format!(
                "Credential should be scoped to a valid region, not '{scope}'; this endpoint \
                 serves '{endpoint}'"
            ),
            Problem::ScopeService { scope, expected } => format!(
                "Credential should be scoped to correct service: '{expected}', not '{scope}'"
            ),
            Problem::ScopeTerminator(terminator) => format!(
                "Credential should be scoped with a valid terminator: '{TERMINATOR}', not \
                 '{terminator}'"
            ),
            Problem::Expired {
                amz_date,
                limit,
                now,
            } => format!(
                "Signature expired: {amz_date} is now earlier than {limit} ({now} - 5 min.)"
            ),
            Problem::NotYetCurrent {
                amz_date,
                limit,
                now,
            } => format!(
                "Signature not yet current: {amz_date} is still later than {limit} ({now} + 5 \
                 min.)"
            ),
            Problem::EmptySignedHeader => "SignedHeaders holds an empty header name".to_owned(),
            Problem::UppercaseSignedHeader(name) => {
                format!("SignedHeaders must be lowercase; '{name}' is not")
            }
            Problem::UnsortedSignedHeaders(first, second) => format!(
                "SignedHeaders must be sorted and without duplicates; '{first}' comes before \
                 '{second}'"
            ),
            Problem::UnsignedHeader(name) => format!("SignedHeaders must include '{name}'"),
            Problem::SignedHeaderNotSent(name) => {
                format!("Header '{name}' is listed in SignedHeaders but is not in the request")
            }
            Problem::MalformedPath(path) => {
                format!("The path '{path}' has an invalid percent-encoding")
            }
            Problem::MalformedQueryParameter(piece) => {
                format!("The query parameter '{piece}' has an invalid percent-encoding")
            }
        }
    }
}

/// The single value of header `name` (lowercase), shown as `label` in messages.
pub fn single_header<'h>(
    headers: &'h HeaderMap,
    name: &str,
    label: &str,
) -> Result<Option<&'h str>, Problem> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Problem::RepeatedHeader(label.to_owned()));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| Problem::NotVisibleAscii(label.to_owned()))
}

/// What the first element of a credential scope names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialId {
    /// The signing certificate's serial number in decimal (Roles Anywhere).
    DecimalSerial,
    /// An access key id (STS and every other HMAC service).
    AccessKeyId,
}

/// What a service accepts in its Authorization header.
#[derive(Debug, Clone, Copy)]
pub struct Scheme {
    /// The algorithm names the service accepts.
    pub algorithms: &'static [&'static str],
    /// What the credential's first element is.
    pub credential_id: CredentialId,
    /// The signature's length in bytes when fixed (32 for HMAC-SHA256); `None` for any
    /// non-empty length (X.509 signatures vary with the key).
    pub signature_bytes: Option<usize>,
}

/// A parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// One of the scheme's algorithm names.
    pub algorithm: &'static str,
    /// The certificate serial (decimal) or the access key id.
    pub credential_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub terminator: String,
    pub signed_headers: Vec<String>,
    pub signature: Vec<u8>,
}

impl Authorization {
    /// `date/region/service/terminator`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.date, self.region, self.service, self.terminator
        )
    }
}

/// Parses an `Authorization` header value under `scheme` (see the module contract).
pub fn parse_authorization(value: &str, scheme: &Scheme) -> Result<Authorization, Problem> {
    let malformed = |what: &str| Problem::MalformedAuthorization(what.to_owned());
    let (algorithm, rest) = value
        .split_once(' ')
        .ok_or_else(|| malformed("no space after the algorithm"))?;
    let algorithm = scheme
        .algorithms
        .iter()
        .copied()
        .find(|known| *known == algorithm)
        .ok_or_else(|| Problem::UnsupportedAlgorithm(algorithm.to_owned()))?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| malformed(&format!("'{part}' is not KEY=VALUE")))?;
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            other => return Err(malformed(&format!("unknown component '{other}'"))),
        };
        if slot.replace(value).is_some() {
            return Err(malformed(&format!("'{key}' appears twice")));
        }
    }
    let credential = credential.ok_or_else(|| malformed("no Credential"))?;
    let signed_headers = signed_headers.ok_or_else(|| malformed("no SignedHeaders"))?;
    let signature = signature.ok_or_else(|| malformed("no Signature"))?;

    let scope: Vec<&str> = credential.split('/').collect();
    let [id, date, region, service, terminator] = scope[..] else {
        return Err(malformed(&format!(
            "Credential '{credential}' does not have five '/'-separated parts"
        )));
    };
    match scheme.credential_id {
        CredentialId::DecimalSerial => {
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(malformed(&format!(
                    "the serial number '{id}' in Credential is not a decimal number"
                )));
            }
        }
        CredentialId::AccessKeyId => {
            if id.is_empty() {
                return Err(malformed("the access key id in Credential is empty"));
            }
        }
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(&format!(
            "the date '{date}' in Credential is not YYYYMMDD"
        )));
    }
    if signed_headers.is_empty() {
        return Err(malformed("SignedHeaders is empty"));
    }
    let lowercase_hex = signature
        .bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    match scheme.signature_bytes {
        Some(bytes) => {
            if signature.len() != 2 * bytes || !lowercase_hex {
                return Err(malformed(&format!(
                    "Signature is not {} lowercase hexadecimal digits",
                    2 * bytes
                )));
            }
        }
        None => {
            if signature.is_empty() || signature.len() % 2 != 0 || !lowercase_hex {
                return Err(malformed("Signature is not lowercase hexadecimal"));
            }
        }
    }
    let signature =
        hex::decode(signature).map_err(|_| malformed("Signature is not hexadecimal"))?;
    Ok(Authorization {
        algorithm,
        credential_id: id.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        terminator: terminator.to_owned(),
        signed_headers: signed_headers.split(';').map(str::to_owned).collect(),
        signature,
    })
}

/// The scope must be `X-Amz-Date`'s day, `region`, `service` and [`TERMINATOR`], checked in
/// that order.
pub fn check_scope(
    authorization: &Authorization,
    amz_date: &str,
    region: &str,
    service: &str,
) -> Result<(), Problem> {
    if authorization.date != amz_date[..8.min(amz_date.len())] {
        return Err(Problem::ScopeDate {
            scope_date: authorization.date.clone(),
            amz_date: amz_date.to_owned(),
        });
    }
    if authorization.region != region {
        return Err(Problem::ScopeRegion {
            scope: authorization.region.clone(),
            endpoint: region.to_owned(),
        });
    }
    if authorization.service != service {
        return Err(Problem::ScopeService {
            scope: authorization.service.clone(),
            expected: service.to_owned(),
        });
    }
    if authorization.terminator != TERMINATOR {
        return Err(Problem::ScopeTerminator(authorization.terminator.clone()));
    }
    Ok(())
}

/// `request_time` (from `amz_date`) must be within [`MAX_CLOCK_SKEW`] of `now`.
pub fn check_skew(
    request_time: OffsetDateTime,
    amz_date: &str,
    now: OffsetDateTime,
) -> Result<(), Problem> {
    if request_time < now - MAX_CLOCK_SKEW {
        return Err(Problem::Expired {
            amz_date: amz_date.to_owned(),
            limit: format_amz_date(now - MAX_CLOCK_SKEW),
            now: format_amz_date(now),
        });
    }
    if request_time > now + MAX_CLOCK_SKEW {
        return Err(Problem::NotYetCurrent {
            amz_date: amz_date.to_owned(),
            limit: format_amz_date(now + MAX_CLOCK_SKEW),
            now: format_amz_date(now),
        });
    }
    Ok(())
}

/// `signed` must be lowercase, sorted and free of duplicates; hold every name of `required`;
/// and name only headers the request has.
pub fn check_signed_headers(
    signed: &[String],
    headers: &HeaderMap,
    required: &[&str],
) -> Result<(), Problem> {
    for name in signed {
        if name.is_empty() {
            return Err(Problem::EmptySignedHeader);
        }
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(Problem::UppercaseSignedHeader(name.clone()));
        }
    }
    if let Some(pair) = signed.windows(2).find(|pair| pair[0] >= pair[1]) {
        return Err(Problem::UnsortedSignedHeaders(
            pair[0].clone(),
            pair[1].clone(),
        ));
    }
    for name in required {
        if !signed.iter().any(|signed| signed == name) {
            return Err(Problem::UnsignedHeader((*name).to_owned()));
        }
    }
    for name in signed {
        if !headers.contains_key(name.as_str()) {
            return Err(Problem::SignedHeaderNotSent(name.clone()));
        }
    }
    Ok(())
}

/// Appends `bytes` percent-encoded per RFC 3986: unreserved characters as they are, every
/// other byte as `%XX` with uppercase hex.
pub fn uri_encode(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
}

/// Decodes `%XX` escapes (`+` stays `+`); `None` for a malformed escape.
pub fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = bytes.get(index + 1..index + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    Some(out)
}

/// A decoded query parameter: `(name, value)` bytes.
pub type QueryPair = (Vec<u8>, Vec<u8>);

/// The received query as percent-decoded pairs (`+` stays `+`), in order.
pub fn query_pairs(query: Option<&str>) -> Result<Vec<QueryPair>, Problem> {
    let mut pairs = Vec::new();
    for piece in query.unwrap_or_default().split('&') {
        if piece.is_empty() {
            continue;
        }
        let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
        let invalid = || Problem::MalformedQueryParameter(piece.to_owned());
        pairs.push((
            percent_decode(name).ok_or_else(invalid)?,
            percent_decode(value).ok_or_else(invalid)?,
        ));
    }
    Ok(pairs)
}

/// Each `/`-separated segment of the path as received (already percent-encoded on the wire)
/// RFC 3986-encoded once more: SigV4 double-encodes paths for every service but S3, so a
/// raw `a b` is sent as `a%20b` and signed as `a%2520b`. An empty path is `/`.
pub fn canonical_uri(path: &str) -> Result<String, Problem> {
    if path.is_empty() {
        return Ok("/".to_owned());
    }
    let mut out = String::with_capacity(path.len());
    for (index, segment) in path.split('/').enumerate() {
        if index > 0 {
            out.push('/');
        }
        percent_decode(segment).ok_or_else(|| Problem::MalformedPath(path.to_owned()))?;
        uri_encode(segment.as_bytes(), &mut out);
    }
    Ok(out)
}

/// The canonical query string of decoded `pairs`: each name and value RFC 3986-encoded, the
/// pairs sorted, joined with `&`.
pub fn canonical_query<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> String
where
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let mut encoded: Vec<(String, String)> = pairs
        .into_iter()
        .map(|(name, value)| {
            let mut encoded_name = String::new();
            uri_encode(name.as_ref(), &mut encoded_name);
            let mut encoded_value = String::new();
            uri_encode(value.as_ref(), &mut encoded_value);
            (encoded_name, encoded_value)
        })
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The canonical request: method, [`canonical_uri`], the canonical query (from
/// [`canonical_query`]), the signed headers as `name:value` lines (values trimmed, inner
/// whitespace runs folded to one space, repeated headers joined with `,`), a blank line, the
/// signed header list, the payload hash.
pub fn canonical_request(
    method: &str,
    path: &str,
    canonical_query: &str,
    headers: &HeaderMap,
    signed_headers: &[String],
    payload_hash: &str,
) -> Result<String, Problem> {
    let mut canonical_headers = String::new();
    for name in signed_headers {
        let mut values = Vec::new();
        for value in headers.get_all(name.as_str()) {
            let value = value
                .to_str()
                .map_err(|_| Problem::NotVisibleAscii(name.clone()))?;
            values.push(value.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(&values.join(","));
        canonical_headers.push('\n');
    }
    Ok(format!(
        "{method}\n{}\n{canonical_query}\n{canonical_headers}\n{}\n{payload_hash}",
        canonical_uri(path)?,
        signed_headers.join(";"),
    ))
}

/// `ALGORITHM \n X-Amz-Date \n scope \n hex(SHA-256(canonical request))`.
pub fn string_to_sign(
    algorithm: &str,
    amz_date: &str,
    scope: &str,
    canonical_request: &str,
) -> String {
    format!(
        "{algorithm}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

/// Lowercase hex SHA-256 of `bytes` (the payload hash).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
pub fn signing_key_bytes(secret: &str, date: &str, region: &str, service: &str) -> hmac::Tag {
    let step = |key: &[u8], data: &str| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
    };
    let k_date = step(format!("AWS4{secret}").as_bytes(), date);
    let k_region = step(k_date.as_ref(), region);
    let k_service = step(k_region.as_ref(), service);
    step(k_service.as_ref(), TERMINATOR)
}

/// The HMAC-SHA256 key that signs an `AWS4-HMAC-SHA256` string to sign.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> hmac::Key {
    hmac::Key::new(
        hmac::HMAC_SHA256,
        signing_key_bytes(secret, date, region, service).as_ref(),
    )
}

/// Parses `YYYYMMDDTHHMMSSZ` (UTC).
pub fn parse_amz_date(value: &str) -> Result<OffsetDateTime, Problem> {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    let invalid = || Problem::MalformedDate(value.to_owned());
    if value.len() != 16 || !value.is_ascii() {
        return Err(invalid());
    }
    PrimitiveDateTime::parse(value, format)
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|_| invalid())
}

/// `YYYYMMDDTHHMMSSZ` (UTC).
pub fn format_amz_date(at: OffsetDateTime) -> String {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    let at = at.to_offset(UtcOffset::UTC);
    at.format(format).unwrap_or_else(|_| at.to_string())
}

/// RFC 3339 in UTC, whole seconds, `Z`: `2026-01-02T03:04:05Z`, as AWS writes expirations.
pub fn format_rfc3339(at: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    let at = at.to_offset(UtcOffset::UTC);
    at.format(format).unwrap_or_else(|_| at.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const HMAC: Scheme = Scheme {
        algorithms: &["AWS4-HMAC-SHA256"],
        credential_id: CredentialId::AccessKeyId,
        signature_bytes: Some(32),
    };
    const X509: Scheme = Scheme {
        algorithms: &["AWS4-X509-RSA-SHA256", "AWS4-X509-ECDSA-SHA256"],
        credential_id: CredentialId::DecimalSerial,
        signature_bytes: None,
    };

    #[test]
    fn authorization_parses_per_scheme() {
        let hmac = format!(
            "AWS4-HMAC-SHA256 Credential=AKID/20260102/us-east-1/sts/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature={}",
            "ab".repeat(32)
        );
        let parsed = parse_authorization(&hmac, &HMAC).unwrap();
        assert_eq!(parsed.credential_id, "AKID");
        assert_eq!(parsed.scope(), "20260102/us-east-1/sts/aws4_request");
        assert_eq!(parsed.signed_headers, ["host", "x-amz-date"]);
        assert_eq!(parsed.signature.len(), 32);
        // An X.509 scheme wants a decimal serial, and takes any even length.
        assert!(matches!(
            parse_authorization(&hmac, &X509),
            Err(Problem::UnsupportedAlgorithm(_))
        ));
        let x509 = "AWS4-X509-ECDSA-SHA256 Credential=AKID/20260102/us-east-1/rolesanywhere/\
                    aws4_request, SignedHeaders=host, Signature=abcd";
        assert!(matches!(
            parse_authorization(x509, &X509),
            Err(Problem::MalformedAuthorization(what)) if what.contains("not a decimal number")
        ));
        let x509 = x509.replace("AKID", "1234");
        assert_eq!(
            parse_authorization(&x509, &X509).unwrap().signature,
            [0xab, 0xcd]
        );
        // HMAC signatures have exactly 64 digits.
        let short = hmac.replace(&"ab".repeat(32), "abcd");
        assert!(parse_authorization(&short, &HMAC).is_err());
        for broken in [
            "AWS4-HMAC-SHA256",
            "AWS4-HMAC-SHA256 Credential=a/20260102/r/s/t",
            "AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=a/1/r/s/t, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=a/20260102/r/s/t, SignedHeaders=host, Foo=1",
        ] {
            assert!(parse_authorization(broken, &HMAC).is_err(), "{broken}");
        }
    }

    #[test]
    fn scope_and_skew() {
        let auth = parse_authorization(
            &format!(
                "AWS4-HMAC-SHA256 Credential=A/20260102/us-east-1/sts/aws4_request, \
                 SignedHeaders=host, Signature={}",
                "0".repeat(64)
            ),
            &HMAC,
        )
        .unwrap();
        assert_eq!(
            check_scope(&auth, "20260102T030405Z", "us-east-1", "sts"),
            Ok(())
        );
        assert!(matches!(
            check_scope(&auth, "20260103T030405Z", "us-east-1", "sts"),
            Err(Problem::ScopeDate { .. })
        ));
        assert!(matches!(
            check_scope(&auth, "20260102T030405Z", "eu-west-1", "sts"),
            Err(Problem::ScopeRegion { .. })
        ));
        assert!(matches!(
            check_scope(&auth, "20260102T030405Z", "us-east-1", "iam"),
            Err(Problem::ScopeService { .. })
        ));
        let now = datetime!(2026-01-02 03:04:05 UTC);
        assert_eq!(check_skew(now + MAX_CLOCK_SKEW, "x", now), Ok(()));
        assert_eq!(check_skew(now - MAX_CLOCK_SKEW, "x", now), Ok(()));
        let late = check_skew(now + MAX_CLOCK_SKEW + Duration::SECOND, "x", now);
        assert_eq!(
            late.unwrap_err().message(),
            "Signature not yet current: x is still later than 20260102T030905Z \
             (20260102T030405Z + 5 min.)"
        );
        assert!(matches!(
            check_skew(now - MAX_CLOCK_SKEW - Duration::SECOND, "x", now),
            Err(Problem::Expired { .. })
        ));
    }

    #[test]
    fn signed_header_rules() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "h".parse().unwrap());
        headers.insert("x-amz-date", "d".parse().unwrap());
        let list = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        let required = ["host", "x-amz-date"];
        assert_eq!(
            check_signed_headers(&list(&["host", "x-amz-date"]), &headers, &required),
            Ok(())
        );
        assert_eq!(
            check_signed_headers(&list(&["x-amz-date", "host"]), &headers, &required),
            Err(Problem::UnsortedSignedHeaders(
                "x-amz-date".into(),
                "host".into()
            ))
        );
        assert_eq!(
            check_signed_headers(&list(&["host", "host"]), &headers, &["host"]),
            Err(Problem::UnsortedSignedHeaders("host".into(), "host".into()))
        );
        assert_eq!(
            check_signed_headers(&list(&["Host"]), &headers, &[]),
            Err(Problem::UppercaseSignedHeader("Host".into()))
        );
        assert_eq!(
            check_signed_headers(&list(&["", "host"]), &headers, &[]),
            Err(Problem::EmptySignedHeader)
        );
        assert_eq!(
            check_signed_headers(&list(&["host"]), &headers, &required),
            Err(Problem::UnsignedHeader("x-amz-date".into()))
        );
        assert_eq!(
            check_signed_headers(&list(&["host", "x-amz-foo"]), &headers, &["host"]),
            Err(Problem::SignedHeaderNotSent("x-amz-foo".into()))
        );
    }

    #[test]
    fn canonical_request_and_string_to_sign() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "example.com".parse().unwrap());
        headers.append("x-amz-meta", "  a   b ".parse().unwrap());
        headers.append("x-amz-meta", "c".parse().unwrap());
        let signed = vec!["host".to_owned(), "x-amz-meta".to_owned()];
        let query = canonical_query(query_pairs(Some("b=2&a=%2f+")).unwrap());
        let request =
            canonical_request("POST", "/a b", &query, &headers, &signed, &sha256_hex(b"")).unwrap();
        assert_eq!(
            request,
            "POST\n/a%20b\na=%2F%2B&b=2\nhost:example.com\nx-amz-meta:a b,c\n\nhost;x-amz-meta\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let to_sign = string_to_sign("ALG", "20260102T030405Z", "scope", &request);
        let (head, digest) = to_sign.rsplit_once('\n').unwrap();
        assert_eq!(head, "ALG\n20260102T030405Z\nscope");
        assert_eq!(digest, sha256_hex(request.as_bytes()));
        assert!(canonical_uri("/a%zz").is_err());
        assert!(query_pairs(Some("a=%z")).is_err());
    }

    #[test]
    fn dates() {
        let at = parse_amz_date("20260102T030405Z").unwrap();
        assert_eq!(at, datetime!(2026-01-02 03:04:05 UTC));
        assert_eq!(format_amz_date(at), "20260102T030405Z");
        assert_eq!(format_rfc3339(at), "2026-01-02T03:04:05Z");
        for bad in [
            "20260102T030405",
            "2026-01-02T03:04:05Z",
            "20261302T030405Z",
        ] {
            assert_eq!(
                parse_amz_date(bad),
                Err(Problem::MalformedDate(bad.to_owned()))
            );
        }
    }
}
