//! RFC 7512 `pkcs11:` URIs: which token, which object, and the module and PIN to use.
//!
//! Path attributes (`;`-separated) select; query attributes (`&`-separated) say how to get
//! there. Values are percent-encoded; `id` is raw bytes. A URI never prints its `pin-value`.

use std::fmt;
use std::path::PathBuf;

use crate::secret::Secret;

/// A parsed `pkcs11:` URI.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// Token attributes: label, manufacturer, serial number and model.
    pub token: Option<String>,
    pub manufacturer: Option<String>,
    pub serial: Option<String>,
    pub model: Option<String>,
    pub slot_id: Option<u64>,
    /// The object's label (`CKA_LABEL`).
    pub object: Option<String>,
    /// The object's id (`CKA_ID`).
    pub id: Option<Vec<u8>>,
    /// `cert`, `private`, `public`, `secret-key` or `data`.
    pub object_type: Option<ObjectType>,
    pub module_path: Option<PathBuf>,
    pub module_name: Option<String>,
    /// `pin-source`: a file holding the PIN (`file:` URIs or plain paths).
    pub pin_source: Option<PathBuf>,
    pub pin_value: Option<Secret>,
}

/// The `type` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectType {
    Certificate,
    PrivateKey,
    PublicKey,
    SecretKey,
    Data,
}

impl ObjectType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Certificate => "cert",
            Self::PrivateKey => "private",
            Self::PublicKey => "public",
            Self::SecretKey => "secret-key",
            Self::Data => "data",
        }
    }
}

/// Why a `pkcs11:` URI cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("a PKCS#11 URI starts with \"pkcs11:\"")]
    Scheme,
    #[error("attribute {0:?} has no \"=\"")]
    NoValue(String),
    #[error("attribute {0} is given twice")]
    Repeated(String),
    #[error("unknown attribute {0:?}")]
    Unknown(String),
    #[error("bad percent-encoding in {0}")]
    Encoding(String),
    #[error("{attribute} is not {expected}")]
    Value {
        attribute: String,
        expected: &'static str,
    },
}

impl Pkcs11Uri {
    /// Parses `text`, which must start with `pkcs11:`.
    pub fn parse(text: &str) -> Result<Self, UriError> {
        let rest = text.strip_prefix("pkcs11:").ok_or(UriError::Scheme)?;
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        let mut uri = Self::default();
        let mut seen: Vec<String> = Vec::new();
        let parts = path.split(';').map(|p| (p, true)).chain(
            query
                .into_iter()
                .flat_map(|q| q.split('&'))
                .map(|p| (p, false)),
        );
        for (part, in_path) in parts {
            if part.is_empty() {
                continue;
            }
            let (name, raw) = part
                .split_once('=')
                .ok_or_else(|| UriError::NoValue(part.to_owned()))?;
            if seen.iter().any(|s| s == name) {
                return Err(UriError::Repeated(name.to_owned()));
            }
            seen.push(name.to_owned());
            let bytes = || decode(raw).ok_or_else(|| UriError::Encoding(name.to_owned()));
            let text = || {
                String::from_utf8(bytes()?).map_err(|_| UriError::Value {
                    attribute: name.to_owned(),
                    expected: "UTF-8",
                })
            };
            match (name, in_path) {
                ("token", true) => uri.token = Some(text()?),
                ("manufacturer", true) => uri.manufacturer = Some(text()?),
                ("serial", true) => uri.serial = Some(text()?),
                ("model", true) => uri.model = Some(text()?),
                ("object", true) => uri.object = Some(text()?),
                ("id", true) => uri.id = Some(bytes()?),
                ("slot-id", true) => {
                    uri.slot_id = Some(text()?.parse().map_err(|_| UriError::Value {
                        attribute: name.to_owned(),
                        expected: "a decimal number",
                    })?);
                }
                ("type", true) => {
                    uri.object_type = Some(match text()?.as_str() {
                        "cert" => ObjectType::Certificate,
                        "private" => ObjectType::PrivateKey,
                        "public" => ObjectType::PublicKey,
                        "secret-key" => ObjectType::SecretKey,
                        "data" => ObjectType::Data,
                        _ => {
                            return Err(UriError::Value {
                                attribute: name.to_owned(),
                                expected: "cert, private, public, secret-key or data",
                            });
                        }
                    });
                }
                // Attributes that describe the library or the slot select nothing we need,
                // but they are valid: accept and ignore them.
                (
                    "library-manufacturer"
                    | "library-description"
                    | "library-version"
                    | "slot-manufacturer"
                    | "slot-description",
                    true,
                ) => {
                    bytes()?;
                }
                ("module-path", false) => uri.module_path = Some(PathBuf::from(text()?)),
                ("module-name", false) => uri.module_name = Some(text()?),
                ("pin-source", false) => {
                    let source = text()?;
                    let path = source
                        .strip_prefix("file://")
                        .or(source.strip_prefix("file:"));
                    uri.pin_source = Some(PathBuf::from(path.unwrap_or(&source)));
                }
                ("pin-value", false) => uri.pin_value = Some(Secret::new(text()?)),
                (other, _) if other.starts_with("x-") => {
                    bytes()?;
                }
                (other, _) => return Err(UriError::Unknown(other.to_owned())),
            }
        }
        Ok(uri)
    }

