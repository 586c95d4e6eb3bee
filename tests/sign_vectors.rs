//! The AWS4-X509 signer against the vectors in `tests/vectors/`, which an independent
//! implementation (`tests/vectors/generate.py`, Python and the openssl CLI) produced.
//! RSA signatures are deterministic and pinned byte for byte; ECDSA signatures are random,
//! so they are verified with the certificate's public key against the expected string to sign.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::path::{Path, PathBuf};

use needroleshere::aws::sign;
use needroleshere::identity::IdentityFiles;
use serde::Deserialize;
use x509_parser::prelude::{FromDer as _, X509Certificate};

#[derive(Deserialize)]
struct Vector {
    name: String,
    certificate: PathBuf,
    chain: Vec<PathBuf>,
    private_key: PathBuf,
    region: String,
    time: String,
    request: VectorRequest,
    expected: Expected,
}

#[derive(Deserialize)]
struct VectorRequest {
    method: String,
    host: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: String,
}

#[derive(Deserialize)]
struct Expected {
    algorithm: String,
    x_amz_date: String,
    x_amz_x509: String,
    x_amz_x509_chain: Option<String>,
    signed_headers: String,
    canonical_request: String,
    string_to_sign: String,
    signature: Option<String>,
    authorization: Option<String>,
    authorization_prefix: String,
}

fn vectors() -> Vec<Vector> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 10,
        "expected the committed vectors in {}",
        dir.display()
    );
    paths
        .iter()
        .map(|p| {
            let mut v: Vector = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
            v.certificate = dir.join(&v.certificate);
            v.chain = v.chain.iter().map(|c| dir.join(c)).collect();
            v.private_key = dir.join(&v.private_key);
            v
        })
        .collect()
}

fn load_identity(v: &Vector) -> needroleshere::identity::Identity {
    IdentityFiles {
        certificates: vec![v.certificate.clone().into()],
        intermediates: v.chain.clone(),
        private_key: v.private_key.clone().into(),
        pkcs8_password: None,
        device: Default::default(),
    }
    .load()
    .unwrap_or_else(|e| panic!("{}: {e}", v.name))
}

fn header<'a>(signed: &'a sign::Signed, name: &str) -> Option<&'a str> {
    signed
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[test]
fn signer_matches_every_vector() {
    for v in vectors() {
        let identity = load_identity(&v);
        let time = needroleshere::credentials::parse_rfc3339(&v.time).unwrap();
        let query: Vec<(&str, &str)> = v
            .request
            .query
            .iter()
            .map(|(k, x)| (k.as_str(), x.as_str()))
            .collect();
        let headers: Vec<(&str, &str)> = v
            .request
            .headers
            .iter()
            .map(|(k, x)| (k.as_str(), x.as_str()))
            .collect();
        let request = sign::Request {
            method: &v.request.method,
            host: &v.request.host,
            path: &v.request.path,
            query: &query,
            headers: &headers,
            body: v.request.body.as_bytes(),
        };
        let signed = sign::sign(&request, &identity, &v.region, time).unwrap();
        let e = &v.expected;
        let n = &v.name;
        assert_eq!(identity.algorithm().aws4_x509_name(), e.algorithm, "{n}");
        assert_eq!(
            signed.canonical_request, e.canonical_request,
            "{n}: canonical request"
        );
        assert_eq!(
            signed.string_to_sign, e.string_to_sign,
            "{n}: string to sign"
        );
        assert_eq!(
            header(&signed, "X-Amz-Date"),
            Some(e.x_amz_date.as_str()),
            "{n}"
        );
        assert_eq!(
            header(&signed, "X-Amz-X509"),
            Some(e.x_amz_x509.as_str()),
            "{n}"
        );
        assert_eq!(
            header(&signed, "X-Amz-X509-Chain"),
            e.x_amz_x509_chain.as_deref(),
            "{n}"
        );
        let authorization = header(&signed, "Authorization").unwrap();
        assert!(
            authorization.starts_with(&e.authorization_prefix),
            "{n}: {authorization}"
        );
        assert!(
            authorization.contains(&format!("SignedHeaders={},", e.signed_headers)),
            "{n}"
        );
        let signature_hex = authorization.rsplit("Signature=").next().unwrap();
        match (&e.signature, &e.authorization) {
            (Some(signature), Some(expected)) => {
                assert_eq!(signature_hex, signature, "{n}: RSA signature");
                assert_eq!(authorization, expected, "{n}");
            }
            _ => verify_ecdsa(n, &v.certificate, &e.string_to_sign, signature_hex),
        }
    }
}

fn verify_ecdsa(name: &str, cert: &Path, string_to_sign: &str, signature_hex: &str) {
    let pem = pem::parse_many(std::fs::read(cert).unwrap()).unwrap();
    let (_, cert) = X509Certificate::from_der(pem[0].contents()).unwrap();
    let spki = cert.public_key();
    let algorithm: &dyn ring::signature::VerificationAlgorithm =
        match spki.subject_public_key.data.len() {
            65 => &ring::signature::ECDSA_P256_SHA256_ASN1,
            97 => &ring::signature::ECDSA_P384_SHA256_ASN1,
            other => panic!("{name}: unexpected EC point length {other}"),
        };
    let key = ring::signature::UnparsedPublicKey::new(algorithm, &spki.subject_public_key.data);
    key.verify(
        string_to_sign.as_bytes(),
        &hex::decode(signature_hex).unwrap(),
    )
    .unwrap_or_else(|_| panic!("{name}: ECDSA signature does not verify"));
}

#[test]
fn a_changed_body_changes_the_signature() {
    // Guards the vector test itself: the pinned RSA signature must depend on the body.
    let v = vectors()
        .into_iter()
        .find(|v| v.name == "rsa2048-basic")
        .unwrap();
    let identity = load_identity(&v);
    let time = needroleshere::credentials::parse_rfc3339(&v.time).unwrap();
    let headers: Vec<(&str, &str)> = v
        .request
        .headers
        .iter()
        .map(|(k, x)| (k.as_str(), x.as_str()))
        .collect();
    let request = sign::Request {
        method: &v.request.method,
        host: &v.request.host,
        path: &v.request.path,
        query: &[],
        headers: &headers,
        body: b"{\"durationSeconds\":900}",
    };
    let signed = sign::sign(&request, &identity, &v.region, time).unwrap();
    assert_ne!(
        header(&signed, "Authorization"),
        v.expected.authorization.as_deref()
    );
}
