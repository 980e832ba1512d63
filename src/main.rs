//! The `rustbot` binary: the desktop app, or a command-line door to the same engine.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Taken first, so that the start-up trace covers everything up to the first frame.
    let started = std::time::Instant::now();
    let cli = rustbot::cli::Cli::parse();
    if cli.command.is_some() || cli.version {
        return rustbot::cli::run(cli);
    }
    let settings = match cli.global.resolve() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(1);
        }
    };
    let _log_guard = rustbot::logging::init_file(&settings.paths.data_dir);
    match rustbot::ui::run_desktop_since(settings, started) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
