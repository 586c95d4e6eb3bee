//! The state of every binding, for people (`needroleshere status`), for Prometheus (the
//! per-binding gauges of [`crate::metrics`]) and for the log (certificate expiry warnings).
//!
//! A [`Survey`] reads the configuration directory — each binding's mode, role and
//! certificate (subject, serial, expiry) — and, inside `serve`, what the cache holds for
//! it: when its credentials were last fetched, when they expire, the last failure since.
//! `serve` answers the survey as JSON on its status socket (`GET /status`, a Unix socket
//! only root can open: [`crate::front::status`]); `status` prints it, or makes its own from
//! the files when `serve` is not running.
//!
//! Nothing secret is in a report: no token, key or credentials, only times, names and the
//! cause chains the log holds too.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::binding::{Binding, BindingName, Store};
use crate::credentials::format_rfc3339;
use crate::front::vend::Vendor;
use crate::identity::{Certificate, Location};
use crate::system::clock::Clock;
use crate::system::files::FileStamp;

/// Days left under which `serve` warns about a certificate, once per threshold.
pub const EXPIRY_WARNING_DAYS: [i64; 4] = [30, 14, 7, 1];
/// Days left under which `status` says a certificate needs attention (and exits non-zero).
pub const ATTENTION_DAYS: i64 = 14;

/// Every binding of a configuration directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub configuration_directory: String,
    /// Whether `serve` made it (then [`BindingStatus::served`] is filled in).
    pub from_serve: bool,
    /// Why no binding could be read at all (an untrusted directory), if so.
    pub problem: Option<String>,
    pub bindings: Vec<BindingStatus>,
}

impl Report {
    /// Whether anything needs someone's attention.
    pub fn needs_attention(&self) -> bool {
        self.problem.is_some() || self.bindings.iter().any(|b| !b.attention.is_empty())
    }
}

/// One binding.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BindingStatus {
    pub name: String,
    /// `ecs-full`, `imds`, ...; absent when the binding file cannot be read.
    pub mode: Option<String>,
    pub role_arn: Option<String>,
    pub certificate: Option<CertificateStatus>,
    /// What `serve`'s cache holds for it; absent outside `serve`.
    pub served: Option<Served>,
    /// What needs attention, in a few words each; empty when all is well.
    pub attention: Vec<String>,
}

/// A binding's certificate (the first one that is not a CA, in the first certificate
/// location).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertificateStatus {
    pub subject: String,
    pub serial: String,
    /// RFC 3339.
    pub not_after: String,
    pub not_after_unix: i64,
    /// Whole days left (negative once expired).
    pub days_left: i64,
    /// SHA-256 of the DER, to tell one certificate from its renewal.
    #[serde(skip)]
    pub fingerprint: [u8; 32],
}

/// What `serve`'s cache holds for a binding.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Served {
    /// When the current credentials were fetched (RFC 3339).
    pub last_refresh: Option<String>,
    /// When they expire (RFC 3339), and as a Unix time.
    pub credentials_expiration: Option<String>,
    pub credentials_expiration_unix: Option<i64>,
    /// Why the last fetch failed, while none has succeeded since.
    pub last_error: Option<String>,
    /// When the cache will next call upstream by itself (RFC 3339).
    pub next_attempt: Option<String>,
}

/// How long a certificate read from a token (PKCS#11) is reused: reading one opens a
/// session with the token, which a scrape every few seconds should not do.
const TOKEN_CERTIFICATE_REUSE: time::Duration = time::Duration::hours(1);

/// Makes [`Report`]s; see the module docs.
#[derive(Debug)]
pub struct Survey {
    store: Arc<Store>,
    vendor: Option<Arc<Vendor>>,
    clock: Arc<dyn Clock>,
    /// The leaf last read per binding: a certificate file is read again only when it
    /// changed, one in a token once per [`TOKEN_CERTIFICATE_REUSE`].
    leaves: Mutex<HashMap<BindingName, Leaf>>,
    /// What one report read of each certificate file: bindings that name the same file
    /// share one read, one parse and one copy of its facts (10,000 bindings of one
    /// certificate read and kept it 10,000 times). Emptied when the report ends.
    files: Mutex<HashMap<std::path::PathBuf, (FileStamp, Facts)>>,
}

