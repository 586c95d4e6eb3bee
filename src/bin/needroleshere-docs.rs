//! Writes the man pages and shell completions of `needroleshere` from its CLI definition:
//! `needroleshere-docs OUT_DIR` creates `OUT_DIR/man/needroleshere*.1` and
//! `OUT_DIR/completions/{needroleshere.bash,_needroleshere,needroleshere.fish}`.
//!
//! The output depends only on the CLI definition and the package version (not the source
//! revision), so the committed copy in `packaging/generated` can be checked for drift.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory as _;
use clap_complete::Shell;
use needroleshere::cli::Cli;

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: needroleshere-docs OUT_DIR");
        return ExitCode::from(2);
    };
    match generate(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("needroleshere-docs: {error}");
            ExitCode::FAILURE
        }
    }
}

fn generate(out: &Path) -> std::io::Result<()> {
    let command = || {
        Cli::command()
            .version(env!("CARGO_PKG_VERSION"))
            .long_version(env!("CARGO_PKG_VERSION"))
    };
    let man = out.join("man");
    std::fs::create_dir_all(&man)?;
    let root = command();
    write_man(&man, "needroleshere", root.clone())?;
    for sub in root.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("needroleshere-{}", sub.get_name());
        let page = sub
            .clone()
            .name(name.clone())
            .version(env!("CARGO_PKG_VERSION"));
        write_man(&man, &name, page)?;
    }

    let completions = out.join("completions");
    std::fs::create_dir_all(&completions)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut command(), "needroleshere", &completions)?;
    }
    Ok(())
}

fn write_man(dir: &Path, name: &str, command: clap::Command) -> std::io::Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut page)?;
    std::fs::write(dir.join(format!("{name}.1")), page)
}
