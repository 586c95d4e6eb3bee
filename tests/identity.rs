//! Identity loading over a real PKI made by openssl: every key format and type, chains in
//! any order, and a clear error for each kind of bad input.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use common::{PKCS8_PASSWORD, pki_file};
use needroleshere::identity::{IdentityError, IdentityFiles, KeyAlgorithm};
use needroleshere::secret::Secret;

fn files(certificates: &[&str], key: &str) -> IdentityFiles {
    IdentityFiles {
        certificates: certificates.iter().map(|c| pki_file(c).into()).collect(),
        intermediates: Vec::new(),
        private_key: pki_file(key).into(),
        pkcs8_password: None,
        device: Default::default(),
    }
}

fn intermediate_subject() -> String {
    files(&["intermediate-ca.pem"], "intermediate-ca.key")
        .load()
        .unwrap()
        .leaf()
        .subject()
        .to_owned()
}

const KEYS: &[(&str, &[&str], KeyAlgorithm)] = &[
    (
        "rsa2048",
        &["pkcs1", "pkcs8", "pkcs8-encrypted"],
        KeyAlgorithm::Rsa { bits: 2048 },
    ),
    (
        "rsa4096",
        &["pkcs1", "pkcs8", "pkcs8-encrypted"],
        KeyAlgorithm::Rsa { bits: 4096 },
    ),
    (
        "p256",
        &["sec1", "sec1-params", "pkcs8", "pkcs8-encrypted"],
        KeyAlgorithm::EcdsaP256,
    ),
    (
        "p384",
        &["sec1", "sec1-params", "pkcs8", "pkcs8-encrypted"],
        KeyAlgorithm::EcdsaP384,
    ),
];

#[test]
fn every_key_type_and_format_finds_its_leaf_in_a_full_chain() {
    let intermediate = intermediate_subject();
    for (kind, formats, algorithm) in KEYS {
        for format in *formats {
            for chain_file in ["fullchain", "reversed-chain"] {
                let mut f = files(
                    &[&format!("{kind}.{chain_file}.pem")],
                    &format!("{kind}.{format}.key"),
                );
                if format.contains("encrypted") {
                    f.pkcs8_password = Some(Secret::new(PKCS8_PASSWORD));
                }
                let identity = f
                    .load()
                    .unwrap_or_else(|e| panic!("{kind} {format} {chain_file}: {e}"));
                assert_eq!(identity.algorithm(), *algorithm);
                assert_eq!(identity.leaf().subject(), format!("CN={kind}-leaf"));
                let chain: Vec<&str> = identity.chain().iter().map(|c| c.subject()).collect();
                assert_eq!(
                    chain,
                    [intermediate.as_str()],
                    "{kind} {format} {chain_file}"
                );
                identity.sign(b"message").unwrap();
            }
        }
    }
}

#[test]
fn intermediates_file_is_appended_without_duplicates() {
    let mut f = files(&["p256.cert.pem"], "p256.sec1.key");
    assert!(f.load().unwrap().chain().is_empty());
    f.intermediates = vec![pki_file("intermediate-ca.pem"), pki_file("root-ca.pem")];
    let identity = f.load().unwrap();
    assert_eq!(identity.chain().len(), 2);
    assert_eq!(identity.chain()[0].subject(), intermediate_subject());
    // The intermediate is in the full chain and named again: it appears once.
    let mut f = files(&["p256.fullchain.pem"], "p256.sec1.key");
    f.intermediates = vec![pki_file("intermediate-ca.pem")];
    assert_eq!(f.load().unwrap().chain().len(), 1);
}

#[test]
fn leaf_serial_is_decimal() {
    let identity = files(&["rsa2048.cert.pem"], "rsa2048.pkcs1.key")
        .load()
        .unwrap();
    let serial = identity.leaf().serial();
    assert!(
        !serial.is_empty() && serial.bytes().all(|b| b.is_ascii_digit()),
        "{serial}"
    );
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(pki_file("rsa2048.cert.pem"))
        .output()
        .unwrap();
    let hex = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .trim_start_matches("serial=")
        .to_owned();
    let expected = u128::from_str_radix(&hex, 16).unwrap();
    assert_eq!(serial, expected.to_string());
}

#[test]
fn der_certificate_files_are_accepted() {
    let der = std::env::temp_dir().join(format!("needroleshere-der-{}.der", std::process::id()));
    let status = std::process::Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(pki_file("p384.cert.pem"))
        .arg("-out")
        .arg(&der)
        .status()
        .unwrap();
    assert!(status.success());
    let f = IdentityFiles {
        certificates: vec![der.clone().into()],
        intermediates: Vec::new(),
        private_key: pki_file("p384.pkcs8.key").into(),
        pkcs8_password: None,
        device: Default::default(),
    };
    let identity = f.load();
    std::fs::remove_file(&der).unwrap();
    assert_eq!(identity.unwrap().leaf().subject(), "CN=p384-leaf");
}

