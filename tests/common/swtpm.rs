//! A software TPM per test: `swtpm socket --tpm2` on two free loopback ports (commands on
//! P, control on P+1, as the `swtpm:` TCTI expects), with its state in a temporary
//! directory, and the real tools that make keys in it: tpm2-tools and the tpm2 OpenSSL
//! provider (`openssl … -provider tpm2`), both pointed at it through their TCTI variables.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::pki_file;

pub(crate) struct Swtpm {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
}

/// Two consecutive free loopback ports. Another process may take them before swtpm binds;
/// `Swtpm::start` then fails to connect and says so.
fn free_port_pair() -> u16 {
    for _ in 0..50 {
        let first = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a loopback port");
        let port = first.local_addr().expect("its address").port();
        if port < u16::MAX && TcpListener::bind((Ipv4Addr::LOCALHOST, port + 1)).is_ok() {
            return port;
        }
    }
    panic!("no two consecutive free loopback ports");
}

impl Swtpm {
    /// Starts a fresh TPM (manufactured, started up) and waits until it answers.
    pub(crate) fn start() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::create_dir(dir.path().join("state")).expect("state directory");
        let port = free_port_pair();
        let child = Command::new("swtpm")
            .args(["socket", "--tpm2"])
            .arg("--server")
            .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
            .arg("--ctrl")
            .arg(format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1))
            .arg("--tpmstate")
            .arg(format!("dir={}", dir.path().join("state").display()))
            .args(["--flags", "not-need-init,startup-clear"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start swtpm (Debian: apt-get install swtpm swtpm-tools)");
        let tpm = Self {
            child: Some(child),
            dir,
            port,
        };
        // swtpm needs a moment to manufacture the TPM; generous for loaded machines.
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port + 1)).is_err() {
            assert!(Instant::now() < deadline, "swtpm did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        tpm
    }

    /// The TCTI that reaches it.
    pub(crate) fn tcti(&self) -> String {
        format!("swtpm:host=127.0.0.1,port={}", self.port)
    }

    /// A scratch directory for keys and certificates.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `program` run in the scratch directory, reaching this TPM.
    pub(crate) fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(self.dir())
            .env("TPM2TOOLS_TCTI", self.tcti())
            .env("TPM2OPENSSL_TCTI", self.tcti())
            // The TSS's own log lines would drown the tools' errors.
            .env("TSS2_LOG", "all+none")
            .stdin(Stdio::null());
        command
    }

    /// Runs `program args`, panicking with its stderr when it fails; returns stdout.
    pub(crate) fn run(&self, program: &str, args: &[&str]) -> String {
        let output = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The transient objects loaded now (`tpm2_getcap handles-transient`): none after every
    /// operation, or a handle leaked.
    pub(crate) fn transient_handles(&self) -> String {
        self.run("tpm2_getcap", &["handles-transient"])
            .trim()
            .to_owned()
    }

    /// A key made by the tpm2 OpenSSL provider, written to `name` in the scratch directory:
    /// `algorithm` is `RSA` or `EC`, `options` its `-pkeyopt`s.
    pub(crate) fn provider_key(
        &self,
        name: &str,
        algorithm: &str,
        options: &[&str],
        password: Option<&str>,
    ) -> PathBuf {
        let mut args = vec![
            "genpkey",
            "-provider",
            "tpm2",
            "-provider",
            "default",
            "-algorithm",
            algorithm,
        ];
        for option in options {
            args.extend(["-pkeyopt", option]);
        }
        let auth = password.map(|p| format!("user-auth:{p}"));
        if let Some(auth) = &auth {
            args.extend(["-pkeyopt", auth]);
        }
        args.extend(["-out", name]);
        self.run("openssl", &args);
        self.dir().join(name)
    }

    /// A leaf certificate for `key` (a key file or `handle:0x81…`), issued by the test
    /// PKI's intermediate CA from a CSR the TPM signed, with the intermediate after it:
    /// the file to give `--certificate`.
    pub(crate) fn certificate(&self, key: &str, password: Option<&str>, cn: &str) -> PathBuf {
        let csr = format!("{cn}.csr");
        let mut args = vec![
            "req",
            "-provider",
            "tpm2",
            "-provider",
            "default",
            "-new",
            "-key",
            key,
        ];
        let passin = password.map(|p| format!("pass:{p}"));
        if let Some(passin) = &passin {
            args.extend(["-passin", passin]);
        }
        let subject = format!("/CN={cn}");
        args.extend(["-subj", &subject, "-out", &csr]);
        self.run("openssl", &args);
        std::fs::write(
            self.dir().join("leaf.cnf"),
            "[ v3_leaf ]\nbasicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature\nsubjectKeyIdentifier = hash\n\
             authorityKeyIdentifier = keyid:always\n",
        )
        .expect("write leaf.cnf");
        // 16 random bytes, positive, top byte at least 0x40: the serial AWS expects.
        let mut serial: [u8; 16] = std::array::from_fn(|_| rand_byte());
        serial[0] = (serial[0] & 0x7f) | 0x40;
        let serial = format!("0x{}", hex(&serial));
        let leaf = format!("{cn}.leaf.pem");
        let ca = pki_file("intermediate-ca.pem").display().to_string();
        let ca_key = pki_file("intermediate-ca.key").display().to_string();
        self.run(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca,
                "-CAkey",
                &ca_key,
                "-sha256",
                "-set_serial",
                &serial,
                "-days",
                "2",
                "-extfile",
                "leaf.cnf",
                "-extensions",
                "v3_leaf",
                "-out",
                &leaf,
            ],
        );
        let chain = self.dir().join(format!("{cn}.chain.pem"));
        let mut text = std::fs::read(self.dir().join(&leaf)).expect("read the leaf");
        text.extend(std::fs::read(&ca).expect("read the intermediate"));
        std::fs::write(&chain, text).expect("write the chain");
        chain
    }

    /// Stops the TPM (as if it crashed or was shut down).
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        self.stop();
    }
}

fn rand_byte() -> u8 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now()) as u8
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
