//! The systemd units in `contrib/systemd`: systemd itself finds nothing to warn about, the
//! daemon's sandbox scores well in `systemd-analyze security`, the units say what the
//! deployment guide promises, and the bind template's command lines, expanded as systemd
//! expands them, work with the real binary. The sysusers and tmpfiles files produce the
//! directory layout the permission model relies on.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::daemon::{self, BIN};
use common::pki_file;

/// The highest `systemd-analyze security` exposure accepted for the daemon (0 = fully
/// locked down, 10 = unprotected). It scores 1.2 with systemd 252.
const MAX_SERVE_EXPOSURE: f64 = 1.5;
/// The same for the bind template, which runs as root.
const MAX_BIND_EXPOSURE: f64 = 2.0;

const INSTALLED_BINARY: &str = "/usr/bin/needroleshere";

fn unit_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd")
}

/// Every unit file of contrib/systemd, sorted.
fn unit_files() -> Vec<PathBuf> {
    let mut units: Vec<PathBuf> = std::fs::read_dir(unit_dir())
        .expect("contrib/systemd")
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("service" | "socket")
            )
        })
        .collect();
    units.sort();
    let names: Vec<String> = units
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "needroleshere.socket",
        "needroleshere.service",
        "needroleshere-ecs-relative.socket",
        "needroleshere-bind@.service",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing: {names:?}"
        );
    }
    units
}

/// Copies every unit into `dir` with `/usr/bin/needroleshere` replaced by the binary under
/// test, so that verify checks real executables. Returns the copies.
fn install_units(dir: &Path) -> Vec<PathBuf> {
    unit_files()
        .iter()
        .map(|unit| {
            let text = std::fs::read_to_string(unit).unwrap();
            assert!(
                !text.contains(BIN),
                "{} already names the test binary",
                unit.display()
            );
            let copy = dir.join(unit.file_name().unwrap());
            std::fs::write(&copy, text.replace(INSTALLED_BINARY, BIN)).unwrap();
            copy
        })
        .collect()
}

fn systemd_analyze(args: &[&str], units: &[PathBuf]) -> (bool, String) {
    let output = Command::new("systemd-analyze")
        .args(args)
        .args(units)
        .output()
        .expect("run systemd-analyze (package systemd)");
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

#[test]
fn units_pass_systemd_analyze_verify_without_any_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let mut units = install_units(tmp.path());
    // The template is checked as such and as an instance (the way it is used).
    units.push(tmp.path().join("needroleshere-bind@example.service"));
    units.push(tmp.path().join("needroleshere-imds@example.socket"));
    let (ok, text) = systemd_analyze(&["verify"], &units);
    // Unknown keys, bad values and missing executables are only warnings: any output fails.
    assert!(
        ok && text.trim().is_empty(),
        "systemd-analyze verify:\n{text}"
    );
}

#[test]
fn verify_reports_what_this_test_must_catch() {
    // Guards the check above: with the same invocation, an unknown key and a missing
    // executable do produce output (exit status 0 for the unknown key alone).
    let tmp = tempfile::tempdir().unwrap();
    let units = install_units(tmp.path());
    let service = units
        .iter()
        .find(|u| u.ends_with("needroleshere.service"))
        .unwrap();
    let text = std::fs::read_to_string(service).unwrap();
    std::fs::write(
        service,
        text.replace("[Service]\n", "[Service]\nProtectSystm=strict\n"),
    )
    .unwrap();
    let (_, output) = systemd_analyze(&["verify"], std::slice::from_ref(service));
    assert!(output.contains("ProtectSystm"), "{output}");

    let text = std::fs::read_to_string(service).unwrap();
    std::fs::write(service, text.replace(BIN, "/nonexistent/needroleshere")).unwrap();
    let (_, output) = systemd_analyze(&["verify"], std::slice::from_ref(service));
    assert!(output.contains("/nonexistent/needroleshere"), "{output}");
}

/// `systemd-analyze security --offline=yes UNIT`: the overall exposure.
fn exposure(unit: &Path) -> f64 {
    let (ok, text) = systemd_analyze(&["security", "--offline=yes", "--no-pager"], &[unit.into()]);
    assert!(ok, "systemd-analyze security:\n{text}");
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level for"))
        .unwrap_or_else(|| panic!("no overall exposure in:\n{text}"));
    let figure = line
        .rsplit(':')
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let value: f64 = figure
        .parse()
        .unwrap_or_else(|_| panic!("exposure {figure:?} in {line:?}"));
    eprintln!("{}: exposure {value} ({line})", unit.display());
    value
}

