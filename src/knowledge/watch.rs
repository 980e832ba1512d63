//! Watched folders: every source of every knowledge base is watched (notify); after a burst of
//! changes settles, the sources touched are walked again on a thread of their own — changed
//! and added files re-indexed, removed ones dropped, the rest skipped by content hash — so
//! indexing never blocks the UI or a chat.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};

use crate::knowledge::{KnowledgeDb, KnowledgeError, Retriever, index_path};

/// Quiet time after the last change before re-indexing (editors save in several steps).
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// What one background pass did, for the UI and the log.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchUpdate {
    /// The base.
    pub base: String,
    /// The source walked again.
    pub source: String,
    /// Files re-indexed, removed, and skipped, or the error that stopped the pass.
    pub outcome: Result<(usize, usize, usize), String>,
}

/// A running watch; dropping it stops watching (its thread ends on its own).
pub struct KnowledgeWatcher {
    _watcher: notify::RecommendedWatcher,
    /// The (base, source) pairs watched.
    pub watched: Vec<(String, PathBuf)>,
}

impl KnowledgeWatcher {
    /// Watches every source in `data_dir`'s knowledge bases; `on_update` hears each pass.
    pub fn start(
        data_dir: &Path,
        retriever: Retriever,
        chunk_tokens: usize,
        on_update: impl Fn(WatchUpdate) + Send + 'static,
    ) -> Result<KnowledgeWatcher, KnowledgeError> {
        let db = KnowledgeDb::open(data_dir)?;
        let mut watched = Vec::new();
        for base in db.base_names()? {
            for source in db.sources(&base)? {
                watched.push((base.clone(), PathBuf::from(source)));
            }
        }
        drop(db);
        let (tx, rx) = mpsc::channel::<PathBuf>();
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
                Ok(event) if matches!(event.kind, EventKind::Access(_)) => {}
                Ok(event) => {
                    for path in event.paths {
                        let _ = tx.send(path);
                    }
                }
                Err(e) => tracing::warn!("knowledge folder watch: {e}"),
            })
            .map_err(|e| KnowledgeError::Watch(e.to_string()))?;
        for (_, source) in &watched {
            let mode = if source.is_dir() {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            if let Err(e) = watcher.watch(source, mode) {
                tracing::warn!(source = %source.display(), "not watched: {e}");
            }
        }
        let pairs = watched.clone();
        let data_dir = data_dir.to_path_buf();
        std::thread::Builder::new()
            .name("knowledge-watch".into())
            .spawn(move || {
                reindex_loop(&data_dir, &pairs, &rx, &retriever, chunk_tokens, on_update)
            })
            .map_err(|e| KnowledgeError::Watch(e.to_string()))?;
        Ok(KnowledgeWatcher {
            _watcher: watcher,
            watched,
        })
    }
}

/// Waits for changes, lets the burst settle, walks the touched sources again.
fn reindex_loop(
    data_dir: &Path,
    pairs: &[(String, PathBuf)],
    rx: &mpsc::Receiver<PathBuf>,
    retriever: &Retriever,
    chunk_tokens: usize,
    on_update: impl Fn(WatchUpdate),
) {
    while let Ok(first) = rx.recv() {
        let mut touched = vec![first];
        loop {
            match rx.recv_timeout(DEBOUNCE) {
                Ok(path) => touched.push(path),
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
        let due: BTreeSet<&(String, PathBuf)> = pairs
            .iter()
            .filter(|(_, source)| touched.iter().any(|p| p.starts_with(source)))
            .collect();
        for (base, source) in due {
            let outcome = KnowledgeDb::open(data_dir).and_then(|mut db| {
                let embedder = retriever.loaded_embedder()?;
                index_path(
                    &mut db,
                    base,
                    source,
                    chunk_tokens,
                    embedder.as_deref(),
                    &mut |_| {},
                )
            });
            on_update(WatchUpdate {
                base: base.clone(),
                source: source.to_string_lossy().into_owned(),
                outcome: outcome
                    .map(|r| (r.indexed.len(), r.removed.len(), r.skipped.len()))
                    .map_err(|e| e.to_string()),
            });
        }
    }
}
