//! A SoftHSM2 token for the tests: its own token directory and configuration, keys generated
//! inside the token with `pkcs11-tool` (OpenSC), certificates for them issued by the test
//! PKI's intermediate CA, and optionally the certificates stored in the token too.
//!
//! The public half of a token key is exported with `p11tool` (GnuTLS): `pkcs11-tool` cannot
//! read P-384 public keys in OpenSC 0.23. The certificate is made with `openssl x509 -req
//! -force_pubkey`, so no private key ever leaves the token.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::pki_file;

/// SoftHSM2's module as Debian installs it.
pub(crate) const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// p11-kit's proxy module, which finds SoftHSM2 through its p11-kit registration.
pub(crate) const PROXY: &str = "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so";
/// OpenSC's PKCS#11 spy: logs every call to the module named by `PKCS11SPY`.
pub(crate) const SPY: &str = "/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so";
pub(crate) const PIN: &str = "358979";
const SO_PIN: &str = "5678";

/// A key the tests generate: label, `pkcs11-tool --key-type`, id.
pub(crate) const KEYS: &[(&str, &str, &str)] = &[
    ("rsa", "rsa:2048", "01"),
    ("p256", "EC:prime256v1", "02"),
    ("p384", "EC:secp384r1", "03"),
];

/// One initialised token in a directory of its own.
pub(crate) struct SoftHsm {
    dir: tempfile::TempDir,
    pub(crate) label: String,
}

