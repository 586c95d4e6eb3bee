//! contrib/kubernetes outside a cluster: the DaemonSet's init script and the server's command
//! line, as the manifest spells them, run with the real binary in a network namespace (the
//! node), then its probes, its metrics port and a workload's request made the way
//! workload-example.yaml configures the SDK.
//!
//! What this exercises: the init script's address and copy steps (run by this machine's
//! `sh`, `ip`, `install` and `cp`, not busybox's), serve's arguments with `$(HOST_IP)`
//! expanded as the kubelet would, 169.254.170.23:80 inside the namespace, the probes'
//! host/port/path, a binding file read through a symlink into `..data/` as a ConfigMap
//! volume presents it, a token file as a Secret volume presents it, and a renewed
//! certificate picked up without a restart. What it does not: a kubelet, a container runtime
//! (capabilities, read-only root, seccomp, resource limits), cert-manager, the kubelet's
//! volume updates, and reaching the address from another network namespace (a pod). The
//! manifests' schemas are checked by scripts/test.sh (kubernetes-validate, yamllint).
//!
//! Paths of the manifest are moved under a temporary root (`/run/needroleshere` →
//! `ROOT/run-needroleshere`, ...), since this test must not write to the host's /run and
//! /etc; nothing else is changed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::daemon::{
    FakeAwsProcess, NetNs, Serve, ServeOptions, assert_success, bind_ok, identity_args_from, run,
};
use common::imds::repo_path;
use common::pki_file;
use serde_json::Value;

/// The YAML documents of `contrib/kubernetes/NAME`, as JSON (PyYAML, which scripts/test.sh
/// installs into build/venv with kubernetes-validate; the system python3 may have it too).
fn manifest(name: &str) -> Vec<Value> {
    let path = repo_path(&format!("contrib/kubernetes/{name}"));
    let venv = repo_path("build/venv/bin/python3");
    let python = if venv.exists() {
        venv.display().to_string()
    } else {
        "python3".to_owned()
    };
    let output = Command::new(python)
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
        ])
        .arg(&path)
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "read {} with PyYAML: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let documents: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    documents.into_iter().filter(|d| !d.is_null()).collect()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

