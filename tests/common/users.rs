//! Other local users, for the tests of who may be answered (`tests/desktop_users.rs`,
//! `tests/binding_pins.rs`): `curl` run as a uid through `setpriv`, which needs root.

use super::daemon::is_root;

/// `curl ARGS…` as `uid` (through setpriv unless root), with no proxy and the status
/// appended: (status, body).
pub(crate) async fn curl_as(uid: u32, args: &[&str]) -> (u16, String) {
    let mut command = if uid == 0 {
        tokio::process::Command::new("curl")
    } else {
        let mut command = tokio::process::Command::new("setpriv");
        command.args([
            &format!("--reuid={uid}"),
            &format!("--regid={uid}"),
            "--clear-groups",
            "curl",
        ]);
        command
    };
    let output = command
        .args(["-sS", "--noproxy", "*", "-w", "\n%{http_code}"])
        .args(args)
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .output()
        .await
        .expect("run curl (through setpriv)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    let status = status.trim().parse().unwrap_or_else(|_| {
        panic!(
            "curl as uid {uid} printed no status: {text}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (status, body.to_owned())
}

/// Whether this process may act as other users (root); says why not when it cannot.
pub(crate) fn can_switch_users() -> bool {
    if !is_root() {
        eprintln!("skipped: needs root to act as other users");
        return false;
    }
    true
}
