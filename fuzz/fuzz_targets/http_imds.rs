//! The IMDS front (`server::imds::router`), driven in process with any method, path, Host,
//! headers and token. The handler never panics; credentials come out only for a GET (or
//! HEAD) with one Host naming the listener, or none at all (the CRT's IMDS client sends none;
//! a browser always does), and a session token it minted (or none, on the IMDSv1 listener);
//! a token is minted only for a PUT without `X-Forwarded-For`, under the same Host rule.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use needroleshere_fuzz::{fronts, send};

#[derive(Debug, Arbitrary)]
enum Session {
    None,
    /// A token minted by the listener just before.
    Minted,
    /// Any header value.
    Value(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum Host {
    None,
    Listener,
    Localhost,
    Any(String),
}

#[derive(Debug, Arbitrary)]
struct Input {
    v1: bool,
    method: u8,
    custom_method: String,
    path_choice: u8,
    path: String,
    host: Host,
    ttl: Option<Vec<u8>>,
    session: Session,
    headers: Vec<(String, Vec<u8>)>,
}

const PATHS: &[&str] = &[
    "/latest/api/token",
    "/latest/meta-data/iam/security-credentials/needroleshere-test",
    "/latest/meta-data/iam/security-credentials-extended/needroleshere-test",
    "/latest/meta-data/iam/security-credentials/",
    "/latest/meta-data/iam/info",
    "/latest/dynamic/instance-identity/document",
];

/// Whether `host` names the listener, 127.0.0.1:80: that address or `localhost`, with port
/// 80 or none.
fn host_names_the_listener(host: Option<&str>) -> bool {
    let Some(host) = host else { return false };
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(':') && !port.contains(']') => {
            (name, port.parse::<u16>().ok())
        }
        _ => (host, Some(80)),
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    port == Some(80)
        && (name.parse::<std::net::IpAddr>().ok() == Some([127, 0, 0, 1].into())
            || name.eq_ignore_ascii_case("localhost"))
}

fuzz_target!(
    // The PKI, the fake and the routers, before libFuzzer times the first input.
    init: {
        fronts();
    },
    |input: Input| {
    let fronts = fronts();
    let router = if input.v1 {
        &fronts.imds_v1
    } else {
        &fronts.imds
    };
    let method = match input.method % 5 {
        0 | 1 => "GET",
        2 => "PUT",
        3 => "HEAD",
        _ => input.custom_method.as_str(),
    };
    let path = match PATHS.get(usize::from(input.path_choice) % (PATHS.len() + 1)) {
        Some(path) => (*path).to_owned(),
        None => input.path.clone(),
    };
    let minted = if matches!(input.session, Session::Minted) {
        let request = axum::http::Request::builder()
            .method("PUT")
            .uri("/latest/api/token")
            .header("host", "127.0.0.1")
            .header("x-aws-ec2-metadata-token-ttl-seconds", "60")
            .body(axum::body::Body::empty())
            .expect("a valid request");
        let (status, _, body) = send(router, request);
        assert_eq!(status, 200);
        Some(String::from_utf8(body).expect("a text token"))
    } else {
        None
    };
    let mut builder = axum::http::Request::builder()
        .method(method)
        .uri(path.as_str());
    match &input.host {
        Host::None => {}
        Host::Listener => builder = builder.header("host", "127.0.0.1:80"),
        Host::Localhost => builder = builder.header("host", "localhost"),
        Host::Any(host) => builder = builder.header("host", host.as_str()),
    }
    if let Some(ttl) = &input.ttl {
        builder = builder.header("x-aws-ec2-metadata-token-ttl-seconds", ttl.as_slice());
    }
    match (&input.session, &minted) {
        (Session::Minted, Some(token)) => {
            builder = builder.header("x-aws-ec2-metadata-token", token.as_str());
        }
        (Session::Value(value), _) => {
            builder = builder.header("x-aws-ec2-metadata-token", value.as_slice());
        }
        _ => {}
    }
    for (name, value) in &input.headers {
        builder = builder.header(name.as_str(), value.as_slice());
    }
    let Ok(request) = builder.body(axum::body::Body::empty()) else {
        return;
    };
    let host = request
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let hosts = request.headers().get_all("host").iter().count();
    // The Host rule: none at all, or exactly one naming the listener.
    let host_allowed = hosts == 0 || (hosts == 1 && host_names_the_listener(host.as_deref()));
    let forwarded = request.headers().contains_key("x-forwarded-for");
    let extra_tokens = request
        .headers()
        .get_all("x-aws-ec2-metadata-token")
        .iter()
        .count();
    let (status, headers, body) = send(router, request);
    let text = String::from_utf8_lossy(&body);
    if text.contains("SecretAccessKey") {
        assert!(
            method == "GET" || method == "HEAD",
            "credentials for {method}: {input:?}"
        );
        assert!(host_allowed, "Host {host:?} ({hosts} given): {input:?}");
        assert!(
            input.v1 || (minted.is_some() && extra_tokens >= 1),
            "credentials without a session token: {input:?}"
        );
        assert!(!text.contains("Success") || status == 200);
    }
    if path == "/latest/api/token" && status == 200 {
        assert_eq!(method, "PUT");
        assert!(!forwarded, "a token for a forwarded request: {input:?}");
        assert!(host_allowed, "Host {host:?} ({hosts} given): {input:?}");
        assert!(headers.contains_key("x-aws-ec2-metadata-token-ttl-seconds"));
    }
});
