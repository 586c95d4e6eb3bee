//! Signing cost per key algorithm: `needroleshere::aws::sign::sign` of a CreateSession request
//! (the canonical request, the string to sign and the signature, exactly as the client
//! sends it), against the bare signature primitive of `ring` on the same key and a message
//! of the same size, and the cost of reading the identity files
//! (`needroleshere::identity::IdentityFiles::load`).
//!
//! Run with `cargo bench --bench signing`. Keys come from `tests/pki/generate.sh`, run into
//! a temporary directory, or from `NEEDROLESHERE_BENCH_PKI=DIR` (a directory that script
//! filled). `NEEDROLESHERE_BENCH_SECONDS` (default 1) is the measuring time per figure.
//!
//! Keys in devices: `NEEDROLESHERE_BENCH_DEVICES` names them, one per line as
//! `LABEL<TAB>LOCATION` (a `pkcs11:` URI with its `module-path` and `pin-value`, a TPM key
//! file; the TCTI from the environment). Each is timed signing a CreateSession-sized message
//! with SHA-256 against the P-256 key file doing the same; in wall-clock time, since a TPM
//! (swtpm, here) works in another process. One line each: `device LABEL DEVICE_NS FILE_NS`.
//!
//! P-256 signs through ring; the RustCrypto signer it used before (still used for P-384) is
//! timed bare beside it, for the before/after comparison.
//!
//! Output: a human table on stderr, and on stdout one tab-separated line per algorithm,
//! `signing ALGORITHM SIGN_NS RING_NS LOAD_NS` (and `previous P-256 NS RING_NS`) (median nanoseconds per operation, in CPU time
//! of the benchmarking thread so that a busy machine does not inflate them), which
//! `scripts/bench.sh` reads. The ring baseline of P-384 signs with SHA-384 (ring has no
//! P-384/SHA-256 signer); the hash is a negligible part of the cost.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use needroleshere::aws::sign::{Request, sign};
use needroleshere::identity::{
    DeviceOptions, Digest, Identity, IdentityFiles, Location, SigningKey,
};
use needroleshere::system::clock::{Clock as _, SystemClock};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};

const KINDS: [(&str, &str); 4] = [
    ("rsa2048", "RSA-2048"),
    ("rsa4096", "RSA-4096"),
    ("p256", "P-256"),
    ("p384", "P-384"),
];

/// The body `needroleshere` sends to CreateSession (same fields, same order).
const BODY: &[u8] = br#"{"durationSeconds":3600,"profileArn":"arn:aws:rolesanywhere:us-east-1:123456789012:profile/7d3f2c1b-5a4e-4f60-8e2d-1c0b9a8f7e6d","roleArn":"arn:aws:iam::123456789012:role/needroleshere-test","trustAnchorArn":"arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/0f9c5a46-2b63-4d5b-9b4e-6a3a3f1e2d11"}"#;

/// CPU time this thread has used, in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`), so that other
/// work on a shared machine does not count; `None` where the clock is missing.
fn thread_cpu_ns() -> Option<u64> {
    use nix::time::{ClockId, clock_gettime};
    let t = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).ok()?;
    u64::try_from(t.tv_sec())
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(u64::try_from(t.tv_nsec()).ok()?)
}