#[test]
fn service_sandbox_exposure_is_low() {
    let tmp = tempfile::tempdir().unwrap();
    let units = install_units(tmp.path());
    let find = |name: &str| units.iter().find(|u| u.ends_with(name)).unwrap().clone();
    let serve = exposure(&find("needroleshere.service"));
    assert!(
        serve <= MAX_SERVE_EXPOSURE,
        "needroleshere.service exposure {serve} > {MAX_SERVE_EXPOSURE}"
    );
    let bind = exposure(&find("needroleshere-bind@.service"));
    assert!(
        bind <= MAX_BIND_EXPOSURE,
        "needroleshere-bind@.service exposure {bind} > {MAX_BIND_EXPOSURE}"
    );
}

/// `(section, key, value)` of a unit file, continuation lines joined.
fn settings(path: &Path) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    let mut section = String::new();
    let mut pending = String::new();
    for line in text.lines() {
        let line = line.trim();
        if pending.is_empty() && (line.starts_with('#') || line.starts_with(';')) {
            continue;
        }
        if let Some(rest) = line.strip_suffix('\\') {
            pending.push_str(rest);
            pending.push(' ');
            continue;
        }
        let full = format!("{pending}{line}");
        pending.clear();
        if full.is_empty() {
            continue;
        }
        if full.starts_with('[') {
            section = full.trim_matches(['[', ']']).to_owned();
            continue;
        }
        let (key, value) = full.split_once('=').expect("key=value");
        out.push((
            section.clone(),
            key.trim().to_owned(),
            value.trim().to_owned(),
        ));
    }
    out
}

fn values(unit: &str, section: &str, key: &str) -> Vec<String> {
    settings(&unit_dir().join(unit))
        .into_iter()
        .filter(|(s, k, _)| s == section && k == key)
        .map(|(_, _, v)| v)
        .collect()
}

/// The last value of a setting (what systemd uses for single-valued settings).
fn value(unit: &str, section: &str, key: &str) -> String {
    values(unit, section, key)
        .pop()
        .unwrap_or_else(|| panic!("{unit}: no {key}= in [{section}]"))
}

