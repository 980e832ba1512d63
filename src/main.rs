//! The `rustbot` binary: the desktop app, or a command-line door to the same engine.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = rustbot::cli::Cli::parse();
    if cli.command.is_none() && !cli.version {
        eprintln!("the desktop app is not part of this build yet: use `rustbot ask PROMPT`");
        return ExitCode::from(1);
    }
    rustbot::cli::run(cli)
}
