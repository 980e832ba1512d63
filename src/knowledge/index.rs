//! Adding files and folders to a base: walk (honouring `.gitignore`), hash, extract, chunk,
//! embed and store each changed file; forget files that are gone. Incremental by content hash.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::knowledge::chunk::chunk;
use crate::knowledge::db::KnowledgeDb;
use crate::knowledge::extract::extract;
use crate::knowledge::{Embedder, KnowledgeError};

/// Files larger than this are skipped (a knowledge base is for documents, not datasets).
const MAX_FILE_BYTES: u64 = 50 * 1024 * 1024;

/// What an indexing pass did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct IndexReport {
    /// Files read and (re)indexed.
    pub indexed: Vec<String>,
    /// Files whose content had not changed.
    pub unchanged: usize,
    /// Files left out, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Files that are gone and were removed from the index.
    pub removed: Vec<String>,
    /// Chunks written.
    pub chunks: usize,
}

/// Indexes `root` (a file or a folder) into `base`; `progress` hears each file as it is done.
pub fn index_path(
    db: &mut KnowledgeDb,
    base: &str,
    root: &Path,
    chunk_tokens: usize,
    embedder: Option<&Embedder>,
    progress: &mut dyn FnMut(&str),
) -> Result<IndexReport, KnowledgeError> {
    let root = std::path::absolute(root).map_err(|e| KnowledgeError::Io {
        path: root.to_path_buf(),
        source: e,
    })?;
    if !root.exists() {
        return Err(KnowledgeError::Missing(root));
    }
    let root_text = root.to_string_lossy().into_owned();
    db.add_source(base, &root_text)?;
    let mut report = IndexReport::default();
    let mut seen = HashSet::new();
    for file in walk(&root) {
        let path = file.to_string_lossy().into_owned();
        seen.insert(path.clone());
        match index_file(db, base, &file, &path, chunk_tokens, embedder) {
            Ok(Some(n)) => {
                report.chunks += n;
                report.indexed.push(path.clone());
            }
            Ok(None) => report.unchanged += 1,
            Err(FileOutcome::Skipped(why)) => report.skipped.push((path.clone(), why)),
            Err(FileOutcome::Failed(e)) => return Err(e),
        }
        progress(&path);
    }
    report.removed = db.remove_unseen(base, &root_text, &seen)?;
    Ok(report)
}

/// Every file under `root` that git would not ignore (hidden files left out), sorted.
fn walk(root: &Path) -> Vec<PathBuf> {
    if root.is_file() {
        return vec![root.to_path_buf()];
    }
    let mut files: Vec<PathBuf> = ignore::WalkBuilder::new(root)
        .require_git(false)
        .build()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .map(|e| e.into_path())
        .collect();
    files.sort();
    files
}

enum FileOutcome {
    Skipped(String),
    Failed(KnowledgeError),
}

impl From<KnowledgeError> for FileOutcome {
    fn from(e: KnowledgeError) -> Self {
        FileOutcome::Failed(e)
    }
}

/// Chunks written, or None when the file had not changed.
fn index_file(
    db: &mut KnowledgeDb,
    base: &str,
    file: &Path,
    path: &str,
    chunk_tokens: usize,
    embedder: Option<&Embedder>,
) -> Result<Option<usize>, FileOutcome> {
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    if size > MAX_FILE_BYTES {
        return Err(FileOutcome::Skipped(format!(
            "{} MB, over the {} MB limit",
            size / (1024 * 1024),
            MAX_FILE_BYTES / (1024 * 1024)
        )));
    }
    let bytes =
        std::fs::read(file).map_err(|e| FileOutcome::Skipped(format!("unreadable: {e}")))?;
    let hash: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if db.file_hash(base, path)?.as_deref() == Some(hash.as_str()) {
        return Ok(None);
    }
    let text = extract(file, &bytes).map_err(FileOutcome::Skipped)?;
    let chunks = chunk(&text, chunk_tokens);
    let embeddings = match embedder {
        Some(e) => {
            // The heading path goes with the text: it says what the passage is about.
            let inputs: Vec<String> = chunks
                .iter()
                .map(|c| {
                    if c.heading.is_empty() {
                        c.text.clone()
                    } else {
                        format!("{}\n{}", c.heading, c.text)
                    }
                })
                .collect();
            Some(e.embed(&inputs).map_err(FileOutcome::Failed)?)
        }
        None => None,
    };
    db.replace_file(base, path, &hash, &chunks, embeddings.as_deref())?;
    Ok(Some(chunks.len()))
}
