//! `check`: looks at an identity the way IAM Roles Anywhere will, and says what it finds in
//! plain words — the key and whether it matches, the validity window with days left, the
//! chain's order and completeness — before anything is sent anywhere.
//!
//! A report is a list of findings, each `ok`, `warning` or `PROBLEM`; problems make the
//! command fail. `read_certificate_data` is the official helper's diagnostic of the same
//! name.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer as _, X509Certificate};

use crate::credentials::format_rfc3339 as rfc3339;
use crate::identity::{
    Certificate, DeviceOptions, Identity, IdentityError, IdentityFiles, KeyAlgorithm, Location,
};

/// Certificates expiring sooner than this are worth a warning.
const EXPIRY_WARNING_DAYS: i64 = 14;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Severity {
    Ok,
    Warning,
    Problem,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Problem => "PROBLEM",
        })
    }
}

/// One thing checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub severity: Severity,
    pub topic: &'static str,
    pub text: String,
}

/// What `check` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Report {
    pub title: String,
    pub findings: Vec<Finding>,
}

impl Report {
    pub(crate) fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            findings: Vec::new(),
        }
    }

    pub(crate) fn add(&mut self, severity: Severity, topic: &'static str, text: impl Into<String>) {
        self.findings.push(Finding {
            severity,
            topic,
            text: text.into(),
        });
    }

    pub(crate) fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.title)?;
        for finding in &self.findings {
            writeln!(
                f,
                "  {:<8} {:<10} {}",
                finding.severity.to_string(),
                finding.topic,
                finding.text
            )?;
        }
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        writeln!(
            f,
            "result: {}, {}",
            plural(self.count(Severity::Problem), "problem"),
            plural(self.count(Severity::Warning), "warning")
        )
    }
}

/// Checks the identity in `files` at `now`, adding findings to `report`. Returns the loaded
/// identity when it can be used for signing.
pub(crate) fn check_identity(
    report: &mut Report,
    files: &IdentityFiles,
    now: OffsetDateTime,
) -> Option<Identity> {
    let identity = match files.load() {
        Ok(identity) => identity,
        Err(error) => {
            let topic = match error {
                IdentityError::NoMatchingCertificate { .. } => "key",
                IdentityError::Read { .. } | IdentityError::Pem { .. } => "files",
                IdentityError::NoCertificate { .. } | IdentityError::BadCertificate { .. } => {
                    "leaf"
                }
                _ => "key",
            };
            report.add(Severity::Problem, topic, error.to_string());
            return None;
        }
    };
    let algorithm = identity.algorithm();
    let (location, facts) = identity.key_description();
    let facts = if facts.is_empty() {
        String::new()
    } else {
        format!(" ({})", facts.join(", "))
    };
    report.add(
        Severity::Ok,
        "key",
        format!(
            "{algorithm} in {location}{facts}, matches the certificate; signs with {}",
            algorithm.aws4_x509_name()
        ),
    );
    token_objects(report, files);
    if let KeyAlgorithm::Rsa { bits } = algorithm
        && bits < 3072
    {
        report.add(
            Severity::Ok,
            "key",
            format!("RSA-{bits} is accepted; 3072 bits or more last longer"),
        );
    }
    let leaf = identity.leaf();
    report.add(
        Severity::Ok,
        "leaf",
        format!(
            "{} (serial {}), issued by {}, from {}",
            leaf.subject(),
            leaf.serial(),
            leaf.issuer(),
            leaf.path().display()
        ),
    );
    if leaf.is_ca() {
        report.add(
            Severity::Problem,
            "leaf",
            "the certificate is a CA certificate; IAM Roles Anywhere wants an end-entity certificate",
        );
    }
    validity(report, "validity", leaf, now, true);
    chain(report, &identity, now);
    Some(identity)
}

/// For a key or certificate in a token: every certificate and key the token holds that the
/// URI's token attributes select, with their URIs, so a wrong URI is easy to fix.
pub(crate) fn token_objects(report: &mut Report, files: &IdentityFiles) {
    let uri = files
        .certificates
        .iter()
        .chain([&files.private_key])
        .find_map(|l| match l {
            Location::Pkcs11(uri) => Some(uri),
            _ => None,
        });
    let Some(uri) = uri else {
        return;
    };
    let token_only = crate::identity::pkcs11::Pkcs11Uri {
        object: None,
        id: None,
        object_type: None,
        ..(**uri).clone()
    };
    match crate::identity::pkcs11::list_objects(&token_only, &files.device) {
        Ok((certificates, keys)) => {
            for object in certificates {
                report.add(Severity::Ok, "token", format!("certificate {}", object.uri));
            }
            for object in keys {
                report.add(
                    Severity::Ok,
                    "token",
                    format!("private key {} ({})", object.uri, object.facts.join(", ")),
                );
            }
        }
        Err(error) => report.add(Severity::Warning, "token", error.to_string()),
    }
}

