//! The `needroleshere` binary: parses the command line, reads the environment once, sets up
//! logging, runs the command and turns a failure into one readable line on stderr and a
//! non-zero exit status.

use std::process::ExitCode;

use needroleshere::cli;
use needroleshere::system::{env::Environment, logging};

fn main() -> ExitCode {
    let cli = cli::parse();
    let env = Environment::from_process();
    logging::init(
        cli.log_format,
        cli.command.debug(),
        env.journal_stream.as_deref(),
    );
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
    match runtime.block_on(cli::run(cli, env)) {
        Ok(status) => ExitCode::from(status),
        Err(error) => {
            // `{:#}` prints the whole cause chain on one line: "what failed: because ...".
            eprintln!("needroleshere: {error:#}");
            ExitCode::FAILURE
        }
    }
}
