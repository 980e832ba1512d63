//! A read-only door to the store, for the desktop window: every change goes to the engine as
//! a `Command`. SQLite itself holds it: while a reader's closure runs, the connection is
//! `PRAGMA query_only`, so a write from there fails instead of happening (the store's methods
//! all take `&self`, so the types alone could not say it).

use crate::store::{Result, Store, StoreHandle};

/// Reads on the store's thread, in order with every queued write; cannot write.
#[derive(Clone, Debug)]
pub struct StoreReader(StoreHandle);

impl From<StoreHandle> for StoreReader {
    fn from(handle: StoreHandle) -> Self {
        StoreReader(handle)
    }
}

/// `query_only` on for its lifetime, off again when dropped (also when the closure panics:
/// the store thread survives a panic and must go on writing).
struct QueryOnly<'a>(&'a Store);

impl<'a> QueryOnly<'a> {
    fn on(store: &'a Store) -> Result<Self> {
        store.conn.pragma_update(None, "query_only", true)?;
        Ok(QueryOnly(store))
    }
}

impl Drop for QueryOnly<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.0.conn.pragma_update(None, "query_only", false) {
            tracing::error!("the store could not leave read-only mode after a read: {e}");
        }
    }
}

impl StoreReader {
    /// Runs `f` on the store thread after every call queued before it; awaits the result.
    pub async fn read<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Store) -> R + Send + 'static,
    {
        self.0.call(move |s| read_only(s, f)).await.and_then(|r| r)
    }

    /// Like `read`, blocking the current thread (for a worker thread outside the runtime).
    pub fn read_blocking<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Store) -> R + Send + 'static,
    {
        self.0
            .call_blocking(move |s| read_only(s, f))
            .and_then(|r| r)
    }
}

fn read_only<R>(store: &Store, f: impl FnOnce(&Store) -> R) -> Result<R> {
    let _guard = QueryOnly::on(store)?;
    Ok(f(store))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_reads_but_its_writes_fail_and_the_store_still_writes_afterwards() {
        let dir = tempfile::tempdir().unwrap();
        let handle = StoreHandle::open(dir.path()).unwrap();
        handle
            .call_blocking(|s| {
                let new = crate::store::NewConversation {
                    title: Some("first".into()),
                    ..Default::default()
                };
                s.create_conversation("c", &new)
            })
            .unwrap()
            .unwrap();
        let reader = StoreReader::from(handle.clone());
        let title = reader
            .read_blocking(|s| s.conversation("c").map(|c| c.and_then(|c| c.title)))
            .unwrap()
            .unwrap();
        assert_eq!(title.as_deref(), Some("first"));
        let refused = reader.read_blocking(|s| s.rename("c", "changed")).unwrap();
        let error = refused.unwrap_err().to_string();
        assert!(error.contains("readonly"), "{error}");
        // The writer's own calls are not read-only.
        handle
            .call_blocking(|s| s.rename("c", "renamed"))
            .unwrap()
            .unwrap();
        let title = reader
            .read_blocking(|s| s.conversation("c").map(|c| c.and_then(|c| c.title)))
            .unwrap()
            .unwrap();
        assert_eq!(title.as_deref(), Some("renamed"));
    }
}
