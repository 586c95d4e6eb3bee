//! `serve --hop-limit N` sets the IP TTL of IMDS answers, measured on real packets.
//!
//! Three network namespaces of the test's own, joined by veth pairs:
//!
//! ```text
//!   server 198.18.1.1 ── 198.18.1.2 router 198.18.2.1 ── 198.18.2.2 client
//!   (serve, fake AWS)       (IPv4 forwarding on)           (probe, boto3)
//! ```
//!
//! (198.18.0.0/15 is the benchmarking range; it exists only inside these namespaces.) A probe
//! reads every TCP packet of the answer off a raw socket and reports its IP TTL:
//!
//! * next to serve (same namespace, loopback: no router decrements it) the TTL of every data
//!   packet is exactly `--hop-limit`, 64 by default;
//! * one router away it is `--hop-limit - 1`: with `--hop-limit 2` the answer arrives with
//!   TTL 1, and with `--hop-limit 1` the router drops it, so the token request times out
//!   and boto3 gets no credentials there, while the same request works next to serve.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::time::Duration;

use common::daemon::{FakeAwsProcess, Serve, ServeOptions, identity_args, is_root, python};
use common::imds::{Client, connect_in, ip, ns_command, run_in, try_resolve};

const SERVER: &str = "198.18.1.1";

/// The three namespaces; deleted on drop (the veth pairs go with them).
struct Topology {
    server: String,
    router: String,
    client: String,
}

