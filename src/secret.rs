//! A wrapper for secret strings (secret access keys, session tokens, bearer secrets,
//! key passwords): `Debug` never shows the value, and the memory is zeroed on drop.

use std::fmt;

use zeroize::Zeroizing;

/// A secret string. Read it with [`Secret::expose`] only where it must leave the process
/// (an HTTP body, a file the caller asked for, a signing key).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where a secret that unlocks a key (a PKCS#11 PIN, a TPM key password) comes from.
///
/// Only [`SecretSource::Given`] holds the secret itself; the others name where to read it
/// at the moment it is needed, so a binding file can store them.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The value of a command-line flag.
    Given(Secret),
    /// An environment variable of the process that needs it.
    Env(String),
    /// A file holding the secret (one trailing newline is ignored).
    File(std::path::PathBuf),
    /// A systemd credential: `$CREDENTIALS_DIRECTORY/NAME`, which `LoadCredential=` or
    /// `LoadCredentialEncrypted=` (sealed by the TPM) provides.
    Credential(String),
}

/// Why a [`SecretSource`] could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum SecretSourceError {
    #[error("{0:?} is not a secret source: give env:VARIABLE, file:PATH or credential:NAME")]
    Syntax(String),
    #[error("the environment variable {0} is not set (or not UTF-8)")]
    NoVariable(String),
    #[error("cannot read {path}")]
    File {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not UTF-8")]
    NotUtf8 { path: std::path::PathBuf },
    #[error(
        "systemd credential {0} needs $CREDENTIALS_DIRECTORY (set by LoadCredential= in the unit)"
    )]
    NoCredentialsDirectory(String),
    #[error("{0:?} is not a credential name (no slashes, not . or ..)")]
    BadCredentialName(String),
}

impl SecretSource {
    /// Parses `env:VARIABLE`, `file:PATH` or `credential:NAME`.
    pub fn parse(text: &str) -> Result<Self, SecretSourceError> {
        let syntax = || SecretSourceError::Syntax(text.to_owned());
        let (kind, rest) = text.split_once(':').ok_or_else(syntax)?;
        if rest.is_empty() {
            return Err(syntax());
        }
        match kind {
            "env" => Ok(Self::Env(rest.to_owned())),
            "file" => Ok(Self::File(rest.into())),
            "credential" => {
                if rest.contains('/') || rest == "." || rest == ".." {
                    return Err(SecretSourceError::BadCredentialName(rest.to_owned()));
                }
                Ok(Self::Credential(rest.to_owned()))
            }
            _ => Err(syntax()),
        }
    }

    /// Reads the secret now. `credentials_directory` is `$CREDENTIALS_DIRECTORY`.
    pub fn read(
        &self,
        credentials_directory: Option<&std::path::Path>,
    ) -> Result<Secret, SecretSourceError> {
        match self {
            Self::Given(secret) => Ok(secret.clone()),
            Self::Env(name) => std::env::var(name)
                .map(Secret::new)
                .map_err(|_| SecretSourceError::NoVariable(name.clone())),
            Self::File(path) => read_secret_file(path),
            Self::Credential(name) => {
                let dir = credentials_directory
                    .ok_or_else(|| SecretSourceError::NoCredentialsDirectory(name.clone()))?;
                read_secret_file(&dir.join(name))
            }
        }
    }

    /// The form a binding file stores, or `None` for a secret given by value (which must
    /// never be written down).
    pub fn to_stored(&self) -> Option<String> {
        match self {
            Self::Given(_) => None,
            Self::Env(name) => Some(format!("env:{name}")),
            Self::File(path) => Some(format!("file:{}", path.display())),
            Self::Credential(name) => Some(format!("credential:{name}")),
        }
    }
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Given(_) => f.write_str("the value given on the command line"),
            Self::Env(name) => write!(f, "the environment variable {name}"),
            Self::File(path) => write!(f, "the file {}", path.display()),
            Self::Credential(name) => write!(f, "the systemd credential {name}"),
        }
    }
}

fn read_secret_file(path: &std::path::Path) -> Result<Secret, SecretSourceError> {
    let bytes = Zeroizing::new(
        std::fs::read(path).map_err(|source| SecretSourceError::File {
            path: path.to_owned(),
            source,
        })?,
    );
    let text = std::str::from_utf8(&bytes).map_err(|_| SecretSourceError::NotUtf8 {
        path: path.to_owned(),
    })?;
    let text = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(text);
    Ok(Secret::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_value() {
        let secret = Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        let shown = format!("{secret:?} {:#?}", secret);
        assert!(!shown.contains("wJalr"), "{shown}");
        assert_eq!(secret.expose(), "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    }

    #[test]
    fn secret_sources_parse_and_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("pin"), "1234\n").expect("write");
        let source = SecretSource::parse("credential:pin").expect("parse");
        assert_eq!(source.to_stored().as_deref(), Some("credential:pin"));
        assert_eq!(
            source.read(Some(dir.path())).expect("read").expose(),
            "1234"
        );
        assert!(matches!(
            source.read(None),
            Err(SecretSourceError::NoCredentialsDirectory(_))
        ));
        let file = format!("file:{}", dir.path().join("pin").display());
        assert_eq!(
            SecretSource::parse(&file)
                .expect("parse")
                .read(None)
                .expect("read")
                .expose(),
            "1234"
        );
        for bad in [
            "1234",
            "env:",
            "credential:../pin",
            "credential:a/b",
            "pin:1234",
        ] {
            assert!(SecretSource::parse(bad).is_err(), "{bad}");
        }
        let given = SecretSource::Given(Secret::new("1234"));
        assert_eq!(given.to_stored(), None);
        assert!(!format!("{given:?} {given}").contains("1234"));
    }
}
