//! `needroleshere status`: every binding with its mode, role, certificate subject and days
//! left, and — when `serve` is running — its last refresh, its credentials' expiry and its
//! last error, asked of `serve` over its status socket (a Unix socket only root can open;
//! see [`crate::front::status`]). Without `serve`, the files alone are reported. Exits 1
//! when something needs attention ([`crate::status::Report::needs_attention`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::args::ConfigDirArgs;
use crate::binding::{ConfigDir, Store};
use crate::status::{Report, Survey};
use crate::system::clock::Clock;
use crate::system::env::Environment;

/// Where the packaged units put `serve`'s status socket (needroleshere-status.socket).
pub(super) const DEFAULT_STATUS_SOCKET: &str = "/run/needroleshere-status.sock";
/// Where the packaged units put the bindings, when neither the flag nor
/// `$RUNTIME_DIRECTORY` says.
const DEFAULT_CONFIGURATION_DIRECTORY: &str = "/run/needroleshere";
/// How long `serve` gets to answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Without a running serve: the directory to read (default $RUNTIME_DIRECTORY, else
    /// /run/needroleshere). A running serve reports its own.
    #[command(flatten)]
    pub dir: ConfigDirArgs,

    /// serve's status socket (serve --listen-status, or the socket named status).
    #[arg(long, value_name = "PATH", default_value = DEFAULT_STATUS_SOCKET)]
    pub status_socket: PathBuf,

    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Prints the report; the result is the exit status (1: something needs attention).
pub(crate) async fn run(
    args: &StatusArgs,
    env: &Environment,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<u8> {
    let (report, note) = match ask_serve(&args.status_socket).await {
        Ok(report) => (report, None),
        Err(Unreachable::NotRunning(error)) => {
            let dir = args
                .dir
                .resolve(env)
                .unwrap_or_else(|_| ConfigDir::new(DEFAULT_CONFIGURATION_DIRECTORY));
            let store = Arc::new(Store::new(dir));
            let report =
                tokio::task::spawn_blocking(move || Survey::new(store, None, clock).report())
                    .await
                    .context("the survey of the bindings failed")?;
            let note = format!(
                "serve is not running, or has no status socket at {} ({error}): the files alone \
                 are reported",
                args.status_socket.display()
            );
            (report, Some(note))
        }
        Err(Unreachable::Failed(error)) => return Err(error),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    if let Some(note) = note {
        eprintln!("note: {note}");
    }
    Ok(u8::from(report.needs_attention()))
}

/// Why serve's report could not be had.
enum Unreachable {
    /// Nothing listens at the socket (then the files are read instead).
    NotRunning(std::io::Error),
    /// Something listens but the exchange failed: an error to report.
    Failed(anyhow::Error),
}

/// `GET /status` on the Unix socket `path`.
async fn ask_serve(path: &Path) -> Result<Report, Unreachable> {
    let mut stream = match tokio::net::UnixStream::connect(path).await {
        Ok(stream) => stream,
        Err(error)
            if matches!(
                error.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(Unreachable::NotRunning(error));
        }
        Err(error) => {
            return Err(Unreachable::Failed(anyhow::Error::new(error).context(
                format!(
                    "cannot open serve's status socket {} (it is root's: run as root)",
                    path.display()
                ),
            )));
        }
    };
    let exchange = async {
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            crate::front::status::STATUS_PATH
        );
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    let failed = |e: anyhow::Error| {
        Unreachable::Failed(e.context(format!("asking serve at {}", path.display())))
    };
    let answer = tokio::time::timeout(ASK_TIMEOUT, exchange)
        .await
        .map_err(|_| failed(anyhow::anyhow!("no answer within {ASK_TIMEOUT:?}")))?
        .map_err(|e| failed(e.into()))?;
    parse_answer(&answer).map_err(failed)
}

/// The report in an HTTP/1.1 answer with a Content-Length body.
fn parse_answer(answer: &[u8]) -> anyhow::Result<Report> {
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("the answer has no end of headers")?;
    let head = String::from_utf8_lossy(&answer[..split]);
    let status = head.lines().next().unwrap_or_default();
    anyhow::ensure!(
        status.starts_with("HTTP/1.1 200"),
        "serve answered {status:?}"
    );
    anyhow::ensure!(
        !head.to_ascii_lowercase().contains("transfer-encoding"),
        "serve answered in chunks, which this reader does not take"
    );
    serde_json::from_slice(&answer[split + 4..]).context("serve's report is not readable JSON")
}

/// The report for people.
fn render(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let source = if report.from_serve {
        "as serve sees it"
    } else {
        "files only"
    };
    let _ = writeln!(
        out,
        "bindings in {} ({source})",
        report.configuration_directory
    );
    if let Some(problem) = &report.problem {
        let _ = writeln!(out, "  ATTENTION: {problem}");
    }
    if report.bindings.is_empty() && report.problem.is_none() {
        let _ = writeln!(out, "  no bindings");
    }
    for binding in &report.bindings {
        let _ = writeln!(
            out,
            "\n{}  {}  {}",
            binding.name,
            binding.mode.as_deref().unwrap_or("?"),
            binding.role_arn.as_deref().unwrap_or("?")
        );
        if let Some(cert) = &binding.certificate {
            let _ = writeln!(
                out,
                "  certificate  {}  expires {} ({} days left)",
                cert.subject, cert.not_after, cert.days_left
            );
        }
        if let Some(served) = &binding.served {
            let _ = writeln!(
                out,
                "  credentials  refreshed {}, expire {}",
                served.last_refresh.as_deref().unwrap_or("never"),
                served.credentials_expiration.as_deref().unwrap_or("-")
            );
            if let Some(error) = &served.last_error {
                let _ = writeln!(out, "  last error   {error}");
            }
        }
        for reason in &binding.attention {
            let _ = writeln!(out, "  ATTENTION: {reason}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_read_only_when_whole_and_ok() {
        let body =
            r#"{"configuration_directory":"/d","from_serve":true,"problem":null,"bindings":[]}"#;
        let ok = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        assert!(parse_answer(ok.as_bytes()).unwrap().from_serve);
        assert!(parse_answer(b"HTTP/1.1 500 Oops\r\n\r\n{}").is_err());
        assert!(parse_answer(b"HTTP/1.1 200 OK\r\n").is_err());
    }
}