/// Median nanoseconds per call of `f` (CPU time of this thread, else wall time), from
/// batches of at least 5 ms over `budget`.
fn measure(budget: Duration, mut f: impl FnMut()) -> f64 {
    // Warm up and size the batches.
    let warm = Instant::now();
    let mut calls = 0u64;
    while warm.elapsed() < budget / 10 || calls < 3 {
        f();
        calls += 1;
    }
    let per_call = warm.elapsed().as_secs_f64() / calls as f64;
    let batch = ((0.005 / per_call).ceil() as u64).max(1);
    let mut samples = Vec::new();
    let started = Instant::now();
    while started.elapsed() < budget || samples.len() < 5 {
        let (wall, cpu) = (Instant::now(), thread_cpu_ns());
        for _ in 0..batch {
            f();
        }
        let nanos = match (cpu, thread_cpu_ns()) {
            (Some(before), Some(after)) if after > before => (after - before) as f64,
            _ => wall.elapsed().as_secs_f64() * 1e9,
        };
        samples.push(nanos / batch as f64);
    }
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The DER of the single PEM block of `path`.
fn pem_der(path: &Path) -> Vec<u8> {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    pem::parse(text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_contents()
}

/// A bare `ring` signer of the same key.
enum RingKey {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
}

impl RingKey {
    fn load(kind: &str, der: &[u8]) -> RingKey {
        let rng = SystemRandom::new();
        match kind {
            "rsa2048" | "rsa4096" => {
                RingKey::Rsa(RsaKeyPair::from_pkcs8(der).expect("ring reads the RSA key"))
            }
            "p256" => RingKey::Ecdsa(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, der, &rng)
                    .expect("ring reads the P-256 key"),
            ),
            "p384" => RingKey::Ecdsa(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_ASN1_SIGNING, der, &rng)
                    .expect("ring reads the P-384 key"),
            ),
            other => panic!("unknown key kind {other}"),
        }
    }

    fn sign(&self, rng: &SystemRandom, message: &[u8]) -> usize {
        match self {
            RingKey::Rsa(key) => {
                let mut out = vec![0; key.public().modulus_len()];
                key.sign(&signature::RSA_PKCS1_SHA256, rng, message, &mut out)
                    .expect("ring RSA signature");
                out.len()
            }
            RingKey::Ecdsa(key) => key
                .sign(rng, message)
                .expect("ring ECDSA signature")
                .as_ref()
                .len(),
        }
    }
}

