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
    install_panic_log(&dir);
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

/// Appends every panic (message, place, time) to `dir/panic.log` before the default hook runs.
///
/// Release builds abort on a panic (`panic = "abort"`, for size): the non-blocking log writer
/// would never flush, and a double-clicked app has no terminal, so this synchronous line is
/// what tells the user (and a bug report) why the window closed.
fn install_panic_log(dir: &Path) {
    let path = dir.join("panic.log");
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        use std::io::Write;
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            let _ = writeln!(
                file,
                "{} rustbot {}: {info}",
                chrono::Utc::now().to_rfc3339(),
                env!("CARGO_PKG_VERSION")
            );
        }
        previous(info);
    }));
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_panic_is_written_to_panic_log_with_its_message_and_place() {
        let dir = tempfile::tempdir().unwrap();
        super::install_panic_log(dir.path());
        let joined = std::thread::spawn(|| panic!("the store thread broke")).join();
        assert!(joined.is_err());
        let log = std::fs::read_to_string(dir.path().join("panic.log")).unwrap();
        assert!(log.contains("the store thread broke"), "{log}");
        assert!(log.contains("src/logging.rs"), "{log}");
    }
}
