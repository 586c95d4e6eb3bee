//! Certificate and key files: the input is written to a file and loaded as a certificate
//! file (with the test key), as an intermediates file, as a key file (with the test chain),
//! and as both at once. Loading never panics; an identity that loads can sign and never
//! lists its leaf in its chain.
#![no_main]

use libfuzzer_sys::fuzz_target;
use needroleshere::identity::IdentityFiles;
use needroleshere_fuzz::{pki, scratch_file};

fuzz_target!(|data: &[u8]| {
    let input = scratch_file("input.pem");
    std::fs::write(&input, data).expect("write the input");
    let pki = pki();
    let chain = pki.join("p256.fullchain.pem");
    let key = pki.join("p256.pkcs8.key");
    let cases = [
        (vec![input.clone()], vec![], key.clone()),
        (vec![chain.clone()], vec![input.clone()], key.clone()),
        (vec![chain.clone()], vec![], input.clone()),
        (vec![input.clone()], vec![], input.clone()),
    ];
    for (certificates, intermediates, private_key) in cases {
        let files = IdentityFiles {
            certificates: certificates.into_iter().map(Into::into).collect(),
            intermediates,
            private_key: private_key.into(),
            // No password: the cost of decrypting a key is set by its file (PBKDF2
            // iterations), which is the administrator's, not an attacker's.
            pkcs8_password: None,
            device: Default::default(),
        };
        if let Ok(identity) = files.load() {
            assert!(identity.sign(b"string to sign").is_ok());
            assert!(
                identity
                    .chain()
                    .iter()
                    .all(|c| c.der() != identity.leaf().der())
            );
            let _ = identity.fingerprint();
            let _ = format!("{identity:?}");
        }
        let _ = files.first_certificate();
    }
    let _ = needroleshere::identity::key_file_is_encrypted(&input);
});
