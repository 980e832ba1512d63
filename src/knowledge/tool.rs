//! Retrieval for a chat: a `Retriever` (the database and the embedding model, loaded once on
//! first use) and `search_knowledge`, the model's own follow-up searches (read-only, so no
//! approval; offered when a base exists).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::knowledge::{self, Embedder, Hit, KnowledgeDb, KnowledgeError, VectorIndex};
use crate::tools::{Tool, ToolContext, ToolError, ToolOutput};

/// Searches the knowledge bases of a data dir; cheap to clone (the model is shared).
#[derive(Clone)]
pub struct Retriever {
    data_dir: PathBuf,
    /// The sentence-transformers folder (None: keyword search only, or the provider's).
    model_folder: Option<PathBuf>,
    /// The local model, loaded on first use and kept; the provider's, set at the start.
    embedder: Arc<Mutex<Option<Arc<Embedder>>>>,
    /// The embeddings in memory, read on the first search and again when the database
    /// changed since (its generation moved).
    vectors: Arc<Mutex<Option<Arc<VectorIndex>>>>,
}

impl Retriever {
    /// A retriever over `knowledge.db` in `data_dir`.
    pub fn new(data_dir: PathBuf, model_folder: Option<PathBuf>) -> Self {
        Self {
            data_dir,
            model_folder,
            embedder: Arc::new(Mutex::new(None)),
            vectors: Arc::new(Mutex::new(None)),
        }
    }

    /// A retriever whose vectors come from `provider`'s embeddings `model`; its requests run
    /// on `runtime` (the retriever's callers are blocking threads).
    pub fn with_provider(
        data_dir: PathBuf,
        provider: Arc<dyn crate::llm::Provider>,
        model: String,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        let r = Self::new(data_dir, None);
        *r.embedder.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Arc::new(Embedder::Provider {
                provider,
                model,
                runtime,
            }));
        r
    }

    /// The embedding model's name as recorded per base (its folder, or `PROVIDER:MODEL`;
    /// `none`: keyword only).
    pub fn model_name(&self) -> String {
        if let Some(folder) = &self.model_folder {
            return folder.to_string_lossy().into_owned();
        }
        let slot = self.embedder.lock().unwrap_or_else(|p| p.into_inner());
        slot.as_ref()
            .map_or_else(|| "none".to_string(), |e| e.name())
    }

    /// The embedding model, loaded now if it was not yet (None: keyword search only).
    pub fn loaded_embedder(&self) -> Result<Option<Arc<Embedder>>, KnowledgeError> {
        let mut slot = self.embedder.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = slot.as_ref() {
            return Ok(Some(Arc::clone(e)));
        }
        let Some(folder) = &self.model_folder else {
            return Ok(None);
        };
        let loaded = Arc::new(Embedder::load_local(folder)?);
        *slot = Some(Arc::clone(&loaded));
        Ok(Some(loaded))
    }

    /// Unit-length vectors of `texts` from the local model (blocking).
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, KnowledgeError> {
        let embedder = self
            .loaded_embedder()?
            .ok_or(KnowledgeError::NoEmbeddingModel)?;
        embedder.embed(texts)
    }

    /// `documents` by similarity of meaning to `query`: (index, score), best first (blocking).
    pub fn rerank(
        &self,
        query: &str,
        documents: &[String],
    ) -> Result<Vec<(usize, f32)>, KnowledgeError> {
        let mut texts = Vec::with_capacity(documents.len() + 1);
        texts.push(query.to_string());
        texts.extend(documents.iter().cloned());
        let vectors = self.embed(&texts)?;
        let Some((q, docs)) = vectors.split_first() else {
            return Ok(Vec::new());
        };
        let mut ranked: Vec<(usize, f32)> = docs
            .iter()
            .map(|d| d.iter().zip(q).map(|(a, b)| a * b).sum())
            .enumerate()
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(ranked)
    }

    /// The `top` best passages of `bases` for `query` (blocking: SQLite and the model).
    pub fn retrieve(
        &self,
        bases: &[String],
        query: &str,
        top: usize,
    ) -> Result<Vec<Hit>, KnowledgeError> {
        let db = KnowledgeDb::open(&self.data_dir)?;
        for base in bases {
            if db.base_model(base)?.is_none() {
                return Err(KnowledgeError::NoBase(base.clone()));
            }
        }
        let embedder = self.loaded_embedder()?;
        let vectors = match &embedder {
            Some(_) => Some(self.vectors(&db)?),
            None => None,
        };
        knowledge::search(
            &db,
            bases,
            query,
            top,
            embedder.as_deref(),
            vectors.as_deref(),
        )
    }

    /// The in-memory embeddings, read again if the database changed since they were read.
    pub fn vectors(&self, db: &KnowledgeDb) -> Result<Arc<VectorIndex>, KnowledgeError> {
        let generation = db.generation()?;
        let mut slot = self.vectors.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = slot.as_ref().filter(|v| v.generation == generation) {
            return Ok(Arc::clone(v));
        }
        // Drop the stale copy first, so two copies are never held at once.
        *slot = None;
        let fresh = Arc::new(VectorIndex::load(db)?);
        *slot = Some(Arc::clone(&fresh));
        Ok(fresh)
    }
}

/// The model's `search_knowledge` tool.
pub struct SearchKnowledge {
    retriever: Retriever,
    bases: Vec<String>,
}

impl SearchKnowledge {
    /// A tool over `bases`.
    pub fn new(retriever: Retriever, bases: Vec<String>) -> Self {
        Self { retriever, bases }
    }
}

#[async_trait]
impl Tool for SearchKnowledge {
    fn name(&self) -> &str {
        "search_knowledge"
    }

    fn description(&self) -> &str {
        "Search the user's knowledge bases (their own documents) for passages about a question; returns numbered passages with file and lines to cite."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to look for, in words or as a question."},
                "top": {"type": "integer", "minimum": 1, "maximum": 10, "description": "How many passages (default 4)."}
            },
            "required": ["query"]
        })
    }

    fn needs_approval(&self, _args: &Value) -> bool {
        false
    }

    async fn call(&self, args: Value, _ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let query = args["query"].as_str().unwrap_or_default().to_string();
        let top = args["top"].as_u64().map_or(4, |n| n.clamp(1, 10) as usize);
        let (retriever, bases) = (self.retriever.clone(), self.bases.clone());
        // SQLite and the model (loading it, too) are blocking work: off the async threads.
        let hits = tokio::task::spawn_blocking(move || {
            retriever.retrieve(&bases, &query, top).map(|h| (h, query))
        })
        .await
        .map_err(|e| ToolError::Failed(e.to_string()))?
        .map_err(|e| ToolError::Failed(e.to_string()))?;
        let (hits, query) = hits;
        if hits.is_empty() {
            return Ok(ToolOutput::text(format!(
                "Nothing in the knowledge bases matches \"{query}\"."
            )));
        }
        Ok(ToolOutput::text(knowledge::passages_for_prompt(
            &self.bases.join(", "),
            &hits,
        )))
    }
}