    /// This URI without its query (module and PIN) and with `object_type` set: how an
    /// object found in a token is named in messages.
    pub fn for_object(&self, object_type: ObjectType) -> Self {
        Self {
            object_type: Some(object_type),
            module_path: None,
            module_name: None,
            pin_source: None,
            pin_value: None,
            ..self.clone()
        }
    }
}

/// Percent-decodes `text`; `None` for a `%` not followed by two hex digits.
fn decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Percent-encodes everything but RFC 3986 unreserved characters (and, for readability,
/// nothing else).
fn encode(out: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            write!(out, "{}", b as char)?;
        } else {
            write!(out, "%{b:02X}")?;
        }
    }
    Ok(())
}

impl fmt::Display for Pkcs11Uri {
    /// The canonical form, with `pin-value` left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pkcs11:")?;
        let mut first = true;
        let mut attribute = |f: &mut fmt::Formatter<'_>, name: &str, value: &[u8]| {
            if !first {
                f.write_str(";")?;
            }
            first = false;
            write!(f, "{name}=")?;
            encode(f, value)
        };
        let text = [
            ("token", &self.token),
            ("manufacturer", &self.manufacturer),
            ("serial", &self.serial),
            ("model", &self.model),
            ("object", &self.object),
        ];
        for (name, value) in text {
            if let Some(value) = value {
                attribute(f, name, value.as_bytes())?;
            }
        }
        if let Some(slot) = self.slot_id {
            attribute(f, "slot-id", slot.to_string().as_bytes())?;
        }
        if let Some(id) = &self.id {
            attribute(f, "id", id)?;
        }
        if let Some(object_type) = self.object_type {
            attribute(f, "type", object_type.as_str().as_bytes())?;
        }
        let mut separator = "?";
        let query = [
            (
                "module-path",
                self.module_path.as_ref().map(|p| p.display().to_string()),
            ),
            ("module-name", self.module_name.clone()),
            (
                "pin-source",
                self.pin_source.as_ref().map(|p| p.display().to_string()),
            ),
        ];
        for (name, value) in query {
            if let Some(value) = value {
                write!(f, "{separator}{name}=")?;
                encode(f, value.as_bytes())?;
                separator = "&";
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pkcs11Uri({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_path_and_query_attributes() {
        let uri = Pkcs11Uri::parse(
            "pkcs11:token=My%20Token;object=role%20key;id=%01%ff;type=private\
             ?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
        )
        .expect("parse");
        assert_eq!(uri.token.as_deref(), Some("My Token"));
        assert_eq!(uri.object.as_deref(), Some("role key"));
        assert_eq!(uri.id.as_deref(), Some(&[1u8, 0xff][..]));
        assert_eq!(uri.object_type, Some(ObjectType::PrivateKey));
        assert_eq!(uri.pin_source, Some(PathBuf::from("/run/pin")));
        assert_eq!(
            uri.to_string(),
            "pkcs11:token=My%20Token;object=role%20key;id=%01%FF;type=private\
             ?module-path=%2Fusr%2Flib%2Fsofthsm%2Flibsofthsm2.so&pin-source=%2Frun%2Fpin"
        );
        // What it prints parses back to the same URI.
        assert_eq!(Pkcs11Uri::parse(&uri.to_string()), Ok(uri));
    }

    #[test]
    fn never_prints_the_pin_value() {
        let uri = Pkcs11Uri::parse("pkcs11:token=t?pin-value=123456").expect("parse");
        assert_eq!(uri.pin_value.as_ref().map(Secret::expose), Some("123456"));
        assert!(!format!("{uri} {uri:?}").contains("123456"));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let cases = [
            ("token=x", UriError::Scheme),
            ("pkcs11:token", UriError::NoValue("token".into())),
            ("pkcs11:token=a;token=b", UriError::Repeated("token".into())),
            ("pkcs11:colour=red", UriError::Unknown("colour".into())),
            ("pkcs11:id=%0", UriError::Encoding("id".into())),
            ("pkcs11:id=%zz", UriError::Encoding("id".into())),
            // A query attribute in the path is not one.
            (
                "pkcs11:module-path=/x",
                UriError::Unknown("module-path".into()),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(Pkcs11Uri::parse(text), Err(expected), "{text}");
        }
        assert!(matches!(
            Pkcs11Uri::parse("pkcs11:type=key"),
            Err(UriError::Value { .. })
        ));
        assert!(matches!(
            Pkcs11Uri::parse("pkcs11:object=%ff"),
            Err(UriError::Value { .. })
        ));
    }

    #[test]
    fn vendor_and_descriptive_attributes_are_accepted() {
        let uri = Pkcs11Uri::parse("pkcs11:library-manufacturer=OpenSC;x-vendor=1;object=k")
            .expect("parse");
        assert_eq!(uri.object.as_deref(), Some("k"));
        assert_eq!(Pkcs11Uri::parse("pkcs11:"), Ok(Pkcs11Uri::default()));
    }
}