fn run(command: &mut Command, what: &str) -> Vec<u8> {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        output.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

impl SoftHsm {
    /// A new token labelled `label` with user PIN [`PIN`], holding the keys of [`KEYS`],
    /// with a certificate file for each (`LABEL.cert.pem` in [`SoftHsm::dir`]).
    pub(crate) fn new(label: &str) -> SoftHsm {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::create_dir(dir.path().join("tokens")).expect("token directory");
        std::fs::write(
            dir.path().join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.path().join("tokens").display()
            ),
        )
        .expect("softhsm2.conf");
        let hsm = SoftHsm {
            dir,
            label: label.to_owned(),
        };
        run(
            hsm.command("softhsm2-util").args([
                "--init-token",
                "--free",
                "--label",
                label,
                "--pin",
                PIN,
                "--so-pin",
                SO_PIN,
            ]),
            "softhsm2-util --init-token",
        );
        for (name, key_type, id) in KEYS {
            hsm.generate(name, key_type, id, &[]);
            hsm.issue_certificate(name);
        }
        hsm
    }

    /// The directory of the token's files.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `SOFTHSM2_CONF`, which every process using the token needs.
    pub(crate) fn env(&self) -> (&'static str, String) {
        (
            "SOFTHSM2_CONF",
            self.dir.path().join("softhsm2.conf").display().to_string(),
        )
    }

    /// `program` with [`SoftHsm::env`].
    pub(crate) fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        let (name, value) = self.env();
        command.env(name, value);
        command
    }

    /// Generates a key pair inside the token; `extra` adds `pkcs11-tool` flags.
    pub(crate) fn generate(&self, label: &str, key_type: &str, id: &str, extra: &[&str]) {
        run(
            self.command("pkcs11-tool")
                .args(["--module", MODULE, "--login", "--pin", PIN, "--keypairgen"])
                .args(["--key-type", key_type, "--id", id, "--label", label])
                .args(extra),
            &format!("pkcs11-tool --keypairgen {label}"),
        );
    }

    /// Generates an RSA-2048 key inside the token that may decrypt but not sign (`p11tool
    /// --mark-decrypt`; `pkcs11-tool` ignores usage flags when it generates).
    pub(crate) fn generate_decrypt_only(&self, label: &str, id: &str) {
        run(
            self.command("p11tool")
                .env("GNUTLS_PIN", PIN)
                .args(["--provider", MODULE, "--login", "--generate-privkey=RSA"])
                .args([
                    "--bits",
                    "2048",
                    "--mark-decrypt",
                    "--label",
                    label,
                    "--id",
                    id,
                ])
                .arg(format!("pkcs11:token={}", self.label)),
            &format!("p11tool --generate-privkey {label}"),
        );
    }

    /// Issues `LABEL.cert.pem` (CN=LABEL-token) for the public key of `label`, signed by the
    /// test PKI's intermediate CA.
    pub(crate) fn issue_certificate(&self, label: &str) -> PathBuf {
        let public = self.dir().join(format!("{label}.pub.pem"));
        run(
            self.command("p11tool")
                .env("GNUTLS_PIN", PIN)
                .args(["--provider", MODULE, "--login", "--export-pubkey"])
                .arg(format!(
                    "pkcs11:token={};object={label};type=public",
                    self.label
                ))
                .arg("--outfile")
                .arg(&public),
            &format!("p11tool --export-pubkey {label}"),
        );
        // Any request will do: -force_pubkey replaces its key with the token's.
        let request = self.dir().join(format!("{label}.csr"));
        run(
            Command::new("openssl")
                .args(["req", "-new", "-newkey", "ec", "-pkeyopt"])
                .args(["ec_paramgen_curve:P-256", "-nodes", "-keyout", "/dev/null"])
                .arg("-subj")
                .arg(format!("/CN={label}-token"))
                .arg("-out")
                .arg(&request),
            "openssl req",
        );
        let extensions = self.dir().join("leaf.ext");
        std::fs::write(
            &extensions,
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n",
        )
        .expect("extensions file");
        let certificate = self.dir().join(format!("{label}.cert.pem"));
        run(
            Command::new("openssl")
                .args(["x509", "-req", "-in"])
                .arg(&request)
                .arg("-force_pubkey")
                .arg(&public)
                .arg("-CA")
                .arg(pki_file("intermediate-ca.pem"))
                .arg("-CAkey")
                .arg(pki_file("intermediate-ca.key"))
                .args([
                    "-set_serial",
                    &format!("0x{}", random_serial()),
                    "-days",
                    "30",
                ])
                .arg("-extfile")
                .arg(&extensions)
                .arg("-out")
                .arg(&certificate),
            "openssl x509 -req -force_pubkey",
        );
        certificate
    }

    /// Stores `LABEL.cert.pem` in the token as a certificate object with the key's id.
    pub(crate) fn store_certificate(&self, label: &str, id: &str) {
        let der = self.dir().join(format!("{label}.cert.der"));
        run(
            Command::new("openssl")
                .args(["x509", "-in"])
                .arg(self.dir().join(format!("{label}.cert.pem")))
                .args(["-outform", "DER", "-out"])
                .arg(&der),
            "openssl x509 -outform DER",
        );
        run(
            self.command("pkcs11-tool")
                .args([
                    "--module",
                    MODULE,
                    "--login",
                    "--pin",
                    PIN,
                    "--write-object",
                ])
                .arg(&der)
                .args(["--type", "cert", "--id", id, "--label", label]),
            &format!("pkcs11-tool --write-object {label}"),
        );
    }

    /// Removes the certificate objects labelled `label` from the token.
    pub(crate) fn delete_certificate(&self, label: &str) {
        run(
            self.command("pkcs11-tool")
                .args([
                    "--module",
                    MODULE,
                    "--login",
                    "--pin",
                    PIN,
                    "--delete-object",
                ])
                .args(["--type", "cert", "--label", label]),
            &format!("pkcs11-tool --delete-object {label}"),
        );
    }

    /// The certificate file issued for `label`.
    pub(crate) fn certificate(&self, label: &str) -> PathBuf {
        self.dir().join(format!("{label}.cert.pem"))
    }

    /// `pkcs11:token=LABEL;object=OBJECT`.
    pub(crate) fn uri(&self, object: &str) -> String {
        format!("pkcs11:token={};object={object}", self.label)
    }
}

fn random_serial() -> String {
    let mut bytes = [0u8; 16];
    getrandom(&mut bytes);
    bytes[0] &= 0x7f;
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn getrandom(buf: &mut [u8]) {
    use std::io::Read as _;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .expect("read /dev/urandom");
}
