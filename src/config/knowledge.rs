//! The `[knowledge]` table of config.toml: how documents are chunked and embedded.

use serde::{Deserialize, Serialize};

/// Where a knowledge base's embeddings come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingSource {
    /// The local sentence-transformers model (`embedding_model`, else `[local]
    /// embedding_model`), run in-process.
    #[default]
    Local,
    /// The provider's `/v1/embeddings` with `embedding_model` (the provider's model id).
    Provider,
}

/// `[knowledge]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KnowledgeSettings {
    /// Where embeddings come from.
    pub embeddings: EmbeddingSource,
    /// The embedding model: a sentence-transformers folder (unset: `[local] embedding_model`);
    /// with `embeddings = "provider"`, the provider's model id (e.g. text-embedding-3-small).
    pub embedding_model: Option<String>,
    /// Target size of a chunk in tokens (estimated at 4 bytes a token).
    pub chunk_tokens: usize,
    /// A model of the provider's `/v1/rerank` for serve's `/v1/rerank` and the native host's
    /// `rerank` when a request names none (unset: similarity under the local embedding model).
    pub rerank_model: Option<String>,
}

impl Default for KnowledgeSettings {
    fn default() -> Self {
        Self {
            embeddings: EmbeddingSource::Local,
            embedding_model: None,
            chunk_tokens: 300,
            rerank_model: None,
        }
    }
}