fn pki_dir() -> (PathBuf, Option<tempfile::TempDir>) {
    if let Some(dir) = std::env::var_os("NEEDROLESHERE_BENCH_PKI") {
        return (PathBuf::from(dir), None);
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    fake_aws::generate_pki(dir.path()).expect("the test PKI");
    (dir.path().to_owned(), Some(dir))
}

/// Signs the CreateSession request as the client does; returns the string to sign's length.
fn sign_once(identity: &Identity, now: time::OffsetDateTime) -> usize {
    let headers = [("Content-Type", "application/json")];
    let request = Request {
        method: "POST",
        host: "rolesanywhere.us-east-1.amazonaws.com",
        path: "/sessions",
        query: &[],
        headers: &headers,
        body: BODY,
    };
    sign(&request, identity, "us-east-1", now)
        .expect("sign")
        .string_to_sign
        .len()
}

fn main() {
    let seconds: f64 = std::env::var("NEEDROLESHERE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let budget = Duration::from_secs_f64(seconds);
    let (dir, _guard) = pki_dir();
    let now = SystemClock.now();
    let rng = SystemRandom::new();
    eprintln!(
        "{:<9} {:>14} {:>14} {:>7} {:>14}",
        "algorithm", "sign::sign", "ring alone", "ratio", "identity load"
    );
    for (kind, label) in KINDS {
        let files = IdentityFiles {
            certificates: vec![dir.join(format!("{kind}.fullchain.pem")).into()],
            intermediates: Vec::new(),
            private_key: dir.join(format!("{kind}.pkcs8.key")).into(),
            pkcs8_password: None,
            device: Default::default(),
        };
        let identity = files.load().expect("load the identity");
        let string_to_sign_len = sign_once(&identity, now);
        let message = vec![b'a'; string_to_sign_len];
        let ring_key = RingKey::load(kind, &pem_der(&dir.join(format!("{kind}.pkcs8.key"))));

        let sign_ns = measure(budget, || {
            black_box(sign_once(black_box(&identity), now));
        });
        let ring_ns = measure(budget, || {
            black_box(ring_key.sign(&rng, black_box(&message)));
        });
        let load_ns = measure(budget / 2, || {
            black_box(files.load().expect("load the identity"));
        });
        eprintln!(
            "{label:<9} {:>11.1} µs {:>11.1} µs {:>6.2}× {:>11.1} µs",
            sign_ns / 1e3,
            ring_ns / 1e3,
            sign_ns / ring_ns,
            load_ns / 1e3
        );
        println!("signing\t{label}\t{sign_ns:.0}\t{ring_ns:.0}\t{load_ns:.0}");
        if kind == "p256" {
            previous_p256(budget, &dir, &message, ring_ns);
        }
    }
    devices(&dir, budget);
}

/// The P-256 signer `sign::sign` used before it went through ring: the RustCrypto crate's
/// signature of the SHA-256 prehash (P-384 keys and other digests still sign this way),
/// bare, on a message of the same length, against ring's. One line:
/// `previous P-256 RUSTCRYPTO_NS RING_NS`.
fn previous_p256(budget: Duration, dir: &Path, message: &[u8], ring_ns: f64) {
    use p256::ecdsa::signature::hazmat::PrehashSigner as _;
    use p256::pkcs8::DecodePrivateKey as _;
    use sha2::Digest as _;
    let der = pem_der(&dir.join("p256.pkcs8.key"));
    let key = p256::ecdsa::SigningKey::from(
        p256::SecretKey::from_pkcs8_der(&der).expect("RustCrypto reads the P-256 key"),
    );
    let previous_ns = measure(budget, || {
        let digest = sha2::Sha256::digest(black_box(message));
        let signature: p256::ecdsa::Signature = key.sign_prehash(&digest).expect("sign");
        black_box(signature.to_der());
    });
    eprintln!(
        "{:<9} {:>11.1} µs {:>11.1} µs {:>6.2}×   (RustCrypto alone: the P-256 signer before ring)",
        "P-256 old",
        previous_ns / 1e3,
        ring_ns / 1e3,
        previous_ns / ring_ns
    );
    println!("previous\tP-256\t{previous_ns:.0}\t{ring_ns:.0}");
}

/// Median wall-clock nanoseconds of `op` over `budget` (at least 5 runs).
fn measure_wall(budget: Duration, mut op: impl FnMut()) -> f64 {
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < 5 || start.elapsed() < budget {
        let t = Instant::now();
        op();
        samples.push(t.elapsed().as_nanos() as f64);
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[samples.len() / 2]
}

/// Signing with each key of `NEEDROLESHERE_BENCH_DEVICES` against the P-256 key file.
fn devices(dir: &Path, budget: Duration) {
    let Ok(list) = std::env::var("NEEDROLESHERE_BENCH_DEVICES") else {
        return;
    };
    let env = needroleshere::system::env::Environment::from_process();
    let options = DeviceOptions {
        tpm_tcti: env.tpm_tcti.clone(),
        ..DeviceOptions::default()
    };
    let message = vec![b'a'; 400];
    let file = SigningKey::open(&dir.join("p256.pkcs8.key").into(), None, &options)
        .expect("open the P-256 key file");
    let file_ns = measure_wall(budget, || {
        black_box(
            file.sign(black_box(&message), Digest::Sha256)
                .expect("sign"),
        );
    });
    eprintln!(
        "{:<22} {:>14} {:>14} {:>7}",
        "key in a device", "device", "key file", "ratio"
    );
    for line in list.lines().filter(|l| !l.trim().is_empty()) {
        let (label, location) = line.split_once('\t').expect("LABEL<TAB>LOCATION");
        let location = Location::parse(std::ffi::OsStr::new(location)).expect("a location");
        let key = SigningKey::open(&location, None, &options)
            .unwrap_or_else(|e| panic!("open {label}: {e}"));
        let device_ns = measure_wall(budget, || {
            black_box(key.sign(black_box(&message), Digest::Sha256).expect("sign"));
        });
        eprintln!(
            "{label:<22} {:>11.1} µs {:>11.1} µs {:>6.1}×",
            device_ns / 1e3,
            file_ns / 1e3,
            device_ns / file_ns
        );
        println!("device\t{label}\t{device_ns:.0}\t{file_ns:.0}");
    }
}
