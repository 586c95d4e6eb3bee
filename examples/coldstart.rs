//! Cold start for `scripts/bench.sh`: the time from a client's first connection to the
//! first byte of the answer, with the server not running and its socket held by
//! `systemd-socket-activate` — the whole activation path (the exec, the runtime, reading
//! the configuration, accepting, and for a credential request the first upstream fetch).
//!
//! Usage: `coldstart --runs N [--path P] [--token TOKEN] [--setenv K=V]... -- CMD [ARGS...]`
//! (`--help` says more).
//!
//! Each run picks a free loopback port, starts `systemd-socket-activate
//! --listen=127.0.0.1:PORT [--setenv=K=V]... -- CMD ARGS` (a fresh one every time), waits
//! until it reports that it listens, then connects and sends `GET P` (default `/healthz`,
//! with `Authorization: Bearer TOKEN` when given, `Connection: close`) and times until the
//! first byte of the answer arrives. It then reads the whole answer (the run fails unless
//! it is a 200), stops the server with SIGTERM (SIGKILL after 5 s) and waits for it.
//!
//! It prints one JSON object with every sample, the median, p90, minimum and maximum in
//! milliseconds.

mod support;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Times cold requests through systemd-socket-activate.
#[derive(Debug, Parser)]
struct Args {
    /// How many cold starts to time.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// The request path.
    #[arg(long, default_value = "/healthz")]
    path: String,
    /// A bearer token to send.
    #[arg(long)]
    token: Option<String>,
    /// `K=V` for systemd-socket-activate's `--setenv`.
    #[arg(long)]
    setenv: Vec<String>,
    /// The server command and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Stops `child` (SIGTERM, then SIGKILL after 5 s) and reaps it.
fn stop(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits until systemd-socket-activate said it listens (in `log`).
fn wait_listening(child: &mut Child, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains("Listening on") {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("systemd-socket-activate exited ({status}): {text}"));
        }
        if Instant::now() > deadline {
            return Err(format!("systemd-socket-activate did not listen: {text}"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// One cold request: returns the time to the first byte.
fn one_run(args: &Args, dir: &Path, run: u32) -> Result<Duration, String> {
    let port = free_port().map_err(|e| format!("free port: {e}"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let log = dir.join(format!("run-{run}.log"));
    let log_file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut command = Command::new("systemd-socket-activate");
    command.arg(format!("--listen={addr}"));
    for pair in &args.setenv {
        command.arg(format!("--setenv={pair}"));
    }
    command
        .arg("--")
        .args(&args.command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);
    let mut child = command
        .spawn()
        .map_err(|e| format!("start systemd-socket-activate: {e}"))?;
    let result = (|| {
        wait_listening(&mut child, &log)?;
        let mut request = format!(
            "GET {} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n",
            args.path
        );
        if let Some(token) = &args.token {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        request.push_str("\r\n");

        let started = Instant::now();
        let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        stream
            .write_all(request.as_bytes())
            .map_err(|e| format!("send: {e}"))?;
        let mut first = [0u8; 1];
        let n = stream
            .read(&mut first)
            .map_err(|e| format!("first byte: {e}"))?;
        let elapsed = started.elapsed();
        if n == 0 {
            return Err("the server closed the connection without answering".into());
        }
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
        let mut answer = first.to_vec();
        answer.extend_from_slice(&rest);
        let text = String::from_utf8_lossy(&answer);
        if !text.starts_with("HTTP/1.1 200") {
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!("not a 200: {text}\n{log_text}"));
        }
        Ok(elapsed)
    })();
    stop(&mut child);
    result
}

fn main() -> ExitCode {
    let args = Args::parse();
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => {
            eprintln!("coldstart: temporary directory: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut samples = Vec::new();
    for run in 0..args.runs {
        match one_run(&args, dir.path(), run) {
            Ok(elapsed) => samples.push(elapsed.as_secs_f64() * 1000.0),
            Err(error) => {
                eprintln!("coldstart: run {run}: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    let mut sorted = samples.clone();
    sorted.sort_by(f64::total_cmp);
    let summary = serde_json::json!({
        "runs": samples.len(),
        "median_ms": support::percentile(&sorted, 50.0),
        "p90_ms": support::percentile(&sorted, 90.0),
        "min_ms": sorted.first(),
        "max_ms": sorted.last(),
        "samples_ms": samples,
    });
    println!("{summary}");
    ExitCode::SUCCESS
}
