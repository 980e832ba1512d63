//! Knowledge bases: folders of documents indexed for hybrid search (FTS5 BM25 + embeddings of
//! the local sentence-transformers model), whose passages go into a chat with their sources.
//! Kept in `knowledge.db` beside the conversation store.

pub mod chunk;
pub mod db;
pub mod embedder;
pub mod extract;
pub mod index;
pub mod search;
pub mod tool;
pub mod vectors;
pub mod watch;

use std::path::PathBuf;

use thiserror::Error;

pub use db::{BaseSummary, KnowledgeDb};
pub use index::{IndexReport, index_path};
pub use search::{Hit, search};
pub use tool::{Retriever, SearchKnowledge};
pub use vectors::VectorIndex;
pub use watch::{KnowledgeWatcher, WatchUpdate};

pub use embedder::Embedder;

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
    /// The folders could not be watched.
    #[error("the knowledge folders cannot be watched: {0}")]
    Watch(String),
    /// The provider's embeddings endpoint failed.
    #[error("the provider's embeddings failed: {0}")]
    Provider(String),
    /// Embeddings were asked for and no model is set.
    #[error(
        "no local embedding model is set: put a sentence-transformers folder (e.g. all-MiniLM-L6-v2) in [local] embedding_model"
    )]
    NoEmbeddingModel,
    /// No base of that name.
    #[error("there is no knowledge base '{0}': `rustbot knowledge list` shows them")]
    NoBase(String),
}

/// The embedding model's folder the config names (`[knowledge] embedding_model`, else
/// `[local] embedding_model`); None with `embeddings = "provider"` or unset.
pub fn embedding_folder(config: &crate::config::Config) -> Option<String> {
    if config.knowledge.embeddings == crate::config::knowledge::EmbeddingSource::Provider {
        return None;
    }
    config
        .knowledge
        .embedding_model
        .clone()
        .or_else(|| config.local.embedding_model.clone())
}

/// A retriever over `knowledge.db` in `data_dir` with the configured embedding model: the
/// local folder, or with `embeddings = "provider"` the provider's `embedding_model` (requests
/// run on `runtime`).
pub fn retriever(
    data_dir: &std::path::Path,
    config: &crate::config::Config,
    provider: &std::sync::Arc<dyn crate::llm::Provider>,
    runtime: tokio::runtime::Handle,
) -> Retriever {
    match provider_embedding_model(config) {
        Some(model) => {
            Retriever::with_provider(data_dir.to_path_buf(), provider.clone(), model, runtime)
        }
        None => Retriever::new(
            data_dir.to_path_buf(),
            embedding_folder(config).map(PathBuf::from),
        ),
    }
}

/// The provider's embedding model with `[knowledge] embeddings = "provider"`.
pub fn provider_embedding_model(config: &crate::config::Config) -> Option<String> {
    (config.knowledge.embeddings == crate::config::knowledge::EmbeddingSource::Provider)
        .then(|| config.knowledge.embedding_model.clone())
        .flatten()
        .filter(|m| !m.trim().is_empty())
}

/// The `search_knowledge` tool over every base in `data_dir`, if there is any.
pub fn search_tool(retriever: &Retriever, data_dir: &std::path::Path) -> Option<SearchKnowledge> {
    if !data_dir.join(db::KNOWLEDGE_DB).exists() {
        return None;
    }
    let bases = KnowledgeDb::open(data_dir).ok()?.base_names().ok()?;
    (!bases.is_empty()).then(|| SearchKnowledge::new(retriever.clone(), bases))
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
