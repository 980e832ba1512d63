//! Watches the agents folder and hands a freshly loaded registry to a callback after each burst
//! of changes, so agents edited in any text editor apply without a restart.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};
use thiserror::Error;

use super::{AgentLoadError, AgentRegistry};

/// Quiet time after the last change before reloading: editors write a file in several steps
/// (temporary file, rename, metadata) and one reload should see the end result.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// Why the folder could not be watched.
#[derive(Debug, Error)]
pub enum AgentWatchError {
    /// The folder could not be created.
    #[error("could not create the agents folder {}: {source}", path.display())]
    Create {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The OS refused to watch it.
    #[error("could not watch the agents folder {}: {source}", path.display())]
    Watch {
        /// The folder.
        path: PathBuf,
        /// The watcher's error.
        source: notify::Error,
    },
}

/// Where `AgentWatcher::with_channel` delivers each reload: the registry and its problems.
pub type Reloads = mpsc::Receiver<(AgentRegistry, Vec<AgentLoadError>)>;

/// A running watch; dropping it stops watching (its thread ends on its own).
pub struct AgentWatcher {
    _watcher: notify::RecommendedWatcher,
    dir: PathBuf,
}

impl std::fmt::Debug for AgentWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentWatcher")
            .field("dir", &self.dir)
            .finish()
    }
}

impl AgentWatcher {
    /// Watches `dir` (created if missing). After each burst of changes (settled for
    /// `DEBOUNCE`) the folder is loaded again and `on_change` gets the result, on the watcher's
    /// thread (the UI passes a closure that stores it and requests a repaint). The registry is
    /// the raw folder: apply the settings' preferences (`apply_preferences`) in the callback.
    pub fn start(
        dir: &Path,
        on_change: impl Fn(AgentRegistry, Vec<AgentLoadError>) + Send + 'static,
    ) -> Result<AgentWatcher, AgentWatchError> {
        std::fs::create_dir_all(dir).map_err(|source| AgentWatchError::Create {
            path: dir.to_path_buf(),
            source,
        })?;
        let (tx, rx) = mpsc::channel::<()>();
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
                Ok(event) if matches!(event.kind, EventKind::Access(_)) => {}
                // A send fails only once the reload thread is gone: nothing left to tell.
                Ok(_) => {
                    let _ = tx.send(());
                }
                Err(e) => tracing::warn!("agents folder watch: {e}"),
            })
            .map_err(|source| AgentWatchError::Watch {
                path: dir.to_path_buf(),
                source,
            })?;
        watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(|source| AgentWatchError::Watch {
                path: dir.to_path_buf(),
                source,
            })?;
        let folder = dir.to_path_buf();
        std::thread::Builder::new()
            .name("agents-watch".into())
            .spawn(move || reload_loop(&folder, &rx, on_change))
            .map_err(|source| AgentWatchError::Create {
                path: dir.to_path_buf(),
                source,
            })?;
        Ok(AgentWatcher {
            _watcher: watcher,
            dir: dir.to_path_buf(),
        })
    }

    /// Like `start`, but each new registry arrives on a channel (poll it with `try_recv`).
    pub fn with_channel(dir: &Path) -> Result<(AgentWatcher, Reloads), AgentWatchError> {
        let (tx, rx) = mpsc::channel();
        let watcher = Self::start(dir, move |registry, problems| {
            let _ = tx.send((registry, problems));
        })?;
        Ok((watcher, rx))
    }

    /// The folder being watched.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Waits for a change, lets the burst settle, reloads; ends when the watcher is dropped.
fn reload_loop(
    dir: &Path,
    rx: &mpsc::Receiver<()>,
    on_change: impl Fn(AgentRegistry, Vec<AgentLoadError>),
) {
    while rx.recv().is_ok() {
        loop {
            match rx.recv_timeout(DEBOUNCE) {
                Ok(()) => continue,
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
        let (registry, problems) = AgentRegistry::load(dir);
        on_change(registry, problems);
    }
}