/// A leaf's facts, or why it cannot be read; shared by the bindings of one file.
type Facts = Arc<Result<LeafFacts, String>>;

#[derive(Debug)]
struct Leaf {
    binding: Arc<Binding>,
    stamp: Option<FileStamp>,
    read_at: OffsetDateTime,
    certificate: Facts,
}

/// What a report says of a leaf: kept per binding instead of the whole certificate (its DER
/// and parsed fields), which cost some 1.3 KiB a binding (issue 21: 10,000 bindings).
#[derive(Debug, Clone)]
struct LeafFacts {
    subject: Box<str>,
    serial: Box<str>,
    not_after: OffsetDateTime,
    fingerprint: [u8; 32],
}

impl LeafFacts {
    fn of(cert: &Certificate) -> Self {
        Self {
            subject: cert.subject().into(),
            serial: cert.serial().into(),
            not_after: cert.not_after(),
            fingerprint: crate::source::digest([cert.der()]),
        }
    }
}

impl Survey {
    /// A survey of `store`, with what `vendor`'s cache holds when there is one.
    pub fn new(store: Arc<Store>, vendor: Option<Arc<Vendor>>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            vendor,
            clock,
            leaves: Mutex::new(HashMap::new()),
            files: Mutex::new(HashMap::new()),
        }
    }

    /// The time by the survey's clock.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Reads every binding now.
    pub fn report(&self) -> Report {
        let now = self.clock.now();
        let mut report = Report {
            configuration_directory: self.store.dir().path().display().to_string(),
            from_serve: self.vendor.is_some(),
            problem: None,
            bindings: Vec::new(),
        };
        let names = match self.store.names() {
            Ok(names) => names,
            Err(error) => {
                report.problem = Some(crate::system::logging::error_chain(&error));
                return report;
            }
        };
        // Forget what was read for bindings that are gone.
        self.leaves
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            // `names` is sorted: a search, not a scan per binding (10,000 bindings made
            // every report, scrape and expiry check compare 100 million names).
            .retain(|name, _| {
                names
                    .binary_search_by(|n| n.as_str().cmp(name.as_str()))
                    .is_ok()
            });
        for name in names {
            let status = match self.store.load(&name) {
                Ok(binding) => self.binding(&binding, now),
                Err(error) => BindingStatus {
                    name: name.to_string(),
                    mode: None,
                    role_arn: None,
                    certificate: None,
                    served: None,
                    attention: vec![format!(
                        "binding unreadable: {}",
                        crate::system::logging::error_chain(&error)
                    )],
                },
            };
            report.bindings.push(status);
        }
        self.files.lock().unwrap_or_else(|p| p.into_inner()).clear();
        report
    }

    fn binding(&self, binding: &Arc<Binding>, now: OffsetDateTime) -> BindingStatus {
        let mut attention = Vec::new();
        let certificate = match &*self.leaf(binding, now) {
            Ok(cert) => {
                let status = certificate_status(cert, now);
                if status.days_left < 0 {
                    attention.push(format!("certificate expired on {}", status.not_after));
                } else if status.days_left < ATTENTION_DAYS {
                    attention.push(format!(
                        "certificate expires in {} days ({})",
                        status.days_left, status.not_after
                    ));
                }
                Some(status)
            }
            Err(error) => {
                attention.push(format!("certificate unreadable: {error}"));
                None
            }
        };
        let served = self.vendor.as_ref().map(|vendor| {
            let Some(entry) = vendor.report(binding) else {
                return Served::default();
            };
            let last_error = entry.last_error.map(|e| e.chain());
            if let Some(error) = &last_error {
                attention.push(format!("last fetch failed: {error}"));
            }
            if entry.expiration.is_some_and(|e| e <= now) {
                attention.push("its credentials have expired".into());
            }
            Served {
                last_refresh: entry.fetched_at.map(format_rfc3339),
                credentials_expiration: entry.expiration.map(format_rfc3339),
                credentials_expiration_unix: entry.expiration.map(OffsetDateTime::unix_timestamp),
                last_error,
                next_attempt: entry.next_attempt.map(format_rfc3339),
            }
        });
        BindingStatus {
            name: binding.name.to_string(),
            mode: Some(binding.mode.to_string()),
            role_arn: Some(binding.session.role_arn.to_string()),
            certificate,
            served,
            attention,
        }
    }
}

