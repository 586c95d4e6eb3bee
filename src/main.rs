//! The `needroleshere` binary: parses the command line, sets up logging, runs the command
//! and turns a failure into one readable line on stderr and a non-zero exit status.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use needroleshere::cli;

fn main() -> ExitCode {
    let cli = cli::parse();
    init_logging(cli.command.debug());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("needroleshere: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole cause chain on one line: "what failed: because ...".
            eprintln!("needroleshere: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(debug: bool) {
    let default = if debug {
        "warn,needroleshere=debug"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
