//! Hostile input against a running `serve` (the real binary, `--listen` and `--listen-imds`
//! on loopback): malformed HTTP, oversize heads and bodies, slow-drip and idle connection
//! floods, tokens of every wrong shape, path traversal through token names, corrupt and
//! unreadable binding files, and certificate and key files replaced or deleted under load.
//!
//! Every case checks that the answer is a clear status (and, on the ECS front, a JSON
//! `{"Code","Message"}`), that the daemon is still running, and that a well-behaved client
//! is still served credentials for another binding over ECS and over IMDS.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::daemon::{Response, assert_error, get, get_with_bearer, get_with_query};
use common::hostile::{
    Daemon, End, OTHER, QUERY, Raw, WEB, get_request, raise_fd_limit, raw, read_until_end,
};
use common::imds::{TOKEN_HEADER, TTL_HEADER, credentials_path, request, request_with_host, token};
use common::pki_file;
use tokio::io::AsyncWriteExt as _;

/// How long a malformed request may take to be refused.
const QUICK: Duration = Duration::from_secs(3);

/// The response to `bytes` sent on a fresh connection; the daemon must close it.
async fn refused(addr: SocketAddr, bytes: &[u8], what: &str) -> Raw {
    let raw = raw(addr, bytes, QUICK).await;
    assert_eq!(
        raw.end,
        End::Closed,
        "{what}: the daemon should answer and close: {raw:?}"
    );
    raw
}