impl Topology {
    fn create() -> Topology {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let base = format!("nrh-hop-{}-{n}", std::process::id());
        let topology = Topology {
            server: format!("{base}-s"),
            router: format!("{base}-r"),
            client: format!("{base}-c"),
        };
        // Created one by one so that Drop deletes whatever exists should a step fail.
        for ns in [&topology.server, &topology.router, &topology.client] {
            ip(&["netns", "add", ns]);
        }
        let (s, r, c) = (
            topology.server.as_str(),
            topology.router.as_str(),
            topology.client.as_str(),
        );
        for ns in [s, r, c] {
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        ip(&[
            "-n", s, "link", "add", "eth0", "type", "veth", "peer", "name", "to-s", "netns", r,
        ]);
        ip(&[
            "-n", c, "link", "add", "eth0", "type", "veth", "peer", "name", "to-c", "netns", r,
        ]);
        for (ns, dev, addr) in [
            (s, "eth0", "198.18.1.1/24"),
            (r, "to-s", "198.18.1.2/24"),
            (r, "to-c", "198.18.2.1/24"),
            (c, "eth0", "198.18.2.2/24"),
        ] {
            ip(&["-n", ns, "addr", "add", addr, "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        ip(&["-n", s, "route", "add", "default", "via", "198.18.1.2"]);
        ip(&["-n", c, "route", "add", "default", "via", "198.18.2.1"]);
        let output = std::process::Command::new("ip")
            .args(["netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
            .output()
            .expect("run sysctl");
        assert!(
            output.status.success(),
            "enable forwarding in the router namespace: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        topology
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in [&self.server, &self.router, &self.client] {
            let _ = std::process::Command::new("ip")
                .args(["netns", "delete", ns])
                .status();
        }
    }
}

/// Run inside a namespace: captures (raw socket) every TCP packet from HOST:PORT while it
/// asks for a token, then prints JSON: the HTTP status and echoed TTL header (or the error)
/// and, for each packet, its IP TTL, TCP flags and payload length.
const PROBE: &str = r#"
import http.client, json, socket, struct, sys, threading, time
host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
raw.settimeout(0.1)
packets, stop = [], threading.Event()
def capture():
    while not stop.is_set():
        try:
            data = raw.recv(65535)
        except socket.timeout:
            continue
        ihl = (data[0] & 0x0F) * 4
        total = struct.unpack("!H", data[2:4])[0]
        ttl = data[8]
        src = socket.inet_ntoa(data[12:16])
        sport = struct.unpack("!H", data[ihl:ihl + 2])[0]
        offset = (data[ihl + 12] >> 4) * 4
        flags = data[ihl + 13]
        if src == host and sport == port:
            packets.append({"ttl": ttl, "syn": bool(flags & 0x02), "payload": total - ihl - offset})
thread = threading.Thread(target=capture)
thread.start()
result = {}
try:
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    connection.request("PUT", "/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": "21600"})
    response = connection.getresponse()
    result["status"] = response.status
    result["ttl_header"] = response.getheader("X-aws-ec2-metadata-token-ttl-seconds")
    response.read()
    connection.close()
except Exception as error:
    result["error"] = type(error).__name__ + ": " + str(error)
time.sleep(0.3)
stop.set()
thread.join()
result["packets"] = packets
print(json.dumps(result))
"#;

#[derive(Debug, serde::Deserialize)]
struct Probe {
    status: Option<u16>,
    ttl_header: Option<String>,
    error: Option<String>,
    packets: Vec<Packet>,
}

#[derive(Debug, serde::Deserialize)]
struct Packet {
    ttl: u8,
    #[allow(dead_code, reason = "shown in the probe's Debug output")]
    syn: bool,
    payload: i64,
}

impl Probe {
    /// TTLs of the packets that carried the answer (not the handshake).
    fn data_ttls(&self) -> Vec<u8> {
        self.packets
            .iter()
            .filter(|p| p.payload > 0)
            .map(|p| p.ttl)
            .collect()
    }
}

async fn probe(netns: &str, port: u16, timeout_s: f64) -> Probe {
    let args = vec![
        "-c".to_owned(),
        PROBE.to_owned(),
        SERVER.to_owned(),
        port.to_string(),
        timeout_s.to_string(),
    ];
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        ns_command(netns, python(), &args, &[]).output(),
    )
    .await
    .expect("the probe took longer than 30 s")
    .expect("run the probe");
    assert!(
        output.status.success(),
        "probe in {netns}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "probe output ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// The fake AWS and binding `web` (imds mode) in the server namespace; then one serve per
/// `(port, hop limit)` on 198.18.1.1, `None` meaning no `--hop-limit` flag.
/// Fields drop in order: the processes first, the namespaces last.
struct Setup {
    serves: Vec<Serve>,
    _fake: FakeAwsProcess,
    _dir: tempfile::TempDir,
    topology: Topology,
}

async fn setup(listeners: &[(u16, Option<u8>)]) -> Setup {
    let topology = Topology::create();
    let fake = FakeAwsProcess::start(&topology.server).await;
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "bind".to_owned(),
        "web".to_owned(),
        "--configuration-directory".to_owned(),
        dir.path().display().to_string(),
        "--mode".to_owned(),
        "imds".to_owned(),
        "--url".to_owned(),
        format!("http://{SERVER}"),
        "--endpoint".to_owned(),
        fake.url.clone(),
    ];
    args.extend(identity_args("rsa2048"));
    let output = run_in(&topology.server, &args).await;
    common::daemon::assert_success(&output, "bind in the server namespace");

    let mut serves = Vec::new();
    for (port, hop_limit) in listeners {
        let mut args = vec!["--listen-imds".to_owned(), format!("{SERVER}:{port}=web")];
        if let Some(hops) = hop_limit {
            args.extend(["--hop-limit".to_owned(), hops.to_string()]);
        }
        let mut serve = Serve::spawn(ServeOptions {
            dir: dir.path().to_owned(),
            args,
            netns: Some(topology.server.clone()),
            ..ServeOptions::default()
        });
        serve.wait_for_notification("READY=1").await;
        // Listening: a connection from the server namespace itself gets through.
        connect_in(&topology.server, SERVER, *port, Duration::ZERO).await;
        serves.push(serve);
    }
    Setup {
        serves,
        _fake: fake,
        _dir: dir,
        topology,
    }
}

fn skip_unless_root(what: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("SKIPPED {what}: network namespaces need root");
    true
}

#[tokio::test(flavor = "multi_thread")]
async fn imds_answers_leave_with_the_hop_limit_as_ip_ttl() {
    if skip_unless_root("imds_answers_leave_with_the_hop_limit_as_ip_ttl") {
        return;
    }
    let setup = setup(&[(80, None), (81, Some(3)), (82, Some(1)), (83, Some(255))]).await;
    let server = setup.topology.server.clone();
    for (port, expected) in [(80, 64), (81, 3), (82, 1), (83, 255)] {
        let probe = probe(&server, port, 5.0).await;
        eprintln!("next to serve, port {port}: {probe:?}");
        assert_eq!(probe.status, Some(200), "port {port}: {probe:?}");
        assert_eq!(probe.ttl_header.as_deref(), Some("21600"));
        let ttls = probe.data_ttls();
        assert!(
            !ttls.is_empty(),
            "port {port}: no answer packet seen: {probe:?}"
        );
        assert!(
            ttls.iter().all(|&ttl| ttl == expected),
            "port {port}: answer TTLs {ttls:?}, expected all {expected}"
        );
    }
    for serve in &setup.serves {
        assert!(
            !serve.log().contains("cannot set the hop limit"),
            "{}",
            serve.log()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hop_limit_of_1_keeps_answers_from_crossing_a_router_and_2_lets_them() {
    if skip_unless_root("a_hop_limit_of_1_keeps_answers_from_crossing_a_router_and_2_lets_them") {
        return;
    }
    let setup = setup(&[(80, Some(1)), (81, Some(2))]).await;
    let (server, client) = (setup.topology.server.clone(), setup.topology.client.clone());

    // Hop limit 2, one router away: the answer arrives with TTL 1.
    let two = probe(&client, 81, 5.0).await;
    eprintln!("one router away, --hop-limit 2: {two:?}");
    assert_eq!(two.status, Some(200), "{two:?}");
    let ttls = two.data_ttls();
    assert!(!ttls.is_empty() && ttls.iter().all(|&t| t == 1), "{two:?}");

    // Hop limit 1, one router away: the router drops the answer; the request times out.
    let one = probe(&client, 80, 3.0).await;
    eprintln!("one router away, --hop-limit 1: {one:?}");
    assert_eq!(one.status, None, "the answer must not arrive: {one:?}");
    assert!(
        one.error
            .as_deref()
            .is_some_and(|e| e.contains("timed out")),
        "{one:?}"
    );
    assert!(
        one.data_ttls().is_empty(),
        "no answer packet may cross the router: {one:?}"
    );

    // Hop limit 1 still serves next to serve.
    let local = probe(&server, 80, 5.0).await;
    assert_eq!(local.status, Some(200), "{local:?}");
    assert!(local.data_ttls().iter().all(|&t| t == 1), "{local:?}");

    // And a real SDK sees the same: boto3 in the client namespace gets credentials through
    // the hop limit 2 listener and none through the hop limit 1 listener.
    let env = |port: u16| {
        [
            (
                "AWS_EC2_METADATA_SERVICE_ENDPOINT".to_owned(),
                format!("http://{SERVER}:{port}"),
            ),
            ("AWS_EC2_METADATA_V1_DISABLED".to_owned(), "true".to_owned()),
        ]
        .into_iter()
        .collect()
    };
    let got = try_resolve(Client::Boto3, &env(81), Some(&client)).await;
    assert!(got.is_ok(), "boto3 through --hop-limit 2: {got:?}");
    let refused = try_resolve(Client::Boto3, &env(80), Some(&client)).await;
    assert!(
        refused.is_err(),
        "boto3 one router away from --hop-limit 1 must get nothing: {refused:?}"
    );
}
