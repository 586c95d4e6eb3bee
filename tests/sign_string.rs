//! `sign-string` against the official `aws_signing_helper` (v1.4.0, built from the Go module
//! proxy into `build/go-helper` by the test command): byte for byte the same output for RSA
//! keys (RSASSA-PKCS1-v1_5 is deterministic) in every format and digest; ECDSA signatures
//! (randomised) verified by `openssl` over the fixed string; keys in files and in a SoftHSM2
//! token.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::pki_file;
use common::softhsm::{MODULE, PIN, SoftHsm};
use sha2::{Digest as _, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_needroleshere");

fn official_helper() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("build/go-helper/rolesanywhere-credential-helper");
    assert!(
        path.exists(),
        "{} is missing: scripts/test.sh builds it",
        path.display()
    );
    path
}

fn output(command: &mut Command, what: &str) -> Vec<u8> {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn rsa_signatures_are_the_official_helpers_byte_for_byte() {
    let key = pki_file("rsa2048.pkcs8.key");
    let certificate = pki_file("rsa2048.cert.pem");
    for format in ["json", "text", "bin"] {
        for digest in ["SHA256", "SHA384", "SHA512"] {
            let ours = output(
                Command::new(BIN)
                    .arg("sign-string")
                    .arg("--private-key")
                    .arg(&key)
                    .args(["--format", format, "--digest", digest]),
                "needroleshere sign-string",
            );
            // v1.4.0 wants a certificate even for a key file.
            let theirs = output(
                Command::new(official_helper())
                    .arg("sign-string")
                    .arg("--certificate")
                    .arg(&certificate)
                    .arg("--private-key")
                    .arg(&key)
                    .args(["--format", format, "--digest", digest]),
                "aws_signing_helper sign-string",
            );
            assert_eq!(ours, theirs, "--format {format} --digest {digest}");
        }
    }
    // The default is a JSON string of hex with no newline.
    let default = output(
        Command::new(BIN)
            .arg("sign-string")
            .arg("--private-key")
            .arg(&key),
        "default format",
    );
    assert!(
        default.starts_with(b"\"") && default.ends_with(b"\""),
        "{default:?}"
    );
}

/// The fixed string: the test text, version 1, and SHA-256("IAM RA" || public key).
fn fixed_string(public_key: &[u8]) -> Vec<u8> {
    let mut text = b"AWS Roles Anywhere Credential Helper Signing Test1".to_vec();
    text.extend(
        Sha256::new()
            .chain_update(b"IAM RA")
            .chain_update(public_key)
            .finalize(),
    );
    text
}

/// The uncompressed point of the EC public key in `pem` (a certificate).
fn ec_point(certificate: &Path) -> (Vec<u8>, PathBuf) {
    let dir = certificate.parent().unwrap().to_owned();
    let name = certificate
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    let public = std::env::temp_dir().join(format!("{}-{name}.pub.pem", std::process::id()));
    output(
        Command::new("openssl")
            .args(["x509", "-noout", "-pubkey", "-in"])
            .arg(certificate)
            .arg("-out")
            .arg(&public),
        "openssl x509 -pubkey",
    );
    let der = output(
        Command::new("openssl")
            .args(["pkey", "-pubin", "-outform", "DER", "-in"])
            .arg(&public),
        "openssl pkey -outform DER",
    );
    let _ = dir;
    // An uncompressed point is the SPKI's last 1 + 2n bytes: 65 (P-256) or 97 (P-384).
    let len = if der.len() > 100 { 97 } else { 65 };
    (der[der.len() - len..].to_vec(), public)
}

fn verify(public: &Path, digest: &str, message: &[u8], signature: &[u8], what: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("message"), message).unwrap();
    std::fs::write(dir.path().join("signature"), signature).unwrap();
    let out = Command::new("openssl")
        .args(["dgst", &format!("-{}", digest.to_lowercase()), "-verify"])
        .arg(public)
        .arg("-signature")
        .arg(dir.path().join("signature"))
        .arg(dir.path().join("message"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{what}: openssl does not verify the signature: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ecdsa_signatures_verify_over_the_fixed_string() {
    for kind in ["p256", "p384"] {
        let (point, public) = ec_point(&pki_file(&format!("{kind}.cert.pem")));
        for digest in ["SHA256", "SHA384", "SHA512"] {
            let signature = output(
                Command::new(BIN)
                    .arg("sign-string")
                    .arg("--private-key")
                    .arg(pki_file(&format!("{kind}.pkcs8.key")))
                    .args(["--format", "bin", "--digest", digest]),
                "sign-string",
            );
            verify(
                &public,
                digest,
                &fixed_string(&point),
                &signature,
                &format!("{kind} {digest}"),
            );
        }
    }
}

#[test]
fn token_keys_sign_the_same_string() {
    let hsm = SoftHsm::new("sign-string");
    let (conf, value) = hsm.env();
    for (label, digest) in [("rsa", "SHA384"), ("p256", "SHA256"), ("p384", "SHA512")] {
        let signature = output(
            Command::new(BIN)
                .env(conf, &value)
                .arg("sign-string")
                .arg("--private-key")
                .arg(hsm.uri(label))
                .args(["--pkcs11-lib", MODULE, "--pkcs11-pin", PIN])
                .args(["--format", "bin", "--digest", digest]),
            "sign-string with a token key",
        );
        let certificate = hsm.certificate(label);
        let (point, public) = if label == "rsa" {
            let public = hsm.dir().join("rsa.pub.pem");
            let der = output(
                Command::new("openssl")
                    .args([
                        "rsa",
                        "-pubin",
                        "-RSAPublicKey_out",
                        "-outform",
                        "DER",
                        "-in",
                    ])
                    .arg(&public),
                "openssl rsa -RSAPublicKey_out",
            );
            (der, public)
        } else {
            ec_point(&certificate)
        };
        verify(&public, digest, &fixed_string(&point), &signature, label);
    }
}
