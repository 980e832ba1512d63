//! `StoreHandle`: the store on its own thread, so neither the tokio engine nor the UI thread
//! ever blocks on SQLite, and writes from everywhere stay in one order.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::mpsc;
use std::thread;

use super::error::{Result, StoreError};
use super::{OpenOptions, Store};

type Job = Box<dyn FnOnce(&mut Store) + Send>;

/// A cheap, cloneable handle to a `Store` owned by a dedicated thread.
///
/// The thread ends (and the database closes) when the last handle is dropped.
#[derive(Clone)]
pub struct StoreHandle {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for StoreHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreHandle")
    }
}

impl StoreHandle {
    /// Opens the store in `data_dir` and starts its thread.
    pub fn open(data_dir: &Path) -> Result<StoreHandle> {
        Self::open_with(data_dir, OpenOptions::default())
    }

    /// Opens the store with options and starts its thread.
    pub fn open_with(data_dir: &Path, options: OpenOptions) -> Result<StoreHandle> {
        // Opened here, not on the thread, so open errors reach the caller directly.
        Self::spawn(Store::open_with(data_dir, options)?)
    }

    /// Moves an open store onto a new thread.
    pub fn spawn(mut store: Store) -> Result<StoreHandle> {
        let (jobs, rx) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("rustbot-store".to_string())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job(&mut store);
                }
            })
            .map_err(|source| StoreError::Io {
                action: "start the storage thread for",
                path: Path::new("rustbot.db").to_path_buf(),
                source,
            })?;
        Ok(StoreHandle { jobs })
    }

    /// Runs `f` on the store thread after every call queued before it; awaits the result.
    pub async fn call<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Store) -> R + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(f, move |r| {
            let _ = tx.send(r);
        })?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Queues `f` now (ordered after every earlier call) and gives its result to `done` on the
    /// store's thread.
    pub fn queue<R, F>(&self, f: F, done: impl FnOnce(Result<R>) + Send + 'static) -> Result<()>
    where
        R: Send + 'static,
        F: FnOnce(&mut Store) -> R + Send + 'static,
    {
        self.submit(f, done)
    }

    /// Queues `f` without waiting (still ordered after every earlier call); a failure is
    /// logged with `what`, since nobody waits to handle it.
    pub fn send<F>(&self, what: &'static str, f: F)
    where
        F: FnOnce(&mut Store) -> Result<()> + Send + 'static,
    {
        let queued = self.submit(f, move |r: Result<Result<()>>| {
            if let Err(e) = r.and_then(|inner| inner) {
                tracing::warn!("could not {what}: {e}");
            }
        });
        if let Err(e) = queued {
            tracing::warn!("could not {what}: {e}");
        }
    }

    /// Like `call`, blocking the current thread; for CLI code outside the async runtime.
    pub fn call_blocking<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Store) -> R + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        self.submit(f, move |r| {
            let _ = tx.send(r);
        })?;
        rx.recv().map_err(|_| StoreError::Closed)?
    }

    fn submit<R, F>(&self, f: F, reply: impl FnOnce(Result<R>) + Send + 'static) -> Result<()>
    where
        R: Send + 'static,
        F: FnOnce(&mut Store) -> R + Send + 'static,
    {
        let job: Job = Box::new(move |store: &mut Store| {
            // A panicking closure must not take the store thread (and every later write) down.
            // (Release builds abort on panic instead; debug builds and tests get here.)
            let result = catch_unwind(AssertUnwindSafe(|| f(store))).map_err(|panic| {
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_string());
                StoreError::Panicked(msg)
            });
            reply(result);
        });
        self.jobs.send(job).map_err(|_| StoreError::Closed)
    }
}