/// The values of `Environment=` lines as a map.
fn environment(unit: &str) -> BTreeMap<String, String> {
    values(unit, "Service", "Environment")
        .iter()
        .map(|assignment| {
            assert!(
                !assignment.contains(['"', '\'']),
                "keep Environment= unquoted: {assignment}"
            );
            let (k, v) = assignment.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

#[test]
fn units_say_what_the_deployment_guide_promises() {
    let socket = "needroleshere.socket";
    assert_eq!(values(socket, "Socket", "ListenStream"), ["127.0.0.1:7224"]);
    assert_eq!(value(socket, "Socket", "FreeBind"), "yes");
    assert_eq!(value(socket, "Socket", "IPAddressAllow"), "localhost");
    assert_eq!(value(socket, "Socket", "IPAddressDeny"), "any");

    let relative = "needroleshere-ecs-relative.socket";
    assert_eq!(
        values(relative, "Socket", "ListenStream"),
        ["169.254.170.2:80"]
    );
    assert_eq!(value(relative, "Socket", "FreeBind"), "yes");
    assert_eq!(
        value(relative, "Socket", "Service"),
        "needroleshere.service"
    );
    assert_eq!(
        value(relative, "Socket", "FileDescriptorName"),
        "ecs-relative"
    );
    assert_eq!(value(relative, "Socket", "IPAddressDeny"), "any");

    let service = "needroleshere.service";
    for (key, expected) in [
        ("Type", "notify"),
        ("ExecStart", "/usr/bin/needroleshere serve $SERVE_ARGS"),
        ("EnvironmentFile", "-/etc/default/needroleshere"),
        ("User", "needroleshere"),
        ("ReadOnlyPaths", "/run/needroleshere"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
        ("CapabilityBoundingSet", ""),
    ] {
        assert_eq!(
            value(service, "Service", key),
            expected,
            "{service}: {key}="
        );
    }
    assert!(
        values(service, "Service", "SystemCallFilter").contains(&"@system-service".to_owned()),
        "{service}: SystemCallFilter=@system-service"
    );
    assert!(
        values(service, "Service", "DynamicUser").is_empty(),
        "DynamicUser= would re-own the runtime directory on every start"
    );
    // RuntimeDirectory= would make the daemon's user own /run/needroleshere, and so able
    // to rename env/ and choose the consumers' environment.
    for key in [
        "RuntimeDirectory",
        "StateDirectory",
        "ConfigurationDirectory",
    ] {
        assert!(
            values(service, "Service", key).is_empty(),
            "{service}: {key}= gives the daemon's user the directory"
        );
    }
    assert_eq!(
        environment(service)["RUNTIME_DIRECTORY"],
        "/run/needroleshere"
    );

    let bind = "needroleshere-bind@.service";
    assert_eq!(value(bind, "Service", "Type"), "oneshot");
    assert_eq!(value(bind, "Service", "RemainAfterExit"), "yes");
    assert_eq!(
        value(bind, "Service", "EnvironmentFile"),
        "/etc/needroleshere/bind/%i.conf"
    );
    assert_eq!(
        value(bind, "Service", "ExecStop"),
        "/usr/bin/needroleshere unbind %i"
    );
    assert!(
        value(bind, "Service", "ExecStart")
            .starts_with("/usr/bin/needroleshere bind %i --no-validate "),
        "{bind}: ExecStart"
    );
    assert!(
        values(bind, "Service", "User").is_empty(),
        "{bind} must run as root"
    );
    let env = environment(bind);
    // Both the service and bind use /run/needroleshere.
    assert_eq!(env["RUNTIME_DIRECTORY"], "/run/needroleshere");
    assert_eq!(
        env["URL"],
        format!("http://{}", values(socket, "Socket", "ListenStream")[0]),
        "bind's default --url is needroleshere.socket's address"
    );
    assert_eq!(env["MODE"], "ecs-full");
}

/// Expands an Exec*= command line the way systemd does for what the units use: `%i`,
/// `${VAR}` as exactly one argument, `$VAR` split on whitespace (none when empty). Returns
/// the argv and the prefix characters (`+`, `-`, ...).
fn expand_exec(
    line: &str,
    instance: &str,
    env: &BTreeMap<String, String>,
) -> (String, Vec<String>) {
    assert!(
        !line.contains(['"', '\'']),
        "the test expands only unquoted command lines: {line}"
    );
    let line = line.trim();
    let prefix_len = line
        .find(|c: char| !matches!(c, '+' | '-' | '@' | ':' | '!'))
        .unwrap();
    let (prefix, line) = line.split_at(prefix_len);
    let mut argv = Vec::new();
    for word in line.split_whitespace() {
        let word = word.replace("%i", instance);
        if word.contains("${") {
            // Each ${NAME} is replaced by its value; the word stays one argument.
            let mut out = String::new();
            let mut rest = word.as_str();
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let end = rest[start..].find('}').expect("a closing brace") + start;
                let name = &rest[start + 2..end];
                out.push_str(
                    env.get(name)
                        .unwrap_or_else(|| panic!("${{{name}}} is not set")),
                );
                rest = &rest[end + 1..];
            }
            out.push_str(rest);
            argv.push(out);
        } else if let Some(name) = word.strip_prefix('$') {
            if let Some(value) = env.get(name) {
                argv.extend(value.split_whitespace().map(str::to_owned));
            }
        } else {
            assert!(!word.contains('$'), "unsupported expansion in {word:?}");
            argv.push(word);
        }
    }
    (prefix.to_owned(), argv)
}

/// Runs an expanded command line with the binary under test in place of the installed one.
async fn run_exec(argv: &[String], runtime_directory: &Path) -> std::process::Output {
    assert_eq!(argv[0], INSTALLED_BINARY);
    daemon::run(
        &argv[1..],
        &[("RUNTIME_DIRECTORY", runtime_directory.to_str().unwrap())],
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn bind_template_command_lines_work_as_systemd_runs_them() {
    let bind = "needroleshere-bind@.service";
    let exec_start = value(bind, "Service", "ExecStart");
    let exec_stop = value(bind, "Service", "ExecStop");
    let defaults = environment(bind);

    let cases: [(&str, &[(&str, &str)]); 2] = [
        ("web-app", &[]),
        (
            "batch_job@2",
            &[
                ("MODE", "ecs-relative"),
                ("BIND_ARGS", "--token-file  --session-duration 900"),
                ("User", "nobody root"),
            ],
        ),
    ];
    for (name, overrides) in cases {
        let runtime = tempfile::tempdir().unwrap();
        // EnvironmentFile= overrides Environment=; RUNTIME_DIRECTORY points at the test's
        // directory instead of /run/needroleshere.
        let mut env = defaults.clone();
        for (key, value) in [
            ("CERTIFICATE", pki_file("p256.fullchain.pem")),
            ("PRIVATE_KEY", pki_file("p256.sec1.key")),
        ] {
            env.insert(key.into(), value.display().to_string());
        }
        env.insert("TRUST_ANCHOR_ARN".into(), fake_aws::TRUST_ANCHOR_ARN.into());
        env.insert("PROFILE_ARN".into(), fake_aws::PROFILE_ARN.into());
        env.insert("ROLE_ARN".into(), fake_aws::ROLE_ARN.into());
        for (key, value) in overrides {
            env.insert((*key).into(), (*value).into());
        }

        let (prefix, argv) = expand_exec(&exec_start, name, &env);
        assert_eq!(prefix, "");
        let output = run_exec(&argv, runtime.path()).await;
        daemon::assert_success(&output, &format!("ExecStart of {name}: {argv:?}"));

        let env_file = daemon::read_env(&daemon::env_file(runtime.path(), name));
        let binding: serde_json::Value = serde_json::from_slice(
            &std::fs::read(daemon::binding_file(runtime.path(), name)).unwrap(),
        )
        .unwrap();
        if overrides.is_empty() {
            assert_eq!(
                env_file["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
                "http://127.0.0.1:7224/ecs/credentials"
            );
            assert!(env_file.contains_key("AWS_CONTAINER_AUTHORIZATION_TOKEN"));
            assert_eq!(binding["request"]["durationSeconds"], 3600);
            // No User= in the configuration: not pinned.
            assert!(binding.get("allowed_uids").is_none(), "{binding}");
        } else {
            assert_eq!(
                env_file["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"],
                "/ecs/credentials"
            );
            // The env file holds no secret: the consumer names the token file itself.
            assert!(!env_file.contains_key("AWS_CONTAINER_AUTHORIZATION_TOKEN"));
            assert!(!env_file.contains_key("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"));
            assert!(daemon::token_file(runtime.path(), name).is_file());
            assert_eq!(binding["request"]["durationSeconds"], 900);
            // User= pins the binding to those users.
            assert_eq!(binding["allowed_uids"], serde_json::json!([0, 65534]));
        }

        let (prefix, argv) = expand_exec(&exec_stop, name, &env);
        assert_eq!(prefix, "");
        let output = run_exec(&argv, runtime.path()).await;
        daemon::assert_success(&output, &format!("ExecStop of {name}"));
        assert_eq!(
            daemon::files_under(runtime.path()),
            Vec::<String>::new(),
            "ExecStop left files"
        );
    }
}

#[test]
fn sysusers_and_tmpfiles_make_the_layout_of_the_permission_model() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("etc")).unwrap();
    let status = Command::new("systemd-sysusers")
        .arg(format!("--root={}", root.path().display()))
        .arg(unit_dir().join("needroleshere.sysusers"))
        .output()
        .expect("run systemd-sysusers");
    assert!(status.status.success(), "{status:?}");
    let passwd = std::fs::read_to_string(root.path().join("etc/passwd")).unwrap();
    let user = value("needroleshere.service", "Service", "User");
    let entry = passwd
        .lines()
        .find(|l| l.starts_with(&format!("{user}:")))
        .unwrap_or_else(|| panic!("no user {user} in {passwd}"));
    let uid: u32 = entry.split(':').nth(2).unwrap().parse().unwrap();
    let gid: u32 = entry.split(':').nth(3).unwrap().parse().unwrap();
    assert!(uid > 0 && uid < 1000, "a system user: {entry}");

    // bind@ runs `systemd-tmpfiles --create needroleshere.conf` before binding: the file is
    // found under that name where the README installs it.
    let tmpfiles_d = root.path().join("usr/lib/tmpfiles.d");
    std::fs::create_dir_all(&tmpfiles_d).unwrap();
    std::fs::copy(
        unit_dir().join("needroleshere.tmpfiles"),
        tmpfiles_d.join("needroleshere.conf"),
    )
    .unwrap();
    let pre = value("needroleshere-bind@.service", "Service", "ExecStartPre");
    let (prefix, argv) = expand_exec(&pre, "x", &BTreeMap::new());
    assert_eq!(
        prefix, "+",
        "runs outside the sandbox, which cannot create it"
    );
    assert_eq!(argv[0], "/usr/bin/systemd-tmpfiles");
    let output = Command::new("systemd-tmpfiles")
        .args(&argv[1..])
        .arg(format!("--root={}", root.path().display()))
        .output()
        .expect("run systemd-tmpfiles");
    assert!(output.status.success(), "{output:?}");

    let run = root.path().join("run/needroleshere");
    let meta = std::fs::metadata(&run).unwrap();
    // Root's: the daemon's user must not be able to rename what bind writes into.
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (0, 0, 0o755),
        "/run/needroleshere"
    );
    // An older layout (owned by the daemon's user) is fixed by the same command.
    std::os::unix::fs::chown(&run, Some(uid), Some(gid)).unwrap();
    let output = Command::new("systemd-tmpfiles")
        .args(&argv[1..])
        .arg(format!("--root={}", root.path().display()))
        .output()
        .expect("run systemd-tmpfiles");
    assert!(output.status.success(), "{output:?}");
    let meta = std::fs::metadata(&run).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (0, 0), "re-owned on upgrade");
    for sub in ["bindings", "env", "token"] {
        let meta = std::fs::metadata(run.join(sub)).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            (0, 0, 0o755),
            "/run/needroleshere/{sub}: root's, readable by the daemon"
        );
    }
}