fn validity(
    report: &mut Report,
    topic: &'static str,
    cert: &Certificate,
    now: OffsetDateTime,
    is_leaf: bool,
) {
    let name = if is_leaf {
        "the certificate".to_owned()
    } else {
        cert.subject().to_owned()
    };
    let days = |d: time::Duration| d.whole_days();
    if now < cert.not_before() {
        report.add(
            Severity::Problem,
            topic,
            format!(
                "{name} is not valid before {} ({} days from now); check this machine's clock",
                rfc3339(cert.not_before()),
                days(cert.not_before() - now)
            ),
        );
    } else if now > cert.not_after() {
        report.add(
            Severity::Problem,
            topic,
            format!(
                "{name} expired on {} ({} days ago)",
                rfc3339(cert.not_after()),
                days(now - cert.not_after())
            ),
        );
    } else {
        let left = days(cert.not_after() - now);
        let severity = if left < EXPIRY_WARNING_DAYS {
            Severity::Warning
        } else {
            Severity::Ok
        };
        if is_leaf || severity != Severity::Ok {
            report.add(
                severity,
                topic,
                format!(
                    "{name} is valid from {} to {} ({left} days left)",
                    rfc3339(cert.not_before()),
                    rfc3339(cert.not_after())
                ),
            );
        }
    }
}

/// Whether `child` names `parent` as its issuer and carries its signature.
fn issued_by(child: &Certificate, parent: &Certificate) -> bool {
    let (Ok((_, child_cert)), Ok((_, parent_cert))) = (
        X509Certificate::from_der(child.der()),
        X509Certificate::from_der(parent.der()),
    ) else {
        return false;
    };
    child_cert.issuer() == parent_cert.subject()
        && child_cert
            .verify_signature(Some(parent_cert.public_key()))
            .is_ok()
}

fn chain(report: &mut Report, identity: &Identity, now: OffsetDateTime) {
    let leaf = identity.leaf();
    let chain = identity.chain();
    if chain.is_empty() {
        if leaf.is_self_issued() {
            report.add(
                Severity::Warning,
                "chain",
                "the certificate is self-issued; it must itself be the trust anchor's CA",
            );
        } else {
            report.add(
                Severity::Ok,
                "chain",
                format!(
                    "none sent: fine if {} is your trust anchor's CA, otherwise add the intermediates (--intermediates or a full-chain file)",
                    leaf.issuer()
                ),
            );
        }
        return;
    }
    let mut path = vec![leaf.subject().to_owned()];
    let mut child = leaf;
    for (index, parent) in chain.iter().enumerate() {
        if !issued_by(child, parent) {
            let issuer = chain.iter().position(|c| issued_by(child, c));
            let text = match issuer {
                Some(found) => format!(
                    "out of order: {} is issued by chain certificate #{} ({}), not by #{} ({}); list each issuer right after what it issued",
                    child.subject(),
                    found + 1,
                    chain[found].subject(),
                    index + 1,
                    parent.subject()
                ),
                None => format!(
                    "{} was not issued by {} (nor by any other certificate given); this chain does not belong to the certificate",
                    child.subject(),
                    parent.subject()
                ),
            };
            report.add(Severity::Problem, "chain", text);
            return;
        }
        if !parent.is_ca() {
            report.add(
                Severity::Problem,
                "chain",
                format!(
                    "{} issues certificates but is not marked as a CA",
                    parent.subject()
                ),
            );
        }
        validity(report, "chain", parent, now, false);
        path.push(parent.subject().to_owned());
        child = parent;
    }
    let last = chain.last().unwrap_or(leaf);
    let ending = if last.is_self_issued() {
        "ends at a self-issued root, which must be your trust anchor's CA".to_owned()
    } else {
        format!(
            "ends at {}; fine if its issuer {} is your trust anchor's CA",
            last.subject(),
            last.issuer()
        )
    };
    report.add(
        Severity::Ok,
        "chain",
        format!("{} — in order; {ending}", path.join(" ← ")),
    );
}

/// The official helper's `read-certificate-data` output for the first certificate in `path`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CertificateData {
    pub key_type: String,
    pub certificate_data: String,
    pub serial_number: String,
    #[serde(rename = "supportedAlgorithms")]
    pub algorithms: Vec<String>,
}

/// Reads the first certificate at `location` (a file, or the certificates a `pkcs11:` URI
/// selects).
pub(crate) fn read_certificate_data(
    location: &Location,
    device: &DeviceOptions,
) -> Result<CertificateData, IdentityError> {
    let files = IdentityFiles {
        certificates: vec![location.clone()],
        intermediates: Vec::new(),
        private_key: location.clone(),
        pkcs8_password: None,
        device: device.clone(),
    };
    let cert = files.first_certificate()?;
    let key_type = match X509Certificate::from_der(cert.der())
        .map(|(_, c)| c.public_key().algorithm.algorithm.to_id_string())
        .as_deref()
    {
        Ok("1.2.840.113549.1.1.1") => "RSA",
        Ok("1.2.840.10045.2.1") => "EC",
        _ => "unknown",
    };
    Ok(CertificateData {
        key_type: key_type.to_owned(),
        certificate_data: BASE64.encode(cert.der()),
        serial_number: cert.serial().to_owned(),
        algorithms: ["SHA256", "SHA384", "SHA512"].map(String::from).to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_counts_and_prints() {
        let mut report = Report::new("identity");
        report.add(Severity::Ok, "key", "fine");
        report.add(Severity::Warning, "validity", "soon");
        assert_eq!(report.count(Severity::Problem), 0);
        report.add(Severity::Problem, "chain", "broken");
        assert_eq!(report.count(Severity::Problem), 1);
        let text = report.to_string();
        assert!(text.contains("  PROBLEM  chain      broken"), "{text}");
        assert!(text.ends_with("result: 1 problem, 1 warning\n"), "{text}");
    }
}
