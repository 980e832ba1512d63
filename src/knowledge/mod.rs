//! Knowledge bases: folders of documents indexed for hybrid search (FTS5 BM25 + embeddings of
//! the local sentence-transformers model), whose passages go into a chat with their sources.
//! Kept in `knowledge.db` beside the conversation store.

pub mod chunk;
pub mod db;
pub mod extract;
pub mod index;
pub mod search;

use std::path::PathBuf;

use thiserror::Error;

pub use db::{BaseSummary, KnowledgeDb};
pub use index::{IndexReport, index_path};
pub use search::{Hit, search};

/// The embedding model knowledge bases use (the local models' sentence-transformers runner).
pub type Embedder = crate::local::embed::Embedder;

/// The base used when none is named.
pub const DEFAULT_BASE: &str = "default";

/// What went wrong with a knowledge base, as a sentence.
#[derive(Debug, Error)]
pub enum KnowledgeError {
    /// The database refused.
    #[error("the knowledge database failed: {0}")]
    Db(#[from] rusqlite::Error),
    /// A file or folder could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A path to add does not exist.
    #[error("{0} does not exist")]
    Missing(PathBuf),
    /// The embedding model failed.
    #[error("the embedding model failed: {0}")]
    Embedding(#[from] crate::local::LocalError),
    /// No base of that name.
    #[error("there is no knowledge base '{0}': `rustbot knowledge list` shows them")]
    NoBase(String),
}

/// Passages formatted for the model: numbered, each headed by its source, in fences.
pub fn passages_for_prompt(base: &str, hits: &[Hit]) -> String {
    let mut out =
        format!("Passages from the knowledge base '{base}' (cite them as [n] with the file):\n");
    for (i, hit) in hits.iter().enumerate() {
        let fence = if hit.text.contains("```") {
            "````"
        } else {
            "```"
        };
        out.push_str(&format!(
            "\n[{}] {} (lines {}–{})\n{fence}\n{}\n{fence}\n",
            i + 1,
            hit.path,
            hit.lines[0],
            hit.lines[1],
            hit.text.trim_end()
        ));
    }
    out
}