impl Survey {
    /// [`leaf_certificate`], read again only when it may have changed (see `leaves`).
    fn leaf(&self, binding: &Arc<Binding>, now: OffsetDateTime) -> Facts {
        let location = binding.files.certificates.first();
        let stamp = match location {
            Some(Location::File(path)) => FileStamp::read(path).ok(),
            _ => None,
        };
        let lock = || self.leaves.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(leaf) = lock().get(&binding.name)
            && Arc::ptr_eq(&leaf.binding, binding)
        {
            let unchanged = match location {
                Some(Location::File(_)) => stamp.is_some() && leaf.stamp == stamp,
                _ => now - leaf.read_at < TOKEN_CERTIFICATE_REUSE,
            };
            if unchanged {
                return leaf.certificate.clone();
            }
        }
        let read = || Arc::new(leaf_certificate(binding).map(|cert| LeafFacts::of(&cert)));
        let certificate = match (location, stamp) {
            (Some(Location::File(path)), Some(stamp)) => {
                let files = || self.files.lock().unwrap_or_else(|p| p.into_inner());
                let known = files()
                    .get(path)
                    .filter(|(read_stamp, _)| *read_stamp == stamp)
                    .map(|(_, facts)| facts.clone());
                known.unwrap_or_else(|| {
                    let facts = read();
                    files().insert(path.clone(), (stamp, facts.clone()));
                    facts
                })
            }
            _ => read(),
        };
        lock().insert(
            binding.name.clone(),
            Leaf {
                binding: binding.clone(),
                stamp,
                read_at: now,
                certificate: certificate.clone(),
            },
        );
        certificate
    }
}

/// The binding's leaf, without touching its key: the first certificate that is not a CA in
/// its first certificate location (files list the leaf first, or after its chain).
fn leaf_certificate(binding: &Binding) -> Result<Certificate, String> {
    let files = &binding.files;
    let location = files
        .certificates
        .first()
        .ok_or_else(|| "the binding names no certificate".to_owned())?;
    let certificates = files
        .read_certificates(location)
        .map_err(|e| crate::system::logging::error_chain(&e))?;
    let first_leaf = certificates.iter().position(|c| !c.is_ca()).unwrap_or(0);
    certificates
        .into_iter()
        .nth(first_leaf)
        .ok_or_else(|| format!("no certificate in {location}"))
}

fn certificate_status(cert: &LeafFacts, now: OffsetDateTime) -> CertificateStatus {
    CertificateStatus {
        subject: cert.subject.to_string(),
        serial: cert.serial.to_string(),
        not_after: format_rfc3339(cert.not_after),
        not_after_unix: cert.not_after.unix_timestamp(),
        days_left: days_left(cert.not_after, now),
        fingerprint: cert.fingerprint,
    }
}

/// Whole days from `now` to `not_after`, rounded down (so "0 days" is less than a day, and
/// anything past `not_after` is negative).
fn days_left(not_after: OffsetDateTime, now: OffsetDateTime) -> i64 {
    let left = not_after - now;
    if left.is_negative() {
        left.whole_days() - 1
    } else {
        left.whole_days()
    }
}

