//! The baseline of `scripts/bench.sh`: the least an HTTP/1.1 keep-alive server on this
//! machine can do, so that the daemon's figures can be given as ratios against it.
//!
//! It runs on the same runtime as `needroleshere serve` (tokio, two worker threads), with
//! hyper's HTTP/1.1 server and `TCP_NODELAY`, and answers every request from memory:
//!
//! * `PUT` (the IMDS token request): `--token-bytes` bytes of text;
//! * `GET` of a path under `/latest/` (IMDS): `--imds-body-bytes` bytes of JSON;
//! * any other request (the ECS endpoint): `--body-bytes` bytes of JSON.
//!
//! The sizes are those of the daemon's real answers, measured by the harness, so the bytes
//! on the wire match. No header is looked at and nothing is allocated per request beyond
//! what hyper needs and one copy of the body.
//!
//! Usage: `baseline_server [--listen IP:PORT] [--body-bytes N] [--imds-body-bytes N]
//! [--token-bytes N]`. Under socket activation (`LISTEN_FDS`, as `systemd-socket-activate`
//! passes it) it serves the first passed socket; otherwise it binds `--listen` (default
//! `127.0.0.1:0`) and prints `listening on http://ADDR` on stdout.

use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;

/// What the server answers.
#[derive(Debug)]
struct Bodies {
    ecs: String,
    imds: String,
    token: String,
}

/// A JSON object of exactly `len` bytes (at least 10): `{"pad":"xxx…"}`.
fn json_of_len(len: usize) -> String {
    let frame = r#"{"pad":""}"#;
    let pad = len.saturating_sub(frame.len());
    format!(r#"{{"pad":"{}"}}"#, "x".repeat(pad))
}

#[derive(Debug)]
struct Args {
    listen: SocketAddr,
    body_bytes: usize,
    imds_body_bytes: usize,
    token_bytes: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        body_bytes: 1200,
        imds_body_bytes: 1200,
        token_bytes: 56,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} takes a value"));
        match flag.as_str() {
            "--listen" => {
                args.listen = value()?.parse().map_err(|e| format!("--listen: {e}"))?;
            }
            "--body-bytes" => {
                args.body_bytes = value()?.parse().map_err(|e| format!("{flag}: {e}"))?;
            }
            "--imds-body-bytes" => {
                args.imds_body_bytes = value()?.parse().map_err(|e| format!("{flag}: {e}"))?;
            }
            "--token-bytes" => {
                args.token_bytes = value()?.parse().map_err(|e| format!("{flag}: {e}"))?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

fn answer(bodies: &Bodies, request: &Request<Incoming>) -> Response<String> {
    let (body, content_type) = if request.method() == Method::PUT {
        (bodies.token.clone(), "text/plain")
    } else if request.uri().path().starts_with("/latest/") {
        (bodies.imds.clone(), "application/json")
    } else {
        (bodies.ecs.clone(), "application/json")
    };
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

async fn run(args: Args) -> std::io::Result<()> {
    let bodies = Arc::new(Bodies {
        ecs: json_of_len(args.body_bytes),
        imds: json_of_len(args.imds_body_bytes),
        token: "t".repeat(args.token_bytes),
    });
    let listener = match listenfd::ListenFd::from_env().take_tcp_listener(0)? {
        Some(listener) => {
            listener.set_nonblocking(true)?;
            tokio::net::TcpListener::from_std(listener)?
        }
        None => {
            let listener = tokio::net::TcpListener::bind(args.listen).await?;
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "listening on http://{}", listener.local_addr()?)?;
            stdout.flush()?;
            listener
        }
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    http.keep_alive(true);
    let http = Arc::new(http);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("baseline_server: accept: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (bodies, http) = (bodies.clone(), http.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let response = answer(&bodies, &request);
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = http.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("baseline_server: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(run(args)),
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("baseline_server: {error}");
            ExitCode::FAILURE
        }
    }
}
