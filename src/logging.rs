//! Logging with `tracing`: stderr for the CLI, a daily rolling file in the data dir for the GUI.
//! `RUST_LOG` filters both. Keys never reach a log line: they live in `Secret`, whose
//! formatting is redacted.

use std::path::Path;

use tracing_subscriber::EnvFilter;

fn filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
}

/// Logs warnings (or `RUST_LOG`) to stderr.
pub fn init_stderr() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter("warn"))
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Logs info (or `RUST_LOG`) to `data_dir/logs/rustbot.log.YYYY-MM-DD`; keep the guard alive.
pub fn init_file(data_dir: &Path) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let dir = data_dir.join("logs");
    std::fs::create_dir_all(&dir).ok()?;
    let appender = tracing_appender::rolling::daily(dir, "rustbot.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    tracing_subscriber::fmt()
        .with_env_filter(filter("info"))
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .ok()?;
    Some(guard)
}