/// `ip netns exec NS curl` of `url` with `headers`: (status, body).
fn curl_in(ns: &str, url: &str, headers: &[String]) -> (u16, String) {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", ns, "curl", "-sS", "--max-time", "10"]);
    for header in headers {
        command.args(["-H", header]);
    }
    let output = command
        .args(["-w", "\n%{http_code}", url])
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

/// Waits until `url` answers inside `ns` (serve binds as it starts).
async fn wait_until_answering(ns: &str, url: &str, serve: &Serve) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while curl_in(ns, url, &[]).0 == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url} never answered\n{}",
            serve.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemonset_command_line_and_probes_work_with_the_real_binary() {
    let documents = manifest("daemonset.yaml");
    let daemonset = documents
        .iter()
        .find(|d| d["kind"] == "DaemonSet")
        .expect("a DaemonSet");
    let pod = &daemonset["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    let init = &pod["initContainers"][0];
    let server = &pod["containers"][0];

    // The node's file system, under a temporary root.
    let root = tempfile::tempdir().unwrap();
    let r = root.path().display().to_string();
    let relocate = |text: &str| {
        text.replace("/run/needroleshere-status", &format!("{r}/status"))
            .replace("/run/needroleshere", &format!("{r}/run-needroleshere"))
            .replace(
                "/etc/needroleshere-bindings",
                &format!("{r}/etc-needroleshere-bindings"),
            )
            .replace("/etc/needroleshere/certs", &format!("{r}/certs"))
    };
    for dir in ["status", "run-needroleshere", "certs/web"] {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
    }

    // The node, and the fake IAM Roles Anywhere it calls.
    let ns = NetNs::create();
    let fake = FakeAwsProcess::start(&ns.name).await;

    // cert-manager's Secret, as a directory of files; a binding naming them as the
    // manifests do; the binding file in a ConfigMap volume's layout (NAME.json -> ..data/).
    let certs = root.path().join("certs/web");
    std::fs::copy(pki_file("p256.fullchain.pem"), certs.join("tls.crt")).unwrap();
    std::fs::copy(pki_file("p256.pkcs8.key"), certs.join("tls.key")).unwrap();
    let out = root.path().join("bind-out");
    let workload = manifest("workload-example.yaml");
    let deployment = workload.iter().find(|d| d["kind"] == "Deployment").unwrap();
    let env = &deployment["spec"]["template"]["spec"]["containers"][0]["env"];
    let env_value = |name: &str| {
        env.as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str())
            .unwrap_or_else(|| panic!("{name} in the workload"))
            .to_owned()
    };
    let full_uri = env_value("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    let mut args = identity_args_from(
        &certs.join("tls.crt"),
        &certs.join("tls.key"),
        fake_aws::rolesanywhere::ROLE_ARN,
    );
    args.extend(
        [
            "--mode",
            "ecs-full",
            "--url",
            &full_uri,
            "--token-file",
            "--no-validate",
            "--endpoint",
            &fake.url,
        ]
        .map(String::from),
    );
    bind_ok(&out, "web", &args).await;
    let source = root.path().join("etc-needroleshere-bindings");
    std::fs::create_dir_all(source.join("..data")).unwrap();
    std::fs::copy(
        out.join("bindings/web.json"),
        source.join("..data/web.json"),
    )
    .unwrap();
    std::os::unix::fs::symlink("..data/web.json", source.join("web.json")).unwrap();

    // The init container's script, on the node.
    assert_eq!(strings(&init["command"])[..2], ["/bin/sh", "-c"]);
    let script = relocate(&strings(&init["command"])[2]);
    let output = Command::new("ip")
        .args(["netns", "exec", &ns.name, "/bin/sh", "-c", &script])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "init script:\n{script}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bindings = root.path().join("run-needroleshere/bindings");
    let mode = |path: &Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(path).unwrap().permissions())
            & 0o7777
    };
    assert_eq!(mode(&root.path().join("run-needroleshere")), 0o755);
    assert_eq!(mode(&bindings), 0o755);
    assert_eq!(mode(&bindings.join("web.json")), 0o644);
    // Run twice (a restarted pod on the same node): still fine.
    let again = Command::new("ip")
        .args(["netns", "exec", &ns.name, "/bin/sh", "-c", &script])
        .output()
        .unwrap();
    assert!(again.status.success(), "{again:?}");

    // The server's command line, with $(HOST_IP) expanded (the node's address: loopback
    // inside the namespace).
    let command = strings(&server["command"]);
    assert_eq!(command, ["/usr/bin/needroleshere"]);
    let server_args: Vec<String> = strings(&server["args"])
        .iter()
        .map(|a| relocate(&a.replace("$(HOST_IP)", "127.0.0.1")))
        .collect();
    assert_eq!(server_args[0], "serve");
    let mut serve = Serve::spawn(ServeOptions {
        dir: root.path().join("run-needroleshere"),
        args: server_args[1..].to_vec(),
        netns: Some(ns.name.clone()),
        ..ServeOptions::default()
    });
    let listen = server_args
        .iter()
        .skip_while(|a| *a != "--listen")
        .nth(1)
        .unwrap()
        .clone();
    assert_eq!(listen, "169.254.170.23:80");
    wait_until_answering(&ns.name, &format!("http://{listen}/healthz"), &serve).await;
    serve.wait_for_notification("READY=1").await;

    // The probes, as the kubelet makes them.
    for probe in ["readinessProbe", "livenessProbe"] {
        let get = &server[probe]["httpGet"];
        let url = format!(
            "http://{}:{}{}",
            get["host"].as_str().unwrap(),
            get["port"],
            get["path"].as_str().unwrap()
        );
        let (status, body) = curl_in(&ns.name, &url, &[]);
        assert_eq!((status, body.as_str()), (200, "ok"), "{probe} {url}");
    }
    // The metrics port.
    let port = &server["ports"][0];
    assert_eq!(port["name"], "metrics");
    let (status, body) = curl_in(
        &ns.name,
        &format!("http://127.0.0.1:{}/metrics", port["containerPort"]),
        &[],
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("needroleshere_bindings_loaded 1\n"),
        "{body}\n{}",
        serve.log()
    );

    // A workload's request, as the SDK makes it from the Secret's file.
    let token = std::fs::read_to_string(out.join("token/web")).unwrap();
    assert!(token.starts_with("Bearer ") && !token.ends_with('\n'));
    let authorization = format!("Authorization: {token}");
    let (status, body) = curl_in(&ns.name, &full_uri, std::slice::from_ref(&authorization));
    assert_eq!(status, 200, "{body}\n{}", serve.log());
    let first: Value = serde_json::from_str(&body).unwrap();
    let (status, _) = curl_in(&ns.name, &full_uri, &[]);
    assert_eq!(status, 400, "no token, no credentials");

    // cert-manager renews: the files change in place (here: the chain now ends with the
    // root, as a CA issuer writes it); no restart.
    let mut renewed = std::fs::read(pki_file("p256.fullchain.pem")).unwrap();
    renewed.extend(std::fs::read(pki_file("root-ca.pem")).unwrap());
    std::fs::write(certs.join("tls.crt"), renewed).unwrap();
    let (status, body) = curl_in(&ns.name, &full_uri, std::slice::from_ref(&authorization));
    assert_eq!(status, 200, "{body}");
    let renewed: Value = serde_json::from_str(&body).unwrap();
    assert_ne!(renewed["AccessKeyId"], first["AccessKeyId"]);

    // `kubectl exec ... needroleshere status`: the status socket in its emptyDir.
    let status_socket = server_args
        .iter()
        .skip_while(|a| *a != "--listen-status")
        .nth(1)
        .unwrap()
        .strip_prefix("unix:")
        .unwrap()
        .to_owned();
    let output = run(
        &["status".into(), "--status-socket".into(), status_socket],
        &[],
    )
    .await;
    assert_success(&output, "status");
    assert!(String::from_utf8_lossy(&output.stdout).contains("web  ecs-full"));
    assert!(serve.is_running());
    drop(fake);
}
