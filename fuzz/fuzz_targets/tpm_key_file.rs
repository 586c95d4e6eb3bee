//! TPM key files: the input is the DER inside a `TSS2 PRIVATE KEY` PEM block, loaded as the
//! private key of the P-256 test chain. Parsing the TPMKey ASN.1 and the TPM2B blobs inside
//! it never panics, and never reaches a TPM: a key file is opened from its own public area
//! (no TCTI is configured, and none would be used before signing). A file that parses
//! cannot match the test certificate, whose key is not in any TPM.
#![no_main]

use libfuzzer_sys::fuzz_target;
use needroleshere::identity::{DeviceOptions, IdentityFiles};
use needroleshere_fuzz::{pki, scratch_file};

fuzz_target!(|data: &[u8]| {
    let input = scratch_file("input.tss2.pem");
    let mut pem = String::from("-----BEGIN TSS2 PRIVATE KEY-----\n");
    for line in base64(data).as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END TSS2 PRIVATE KEY-----\n");
    std::fs::write(&input, pem).expect("write the input");
    assert!(needroleshere::identity::is_tpm_key_file(&input));
    let files = IdentityFiles {
        certificates: vec![pki().join("p256.fullchain.pem").into()],
        intermediates: vec![],
        private_key: input.into(),
        pkcs8_password: None,
        // A TCTI that cannot connect: should anything try the TPM, it fails fast.
        device: DeviceOptions {
            tpm_tcti: Some("swtpm:host=127.0.0.1,port=1".into()),
            ..Default::default()
        },
    };
    assert!(files.load().is_err(), "no TPM key matches the test certificate");
});

/// Standard base64 with padding (RFC 4648 §4).
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