fn with_body(head: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = head.as_bytes().to_vec();
    bytes.extend_from_slice(body);
    bytes
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_get_400_and_the_connection_closes() {
    let mut daemon = Daemon::start(&[]).await;
    let cases: &[(&str, &[u8])] = &[
        ("a garbage request line", b"HELLO\r\n\r\n"),
        (
            "binary bytes",
            &[0, 1, 2, 0xff, 0xfe, b'\r', b'\n', b'\r', b'\n'],
        ),
        (
            "a method with a separator in it",
            b"G(T /ecs/credentials HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
        ("an HTTP/0.9 request", b"GET /ecs/credentials\r\n\r\n"),
        ("an HTTP/0.9 request line alone", b"GET /healthz\r\n"),
        (
            "an unknown HTTP version",
            b"GET /healthz HTTP/7.3\r\nHost: x\r\n\r\n",
        ),
        (
            "a space in a header name",
            b"GET /healthz HTTP/1.1\r\nHo st: x\r\n\r\n",
        ),
        (
            "a NUL byte in a header value",
            b"GET /healthz HTTP/1.1\r\nHost: x\x00y\r\n\r\n",
        ),
        (
            "a header line without a colon",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nnonsense\r\n\r\n",
        ),
        (
            "a negative Content-Length",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        ),
        (
            "two different Content-Lengths",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        ),
    ];
    for (what, bytes) in cases {
        for (front, addr) in [("ECS", daemon.ecs), ("IMDS", daemon.imds)] {
            let raw = refused(addr, bytes, &format!("{front}: {what}")).await;
            assert_eq!(raw.status(), Some(400), "{front}: {what}: {}", raw.text());
        }
    }
    // An HTTP/2 connection preface (this server speaks HTTP/1.1 only): closed at once.
    for addr in [daemon.ecs, daemon.imds] {
        let raw = refused(addr, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "HTTP/2 preface").await;
        assert!(raw.elapsed < QUICK, "{raw:?}");
    }
    // An absolute-form URI naming another host is routed by its path alone: the ECS front
    // still wants a token, the IMDS front still checks the Host header.
    let absolute = b"GET http://evil.example/ecs/credentials HTTP/1.1\r\nHost: evil.example\r\n\
                     Connection: close\r\n\r\n";
    let raw = refused(daemon.ecs, absolute, "absolute-form URI").await;
    assert_eq!(raw.status(), Some(400), "{}", raw.text());
    assert!(raw.text().contains("MissingToken"), "{}", raw.text());
    let raw = refused(daemon.imds, absolute, "absolute-form URI").await;
    assert_eq!(raw.status(), Some(403), "{}", raw.text());
    assert!(
        !daemon.log().contains("panicked"),
        "the daemon panicked:\n{}",
        daemon.log()
    );
    daemon.assert_alive("after malformed requests").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_and_unexpected_methods_are_405_or_404() {
    let mut daemon = Daemon::start(&[]).await;
    let token = daemon.token(WEB);
    for method in ["POST", "PUT", "DELETE", "PATCH", "TRACE", "FOO", "OPTIONS"] {
        let bytes = format!(
            "{method} /ecs/credentials HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n",
            daemon.ecs
        );
        let raw = refused(daemon.ecs, bytes.as_bytes(), method).await;
        assert_eq!(raw.status(), Some(405), "ECS {method}: {}", raw.text());
        assert!(!raw.text().contains("AccessKeyId"), "{}", raw.text());
        let response = request(daemon.imds, method, &credentials_path(), &[]).await;
        assert_eq!(response.status, 405, "IMDS {method}: {response:?}");
    }
    // GET on the IMDS token path, and a CONNECT tunnel request.
    let response = request(
        daemon.imds,
        "GET",
        "/latest/api/token",
        &[(TTL_HEADER, "60")],
    )
    .await;
    assert_eq!(response.status, 405, "{response:?}");
    let raw = refused(
        daemon.ecs,
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nConnection: close\r\n\r\n",
        "CONNECT",
    )
    .await;
    assert_eq!(raw.status(), Some(404), "{}", raw.text());
    daemon.assert_alive("after odd methods").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversize_heads_are_431_and_bodies_are_not_read() {
    let mut daemon = Daemon::start(&[]).await;
    let big_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    let many_small = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..40)
            .map(|i| format!("X-Filler-{i}: {}\r\n", "b".repeat(500)))
            .collect::<String>()
    );
    let too_many = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..200)
            .map(|i| format!("X-{i}: a\r\n"))
            .collect::<String>()
    );
    let long_uri = format!(
        "GET /ecs/credentials?access_token={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    let megabyte_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1024 * 1024)
    );
    for (what, bytes) in [
        ("one 20 KiB header", big_header),
        ("40 headers of 500 bytes (20 KiB)", many_small),
        ("200 headers", too_many),
        ("a 20 KiB request line", long_uri),
        ("a 1 MiB header", megabyte_header),
    ] {
        for (front, addr) in [("ECS", daemon.ecs), ("IMDS", daemon.imds)] {
            let raw = refused(addr, bytes.as_bytes(), &format!("{front}: {what}")).await;
            assert_eq!(
                raw.status(),
                Some(431),
                "{front}: {what}: {:.200}",
                raw.text()
            );
        }
    }

    // Bodies: a GET announcing 100 MiB (1 MiB sent), a chunked body that never ends, and an
    // IMDS token PUT with 1 MiB of body. The daemon answers without reading them, and closes.
    let megabyte = vec![b'z'; 1024 * 1024];
    let token = daemon.token(WEB);
    let announced = with_body(
        &format!(
            "GET /ecs/credentials HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             Content-Length: 104857600\r\n\r\n"
        ),
        &megabyte,
    );
    let raw = refused(daemon.ecs, &announced, "100 MiB announced").await;
    assert_eq!(raw.status(), Some(200), "{:.300}", raw.text());
    let mut chunked =
        b"GET /ecs/credentials HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..64 {
        chunked.extend_from_slice(b"4000\r\n");
        chunked.extend_from_slice(&[b'c'; 0x4000]);
        chunked.extend_from_slice(b"\r\n");
    }
    let raw = refused(daemon.ecs, &chunked, "an endless chunked body").await;
    assert_eq!(raw.status(), Some(400), "{:.300}", raw.text());
    assert!(raw.text().contains("MissingToken"), "{:.300}", raw.text());
    let put = with_body(
        &format!(
            "PUT /latest/api/token HTTP/1.1\r\nHost: {}\r\n{TTL_HEADER}: 60\r\n\
             Content-Length: {}\r\n\r\n",
            daemon.imds,
            megabyte.len()
        ),
        &megabyte,
    );
    let raw = refused(daemon.imds, &put, "a token PUT with 1 MiB of body").await;
    assert_eq!(raw.status(), Some(200), "{:.300}", raw.text());
    daemon.assert_alive("after oversize requests").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pipelined_requests_are_answered_in_order_until_the_garbage() {
    let mut daemon = Daemon::start(&[]).await;
    let token = daemon.token(WEB);
    let bytes = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n\
         GET /ecs/credentials HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n\
         GET /ecs/credentials HTTP/1.1\r\nHost: x\r\n\r\n\
         \x16\x03\x01 this is not HTTP\r\n\r\n\
         GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    );
    let raw = refused(daemon.ecs, bytes.as_bytes(), "pipelined").await;
    assert_eq!(raw.statuses(), vec![200, 200, 400, 400], "{}", raw.text());
    daemon.assert_alive("after pipelining").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn header_bytes_outside_ascii_are_refused_clearly() {
    let mut daemon = Daemon::start(&[]).await;
    let ecs = with_body(
        "GET /ecs/credentials HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer ",
        b"needroleshere.web.\xff\xfe\xfd\r\n\r\n",
    );
    let raw = refused(daemon.ecs, &ecs, "8-bit Authorization").await;
    assert_eq!(raw.status(), Some(401), "{}", raw.text());
    let imds = with_body(
        &format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{TOKEN_HEADER}: ",
            credentials_path(),
            daemon.imds
        ),
        b"\xc3\xa9t\xc3\xa9\r\n\r\n",
    );
    let raw = refused(daemon.imds, &imds, "8-bit IMDS token").await;
    assert_eq!(raw.status(), Some(401), "{}", raw.text());
    let host = with_body(
        "GET /latest/meta-data/instance-id HTTP/1.1\r\nConnection: close\r\nHost: ",
        b"127.0.0.1\xff\r\n\r\n",
    );
    let raw = refused(daemon.imds, &host, "8-bit Host").await;
    assert_eq!(raw.status(), Some(403), "{}", raw.text());
    daemon.assert_alive("after 8-bit headers").await;
}

