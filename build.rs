//! Records the source revision for `needroleshere --version`: `NEEDROLESHERE_REVISION` from
//! the environment (packagers building from a tarball set it), else `git describe` of the
//! checkout, else "unknown revision".

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=NEEDROLESHERE_REVISION");
    // Watch only what exists: cargo treats a missing path as always changed, which would
    // rebuild the crate on every run (a fresh clone has no packed-refs, a tarball no .git).
    for path in [".git/HEAD", ".git/refs", ".git/packed-refs"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let revision = std::env::var("NEEDROLESHERE_REVISION")
        .ok()
        .filter(|r| !r.trim().is_empty())
        .or_else(git_revision)
        .unwrap_or_else(|| "unknown revision".to_owned());
    println!("cargo:rustc-env=NEEDROLESHERE_REVISION={revision}");
}

fn git_revision() -> Option<String> {
    let output = Command::new("git")
        .args(["describe", "--always", "--abbrev=12"])
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (output.status.success() && !text.is_empty()).then(|| format!("git {text}"))
}