/// Warns in the log when a binding's certificate has less than 30, 14, 7 and 1 day left
/// ([`EXPIRY_WARNING_DAYS`]): once per threshold per certificate, however often it is
/// asked. A certificate first seen past several thresholds gets one line, for the nearest;
/// a renewed certificate starts afresh.
#[derive(Debug, Default)]
pub struct ExpiryWarnings {
    /// (certificate fingerprint, threshold in days) already said; 0 is "expired".
    said: Mutex<HashSet<([u8; 32], i64)>>,
}

impl ExpiryWarnings {
    /// Looks at every certificate of `report` and logs what has not been said yet.
    pub fn check(&self, report: &Report, now: OffsetDateTime) {
        for binding in &report.bindings {
            let Some(cert) = &binding.certificate else {
                continue;
            };
            let left = OffsetDateTime::from_unix_timestamp(cert.not_after_unix)
                .map_or(time::Duration::ZERO, |t| t - now);
            let crossed: Vec<i64> = std::iter::once(0)
                .chain(EXPIRY_WARNING_DAYS)
                .filter(|days| left < time::Duration::days(*days))
                .collect();
            let Some(nearest) = crossed.iter().copied().min() else {
                continue;
            };
            let new = {
                let mut said = self.said.lock().unwrap_or_else(|p| p.into_inner());
                let new = said.insert((cert.fingerprint, nearest));
                said.extend(crossed.iter().map(|days| (cert.fingerprint, *days)));
                new
            };
            if !new {
                continue;
            }
            if nearest == 0 {
                tracing::error!(
                    binding = %binding.name, subject = %cert.subject, serial = %cert.serial,
                    not_after = %cert.not_after,
                    "the certificate has expired: renew it"
                );
            } else {
                tracing::warn!(
                    binding = %binding.name, subject = %cert.subject, serial = %cert.serial,
                    not_after = %cert.not_after, days_left = cert.days_left,
                    "the certificate has less than {nearest} day{} left: renew it",
                    if nearest == 1 { "" } else { "s" }
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn report_with(not_after: OffsetDateTime, fingerprint: u8) -> Report {
        Report {
            configuration_directory: "/run/needroleshere".into(),
            from_serve: true,
            problem: None,
            bindings: vec![BindingStatus {
                name: "web".into(),
                mode: Some("ecs-full".into()),
                role_arn: None,
                certificate: Some(CertificateStatus {
                    subject: "CN=web".into(),
                    serial: "1".into(),
                    not_after: format_rfc3339(not_after),
                    not_after_unix: not_after.unix_timestamp(),
                    days_left: 0,
                    fingerprint: [fingerprint; 32],
                }),
                served: None,
                attention: Vec::new(),
            }],
        }
    }

    #[test]
    fn days_left_round_down() {
        let now = datetime!(2026-06-01 00:00 UTC);
        assert_eq!(days_left(now + time::Duration::hours(47), now), 1);
        assert_eq!(days_left(now + time::Duration::hours(1), now), 0);
        assert_eq!(days_left(now - time::Duration::hours(1), now), -1);
    }

    #[test]
    fn each_threshold_is_said_once_per_certificate() {
        let warnings = ExpiryWarnings::default();
        let start = datetime!(2026-06-01 00:00 UTC);
        let not_after = start + time::Duration::days(20);
        let said = |w: &ExpiryWarnings| w.said.lock().unwrap().len();
        warnings.check(&report_with(not_after, 1), start);
        assert_eq!(said(&warnings), 1, "under 30 days");
        warnings.check(&report_with(not_after, 1), start + time::Duration::hours(1));
        assert_eq!(said(&warnings), 1, "nothing new an hour later");
        // 5 days left: 14 and 7 are crossed at once; both are marked said.
        warnings.check(&report_with(not_after, 1), start + time::Duration::days(15));
        assert_eq!(said(&warnings), 3);
        // A renewal is another certificate.
        warnings.check(&report_with(not_after, 2), start + time::Duration::days(15));
        assert_eq!(said(&warnings), 6);
        warnings.check(&report_with(not_after, 1), start + time::Duration::days(21));
        assert_eq!(said(&warnings), 8, "1 day and expired");
    }
}