/// Writes `head` one byte per second on a fresh connection until the daemon closes it;
/// returns when that happened (since connecting) and what it sent back.
async fn drip(addr: SocketAddr, head: &'static [u8], limit: Duration) -> Raw {
    let started = tokio::time::Instant::now();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    for byte in head.iter().cycle() {
        if stream.write_all(&[*byte]).await.is_err() || started.elapsed() > limit {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    read_until_end(&mut stream, started, limit + Duration::from_secs(1)).await
}

/// Asks `GET /healthz` every `every` on one keep-alive connection, `times` times; returns
/// how many were answered before the daemon closed the connection.
async fn steady(addr: SocketAddr, every: Duration, times: usize) -> usize {
    use tokio::io::AsyncReadExt as _;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    for answered in 0..times {
        let asked = stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        let mut answer = Vec::new();
        let mut chunk = [0u8; 1024];
        // The answer ends with its body, `ok`.
        while asked.is_ok() && !answer.ends_with(b"\r\n\r\nok") {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return answered,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
        if asked.is_err() || !answer.starts_with(b"HTTP/1.1 200") {
            return answered;
        }
        tokio::time::sleep(every).await;
    }
    times
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_drip_connections_are_closed_by_the_header_timeout() {
    let mut daemon = Daemon::start(&[]).await;
    const HEAD: &[u8] =
        b"GET /ecs/credentials HTTP/1.1\r\nHost: x\r\nX-Slow: abcdefghijklmnopqrstuvwxyz";
    let limit = Duration::from_secs(18);
    let mut drips = tokio::task::JoinSet::new();
    for i in 0..20 {
        let addr = if i % 2 == 0 { daemon.ecs } else { daemon.imds };
        drips.spawn(drip(addr, HEAD, limit));
    }
    // A keep-alive client asking every 2 s is served past the timeout: only a connection
    // waiting for a head counts as idle.
    let steady = tokio::spawn(steady(daemon.ecs, Duration::from_secs(2), 8));
    // Meanwhile a well-behaved client is served at once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let started = tokio::time::Instant::now();
    let response = daemon.get(OTHER).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a normal request took {:?} during the drip",
        started.elapsed()
    );
    while let Some(raw) = drips.join_next().await {
        let raw = raw.unwrap();
        assert_ne!(
            raw.end,
            End::Open,
            "a slow-drip connection was still open after {limit:?}"
        );
        // The header read timeout is 10 s; allow for scheduling on a loaded machine.
        assert!(
            raw.elapsed >= Duration::from_secs(9) && raw.elapsed <= Duration::from_secs(16),
            "closed after {:?}, expected about 10 s",
            raw.elapsed
        );
        assert!(
            raw.bytes.is_empty() || raw.status() == Some(408),
            "{}",
            raw.text()
        );
    }
    assert_eq!(
        steady.await.unwrap(),
        8,
        "a keep-alive connection in use was closed"
    );
    daemon.assert_alive("after slow drips").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_thousand_idle_connections_do_not_take_the_daemon_down() {
    raise_fd_limit(16384);
    let mut daemon = Daemon::start(&[]).await;
    let mut connecting = tokio::task::JoinSet::new();
    for _ in 0..2000 {
        let addr = daemon.ecs;
        connecting.spawn(async move {
            tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(addr)).await
        });
    }
    let mut idle = Vec::new();
    while let Some(result) = connecting.join_next().await {
        if let Ok(Ok(Ok(stream))) = result {
            idle.push(stream);
        }
    }
    assert!(
        idle.len() > 1024,
        "only {} of 2000 connections opened: the flood did not reach the cap",
        idle.len()
    );
    // Past the cap of 1024 open connections, a well-behaved client waits in the kernel's
    // queue until the header read timeout (10 s) closes idle connections; it is then served.
    let started = tokio::time::Instant::now();
    let token = daemon.token(OTHER);
    let request = get_request(
        daemon.ecs,
        "/ecs/credentials",
        &[("Authorization", &format!("Bearer {token}"))],
    );
    let raw = raw(daemon.ecs, &request, Duration::from_secs(35)).await;
    assert_eq!(
        raw.status(),
        Some(200),
        "after {:?}: {:.300}",
        started.elapsed(),
        raw.text()
    );
    // Its SYN may have been dropped too (full accept queue), and the kernel retries it
    // after 1, 3, 7 and 15 s: served by 15 s and some.
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "served only after {:?}",
        started.elapsed()
    );
    eprintln!(
        "{} idle connections open; a well-behaved client was served after {:?}",
        idle.len(),
        started.elapsed()
    );
    drop(idle);
    // With the flood gone, answers are immediate again.
    let started = tokio::time::Instant::now();
    let response = daemon.get(OTHER).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    daemon.assert_alive("after 2000 idle connections").await;
}

/// 401 with the ECS error shape, and the log does not hold `token`.
fn assert_invalid_token(response: &Response, daemon: &Daemon, token: &str, what: &str) {
    let (code, message) = assert_error(response, 401, what);
    assert_eq!(code, "InvalidToken", "{what}");
    // Tokens long enough to carry a secret must not be echoed or logged.
    if token.len() >= 40 {
        assert!(!message.contains(token), "{what}: message echoes the token");
        assert!(
            !daemon.log().contains(token),
            "{what}: the token reached the log"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_of_every_wrong_shape_are_refused() {
    let mut daemon = Daemon::start(&[]).await;
    let target = daemon.target();
    let web = daemon.token(WEB);
    let other = daemon.token(OTHER);
    let secret = web.strip_prefix("needroleshere.web.").unwrap().to_owned();
    let other_secret = other
        .strip_prefix("needroleshere.other.")
        .unwrap()
        .to_owned();
    let flipped = {
        let mut chars: Vec<char> = secret.chars().collect();
        chars[40] = if chars[40] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect::<String>()
    };
    let unicode = "needroleshere.wéb.sécrét✓";
    let cases: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("a bare Bearer", "Bearer".into()),
        ("another scheme", "Basic dXNlcjpwYXNz".into()),
        ("no prefix", secret.clone()),
        ("prefix only", "needroleshere.".into()),
        ("no secret", "needroleshere.web".into()),
        ("empty secret", "needroleshere.web.".into()),
        ("empty name", format!("needroleshere..{secret}")),
        ("wrong prefix case", format!("NeedRolesHere.web.{secret}")),
        ("unknown name", format!("needroleshere.nosuch.{secret}")),
        (
            "right name, another secret",
            format!("needroleshere.web.{other_secret}"),
        ),
        (
            "another name, right secret",
            format!("needroleshere.other.{secret}"),
        ),
        (
            "one character changed",
            format!("needroleshere.web.{flipped}"),
        ),
        ("truncated", format!("needroleshere.web.{}", &secret[..85])),
        ("one character more", format!("needroleshere.web.{secret}A")),
        ("padded", format!("needroleshere.web.{secret}==")),
        (
            // '+' and '/' (standard base64) in place of the first and last characters.
            "standard base64",
            format!("needroleshere.web.+{}/", &secret[1..85]),
        ),
        ("base64 garbage", "needroleshere.web.!!!!$$$$%%%%".into()),
        (
            "129-character secret",
            format!("needroleshere.web.{}", "A".repeat(129)),
        ),
        (
            "10 KiB token",
            format!("needroleshere.web.{}", "A".repeat(10 * 1024)),
        ),
        ("the query binding's token in a header", daemon.token(QUERY)),
    ];
    for (what, token) in &cases {
        let response = get(
            &target,
            "/ecs/credentials",
            &[("Authorization", &format!("Bearer {token}"))],
        )
        .await;
        assert_invalid_token(&response, &daemon, token, what);
    }
    // Unicode: not a header value (8-bit), and refused when percent-encoded in the query.
    let encoded: String = url::form_urlencoded::byte_serialize(unicode.as_bytes()).collect();
    let response = get_with_query(&target, &encoded).await;
    assert_invalid_token(&response, &daemon, unicode, "unicode in the query");
    // A header binding's token in the query string is refused, the query binding's works.
    let response = get_with_query(&target, &web).await;
    assert_invalid_token(
        &response,
        &daemon,
        &web,
        "a header binding's token in the query",
    );
    assert_eq!(
        get_with_query(&target, &daemon.token(QUERY)).await.status,
        200
    );
    // No token, or two: 400.
    let (code, _) = assert_error(
        &get(&target, "/ecs/credentials", &[]).await,
        400,
        "no token",
    );
    assert_eq!(code, "MissingToken");
    let bearer = format!("Bearer {web}");
    let two_headers = get(
        &target,
        "/ecs/credentials",
        &[("Authorization", &bearer), ("Authorization", &bearer)],
    )
    .await;
    assert_eq!(
        assert_error(&two_headers, 400, "two headers").0,
        "AmbiguousToken"
    );
    let both = get(
        &target,
        &format!("/ecs/credentials?access_token={web}"),
        &[("Authorization", &bearer)],
    )
    .await;
    assert_eq!(
        assert_error(&both, 400, "header and query").0,
        "AmbiguousToken"
    );
    let twice = get(
        &target,
        &format!("/ecs/credentials?access_token={web}&access_token={web}"),
        &[],
    )
    .await;
    assert_eq!(
        assert_error(&twice, 400, "two query tokens").0,
        "AmbiguousToken"
    );
    // A 1 MiB token does not fit in a request head: 431 before any parsing.
    let huge = format!("needroleshere.web.{}", "A".repeat(1024 * 1024));
    let bytes = get_request(daemon.ecs, "/ecs/credentials", &[("Authorization", &huge)]);
    let raw = refused(daemon.ecs, &bytes, "1 MiB token").await;
    assert_eq!(raw.status(), Some(431));
    // Through all of that, the right token still works, and so does everything else.
    assert_eq!(get_with_bearer(&target, &web).await.status, 200);
    daemon.assert_alive("after wrong tokens").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn token_names_cannot_traverse_paths() {
    let mut daemon = Daemon::start(&[]).await;
    let target = daemon.target();
    let secret = daemon
        .token(WEB)
        .strip_prefix("needroleshere.web.")
        .unwrap()
        .to_owned();
    // A file that a traversal from bindings/ could reach, holding the binding for "web".
    let decoy = daemon.dir.path().join("decoy.json");
    std::fs::copy(daemon.dir.path().join("bindings/web.json"), &decoy).unwrap();
    let names = [
        "..",
        ".",
        "../decoy",
        "..%2fdecoy",
        "%2e%2e%2fdecoy",
        "%2e%2e",
        "/etc/passwd",
        "web/../web",
        "bindings/web",
        "..\\decoy",
        "web%00",
        "web\u{0}",
        "~root",
        "web.json",
    ];
    for name in names {
        let token = format!("needroleshere.{name}.{secret}");
        // In the header (as is: %2e stays literal, NUL makes the header invalid)...
        let bytes = get_request(
            daemon.ecs,
            "/ecs/credentials",
            &[("Authorization", &format!("Bearer {token}"))],
        );
        let raw = refused(daemon.ecs, &bytes, name).await;
        let status = raw
            .status()
            .unwrap_or_else(|| panic!("{name}: {}", raw.text()));
        assert!(
            status == 401 || (status == 400 && name.contains('\u{0}')),
            "{name} in the header: {}",
            raw.text()
        );
        // ...and in the query string, where percent-encodings are decoded first.
        let encoded: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
        for query in [encoded, token.replace('\u{0}', "%00")] {
            let response = get_with_query(&target, &query).await;
            assert_eq!(response.status, 401, "{name} in the query: {response:?}");
        }
    }
    let log = daemon.log();
    assert!(
        !log.contains("cannot use binding file") && !log.contains("decoy"),
        "a traversal reached the file system:\n{log}"
    );
    // IMDS paths: the role name is compared, never used as a path.
    let session = token(daemon.imds).await;
    for path in [
        "/latest/meta-data/iam/security-credentials/../../../../etc/passwd",
        "/latest/meta-data/iam/security-credentials/%2e%2e%2f%2e%2e%2fdecoy",
        "/latest/meta-data/iam/security-credentials/needroleshere-test/../other",
        "/latest/../../etc/passwd",
    ] {
        let response = request(daemon.imds, "GET", path, &[(TOKEN_HEADER, &session)]).await;
        assert_eq!(response.status, 404, "{path}: {response:?}");
    }
    daemon.assert_alive("after traversal attempts").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn imds_tokens_and_ttls_of_every_wrong_shape() {
    let mut daemon = Daemon::start(&[]).await;
    let addr = daemon.imds;
    let good = token(addr).await;
    let mut tampered: Vec<char> = good.chars().collect();
    tampered[3] = if tampered[3] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    use base64::Engine as _;
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0u8; 40]);
    let far_future = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode([&i64::MAX.to_be_bytes()[..], &[0u8; 32]].concat());
    for (what, value) in [
        ("empty", String::new()),
        ("one character", "x".to_owned()),
        ("tampered", tampered),
        ("all zeros", forged),
        ("far-future expiry, no MAC", far_future),
        ("trailing garbage", format!("{good}AAAA")),
        ("truncated", good[..good.len() - 1].to_owned()),
        ("4 KiB", "A".repeat(4096)),
        ("an ECS token", daemon.token(WEB)),
    ] {
        let response = request(addr, "GET", &credentials_path(), &[(TOKEN_HEADER, &value)]).await;
        assert_eq!(response.status, 401, "{what}: {response:?}");
        assert!(!response.body.contains("AccessKeyId"), "{what}");
    }
    // Stateless tokens have one-second resolution: of three minted within a second, two
    // are identical (the limitation SECURITY.md states).
    let started = std::time::Instant::now();
    let minted = [token(addr).await, token(addr).await, token(addr).await];
    if started.elapsed() < Duration::from_millis(900) {
        assert!(
            minted[0] == minted[1] || minted[1] == minted[2],
            "{minted:?}"
        );
    }
    let raw = refused(
        addr,
        &get_request(
            addr,
            &credentials_path(),
            &[(TOKEN_HEADER, &"A".repeat(1024 * 1024))],
        ),
        "1 MiB IMDS token",
    )
    .await;
    assert_eq!(raw.status(), Some(431));
    for ttl in [
        "",
        "0",
        "-1",
        "21601",
        "1e3",
        "0x10",
        "99999999999999999999",
        "６０",
        "60 60",
        "+",
    ] {
        let response = request(addr, "PUT", "/latest/api/token", &[(TTL_HEADER, ttl)]).await;
        assert_eq!(response.status, 400, "TTL {ttl:?}: {response:?}");
    }
    // Host names that are not this listener (DNS rebinding) get no token.
    let port = addr.port();
    for host in [
        format!("evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
        format!("127.0.0.2:{port}"),
        format!("[::1]:{port}"),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        String::new(),
    ] {
        let response = request_with_host(
            addr,
            "PUT",
            "/latest/api/token",
            Some(&host),
            &[(TTL_HEADER, "60")],
        )
        .await;
        assert_eq!(response.status, 403, "Host {host:?}: {response:?}");
    }
    // The listener's own address without its port names it too (today's AWS CRT sends
    // that); no DNS-rebinding page can send an address literal as its Host.
    let response = request_with_host(
        addr,
        "PUT",
        "/latest/api/token",
        Some("127.0.0.1"),
        &[(TTL_HEADER, "60")],
    )
    .await;
    assert_eq!(response.status, 200, "{response:?}");
    daemon.assert_alive("after wrong IMDS tokens").await;
}

/// `GET web` answers 500 `BindingUnreadable` naming the binding, and the log says why.
async fn assert_binding_unreadable(daemon: &mut Daemon, what: &str, log_says: &str) {
    let response = daemon.get(WEB).await;
    let (code, message) = assert_error(&response, 500, what);
    assert_eq!(code, "BindingUnreadable", "{what}");
    assert!(message.contains("binding web"), "{what}: {message}");
    let log = daemon.log();
    assert!(
        log.contains("cannot use binding file") && log.contains(log_says),
        "{what}: the log should say {log_says:?}:\n{log}"
    );
    daemon.assert_alive(what).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_binding_files_answer_500_and_other_bindings_keep_working() {
    let mut daemon = Daemon::start(&[]).await;
    let path = daemon.dir.path().join("bindings/web.json");
    let good = std::fs::read(&path).unwrap();
    let replace = |bytes: &[u8]| {
        // Not atomic on purpose: this is what a crashed editor leaves.
        std::fs::write(&path, bytes).unwrap();
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "garbage",
            b"\x00\x01 not json at all \xff".to_vec(),
            "is not valid",
        ),
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            "EOF while parsing",
        ),
        ("empty", Vec::new(), "EOF while parsing"),
        ("a JSON array", b"[1, 2, 3]".to_vec(), "is not valid"),
        (
            "another binding's name",
            String::from_utf8(good.clone())
                .unwrap()
                .replace("\"web\"", "\"evil\"")
                .into_bytes(),
            "names binding",
        ),
        (
            "a secret hash of the wrong length",
            {
                let json: serde_json::Value = serde_json::from_slice(&good).unwrap();
                let hash = json["secret_hash"].as_str().unwrap();
                String::from_utf8(good.clone())
                    .unwrap()
                    .replace(hash, "AAAA")
                    .into_bytes()
            },
            "secret_hash",
        ),
        (
            "5 MiB of spaces",
            vec![b' '; 5 * 1024 * 1024],
            "EOF while parsing",
        ),
    ];
    for (what, bytes, log_says) in &cases {
        replace(bytes);
        assert_binding_unreadable(&mut daemon, what, log_says).await;
    }
    // A directory where the file should be: unreadable for root too.
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    assert_binding_unreadable(&mut daemon, "a directory", "cannot read binding file").await;
    std::fs::remove_dir(&path).unwrap();
    // A symbolic link loop.
    std::os::unix::fs::symlink(&path, &path).unwrap();
    assert_binding_unreadable(&mut daemon, "a symlink loop", "cannot read binding file").await;
    std::fs::remove_file(&path).unwrap();
    // A dangling link is a binding that does not exist: 401 like any unknown name.
    std::os::unix::fs::symlink(daemon.dir.path().join("nowhere.json"), &path).unwrap();
    let response = daemon.get(WEB).await;
    assert_eq!(assert_error(&response, 401, "dangling").0, "InvalidToken");
    std::fs::remove_file(&path).unwrap();
    // Put back, it works again at once.
    std::fs::write(&path, &good).unwrap();
    assert_eq!(daemon.get(WEB).await.status, 200);

    // The IMDS listener's binding: corrupt is 500, gone is 404, and ECS is unaffected.
    let imds_path = daemon.dir.path().join("bindings/imds.json");
    let imds_good = std::fs::read(&imds_path).unwrap();
    let session = token(daemon.imds).await;
    std::fs::write(&imds_path, b"{").unwrap();
    let response = request(
        daemon.imds,
        "GET",
        &credentials_path(),
        &[(TOKEN_HEADER, &session)],
    )
    .await;
    assert_eq!(response.status, 500, "{response:?}");
    std::fs::remove_file(&imds_path).unwrap();
    let response = request(
        daemon.imds,
        "GET",
        &credentials_path(),
        &[(TOKEN_HEADER, &session)],
    )
    .await;
    assert_eq!(response.status, 404, "{response:?}");
    assert_eq!(daemon.get(OTHER).await.status, 200);
    std::fs::write(&imds_path, &imds_good).unwrap();
    daemon.assert_alive("after corrupt bindings").await;
}

/// The known limitation SECURITY.md states: a binding file that cannot be read answers 500
/// before the secret is checked, so a caller without the secret learns that the name is
/// bound (but nothing else).
#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_binding_answers_500_even_to_a_wrong_secret() {
    let daemon = Daemon::start(&[]).await;
    std::fs::write(daemon.dir.path().join("bindings/web.json"), b"{").unwrap();
    let wrong = format!("needroleshere.web.{}", "A".repeat(86));
    let response = get_with_bearer(&daemon.target(), &wrong).await;
    let (code, message) = assert_error(&response, 500, "corrupt, wrong secret");
    assert_eq!(code, "BindingUnreadable");
    assert!(
        !message.contains('{') && !message.contains("EOF"),
        "{message}"
    );
    let unknown = format!("needroleshere.nosuch.{}", "A".repeat(86));
    assert_eq!(
        get_with_bearer(&daemon.target(), &unknown).await.status,
        401
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_binding_file_answers_500_to_an_unprivileged_serve() {
    // As root every file is readable; run serve as nobody (setpriv) to see EACCES.
    if !common::daemon::is_root() {
        eprintln!("skipped: needs root to drop privileges");
        return;
    }
    let fake = common::daemon::Fake::start().await;
    let root = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = root.path().join("run");
    let pki = root.path().join("pki");
    std::fs::create_dir(&pki).unwrap();
    for file in ["p256.fullchain.pem", "p256.pkcs8.key"] {
        std::fs::copy(pki_file(file), pki.join(file)).unwrap();
        std::fs::set_permissions(pki.join(file), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let port = common::daemon::free_port();
    let url = format!("http://127.0.0.1:{port}");
    for name in [WEB, OTHER] {
        let mut args = common::daemon::identity_args_from(
            &pki.join("p256.fullchain.pem"),
            &pki.join("p256.pkcs8.key"),
            if name == WEB {
                fake_aws::ROLE_ARN
            } else {
                fake_aws::OTHER_ROLE_ARN
            },
        );
        args.extend(["--url", &url, "--endpoint", &fake.url(), "--no-validate"].map(String::from));
        common::daemon::bind_ok(&dir, name, &args).await;
    }
    std::fs::set_permissions(
        dir.join("bindings/web.json"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    let log = root.path().join("serve.log");
    let mut child = tokio::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(common::daemon::BIN)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--configuration-directory",
        ])
        .arg(&dir)
        .env_clear()
        .env("RUST_LOG", "debug")
        .env("HTTPS_PROXY", common::daemon::NOWHERE_PROXY)
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("setpriv");
    let target = common::daemon::Target::Tcp(format!("127.0.0.1:{port}").parse().unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline && child.try_wait().unwrap().is_none(),
            "serve as nobody did not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let token = common::daemon::token_of(&dir, WEB);
    let response = get_with_bearer(&target, &token).await;
    let (code, _) = assert_error(&response, 500, "unreadable binding");
    assert_eq!(code, "BindingUnreadable");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("cannot read binding file") && text.contains("Permission denied"),
        "{text}"
    );
    let response = get_with_bearer(&target, &common::daemon::token_of(&dir, OTHER)).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert!(child.try_wait().unwrap().is_none(), "serve exited");
}

#[tokio::test(flavor = "multi_thread")]
async fn certificate_and_key_replaced_or_deleted_under_load() {
    let mut daemon = Daemon::start(&[]).await;
    let cert = daemon.web_certificate();
    let key = daemon.web_key();
    let first = daemon.get(WEB).await;
    assert_eq!(first.status, 200, "{first:?}");
    let first_key = first.json()["AccessKeyId"].as_str().unwrap().to_owned();

    // 100 requests in flight while the files are rewritten in place, emptied, deleted and
    // swapped for a certificate of another key. The cached credentials are still valid, so
    // every answer is 200 with them (or, at worst, a clear 5xx JSON error).
    let target = daemon.target();
    let token = daemon.token(WEB);
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..100 {
        let (target, token) = (target.clone(), token.clone());
        requests.spawn(async move {
            tokio::time::sleep(Duration::from_millis(i * 3)).await;
            get_with_bearer(&target, &token).await
        });
    }
    let garbage = b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n";
    for round in 0..30 {
        match round % 5 {
            0 => std::fs::write(&cert, garbage).unwrap(),
            1 => std::fs::write(&cert, b"").unwrap(),
            2 => {
                let _ = std::fs::remove_file(&cert);
                let _ = std::fs::remove_file(&key);
            }
            3 => std::fs::copy(pki_file("p384.fullchain.pem"), &cert)
                .map(drop)
                .unwrap(),
            _ => {
                std::fs::copy(pki_file("p256.fullchain.pem"), &cert).unwrap();
                std::fs::copy(pki_file("p256.pkcs8.key"), &key).unwrap();
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut served = 0;
    while let Some(response) = requests.join_next().await {
        let response = response.unwrap();
        if response.status == 200 {
            assert_eq!(response.json()["AccessKeyId"], first_key.as_str());
            served += 1;
        } else {
            assert!(response.status >= 500, "{response:?}");
            assert_error(&response, response.status, "under load");
        }
    }
    assert_eq!(
        served, 100,
        "valid cached credentials should answer every request"
    );
    assert!(
        daemon
            .log()
            .contains("serving cached credentials while the certificate or key cannot be used"),
        "{}",
        daemon.log()
    );
    daemon.assert_alive("after the file swaps").await;

    // A binding never served before has nothing to fall back on: a deleted key is 500.
    let mut args = common::daemon::identity_args_from(&cert, &key, fake_aws::OTHER_ROLE_ARN);
    args.extend(
        [
            "--url",
            &format!("http://{}", daemon.ecs),
            "--endpoint",
            &daemon.fake.url(),
            "--no-validate",
        ]
        .map(String::from),
    );
    common::daemon::bind_ok(daemon.dir.path(), "fresh", &args).await;
    std::fs::remove_file(&key).unwrap();
    let response = daemon.get("fresh").await;
    let (code, message) = assert_error(&response, 500, "fresh binding, key deleted");
    assert_eq!(code, "IdentityUnavailable", "{message}");
    std::fs::copy(pki_file("p256.pkcs8.key"), &key).unwrap();
    assert_eq!(daemon.get("fresh").await.status, 200);
    daemon.assert_alive("after a deleted key").await;
}

/// A FIFO where the binding file should be (a mistake only root can make: `bindings/` is
/// root's) does not freeze the daemon: it answers an error and keeps serving the others.
/// (Regression: the blocking read of a FIFO held a worker forever.)
#[tokio::test(flavor = "multi_thread")]
async fn a_fifo_in_place_of_the_binding_file_does_not_freeze_the_daemon() {
    let mut daemon = Daemon::start(&[]).await;
    let path = daemon.dir.path().join("bindings/web.json");
    fifo_does_not_freeze(&mut daemon, &path, "after a FIFO binding").await;
}

/// The same for a certificate file: whoever may renew the certificate (often not root)
/// could otherwise freeze every binding.
#[tokio::test(flavor = "multi_thread")]
async fn a_fifo_in_place_of_the_certificate_does_not_freeze_the_daemon() {
    let mut daemon = Daemon::start(&[]).await;
    let cert = daemon.web_certificate();
    fifo_does_not_freeze(&mut daemon, &cert, "after a FIFO certificate").await;
}

/// Replaces `path` with a FIFO, then asks three times for the web binding's credentials:
/// each must get a 500 within 5 s, and the daemon must still serve the others.
async fn fifo_does_not_freeze(daemon: &mut Daemon, path: &std::path::Path, what: &str) {
    std::fs::remove_file(path).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
    let token = daemon.token(WEB);
    let bytes = get_request(
        daemon.ecs,
        "/ecs/credentials",
        &[("Authorization", &format!("Bearer {token}"))],
    );
    for attempt in 0..3 {
        let raw = raw(daemon.ecs, &bytes, Duration::from_secs(5)).await;
        assert_eq!(raw.end, End::Closed, "attempt {attempt}: no answer in 5 s");
        assert_eq!(raw.status(), Some(500), "{}", raw.text());
    }
    daemon.assert_alive(what).await;
}

/// The log line for a binding file that cannot be read says why (a directory, a symlink
/// loop), not only "cannot read binding file PATH". (Regression: the cause was dropped.)
#[tokio::test(flavor = "multi_thread")]
async fn the_log_says_why_a_binding_file_cannot_be_read() {
    let mut daemon = Daemon::start(&[]).await;
    let path = daemon.dir.path().join("bindings/web.json");
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    assert_binding_unreadable(&mut daemon, "a directory", "Is a directory").await;
    std::fs::remove_dir(&path).unwrap();
    std::os::unix::fs::symlink(&path, &path).unwrap();
    assert_binding_unreadable(&mut daemon, "a symlink loop", "symbolic links").await;
}

/// SECURITY.md promises HTTP/1.1 only; hyper parses HTTP/1.0 too, which once got
/// credentials with a valid token.
#[tokio::test(flavor = "multi_thread")]
async fn http_1_0_is_refused_with_505_on_every_listener() {
    let mut daemon = Daemon::start(&[]).await;
    let bearer = format!("Bearer {}", daemon.token(OTHER));
    let session = token(daemon.imds).await;
    let cases = [
        (
            "ECS",
            format!(
                "GET /ecs/credentials HTTP/1.0\r\nHost: {}\r\nAuthorization: {bearer}\r\n\r\n",
                daemon.ecs
            ),
            daemon.ecs,
        ),
        (
            "IMDS",
            format!(
                "GET {} HTTP/1.0\r\nHost: {}\r\n{TOKEN_HEADER}: {session}\r\n\r\n",
                credentials_path(),
                daemon.imds
            ),
            daemon.imds,
        ),
        (
            "IMDS token",
            format!(
                "PUT /latest/api/token HTTP/1.0\r\nHost: {}\r\n{TTL_HEADER}: 60\r\n\r\n",
                daemon.imds
            ),
            daemon.imds,
        ),
    ];
    for (what, request, addr) in cases {
        let raw = refused(addr, request.as_bytes(), what).await;
        assert_eq!(raw.status(), Some(505), "{what}: {}", raw.text());
        let text = raw.text();
        assert!(
            !text.contains("SecretAccessKey") && !text.contains("AccessKeyId"),
            "{what}: {text}"
        );
        assert!(text.contains("HTTP/1.1 only"), "{what}: {text}");
    }
    daemon.assert_alive("HTTP/1.0 requests").await;
}

/// A raw IMDS request with a valid session token and the given head lines.
async fn imds_raw(daemon: &Daemon, request_target: &str, lines: &[String]) -> Raw {
    let session = token(daemon.imds).await;
    let mut head = format!("GET {request_target} HTTP/1.1\r\n");
    for line in lines {
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str(&format!(
        "{TOKEN_HEADER}: {session}\r\nConnection: close\r\n\r\n"
    ));
    raw(daemon.imds, head.as_bytes(), QUICK).await
}

#[tokio::test(flavor = "multi_thread")]
async fn imds_refuses_two_hosts_and_a_foreign_absolute_target_and_serves_no_host() {
    let mut daemon = Daemon::start(&[]).await;
    let own = format!("Host: {}", daemon.imds);
    let path = credentials_path();
    let cases = [
        (
            "a second Host naming another site",
            path.clone(),
            vec![own.clone(), "Host: evil.example".to_owned()],
        ),
        (
            "another site first",
            path.clone(),
            vec!["Host: evil.example".to_owned(), own.clone()],
        ),
        (
            "an absolute-form target naming another site",
            format!("http://evil.example{path}"),
            vec![own.clone()],
        ),
        (
            "an absolute-form target on another port",
            format!("http://{}:1{path}", daemon.imds.ip()),
            vec![own.clone()],
        ),
        (
            "an absolute-form target naming another site, no Host",
            format!("http://evil.example{path}"),
            vec![],
        ),
    ];
    for (what, target, lines) in cases {
        let raw = imds_raw(&daemon, &target, &lines).await;
        assert_eq!(raw.status(), Some(403), "{what}: {}", raw.text());
        assert!(!raw.text().contains("SecretAccessKey"), "{what}");
    }
    // The token request itself too.
    let put = format!(
        "PUT http://evil.example/latest/api/token HTTP/1.1\r\n{own}\r\n{TTL_HEADER}: 60\r\nConnection: close\r\n\r\n"
    );
    let raw = raw(daemon.imds, put.as_bytes(), QUICK).await;
    assert_eq!(raw.status(), Some(403), "{}", raw.text());

    // Its own authority in absolute form is fine, and so is no Host at all (the AWS CRT's
    // IMDS client sends none).
    for (what, target, lines) in [
        (
            "its own absolute-form target",
            format!("http://{}{path}", daemon.imds),
            vec![own.clone()],
        ),
        ("no Host", path.clone(), vec![]),
    ] {
        let raw = imds_raw(&daemon, &target, &lines).await;
        assert_eq!(raw.status(), Some(200), "{what}: {}", raw.text());
        assert!(raw.text().contains("SecretAccessKey"), "{what}");
    }
    daemon.assert_alive("Host games").await;
}

/// 16,000 refused requests once wrote 16,000 log lines, which journald's rate limit drops
/// along with the lines that matter. Each kind is now written once, then counted.
#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_refused_and_failing_requests_writes_a_line_per_kind() {
    let mut daemon = Daemon::start(&[]).await;
    let web = daemon.token(WEB);
    let other = daemon.token(OTHER);
    let (prefix, _) = other.rsplit_once('.').unwrap();
    let wrong_secret = format!("{prefix}.{}", "A".repeat(86));
    // A binding that cannot be read: every request to it is an ERROR.
    std::fs::write(daemon.dir.path().join("bindings/web.json"), b"{").unwrap();
    let target = daemon.target();
    let kinds = [
        "needroleshere.".to_owned(),
        format!("needroleshere.nobody.{}", "A".repeat(86)),
        wrong_secret,
        web,
    ];
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let (target, kinds) = (target.clone(), kinds.clone());
        tasks.spawn(async move {
            for i in 0..100 {
                let token = &kinds[(worker + i) % kinds.len()];
                let response = get_with_bearer(&target, token).await;
                assert!(
                    response.status == 401 || response.status == 400 || response.status == 500,
                    "{response:?}"
                );
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let log = daemon.log();
    let count = |log: &str, what: &str| log.lines().filter(|l| l.contains(what)).count();
    for what in [
        "refused a malformed token",
        "refused a token for a binding that does not exist",
        "refused a token with a wrong secret",
        "cannot use binding file",
    ] {
        assert_eq!(count(&log, what), 1, "{what} after 1600 requests:\n{log}");
    }
    let warnings = log
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .count();
    assert!(
        warnings <= 10,
        "{warnings} warnings for 1600 requests:\n{log}"
    );
    // A new cause for the same binding is a new line at once.
    std::fs::write(daemon.dir.path().join("bindings/web.json"), b"[]").unwrap();
    let response = daemon.get(WEB).await;
    assert_eq!(response.status, 500, "{response:?}");
    let now = daemon.log();
    assert_eq!(
        count(&now, "cannot use binding file"),
        2,
        "a new cause must be logged at once:\n{now}"
    );
    daemon.assert_alive("a burst of refusals").await;
}
