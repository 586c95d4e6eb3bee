//! A load generator for `scripts/bench.sh`: HTTP/1.1 keep-alive `GET`s against the ECS
//! endpoint of `needroleshere serve`, rotating over many bearer tokens (one per binding),
//! which `wrk` cannot do without a script per token set.
//!
//! Request `i` (counted from 0 across all connections) carries `Authorization: Bearer` and
//! token `i mod count`, so `--requests` equal to the number of tokens fetches each binding
//! exactly once. `--connections` workers run concurrently on a pool of keep-alive
//! connections; each sends its next request once the previous answer has been read in full.
//! The run stops after `--requests` requests or `--timeout-secs`, whichever comes first.
//!
//! It prints one JSON object: requests sent, 200 answers, other statuses, transport errors,
//! elapsed seconds, requests per second and the p50/p99 latency in microseconds. The exit
//! status is 0 when every request got a 200.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;

/// Keep-alive GETs rotating over many bearer tokens.
#[derive(Debug, Parser)]
struct Args {
    /// The server's address; only loopback addresses are accepted.
    #[arg(long, value_parser = support::loopback)]
    addr: SocketAddr,
    /// A file of tokens (`needroleshere.NAME.SECRET`), one per line.
    #[arg(long)]
    tokens: PathBuf,
    /// How many requests to send in all.
    #[arg(long)]
    requests: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    connections: u16,
    /// The request path.
    #[arg(long, default_value = "/ecs/credentials")]
    path: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
}

/// What one worker saw.
#[derive(Debug, Default)]
struct Tally {
    ok: usize,
    other_status: usize,
    errors: usize,
    latencies_us: Vec<u32>,
}

/// The shared plan of a run.
struct Plan {
    client: reqwest::Client,
    url: String,
    tokens: Vec<String>,
    requests: usize,
    next: AtomicUsize,
    deadline: Instant,
}

async fn worker(plan: Arc<Plan>) -> Tally {
    let mut tally = Tally::default();
    while Instant::now() < plan.deadline {
        let i = plan.next.fetch_add(1, Ordering::Relaxed);
        if i >= plan.requests {
            break;
        }
        let started = Instant::now();
        let token = &plan.tokens[i % plan.tokens.len()];
        let exchange = async {
            let response = plan.client.get(&plan.url).bearer_auth(token).send().await?;
            let status = response.status();
            response.bytes().await?;
            Ok::<_, reqwest::Error>(status)
        };
        let remaining = plan.deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, exchange).await {
            Ok(Ok(status)) => {
                let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
                tally.latencies_us.push(micros);
                if status == reqwest::StatusCode::OK {
                    tally.ok += 1;
                } else {
                    tally.other_status += 1;
                }
            }
            Ok(Err(_)) => tally.errors += 1,
            Err(_) => {
                tally.errors += 1;
                break;
            }
        }
    }
    tally
}

async fn run(args: Args) -> Result<bool, String> {
    let text = std::fs::read_to_string(&args.tokens)
        .map_err(|e| format!("{}: {e}", args.tokens.display()))?;
    let tokens: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if tokens.is_empty() {
        return Err(format!("{}: no tokens", args.tokens.display()));
    }
    let connections = usize::from(args.connections);
    // Plain HTTP only, but reqwest wants a TLS configuration: one that trusts nothing.
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS: {e}"))?
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(connections)
        .user_agent("needroleshere-loadgen")
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let started = Instant::now();
    let plan = Arc::new(Plan {
        client,
        url: format!("http://{}{}", args.addr, args.path),
        tokens,
        requests: args.requests,
        next: AtomicUsize::new(0),
        deadline: started + Duration::from_secs(args.timeout_secs),
    });
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..connections {
        workers.spawn(worker(plan.clone()));
    }
    let mut total = Tally::default();
    while let Some(joined) = workers.join_next().await {
        let tally = joined.map_err(|e| format!("a worker failed: {e}"))?;
        total.ok += tally.ok;
        total.other_status += tally.other_status;
        total.errors += tally.errors;
        total.latencies_us.extend(tally.latencies_us);
    }
    let seconds = started.elapsed().as_secs_f64();
    total.latencies_us.sort_unstable();
    let answered = total.ok + total.other_status;
    let summary = serde_json::json!({
        "requests": answered + total.errors,
        "tokens": plan.tokens.len(),
        "connections": connections,
        "ok": total.ok,
        "other_status": total.other_status,
        "errors": total.errors,
        "seconds": seconds,
        "rps": answered as f64 / seconds,
        "p50_us": support::percentile(&total.latencies_us, 50.0),
        "p99_us": support::percentile(&total.latencies_us, 99.0),
    });
    println!("{summary}");
    Ok(total.ok == args.requests)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("loadgen: not every request got a 200");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("loadgen: {error}");
            ExitCode::FAILURE
        }
    }
}
