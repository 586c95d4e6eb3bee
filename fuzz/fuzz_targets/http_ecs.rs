//! The ECS front (`server::ecs::router`), driven in process with any method, path, query,
//! headers and body. The handler never panics, answers every request, and credentials
//! come out only for a request that carries a binding's right token where its mode wants it.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use needroleshere_fuzz::{fronts, send};

#[derive(Debug, Arbitrary)]
enum Token {
    None,
    /// `Authorization: Bearer <web's token>`.
    WebHeader,
    /// `?access_token=<query's token>`.
    QueryParameter,
    /// Each binding's token the wrong way round.
    WebInQuery,
    QueryInHeader,
    /// Any `Authorization` value.
    Header(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct Input {
    method: u8,
    custom_method: String,
    path: String,
    query: Option<String>,
    token: Token,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

fuzz_target!(
    // The PKI, the fake and the routers, before libFuzzer times the first input.
    init: {
        fronts();
    },
    |input: Input| {
    let fronts = fronts();
    let method = match input.method % 6 {
        0..=2 => "GET",
        3 => "HEAD",
        4 => "POST",
        _ => input.custom_method.as_str(),
    };
    let path = if input.method & 0x80 == 0 {
        "/ecs/credentials".to_owned()
    } else {
        input.path.clone()
    };
    let mut query = input.query.clone();
    let mut builder = axum::http::Request::builder().method(method);
    match &input.token {
        Token::None => {}
        Token::WebHeader => {
            builder = builder.header("authorization", format!("Bearer {}", fronts.web_token));
        }
        Token::QueryInHeader => {
            builder = builder.header("authorization", format!("Bearer {}", fronts.query_token));
        }
        Token::QueryParameter | Token::WebInQuery => {
            let token = if matches!(input.token, Token::QueryParameter) {
                &fronts.query_token
            } else {
                &fronts.web_token
            };
            let extra = query.take().map(|q| format!("&{q}")).unwrap_or_default();
            query = Some(format!("access_token={token}{extra}"));
        }
        Token::Header(value) => {
            builder = builder.header("authorization", value.as_slice());
        }
    }
    let uri = match &query {
        Some(query) => format!("{path}?{query}"),
        None => path.clone(),
    };
    builder = builder.uri(uri.as_str());
    for (name, value) in &input.headers {
        builder = builder.header(name.as_str(), value.as_slice());
    }
    let Ok(request) = builder.body(axum::body::Body::from(input.body.clone())) else {
        return;
    };
    let carried_right_token = matches!(input.token, Token::WebHeader | Token::QueryParameter);
    let (status, headers, body) = send(&fronts.ecs, request);
    let text = String::from_utf8_lossy(&body);
    if text.contains("SecretAccessKey") {
        assert!(
            carried_right_token,
            "credentials without the right token: {input:?} -> {status} {text}"
        );
        assert_eq!(status, 200);
    }
    // Every refusal from the credentials route is the documented JSON shape.
    if path == "/ecs/credentials" && method == "GET" && !status.is_success() {
        let json: serde_json::Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text}"));
        assert!(
            json["Code"].is_string() && json["Message"].is_string(),
            "{text}"
        );
        assert_eq!(
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/json")
        );
    }
});