fn error(f: IdentityFiles) -> (IdentityError, String) {
    let err = f.load().expect_err("loading should fail");
    let text = err.to_string();
    (err, text)
}

#[test]
fn mismatched_key_is_named() {
    let (err, text) = error(files(&["p256.fullchain.pem"], "rsa2048.pkcs1.key"));
    assert!(
        matches!(err, IdentityError::NoMatchingCertificate { .. }),
        "{text}"
    );
    assert!(
        text.contains("rsa2048.pkcs1.key") && text.contains("p256.fullchain.pem"),
        "{text}"
    );
}

#[test]
fn encrypted_key_needs_the_right_password() {
    let mut f = files(&["p256.cert.pem"], "p256.pkcs8-encrypted.key");
    let (err, text) = error(f.clone());
    assert!(
        matches!(err, IdentityError::PasswordRequired { .. }),
        "{text}"
    );
    assert!(text.contains("--pkcs8-password"), "{text}");
    f.pkcs8_password = Some(Secret::new("hunter2-not-it"));
    let (err, text) = error(f);
    assert!(matches!(err, IdentityError::Decrypt { .. }), "{text}");
    assert!(!text.contains("hunter2-not-it"), "{text}");
}

#[test]
fn unsupported_keys_say_what_they_are() {
    for (key, cert, words) in [
        ("ed25519.key", "ed25519.cert.pem", "Ed25519"),
        ("p521.key", "p521.cert.pem", "P-521"),
        ("rsa1024.key", "rsa1024.cert.pem", "RSA-1024"),
    ] {
        let (err, text) = error(files(&[cert], key));
        assert!(
            matches!(err, IdentityError::UnsupportedKey { .. }),
            "{text}"
        );
        assert!(text.contains(words) && text.contains(key), "{text}");
        assert!(text.contains("RSA 2048-4096, P-256 or P-384"), "{text}");
    }
}

#[test]
fn validity_window_is_checked_with_dates_named() {
    let now = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(); // 2027-01-15
    let expired = files(&["expired.cert.pem"], "expired.key").load().unwrap();
    let text = expired.ensure_valid_at(now).unwrap_err().to_string();
    assert!(text.contains("expired at 2021-01-01"), "{text}");
    assert!(text.contains("expired.cert.pem"), "{text}");
    let early = files(&["not-yet-valid.cert.pem"], "not-yet-valid.key")
        .load()
        .unwrap();
    let text = early.ensure_valid_at(now).unwrap_err().to_string();
    assert!(text.contains("not valid before 2099-01-01"), "{text}");
    let fine = files(&["p256.cert.pem"], "p256.sec1.key").load().unwrap();
    fine.ensure_valid_at(fine.leaf().not_before()).unwrap();
    assert!(
        fine.ensure_valid_at(fine.leaf().not_after() + time::Duration::SECOND)
            .is_err()
    );
}

#[test]
fn unreadable_and_empty_files_are_named() {
    let (err, text) = error(files(&["does-not-exist.pem"], "p256.sec1.key"));
    assert!(
        matches!(err, IdentityError::Read { .. }) && text.contains("does-not-exist.pem"),
        "{text}"
    );
    let (err, text) = error(files(&["p256.cert.pem"], "missing.key"));
    assert!(
        matches!(err, IdentityError::Read { .. }) && text.contains("missing.key"),
        "{text}"
    );
    // A key file given as the certificate: it holds no certificate.
    let (err, text) = error(files(&["p256.sec1.key"], "p256.sec1.key"));
    assert!(matches!(err, IdentityError::NoCertificate { .. }), "{text}");
    // A certificate given as the key.
    let (err, text) = error(files(&["p256.cert.pem"], "p256.cert.pem"));
    assert!(matches!(err, IdentityError::NoPrivateKey { .. }), "{text}");
}

#[test]
fn debug_output_never_holds_key_material() {
    let identity = files(&["p256.cert.pem"], "p256.sec1.key").load().unwrap();
    let shown = format!("{identity:?}");
    let key_pem = std::fs::read_to_string(pki_file("p256.sec1.key")).unwrap();
    let body_line = key_pem.lines().nth(1).unwrap();
    assert!(!shown.contains(body_line), "{shown}");
    assert!(shown.contains("p256-leaf"), "{shown}");
}
